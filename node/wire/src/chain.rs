//! Records of the chain as nodes store and serve them: a block with its
//! payload, and what executing a committed block gave.

use borsh::{BorshDeserialize, BorshSerialize};
use hutong_consensus::types::{Block, BlockId, Digest, Epoch};
use hutong_runtime::crypto::Hash;
use hutong_runtime::ChainId;

use crate::payload::Payload;

/// The consensus epoch the genesis starts.
pub const GENESIS_EPOCH: Epoch = Epoch(1);

/// The genesis block id of the consensus chain: the chain id itself.
pub fn genesis_block_id(chain_id: ChainId) -> Digest {
    Digest(chain_id.0)
}

/// A block with its payload, as stored and as served to peers.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct StoredBlock {
    pub block: Block,
    pub payload: Payload,
}

/// The last executed (and so committed) block and what executing it gave.
#[derive(Debug, Clone, Copy, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Executed {
    pub height: u64,
    pub block_id: BlockId,
    pub round: u64,
    pub timestamp_ms: u64,
    pub state_root: Hash,
    pub receipts_root: Hash,
}

//! Field-for-field copies of the node's wire types (see the crate docs for
//! why they are copies). Only the structure matters to borsh: the names,
//! the field order and the field types must match the originals.

use borsh::{BorshDeserialize, BorshSerialize};
use hutong_consensus::messages::Message;
use hutong_consensus::types::{Block, BlockId, Digest, QuorumCert};
use hutong_runtime::crypto::Hash;
use hutong_runtime::tx::TX_BYTES_MAX;
use hutong_runtime::SignedTransaction;

/// `node/src/payload.rs`.
pub const BLOCK_TXS_MAX: usize = 10_000;
pub const BLOCK_BYTES_MAX: usize = 8 * 1024 * 1024;
const PAYLOAD_TAG: &[u8] = b"hutong/node/payload/v1";

/// `node::payload::ResultClaim`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct ResultClaim {
    pub height: u64,
    pub state_root: Hash,
    pub receipts_root: Hash,
}

/// `node::payload::Payload`.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Payload {
    pub result: ResultClaim,
    pub txs: Vec<SignedTransaction>,
}

impl Payload {
    /// `node::payload::Payload::digest`.
    pub fn digest(&self) -> Digest {
        let root = hutong_runtime::block::tx_root(&self.txs);
        let bytes =
            borsh::to_vec(&(&self.result, &root, self.txs.len() as u64)).expect("borsh into a Vec");
        Digest::tagged(PAYLOAD_TAG, &bytes)
    }

    /// `node::payload::Payload::check_bounds`, returning whether it passes.
    pub fn check_bounds(&self) -> bool {
        if self.txs.len() > BLOCK_TXS_MAX {
            return false;
        }
        let mut bytes = 0usize;
        for tx in &self.txs {
            if tx.tx.check_bounds().is_err() {
                return false;
            }
            let size = tx.encode().len();
            if size > TX_BYTES_MAX {
                return false;
            }
            bytes += size;
        }
        bytes <= BLOCK_BYTES_MAX
    }
}

/// `node::store::StoredBlock`.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct StoredBlock {
    pub block: Block,
    pub payload: Payload,
}

/// `node::network::ConsensusEnvelope` (`/hutong/consensus/1` requests).
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct ConsensusEnvelope {
    pub message: Message,
    pub payload: Option<Payload>,
}

/// `node::network::TxBatch` (`/hutong/txs/1` requests): each entry goes
/// through `SignedTransaction::decode`.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct TxBatch(pub Vec<Vec<u8>>);

/// `node::network::SyncRequest` (`/hutong/sync/1` requests).
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum SyncRequest {
    Block(BlockId),
    Committed { after: u64 },
}

/// `node::network::SyncResponse` (`/hutong/sync/1` responses).
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum SyncResponse {
    Block(Option<Box<StoredBlock>>),
    Committed {
        blocks: Vec<StoredBlock>,
        proof: Option<QuorumCert>,
    },
    Unavailable,
}

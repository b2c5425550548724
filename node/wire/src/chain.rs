//! Records of the chain as nodes store and serve them: a block with its
//! payload, what executing a committed block gave, how an epoch ended,
//! and who the consortium's nodes are in the current epoch.

use borsh::{BorshDeserialize, BorshSerialize};
use hutong_consensus::types::{Block, BlockId, Digest, Epoch, Height, QuorumCert};
use hutong_consensus::validators::{ValidatorSet, ValidatorSetError};
use hutong_runtime::crypto::Hash;
use hutong_runtime::governance::{ConsensusTiming, Consortium};
use hutong_runtime::{ChainId, PublicKey};

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

/// How an epoch ended: its last executed block (the one whose execution
/// changed the validator set) and, when that block's commit certificate
/// came with a later block, the blocks committed after it in the same
/// epoch (which no node executes) up to the certificate that commits
/// them. A node still in that epoch syncs across the boundary with it.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct EpochEnd {
    /// The epoch that ended.
    pub epoch: Epoch,
    /// Its last executed block's height: the next epoch's genesis.
    pub height: u64,
    /// Blocks of the ended epoch above `height`, in order; empty when
    /// `proof` commits the block at `height` itself.
    pub tail: Vec<StoredBlock>,
    /// Commits the last block of `tail` (or the block at `height`).
    pub proof: QuorumCert,
}

/// The consortium's nodes as consensus and the network see them in one
/// epoch, read from the ledger's consortium record: every node follows
/// the ledger, so every node switches to the same set at the same height.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    pub epoch: Epoch,
    /// The block the epoch starts from (the genesis block id in the first
    /// epoch, else the block whose execution started it), and its height.
    pub genesis: BlockId,
    pub genesis_height: u64,
    /// The validators' node keys, in their order (their consensus ids).
    pub validators: Vec<PublicKey>,
    /// Every node key allowed to connect: members' (validators and
    /// observers) and regulators'. Sorted, without repeats.
    pub nodes: Vec<PublicKey>,
    /// Where nodes said they listen (from proposals), by node key.
    pub addresses: Vec<(PublicKey, String)>,
    /// The consensus timing the consortium voted.
    pub timing: ConsensusTiming,
}

impl Membership {
    /// The consensus epoch a consortium record is in.
    pub fn epoch_of(consortium: &Consortium) -> Epoch {
        Epoch(GENESIS_EPOCH.0.saturating_add(consortium.epoch))
    }

    /// The membership a consortium record describes; `genesis` is the
    /// block the record's epoch started from.
    pub fn of(consortium: &Consortium, genesis: BlockId) -> Membership {
        let mut nodes: Vec<PublicKey> = consortium
            .members
            .iter()
            .map(|m| m.node_key)
            .chain(consortium.regulators.iter().map(|r| r.node_key))
            // A validator's old key (rotated, or its member removed) until
            // the change takes effect: it still signs in this epoch.
            .chain(consortium.active_validators.iter().copied())
            .collect();
        nodes.sort_by_key(|k| k.0);
        nodes.dedup();
        let addresses = consortium
            .members
            .iter()
            .filter_map(|m| m.p2p_address.clone().map(|a| (m.node_key, a)))
            .chain(
                consortium
                    .regulators
                    .iter()
                    .filter_map(|r| r.p2p_address.clone().map(|a| (r.node_key, a))),
            )
            .collect();
        Membership {
            epoch: Membership::epoch_of(consortium),
            genesis,
            genesis_height: consortium.epoch_start.0.saturating_sub(1),
            validators: consortium.active_validators.clone(),
            nodes,
            addresses,
            timing: consortium.timing,
        }
    }

    /// The epoch's validator set, as consensus checks certificates with it.
    pub fn validator_set(&self) -> Result<ValidatorSet, ValidatorSetError> {
        ValidatorSet::next_epoch(
            self.epoch,
            self.validators.iter().map(|k| k.0).collect(),
            self.genesis,
            Height(self.genesis_height),
        )
    }

    /// A node key's validator index in this epoch.
    pub fn index_of(&self, key: &PublicKey) -> Option<u16> {
        self.validators
            .iter()
            .position(|k| k == key)
            .and_then(|i| u16::try_from(i).ok())
    }

    /// Whether a node key may connect in this epoch.
    pub fn is_node(&self, key: &PublicKey) -> bool {
        self.nodes.binary_search_by_key(&key.0, |k| k.0).is_ok()
    }
}

//! A block's payload: the ordered transactions, and the execution result
//! the proposer reached for an earlier committed block.
//!
//! Consensus certifies only the payload's digest ([`Payload::digest`]), so
//! the digest commits to both parts. Carrying an execution result in every
//! block is how the state root and receipts root get certified: validators
//! vote only for a result they reproduced themselves, and a node whose own
//! result disagrees with a certified one stops instead of going on with a
//! forked state (execution runs after commit, so a block cannot carry its
//! own result; it carries the latest one its proposer has).

use borsh::{BorshDeserialize, BorshSerialize};
use hutong_consensus::types::Digest;
use hutong_runtime::crypto::Hash;
use hutong_runtime::tx::TX_BYTES_MAX;
use hutong_runtime::SignedTransaction;

const TAG: &[u8] = b"hutong/node/payload/v1";

/// Most transactions in one block.
pub const BLOCK_TXS_MAX: usize = 10_000;

/// Most bytes of transactions in one block.
pub const BLOCK_BYTES_MAX: usize = 8 * 1024 * 1024;

/// An execution result: the state root and receipts root after executing
/// the committed block at `height`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct ResultClaim {
    pub height: u64,
    pub state_root: Hash,
    pub receipts_root: Hash,
}

#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Payload {
    pub result: ResultClaim,
    pub txs: Vec<SignedTransaction>,
}

/// Why a payload is not acceptable. All are permanent for that payload.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    #[error("payload digest {got:?} does not match the block's {expected:?}")]
    Digest { expected: Digest, got: Digest },
    #[error("the proposal came without the payload {digest:?} its block names")]
    Missing { digest: Digest },
    #[error("payload has {count} transactions; at most {BLOCK_TXS_MAX}")]
    TooManyTxs { count: usize },
    #[error("payload has {bytes} bytes of transactions; at most {BLOCK_BYTES_MAX}")]
    TooLarge { bytes: usize },
    #[error("transaction {index} is malformed: {reason}")]
    BadTx { index: usize, reason: String },
    #[error("transaction {index} is for chain {got}, not this chain")]
    WrongChain { index: usize, got: String },
    #[error("transaction {index} has an invalid signature")]
    BadSignature { index: usize },
    #[error("transaction {index} appears twice in the block")]
    Duplicate { index: usize },
    #[error(
        "execution result for height {claimed} is not below the block's parent height {parent}"
    )]
    ResultAhead { claimed: u64, parent: u64 },
    #[error("execution result for height {claimed} goes back from the parent's {parent}")]
    ResultBehind { claimed: u64, parent: u64 },
    #[error("block timestamp {timestamp_ms} is before its parent's {parent_ms}")]
    TimestampBehind { timestamp_ms: u64, parent_ms: u64 },
    #[error("block timestamp {timestamp_ms} is too far ahead of this node's clock {now_ms}")]
    TimestampAhead { timestamp_ms: u64, now_ms: u64 },
    #[error(
        "execution result at height {height} disagrees with ours: state root {claimed} vs {ours}"
    )]
    ResultMismatch {
        height: u64,
        claimed: Hash,
        ours: Hash,
    },
}

impl Payload {
    /// The digest consensus certifies: the result claim, the transactions
    /// root and the transaction count (which pins the tree's shape for
    /// inclusion proofs).
    pub fn digest(&self) -> Digest {
        let root = hutong_runtime::block::tx_root(&self.txs);
        Self::digest_of(&self.result, &root, self.txs.len() as u64)
    }

    pub fn digest_of(result: &ResultClaim, tx_root: &Hash, tx_count: u64) -> Digest {
        let bytes = borsh::to_vec(&(result, tx_root, tx_count)).expect("borsh into a Vec");
        Digest::tagged(TAG, &bytes)
    }

    /// Checks the bounds that do not need state: counts, sizes, encodings.
    pub fn check_bounds(&self) -> Result<(), PayloadError> {
        if self.txs.len() > BLOCK_TXS_MAX {
            return Err(PayloadError::TooManyTxs {
                count: self.txs.len(),
            });
        }
        let mut bytes = 0usize;
        for (index, tx) in self.txs.iter().enumerate() {
            tx.tx.check_bounds().map_err(|e| PayloadError::BadTx {
                index,
                reason: e.to_string(),
            })?;
            let size = tx.encode().len();
            if size > TX_BYTES_MAX {
                return Err(PayloadError::BadTx {
                    index,
                    reason: format!("{size} bytes; at most {TX_BYTES_MAX}"),
                });
            }
            bytes += size;
        }
        if bytes > BLOCK_BYTES_MAX {
            return Err(PayloadError::TooLarge { bytes });
        }
        Ok(())
    }
}

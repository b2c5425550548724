//! Commitments over a block's contents: the transactions root and the
//! receipts root that a block header carries, with inclusion proofs.

use crate::crypto::Hash;
use crate::merkle::{self, InclusionProof, MerkleError};
use crate::receipt::Receipt;
use crate::tx::SignedTransaction;

/// The leaf of a signed transaction: the whole encoding, signatures
/// included, so the block commits to who authorised each transfer.
pub fn tx_leaf(tx: &SignedTransaction) -> Hash {
    merkle::leaf_hash(&tx.encode())
}

pub fn receipt_leaf(receipt: &Receipt) -> Hash {
    merkle::leaf_hash(&borsh::to_vec(receipt).expect("borsh encoding into a Vec cannot fail"))
}

pub fn tx_root(txs: &[SignedTransaction]) -> Hash {
    let leaves: Vec<Hash> = txs.iter().map(tx_leaf).collect();
    merkle::root(&leaves)
}

pub fn receipts_root(receipts: &[Receipt]) -> Hash {
    let leaves: Vec<Hash> = receipts.iter().map(receipt_leaf).collect();
    merkle::root(&leaves)
}

/// Proves that `txs[index]` is in the block whose transactions root is
/// [`tx_root`]`(txs)`.
pub fn prove_tx(txs: &[SignedTransaction], index: usize) -> Result<InclusionProof, MerkleError> {
    let leaves: Vec<Hash> = txs.iter().map(tx_leaf).collect();
    merkle::prove(&leaves, index)
}

/// Checks a transaction's inclusion proof against the transactions root and
/// the transaction count taken from a certified block header. Needs nothing
/// else. The count pins the tree's shape, so the proof also proves the
/// transaction's position in the block (without it, a proof for leaf 2 of
/// 3 could be relabelled as leaf 1 of 2).
pub fn verify_tx_inclusion(
    tx: &SignedTransaction,
    proof: &InclusionProof,
    tx_root: &Hash,
    tx_count: u64,
) -> Result<(), MerkleError> {
    if proof.size != tx_count {
        return Err(MerkleError::WrongSize {
            claimed: proof.size,
            certified: tx_count,
        });
    }
    proof.verify(&tx_leaf(tx), tx_root)
}

//! The Merkle tree over a block's transactions (and receipts), with
//! inclusion proofs: the RFC 6962 (Certificate Transparency) construction,
//! with SHA-256, leaves hashed as `H(0x00 || data)` and inner nodes as
//! `H(0x01 || left || right)`, so a leaf can never pass for a node.

use borsh::{BorshDeserialize, BorshSerialize};
use sha2::{Digest, Sha256};

use crate::crypto::Hash;

/// Most siblings a proof may carry (a tree of up to 2^64 leaves).
const PROOF_DEPTH_MAX: usize = 64;

pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(data);
    Hash(h.finalize().into())
}

fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left.0);
    h.update(right.0);
    Hash(h.finalize().into())
}

/// The root over already-hashed leaves. The empty tree's root is
/// `SHA-256("")`, as in RFC 6962.
pub fn root(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => Hash(Sha256::digest([]).into()),
        1 => leaves[0],
        n => {
            let k = split(n);
            node_hash(&root(&leaves[..k]), &root(&leaves[k..]))
        }
    }
}

/// The largest power of two strictly below `n` (n ≥ 2). Total for every
/// `u64`, since proof sizes come from outside.
fn split_u64(n: u64) -> u64 {
    assert!(n >= 2, "split of a tree with fewer than two leaves");
    1u64 << (63 - (n - 1).leading_zeros())
}

fn split(n: usize) -> usize {
    split_u64(n as u64) as usize
}

/// An inclusion proof of leaf `index` in a tree of `size` leaves.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct InclusionProof {
    pub index: u64,
    pub size: u64,
    /// Sibling hashes from the leaf up to the root.
    pub siblings: Vec<Hash>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MerkleError {
    #[error("leaf index {index} is outside a tree of {size} leaves")]
    IndexOutOfRange { index: u64, size: u64 },
    #[error("proof has {got} siblings; a tree of {size} leaves needs {expected} for leaf {index}")]
    WrongLength {
        index: u64,
        size: u64,
        got: usize,
        expected: usize,
    },
    #[error("proof claims a tree of {claimed} leaves; the certified count is {certified}")]
    WrongSize { claimed: u64, certified: u64 },
    #[error("proof does not lead to the expected root {expected}; it gives {computed}")]
    RootMismatch { expected: Hash, computed: Hash },
}

/// Builds the inclusion proof of `leaves[index]`.
pub fn prove(leaves: &[Hash], index: usize) -> Result<InclusionProof, MerkleError> {
    if index >= leaves.len() {
        return Err(MerkleError::IndexOutOfRange {
            index: index as u64,
            size: leaves.len() as u64,
        });
    }
    let mut siblings = Vec::new();
    collect(leaves, index, &mut siblings);
    Ok(InclusionProof {
        index: index as u64,
        size: leaves.len() as u64,
        siblings,
    })
}

fn collect(leaves: &[Hash], index: usize, out: &mut Vec<Hash>) {
    if leaves.len() <= 1 {
        return;
    }
    let k = split(leaves.len());
    if index < k {
        collect(&leaves[..k], index, out);
        out.push(root(&leaves[k..]));
    } else {
        collect(&leaves[k..], index - k, out);
        out.push(root(&leaves[..k]));
    }
}

impl InclusionProof {
    /// Checks that `leaf` (already hashed with [`leaf_hash`]) is at this
    /// proof's index in the tree with root `expected`.
    pub fn verify(&self, leaf: &Hash, expected: &Hash) -> Result<(), MerkleError> {
        if self.index >= self.size {
            return Err(MerkleError::IndexOutOfRange {
                index: self.index,
                size: self.size,
            });
        }
        // Walk down from the root to learn, level by level, on which side
        // the path goes; then fold the siblings back up.
        let mut sides = Vec::new();
        let (mut index, mut size) = (self.index, self.size);
        while size > 1 && sides.len() <= PROOF_DEPTH_MAX {
            let k = split_u64(size);
            if index < k {
                sides.push(true);
                size = k;
            } else {
                sides.push(false);
                index -= k;
                size -= k;
            }
        }
        if sides.len() != self.siblings.len() {
            return Err(MerkleError::WrongLength {
                index: self.index,
                size: self.size,
                got: self.siblings.len(),
                expected: sides.len(),
            });
        }
        let mut acc = *leaf;
        for (sibling, is_left) in self.siblings.iter().zip(sides.iter().rev()) {
            acc = if *is_left {
                node_hash(&acc, sibling)
            } else {
                node_hash(sibling, &acc)
            };
        }
        if acc != *expected {
            return Err(MerkleError::RootMismatch {
                expected: *expected,
                computed: acc,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaves(n: usize) -> Vec<Hash> {
        (0..n)
            .map(|i| leaf_hash(&(i as u64).to_le_bytes()))
            .collect()
    }

    #[test]
    fn every_leaf_of_every_small_tree_proves() {
        for n in 1..=33 {
            let l = leaves(n);
            let r = root(&l);
            for i in 0..n {
                let p = prove(&l, i).unwrap();
                p.verify(&l[i], &r).unwrap();
                // The wrong leaf, or the right leaf at the wrong index, fails.
                let other = leaf_hash(b"other");
                assert!(p.verify(&other, &r).is_err(), "n={n} i={i}");
                if n > 1 {
                    let mut moved = p.clone();
                    moved.index = ((i + 1) % n) as u64;
                    assert!(moved.verify(&l[i], &r).is_err(), "n={n} i={i}");
                }
            }
        }
    }

    #[test]
    fn split_is_the_largest_power_of_two_below() {
        for n in 2..1000u64 {
            let k = split_u64(n);
            assert!(k.is_power_of_two() && k < n && 2 * k >= n, "n={n} k={k}");
        }
        assert_eq!(split_u64(u64::MAX), 1 << 63);
    }

    #[test]
    fn rfc6962_shape() {
        // Three leaves: root = H(1 || H(1 || a || b) || c).
        let l = leaves(3);
        assert_eq!(root(&l), node_hash(&node_hash(&l[0], &l[1]), &l[2]));
        assert_eq!(
            root(&[]).to_hex(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn forged_size_or_index_is_rejected() {
        let p = InclusionProof {
            index: 5,
            size: 3,
            siblings: vec![],
        };
        assert!(matches!(
            p.verify(&Hash::ZERO, &Hash::ZERO),
            Err(MerkleError::IndexOutOfRange { .. })
        ));
        let p = InclusionProof {
            index: 0,
            size: u64::MAX,
            siblings: vec![],
        };
        assert!(p.verify(&Hash::ZERO, &Hash::ZERO).is_err());
    }
}

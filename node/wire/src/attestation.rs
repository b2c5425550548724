//! Attestations: a validator's signed statement that every signature in a
//! batch of shared transactions is valid (the protocol that uses them is
//! `hutong_host::attest`). The digest covers every byte of every
//! transaction, signatures included, in order, with the chain id.

use borsh::{BorshDeserialize, BorshSerialize};
use hutong_runtime::crypto::Hash;
use hutong_runtime::{ChainId, Keypair, PublicKey, Signature};
use sha2::{Digest as _, Sha256};

/// Domain tag of a batch digest.
const ATTEST_DOMAIN: &[u8] = b"hutong/attest/v1";
/// Domain tag of an attestation's signed message. v2 binds the attesting
/// validator's index: the statement names its signer, so it cannot be
/// shown under another index (found by the `txs_gossip` fuzz target).
const ATTEST_SIGNATURE_DOMAIN: &[u8] = b"hutong/attest/v2";

/// A validator's signed statement that every signature in a batch is
/// valid.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Attestation {
    /// [`batch_digest`] of the batch.
    pub digest: Hash,
    /// The attesting validator's index.
    pub validator: u16,
    /// Its node key's signature of the digest and its index, tagged with
    /// the chain.
    pub signature: Signature,
}

impl Attestation {
    pub fn sign(key: &Keypair, chain_id: ChainId, validator: u16, digest: Hash) -> Attestation {
        Attestation {
            digest,
            validator,
            signature: key.sign(&attest_message(chain_id, validator, &digest)),
        }
    }

    /// Whether `key` signed it, under the index it names.
    pub fn verify(&self, chain_id: ChainId, key: &PublicKey) -> bool {
        key.verify(
            &attest_message(chain_id, self.validator, &self.digest),
            &self.signature,
        )
        .is_ok()
    }
}

/// The digest of a batch of encoded transactions: every byte of each
/// (signatures included), length-prefixed, in order.
pub fn batch_digest(chain_id: ChainId, raws: &[Vec<u8>]) -> Hash {
    let mut h = Sha256::new();
    h.update(ATTEST_DOMAIN);
    h.update(chain_id.0);
    h.update((raws.len() as u64).to_le_bytes());
    for raw in raws {
        h.update((raw.len() as u64).to_le_bytes());
        h.update(raw);
    }
    Hash(h.finalize().into())
}

fn attest_message(chain_id: ChainId, validator: u16, digest: &Hash) -> Vec<u8> {
    let mut m = Vec::with_capacity(ATTEST_SIGNATURE_DOMAIN.len() + 66);
    m.extend_from_slice(ATTEST_SIGNATURE_DOMAIN);
    m.extend_from_slice(&chain_id.0);
    m.extend_from_slice(&validator.to_le_bytes());
    m.extend_from_slice(&digest.0);
    m
}

/// Faults tolerated by `n` validators: the largest f with n ≥ 3f + 1.
pub fn faults_tolerated(n: usize) -> usize {
    n.saturating_sub(1) / 3
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_tolerated_follow_n_3f_plus_1() {
        let f: Vec<usize> = (0..=10).map(faults_tolerated).collect();
        assert_eq!(f, vec![0, 0, 0, 0, 1, 1, 1, 2, 2, 2, 3]);
    }

    #[test]
    fn an_attestation_binds_its_batch_chain_and_signer() {
        let chain = ChainId([3; 32]);
        let raws = vec![vec![1, 2, 3], vec![4, 5]];
        let d = batch_digest(chain, &raws);
        // Every byte, the order, the boundaries and the chain count.
        assert_ne!(d, batch_digest(chain, &[vec![4, 5], vec![1, 2, 3]]));
        assert_ne!(d, batch_digest(chain, &[vec![1, 2], vec![3, 4, 5]]));
        assert_ne!(d, batch_digest(ChainId([4; 32]), &raws));
        let key = Keypair::from_secret_bytes(&[9; 32]);
        let other = Keypair::from_secret_bytes(&[8; 32]);
        let a = Attestation::sign(&key, chain, 2, d);
        assert!(a.verify(chain, &key.public()));
        assert!(!a.verify(chain, &other.public()));
        assert!(!a.verify(ChainId([4; 32]), &key.public()));
        let moved = Attestation {
            digest: batch_digest(chain, &raws[..1]),
            ..a.clone()
        };
        assert!(!moved.verify(chain, &key.public()));
        // Shown under another index, the same signature does not verify.
        let relabeled = Attestation {
            validator: 3,
            ..a.clone()
        };
        assert!(!relabeled.verify(chain, &key.public()));
    }
}

//! Attested admission: each client transaction's signature is checked by
//! f + 1 validators, not by all n.
//!
//! A validator that admits client transactions checks their signatures
//! (it must: it answers the client) and shares them with the other
//! validators in a batch it signs: its attestation that every signature
//! in the batch is valid. It names f other validators as co-verifiers.
//! A co-verifier checks every signature itself and, if all are valid,
//! signs and sends its own attestation of the batch to every validator.
//! The others park the batch until f validators besides its origin have
//! attested it: f + 1 attestations include at least one honest validator
//! that checked, so the batch is valid and they admit it without checking.
//! If the attestations do not come in time (a co-verifier down or slow)
//! they check it themselves. The regulator checks every signature anyway;
//! it takes part in none of this.
//!
//! Whoever does check a batch and finds a bad signature holds its origin's
//! signed attestation of it: evidence of that validator's fault, logged
//! with everything needed to check it, and counted. The origin is
//! disconnected.
//!
//! Attestations are trusted on the authenticated connection they arrive
//! on (Noise: the peer is the validator whose node key it uses), so their
//! signatures are checked only when they become evidence: a check per
//! batch per node would cost more than it saves while batches are small.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use borsh::{BorshDeserialize, BorshSerialize};
use hutong_runtime::crypto::Hash;
use hutong_runtime::{ChainId, Keypair, PublicKey, Signature};
use libp2p::PeerId;
use sha2::{Digest as _, Sha256};
use tokio::time::Instant;

use crate::admit::{admit_with, Signatures, Source};
use crate::mempool::{FastMap, FastSet};
use crate::network::NetCommand;
use crate::shared::{Counters, Shared};

/// Domain tag of an attestation's signed message.
const ATTEST_DOMAIN: &[u8] = b"hutong/attest/v1";
/// Most batches parked at once, waiting for attestations; past it a new
/// batch is checked here at once.
pub const PARKED_BATCHES_MAX: usize = 1_024;
/// Most transactions parked at once.
pub const PARKED_TXS_MAX: usize = 100_000;
/// Attestations remembered for batches not yet seen.
pub const EARLY_MAX: usize = 4_096;
/// Evidence records kept in memory (each is also logged in full).
pub const EVIDENCE_MAX: usize = 16;

/// A validator's signed statement that every signature in a batch is
/// valid.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Attestation {
    /// [`batch_digest`] of the batch.
    pub digest: Hash,
    /// The attesting validator's index.
    pub validator: u16,
    /// Its node key's signature of [`attest_message`].
    pub signature: Signature,
}

impl Attestation {
    pub fn sign(key: &Keypair, chain_id: ChainId, validator: u16, digest: Hash) -> Attestation {
        Attestation {
            digest,
            validator,
            signature: key.sign(&attest_message(chain_id, &digest)),
        }
    }

    /// Whether `key` signed it.
    pub fn verify(&self, chain_id: ChainId, key: &PublicKey) -> bool {
        key.verify(&attest_message(chain_id, &self.digest), &self.signature)
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

fn attest_message(chain_id: ChainId, digest: &Hash) -> Vec<u8> {
    let mut m = Vec::with_capacity(ATTEST_DOMAIN.len() + 64);
    m.extend_from_slice(ATTEST_DOMAIN);
    m.extend_from_slice(&chain_id.0);
    m.extend_from_slice(&digest.0);
    m
}

/// Faults tolerated by `n` validators: the largest f with n ≥ 3f + 1.
pub fn faults_tolerated(n: usize) -> usize {
    n.saturating_sub(1) / 3
}

/// A batch whose signatures a bad one was found in, with its origin's
/// attestation.
#[derive(Debug, Clone)]
pub struct Evidence {
    pub attestation: Attestation,
    /// Whether the attestation's signature checks out against the
    /// origin's node key (transferable evidence) or not (the origin is
    /// faulty, but only this node knows it).
    pub signed: bool,
    pub bad_txs: Vec<Hash>,
}

struct Parked {
    origin: u16,
    raws: Vec<Vec<u8>>,
    attesters: FastSet<u16>,
    deadline: Instant,
    attestation: Attestation,
}

/// The receiving side: shared batches and attestations from the other
/// validators, in arrival order, one task.
pub struct Gossip {
    shared: Arc<Shared>,
    /// Validators' peer ids and node keys, by index.
    peers: Vec<PeerId>,
    keys: Vec<PublicKey>,
    me: Option<u16>,
    key: Keypair,
    f: usize,
    /// How long a parked batch waits for attestations; `None`: never trust
    /// attestations, check everything here.
    wait: Option<Duration>,
    parked: FastMap<Hash, Parked>,
    order: VecDeque<Hash>,
    parked_txs: usize,
    early: FastMap<Hash, FastSet<u16>>,
    early_order: VecDeque<Hash>,
    pub evidence: VecDeque<Evidence>,
}

impl std::fmt::Debug for Gossip {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gossip")
            .field("me", &self.me)
            .field("f", &self.f)
            .field("parked", &self.parked.len())
            .field("parked_txs", &self.parked_txs)
            .field("early", &self.early.len())
            .field("evidence", &self.evidence.len())
            .finish()
    }
}

impl Gossip {
    pub fn new(
        shared: Arc<Shared>,
        peers: Vec<PeerId>,
        keys: Vec<PublicKey>,
        me: Option<u16>,
        key: Keypair,
        wait: Option<Duration>,
    ) -> Gossip {
        let f = faults_tolerated(keys.len());
        Gossip {
            shared,
            peers,
            keys,
            me,
            key,
            f,
            wait,
            parked: FastMap::default(),
            order: VecDeque::new(),
            parked_txs: 0,
            early: FastMap::default(),
            early_order: VecDeque::new(),
            evidence: VecDeque::new(),
        }
    }

    fn index_of(&self, peer: &PeerId) -> Option<u16> {
        self.peers.iter().position(|p| p == peer).map(|i| i as u16)
    }

    fn penalise(&self, peer: PeerId, why: &str) {
        let _ = self.shared.net.try_send(NetCommand::Penalise {
            peer,
            why: why.to_string(),
        });
    }

    /// A batch shared by `from`, with its attestation and the validators
    /// it asks to check it.
    pub async fn on_batch(
        &mut self,
        from: PeerId,
        raws: Vec<Vec<u8>>,
        attestation: Attestation,
        verifiers: Vec<u16>,
    ) {
        let Some(origin) = self.index_of(&from) else {
            // Not a validator's batch: its attestation means nothing.
            admit_with(&self.shared, raws, Source::Peer, Signatures::Check).await;
            return;
        };
        if attestation.validator != origin {
            return self.penalise(from, "a batch attested in another validator's name");
        }
        if batch_digest(self.shared.chain_id, &raws) != attestation.digest {
            return self.penalise(from, "a batch attestation of other transactions");
        }
        let digest = attestation.digest;
        let named = self.me.is_some_and(|me| verifiers.contains(&me));
        let Some(wait) = self.wait.filter(|_| !named) else {
            // Asked to check it, or trusting no attestations: check it here.
            return self.check(from, raws, attestation, named).await;
        };
        let early = self.early.remove(&digest).unwrap_or_default();
        let attesters: FastSet<u16> = early.into_iter().filter(|v| *v != origin).collect();
        if attesters.len() >= self.f {
            return self.admit_trusted(raws).await;
        }
        if self.parked.len() >= PARKED_BATCHES_MAX
            || self.parked_txs + raws.len() > PARKED_TXS_MAX
            || self.parked.contains_key(&digest)
        {
            return self.check(from, raws, attestation, false).await;
        }
        self.parked_txs += raws.len();
        self.order.push_back(digest);
        self.parked.insert(
            digest,
            Parked {
                origin,
                raws,
                attesters,
                deadline: Instant::now() + wait,
                attestation,
            },
        );
    }

    /// Another validator's attestation of a batch.
    pub async fn on_attest(&mut self, from: PeerId, attestation: Attestation) {
        let Some(v) = self.index_of(&from) else {
            return;
        };
        if attestation.validator != v {
            return self.penalise(from, "an attestation in another validator's name");
        }
        let digest = attestation.digest;
        match self.parked.get_mut(&digest) {
            Some(p) => {
                if v != p.origin {
                    p.attesters.insert(v);
                }
                if p.attesters.len() >= self.f {
                    if let Some(p) = self.unpark(&digest) {
                        self.admit_trusted(p.raws).await;
                    }
                }
            }
            None => {
                if !self.early.contains_key(&digest) {
                    self.early_order.push_back(digest);
                    while self.early_order.len() > EARLY_MAX {
                        if let Some(old) = self.early_order.pop_front() {
                            self.early.remove(&old);
                        }
                    }
                }
                self.early.entry(digest).or_default().insert(v);
            }
        }
    }

    /// Checks here every parked batch whose attestations did not come in
    /// time. Returns when the next one is due (if any is parked).
    pub async fn on_tick(&mut self) -> Option<Instant> {
        let now = Instant::now();
        while let Some(digest) = self.order.front().copied() {
            match self.parked.get(&digest) {
                None => {
                    self.order.pop_front();
                }
                Some(p) if p.deadline <= now => {
                    let Some(p) = self.unpark(&digest) else {
                        continue;
                    };
                    Counters::add(&self.shared.counters.attestation_fallbacks, 1);
                    let from = self.peers[p.origin as usize];
                    self.check(from, p.raws, p.attestation, false).await;
                }
                Some(p) => return Some(p.deadline),
            }
        }
        None
    }

    fn unpark(&mut self, digest: &Hash) -> Option<Parked> {
        let p = self.parked.remove(digest)?;
        self.parked_txs -= p.raws.len();
        if self.order.front() == Some(digest) {
            self.order.pop_front();
        }
        Some(p)
    }

    async fn admit_trusted(&self, raws: Vec<Vec<u8>>) {
        admit_with(&self.shared, raws, Source::Peer, Signatures::Attested).await;
    }

    /// Checks a batch's signatures here and admits what is valid; attests
    /// it when asked to and every signature was checked and valid; keeps
    /// evidence when one was not.
    async fn check(&mut self, from: PeerId, raws: Vec<Vec<u8>>, att: Attestation, attest: bool) {
        let digest = att.digest;
        let outcome = admit_with(&self.shared, raws, Source::Peer, Signatures::Check).await;
        if !outcome.bad_signatures.is_empty() {
            self.fault(from, att, outcome.bad_signatures);
            return;
        }
        if attest && outcome.all_checked_valid {
            if let Some(me) = self.me {
                let mine = Attestation::sign(&self.key, self.shared.chain_id, me, digest);
                Counters::add(&self.shared.counters.attestations_sent, 1);
                let _ = self.shared.net.try_send(NetCommand::Attest {
                    attestation: mine,
                    origin: from,
                });
            }
        }
    }

    fn fault(&mut self, from: PeerId, attestation: Attestation, bad_txs: Vec<Hash>) {
        let signed = self
            .keys
            .get(attestation.validator as usize)
            .is_some_and(|k| attestation.verify(self.shared.chain_id, k));
        Counters::add(&self.shared.counters.attestation_faults, 1);
        tracing::error!(
            validator = attestation.validator,
            digest = %attestation.digest,
            signature = %attestation.signature.to_hex(),
            signed,
            bad = ?bad_txs,
            "a validator shared and attested transactions with bad signatures: evidence of its fault"
        );
        self.penalise(from, "attested a batch with bad signatures");
        self.evidence.push_back(Evidence {
            attestation,
            signed,
            bad_txs,
        });
        while self.evidence.len() > EVIDENCE_MAX {
            self.evidence.pop_front();
        }
    }
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
    }
}

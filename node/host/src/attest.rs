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
//!
//! This module is the whole protocol, both sides: gathering the client
//! transactions admission hands over into batches (every
//! [`SHARE_INTERVAL`]), signing and sending them with named co-verifiers
//! in rotation; receiving batches and attestations, parking, admitting on
//! f + 1 attestations, checking on a deadline, attesting when named, and
//! keeping evidence. The message formats are `hutong_wire`'s
//! ([`TxGossip`], [`Attestation`]).

use std::collections::VecDeque;
use std::time::Duration;

use hutong_runtime::crypto::Hash;
use hutong_runtime::{ChainId, Keypair, PublicKey};
use hutong_wire::attestation::{batch_digest, faults_tolerated, Attestation};
use hutong_wire::p2p::{TxGossip, TXS_BATCH_MAX, TXS_BYTES_MAX};

use crate::admit::{Admission, Signatures, Source};
use crate::runtime::{Clock, Instant, Network};
use crate::status::Counters;
use crate::util::{FastMap, FastSet};

/// Most batches parked at once, waiting for attestations; past it a new
/// batch is checked here at once.
pub const PARKED_BATCHES_MAX: usize = 1_024;
/// Most transactions parked at once.
pub const PARKED_TXS_MAX: usize = 100_000;
/// Attestations remembered for batches not yet seen.
pub const EARLY_MAX: usize = 4_096;
/// Evidence records kept in memory (each is also logged in full).
pub const EVIDENCE_MAX: usize = 16;

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

/// How long client transactions wait to be shared with the other
/// validators, gathered into one message: many small submissions make a
/// few large messages, not a stream each.
pub const SHARE_INTERVAL: Duration = Duration::from_millis(10);

/// One node's side of the protocol. Its methods are called in arrival
/// order by one task (the node's attestation task, or the simulator).
pub struct Attestations<R: Network + Clock> {
    rt: R,
    admission: Admission,
    chain_id: ChainId,
    /// Validators' peers and node keys, by index.
    validators: Vec<R::Peer>,
    keys: Vec<PublicKey>,
    me: Option<u16>,
    key: Keypair,
    f: usize,
    /// How long a parked batch waits for attestations; `None`: never trust
    /// attestations, check everything here.
    wait: Option<Duration>,
    /// Client transactions waiting to be shared (bounded by the flush at
    /// `TXS_BATCH_MAX` transactions or half of `TXS_BYTES_MAX`), and when
    /// they go at the latest.
    outgoing: Vec<Vec<u8>>,
    outgoing_bytes: usize,
    flush_at: Option<Instant>,
    /// Where the rotation of named co-verifiers stands.
    next_verifier: usize,
    parked: FastMap<Hash, Parked>,
    order: VecDeque<Hash>,
    parked_txs: usize,
    early: FastMap<Hash, FastSet<u16>>,
    early_order: VecDeque<Hash>,
    pub evidence: VecDeque<Evidence>,
}

impl<R: Network + Clock> std::fmt::Debug for Attestations<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Attestations")
            .field("me", &self.me)
            .field("f", &self.f)
            .field("outgoing", &self.outgoing.len())
            .field("parked", &self.parked.len())
            .field("parked_txs", &self.parked_txs)
            .field("early", &self.early.len())
            .field("evidence", &self.evidence.len())
            .finish()
    }
}

/// Who takes part: the validators (peers and node keys, by index) and,
/// if this node is one of them, its index and node key.
#[derive(Debug, Clone)]
pub struct Members<P> {
    pub validators: Vec<P>,
    pub keys: Vec<PublicKey>,
    pub me: Option<u16>,
}

impl<R: Network + Clock> Attestations<R> {
    pub fn new(
        rt: R,
        admission: Admission,
        members: Members<R::Peer>,
        key: Keypair,
        wait: Option<Duration>,
    ) -> Attestations<R> {
        let f = faults_tolerated(members.keys.len());
        Attestations {
            rt,
            chain_id: admission.chain_id,
            admission,
            validators: members.validators,
            keys: members.keys,
            me: members.me,
            key,
            f,
            wait,
            outgoing: Vec::new(),
            outgoing_bytes: 0,
            flush_at: None,
            next_verifier: 0,
            parked: FastMap::default(),
            order: VecDeque::new(),
            parked_txs: 0,
            early: FastMap::default(),
            early_order: VecDeque::new(),
            evidence: VecDeque::new(),
        }
    }

    /// The validator set changed (a new epoch): whose attestations count
    /// and whom this node asks from now on. Batches parked on attestations
    /// by the old set's indexes are checked in full now, with their
    /// sender's peer from the old set.
    pub async fn set_members(&mut self, members: Members<R::Peer>) {
        let old = std::mem::replace(&mut self.validators, members.validators);
        self.f = faults_tolerated(members.keys.len());
        self.keys = members.keys;
        self.me = members.me;
        self.next_verifier = 0;
        self.early.clear();
        self.early_order.clear();
        let parked = std::mem::take(&mut self.parked);
        self.order.clear();
        self.parked_txs = 0;
        for (_, p) in parked {
            if let Some(from) = old.get(usize::from(p.origin)).copied() {
                self.check(from, p.raws, p.attestation, false).await;
            }
        }
    }

    fn index_of(&self, peer: &R::Peer) -> Option<u16> {
        self.validators
            .iter()
            .position(|p| p == peer)
            .map(|i| i as u16)
    }

    /// Client transactions admission took: shared at the next flush, or at
    /// once when a message's worth is waiting.
    pub fn share(&mut self, raws: Vec<Vec<u8>>) {
        for raw in raws {
            self.outgoing_bytes += raw.len();
            self.outgoing.push(raw);
            if self.outgoing.len() >= TXS_BATCH_MAX || self.outgoing_bytes >= TXS_BYTES_MAX / 2 {
                self.flush();
            }
        }
        if !self.outgoing.is_empty() && self.flush_at.is_none() {
            self.flush_at = Some(self.rt.now() + SHARE_INTERVAL);
        }
    }

    /// Sends the gathered client transactions to every connected
    /// validator. A validator attests its batch (it checked every
    /// signature on admission) and names f connected validators, in
    /// rotation, to check it too.
    fn flush(&mut self) {
        self.flush_at = None;
        if self.outgoing.is_empty() {
            return;
        }
        let txs = std::mem::take(&mut self.outgoing);
        self.outgoing_bytes = 0;
        let (attestation, verifiers) = match self.me {
            Some(index) => {
                let digest = batch_digest(self.chain_id, &txs);
                let attestation = Attestation::sign(&self.key, self.chain_id, index, digest);
                let others: Vec<u16> = (0..self.validators.len())
                    .filter(|i| *i != usize::from(index))
                    .filter(|i| self.rt.is_connected(self.validators[*i]))
                    .map(|i| i as u16)
                    .collect();
                let mut verifiers = Vec::with_capacity(self.f);
                if !others.is_empty() {
                    for k in 0..self.f.min(others.len()) {
                        verifiers.push(others[(self.next_verifier + k) % others.len()]);
                    }
                    self.next_verifier = (self.next_verifier + 1) % others.len();
                }
                (Some(attestation), verifiers)
            }
            None => (None, Vec::new()),
        };
        let gossip = TxGossip::Batch {
            txs,
            attestation,
            verifiers,
        };
        for (i, peer) in self.validators.iter().enumerate() {
            if Some(i as u16) != self.me && self.rt.is_connected(*peer) {
                self.rt.gossip(*peer, gossip.clone());
            }
        }
    }

    /// A message on the transactions protocol from `from`.
    pub async fn on_gossip(&mut self, from: R::Peer, gossip: TxGossip) {
        match gossip {
            TxGossip::Batch {
                txs,
                attestation: Some(a),
                verifiers,
            } => self.on_batch(from, txs, a, verifiers).await,
            TxGossip::Batch {
                txs,
                attestation: None,
                ..
            } => {
                self.admission
                    .admit_with(txs, Source::Peer, Signatures::Check)
                    .await;
            }
            TxGossip::Attest(a) => self.on_attest(from, a).await,
        }
    }

    /// A batch shared by `from`, with its attestation and the validators
    /// it asks to check it.
    async fn on_batch(
        &mut self,
        from: R::Peer,
        raws: Vec<Vec<u8>>,
        attestation: Attestation,
        verifiers: Vec<u16>,
    ) {
        let Some(origin) = self.index_of(&from) else {
            // Not a validator's batch: its attestation means nothing.
            self.admission
                .admit_with(raws, Source::Peer, Signatures::Check)
                .await;
            return;
        };
        if attestation.validator != origin {
            // Its sender numbers validators differently: it is in another
            // epoch than this node (a validator-set change one of them has
            // not executed yet). Not a fault, and not trusted either: every
            // signature is checked here.
            tracing::debug!(
                peer = ?from,
                named = attestation.validator,
                origin,
                "a batch attested under another epoch's validator index; checked in full"
            );
            self.admission
                .admit_with(raws, Source::Peer, Signatures::Check)
                .await;
            return;
        }
        if batch_digest(self.chain_id, &raws) != attestation.digest {
            return self
                .rt
                .penalise(from, "a batch attestation of other transactions");
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
                deadline: self.rt.now() + wait,
                attestation,
            },
        );
    }

    /// Another validator's attestation of a batch.
    async fn on_attest(&mut self, from: R::Peer, attestation: Attestation) {
        let Some(v) = self.index_of(&from) else {
            return;
        };
        if attestation.validator != v {
            // Another epoch's numbering (see `on_batch`): not counted.
            return;
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

    /// Shares what is due and checks here every parked batch whose
    /// attestations did not come in time. Returns when it is next due
    /// (`None`: nothing waits).
    pub async fn on_tick(&mut self) -> Option<Instant> {
        let now = self.rt.now();
        if self.flush_at.is_some_and(|at| at <= now) {
            self.flush();
        }
        let mut next = None;
        while let Some(digest) = self.order.front().copied() {
            match self.parked.get(&digest) {
                None => {
                    self.order.pop_front();
                }
                Some(p) if p.deadline <= now => {
                    let Some(p) = self.unpark(&digest) else {
                        continue;
                    };
                    Counters::add(&self.admission.counters.attestation_fallbacks, 1);
                    if let Some(from) = self.validators.get(usize::from(p.origin)).copied() {
                        self.check(from, p.raws, p.attestation, false).await;
                    }
                }
                Some(p) => {
                    next = Some(p.deadline);
                    break;
                }
            }
        }
        match (next, self.flush_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
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
        self.admission
            .admit_with(raws, Source::Peer, Signatures::Attested)
            .await;
    }

    /// Checks a batch's signatures here and admits what is valid; attests
    /// it when asked to and every signature was checked and valid; keeps
    /// evidence when one was not.
    async fn check(&mut self, from: R::Peer, raws: Vec<Vec<u8>>, att: Attestation, attest: bool) {
        let digest = att.digest;
        let outcome = self
            .admission
            .admit_with(raws, Source::Peer, Signatures::Check)
            .await;
        if !outcome.bad_signatures.is_empty() {
            self.fault(from, att, outcome.bad_signatures);
            return;
        }
        if attest && outcome.all_checked_valid {
            if let Some(me) = self.me {
                let mine = Attestation::sign(&self.key, self.chain_id, me, digest);
                Counters::add(&self.admission.counters.attestations_sent, 1);
                // To every validator but the batch's origin, which has no
                // use for it.
                for (i, peer) in self.validators.iter().enumerate() {
                    if i != usize::from(me) && *peer != from && self.rt.is_connected(*peer) {
                        self.rt.gossip(*peer, TxGossip::Attest(mine.clone()));
                    }
                }
            }
        }
    }

    fn fault(&mut self, from: R::Peer, attestation: Attestation, bad_txs: Vec<Hash>) {
        let signed = self
            .keys
            .get(usize::from(attestation.validator))
            .is_some_and(|k| attestation.verify(self.chain_id, k));
        Counters::add(&self.admission.counters.attestation_faults, 1);
        tracing::error!(
            validator = attestation.validator,
            digest = %attestation.digest,
            signature = %attestation.signature.to_hex(),
            signed,
            bad = ?bad_txs,
            "a validator shared and attested transactions with bad signatures: evidence of its fault"
        );
        self.rt
            .penalise(from, "attested a batch with bad signatures");
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

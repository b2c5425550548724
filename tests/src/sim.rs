//! A deterministic simulation of a consensus cluster: `n` replicas of the
//! real state machine over a simulated network with simulated time, all
//! driven by one seed. The network delays (with jitter), drops, duplicates
//! and reorders messages and can partition the cluster; replicas crash and
//! restart from exactly what they persisted. Safety invariants are checked
//! after every step; liveness at the end.
//!
//! `HUTONG_SEED=N` replays one seed; a failure message always names it.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::time::Duration;

use hutong_consensus::core::{Committed, Config, Consensus, Signer};
use hutong_consensus::messages::{Action, Event, Message};
use hutong_consensus::safety::SafetyData;
use hutong_consensus::types::{
    Block, BlockId, Digest, Epoch, Height, Round, SignatureBytes, ValidatorId,
};
use hutong_consensus::validators::{ValidatorSet, Verifier};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sha2::{Digest as _, Sha256};

/// A fast stand-in for ed25519 in simulation: a signature is a keyed hash
/// of the message. The verifier knows every key (it is a test double), so a
/// replica cannot sign for another one, and a flipped bit is caught.
#[derive(Debug, Clone)]
pub struct SimSigner {
    secret: [u8; 32],
}

impl SimSigner {
    fn public(&self) -> [u8; 32] {
        Sha256::new()
            .chain_update(b"sim-public")
            .chain_update(self.secret)
            .finalize()
            .into()
    }
}

fn keyed(secret: &[u8; 32], message: &Digest) -> SignatureBytes {
    let h: [u8; 32] = Sha256::new()
        .chain_update(b"sim-sig")
        .chain_update(secret)
        .chain_update(message.0)
        .finalize()
        .into();
    let mut sig = [0u8; 64];
    sig[..32].copy_from_slice(&h);
    SignatureBytes(sig)
}

impl Signer for SimSigner {
    fn sign(&self, message: &Digest) -> SignatureBytes {
        keyed(&self.secret, message)
    }
}

#[derive(Debug, Clone)]
pub struct SimVerifier {
    secrets: BTreeMap<[u8; 32], [u8; 32]>,
}

impl Verifier for SimVerifier {
    fn verify(&self, key: &[u8; 32], message: &Digest, signature: &SignatureBytes) -> bool {
        self.secrets
            .get(key)
            .is_some_and(|secret| keyed(secret, message) == *signature)
    }
}

/// The faults a run injects.
#[derive(Debug, Clone)]
pub struct Faults {
    /// Probability that a message is lost.
    pub drop: f64,
    /// Probability that a message is delivered twice.
    pub duplicate: f64,
    /// One-way delay: `delay_ms` plus up to `jitter_ms` (so messages reorder).
    pub delay_ms: u64,
    pub jitter_ms: u64,
    /// Crash a random replica (never more than f at once) this many times.
    pub crashes: usize,
    /// Split the cluster in two this many times.
    pub partitions: usize,
    /// Validator 0 is Byzantine in this way, if any.
    pub byzantine: Option<Byzantine>,
    /// End epoch 1 with the block at this height; epoch 2 drops the last
    /// validator, which then follows passively.
    pub reconfigure_at: Option<u64>,
    /// This validator is down for the whole run (it never starts).
    pub down_forever: Option<usize>,
    /// This validator crashes at this time (ms) and never comes back.
    pub down_from: Option<(usize, u64)>,
    /// Broken on purpose (the simulator's teeth): every replica accepts
    /// certificates of f + 1 instead of n − f.
    pub weak_quorum: bool,
}

/// How validator 0 misbehaves when Byzantine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Byzantine {
    /// Sends two different proposals for each round it leads, one to each
    /// half of the cluster.
    EquivocatingLeader,
    /// Runs twice with the same key (the "Twins" method): two honest-coded
    /// instances that together vote twice and propose twice.
    Twins,
    /// Corrupts signatures, builds certificates with a repeated signer,
    /// and floods far-future timeouts.
    Forger,
}

impl Faults {
    pub fn none() -> Faults {
        Faults {
            drop: 0.0,
            duplicate: 0.0,
            delay_ms: 20,
            jitter_ms: 0,
            crashes: 0,
            partitions: 0,
            byzantine: None,
            reconfigure_at: None,
            down_forever: None,
            down_from: None,
            weak_quorum: false,
        }
    }

    pub fn all() -> Faults {
        Faults {
            drop: 0.05,
            duplicate: 0.05,
            delay_ms: 10,
            jitter_ms: 60,
            crashes: 3,
            partitions: 2,
            byzantine: None,
            reconfigure_at: None,
            down_forever: None,
            down_from: None,
            weak_quorum: false,
        }
    }
}

/// A payload the simulated host rejects.
const INVALID_PAYLOAD: Digest = Digest([0xee; 32]);

/// What a replica persisted: all a restart may use.
#[derive(Debug, Clone)]
struct Disk {
    safety: SafetyData,
    blocks: BTreeMap<BlockId, Block>,
    committed: Committed,
}

struct Replica {
    /// The validator this instance runs as (twins share one).
    id: usize,
    /// Its current epoch's validator set (the host keeps it with the disk).
    validators: ValidatorSet,
    core: Consensus<SimSigner, SimVerifier>,
    signer: SimSigner,
    disk: Disk,
    up: bool,
    /// Committed block ids by height, as this replica reported them.
    chain: Vec<BlockId>,
}

#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // almost every delivery is an event
enum Delivery {
    Event { to: usize, event: Event },
    Crash { node: usize },
    Restart { node: usize },
    Partition { group: Vec<bool>, until_ms: u64 },
    Heal,
}

/// The outcome of a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub seed: u64,
    /// Blocks committed by each replica.
    pub committed: Vec<usize>,
    /// Blocks each replica committed after the last fault ended.
    pub committed_after_faults: Vec<usize>,
    /// A digest of every commit in order, to compare two runs of a seed.
    pub trace: [u8; 32],
    pub messages: u64,
    /// Equivocation evidence reported against the Byzantine validator.
    pub evidence: u64,
    /// The epoch each honest replica ended in.
    pub epochs: Vec<u64>,
    /// Bulk syncs served.
    pub syncs: u64,
    /// Messages honest replicas dropped, by reason.
    pub dropped: BTreeMap<&'static str, u64>,
}

impl std::fmt::Debug for Sim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sim")
            .field("seed", &self.seed)
            .field("now_ms", &self.now_ms)
            .field("replicas", &self.replicas.len())
            .finish_non_exhaustive()
    }
}

pub struct Sim {
    seed: u64,
    rng: ChaCha8Rng,
    now_ms: u64,
    seq: u64,
    queue: BinaryHeap<Reverse<(u64, u64, usize)>>,
    pending: BTreeMap<usize, Delivery>,
    replicas: Vec<Replica>,
    validators: ValidatorSet,
    verifier: SimVerifier,
    config: Config,
    faults: Faults,
    /// `Some(side)` while partitioned: replicas talk only within a side.
    partition: Option<Vec<bool>>,
    /// Committed block id at each height, across all replicas.
    canonical: Vec<BlockId>,
    trace: Sha256,
    messages: u64,
    faults_end_ms: u64,
    evidence: u64,
    /// Every committed block, and the commit certificate reported for the
    /// last block of each commit, by height: what peers serve to a
    /// validator that syncs.
    committed_blocks: BTreeMap<BlockId, Block>,
    commit_proofs: BTreeMap<usize, hutong_consensus::types::QuorumCert>,
    syncs: u64,
}

impl Sim {
    pub fn new(n: usize, seed: u64, faults: Faults) -> Sim {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let signers: Vec<SimSigner> = (0..n).map(|_| SimSigner { secret: rng.gen() }).collect();
        let verifier = SimVerifier {
            secrets: signers.iter().map(|s| (s.public(), s.secret)).collect(),
        };
        let genesis = Digest::tagged(b"sim-genesis", &seed.to_le_bytes());
        let mut validators = ValidatorSet::new(
            Epoch(1),
            signers.iter().map(|s| s.public()).collect(),
            genesis,
        )
        .expect("the simulation builds a valid set");
        if faults.weak_quorum {
            validators.weaken_quorum_for_simulation();
        }
        // A twin is a second instance of validator 0, with the same key.
        let mut instances: Vec<(usize, SimSigner)> = signers.iter().cloned().enumerate().collect();
        if faults.byzantine == Some(Byzantine::Twins) {
            instances.push((0, signers[0].clone()));
        }
        let config = Config {
            base_timeout: Duration::from_millis(300),
            max_timeout: Duration::from_millis(5_000),
            ..Config::default()
        };
        let replicas = instances
            .into_iter()
            .map(|(i, signer)| Replica {
                id: i,
                validators: validators.clone(),
                core: Consensus::new(
                    ValidatorId(i as u16),
                    validators.clone(),
                    signer.clone(),
                    verifier.clone(),
                    config.clone(),
                ),
                signer,
                disk: Disk {
                    safety: SafetyData::new(Epoch(1)),
                    blocks: BTreeMap::new(),
                    committed: Committed {
                        id: genesis,
                        round: Round(0),
                        height: Height(0),
                    },
                },
                up: true,
                chain: Vec::new(),
            })
            .collect();
        Sim {
            seed,
            rng,
            now_ms: 0,
            seq: 0,
            queue: BinaryHeap::new(),
            pending: BTreeMap::new(),
            replicas,
            validators,
            verifier,
            config,
            faults,
            partition: None,
            canonical: Vec::new(),
            trace: Sha256::new(),
            messages: 0,
            faults_end_ms: 0,
            evidence: 0,
            committed_blocks: BTreeMap::new(),
            commit_proofs: BTreeMap::new(),
            syncs: 0,
        }
    }

    fn schedule(&mut self, at_ms: u64, delivery: Delivery) {
        self.seq += 1;
        let id = self.seq as usize;
        self.pending.insert(id, delivery);
        self.queue.push(Reverse((at_ms, self.seq, id)));
    }

    /// Whether validator `id` is the Byzantine one.
    fn is_byzantine(&self, id: usize) -> bool {
        self.faults.byzantine.is_some() && id == 0
    }

    /// Sends from instance `from` to validator `to`: to one of its
    /// instances (twins split the traffic at random).
    fn send(&mut self, from: usize, to: usize, message: Message) {
        let targets: Vec<usize> = (0..self.replicas.len())
            .filter(|i| self.replicas[*i].id == to)
            .collect();
        let instance = targets[self.rng.gen_range(0..targets.len())];
        self.send_to_instance(from, instance, message);
    }

    fn send_to_instance(&mut self, from: usize, to: usize, message: Message) {
        self.messages += 1;
        if self.rng.gen_bool(self.faults.drop) {
            return;
        }
        if let Some(side) = &self.partition {
            if side[from] != side[to] {
                return;
            }
        }
        let copies = if self.rng.gen_bool(self.faults.duplicate) {
            2
        } else {
            1
        };
        for _ in 0..copies {
            let delay = self.faults.delay_ms + self.rng.gen_range(0..=self.faults.jitter_ms);
            let event = Event::Message {
                from: ValidatorId(self.replicas[from].id as u16),
                message: message.clone(),
            };
            self.schedule(self.now_ms + delay, Delivery::Event { to, event });
        }
    }

    /// What the Byzantine validator does to an outgoing message to `to`.
    fn misbehave(&mut self, from: usize, to: usize, message: Message) {
        let signer = self.replicas[from].signer.clone();
        match (self.faults.byzantine, message) {
            (Some(Byzantine::EquivocatingLeader), Message::Proposal(mut p)) if to % 2 == 1 => {
                // Odd validators get a second version; validator 1 gets
                // both, and so holds the evidence.
                if to == 1 {
                    self.send(from, to, Message::Proposal(p.clone()));
                }
                p.block.payload.0[0] ^= 0xff;
                p.signature = signer.sign(&p.block.id());
                self.send(from, to, Message::Proposal(p));
            }
            (Some(Byzantine::Forger), message) => {
                let forged = match message {
                    Message::Vote(mut v) if self.rng.gen_bool(0.3) => {
                        v.signature.0[5] ^= 1;
                        Message::Vote(v)
                    }
                    Message::Proposal(mut p) if self.rng.gen_bool(0.25) => {
                        // A payload the hosts will reject.
                        p.block.payload = INVALID_PAYLOAD;
                        p.signature = signer.sign(&p.block.id());
                        Message::Proposal(p)
                    }
                    Message::Proposal(mut p)
                        if self.rng.gen_bool(0.5) && p.block.justify.signers.len() > 1 =>
                    {
                        // f + 1 real votes, one counted twice.
                        let qc = &mut p.block.justify;
                        qc.signers[1] = qc.signers[0];
                        qc.signatures[1] = qc.signatures[0];
                        p.signature = signer.sign(&p.block.id());
                        Message::Proposal(p)
                    }
                    other => other,
                };
                self.send(from, to, forged);
                // And a flood of far-future timeouts.
                let high_qc = self.replicas[from].core.high_qc().clone();
                for k in 0..3u64 {
                    let data = hutong_consensus::types::TimeoutData {
                        epoch: Epoch(1),
                        round: Round(1_000_000 + k),
                        high_qc_round: high_qc.round(),
                    };
                    let t = hutong_consensus::messages::Timeout {
                        signature: signer.sign(&data.signing_message()),
                        data,
                        high_qc: high_qc.clone(),
                        high_tc: None,
                        voter: ValidatorId(0),
                    };
                    self.send(from, to, Message::Timeout(t));
                }
            }
            (_, message) => self.send(from, to, message),
        }
    }

    /// Cuts replica `node` off from everyone between `from_ms` and
    /// `until_ms` (a partition of one).
    pub fn isolate(&mut self, node: usize, from_ms: u64, until_ms: u64) {
        let group = (0..self.replicas.len()).map(|i| i == node).collect();
        self.schedule(from_ms, Delivery::Partition { group, until_ms });
        self.faults_end_ms = self.faults_end_ms.max(until_ms);
    }

    /// Runs for `duration_ms` of simulated time, with the faults spread
    /// over the first half; returns the report or the first violation.
    pub fn run(self, duration_ms: u64) -> Result<Report, String> {
        self.run_with(duration_ms / 2, duration_ms)
    }

    /// Runs for `duration_ms`, with faults starting within the first
    /// `fault_window_ms`.
    pub fn run_with(mut self, fault_window_ms: u64, duration_ms: u64) -> Result<Report, String> {
        let n = self.replicas.len();
        let f = self.validators.max_faulty();
        let fault_window = fault_window_ms;
        for _ in 0..self.faults.crashes {
            let at = self.rng.gen_range(0..fault_window);
            let node = self.rng.gen_range(0..n);
            let pause = self.rng.gen_range(100..3_000);
            self.schedule(at, Delivery::Crash { node });
            self.schedule(at + pause, Delivery::Restart { node });
            self.faults_end_ms = self.faults_end_ms.max(at + pause);
        }
        for _ in 0..self.faults.partitions {
            let at = self.rng.gen_range(0..fault_window);
            let until_ms = at + self.rng.gen_range(200..4_000);
            let group = (0..self.replicas.len())
                .map(|_| self.rng.gen_bool(0.5))
                .collect();
            self.schedule(at, Delivery::Partition { group, until_ms });
            self.faults_end_ms = self.faults_end_ms.max(until_ms);
        }
        if let Some(v) = self.faults.down_forever {
            self.replicas[v].up = false;
        }
        if let Some((node, at)) = self.faults.down_from {
            self.schedule(at, Delivery::Crash { node });
        }
        for i in 0..self.replicas.len() {
            self.schedule(
                0,
                Delivery::Event {
                    to: i,
                    event: Event::Start,
                },
            );
        }
        let mut committed_at_faults_end = vec![usize::MAX; self.replicas.len()];
        while let Some(Reverse((at, _, id))) = self.queue.pop() {
            if at > duration_ms {
                break;
            }
            self.now_ms = at;
            if self.now_ms >= self.faults_end_ms {
                for (i, r) in self.replicas.iter().enumerate() {
                    if committed_at_faults_end[i] == usize::MAX && r.up {
                        committed_at_faults_end[i] = r.chain.len();
                    }
                }
            }
            let Some(delivery) = self.pending.remove(&id) else {
                continue;
            };
            match delivery {
                Delivery::Crash { node } => {
                    // Crashes and the Byzantine validator stay within f.
                    let down = self.replicas.iter().filter(|r| !r.up).count();
                    let byzantine = usize::from(self.faults.byzantine.is_some());
                    if down + byzantine < f && !self.is_byzantine(self.replicas[node].id) {
                        self.replicas[node].up = false;
                    }
                }
                Delivery::Restart { node } => {
                    let r = &mut self.replicas[node];
                    if !r.up {
                        r.up = true;
                        r.core = Consensus::restore(
                            ValidatorId(r.id as u16),
                            r.validators.clone(),
                            r.signer.clone(),
                            self.verifier.clone(),
                            self.config.clone(),
                            r.disk.safety.clone(),
                            r.disk.blocks.values().cloned().collect(),
                            r.disk.committed,
                        );
                        self.schedule(
                            self.now_ms,
                            Delivery::Event {
                                to: node,
                                event: Event::Start,
                            },
                        );
                    }
                }
                Delivery::Partition { group, until_ms } => {
                    self.partition = Some(group);
                    self.schedule(until_ms, Delivery::Heal);
                }
                Delivery::Heal => self.partition = None,
                Delivery::Event { to, event } => {
                    if !self.replicas[to].up {
                        continue;
                    }
                    let actions = self.replicas[to].core.handle(event);
                    self.apply(to, actions)?;
                }
            }
        }
        if std::env::var("HUTONG_SIM_DEBUG").is_ok() {
            for (i, r) in self.replicas.iter().enumerate() {
                eprintln!(
                    "replica {i}: up {} {:?} last_voted {} dropped {:?}",
                    r.up,
                    r.core,
                    r.core.safety().last_voted_round,
                    r.core.dropped()
                );
            }
            for (i, r) in self.replicas.iter().enumerate() {
                for m in r.core.missing_blocks() {
                    let holders: Vec<usize> = (0..self.replicas.len())
                        .filter(|j| self.replicas[*j].disk.blocks.contains_key(&m))
                        .collect();
                    let round = holders
                        .first()
                        .map(|j| self.replicas[*j].disk.blocks[&m].round);
                    eprintln!(
                        "replica {i} misses {m:?} (round {round:?}) held by instances {holders:?}"
                    );
                }
            }
            eprintln!(
                "faults end at {} ms; stopped at {} ms; partition {:?}; queue {}",
                self.faults_end_ms,
                self.now_ms,
                self.partition,
                self.queue.len()
            );
        }
        // Reports cover the honest validators only.
        let honest: Vec<usize> = (0..n)
            .filter(|i| !self.is_byzantine(self.replicas[*i].id))
            .collect();
        let committed: Vec<usize> = honest
            .iter()
            .map(|i| self.replicas[*i].chain.len())
            .collect();
        let committed_after_faults = honest
            .iter()
            .map(|i| {
                let at = committed_at_faults_end[*i];
                if at == usize::MAX {
                    0
                } else {
                    self.replicas[*i].chain.len().saturating_sub(at)
                }
            })
            .collect();
        let mut dropped = BTreeMap::new();
        for i in &honest {
            for (reason, count) in self.replicas[*i].core.dropped() {
                *dropped.entry(*reason).or_insert(0) += count;
            }
        }
        Ok(Report {
            seed: self.seed,
            committed,
            committed_after_faults,
            trace: self.trace.finalize().into(),
            messages: self.messages,
            evidence: self.evidence,
            epochs: honest
                .iter()
                .map(|i| self.replicas[*i].core.epoch().0)
                .collect(),
            syncs: self.syncs,
            dropped,
        })
    }

    /// Moves a replica into epoch 2, which starts from the block at the
    /// end of its committed chain and drops the last validator.
    fn switch_epoch(&mut self, node: usize) {
        let r = &mut self.replicas[node];
        let genesis = *r.chain.last().expect("the epoch ends at a committed block");
        let height = Height(r.chain.len() as u64);
        let n = r.validators.len();
        let keys: Vec<[u8; 32]> = (0..n - 1)
            .map(|i| *r.validators.key(ValidatorId(i as u16)).expect("a member"))
            .collect();
        let next = ValidatorSet::next_epoch(Epoch(2), keys, genesis, height).expect("a valid set");
        let me = (r.id < n - 1).then_some(ValidatorId(r.id as u16));
        r.validators = next.clone();
        // The host persists the epoch change with fresh safety data, as one
        // write: a crash right after it must restart in the new epoch.
        r.disk.committed = Committed {
            id: genesis,
            round: Round(0),
            height,
        };
        r.disk.safety = SafetyData::new(Epoch(2));
        r.disk.blocks.clear();
        let event = Event::NewEpoch {
            validators: next,
            me,
        };
        self.schedule(self.now_ms, Delivery::Event { to: node, event });
    }

    /// Carries out a replica's actions in order, as the node would.
    fn apply(&mut self, node: usize, actions: Vec<Action>) -> Result<(), String> {
        let n = self.validators.len();
        let me = self.replicas[node].id;
        let byzantine = self.is_byzantine(me);
        for action in actions {
            match action {
                Action::PersistSafety(s) => self.replicas[node].disk.safety = s,
                Action::PersistBlock(b) => {
                    self.replicas[node].disk.blocks.insert(b.id(), b);
                }
                Action::Send { to, message } => {
                    let to = usize::from(to.0);
                    if byzantine {
                        self.misbehave(node, to, message);
                    } else {
                        self.send(node, to, message);
                    }
                }
                Action::Broadcast(message) => {
                    for to in (0..n).filter(|to| *to != me) {
                        if byzantine {
                            self.misbehave(node, to, message.clone());
                        } else {
                            self.send(node, to, message.clone());
                        }
                    }
                    if self.faults.byzantine == Some(Byzantine::Twins) && me == 0 {
                        // A twin's broadcast reaches its twin too.
                        let twin = if node == 0 {
                            self.replicas.len() - 1
                        } else {
                            0
                        };
                        self.send_to_instance(node, twin, message);
                    }
                }
                Action::SetTimer { round, after } => {
                    let at = self.now_ms + after.as_millis() as u64;
                    self.schedule(
                        at,
                        Delivery::Event {
                            to: node,
                            event: Event::Timer { round },
                        },
                    );
                }
                Action::NeedPayload { round, .. } => {
                    let payload = Digest::tagged(
                        b"sim-payload",
                        &[round.0.to_le_bytes(), (node as u64).to_le_bytes()].concat(),
                    );
                    let event = Event::PayloadReady {
                        round,
                        payload,
                        timestamp_ms: self.now_ms,
                    };
                    self.schedule(self.now_ms, Delivery::Event { to: node, event });
                }
                Action::Commit { .. } if byzantine => {}
                Action::Commit { blocks, proof } => {
                    if let Some(last) = blocks.last() {
                        self.commit_proofs
                            .entry(last.height.0 as usize)
                            .or_insert_with(|| proof.clone());
                    }
                    for b in &blocks {
                        self.committed_blocks
                            .entry(b.id())
                            .or_insert_with(|| b.clone());
                    }
                    if proof.data.commits() != blocks.last().map(|b| b.id()) {
                        return Err(format!(
                            "seed {}: replica {node} committed without a commit certificate",
                            self.seed
                        ));
                    }
                    for b in blocks {
                        let height = b.height.0 as usize;
                        let epoch_end = self.faults.reconfigure_at.map(|h| h as usize);
                        if b.epoch == Epoch(1) && epoch_end.is_some_and(|end| height > end) {
                            // Past the epoch's last block: the host ignores
                            // it (every honest host does the same).
                            break;
                        }
                        let r = &mut self.replicas[node];
                        if height != r.chain.len() + 1 {
                            return Err(format!(
                                "seed {}: replica {node} committed height {height} after {}",
                                self.seed,
                                r.chain.len()
                            ));
                        }
                        let id = b.id();
                        r.chain.push(id);
                        r.disk.committed = Committed {
                            id,
                            round: b.round,
                            height: b.height,
                        };
                        // Safety: one block per height across all replicas.
                        match self.canonical.get(height - 1) {
                            Some(existing) if *existing != id => {
                                return Err(format!(
                                    "seed {}: SAFETY VIOLATION at height {height}: replica {node} committed {id:?}, another committed {existing:?}",
                                    self.seed
                                ));
                            }
                            Some(_) => {}
                            None => {
                                self.canonical.push(id);
                                self.trace.update(id.0);
                                self.trace.update(self.now_ms.to_le_bytes());
                            }
                        }
                        if Some(height) == epoch_end
                            && b.epoch == Epoch(1)
                            && self.replicas[node].validators.epoch() == Epoch(1)
                        {
                            self.switch_epoch(node);
                        }
                    }
                }
                Action::CheckPayload { block } => {
                    // The host's payload check: the forger's marker payload
                    // is invalid, everything else is.
                    let valid = block.payload != INVALID_PAYLOAD;
                    let event = Event::PayloadChecked {
                        block_id: block.id(),
                        valid,
                    };
                    self.schedule(self.now_ms, Delivery::Event { to: node, event });
                }
                Action::SyncRequest { after, .. } => {
                    // A peer serves committed blocks after `after` in the
                    // requester's epoch, up to the highest height it holds
                    // a commit certificate for.
                    let epoch = self.replicas[node].core.epoch();
                    let after = after.0 as usize;
                    let limit = after + hutong_consensus::core::SYNC_BLOCKS_MAX;
                    let mut served = Vec::new();
                    let mut best = None;
                    for h in after + 1..=limit.min(self.canonical.len()) {
                        let Some(b) = self.committed_blocks.get(&self.canonical[h - 1]) else {
                            break;
                        };
                        if b.epoch != epoch {
                            break;
                        }
                        served.push(b.clone());
                        if let Some(p) = self.commit_proofs.get(&h) {
                            best = Some((served.len(), p.clone()));
                        }
                    }
                    if let Some((count, proof)) = best {
                        served.truncate(count);
                        self.messages += 1;
                        self.syncs += 1;
                        if !self.rng.gen_bool(self.faults.drop) {
                            let at = self.now_ms
                                + 2 * self.faults.delay_ms
                                + self.rng.gen_range(0..=self.faults.jitter_ms);
                            let event = Event::SyncResponse {
                                blocks: served,
                                proof,
                            };
                            self.schedule(at, Delivery::Event { to: node, event });
                        }
                    }
                }
                Action::EpochAhead { .. } => {
                    // The host syncs the committed chain up to the epoch's
                    // end from its peers (state sync), then switches.
                    let Some(end) = self.faults.reconfigure_at.map(|h| h as usize) else {
                        continue;
                    };
                    let r = &self.replicas[node];
                    if r.validators.epoch() == Epoch(1) && self.canonical.len() >= end {
                        let missing: Vec<BlockId> =
                            self.canonical[r.chain.len().min(end)..end].to_vec();
                        self.replicas[node].chain.extend(missing);
                        self.switch_epoch(node);
                    }
                }
                Action::Fetch { block_id, from } => {
                    // The host asks `from` first, then any other replica
                    // that is up and reachable, over the same lossy network.
                    let first = usize::from(from.0);
                    let order =
                        std::iter::once(first).chain((0..n).filter(|i| *i != first && *i != node));
                    let mut found = None;
                    for peer in order {
                        let reachable = self.replicas[peer].up
                            && self
                                .partition
                                .as_ref()
                                .is_none_or(|side| side[peer] == side[node]);
                        if let (true, Some(b)) =
                            (reachable, self.replicas[peer].disk.blocks.get(&block_id))
                        {
                            found = Some(b.clone());
                            break;
                        }
                    }
                    if let Some(block) = found {
                        self.messages += 1;
                        if !self.rng.gen_bool(self.faults.drop) {
                            let at = self.now_ms
                                + 2 * self.faults.delay_ms
                                + self.rng.gen_range(0..=self.faults.jitter_ms);
                            self.schedule(
                                at,
                                Delivery::Event {
                                    to: node,
                                    event: Event::BlockFetched { block },
                                },
                            );
                        }
                    }
                }
                Action::Equivocation(evidence) => {
                    let accused = match &evidence {
                        hutong_consensus::messages::Equivocation::Proposals(a, _) => {
                            usize::from(a.block.proposer.0)
                        }
                        hutong_consensus::messages::Equivocation::Votes(a, _) => {
                            usize::from(a.voter.0)
                        }
                    };
                    if self.is_byzantine(accused) {
                        self.evidence += 1;
                        continue;
                    }
                    let what = match &evidence {
                        hutong_consensus::messages::Equivocation::Proposals(a, b) => format!(
                            "proposals by {} in round {}: {:?} and {:?}",
                            a.block.proposer, a.block.round, a.block, b.block
                        ),
                        hutong_consensus::messages::Equivocation::Votes(a, b) => {
                            format!("votes by {}: {:?} and {:?}", a.voter, a.data, b.data)
                        }
                    };
                    return Err(format!(
                        "seed {}: replica {node} reports an honest replica equivocating at {} ms: {what}",
                        self.seed, self.now_ms
                    ));
                }
            }
        }
        Ok(())
    }
}

/// The seed to use: `HUTONG_SEED` if set, else `default`.
pub fn seed_from_env(default: u64) -> u64 {
    std::env::var("HUTONG_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

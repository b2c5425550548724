//! A deterministic simulation of a Hutong cluster: `n` nodes running the
//! real host logic (`hutong_host`: the consensus host with its payload
//! checks, execution gating and catch-up, admission, attested sharing of
//! transactions, the mempool) and the real consensus core, over a
//! simulated network with simulated time, all driven by one seed. Blocks
//! carry real signed transfers from simulated wallets and are executed by
//! the real runtime; the network delays (with jitter), drops, duplicates
//! and reorders messages and can partition the cluster; nodes crash and
//! restart from exactly what they persisted; one validator may be
//! Byzantine.
//!
//! Checked after every step: no two nodes execute different blocks or
//! reach different state roots at one height; every commit carries a
//! certificate that commits it; safety data is durable before the vote,
//! timeout or proposal it guards is sent; honest nodes never accuse or
//! penalise each other. Liveness at the end.
//!
//! `HUTONG_SEED=N` replays one seed; a failure message always names it.
//!
//! - [`node`]: one node: the host logic over simulated runtime, storage
//!   and executor.
//! - [`net`]: links, partitions and transit; sending what a host asks.
//! - [`exec`]: executing committed blocks, checking every node agrees,
//!   and epoch changes.
//! - [`ledger`]: the genesis, block execution, and wallets.
//! - [`byzantine`]: what the Byzantine validator does to its messages.
//! - [`script`]: driving a cluster step by step (the fuzz target).
//!
//! Consensus messages are signed with the test kit's simulated scheme
//! ([`hutong_testkit::keys`]).

mod byzantine;
mod exec;
mod ledger;
mod net;
mod node;
mod script;

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::executor::block_on;
use hutong_consensus::core::Config;
use hutong_consensus::types::{BlockId, Epoch, Height, ValidatorId};
use hutong_consensus::validators::ValidatorSet;
use hutong_host::admit::Source;
use hutong_host::host::{HostConfig, HostError};
use hutong_host::util::lock;
use hutong_runtime::crypto::Hash;
use hutong_runtime::Keypair;
use hutong_wire::p2p::{ConsensusEnvelope, SyncRequest, SyncResponse, TxGossip};
use hutong_wire::Executed;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sha2::{Digest as _, Sha256};

pub use hutong_testkit::keys::{SimSigner, SimVerifier};
use node::{Disk, Node, Out, SimStore, World};
pub use script::Observed;

/// The faults a run injects, and its load.
#[derive(Debug, Clone)]
pub struct Faults {
    /// Probability that a message is lost.
    pub drop: f64,
    /// Probability that a message is delivered twice.
    pub duplicate: f64,
    /// One-way delay: `delay_ms` plus up to `jitter_ms` (so messages reorder).
    pub delay_ms: u64,
    pub jitter_ms: u64,
    /// Crash a random node (never more than f at once) this many times.
    pub crashes: usize,
    /// Split the cluster in two this many times.
    pub partitions: usize,
    /// Validator 0 is Byzantine in this way, if any.
    pub byzantine: Option<Byzantine>,
    /// End epoch 1 with the block at this height; epoch 2's validators
    /// are epoch 1's changed as `change` says.
    pub reconfigure_at: Option<u64>,
    /// How the validator set changes at `reconfigure_at`.
    pub change: EpochChange,
    /// Crash a node (not the first to switch) at the moment the first
    /// node switches epochs; it restarts a little later.
    pub crash_at_switch: bool,
    /// This validator is down for the whole run (it never starts).
    pub down_forever: Option<usize>,
    /// This validator crashes at this time (ms) and never comes back.
    pub down_from: Option<(usize, u64)>,
    /// Broken on purpose (the simulator's teeth): every replica accepts
    /// certificates of f + 1 instead of n − f.
    pub weak_quorum: bool,
    /// Broken on purpose: safety data never reaches the disk, so votes
    /// leave before what they depend on is durable.
    pub lost_safety_writes: bool,
    /// A wallet submits a transfer every this many milliseconds (0: no
    /// client load).
    pub tx_interval_ms: u64,
}

/// How an epoch change changes the validator set. A node that joins
/// (`AddNode`, `RotateKey`) runs from the start as a follower with a key
/// of its own: the operator's new node, or the same member's node
/// restarted with its new key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EpochChange {
    /// The last validator leaves and follows passively.
    RemoveLast,
    /// A new node becomes the last validator.
    AddNode,
    /// Validator `k`'s key is replaced: the new key's node takes index
    /// `k`, the old node follows passively.
    RotateKey(usize),
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
    /// Corrupts vote signatures, proposes payloads with a forged execution
    /// result, builds certificates with a repeated signer, and floods
    /// far-future timeouts.
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
            change: EpochChange::RemoveLast,
            crash_at_switch: false,
            down_forever: None,
            down_from: None,
            weak_quorum: false,
            lost_safety_writes: false,
            tx_interval_ms: 50,
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
            ..Faults::none()
        }
    }
}

/// The outcome of a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub seed: u64,
    /// Blocks executed by each honest node.
    pub committed: Vec<usize>,
    /// Blocks each honest node executed after the last fault ended.
    pub committed_after_faults: Vec<usize>,
    /// A digest of every commit in order, to compare two runs of a seed.
    pub trace: [u8; 32],
    pub messages: u64,
    /// Equivocation evidence honest nodes hold against the Byzantine
    /// validator.
    pub evidence: u64,
    /// The epoch each honest node ended in.
    pub epochs: Vec<u64>,
    /// Bulk syncs served.
    pub syncs: u64,
    /// Messages honest nodes dropped, by reason.
    pub dropped: BTreeMap<&'static str, u64>,
    /// Transfers executed successfully on the canonical chain.
    pub transfers: u64,
    /// Peers honest nodes penalised (all of them the Byzantine one).
    pub penalties: u64,
    /// Shared batches admitted on attestations, unchecked (summed over
    /// honest nodes).
    pub attested: u64,
}

/// A payload the Forger's proposals carry: its result claim is forged.
const FORGED: u8 = 0xee;

/// How long a sync request waits for its answer before the requester
/// hears "none".
const REQUEST_TIMEOUT_MS: u64 = 2_000;

// Almost every delivery is a message; boxing the envelope would allocate
// for each of them.
#[allow(clippy::large_enum_variant)]
enum Delivery {
    Message {
        to: usize,
        from: usize,
        envelope: ConsensusEnvelope,
    },
    Gossip {
        to: usize,
        from: usize,
        gossip: TxGossip,
    },
    Serve {
        to: usize,
        from: usize,
        request: SyncRequest,
        reply: hutong_host::runtime::SyncReply,
    },
    Reply {
        reply: hutong_host::runtime::SyncReply,
        response: Option<SyncResponse>,
    },
    Work {
        node: usize,
        incarnation: u64,
        work: Box<dyn FnOnce() + Send>,
    },
    Execute {
        node: usize,
        incarnation: u64,
    },
    Wake {
        node: usize,
        incarnation: u64,
    },
    Submit,
    Crash {
        node: usize,
    },
    Restart {
        node: usize,
    },
    Partition {
        group: Vec<bool>,
        until_ms: u64,
    },
    Heal,
}

pub struct Sim {
    seed: u64,
    rng: ChaCha8Rng,
    now_ms: Arc<AtomicU64>,
    seq: u64,
    queue: BinaryHeap<Reverse<(u64, u64)>>,
    pending: BTreeMap<u64, Delivery>,
    world: World,
    nodes: Vec<Node>,
    /// Each validator's consensus key.
    signers: Vec<SimSigner>,
    /// The Byzantine validator, if any.
    byzantine: Option<usize>,
    /// Validators in the first epoch.
    n: usize,
    /// Network addresses: the first epoch's validators, then the nodes
    /// that join later.
    addresses: usize,
    /// Whether the crash at the first epoch switch happened.
    switch_crashed: bool,
    faults: Faults,
    /// `Some(side)` while partitioned: nodes talk only within a side.
    partition: Option<Vec<bool>>,
    /// The executed block id and state root at each height, across nodes.
    canonical: Vec<(BlockId, Hash)>,
    trace: Sha256,
    messages: u64,
    faults_end_ms: u64,
    syncs: u64,
    penalties: u64,
    wallets: hutong_testkit::Wallets,
    /// Each wallet's transfer in flight, and when it was last submitted.
    in_flight: Vec<Option<(hutong_runtime::SignedTransaction, u64)>>,
    transfers: u64,
}

impl std::fmt::Debug for Sim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sim")
            .field("seed", &self.seed)
            .field("now_ms", &self.now_ms.load(Ordering::SeqCst))
            .field("nodes", &self.nodes.len())
            .finish_non_exhaustive()
    }
}

impl Sim {
    pub fn new(n: usize, seed: u64, faults: Faults) -> Sim {
        Sim::with_keys(n, seed, faults, false)
    }

    /// [`Sim::new`] with real ed25519 node keys signing consensus
    /// messages (what a run that measures cost needs).
    pub fn with_ed25519(n: usize, seed: u64, faults: Faults) -> Sim {
        Sim::with_keys(n, seed, faults, true)
    }

    fn with_keys(n: usize, seed: u64, faults: Faults, ed25519: bool) -> Sim {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let joining = faults.reconfigure_at.is_some()
            && matches!(
                faults.change,
                EpochChange::AddNode | EpochChange::RotateKey(_)
            );
        let addresses = n + usize::from(joining);
        let signers: Vec<SimSigner> = (0..addresses)
            .map(|_| {
                let secret: [u8; 32] = rng.gen();
                if ed25519 {
                    SimSigner::Ed25519(Keypair::from_secret_bytes(&secret))
                } else {
                    SimSigner::Hash(secret)
                }
            })
            .collect();
        let verifier = SimVerifier::of(&signers);
        let genesis = ledger::SimGenesis::new(seed);
        let genesis_id = hutong_wire::genesis_block_id(genesis.chain_id);
        let mut validators = ValidatorSet::new(
            Epoch(1),
            signers[..n].iter().map(|s| s.public()).collect(),
            genesis_id,
        )
        .expect("the simulation builds a valid set");
        if faults.weak_quorum {
            validators.weaken_quorum_for_simulation();
        }
        let now_ms = Arc::new(AtomicU64::new(0));
        let world = World {
            now_ms: now_ms.clone(),
            verifier,
            config: Config {
                base_timeout: Duration::from_millis(300),
                max_timeout: Duration::from_millis(5_000),
                ..Config::default()
            },
            host: HostConfig {
                block_txs_max: 500,
                // Blocks follow each other at network speed, as in the
                // consensus-only simulation: rounds matter here, not
                // batching.
                empty_block_interval: Duration::from_millis(20),
                min_block_interval: Duration::from_millis(10),
                execution_lead_blocks: 2,
                execution_wait_max: Duration::from_millis(200),
                clock_drift_max: Duration::from_secs(10),
            },
            attest_keys: (0..addresses)
                .map(|_| Keypair::from_secret_bytes(&rng.gen::<[u8; 32]>()))
                .collect(),
            attestation_wait: Some(Duration::from_millis(300)),
            lost_safety_writes: faults.lost_safety_writes,
            violations: Arc::default(),
            genesis: genesis.clone(),
        };
        // A twin is a second instance of validator 0, with the same key.
        let mut instances: Vec<(usize, SimSigner)> = signers.iter().cloned().enumerate().collect();
        if faults.byzantine == Some(Byzantine::Twins) {
            instances.push((0, signers[0].clone()));
        }
        let nodes = instances
            .into_iter()
            .map(|(v, signer)| {
                let disk = Arc::new(Mutex::new(Disk::new(
                    &genesis,
                    validators.clone(),
                    genesis_id,
                )));
                Node::boot(
                    &world,
                    v,
                    signer,
                    disk,
                    Arc::new(Mutex::new(vec![true; addresses])),
                    0,
                )
            })
            .collect();
        let wallets = hutong_testkit::Wallets::new(genesis.chain_id, genesis.customers.clone());
        let in_flight = vec![None; wallets.len()];
        Sim {
            seed,
            rng,
            now_ms,
            seq: 0,
            queue: BinaryHeap::new(),
            pending: BTreeMap::new(),
            world,
            nodes,
            byzantine: faults.byzantine.map(|_| 0),
            signers,
            n,
            addresses,
            switch_crashed: false,
            faults,
            partition: None,
            canonical: Vec::new(),
            trace: Sha256::new(),
            messages: 0,
            faults_end_ms: 0,
            syncs: 0,
            penalties: 0,
            wallets,
            in_flight,
            transfers: 0,
        }
    }

    fn now(&self) -> u64 {
        self.now_ms.load(Ordering::SeqCst)
    }

    fn schedule(&mut self, at_ms: u64, delivery: Delivery) {
        self.seq += 1;
        self.pending.insert(self.seq, delivery);
        self.queue.push(Reverse((at_ms, self.seq)));
    }

    /// Whether validator `v` is the Byzantine one.
    fn is_byzantine(&self, v: usize) -> bool {
        self.byzantine == Some(v)
    }

    /// Wall-clock time in the simulation (block timestamps).
    pub fn wall_ms(&self) -> u64 {
        self.world.genesis.time_ms + self.now()
    }

    fn honest(&self, node: usize) -> bool {
        !self.is_byzantine(self.nodes[node].validator)
    }

    fn violation(&self, what: String) -> String {
        format!(
            "seed {}: at {} ms: {what}",
            self.seed,
            self.now_ms.load(Ordering::SeqCst)
        )
    }

    fn host_result(&self, node: usize, r: Result<(), HostError>) -> Result<(), String> {
        r.map_err(|e| self.violation(format!("node {node}'s host stopped: {e}")))
    }

    fn check_violations(&self) -> Result<(), String> {
        let v = lock(&self.world.violations);
        match v.first() {
            Some(first) => Err(self.violation(first.clone())),
            None => Ok(()),
        }
    }

    /// Schedules a wake-up for `node` when its host or attestation
    /// protocol next needs one, unless one is scheduled before then.
    fn schedule_wake(&mut self, node: usize) {
        let n = &self.nodes[node];
        if !n.up {
            return;
        }
        let Some(at) = n.next_wake(n.attest_due) else {
            return;
        };
        let at = at.max(self.now());
        if n.wake_at.is_some_and(|w| w <= at && w >= self.now()) {
            return;
        }
        self.nodes[node].wake_at = Some(at);
        let incarnation = self.nodes[node].incarnation;
        self.schedule(at, Delivery::Wake { node, incarnation });
    }

    /// Starts a new incarnation of `node` from its disk.
    fn reboot(&mut self, node: usize) {
        let n = &self.nodes[node];
        let (v, signer, disk, reachable, incarnation) = (
            n.validator,
            n.signer.clone(),
            n.disk.clone(),
            n.reachable.clone(),
            n.incarnation + 1,
        );
        self.nodes[node] = Node::boot(&self.world, v, signer, disk, reachable, incarnation);
        let r = self.nodes[node].host.start();
        if let Err(e) = r {
            lock(&self.world.violations).push(format!("node {node} could not start: {e}"));
        }
    }

    /// The load: a wallet acts every `tx_interval_ms`.
    fn submit(&mut self) -> Result<(), String> {
        let interval = self.faults.tx_interval_ms;
        if interval == 0 {
            return Ok(());
        }
        let at = self.now() + interval;
        self.schedule(at, Delivery::Submit);
        self.submit_transfer()
    }

    /// A wallet acts: a new transfer, or the last one again, to a node.
    fn submit_transfer(&mut self) -> Result<(), String> {
        let w = self.rng.gen_range(0..self.wallets.len());
        let to = (w + 1 + self.rng.gen_range(0..self.wallets.len() - 1)) % self.wallets.len();
        // The ledger as the most advanced node sees it.
        let best = (0..self.nodes.len())
            .filter(|i| self.honest(*i))
            .max_by_key(|i| lock(&self.nodes[*i].disk).executed().height);
        let Some(best) = best else {
            return Ok(());
        };
        let seq = {
            let disk = lock(&self.nodes[best].disk);
            ledger::sequence(&disk.state, &self.wallets.address(w)).unwrap_or(0)
        };
        let now = self.now();
        // One transfer in flight per wallet: the same bytes again after a
        // while (a wallet's retry), a new one once the last committed.
        let tx = match &self.in_flight[w] {
            Some((tx, _)) if tx.tx.sequence.0 >= seq => {
                let (tx, at) = self.in_flight[w].clone().expect("matched above");
                if now.saturating_sub(at) < ledger::RESUBMIT_AFTER_MS {
                    return Ok(());
                }
                tx
            }
            _ => {
                self.wallets.set_next_sequence(w, seq);
                self.wallets.transfer(w, to, 1 + u128::from(seq % 7))
            }
        };
        self.in_flight[w] = Some((tx.clone(), now));
        let up: Vec<usize> = (0..self.nodes.len())
            .filter(|i| self.nodes[*i].up)
            .collect();
        if up.is_empty() {
            return Ok(());
        }
        let target = up[self.rng.gen_range(0..up.len())];
        let admission = self.nodes[target].admission.clone();
        let _ = block_on(admission.admit(vec![tx.encode()], Source::Client));
        self.flush(target)
    }

    /// Cuts node `node` off from everyone between `from_ms` and
    /// `until_ms` (a partition of one).
    pub fn isolate(&mut self, node: usize, from_ms: u64, until_ms: u64) {
        let group = (0..self.nodes.len()).map(|i| i == node).collect();
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
        let nodes = self.nodes.len();
        let f = (self.n - 1) / 3;
        for _ in 0..self.faults.crashes {
            let at = self.rng.gen_range(0..fault_window_ms);
            let node = self.rng.gen_range(0..nodes);
            let pause = self.rng.gen_range(100..3_000);
            self.schedule(at, Delivery::Crash { node });
            self.schedule(at + pause, Delivery::Restart { node });
            self.faults_end_ms = self.faults_end_ms.max(at + pause);
        }
        for _ in 0..self.faults.partitions {
            let at = self.rng.gen_range(0..fault_window_ms);
            let until_ms = at + self.rng.gen_range(200..4_000);
            let group = (0..nodes).map(|_| self.rng.gen_bool(0.5)).collect();
            self.schedule(at, Delivery::Partition { group, until_ms });
            self.faults_end_ms = self.faults_end_ms.max(until_ms);
        }
        if let Some(v) = self.faults.down_forever {
            self.nodes[v].up = false;
        }
        if let Some((node, at)) = self.faults.down_from {
            self.schedule(at, Delivery::Crash { node });
        }
        self.refresh_reachability();
        for i in 0..nodes {
            if self.nodes[i].up {
                let r = self.nodes[i].host.start();
                self.host_result(i, r)?;
                self.flush(i)?;
            }
        }
        self.schedule(0, Delivery::Submit);
        let mut committed_at_faults_end = vec![usize::MAX; nodes];
        while let Some(Reverse((at, id))) = self.queue.pop() {
            if at > duration_ms {
                break;
            }
            self.now_ms.store(at, Ordering::SeqCst);
            if at >= self.faults_end_ms {
                for (i, at) in committed_at_faults_end.iter_mut().enumerate() {
                    if *at == usize::MAX && self.nodes[i].up {
                        *at = self.height(i) as usize;
                    }
                }
            }
            let Some(delivery) = self.pending.remove(&id) else {
                continue;
            };
            self.step(delivery, f)?;
        }
        self.report(committed_at_faults_end)
    }

    fn height(&self, node: usize) -> u64 {
        lock(&self.nodes[node].disk).executed().height
    }

    fn step(&mut self, delivery: Delivery, f: usize) -> Result<(), String> {
        match delivery {
            Delivery::Crash { node } => {
                // Crashes and the Byzantine validator stay within f.
                let down = self.nodes.iter().filter(|r| !r.up).count();
                let byzantine = usize::from(self.faults.byzantine.is_some());
                if down + byzantine < f && self.honest(node) && self.nodes[node].up {
                    self.nodes[node].up = false;
                    // What was in memory is gone; the disk stays.
                    lock(&self.nodes[node].outbox).clear();
                    self.refresh_reachability();
                }
            }
            Delivery::Restart { node } => {
                if !self.nodes[node].up {
                    self.reboot(node);
                    self.refresh_reachability();
                    self.flush(node)?;
                }
            }
            Delivery::Partition { group, until_ms } => {
                self.partition = Some(group);
                self.refresh_reachability();
                self.schedule(until_ms, Delivery::Heal);
            }
            Delivery::Heal => {
                self.partition = None;
                self.refresh_reachability();
            }
            Delivery::Message { to, from, envelope } => {
                if self.nodes[to].up {
                    let r = self.nodes[to].host.on_message(from, envelope);
                    self.host_result(to, r)?;
                    self.flush(to)?;
                }
            }
            Delivery::Gossip { to, from, gossip } => {
                if self.nodes[to].up {
                    block_on(self.nodes[to].attest.on_gossip(from, gossip));
                    self.flush(to)?;
                }
            }
            Delivery::Serve {
                to,
                from,
                request,
                reply,
            } => {
                let response = if self.nodes[to].up {
                    if matches!(request, SyncRequest::Committed { .. }) {
                        self.syncs += 1;
                    }
                    Some(hutong_host::sync::serve(
                        &SimStore(self.nodes[to].disk.clone(), false),
                        &request,
                    ))
                } else {
                    None
                };
                match response.and_then(|r| self.transit(to, from).map(|d| (r, d))) {
                    Some((response, delay)) => {
                        let at = self.now() + delay;
                        self.schedule(
                            at,
                            Delivery::Reply {
                                reply,
                                response: Some(response),
                            },
                        );
                    }
                    None => {
                        let at = self.now() + REQUEST_TIMEOUT_MS;
                        self.schedule(
                            at,
                            Delivery::Reply {
                                reply,
                                response: None,
                            },
                        );
                    }
                }
            }
            Delivery::Reply { reply, response } => {
                // The reply lands in the outbox of the incarnation that
                // asked; a restarted node's new incarnation never sees it.
                reply(response);
                for i in 0..self.nodes.len() {
                    if self.nodes[i].up && !lock(&self.nodes[i].outbox).is_empty() {
                        self.flush(i)?;
                    }
                }
            }
            Delivery::Work {
                node,
                incarnation,
                work,
            } => {
                if self.nodes[node].up && self.nodes[node].incarnation == incarnation {
                    work();
                    self.flush(node)?;
                }
            }
            Delivery::Execute { node, incarnation } => {
                if self.nodes[node].up && self.nodes[node].incarnation == incarnation {
                    self.execute(node)?;
                }
            }
            Delivery::Wake { node, incarnation } => {
                let n = &mut self.nodes[node];
                if n.up && n.incarnation == incarnation {
                    n.wake_at = None;
                    let r = n.host.on_wake();
                    self.host_result(node, r)?;
                    self.flush(node)?;
                }
            }
            Delivery::Submit => self.submit()?,
        }
        Ok(())
    }

    fn report(&mut self, committed_at_faults_end: Vec<usize>) -> Result<Report, String> {
        if std::env::var("HUTONG_SIM_DEBUG").is_ok() {
            for (i, r) in self.nodes.iter().enumerate() {
                eprintln!(
                    "node {i}: up {} height {} {:?} last_voted {} dropped {:?} status {:?}",
                    r.up,
                    lock(&r.disk).executed().height,
                    r.host.core(),
                    r.host.core().safety().last_voted_round,
                    r.host.core().dropped(),
                    lock(&r.status)
                );
                eprintln!(
                    "node {i}: epoch end {:?}, tail in progress {:?}, exec queue {:?}",
                    lock(&r.disk).epoch_end.as_ref().map(|e| (
                        e.height,
                        e.tail.len(),
                        e.proof.data.height
                    )),
                    r.tail.as_ref().map(|e| (
                        e.height,
                        e.tail.iter().map(|b| b.block.height.0).collect::<Vec<_>>()
                    )),
                    lock(&r.exec)
                        .iter()
                        .map(|j| (j.block.epoch.0, j.block.height.0, j.proof.is_some()))
                        .collect::<Vec<_>>(),
                );
            }
            eprintln!(
                "faults end at {} ms; stopped at {} ms; partition {:?}; queue {}",
                self.faults_end_ms,
                self.now(),
                self.partition,
                self.queue.len()
            );
        }
        // Reports cover the honest nodes only.
        let honest: Vec<usize> = (0..self.nodes.len()).filter(|i| self.honest(*i)).collect();
        let committed: Vec<usize> = honest.iter().map(|i| self.height(*i) as usize).collect();
        let committed_after_faults = honest
            .iter()
            .map(|i| {
                let at = committed_at_faults_end[*i];
                if at == usize::MAX {
                    0
                } else {
                    (self.height(*i) as usize).saturating_sub(at)
                }
            })
            .collect();
        let mut dropped = BTreeMap::new();
        let mut evidence = 0;
        let mut attested = 0;
        for i in &honest {
            for (reason, count) in self.nodes[*i].host.core().dropped() {
                *dropped.entry(*reason).or_insert(0) += count;
            }
            let status = lock(&self.nodes[*i].status).clone();
            for (accused, count) in &status.equivocators {
                if self.is_byzantine(usize::from(*accused)) {
                    evidence += count;
                } else {
                    return Err(self.violation(format!(
                        "node {i} holds equivocation evidence against honest validator {accused}"
                    )));
                }
            }
            attested += self.nodes[*i]
                .admission
                .counters
                .sigchecks_attested
                .load(Ordering::Relaxed);
        }
        Ok(Report {
            seed: self.seed,
            committed,
            committed_after_faults,
            trace: self.trace.clone().finalize().into(),
            messages: self.messages,
            evidence,
            epochs: honest
                .iter()
                .map(|i| self.nodes[*i].host.core().epoch().0)
                .collect(),
            syncs: self.syncs,
            dropped,
            transfers: self.transfers,
            penalties: self.penalties,
            attested,
        })
    }
}

/// The seed to use: `HUTONG_SEED` if set, else `default`.
pub fn seed_from_env(default: u64) -> u64 {
    hutong_testkit::seed::from_env().unwrap_or(default)
}

//! One simulated node: the real host logic (`hutong_host`: the consensus
//! host, admission, attestations, the mempool) over simulated runtime,
//! storage and execution. Everything the host does to the world lands in
//! the node's outbox, which the simulator turns into deliveries.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hutong_consensus::core::{Committed, Config, Consensus};
use hutong_consensus::messages::Message;
use hutong_consensus::safety::SafetyData;
use hutong_consensus::types::{BlockId, Height, QuorumCert, Round, ValidatorId};
use hutong_consensus::validators::ValidatorSet;
use hutong_host::admit::{Admission, Ledger, Outlets};
use hutong_host::attest::{Attestations, Members};
use hutong_host::host::{
    Completion, Context, ExecJob, Executor, Handles, Host, HostConfig, HostStore, Refused, Restored,
};
use hutong_host::mempool::{Mempool, MempoolConfig, Tip};
use hutong_host::runtime::{Clock, Instant, Network, Spawner, SyncReply};
use hutong_host::sigverify::Inline;
use hutong_host::status::ConsensusStatus;
use hutong_host::sync::ChainRead;
use hutong_host::util::lock;
use hutong_runtime::state::{Account, StateKey, StateValue};
use hutong_runtime::store::StateStore as _;
use hutong_runtime::{Address, AssetCode, Keypair, MemStore, PublicKey};
use hutong_wire::p2p::{ConsensusEnvelope, SyncRequest, TxGossip};
use hutong_wire::{EpochEnd, Executed, StoredBlock};

use super::ledger::SimGenesis;
use super::{SimSigner, SimVerifier};

/// What a node's host logic asked of the world, in order.
pub(super) enum Out {
    Send {
        to: usize,
        envelope: ConsensusEnvelope,
    },
    Broadcast(ConsensusEnvelope),
    Gossip {
        to: usize,
        gossip: TxGossip,
    },
    Request {
        to: usize,
        request: SyncRequest,
        reply: SyncReply,
    },
    Penalise {
        peer: usize,
        why: String,
    },
    Work(Box<dyn FnOnce() + Send>),
    Share(Vec<Vec<u8>>),
    PoolGrew,
    Completion(Completion),
}

impl std::fmt::Debug for Out {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Out::Send { to, .. } => write!(f, "Send({to})"),
            Out::Broadcast(_) => write!(f, "Broadcast"),
            Out::Gossip { to, .. } => write!(f, "Gossip({to})"),
            Out::Request { to, request, .. } => write!(f, "Request({to}, {request:?})"),
            Out::Penalise { peer, why } => write!(f, "Penalise({peer}: {why})"),
            Out::Work(_) => write!(f, "Work"),
            Out::Share(raws) => write!(f, "Share({})", raws.len()),
            Out::PoolGrew => write!(f, "PoolGrew"),
            Out::Completion(c) => write!(f, "Completion({c:?})"),
        }
    }
}

/// A node's outbox: one per incarnation, so that what a crashed
/// incarnation started cannot reach the next one.
pub(super) type Outbox = Arc<Mutex<Vec<Out>>>;

/// What a node persisted: all a restart may use.
#[derive(Debug, Clone)]
pub(super) struct Disk {
    pub safety: SafetyData,
    /// The current epoch's validator set.
    pub validators: ValidatorSet,
    /// Its validators' network addresses, by validator index.
    pub members: Vec<usize>,
    /// How epoch 1 ended, once the certificate that commits its last
    /// block came (see [`hutong_wire::EpochEnd`]): served to nodes that
    /// sync across the boundary.
    pub epoch_end: Option<EpochEnd>,
    /// The block the current epoch started from, after an epoch change.
    pub epoch_genesis: Option<(BlockId, u64)>,
    /// Blocks consensus accepted (committed or not), by id.
    pub blocks: BTreeMap<BlockId, StoredBlock>,
    /// Executed blocks by height (index `h - 1`).
    pub heights: Vec<BlockId>,
    /// The certificate committing the last block of each committed run,
    /// by that block's height.
    pub certs: BTreeMap<u64, QuorumCert>,
    /// What executing each height gave (index = height; 0 is genesis).
    pub results: Vec<Executed>,
    pub state: MemStore,
}

impl Disk {
    pub fn new(genesis: &SimGenesis, validators: ValidatorSet, genesis_id: BlockId) -> Disk {
        Disk {
            safety: SafetyData::new(validators.epoch()),
            members: (0..validators.len()).collect(),
            validators,
            epoch_end: None,
            epoch_genesis: None,
            blocks: BTreeMap::new(),
            heights: Vec::new(),
            certs: BTreeMap::new(),
            results: vec![Executed {
                height: 0,
                block_id: genesis_id,
                round: 0,
                timestamp_ms: genesis.time_ms,
                state_root: genesis.state_root,
                receipts_root: hutong_runtime::merkle::root(&[]),
            }],
            state: genesis.state.clone(),
        }
    }

    pub fn executed(&self) -> Executed {
        *self.results.last().expect("genesis is always there")
    }

    /// Where consensus restarts from: the last executed block, or the
    /// current epoch's genesis when nothing of it is executed yet.
    pub fn committed(&self) -> Committed {
        let last = self.executed();
        match self.epoch_genesis {
            Some((id, height)) if height == last.height => Committed {
                id,
                round: Round(0),
                height: Height(height),
            },
            _ => Committed {
                id: last.block_id,
                round: Round(last.round),
                height: Height(last.height),
            },
        }
    }
}

/// A node's disk, as its host and its peers' sync requests see it.
#[derive(Debug, Clone)]
pub(super) struct SimStore(pub Arc<Mutex<Disk>>, pub bool);

impl HostStore for SimStore {
    type Error = String;

    fn put_safety(&self, safety: &SafetyData) -> Result<(), String> {
        let mut disk = lock(&self.0);
        let old = &disk.safety;
        if safety.epoch == old.epoch
            && (safety.last_voted_round < old.last_voted_round
                || safety.highest_qc_round < old.highest_qc_round
                || safety.last_proposed_round < old.last_proposed_round)
        {
            return Err(format!(
                "safety data going back within an epoch: {old:?} -> {safety:?}"
            ));
        }
        // The second field breaks the store on purpose: the write is lost.
        if !self.1 {
            disk.safety = safety.clone();
        }
        Ok(())
    }

    fn put_block(&self, block: &StoredBlock) -> Result<(), String> {
        lock(&self.0).blocks.insert(block.block.id(), block.clone());
        Ok(())
    }

    fn block(&self, id: &BlockId) -> Result<Option<StoredBlock>, String> {
        Ok(lock(&self.0).blocks.get(id).cloned())
    }

    fn result_at(&self, height: u64) -> Result<Option<Executed>, String> {
        Ok(lock(&self.0).results.get(height as usize).copied())
    }

    fn account_sequence(&self, address: &Address) -> Option<u64> {
        super::ledger::sequence(&lock(&self.0).state, address)
    }
}

impl ChainRead for SimStore {
    type Error = String;

    fn block(&self, id: &BlockId) -> Result<Option<StoredBlock>, String> {
        Ok(lock(&self.0).blocks.get(id).cloned())
    }

    fn block_at(&self, height: u64) -> Result<Option<StoredBlock>, String> {
        let disk = lock(&self.0);
        let Some(id) = height
            .checked_sub(1)
            .and_then(|i| disk.heights.get(i as usize))
        else {
            return Ok(None);
        };
        Ok(disk.blocks.get(id).cloned())
    }

    fn cert_from(&self, height: u64) -> Result<Option<(u64, QuorumCert)>, String> {
        Ok(lock(&self.0)
            .certs
            .range(height..)
            .next()
            .map(|(h, qc)| (*h, qc.clone())))
    }

    fn epoch_end_from(&self, height: u64) -> Result<Option<EpochEnd>, String> {
        Ok(lock(&self.0)
            .epoch_end
            .clone()
            .filter(|e| e.height >= height))
    }
}

/// The simulated world as one node's host logic sees it.
#[derive(Debug, Clone)]
pub(super) struct SimRuntime {
    pub me: usize,
    pub now_ms: Arc<AtomicU64>,
    pub wall_origin_ms: u64,
    pub outbox: Outbox,
    /// Who this node can reach now, by validator (the simulator keeps it
    /// up to date with crashes and partitions).
    pub reachable: Arc<Mutex<Vec<bool>>>,
    /// The node's disk, for the persist-before-send check.
    pub disk: Arc<Mutex<Disk>>,
    pub violations: Arc<Mutex<Vec<String>>>,
}

impl SimRuntime {
    fn push(&self, out: Out) {
        lock(&self.outbox).push(out);
    }

    /// Safety data must be durable before the message it guards leaves:
    /// a vote or timeout for round r after a persisted last voted round
    /// of at least r, a proposal after a persisted last proposed round of
    /// at least its round.
    fn check_persisted(&self, message: &Message) {
        let disk = lock(&self.disk);
        let s = &disk.safety;
        let broken = match message {
            Message::Vote(v) => {
                (v.voter.0 as usize == self.me)
                    && (s.last_voted_round < v.data.round || s.last_vote != Some(v.data))
            }
            Message::Timeout(t) => {
                t.voter.0 as usize == self.me && s.last_voted_round < t.data.round
            }
            Message::Proposal(p) => {
                p.block.proposer.0 as usize == self.me && s.last_proposed_round < p.block.round
            }
            Message::TimeoutCert(_) => false,
        };
        if broken && s.epoch == disk.validators.epoch() {
            lock(&self.violations).push(format!(
                "validator {} sent {message:?} before persisting the safety data it depends on ({s:?})",
                self.me
            ));
        }
    }
}

impl Clock for SimRuntime {
    fn now(&self) -> Instant {
        Instant(Duration::from_millis(self.now_ms.load(Ordering::SeqCst)))
    }

    fn wall_ms(&self) -> u64 {
        self.wall_origin_ms + self.now_ms.load(Ordering::SeqCst)
    }
}

impl Spawner for SimRuntime {
    fn spawn_blocking(&self, work: Box<dyn FnOnce() + Send>) {
        self.push(Out::Work(work));
    }
}

impl Network for SimRuntime {
    type Peer = usize;

    fn send(&self, to: usize, envelope: ConsensusEnvelope) {
        self.check_persisted(&envelope.message);
        self.push(Out::Send { to, envelope });
    }

    fn broadcast(&self, envelope: ConsensusEnvelope) {
        self.check_persisted(&envelope.message);
        self.push(Out::Broadcast(envelope));
    }

    fn gossip(&self, to: usize, gossip: TxGossip) {
        self.push(Out::Gossip { to, gossip });
    }

    fn is_connected(&self, peer: usize) -> bool {
        lock(&self.reachable).get(peer).copied().unwrap_or(false)
    }

    fn request(&self, to: usize, request: SyncRequest, reply: SyncReply) {
        self.push(Out::Request { to, request, reply });
    }

    fn penalise(&self, peer: usize, why: &str) {
        self.push(Out::Penalise {
            peer,
            why: why.to_string(),
        });
    }
}

/// Most committed blocks waiting for the simulated executor (the node's
/// executor queue holds as many).
const EXEC_QUEUE_MAX: usize = 256;

/// The simulated executor's queue: the simulator executes its jobs later,
/// one at a time.
#[derive(Debug, Clone)]
pub(super) struct SimExec {
    pub queue: Arc<Mutex<VecDeque<ExecJob>>>,
    pub violations: Arc<Mutex<Vec<String>>>,
}

impl Executor for SimExec {
    fn try_execute(&self, job: ExecJob) -> Result<(), Refused> {
        if let Some(proof) = &job.proof {
            if proof.data.commits() != Some(job.block.id()) {
                lock(&self.violations).push(format!(
                    "a block at height {} was committed without a certificate that commits it",
                    job.block.height
                ));
            }
        }
        let mut queue = lock(&self.queue);
        if queue.len() >= EXEC_QUEUE_MAX {
            return Err(Refused::Full(job));
        }
        queue.push_back(job);
        Ok(())
    }
}

#[derive(Debug)]
pub(super) struct SimContext;

impl Context for SimContext {
    type Runtime = SimRuntime;
    type Store = SimStore;
    type Executor = SimExec;
    type Signer = SimSigner;
    type Verifier = SimVerifier;
}

/// The committed ledger as admission reads it.
#[derive(Debug)]
struct SimLedger(Arc<Mutex<Disk>>);

impl Ledger for SimLedger {
    fn account(&self, address: &Address) -> Option<Account> {
        match lock(&self.0).state.get(&StateKey::Account(*address)) {
            Ok(Some(StateValue::Account(a))) => Some(a),
            _ => None,
        }
    }

    fn asset_exists(&self, asset: &AssetCode) -> bool {
        !matches!(lock(&self.0).state.get(&StateKey::Asset(*asset)), Ok(None))
    }

    fn tip(&self) -> Tip {
        let e = lock(&self.0).executed();
        Tip {
            height: e.height,
            timestamp_ms: e.timestamp_ms,
        }
    }
}

#[derive(Debug)]
struct SimOutlets(Outbox);

impl Outlets for SimOutlets {
    fn share(&self, raws: Vec<Vec<u8>>) {
        lock(&self.0).push(Out::Share(raws));
    }

    fn pool_grew(&self) {
        lock(&self.0).push(Out::PoolGrew);
    }
}

/// What every node shares and every incarnation is built from.
#[derive(Debug, Clone)]
pub(super) struct World {
    pub genesis: SimGenesis,
    pub now_ms: Arc<AtomicU64>,
    pub verifier: SimVerifier,
    pub config: Config,
    pub host: HostConfig,
    /// Validators' keys for attestations (ed25519: attestations are
    /// signed and checked as on the node).
    pub attest_keys: Vec<Keypair>,
    pub attestation_wait: Option<Duration>,
    pub violations: Arc<Mutex<Vec<String>>>,
    /// Broken on purpose: safety writes are lost.
    pub lost_safety_writes: bool,
}

/// One node instance (twins are two instances of one validator).
pub(super) struct Node {
    pub validator: usize,
    pub signer: SimSigner,
    pub up: bool,
    /// Bumped at every restart: deliveries meant for an earlier
    /// incarnation are dropped.
    pub incarnation: u64,
    pub disk: Arc<Mutex<Disk>>,
    pub reachable: Arc<Mutex<Vec<bool>>>,
    pub outbox: Outbox,
    pub host: Host<SimContext>,
    pub attest: Attestations<SimRuntime>,
    pub admission: Admission,
    pub exec: Arc<Mutex<VecDeque<ExecJob>>>,
    /// An `Execute` delivery is scheduled.
    pub executing: bool,
    /// When the node's next wake-up is scheduled.
    pub wake_at: Option<u64>,
    /// When its attestation protocol is next due.
    pub attest_due: Option<Instant>,
    /// The end of epoch 1 while the certificate that commits its last
    /// block has not come: the blocks after it (memory only, as on the
    /// node).
    pub tail: Option<EpochEnd>,
    pub status: Arc<Mutex<ConsensusStatus>>,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("validator", &self.validator)
            .field("up", &self.up)
            .field("incarnation", &self.incarnation)
            .field("core", self.host.core())
            .finish_non_exhaustive()
    }
}

impl Node {
    /// Boots an incarnation from what `disk` holds.
    pub fn boot(
        world: &World,
        validator: usize,
        signer: SimSigner,
        disk: Arc<Mutex<Disk>>,
        reachable: Arc<Mutex<Vec<bool>>>,
        incarnation: u64,
    ) -> Node {
        let outbox: Outbox = Arc::default();
        let rt = SimRuntime {
            me: validator,
            now_ms: world.now_ms.clone(),
            wall_origin_ms: world.genesis.time_ms,
            outbox: outbox.clone(),
            reachable: reachable.clone(),
            disk: disk.clone(),
            violations: world.violations.clone(),
        };
        let (validators, members, safety, committed, executed, blocks) = {
            let d = lock(&disk);
            let executed = d.executed();
            let blocks: Vec<StoredBlock> = d
                .blocks
                .values()
                .filter(|b| b.block.height.0 > executed.height)
                .cloned()
                .collect();
            (
                d.validators.clone(),
                d.members.clone(),
                d.safety.clone(),
                d.committed(),
                executed,
                blocks,
            )
        };
        let me = members
            .iter()
            .position(|a| *a == validator)
            .map(|i| ValidatorId(i as u16));
        let core = Consensus::restore(
            me.unwrap_or(ValidatorId(u16::MAX)),
            validators,
            signer.clone(),
            world.verifier.clone(),
            world.config.clone(),
            safety,
            blocks.iter().map(|s| s.block.clone()).collect(),
            committed,
        );
        let pool = Arc::new(Mutex::new(Mempool::new(MempoolConfig::default())));
        let status: Arc<Mutex<ConsensusStatus>> = Arc::default();
        let counters = Arc::default();
        let exec = Arc::new(Mutex::new(VecDeque::new()));
        let inbox_box = outbox.clone();
        let host = Host::new(
            Restored {
                core,
                blocks,
                executed,
            },
            me,
            members,
            rt.clone(),
            SimStore(disk.clone(), world.lost_safety_writes),
            SimExec {
                queue: exec.clone(),
                violations: world.violations.clone(),
            },
            Arc::new(move |c| lock(&inbox_box).push(Out::Completion(c))),
            Handles {
                chain_id: world.genesis.chain_id,
                pool: pool.clone(),
                status: status.clone(),
                counters: Arc::clone(&counters),
                recoveries: None,
            },
            world.host.clone(),
        );
        let admission = Admission {
            chain_id: world.genesis.chain_id,
            pool,
            verifier: Arc::new(Inline),
            ledger: Arc::new(SimLedger(disk.clone())),
            outlets: Arc::new(SimOutlets(outbox.clone())),
            counters,
            rejections: Arc::default(),
        };
        let keys: Vec<PublicKey> = world.attest_keys.iter().map(|k| k.public()).collect();
        let attest = Attestations::new(
            rt,
            admission.clone(),
            Members {
                validators: (0..keys.len()).collect(),
                keys,
                me: Some(validator as u16),
            },
            world.attest_keys[validator].clone(),
            world.attestation_wait,
        );
        Node {
            validator,
            signer,
            up: true,
            incarnation,
            disk,
            reachable,
            outbox,
            host,
            attest,
            admission,
            exec,
            executing: false,
            wake_at: None,
            attest_due: None,
            tail: None,
            status,
        }
    }

    /// The next moment the host or the attestation protocol needs waking.
    pub fn next_wake(&self, attest_due: Option<Instant>) -> Option<u64> {
        let ms = |i: Instant| i.0.as_millis() as u64;
        match (self.host.next_wake().map(ms), attest_due.map(ms)) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

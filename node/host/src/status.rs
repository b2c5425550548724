//! What the host logic reports: the consensus core's view, counters for
//! the metrics endpoint, and the reasons recent transactions were turned
//! away (for wallets asking about them).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use hutong_runtime::crypto::Hash;

pub use hutong_wire::rpc::ConsensusStatus;

use crate::mempool::Rejection;

/// Counters for the metrics endpoint.
#[derive(Debug, Default)]
pub struct Counters {
    pub committed_blocks: AtomicU64,
    pub committed_txs: AtomicU64,
    pub submitted_txs: AtomicU64,
    pub rocksdb_write_micros_total: AtomicU64,
    pub rocksdb_writes: AtomicU64,
    pub rpc_connections_refused: AtomicU64,
    /// Transactions whose signatures this node checked, by where: on
    /// admission, in a proposal (not in the pool), at execution (no
    /// verdicts kept from the proposal).
    pub sigchecks_admission: AtomicU64,
    pub sigchecks_proposal: AtomicU64,
    pub sigchecks_execution: AtomicU64,
    /// Transactions admitted on f + 1 validators' attestations, unchecked
    /// here (see [`crate::attest`]).
    pub sigchecks_attested: AtomicU64,
    /// Shared batches checked here because their attestations did not
    /// come in time.
    pub attestation_fallbacks: AtomicU64,
    pub attestations_sent: AtomicU64,
    /// Attested batches found holding a bad signature.
    pub attestation_faults: AtomicU64,
    pub rejected: Mutex<BTreeMap<&'static str, u64>>,
    /// CPU time (thread time, nanoseconds) by stage of a block's path,
    /// charged by the node around each stage ([`CpuStage`]).
    pub cpu_nanos: [AtomicU64; CpuStage::ALL.len()],
    /// How the node measures work the host runs on threads of its own
    /// (parallel signature checks); unset, nothing is measured.
    pub meter: OnceLock<Meter>,
}

/// Runs a piece of work on the calling thread and answers the CPU time
/// it took, in nanoseconds. The node gives one (it reads the thread's
/// clock); the host never reads a clock itself.
#[derive(Clone)]
pub struct Meter(Arc<Measure>);

/// Runs the work it is given and answers its CPU nanoseconds.
type Measure = dyn Fn(&mut dyn FnMut()) -> u64 + Send + Sync;

impl Meter {
    pub fn new(measure: impl Fn(&mut dyn FnMut()) -> u64 + Send + Sync + 'static) -> Meter {
        Meter(Arc::new(measure))
    }
}

impl std::fmt::Debug for Meter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Meter")
    }
}

/// A stage whose CPU time the node measures on the threads that run it:
/// each of a block's path, and each kind of async work (charged per poll
/// of its tasks). Time charged to a stage nested in another (a proposal's
/// signature checks inside consensus, admission inside an RPC call) is
/// the inner stage's only. The rest of a node's CPU (the async runtime's
/// own scheduling, timers, RocksDB's background threads, which the
/// metrics endpoint reports apart) is nobody's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CpuStage {
    /// Signature checks of blocks that came without the host's verdicts
    /// (a regulator's and synced blocks), before and at execution.
    BlockSignatures,
    /// The runtime applying a block's transactions.
    Execution,
    /// The state commitment: the tree's update and root.
    StateCommitment,
    /// A regulator's indexes and risk detectors (beside the commitment).
    AuditIndex,
    /// The block's synced write (the writer thread).
    Storage,
    /// Admission's and proposals' signature checks (every thread of
    /// them).
    SignatureChecks,
    /// Admission's own work, without its signature checks: decoding,
    /// stateless checks, account reads, the pool (clients' calls and
    /// peers' shared batches), and the attestations of shared batches.
    Admission,
    /// The JSON-RPC server without admission: HTTP, JSON, queries.
    Rpc,
    /// The consensus task: votes, proposals and their checks, block
    /// building from the pool, the pool's cleanup after commits.
    Consensus,
    /// The peer-to-peer network: transport, encryption, multiplexing,
    /// message encoding, block sync served to peers.
    Network,
}

impl CpuStage {
    pub const ALL: [CpuStage; 10] = [
        CpuStage::BlockSignatures,
        CpuStage::Execution,
        CpuStage::StateCommitment,
        CpuStage::AuditIndex,
        CpuStage::Storage,
        CpuStage::SignatureChecks,
        CpuStage::Admission,
        CpuStage::Rpc,
        CpuStage::Consensus,
        CpuStage::Network,
    ];

    /// Its label in metrics and in `hutong bench`.
    pub fn name(self) -> &'static str {
        match self {
            CpuStage::BlockSignatures => "block_signatures",
            CpuStage::Execution => "execution",
            CpuStage::StateCommitment => "state_commitment",
            CpuStage::AuditIndex => "audit_index",
            CpuStage::Storage => "storage",
            CpuStage::SignatureChecks => "signature_checks",
            CpuStage::Admission => "admission",
            CpuStage::Rpc => "rpc",
            CpuStage::Consensus => "consensus",
            CpuStage::Network => "network",
        }
    }
}

impl Counters {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// Charges `nanos` of CPU to `stage`.
    pub fn charge(&self, stage: CpuStage, nanos: u64) {
        Counters::add(&self.cpu_nanos[stage as usize], nanos);
    }

    /// Runs `work` on the calling thread, charging its CPU time to
    /// `stage` when the node gave a [`Meter`].
    pub fn metered(&self, stage: CpuStage, work: &mut dyn FnMut()) {
        match self.meter.get() {
            Some(meter) => {
                let nanos = (meter.0)(work);
                self.charge(stage, nanos);
            }
            None => work(),
        }
    }

    pub fn reject(&self, code: &'static str) {
        if let Ok(mut map) = self.rejected.lock() {
            *map.entry(code).or_default() += 1;
        }
    }
}

/// Recently rejected transactions, so that a wallet asking for a status
/// learns the code. Bounded: the oldest are forgotten.
#[derive(Debug, Default)]
pub struct RecentRejections {
    order: VecDeque<Hash>,
    codes: HashMap<Hash, Ended>,
}

/// How a transaction ended without executing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ended {
    /// Turned away on admission, or (`sequence_used`) ruled out later.
    Rejected(Rejection),
    /// Admitted, then let go before any block took it (it expired).
    Dropped(Rejection),
}

const RECENT_REJECTIONS_MAX: usize = 100_000;

impl RecentRejections {
    pub fn insert(&mut self, hash: Hash, why: Rejection) {
        self.record(hash, Ended::Rejected(why));
    }

    /// A pending transaction let go without executing.
    pub fn insert_dropped(&mut self, hash: Hash, why: Rejection) {
        self.record(hash, Ended::Dropped(why));
    }

    fn record(&mut self, hash: Hash, ended: Ended) {
        if self.codes.insert(hash, ended).is_none() {
            self.order.push_back(hash);
        }
        while self.order.len() > RECENT_REJECTIONS_MAX {
            if let Some(old) = self.order.pop_front() {
                self.codes.remove(&old);
            }
        }
    }

    pub fn get(&self, hash: &Hash) -> Option<&Ended> {
        self.codes.get(hash)
    }
}

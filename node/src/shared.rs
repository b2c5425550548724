//! State shared between the node's tasks (consensus host, executor,
//! network, RPC, metrics): the mempool, what has been executed, status
//! counters, and the channels that announce commits.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use hutong_genesis::Genesis;
use hutong_runtime::crypto::Hash;
use hutong_runtime::ChainId;
use serde::Serialize;
use tokio::sync::{broadcast, watch, Notify};

use crate::mempool::{Mempool, Rejection};
use crate::network::PeerStatus;
use crate::store::{Db, Executed};

/// What a node does in the consortium.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Validator,
    Observer,
    Regulator,
}

/// A block as announced to subscribers after it is executed and durable.
#[derive(Debug, Clone, Serialize)]
pub struct CommittedBlock {
    pub height: u64,
    pub block_id: String,
    pub round: u64,
    pub timestamp_ms: u64,
    pub txs: usize,
    pub state_root: String,
    pub receipts_root: String,
    #[serde(skip)]
    pub tx_hashes: Vec<Hash>,
}

/// The consensus core's view, for status queries and metrics.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ConsensusStatus {
    pub epoch: u64,
    pub round: u64,
    pub committed_height: u64,
    pub timeouts: u64,
    pub proposals: u64,
    pub equivocations: u64,
    /// Proposals let pass because execution was too far behind.
    pub deferred_proposals: u64,
    /// Committed blocks (and their transactions) not executed yet.
    pub backlog_blocks: u64,
    pub backlog_txs: u64,
    pub dropped: BTreeMap<String, u64>,
}

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
}

impl Counters {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
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
    codes: HashMap<Hash, Rejection>,
}

const RECENT_REJECTIONS_MAX: usize = 100_000;

impl RecentRejections {
    pub fn insert(&mut self, hash: Hash, why: Rejection) {
        if self.codes.insert(hash, why).is_none() {
            self.order.push_back(hash);
        }
        while self.order.len() > RECENT_REJECTIONS_MAX {
            if let Some(old) = self.order.pop_front() {
                self.codes.remove(&old);
            }
        }
    }

    pub fn get(&self, hash: &Hash) -> Option<&Rejection> {
        self.codes.get(hash)
    }
}

#[derive(Debug)]
pub struct Shared {
    pub genesis: Genesis,
    pub chain_id: ChainId,
    pub role: Role,
    pub db: Db,
    pub mempool: Mutex<Mempool>,
    /// Woken when the mempool gains transactions (a leader waiting to
    /// propose a non-empty block).
    pub mempool_grew: Notify,
    pub executed: watch::Sender<Executed>,
    pub commits: broadcast::Sender<Arc<CommittedBlock>>,
    pub consensus: Mutex<ConsensusStatus>,
    pub peers: Arc<Mutex<PeerStatus>>,
    pub counters: Counters,
    pub rejections: Mutex<RecentRejections>,
    /// Set when this node's execution disagrees with a certified result:
    /// the node stops executing and says why on every status query.
    pub halted: Mutex<Option<String>>,
    pub validators: usize,
    /// Commands to the network task.
    pub net: tokio::sync::mpsc::Sender<crate::network::NetCommand>,
    /// Verifies admitted transactions' signatures, coalescing calls.
    pub verifier: crate::sigverify::AdmissionVerifier,
    /// The audit indexes, alerts and API: a regulator node only.
    pub audit: Option<Arc<crate::audit::rpc::AuditNode>>,
}

/// Locks a mutex, recovering the data if a task panicked while holding
/// it (the panic itself is reported where it happened).
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Shared {
    pub fn executed(&self) -> Executed {
        *self.executed.borrow()
    }

    pub fn halted(&self) -> Option<String> {
        lock(&self.halted).clone()
    }
}

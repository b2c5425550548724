//! The regulator's audit logic that needs no database: what a third
//! party's verifier, a fuzzer or an analytics engine builds without the
//! node's storage engine. The node (`hutong-node`, its `audit` module)
//! owns the indexes on disk and the audit API; this crate owns what they
//! hold and what they answer with.
//!
//! - [`api`]: the audit node's JSON-RPC queries and answers.
//! - [`edge`]: one leg of one committed transaction, and the legs of a
//!   block.
//! - [`alerts`]: the risk-alert detectors (pure; replayed on restart).
//! - [`auth`]: signed audit requests, the replay window, and the
//!   hash-chained log of every audit query.
//! - [`proof`]: proofs of transactions and balances against certified
//!   blocks, and their offline verification from the genesis alone.
//! - [`names`]: institution names and asset decimals from the genesis.
//! - [`render`]: CSV and Graphviz renderings of audit answers.
//! - [`score`]: the per-account baseline behind each alert's score.
//! - [`scenario`]: a labelled synthetic network (an honest baseline with
//!   laundering patterns planted in it) to measure the detectors on.
//! - [`eval`]: runs the detectors over a scenario and scores them: recall
//!   per pattern, precision per alert kind, false alerts per account-day.

#![forbid(unsafe_code)]

pub mod alerts;
pub mod api;
pub mod auth;
pub mod edge;
pub mod eval;
pub mod names;
pub mod proof;
pub mod render;
pub mod scenario;
pub mod score;

pub use alerts::{Alert, AlertConfig, AlertKind, AllowEntry, Detector, Limits};
pub use edge::{edge_key, edges_of_block, AuditWrite, Edge, EdgeKind, EDGE_KEY_BYTES};
pub use names::Names;

/// Hash maps and sets with a fast, non-cryptographic hasher, for the
/// detectors' bookkeeping (keys are addresses already hashed; nothing here
/// iterates them into anything that must be deterministic across nodes).
pub(crate) type FastMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;
pub(crate) type FastSet<K> = std::collections::HashSet<K, foldhash::fast::RandomState>;

/// Locks a mutex, recovering the data if a thread panicked while holding
/// it (the panic itself is reported where it happened).
pub(crate) fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

//! The Hutong node: the I/O shell that drives the ledger runtime and the
//! consensus core. All the tokio, RocksDB and libp2p lives here; the logic
//! it drives lives in crates without them: `hutong-host` (the consensus
//! host, admission, attestations, the mempool), `hutong-wire` (messages and
//! their codecs), `hutong-audit` (the regulator's detectors, request
//! signing, proofs).
//!
//! Layers, bottom up; a module imports only from layers below it (checked
//! by `cargo test -p hutong-node --test layers`):
//!
//! 1. Leaves: [`status`] (role, what the node reports, the halt flag),
//!    [`config`], [`keyfile`], [`state_cache`], [`cpu`] (CPU time by stage).
//! 2. Storage: [`store`] (RocksDB: chain, state, commits).
//! 3. Reads and the regulator's index: [`ledger`] (the committed ledger as
//!    clients see it), [`audit`] (indexes, queries, proofs, the audit
//!    node).
//! 4. I/O: [`network`] (libp2p), [`runtime`] (the host logic's clock,
//!    spawner and network, on tokio and libp2p), [`membership`] (who the
//!    consortium's nodes are now, from the ledger, followed by the
//!    network).
//! 5. Tasks: [`consensus`] (the host), [`gossip`] (attested sharing),
//!    [`sync_server`], [`executor`], [`rpc`], [`metrics`], [`anchor`]
//!    (the regulator's audit log anchored on the ledger); and
//!    [`client`], the Rust JSON-RPC client.
//! 6. [`node`]: `run(config, shutdown, ready)`, which wires the tasks,
//!    giving each the handles it needs.

pub mod anchor;
pub mod audit;
pub mod client;
pub mod config;
pub mod consensus;
pub mod cpu;
pub mod executor;
pub mod gossip;
pub mod join;
pub mod keyfile;
pub mod ledger;
pub mod membership;
pub mod metrics;
pub mod network;
pub mod node;
pub mod recovery;
pub mod rpc;
pub mod runtime;
pub mod state_cache;
pub mod status;
pub mod store;
pub mod sync_server;

pub use node::run;

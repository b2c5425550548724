//! The Hutong node: the I/O shell that drives the ledger runtime and the
//! consensus core. All the tokio, RocksDB and libp2p lives here.
//!
//! - [`node`]: `run(config, shutdown, ready)`, which wires the rest.
//! - [`config`]: the node's `config.toml`, validated at load.
//! - [`store`]: RocksDB: state and its Merkle tree, blocks, certificates,
//!   receipts, indexes, safety data; one synced batch per block.
//! - [`state_cache`]: the latest state values of hot keys, in front of
//!   RocksDB.
//! - [`network`]: libp2p (TCP, Noise, Yamux), members only, three
//!   request–response protocols with size limits.
//! - [`host`]: drives the consensus core, builds and checks payloads.
//! - [`payload`]: what a block orders, and the execution result it
//!   certifies.
//! - [`executor`]: executes committed blocks and detects divergence.
//! - [`mempool`], [`admit`]: bounded admission of signed transactions.
//! - [`sigverify`]: parallel ZIP-215 batch verification.
//! - [`rpc`], [`client`]: JSON-RPC 2.0 server and a Rust client.
//! - [`metrics`]: the Prometheus endpoint.
//! - [`keyfile`]: key files on disk.
//! - [`audit`]: the regulator's audit node: indexes, alerts, tracing,
//!   proofs and the authenticated audit API.

pub mod admit;
pub mod attest;
pub mod audit;
pub mod client;
pub mod config;
pub mod executor;
pub mod host;
pub mod keyfile;
pub mod mempool;
pub mod metrics;
pub mod network;
pub mod node;
pub mod payload;
pub mod rpc;
pub mod shared;
pub mod sigverify;
pub mod state_cache;
pub mod store;

pub use node::run;

//! The Hutong node: the I/O shell that drives the ledger runtime and the
//! consensus core. Networking, storage, mempool, execution pipeline and
//! JSON-RPC come with the node work; what is here so far:
//!
//! - [`sigverify`]: parallel ZIP-215 batch verification of transactions.

pub mod sigverify;

//! The node's logic without I/O. Everything here is generic over small
//! runtime traits ([`runtime`]: clock, task spawning, network) and over
//! the storage it needs, so that the node drives it with tokio, libp2p
//! and RocksDB, and the deterministic simulator drives the very same code
//! with a simulated clock and network. No async runtime, storage engine or
//! socket is linked here.
//!
//! - [`host`]: the consensus host: drives the consensus core, builds and
//!   checks payloads, gates proposals on execution, hands committed blocks
//!   to the executor, fetches and syncs blocks.
//! - [`admit`]: admission of transactions into the pool, from clients and
//!   peers.
//! - [`attest`]: attested sharing of client transactions between
//!   validators (each signature checked by f + 1 of them, not all n).
//! - [`mempool`]: the bounded pool of admitted transactions.
//! - [`sigverify`]: ZIP-215 batch verification over threads, and the
//!   coalescing verifier admission uses.
//! - [`sync`]: serving blocks to peers that fetch or catch up.
//! - [`status`]: what the host logic reports (consensus status, counters,
//!   recent rejections).
//! - [`runtime`]: the clock, spawner and network traits.
//! - [`util`]: leaf utilities (fast hash maps, poison-tolerant locks).

pub mod admit;
pub mod attest;
pub mod host;
pub mod mempool;
pub mod runtime;
pub mod sigverify;
pub mod status;
pub mod sync;
pub mod util;

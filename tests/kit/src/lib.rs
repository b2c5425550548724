//! What Hutong's tests share, instead of each writing its own copy. Used
//! by tests and the simulator only; nothing of the product depends on it.
//!
//! - [`seed`]: the seed of a random test, printed, and `HUTONG_SEED` to
//!   replay one.
//! - [`keys`]: the simulated consensus signature scheme (keyed hashes, or
//!   real ed25519 node keys).
//! - [`wallets`]: accounts that sign transactions at their next sequence
//!   number.
//! - [`skip`]: a test that cannot run on this machine says so, where
//!   `.ci/run` lists it.

pub mod keys;
pub mod seed;
pub mod skip;
pub mod wallets;

pub use keys::{SimSigner, SimVerifier};
pub use seed::{seed_or, seed_or_random, seeded};
pub use skip::skipped;
pub use wallets::Wallets;

//! The Hutong genesis document: who the members, validators and regulators
//! are, which assets exist and who issues them, the initial accounts and
//! balances, and the risk parameters.
//!
//! - [`doc`]: the TOML document people write (`deny_unknown_fields`).
//! - [`validate`]: validation into a [`Genesis`], with errors that name the
//!   field and the bad value; the chain id is the hash of its canonical
//!   encoding.
//! - [`state`]: the initial ledger state.
//! - [`template`]: generating a consortium's genesis and keys.

#![forbid(unsafe_code)]

pub mod doc;
pub mod state;
pub mod template;
pub mod validate;

pub use doc::GenesisDoc;
pub use validate::{Genesis, GenesisError, Member, MemberRole, Problem, Regulator};

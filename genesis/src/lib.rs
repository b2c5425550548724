//! The Hutong genesis document: who the members, validators and regulators
//! are, which assets exist and who issues them, the initial accounts and
//! balances, and the risk parameters.
//!
//! - [`doc`]: the TOML document people write (`deny_unknown_fields`).
//! - [`validate`]: validation into a [`Genesis`], with errors that name the
//!   field and the bad value; the chain id is the hash of its canonical
//!   encoding.
//! - [`state`]: the initial ledger state.
//! - [`template`]: generating a local test consortium's genesis and every
//!   key on one machine (`hutong genesis new`, `hutong testnet`).
//! - [`card`]: member cards, the public half of the genesis ceremony.
//! - [`assemble`]: a genesis from member cards and a template.

#![forbid(unsafe_code)]

pub mod assemble;
pub mod card;
pub mod doc;
pub mod state;
pub mod template;
pub mod validate;

pub use doc::GenesisDoc;
pub use validate::{Genesis, GenesisError, Member, MemberRole, Problem, Regulator};

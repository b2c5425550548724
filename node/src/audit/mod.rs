//! The regulator's audit node, over the logic of [`hutong_audit`]: the
//! indexes it keeps on disk, and the queries and proofs it answers from
//! them.
//!
//! - [`index`]: the audit column families, written in each block's batch,
//!   and the reads over them.
//! - [`service`]: the regulator's running state: the risk detector fed
//!   with every executed block, the request gate, alert announcements.
//! - [`query`]: history, tracing, flows, export and alerts, answered from
//!   the indexes.
//! - [`prove`]: building transaction and balance proofs from the database
//!   (their verifier is [`hutong_audit::proof`]).
//!
//! The `hutong_audit*` JSON-RPC methods that serve them are the RPC
//! server's ([`crate::rpc::audit`]).

pub mod index;
pub mod prove;
pub mod query;
pub mod service;

pub use service::AuditNode;

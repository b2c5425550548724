//! Hutong's wire formats: what nodes send each other, what they store and
//! serve of the chain, and what crosses the JSON-RPC boundary, with their
//! codecs and size limits. Pure: no async runtime, storage engine or
//! sockets, so fuzzers, wallets and third-party verifiers build it alone.
//!
//! - [`p2p`]: the three peer-to-peer protocols, their messages, frames and
//!   limits.
//! - [`payload`]: what a block orders, and the execution result it
//!   certifies.
//! - [`attestation`]: a validator's signed statement that a batch of
//!   shared transactions holds only valid signatures.
//! - [`chain`]: a block with its payload; an execution result; the genesis
//!   block id and epoch; how an epoch ended; the current epoch's nodes.
//! - [`keys`]: consensus signatures with node keys.
//! - [`rpc`]: the JSON-RPC interface's request, response and notification
//!   types.
//! - [`gov`]: the JSON-RPC views of the consortium and its proposals.

#![forbid(unsafe_code)]

pub mod amount;
pub mod attestation;
pub mod chain;
pub mod gov;
pub mod keys;
pub mod p2p;
pub mod payload;
pub mod rpc;

pub use attestation::{batch_digest, faults_tolerated, Attestation};
pub use chain::{genesis_block_id, EpochEnd, Executed, Membership, StoredBlock, GENESIS_EPOCH};
pub use keys::{NodeSigner, NodeVerifier};
pub use p2p::{ConsensusEnvelope, SyncRequest, SyncResponse, TxGossip};
pub use payload::{Payload, PayloadError, ResultClaim};

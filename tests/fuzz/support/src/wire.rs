//! The node's peer-to-peer wire types, as the wire crate defines them.

pub use hutong_wire::p2p::{ConsensusEnvelope, SyncRequest, SyncResponse, TxGossip};
pub use hutong_wire::payload::{Payload, ResultClaim, BLOCK_BYTES_MAX, BLOCK_TXS_MAX};
pub use hutong_wire::StoredBlock;

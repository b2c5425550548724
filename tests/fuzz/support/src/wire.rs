//! The node's peer-to-peer wire types, as the node itself defines them
//! (`node/src/network.rs`, `node/src/payload.rs`, `node/src/store.rs`).

pub use hutong_node::network::{ConsensusEnvelope, SyncRequest, SyncResponse, TxBatch};
pub use hutong_node::payload::{Payload, ResultClaim, BLOCK_BYTES_MAX, BLOCK_TXS_MAX};
pub use hutong_node::store::StoredBlock;

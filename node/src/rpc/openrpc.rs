//! The published description of every method: `sdk/openrpc.json`
//! (OpenRPC 1.2.6), served as `rpc.discover`, the method OpenRPC names for
//! it. `node/tests/openrpc.rs` holds the document to the node's real method
//! table and to its lists of codes, so a method, an error code, a rejection
//! code or a receipt failure code added without the document fails it.

use std::sync::{Arc, OnceLock};

use jsonrpsee::server::RpcModule;
use jsonrpsee::types::ErrorObjectOwned;

use super::{err, RpcContext};
use hutong_wire::rpc::code;

/// The document, as published.
pub const DOCUMENT: &str = include_str!("../../../sdk/openrpc.json");

/// The discovery method (OpenRPC's service discovery convention).
pub const DISCOVER: &str = "rpc.discover";

fn parsed() -> Option<&'static serde_json::Value> {
    static DOC: OnceLock<Option<serde_json::Value>> = OnceLock::new();
    DOC.get_or_init(|| serde_json::from_str(DOCUMENT).ok())
        .as_ref()
}

/// Registers `rpc.discover`: the document, parsed once.
pub fn register(m: &mut RpcModule<Arc<RpcContext>>) -> anyhow::Result<()> {
    m.register_method(DISCOVER, |_, _, _| {
        parsed().cloned().ok_or_else(|| -> ErrorObjectOwned {
            err(code::INTERNAL, "the API document does not parse")
        })
    })?;
    Ok(())
}

//! Serving blocks to peers: one block by id (a peer missing an ancestor),
//! and runs of committed blocks with the certificate that commits the
//! last (a peer far behind). The node answers from its database on a task
//! of its own; the simulator from its replicas' stores.

use hutong_consensus::types::{BlockId, QuorumCert};
use hutong_wire::p2p::{SyncRequest, SyncResponse, SYNC_ANSWER_BLOCKS_MAX, SYNC_ANSWER_BYTES};
use hutong_wire::StoredBlock;

/// The committed chain as the sync server reads it.
pub trait ChainRead {
    type Error: std::fmt::Display;
    /// A stored block, committed or not, by id.
    fn block(&self, id: &BlockId) -> Result<Option<StoredBlock>, Self::Error>;
    /// The committed block at `height`.
    fn block_at(&self, height: u64) -> Result<Option<StoredBlock>, Self::Error>;
    /// The first commit certificate at or above `height`, with the height
    /// of the block it commits.
    fn cert_from(&self, height: u64) -> Result<Option<(u64, QuorumCert)>, Self::Error>;
}

/// Answers a sync request. A read error answers `Unavailable` (the asker
/// tries another peer) and is logged here.
pub fn serve<R: ChainRead>(chain: &R, request: &SyncRequest) -> SyncResponse {
    let result = match request {
        SyncRequest::Block(id) => chain
            .block(id)
            .map(|b| SyncResponse::Block(b.map(Box::new))),
        SyncRequest::Committed { after } => committed_after(chain, *after),
    };
    result.unwrap_or_else(|e| {
        tracing::error!("cannot serve a sync request: {e}");
        SyncResponse::Unavailable
    })
}

/// Committed blocks after `after`, whole committed runs only (so the
/// last block has the certificate that commits it), within
/// [`SYNC_ANSWER_BLOCKS_MAX`] and [`SYNC_ANSWER_BYTES`]; the first run is
/// always served.
pub fn committed_after<R: ChainRead>(chain: &R, after: u64) -> Result<SyncResponse, R::Error> {
    let mut blocks = Vec::new();
    let mut proof = None;
    let mut bytes = 0usize;
    let mut cursor = after.saturating_add(1);
    while let Some((end, cert)) = chain.cert_from(cursor)? {
        let mut run = Vec::new();
        let mut run_bytes = 0usize;
        for h in cursor..=end {
            let Some(b) = chain.block_at(h)? else {
                return Ok(SyncResponse::Committed { blocks, proof });
            };
            run_bytes += borsh::object_length(&b).unwrap_or(0);
            run.push(b);
        }
        if !blocks.is_empty()
            && (blocks.len() + run.len() > SYNC_ANSWER_BLOCKS_MAX
                || bytes + run_bytes > SYNC_ANSWER_BYTES)
        {
            break;
        }
        bytes += run_bytes;
        blocks.extend(run);
        proof = Some(cert);
        cursor = end + 1;
        if blocks.len() >= SYNC_ANSWER_BLOCKS_MAX {
            break;
        }
    }
    Ok(SyncResponse::Committed { blocks, proof })
}

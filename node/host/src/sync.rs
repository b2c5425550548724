//! Serving blocks to peers: one block by id (a peer missing an ancestor),
//! and runs of committed blocks with the certificate that commits the
//! last (a peer far behind). The node answers from its database on a task
//! of its own; the simulator from its replicas' stores.

use hutong_consensus::types::{BlockId, QuorumCert};
use hutong_wire::p2p::{SyncRequest, SyncResponse, SYNC_ANSWER_BLOCKS_MAX, SYNC_ANSWER_BYTES};
use hutong_wire::{EpochEnd, StoredBlock};

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
    /// The end of the first epoch whose last block is at or above
    /// `height`, if an epoch ended there.
    fn epoch_end_from(&self, _height: u64) -> Result<Option<EpochEnd>, Self::Error> {
        Ok(None)
    }
    /// The recovery statement that restarted the chain from `height`.
    fn recovery_at(
        &self,
        _height: u64,
    ) -> Result<Option<hutong_runtime::recovery::RecoveryStatement>, Self::Error> {
        Ok(None)
    }
    /// A chunk of the state tree at `version` after key hash `after`
    /// (`None`: not held, or nothing after).
    fn snapshot_chunk(
        &self,
        _version: u64,
        _after: Option<[u8; 32]>,
    ) -> Result<Option<hutong_runtime::snapshot::Chunk>, Self::Error> {
        Ok(None)
    }
}

/// Answers a sync request. A read error answers `Unavailable` (the asker
/// tries another peer) and is logged here.
pub fn serve<R: ChainRead>(chain: &R, request: &SyncRequest) -> SyncResponse {
    let result = match request {
        SyncRequest::Block(id) => chain
            .block(id)
            .map(|b| SyncResponse::Block(b.map(Box::new))),
        SyncRequest::Committed { after } => committed_after(chain, *after),
        SyncRequest::Recovery { height } => chain
            .recovery_at(*height)
            .map(|r| SyncResponse::Recovery(r.map(Box::new))),
        SyncRequest::Snapshot { version, after } => chain
            .snapshot_chunk(*version, *after)
            .map(|c| SyncResponse::Snapshot(c.map(Box::new))),
    };
    result.unwrap_or_else(|e| {
        tracing::error!("cannot serve a sync request: {e}");
        SyncResponse::Unavailable
    })
}

/// Committed blocks after `after`, whole committed runs only (so the
/// last block has the certificate that commits it), within
/// [`SYNC_ANSWER_BLOCKS_MAX`] and [`SYNC_ANSWER_BYTES`]; the first run is
/// always served. An answer never crosses an epoch's end: the asker can
/// check the next epoch's certificates only once it has executed the
/// block that ended its epoch. The run that holds an epoch's last block
/// is served up to that block, then the blocks committed after it in the
/// same epoch with the certificate that commits them ([`EpochEnd`]).
pub fn committed_after<R: ChainRead>(chain: &R, after: u64) -> Result<SyncResponse, R::Error> {
    let mut blocks: Vec<StoredBlock> = Vec::new();
    let mut proof = None;
    let mut bytes = 0usize;
    let mut cursor = after.saturating_add(1);
    let boundary = chain.epoch_end_from(cursor)?;
    loop {
        let (end, cert, tail, last) = match (&boundary, chain.cert_from(cursor)?) {
            (Some(b), Some((end, cert))) if end == b.height => (end, cert, &[][..], true),
            // The next certificate is past the epoch's end (or the next
            // epoch has certified nothing yet): the ended epoch's own.
            (Some(b), Some((end, _))) if end > b.height => {
                (b.height, b.proof.clone(), b.tail.as_slice(), true)
            }
            (Some(b), None) => (b.height, b.proof.clone(), b.tail.as_slice(), true),
            (_, Some((end, cert))) => (end, cert, &[][..], false),
            (None, None) => break,
        };
        let mut run = Vec::new();
        let mut run_bytes = 0usize;
        for h in cursor..=end {
            let Some(b) = chain.block_at(h)? else {
                return Ok(SyncResponse::Committed { blocks, proof });
            };
            run_bytes += borsh::object_length(&b).unwrap_or(0);
            run.push(b);
        }
        for b in tail {
            run_bytes += borsh::object_length(b).unwrap_or(0);
            run.push(b.clone());
        }
        // A run under a later epoch's certificate whose first blocks are
        // in an earlier epoch (an epoch end this node did not record):
        // nothing in it can be proven to the asker.
        let epoch = blocks.first().or(run.first()).map(|b| b.block.epoch);
        if run
            .iter()
            .any(|b| Some(b.block.epoch) != epoch || b.block.epoch != cert.data.epoch)
        {
            break;
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
        if last || blocks.len() >= SYNC_ANSWER_BLOCKS_MAX {
            break;
        }
    }
    Ok(SyncResponse::Committed { blocks, proof })
}

#[cfg(test)]
mod tests {
    //! What a node behind an epoch change is served: never a run that
    //! mixes epochs, and the ended epoch's tail under its own certificate.

    use std::collections::BTreeMap;

    use hutong_consensus::types::{Block, Digest, Epoch, Height, Round, ValidatorId};
    use hutong_runtime::crypto::Hash;
    use hutong_wire::payload::{Payload, ResultClaim};

    use super::*;

    #[derive(Default)]
    struct Chain {
        blocks: BTreeMap<u64, StoredBlock>,
        certs: BTreeMap<u64, QuorumCert>,
        ends: BTreeMap<u64, EpochEnd>,
    }

    impl ChainRead for Chain {
        type Error = String;
        fn block(&self, id: &BlockId) -> Result<Option<StoredBlock>, String> {
            Ok(self.blocks.values().find(|b| b.block.id() == *id).cloned())
        }
        fn block_at(&self, height: u64) -> Result<Option<StoredBlock>, String> {
            Ok(self.blocks.get(&height).cloned())
        }
        fn cert_from(&self, height: u64) -> Result<Option<(u64, QuorumCert)>, String> {
            Ok(self
                .certs
                .range(height..)
                .next()
                .map(|(h, c)| (*h, c.clone())))
        }
        fn epoch_end_from(&self, height: u64) -> Result<Option<EpochEnd>, String> {
            Ok(self.ends.range(height..).next().map(|(_, e)| e.clone()))
        }
    }

    fn block(epoch: u64, height: u64) -> StoredBlock {
        StoredBlock {
            block: Block {
                epoch: Epoch(epoch),
                round: Round(height),
                height: Height(height),
                proposer: ValidatorId(0),
                timestamp_ms: height,
                payload: Digest([height as u8; 32]),
                justify: QuorumCert::genesis(Epoch(epoch), Digest([0; 32]), Height(0)),
                timeout_cert: None,
            },
            payload: Payload {
                result: ResultClaim {
                    height: 0,
                    state_root: Hash([0; 32]),
                    receipts_root: Hash([0; 32]),
                },
                txs: Vec::new(),
            },
        }
    }

    fn cert(epoch: u64, height: u64) -> QuorumCert {
        QuorumCert::genesis(Epoch(epoch), Digest([height as u8; 32]), Height(height))
    }

    fn served(chain: &Chain, after: u64) -> (Vec<(u64, u64)>, Option<QuorumCert>) {
        match committed_after(chain, after).unwrap() {
            SyncResponse::Committed { blocks, proof } => (
                blocks
                    .iter()
                    .map(|b| (b.block.epoch.0, b.block.height.0))
                    .collect(),
                proof,
            ),
            other => panic!("{other:?}"),
        }
    }

    /// Epoch 1 ends at height 5; its validators committed 6 and 7 before
    /// every node switched, under a certificate at 7. Epoch 2 executes
    /// 6..=9 (certificates at 7 and 9).
    fn chain_with_tail() -> Chain {
        let mut chain = Chain::default();
        for h in 1..=5 {
            chain.blocks.insert(h, block(1, h));
        }
        for h in 6..=9 {
            chain.blocks.insert(h, block(2, h));
        }
        chain.certs.insert(3, cert(1, 3));
        chain.certs.insert(7, cert(2, 7));
        chain.certs.insert(9, cert(2, 9));
        chain.ends.insert(
            5,
            EpochEnd {
                epoch: Epoch(1),
                height: 5,
                tail: vec![block(1, 6), block(1, 7)],
                proof: cert(1, 7),
            },
        );
        chain
    }

    #[test]
    fn an_answer_stops_at_an_epoch_end_and_carries_its_tail() {
        let chain = chain_with_tail();
        let (blocks, proof) = served(&chain, 0);
        assert_eq!(
            blocks,
            vec![(1, 1), (1, 2), (1, 3), (1, 4), (1, 5), (1, 6), (1, 7)]
        );
        assert_eq!(proof, Some(cert(1, 7)));
        // From the boundary on, the next epoch's runs.
        let (blocks, proof) = served(&chain, 5);
        assert_eq!(blocks, vec![(2, 6), (2, 7), (2, 8), (2, 9)]);
        assert_eq!(proof, Some(cert(2, 9)));
    }

    #[test]
    fn an_epoch_end_at_a_run_end_needs_no_tail() {
        let mut chain = chain_with_tail();
        chain.certs.insert(5, cert(1, 5));
        chain.ends.get_mut(&5).unwrap().tail.clear();
        chain.ends.get_mut(&5).unwrap().proof = cert(1, 5);
        let (blocks, proof) = served(&chain, 3);
        assert_eq!(blocks, vec![(1, 4), (1, 5)]);
        assert_eq!(proof, Some(cert(1, 5)));
    }

    #[test]
    fn an_epoch_end_is_served_before_the_next_epoch_certifies_anything() {
        let mut chain = chain_with_tail();
        chain.certs.retain(|h, _| *h <= 3);
        for h in 6..=9 {
            chain.blocks.remove(&h);
        }
        let (blocks, proof) = served(&chain, 3);
        assert_eq!(blocks, vec![(1, 4), (1, 5), (1, 6), (1, 7)]);
        assert_eq!(proof, Some(cert(1, 7)));
        let (blocks, proof) = served(&chain, 5);
        assert!(blocks.is_empty());
        assert_eq!(proof, None);
    }

    #[test]
    fn a_run_across_an_unrecorded_epoch_end_is_not_served() {
        let mut chain = chain_with_tail();
        chain.ends.clear();
        // Runs before the boundary still go; the mixed one does not.
        let (blocks, proof) = served(&chain, 0);
        assert_eq!(blocks, vec![(1, 1), (1, 2), (1, 3)]);
        assert_eq!(proof, Some(cert(1, 3)));
        let (blocks, proof) = served(&chain, 3);
        assert!(blocks.is_empty());
        assert_eq!(proof, None);
    }
}

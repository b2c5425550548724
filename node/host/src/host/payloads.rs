//! The payloads the host holds: those of blocks consensus accepted and
//! this node has not executed yet (what it builds on and hands to the
//! executor), and those that arrived with proposals, fetches and syncs
//! and wait for consensus to take or refuse their blocks. Bounded: at most
//! [`PAYLOADS_MAX`] besides the accepted blocks', and a payload leaves as
//! soon as no block that will still be executed refers to it.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use hutong_consensus::types::{Block, BlockId, Digest};
use hutong_runtime::crypto::Hash;
use hutong_wire::payload::Payload;

use super::{Context, Host};

/// Most payloads held at once, besides those of accepted blocks.
pub(super) const PAYLOADS_MAX: usize = 4_096;

/// A block the host knows (accepted by consensus, not yet executed).
#[derive(Debug)]
pub(super) struct Known {
    pub parent: BlockId,
    pub height: u64,
    pub timestamp_ms: u64,
    pub digest: Digest,
    pub payload: Arc<Payload>,
    pub tx_hashes: Vec<Hash>,
}

impl<C: Context> Host<C> {
    /// Records a block consensus accepted, with its payload.
    pub(super) fn remember(&mut self, block: &Block, payload: Arc<Payload>) {
        let tx_hashes = payload.txs.iter().map(|t| t.hash()).collect();
        self.known.insert(
            block.id(),
            Known {
                parent: block.parent_id(),
                height: block.height.0,
                timestamp_ms: block.timestamp_ms,
                digest: block.payload,
                payload,
                tx_hashes,
            },
        );
    }

    /// Adds a payload under its (checked) digest; returns the digest if it
    /// was not there yet.
    pub(super) fn add_payload(&mut self, digest: Digest, payload: Payload) -> Option<Digest> {
        match self.payloads.entry(digest) {
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(Arc::new(payload));
                Some(digest)
            }
            std::collections::hash_map::Entry::Occupied(_) => None,
        }
    }

    /// Removes those of `added` that no known block refers to: what a
    /// refused proposal, a stale fetch or a sync answer consensus did not
    /// take brought in.
    pub(super) fn forget_unreferenced(&mut self, added: &[Digest]) {
        if added.is_empty() {
            return;
        }
        let used: HashSet<Digest> = self.known.values().map(|k| k.digest).collect();
        remove_unreferenced(&mut self.payloads, added, &used);
    }

    /// Forgets blocks at or below `executed`, and their payloads (unless a
    /// block still to be executed shares one).
    pub(super) fn forget_executed(&mut self, executed: u64) {
        let stale: Vec<BlockId> = self
            .known
            .iter()
            .filter(|(_, k)| k.height <= executed)
            .map(|(id, _)| *id)
            .collect();
        for id in stale {
            if let Some(k) = self.known.remove(&id) {
                self.preverified.remove(&k.digest);
                // Two blocks may carry the same payload (a re-proposal).
                if !self.known.values().any(|o| o.digest == k.digest) {
                    self.payloads.remove(&k.digest);
                }
            }
        }
        if self.payloads.len() > PAYLOADS_MAX {
            let keep: HashSet<Digest> = self.known.values().map(|k| k.digest).collect();
            self.payloads.retain(|d, _| keep.contains(d));
        }
    }
}

/// Removes the payloads of `added` that are not in `used`.
pub(super) fn remove_unreferenced(
    payloads: &mut HashMap<Digest, Arc<Payload>>,
    added: &[Digest],
    used: &HashSet<Digest>,
) {
    for digest in added {
        if !used.contains(digest) {
            payloads.remove(digest);
        }
    }
}

/// The payloads of `blocks`, committed together, from memory (`None` for
/// one that is not there: the caller reads it from the store). Those that
/// no block in `keep` (the known, unexecuted ones) refers to then leave
/// the map, as the executor's jobs hold them now: synced blocks' payloads
/// would otherwise stay. Only after all are taken, since blocks may share
/// a payload (two empty blocks with the same result claim).
pub(super) fn take_committed(
    payloads: &mut HashMap<Digest, Arc<Payload>>,
    blocks: &[Block],
    keep: &HashSet<Digest>,
) -> Vec<Option<Arc<Payload>>> {
    let taken = blocks
        .iter()
        .map(|b| payloads.get(&b.payload).cloned())
        .collect();
    for b in blocks {
        if !keep.contains(&b.payload) {
            payloads.remove(&b.payload);
        }
    }
    taken
}

#[cfg(test)]
mod tests {
    use super::*;
    use hutong_consensus::types::{Epoch, Height, QuorumCert, Round, ValidatorId};
    use hutong_wire::payload::ResultClaim;

    fn block(round: u64, payload: Digest) -> Block {
        Block {
            epoch: Epoch(1),
            round: Round(round),
            height: Height(round),
            proposer: ValidatorId(0),
            timestamp_ms: round,
            payload,
            justify: QuorumCert::genesis(Epoch(1), Digest([1; 32]), Height(0)),
            timeout_cert: None,
        }
    }

    fn empty(height: u64) -> Payload {
        Payload {
            result: ResultClaim {
                height,
                state_root: Hash([0; 32]),
                receipts_root: Hash([0; 32]),
            },
            txs: Vec::new(),
        }
    }

    #[test]
    fn blocks_committed_together_may_share_a_payload() {
        let empty = empty(3);
        let (shared, own) = (empty.digest(), Digest([7; 32]));
        let mut payloads = HashMap::from([
            (shared, Arc::new(empty.clone())),
            (own, Arc::new(empty.clone())),
        ]);
        // Two synced empty blocks with the same claim, and one whose
        // payload a known block still refers to.
        let blocks = [block(4, shared), block(5, shared), block(6, own)];
        let keep = HashSet::from([own]);
        let taken = take_committed(&mut payloads, &blocks, &keep);
        assert!(taken.iter().all(Option::is_some), "{taken:?}");
        assert!(!payloads.contains_key(&shared));
        assert!(payloads.contains_key(&own));
    }

    #[test]
    fn a_synced_payload_nothing_refers_to_leaves_the_map() {
        let (stale, kept, earlier) = (empty(1), empty(2), empty(3));
        let mut payloads: HashMap<Digest, Arc<Payload>> = [&stale, &kept, &earlier]
            .into_iter()
            .map(|p| (p.digest(), Arc::new(p.clone())))
            .collect();
        // An answer added `stale` (its block was committed already) and
        // `kept` (a known block refers to it); `earlier` was in the map
        // before the answer and is not the answer's to remove.
        let used = HashSet::from([kept.digest()]);
        remove_unreferenced(&mut payloads, &[stale.digest(), kept.digest()], &used);
        assert!(!payloads.contains_key(&stale.digest()));
        assert!(payloads.contains_key(&kept.digest()));
        assert!(payloads.contains_key(&earlier.digest()));
    }
}

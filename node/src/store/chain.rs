//! The chain as the node keeps it: blocks (committed or pending), heights,
//! commit certificates, execution results, receipts, the transaction index
//! and the consensus safety data.

use hutong_consensus::safety::SafetyData;
use hutong_consensus::types::{BlockId, QuorumCert};
use hutong_runtime::crypto::Hash;
use hutong_runtime::recovery::RecoveryStatement;
use hutong_runtime::{FailureReason, Outcome, Receipt};
use rocksdb::{Direction, IteratorMode, WriteBatch};

use hutong_wire::EpochEnd;

use super::{cf, corrupt, decode, encode, synced, Db, DbError, Executed, StoredBlock, TxLocation};

/// Epoch ends live in the meta column under this prefix and their last
/// block's height (big-endian), so they sort by height.
const EPOCH_END_PREFIX: &[u8] = b"epoch_end/";

/// Recovery statements live in the meta column under this prefix and
/// their height (big-endian).
const RECOVERY_PREFIX: &[u8] = b"recovery/";

fn epoch_end_key(height: u64) -> Vec<u8> {
    let mut key = EPOCH_END_PREFIX.to_vec();
    key.extend_from_slice(&height.to_be_bytes());
    key
}

impl Db {
    /// The last executed block, `None` before genesis is written.
    pub fn executed(&self) -> Result<Option<Executed>, DbError> {
        self.get(cf::META, b"executed")
    }

    pub fn safety(&self) -> Result<Option<SafetyData>, DbError> {
        self.get(cf::SAFETY, b"safety")
    }

    /// Stores the safety data, synced: it must be durable before the vote
    /// or timeout that depends on it is sent.
    pub fn put_safety(&self, safety: &SafetyData) -> Result<(), DbError> {
        self.db
            .put_cf_opt(self.cf(cf::SAFETY), b"safety", encode(safety), &synced())?;
        Ok(())
    }

    /// Stores a block consensus accepted into its tree (not yet committed).
    /// Not synced: a block lost in a crash is fetched again from peers.
    pub fn put_block(&self, stored: &StoredBlock) -> Result<(), DbError> {
        let id = stored.block.id();
        let mut batch = WriteBatch::default();
        batch.put_cf(self.cf(cf::BLOCKS), id.0, encode(stored));
        batch.put_cf(
            self.cf(cf::PENDING),
            pending_key(stored.block.height.0, &id),
            [],
        );
        self.db.write(batch)?;
        Ok(())
    }

    pub fn block(&self, id: &BlockId) -> Result<Option<StoredBlock>, DbError> {
        self.get(cf::BLOCKS, &id.0)
    }

    pub fn block_id_at(&self, height: u64) -> Result<Option<BlockId>, DbError> {
        match self.get_raw(cf::HEIGHTS, &height.to_be_bytes())? {
            Some(bytes) => {
                let id: [u8; 32] = bytes
                    .as_slice()
                    .try_into()
                    .map_err(|_| corrupt("heights", "block id is not 32 bytes"))?;
                Ok(Some(hutong_consensus::types::Digest(id)))
            }
            None => Ok(None),
        }
    }

    pub fn block_at(&self, height: u64) -> Result<Option<StoredBlock>, DbError> {
        match self.block_id_at(height)? {
            Some(id) => self.block(&id),
            None => Ok(None),
        }
    }

    /// The certificate stored with the committed block at `height`, if it
    /// ended a committed run.
    pub fn cert_at(&self, height: u64) -> Result<Option<QuorumCert>, DbError> {
        self.get(cf::CERTS, &height.to_be_bytes())
    }

    /// The first certificate at or above `height`, with its height: it
    /// commits the block at `height` through the hash chain.
    pub fn cert_from(&self, height: u64) -> Result<Option<(u64, QuorumCert)>, DbError> {
        let start = height.to_be_bytes();
        let mut iter = self.db.iterator_cf(
            self.cf(cf::CERTS),
            IteratorMode::From(&start, Direction::Forward),
        );
        match iter.next() {
            Some(item) => {
                let (key, value) = item?;
                let key: [u8; 8] = key
                    .as_ref()
                    .try_into()
                    .map_err(|_| corrupt("certs", "height key is not 8 bytes"))?;
                Ok(Some((u64::from_be_bytes(key), decode("certs", &value)?)))
            }
            None => Ok(None),
        }
    }

    /// Records how an epoch ended (see [`hutong_wire::EpochEnd`]): what
    /// this node serves to peers that sync across the boundary. Synced:
    /// the blocks in its tail are kept nowhere else.
    pub fn put_epoch_end(&self, end: &EpochEnd) -> Result<(), DbError> {
        self.db.put_cf_opt(
            self.cf(cf::META),
            epoch_end_key(end.height),
            encode(end),
            &synced(),
        )?;
        Ok(())
    }

    /// The first recorded epoch end whose last block is at or above
    /// `height`.
    pub fn epoch_end_from(&self, height: u64) -> Result<Option<EpochEnd>, DbError> {
        let start = epoch_end_key(height);
        let mut iter = self.db.iterator_cf(
            self.cf(cf::META),
            IteratorMode::From(&start, Direction::Forward),
        );
        match iter.next() {
            Some(item) => {
                let (key, value) = item?;
                if !key.starts_with(EPOCH_END_PREFIX) {
                    return Ok(None);
                }
                Ok(Some(decode("epoch end", &value)?))
            }
            None => Ok(None),
        }
    }

    /// Keeps a recovery statement this node was given (`hutong recover
    /// apply`), under its height; kept after it applied, as the record of
    /// how its epoch began. Synced.
    pub fn put_recovery(&self, statement: &RecoveryStatement) -> Result<(), DbError> {
        let mut key = RECOVERY_PREFIX.to_vec();
        key.extend_from_slice(&statement.plan.height.0.to_be_bytes());
        self.db
            .put_cf_opt(self.cf(cf::META), key, encode(statement), &synced())?;
        Ok(())
    }

    /// The recovery statement this node was given for `height`.
    pub fn recovery_at(&self, height: u64) -> Result<Option<RecoveryStatement>, DbError> {
        let mut key = RECOVERY_PREFIX.to_vec();
        key.extend_from_slice(&height.to_be_bytes());
        self.get(cf::META, &key)
    }

    /// The recovery statement of the highest height this node was given.
    pub fn latest_recovery(&self) -> Result<Option<RecoveryStatement>, DbError> {
        let mut end = RECOVERY_PREFIX.to_vec();
        end.extend_from_slice(&u64::MAX.to_be_bytes());
        let mut iter = self.db.iterator_cf(
            self.cf(cf::META),
            IteratorMode::From(&end, Direction::Reverse),
        );
        match iter.next() {
            Some(item) => {
                let (key, value) = item?;
                if !key.starts_with(RECOVERY_PREFIX) {
                    return Ok(None);
                }
                Ok(Some(decode("recovery statement", &value)?))
            }
            None => Ok(None),
        }
    }

    /// What executing the committed block at `height` gave.
    pub fn result_at(&self, height: u64) -> Result<Option<Executed>, DbError> {
        self.get(cf::RESULTS, &height.to_be_bytes())
    }

    pub fn receipts_at(&self, height: u64) -> Result<Option<Vec<Receipt>>, DbError> {
        self.get(cf::RECEIPTS, &height.to_be_bytes())
    }

    pub fn tx_location(&self, hash: &Hash) -> Result<Option<TxLocation>, DbError> {
        self.get(cf::TXS, &hash.0)
    }

    /// Stored blocks above `height` (not yet executed), for restoring
    /// consensus after a restart.
    pub fn stored_blocks_above(&self, height: u64) -> Result<Vec<StoredBlock>, DbError> {
        let mut out = Vec::new();
        let from = pending_key(
            height.saturating_add(1),
            &hutong_consensus::types::Digest([0; 32]),
        );
        for item in self.db.iterator_cf(
            self.cf(cf::PENDING),
            IteratorMode::From(&from, Direction::Forward),
        ) {
            let (key, _) = item?;
            let (_, id) = parse_pending_key(&key)?;
            // A pending entry whose block is gone was pruned by a commit
            // racing this read; nothing to restore.
            if let Some(stored) = self.block(&id)? {
                out.push(stored);
            }
        }
        Ok(out)
    }

    /// Adds to `batch` the pruning that committing `id` at `height` allows:
    /// every pending entry up to `height` goes, and so does every block
    /// among them that is not the committed one at its height. Returns
    /// whether `id` itself was pending: its body is then stored already
    /// (a pending entry and its body are written in one batch, and the
    /// synced commit makes every earlier write durable with it).
    pub(super) fn prune_pending(
        &self,
        batch: &mut WriteBatch,
        height: u64,
        id: &BlockId,
    ) -> Result<bool, DbError> {
        let mut stored = false;
        // Entries below the previous commit were pruned by it; starting a
        // little below skips their tombstones (consensus stores no block
        // that far below its commits).
        let floor = pending_key(
            height.saturating_sub(64),
            &hutong_consensus::types::Digest([0; 32]),
        );
        for item in self.db.iterator_cf(
            self.cf(cf::PENDING),
            IteratorMode::From(&floor, Direction::Forward),
        ) {
            let (key, _) = item?;
            let (h, pending) = parse_pending_key(&key)?;
            if h > height {
                break;
            }
            batch.delete_cf(self.cf(cf::PENDING), &key);
            let committed = if h == height {
                Some(*id)
            } else {
                self.block_id_at(h)?
            };
            if committed != Some(pending) {
                batch.delete_cf(self.cf(cf::BLOCKS), pending.0);
            } else if h == height {
                stored = true;
            }
        }
        Ok(stored)
    }

    /// The first executed height whose block time is at or after `ms`
    /// (`executed + 1` if none is).
    pub fn height_at_time(&self, ms: u64) -> Result<u64, DbError> {
        let top = self.executed()?.map(|e| e.height).unwrap_or(0);
        let (mut lo, mut hi) = (0u64, top + 1);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let ts = self.result_at(mid)?.map(|r| r.timestamp_ms).unwrap_or(0);
            if ts >= ms {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        Ok(lo)
    }
}

/// Whether a receipt is a transaction's failure on a sequence number its
/// sender has already used: a copy of a transaction that may have run
/// before.
pub(super) fn replays_used_sequence(receipt: Option<&Receipt>) -> bool {
    matches!(
        receipt.map(|r| &r.outcome),
        Some(Outcome::Failed {
            reason: FailureReason::BadSequence { expected, got },
        }) if got.0 < expected.0
    )
}

pub(super) fn pending_key(height: u64, id: &BlockId) -> [u8; 40] {
    let mut key = [0u8; 40];
    key[..8].copy_from_slice(&height.to_be_bytes());
    key[8..].copy_from_slice(&id.0);
    key
}

fn parse_pending_key(key: &[u8]) -> Result<(u64, BlockId), DbError> {
    if key.len() != 40 {
        return Err(corrupt("pending", format!("key of {} bytes", key.len())));
    }
    let mut height = [0u8; 8];
    height.copy_from_slice(&key[..8]);
    let mut id = [0u8; 32];
    id.copy_from_slice(&key[8..]);
    Ok((
        u64::from_be_bytes(height),
        hutong_consensus::types::Digest(id),
    ))
}

/// What the consensus host stores and reads.
impl hutong_host::host::HostStore for Db {
    type Error = DbError;

    fn put_safety(&self, safety: &SafetyData) -> Result<(), DbError> {
        Db::put_safety(self, safety)
    }

    fn put_block(&self, block: &StoredBlock) -> Result<(), DbError> {
        Db::put_block(self, block)
    }

    fn block(&self, id: &BlockId) -> Result<Option<StoredBlock>, DbError> {
        Db::block(self, id)
    }

    fn result_at(&self, height: u64) -> Result<Option<Executed>, DbError> {
        Db::result_at(self, height)
    }

    fn joined_at(&self) -> Option<u64> {
        Db::joined_at(self).ok().flatten()
    }

    fn account_sequence(&self, address: &hutong_runtime::Address) -> Option<u64> {
        match self.signer_account(address) {
            Ok(Some(a)) => Some(a.sequence.0),
            _ => None,
        }
    }
}

/// What the sync server reads.
impl hutong_host::sync::ChainRead for Db {
    type Error = DbError;

    fn block(&self, id: &BlockId) -> Result<Option<StoredBlock>, DbError> {
        Db::block(self, id)
    }

    fn block_at(&self, height: u64) -> Result<Option<StoredBlock>, DbError> {
        Db::block_at(self, height)
    }

    fn cert_from(&self, height: u64) -> Result<Option<(u64, QuorumCert)>, DbError> {
        Db::cert_from(self, height)
    }

    fn epoch_end_from(&self, height: u64) -> Result<Option<EpochEnd>, DbError> {
        Db::epoch_end_from(self, height)
    }

    fn recovery_at(&self, height: u64) -> Result<Option<RecoveryStatement>, DbError> {
        Db::recovery_at(self, height)
    }

    /// Any executed height's tree this node still holds whole (every
    /// version, unless it prunes old states: `[storage] keep_states`).
    fn snapshot_chunk(
        &self,
        version: u64,
        after: Option<[u8; 32]>,
    ) -> Result<Option<hutong_runtime::snapshot::Chunk>, DbError> {
        use hutong_runtime::snapshot::{read_chunk, CHUNK_BYTES_MAX, CHUNK_ENTRIES_MAX};
        use hutong_runtime::StateStore;
        let held = |db: &Db| -> Result<bool, DbError> {
            Ok(version >= db.oldest_state()?
                && db.latest_version().is_some_and(|latest| version <= latest))
        };
        if !held(self)? {
            return Ok(None);
        }
        let read = read_chunk(self, version, after, CHUNK_ENTRIES_MAX, CHUNK_BYTES_MAX);
        // The version may have been pruned while it was read: what was read
        // may be cut, so it is not served.
        if !held(self)? {
            return Ok(None);
        }
        read.map_err(|e| DbError::Corrupt {
            what: format!("the state tree at version {version}"),
            reason: e.to_string(),
        })
    }
}

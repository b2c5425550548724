//! Pruning on a validator or observer (a regulator keeps everything):
//!
//! - old blocks, on a node that keeps only the last `[storage]
//!   keep_blocks` of them: the blocks, their transactions' index entries,
//!   their receipts and certificates go; every block's execution result
//!   stays (results are small, and a node checks the claims of new blocks
//!   and finds an epoch's first block by them);
//! - old states, on a node that keeps only the last `[storage]
//!   keep_states` versions of the state tree: each commit records the
//!   tree nodes it replaced ([`cf::STALE_NODES`]); once a version falls
//!   out of the window, the nodes that went stale at or before it are
//!   deleted. The tree at every kept version stays whole (a node that went
//!   stale at version s belongs only to versions before s), so the latest
//!   state, execution and the snapshots this node serves of kept versions
//!   are untouched. A leaf's value is kept in its entry, so the values of
//!   pruned versions go with their leaves.

use std::sync::atomic::Ordering;

use hutong_runtime::tree::NodeKey;
use rocksdb::{IteratorMode, WriteBatch};

use super::state::TreeNodeKey;
use super::{cf, encode, Db, DbError};

/// Most stale tree nodes one pruning pass deletes.
pub const STALE_PASS_MAX: usize = 200_000;

/// The key of a stale node's record: the version that replaced it first,
/// so that a pass reads them oldest first.
pub(super) fn stale_key(stale_since: u64, node: &NodeKey) -> Vec<u8> {
    let mut key = stale_since.to_be_bytes().to_vec();
    key.extend_from_slice(&encode(&TreeNodeKey(node)));
    key
}

/// Most heights one pruning pass deletes (a node that turns pruning on
/// for a long chain catches up over several passes).
pub const PRUNE_PASS_MAX: u64 = 1_024;

impl Db {
    /// The lowest height whose block this node may still hold: blocks
    /// below it were pruned (or never held, for a node that joined from a
    /// snapshot). 1 for a node with the whole history.
    pub fn oldest_block(&self) -> Result<u64, DbError> {
        let pruned: Option<u64> = self.get(cf::META, b"pruned_below")?;
        let joined = self.joined_at()?;
        Ok(pruned.unwrap_or(1).max(joined.unwrap_or(1)).max(1))
    }

    /// Deletes the blocks below `below` (at most [`PRUNE_PASS_MAX`]
    /// heights from where the last pass stopped). Returns how many heights
    /// it pruned.
    pub fn prune_blocks_below(&self, below: u64) -> Result<u64, DbError> {
        let from = self.oldest_block()?;
        let to = below.min(from.saturating_add(PRUNE_PASS_MAX));
        if to <= from {
            return Ok(0);
        }
        let mut batch = WriteBatch::default();
        for height in from..to {
            let key = height.to_be_bytes();
            if let Some(id) = self.block_id_at(height)? {
                if let Some(stored) = self.block(&id)? {
                    for tx in &stored.payload.txs {
                        batch.delete_cf(self.cf(cf::TXS), tx.hash().0);
                    }
                }
                batch.delete_cf(self.cf(cf::BLOCKS), id.0);
            }
            batch.delete_cf(self.cf(cf::HEIGHTS), key);
            batch.delete_cf(self.cf(cf::RECEIPTS), key);
            batch.delete_cf(self.cf(cf::CERTS), key);
        }
        batch.put_cf(self.cf(cf::META), b"pruned_below", encode(&to));
        self.db.write(batch)?;
        Ok(to - from)
    }

    /// From now on, each commit records the tree nodes it replaced, so
    /// that [`Db::prune_states_below`] can delete them. A node that turns
    /// this on for an existing database leaves the nodes replaced before
    /// as they are.
    pub fn track_stale_nodes(&self) {
        self.track_stale.store(true, Ordering::Relaxed);
    }

    /// The lowest version whose whole state tree this node may still hold:
    /// older ones were pruned (or never held, for a node that joined from
    /// a snapshot). 0 for a node with every version.
    pub fn oldest_state(&self) -> Result<u64, DbError> {
        let pruned: Option<u64> = self.get(cf::META, b"states_below")?;
        Ok(pruned.unwrap_or(0).max(self.joined_at()?.unwrap_or(0)))
    }

    /// Deletes the tree nodes that no version from `below` on refers to
    /// (at most [`STALE_PASS_MAX`] of them a pass). Returns how many it
    /// deleted. The lower bound is recorded before anything is deleted, so
    /// a reader that checks [`Db::oldest_state`] after reading an old
    /// version knows whether what it read may have been cut.
    pub fn prune_states_below(&self, below: u64) -> Result<usize, DbError> {
        let below = below.min(self.version.load(Ordering::SeqCst));
        if self.oldest_state()? < below {
            self.db
                .put_cf(self.cf(cf::META), b"states_below", encode(&below))?;
        }
        let stale = self.cf(cf::STALE_NODES);
        let nodes = self.cf(cf::TREE_NODES);
        let mut batch = WriteBatch::default();
        let mut count = 0;
        for item in self.db.iterator_cf(stale, IteratorMode::Start) {
            let (key, _) = item?;
            let since = key
                .get(..8)
                .and_then(|b| <[u8; 8]>::try_from(b).ok())
                .map(u64::from_be_bytes)
                .ok_or_else(|| super::corrupt("stale_nodes key", "shorter than a version"))?;
            // A node replaced at `since` is in the trees before it only.
            if since > below || count == STALE_PASS_MAX {
                break;
            }
            // Point deletes, not one range for the records: measured, a
            // range tombstone left the column's files uncompacted longer
            // (2.5x the disk) and slowed the next passes' scans.
            batch.delete_cf(nodes, &key[8..]);
            batch.delete_cf(stale, &key);
            count += 1;
        }
        if count > 0 {
            self.db.write(batch)?;
        }
        Ok(count)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use hutong_host::sync::ChainRead;
    use hutong_runtime::snapshot::{Chunk, Restore};
    use hutong_runtime::state::{Holding, StateKey, StateValue};
    use hutong_runtime::store::{prepare_commit, state_root, StateStore};
    use hutong_runtime::{Address, Amount, AssetCode, ChainId};

    use super::*;

    fn balance(i: u64, amount: u64) -> (StateKey, Option<StateValue>) {
        let mut a = [0u8; 20];
        a[..8].copy_from_slice(&i.to_le_bytes());
        (
            StateKey::Balance(Address(a), AssetCode::new("CNY").unwrap()),
            Some(StateValue::Balance(Holding::of(Amount(amount.into())))),
        )
    }

    /// Versions 0..=20 of a 500-key tree, each changing 50 keys (version
    /// 7 changes none).
    fn chain(db: &mut Db) -> Vec<hutong_runtime::Hash> {
        let mut roots = Vec::new();
        for version in 0..=20u64 {
            let changes: Vec<_> = if version == 0 {
                (0..500).map(|i| balance(i, 1)).collect()
            } else if version == 7 {
                Vec::new()
            } else {
                (0..50)
                    .map(|i| balance((i * 7 + version * 13) % 500, version))
                    .collect()
            };
            let update = prepare_commit(&*db, version, changes).unwrap();
            db.apply(update).unwrap();
            roots.push(state_root(&*db, version).unwrap());
        }
        roots
    }

    fn count(db: &Db, name: &str) -> usize {
        db.db.iterator_cf(db.cf(name), IteratorMode::Start).count()
    }

    /// Reads the whole tree at `version` as a joining node would, and
    /// checks every chunk against the root.
    fn restores(db: &Db, version: u64, root: hutong_runtime::Hash) -> Result<(), String> {
        let dir = tempfile::tempdir().unwrap();
        let target = Db::open(dir.path(), ChainId([7; 32])).unwrap();
        let mut restore =
            Restore::new(Arc::new(target), version, root).map_err(|e| e.to_string())?;
        loop {
            let chunk: Option<Chunk> = db
                .snapshot_chunk(version, restore.resume_after())
                .map_err(|e| e.to_string())?;
            match chunk {
                Some(chunk) => restore.add(chunk).map_err(|e| e.to_string())?,
                None if restore.resume_after().is_none() => return Err("not served".into()),
                None => return restore.finish().map_err(|e| e.to_string()),
            }
        }
    }

    /// Pruning states deletes the nodes only old versions refer to: every
    /// kept version stays whole (its root, its values, a snapshot of it
    /// that proves), an older one is no longer served, and the tree takes
    /// fewer nodes than before. A node that does not track stale nodes
    /// records none.
    #[test]
    fn pruning_states_keeps_every_kept_version_whole() {
        let dir = tempfile::tempdir().unwrap();
        let mut plain = Db::open(&dir.path().join("plain"), ChainId([7; 32])).unwrap();
        chain(&mut plain);
        assert_eq!(count(&plain, cf::STALE_NODES), 0);

        let mut db = Db::open(&dir.path().join("pruned"), ChainId([7; 32])).unwrap();
        db.track_stale_nodes();
        let roots = chain(&mut db);
        let before = count(&db, cf::TREE_NODES);
        assert_eq!(before, count(&plain, cf::TREE_NODES));
        assert!(count(&db, cf::STALE_NODES) > 0);
        assert_eq!(db.oldest_state().unwrap(), 0);
        restores(&db, 3, roots[3]).unwrap();

        // A bound above the executed version is clamped to it.
        assert!(db.prune_states_below(15).unwrap() > 0);
        assert_eq!(db.oldest_state().unwrap(), 15);
        let after = count(&db, cf::TREE_NODES);
        assert!(
            after < before,
            "{after} nodes after pruning, {before} before"
        );
        for version in 15..=20u64 {
            assert_eq!(
                state_root(&db, version).unwrap().0,
                roots[version as usize].0,
                "version {version}"
            );
            restores(&db, version, roots[version as usize]).unwrap();
        }
        assert_eq!(restores(&db, 14, roots[14]), Err("not served".into()));
        // The latest values read as on the node that keeps everything.
        for i in 0..500 {
            let (key, _) = balance(i, 0);
            assert_eq!(
                StateStore::get(&db, &key).unwrap(),
                StateStore::get(&plain, &key).unwrap()
            );
        }
        // Nothing left to prune at the same bound; the next version then
        // executes on the pruned tree exactly as on the whole one.
        assert_eq!(db.prune_states_below(15).unwrap(), 0);
        let next = |db: &Db| prepare_commit(db, 21, vec![balance(3, 99), balance(400, 98)]);
        let (a, b) = (next(&db).unwrap(), next(&plain).unwrap());
        assert_eq!(a.root, b.root);
        db.apply(a).unwrap();
        assert!(db.prune_states_below(u64::MAX).unwrap() > 0);
        assert_eq!(db.oldest_state().unwrap(), 21);
        restores(&db, 21, b.root).unwrap();
    }
}

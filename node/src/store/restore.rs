//! Restoring the state tree from a snapshot: the database as the target of
//! `hutong_runtime::snapshot::Restore` (a node joining from its peers'
//! chunks, `crate::join`), and the record that makes the restored height
//! the node's executed one.

use std::borrow::Cow;
use std::sync::atomic::Ordering;

use hutong_runtime::snapshot::RestoreTarget;
use hutong_runtime::state::StateValue;
use hutong_runtime::store::Version;
use hutong_runtime::transfer::index_entries;
use hutong_runtime::tree::{KeyHash, Node, NodeKey};
use rocksdb::{IteratorMode, WriteBatch};

use super::commit::Sorted;
use super::state::restore_value_key;
use super::{cf, corrupt, decode, encode, synced, Db, DbError, Executed};

/// Where [`cf::META`] keeps a restore's progress: its version and the
/// tree builder's state after the last chunk written.
const RESTORE_PROGRESS: &[u8] = b"restore_progress";

impl RestoreTarget for Db {
    /// A checked chunk: the tree nodes it completed, its leaves' values,
    /// the transfer record index the leaves stand for (beside the tree, as
    /// execution keeps it), and the restore's progress, in one batch. Not
    /// synced: [`Db::finish_restore`] is (a chunk lost in a crash is
    /// asked for again; rewriting a node writes the same bytes).
    fn write_restored(
        &self,
        version: Version,
        nodes: &[(NodeKey, Node)],
        values: &[(KeyHash, Vec<u8>)],
        progress: &[u8],
    ) -> Result<(), String> {
        self.write_restored_chunk(version, nodes, values, progress)
            .map_err(|e| e.to_string())
    }

    fn restore_progress(&self, version: Version) -> Result<Option<Vec<u8>>, String> {
        let saved: Option<(Version, Vec<u8>)> = self
            .get(cf::META, RESTORE_PROGRESS)
            .map_err(|e| e.to_string())?;
        Ok(saved.filter(|(v, _)| *v == version).map(|(_, p)| p))
    }
}

impl Db {
    fn write_restored_chunk(
        &self,
        version: Version,
        nodes: &[(NodeKey, Node)],
        values: &[(KeyHash, Vec<u8>)],
        progress: &[u8],
    ) -> Result<(), DbError> {
        let mut batch = WriteBatch::default();
        // The chunk's values wait in `restore_values` for leaves whose
        // place the next chunk decides; a leaf finds its value in this
        // chunk or there.
        let staging = self.cf(cf::RESTORE_VALUES);
        for (key, value) in values {
            batch.put_cf(staging, restore_value_key(version, key), value);
        }
        self.put_nodes(&mut batch, nodes, |key| {
            if let Ok(i) = values.binary_search_by(|(k, _)| k.cmp(key)) {
                return Ok(Cow::Borrowed(values[i].1.as_slice()));
            }
            self.db
                .get_cf(staging, restore_value_key(version, key))?
                .map(Cow::Owned)
                .ok_or_else(|| {
                    corrupt(
                        "restore_values",
                        format!(
                            "a restored leaf of key hash {} has no value",
                            hex::encode(key)
                        ),
                    )
                })
        })?;
        let mut index = Sorted::with_capacity(values.len(), 96);
        for (_, value) in values {
            let value: StateValue = decode("a restored leaf", value)?;
            for (key, entry) in index_entries(&value) {
                index.put(&key, Some(&entry));
            }
        }
        index.write(self, &mut batch, cf::STATE);
        if progress.is_empty() {
            batch.delete_cf(self.cf(cf::META), RESTORE_PROGRESS);
        } else {
            batch.put_cf(
                self.cf(cf::META),
                RESTORE_PROGRESS,
                encode(&(version, progress)),
            );
        }
        self.db.write(batch)?;
        Ok(())
    }

    /// Whether the database holds nothing of a chain yet (no executed
    /// block, no tree node): what a join from a snapshot starts from.
    pub fn is_empty_chain(&self) -> Result<bool, DbError> {
        Ok(self.executed()?.is_none()
            && self
                .db
                .iterator_cf(self.cf(cf::TREE_NODES), IteratorMode::Start)
                .next()
                .is_none())
    }

    /// Makes a fully restored tree the executed state: `executed` is the
    /// block whose state it is (its root checked by the restore). Synced,
    /// with everything the restore wrote before it. The node then follows
    /// the chain from the block after it.
    pub fn finish_restore(
        &self,
        executed: Executed,
        epoch_genesis: Option<(u64, hutong_consensus::types::BlockId)>,
    ) -> Result<(), DbError> {
        let height = executed.height;
        let mut batch = WriteBatch::default();
        if let Some((start, id)) = epoch_genesis {
            batch.put_cf(
                self.cf(cf::META),
                b"joined_epoch_genesis",
                encode(&(start, id)),
            );
        }
        batch.put_cf(self.cf(cf::META), b"executed", encode(&executed));
        batch.put_cf(self.cf(cf::META), b"state_version", encode(&height));
        batch.put_cf(self.cf(cf::META), b"joined_at", encode(&height));
        batch.delete_cf(self.cf(cf::META), RESTORE_PROGRESS);
        // Every leaf holds its value now: the staged copies go.
        batch.delete_range_cf(
            self.cf(cf::RESTORE_VALUES),
            &[0u8; 40][..],
            &[0xffu8; 41][..],
        );
        batch.put_cf(
            self.cf(cf::RESULTS),
            height.to_be_bytes(),
            encode(&executed),
        );
        batch.put_cf(
            self.cf(cf::HEIGHTS),
            height.to_be_bytes(),
            executed.block_id.0,
        );
        self.db.write_opt(batch, &synced())?;
        self.version.store(height, Ordering::SeqCst);
        Ok(())
    }

    /// The first block of the epoch a node joined in from a snapshot
    /// (height and id), when that epoch did not start at genesis: the
    /// node did not execute it, and needs its id to follow the epoch.
    pub fn joined_epoch_genesis(
        &self,
    ) -> Result<Option<(u64, hutong_consensus::types::BlockId)>, DbError> {
        self.get(cf::META, b"joined_epoch_genesis")
    }

    /// The height this node's state was restored at from a snapshot, if
    /// it joined that way (it holds no blocks below it).
    pub fn joined_at(&self) -> Result<Option<u64>, DbError> {
        self.get(cf::META, b"joined_at")
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use hutong_runtime::snapshot::{read_chunk, Restore, SnapshotError};
    use hutong_runtime::state::{
        Holding, StateKey, StateValue, TransferBlock, TransferFields, TransferRecord,
    };
    use hutong_runtime::store::{prepare_commit, state_root, MemStore, StateStore};
    use hutong_runtime::types::TimestampMs;
    use hutong_runtime::{Address, Amount, AssetCode, ChainId, Hash, TransferId};

    use super::*;

    /// A source state of `n` balances and one block of transfer records.
    fn source(n: u64) -> (MemStore, u64) {
        let cny = AssetCode::new("CNY").unwrap();
        let address = |i: u64| {
            let mut a = [0u8; 20];
            a[..8].copy_from_slice(&i.to_le_bytes());
            Address(a)
        };
        let mut changes: Vec<(StateKey, Option<StateValue>)> = (0..n)
            .map(|i| {
                (
                    StateKey::Balance(address(i), cny),
                    Some(StateValue::Balance(Holding::of(Amount(u128::from(i) + 1)))),
                )
            })
            .collect();
        let record = TransferRecord {
            tx_hash: Hash([9; 32]),
            fields: TransferFields::Single {
                to: address(2),
                asset: cny,
                amount: Amount(5),
            },
        };
        changes.push((
            StateKey::TransferBlock(0),
            Some(StateValue::TransferBlock(TransferBlock {
                timestamp: TimestampMs(1),
                records: vec![(address(1), TransferId(77), record)],
            })),
        ));
        let mut store = MemStore::new();
        let update = prepare_commit(&store, 0, changes).unwrap();
        store.apply(update).unwrap();
        (store, 0)
    }

    /// A restore into RocksDB takes a refused chunk, resumes from the
    /// progress it wrote (also when started again on the same database),
    /// finishes with the source's root, and reads back the values and the
    /// rebuilt transfer index.
    #[test]
    fn a_restore_into_the_database_survives_a_bad_chunk_and_rebuilds_the_index() {
        let (source, version) = source(3_000);
        let root = state_root(&source, version).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path(), ChainId([7; 32])).unwrap();
        assert!(db.is_empty_chain().unwrap());
        let mut restore = Restore::new(Arc::new(db.clone()), version, root).unwrap();
        let mut chunks = 0;
        let mut refused = 0;
        while let Some(chunk) =
            read_chunk(&source, version, restore.resume_after(), 500, usize::MAX).unwrap()
        {
            chunks += 1;
            if chunks == 4 {
                let mut bad = chunk.clone();
                bad.entries[7].1[0] ^= 1;
                match restore.add(bad) {
                    Err(SnapshotError::BadChunk(_)) => refused += 1,
                    other => panic!("a damaged chunk was taken: {other:?}"),
                }
                continue;
            }
            if chunks == 6 {
                // As after a restart: from what the database holds.
                let after = restore.resume_after();
                restore = Restore::new(Arc::new(db.clone()), version, root).unwrap();
                assert_eq!(restore.resume_after(), after);
            }
            restore.add(chunk).unwrap();
        }
        assert_eq!(refused, 1);
        restore.finish().unwrap();
        let executed = Executed {
            height: version,
            block_id: hutong_consensus::types::Digest([1; 32]),
            round: 3,
            timestamp_ms: 1,
            state_root: root,
            receipts_root: Hash([0; 32]),
        };
        db.finish_restore(executed, None).unwrap();
        assert!(!db.is_empty_chain().unwrap());
        assert_eq!(db.joined_at().unwrap(), Some(version));
        assert_eq!(db.executed().unwrap(), Some(executed));
        assert_eq!(db.latest_version(), Some(version));
        for (key, value) in source.entries() {
            assert_eq!(StateStore::get(&db, &key).unwrap(), Some(value), "{key:?}");
        }
        let mut a = [0u8; 20];
        a[..8].copy_from_slice(&1u64.to_le_bytes());
        assert!(matches!(
            StateStore::get(&db, &StateKey::TransferRecord(Address(a), TransferId(77))),
            Ok(Some(StateValue::TransferRecord(_)))
        ));
        assert_eq!(state_root(&db, version).unwrap(), root);
    }
}

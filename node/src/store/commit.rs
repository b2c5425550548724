//! Writing a committed, executed block: its state changes and tree nodes,
//! its body (unless consensus stored it already), height, certificate,
//! receipts, transaction index and other modules' entries, in one synced
//! batch.

use std::borrow::Cow;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use borsh::BorshSerialize;
use hutong_runtime::store::{StateUpdate, Version};
use hutong_runtime::tree::{KeyHash, Node, NodeKey, Nodes};
use rocksdb::WriteBatch;

use super::chain::replays_used_sequence;
use super::prune::stale_key;
use super::state::{RecentNodes, StoredNode, TreeNodeKey};
use super::{
    cf, corrupt, encode, encode_into, synced, BlockWrite, Db, DbError, Executed, TxLocation,
    NO_VERSION,
};

impl Db {
    /// Writes the genesis state as version 0, with its executed record.
    pub fn commit_genesis(&self, state: StateUpdate, executed: Executed) -> Result<(), DbError> {
        let mut batch = WriteBatch::default();
        self.put_state(&mut batch, &state, None)?;
        batch.put_cf(self.cf(cf::META), b"executed", encode(&executed));
        batch.put_cf(self.cf(cf::RESULTS), 0u64.to_be_bytes(), encode(&executed));
        batch.put_cf(
            self.cf(cf::HEIGHTS),
            0u64.to_be_bytes(),
            executed.block_id.0,
        );
        self.db.write_opt(batch, &synced())?;
        self.version.store(0, Ordering::SeqCst);
        self.state_cache.commit(state.values);
        Ok(())
    }

    /// Writes a committed, executed block and everything it changed, in one
    /// synced batch.
    pub fn commit_block(&self, write: BlockWrite) -> Result<(), DbError> {
        self.commit(write, None)
    }

    /// [`Db::commit_block`] for a block whose tree nodes were taken out of
    /// its update and staged ([`Db::stage_nodes`]): they are written from
    /// `nodes`.
    pub fn commit_staged_block(&self, write: BlockWrite, nodes: Arc<Nodes>) -> Result<(), DbError> {
        self.commit(write, Some(nodes))
    }

    fn commit(&self, mut write: BlockWrite, staged: Option<Arc<Nodes>>) -> Result<(), DbError> {
        let height = write.executed.height;
        let executed = self.version.load(Ordering::SeqCst);
        if executed == NO_VERSION || executed.checked_add(1) != Some(height) {
            return Err(DbError::HeightGap { height, executed });
        }
        let key = height.to_be_bytes();
        let mut batch = WriteBatch::default();
        self.put_state(&mut batch, &write.state, staged.as_deref())?;
        let id = write.block.id();
        // A block consensus stored as pending is not written twice (for a
        // full block that is most of the batch's bytes); a synced one is
        // written here.
        if !self.prune_pending(&mut batch, height, &id)? {
            // The bytes of a `StoredBlock`: its fields in order.
            batch.put_cf(
                self.cf(cf::BLOCKS),
                id.0,
                encode(&(&write.block, &*write.payload)),
            );
        }
        batch.put_cf(self.cf(cf::HEIGHTS), key, id.0);
        if let Some(proof) = &write.proof {
            batch.put_cf(self.cf(cf::CERTS), key, encode(proof));
        }
        let mut locations = Sorted::with_capacity(write.tx_hashes.len(), 48);
        for (index, hash) in write.tx_hashes.iter().enumerate() {
            // A transaction that reaches a block again fails there on its
            // used sequence number; its index keeps the first location,
            // where it ran (a wallet must not read "failed" for a transfer
            // that was paid). Rare, so the lookup costs nothing in practice.
            if replays_used_sequence(write.receipts.get(index)) && self.tx_location(hash)?.is_some()
            {
                continue;
            }
            let location = TxLocation {
                height,
                index: index as u32,
            };
            locations.put(&hash.0, Some(&location));
        }
        locations.write(self, &mut batch, cf::TXS);
        batch.put_cf(self.cf(cf::RECEIPTS), key, encode(&write.receipts));
        for put in &write.extra {
            if put.merge {
                batch.merge_cf(self.cf(put.column), &put.key, &put.value);
            } else {
                batch.put_cf(self.cf(put.column), &put.key, &put.value);
            }
        }
        batch.put_cf(self.cf(cf::META), b"executed", encode(&write.executed));
        batch.put_cf(self.cf(cf::RESULTS), key, encode(&write.executed));
        self.db.write_opt(batch, &synced())?;
        // The version first: a reader that misses the cache reads the
        // database at the durable version, and may fill the cache only if
        // no commit of the cache came between (`StateCache::fill`).
        self.version.store(height, Ordering::SeqCst);
        self.state_cache
            .commit(std::mem::take(&mut write.state.values));
        // Only once durable: a failed write must not leave nodes readable
        // (the executor's staged nodes are its own business).
        if staged.is_none() {
            let written = RecentNodes::index(std::mem::take(&mut write.state.tree.nodes));
            self.recent_nodes().add(write.state.version, written);
        }
        Ok(())
    }

    /// Makes the tree nodes of a version readable through this handle's
    /// tree reader before they are durable, so that the executor can
    /// compute the next block's tree while this one is being written.
    /// [`Db::commit_staged_block`] of that version then writes them. Only a
    /// reader that asks for that version's nodes sees them, and none but
    /// the executor knows the version before it is durable.
    pub fn stage_nodes(&self, version: Version, nodes: &Nodes) {
        // Indexed before the lock: readers wait only for the insertion.
        let by_path = RecentNodes::index(nodes.iter().cloned());
        self.recent_nodes().add(version, by_path);
    }

    /// The state entries of `update`: the values of keys outside the
    /// tree, the tree's nodes (from `staged` when the executor took them
    /// out of the update) with each leaf's value, and the stale-node
    /// records of a pruning node.
    pub(super) fn put_state(
        &self,
        batch: &mut WriteBatch,
        update: &StateUpdate,
        staged: Option<&Nodes>,
    ) -> Result<(), DbError> {
        // Tree keys' values go with their leaves.
        let mut values = Sorted::with_capacity(update.values.len(), 96);
        for (key, value) in update.values.iter().filter(|(key, _)| !key.in_tree()) {
            values.put(key, value.as_ref());
        }
        values.write(self, batch, cf::STATE);
        let changed = &update.tree_values;
        let nodes = staged.unwrap_or(&update.tree.nodes);
        self.put_nodes(batch, nodes, |key| {
            match changed.binary_search_by(|(k, _)| k.cmp(key)) {
                Ok(i) => match &changed[i].1 {
                    Some(bytes) => Ok(Cow::Borrowed(bytes.as_slice())),
                    None => Err(corrupt(
                        "a state update",
                        format!("a leaf of version {} for a deleted key", update.version),
                    )),
                },
                // A leaf that moved (a key beside it came or went) with
                // its value unchanged: the value it had a version ago.
                Err(_) => update
                    .version
                    .checked_sub(1)
                    .map(|previous| self.tree_value(previous, key))
                    .transpose()?
                    .flatten()
                    .map(Cow::Owned)
                    .ok_or_else(|| {
                        corrupt(
                            "a state update",
                            format!(
                                "a leaf of version {} whose value is neither new nor in the \
                                 version before",
                                update.version
                            ),
                        )
                    }),
            }
        })?;
        if self.track_stale.load(Ordering::Relaxed) {
            // In key order: one version, then the node keys.
            let mut stale: Vec<Vec<u8>> = update
                .tree
                .stale
                .iter()
                .map(|key| stale_key(update.version, key))
                .collect();
            stale.sort_unstable();
            let family = self.cf(cf::STALE_NODES);
            for key in stale {
                batch.put_cf(family, key, []);
            }
        }
        batch.put_cf(self.cf(cf::META), b"state_version", encode(&update.version));
        Ok(())
    }

    /// Tree nodes, each leaf with its value's bytes (`value_of` its key
    /// hash).
    pub(super) fn put_nodes<'v>(
        &self,
        batch: &mut WriteBatch,
        nodes: &[(NodeKey, Node)],
        mut value_of: impl FnMut(&KeyHash) -> Result<Cow<'v, [u8]>, DbError>,
    ) -> Result<(), DbError> {
        let mut encoded = Sorted::with_capacity(nodes.len(), 256);
        for (key, node) in nodes {
            let value = match node {
                Node::Leaf { key, .. } => value_of(key)?,
                _ => Cow::Borrowed(&[][..]),
            };
            encoded.put(
                &TreeNodeKey(key),
                Some(&StoredNode {
                    node,
                    value: &value,
                }),
            );
        }
        encoded.write(self, batch, cf::TREE_NODES);
        Ok(())
    }
}

/// One column family's entries for a batch, encoded into one buffer (not
/// two allocations each, which cost as much as the encoding), then put in
/// key order. RocksDB inserts a batch into its memtable entry by entry,
/// each a skip-list search; in key order each search can start from where
/// the previous insert ended (RocksDB keeps that position). Its effect
/// alone was within the benchmark's noise (~1%).
pub(super) struct Sorted {
    bytes: Vec<u8>,
    /// Where each entry's key starts, where it ends (its value starts),
    /// and where its value ends; `None`: a deletion.
    spans: Vec<(usize, usize, Option<usize>)>,
}

impl Sorted {
    /// Room for `entries` of about `bytes_each` bytes, key and value.
    pub(super) fn with_capacity(entries: usize, bytes_each: usize) -> Sorted {
        Sorted {
            bytes: Vec::with_capacity(entries.saturating_mul(bytes_each)),
            spans: Vec::with_capacity(entries),
        }
    }

    /// An entry: the borsh encodings of `key` and `value` (`None`
    /// deletes the key).
    pub(super) fn put<K: BorshSerialize, V: BorshSerialize>(&mut self, key: &K, value: Option<&V>) {
        let start = self.bytes.len();
        encode_into(&mut self.bytes, key);
        let key_end = self.bytes.len();
        let end = value.map(|v| {
            encode_into(&mut self.bytes, v);
            self.bytes.len()
        });
        self.spans.push((start, key_end, end));
    }

    /// Adds the entries to `batch`, in key order.
    pub(super) fn write(mut self, db: &Db, batch: &mut WriteBatch, name: &str) {
        let bytes = &self.bytes;
        self.spans
            .sort_unstable_by(|a, b| bytes[a.0..a.1].cmp(&bytes[b.0..b.1]));
        let cf = db.cf(name);
        for &(start, key_end, end) in &self.spans {
            let key = &bytes[start..key_end];
            match end {
                Some(end) => batch.put_cf(cf, key, &bytes[key_end..end]),
                None => batch.delete_cf(cf, key),
            }
        }
    }
}

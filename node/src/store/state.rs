//! The state store the runtime reads: latest values (through the state
//! cache), the Jellyfish Merkle tree's nodes and versioned values, and the
//! cache of the nodes the last few blocks wrote.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use borsh::BorshSerialize;
use hutong_runtime::state::{StateKey, StateValue};
use hutong_runtime::store::{StateStore, StateUpdate, StoreError};
use jmt::storage::{LeafNode, NibblePath, Node, NodeBatch, NodeKey, TreeReader};
use jmt::{KeyHash, OwnedValue, Version};
use rocksdb::WriteBatch;

use super::{cf, corrupt, decode, encode, synced, Db, DbError, NO_VERSION};
use crate::state_cache::{CacheStats, Lookup};

impl Db {
    pub(super) fn recent_nodes(&self) -> std::sync::MutexGuard<'_, RecentNodes> {
        self.recent_nodes.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The latest value of a state key.
    pub fn state(&self, key: &StateKey) -> Result<Option<StateValue>, DbError> {
        let stamp = match self.state_cache.get(key) {
            Lookup::Hit(value) => return Ok(value),
            Lookup::Miss(stamp) => stamp,
        };
        let value = self.read_state(key)?;
        self.state_cache.fill(stamp, key, &value);
        Ok(value)
    }

    /// The account a key signs for: the one at the key's address or, for
    /// an institution key rotated in by governance, the account its alias
    /// points to (as execution resolves it); for a device key, its
    /// account with the device's key and sequence.
    pub fn signer_account(
        &self,
        key_address: &hutong_runtime::Address,
    ) -> Result<Option<hutong_runtime::Account>, DbError> {
        if let Some(StateValue::Account(a)) = self.state(&StateKey::Account(*key_address))? {
            return Ok(Some(a));
        }
        let Some(StateValue::KeyAlias(target)) = self.state(&StateKey::KeyAlias(*key_address))?
        else {
            // A device key signs for its account with its own sequence
            // (`hutong_runtime::hold`): admission sees the account as the
            // device signs for it, its key and sequence the device's.
            if let Some(StateValue::Device(d)) = self.state(&StateKey::Device(*key_address))? {
                if let Some(StateValue::Account(mut a)) =
                    self.state(&StateKey::Account(d.account))?
                {
                    a.owner = d.key;
                    a.sequence = d.sequence;
                    return Ok(Some(a));
                }
            }
            return Ok(None);
        };
        match self.state(&StateKey::Account(target))? {
            Some(StateValue::Account(a)) => Ok(Some(a)),
            _ => Ok(None),
        }
    }

    /// The latest durable value of a state key, from the database.
    fn read_state(&self, key: &StateKey) -> Result<Option<StateValue>, DbError> {
        if !key.in_tree() {
            return self.get(cf::STATE, &encode(key));
        }
        match self.tree_value(Version::MAX, &key.key_hash())? {
            Some(bytes) => Ok(Some(decode("tree_values", &bytes)?)),
            None => Ok(None),
        }
    }

    /// The tree's value of a key at the newest version at or below
    /// `max_version` (`None`: absent or deleted then).
    fn tree_value(
        &self,
        max_version: Version,
        key_hash: &KeyHash,
    ) -> Result<Option<OwnedValue>, DbError> {
        // Seek backwards from (key hash, max_version), within the key
        // hash: the family's prefix bloom filters answer "never written"
        // without searching the memtables and files (a used quote's key
        // is looked up before it is first written).
        let seek = tree_value_key(key_hash, max_version);
        let mut read = rocksdb::ReadOptions::default();
        read.set_prefix_same_as_start(true);
        let mut iter = self.db.raw_iterator_cf_opt(self.cf(cf::TREE_VALUES), read);
        iter.seek_for_prev(seek);
        match (iter.key(), iter.value()) {
            (Some(key), Some(value)) => {
                if key.len() != 40 || key[..32] != key_hash.0 {
                    return Ok(None);
                }
                decode("tree_values", value)
            }
            _ => {
                iter.status()?;
                Ok(None)
            }
        }
    }

    /// The state cache's size and hit counts, for the metrics endpoint.
    pub fn state_cache_stats(&self) -> CacheStats {
        self.state_cache.stats()
    }
}

pub(super) fn tree_value_key(key_hash: &KeyHash, version: Version) -> [u8; 40] {
    let mut key = [0u8; 40];
    key[..32].copy_from_slice(&key_hash.0);
    key[32..].copy_from_slice(&version.to_be_bytes());
    key
}

/// A tree node's key in [`cf::TREE_NODES`]: the version that wrote the
/// node (big-endian), then its nibble path. A block's nodes are one run of
/// keys above every older one, so each flush of the family holds a key
/// range no older file overlaps and compaction moves files rather than
/// merging them. (The node key's borsh encoding, a little-endian version
/// first, spread every block's nodes across the whole key space: two
/// thirds of what the family's compactions wrote was rewriting older
/// nodes.)
pub(super) struct TreeNodeKey<'a>(pub &'a NodeKey);

impl BorshSerialize for TreeNodeKey<'_> {
    fn serialize<W: std::io::Write>(&self, writer: &mut W) -> std::io::Result<()> {
        writer.write_all(&self.0.version().to_be_bytes())?;
        self.0.nibble_path().serialize(writer)
    }
}

/// The node key a [`TreeNodeKey`] encoding names.
pub(super) fn decode_tree_node_key(bytes: &[u8]) -> Result<NodeKey, DbError> {
    let (version, path) = bytes
        .split_first_chunk::<8>()
        .ok_or_else(|| corrupt("tree_nodes key", "shorter than a version"))?;
    let path: NibblePath = decode("tree_nodes key", path)?;
    Ok(NodeKey::new(u64::from_be_bytes(*version), path))
}

impl TreeReader for Db {
    fn get_node_option(&self, node_key: &NodeKey) -> anyhow::Result<Option<Node>> {
        let recent = self.recent_nodes().get(node_key);
        if let Some(node) = recent {
            return Ok(Some(node));
        }
        Ok(self.get(cf::TREE_NODES, &encode(&TreeNodeKey(node_key)))?)
    }

    fn get_value_option(
        &self,
        max_version: Version,
        key_hash: KeyHash,
    ) -> anyhow::Result<Option<OwnedValue>> {
        Ok(self.tree_value(max_version, &key_hash)?)
    }

    /// Only used while restoring a tree from a snapshot (see
    /// [`Db::rightmost_leaf`]).
    fn get_rightmost_leaf(&self) -> anyhow::Result<Option<(NodeKey, LeafNode)>> {
        Ok(self.rightmost_leaf()?)
    }
}

impl StateStore for Db {
    fn get(&self, key: &StateKey) -> Result<Option<StateValue>, StoreError> {
        let stamp = match self.state_cache.get(key) {
            Lookup::Hit(value) => return Ok(value),
            Lookup::Miss(stamp) => stamp,
        };
        let value = self.read_state(key).map_err(|e| match e {
            DbError::Corrupt { reason, .. } => StoreError::Corrupt { key: *key, reason },
            other => StoreError::from(other),
        })?;
        self.state_cache.fill(stamp, key, &value);
        Ok(value)
    }

    fn latest_version(&self) -> Option<Version> {
        match self.version.load(Ordering::SeqCst) {
            NO_VERSION => None,
            v => Some(v),
        }
    }

    /// Applies a state update alone, synced (tests and tools; the node
    /// writes state inside [`Db::commit_block`]).
    fn apply(&mut self, update: StateUpdate) -> Result<(), StoreError> {
        let latest = self.latest_version();
        let follows = match latest {
            None => update.version == 0,
            Some(v) => Some(update.version) == v.checked_add(1),
        };
        if !follows {
            return Err(StoreError::VersionGap {
                got: update.version,
                latest,
            });
        }
        let mut batch = WriteBatch::default();
        self.put_state(&mut batch, &update)?;
        self.db
            .write_opt(batch, &synced())
            .map_err(|e| StoreError::Backend(e.to_string()))?;
        let version = update.version;
        self.state_cache.commit(update.values);
        self.version.store(version, Ordering::SeqCst);
        Ok(())
    }
}

/// Tree nodes of the last versions: each version's batch as the tree
/// wrote it (shared, not copied), newest last, up to
/// `RECENT_NODES_MAX` nodes in all (at least `RECENT_VERSIONS_MIN`
/// versions). A node key carries the version that wrote it, so a lookup
/// searches one batch. Every block rewrites the tree's upper levels and
/// reads the nodes its keys last changed, mostly a few blocks old: from
/// here they cost a map lookup, not a RocksDB read and a decode.
#[derive(Default)]
pub(super) struct RecentNodes {
    by_version: std::collections::VecDeque<(Version, Arc<NodeBatch>)>,
    nodes: usize,
}

impl RecentNodes {
    pub(super) fn add(&mut self, version: Version, written: Arc<NodeBatch>) {
        // Versions arrive in order; a version added again (a block
        // rewritten after a restart) replaces everything from it on.
        while self.by_version.back().is_some_and(|(v, _)| *v >= version) {
            if let Some((_, batch)) = self.by_version.pop_back() {
                self.nodes -= batch.nodes().len();
            }
        }
        self.nodes += written.nodes().len();
        self.by_version.push_back((version, written));
        while self.by_version.len() > RECENT_VERSIONS_MIN && self.nodes > RECENT_NODES_MAX {
            if let Some((_, batch)) = self.by_version.pop_front() {
                self.nodes -= batch.nodes().len();
            }
        }
    }

    fn get(&self, key: &NodeKey) -> Option<Node> {
        let version = key.version();
        // Consecutive versions, mostly: index directly, else search.
        let first = self.by_version.front()?.0;
        let guess = version
            .checked_sub(first)
            .and_then(|i| usize::try_from(i).ok())
            .and_then(|i| self.by_version.get(i))
            .filter(|(v, _)| *v == version);
        let (_, batch) = match guess {
            Some(found) => found,
            None => self.by_version.iter().find(|(v, _)| *v == version)?,
        };
        batch.get_node(key).cloned()
    }
}

const RECENT_VERSIONS_MIN: usize = 4;

const RECENT_NODES_MAX: usize = 20_000;

#[cfg(test)]
mod tests {
    use super::*;

    /// A node key from its nibbles (jmt builds paths itself only: this
    /// goes through the path's borsh encoding).
    fn key(version: Version, nibbles: &[u8]) -> NodeKey {
        let mut packed = vec![0u8; nibbles.len().div_ceil(2)];
        for (i, n) in nibbles.iter().enumerate() {
            packed[i / 2] |= if i % 2 == 0 { n << 4 } else { *n };
        }
        let path: NibblePath = decode("test path", &encode(&(nibbles.len(), packed))).unwrap();
        NodeKey::new(version, path)
    }

    #[test]
    fn tree_node_keys_order_by_version_and_decode_back() {
        // 255 < 256 < 65,536: a little-endian encoding orders these the
        // other way round.
        let keys = [
            key(255, &[0xf, 0xf, 0xf]),
            key(256, &[]),
            key(256, &[0x3]),
            key(65_536, &[0x0, 0x1]),
        ];
        let encoded: Vec<Vec<u8>> = keys.iter().map(|k| encode(&TreeNodeKey(k))).collect();
        assert!(encoded.windows(2).all(|w| w[0] < w[1]), "{encoded:?}");
        for (k, bytes) in keys.iter().zip(&encoded) {
            assert_eq!(&decode_tree_node_key(bytes).unwrap(), k);
        }
        assert!(decode_tree_node_key(&[0; 7]).is_err());
        assert!(decode_tree_node_key(&encoded[0][..9]).is_err());
    }
}

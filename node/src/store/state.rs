//! The state store the runtime reads: latest values (through the state
//! cache), the state tree's nodes (`hutong_runtime::tree`), each leaf's
//! entry holding its value, and the cache of the nodes the last few
//! blocks wrote.

use std::sync::atomic::Ordering;

use borsh::BorshSerialize;
use hutong_runtime::state::{StateKey, StateValue};
use hutong_runtime::store::{StateStore, StateUpdate, StoreError, Version};
use hutong_runtime::tree::{self, KeyHash, Node, NodeKey, NodeReader, TreeError};
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
            Some(bytes) => Ok(Some(decode("a tree leaf's value", &bytes)?)),
            None => Ok(None),
        }
    }

    /// The tree's value of a key at `max_version`, or at the latest durable
    /// version if that is older (`None`: absent or deleted then): the
    /// value kept in the key's leaf, found by walking the tree of that
    /// version from its root (its upper levels are in the recent nodes).
    /// Before any version is durable (a restore not finished yet), a
    /// version named reads its tree as written so far.
    pub(super) fn tree_value(
        &self,
        max_version: Version,
        key_hash: &KeyHash,
    ) -> Result<Option<Vec<u8>>, DbError> {
        let durable = self.version.load(Ordering::SeqCst);
        let version = match durable {
            NO_VERSION if max_version == Version::MAX => return Ok(None),
            NO_VERSION => max_version,
            durable => max_version.min(durable),
        };
        match self.value_in_tree(version, key_hash) {
            // A pruning pass may cut the version read between loading it
            // and walking it (only when the chain moved on meanwhile):
            // read the newer one.
            Err(_) if max_version > durable && self.version.load(Ordering::SeqCst) != durable => {
                let now = self.version.load(Ordering::SeqCst);
                self.value_in_tree(max_version.min(now), key_hash)
            }
            read => read,
        }
    }

    /// The value in `key_hash`'s leaf at `version`.
    fn value_in_tree(
        &self,
        version: Version,
        key_hash: &KeyHash,
    ) -> Result<Option<Vec<u8>>, DbError> {
        match tree::leaf_at(self, version, key_hash).map_err(|e| corrupt("tree_nodes", e))? {
            Some(at) => self.value_in_leaf(&at, key_hash),
            None => Ok(None),
        }
    }

    /// The value kept with the leaf `at` if it is `key_hash`'s (`None`: it
    /// is another key's).
    fn value_in_leaf(&self, at: &NodeKey, key_hash: &KeyHash) -> Result<Option<Vec<u8>>, DbError> {
        let raw = self
            .db
            .get_pinned_cf(self.cf(cf::TREE_NODES), encode(&TreeNodeKey(at)))?
            .ok_or_else(|| corrupt("tree_nodes", format!("the leaf at {at:?} is missing")))?;
        let (node, value) = split_stored(&raw).map_err(|e| corrupt("tree_nodes", e))?;
        match node {
            Node::Leaf { key, value: hash } if key == *key_hash => {
                if tree::value_hash(value) != hash {
                    return Err(corrupt(
                        "tree_nodes",
                        format!("the value kept with the leaf at {at:?} is not the one it holds"),
                    ));
                }
                Ok(Some(value.to_vec()))
            }
            Node::Leaf { .. } => Ok(None),
            _ => Err(corrupt(
                "tree_nodes",
                format!("the node at {at:?} is not a leaf"),
            )),
        }
    }

    /// The state cache's size and hit counts, for the metrics endpoint.
    pub fn state_cache_stats(&self) -> CacheStats {
        self.state_cache.stats()
    }
}

/// A value's key in [`cf::RESTORE_VALUES`].
pub(super) fn restore_value_key(version: Version, key_hash: &KeyHash) -> [u8; 40] {
    let mut key = [0u8; 40];
    key[..8].copy_from_slice(&version.to_be_bytes());
    key[8..].copy_from_slice(key_hash);
    key
}

/// A tree node's key in [`cf::TREE_NODES`]: the version that wrote it
/// (big-endian), then its path (the nibble count, then the nibbles packed
/// two to a byte). A block's nodes are one run of keys above every older
/// one, so each flush of the family holds a key range no older file
/// overlaps and compaction moves files rather than merging them.
pub(super) struct TreeNodeKey<'a>(pub &'a NodeKey);

impl BorshSerialize for TreeNodeKey<'_> {
    fn serialize<W: std::io::Write>(&self, writer: &mut W) -> std::io::Result<()> {
        let path = &self.0.path;
        writer.write_all(&self.0.version.to_be_bytes())?;
        writer.write_all(&[path.len() as u8])?;
        writer.write_all(&path.bytes()[..path.len().div_ceil(2)])
    }
}

/// The node key a [`TreeNodeKey`] encoding names.
#[cfg(test)]
pub(super) fn decode_tree_node_key(bytes: &[u8]) -> Result<NodeKey, DbError> {
    let bad = |reason| corrupt("tree_nodes key", reason);
    let (version, rest) = bytes
        .split_first_chunk::<8>()
        .ok_or_else(|| bad("shorter than a version"))?;
    let (&len, packed) = rest.split_first().ok_or_else(|| bad("no path length"))?;
    let len = usize::from(len);
    if packed.len() != len.div_ceil(2) {
        return Err(bad("path length"));
    }
    let mut nibbles = [0u8; 32];
    nibbles
        .get_mut(..packed.len())
        .ok_or_else(|| bad("path length"))?
        .copy_from_slice(packed);
    let path = hutong_runtime::tree::Path::from_parts(len, nibbles).ok_or_else(|| bad("path"))?;
    Ok(NodeKey {
        version: u64::from_be_bytes(*version),
        path,
    })
}

/// A tree node as [`cf::TREE_NODES`] stores it: its encoding
/// ([`Node::encode`]), then, for a leaf, its value's bytes.
pub(super) struct StoredNode<'a> {
    pub node: &'a Node,
    pub value: &'a [u8],
}

impl BorshSerialize for StoredNode<'_> {
    fn serialize<W: std::io::Write>(&self, writer: &mut W) -> std::io::Result<()> {
        self.node.write_to(writer)?;
        writer.write_all(self.value)
    }
}

/// A [`StoredNode`]'s node and the value bytes after it (empty but for a
/// leaf).
pub(super) fn split_stored(bytes: &[u8]) -> Result<(Node, &[u8]), TreeError> {
    let (node, value) = match bytes.first() {
        Some(1) if bytes.len() >= tree::LEAF_BYTES => bytes.split_at(tree::LEAF_BYTES),
        _ => (bytes, &[][..]),
    };
    Ok((Node::decode(node)?, value))
}

impl Db {
    /// A tree node from the database (not the recent nodes).
    pub(super) fn stored_node(&self, key: &NodeKey) -> Result<Option<Node>, DbError> {
        let raw = self
            .db
            .get_pinned_cf(self.cf(cf::TREE_NODES), encode(&TreeNodeKey(key)))?;
        match raw {
            None => Ok(None),
            Some(bytes) => split_stored(&bytes)
                .map(|(node, _)| Some(node))
                .map_err(|e| corrupt("tree_nodes", e)),
        }
    }
}

impl NodeReader for Db {
    fn node(&self, key: &NodeKey) -> Result<Option<Node>, TreeError> {
        if let Some(node) = self.recent_nodes().get(key) {
            return Ok(Some(node));
        }
        self.stored_node(key)
            .map_err(|e| TreeError::Backend(e.to_string()))
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

    fn tree_value(&self, version: Version, key: &KeyHash) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(Db::tree_value(self, version, key)?)
    }

    /// Read from the leaf's own entry: a snapshot's chunk does not walk
    /// the tree again for each of its leaves.
    fn leaf_value(
        &self,
        _version: Version,
        at: &NodeKey,
        key: &KeyHash,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.value_in_leaf(at, key)?)
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
        self.put_state(&mut batch, &update, None)?;
        self.db
            .write_opt(batch, &synced())
            .map_err(|e| StoreError::Backend(e.to_string()))?;
        // The version first, as `Db::commit_block` does.
        self.version.store(update.version, Ordering::SeqCst);
        self.state_cache.commit(update.values);
        Ok(())
    }
}

/// Tree nodes of the last versions: each version's nodes as the tree
/// wrote them, by path (an internal node shared with the writer, a leaf
/// copied), newest last, up to `RECENT_NODES_MAX` nodes in all (at least
/// `RECENT_VERSIONS_MIN` versions). A node key carries the version that
/// wrote it, so a lookup searches one version's nodes. Every block
/// rewrites the tree's upper levels and reads the nodes its keys last
/// changed, mostly a few blocks old: from here they cost one hash lookup,
/// not a RocksDB read and a decode (nor a binary search of the version's
/// nodes, which cost ~3% of a validator's CPU).
#[derive(Default)]
pub(super) struct RecentNodes {
    by_version: std::collections::VecDeque<(Version, PathMap)>,
    nodes: usize,
}

pub(super) type PathMap = std::collections::HashMap<tree::Path, Node, foldhash::fast::RandomState>;

impl RecentNodes {
    /// One version's nodes, by path, for [`RecentNodes::add`] (built
    /// before taking the lock).
    pub(super) fn index(written: impl IntoIterator<Item = (NodeKey, Node)>) -> PathMap {
        let written = written.into_iter();
        let mut by_path =
            PathMap::with_capacity_and_hasher(written.size_hint().0, Default::default());
        by_path.extend(written.map(|(key, node)| (key.path, node)));
        by_path
    }

    pub(super) fn add(&mut self, version: Version, by_path: PathMap) {
        // Versions arrive in order; a version added again (a block
        // rewritten after a restart) replaces everything from it on.
        while self.by_version.back().is_some_and(|(v, _)| *v >= version) {
            if let Some((_, batch)) = self.by_version.pop_back() {
                self.nodes -= batch.len();
            }
        }
        self.nodes += by_path.len();
        self.by_version.push_back((version, by_path));
        while self.by_version.len() > RECENT_VERSIONS_MIN && self.nodes > RECENT_NODES_MAX {
            if let Some((_, batch)) = self.by_version.pop_front() {
                self.nodes -= batch.len();
            }
        }
    }

    fn get(&self, key: &NodeKey) -> Option<Node> {
        let version = key.version;
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
        batch.get(&key.path).cloned()
    }
}

const RECENT_VERSIONS_MIN: usize = 4;

const RECENT_NODES_MAX: usize = 20_000;

#[cfg(test)]
mod tests {
    use super::*;
    use hutong_runtime::tree::Path;

    /// A node key from its nibbles.
    fn key(version: Version, nibbles: &[u8]) -> NodeKey {
        let mut packed = [0u8; 32];
        for (i, n) in nibbles.iter().enumerate() {
            packed[i / 2] |= if i % 2 == 0 { n << 4 } else { *n };
        }
        NodeKey {
            version,
            path: Path::from_parts(nibbles.len(), packed).unwrap(),
        }
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

//! State snapshots: the state tree of one version, read in key-hash
//! ranges, each with a Merkle range proof against the tree's root, and
//! restored chunk by chunk by a node that trusts nothing but that root.
//!
//! A chunk is a run of the tree's leaves (key hash and value bytes) in
//! ascending key-hash order, and a [`SparseMerkleRangeProof`]: the hashes
//! right of the path to the chunk's last leaf. With the leaves before it
//! (which the receiver has already checked), they rebuild the root. So a
//! receiver checks every chunk before it keeps it, and a peer that serves
//! a wrong value, leaves out a leaf or reorders them is caught at that
//! chunk ([`SnapshotError::BadChunk`]); the receiver then asks another
//! peer, from [`Restore::resume_after`].
//!
//! The tree is all a snapshot carries. The node reads state by key hash
//! (the tree's own values), so the leaves are what it needs to execute
//! the next block. The one index kept beside the tree, the transfer
//! idempotency records by sender and id, is rebuilt from the tree's
//! [`crate::state::StateKey::TransferBlock`] leaves
//! ([`crate::transfer::index_entries`]); the ledger remembers transfer ids
//! for a bounded time (see [`crate::transfer`]), so those leaves grow with
//! the traffic of that window, not with the chain's history.
//!
//! Restoring uses `jmt`'s restore, which builds the tree left to right and
//! writes each finished subtree as it goes (so memory stays bounded by the
//! tree's depth, not its size), through a [`RestoreTarget`]: a store that
//! can also say which leaf it wrote last, so that a restore broken by a
//! bad chunk (or a crash) resumes from what was written.

use std::sync::Arc;

use borsh::{BorshDeserialize, BorshSerialize};
use jmt::proof::SparseMerkleRangeProof;
use jmt::restore::{JellyfishMerkleRestore, StateSnapshotReceiver};
use jmt::storage::{LeafNode, Node, NodeBatch, NodeKey, TreeReader, TreeWriter};
use jmt::{JellyfishMerkleIterator, JellyfishMerkleTree, KeyHash, OwnedValue, RootHash, Version};
use sha2::Sha256;

use crate::crypto::Hash;

/// Most leaves in one chunk.
pub const CHUNK_ENTRIES_MAX: usize = 4_096;
/// Most bytes of values in one chunk (a chunk of this size is one
/// network message).
pub const CHUNK_BYTES_MAX: usize = 2 * 1024 * 1024;

/// A run of leaves and its range proof.
#[derive(Debug, Clone, PartialEq, BorshSerialize, BorshDeserialize)]
pub struct Chunk {
    /// Key hash and value bytes (a [`crate::state::StateValue`] encoding),
    /// ascending by key hash.
    pub entries: Vec<([u8; 32], Vec<u8>)>,
    pub proof: SparseMerkleRangeProof<Sha256>,
}

/// jmt's range proof is a list of hashes: its equality is an equivalence.
impl Eq for Chunk {}

impl Chunk {
    /// The last key hash, the one the next chunk starts after.
    pub fn last_key(&self) -> Option<[u8; 32]> {
        self.entries.last().map(|(k, _)| *k)
    }

    /// Bytes of values and keys, for bounds.
    pub fn bytes(&self) -> usize {
        self.entries.iter().map(|(_, v)| 32 + v.len()).sum()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// The chunk does not belong in the tree under the expected root: its
    /// leaves or its proof are wrong, out of order, or do not start where
    /// the restore stands. Nothing of it was kept; ask another peer.
    #[error("bad snapshot chunk: {0}")]
    BadChunk(String),
    /// The restore was finished before the tree was complete.
    #[error("the snapshot is incomplete: {0}")]
    Incomplete(String),
    /// The local store failed.
    #[error("snapshot store: {0}")]
    Store(String),
}

/// Reads the chunk of leaves of `version` that follows `after` (from the
/// first leaf when `None`): at most `max_entries` leaves and about
/// `max_bytes` bytes, at least one leaf. `None` when no leaf follows.
pub fn read_chunk<R: TreeReader>(
    reader: &R,
    version: Version,
    after: Option<[u8; 32]>,
    max_entries: usize,
    max_bytes: usize,
) -> Result<Option<Chunk>, SnapshotError> {
    let start = match after {
        None => [0u8; 32],
        Some(key) => match successor(key) {
            Some(next) => next,
            None => return Ok(None),
        },
    };
    let store = |e: anyhow::Error| SnapshotError::Store(format!("{e:#}"));
    let reader = Arc::new(Borrowed(reader));
    let iter = JellyfishMerkleIterator::new(Arc::clone(&reader), version, KeyHash(start))
        .map_err(store)?;
    let mut entries = Vec::new();
    let mut bytes = 0usize;
    for item in iter {
        let (key, value) = item.map_err(store)?;
        bytes = bytes.saturating_add(32 + value.len());
        entries.push((key.0, value));
        if entries.len() >= max_entries.max(1) || bytes >= max_bytes {
            break;
        }
    }
    let Some((last, _)) = entries.last() else {
        return Ok(None);
    };
    let proof = JellyfishMerkleTree::<_, Sha256>::new(reader.as_ref())
        .get_range_proof(KeyHash(*last), version)
        .map_err(store)?;
    Ok(Some(Chunk { entries, proof }))
}

/// The key hash right after `key`, `None` after the last one.
fn successor(mut key: [u8; 32]) -> Option<[u8; 32]> {
    for byte in key.iter_mut().rev() {
        if *byte == u8::MAX {
            *byte = 0;
        } else {
            *byte += 1;
            return Some(key);
        }
    }
    None
}

/// A reader borrowed for `jmt`'s iterator, which wants to own one.
struct Borrowed<'a, R>(&'a R);

impl<R: TreeReader> TreeReader for Borrowed<'_, R> {
    fn get_node_option(&self, node_key: &NodeKey) -> anyhow::Result<Option<Node>> {
        self.0.get_node_option(node_key)
    }

    fn get_value_option(
        &self,
        max_version: Version,
        key_hash: KeyHash,
    ) -> anyhow::Result<Option<OwnedValue>> {
        self.0.get_value_option(max_version, key_hash)
    }

    fn get_rightmost_leaf(&self) -> anyhow::Result<Option<(NodeKey, LeafNode)>> {
        self.0.get_rightmost_leaf()
    }
}

/// Where a restore writes: tree nodes and values, written once each
/// subtree is complete and checked. `get_rightmost_leaf` must name the
/// leaf written last (the one with the greatest key hash).
pub trait RestoreTarget: TreeReader + TreeWriter + Send + Sync + 'static {}

impl<T: TreeReader + TreeWriter + Send + Sync + 'static> RestoreTarget for T {}

/// A tree being restored at one version from chunks, each checked
/// against the expected root before anything of it is written.
pub struct Restore<D: RestoreTarget> {
    target: Arc<D>,
    version: Version,
    root: Hash,
    inner: JellyfishMerkleRestore<Sha256>,
    /// The key hash the next chunk must start after.
    after: Option<[u8; 32]>,
    leaves: u64,
}

impl<D: RestoreTarget> std::fmt::Debug for Restore<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Restore")
            .field("version", &self.version)
            .field("root", &self.root)
            .field("after", &self.after.map(Hash))
            .field("leaves", &self.leaves)
            .finish_non_exhaustive()
    }
}

impl<D: RestoreTarget> Restore<D> {
    /// Starts (or resumes, from what `target` holds) the restore of the
    /// tree of `version` whose root is `root`.
    pub fn new(target: Arc<D>, version: Version, root: Hash) -> Result<Restore<D>, SnapshotError> {
        let (inner, after) = Self::resume(&target, version, root)?;
        Ok(Restore {
            target,
            version,
            root,
            inner,
            after,
            leaves: 0,
        })
    }

    fn resume(
        target: &Arc<D>,
        version: Version,
        root: Hash,
    ) -> Result<(JellyfishMerkleRestore<Sha256>, Option<[u8; 32]>), SnapshotError> {
        let store = |e: anyhow::Error| SnapshotError::Store(format!("{e:#}"));
        let after = target
            .get_rightmost_leaf()
            .map_err(store)?
            .map(|(_, leaf)| leaf.key_hash().0);
        let inner = JellyfishMerkleRestore::new(Arc::clone(target), version, RootHash(root.0))
            .map_err(store)?;
        Ok((inner, after))
    }

    /// The key hash the next chunk must start after (`None`: from the
    /// first leaf).
    pub fn resume_after(&self) -> Option<[u8; 32]> {
        self.after
    }

    /// Leaves accepted by this restore (not counting those a resumed
    /// restore found written; leaves asked for again after a refused chunk
    /// count again).
    pub fn leaves(&self) -> u64 {
        self.leaves
    }

    /// Checks `chunk` and keeps it. A bad chunk leaves nothing behind: the
    /// restore goes back to what is written, and
    /// [`Restore::resume_after`] says where the next chunk must start
    /// (possibly before this chunk's start: leaves of earlier chunks that
    /// were not yet written are asked for again).
    pub fn add(&mut self, chunk: Chunk) -> Result<(), SnapshotError> {
        let Some(last) = chunk.last_key() else {
            return Err(SnapshotError::BadChunk("the chunk has no leaf".into()));
        };
        if chunk.entries.len() > CHUNK_ENTRIES_MAX {
            return Err(SnapshotError::BadChunk(format!(
                "{} leaves; a chunk has at most {CHUNK_ENTRIES_MAX}",
                chunk.entries.len()
            )));
        }
        let mut previous = self.after;
        for (key, _) in &chunk.entries {
            if previous.is_some_and(|p| *key <= p) {
                return Err(SnapshotError::BadChunk(
                    "its leaves do not follow the restore's last one in ascending key order".into(),
                ));
            }
            previous = Some(*key);
        }
        let leaves = chunk.entries.len() as u64;
        let entries = chunk
            .entries
            .into_iter()
            .map(|(k, v)| (KeyHash(k), v))
            .collect();
        let inner = &mut self.inner;
        let outcome = contain(|| inner.add_chunk(entries, chunk.proof));
        match outcome {
            Ok(()) => {
                self.after = Some(last);
                self.leaves += leaves;
                Ok(())
            }
            Err(why) => {
                // jmt's restore keeps the chunk's leaves in memory before it
                // checks the proof: start again from what is written.
                let (inner, after) = Self::resume(&self.target, self.version, self.root)?;
                self.inner = inner;
                self.after = after;
                Err(SnapshotError::BadChunk(why))
            }
        }
    }

    /// Writes the rest of the tree and checks that it is the whole tree:
    /// its root must be the expected one.
    pub fn finish(self) -> Result<(), SnapshotError> {
        if self.after.is_none() {
            return Err(SnapshotError::Incomplete("no leaf was restored".into()));
        }
        let inner = self.inner;
        contain(|| inner.finish()).map_err(SnapshotError::Incomplete)?;
        let root = JellyfishMerkleTree::<_, Sha256>::new(self.target.as_ref())
            .get_root_hash(self.version)
            .map_err(|e| SnapshotError::Incomplete(format!("{e:#}")))?;
        if root.0 != self.root.0 {
            return Err(SnapshotError::Incomplete(format!(
                "the restored tree's root is {}, not the expected {}",
                Hash(root.0),
                self.root
            )));
        }
        Ok(())
    }
}

/// Runs one of jmt's restore steps on data from a peer. jmt checks a
/// chunk's proof only after it has built the chunk into its partial tree,
/// and that building asserts invariants that a malicious chunk can break
/// (found by the `snapshot_chunks` fuzz target): such a panic is caught
/// here and reported as the chunk's fault, and the caller drops the
/// restore's in-memory state. Nothing outside that state is touched by
/// the panicking code (it writes only after the proof checks out).
fn contain<T>(step: impl FnOnce() -> anyhow::Result<T>) -> Result<T, String> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(step)) {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(format!("{e:#}")),
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            Err(format!(
                "the chunk breaks the tree's structure (the tree builder stopped: {what})"
            ))
        }
    }
}

/// A [`RestoreTarget`] in memory, for tests, benchmarks and tools: what
/// it holds can be read back as one [`NodeBatch`].
#[derive(Debug, Default)]
pub struct MemRestoreTarget {
    batch: std::sync::Mutex<NodeBatch>,
}

impl MemRestoreTarget {
    pub fn new() -> MemRestoreTarget {
        MemRestoreTarget::default()
    }

    /// Everything written: the tree's nodes and the values they refer to.
    pub fn into_batch(self) -> NodeBatch {
        self.batch
            .into_inner()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn with<T>(&self, f: impl FnOnce(&mut NodeBatch) -> T) -> T {
        let mut guard = self
            .batch
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        f(&mut guard)
    }
}

impl TreeReader for MemRestoreTarget {
    fn get_node_option(&self, node_key: &NodeKey) -> anyhow::Result<Option<Node>> {
        Ok(self.with(|b| b.nodes().get(node_key).cloned()))
    }

    fn get_value_option(
        &self,
        max_version: Version,
        key_hash: KeyHash,
    ) -> anyhow::Result<Option<OwnedValue>> {
        Ok(self.with(|b| {
            b.values()
                .iter()
                .rev()
                .find(|((v, k), _)| *k == key_hash && *v <= max_version)
                .and_then(|(_, v)| v.clone())
        }))
    }

    fn get_rightmost_leaf(&self) -> anyhow::Result<Option<(NodeKey, LeafNode)>> {
        Ok(self.with(|b| {
            b.nodes()
                .iter()
                .filter_map(|(k, n)| match n {
                    Node::Leaf(leaf) => Some((k.clone(), leaf.clone())),
                    _ => None,
                })
                .max_by_key(|(_, leaf)| leaf.key_hash())
        }))
    }
}

impl TreeWriter for MemRestoreTarget {
    fn write_node_batch(&self, node_batch: &NodeBatch) -> anyhow::Result<()> {
        self.with(|b| b.merge(node_batch.clone()));
        Ok(())
    }
}

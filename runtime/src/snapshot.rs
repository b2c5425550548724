//! State snapshots: the state tree of one version, read in key-hash
//! ranges, each with a proof against the tree's root, and restored chunk
//! by chunk by a node that trusts nothing but that root.
//!
//! A chunk is a run of the tree's leaves (key hash and value bytes) in
//! ascending key-hash order, and the proof of its last leaf
//! ([`TreeProof`]). With the leaves before it (which the receiver has
//! already checked), what that proof shows left of the leaf's path must
//! be what the leaves built, and the proof must lead to the root
//! ([`tree::Restore::check`]). So a receiver checks every chunk before it
//! keeps it, and a peer that serves a wrong value, leaves out a leaf or
//! reorders them is caught at that chunk ([`SnapshotError::BadChunk`]);
//! the receiver then asks another peer, from [`Restore::resume_after`].
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
//! Restoring builds the tree left to right and writes each finished
//! subtree as it goes (memory stays bounded by the tree's depth, not its
//! size), through a [`RestoreTarget`], which also keeps the restore's
//! progress with each chunk it writes: a restore started again on the same
//! target resumes from there.

use std::sync::Arc;

use borsh::{BorshDeserialize, BorshSerialize};

use crate::crypto::Hash;
use crate::store::{StateStore, Version};
use crate::tree::{self, KeyHash, Node, NodeKey, NodeReader, TreeError, TreeProof};

/// Most leaves in one chunk.
pub const CHUNK_ENTRIES_MAX: usize = 4_096;
/// Most bytes of values in one chunk (a chunk of this size is one
/// network message).
pub const CHUNK_BYTES_MAX: usize = 2 * 1024 * 1024;

/// A run of leaves and the proof of its last one.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Chunk {
    /// Key hash and value bytes (a [`crate::state::StateValue`] encoding),
    /// ascending by key hash.
    pub entries: Vec<([u8; 32], Vec<u8>)>,
    pub proof: TreeProof,
}

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

impl From<TreeError> for SnapshotError {
    fn from(e: TreeError) -> SnapshotError {
        SnapshotError::Store(e.to_string())
    }
}

/// Reads the chunk of leaves of `version` that follows `after` (from the
/// first leaf when `None`): at most `max_entries` leaves and about
/// `max_bytes` bytes, at least one leaf. `None` when no leaf follows.
pub fn read_chunk<R: StateStore + ?Sized>(
    reader: &R,
    version: Version,
    after: Option<[u8; 32]>,
    max_entries: usize,
    max_bytes: usize,
) -> Result<Option<Chunk>, SnapshotError> {
    let store = |e: crate::store::StoreError| SnapshotError::Store(e.to_string());
    let leaves = tree::leaf_nodes(reader, version, after.as_ref(), max_entries.max(1))?;
    let mut entries = Vec::with_capacity(leaves.len());
    let mut bytes = 0usize;
    for (at, key, value_hash) in leaves {
        let value = reader
            .leaf_value(version, &at, &key)
            .map_err(store)?
            .ok_or_else(|| {
                SnapshotError::Store(format!(
                    "the value of leaf {} at version {version} is missing",
                    Hash(key)
                ))
            })?;
        if tree::value_hash(&value) != value_hash {
            return Err(SnapshotError::Store(format!(
                "the value of leaf {} at version {version} is not the one the tree holds",
                Hash(key)
            )));
        }
        bytes = bytes.saturating_add(32 + value.len());
        entries.push((key, value));
        if bytes >= max_bytes {
            break;
        }
    }
    let Some((last, _)) = entries.last() else {
        return Ok(None);
    };
    let (_, proof) = tree::prove(reader, version, last)?;
    Ok(Some(Chunk { entries, proof }))
}

/// Where a restore writes.
pub trait RestoreTarget: Send + Sync + 'static {
    /// Writes one checked chunk's share of the tree of `version`: the
    /// nodes it completed, its leaves' values (key hash, bytes), and the
    /// restore's progress ([`tree::Restore::encode`]; empty once the tree
    /// is complete), all or nothing.
    fn write_restored(
        &self,
        version: Version,
        nodes: &[(NodeKey, Node)],
        values: &[(KeyHash, Vec<u8>)],
        progress: &[u8],
    ) -> Result<(), String>;

    /// The progress written last for a restore of `version` (`None`:
    /// nothing written yet, or another version's).
    fn restore_progress(&self, version: Version) -> Result<Option<Vec<u8>>, String>;
}

/// A tree being restored at one version from chunks, each checked
/// against the expected root before anything of it is written.
pub struct Restore<D: RestoreTarget> {
    target: Arc<D>,
    version: Version,
    root: Hash,
    tree: tree::Restore,
    leaves: u64,
}

impl<D: RestoreTarget> std::fmt::Debug for Restore<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Restore")
            .field("version", &self.version)
            .field("root", &self.root)
            .field("after", &self.resume_after().map(Hash))
            .field("leaves", &self.leaves)
            .finish_non_exhaustive()
    }
}

impl<D: RestoreTarget> Restore<D> {
    /// Starts (or resumes, from the progress `target` holds) the restore
    /// of the tree of `version` whose root is `root`.
    pub fn new(target: Arc<D>, version: Version, root: Hash) -> Result<Restore<D>, SnapshotError> {
        let tree = match target
            .restore_progress(version)
            .map_err(SnapshotError::Store)?
        {
            Some(bytes) if !bytes.is_empty() => {
                let tree = tree::Restore::decode(&bytes)?;
                if tree.version() != version {
                    return Err(SnapshotError::Store(format!(
                        "the restore in progress is of version {}, not {version}",
                        tree.version()
                    )));
                }
                tree
            }
            _ => tree::Restore::new(version),
        };
        Ok(Restore {
            target,
            version,
            root,
            tree,
            leaves: 0,
        })
    }

    /// The key hash the next chunk must start after (`None`: from the
    /// first leaf).
    pub fn resume_after(&self) -> Option<[u8; 32]> {
        self.tree.last().map(|(key, _)| *key)
    }

    /// Leaves accepted by this restore (not counting those a resumed
    /// restore found written).
    pub fn leaves(&self) -> u64 {
        self.leaves
    }

    /// Checks `chunk` and writes it. A bad chunk leaves nothing behind,
    /// and [`Restore::resume_after`] stays where it was.
    pub fn add(&mut self, chunk: Chunk) -> Result<(), SnapshotError> {
        if chunk.entries.is_empty() {
            return Err(SnapshotError::BadChunk("the chunk has no leaf".into()));
        }
        if chunk.entries.len() > CHUNK_ENTRIES_MAX {
            return Err(SnapshotError::BadChunk(format!(
                "{} leaves; a chunk has at most {CHUNK_ENTRIES_MAX}",
                chunk.entries.len()
            )));
        }
        let mut previous = self.resume_after();
        for (key, _) in &chunk.entries {
            if previous.is_some_and(|p| *key <= p) {
                return Err(SnapshotError::BadChunk(
                    "its leaves do not follow the restore's last one in ascending key order".into(),
                ));
            }
            previous = Some(*key);
        }
        let leaves: Vec<(KeyHash, tree::ValueHash)> = chunk
            .entries
            .iter()
            .map(|(key, value)| (*key, tree::value_hash(value)))
            .collect();
        // On a copy (at most 64 open nodes): a refused chunk changes
        // nothing.
        let mut next = self.tree.clone();
        next.add(&leaves)
            .map_err(|e| SnapshotError::BadChunk(e.to_string()))?;
        next.check(&self.root.0, &chunk.proof)
            .map_err(|e| SnapshotError::BadChunk(e.to_string()))?;
        let nodes = next.take_nodes();
        self.target
            .write_restored(self.version, &nodes, &chunk.entries, &next.encode())
            .map_err(SnapshotError::Store)?;
        self.tree = next;
        self.leaves += leaves.len() as u64;
        Ok(())
    }

    /// Writes the rest of the tree and checks that it is the whole tree:
    /// its root must be the expected one. When it is not (a peer stopped
    /// early), nothing is written and the restore goes on from where it
    /// stands.
    pub fn finish(&mut self) -> Result<(), SnapshotError> {
        if self.tree.last().is_none() {
            return Err(SnapshotError::Incomplete("no leaf was restored".into()));
        }
        let (root, nodes) = self.tree.clone().finish();
        if root != self.root.0 {
            return Err(SnapshotError::Incomplete(format!(
                "the tree restored so far has the root {}, not the expected {}",
                Hash(root),
                self.root
            )));
        }
        self.target
            .write_restored(self.version, &nodes, &[], &[])
            .map_err(SnapshotError::Store)
    }
}

/// A [`RestoreTarget`] in memory, for tests, benchmarks and tools.
#[derive(Debug, Default)]
pub struct MemRestoreTarget {
    written: std::sync::Mutex<MemRestored>,
}

#[derive(Debug, Default)]
struct MemRestored {
    nodes: Vec<(NodeKey, Node)>,
    values: Vec<(KeyHash, Vec<u8>)>,
    progress: Option<(Version, Vec<u8>)>,
}

impl MemRestoreTarget {
    pub fn new() -> MemRestoreTarget {
        MemRestoreTarget::default()
    }

    /// Everything written: the tree's nodes and the leaves' values.
    #[allow(clippy::type_complexity)]
    pub fn into_parts(self) -> (Vec<(NodeKey, Node)>, Vec<(KeyHash, Vec<u8>)>) {
        let written = self
            .written
            .into_inner()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        (written.nodes, written.values)
    }
}

impl RestoreTarget for MemRestoreTarget {
    fn write_restored(
        &self,
        version: Version,
        nodes: &[(NodeKey, Node)],
        values: &[(KeyHash, Vec<u8>)],
        progress: &[u8],
    ) -> Result<(), String> {
        let mut w = self
            .written
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        w.nodes.extend_from_slice(nodes);
        w.values.extend_from_slice(values);
        w.progress = Some((version, progress.to_vec()));
        Ok(())
    }

    fn restore_progress(&self, version: Version) -> Result<Option<Vec<u8>>, String> {
        let w = self
            .written
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        Ok(w.progress
            .as_ref()
            .filter(|(v, _)| *v == version)
            .map(|(_, p)| p.clone()))
    }
}

impl NodeReader for MemRestoreTarget {
    fn node(&self, key: &NodeKey) -> Result<Option<Node>, TreeError> {
        let w = self
            .written
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        Ok(w.nodes
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, n)| n.clone()))
    }
}

//! The state store seam, its in-memory implementation, and the state
//! commitment (a Jellyfish Merkle tree, the `jmt` crate).
//!
//! The runtime reads state through [`StateStore`] and never writes it
//! directly: execution returns the changes, [`prepare_commit`] turns them
//! into one [`StateUpdate`] (new values plus new tree nodes, with the new
//! root), and the store applies that update atomically. The node backs the
//! trait with RocksDB; tests and benchmarks use [`MemStore`].

use std::collections::{BTreeMap, HashMap};

use borsh::{BorshDeserialize, BorshSerialize};
use jmt::storage::{LeafNode, Node, NodeKey, TreeReader, TreeUpdateBatch};
use jmt::{JellyfishMerkleTree, KeyHash, OwnedValue, RootHash, Version};
use sha2::Sha256;

use crate::crypto::Hash;
use crate::state::{StateKey, StateValue};

/// A failure of the store underneath. Permanent from the runtime's point of
/// view: the caller treats a failed local read or write as fatal.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("state store: {0}")]
    Backend(String),
    #[error("state entry {key:?} is not a valid encoding: {reason}")]
    Corrupt { key: StateKey, reason: String },
    #[error("state tree: {0}")]
    Tree(String),
    #[error("commit of version {got} does not follow the latest version {latest:?}")]
    VersionGap { got: u64, latest: Option<u64> },
}

/// The storage the runtime needs: the latest value of each key, and the
/// nodes and versioned values of the state tree (through `jmt`'s reader).
pub trait StateStore: TreeReader {
    /// The latest committed value of `key`. A store that keeps bytes
    /// decodes them here and reports an undecodable entry as
    /// [`StoreError::Corrupt`].
    fn get(&self, key: &StateKey) -> Result<Option<StateValue>, StoreError>;

    /// The latest committed version (block height), `None` before genesis.
    fn latest_version(&self) -> Option<Version>;

    /// Applies an update atomically: after a crash the store holds all of it
    /// or none of it.
    fn apply(&mut self, update: StateUpdate) -> Result<(), StoreError>;
}

/// One block's effect on the state, ready to be written in one batch.
#[derive(Debug)]
pub struct StateUpdate {
    pub version: Version,
    pub root: Hash,
    /// New latest values (`None` deletes), in key-hash order.
    pub values: Vec<(StateKey, Option<StateValue>)>,
    /// New tree nodes and the versioned values the tree refers to.
    pub tree: TreeUpdateBatch,
}

/// Reads one typed value.
pub fn read_value<S: StateStore + ?Sized>(
    store: &S,
    key: &StateKey,
) -> Result<Option<StateValue>, StoreError> {
    store.get(key)
}

/// Computes the new state root for `changes` applied at `version`, and the
/// update that stores them. `changes` may come in any order; the result
/// depends only on the set of changes.
pub fn prepare_commit<S: StateStore>(
    store: &S,
    version: Version,
    changes: impl IntoIterator<Item = (StateKey, Option<StateValue>)>,
) -> Result<StateUpdate, StoreError> {
    let latest = store.latest_version();
    let follows = match latest {
        None => version == 0,
        Some(v) => Some(version) == v.checked_add(1),
    };
    if !follows {
        return Err(StoreError::VersionGap {
            got: version,
            latest,
        });
    }
    // Ordered by key hash, as the tree wants them; a key given twice keeps
    // its last value. Transfer records (the idempotency index) go to the
    // store but not into the tree: the tree holds them as one leaf per
    // block (`StateKey::TransferBlock`, written by execution), not one
    // leaf per transfer.
    let mut values: BTreeMap<[u8; 32], (StateKey, Option<StateValue>)> = BTreeMap::new();
    let mut records: BTreeMap<[u8; 32], (StateKey, Option<StateValue>)> = BTreeMap::new();
    for (key, value) in changes {
        match key {
            StateKey::TransferRecord(..) => records.insert(key.key_hash().0, (key, value)),
            _ => values.insert(key.key_hash().0, (key, value)),
        };
    }

    let deletes = values.values().any(|(_, v)| v.is_none());
    let path = if deletes || values.is_empty() {
        TreePath::PerKey
    } else {
        TreePath::Batch
    };
    let (root, batch) = update_tree(store, version, &values, path)?;
    let mut all = values;
    all.extend(records);
    Ok(StateUpdate {
        version,
        root: Hash(root.0),
        values: all.into_values().collect(),
        tree: batch,
    })
}

/// How the tree is updated. Both give the same tree and root; the batch
/// path hashes every changed node once and is about four times faster, but
/// jmt offers it for inserts and updates only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TreePath {
    PerKey,
    Batch,
}

fn update_tree<S: StateStore>(
    store: &S,
    version: Version,
    values: &BTreeMap<[u8; 32], (StateKey, Option<StateValue>)>,
    path: TreePath,
) -> Result<(RootHash, TreeUpdateBatch), StoreError> {
    let tree = JellyfishMerkleTree::<_, Sha256>::new(store);
    match path {
        TreePath::PerKey => tree.put_value_set(
            values
                .iter()
                .map(|(h, (_, v))| (KeyHash(*h), v.as_ref().map(StateValue::encode))),
            version,
        ),
        TreePath::Batch => {
            let set: Vec<(KeyHash, Vec<u8>)> = values
                .iter()
                .filter_map(|(h, (_, v))| v.as_ref().map(|v| (KeyHash(*h), v.encode())))
                .collect();
            tree.batch_put_value_sets(vec![set], None, version)
                .map(|(roots, batch)| (roots[0], batch))
        }
    }
    .map_err(|e| StoreError::Tree(format!("{e:#}")))
}

/// The state root at `version`.
pub fn state_root<S: StateStore>(store: &S, version: Version) -> Result<Hash, StoreError> {
    JellyfishMerkleTree::<_, Sha256>::new(store)
        .get_root_hash(version)
        .map(|r| Hash(r.0))
        .map_err(|e| StoreError::Tree(format!("{e:#}")))
}

/// A proof that a state key held a value (or was absent) under a state root.
/// Anyone can check it with [`StateProof::verify`], given only the root.
#[derive(Debug, BorshSerialize, BorshDeserialize)]
pub struct StateProof {
    pub key: StateKey,
    pub value: Option<StateValue>,
    pub proof: jmt::proof::SparseMerkleProof<Sha256>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("state proof for {key:?} does not verify against root {root}: {reason}")]
pub struct ProofError {
    pub key: StateKey,
    pub root: Hash,
    pub reason: String,
}

impl StateProof {
    pub fn verify(&self, root: &Hash) -> Result<(), ProofError> {
        let value = self.value.as_ref().map(|v| v.encode());
        self.proof
            .verify(RootHash(root.0), self.key.key_hash(), value)
            .map_err(|e| ProofError {
                key: self.key,
                root: *root,
                reason: format!("{e:#}"),
            })
    }
}

/// Proves the value of `key` at `version`. Transfer records are not leaves
/// of the tree (their block's [`StateKey::TransferBlock`] leaf holds
/// them), so they have no proof of their own.
pub fn prove<S: StateStore>(
    store: &S,
    key: StateKey,
    version: Version,
) -> Result<StateProof, StoreError> {
    if !key.in_tree() {
        return Err(StoreError::Tree(
            "transfer records are proven through their block's TransferBlock leaf, not one by one"
                .into(),
        ));
    }
    let (raw, proof) = JellyfishMerkleTree::<_, Sha256>::new(store)
        .get_with_proof(key.key_hash(), version)
        .map_err(|e| StoreError::Tree(format!("{e:#}")))?;
    let value = match raw {
        None => None,
        Some(bytes) => Some(
            borsh::from_slice::<StateValue>(bytes.as_slice()).map_err(|e| StoreError::Corrupt {
                key,
                reason: e.to_string(),
            })?,
        ),
    };
    Ok(StateProof { key, value, proof })
}

/// An in-memory state store for tests, benchmarks and tools. It keeps every
/// version (no pruning).
#[derive(Debug, Default, Clone)]
pub struct MemStore {
    latest: HashMap<StateKey, StateValue, foldhash::fast::RandomState>,
    nodes: HashMap<NodeKey, Node>,
    values: HashMap<KeyHash, BTreeMap<Version, Option<OwnedValue>>>,
    version: Option<Version>,
    /// Made from a snapshot: the tree's keys are known by their hashes
    /// only, so they are read from the tree's values, not `latest`.
    restored: bool,
}

impl MemStore {
    pub fn new() -> MemStore {
        MemStore::default()
    }

    /// The store of a tree restored from a snapshot (everything a
    /// [`crate::snapshot::MemRestoreTarget`] wrote for `version`), with the
    /// transfer record index rebuilt from the tree's leaves: it executes
    /// the next block as the store the snapshot was read from does.
    pub fn restored(
        batch: jmt::storage::NodeBatch,
        version: Version,
    ) -> Result<MemStore, StoreError> {
        let mut store = MemStore {
            restored: true,
            version: Some(version),
            ..MemStore::default()
        };
        for (key, node) in batch.nodes() {
            store.nodes.insert(key.clone(), node.clone());
        }
        for ((v, key_hash), value) in batch.values() {
            if let Some(bytes) = value {
                let decoded: StateValue = borsh::from_slice(bytes).map_err(|e| {
                    StoreError::Backend(format!("restored leaf {}: {e}", Hash(key_hash.0)))
                })?;
                for (key, entry) in crate::transfer::index_entries(&decoded) {
                    store.latest.insert(key, entry);
                }
            }
            store
                .values
                .entry(*key_hash)
                .or_default()
                .insert(*v, value.clone());
        }
        Ok(store)
    }

    /// Every latest entry, in a deterministic order (for tests and dumps;
    /// of a [restored](MemStore::restored) store, the index entries only).
    pub fn entries(&self) -> Vec<(StateKey, StateValue)> {
        let mut all: Vec<_> = self.latest.iter().map(|(k, v)| (*k, v.clone())).collect();
        all.sort_by_key(|(k, _)| *k);
        all
    }
}

impl TreeReader for MemStore {
    fn get_node_option(&self, node_key: &NodeKey) -> anyhow::Result<Option<Node>> {
        Ok(self.nodes.get(node_key).cloned())
    }

    fn get_value_option(
        &self,
        max_version: Version,
        key_hash: KeyHash,
    ) -> anyhow::Result<Option<OwnedValue>> {
        Ok(self
            .values
            .get(&key_hash)
            .and_then(|versions| versions.range(..=max_version).next_back())
            .and_then(|(_, v)| v.clone()))
    }

    fn get_rightmost_leaf(&self) -> anyhow::Result<Option<(NodeKey, LeafNode)>> {
        // Only used when restoring a tree from a snapshot, which Hutong does
        // not do through this store.
        Err(anyhow::anyhow!("MemStore does not support tree restore"))
    }
}

impl StateStore for MemStore {
    fn get(&self, key: &StateKey) -> Result<Option<StateValue>, StoreError> {
        if self.restored && key.in_tree() {
            let bytes = self
                .values
                .get(&key.key_hash())
                .and_then(|versions| versions.values().next_back())
                .and_then(|v| v.as_ref());
            return match bytes {
                None => Ok(None),
                Some(b) => borsh::from_slice(b)
                    .map(Some)
                    .map_err(|e| StoreError::Corrupt {
                        key: *key,
                        reason: e.to_string(),
                    }),
            };
        }
        Ok(self.latest.get(key).cloned())
    }

    fn latest_version(&self) -> Option<Version> {
        self.version
    }

    fn apply(&mut self, update: StateUpdate) -> Result<(), StoreError> {
        let follows = match self.version {
            None => update.version == 0,
            Some(v) => Some(update.version) == v.checked_add(1),
        };
        if !follows {
            return Err(StoreError::VersionGap {
                got: update.version,
                latest: self.version,
            });
        }
        for (key, value) in update.values {
            match value {
                Some(v) => self.latest.insert(key, v),
                None => self.latest.remove(&key),
            };
        }
        let batch = update.tree.node_batch;
        for (key, node) in batch.nodes() {
            self.nodes.insert(key.clone(), node.clone());
        }
        for ((version, key_hash), value) in batch.values() {
            self.values
                .entry(*key_hash)
                .or_default()
                .insert(*version, value.clone());
        }
        self.version = Some(update.version);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{Address, Amount, AssetCode};

    fn changes(round: u64) -> BTreeMap<[u8; 32], (StateKey, Option<StateValue>)> {
        let cny = AssetCode::new("CNY").unwrap();
        (0..300u64)
            .filter(|i| !(i + round).is_multiple_of(3))
            .map(|i| {
                let mut a = [0u8; 20];
                a[..8].copy_from_slice(&(i * 7919 % 1000).to_le_bytes());
                let key = StateKey::Balance(Address(a), cny);
                let value = StateValue::Balance(crate::state::Holding::of(Amount(u128::from(
                    i * round + 1,
                ))));
                (key.key_hash().0, (key, Some(value)))
            })
            .collect()
    }

    /// The batch path and the per-key path build the same tree, version
    /// after version.
    #[test]
    fn both_tree_paths_give_the_same_roots() {
        let mut stores = [MemStore::new(), MemStore::new()];
        for version in 0..6 {
            let set = changes(version);
            let mut roots = Vec::new();
            for (store, path) in stores.iter_mut().zip([TreePath::PerKey, TreePath::Batch]) {
                let (root, tree) = update_tree(store, version, &set, path).unwrap();
                roots.push(root);
                store
                    .apply(StateUpdate {
                        version,
                        root: Hash(root.0),
                        values: set.values().cloned().collect(),
                        tree,
                    })
                    .unwrap();
            }
            assert_eq!(roots[0], roots[1], "version {version}");
        }
    }

    fn record(sender: u8, id: u128, amount: u128) -> (StateKey, Option<StateValue>) {
        use crate::state::{TransferFields, TransferRecord};
        (
            StateKey::TransferRecord(Address([sender; 20]), crate::types::TransferId(id)),
            Some(StateValue::TransferRecord(TransferRecord {
                tx_hash: Hash([sender; 32]),
                fields: TransferFields::Single {
                    to: Address([9; 20]),
                    asset: AssetCode::new("CNY").unwrap(),
                    amount: Amount(amount),
                },
            })),
        )
    }

    fn commit(
        store: &mut MemStore,
        version: u64,
        changes: Vec<(StateKey, Option<StateValue>)>,
    ) -> Hash {
        let update = prepare_commit(store, version, changes).unwrap();
        let root = update.root;
        store.apply(update).unwrap();
        root
    }

    /// Transfer records (the idempotency index) are stored but are not
    /// tree leaves: execution writes them into the tree as one
    /// `TransferBlock` leaf per block, so the index alone leaves the root
    /// and the tree as they are.
    #[test]
    fn transfer_records_are_an_index_outside_the_tree() {
        let mut a = MemStore::new();
        let r0 = commit(&mut a, 0, changes(1).into_values().collect());
        let nodes_before = a.nodes.len();
        let r1 = commit(&mut a, 1, (0..500).map(|i| record(1, i, 5)).collect());
        assert_eq!(r0, r1);
        assert!(a.nodes.len() - nodes_before < 10);
        assert!(matches!(
            a.get(&record(1, 3, 5).0),
            Ok(Some(StateValue::TransferRecord(_)))
        ));
        // A record has no proof of its own.
        assert!(prove(&a, record(1, 3, 5).0, 1).is_err());
    }
}

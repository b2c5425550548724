//! The state store seam, its in-memory implementation, and the state
//! commitment (the state tree of [`crate::tree`]).
//!
//! The runtime reads state through [`StateStore`] and never writes it
//! directly: execution returns the changes, [`prepare_commit`] turns them
//! into one [`StateUpdate`] (new values plus new tree nodes, with the new
//! root), and the store applies that update atomically. The node backs the
//! trait with RocksDB; tests and benchmarks use [`MemStore`].

use std::collections::{BTreeMap, HashMap};

use borsh::{BorshDeserialize, BorshSerialize};

use crate::crypto::Hash;
use crate::state::{StateKey, StateValue};
use crate::tree::{self, KeyHash, Node, NodeKey, NodeReader, TreeError, TreeProof, TreeUpdate};

/// A version of the state: the height of the block that made it.
pub type Version = u64;

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

impl From<TreeError> for StoreError {
    fn from(e: TreeError) -> StoreError {
        StoreError::Tree(e.to_string())
    }
}

/// The storage the runtime needs: the latest value of each key, and the
/// nodes and versioned values of the state tree.
pub trait StateStore: NodeReader {
    /// The latest committed value of `key`. A store that keeps bytes
    /// decodes them here and reports an undecodable entry as
    /// [`StoreError::Corrupt`].
    fn get(&self, key: &StateKey) -> Result<Option<StateValue>, StoreError>;

    /// The latest committed version (block height), `None` before genesis.
    fn latest_version(&self) -> Option<Version>;

    /// The value bytes of a tree key as of `version` (its newest value at
    /// or below it); `None`: absent or deleted then.
    fn tree_value(&self, version: Version, key: &KeyHash) -> Result<Option<Vec<u8>>, StoreError>;

    /// The value bytes of `key`, whose leaf at `version` is the node `at`
    /// (as [`tree::leaf_nodes`] found it). By default its value at
    /// `version`; a store that keeps a leaf's value with it reads it there
    /// without walking the tree again.
    fn leaf_value(
        &self,
        version: Version,
        at: &NodeKey,
        key: &KeyHash,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let _ = at;
        self.tree_value(version, key)
    }

    /// Applies an update atomically: after a crash the store holds all of it
    /// or none of it.
    fn apply(&mut self, update: StateUpdate) -> Result<(), StoreError>;
}

/// One block's effect on the state, ready to be written in one batch.
#[derive(Debug)]
pub struct StateUpdate {
    pub version: Version,
    pub root: Hash,
    /// New latest values (`None` deletes), one per key: the tree's keys
    /// in key-hash order, then transfer records in key order.
    pub values: Vec<(StateKey, Option<StateValue>)>,
    /// New tree nodes, and the nodes of earlier versions this one no
    /// longer reaches.
    pub tree: TreeUpdate,
    /// The tree keys' value bytes at this version (`None`: deleted),
    /// ascending by key hash.
    pub tree_values: Vec<(KeyHash, Option<Vec<u8>>)>,
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
pub fn prepare_commit<S: StateStore + ?Sized>(
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
    // Tree keys ordered by key hash, as the tree wants them; a key given
    // twice keeps its last value. Transfer records (the idempotency index)
    // go to the store but not into the tree: the tree holds them as one
    // leaf per block (`StateKey::TransferBlock`, written by execution),
    // not one leaf per transfer; they need no key hash (a SHA-256 each)
    // and are kept by key. Sorted vectors, not maps: one allocation each.
    let mut keyed: Vec<(KeyHash, StateKey, Option<StateValue>)> = Vec::new();
    let mut records: Vec<(StateKey, Option<StateValue>)> = Vec::new();
    for (key, value) in changes {
        match key {
            StateKey::TransferRecord(..) => records.push((key, value)),
            _ => keyed.push((key.key_hash(), key, value)),
        }
    }
    // Stable sorts: of a key's values, the last given stays last.
    keyed.sort_by_key(|a| a.0);
    keep_last(&mut keyed, |a, b| a.0 == b.0);
    records.sort_by_key(|a| a.0);
    keep_last(&mut records, |a, b| a.0 == b.0);
    let mut changes = Vec::with_capacity(keyed.len());
    let mut tree_values = Vec::with_capacity(keyed.len());
    let mut values = Vec::with_capacity(keyed.len() + records.len());
    for (hash, key, value) in keyed {
        let bytes = value.as_ref().map(StateValue::encode);
        changes.push((hash, bytes.as_deref().map(tree::value_hash)));
        tree_values.push((hash, bytes));
        values.push((key, value));
    }
    let tree = tree::update(store, latest, version, &changes)?;
    values.extend(records);
    Ok(StateUpdate {
        version,
        root: Hash(tree.root),
        values,
        tree,
        tree_values,
    })
}

/// Of each run of neighbours `same` calls equal, keeps only the last.
fn keep_last<T>(items: &mut Vec<T>, same: impl Fn(&T, &T) -> bool) {
    if items.windows(2).all(|w| !same(&w[0], &w[1])) {
        return;
    }
    let mut kept: Vec<T> = Vec::with_capacity(items.len());
    for item in items.drain(..) {
        match kept.last_mut() {
            Some(last) if same(last, &item) => *last = item,
            _ => kept.push(item),
        }
    }
    *items = kept;
}

/// The state root at `version`.
pub fn state_root<S: StateStore + ?Sized>(store: &S, version: Version) -> Result<Hash, StoreError> {
    Ok(Hash(tree::root_hash(store, version)?))
}

/// A proof that a state key held a value (or was absent) under a state root.
/// Anyone can check it with [`StateProof::verify`], given only the root.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct StateProof {
    pub key: StateKey,
    pub value: Option<StateValue>,
    pub proof: TreeProof,
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
        let value = self.value.as_ref().map(|v| tree::value_hash(&v.encode()));
        self.proof
            .verify(&root.0, &self.key.key_hash(), value.as_ref())
            .map_err(|e| ProofError {
                key: self.key,
                root: *root,
                reason: e.to_string(),
            })
    }
}

/// Proves the value of `key` at `version`. Transfer records are not leaves
/// of the tree (their block's [`StateKey::TransferBlock`] leaf holds
/// them), so they have no proof of their own.
pub fn prove<S: StateStore + ?Sized>(
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
    let hash = key.key_hash();
    let (found, proof) = tree::prove(store, version, &hash)?;
    let value = match found {
        None => None,
        Some(value_hash) => {
            let corrupt = |reason: String| StoreError::Corrupt { key, reason };
            let bytes = store.tree_value(version, &hash)?.ok_or_else(|| {
                corrupt(format!(
                    "the tree holds it at version {version} but its value is missing"
                ))
            })?;
            if tree::value_hash(&bytes) != value_hash {
                return Err(corrupt(format!(
                    "its value at version {version} is not the one the tree holds"
                )));
            }
            Some(borsh::from_slice::<StateValue>(&bytes).map_err(|e| corrupt(e.to_string()))?)
        }
    };
    Ok(StateProof { key, value, proof })
}

/// An in-memory state store for tests, benchmarks and tools. It keeps every
/// version (no pruning).
#[derive(Debug, Default, Clone)]
pub struct MemStore {
    latest: HashMap<StateKey, StateValue, foldhash::fast::RandomState>,
    nodes: HashMap<NodeKey, Node, foldhash::fast::RandomState>,
    values: HashMap<KeyHash, BTreeMap<Version, Option<Vec<u8>>>, foldhash::fast::RandomState>,
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
        nodes: Vec<(NodeKey, Node)>,
        values: Vec<(KeyHash, Vec<u8>)>,
        version: Version,
    ) -> Result<MemStore, StoreError> {
        let mut store = MemStore {
            restored: true,
            version: Some(version),
            ..MemStore::default()
        };
        store.nodes.extend(nodes);
        for (key_hash, bytes) in values {
            let decoded: StateValue = borsh::from_slice(&bytes).map_err(|e| {
                StoreError::Backend(format!("restored leaf {}: {e}", Hash(key_hash)))
            })?;
            for (key, entry) in crate::transfer::index_entries(&decoded) {
                store.latest.insert(key, entry);
            }
            store
                .values
                .entry(key_hash)
                .or_default()
                .insert(version, Some(bytes));
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

impl NodeReader for MemStore {
    fn node(&self, key: &NodeKey) -> Result<Option<Node>, TreeError> {
        Ok(self.nodes.get(key).cloned())
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

    fn tree_value(&self, version: Version, key: &KeyHash) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .values
            .get(key)
            .and_then(|versions| versions.range(..=version).next_back())
            .and_then(|(_, v)| v.clone()))
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
        self.nodes.extend(update.tree.nodes);
        for (key_hash, value) in update.tree_values {
            self.values
                .entry(key_hash)
                .or_default()
                .insert(update.version, value);
        }
        self.version = Some(update.version);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{Address, Amount, AssetCode};

    fn changes(round: u64) -> BTreeMap<KeyHash, (StateKey, Option<StateValue>)> {
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
                (key.key_hash(), (key, Some(value)))
            })
            .collect()
    }

    /// Values written, changed and deleted through `prepare_commit`: each
    /// version's proofs show that version's values (or their absence),
    /// verify against its root only, and carry the values.
    #[test]
    fn state_proofs_show_each_versions_values() {
        let mut store = MemStore::new();
        let mut versions = Vec::new();
        let mut now: BTreeMap<StateKey, StateValue> = BTreeMap::new();
        for version in 0..6u64 {
            let mut set: Vec<_> = changes(version).into_values().collect();
            if version > 0 {
                for (_, value) in set.iter_mut().step_by(4) {
                    *value = None;
                }
            }
            for (key, value) in &set {
                match value {
                    Some(v) => now.insert(*key, v.clone()),
                    None => now.remove(key),
                };
            }
            let root = commit(&mut store, version, set);
            versions.push((root, now.clone()));
        }
        for (version, (root, values)) in versions.iter().enumerate() {
            for (key, _) in changes(0).into_values().chain(changes(1).into_values()) {
                let proof = prove(&store, key, version as u64).unwrap();
                assert_eq!(
                    proof.value.as_ref(),
                    values.get(&key),
                    "{key:?} at {version}"
                );
                proof.verify(root).unwrap();
                if let Some((other, _)) = versions.get(version + 1) {
                    if other != root {
                        assert!(proof.verify(other).is_err());
                    }
                }
            }
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

    /// A key given twice keeps the last value given, for tree keys and
    /// transfer records alike, whatever the order of the other changes.
    #[test]
    fn a_key_given_twice_keeps_its_last_value() {
        let once: Vec<_> = changes(2).into_values().collect();
        let (key, last) = once[17].clone();
        let mut twice = once.clone();
        twice.reverse();
        twice.insert(3, (key, None));
        twice.insert(40, (key, once[5].1.clone()));
        twice.push((key, last));
        twice.push(record(4, 1, 5));
        twice.insert(0, record(4, 1, 99));
        twice.insert(9, record(3, 1, 7));
        let mut expected = once;
        expected.push(record(4, 1, 5));
        expected.push(record(3, 1, 7));
        let a = prepare_commit(&MemStore::new(), 0, twice).unwrap();
        let b = prepare_commit(&MemStore::new(), 0, expected).unwrap();
        assert_eq!(a.root, b.root);
        assert_eq!(a.values, b.values);
        assert_eq!(a.tree_values, b.tree_values);
        assert_eq!(
            a.values.iter().filter(|(k, _)| *k == key).count(),
            1,
            "one value per key"
        );
        assert!(a.values.contains(&record(4, 1, 5)));
        assert!(!a.values.contains(&record(4, 1, 99)));
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

//! The write-back cache that execution works in.

use std::collections::hash_map::Entry;
use std::collections::HashMap;

use crate::state::{StateKey, StateValue};
use crate::store::{StateStore, StoreError};

/// A write-back cache over the store with a journal, so one transaction's
/// writes can be undone when it fails half-way.
pub(crate) struct Overlay<'s, S: ?Sized> {
    store: &'s S,
    /// A hash map for speed; its iteration order never reaches the state:
    /// the changes are sorted before they leave ([`Overlay::into_changes`]).
    /// The hasher is seeded per process, so transfer ids chosen to collide
    /// cannot slow execution down.
    cache: HashMap<StateKey, Slot, foldhash::fast::RandomState>,
    journal: Vec<(StateKey, Option<Slot>)>,
}

#[derive(Clone)]
struct Slot {
    value: Option<StateValue>,
    dirty: bool,
}

impl<'s, S: StateStore + ?Sized> Overlay<'s, S> {
    /// Sized for a block of `txs` transactions (a transfer touches about
    /// six entries), so the map does not rehash while the block runs.
    pub(crate) fn new(store: &'s S, txs: usize) -> Self {
        Overlay {
            store,
            cache: HashMap::with_capacity_and_hasher(
                txs.saturating_mul(6).min(1 << 20),
                foldhash::fast::RandomState::default(),
            ),
            journal: Vec::new(),
        }
    }

    pub(crate) fn get(&mut self, key: &StateKey) -> Result<Option<StateValue>, StoreError> {
        match self.cache.entry(*key) {
            Entry::Occupied(slot) => Ok(slot.get().value.clone()),
            Entry::Vacant(slot) => {
                let value = self.store.get(key)?;
                slot.insert(Slot {
                    value: value.clone(),
                    dirty: false,
                });
                Ok(value)
            }
        }
    }

    pub(crate) fn put(&mut self, key: StateKey, value: Option<StateValue>) {
        let old = self.cache.insert(key, Slot { value, dirty: true });
        self.journal.push((key, old));
    }

    pub(crate) fn rollback(&mut self, mark: usize) {
        while self.journal.len() > mark {
            let (key, old) = self.journal.pop().expect("journal length checked above");
            match old {
                Some(slot) => self.cache.insert(key, slot),
                None => self.cache.remove(&key),
            };
        }
    }

    pub(crate) fn release(&mut self) {
        self.journal.clear();
    }

    pub(crate) fn into_changes(self) -> Vec<(StateKey, Option<StateValue>)> {
        let mut entries: Vec<(StateKey, Option<StateValue>)> = self
            .cache
            .into_iter()
            .filter(|(_, slot)| slot.dirty)
            .map(|(k, slot)| (k, slot.value))
            .collect();
        // Sort small (key, index) pairs rather than the large entries, then
        // move each entry once. Keys are unique, so the order is total.
        let mut order: Vec<(StateKey, usize)> = entries
            .iter()
            .enumerate()
            .map(|(i, (k, _))| (*k, i))
            .collect();
        order.sort_unstable();
        order
            .into_iter()
            .map(|(key, i)| (key, entries[i].1.take()))
            .collect()
    }
}

//! Leaf utilities every part of the node uses.

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, MutexGuard};

/// Hash maps and sets keyed by hashes and addresses on the admission and
/// block paths. Seeded per process, like the runtime's overlay, so keys
/// chosen to collide cannot slow a node down. Never iterated into
/// anything that must agree across nodes.
pub type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;
pub type FastSet<T> = HashSet<T, foldhash::fast::RandomState>;

/// Locks a mutex, recovering the data if a task panicked while holding
/// it (the panic itself is reported where it happened).
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

//! A bounded cache of the latest state values, in front of RocksDB.
//!
//! Execution reads every sender's account, balances and daily outflow for
//! every transfer, and admission and block building read accounts again;
//! from RocksDB each such read is a memtable skip-list search (cache
//! misses all the way down), a copy and a decode. This cache keeps the
//! decoded values of recently read or written keys.
//!
//! It is exact, never stale: only the executor writes state, and it tells
//! the cache every value it wrote ([`StateCache::commit`]) once the write
//! is durable. A reader that missed fills the cache with what it read
//! only if no commit happened since it looked ([`Stamp`]), so a value read
//! just before a commit can never land in the cache after it.
//!
//! Bounded by entry count in two generations: new entries go into the
//! young one; when it is full, it becomes the old one and the old one is
//! dropped. A hit in the old generation moves the entry back to the young
//! one. At most `2 × capacity` entries are held.
//!
//! Transfer records are never cached: each is written once and almost
//! never read again (only by a retry of the same transfer id), so caching
//! them would only push the hot accounts out. Nor are a block's records
//! as the tree holds them (`StateKey::TransferBlock`, up to a megabyte
//! each, read once when they are forgotten): the bound is by entry count,
//! and such entries would make it a bound of gigabytes.

use std::collections::HashMap;
use std::sync::Mutex;

use hutong_runtime::state::{StateKey, StateValue};

type Map = HashMap<StateKey, Option<StateValue>, foldhash::fast::RandomState>;

/// Entries per generation by default. At an estimated ~200 bytes per
/// entry (key, value and map overhead; not measured), the two generations
/// together hold under ~50 MiB; a holding with open holds is larger (up to
/// ~3.3 KB with 32), so a cache full of such holdings would hold more (a
/// bound by bytes is a lever for issue 28).
pub const DEFAULT_CAPACITY: usize = 120_000;

/// What a lookup found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// The latest value (`None`: the key holds nothing).
    Hit(Option<StateValue>),
    /// Not cached; read the store, then offer the value with this stamp.
    Miss(Stamp),
}

/// The commit count at a miss: a fill is taken only if no commit happened
/// in between.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp(u64);

#[derive(Debug)]
pub struct StateCache {
    inner: Mutex<Inner>,
}

#[derive(Debug)]
struct Inner {
    commits: u64,
    capacity: usize,
    young: Map,
    old: Map,
    hits: u64,
    misses: u64,
}

/// Counters for the metrics endpoint.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    pub entries: u64,
    pub hits: u64,
    pub misses: u64,
}

fn cacheable(key: &StateKey) -> bool {
    !matches!(
        key,
        StateKey::TransferRecord(..) | StateKey::TransferBlock(..)
    )
}

impl Inner {
    fn insert(&mut self, key: StateKey, value: Option<StateValue>) {
        if self.young.len() >= self.capacity && !self.young.contains_key(&key) {
            self.old = std::mem::replace(
                &mut self.young,
                Map::with_capacity_and_hasher(self.capacity, Default::default()),
            );
        }
        self.young.insert(key, value);
    }
}

impl StateCache {
    /// A cache of at most `2 × capacity` entries (`capacity` ≥ 1).
    pub fn new(capacity: usize) -> StateCache {
        let capacity = capacity.max(1);
        StateCache {
            inner: Mutex::new(Inner {
                commits: 0,
                capacity,
                young: Map::with_capacity_and_hasher(capacity.min(1 << 16), Default::default()),
                old: Map::default(),
                hits: 0,
                misses: 0,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // The cache holds no invariant a panicking holder could break
        // half-way that a later reader would trust: every entry is a
        // complete value.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn get(&self, key: &StateKey) -> Lookup {
        let mut inner = self.lock();
        if !cacheable(key) {
            return Lookup::Miss(Stamp(inner.commits));
        }
        if let Some(value) = inner.young.get(key) {
            let value = value.clone();
            inner.hits += 1;
            return Lookup::Hit(value);
        }
        if let Some(value) = inner.old.remove(key) {
            inner.hits += 1;
            inner.insert(*key, value.clone());
            return Lookup::Hit(value);
        }
        inner.misses += 1;
        Lookup::Miss(Stamp(inner.commits))
    }

    /// Offers the value a reader found in the store after a miss. Taken
    /// only if nothing was committed since the miss.
    pub fn fill(&self, stamp: Stamp, key: &StateKey, value: &Option<StateValue>) {
        if !cacheable(key) {
            return;
        }
        let mut inner = self.lock();
        if inner.commits == stamp.0 {
            inner.insert(*key, value.clone());
        }
    }

    /// Records values just made durable, and invalidates every fill that
    /// started before. Call after the write, never before: a reader must
    /// not see a value the store could still lose.
    pub fn commit(&self, written: impl IntoIterator<Item = (StateKey, Option<StateValue>)>) {
        let mut inner = self.lock();
        inner.commits += 1;
        for (key, value) in written {
            if cacheable(&key) {
                inner.insert(key, value);
            }
        }
    }

    pub fn stats(&self) -> CacheStats {
        let inner = self.lock();
        CacheStats {
            entries: (inner.young.len() + inner.old.len()) as u64,
            hits: inner.hits,
            misses: inner.misses,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hutong_runtime::state::Holding;
    use hutong_runtime::types::{Address, Amount, AssetCode, TransferId};

    fn balance(i: u8) -> StateKey {
        StateKey::Balance(
            Address([i; 20]),
            AssetCode::new("CNY").expect("a valid code"),
        )
    }

    #[test]
    fn a_fill_from_before_a_commit_is_dropped() {
        let cache = StateCache::new(8);
        let key = balance(1);
        let Lookup::Miss(stamp) = cache.get(&key) else {
            panic!("empty cache hit");
        };
        // The reader read 5 from the store; meanwhile a block wrote 7.
        cache.commit([(key, Some(StateValue::Balance(Holding::of(Amount(7)))))]);
        cache.fill(
            stamp,
            &key,
            &Some(StateValue::Balance(Holding::of(Amount(5)))),
        );
        assert_eq!(
            cache.get(&key),
            Lookup::Hit(Some(StateValue::Balance(Holding::of(Amount(7)))))
        );
    }

    #[test]
    fn a_fill_with_no_commit_in_between_is_kept_and_deletes_are_cached() {
        let cache = StateCache::new(8);
        let key = balance(2);
        let Lookup::Miss(stamp) = cache.get(&key) else {
            panic!("empty cache hit");
        };
        cache.fill(stamp, &key, &None);
        assert_eq!(cache.get(&key), Lookup::Hit(None));
        cache.commit([(key, Some(StateValue::Balance(Holding::of(Amount(3)))))]);
        cache.commit([(key, None)]);
        assert_eq!(cache.get(&key), Lookup::Hit(None));
    }

    #[test]
    fn transfer_records_are_never_cached() {
        let cache = StateCache::new(8);
        for key in [
            StateKey::TransferRecord(Address([3; 20]), TransferId(9)),
            StateKey::TransferBlock(7),
        ] {
            cache.commit([(key, None)]);
            let Lookup::Miss(stamp) = cache.get(&key) else {
                panic!("{key:?} was cached");
            };
            cache.fill(stamp, &key, &None);
            assert!(matches!(cache.get(&key), Lookup::Miss(_)));
        }
    }

    #[test]
    fn it_holds_at_most_two_generations_and_keeps_what_is_used() {
        let capacity = 16;
        let cache = StateCache::new(capacity);
        let hot = balance(0);
        cache.commit([(hot, Some(StateValue::Balance(Holding::of(Amount(1)))))]);
        for i in 1..=200u8 {
            cache.commit([(
                balance(i),
                Some(StateValue::Balance(Holding::of(Amount(i.into())))),
            )]);
            // Touching the hot key keeps it in the young generation.
            assert_eq!(
                cache.get(&hot),
                Lookup::Hit(Some(StateValue::Balance(Holding::of(Amount(1))))),
                "hot key lost after {i} inserts"
            );
            assert!(cache.stats().entries as usize <= 2 * capacity);
        }
        // A key written long ago and never read again is gone.
        assert!(matches!(cache.get(&balance(1)), Lookup::Miss(_)));
    }
}

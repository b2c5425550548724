//! The node's RocksDB database: the runtime's state store (latest values
//! and the Jellyfish Merkle tree), committed blocks with their certificates
//! and receipts, the transaction index, consensus safety data and the
//! uncommitted blocks consensus keeps.
//!
//! Atomicity: a committed block, its receipts, its state changes, its tree
//! nodes and its indexes go into one [`WriteBatch`] written with the WAL
//! synced ([`Db::commit_block`]); a crash leaves the node before or after
//! the block, never between. Safety data is written synced before the vote
//! it guards leaves the node ([`Db::put_safety`]).

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use borsh::{BorshDeserialize, BorshSerialize};
use hutong_consensus::safety::SafetyData;
use hutong_consensus::types::{Block, BlockId, QuorumCert};
use hutong_runtime::crypto::Hash;
use hutong_runtime::state::{StateKey, StateValue};
use hutong_runtime::store::{StateStore, StateUpdate, StoreError};
use hutong_runtime::{Address, ChainId, FailureReason, Outcome, Receipt};
use jmt::storage::{LeafNode, Node, NodeBatch, NodeKey, TreeReader};
use jmt::{KeyHash, OwnedValue, Version};
use rocksdb::{ColumnFamilyDescriptor, Direction, IteratorMode, Options, WriteBatch, WriteOptions};

use crate::audit::{AuditWrite, Edge, EDGE_KEY_BYTES};
use crate::payload::Payload;
use crate::state_cache::{self, CacheStats, Lookup, StateCache};

/// Column families, by kind.
mod cf {
    /// `chain_id`, `format`, `executed` ([`super::Executed`]),
    /// `state_version`.
    pub const META: &str = "meta";
    /// Block id → [`super::StoredBlock`], committed or not.
    pub const BLOCKS: &str = "blocks";
    /// Height (big-endian) → block id, committed blocks only.
    pub const HEIGHTS: &str = "heights";
    /// Height (big-endian) → the certificate that committed the block at
    /// that height, for the last block of each committed run.
    pub const CERTS: &str = "certs";
    /// Transaction hash → [`super::TxLocation`].
    pub const TXS: &str = "txs";
    /// Height (big-endian) → the block's receipts, in order.
    pub const RECEIPTS: &str = "receipts";
    /// State key (borsh) → latest state value (borsh), for the keys that
    /// are not leaves of the state tree: transfer records. The latest
    /// value of every other key is its newest entry in [`TREE_VALUES`]
    /// (written there for the tree anyway: keeping a second copy here cost
    /// a quarter of each block's entries).
    pub const STATE: &str = "state";
    /// Tree node key (borsh) → tree node (borsh).
    pub const TREE_NODES: &str = "tree_nodes";
    /// Key hash ‖ version (big-endian) → the value the tree refers to.
    pub const TREE_VALUES: &str = "tree_values";
    /// `safety` → consensus safety data.
    pub const SAFETY: &str = "safety";
    /// Height (big-endian) → [`super::Executed`] of that block.
    pub const RESULTS: &str = "results";
    /// Height (big-endian) ‖ block id → nothing: the blocks consensus
    /// stored that are not committed yet. A commit at height h drops the
    /// entries up to h and deletes the blocks among them that lost (forks
    /// can never commit once their height is committed); a restart reads
    /// the rest without scanning the whole chain.
    pub const PENDING: &str = "pending";
    /// Regulator only. Height ‖ index ‖ leg → [`crate::audit::Edge`]:
    /// every leg of every committed transaction, in ledger order.
    pub const AUDIT_EDGES: &str = "audit_edges";
    /// Regulator only. Address ‖ height ‖ index ‖ leg → nothing: the legs
    /// that touch an account (sent or received), in ledger order.
    pub const AUDIT_ACCOUNTS: &str = "audit_accounts";
    /// Regulator only. Alert id (big-endian) → [`crate::audit::Alert`]
    /// (JSON).
    pub const AUDIT_ALERTS: &str = "audit_alerts";
    /// Regulator only. Height (big-endian) → the height of the first
    /// committed block whose payload certifies that height's execution
    /// result.
    pub const AUDIT_CLAIMS: &str = "audit_claims";
    /// Regulator only. Sequence number (big-endian) → one entry of the
    /// hash-chained log of audit queries (JSON).
    pub const AUDIT_LOG: &str = "audit_log";

    pub const ALL: [&str; 17] = [
        META,
        BLOCKS,
        HEIGHTS,
        CERTS,
        TXS,
        RECEIPTS,
        STATE,
        TREE_NODES,
        TREE_VALUES,
        SAFETY,
        RESULTS,
        PENDING,
        AUDIT_EDGES,
        AUDIT_ACCOUNTS,
        AUDIT_ALERTS,
        AUDIT_CLAIMS,
        AUDIT_LOG,
    ];
}

/// RocksDB's block cache, shared by every column family.
const BLOCK_CACHE_BYTES: usize = 256 * 1024 * 1024;

/// One memtable of one column family, and all memtables together.
const MEMTABLE_BYTES: usize = 32 * 1024 * 1024;
const MEMTABLES_TOTAL_BYTES: usize = 128 * 1024 * 1024;

/// The on-disk format; a node refuses a database of another format.
/// 6: tree keys' latest values are read from `tree_values` only.
const FORMAT: u32 = 6;

/// A failure of the database. Local writes that fail are fatal to the
/// node; a value that does not decode means the disk is corrupt.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("rocksdb: {0}")]
    Rocks(#[from] rocksdb::Error),
    #[error("database entry {what} does not decode: {reason}; the database is corrupt")]
    Corrupt { what: String, reason: String },
    #[error("database at {path} belongs to chain {found}, not to this genesis' chain {expected}")]
    WrongChain {
        path: String,
        found: String,
        expected: String,
    },
    #[error("database format {found} is not the format {FORMAT} this node reads; start from an empty data folder (for a local testnet: hutong testnet --fresh)")]
    WrongFormat { found: u32 },
    #[error("block at height {height} does not follow the executed height {executed}")]
    HeightGap { height: u64, executed: u64 },
}

impl From<DbError> for StoreError {
    fn from(e: DbError) -> StoreError {
        StoreError::Backend(e.to_string())
    }
}

/// A block with its payload, as stored and as served to peers.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct StoredBlock {
    pub block: Block,
    pub payload: Payload,
}

/// The last executed (and so committed) block and what executing it gave.
#[derive(Debug, Clone, Copy, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Executed {
    pub height: u64,
    pub block_id: BlockId,
    pub round: u64,
    pub timestamp_ms: u64,
    pub state_root: Hash,
    pub receipts_root: Hash,
}

/// Where a committed transaction is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct TxLocation {
    pub height: u64,
    pub index: u32,
}

/// Everything one committed block writes, in one batch.
#[derive(Debug)]
pub struct BlockWrite {
    pub block: Block,
    pub payload: Arc<Payload>,
    pub executed: Executed,
    pub receipts: Vec<Receipt>,
    pub tx_hashes: Vec<Hash>,
    pub state: StateUpdate,
    /// The certificate committing this block, when it ends a committed run.
    pub proof: Option<QuorumCert>,
    /// The regulator's indexes and alerts for this block.
    pub audit: Option<AuditWrite>,
}

/// The node's database. Cheap to clone; all clones share one RocksDB.
#[derive(Clone)]
pub struct Db {
    db: Arc<rocksdb::DB>,
    /// Latest state version, mirrored from `meta/executed`.
    version: Arc<AtomicU64>,
    /// The tree nodes written by the last few blocks. Every block reads
    /// the upper levels the previous one wrote; a node key names one node
    /// forever, so the cache can never be stale.
    recent_nodes: Arc<std::sync::Mutex<RecentNodes>>,
    /// The block cache every column family shares, kept to report its use.
    cache: rocksdb::Cache,
    /// Decoded latest values of hot state keys (see [`StateCache`]).
    state_cache: Arc<StateCache>,
}

/// What RocksDB holds in memory, in bytes (see [`Db::memory`]).
#[derive(Clone, Copy, Debug, Default)]
pub struct DbMemory {
    /// Every memtable, flushed-but-kept ones included.
    pub memtables: u64,
    /// Index and filter blocks held by open table files (outside the cache).
    pub table_readers: u64,
    /// The shared block cache (bounded by `BLOCK_CACHE_BYTES`).
    pub block_cache: u64,
    /// Part of the block cache pinned by open iterators and L0 indexes.
    pub block_cache_pinned: u64,
}

/// Tree nodes of the last versions: each version's batch as the tree
/// wrote it (shared, not copied), newest last, up to
/// `RECENT_NODES_MAX` nodes in all (at least `RECENT_VERSIONS_MIN`
/// versions). A node key carries the version that wrote it, so a lookup
/// searches one batch. Every block rewrites the tree's upper levels and
/// reads the nodes its keys last changed, mostly a few blocks old: from
/// here they cost a map lookup, not a RocksDB read and a decode.
#[derive(Default)]
struct RecentNodes {
    by_version: std::collections::VecDeque<(Version, Arc<NodeBatch>)>,
    nodes: usize,
}

const RECENT_VERSIONS_MIN: usize = 4;
const RECENT_NODES_MAX: usize = 20_000;

impl RecentNodes {
    fn add(&mut self, version: Version, written: Arc<NodeBatch>) {
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

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db")
            .field("path", &self.db.path())
            .finish_non_exhaustive()
    }
}

/// `u64::MAX` stands for "no version yet" in [`Db::version`].
const NO_VERSION: u64 = u64::MAX;

fn corrupt(what: impl Into<String>, e: impl std::fmt::Display) -> DbError {
    DbError::Corrupt {
        what: what.into(),
        reason: e.to_string(),
    }
}

fn decode<T: BorshDeserialize>(what: &str, bytes: &[u8]) -> Result<T, DbError> {
    borsh::from_slice(bytes).map_err(|e| corrupt(what, e))
}

fn encode<T: BorshSerialize>(value: &T) -> Vec<u8> {
    borsh::to_vec(value).expect("borsh into a Vec cannot fail")
}

fn synced() -> WriteOptions {
    let mut w = WriteOptions::default();
    w.set_sync(true);
    w
}

impl Db {
    /// Opens (or creates) the database at `path` for the chain `chain_id`.
    /// A database of another chain or format is refused.
    pub fn open(path: &Path, chain_id: ChainId) -> Result<Db, DbError> {
        let mut options = Options::default();
        options.create_if_missing(true);
        options.create_missing_column_families(true);
        // A torn WAL tail after a crash is dropped up to the last complete
        // record, which is a synced write batch: the database comes back
        // exactly before or after a block.
        options.set_wal_recovery_mode(rocksdb::DBRecoveryMode::PointInTime);
        options.set_max_open_files(512);
        options.set_keep_log_file_num(4);
        options.set_compression_type(rocksdb::DBCompressionType::Lz4);
        // Memtables are bounded in all: each family may hold up to two of
        // `MEMTABLE_BYTES`, but together they stay under
        // `MEMTABLES_TOTAL_BYTES` (the largest is flushed first). Without
        // the total, every family's memtable slowly fills to its own limit
        // and the node's memory grows for many minutes under load.
        options.set_db_write_buffer_size(MEMTABLES_TOTAL_BYTES);
        // One block cache for every column family, and bloom filters: the
        // Merkle tree reads its nodes by key, at random, on every block.
        let cache = rocksdb::Cache::new_lru_cache(BLOCK_CACHE_BYTES);
        let cfs = cf::ALL.iter().map(|name| {
            let mut table = rocksdb::BlockBasedOptions::default();
            table.set_block_cache(&cache);
            table.set_bloom_filter(10.0, false);
            table.set_cache_index_and_filter_blocks(true);
            table.set_pin_l0_filter_and_index_blocks_in_cache(true);
            let mut cf_options = Options::default();
            cf_options.set_block_based_table_factory(&table);
            // A bloom filter over each memtable's keys: a point read of a
            // key the memtables do not hold (a transfer id never used, a
            // tree node written minutes ago) skips their skip lists, which
            // otherwise cost a few microseconds of cache misses each.
            cf_options.set_memtable_whole_key_filtering(true);
            cf_options.set_write_buffer_size(MEMTABLE_BYTES);
            cf_options.set_memtable_prefix_bloom_ratio(0.02);
            // Keys and values that are mostly hashes do not compress;
            // compressing them only costs CPU.
            if [
                cf::TREE_NODES,
                cf::TREE_VALUES,
                cf::TXS,
                cf::HEIGHTS,
                cf::PENDING,
                cf::AUDIT_ACCOUNTS,
                cf::AUDIT_CLAIMS,
            ]
            .contains(name)
            {
                cf_options.set_compression_type(rocksdb::DBCompressionType::None);
            } else {
                cf_options.set_compression_type(rocksdb::DBCompressionType::Lz4);
            }
            ColumnFamilyDescriptor::new(*name, cf_options)
        });
        let db = rocksdb::DB::open_cf_descriptors(&options, path, cfs)?;
        let db = Db {
            db: Arc::new(db),
            version: Arc::new(AtomicU64::new(NO_VERSION)),
            recent_nodes: Arc::default(),
            cache,
            state_cache: Arc::new(StateCache::new(state_cache::DEFAULT_CAPACITY)),
        };
        match db.get_raw(cf::META, b"chain_id")? {
            Some(found) if found != chain_id.0 => {
                return Err(DbError::WrongChain {
                    path: path.display().to_string(),
                    found: hex::encode(found),
                    expected: chain_id.to_string(),
                })
            }
            Some(_) => {
                let format = db
                    .get_raw(cf::META, b"format")?
                    .ok_or_else(|| corrupt("meta/format", "missing"))?;
                let format: u32 = decode("meta/format", &format)?;
                if format != FORMAT {
                    return Err(DbError::WrongFormat { found: format });
                }
            }
            None => {
                let mut batch = WriteBatch::default();
                batch.put_cf(db.cf(cf::META), b"chain_id", chain_id.0);
                batch.put_cf(db.cf(cf::META), b"format", encode(&FORMAT));
                db.db.write_opt(batch, &synced())?;
            }
        }
        if let Some(version) = db.get::<u64>(cf::META, b"state_version")? {
            db.version.store(version, Ordering::SeqCst);
        }
        Ok(db)
    }

    /// RocksDB's memory, for the metrics endpoint. Best effort: a property
    /// RocksDB cannot report reads as zero.
    pub fn memory(&self) -> DbMemory {
        let stats = rocksdb::perf::get_memory_usage_stats(Some(&[&*self.db]), Some(&[&self.cache]))
            .unwrap_or(rocksdb::perf::MemoryUsageStats {
                mem_table_total: 0,
                mem_table_unflushed: 0,
                mem_table_readers_total: 0,
                cache_total: 0,
            });
        DbMemory {
            memtables: stats.mem_table_total,
            table_readers: stats.mem_table_readers_total,
            block_cache: stats.cache_total,
            block_cache_pinned: self.cache.get_pinned_usage() as u64,
        }
    }

    fn cf(&self, name: &str) -> &rocksdb::ColumnFamily {
        self.db
            .cf_handle(name)
            .expect("every column family is opened with the database")
    }

    fn get_raw(&self, cf: &str, key: &[u8]) -> Result<Option<Vec<u8>>, DbError> {
        Ok(self.db.get_cf(self.cf(cf), key)?)
    }

    fn get<T: BorshDeserialize>(&self, cf: &str, key: &[u8]) -> Result<Option<T>, DbError> {
        match self.get_raw(cf, key)? {
            Some(bytes) => Ok(Some(decode(cf, &bytes)?)),
            None => Ok(None),
        }
    }

    /// The last executed block, `None` before genesis is written.
    pub fn executed(&self) -> Result<Option<Executed>, DbError> {
        self.get(cf::META, b"executed")
    }

    pub fn safety(&self) -> Result<Option<SafetyData>, DbError> {
        self.get(cf::SAFETY, b"safety")
    }

    /// Stores the safety data, synced: it must be durable before the vote
    /// or timeout that depends on it is sent.
    pub fn put_safety(&self, safety: &SafetyData) -> Result<(), DbError> {
        self.db
            .put_cf_opt(self.cf(cf::SAFETY), b"safety", encode(safety), &synced())?;
        Ok(())
    }

    /// Stores a block consensus accepted into its tree (not yet committed).
    /// Not synced: a block lost in a crash is fetched again from peers.
    pub fn put_block(&self, stored: &StoredBlock) -> Result<(), DbError> {
        let id = stored.block.id();
        let mut batch = WriteBatch::default();
        batch.put_cf(self.cf(cf::BLOCKS), id.0, encode(stored));
        batch.put_cf(
            self.cf(cf::PENDING),
            pending_key(stored.block.height.0, &id),
            [],
        );
        self.db.write(batch)?;
        Ok(())
    }

    pub fn block(&self, id: &BlockId) -> Result<Option<StoredBlock>, DbError> {
        self.get(cf::BLOCKS, &id.0)
    }

    pub fn block_id_at(&self, height: u64) -> Result<Option<BlockId>, DbError> {
        match self.get_raw(cf::HEIGHTS, &height.to_be_bytes())? {
            Some(bytes) => {
                let id: [u8; 32] = bytes
                    .as_slice()
                    .try_into()
                    .map_err(|_| corrupt("heights", "block id is not 32 bytes"))?;
                Ok(Some(hutong_consensus::types::Digest(id)))
            }
            None => Ok(None),
        }
    }

    pub fn block_at(&self, height: u64) -> Result<Option<StoredBlock>, DbError> {
        match self.block_id_at(height)? {
            Some(id) => self.block(&id),
            None => Ok(None),
        }
    }

    /// The certificate stored with the committed block at `height`, if it
    /// ended a committed run.
    pub fn cert_at(&self, height: u64) -> Result<Option<QuorumCert>, DbError> {
        self.get(cf::CERTS, &height.to_be_bytes())
    }

    /// The first certificate at or above `height`, with its height: it
    /// commits the block at `height` through the hash chain.
    pub fn cert_from(&self, height: u64) -> Result<Option<(u64, QuorumCert)>, DbError> {
        let start = height.to_be_bytes();
        let mut iter = self.db.iterator_cf(
            self.cf(cf::CERTS),
            IteratorMode::From(&start, Direction::Forward),
        );
        match iter.next() {
            Some(item) => {
                let (key, value) = item?;
                let key: [u8; 8] = key
                    .as_ref()
                    .try_into()
                    .map_err(|_| corrupt("certs", "height key is not 8 bytes"))?;
                Ok(Some((u64::from_be_bytes(key), decode("certs", &value)?)))
            }
            None => Ok(None),
        }
    }

    /// What executing the committed block at `height` gave.
    pub fn result_at(&self, height: u64) -> Result<Option<Executed>, DbError> {
        self.get(cf::RESULTS, &height.to_be_bytes())
    }

    pub fn receipts_at(&self, height: u64) -> Result<Option<Vec<Receipt>>, DbError> {
        self.get(cf::RECEIPTS, &height.to_be_bytes())
    }

    pub fn tx_location(&self, hash: &Hash) -> Result<Option<TxLocation>, DbError> {
        self.get(cf::TXS, &hash.0)
    }

    /// Stored blocks above `height` (not yet executed), for restoring
    /// consensus after a restart.
    pub fn stored_blocks_above(&self, height: u64) -> Result<Vec<StoredBlock>, DbError> {
        let mut out = Vec::new();
        let from = pending_key(
            height.saturating_add(1),
            &hutong_consensus::types::Digest([0; 32]),
        );
        for item in self.db.iterator_cf(
            self.cf(cf::PENDING),
            IteratorMode::From(&from, Direction::Forward),
        ) {
            let (key, _) = item?;
            let (_, id) = parse_pending_key(&key)?;
            // A pending entry whose block is gone was pruned by a commit
            // racing this read; nothing to restore.
            if let Some(stored) = self.block(&id)? {
                out.push(stored);
            }
        }
        Ok(out)
    }

    /// Adds to `batch` the pruning that committing `id` at `height` allows:
    /// every pending entry up to `height` goes, and so does every block
    /// among them that is not the committed one at its height. Returns
    /// whether `id` itself was pending: its body is then stored already
    /// (a pending entry and its body are written in one batch, and the
    /// synced commit makes every earlier write durable with it).
    fn prune_pending(
        &self,
        batch: &mut WriteBatch,
        height: u64,
        id: &BlockId,
    ) -> Result<bool, DbError> {
        let mut stored = false;
        // Entries below the previous commit were pruned by it; starting a
        // little below skips their tombstones (consensus stores no block
        // that far below its commits).
        let floor = pending_key(
            height.saturating_sub(64),
            &hutong_consensus::types::Digest([0; 32]),
        );
        for item in self.db.iterator_cf(
            self.cf(cf::PENDING),
            IteratorMode::From(&floor, Direction::Forward),
        ) {
            let (key, _) = item?;
            let (h, pending) = parse_pending_key(&key)?;
            if h > height {
                break;
            }
            batch.delete_cf(self.cf(cf::PENDING), &key);
            let committed = if h == height {
                Some(*id)
            } else {
                self.block_id_at(h)?
            };
            if committed != Some(pending) {
                batch.delete_cf(self.cf(cf::BLOCKS), pending.0);
            } else if h == height {
                stored = true;
            }
        }
        Ok(stored)
    }

    /// Writes the genesis state as version 0, with its executed record.
    pub fn commit_genesis(&self, state: StateUpdate, executed: Executed) -> Result<(), DbError> {
        let mut batch = WriteBatch::default();
        self.put_state(&mut batch, &state)?;
        batch.put_cf(self.cf(cf::META), b"executed", encode(&executed));
        batch.put_cf(self.cf(cf::RESULTS), 0u64.to_be_bytes(), encode(&executed));
        batch.put_cf(
            self.cf(cf::HEIGHTS),
            0u64.to_be_bytes(),
            executed.block_id.0,
        );
        self.db.write_opt(batch, &synced())?;
        self.state_cache.commit(&state.values);
        self.version.store(0, Ordering::SeqCst);
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
    pub fn commit_staged_block(
        &self,
        write: BlockWrite,
        nodes: Arc<NodeBatch>,
    ) -> Result<(), DbError> {
        self.commit(write, Some(nodes))
    }

    fn commit(&self, mut write: BlockWrite, staged: Option<Arc<NodeBatch>>) -> Result<(), DbError> {
        let height = write.executed.height;
        let executed = self.version.load(Ordering::SeqCst);
        if executed == NO_VERSION || executed.checked_add(1) != Some(height) {
            return Err(DbError::HeightGap { height, executed });
        }
        let key = height.to_be_bytes();
        let mut batch = WriteBatch::default();
        self.put_state(&mut batch, &write.state)?;
        if let Some(nodes) = &staged {
            self.put_nodes(&mut batch, nodes);
        }
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
        let mut locations: Vec<([u8; 32], Option<Vec<u8>>)> =
            Vec::with_capacity(write.tx_hashes.len());
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
            locations.push((hash.0, Some(encode(&location))));
        }
        self.put_sorted(&mut batch, cf::TXS, &mut locations);
        batch.put_cf(self.cf(cf::RECEIPTS), key, encode(&write.receipts));
        if let Some(audit) = &write.audit {
            self.put_audit(&mut batch, height, audit);
        }
        batch.put_cf(self.cf(cf::META), b"executed", encode(&write.executed));
        batch.put_cf(self.cf(cf::RESULTS), key, encode(&write.executed));
        self.db.write_opt(batch, &synced())?;
        self.state_cache.commit(&write.state.values);
        self.version.store(height, Ordering::SeqCst);
        // Only once durable: a failed write must not leave nodes readable
        // (the executor's staged nodes are its own business).
        if staged.is_none() {
            let written = std::mem::take(&mut write.state.tree.node_batch);
            self.recent_nodes()
                .add(write.state.version, Arc::new(written));
        }
        Ok(())
    }

    fn recent_nodes(&self) -> std::sync::MutexGuard<'_, RecentNodes> {
        self.recent_nodes.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Makes the tree nodes of a version readable through this handle's
    /// tree reader before they are durable, so that the executor can
    /// compute the next block's tree while this one is being written.
    /// [`Db::commit_staged_block`] of that version then writes them. Only a
    /// reader that asks for that version's nodes sees them, and none but
    /// the executor knows the version before it is durable.
    pub fn stage_nodes(&self, version: Version, nodes: Arc<NodeBatch>) {
        self.recent_nodes().add(version, nodes);
    }

    /// Adds one column family's entries to a batch in key order (`None`
    /// deletes). RocksDB inserts a batch into its memtable entry by entry,
    /// each a skip-list search; in key order each search can start from
    /// where the previous insert ended (RocksDB keeps that position). Its
    /// effect alone was within the benchmark's noise (~1%).
    fn put_sorted<K: AsRef<[u8]> + Ord>(
        &self,
        batch: &mut WriteBatch,
        name: &str,
        entries: &mut [(K, Option<Vec<u8>>)],
    ) {
        entries.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let cf = self.cf(name);
        for (key, value) in entries.iter() {
            match value {
                Some(v) => batch.put_cf(cf, key, v),
                None => batch.delete_cf(cf, key),
            }
        }
    }

    fn put_state(&self, batch: &mut WriteBatch, update: &StateUpdate) -> Result<(), DbError> {
        // Tree keys' values go with the tree's nodes (`put_nodes`): jmt
        // lists every value it was given, deletions included.
        let mut values: Vec<(Vec<u8>, Option<Vec<u8>>)> = update
            .values
            .iter()
            .filter(|(key, _)| !key.in_tree())
            .map(|(key, value)| (encode(key), value.as_ref().map(encode)))
            .collect();
        self.put_sorted(batch, cf::STATE, &mut values);
        self.put_nodes(batch, &update.tree.node_batch);
        batch.put_cf(self.cf(cf::META), b"state_version", encode(&update.version));
        Ok(())
    }

    /// Tree nodes and the versioned values they refer to.
    fn put_nodes(&self, batch: &mut WriteBatch, nodes: &NodeBatch) {
        let mut encoded: Vec<(Vec<u8>, Option<Vec<u8>>)> = nodes
            .nodes()
            .iter()
            .map(|(key, node)| (encode(key), Some(encode(node))))
            .collect();
        self.put_sorted(batch, cf::TREE_NODES, &mut encoded);
        // Already in key order: one version, ascending key hashes.
        for ((version, key_hash), value) in nodes.values() {
            batch.put_cf(
                self.cf(cf::TREE_VALUES),
                tree_value_key(key_hash, *version),
                encode(value),
            );
        }
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
        // Seek backwards from (key hash, max_version).
        let seek = tree_value_key(key_hash, max_version);
        let mut iter = self.db.iterator_cf(
            self.cf(cf::TREE_VALUES),
            IteratorMode::From(&seek, Direction::Reverse),
        );
        match iter.next() {
            Some(item) => {
                let (key, value) = item?;
                if key.len() != 40 || key[..32] != key_hash.0 {
                    return Ok(None);
                }
                decode("tree_values", &value)
            }
            None => Ok(None),
        }
    }

    /// The state cache's size and hit counts, for the metrics endpoint.
    pub fn state_cache_stats(&self) -> CacheStats {
        self.state_cache.stats()
    }

    /// Flushes memtables to disk (on clean shutdown, to keep restarts fast).
    pub fn flush(&self) -> Result<(), DbError> {
        for name in cf::ALL {
            self.db.flush_cf(self.cf(name))?;
        }
        Ok(())
    }
}

/// Bytes of an account-index key: address ‖ edge key.
const ACCOUNT_KEY_BYTES: usize = 20 + EDGE_KEY_BYTES;

fn account_edge_key(account: &Address, edge: &[u8; EDGE_KEY_BYTES]) -> [u8; ACCOUNT_KEY_BYTES] {
    let mut key = [0u8; ACCOUNT_KEY_BYTES];
    key[..20].copy_from_slice(&account.0);
    key[20..].copy_from_slice(edge);
    key
}

/// The regulator's indexes (see [`crate::audit`]).
impl Db {
    fn put_audit(&self, batch: &mut WriteBatch, height: u64, audit: &AuditWrite) {
        for e in &audit.edges {
            let key = e.key();
            batch.put_cf(self.cf(cf::AUDIT_EDGES), key, encode(e));
            batch.put_cf(
                self.cf(cf::AUDIT_ACCOUNTS),
                account_edge_key(&e.from, &key),
                [],
            );
            if e.to != e.from {
                batch.put_cf(
                    self.cf(cf::AUDIT_ACCOUNTS),
                    account_edge_key(&e.to, &key),
                    [],
                );
            }
        }
        for a in &audit.alerts {
            let json = serde_json::to_vec(a).expect("an alert encodes as JSON");
            batch.put_cf(self.cf(cf::AUDIT_ALERTS), a.id.to_be_bytes(), json);
        }
        if let Some(claimed) = audit.first_claim {
            batch.put_cf(
                self.cf(cf::AUDIT_CLAIMS),
                claimed.to_be_bytes(),
                height.to_be_bytes(),
            );
        }
    }

    /// One indexed leg, by its key.
    pub fn edge(&self, key: &[u8; EDGE_KEY_BYTES]) -> Result<Option<Edge>, DbError> {
        self.get(cf::AUDIT_EDGES, key)
    }

    /// Visits the legs that touch `account`, from `start` (an edge key)
    /// onwards (`forward`) or backwards, until `visit` returns false.
    pub fn account_edges(
        &self,
        account: &Address,
        start: [u8; EDGE_KEY_BYTES],
        forward: bool,
        mut visit: impl FnMut(Edge) -> bool,
    ) -> Result<(), DbError> {
        let from = account_edge_key(account, &start);
        let direction = if forward {
            Direction::Forward
        } else {
            Direction::Reverse
        };
        for item in self.db.iterator_cf(
            self.cf(cf::AUDIT_ACCOUNTS),
            IteratorMode::From(&from, direction),
        ) {
            let (key, _) = item?;
            if key.len() != ACCOUNT_KEY_BYTES || key[..20] != account.0 {
                break;
            }
            let mut edge_key = [0u8; EDGE_KEY_BYTES];
            edge_key.copy_from_slice(&key[20..]);
            let edge = self
                .edge(&edge_key)?
                .ok_or_else(|| corrupt("audit_accounts", "names a leg that is not indexed"))?;
            if !visit(edge) {
                break;
            }
        }
        Ok(())
    }

    /// Visits every indexed leg from `start` (an edge key) in ledger
    /// order until `visit` returns false.
    pub fn edges_from(
        &self,
        start: [u8; EDGE_KEY_BYTES],
        mut visit: impl FnMut(Edge) -> bool,
    ) -> Result<(), DbError> {
        for item in self.db.iterator_cf(
            self.cf(cf::AUDIT_EDGES),
            IteratorMode::From(&start, Direction::Forward),
        ) {
            let (_, value) = item?;
            if !visit(decode("audit_edges", &value)?) {
                break;
            }
        }
        Ok(())
    }

    /// The key of the `n`-th newest stored leg (the oldest of the newest
    /// `n`); `None` when fewer than `n` are stored (start anywhere).
    pub fn newest_edges_start(&self, n: usize) -> Result<Option<[u8; EDGE_KEY_BYTES]>, DbError> {
        if n == 0 {
            return Ok(None);
        }
        let mut iter = self.db.raw_iterator_cf(self.cf(cf::AUDIT_EDGES));
        iter.seek_to_last();
        let mut seen = 0usize;
        while iter.valid() {
            seen += 1;
            if seen == n {
                let key = iter.key().unwrap_or_default();
                let key: [u8; EDGE_KEY_BYTES] = key
                    .try_into()
                    .map_err(|_| corrupt("audit_edges", "a key of the wrong length"))?;
                return Ok(Some(key));
            }
            iter.prev();
        }
        iter.status()?;
        Ok(None)
    }

    /// Visits stored alerts with id at least `from`, in id order, until
    /// `visit` returns false.
    pub fn alerts_from(
        &self,
        from: u64,
        mut visit: impl FnMut(crate::audit::Alert) -> bool,
    ) -> Result<(), DbError> {
        for item in self.db.iterator_cf(
            self.cf(cf::AUDIT_ALERTS),
            IteratorMode::From(&from.to_be_bytes(), Direction::Forward),
        ) {
            let (_, value) = item?;
            let alert = serde_json::from_slice(&value).map_err(|e| corrupt("audit_alerts", e))?;
            if !visit(alert) {
                break;
            }
        }
        Ok(())
    }

    /// The highest alert id stored (0 when none).
    pub fn last_alert_id(&self) -> Result<u64, DbError> {
        let mut iter = self
            .db
            .iterator_cf(self.cf(cf::AUDIT_ALERTS), IteratorMode::End);
        match iter.next() {
            Some(item) => {
                let (key, _) = item?;
                let key: [u8; 8] = key
                    .as_ref()
                    .try_into()
                    .map_err(|_| corrupt("audit_alerts", "id key is not 8 bytes"))?;
                Ok(u64::from_be_bytes(key))
            }
            None => Ok(0),
        }
    }

    /// The highest height at or below `height` whose execution result a
    /// committed block certifies, with the height of that block.
    pub fn claim_at_or_below(&self, height: u64) -> Result<Option<(u64, u64)>, DbError> {
        let mut iter = self.db.iterator_cf(
            self.cf(cf::AUDIT_CLAIMS),
            IteratorMode::From(&height.to_be_bytes(), Direction::Reverse),
        );
        match iter.next() {
            Some(item) => {
                let (key, value) = item?;
                let parse = |b: &[u8]| -> Result<u64, DbError> {
                    let b: [u8; 8] = b
                        .try_into()
                        .map_err(|_| corrupt("audit_claims", "entry is not 8 bytes"))?;
                    Ok(u64::from_be_bytes(b))
                };
                Ok(Some((parse(&key)?, parse(&value)?)))
            }
            None => Ok(None),
        }
    }

    /// The first executed height whose block time is at or after `ms`
    /// (`executed + 1` if none is).
    pub fn height_at_time(&self, ms: u64) -> Result<u64, DbError> {
        let top = self.executed()?.map(|e| e.height).unwrap_or(0);
        let (mut lo, mut hi) = (0u64, top + 1);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let ts = self.result_at(mid)?.map(|r| r.timestamp_ms).unwrap_or(0);
            if ts >= ms {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        Ok(lo)
    }

    /// The head of the audit-query log: (next sequence number, hash of
    /// the last entry).
    pub fn audit_log_head(&self) -> Result<(u64, Hash), DbError> {
        Ok(self
            .get::<(u64, Hash)>(cf::META, b"audit_log_head")?
            .unwrap_or((0, Hash::ZERO)))
    }

    /// Appends one entry to the audit-query log, synced, with the new head.
    pub fn audit_log_append(&self, seq: u64, entry: &[u8], hash: Hash) -> Result<(), DbError> {
        let mut batch = WriteBatch::default();
        batch.put_cf(self.cf(cf::AUDIT_LOG), seq.to_be_bytes(), entry);
        batch.put_cf(
            self.cf(cf::META),
            b"audit_log_head",
            encode(&(seq + 1, hash)),
        );
        self.db.write_opt(batch, &synced())?;
        Ok(())
    }

    /// Visits audit-log entries from `from`, in order, until `visit`
    /// returns false.
    pub fn audit_log_from(
        &self,
        from: u64,
        mut visit: impl FnMut(u64, &[u8]) -> bool,
    ) -> Result<(), DbError> {
        for item in self.db.iterator_cf(
            self.cf(cf::AUDIT_LOG),
            IteratorMode::From(&from.to_be_bytes(), Direction::Forward),
        ) {
            let (key, value) = item?;
            let key: [u8; 8] = key
                .as_ref()
                .try_into()
                .map_err(|_| corrupt("audit_log", "key is not 8 bytes"))?;
            if !visit(u64::from_be_bytes(key), &value) {
                break;
            }
        }
        Ok(())
    }
}

/// Whether a receipt is a transaction's failure on a sequence number its
/// sender has already used: a copy of a transaction that may have run
/// before.
fn replays_used_sequence(receipt: Option<&Receipt>) -> bool {
    matches!(
        receipt.map(|r| &r.outcome),
        Some(Outcome::Failed {
            reason: FailureReason::BadSequence { expected, got },
        }) if got.0 < expected.0
    )
}

fn pending_key(height: u64, id: &BlockId) -> [u8; 40] {
    let mut key = [0u8; 40];
    key[..8].copy_from_slice(&height.to_be_bytes());
    key[8..].copy_from_slice(&id.0);
    key
}

fn parse_pending_key(key: &[u8]) -> Result<(u64, BlockId), DbError> {
    if key.len() != 40 {
        return Err(corrupt("pending", format!("key of {} bytes", key.len())));
    }
    let mut height = [0u8; 8];
    height.copy_from_slice(&key[..8]);
    let mut id = [0u8; 32];
    id.copy_from_slice(&key[8..]);
    Ok((
        u64::from_be_bytes(height),
        hutong_consensus::types::Digest(id),
    ))
}

fn tree_value_key(key_hash: &KeyHash, version: Version) -> [u8; 40] {
    let mut key = [0u8; 40];
    key[..32].copy_from_slice(&key_hash.0);
    key[32..].copy_from_slice(&version.to_be_bytes());
    key
}

impl TreeReader for Db {
    fn get_node_option(&self, node_key: &NodeKey) -> anyhow::Result<Option<Node>> {
        let recent = self.recent_nodes().get(node_key);
        if let Some(node) = recent {
            return Ok(Some(node));
        }
        Ok(self.get(cf::TREE_NODES, &encode(node_key))?)
    }

    fn get_value_option(
        &self,
        max_version: Version,
        key_hash: KeyHash,
    ) -> anyhow::Result<Option<OwnedValue>> {
        Ok(self.tree_value(max_version, &key_hash)?)
    }

    fn get_rightmost_leaf(&self) -> anyhow::Result<Option<(NodeKey, LeafNode)>> {
        // Only used when restoring a tree from a snapshot, which the node
        // does not do: it replays blocks.
        Err(anyhow::anyhow!(
            "the node's store does not restore trees from snapshots"
        ))
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
        self.state_cache.commit(&update.values);
        self.version.store(update.version, Ordering::SeqCst);
        Ok(())
    }
}

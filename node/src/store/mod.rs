//! The node's RocksDB database: the runtime's state store (latest values
//! and the state tree), committed blocks with their certificates
//! and receipts, the transaction index, consensus safety data and the
//! uncommitted blocks consensus keeps.
//!
//! - this file: opening the database (column families, tuning, chain and
//!   format checks), errors, and the primitives the other parts share;
//! - [`chain`]: blocks, heights, certificates, results, receipts, the
//!   transaction index, pending blocks and safety data;
//! - [`state`]: the state store the runtime reads (latest values, the
//!   tree's nodes with the leaves' values, the recent-nodes cache);
//! - [`commit`]: writing a committed block and everything it changed.
//!
//! Other modules own column families of their own (the regulator's audit
//! index: [`crate::audit::index`]); they are opened here and written in a
//! block's batch as [`Put`]s.
//!
//! Atomicity: a committed block, its receipts, its state changes, its tree
//! nodes and its indexes go into one [`WriteBatch`] written with the WAL
//! synced ([`Db::commit_block`]); a crash leaves the node before or after
//! the block, never between. Safety data is written synced before the vote
//! it guards leaves the node ([`Db::put_safety`]).

mod chain;
mod commit;
mod prune;
mod restore;
mod state;
mod wal;

pub use wal::WalError;

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use borsh::{BorshDeserialize, BorshSerialize};
use hutong_consensus::types::Block;
use hutong_runtime::crypto::Hash;
use hutong_runtime::store::{StateUpdate, StoreError};
use hutong_runtime::{ChainId, Receipt};
use rocksdb::{ColumnFamilyDescriptor, Options, WriteBatch, WriteOptions};

use hutong_consensus::types::QuorumCert;
pub use hutong_wire::chain::{Executed, StoredBlock};
use hutong_wire::payload::Payload;
use state::RecentNodes;

use crate::state_cache::{self, StateCache};

/// Column families, by kind.
pub(crate) mod cf {
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
    /// are not leaves of the state tree: transfer records. The value of
    /// every other key is kept in its leaf, in [`TREE_NODES`].
    pub const STATE: &str = "state";
    /// Tree node key ([`super::state::TreeNodeKey`]) → tree node
    /// (`hutong_runtime::tree::Node::encode`), a leaf followed by its
    /// value's bytes: a changed key is one entry, written after every
    /// older one (a key hash ‖ version entry for the value beside it was a
    /// second entry, at a random place in its family).
    pub const TREE_NODES: &str = "tree_nodes";
    /// Version (big-endian) ‖ key hash → value bytes: the values of a
    /// restore in progress whose leaves are not written yet (a leaf's
    /// place is known once the next key arrives, possibly in the next
    /// chunk); emptied when the restore finishes.
    pub const RESTORE_VALUES: &str = "restore_values";
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
    /// Version (big-endian) ‖ tree node key (borsh) → nothing: the tree
    /// nodes that version replaced, recorded only on a node that prunes
    /// old states (`[storage] keep_states`, [`super::Db::track_stale_nodes`]).
    pub const STALE_NODES: &str = "stale_nodes";
}

/// A column family and whether its blocks are compressed (keys and values
/// that are mostly hashes do not compress; compressing them only costs
/// CPU).
#[derive(Debug, Clone, Copy)]
pub struct Column {
    pub name: &'static str,
    pub compress: bool,
    /// How [`Put::merge`] entries combine with what the key holds (a
    /// running total written by many blocks without reading it first).
    pub merge: Option<Merge>,
    /// Keys whose first `prefix` bytes name one thing (a state key's hash,
    /// followed by versions): bloom filters are built over the prefixes,
    /// so a seek for a prefix nothing holds (a key never written) skips
    /// the memtables and files at once. Such a family is read only by
    /// seeks within one prefix (`ReadOptions::set_prefix_same_as_start`).
    pub prefix: Option<usize>,
}

/// A column family's merge operator: associative, so RocksDB may fold
/// operands in any grouping.
#[derive(Debug, Clone, Copy)]
pub struct Merge {
    pub name: &'static str,
    pub full: MergeFn,
}

/// A full merge: the key, what it holds, the operands in order → the new
/// value (`None` fails the read).
pub type MergeFn = fn(&[u8], Option<&[u8]>, &rocksdb::MergeOperands) -> Option<Vec<u8>>;

/// The chain's column families (other modules add their own: see
/// [`Db::open_with_columns`]).
const CHAIN_COLUMNS: [Column; 13] = [
    Column {
        name: cf::META,
        compress: true,
        merge: None,
        prefix: None,
    },
    Column {
        name: cf::BLOCKS,
        compress: true,
        merge: None,
        prefix: None,
    },
    Column {
        name: cf::HEIGHTS,
        compress: false,
        merge: None,
        prefix: None,
    },
    Column {
        name: cf::CERTS,
        compress: true,
        merge: None,
        prefix: None,
    },
    Column {
        name: cf::TXS,
        compress: false,
        merge: None,
        prefix: None,
    },
    Column {
        name: cf::RECEIPTS,
        compress: true,
        merge: None,
        prefix: None,
    },
    Column {
        name: cf::STATE,
        compress: true,
        merge: None,
        prefix: None,
    },
    Column {
        name: cf::TREE_NODES,
        compress: false,
        merge: None,
        prefix: None,
    },
    Column {
        name: cf::RESTORE_VALUES,
        compress: false,
        merge: None,
        prefix: None,
    },
    Column {
        name: cf::SAFETY,
        compress: true,
        merge: None,
        prefix: None,
    },
    Column {
        name: cf::RESULTS,
        compress: true,
        merge: None,
        prefix: None,
    },
    Column {
        name: cf::PENDING,
        compress: false,
        merge: None,
        prefix: None,
    },
    Column {
        name: cf::STALE_NODES,
        compress: false,
        merge: None,
        prefix: None,
    },
];

/// RocksDB's block cache, shared by every column family.
const BLOCK_CACHE_BYTES: usize = 256 * 1024 * 1024;

/// One memtable of one column family, and all memtables together.
const MEMTABLE_BYTES: usize = 32 * 1024 * 1024;
const MEMTABLES_TOTAL_BYTES: usize = 128 * 1024 * 1024;

/// The on-disk format; a node refuses a database of another format.
/// 6: tree keys' latest values are read from `tree_values` only.
/// 7: transfer-id records as one tree leaf per block, kept seven days
/// (`StateKey::TransferBlock`), not a running hash.
/// 8: state format v3 (holdings carry the held amount, accounts their
/// restriction; holds, amount freezes and expiries in the state).
/// 9: parameters name the FX providers; used quotes and mandates in the
/// state.
/// 10: state format v4 (open holds in their payer's holding, an ended
/// hold a transfer record); tree values filtered by key-hash prefix.
/// 11: `OpenAccount` carries an identity envelope, the ledger's
/// parameters the regulator's identity keys, and a regulator's database
/// the account → owner index.
/// 12: tree nodes keyed by the version that wrote them (big-endian), then
/// their nibble path (`state::TreeNodeKey`), not by the node key's borsh
/// encoding.
/// 13: the state tree of `hutong_runtime::tree` (16-ary, its own node
/// encoding and hashes) replaces the Jellyfish tree; a restore's progress
/// in `meta`.
/// 14: a leaf's value in its entry in `tree_nodes` (no `tree_values`).
const FORMAT: u32 = 14;

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
    #[error(transparent)]
    Wal(#[from] WalError),
    #[error("database at {path} is in use by another process (a node already running on this data folder?)")]
    InUse { path: String },
    #[error("database at {path}: {error}")]
    Io { path: String, error: std::io::Error },
}

impl From<DbError> for StoreError {
    fn from(e: DbError) -> StoreError {
        StoreError::Backend(e.to_string())
    }
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
    /// Entries of other modules' column families that go with this block
    /// (the regulator's indexes: [`crate::audit::index::puts`]).
    pub extra: Vec<Put>,
}

/// One entry of a column family that another module owns, written in a
/// block's batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Put {
    pub column: &'static str,
    pub key: Vec<u8>,
    pub value: Vec<u8>,
    /// A merge operand for the column's [`Merge`], not a new value.
    pub merge: bool,
}

/// The node's database. Cheap to clone; all clones share one RocksDB.
#[derive(Clone)]
pub struct Db {
    db: Arc<rocksdb::DB>,
    /// Every column family open.
    columns: Arc<Vec<String>>,
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
    /// Whether each commit records the tree nodes it replaced, for
    /// [`Db::prune_states_below`].
    track_stale: Arc<std::sync::atomic::AtomicBool>,
    /// This process's claim on the folder (`HUTONG.LOCK`), held while the
    /// database is open: nothing else may repair or write its logs.
    _claim: Arc<std::fs::File>,
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

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db")
            .field("path", &self.db.path())
            .finish_non_exhaustive()
    }
}

/// `u64::MAX` stands for "no version yet" in [`Db::version`].
const NO_VERSION: u64 = u64::MAX;

pub(crate) fn corrupt(what: impl Into<String>, e: impl std::fmt::Display) -> DbError {
    DbError::Corrupt {
        what: what.into(),
        reason: e.to_string(),
    }
}

pub(crate) fn decode<T: BorshDeserialize>(what: &str, bytes: &[u8]) -> Result<T, DbError> {
    borsh::from_slice(bytes).map_err(|e| corrupt(what, e))
}

pub(crate) fn encode<T: BorshSerialize>(value: &T) -> Vec<u8> {
    borsh::to_vec(value).expect("borsh into a Vec cannot fail")
}

/// [`encode`], appended to `out`.
pub(crate) fn encode_into<T: BorshSerialize>(out: &mut Vec<u8>, value: &T) {
    value.serialize(out).expect("borsh into a Vec cannot fail");
}

pub(crate) fn synced() -> WriteOptions {
    let mut w = WriteOptions::default();
    w.set_sync(true);
    w
}

impl Db {
    /// Opens (or creates) the database at `path` for the chain `chain_id`.
    /// A database of another chain or format is refused.
    pub fn open(path: &Path, chain_id: ChainId) -> Result<Db, DbError> {
        Db::open_with_columns(path, chain_id, &[])
    }

    /// [`Db::open`], creating also the column families of other modules
    /// (the regulator's audit index: [`crate::audit::index::COLUMNS`]).
    pub fn open_with_columns(
        path: &Path,
        chain_id: ChainId,
        extra: &[Column],
    ) -> Result<Db, DbError> {
        // Claim the folder, then cut a damaged write-ahead log tail before
        // RocksDB reads it (see [`wal`]): its own recovery of some damage
        // never returns.
        let io = |error| DbError::Io {
            path: path.display().to_string(),
            error,
        };
        std::fs::create_dir_all(path).map_err(io)?;
        let claim = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path.join("HUTONG.LOCK"))
            .map_err(io)?;
        match claim.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(DbError::InUse {
                    path: path.display().to_string(),
                })
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(io(e)),
        }
        if let wal::Repair::Cut { log, intact, len } = wal::cut_damaged_tail(path)? {
            tracing::warn!(
                log = %log.display(),
                kept_bytes = intact,
                dropped_bytes = len - intact,
                "the write-ahead log's tail was damaged (a crash or a disk fault): cut after its \
                 last intact record, as point-in-time recovery does; the node fetches any \
                 block it lost from its peers"
            );
        }
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
        // The chain's columns, those of other modules the caller names, and
        // any other the database already has (RocksDB opens all or none).
        let mut columns: Vec<Column> = CHAIN_COLUMNS.to_vec();
        for c in extra {
            if !columns.iter().any(|o| o.name == c.name) {
                columns.push(*c);
            }
        }
        let existing = rocksdb::DB::list_cf(&Options::default(), path).unwrap_or_default();
        let mut names: Vec<String> = columns.iter().map(|c| c.name.to_string()).collect();
        for name in existing {
            if name != rocksdb::DEFAULT_COLUMN_FAMILY_NAME && !names.contains(&name) {
                names.push(name);
            }
        }
        let cfs = names.iter().map(|name| {
            let column = columns.iter().find(|c| c.name == name.as_str());
            let prefix = column.and_then(|c| c.prefix);
            let mut table = rocksdb::BlockBasedOptions::default();
            table.set_block_cache(&cache);
            table.set_bloom_filter(10.0, false);
            table.set_cache_index_and_filter_blocks(true);
            table.set_pin_l0_filter_and_index_blocks_in_cache(true);
            let mut cf_options = Options::default();
            if let Some(len) = prefix {
                // Such a family is only read by prefix: filter prefixes,
                // not whole keys.
                table.set_whole_key_filtering(false);
                cf_options.set_prefix_extractor(rocksdb::SliceTransform::create_fixed_prefix(len));
            }
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
            let compress = column.is_none_or(|c| c.compress);
            if let Some(m) = column.and_then(|c| c.merge) {
                cf_options.set_merge_operator_associative(m.name, m.full);
            }
            cf_options.set_compression_type(if compress {
                rocksdb::DBCompressionType::Lz4
            } else {
                rocksdb::DBCompressionType::None
            });
            ColumnFamilyDescriptor::new(name, cf_options)
        });
        let db = rocksdb::DB::open_cf_descriptors(&options, path, cfs)?;
        let db = Db {
            db: Arc::new(db),
            columns: Arc::new(names),
            version: Arc::new(AtomicU64::new(NO_VERSION)),
            recent_nodes: Arc::default(),
            cache,
            state_cache: Arc::new(StateCache::new(state_cache::DEFAULT_CAPACITY)),
            track_stale: Arc::default(),
            _claim: Arc::new(claim),
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

    /// The handle of a column family opened with the database.
    pub(crate) fn cf(&self, name: &str) -> &rocksdb::ColumnFamily {
        self.db
            .cf_handle(name)
            .expect("every column family is opened with the database")
    }

    /// RocksDB itself, for the modules that own column families.
    pub(crate) fn rocks(&self) -> &rocksdb::DB {
        &self.db
    }

    pub(crate) fn get_raw(&self, cf: &str, key: &[u8]) -> Result<Option<Vec<u8>>, DbError> {
        Ok(self.db.get_cf(self.cf(cf), key)?)
    }

    pub(crate) fn get<T: BorshDeserialize>(
        &self,
        cf: &str,
        key: &[u8],
    ) -> Result<Option<T>, DbError> {
        match self.get_raw(cf, key)? {
            Some(bytes) => Ok(Some(decode(cf, &bytes)?)),
            None => Ok(None),
        }
    }

    /// Flushes memtables to disk (on clean shutdown, to keep restarts fast).
    pub fn flush(&self) -> Result<(), DbError> {
        for name in self.columns.iter() {
            self.db.flush_cf(self.cf(name))?;
        }
        Ok(())
    }
}

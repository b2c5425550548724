//! The regulator's audit indexes on disk: their column families, key
//! layouts, what a block writes into them (in the block's own batch, so
//! the indexes are never ahead of or behind the ledger) and the reads the
//! audit queries and proofs make. Only a regulator node writes them; every
//! node opens them (empty elsewhere).

use hutong_audit::{Alert, AuditWrite, Edge, EDGE_KEY_BYTES};
use hutong_runtime::crypto::Hash;
use hutong_runtime::Address;
use rocksdb::{Direction, IteratorMode, WriteBatch};

use crate::store::{corrupt, decode, encode, synced, Column, Db, DbError, Put};

/// Height ‖ index ‖ leg → [`Edge`]: every leg of every committed
/// transaction, in ledger order.
pub const AUDIT_EDGES: &str = "audit_edges";
/// Address ‖ height ‖ index ‖ leg → nothing: the legs that touch an
/// account (sent or received), in ledger order.
pub const AUDIT_ACCOUNTS: &str = "audit_accounts";
/// Alert id (big-endian) → [`Alert`] (JSON).
pub const AUDIT_ALERTS: &str = "audit_alerts";
/// Height (big-endian) → the height of the first committed block whose
/// payload certifies that height's execution result.
pub const AUDIT_CLAIMS: &str = "audit_claims";
/// Sequence number (big-endian) → one entry of the hash-chained log of
/// audit queries (JSON).
pub const AUDIT_LOG: &str = "audit_log";

/// The column families this module owns (every node opens them; only a
/// regulator's hold anything).
pub const COLUMNS: [Column; 5] = [
    Column {
        name: AUDIT_EDGES,
        compress: true,
    },
    Column {
        name: AUDIT_ACCOUNTS,
        compress: false,
    },
    Column {
        name: AUDIT_ALERTS,
        compress: true,
    },
    Column {
        name: AUDIT_CLAIMS,
        compress: false,
    },
    Column {
        name: AUDIT_LOG,
        compress: true,
    },
];

/// The entries one block adds to the indexes, for its batch.
pub fn puts(height: u64, audit: &AuditWrite) -> Vec<Put> {
    let mut out = Vec::with_capacity(audit.edges.len() * 3 + audit.alerts.len() + 1);
    for e in &audit.edges {
        let key = e.key();
        out.push(Put {
            column: AUDIT_EDGES,
            key: key.to_vec(),
            value: encode(e),
        });
        out.push(Put {
            column: AUDIT_ACCOUNTS,
            key: account_edge_key(&e.from, &key).to_vec(),
            value: Vec::new(),
        });
        if e.to != e.from {
            out.push(Put {
                column: AUDIT_ACCOUNTS,
                key: account_edge_key(&e.to, &key).to_vec(),
                value: Vec::new(),
            });
        }
    }
    for a in &audit.alerts {
        out.push(Put {
            column: AUDIT_ALERTS,
            key: a.id.to_be_bytes().to_vec(),
            value: serde_json::to_vec(a).expect("an alert encodes as JSON"),
        });
    }
    if let Some(claimed) = audit.first_claim {
        out.push(Put {
            column: AUDIT_CLAIMS,
            key: claimed.to_be_bytes().to_vec(),
            value: height.to_be_bytes().to_vec(),
        });
    }
    out
}

/// One indexed leg, by its key.
pub fn edge(db: &Db, key: &[u8; EDGE_KEY_BYTES]) -> Result<Option<Edge>, DbError> {
    db.get(AUDIT_EDGES, key)
}

/// Visits the legs that touch `account`, from `start` (an edge key)
/// onwards (`forward`) or backwards, until `visit` returns false.
pub fn account_edges(
    db: &Db,
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
    for item in db
        .rocks()
        .iterator_cf(db.cf(AUDIT_ACCOUNTS), IteratorMode::From(&from, direction))
    {
        let (key, _) = item?;
        if key.len() != ACCOUNT_KEY_BYTES || key[..20] != account.0 {
            break;
        }
        let mut edge_key = [0u8; EDGE_KEY_BYTES];
        edge_key.copy_from_slice(&key[20..]);
        let edge = edge(db, &edge_key)?
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
    db: &Db,
    start: [u8; EDGE_KEY_BYTES],
    mut visit: impl FnMut(Edge) -> bool,
) -> Result<(), DbError> {
    for item in db.rocks().iterator_cf(
        db.cf(AUDIT_EDGES),
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
pub fn newest_edges_start(db: &Db, n: usize) -> Result<Option<[u8; EDGE_KEY_BYTES]>, DbError> {
    if n == 0 {
        return Ok(None);
    }
    let mut iter = db.rocks().raw_iterator_cf(db.cf(AUDIT_EDGES));
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
    db: &Db,
    from: u64,
    mut visit: impl FnMut(Alert) -> bool,
) -> Result<(), DbError> {
    for item in db.rocks().iterator_cf(
        db.cf(AUDIT_ALERTS),
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
pub fn last_alert_id(db: &Db) -> Result<u64, DbError> {
    let mut iter = db
        .rocks()
        .iterator_cf(db.cf(AUDIT_ALERTS), IteratorMode::End);
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

/// The height of the first committed block that certifies the execution
/// result of `height`, if one does.
pub fn claim_of(db: &Db, height: u64) -> Result<Option<u64>, DbError> {
    match db
        .rocks()
        .get_cf(db.cf(AUDIT_CLAIMS), height.to_be_bytes())?
    {
        Some(v) => {
            let b: [u8; 8] = v
                .as_slice()
                .try_into()
                .map_err(|_| corrupt("audit_claims", "entry is not 8 bytes"))?;
            Ok(Some(u64::from_be_bytes(b)))
        }
        None => Ok(None),
    }
}

/// The highest height at or below `height` whose execution result a
/// committed block certifies, with the height of that block.
pub fn claim_at_or_below(db: &Db, height: u64) -> Result<Option<(u64, u64)>, DbError> {
    let mut iter = db.rocks().iterator_cf(
        db.cf(AUDIT_CLAIMS),
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

/// The head of the audit-query log: (next sequence number, hash of
/// the last entry).
pub fn audit_log_head(db: &Db) -> Result<(u64, Hash), DbError> {
    Ok(db
        .get::<(u64, Hash)>(crate::store::cf::META, b"audit_log_head")?
        .unwrap_or((0, Hash::ZERO)))
}

/// Appends one entry to the audit-query log, synced, with the new head.
pub fn audit_log_append(db: &Db, seq: u64, entry: &[u8], hash: Hash) -> Result<(), DbError> {
    let mut batch = WriteBatch::default();
    batch.put_cf(db.cf(AUDIT_LOG), seq.to_be_bytes(), entry);
    batch.put_cf(
        db.cf(crate::store::cf::META),
        b"audit_log_head",
        encode(&(seq + 1, hash)),
    );
    db.rocks().write_opt(batch, &synced())?;
    Ok(())
}

/// Visits audit-log entries from `from`, in order, until `visit`
/// returns false.
pub fn audit_log_from(
    db: &Db,
    from: u64,
    mut visit: impl FnMut(u64, &[u8]) -> bool,
) -> Result<(), DbError> {
    for item in db.rocks().iterator_cf(
        db.cf(AUDIT_LOG),
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

/// The regulator's allow-list (JSON), in the metadata column: it is the
/// node's own setting, not the chain's.
const ALLOW_LIST_KEY: &[u8] = b"audit_allow_list";

/// The allow-list as last saved (empty when never set).
pub fn allow_list(db: &Db) -> Result<Vec<hutong_audit::AllowEntry>, DbError> {
    match db
        .rocks()
        .get_cf(db.cf(crate::store::cf::META), ALLOW_LIST_KEY)?
    {
        Some(bytes) => serde_json::from_slice(&bytes).map_err(|e| corrupt("audit_allow_list", e)),
        None => Ok(Vec::new()),
    }
}

/// Saves the allow-list, synced.
pub fn save_allow_list(db: &Db, entries: &[hutong_audit::AllowEntry]) -> Result<(), DbError> {
    let bytes = serde_json::to_vec(entries).map_err(|e| corrupt("audit_allow_list", e))?;
    let mut batch = WriteBatch::default();
    batch.put_cf(db.cf(crate::store::cf::META), ALLOW_LIST_KEY, bytes);
    db.rocks().write_opt(batch, &synced())?;
    Ok(())
}

/// Bytes of an account-index key: address ‖ edge key.
const ACCOUNT_KEY_BYTES: usize = 20 + EDGE_KEY_BYTES;

fn account_edge_key(account: &Address, edge: &[u8; EDGE_KEY_BYTES]) -> [u8; ACCOUNT_KEY_BYTES] {
    let mut key = [0u8; ACCOUNT_KEY_BYTES];
    key[..20].copy_from_slice(&account.0);
    key[20..].copy_from_slice(edge);
    key
}

/// The audit-query log is a column of the database, each entry appended
/// synced with the new head before the query is answered.
impl hutong_audit::auth::AuditLog for Db {
    type Error = DbError;

    fn head(&self) -> Result<(u64, Hash), DbError> {
        audit_log_head(self)
    }

    fn append(&self, seq: u64, entry: &[u8], hash: Hash) -> Result<(), DbError> {
        audit_log_append(self, seq, entry, hash)
    }
}

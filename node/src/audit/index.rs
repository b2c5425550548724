//! The regulator's audit indexes on disk: their column families, key
//! layouts, what a block writes into them (in the block's own batch, so
//! the indexes are never ahead of or behind the ledger) and the reads the
//! audit queries and proofs make. Only a regulator node writes them; every
//! node opens them (empty elsewhere).

use std::collections::BTreeMap;

use hutong_audit::{edge_key, Alert, AuditWrite, Edge, EdgeKind, EDGE_KEY_BYTES};
use hutong_runtime::crypto::Hash;
use hutong_runtime::state::{Account, AccountKind, StateKey, StateValue};
use hutong_runtime::{Address, AssetCode};
use rocksdb::{Direction, IteratorMode, WriteBatch};

use crate::store::{cf, corrupt, decode, encode, synced, Column, Db, DbError, Merge, Put};

/// Height ‖ index ‖ leg → [`Edge`]: every leg of every committed
/// transaction, in ledger order.
pub const AUDIT_EDGES: &str = "audit_edges";
/// Address ‖ side (0: sent, 1: received) ‖ height ‖ index ‖ leg → a
/// [`Summary`] of the leg (9 bytes): the legs an account sent, then those
/// it received, each in ledger order (a leg to itself is in both). A
/// trace backward from a payroll account reads what it received without
/// passing over its payouts.
pub const AUDIT_POSTINGS: &str = "audit_postings";
/// Address ‖ height ‖ index ‖ leg → nothing: the index by account that
/// [`AUDIT_POSTINGS`] replaced; emptied once that one is built.
const AUDIT_ACCOUNTS_BEFORE: &str = "audit_accounts";
/// Level ‖ bucket start ‖ from institution ‖ to institution ‖ asset →
/// legs (u64) ‖ amount (u128), little-endian, summed by a merge operator:
/// the money moved between institutions per block, minute, hour and day
/// (see [`flows_between`]). Whatever opens a regulator's database must
/// give this family its merge operator ([`COLUMNS`]): RocksDB cannot
/// recover or compact merge operands without it.
pub const AUDIT_FLOWS: &str = "audit_flows";
/// Alert id (big-endian) → [`Alert`] (JSON).
pub const AUDIT_ALERTS: &str = "audit_alerts";
/// Height (big-endian) → the height of the first committed block whose
/// payload certifies that height's execution result.
pub const AUDIT_CLAIMS: &str = "audit_claims";
/// Sequence number (big-endian) → one entry of the hash-chained log of
/// audit queries (JSON).
pub const AUDIT_LOG: &str = "audit_log";
/// Owner ‖ address → the height that opened the account (big-endian; 0
/// for the genesis'): every account of an owner, at every institution.
/// The owner is the owner id of the identity tag in the account's
/// envelope (`hutong_privacy::IdentityTag::owner`), or, on a chain
/// without an identity service, the account's identity commitment.
pub const AUDIT_OWNERS: &str = "audit_owners";
/// Address → the owner id of the identity tag its `OpenAccount`'s
/// envelope sealed to the regulator (32 bytes): only the regulator's node
/// can open envelopes, so only its database links accounts to owners.
pub const AUDIT_ACCOUNT_OWNERS: &str = "audit_account_owners";
/// Listing key → owner id (32 bytes each): whose accounts a listing on
/// the shared blacklist names, for the regulator's alert.
pub const AUDIT_LISTING_OWNERS: &str = "audit_listing_owners";

/// The column families this module owns (every node opens them; only a
/// regulator's hold anything).
pub const COLUMNS: [Column; 9] = [
    Column {
        name: AUDIT_EDGES,
        compress: true,
        merge: None,
        prefix: None,
    },
    Column {
        name: AUDIT_POSTINGS,
        compress: false,
        merge: None,
        prefix: None,
    },
    Column {
        name: AUDIT_ALERTS,
        compress: true,
        merge: None,
        prefix: None,
    },
    Column {
        name: AUDIT_CLAIMS,
        compress: false,
        merge: None,
        prefix: None,
    },
    Column {
        name: AUDIT_LOG,
        compress: true,
        merge: None,
        prefix: None,
    },
    Column {
        name: AUDIT_FLOWS,
        compress: true,
        merge: Some(Merge {
            name: "hutong_flow_totals",
            full: merge_flow_totals,
        }),
        prefix: None,
    },
    Column {
        name: AUDIT_OWNERS,
        compress: false,
        merge: None,
        prefix: None,
    },
    Column {
        name: AUDIT_ACCOUNT_OWNERS,
        compress: false,
        merge: None,
        prefix: None,
    },
    Column {
        name: AUDIT_LISTING_OWNERS,
        compress: false,
        merge: None,
        prefix: None,
    },
];

/// The entries one block adds to the indexes, for its batch.
pub fn puts(height: u64, audit: &AuditWrite) -> Vec<Put> {
    let mut out = Vec::with_capacity(audit.edges.len() * 3 + audit.alerts.len() + 1);
    for e in &audit.edges {
        out.push(Put {
            column: AUDIT_EDGES,
            key: e.key().to_vec(),
            value: encode(e),
            merge: false,
        });
        out.extend(postings(e));
    }
    out.extend(flow_merges(height, &audit.edges));
    for a in &audit.alerts {
        out.push(Put {
            column: AUDIT_ALERTS,
            key: a.id.to_be_bytes().to_vec(),
            value: serde_json::to_vec(a).expect("an alert encodes as JSON"),
            merge: false,
        });
    }
    for (owner, account) in &audit.owners {
        out.push(owner_put(owner, account, height));
        out.push(Put {
            column: AUDIT_ACCOUNT_OWNERS,
            key: account.0.to_vec(),
            value: owner.0.to_vec(),
            merge: false,
        });
    }
    for (listing, owner) in &audit.listing_owners {
        out.push(Put {
            column: AUDIT_LISTING_OWNERS,
            key: listing.0.to_vec(),
            value: owner.0.to_vec(),
            merge: false,
        });
    }
    if let Some(claimed) = audit.first_claim {
        out.push(Put {
            column: AUDIT_CLAIMS,
            key: claimed.to_be_bytes().to_vec(),
            value: height.to_be_bytes().to_vec(),
            merge: false,
        });
    }
    out
}

/// The owner-index entry of an account opened at `height`.
pub fn owner_put(owner: &Hash, account: &Address, height: u64) -> Put {
    let mut key = Vec::with_capacity(52);
    key.extend_from_slice(&owner.0);
    key.extend_from_slice(&account.0);
    Put {
        column: AUDIT_OWNERS,
        key,
        value: height.to_be_bytes().to_vec(),
        merge: false,
    }
}

/// The owner a listing key names, if the regulator's node opened an
/// envelope of that owner.
pub fn listing_owner(db: &Db, listing_key: &Hash) -> Result<Option<Hash>, DbError> {
    match db
        .rocks()
        .get_pinned_cf(db.cf(AUDIT_LISTING_OWNERS), listing_key.0)?
    {
        Some(v) => Ok(Some(Hash(v.as_ref().try_into().map_err(|_| {
            corrupt("audit_listing_owners", "an owner of the wrong length")
        })?))),
        None => Ok(None),
    }
}

/// The accounts of `owner` with addresses above `after`, by address, each
/// with the height that opened it, until `visit` returns false.
pub fn owner_accounts(
    db: &Db,
    owner: &Hash,
    after: Option<&Address>,
    mut visit: impl FnMut(Address, u64) -> bool,
) -> Result<(), DbError> {
    let mut start = owner.0.to_vec();
    if let Some(a) = after {
        start.extend_from_slice(&a.0);
        start.push(0);
    }
    for item in db.rocks().iterator_cf(
        db.cf(AUDIT_OWNERS),
        IteratorMode::From(&start, Direction::Forward),
    ) {
        let (key, value) = item?;
        if key.len() != 52 || key[..32] != owner.0 {
            break;
        }
        let mut address = Address::default();
        address.0.copy_from_slice(&key[32..]);
        let height: [u8; 8] = value
            .as_ref()
            .try_into()
            .map_err(|_| corrupt("audit_owners", "a height of the wrong length"))?;
        if !visit(address, u64::from_be_bytes(height)) {
            break;
        }
    }
    Ok(())
}

/// The account-index entries of one leg: under its sender, and under its
/// recipient.
fn postings(e: &Edge) -> [Put; 2] {
    let key = e.key();
    [(Side::Sent, &e.from), (Side::Received, &e.to)].map(|(side, account)| Put {
        column: AUDIT_POSTINGS,
        key: posting_key(account, side, &key).to_vec(),
        value: Summary::of(e, account).encode().to_vec(),
        merge: false,
    })
}

/// Which of an account's legs a walk reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sides {
    Sent,
    Received,
    /// Both, merged in ledger order (a leg to itself once).
    Both,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Sent = 0,
    Received = 1,
}

/// What the account index tells of a leg without reading it: enough for
/// history and tracing to pass over legs they do not want (a payout
/// account's thousands of payouts, on a trace looking for what came in).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    /// The account sent it.
    pub sent: bool,
    /// The account received it.
    pub received: bool,
    /// It moved money ([`Edge::is_movement`]).
    pub moves: bool,
    /// Its transaction failed.
    pub failed: bool,
    pub timestamp_ms: u64,
}

const SENT: u8 = 1;
const RECEIVED: u8 = 2;
const MOVES: u8 = 4;
const FAILED: u8 = 8;

impl Summary {
    fn of(e: &Edge, account: &Address) -> Summary {
        Summary {
            sent: e.from == *account,
            received: e.to == *account,
            moves: e.is_movement(),
            failed: !e.succeeded(),
            timestamp_ms: e.timestamp_ms,
        }
    }

    fn encode(&self) -> [u8; 9] {
        let mut out = [0u8; 9];
        for (set, bit) in [
            (self.sent, SENT),
            (self.received, RECEIVED),
            (self.moves, MOVES),
            (self.failed, FAILED),
        ] {
            if set {
                out[0] |= bit;
            }
        }
        out[1..].copy_from_slice(&self.timestamp_ms.to_be_bytes());
        out
    }

    fn decode(raw: &[u8]) -> Result<Summary, DbError> {
        let raw: &[u8; 9] = raw
            .try_into()
            .map_err(|_| corrupt("audit_postings", "a summary of the wrong length"))?;
        let flags = raw[0];
        let mut ts = [0u8; 8];
        ts.copy_from_slice(&raw[1..]);
        Ok(Summary {
            sent: flags & SENT != 0,
            received: flags & RECEIVED != 0,
            moves: flags & MOVES != 0,
            failed: flags & FAILED != 0,
            timestamp_ms: u64::from_be_bytes(ts),
        })
    }
}

/// One entry of an account's index, before its leg is read.
#[derive(Debug, Clone, Copy)]
pub struct Posting {
    pub key: [u8; EDGE_KEY_BYTES],
    pub summary: Summary,
}

/// What to do with a posting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Read its leg and visit it.
    Read,
    /// Pass over it.
    Skip,
    /// End the walk.
    Stop,
}

/// Flow buckets: a block (by height), and whole minutes, hours and days
/// of block time (UTC, by start).
const LEVEL_BLOCK: u8 = 0;
const TIME_LEVELS: [(u8, u64); 3] = [(3, 86_400_000), (2, 3_600_000), (1, 60_000)];

/// Bytes of a flow key: level ‖ start ‖ from ‖ to ‖ asset.
const FLOW_KEY_BYTES: usize = 1 + 8 + 20 + 20 + 8;

fn flow_key(level: u8, start: u64, from: &Address, to: &Address, asset: &AssetCode) -> Vec<u8> {
    let mut key = Vec::with_capacity(FLOW_KEY_BYTES);
    key.push(level);
    key.extend_from_slice(&start.to_be_bytes());
    key.extend_from_slice(&from.0);
    key.extend_from_slice(&to.0);
    key.extend_from_slice(&encode(asset));
    key
}

fn flow_value(legs: u64, amount: u128) -> Vec<u8> {
    let mut v = Vec::with_capacity(24);
    v.extend_from_slice(&legs.to_le_bytes());
    v.extend_from_slice(&amount.to_le_bytes());
    v
}

fn parse_flow_value(raw: &[u8]) -> Option<(u64, u128)> {
    if raw.len() != 24 {
        return None;
    }
    let legs = u64::from_le_bytes(raw[..8].try_into().ok()?);
    let amount = u128::from_le_bytes(raw[8..].try_into().ok()?);
    Some((legs, amount))
}

/// The merge operator of [`AUDIT_FLOWS`]: operands add up (saturating,
/// which keeps the sum associative). A malformed operand is dropped
/// rather than poisoning the total; none is ever written.
fn merge_flow_totals(
    _key: &[u8],
    existing: Option<&[u8]>,
    operands: &rocksdb::MergeOperands,
) -> Option<Vec<u8>> {
    let (mut legs, mut amount) = existing.and_then(parse_flow_value).unwrap_or((0, 0));
    for op in operands {
        if let Some((l, a)) = parse_flow_value(op) {
            legs = legs.saturating_add(l);
            amount = amount.saturating_add(a);
        }
    }
    Some(flow_value(legs, amount))
}

/// The merges that add one block's movements to every bucket holding it.
fn flow_merges(height: u64, edges: &[Edge]) -> Vec<Put> {
    let Some(timestamp_ms) = edges.first().map(|e| e.timestamp_ms) else {
        return Vec::new();
    };
    let mut totals: BTreeMap<(Address, Address, AssetCode), (u64, u128)> = BTreeMap::new();
    for e in edges.iter().filter(|e| e.is_movement()) {
        let Some(asset) = e.asset else { continue };
        let t = totals
            .entry((e.from_institution, e.to_institution, asset))
            .or_default();
        t.0 += 1;
        t.1 = t.1.saturating_add(e.amount.0);
    }
    let mut out = Vec::with_capacity(totals.len() * 4);
    for ((from, to, asset), (legs, amount)) in totals {
        let value = flow_value(legs, amount);
        out.push(Put {
            column: AUDIT_FLOWS,
            key: flow_key(LEVEL_BLOCK, height, &from, &to, &asset),
            value: value.clone(),
            merge: true,
        });
        for (level, size) in TIME_LEVELS {
            out.push(Put {
                column: AUDIT_FLOWS,
                key: flow_key(
                    level,
                    timestamp_ms - timestamp_ms % size,
                    &from,
                    &to,
                    &asset,
                ),
                value: value.clone(),
                merge: true,
            });
        }
    }
    out
}

/// Money moved between institutions by legs with block time in
/// `from_ms..to_ms`: (from, to, asset) → (legs, amount). Read from the
/// largest buckets that fit inside the period, then smaller ones at its
/// ends, then single blocks: a day's flows read a few thousand entries,
/// whatever the load.
#[allow(clippy::type_complexity)]
pub fn flows_between(
    db: &Db,
    from_ms: u64,
    to_ms: u64,
) -> Result<BTreeMap<(Address, Address, AssetCode), (u64, u128)>, DbError> {
    let mut ranges = Vec::new();
    cover(from_ms, to_ms, 0, &mut ranges);
    let mut out: BTreeMap<(Address, Address, AssetCode), (u64, u128)> = BTreeMap::new();
    for (level, lo, hi) in ranges {
        let (lo, hi) = if level == LEVEL_BLOCK {
            (db.height_at_time(lo)?, db.height_at_time(hi)?)
        } else {
            (lo, hi)
        };
        if lo >= hi {
            continue;
        }
        let mut start = vec![level];
        start.extend_from_slice(&lo.to_be_bytes());
        for item in db.rocks().iterator_cf(
            db.cf(AUDIT_FLOWS),
            IteratorMode::From(&start, Direction::Forward),
        ) {
            let (key, value) = item?;
            if key.len() != FLOW_KEY_BYTES || key[0] != level {
                break;
            }
            let at = u64::from_be_bytes(key[1..9].try_into().unwrap_or_default());
            if at >= hi {
                break;
            }
            let (legs, amount) = parse_flow_value(&value)
                .ok_or_else(|| corrupt("audit_flows", "a total of the wrong length"))?;
            let mut a = [0u8; 20];
            let mut b = [0u8; 20];
            a.copy_from_slice(&key[9..29]);
            b.copy_from_slice(&key[29..49]);
            let asset: AssetCode = decode("audit_flows", &key[49..57])?;
            let t = out.entry((Address(a), Address(b), asset)).or_default();
            t.0 = t.0.saturating_add(legs);
            t.1 = t.1.saturating_add(amount);
        }
    }
    Ok(out)
}

/// Splits `from..to` (block time) into whole buckets of the largest
/// sizes that fit and, at its ends, time ranges left to single blocks
/// (level [`LEVEL_BLOCK`], still in milliseconds here).
fn cover(from: u64, to: u64, level: usize, out: &mut Vec<(u8, u64, u64)>) {
    if from >= to {
        return;
    }
    let Some(&(code, size)) = TIME_LEVELS.get(level) else {
        out.push((LEVEL_BLOCK, from, to));
        return;
    };
    let first = from.checked_next_multiple_of(size);
    let last = to - to % size;
    match first {
        Some(first) if first < last => {
            out.push((code, first, last));
            cover(from, first, level + 1, out);
            cover(last, to, level + 1, out);
        }
        _ => cover(from, to, level + 1, out),
    }
}

/// Builds the indexes derived from the legs ([`AUDIT_FLOWS`],
/// [`AUDIT_POSTINGS`]) for blocks indexed before they existed: once, on a
/// regulator's first start with them, resumable (each batch records how
/// far it got). Blocks from then on write them with their batch. Returns
/// the legs folded into each.
pub fn backfill(db: &Db) -> Result<Vec<(&'static str, u64)>, DbError> {
    let flows = backfill_one(db, "flows", |height, block| Ok(flow_merges(height, block)))?;
    let postings = backfill_one(db, "postings", |_, block| {
        Ok(block.iter().flat_map(postings).collect())
    })?;
    // The owners of the accounts opened before: their commitments, read
    // from the accounts as they are now (a commitment never changes).
    let owners = backfill_one(db, "owners", |height, block| {
        let mut out = Vec::new();
        for e in block {
            if e.kind == EdgeKind::OpenAccount && e.succeeded() {
                if let Some(owner) = owner_of(db, &e.to)? {
                    out.push(owner_put(&owner, &e.to, height));
                }
            }
        }
        Ok(out)
    })?;
    // The index the postings replaced, emptied once they are complete.
    if let Some(old) = db.rocks().cf_handle(AUDIT_ACCOUNTS_BEFORE) {
        let mut first = db.rocks().iterator_cf(old, IteratorMode::Start);
        if first.next().is_some() {
            let mut batch = WriteBatch::default();
            batch.delete_range_cf(old, [0u8; 1].as_slice(), [0xFFu8; 64].as_slice());
            db.rocks().write_opt(batch, &synced())?;
            db.rocks()
                .compact_range_cf(old, None::<&[u8]>, None::<&[u8]>);
        }
    }
    Ok(vec![
        (AUDIT_FLOWS, flows),
        (AUDIT_POSTINGS, postings),
        (AUDIT_OWNERS, owners),
    ])
}

/// Writes the owner-index entries of the genesis' accounts (again on
/// every start: the same entries).
pub fn index_genesis_owners(
    db: &Db,
    accounts: &[hutong_genesis::validate::GenesisAccount],
) -> Result<(), DbError> {
    let mut batch = WriteBatch::default();
    for a in accounts {
        if a.identity_commitment != Hash::ZERO {
            let p = owner_put(&a.identity_commitment, &Address::of(&a.owner), 0);
            batch.put_cf(db.cf(p.column), &p.key, &p.value);
        }
    }
    db.rocks().write_opt(batch, &synced())?;
    Ok(())
}

/// The owner of an account in the database: the owner id of its opened
/// identity envelope, else its identity commitment when it is a
/// customer's and not zero (a chain without an identity service, or an
/// envelope that did not open: then the account is its own owner).
pub fn owner_of(db: &Db, account: &Address) -> Result<Option<Hash>, DbError> {
    if let Some(owner) = db
        .rocks()
        .get_pinned_cf(db.cf(AUDIT_ACCOUNT_OWNERS), account.0)?
    {
        let owner: [u8; 32] = owner
            .as_ref()
            .try_into()
            .map_err(|_| corrupt("audit_account_owners", "an owner of the wrong length"))?;
        return Ok(Some(Hash(owner)));
    }
    Ok(match db.state(&StateKey::Account(*account))? {
        Some(StateValue::Account(Account {
            kind:
                AccountKind::Customer {
                    identity_commitment,
                    ..
                },
            ..
        })) if identity_commitment != Hash::ZERO => Some(identity_commitment),
        _ => None,
    })
}

/// [`backfill`] of one derived index, named `name` in its markers.
fn backfill_one(
    db: &Db,
    name: &str,
    derive: impl Fn(u64, &[Edge]) -> Result<Vec<Put>, DbError>,
) -> Result<u64, DbError> {
    let since_key = format!("audit_{name}_since").into_bytes();
    let done_key = format!("audit_{name}_backfilled").into_bytes();
    let since: u64 = match db.get(cf::META, &since_key)? {
        Some(h) => h,
        None => {
            // Blocks from the next one on carry their own entries.
            let next = db.executed()?.map(|e| e.height + 1).unwrap_or(0);
            let mut batch = WriteBatch::default();
            batch.put_cf(db.cf(cf::META), &since_key, encode(&next));
            batch.put_cf(db.cf(cf::META), &done_key, encode(&0u64));
            db.rocks().write_opt(batch, &synced())?;
            next
        }
    };
    let mut done: u64 = db.get(cf::META, &done_key)?.unwrap_or(0);
    let mut folded = 0u64;
    while done < since {
        // About 100,000 legs per batch, in whole blocks.
        let mut block: Vec<Edge> = Vec::new();
        let mut puts: Vec<Put> = Vec::new();
        let mut legs = 0u64;
        let mut next = since;
        let mut failure = None;
        edges_from(db, edge_key(done, 0, 0), |e| {
            if e.height >= since {
                return false;
            }
            if block.first().is_some_and(|b| b.height != e.height) {
                match derive(block[0].height, &block) {
                    Ok(p) => puts.extend(p),
                    Err(e) => {
                        failure = Some(e);
                        return false;
                    }
                }
                block.clear();
                if legs >= 100_000 {
                    next = e.height;
                    return false;
                }
            }
            legs += 1;
            block.push(e);
            true
        })?;
        if let Some(e) = failure {
            return Err(e);
        }
        if let Some(b) = block.first() {
            puts.extend(derive(b.height, &block)?);
        }
        let mut batch = WriteBatch::default();
        for p in &puts {
            if p.merge {
                batch.merge_cf(db.cf(p.column), &p.key, &p.value);
            } else {
                batch.put_cf(db.cf(p.column), &p.key, &p.value);
            }
        }
        batch.put_cf(db.cf(cf::META), &done_key, encode(&next));
        db.rocks().write_opt(batch, &synced())?;
        folded += legs;
        done = next;
    }
    Ok(folded)
}

/// One indexed leg, by its key.
pub fn edge(db: &Db, key: &[u8; EDGE_KEY_BYTES]) -> Result<Option<Edge>, DbError> {
    db.get(AUDIT_EDGES, key)
}

/// Walks the legs of `account` on `sides`, from `start` (an edge key)
/// onwards (`forward`) or backwards: `look` decides from each posting
/// (without reading its leg) whether to read it, pass over it or stop;
/// `visit` gets the legs read, and stops the walk by returning false.
pub fn account_edges(
    db: &Db,
    account: &Address,
    sides: Sides,
    start: [u8; EDGE_KEY_BYTES],
    forward: bool,
    mut look: impl FnMut(&Posting) -> Step,
    mut visit: impl FnMut(Edge) -> bool,
) -> Result<(), DbError> {
    let mut walks: Vec<Walk<'_>> = match sides {
        Sides::Sent => vec![Walk::new(db, account, Side::Sent, start, forward)],
        Sides::Received => vec![Walk::new(db, account, Side::Received, start, forward)],
        Sides::Both => vec![
            Walk::new(db, account, Side::Sent, start, forward),
            Walk::new(db, account, Side::Received, start, forward),
        ],
    };
    let mut last: Option<[u8; EDGE_KEY_BYTES]> = None;
    loop {
        // The next posting in ledger order (either way) over the walks.
        let mut best: Option<(usize, [u8; EDGE_KEY_BYTES])> = None;
        for (i, w) in walks.iter().enumerate() {
            if let Some(k) = w.key()? {
                let better = best.is_none_or(|(_, b)| if forward { k < b } else { k > b });
                if better {
                    best = Some((i, k));
                }
            }
        }
        let Some((i, key)) = best else { break };
        let summary = walks[i].summary()?;
        walks[i].advance();
        // A leg to itself, met on both sides: once.
        if last == Some(key) {
            continue;
        }
        last = Some(key);
        match look(&Posting { key, summary }) {
            Step::Stop => break,
            Step::Skip => continue,
            Step::Read => {}
        }
        let edge = edge(db, &key)?
            .ok_or_else(|| corrupt("audit_postings", "names a leg that is not indexed"))?;
        if !visit(edge) {
            break;
        }
    }
    Ok(())
}

/// One side of an account's postings, walked with a raw iterator.
struct Walk<'a> {
    iter: rocksdb::DBRawIteratorWithThreadMode<'a, rocksdb::DB>,
    prefix: [u8; 21],
    forward: bool,
}

impl<'a> Walk<'a> {
    fn new(
        db: &'a Db,
        account: &Address,
        side: Side,
        start: [u8; EDGE_KEY_BYTES],
        forward: bool,
    ) -> Walk<'a> {
        let mut iter = db.rocks().raw_iterator_cf(db.cf(AUDIT_POSTINGS));
        let key = posting_key(account, side, &start);
        if forward {
            iter.seek(key);
        } else {
            iter.seek_for_prev(key);
        }
        let mut prefix = [0u8; 21];
        prefix.copy_from_slice(&key[..21]);
        Walk {
            iter,
            prefix,
            forward,
        }
    }

    /// The edge key of the current posting, `None` past the account's side.
    fn key(&self) -> Result<Option<[u8; EDGE_KEY_BYTES]>, DbError> {
        match self.iter.key() {
            Some(k) if k.len() == POSTING_KEY_BYTES && k[..21] == self.prefix => {
                let mut out = [0u8; EDGE_KEY_BYTES];
                out.copy_from_slice(&k[21..]);
                Ok(Some(out))
            }
            Some(_) => Ok(None),
            None => {
                self.iter.status()?;
                Ok(None)
            }
        }
    }

    fn summary(&self) -> Result<Summary, DbError> {
        Summary::decode(self.iter.value().unwrap_or_default())
    }

    fn advance(&mut self) {
        if self.forward {
            self.iter.next();
        } else {
            self.iter.prev();
        }
    }
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

/// Bytes of a posting's key: address ‖ side ‖ edge key.
const POSTING_KEY_BYTES: usize = 20 + 1 + EDGE_KEY_BYTES;

fn posting_key(
    account: &Address,
    side: Side,
    edge: &[u8; EDGE_KEY_BYTES],
) -> [u8; POSTING_KEY_BYTES] {
    let mut key = [0u8; POSTING_KEY_BYTES];
    key[..20].copy_from_slice(&account.0);
    key[20] = side as u8;
    key[21..].copy_from_slice(edge);
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

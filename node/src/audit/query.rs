//! The regulator's questions, answered from the audit indexes: account
//! history, fund tracing, institution flows, report export, alerts; and
//! the CSV and Graphviz renderings of their answers.
//!
//! Every query is bounded: a page limit on what it returns and a cap on
//! what it may scan, with a cursor (or a `truncated` flag) when the cap
//! cuts it short.

use std::collections::{BTreeMap, HashMap, HashSet};

use hutong_audit::api::{
    AlertsPage, AlertsQuery, BalanceView, BlockRow, Direction, ExportPage, ExportQuery, Flows,
    FlowsQuery, GrossFlow, HistoryPage, HistoryQuery, HistoryRow, LedgerPage, LedgerQuery,
    LegDirection, NetFlow, Outcome, OwnedAccount, OwnerAccounts, OwnerQuery, Trace, TraceDirection,
    TraceLeg, TraceNode, TraceQuery, TraceStart,
};
use hutong_audit::api::{CycleSettlement, SettlementPosition, SETTLEMENT_CYCLES_MAX};
use hutong_audit::{edge_key, Alert, AlertKind, Edge, Names, EDGE_KEY_BYTES};
use hutong_runtime::crypto::Hash;
use hutong_runtime::state::{AccountKind, StateKey, StateValue};
use hutong_runtime::{Address, AssetCode};

use super::index;
use crate::store::{Db, DbError};

/// A query the node refuses (bad parameters), or a database failure.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    NotFound(String),
    #[error("database: {0}")]
    Db(#[from] DbError),
}

fn invalid(s: impl Into<String>) -> QueryError {
    QueryError::Invalid(s.into())
}

fn parse_address(s: &str, what: &str) -> Result<Address, QueryError> {
    s.parse()
        .map_err(|e| invalid(format!("{what} {s:?} is not an address: {e}")))
}

fn parse_asset(s: &str) -> Result<AssetCode, QueryError> {
    s.parse()
        .map_err(|e| invalid(format!("{s:?} is not an asset code: {e:?}")))
}

fn parse_cursor(s: &str) -> Result<[u8; EDGE_KEY_BYTES], QueryError> {
    let raw = hex::decode(s).map_err(|_| invalid(format!("cursor {s:?} is not hex")))?;
    raw.try_into()
        .map_err(|_| invalid(format!("cursor {s:?} is not a cursor this node gave")))
}

/// Most index entries one call may examine.
const SCAN_MAX: usize = 200_000;
/// Most rows of one page.
const PAGE_MAX: usize = 10_000;

/// Most accounts of one owner an owner-wide history merges.
const OWNER_HISTORY_ACCOUNTS_MAX: usize = 64;

/// Every transaction leg touching an account, oldest first, paged; with
/// `whole_owner`, every leg touching any account of its owner.
pub fn history(db: &Db, names: &Names, q: HistoryQuery) -> Result<HistoryPage, QueryError> {
    if q.whole_owner {
        return owner_history(db, names, q);
    }
    account_history(db, names, q)
}

/// The owner's accounts' histories merged in ledger order. Each account
/// is read from the cursor on, `limit` rows at most; a row is kept only
/// below every account's own stopping point, so nothing before the next
/// cursor is missed. Directions are the owner's: a transfer between two of
/// its accounts is `to_self`, once.
fn owner_history(db: &Db, names: &Names, q: HistoryQuery) -> Result<HistoryPage, QueryError> {
    let account = parse_address(&q.account, "account")?;
    if db.state(&StateKey::Account(account))?.is_none() {
        return Err(QueryError::NotFound(format!("no account {account}")));
    }
    let owner = index::owner_of(db, &account)?;
    let mut accounts: Vec<Address> = Vec::new();
    if let Some(owner) = &owner {
        let mut more = false;
        index::owner_accounts(db, owner, None, |a, _| {
            if accounts.len() == OWNER_HISTORY_ACCOUNTS_MAX {
                more = true;
                return false;
            }
            accounts.push(a);
            true
        })?;
        if more {
            return Err(invalid(format!(
                "the owner of {account} has more than {OWNER_HISTORY_ACCOUNTS_MAX} accounts: \
                 ask for each account's history (hutong_auditOwner lists them)"
            )));
        }
    }
    if !accounts.contains(&account) {
        accounts.push(account);
    }
    let mine: HashSet<Address> = accounts.iter().copied().collect();
    let direction = q.direction.unwrap_or_default();
    let limit = q.limit.unwrap_or(100).clamp(1, PAGE_MAX);
    let mut merged: BTreeMap<[u8; EDGE_KEY_BYTES], HistoryRow> = BTreeMap::new();
    let mut stop: Option<[u8; EDGE_KEY_BYTES]> = None;
    for a in &accounts {
        // The direction filter is the owner's, applied after the merge:
        // a leg into one account may be from another of the owner's.
        let page = account_history(
            db,
            names,
            HistoryQuery {
                account: a.to_string(),
                direction: None,
                limit: Some(limit),
                whole_owner: false,
                ..q.clone()
            },
        )?;
        if let Some(c) = &page.next_cursor {
            let key = parse_cursor(c)?;
            stop = Some(stop.map_or(key, |s| s.min(key)));
        }
        for mut row in page.rows {
            let key = edge_key(row.leg.height, row.leg.index, row.leg.leg);
            if merged.contains_key(&key) {
                continue;
            }
            let out = parse_address(&row.leg.from, "from").is_ok_and(|f| mine.contains(&f));
            let inbound = parse_address(&row.leg.to, "to").is_ok_and(|t| mine.contains(&t));
            row.direction = match (out, inbound) {
                (true, true) => LegDirection::ToSelf,
                (true, false) => LegDirection::Out,
                _ => LegDirection::In,
            };
            let keep = match direction {
                Direction::In => row.direction == LegDirection::In,
                Direction::Out => row.direction == LegDirection::Out,
                Direction::Any => true,
            };
            if keep {
                merged.insert(key, row);
            }
        }
    }
    let mut rows = Vec::new();
    let mut next = stop;
    for (key, row) in merged {
        if stop.is_some_and(|s| key >= s) {
            break;
        }
        if rows.len() == limit {
            next = Some(key);
            break;
        }
        rows.push(row);
    }
    Ok(HistoryPage {
        account: account.to_string(),
        owner: owner.map(|o| o.to_hex()),
        accounts: accounts.iter().map(|a| a.to_string()).collect(),
        rows,
        next_cursor: next.map(hex::encode),
    })
}

/// Every transaction leg touching one account, oldest first, paged.
fn account_history(db: &Db, names: &Names, q: HistoryQuery) -> Result<HistoryPage, QueryError> {
    let account = parse_address(&q.account, "account")?;
    let asset = q.asset.as_deref().map(parse_asset).transpose()?;
    let counterparty = q
        .counterparty
        .as_deref()
        .map(|c| parse_address(c, "counterparty"))
        .transpose()?;
    let direction = q.direction.unwrap_or_default();
    let status = q.status.unwrap_or_default();
    let limit = q.limit.unwrap_or(100).clamp(1, PAGE_MAX);
    let to_ms = q.to_ms.unwrap_or(u64::MAX);
    let start = match &q.cursor {
        Some(c) => parse_cursor(c)?,
        None => edge_key(db.height_at_time(q.from_ms.unwrap_or(0))?, 0, 0),
    };
    let from_ms = q.from_ms.unwrap_or(0);
    let mut rows = Vec::new();
    let found = std::cell::Cell::new(0usize);
    let mut scanned = 0usize;
    let mut next: Option<[u8; EDGE_KEY_BYTES]> = None;
    // The posting's summary answers the time, direction and outcome
    // filters without reading the leg; the leg is read for the rest.
    let look = |p: &index::Posting| {
        scanned += 1;
        let s = p.summary;
        if s.timestamp_ms >= to_ms {
            return index::Step::Stop;
        }
        if found.get() >= limit || scanned > SCAN_MAX {
            next = Some(p.key);
            return index::Step::Stop;
        }
        let keep = s.timestamp_ms >= from_ms
            && match direction {
                Direction::In => s.received && !s.sent,
                Direction::Out => s.sent && !s.received,
                Direction::Any => true,
            }
            && match status {
                Outcome::Ok => !s.failed,
                Outcome::Failed => s.failed,
                Outcome::Any => true,
            };
        if keep {
            index::Step::Read
        } else {
            index::Step::Skip
        }
    };
    let visit = |e: Edge| {
        if e.timestamp_ms >= to_ms {
            return false;
        }
        let out = e.from == account;
        let inbound = e.to == account;
        let keep = e.timestamp_ms >= from_ms
            && asset.is_none_or(|a| e.asset == Some(a))
            && counterparty.is_none_or(|c| (out && e.to == c) || (inbound && e.from == c))
            && match direction {
                Direction::In => inbound && !out,
                Direction::Out => out && !inbound,
                Direction::Any => true,
            }
            && match status {
                Outcome::Ok => e.succeeded(),
                Outcome::Failed => !e.succeeded(),
                Outcome::Any => true,
            };
        if keep {
            rows.push(HistoryRow {
                leg: names.leg(&e),
                direction: if out && inbound {
                    LegDirection::ToSelf
                } else if out {
                    LegDirection::Out
                } else {
                    LegDirection::In
                },
                memo: None,
            });
            found.set(rows.len());
        }
        true
    };
    let sides = match direction {
        Direction::In => index::Sides::Received,
        Direction::Out => index::Sides::Sent,
        Direction::Any => index::Sides::Both,
    };
    index::account_edges(db, &account, sides, start, true, look, visit)?;
    Ok(HistoryPage {
        account: account.to_string(),
        owner: None,
        accounts: Vec::new(),
        rows,
        next_cursor: next.map(hex::encode),
    })
}

/// Most postings examined per account and hop while tracing.
const TRACE_SCAN_PER_ACCOUNT: usize = 20_000;
/// Most postings examined by one trace.
const TRACE_SCAN_TOTAL: usize = 1_000_000;

/// Follows money forward or backward from an account or a transaction.
pub fn trace(db: &Db, names: &Names, q: TraceQuery) -> Result<Trace, QueryError> {
    let direction = q.direction.unwrap_or_default();
    let forward = direction == TraceDirection::Forward;
    let hops = q.hops.unwrap_or(4);
    if hops == 0 || hops > 10 {
        return Err(invalid("hops is 1 to 10"));
    }
    let min_amount: u128 = match &q.min_amount {
        Some(s) => s.parse().map_err(|_| {
            invalid(format!(
                "min_amount {s:?} is not a whole number of minor units"
            ))
        })?,
        None => 1,
    };
    let asset = q.asset.as_deref().map(parse_asset).transpose()?;
    let window_ms = q.window_secs.map(|s| s.saturating_mul(1_000));
    let edges_max = q.edges_max.unwrap_or(2_000).clamp(1, 20_000);
    let from_ms = q.from_ms.unwrap_or(0);
    let to_ms = q.to_ms.unwrap_or(u64::MAX);
    // The amount filter is applied per account, after the scan: legs
    // below it are kept when together they reach it (twelve smurfs'
    // 9,900s into one collector are 118,800, not twelve small payments).
    let follows = |e: &Edge| {
        e.is_movement()
            && asset.is_none_or(|a| e.asset == Some(a))
            && e.timestamp_ms >= from_ms
            && e.timestamp_ms < to_ms
    };

    // An account, the key of the leg its money arrived (left) by, when,
    // and whether a leg at that very key counts (only at the start), and
    // whether the window binds its next leg: not for the account a trace
    // starts from, where no money arrived (its first legs lie anywhere in
    // `from_ms..to_ms`; timing them from `from_ms`, 0 when absent, left
    // every trace with a window empty).
    let mut frontier: Vec<(Address, [u8; EDGE_KEY_BYTES], u64, bool, bool)> = Vec::new();
    let mut edges: BTreeMap<[u8; EDGE_KEY_BYTES], (Edge, u32)> = BTreeMap::new();
    let mut hop_of: HashMap<Address, u32> = HashMap::new();
    let start = match (&q.account, &q.tx) {
        (Some(a), None) => {
            let account = parse_address(a, "account")?;
            hop_of.insert(account, 0);
            let key = if forward {
                edge_key(db.height_at_time(from_ms)?, 0, 0)
            } else if to_ms == u64::MAX {
                [0xFF; EDGE_KEY_BYTES]
            } else {
                edge_key(db.height_at_time(to_ms)?, 0, 0)
            };
            frontier.push((
                account,
                key,
                if forward { from_ms } else { to_ms },
                forward,
                false,
            ));
            TraceStart {
                account: Some(account.to_string()),
                tx: None,
            }
        }
        (None, Some(t)) => {
            let hash = Hash::from_hex(t.trim_start_matches("0x"))
                .map_err(|_| invalid(format!("{t:?} is not a transaction hash")))?;
            let loc = db
                .tx_location(&hash)?
                .ok_or_else(|| QueryError::NotFound(format!("no committed transaction {t}")))?;
            let mut leg = 0u16;
            while let Some(e) = index::edge(db, &edge_key(loc.height, loc.index, leg))? {
                leg += 1;
                if !e.is_movement() {
                    continue;
                }
                hop_of.entry(e.from).or_insert(if forward { 0 } else { 1 });
                hop_of.entry(e.to).or_insert(if forward { 1 } else { 0 });
                let (next, ts) = if forward {
                    (e.to, e.timestamp_ms)
                } else {
                    (e.from, e.timestamp_ms)
                };
                frontier.push((next, e.key(), ts, false, true));
                edges.insert(e.key(), (e, 1));
            }
            if edges.is_empty() {
                return Err(QueryError::NotFound(format!(
                    "transaction {t} moved no money"
                )));
            }
            TraceStart {
                account: None,
                tx: Some(hash.to_string()),
            }
        }
        _ => return Err(invalid("give exactly one of account or tx")),
    };

    let first_hop = if q.tx.is_some() { 2 } else { 1 };
    let truncated = std::cell::Cell::new(false);
    // Postings looked at in all: with the per-account bound, what makes
    // the whole trace's work bounded, however busy its accounts.
    let mut looked = 0usize;
    for hop in first_hop..=hops {
        let mut next_frontier = Vec::new();
        for (account, key, arrived, inclusive, windowed) in std::mem::take(&mut frontier) {
            // Full: the accounts left on the frontier are not scanned.
            if edges.len() >= edges_max || looked >= TRACE_SCAN_TOTAL {
                truncated.set(true);
                break;
            }
            let window_ms = window_ms.filter(|_| windowed);
            let mut candidates: Vec<Edge> = Vec::new();
            let mut scanned = 0;
            // Only the side the money goes (sent forward, received
            // backward); the posting's summary rules out legs out of time
            // or moving no money, without reading them.
            let look = |p: &index::Posting| {
                scanned += 1;
                looked += 1;
                if scanned > TRACE_SCAN_PER_ACCOUNT || looked > TRACE_SCAN_TOTAL {
                    truncated.set(true);
                    return index::Step::Stop;
                }
                let k = p.key;
                if (forward && (k < key || (k == key && !inclusive))) || (!forward && k >= key) {
                    return index::Step::Skip;
                }
                let s = p.summary;
                let t = s.timestamp_ms;
                if forward {
                    if t >= to_ms || window_ms.is_some_and(|w| t > arrived.saturating_add(w)) {
                        return index::Step::Stop;
                    }
                    if !s.sent || !s.moves || t < arrived || t < from_ms {
                        return index::Step::Skip;
                    }
                } else {
                    if t < from_ms || window_ms.is_some_and(|w| t.saturating_add(w) < arrived) {
                        return index::Step::Stop;
                    }
                    if !s.received || !s.moves || t > arrived || t >= to_ms {
                        return index::Step::Skip;
                    }
                }
                index::Step::Read
            };
            let visit = |e: Edge| {
                let k = e.key();
                if forward {
                    if e.timestamp_ms >= to_ms
                        || window_ms.is_some_and(|w| e.timestamp_ms > arrived.saturating_add(w))
                    {
                        return false;
                    }
                    if e.from != account || e.timestamp_ms < arrived || !follows(&e) {
                        return true;
                    }
                } else {
                    if e.timestamp_ms < from_ms
                        || window_ms.is_some_and(|w| e.timestamp_ms.saturating_add(w) < arrived)
                    {
                        return false;
                    }
                    if e.to != account || e.timestamp_ms > arrived || !follows(&e) {
                        return true;
                    }
                }
                if !edges.contains_key(&k) {
                    candidates.push(e);
                }
                if candidates.len() >= edges_max {
                    truncated.set(true);
                    return false;
                }
                true
            };
            let sides = if forward {
                index::Sides::Sent
            } else {
                index::Sides::Received
            };
            index::account_edges(db, &account, sides, key, forward, look, visit)?;
            // Small legs count when, per asset, they add up to the minimum.
            let mut small: HashMap<AssetCode, u128> = HashMap::new();
            for e in candidates.iter().filter(|e| e.amount.0 < min_amount) {
                if let Some(a) = e.asset {
                    let sum = small.entry(a).or_default();
                    *sum = sum.saturating_add(e.amount.0);
                }
            }
            for e in candidates {
                let keep = e.amount.0 >= min_amount
                    || e.asset
                        .is_some_and(|a| small.get(&a).copied().unwrap_or(0) >= min_amount);
                if !keep {
                    continue;
                }
                if edges.len() >= edges_max {
                    truncated.set(true);
                    break;
                }
                let k = e.key();
                let other = if forward { e.to } else { e.from };
                if let std::collections::hash_map::Entry::Vacant(v) = hop_of.entry(other) {
                    v.insert(hop);
                    next_frontier.push((other, k, e.timestamp_ms, false, true));
                }
                edges.insert(k, (e, hop));
            }
        }
        if next_frontier.is_empty() {
            break;
        }
        frontier = next_frontier;
    }

    let mut institutions: HashMap<Address, Address> = HashMap::new();
    for (e, _) in edges.values() {
        institutions.insert(e.from, e.from_institution);
        institutions.insert(e.to, e.to_institution);
    }
    let mut nodes: Vec<(&Address, &u32)> = hop_of.iter().collect();
    nodes.sort_by_key(|(a, h)| (**h, **a));
    let nodes = nodes
        .into_iter()
        .map(|(a, h)| {
            let inst = institutions.get(a).copied().unwrap_or_default();
            Ok(TraceNode {
                account: a.to_string(),
                institution: names.institution(&inst),
                hop: *h,
                owner: index::owner_of(db, a)?.map(|o| o.to_hex()),
            })
        })
        .collect::<Result<_, DbError>>()?;
    let edges = edges
        .values()
        .map(|(e, hop)| TraceLeg {
            leg: names.leg(e),
            hop: *hop,
        })
        .collect();
    Ok(Trace {
        start,
        direction,
        hops,
        truncated: truncated.get(),
        nodes,
        edges,
    })
}

/// Most legs one export call scans.
const PERIOD_SCAN_MAX: usize = 5_000_000;

/// Gross and net flows between each pair of institutions, per asset.
pub fn flows(db: &Db, names: &Names, q: FlowsQuery) -> Result<Flows, QueryError> {
    let asset = q.asset.as_deref().map(parse_asset).transpose()?;
    let from_ms = q.from_ms.unwrap_or(0);
    let to_ms = q.to_ms.unwrap_or(u64::MAX);
    // (from institution, to institution, asset) → (legs, amount), from
    // the flow buckets: a day's or a year's flows read a few thousand
    // entries, not every leg.
    let mut gross = index::flows_between(db, from_ms, to_ms)?;
    if let Some(x) = asset {
        gross.retain(|(_, _, a), _| *a == x);
    }
    let truncated = false;
    let gross_flows = gross
        .iter()
        .map(|((f, t, a), (n, amount))| GrossFlow {
            from: names.institution(f),
            to: names.institution(t),
            asset: a.to_string(),
            transfers: *n,
            amount: amount.to_string(),
            amount_display: names.display(a, *amount),
        })
        .collect();
    let mut net = Vec::new();
    let mut seen = HashSet::new();
    for ((f, t, a), (_, amount)) in &gross {
        if f == t || !seen.insert((*f.min(t), *f.max(t), *a)) {
            continue;
        }
        let back = gross.get(&(*t, *f, *a)).map(|x| x.1).unwrap_or(0);
        let (payer, payee, value) = if *amount >= back {
            (f, t, amount - back)
        } else {
            (t, f, back - amount)
        };
        net.push(NetFlow {
            payer: names.institution(payer),
            payee: names.institution(payee),
            asset: a.to_string(),
            net_amount: value.to_string(),
            net_display: names.display(a, value),
        });
    }
    let settlement = settlement(db, names, from_ms, to_ms, asset)?;
    Ok(Flows {
        from_ms,
        to_ms: q.to_ms,
        truncated,
        gross: gross_flows,
        net,
        settlement,
    })
}

/// The settlement cycles starting in `from_ms..to_ms` (the latest
/// [`SETTLEMENT_CYCLES_MAX`]) as the state's clearing records give them,
/// and the open cycle's positions so far when it starts in the period.
fn settlement(
    db: &Db,
    names: &Names,
    from_ms: u64,
    to_ms: u64,
    asset: Option<AssetCode>,
) -> Result<Vec<CycleSettlement>, QueryError> {
    use hutong_runtime::clearing::{positions, record_of, ClearingRecord};
    let Some(StateValue::Params(params)) = db.state(&StateKey::Params)? else {
        return Ok(Vec::new());
    };
    // Times past year ~140,000 are clamped: the cycle arithmetic is i64.
    const TIME_MAX_MS: u64 = 1 << 52;
    let (from_ms, to_ms) = (from_ms.min(TIME_MAX_MS), to_ms.min(TIME_MAX_MS));
    if from_ms >= to_ms {
        return Ok(Vec::new());
    }
    let open = match db.state(&StateKey::ClearingOpen)? {
        Some(StateValue::ClearingOpen(o)) => Some(o),
        _ => None,
    };
    // The cycles whose start is in the period, newest first, up to the
    // open one (none is later).
    let first = params.cycle_of(from_ms);
    let first = if params.cycle_start_ms(first) < from_ms as i64 {
        first + 1
    } else {
        first
    };
    // The cycle of the last executed block (its open cycle, if it has
    // flows yet, is not later).
    let Some(executed) = db.executed()? else {
        return Ok(Vec::new());
    };
    // The newest cycle that starts before the period's end.
    let last = params
        .cycle_of(executed.timestamp_ms)
        .min(params.cycle_of(to_ms - 1));
    let mut out = Vec::new();
    let mut cycle = last;
    for _ in 0..SETTLEMENT_CYCLES_MAX {
        if cycle < first {
            break;
        }
        if params.cycle_start_ms(cycle) < to_ms as i64 {
            let record: Option<(ClearingRecord, bool)> = match &open {
                Some(o) if o.cycle == cycle => Some((record_of(&params, o.clone()), false)),
                _ => match db.state(&StateKey::Clearing(cycle))? {
                    Some(StateValue::Clearing(r)) => Some((r, true)),
                    _ => None,
                },
            };
            if let Some((record, closed)) = record {
                let list = if record.positions.is_empty() {
                    positions(&record.flows)
                } else {
                    record.positions.clone()
                };
                out.push(CycleSettlement {
                    cycle,
                    start_ms: record.start_ms,
                    end_ms: record.end_ms,
                    closed,
                    positions: list
                        .iter()
                        .filter(|p| asset.is_none_or(|a| a == p.asset))
                        .map(|p| {
                            let (receiving, net) = p.net();
                            SettlementPosition {
                                institution: names.institution(&p.institution),
                                asset: p.asset.to_string(),
                                paid: p.paid.0.to_string(),
                                received: p.received.0.to_string(),
                                net: format!("{}{}", if receiving { "" } else { "-" }, net.0),
                                net_display: format!(
                                    "{}{}",
                                    if receiving || net.0 == 0 { "" } else { "-" },
                                    names.display(&p.asset, net.0)
                                ),
                            }
                        })
                        .collect(),
                });
            }
        }
        if cycle == 0 {
            break;
        }
        cycle -= 1;
    }
    Ok(out)
}

/// A period's activity for an institution or a set of accounts.
pub fn export(db: &Db, names: &Names, q: ExportQuery) -> Result<ExportPage, QueryError> {
    let institution = match &q.institution {
        Some(s) => Some(
            names
                .institution_address(s)
                .ok_or_else(|| invalid(format!("no institution {s:?}")))?,
        ),
        None => None,
    };
    let accounts: HashSet<Address> = q
        .accounts
        .iter()
        .flatten()
        .map(|a| parse_address(a, "account"))
        .collect::<Result<_, _>>()?;
    if institution.is_none() == accounts.is_empty() {
        return Err(invalid("give exactly one of institution or accounts"));
    }
    let limit = q.limit.unwrap_or(PAGE_MAX).clamp(1, 100_000);
    let from_ms = q.from_ms.unwrap_or(0);
    let to_ms = q.to_ms.unwrap_or(u64::MAX);
    let start = match &q.cursor {
        Some(c) => parse_cursor(c)?,
        None => edge_key(db.height_at_time(from_ms)?, 0, 0),
    };
    let mut rows = Vec::new();
    let mut scanned = 0usize;
    let mut next = None;
    index::edges_from(db, start, |e| {
        scanned += 1;
        if e.timestamp_ms >= to_ms {
            return false;
        }
        if rows.len() >= limit || scanned > PERIOD_SCAN_MAX {
            next = Some(e.key());
            return false;
        }
        if e.timestamp_ms < from_ms {
            return true;
        }
        let hit = match institution {
            Some(i) => e.from_institution == i || e.to_institution == i,
            None => accounts.contains(&e.from) || accounts.contains(&e.to),
        };
        if hit {
            rows.push(names.leg(&e));
        }
        true
    })?;
    let mut accounts: Vec<String> = accounts.iter().map(|a| a.to_string()).collect();
    accounts.sort();
    Ok(ExportPage {
        from_ms,
        to_ms: q.to_ms,
        institution: institution.map(|i| names.institution(&i)),
        accounts,
        rows,
        next_cursor: next.map(hex::encode),
    })
}

/// Stored alerts, oldest first.
pub fn alerts(db: &Db, names: &Names, q: AlertsQuery) -> Result<AlertsPage, QueryError> {
    let kind = match &q.kind {
        Some(k) => Some(AlertKind::parse(k).ok_or_else(|| {
            invalid(format!(
                "kind {k:?}: one of {}",
                AlertKind::ALL.map(|k| k.name()).join(", ")
            ))
        })?),
        None => None,
    };
    // Compared in the canonical text form (an address may be given in
    // upper case).
    let account = match &q.account {
        Some(a) => Some(parse_address(a, "account")?.to_string()),
        None => None,
    };
    let institution = match &q.institution {
        Some(i) => Some(
            names
                .institution_address(i)
                .ok_or_else(|| {
                    invalid(format!(
                        "institution {i:?}: not a member's name or an address"
                    ))
                })?
                .to_string(),
        ),
        None => None,
    };
    let limit = q.limit.unwrap_or(100).clamp(1, PAGE_MAX);
    let mut rows: Vec<Alert> = Vec::new();
    let mut scanned = 0usize;
    let mut last_scanned = 0u64;
    index::alerts_from(db, q.after_id.unwrap_or(0).saturating_add(1), |mut a| {
        scanned += 1;
        last_scanned = a.id;
        let party = |x: &String| *x == a.account || a.related.contains(x);
        if kind.is_none_or(|k| a.kind == k)
            && account.as_ref().is_none_or(party)
            && institution.as_ref().is_none_or(|i| *i == a.institution)
            && q.from_ms.is_none_or(|t| a.timestamp_ms >= t)
            && q.to_ms.is_none_or(|t| a.timestamp_ms < t)
            && q.min_score.is_none_or(|s| a.score >= s)
        {
            if let Ok(address) = a.institution.parse() {
                a.institution_name = Some(names.institution(&address));
            }
            rows.push(a);
        }
        rows.len() < limit && scanned < SCAN_MAX
    })?;
    // A scan cut short by its bound goes on from where it stopped, even
    // when nothing in it matched: `None` means there is no more.
    let last = if rows.len() < limit && scanned >= SCAN_MAX {
        Some(last_scanned)
    } else {
        rows.last().map(|a| a.id)
    };
    Ok(AlertsPage {
        alerts: rows,
        last_id: last,
    })
}

/// Most blocks in one ledger page.
const LEDGER_BLOCKS_MAX: usize = 2_000;
/// A ledger page ends after the block that brings it to this many legs.
const LEDGER_LEGS_MAX: usize = 100_000;

/// Executed blocks from a height on, with their legs.
pub fn ledger(db: &Db, names: &Names, q: LedgerQuery) -> Result<LedgerPage, QueryError> {
    let executed = db.executed()?.map(|e| e.height).unwrap_or(0);
    let from = q.from_height.unwrap_or(0);
    let limit = q.limit.unwrap_or(500).clamp(1, LEDGER_BLOCKS_MAX) as u64;
    let mut blocks = Vec::new();
    let mut legs = Vec::new();
    let mut next = from;
    while next <= executed && (next - from) < limit && legs.len() < LEDGER_LEGS_MAX {
        let height = next;
        next += 1;
        let Some(result) = db.result_at(height)? else {
            continue;
        };
        let tx_count = match db.block_at(height)? {
            Some(b) => b.payload.txs.len() as u32,
            None => 0,
        };
        blocks.push(BlockRow {
            height,
            block_id: hex::encode(result.block_id.0),
            timestamp_ms: result.timestamp_ms,
            tx_count,
            state_root: result.state_root.to_hex(),
            receipts_root: result.receipts_root.to_hex(),
            certified_by_height: index::claim_of(db, height)?,
        });
        if tx_count > 0 {
            index::edges_from(db, edge_key(height, 0, 0), |e| {
                if e.height != height {
                    return false;
                }
                legs.push(names.leg(&e));
                true
            })?;
        }
    }
    Ok(LedgerPage {
        blocks,
        legs,
        next_height: next,
        executed_height: executed,
    })
}

/// Most accounts of one page of [`owner`].
const OWNER_PAGE_MAX: usize = 1_000;

/// The accounts of one owner, at every institution, as they stand now.
pub fn owner(db: &Db, names: &Names, q: OwnerQuery) -> Result<OwnerAccounts, QueryError> {
    let (asked, owner) = match (&q.account, &q.owner) {
        (Some(a), None) => {
            let account = parse_address(a, "account")?;
            if db.state(&StateKey::Account(account))?.is_none() {
                return Err(QueryError::NotFound(format!("no account {account}")));
            }
            (Some(account), index::owner_of(db, &account)?)
        }
        (None, Some(o)) => {
            let owner = Hash::from_hex(o.trim_start_matches("0x")).map_err(|_| {
                invalid(format!(
                    "owner {o:?} is not an identity commitment (64 hex digits)"
                ))
            })?;
            (None, (owner != Hash::ZERO).then_some(owner))
        }
        _ => return Err(invalid("give account, or owner")),
    };
    let limit = q.limit.unwrap_or(100).clamp(1, OWNER_PAGE_MAX);
    let after = q
        .cursor
        .as_deref()
        .map(|c| parse_address(c, "cursor"))
        .transpose()?;
    let mut found: Vec<(Address, u64)> = Vec::new();
    let mut more = false;
    if let Some(owner) = &owner {
        index::owner_accounts(db, owner, after.as_ref(), |a, height| {
            if found.len() == limit {
                more = true;
                return false;
            }
            found.push((a, height));
            true
        })?;
    }
    let assets = names.assets();
    let mut accounts = Vec::with_capacity(found.len());
    for (address, opened_height) in &found {
        let Some(StateValue::Account(acc)) = db.state(&StateKey::Account(*address))? else {
            continue;
        };
        let tier = match acc.kind {
            AccountKind::Customer { tier, .. } => tier.0,
            _ => 0,
        };
        let mut balances = Vec::new();
        for asset in &assets {
            if let Some(StateValue::Balance(h)) = db.state(&StateKey::Balance(*address, *asset))? {
                if h.balance.0 > 0 {
                    balances.push(BalanceView {
                        asset: asset.to_string(),
                        amount: h.balance.0.to_string(),
                        amount_display: names.display(asset, h.balance.0),
                    });
                }
            }
        }
        accounts.push(OwnedAccount {
            address: address.to_string(),
            institution: names.institution(&acc.institution),
            institution_address: acc.institution.to_string(),
            tier,
            opened_height: *opened_height,
            frozen: acc.frozen.map(|f| f.reason.name().to_string()),
            balances,
        });
    }
    Ok(OwnerAccounts {
        account: asked.map(|a| a.to_string()),
        owner: owner.map(|o| o.to_hex()),
        next_cursor: if more {
            found.last().map(|(a, _)| a.to_string())
        } else {
            None
        },
        accounts,
    })
}

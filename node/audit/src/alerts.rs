//! Risk alerts, computed from committed transaction legs in ledger order.
//!
//! The detector is a pure function of the legs it is fed (and of the
//! accounts' tiers), with bounded memory: on restart the node feeds it the
//! recent legs again from its index and gets the same state back.
//!
//! Patterns, each with thresholds from the node's `[audit]` config:
//! - **velocity**: an account sends many transfers, or a large volume of
//!   one asset, within a short window;
//! - **structuring**: repeated transfers just under the sender's tier
//!   limit (the step-up threshold where its tier has one, else the
//!   single-transfer limit);
//! - **fan-out** / **fan-in**: one account pays, or is paid by, many
//!   distinct accounts within a short window;
//! - **pass-through**: a large amount comes in and most of it leaves
//!   again within minutes;
//! - **frozen counterparty**: a transfer touches an account that dealt
//!   with an account shortly before that account was frozen.
//!
//! An alert for one pattern and one account is raised once per window of
//! that pattern, not on every further transfer.

use std::collections::{BTreeSet, VecDeque};

use hutong_runtime::crypto::Hash;
use hutong_runtime::state::AssetLimits;
use hutong_runtime::{Address, AssetCode};
use serde::{Deserialize, Serialize};

use crate::edge::{Edge, EdgeKind};
use crate::{FastMap, FastSet};

/// Thresholds, from the `[audit]` section of the regulator's config.
/// Amounts are in the asset's minor units.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertConfig {
    pub velocity_window_secs: u64,
    pub velocity_count: usize,
    pub velocity_amount: u64,
    pub structuring_window_secs: u64,
    pub structuring_count: usize,
    /// "Just under" means within this percentage below the limit.
    pub structuring_band_percent: u8,
    pub fan_window_secs: u64,
    pub fan_count: usize,
    pub pass_through_window_secs: u64,
    pub pass_through_percent: u8,
    pub pass_through_min_amount: u64,
    /// Counterparties of the last this-many seconds before a freeze are
    /// watched for as long after it.
    pub frozen_window_secs: u64,
    /// Most accounts whose recent activity is remembered (the least
    /// recently active are forgotten first).
    pub accounts_max: usize,
    /// Most recent legs remembered per account and direction.
    pub events_per_account_max: usize,
}

impl Default for AlertConfig {
    fn default() -> Self {
        AlertConfig {
            velocity_window_secs: 600,
            velocity_count: 30,
            velocity_amount: 100_000_000,
            structuring_window_secs: 86_400,
            structuring_count: 3,
            structuring_band_percent: 10,
            fan_window_secs: 600,
            fan_count: 8,
            pass_through_window_secs: 1_800,
            pass_through_percent: 80,
            pass_through_min_amount: 1_000_000,
            frozen_window_secs: 86_400,
            accounts_max: 20_000,
            events_per_account_max: 64,
        }
    }
}

impl AlertConfig {
    /// Checks the thresholds; the message names the field.
    pub fn check(&self) -> Result<(), String> {
        let positive = [
            ("velocity_window_secs", self.velocity_window_secs),
            ("velocity_count", self.velocity_count as u64),
            ("velocity_amount", self.velocity_amount),
            ("structuring_window_secs", self.structuring_window_secs),
            ("structuring_count", self.structuring_count as u64),
            ("fan_window_secs", self.fan_window_secs),
            ("fan_count", self.fan_count as u64),
            ("pass_through_window_secs", self.pass_through_window_secs),
            ("frozen_window_secs", self.frozen_window_secs),
            ("accounts_max", self.accounts_max as u64),
            ("events_per_account_max", self.events_per_account_max as u64),
        ];
        for (field, value) in positive {
            if value == 0 {
                return Err(format!("audit.{field} must be at least 1"));
            }
        }
        if self.structuring_band_percent == 0 || self.structuring_band_percent > 50 {
            return Err("audit.structuring_band_percent must be 1 to 50".into());
        }
        if self.pass_through_percent == 0 || self.pass_through_percent > 100 {
            return Err("audit.pass_through_percent must be 1 to 100".into());
        }
        Ok(())
    }

    /// The longest look-back any pattern needs: how far back a restart
    /// replays legs.
    pub fn lookback_ms(&self) -> u64 {
        [
            self.velocity_window_secs,
            self.structuring_window_secs,
            self.fan_window_secs,
            self.pass_through_window_secs,
            self.frozen_window_secs,
        ]
        .into_iter()
        .max()
        .unwrap_or(0)
        .saturating_mul(1_000)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    Velocity,
    Structuring,
    FanOut,
    FanIn,
    PassThrough,
    FrozenCounterparty,
}

impl AlertKind {
    pub const ALL: [AlertKind; 6] = [
        AlertKind::Velocity,
        AlertKind::Structuring,
        AlertKind::FanOut,
        AlertKind::FanIn,
        AlertKind::PassThrough,
        AlertKind::FrozenCounterparty,
    ];

    pub fn name(self) -> &'static str {
        match self {
            AlertKind::Velocity => "velocity",
            AlertKind::Structuring => "structuring",
            AlertKind::FanOut => "fan_out",
            AlertKind::FanIn => "fan_in",
            AlertKind::PassThrough => "pass_through",
            AlertKind::FrozenCounterparty => "frozen_counterparty",
        }
    }

    pub fn parse(s: &str) -> Option<AlertKind> {
        AlertKind::ALL
            .into_iter()
            .find(|k| k.name() == s || k.name().replace('_', "-") == s)
    }
}

/// A stored alert. `id` increases with every alert the node raises.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alert {
    pub id: u64,
    pub kind: AlertKind,
    /// The account the pattern is about.
    pub account: String,
    pub institution: String,
    pub height: u64,
    pub timestamp_ms: u64,
    pub asset: Option<String>,
    /// The amount that crossed the threshold, in minor units, if any.
    pub amount: Option<String>,
    /// How many legs the pattern counted.
    pub count: u64,
    pub detail: String,
    /// The transactions that make up the pattern (at most 32).
    pub tx_hashes: Vec<String>,
    /// Other accounts involved (counterparties, the frozen account).
    pub related: Vec<String>,
}

/// What the detector needs to know about accounts: a customer's limits for
/// an asset (`None` for institutions and regulators, which have no tier).
pub trait Limits {
    fn customer_limits(&self, account: &Address, asset: AssetCode) -> Option<AssetLimits>;
}

#[derive(Debug, Clone, Copy)]
struct Event {
    ts: u64,
    counterparty: Address,
    asset: AssetCode,
    amount: u128,
    tx: Hash,
}

#[derive(Debug, Default)]
struct Activity {
    last_ms: u64,
    institution: Address,
    out: VecDeque<Event>,
    inc: VecDeque<Event>,
    near_limit: VecDeque<Event>,
    /// Per pattern, the time until which it stays quiet for this account.
    quiet_until: FastMap<AlertKind, u64>,
}

/// The detector. Feed it every committed leg in ledger order.
#[derive(Debug)]
pub struct Detector {
    config: AlertConfig,
    accounts: FastMap<Address, Activity>,
    /// (last activity, account), to forget the least recently active.
    by_age: BTreeSet<(u64, Address)>,
    /// Account → (the frozen account it dealt with, watched until).
    watched: FastMap<Address, (Address, u64)>,
}

const WATCHED_MAX: usize = 100_000;
const ALERT_TXS_MAX: usize = 32;

impl Detector {
    pub fn new(config: AlertConfig) -> Detector {
        Detector {
            config,
            accounts: FastMap::default(),
            by_age: BTreeSet::new(),
            watched: FastMap::default(),
        }
    }

    pub fn config(&self) -> &AlertConfig {
        &self.config
    }

    /// Accounts currently remembered (for tests and metrics).
    pub fn tracked_accounts(&self) -> usize {
        self.accounts.len()
    }

    fn touch(&mut self, account: Address, institution: Address, ts: u64) -> &mut Activity {
        let entry = self.accounts.entry(account).or_default();
        self.by_age.remove(&(entry.last_ms, account));
        entry.last_ms = entry.last_ms.max(ts);
        entry.institution = institution;
        self.by_age.insert((entry.last_ms, account));
        entry
    }

    fn evict(&mut self, keep: &[Address]) {
        while self.accounts.len() > self.config.accounts_max {
            let Some(&(ts, oldest)) = self.by_age.iter().find(|(_, a)| !keep.contains(a)) else {
                return;
            };
            self.by_age.remove(&(ts, oldest));
            self.accounts.remove(&oldest);
        }
    }

    /// Feeds one committed leg; returns the alerts it raises (with `id` 0:
    /// the caller numbers them).
    pub fn observe(&mut self, edge: &Edge, limits: &dyn Limits) -> Vec<Alert> {
        let mut alerts = Vec::new();
        if edge.succeeded() && edge.kind == EdgeKind::Freeze {
            self.on_freeze(edge);
            return alerts;
        }
        if !edge.is_movement() {
            return alerts;
        }
        let Some(asset) = edge.asset else {
            return alerts;
        };
        let ts = edge.timestamp_ms;
        let cap = self.config.events_per_account_max;
        let keep_ms = self.config.lookback_ms();
        let amount = edge.amount.0;
        let out_event = Event {
            ts,
            counterparty: edge.to,
            asset,
            amount,
            tx: edge.tx_hash,
        };
        let in_event = Event {
            counterparty: edge.from,
            ..out_event
        };
        {
            let from = self.touch(edge.from, edge.from_institution, ts);
            push_bounded(&mut from.out, out_event, cap, ts, keep_ms);
        }
        {
            let to = self.touch(edge.to, edge.to_institution, ts);
            push_bounded(&mut to.inc, in_event, cap, ts, keep_ms);
        }
        let near = limits
            .customer_limits(&edge.from, asset)
            .and_then(|l| self.near_limit(amount, &l));
        if let Some(limit) = near {
            let window = self.config.structuring_window_secs * 1_000;
            if let Some(from) = self.accounts.get_mut(&edge.from) {
                push_bounded(&mut from.near_limit, out_event, cap, ts, window);
            }
            self.check_structuring(edge, limit, &mut alerts);
        }
        self.check_velocity(edge, asset, &mut alerts);
        self.check_fan(edge, true, &mut alerts);
        self.check_fan(edge, false, &mut alerts);
        self.check_pass_through(edge, asset, &mut alerts);
        self.check_watched(edge, &mut alerts);
        self.evict(&[edge.from, edge.to]);
        alerts
    }

    /// The limit `amount` sits just under, if it does.
    fn near_limit(&self, amount: u128, limits: &AssetLimits) -> Option<u128> {
        let limit = limits
            .step_up_threshold
            .map(|t| t.0)
            .unwrap_or(limits.single_max.0);
        let band = u128::from(self.config.structuring_band_percent);
        let lower = limit / 100 * (100 - band) + limit % 100 * (100 - band) / 100;
        (amount >= lower && amount <= limit).then_some(limit)
    }

    /// Raises `kind` for `account` unless it is quiet; then keeps it quiet
    /// for `window_ms`.
    fn raise(
        &mut self,
        kind: AlertKind,
        account: Address,
        edge: &Edge,
        window_ms: u64,
        fill: impl FnOnce(&mut Alert),
    ) -> Option<Alert> {
        let activity = self.accounts.get_mut(&account)?;
        let quiet = activity.quiet_until.get(&kind).copied().unwrap_or(0);
        if edge.timestamp_ms < quiet {
            return None;
        }
        activity
            .quiet_until
            .insert(kind, edge.timestamp_ms.saturating_add(window_ms));
        let mut alert = Alert {
            id: 0,
            kind,
            account: account.to_string(),
            institution: activity.institution.to_string(),
            height: edge.height,
            timestamp_ms: edge.timestamp_ms,
            asset: edge.asset.map(|a| a.to_string()),
            amount: None,
            count: 0,
            detail: String::new(),
            tx_hashes: Vec::new(),
            related: Vec::new(),
        };
        fill(&mut alert);
        alert.tx_hashes.truncate(ALERT_TXS_MAX);
        alert.related.truncate(ALERT_TXS_MAX);
        Some(alert)
    }

    fn check_structuring(&mut self, edge: &Edge, limit: u128, alerts: &mut Vec<Alert>) {
        let window = self.config.structuring_window_secs * 1_000;
        let Some(from) = self.accounts.get(&edge.from) else {
            return;
        };
        let hits: Vec<Event> = from
            .near_limit
            .iter()
            .filter(|e| e.ts + window > edge.timestamp_ms && Some(e.asset) == edge.asset)
            .copied()
            .collect();
        if hits.len() < self.config.structuring_count {
            return;
        }
        let band = self.config.structuring_band_percent;
        alerts.extend(
            self.raise(AlertKind::Structuring, edge.from, edge, window, |a| {
                a.count = hits.len() as u64;
                a.amount = Some(hits.iter().map(|e| e.amount).sum::<u128>().to_string());
                a.detail = format!(
                    "{} transfers within {}% below the limit {} in {} s",
                    hits.len(),
                    band,
                    limit,
                    window / 1_000
                );
                a.tx_hashes = hits.iter().map(|e| e.tx.to_string()).collect();
                a.related = distinct(hits.iter().map(|e| e.counterparty));
            }),
        );
    }

    fn check_velocity(&mut self, edge: &Edge, asset: AssetCode, alerts: &mut Vec<Alert>) {
        let window = self.config.velocity_window_secs * 1_000;
        let Some(from) = self.accounts.get(&edge.from) else {
            return;
        };
        let recent: Vec<Event> = from
            .out
            .iter()
            .filter(|e| e.ts + window > edge.timestamp_ms)
            .copied()
            .collect();
        let volume: u128 = recent
            .iter()
            .filter(|e| e.asset == asset)
            .map(|e| e.amount)
            .sum();
        let (count_hit, volume_hit) = (
            recent.len() >= self.config.velocity_count,
            volume >= u128::from(self.config.velocity_amount),
        );
        if !count_hit && !volume_hit {
            return;
        }
        alerts.extend(
            self.raise(AlertKind::Velocity, edge.from, edge, window, |a| {
                a.count = recent.len() as u64;
                a.amount = Some(volume.to_string());
                a.detail = format!(
                    "{} transfers, {} {} sent in {} s",
                    recent.len(),
                    volume,
                    asset,
                    window / 1_000
                );
                a.tx_hashes = recent.iter().rev().map(|e| e.tx.to_string()).collect();
                a.related = distinct(recent.iter().map(|e| e.counterparty));
            }),
        );
    }

    fn check_fan(&mut self, edge: &Edge, out: bool, alerts: &mut Vec<Alert>) {
        let window = self.config.fan_window_secs * 1_000;
        let account = if out { edge.from } else { edge.to };
        let Some(activity) = self.accounts.get(&account) else {
            return;
        };
        let kind = if out {
            AlertKind::FanOut
        } else {
            AlertKind::FanIn
        };
        // This runs twice for every leg and almost always raises nothing:
        // the pattern is quiet after an alert, or there are too few
        // counterparties. Both are decided first, without allocating or
        // hashing; the alert's lists are built only when it fires.
        let quiet = activity.quiet_until.get(&kind).copied().unwrap_or(0);
        if edge.timestamp_ms < quiet {
            return;
        }
        let events = if out { &activity.out } else { &activity.inc };
        let in_window = |e: &&Event| e.ts + window > edge.timestamp_ms;
        let counterparties = events.iter().filter(in_window).map(|e| e.counterparty);
        if !at_least_distinct(counterparties, self.config.fan_count) {
            return;
        }
        let recent: Vec<Event> = events.iter().filter(in_window).copied().collect();
        let parties = distinct_addresses(recent.iter().map(|e| e.counterparty));
        alerts.extend(self.raise(kind, account, edge, window, |a| {
            a.count = parties.len() as u64;
            a.detail = format!(
                "{} distinct {} in {} s",
                parties.len(),
                if out { "recipients" } else { "senders" },
                window / 1_000
            );
            a.tx_hashes = recent.iter().rev().map(|e| e.tx.to_string()).collect();
            a.related = parties.iter().map(|p| p.to_string()).collect();
        }));
    }

    fn check_pass_through(&mut self, edge: &Edge, asset: AssetCode, alerts: &mut Vec<Alert>) {
        let window = self.config.pass_through_window_secs * 1_000;
        let min = u128::from(self.config.pass_through_min_amount);
        let percent = u128::from(self.config.pass_through_percent);
        let Some(activity) = self.accounts.get(&edge.from) else {
            return;
        };
        // The earliest large incoming leg of this asset within the window
        // that most of it has left again since.
        let hit = activity
            .inc
            .iter()
            .filter(|e| e.asset == asset && e.amount >= min && e.ts + window > edge.timestamp_ms)
            .find_map(|incoming| {
                let outgoing: Vec<&Event> = activity
                    .out
                    .iter()
                    .filter(|o| o.asset == asset && o.ts >= incoming.ts)
                    .collect();
                let total: u128 = outgoing.iter().map(|o| o.amount).sum();
                (total.saturating_mul(100) >= incoming.amount.saturating_mul(percent)).then(|| {
                    (
                        *incoming,
                        total,
                        outgoing.iter().map(|o| **o).collect::<Vec<_>>(),
                    )
                })
            });
        let Some((incoming, total, outgoing)) = hit else {
            return;
        };
        alerts.extend(
            self.raise(AlertKind::PassThrough, edge.from, edge, window, |a| {
                a.count = outgoing.len() as u64 + 1;
                a.amount = Some(incoming.amount.to_string());
                a.detail = format!(
                    "received {} {} from {} and sent {} on within {} s",
                    incoming.amount,
                    asset,
                    incoming.counterparty,
                    total,
                    (edge.timestamp_ms - incoming.ts) / 1_000
                );
                a.tx_hashes = std::iter::once(incoming.tx)
                    .chain(outgoing.iter().map(|o| o.tx))
                    .map(|h| h.to_string())
                    .collect();
                a.related = std::iter::once(incoming.counterparty.to_string())
                    .chain(distinct(outgoing.iter().map(|o| o.counterparty)))
                    .collect();
            }),
        );
    }

    fn on_freeze(&mut self, edge: &Edge) {
        let frozen = edge.to;
        let window = self.config.frozen_window_secs * 1_000;
        let since = edge.timestamp_ms.saturating_sub(window);
        let until = edge.timestamp_ms.saturating_add(window);
        let Some(activity) = self.accounts.get(&frozen) else {
            return;
        };
        let parties: FastSet<Address> = activity
            .out
            .iter()
            .chain(activity.inc.iter())
            .filter(|e| e.ts >= since)
            .map(|e| e.counterparty)
            .collect();
        // Institutions' settlement accounts deal with everyone; watching
        // them would flag the whole network.
        let mut parties: Vec<Address> = parties
            .into_iter()
            .filter(|p| self.accounts.get(p).is_none_or(|a| a.institution != *p))
            .collect();
        parties.sort();
        for p in parties {
            if self.watched.len() >= WATCHED_MAX {
                let now = edge.timestamp_ms;
                self.watched.retain(|_, (_, until)| *until > now);
                if self.watched.len() >= WATCHED_MAX {
                    return;
                }
            }
            self.watched.insert(p, (frozen, until));
        }
    }

    fn check_watched(&mut self, edge: &Edge, alerts: &mut Vec<Alert>) {
        let window = self.config.frozen_window_secs * 1_000;
        for account in [edge.from, edge.to] {
            let Some(&(frozen, until)) = self.watched.get(&account) else {
                continue;
            };
            if edge.timestamp_ms > until {
                self.watched.remove(&account);
                continue;
            }
            if account == frozen {
                continue;
            }
            alerts.extend(self.raise(
                AlertKind::FrozenCounterparty,
                account,
                edge,
                window,
                |a| {
                    a.count = 1;
                    a.amount = Some(edge.amount.0.to_string());
                    a.detail = format!(
                        "transfer {} {} → {} by an account that dealt with {} shortly before it was frozen",
                        edge.amount.0,
                        edge.asset.map(|x| x.to_string()).unwrap_or_default(),
                        edge.to,
                        frozen
                    );
                    a.tx_hashes = vec![edge.tx_hash.to_string()];
                    let other = if account == edge.from { edge.to } else { edge.from };
                    a.related = vec![frozen.to_string(), other.to_string()];
                },
            ));
        }
    }
}

fn push_bounded(q: &mut VecDeque<Event>, e: Event, cap: usize, now: u64, keep_ms: u64) {
    while q
        .front()
        .is_some_and(|f| f.ts.saturating_add(keep_ms) <= now)
    {
        q.pop_front();
    }
    // Make room first: pushing beyond `cap` and trimming after would
    // double the queue's allocation (a VecDeque grows by powers of two).
    while q.len() >= cap.max(1) {
        q.pop_front();
    }
    q.push_back(e);
}

/// The addresses `it` yields, each once, in first-seen order.
fn distinct_addresses(it: impl Iterator<Item = Address>) -> Vec<Address> {
    let mut seen = FastSet::default();
    it.filter(|a| seen.insert(*a)).collect()
}

/// Whether `it` yields at least `n` distinct addresses; stops as soon as
/// it has seen them, and allocates at most `n` addresses.
fn at_least_distinct(it: impl Iterator<Item = Address>, n: usize) -> bool {
    let mut seen: Vec<Address> = Vec::new();
    if n == 0 {
        return true;
    }
    for a in it {
        if !seen.contains(&a) {
            seen.push(a);
            if seen.len() >= n {
                return true;
            }
        }
    }
    false
}

fn distinct(it: impl Iterator<Item = Address>) -> Vec<String> {
    distinct_addresses(it)
        .iter()
        .map(|a| a.to_string())
        .collect()
}

/// The detectors themselves are tested through the public API in
/// `tests/alerts.rs`; this is the one private helper worth its own test.
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_least_distinct_counts_each_address_once_and_stops_early() {
        let a = |b: u8| Address([b; 20]);
        let it = [a(1), a(1), a(2), a(1), a(3)];
        assert!(at_least_distinct(it.into_iter(), 0));
        assert!(at_least_distinct(it.into_iter(), 3));
        assert!(!at_least_distinct(it.into_iter(), 4));
        assert!(!at_least_distinct(std::iter::empty(), 1));
        // Stops at the n-th new address: an endless repeat after it is never read.
        let endless = [a(1), a(2)].into_iter().chain(std::iter::repeat(a(9)));
        assert!(at_least_distinct(endless, 2));
    }
}

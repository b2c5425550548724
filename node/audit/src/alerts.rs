//! Risk alerts, computed from committed transaction legs in ledger order.
//!
//! The detector is a pure function of the legs it is fed and of what it
//! is told about accounts (tiers, owners), with bounded memory: on
//! restart the node feeds it the recent legs again from its index and
//! gets the same state back.
//!
//! Patterns, each with thresholds from the node's `[audit]` config
//! (amounts in the asset's whole units, per asset where it says so):
//! - **velocity**: an account sends many transfers, or a large volume of
//!   one asset, within a short window, or within a long one (a day);
//! - **structuring**: one sender's repeated transfers just under its tier
//!   limit (the step-up threshold where its tier has one, else the
//!   single-transfer limit), to anyone;
//! - **structuring_in**: several senders' transfers, each just under its
//!   own limit, to one collector (smurfing);
//! - **fan-out** / **fan-in**: one account pays, or is paid by, many
//!   distinct accounts within a short window or a long one;
//! - **pass-through**: money comes in (in one transfer or several) and
//!   most of it leaves again, within a short window or a long one;
//! - **cycle**: money that left an account comes back to it, or to
//!   another account of the same owner, through other accounts, within a
//!   horizon;
//! - **frozen counterparty**: a transfer touches an account that dealt
//!   with an account shortly before that account was frozen;
//! - **frozen attempt**: a frozen account tried to send (its transaction
//!   was ordered and failed);
//! - **unfreeze attempt**: an institution tried to lift a freeze it may
//!   not lift (a regulator's).
//!
//! Each alert has a score, 0–100: how unusual the account's day is
//! against its own history and the population's ([`crate::score`]).
//! Alerts of the volume-and-count patterns that score below
//! `min_score` are not raised; so a merchant paid by hundreds every day
//! does not flood the list. The regulator's allow-list silences patterns
//! for accounts or institutions.
//!
//! An alert for one pattern and one account is raised once per window of
//! that pattern; further legs that match within the window update it
//! (same id, a higher revision) rather than raising another.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use hutong_runtime::crypto::Hash;
use hutong_runtime::state::AssetLimits;
use hutong_runtime::{Address, AssetCode};
use serde::{Deserialize, Serialize};

use crate::edge::{Edge, EdgeKind};
use crate::score::{Baseline, Feature, Moments};
use crate::{FastMap, FastSet};

/// Thresholds, from the `[audit]` section of the regulator's config.
/// Amounts are decimal strings in the asset's whole units ("10000" is
/// 10,000.00 CNY) and apply to every asset unless `assets` overrides them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertConfig {
    pub velocity_window_secs: u64,
    pub velocity_count: usize,
    pub velocity_amount: String,
    /// A count-only velocity alert needs at least this volume too (a bot
    /// paying cents is not a laundering signal).
    pub velocity_min_amount: String,
    pub structuring_window_secs: u64,
    pub structuring_count: usize,
    /// "Just under" means within this percentage below the limit.
    pub structuring_band_percent: u8,
    /// Distinct senders, each just under its limit, to one collector.
    pub structuring_senders: usize,
    pub fan_window_secs: u64,
    pub fan_count: usize,
    pub pass_through_window_secs: u64,
    pub pass_through_percent: u8,
    pub pass_through_min_amount: String,
    /// … and sent on at most this share of what came in (more came from
    /// savings).
    pub pass_through_max_percent: u16,
    /// The long horizon of velocity, fan-out/in and pass-through.
    pub long_window_secs: u64,
    pub long_velocity_count: usize,
    pub long_velocity_amount: String,
    pub long_fan_count: usize,
    /// Fan-in is commoner in ordinary life (a collection, a side
    /// business) than fan-out; smurfs paying just under their limits are
    /// `structuring_in`'s at any count.
    pub long_fan_in_count: usize,
    /// An account paid by at least this many distinct accounts over the
    /// long window is a hub (a merchant): payments to it are purchases,
    /// counted neither in fan-out nor as money passed on.
    pub hub_senders: usize,
    pub long_pass_through_min_amount: String,
    /// Money that comes back within this long is a cycle.
    pub cycle_window_secs: u64,
    /// A cycle has at least this many legs (A → B → C → A is three) …
    pub cycle_min_hops: u8,
    /// … and at most this many.
    pub cycle_max_hops: u8,
    /// Every leg of a cycle carries at least this share of the leg
    /// before it.
    pub cycle_percent: u8,
    pub cycle_min_amount: String,
    /// Counterparties of the last this-many seconds before a freeze are
    /// watched for as long after it.
    pub frozen_window_secs: u64,
    /// Velocity, fan and pass-through alerts scoring below this are not
    /// raised (0: raise all).
    pub min_score: u8,
    /// Days of history an account's baseline averages over.
    pub baseline_days: u32,
    /// Most accounts whose recent activity is remembered (the least
    /// recently active are forgotten first).
    pub accounts_max: usize,
    /// Most recent legs remembered per account and direction.
    pub events_per_account_max: usize,
    /// Per-asset amounts, by asset code (`[audit.assets.HKD]`).
    pub assets: BTreeMap<String, AssetThresholds>,
    /// A regulator key file (relative to the node's home): with it, the
    /// node anchors its audit-query log's head on the ledger every
    /// `anchor_every_secs` when the log grew (a regulator transaction).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub anchor_key: Option<std::path::PathBuf>,
    pub anchor_every_secs: u64,
    /// The seed file of the regulator's identity keys (relative to the
    /// node's home; a key file): with it, and genesis naming its public
    /// keys, the node evaluates identity tags and opens identity
    /// envelopes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identity_key: Option<std::path::PathBuf>,
    /// Identity evaluations one key may ask for per minute.
    pub identity_evaluations_per_minute: u32,
}

/// Amount thresholds for one asset, in its whole units; absent ones fall
/// back to the `[audit]` section's.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AssetThresholds {
    pub velocity_amount: Option<String>,
    pub velocity_min_amount: Option<String>,
    pub pass_through_min_amount: Option<String>,
    pub long_velocity_amount: Option<String>,
    pub long_pass_through_min_amount: Option<String>,
    pub cycle_min_amount: Option<String>,
}

impl Default for AlertConfig {
    fn default() -> Self {
        AlertConfig {
            velocity_window_secs: 600,
            velocity_count: 30,
            velocity_amount: "1000000".into(),
            velocity_min_amount: "10000".into(),
            structuring_window_secs: 86_400,
            structuring_count: 3,
            structuring_band_percent: 10,
            structuring_senders: 4,
            fan_window_secs: 600,
            fan_count: 8,
            pass_through_window_secs: 1_800,
            pass_through_percent: 80,
            pass_through_min_amount: "10000".into(),
            pass_through_max_percent: 110,
            long_window_secs: 86_400,
            long_velocity_count: 100,
            long_velocity_amount: "5000000".into(),
            long_fan_count: 9,
            long_fan_in_count: 15,
            hub_senders: 10,
            long_pass_through_min_amount: "15000".into(),
            cycle_window_secs: 86_400,
            cycle_min_hops: 3,
            cycle_max_hops: 6,
            cycle_percent: 80,
            cycle_min_amount: "3000".into(),
            frozen_window_secs: 86_400,
            min_score: 50,
            baseline_days: 7,
            accounts_max: 20_000,
            events_per_account_max: 64,
            assets: BTreeMap::new(),
            anchor_key: None,
            anchor_every_secs: 600,
            identity_key: None,
            identity_evaluations_per_minute: 600,
        }
    }
}

/// The amount thresholds of one asset, in minor units.
#[derive(Debug, Clone, Copy)]
struct Amounts {
    decimals: u8,
    velocity: u128,
    velocity_min: u128,
    pass_through_min: u128,
    long_velocity: u128,
    long_pass_through_min: u128,
    cycle_min: u128,
}

fn whole(field: &str, text: &str, decimals: u8) -> Result<u128, String> {
    hutong_wire::amount::parse(text, decimals).map_err(|e| format!("audit.{field} = {text:?}: {e}"))
}

impl AlertConfig {
    /// Checks the thresholds; the message names the field.
    pub fn check(&self) -> Result<(), String> {
        let positive = [
            ("velocity_window_secs", self.velocity_window_secs),
            ("velocity_count", self.velocity_count as u64),
            ("structuring_window_secs", self.structuring_window_secs),
            ("structuring_count", self.structuring_count as u64),
            ("structuring_senders", self.structuring_senders as u64),
            ("fan_window_secs", self.fan_window_secs),
            ("fan_count", self.fan_count as u64),
            ("pass_through_window_secs", self.pass_through_window_secs),
            ("long_window_secs", self.long_window_secs),
            ("long_velocity_count", self.long_velocity_count as u64),
            ("long_fan_count", self.long_fan_count as u64),
            ("long_fan_in_count", self.long_fan_in_count as u64),
            ("hub_senders", self.hub_senders as u64),
            ("cycle_window_secs", self.cycle_window_secs),
            ("frozen_window_secs", self.frozen_window_secs),
            ("baseline_days", u64::from(self.baseline_days)),
            ("accounts_max", self.accounts_max as u64),
            ("events_per_account_max", self.events_per_account_max as u64),
        ];
        for (field, value) in positive {
            if value == 0 {
                return Err(format!("audit.{field} must be at least 1"));
            }
        }
        // Windows up to 30 days (milliseconds then never overflow), and
        // counts the memory kept can reach (a larger one never fires).
        let windows = [
            ("velocity_window_secs", self.velocity_window_secs),
            ("structuring_window_secs", self.structuring_window_secs),
            ("fan_window_secs", self.fan_window_secs),
            ("pass_through_window_secs", self.pass_through_window_secs),
            ("long_window_secs", self.long_window_secs),
            ("cycle_window_secs", self.cycle_window_secs),
            ("frozen_window_secs", self.frozen_window_secs),
        ];
        for (field, secs) in windows {
            if secs > WINDOW_SECS_MAX {
                return Err(format!(
                    "audit.{field} must be at most {WINDOW_SECS_MAX} (30 days)"
                ));
            }
        }
        if self.events_per_account_max > EVENTS_PER_ACCOUNT_MAX {
            return Err(format!(
                "audit.events_per_account_max must be at most {EVENTS_PER_ACCOUNT_MAX}"
            ));
        }
        if self.accounts_max > ACCOUNTS_MAX {
            return Err(format!("audit.accounts_max must be at most {ACCOUNTS_MAX}"));
        }
        for (field, count) in [
            ("velocity_count", self.velocity_count),
            ("fan_count", self.fan_count),
            ("structuring_count", self.structuring_count),
            ("structuring_senders", self.structuring_senders),
        ] {
            if count > self.events_per_account_max {
                return Err(format!(
                    "audit.{field} must be at most audit.events_per_account_max ({}): the legs kept per account",
                    self.events_per_account_max
                ));
            }
        }
        for (field, count) in [
            ("long_fan_count", self.long_fan_count),
            ("long_fan_in_count", self.long_fan_in_count),
            ("hub_senders", self.hub_senders),
        ] {
            if count > LONG_PARTIES_MAX {
                return Err(format!(
                    "audit.{field} must be at most {LONG_PARTIES_MAX}: the counterparties kept per account over the long window"
                ));
            }
        }
        if self.structuring_band_percent == 0 || self.structuring_band_percent > 50 {
            return Err("audit.structuring_band_percent must be 1 to 50".into());
        }
        if self.pass_through_percent == 0 || self.pass_through_percent > 100 {
            return Err("audit.pass_through_percent must be 1 to 100".into());
        }
        if self.pass_through_max_percent < 100 || self.pass_through_max_percent > 1_000 {
            return Err("audit.pass_through_max_percent must be 100 to 1000".into());
        }
        if self.cycle_percent == 0 || self.cycle_percent > 100 {
            return Err("audit.cycle_percent must be 1 to 100".into());
        }
        if self.cycle_min_hops < 2 || self.cycle_max_hops < self.cycle_min_hops {
            return Err(
                "audit.cycle_min_hops must be at least 2 and audit.cycle_max_hops at least it"
                    .into(),
            );
        }
        if self.cycle_max_hops > 12 {
            return Err("audit.cycle_max_hops must be at most 12".into());
        }
        if self.baseline_days > 90 {
            return Err("audit.baseline_days must be at most 90".into());
        }
        if self.identity_evaluations_per_minute == 0 {
            return Err("audit.identity_evaluations_per_minute must be at least 1".into());
        }
        if self.anchor_every_secs < 10 {
            return Err("audit.anchor_every_secs must be at least 10".into());
        }
        if self.min_score > 100 {
            return Err("audit.min_score must be 0 to 100".into());
        }
        if self.long_window_secs < self.velocity_window_secs.max(self.fan_window_secs) {
            return Err(
                "audit.long_window_secs must be at least the short windows (velocity, fan)".into(),
            );
        }
        // Amounts parse at the most decimals an asset may have.
        for code in self.assets.keys() {
            AssetCode::new(code).map_err(|e| format!("audit.assets.{code}: {e}"))?;
        }
        self.amounts(None, 18)?;
        for code in self.assets.keys() {
            self.amounts(Some(code), 18)?;
        }
        Ok(())
    }

    fn amounts(&self, asset: Option<&str>, decimals: u8) -> Result<Amounts, String> {
        let over = asset.and_then(|a| self.assets.get(a));
        let pick = |field: &str, base: &str, over: Option<&Option<String>>| {
            let text = over.and_then(|o| o.as_deref()).unwrap_or(base);
            whole(field, text, decimals)
        };
        Ok(Amounts {
            decimals,
            velocity: pick(
                "velocity_amount",
                &self.velocity_amount,
                over.map(|o| &o.velocity_amount),
            )?,
            velocity_min: pick(
                "velocity_min_amount",
                &self.velocity_min_amount,
                over.map(|o| &o.velocity_min_amount),
            )?,
            pass_through_min: pick(
                "pass_through_min_amount",
                &self.pass_through_min_amount,
                over.map(|o| &o.pass_through_min_amount),
            )?,
            long_velocity: pick(
                "long_velocity_amount",
                &self.long_velocity_amount,
                over.map(|o| &o.long_velocity_amount),
            )?,
            long_pass_through_min: pick(
                "long_pass_through_min_amount",
                &self.long_pass_through_min_amount,
                over.map(|o| &o.long_pass_through_min_amount),
            )?,
            cycle_min: pick(
                "cycle_min_amount",
                &self.cycle_min_amount,
                over.map(|o| &o.cycle_min_amount),
            )?,
        })
    }

    /// The longest look-back any pattern needs: how far back a restart
    /// replays legs.
    pub fn lookback_ms(&self) -> u64 {
        [
            // The baselines too: a restart that replayed only a day would
            // forget what each account usually does.
            u64::from(self.baseline_days).saturating_mul(86_400),
            self.velocity_window_secs,
            self.structuring_window_secs,
            self.fan_window_secs,
            self.pass_through_window_secs,
            self.long_window_secs,
            self.cycle_window_secs,
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
    StructuringIn,
    FanOut,
    FanIn,
    PassThrough,
    Cycle,
    FrozenCounterparty,
    FrozenAttempt,
    UnfreezeAttempt,
    /// An account opened for an owner on the shared blacklist, or an owner
    /// with accounts listed (the regulator's node links them; see the
    /// identity layer).
    ListedOwner,
    /// An account's identity envelope did not open with the regulator's
    /// key, or its tag and salt did not match the account's commitment:
    /// the institution sealed it wrongly or claims another owner.
    IdentityUnverified,
    /// A sealed memo the regulator's key does not open: the regulator was
    /// left out of its readers.
    MemoUnreadable,
}

impl AlertKind {
    /// The single-event patterns: each finding is an event of its own
    /// (another attempt, another cycle), added to an open alert whatever
    /// its size.
    pub fn is_event(self) -> bool {
        matches!(
            self,
            AlertKind::Cycle
                | AlertKind::FrozenCounterparty
                | AlertKind::FrozenAttempt
                | AlertKind::UnfreezeAttempt
                | AlertKind::ListedOwner
                | AlertKind::IdentityUnverified
                | AlertKind::MemoUnreadable
        )
    }

    pub const ALL: [AlertKind; 13] = [
        AlertKind::Velocity,
        AlertKind::Structuring,
        AlertKind::StructuringIn,
        AlertKind::FanOut,
        AlertKind::FanIn,
        AlertKind::PassThrough,
        AlertKind::Cycle,
        AlertKind::FrozenCounterparty,
        AlertKind::FrozenAttempt,
        AlertKind::UnfreezeAttempt,
        AlertKind::ListedOwner,
        AlertKind::IdentityUnverified,
        AlertKind::MemoUnreadable,
    ];

    pub fn name(self) -> &'static str {
        match self {
            AlertKind::Velocity => "velocity",
            AlertKind::Structuring => "structuring",
            AlertKind::StructuringIn => "structuring_in",
            AlertKind::FanOut => "fan_out",
            AlertKind::FanIn => "fan_in",
            AlertKind::PassThrough => "pass_through",
            AlertKind::Cycle => "cycle",
            AlertKind::FrozenCounterparty => "frozen_counterparty",
            AlertKind::FrozenAttempt => "frozen_attempt",
            AlertKind::UnfreezeAttempt => "unfreeze_attempt",
            AlertKind::ListedOwner => "listed_owner",
            AlertKind::IdentityUnverified => "identity_unverified",
            AlertKind::MemoUnreadable => "memo_unreadable",
        }
    }

    pub fn parse(s: &str) -> Option<AlertKind> {
        AlertKind::ALL
            .into_iter()
            .find(|k| k.name() == s || k.name().replace('_', "-") == s)
    }

    /// What the pattern is about, for its score; empty for patterns that
    /// are signals on their own (they score 100).
    fn features(self) -> &'static [Feature] {
        match self {
            AlertKind::Velocity => &[Feature::OutCount, Feature::OutVolume],
            AlertKind::FanOut => &[Feature::OutParties],
            AlertKind::FanIn => &[Feature::InParties],
            AlertKind::PassThrough => &[Feature::InVolume, Feature::OutVolume],
            _ => &[],
        }
    }
}

/// A stored alert. `id` increases with every alert the node raises; an
/// update of an alert keeps its id and increments `revision`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alert {
    pub id: u64,
    #[serde(default)]
    pub revision: u32,
    pub kind: AlertKind,
    /// The account the pattern is about.
    pub account: String,
    pub institution: String,
    /// The institution's name in the genesis (filled in by the audit API).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub institution_name: Option<String>,
    pub height: u64,
    pub timestamp_ms: u64,
    /// The window the pattern was counted in.
    #[serde(default)]
    pub window_secs: u64,
    /// How unusual the account's day is, 0–100 (100 for patterns that
    /// are signals on their own).
    #[serde(default)]
    pub score: u8,
    pub asset: Option<String>,
    /// The amount that crossed the threshold, in minor units, if any.
    pub amount: Option<String>,
    /// The same amount in the asset's whole units ("28880.00").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount_decimal: Option<String>,
    /// How many legs (or distinct counterparties) the pattern counted.
    pub count: u64,
    pub detail: String,
    /// The transactions that make up the pattern (at most 64).
    pub tx_hashes: Vec<String>,
    /// Other accounts involved (counterparties, the frozen account, a
    /// cycle's path in order).
    pub related: Vec<String>,
}

/// What the detector needs to know about accounts.
pub trait Limits {
    /// A customer's limits for an asset (`None` for institutions and
    /// regulators, which have no tier).
    fn customer_limits(&self, account: &Address, asset: AssetCode) -> Option<AssetLimits>;

    /// Whether the account is a customer's (institutions' and regulators'
    /// accounts deal with everyone, and are no cycle's intermediaries).
    fn is_customer(&self, account: &Address, asset: AssetCode) -> bool {
        self.customer_limits(account, asset).is_some()
    }

    /// What links the accounts one person holds (at one institution or
    /// several): accounts with the same owner key are one owner's.
    fn owner(&self, _account: &Address) -> Option<Hash> {
        None
    }

    /// Why the account is frozen, if it is (read after its freeze).
    fn freeze_reason(&self, _account: &Address) -> Option<hutong_runtime::tx::FreezeReason> {
        None
    }
}

/// An entry of the regulator's allow-list: the patterns not to raise for
/// an account, or for every account of an institution.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AllowEntry {
    /// An account's or an institution's address.
    pub subject: String,
    /// The patterns silenced (empty: all but frozen and unfreeze attempts).
    #[serde(default)]
    pub kinds: Vec<AlertKind>,
    pub reason: String,
    /// Silenced until this time (ms since the epoch); `None`: until removed.
    #[serde(default)]
    pub until_ms: Option<u64>,
}

#[derive(Debug, Clone, Copy)]
struct Event {
    ts: u64,
    counterparty: Address,
    asset: AssetCode,
    amount: u128,
    tx: Hash,
    /// A payout of a batch transfer: a declared payroll or disbursement.
    /// It moves money (pass-through, cycles) but is not a burst of
    /// payments or a fan of recipients.
    batch: bool,
}

/// Counts and volumes of one slice of the long window.
#[derive(Debug, Clone)]
struct Bucket {
    start: u64,
    out_count: u32,
    in_count: u32,
    out: Vec<(AssetCode, u128)>,
    inc: Vec<(AssetCode, u128)>,
    out_txs: Vec<Hash>,
    in_txs: Vec<Hash>,
}

/// Transactions kept per bucket (for the alert's list).
const BUCKET_TXS_MAX: usize = 4;
/// Slices of the long window.
const LONG_BUCKETS: u64 = 24;
/// Distinct counterparties remembered per account and direction over the
/// long window (a count beyond it is "at least this many").
const LONG_PARTIES_MAX: usize = 64;
/// Money trails (cycle candidates) carried per account.
const ORIGINS_MAX: usize = 8;

fn add(list: &mut Vec<(AssetCode, u128)>, asset: AssetCode, amount: u128) {
    match list.iter_mut().find(|(a, _)| *a == asset) {
        Some((_, v)) => *v = v.saturating_add(amount),
        None => list.push((asset, amount)),
    }
}

fn sum_of(list: &[(AssetCode, u128)], asset: AssetCode) -> u128 {
    list.iter()
        .filter(|(a, _)| *a == asset)
        .map(|(_, v)| *v)
        .sum()
}

/// Until when an account paid by `parties` (each with the time of its
/// last payment) is paid by at least `k` distinct accounts within
/// `window_ms`: the `k`-th most recent payment's time plus the window
/// (0 when fewer than `k` paid it).
fn hub_until(parties: &[(Address, u64)], k: usize, window_ms: u64) -> u64 {
    if k == 0 {
        return u64::MAX;
    }
    if parties.len() < k {
        return 0;
    }
    let mut times: Vec<u64> = parties.iter().map(|(_, t)| *t).collect();
    let (_, kth, _) = times.select_nth_unstable_by(k - 1, |a, b| b.cmp(a));
    kth.saturating_add(window_ms)
}

/// The long-window aggregates of one account.
#[derive(Debug, Default)]
struct Long {
    buckets: VecDeque<Bucket>,
    out_parties: Vec<(Address, u64)>,
    in_parties: Vec<(Address, u64)>,
    /// What was paid to each recent recipient (asset, sum, the time of the
    /// first payment in the sum): to tell purchases at merchants from
    /// money passed on.
    out_paid: Vec<(Address, AssetCode, u128, u64)>,
    /// Until when the account is a hub (paid by `hub_senders` distinct
    /// accounts within the window), as of its last payment in: asked for
    /// every counterparty of every fan, it must not count the list each
    /// time.
    hub_until: u64,
}

impl Long {
    fn record(&mut self, e: &Event, out: bool, bucket_ms: u64, window_ms: u64, hub_senders: usize) {
        let start = e.ts - e.ts % bucket_ms;
        while self
            .buckets
            .front()
            .is_some_and(|b| b.start.saturating_add(window_ms) <= e.ts)
        {
            self.buckets.pop_front();
        }
        if self.buckets.back().is_none_or(|b| b.start != start) {
            self.buckets.push_back(Bucket {
                start,
                out_count: 0,
                in_count: 0,
                out: Vec::new(),
                inc: Vec::new(),
                out_txs: Vec::new(),
                in_txs: Vec::new(),
            });
        }
        if let Some(b) = self.buckets.back_mut() {
            if out {
                // A batch's payouts (a payroll) are neither a burst of
                // payments nor money passed through: they are judged at
                // their recipients.
                if !e.batch {
                    b.out_count = b.out_count.saturating_add(1);
                    add(&mut b.out, e.asset, e.amount);
                }
                if b.out_txs.len() < BUCKET_TXS_MAX {
                    b.out_txs.push(e.tx);
                }
            } else {
                b.in_count = b.in_count.saturating_add(1);
                add(&mut b.inc, e.asset, e.amount);
                if b.in_txs.len() < BUCKET_TXS_MAX {
                    b.in_txs.push(e.tx);
                }
            }
        }
        if out && e.batch {
            return;
        }
        if out {
            let paid = &mut self.out_paid;
            match paid
                .iter_mut()
                .find(|(a, asset, _, _)| *a == e.counterparty && *asset == e.asset)
            {
                Some(p) => {
                    // The sum covers at most one window: from its first
                    // payment (p.3), reset once that is a window old.
                    if p.3.saturating_add(window_ms) <= e.ts {
                        p.2 = 0;
                        p.3 = e.ts;
                    }
                    p.2 = p.2.saturating_add(e.amount);
                }
                None => {
                    if paid.len() >= LONG_PARTIES_MAX {
                        paid.retain(|p| p.3.saturating_add(window_ms) > e.ts);
                    }
                    if paid.len() >= LONG_PARTIES_MAX {
                        if let Some(i) = (0..paid.len()).min_by_key(|&i| paid[i].3) {
                            paid.swap_remove(i);
                        }
                    }
                    paid.push((e.counterparty, e.asset, e.amount, e.ts));
                }
            }
        }
        let parties = if out {
            &mut self.out_parties
        } else {
            &mut self.in_parties
        };
        if let Some(p) = parties.iter_mut().find(|(a, _)| *a == e.counterparty) {
            p.1 = e.ts;
        } else {
            if parties.len() >= LONG_PARTIES_MAX {
                parties.retain(|(_, ts)| ts.saturating_add(window_ms) > e.ts);
            }
            if parties.len() >= LONG_PARTIES_MAX {
                // Full of live entries: forget the least recent one.
                if let Some(i) = (0..parties.len()).min_by_key(|&i| parties[i].1) {
                    parties.swap_remove(i);
                }
            }
            parties.push((e.counterparty, e.ts));
        }
        if !out {
            self.hub_until = hub_until(&self.in_parties, hub_senders, window_ms);
        }
    }

    fn parties(&self, out: bool, now: u64, window_ms: u64) -> Vec<Address> {
        let parties = if out {
            &self.out_parties
        } else {
            &self.in_parties
        };
        let mut live: Vec<(Address, u64)> = parties
            .iter()
            .filter(|(_, ts)| ts.saturating_add(window_ms) > now)
            .copied()
            .collect();
        live.sort_by_key(|(a, ts)| (*ts, *a));
        live.into_iter().map(|(a, _)| a).collect()
    }

    fn live(&self, now: u64, window_ms: u64) -> impl Iterator<Item = &Bucket> {
        self.buckets
            .iter()
            .filter(move |b| b.start.saturating_add(window_ms) > now)
    }
}

/// A trail of money on its way from `root`: a cycle if it comes back.
#[derive(Debug, Clone)]
struct Origin {
    root: Address,
    root_owner: Option<Hash>,
    start_ms: u64,
    asset: AssetCode,
    first_amount: u128,
    /// The smallest leg on the way.
    carried: u128,
    /// The last leg's amount: the next must carry most of it on.
    last: u128,
    /// The accounts passed, from the root (included).
    path: Vec<Address>,
    txs: Vec<Hash>,
}

/// An alert raised for an account and still open (within its window):
/// further matches update it.
#[derive(Debug)]
struct Open {
    kind: AlertKind,
    until: u64,
    /// `None` when it was not raised (its score was too low, or the
    /// account is allow-listed) or when it was raised before a restart.
    alert: Option<Alert>,
    /// The transactions and accounts the alert lists, as values: an update
    /// tells what is new without formatting what is not.
    txs: Vec<Hash>,
    related: Vec<Address>,
}

impl Activity {
    /// Whether a finding of `kind` naming at most `related` accounts and
    /// counting at most `count` could change what is open for the account
    /// (see [`Detector::raise`]): nothing open, a quiet entry due to be
    /// scored again, or an alert it would grow. The checks that match
    /// every leg of a busy account ask first, and build nothing when not.
    fn wants(&self, kind: AlertKind, count: u64, related: usize, ts: u64) -> bool {
        match self.open.iter().find(|o| o.kind == kind && ts < o.until) {
            None => true,
            Some(Open {
                alert: None, until, ..
            }) => *until <= ts.saturating_add(RESCORE_MS),
            Some(Open { alert: Some(a), .. }) => {
                kind.is_event() || grows(a.related.len(), a.count, related, count)
            }
        }
    }
}

#[derive(Debug, Default)]
struct Activity {
    last_ms: u64,
    institution: Address,
    out: VecDeque<Event>,
    inc: VecDeque<Event>,
    near_out: VecDeque<Event>,
    near_in: VecDeque<Event>,
    long: Long,
    baseline: Baseline,
    origins: Vec<Origin>,
    open: Vec<Open>,
    /// Until when the long fan-out check passes over this account: it last
    /// found too few recipients once the hubs among them were set aside
    /// (an account paying only merchants and payroll hubs is checked again
    /// a minute later, not at each of its payments).
    long_fan_out_quiet_until: u64,
}

/// The detector. Feed it every committed leg in ledger order.
#[derive(Debug)]
pub struct Detector {
    config: AlertConfig,
    decimals: FastMap<AssetCode, u8>,
    amounts: FastMap<AssetCode, Amounts>,
    accounts: FastMap<Address, Activity>,
    /// (last activity, account), to forget the least recently active.
    by_age: BTreeSet<(u64, Address)>,
    /// Account → (the frozen account it dealt with, watched until).
    watched: FastMap<Address, (Address, u64)>,
    population: Moments,
    allow: Vec<(Address, AllowEntry)>,
    next_id: u64,
    /// Owner → its accounts' recent transfers just under a limit (the
    /// account, the event): structuring spread over one owner's accounts
    /// at several institutions. At most [`OWNERS_NEAR_MAX`] owners.
    owner_near: FastMap<Hash, VecDeque<(Address, Event)>>,
}

const WATCHED_MAX: usize = 100_000;
/// Most owners whose near-limit transfers are remembered.
const OWNERS_NEAR_MAX: usize = 100_000;
/// The longest window a pattern may have.
const WINDOW_SECS_MAX: u64 = 30 * 86_400;
/// Bounds of the per-account and account memory.
const EVENTS_PER_ACCOUNT_MAX: usize = 4_096;
const ACCOUNTS_MAX: usize = 10_000_000;
/// Days of history before an account counts as an established business.
const BUSINESS_DAYS_MIN: u32 = 3;
/// Legs a volume-only velocity alert needs.
const VOLUME_LEGS_MIN: usize = 3;
/// A pattern that scored too low is scored again after this long.
const RESCORE_MS: u64 = 60_000;
const ALERT_TXS_MAX: usize = 64;
/// An alert naming fewer accounts than this is updated for each account
/// it gains; one naming more, when they grow by a quarter (a hub paid by
/// a new sender every second would otherwise be rewritten every second).
const RELATED_EACH_MAX: usize = 16;

/// Whether an open alert showing `shown` accounts and counting `count`
/// is worth updating for a finding of `related` accounts and `new_count`:
/// the update's write and announcement must tell the analyst something.
fn grows(shown: usize, count: u64, related: usize, new_count: u64) -> bool {
    // Growing by a quarter, or reaching the most an alert lists.
    let enough = (shown + shown / 4).min(ALERT_TXS_MAX);
    let more_accounts = related > shown && (shown < RELATED_EACH_MAX || related >= enough);
    more_accounts || new_count >= count.saturating_add((count / 4).max(1))
}

/// What a rule found, before it becomes (or updates) an alert.
struct Finding {
    kind: AlertKind,
    account: Address,
    window_ms: u64,
    asset: Option<AssetCode>,
    amount: Option<u128>,
    count: u64,
    detail: String,
    txs: Vec<Hash>,
    related: Vec<Address>,
}

impl Detector {
    /// A detector over `assets` (code and decimals, from the genesis).
    /// The config must have passed [`AlertConfig::check`].
    pub fn new(config: AlertConfig, assets: &[(AssetCode, u8)]) -> Result<Detector, String> {
        config.check()?;
        let mut amounts = FastMap::default();
        for (code, decimals) in assets {
            let name = code.to_string();
            let over = config.assets.contains_key(&name).then_some(name.as_str());
            amounts.insert(*code, config.amounts(over, *decimals)?);
        }
        Ok(Detector {
            decimals: assets.iter().copied().collect(),
            amounts,
            config,
            accounts: FastMap::default(),
            by_age: BTreeSet::new(),
            watched: FastMap::default(),
            population: Moments::prior(),
            allow: Vec::new(),
            next_id: 1,
            owner_near: FastMap::default(),
        })
    }

    pub fn config(&self) -> &AlertConfig {
        &self.config
    }

    /// Accounts currently remembered (for tests and metrics).
    pub fn tracked_accounts(&self) -> usize {
        self.accounts.len()
    }

    /// After a replay on restart: new alerts are numbered from `next_id`,
    /// and the alerts raised during the replay (already stored, under
    /// other ids) are no longer updated; their windows still keep the
    /// patterns quiet.
    pub fn resume(&mut self, next_id: u64) {
        self.next_id = next_id.max(1);
        for a in self.accounts.values_mut() {
            for o in &mut a.open {
                o.alert = None;
            }
        }
    }

    /// Replaces the allow-list. Entries whose subject is not an address
    /// are refused.
    pub fn set_allow_list(&mut self, entries: Vec<AllowEntry>) -> Result<(), String> {
        let mut allow = Vec::with_capacity(entries.len());
        for e in entries {
            let a: Address = e
                .subject
                .parse()
                .map_err(|_| format!("allow-list subject {:?} is not an address", e.subject))?;
            allow.push((a, e));
        }
        self.allow = allow;
        Ok(())
    }

    fn amounts(&mut self, asset: AssetCode) -> Amounts {
        if let Some(a) = self.amounts.get(&asset) {
            return *a;
        }
        // An asset the genesis did not list (added later): its decimals
        // are unknown, so its amounts are read as minor units.
        let a = self.config.amounts(None, 0).unwrap_or(Amounts {
            decimals: 0,
            velocity: u128::MAX,
            velocity_min: u128::MAX,
            pass_through_min: u128::MAX,
            long_velocity: u128::MAX,
            long_pass_through_min: u128::MAX,
            cycle_min: u128::MAX,
        });
        self.amounts.insert(asset, a);
        a
    }

    /// `amount` of `asset` as an analyst reads it: "28,880.00 CNY".
    fn money(&self, asset: AssetCode, amount: u128) -> String {
        let d = self.decimals.get(&asset).copied().unwrap_or(0);
        format!(
            "{} {}",
            hutong_wire::amount::format_grouped(amount, d),
            asset
        )
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

    /// Feeds one committed leg; returns the alerts it raises or updates
    /// (an update has the id of the alert it replaces).
    pub fn observe(&mut self, edge: &Edge, accounts: &dyn Limits) -> Vec<Alert> {
        let mut found = Vec::new();
        if edge.succeeded() && edge.kind == EdgeKind::Freeze {
            // A freeze the customer asked for (a lost phone) says nothing
            // about its counterparties.
            if accounts.freeze_reason(&edge.to)
                != Some(hutong_runtime::tx::FreezeReason::CustomerRequest)
            {
                self.on_freeze(edge);
            }
            return Vec::new();
        }
        match edge.failure.as_deref() {
            Some("sender_frozen") => self.check_frozen_attempt(edge, &mut found),
            Some("unauthorised") if edge.kind == EdgeKind::Unfreeze => {
                self.check_unfreeze_attempt(edge, &mut found)
            }
            _ => {}
        }
        if edge.is_movement() {
            if let Some(asset) = edge.asset {
                self.observe_movement(edge, asset, accounts, &mut found);
            }
        }
        let mut alerts = Vec::new();
        for f in found {
            alerts.extend(self.raise(edge, f));
        }
        self.evict(&[edge.from, edge.to]);
        alerts
    }

    fn observe_movement(
        &mut self,
        edge: &Edge,
        asset: AssetCode,
        accounts: &dyn Limits,
        found: &mut Vec<Finding>,
    ) {
        let ts = edge.timestamp_ms;
        let cap = self.config.events_per_account_max;
        let keep_ms = self
            .config
            .velocity_window_secs
            .max(self.config.fan_window_secs)
            .max(self.config.pass_through_window_secs)
            .saturating_mul(1_000);
        let long_ms = self.config.long_window_secs.saturating_mul(1_000);
        let bucket_ms = (long_ms / LONG_BUCKETS).max(1);
        let hub_senders = self.config.hub_senders;
        let horizon = f64::from(self.config.baseline_days);
        let amount = edge.amount.0;
        let amounts = self.amounts(asset);
        let volume = amount as f64 / 10f64.powi(i32::from(amounts.decimals));
        let out_event = Event {
            ts,
            counterparty: edge.to,
            asset,
            amount,
            tx: edge.tx_hash,
            batch: edge.kind == EdgeKind::Payout,
        };
        let in_event = Event {
            counterparty: edge.from,
            ..out_event
        };
        {
            let mut population = std::mem::replace(&mut self.population, Moments::prior());
            let from = self.touch(edge.from, edge.from_institution, ts);
            push_bounded(&mut from.out, out_event, cap, ts, keep_ms);
            from.long
                .record(&out_event, true, bucket_ms, long_ms, hub_senders);
            from.baseline.record(
                ts,
                true,
                edge.to,
                edge.to_institution,
                volume,
                &mut population,
                horizon,
            );
            let to = self.touch(edge.to, edge.to_institution, ts);
            push_bounded(&mut to.inc, in_event, cap, ts, keep_ms);
            to.long
                .record(&in_event, false, bucket_ms, long_ms, hub_senders);
            to.baseline.record(
                ts,
                false,
                edge.from,
                edge.from_institution,
                volume,
                &mut population,
                horizon,
            );
            self.population = population;
        }
        let near = accounts
            .customer_limits(&edge.from, asset)
            .and_then(|l| self.near_limit(amount, &l));
        if let Some(limit) = near {
            let window = self.config.structuring_window_secs.saturating_mul(1_000);
            if let Some(from) = self.accounts.get_mut(&edge.from) {
                push_bounded(&mut from.near_out, out_event, cap, ts, window);
            }
            if let Some(to) = self.accounts.get_mut(&edge.to) {
                push_bounded(&mut to.near_in, in_event, cap, ts, window);
            }
            self.check_structuring(edge, asset, limit, found);
            if let Some(owner) = accounts.owner(&edge.from) {
                self.check_owner_structuring(edge, owner, out_event, limit, found);
            }
            // An institution's own account collecting repayments is not a
            // smurfs' collector.
            if accounts.is_customer(&edge.to, asset) {
                self.check_structuring_in(edge, asset, found);
            }
        }
        // Institutions' own accounts move liquidity and settle with
        // everyone: the volume-and-count patterns are about customers.
        if accounts.is_customer(&edge.from, asset) {
            self.check_velocity(edge, asset, &amounts, found);
            self.check_long_velocity(edge, asset, &amounts, found);
            self.check_fan(edge, true, found);
            self.check_long_fan(edge, true, found);
            self.check_pass_through(edge, asset, &amounts, accounts, found);
            self.check_long_pass_through(edge, asset, &amounts, accounts, found);
        }
        if accounts.is_customer(&edge.to, asset) {
            self.check_fan(edge, false, found);
            self.check_long_fan(edge, false, found);
        }
        self.check_cycles(edge, asset, &amounts, accounts, found);
        self.check_watched(edge, found);
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

    /// Whether `account` is a hub: paid by at least `hub_senders`
    /// distinct accounts over the long window (a merchant, a utility).
    /// Payments to hubs are purchases: they are neither a fan of
    /// recipients nor money passed on.
    fn is_hub(&self, account: &Address, ts: u64) -> bool {
        self.accounts
            .get(account)
            .is_some_and(|a| ts < a.long.hub_until)
    }

    /// Whether `account` is an established business: on a usual day of
    /// its history it is paid by at least half `hub_senders` distinct
    /// accounts. Its money in and out is takings and bills, not money
    /// passed through; a new collector is not established however many
    /// pay it today.
    fn is_business(&self, account: &Address) -> bool {
        self.accounts.get(account).is_some_and(|a| {
            a.baseline
                .usual(Feature::InParties, BUSINESS_DAYS_MIN)
                .is_some_and(|senders| senders * 2.0 >= self.config.hub_senders as f64)
        })
    }

    /// Whether paying `to` passes money on: not a purchase (a hub or an
    /// established business), not a sweep to another account of the
    /// payer's own (`owner`).
    fn passes_on(&self, to: &Address, owner: Option<Hash>, accounts: &dyn Limits, ts: u64) -> bool {
        if self.is_hub(to, ts) || self.is_business(to) {
            return false;
        }
        owner.is_none() || accounts.owner(to) != owner
    }

    fn allowed(&self, kind: AlertKind, account: &Address, institution: &Address, ts: u64) -> bool {
        if matches!(kind, AlertKind::FrozenAttempt | AlertKind::UnfreezeAttempt) {
            return false;
        }
        self.allow.iter().any(|(subject, e)| {
            (subject == account || subject == institution)
                && (e.kinds.is_empty() || e.kinds.contains(&kind))
                && e.until_ms.is_none_or(|u| ts < u)
        })
    }

    /// Raises an alert of the identity layer (a listed owner, an envelope
    /// or memo that does not open): each is an event of its own, scored
    /// 100, numbered like the detector's, not allow-listable by pattern
    /// (the regulator acts on each).
    #[allow(clippy::too_many_arguments)]
    pub fn raise_identity(
        &mut self,
        kind: AlertKind,
        account: &Address,
        institution: &Address,
        height: u64,
        timestamp_ms: u64,
        detail: String,
        tx_hashes: &[Hash],
        related: &[Address],
    ) -> Alert {
        let id = self.next_id;
        self.next_id += 1;
        Alert {
            id,
            revision: 0,
            kind,
            account: account.to_string(),
            institution: institution.to_string(),
            institution_name: None,
            height,
            timestamp_ms,
            window_secs: 0,
            score: 100,
            asset: None,
            amount: None,
            amount_decimal: None,
            count: 1,
            detail,
            tx_hashes: tx_hashes
                .iter()
                .take(ALERT_TXS_MAX)
                .map(|h| h.to_string())
                .collect(),
            related: related
                .iter()
                .take(ALERT_TXS_MAX)
                .map(|a| a.to_string())
                .collect(),
        }
    }

    /// Raises the finding as a new alert, or updates the open alert of its
    /// pattern and window with what it adds; `None` when it adds nothing,
    /// scores too low or is allow-listed.
    fn raise(&mut self, edge: &Edge, f: Finding) -> Option<Alert> {
        let ts = edge.timestamp_ms;
        let window_secs = f.window_ms / 1_000;
        let features = f.kind.features();
        let population = &self.population;
        let activity = self.accounts.get(&f.account)?;
        let institution = activity.institution;
        let score = if features.is_empty() {
            100
        } else {
            activity.baseline.score(population, features)
        };
        let amount_decimal = match (f.asset, f.amount) {
            (Some(asset), Some(amount)) => {
                let d = self.decimals.get(&asset).copied().unwrap_or(0);
                Some(hutong_wire::amount::format(amount, d))
            }
            _ => None,
        };
        let allowed = self.allowed(f.kind, &f.account, &institution, ts);
        let long_ms = self.config.long_window_secs.saturating_mul(1_000);
        let min_score = self.config.min_score;
        let next_id = self.next_id;
        let activity = self.accounts.get_mut(&f.account)?;
        activity.open.retain(|o| ts < o.until);
        // One open alert per pattern and account: a finding in the long
        // window while the short one's alert is open (or the other way
        // round) adds to that alert.
        if let Some(i) = activity.open.iter().position(|o| o.kind == f.kind) {
            if activity.open[i].alert.is_none() {
                // Quiet: allow-listed, raised before a restart, or scored
                // too low a moment ago; in the last case the pattern may
                // have grown unusual since (scoring is cheap).
                if allowed || score < min_score || activity.open[i].until > ts + RESCORE_MS {
                    return None;
                }
                activity.open.swap_remove(i);
            }
        }
        if let Some(open) = activity.open.iter_mut().find(|o| o.kind == f.kind) {
            let Open {
                alert,
                txs,
                related,
                ..
            } = open;
            let alert = alert.as_mut()?;
            // An update is worth its write and its announcement when the
            // pattern named more accounts or grew by a quarter; a busy
            // account's every further leg is not (decided before any
            // string is made: this runs for every matching leg).
            // Each finding of the single-event patterns is an event of its
            // own (another attempt, another cycle): always added.
            let event = f.kind.is_event();
            let grew = event || grows(alert.related.len(), alert.count, f.related.len(), f.count);
            if !grew {
                return None;
            }
            let before = (alert.tx_hashes.len(), alert.related.len(), alert.count);
            merge(txs, &mut alert.tx_hashes, &f.txs);
            merge(related, &mut alert.related, &f.related);
            if f.count > alert.count {
                alert.count = f.count;
                alert.amount = f.amount.map(|a| a.to_string()).or(alert.amount.take());
                alert.amount_decimal = amount_decimal.or(alert.amount_decimal.take());
                alert.detail = f.detail;
            }
            if (alert.tx_hashes.len(), alert.related.len(), alert.count) == before {
                return None;
            }
            alert.score = alert.score.max(score);
            alert.revision += 1;
            alert.height = edge.height;
            alert.timestamp_ms = ts;
            return Some(alert.clone());
        }
        // One alert a day per account for the patterns that have a long
        // horizon: a burst that goes on updates it rather than raising a
        // new one every short window.
        let quiet_ms = match f.kind {
            AlertKind::Velocity | AlertKind::FanOut | AlertKind::FanIn | AlertKind::PassThrough => {
                f.window_ms.max(long_ms)
            }
            _ => f.window_ms,
        };
        let until = ts.saturating_add(quiet_ms);
        if allowed || score < min_score {
            // Quiet for the window when allow-listed; when the score is
            // too low, for a minute only: the pattern may grow unusual.
            let until = if allowed {
                until
            } else {
                until.min(ts.saturating_add(RESCORE_MS))
            };
            activity.open.push(Open {
                kind: f.kind,
                until,
                alert: None,
                txs: Vec::new(),
                related: Vec::new(),
            });
            return None;
        }
        let mut alert = Alert {
            id: next_id,
            revision: 0,
            kind: f.kind,
            account: f.account.to_string(),
            institution: institution.to_string(),
            institution_name: None,
            height: edge.height,
            timestamp_ms: ts,
            window_secs,
            score,
            asset: f.asset.map(|a| a.to_string()),
            amount: f.amount.map(|a| a.to_string()),
            amount_decimal,
            count: f.count,
            detail: f.detail,
            tx_hashes: Vec::new(),
            related: Vec::new(),
        };
        // As found: a cycle's path names its root twice, first and last.
        let txs: Vec<Hash> = f.txs.iter().take(ALERT_TXS_MAX).copied().collect();
        let related: Vec<Address> = f.related.iter().take(ALERT_TXS_MAX).copied().collect();
        alert.tx_hashes = txs.iter().map(|h| h.to_string()).collect();
        alert.related = related.iter().map(|a| a.to_string()).collect();
        activity.open.push(Open {
            kind: f.kind,
            until,
            alert: Some(alert.clone()),
            txs,
            related,
        });
        self.next_id += 1;
        Some(alert)
    }

    fn check_structuring(
        &mut self,
        edge: &Edge,
        asset: AssetCode,
        limit: u128,
        found: &mut Vec<Finding>,
    ) {
        let window = self.config.structuring_window_secs * 1_000;
        let Some(from) = self.accounts.get(&edge.from) else {
            return;
        };
        let hits: Vec<Event> = from
            .near_out
            .iter()
            .filter(|e| e.ts + window > edge.timestamp_ms && e.asset == asset)
            .copied()
            .collect();
        if hits.len() < self.config.structuring_count {
            return;
        }
        let total: u128 = hits.iter().map(|e| e.amount).sum();
        found.push(Finding {
            kind: AlertKind::Structuring,
            account: edge.from,
            window_ms: window,
            asset: Some(asset),
            amount: Some(total),
            count: hits.len() as u64,
            detail: format!(
                "{} transfers within {}% below the limit {} in {}, {} in total",
                hits.len(),
                self.config.structuring_band_percent,
                self.money(asset, limit),
                duration(window),
                self.money(asset, total),
            ),
            txs: hits.iter().map(|e| e.tx).collect(),
            related: distinct_addresses(hits.iter().map(|e| e.counterparty)),
        });
    }

    /// Structuring spread over one owner's accounts (at one or several
    /// institutions): the owner's transfers just under a limit in the
    /// window, from at least two of its accounts, counted together. One
    /// account's own are [`Self::check_structuring`]'s.
    fn check_owner_structuring(
        &mut self,
        edge: &Edge,
        owner: Hash,
        event: Event,
        limit: u128,
        found: &mut Vec<Finding>,
    ) {
        let window = self.config.structuring_window_secs.saturating_mul(1_000);
        let cap = self.config.events_per_account_max;
        let ts = edge.timestamp_ms;
        if self.owner_near.len() >= OWNERS_NEAR_MAX && !self.owner_near.contains_key(&owner) {
            self.owner_near.retain(|_, q| {
                q.back()
                    .is_some_and(|(_, e)| e.ts.saturating_add(window) > ts)
            });
            if self.owner_near.len() >= OWNERS_NEAR_MAX {
                return;
            }
        }
        let q = self.owner_near.entry(owner).or_default();
        while q
            .front()
            .is_some_and(|(_, e)| e.ts.saturating_add(window) <= ts)
        {
            q.pop_front();
        }
        while q.len() >= cap.max(1) {
            q.pop_front();
        }
        q.push_back((edge.from, event));
        let hits: Vec<(Address, Event)> = q
            .iter()
            .filter(|(_, e)| e.asset == event.asset)
            .copied()
            .collect();
        let own = distinct_addresses(hits.iter().map(|(a, _)| *a));
        if hits.len() < self.config.structuring_count || own.len() < 2 {
            return;
        }
        let total: u128 = hits.iter().map(|(_, e)| e.amount).sum();
        let mut related: Vec<Address> = own.iter().copied().filter(|a| *a != edge.from).collect();
        related.extend(distinct_addresses(hits.iter().map(|(_, e)| e.counterparty)));
        found.push(Finding {
            kind: AlertKind::Structuring,
            account: edge.from,
            window_ms: window,
            asset: Some(event.asset),
            amount: Some(total),
            count: hits.len() as u64,
            detail: format!(
                "{} transfers within {}% below the limit {} in {} across {} accounts of one owner, {} in total",
                hits.len(),
                self.config.structuring_band_percent,
                self.money(event.asset, limit),
                duration(window),
                own.len(),
                self.money(event.asset, total),
            ),
            txs: hits.iter().map(|(_, e)| e.tx).collect(),
            related,
        });
    }

    /// Many-to-one: distinct senders each just under their own limit, to
    /// one collector.
    fn check_structuring_in(&mut self, edge: &Edge, asset: AssetCode, found: &mut Vec<Finding>) {
        let window = self.config.structuring_window_secs * 1_000;
        let Some(to) = self.accounts.get(&edge.to) else {
            return;
        };
        let hits: Vec<Event> = to
            .near_in
            .iter()
            .filter(|e| e.ts + window > edge.timestamp_ms && e.asset == asset)
            .copied()
            .collect();
        let senders = distinct_addresses(hits.iter().map(|e| e.counterparty));
        if senders.len() < self.config.structuring_senders {
            return;
        }
        let total: u128 = hits.iter().map(|e| e.amount).sum();
        found.push(Finding {
            kind: AlertKind::StructuringIn,
            account: edge.to,
            window_ms: window,
            asset: Some(asset),
            amount: Some(total),
            count: senders.len() as u64,
            detail: format!(
                "{} senders each paid just under their limit ({} transfers, {} in total) in {}",
                senders.len(),
                hits.len(),
                self.money(asset, total),
                duration(window),
            ),
            txs: hits.iter().map(|e| e.tx).collect(),
            related: senders,
        });
    }

    fn check_velocity(
        &mut self,
        edge: &Edge,
        asset: AssetCode,
        amounts: &Amounts,
        found: &mut Vec<Finding>,
    ) {
        let window = self.config.velocity_window_secs * 1_000;
        let Some(from) = self.accounts.get(&edge.from) else {
            return;
        };
        let in_window = |e: &&Event| e.ts + window > edge.timestamp_ms && !e.batch;
        let count = from.out.iter().filter(in_window).count();
        let volume: u128 = from
            .out
            .iter()
            .filter(in_window)
            .filter(|e| e.asset == asset)
            .map(|e| e.amount)
            .sum();
        let count_hit = count >= self.config.velocity_count && volume >= amounts.velocity_min;
        // One large payment is not a burst: volume counts from three.
        let volume_hit = count >= VOLUME_LEGS_MIN && volume >= amounts.velocity;
        if !count_hit && !volume_hit {
            return;
        }
        if !from.wants(AlertKind::Velocity, count as u64, count, edge.timestamp_ms) {
            return;
        }
        let recent: Vec<Event> = from.out.iter().filter(in_window).copied().collect();
        found.push(Finding {
            kind: AlertKind::Velocity,
            account: edge.from,
            window_ms: window,
            asset: Some(asset),
            amount: Some(volume),
            count: count as u64,
            detail: format!(
                "{} transfers, {} sent in {}",
                count,
                self.money(asset, volume),
                duration(window)
            ),
            txs: recent.iter().rev().map(|e| e.tx).collect(),
            related: distinct_addresses(recent.iter().map(|e| e.counterparty)),
        });
    }

    fn check_long_velocity(
        &mut self,
        edge: &Edge,
        asset: AssetCode,
        amounts: &Amounts,
        found: &mut Vec<Finding>,
    ) {
        let window = self.config.long_window_secs * 1_000;
        let ts = edge.timestamp_ms;
        let Some(from) = self.accounts.get(&edge.from) else {
            return;
        };
        let (mut count, mut volume) = (0u64, 0u128);
        for b in from.long.live(ts, window) {
            count += u64::from(b.out_count);
            volume = volume.saturating_add(sum_of(&b.out, asset));
        }
        let count_hit =
            count >= self.config.long_velocity_count as u64 && volume >= amounts.velocity_min;
        let volume_hit = count >= VOLUME_LEGS_MIN as u64 && volume >= amounts.long_velocity;
        if !count_hit && !volume_hit {
            return;
        }
        if !from.wants(AlertKind::Velocity, count, count as usize, ts) {
            return;
        }
        let txs: Vec<Hash> = from
            .long
            .live(ts, window)
            .flat_map(|b| b.out_txs.iter().copied())
            .collect();
        let related = from.long.parties(true, ts, window);
        found.push(Finding {
            kind: AlertKind::Velocity,
            account: edge.from,
            window_ms: window,
            asset: Some(asset),
            amount: Some(volume),
            count,
            detail: format!(
                "{} transfers, {} sent in {}",
                count,
                self.money(asset, volume),
                duration(window)
            ),
            txs,
            related,
        });
    }

    fn check_fan(&mut self, edge: &Edge, out: bool, found: &mut Vec<Finding>) {
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
        // This runs twice for every leg and almost always finds nothing:
        // there are too few counterparties. That is decided first, without
        // allocating or hashing; the lists are built only when it fires.
        let events = if out { &activity.out } else { &activity.inc };
        let in_window = |e: &&Event| e.ts + window > edge.timestamp_ms && !(out && e.batch);
        let counterparties = events.iter().filter(in_window).map(|e| e.counterparty);
        if !at_least_distinct(counterparties, self.config.fan_count) {
            return;
        }
        let ts = edge.timestamp_ms;
        let bound = events.iter().filter(in_window).count();
        if !activity.wants(kind, bound as u64, bound, ts) {
            return;
        }
        let recent: Vec<Event> = events
            .iter()
            .filter(in_window)
            .filter(|e| !out || !self.is_hub(&e.counterparty, ts))
            .copied()
            .collect();
        let parties = distinct_addresses(recent.iter().map(|e| e.counterparty));
        if parties.len() < self.config.fan_count {
            return;
        }
        found.push(Finding {
            kind,
            account,
            window_ms: window,
            asset: None,
            amount: None,
            count: parties.len() as u64,
            detail: format!(
                "{} distinct {} in {}",
                parties.len(),
                if out { "recipients" } else { "senders" },
                duration(window)
            ),
            txs: recent.iter().rev().map(|e| e.tx).collect(),
            related: parties,
        });
    }

    fn check_long_fan(&mut self, edge: &Edge, out: bool, found: &mut Vec<Finding>) {
        let window = self.config.long_window_secs * 1_000;
        let ts = edge.timestamp_ms;
        let account = if out { edge.from } else { edge.to };
        let Some(activity) = self.accounts.get(&account) else {
            return;
        };
        let list = if out {
            &activity.long.out_parties
        } else {
            &activity.long.in_parties
        };
        let live = list
            .iter()
            .filter(|(_, t)| t.saturating_add(window) > ts)
            .count();
        let threshold = if out {
            self.config.long_fan_count
        } else {
            self.config.long_fan_in_count
        };
        if live < threshold {
            return;
        }
        let kind = if out {
            AlertKind::FanOut
        } else {
            AlertKind::FanIn
        };
        if !activity.wants(kind, live as u64, live, ts) {
            return;
        }
        if out && ts < activity.long_fan_out_quiet_until {
            return;
        }
        let mut parties = activity.long.parties(out, ts, window);
        if out {
            parties.retain(|p| !self.is_hub(p, ts));
            if parties.len() < threshold {
                if let Some(a) = self.accounts.get_mut(&account) {
                    a.long_fan_out_quiet_until = ts.saturating_add(RESCORE_MS);
                }
                return;
            }
        }
        let txs: Vec<Hash> = activity
            .long
            .live(ts, window)
            .flat_map(|b| if out { &b.out_txs } else { &b.in_txs }.iter().copied())
            .collect();
        found.push(Finding {
            kind: if out {
                AlertKind::FanOut
            } else {
                AlertKind::FanIn
            },
            account,
            window_ms: window,
            asset: None,
            amount: None,
            count: parties.len() as u64,
            detail: format!(
                "{}{} distinct {} in {}",
                if parties.len() >= LONG_PARTIES_MAX {
                    "at least "
                } else {
                    ""
                },
                parties.len(),
                if out { "recipients" } else { "senders" },
                duration(window)
            ),
            txs,
            related: parties,
        });
    }

    /// Money in (one transfer or several) and most of it out again within
    /// the window: the earliest inflow from which the inflows since add up
    /// to the minimum and the outflows since to the share of them.
    fn check_pass_through(
        &mut self,
        edge: &Edge,
        asset: AssetCode,
        amounts: &Amounts,
        accounts: &dyn Limits,
        found: &mut Vec<Finding>,
    ) {
        let window = self.config.pass_through_window_secs * 1_000;
        let percent = u128::from(self.config.pass_through_percent);
        let max = u128::from(self.config.pass_through_max_percent);
        let ts = edge.timestamp_ms;
        let Some(activity) = self.accounts.get(&edge.from) else {
            return;
        };
        let inflows: Vec<&Event> = activity
            .inc
            .iter()
            .filter(|e| e.asset == asset && e.ts + window > ts)
            .collect();
        let outflows: Vec<&Event> = activity
            .out
            .iter()
            .filter(|e| e.asset == asset && e.ts + window > ts && !e.batch)
            .collect();
        // Newest inflow first, accumulating; outflows since each inflow
        // accumulate from the newest backwards as the inflow gets older.
        let (mut in_sum, mut out_sum, mut o) = (0u128, 0u128, outflows.len());
        let mut hit = None;
        for (i, incoming) in inflows.iter().enumerate().rev() {
            in_sum = in_sum.saturating_add(incoming.amount);
            while o > 0 && outflows[o - 1].ts >= incoming.ts {
                o -= 1;
                out_sum = out_sum.saturating_add(outflows[o].amount);
            }
            if in_sum >= amounts.pass_through_min && conduit(in_sum, out_sum, percent, max) {
                hit = Some((i, in_sum, out_sum, o));
            }
        }
        let Some((i, in_sum, out_sum, o)) = hit else {
            return;
        };
        let ins = &inflows[i..];
        let outs = &outflows[o..];
        let first = ins[0].ts;
        let owner = accounts.owner(&edge.from);
        let passed: u128 = outs
            .iter()
            .filter(|e| self.passes_on(&e.counterparty, owner, accounts, ts))
            .map(|e| e.amount)
            .sum();
        if !conduit(in_sum, passed, percent, max) {
            return;
        }
        // A hub's money in and out is a business's takings and bills
        // (smurfs' near-limit payments to one collector excepted).
        if self.is_business(&edge.from) && !mostly_structured(activity, ins.len(), first) {
            return;
        }
        found.push(Finding {
            kind: AlertKind::PassThrough,
            account: edge.from,
            window_ms: window,
            asset: Some(asset),
            amount: Some(in_sum),
            count: (ins.len() + outs.len()) as u64,
            detail: format!(
                "received {} in {} transfer{} and sent {} on within {}",
                self.money(asset, in_sum),
                ins.len(),
                if ins.len() == 1 { "" } else { "s" },
                self.money(asset, out_sum),
                duration(ts.saturating_sub(first)),
            ),
            txs: ins.iter().chain(outs.iter()).map(|e| e.tx).collect(),
            related: distinct_addresses(
                ins.iter()
                    .map(|e| e.counterparty)
                    .chain(outs.iter().map(|e| e.counterparty)),
            ),
        });
    }

    fn check_long_pass_through(
        &mut self,
        edge: &Edge,
        asset: AssetCode,
        amounts: &Amounts,
        accounts: &dyn Limits,
        found: &mut Vec<Finding>,
    ) {
        let window = self.config.long_window_secs * 1_000;
        let percent = u128::from(self.config.pass_through_percent);
        let max = u128::from(self.config.pass_through_max_percent);
        let ts = edge.timestamp_ms;
        let Some(activity) = self.accounts.get(&edge.from) else {
            return;
        };
        // Buckets newest first: inflows accumulate; outflows of the same
        // bucket or later count (a bucket's order inside is not kept).
        let live: Vec<&Bucket> = activity.long.live(ts, window).collect();
        let (mut in_sum, mut out_sum, mut inflows) = (0u128, 0u128, 0u32);
        let mut hit = None;
        for (i, b) in live.iter().enumerate().rev() {
            inflows = inflows.saturating_add(b.in_count);
            in_sum = in_sum.saturating_add(sum_of(&b.inc, asset));
            out_sum = out_sum.saturating_add(sum_of(&b.out, asset));
            if in_sum >= amounts.long_pass_through_min && conduit(in_sum, out_sum, percent, max) {
                hit = Some((i, in_sum, out_sum, inflows));
            }
        }
        let Some((i, in_sum, out_sum, inflows)) = hit else {
            return;
        };
        let owner = accounts.owner(&edge.from);
        let to_hubs: u128 = activity
            .long
            .out_paid
            .iter()
            .filter(|(a, x, _, t)| {
                *x == asset
                    && t.saturating_add(window) > ts
                    && !self.passes_on(a, owner, accounts, ts)
            })
            .map(|(_, _, sum, _)| *sum)
            .sum();
        if !conduit(in_sum, out_sum.saturating_sub(to_hubs), percent, max) {
            return;
        }
        if self.is_business(&edge.from)
            && !mostly_structured(activity, inflows as usize, ts.saturating_sub(window))
        {
            return;
        }
        let txs: Vec<Hash> = live[i..]
            .iter()
            .flat_map(|b| b.in_txs.iter().chain(b.out_txs.iter()).copied())
            .collect();
        let mut related = activity.long.parties(false, ts, window);
        related.extend(activity.long.parties(true, ts, window));
        found.push(Finding {
            kind: AlertKind::PassThrough,
            account: edge.from,
            window_ms: window,
            asset: Some(asset),
            amount: Some(in_sum),
            count: txs.len() as u64,
            detail: format!(
                "received {} in {} transfer{} and sent {} on within {}",
                self.money(asset, in_sum),
                inflows,
                if inflows == 1 { "" } else { "s" },
                self.money(asset, out_sum),
                duration(ts.saturating_sub(live[i].start)),
            ),
            txs,
            related: distinct_addresses(related.into_iter()),
        });
    }

    /// Carries money trails along the leg; a trail that reaches its root,
    /// or an account of the root's owner, is a cycle.
    fn check_cycles(
        &mut self,
        edge: &Edge,
        asset: AssetCode,
        amounts: &Amounts,
        accounts: &dyn Limits,
        found: &mut Vec<Finding>,
    ) {
        let window = self.config.cycle_window_secs.saturating_mul(1_000);
        let percent = u128::from(self.config.cycle_percent);
        let (min_hops, max_hops) = (
            usize::from(self.config.cycle_min_hops),
            usize::from(self.config.cycle_max_hops),
        );
        let ts = edge.timestamp_ms;
        let amount = edge.amount.0;
        let from_customer = accounts.is_customer(&edge.from, asset);
        let to_customer = accounts.is_customer(&edge.to, asset);
        if !from_customer {
            return;
        }
        let decimals = self.decimals.get(&asset).copied().unwrap_or(0);
        let money = |a: u128| {
            format!(
                "{} {}",
                hutong_wire::amount::format_grouped(a, decimals),
                asset
            )
        };
        let mut carried_on: Vec<Origin> = Vec::new();
        let mut to_owner: Option<Option<Hash>> = None;
        if let Some(from) = self.accounts.get_mut(&edge.from) {
            from.origins
                .retain(|o| o.start_ms.saturating_add(window) > ts);
            for o in &from.origins {
                if o.asset != asset || amount.saturating_mul(100) < o.last.saturating_mul(percent) {
                    continue;
                }
                let hops = o.txs.len() + 1;
                let owner_match = o.root_owner.is_some()
                    && *to_owner.get_or_insert_with(|| accounts.owner(&edge.to)) == o.root_owner;
                if edge.to == o.root || owner_match {
                    if hops >= min_hops {
                        let mut path = o.path.clone();
                        path.extend([edge.from, edge.to]);
                        let mut txs = o.txs.clone();
                        txs.push(edge.tx_hash);
                        found.push(Finding {
                            kind: AlertKind::Cycle,
                            account: o.root,
                            window_ms: window,
                            asset: Some(asset),
                            amount: Some(o.first_amount),
                            count: hops as u64,
                            detail: format!(
                                "{} left and {} came back to {} in {} hops within {}{}",
                                money(o.first_amount),
                                money(o.carried.min(amount)),
                                if edge.to == o.root {
                                    "the same account"
                                } else {
                                    "another account of the same owner"
                                },
                                hops,
                                duration(ts.saturating_sub(o.start_ms)),
                                if edge.to == o.root {
                                    String::new()
                                } else {
                                    format!(" ({})", edge.to)
                                }
                            ),
                            txs,
                            related: path,
                        });
                    }
                    continue;
                }
                if hops < max_hops && to_customer && !o.path.contains(&edge.to) {
                    let mut next = o.clone();
                    next.path.push(edge.from);
                    next.txs.push(edge.tx_hash);
                    next.carried = next.carried.min(amount);
                    next.last = amount;
                    carried_on.push(next);
                }
            }
        }
        if to_customer && amount >= amounts.cycle_min {
            carried_on.push(Origin {
                root: edge.from,
                root_owner: accounts.owner(&edge.from),
                start_ms: ts,
                asset,
                first_amount: amount,
                carried: amount,
                last: amount,
                path: vec![edge.from],
                txs: vec![edge.tx_hash],
            });
        }
        if carried_on.is_empty() {
            return;
        }
        let Some(to) = self.accounts.get_mut(&edge.to) else {
            return;
        };
        to.origins
            .retain(|o| o.start_ms.saturating_add(window) > ts);
        for o in carried_on {
            // One trail per root and start: keep the shorter path.
            if let Some(same) = to
                .origins
                .iter_mut()
                .find(|x| x.root == o.root && x.txs.first() == o.txs.first())
            {
                if o.txs.len() < same.txs.len() {
                    *same = o;
                }
                continue;
            }
            if to.origins.len() >= ORIGINS_MAX {
                if let Some(i) = (0..to.origins.len()).min_by_key(|&i| to.origins[i].start_ms) {
                    to.origins.swap_remove(i);
                }
            }
            to.origins.push(o);
        }
    }

    fn check_frozen_attempt(&mut self, edge: &Edge, found: &mut Vec<Finding>) {
        let window = self.config.frozen_window_secs * 1_000;
        self.touch(edge.from, edge.from_institution, edge.timestamp_ms);
        let what = match (edge.asset, edge.kind) {
            (Some(asset), EdgeKind::Transfer | EdgeKind::Payout) => {
                format!("to pay {} to {}", self.money(asset, edge.amount.0), edge.to)
            }
            _ => format!("a {}", edge.kind.name()),
        };
        found.push(Finding {
            kind: AlertKind::FrozenAttempt,
            account: edge.from,
            window_ms: window,
            asset: edge.asset,
            amount: edge.asset.map(|_| edge.amount.0),
            count: 1,
            detail: format!("the frozen account tried {what}"),
            txs: vec![edge.tx_hash],
            related: vec![edge.to],
        });
    }

    fn check_unfreeze_attempt(&mut self, edge: &Edge, found: &mut Vec<Finding>) {
        let window = self.config.frozen_window_secs * 1_000;
        self.touch(edge.from, edge.from_institution, edge.timestamp_ms);
        found.push(Finding {
            kind: AlertKind::UnfreezeAttempt,
            account: edge.from,
            window_ms: window,
            asset: None,
            amount: None,
            count: 1,
            detail: format!(
                "tried to lift the freeze of {}, which it may not lift",
                edge.to
            ),
            txs: vec![edge.tx_hash],
            related: vec![edge.to],
        });
    }

    fn on_freeze(&mut self, edge: &Edge) {
        let frozen = edge.to;
        let window = self.config.frozen_window_secs * 1_000;
        let since = edge.timestamp_ms.saturating_sub(window);
        let until = edge.timestamp_ms.saturating_add(window);
        let Some(activity) = self.accounts.get(&frozen) else {
            return;
        };
        // The recent legs, and the long window's counterparties (the
        // recent legs alone reach back only the short windows).
        let parties: FastSet<Address> = activity
            .out
            .iter()
            .chain(activity.inc.iter())
            .filter(|e| e.ts >= since)
            .map(|e| e.counterparty)
            .chain(
                activity
                    .long
                    .out_parties
                    .iter()
                    .chain(activity.long.in_parties.iter())
                    .filter(|(_, t)| *t >= since)
                    .map(|(a, _)| *a),
            )
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

    fn check_watched(&mut self, edge: &Edge, found: &mut Vec<Finding>) {
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
            let other = if account == edge.from {
                edge.to
            } else {
                edge.from
            };
            let detail = format!(
                "transfer of {} {} {} by an account that dealt with {} shortly before it was frozen",
                edge.asset
                    .map(|a| self.money(a, edge.amount.0))
                    .unwrap_or_default(),
                if account == edge.from { "to" } else { "from" },
                other,
                frozen
            );
            found.push(Finding {
                kind: AlertKind::FrozenCounterparty,
                account,
                window_ms: window,
                asset: edge.asset,
                amount: Some(edge.amount.0),
                count: 1,
                detail,
                txs: vec![edge.tx_hash],
                related: vec![frozen, other],
            });
        }
    }
}

/// Whether an account that received `in_sum` and sent `out_sum` since is
/// a conduit: it sent on at least `percent`% of what came in, and not
/// much more than that (`max`%): spending savings is not passing money
/// through.
fn conduit(in_sum: u128, out_sum: u128, percent: u128, max: u128) -> bool {
    let out = out_sum.saturating_mul(100);
    out >= in_sum.saturating_mul(percent) && out <= in_sum.saturating_mul(max)
}

/// Whether most of `inflows` legs received since `since` were each just
/// under their sender's limit (a smurfs' collection, not takings).
fn mostly_structured(activity: &Activity, inflows: usize, since: u64) -> bool {
    let near = activity.near_in.iter().filter(|e| e.ts >= since).count();
    near * 2 >= inflows
}

/// Adds the items of `new` not yet in `list`, up to [`ALERT_TXS_MAX`].
/// Adds to an alert's list (`shown`, and `values`, the same as values)
/// what it does not name yet, up to [`ALERT_TXS_MAX`]: only the new
/// items are formatted.
fn merge<T: PartialEq + Copy + std::fmt::Display>(
    values: &mut Vec<T>,
    shown: &mut Vec<String>,
    new: &[T],
) {
    for item in new {
        if shown.len() >= ALERT_TXS_MAX {
            return;
        }
        if !values.contains(item) {
            values.push(*item);
            shown.push(item.to_string());
        }
    }
}

/// A window as an analyst reads it: "10 min", "24 h", "45 s".
pub fn duration(ms: u64) -> String {
    let s = ms / 1_000;
    if s >= 7_200 && s.is_multiple_of(3_600) {
        format!("{} h", s / 3_600)
    } else if s >= 120 {
        format!("{} min", s / 60)
    } else {
        format!("{s} s")
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

/// The detectors themselves are tested through the public API in
/// `tests/alerts.rs`; these are the private helpers worth their own test.
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

    #[test]
    fn durations_read_as_an_analyst_writes_them() {
        assert_eq!(duration(45_000), "45 s");
        assert_eq!(duration(600_000), "10 min");
        assert_eq!(duration(86_400_000), "24 h");
        assert_eq!(duration(5_400_000), "90 min");
    }
}

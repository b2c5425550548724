//! Scores the risk-alert detectors on a labelled [`Scenario`]: how many
//! planted patterns they catch, and how many alerts they raise about
//! honest accounts.
//!
//! Thresholds are a trade: lower ones catch more launderers and flood the
//! analysts with honest customers. Both sides need a number before a
//! threshold is changed, and the numbers need labels, which production
//! data does not have. [`evaluate`] runs a fresh [`Detector`] over a
//! scenario's legs and counts:
//!
//! - per pattern, the plants caught: a plant is caught when an alert of
//!   one of its expected kinds is about one of the plant's accounts or
//!   lists one of its transactions (alerts of any time count, warm-up
//!   included: a plant is caught however the alert came about);
//! - per alert kind, the alerts raised in the evaluated days, and of
//!   those the true ones (about a plant account, listing a plant
//!   transaction, or, for a frozen-counterparty alert, naming a plant
//!   account as the frozen one it dealt with) and the false ones;
//! - the false alerts per 10,000 baseline accounts per day, the figure an
//!   operator staffs the analysts' desk by;
//! - where the false alerts come from: the kind, the role of the account
//!   alerted (person, merchant…) and the behaviours that produced the
//!   transactions it lists (retail, payroll…).
//!
//! The report is a pure function of the scenario and the config: it
//! holds no timings and no counts of legs, so two runs compare equal.

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;

use hutong_runtime::crypto::Hash;
use hutong_runtime::Address;
use serde::Serialize;

use crate::alerts::{Alert, AlertConfig, AlertKind, Detector};
use crate::scenario::{Behaviour, Scenario, ScenarioConfig};

/// The recall every pattern must reach.
pub const TARGET_RECALL: f64 = 0.95;

/// The most false alerts per 10,000 baseline accounts per day.
pub const TARGET_FALSE_RATE: f64 = 1.0;

/// Rows of each list the table shows (the JSON has them all).
const SHOWN_SOURCES: usize = 15;
const SHOWN_MISSES_PER_PATTERN: usize = 4;

/// An alert as it stood after the last leg, and when it was first raised.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RaisedAlert {
    /// The timestamp of the leg that raised it (revision 0).
    pub raised_ms: u64,
    /// Its latest revision.
    pub alert: Alert,
}

/// Runs a fresh detector over the scenario's legs, in order, and keeps
/// the latest revision of every alert, by id.
pub fn run_detector(scenario: &Scenario, config: AlertConfig) -> Result<Vec<RaisedAlert>, String> {
    let mut detector = Detector::new(config, &scenario.assets)?;
    let mut latest: BTreeMap<u64, RaisedAlert> = BTreeMap::new();
    for edge in &scenario.edges {
        for alert in detector.observe(edge, &scenario.accounts) {
            match latest.entry(alert.id) {
                Entry::Vacant(v) => {
                    v.insert(RaisedAlert {
                        raised_ms: alert.timestamp_ms,
                        alert,
                    });
                }
                Entry::Occupied(mut o) => {
                    if alert.revision >= o.get().alert.revision {
                        o.get_mut().alert = alert;
                    }
                }
            }
        }
    }
    Ok(latest.into_values().collect())
}

/// How one pattern fared.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PatternScore {
    /// The pattern's name ([`crate::scenario::Pattern::name`]).
    pub pattern: String,
    /// Plants of it in the scenario.
    pub planted: usize,
    /// Plants an expected alert caught.
    pub caught: usize,
    /// caught / planted; `None` when nothing was planted.
    pub recall: Option<f64>,
}

/// How one alert kind fared in the evaluated days.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KindScore {
    pub kind: AlertKind,
    /// Alerts of this kind first raised in the evaluated days.
    pub raised: usize,
    /// Of those, the ones about a plant.
    pub true_alerts: usize,
    /// Of those, the ones about the baseline alone.
    pub false_alerts: usize,
    /// true / raised; `None` when none was raised.
    pub precision: Option<f64>,
}

/// A group of false alerts with one cause.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FalseSource {
    pub kind: AlertKind,
    /// The role of the account alerted (`person`, `merchant`…).
    pub role: String,
    /// The behaviours behind the alert's transactions, received and sent
    /// (`retail -> supplier_payment`, `sent payroll`); for a
    /// frozen-counterparty alert, the freeze's (`routine_freeze`).
    pub cause: String,
    /// False alerts with this kind, role and cause.
    pub alerts: usize,
    /// The detail of the first such alert.
    pub example: String,
}

/// A plant no expected alert caught.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Miss {
    /// The pattern's name.
    pub pattern: String,
    /// Its drawn parameters.
    pub detail: String,
    /// The kinds of the alerts that did touch it (none of them expected).
    pub alerted_as: Vec<AlertKind>,
}

/// The evaluation of a detector config on a scenario.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// What the scenario was generated from (its seed reproduces it).
    pub scenario: ScenarioConfig,
    pub baseline_accounts: usize,
    /// Days evaluated.
    pub days: u32,
    pub patterns: Vec<PatternScore>,
    pub kinds: Vec<KindScore>,
    /// False alerts raised in the evaluated days.
    pub false_alerts: usize,
    /// false alerts × 10,000 / (baseline accounts × days).
    pub false_per_10k_accounts_per_day: f64,
    /// Alerts first raised during the warm-up (not counted anywhere but
    /// in catching plants).
    pub warmup_alerts: usize,
    /// False alerts grouped by cause, the largest group first.
    pub false_sources: Vec<FalseSource>,
    /// Every plant missed.
    pub missed: Vec<Miss>,
}

impl Report {
    /// Whether every pattern's recall is at least [`TARGET_RECALL`] and
    /// the false alerts at most [`TARGET_FALSE_RATE`] per 10,000
    /// accounts per day.
    pub fn targets_met(&self) -> bool {
        self.patterns
            .iter()
            .all(|p| p.recall.is_none_or(|r| r >= TARGET_RECALL))
            && self.false_per_10k_accounts_per_day <= TARGET_FALSE_RATE
    }
}

/// Which plants each account and transaction belongs to, by the text
/// alerts name them with.
struct PlantIndex {
    accounts: HashMap<String, Vec<usize>>,
    txs: HashMap<String, Vec<usize>>,
}

impl PlantIndex {
    fn new(scenario: &Scenario) -> PlantIndex {
        let mut accounts: HashMap<String, Vec<usize>> = HashMap::new();
        let mut txs: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, plant) in scenario.plants.iter().enumerate() {
            for a in &plant.accounts {
                accounts.entry(a.to_string()).or_default().push(i);
            }
            for t in &plant.txs {
                txs.entry(t.to_string()).or_default().push(i);
            }
        }
        PlantIndex { accounts, txs }
    }

    /// The plants `alert` is about.
    fn touched(&self, alert: &Alert) -> BTreeSet<usize> {
        let mut out = BTreeSet::new();
        let mut add = |hit: Option<&Vec<usize>>| out.extend(hit.into_iter().flatten().copied());
        add(self.accounts.get(&alert.account));
        for t in &alert.tx_hashes {
            add(self.txs.get(t));
        }
        // A frozen-counterparty alert is about the frozen account it
        // names: a lead from a planted freeze is the plant's.
        if alert.kind == AlertKind::FrozenCounterparty {
            for r in &alert.related {
                add(self.accounts.get(r));
            }
        }
        out
    }
}

/// Runs the detector with `config` over `scenario` and scores it.
pub fn evaluate(scenario: &Scenario, config: AlertConfig) -> Result<Report, String> {
    let alerts = run_detector(scenario, config)?;
    let index = PlantIndex::new(scenario);
    let senders: HashMap<Hash, Address> =
        scenario.edges.iter().map(|e| (e.tx_hash, e.from)).collect();
    let plants = &scenario.plants;
    let mut caught = vec![false; plants.len()];
    let mut seen: Vec<BTreeSet<AlertKind>> = vec![BTreeSet::new(); plants.len()];
    let mut kinds: BTreeMap<AlertKind, (usize, usize)> = BTreeMap::new();
    let mut sources: BTreeMap<(AlertKind, String, String), (usize, String)> = BTreeMap::new();
    let mut warmup_alerts = 0;
    for RaisedAlert { raised_ms, alert } in &alerts {
        let touched = index.touched(alert);
        for &p in &touched {
            seen[p].insert(alert.kind);
            if plants[p].expect.contains(&alert.kind) {
                caught[p] = true;
            }
        }
        if *raised_ms < scenario.eval_start_ms {
            warmup_alerts += 1;
            continue;
        }
        let (raised, true_alerts) = kinds.entry(alert.kind).or_default();
        *raised += 1;
        if !touched.is_empty() {
            *true_alerts += 1;
            continue;
        }
        let key = (
            alert.kind,
            role_of(scenario, alert),
            cause_of(scenario, &senders, alert),
        );
        let source = sources
            .entry(key)
            .or_insert_with(|| (0, alert.detail.clone()));
        source.0 += 1;
    }

    let patterns = crate::scenario::Pattern::ALL
        .iter()
        .map(|pattern| {
            let of: Vec<usize> = (0..plants.len())
                .filter(|&i| plants[i].pattern == *pattern)
                .collect();
            let hits = of.iter().filter(|&&i| caught[i]).count();
            PatternScore {
                pattern: pattern.name().to_string(),
                planted: of.len(),
                caught: hits,
                recall: ratio(hits, of.len()),
            }
        })
        .collect();
    let kinds: Vec<KindScore> = AlertKind::ALL
        .iter()
        .map(|kind| {
            let (raised, true_alerts) = kinds.get(kind).copied().unwrap_or_default();
            KindScore {
                kind: *kind,
                raised,
                true_alerts,
                false_alerts: raised - true_alerts,
                precision: ratio(true_alerts, raised),
            }
        })
        .collect();
    let false_alerts: usize = kinds.iter().map(|k| k.false_alerts).sum();
    let account_days = scenario.baseline_accounts as f64 * f64::from(scenario.days.max(1));
    let false_rate = if account_days > 0.0 {
        false_alerts as f64 * 10_000.0 / account_days
    } else {
        0.0
    };
    let mut false_sources: Vec<FalseSource> = sources
        .into_iter()
        .map(|((kind, role, cause), (alerts, example))| FalseSource {
            kind,
            role,
            cause,
            alerts,
            example,
        })
        .collect();
    // Largest first; the map's order breaks ties, so the order is stable.
    false_sources.sort_by_key(|s| std::cmp::Reverse(s.alerts));
    let missed = plants
        .iter()
        .enumerate()
        .filter(|(i, _)| !caught[*i])
        .map(|(i, p)| Miss {
            pattern: p.pattern.name().to_string(),
            detail: p.detail.clone(),
            alerted_as: seen[i].iter().copied().collect(),
        })
        .collect();
    Ok(Report {
        scenario: scenario.config.clone(),
        baseline_accounts: scenario.baseline_accounts,
        days: scenario.days,
        patterns,
        kinds,
        false_alerts,
        false_per_10k_accounts_per_day: false_rate,
        warmup_alerts,
        false_sources,
        missed,
    })
}

fn ratio(num: usize, den: usize) -> Option<f64> {
    (den > 0).then(|| num as f64 / den as f64)
}

fn role_of(scenario: &Scenario, alert: &Alert) -> String {
    Address::parse(&alert.account)
        .ok()
        .and_then(|a| scenario.accounts.role(&a))
        .map_or("unknown", |r| r.name())
        .to_string()
}

/// The behaviours behind an alert's transactions, as the account saw
/// them: the commonest among those it received and among those it sent
/// (`retail -> supplier_payment`, `received retail`, `sent payroll`).
fn cause_of(scenario: &Scenario, senders: &HashMap<Hash, Address>, alert: &Alert) -> String {
    if alert.kind == AlertKind::FrozenCounterparty {
        // Every freeze of a baseline account is an institution's routine
        // one (plants' freezes make their leads true alerts).
        return Behaviour::RoutineFreeze.name().to_string();
    }
    let account = Address::parse(&alert.account).ok();
    let mut received: BTreeMap<Behaviour, usize> = BTreeMap::new();
    let mut sent: BTreeMap<Behaviour, usize> = BTreeMap::new();
    for t in &alert.tx_hashes {
        let Ok(hash) = Hash::from_hex(t) else {
            continue;
        };
        let Some(b) = scenario.behaviour_of(&hash) else {
            continue;
        };
        let side = if senders.get(&hash).copied() == account {
            &mut sent
        } else {
            &mut received
        };
        *side.entry(b).or_default() += 1;
    }
    // The commonest; the map's order breaks ties.
    let top = |m: &BTreeMap<Behaviour, usize>| {
        m.iter()
            .fold(
                None,
                |best: Option<(Behaviour, usize)>, (b, n)| match best {
                    Some((_, m)) if m >= *n => best,
                    _ => Some((*b, *n)),
                },
            )
            .map(|(b, _)| b.name())
    };
    match (top(&received), top(&sent)) {
        (Some(r), Some(s)) => format!("{r} -> {s}"),
        (Some(r), None) => format!("received {r}"),
        (None, Some(s)) => format!("sent {s}"),
        (None, None) => "unknown".to_string(),
    }
}

fn percent(x: Option<f64>) -> String {
    x.map_or_else(|| "-".to_string(), |r| format!("{:.1}%", r * 100.0))
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.scenario;
        writeln!(
            f,
            "Detector evaluation, seed {}: {} customers, {} merchants, {} institutions; \
             {} warm-up + {} evaluated days; {} plants per pattern",
            c.seed,
            c.customers,
            c.merchants,
            c.institutions,
            c.warmup_days,
            self.days,
            c.plants_per_pattern
        )?;
        writeln!(f)?;
        writeln!(
            f,
            "{:<26}{:>8}{:>8}{:>9}",
            "pattern", "planted", "caught", "recall"
        )?;
        for p in &self.patterns {
            writeln!(
                f,
                "{:<26}{:>8}{:>8}{:>9}",
                p.pattern,
                p.planted,
                p.caught,
                percent(p.recall)
            )?;
        }
        writeln!(f)?;
        writeln!(
            f,
            "{:<22}{:>8}{:>8}{:>8}{:>11}",
            "alert kind", "raised", "true", "false", "precision"
        )?;
        for k in &self.kinds {
            writeln!(
                f,
                "{:<22}{:>8}{:>8}{:>8}{:>11}",
                k.kind.name(),
                k.raised,
                k.true_alerts,
                k.false_alerts,
                percent(k.precision)
            )?;
        }
        writeln!(f)?;
        writeln!(
            f,
            "false alerts: {} over {} baseline accounts x {} day{} = {:.2} per 10,000 accounts \
             per day (target <= {:.1})",
            self.false_alerts,
            self.baseline_accounts,
            self.days,
            if self.days == 1 { "" } else { "s" },
            self.false_per_10k_accounts_per_day,
            TARGET_FALSE_RATE
        )?;
        writeln!(
            f,
            "alerts first raised during the warm-up (not counted): {}",
            self.warmup_alerts
        )?;
        if !self.false_sources.is_empty() {
            writeln!(f)?;
            writeln!(
                f,
                "false alerts by cause (kind, account, behaviours behind its transactions: received -> sent):"
            )?;
            for s in self.false_sources.iter().take(SHOWN_SOURCES) {
                writeln!(
                    f,
                    "{:>6}  {:<20} {:<12} {:<36} e.g. {}",
                    s.alerts,
                    s.kind.name(),
                    s.role,
                    s.cause,
                    s.example
                )?;
            }
            if self.false_sources.len() > SHOWN_SOURCES {
                writeln!(
                    f,
                    "        … and {} more causes",
                    self.false_sources.len() - SHOWN_SOURCES
                )?;
            }
        }
        if !self.missed.is_empty() {
            writeln!(f)?;
            writeln!(f, "missed plants:")?;
            for p in &self.patterns {
                let misses: Vec<&Miss> = self
                    .missed
                    .iter()
                    .filter(|m| m.pattern == p.pattern)
                    .collect();
                for m in misses.iter().take(SHOWN_MISSES_PER_PATTERN) {
                    let seen: Vec<&str> = m.alerted_as.iter().map(|k| k.name()).collect();
                    writeln!(
                        f,
                        "  {:<24} {} (alerted as: {})",
                        m.pattern,
                        m.detail,
                        if seen.is_empty() {
                            "nothing".to_string()
                        } else {
                            seen.join(", ")
                        }
                    )?;
                }
                if misses.len() > SHOWN_MISSES_PER_PATTERN {
                    writeln!(
                        f,
                        "  {:<24} … and {} more",
                        p.pattern,
                        misses.len() - SHOWN_MISSES_PER_PATTERN
                    )?;
                }
            }
        }
        writeln!(f)?;
        write!(
            f,
            "targets (recall >= {:.0}% on every pattern, <= {:.1} false alerts per 10,000 \
             accounts per day): {}",
            TARGET_RECALL * 100.0,
            TARGET_FALSE_RATE,
            if self.targets_met() { "met" } else { "NOT met" }
        )
    }
}

//! Labelled scenarios for the risk-alert detectors: a synthetic week or
//! two of an ordinary payments network, with laundering patterns planted
//! in it and a record of which transactions and accounts are planted.
//!
//! The detectors' unit tests (`tests/alerts.rs`) show that each rule
//! fires at its threshold; they cannot show how often the rules fire on
//! honest customers, nor whether a launderer who does not know the
//! thresholds is caught. That needs a population: [`generate`] builds
//! one, deterministically from a seed, and [`crate::eval`] runs the
//! detector over it and scores the alerts against the labels.
//!
//! The baseline is meant to be honest, not easy. It has what a retail
//! payments network has: customers at several institutions on different
//! tiers, circles of friends who pay each other and split bills, popular
//! merchants paid by hundreds every day and paying their suppliers,
//! persons selling through their personal accounts,
//! landlords collecting rent, a payroll or two followed by salaries being
//! spent and swept to savings, institutions disbursing and collecting
//! repayments and moving liquidity between themselves, and the odd
//! routine freeze of a customer's account (a lost phone). Activity
//! follows the hours of the day and is busier at weekends. A run starts
//! with `warmup_days` of this baseline alone, so that the detector has
//! learned what the accounts normally do before the evaluated days begin
//! (as it has in production); alerts raised during the warm-up are not
//! counted.
//!
//! The planted patterns ([`Pattern`]) take their parameters at random
//! from plausible ranges, not from the detector's thresholds: some fall
//! outside what the default thresholds catch, on purpose. Plant accounts
//! are fresh (no baseline customer is a launderer) but have a little
//! ordinary history, and plants pay baseline accounts where a launderer
//! would.

use std::collections::BTreeMap;

use hutong_runtime::crypto::Hash;
use hutong_runtime::state::AssetLimits;
use hutong_runtime::{Address, Amount, AssetCode};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use crate::alerts::{duration, AlertKind, Limits};
use crate::edge::{Edge, EdgeKind};

/// Decimals of the scenario's one asset, CNY (minor units are fen).
pub const CNY_DECIMALS: u8 = 2;

/// Midnight at the start of Monday 3 March 2025 in Beijing (UTC+8): the
/// first day of a scenario, so that its weekends fall where a reader
/// expects them.
pub const START_MS: u64 = 1_740_931_200_000;

const SECOND_MS: u64 = 1_000;
const MINUTE_MS: u64 = 60 * SECOND_MS;
const HOUR_MS: u64 = 60 * MINUTE_MS;
const DAY_MS: u64 = 24 * HOUR_MS;

/// The size and shape of a scenario.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScenarioConfig {
    /// Everything random is drawn from this seed: the same config gives
    /// the same legs.
    pub seed: u64,
    /// Persons holding accounts (a few hold a second, savings account).
    pub customers: usize,
    /// Shops and service providers paid by the customers.
    pub merchants: usize,
    /// Member institutions; every account banks with one.
    pub institutions: usize,
    /// Days evaluated: plants happen in them, and false alerts are
    /// counted in them.
    pub days: u32,
    /// Days of baseline alone before the evaluated days, for the
    /// detector to learn each account's normal day (its alerts are not
    /// counted).
    pub warmup_days: u32,
    /// How many times each [`Pattern`] is planted.
    pub plants_per_pattern: usize,
}

impl Default for ScenarioConfig {
    /// A town-sized network: large enough for the false-alert rate to be
    /// measured to a tenth of an alert per 10,000 accounts and day, small
    /// enough to run in seconds in release.
    fn default() -> Self {
        ScenarioConfig {
            seed: 2025,
            customers: 10_000,
            merchants: 100,
            institutions: 4,
            days: 2,
            warmup_days: 7,
            plants_per_pattern: 20,
        }
    }
}

/// A laundering pattern the generator plants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Pattern {
    /// A → B → C (→ D …) → A across institutions, most of the amount
    /// kept at every hop.
    Cycle,
    /// The same, but the money comes back to another account of A's
    /// owner at another institution.
    OwnerRoundTrip,
    /// Several senders each pay just under their step-up threshold to one
    /// collector, who forwards most of it.
    Smurfing,
    /// An account receives a sum and pays it to many recipients over
    /// hours, not minutes.
    SlowFanOut,
    /// Many transfers, just under the short window's count, for hours.
    SlowVelocity,
    /// A few inflows, each too small for the short pass-through rule,
    /// forwarded within hours.
    AggregatedPassThrough,
    /// One sender's transfers just under its own limit, to different
    /// recipients within a day.
    Structuring,
    /// A frozen account tries to send.
    FrozenAttempt,
    /// An institution tries to lift the regulator's freeze.
    UnfreezeAttempt,
}

impl Pattern {
    /// Every pattern, in the order plants are generated and reported.
    pub const ALL: [Pattern; 9] = [
        Pattern::Cycle,
        Pattern::OwnerRoundTrip,
        Pattern::Smurfing,
        Pattern::SlowFanOut,
        Pattern::SlowVelocity,
        Pattern::AggregatedPassThrough,
        Pattern::Structuring,
        Pattern::FrozenAttempt,
        Pattern::UnfreezeAttempt,
    ];

    /// Its name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Pattern::Cycle => "cycle",
            Pattern::OwnerRoundTrip => "owner_round_trip",
            Pattern::Smurfing => "smurfing",
            Pattern::SlowFanOut => "slow_fan_out",
            Pattern::SlowVelocity => "slow_velocity",
            Pattern::AggregatedPassThrough => "aggregated_pass_through",
            Pattern::Structuring => "structuring",
            Pattern::FrozenAttempt => "frozen_attempt",
            Pattern::UnfreezeAttempt => "unfreeze_attempt",
        }
    }

    /// The alert kinds that count as catching it (any one of them).
    pub fn expect(self) -> &'static [AlertKind] {
        match self {
            Pattern::Cycle | Pattern::OwnerRoundTrip => &[AlertKind::Cycle],
            Pattern::Smurfing => &[
                AlertKind::StructuringIn,
                AlertKind::FanIn,
                AlertKind::PassThrough,
            ],
            Pattern::SlowFanOut => &[AlertKind::FanOut, AlertKind::PassThrough],
            Pattern::SlowVelocity => &[AlertKind::Velocity],
            Pattern::AggregatedPassThrough => &[AlertKind::PassThrough],
            Pattern::Structuring => &[AlertKind::Structuring],
            Pattern::FrozenAttempt => &[AlertKind::FrozenAttempt],
            Pattern::UnfreezeAttempt => &[AlertKind::UnfreezeAttempt],
        }
    }
}

/// One planted instance of a pattern: the label an alert is scored
/// against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plant {
    /// What was planted.
    pub pattern: Pattern,
    /// The plant's own accounts (root, collector, mule, smurfs, exits…),
    /// all fresh: an alert about one of them is about the plant. Baseline
    /// accounts the plant pays are not listed.
    pub accounts: Vec<Address>,
    /// The transactions of the pattern itself (not the plant accounts'
    /// ordinary history).
    pub txs: Vec<Hash>,
    /// An alert of any of these kinds about the plant catches it.
    pub expect: Vec<AlertKind>,
    /// Its drawn parameters, for the analyst reading a miss.
    pub detail: String,
}

/// What an account is in the scenario, for reading false alerts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// A person's everyday account.
    Person,
    /// A person's second account, at another institution.
    Savings,
    Merchant,
    /// A wholesaler paid by merchants.
    Supplier,
    /// A business that runs a payroll.
    Employer,
    /// An institution's own account (not a customer).
    Institution,
    Regulator,
    /// An account of a planted pattern.
    Plant,
}

impl Role {
    /// Its name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Role::Person => "person",
            Role::Savings => "savings",
            Role::Merchant => "merchant",
            Role::Supplier => "supplier",
            Role::Employer => "employer",
            Role::Institution => "institution",
            Role::Regulator => "regulator",
            Role::Plant => "plant",
        }
    }
}

/// A customer's tier, as the scenario's limits give it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TierClass {
    /// Most persons: 50,000 per transfer, 200,000 a day, co-signature
    /// above 10,000.
    Standard,
    /// 500,000 per transfer, 2,000,000 a day, co-signature above 50,000.
    Premium,
    /// Private banking: 200,000 per transfer, 2,000,000 a day, no
    /// step-up (so its structuring limit is the single-transfer limit).
    Private,
    /// Businesses: 5,000,000 per transfer, 50,000,000 a day, co-signature
    /// above 1,000,000.
    Business,
}

impl TierClass {
    /// Single, daily and step-up limits in whole CNY.
    fn whole_limits(self) -> (u128, u128, Option<u128>) {
        match self {
            TierClass::Standard => (50_000, 200_000, Some(10_000)),
            TierClass::Premium => (500_000, 2_000_000, Some(50_000)),
            TierClass::Private => (200_000, 2_000_000, None),
            TierClass::Business => (5_000_000, 50_000_000, Some(1_000_000)),
        }
    }

    /// The limits in fen, as the ledger keeps them.
    pub fn limits(self, asset: AssetCode) -> AssetLimits {
        let (single, daily, step_up) = self.whole_limits();
        let fen = 10u128.pow(u32::from(CNY_DECIMALS));
        AssetLimits {
            asset,
            single_max: Amount(single * fen),
            daily_max: Amount(daily * fen),
            step_up_threshold: step_up.map(|s| Amount(s * fen)),
        }
    }

    /// The largest single transfer, in fen.
    pub fn single_max(self) -> u128 {
        self.whole_limits().0 * 10u128.pow(u32::from(CNY_DECIMALS))
    }

    /// The amount transfers just under which are structuring: the
    /// step-up threshold, or the single limit without one (fen).
    pub fn structuring_limit(self) -> u128 {
        let (single, _, step_up) = self.whole_limits();
        step_up.unwrap_or(single) * 10u128.pow(u32::from(CNY_DECIMALS))
    }
}

/// What the scenario knows about one account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountInfo {
    /// What the account is in the scenario (for reading alerts).
    pub role: Role,
    /// The institution it banks with (an institution's own account banks
    /// with itself; so does the regulator's).
    pub institution: Address,
    /// `None` for institutions and the regulator, which are no customers.
    pub tier: Option<TierClass>,
    /// Links the accounts one person holds; `None` for non-customers.
    pub owner: Option<Hash>,
}

/// Every account of a scenario: what the detector asks through
/// [`Limits`], and what the evaluation reads to explain a false alert.
#[derive(Debug, Clone)]
pub struct ScenarioAccounts {
    asset: AssetCode,
    accounts: BTreeMap<Address, AccountInfo>,
    /// Accounts their institution froze at the customer's request (a
    /// lost phone): what the ledger's freeze reason would say.
    customer_requested: std::collections::BTreeSet<Address>,
}

impl ScenarioAccounts {
    /// What the scenario knows about `account`.
    pub fn get(&self, account: &Address) -> Option<&AccountInfo> {
        self.accounts.get(account)
    }

    /// Its role; `None` for an address the scenario never opened.
    pub fn role(&self, account: &Address) -> Option<Role> {
        self.accounts.get(account).map(|a| a.role)
    }

    /// The institution it banks with (the zero address when unknown, as
    /// [`crate::edges_of_block`] has it).
    pub fn institution_of(&self, account: &Address) -> Address {
        self.accounts
            .get(account)
            .map(|a| a.institution)
            .unwrap_or_default()
    }

    /// How many accounts the scenario opened, of every role.
    pub fn len(&self) -> usize {
        self.accounts.len()
    }

    /// Whether it opened none.
    pub fn is_empty(&self) -> bool {
        self.accounts.is_empty()
    }

    /// Every account, in address order.
    pub fn iter(&self) -> impl Iterator<Item = (&Address, &AccountInfo)> {
        self.accounts.iter()
    }
}

impl Limits for ScenarioAccounts {
    fn customer_limits(&self, account: &Address, asset: AssetCode) -> Option<AssetLimits> {
        if asset != self.asset {
            return None;
        }
        let tier = self.accounts.get(account)?.tier?;
        Some(tier.limits(asset))
    }

    fn owner(&self, account: &Address) -> Option<Hash> {
        self.accounts.get(account)?.owner
    }

    fn freeze_reason(&self, account: &Address) -> Option<hutong_runtime::tx::FreezeReason> {
        self.customer_requested
            .contains(account)
            .then_some(hutong_runtime::tx::FreezeReason::CustomerRequest)
    }
}

/// What produced a transaction, for explaining the alerts it is part of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Behaviour {
    /// A person pays a merchant.
    Retail,
    /// A person's rare large purchase (furniture, a car's deposit).
    BigPurchase,
    /// A merchant refunds a payment.
    Refund,
    /// A person pays a friend or relative.
    Peer,
    /// One friend pays the restaurant, the others pay their share back.
    BillSplit,
    /// An organiser collects the same share from a circle (a trip, a
    /// gift) and pays the total on.
    Collection,
    /// A person sells through its personal account (a market stall, an
    /// online shop): paid by strangers daily, restocking from a
    /// wholesaler.
    SideBusiness,
    /// A tenant pays a landlord.
    Rent,
    /// An employer's batch of salaries.
    Payroll,
    /// Part of a salary moved to the person's own savings account.
    SalarySweep,
    /// A person moves money between its own accounts.
    OwnTransfer,
    /// A customer repays a card or loan to its institution.
    Repayment,
    /// An institution pays a customer (a loan, interest, a refund).
    Disbursement,
    /// A merchant pays a wholesaler for stock.
    SupplierPayment,
    /// A wholesaler pays a business's invoice.
    Invoice,
    /// Institutions move liquidity between themselves.
    Liquidity,
    /// An institution freezes (and later unfreezes) a customer's account:
    /// a lost phone, a suspicious login.
    RoutineFreeze,
    /// A payment from or to an account while its institution had frozen
    /// it (it fails).
    WhileFrozen,
    /// A payment that failed for an ordinary reason (insufficient
    /// balance).
    Failed,
    /// A plant account's ordinary history.
    PlantHistory,
    /// A transaction of a planted pattern.
    Planted,
}

impl Behaviour {
    /// Its name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Behaviour::Retail => "retail",
            Behaviour::BigPurchase => "big_purchase",
            Behaviour::Refund => "refund",
            Behaviour::Peer => "peer",
            Behaviour::BillSplit => "bill_split",
            Behaviour::Collection => "collection",
            Behaviour::SideBusiness => "side_business",
            Behaviour::Rent => "rent",
            Behaviour::Payroll => "payroll",
            Behaviour::SalarySweep => "salary_sweep",
            Behaviour::OwnTransfer => "own_transfer",
            Behaviour::Repayment => "repayment",
            Behaviour::Disbursement => "disbursement",
            Behaviour::SupplierPayment => "supplier_payment",
            Behaviour::Invoice => "invoice",
            Behaviour::Liquidity => "liquidity",
            Behaviour::RoutineFreeze => "routine_freeze",
            Behaviour::WhileFrozen => "while_frozen",
            Behaviour::Failed => "failed",
            Behaviour::PlantHistory => "plant_history",
            Behaviour::Planted => "planted",
        }
    }
}

/// A generated scenario: the legs in ledger order and their labels.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// What it was generated from.
    pub config: ScenarioConfig,
    /// Every leg, sorted by (timestamp, height, index, leg): the order
    /// the detector must be fed in.
    pub edges: Vec<Edge>,
    /// The planted patterns, by pattern then in the order planted.
    pub plants: Vec<Plant>,
    /// Tiers, owners, institutions and roles of every account.
    pub accounts: ScenarioAccounts,
    /// The assets and their decimals, as the genesis would list them.
    pub assets: Vec<(AssetCode, u8)>,
    /// What produced each transaction.
    pub behaviours: BTreeMap<Hash, Behaviour>,
    /// Customer accounts of the baseline (persons, savings, merchants,
    /// suppliers, employers): the denominator of the false-alert rate.
    pub baseline_accounts: usize,
    /// Days evaluated (after the warm-up).
    pub days: u32,
    /// When the evaluated days start (ms since the epoch): alerts raised
    /// before are the warm-up's.
    pub eval_start_ms: u64,
    /// When the scenario ends: no leg is at or after it.
    pub end_ms: u64,
}

impl Scenario {
    /// The behaviour that produced transaction `tx`.
    pub fn behaviour_of(&self, tx: &Hash) -> Option<Behaviour> {
        self.behaviours.get(tx).copied()
    }
}

/// The scenario of `config`, the same for the same config.
pub fn generate(config: &ScenarioConfig) -> Scenario {
    let mut b = Builder::new(config);
    b.build_world(config);
    for day in 0..b.total_days {
        b.day_of_persons(day);
        b.day_of_circles(day);
        b.day_of_rent(day);
        b.day_of_sellers(day);
        b.day_of_institutions(day);
        b.day_of_businesses(day);
        b.day_of_routine_freezes(day);
    }
    b.payrolls();
    let mut plants = Vec::new();
    for pattern in Pattern::ALL {
        for _ in 0..config.plants_per_pattern {
            plants.push(b.plant(pattern));
        }
    }
    b.supplier_payments();
    b.apply_routine_freezes();
    b.finish(config, plants)
}

// ---------------------------------------------------------------------
// Random draws.

/// The generator's random draws, from one seeded stream.
#[derive(Debug)]
struct Dice {
    rng: ChaCha8Rng,
}

impl Dice {
    fn unit(&mut self) -> f64 {
        self.rng.gen::<f64>()
    }

    fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }

    /// Uniform on a log scale: as likely between 1 and 10 as between 10
    /// and 100.
    fn log_uniform(&mut self, lo: f64, hi: f64) -> f64 {
        self.uniform(lo.ln(), hi.ln()).exp()
    }

    fn normal(&mut self) -> f64 {
        // Box–Muller; 1 - u keeps the logarithm's argument above zero.
        let u1 = 1.0 - self.unit();
        let u2 = self.unit();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    fn lognormal(&mut self, median: f64, sigma: f64) -> f64 {
        median * (sigma * self.normal()).exp()
    }

    fn poisson(&mut self, lambda: f64) -> u32 {
        if lambda <= 0.0 {
            return 0;
        }
        if lambda > 30.0 {
            return (lambda + lambda.sqrt() * self.normal()).round().max(0.0) as u32;
        }
        let limit = (-lambda).exp();
        let (mut k, mut p) = (0u32, self.unit());
        while p > limit {
            k += 1;
            p *= self.unit();
        }
        k
    }

    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: usize, hi: usize) -> usize {
        if hi <= lo {
            return lo;
        }
        self.rng.gen_range(lo..=hi)
    }

    /// Uniform in `0..n`; `n` must be positive.
    fn below(&mut self, n: usize) -> usize {
        self.rng.gen_range(0..n.max(1))
    }

    /// Uniform in `lo..hi` milliseconds.
    fn ms(&mut self, lo: u64, hi: u64) -> u64 {
        if hi <= lo {
            return lo;
        }
        self.rng.gen_range(lo..hi)
    }

    /// A duration drawn log-uniformly between `lo` and `hi` ms.
    fn span(&mut self, lo: u64, hi: u64) -> u64 {
        self.log_uniform(lo as f64, hi as f64).round() as u64
    }

    /// An index drawn with the weights `cumulative` sums up.
    fn weighted(&mut self, cumulative: &[f64]) -> usize {
        let total = cumulative.last().copied().unwrap_or(0.0);
        let x = self.unit() * total;
        cumulative
            .partition_point(|c| *c <= x)
            .min(cumulative.len().saturating_sub(1))
    }
}

fn cumulative(weights: impl Iterator<Item = f64>) -> Vec<f64> {
    weights
        .scan(0.0, |sum, w| {
            *sum += w;
            Some(*sum)
        })
        .collect()
}

/// Yuan to fen, at least one fen.
fn fen(yuan: f64) -> u128 {
    (yuan * 100.0).round().max(1.0) as u128
}

/// Rounds `yuan` down to a multiple of `unit` yuan (people pay 500, not
/// 497.31, to a friend), unless that would make it zero.
fn round_down(yuan: f64, unit: f64) -> f64 {
    let r = (yuan / unit).floor() * unit;
    if r > 0.0 {
        r
    } else {
        yuan
    }
}

/// An amount as an analyst reads it: "9,850.00 CNY".
fn cny(minor: u128) -> String {
    format!(
        "{} CNY",
        hutong_wire::amount::format_grouped(minor, CNY_DECIMALS)
    )
}

/// Relative weight of each hour of the day for persons (quiet nights,
/// lunch and evening peaks).
const PERSON_HOURS: [f64; 24] = [
    1.0, 0.5, 0.3, 0.2, 0.2, 0.3, 1.0, 3.0, 5.0, 5.0, 5.0, 6.0, 9.0, 7.0, 5.0, 5.0, 5.0, 6.0, 8.0,
    9.0, 9.0, 7.0, 4.0, 2.0,
];

/// Relative weight of each hour for businesses and institutions.
const OFFICE_HOURS: [f64; 24] = [
    0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.2, 1.0, 3.0, 3.0, 3.0, 2.0, 2.0, 3.0, 3.0, 3.0, 2.0, 1.0,
    0.3, 0.1, 0.0, 0.0, 0.0,
];

// ---------------------------------------------------------------------
// The world: who banks where, who pays whom.

#[derive(Debug)]
struct Person {
    addr: Address,
    inst: usize,
    contacts: Vec<usize>,
    favourites: Vec<usize>,
    /// Mean payments on an active day.
    rate: f64,
    /// Chance a day is active.
    active: f64,
    /// How much this person spends relative to the median.
    scale: f64,
    savings: Option<Address>,
}

#[derive(Debug)]
struct Merchant {
    addr: Address,
    /// The median ticket, in yuan.
    ticket: f64,
    suppliers: Vec<usize>,
}

#[derive(Debug)]
struct Employer {
    addr: Address,
    staff: Vec<(usize, f64)>,
    payday: u32,
}

#[derive(Debug)]
struct Landlord {
    person: usize,
    /// Tenant, rent (yuan), and whether the tenant pays a day late.
    tenants: Vec<(usize, f64, bool)>,
    /// Day of the month rent is due, counted from the scenario's start.
    due: u32,
}

/// A person who sells through its personal account.
#[derive(Debug)]
struct Seller {
    person: usize,
    /// Mean buyers a day.
    buyers: f64,
    /// Median ticket, in yuan.
    ticket: f64,
    /// Takings not yet spent on stock, in fen.
    owed: u128,
}

#[derive(Debug, Default)]
struct World {
    persons: Vec<Person>,
    persons_by_inst: Vec<Vec<usize>>,
    circles: Vec<Vec<usize>>,
    merchants: Vec<Merchant>,
    merchant_weights: Vec<f64>,
    suppliers: Vec<Address>,
    employers: Vec<Employer>,
    landlords: Vec<Landlord>,
    sellers: Vec<Seller>,
}

/// A transaction before it has a block.
#[derive(Debug)]
struct PendingTx {
    at_ms: u64,
    seq: u64,
    hash: Hash,
    kind: EdgeKind,
    from: Address,
    legs: Vec<(Address, u128)>,
    money: bool,
    failure: Option<String>,
    behaviour: Behaviour,
}

#[derive(Debug)]
struct Builder {
    dice: Dice,
    seed: u64,
    asset: AssetCode,
    start_ms: u64,
    eval_start_ms: u64,
    end_ms: u64,
    total_days: u32,
    eval_days: u32,
    next_address: u64,
    accounts: BTreeMap<Address, AccountInfo>,
    institutions: Vec<Address>,
    institution_weights: Vec<f64>,
    regulator: Address,
    world: World,
    txs: Vec<PendingTx>,
    /// Routine freezes: account, from, until.
    freezes: Vec<(Address, u64, u64)>,
    person_hours: Vec<f64>,
    office_hours: Vec<f64>,
}

impl Builder {
    fn new(config: &ScenarioConfig) -> Builder {
        let eval_days = config.days.max(1);
        let total_days = config.warmup_days + eval_days;
        let start_ms = START_MS;
        let eval_start_ms = start_ms + u64::from(config.warmup_days) * DAY_MS;
        Builder {
            dice: Dice {
                rng: ChaCha8Rng::seed_from_u64(config.seed),
            },
            seed: config.seed,
            asset: AssetCode::new("CNY").expect("CNY is a valid asset code"),
            start_ms,
            eval_start_ms,
            end_ms: eval_start_ms + u64::from(eval_days) * DAY_MS,
            total_days,
            eval_days,
            next_address: 0,
            accounts: BTreeMap::new(),
            institutions: Vec::new(),
            institution_weights: Vec::new(),
            regulator: Address::default(),
            world: World::default(),
            txs: Vec::new(),
            freezes: Vec::new(),
            person_hours: cumulative(PERSON_HOURS.into_iter()),
            office_hours: cumulative(OFFICE_HOURS.into_iter()),
        }
    }

    // --- accounts ---------------------------------------------------

    fn new_address(&mut self) -> Address {
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&self.seed.to_le_bytes());
        bytes[8..].copy_from_slice(&self.next_address.to_le_bytes());
        self.next_address += 1;
        let h = Hash::tagged(b"scenario/address", &bytes);
        let mut a = [0u8; 20];
        a.copy_from_slice(&h.0[..20]);
        Address(a)
    }

    /// Opens a customer account at institution `inst`; its owner is
    /// `owner`, or a new person.
    fn open(&mut self, role: Role, inst: usize, tier: TierClass, owner: Option<Hash>) -> Address {
        let addr = self.new_address();
        let owner = owner.unwrap_or_else(|| Hash::tagged(b"scenario/owner", &addr.0));
        self.accounts.insert(
            addr,
            AccountInfo {
                role,
                institution: self.institutions[inst],
                tier: Some(tier),
                owner: Some(owner),
            },
        );
        addr
    }

    fn owner_of(&self, addr: &Address) -> Option<Hash> {
        self.accounts.get(addr).and_then(|a| a.owner)
    }

    fn inst_index(&self, addr: &Address) -> usize {
        let inst = self
            .accounts
            .get(addr)
            .map(|a| a.institution)
            .unwrap_or_default();
        self.institutions
            .iter()
            .position(|i| *i == inst)
            .unwrap_or(0)
    }

    fn single_max(&self, addr: &Address) -> u128 {
        self.accounts
            .get(addr)
            .and_then(|a| a.tier)
            .map_or(u128::MAX, TierClass::single_max)
    }

    fn random_institution(&mut self) -> usize {
        self.dice.weighted(&self.institution_weights)
    }

    /// `len` institutions for the accounts of a path, neighbours (and
    /// the ends of a `closed` ring) at different institutions where there
    /// are enough, unused ones first.
    fn spread_institutions(&mut self, len: usize, closed: bool) -> Vec<usize> {
        let n = self.institutions.len();
        let mut out: Vec<usize> = Vec::with_capacity(len);
        for i in 0..len {
            let prev = out.last().copied();
            let first = if closed && i + 1 == len && i > 0 {
                out.first().copied()
            } else {
                None
            };
            let allowed: Vec<usize> = (0..n)
                .filter(|c| Some(*c) != prev && Some(*c) != first)
                .collect();
            let unused: Vec<usize> = allowed
                .iter()
                .copied()
                .filter(|c| !out.contains(c))
                .collect();
            let pool = if !unused.is_empty() { unused } else { allowed };
            out.push(if pool.is_empty() {
                self.random_institution()
            } else {
                pool[self.dice.below(pool.len())]
            });
        }
        out
    }

    // --- time -------------------------------------------------------

    fn day_start(&self, day: u32) -> u64 {
        self.start_ms + u64::from(day) * DAY_MS
    }

    fn is_weekend(day: u32) -> bool {
        // The scenario starts on a Monday.
        day % 7 >= 5
    }

    fn person_time(&mut self, day: u32) -> u64 {
        let hour = self.dice.weighted(&self.person_hours) as u64;
        self.day_start(day) + hour * HOUR_MS + self.dice.ms(0, HOUR_MS)
    }

    fn office_time(&mut self, day: u32) -> u64 {
        let hour = self.dice.weighted(&self.office_hours) as u64;
        self.day_start(day) + hour * HOUR_MS + self.dice.ms(0, HOUR_MS)
    }

    /// A whole second at which a plant spanning `span` ms can start and
    /// still end inside the evaluated days.
    fn plant_start(&mut self, span: u64) -> u64 {
        let lo = self.eval_start_ms + 5 * MINUTE_MS;
        let hi = self
            .end_ms
            .saturating_sub(span + 10 * MINUTE_MS)
            .max(lo + SECOND_MS);
        self.dice.ms(lo, hi) / SECOND_MS * SECOND_MS
    }

    /// `n` increasing times in `[start, start + span]`, at least a second
    /// apart (so in different blocks); the first at `start` and the last
    /// at `start + span` when asked.
    fn times(
        &mut self,
        start: u64,
        span: u64,
        n: usize,
        pin_first: bool,
        pin_last: bool,
    ) -> Vec<u64> {
        let mut t: Vec<u64> = (0..n)
            .map(|_| start + self.dice.ms(0, span.max(1)))
            .collect();
        t.sort_unstable();
        if pin_first {
            if let Some(f) = t.first_mut() {
                *f = start;
            }
        }
        if pin_last && n > 1 {
            if let Some(l) = t.last_mut() {
                *l = start + span;
            }
        }
        for i in 1..t.len() {
            if t[i] < t[i - 1] + SECOND_MS {
                t[i] = t[i - 1] + SECOND_MS;
            }
        }
        t
    }

    // --- transactions -----------------------------------------------

    #[allow(clippy::too_many_arguments)]
    fn push(
        &mut self,
        at_ms: u64,
        kind: EdgeKind,
        from: Address,
        legs: Vec<(Address, u128)>,
        money: bool,
        failure: Option<&str>,
        behaviour: Behaviour,
    ) -> Option<Hash> {
        if at_ms < self.start_ms || at_ms >= self.end_ms || legs.is_empty() {
            return None;
        }
        let seq = self.txs.len() as u64;
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&self.seed.to_le_bytes());
        bytes[8..].copy_from_slice(&seq.to_le_bytes());
        let hash = Hash::tagged(b"scenario", &bytes);
        self.txs.push(PendingTx {
            at_ms,
            seq,
            hash,
            kind,
            from,
            legs,
            money,
            failure: failure.map(str::to_string),
            behaviour,
        });
        Some(hash)
    }

    /// A transfer of `amount` fen; `None` if it falls outside the
    /// scenario or moves nothing.
    fn pay(
        &mut self,
        at_ms: u64,
        from: Address,
        to: Address,
        amount: u128,
        behaviour: Behaviour,
    ) -> Option<Hash> {
        if amount == 0 || from == to {
            return None;
        }
        self.push(
            at_ms,
            EdgeKind::Transfer,
            from,
            vec![(to, amount)],
            true,
            None,
            behaviour,
        )
    }

    /// Pays `total` fen in parts no larger than the sender's limit (what a
    /// customer does with a sum its tier cannot send at once), a few
    /// minutes apart.
    fn pay_in_parts(
        &mut self,
        at_ms: u64,
        from: Address,
        to: Address,
        total: u128,
        behaviour: Behaviour,
    ) -> Vec<Hash> {
        let max = self.single_max(&from).max(1);
        let parts = total.div_ceil(max).max(1);
        let mut out = Vec::new();
        let mut at = at_ms;
        let mut left = total;
        for i in 0..parts {
            let part = if i + 1 == parts { left } else { total / parts };
            left -= part;
            out.extend(self.pay(at, from, to, part, behaviour));
            at += self.dice.ms(MINUTE_MS, 10 * MINUTE_MS);
        }
        out
    }

    // --- the world --------------------------------------------------

    fn build_world(&mut self, config: &ScenarioConfig) {
        let n_inst = config.institutions.max(1);
        for _ in 0..n_inst {
            let a = self.new_address();
            self.accounts.insert(
                a,
                AccountInfo {
                    role: Role::Institution,
                    institution: a,
                    tier: None,
                    owner: None,
                },
            );
            self.institutions.push(a);
        }
        // Institutions differ in size: the first is the largest.
        self.institution_weights =
            cumulative((0..n_inst).map(|i| 1.0 / (i as f64 + 1.0).powf(0.6)));
        self.regulator = self.new_address();
        self.accounts.insert(
            self.regulator,
            AccountInfo {
                role: Role::Regulator,
                institution: self.regulator,
                tier: None,
                owner: None,
            },
        );
        self.world.persons_by_inst = vec![Vec::new(); n_inst];
        self.build_merchants(config.merchants);
        self.build_persons(config.customers);
        self.build_employers(config.customers);
        self.build_landlords(config.customers);
        self.build_sellers(config.customers);
    }

    fn build_merchants(&mut self, count: usize) {
        for _ in 0..count {
            let inst = self.random_institution();
            let addr = self.open(Role::Merchant, inst, TierClass::Business, None);
            let ticket = self.dice.log_uniform(15.0, 400.0);
            self.world.merchants.push(Merchant {
                addr,
                ticket,
                suppliers: Vec::new(),
            });
        }
        // Popularity is Zipf-like: a few chains take much of the trade.
        self.world.merchant_weights = cumulative((0..count).map(|r| 1.0 / (r as f64 + 1.0)));
        let suppliers = if count == 0 { 0 } else { (count / 4).max(2) };
        for _ in 0..suppliers {
            let inst = self.random_institution();
            let addr = self.open(Role::Supplier, inst, TierClass::Business, None);
            self.world.suppliers.push(addr);
        }
        for m in 0..count {
            let n = self.dice.range(1, 3);
            let picks: Vec<usize> = (0..n).map(|_| self.dice.below(suppliers)).collect();
            self.world.merchants[m].suppliers = picks;
        }
    }

    fn build_persons(&mut self, count: usize) {
        let n_inst = self.institutions.len();
        for p in 0..count {
            let inst = self.random_institution();
            let r = self.dice.unit();
            let tier = if r < 0.85 {
                TierClass::Standard
            } else if r < 0.95 {
                TierClass::Premium
            } else {
                TierClass::Private
            };
            let addr = self.open(Role::Person, inst, tier, None);
            let savings = if n_inst >= 2 && self.dice.chance(0.08) {
                let other = (inst + 1 + self.dice.below(n_inst - 1)) % n_inst;
                let owner = self.owner_of(&addr);
                Some(self.open(Role::Savings, other, TierClass::Standard, owner))
            } else {
                None
            };
            let wealth = if tier == TierClass::Standard {
                1.0
            } else {
                2.5
            };
            let person = Person {
                addr,
                inst,
                contacts: Vec::new(),
                favourites: Vec::new(),
                rate: self.dice.lognormal(1.3, 0.5).clamp(0.2, 5.0),
                active: self.dice.uniform(0.35, 0.9),
                scale: self.dice.lognormal(1.0, 0.4) * wealth,
                savings,
            };
            self.world.persons.push(person);
            self.world.persons_by_inst[inst].push(p);
        }
        // Circles of friends and family, across institutions.
        let mut order: Vec<usize> = (0..count).collect();
        order.shuffle(&mut self.dice.rng);
        let mut rest = order.as_slice();
        while !rest.is_empty() {
            let size = self.dice.range(4, 10).min(rest.len());
            let (circle, tail) = rest.split_at(size);
            self.world.circles.push(circle.to_vec());
            rest = tail;
        }
        for c in 0..self.world.circles.len() {
            let circle = self.world.circles[c].clone();
            for &p in &circle {
                let mut contacts: Vec<usize> = circle.iter().copied().filter(|q| *q != p).collect();
                for _ in 0..self.dice.range(0, 3) {
                    let q = self.dice.below(count);
                    if q != p && !contacts.contains(&q) {
                        contacts.push(q);
                    }
                }
                let mut favourites = Vec::new();
                if !self.world.merchants.is_empty() {
                    for _ in 0..self.dice.range(2, 8) {
                        let m = self.dice.weighted(&self.world.merchant_weights);
                        if !favourites.contains(&m) {
                            favourites.push(m);
                        }
                    }
                }
                self.world.persons[p].contacts = contacts;
                self.world.persons[p].favourites = favourites;
            }
        }
    }

    fn build_employers(&mut self, customers: usize) {
        if customers == 0 {
            return;
        }
        for _ in 0..(customers / 1_500).max(1) {
            let inst = self.random_institution();
            let addr = self.open(Role::Employer, inst, TierClass::Business, None);
            let base = self.dice.log_uniform(5_000.0, 15_000.0);
            let mut staff: Vec<(usize, f64)> = Vec::new();
            for _ in 0..self.dice.range(20, 80).min(customers) {
                let p = self.dice.below(customers);
                if staff.iter().all(|(q, _)| *q != p) {
                    let salary = self.dice.lognormal(base, 0.4).clamp(2_500.0, 60_000.0);
                    staff.push((p, salary));
                }
            }
            // Paid once, on one of the evaluated days.
            let payday =
                self.total_days - self.eval_days + self.dice.below(self.eval_days as usize) as u32;
            self.world.employers.push(Employer {
                addr,
                staff,
                payday,
            });
        }
    }

    fn build_landlords(&mut self, customers: usize) {
        if customers < 2 {
            return;
        }
        for _ in 0..customers / 100 {
            let person = self.dice.below(customers);
            let base = self.dice.lognormal(3_500.0, 0.5).clamp(800.0, 30_000.0);
            let mut tenants = Vec::new();
            for _ in 0..self.dice.range(1, 6) {
                let t = self.dice.below(customers);
                if t != person {
                    let rent = round_down(base * self.dice.uniform(0.85, 1.15), 50.0);
                    tenants.push((t, rent, self.dice.chance(0.2)));
                }
            }
            let due = self.dice.below(30) as u32;
            self.world.landlords.push(Landlord {
                person,
                tenants,
                due,
            });
        }
    }

    fn build_sellers(&mut self, customers: usize) {
        if customers < 2 {
            return;
        }
        for _ in 0..customers / 200 {
            let person = self.dice.below(customers);
            let buyers = self.dice.log_uniform(3.0, 30.0);
            let ticket = self.dice.log_uniform(20.0, 300.0);
            self.world.sellers.push(Seller {
                person,
                buyers,
                ticket,
                owed: 0,
            });
        }
    }

    fn random_merchant(&mut self) -> Option<usize> {
        (!self.world.merchants.is_empty()).then(|| self.dice.weighted(&self.world.merchant_weights))
    }

    fn random_person(&mut self) -> Option<usize> {
        let n = self.world.persons.len();
        (n > 0).then(|| self.dice.below(n))
    }

    /// What a payment to merchant `m` costs someone of spending `scale`.
    fn ticket(&mut self, m: usize, scale: f64, max: u128) -> u128 {
        let yuan = self.world.merchants[m].ticket * self.dice.lognormal(1.0, 0.7) * scale;
        fen(yuan.clamp(1.0, 20_000.0)).min(max)
    }

    /// What a person pays a friend: mostly small, often round.
    fn peer_amount(&mut self, scale: f64, max: u128) -> u128 {
        let mut yuan = self.dice.lognormal(200.0, 1.3) * scale;
        let r = self.dice.unit();
        if r < 0.2 && yuan >= 500.0 {
            yuan = round_down(yuan, 100.0);
        } else if r < 0.6 && yuan >= 50.0 {
            yuan = round_down(yuan, 10.0);
        }
        fen(yuan.clamp(1.0, 50_000.0)).min(max)
    }

    // --- the baseline, day by day -----------------------------------

    fn day_of_persons(&mut self, day: u32) {
        let busier = if Self::is_weekend(day) { 1.2 } else { 1.0 };
        for p in 0..self.world.persons.len() {
            let (active, rate) = (self.world.persons[p].active, self.world.persons[p].rate);
            if self.dice.chance(active) {
                let n = self.dice.poisson(rate * busier).min(6);
                for _ in 0..n {
                    let at = self.person_time(day);
                    if self.world.persons[p].contacts.is_empty() || self.dice.chance(0.65) {
                        self.shop(p, at);
                    } else {
                        self.pay_contact(p, at);
                    }
                }
            }
            if self.dice.chance(0.002) {
                self.big_purchase(p, day);
            }
            if self.world.persons[p].savings.is_some() && self.dice.chance(0.03) {
                self.own_transfer(p, day);
            }
            if self.dice.chance(0.015) {
                let person = &self.world.persons[p];
                let (from, inst, scale) = (person.addr, person.inst, person.scale);
                let at = self.person_time(day);
                let amount = fen(self.dice.lognormal(1_500.0, 0.9) * scale);
                let to = self.institutions[inst];
                let max = self.single_max(&from);
                self.pay(at, from, to, amount.min(max), Behaviour::Repayment);
            }
        }
    }

    /// Person `p` pays a merchant, usually a favourite; once in a while
    /// it fails, and once in a while the merchant refunds it.
    fn shop(&mut self, p: usize, at: u64) {
        let person = &self.world.persons[p];
        let (from, scale) = (person.addr, person.scale);
        let m = if !person.favourites.is_empty() && self.dice.chance(0.8) {
            let f = &self.world.persons[p].favourites;
            Some(f[self.dice.below(f.len())])
        } else {
            self.random_merchant()
        };
        let Some(m) = m else {
            return;
        };
        let max = self.single_max(&from);
        let amount = self.ticket(m, scale, max);
        let to = self.world.merchants[m].addr;
        if self.dice.chance(0.003) {
            self.push(
                at,
                EdgeKind::Transfer,
                from,
                vec![(to, amount)],
                true,
                Some("insufficient_balance"),
                Behaviour::Failed,
            );
            return;
        }
        if self.pay(at, from, to, amount, Behaviour::Retail).is_some() && self.dice.chance(0.005) {
            let later = at + self.dice.span(30 * MINUTE_MS, 48 * HOUR_MS);
            self.pay(later, to, from, amount, Behaviour::Refund);
        }
    }

    fn pay_contact(&mut self, p: usize, at: u64) {
        let person = &self.world.persons[p];
        let (from, scale) = (person.addr, person.scale);
        let q = person.contacts[self.dice.below(person.contacts.len())];
        let to = self.world.persons[q].addr;
        let max = self.single_max(&from);
        let amount = self.peer_amount(scale, max);
        self.pay(at, from, to, amount, Behaviour::Peer);
    }

    fn big_purchase(&mut self, p: usize, day: u32) {
        let Some(m) = self.random_merchant() else {
            return;
        };
        let (from, scale) = (self.world.persons[p].addr, self.world.persons[p].scale);
        let at = self.person_time(day);
        let max = self.single_max(&from);
        let amount = fen(self.dice.lognormal(8_000.0, 0.8) * scale).min(max);
        let to = self.world.merchants[m].addr;
        self.pay(at, from, to, amount, Behaviour::BigPurchase);
    }

    fn own_transfer(&mut self, p: usize, day: u32) {
        let person = &self.world.persons[p];
        let (main, scale) = (person.addr, person.scale);
        let Some(savings) = person.savings else {
            return;
        };
        let (from, to) = if self.dice.chance(0.5) {
            (main, savings)
        } else {
            (savings, main)
        };
        let at = self.person_time(day);
        let max = self.single_max(&from);
        let amount = fen(round_down(self.dice.lognormal(2_000.0, 1.0) * scale, 100.0)).min(max);
        self.pay(at, from, to, amount, Behaviour::OwnTransfer);
    }

    /// Circles split bills and, rarely, collect money for something
    /// shared.
    fn day_of_circles(&mut self, day: u32) {
        let split_chance = if Self::is_weekend(day) { 0.09 } else { 0.06 };
        for c in 0..self.world.circles.len() {
            if self.world.circles[c].len() < 3 {
                continue;
            }
            if self.dice.chance(split_chance) {
                self.bill_split(c, day);
            }
            if self.dice.chance(0.01) {
                self.collection(c, day);
            }
        }
    }

    fn bill_split(&mut self, c: usize, day: u32) {
        let Some(m) = self.random_merchant() else {
            return;
        };
        let mut circle = self.world.circles[c].clone();
        circle.shuffle(&mut self.dice.rng);
        let k = self.dice.range(2, 6).min(circle.len() - 1);
        let payer = self.world.persons[circle[0]].addr;
        let per_head = self.dice.lognormal(150.0, 0.5);
        let bill = fen(per_head * (k as f64 + 1.0));
        let at = self.day_start(day) + self.dice.ms(18 * HOUR_MS, 22 * HOUR_MS);
        let restaurant = self.world.merchants[m].addr;
        if self
            .pay(at, payer, restaurant, bill, Behaviour::BillSplit)
            .is_none()
        {
            return;
        }
        let share = bill / (k as u128 + 1);
        for &q in &circle[1..=k] {
            let later = at + self.dice.span(2 * MINUTE_MS, 8 * HOUR_MS);
            let from = self.world.persons[q].addr;
            self.pay(later, from, payer, share, Behaviour::BillSplit);
        }
    }

    fn collection(&mut self, c: usize, day: u32) {
        let Some(m) = self.random_merchant() else {
            return;
        };
        let mut circle = self.world.circles[c].clone();
        circle.shuffle(&mut self.dice.rng);
        let k = self.dice.range(3, 9).min(circle.len() - 1);
        let organiser = self.world.persons[circle[0]].addr;
        let share = fen(round_down(
            self.dice.lognormal(600.0, 1.0).clamp(20.0, 45_000.0),
            10.0,
        ));
        let start = self.person_time(day);
        let mut total = 0u128;
        for &q in &circle[1..=k] {
            let at = start + self.dice.ms(0, 12 * HOUR_MS);
            let from = self.world.persons[q].addr;
            let amount = share.min(self.single_max(&from));
            if self
                .pay(at, from, organiser, amount, Behaviour::Collection)
                .is_some()
            {
                total += amount;
            }
        }
        let at = start + 12 * HOUR_MS + self.dice.ms(0, 12 * HOUR_MS);
        let to = self.world.merchants[m].addr;
        // The organiser adds its own share.
        let paid = total + share;
        self.pay_in_parts(at, organiser, to, paid, Behaviour::Collection);
    }

    fn day_of_rent(&mut self, day: u32) {
        for l in 0..self.world.landlords.len() {
            let landlord = &self.world.landlords[l];
            // Rent falls due once a month, on the landlord's day.
            if landlord.due != day % 30 && landlord.due + 1 != day % 30 {
                continue;
            }
            let on_due = landlord.due == day % 30;
            let to = self.world.persons[landlord.person].addr;
            let tenants = landlord.tenants.clone();
            for (t, rent, late) in tenants {
                // Most pay on the day, a few the day after.
                if late == on_due {
                    continue;
                }
                let from = self.world.persons[t].addr;
                let at = self.person_time(day);
                let amount = fen(rent).min(self.single_max(&from));
                self.pay(at, from, to, amount, Behaviour::Rent);
            }
        }
    }

    /// Sellers are paid by strangers through the day and restock from a
    /// wholesaler every few days.
    fn day_of_sellers(&mut self, day: u32) {
        let busier = if Self::is_weekend(day) { 1.3 } else { 1.0 };
        for s in 0..self.world.sellers.len() {
            let seller = &self.world.sellers[s];
            let (to, buyers, ticket) = (
                self.world.persons[seller.person].addr,
                seller.buyers,
                seller.ticket,
            );
            let mut took = 0u128;
            for _ in 0..self.dice.poisson(buyers * busier) {
                let Some(q) = self.random_person() else {
                    break;
                };
                let from = self.world.persons[q].addr;
                let at = self.person_time(day);
                let amount = fen(round_down(self.dice.lognormal(ticket, 0.6), 1.0));
                if self
                    .pay(at, from, to, amount, Behaviour::SideBusiness)
                    .is_some()
                {
                    took += amount;
                }
            }
            let owed = self.world.sellers[s].owed + took;
            self.world.sellers[s].owed = owed;
            if self.world.suppliers.is_empty() || !self.dice.chance(0.3) {
                continue;
            }
            let supplier = self.world.suppliers[self.dice.below(self.world.suppliers.len())];
            let at = self.person_time(day);
            let stock = (owed as f64 * self.dice.uniform(0.4, 0.8)) as u128;
            let stock = stock.min(self.single_max(&to));
            self.pay(at, to, supplier, stock, Behaviour::SideBusiness);
            self.world.sellers[s].owed = 0;
        }
    }

    fn day_of_institutions(&mut self, day: u32) {
        let weekend = Self::is_weekend(day);
        for i in 0..self.institutions.len() {
            let inst = self.institutions[i];
            let customers = self.world.persons_by_inst[i].len();
            let n = self.dice.poisson(customers as f64 * 0.003);
            for _ in 0..n {
                let p = self.world.persons_by_inst[i][self.dice.below(customers)];
                let to = self.world.persons[p].addr;
                let at = self.office_time(day);
                let amount = fen(self.dice.lognormal(2_000.0, 1.2).clamp(50.0, 300_000.0));
                self.pay(at, inst, to, amount, Behaviour::Disbursement);
            }
            if !weekend && self.institutions.len() > 1 && self.dice.chance(0.5) {
                let j = (i + 1 + self.dice.below(self.institutions.len() - 1))
                    % self.institutions.len();
                let to = self.institutions[j];
                let at = self.office_time(day);
                let amount = fen(round_down(
                    self.dice
                        .lognormal(500_000.0, 1.0)
                        .clamp(10_000.0, 20_000_000.0),
                    10_000.0,
                ));
                self.pay(at, inst, to, amount, Behaviour::Liquidity);
            }
        }
    }

    /// Wholesalers pay employers' invoices and repay their loans.
    fn day_of_businesses(&mut self, day: u32) {
        if Self::is_weekend(day) || self.world.employers.is_empty() {
            return;
        }
        for s in 0..self.world.suppliers.len() {
            let from = self.world.suppliers[s];
            for _ in 0..self.dice.poisson(1.0) {
                let e = self.dice.below(self.world.employers.len());
                let to = self.world.employers[e].addr;
                let at = self.office_time(day);
                let amount = fen(self
                    .dice
                    .lognormal(30_000.0, 0.9)
                    .clamp(1_000.0, 2_000_000.0));
                self.pay(at, from, to, amount, Behaviour::Invoice);
            }
            if self.dice.chance(0.3) {
                let inst = self.institutions[self.inst_index(&from)];
                let at = self.office_time(day);
                let amount = fen(self.dice.lognormal(50_000.0, 1.0));
                self.pay(at, from, inst, amount, Behaviour::Repayment);
            }
        }
    }

    /// An institution freezes a customer's account for a few hours (a
    /// lost phone): rare, and the customer may try to pay meanwhile.
    fn day_of_routine_freezes(&mut self, day: u32) {
        for p in 0..self.world.persons.len() {
            if !self.dice.chance(0.000_05) {
                continue;
            }
            let person = &self.world.persons[p];
            let (account, inst) = (person.addr, self.institutions[person.inst]);
            let at = self.person_time(day);
            let until = at + self.dice.span(30 * MINUTE_MS, 24 * HOUR_MS);
            let frozen = self.push(
                at,
                EdgeKind::Freeze,
                inst,
                vec![(account, 0)],
                false,
                None,
                Behaviour::RoutineFreeze,
            );
            if frozen.is_some() {
                self.push(
                    until,
                    EdgeKind::Unfreeze,
                    inst,
                    vec![(account, 0)],
                    false,
                    None,
                    Behaviour::RoutineFreeze,
                );
                self.freezes.push((account, at, until));
            }
        }
    }

    /// Each employer pays its staff once, in one batch, on a working
    /// morning; the staff then pay rent, sweep part to savings, repay
    /// cards and shop.
    fn payrolls(&mut self) {
        for e in 0..self.world.employers.len() {
            let employer = &self.world.employers[e];
            let (from, day) = (employer.addr, employer.payday);
            let staff = employer.staff.clone();
            let at = self.day_start(day) + self.dice.ms(9 * HOUR_MS, 11 * HOUR_MS);
            let legs: Vec<(Address, u128)> = staff
                .iter()
                .map(|(p, salary)| (self.world.persons[*p].addr, fen(*salary)))
                .collect();
            if self
                .push(
                    at,
                    EdgeKind::Payout,
                    from,
                    legs,
                    true,
                    None,
                    Behaviour::Payroll,
                )
                .is_none()
            {
                continue;
            }
            for (p, salary) in staff {
                self.spend_salary(p, salary, at);
            }
        }
    }

    fn spend_salary(&mut self, p: usize, salary: f64, paid_at: u64) {
        let person = &self.world.persons[p];
        let (addr, inst, savings, contacts) = (
            person.addr,
            person.inst,
            person.savings,
            person.contacts.clone(),
        );
        let max = self.single_max(&addr);
        if self.dice.chance(0.35) {
            let landlord = if contacts.is_empty() || self.dice.chance(0.7) {
                self.random_person()
            } else {
                Some(contacts[self.dice.below(contacts.len())])
            };
            if let Some(l) = landlord {
                let to = self.world.persons[l].addr;
                let at = paid_at + self.dice.span(10 * MINUTE_MS, 36 * HOUR_MS);
                let rent = fen(round_down(salary * self.dice.uniform(0.2, 0.45), 50.0));
                self.pay(at, addr, to, rent.min(max), Behaviour::Rent);
            }
        }
        if let Some(savings) = savings {
            if self.dice.chance(0.6) {
                let at = paid_at + self.dice.span(5 * MINUTE_MS, 12 * HOUR_MS);
                let sweep = fen(round_down(salary * self.dice.uniform(0.3, 0.9), 100.0));
                self.pay(at, addr, savings, sweep.min(max), Behaviour::SalarySweep);
            }
        }
        if self.dice.chance(0.4) {
            let at = paid_at + self.dice.span(HOUR_MS, 48 * HOUR_MS);
            let card = fen(salary * self.dice.uniform(0.1, 0.4));
            let to = self.institutions[inst];
            self.pay(at, addr, to, card.min(max), Behaviour::Repayment);
        }
        for _ in 0..self.dice.range(1, 3) {
            let at = paid_at + self.dice.span(30 * MINUTE_MS, 48 * HOUR_MS);
            self.shop(p, at);
        }
    }

    /// Merchants pay their suppliers, in the evening of most working
    /// days, a share of what they took since they last paid.
    fn supplier_payments(&mut self) {
        if self.world.suppliers.is_empty() {
            return;
        }
        let index: BTreeMap<Address, usize> = self
            .world
            .merchants
            .iter()
            .enumerate()
            .map(|(i, m)| (m.addr, i))
            .collect();
        let days = self.total_days as usize;
        let mut takings = vec![vec![0u128; days]; self.world.merchants.len()];
        for tx in &self.txs {
            if tx.failure.is_some() || !tx.money || tx.behaviour == Behaviour::Refund {
                continue;
            }
            for (to, amount) in &tx.legs {
                if let Some(&m) = index.get(to) {
                    let day = ((tx.at_ms - self.start_ms) / DAY_MS) as usize;
                    takings[m][day.min(days - 1)] += amount;
                }
            }
        }
        for (m, takings) in takings.iter().enumerate() {
            let mut owed = 0u128;
            for (day, took) in takings.iter().enumerate() {
                owed += took;
                let pays = if Self::is_weekend(day as u32) {
                    0.3
                } else {
                    0.8
                };
                if owed < 50_000 || !self.dice.chance(pays) {
                    continue;
                }
                let share = self.dice.uniform(0.3, 0.9);
                let total = (owed as f64 * share) as u128;
                owed = 0;
                let merchant = &self.world.merchants[m];
                let (from, suppliers) = (merchant.addr, merchant.suppliers.clone());
                let n = suppliers.len().max(1);
                for (k, s) in suppliers.iter().enumerate() {
                    let to = self.world.suppliers[*s];
                    let at = self.day_start(day as u32) + self.dice.ms(16 * HOUR_MS, 22 * HOUR_MS);
                    let part = if k + 1 == n {
                        total - total / n as u128 * (n as u128 - 1)
                    } else {
                        total / n as u128
                    };
                    self.pay(at, from, to, part, Behaviour::SupplierPayment);
                }
            }
        }
    }

    /// Payments from or to an account while its institution had frozen it
    /// fail, as the ledger would fail them.
    fn apply_routine_freezes(&mut self) {
        if self.freezes.is_empty() {
            return;
        }
        let mut windows: BTreeMap<Address, Vec<(u64, u64)>> = BTreeMap::new();
        for (a, from, until) in &self.freezes {
            windows.entry(*a).or_default().push((*from, *until));
        }
        let frozen = |a: &Address, t: u64| {
            windows
                .get(a)
                .is_some_and(|w| w.iter().any(|(f, u)| *f < t && t < *u))
        };
        for tx in &mut self.txs {
            if tx.kind != EdgeKind::Transfer
                || tx.failure.is_some()
                || tx.behaviour == Behaviour::Planted
            {
                continue;
            }
            let code = if frozen(&tx.from, tx.at_ms) {
                "sender_frozen"
            } else if tx.legs.iter().any(|(to, _)| frozen(to, tx.at_ms)) {
                "recipient_frozen"
            } else {
                continue;
            };
            tx.failure = Some(code.to_string());
            tx.behaviour = Behaviour::WhileFrozen;
        }
    }

    // --- plants -----------------------------------------------------

    /// A fresh plant account, with a little ordinary history before
    /// `history_until`.
    fn plant_account(
        &mut self,
        inst: usize,
        tier: TierClass,
        owner: Option<Hash>,
        history_until: u64,
    ) -> Address {
        let addr = self.open(Role::Plant, inst, tier, owner);
        self.plant_history(addr, history_until);
        addr
    }

    /// A few ordinary payments made and received, on about half of the
    /// days before `until`.
    fn plant_history(&mut self, addr: Address, until: u64) {
        let max = self.single_max(&addr);
        for day in 0..self.total_days {
            if self.day_start(day) >= until {
                break;
            }
            if self.dice.chance(0.5) {
                for _ in 0..self.dice.range(1, 2) {
                    let at = self.person_time(day);
                    if at >= until {
                        continue;
                    }
                    if self.dice.chance(0.7) {
                        if let Some(m) = self.random_merchant() {
                            let amount = self.ticket(m, 1.0, max);
                            let to = self.world.merchants[m].addr;
                            self.pay(at, addr, to, amount, Behaviour::PlantHistory);
                        }
                    } else if let Some(q) = self.random_person() {
                        let amount = self.peer_amount(1.0, max);
                        let to = self.world.persons[q].addr;
                        self.pay(at, addr, to, amount, Behaviour::PlantHistory);
                    }
                }
            }
            if self.dice.chance(0.25) {
                let at = self.person_time(day);
                if let (true, Some(q)) = (at < until, self.random_person()) {
                    let from = self.world.persons[q].addr;
                    let amount = self.peer_amount(1.0, self.single_max(&from));
                    self.pay(at, from, addr, amount, Behaviour::PlantHistory);
                }
            }
        }
    }

    /// A counterparty a plant pays: a fresh mule (listed among the
    /// plant's accounts) or, with chance `baseline`, an ordinary person
    /// (not listed).
    fn counterparty(&mut self, baseline: f64, accounts: &mut Vec<Address>) -> Address {
        if self.dice.chance(baseline) {
            if let Some(p) = self.random_person() {
                return self.world.persons[p].addr;
            }
        }
        let inst = self.random_institution();
        let end = self.end_ms;
        let mule = self.plant_account(inst, TierClass::Standard, None, end);
        accounts.push(mule);
        mule
    }

    fn plant(&mut self, pattern: Pattern) -> Plant {
        let (accounts, txs, detail) = match pattern {
            Pattern::Cycle => self.plant_cycle(false),
            Pattern::OwnerRoundTrip => self.plant_cycle(true),
            Pattern::Smurfing => self.plant_smurfing(),
            Pattern::SlowFanOut => self.plant_slow_fan_out(),
            Pattern::SlowVelocity => self.plant_slow_velocity(),
            Pattern::AggregatedPassThrough => self.plant_aggregated_pass_through(),
            Pattern::Structuring => self.plant_structuring(),
            Pattern::FrozenAttempt => self.plant_frozen_attempt(),
            Pattern::UnfreezeAttempt => self.plant_unfreeze_attempt(),
        };
        Plant {
            pattern,
            accounts,
            txs,
            expect: pattern.expect().to_vec(),
            detail,
        }
    }

    /// A → B → … → A (or → A', A's owner's other account), 3–5 hops
    /// across institutions within 5 minutes to 12 hours, each hop keeping
    /// 90–100% of the amount, 5,000–300,000 CNY.
    fn plant_cycle(&mut self, round_trip: bool) -> (Vec<Address>, Vec<Hash>, String) {
        let hops = self.dice.range(3, 5);
        let first = fen(round_down(self.dice.log_uniform(5_000.0, 300_000.0), 10.0));
        let tier = if first <= TierClass::Standard.single_max() {
            TierClass::Standard
        } else {
            TierClass::Premium
        };
        // The ring's accounts: the root, the intermediaries, and for a
        // round trip the owner's other account at another institution.
        let members = if round_trip { hops + 1 } else { hops };
        let insts = self.spread_institutions(members, true);
        let end = self.end_ms;
        let root = self.plant_account(insts[0], tier, None, end);
        let mut ring = vec![root];
        for (i, inst) in insts.iter().enumerate().skip(1) {
            let owner = (round_trip && i + 1 == members)
                .then(|| self.owner_of(&root))
                .flatten();
            let a = self.plant_account(*inst, tier, owner, end);
            ring.push(a);
        }
        let span = self.dice.span(5 * MINUTE_MS, 12 * HOUR_MS);
        let start = self.plant_start(span);
        let times = self.times(start, span, hops, true, true);
        let mut txs = Vec::new();
        let mut amount = first;
        for (h, at) in times.iter().enumerate() {
            let from = ring[h];
            let to = if round_trip {
                ring[h + 1]
            } else {
                ring[(h + 1) % hops]
            };
            txs.extend(self.pay(*at, from, to, amount, Behaviour::Planted));
            let kept = self.dice.uniform(0.90, 1.0);
            amount = fen(round_down(amount as f64 * kept / 100.0, 1.0));
        }
        let detail = format!(
            "{} hops within {} from {}{}",
            hops,
            duration(span),
            cny(first),
            if round_trip {
                " back to the owner's other account"
            } else {
                ""
            }
        );
        (ring, txs, detail)
    }

    /// 6–15 senders at 2–3 institutions each pay 90–99.9% of their
    /// step-up to one collector within 1–8 hours; the collector forwards
    /// 85–100% of the sum within hours.
    fn plant_smurfing(&mut self) -> (Vec<Address>, Vec<Hash>, String) {
        let n = self.dice.range(6, 15);
        let k = self.dice.range(2, 3).min(self.institutions.len());
        let smurf_insts = self.spread_institutions(k, false);
        let end = self.end_ms;
        let collector_inst = self.random_institution();
        let collector = self.plant_account(collector_inst, TierClass::Premium, None, end);
        let window = self.dice.span(HOUR_MS, 8 * HOUR_MS);
        let delay = self.dice.span(5 * MINUTE_MS, 4 * HOUR_MS);
        let start = self.plant_start(window + delay + HOUR_MS);
        let times = self.times(start, window, n, true, true);
        let mut accounts = vec![collector];
        let mut txs = Vec::new();
        let mut total = 0u128;
        for at in &times {
            let inst = smurf_insts[self.dice.below(smurf_insts.len())];
            let tier = if self.dice.chance(0.75) {
                TierClass::Standard
            } else {
                TierClass::Premium
            };
            let smurf = self.plant_account(inst, tier, None, end);
            accounts.push(smurf);
            let share = self.dice.uniform(0.90, 0.999);
            let amount = fen(round_down(
                tier.structuring_limit() as f64 * share / 100.0,
                if self.dice.chance(0.5) { 10.0 } else { 1.0 },
            ));
            total += amount;
            txs.extend(self.pay(*at, smurf, collector, amount, Behaviour::Planted));
        }
        let forward = (total as f64 * self.dice.uniform(0.85, 1.0)) as u128;
        let exits = self.dice.range(1, 3);
        let mut at = start + window + delay;
        for e in 0..exits {
            let exit_inst = self.random_institution();
            let exit = self.plant_account(exit_inst, TierClass::Premium, None, end);
            accounts.push(exit);
            let part = if e + 1 == exits {
                forward - forward / exits as u128 * (exits as u128 - 1)
            } else {
                forward / exits as u128
            };
            txs.extend(self.pay_in_parts(at, collector, exit, part, Behaviour::Planted));
            at += self.dice.span(MINUTE_MS, 30 * MINUTE_MS);
        }
        let detail = format!(
            "{} senders at {} institutions, {} in total within {}, {} forwarded {} later",
            n,
            k,
            cny(total),
            duration(window),
            cny(forward),
            duration(delay)
        );
        (accounts, txs, detail)
    }

    /// An account receives 20,000–400,000 CNY and pays 85–100% of it to
    /// 9–15 recipients over 10 minutes to 6 hours.
    fn plant_slow_fan_out(&mut self) -> (Vec<Address>, Vec<Hash>, String) {
        let end = self.end_ms;
        let source_inst = self.random_institution();
        let source = self.plant_account(source_inst, TierClass::Premium, None, end);
        let hub_inst = self.random_institution();
        let hub = self.plant_account(hub_inst, TierClass::Premium, None, end);
        let received = fen(round_down(
            self.dice.log_uniform(20_000.0, 400_000.0),
            100.0,
        ));
        let recipients = self.dice.range(9, 15);
        let delay = self.dice.span(5 * MINUTE_MS, 3 * HOUR_MS);
        let spread = self.dice.span(10 * MINUTE_MS, 6 * HOUR_MS);
        let start = self.plant_start(delay + spread);
        let mut accounts = vec![hub, source];
        let mut txs: Vec<Hash> = self
            .pay(start, source, hub, received, Behaviour::Planted)
            .into_iter()
            .collect();
        let paid = (received as f64 * self.dice.uniform(0.85, 1.0)) as u128;
        let weights: Vec<f64> = (0..recipients)
            .map(|_| self.dice.uniform(0.5, 1.5))
            .collect();
        let sum: f64 = weights.iter().sum();
        let times = self.times(start + delay, spread, recipients, true, true);
        for (w, at) in weights.iter().zip(times) {
            let to = self.counterparty(0.4, &mut accounts);
            let amount = fen(round_down(paid as f64 * w / sum / 100.0, 1.0));
            txs.extend(self.pay(at, hub, to, amount, Behaviour::Planted));
        }
        let detail = format!(
            "{} received, {} paid to {} recipients over {} starting {} later",
            cny(received),
            cny(paid),
            recipients,
            duration(spread),
            duration(delay)
        );
        (accounts, txs, detail)
    }

    /// 25–29 transfers per 10 minutes (never 30 in any 10 minutes) for
    /// 1–3 hours, of 100–2,000 CNY typically, to a pool of recipients.
    fn plant_slow_velocity(&mut self) -> (Vec<Address>, Vec<Hash>, String) {
        let end = self.end_ms;
        let inst = self.random_institution();
        let sender = self.plant_account(inst, TierClass::Premium, None, end);
        let mut accounts = vec![sender];
        let pool_size = self.dice.range(5, 40);
        let pool: Vec<Address> = (0..pool_size)
            .map(|_| self.counterparty(0.5, &mut accounts))
            .collect();
        // A gap of at least `step` seconds leaves at most ceil(600 / step)
        // transfers in any 10 minutes: 29 for 21 s, 25 for 24 s.
        let step = self.dice.range(21, 24) as u64 * SECOND_MS;
        let hours = self.dice.span(HOUR_MS, 3 * HOUR_MS);
        let typical = self.dice.log_uniform(100.0, 2_000.0);
        let start = self.plant_start(hours + HOUR_MS);
        let mut txs = Vec::new();
        let mut at = start;
        let mut total = 0u128;
        while at <= start + hours {
            let to = pool[self.dice.below(pool.len())];
            let amount = fen(self.dice.lognormal(typical, 0.5).clamp(10.0, 9_000.0));
            total += amount;
            txs.extend(self.pay(at, sender, to, amount, Behaviour::Planted));
            at += step;
            if self.dice.chance(0.2) {
                at += self.dice.range(1, 15) as u64 * SECOND_MS;
            }
        }
        let detail = format!(
            "{} transfers ({} per 10 min at most) over {} to {} recipients, {} in total",
            txs.len(),
            (600 * SECOND_MS).div_ceil(step),
            duration(hours),
            pool_size,
            cny(total)
        );
        (accounts, txs, detail)
    }

    /// 2–4 inflows (more when needed to keep each under 10,000 CNY)
    /// summing to 15,000–80,000 CNY, 85–100% forwarded within 1–12 hours
    /// of the first.
    fn plant_aggregated_pass_through(&mut self) -> (Vec<Address>, Vec<Hash>, String) {
        let end = self.end_ms;
        let inst = self.random_institution();
        let hub = self.plant_account(inst, TierClass::Premium, None, end);
        let mut accounts = vec![hub];
        let sum = self.dice.log_uniform(15_000.0, 80_000.0);
        let mut n = self.dice.range(2, 4).max((sum / 9_500.0).ceil() as usize);
        let shares = loop {
            let w: Vec<f64> = (0..n).map(|_| self.dice.uniform(0.7, 1.3)).collect();
            let total: f64 = w.iter().sum();
            let shares: Vec<f64> = w.iter().map(|x| sum * x / total).collect();
            if shares.iter().all(|s| *s < 9_999.0) {
                break shares;
            }
            n += 1;
        };
        let window = self.dice.span(HOUR_MS, 12 * HOUR_MS);
        let start = self.plant_start(window);
        let inflow_times = self.times(start, window * 6 / 10, n, true, false);
        let mut txs = Vec::new();
        let mut received = 0u128;
        for (share, at) in shares.iter().zip(&inflow_times) {
            let from = self.counterparty(0.5, &mut accounts);
            let amount = fen(round_down(*share, 1.0));
            received += amount;
            txs.extend(self.pay(*at, from, hub, amount, Behaviour::Planted));
        }
        let forwarded = (received as f64 * self.dice.uniform(0.85, 1.0)) as u128;
        let last_in = inflow_times.last().copied().unwrap_or(start);
        let parts = self.dice.range(1, 3);
        let out_span = (start + window)
            .saturating_sub(last_in)
            .max(parts as u64 * SECOND_MS);
        let out_times = self.times(last_in + SECOND_MS, out_span, parts, false, true);
        for (i, at) in out_times.iter().enumerate() {
            let exit_inst = self.random_institution();
            let exit = self.plant_account(exit_inst, TierClass::Premium, None, end);
            accounts.push(exit);
            let part = if i + 1 == parts {
                forwarded - forwarded / parts as u128 * (parts as u128 - 1)
            } else {
                forwarded / parts as u128
            };
            txs.extend(self.pay(*at, hub, exit, part, Behaviour::Planted));
        }
        let detail = format!(
            "{} inflows, {} in total, {} forwarded in {} within {}",
            n,
            cny(received),
            cny(forwarded),
            parts,
            duration(window)
        );
        (accounts, txs, detail)
    }

    /// 3–6 transfers, each 90–99.9% of the sender's own limit, to
    /// different recipients within 30 minutes to 20 hours.
    fn plant_structuring(&mut self) -> (Vec<Address>, Vec<Hash>, String) {
        let end = self.end_ms;
        let r = self.dice.unit();
        let tier = if r < 0.5 {
            TierClass::Standard
        } else if r < 0.8 {
            TierClass::Premium
        } else {
            TierClass::Private
        };
        let inst = self.random_institution();
        let sender = self.plant_account(inst, tier, None, end);
        let mut accounts = vec![sender];
        let n = self.dice.range(3, 6);
        let span = self.dice.span(30 * MINUTE_MS, 20 * HOUR_MS);
        let start = self.plant_start(span);
        let times = self.times(start, span, n, true, true);
        let mut txs = Vec::new();
        let limit = tier.structuring_limit();
        let (mut lowest, mut highest) = (1.0f64, 0.0f64);
        for at in times {
            let to = self.counterparty(0.5, &mut accounts);
            let share = self.dice.uniform(0.90, 0.999);
            lowest = lowest.min(share);
            highest = highest.max(share);
            let amount = fen(round_down(limit as f64 * share / 100.0, 1.0));
            txs.extend(self.pay(at, sender, to, amount, Behaviour::Planted));
        }
        let detail = format!(
            "{} transfers of {:.1}–{:.1}% of {} within {}",
            n,
            lowest * 100.0,
            highest * 100.0,
            cny(limit),
            duration(span)
        );
        (accounts, txs, detail)
    }

    /// The regulator (or the account's institution) freezes an account
    /// with an ordinary history; 1–3 payments it then tries fail.
    fn plant_frozen_attempt(&mut self) -> (Vec<Address>, Vec<Hash>, String) {
        let span = self.dice.span(MINUTE_MS, 12 * HOUR_MS);
        let at = self.plant_start(span);
        let inst = self.random_institution();
        let account = self.plant_account(inst, TierClass::Standard, None, at);
        let by_regulator = self.dice.chance(0.7);
        let freezer = if by_regulator {
            self.regulator
        } else {
            self.institutions[inst]
        };
        let mut txs: Vec<Hash> = self
            .push(
                at,
                EdgeKind::Freeze,
                freezer,
                vec![(account, 0)],
                false,
                None,
                Behaviour::Planted,
            )
            .into_iter()
            .collect();
        let attempts = self.dice.range(1, 3);
        let times = self.times(at + SECOND_MS, span, attempts, false, true);
        for t in times {
            let to = match self.random_merchant() {
                Some(m) if self.dice.chance(0.5) => self.world.merchants[m].addr,
                _ => match self.random_person() {
                    Some(p) => self.world.persons[p].addr,
                    None => self.regulator,
                },
            };
            let amount = self.peer_amount(1.0, TierClass::Standard.single_max());
            txs.extend(self.push(
                t,
                EdgeKind::Transfer,
                account,
                vec![(to, amount)],
                true,
                Some("sender_frozen"),
                Behaviour::Planted,
            ));
        }
        let detail = format!(
            "frozen by {}, {} attempt{} within {}",
            if by_regulator {
                "the regulator"
            } else {
                "its institution"
            },
            attempts,
            if attempts == 1 { "" } else { "s" },
            duration(span)
        );
        (vec![account], txs, detail)
    }

    /// The regulator freezes an account; its institution tries to lift
    /// the freeze 10 minutes to 12 hours later and may not.
    fn plant_unfreeze_attempt(&mut self) -> (Vec<Address>, Vec<Hash>, String) {
        let span = self.dice.span(10 * MINUTE_MS, 12 * HOUR_MS);
        let at = self.plant_start(span);
        let inst = self.random_institution();
        let account = self.plant_account(inst, TierClass::Standard, None, at);
        let mut txs = Vec::new();
        txs.extend(self.push(
            at,
            EdgeKind::Freeze,
            self.regulator,
            vec![(account, 0)],
            false,
            None,
            Behaviour::Planted,
        ));
        txs.extend(self.push(
            at + span,
            EdgeKind::Unfreeze,
            self.institutions[inst],
            vec![(account, 0)],
            false,
            Some("unauthorised"),
            Behaviour::Planted,
        ));
        let detail = format!("unfreeze tried {} after the freeze", duration(span));
        (vec![account], txs, detail)
    }

    // --- the ledger -------------------------------------------------

    /// Puts the transactions in blocks (one a second, as many
    /// transactions as fall in it) and cuts them into legs.
    fn finish(mut self, config: &ScenarioConfig, plants: Vec<Plant>) -> Scenario {
        self.txs.sort_by_key(|t| (t.at_ms, t.seq));
        let accounts = ScenarioAccounts {
            asset: self.asset,
            accounts: std::mem::take(&mut self.accounts),
            customer_requested: self.freezes.iter().map(|(a, _, _)| *a).collect(),
        };
        let mut edges = Vec::with_capacity(self.txs.len() + self.txs.len() / 8);
        let mut behaviours = BTreeMap::new();
        let (mut height, mut index) = (0u64, 0u32);
        for tx in &self.txs {
            let second = tx.at_ms / SECOND_MS;
            let h = second - self.start_ms / SECOND_MS + 1;
            if h == height {
                index += 1;
            } else {
                (height, index) = (h, 0);
            }
            behaviours.insert(tx.hash, tx.behaviour);
            for (leg, (to, amount)) in tx.legs.iter().enumerate() {
                edges.push(Edge {
                    height,
                    index,
                    leg: u16::try_from(leg).expect("a batch has at most 80 legs"),
                    timestamp_ms: second * SECOND_MS,
                    tx_hash: tx.hash,
                    kind: tx.kind,
                    from: tx.from,
                    from_institution: accounts.institution_of(&tx.from),
                    to: *to,
                    to_institution: accounts.institution_of(to),
                    asset: tx.money.then_some(self.asset),
                    amount: Amount(*amount),
                    failure: tx.failure.clone(),
                });
            }
        }
        let baseline_accounts = accounts
            .iter()
            .filter(|(_, a)| !matches!(a.role, Role::Plant | Role::Institution | Role::Regulator))
            .count();
        Scenario {
            config: config.clone(),
            edges,
            plants,
            accounts,
            assets: vec![(self.asset, CNY_DECIMALS)],
            behaviours,
            baseline_accounts,
            days: self.eval_days,
            eval_start_ms: self.eval_start_ms,
            end_ms: self.end_ms,
        }
    }
}

//! The per-account risk score: how unusual an account's last day is
//! against what that account normally does.
//!
//! The model is small and unsupervised, written here so that every step
//! is visible to an analyst and to the tests:
//!
//! - Each account's activity is cut into days of its own (24 hours from
//!   its first leg after the previous day closed). A day is a vector of
//!   features, each on a log scale: legs sent and received, distinct
//!   recipients and senders, volume sent and received (in the assets'
//!   whole units), and how many institutions the counterparties bank
//!   with.
//! - When a day closes, its vector is folded into the account's running
//!   mean and variance (an exponentially weighted average over roughly
//!   `baseline_days` days), and into the same moments over all accounts
//!   (the population).
//! - An alert's score compares the current day with the account's own
//!   moments, blended with the population's while the account has few
//!   days of history: the largest z-score among the features the pattern
//!   is about, mapped to 0–100.
//!
//! So a merchant that is paid by hundreds of customers every day scores
//! near 0 for fan-in, while a customer who is suddenly paid by twelve
//! strangers scores high; a brand-new account is judged against the
//! population. Floating point is fine here: scores never reach consensus,
//! and the same legs give the same scores on the same node.

use hutong_runtime::Address;

/// The features of a day, in this order.
pub const FEATURES: usize = 7;

/// One feature of a day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feature {
    OutCount = 0,
    InCount = 1,
    OutParties = 2,
    InParties = 3,
    OutVolume = 4,
    InVolume = 5,
    Institutions = 6,
}

/// Days an account needs before its own moments outweigh the
/// population's.
const PRIOR_DAYS: f64 = 1.0;

/// Variance added to every feature's, so that an account that always
/// does exactly the same is not flagged for a small change (in log
/// units: about a factor 1.65).
const VARIANCE_FLOOR: f64 = 0.25;

/// The population's moments average over at least this many account-days.
const POPULATION_DAYS: f64 = 2_000.0;

/// Distinct counterparties and institutions counted per day (beyond,
/// the count saturates).
const DAY_PARTIES_MAX: usize = 64;
const DAY_INSTITUTIONS_MAX: usize = 16;

/// Running mean and variance of day vectors.
#[derive(Debug, Clone, PartialEq)]
pub struct Moments {
    pub days: u32,
    pub mean: [f64; FEATURES],
    pub var: [f64; FEATURES],
}

impl Moments {
    /// A prior for the population before it has seen a day: a customer
    /// who sends and receives a couple of ordinary payments a day.
    pub fn prior() -> Moments {
        let typical = [2.0, 2.0, 2.0, 2.0, 500.0, 500.0, 1.0];
        Moments {
            days: 0,
            mean: typical.map(|x: f64| x.ln_1p()),
            var: [0.4; FEATURES],
        }
    }

    fn empty() -> Moments {
        Moments {
            days: 0,
            mean: [0.0; FEATURES],
            var: [0.0; FEATURES],
        }
    }

    /// Folds one day in; `horizon` is how many days the average spans once
    /// it has that many.
    pub fn fold(&mut self, x: &[f64; FEATURES], horizon: f64) {
        let alpha = (1.0 / (f64::from(self.days) + 1.0)).max(1.0 / horizon.max(1.0));
        for ((m, v), x) in self.mean.iter_mut().zip(self.var.iter_mut()).zip(x) {
            let d = x - *m;
            *m += alpha * d;
            *v = (1.0 - alpha) * (*v + alpha * d * d);
        }
        self.days = self.days.saturating_add(1);
    }
}

/// What an account did in its current day, and its own moments.
#[derive(Debug, Clone)]
pub struct Baseline {
    day_start: Option<u64>,
    out_count: u32,
    in_count: u32,
    out_parties: Vec<Address>,
    in_parties: Vec<Address>,
    out_volume: f64,
    in_volume: f64,
    institutions: Vec<Address>,
    own: Moments,
}

impl Default for Baseline {
    fn default() -> Self {
        Baseline {
            day_start: None,
            out_count: 0,
            in_count: 0,
            out_parties: Vec::new(),
            in_parties: Vec::new(),
            out_volume: 0.0,
            in_volume: 0.0,
            institutions: Vec::new(),
            own: Moments::empty(),
        }
    }
}

const DAY_MS: u64 = 86_400_000;

impl Baseline {
    /// Days of history folded into this account's moments.
    pub fn days(&self) -> u32 {
        self.own.days
    }

    /// Records one leg of this account at `ts`: sent (`out`) or received,
    /// `volume` in whole units. Closes the day first if it is over,
    /// folding it into the account's and the population's moments.
    #[allow(clippy::too_many_arguments)]
    pub fn record(
        &mut self,
        ts: u64,
        out: bool,
        counterparty: Address,
        institution: Address,
        volume: f64,
        population: &mut Moments,
        horizon_days: f64,
    ) {
        match self.day_start {
            Some(start) if ts >= start.saturating_add(DAY_MS) => {
                let x = self.features();
                self.own.fold(&x, horizon_days);
                population.fold(&x, POPULATION_DAYS);
                *self = Baseline {
                    day_start: Some(ts),
                    own: std::mem::replace(&mut self.own, Moments::empty()),
                    ..Baseline::default()
                };
            }
            Some(_) => {}
            None => self.day_start = Some(ts),
        }
        let (count, parties, vol) = if out {
            (
                &mut self.out_count,
                &mut self.out_parties,
                &mut self.out_volume,
            )
        } else {
            (
                &mut self.in_count,
                &mut self.in_parties,
                &mut self.in_volume,
            )
        };
        *count = count.saturating_add(1);
        *vol += volume;
        if parties.len() < DAY_PARTIES_MAX && !parties.contains(&counterparty) {
            parties.push(counterparty);
        }
        if self.institutions.len() < DAY_INSTITUTIONS_MAX
            && !self.institutions.contains(&institution)
        {
            self.institutions.push(institution);
        }
    }

    /// What the account usually does in `feature` on a day (undoing the
    /// log scale), once it has `min_days` of history.
    pub fn usual(&self, feature: Feature, min_days: u32) -> Option<f64> {
        (self.own.days >= min_days).then(|| self.own.mean[feature as usize].exp() - 1.0)
    }

    /// The current day's vector.
    pub fn features(&self) -> [f64; FEATURES] {
        [
            f64::from(self.out_count),
            f64::from(self.in_count),
            self.out_parties.len() as f64,
            self.in_parties.len() as f64,
            self.out_volume,
            self.in_volume,
            self.institutions.len() as f64,
        ]
        .map(|x| x.max(0.0).ln_1p())
    }

    /// How unusual the current day is in `features`, 0 (as usual) to 100.
    pub fn score(&self, population: &Moments, features: &[Feature]) -> u8 {
        score(&self.own, population, &self.features(), features)
    }
}

/// The score of day vector `x` against `own` moments blended with the
/// `population`'s: the largest z-score among `features`, mapped to 0–100
/// (z = 1 gives 39, 2 gives 63, 3 gives 78, 5 gives 92).
pub fn score(own: &Moments, population: &Moments, x: &[f64; FEATURES], features: &[Feature]) -> u8 {
    let days = f64::from(own.days);
    let w = days / (days + PRIOR_DAYS);
    let z = features
        .iter()
        .map(|&f| {
            let i = f as usize;
            let mean = w * own.mean[i] + (1.0 - w) * population.mean[i];
            // The blend's variance includes the spread between the two means.
            let spread = w * (1.0 - w) * (own.mean[i] - population.mean[i]).powi(2);
            let var = w * own.var[i] + (1.0 - w) * population.var[i] + spread;
            (x[i] - mean) / (var + VARIANCE_FLOOR).sqrt()
        })
        .fold(0.0f64, f64::max);
    let s = 100.0 * (1.0 - (-z / 2.0).exp());
    s.clamp(0.0, 100.0).round() as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(b: &mut Baseline, pop: &mut Moments, start: u64, senders: u8, volume: f64) {
        for s in 0..senders {
            b.record(
                start + u64::from(s),
                false,
                Address([s; 20]),
                Address([0xEE; 20]),
                volume,
                pop,
                7.0,
            );
        }
    }

    #[test]
    fn a_hub_paid_by_many_every_day_scores_low_and_a_sudden_hub_high() {
        let mut pop = Moments::prior();
        let mut hub = Baseline::default();
        for d in 0..10 {
            day(&mut hub, &mut pop, d * DAY_MS, 40, 100.0);
        }
        // The tenth day is open: as busy as the nine before it.
        assert!(hub.days() == 9, "days folded: {}", hub.days());
        let hub_score = hub.score(&pop, &[Feature::InParties]);
        assert!(hub_score < 20, "a merchant's usual day scores {hub_score}");

        let mut quiet = Baseline::default();
        for d in 0..10 {
            day(&mut quiet, &mut pop, d * DAY_MS, 1, 100.0);
        }
        day(&mut quiet, &mut pop, 10 * DAY_MS, 12, 9_900.0);
        let sudden = quiet.score(&pop, &[Feature::InParties]);
        assert!(
            sudden > 60,
            "twelve senders to a quiet account score {sudden}"
        );
    }

    #[test]
    fn a_new_account_is_judged_against_the_population() {
        let pop = Moments::prior();
        let mut new = Baseline::default();
        let mut scratch = Moments::prior();
        day(&mut new, &mut scratch, 0, 2, 100.0);
        assert!(new.score(&pop, &[Feature::InParties]) < 30);
        day(&mut new, &mut scratch, 100, 30, 100.0);
        assert!(new.score(&pop, &[Feature::InParties]) > 60);
    }

    #[test]
    fn moments_converge_to_a_constant_input() {
        let mut m = Moments::prior();
        for _ in 0..200 {
            m.fold(&[1.0; FEATURES], 7.0);
        }
        assert!(m.mean.iter().all(|x| (x - 1.0).abs() < 1e-6));
        assert!(m.var.iter().all(|v| *v < 1e-6));
    }
}

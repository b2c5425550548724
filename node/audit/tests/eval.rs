//! The labelled scenario generator and the detector evaluation: the
//! generator is deterministic and its labels point at real legs; the
//! evaluation is internally consistent. Whether the detectors meet their
//! targets is `targets_are_met_on_the_default_scenario`, ignored by
//! default (it needs a release build to be quick):
//!
//! ```text
//! cargo test -p hutong-audit --release --test eval -- --ignored --nocapture
//! ```

use std::collections::BTreeSet;

use hutong_audit::alerts::AlertConfig;
use hutong_audit::eval::{evaluate, Report};
use hutong_audit::scenario::{generate, Pattern, Role, Scenario, ScenarioConfig};
use hutong_audit::Limits;

/// Small enough for a debug build: 2,000 customers, a short warm-up, one
/// evaluated day, 10 plants per pattern.
fn small(seed: u64) -> ScenarioConfig {
    ScenarioConfig {
        seed,
        customers: 2_000,
        merchants: 30,
        institutions: 4,
        days: 1,
        warmup_days: 3,
        plants_per_pattern: 10,
    }
}

/// Edges in (timestamp, height, index, leg) order, strictly.
fn assert_sorted(s: &Scenario) {
    for w in s.edges.windows(2) {
        let key = |e: &hutong_audit::Edge| (e.timestamp_ms, e.height, e.index, e.leg);
        assert!(
            key(&w[0]) < key(&w[1]),
            "legs out of order: {:?} then {:?}",
            key(&w[0]),
            key(&w[1])
        );
    }
}

fn assert_consistent(report: &Report, scenario: &Scenario) {
    assert_eq!(report.patterns.len(), Pattern::ALL.len());
    for p in &report.patterns {
        assert_eq!(
            p.planted, scenario.config.plants_per_pattern,
            "{}",
            p.pattern
        );
        assert!(p.caught <= p.planted, "{}", p.pattern);
    }
    let caught: usize = report.patterns.iter().map(|p| p.caught).sum();
    assert_eq!(caught + report.missed.len(), scenario.plants.len());
    for k in &report.kinds {
        assert_eq!(
            k.true_alerts + k.false_alerts,
            k.raised,
            "{}",
            k.kind.name()
        );
        if let Some(p) = k.precision {
            assert!((0.0..=1.0).contains(&p));
        }
    }
    let false_alerts: usize = report.kinds.iter().map(|k| k.false_alerts).sum();
    assert_eq!(false_alerts, report.false_alerts);
    let from_sources: usize = report.false_sources.iter().map(|s| s.alerts).sum();
    assert_eq!(from_sources, report.false_alerts);
    let account_days = report.baseline_accounts as f64 * f64::from(report.days);
    let expected_rate = if account_days > 0.0 {
        report.false_alerts as f64 * 10_000.0 / account_days
    } else {
        0.0
    };
    assert!((report.false_per_10k_accounts_per_day - expected_rate).abs() < 1e-9);
}

#[test]
fn a_small_scenario_is_deterministic_labelled_and_evaluated_consistently() {
    let config = small(7);
    println!("seed {}", config.seed);
    let scenario = generate(&config);

    // Deterministic: the same seed gives the same legs and labels.
    let again = generate(&config);
    assert_eq!(scenario.edges, again.edges);
    assert_eq!(scenario.plants, again.plants);
    // Another seed gives another network.
    assert_ne!(scenario.edges, generate(&small(8)).edges);

    assert_sorted(&scenario);
    assert!(
        scenario.edges.len() > 10_000,
        "{} legs",
        scenario.edges.len()
    );
    assert!(scenario
        .edges
        .iter()
        .all(|e| e.timestamp_ms < scenario.end_ms));

    // Every plant's transactions are among the legs, inside the evaluated
    // days; its accounts are fresh plant accounts.
    let txs: BTreeSet<_> = scenario.edges.iter().map(|e| e.tx_hash).collect();
    assert_eq!(
        scenario.plants.len(),
        Pattern::ALL.len() * config.plants_per_pattern
    );
    for plant in &scenario.plants {
        assert!(
            !plant.txs.is_empty(),
            "{}: {}",
            plant.pattern.name(),
            plant.detail
        );
        assert_eq!(plant.expect, plant.pattern.expect());
        for tx in &plant.txs {
            assert!(txs.contains(tx), "{}: {tx} is no leg", plant.pattern.name());
        }
        for e in scenario
            .edges
            .iter()
            .filter(|e| plant.txs.contains(&e.tx_hash))
        {
            assert!(e.timestamp_ms >= scenario.eval_start_ms, "{}", plant.detail);
        }
        for a in &plant.accounts {
            assert_eq!(scenario.accounts.role(a), Some(Role::Plant));
        }
    }
    // An owner round trip comes back to another account of the root's
    // owner, at another institution.
    for plant in scenario
        .plants
        .iter()
        .filter(|p| p.pattern == Pattern::OwnerRoundTrip)
    {
        let root = plant.accounts[0];
        let back = *plant.accounts.last().expect("a ring has accounts");
        assert_ne!(root, back);
        assert_eq!(
            scenario.accounts.owner(&root),
            scenario.accounts.owner(&back)
        );
        assert_ne!(
            scenario.accounts.institution_of(&root),
            scenario.accounts.institution_of(&back)
        );
    }

    let report = evaluate(&scenario, AlertConfig::default()).expect("the default config is valid");
    println!("{} legs\n{report}", scenario.edges.len());
    assert_consistent(&report, &scenario);
    // The report is deterministic too.
    assert_eq!(
        report,
        evaluate(&scenario, AlertConfig::default()).expect("valid")
    );
    let json = serde_json::to_string(&report).expect("a report serialises");
    assert!(json.contains("\"false_per_10k_accounts_per_day\""));
}

#[test]
fn degenerate_configs_generate_and_evaluate() {
    for config in [
        ScenarioConfig {
            seed: 1,
            customers: 0,
            merchants: 0,
            institutions: 0,
            days: 0,
            warmup_days: 0,
            plants_per_pattern: 1,
        },
        ScenarioConfig {
            seed: 2,
            customers: 50,
            merchants: 1,
            institutions: 1,
            days: 1,
            warmup_days: 1,
            plants_per_pattern: 2,
        },
    ] {
        let scenario = generate(&config);
        assert_sorted(&scenario);
        let report = evaluate(&scenario, AlertConfig::default()).expect("valid");
        assert_consistent(&report, &scenario);
    }
}

#[test]
#[ignore = "slow in debug; run with --release --ignored"]
fn targets_are_met_on_the_default_scenario() {
    let config = ScenarioConfig::default();
    println!("seed {}", config.seed);
    let started = std::time::Instant::now();
    let scenario = generate(&config);
    let generated = started.elapsed();
    let started = std::time::Instant::now();
    let report = evaluate(&scenario, AlertConfig::default()).expect("the default config is valid");
    println!(
        "{} legs, generated in {:.1?}, evaluated in {:.1?}\n{report}",
        scenario.edges.len(),
        generated,
        started.elapsed()
    );
    assert_consistent(&report, &scenario);
    assert!(report.targets_met(), "the detectors miss their targets");
}

//! The risk-alert detectors on hand-made legs: each pattern fires at its
//! threshold and not below, within its window and not after.

use hutong_audit::alerts::*;
use hutong_audit::{Edge, EdgeKind};
use hutong_runtime::crypto::Hash;
use hutong_runtime::state::AssetLimits;
use hutong_runtime::{Address, AssetCode};
use hutong_runtime::{Amount, Tier};

struct TestLimits;
impl Limits for TestLimits {
    fn customer_limits(&self, account: &Address, asset: AssetCode) -> Option<AssetLimits> {
        // Accounts whose first byte is 0xEE are institutions.
        (account.0[0] != 0xEE).then_some(AssetLimits {
            asset,
            single_max: Amount(500_000),
            daily_max: Amount(2_000_000),
            step_up_threshold: Some(Amount(100_000)),
        })
    }
}

fn addr(n: u8) -> Address {
    Address([n; 20])
}

fn cny() -> AssetCode {
    AssetCode::new("CNY").unwrap()
}

fn leg(n: u64, from: u8, to: u8, amount: u128, ts: u64) -> Edge {
    Edge {
        height: n,
        index: 0,
        leg: 0,
        timestamp_ms: ts,
        tx_hash: Hash::tagged(b"test", &n.to_le_bytes()),
        kind: EdgeKind::Transfer,
        from: addr(from),
        from_institution: Address([0xEE; 20]),
        to: addr(to),
        to_institution: Address([0xEE; 20]),
        asset: Some(cny()),
        amount: Amount(amount),
        failure: None,
    }
}

fn run(d: &mut Detector, legs: &[Edge]) -> Vec<Alert> {
    legs.iter()
        .flat_map(|e| d.observe(e, &TestLimits))
        .collect()
}

#[test]
fn structuring_fires_on_repeated_amounts_just_under_the_step_up() {
    let mut d = Detector::new(AlertConfig::default());
    let legs: Vec<Edge> = (0..3)
        .map(|i| leg(i, 1, 10 + i as u8, 99_000, 1_000 + i * 60_000))
        .collect();
    let alerts = run(&mut d, &legs);
    let kinds: Vec<_> = alerts.iter().map(|a| a.kind).collect();
    assert_eq!(kinds, vec![AlertKind::Structuring]);
    assert_eq!(alerts[0].count, 3);
    assert_eq!(alerts[0].account, addr(1).to_string());
    // A fourth one within the window stays quiet.
    assert!(run(&mut d, &[leg(9, 1, 20, 99_500, 300_000)]).is_empty());
}

#[test]
fn amounts_well_under_or_over_the_limit_are_not_structuring() {
    let mut d = Detector::new(AlertConfig::default());
    let legs: Vec<Edge> = (0..6)
        .map(|i| {
            leg(
                i,
                1,
                10 + (i % 2) as u8,
                50_000 + 1_000 * i as u128,
                i * 60_000,
            )
        })
        .collect();
    assert!(run(&mut d, &legs).is_empty());
}

#[test]
fn fan_out_and_fan_in_fire_at_the_distinct_count() {
    let mut d = Detector::new(AlertConfig::default());
    let out: Vec<Edge> = (0..8)
        .map(|i| leg(i, 1, 20 + i as u8, 1_000, i * 1_000))
        .collect();
    let alerts = run(&mut d, &out);
    assert_eq!(
        alerts.iter().map(|a| a.kind).collect::<Vec<_>>(),
        vec![AlertKind::FanOut]
    );
    assert_eq!(alerts[0].related.len(), 8);
    let inc: Vec<Edge> = (0..8)
        .map(|i| leg(100 + i, 40 + i as u8, 2, 1_000, 100_000 + i * 1_000))
        .collect();
    let alerts = run(&mut d, &inc);
    assert_eq!(
        alerts.iter().map(|a| a.kind).collect::<Vec<_>>(),
        vec![AlertKind::FanIn]
    );
    // Spread over more than the window, the same fan-out is quiet.
    let mut d = Detector::new(AlertConfig::default());
    let slow: Vec<Edge> = (0..8)
        .map(|i| leg(i, 1, 20 + i as u8, 1_000, i * 120_000))
        .collect();
    assert!(run(&mut d, &slow).is_empty());
}

#[test]
fn velocity_fires_on_count_or_volume() {
    let mut d = Detector::new(AlertConfig::default());
    let legs: Vec<Edge> = (0..30).map(|i| leg(i, 1, 2, 10, i * 1_000)).collect();
    let alerts = run(&mut d, &legs);
    assert_eq!(
        alerts.iter().map(|a| a.kind).collect::<Vec<_>>(),
        vec![AlertKind::Velocity]
    );
    let config = AlertConfig {
        velocity_amount: 1_000_000,
        ..AlertConfig::default()
    };
    let mut d = Detector::new(config);
    let legs = [leg(1, 5, 6, 400_000, 0), leg(2, 5, 6, 600_000, 1_000)];
    let kinds: Vec<_> = run(&mut d, &legs).iter().map(|a| a.kind).collect();
    assert!(kinds.contains(&AlertKind::Velocity), "{kinds:?}");
}

#[test]
fn pass_through_fires_when_most_of_a_large_amount_leaves_quickly() {
    let mut d = Detector::new(AlertConfig::default());
    let legs = [
        leg(1, 1, 2, 2_000_000, 0),
        leg(2, 2, 3, 900_000, 60_000),
        leg(3, 2, 4, 800_000, 120_000),
    ];
    let alerts = run(&mut d, &legs);
    let pass: Vec<_> = alerts
        .iter()
        .filter(|a| a.kind == AlertKind::PassThrough)
        .collect();
    assert_eq!(pass.len(), 1, "{alerts:?}");
    assert_eq!(pass[0].account, addr(2).to_string());
    // Money that stays is not a pass-through.
    let mut d = Detector::new(AlertConfig::default());
    let legs = [leg(1, 1, 2, 2_000_000, 0), leg(2, 2, 3, 500_000, 60_000)];
    assert!(run(&mut d, &legs)
        .iter()
        .all(|a| a.kind != AlertKind::PassThrough));
}

#[test]
fn transfers_touching_a_frozen_accounts_counterparty_fire() {
    let mut d = Detector::new(AlertConfig::default());
    run(&mut d, &[leg(1, 1, 2, 5_000, 0)]);
    let mut freeze = leg(2, 99, 1, 0, 10_000);
    freeze.kind = EdgeKind::Freeze;
    freeze.asset = None;
    run(&mut d, &[freeze]);
    let alerts = run(&mut d, &[leg(3, 2, 7, 1_000, 20_000)]);
    assert_eq!(
        alerts.iter().map(|a| a.kind).collect::<Vec<_>>(),
        vec![AlertKind::FrozenCounterparty]
    );
    assert_eq!(alerts[0].account, addr(2).to_string());
    assert_eq!(alerts[0].related[0], addr(1).to_string());
    // An unrelated account is not flagged.
    assert!(run(&mut d, &[leg(4, 8, 9, 1_000, 30_000)]).is_empty());
}

#[test]
fn ordinary_random_traffic_raises_nothing_and_memory_stays_bounded() {
    use rand::{Rng, SeedableRng};
    let seed = 7u64;
    println!("seed {seed}");
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let config = AlertConfig {
        accounts_max: 50,
        ..AlertConfig::default()
    };
    let mut d = Detector::new(config);
    let mut alerts = Vec::new();
    for i in 0..2_000u64 {
        let from = rng.gen_range(1..=200u8);
        let mut to = rng.gen_range(1..=200u8);
        if to == from {
            to = to.wrapping_add(1).max(1);
        }
        let amount = rng.gen_range(100..20_000u128);
        alerts.extend(d.observe(&leg(i, from, to, amount, i * 5_000), &TestLimits));
        assert!(d.tracked_accounts() <= 52);
    }
    assert!(alerts.is_empty(), "{alerts:?}");
    let _ = Tier(1);
}

//! Deterministic simulation of a cluster running the real host logic and
//! consensus core (`hutong_tests::sim`): payload checks, attested sharing
//! of real signed transfers, execution gating, catch-up, crashes and
//! restarts from what was persisted. Seeds: `HUTONG_SEED=N` replays one;
//! `HUTONG_SIM_SEEDS=N` sets how many each sweep runs (the default keeps
//! `cargo test` quick; see README for the long run).

use hutong_tests::sim::{seed_from_env, Byzantine, EpochChange, Faults, Report, Sim};

fn seeds(default: u64) -> std::ops::Range<u64> {
    let first = seed_from_env(1_000);
    let count = if std::env::var("HUTONG_SEED").is_ok() {
        1
    } else {
        std::env::var("HUTONG_SIM_SEEDS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(default)
    };
    first..first + count
}

fn run(n: usize, seed: u64, faults: Faults, ms: u64) -> Report {
    Sim::new(n, seed, faults)
        .run(ms)
        .unwrap_or_else(|e| panic!("{e} (replay: HUTONG_SEED={seed})"))
}

fn assert_live(report: &Report, what: &str) {
    for (i, c) in report.committed_after_faults.iter().enumerate() {
        assert!(
            *c > 0,
            "{what}: seed {}: honest replica {i} made no progress after the faults ended: {report:?} (replay: HUTONG_SEED={})",
            report.seed,
            report.seed
        );
    }
}

#[test]
fn happy_path_commits_and_is_deterministic() {
    let seed = seed_from_env(1);
    for n in [4, 7] {
        let a = run(n, seed, Faults::none(), 20_000);
        let b = run(n, seed, Faults::none(), 20_000);
        assert_eq!(a, b, "seed {seed}, n = {n}: two runs of one seed differ");
        for (i, c) in a.committed.iter().enumerate() {
            assert!(
                *c > 50,
                "seed {seed}, n = {n}: replica {i} committed only {c} blocks: {a:?}"
            );
        }
    }
}

/// Delay with jitter, loss, duplication, reordering, partitions that form
/// and heal, crash and restart from what was persisted.
#[test]
fn network_and_crash_faults_stay_safe_and_live() {
    for seed in seeds(100) {
        for n in [4, 7] {
            let report = run(n, seed, Faults::all(), 30_000);
            assert_live(&report, &format!("n = {n}"));
            // Honest leaders' payloads are always valid: a leader that
            // certified a parent it never received fetches it first.
            assert!(
                !report.dropped.contains_key("bad_payload"),
                "seed {seed}, n = {n}: an honest proposal was refused: {report:?}"
            );
            assert!(
                report.transfers > 0 && report.attested > 0,
                "seed {seed}, n = {n}: no transfer committed, or none admitted on attestations: {report:?}"
            );
        }
    }
    // The same seed gives the same trace, faults included.
    let seed = seeds(1).start;
    assert_eq!(
        run(7, seed, Faults::all(), 20_000),
        run(7, seed, Faults::all(), 20_000)
    );
}

/// One Byzantine validator (within f), on top of the network faults.
#[test]
fn byzantine_validators_stay_safe_and_live() {
    for kind in [
        Byzantine::EquivocatingLeader,
        Byzantine::Twins,
        Byzantine::Forger,
    ] {
        for seed in seeds(24) {
            for n in [4, 7] {
                let faults = Faults {
                    byzantine: Some(kind),
                    // With n = 4 the Byzantine validator is the one fault
                    // allowed, so nobody else crashes.
                    crashes: if n == 4 { 0 } else { 2 },
                    ..Faults::all()
                };
                // Faults within the first 15 s, then 30 s to show progress:
                // with a Byzantine validator and timers backed off to their
                // 5 s cap, recovery can take more than 15 s (seed 1110).
                let report = Sim::new(n, seed, faults)
                    .run_with(15_000, 45_000)
                    .unwrap_or_else(|e| panic!("{e} (replay: HUTONG_SEED={seed})"));
                assert_live(&report, &format!("{kind:?}, n = {n}"));
                if kind == Byzantine::EquivocatingLeader {
                    assert!(
                        report.evidence > 0,
                        "seed {seed}: no evidence against the equivocating leader: {report:?}"
                    );
                }
                if kind == Byzantine::Forger {
                    for reason in ["bad_signature", "far_future", "bad_payload"] {
                        assert!(
                            report.dropped.contains_key(reason),
                            "{kind:?}, seed {seed}: nothing dropped as {reason}: {report:?}"
                        );
                    }
                }
            }
        }
    }
}

/// The simulator has teeth: with a safety rule broken on purpose
/// (certificates of f + 1 votes), it finds a fork within the CI budget.
#[test]
fn a_broken_quorum_rule_is_caught() {
    let mut found = None;
    for seed in seeds(150) {
        let faults = Faults {
            weak_quorum: true,
            ..Faults::all()
        };
        if let Err(e) = Sim::new(4, seed, faults).run(30_000) {
            assert!(e.contains("SAFETY VIOLATION"), "{e}");
            println!("broken quorum rule caught at seed {seed}: {e}");
            found = Some(seed);
            break;
        }
    }
    assert!(
        found.is_some(),
        "the simulator did not notice certificates of f + 1 votes"
    );
}

/// The persist-before-send check has teeth: with safety data never
/// reaching the disk (broken on purpose), the first vote is caught.
#[test]
fn a_vote_sent_before_its_safety_data_is_durable_is_caught() {
    let seed = seed_from_env(1);
    let faults = Faults {
        lost_safety_writes: true,
        ..Faults::none()
    };
    let e = Sim::new(4, seed, faults)
        .run(5_000)
        .expect_err("lost safety writes must be caught");
    assert!(e.contains("before persisting"), "{e}");
}

/// Leader reputation: with one validator down for good, the others skip
/// its turns instead of timing out on each of them.
#[test]
fn a_crashed_leader_is_skipped() {
    let seed = seed_from_env(7);
    for n in [4, 7] {
        let healthy = run(n, seed, Faults::none(), 20_000);
        let faults = Faults {
            down_forever: Some(1),
            ..Faults::none()
        };
        let degraded = run(n, seed, faults, 20_000);
        let (h, d) = (healthy.committed[0], degraded.committed[0]);
        println!("n = {n}: {h} blocks healthy, {d} with validator 1 down");
        assert!(
            d * 10 >= h * 8,
            "seed {seed}, n = {n}: {d} blocks with a crashed leader vs {h} healthy"
        );
    }
}

/// A validator that was alive and signing certificates crashes for good:
/// its past signatures must not keep it in the rotation, or every one of
/// its turns costs a round timeout until they leave the reputation window.
#[test]
fn a_leader_that_crashes_mid_run_is_skipped_soon() {
    let seed = seed_from_env(7);
    for n in [4, 7] {
        let healthy = run(n, seed, Faults::none(), 20_000);
        let faults = Faults {
            down_from: Some((1, 2_000)),
            ..Faults::none()
        };
        let degraded = run(n, seed, faults, 20_000);
        let (h, d) = (healthy.committed[0], degraded.committed[0]);
        println!("n = {n}: {h} blocks healthy, {d} with validator 1 crashing at 2 s");
        assert!(
            d * 10 >= h * 7,
            "seed {seed}, n = {n}: {d} blocks with a leader crashed mid-run vs {h} healthy"
        );
    }
}

/// Epoch changes decided by a committed block at height 40, under the
/// network and crash faults, with a node crashing as the first one
/// switches: the last validator leaves (it follows passively), a new node
/// joins as a validator, and a validator's key is rotated (a node with
/// the new key takes its index). Nodes behind the change catch up by sync
/// across the boundary (the ended epoch's tail and its certificate).
/// Every honest node ends in epoch 2, safe and live.
#[test]
fn epoch_changes_under_faults() {
    for seed in seeds(12) {
        for change in [
            EpochChange::RemoveLast,
            EpochChange::AddNode,
            EpochChange::RotateKey((seed % 7) as usize),
        ] {
            let faults = Faults {
                reconfigure_at: Some(40),
                change,
                crash_at_switch: true,
                ..Faults::all()
            };
            let report = run(7, seed, faults, 30_000);
            assert_live(&report, &format!("{change:?}, n = 7"));
            assert!(
                report.epochs.iter().all(|e| *e == 2),
                "seed {seed}, {change:?}: not every replica reached epoch 2: {report:?}"
            );
            assert!(
                report.dropped.contains_key("wrong_epoch")
                    || report.committed.iter().all(|c| *c > 40),
                "{report:?}"
            );
        }
    }
}

/// A validator cut off for longer than the round window (1,000 rounds:
/// every message from the others is then "far future") still catches up:
/// a far-future message's certificate is checked and taken, which starts a
/// bulk sync. (A wiped or long-stopped node never rejoined before.)
#[test]
fn a_validator_beyond_the_round_window_catches_up() {
    for seed in seeds(3) {
        let mut sim = Sim::new(4, seed, Faults::none());
        sim.isolate(3, 1_000, 60_000);
        let report = sim
            .run(75_000)
            .unwrap_or_else(|e| panic!("{e} (replay: HUTONG_SEED={seed})"));
        assert!(
            report.committed[0] > 1_200,
            "seed {seed}: the others did not get 1,000 rounds ahead: {report:?}"
        );
        let behind = report.committed[0].saturating_sub(report.committed[3]);
        assert!(
            behind < 20,
            "seed {seed}: replica 3 still {behind} blocks behind: {report:?}"
        );
    }
}

/// A validator cut off for most of the run catches up in bulk (committed
/// blocks with a commit certificate) once it can talk again.
#[test]
fn a_validator_far_behind_syncs_in_bulk() {
    for seed in seeds(20) {
        let faults = Faults {
            down_forever: None,
            ..Faults::none()
        };
        let mut sim = Sim::new(4, seed, faults);
        sim.isolate(3, 1_000, 12_000);
        let report = sim
            .run(20_000)
            .unwrap_or_else(|e| panic!("{e} (replay: HUTONG_SEED={seed})"));
        let behind = report.committed[0].saturating_sub(report.committed[3]);
        assert!(report.syncs > 0, "seed {seed}: no bulk sync: {report:?}");
        assert!(
            behind < 20,
            "seed {seed}: replica 3 still {behind} blocks behind: {report:?}"
        );
    }
}

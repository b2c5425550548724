//! Deterministic simulation of the consensus core. Seeds: `HUTONG_SEED=N`
//! replays one; `HUTONG_SIM_SEEDS=N` sets how many the sweep runs.

use hutong_tests::sim::{seed_from_env, Faults, Sim};

fn seeds(default: u64) -> u64 {
    std::env::var("HUTONG_SIM_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

#[test]
fn happy_path_commits_and_is_deterministic() {
    let seed = seed_from_env(1);
    for n in [4, 7] {
        let a = Sim::new(n, seed, Faults::none()).run(20_000).unwrap();
        let b = Sim::new(n, seed, Faults::none()).run(20_000).unwrap();
        assert_eq!(a, b, "seed {seed}, n = {n}: two runs of one seed differ");
        for (i, c) in a.committed.iter().enumerate() {
            assert!(
                *c > 50,
                "seed {seed}, n = {n}: replica {i} committed only {c} blocks: {a:?}"
            );
        }
    }
}

#[test]
fn faults_sweep_stays_safe_and_live() {
    let first = seed_from_env(1_000);
    let count = if std::env::var("HUTONG_SEED").is_ok() {
        1
    } else {
        seeds(60)
    };
    for seed in first..first + count {
        for n in [4, 7] {
            let report = Sim::new(n, seed, Faults::all())
                .run(30_000)
                .unwrap_or_else(|e| panic!("{e} (replay: HUTONG_SEED={seed})"));
            for (i, c) in report.committed_after_faults.iter().enumerate() {
                assert!(
                    *c > 0,
                    "seed {seed}, n = {n}: replica {i} made no progress after the faults ended: {report:?} (replay: HUTONG_SEED={seed})"
                );
            }
        }
    }
}

//! `hutong bench` on a development chain, whose ledger check must pass.

use crate::harness::*;

#[test]
fn bench_measures_a_dev_chain_and_checks_the_ledger() {
    let _one = exclusive();
    let dir = tempfile::tempdir().unwrap();
    let chain = dir.path().join("chain");
    let r = bench_json(
        &chain,
        &[
            "--accounts",
            "50",
            "--duration-secs",
            "20",
            "--txs",
            "3000",
            "--workload",
            "mixed",
        ],
    );
    // All of the load commits (failures by design included), the nodes
    // agree, and the money is all still there.
    assert_eq!(r["committed"], 3000, "{r}");
    assert_eq!(r["expected_failures"], 150, "{r}");
    assert_eq!(r["state_roots_agree"], true, "{r}");
    assert_eq!(r["supply_conserved"], true, "{r}");
    assert_eq!(r["latency_ms"]["samples"], 3000, "{r}");
    assert!(r["committed_per_sec"].as_f64().unwrap() > 0.0, "{r}");
    assert!(r["verify_rate_per_sec"].as_f64().unwrap() > 0.0, "{r}");
    // The node checked the signatures of everything it committed (all of
    // the load was submitted, so checked, inside the window; some of it
    // committed only in the drain after).
    let checks = r["signature_checks_per_tx_per_node"][0][1].as_f64();
    assert!(checks.is_some_and(|c| c >= 0.99), "{r}");
    // Receipts read back: failures exactly where the workload made them.
    assert!(r["receipts_checked"].as_u64().unwrap() >= 100, "{r}");
    assert_eq!(r["receipts_unexpected"], 0, "{r}");

    // Batch payouts on the same chain: 20 transactions of 50 recipients,
    // counted as 1,000 transfers, every one of them paid.
    let r = bench_json(
        &chain,
        &[
            "--duration-secs",
            "10",
            "--txs",
            "1000",
            "--workload",
            "payout",
            "--payouts-per-tx",
            "50",
        ],
    );
    assert_eq!(r["transfers_per_tx"], 50, "{r}");
    assert_eq!(r["committed"], 20, "{r}");
    assert_eq!(r["latency_ms"]["samples"], 20, "{r}");
    assert_eq!(r["receipts_checked"], 20, "{r}");
    assert_eq!(r["receipts_unexpected"], 0, "{r}");
    assert_eq!(r["state_roots_agree"], true, "{r}");
    assert_eq!(r["supply_conserved"], true, "{r}");
}

//! What the host logic and the consensus core cost per block: four nodes
//! of the deterministic simulator (`hutong_tests::sim`: the real host,
//! core, admission, attestations, mempool and runtime execution) on a
//! network without delay or faults, consensus messages signed and checked
//! with real ed25519 node keys, and wallets submitting real transfers.
//! It measures how many blocks per second of CPU one machine's worth of
//! all four nodes' logic takes, so we know consensus is never the
//! bottleneck (the node's own costs, storage and the network, are
//! `hutong bench`'s to measure).
//!
//! Run: `cargo bench -p hutong-tests --bench consensus`

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use hutong_tests::sim::{Faults, Sim};

/// Simulated time per run.
const RUN_MS: u64 = 5_000;

fn faults(tx_interval_ms: u64) -> Faults {
    Faults {
        delay_ms: 1,
        tx_interval_ms,
        ..Faults::none()
    }
}

/// The blocks every node executed in one run.
fn run(tx_interval_ms: u64) -> u64 {
    let report = Sim::with_ed25519(4, 7, faults(tx_interval_ms))
        .run(RUN_MS)
        .unwrap_or_else(|e| panic!("the simulated cluster failed: {e}"));
    report.committed.iter().copied().min().unwrap_or(0) as u64
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("cluster_of_4_real_host_and_ed25519");
    g.sample_size(10);
    for (name, interval) in [("empty_blocks", 0), ("transfers_every_2ms", 2)] {
        let blocks = run(interval);
        println!("{name}: {blocks} blocks per run of {RUN_MS} simulated ms");
        g.throughput(Throughput::Elements(blocks));
        g.bench_function(name, |b| b.iter(|| assert!(run(interval) >= blocks / 2)));
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

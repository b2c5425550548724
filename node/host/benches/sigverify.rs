//! Signature verification of a block of 10,000 transfers: single checks,
//! batch on one core, and batch over all cores.
//!
//! Run: `cargo bench -p hutong-host --bench sigverify`

use std::num::NonZeroUsize;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use hutong_host::sigverify::{available_threads, verify_parallel, verify_serial};
use hutong_runtime::tx::Expiry;
use hutong_runtime::{
    Address, Amount, AssetCode, ChainId, Height, Keypair, Nonce, SignedTransaction, Transaction,
    TransferId, TxKind,
};

const BLOCK: usize = 10_000;

fn block() -> Vec<SignedTransaction> {
    (0..BLOCK)
        .map(|i| {
            let mut seed = [0u8; 32];
            seed[..8].copy_from_slice(&(i as u64).to_le_bytes());
            let key = Keypair::from_secret_bytes(&seed);
            Transaction {
                chain_id: ChainId([1; 32]),
                sender: key.public(),
                sequence: Nonce(0),
                expiry: Expiry::Height(Height(100)),
                kind: TxKind::Transfer {
                    to: Address([2; 20]),
                    asset: AssetCode::new("CNY").unwrap(),
                    amount: Amount(100),
                    transfer_id: TransferId(i as u128),
                },
                cosigner: None,
                memo: vec![],
            }
            .sign(&key)
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let txs = block();
    let threads = available_threads();
    let mut g = c.benchmark_group("sigverify_10k");
    g.throughput(Throughput::Elements(BLOCK as u64));
    g.sample_size(10);
    g.bench_function("single_one_core", |b| {
        b.iter(|| txs.iter().filter(|t| t.verify_signatures().is_ok()).count())
    });
    g.bench_function("batch_one_core", |b| b.iter(|| verify_serial(&txs)));
    g.bench_function(format!("batch_{threads}_threads"), |b| {
        b.iter(|| verify_parallel(&txs, threads))
    });
    // An attacker's block: one bad signature in every 256.
    let mut poisoned = txs.clone();
    for tx in poisoned.iter_mut().step_by(256) {
        tx.signature.0[0] ^= 1;
    }
    g.bench_function(format!("batch_{threads}_threads_one_bad_in_256"), |b| {
        b.iter(|| verify_parallel(&poisoned, threads))
    });
    g.bench_function("batch_1_thread_via_parallel", |b| {
        b.iter_batched(
            || (),
            |_| verify_parallel(&txs, NonZeroUsize::MIN),
            BatchSize::SmallInput,
        )
    });
    g.finish();

    // What a signature costs in batches of a given size, on one core: the
    // admission verifier checks whatever has arrived together, which
    // under a light or spread load is a few transactions at a time.
    let mut g = c.benchmark_group("sigverify_by_batch_size");
    g.throughput(Throughput::Elements(1_024));
    g.sample_size(10);
    for size in [4usize, 16, 32, 64, 128, 256] {
        g.bench_function(format!("batch_of_{size}_one_core"), |b| {
            b.iter(|| {
                txs[..1_024]
                    .chunks(size)
                    .map(|c| verify_serial(c).valid.len())
                    .sum::<usize>()
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

//! Executing a block of 10,000 transfers in memory: with signatures already
//! verified (the pipeline's case: the node batch-verifies at admission),
//! with single signature checks inside execution, and the state commitment
//! (the state tree's update) of the block's changes.
//!
//! The same for a block of 10,000 holds and then one of their 10,000
//! captures (a two-phase payment: issue 26 bounds the pair at twice a
//! transfer).
//!
//! `state_commit` is `prepare_commit`: the changes ordered by key hash,
//! encoded and hashed, and the state tree's update (issue 28: 188 ms with
//! the Jellyfish tree before it, ~40 ms with `hutong_runtime::tree`).
//!
//! Run: `cargo bench -p hutong-runtime --bench execute`

#[path = "../tests/common/mod.rs"]
mod common;

use common::*;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use hutong_runtime::store::prepare_commit;
use hutong_runtime::{execute_block, Preverified, SignatureCheck, SignedTransaction, TxKind};
use rand::{Rng, SeedableRng};

const BLOCK: usize = 10_000;
const ACCOUNTS: usize = 20_000;

fn setup() -> (Chain, Vec<SignedTransaction>) {
    let chain = Chain::new(ACCOUNTS, 1);
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(2);
    // One transfer from each of 10,000 distinct senders to random
    // recipients, within every tier's limits.
    let txs = (0..BLOCK)
        .map(|i| {
            let to = addr(&chain.customers[rng.gen_range(0..ACCOUNTS)]);
            let to = if to == addr(&chain.customers[i]) {
                addr(&chain.bank_a)
            } else {
                to
            };
            chain.transfer(
                &chain.customers[i],
                to,
                cny(),
                rng.gen_range(1..1_000),
                i as u128,
            )
        })
        .collect();
    (chain, txs)
}

fn bench(c: &mut Criterion) {
    let (chain, txs) = setup();
    let ctx = chain.context();
    let pre = Preverified::compute(&txs);
    let outcome =
        execute_block(&chain.store, &ctx, &txs, SignatureCheck::Preverified(&pre)).unwrap();
    assert!(
        outcome.receipts.iter().all(|r| r.is_success()),
        "the benchmark block must succeed"
    );

    let mut g = c.benchmark_group("execute_10k_transfers");
    g.throughput(Throughput::Elements(BLOCK as u64));
    g.sample_size(10);
    g.bench_function("preverified", |b| {
        b.iter(|| {
            execute_block(&chain.store, &ctx, &txs, SignatureCheck::Preverified(&pre)).unwrap()
        })
    });
    g.bench_function("single_signature_checks", |b| {
        b.iter(|| execute_block(&chain.store, &ctx, &txs, SignatureCheck::Verify).unwrap())
    });
    g.bench_function("state_commit", |b| {
        b.iter(|| prepare_commit(&chain.store, ctx.height.0, outcome.changes.clone()).unwrap())
    });
    g.finish();
}

/// A block of holds from the same senders as [`setup`]'s transfers, the
/// chain with it committed, and the block of their captures (by the payer,
/// as `hutong bench --workload holds` does).
fn setup_holds(chain: &mut Chain) -> (Vec<SignedTransaction>, Vec<SignedTransaction>) {
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(3);
    let expires_at = hutong_runtime::TimestampMs(chain.time + 3_600_000);
    let payees: Vec<_> = (0..BLOCK)
        .map(|i| {
            let to = addr(&chain.customers[rng.gen_range(0..ACCOUNTS)]);
            if to == addr(&chain.customers[i]) {
                addr(&chain.bank_a)
            } else {
                to
            }
        })
        .collect();
    let holds: Vec<_> = (0..BLOCK)
        .map(|i| {
            chain.tx(
                &chain.customers[i],
                TxKind::Hold {
                    to: payees[i],
                    asset: cny(),
                    amount: hutong_runtime::Amount(rng.gen_range(1..1_000)),
                    hold_id: hutong_runtime::TransferId(i as u128),
                    expires_at,
                },
            )
        })
        .collect();
    let receipts = chain.execute(&holds);
    assert!(
        receipts.iter().all(|r| r.is_success()),
        "holds must succeed"
    );
    let captures = (0..BLOCK)
        .map(|i| {
            chain.tx(
                &chain.customers[i],
                TxKind::Capture {
                    payer: addr(&chain.customers[i]),
                    hold_id: hutong_runtime::TransferId(i as u128),
                    amount: hutong_runtime::Amount(1),
                },
            )
        })
        .collect();
    (holds, captures)
}

fn bench_holds(c: &mut Criterion) {
    let chain = Chain::new(ACCOUNTS, 1);
    let holds_ctx = chain.context();
    let mut after = Chain::new(ACCOUNTS, 1);
    let (holds, captures) = setup_holds(&mut after);
    let capture_ctx = after.context();
    for (name, chain, ctx, txs) in [
        ("execute_10k_holds", &chain, holds_ctx, &holds),
        ("execute_10k_captures", &after, capture_ctx, &captures),
    ] {
        let pre = Preverified::compute(txs);
        let outcome =
            execute_block(&chain.store, &ctx, txs, SignatureCheck::Preverified(&pre)).unwrap();
        assert!(
            outcome.receipts.iter().all(|r| r.is_success()),
            "the benchmark block must succeed"
        );
        let mut g = c.benchmark_group(name);
        g.throughput(Throughput::Elements(BLOCK as u64));
        g.sample_size(10);
        g.bench_function("preverified", |b| {
            b.iter(|| {
                execute_block(&chain.store, &ctx, txs, SignatureCheck::Preverified(&pre)).unwrap()
            })
        });
        g.bench_function("state_commit", |b| {
            b.iter(|| prepare_commit(&chain.store, ctx.height.0, outcome.changes.clone()).unwrap())
        });
        g.finish();
    }
}

criterion_group!(benches, bench, bench_holds);
criterion_main!(benches);

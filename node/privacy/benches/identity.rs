//! The regulator's side of identity tags, per request: one evaluation
//! (one blinded identity, one proof), a batch of 64 under one proof, and
//! opening an identity envelope (what its node does for each account
//! opened). `cargo bench -p hutong-privacy --bench identity`.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use hutong_privacy::envelope::{open_identity, seal_identity};
use hutong_privacy::keys::IdentityKeys;
use hutong_privacy::oprf::{blind, identity_input, BATCH_MAX};
use rand::SeedableRng;

fn bench(c: &mut Criterion) {
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(7);
    let keys = IdentityKeys::from_seed(&[1; 32]).expect("a key");
    let blinded: Vec<[u8; 32]> = (0..BATCH_MAX)
        .map(|i| {
            let input = identity_input(&format!("CN_RIC:1101011990030{i:05}")).expect("valid");
            blind(&input, &mut rng).expect("blinds").1
        })
        .collect();
    let mut g = c.benchmark_group("identity");
    g.throughput(Throughput::Elements(1));
    g.bench_function("evaluate_one", |b| {
        b.iter(|| {
            keys.oprf
                .evaluate(&blinded[..1], &mut rng)
                .expect("evaluates")
        })
    });
    g.throughput(Throughput::Elements(BATCH_MAX as u64));
    g.bench_function("evaluate_batch_64", |b| {
        b.iter(|| keys.oprf.evaluate(&blinded, &mut rng).expect("evaluates"))
    });
    g.throughput(Throughput::Elements(1));
    g.bench_function("blind_and_finalize_one", |b| {
        let input = identity_input("CN_RIC:110101199003074514").expect("valid");
        let pk = keys.oprf.public_key();
        b.iter_batched(
            || {
                let (state, e) = blind(&input, &mut rng).expect("blinds");
                let answer = keys.oprf.evaluate(&[e], &mut rng).expect("evaluates");
                (state, answer)
            },
            |(state, answer)| {
                hutong_privacy::oprf::finalize(&[state], &[&input], &answer, &pk).expect("verifies")
            },
            BatchSize::SmallInput,
        )
    });
    let tag = keys.oprf.tag_of(b"x").expect("a tag");
    let (env, commitment) = seal_identity(
        &keys.hpke.public_key(),
        &[7; 32],
        &[8; 32],
        &tag,
        &[9; 32],
        &mut rng,
    )
    .expect("seals");
    g.bench_function("open_identity_envelope", |b| {
        b.iter(|| open_identity(&keys.hpke, &[7; 32], &[8; 32], &env, &commitment).expect("opens"))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

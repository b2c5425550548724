//! Happy-path throughput of the consensus state machine alone, with real
//! ed25519 signatures (ed25519-dalek signing, ed25519-zebra ZIP-215
//! verification): four replicas in one thread, messages delivered at once,
//! no timers. It measures how many rounds per second of CPU the protocol
//! logic and its signatures cost, so we know consensus is never the
//! bottleneck.
//!
//! Run: `cargo bench -p hutong-tests --bench consensus`

use std::collections::VecDeque;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ed25519_dalek::Signer as _;
use hutong_consensus::core::{Config, Consensus, Signer};
use hutong_consensus::messages::{Action, Event};
use hutong_consensus::types::{Digest, Epoch, SignatureBytes, ValidatorId};
use hutong_consensus::validators::{ValidatorSet, Verifier};

struct Ed25519Signer(ed25519_dalek::SigningKey);

impl Signer for Ed25519Signer {
    fn sign(&self, message: &Digest) -> SignatureBytes {
        SignatureBytes(self.0.sign(&message.0).to_bytes())
    }
}

struct Zip215;

impl Verifier for Zip215 {
    fn verify(&self, key: &[u8; 32], message: &Digest, signature: &SignatureBytes) -> bool {
        ed25519_zebra::VerificationKey::try_from(*key)
            .and_then(|vk| {
                vk.verify(
                    &ed25519_zebra::Signature::from_bytes(&signature.0),
                    &message.0,
                )
            })
            .is_ok()
    }
}

const N: usize = 4;

/// Runs a fresh cluster until every replica committed `blocks` blocks.
fn run(blocks: u64) -> u64 {
    let keys: Vec<ed25519_dalek::SigningKey> = (0..N)
        .map(|i| ed25519_dalek::SigningKey::from_bytes(&[i as u8 + 1; 32]))
        .collect();
    let set = ValidatorSet::new(
        Epoch(1),
        keys.iter().map(|k| k.verifying_key().to_bytes()).collect(),
        Digest([0; 32]),
    )
    .unwrap();
    let mut nodes: Vec<_> = keys
        .into_iter()
        .enumerate()
        .map(|(i, k)| {
            Consensus::new(
                ValidatorId(i as u16),
                set.clone(),
                Ed25519Signer(k),
                Zip215,
                Config::default(),
            )
        })
        .collect();
    let mut queue: VecDeque<(usize, Event)> = (0..N).map(|i| (i, Event::Start)).collect();
    let mut committed = [0u64; N];
    while let Some((to, event)) = queue.pop_front() {
        for action in nodes[to].handle(event) {
            match action {
                Action::Send { to: dest, message } => queue.push_back((
                    usize::from(dest.0),
                    Event::Message {
                        from: ValidatorId(to as u16),
                        message,
                    },
                )),
                Action::Broadcast(message) => {
                    for dest in (0..N).filter(|d| *d != to) {
                        queue.push_back((
                            dest,
                            Event::Message {
                                from: ValidatorId(to as u16),
                                message: message.clone(),
                            },
                        ));
                    }
                }
                Action::NeedPayload { round, .. } => queue.push_back((
                    to,
                    Event::PayloadReady {
                        round,
                        payload: Digest([round.0 as u8; 32]),
                        timestamp_ms: round.0,
                    },
                )),
                Action::CheckPayload { block } => queue.push_back((
                    to,
                    Event::PayloadChecked {
                        block_id: block.id(),
                        valid: true,
                    },
                )),
                Action::Commit { blocks: b, .. } => committed[to] += b.len() as u64,
                _ => {}
            }
        }
        if committed.iter().all(|c| *c >= blocks) {
            break;
        }
    }
    committed.iter().copied().min().unwrap_or(0)
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("consensus_happy_path_4_replicas");
    g.throughput(Throughput::Elements(200));
    g.sample_size(10);
    g.bench_function("200_rounds_real_ed25519", |b| {
        b.iter(|| assert!(run(200) >= 200))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

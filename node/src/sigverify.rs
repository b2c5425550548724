//! Signature verification of many transactions at once: ZIP-215 batch
//! verification, split over threads.
//!
//! A batch check costs far less per signature than single checks, and
//! under ZIP-215 its verdict equals the single verdicts: a batch passes if
//! and only if every signature in it is valid. When a batch fails, its
//! chunk is re-checked one by one to find the bad signatures, so an
//! attacker who slips in one bad signature costs at most one chunk of
//! single checks.
//!
//! Batch coefficients must be unpredictable to whoever made the
//! signatures, so they come from the thread-local CSPRNG here; this is why
//! batch verification lives in the node and not in the pure runtime.

use std::num::NonZeroUsize;

use hutong_runtime::{Address, Hash, Preverified, SignedTransaction};

/// Signatures per batch: large enough to amortise the multiscalar
/// multiplication, small enough that a failed batch is cheap to redo.
pub const CHUNK_SIGNATURES: usize = 256;

/// Hashes every transaction, derives its sender's address and verifies its
/// signatures (the sender's and, if present, the co-signature); returns
/// them per transaction, in order. Uses up to `threads` threads.
pub fn verify_parallel(txs: &[SignedTransaction], threads: NonZeroUsize) -> Preverified {
    let mut out = empty(txs.len());
    if txs.is_empty() {
        return out;
    }
    let per_thread = txs.len().div_ceil(threads.get());
    let chunk = per_thread.clamp(1, CHUNK_SIGNATURES);
    std::thread::scope(|scope| {
        let mut parts = txs
            .chunks(per_thread)
            .zip(out.hashes.chunks_mut(per_thread))
            .zip(out.senders.chunks_mut(per_thread))
            .zip(out.valid.chunks_mut(per_thread));
        // The calling thread takes the first share itself.
        let first = parts.next();
        for (((part, hashes), senders), valid) in parts {
            scope.spawn(move || verify_slice(part, hashes, senders, valid, chunk));
        }
        if let Some((((part, hashes), senders), valid)) = first {
            verify_slice(part, hashes, senders, valid, chunk);
        }
    });
    out
}

/// Verifies on the calling thread only.
pub fn verify_serial(txs: &[SignedTransaction]) -> Preverified {
    let mut out = empty(txs.len());
    verify_slice(
        txs,
        &mut out.hashes,
        &mut out.senders,
        &mut out.valid,
        CHUNK_SIGNATURES,
    );
    out
}

fn empty(n: usize) -> Preverified {
    Preverified {
        hashes: vec![Hash::ZERO; n],
        senders: vec![Address::default(); n],
        valid: vec![false; n],
    }
}

fn verify_slice(
    txs: &[SignedTransaction],
    hashes: &mut [Hash],
    senders: &mut [Address],
    valid: &mut [bool],
    chunk: usize,
) {
    for ((h, a), tx) in hashes.iter_mut().zip(senders.iter_mut()).zip(txs) {
        *h = tx.hash();
        *a = tx.tx.sender_address();
    }
    for ((part, hashes), verdicts) in txs
        .chunks(chunk)
        .zip(hashes.chunks(chunk))
        .zip(valid.chunks_mut(chunk))
    {
        if verify_batch(part, hashes) {
            verdicts.fill(true);
        } else {
            for ((tx, h), v) in part.iter().zip(hashes).zip(verdicts.iter_mut()) {
                *v = tx.verify_signatures_with(h).is_ok();
            }
        }
    }
}

/// Whether every signature of every transaction in `txs` is valid;
/// `hashes[i]` must be `txs[i].hash()`.
pub fn verify_batch(txs: &[SignedTransaction], hashes: &[Hash]) -> bool {
    let mut batch = ed25519_zebra::batch::Verifier::new();
    // The messages must outlive the batch, which borrows them.
    let mut items = Vec::with_capacity(txs.len() + txs.len() / 8);
    for (tx, h) in txs.iter().zip(hashes) {
        match tx.signature_items(h) {
            Some(it) => items.extend(it),
            // A co-signature that does not match the body: the batch
            // fails, and the single checks name the culprit.
            None => return false,
        }
    }
    for (key, msg, sig) in &items {
        batch.queue((
            ed25519_zebra::VerificationKeyBytes::from(key.0),
            ed25519_zebra::Signature::from_bytes(&sig.0),
            &msg.0[..],
        ));
    }
    batch.verify(rand::thread_rng()).is_ok()
}

/// Jobs waiting for the admission verifier; beyond this, admission
/// answers "busy" without checking anything.
pub const QUEUE_JOBS_MAX: usize = 1_024;

/// Most transactions verified in one round of the admission verifier.
const ROUND_TXS_MAX: usize = 8_192;

/// Below this many transactions a round runs on the verifier's own thread:
/// spawning helpers costs more than it saves.
const SERIAL_BELOW: usize = 32;

/// Why the admission verifier did not give verdicts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("{QUEUE_JOBS_MAX} verifications already queued")]
    Busy,
    #[error("the verifier thread has stopped")]
    Stopped,
}

/// Admission's signature checks, coalesced. Every admission (a client's
/// call of a few transactions, a peer's shared batch) queues a job; one
/// thread takes every job queued so far and verifies them together as one
/// parallel batch, so many small concurrent calls cost what one large call
/// costs: one multiscalar multiplication per chunk, not one per call, and
/// no threads spawned per call. While a round runs the next one gathers.
#[derive(Debug, Clone)]
pub struct AdmissionVerifier {
    jobs: tokio::sync::mpsc::Sender<Job>,
}

#[derive(Debug)]
struct Job {
    txs: Vec<SignedTransaction>,
    reply: tokio::sync::oneshot::Sender<Vec<bool>>,
}

impl AdmissionVerifier {
    /// Starts the verifier thread; it ends when every handle is dropped.
    pub fn start(threads: NonZeroUsize) -> std::io::Result<AdmissionVerifier> {
        let (jobs, rx) = tokio::sync::mpsc::channel(QUEUE_JOBS_MAX);
        std::thread::Builder::new()
            .name("hutong-verify".into())
            .spawn(move || verifier_loop(rx, threads))?;
        Ok(AdmissionVerifier { jobs })
    }

    /// Whether each transaction's signatures are valid, in order.
    pub async fn verify(&self, txs: Vec<SignedTransaction>) -> Result<Vec<bool>, VerifyError> {
        if txs.is_empty() {
            return Ok(Vec::new());
        }
        let (reply, verdicts) = tokio::sync::oneshot::channel();
        self.jobs
            .try_send(Job { txs, reply })
            .map_err(|e| match e {
                tokio::sync::mpsc::error::TrySendError::Full(_) => VerifyError::Busy,
                tokio::sync::mpsc::error::TrySendError::Closed(_) => VerifyError::Stopped,
            })?;
        verdicts.await.map_err(|_| VerifyError::Stopped)
    }
}

fn verifier_loop(mut rx: tokio::sync::mpsc::Receiver<Job>, threads: NonZeroUsize) {
    while let Some(first) = rx.blocking_recv() {
        let mut total = first.txs.len();
        let mut round = vec![first];
        while total < ROUND_TXS_MAX {
            match rx.try_recv() {
                Ok(job) => {
                    total += job.txs.len();
                    round.push(job);
                }
                Err(_) => break,
            }
        }
        let mut all = Vec::with_capacity(total);
        let mut replies = Vec::with_capacity(round.len());
        for job in round {
            replies.push((job.txs.len(), job.reply));
            all.extend(job.txs);
        }
        let valid = if all.len() < SERIAL_BELOW {
            verify_serial(&all).valid
        } else {
            verify_parallel(&all, threads).valid
        };
        let mut valid = valid.into_iter();
        for (n, reply) in replies {
            // A caller that gave up (its connection closed) drops its end.
            let _ = reply.send(valid.by_ref().take(n).collect());
        }
    }
}

/// The number of threads to use: what the machine offers.
pub fn available_threads() -> NonZeroUsize {
    std::thread::available_parallelism().unwrap_or(NonZeroUsize::MIN)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hutong_runtime::tx::Expiry;
    use hutong_runtime::{
        Address, Amount, AssetCode, ChainId, Height, Keypair, Nonce, Transaction, TransferId,
        TxKind,
    };
    use rand::{Rng, SeedableRng};

    fn txs(n: usize, seed: u64) -> Vec<SignedTransaction> {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(seed);
        (0..n)
            .map(|i| {
                let key = Keypair::from_secret_bytes(&rng.gen());
                let stx = Transaction {
                    chain_id: ChainId([1; 32]),
                    sender: key.public(),
                    sequence: Nonce(i as u64),
                    expiry: Expiry::Height(Height(10)),
                    kind: TxKind::Transfer {
                        to: Address([2; 20]),
                        asset: AssetCode::new("CNY").unwrap(),
                        amount: Amount(5),
                        transfer_id: TransferId(i as u128),
                    },
                    cosigner: None,
                    memo: vec![],
                }
                .sign(&key);
                if i % 7 == 0 {
                    let mut body = stx.tx;
                    body.cosigner = None;
                    body.sign_cosigned(&key, &Keypair::from_secret_bytes(&[7; 32]))
                } else {
                    stx
                }
            })
            .collect()
    }

    #[test]
    fn parallel_batch_verdicts_equal_single_verdicts() {
        let seed: u64 = std::env::var("HUTONG_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(7);
        println!("seed {seed} (replay with HUTONG_SEED={seed})");
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(seed);
        let mut all = txs(1_000, seed);
        // Corrupt a few signatures and co-signatures at random places.
        for _ in 0..9 {
            let i = rng.gen_range(0..all.len());
            if let (true, Some(co)) = (rng.gen_bool(0.5), all[i].cosignature.as_mut()) {
                co.0[3] ^= 1;
            } else if rng.gen_bool(0.2) {
                // Strip the co-signature, or add one the body does not name.
                all[i].cosignature = match all[i].cosignature {
                    Some(_) => None,
                    None => Some(all[i].signature),
                };
            } else {
                all[i].signature.0[rng.gen_range(0..64)] ^= 0x10;
            }
        }
        let single: Vec<bool> = all.iter().map(|t| t.verify_signatures().is_ok()).collect();
        assert!(
            single.iter().any(|v| !v),
            "seed {seed}: the corruption produced no bad signature"
        );
        let hashes: Vec<Hash> = all.iter().map(|t| t.hash()).collect();
        for threads in [1, 2, 3, 8] {
            let got = verify_parallel(&all, NonZeroUsize::new(threads).unwrap());
            assert_eq!(got.valid, single, "seed {seed}, {threads} threads");
            assert_eq!(got.hashes, hashes, "seed {seed}, {threads} threads");
            assert_eq!(
                got,
                Preverified::compute(&all),
                "seed {seed}, {threads} threads"
            );
        }
        assert_eq!(verify_serial(&all).valid, single);
        // The admission verifier, fed the same transactions as many small
        // concurrent jobs of different sizes, answers each job its own
        // verdicts.
        let verifier = AdmissionVerifier::start(NonZeroUsize::new(2).unwrap()).unwrap();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let mut jobs = Vec::new();
        let mut at = 0;
        while at < all.len() {
            let n = rng.gen_range(1..=40).min(all.len() - at);
            jobs.push((at, all[at..at + n].to_vec()));
            at += n;
        }
        let sizes: Vec<usize> = jobs.iter().map(|(_, txs)| txs.len()).collect();
        let answers = runtime.block_on(async {
            let tasks: Vec<_> = jobs
                .into_iter()
                .map(|(at, txs)| {
                    let verifier = verifier.clone();
                    tokio::spawn(async move { (at, verifier.verify(txs).await) })
                })
                .collect();
            let mut answers = Vec::new();
            for t in tasks {
                answers.push(t.await.unwrap());
            }
            answers
        });
        assert_eq!(answers.len(), sizes.len());
        for ((at, got), n) in answers.into_iter().zip(sizes) {
            let got = got.unwrap();
            assert_eq!(got, single[at..at + n], "seed {seed}, job at {at}");
        }
        assert!(verify_parallel(&[], NonZeroUsize::MIN).valid.is_empty());
    }
}

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
//! The batch equation is ed25519-zebra's, computed here so that senders'
//! keys, decompressed once, are reused from batch to batch ([`KEYS`]);
//! single checks are zebra's own.
//!
//! Batch coefficients must be unpredictable to whoever made the
//! signatures, so they come from the thread-local CSPRNG here; this is why
//! batch verification lives in the node and not in the pure runtime.

use std::num::NonZeroUsize;
use std::sync::Arc;

use hutong_runtime::{Address, Hash, Preverified, SignedTransaction};

use futures::future::BoxFuture;

use crate::status::{Counters, CpuStage};
use crate::util::FastMap;

/// Signatures per batch: large enough to amortise the multiscalar
/// multiplication, small enough that a failed batch is cheap to redo.
pub const CHUNK_SIGNATURES: usize = 256;

/// Hashes every transaction, derives its sender's address and verifies its
/// signatures (the sender's and, if present, the co-signature); returns
/// them per transaction, in order. Uses up to `threads` threads.
pub fn verify_parallel(txs: &[SignedTransaction], threads: NonZeroUsize) -> Preverified {
    verify_parallel_metered(txs, threads, &|work| work())
}

/// [`verify_parallel`], each thread's share run inside `run` (which the
/// node uses to charge the CPU time of every thread, helpers included).
pub fn verify_parallel_metered(
    txs: &[SignedTransaction],
    threads: NonZeroUsize,
    run: &(dyn Fn(&mut dyn FnMut()) + Sync),
) -> Preverified {
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
            scope.spawn(move || run(&mut || verify_slice(part, hashes, senders, valid, chunk)));
        }
        if let Some((((part, hashes), senders), valid)) = first {
            run(&mut || verify_slice(part, hashes, senders, valid, chunk));
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
///
/// The ZIP-215 batch equation of `ed25519_zebra::batch::Verifier`, term
/// for term — `[8](−(Σ zᵢsᵢ)B + Σ zᵢRᵢ + Σ (zᵢkᵢ)Aᵢ) = 0` with 128-bit
/// random `zᵢ`, `kᵢ = SHA-512(Rᵢ ‖ Aᵢ ‖ Mᵢ)` over the bytes as signed, `sᵢ`
/// canonical, points decompressed as curve25519-dalek does (non-canonical
/// encodings accepted) — except that senders' keys come decompressed from
/// [`KEYS`]: decompressing a point costs a field exponentiation, and doing
/// it for every transaction's sender was about 5% of a 4 + 1 node's CPU.
/// The verdict is the same function of the signatures, so it still equals
/// the single verdicts (the test below checks it against the zebra batch
/// and single checks on hostile encodings too).
#[allow(non_snake_case)]
pub fn verify_batch(txs: &[SignedTransaction], hashes: &[Hash]) -> bool {
    use curve25519_dalek::constants::ED25519_BASEPOINT_POINT;
    use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
    use curve25519_dalek::scalar::Scalar;
    use curve25519_dalek::traits::{IsIdentity, VartimeMultiscalarMul};
    use rand::RngCore;
    use sha2::{Digest, Sha512};

    let mut items = Vec::with_capacity(txs.len() + txs.len() / 8);
    for (tx, h) in txs.iter().zip(hashes) {
        match tx.signature_items(h) {
            Some(it) => items.extend(it),
            // A co-signature that does not match the body: the batch
            // fails, and the single checks name the culprit.
            None => return false,
        }
    }
    let keys: Vec<[u8; 32]> = items.iter().map(|(key, _, _)| key.0).collect();
    let Some(points) = KEYS.decompress(&keys) else {
        return false;
    };
    let mut rng = rand::thread_rng();
    // One term per distinct key, as zebra groups them.
    let mut slot: FastMap<[u8; 32], usize> = FastMap::default();
    let mut A_coeffs: Vec<Scalar> = Vec::with_capacity(items.len());
    let mut As: Vec<EdwardsPoint> = Vec::with_capacity(items.len());
    let mut R_coeffs: Vec<Scalar> = Vec::with_capacity(items.len());
    let mut Rs: Vec<EdwardsPoint> = Vec::with_capacity(items.len());
    let mut B_coeff = Scalar::ZERO;
    for ((key, msg, sig), A) in items.iter().zip(points) {
        let mut r_bytes = [0u8; 32];
        r_bytes.copy_from_slice(&sig.0[..32]);
        let mut s_bytes = [0u8; 32];
        s_bytes.copy_from_slice(&sig.0[32..]);
        let Some(R) = CompressedEdwardsY(r_bytes).decompress() else {
            return false;
        };
        let Some(s) = Option::<Scalar>::from(Scalar::from_canonical_bytes(s_bytes)) else {
            return false;
        };
        let k = Scalar::from_hash(
            Sha512::new()
                .chain_update(r_bytes)
                .chain_update(key.0)
                .chain_update(msg.0),
        );
        let mut z = [0u8; 16];
        rng.fill_bytes(&mut z);
        let z = Scalar::from(u128::from_le_bytes(z));
        B_coeff -= z * s;
        Rs.push(R);
        R_coeffs.push(z);
        let i = *slot.entry(key.0).or_insert_with(|| {
            As.push(A);
            A_coeffs.push(Scalar::ZERO);
            As.len() - 1
        });
        A_coeffs[i] += z * k;
    }
    let check = EdwardsPoint::vartime_multiscalar_mul(
        std::iter::once(&B_coeff)
            .chain(A_coeffs.iter())
            .chain(R_coeffs.iter()),
        std::iter::once(&ED25519_BASEPOINT_POINT)
            .chain(As.iter())
            .chain(Rs.iter()),
    );
    check.mul_by_cofactor().is_identity()
}

/// Decompressed public keys of recent signers, for every batch check in
/// the process (a pure cache of a deterministic function: what it holds
/// never changes a verdict, only its cost).
static KEYS: std::sync::LazyLock<KeyCache> = std::sync::LazyLock::new(KeyCache::default);

/// Keys per generation. A key costs ~200 bytes, so the cache holds at most
/// ~13 MB (two generations).
const KEY_CACHE_ENTRIES: usize = 32_768;

/// Two generations: lookups read both, inserts go to the current one, and
/// when it is full it becomes the previous one (the older keys are
/// dropped). Keys used in both generations' time survive the turnover.
#[derive(Default)]
struct KeyCache {
    inner: std::sync::Mutex<KeyGenerations>,
}

#[derive(Default)]
struct KeyGenerations {
    current: FastMap<[u8; 32], curve25519_dalek::edwards::EdwardsPoint>,
    previous: FastMap<[u8; 32], curve25519_dalek::edwards::EdwardsPoint>,
}

impl KeyCache {
    /// Each key's point, or `None` if any key is not a curve point. Takes
    /// the lock twice per batch: once to look up, once to add what was
    /// missing (decompressed outside it).
    fn decompress(
        &self,
        keys: &[[u8; 32]],
    ) -> Option<Vec<curve25519_dalek::edwards::EdwardsPoint>> {
        use curve25519_dalek::edwards::CompressedEdwardsY;
        let mut points: Vec<Option<curve25519_dalek::edwards::EdwardsPoint>> = {
            let cache = self.inner.lock().unwrap_or_else(|p| p.into_inner());
            keys.iter()
                .map(|k| {
                    cache
                        .current
                        .get(k)
                        .or_else(|| cache.previous.get(k))
                        .copied()
                })
                .collect()
        };
        let mut fresh = Vec::new();
        for (key, point) in keys.iter().zip(points.iter_mut()) {
            if point.is_none() {
                let p = CompressedEdwardsY(*key).decompress()?;
                *point = Some(p);
                fresh.push((*key, p));
            }
        }
        if !fresh.is_empty() {
            let mut cache = self.inner.lock().unwrap_or_else(|p| p.into_inner());
            for (key, p) in fresh {
                if cache.current.len() >= KEY_CACHE_ENTRIES {
                    cache.previous = std::mem::take(&mut cache.current);
                }
                cache.current.insert(key, p);
            }
        }
        points.into_iter().collect()
    }
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

/// Checks admitted transactions' signatures: whether each is valid, in
/// order. The node's is [`AdmissionVerifier`]; the simulator's is
/// [`Inline`].
pub trait SignatureCheck: Send + Sync {
    fn verify(
        &self,
        txs: Vec<SignedTransaction>,
    ) -> BoxFuture<'static, Result<Vec<bool>, VerifyError>>;
}

/// Checks on the calling thread, at once (the deterministic simulator).
#[derive(Debug, Clone, Copy, Default)]
pub struct Inline;

impl SignatureCheck for Inline {
    fn verify(
        &self,
        txs: Vec<SignedTransaction>,
    ) -> BoxFuture<'static, Result<Vec<bool>, VerifyError>> {
        let valid = verify_serial(&txs).valid;
        Box::pin(std::future::ready(Ok(valid)))
    }
}

/// Admission's signature checks, coalesced. Every admission (a client's
/// call of a few transactions, a peer's shared batch) queues a job; one
/// thread takes every job queued so far and verifies them together as one
/// parallel batch, so many small concurrent calls cost what one large call
/// costs: one multiscalar multiplication per chunk, not one per call, and
/// no threads spawned per call. While a round runs the next one gathers.
#[derive(Debug, Clone)]
pub struct AdmissionVerifier {
    jobs: std::sync::mpsc::SyncSender<Job>,
}

#[derive(Debug)]
struct Job {
    txs: Vec<SignedTransaction>,
    reply: futures::channel::oneshot::Sender<Vec<bool>>,
}

impl AdmissionVerifier {
    /// Starts the verifier thread; it ends when every handle is dropped.
    pub fn start(threads: NonZeroUsize) -> std::io::Result<AdmissionVerifier> {
        AdmissionVerifier::start_counted(threads, Arc::default())
    }

    /// [`AdmissionVerifier::start`], its CPU time charged to
    /// [`CpuStage::SignatureChecks`] in `counters` (when they have a meter).
    pub fn start_counted(
        threads: NonZeroUsize,
        counters: Arc<Counters>,
    ) -> std::io::Result<AdmissionVerifier> {
        let (jobs, rx) = std::sync::mpsc::sync_channel(QUEUE_JOBS_MAX);
        std::thread::Builder::new()
            .name("hutong-verify".into())
            .spawn(move || verifier_loop(rx, threads, &counters))?;
        Ok(AdmissionVerifier { jobs })
    }

    /// Whether each transaction's signatures are valid, in order.
    pub async fn verify(&self, txs: Vec<SignedTransaction>) -> Result<Vec<bool>, VerifyError> {
        if txs.is_empty() {
            return Ok(Vec::new());
        }
        let (reply, verdicts) = futures::channel::oneshot::channel();
        self.jobs
            .try_send(Job { txs, reply })
            .map_err(|e| match e {
                std::sync::mpsc::TrySendError::Full(_) => VerifyError::Busy,
                std::sync::mpsc::TrySendError::Disconnected(_) => VerifyError::Stopped,
            })?;
        verdicts.await.map_err(|_| VerifyError::Stopped)
    }
}

impl SignatureCheck for AdmissionVerifier {
    fn verify(
        &self,
        txs: Vec<SignedTransaction>,
    ) -> BoxFuture<'static, Result<Vec<bool>, VerifyError>> {
        let this = self.clone();
        Box::pin(async move { AdmissionVerifier::verify(&this, txs).await })
    }
}

fn verifier_loop(rx: std::sync::mpsc::Receiver<Job>, threads: NonZeroUsize, counters: &Counters) {
    while let Ok(first) = rx.recv() {
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
        let run = |work: &mut dyn FnMut()| counters.metered(CpuStage::SignatureChecks, work);
        let valid = if all.len() < SERIAL_BELOW {
            let mut valid = Vec::new();
            run(&mut || valid = verify_serial(&all).valid);
            valid
        } else {
            verify_parallel_metered(&all, threads, &run).valid
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

    /// The batch check as `ed25519_zebra` does it, for comparison.
    fn zebra_batch(txs: &[SignedTransaction]) -> bool {
        let mut batch = ed25519_zebra::batch::Verifier::new();
        let hashes: Vec<Hash> = txs.iter().map(|t| t.hash()).collect();
        let mut items = Vec::new();
        for (tx, h) in txs.iter().zip(&hashes) {
            match tx.signature_items(h) {
                Some(it) => items.extend(it),
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

    /// Our batch check with cached keys gives the verdict zebra's batch
    /// and single checks give, cold and warm, on valid signatures (one key
    /// signing several times too) and on every hostile encoding ZIP-215
    /// has a rule for: a non-canonical `s`, an `R` or key off the curve,
    /// small-order keys and non-canonical key encodings (valid under
    /// ZIP-215 with `s = 0`, which is why `check_strong` refuses to
    /// register such keys).
    #[test]
    fn cached_key_batches_match_zebra_on_hostile_encodings() {
        use curve25519_dalek::edwards::CompressedEdwardsY;
        use hutong_runtime::{PublicKey, Signature};

        let good = txs(40, 11);
        let mut repeated = txs(3, 12);
        let key = Keypair::from_secret_bytes(&[5; 32]);
        for i in 0..3u64 {
            let mut body = repeated[0].tx.clone();
            body.sender = key.public();
            body.cosigner = None;
            body.sequence = Nonce(100 + i);
            repeated.push(body.sign(&key));
        }
        // s + l: the same point equation, a non-canonical scalar.
        let mut big_s = good[1].clone();
        // The group order l = 2^252 + 27742317777372353535851937790883648493.
        let l: [u8; 32] = [
            0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9,
            0xde, 0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
        ];
        let mut carry = 0u16;
        for (byte, l) in big_s.signature.0[32..].iter_mut().zip(l) {
            let sum = u16::from(*byte) + u16::from(l) + carry;
            *byte = sum as u8;
            carry = sum >> 8;
        }
        assert_eq!(carry, 0);
        // Bytes that are no curve point.
        let off_curve = (2u8..)
            .map(|y| {
                let mut b = [0u8; 32];
                b[0] = y;
                b
            })
            .find(|b| CompressedEdwardsY(*b).decompress().is_none())
            .expect("some y is off the curve");
        let mut bad_r = good[2].clone();
        bad_r.signature.0[..32].copy_from_slice(&off_curve);
        let mut bad_key = good[3].clone();
        bad_key.tx.sender = PublicKey(off_curve);
        // The identity as key and R, s = 0: valid on any message under
        // ZIP-215; likewise with the identity's non-canonical encoding
        // y = p + 1.
        let identity = {
            let mut b = [0u8; 32];
            b[0] = 1;
            b
        };
        let mut non_canonical_identity = [0xffu8; 32];
        non_canonical_identity[0] = 0xee;
        non_canonical_identity[31] = 0x7f;
        let weak = |key: [u8; 32]| {
            let mut t = good[4].clone();
            t.tx.sender = PublicKey(key);
            t.tx.cosigner = None;
            t.cosignature = None;
            let mut sig = [0u8; 64];
            sig[..32].copy_from_slice(&identity);
            t.signature = Signature(sig);
            t
        };
        let mut flipped = good[5].clone();
        flipped.signature.0[40] ^= 1;

        let cases: Vec<(&str, bool, Vec<SignedTransaction>)> = vec![
            ("valid", true, good.clone()),
            ("one key, several signatures", true, repeated),
            (
                "one bad signature",
                false,
                [good[..9].to_vec(), vec![flipped]].concat(),
            ),
            ("s + l", false, [good[..9].to_vec(), vec![big_s]].concat()),
            (
                "R off the curve",
                false,
                [good[..5].to_vec(), vec![bad_r]].concat(),
            ),
            (
                "key off the curve",
                false,
                [good[..5].to_vec(), vec![bad_key]].concat(),
            ),
            (
                "small-order key, s = 0",
                true,
                [good[..5].to_vec(), vec![weak(identity)]].concat(),
            ),
            (
                "non-canonical key encoding",
                true,
                [good[..5].to_vec(), vec![weak(non_canonical_identity)]].concat(),
            ),
        ];
        for (name, valid, txs) in &cases {
            let single = txs.iter().all(|t| t.verify_signatures().is_ok());
            assert_eq!(single, *valid, "{name}: single checks");
            assert_eq!(zebra_batch(txs), single, "{name}: zebra's batch");
            let hashes: Vec<Hash> = txs.iter().map(|t| t.hash()).collect();
            // Twice: the second time the keys come from the cache.
            for pass in ["cold", "warm"] {
                assert_eq!(verify_batch(txs, &hashes), single, "{name} ({pass})");
            }
        }
    }

    #[test]
    fn parallel_batch_verdicts_equal_single_verdicts() {
        let seed = hutong_testkit::seed_or(7);
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
        let mut jobs = Vec::new();
        let mut at = 0;
        while at < all.len() {
            let n = rng.gen_range(1..=40).min(all.len() - at);
            jobs.push((at, all[at..at + n].to_vec()));
            at += n;
        }
        let sizes: Vec<usize> = jobs.iter().map(|(_, txs)| txs.len()).collect();
        // Every job is queued before any answer is awaited: the verifier
        // thread coalesces them into rounds.
        let answers = futures::executor::block_on(futures::future::join_all(jobs.into_iter().map(
            |(at, txs)| {
                let verifier = verifier.clone();
                async move { (at, verifier.verify(txs).await) }
            },
        )));
        assert_eq!(answers.len(), sizes.len());
        for ((at, got), n) in answers.into_iter().zip(sizes) {
            let got = got.unwrap();
            assert_eq!(got, single[at..at + n], "seed {seed}, job at {at}");
        }
        assert!(verify_parallel(&[], NonZeroUsize::MIN).valid.is_empty());
    }
}

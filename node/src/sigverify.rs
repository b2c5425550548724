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
        assert!(verify_parallel(&[], NonZeroUsize::MIN).valid.is_empty());
    }
}

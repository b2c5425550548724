//! Signature validity is a consensus rule: single and batch verification
//! must agree on every input. These tests craft the inputs where ed25519
//! implementations are known to disagree (small-order and mixed-order keys
//! and nonces, non-canonical encodings) and check that the runtime's single
//! check and a ZIP-215 batch check give the same verdict on each.

use curve25519_dalek::constants::{ED25519_BASEPOINT_POINT as B, EIGHT_TORSION};
use curve25519_dalek::{EdwardsPoint, Scalar};
use hutong_runtime::{PublicKey, Signature};
use rand::{RngCore, SeedableRng};
use sha2::{Digest, Sha512};

struct Item {
    what: String,
    key: [u8; 32],
    sig: [u8; 64],
    msg: Vec<u8>,
}

fn challenge(r: &[u8; 32], a: &[u8; 32], msg: &[u8]) -> Scalar {
    let mut h = Sha512::new();
    h.update(r);
    h.update(a);
    h.update(msg);
    Scalar::from_bytes_mod_order_wide(&h.finalize().into())
}

fn sig_bytes(r: &[u8; 32], s: &Scalar) -> [u8; 64] {
    let mut out = [0u8; 64];
    out[..32].copy_from_slice(r);
    out[32..].copy_from_slice(s.as_bytes());
    out
}

/// The identity point encoded with y = p + 1 instead of 1: a non-canonical
/// encoding that ZIP-215 accepts.
fn non_canonical_identity() -> [u8; 32] {
    let mut y = [0xffu8; 32];
    y[0] = 0xee;
    y[31] = 0x7f;
    y
}

fn crafted(seed: u64) -> Vec<Item> {
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(seed);
    let mut items = Vec::new();
    let msg = b"hutong crafted".to_vec();

    // Small-order key and small-order nonce with s = 0: valid under the
    // cofactored (ZIP-215) equation for every pair.
    for (i, a) in EIGHT_TORSION.iter().enumerate() {
        for (j, r) in EIGHT_TORSION.iter().enumerate() {
            let (a, r) = (a.compress().to_bytes(), r.compress().to_bytes());
            items.push(Item {
                what: format!("small-order A=T{i} R=T{j} s=0"),
                key: a,
                sig: sig_bytes(&r, &Scalar::ZERO),
                msg: msg.clone(),
            });
        }
    }
    // Mixed-order key A = aB + T: a correct signature passes the cofactored
    // check, but the cofactorless check only when k·T = 0.
    for (i, t) in EIGHT_TORSION.iter().enumerate() {
        let mut wide = [0u8; 64];
        rng.fill_bytes(&mut wide);
        let a = Scalar::from_bytes_mod_order_wide(&wide);
        rng.fill_bytes(&mut wide);
        let r = Scalar::from_bytes_mod_order_wide(&wide);
        let a_point: EdwardsPoint = a * B + t;
        let a_bytes = a_point.compress().to_bytes();
        let r_bytes = (r * B).compress().to_bytes();
        let k = challenge(&r_bytes, &a_bytes, &msg);
        items.push(Item {
            what: format!("mixed-order A=aB+T{i}"),
            key: a_bytes,
            sig: sig_bytes(&r_bytes, &(r + k * a)),
            msg: msg.clone(),
        });
        // And the same with a torsion component in R.
        let r_mixed = (r * B + t).compress().to_bytes();
        let k = challenge(&r_mixed, &a_bytes, &msg);
        items.push(Item {
            what: format!("mixed-order A=aB+T{i}, R=rB+T{i}"),
            key: a_bytes,
            sig: sig_bytes(&r_mixed, &(r + k * a)),
            msg: msg.clone(),
        });
    }
    // Non-canonical encoding of the identity as key and as R.
    let nc = non_canonical_identity();
    items.push(Item {
        what: "non-canonical identity A and R, s=0".into(),
        key: nc,
        sig: sig_bytes(&nc, &Scalar::ZERO),
        msg: msg.clone(),
    });
    // An honest signature, and broken variants of it.
    let key = hutong_runtime::Keypair::from_secret_bytes(&[5; 32]);
    let good = key.sign(&msg);
    items.push(Item {
        what: "honest".into(),
        key: key.public().0,
        sig: good.0,
        msg: msg.clone(),
    });
    let mut flipped = good.0;
    flipped[10] ^= 4;
    items.push(Item {
        what: "flipped R bit".into(),
        key: key.public().0,
        sig: flipped,
        msg: msg.clone(),
    });
    let mut big_s = good.0;
    big_s[63] |= 0xf0; // s >= l: non-canonical scalar, rejected by ZIP-215
    items.push(Item {
        what: "s not reduced".into(),
        key: key.public().0,
        sig: big_s,
        msg: msg.clone(),
    });
    items.push(Item {
        what: "other message".into(),
        key: key.public().0,
        sig: good.0,
        msg: b"other".to_vec(),
    });
    items
}

fn single(item: &Item) -> bool {
    PublicKey(item.key)
        .verify(&item.msg, &Signature(item.sig))
        .is_ok()
}

fn batch(items: &[&Item]) -> bool {
    let mut v = ed25519_zebra::batch::Verifier::new();
    for item in items {
        let vk = ed25519_zebra::VerificationKeyBytes::from(item.key);
        v.queue((
            vk,
            ed25519_zebra::Signature::from_bytes(&item.sig),
            &item.msg,
        ));
    }
    v.verify(rand::rngs::OsRng).is_ok()
}

#[test]
fn single_and_batch_agree_on_crafted_signatures() {
    let seed = hutong_testkit::seed_or(0x5eed);
    let items = crafted(seed);
    let mut accepted = 0;
    for item in &items {
        let one = single(item);
        // Batches are randomised: check several times.
        for _ in 0..4 {
            assert_eq!(
                batch(&[item]),
                one,
                "single and batch disagree on {}",
                item.what
            );
        }
        accepted += usize::from(one);
    }
    // Every small-order and mixed-order case is valid under ZIP-215.
    assert_eq!(accepted, items.len() - 3, "seed {seed}");

    // A batch of all valid items passes; adding any invalid one fails it.
    let valid: Vec<&Item> = items.iter().filter(|i| single(i)).collect();
    assert!(batch(&valid));
    for bad in items.iter().filter(|i| !single(i)) {
        let mut mixed = valid.clone();
        mixed.push(bad);
        assert!(!batch(&mixed), "batch accepted {}", bad.what);
    }
}

/// Why the runtime does not verify with ed25519-dalek: its strict check
/// rejects inputs that the ZIP-215 rules (and so any batch check) accept.
#[test]
fn dalek_strict_check_would_disagree() {
    let items = crafted(1);
    let disagree = items
        .iter()
        .filter(|item| {
            let strict = ed25519_dalek::VerifyingKey::from_bytes(&item.key)
                .map(|vk| {
                    vk.verify_strict(&item.msg, &ed25519_dalek::Signature::from_bytes(&item.sig))
                        .is_ok()
                })
                .unwrap_or(false);
            strict != single(item)
        })
        .count();
    assert!(disagree > 0);
}

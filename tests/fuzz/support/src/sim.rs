//! A fast stand-in for ed25519, as in the simulator (`tests/src/sim.rs`): a
//! signature is a keyed hash of the message, and the verifier knows every
//! validator's secret. Only the holder of a secret can sign for its key, so
//! a fuzz input cannot forge an honest validator's signature; the harness
//! signs for the one Byzantine validator it plays.

use hutong_consensus::core::Signer;
use hutong_consensus::types::{Digest, Epoch, SignatureBytes, ValidatorId};
use hutong_consensus::validators::{ValidatorSet, Verifier};
use sha2::{Digest as _, Sha256};

/// Validators in the fuzzed epoch: n = 3f + 1 with f = 1.
pub const VALIDATORS: usize = 4;

pub fn secret(i: usize) -> [u8; 32] {
    Sha256::new()
        .chain_update(b"fuzz-secret")
        .chain_update((i as u64).to_le_bytes())
        .finalize()
        .into()
}

pub fn public(i: usize) -> [u8; 32] {
    Sha256::new()
        .chain_update(b"fuzz-public")
        .chain_update(secret(i))
        .finalize()
        .into()
}

pub fn sign_with(secret: &[u8; 32], message: &Digest) -> SignatureBytes {
    let h: [u8; 32] = Sha256::new()
        .chain_update(b"fuzz-sig")
        .chain_update(secret)
        .chain_update(message.0)
        .finalize()
        .into();
    let mut sig = [0u8; 64];
    sig[..32].copy_from_slice(&h);
    SignatureBytes(sig)
}

/// Validator `i`'s signer.
#[derive(Debug, Clone)]
pub struct SimSigner {
    pub secret: [u8; 32],
}

impl SimSigner {
    pub fn of(id: ValidatorId) -> SimSigner {
        SimSigner {
            secret: secret(usize::from(id.0)),
        }
    }
}

impl Signer for SimSigner {
    fn sign(&self, message: &Digest) -> SignatureBytes {
        sign_with(&self.secret, message)
    }
}

/// Knows the secret of every validator of [`validator_set`].
#[derive(Debug, Clone, Copy, Default)]
pub struct SimVerifier;

/// Every validator's (public, secret) pair, computed once.
fn keys() -> &'static [([u8; 32], [u8; 32]); VALIDATORS] {
    static KEYS: std::sync::OnceLock<[([u8; 32], [u8; 32]); VALIDATORS]> =
        std::sync::OnceLock::new();
    KEYS.get_or_init(|| std::array::from_fn(|i| (public(i), secret(i))))
}

impl Verifier for SimVerifier {
    fn verify(&self, key: &[u8; 32], message: &Digest, signature: &SignatureBytes) -> bool {
        keys()
            .iter()
            .find(|(p, _)| p == key)
            .is_some_and(|(_, s)| sign_with(s, message) == *signature)
    }
}

pub fn genesis_id() -> Digest {
    Digest::tagged(b"fuzz-genesis", &[])
}

/// The epoch-1 set of [`VALIDATORS`] validators.
pub fn validator_set() -> ValidatorSet {
    ValidatorSet::new(
        Epoch(1),
        (0..VALIDATORS).map(public).collect(),
        genesis_id(),
    )
    .expect("distinct keys")
}

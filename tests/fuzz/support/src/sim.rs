//! The consensus keys of the fuzzed validator set: the simulator's keyed
//! hash scheme (`hutong_tests::sim`), with fixed secrets so that seeds and
//! targets agree. Only the holder of a secret can sign for its key, so a
//! fuzz input cannot forge an honest validator's signature.

use hutong_consensus::core::Signer;
use hutong_consensus::types::{Digest, Epoch, SignatureBytes};
use hutong_consensus::validators::ValidatorSet;
use sha2::{Digest as _, Sha256};

pub use hutong_tests::sim::{SimSigner, SimVerifier};

/// Validators in the fuzzed epoch: n = 3f + 1 with f = 1.
pub const VALIDATORS: usize = 4;

pub fn secret(i: usize) -> [u8; 32] {
    Sha256::new()
        .chain_update(b"fuzz-secret")
        .chain_update((i as u64).to_le_bytes())
        .finalize()
        .into()
}

/// Validator `i`'s signer.
pub fn signer(i: usize) -> SimSigner {
    SimSigner::Hash(secret(i))
}

pub fn public(i: usize) -> [u8; 32] {
    signer(i).public()
}

pub fn sign_with(secret: &[u8; 32], message: &Digest) -> SignatureBytes {
    SimSigner::Hash(*secret).sign(message)
}

/// Validator `i`'s node key (ed25519), which signs its attestations.
pub fn node_key(i: usize) -> hutong_runtime::Keypair {
    hutong_runtime::Keypair::from_secret_bytes(&[i as u8 + 101; 32])
}

/// Knows the secret of every validator of [`validator_set`].
pub fn verifier() -> SimVerifier {
    let signers: Vec<SimSigner> = (0..VALIDATORS).map(signer).collect();
    SimVerifier::of(&signers)
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

//! Consensus signatures in tests and simulation. By default a fast stand-in for
//! ed25519: a signature is a keyed hash of the message, and the verifier
//! knows every key (it is a test double), so a replica cannot sign for
//! another one and a flipped bit is caught. Runs that measure cost use
//! real ed25519 node keys, checked as the node checks them
//! ([`hutong_wire::NodeVerifier`]). Transactions are always signed with
//! real ed25519 keys: the host checks them as the node does.

use std::collections::BTreeMap;

use hutong_consensus::core::Signer;
use hutong_consensus::types::{Digest, SignatureBytes};
use hutong_consensus::validators::Verifier;
use hutong_runtime::Keypair;
use hutong_wire::{NodeSigner, NodeVerifier};
use sha2::{Digest as _, Sha256};

#[derive(Debug, Clone)]
pub enum SimSigner {
    /// A keyed hash with this secret.
    Hash([u8; 32]),
    /// A real node key.
    Ed25519(Keypair),
}

impl SimSigner {
    pub fn public(&self) -> [u8; 32] {
        match self {
            SimSigner::Hash(secret) => Sha256::new()
                .chain_update(b"sim-public")
                .chain_update(secret)
                .finalize()
                .into(),
            SimSigner::Ed25519(key) => key.public().0,
        }
    }
}

fn keyed(secret: &[u8; 32], message: &Digest) -> SignatureBytes {
    let h: [u8; 32] = Sha256::new()
        .chain_update(b"sim-sig")
        .chain_update(secret)
        .chain_update(message.0)
        .finalize()
        .into();
    let mut sig = [0u8; 64];
    sig[..32].copy_from_slice(&h);
    SignatureBytes(sig)
}

impl Signer for SimSigner {
    fn sign(&self, message: &Digest) -> SignatureBytes {
        match self {
            SimSigner::Hash(secret) => keyed(secret, message),
            SimSigner::Ed25519(key) => NodeSigner(key.clone()).sign(message),
        }
    }
}

/// Checks keyed-hash signatures of the keys it knows, and ed25519
/// signatures of every other key.
#[derive(Debug, Clone)]
pub struct SimVerifier {
    secrets: BTreeMap<[u8; 32], [u8; 32]>,
}

impl SimVerifier {
    /// The verifier of these signers' keys.
    pub fn of(signers: &[SimSigner]) -> SimVerifier {
        SimVerifier {
            secrets: signers
                .iter()
                .filter_map(|s| match s {
                    SimSigner::Hash(secret) => Some((s.public(), *secret)),
                    SimSigner::Ed25519(_) => None,
                })
                .collect(),
        }
    }
}

impl Verifier for SimVerifier {
    fn verify(&self, key: &[u8; 32], message: &Digest, signature: &SignatureBytes) -> bool {
        match self.secrets.get(key) {
            Some(secret) => keyed(secret, message) == *signature,
            None => NodeVerifier.verify(key, message, signature),
        }
    }
}

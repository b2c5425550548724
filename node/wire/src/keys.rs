//! Consensus signatures with a node's ed25519 key: what the consensus core
//! asks of its host ([`Signer`], [`Verifier`]), done with the node key
//! named in genesis. Verification follows ZIP-215, like every signature in
//! Hutong, so every node reaches the same verdict.

use hutong_consensus::core::Signer;
use hutong_consensus::types::{Digest, SignatureBytes};
use hutong_consensus::validators::Verifier;
use hutong_runtime::{Keypair, PublicKey, Signature};

/// Signs consensus messages with the node key.
#[derive(Debug)]
pub struct NodeSigner(pub Keypair);

impl Signer for NodeSigner {
    fn sign(&self, message: &Digest) -> SignatureBytes {
        SignatureBytes(self.0.sign(&message.0).0)
    }
}

/// Checks consensus signatures against node keys.
#[derive(Debug, Clone, Copy)]
pub struct NodeVerifier;

impl Verifier for NodeVerifier {
    fn verify(&self, key: &[u8; 32], message: &Digest, signature: &SignatureBytes) -> bool {
        PublicKey(*key)
            .verify(&message.0, &Signature(signature.0))
            .is_ok()
    }
}

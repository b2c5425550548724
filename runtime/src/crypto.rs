//! Keys, signatures and hashing.
//!
//! Signing uses `ed25519-dalek`; verification uses `ed25519-zebra`, which
//! implements the ZIP-215 rules. Signature validity is a consensus rule, so
//! every node must reach the same verdict whether it checks a signature alone
//! or inside a batch; ZIP-215 makes single and batch verification agree on
//! every input, including crafted keys and signatures with small-order
//! (torsion) components, where ed25519-dalek's own batch check may disagree
//! with its single check.

use std::fmt;

use borsh::{BorshDeserialize, BorshSerialize};
use ed25519_dalek::Signer as _;
use sha2::{Digest, Sha256};

/// Domain tags. Every hash in Hutong is `SHA-256(tag || 0x00 || data)` so
/// that bytes of one kind can never be reinterpreted as another.
pub mod domain {
    pub const TX: &[u8] = b"hutong/tx/v1";
    pub const COSIGN: &[u8] = b"hutong/cosign/v1";
    pub const ADDRESS: &[u8] = b"hutong/address/v1";
    pub const GENESIS: &[u8] = b"hutong/genesis/v1";
    pub const TRANSFER_FIELDS: &[u8] = b"hutong/transfer-fields/v1";
    /// A member card: a member's public keys, signed for the genesis
    /// ceremony.
    pub const MEMBER_CARD: &[u8] = b"hutong/member-card/v1";
    /// An FX provider's quote (see [`crate::exchange`]).
    pub const QUOTE: &[u8] = b"hutong/quote/v1";
    /// A read mandate's grantee asks to read an account (see
    /// [`crate::mandate::read_request_hash`]).
    pub const MANDATE_READ: &[u8] = b"hutong/mandate-read/v1";
    /// Where a mandate payment's transfer id is remembered (see
    /// [`crate::mandate::mandate_transfer_id`]).
    pub const MANDATE_TRANSFER_ID: &[u8] = b"hutong/mandate-transfer-id/v1";
    /// Where a hold's ending is recorded (see
    /// [`crate::hold::closed_hold_key`]).
    pub const HOLD_CLOSED: &[u8] = b"hutong/hold-closed/v1";
}

/// A 32-byte SHA-256 digest.
#[derive(
    Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, BorshSerialize, BorshDeserialize,
)]
pub struct Hash(pub [u8; 32]);

impl Hash {
    pub const ZERO: Hash = Hash([0; 32]);

    /// `SHA-256(tag || 0x00 || data)`.
    pub fn tagged(tag: &[u8], data: &[u8]) -> Hash {
        let mut h = Sha256::new();
        h.update(tag);
        h.update([0u8]);
        h.update(data);
        Hash(h.finalize().into())
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    pub fn from_hex(s: &str) -> Result<Hash, CryptoError> {
        Ok(Hash(decode_hex32(s, "hash")?))
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash({})", self.to_hex())
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    #[error("{what}: expected 64 hex characters (32 bytes), got {got:?}")]
    BadHex32 { what: &'static str, got: String },
    #[error("{what}: expected 128 hex characters (64 bytes), got {len} characters")]
    BadHex64 { what: &'static str, len: usize },
    #[error("public key {key} is not a canonical ed25519 point encoding")]
    BadPublicKey { key: String },
    #[error("public key {key} is a point of small order: anyone could sign for it")]
    WeakPublicKey { key: String },
    #[error("signature does not verify for public key {key}")]
    BadSignature { key: String },
    #[error("the transaction names co-signer {key} but carries no co-signature")]
    MissingCoSignature { key: String },
    #[error("the transaction carries a co-signature but names no co-signer")]
    UnexpectedCoSignature,
}

fn decode_hex32(s: &str, what: &'static str) -> Result<[u8; 32], CryptoError> {
    let err = || CryptoError::BadHex32 {
        what,
        got: s.chars().take(80).collect(),
    };
    let bytes = hex::decode(s.trim()).map_err(|_| err())?;
    bytes.try_into().map_err(|_| err())
}

/// An ed25519 public key, as its 32-byte encoding. It is not checked to be a
/// valid point on construction; verification checks it under ZIP-215 rules.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, BorshSerialize, BorshDeserialize)]
pub struct PublicKey(pub [u8; 32]);

impl PublicKey {
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parses 64 hex characters and checks [`PublicKey::check_strong`].
    pub fn from_hex(s: &str) -> Result<PublicKey, CryptoError> {
        let key = PublicKey(decode_hex32(s, "public key")?);
        key.check_strong()?;
        Ok(key)
    }

    /// Checks that the key is fit to identify an account or a node: the
    /// canonical encoding of a curve point, not of small order. ZIP-215
    /// verification accepts small-order keys, and for those a signature
    /// with `s = 0` verifies on every message, so such a key must never be
    /// registered. (Keys with a torsion component added to a real key are
    /// harmless: only the holder of the secret can sign for them.)
    pub fn check_strong(&self) -> Result<(), CryptoError> {
        let point = curve25519_dalek::edwards::CompressedEdwardsY(self.0)
            .decompress()
            .filter(|p| p.compress().0 == self.0)
            .ok_or_else(|| CryptoError::BadPublicKey { key: self.to_hex() })?;
        if point.is_small_order() {
            return Err(CryptoError::WeakPublicKey { key: self.to_hex() });
        }
        Ok(())
    }

    /// Verifies `signature` over `message` under ZIP-215 rules.
    pub fn verify(&self, message: &[u8], signature: &Signature) -> Result<(), CryptoError> {
        let bad = || CryptoError::BadSignature { key: self.to_hex() };
        let vk = ed25519_zebra::VerificationKey::try_from(self.0).map_err(|_| bad())?;
        vk.verify(&ed25519_zebra::Signature::from_bytes(&signature.0), message)
            .map_err(|_| bad())
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.to_hex())
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// An ed25519 signature (64 bytes: R || s).
#[derive(Clone, Copy, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Signature(pub [u8; 64]);

impl Signature {
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    pub fn from_hex(s: &str) -> Result<Signature, CryptoError> {
        let bytes = hex::decode(s.trim()).map_err(|_| CryptoError::BadHex64 {
            what: "signature",
            len: s.len(),
        })?;
        let arr: [u8; 64] = bytes.try_into().map_err(|_| CryptoError::BadHex64 {
            what: "signature",
            len: s.len(),
        })?;
        Ok(Signature(arr))
    }
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature({})", self.to_hex())
    }
}

/// A secret signing key. Its bytes are zeroed on drop and never printed.
pub struct Keypair {
    signing: ed25519_dalek::SigningKey,
}

impl Keypair {
    /// Generates a key from the given cryptographic RNG. The runtime itself
    /// never generates keys; callers (the CLI, tests) bring the randomness.
    pub fn generate<R: rand_core::CryptoRngCore + ?Sized>(rng: &mut R) -> Keypair {
        Keypair {
            signing: ed25519_dalek::SigningKey::generate(rng),
        }
    }

    pub fn from_secret_bytes(secret: &[u8; 32]) -> Keypair {
        Keypair {
            signing: ed25519_dalek::SigningKey::from_bytes(secret),
        }
    }

    /// The 32-byte secret seed. Handle with care: it is the whole key.
    pub fn secret_bytes(&self) -> [u8; 32] {
        self.signing.to_bytes()
    }

    pub fn public(&self) -> PublicKey {
        PublicKey(self.signing.verifying_key().to_bytes())
    }

    pub fn sign(&self, message: &[u8]) -> Signature {
        Signature(self.signing.sign(message).to_bytes())
    }
}

impl Clone for Keypair {
    fn clone(&self) -> Self {
        Keypair::from_secret_bytes(&self.secret_bytes())
    }
}

impl fmt::Debug for Keypair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Keypair(public: {})", self.public())
    }
}

/// Whether `bytes` is the canonical encoding of a ristretto255 element
/// other than the identity: what the regulator's OPRF public key must be.
pub fn is_ristretto_element(bytes: &[u8; 32]) -> bool {
    use curve25519_dalek::traits::IsIdentity;
    curve25519_dalek::ristretto::CompressedRistretto(*bytes)
        .decompress()
        .is_some_and(|p| !p.is_identity())
}

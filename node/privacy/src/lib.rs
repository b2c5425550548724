//! Customer identity without exposure: what institutions, the regulator
//! and wallets compute, with no node, no network and no clock.
//!
//! - [`oprf`]: a customer's **identity tag**, `OPRF(k, identity)`, by the
//!   verifiable oblivious PRF of RFC 9497 (ristretto255-SHA512). The
//!   regulator holds `k`; an institution blinds the customer's normalised
//!   identity, the regulator's node evaluates it without learning it, and
//!   the institution unblinds and checks the evaluation against the
//!   regulator's public key in genesis. Nobody computes a tag without the
//!   regulator, so nobody can test a list of ID numbers against the chain.
//! - [`envelope`]: the tag and a salt sealed to the regulator (HPKE, RFC
//!   9180, X25519-HKDF-SHA256 with ChaCha20-Poly1305) for an
//!   `OpenAccount`, bound to the chain and the account, with the salted
//!   commitment the ledger keeps; and a memo sealed to several readers
//!   (the two institutions and the regulator).
//! - [`keys`]: the regulator's identity keys, derived from one seed.
//!
//! What each party can and cannot learn is in the README ("Customer
//! identity"); the derived values of a tag are in [`IdentityTag`].

pub mod envelope;
pub mod keys;
pub mod oprf;

use hutong_runtime::crypto::Hash;
use zeroize::{Zeroize, ZeroizeOnDrop};

/// Bytes of an identity tag (the OPRF's SHA-512 output).
pub const TAG_BYTES: usize = 64;

/// A customer's identity tag: the same for one identity at every
/// institution, computable only with the regulator's OPRF key. It never
/// reaches the ledger in clear; the values the ledger and the regulator's
/// indexes use are derived from it under their own domain tags.
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct IdentityTag(pub [u8; TAG_BYTES]);

impl std::fmt::Debug for IdentityTag {
    /// Never the tag itself: logs must not hold it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "IdentityTag(owner {})", self.owner().to_hex())
    }
}

impl IdentityTag {
    /// The owner id the regulator's node indexes accounts by
    /// (`tagged("hutong/owner/v1", tag)`): one per person, across
    /// institutions. Only the regulator's node learns it, from the
    /// envelopes it opens.
    pub fn owner(&self) -> Hash {
        Hash::tagged(b"hutong/owner/v1", &self.0)
    }

    /// The key under which the shared blacklist lists this identity
    /// (`tagged("hutong/blacklist/v1", tag)`). Whoever holds the tag of a
    /// customer can ask whether it is listed; the listed keys alone name
    /// nobody and link no account.
    pub fn listing_key(&self) -> Hash {
        Hash::tagged(b"hutong/blacklist/v1", &self.0)
    }

    /// The commitment an `OpenAccount` carries in clear
    /// (`tagged("hutong/identity-binding/v1", tag ‖ salt)`): it binds the
    /// account to the tag in its envelope, and with a fresh salt per
    /// account it tells nobody whether two accounts share an owner.
    pub fn binding(&self, salt: &[u8; 32]) -> Hash {
        let mut data = [0u8; TAG_BYTES + 32];
        data[..TAG_BYTES].copy_from_slice(&self.0);
        data[TAG_BYTES..].copy_from_slice(salt);
        let h = Hash::tagged(b"hutong/identity-binding/v1", &data);
        data.zeroize();
        h
    }
}

/// Why an identity step failed. `code` is stable (RPC answers, CLI exits).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PrivacyError {
    #[error("{0}")]
    Identity(#[from] hutong_runtime::identity::IdentityError),
    #[error("identity {0:?} must be written TYPE:NUMBER (such as CN_RIC:110101199003074514)")]
    IdentitySyntax(String),
    #[error("{what} is not a valid encoding: {detail}")]
    Malformed { what: &'static str, detail: String },
    #[error("the evaluation's proof does not verify against the regulator's OPRF public key: a wrong key, or a tampered or replayed answer")]
    Unverified,
    #[error("the envelope does not open with this key: sealed to another key, for another account or chain, or tampered")]
    Undecryptable,
    #[error("the envelope's tag and salt do not match the account's identity commitment {0}")]
    CommitmentMismatch(String),
    #[error("a memo has 1 to {max} readers, not {got}")]
    Readers { got: usize, max: usize },
    #[error("a memo of {len} bytes is longer than {max}")]
    MemoTooLong { len: usize, max: usize },
}

impl PrivacyError {
    pub fn code(&self) -> &'static str {
        match self {
            PrivacyError::Identity(_) | PrivacyError::IdentitySyntax(_) => "bad_identity",
            PrivacyError::Malformed { .. } => "malformed",
            PrivacyError::Unverified => "unverified_evaluation",
            PrivacyError::Undecryptable => "undecryptable",
            PrivacyError::CommitmentMismatch(_) => "commitment_mismatch",
            PrivacyError::Readers { .. } => "bad_readers",
            PrivacyError::MemoTooLong { .. } => "memo_too_long",
        }
    }
}

fn malformed(what: &'static str, detail: impl std::fmt::Display) -> PrivacyError {
    PrivacyError::Malformed {
        what,
        detail: detail.to_string(),
    }
}

/// Reads `N` bytes from hex, for keys and protocol messages.
pub fn hex_array<const N: usize>(what: &'static str, s: &str) -> Result<[u8; N], PrivacyError> {
    let bytes = hex::decode(s.trim()).map_err(|e| malformed(what, e))?;
    bytes
        .try_into()
        .map_err(|b: Vec<u8>| malformed(what, format!("{} bytes, expected {N}", b.len())))
}

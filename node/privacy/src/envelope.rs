//! HPKE envelopes (RFC 9180, base mode, X25519-HKDF-SHA256, HKDF-SHA256,
//! ChaCha20-Poly1305).
//!
//! **Identity envelope** (in `OpenAccount`): the tag and a fresh salt
//! sealed to the regulator, bound to the chain and to the account's owner
//! key by the associated data, so an envelope copied into another account
//! or chain does not open:
//!
//! ```text
//! envelope = enc (32) ‖ ChaCha20-Poly1305 ciphertext of tag (64) ‖ salt (32), tag (16)   = 144 bytes
//! info = "hutong/identity-envelope/v1", aad = chain id (32) ‖ owner public key (32)
//! identity_commitment = tag.binding(salt)   (in clear, in the account)
//! ```
//!
//! **Memo envelope** (a confidential memo): the memo encrypted once under
//! a fresh 32-byte key, and that key sealed to each reader (the sender's
//! institution, the recipient's, the regulator):
//!
//! ```text
//! memo = 0x01 ‖ n (1 byte) ‖ n × (enc (32) ‖ sealed key (32 + 16)) ‖ ChaCha20-Poly1305(key, nonce 0, aad = context) of the text
//! info = "hutong/memo/v1", aad of each sealed key = context
//! ```
//! The key is used once, so the zero nonce is safe; `context` binds the
//! memo to its transaction's signer and chain (the caller's choice).

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::ChaCha20Poly1305 as BodyAead;
use hpke::aead::ChaCha20Poly1305;
use hpke::kdf::HkdfSha256;
use hpke::kem::X25519HkdfSha256;
use hpke::{Deserializable, Kem as _, OpModeR, OpModeS, Serializable};
use hutong_runtime::crypto::Hash;
use rand_core::{CryptoRng, RngCore};
use zeroize::Zeroize;

use crate::{malformed, IdentityTag, PrivacyError, TAG_BYTES};

type Kem = X25519HkdfSha256;

/// Bytes of an HPKE public key or encapsulated key (X25519).
pub const KEY_BYTES: usize = 32;
/// Bytes of an AEAD tag.
const AEAD_TAG_BYTES: usize = 16;
/// Bytes of an identity envelope; the ledger checks this length
/// (`hutong_runtime::tx::IDENTITY_ENVELOPE_BYTES`).
pub const IDENTITY_ENVELOPE_BYTES: usize = KEY_BYTES + TAG_BYTES + 32 + AEAD_TAG_BYTES;
/// Most readers of one memo.
pub const MEMO_READERS_MAX: usize = 4;
/// Bytes one reader adds to a memo.
const READER_BYTES: usize = KEY_BYTES + 32 + AEAD_TAG_BYTES;
/// The first byte of a sealed memo.
pub const MEMO_VERSION: u8 = 1;

const IDENTITY_INFO: &[u8] = b"hutong/identity-envelope/v1";
const MEMO_INFO: &[u8] = b"hutong/memo/v1";

/// An HPKE key pair (X25519).
pub struct HpkeKey {
    secret: <Kem as hpke::Kem>::PrivateKey,
    public: <Kem as hpke::Kem>::PublicKey,
}

impl std::fmt::Debug for HpkeKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HpkeKey(public {})", hex::encode(self.public_key()))
    }
}

impl HpkeKey {
    /// The key pair derived from input keying material (RFC 9180's
    /// DeriveKeyPair).
    pub fn derive(ikm: &[u8; 32]) -> HpkeKey {
        let (secret, public) = Kem::derive_keypair(ikm);
        HpkeKey { secret, public }
    }

    pub fn public_key(&self) -> [u8; KEY_BYTES] {
        let mut out = [0u8; KEY_BYTES];
        out.copy_from_slice(&self.public.to_bytes());
        out
    }

    /// The secret key's bytes (RFC 9180 SerializePrivateKey): for the
    /// published vectors and tools that hand a key to another language.
    pub fn secret_bytes(&self) -> [u8; KEY_BYTES] {
        let mut out = [0u8; KEY_BYTES];
        out.copy_from_slice(&self.secret.to_bytes());
        out
    }
}

fn public_key(bytes: &[u8; KEY_BYTES]) -> Result<<Kem as hpke::Kem>::PublicKey, PrivacyError> {
    <Kem as hpke::Kem>::PublicKey::from_bytes(bytes).map_err(|e| malformed("HPKE public key", e))
}

fn identity_aad(chain: &[u8; 32], owner: &[u8; 32]) -> [u8; 64] {
    let mut aad = [0u8; 64];
    aad[..32].copy_from_slice(chain);
    aad[32..].copy_from_slice(owner);
    aad
}

/// Seals `tag` and `salt` (32 fresh random bytes per account, which the
/// institution keeps with its KYC record) to the regulator's HPKE key for
/// the account of `owner` on `chain`: the envelope, and the commitment the
/// transaction carries in clear.
pub fn seal_identity<R: RngCore + CryptoRng>(
    regulator: &[u8; KEY_BYTES],
    chain: &[u8; 32],
    owner: &[u8; 32],
    tag: &IdentityTag,
    salt: &[u8; 32],
    rng: &mut R,
) -> Result<(Vec<u8>, Hash), PrivacyError> {
    let pk = public_key(regulator)?;
    let mut plain = [0u8; TAG_BYTES + 32];
    plain[..TAG_BYTES].copy_from_slice(&tag.0);
    plain[TAG_BYTES..].copy_from_slice(salt);
    let sealed = hpke::single_shot_seal::<ChaCha20Poly1305, HkdfSha256, Kem, _>(
        &OpModeS::Base,
        &pk,
        IDENTITY_INFO,
        &plain,
        &identity_aad(chain, owner),
        rng,
    );
    plain.zeroize();
    let (enc, ct) = sealed.map_err(|e| malformed("HPKE seal", e))?;
    let mut out = Vec::with_capacity(IDENTITY_ENVELOPE_BYTES);
    out.extend_from_slice(&enc.to_bytes());
    out.extend_from_slice(&ct);
    Ok((out, tag.binding(salt)))
}

/// Opens an identity envelope with the regulator's key and checks it
/// against the account's commitment: the tag, or why not.
pub fn open_identity(
    key: &HpkeKey,
    chain: &[u8; 32],
    owner: &[u8; 32],
    envelope: &[u8],
    commitment: &Hash,
) -> Result<IdentityTag, PrivacyError> {
    if envelope.len() != IDENTITY_ENVELOPE_BYTES {
        return Err(malformed(
            "identity envelope",
            format!(
                "{} bytes, expected {IDENTITY_ENVELOPE_BYTES}",
                envelope.len()
            ),
        ));
    }
    let enc = <Kem as hpke::Kem>::EncappedKey::from_bytes(&envelope[..KEY_BYTES])
        .map_err(|_| PrivacyError::Undecryptable)?;
    let mut plain = hpke::single_shot_open::<ChaCha20Poly1305, HkdfSha256, Kem>(
        &OpModeR::Base,
        &key.secret,
        &enc,
        IDENTITY_INFO,
        &envelope[KEY_BYTES..],
        &identity_aad(chain, owner),
    )
    .map_err(|_| PrivacyError::Undecryptable)?;
    let mut tag = [0u8; TAG_BYTES];
    tag.copy_from_slice(&plain[..TAG_BYTES]);
    let tag = IdentityTag(tag);
    let mut salt = [0u8; 32];
    salt.copy_from_slice(&plain[TAG_BYTES..]);
    plain.zeroize();
    let ok = tag.binding(&salt) == *commitment;
    salt.zeroize();
    if ok {
        Ok(tag)
    } else {
        Err(PrivacyError::CommitmentMismatch(commitment.to_hex()))
    }
}

/// The context a transaction's memo is sealed under:
/// `tagged("hutong/memo-context/v1", chain id ‖ sender public key ‖
/// sequence (u64 little-endian))`. It binds the memo to the one
/// transaction its sender signs with that sequence number, so a memo
/// copied into another transaction does not open.
pub fn memo_context(chain: &[u8; 32], sender: &[u8; 32], sequence: u64) -> [u8; 32] {
    let mut data = [0u8; 72];
    data[..32].copy_from_slice(chain);
    data[32..64].copy_from_slice(sender);
    data[64..].copy_from_slice(&sequence.to_le_bytes());
    Hash::tagged(b"hutong/memo-context/v1", &data).0
}

/// Bytes of a sealed memo of `len` bytes for `readers` readers.
pub fn sealed_memo_len(len: usize, readers: usize) -> usize {
    2 + readers * READER_BYTES + len + AEAD_TAG_BYTES
}

/// Seals `text` to each of `readers` (1 to [`MEMO_READERS_MAX`] HPKE
/// public keys), bound to `context`.
pub fn seal_memo<R: RngCore + CryptoRng>(
    readers: &[[u8; KEY_BYTES]],
    context: &[u8],
    text: &[u8],
    max_len: usize,
    rng: &mut R,
) -> Result<Vec<u8>, PrivacyError> {
    if readers.is_empty() || readers.len() > MEMO_READERS_MAX {
        return Err(PrivacyError::Readers {
            got: readers.len(),
            max: MEMO_READERS_MAX,
        });
    }
    let total = sealed_memo_len(text.len(), readers.len());
    if total > max_len {
        return Err(PrivacyError::MemoTooLong {
            len: text.len(),
            max: max_len.saturating_sub(sealed_memo_len(0, readers.len())),
        });
    }
    let mut key = [0u8; 32];
    rng.fill_bytes(&mut key);
    let mut out = Vec::with_capacity(total);
    out.push(MEMO_VERSION);
    out.push(readers.len() as u8);
    for r in readers {
        let pk = public_key(r)?;
        let (enc, ct) = hpke::single_shot_seal::<ChaCha20Poly1305, HkdfSha256, Kem, _>(
            &OpModeS::Base,
            &pk,
            MEMO_INFO,
            &key,
            context,
            rng,
        )
        .map_err(|e| malformed("HPKE seal", e))?;
        out.extend_from_slice(&enc.to_bytes());
        out.extend_from_slice(&ct);
    }
    let body = BodyAead::new((&key).into())
        .encrypt(
            &[0u8; 12].into(),
            Payload {
                msg: text,
                aad: context,
            },
        )
        .map_err(|e| malformed("memo body", e));
    key.zeroize();
    out.extend_from_slice(&body?);
    Ok(out)
}

/// The structure of a sealed memo, checked without any key: what the
/// ledger accepts (`Ok`) or refuses.
pub fn check_memo(memo: &[u8]) -> Result<(), PrivacyError> {
    readers_of(memo).map(|_| ())
}

fn readers_of(memo: &[u8]) -> Result<usize, PrivacyError> {
    match memo {
        [MEMO_VERSION, n, ..] => {
            let n = *n as usize;
            if n == 0 || n > MEMO_READERS_MAX {
                return Err(PrivacyError::Readers {
                    got: n,
                    max: MEMO_READERS_MAX,
                });
            }
            if memo.len() < sealed_memo_len(0, n) {
                return Err(malformed(
                    "sealed memo",
                    format!("{} bytes, too short for {n} readers", memo.len()),
                ));
            }
            Ok(n)
        }
        [v, ..] => Err(malformed(
            "sealed memo",
            format!("version {v}, expected {MEMO_VERSION}"),
        )),
        [] => Err(malformed("sealed memo", "empty")),
    }
}

/// Opens a sealed memo with one reader's key: the text, or
/// [`PrivacyError::Undecryptable`] when the key is not one of its readers'
/// (or the memo or its context was altered).
pub fn open_memo(key: &HpkeKey, context: &[u8], memo: &[u8]) -> Result<Vec<u8>, PrivacyError> {
    let n = readers_of(memo)?;
    let body = &memo[2 + n * READER_BYTES..];
    for slot in memo[2..2 + n * READER_BYTES].chunks_exact(READER_BYTES) {
        let Ok(enc) = <Kem as hpke::Kem>::EncappedKey::from_bytes(&slot[..KEY_BYTES]) else {
            continue;
        };
        let Ok(mut k) = hpke::single_shot_open::<ChaCha20Poly1305, HkdfSha256, Kem>(
            &OpModeR::Base,
            &key.secret,
            &enc,
            MEMO_INFO,
            &slot[KEY_BYTES..],
            context,
        ) else {
            continue;
        };
        let Ok(cipher) = BodyAead::new_from_slice(&k) else {
            k.zeroize();
            continue;
        };
        k.zeroize();
        return cipher
            .decrypt(
                &[0u8; 12].into(),
                Payload {
                    msg: body,
                    aad: context,
                },
            )
            .map_err(|_| PrivacyError::Undecryptable);
    }
    Err(PrivacyError::Undecryptable)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn rng() -> rand_chacha::ChaCha20Rng {
        let seed: u64 = rand::random();
        println!("seed {seed}");
        rand_chacha::ChaCha20Rng::seed_from_u64(seed)
    }

    const CHAIN: [u8; 32] = [7; 32];
    const OWNER: [u8; 32] = [8; 32];

    #[test]
    fn an_identity_envelope_opens_for_the_regulator_only() {
        let mut rng = rng();
        let regulator = HpkeKey::derive(&[1; 32]);
        let tag = IdentityTag([3; 64]);
        let (env, commitment) = seal_identity(
            &regulator.public_key(),
            &CHAIN,
            &OWNER,
            &tag,
            &rng.gen(),
            &mut rng,
        )
        .unwrap();
        assert_eq!(env.len(), IDENTITY_ENVELOPE_BYTES);
        let opened = open_identity(&regulator, &CHAIN, &OWNER, &env, &commitment).unwrap();
        assert_eq!(opened, tag);
        // The envelope holds neither the tag nor anything derived from it.
        assert!(!env.windows(16).any(|w| tag.0.windows(16).any(|t| t == w)));
        // Another key.
        let other = HpkeKey::derive(&[2; 32]);
        let e = open_identity(&other, &CHAIN, &OWNER, &env, &commitment).unwrap_err();
        assert_eq!(e.code(), "undecryptable");
    }

    #[test]
    fn a_copied_or_tampered_envelope_is_refused() {
        let mut rng = rng();
        let regulator = HpkeKey::derive(&[1; 32]);
        let tag = IdentityTag([3; 64]);
        let (env, commitment) = seal_identity(
            &regulator.public_key(),
            &CHAIN,
            &OWNER,
            &tag,
            &rng.gen(),
            &mut rng,
        )
        .unwrap();
        // Replayed into another account, or another chain.
        let e = open_identity(&regulator, &CHAIN, &[9; 32], &env, &commitment).unwrap_err();
        assert_eq!(e.code(), "undecryptable");
        let e = open_identity(&regulator, &[0; 32], &OWNER, &env, &commitment).unwrap_err();
        assert_eq!(e.code(), "undecryptable");
        // Any flipped byte.
        for i in [0, 31, 32, 100, IDENTITY_ENVELOPE_BYTES - 1] {
            let mut bad = env.clone();
            bad[i] ^= 0x40;
            let e = open_identity(&regulator, &CHAIN, &OWNER, &bad, &commitment).unwrap_err();
            assert_eq!(e.code(), "undecryptable", "byte {i}");
        }
        // Truncated.
        let e = open_identity(&regulator, &CHAIN, &OWNER, &env[1..], &commitment).unwrap_err();
        assert_eq!(e.code(), "malformed");
        // A commitment that does not match its envelope (an institution
        // claiming another owner's tag for the account).
        let e = open_identity(&regulator, &CHAIN, &OWNER, &env, &Hash([5; 32])).unwrap_err();
        assert_eq!(e.code(), "commitment_mismatch");
    }

    #[test]
    fn one_owner_two_accounts_two_unlinkable_commitments() {
        let mut rng = rng();
        let regulator = HpkeKey::derive(&[1; 32]);
        let tag = IdentityTag([3; 64]);
        let (e1, c1) = seal_identity(
            &regulator.public_key(),
            &CHAIN,
            &OWNER,
            &tag,
            &rng.gen(),
            &mut rng,
        )
        .unwrap();
        let (e2, c2) = seal_identity(
            &regulator.public_key(),
            &CHAIN,
            &[9; 32],
            &tag,
            &rng.gen(),
            &mut rng,
        )
        .unwrap();
        assert_ne!(c1, c2);
        assert_ne!(e1, e2);
        let t1 = open_identity(&regulator, &CHAIN, &OWNER, &e1, &c1).unwrap();
        let t2 = open_identity(&regulator, &CHAIN, &[9; 32], &e2, &c2).unwrap();
        assert_eq!(t1.owner(), t2.owner());
    }

    #[test]
    fn a_memo_opens_for_each_reader_and_nobody_else() {
        let mut rng = rng();
        let keys: Vec<HpkeKey> = (1..=3).map(|i| HpkeKey::derive(&[i; 32])).collect();
        let publics: Vec<[u8; 32]> = keys.iter().map(|k| k.public_key()).collect();
        let text = b"salary March, invoice 2026-0042";
        let memo = seal_memo(&publics, b"ctx", text, 1024, &mut rng).unwrap();
        assert_eq!(memo.len(), sealed_memo_len(text.len(), 3));
        check_memo(&memo).unwrap();
        assert!(!memo.windows(8).any(|w| w == &text[..8]));
        for k in &keys {
            assert_eq!(open_memo(k, b"ctx", &memo).unwrap(), text);
        }
        let stranger = HpkeKey::derive(&[9; 32]);
        assert_eq!(
            open_memo(&stranger, b"ctx", &memo).unwrap_err().code(),
            "undecryptable"
        );
        // Moved to another transaction (another context), or altered.
        assert_eq!(
            open_memo(&keys[0], b"other", &memo).unwrap_err().code(),
            "undecryptable"
        );
        let mut bad = memo.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        assert_eq!(
            open_memo(&keys[1], b"ctx", &bad).unwrap_err().code(),
            "undecryptable"
        );
    }

    #[test]
    fn memo_bounds_are_refusals() {
        let mut rng = rng();
        let k = HpkeKey::derive(&[1; 32]).public_key();
        let e = seal_memo(&[], b"", b"x", 1024, &mut rng).unwrap_err();
        assert_eq!(e.code(), "bad_readers");
        let e = seal_memo(&[k; 5], b"", b"x", 1024, &mut rng).unwrap_err();
        assert_eq!(e.code(), "bad_readers");
        let e = seal_memo(&[k], b"", &[0; 300], 256, &mut rng).unwrap_err();
        assert_eq!(e.code(), "memo_too_long");
        for bad in [
            &[][..],
            &[2, 1][..],
            &[1, 0][..],
            &[1, 5][..],
            &[1, 1, 0][..],
        ] {
            assert!(check_memo(bad).is_err(), "{bad:?}");
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(32))]
        #[test]
        fn memos_round_trip(text in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200), readers in 1usize..=4, seed in proptest::prelude::any::<u64>()) {
            let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(seed);
            let keys: Vec<HpkeKey> = (0..readers).map(|i| HpkeKey::derive(&[i as u8 + 1; 32])).collect();
            let publics: Vec<[u8; 32]> = keys.iter().map(|k| k.public_key()).collect();
            let memo = seal_memo(&publics, b"c", &text, 2048, &mut rng).unwrap();
            for k in &keys {
                proptest::prop_assert_eq!(&open_memo(k, b"c", &memo).unwrap(), &text);
            }
        }

        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..400)) {
            let k = HpkeKey::derive(&[1; 32]);
            let _ = open_memo(&k, b"c", &bytes);
            let _ = open_identity(&k, &CHAIN, &OWNER, &bytes, &Hash([0; 32]));
        }
    }
}

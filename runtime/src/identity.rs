//! The identity commitment an institution puts in `OpenAccount`: a salted
//! hash of the customer's identity document, formed the same way by every
//! institution (`sdk/SPEC.md`, "Opening an account"). The document number
//! never reaches the ledger; the institution keeps the salt with its KYC
//! record, and by showing the document and the salt it can prove to the
//! regulator which identity it checked. Without the salt nobody can test a
//! guessed ID number against the commitment.
//!
//! ```text
//! identity_commitment = tagged("hutong/identity/v1",
//!                              borsh(id_type) ‖ borsh(id_number) ‖ salt)
//! ```
//! with `id_type` and `id_number` normalised as below (borsh strings: a
//! u32 little-endian length, then the bytes) and `salt` 32 random bytes.

use crate::crypto::Hash;

/// Longest normalised identity document number.
pub const ID_NUMBER_MAX: usize = 64;
/// Longest identity document type.
pub const ID_TYPE_MAX: usize = 32;

/// Why an identity cannot be committed to.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    #[error(
        "document type {0:?} must be 1 to {ID_TYPE_MAX} characters A-Z, 0-9 or '_' (such as CN_RIC, HK_ID, PASSPORT_CN)"
    )]
    BadType(String),
    #[error(
        "document number {0:?} must be 1 to {ID_NUMBER_MAX} ASCII letters and digits once spaces, '-', '/', '(' and ')' are removed"
    )]
    BadNumber(String),
}

/// The document type as committed: surrounding whitespace removed, ASCII
/// letters upper-cased; then 1 to 32 of `A-Z`, `0-9`, `_`.
pub fn normalise_type(id_type: &str) -> Result<String, IdentityError> {
    let t = id_type.trim().to_ascii_uppercase();
    let ok = !t.is_empty()
        && t.len() <= ID_TYPE_MAX
        && t.bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
    if ok {
        Ok(t)
    } else {
        Err(IdentityError::BadType(id_type.to_string()))
    }
}

/// The document number as committed: spaces, tabs, `-`, `/`, `(` and `)`
/// removed, ASCII letters upper-cased; then 1 to 64 of `A-Z`, `0-9`.
/// Anything else (full-width digits, other scripts) is refused rather than
/// guessed at: the institution converts it to ASCII first.
pub fn normalise_number(id_number: &str) -> Result<String, IdentityError> {
    let n: String = id_number
        .chars()
        .filter(|c| !matches!(c, ' ' | '\t' | '-' | '/' | '(' | ')'))
        .map(|c| c.to_ascii_uppercase())
        .collect();
    let ok = !n.is_empty()
        && n.len() <= ID_NUMBER_MAX
        && n.bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
    if ok {
        Ok(n)
    } else {
        Err(IdentityError::BadNumber(id_number.to_string()))
    }
}

/// The commitment to a customer's identity document under `salt`.
pub fn commitment(id_type: &str, id_number: &str, salt: &[u8; 32]) -> Result<Hash, IdentityError> {
    let t = normalise_type(id_type)?;
    let n = normalise_number(id_number)?;
    let mut data = Vec::with_capacity(8 + t.len() + n.len() + 32);
    for s in [&t, &n] {
        data.extend_from_slice(&(s.len() as u32).to_le_bytes());
        data.extend_from_slice(s.as_bytes());
    }
    data.extend_from_slice(salt);
    Ok(Hash::tagged(b"hutong/identity/v1", &data))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_document_written_differently_commits_the_same() {
        let salt = [9u8; 32];
        let a = commitment("cn_ric", "11010519491231002x", &salt).unwrap();
        let b = commitment(" CN_RIC ", "110105 19491231 002X", &salt).unwrap();
        assert_eq!(a, b);
        let hk1 = commitment("HK_ID", "A123456(7)", &salt).unwrap();
        let hk2 = commitment("hk_id", "a1234567", &salt).unwrap();
        assert_eq!(hk1, hk2);
        // Another salt, type or number: another commitment.
        assert_ne!(
            a,
            commitment("CN_RIC", "11010519491231002X", &[8; 32]).unwrap()
        );
        assert_ne!(a, commitment("HK_ID", "11010519491231002X", &salt).unwrap());
        assert_ne!(
            a,
            commitment("CN_RIC", "110105194912310021", &salt).unwrap()
        );
    }

    #[test]
    fn what_cannot_be_normalised_is_refused() {
        for bad in ["", "   ", "CN RIC", "护照", "A-B", &"X".repeat(33)] {
            assert!(normalise_type(bad).is_err(), "{bad:?}");
        }
        for bad in ["", " - ", "１２３", "12.3", "A_1", &"9".repeat(65)] {
            assert!(normalise_number(bad).is_err(), "{bad:?}");
        }
    }
}

//! The regulator's identity keys: the OPRF key that makes tags and the
//! HPKE key that opens identity envelopes (and memos), both derived from
//! one 32-byte seed the regulator's node keeps (`[audit] identity_key`,
//! a key file). Their public halves are in genesis, so they change only
//! with the consortium: a new OPRF key would give every person a new tag.

use hutong_runtime::crypto::Hash;
use zeroize::Zeroize;

use crate::envelope::{HpkeKey, KEY_BYTES};
use crate::oprf::{OprfKey, ELEMENT_BYTES};
use crate::PrivacyError;

/// The public halves, as genesis lists them (hex in the document).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdentityPublicKeys {
    /// Checks evaluations (a ristretto255 element).
    pub oprf: [u8; ELEMENT_BYTES],
    /// Seals identity envelopes and memos to the regulator (X25519).
    pub hpke: [u8; KEY_BYTES],
}

/// The regulator's identity keys.
#[derive(Debug)]
pub struct IdentityKeys {
    pub oprf: OprfKey,
    pub hpke: HpkeKey,
}

impl IdentityKeys {
    pub fn from_seed(seed: &[u8; 32]) -> Result<IdentityKeys, PrivacyError> {
        let oprf = OprfKey::from_seed(seed)?;
        let mut ikm = Hash::tagged(b"hutong/identity/hpke-key/v1", seed).0;
        let hpke = HpkeKey::derive(&ikm);
        ikm.zeroize();
        Ok(IdentityKeys { oprf, hpke })
    }

    pub fn public(&self) -> IdentityPublicKeys {
        IdentityPublicKeys {
            oprf: self.oprf.public_key(),
            hpke: self.hpke.public_key(),
        }
    }
}

/// An institution's memo key (HPKE), derived from a 32-byte seed under its
/// own domain tag, so one seed file can serve several purposes.
pub fn memo_key(seed: &[u8; 32]) -> HpkeKey {
    let mut ikm = Hash::tagged(b"hutong/memo-key/v1", seed).0;
    let key = HpkeKey::derive(&ikm);
    ikm.zeroize();
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_a_function_of_the_seed() {
        let a = IdentityKeys::from_seed(&[1; 32]).unwrap().public();
        assert_eq!(a, IdentityKeys::from_seed(&[1; 32]).unwrap().public());
        let b = IdentityKeys::from_seed(&[2; 32]).unwrap().public();
        assert_ne!(a.oprf, b.oprf);
        assert_ne!(a.hpke, b.hpke);
        assert_ne!(memo_key(&[1; 32]).public_key(), a.hpke);
    }
}

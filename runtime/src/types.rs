//! Protocol quantities as newtypes, and the account address.

use std::fmt;
use std::str::FromStr;

use bech32::{Bech32m, Hrp};
use borsh::{BorshDeserialize, BorshSerialize};

use crate::crypto::{domain, Hash, PublicKey};

/// The chain id: the hash of the canonical genesis document. Every
/// transaction names it, so a transaction signed for one chain is invalid on
/// every other.
#[derive(
    Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, BorshSerialize, BorshDeserialize,
)]
pub struct ChainId(pub [u8; 32]);

impl fmt::Debug for ChainId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ChainId({})", hex::encode(self.0))
    }
}

impl fmt::Display for ChainId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

macro_rules! int_newtype {
    ($(#[$doc:meta])* $name:ident($inner:ty)) => {
        $(#[$doc])*
        #[derive(
            Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, BorshSerialize,
            BorshDeserialize,
        )]
        pub struct $name(pub $inner);

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}", self.0)
            }
        }
    };
}

int_newtype!(
    /// A block height; genesis is height 0.
    Height(u64)
);
int_newtype!(
    /// An account's transaction sequence number: the next transaction it
    /// signs must carry exactly the account's current sequence.
    Nonce(u64)
);
int_newtype!(
    /// An amount in an asset's minor units (fen for CNY). All arithmetic on
    /// amounts is checked.
    Amount(u128)
);
int_newtype!(
    /// Milliseconds since the Unix epoch, as agreed in a block header; the
    /// runtime never reads a clock.
    TimestampMs(u64)
);
int_newtype!(
    /// A KYC tier level, defined in the genesis risk parameters.
    Tier(u8)
);

impl Amount {
    pub const ZERO: Amount = Amount(0);

    pub fn checked_add(self, other: Amount) -> Option<Amount> {
        self.0.checked_add(other.0).map(Amount)
    }

    pub fn checked_sub(self, other: Amount) -> Option<Amount> {
        self.0.checked_sub(other.0).map(Amount)
    }
}

/// The wallet's own identifier for a transfer (its payment-order id, e.g. a
/// UUID), unique per sender forever. A second transfer with the same id moves
/// nothing, so a wallet that re-signs after a timeout can never pay twice.
#[derive(
    Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, BorshSerialize, BorshDeserialize,
)]
pub struct TransferId(pub u128);

impl fmt::Debug for TransferId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TransferId({:032x})", self.0)
    }
}

impl fmt::Display for TransferId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:032x}", self.0)
    }
}

/// An asset code: 1 to 8 characters from `A-Z0-9`, starting with a letter
/// (`CNY`, `HKD`, `EURC1`). Stored zero-padded in 8 bytes, so it is `Copy`
/// and cheap to use in state keys.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, BorshSerialize)]
pub struct AssetCode([u8; 8]);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("asset code {got:?} must be 1-8 characters A-Z or 0-9, starting with a letter")]
    AssetCode { got: String },
    #[error("address {got:?} is not a valid Hutong address ({reason})")]
    Address { got: String, reason: String },
}

impl AssetCode {
    pub fn new(code: &str) -> Result<AssetCode, ParseError> {
        let bytes = code.as_bytes();
        let ok = !bytes.is_empty()
            && bytes.len() <= 8
            && bytes[0].is_ascii_uppercase()
            && bytes
                .iter()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
        if !ok {
            return Err(ParseError::AssetCode {
                got: code.chars().take(40).collect(),
            });
        }
        let mut raw = [0u8; 8];
        raw[..bytes.len()].copy_from_slice(bytes);
        Ok(AssetCode(raw))
    }

    pub fn as_str(&self) -> &str {
        let len = self.0.iter().position(|&b| b == 0).unwrap_or(8);
        // The constructor and the decoder admit only ASCII.
        std::str::from_utf8(&self.0[..len]).unwrap_or("?")
    }
}

/// Decoding checks the same rules as [`AssetCode::new`], including that the
/// padding is canonical (all zero after the code), so one code has exactly
/// one encoding.
impl BorshDeserialize for AssetCode {
    fn deserialize_reader<R: std::io::Read>(reader: &mut R) -> std::io::Result<Self> {
        let raw = <[u8; 8]>::deserialize_reader(reader)?;
        let len = raw.iter().position(|&b| b == 0).unwrap_or(8);
        let text =
            std::str::from_utf8(&raw[..len]).map_err(|_| invalid("asset code is not ASCII"))?;
        let code = AssetCode::new(text).map_err(|e| invalid(&e.to_string()))?;
        if code.0 != raw {
            return Err(invalid("asset code padding is not canonical"));
        }
        Ok(code)
    }
}

pub(crate) fn invalid(msg: &str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, msg.to_string())
}

impl fmt::Debug for AssetCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AssetCode({})", self.as_str())
    }
}

impl fmt::Display for AssetCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AssetCode {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        AssetCode::new(s)
    }
}

/// An account address: the first 20 bytes of a domain-separated SHA-256 of
/// the owner's ed25519 public key. Shown as bech32m with the `ht` prefix
/// (`ht1…`), whose checksum catches any typo of up to four characters.
#[derive(
    Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, BorshSerialize, BorshDeserialize,
)]
pub struct Address(pub [u8; 20]);

const ADDRESS_HRP: Hrp = Hrp::parse_unchecked("ht");

impl Address {
    pub fn of(key: &PublicKey) -> Address {
        let h = Hash::tagged(domain::ADDRESS, &key.0);
        let mut a = [0u8; 20];
        a.copy_from_slice(&h.0[..20]);
        Address(a)
    }

    pub fn parse(s: &str) -> Result<Address, ParseError> {
        let fail = |reason: String| ParseError::Address {
            got: s.chars().take(80).collect(),
            reason,
        };
        let (hrp, data) = bech32::decode(s.trim()).map_err(|e| fail(e.to_string()))?;
        if hrp != ADDRESS_HRP {
            return Err(fail(format!("prefix is {hrp:?}, expected \"ht\"")));
        }
        // bech32::decode accepts both checksum variants; insist on bech32m
        // by re-encoding, so one address has exactly one text form.
        let bytes: [u8; 20] = data
            .try_into()
            .map_err(|d: Vec<u8>| fail(format!("{} bytes, expected 20", d.len())))?;
        let addr = Address(bytes);
        if addr.to_string() != s.trim().to_ascii_lowercase() {
            return Err(fail("checksum variant is not bech32m".into()));
        }
        Ok(addr)
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = bech32::encode::<Bech32m>(ADDRESS_HRP, &self.0).map_err(|_| fmt::Error)?;
        f.write_str(&s)
    }
}

impl fmt::Debug for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Address({self})")
    }
}

impl FromStr for Address {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Address::parse(s)
    }
}

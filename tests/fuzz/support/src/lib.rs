//! Shared by the fuzz targets and the seed generator.
//!
//! - [`wire`]: the peer-to-peer wire types (re-exported from
//!   `hutong-wire`).
//! - [`sim`]: the simulator's keyed-hash signature scheme with fixed
//!   secrets, a 4-validator set, and validators' node keys.
//! - [`canonical`]: the round-trip check every decoder target applies.
//! - [`seeds`]: a few valid encodings of each input, to start the corpora
//!   ([`node_seeds`] for the node-level targets, with the `node`
//!   feature).

#[cfg(feature = "node")]
pub mod node_seeds;
pub mod seeds;
pub mod sim;
pub mod wire;

use borsh::{BorshDeserialize, BorshSerialize};

/// Decodes `bytes` strictly, as the node does (`borsh::from_slice`: the
/// whole buffer, no trailing bytes), and checks that the encoding is
/// canonical: re-encoding gives the same bytes back, and decoding those
/// gives the same value. Returns the value if it decoded.
pub fn canonical<T>(bytes: &[u8]) -> Option<T>
where
    T: BorshDeserialize + BorshSerialize + PartialEq + std::fmt::Debug,
{
    let value: T = borsh::from_slice(bytes).ok()?;
    let encoded = borsh::to_vec(&value).expect("borsh into a Vec cannot fail");
    assert_eq!(
        encoded, bytes,
        "two encodings decode to one value: {value:?}"
    );
    let again: T = borsh::from_slice(&encoded).expect("a re-encoding decodes");
    assert_eq!(again, value, "decode(encode(x)) != x");
    Some(value)
}

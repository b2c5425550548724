//! Text from users and JSON-RPC parameters: addresses, hashes, keys,
//! signatures, asset codes, UTC offsets and hex transactions. The first
//! byte picks the parser ([`hutong_fuzz_support::seeds::TEXT_KINDS`]).
//! What parses must print back to a form that parses to the same value.

#![no_main]

use hutong_fuzz_support::seeds::TEXT_KINDS;
use hutong_genesis::validate::parse_offset;
use hutong_runtime::crypto::Signature;
use hutong_runtime::{Address, AssetCode, Hash, PublicKey, SignedTransaction};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&kind, body)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(body) else {
        return;
    };
    match TEXT_KINDS[usize::from(kind) % TEXT_KINDS.len()] {
        "address" => {
            if let Ok(a) = Address::parse(text) {
                assert_eq!(Address::parse(&a.to_string()), Ok(a));
                assert_eq!(a.to_string(), text.trim().to_ascii_lowercase());
            }
        }
        "hash" => {
            if let Ok(h) = Hash::from_hex(text) {
                assert_eq!(Hash::from_hex(&h.to_hex()), Ok(h));
            }
        }
        "public_key" => {
            if let Ok(k) = PublicKey::from_hex(text) {
                assert_eq!(PublicKey::from_hex(&k.to_hex()), Ok(k));
                assert!(k.check_strong().is_ok());
            }
        }
        "signature" => {
            if let Ok(s) = Signature::from_hex(text) {
                assert_eq!(Signature::from_hex(&s.to_hex()), Ok(s));
            }
        }
        "asset_code" => {
            if let Ok(c) = AssetCode::new(text) {
                assert_eq!(c.as_str(), text);
                let bytes = borsh::to_vec(&c).expect("borsh into a Vec");
                assert_eq!(borsh::from_slice::<AssetCode>(&bytes).ok(), Some(c));
            }
        }
        "utc_offset" => {
            if let Some(s) = parse_offset(text) {
                assert!(s.abs() <= 14 * 3600);
            }
        }
        "tx_hex" => {
            // As `hutong_submitTransaction` reads its parameter.
            if let Ok(raw) = hex::decode(text.trim_start_matches("0x")) {
                if let Ok(tx) = SignedTransaction::decode(&raw) {
                    assert_eq!(tx.encode(), raw);
                }
            }
        }
        other => unreachable!("kind {other} has no parser"),
    }
});

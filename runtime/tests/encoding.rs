//! Decoding outside bytes, address text, and proofs.

mod common;

use common::*;
use hutong_runtime::block::{prove_tx, tx_root, verify_tx_inclusion};
use hutong_runtime::store::prove;
use hutong_runtime::tx::{DecodeError, Expiry, TX_BYTES_MAX};
use hutong_runtime::{
    Address, Amount, AssetCode, ChainId, Height, Keypair, Nonce, SignedTransaction, StateKey,
    Transaction, TransferId, TxKind,
};
use proptest::prelude::*;

fn sample(memo: Vec<u8>) -> SignedTransaction {
    let key = Keypair::from_secret_bytes(&[2; 32]);
    Transaction {
        chain_id: ChainId([1; 32]),
        sender: key.public(),
        sequence: Nonce(1),
        expiry: Expiry::Height(Height(9)),
        kind: TxKind::Transfer {
            to: Address([3; 20]),
            asset: AssetCode::new("CNY").unwrap(),
            amount: Amount(10),
            transfer_id: TransferId(1),
        },
        cosigner: None,
        memo,
    }
    .sign(&key)
}

#[test]
fn decode_rejects_trailing_bytes_and_bad_forms() {
    let tx = sample(vec![]);
    let mut bytes = tx.encode();
    assert_eq!(SignedTransaction::decode(&bytes).unwrap(), tx);
    bytes.push(0);
    assert!(matches!(
        SignedTransaction::decode(&bytes),
        Err(DecodeError::Malformed { .. })
    ));
    bytes.pop();
    bytes.pop();
    assert!(matches!(
        SignedTransaction::decode(&bytes),
        Err(DecodeError::Malformed { .. })
    ));
    assert!(matches!(
        SignedTransaction::decode(&[]),
        Err(DecodeError::Malformed { .. })
    ));
    let huge = vec![0u8; TX_BYTES_MAX + 1];
    assert!(matches!(
        SignedTransaction::decode(&huge),
        Err(DecodeError::TooLarge { .. })
    ));
    let long_memo = sample(vec![b'm'; 600]);
    assert!(matches!(
        SignedTransaction::decode(&long_memo.encode()),
        Err(DecodeError::MemoTooLong { len: 600, .. })
    ));
}

#[test]
fn decode_rejects_non_canonical_fields() {
    let tx = sample(vec![]);
    let bytes = tx.encode();
    // Locate the asset code "CNY\0\0\0\0\0" and break its padding.
    let at = bytes
        .windows(8)
        .position(|w| w == b"CNY\0\0\0\0\0")
        .unwrap();
    let mut bad = bytes.clone();
    bad[at + 5] = b'A';
    assert!(
        SignedTransaction::decode(&bad).is_err(),
        "padding after a NUL"
    );
    let mut lower = bytes.clone();
    lower[at] = b'c';
    assert!(
        SignedTransaction::decode(&lower).is_err(),
        "lower-case code"
    );
    // The cosignature option tag is the last byte: only 0 or 1.
    let mut tag = bytes.clone();
    *tag.last_mut().unwrap() = 2;
    assert!(SignedTransaction::decode(&tag).is_err(), "option tag 2");
}

#[test]
fn addresses_round_trip_and_reject_typos() {
    let a = Address::of(&Keypair::from_secret_bytes(&[4; 32]).public());
    let text = a.to_string();
    assert!(text.starts_with("ht1"));
    assert_eq!(Address::parse(&text).unwrap(), a);
    assert_eq!(Address::parse(&text.to_uppercase()).unwrap(), a);
    // Every single-character substitution is caught by the checksum.
    let alphabet = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";
    for i in 3..text.len() {
        for c in alphabet.chars() {
            if text.as_bytes()[i] as char == c {
                continue;
            }
            let mut typo = text.clone();
            typo.replace_range(i..i + 1, &c.to_string());
            assert!(Address::parse(&typo).is_err(), "typo {typo} accepted");
        }
    }
    assert!(Address::parse("bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq").is_err());
    assert!(Address::parse("").is_err());
}

#[test]
fn asset_codes() {
    for ok in ["CNY", "HKD", "E", "ABCDEFG8"] {
        assert_eq!(AssetCode::new(ok).unwrap().as_str(), ok);
    }
    for bad in ["", "cny", "1CNY", "ABCDEFGHI", "CN Y", "CNY\0"] {
        assert!(AssetCode::new(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn state_and_inclusion_proofs_verify_and_detect_tampering() {
    let mut ch = Chain::new(4, 21);
    let to = addr(&ch.customers[2]);
    let txs = vec![
        ch.transfer(&ch.customers[1], to, cny(), 10, 1),
        ch.transfer(&ch.customers[3], to, cny(), 20, 1),
        ch.transfer(&ch.bank_a, to, cny(), 30, 1),
    ];
    ch.execute(&txs);
    let root = *ch.state_roots.last().unwrap();

    // A balance proof at the new height, and one at genesis.
    let proof = prove(&ch.store, StateKey::Balance(to, cny()), 1).unwrap();
    assert_eq!(
        proof.value,
        Some(hutong_runtime::StateValue::Balance(
            hutong_runtime::state::Holding::of(Amount(START_BALANCE + 60))
        ))
    );
    proof.verify(&root).unwrap();
    let old = prove(&ch.store, StateKey::Balance(to, cny()), 0).unwrap();
    old.verify(&ch.state_roots[0]).unwrap();
    assert!(
        old.verify(&root).is_err(),
        "an old balance must not prove against the new root"
    );

    // Absence is provable too.
    let absent = prove(&ch.store, StateKey::Account(Address([0xee; 20])), 1).unwrap();
    assert_eq!(absent.value, None);
    absent.verify(&root).unwrap();

    // Changing any byte of the encoded proof breaks it.
    let bytes = borsh::to_vec(&proof).unwrap();
    for i in 0..bytes.len() {
        let mut bad = bytes.clone();
        bad[i] ^= 0x01;
        if let Ok(p) = borsh::from_slice::<hutong_runtime::store::StateProof>(&bad) {
            assert!(p.verify(&root).is_err(), "flipped byte {i} still verifies");
        }
    }

    // Transaction inclusion.
    let troot = tx_root(&txs);
    for (i, tx) in txs.iter().enumerate() {
        let p = prove_tx(&txs, i).unwrap();
        verify_tx_inclusion(tx, &p, &troot, 3).unwrap();
        let mut forged = tx.clone();
        forged.signature.0[0] ^= 1;
        assert!(verify_tx_inclusion(&forged, &p, &troot, 3).is_err());
    }
    // A proof relabelled to a smaller tree (leaf 2 of 3 as leaf 1 of 2)
    // verifies against the root alone, but not against the certified count.
    let mut relabelled = prove_tx(&txs, 2).unwrap();
    relabelled.index = 1;
    relabelled.size = 2;
    assert!(relabelled
        .verify(&hutong_runtime::block::tx_leaf(&txs[2]), &troot)
        .is_ok());
    assert!(verify_tx_inclusion(&txs[2], &relabelled, &troot, 3).is_err());
}

proptest! {
    #[test]
    fn signed_transactions_round_trip(memo in prop::collection::vec(any::<u8>(), 0..256), seq in any::<u64>(), amount in any::<u128>()) {
        let mut tx = sample(memo);
        tx.tx.sequence = Nonce(seq);
        if let TxKind::Transfer { amount: a, .. } = &mut tx.tx.kind { *a = Amount(amount); }
        let bytes = tx.encode();
        prop_assert_eq!(SignedTransaction::decode(&bytes).unwrap(), tx);
    }

    #[test]
    fn decoding_arbitrary_bytes_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        let _ = SignedTransaction::decode(&bytes);
    }
}

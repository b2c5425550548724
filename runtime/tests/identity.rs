//! The identity layer's ledger rules: an identity envelope on every
//! account opened on a chain with an identity service (and none on a
//! chain without), sealed memos there, the shared blacklist's
//! authorisation table, and memo keys.

mod common;

use common::*;
use hutong_runtime::blacklist::{Listing, MEMO_READER_BYTES, SEALED_MEMO_OVERHEAD};
use hutong_runtime::state::{StateKey, StateValue};
use hutong_runtime::store::read_value;
use hutong_runtime::tx::{FreezeReason, IDENTITY_ENVELOPE_BYTES};
use hutong_runtime::{
    Effect, FailureReason, Hash, Keypair, Outcome, Receipt, SignedTransaction, Tier, TxKind,
};

fn code(r: &Receipt) -> &'static str {
    match &r.outcome {
        Outcome::Success { .. } => "success",
        Outcome::Failed { reason } | Outcome::LegFailed { reason, .. } => reason.code(),
    }
}

fn reason(r: &Receipt) -> FailureReason {
    match &r.outcome {
        Outcome::Failed { reason } | Outcome::LegFailed { reason, .. } => *reason,
        Outcome::Success { .. } => panic!("succeeded"),
    }
}

fn open(owner: &Keypair, commitment: Hash, envelope: Vec<u8>) -> TxKind {
    TxKind::OpenAccount {
        owner: owner.public(),
        tier: Tier(1),
        identity_commitment: commitment,
        identity_envelope: envelope,
    }
}

fn listing(ch: &Chain, key: &Hash) -> Option<Listing> {
    match read_value(&ch.store, &StateKey::Listing(*key)).unwrap() {
        Some(StateValue::Listing(l)) => Some(l),
        None => None,
        other => panic!("not a listing: {other:?}"),
    }
}

fn sealed_memo(readers: u8, text: usize) -> Vec<u8> {
    let mut m = vec![1, readers];
    m.resize(
        SEALED_MEMO_OVERHEAD + readers as usize * MEMO_READER_BYTES + text,
        0x5c,
    );
    m
}

fn with_memo(ch: &Chain, from: &Keypair, kind: TxKind, memo: Vec<u8>) -> SignedTransaction {
    let mut tx = ch.unsigned(from, kind);
    tx.memo = memo;
    tx.sign(from)
}

#[test]
fn an_identity_service_needs_an_envelope_on_every_account() {
    let mut ch = Chain::new(2, 11).with_identity();
    let bank = ch.bank_a.clone();
    let new = || Keypair::from_secret_bytes(&rand::random());
    // No envelope, or a zero commitment: refused, nothing opened.
    let k = new();
    let r = ch.run(ch.tx(&bank, open(&k, Hash([1; 32]), Vec::new())));
    assert_eq!(
        reason(&r),
        FailureReason::IdentityEnvelope { required: true }
    );
    assert!(ch.account(&addr(&k)).is_none());
    let r = ch.run(ch.tx(
        &bank,
        open(&k, Hash::ZERO, vec![7; IDENTITY_ENVELOPE_BYTES]),
    ));
    assert_eq!(
        reason(&r),
        FailureReason::IdentityEnvelope { required: true }
    );
    // A wrong length never decodes: out of bounds, before any rule.
    let r = ch.run(ch.tx(
        &bank,
        open(&k, Hash([1; 32]), vec![7; IDENTITY_ENVELOPE_BYTES - 1]),
    ));
    assert_eq!(code(&r), "out_of_bounds");
    // With one: opened, the commitment kept.
    let r = ch.run(ch.tx(
        &bank,
        open(&k, Hash([1; 32]), vec![7; IDENTITY_ENVELOPE_BYTES]),
    ));
    assert_eq!(code(&r), "success", "{r:?}");
    match ch.account(&addr(&k)).unwrap().kind {
        hutong_runtime::AccountKind::Customer {
            identity_commitment,
            ..
        } => assert_eq!(identity_commitment, Hash([1; 32])),
        other => panic!("{other:?}"),
    }
}

#[test]
fn without_an_identity_service_an_envelope_is_refused() {
    let mut ch = Chain::new(1, 12);
    let bank = ch.bank_a.clone();
    let k = Keypair::from_secret_bytes(&[3; 32]);
    let r = ch.run(ch.tx(
        &bank,
        open(&k, Hash([1; 32]), vec![7; IDENTITY_ENVELOPE_BYTES]),
    ));
    assert_eq!(
        reason(&r),
        FailureReason::IdentityEnvelope { required: false }
    );
    let r = ch.run(ch.tx(&bank, open(&k, Hash([1; 32]), Vec::new())));
    assert_eq!(code(&r), "success");
}

#[test]
fn memos_are_sealed_on_a_chain_with_an_identity_service() {
    let mut ch = Chain::new(2, 13).with_identity();
    let from = ch.customers[0].clone();
    let to = addr(&ch.customers[1]);
    let pay = |ch: &Chain, memo: Vec<u8>| {
        let kind = TxKind::Transfer {
            to,
            asset: cny(),
            amount: hutong_runtime::Amount(100),
            transfer_id: hutong_runtime::TransferId(rand::random()),
        };
        with_memo(ch, &from, kind, memo)
    };
    let before = ch.balance(&to, cny());
    let seq = ch.sequence(&addr(&from));
    let r = ch.run(pay(&ch, b"salary March".to_vec()));
    assert_eq!(code(&r), "memo_not_sealed");
    // Refused, but its sequence number is used: it cannot be replayed.
    assert_eq!(ch.sequence(&addr(&from)).0, seq.0 + 1);
    assert_eq!(ch.balance(&to, cny()), before);
    // Five readers, or too short for its readers: not a sealed memo.
    assert_eq!(
        code(&ch.run(pay(&ch, sealed_memo(5, 10)))),
        "memo_not_sealed"
    );
    let mut short = sealed_memo(3, 0);
    short.pop();
    assert_eq!(code(&ch.run(pay(&ch, short))), "memo_not_sealed");
    // A sealed memo (three readers, 254 bytes of text: the most that
    // fits) and no memo pass.
    let full = sealed_memo(3, 254);
    assert_eq!(full.len(), hutong_runtime::tx::MEMO_BYTES_MAX);
    assert_eq!(code(&ch.run(pay(&ch, full))), "success");
    assert_eq!(code(&ch.run(pay(&ch, Vec::new()))), "success");
    assert_eq!(ch.balance(&to, cny()), before + 200);
    // Without an identity service a memo in clear is fine.
    let mut plain = Chain::new(2, 13);
    let from = plain.customers[0].clone();
    let kind = TxKind::Transfer {
        to: addr(&plain.customers[1]),
        asset: cny(),
        amount: hutong_runtime::Amount(100),
        transfer_id: hutong_runtime::TransferId(1),
    };
    let tx = with_memo(&plain, &from, kind, b"salary March".to_vec());
    assert_eq!(code(&plain.run(tx)), "success");
}

#[test]
fn the_blacklist_rules_table() {
    let mut ch = Chain::new(1, 14).with_identity();
    let (a, b, reg) = (ch.bank_a.clone(), ch.bank_b.clone(), ch.regulator.clone());
    let customer = ch.customers[0].clone();
    let key = Hash([0x4c; 32]);
    let list = |key: Hash| TxKind::ListIdentity {
        listing_key: key,
        reason: FreezeReason::Fraud,
        reference: b"case 7".to_vec(),
    };
    let delist = |key: Hash| TxKind::DelistIdentity { listing_key: key };
    // A customer may not list; an institution may.
    assert_eq!(code(&ch.run(ch.tx(&customer, list(key)))), "unauthorised");
    let r = ch.run(ch.tx(&a, list(key)));
    match &r.outcome {
        Outcome::Success { effects } => assert_eq!(
            effects,
            &vec![Effect::IdentityListed {
                listing_key: key,
                by: addr(&a),
                reason: FreezeReason::Fraud
            }]
        ),
        other => panic!("{other:?}"),
    }
    let l = listing(&ch, &key).unwrap();
    assert_eq!(
        (l.listed_by, l.reference.as_slice()),
        (addr(&a), &b"case 7"[..])
    );
    // Listed once: a second listing names the first lister.
    assert_eq!(
        reason(&ch.run(ch.tx(&b, list(key)))),
        FailureReason::AlreadyListed {
            listed_by: addr(&a)
        }
    );
    // Another institution may not delist it; a customer neither.
    assert_eq!(code(&ch.run(ch.tx(&b, delist(key)))), "unauthorised");
    assert_eq!(code(&ch.run(ch.tx(&customer, delist(key)))), "unauthorised");
    // Its lister may.
    assert_eq!(code(&ch.run(ch.tx(&a, delist(key)))), "success");
    assert!(listing(&ch, &key).is_none());
    assert_eq!(code(&ch.run(ch.tx(&a, delist(key)))), "not_listed");
    // A regulator's listing only a regulator lifts; a regulator lifts an
    // institution's too.
    assert_eq!(code(&ch.run(ch.tx(&reg, list(key)))), "success");
    assert_eq!(code(&ch.run(ch.tx(&a, delist(key)))), "unauthorised");
    assert_eq!(code(&ch.run(ch.tx(&reg, delist(key)))), "success");
    let other = Hash([0x4d; 32]);
    assert_eq!(code(&ch.run(ch.tx(&b, list(other)))), "success");
    assert_eq!(code(&ch.run(ch.tx(&reg, delist(other)))), "success");
    // A reference past 64 bytes never decodes.
    let long = TxKind::ListIdentity {
        listing_key: key,
        reason: FreezeReason::Other,
        reference: vec![b'r'; 65],
    };
    assert_eq!(code(&ch.run(ch.tx(&a, long))), "out_of_bounds");
}

#[test]
fn an_institution_publishes_its_memo_key() {
    let mut ch = Chain::new(1, 15).with_identity();
    let (a, customer, reg) = (
        ch.bank_a.clone(),
        ch.customers[0].clone(),
        ch.regulator.clone(),
    );
    let r = ch.run(ch.tx(&a, TxKind::SetMemoKey { key: [9; 32] }));
    assert_eq!(code(&r), "success");
    assert_eq!(
        read_value(&ch.store, &StateKey::MemoKey(addr(&a))).unwrap(),
        Some(StateValue::MemoKey([9; 32]))
    );
    // A new key replaces the old.
    assert_eq!(
        code(&ch.run(ch.tx(&a, TxKind::SetMemoKey { key: [8; 32] }))),
        "success"
    );
    assert_eq!(
        read_value(&ch.store, &StateKey::MemoKey(addr(&a))).unwrap(),
        Some(StateValue::MemoKey([8; 32]))
    );
    // Customers and regulators publish none (the regulator's is its
    // identity key, in the parameters).
    for k in [&customer, &reg] {
        assert_eq!(
            code(&ch.run(ch.tx(k, TxKind::SetMemoKey { key: [7; 32] }))),
            "unauthorised"
        );
    }
}

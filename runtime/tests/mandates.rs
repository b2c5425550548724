//! Open-banking mandates: the rule tables of granting and paying (every
//! refusal, by code), periods, revocation and the end of a mandate.

mod common;

use common::*;
use hutong_runtime::mandate::{Mandate, MandateScope, MANDATES_MAX, MANDATE_LIFETIME_MAX_MS};
use hutong_runtime::state::{StateKey, StateValue};
use hutong_runtime::store::read_value;
use hutong_runtime::tx::FreezeReason;
use hutong_runtime::{
    Address, Amount, AssetCode, Effect, Keypair, Outcome, Receipt, SignedTransaction, TimestampMs,
    TransferId, TxKind,
};

const DAY_MS: u64 = 86_400_000;

fn code(r: &Receipt) -> &'static str {
    match &r.outcome {
        Outcome::Success { .. } => "success",
        Outcome::Failed { reason } | Outcome::LegFailed { reason, .. } => reason.code(),
    }
}

fn mandates(ch: &Chain, account: &Address) -> Vec<Mandate> {
    match read_value(&ch.store, &StateKey::Mandates(*account)).unwrap() {
        Some(StateValue::Mandates(list)) => list,
        None => Vec::new(),
        other => panic!("not a mandate list: {other:?}"),
    }
}

/// A mandate's fields, to change one at a time.
#[derive(Clone)]
struct Grant {
    id: u64,
    grantee: Address,
    scope: MandateScope,
    asset: AssetCode,
    payees: Vec<Address>,
    per_payment: u128,
    per_period: u128,
    start: u64,
    end: u64,
}

impl Grant {
    fn kind(self) -> TxKind {
        TxKind::GrantMandate {
            mandate_id: self.id,
            grantee: self.grantee,
            scope: self.scope,
            asset: self.asset,
            payees: self.payees,
            per_payment: Amount(self.per_payment),
            per_period: Amount(self.per_period),
            period_seconds: 86_400,
            start: TimestampMs(self.start),
            end: TimestampMs(self.end),
        }
    }
}

/// A paying mandate of CNY: 1,000 a payment, 2,500 a day, for 30 days from
/// now, to `payees` (any when empty).
fn grant(ch: &Chain, id: u64, grantee: Address, payees: Vec<Address>) -> Grant {
    Grant {
        id,
        grantee,
        scope: MandateScope {
            pay: true,
            read: false,
        },
        asset: cny(),
        payees,
        per_payment: 1_000,
        per_period: 2_500,
        start: ch.time,
        end: ch.time + 30 * DAY_MS,
    }
}

fn grant_kind(ch: &Chain, id: u64, grantee: Address, payees: Vec<Address>) -> TxKind {
    grant(ch, id, grantee, payees).kind()
}

#[allow(clippy::too_many_arguments)]
fn pay(
    ch: &Chain,
    app: &Keypair,
    payer: Address,
    id: u64,
    to: Address,
    asset: AssetCode,
    amount: u128,
    transfer_id: u128,
) -> SignedTransaction {
    ch.tx(
        app,
        TxKind::MandatePay {
            payer,
            mandate_id: id,
            to,
            asset,
            amount: Amount(amount),
            transfer_id: TransferId(transfer_id),
        },
    )
}

#[test]
fn an_app_pays_under_its_mandate_within_every_limit() {
    let mut ch = Chain::new(8, 11);
    let owner = ch.customers[2].clone(); // bank A, tier 2
    let app = ch.customers[3].clone(); // the grantee's account
    let utility = addr(&ch.customers[1]);
    let other = addr(&ch.customers[5]);
    let r = ch.run(ch.tx(&owner, grant_kind(&ch, 1, addr(&app), vec![utility])));
    assert_eq!(code(&r), "success", "{r:?}");
    let p = addr(&owner);

    let r = ch.run(pay(&ch, &app, p, 1, utility, cny(), 900, 1));
    assert_eq!(code(&r), "success", "{r:?}");
    let Outcome::Success { effects } = &r.outcome else {
        unreachable!()
    };
    assert_eq!(
        effects[0],
        Effect::MandateUsed {
            payer: p,
            mandate_id: 1,
            grantee: addr(&app),
            spent_in_period: Amount(900),
        }
    );
    assert_eq!(ch.balance(&p, cny()), START_BALANCE - 900);
    assert_eq!(ch.balance(&utility, cny()), START_BALANCE + 900);
    // The owner's own sequence is untouched: the app signs with its own.
    assert_eq!(ch.sequence(&p).0, 1);

    let stranger = ch.customers[7].clone();
    // (name, signer, mandate, payee, asset, amount, transfer id, code)
    type Case<'a> = (
        &'a str,
        &'a Keypair,
        u64,
        Address,
        AssetCode,
        u128,
        u128,
        &'a str,
    );
    let cases: Vec<Case> = vec![
        (
            "a key that is not the grantee's",
            &stranger,
            1,
            utility,
            cny(),
            10,
            2,
            "unauthorised",
        ),
        (
            "an unknown mandate",
            &app,
            9,
            utility,
            cny(),
            10,
            2,
            "unknown_mandate",
        ),
        (
            "a payee the mandate does not list",
            &app,
            1,
            other,
            cny(),
            10,
            2,
            "mandate_scope",
        ),
        (
            "another asset",
            &app,
            1,
            utility,
            hkd(),
            10,
            2,
            "mandate_scope",
        ),
        (
            "more than the amount per payment",
            &app,
            1,
            utility,
            cny(),
            1_001,
            2,
            "mandate_limit",
        ),
        (
            "the payer's transfer id again",
            &app,
            1,
            utility,
            cny(),
            900,
            1,
            "exists",
        ),
    ];
    for (name, signer, id, to, asset, amount, transfer_id, expected) in cases {
        let before = ch.balance(&p, cny());
        let r = ch.run(pay(&ch, signer, p, id, to, asset, amount, transfer_id));
        assert_eq!(code(&r), expected, "{name}: {r:?}");
        assert_eq!(ch.balance(&p, cny()), before, "{name}");
    }
    // The app's transfer ids are its own: the owner's wallet may use id 1
    // too.
    let r = ch.run(ch.transfer(&owner, utility, cny(), 1, 1));
    assert_eq!(code(&r), "success", "{r:?}");
    // 900 + 1,000 = 1,900 today; another 1,000 passes the 2,500 a day.
    let r = ch.run(pay(&ch, &app, p, 1, utility, cny(), 1_000, 3));
    assert_eq!(code(&r), "success", "{r:?}");
    let r = ch.run(pay(&ch, &app, p, 1, utility, cny(), 601, 4));
    assert_eq!(code(&r), "mandate_limit", "{r:?}");
    let r = ch.run(pay(&ch, &app, p, 1, utility, cny(), 600, 4));
    assert_eq!(code(&r), "success", "{r:?}");
    // The next period starts afresh.
    ch.time += DAY_MS;
    let r = ch.run(pay(&ch, &app, p, 1, utility, cny(), 1_000, 5));
    assert_eq!(code(&r), "success", "{r:?}");
    assert_eq!(mandates(&ch, &p)[0].spent, Amount(1_000));

    // The payer's own rules still apply: a frozen payer pays nothing.
    let bank_a = ch.bank_a.clone();
    let r = ch.run(ch.tx(
        &bank_a,
        TxKind::Freeze {
            account: p,
            reason: FreezeReason::Fraud,
        },
    ));
    assert_eq!(code(&r), "success");
    let r = ch.run(pay(&ch, &app, p, 1, utility, cny(), 10, 6));
    assert_eq!(code(&r), "payer_frozen", "{r:?}");
    let r = ch.run(ch.tx(&bank_a, TxKind::Unfreeze { account: p }));
    assert_eq!(code(&r), "success");

    // Revoked: gone from the transaction on.
    let revoke = ch.tx(&owner, TxKind::RevokeMandate { mandate_id: 1 });
    let after = pay(&ch, &app, p, 1, utility, cny(), 10, 7);
    let receipts = ch.execute(&[revoke, after]);
    assert_eq!(code(&receipts[0]), "success");
    assert_eq!(code(&receipts[1]), "unknown_mandate");
    assert!(mandates(&ch, &p).is_empty());
    assert_eq!(
        read_value(&ch.store, &StateKey::Mandates(p)).unwrap(),
        None,
        "an account without mandates has no entry"
    );
}

#[test]
fn the_payers_tier_limits_apply_to_a_mandate_payment() {
    let mut ch = Chain::new(8, 12);
    let owner = ch.customers[2].clone(); // tier 2: 10,000 a payment, step-up above 5,000
    let app = ch.customers[3].clone();
    let shop = addr(&ch.customers[1]);
    let kind = Grant {
        per_payment: 20_000,
        per_period: 90_000,
        ..grant(&ch, 1, addr(&app), Vec::new())
    }
    .kind();
    let r = ch.run(ch.tx(&owner, kind));
    assert_eq!(code(&r), "success", "{r:?}");
    let p = addr(&owner);
    let r = ch.run(pay(&ch, &app, p, 1, shop, cny(), 10_001, 1));
    assert_eq!(code(&r), "single_limit_exceeded", "{r:?}");
    let r = ch.run(pay(&ch, &app, p, 1, shop, cny(), 5_001, 1));
    assert_eq!(code(&r), "step_up_required", "{r:?}");
    // Co-signed by the payer's institution, it passes.
    let mut tx = ch.unsigned(
        &app,
        TxKind::MandatePay {
            payer: p,
            mandate_id: 1,
            to: shop,
            asset: cny(),
            amount: Amount(5_001),
            transfer_id: TransferId(1),
        },
    );
    tx.cosigner = Some(ch.bank_a.public());
    let bank_a = ch.bank_a.clone();
    let r = ch.run(tx.sign(&app).cosign(&bank_a));
    assert_eq!(code(&r), "success", "{r:?}");
    // A refused payment did not count against the mandate's period.
    assert_eq!(mandates(&ch, &p)[0].spent, Amount(5_001));
}

#[test]
fn every_grant_refusal_has_its_code() {
    let mut ch = Chain::new(8, 13);
    let owner = ch.customers[2].clone();
    let app = addr(&ch.customers[3]);
    let unknown = {
        use rand::SeedableRng;
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(7);
        Address::of(&Keypair::generate(&mut rng).public())
    };
    let now = ch.time;
    let base = grant(&ch, 1, app, Vec::new());
    let cases: Vec<(&str, TxKind, &str)> = vec![
        (
            "to oneself",
            grant_kind(&ch, 1, addr(&owner), Vec::new()),
            "self_transfer",
        ),
        (
            "to an unknown account",
            grant_kind(&ch, 1, unknown, Vec::new()),
            "unknown_account",
        ),
        (
            "of an unknown asset",
            Grant {
                asset: AssetCode::new("USD").unwrap(),
                ..base.clone()
            }
            .kind(),
            "unknown_asset",
        ),
        (
            "with no scope",
            Grant {
                scope: MandateScope {
                    pay: false,
                    read: false,
                },
                ..base.clone()
            }
            .kind(),
            "bad_mandate",
        ),
        (
            "ending before it starts",
            Grant {
                start: base.end + 1,
                ..base.clone()
            }
            .kind(),
            "bad_mandate",
        ),
        (
            "paying nothing per payment",
            Grant {
                per_payment: 0,
                ..base.clone()
            }
            .kind(),
            "zero_amount",
        ),
        (
            "lasting more than 400 days",
            Grant {
                end: now + MANDATE_LIFETIME_MAX_MS + 60_000,
                ..base.clone()
            }
            .kind(),
            "bad_expiry",
        ),
        (
            "already ended",
            Grant {
                start: now - 2 * DAY_MS,
                end: now - DAY_MS,
                ..base.clone()
            }
            .kind(),
            "bad_expiry",
        ),
    ];
    for (name, kind, expected) in cases {
        let r = ch.run(ch.tx(&owner, kind));
        assert_eq!(code(&r), expected, "{name}: {r:?}");
    }
    assert!(mandates(&ch, &addr(&owner)).is_empty());
    for id in 0..MANDATES_MAX as u64 {
        let r = ch.run(ch.tx(&owner, grant_kind(&ch, id, app, Vec::new())));
        assert_eq!(code(&r), "success", "{r:?}");
    }
    let r = ch.run(ch.tx(&owner, grant_kind(&ch, 3, app, Vec::new())));
    assert_eq!(code(&r), "mandate_exists");
    let r = ch.run(ch.tx(&owner, grant_kind(&ch, 99, app, Vec::new())));
    assert_eq!(code(&r), "too_many_mandates");
    // Revoking an unknown mandate, or another account's.
    let r = ch.run(ch.tx(&owner, TxKind::RevokeMandate { mandate_id: 99 }));
    assert_eq!(code(&r), "unknown_mandate");
    let app_key = ch.customers[3].clone();
    let r = ch.run(ch.tx(&app_key, TxKind::RevokeMandate { mandate_id: 3 }));
    assert_eq!(code(&r), "unknown_mandate", "the grantee cannot revoke");
}

#[test]
fn a_mandate_starts_at_its_start_and_leaves_the_state_at_its_end() {
    let mut ch = Chain::new(8, 14);
    let owner = ch.customers[2].clone();
    let app = ch.customers[3].clone();
    let shop = addr(&ch.customers[1]);
    let p = addr(&owner);
    let start = ch.time + 10_000;
    let end = start + 60_000;
    let kind = Grant {
        start,
        end,
        ..grant(&ch, 1, addr(&app), Vec::new())
    }
    .kind();
    let r = ch.run(ch.tx(&owner, kind));
    assert_eq!(code(&r), "success", "{r:?}");
    let r = ch.run(pay(&ch, &app, p, 1, shop, cny(), 10, 1));
    assert_eq!(code(&r), "mandate_inactive", "before its start");
    ch.time = start;
    let r = ch.run(pay(&ch, &app, p, 1, shop, cny(), 10, 1));
    assert_eq!(code(&r), "success", "{r:?}");
    // A read-only mandate never pays.
    let read_only = Grant {
        scope: MandateScope {
            pay: false,
            read: true,
        },
        ..grant(&ch, 2, addr(&app), Vec::new())
    }
    .kind();
    let r = ch.run(ch.tx(&owner, read_only));
    assert_eq!(code(&r), "success", "{r:?}");
    let r = ch.run(pay(&ch, &app, p, 2, shop, cny(), 10, 2));
    assert_eq!(code(&r), "mandate_scope");
    // Past its end, the first block in a later second removes it.
    ch.time = end + 1_000;
    ch.execute(&[]);
    let left: Vec<u64> = mandates(&ch, &p).iter().map(|m| m.id).collect();
    assert_eq!(left, vec![2], "mandate 1 ended and left the state");
    let r = ch.run(pay(&ch, &app, p, 1, shop, cny(), 10, 3));
    assert_eq!(code(&r), "unknown_mandate");
}

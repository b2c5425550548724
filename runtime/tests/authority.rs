//! Who may do what to an account: freezes (and whose freeze wins),
//! opening accounts and setting tiers, issuing and burning, and a frozen
//! institution. Each with the balances and sequences it must (not)
//! change.

mod common;

use common::*;
use hutong_runtime::tx::FreezeReason;
use hutong_runtime::{Account, AccountKind, Address, Amount, Hash, Keypair, Tier, TxKind};

#[test]
fn freezes_block_both_directions_and_respect_authority() {
    let mut ch = Chain::new(4, 8);
    let a0 = addr(&ch.customers[0]); // bank A
    let a1 = addr(&ch.customers[1]); // bank B
    let bank_a = ch.bank_a.clone();
    let bank_b = ch.bank_b.clone();
    let regulator = ch.regulator.clone();

    // Bank A may not freeze bank B's customer; a customer may not freeze.
    let r = ch.run(ch.tx(
        &bank_a,
        TxKind::Freeze {
            account: a1,
            reason: FreezeReason::Fraud,
        },
    ));
    assert_eq!(r.failure().map(|r| r.code()), Some("unauthorised"));
    let r = ch.run(ch.tx(
        &ch.customers[2].clone(),
        TxKind::Freeze {
            account: a1,
            reason: FreezeReason::Fraud,
        },
    ));
    assert_eq!(r.failure().map(|r| r.code()), Some("unauthorised"));

    // Bank A freezes its own customer.
    let r = ch.run(ch.tx(
        &bank_a,
        TxKind::Freeze {
            account: a0,
            reason: FreezeReason::CustomerRequest,
        },
    ));
    assert!(r.is_success(), "{r:?}");
    let r = ch.run(ch.tx(
        &bank_a,
        TxKind::Freeze {
            account: a0,
            reason: FreezeReason::Fraud,
        },
    ));
    assert_eq!(r.failure().map(|r| r.code()), Some("already_frozen"));
    let r = ch.run(ch.transfer(&ch.customers[0].clone(), a1, cny(), 5, 1));
    assert_eq!(r.failure().map(|r| r.code()), Some("sender_frozen"));
    let r = ch.run(ch.transfer(&ch.customers[1].clone(), a0, cny(), 5, 1));
    assert_eq!(r.failure().map(|r| r.code()), Some("recipient_frozen"));
    let r = ch.run(ch.tx(
        &bank_a,
        TxKind::Mint {
            to: a0,
            asset: cny(),
            amount: Amount(5),
        },
    ));
    assert_eq!(r.failure().map(|r| r.code()), Some("recipient_frozen"));
    assert!(ch
        .run(ch.tx(&bank_a, TxKind::Unfreeze { account: a0 }))
        .is_success());
    let r = ch.run(ch.tx(&bank_a, TxKind::Unfreeze { account: a0 }));
    assert_eq!(r.failure().map(|r| r.code()), Some("not_frozen"));

    // A regulator's freeze: any account, and only a regulator lifts it.
    assert!(ch
        .run(ch.tx(
            &regulator,
            TxKind::Freeze {
                account: a1,
                reason: FreezeReason::LegalOrder
            }
        ))
        .is_success());
    let r = ch.run(ch.tx(&bank_b, TxKind::Unfreeze { account: a1 }));
    assert_eq!(r.failure().map(|r| r.code()), Some("unauthorised"));
    assert!(ch
        .run(ch.tx(&regulator, TxKind::Unfreeze { account: a1 }))
        .is_success());
    assert!(ch
        .run(ch.transfer(&ch.customers[1].clone(), a0, cny(), 5, 2))
        .is_success());
}

#[test]
fn open_account_and_set_tier() {
    let mut ch = Chain::new(2, 9);
    let bank_a = ch.bank_a.clone();
    let newcomer = Keypair::from_secret_bytes(&[3; 32]);
    let commitment = Hash::tagged(b"salted-id", b"410101199001011234|salt");
    let open = |tier| TxKind::OpenAccount {
        owner: newcomer.public(),
        tier: Tier(tier),
        identity_commitment: commitment,
        identity_envelope: Vec::new(),
    };

    let r = ch.run(ch.tx(&ch.customers[0].clone(), open(1)));
    assert_eq!(r.failure().map(|r| r.code()), Some("unauthorised"));
    let r = ch.run(ch.tx(&bank_a, open(9)));
    assert_eq!(r.failure().map(|r| r.code()), Some("unknown_tier"));
    let r = ch.run(ch.tx(&bank_a, open(1)));
    assert!(r.is_success(), "{r:?}");
    let r = ch.run(ch.tx(&bank_a, open(1)));
    assert_eq!(r.failure().map(|r| r.code()), Some("account_exists"));
    let acct = ch.account(&addr(&newcomer)).unwrap();
    assert_eq!(acct.institution, addr(&bank_a));
    assert_eq!(
        acct.kind,
        AccountKind::Customer {
            tier: Tier(1),
            identity_commitment: commitment
        }
    );

    // Only its institution changes its tier.
    let r = ch.run(ch.tx(
        &ch.bank_b.clone(),
        TxKind::SetTier {
            account: addr(&newcomer),
            tier: Tier(2),
        },
    ));
    assert_eq!(r.failure().map(|r| r.code()), Some("unauthorised"));
    let r = ch.run(ch.tx(
        &bank_a,
        TxKind::SetTier {
            account: addr(&newcomer),
            tier: Tier(7),
        },
    ));
    assert_eq!(r.failure().map(|r| r.code()), Some("unknown_tier"));
    assert!(ch
        .run(ch.tx(
            &bank_a,
            TxKind::SetTier {
                account: addr(&newcomer),
                tier: Tier(2)
            }
        ))
        .is_success());
    let r = ch.run(ch.tx(
        &bank_a,
        TxKind::SetTier {
            account: addr(&bank_a),
            tier: Tier(2),
        },
    ));
    assert_eq!(r.failure().map(|r| r.code()), Some("unauthorised"));

    // The new account can receive and then send.
    assert!(ch
        .run(ch.transfer(&bank_a, addr(&newcomer), cny(), 500, 1))
        .is_success());
    assert!(ch
        .run(ch.transfer(&newcomer, addr(&bank_a), cny(), 200, 1))
        .is_success());
    assert_eq!(ch.balance(&addr(&newcomer), cny()), 300);
}

#[test]
fn mint_and_burn_by_issuer_only() {
    let mut ch = Chain::new(2, 10);
    let (bank_a, bank_b) = (ch.bank_a.clone(), ch.bank_b.clone());
    let to = addr(&ch.customers[0]);
    let supply = ch.supply(cny());

    let r = ch.run(ch.tx(
        &bank_b,
        TxKind::Mint {
            to,
            asset: cny(),
            amount: Amount(5),
        },
    ));
    assert_eq!(r.failure().map(|r| r.code()), Some("unauthorised"));
    let r = ch.run(ch.tx(
        &bank_a,
        TxKind::Mint {
            to,
            asset: cny(),
            amount: Amount(0),
        },
    ));
    assert_eq!(r.failure().map(|r| r.code()), Some("zero_amount"));
    let r = ch.run(ch.tx(
        &bank_a,
        TxKind::Mint {
            to: Address([1; 20]),
            asset: cny(),
            amount: Amount(5),
        },
    ));
    assert_eq!(r.failure().map(|r| r.code()), Some("unknown_account"));
    let r = ch.run(ch.tx(
        &bank_a,
        TxKind::Mint {
            to,
            asset: cny(),
            amount: Amount(u128::MAX),
        },
    ));
    assert_eq!(r.failure().map(|r| r.code()), Some("overflow"));
    assert!(ch
        .run(ch.tx(
            &bank_a,
            TxKind::Mint {
                to,
                asset: cny(),
                amount: Amount(700)
            }
        ))
        .is_success());
    assert_eq!(ch.supply(cny()), supply + 700);
    assert_eq!(ch.balance(&to, cny()), START_BALANCE + 700);

    let r = ch.run(ch.tx(
        &bank_b,
        TxKind::Burn {
            asset: cny(),
            amount: Amount(5),
        },
    ));
    assert_eq!(r.failure().map(|r| r.code()), Some("unauthorised"));
    let r = ch.run(ch.tx(
        &bank_a,
        TxKind::Burn {
            asset: cny(),
            amount: Amount(START_BALANCE + 1),
        },
    ));
    assert_eq!(r.failure().map(|r| r.code()), Some("insufficient_balance"));
    assert!(ch
        .run(ch.tx(
            &bank_a,
            TxKind::Burn {
                asset: cny(),
                amount: Amount(START_BALANCE)
            }
        ))
        .is_success());
    assert_eq!(ch.supply(cny()), supply + 700 - START_BALANCE);
    assert_eq!(ch.balance(&addr(&bank_a), cny()), 0);
    assert_eq!(ch.supply(cny()), ch.sum_balances(cny()));
}

#[test]
fn a_frozen_institution_can_do_nothing() {
    let mut ch = Chain::new(2, 12);
    let (bank_a, regulator) = (ch.bank_a.clone(), ch.regulator.clone());
    let a = addr(&bank_a);
    let to = addr(&ch.customers[0]);
    let freeze = TxKind::Freeze {
        account: a,
        reason: FreezeReason::LegalOrder,
    };
    assert!(ch.run(ch.tx(&regulator, freeze)).is_success());
    let newcomer = Keypair::from_secret_bytes(&[6; 32]);
    let attempts = [
        TxKind::Mint {
            to,
            asset: cny(),
            amount: Amount(1_000_000),
        },
        TxKind::Burn {
            asset: cny(),
            amount: Amount(50_000),
        },
        TxKind::OpenAccount {
            owner: newcomer.public(),
            tier: Tier(1),
            identity_commitment: Hash::ZERO,
            identity_envelope: Vec::new(),
        },
        TxKind::SetTier {
            account: to,
            tier: Tier(2),
        },
        TxKind::Freeze {
            account: to,
            reason: FreezeReason::Fraud,
        },
        TxKind::Unfreeze { account: a },
    ];
    let supply = ch.supply(cny());
    for kind in attempts {
        let name = kind.name();
        let r = ch.run(ch.tx(&bank_a, kind));
        assert_eq!(
            r.failure().map(|r| r.code()),
            Some("sender_frozen"),
            "{name}"
        );
    }
    assert_eq!(ch.supply(cny()), supply);
    assert!(ch
        .run(ch.tx(&regulator, TxKind::Unfreeze { account: a }))
        .is_success());
    let r = ch.run(ch.tx(
        &bank_a,
        TxKind::Mint {
            to,
            asset: cny(),
            amount: Amount(1),
        },
    ));
    assert!(r.is_success(), "{r:?}");
}

#[test]
fn a_regulator_freeze_takes_over_an_institution_freeze() {
    let mut ch = Chain::new(2, 13);
    let (bank_a, regulator) = (ch.bank_a.clone(), ch.regulator.clone());
    let target = addr(&ch.customers[0]); // bank A's customer
    let by_bank = TxKind::Freeze {
        account: target,
        reason: FreezeReason::CustomerRequest,
    };
    assert!(ch.run(ch.tx(&bank_a, by_bank)).is_success());
    let by_regulator = TxKind::Freeze {
        account: target,
        reason: FreezeReason::LegalOrder,
    };
    let r = ch.run(ch.tx(&regulator, by_regulator.clone()));
    assert!(r.is_success(), "{r:?}");
    assert_eq!(
        ch.account(&target).unwrap().frozen.map(|f| f.by),
        Some(addr(&regulator))
    );
    // Now only a regulator can lift it, and a second regulator freeze is refused.
    let r = ch.run(ch.tx(&bank_a, TxKind::Unfreeze { account: target }));
    assert_eq!(r.failure().map(|r| r.code()), Some("unauthorised"));
    let r = ch.run(ch.tx(&regulator, by_regulator));
    assert_eq!(r.failure().map(|r| r.code()), Some("already_frozen"));
    // An institution cannot re-freeze over a regulator's freeze either.
    let r = ch.run(ch.tx(
        &bank_a,
        TxKind::Freeze {
            account: target,
            reason: FreezeReason::Fraud,
        },
    ));
    assert_eq!(r.failure().map(|r| r.code()), Some("already_frozen"));
}

#[test]
fn only_a_regulator_anchors_its_audit_log_and_nothing_else_changes() {
    let mut ch = Chain::new(4, 8);
    let anchor = TxKind::AnchorAuditLog {
        entries: 42,
        head: Hash::tagged(b"test", b"head"),
    };
    for not_regulator in [ch.bank_a.clone(), ch.customers[0].clone()] {
        let r = ch.run(ch.tx(&not_regulator, anchor.clone()));
        assert_eq!(r.failure().map(|r| r.code()), Some("unauthorised"));
    }
    let regulator = ch.regulator.clone();
    let before = ch
        .account(&addr(&regulator))
        .expect("the regulator's account");
    let r = ch.run(ch.tx(&regulator, anchor));
    assert!(r.is_success(), "{r:?}");
    // Only the regulator's sequence number moved.
    let after = ch
        .account(&addr(&regulator))
        .expect("the regulator's account");
    assert_eq!(after.sequence.0, before.sequence.0 + 1);
    assert_eq!(
        Account {
            sequence: before.sequence,
            ..after
        },
        before
    );
}

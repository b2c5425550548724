//! Linked operations and payment versus payment: the rule tables (every
//! refusal, by code, with the failing leg), atomicity (a failing leg
//! leaves nothing of any leg), the used quote's life, and rounding.

mod common;

use common::*;
use hutong_runtime::exchange::{convert, Quote, Rate, QUOTE_LIFETIME_MAX_MS};
use hutong_runtime::state::{StateKey, StateValue};
use hutong_runtime::store::read_value;
use hutong_runtime::transfer::TRANSFER_PRUNE_EVERY;
use hutong_runtime::tx::{FreezeReason, LinkedOp};
use hutong_runtime::{
    Address, Amount, Effect, Keypair, Outcome, Receipt, SignedTransaction, TimestampMs, TransferId,
    TxKind,
};
use proptest::prelude::*;

fn code(r: &Receipt) -> &'static str {
    match &r.outcome {
        Outcome::Success { .. } => "success",
        Outcome::Failed { reason } | Outcome::LegFailed { reason, .. } => reason.code(),
    }
}

/// Bank B's quote: CNY paid, HKD received at 1.09, 100 to 5,000 CNY
/// (minor units), valid for a minute.
fn quote(ch: &Chain, id: u64) -> Quote {
    Quote {
        provider: addr(&ch.bank_b),
        quote_id: id,
        sell: cny(),
        buy: hkd(),
        rate: Rate { num: 109, den: 100 },
        min_sell: Amount(100),
        max_sell: Amount(5_000),
        expires_at: TimestampMs(ch.time + 60_000),
        payer: None,
    }
}

#[allow(clippy::too_many_arguments)]
fn pvp(
    ch: &Chain,
    payer: &Keypair,
    q: Quote,
    signer: &Keypair,
    pay: u128,
    min_receive: u128,
    to: Address,
    id: u128,
) -> SignedTransaction {
    let quote_signature = q.sign(ch.chain_id, signer);
    ch.tx(
        payer,
        TxKind::Pvp {
            quote: q,
            quote_signature,
            pay: Amount(pay),
            min_receive: Amount(min_receive),
            to,
            transfer_id: TransferId(id),
        },
    )
}

#[test]
fn a_payment_versus_payment_settles_both_legs_at_the_quoted_rate() {
    let mut ch = Chain::new(4, 1);
    let payer = ch.customers[2].clone(); // bank A, tier 2
    let payee = addr(&ch.customers[1]); // bank B
    let provider = addr(&ch.bank_b);
    let (cny0, hkd0) = (ch.supply(cny()), ch.supply(hkd()));
    let q = quote(&ch, 7);
    let tx = pvp(&ch, &payer, q, &ch.bank_b, 1_001, 1_090, payee, 1);
    let r = ch.run(tx);
    assert_eq!(code(&r), "success", "{r:?}");
    // 1,001 × 1.09 = 1,091.09: the payee receives 1,091, the provider
    // keeps the 0.09 of a minor unit it never paid.
    let Outcome::Success { effects } = &r.outcome else {
        unreachable!()
    };
    assert_eq!(
        effects.as_slice(),
        &[
            Effect::Exchanged {
                payer: addr(&payer),
                provider,
                quote_id: 7,
                payee,
                sell: cny(),
                paid: Amount(1_001),
                buy: hkd(),
                received: Amount(1_091),
            },
            Effect::Leg { leg: 0 },
            Effect::Debit {
                account: addr(&payer),
                asset: cny(),
                amount: Amount(1_001)
            },
            Effect::Credit {
                account: provider,
                asset: cny(),
                amount: Amount(1_001)
            },
            Effect::Leg { leg: 1 },
            Effect::Debit {
                account: provider,
                asset: hkd(),
                amount: Amount(1_091)
            },
            Effect::Credit {
                account: payee,
                asset: hkd(),
                amount: Amount(1_091)
            },
        ]
    );
    assert_eq!(ch.balance(&addr(&payer), cny()), START_BALANCE - 1_001);
    assert_eq!(ch.balance(&provider, cny()), START_BALANCE + 1_001);
    assert_eq!(ch.balance(&provider, hkd()), START_BALANCE - 1_091);
    assert_eq!(ch.balance(&payee, hkd()), START_BALANCE + 1_091);
    assert_eq!((ch.supply(cny()), ch.supply(hkd())), (cny0, hkd0));
    assert_eq!(ch.sum_balances(cny()), cny0);
    assert_eq!(ch.sum_balances(hkd()), hkd0);
}

#[test]
fn every_payment_versus_payment_refusal_has_its_code_and_leaves_no_trace() {
    let mut ch = Chain::new(8, 2);
    let payer = ch.customers[2].clone(); // bank A, tier 2
    let payee = addr(&ch.customers[1]);
    let bank_a = ch.bank_a.clone();
    let bank_b = ch.bank_b.clone();
    // A used quote (id 1), for the `quote_used` and retry cases.
    let q1 = quote(&ch, 1);
    let r = ch.run(pvp(&ch, &payer, q1, &bank_b, 500, 0, payee, 100));
    assert_eq!(code(&r), "success", "{r:?}");
    // The payee's account frozen by its institution: leg 1 fails.
    let frozen_payee = addr(&ch.customers[5]);
    let r = ch.run(ch.tx(
        &bank_b,
        TxKind::Freeze {
            account: frozen_payee,
            reason: FreezeReason::Fraud,
        },
    ));
    assert_eq!(code(&r), "success");

    type Build = Box<dyn Fn(&Chain) -> SignedTransaction>;
    let p = payer.clone();
    let a = bank_a.clone();
    let b = bank_b.clone();
    let cases: Vec<(&str, Build, &str, Option<u8>)> = vec![
        (
            "a quote by a member that is not an FX provider",
            Box::new(move |ch: &Chain| {
                let q = Quote {
                    provider: addr(&a),
                    ..quote(ch, 2)
                };
                pvp(ch, &p, q, &a, 500, 0, payee, 1)
            }),
            "not_fx_provider",
            None,
        ),
        (
            "an altered rate",
            Box::new({
                let (p, b) = (payer.clone(), b.clone());
                move |ch: &Chain| {
                    let q = quote(ch, 2);
                    let quote_signature = q.sign(ch.chain_id, &b);
                    let altered = Quote {
                        rate: Rate { num: 200, den: 100 },
                        ..q
                    };
                    ch.tx(
                        &p,
                        TxKind::Pvp {
                            quote: altered,
                            quote_signature,
                            pay: Amount(500),
                            min_receive: Amount(0),
                            to: payee,
                            transfer_id: TransferId(1),
                        },
                    )
                }
            }),
            "bad_quote_signature",
            None,
        ),
        (
            "a quote signed by someone else",
            Box::new({
                let (p, a) = (payer.clone(), bank_a.clone());
                move |ch: &Chain| pvp(ch, &p, quote(ch, 2), &a, 500, 0, payee, 1)
            }),
            "bad_quote_signature",
            None,
        ),
        (
            "a zero rate",
            Box::new({
                let (p, b) = (payer.clone(), b.clone());
                move |ch: &Chain| {
                    let q = Quote {
                        rate: Rate { num: 0, den: 1 },
                        ..quote(ch, 2)
                    };
                    pvp(ch, &p, q, &b, 500, 0, payee, 1)
                }
            }),
            "bad_quote",
            None,
        ),
        (
            "the same asset on both sides",
            Box::new({
                let (p, b) = (payer.clone(), b.clone());
                move |ch: &Chain| {
                    let q = Quote {
                        buy: cny(),
                        ..quote(ch, 2)
                    };
                    pvp(ch, &p, q, &b, 500, 0, payee, 1)
                }
            }),
            "bad_quote",
            None,
        ),
        (
            "an expired quote",
            Box::new({
                let (p, b) = (payer.clone(), b.clone());
                move |ch: &Chain| {
                    let q = Quote {
                        expires_at: TimestampMs(ch.time - 1),
                        ..quote(ch, 2)
                    };
                    pvp(ch, &p, q, &b, 500, 0, payee, 1)
                }
            }),
            "quote_expired",
            None,
        ),
        (
            "a quote valid for longer than a day",
            Box::new({
                let (p, b) = (payer.clone(), b.clone());
                move |ch: &Chain| {
                    let q = Quote {
                        expires_at: TimestampMs(ch.time + QUOTE_LIFETIME_MAX_MS + 1),
                        ..quote(ch, 2)
                    };
                    pvp(ch, &p, q, &b, 500, 0, payee, 1)
                }
            }),
            "bad_expiry",
            None,
        ),
        (
            "a quote for another payer",
            Box::new({
                let (p, b) = (payer.clone(), b.clone());
                move |ch: &Chain| {
                    let q = Quote {
                        payer: Some(payee),
                        ..quote(ch, 2)
                    };
                    pvp(ch, &p, q, &b, 500, 0, payee, 1)
                }
            }),
            "quote_not_for_payer",
            None,
        ),
        (
            "below the quote's bounds",
            Box::new({
                let (p, b) = (payer.clone(), b.clone());
                move |ch: &Chain| pvp(ch, &p, quote(ch, 2), &b, 99, 0, payee, 1)
            }),
            "outside_quote",
            None,
        ),
        (
            "above the quote's bounds",
            Box::new({
                let (p, b) = (payer.clone(), b.clone());
                move |ch: &Chain| pvp(ch, &p, quote(ch, 2), &b, 5_001, 0, payee, 1)
            }),
            "outside_quote",
            None,
        ),
        (
            "a quote already used",
            Box::new({
                let (p, b) = (payer.clone(), b.clone());
                move |ch: &Chain| pvp(ch, &p, q1, &b, 500, 0, payee, 1)
            }),
            "quote_used",
            None,
        ),
        (
            "less than the payer's bound",
            Box::new({
                let (p, b) = (payer.clone(), b.clone());
                move |ch: &Chain| pvp(ch, &p, quote(ch, 2), &b, 1_000, 1_091, payee, 1)
            }),
            "slippage",
            None,
        ),
        (
            "a retry of the payment that settled (its quote, amounts and id)",
            Box::new({
                let (p, b) = (payer.clone(), b.clone());
                move |ch: &Chain| pvp(ch, &p, q1, &b, 500, 0, payee, 100)
            }),
            "exists",
            None,
        ),
        (
            "the payer's transfer id again",
            Box::new({
                let (p, b) = (payer.clone(), b.clone());
                move |ch: &Chain| pvp(ch, &p, quote(ch, 2), &b, 500, 0, payee, 100)
            }),
            "exists_with_different_fields",
            None,
        ),
        (
            "above the payer's step-up threshold without a co-signature (leg 0)",
            Box::new({
                let (p, b) = (payer.clone(), b.clone());
                move |ch: &Chain| {
                    let q = Quote {
                        max_sell: Amount(10_000),
                        ..quote(ch, 2)
                    };
                    pvp(ch, &p, q, &b, 5_001, 0, payee, 1)
                }
            }),
            "step_up_required",
            Some(0),
        ),
        (
            "to a frozen payee (leg 1)",
            Box::new({
                let (p, b) = (payer.clone(), b.clone());
                move |ch: &Chain| pvp(ch, &p, quote(ch, 2), &b, 500, 0, frozen_payee, 1)
            }),
            "recipient_frozen",
            Some(1),
        ),
        (
            "a provider without enough HKD (leg 1)",
            Box::new({
                let (p, b) = (payer.clone(), b.clone());
                move |ch: &Chain| {
                    let q = Quote {
                        rate: Rate { num: 1_000, den: 1 },
                        max_sell: Amount(START_BALANCE),
                        ..quote(ch, 2)
                    };
                    pvp(ch, &p, q, &b, 4_000, 0, payee, 1)
                }
            }),
            "insufficient_balance",
            Some(1),
        ),
    ];
    for (name, build, expected, leg) in cases {
        let tx = build(&ch);
        let roots_before = ch.sum_balances(cny()) + ch.sum_balances(hkd());
        let payer_cny = ch.balance(&addr(&payer), cny());
        let provider = (
            ch.balance(&addr(&bank_b), cny()),
            ch.balance(&addr(&bank_b), hkd()),
        );
        let r = ch.run(tx);
        assert_eq!(code(&r), expected, "{name}: {r:?}");
        assert_eq!(r.failed_leg(), leg, "{name}: failing leg");
        assert_eq!(ch.balance(&addr(&payer), cny()), payer_cny, "{name}");
        assert_eq!(
            (
                ch.balance(&addr(&bank_b), cny()),
                ch.balance(&addr(&bank_b), hkd())
            ),
            provider,
            "{name}: the provider's balances"
        );
        assert_eq!(
            ch.sum_balances(cny()) + ch.sum_balances(hkd()),
            roots_before
        );
    }
    // None of the refused payments used quote 2: it still settles.
    let r = ch.run(pvp(&ch, &payer, quote(&ch, 2), &bank_b, 500, 545, payee, 2));
    assert_eq!(code(&r), "success", "{r:?}");
}

#[test]
fn a_used_quote_is_remembered_until_it_expires_then_leaves_the_state() {
    let mut ch = Chain::new(4, 3);
    let payer = ch.customers[2].clone();
    let payee = addr(&ch.customers[1]);
    let bank_b = ch.bank_b.clone();
    let q = quote(&ch, 9);
    let r = ch.run(pvp(&ch, &payer, q, &bank_b, 500, 0, payee, 1));
    assert_eq!(code(&r), "success");
    let key = StateKey::QuoteUsed(addr(&bank_b), 9);
    assert!(matches!(
        read_value(&ch.store, &key).unwrap(),
        Some(StateValue::QuoteUsed(_))
    ));
    // Past its expiry, and past the next pruning height.
    ch.time = q.expires_at.0 + 1_000;
    let r = ch.run(pvp(&ch, &payer, q, &bank_b, 500, 0, payee, 2));
    assert_eq!(code(&r), "quote_expired");
    while !(ch.height + 1).is_multiple_of(TRANSFER_PRUNE_EVERY) {
        ch.execute(&[]);
    }
    ch.execute(&[]);
    assert_eq!(read_value(&ch.store, &key).unwrap(), None);
    let r = ch.run(pvp(&ch, &payer, q, &bank_b, 500, 0, payee, 3));
    assert_eq!(code(&r), "quote_expired", "an expired quote never settles");
}

#[test]
fn a_provider_made_by_governance_quotes_and_one_removed_does_not() {
    use hutong_runtime::governance::{Action, VotingRules};
    let mut ch = Chain::governed(4, 4, 4, VotingRules::default());
    let payer = ch.customers[3].clone(); // bank B, tier 2, pays HKD
    let payee = addr(&ch.customers[0]);
    let bank_a = ch.bank_a.clone();
    let q = Quote {
        provider: addr(&bank_a),
        sell: hkd(),
        buy: cny(),
        rate: Rate { num: 92, den: 100 },
        ..quote(&ch, 1)
    };
    let r = ch.run(pvp(&ch, &payer, q, &bank_a, 500, 0, payee, 1));
    assert_eq!(code(&r), "not_fx_provider");
    let propose = |ch: &mut Chain, enabled: bool| {
        let members = ch.members.clone();
        let action = Action::SetFxProvider {
            name: "member-0".into(),
            enabled,
        };
        let r = ch.run(ch.tx(
            &members[0],
            TxKind::Propose {
                actions: vec![action],
                voting_period_ms: 3_600_000,
            },
        ));
        assert_eq!(code(&r), "success", "{r:?}");
        let id = match &r.outcome {
            Outcome::Success { effects } => effects
                .iter()
                .find_map(|e| match e {
                    Effect::ProposalCreated { proposal } => Some(*proposal),
                    _ => None,
                })
                .unwrap(),
            _ => unreachable!(),
        };
        for m in &members[1..3] {
            let r = ch.run(ch.tx(
                m,
                TxKind::Vote {
                    proposal: id,
                    approve: true,
                },
            ));
            assert_eq!(code(&r), "success", "{r:?}");
        }
    };
    propose(&mut ch, true);
    let q = Quote {
        expires_at: TimestampMs(ch.time + 60_000),
        ..q
    };
    let r = ch.run(pvp(&ch, &payer, q, &bank_a, 500, 460, payee, 2));
    assert_eq!(code(&r), "success", "{r:?}");
    propose(&mut ch, false);
    let q = Quote {
        quote_id: 2,
        expires_at: TimestampMs(ch.time + 60_000),
        ..q
    };
    let r = ch.run(pvp(&ch, &payer, q, &bank_a, 500, 0, payee, 3));
    assert_eq!(code(&r), "not_fx_provider");
}

fn transfer_leg(to: Address, amount: u128, id: u128) -> LinkedOp {
    LinkedOp::Transfer {
        to,
        asset: cny(),
        amount: Amount(amount),
        transfer_id: TransferId(id),
    }
}

#[test]
fn linked_legs_settle_together_with_one_receipt_group_per_leg() {
    let mut ch = Chain::new(8, 5);
    let payer = ch.customers[2].clone();
    let merchant = addr(&ch.customers[1]);
    let platform = addr(&ch.customers[3]);
    let charger = ch.customers[6].clone();
    let legs = vec![
        transfer_leg(merchant, 970, 1),
        transfer_leg(platform, 30, 2),
        LinkedOp::Hold {
            to: addr(&charger),
            asset: cny(),
            amount: Amount(200),
            hold_id: TransferId(3),
            expires_at: TimestampMs(ch.time + 60_000),
        },
    ];
    let r = ch.run(ch.tx(&payer, TxKind::Linked { legs }));
    assert_eq!(code(&r), "success", "{r:?}");
    let Outcome::Success { effects } = &r.outcome else {
        unreachable!()
    };
    let markers: Vec<u8> = effects
        .iter()
        .filter_map(|e| match e {
            Effect::Leg { leg } => Some(*leg),
            _ => None,
        })
        .collect();
    assert_eq!(markers, vec![0, 1, 2]);
    assert_eq!(ch.balance(&addr(&payer), cny()), START_BALANCE - 1_000);
    assert_eq!(ch.balance(&merchant, cny()), START_BALANCE + 970);
    assert_eq!(ch.balance(&platform, cny()), START_BALANCE + 30);
    // The charger captures part of the hold and pays a refund in one
    // linked transaction of its own.
    let legs = vec![
        LinkedOp::Capture {
            payer: addr(&payer),
            hold_id: TransferId(3),
            amount: Amount(150),
        },
        transfer_leg(addr(&payer), 10, 4),
    ];
    let r = ch.run(ch.tx(&charger, TxKind::Linked { legs }));
    assert_eq!(code(&r), "success", "{r:?}");
    assert_eq!(
        ch.balance(&addr(&payer), cny()),
        START_BALANCE - 1_000 - 150 + 10
    );
}

#[test]
fn a_failing_leg_undoes_every_leg_and_is_named() {
    let mut ch = Chain::new(8, 6);
    let payer = ch.customers[2].clone(); // bank A, tier 2: 10,000 single, step-up above 5,000
    let merchant = addr(&ch.customers[1]);
    let stranger = {
        use rand::SeedableRng;
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(99);
        Address::of(&Keypair::generate(&mut rng).public())
    };
    let hkd_leg = |amount: u128, id: u128| LinkedOp::Transfer {
        to: merchant,
        asset: hkd(),
        amount: Amount(amount),
        transfer_id: TransferId(id),
    };
    type Legs = Vec<LinkedOp>;
    let cases: Vec<(&str, Legs, &str, u8)> = vec![
        (
            "the second transfer to an unknown account",
            vec![
                transfer_leg(merchant, 100, 1),
                transfer_leg(stranger, 100, 2),
            ],
            "unknown_account",
            1,
        ),
        (
            "the same transfer id twice",
            vec![
                transfer_leg(merchant, 100, 1),
                transfer_leg(merchant, 100, 1),
            ],
            "exists",
            1,
        ),
        (
            "a lone CNY leg above the step-up threshold",
            vec![transfer_leg(merchant, 9_000, 1), hkd_leg(10, 2)],
            "step_up_required",
            0,
        ),
        (
            "capturing a hold that does not exist",
            vec![
                transfer_leg(merchant, 100, 11),
                LinkedOp::Capture {
                    payer: merchant,
                    hold_id: TransferId(1),
                    amount: Amount(1),
                },
            ],
            "unknown_hold",
            1,
        ),
    ];
    for (name, legs, expected, leg) in cases {
        let before = ch.balance(&addr(&payer), cny());
        let seq = ch.sequence(&addr(&payer));
        let r = ch.run(ch.tx(&payer, TxKind::Linked { legs: legs.clone() }));
        assert_eq!(code(&r), expected, "{name}: {r:?}");
        assert_eq!(ch.sequence(&addr(&payer)).0, seq.0 + 1, "{name}");
        assert_eq!(r.failed_leg(), Some(leg), "{name}");
        assert_eq!(ch.balance(&addr(&payer), cny()), before, "{name}");
        // The first leg's transfer id was not recorded.
        if let LinkedOp::Transfer { transfer_id, .. } = legs[0] {
            let key = StateKey::TransferRecord(addr(&payer), transfer_id);
            let recorded = read_value(&ch.store, &key).unwrap();
            assert!(recorded.is_none(), "{name}: {recorded:?}");
        }
    }

    // The legs of one asset count as one payment for the single maximum
    // and the step-up threshold, checked before any leg (no leg named).
    let bank_a = ch.bank_a.clone();
    let bank_b = ch.bank_b.clone();
    let linked = |ch: &Chain, legs: Vec<LinkedOp>, cosigner: Option<&Keypair>| {
        let tx = ch.unsigned(&payer, TxKind::Linked { legs });
        match cosigner {
            Some(c) => tx.sign_cosigned(&payer, c),
            None => tx.sign(&payer),
        }
    };
    let split = vec![
        transfer_leg(merchant, 4_000, 31),
        transfer_leg(merchant, 4_000, 32),
    ];
    let r = ch.run(linked(&ch, split.clone(), None));
    assert_eq!(code(&r), "step_up_required", "{r:?}");
    assert_eq!(r.failed_leg(), None);
    let r = ch.run(linked(&ch, split.clone(), Some(&bank_b)));
    assert_eq!(code(&r), "cosigner_not_institution", "{r:?}");
    let r = ch.run(linked(
        &ch,
        vec![
            transfer_leg(merchant, 6_000, 33),
            transfer_leg(merchant, 6_000, 34),
        ],
        Some(&bank_a),
    ));
    assert_eq!(code(&r), "single_limit_exceeded", "{r:?}");
    let before = ch.balance(&addr(&payer), cny());
    let r = ch.run(linked(&ch, split, Some(&bank_a)));
    assert_eq!(code(&r), "success", "co-signed by its institution: {r:?}");
    assert_eq!(ch.balance(&addr(&payer), cny()), before - 8_000);

    // 8,000 sent today; four co-signed 10,000s make 48,000, then three
    // legs of 1,000 pass the 50,000 daily limit on the third, and none
    // stays.
    for i in 0..4u128 {
        let legs = vec![
            transfer_leg(merchant, 5_000, 40 + 2 * i),
            transfer_leg(merchant, 5_000, 41 + 2 * i),
        ];
        let r = ch.run(linked(&ch, legs, Some(&bank_a)));
        assert_eq!(code(&r), "success", "{r:?}");
    }
    let before = ch.balance(&addr(&payer), cny());
    let legs = vec![
        transfer_leg(merchant, 1_000, 51),
        transfer_leg(merchant, 1_000, 52),
        transfer_leg(merchant, 1_000, 53),
    ];
    let r = ch.run(linked(&ch, legs, None));
    assert_eq!(code(&r), "daily_limit_exceeded", "{r:?}");
    assert_eq!(r.failed_leg(), Some(2));
    assert_eq!(ch.balance(&addr(&payer), cny()), before);
    // Too many legs is not a transaction at all.
    let legs: Vec<LinkedOp> = (0..9).map(|i| transfer_leg(merchant, 1, 100 + i)).collect();
    let r = ch.run(ch.tx(&payer, TxKind::Linked { legs }));
    assert_eq!(code(&r), "out_of_bounds");
}

#[test]
fn rounding_is_exact_floor_even_near_the_top_of_the_range() {
    assert_eq!(
        convert(Amount(1_001), Rate { num: 109, den: 100 }),
        Some(Amount(1_091))
    );
    assert_eq!(convert(Amount(1), Rate { num: 1, den: 2 }), Some(Amount(0)));
    assert_eq!(
        convert(
            Amount(u128::MAX),
            Rate {
                num: 1,
                den: u64::MAX
            }
        ),
        Some(Amount(u128::MAX / u128::from(u64::MAX)))
    );
    assert_eq!(convert(Amount(u128::MAX), Rate { num: 2, den: 1 }), None);
    assert_eq!(convert(Amount(5), Rate { num: 1, den: 0 }), None);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    /// `convert` is the exact floor: checked against 192-bit arithmetic
    /// made of two u128 halves.
    #[test]
    fn conversion_is_the_exact_floor(pay in any::<u128>(), num in 1..=u64::MAX, den in 1..=u64::MAX) {
        let got = convert(Amount(pay), Rate { num, den });
        // pay × num as (high, low) 64-bit limbs of a 192-bit product.
        let (p_hi, p_lo) = (pay >> 64, pay & u128::from(u64::MAX));
        let lo = p_lo * u128::from(num);
        let hi = p_hi * u128::from(num) + (lo >> 64);
        let lo = lo & u128::from(u64::MAX);
        // Long division of (hi, lo) by den, 64 bits at a time.
        let den = u128::from(den);
        let (q_hi, r_hi) = (hi / den, hi % den);
        let q_lo = ((r_hi << 64) | lo) / den;
        let expected = if q_hi >> 64 != 0 {
            None
        } else {
            Some(Amount((q_hi << 64) | q_lo))
        };
        prop_assert_eq!(got, expected);
    }
}

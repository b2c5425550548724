//! Table-driven tests of the ledger rules: every kind, every failure
//! reason, with the balances and sequence numbers it must (not) change.

mod common;

use common::*;
use hutong_runtime::tx::{Expiry, FreezeReason, Payout};
use hutong_runtime::{
    Address, Amount, FailureReason, Height, Keypair, Nonce, Outcome, TransferId, TxKind,
};

fn code(r: &hutong_runtime::Receipt) -> &'static str {
    match &r.outcome {
        Outcome::Success { .. } => "success",
        Outcome::Failed { reason } | Outcome::LegFailed { reason, .. } => reason.code(),
    }
}

/// A transfer case: who sends what to whom, and the expected receipt code.
struct Case {
    name: &'static str,
    build: fn(&Chain) -> hutong_runtime::SignedTransaction,
    expect: &'static str,
}

#[test]
fn transfer_rules_table() {
    let cases = [
        Case {
            name: "plain transfer within limits",
            build: |ch| ch.transfer(&ch.customers[1], addr(&ch.customers[2]), cny(), 700, 1),
            expect: "success",
        },
        Case {
            name: "zero amount",
            build: |ch| ch.transfer(&ch.customers[1], addr(&ch.customers[2]), cny(), 0, 1),
            expect: "zero_amount",
        },
        Case {
            name: "to self",
            build: |ch| ch.transfer(&ch.customers[1], addr(&ch.customers[1]), cny(), 5, 1),
            expect: "self_transfer",
        },
        Case {
            name: "unknown asset",
            build: |ch| {
                ch.transfer(
                    &ch.customers[1],
                    addr(&ch.customers[2]),
                    hutong_runtime::AssetCode::new("USD").unwrap(),
                    5,
                    1,
                )
            },
            expect: "unknown_asset",
        },
        Case {
            name: "unknown recipient",
            build: |ch| ch.transfer(&ch.customers[1], Address([7; 20]), cny(), 5, 1),
            expect: "unknown_account",
        },
        Case {
            name: "tier 1 may not send HKD",
            build: |ch| ch.transfer(&ch.customers[0], addr(&ch.customers[2]), hkd(), 5, 1),
            expect: "asset_not_allowed",
        },
        Case {
            name: "tier 1 single maximum",
            build: |ch| ch.transfer(&ch.customers[0], addr(&ch.customers[2]), cny(), 1_001, 1),
            expect: "single_limit_exceeded",
        },
        Case {
            name: "tier 1 at the single maximum",
            build: |ch| ch.transfer(&ch.customers[0], addr(&ch.customers[2]), cny(), 1_000, 1),
            expect: "success",
        },
        Case {
            name: "tier 2 above step-up without co-signature",
            build: |ch| ch.transfer(&ch.customers[1], addr(&ch.customers[2]), cny(), 5_001, 1),
            expect: "step_up_required",
        },
        Case {
            name: "tier 2 above step-up co-signed by its institution",
            build: |ch| {
                ch.transfer_cosigned(&ch.customers[1], addr(&ch.customers[2]), 5_001, &ch.bank_b)
            },
            expect: "success",
        },
        Case {
            name: "tier 2 above step-up co-signed by another institution",
            build: |ch| {
                ch.transfer_cosigned(&ch.customers[1], addr(&ch.customers[2]), 5_001, &ch.bank_a)
            },
            expect: "cosigner_not_institution",
        },
        Case {
            name: "co-signature stripped in flight",
            build: |ch| {
                let mut tx = ch.transfer_cosigned(
                    &ch.customers[1],
                    addr(&ch.customers[2]),
                    5_001,
                    &ch.bank_b,
                );
                tx.cosignature = None;
                tx
            },
            expect: "bad_signature",
        },
        Case {
            name: "co-signature the body does not name",
            build: |ch| {
                ch.transfer(&ch.customers[1], addr(&ch.customers[2]), cny(), 5_001, 1)
                    .cosign(&ch.bank_b)
            },
            expect: "bad_signature",
        },
        Case {
            name: "institution accounts have no tier limits",
            build: |ch| ch.transfer(&ch.bank_a, addr(&ch.customers[2]), cny(), 90_000, 1),
            expect: "success",
        },
        Case {
            name: "insufficient balance",
            build: |ch| {
                ch.transfer(
                    &ch.bank_a,
                    addr(&ch.customers[2]),
                    cny(),
                    START_BALANCE + 1,
                    1,
                )
            },
            expect: "insufficient_balance",
        },
        Case {
            name: "bad signature",
            build: |ch| {
                let mut tx = ch.transfer(&ch.customers[1], addr(&ch.customers[2]), cny(), 5, 1);
                tx.signature.0[0] ^= 1;
                tx
            },
            expect: "bad_signature",
        },
        Case {
            name: "signed by another key",
            build: |ch| {
                ch.unsigned(
                    &ch.customers[1],
                    TxKind::Unfreeze {
                        account: addr(&ch.customers[1]),
                    },
                )
                .sign(&ch.customers[2])
            },
            expect: "bad_signature",
        },
        Case {
            name: "wrong chain",
            build: |ch| {
                let mut tx = ch.unsigned(
                    &ch.customers[1],
                    TxKind::Unfreeze {
                        account: addr(&ch.customers[1]),
                    },
                );
                tx.chain_id.0[0] ^= 1;
                tx.sign(&ch.customers[1])
            },
            expect: "wrong_chain",
        },
        Case {
            name: "bad sequence",
            build: |ch| {
                let mut tx = ch.unsigned(
                    &ch.customers[1],
                    TxKind::Unfreeze {
                        account: addr(&ch.customers[1]),
                    },
                );
                tx.sequence = Nonce(7);
                tx.sign(&ch.customers[1])
            },
            expect: "bad_sequence",
        },
        Case {
            name: "expired by height",
            build: |ch| {
                let mut tx = ch.unsigned(
                    &ch.customers[1],
                    TxKind::Unfreeze {
                        account: addr(&ch.customers[1]),
                    },
                );
                tx.expiry = Expiry::Height(Height(0));
                tx.sign(&ch.customers[1])
            },
            expect: "expired",
        },
        Case {
            name: "expired by time",
            build: |ch| {
                let mut tx = ch.unsigned(
                    &ch.customers[1],
                    TxKind::Unfreeze {
                        account: addr(&ch.customers[1]),
                    },
                );
                tx.expiry = Expiry::Time(hutong_runtime::TimestampMs(T0 - 1));
                tx.sign(&ch.customers[1])
            },
            expect: "expired",
        },
        Case {
            name: "unknown sender",
            build: |ch| {
                let stranger = Keypair::from_secret_bytes(&[9; 32]);
                ch.transfer(&stranger, addr(&ch.customers[2]), cny(), 5, 1)
            },
            expect: "unknown_sender",
        },
        Case {
            name: "memo too long",
            build: |ch| {
                let mut tx = ch.unsigned(
                    &ch.customers[1],
                    TxKind::Unfreeze {
                        account: addr(&ch.customers[1]),
                    },
                );
                tx.memo = vec![b'x'; hutong_runtime::tx::MEMO_BYTES_MAX + 1];
                tx.sign(&ch.customers[1])
            },
            expect: "out_of_bounds",
        },
    ];
    for case in cases {
        let mut chain = Chain::new(4, 1);
        let tx = (case.build)(&chain);
        let sender = tx.tx.sender_address();
        let before_seq = chain.sequence(&sender);
        let before_cny: Vec<u128> = [
            &chain.bank_a,
            &chain.customers[0],
            &chain.customers[1],
            &chain.customers[2],
        ]
        .iter()
        .map(|k| chain.balance(&addr(k), cny()))
        .collect();
        let r = chain.run(tx.clone());
        assert_eq!(
            code(&r),
            case.expect,
            "case {:?}: receipt {:?}",
            case.name,
            r
        );
        assert_eq!(r.tx_hash, tx.hash());
        let after_seq = chain.sequence(&sender);
        match &r.outcome {
            Outcome::Success { .. } => assert_eq!(after_seq.0, before_seq.0 + 1, "{}", case.name),
            Outcome::Failed { reason } | Outcome::LegFailed { reason, .. } => {
                let expected = if reason.consumes_sequence() {
                    before_seq.0 + 1
                } else {
                    before_seq.0
                };
                assert_eq!(after_seq.0, expected, "case {:?}: sequence", case.name);
                let after_cny: Vec<u128> = [
                    &chain.bank_a,
                    &chain.customers[0],
                    &chain.customers[1],
                    &chain.customers[2],
                ]
                .iter()
                .map(|k| chain.balance(&addr(k), cny()))
                .collect();
                assert_eq!(
                    before_cny, after_cny,
                    "case {:?}: a failed transaction moved money",
                    case.name
                );
            }
        }
        assert_eq!(
            chain.supply(cny()),
            chain.sum_balances(cny()),
            "{}",
            case.name
        );
    }
}

#[test]
fn failure_reasons_carry_the_deciding_values() {
    let mut ch = Chain::new(4, 2);
    let r = ch.run(ch.transfer(&ch.customers[0], addr(&ch.customers[2]), cny(), 1_500, 1));
    assert_eq!(
        r.failure(),
        Some(&FailureReason::SingleLimitExceeded {
            asset: cny(),
            limit: Amount(1_000),
            amount: Amount(1_500)
        })
    );
    let r = ch.run(ch.transfer(
        &ch.bank_a,
        addr(&ch.customers[2]),
        cny(),
        START_BALANCE + 5,
        2,
    ));
    assert_eq!(
        r.failure(),
        Some(&FailureReason::InsufficientBalance {
            asset: cny(),
            available: Amount(START_BALANCE),
            required: Amount(START_BALANCE + 5)
        })
    );
    let mut tx = ch.unsigned(
        &ch.customers[1],
        TxKind::Unfreeze {
            account: addr(&ch.customers[1]),
        },
    );
    tx.sequence = Nonce(3);
    let r = ch.run(tx.sign(&ch.customers[1]));
    assert_eq!(
        r.failure(),
        Some(&FailureReason::BadSequence {
            expected: Nonce(0),
            got: Nonce(3)
        })
    );
}

#[test]
fn daily_limit_resets_at_local_midnight() {
    let mut ch = Chain::new(4, 3);
    let (from, to) = (ch.customers[0].clone(), addr(&ch.customers[2]));
    // Tier 1: 1,000 single, 3,000 daily.
    for id in 0..3 {
        let r = ch.run(ch.transfer(&from, to, cny(), 1_000, id));
        assert!(r.is_success(), "{r:?}");
    }
    let r = ch.run(ch.transfer(&from, to, cny(), 1, 3));
    assert_eq!(
        r.failure(),
        Some(&FailureReason::DailyLimitExceeded {
            asset: cny(),
            limit: Amount(3_000),
            spent_today: Amount(3_000),
            amount: Amount(1)
        })
    );
    // 23:59:59 local time on the same day: still blocked.
    ch.time = T0 + 86_399_000;
    assert!(!ch.run(ch.transfer(&from, to, cny(), 1, 4)).is_success());
    // Midnight in UTC+8 (16:00 UTC): a new day.
    ch.time = T0 + 86_400_000;
    assert!(ch.run(ch.transfer(&from, to, cny(), 1_000, 5)).is_success());
}

#[test]
fn a_credit_keeps_the_daily_outflow_of_its_holding() {
    // The outflow lives in the same entry as the balance: crediting the
    // holding must not reset what it sent today.
    let mut ch = Chain::new(4, 3);
    let (spender, other) = (ch.customers[0].clone(), ch.customers[2].clone());
    let (spender_addr, other_addr) = (addr(&spender), addr(&other));
    // Tier 1: 1,000 single, 3,000 daily.
    for id in 0..3 {
        let r = ch.run(ch.transfer(&spender, other_addr, cny(), 1_000, id));
        assert!(r.is_success(), "{r:?}");
    }
    let before = ch.balance(&spender_addr, cny());
    let r = ch.run(ch.transfer(&other, spender_addr, cny(), 1, 100));
    assert!(r.is_success(), "{r:?}");
    assert_eq!(ch.balance(&spender_addr, cny()), before + 1);
    let r = ch.run(ch.transfer(&spender, other_addr, cny(), 1, 3));
    assert_eq!(
        r.failure(),
        Some(&FailureReason::DailyLimitExceeded {
            asset: cny(),
            limit: Amount(3_000),
            spent_today: Amount(3_000),
            amount: Amount(1)
        })
    );
}

#[test]
fn transfer_id_is_idempotent() {
    let mut ch = Chain::new(4, 4);
    let (from, to) = (ch.customers[1].clone(), addr(&ch.customers[2]));
    let first = ch.transfer(&from, to, cny(), 100, 42);
    let first_hash = first.hash();
    assert!(ch.run(first).is_success());
    // The wallet timed out and re-signed the same payment order.
    let retry = ch.run(ch.transfer(&from, to, cny(), 100, 42));
    assert_eq!(
        retry.failure(),
        Some(&FailureReason::TransferExists {
            original_tx: first_hash
        })
    );
    let conflicting = ch.run(ch.transfer(&from, to, cny(), 101, 42));
    assert_eq!(
        conflicting.failure(),
        Some(&FailureReason::TransferExistsWithDifferentFields {
            original_tx: first_hash
        })
    );
    assert_eq!(ch.balance(&to, cny()), START_BALANCE + 100);
    // A transfer id that failed can be used again: it moved nothing.
    assert!(!ch
        .run(ch.transfer(&from, to, cny(), START_BALANCE * 9, 43))
        .is_success());
    assert!(ch.run(ch.transfer(&from, to, cny(), 5, 43)).is_success());
    // Another sender's ids are its own.
    assert!(ch
        .run(ch.transfer(&ch.customers[3].clone(), to, cny(), 100, 42))
        .is_success());
}

#[test]
fn failed_transaction_consumes_sequence_and_cannot_execute_later() {
    let mut ch = Chain::new(4, 5);
    let (from, to) = (ch.customers[1].clone(), addr(&ch.customers[2]));
    let too_big = ch.transfer(&from, to, hkd(), START_BALANCE + 1, 1);
    assert_eq!(
        ch.run(too_big.clone()).failure().map(|r| r.code()),
        Some("single_limit_exceeded")
    );
    // Funds arrive; replaying the same signed bytes must not execute.
    assert!(ch
        .run(ch.transfer(&ch.bank_b.clone(), addr(&from), hkd(), 50_000, 9))
        .is_success());
    assert_eq!(
        ch.run(too_big).failure().map(|r| r.code()),
        Some("bad_sequence")
    );
}

#[test]
fn replay_of_successful_transaction_is_rejected() {
    let mut ch = Chain::new(4, 6);
    let tx = ch.transfer(&ch.customers[1], addr(&ch.customers[2]), cny(), 10, 1);
    let receipts = ch.execute(&[tx.clone(), tx.clone()]);
    assert!(receipts[0].is_success());
    assert_eq!(
        receipts[1].failure().map(|r| r.code()),
        Some("bad_sequence")
    );
    assert_eq!(ch.run(tx).failure().map(|r| r.code()), Some("bad_sequence"));
    assert_eq!(
        ch.balance(&addr(&ch.customers[2]), cny()),
        START_BALANCE + 10
    );
}

#[test]
fn batch_transfer_is_all_or_nothing() {
    let mut ch = Chain::new(6, 7);
    let from = ch.bank_a.clone();
    let good: Vec<Payout> = (1..4)
        .map(|i| Payout {
            to: addr(&ch.customers[i]),
            amount: Amount(10 * i as u128),
        })
        .collect();
    let r = ch.run(ch.tx(
        &from,
        TxKind::BatchTransfer {
            asset: cny(),
            payouts: good.clone(),
            transfer_id: TransferId(1),
        },
    ));
    assert!(r.is_success(), "{r:?}");
    assert_eq!(ch.balance(&addr(&from), cny()), START_BALANCE - 60);
    assert_eq!(
        ch.balance(&addr(&ch.customers[3]), cny()),
        START_BALANCE + 30
    );

    // One frozen recipient: nobody is paid.
    let target = addr(&ch.customers[4]);
    assert!(ch
        .run(ch.tx(
            &ch.regulator.clone(),
            TxKind::Freeze {
                account: target,
                reason: FreezeReason::Regulatory
            }
        ))
        .is_success());
    let mut bad = good.clone();
    bad.push(Payout {
        to: target,
        amount: Amount(1),
    });
    let before = ch.balance(&addr(&ch.customers[1]), cny());
    let r = ch.run(ch.tx(
        &from,
        TxKind::BatchTransfer {
            asset: cny(),
            payouts: bad,
            transfer_id: TransferId(2),
        },
    ));
    assert_eq!(r.failure().map(|r| r.code()), Some("recipient_frozen"));
    assert_eq!(ch.balance(&addr(&ch.customers[1]), cny()), before);
    assert_eq!(ch.balance(&addr(&from), cny()), START_BALANCE - 60);

    // Empty and oversized batches are out of bounds.
    let r = ch.run(ch.tx(
        &from,
        TxKind::BatchTransfer {
            asset: cny(),
            payouts: vec![],
            transfer_id: TransferId(3),
        },
    ));
    assert_eq!(r.failure().map(|r| r.code()), Some("out_of_bounds"));
    let many = vec![
        Payout {
            to: addr(&ch.customers[1]),
            amount: Amount(1)
        };
        257
    ];
    let r = ch.run(ch.tx(
        &from,
        TxKind::BatchTransfer {
            asset: cny(),
            payouts: many,
            transfer_id: TransferId(3),
        },
    ));
    assert_eq!(r.failure().map(|r| r.code()), Some("out_of_bounds"));
    // A customer's batch is one transaction: its total counts against the
    // per-transaction maximum and the daily limit.
    let cust = ch.customers[1].clone(); // tier 2 HKD: 10,000 single, 50,000 daily
    let payee = addr(&ch.customers[2]);
    let batch = |amount: u128, n: usize, id: u128| TxKind::BatchTransfer {
        asset: hkd(),
        payouts: vec![
            Payout {
                to: payee,
                amount: Amount(amount)
            };
            n
        ],
        transfer_id: TransferId(id),
    };
    let r = ch.run(ch.tx(&cust, batch(3_000, 3, 1)));
    assert!(r.is_success(), "{r:?}");
    // Three payouts of 4,000 to one recipient are one transfer of 12,000.
    let r = ch.run(ch.tx(&cust, batch(4_000, 3, 2)));
    assert_eq!(
        r.failure(),
        Some(&FailureReason::SingleLimitExceeded {
            asset: hkd(),
            limit: Amount(10_000),
            amount: Amount(12_000)
        })
    );
    // 9,000 already spent today; four batches of 9,999 reach 48,996.
    for id in 3..7 {
        let r = ch.run(ch.tx(&cust, batch(3_333, 3, id)));
        assert!(r.is_success(), "{r:?}");
    }
    let r = ch.run(ch.tx(&cust, batch(3_333, 3, 7)));
    assert_eq!(r.failure().map(|r| r.code()), Some("daily_limit_exceeded"));
}

#[test]
fn empty_block_keeps_the_state_root() {
    let mut ch = Chain::new(2, 11);
    let before = *ch.state_roots.last().unwrap();
    ch.execute(&[]);
    assert_eq!(*ch.state_roots.last().unwrap(), before);
    // A block whose only transaction failed before its sequence was
    // consumed changes nothing either.
    let stranger = Keypair::from_secret_bytes(&[8; 32]);
    ch.run(ch.transfer(&stranger, addr(&ch.customers[0]), cny(), 1, 1));
    assert_eq!(*ch.state_roots.last().unwrap(), before);
}

#[test]
fn a_stripped_co_signature_cannot_cancel_the_payment() {
    let mut ch = Chain::new(4, 14);
    let (from, to) = (ch.customers[1].clone(), addr(&ch.customers[2]));
    let genuine = ch.transfer_cosigned(&from, to, 6_000, &ch.bank_b);
    let mut stripped = genuine.clone();
    stripped.cosignature = None;
    // A relay or proposer puts the stripped copy first, in the same block.
    let receipts = ch.execute(&[stripped, genuine]);
    assert_eq!(
        receipts[0].failure().map(|r| r.code()),
        Some("bad_signature")
    );
    assert!(receipts[1].is_success(), "{:?}", receipts[1]);
    assert_eq!(ch.balance(&to, cny()), START_BALANCE + 6_000);
}

#[test]
fn a_block_time_going_backwards_resets_no_daily_limit() {
    let mut ch = Chain::new(4, 15);
    let (from, to) = (ch.customers[0].clone(), addr(&ch.customers[2]));
    // Tier 1: 1,000 single, 3,000 daily. Spend it all on day 2 ...
    ch.time = T0 + 86_400_000;
    for id in 0..3 {
        assert!(ch
            .run(ch.transfer(&from, to, cny(), 1_000, id))
            .is_success());
    }
    // ... then a block stamped on day 1 must not open a fresh allowance.
    ch.time = T0 + 1_000;
    let r = ch.run(ch.transfer(&from, to, cny(), 1, 9));
    assert_eq!(r.failure().map(|r| r.code()), Some("daily_limit_exceeded"));
}

/// A transfer id is remembered for the retention (in block time), then
/// forgotten at the next pruning height: its record leaves the index and
/// its block's leaf leaves the tree, and the id may be used again. While
/// remembered, the block's leaf proves the record against the state root.
#[test]
fn a_transfer_id_is_remembered_for_the_retention_then_forgotten() {
    use hutong_runtime::state::{StateKey, StateValue};
    use hutong_runtime::store::{prove, read_value};
    use hutong_runtime::transfer::{TRANSFER_ID_RETENTION_MS, TRANSFER_PRUNE_EVERY};

    let mut ch = Chain::new(4, 5);
    let (from, to) = (ch.customers[1].clone(), addr(&ch.customers[2]));
    let first = ch.transfer(&from, to, cny(), 100, 42);
    let first_hash = first.hash();
    let first_time = ch.time;
    assert!(ch.run(first).is_success());
    let used_at = ch.height;
    let leaf = StateKey::TransferBlock(used_at);
    let proof = prove(&ch.store, leaf, used_at).unwrap();
    proof.verify(ch.state_roots.last().unwrap()).unwrap();
    let Some(StateValue::TransferBlock(block)) = proof.value else {
        panic!("no transfer block leaf at {used_at}");
    };
    assert_eq!(block.records.len(), 1);
    assert_eq!(block.records[0].2.tx_hash, first_hash);
    // A block without transfers writes no leaf.
    ch.execute(&[]);
    assert_eq!(
        read_value(&ch.store, &StateKey::TransferBlock(ch.height)).unwrap(),
        None
    );

    let to_pruning = |ch: &mut Chain| {
        while !(ch.height + 1).is_multiple_of(TRANSFER_PRUNE_EVERY) {
            ch.execute(&[]);
        }
    };
    // Just inside the retention, at a pruning height: still remembered.
    to_pruning(&mut ch);
    ch.time = first_time + TRANSFER_ID_RETENTION_MS - 1;
    let retry = ch.run(ch.transfer(&from, to, cny(), 100, 42));
    assert_eq!(
        retry.failure(),
        Some(&FailureReason::TransferExists {
            original_tx: first_hash
        })
    );
    // Past it, but before the next pruning height: still remembered (ids
    // are forgotten at pruning heights only).
    ch.time = first_time + TRANSFER_ID_RETENTION_MS;
    assert!(!ch.run(ch.transfer(&from, to, cny(), 100, 42)).is_success());
    assert!(read_value(&ch.store, &leaf).unwrap().is_some());
    // At the pruning height the record and its leaf are gone, and the id
    // is free again.
    to_pruning(&mut ch);
    ch.execute(&[]);
    assert_eq!(read_value(&ch.store, &leaf).unwrap(), None);
    assert_eq!(
        read_value(
            &ch.store,
            &StateKey::TransferRecord(addr(&from), TransferId(42))
        )
        .unwrap(),
        None
    );
    let Some(StateValue::TransferWindow(window)) =
        read_value(&ch.store, &StateKey::TransferWindow).unwrap()
    else {
        panic!("no transfer window");
    };
    assert!(window.oldest > used_at, "{window:?}");
    let balance = ch.balance(&to, cny());
    assert!(ch.run(ch.transfer(&from, to, cny(), 100, 42)).is_success());
    assert_eq!(ch.balance(&to, cny()), balance + 100);
}

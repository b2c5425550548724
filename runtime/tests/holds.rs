//! Holds, amount freezes and account restrictions: the rule tables (every
//! refusal, by code) and the life of each through capture, void, release
//! and expiry.

mod common;

use common::*;
use hutong_runtime::hold::{AccountState, HoldState, EXPIRY_MINUTES_MAX, HOLD_LIFETIME_MAX_MS};
use hutong_runtime::state::{Holding, StateKey, StateValue};
use hutong_runtime::store::read_value;
use hutong_runtime::transfer::TRANSFER_PRUNE_EVERY;
use hutong_runtime::tx::FreezeReason;
use hutong_runtime::{
    Address, Amount, AssetCode, Effect, Keypair, Outcome, Receipt, SignedTransaction, TimestampMs,
    TransferId, TxKind,
};

fn code(r: &Receipt) -> &'static str {
    match &r.outcome {
        Outcome::Success { .. } => "success",
        Outcome::Failed { reason } | Outcome::LegFailed { reason, .. } => reason.code(),
    }
}

fn holding(ch: &Chain, a: &Address, asset: AssetCode) -> Holding {
    match read_value(&ch.store, &StateKey::Balance(*a, asset)).unwrap() {
        Some(StateValue::Balance(h)) => h,
        None => Holding::default(),
        other => panic!("not a holding: {other:?}"),
    }
}

fn hold_state(ch: &Chain, payer: &Keypair, id: u128) -> Option<HoldState> {
    hutong_runtime::hold::hold_status(&ch.store, addr(payer), TransferId(id))
        .unwrap()
        .map(|h| h.state)
}

/// A hold of `amount` CNY from `from` to `to`, expiring `seconds` after the
/// next block's time.
fn hold(
    ch: &Chain,
    from: &Keypair,
    to: Address,
    amount: u128,
    id: u128,
    seconds: u64,
) -> SignedTransaction {
    ch.tx(
        from,
        TxKind::Hold {
            to,
            asset: cny(),
            amount: Amount(amount),
            hold_id: TransferId(id),
            expires_at: TimestampMs(ch.time + seconds * 1_000),
        },
    )
}

fn capture(ch: &Chain, by: &Keypair, payer: &Keypair, id: u128, amount: u128) -> SignedTransaction {
    ch.tx(
        by,
        TxKind::Capture {
            payer: addr(payer),
            hold_id: TransferId(id),
            amount: Amount(amount),
        },
    )
}

fn void(ch: &Chain, by: &Keypair, payer: &Keypair, id: u128) -> SignedTransaction {
    ch.tx(
        by,
        TxKind::Void {
            payer: addr(payer),
            hold_id: TransferId(id),
        },
    )
}

/// One block of holds `(payer, id, expires_at)` of one CNY each to
/// `payee`, with each payer's sequence numbers in order.
fn holds_block(
    ch: &Chain,
    payee: Address,
    holds: &[(Keypair, u128, TimestampMs)],
) -> Vec<SignedTransaction> {
    let mut next: std::collections::HashMap<Address, u64> = Default::default();
    holds
        .iter()
        .map(|(payer, id, expires_at)| {
            let sequence = next
                .entry(addr(payer))
                .or_insert_with(|| ch.sequence(&addr(payer)).0);
            let mut tx = ch.unsigned(
                payer,
                TxKind::Hold {
                    to: payee,
                    asset: cny(),
                    amount: Amount(1),
                    hold_id: TransferId(*id),
                    expires_at: *expires_at,
                },
            );
            tx.sequence = hutong_runtime::Nonce(*sequence);
            *sequence += 1;
            tx.sign(payer)
        })
        .collect()
}

/// The CNY held by all of `payers`.
fn held_by(ch: &Chain, payers: &[Keypair]) -> u128 {
    payers
        .iter()
        .map(|p| holding(ch, &addr(p), cny()).held.0)
        .sum()
}

fn freeze_amount(
    ch: &Chain,
    by: &Keypair,
    target: Address,
    amount: u128,
    id: u64,
    expires_in: Option<u64>,
) -> SignedTransaction {
    ch.tx(
        by,
        TxKind::FreezeAmount {
            account: target,
            asset: cny(),
            amount: Amount(amount),
            freeze_id: id,
            reason: FreezeReason::LegalOrder,
            reference: b"(2026) Hu 0101 Zhi 123".to_vec(),
            expires_at: expires_in.map(|s| TimestampMs(ch.time + s * 1_000)),
        },
    )
}

fn set_state(
    ch: &Chain,
    by: &Keypair,
    target: Address,
    state: AccountState,
    expires_in: Option<u64>,
) -> SignedTransaction {
    ch.tx(
        by,
        TxKind::SetAccountState {
            account: target,
            state,
            reason: FreezeReason::Fraud,
            reference: Vec::new(),
            expires_at: expires_in.map(|s| TimestampMs(ch.time + s * 1_000)),
        },
    )
}

fn freeze(ch: &Chain, by: &Keypair, target: Address) -> SignedTransaction {
    ch.tx(
        by,
        TxKind::Freeze {
            account: target,
            reason: FreezeReason::Fraud,
        },
    )
}

/// The EV-charging flow: a hold, a partial capture, the rest released; the
/// balance moves only by what was captured.
#[test]
fn a_partial_capture_moves_what_was_used_and_releases_the_rest() {
    let mut ch = Chain::new(4, 1);
    let (car, charger) = (ch.customers[1].clone(), ch.customers[2].clone());
    let r = ch.run(hold(&ch, &car, addr(&charger), 2_000, 7, 3_600));
    assert_eq!(code(&r), "success", "{r:?}");
    let h = holding(&ch, &addr(&car), cny());
    assert_eq!(h.balance.0, START_BALANCE, "a hold moves nothing");
    assert_eq!(h.held.0, 2_000);
    assert_eq!(h.available().0, START_BALANCE - 2_000);
    assert_eq!(hold_state(&ch, &car, 7), Some(HoldState::Open));

    let r = ch.run(capture(&ch, &charger, &car, 7, 735));
    assert_eq!(code(&r), "success", "{r:?}");
    let Outcome::Success { effects } = &r.outcome else {
        unreachable!()
    };
    assert!(effects.contains(&Effect::HoldCaptured {
        payer: addr(&car),
        hold_id: TransferId(7),
        captured: Amount(735),
        released: Amount(1_265),
    }));
    let h = holding(&ch, &addr(&car), cny());
    assert_eq!(h.balance.0, START_BALANCE - 735);
    assert_eq!(h.held.0, 0);
    assert_eq!(ch.balance(&addr(&charger), cny()), START_BALANCE + 735);
    assert_eq!(
        hold_state(&ch, &car, 7),
        Some(HoldState::Captured {
            amount: Amount(735)
        })
    );
    // Exactly one resolution.
    let r = ch.run(capture(&ch, &charger, &car, 7, 1));
    assert_eq!(code(&r), "hold_closed", "{r:?}");
    let r = ch.run(void(&ch, &charger, &car, 7));
    assert_eq!(code(&r), "hold_closed", "{r:?}");
    assert_eq!(ch.sum_balances(cny()), ch.supply(cny()));

    // Past pruning heights, a late retry still learns how it ended, and
    // only the payee (or, for a capture, the payer) learns it.
    for _ in 0..=TRANSFER_PRUNE_EVERY {
        ch.execute(&[]);
    }
    let captured = HoldState::Captured {
        amount: Amount(735),
    };
    assert_eq!(hold_state(&ch, &car, 7), Some(captured));
    let r = ch.run(capture(&ch, &charger, &car, 7, 1));
    assert_eq!(
        r.outcome,
        Outcome::Failed {
            reason: hutong_runtime::FailureReason::HoldClosed {
                payer: addr(&car),
                hold_id: TransferId(7),
                state: captured,
            }
        },
        "{r:?}"
    );
    let stranger = ch.customers[3].clone();
    let r = ch.run(void(&ch, &stranger, &car, 7));
    assert_eq!(code(&r), "unauthorised", "{r:?}");
}

/// An account keeps at most `OPEN_HOLDS_MAX` holds open on one asset (in
/// its holding); ending one makes room.
#[test]
fn open_holds_per_asset_are_bounded() {
    use hutong_runtime::hold::OPEN_HOLDS_MAX;
    let mut ch = Chain::new(4, 12);
    let (payer, payee) = (ch.customers[1].clone(), ch.customers[2].clone());
    let expires_at = TimestampMs(ch.time + 600_000);
    let holds: Vec<(Keypair, u128, TimestampMs)> = (0..OPEN_HOLDS_MAX as u128 + 1)
        .map(|id| (payer.clone(), id, expires_at))
        .collect();
    let receipts = ch.execute(&holds_block(&ch, addr(&payee), &holds));
    assert!(receipts[..OPEN_HOLDS_MAX].iter().all(Receipt::is_success));
    assert_eq!(code(&receipts[OPEN_HOLDS_MAX]), "too_many_holds");
    let h = holding(&ch, &addr(&payer), cny());
    assert_eq!(h.holds.len(), OPEN_HOLDS_MAX);
    assert_eq!(h.held.0, OPEN_HOLDS_MAX as u128);
    assert!(ch.run(void(&ch, &payee, &payer, 3)).is_success());
    let again = holds_block(&ch, addr(&payee), &[(payer.clone(), 100, expires_at)]);
    assert!(ch.execute(&again)[0].is_success());
    // Another asset has its own bound.
    assert_eq!(holding(&ch, &addr(&payer), hkd()).holds.len(), 0);
}

#[test]
fn hold_rules_table() {
    type Build = fn(&Chain) -> SignedTransaction;
    let cases: Vec<(&str, Build, &str)> = vec![
        (
            "within limits",
            |ch| hold(ch, &ch.customers[1], addr(&ch.customers[2]), 700, 1, 60),
            "success",
        ),
        (
            "zero amount",
            |ch| hold(ch, &ch.customers[1], addr(&ch.customers[2]), 0, 1, 60),
            "zero_amount",
        ),
        (
            "to self",
            |ch| hold(ch, &ch.customers[1], addr(&ch.customers[1]), 5, 1, 60),
            "self_transfer",
        ),
        (
            "unknown asset",
            |ch| {
                ch.tx(
                    &ch.customers[1],
                    TxKind::Hold {
                        to: addr(&ch.customers[2]),
                        asset: AssetCode::new("USD").unwrap(),
                        amount: Amount(5),
                        hold_id: TransferId(1),
                        expires_at: TimestampMs(ch.time + 60_000),
                    },
                )
            },
            "unknown_asset",
        ),
        (
            "expiry in a past second",
            |ch| {
                ch.tx(
                    &ch.customers[1],
                    TxKind::Hold {
                        to: addr(&ch.customers[2]),
                        asset: cny(),
                        amount: Amount(5),
                        hold_id: TransferId(1),
                        expires_at: TimestampMs(ch.time - 1_000),
                    },
                )
            },
            "bad_expiry",
        ),
        (
            "expiry later in this block's second",
            |ch| {
                ch.tx(
                    &ch.customers[1],
                    TxKind::Hold {
                        to: addr(&ch.customers[2]),
                        asset: cny(),
                        amount: Amount(5),
                        hold_id: TransferId(1),
                        expires_at: TimestampMs(ch.time),
                    },
                )
            },
            "success",
        ),
        (
            "longer than a hold may last",
            |ch| {
                ch.tx(
                    &ch.customers[1],
                    TxKind::Hold {
                        to: addr(&ch.customers[2]),
                        asset: cny(),
                        amount: Amount(5),
                        hold_id: TransferId(1),
                        expires_at: TimestampMs(ch.time + HOLD_LIFETIME_MAX_MS + 1),
                    },
                )
            },
            "bad_expiry",
        ),
        (
            "unknown payee",
            |ch| hold(ch, &ch.customers[1], Address([7; 20]), 5, 1, 60),
            "unknown_account",
        ),
        (
            "tier 1 single maximum applies at hold time",
            |ch| hold(ch, &ch.customers[0], addr(&ch.customers[2]), 1_001, 1, 60),
            "single_limit_exceeded",
        ),
        (
            "tier 1 may not hold HKD",
            |ch| {
                ch.tx(
                    &ch.customers[0],
                    TxKind::Hold {
                        to: addr(&ch.customers[2]),
                        asset: hkd(),
                        amount: Amount(5),
                        hold_id: TransferId(1),
                        expires_at: TimestampMs(ch.time + 60_000),
                    },
                )
            },
            "asset_not_allowed",
        ),
        (
            "above step-up without co-signature",
            |ch| hold(ch, &ch.customers[1], addr(&ch.customers[2]), 5_001, 1, 60),
            "step_up_required",
        ),
        (
            "institution: more than it has",
            |ch| {
                hold(
                    ch,
                    &ch.bank_a,
                    addr(&ch.customers[2]),
                    START_BALANCE + 1,
                    1,
                    60,
                )
            },
            "insufficient_balance",
        ),
    ];
    for (name, build, expect) in cases {
        let mut ch = Chain::new(4, 2);
        let r = ch.run(build(&ch));
        assert_eq!(code(&r), expect, "{name}: {r:?}");
        assert_eq!(ch.sum_balances(cny()), ch.supply(cny()), "{name}");
    }
}

#[test]
fn hold_refusals_that_need_earlier_state() {
    let mut ch = Chain::new(6, 3);
    let (payer, payee, bank_a) = (
        ch.customers[1].clone(),
        ch.customers[2].clone(),
        ch.bank_a.clone(),
    );
    // The id is a transfer id: used by a transfer, it cannot name a hold.
    assert!(ch
        .run(ch.transfer(&payer, addr(&payee), cny(), 10, 5))
        .is_success());
    let r = ch.run(hold(&ch, &payer, addr(&payee), 10, 5, 60));
    assert_eq!(code(&r), "exists_with_different_fields");
    let placed = hold(&ch, &payer, addr(&payee), 10, 6, 60);
    let terms = placed.tx.kind.clone();
    assert!(ch.run(placed).is_success());
    // A retry of the same hold (same terms, a later sequence) is `exists`;
    // other terms under the id (here a later expiry) are not the same hold.
    let r = ch.run(ch.tx(&payer, terms));
    assert_eq!(code(&r), "exists");
    let r = ch.run(hold(&ch, &payer, addr(&payee), 10, 6, 60));
    assert_eq!(code(&r), "exists_with_different_fields");
    // The available balance counts what is held.
    assert!(ch
        .run(hold(&ch, &bank_a, addr(&payee), 60_000, 1, 60))
        .is_success());
    let r = ch.run(ch.transfer(&bank_a, addr(&payee), cny(), 40_001, 2));
    assert_eq!(code(&r), "insufficient_balance");
    assert!(ch
        .run(ch.transfer(&bank_a, addr(&payee), cny(), 40_000, 3))
        .is_success());
    // A frozen payee cannot be held for.
    let frozen = ch.customers[4].clone();
    assert!(ch.run(freeze(&ch, &bank_a, addr(&frozen))).is_success());
    let r = ch.run(hold(&ch, &payer, addr(&frozen), 10, 8, 60));
    assert_eq!(code(&r), "recipient_frozen");
    // Daily outflow: tier 1 sends 3,000 a day; a hold counts, and what it
    // releases the same day is given back.
    let small = ch.customers[0].clone();
    for id in 0..3 {
        assert!(ch
            .run(hold(&ch, &small, addr(&payee), 1_000, 100 + id, 600))
            .is_success());
    }
    let r = ch.run(ch.transfer(&small, addr(&payee), cny(), 1, 1));
    assert_eq!(code(&r), "daily_limit_exceeded");
    assert!(ch.run(capture(&ch, &payee, &small, 100, 400)).is_success());
    assert!(ch.run(void(&ch, &payee, &small, 101)).is_success());
    // 400 captured + 1,000 still held: 1,600 of the day is left.
    let r = ch.run(ch.transfer(&small, addr(&payee), cny(), 1_000, 2));
    assert_eq!(code(&r), "success");
    let r = ch.run(ch.transfer(&small, addr(&payee), cny(), 601, 3));
    assert_eq!(code(&r), "daily_limit_exceeded");
}

#[test]
fn capture_and_void_rules() {
    let mut ch = Chain::new(6, 4);
    let (payer, payee, stranger) = (
        ch.customers[1].clone(),
        ch.customers[2].clone(),
        ch.customers[3].clone(),
    );
    let bank_a = ch.bank_a.clone();
    let bank_b = ch.bank_b.clone();
    for id in 1..=6 {
        assert!(ch
            .run(hold(&ch, &payer, addr(&payee), 1_000, id, 600))
            .is_success());
    }
    type Build<'a> = Box<dyn Fn(&Chain) -> SignedTransaction + 'a>;
    let table: Vec<(&str, Build, &str)> = vec![
        (
            "unknown hold",
            Box::new(|ch| capture(ch, &payee, &payer, 99, 1)),
            "unknown_hold",
        ),
        (
            "a stranger captures",
            Box::new(|ch| capture(ch, &stranger, &payer, 1, 1)),
            "unauthorised",
        ),
        (
            "the payer voids",
            Box::new(|ch| void(ch, &payer, &payer, 1)),
            "unauthorised",
        ),
        (
            "zero capture",
            Box::new(|ch| capture(ch, &payee, &payer, 1, 0)),
            "zero_amount",
        ),
        (
            "more than held",
            Box::new(|ch| capture(ch, &payee, &payer, 1, 1_001)),
            "capture_exceeds_hold",
        ),
    ];
    for (name, build, expect) in table {
        let r = ch.run(build(&ch));
        assert_eq!(code(&r), expect, "{name}: {r:?}");
    }
    // The payer may capture its own hold (it pays).
    assert!(ch.run(capture(&ch, &payer, &payer, 1, 1_000)).is_success());
    // A whole-account freeze of the payer blocks captures, not voids.
    assert!(ch.run(freeze(&ch, &bank_b, addr(&payer))).is_success());
    let r = ch.run(capture(&ch, &payee, &payer, 2, 1));
    assert_eq!(code(&r), "payer_frozen");
    assert!(ch.run(void(&ch, &payee, &payer, 2)).is_success());
    assert!(ch
        .run(ch.tx(
            &bank_b,
            TxKind::Unfreeze {
                account: addr(&payer)
            }
        ))
        .is_success());
    // A frozen payee cannot capture, but may void.
    assert!(ch.run(freeze(&ch, &bank_a, addr(&payee))).is_success());
    let r = ch.run(capture(&ch, &payee, &payer, 3, 1));
    assert_eq!(code(&r), "sender_frozen");
    // The payer's capture to a frozen payee is refused too.
    let r = ch.run(capture(&ch, &payer, &payer, 3, 1));
    assert_eq!(code(&r), "recipient_frozen");
    assert!(ch.run(void(&ch, &payee, &payer, 3)).is_success());
    assert!(ch
        .run(ch.tx(
            &bank_a,
            TxKind::Unfreeze {
                account: addr(&payee)
            }
        ))
        .is_success());
    // A receive-only payer cannot be captured from; a send-only payee
    // cannot receive the capture.
    assert!(ch
        .run(set_state(
            &ch,
            &bank_b,
            addr(&payer),
            AccountState::ReceiveOnly,
            None
        ))
        .is_success());
    let r = ch.run(capture(&ch, &payee, &payer, 4, 1));
    assert_eq!(code(&r), "restricted");
    assert!(ch
        .run(set_state(
            &ch,
            &bank_b,
            addr(&payer),
            AccountState::Normal,
            None
        ))
        .is_success());
    assert!(ch
        .run(set_state(
            &ch,
            &bank_a,
            addr(&payee),
            AccountState::SendOnly,
            None
        ))
        .is_success());
    let r = ch.run(capture(&ch, &payee, &payer, 4, 1));
    assert_eq!(code(&r), "restricted");
    assert!(ch
        .run(set_state(
            &ch,
            &bank_a,
            addr(&payee),
            AccountState::Normal,
            None
        ))
        .is_success());
    assert!(ch.run(capture(&ch, &payee, &payer, 4, 1)).is_success());
    let h = holding(&ch, &addr(&payer), cny());
    assert_eq!(h.held.0, 2_000, "holds 5 and 6 are open");
    assert_eq!(h.balance.0, START_BALANCE - 1_001);
    assert_eq!(ch.sum_balances(cny()), ch.supply(cny()));
}

/// An expired hold releases itself at the first block in a later second,
/// before that block's transactions; a capture after it is refused; once
/// its time has passed, a pruning height removes it from the state.
#[test]
fn an_expired_hold_releases_itself_and_leaves_the_state() {
    let mut ch = Chain::new(4, 5);
    let (payer, payee) = (ch.customers[1].clone(), ch.customers[2].clone());
    // Blocks are one second apart; the hold expires 2.5 s after the next
    // block's time, so it is open for three blocks.
    let tx = ch.tx(
        &payer,
        TxKind::Hold {
            to: addr(&payee),
            asset: cny(),
            amount: Amount(900),
            hold_id: TransferId(1),
            expires_at: TimestampMs(ch.time + 2_500),
        },
    );
    assert!(ch.run(tx).is_success());
    ch.execute(&[]);
    ch.execute(&[]);
    assert_eq!(hold_state(&ch, &payer, 1), Some(HoldState::Open));
    assert_eq!(holding(&ch, &addr(&payer), cny()).held.0, 900);
    // The next block is in a later second than the expiry.
    let r = ch.run(capture(&ch, &payee, &payer, 1, 10));
    assert_eq!(code(&r), "hold_closed", "{r:?}");
    assert_eq!(hold_state(&ch, &payer, 1), Some(HoldState::Expired));
    let h = holding(&ch, &addr(&payer), cny());
    assert_eq!((h.balance.0, h.held.0), (START_BALANCE, 0));
    // The expiry gave the day's outflow back.
    assert_eq!(h.outflow.spent.0, 0);
    while !(ch.height + 1).is_multiple_of(TRANSFER_PRUNE_EVERY) {
        ch.execute(&[]);
    }
    ch.execute(&[]);
    // Its ending is remembered with its id, past the pruning height.
    assert_eq!(hold_state(&ch, &payer, 1), Some(HoldState::Expired));
    let r = ch.run(capture(&ch, &payee, &payer, 1, 10));
    assert_eq!(code(&r), "hold_closed");
    assert_eq!(
        read_value(&ch.store, &StateKey::ExpiryMinutes).unwrap(),
        Some(StateValue::ExpiryMinutes(Vec::new()))
    );
    // With nothing pending, an empty block changes nothing.
    let before = *ch.state_roots.last().unwrap();
    ch.execute(&[]);
    assert_eq!(*ch.state_roots.last().unwrap(), before);
}

/// After a halt longer than what one block applies, expiries follow over
/// the next blocks, oldest first, and captures of holds whose time has
/// passed are refused meanwhile.
#[test]
fn expiries_after_a_long_halt_are_applied_in_bounded_steps() {
    let mut ch = Chain::new(60, 6);
    let payee = ch.customers[0].clone();
    let payers: Vec<Keypair> = ch.customers[1..].to_vec();
    let minutes = EXPIRY_MINUTES_MAX as u64 + 5;
    // One hold per minute, spread over the payers (each within its open
    // holds' bound).
    let holds: Vec<(Keypair, u128, TimestampMs)> = (0..minutes)
        .map(|i| {
            let payer = payers[i as usize % payers.len()].clone();
            (
                payer,
                u128::from(i),
                TimestampMs(ch.time + (i + 1) * 60_000),
            )
        })
        .collect();
    let block = holds_block(&ch, addr(&payee), &holds);
    let receipts = ch.execute(&block);
    assert!(receipts.iter().all(Receipt::is_success));
    assert_eq!(held_by(&ch, &payers), u128::from(minutes));
    ch.time += (minutes + 2) * 60_000;
    let last = &holds[minutes as usize - 1].0;
    let r = ch.run(capture(&ch, &payee, last, u128::from(minutes - 1), 1));
    assert_eq!(code(&r), "hold_closed");
    assert_eq!(held_by(&ch, &payers), 5);
    ch.execute(&[]);
    assert_eq!(held_by(&ch, &payers), 0);
}

#[test]
fn amount_freezes() {
    let mut ch = Chain::new(6, 7);
    let (cust, other) = (ch.customers[2].clone(), ch.customers[3].clone());
    let (bank_a, bank_b, reg) = (ch.bank_a.clone(), ch.bank_b.clone(), ch.regulator.clone());
    let target = addr(&cust);
    let table: Vec<(&str, SignedTransaction, &str)> = vec![
        (
            "another institution's customer",
            freeze_amount(&ch, &bank_b, target, 100, 1, None),
            "unauthorised",
        ),
        (
            "by a customer",
            freeze_amount(&ch, &other, target, 100, 1, None),
            "unauthorised",
        ),
        (
            "unknown account",
            freeze_amount(&ch, &bank_a, Address([3; 20]), 100, 1, None),
            "unknown_account",
        ),
        (
            "zero",
            freeze_amount(&ch, &bank_a, target, 0, 1, None),
            "zero_amount",
        ),
        (
            "expiry in the past",
            ch.tx(
                &bank_a,
                TxKind::FreezeAmount {
                    account: target,
                    asset: cny(),
                    amount: Amount(1),
                    freeze_id: 1,
                    reason: FreezeReason::Fraud,
                    reference: Vec::new(),
                    expires_at: Some(TimestampMs(ch.time - 5_000)),
                },
            ),
            "bad_expiry",
        ),
        (
            "by its institution",
            freeze_amount(&ch, &bank_a, target, 60_000, 1, None),
            "success",
        ),
        (
            "the same id again",
            freeze_amount(&ch, &bank_a, target, 5, 1, None),
            "freeze_exists",
        ),
        (
            "by a regulator, more than the rest of the balance",
            freeze_amount(&ch, &reg, target, 50_000, 2, None),
            "success",
        ),
        (
            "the institution lifts the regulator's",
            ch.tx(
                &bank_a,
                TxKind::ReleaseFreeze {
                    account: target,
                    freeze_id: 2,
                },
            ),
            "unauthorised",
        ),
        (
            "unknown freeze",
            ch.tx(
                &bank_a,
                TxKind::ReleaseFreeze {
                    account: target,
                    freeze_id: 9,
                },
            ),
            "unknown_freeze",
        ),
    ];
    for (name, tx, expect) in table {
        // Each in its own block, so sequence numbers line up.
        let tx = ch.tx(
            &match tx.tx.sender {
                k if k == bank_a.public() => bank_a.clone(),
                k if k == bank_b.public() => bank_b.clone(),
                k if k == reg.public() => reg.clone(),
                _ => other.clone(),
            },
            tx.tx.kind,
        );
        let r = ch.run(tx);
        assert_eq!(code(&r), expect, "{name}: {r:?}");
    }
    let h = holding(&ch, &target, cny());
    assert_eq!(h.held.0, 110_000);
    assert_eq!(h.available().0, 0, "frozen beyond the balance");
    let r = ch.run(ch.transfer(&cust, addr(&other), cny(), 1, 1));
    assert_eq!(code(&r), "insufficient_balance");
    // Money that arrives stays held while the freeze exceeds the balance.
    assert!(ch
        .run(ch.transfer(&other, target, cny(), 5_000, 1))
        .is_success());
    assert_eq!(holding(&ch, &target, cny()).available().0, 0);
    // The regulator lifts its own; the institution its own.
    assert!(ch
        .run(ch.tx(
            &reg,
            TxKind::ReleaseFreeze {
                account: target,
                freeze_id: 2
            }
        ))
        .is_success());
    assert_eq!(holding(&ch, &target, cny()).available().0, 45_000);
    assert!(ch
        .run(ch.tx(
            &bank_a,
            TxKind::ReleaseFreeze {
                account: target,
                freeze_id: 1
            }
        ))
        .is_success());
    assert_eq!(holding(&ch, &target, cny()).held.0, 0);
    // A freeze with an expiry lifts itself.
    assert!(ch
        .run(freeze_amount(&ch, &bank_a, target, 700, 3, Some(1)))
        .is_success());
    assert_eq!(holding(&ch, &target, cny()).held.0, 700);
    ch.execute(&[]);
    ch.execute(&[]);
    assert_eq!(holding(&ch, &target, cny()).held.0, 0);
    // At most AMOUNT_FREEZES_MAX at a time.
    for id in 0..hutong_runtime::hold::AMOUNT_FREEZES_MAX as u64 {
        assert!(ch
            .run(freeze_amount(&ch, &bank_a, target, 1, 100 + id, None))
            .is_success());
    }
    let r = ch.run(freeze_amount(&ch, &bank_a, target, 1, 999, None));
    assert_eq!(code(&r), "too_many_freezes");
    assert_eq!(ch.sum_balances(cny()), ch.supply(cny()));
}

#[test]
fn receive_only_and_send_only_accounts() {
    let mut ch = Chain::new(6, 8);
    let (a, b) = (ch.customers[2].clone(), ch.customers[3].clone());
    let (bank_a, bank_b, reg) = (ch.bank_a.clone(), ch.bank_b.clone(), ch.regulator.clone());
    let r = ch.run(set_state(
        &ch,
        &bank_a,
        addr(&a),
        AccountState::Normal,
        None,
    ));
    assert_eq!(code(&r), "not_restricted");
    let r = ch.run(set_state(
        &ch,
        &bank_b,
        addr(&a),
        AccountState::ReceiveOnly,
        None,
    ));
    assert_eq!(code(&r), "unauthorised", "another institution's customer");
    // Receive-only: it receives, and sends nothing (nor holds).
    assert!(ch
        .run(set_state(
            &ch,
            &bank_a,
            addr(&a),
            AccountState::ReceiveOnly,
            None
        ))
        .is_success());
    assert!(ch.run(ch.transfer(&b, addr(&a), cny(), 10, 1)).is_success());
    let r = ch.run(ch.transfer(&a, addr(&b), cny(), 10, 1));
    assert_eq!(code(&r), "restricted");
    let r = ch.run(hold(&ch, &a, addr(&b), 10, 2, 60));
    assert_eq!(code(&r), "restricted");
    // Send-only, set by a regulator: it sends, receives nothing, and only
    // a regulator lifts it.
    assert!(ch
        .run(set_state(&ch, &reg, addr(&a), AccountState::SendOnly, None))
        .is_success());
    assert!(ch.run(ch.transfer(&a, addr(&b), cny(), 10, 3)).is_success());
    let r = ch.run(ch.transfer(&b, addr(&a), cny(), 10, 4));
    assert_eq!(code(&r), "restricted");
    let r = ch.run(hold(&ch, &b, addr(&a), 10, 5, 60));
    assert_eq!(code(&r), "restricted");
    let r = ch.run(ch.tx(
        &bank_a,
        TxKind::Mint {
            to: addr(&a),
            asset: cny(),
            amount: Amount(1),
        },
    ));
    assert_eq!(code(&r), "restricted");
    let r = ch.run(set_state(
        &ch,
        &bank_a,
        addr(&a),
        AccountState::Normal,
        None,
    ));
    assert_eq!(code(&r), "unauthorised");
    // A restriction with an expiry lifts itself.
    assert!(ch
        .run(set_state(
            &ch,
            &reg,
            addr(&a),
            AccountState::SendOnly,
            Some(1)
        ))
        .is_success());
    ch.execute(&[]);
    ch.execute(&[]);
    assert_eq!(ch.account(&addr(&a)).unwrap().restriction, None);
    assert!(ch.run(ch.transfer(&b, addr(&a), cny(), 10, 6)).is_success());
}

/// Many holds expiring in one second: their list is appended once per
/// block in chunks, all of them expire together, and the pruning height
/// removes every chunk.
#[test]
fn many_holds_in_one_second_expire_together_and_their_chunks_leave() {
    use hutong_runtime::hold::EXPIRING_CHUNK;
    let mut ch = Chain::new(25, 9);
    let payee = addr(&ch.customers[0]);
    let payers: Vec<Keypair> = ch.customers[1..].to_vec();
    let expires_at = TimestampMs(ch.time + 10_000);
    let per_block = 300u64;
    for round in 0..2u64 {
        let holds: Vec<(Keypair, u128, TimestampMs)> = (0..per_block)
            .map(|i| {
                let payer = payers[i as usize % payers.len()].clone();
                (payer, u128::from(round * per_block + i), expires_at)
            })
            .collect();
        let block = holds_block(&ch, payee, &holds);
        assert!(ch.execute(&block).iter().all(Receipt::is_success));
    }
    let second = expires_at.0 / 1_000;
    assert_eq!(
        read_value(&ch.store, &StateKey::ExpiringCount(second)).unwrap(),
        Some(StateValue::ExpiringCount(600))
    );
    let chunks = 600u32.div_ceil(EXPIRING_CHUNK);
    for chunk in 0..chunks {
        let Some(StateValue::Expiring(list)) =
            read_value(&ch.store, &StateKey::Expiring(second, chunk)).unwrap()
        else {
            panic!("no chunk {chunk}");
        };
        assert!(list.len() <= EXPIRING_CHUNK as usize);
    }
    assert_eq!(held_by(&ch, &payers), 600);
    while ch.time / 1_000 <= second {
        ch.execute(&[]);
    }
    ch.execute(&[]);
    assert_eq!(held_by(&ch, &payers), 0);
    assert!(payers
        .iter()
        .all(|p| holding(&ch, &addr(p), cny()).holds.is_empty()));
    while !(ch.height + 1).is_multiple_of(TRANSFER_PRUNE_EVERY) || ch.time / 1_000 < second + 120 {
        ch.execute(&[]);
    }
    ch.execute(&[]);
    for chunk in 0..chunks {
        assert_eq!(
            read_value(&ch.store, &StateKey::Expiring(second, chunk)).unwrap(),
            None
        );
    }
    assert_eq!(
        read_value(&ch.store, &StateKey::ExpiringCount(second)).unwrap(),
        None
    );
    assert_eq!(hold_state(&ch, &payers[0], 0), Some(HoldState::Expired));
}

/// A device key signs holds and captures for its account within its
/// scope, with its own sequence numbers, and nothing else; revoked, it is
/// an unknown sender.
#[test]
fn a_device_key_holds_and_captures_within_its_scope() {
    let mut ch = Chain::new(6, 10);
    let (owner, charger, other) = (
        ch.customers[1].clone(),
        ch.customers[2].clone(),
        ch.customers[3].clone(),
    );
    let car = Keypair::from_secret_bytes(&[42; 32]);
    let register = ch.tx(
        &owner,
        TxKind::RegisterDevice {
            key: car.public(),
            asset: cny(),
            max_per_hold: Amount(3_000),
            daily_max: Amount(4_000),
            payees: vec![addr(&charger)],
        },
    );
    let r = ch.run(register.clone());
    assert_eq!(code(&r), "success", "{r:?}");
    // Registered twice: the key already signs for something.
    let again = ch.tx(&owner, register.tx.kind.clone());
    assert_eq!(code(&ch.run(again)), "account_exists");
    // Nor may an account be opened for it (it would shadow the device).
    let open = ch.tx(
        &ch.bank_a,
        TxKind::OpenAccount {
            owner: car.public(),
            tier: hutong_runtime::Tier(1),
            identity_commitment: hutong_runtime::Hash([0; 32]),
            identity_envelope: Vec::new(),
        },
    );
    assert_eq!(code(&ch.run(open)), "account_exists");
    // The device's transactions, from its own sequence 0.
    let mut device_seq = 0u64;
    let mut device_tx = |ch: &Chain, kind: TxKind| {
        let mut tx = ch.unsigned(&car, kind);
        tx.sequence = hutong_runtime::Nonce(device_seq);
        device_seq += 1;
        tx.sign(&car)
    };
    let owner_seq = ch.sequence(&addr(&owner));
    let r = ch.run(device_tx(&ch, hold_kind(&ch, addr(&charger), 2_000, 1)));
    assert_eq!(code(&r), "success", "{r:?}");
    assert_eq!(holding(&ch, &addr(&owner), cny()).held.0, 2_000);
    assert_eq!(
        ch.sequence(&addr(&owner)),
        owner_seq,
        "the owner's sequence is its own"
    );
    // Out of scope: per hold, payee, asset, per day.
    for (kind, expect) in [
        (hold_kind(&ch, addr(&charger), 3_001, 2), "device_scope"),
        (hold_kind(&ch, addr(&other), 10, 3), "device_scope"),
        (
            TxKind::Hold {
                to: addr(&charger),
                asset: hkd(),
                amount: Amount(10),
                hold_id: TransferId(4),
                expires_at: TimestampMs(ch.time + 600_000),
            },
            "device_scope",
        ),
        (hold_kind(&ch, addr(&charger), 2_001, 5), "device_scope"),
        (
            TxKind::Transfer {
                to: addr(&charger),
                asset: cny(),
                amount: Amount(1),
                transfer_id: TransferId(6),
            },
            "unauthorised",
        ),
    ] {
        let r = ch.run(device_tx(&ch, kind));
        assert_eq!(code(&r), expect, "{r:?}");
    }
    // Within the day's rest (4,000 − 2,000): fine.
    let r = ch.run(device_tx(&ch, hold_kind(&ch, addr(&charger), 2_000, 7)));
    assert_eq!(code(&r), "success", "{r:?}");
    // The device captures its account's hold; the charger's balance grows.
    let before = ch.balance(&addr(&charger), cny());
    let r = ch.run(device_tx(
        &ch,
        TxKind::Capture {
            payer: addr(&owner),
            hold_id: TransferId(1),
            amount: Amount(1_234),
        },
    ));
    assert_eq!(code(&r), "success", "{r:?}");
    assert_eq!(ch.balance(&addr(&charger), cny()), before + 1_234);
    // Only the owner revokes; then the key signs nothing.
    let r = ch.run(ch.tx(&other, TxKind::RevokeDevice { key: car.public() }));
    assert_eq!(code(&r), "unauthorised");
    assert!(ch
        .run(ch.tx(&owner, TxKind::RevokeDevice { key: car.public() }))
        .is_success());
    let r = ch.run(device_tx(&ch, hold_kind(&ch, addr(&charger), 10, 8)));
    assert_eq!(code(&r), "unknown_sender");
    assert_eq!(ch.sum_balances(cny()), ch.supply(cny()));
}

fn hold_kind(ch: &Chain, to: Address, amount: u128, id: u128) -> TxKind {
    TxKind::Hold {
        to,
        asset: cny(),
        amount: Amount(amount),
        hold_id: TransferId(id),
        expires_at: TimestampMs(ch.time + 600_000),
    }
}

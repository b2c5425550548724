//! Property tests of the ledger: supply conservation (across transfers,
//! holds, captures, voids, expiries and amount freezes), no replay, no hold
//! resolved twice, held amounts that match the open holds and freezes, and
//! a state root that depends only on the state.
//!
//! proptest prints the failing case (shrunk) and saves its seed under
//! `proptest-regressions/`; `PROPTEST_CASES=N` runs more cases.

mod common;

use common::*;
use hutong_runtime::exchange::{convert, Quote, Rate};
use hutong_runtime::state::StateKey;
use hutong_runtime::store::{prepare_commit, StateStore};
use hutong_runtime::tx::LinkedOp;
use hutong_runtime::tx::{FreezeReason, Payout};
use hutong_runtime::{Amount, Effect, MemStore, Outcome, SignedTransaction, TransferId, TxKind};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    Transfer {
        from: usize,
        to: usize,
        hkd: bool,
        amount: u128,
        id: u8,
    },
    Batch {
        from: usize,
        to: Vec<(usize, u128)>,
        id: u8,
    },
    Mint {
        bank_b: bool,
        to: usize,
        amount: u128,
    },
    Burn {
        bank_b: bool,
        amount: u128,
    },
    Freeze {
        regulator: bool,
        target: usize,
    },
    Unfreeze {
        regulator: bool,
        target: usize,
    },
    Replay {
        pick: usize,
    },
    EndBlock {
        hours: u8,
    },
    Hold {
        from: usize,
        to: usize,
        hkd: bool,
        amount: u128,
        id: u8,
        seconds: u16,
    },
    /// Capture (by the payee, or the payer) or void one of the holds
    /// signed so far.
    Resolve {
        pick: usize,
        capture: Option<u128>,
        by_payer: bool,
    },
    FreezeAmount {
        regulator: bool,
        target: usize,
        amount: u128,
        id: u8,
        seconds: Option<u16>,
    },
    ReleaseFreeze {
        regulator: bool,
        target: usize,
        id: u8,
    },
    /// A payment versus payment at bank B's quote (`sell_hkd`: the payer
    /// pays HKD for CNY), at a random rate; `tight` asks for one more
    /// minor unit than the quote gives (refused: slippage).
    Pvp {
        from: usize,
        to: usize,
        sell_hkd: bool,
        amount: u128,
        num: u64,
        den: u64,
        tight: bool,
    },
    /// A linked transaction of transfers.
    Linked {
        from: usize,
        legs: Vec<(usize, bool, u128)>,
        id: u8,
    },
}

const PARTIES: usize = 8; // bank A, bank B, 6 customers

fn amount() -> impl Strategy<Value = u128> {
    prop_oneof![
        1u128..2_000,
        1u128..20_000,
        Just(0u128),
        Just(START_BALANCE),
        Just(u128::MAX)
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (0..PARTIES, 0..PARTIES, any::<bool>(), amount(), 0u8..6)
            .prop_map(|(from, to, hkd, amount, id)| Op::Transfer { from, to, hkd, amount, id }),
        2 => (0..PARTIES, prop::collection::vec((0..PARTIES, amount()), 1..5), 0u8..6)
            .prop_map(|(from, to, id)| Op::Batch { from, to, id }),
        1 => (any::<bool>(), 0..PARTIES, amount()).prop_map(|(bank_b, to, amount)| Op::Mint { bank_b, to, amount }),
        1 => (any::<bool>(), amount()).prop_map(|(bank_b, amount)| Op::Burn { bank_b, amount }),
        1 => (any::<bool>(), 0..PARTIES).prop_map(|(regulator, target)| Op::Freeze { regulator, target }),
        1 => (any::<bool>(), 0..PARTIES).prop_map(|(regulator, target)| Op::Unfreeze { regulator, target }),
        2 => any::<usize>().prop_map(|pick| Op::Replay { pick }),
        2 => (0u8..30).prop_map(|hours| Op::EndBlock { hours }),
        3 => Just(Op::EndBlock { hours: 0 }),
        4 => (0..PARTIES, 0..PARTIES, any::<bool>(), amount(), 0u8..8, 0u16..300)
            .prop_map(|(from, to, hkd, amount, id, seconds)| Op::Hold { from, to, hkd, amount, id, seconds }),
        4 => (any::<usize>(), prop::option::of(amount()), any::<bool>())
            .prop_map(|(pick, capture, by_payer)| Op::Resolve { pick, capture, by_payer }),
        1 => (any::<bool>(), 0..PARTIES, amount(), 0u8..4, prop::option::of(0u16..300))
            .prop_map(|(regulator, target, amount, id, seconds)| Op::FreezeAmount { regulator, target, amount, id, seconds }),
        1 => (any::<bool>(), 0..PARTIES, 0u8..4)
            .prop_map(|(regulator, target, id)| Op::ReleaseFreeze { regulator, target, id }),
        3 => (0..PARTIES, 0..PARTIES, any::<bool>(), amount(), prop_oneof![1u64..300, Just(u64::MAX)], prop_oneof![1u64..300, Just(u64::MAX)], prop::bool::weighted(0.1))
            .prop_map(|(from, to, sell_hkd, amount, num, den, tight)| Op::Pvp { from, to, sell_hkd, amount, num, den, tight }),
        2 => (0..PARTIES, prop::collection::vec((0..PARTIES, any::<bool>(), amount()), 1..4), 0u8..6)
            .prop_map(|(from, legs, id)| Op::Linked { from, legs, id }),
    ]
}

fn party(ch: &Chain, i: usize) -> hutong_runtime::Keypair {
    match i {
        0 => ch.bank_a.clone(),
        1 => ch.bank_b.clone(),
        n => ch.customers[n - 2].clone(),
    }
}

/// Runs the ops, checking the invariants after every block; returns the
/// chain for further checks.
fn run(ops: &[Op], seed: u64) -> Chain {
    let mut ch = Chain::new(PARTIES - 2, seed);
    let mut history: Vec<SignedTransaction> = Vec::new();
    let mut block: Vec<SignedTransaction> = Vec::new();
    // Transactions are built against the state before the block, so keep
    // the sequence numbers used within the open block here.
    let mut pending_seq: std::collections::HashMap<hutong_runtime::Address, u64> =
        Default::default();
    let mut supply = [ch.supply(cny()), ch.supply(hkd())];
    // Holds signed so far: (payer, payee, id).
    let mut holds: Vec<(usize, usize, u8)> = Vec::new();
    let mut book = HoldBook::default();
    let mut clearing = ClearingModel::default();
    let mut quotes = 0u64;

    let mut flush = |ch: &mut Chain,
                     block: &mut Vec<SignedTransaction>,
                     history: &mut Vec<SignedTransaction>,
                     pending: &mut std::collections::HashMap<hutong_runtime::Address, u64>,
                     resolved: &mut HoldBook,
                     clearing: &mut ClearingModel,
                     hours: u8| {
        let root_before = *ch.state_roots.last().unwrap();
        let block_time = ch.time;
        let expiries_pending = expiries_pending(ch)
            || matches!(
                hutong_runtime::store::read_value(&ch.store, &StateKey::ClearingOpen),
                Ok(Some(_))
            );
        let receipts = ch.execute(block);
        for (tx, r) in block.iter().zip(&receipts) {
            // A replayed transaction never executes twice.
            if history.iter().any(|h| h.hash() == tx.hash()) {
                assert!(!r.is_success(), "replay executed: {tx:?}");
            }
            if let Outcome::Success { effects } = &r.outcome {
                let (mut debits, mut credits) = (0u128, 0u128);
                for e in effects {
                    match e {
                        Effect::Debit { amount, .. } => debits += amount.0,
                        Effect::Credit { amount, .. } => credits += amount.0,
                        Effect::SupplyChanged {
                            asset,
                            total_supply,
                        } => {
                            supply[usize::from(*asset == hkd())] = total_supply.0;
                        }
                        _ => {}
                    }
                }
                // Money moves only between accounts, except mint and burn.
                match tx.tx.kind {
                    TxKind::Mint { .. } | TxKind::Burn { .. } => {}
                    _ => assert_eq!(debits, credits, "{tx:?}"),
                }
            }
        }
        for (i, asset) in [cny(), hkd()].into_iter().enumerate() {
            assert_eq!(
                ch.supply(asset),
                supply[i],
                "supply of {asset} changed outside mint/burn"
            );
            assert_eq!(
                ch.sum_balances(asset),
                supply[i],
                "balances of {asset} do not add up to the supply"
            );
        }
        // Expiries apply without a transaction; with none pending, a block
        // of no-ops changes nothing.
        if !expiries_pending
            && receipts
                .iter()
                .all(|r| r.failure().is_some_and(|f| !f.consumes_sequence()))
        {
            assert_eq!(
                *ch.state_roots.last().unwrap(),
                root_before,
                "a block of no-ops changed the state"
            );
        }
        check_holds(ch, &receipts, resolved);
        check_clearing(ch, block, &receipts, block_time, clearing);
        history.append(block);
        pending.clear();
        ch.time += u64::from(hours) * 3_600_000;
    };

    for op in ops {
        let mut sign_with =
            |ch: &Chain,
             key: &hutong_runtime::Keypair,
             kind: TxKind,
             cosigner: Option<hutong_runtime::Keypair>| {
                let a = addr(key);
                let seq = pending_seq.entry(a).or_insert(ch.sequence(&a).0);
                let mut tx = ch.unsigned(key, kind);
                tx.sequence = hutong_runtime::Nonce(*seq);
                *seq += 1;
                match cosigner {
                    Some(institution) => tx.sign_cosigned(key, &institution),
                    None => tx.sign(key),
                }
            };
        let mut sign = |ch: &Chain, key: &hutong_runtime::Keypair, kind: TxKind| {
            sign_with(ch, key, kind, None)
        };
        let asset = |is_hkd: bool| if is_hkd { hkd() } else { cny() };
        match op {
            Op::Transfer {
                from,
                to,
                hkd,
                amount,
                id,
            } => {
                let (f, t) = (party(&ch, *from), party(&ch, *to));
                let kind = TxKind::Transfer {
                    to: addr(&t),
                    asset: asset(*hkd),
                    amount: Amount(*amount),
                    transfer_id: TransferId(u128::from(*id)),
                };
                // Above the step-up threshold, co-sign with the customer's
                // institution.
                let cosigner = (*amount > 5_000 && *from >= 2).then(|| party(&ch, (*from - 2) % 2));
                block.push(sign_with(&ch, &f, kind, cosigner));
            }
            Op::Batch { from, to, id } => {
                let f = party(&ch, *from);
                let payouts = to
                    .iter()
                    .map(|(t, a)| Payout {
                        to: addr(&party(&ch, *t)),
                        amount: Amount(*a),
                    })
                    .collect();
                block.push(sign(
                    &ch,
                    &f,
                    TxKind::BatchTransfer {
                        asset: cny(),
                        payouts,
                        transfer_id: TransferId(u128::from(*id)),
                    },
                ));
            }
            Op::Mint { bank_b, to, amount } => {
                let bank = party(&ch, usize::from(*bank_b));
                let kind = TxKind::Mint {
                    to: addr(&party(&ch, *to)),
                    asset: asset(*bank_b),
                    amount: Amount(*amount),
                };
                block.push(sign(&ch, &bank, kind));
            }
            Op::Burn { bank_b, amount } => {
                let bank = party(&ch, usize::from(*bank_b));
                block.push(sign(
                    &ch,
                    &bank,
                    TxKind::Burn {
                        asset: asset(*bank_b),
                        amount: Amount(*amount),
                    },
                ));
            }
            Op::Freeze { regulator, target } => {
                let who = if *regulator {
                    ch.regulator.clone()
                } else {
                    ch.bank_a.clone()
                };
                let kind = TxKind::Freeze {
                    account: addr(&party(&ch, *target)),
                    reason: FreezeReason::Fraud,
                };
                block.push(sign(&ch, &who, kind));
            }
            Op::Unfreeze { regulator, target } => {
                let who = if *regulator {
                    ch.regulator.clone()
                } else {
                    ch.bank_a.clone()
                };
                block.push(sign(
                    &ch,
                    &who,
                    TxKind::Unfreeze {
                        account: addr(&party(&ch, *target)),
                    },
                ));
            }
            Op::Hold {
                from,
                to,
                hkd,
                amount,
                id,
                seconds,
            } => {
                let (f, t) = (party(&ch, *from), party(&ch, *to));
                let kind = TxKind::Hold {
                    to: addr(&t),
                    asset: asset(*hkd),
                    amount: Amount(*amount),
                    hold_id: TransferId(1_000 + u128::from(*id)),
                    expires_at: hutong_runtime::TimestampMs(ch.time + u64::from(*seconds) * 1_000),
                };
                let cosigner = (*amount > 5_000 && *from >= 2).then(|| party(&ch, (*from - 2) % 2));
                block.push(sign_with(&ch, &f, kind, cosigner));
                holds.push((*from, *to, *id));
            }
            Op::Resolve {
                pick,
                capture,
                by_payer,
            } => {
                if let Some(&(from, to, id)) = holds.get(pick % holds.len().max(1)) {
                    let payer = addr(&party(&ch, from));
                    let hold_id = TransferId(1_000 + u128::from(id));
                    let kind = match capture {
                        Some(amount) => TxKind::Capture {
                            payer,
                            hold_id,
                            amount: Amount(*amount),
                        },
                        None => TxKind::Void { payer, hold_id },
                    };
                    let signer = party(&ch, if *by_payer { from } else { to });
                    block.push(sign(&ch, &signer, kind));
                }
            }
            Op::FreezeAmount {
                regulator,
                target,
                amount,
                id,
                seconds,
            } => {
                let who = if *regulator {
                    ch.regulator.clone()
                } else {
                    ch.bank_a.clone()
                };
                let kind = TxKind::FreezeAmount {
                    account: addr(&party(&ch, *target)),
                    asset: cny(),
                    amount: Amount(*amount),
                    freeze_id: u64::from(*id),
                    reason: FreezeReason::LegalOrder,
                    reference: b"case 1".to_vec(),
                    expires_at: seconds
                        .map(|s| hutong_runtime::TimestampMs(ch.time + u64::from(s) * 1_000)),
                };
                block.push(sign(&ch, &who, kind));
            }
            Op::ReleaseFreeze {
                regulator,
                target,
                id,
            } => {
                let who = if *regulator {
                    ch.regulator.clone()
                } else {
                    ch.bank_a.clone()
                };
                let kind = TxKind::ReleaseFreeze {
                    account: addr(&party(&ch, *target)),
                    freeze_id: u64::from(*id),
                };
                block.push(sign(&ch, &who, kind));
            }
            Op::Pvp {
                from,
                to,
                sell_hkd,
                amount,
                num,
                den,
                tight,
            } => {
                let (f, t) = (party(&ch, *from), party(&ch, *to));
                let (sell, buy) = if *sell_hkd {
                    (hkd(), cny())
                } else {
                    (cny(), hkd())
                };
                quotes += 1;
                let quote = Quote {
                    provider: addr(&ch.bank_b),
                    quote_id: quotes,
                    sell,
                    buy,
                    rate: Rate {
                        num: *num,
                        den: *den,
                    },
                    min_sell: Amount(1),
                    max_sell: Amount(u128::MAX),
                    expires_at: hutong_runtime::TimestampMs(ch.time + 30_000),
                    payer: None,
                };
                let receive = convert(Amount(*amount), quote.rate).unwrap_or(Amount(0));
                let min_receive = if *tight {
                    Amount(receive.0.saturating_add(1))
                } else {
                    receive
                };
                let kind = TxKind::Pvp {
                    quote_signature: quote.sign(ch.chain_id, &ch.bank_b),
                    quote,
                    pay: Amount(*amount),
                    min_receive,
                    to: addr(&t),
                    transfer_id: TransferId(3_000 + u128::from(quotes)),
                };
                let cosigner = (*amount > 5_000 && *from >= 2).then(|| party(&ch, (*from - 2) % 2));
                block.push(sign_with(&ch, &f, kind, cosigner));
            }
            Op::Linked { from, legs, id } => {
                let f = party(&ch, *from);
                let legs: Vec<LinkedOp> = legs
                    .iter()
                    .enumerate()
                    .map(|(i, (to, hkd, amount))| LinkedOp::Transfer {
                        to: addr(&party(&ch, *to)),
                        asset: asset(*hkd),
                        amount: Amount(*amount),
                        transfer_id: TransferId(2_000 + u128::from(*id) * 8 + i as u128),
                    })
                    .collect();
                let large = legs
                    .iter()
                    .any(|l| matches!(l, LinkedOp::Transfer { amount, .. } if amount.0 > 5_000));
                let cosigner = (large && *from >= 2).then(|| party(&ch, (*from - 2) % 2));
                block.push(sign_with(&ch, &f, TxKind::Linked { legs }, cosigner));
            }
            Op::Replay { pick } => {
                if !history.is_empty() {
                    block.push(history[pick % history.len()].clone());
                }
            }
            Op::EndBlock { hours } => flush(
                &mut ch,
                &mut block,
                &mut history,
                &mut pending_seq,
                &mut book,
                &mut clearing,
                *hours,
            ),
        }
    }
    flush(
        &mut ch,
        &mut block,
        &mut history,
        &mut pending_seq,
        &mut book,
        &mut clearing,
        0,
    );
    ch
}

/// Whether anything is listed to expire, or to leave the state.
fn expiries_pending(ch: &Chain) -> bool {
    use hutong_runtime::state::StateValue;
    use hutong_runtime::store::read_value;
    let minutes = matches!(
        read_value(&ch.store, &StateKey::ExpiryMinutes),
        Ok(Some(StateValue::ExpiryMinutes(m))) if !m.is_empty()
    );
    let applied = matches!(
        read_value(&ch.store, &StateKey::ExpiryCursor),
        Ok(Some(StateValue::ExpiryCursor(c))) if !c.applied.is_empty()
    );
    minutes || applied
}

/// The interbank flows the receipts show, per settlement cycle.
type CycleFlows = std::collections::BTreeMap<
    (
        hutong_runtime::Address,
        hutong_runtime::Address,
        hutong_runtime::AssetCode,
    ),
    (u128, u64),
>;

#[derive(Default)]
struct ClearingModel {
    cycles: std::collections::BTreeMap<u64, CycleFlows>,
}

/// After a block: the open cycle's flows and every closed cycle's record
/// are what the receipts add up to (each debit paid to the credits beside
/// it, between institutions), and every record nets to zero.
fn check_clearing(
    ch: &Chain,
    block: &[SignedTransaction],
    receipts: &[hutong_runtime::Receipt],
    block_time: u64,
    model: &mut ClearingModel,
) {
    use hutong_runtime::state::StateValue;
    use hutong_runtime::store::read_value;
    let params = common::params();
    let cycle = params.cycle_of(block_time);
    let institution = |a: &hutong_runtime::Address| ch.account(a).unwrap().institution;
    for (tx, r) in block.iter().zip(receipts) {
        let Outcome::Success { effects } = &r.outcome else {
            continue;
        };
        if matches!(tx.tx.kind, TxKind::Mint { .. } | TxKind::Burn { .. }) {
            continue;
        }
        // Each credit is paid by the debit before it (a payment versus
        // payment has two: the payer's, then the provider's).
        let mut payer = None;
        for e in effects {
            if let Effect::Debit { account, .. } = e {
                payer = Some(*account);
            }
            let Some(payer) = payer else {
                continue;
            };
            if let Effect::Credit {
                account,
                asset,
                amount,
            } = e
            {
                let (from, to) = (institution(&payer), institution(account));
                if from != to {
                    let f = model
                        .cycles
                        .entry(cycle)
                        .or_default()
                        .entry((from, to, *asset))
                        .or_default();
                    f.0 += amount.0;
                    f.1 += 1;
                }
            }
        }
    }
    let flows_of = |flows: &[hutong_runtime::clearing::GrossFlow]| -> CycleFlows {
        flows
            .iter()
            .map(|f| ((f.from, f.to, f.asset), (f.amount.0, f.count)))
            .collect()
    };
    for (c, expected) in &model.cycles {
        if *c == cycle {
            let Ok(Some(StateValue::ClearingOpen(open))) =
                read_value(&ch.store, &StateKey::ClearingOpen)
            else {
                panic!("no open cycle {c}");
            };
            assert_eq!(open.cycle, *c);
            assert_eq!(&flows_of(&open.flows), expected, "open cycle {c}");
        } else {
            // Closed by the first block of a later cycle; this block is.
            let Ok(Some(StateValue::Clearing(record))) =
                read_value(&ch.store, &StateKey::Clearing(*c))
            else {
                panic!("no clearing record of cycle {c} at {block_time}");
            };
            assert_eq!(&flows_of(&record.flows), expected, "cycle {c}");
            assert!(hutong_runtime::clearing::balanced(&record.positions));
            assert_eq!(
                record.positions,
                hutong_runtime::clearing::positions(&record.flows)
            );
        }
    }
}

/// Which holds are open, by (payer, hold id), as receipts and expiries
/// tell it.
#[derive(Default)]
struct HoldBook {
    open: std::collections::HashSet<(hutong_runtime::Address, TransferId)>,
}

/// After a block: no hold was resolved twice, and every holding's held
/// amount is the sum of its open holds and amount freezes, with its open
/// holds backed by its balance.
fn check_holds(ch: &Chain, receipts: &[hutong_runtime::Receipt], book: &mut HoldBook) {
    use hutong_runtime::hold::HoldState;
    use hutong_runtime::state::StateValue;
    // Expiries ran before the block's transactions.
    book.open.retain(|(payer, id)| {
        matches!(
            hutong_runtime::hold::hold_status(&ch.store, *payer, *id),
            Ok(Some(h)) if h.state == HoldState::Open
        ) || receipts.iter().any(|r| {
            matches!(&r.outcome, Outcome::Success { effects } if effects.iter().any(|e|
                matches!(e, Effect::HoldCaptured { payer: p, hold_id, .. } | Effect::HoldVoided { payer: p, hold_id, .. } if p == payer && hold_id == id)))
        })
    });
    for r in receipts {
        let Outcome::Success { effects } = &r.outcome else {
            continue;
        };
        for e in effects {
            match e {
                Effect::HoldPlaced { payer, hold_id, .. } => {
                    assert!(book.open.insert((*payer, *hold_id)), "hold placed twice");
                }
                Effect::HoldCaptured { payer, hold_id, .. }
                | Effect::HoldVoided { payer, hold_id, .. } => {
                    assert!(
                        book.open.remove(&(*payer, *hold_id)),
                        "hold {payer} {hold_id} resolved but not open"
                    );
                }
                _ => {}
            }
        }
    }
    let mut expected: std::collections::HashMap<_, (u128, u128)> = Default::default();
    for (key, value) in ch.store.entries() {
        match (key, value) {
            (StateKey::Balance(payer, asset), StateValue::Balance(holding)) => {
                for h in &holding.holds {
                    assert!(
                        book.open.contains(&(payer, h.hold_id)),
                        "open hold unknown to receipts"
                    );
                    let e = expected.entry((payer, asset)).or_default();
                    e.0 += h.amount.0;
                    e.1 += h.amount.0;
                }
            }
            (StateKey::AmountFreezes(account), StateValue::AmountFreezes(list)) => {
                for f in list {
                    expected.entry((account, f.asset)).or_default().0 += f.amount.0;
                }
            }
            _ => {}
        }
    }
    for (key, value) in ch.store.entries() {
        if let (StateKey::Balance(a, asset), StateValue::Balance(h)) = (key, value) {
            let (held, holds) = expected.remove(&(a, asset)).unwrap_or_default();
            assert_eq!(h.held.0, held, "held of {a} {asset}");
            assert!(h.balance.0 >= holds, "holds of {a} {asset} not backed");
        }
    }
    assert!(
        expected.values().all(|(held, _)| *held == 0),
        "{:?}",
        expected
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn supply_is_conserved_and_replays_fail(ops in prop::collection::vec(op(), 1..120), seed in any::<u64>()) {
        run(&ops, seed);
    }

    /// The root depends only on the final state of the tree's keys:
    /// rebuilding the same entries in one write into a fresh store gives
    /// the same root as the block-by-block history, and so does any order
    /// of the same writes. Transfer records are left out: they are an
    /// index beside the tree, whose leaves hold them per block
    /// (`StateKey::TransferBlock`, carried over as they are).
    #[test]
    fn state_root_is_independent_of_write_batching(ops in prop::collection::vec(op(), 1..80), seed in any::<u64>(), shuffle in any::<u64>()) {
        let ch = run(&ops, seed);
        let incremental = *ch.state_roots.last().unwrap();

        let mut entries: Vec<_> = ch.store.entries().into_iter()
            .filter(|(k, _)| !matches!(k, StateKey::TransferRecord(..)))
            .map(|(k, v)| (k, Some(v)))
            .collect();
        let fresh = MemStore::new();
        let one_shot = prepare_commit(&fresh, 0, entries.clone()).unwrap().root;
        prop_assert_eq!(one_shot, incremental);

        // A deterministic shuffle of the same writes.
        let n = entries.len();
        let mut x = shuffle | 1;
        for i in (1..n).rev() {
            x ^= x << 13; x ^= x >> 7; x ^= x << 17;
            entries.swap(i, (x % (i as u64 + 1)) as usize);
        }
        let shuffled = prepare_commit(&fresh, 0, entries).unwrap().root;
        prop_assert_eq!(shuffled, incremental);
        prop_assert_eq!(ch.store.latest_version(), Some(ch.height));
    }
}

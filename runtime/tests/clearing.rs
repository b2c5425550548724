//! Clearing between institutions: a cycle's gross flows per institution
//! pair, closed by the first block of the next cycle into a record whose
//! net positions sum to zero.

mod common;

use common::*;
use hutong_runtime::clearing::{balanced, ClearingRecord, NetPosition};
use hutong_runtime::state::{StateKey, StateValue};
use hutong_runtime::store::{prove, read_value};
use hutong_runtime::{Amount, TimestampMs, TransferId, TxKind};

#[test]
fn a_cycle_closes_into_net_positions_that_sum_to_zero() {
    let mut ch = Chain::new(6, 21);
    // Customers: even at bank A, odd at bank B.
    let (a0, b1, a2, b3) = (
        ch.customers[0].clone(),
        ch.customers[1].clone(),
        ch.customers[2].clone(),
        ch.customers[3].clone(),
    );
    let (bank_a, bank_b) = (addr(&ch.bank_a), addr(&ch.bank_b));
    let block = vec![
        // A → B: 300 CNY
        ch.transfer(&a0, addr(&b1), cny(), 300, 1),
        // B → A: 1,000 CNY
        ch.transfer(&b3, addr(&a2), cny(), 1_000, 1),
        // A → A: not interbank
        ch.transfer(&a2, addr(&a0), cny(), 50, 2),
        // Fails (tier 1 single limit): not a flow
        ch.transfer(&a0, addr(&b3), cny(), 5_000, 3),
    ];
    // Sequence numbers within the block.
    let mut block = block;
    block[3] = {
        let mut tx = ch.unsigned(
            &a0,
            TxKind::Transfer {
                to: addr(&b3),
                asset: cny(),
                amount: Amount(5_000),
                transfer_id: TransferId(3),
            },
        );
        tx.sequence = hutong_runtime::Nonce(1);
        tx.sign(&a0)
    };
    let receipts = ch.execute(&block);
    assert_eq!(
        receipts.iter().map(|r| r.is_success()).collect::<Vec<_>>(),
        [true, true, true, false]
    );
    // A captured hold from B to A: 70 CNY.
    let hold = ch.tx(
        &b3,
        TxKind::Hold {
            to: addr(&a2),
            asset: cny(),
            amount: Amount(100),
            hold_id: TransferId(9),
            expires_at: TimestampMs(ch.time + 600_000),
        },
    );
    assert!(ch.run(hold).is_success());
    let capture = ch.tx(
        &a2,
        TxKind::Capture {
            payer: addr(&b3),
            hold_id: TransferId(9),
            amount: Amount(70),
        },
    );
    assert!(ch.run(capture).is_success());
    let cycle = params().cycle_of(ch.time);
    assert!(read_value(&ch.store, &StateKey::Clearing(cycle))
        .unwrap()
        .is_none());

    // The first block of the next day closes the cycle.
    ch.time += 86_400_000;
    ch.execute(&[]);
    let Some(StateValue::Clearing(record)) =
        read_value(&ch.store, &StateKey::Clearing(cycle)).unwrap()
    else {
        panic!("no clearing record");
    };
    let ClearingRecord {
        flows,
        positions,
        start_ms,
        end_ms,
        ..
    } = &record;
    assert_eq!(end_ms - start_ms, 86_400_000);
    assert_eq!(
        flows
            .iter()
            .map(|f| (f.from, f.to, f.amount.0, f.count))
            .collect::<Vec<_>>(),
        {
            let mut v = vec![(bank_a, bank_b, 300, 1), (bank_b, bank_a, 1_070, 2)];
            v.sort();
            v
        }
    );
    let position = |i| {
        *positions
            .iter()
            .find(|p: &&NetPosition| p.institution == i)
            .unwrap()
    };
    assert_eq!(position(bank_a).net(), (true, Amount(770)));
    assert_eq!(position(bank_b).net(), (false, Amount(770)));
    assert!(balanced(positions));
    // Certified like any state: provable against the state root.
    let proof = prove(&ch.store, StateKey::Clearing(cycle), ch.height).unwrap();
    proof.verify(ch.state_roots.last().unwrap()).unwrap();
    // Nothing open: an empty block changes nothing.
    assert!(read_value(&ch.store, &StateKey::ClearingOpen)
        .unwrap()
        .is_none());
    let before = *ch.state_roots.last().unwrap();
    ch.execute(&[]);
    assert_eq!(*ch.state_roots.last().unwrap(), before);
}

#[test]
fn cycle_lengths_divide_a_day() {
    use hutong_runtime::clearing::valid_cycle;
    assert!(valid_cycle(86_400) && valid_cycle(3_600) && valid_cycle(60));
    assert!(!valid_cycle(59) && !valid_cycle(7_000) && !valid_cycle(172_800));
    // Cycles start at midnight in the consortium's zone (+08:00).
    let p = params();
    assert_eq!(p.cycle_of(T0), p.cycle_of(T0 + 86_399_999));
    assert_eq!(p.cycle_of(T0) + 1, p.cycle_of(T0 + 86_400_000));
    assert_eq!(p.cycle_start_ms(p.cycle_of(T0)), T0 as i64);
}

//! Clearing between institutions: each settlement cycle's gross flows per
//! institution pair, and at the cycle's end every institution's net
//! position per asset.
//!
//! A cycle lasts [`Params::settlement_cycle_seconds`] (a day unless genesis
//! says otherwise; it divides a day, and cycles start at midnight in the
//! consortium's zone). Every successful movement of money between accounts
//! of two different institutions (a transfer, each payout of a batch, a
//! hold's capture) adds to the gross flow from the payer's institution to
//! the payee's, per asset; an account's institution is the one that opened
//! it (an institution's own account is its own). Money within one
//! institution, mints and burns are not interbank flows.
//!
//! The open cycle's flows are one state entry ([`StateKey::ClearingOpen`]),
//! written once per block that has such flows. The first block of a later
//! cycle, before its transactions, closes it: the clearing record
//! ([`StateKey::Clearing`]) keeps the gross flows and each institution's
//! position (what it paid, what it received); the net positions of each
//! asset sum to zero, which the record's construction checks. Like any
//! state entry, the record is certified with its block, so a member can
//! prove its position to a third party. A chain with no interbank flows
//! writes nothing, so an empty block keeps the state root.

use std::collections::BTreeMap;

use borsh::{BorshDeserialize, BorshSerialize};

use crate::execute::{ExecError, Executor};
use crate::state::{Params, StateKey, StateValue};
use crate::store::StateStore;
use crate::types::{Address, Amount, AssetCode};

/// Whether `seconds` is an allowed cycle length: at least a minute, and a
/// whole number of cycles per day.
pub fn valid_cycle(seconds: u32) -> bool {
    seconds >= 60 && 86_400 % seconds == 0
}

/// What one institution paid another of one asset in a cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct GrossFlow {
    pub from: Address,
    pub to: Address,
    pub asset: AssetCode,
    pub amount: Amount,
    /// How many movements made it.
    pub count: u64,
}

/// The open cycle's flows, ascending by (from, to, asset).
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct OpenCycle {
    pub cycle: u64,
    pub flows: Vec<GrossFlow>,
}

/// An institution's position in one asset over a cycle. Its net position
/// is `received − paid`: positive, it is owed; negative, it owes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct NetPosition {
    pub institution: Address,
    pub asset: AssetCode,
    pub paid: Amount,
    pub received: Amount,
}

impl NetPosition {
    /// The net position: (true, x) when owed x, (false, x) when owing x.
    pub fn net(&self) -> (bool, Amount) {
        if self.received >= self.paid {
            (true, Amount(self.received.0 - self.paid.0))
        } else {
            (false, Amount(self.paid.0 - self.received.0))
        }
    }
}

/// A closed cycle's clearing record.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct ClearingRecord {
    pub cycle: u64,
    /// The cycle's start and end (exclusive), in milliseconds since the
    /// Unix epoch.
    pub start_ms: i64,
    pub end_ms: i64,
    /// Ascending by (from, to, asset).
    pub flows: Vec<GrossFlow>,
    /// Ascending by (asset, institution).
    pub positions: Vec<NetPosition>,
}

/// The positions of a cycle's flows: per asset, what each institution paid
/// and received, ascending by (asset, institution). Amounts add up
/// saturating at `u128::MAX` (unreachable: every flow is part of a supply).
pub fn positions(flows: &[GrossFlow]) -> Vec<NetPosition> {
    let mut by: BTreeMap<(AssetCode, Address), (u128, u128)> = BTreeMap::new();
    for f in flows {
        let out = by.entry((f.asset, f.from)).or_default();
        out.0 = out.0.saturating_add(f.amount.0);
        let inn = by.entry((f.asset, f.to)).or_default();
        inn.1 = inn.1.saturating_add(f.amount.0);
    }
    by.into_iter()
        .map(|((asset, institution), (paid, received))| NetPosition {
            institution,
            asset,
            paid: Amount(paid),
            received: Amount(received),
        })
        .collect()
}

/// Whether every asset's net positions sum to zero.
pub fn balanced(positions: &[NetPosition]) -> bool {
    let mut sums: BTreeMap<AssetCode, (u128, u128)> = BTreeMap::new();
    for p in positions {
        let s = sums.entry(p.asset).or_default();
        let (owed, x) = p.net();
        if owed {
            s.0 = s.0.saturating_add(x.0);
        } else {
            s.1 = s.1.saturating_add(x.0);
        }
    }
    sums.values().all(|(owed, owing)| owed == owing)
}

/// The flows one transaction made, and the block's so far.
#[derive(Debug, Default)]
pub(crate) struct Flows {
    tx: Vec<(Address, Address, AssetCode, Amount)>,
    block: BTreeMap<(Address, Address, AssetCode), (Amount, u64)>,
}

impl Flows {
    /// A movement of money from an account of `from` to one of `to`
    /// (institutions); kept once the transaction succeeds.
    pub(crate) fn record(&mut self, from: Address, to: Address, asset: AssetCode, amount: Amount) {
        if from != to && amount.0 > 0 {
            self.tx.push((from, to, asset, amount));
        }
    }

    /// The transaction ended: keep its flows if it succeeded.
    pub(crate) fn end_tx(&mut self, succeeded: bool) {
        if succeeded {
            for (from, to, asset, amount) in self.tx.drain(..) {
                let e = self.block.entry((from, to, asset)).or_default();
                e.0 = Amount(e.0 .0.saturating_add(amount.0));
                e.1 += 1;
            }
        } else {
            self.tx.clear();
        }
    }
}

impl<S: StateStore + ?Sized> Executor<'_, S> {
    fn open_cycle(&mut self) -> Result<Option<OpenCycle>, ExecError> {
        match self.overlay.get(&StateKey::ClearingOpen)? {
            None => Ok(None),
            Some(StateValue::ClearingOpen(c)) => Ok(Some(c)),
            Some(_) => Err(ExecError::WrongValueKind {
                key: StateKey::ClearingOpen,
            }),
        }
    }

    /// Closes the open cycle if this block is in a later one. Runs before
    /// the block's transactions.
    pub(crate) fn close_cycle(&mut self) -> Result<(), ExecError> {
        let current = self.params.cycle_of(self.ctx.timestamp.0);
        let Some(open) = self.open_cycle()? else {
            return Ok(());
        };
        if open.cycle >= current {
            return Ok(());
        }
        let record = record_of(&self.params, open);
        if !balanced(&record.positions) {
            return Err(ExecError::Unbalanced {
                cycle: record.cycle,
            });
        }
        self.overlay.put(
            StateKey::Clearing(record.cycle),
            Some(StateValue::Clearing(record)),
        );
        self.overlay.put(StateKey::ClearingOpen, None);
        Ok(())
    }

    /// Adds the block's flows to the open cycle (one write). Runs after
    /// the block's transactions.
    pub(crate) fn flush_flows(&mut self) -> Result<(), ExecError> {
        if self.flows.block.is_empty() {
            return Ok(());
        }
        let current = self.params.cycle_of(self.ctx.timestamp.0);
        let mut open = match self.open_cycle()? {
            Some(open) if open.cycle == current => open,
            _ => OpenCycle {
                cycle: current,
                flows: Vec::new(),
            },
        };
        for ((from, to, asset), (amount, count)) in std::mem::take(&mut self.flows.block) {
            match open
                .flows
                .binary_search_by(|f| (f.from, f.to, f.asset).cmp(&(from, to, asset)))
            {
                Ok(i) => {
                    let f = &mut open.flows[i];
                    f.amount = Amount(f.amount.0.saturating_add(amount.0));
                    f.count = f.count.saturating_add(count);
                }
                Err(i) => open.flows.insert(
                    i,
                    GrossFlow {
                        from,
                        to,
                        asset,
                        amount,
                        count,
                    },
                ),
            }
        }
        self.overlay
            .put(StateKey::ClearingOpen, Some(StateValue::ClearingOpen(open)));
        Ok(())
    }
}

/// The record of a cycle from its flows.
pub fn record_of(params: &Params, open: OpenCycle) -> ClearingRecord {
    let positions = positions(&open.flows);
    ClearingRecord {
        cycle: open.cycle,
        start_ms: params.cycle_start_ms(open.cycle),
        end_ms: params.cycle_start_ms(open.cycle + 1),
        flows: open.flows,
        positions,
    }
}

//! `Transfer` and `BatchTransfer`: the payment rules, with the tier limits
//! and the idempotency record.
//!
//! # How long a transfer id is remembered
//!
//! A successful transfer leaves a record under (sender, transfer id), and a
//! later transfer of the same sender with the same id is refused
//! (`TransferExists`, or `TransferExistsWithDifferentFields`): a wallet
//! that did not hear back may sign the payment again under a new sequence
//! number without paying twice. The ledger remembers an id for
//! [`TRANSFER_ID_RETENTION_MS`] (seven days) of block time after the block
//! that used it, then forgets it, and the id may be used again. Sequence
//! numbers already stop a signed transaction from running twice (each
//! account's next sequence number must be used exactly, once); the record
//! only guards against a second signature of the same payment, which a
//! wallet makes while it is still unsure about the first, so a window
//! measured in days covers it.
//!
//! A window (rather than records kept forever) is what lets a node start
//! from a snapshot of the state: the records are leaves of the state tree,
//! one [`StateKey::TransferBlock`] per block that used ids, so a snapshot
//! carries them with their proof, and their number is bounded by the
//! traffic of the window, not by the chain's history. The per-sender index
//! that execution reads ([`StateKey::TransferRecord`]) is kept beside the
//! tree and rebuilt from those leaves after a restore.
//!
//! Forgetting is deterministic: at every height divisible by
//! [`TRANSFER_PRUNE_EVERY`] (so that the tree's slower delete path runs in
//! one block of that many), before its transactions, the block drops the
//! oldest blocks' records whose timestamp is at least the retention older
//! than its own, looking at no more than [`TRANSFER_PRUNE_SCAN_MAX`]
//! heights at a time.

use crate::crypto::{domain, Hash, PublicKey};
use crate::execute::{ExecError, Executor, TxResult};
use crate::receipt::{Effect, FailureReason};
use crate::state::{
    Account, AccountKind, AssetLimits, DailyOutflow, Holding, StateKey, StateValue, TransferBlock,
    TransferFields, TransferRecord, TransferWindow,
};
use crate::store::StateStore;
use crate::tx::Payout;
use crate::types::{Address, Amount, AssetCode, Tier, TransferId};

/// How long (in block time) a transfer id is remembered after the block
/// that used it: seven days.
pub const TRANSFER_ID_RETENTION_MS: u64 = 7 * 24 * 60 * 60 * 1_000;
/// Records are forgotten at heights divisible by this.
pub const TRANSFER_PRUNE_EVERY: u64 = 64;
/// Most heights one pruning looks at (a chain's first pruning after a long
/// quiet spell catches up over several).
pub const TRANSFER_PRUNE_SCAN_MAX: u64 = 4_096;

impl<S: StateStore + ?Sized> Executor<'_, S> {
    /// Forgets the transfer records that have outlived the retention (see
    /// the module's documentation). Runs before the block's transactions.
    pub(crate) fn prune_transfer_ids(&mut self) -> Result<(), ExecError> {
        let height = self.ctx.height.0;
        if !height.is_multiple_of(TRANSFER_PRUNE_EVERY) {
            return Ok(());
        }
        let window = match self.overlay.get(&StateKey::TransferWindow)? {
            None => TransferWindow::default(),
            Some(StateValue::TransferWindow(w)) => w,
            Some(_) => {
                return Err(ExecError::WrongValueKind {
                    key: StateKey::TransferWindow,
                })
            }
        };
        let now = self.ctx.timestamp.0;
        let end = height.min(window.oldest.saturating_add(TRANSFER_PRUNE_SCAN_MAX));
        let mut oldest = window.oldest;
        while oldest < end {
            let key = StateKey::TransferBlock(oldest);
            match self.overlay.get(&key)? {
                None => {}
                Some(StateValue::TransferBlock(block)) => {
                    if block.timestamp.0.saturating_add(TRANSFER_ID_RETENTION_MS) > now {
                        break;
                    }
                    for (sender, id, _) in &block.records {
                        self.overlay
                            .put(StateKey::TransferRecord(*sender, *id), None);
                    }
                    self.overlay.put(key, None);
                }
                Some(_) => return Err(ExecError::WrongValueKind { key }),
            }
            oldest += 1;
        }
        if oldest != window.oldest {
            self.overlay.put(
                StateKey::TransferWindow,
                Some(StateValue::TransferWindow(TransferWindow { oldest })),
            );
        }
        Ok(())
    }
}

/// The tree's copy of the block's new transfer records (see
/// [`StateKey::TransferBlock`]), added to `changes` (sorted by key, as
/// execution returns them); no leaf for a block without transfers.
pub(crate) fn add_transfer_block(
    changes: &mut Vec<(StateKey, Option<StateValue>)>,
    ctx: &crate::execute::BlockContext,
) {
    let records: Vec<(Address, TransferId, TransferRecord)> = changes
        .iter()
        .filter_map(|(key, value)| match (key, value) {
            (StateKey::TransferRecord(sender, id), Some(StateValue::TransferRecord(r))) => {
                Some((*sender, *id, *r))
            }
            _ => None,
        })
        .collect();
    if records.is_empty() {
        return;
    }
    let key = StateKey::TransferBlock(ctx.height.0);
    let value = Some(StateValue::TransferBlock(TransferBlock {
        timestamp: ctx.timestamp,
        records,
    }));
    match changes.binary_search_by(|(k, _)| k.cmp(&key)) {
        Ok(i) => changes[i].1 = value,
        Err(i) => changes.insert(i, (key, value)),
    }
}

/// The index entries ([`StateKey::TransferRecord`]) a tree leaf stands
/// for: what a store restored from a snapshot writes beside the tree. Empty
/// for every leaf but a [`StateKey::TransferBlock`]'s.
pub fn index_entries(value: &StateValue) -> Vec<(StateKey, StateValue)> {
    match value {
        StateValue::TransferBlock(block) => block
            .records
            .iter()
            .map(|(sender, id, record)| {
                (
                    StateKey::TransferRecord(*sender, *id),
                    StateValue::TransferRecord(*record),
                )
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// What the idempotency record keeps of a transfer's fields.
pub(crate) fn transfer_fields(
    asset: AssetCode,
    payouts: &[Payout],
    single: bool,
) -> TransferFields {
    match (single, payouts) {
        (true, [p]) => TransferFields::Single {
            to: p.to,
            asset,
            amount: p.amount,
        },
        _ => {
            let bytes = borsh::to_vec(payouts).expect("borsh encoding into a Vec cannot fail");
            TransferFields::Batch {
                asset,
                payouts: Hash::tagged(domain::TRANSFER_FIELDS, &bytes),
            }
        }
    }
}
impl<S: StateStore + ?Sized> Executor<'_, S> {
    /// `Transfer` and `BatchTransfer`: one sender, one asset, one or more
    /// payouts, all or nothing.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn transfer(
        &mut self,
        cosigner: Option<PublicKey>,
        tx_hash: &Hash,
        sender: Address,
        account: &Account,
        asset: AssetCode,
        payouts: &[Payout],
        transfer_id: TransferId,
        single: bool,
    ) -> Result<TxResult, ExecError> {
        let total = match self.payout_total(sender, asset, payouts)? {
            Ok(total) => total,
            Err(reason) => return Ok(Err(reason)),
        };
        let fields = transfer_fields(asset, payouts, single);
        if let Err(reason) = self.check_transfer_id(sender, transfer_id, &fields)? {
            return Ok(Err(reason));
        }
        let effects = match self.move_funds(cosigner, sender, account, asset, payouts, total)? {
            Ok(effects) => effects,
            Err(reason) => return Ok(Err(reason)),
        };
        self.record_transfer_id(sender, transfer_id, tx_hash, fields);
        Ok(Ok(effects))
    }

    /// The total of a payment's payouts, each more than zero and not to
    /// the payer, in a known asset.
    pub(crate) fn payout_total(
        &mut self,
        from: Address,
        asset: AssetCode,
        payouts: &[Payout],
    ) -> Result<Result<Amount, FailureReason>, ExecError> {
        let mut total = Amount::ZERO;
        for p in payouts {
            if p.amount.0 == 0 {
                return Ok(Err(FailureReason::ZeroAmount));
            }
            if p.to == from {
                return Ok(Err(FailureReason::SelfTransfer));
            }
            let Some(t) = total.checked_add(p.amount) else {
                return Ok(Err(FailureReason::Overflow { asset }));
            };
            total = t;
        }
        if self.asset(&asset)?.is_none() {
            return Ok(Err(FailureReason::UnknownAsset { asset }));
        }
        Ok(Ok(total))
    }

    /// Refuses a transfer id the payer used within the retention window,
    /// telling a retry (same fields) from a conflicting reuse.
    pub(crate) fn check_transfer_id(
        &mut self,
        payer: Address,
        transfer_id: TransferId,
        fields: &TransferFields,
    ) -> Result<Result<(), FailureReason>, ExecError> {
        let record_key = StateKey::TransferRecord(payer, transfer_id);
        let Some(value) = self.overlay.get(&record_key)? else {
            return Ok(Ok(()));
        };
        let StateValue::TransferRecord(record) = value else {
            return Err(ExecError::WrongValueKind { key: record_key });
        };
        Ok(Err(if record.fields == *fields {
            FailureReason::TransferExists {
                original_tx: record.tx_hash,
            }
        } else {
            FailureReason::TransferExistsWithDifferentFields {
                original_tx: record.tx_hash,
            }
        }))
    }

    pub(crate) fn record_transfer_id(
        &mut self,
        payer: Address,
        transfer_id: TransferId,
        tx_hash: &Hash,
        fields: TransferFields,
    ) {
        self.overlay.put(
            StateKey::TransferRecord(payer, transfer_id),
            Some(StateValue::TransferRecord(TransferRecord {
                tx_hash: *tx_hash,
                fields,
            })),
        );
    }

    /// Moves `total` (the payouts' sum, see [`Self::payout_total`]) of
    /// `asset` from `from` to the payouts' recipients, under the payer's
    /// rules: not frozen, not receive-only, its tier's limits (a customer;
    /// `cosigner` is the transaction's step-up co-signer), its available
    /// balance; each recipient known, not frozen, not send-only.
    pub(crate) fn move_funds(
        &mut self,
        cosigner: Option<PublicKey>,
        from: Address,
        account: &Account,
        asset: AssetCode,
        payouts: &[Payout],
        total: Amount,
    ) -> Result<TxResult, ExecError> {
        // The signer's own freeze was refused before (`sender_frozen`);
        // this is a payer that did not sign (an FX provider's leg, a
        // mandate's payer).
        if let Some(freeze) = account.frozen {
            return Ok(Err(FailureReason::PayerFrozen {
                account: from,
                freeze,
            }));
        }
        if let Some(restriction) = account
            .restriction
            .filter(crate::hold::Restriction::blocks_sending)
        {
            return Ok(Err(FailureReason::Restricted {
                account: from,
                restriction,
            }));
        }
        // Risk rules for customer accounts.
        let holding = self.holding(&from, &asset)?;
        let mut outflow = holding.outflow;
        if let AccountKind::Customer { tier, .. } = account.kind {
            match self.check_limits(cosigner, account, tier, asset, total, holding.outflow)? {
                Ok(today) => outflow = today,
                Err(reason) => return Ok(Err(reason)),
            }
        }

        let available = holding.available();
        if available < total {
            return Ok(Err(FailureReason::InsufficientBalance {
                asset,
                available,
                required: total,
            }));
        }
        self.put_holding(
            from,
            asset,
            Holding {
                balance: Amount(holding.balance.0 - total.0),
                outflow,
                ..holding
            },
        );

        let mut effects = Vec::with_capacity(payouts.len() + 1);
        effects.push(Effect::Debit {
            account: from,
            asset,
            amount: total,
        });
        for p in payouts {
            let recipient = match self.receiving_account(&p.to)? {
                Ok(recipient) => recipient,
                Err(reason) => return Ok(Err(reason)),
            };
            self.flows
                .record(account.institution, recipient.institution, asset, p.amount);
            let balance = self.balance(&p.to, &asset)?;
            let Some(new_balance) = balance.checked_add(p.amount) else {
                return Ok(Err(FailureReason::Overflow { asset }));
            };
            self.put_balance(p.to, asset, new_balance)?;
            effects.push(Effect::Credit {
                account: p.to,
                asset,
                amount: p.amount,
            });
        }
        Ok(Ok(effects))
    }

    /// One payment against its tier's limits for the asset: the single
    /// maximum, and above the step-up threshold the co-signature of the
    /// payer's institution's current key.
    pub(crate) fn check_payment_size(
        &mut self,
        cosigner: Option<PublicKey>,
        account: &Account,
        limits: &AssetLimits,
        total: Amount,
    ) -> Result<Result<(), FailureReason>, ExecError> {
        if total > limits.single_max {
            return Ok(Err(FailureReason::SingleLimitExceeded {
                asset: limits.asset,
                limit: limits.single_max,
                amount: total,
            }));
        }
        if let Some(threshold) = limits.step_up_threshold {
            if total > threshold {
                // The co-signature itself was verified with the sender's.
                // The institution's current key (it may have been rotated).
                let Some(cosigner) = cosigner else {
                    return Ok(Err(FailureReason::StepUpRequired {
                        threshold,
                        amount: total,
                        institution: account.institution,
                    }));
                };
                let institutions = self
                    .account(&account.institution)?
                    .is_some_and(|i| i.owner == cosigner && i.kind == AccountKind::Institution);
                if !institutions {
                    return Ok(Err(FailureReason::CoSignerNotInstitution {
                        cosigner,
                        institution: account.institution,
                    }));
                }
            }
        }
        Ok(Ok(()))
    }

    /// The tier's per-asset limits, all on the transaction's total (a batch
    /// is one transaction): the per-transaction maximum, the step-up
    /// threshold and the daily outflow limit. On success, the sender's
    /// outflow with this transfer counted.
    pub(crate) fn check_limits(
        &mut self,
        cosigner: Option<PublicKey>,
        account: &Account,
        tier: Tier,
        asset: AssetCode,
        total: Amount,
        outflow: DailyOutflow,
    ) -> Result<Result<DailyOutflow, FailureReason>, ExecError> {
        let Some(limits) = self.params().limits(tier, asset).copied() else {
            return Ok(Err(FailureReason::AssetNotAllowed { tier, asset }));
        };
        if let Err(reason) = self.check_payment_size(cosigner, account, &limits, total)? {
            return Ok(Err(reason));
        }
        // A record from a later day than this block's can only come from a
        // block timestamp that went backwards (consensus must not allow it);
        // its spending still counts, so going back in time resets nothing.
        let (day, spent_today) = if outflow.day >= self.day {
            (outflow.day, outflow.spent)
        } else {
            (self.day, Amount::ZERO)
        };
        let spent = spent_today
            .checked_add(total)
            .filter(|s| *s <= limits.daily_max);
        let Some(spent) = spent else {
            return Ok(Err(FailureReason::DailyLimitExceeded {
                asset,
                limit: limits.daily_max,
                spent_today,
                amount: total,
            }));
        };
        Ok(Ok(DailyOutflow { day, spent }))
    }
}

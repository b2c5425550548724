//! `Transfer` and `BatchTransfer`: the payment rules, with the tier limits
//! and the idempotency record.

use crate::crypto::{domain, Hash};
use crate::execute::{ExecError, Executor, TxResult};
use crate::receipt::{Effect, FailureReason};
use crate::state::{
    Account, AccountKind, DailyOutflow, Holding, StateKey, StateValue, TransferFields,
    TransferRecord,
};
use crate::store::StateStore;
use crate::tx::{Payout, SignedTransaction, TxKind};
use crate::types::{Address, Amount, AssetCode, Tier, TransferId};

/// What the idempotency record keeps of a transfer's fields.
fn transfer_fields(asset: AssetCode, payouts: &[Payout], single: bool) -> TransferFields {
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
        stx: &SignedTransaction,
        tx_hash: &Hash,
        sender: Address,
        account: &Account,
        asset: AssetCode,
        payouts: &[Payout],
        transfer_id: TransferId,
    ) -> Result<TxResult, ExecError> {
        let mut total = Amount::ZERO;
        for p in payouts {
            if p.amount.0 == 0 {
                return Ok(Err(FailureReason::ZeroAmount));
            }
            if p.to == sender {
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
        let record_key = StateKey::TransferRecord(sender, transfer_id);
        if let Some(value) = self.overlay.get(&record_key)? {
            let StateValue::TransferRecord(record) = value else {
                return Err(ExecError::WrongValueKind { key: record_key });
            };
            let single = matches!(stx.tx.kind, TxKind::Transfer { .. });
            let reason = if record.fields == transfer_fields(asset, payouts, single) {
                FailureReason::TransferExists {
                    original_tx: record.tx_hash,
                }
            } else {
                FailureReason::TransferExistsWithDifferentFields {
                    original_tx: record.tx_hash,
                }
            };
            return Ok(Err(reason));
        }

        // Risk rules for customer accounts.
        let holding = self.holding(&sender, &asset)?;
        let mut outflow = holding.outflow;
        if let AccountKind::Customer { tier, .. } = account.kind {
            match self.check_limits(stx, account, tier, asset, total, holding.outflow)? {
                Ok(today) => outflow = today,
                Err(reason) => return Ok(Err(reason)),
            }
        }

        let available = holding.balance;
        let Some(remaining) = available.checked_sub(total) else {
            return Ok(Err(FailureReason::InsufficientBalance {
                asset,
                available,
                required: total,
            }));
        };
        self.put_holding(
            sender,
            asset,
            Holding {
                balance: remaining,
                outflow,
            },
        );

        let mut effects = Vec::with_capacity(payouts.len() + 1);
        effects.push(Effect::Debit {
            account: sender,
            asset,
            amount: total,
        });
        for p in payouts {
            let Some(recipient) = self.account(&p.to)? else {
                return Ok(Err(FailureReason::UnknownAccount { account: p.to }));
            };
            if let Some(freeze) = recipient.frozen {
                return Ok(Err(FailureReason::RecipientFrozen {
                    account: p.to,
                    freeze,
                }));
            }
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
        self.overlay.put(
            record_key,
            Some(StateValue::TransferRecord(TransferRecord {
                tx_hash: *tx_hash,
                fields: transfer_fields(
                    asset,
                    payouts,
                    matches!(stx.tx.kind, TxKind::Transfer { .. }),
                ),
            })),
        );
        Ok(Ok(effects))
    }

    /// The tier's per-asset limits, all on the transaction's total (a batch
    /// is one transaction): the per-transaction maximum, the step-up
    /// threshold and the daily outflow limit. On success, the sender's
    /// outflow with this transfer counted.
    fn check_limits(
        &mut self,
        stx: &SignedTransaction,
        account: &Account,
        tier: Tier,
        asset: AssetCode,
        total: Amount,
        outflow: DailyOutflow,
    ) -> Result<Result<DailyOutflow, FailureReason>, ExecError> {
        let Some(limits) = self.params().limits(tier, asset).copied() else {
            return Ok(Err(FailureReason::AssetNotAllowed { tier, asset }));
        };
        if total > limits.single_max {
            return Ok(Err(FailureReason::SingleLimitExceeded {
                asset,
                limit: limits.single_max,
                amount: total,
            }));
        }
        if let Some(threshold) = limits.step_up_threshold {
            if total > threshold {
                // The co-signature itself was verified with the sender's.
                // The institution's current key (it may have been rotated).
                let cosigned = match stx.tx.cosigner {
                    Some(key) => self
                        .account(&account.institution)?
                        .is_some_and(|i| i.owner == key && i.kind == AccountKind::Institution),
                    None => false,
                };
                if !cosigned {
                    return Ok(Err(FailureReason::StepUpRequired {
                        threshold,
                        amount: total,
                        institution: account.institution,
                    }));
                }
            }
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

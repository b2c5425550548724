//! Block execution: a deterministic function from (state, block context,
//! ordered transactions) to (receipts, state changes).
//!
//! Authorisation rules, by kind:
//! - `Transfer`, `BatchTransfer`: the sender's own key; customer accounts
//!   are bound by their tier's limits for the asset and need their
//!   institution's co-signature above the step-up threshold.
//! - `OpenAccount`: a member institution; the account records it.
//! - `SetTier`: the account's institution.
//! - `Freeze`, `Unfreeze`: the account's institution, or any regulator; a
//!   regulator's freeze can be lifted only by a regulator.
//! - `Mint`, `Burn`: the asset's issuing institution (`Burn` from its own
//!   account).
//!
//! The order of checks is part of the protocol, since it decides which
//! reason a receipt gives; it is the order of the code below.

use std::collections::HashMap;

use crate::crypto::{domain, Hash};
use crate::receipt::{Effect, FailureReason, Outcome, Receipt};
use crate::state::{
    Account, AccountKind, AssetInfo, DailyOutflow, Freeze, Params, StateKey, StateValue,
    TransferFields, TransferRecord,
};
use crate::store::{StateStore, StoreError};
use crate::tx::{Expiry, Payout, SignedTransaction, TxKind};
use crate::types::{
    Address, Amount, AssetCode, ChainId, Height, Nonce, Tier, TimestampMs, TransferId,
};

/// What the block header tells execution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockContext {
    pub chain_id: ChainId,
    pub height: Height,
    /// The block's agreed timestamp: the only notion of time the ledger has.
    pub timestamp: TimestampMs,
}

/// How execution learns transaction ids and whether signatures are valid.
#[derive(Debug, Clone, Copy)]
pub enum SignatureCheck<'a> {
    /// Hash every transaction and check every signature here, one by one.
    Verify,
    /// The caller already did both (the node, with a parallel batch
    /// verifier, when it admitted the transactions). ZIP-215 makes a batch
    /// verdict equal to the single one, so this is sound; the caller is
    /// trusted exactly as far as the node trusts itself.
    Preverified(&'a Preverified),
}

/// Per-transaction results computed before execution, where they can run
/// in parallel: `hashes[i]` is `txs[i].hash()`, `senders[i]` is
/// `txs[i].tx.sender_address()`, and `valid[i]` says whether its
/// signatures verify.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Preverified {
    pub hashes: Vec<Hash>,
    pub senders: Vec<Address>,
    pub valid: Vec<bool>,
}

impl Preverified {
    /// Computes everything one transaction at a time, on this thread.
    pub fn compute(txs: &[SignedTransaction]) -> Preverified {
        let hashes: Vec<Hash> = txs.iter().map(|t| t.hash()).collect();
        let senders = txs.iter().map(|t| t.tx.sender_address()).collect();
        let valid = txs
            .iter()
            .zip(&hashes)
            .map(|(t, h)| t.verify_signatures_with(h).is_ok())
            .collect();
        Preverified {
            hashes,
            senders,
            valid,
        }
    }

    fn len_matches(&self, txs: usize) -> bool {
        self.hashes.len() == txs && self.senders.len() == txs && self.valid.len() == txs
    }
}

/// The result of executing a block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockOutcome {
    /// One receipt per transaction, in block order.
    pub receipts: Vec<Receipt>,
    /// Every changed state entry (`None` deletes), in key order.
    pub changes: Vec<(StateKey, Option<StateValue>)>,
}

#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("state has no chain parameters: was genesis applied?")]
    NoParams,
    #[error("state entry {key:?} holds a value of the wrong kind")]
    WrongValueKind { key: StateKey },
    #[error("{got} signature verdicts for {txs} transactions")]
    VerdictCount { got: usize, txs: usize },
}

/// Executes `txs` in order on top of `store`. Failures of a transaction are
/// recorded in its receipt; an `Err` means the store itself failed or is
/// corrupt, which the node must treat as fatal.
pub fn execute_block<S: StateStore + ?Sized>(
    store: &S,
    ctx: &BlockContext,
    txs: &[SignedTransaction],
    signatures: SignatureCheck<'_>,
) -> Result<BlockOutcome, ExecError> {
    if let SignatureCheck::Preverified(pre) = signatures {
        if !pre.len_matches(txs.len()) {
            return Err(ExecError::VerdictCount {
                got: pre.valid.len(),
                txs: txs.len(),
            });
        }
    }
    let mut exec = Executor {
        overlay: Overlay::new(store, txs.len()),
        params: None,
        ctx: *ctx,
        day: 0,
    };
    let params = match exec.overlay.get(&StateKey::Params)? {
        Some(StateValue::Params(p)) => p,
        Some(_) => {
            return Err(ExecError::WrongValueKind {
                key: StateKey::Params,
            })
        }
        None => return Err(ExecError::NoParams),
    };
    exec.params = Some(params);
    exec.day = exec.params().day_of(ctx.timestamp.0);

    let mut receipts = Vec::with_capacity(txs.len());
    for (i, stx) in txs.iter().enumerate() {
        let checked = match signatures {
            SignatureCheck::Verify => None,
            SignatureCheck::Preverified(pre) => Some(Checked {
                hash: pre.hashes[i],
                sender: pre.senders[i],
                valid: pre.valid[i],
            }),
        };
        receipts.push(exec.execute_tx(stx, checked)?);
    }
    Ok(BlockOutcome {
        receipts,
        changes: exec.overlay.into_changes(),
    })
}

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

/// A write-back cache over the store with a journal, so one transaction's
/// writes can be undone when it fails half-way.
struct Overlay<'s, S: ?Sized> {
    store: &'s S,
    /// A hash map for speed; its iteration order never reaches the state:
    /// the changes are sorted before they leave ([`Overlay::into_changes`]).
    /// The hasher is seeded per process, so transfer ids chosen to collide
    /// cannot slow execution down.
    cache: HashMap<StateKey, Slot, foldhash::fast::RandomState>,
    journal: Vec<(StateKey, Option<Slot>)>,
}

#[derive(Clone)]
struct Slot {
    value: Option<StateValue>,
    dirty: bool,
}

impl<'s, S: StateStore + ?Sized> Overlay<'s, S> {
    /// Sized for a block of `txs` transactions (a transfer touches about
    /// six entries), so the map does not rehash while the block runs.
    fn new(store: &'s S, txs: usize) -> Self {
        Overlay {
            store,
            cache: HashMap::with_capacity_and_hasher(
                txs.saturating_mul(6).min(1 << 20),
                foldhash::fast::RandomState::default(),
            ),
            journal: Vec::new(),
        }
    }

    fn get(&mut self, key: &StateKey) -> Result<Option<StateValue>, StoreError> {
        if let Some(slot) = self.cache.get(key) {
            return Ok(slot.value.clone());
        }
        let value = crate::store::read_value(self.store, key)?;
        self.cache.insert(
            *key,
            Slot {
                value: value.clone(),
                dirty: false,
            },
        );
        Ok(value)
    }

    fn put(&mut self, key: StateKey, value: Option<StateValue>) {
        let old = self.cache.insert(key, Slot { value, dirty: true });
        self.journal.push((key, old));
    }

    fn rollback(&mut self, mark: usize) {
        while self.journal.len() > mark {
            let (key, old) = self.journal.pop().expect("journal length checked above");
            match old {
                Some(slot) => self.cache.insert(key, slot),
                None => self.cache.remove(&key),
            };
        }
    }

    fn release(&mut self) {
        self.journal.clear();
    }

    fn into_changes(self) -> Vec<(StateKey, Option<StateValue>)> {
        let mut entries: Vec<(StateKey, Option<StateValue>)> = self
            .cache
            .into_iter()
            .filter(|(_, slot)| slot.dirty)
            .map(|(k, slot)| (k, slot.value))
            .collect();
        // Sort small (key, index) pairs rather than the large entries, then
        // move each entry once. Keys are unique, so the order is total.
        let mut order: Vec<(StateKey, usize)> = entries
            .iter()
            .enumerate()
            .map(|(i, (k, _))| (*k, i))
            .collect();
        order.sort_unstable();
        order
            .into_iter()
            .map(|(key, i)| (key, entries[i].1.take()))
            .collect()
    }
}

struct Executor<'s, S: ?Sized> {
    overlay: Overlay<'s, S>,
    params: Option<Params>,
    ctx: BlockContext,
    day: i64,
}

type TxResult = Result<Vec<Effect>, FailureReason>;

/// One transaction's entry of [`Preverified`].
#[derive(Clone, Copy)]
struct Checked {
    hash: Hash,
    sender: Address,
    valid: bool,
}

impl<S: StateStore + ?Sized> Executor<'_, S> {
    fn params(&self) -> &Params {
        self.params
            .as_ref()
            .expect("params are loaded before execution")
    }

    fn execute_tx(
        &mut self,
        stx: &SignedTransaction,
        checked: Option<Checked>,
    ) -> Result<Receipt, ExecError> {
        let (tx_hash, sig_ok) = match checked {
            Some(c) => (c.hash, Some(c.valid)),
            None => (stx.hash(), None),
        };
        let receipt = |outcome| Receipt { tx_hash, outcome };
        let fail = |reason| receipt(Outcome::Failed { reason });

        // Checks that leave no trace: the transaction may not be the
        // sender's, or may be for another chain or another time.
        if stx.tx.check_bounds().is_err() {
            return Ok(fail(FailureReason::OutOfBounds));
        }
        if stx.tx.chain_id != self.ctx.chain_id {
            return Ok(fail(FailureReason::WrongChain {
                expected: self.ctx.chain_id,
                got: stx.tx.chain_id,
            }));
        }
        let sig_ok = sig_ok.unwrap_or_else(|| stx.verify_signatures_with(&tx_hash).is_ok());
        if !sig_ok {
            return Ok(fail(FailureReason::BadSignature));
        }
        let sender = match checked {
            Some(c) => c.sender,
            None => stx.tx.sender_address(),
        };
        let Some(mut account) = self.account(&sender)? else {
            return Ok(fail(FailureReason::UnknownSender { account: sender }));
        };
        if account.sequence != stx.tx.sequence {
            return Ok(fail(FailureReason::BadSequence {
                expected: account.sequence,
                got: stx.tx.sequence,
            }));
        }
        let expired = match stx.tx.expiry {
            Expiry::Height(h) => self.ctx.height > h,
            Expiry::Time(t) => self.ctx.timestamp > t,
        };
        if expired {
            return Ok(fail(FailureReason::Expired {
                expiry: stx.tx.expiry,
                height: self.ctx.height,
                timestamp: self.ctx.timestamp,
            }));
        }

        // From here on the sequence number is consumed, whatever happens.
        // The last sequence number can never be used: consuming it would
        // leave nothing to move on to, and the transaction could replay.
        let Some(next) = account.sequence.0.checked_add(1) else {
            return Ok(fail(FailureReason::BadSequence {
                expected: account.sequence,
                got: stx.tx.sequence,
            }));
        };
        account.sequence = Nonce(next);
        self.put_account(sender, account);
        self.overlay.release();

        // A frozen account can do nothing at all: not pay, not mint or burn,
        // not open, freeze or unfreeze accounts (so not lift its own freeze).
        if let Some(freeze) = account.frozen {
            return Ok(fail(FailureReason::SenderFrozen { freeze }));
        }
        let result = self.apply_kind(stx, &tx_hash, sender, &account)?;
        let outcome = match result {
            Ok(effects) => Outcome::Success { effects },
            Err(reason) => {
                self.overlay.rollback(0);
                Outcome::Failed { reason }
            }
        };
        self.overlay.release();
        Ok(receipt(outcome))
    }

    /// Applies the transaction's kind. The outer `Result` is a store
    /// failure; the inner one is the ledger's verdict. On an inner `Err` the
    /// caller rolls back every write made here.
    fn apply_kind(
        &mut self,
        stx: &SignedTransaction,
        tx_hash: &Hash,
        sender: Address,
        account: &Account,
    ) -> Result<TxResult, ExecError> {
        let verdict = match &stx.tx.kind {
            TxKind::Transfer {
                to,
                asset,
                amount,
                transfer_id,
            } => {
                let payouts = [Payout {
                    to: *to,
                    amount: *amount,
                }];
                self.transfer(
                    stx,
                    tx_hash,
                    sender,
                    account,
                    *asset,
                    &payouts,
                    *transfer_id,
                )?
            }
            TxKind::BatchTransfer {
                asset,
                payouts,
                transfer_id,
            } => self.transfer(stx, tx_hash, sender, account, *asset, payouts, *transfer_id)?,
            TxKind::OpenAccount {
                owner,
                tier,
                identity_commitment,
            } => {
                if account.kind != AccountKind::Institution {
                    return Ok(Err(FailureReason::Unauthorised));
                }
                if self.params().tier(*tier).is_none() {
                    return Ok(Err(FailureReason::UnknownTier { tier: *tier }));
                }
                if owner.check_strong().is_err() {
                    return Ok(Err(FailureReason::WeakKey));
                }
                let address = Address::of(owner);
                if self.account(&address)?.is_some() {
                    return Ok(Err(FailureReason::AccountExists { account: address }));
                }
                self.put_account(
                    address,
                    Account {
                        owner: *owner,
                        kind: AccountKind::Customer {
                            tier: *tier,
                            identity_commitment: *identity_commitment,
                        },
                        institution: sender,
                        sequence: Nonce(0),
                        frozen: None,
                    },
                );
                Ok(vec![Effect::AccountOpened {
                    account: address,
                    institution: sender,
                    tier: *tier,
                }])
            }
            TxKind::SetTier {
                account: target,
                tier,
            } => {
                let Some(mut acct) = self.account(target)? else {
                    return Ok(Err(FailureReason::UnknownAccount { account: *target }));
                };
                let AccountKind::Customer {
                    identity_commitment,
                    ..
                } = acct.kind
                else {
                    return Ok(Err(FailureReason::Unauthorised));
                };
                if account.kind != AccountKind::Institution || acct.institution != sender {
                    return Ok(Err(FailureReason::Unauthorised));
                }
                if self.params().tier(*tier).is_none() {
                    return Ok(Err(FailureReason::UnknownTier { tier: *tier }));
                }
                acct.kind = AccountKind::Customer {
                    tier: *tier,
                    identity_commitment,
                };
                self.put_account(*target, acct);
                Ok(vec![Effect::TierSet {
                    account: *target,
                    tier: *tier,
                }])
            }
            TxKind::Freeze {
                account: target,
                reason,
            } => {
                let target_account = if *target == sender {
                    Some(*account)
                } else {
                    self.account(target)?
                };
                let Some(mut acct) = target_account else {
                    return Ok(Err(FailureReason::UnknownAccount { account: *target }));
                };
                let allowed = match account.kind {
                    AccountKind::Regulator => true,
                    AccountKind::Institution => acct.institution == sender,
                    AccountKind::Customer { .. } => false,
                };
                if !allowed {
                    return Ok(Err(FailureReason::Unauthorised));
                }
                // A regulator's freeze takes over an institution's, so the
                // institution can no longer lift it; any other second
                // freeze is refused.
                if let Some(freeze) = acct.frozen {
                    let takes_over =
                        account.kind == AccountKind::Regulator && !self.is_regulator(&freeze.by)?;
                    if !takes_over {
                        return Ok(Err(FailureReason::AlreadyFrozen { freeze }));
                    }
                }
                let freeze = Freeze {
                    reason: *reason,
                    by: sender,
                };
                acct.frozen = Some(freeze);
                self.put_account(*target, acct);
                Ok(vec![Effect::Frozen {
                    account: *target,
                    freeze,
                }])
            }
            TxKind::Unfreeze { account: target } => {
                let Some(mut acct) = self.account(target)? else {
                    return Ok(Err(FailureReason::UnknownAccount { account: *target }));
                };
                let Some(freeze) = acct.frozen else {
                    return Ok(Err(FailureReason::NotFrozen));
                };
                let allowed = match account.kind {
                    AccountKind::Regulator => true,
                    AccountKind::Institution => {
                        acct.institution == sender && !self.is_regulator(&freeze.by)?
                    }
                    AccountKind::Customer { .. } => false,
                };
                if !allowed {
                    return Ok(Err(FailureReason::Unauthorised));
                }
                acct.frozen = None;
                self.put_account(*target, acct);
                Ok(vec![Effect::Unfrozen { account: *target }])
            }
            TxKind::Mint { to, asset, amount } => {
                let Some(mut info) = self.asset(asset)? else {
                    return Ok(Err(FailureReason::UnknownAsset { asset: *asset }));
                };
                if info.issuer != sender {
                    return Ok(Err(FailureReason::Unauthorised));
                }
                if amount.0 == 0 {
                    return Ok(Err(FailureReason::ZeroAmount));
                }
                let recipient = if *to == sender {
                    Some(*account)
                } else {
                    self.account(to)?
                };
                let Some(recipient) = recipient else {
                    return Ok(Err(FailureReason::UnknownAccount { account: *to }));
                };
                if let Some(freeze) = recipient.frozen {
                    return Ok(Err(FailureReason::RecipientFrozen {
                        account: *to,
                        freeze,
                    }));
                }
                let Some(supply) = info.total_supply.checked_add(*amount) else {
                    return Ok(Err(FailureReason::Overflow { asset: *asset }));
                };
                // Every balance is at most the supply, so this cannot
                // overflow once the supply did not.
                let balance = self.balance(to, asset)?;
                let new_balance = balance
                    .checked_add(*amount)
                    .ok_or(FailureReason::Overflow { asset: *asset });
                let new_balance = match new_balance {
                    Ok(b) => b,
                    Err(e) => return Ok(Err(e)),
                };
                self.put_balance(*to, *asset, new_balance);
                info.total_supply = supply;
                self.overlay
                    .put(StateKey::Asset(*asset), Some(StateValue::Asset(info)));
                Ok(vec![
                    Effect::Credit {
                        account: *to,
                        asset: *asset,
                        amount: *amount,
                    },
                    Effect::SupplyChanged {
                        asset: *asset,
                        total_supply: supply,
                    },
                ])
            }
            TxKind::Burn { asset, amount } => {
                let Some(mut info) = self.asset(asset)? else {
                    return Ok(Err(FailureReason::UnknownAsset { asset: *asset }));
                };
                if info.issuer != sender {
                    return Ok(Err(FailureReason::Unauthorised));
                }
                if amount.0 == 0 {
                    return Ok(Err(FailureReason::ZeroAmount));
                }
                let balance = self.balance(&sender, asset)?;
                let Some(new_balance) = balance.checked_sub(*amount) else {
                    return Ok(Err(FailureReason::InsufficientBalance {
                        asset: *asset,
                        available: balance,
                        required: *amount,
                    }));
                };
                // The issuer's balance is part of the supply, so the supply
                // is at least the amount.
                let supply = info
                    .total_supply
                    .checked_sub(*amount)
                    .expect("invariant: total supply covers every balance");
                self.put_balance(sender, *asset, new_balance);
                info.total_supply = supply;
                self.overlay
                    .put(StateKey::Asset(*asset), Some(StateValue::Asset(info)));
                Ok(vec![
                    Effect::Debit {
                        account: sender,
                        asset: *asset,
                        amount: *amount,
                    },
                    Effect::SupplyChanged {
                        asset: *asset,
                        total_supply: supply,
                    },
                ])
            }
        };
        Ok(verdict)
    }

    /// `Transfer` and `BatchTransfer`: one sender, one asset, one or more
    /// payouts, all or nothing.
    #[allow(clippy::too_many_arguments)]
    fn transfer(
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
        let mut daily = None;
        if let AccountKind::Customer { tier, .. } = account.kind {
            if let Err(reason) =
                self.check_limits(stx, sender, account, tier, asset, total, &mut daily)?
            {
                return Ok(Err(reason));
            }
        }

        let available = self.balance(&sender, &asset)?;
        let Some(remaining) = available.checked_sub(total) else {
            return Ok(Err(FailureReason::InsufficientBalance {
                asset,
                available,
                required: total,
            }));
        };
        self.put_balance(sender, asset, remaining);

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
            self.put_balance(p.to, asset, new_balance);
            effects.push(Effect::Credit {
                account: p.to,
                asset,
                amount: p.amount,
            });
        }
        if let Some(outflow) = daily {
            self.overlay.put(
                StateKey::DailyOutflow(sender, asset),
                Some(StateValue::DailyOutflow(outflow)),
            );
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
    /// threshold and the daily outflow limit. On success, `daily` holds the
    /// new outflow.
    #[allow(clippy::too_many_arguments)]
    fn check_limits(
        &mut self,
        stx: &SignedTransaction,
        sender: Address,
        account: &Account,
        tier: Tier,
        asset: AssetCode,
        total: Amount,
        daily: &mut Option<DailyOutflow>,
    ) -> Result<Result<(), FailureReason>, ExecError> {
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
                let cosigned = stx
                    .tx
                    .cosigner
                    .is_some_and(|key| Address::of(&key) == account.institution);
                if !cosigned {
                    return Ok(Err(FailureReason::StepUpRequired {
                        threshold,
                        amount: total,
                        institution: account.institution,
                    }));
                }
            }
        }
        let key = StateKey::DailyOutflow(sender, asset);
        // A record from a later day than this block's can only come from a
        // block timestamp that went backwards (consensus must not allow it);
        // its spending still counts, so going back in time resets nothing.
        let (day, spent_today) = match self.overlay.get(&key)? {
            Some(StateValue::DailyOutflow(o)) if o.day >= self.day => (o.day, o.spent),
            Some(StateValue::DailyOutflow(_)) | None => (self.day, Amount::ZERO),
            Some(_) => return Err(ExecError::WrongValueKind { key }),
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
        *daily = Some(DailyOutflow { day, spent });
        Ok(Ok(()))
    }

    fn account(&mut self, address: &Address) -> Result<Option<Account>, ExecError> {
        let key = StateKey::Account(*address);
        match self.overlay.get(&key)? {
            None => Ok(None),
            Some(StateValue::Account(a)) => Ok(Some(a)),
            Some(_) => Err(ExecError::WrongValueKind { key }),
        }
    }

    fn is_regulator(&mut self, address: &Address) -> Result<bool, ExecError> {
        Ok(matches!(
            self.account(address)?,
            Some(Account {
                kind: AccountKind::Regulator,
                ..
            })
        ))
    }

    fn put_account(&mut self, address: Address, account: Account) {
        self.overlay.put(
            StateKey::Account(address),
            Some(StateValue::Account(account)),
        );
    }

    fn asset(&mut self, code: &AssetCode) -> Result<Option<AssetInfo>, ExecError> {
        let key = StateKey::Asset(*code);
        match self.overlay.get(&key)? {
            None => Ok(None),
            Some(StateValue::Asset(a)) => Ok(Some(a)),
            Some(_) => Err(ExecError::WrongValueKind { key }),
        }
    }

    fn balance(&mut self, address: &Address, asset: &AssetCode) -> Result<Amount, ExecError> {
        let key = StateKey::Balance(*address, *asset);
        match self.overlay.get(&key)? {
            None => Ok(Amount::ZERO),
            Some(StateValue::Balance(b)) => Ok(b),
            Some(_) => Err(ExecError::WrongValueKind { key }),
        }
    }

    /// A balance entry, once created, stays, at zero too: the ledger never
    /// deletes state, which keeps every commit on the state tree's batch
    /// path (see [`crate::store::prepare_commit`]).
    fn put_balance(&mut self, address: Address, asset: AssetCode, amount: Amount) {
        self.overlay.put(
            StateKey::Balance(address, asset),
            Some(StateValue::Balance(amount)),
        );
    }
}

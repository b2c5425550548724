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
//! - `Propose`, `Vote`, `Withdraw`: voters (see [`crate::governance`]);
//!   `AnchorAuditLog`: a regulator.
//! - `Hold`: the payer (or its device key); `Capture`: the payee or the
//!   payer (or the payer's device key); `Void`: the payee;
//!   `FreezeAmount`, `ReleaseFreeze`, `SetAccountState`: the account's
//!   institution or a regulator; `RegisterDevice`, `RevokeDevice`: the
//!   account's owner (see [`crate::hold`]).
//! - `Linked`: the sender, each leg under its own kind's rule; `Pvp`: the
//!   payer, with an FX provider's signed quote (see [`crate::exchange`]).
//! - `GrantMandate`, `RevokeMandate`: the account's owner; `MandatePay`:
//!   the mandate's grantee (see [`crate::mandate`]).
//!
//! The order of checks is part of the protocol, since it decides which
//! reason a receipt gives; it is the order of the code below and in
//! `transfer.rs`.

use crate::crypto::Hash;
use crate::overlay::Overlay;
use crate::receipt::{Effect, FailureReason, Outcome, Receipt};
use crate::state::{
    Account, AccountKind, AssetInfo, Freeze, Holding, Params, StateKey, StateValue,
};
use crate::store::{StateStore, StoreError};
use crate::tx::{Expiry, Payout, SignedTransaction, TxKind};
use crate::types::{Address, Amount, AssetCode, ChainId, Height, Nonce, TimestampMs};

/// What the block header tells execution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockContext {
    pub chain_id: ChainId,
    pub height: Height,
    /// The block's agreed timestamp: the only notion of time the ledger has.
    pub timestamp: TimestampMs,
    /// The height whose execution result this block's payload claims
    /// (and so, once the block is committed, certifies): a validator-set
    /// change waits for the first block that certifies its height
    /// (see [`crate::governance`]).
    pub certified: Height,
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
    #[error("state has no consortium entry: was genesis applied?")]
    NoConsortium,
    #[error("state entry {key:?} holds a value of the wrong kind")]
    WrongValueKind { key: StateKey },
    #[error("{got} signature verdicts for {txs} transactions")]
    VerdictCount { got: usize, txs: usize },
    #[error("the clearing record of cycle {cycle} does not net to zero")]
    Unbalanced { cycle: u64 },
    #[error("the recovery statement cannot apply at height {height}: {error}")]
    Recovery {
        height: u64,
        error: crate::recovery::RecoveryError,
    },
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
    execute_block_with(store, ctx, txs, signatures, None)
}

/// [`execute_block`], for the first block after a recovery: the plan's
/// consortium record (see [`crate::recovery`]) is put in force before the
/// block's transactions, so they already run under the new epoch. `store`
/// holds the state at the plan's height, and `ctx.height` follows it.
pub fn execute_block_with<S: StateStore + ?Sized>(
    store: &S,
    ctx: &BlockContext,
    txs: &[SignedTransaction],
    signatures: SignatureCheck<'_>,
    recovery: Option<&crate::recovery::RecoveryPlan>,
) -> Result<BlockOutcome, ExecError> {
    if let SignatureCheck::Preverified(pre) = signatures {
        if !pre.len_matches(txs.len()) {
            return Err(ExecError::VerdictCount {
                got: pre.valid.len(),
                txs: txs.len(),
            });
        }
    }
    let mut overlay = Overlay::new(store, txs.len());
    if let Some(plan) = recovery {
        let recovery_error = |error| ExecError::Recovery {
            height: ctx.height.0,
            error,
        };
        if plan.height.0.checked_add(1) != Some(ctx.height.0) {
            return Err(recovery_error(crate::recovery::RecoveryError::Malformed(
                format!("it names height {}", plan.height.0),
            )));
        }
        let consortium = crate::recovery::recovered(store, plan).map_err(recovery_error)?;
        overlay.put(
            StateKey::Consortium,
            Some(StateValue::Consortium(consortium)),
        );
    }
    let params = match overlay.get(&StateKey::Params)? {
        Some(StateValue::Params(p)) => p,
        Some(_) => {
            return Err(ExecError::WrongValueKind {
                key: StateKey::Params,
            })
        }
        None => return Err(ExecError::NoParams),
    };
    let mut exec = Executor {
        overlay,
        day: params.day_of(ctx.timestamp.0),
        params,
        ctx: *ctx,
        flows: crate::clearing::Flows::default(),
        expiring_pending: crate::hold::Pending::default(),
        failed_leg: None,
    };
    exec.prune_transfer_ids()?;
    exec.apply_expiries()?;
    exec.close_cycle()?;
    exec.overlay.release();

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
    exec.flush_flows()?;
    exec.flush_expiring()?;
    exec.start_pending_epoch()?;
    let mut changes = exec.overlay.into_changes();
    crate::transfer::add_transfer_block(&mut changes, ctx);
    Ok(BlockOutcome { receipts, changes })
}

pub(crate) struct Executor<'s, S: ?Sized> {
    pub(crate) overlay: Overlay<'s, S>,
    pub(crate) params: Params,
    pub(crate) ctx: BlockContext,
    pub(crate) day: i64,
    /// Movements between institutions (see [`crate::clearing`]).
    pub(crate) flows: crate::clearing::Flows,
    /// Expiries listed by the block's transactions (see [`crate::hold`]).
    pub(crate) expiring_pending: crate::hold::Pending,
    /// The leg of a linked transaction or a payment versus payment that
    /// failed (see [`crate::exchange`]), taken by the receipt.
    pub(crate) failed_leg: Option<u8>,
}

pub(crate) type TxResult = Result<Vec<Effect>, FailureReason>;

/// One transaction's entry of [`Preverified`].
#[derive(Clone, Copy)]
struct Checked {
    hash: Hash,
    sender: Address,
    valid: bool,
}

impl<S: StateStore + ?Sized> Executor<'_, S> {
    pub(crate) fn params(&self) -> &Params {
        &self.params
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
        let key_address = match checked {
            Some(c) => c.sender,
            None => stx.tx.sender_address(),
        };
        let (sender, mut account, mut device) = match self.signer(&key_address)? {
            Ok(found) => found,
            Err(reason) => return Ok(fail(reason)),
        };
        // The account's current key only: a rotated key no longer signs.
        // A device key signs with its own sequence (see `crate::hold`).
        if device.is_none() && account.owner != stx.tx.sender {
            return Ok(fail(FailureReason::RetiredKey { account: sender }));
        }
        let sequence = device.as_ref().map_or(account.sequence, |d| d.sequence);
        if sequence != stx.tx.sequence {
            return Ok(fail(FailureReason::BadSequence {
                expected: sequence,
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
        let Some(next) = sequence.0.checked_add(1) else {
            return Ok(fail(FailureReason::BadSequence {
                expected: sequence,
                got: stx.tx.sequence,
            }));
        };
        match device.as_mut() {
            Some(d) => {
                d.sequence = Nonce(next);
                self.put_device(&key_address, d.clone());
            }
            None => {
                account.sequence = Nonce(next);
                self.put_account(sender, account);
            }
        }
        self.overlay.release();

        // A device key signs holds and captures only.
        if device.is_some() && !matches!(stx.tx.kind, TxKind::Hold { .. } | TxKind::Capture { .. })
        {
            return Ok(fail(FailureReason::Unauthorised));
        }
        // A frozen account can do nothing at all: not pay, not mint or burn,
        // not open, freeze or unfreeze accounts (so not lift its own freeze).
        // It may only void a hold it is the payee of, which gives money
        // back.
        if let Some(freeze) = account.frozen {
            if !matches!(stx.tx.kind, TxKind::Void { .. }) {
                return Ok(fail(FailureReason::SenderFrozen { freeze }));
            }
        }
        // On a chain with an identity service a memo is sealed to its
        // readers (see `crate::blacklist`).
        if !stx.tx.memo.is_empty()
            && self.params().identity.is_some()
            && !crate::blacklist::is_sealed_memo(&stx.tx.memo)
        {
            return Ok(fail(FailureReason::MemoNotSealed));
        }
        let signer = device.map(|d| (key_address, d));
        let result = self.apply_kind(stx, &tx_hash, sender, &account, signer)?;
        self.flows.end_tx(result.is_ok());
        self.expiring_pending.end_tx(result.is_ok());
        let failed_leg = self.failed_leg.take();
        let outcome = match result {
            Ok(effects) => Outcome::Success { effects },
            Err(reason) => {
                self.overlay.rollback(0);
                match failed_leg {
                    Some(leg) => Outcome::LegFailed { leg, reason },
                    None => Outcome::Failed { reason },
                }
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
        device: Option<(Address, crate::hold::Device)>,
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
                    stx.tx.cosigner,
                    tx_hash,
                    sender,
                    account,
                    *asset,
                    &payouts,
                    *transfer_id,
                    true,
                )?
            }
            TxKind::BatchTransfer {
                asset,
                payouts,
                transfer_id,
            } => self.transfer(
                stx.tx.cosigner,
                tx_hash,
                sender,
                account,
                *asset,
                payouts,
                *transfer_id,
                false,
            )?,
            TxKind::OpenAccount {
                owner,
                tier,
                identity_commitment,
                identity_envelope,
            } => {
                if account.kind != AccountKind::Institution {
                    return Ok(Err(FailureReason::Unauthorised));
                }
                // The envelope's length is checked with the transaction's
                // bounds; whether one is due is the chain's rule.
                let required = self.params().identity.is_some();
                if required == identity_envelope.is_empty()
                    || (required && *identity_commitment == Hash::ZERO)
                {
                    return Ok(Err(FailureReason::IdentityEnvelope { required }));
                }
                if self.params().tier(*tier).is_none() {
                    return Ok(Err(FailureReason::UnknownTier { tier: *tier }));
                }
                if owner.check_strong().is_err() {
                    return Ok(Err(FailureReason::WeakKey));
                }
                let address = Address::of(owner);
                // A rotated institution key's or a device key's address is
                // taken too: an account there would capture what that key
                // signs.
                if self.account(&address)?.is_some()
                    || self.overlay.get(&StateKey::KeyAlias(address))?.is_some()
                    || self.device(&address)?.is_some()
                {
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
                        restriction: None,
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
                    AccountKind::Customer { .. } | AccountKind::Retired => false,
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
                    AccountKind::Customer { .. } | AccountKind::Retired => false,
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
                if info.issuer != sender || account.kind != AccountKind::Institution {
                    return Ok(Err(FailureReason::Unauthorised));
                }
                if amount.0 == 0 {
                    return Ok(Err(FailureReason::ZeroAmount));
                }
                if let Err(reason) = self.receiving_account(to)? {
                    return Ok(Err(reason));
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
                self.put_balance(*to, *asset, new_balance)?;
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
                if info.issuer != sender || account.kind != AccountKind::Institution {
                    return Ok(Err(FailureReason::Unauthorised));
                }
                if amount.0 == 0 {
                    return Ok(Err(FailureReason::ZeroAmount));
                }
                let holding = self.holding(&sender, asset)?;
                let available = holding.available();
                if available < *amount {
                    return Ok(Err(FailureReason::InsufficientBalance {
                        asset: *asset,
                        available,
                        required: *amount,
                    }));
                }
                let new_balance = Amount(holding.balance.0 - amount.0);
                // The issuer's balance is part of the supply, so the supply
                // is at least the amount.
                let supply = info
                    .total_supply
                    .checked_sub(*amount)
                    .expect("invariant: total supply covers every balance");
                self.put_balance(sender, *asset, new_balance)?;
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
            TxKind::Propose {
                actions,
                voting_period_ms,
            } => self.propose(sender, actions, *voting_period_ms)?,
            TxKind::Vote { proposal, approve } => self.vote(sender, *proposal, *approve)?,
            TxKind::Withdraw { proposal } => self.withdraw(sender, *proposal)?,
            TxKind::AnchorAuditLog { .. } => match account.kind {
                AccountKind::Regulator => Ok(Vec::new()),
                _ => Err(FailureReason::Unauthorised),
            },
            TxKind::Hold {
                to,
                asset,
                amount,
                hold_id,
                expires_at,
            } => {
                if let Some((key_address, device)) = device {
                    if let Err(reason) =
                        self.charge_device(key_address, device, *to, *asset, *amount)
                    {
                        return Ok(Err(reason));
                    }
                }
                self.hold(
                    stx.tx.cosigner,
                    tx_hash,
                    sender,
                    account,
                    *to,
                    *asset,
                    *amount,
                    *hold_id,
                    *expires_at,
                )?
            }
            TxKind::Capture {
                payer,
                hold_id,
                amount,
            } => self.resolve_hold(tx_hash, sender, *payer, *hold_id, Some(*amount))?,
            TxKind::Void { payer, hold_id } => {
                self.resolve_hold(tx_hash, sender, *payer, *hold_id, None)?
            }
            TxKind::FreezeAmount {
                account: target,
                asset,
                amount,
                freeze_id,
                reason,
                reference,
                expires_at,
            } => self.freeze_amount(
                sender,
                account,
                *target,
                *asset,
                *amount,
                *freeze_id,
                *reason,
                reference,
                *expires_at,
            )?,
            TxKind::ReleaseFreeze {
                account: target,
                freeze_id,
            } => self.release_freeze(sender, account, *target, *freeze_id)?,
            TxKind::SetAccountState {
                account: target,
                state,
                reason,
                expires_at,
                ..
            } => self.set_account_state(sender, account, *target, *state, *reason, *expires_at)?,
            TxKind::RegisterDevice {
                key,
                asset,
                max_per_hold,
                daily_max,
                payees,
            } => self.register_device(sender, key, *asset, *max_per_hold, *daily_max, payees)?,
            TxKind::RevokeDevice { key } => self.revoke_device(sender, key)?,
            TxKind::Linked { legs } => {
                self.linked(stx.tx.cosigner, tx_hash, sender, account, legs)?
            }
            TxKind::Pvp {
                quote,
                quote_signature,
                pay,
                min_receive,
                to,
                transfer_id,
            } => self.pvp(
                stx.tx.cosigner,
                tx_hash,
                sender,
                account,
                quote,
                quote_signature,
                *pay,
                *min_receive,
                *to,
                *transfer_id,
            )?,
            TxKind::GrantMandate {
                mandate_id,
                grantee,
                scope,
                asset,
                payees,
                per_payment,
                per_period,
                period_seconds,
                start,
                end,
            } => self.grant_mandate(
                sender,
                *mandate_id,
                *grantee,
                *scope,
                *asset,
                payees,
                *per_payment,
                *per_period,
                *period_seconds,
                *start,
                *end,
            )?,
            TxKind::RevokeMandate { mandate_id } => self.revoke_mandate(sender, *mandate_id)?,
            TxKind::MandatePay {
                payer,
                mandate_id,
                to,
                asset,
                amount,
                transfer_id,
            } => self.mandate_pay(
                stx.tx.cosigner,
                tx_hash,
                sender,
                *payer,
                *mandate_id,
                *to,
                *asset,
                *amount,
                *transfer_id,
            )?,
            TxKind::ListIdentity {
                listing_key,
                reason,
                reference,
            } => self.list_identity(sender, account, listing_key, *reason, reference)?,
            TxKind::DelistIdentity { listing_key } => {
                self.delist_identity(sender, account, listing_key)?
            }
            TxKind::SetMemoKey { key } => self.set_memo_key(sender, account, key)?,
        };
        Ok(verdict)
    }

    pub(crate) fn account(&mut self, address: &Address) -> Result<Option<Account>, ExecError> {
        let key = StateKey::Account(*address);
        match self.overlay.get(&key)? {
            None => Ok(None),
            Some(StateValue::Account(a)) => Ok(Some(a)),
            Some(_) => Err(ExecError::WrongValueKind { key }),
        }
    }

    /// The account a key signs for, and the device entry when the key is
    /// a device key (see [`crate::hold`]).
    #[allow(clippy::type_complexity)]
    fn signer(
        &mut self,
        key_address: &Address,
    ) -> Result<Result<(Address, Account, Option<crate::hold::Device>), FailureReason>, ExecError>
    {
        match self.signer_account(key_address)? {
            Ok((address, account)) => Ok(Ok((address, account, None))),
            Err(reason) => match self.device(key_address)? {
                Some(device) => match self.account(&device.account)? {
                    Some(account) => Ok(Ok((device.account, account, Some(device)))),
                    None => Ok(Err(reason)),
                },
                None => Ok(Err(reason)),
            },
        }
    }

    /// The account a key signs for: the one at the key's address, or, for
    /// a rotated institution key, the account its alias points to.
    fn signer_account(
        &mut self,
        key_address: &Address,
    ) -> Result<Result<(Address, Account), FailureReason>, ExecError> {
        if let Some(account) = self.account(key_address)? {
            return Ok(Ok((*key_address, account)));
        }
        let key = StateKey::KeyAlias(*key_address);
        let target = match self.overlay.get(&key)? {
            None => {
                return Ok(Err(FailureReason::UnknownSender {
                    account: *key_address,
                }))
            }
            Some(StateValue::KeyAlias(target)) => target,
            Some(_) => return Err(ExecError::WrongValueKind { key }),
        };
        match self.account(&target)? {
            Some(account) => Ok(Ok((target, account))),
            None => Ok(Err(FailureReason::UnknownSender { account: target })),
        }
    }

    pub(crate) fn is_regulator(&mut self, address: &Address) -> Result<bool, ExecError> {
        Ok(matches!(
            self.account(address)?,
            Some(Account {
                kind: AccountKind::Regulator,
                ..
            })
        ))
    }

    pub(crate) fn put_account(&mut self, address: Address, account: Account) {
        self.overlay.put(
            StateKey::Account(address),
            Some(StateValue::Account(account)),
        );
    }

    pub(crate) fn asset(&mut self, code: &AssetCode) -> Result<Option<AssetInfo>, ExecError> {
        let key = StateKey::Asset(*code);
        match self.overlay.get(&key)? {
            None => Ok(None),
            Some(StateValue::Asset(a)) => Ok(Some(a)),
            Some(_) => Err(ExecError::WrongValueKind { key }),
        }
    }

    /// An account's holding of an asset; an empty one if it never held it.
    pub(crate) fn holding(
        &mut self,
        address: &Address,
        asset: &AssetCode,
    ) -> Result<Holding, ExecError> {
        let key = StateKey::Balance(*address, *asset);
        match self.overlay.get(&key)? {
            None => Ok(Holding::default()),
            Some(StateValue::Balance(h)) => Ok(h),
            Some(_) => Err(ExecError::WrongValueKind { key }),
        }
    }

    pub(crate) fn balance(
        &mut self,
        address: &Address,
        asset: &AssetCode,
    ) -> Result<Amount, ExecError> {
        Ok(self.holding(address, asset)?.balance)
    }

    /// A holding, once created, stays, at zero too: the ledger never
    /// deletes state, which keeps every commit on the state tree's batch
    /// path (see [`crate::store::prepare_commit`]).
    pub(crate) fn put_holding(&mut self, address: Address, asset: AssetCode, holding: Holding) {
        self.overlay.put(
            StateKey::Balance(address, asset),
            Some(StateValue::Balance(holding)),
        );
    }

    /// Sets a balance, keeping the holding's outflow.
    pub(crate) fn put_balance(
        &mut self,
        address: Address,
        asset: AssetCode,
        amount: Amount,
    ) -> Result<(), ExecError> {
        let holding = self.holding(&address, &asset)?;
        self.put_holding(
            address,
            asset,
            Holding {
                balance: amount,
                ..holding
            },
        );
        Ok(())
    }
}

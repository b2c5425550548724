//! Open-banking mandates: an account's owner lets a third party (another
//! account: a bill-paying app, a budgeting service) pay from the account,
//! or read it through the RPC, within limits it sets.
//!
//! [`TxKind::GrantMandate`](crate::tx::TxKind::GrantMandate), signed by the
//! account's key, grants the mandate `mandate_id` to `grantee` with a scope
//! ([`MandateScope`]: pay, read, or both), one asset, the payees allowed
//! (any when none are listed), an amount per payment and per period (the
//! period's length in seconds, counted from `start`), a start and an end.
//! An account holds at most [`MANDATES_MAX`] mandates; a mandate lasts at
//! most [`MANDATE_LIFETIME_MAX_MS`].
//!
//! The grantee pays with [`TxKind::MandatePay`](crate::tx::TxKind::MandatePay),
//! signed by its own key with its own sequence numbers; the transaction
//! names the payer and the mandate, and its receipt's
//! [`Effect::MandateUsed`] names the mandate too. Checks, in order: the
//! mandate exists (`unknown_mandate`); the signer is its grantee
//! (`unauthorised`); the block is within its start and end
//! (`mandate_inactive`); it may pay, in this asset, to this payee
//! (`mandate_scope`); the amount is within the amount per payment and what
//! is left of the period's (`mandate_limit`); then the payment is the
//! payer's own in every other respect: the payer's transfer id (the
//! transaction's), its freeze (`payer_frozen`), restriction, tier limits
//! and step-up co-signature (by the payer's institution), its available
//! balance, and the payee's ability to receive.
//!
//! The owner revokes a mandate with
//! [`TxKind::RevokeMandate`](crate::tx::TxKind::RevokeMandate): it is gone
//! from the transaction on, so no payment in a later block (nor later in
//! the same block) uses it. At its end a mandate leaves the state by
//! itself (before the first block in a later second than its end), like a
//! hold's expiry. Grants, payments and revocations stay provable through
//! their transactions and receipts.

use borsh::{BorshDeserialize, BorshSerialize};

use crate::crypto::{Hash, PublicKey};
use crate::execute::{ExecError, Executor, TxResult};
use crate::hold::{second_of, Expiring};
use crate::receipt::{Effect, FailureReason};
use crate::state::{Account, StateKey, StateValue};
use crate::store::StateStore;
use crate::tx::Payout;
use crate::types::{Address, Amount, AssetCode, TimestampMs, TransferId};

/// Most mandates one account holds at a time.
pub const MANDATES_MAX: usize = 16;
/// The longest a mandate may last (from the block that grants it to its
/// end): 400 days.
pub const MANDATE_LIFETIME_MAX_MS: u64 = 400 * 24 * 60 * 60 * 1_000;

/// What a mandate allows its grantee.
#[derive(Debug, Clone, Copy, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct MandateScope {
    /// Sign payments from the account.
    pub pay: bool,
    /// Read the account (balances, recent history) through the RPC.
    pub read: bool,
}

impl MandateScope {
    pub fn name(&self) -> &'static str {
        match (self.pay, self.read) {
            (true, true) => "pay+read",
            (true, false) => "pay",
            (false, true) => "read",
            (false, false) => "none",
        }
    }
}

/// A mandate, in its account's list ([`StateKey::Mandates`]).
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Mandate {
    pub id: u64,
    pub grantee: Address,
    pub scope: MandateScope,
    pub asset: AssetCode,
    /// Empty: any payee.
    pub payees: Vec<Address>,
    pub per_payment: Amount,
    pub per_period: Amount,
    pub period_seconds: u32,
    pub start: TimestampMs,
    pub end: TimestampMs,
    /// The period `spent` counts (0 is the one starting at `start`).
    pub period: u64,
    pub spent: Amount,
}

/// Where a mandate payment's transfer id is remembered among the payer's:
/// a digest of (grantee, mandate, the grantee's id), so the grantee's ids
/// never meet the payer's own wallet's (which the grantee could otherwise
/// take first), and a grantee's retry under the same mandate meets its
/// first try (`exists`).
pub fn mandate_transfer_id(
    grantee: &Address,
    mandate_id: u64,
    transfer_id: TransferId,
) -> TransferId {
    let bytes = borsh::to_vec(&(grantee, mandate_id, transfer_id))
        .expect("borsh encoding into a Vec cannot fail");
    let digest = Hash::tagged(crate::crypto::domain::MANDATE_TRANSFER_ID, &bytes);
    let mut high = [0u8; 16];
    high.copy_from_slice(&digest.0[..16]);
    TransferId(u128::from_be_bytes(high))
}

/// What a read mandate's grantee signs to read the account through the
/// RPC (`hutong_readAccount`): `SHA-256("hutong/mandate-read/v1" || 0x00 ||
/// borsh(chain_id) || borsh(account) || borsh(mandate_id) ||
/// borsh(timestamp_ms))`, the timestamp its request time in milliseconds
/// (the node refuses one far from its clock).
pub fn read_request_hash(
    chain_id: crate::types::ChainId,
    account: &Address,
    mandate_id: u64,
    timestamp_ms: u64,
) -> Hash {
    let bytes = borsh::to_vec(&(chain_id, account, mandate_id, timestamp_ms))
        .expect("borsh encoding into a Vec cannot fail");
    Hash::tagged(crate::crypto::domain::MANDATE_READ, &bytes)
}

impl Mandate {
    /// The period a block time falls in (0 before `start`).
    pub fn period_of(&self, now: TimestampMs) -> u64 {
        let length = u64::from(self.period_seconds.max(1)) * 1_000;
        now.0.saturating_sub(self.start.0) / length
    }

    /// What was spent in the period of `now`.
    pub fn spent_at(&self, now: TimestampMs) -> Amount {
        if self.period == self.period_of(now) {
            self.spent
        } else {
            Amount::ZERO
        }
    }

    /// Whether the mandate is in force at `now`.
    pub fn active_at(&self, now: TimestampMs) -> bool {
        self.start <= now && now <= self.end
    }
}

impl<S: StateStore + ?Sized> Executor<'_, S> {
    pub(crate) fn mandates(&mut self, account: &Address) -> Result<Vec<Mandate>, ExecError> {
        let key = StateKey::Mandates(*account);
        match self.overlay.get(&key)? {
            None => Ok(Vec::new()),
            Some(StateValue::Mandates(list)) => Ok(list),
            Some(_) => Err(ExecError::WrongValueKind { key }),
        }
    }

    fn put_mandates(&mut self, account: Address, list: Vec<Mandate>) {
        let value = (!list.is_empty()).then_some(StateValue::Mandates(list));
        self.overlay.put(StateKey::Mandates(account), value);
    }

    /// `GrantMandate`: see the module's documentation.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn grant_mandate(
        &mut self,
        sender: Address,
        mandate_id: u64,
        grantee: Address,
        scope: MandateScope,
        asset: AssetCode,
        payees: &[Address],
        per_payment: Amount,
        per_period: Amount,
        period_seconds: u32,
        start: TimestampMs,
        end: TimestampMs,
    ) -> Result<TxResult, ExecError> {
        if grantee == sender {
            return Ok(Err(FailureReason::SelfTransfer));
        }
        if self.account(&grantee)?.is_none() {
            return Ok(Err(FailureReason::UnknownAccount { account: grantee }));
        }
        if self.asset(&asset)?.is_none() {
            return Ok(Err(FailureReason::UnknownAsset { asset }));
        }
        if !(scope.pay || scope.read) || start >= end || period_seconds == 0 {
            return Ok(Err(FailureReason::BadMandate));
        }
        if scope.pay && (per_payment.0 == 0 || per_period.0 == 0) {
            return Ok(Err(FailureReason::ZeroAmount));
        }
        let now = self.ctx.timestamp;
        let latest = TimestampMs(now.0.saturating_add(MANDATE_LIFETIME_MAX_MS));
        if end < now || end > latest {
            return Ok(Err(FailureReason::BadExpiry {
                earliest: now,
                latest,
            }));
        }
        let mut list = self.mandates(&sender)?;
        let slot = match list.binary_search_by_key(&mandate_id, |m| m.id) {
            Ok(_) => return Ok(Err(FailureReason::MandateExists { mandate_id })),
            Err(slot) => slot,
        };
        if list.len() >= MANDATES_MAX {
            return Ok(Err(FailureReason::TooManyMandates {
                max: MANDATES_MAX as u16,
            }));
        }
        list.insert(
            slot,
            Mandate {
                id: mandate_id,
                grantee,
                scope,
                asset,
                payees: payees.to_vec(),
                per_payment,
                per_period,
                period_seconds,
                start,
                end,
                period: 0,
                spent: Amount::ZERO,
            },
        );
        self.put_mandates(sender, list);
        self.add_expiring(
            end,
            Expiring::Mandate {
                account: sender,
                mandate_id,
            },
        )?;
        Ok(Ok(vec![Effect::MandateGranted {
            account: sender,
            mandate_id,
            grantee,
            end,
        }]))
    }

    /// `RevokeMandate`: by the account's owner.
    pub(crate) fn revoke_mandate(
        &mut self,
        sender: Address,
        mandate_id: u64,
    ) -> Result<TxResult, ExecError> {
        let mut list = self.mandates(&sender)?;
        let Ok(i) = list.binary_search_by_key(&mandate_id, |m| m.id) else {
            return Ok(Err(FailureReason::UnknownMandate {
                payer: sender,
                mandate_id,
            }));
        };
        let ended = list.remove(i);
        self.put_mandates(sender, list);
        Ok(Ok(vec![Effect::MandateRevoked {
            account: sender,
            mandate_id,
            grantee: ended.grantee,
        }]))
    }

    /// A mandate reaches its end (from the expiry lists): it leaves the
    /// state, unless it was revoked, or revoked and granted again with a
    /// later end.
    pub(crate) fn end_mandate(
        &mut self,
        account: Address,
        mandate_id: u64,
        second: u64,
    ) -> Result<(), ExecError> {
        let mut list = self.mandates(&account)?;
        let Ok(i) = list.binary_search_by_key(&mandate_id, |m| m.id) else {
            return Ok(());
        };
        if second_of(list[i].end) != second {
            return Ok(());
        }
        list.remove(i);
        self.put_mandates(account, list);
        Ok(())
    }

    /// `MandatePay`: see the module's documentation.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn mandate_pay(
        &mut self,
        cosigner: Option<PublicKey>,
        tx_hash: &Hash,
        sender: Address,
        payer: Address,
        mandate_id: u64,
        to: Address,
        asset: AssetCode,
        amount: Amount,
        transfer_id: TransferId,
    ) -> Result<TxResult, ExecError> {
        let mut list = self.mandates(&payer)?;
        let Ok(i) = list.binary_search_by_key(&mandate_id, |m| m.id) else {
            return Ok(Err(FailureReason::UnknownMandate { payer, mandate_id }));
        };
        let mandate = &mut list[i];
        if mandate.grantee != sender {
            return Ok(Err(FailureReason::Unauthorised));
        }
        let now = self.ctx.timestamp;
        if !mandate.active_at(now) {
            return Ok(Err(FailureReason::MandateInactive {
                start: mandate.start,
                end: mandate.end,
            }));
        }
        if !mandate.scope.pay
            || mandate.asset != asset
            || (!mandate.payees.is_empty() && !mandate.payees.contains(&to))
        {
            return Ok(Err(FailureReason::MandateScope { mandate_id }));
        }
        if amount > mandate.per_payment {
            return Ok(Err(FailureReason::MandateLimit {
                mandate_id,
                limit: mandate.per_payment,
                spent: Amount::ZERO,
                amount,
            }));
        }
        let spent = mandate.spent_at(now);
        let Some(spent_after) = spent
            .checked_add(amount)
            .filter(|s| *s <= mandate.per_period)
        else {
            return Ok(Err(FailureReason::MandateLimit {
                mandate_id,
                limit: mandate.per_period,
                spent,
                amount,
            }));
        };
        mandate.period = mandate.period_of(now);
        mandate.spent = spent_after;
        let grantee = mandate.grantee;

        let payouts = [Payout { to, amount }];
        let total = match self.payout_total(payer, asset, &payouts)? {
            Ok(total) => total,
            Err(reason) => return Ok(Err(reason)),
        };
        let fields = crate::transfer::transfer_fields(asset, &payouts, true);
        let record_id = mandate_transfer_id(&grantee, mandate_id, transfer_id);
        if let Err(reason) = self.check_transfer_id(payer, record_id, &fields)? {
            return Ok(Err(reason));
        }
        let Some(payer_account): Option<Account> = self.account(&payer)? else {
            return Ok(Err(FailureReason::UnknownAccount { account: payer }));
        };
        let moved =
            match self.move_funds(cosigner, payer, &payer_account, asset, &payouts, total)? {
                Ok(effects) => effects,
                Err(reason) => return Ok(Err(reason)),
            };
        self.put_mandates(payer, list);
        self.record_transfer_id(payer, record_id, tx_hash, fields);
        let mut effects = vec![Effect::MandateUsed {
            payer,
            mandate_id,
            grantee,
            spent_in_period: spent_after,
        }];
        effects.extend(moved);
        Ok(Ok(effects))
    }
}

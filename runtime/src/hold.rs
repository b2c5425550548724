//! Holds (two-phase payments), amount freezes and account restrictions:
//! what reserves part of a balance or limits which way an account's money
//! may move.
//!
//! # Holds
//!
//! A payer signs [`TxKind::Hold`](crate::tx::TxKind::Hold): `amount` of
//! `asset` is reserved for the payee until `expires_at` (block time). The
//! payer's holding keeps its balance, and its `held` grows: what the
//! account may send ([`Holding::available`]) falls. The hold's id is one of
//! the payer's transfer ids: it is remembered for
//! [`TRANSFER_ID_RETENTION_MS`] like a transfer's, and a hold lives one
//! second less ([`HOLD_LIFETIME_MAX_MS`]: it has expired, in the block's
//! first step, before its id is forgotten), so a payee's retried capture
//! can never meet a new hold under an old id. The tier's limits apply when the
//! hold is placed: the per-transfer maximum, the step-up co-signature and
//! the daily outflow, which counts the whole amount held that day and gets
//! back what a capture, a void or an expiry releases on the same day.
//!
//! A hold ends exactly once:
//! - [`TxKind::Capture`](crate::tx::TxKind::Capture), by the payee or the
//!   payer: `amount` (at most the amount held, more than zero) moves from
//!   the payer to the payee, the rest is released;
//! - [`TxKind::Void`](crate::tx::TxKind::Void), by the payee: all of it is
//!   released;
//! - expiry: the first block whose timestamp is in a later second than
//!   `expires_at` releases it, before its transactions, with no
//!   transaction (expiry has a granularity of one second).
//!
//! A second resolution fails with `hold_closed`, naming how the hold
//! ended. A whole-account freeze of the payer or the payee blocks new holds
//! and captures; a void is allowed even from a frozen payee (it only gives
//! money back).
//!
//! An open hold lives in its payer's holding of the asset
//! ([`Holding::holds`], at most [`OPEN_HOLDS_MAX`]; one more is
//! `too_many_holds`): placing and ending it write that entry anyway (its
//! held amount), so a hold costs no entry of its own in the state tree, no
//! tree insertion and no deletion. A capture or void names the payer and
//! the id; the id's transfer record names the asset (and the hold's
//! terms). How a capture or void ended a hold is a transfer record
//! ([`TransferFields::HoldClosed`]) under [`closed_hold_key`], certified
//! by its block's [`StateKey::TransferBlock`] leaf and remembered, like the
//! hold's own id, for [`TRANSFER_ID_RETENTION_MS`]; an expiry writes none
//! (a block may expire any number of holds, and one block's records are one
//! leaf): a hold whose id is remembered, neither open nor ended by a
//! transaction, has expired. [`hold_status`] reads a hold either way. Its transactions and receipts remain provable through history.
//!
//! # Device keys
//!
//! An account's owner may register a device key (an EV, a parking meter)
//! with [`TxKind::RegisterDevice`](crate::tx::TxKind::RegisterDevice): the
//! device signs holds (within its scope: one asset, at most an amount per
//! hold and per day, to listed payees) and captures of the account's holds,
//! never anything else (`unauthorised`). It has its own sequence numbers
//! (from 0), so it never races the owner's wallet; the account's own
//! limits and state apply to its holds too. A hold outside the scope fails
//! with `device_scope`. The owner revokes it with
//! [`TxKind::RevokeDevice`](crate::tx::TxKind::RevokeDevice); a revoked
//! key is an unknown sender.
//!
//! # Amount freezes
//!
//! [`TxKind::FreezeAmount`](crate::tx::TxKind::FreezeAmount) holds part of
//! an account's balance of one asset, with a reason, the authority that
//! placed it (the account's institution or a regulator), the order's
//! reference, and an optional expiry. The amount may exceed the balance:
//! money that arrives later stays held until the balance passes the
//! frozen amount. A regulator's amount freeze is lifted only by a
//! regulator. An account has at most [`AMOUNT_FREEZES_MAX`] at a time.
//!
//! # Account restrictions
//!
//! [`TxKind::SetAccountState`](crate::tx::TxKind::SetAccountState) makes an
//! account receive-only (it may not send, hold or be captured from) or
//! send-only (it may not receive, be minted to or be the payee of a hold),
//! with an optional expiry; the same authorities, and a regulator's
//! restriction is lifted only by a regulator.
//!
//! # Expiry, bounded
//!
//! Everything that expires is listed under the second it expires in
//! ([`StateKey::Expiring`], in chunks of [`EXPIRING_CHUNK`], appended once
//! per block), and that second's minute in the sorted list of
//! minutes with something pending ([`StateKey::ExpiryMinutes`]); a cursor
//! ([`StateKey::ExpiryCursor`]) says how far into the first of them the
//! chain has applied. Each block applies every listed second before its
//! own, at most [`EXPIRY_MINUTES_MAX`] minutes of them (after a halt with
//! more pending, the rest follow over the next blocks; a capture of a hold
//! whose time has passed is refused meanwhile). A chain with nothing
//! pending writes nothing, so an empty block keeps the state root.

use borsh::{BorshDeserialize, BorshSerialize};

use crate::crypto::Hash;
use crate::execute::{ExecError, Executor, TxResult};
use crate::receipt::{Effect, FailureReason};
use crate::state::{
    Account, AccountKind, Freeze, Holding, StateKey, StateValue, TransferFields, TransferRecord,
};
use crate::store::StateStore;
use crate::store::StoreError;
use crate::transfer::{TRANSFER_ID_RETENTION_MS, TRANSFER_PRUNE_EVERY};
use crate::tx::FreezeReason;
use crate::types::{Address, Amount, AssetCode, TimestampMs, TransferId};

/// The longest a hold may last: one second less than its id is
/// remembered, so that the block that forgets the id (pruning runs first)
/// is in a later second than the expiry and releases the hold before any
/// transaction can use the id again.
pub const HOLD_LIFETIME_MAX_MS: u64 = TRANSFER_ID_RETENTION_MS - 1_000;
/// Most open holds one account has on one asset.
pub const OPEN_HOLDS_MAX: usize = 32;
/// Most amount freezes on one account at a time.
pub const AMOUNT_FREEZES_MAX: usize = 16;
/// Most entries in one chunk of a second's expiry list.
pub const EXPIRING_CHUNK: u32 = 256;
/// Most minutes with expiries one block applies, and one pruning removes.
pub const EXPIRY_MINUTES_MAX: usize = 1_440;

/// How a hold stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum HoldState {
    Open,
    /// Captured: `amount` moved to the payee, the rest was released.
    Captured {
        amount: Amount,
    },
    Voided,
    Expired,
}

impl HoldState {
    pub fn name(&self) -> &'static str {
        match self {
            HoldState::Open => "open",
            HoldState::Captured { .. } => "captured",
            HoldState::Voided => "voided",
            HoldState::Expired => "expired",
        }
    }
}

/// An open hold, in its payer's [`Holding::holds`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct OpenHold {
    pub hold_id: TransferId,
    pub payee: Address,
    pub amount: Amount,
    pub expires_at: TimestampMs,
    /// The day whose outflow counted the hold (customers only): what is
    /// released that same day is given back to it.
    pub day: Option<i64>,
    /// The transaction that placed it: with the payer and the id, it names
    /// where its ending is recorded ([`closed_hold_key`]), so that an id
    /// used again a week later never meets the old hold's ending.
    pub placed_by: Hash,
}

/// A hold as readers see it (the RPC's `getHold`, the tests): open, or
/// ended, while its id is remembered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HoldStatus {
    pub payee: Address,
    pub asset: AssetCode,
    pub amount: Amount,
    pub expires_at: TimestampMs,
    pub state: HoldState,
    /// The transaction that placed the hold.
    pub placed_by: Hash,
}

/// Where the ending of the hold `hold_id` of `payer`, placed by
/// `placed_by`, is recorded: a transfer record under an address derived
/// from the three (no key's address: nobody can send from it, so no
/// transfer can take that place), with the hold's id.
pub fn closed_hold_key(payer: &Address, hold_id: TransferId, placed_by: &Hash) -> StateKey {
    let bytes =
        borsh::to_vec(&(payer, hold_id, placed_by)).expect("borsh encoding into a Vec cannot fail");
    let digest = Hash::tagged(crate::crypto::domain::HOLD_CLOSED, &bytes);
    let mut address = [0u8; 20];
    address.copy_from_slice(&digest.0[..20]);
    StateKey::TransferRecord(Address(address), hold_id)
}

/// A hold's status from a store (see [`HoldStatus`]): `None` if it was
/// never placed or its id is forgotten.
pub fn hold_status<S: StateStore + ?Sized>(
    store: &S,
    payer: Address,
    hold_id: TransferId,
) -> Result<Option<HoldStatus>, StoreError> {
    hold_status_with(&mut |key: &StateKey| store.get(key), payer, hold_id)
}

/// [`hold_status`] over any reader of the latest values (a store, or the
/// executor's overlay).
fn hold_status_with<E>(
    get: &mut impl FnMut(&StateKey) -> Result<Option<StateValue>, E>,
    payer: Address,
    hold_id: TransferId,
) -> Result<Option<HoldStatus>, E> {
    let Some(StateValue::TransferRecord(placed)) = get(&StateKey::TransferRecord(payer, hold_id))?
    else {
        return Ok(None);
    };
    let TransferFields::Hold {
        to,
        asset,
        amount,
        expires_at,
    } = placed.fields
    else {
        return Ok(None);
    };
    if let Some(StateValue::Balance(holding)) = get(&StateKey::Balance(payer, asset))? {
        if let Some(open) = holding.holds.iter().find(|h| h.hold_id == hold_id) {
            return Ok(Some(HoldStatus {
                payee: open.payee,
                asset,
                amount: open.amount,
                expires_at: open.expires_at,
                state: HoldState::Open,
                placed_by: open.placed_by,
            }));
        }
    }
    let state = match get(&closed_hold_key(&payer, hold_id, &placed.tx_hash))? {
        Some(StateValue::TransferRecord(TransferRecord {
            fields: TransferFields::HoldClosed { state },
            ..
        })) => state,
        // Not open and not ended by a capture or void: the expiry sweep
        // released it.
        _ => HoldState::Expired,
    };
    Ok(Some(HoldStatus {
        payee: to,
        asset,
        amount,
        expires_at,
        state,
        placed_by: placed.tx_hash,
    }))
}

/// One amount freeze on an account (see the module's documentation).
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct AmountFreeze {
    pub id: u64,
    pub asset: AssetCode,
    pub amount: Amount,
    pub freeze: Freeze,
    /// The order's reference (a court case number), at most
    /// [`crate::tx::REFERENCE_BYTES_MAX`] bytes.
    pub reference: Vec<u8>,
    pub expires_at: Option<TimestampMs>,
}

/// Which way an account's money may move.
#[derive(Debug, Clone, Copy, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum AccountState {
    /// Both ways (lifts a restriction).
    Normal,
    /// It may receive but not send.
    ReceiveOnly,
    /// It may send but not receive.
    SendOnly,
}

impl AccountState {
    /// The name wallets and the CLI use.
    pub fn name(&self) -> &'static str {
        match self {
            AccountState::Normal => "normal",
            AccountState::ReceiveOnly => "receive-only",
            AccountState::SendOnly => "send-only",
        }
    }
}

/// A receive-only or send-only state on an account: which, why, by whom,
/// until when.
#[derive(Debug, Clone, Copy, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Restriction {
    pub state: AccountState,
    pub reason: FreezeReason,
    pub by: Address,
    pub expires_at: Option<TimestampMs>,
}

impl Restriction {
    /// Whether the account may send (or be captured from).
    pub fn blocks_sending(&self) -> bool {
        self.state == AccountState::ReceiveOnly
    }

    /// Whether the account may receive.
    pub fn blocks_receiving(&self) -> bool {
        self.state == AccountState::SendOnly
    }
}

/// Something that expires in a given second (see [`StateKey::Expiring`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum Expiring {
    Hold {
        payer: Address,
        asset: AssetCode,
        hold_id: TransferId,
    },
    AmountFreeze {
        account: Address,
        freeze_id: u64,
    },
    Restriction {
        account: Address,
    },
    /// A used quote's record leaves the state (see [`crate::exchange`]).
    Quote {
        provider: Address,
        quote_id: u64,
    },
    /// A mandate ends (see [`crate::mandate`]).
    Mandate {
        account: Address,
        mandate_id: u64,
    },
}

/// Expiries listed by the running transaction, and by the block's
/// successful ones so far (by second), written at the block's end.
#[derive(Debug, Default)]
pub(crate) struct Pending {
    tx: Vec<(u64, Expiring)>,
    block: std::collections::BTreeMap<u64, Vec<Expiring>>,
}

impl Pending {
    /// The transaction ended: keep what it listed if it succeeded.
    pub(crate) fn end_tx(&mut self, succeeded: bool) {
        if succeeded {
            for (second, item) in self.tx.drain(..) {
                self.block.entry(second).or_default().push(item);
            }
        } else {
            self.tx.clear();
        }
    }
}

/// A device key registered under an account (see the module's
/// documentation), under [`StateKey::Device`] by the key's address.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Device {
    pub account: Address,
    pub key: crate::crypto::PublicKey,
    pub asset: AssetCode,
    pub max_per_hold: Amount,
    pub daily_max: Amount,
    /// Empty: any payee.
    pub payees: Vec<Address>,
    /// The sequence number the device's next transaction must carry.
    pub sequence: crate::types::Nonce,
    /// What its holds reserved on its last day of holding.
    pub outflow: crate::state::DailyOutflow,
}

/// See [`StateKey::ExpiryCursor`].
#[derive(Debug, Clone, Default, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct ExpiryCursor {
    /// The first second of the first pending minute not yet applied.
    pub next: u64,
    /// Minutes applied and not yet removed from the state (at the next
    /// pruning height), oldest first.
    pub applied: Vec<u64>,
}

/// The second (since the epoch) a timestamp falls in.
pub fn second_of(t: TimestampMs) -> u64 {
    t.0 / 1_000
}

/// Whether something that expires at `expires_at` has expired in a block at
/// `now`: `now` is in a later second.
pub fn has_expired(expires_at: TimestampMs, now: TimestampMs) -> bool {
    second_of(now) > second_of(expires_at)
}

impl<S: StateStore + ?Sized> Executor<'_, S> {
    /// Records how a capture or void (transaction `by`) ended a hold (see
    /// the module's documentation).
    fn record_hold_end(&mut self, payer: Address, hold: &OpenHold, state: HoldState, by: Hash) {
        self.overlay.put(
            closed_hold_key(&payer, hold.hold_id, &hold.placed_by),
            Some(StateValue::TransferRecord(TransferRecord {
                tx_hash: by,
                fields: TransferFields::HoldClosed { state },
            })),
        );
    }

    pub(crate) fn amount_freezes(
        &mut self,
        account: &Address,
    ) -> Result<Vec<AmountFreeze>, ExecError> {
        let key = StateKey::AmountFreezes(*account);
        match self.overlay.get(&key)? {
            None => Ok(Vec::new()),
            Some(StateValue::AmountFreezes(list)) => Ok(list),
            Some(_) => Err(ExecError::WrongValueKind { key }),
        }
    }

    /// Lists `item` under the second it expires in (not yet expired), once
    /// the transaction succeeds (see [`Pending`]).
    pub(crate) fn add_expiring(
        &mut self,
        at: TimestampMs,
        item: Expiring,
    ) -> Result<(), ExecError> {
        self.expiring_pending.tx.push((second_of(at), item));
        Ok(())
    }

    fn expiring_count(&mut self, second: u64) -> Result<u32, ExecError> {
        let key = StateKey::ExpiringCount(second);
        match self.overlay.get(&key)? {
            None => Ok(0),
            Some(StateValue::ExpiringCount(n)) => Ok(n),
            Some(_) => Err(ExecError::WrongValueKind { key }),
        }
    }

    /// Appends the block's new expiries to their seconds' lists (filling
    /// the last chunk, then new ones), and their minutes to the pending
    /// minutes. Runs after the block's transactions: a second's list is
    /// written once per block, whatever the number of holds.
    pub(crate) fn flush_expiring(&mut self) -> Result<(), ExecError> {
        if self.expiring_pending.block.is_empty() {
            return Ok(());
        }
        let block = std::mem::take(&mut self.expiring_pending.block);
        let mut minutes = self.expiry_minutes()?;
        let minutes_before = minutes.len();
        for (second, items) in block {
            let mut count = self.expiring_count(second)?;
            let mut items = items.into_iter().peekable();
            while items.peek().is_some() {
                let chunk = count / EXPIRING_CHUNK;
                let mut list = if count % EXPIRING_CHUNK == 0 {
                    Vec::new()
                } else {
                    self.expiring(second, chunk)?
                };
                while list.len() < EXPIRING_CHUNK as usize {
                    let Some(item) = items.next() else { break };
                    list.push(item);
                    count += 1;
                }
                self.overlay.put(
                    StateKey::Expiring(second, chunk),
                    Some(StateValue::Expiring(list)),
                );
            }
            self.overlay.put(
                StateKey::ExpiringCount(second),
                Some(StateValue::ExpiringCount(count)),
            );
            if let Err(slot) = minutes.binary_search(&(second / 60)) {
                minutes.insert(slot, second / 60);
            }
        }
        if minutes.len() != minutes_before {
            self.overlay.put(
                StateKey::ExpiryMinutes,
                Some(StateValue::ExpiryMinutes(minutes)),
            );
        }
        Ok(())
    }

    /// Everything listed to expire in `second`, chunk by chunk.
    fn expiring_in(&mut self, second: u64) -> Result<Vec<Expiring>, ExecError> {
        let count = self.expiring_count(second)?;
        let mut all = Vec::with_capacity(count as usize);
        for chunk in 0..count.div_ceil(EXPIRING_CHUNK) {
            all.extend(self.expiring(second, chunk)?);
        }
        Ok(all)
    }

    /// An account that may receive money (a payee, a recipient): known,
    /// not frozen, not send-only.
    pub(crate) fn receiving_account(
        &mut self,
        address: &Address,
    ) -> Result<Result<Account, FailureReason>, ExecError> {
        let Some(account) = self.account(address)? else {
            return Ok(Err(FailureReason::UnknownAccount { account: *address }));
        };
        if let Some(freeze) = account.frozen {
            return Ok(Err(FailureReason::RecipientFrozen {
                account: *address,
                freeze,
            }));
        }
        if let Some(restriction) = account.restriction.filter(Restriction::blocks_receiving) {
            return Ok(Err(FailureReason::Restricted {
                account: *address,
                restriction,
            }));
        }
        Ok(Ok(account))
    }

    /// Gives `released` back to the day's outflow it was counted in, when
    /// the holding's outflow is still of that day.
    fn refund_outflow(holding: &mut Holding, day: Option<i64>, released: Amount) {
        if day == Some(holding.outflow.day) {
            holding.outflow.spent = Amount(holding.outflow.spent.0.saturating_sub(released.0));
        }
    }

    /// `Hold`: see the module's documentation.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn hold(
        &mut self,
        cosigner: Option<crate::crypto::PublicKey>,
        tx_hash: &Hash,
        sender: Address,
        account: &Account,
        to: Address,
        asset: AssetCode,
        amount: Amount,
        hold_id: TransferId,
        expires_at: TimestampMs,
    ) -> Result<TxResult, ExecError> {
        if amount.0 == 0 {
            return Ok(Err(FailureReason::ZeroAmount));
        }
        if to == sender {
            return Ok(Err(FailureReason::SelfTransfer));
        }
        if self.asset(&asset)?.is_none() {
            return Ok(Err(FailureReason::UnknownAsset { asset }));
        }
        let now = self.ctx.timestamp;
        let latest = TimestampMs(now.0.saturating_add(HOLD_LIFETIME_MAX_MS));
        if has_expired(expires_at, now) || expires_at > latest {
            return Ok(Err(FailureReason::BadExpiry {
                earliest: now,
                latest,
            }));
        }
        if let Some(restriction) = account.restriction.filter(Restriction::blocks_sending) {
            return Ok(Err(FailureReason::Restricted {
                account: sender,
                restriction,
            }));
        }
        let fields = TransferFields::Hold {
            to,
            asset,
            amount,
            expires_at,
        };
        let record_key = StateKey::TransferRecord(sender, hold_id);
        if let Some(value) = self.overlay.get(&record_key)? {
            let StateValue::TransferRecord(record) = value else {
                return Err(ExecError::WrongValueKind { key: record_key });
            };
            return Ok(Err(if record.fields == fields {
                FailureReason::TransferExists {
                    original_tx: record.tx_hash,
                }
            } else {
                FailureReason::TransferExistsWithDifferentFields {
                    original_tx: record.tx_hash,
                }
            }));
        }
        if let Err(reason) = self.receiving_account(&to)? {
            return Ok(Err(reason));
        }
        let mut holding = self.holding(&sender, &asset)?;
        // Only once the id is forgotten while its hold is still open (a
        // halt of more than a day delays expiries).
        if holding.holds.iter().any(|h| h.hold_id == hold_id) {
            return Ok(Err(FailureReason::HoldExists {
                payer: sender,
                hold_id,
            }));
        }
        if holding.holds.len() >= OPEN_HOLDS_MAX {
            return Ok(Err(FailureReason::TooManyHolds {
                max: OPEN_HOLDS_MAX as u16,
            }));
        }
        let mut day = None;
        if let AccountKind::Customer { tier, .. } = account.kind {
            match self.check_limits(cosigner, account, tier, asset, amount, holding.outflow)? {
                Ok(today) => {
                    holding.outflow = today;
                    day = Some(today.day);
                }
                Err(reason) => return Ok(Err(reason)),
            }
        }
        let available = holding.available();
        if available < amount {
            return Ok(Err(FailureReason::InsufficientBalance {
                asset,
                available,
                required: amount,
            }));
        }
        let Some(held) = holding.held.checked_add(amount) else {
            return Ok(Err(FailureReason::Overflow { asset }));
        };
        holding.held = held;
        holding.holds.push(OpenHold {
            hold_id,
            payee: to,
            amount,
            expires_at,
            day,
            placed_by: *tx_hash,
        });
        self.put_holding(sender, asset, holding);
        self.add_expiring(
            expires_at,
            Expiring::Hold {
                payer: sender,
                asset,
                hold_id,
            },
        )?;
        self.overlay.put(
            record_key,
            Some(StateValue::TransferRecord(TransferRecord {
                tx_hash: *tx_hash,
                fields,
            })),
        );
        Ok(Ok(vec![Effect::HoldPlaced {
            payer: sender,
            hold_id,
            payee: to,
            asset,
            amount,
            expires_at,
        }]))
    }

    /// `Capture` (with `capture = Some(amount)`) and `Void` (`None`).
    pub(crate) fn resolve_hold(
        &mut self,
        tx_hash: &Hash,
        sender: Address,
        payer: Address,
        hold_id: TransferId,
        capture: Option<Amount>,
    ) -> Result<TxResult, ExecError> {
        let allowed = |payee: Address| sender == payee || (capture.is_some() && sender == payer);
        // The id's record names the asset, so the holding that keeps the
        // hold while it is open.
        let record_key = StateKey::TransferRecord(payer, hold_id);
        let asset = match self.overlay.get(&record_key)? {
            Some(StateValue::TransferRecord(TransferRecord {
                fields: TransferFields::Hold { asset, .. },
                ..
            })) => asset,
            Some(StateValue::TransferRecord(_)) | None => {
                return Ok(Err(FailureReason::UnknownHold { payer, hold_id }))
            }
            Some(_) => return Err(ExecError::WrongValueKind { key: record_key }),
        };
        let mut holding = self.holding(&payer, &asset)?;
        let Some(index) = holding.holds.iter().position(|h| h.hold_id == hold_id) else {
            let overlay = &mut self.overlay;
            let status = hold_status_with(&mut |key| overlay.get(key), payer, hold_id)?;
            return Ok(Err(match status {
                Some(ended) if !allowed(ended.payee) => FailureReason::Unauthorised,
                Some(ended) => FailureReason::HoldClosed {
                    payer,
                    hold_id,
                    state: ended.state,
                },
                None => FailureReason::UnknownHold { payer, hold_id },
            }));
        };
        let hold = holding.holds[index];
        if !allowed(hold.payee) {
            return Ok(Err(FailureReason::Unauthorised));
        }
        // Only past the expiry sweep's daily bound (a halt of more than a
        // day): the hold is over, and the sweep will release it.
        if has_expired(hold.expires_at, self.ctx.timestamp) {
            return Ok(Err(FailureReason::HoldClosed {
                payer,
                hold_id,
                state: HoldState::Expired,
            }));
        }
        let captured = capture.unwrap_or(Amount::ZERO);
        if capture.is_some() {
            if captured.0 == 0 {
                return Ok(Err(FailureReason::ZeroAmount));
            }
            if captured > hold.amount {
                return Ok(Err(FailureReason::CaptureExceedsHold {
                    held: hold.amount,
                    amount: captured,
                }));
            }
            let Some(payer_account) = self.account(&payer)? else {
                return Ok(Err(FailureReason::UnknownAccount { account: payer }));
            };
            if let Some(freeze) = payer_account.frozen {
                return Ok(Err(FailureReason::PayerFrozen {
                    account: payer,
                    freeze,
                }));
            }
            if let Some(restriction) = payer_account
                .restriction
                .filter(Restriction::blocks_sending)
            {
                return Ok(Err(FailureReason::Restricted {
                    account: payer,
                    restriction,
                }));
            }
            let payee = match self.receiving_account(&hold.payee)? {
                Ok(payee) => payee,
                Err(reason) => return Ok(Err(reason)),
            };
            self.flows.record(
                payer_account.institution,
                payee.institution,
                asset,
                captured,
            );
        }
        let released = Amount(hold.amount.0 - captured.0);
        holding.holds.remove(index);
        holding.held = Amount(holding.held.0.saturating_sub(hold.amount.0));
        // The hold reserved `amount` of the balance, and nothing lowers a
        // balance below what holds reserve.
        let Some(balance) = holding.balance.checked_sub(captured) else {
            return Ok(Err(FailureReason::InsufficientBalance {
                asset,
                available: holding.balance,
                required: captured,
            }));
        };
        holding.balance = balance;
        Self::refund_outflow(&mut holding, hold.day, released);
        self.put_holding(payer, asset, holding);
        let mut effects = Vec::with_capacity(3);
        let state = if capture.is_some() {
            let payee_balance = self.balance(&hold.payee, &asset)?;
            let Some(new_balance) = payee_balance.checked_add(captured) else {
                return Ok(Err(FailureReason::Overflow { asset }));
            };
            self.put_balance(hold.payee, asset, new_balance)?;
            effects.push(Effect::Debit {
                account: payer,
                asset,
                amount: captured,
            });
            effects.push(Effect::Credit {
                account: hold.payee,
                asset,
                amount: captured,
            });
            effects.push(Effect::HoldCaptured {
                payer,
                hold_id,
                captured,
                released,
            });
            HoldState::Captured { amount: captured }
        } else {
            effects.push(Effect::HoldVoided {
                payer,
                hold_id,
                released,
            });
            HoldState::Voided
        };
        self.record_hold_end(payer, &hold, state, *tx_hash);
        Ok(Ok(effects))
    }

    /// Whether `signer` (of kind `signer_kind`) may freeze or restrict
    /// `target`: any regulator, or the target's own institution.
    fn has_authority(signer: Address, signer_account: &Account, target: &Account) -> bool {
        match signer_account.kind {
            AccountKind::Regulator => true,
            AccountKind::Institution => target.institution == signer,
            AccountKind::Customer { .. } | AccountKind::Retired => false,
        }
    }

    /// `FreezeAmount`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn freeze_amount(
        &mut self,
        sender: Address,
        account: &Account,
        target: Address,
        asset: AssetCode,
        amount: Amount,
        freeze_id: u64,
        reason: FreezeReason,
        reference: &[u8],
        expires_at: Option<TimestampMs>,
    ) -> Result<TxResult, ExecError> {
        let Some(target_account) = self.account(&target)? else {
            return Ok(Err(FailureReason::UnknownAccount { account: target }));
        };
        if !Self::has_authority(sender, account, &target_account) {
            return Ok(Err(FailureReason::Unauthorised));
        }
        if self.asset(&asset)?.is_none() {
            return Ok(Err(FailureReason::UnknownAsset { asset }));
        }
        if amount.0 == 0 {
            return Ok(Err(FailureReason::ZeroAmount));
        }
        let now = self.ctx.timestamp;
        if expires_at.is_some_and(|t| has_expired(t, now)) {
            return Ok(Err(FailureReason::BadExpiry {
                earliest: now,
                latest: TimestampMs(u64::MAX),
            }));
        }
        let mut list = self.amount_freezes(&target)?;
        let slot = match list.binary_search_by_key(&freeze_id, |f| f.id) {
            Ok(_) => {
                return Ok(Err(FailureReason::FreezeExists {
                    account: target,
                    freeze_id,
                }))
            }
            Err(slot) => slot,
        };
        if list.len() >= AMOUNT_FREEZES_MAX {
            return Ok(Err(FailureReason::TooManyFreezes {
                max: AMOUNT_FREEZES_MAX as u16,
            }));
        }
        let mut holding = self.holding(&target, &asset)?;
        let Some(held) = holding.held.checked_add(amount) else {
            return Ok(Err(FailureReason::Overflow { asset }));
        };
        holding.held = held;
        self.put_holding(target, asset, holding);
        let freeze = Freeze { reason, by: sender };
        list.insert(
            slot,
            AmountFreeze {
                id: freeze_id,
                asset,
                amount,
                freeze,
                reference: reference.to_vec(),
                expires_at,
            },
        );
        self.overlay.put(
            StateKey::AmountFreezes(target),
            Some(StateValue::AmountFreezes(list)),
        );
        if let Some(at) = expires_at {
            self.add_expiring(
                at,
                Expiring::AmountFreeze {
                    account: target,
                    freeze_id,
                },
            )?;
        }
        Ok(Ok(vec![Effect::AmountFrozen {
            account: target,
            asset,
            amount,
            freeze_id,
            freeze,
            expires_at,
        }]))
    }

    /// `ReleaseFreeze`.
    pub(crate) fn release_freeze(
        &mut self,
        sender: Address,
        account: &Account,
        target: Address,
        freeze_id: u64,
    ) -> Result<TxResult, ExecError> {
        let Some(target_account) = self.account(&target)? else {
            return Ok(Err(FailureReason::UnknownAccount { account: target }));
        };
        let mut list = self.amount_freezes(&target)?;
        let Ok(i) = list.binary_search_by_key(&freeze_id, |f| f.id) else {
            return Ok(Err(FailureReason::UnknownFreeze {
                account: target,
                freeze_id,
            }));
        };
        let allowed = Self::has_authority(sender, account, &target_account)
            && (account.kind == AccountKind::Regulator
                || !self.is_regulator(&list[i].freeze.by)?);
        if !allowed {
            return Ok(Err(FailureReason::Unauthorised));
        }
        let entry = list.remove(i);
        self.lift_amount_freeze(target, list, &entry)?;
        Ok(Ok(vec![Effect::AmountReleased {
            account: target,
            asset: entry.asset,
            amount: entry.amount,
            freeze_id,
        }]))
    }

    /// Writes the account's remaining freezes and releases `entry`'s
    /// amount.
    fn lift_amount_freeze(
        &mut self,
        target: Address,
        rest: Vec<AmountFreeze>,
        entry: &AmountFreeze,
    ) -> Result<(), ExecError> {
        self.overlay.put(
            StateKey::AmountFreezes(target),
            Some(StateValue::AmountFreezes(rest)),
        );
        let mut holding = self.holding(&target, &entry.asset)?;
        holding.held = Amount(holding.held.0.saturating_sub(entry.amount.0));
        self.put_holding(target, entry.asset, holding);
        Ok(())
    }

    /// `SetAccountState`.
    pub(crate) fn set_account_state(
        &mut self,
        sender: Address,
        account: &Account,
        target: Address,
        state: AccountState,
        reason: FreezeReason,
        expires_at: Option<TimestampMs>,
    ) -> Result<TxResult, ExecError> {
        let Some(mut target_account) = self.account(&target)? else {
            return Ok(Err(FailureReason::UnknownAccount { account: target }));
        };
        if !Self::has_authority(sender, account, &target_account) {
            return Ok(Err(FailureReason::Unauthorised));
        }
        // A regulator's restriction is changed or lifted only by a
        // regulator.
        if let Some(current) = target_account.restriction {
            if account.kind != AccountKind::Regulator && self.is_regulator(&current.by)? {
                return Ok(Err(FailureReason::Unauthorised));
            }
        }
        let now = self.ctx.timestamp;
        if state == AccountState::Normal {
            if target_account.restriction.is_none() {
                return Ok(Err(FailureReason::NotRestricted));
            }
            target_account.restriction = None;
        } else {
            if expires_at.is_some_and(|t| has_expired(t, now)) {
                return Ok(Err(FailureReason::BadExpiry {
                    earliest: now,
                    latest: TimestampMs(u64::MAX),
                }));
            }
            target_account.restriction = Some(Restriction {
                state,
                reason,
                by: sender,
                expires_at,
            });
            if let Some(at) = expires_at {
                self.add_expiring(at, Expiring::Restriction { account: target })?;
            }
        }
        self.put_account(target, target_account);
        Ok(Ok(vec![Effect::AccountStateSet {
            account: target,
            state,
            by: sender,
            expires_at,
        }]))
    }

    fn expiry_cursor(&mut self) -> Result<ExpiryCursor, ExecError> {
        match self.overlay.get(&StateKey::ExpiryCursor)? {
            None => Ok(ExpiryCursor::default()),
            Some(StateValue::ExpiryCursor(c)) => Ok(c),
            Some(_) => Err(ExecError::WrongValueKind {
                key: StateKey::ExpiryCursor,
            }),
        }
    }

    fn expiry_minutes(&mut self) -> Result<Vec<u64>, ExecError> {
        match self.overlay.get(&StateKey::ExpiryMinutes)? {
            None => Ok(Vec::new()),
            Some(StateValue::ExpiryMinutes(m)) => Ok(m),
            Some(_) => Err(ExecError::WrongValueKind {
                key: StateKey::ExpiryMinutes,
            }),
        }
    }

    fn expiring(&mut self, second: u64, chunk: u32) -> Result<Vec<Expiring>, ExecError> {
        let key = StateKey::Expiring(second, chunk);
        match self.overlay.get(&key)? {
            None => Ok(Vec::new()),
            Some(StateValue::Expiring(list)) => Ok(list),
            Some(_) => Err(ExecError::WrongValueKind { key }),
        }
    }

    /// Applies the expiries of every second before this block's, minute by
    /// listed minute (at most [`EXPIRY_MINUTES_MAX`]), and at pruning
    /// heights removes what has ended from the state. Runs before the
    /// block's transactions. A chain with nothing to expire reads two
    /// entries and writes none.
    pub(crate) fn apply_expiries(&mut self) -> Result<(), ExecError> {
        let this_second = second_of(self.ctx.timestamp);
        let mut minutes = self.expiry_minutes()?;
        let mut cursor = self.expiry_cursor()?;
        let cursor_before = cursor.clone();
        let mut done = 0;
        while let Some(&minute) = minutes.get(done) {
            if done == EXPIRY_MINUTES_MAX {
                break;
            }
            let start = (minute * 60).max(cursor.next);
            let end = ((minute + 1) * 60).min(this_second);
            if end <= start && end < (minute + 1) * 60 {
                break;
            }
            for second in start..end {
                for item in self.expiring_in(second)? {
                    self.expire(second, item)?;
                }
            }
            if end < (minute + 1) * 60 {
                cursor.next = cursor.next.max(end);
                break;
            }
            cursor.next = (minute + 1) * 60;
            cursor.applied.push(minute);
            done += 1;
        }
        if done > 0 {
            minutes.drain(..done);
            self.overlay.put(
                StateKey::ExpiryMinutes,
                Some(StateValue::ExpiryMinutes(minutes)),
            );
        }
        if self.ctx.height.0.is_multiple_of(TRANSFER_PRUNE_EVERY) && !cursor.applied.is_empty() {
            let removable = cursor.applied.len().min(EXPIRY_MINUTES_MAX);
            for minute in cursor.applied.drain(..removable).collect::<Vec<_>>() {
                self.remove_minute(minute)?;
            }
        }
        if cursor != cursor_before {
            self.overlay.put(
                StateKey::ExpiryCursor,
                Some(StateValue::ExpiryCursor(cursor)),
            );
        }
        Ok(())
    }

    /// Removes an applied minute's lists, and the used quotes they name,
    /// from the state.
    fn remove_minute(&mut self, minute: u64) -> Result<(), ExecError> {
        for second in minute * 60..(minute + 1) * 60 {
            let count = self.expiring_count(second)?;
            if count == 0 {
                continue;
            }
            for item in self.expiring_in(second)? {
                if let Expiring::Quote { provider, quote_id } = item {
                    self.overlay
                        .put(StateKey::QuoteUsed(provider, quote_id), None);
                }
            }
            for chunk in 0..count.div_ceil(EXPIRING_CHUNK) {
                self.overlay.put(StateKey::Expiring(second, chunk), None);
            }
            self.overlay.put(StateKey::ExpiringCount(second), None);
        }
        Ok(())
    }

    /// Ends one thing listed as expiring in `second`, if it still stands
    /// with that expiry.
    fn expire(&mut self, second: u64, item: Expiring) -> Result<(), ExecError> {
        match item {
            Expiring::Hold {
                payer,
                asset,
                hold_id,
            } => {
                // Gone if it ended before; listed under another second if
                // its id was used again once forgotten.
                let mut holding = self.holding(&payer, &asset)?;
                let Some(index) = holding
                    .holds
                    .iter()
                    .position(|h| h.hold_id == hold_id && second_of(h.expires_at) == second)
                else {
                    return Ok(());
                };
                let hold = holding.holds.remove(index);
                holding.held = Amount(holding.held.0.saturating_sub(hold.amount.0));
                Self::refund_outflow(&mut holding, hold.day, hold.amount);
                self.put_holding(payer, asset, holding);
            }
            Expiring::AmountFreeze { account, freeze_id } => {
                let mut list = self.amount_freezes(&account)?;
                let Ok(i) = list.binary_search_by_key(&freeze_id, |f| f.id) else {
                    return Ok(());
                };
                if list[i].expires_at.map(second_of) != Some(second) {
                    return Ok(());
                }
                let entry = list.remove(i);
                self.lift_amount_freeze(account, list, &entry)?;
            }
            Expiring::Restriction { account } => {
                let Some(mut acct) = self.account(&account)? else {
                    return Ok(());
                };
                let due = acct
                    .restriction
                    .is_some_and(|r| r.expires_at.map(second_of) == Some(second));
                if due {
                    acct.restriction = None;
                    self.put_account(account, acct);
                }
            }
            // Removed with the minute's lists, at a pruning height.
            Expiring::Quote { .. } => {}
            Expiring::Mandate {
                account,
                mandate_id,
            } => self.end_mandate(account, mandate_id, second)?,
        }
        Ok(())
    }
}

impl<S: StateStore + ?Sized> Executor<'_, S> {
    pub(crate) fn device(&mut self, key_address: &Address) -> Result<Option<Device>, ExecError> {
        let key = StateKey::Device(*key_address);
        match self.overlay.get(&key)? {
            None => Ok(None),
            Some(StateValue::Device(d)) => Ok(Some(d)),
            Some(_) => Err(ExecError::WrongValueKind { key }),
        }
    }

    pub(crate) fn put_device(&mut self, key_address: &Address, device: Device) {
        self.overlay.put(
            StateKey::Device(*key_address),
            Some(StateValue::Device(device)),
        );
    }

    /// A device's hold against its scope; on success its day's outflow
    /// counts the hold (rolled back with the transaction if the hold then
    /// fails).
    pub(crate) fn charge_device(
        &mut self,
        key_address: Address,
        mut device: Device,
        to: Address,
        asset: AssetCode,
        amount: Amount,
    ) -> Result<(), FailureReason> {
        let refuse = FailureReason::DeviceScope {
            device: key_address,
        };
        if asset != device.asset
            || amount > device.max_per_hold
            || (!device.payees.is_empty() && !device.payees.contains(&to))
        {
            return Err(refuse);
        }
        let (day, spent) = if device.outflow.day >= self.day {
            (device.outflow.day, device.outflow.spent)
        } else {
            (self.day, Amount::ZERO)
        };
        let Some(spent) = spent.checked_add(amount).filter(|s| *s <= device.daily_max) else {
            return Err(refuse);
        };
        device.outflow = crate::state::DailyOutflow { day, spent };
        self.put_device(&key_address, device);
        Ok(())
    }

    /// `RegisterDevice`: by the account's owner (not through a device).
    pub(crate) fn register_device(
        &mut self,
        sender: Address,
        key: &crate::crypto::PublicKey,
        asset: AssetCode,
        max_per_hold: Amount,
        daily_max: Amount,
        payees: &[Address],
    ) -> Result<TxResult, ExecError> {
        if key.check_strong().is_err() {
            return Ok(Err(FailureReason::WeakKey));
        }
        if self.asset(&asset)?.is_none() {
            return Ok(Err(FailureReason::UnknownAsset { asset }));
        }
        if max_per_hold.0 == 0 || daily_max.0 == 0 {
            return Ok(Err(FailureReason::ZeroAmount));
        }
        let address = Address::of(key);
        // The key may not already sign for anything.
        if self.account(&address)?.is_some()
            || self.overlay.get(&StateKey::KeyAlias(address))?.is_some()
            || self.device(&address)?.is_some()
        {
            return Ok(Err(FailureReason::AccountExists { account: address }));
        }
        self.put_device(
            &address,
            Device {
                account: sender,
                key: *key,
                asset,
                max_per_hold,
                daily_max,
                payees: payees.to_vec(),
                sequence: crate::types::Nonce(0),
                outflow: crate::state::DailyOutflow::default(),
            },
        );
        Ok(Ok(vec![Effect::DeviceRegistered {
            account: sender,
            device: address,
        }]))
    }

    /// `RevokeDevice`: by the account's owner.
    pub(crate) fn revoke_device(
        &mut self,
        sender: Address,
        key: &crate::crypto::PublicKey,
    ) -> Result<TxResult, ExecError> {
        let address = Address::of(key);
        match self.device(&address)? {
            Some(d) if d.account == sender => {}
            Some(_) => return Ok(Err(FailureReason::Unauthorised)),
            None => return Ok(Err(FailureReason::UnknownDevice { device: address })),
        }
        self.overlay.put(StateKey::Device(address), None);
        Ok(Ok(vec![Effect::DeviceRevoked {
            account: sender,
            device: address,
        }]))
    }
}

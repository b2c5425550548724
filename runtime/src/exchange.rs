//! Linked operations and payment versus payment (PvP).
//!
//! # Linked operations
//!
//! [`TxKind::Linked`](crate::tx::TxKind::Linked) carries up to
//! [`LINKED_LEGS_MAX`](crate::tx::LINKED_LEGS_MAX) of the sender's payment
//! operations ([`LinkedOp`]: transfer, hold, capture, void). They run in
//! order, each on the state the previous ones left, under the same rules as
//! the kinds of the same name (each leg's own limits, transfer id and
//! receipt effects; and for a customer, the transfers and holds of one
//! asset together count as one payment for the tier's single maximum and
//! step-up co-signature, checked before any leg, as a batch's payouts do),
//! and all succeed or none does: when a leg fails, every
//! write of every leg is undone and the receipt is
//! [`Outcome::LegFailed`](crate::receipt::Outcome::LegFailed), naming the
//! leg and its reason. A successful receipt's effects are grouped per leg,
//! each group opened by an [`Effect::Leg`] marker.
//!
//! # Payment versus payment
//!
//! A registered FX provider (a member institution named in genesis, or
//! added by governance: [`Params::fx_providers`](crate::state::Params)) signs
//! a [`Quote`] off the ledger for one payer's request: the pair (`sell`, what
//! the payer pays; `buy`, what the payee gets), the rate as a fraction
//! `num / den` of minor units of `buy` per minor unit of `sell`, the bounds
//! of the amount paid, the expiry, an id, and optionally the one payer it is
//! for (a quote for any payer can be taken by whoever submits it first:
//! providers name the payer). The payer puts the quote and its signature in a
//! [`TxKind::Pvp`](crate::tx::TxKind::Pvp) with the amount it pays and the
//! least the payee must receive (its slippage bound). The ledger then checks,
//! in this order: the provider is registered and an institution
//! (`not_fx_provider`); the signature is its current key's over this chain's
//! quote (`bad_quote_signature`: an altered quote fails here); the quote is
//! sane (`bad_quote`); not expired (`quote_expired`) nor longer-lived than
//! [`QUOTE_LIFETIME_MAX_MS`] (`bad_expiry`); for this payer
//! (`quote_not_for_payer`); the amount within its bounds (`outside_quote`);
//! the converted amount (see *Rounding*) within `u128` (`overflow`), more
//! than zero (`zero_amount`) and at least the bound (`slippage`); the
//! payer's transfer id unused (`exists`, with the original transaction,
//! for a retry of a payment that settled); the quote not used before
//! (`quote_used`: a quote settles once). Then leg 0 moves the payment
//! from the payer to the provider under the payer's rules (tier limits,
//! step-up, available balance, restrictions) and leg 1 moves the converted
//! amount from the provider to the payee (the provider's available balance,
//! its freezes and restrictions; the payee may receive). Both legs settle
//! in the one transaction, or neither does. Where the payer and the payee
//! bank at different institutions, the clearing flows record both legs.
//!
//! A used quote is remembered (under [`StateKey::QuoteUsed`]) until it
//! expires, then leaves the state at a pruning height; a quote presented
//! after its expiry fails with `quote_expired` whether or not it was used.
//!
//! # Rounding
//!
//! The payee receives `floor(pay × num / den)` minor units of `buy`,
//! computed exactly (no intermediate overflow: see [`convert`]); the payer
//! pays exactly `pay`. Each leg moves one amount from one holding to
//! another, so rounding neither creates nor destroys value in either
//! asset: what rounding leaves (less than one minor unit of `buy`) stays
//! with the provider, who set the rate.

use borsh::{BorshDeserialize, BorshSerialize};

use crate::crypto::{domain, Hash, Keypair, PublicKey, Signature};
use crate::execute::{ExecError, Executor, TxResult};
use crate::hold::Expiring;
use crate::receipt::{Effect, FailureReason};
use crate::state::{Account, AccountKind, StateKey, StateValue, TransferFields};
use crate::store::StateStore;
use crate::tx::{LinkedOp, Payout};
use crate::types::{Address, Amount, AssetCode, ChainId, TimestampMs, TransferId};

/// The longest a quote may be valid: a used quote is remembered that long.
pub const QUOTE_LIFETIME_MAX_MS: u64 = 24 * 60 * 60 * 1_000;

/// Minor units of the bought asset per minor unit of the sold one, as the
/// fraction `num / den`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Rate {
    pub num: u64,
    pub den: u64,
}

/// An FX provider's signed offer to settle one payment (see the module's
/// documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Quote {
    /// The provider's (institution) account.
    pub provider: Address,
    /// Chosen by the provider; a quote settles once.
    pub quote_id: u64,
    /// What the payer pays (to the provider).
    pub sell: AssetCode,
    /// What the payee receives (from the provider).
    pub buy: AssetCode,
    pub rate: Rate,
    /// Bounds of the amount paid, in `sell`'s minor units.
    pub min_sell: Amount,
    pub max_sell: Amount,
    /// Block time after which the quote no longer settles.
    pub expires_at: TimestampMs,
    /// The one payer the quote is for; any payer when `None`.
    pub payer: Option<Address>,
}

impl Quote {
    /// What the provider signs: `SHA-256("hutong/quote/v1" || 0x00 ||
    /// borsh(chain_id) || borsh(quote))`.
    pub fn signing_hash(&self, chain_id: ChainId) -> Hash {
        let bytes =
            borsh::to_vec(&(chain_id, self)).expect("borsh encoding into a Vec cannot fail");
        Hash::tagged(domain::QUOTE, &bytes)
    }

    pub fn sign(&self, chain_id: ChainId, provider: &Keypair) -> Signature {
        provider.sign(&self.signing_hash(chain_id).0)
    }

    pub fn verify(&self, chain_id: ChainId, key: &PublicKey, signature: &Signature) -> bool {
        key.verify(&self.signing_hash(chain_id).0, signature)
            .is_ok()
    }

    fn sane(&self) -> bool {
        self.rate.num > 0
            && self.rate.den > 0
            && self.sell != self.buy
            && self.min_sell.0 > 0
            && self.min_sell <= self.max_sell
    }
}

/// `floor(pay × num / den)`, exactly: with `pay = q × den + r`, it is
/// `q × num + floor(r × num / den)`, and `r × num < den × num ≤ 2^128`.
/// `None` when the result passes `u128::MAX`, or for a zero denominator.
pub fn convert(pay: Amount, rate: Rate) -> Option<Amount> {
    if rate.den == 0 {
        return None;
    }
    let den = u128::from(rate.den);
    let num = u128::from(rate.num);
    let (q, r) = (pay.0 / den, pay.0 % den);
    let whole = q.checked_mul(num)?;
    whole.checked_add(r * num / den).map(Amount)
}

impl<S: StateStore + ?Sized> Executor<'_, S> {
    /// `Linked`: the legs in order, all or none. On a failure,
    /// [`Executor::failed_leg`] names the leg.
    pub(crate) fn linked(
        &mut self,
        cosigner: Option<PublicKey>,
        tx_hash: &Hash,
        sender: Address,
        account: &Account,
        legs: &[LinkedOp],
    ) -> Result<TxResult, ExecError> {
        if let Err(reason) = self.check_linked_total(cosigner, account, legs)? {
            return Ok(Err(reason));
        }
        let mut effects = Vec::new();
        for (i, leg) in legs.iter().enumerate() {
            let index = i as u8;
            let result = match *leg {
                LinkedOp::Transfer {
                    to,
                    asset,
                    amount,
                    transfer_id,
                } => self.transfer(
                    cosigner,
                    tx_hash,
                    sender,
                    account,
                    asset,
                    &[Payout { to, amount }],
                    transfer_id,
                    true,
                )?,
                LinkedOp::Hold {
                    to,
                    asset,
                    amount,
                    hold_id,
                    expires_at,
                } => self.hold(
                    cosigner, tx_hash, sender, account, to, asset, amount, hold_id, expires_at,
                )?,
                LinkedOp::Capture {
                    payer,
                    hold_id,
                    amount,
                } => self.resolve_hold(tx_hash, sender, payer, hold_id, Some(amount))?,
                LinkedOp::Void { payer, hold_id } => {
                    self.resolve_hold(tx_hash, sender, payer, hold_id, None)?
                }
            };
            match result {
                Ok(leg_effects) => {
                    effects.push(Effect::Leg { leg: index });
                    effects.extend(leg_effects);
                }
                Err(reason) => {
                    self.failed_leg = Some(index);
                    return Ok(Err(reason));
                }
            }
        }
        Ok(Ok(effects))
    }

    /// A customer's linked payments count as one payment per asset for the
    /// tier's single maximum and step-up threshold (as a batch transfer's
    /// payouts do), so splitting a large payment into legs needs the same
    /// co-signature; each leg still counts toward the daily outflow.
    fn check_linked_total(
        &mut self,
        cosigner: Option<PublicKey>,
        account: &Account,
        legs: &[LinkedOp],
    ) -> Result<Result<(), FailureReason>, ExecError> {
        let AccountKind::Customer { tier, .. } = account.kind else {
            return Ok(Ok(()));
        };
        // (asset, total, legs)
        let mut totals: Vec<(AssetCode, Amount, usize)> = Vec::new();
        for leg in legs {
            let (asset, amount) = match *leg {
                LinkedOp::Transfer { asset, amount, .. } | LinkedOp::Hold { asset, amount, .. } => {
                    (asset, amount)
                }
                LinkedOp::Capture { .. } | LinkedOp::Void { .. } => continue,
            };
            match totals.iter_mut().find(|(a, _, _)| *a == asset) {
                Some((_, total, n)) => {
                    let Some(t) = total.checked_add(amount) else {
                        return Ok(Err(FailureReason::Overflow { asset }));
                    };
                    *total = t;
                    *n += 1;
                }
                None => totals.push((asset, amount, 1)),
            }
        }
        // Only assets with more than one leg: a single leg meets the same
        // checks in its own rule, which names it.
        for (asset, total, _) in totals.into_iter().filter(|(_, _, n)| *n > 1) {
            let Some(limits) = self.params().limits(tier, asset).copied() else {
                continue;
            };
            if let Err(reason) = self.check_payment_size(cosigner, account, &limits, total)? {
                return Ok(Err(reason));
            }
        }
        Ok(Ok(()))
    }

    /// `Pvp`: see the module's documentation.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn pvp(
        &mut self,
        cosigner: Option<PublicKey>,
        tx_hash: &Hash,
        sender: Address,
        account: &Account,
        quote: &Quote,
        quote_signature: &Signature,
        pay: Amount,
        min_receive: Amount,
        to: Address,
        transfer_id: TransferId,
    ) -> Result<TxResult, ExecError> {
        let provider = quote.provider;
        let provider_account = match self.account(&provider)? {
            Some(a)
                if a.kind == AccountKind::Institution && self.params.is_fx_provider(&provider) =>
            {
                a
            }
            _ => return Ok(Err(FailureReason::NotFxProvider { provider })),
        };
        if !quote.verify(self.ctx.chain_id, &provider_account.owner, quote_signature) {
            return Ok(Err(FailureReason::BadQuoteSignature));
        }
        if !quote.sane() {
            return Ok(Err(FailureReason::BadQuote));
        }
        let now = self.ctx.timestamp;
        if now > quote.expires_at {
            return Ok(Err(FailureReason::QuoteExpired {
                expires_at: quote.expires_at,
            }));
        }
        let latest = TimestampMs(now.0.saturating_add(QUOTE_LIFETIME_MAX_MS));
        if quote.expires_at > latest {
            return Ok(Err(FailureReason::BadExpiry {
                earliest: now,
                latest,
            }));
        }
        if quote.payer.is_some_and(|p| p != sender) {
            return Ok(Err(FailureReason::QuoteNotForPayer));
        }
        if pay < quote.min_sell || pay > quote.max_sell {
            return Ok(Err(FailureReason::OutsideQuote {
                min: quote.min_sell,
                max: quote.max_sell,
                amount: pay,
            }));
        }
        let Some(receive) = convert(pay, quote.rate) else {
            return Ok(Err(FailureReason::Overflow { asset: quote.buy }));
        };
        if receive.0 == 0 {
            return Ok(Err(FailureReason::ZeroAmount));
        }
        if receive < min_receive {
            return Ok(Err(FailureReason::Slippage {
                min_receive,
                receive,
            }));
        }
        let digest = {
            let bytes = borsh::to_vec(&(quote, pay, min_receive, to))
                .expect("borsh encoding into a Vec cannot fail");
            Hash::tagged(domain::TRANSFER_FIELDS, &bytes)
        };
        let fields = TransferFields::Exchange { digest };
        if let Err(reason) = self.check_transfer_id(sender, transfer_id, &fields)? {
            return Ok(Err(reason));
        }
        // After the transfer id: a wallet's retry of a payment that
        // settled hears `exists` with the original transaction.
        let used_key = StateKey::QuoteUsed(provider, quote.quote_id);
        if self.overlay.get(&used_key)?.is_some() {
            return Ok(Err(FailureReason::QuoteUsed {
                provider,
                quote_id: quote.quote_id,
            }));
        }

        let mut effects = vec![Effect::Exchanged {
            payer: sender,
            provider,
            quote_id: quote.quote_id,
            payee: to,
            sell: quote.sell,
            paid: pay,
            buy: quote.buy,
            received: receive,
        }];
        let legs = [
            (sender, *account, quote.sell, provider, pay, cosigner),
            (provider, provider_account, quote.buy, to, receive, None),
        ];
        for (i, (from, from_account, asset, payee, amount, cosigner)) in
            legs.into_iter().enumerate()
        {
            let payouts = [Payout { to: payee, amount }];
            let result = match self.payout_total(from, asset, &payouts)? {
                Ok(total) => {
                    self.move_funds(cosigner, from, &from_account, asset, &payouts, total)?
                }
                Err(reason) => Err(reason),
            };
            match result {
                Ok(leg_effects) => {
                    effects.push(Effect::Leg { leg: i as u8 });
                    effects.extend(leg_effects);
                }
                Err(reason) => {
                    self.failed_leg = Some(i as u8);
                    return Ok(Err(reason));
                }
            }
        }
        self.overlay
            .put(used_key, Some(StateValue::QuoteUsed(*tx_hash)));
        self.add_expiring(
            quote.expires_at,
            Expiring::Quote {
                provider,
                quote_id: quote.quote_id,
            },
        )?;
        self.record_transfer_id(sender, transfer_id, tx_hash, fields);
        Ok(Ok(effects))
    }
}

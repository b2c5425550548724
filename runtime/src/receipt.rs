//! Receipts: the recorded result of every transaction in a block.

use borsh::{BorshDeserialize, BorshSerialize};

use crate::crypto::{Hash, PublicKey};
use crate::governance::ActionProblem;
use crate::hold::{AccountState, HoldState, Restriction};
use crate::state::Freeze;
use crate::tx::{Expiry, FreezeReason};
use crate::types::{
    Address, Amount, AssetCode, ChainId, Height, Nonce, Tier, TimestampMs, TransferId,
};

/// What a successful transaction changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum Effect {
    Debit {
        account: Address,
        asset: AssetCode,
        amount: Amount,
    },
    Credit {
        account: Address,
        asset: AssetCode,
        amount: Amount,
    },
    SupplyChanged {
        asset: AssetCode,
        total_supply: Amount,
    },
    AccountOpened {
        account: Address,
        institution: Address,
        tier: Tier,
    },
    TierSet {
        account: Address,
        tier: Tier,
    },
    Frozen {
        account: Address,
        freeze: Freeze,
    },
    Unfrozen {
        account: Address,
    },
    ProposalCreated {
        proposal: u64,
    },
    /// A vote recorded, with the tally after it among current voters.
    Voted {
        proposal: u64,
        approve: bool,
        approvals: u16,
        rejections: u16,
        voters: u16,
    },
    ProposalWithdrawn {
        proposal: u64,
    },
    /// The proposal passed and every action was applied. `epoch` is the
    /// epoch the change starts when it changed the validator set: the new
    /// set takes effect after the first block that certifies this block's
    /// result (see [`crate::governance`]).
    ProposalExecuted {
        proposal: u64,
        epoch: Option<u64>,
    },
    ProposalRejected {
        proposal: u64,
    },
    /// The proposal passed, but action `action` could not execute; nothing
    /// was applied.
    ProposalFailed {
        proposal: u64,
        action: u8,
        problem: ActionProblem,
    },
    /// A hold placed: `amount` of the payer's balance is reserved.
    HoldPlaced {
        payer: Address,
        hold_id: TransferId,
        payee: Address,
        asset: AssetCode,
        amount: Amount,
        expires_at: TimestampMs,
    },
    /// A hold captured (with a debit and a credit of `captured` beside
    /// it); `released` went back to the payer's available balance.
    HoldCaptured {
        payer: Address,
        hold_id: TransferId,
        captured: Amount,
        released: Amount,
    },
    HoldVoided {
        payer: Address,
        hold_id: TransferId,
        released: Amount,
    },
    AmountFrozen {
        account: Address,
        asset: AssetCode,
        amount: Amount,
        freeze_id: u64,
        freeze: Freeze,
        expires_at: Option<TimestampMs>,
    },
    AmountReleased {
        account: Address,
        asset: AssetCode,
        amount: Amount,
        freeze_id: u64,
    },
    AccountStateSet {
        account: Address,
        state: AccountState,
        by: Address,
        expires_at: Option<TimestampMs>,
    },
    DeviceRegistered {
        account: Address,
        device: Address,
    },
    DeviceRevoked {
        account: Address,
        device: Address,
    },
    /// The effects that follow, up to the next `Leg`, are leg `leg`'s of a
    /// linked transaction or a payment versus payment.
    Leg {
        leg: u8,
    },
    /// A payment versus payment settled: `paid` of `sell` went from the
    /// payer to the provider (leg 0), `received` of `buy` from the
    /// provider to the payee (leg 1).
    Exchanged {
        payer: Address,
        provider: Address,
        quote_id: u64,
        payee: Address,
        sell: AssetCode,
        paid: Amount,
        buy: AssetCode,
        received: Amount,
    },
    MandateGranted {
        account: Address,
        mandate_id: u64,
        grantee: Address,
        end: TimestampMs,
    },
    MandateRevoked {
        account: Address,
        mandate_id: u64,
        grantee: Address,
    },
    /// A payment under a mandate (with the debit and credit beside it);
    /// `spent_in_period` counts it.
    MandateUsed {
        payer: Address,
        mandate_id: u64,
        grantee: Address,
        spent_in_period: Amount,
    },
    IdentityListed {
        listing_key: Hash,
        by: Address,
        reason: FreezeReason,
    },
    IdentityDelisted {
        listing_key: Hash,
        by: Address,
    },
    MemoKeySet {
        institution: Address,
        key: [u8; 32],
    },
}

/// Why a transaction failed. Each reason carries the values that decided
/// it, and has a stable code ([`FailureReason::code`]) for wallets.
///
/// The first group (up to and including `Expired`, and `RetiredKey`) are
/// checked before the sequence number is consumed: such a transaction changes nothing at all,
/// since it may not even be the sender's. Every later reason is a ledger
/// rule: the transaction moves no money but consumes its sequence number,
/// so it can never execute later by surprise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum FailureReason {
    /// Memo too long or a batch with no or too many payouts.
    OutOfBounds,
    WrongChain {
        expected: ChainId,
        got: ChainId,
    },
    BadSignature,
    UnknownSender {
        account: Address,
    },
    BadSequence {
        expected: Nonce,
        got: Nonce,
    },
    Expired {
        expiry: Expiry,
        height: Height,
        timestamp: TimestampMs,
    },

    ZeroAmount,
    SelfTransfer,
    UnknownAsset {
        asset: AssetCode,
    },
    UnknownAccount {
        account: Address,
    },
    UnknownTier {
        tier: Tier,
    },
    SenderFrozen {
        freeze: Freeze,
    },
    RecipientFrozen {
        account: Address,
        freeze: Freeze,
    },
    /// The signer may not perform this action on this account or asset.
    Unauthorised,
    /// The new account's key is not a canonical point or is of small order.
    WeakKey,
    AccountExists {
        account: Address,
    },
    AlreadyFrozen {
        freeze: Freeze,
    },
    NotFrozen,
    /// The sender's tier has no limits for this asset, so it may not send it.
    AssetNotAllowed {
        tier: Tier,
        asset: AssetCode,
    },
    SingleLimitExceeded {
        asset: AssetCode,
        limit: Amount,
        amount: Amount,
    },
    DailyLimitExceeded {
        asset: AssetCode,
        limit: Amount,
        spent_today: Amount,
        amount: Amount,
    },
    /// Above the step-up threshold without a co-signature from the sender's
    /// institution.
    StepUpRequired {
        threshold: Amount,
        amount: Amount,
        institution: Address,
    },
    InsufficientBalance {
        asset: AssetCode,
        available: Amount,
        required: Amount,
    },
    /// A balance or a total supply would pass `u128::MAX`.
    Overflow {
        asset: AssetCode,
    },
    /// A transfer with this id already succeeded with the same fields.
    TransferExists {
        original_tx: Hash,
    },
    /// A transfer with this id already succeeded with different fields.
    TransferExistsWithDifferentFields {
        original_tx: Hash,
    },
    /// The key once signed for this account and was rotated away.
    RetiredKey {
        account: Address,
    },
    UnknownProposal {
        proposal: u64,
    },
    /// A vote in a block past the proposal's deadline.
    VotingClosed {
        proposal: u64,
        deadline: TimestampMs,
    },
    /// The proposal is executed, rejected, withdrawn or failed.
    ProposalClosed {
        proposal: u64,
    },
    /// The voting period is outside the allowed range.
    BadVotingPeriod {
        min_ms: u64,
        max_ms: u64,
    },
    /// Too many open proposals, in all or from this proposer.
    TooManyProposals {
        max: u16,
    },
    /// Action `action` of the proposal cannot execute on today's state.
    InvalidAction {
        action: u8,
        problem: ActionProblem,
    },
    /// Above the step-up threshold, co-signed, but not by the current key
    /// of the sender's institution.
    CoSignerNotInstitution {
        cosigner: PublicKey,
        institution: Address,
    },
    /// An expiry in the past, or a hold's past its longest lifetime.
    BadExpiry {
        earliest: TimestampMs,
        latest: TimestampMs,
    },
    /// No hold with this id is in the state (never placed, or ended and
    /// removed).
    UnknownHold {
        payer: Address,
        hold_id: TransferId,
    },
    /// The hold was captured, voided or has expired.
    HoldClosed {
        payer: Address,
        hold_id: TransferId,
        state: HoldState,
    },
    /// A hold with this id is still in the state.
    HoldExists {
        payer: Address,
        hold_id: TransferId,
    },
    CaptureExceedsHold {
        held: Amount,
        amount: Amount,
    },
    /// A capture from a frozen payer.
    PayerFrozen {
        account: Address,
        freeze: Freeze,
    },
    /// The account is receive-only (and would send) or send-only (and
    /// would receive).
    Restricted {
        account: Address,
        restriction: Restriction,
    },
    NotRestricted,
    UnknownFreeze {
        account: Address,
        freeze_id: u64,
    },
    FreezeExists {
        account: Address,
        freeze_id: u64,
    },
    TooManyFreezes {
        max: u16,
    },
    /// A device key's hold outside its scope (asset, amount per hold, per
    /// day, payee).
    DeviceScope {
        device: Address,
    },
    UnknownDevice {
        device: Address,
    },
    /// The quote's provider is not a registered FX provider.
    NotFxProvider {
        provider: Address,
    },
    /// The quote's signature is not the provider's current key's over
    /// these quote fields on this chain (an altered or forged quote).
    BadQuoteSignature,
    /// A quote with a zero rate, the same asset on both sides, or bounds
    /// out of order.
    BadQuote,
    QuoteExpired {
        expires_at: TimestampMs,
    },
    /// The quote already settled a payment.
    QuoteUsed {
        provider: Address,
        quote_id: u64,
    },
    /// The quote is for another payer.
    QuoteNotForPayer,
    /// The amount paid is outside the quote's bounds.
    OutsideQuote {
        min: Amount,
        max: Amount,
        amount: Amount,
    },
    /// At the quoted rate the payee would receive less than the payer's
    /// bound.
    Slippage {
        min_receive: Amount,
        receive: Amount,
    },
    UnknownMandate {
        payer: Address,
        mandate_id: u64,
    },
    MandateExists {
        mandate_id: u64,
    },
    TooManyMandates {
        max: u16,
    },
    /// A mandate with no scope, or that ends before it starts.
    BadMandate,
    /// Before the mandate's start or after its end.
    MandateInactive {
        start: TimestampMs,
        end: TimestampMs,
    },
    /// A payment outside the mandate's scope: not a paying mandate, another
    /// asset, or a payee it does not list.
    MandateScope {
        mandate_id: u64,
    },
    /// Above the mandate's amount per payment (`spent` is zero) or per
    /// period.
    MandateLimit {
        mandate_id: u64,
        limit: Amount,
        spent: Amount,
        amount: Amount,
    },
    /// The payer has [`crate::hold::OPEN_HOLDS_MAX`] holds open on the
    /// asset.
    TooManyHolds {
        max: u16,
    },
    /// An `OpenAccount` without an identity envelope on a chain with an
    /// identity service (`required`), or with one on a chain without.
    IdentityEnvelope {
        required: bool,
    },
    /// The listing key is on the blacklist already.
    AlreadyListed {
        listed_by: Address,
    },
    /// The listing key is not on the blacklist.
    NotListed,
    /// A memo in clear on a chain with an identity service (memos are
    /// sealed to their readers there).
    MemoNotSealed,
}

impl FailureReason {
    /// A stable snake_case code for APIs and logs.
    pub fn code(&self) -> &'static str {
        match self {
            FailureReason::OutOfBounds => "out_of_bounds",
            FailureReason::WrongChain { .. } => "wrong_chain",
            FailureReason::BadSignature => "bad_signature",
            FailureReason::UnknownSender { .. } => "unknown_sender",
            FailureReason::BadSequence { .. } => "bad_sequence",
            FailureReason::Expired { .. } => "expired",
            FailureReason::ZeroAmount => "zero_amount",
            FailureReason::SelfTransfer => "self_transfer",
            FailureReason::UnknownAsset { .. } => "unknown_asset",
            FailureReason::UnknownAccount { .. } => "unknown_account",
            FailureReason::UnknownTier { .. } => "unknown_tier",
            FailureReason::SenderFrozen { .. } => "sender_frozen",
            FailureReason::RecipientFrozen { .. } => "recipient_frozen",
            FailureReason::Unauthorised => "unauthorised",
            FailureReason::AccountExists { .. } => "account_exists",
            FailureReason::WeakKey => "weak_key",
            FailureReason::AlreadyFrozen { .. } => "already_frozen",
            FailureReason::NotFrozen => "not_frozen",
            FailureReason::AssetNotAllowed { .. } => "asset_not_allowed",
            FailureReason::SingleLimitExceeded { .. } => "single_limit_exceeded",
            FailureReason::DailyLimitExceeded { .. } => "daily_limit_exceeded",
            FailureReason::StepUpRequired { .. } => "step_up_required",
            FailureReason::InsufficientBalance { .. } => "insufficient_balance",
            FailureReason::Overflow { .. } => "overflow",
            FailureReason::TransferExists { .. } => "exists",
            FailureReason::TransferExistsWithDifferentFields { .. } => {
                "exists_with_different_fields"
            }
            FailureReason::RetiredKey { .. } => "retired_key",
            FailureReason::UnknownProposal { .. } => "unknown_proposal",
            FailureReason::VotingClosed { .. } => "voting_closed",
            FailureReason::ProposalClosed { .. } => "proposal_closed",
            FailureReason::BadVotingPeriod { .. } => "bad_voting_period",
            FailureReason::TooManyProposals { .. } => "too_many_proposals",
            FailureReason::InvalidAction { .. } => "invalid_action",
            FailureReason::CoSignerNotInstitution { .. } => "cosigner_not_institution",
            FailureReason::BadExpiry { .. } => "bad_expiry",
            FailureReason::UnknownHold { .. } => "unknown_hold",
            FailureReason::HoldClosed { .. } => "hold_closed",
            FailureReason::HoldExists { .. } => "hold_exists",
            FailureReason::CaptureExceedsHold { .. } => "capture_exceeds_hold",
            FailureReason::PayerFrozen { .. } => "payer_frozen",
            FailureReason::Restricted { .. } => "restricted",
            FailureReason::NotRestricted => "not_restricted",
            FailureReason::UnknownFreeze { .. } => "unknown_freeze",
            FailureReason::FreezeExists { .. } => "freeze_exists",
            FailureReason::TooManyFreezes { .. } => "too_many_freezes",
            FailureReason::DeviceScope { .. } => "device_scope",
            FailureReason::UnknownDevice { .. } => "unknown_device",
            FailureReason::NotFxProvider { .. } => "not_fx_provider",
            FailureReason::BadQuoteSignature => "bad_quote_signature",
            FailureReason::BadQuote => "bad_quote",
            FailureReason::QuoteExpired { .. } => "quote_expired",
            FailureReason::QuoteUsed { .. } => "quote_used",
            FailureReason::QuoteNotForPayer => "quote_not_for_payer",
            FailureReason::OutsideQuote { .. } => "outside_quote",
            FailureReason::Slippage { .. } => "slippage",
            FailureReason::UnknownMandate { .. } => "unknown_mandate",
            FailureReason::MandateExists { .. } => "mandate_exists",
            FailureReason::TooManyMandates { .. } => "too_many_mandates",
            FailureReason::TooManyHolds { .. } => "too_many_holds",
            FailureReason::IdentityEnvelope { .. } => "identity_envelope",
            FailureReason::AlreadyListed { .. } => "already_listed",
            FailureReason::NotListed => "not_listed",
            FailureReason::MemoNotSealed => "memo_not_sealed",
            FailureReason::BadMandate => "bad_mandate",
            FailureReason::MandateInactive { .. } => "mandate_inactive",
            FailureReason::MandateScope { .. } => "mandate_scope",
            FailureReason::MandateLimit { .. } => "mandate_limit",
        }
    }

    /// Whether a transaction that failed for this reason consumed its
    /// sequence number.
    pub fn consumes_sequence(&self) -> bool {
        !matches!(
            self,
            FailureReason::OutOfBounds
                | FailureReason::WrongChain { .. }
                | FailureReason::BadSignature
                | FailureReason::UnknownSender { .. }
                | FailureReason::RetiredKey { .. }
                | FailureReason::BadSequence { .. }
                | FailureReason::Expired { .. }
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum Outcome {
    Success {
        effects: Vec<Effect>,
    },
    Failed {
        reason: FailureReason,
    },
    /// Leg `leg` of a linked transaction or a payment versus payment
    /// failed for `reason`; no leg's effect stays.
    LegFailed {
        leg: u8,
        reason: FailureReason,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Receipt {
    pub tx_hash: Hash,
    pub outcome: Outcome,
}

impl Receipt {
    pub fn is_success(&self) -> bool {
        matches!(self.outcome, Outcome::Success { .. })
    }

    pub fn failure(&self) -> Option<&FailureReason> {
        match &self.outcome {
            Outcome::Failed { reason } | Outcome::LegFailed { reason, .. } => Some(reason),
            Outcome::Success { .. } => None,
        }
    }

    /// The leg that failed, for a linked transaction or a payment versus
    /// payment.
    pub fn failed_leg(&self) -> Option<u8> {
        match &self.outcome {
            Outcome::LegFailed { leg, .. } => Some(*leg),
            _ => None,
        }
    }
}

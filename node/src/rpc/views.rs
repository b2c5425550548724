//! The typed answers of the node's methods ([`hutong_wire::rpc`]), built
//! from the ledger, the pool and the node's status.

use hutong_host::util::lock;
use hutong_runtime::crypto::Hash;
use hutong_runtime::governance::{Consortium, Proposal};
use hutong_runtime::receipt::{Effect, FailureReason, Outcome};
use hutong_runtime::state::{AccountKind, StateKey, StateValue};
use hutong_runtime::tx::Expiry;
use hutong_runtime::{Address, Receipt};
use hutong_runtime::{Amount, AssetCode};
use hutong_runtime::{Tier, TimestampMs};
use hutong_wire::amount;
use hutong_wire::gov::{
    ParametersView, ProposalView, ProposalsPage, ProposalsQuery, PROPOSALS_PAGE_MAX,
};
use hutong_wire::rpc::{
    AccountView, AmountFreezeView, AssetView, BlockQuery, BlockView, CertView, ClaimView,
    ClearingFlowView, ClearingView, EffectView, FreezeView, HoldView, MandateView, MandatesView,
    NetPositionView, ReceiptView, RejectionData, RestrictionView, RootsView, ScopeView, StatusView,
    TxStatus,
};
use jsonrpsee::types::ErrorObjectOwned;

use super::{err, internal, parse_hash, RpcContext};
use hutong_host::mempool::Rejection;
use hutong_host::status::Ended;
use hutong_wire::rpc::code;

/// A rejection as wallets see it.
pub fn rejection(r: &Rejection) -> RejectionData {
    RejectionData {
        code: r.code().to_string(),
        retryable: r.retryable(),
        message: r.to_string(),
        used_by: match r {
            Rejection::SequenceUsed { used_by, .. } => used_by.clone(),
            _ => None,
        },
    }
}

/// One effect of a successful transaction; amounts in minor units.
pub fn effect(e: &Effect) -> EffectView {
    match e {
        Effect::Debit {
            account,
            asset,
            amount,
        } => EffectView::Debit {
            account: account.to_string(),
            asset: asset.to_string(),
            amount: amount.0.to_string(),
        },
        Effect::Credit {
            account,
            asset,
            amount,
        } => EffectView::Credit {
            account: account.to_string(),
            asset: asset.to_string(),
            amount: amount.0.to_string(),
        },
        Effect::SupplyChanged {
            asset,
            total_supply,
        } => EffectView::SupplyChanged {
            asset: asset.to_string(),
            total_supply: total_supply.0.to_string(),
        },
        Effect::AccountOpened {
            account,
            institution,
            tier,
        } => EffectView::AccountOpened {
            account: account.to_string(),
            institution: institution.to_string(),
            tier: tier.0,
        },
        Effect::TierSet { account, tier } => EffectView::TierSet {
            account: account.to_string(),
            tier: tier.0,
        },
        Effect::Frozen { account, freeze } => EffectView::Frozen {
            account: account.to_string(),
            reason: freeze.reason.name().to_string(),
            by: freeze.by.to_string(),
        },
        Effect::Unfrozen { account } => EffectView::Unfrozen {
            account: account.to_string(),
        },
        Effect::ProposalCreated { proposal } => EffectView::ProposalCreated {
            proposal: *proposal,
        },
        Effect::Voted {
            proposal,
            approve,
            approvals,
            rejections,
            voters,
        } => EffectView::Voted {
            proposal: *proposal,
            approve: *approve,
            approvals: *approvals,
            rejections: *rejections,
            voters: *voters,
        },
        Effect::ProposalWithdrawn { proposal } => EffectView::ProposalWithdrawn {
            proposal: *proposal,
        },
        Effect::ProposalExecuted { proposal, epoch } => EffectView::ProposalExecuted {
            proposal: *proposal,
            epoch: *epoch,
        },
        Effect::ProposalRejected { proposal } => EffectView::ProposalRejected {
            proposal: *proposal,
        },
        Effect::ProposalFailed {
            proposal,
            action,
            problem,
        } => EffectView::ProposalFailed {
            proposal: *proposal,
            action: *action,
            code: problem.code().to_string(),
        },
        Effect::HoldPlaced {
            payer,
            hold_id,
            payee,
            asset,
            amount,
            expires_at,
        } => EffectView::HoldPlaced {
            payer: payer.to_string(),
            hold_id: hold_id.to_string(),
            payee: payee.to_string(),
            asset: asset.to_string(),
            amount: amount.0.to_string(),
            expires_at_ms: expires_at.0,
        },
        Effect::HoldCaptured {
            payer,
            hold_id,
            captured,
            released,
        } => EffectView::HoldCaptured {
            payer: payer.to_string(),
            hold_id: hold_id.to_string(),
            captured: captured.0.to_string(),
            released: released.0.to_string(),
        },
        Effect::HoldVoided {
            payer,
            hold_id,
            released,
        } => EffectView::HoldVoided {
            payer: payer.to_string(),
            hold_id: hold_id.to_string(),
            released: released.0.to_string(),
        },
        Effect::AmountFrozen {
            account,
            asset,
            amount,
            freeze_id,
            freeze,
            expires_at,
        } => EffectView::AmountFrozen {
            account: account.to_string(),
            asset: asset.to_string(),
            amount: amount.0.to_string(),
            freeze_id: *freeze_id,
            reason: freeze.reason.name().to_string(),
            by: freeze.by.to_string(),
            expires_at_ms: expires_at.map(|t| t.0),
        },
        Effect::AmountReleased {
            account,
            asset,
            amount,
            freeze_id,
        } => EffectView::AmountReleased {
            account: account.to_string(),
            asset: asset.to_string(),
            amount: amount.0.to_string(),
            freeze_id: *freeze_id,
        },
        Effect::AccountStateSet {
            account,
            state,
            by,
            expires_at,
        } => EffectView::AccountStateSet {
            account: account.to_string(),
            state: state.name().to_string(),
            by: by.to_string(),
            expires_at_ms: expires_at.map(|t| t.0),
        },
        Effect::DeviceRegistered { account, device } => EffectView::DeviceRegistered {
            account: account.to_string(),
            device: device.to_string(),
        },
        Effect::DeviceRevoked { account, device } => EffectView::DeviceRevoked {
            account: account.to_string(),
            device: device.to_string(),
        },
        Effect::Leg { leg } => EffectView::Leg { leg: *leg },
        Effect::Exchanged {
            payer,
            provider,
            quote_id,
            payee,
            sell,
            paid,
            buy,
            received,
        } => EffectView::Exchanged {
            payer: payer.to_string(),
            provider: provider.to_string(),
            quote_id: *quote_id,
            payee: payee.to_string(),
            sell: sell.to_string(),
            paid: paid.0.to_string(),
            buy: buy.to_string(),
            received: received.0.to_string(),
        },
        Effect::MandateGranted {
            account,
            mandate_id,
            grantee,
            end,
        } => EffectView::MandateGranted {
            account: account.to_string(),
            mandate_id: *mandate_id,
            grantee: grantee.to_string(),
            end_ms: end.0,
        },
        Effect::MandateRevoked {
            account,
            mandate_id,
            grantee,
        } => EffectView::MandateRevoked {
            account: account.to_string(),
            mandate_id: *mandate_id,
            grantee: grantee.to_string(),
        },
        Effect::MandateUsed {
            payer,
            mandate_id,
            grantee,
            spent_in_period,
        } => EffectView::MandateUsed {
            payer: payer.to_string(),
            mandate_id: *mandate_id,
            grantee: grantee.to_string(),
            spent_in_period: spent_in_period.0.to_string(),
        },
        Effect::IdentityListed {
            listing_key,
            by,
            reason,
        } => EffectView::IdentityListed {
            listing_key: listing_key.to_string(),
            by: by.to_string(),
            reason: reason.name().into(),
        },
        Effect::IdentityDelisted { listing_key, by } => EffectView::IdentityDelisted {
            listing_key: listing_key.to_string(),
            by: by.to_string(),
        },
        Effect::MemoKeySet { institution, key } => EffectView::MemoKeySet {
            institution: institution.to_string(),
            key: hex::encode(key),
        },
    }
}

/// A receipt as wallets read it. `asset` is the asset the transaction
/// moves (for a failure whose reason does not name it, such as a step-up
/// threshold); `decimals` gives each asset's.
pub fn receipt(
    r: &Receipt,
    asset: Option<AssetCode>,
    decimals: &dyn Fn(&AssetCode) -> Option<u8>,
) -> ReceiptView {
    match &r.outcome {
        Outcome::Success { effects } => ReceiptView {
            tx_hash: r.tx_hash.to_string(),
            success: true,
            effects: Some(effects.iter().map(effect).collect()),
            code: None,
            reason: None,
            failure: None,
            failed_leg: None,
        },
        Outcome::Failed { reason } | Outcome::LegFailed { reason, .. } => ReceiptView {
            tx_hash: r.tx_hash.to_string(),
            success: false,
            effects: None,
            code: Some(reason.code().to_string()),
            reason: Some(format!("{reason:?}")),
            failure: Some(failure(reason, asset, decimals)),
            failed_leg: r.failed_leg(),
        },
    }
}

/// A failure as data: its code and the values involved, by name.
fn failure(
    reason: &FailureReason,
    asset_hint: Option<AssetCode>,
    decimals: &dyn Fn(&AssetCode) -> Option<u8>,
) -> serde_json::Map<String, serde_json::Value> {
    use serde_json::Value;
    let mut m = serde_json::Map::new();
    m.insert("code".into(), reason.code().into());
    let text = |m: &mut serde_json::Map<String, Value>, k: &str, v: String| {
        m.insert(k.into(), Value::String(v));
    };
    // An amount as "5000.00" beside its minor units, when the asset's
    // decimals are known; the minor units alone otherwise.
    let amount =
        |m: &mut serde_json::Map<String, Value>, k: &str, asset: Option<AssetCode>, v: Amount| {
            if let Some(d) = asset.as_ref().and_then(decimals) {
                m.insert(k.into(), Value::String(amount::format(v.0, d)));
            }
            m.insert(format!("{k}_minor"), Value::String(v.0.to_string()));
        };
    let asset_field = |m: &mut serde_json::Map<String, Value>, a: AssetCode| {
        m.insert("asset".into(), Value::String(a.to_string()));
    };
    let freeze = |m: &mut serde_json::Map<String, Value>, f: &hutong_runtime::state::Freeze| {
        m.insert("freeze_reason".into(), f.reason.name().into());
        m.insert("frozen_by".into(), f.by.to_string().into());
    };
    match reason {
        FailureReason::OutOfBounds
        | FailureReason::BadSignature
        | FailureReason::ZeroAmount
        | FailureReason::SelfTransfer
        | FailureReason::Unauthorised
        | FailureReason::WeakKey
        | FailureReason::NotFrozen
        | FailureReason::NotRestricted
        | FailureReason::NotListed
        | FailureReason::MemoNotSealed => {}
        FailureReason::AlreadyListed { listed_by } => {
            text(&mut m, "listed_by", listed_by.to_string())
        }
        FailureReason::WrongChain { expected, got } => {
            text(&mut m, "expected", expected.to_string());
            text(&mut m, "got", got.to_string());
        }
        FailureReason::UnknownSender { account }
        | FailureReason::UnknownAccount { account }
        | FailureReason::AccountExists { account }
        | FailureReason::RetiredKey { account } => text(&mut m, "account", account.to_string()),
        FailureReason::BadSequence { expected, got } => {
            m.insert("expected".into(), expected.0.into());
            m.insert("got".into(), got.0.into());
        }
        FailureReason::Expired {
            expiry,
            height,
            timestamp,
        } => {
            match expiry {
                Expiry::Height(h) => m.insert("expiry_height".into(), h.0.into()),
                Expiry::Time(t) => m.insert("expiry_time_ms".into(), t.0.into()),
            };
            m.insert("height".into(), height.0.into());
            m.insert("timestamp_ms".into(), timestamp.0.into());
        }
        FailureReason::UnknownAsset { asset } | FailureReason::Overflow { asset } => {
            asset_field(&mut m, *asset)
        }
        FailureReason::UnknownTier { tier } => {
            m.insert("tier".into(), tier.0.into());
        }
        FailureReason::SenderFrozen { freeze: f } | FailureReason::AlreadyFrozen { freeze: f } => {
            freeze(&mut m, f)
        }
        FailureReason::RecipientFrozen { account, freeze: f } => {
            text(&mut m, "account", account.to_string());
            freeze(&mut m, f);
        }
        FailureReason::AssetNotAllowed { tier, asset } => {
            m.insert("tier".into(), tier.0.into());
            asset_field(&mut m, *asset);
        }
        FailureReason::SingleLimitExceeded {
            asset,
            limit,
            amount: a,
        } => {
            asset_field(&mut m, *asset);
            amount(&mut m, "limit", Some(*asset), *limit);
            amount(&mut m, "amount", Some(*asset), *a);
        }
        FailureReason::DailyLimitExceeded {
            asset,
            limit,
            spent_today,
            amount: a,
        } => {
            asset_field(&mut m, *asset);
            amount(&mut m, "limit", Some(*asset), *limit);
            amount(&mut m, "spent_today", Some(*asset), *spent_today);
            amount(&mut m, "amount", Some(*asset), *a);
            let remaining = Amount(limit.0.saturating_sub(spent_today.0));
            amount(&mut m, "remaining_today", Some(*asset), remaining);
        }
        FailureReason::StepUpRequired {
            threshold,
            amount: a,
            institution,
        } => {
            if let Some(asset) = asset_hint {
                asset_field(&mut m, asset);
            }
            amount(&mut m, "threshold", asset_hint, *threshold);
            amount(&mut m, "amount", asset_hint, *a);
            text(&mut m, "institution", institution.to_string());
            text(&mut m, "cosigner", "missing".into());
        }
        FailureReason::CoSignerNotInstitution {
            cosigner,
            institution,
        } => {
            text(&mut m, "cosigner", cosigner.to_hex());
            text(&mut m, "institution", institution.to_string());
        }
        FailureReason::InsufficientBalance {
            asset,
            available,
            required,
        } => {
            asset_field(&mut m, *asset);
            amount(&mut m, "available", Some(*asset), *available);
            amount(&mut m, "required", Some(*asset), *required);
        }
        FailureReason::TransferExists { original_tx }
        | FailureReason::TransferExistsWithDifferentFields { original_tx } => {
            text(&mut m, "original_tx", original_tx.to_string())
        }
        FailureReason::UnknownProposal { proposal }
        | FailureReason::ProposalClosed { proposal } => {
            m.insert("proposal".into(), (*proposal).into());
        }
        FailureReason::VotingClosed { proposal, deadline } => {
            m.insert("proposal".into(), (*proposal).into());
            m.insert("deadline_ms".into(), deadline.0.into());
        }
        FailureReason::BadVotingPeriod { min_ms, max_ms } => {
            m.insert("min_ms".into(), (*min_ms).into());
            m.insert("max_ms".into(), (*max_ms).into());
        }
        FailureReason::TooManyProposals { max } => {
            m.insert("max".into(), (*max).into());
        }
        FailureReason::InvalidAction { action, problem } => {
            m.insert("action".into(), (*action).into());
            text(&mut m, "problem", snake_case(&format!("{problem:?}")));
        }
        FailureReason::BadExpiry { earliest, latest } => {
            m.insert("earliest_ms".into(), earliest.0.into());
            m.insert("latest_ms".into(), latest.0.into());
        }
        FailureReason::UnknownHold { payer, hold_id }
        | FailureReason::HoldExists { payer, hold_id } => {
            text(&mut m, "payer", payer.to_string());
            text(&mut m, "hold_id", hold_id.to_string());
        }
        FailureReason::HoldClosed {
            payer,
            hold_id,
            state,
        } => {
            text(&mut m, "payer", payer.to_string());
            text(&mut m, "hold_id", hold_id.to_string());
            text(&mut m, "state", state.name().to_string());
        }
        FailureReason::CaptureExceedsHold { held, amount: a } => {
            if let Some(asset) = asset_hint {
                asset_field(&mut m, asset);
            }
            amount(&mut m, "held", asset_hint, *held);
            amount(&mut m, "amount", asset_hint, *a);
        }
        FailureReason::PayerFrozen { account, freeze: f } => {
            text(&mut m, "account", account.to_string());
            freeze(&mut m, f);
        }
        FailureReason::Restricted {
            account,
            restriction,
        } => {
            text(&mut m, "account", account.to_string());
            text(&mut m, "state", restriction.state.name().to_string());
            text(&mut m, "restricted_by", restriction.by.to_string());
            text(
                &mut m,
                "restriction_reason",
                restriction.reason.name().to_string(),
            );
        }
        FailureReason::UnknownFreeze { account, freeze_id }
        | FailureReason::FreezeExists { account, freeze_id } => {
            text(&mut m, "account", account.to_string());
            m.insert("freeze_id".into(), (*freeze_id).into());
        }
        FailureReason::TooManyFreezes { max } => {
            m.insert("max".into(), (*max).into());
        }
        FailureReason::DeviceScope { device } | FailureReason::UnknownDevice { device } => {
            text(&mut m, "device", device.to_string())
        }
        FailureReason::BadQuoteSignature
        | FailureReason::BadQuote
        | FailureReason::QuoteNotForPayer
        | FailureReason::BadMandate => {}
        FailureReason::NotFxProvider { provider } => text(&mut m, "provider", provider.to_string()),
        FailureReason::QuoteExpired { expires_at } => {
            m.insert("expires_at_ms".into(), expires_at.0.into());
        }
        FailureReason::QuoteUsed { provider, quote_id } => {
            text(&mut m, "provider", provider.to_string());
            m.insert("quote_id".into(), (*quote_id).into());
        }
        FailureReason::OutsideQuote {
            min,
            max,
            amount: a,
        } => {
            amount(&mut m, "min", asset_hint, *min);
            amount(&mut m, "max", asset_hint, *max);
            amount(&mut m, "amount", asset_hint, *a);
        }
        FailureReason::Slippage {
            min_receive,
            receive,
        } => {
            // In the bought asset, whose decimals the hint does not give.
            amount(&mut m, "min_receive", None, *min_receive);
            amount(&mut m, "receive", None, *receive);
        }
        FailureReason::UnknownMandate { payer, mandate_id } => {
            text(&mut m, "payer", payer.to_string());
            m.insert("mandate_id".into(), (*mandate_id).into());
        }
        FailureReason::MandateExists { mandate_id }
        | FailureReason::MandateScope { mandate_id } => {
            m.insert("mandate_id".into(), (*mandate_id).into());
        }
        FailureReason::TooManyMandates { max } | FailureReason::TooManyHolds { max } => {
            m.insert("max".into(), (*max).into());
        }
        FailureReason::IdentityEnvelope { required } => {
            m.insert("required".into(), (*required).into());
        }
        FailureReason::MandateInactive { start, end } => {
            m.insert("start_ms".into(), start.0.into());
            m.insert("end_ms".into(), end.0.into());
        }
        FailureReason::MandateLimit {
            mandate_id,
            limit,
            spent,
            amount: a,
        } => {
            m.insert("mandate_id".into(), (*mandate_id).into());
            amount(&mut m, "limit", asset_hint, *limit);
            amount(&mut m, "spent", asset_hint, *spent);
            amount(&mut m, "amount", asset_hint, *a);
        }
    }
    m
}

/// `ValidatorChangePending` as `validator_change_pending`.
fn snake_case(camel: &str) -> String {
    let mut out = String::with_capacity(camel.len() + 4);
    for (i, ch) in camel.chars().enumerate() {
        if ch.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(ch.to_ascii_lowercase());
        } else {
            out.push(ch);
        }
    }
    out
}

pub fn tx_status(ctx: &RpcContext, hash: &Hash) -> Result<TxStatus, ErrorObjectOwned> {
    let db = &ctx.ledger.db;
    let h = hash.to_string();
    if let Some(loc) = db.tx_location(hash).map_err(internal)? {
        let stored = db
            .receipts_at(loc.height)
            .map_err(internal)?
            .and_then(|rs| rs.get(loc.index as usize).cloned());
        let receipt_of = match stored {
            Some(r) => {
                // Only a failure may need the asset the transaction moved
                // (a step-up threshold does not name it): the block is
                // read for failures only, and may have been pruned.
                let asset = match &r.outcome {
                    Outcome::Failed { .. } | Outcome::LegFailed { .. } => db
                        .block_at(loc.height)
                        .ok()
                        .flatten()
                        .and_then(|b| b.payload.txs.get(loc.index as usize).cloned())
                        .and_then(|t| t.tx.kind.asset()),
                    Outcome::Success { .. } => None,
                };
                let decimals = |a: &AssetCode| match db.state(&StateKey::Asset(*a)) {
                    Ok(Some(StateValue::Asset(info))) => Some(info.decimals),
                    _ => None,
                };
                Some(receipt(&r, asset, &decimals))
            }
            None => None,
        };
        let block_id = db.block_id_at(loc.height).map_err(internal)?;
        return Ok(TxStatus::Committed {
            hash: h,
            height: loc.height,
            index: loc.index,
            block_id: block_id.map(|id| hex::encode(id.0)),
            receipt: receipt_of,
        });
    }
    if lock(&ctx.admission.pool).contains(hash) {
        return Ok(TxStatus::Pending { hash: h });
    }
    match lock(&ctx.admission.rejections).get(hash) {
        Some(Ended::Rejected(r)) => {
            return Ok(TxStatus::Rejected {
                hash: h,
                why: rejection(r),
            })
        }
        Some(Ended::Dropped(r)) => {
            return Ok(TxStatus::Dropped {
                hash: h,
                why: rejection(r),
            })
        }
        None => {}
    }
    Ok(TxStatus::Unknown { hash: h })
}

pub fn account(ctx: &RpcContext, address: Address) -> Result<AccountView, ErrorObjectOwned> {
    let db = &ctx.ledger.db;
    // A rotated institution key's address answers with the account it
    // signs for (under that account's own address).
    let mut pool_sender = Address::default();
    let (address, account) = match db.state(&StateKey::Account(address)).map_err(internal)? {
        Some(StateValue::Account(a)) => (address, a),
        _ => match db.state(&StateKey::KeyAlias(address)).map_err(internal)? {
            Some(StateValue::KeyAlias(target)) => {
                match db.state(&StateKey::Account(target)).map_err(internal)? {
                    Some(StateValue::Account(a)) => (target, a),
                    _ => return Err(err(code::NOT_FOUND, format!("no account {address}"))),
                }
            }
            // A device key's address: its account, with the device's
            // sequence (what the device's next transaction carries).
            _ => match db.state(&StateKey::Device(address)).map_err(internal)? {
                Some(StateValue::Device(d)) => {
                    match db.state(&StateKey::Account(d.account)).map_err(internal)? {
                        Some(StateValue::Account(mut a)) => {
                            a.sequence = d.sequence;
                            pool_sender = address;
                            (d.account, a)
                        }
                        _ => return Err(err(code::NOT_FOUND, format!("no account {address}"))),
                    }
                }
                _ => return Err(err(code::NOT_FOUND, format!("no account {address}"))),
            },
        },
    };
    let mut balances = std::collections::BTreeMap::new();
    let mut balances_decimal = std::collections::BTreeMap::new();
    let mut held = std::collections::BTreeMap::new();
    let mut available = std::collections::BTreeMap::new();
    // Every asset, those added by vote too.
    for code in consortium(ctx)?.assets {
        if let Some(StateValue::Balance(b)) = db
            .state(&StateKey::Balance(address, code))
            .map_err(internal)?
        {
            balances.insert(code.to_string(), b.balance.0.to_string());
            if b.held.0 > 0 {
                held.insert(code.to_string(), b.held.0.to_string());
            }
            available.insert(code.to_string(), b.available().0.to_string());
            if let Some(StateValue::Asset(info)) =
                db.state(&StateKey::Asset(code)).map_err(internal)?
            {
                balances_decimal
                    .insert(code.to_string(), amount::format(b.balance.0, info.decimals));
            }
        }
    }
    let (kind, tier) = match account.kind {
        AccountKind::Customer { tier, .. } => ("customer", Some(tier.0)),
        AccountKind::Institution => ("institution", None),
        AccountKind::Regulator => ("regulator", None),
        AccountKind::Retired => ("retired", None),
    };
    let executed = ctx.ledger.executed();
    let mut limits = std::collections::BTreeMap::new();
    if let Some(tier) = tier {
        let params = params(ctx)?;
        let today = params.day_of(executed.timestamp_ms);
        for l in params.tier(Tier(tier)).map_or(&[][..], |t| &t.limits) {
            let holding = match db
                .state(&StateKey::Balance(address, l.asset))
                .map_err(internal)?
            {
                Some(StateValue::Balance(b)) => b,
                _ => Default::default(),
            };
            // Outflow of an earlier day no longer counts.
            let spent = if holding.outflow.day == today {
                holding.outflow.spent.0
            } else {
                0
            };
            limits.insert(
                l.asset.to_string(),
                hutong_wire::rpc::SpendingView {
                    spent_today: spent.to_string(),
                    daily_max: l.daily_max.0.to_string(),
                    remaining_today: l.daily_max.0.saturating_sub(spent).to_string(),
                    single_max: l.single_max.0.to_string(),
                    step_up_threshold: l.step_up_threshold.map(|t| t.0.to_string()),
                },
            );
        }
    }
    let pool_sender = if pool_sender == Address::default() {
        address
    } else {
        pool_sender
    };
    let next_sequence = lock(&ctx.admission.pool).next_sequence(&pool_sender, account.sequence.0);
    let amount_freezes = match db
        .state(&StateKey::AmountFreezes(address))
        .map_err(internal)?
    {
        Some(StateValue::AmountFreezes(list)) => list
            .iter()
            .map(|f| AmountFreezeView {
                id: f.id,
                asset: f.asset.to_string(),
                amount: f.amount.0.to_string(),
                reason: f.freeze.reason.name().to_string(),
                by: f.freeze.by.to_string(),
                reference: String::from_utf8_lossy(&f.reference).into_owned(),
                expires_at_ms: f.expires_at.map(|t| t.0),
            })
            .collect(),
        _ => Vec::new(),
    };
    let status = match (account.frozen, account.restriction) {
        (Some(_), _) => "frozen",
        (None, Some(r)) => r.state.name(),
        (None, None) => "active",
    };
    Ok(AccountView {
        address: address.to_string(),
        kind: kind.to_string(),
        tier,
        institution: account.institution.to_string(),
        sequence: account.sequence.0,
        next_sequence,
        frozen: account.frozen.map(|f| FreezeView {
            reason: f.reason.name().to_string(),
            by: f.by.to_string(),
        }),
        status: status.to_string(),
        restriction: account.restriction.map(|r| RestrictionView {
            state: r.state.name().to_string(),
            reason: r.reason.name().to_string(),
            by: r.by.to_string(),
            expires_at_ms: r.expires_at.map(|t| t.0),
        }),
        balances,
        held,
        available,
        amount_freezes,
        balances_decimal,
        limits,
        height: executed.height,
    })
}

/// A hold by payer and id (`getHold`): open, or ended while its id is
/// remembered (see `hutong_runtime::hold`).
pub fn hold(
    ctx: &RpcContext,
    payer: Address,
    hold_id: hutong_runtime::TransferId,
) -> Result<HoldView, ErrorObjectOwned> {
    let db = &ctx.ledger.db;
    let Some(h) = hutong_runtime::hold::hold_status(db, payer, hold_id).map_err(internal)? else {
        return Err(err(
            code::NOT_FOUND,
            format!("no hold {hold_id} of {payer} (never placed, or its id is forgotten)"),
        ));
    };
    Ok(HoldView {
        payer: payer.to_string(),
        hold_id: hold_id.to_string(),
        payee: h.payee.to_string(),
        asset: h.asset.to_string(),
        amount: h.amount.0.to_string(),
        expires_at_ms: h.expires_at.0,
        state: h.state.name().to_string(),
        captured: match h.state {
            hutong_runtime::hold::HoldState::Captured { amount } => Some(amount.0.to_string()),
            _ => None,
        },
        height: ctx.ledger.executed().height,
    })
}

/// The mandates an account granted (`getMandates`).
pub fn mandates(ctx: &RpcContext, account: Address) -> Result<MandatesView, ErrorObjectOwned> {
    let db = &ctx.ledger.db;
    let executed = ctx.ledger.executed();
    let now = hutong_runtime::TimestampMs(executed.timestamp_ms);
    if db
        .state(&StateKey::Account(account))
        .map_err(internal)?
        .is_none()
    {
        return Err(err(code::NOT_FOUND, format!("no account {account}")));
    }
    let list = match db.state(&StateKey::Mandates(account)).map_err(internal)? {
        Some(StateValue::Mandates(list)) => list,
        _ => Vec::new(),
    };
    Ok(MandatesView {
        account: account.to_string(),
        mandates: list
            .iter()
            .map(|m| MandateView {
                mandate_id: m.id,
                grantee: m.grantee.to_string(),
                scope: ScopeView {
                    pay: m.scope.pay,
                    read: m.scope.read,
                },
                asset: m.asset.to_string(),
                payees: m.payees.iter().map(|p| p.to_string()).collect(),
                per_payment: m.per_payment.0.to_string(),
                per_period: m.per_period.0.to_string(),
                period_seconds: m.period_seconds,
                start_ms: m.start.0,
                end_ms: m.end.0,
                spent_in_period: m.spent_at(now).0.to_string(),
                active: m.active_at(now),
            })
            .collect(),
        height: executed.height,
    })
}

/// How far a read request's timestamp may be from the node's clock.
const READ_SKEW_MS: u64 = 5 * 60 * 1_000;

/// Why a signed read request's time is too far from the node's clock
/// (more than [`READ_SKEW_MS`]), or `None` when it is fresh.
fn stale(timestamp_ms: u64) -> Option<String> {
    let wall = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    (wall.abs_diff(timestamp_ms) > READ_SKEW_MS).then(|| {
        format!(
            "the request's time {timestamp_ms} is more than five minutes from the node's {wall}"
        )
    })
}

/// A read mandate's grantee reads the account (`readAccount`): the
/// request must be signed by the grantee's key, fresh, under a read
/// mandate in force at the last executed block.
pub fn read_account(
    ctx: &RpcContext,
    request: &hutong_wire::rpc::ReadAccountRequest,
) -> Result<AccountView, ErrorObjectOwned> {
    let refuse = |reason: &str, message: String| {
        ErrorObjectOwned::owned(
            code::MANDATE,
            message,
            Some(serde_json::json!({ "code": reason })),
        )
    };
    let target: Address = request.account.parse().map_err(|e| {
        err(
            code::INVALID_PARAMS,
            format!("account {:?}: {e}", request.account),
        )
    })?;
    let key = hutong_runtime::PublicKey::from_hex(&request.grantee_key)
        .map_err(|e| err(code::INVALID_PARAMS, format!("grantee_key: {e}")))?;
    let signature = hutong_runtime::Signature::from_hex(&request.signature)
        .map_err(|e| err(code::INVALID_PARAMS, format!("signature: {e}")))?;
    if let Some(why) = stale(request.timestamp_ms) {
        return Err(refuse("stale", why));
    }
    let digest = hutong_runtime::mandate::read_request_hash(
        ctx.ledger.chain_id,
        &target,
        request.mandate_id,
        request.timestamp_ms,
    );
    if key.verify(&digest.0, &signature).is_err() {
        return Err(refuse(
            "bad_signature",
            "the signature is not the grantee key's over this request".into(),
        ));
    }
    let list = match ctx
        .ledger
        .db
        .state(&StateKey::Mandates(target))
        .map_err(internal)?
    {
        Some(StateValue::Mandates(list)) => list,
        _ => Vec::new(),
    };
    // The grantee is the account this key signs for now: its own, or (an
    // institution's rotated key) the one its alias points to; a key
    // rotated away, a frozen or a retired account reads nothing.
    let key_address = Address::of(&key);
    let signs_for = match ctx
        .ledger
        .db
        .state(&StateKey::Account(key_address))
        .map_err(internal)?
    {
        Some(StateValue::Account(a)) => Some((key_address, a)),
        _ => match ctx
            .ledger
            .db
            .state(&StateKey::KeyAlias(key_address))
            .map_err(internal)?
        {
            Some(StateValue::KeyAlias(target)) => {
                match ctx
                    .ledger
                    .db
                    .state(&StateKey::Account(target))
                    .map_err(internal)?
                {
                    Some(StateValue::Account(a)) => Some((target, a)),
                    _ => None,
                }
            }
            _ => None,
        },
    };
    let grantee = match signs_for {
        Some((address, a))
            if a.owner == key
                && a.frozen.is_none()
                && a.kind != hutong_runtime::AccountKind::Retired =>
        {
            address
        }
        _ => {
            return Err(refuse(
                "unknown_mandate",
                format!(
                    "the key {} signs for no active account",
                    request.grantee_key
                ),
            ))
        }
    };
    let Some(mandate) = list
        .iter()
        .find(|m| m.id == request.mandate_id && m.grantee == grantee)
    else {
        return Err(refuse(
            "unknown_mandate",
            format!(
                "{target} granted no mandate {} to {grantee}",
                request.mandate_id
            ),
        ));
    };
    if !mandate.scope.read {
        return Err(refuse(
            "mandate_scope",
            format!("mandate {} does not allow reading", mandate.id),
        ));
    }
    let now = hutong_runtime::TimestampMs(ctx.ledger.executed().timestamp_ms);
    if !mandate.active_at(now) {
        return Err(refuse(
            "mandate_inactive",
            format!(
                "mandate {} is in force from {} to {} (ms), not at {}",
                mandate.id, mandate.start.0, mandate.end.0, now.0
            ),
        ));
    }
    account(ctx, target)
}

/// A settlement cycle's clearing (`getClearing`): a closed cycle's record,
/// or the open cycle's flows so far; without a cycle, the open one, else
/// the one before the current.
pub fn clearing(ctx: &RpcContext, cycle: Option<u64>) -> Result<ClearingView, ErrorObjectOwned> {
    use hutong_runtime::clearing::{positions, record_of, ClearingRecord, OpenCycle};
    let db = &ctx.ledger.db;
    let params = params(ctx)?;
    let executed = ctx.ledger.executed();
    let open: Option<OpenCycle> = match db.state(&StateKey::ClearingOpen).map_err(internal)? {
        Some(StateValue::ClearingOpen(o)) => Some(o),
        _ => None,
    };
    let closed = |c: u64| -> Result<Option<ClearingRecord>, ErrorObjectOwned> {
        match db.state(&StateKey::Clearing(c)).map_err(internal)? {
            Some(StateValue::Clearing(r)) => Ok(Some(r)),
            _ => Ok(None),
        }
    };
    let current = params.cycle_of(executed.timestamp_ms);
    let (record, is_closed) = match (cycle, open) {
        (Some(c), Some(o)) if o.cycle == c => (record_of(&params, o), false),
        (Some(c), _) => match closed(c)? {
            Some(r) => (r, true),
            None if c >= current => (
                record_of(
                    &params,
                    OpenCycle {
                        cycle: c,
                        flows: Vec::new(),
                    },
                ),
                false,
            ),
            None => {
                return Err(err(
                    code::NOT_FOUND,
                    format!("no clearing record of cycle {c}: no interbank flows in it"),
                ))
            }
        },
        (None, Some(o)) => (record_of(&params, o), false),
        (None, None) => match closed(current.saturating_sub(1))? {
            Some(r) => (r, true),
            None => (
                record_of(
                    &params,
                    OpenCycle {
                        cycle: current,
                        flows: Vec::new(),
                    },
                ),
                false,
            ),
        },
    };
    debug_assert_eq!(record.positions, positions(&record.flows));
    let names: std::collections::HashMap<Address, String> = consortium(ctx)?
        .members
        .iter()
        .map(|m| (m.account, m.name.clone()))
        .collect();
    let name = |a: &Address| names.get(a).cloned();
    Ok(ClearingView {
        cycle: record.cycle,
        start_ms: record.start_ms,
        end_ms: record.end_ms,
        closed: is_closed,
        flows: record
            .flows
            .iter()
            .map(|f| ClearingFlowView {
                from: f.from.to_string(),
                from_name: name(&f.from),
                to: f.to.to_string(),
                to_name: name(&f.to),
                asset: f.asset.to_string(),
                amount: f.amount.0.to_string(),
                count: f.count,
            })
            .collect(),
        positions: record
            .positions
            .iter()
            .map(|p| {
                let (owed, x) = p.net();
                NetPositionView {
                    institution: p.institution.to_string(),
                    name: name(&p.institution),
                    asset: p.asset.to_string(),
                    paid: p.paid.0.to_string(),
                    received: p.received.0.to_string(),
                    net: if owed || x.0 == 0 {
                        x.0.to_string()
                    } else {
                        format!("-{}", x.0)
                    },
                }
            })
            .collect(),
        height: executed.height,
    })
}

pub fn block(ctx: &RpcContext, q: BlockQuery) -> Result<BlockView, ErrorObjectOwned> {
    let db = &ctx.ledger.db;
    let stored = match (q.height, q.id) {
        (Some(h), None) => db.block_at(h).map_err(internal)?,
        (None, Some(id)) => {
            let h = parse_hash(&id)?;
            db.block(&hutong_consensus::types::Digest(h.0))
                .map_err(internal)?
        }
        _ => {
            return Err(err(
                code::INVALID_PARAMS,
                "give exactly one of height or id",
            ))
        }
    };
    let Some(stored) = stored else {
        return Err(err(code::NOT_FOUND, "no such block"));
    };
    let b = &stored.block;
    let height = b.height.0;
    // Only committed blocks: an uncommitted one fetched by id is marked.
    let committed = db.block_id_at(height).map_err(internal)? == Some(b.id());
    let result = db.result_at(height).map_err(internal)?;
    let certificate = match db.cert_from(height).map_err(internal)? {
        Some((at, qc)) if committed => Some(CertView {
            committed_by_height: at,
            round: qc.data.round.0,
            block_id: hex::encode(qc.data.block_id.0),
            signers: qc.signers.iter().map(|s| s.0).collect(),
            borsh_hex: hex::encode(borsh::to_vec(&qc).unwrap_or_default()),
        }),
        _ => None,
    };
    let claim = stored.payload.result;
    Ok(BlockView {
        height,
        id: hex::encode(b.id().0),
        committed,
        epoch: b.epoch.0,
        round: b.round.0,
        proposer: b.proposer.0,
        timestamp_ms: b.timestamp_ms,
        parent_id: hex::encode(b.parent_id().0),
        payload_digest: hex::encode(b.payload.0),
        tx_count: stored.payload.txs.len(),
        tx_root: hutong_runtime::block::tx_root(&stored.payload.txs).to_string(),
        txs: stored
            .payload
            .txs
            .iter()
            .map(|t| t.hash().to_string())
            .collect(),
        claimed_result: ClaimView {
            height: claim.height,
            state_root: claim.state_root.to_string(),
            receipts_root: claim.receipts_root.to_string(),
        },
        result: result.map(|r| RootsView {
            state_root: r.state_root.to_string(),
            receipts_root: r.receipts_root.to_string(),
        }),
        certificate,
    })
}

/// The consortium as of the latest executed block.
pub fn consortium(ctx: &RpcContext) -> Result<Consortium, ErrorObjectOwned> {
    match ctx
        .ledger
        .db
        .state(&StateKey::Consortium)
        .map_err(internal)?
    {
        Some(StateValue::Consortium(c)) => Ok(c),
        _ => Err(err(code::INTERNAL, "the state holds no consortium")),
    }
}

fn params(ctx: &RpcContext) -> Result<hutong_runtime::Params, ErrorObjectOwned> {
    match ctx.ledger.db.state(&StateKey::Params).map_err(internal)? {
        Some(StateValue::Params(p)) => Ok(p),
        _ => Err(err(code::INTERNAL, "the state holds no parameters")),
    }
}

/// Every asset, those added by vote too, from the state.
fn assets(ctx: &RpcContext) -> Result<Vec<AssetView>, ErrorObjectOwned> {
    let mut out = Vec::new();
    for code in consortium(ctx)?.assets {
        if let Some(StateValue::Asset(a)) = ctx
            .ledger
            .db
            .state(&StateKey::Asset(code))
            .map_err(internal)?
        {
            out.push(AssetView {
                code: a.code.to_string(),
                decimals: a.decimals,
                issuer: a.issuer.to_string(),
            });
        }
    }
    Ok(out)
}

/// `hutong_getParameters`.
pub fn parameters(ctx: &RpcContext) -> Result<ParametersView, ErrorObjectOwned> {
    let height = ctx.ledger.executed().height;
    let mut view = ParametersView::of(&consortium(ctx)?, &params(ctx)?, height);
    view.decimals = assets(ctx)?
        .into_iter()
        .map(|a| (a.code, a.decimals))
        .collect();
    let pool = lock(&ctx.admission.pool).config().clone();
    view.sizes = hutong_wire::gov::SizesView {
        tx_bytes_max: hutong_runtime::tx::TX_BYTES_MAX,
        memo_bytes_max: hutong_runtime::tx::MEMO_BYTES_MAX,
        batch_recipients_max: hutong_runtime::tx::BATCH_RECIPIENTS_MAX,
        submit_batch_max: hutong_wire::rpc::SUBMIT_BATCH_MAX,
        sequence_window: pool.sequence_window,
        per_sender_max: pool.per_sender_max,
    };
    Ok(view)
}

fn proposal_at(ctx: &RpcContext, id: u64) -> Result<Option<Proposal>, ErrorObjectOwned> {
    match ctx
        .ledger
        .db
        .state(&StateKey::Proposal(id))
        .map_err(internal)?
    {
        Some(StateValue::Proposal(p)) => Ok(Some(p)),
        _ => Ok(None),
    }
}

/// `hutong_getProposal`.
pub fn proposal(ctx: &RpcContext, id: u64) -> Result<ProposalView, ErrorObjectOwned> {
    let now = TimestampMs(ctx.ledger.executed().timestamp_ms);
    let c = consortium(ctx)?;
    match proposal_at(ctx, id)? {
        Some(p) => Ok(ProposalView::of(&p, &c, now)),
        None => Err(err(code::NOT_FOUND, format!("no proposal {id}"))),
    }
}

/// `hutong_getProposals`: newest first, one page.
pub fn proposals(ctx: &RpcContext, q: ProposalsQuery) -> Result<ProposalsPage, ErrorObjectOwned> {
    const STATUSES: [&str; 6] = [
        "open",
        "expired",
        "executed",
        "rejected",
        "withdrawn",
        "failed",
    ];
    if let Some(s) = q.status.as_deref().filter(|s| !STATUSES.contains(s)) {
        return Err(err(
            code::INVALID_PARAMS,
            format!("status {s:?}: expected one of {}", STATUSES.join(", ")),
        ));
    }
    let limit = q.limit.unwrap_or(20).clamp(1, PROPOSALS_PAGE_MAX) as usize;
    let next_id = match ctx
        .ledger
        .db
        .state(&StateKey::Proposals)
        .map_err(internal)?
    {
        Some(StateValue::Proposals(index)) => index.next_id,
        _ => 0,
    };
    let now = TimestampMs(ctx.ledger.executed().timestamp_ms);
    let c = consortium(ctx)?;
    let mut id = q.before.unwrap_or(next_id).min(next_id);
    let mut proposals = Vec::new();
    // Bounded: at most this many proposals are read for one page, however
    // rare the filtered status is.
    let mut budget = 10 * PROPOSALS_PAGE_MAX as usize;
    while id > 0 && proposals.len() < limit && budget > 0 {
        id -= 1;
        budget -= 1;
        let Some(p) = proposal_at(ctx, id)? else {
            continue;
        };
        let view = ProposalView::of(&p, &c, now);
        if q.status.as_deref().is_none_or(|s| s == view.status) {
            proposals.push(view);
        }
    }
    Ok(ProposalsPage {
        proposals,
        next: (id > 0).then_some(id),
    })
}

/// The node's status, as `hutong_status` returns it.
pub fn status(ctx: &RpcContext) -> StatusView {
    let executed = ctx.ledger.executed();
    let genesis = &ctx.ledger.genesis;
    let consensus = lock(&ctx.status.consensus).clone();
    StatusView {
        chain_id: ctx.ledger.chain_id.to_string(),
        consortium: genesis.consortium.clone(),
        role: ctx.status.role.name().to_string(),
        height: executed.height,
        block_id: hex::encode(executed.block_id.0),
        state_root: executed.state_root.to_string(),
        receipts_root: executed.receipts_root.to_string(),
        timestamp_ms: executed.timestamp_ms,
        consensus: consensus.clone(),
        validators: match consensus.validators {
            0 => ctx.status.validators,
            n => n as usize,
        },
        assets: assets(ctx).unwrap_or_else(|_| {
            genesis
                .assets
                .iter()
                .map(|a| AssetView {
                    code: a.code.to_string(),
                    decimals: a.decimals,
                    issuer: a.issuer.to_string(),
                })
                .collect()
        }),
        peers: lock(&ctx.status.peers).clone(),
        mempool: lock(&ctx.admission.pool).stats(),
        halted: ctx.status.halt.reason(),
        history: history(ctx),
    }
}

fn history(ctx: &RpcContext) -> hutong_wire::rpc::HistoryView {
    let db = &ctx.ledger.db;
    let oldest_block = db.oldest_block().unwrap_or(1);
    let joined_at = db.joined_at().ok().flatten();
    let keep_blocks = ctx.status.keep_blocks;
    hutong_wire::rpc::HistoryView {
        complete: oldest_block <= 1
            && keep_blocks.is_none()
            && ctx.status.keep_states.is_none()
            && joined_at.is_none(),
        oldest_block,
        keep_blocks,
        keep_states: ctx.status.keep_states,
        oldest_state: db.oldest_state().unwrap_or(0),
        joined_at,
    }
}

/// `hutong_checkListing`: whether a listing key is on the shared
/// blacklist.
pub fn check_listing(
    ctx: &RpcContext,
    listing_key: &Hash,
) -> Result<hutong_wire::rpc::ListingView, ErrorObjectOwned> {
    let height = ctx.ledger.executed().height;
    let listing = match ctx
        .ledger
        .db
        .state(&StateKey::Listing(*listing_key))
        .map_err(internal)?
    {
        Some(StateValue::Listing(l)) => Some(l),
        _ => None,
    };
    Ok(hutong_wire::rpc::ListingView {
        listing_key: listing_key.to_string(),
        listed: listing.is_some(),
        listed_by: listing.as_ref().map(|l| l.listed_by.to_string()),
        reason: listing.as_ref().map(|l| l.reason.name().to_string()),
        reference: listing
            .as_ref()
            .map(|l| String::from_utf8_lossy(&l.reference).into_owned()),
        listed_at_ms: listing.as_ref().map(|l| l.listed_at.0),
        height,
    })
}

fn memo_key_of(
    ctx: &RpcContext,
    institution: &Address,
) -> Result<Option<String>, ErrorObjectOwned> {
    Ok(
        match ctx
            .ledger
            .db
            .state(&StateKey::MemoKey(*institution))
            .map_err(internal)?
        {
            Some(StateValue::MemoKey(k)) => Some(hex::encode(k)),
            _ => None,
        },
    )
}

/// `hutong_getMemoKeys`: the keys a memo between `accounts` is sealed to.
pub fn memo_keys(
    ctx: &RpcContext,
    accounts: &[String],
) -> Result<hutong_wire::rpc::MemoKeysView, ErrorObjectOwned> {
    if accounts.is_empty() || accounts.len() > hutong_wire::rpc::MEMO_KEYS_ACCOUNTS_MAX {
        return Err(err(
            code::INVALID_PARAMS,
            format!(
                "accounts: 1 to {} addresses, not {}",
                hutong_wire::rpc::MEMO_KEYS_ACCOUNTS_MAX,
                accounts.len()
            ),
        ));
    }
    let height = ctx.ledger.executed().height;
    let params = params(ctx)?;
    let mut out = Vec::with_capacity(accounts.len());
    for a in accounts {
        let address: Address = a
            .parse()
            .map_err(|e| err(code::INVALID_PARAMS, format!("account {a:?}: {e}")))?;
        let account = match ctx
            .ledger
            .db
            .state(&StateKey::Account(address))
            .map_err(internal)?
        {
            Some(StateValue::Account(acc)) => acc,
            _ => return Err(err(code::NOT_FOUND, format!("no account {address}"))),
        };
        out.push(hutong_wire::rpc::AccountMemoKey {
            account: address.to_string(),
            institution: account.institution.to_string(),
            memo_key: memo_key_of(ctx, &account.institution)?,
        });
    }
    Ok(hutong_wire::rpc::MemoKeysView {
        regulator: params.identity.map(|i| hex::encode(i.hpke_key)),
        accounts: out,
        height,
    })
}

/// `hutong_readMemo`: a transaction's sealed memo in clear, for one of its
/// parties (its sender, an account it credited or debited, or their
/// institution), opened with this node's memo key.
pub fn read_memo(
    ctx: &RpcContext,
    request: &hutong_wire::rpc::ReadMemoRequest,
) -> Result<hutong_wire::rpc::MemoView, ErrorObjectOwned> {
    let refuse = |reason: &str, message: String| {
        ErrorObjectOwned::owned(
            code::AUTH,
            message,
            Some(serde_json::json!({ "code": reason })),
        )
    };
    let Some(memo_key) = &ctx.memo_key else {
        return Err(err(
            code::NOT_FOUND,
            "this node holds no memo key ([memo] key in its config)",
        ));
    };
    let hash = parse_hash(&request.tx_hash)?;
    let key = hutong_runtime::PublicKey::from_hex(&request.key)
        .map_err(|e| err(code::INVALID_PARAMS, format!("key: {e}")))?;
    let signature = hutong_runtime::Signature::from_hex(&request.signature)
        .map_err(|e| err(code::INVALID_PARAMS, format!("signature: {e}")))?;
    if let Some(why) = stale(request.timestamp_ms) {
        return Err(refuse("stale", why));
    }
    let message =
        hutong_wire::rpc::read_memo_message(&ctx.ledger.chain_id.0, &hash.0, request.timestamp_ms);
    if key.verify(&message, &signature).is_err() {
        return Err(refuse(
            "bad_signature",
            "the signature is not this key's over this request".into(),
        ));
    }
    let db = &ctx.ledger.db;
    let not_found = || {
        err(
            code::NOT_FOUND,
            format!("no committed transaction {hash} with a memo here"),
        )
    };
    let loc = db
        .tx_location(&hash)
        .map_err(internal)?
        .ok_or_else(not_found)?;
    let stx = db
        .block_at(loc.height)
        .map_err(internal)?
        .and_then(|b| b.payload.txs.get(loc.index as usize).cloned())
        .ok_or_else(not_found)?;
    if stx.tx.memo.is_empty() {
        return Err(not_found());
    }
    // The parties: the sender and the accounts the receipt moved money
    // of, and their institutions.
    let mut parties = vec![stx.tx.sender_address()];
    if let Some(receipt) = db
        .receipts_at(loc.height)
        .map_err(internal)?
        .and_then(|rs| rs.get(loc.index as usize).cloned())
    {
        if let Outcome::Success { effects } = &receipt.outcome {
            for e in effects {
                if let Effect::Debit { account, .. } | Effect::Credit { account, .. } = e {
                    parties.push(*account);
                }
            }
        }
    }
    // The account the key signs for now (a rotated-away key signs for
    // none); a party, or a party's institution.
    let asker = account_of_key(db, &key).map_err(internal)?.map(|(a, _)| a);
    let mut allowed = false;
    if let Some(asker) = asker {
        for p in &parties {
            if *p == asker {
                allowed = true;
                break;
            }
            if let Some(StateValue::Account(acc)) =
                db.state(&StateKey::Account(*p)).map_err(internal)?
            {
                if acc.institution == asker {
                    allowed = true;
                    break;
                }
            }
        }
    }
    if !allowed {
        return Err(refuse(
            "not_a_party",
            format!(
                "key {} is not a party's to transaction {hash}, nor its institution's",
                request.key
            ),
        ));
    }
    let context = hutong_privacy::envelope::memo_context(
        &ctx.ledger.chain_id.0,
        &stx.tx.sender.0,
        stx.tx.sequence.0,
    );
    let text =
        hutong_privacy::envelope::open_memo(memo_key, &context, &stx.tx.memo).map_err(|e| {
            err(
                code::NOT_FOUND,
                format!(
                    "this node's memo key does not open the memo ({}): {e}",
                    e.code()
                ),
            )
        })?;
    Ok(hutong_wire::rpc::MemoView {
        tx_hash: hash.to_string(),
        text: String::from_utf8_lossy(&text).into_owned(),
        text_hex: hex::encode(&text),
    })
}

/// The account a key signs for now, as the ledger resolves it: the
/// account at the key's address, or a rotated institution key's alias;
/// `None` for a key no account's current owner key is (a rotated-away
/// key among them).
pub fn account_of_key(
    db: &crate::store::Db,
    key: &hutong_runtime::PublicKey,
) -> Result<Option<(Address, hutong_runtime::Account)>, crate::store::DbError> {
    let at = Address::of(key);
    let address = match db.state(&StateKey::Account(at))? {
        Some(StateValue::Account(_)) => at,
        _ => match db.state(&StateKey::KeyAlias(at))? {
            Some(StateValue::KeyAlias(target)) => target,
            _ => return Ok(None),
        },
    };
    Ok(match db.state(&StateKey::Account(address))? {
        Some(StateValue::Account(acc)) if acc.owner == *key => Some((address, acc)),
        _ => None,
    })
}

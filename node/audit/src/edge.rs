//! Transaction legs: one leg of one committed transaction, as the
//! regulator's indexes keep it and its detectors read it (who, to whom,
//! which institutions, what, when, whether it succeeded).

use borsh::{BorshDeserialize, BorshSerialize};
use hutong_runtime::crypto::Hash;
use hutong_runtime::receipt::{Effect, Outcome};
use hutong_runtime::{Address, Amount, AssetCode, Receipt, SignedTransaction, TxKind};
use serde::{Deserialize, Serialize};

use crate::alerts::Alert;

/// What a transaction leg did to the accounts it names.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    BorshSerialize,
    BorshDeserialize,
    Serialize,
    Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum EdgeKind {
    Transfer,
    /// One leg of a batch transfer.
    Payout,
    Mint,
    Burn,
    Freeze,
    Unfreeze,
    OpenAccount,
    SetTier,
    /// A regulator anchored its audit-query log's head on the ledger.
    AnchorAuditLog,
    /// A payer reserved money for a payee (moves nothing yet).
    Hold,
    /// A hold's capture: the money moves from the payer to the payee
    /// (whoever signed it). With its hold, one payment.
    Capture,
    /// A payee released a hold (from the payee to the payer, nothing
    /// moves).
    Void,
    /// Part of an account's balance frozen, by its institution or a
    /// regulator.
    FreezeAmount,
    ReleaseFreeze,
    /// An account made receive-only or send-only, or back to normal.
    SetAccountState,
    /// An account's owner registered or revoked a device key (the leg
    /// goes to the device key's address).
    RegisterDevice,
    RevokeDevice,
    /// One leg of a payment versus payment: leg 0 from the payer to the
    /// FX provider, leg 1 from the provider to the payee.
    PvpLeg,
    /// An account's owner granted a mandate (the leg goes to the grantee)
    /// or revoked one.
    GrantMandate,
    RevokeMandate,
    /// A payment under a mandate, from the granting account to the payee
    /// (the grantee signed it).
    MandatePayment,
}

impl EdgeKind {
    /// Its name on the wire (`transfer`, `open_account`…).
    pub fn name(self) -> &'static str {
        match self {
            EdgeKind::Transfer => "transfer",
            EdgeKind::Payout => "payout",
            EdgeKind::Mint => "mint",
            EdgeKind::Burn => "burn",
            EdgeKind::Freeze => "freeze",
            EdgeKind::Unfreeze => "unfreeze",
            EdgeKind::OpenAccount => "open_account",
            EdgeKind::SetTier => "set_tier",
            EdgeKind::AnchorAuditLog => "anchor_audit_log",
            EdgeKind::Hold => "hold",
            EdgeKind::Capture => "capture",
            EdgeKind::Void => "void",
            EdgeKind::FreezeAmount => "freeze_amount",
            EdgeKind::ReleaseFreeze => "release_freeze",
            EdgeKind::SetAccountState => "set_account_state",
            EdgeKind::RegisterDevice => "register_device",
            EdgeKind::RevokeDevice => "revoke_device",
            EdgeKind::PvpLeg => "pvp",
            EdgeKind::GrantMandate => "grant_mandate",
            EdgeKind::RevokeMandate => "revoke_mandate",
            EdgeKind::MandatePayment => "mandate_payment",
        }
    }

    /// Whether money moves from `from` to `to` along this edge (what fund
    /// tracing follows).
    pub fn moves_money(self) -> bool {
        matches!(
            self,
            EdgeKind::Transfer
                | EdgeKind::Payout
                | EdgeKind::Mint
                | EdgeKind::Capture
                | EdgeKind::PvpLeg
                | EdgeKind::MandatePayment
        )
    }
}

/// One leg of one committed transaction. A transfer has one leg, a batch
/// transfer one per payout; actions on an account (freeze, tier change,
/// opening) have one leg from the signer to the account, with no asset.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Edge {
    pub height: u64,
    pub index: u32,
    pub leg: u16,
    pub timestamp_ms: u64,
    pub tx_hash: Hash,
    pub kind: EdgeKind,
    pub from: Address,
    pub from_institution: Address,
    pub to: Address,
    pub to_institution: Address,
    pub asset: Option<AssetCode>,
    pub amount: Amount,
    /// `None` when the transaction succeeded; its failure code otherwise.
    pub failure: Option<String>,
}

/// Bytes of an edge's key: height ‖ index ‖ leg, big-endian, so keys sort
/// in ledger order.
pub const EDGE_KEY_BYTES: usize = 14;

impl Edge {
    pub fn key(&self) -> [u8; EDGE_KEY_BYTES] {
        edge_key(self.height, self.index, self.leg)
    }

    pub fn succeeded(&self) -> bool {
        self.failure.is_none()
    }

    /// A successful movement of money (what tracing, flows and most alerts
    /// look at).
    pub fn is_movement(&self) -> bool {
        self.succeeded()
            && self.kind.moves_money()
            && self.asset.is_some()
            && self.amount.0 > 0
            && self.from != self.to
    }
}

pub fn edge_key(height: u64, index: u32, leg: u16) -> [u8; EDGE_KEY_BYTES] {
    let mut key = [0u8; EDGE_KEY_BYTES];
    key[..8].copy_from_slice(&height.to_be_bytes());
    key[8..12].copy_from_slice(&index.to_be_bytes());
    key[12..].copy_from_slice(&leg.to_be_bytes());
    key
}

/// What the regulator writes with a block, in the block's batch.
#[derive(Debug, Default)]
pub struct AuditWrite {
    pub edges: Vec<Edge>,
    pub alerts: Vec<Alert>,
    /// The block certifies the execution result of this height for the
    /// first time (the proof of a state or receipt at that height starts
    /// from this block).
    pub first_claim: Option<u64>,
    /// Accounts the block opened for an owner: (owner, account).
    pub owners: Vec<(Hash, Address)>,
    /// The listing keys of the owners whose envelopes the block opened:
    /// (listing key, owner), so that a later listing finds the owner's
    /// accounts.
    pub listing_owners: Vec<(Hash, Hash)>,
}

/// The legs of a block's transactions. `institution_of` names the member
/// institution of an account (the zero address when unknown).
pub fn edges_of_block(
    height: u64,
    timestamp_ms: u64,
    txs: &[SignedTransaction],
    hashes: &[Hash],
    receipts: &[Receipt],
    institution_of: &mut dyn FnMut(&Address) -> Address,
) -> Vec<Edge> {
    let mut out = Vec::with_capacity(txs.len());
    for (index, ((tx, hash), receipt)) in txs.iter().zip(hashes).zip(receipts).enumerate() {
        let failure = receipt.failure().map(|reason| reason.code().to_string());
        let sender = tx.tx.sender_address();
        let effects = match &receipt.outcome {
            Outcome::Success { effects } => Some(effects.as_slice()),
            _ => None,
        };
        for l in legs_of(&tx.tx.kind, sender, effects) {
            out.push(Edge {
                height,
                index: index as u32,
                leg: l.leg,
                timestamp_ms,
                tx_hash: *hash,
                kind: l.kind,
                from: l.from,
                from_institution: institution_of(&l.from),
                to: l.to,
                to_institution: institution_of(&l.to),
                asset: l.asset,
                amount: l.amount,
                failure: failure.clone(),
            });
        }
    }
    out
}

/// One leg before the block's context is added.
struct Leg {
    from: Address,
    leg: u16,
    kind: EdgeKind,
    to: Address,
    asset: Option<AssetCode>,
    amount: Amount,
}

fn leg(
    from: Address,
    kind: EdgeKind,
    to: Address,
    asset: Option<AssetCode>,
    amount: Amount,
) -> Leg {
    Leg {
        from,
        leg: 0,
        kind,
        to,
        asset,
        amount,
    }
}

/// The legs of one transaction; `effects` are its receipt's when it
/// succeeded.
fn legs_of(kind: &TxKind, sender: Address, effects: Option<&[Effect]>) -> Vec<Leg> {
    let effects = effects.unwrap_or(&[]);
    let one = |l: Leg| vec![l];
    match kind {
        TxKind::Transfer {
            to, asset, amount, ..
        } => one(leg(sender, EdgeKind::Transfer, *to, Some(*asset), *amount)),
        TxKind::BatchTransfer { asset, payouts, .. } => payouts
            .iter()
            .enumerate()
            .map(|(i, p)| Leg {
                leg: i as u16,
                ..leg(sender, EdgeKind::Payout, p.to, Some(*asset), p.amount)
            })
            .collect(),
        TxKind::Mint { to, asset, amount } => {
            one(leg(sender, EdgeKind::Mint, *to, Some(*asset), *amount))
        }
        TxKind::Burn { asset, amount } => {
            one(leg(sender, EdgeKind::Burn, sender, Some(*asset), *amount))
        }
        TxKind::Freeze { account, .. } => {
            one(leg(sender, EdgeKind::Freeze, *account, None, Amount(0)))
        }
        TxKind::Unfreeze { account } => {
            one(leg(sender, EdgeKind::Unfreeze, *account, None, Amount(0)))
        }
        TxKind::SetTier { account, .. } => {
            one(leg(sender, EdgeKind::SetTier, *account, None, Amount(0)))
        }
        TxKind::OpenAccount { owner, .. } => one(leg(
            sender,
            EdgeKind::OpenAccount,
            Address::of(owner),
            None,
            Amount(0),
        )),
        TxKind::AnchorAuditLog { .. } => one(leg(
            sender,
            EdgeKind::AnchorAuditLog,
            sender,
            None,
            Amount(0),
        )),
        // Governance moves no money and touches no customer account:
        // it is read through `hutong_getProposals`, not this graph.
        TxKind::Propose { .. } | TxKind::Vote { .. } | TxKind::Withdraw { .. } => Vec::new(),
        // Nor do the blacklist and memo keys: listing keys name no
        // account (the regulator's node links them to owners itself).
        TxKind::ListIdentity { .. } | TxKind::DelistIdentity { .. } | TxKind::SetMemoKey { .. } => {
            Vec::new()
        }
        TxKind::Hold {
            to, asset, amount, ..
        } => {
            // A device key signs for its account: the payer is the
            // account the receipt names.
            let payer = effects.iter().find_map(|e| match e {
                Effect::HoldPlaced { payer, .. } => Some(*payer),
                _ => None,
            });
            one(leg(
                payer.unwrap_or(sender),
                EdgeKind::Hold,
                *to,
                Some(*asset),
                *amount,
            ))
        }
        TxKind::Capture { payer, amount, .. } => {
            // The payee is in the hold, named by the receipt's credit.
            let credit = effects.iter().find_map(|e| match e {
                Effect::Credit { account, asset, .. } => Some((*account, *asset)),
                _ => None,
            });
            let (to, asset) = match credit {
                Some((to, asset)) => (to, Some(asset)),
                None => (sender, None),
            };
            one(leg(*payer, EdgeKind::Capture, to, asset, *amount))
        }
        TxKind::Void { payer, .. } => {
            let released = effects.iter().find_map(|e| match e {
                Effect::HoldVoided { released, .. } => Some(*released),
                _ => None,
            });
            one(leg(
                sender,
                EdgeKind::Void,
                *payer,
                None,
                released.unwrap_or(Amount(0)),
            ))
        }
        TxKind::FreezeAmount {
            account,
            asset,
            amount,
            ..
        } => one(leg(
            sender,
            EdgeKind::FreezeAmount,
            *account,
            Some(*asset),
            *amount,
        )),
        TxKind::ReleaseFreeze { account, .. } => one(leg(
            sender,
            EdgeKind::ReleaseFreeze,
            *account,
            None,
            Amount(0),
        )),
        TxKind::SetAccountState { account, .. } => one(leg(
            sender,
            EdgeKind::SetAccountState,
            *account,
            None,
            Amount(0),
        )),
        TxKind::RegisterDevice { key, .. } => one(leg(
            sender,
            EdgeKind::RegisterDevice,
            Address::of(key),
            None,
            Amount(0),
        )),
        TxKind::RevokeDevice { key } => one(leg(
            sender,
            EdgeKind::RevokeDevice,
            Address::of(key),
            None,
            Amount(0),
        )),
        TxKind::Linked { legs } => {
            // Each leg as the kind of the same name, with its own group of
            // the receipt's effects (opened by an `Effect::Leg` marker).
            let groups = leg_groups(effects);
            legs.iter()
                .enumerate()
                .flat_map(|(i, op)| {
                    let kind = op.kind();
                    let group = groups.get(i).copied().unwrap_or(&[]);
                    legs_of(&kind, sender, Some(group))
                        .into_iter()
                        .map(move |l| Leg { leg: i as u16, ..l })
                })
                .collect()
        }
        TxKind::Pvp { quote, pay, to, .. } => {
            // What the payee received is in the receipt; for a failed
            // payment, what the quote would have given.
            let received = effects
                .iter()
                .find_map(|e| match e {
                    Effect::Exchanged { received, .. } => Some(*received),
                    _ => None,
                })
                .or_else(|| hutong_runtime::exchange::convert(*pay, quote.rate))
                .unwrap_or(Amount(0));
            vec![
                leg(
                    sender,
                    EdgeKind::PvpLeg,
                    quote.provider,
                    Some(quote.sell),
                    *pay,
                ),
                Leg {
                    leg: 1,
                    ..leg(
                        quote.provider,
                        EdgeKind::PvpLeg,
                        *to,
                        Some(quote.buy),
                        received,
                    )
                },
            ]
        }
        TxKind::GrantMandate { grantee, asset, .. } => one(leg(
            sender,
            EdgeKind::GrantMandate,
            *grantee,
            Some(*asset),
            Amount(0),
        )),
        TxKind::RevokeMandate { .. } => {
            let grantee = effects.iter().find_map(|e| match e {
                Effect::MandateRevoked { grantee, .. } => Some(*grantee),
                _ => None,
            });
            one(leg(
                sender,
                EdgeKind::RevokeMandate,
                grantee.unwrap_or(sender),
                None,
                Amount(0),
            ))
        }
        TxKind::MandatePay {
            payer,
            to,
            asset,
            amount,
            ..
        } => one(leg(
            *payer,
            EdgeKind::MandatePayment,
            *to,
            Some(*asset),
            *amount,
        )),
    }
}

/// A linked transaction's effects, one slice per leg.
fn leg_groups(effects: &[Effect]) -> Vec<&[Effect]> {
    let starts: Vec<usize> = effects
        .iter()
        .enumerate()
        .filter(|(_, e)| matches!(e, Effect::Leg { .. }))
        .map(|(i, _)| i)
        .collect();
    starts
        .iter()
        .enumerate()
        .map(|(n, &s)| {
            let end = starts.get(n + 1).copied().unwrap_or(effects.len());
            &effects[s + 1..end]
        })
        .collect()
}

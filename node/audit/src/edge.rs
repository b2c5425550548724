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
        }
    }

    /// Whether money moves from `from` to `to` along this edge (what fund
    /// tracing follows).
    pub fn moves_money(self) -> bool {
        matches!(
            self,
            EdgeKind::Transfer | EdgeKind::Payout | EdgeKind::Mint | EdgeKind::Capture
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
    /// Accounts the block opened for an owner: (identity commitment,
    /// account).
    pub owners: Vec<(Hash, Address)>,
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
        let failure = match &receipt.outcome {
            Outcome::Success { .. } => None,
            Outcome::Failed { reason } => Some(reason.code().to_string()),
        };
        let sender = tx.tx.sender_address();
        let mut push =
            |from: Address,
             leg: u16,
             kind: EdgeKind,
             to: Address,
             asset: Option<AssetCode>,
             amount: Amount,
             institution_of: &mut dyn FnMut(&Address) -> Address| {
                out.push(Edge {
                    height,
                    index: index as u32,
                    leg,
                    timestamp_ms,
                    tx_hash: *hash,
                    kind,
                    from,
                    from_institution: institution_of(&from),
                    to,
                    to_institution: institution_of(&to),
                    asset,
                    amount,
                    failure: failure.clone(),
                });
            };
        match &tx.tx.kind {
            TxKind::Transfer {
                to, asset, amount, ..
            } => push(
                sender,
                0,
                EdgeKind::Transfer,
                *to,
                Some(*asset),
                *amount,
                institution_of,
            ),
            TxKind::BatchTransfer { asset, payouts, .. } => {
                for (leg, p) in payouts.iter().enumerate() {
                    push(
                        sender,
                        leg as u16,
                        EdgeKind::Payout,
                        p.to,
                        Some(*asset),
                        p.amount,
                        institution_of,
                    );
                }
            }
            TxKind::Mint { to, asset, amount } => push(
                sender,
                0,
                EdgeKind::Mint,
                *to,
                Some(*asset),
                *amount,
                institution_of,
            ),
            TxKind::Burn { asset, amount } => push(
                sender,
                0,
                EdgeKind::Burn,
                sender,
                Some(*asset),
                *amount,
                institution_of,
            ),
            TxKind::Freeze { account, .. } => push(
                sender,
                0,
                EdgeKind::Freeze,
                *account,
                None,
                Amount(0),
                institution_of,
            ),
            TxKind::Unfreeze { account } => push(
                sender,
                0,
                EdgeKind::Unfreeze,
                *account,
                None,
                Amount(0),
                institution_of,
            ),
            TxKind::SetTier { account, .. } => push(
                sender,
                0,
                EdgeKind::SetTier,
                *account,
                None,
                Amount(0),
                institution_of,
            ),
            TxKind::OpenAccount { owner, .. } => push(
                sender,
                0,
                EdgeKind::OpenAccount,
                Address::of(owner),
                None,
                Amount(0),
                institution_of,
            ),
            TxKind::AnchorAuditLog { .. } => push(
                sender,
                0,
                EdgeKind::AnchorAuditLog,
                sender,
                None,
                Amount(0),
                institution_of,
            ),
            // Governance moves no money and touches no customer account:
            // it is read through `hutong_getProposals`, not this graph.
            TxKind::Propose { .. } | TxKind::Vote { .. } | TxKind::Withdraw { .. } => {}
            TxKind::Hold {
                to, asset, amount, ..
            } => {
                // A device key signs for its account: the payer is the
                // account the receipt names.
                let payer = match &receipt.outcome {
                    Outcome::Success { effects } => effects.iter().find_map(|e| match e {
                        Effect::HoldPlaced { payer, .. } => Some(*payer),
                        _ => None,
                    }),
                    Outcome::Failed { .. } => None,
                };
                push(
                    payer.unwrap_or(sender),
                    0,
                    EdgeKind::Hold,
                    *to,
                    Some(*asset),
                    *amount,
                    institution_of,
                )
            }
            TxKind::Capture { payer, amount, .. } => {
                // The payee is in the hold, named by the receipt's credit.
                let credit = match &receipt.outcome {
                    Outcome::Success { effects } => effects.iter().find_map(|e| match e {
                        Effect::Credit { account, asset, .. } => Some((*account, *asset)),
                        _ => None,
                    }),
                    Outcome::Failed { .. } => None,
                };
                let (to, asset) = match credit {
                    Some((to, asset)) => (to, Some(asset)),
                    None => (sender, None),
                };
                push(
                    *payer,
                    0,
                    EdgeKind::Capture,
                    to,
                    asset,
                    *amount,
                    institution_of,
                )
            }
            TxKind::Void { payer, .. } => {
                let released = match &receipt.outcome {
                    Outcome::Success { effects } => effects.iter().find_map(|e| match e {
                        Effect::HoldVoided { released, .. } => Some(*released),
                        _ => None,
                    }),
                    Outcome::Failed { .. } => None,
                };
                push(
                    sender,
                    0,
                    EdgeKind::Void,
                    *payer,
                    None,
                    released.unwrap_or(Amount(0)),
                    institution_of,
                )
            }
            TxKind::FreezeAmount {
                account,
                asset,
                amount,
                ..
            } => push(
                sender,
                0,
                EdgeKind::FreezeAmount,
                *account,
                Some(*asset),
                *amount,
                institution_of,
            ),
            TxKind::ReleaseFreeze { account, .. } => push(
                sender,
                0,
                EdgeKind::ReleaseFreeze,
                *account,
                None,
                Amount(0),
                institution_of,
            ),
            TxKind::SetAccountState { account, .. } => push(
                sender,
                0,
                EdgeKind::SetAccountState,
                *account,
                None,
                Amount(0),
                institution_of,
            ),
            TxKind::RegisterDevice { key, .. } => push(
                sender,
                0,
                EdgeKind::RegisterDevice,
                Address::of(key),
                None,
                Amount(0),
                institution_of,
            ),
            TxKind::RevokeDevice { key } => push(
                sender,
                0,
                EdgeKind::RevokeDevice,
                Address::of(key),
                None,
                Amount(0),
                institution_of,
            ),
        }
    }
    out
}

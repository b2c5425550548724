//! The JSON-RPC interface's types: what the node's methods take and
//! answer, their error codes, and the notifications of its subscriptions.
//! The server builds these, the Rust client returns them, the CLI prints
//! them: nobody indexes JSON by string. Amounts are strings of minor
//! units (they exceed what JSON numbers hold exactly); hashes, ids and
//! roots are lowercase hex.
//!
//! Methods, all under `hutong_` (see [`method`]): `submitTransaction`,
//! `submitTransactions`, `getTransaction`, `getAccount`, `getBlock`,
//! `status`, `getParameters`, `getProposals`, `getProposal` (their
//! answers are in [`crate::gov`]), and the subscriptions `subscribeBlocks` (notification
//! [`BlockNotice`]) and `subscribeTransaction` (one [`TxStatus`] at
//! finality). The regulator's audit methods are `hutong_audit`'s
//! (`hutong_audit::api`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The method names.
pub mod method {
    pub const SUBMIT_TRANSACTION: &str = "hutong_submitTransaction";
    pub const SUBMIT_TRANSACTIONS: &str = "hutong_submitTransactions";
    pub const GET_TRANSACTION: &str = "hutong_getTransaction";
    pub const GET_ACCOUNT: &str = "hutong_getAccount";
    pub const GET_BLOCK: &str = "hutong_getBlock";
    pub const STATUS: &str = "hutong_status";
    pub const GET_PARAMETERS: &str = "hutong_getParameters";
    pub const GET_PROPOSALS: &str = "hutong_getProposals";
    pub const GET_PROPOSAL: &str = "hutong_getProposal";
    pub const GET_HOLD: &str = "hutong_getHold";
    pub const GET_CLEARING: &str = "hutong_getClearing";
    pub const GET_MANDATES: &str = "hutong_getMandates";
    pub const READ_ACCOUNT: &str = "hutong_readAccount";
    pub const CHECK_LISTING: &str = "hutong_checkListing";
    pub const GET_MEMO_KEYS: &str = "hutong_getMemoKeys";
    pub const READ_MEMO: &str = "hutong_readMemo";
    pub const SUBSCRIBE_BLOCKS: &str = "hutong_subscribeBlocks";
    pub const BLOCK_NOTIFICATION: &str = "hutong_block";
    pub const UNSUBSCRIBE_BLOCKS: &str = "hutong_unsubscribeBlocks";
    pub const SUBSCRIBE_TRANSACTION: &str = "hutong_subscribeTransaction";
    pub const TRANSACTION_NOTIFICATION: &str = "hutong_transaction";
    pub const UNSUBSCRIBE_TRANSACTION: &str = "hutong_unsubscribeTransaction";
}

/// Stable error codes. JSON-RPC reserves -32768 to -32000 for itself and
/// jsonrpsee uses part of that range (-32010 is its "batch too large"), so
/// Hutong's own codes are positive.
pub mod code {
    pub const INVALID_PARAMS: i32 = -32602;
    /// The transaction was not admitted; `data` ([`super::RejectionData`])
    /// says why.
    pub const REJECTED: i32 = 1001;
    /// The node is overloaded; retry later.
    pub const BUSY: i32 = 1002;
    /// Not found (block, account).
    pub const NOT_FOUND: i32 = 1003;
    /// The node's database failed.
    pub const INTERNAL: i32 = 1004;
    /// Too many items in one call.
    pub const TOO_MANY: i32 = 1005;
    /// The audit request is not authenticated as a regulator's: `data.code`
    /// is `unauthenticated`, `unknown_key`, `bad_signature`, `stale`,
    /// `replayed` or `busy`.
    pub const AUTH: i32 = 1010;
    /// This node is not a regulator's audit node.
    pub const NOT_REGULATOR: i32 = 1011;
    /// A subscription method called over plain HTTP: connect with
    /// WebSocket (`ws://`, same host and port) instead.
    pub const NEEDS_WEBSOCKET: i32 = 1012;
    /// A mandate read refused: no such read mandate for this key, not in
    /// force, a bad signature, or a timestamp far from the node's clock
    /// (`data.code`: `unknown_mandate`, `mandate_scope`,
    /// `mandate_inactive`, `bad_signature`, `stale`).
    pub const MANDATE: i32 = 1013;
}

/// Most transactions in one `submitTransactions` call.
pub const SUBMIT_BATCH_MAX: usize = 1_000;

/// The `data` of a rejected transaction's error, and of a rejection in a
/// status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RejectionData {
    /// A stable code (`stale_sequence`, `busy`, …; `Rejection::ALL_CODES`).
    pub code: String,
    /// Whether the same bytes may succeed later.
    pub retryable: bool,
    pub message: String,
    /// For `sequence_used`: the committed transaction that used the
    /// sequence number, when this node saw which.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub used_by: Option<String>,
}

/// One transaction's verdict in `submitTransactions`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum SubmitVerdict {
    Pending {
        hash: String,
    },
    Rejected {
        #[serde(flatten)]
        why: RejectionData,
    },
    /// The exact transaction was committed already (a wallet's retry):
    /// where, as `getTransaction` answers.
    Committed {
        hash: String,
        height: u64,
        index: u32,
    },
}

/// Where a transaction stands (`getTransaction`, and the notification of
/// `subscribeTransaction`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum TxStatus {
    /// Not seen by this node (or forgotten).
    Unknown { hash: String },
    /// Admitted, waiting for a block.
    Pending { hash: String },
    /// Turned away on admission (recently: the node keeps a bounded list).
    Rejected {
        hash: String,
        #[serde(flatten)]
        why: RejectionData,
    },
    /// Admitted, then let go before any block took it (`code`: `expired`).
    /// Final; remembered for a bounded time (the last 100,000 endings).
    Dropped {
        hash: String,
        #[serde(flatten)]
        why: RejectionData,
    },
    /// In a committed block, with its receipt (which may be a failure).
    Committed {
        hash: String,
        height: u64,
        index: u32,
        block_id: Option<String>,
        receipt: Option<ReceiptView>,
    },
}

impl TxStatus {
    /// Committed, rejected or dropped: it will not change any more (a
    /// retryable rejection such as `busy` is final for these bytes on this
    /// node until they are sent again).
    pub fn is_final(&self) -> bool {
        matches!(
            self,
            TxStatus::Committed { .. } | TxStatus::Rejected { .. } | TxStatus::Dropped { .. }
        )
    }

    pub fn name(&self) -> &'static str {
        match self {
            TxStatus::Unknown { .. } => "unknown",
            TxStatus::Pending { .. } => "pending",
            TxStatus::Rejected { .. } => "rejected",
            TxStatus::Dropped { .. } => "dropped",
            TxStatus::Committed { .. } => "committed",
        }
    }

    /// The receipt of a committed transaction.
    pub fn receipt(&self) -> Option<&ReceiptView> {
        match self {
            TxStatus::Committed { receipt, .. } => receipt.as_ref(),
            _ => None,
        }
    }

    /// Committed, and its receipt is a success.
    pub fn succeeded(&self) -> bool {
        self.receipt().is_some_and(|r| r.success)
    }
}

/// A receipt: success with its effects, or failure with its reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiptView {
    pub tx_hash: String,
    pub success: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effects: Option<Vec<EffectView>>,
    /// The failure's stable code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// The failure in full, with the values involved (for people).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The failure as data: `code` and the values involved, by name
    /// (`{"code":"single_limit_exceeded","asset":"CNY","limit":"5000.00",
    /// "limit_minor":"500000",…}`). Amounts in the asset's major units as
    /// decimal strings, with the minor units beside them (`…_minor`);
    /// addresses `ht1…`, keys and hashes hex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<serde_json::Map<String, serde_json::Value>>,
    /// The leg that failed, for a linked transaction or a payment versus
    /// payment (every leg was undone).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_leg: Option<u8>,
}

/// One effect of a successful transaction; amounts in minor units.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EffectView {
    Debit {
        account: String,
        asset: String,
        amount: String,
    },
    Credit {
        account: String,
        asset: String,
        amount: String,
    },
    SupplyChanged {
        asset: String,
        total_supply: String,
    },
    AccountOpened {
        account: String,
        institution: String,
        tier: u8,
    },
    TierSet {
        account: String,
        tier: u8,
    },
    Frozen {
        account: String,
        reason: String,
        by: String,
    },
    Unfrozen {
        account: String,
    },
    ProposalCreated {
        proposal: u64,
    },
    /// A vote recorded, with the tally after it.
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
    /// Executed; `epoch` is the epoch the change starts if it changed the
    /// validator set (it takes effect a few blocks later, at the end of
    /// the first block that certifies this one's result).
    ProposalExecuted {
        proposal: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        epoch: Option<u64>,
    },
    ProposalRejected {
        proposal: u64,
    },
    /// Passed, but action `action` could not execute (`code`); nothing was
    /// applied.
    ProposalFailed {
        proposal: u64,
        action: u8,
        code: String,
    },
    /// A hold placed: `amount` of the payer's balance is reserved for the
    /// payee until `expires_at_ms` (block time).
    HoldPlaced {
        payer: String,
        hold_id: String,
        payee: String,
        asset: String,
        amount: String,
        expires_at_ms: u64,
    },
    /// Captured: `captured` moved (a debit and a credit beside it),
    /// `released` went back to the payer.
    HoldCaptured {
        payer: String,
        hold_id: String,
        captured: String,
        released: String,
    },
    HoldVoided {
        payer: String,
        hold_id: String,
        released: String,
    },
    AmountFrozen {
        account: String,
        asset: String,
        amount: String,
        freeze_id: u64,
        reason: String,
        by: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        expires_at_ms: Option<u64>,
    },
    AmountReleased {
        account: String,
        asset: String,
        amount: String,
        freeze_id: u64,
    },
    /// `state`: `normal`, `receive-only` or `send-only`.
    AccountStateSet {
        account: String,
        state: String,
        by: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        expires_at_ms: Option<u64>,
    },
    /// A device key (by its address) may sign holds and captures for the
    /// account.
    DeviceRegistered {
        account: String,
        device: String,
    },
    DeviceRevoked {
        account: String,
        device: String,
    },
    /// The effects that follow, up to the next `leg`, are this leg's (a
    /// linked transaction, a payment versus payment).
    Leg {
        leg: u8,
    },
    /// A payment versus payment settled at the provider's quote.
    Exchanged {
        payer: String,
        provider: String,
        quote_id: u64,
        payee: String,
        sell: String,
        paid: String,
        buy: String,
        received: String,
    },
    MandateGranted {
        account: String,
        mandate_id: u64,
        grantee: String,
        end_ms: u64,
    },
    MandateRevoked {
        account: String,
        mandate_id: u64,
        grantee: String,
    },
    /// A payment under a mandate (the debit and credit beside it).
    MandateUsed {
        payer: String,
        mandate_id: u64,
        grantee: String,
        spent_in_period: String,
    },
    /// An identity added to the shared blacklist (by its listing key).
    IdentityListed {
        listing_key: String,
        by: String,
        reason: String,
    },
    IdentityDelisted {
        listing_key: String,
        by: String,
    },
    /// A member institution's memo key (HPKE, X25519; 64 hex digits).
    MemoKeySet {
        institution: String,
        key: String,
    },
}

/// A hold (`getHold`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HoldView {
    pub payer: String,
    /// 32 hex digits, as the payer's transfer ids.
    pub hold_id: String,
    pub payee: String,
    pub asset: String,
    /// Minor units.
    pub amount: String,
    pub expires_at_ms: u64,
    /// `open`, `captured`, `voided` or `expired`.
    pub state: String,
    /// What a capture moved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub captured: Option<String>,
    /// The executed height this view is of.
    pub height: u64,
}

/// The mandates an account granted (`getMandates`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MandatesView {
    pub account: String,
    pub mandates: Vec<MandateView>,
    /// The executed height this view is of.
    pub height: u64,
}

/// What a mandate lets its grantee do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScopeView {
    pub pay: bool,
    pub read: bool,
}

/// One mandate; amounts in minor units.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MandateView {
    pub mandate_id: u64,
    pub grantee: String,
    pub scope: ScopeView,
    pub asset: String,
    /// Empty: any payee.
    pub payees: Vec<String>,
    pub per_payment: String,
    pub per_period: String,
    pub period_seconds: u32,
    pub start_ms: u64,
    pub end_ms: u64,
    /// Spent in the period of the last executed block.
    pub spent_in_period: String,
    /// In force at the last executed block's time.
    pub active: bool,
}

/// A read mandate's request to read an account (`readAccount`): the
/// grantee's key signs `hutong_runtime::mandate::read_request_hash` of
/// (chain id, account, mandate id, timestamp), the timestamp within five
/// minutes of the node's clock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReadAccountRequest {
    pub account: String,
    pub mandate_id: u64,
    /// The grantee's public key, hex.
    pub grantee_key: String,
    pub timestamp_ms: u64,
    /// Hex.
    pub signature: String,
}

/// Whether an identity is on the shared blacklist (`checkListing`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListingView {
    pub listing_key: String,
    pub listed: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listed_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The authority's reference, as text (lossy UTF-8).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listed_at_ms: Option<u64>,
    pub height: u64,
}

/// Most accounts one `getMemoKeys` call names.
pub const MEMO_KEYS_ACCOUNTS_MAX: usize = 16;

/// The keys a memo between `accounts` is sealed to (`getMemoKeys`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemoKeysView {
    /// The regulator's (the identity service's HPKE key); `None` on a
    /// chain without an identity service.
    pub regulator: Option<String>,
    pub accounts: Vec<AccountMemoKey>,
    pub height: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountMemoKey {
    pub account: String,
    /// The account's institution (itself for an institution).
    pub institution: String,
    /// That institution's memo key (64 hex digits), if it published one.
    pub memo_key: Option<String>,
}

/// A party's request for a transaction's memo in clear (`readMemo`),
/// signed with the party's key over
/// `tagged("hutong/read-memo/v1", borsh((chain_id, tx_hash, timestamp_ms)))`
/// within five minutes of the node's clock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReadMemoRequest {
    pub tx_hash: String,
    /// The party's (or its institution's) public key, hex.
    pub key: String,
    pub timestamp_ms: u64,
    /// Hex.
    pub signature: String,
}

/// A memo in clear.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemoView {
    pub tx_hash: String,
    /// The text as UTF-8 (invalid bytes replaced).
    pub text: String,
    pub text_hex: String,
}

/// The message a party signs to read a memo (`readMemo`).
pub fn read_memo_message(chain_id: &[u8; 32], tx_hash: &[u8; 32], timestamp_ms: u64) -> [u8; 32] {
    let mut data = Vec::with_capacity(72);
    data.extend_from_slice(chain_id);
    data.extend_from_slice(tx_hash);
    data.extend_from_slice(&timestamp_ms.to_le_bytes());
    hutong_runtime::crypto::Hash::tagged(b"hutong/read-memo/v1", &data).0
}

/// A settlement cycle's clearing between institutions (`getClearing`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClearingView {
    pub cycle: u64,
    /// The cycle's start and end (exclusive), in milliseconds since the
    /// Unix epoch.
    pub start_ms: i64,
    pub end_ms: i64,
    /// Whether the cycle is over and its record final; an open cycle's
    /// flows so far, and positions as they would be.
    pub closed: bool,
    pub flows: Vec<ClearingFlowView>,
    pub positions: Vec<NetPositionView>,
    /// The executed height this view is of.
    pub height: u64,
}

/// What one institution paid another of one asset in the cycle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClearingFlowView {
    pub from: String,
    /// The member's name in the consortium, when it is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_name: Option<String>,
    pub to: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_name: Option<String>,
    pub asset: String,
    /// Minor units.
    pub amount: String,
    pub count: u64,
}

/// An institution's position in one asset over the cycle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetPositionView {
    pub institution: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub asset: String,
    /// Minor units it paid and received.
    pub paid: String,
    pub received: String,
    /// `received − paid` in minor units, with a sign: positive, it is
    /// owed; negative, it owes.
    pub net: String,
}

/// An amount freeze on an account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AmountFreezeView {
    pub id: u64,
    pub asset: String,
    /// Minor units.
    pub amount: String,
    pub reason: String,
    pub by: String,
    /// The order's reference, as text (lossy if it is not UTF-8).
    pub reference: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at_ms: Option<u64>,
}

/// A receive-only or send-only state on an account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestrictionView {
    /// `receive-only` or `send-only`.
    pub state: String,
    pub reason: String,
    pub by: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at_ms: Option<u64>,
}

/// An account (`getAccount`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountView {
    pub address: String,
    /// `customer`, `institution`, `regulator` or `retired` (an institution
    /// that left the consortium).
    pub kind: String,
    /// A customer's KYC tier.
    pub tier: Option<u8>,
    pub institution: String,
    /// The sequence number its next transaction must carry to execute
    /// next (the account's, in the executed state).
    pub sequence: u64,
    /// The sequence a new transaction should carry: `sequence` past the
    /// transactions this node's pool holds for the account without a gap.
    #[serde(default)]
    pub next_sequence: u64,
    pub frozen: Option<FreezeView>,
    /// `active`, `frozen`, `receive-only` or `send-only`.
    pub status: String,
    /// Receive-only or send-only, by whom, until when.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restriction: Option<RestrictionView>,
    /// Minor units by asset code.
    pub balances: BTreeMap<String, String>,
    /// What holds and amount freezes reserve, in minor units, by asset
    /// code (assets with nothing held are absent).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub held: BTreeMap<String, String>,
    /// What the account may send: the balance less what is held (never
    /// below zero), in minor units, by asset code.
    #[serde(default)]
    pub available: BTreeMap<String, String>,
    /// Amount freezes (court orders, fraud holds on part of a balance).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub amount_freezes: Vec<AmountFreezeView>,
    /// The same balances in major units, as people read them
    /// (`"100001.25"`), by asset code.
    #[serde(default)]
    pub balances_decimal: BTreeMap<String, String>,
    /// A customer's limits today, by asset code (the day in the
    /// consortium's time zone of the last executed block; assets its tier
    /// may not send are absent). Empty for other accounts.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub limits: BTreeMap<String, SpendingView>,
    /// The executed height this view is of.
    pub height: u64,
}

/// What a customer may still send of one asset today, in minor units.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpendingView {
    /// Sent today.
    pub spent_today: String,
    /// The tier's daily limit, and what remains of it today.
    pub daily_max: String,
    pub remaining_today: String,
    /// The most one transfer may move.
    pub single_max: String,
    /// Above this a transfer needs the institution's co-signature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step_up_threshold: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FreezeView {
    pub reason: String,
    pub by: String,
}

/// Which block `getBlock` returns: exactly one of the two.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlockQuery {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u64>,
    /// The block id, hex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

/// A block (`getBlock`): header, transaction hashes, the execution result
/// it claims, its own result, and the certificate that committed it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockView {
    pub height: u64,
    pub id: String,
    /// False for a block fetched by id that is not (yet) committed.
    pub committed: bool,
    pub epoch: u64,
    pub round: u64,
    pub proposer: u16,
    pub timestamp_ms: u64,
    pub parent_id: String,
    pub payload_digest: String,
    pub tx_count: usize,
    pub tx_root: String,
    pub txs: Vec<String>,
    /// The execution result of an earlier height that this block
    /// certifies.
    pub claimed_result: ClaimView,
    /// What executing this block gave, once executed here.
    pub result: Option<RootsView>,
    pub certificate: Option<CertView>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimView {
    pub height: u64,
    pub state_root: String,
    pub receipts_root: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RootsView {
    pub state_root: String,
    pub receipts_root: String,
}

/// The quorum certificate that committed a block (through the block at
/// `committed_by_height`, the last of its committed run).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertView {
    pub committed_by_height: u64,
    pub round: u64,
    pub block_id: String,
    pub signers: Vec<u16>,
    /// The certificate's borsh encoding, for checking it offline.
    pub borsh_hex: String,
}

/// The node's status (`status`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusView {
    pub chain_id: String,
    pub consortium: String,
    /// `validator`, `observer` or `regulator`.
    pub role: String,
    /// The last executed block.
    pub height: u64,
    pub block_id: String,
    pub state_root: String,
    pub receipts_root: String,
    pub timestamp_ms: u64,
    pub consensus: ConsensusStatus,
    /// Validators in the current epoch.
    pub validators: usize,
    pub assets: Vec<AssetView>,
    pub peers: PeerStatus,
    pub mempool: MempoolStats,
    /// Why the node halted, if it did.
    pub halted: Option<String>,
    /// The history this node holds.
    #[serde(default)]
    pub history: HistoryView,
}

/// Which blocks a node holds: every one since genesis (the regulator
/// always), or the recent ones only (a node that prunes, or that joined
/// from a snapshot).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryView {
    /// Every block since genesis, and it keeps them.
    pub complete: bool,
    /// The lowest height whose block it holds.
    pub oldest_block: u64,
    /// `[storage] keep_blocks`, if it prunes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_blocks: Option<u64>,
    /// `[storage] keep_states`, if it prunes old versions of the state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_states: Option<u64>,
    /// The lowest height whose whole state it holds (the snapshots it
    /// can serve start there).
    #[serde(default)]
    pub oldest_state: u64,
    /// The height it joined at from a snapshot, if it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub joined_at: Option<u64>,
}

impl StatusView {
    /// The decimals of an asset the chain knows.
    pub fn decimals(&self, asset: &str) -> Option<u8> {
        self.assets
            .iter()
            .find(|a| a.code == asset)
            .map(|a| a.decimals)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssetView {
    pub code: String,
    pub decimals: u8,
    /// The issuing institution's address.
    pub issuer: String,
}

/// The consensus core's view, for status queries and metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsensusStatus {
    pub epoch: u64,
    /// The current epoch's validators.
    #[serde(default)]
    pub validators: u64,
    pub round: u64,
    pub committed_height: u64,
    pub timeouts: u64,
    pub proposals: u64,
    pub equivocations: u64,
    /// Equivocation evidence seen, by the validator it accuses.
    #[serde(default)]
    pub equivocators: BTreeMap<u16, u64>,
    /// Proposals let pass because execution was too far behind.
    pub deferred_proposals: u64,
    /// Committed blocks (and their transactions) not executed yet.
    pub backlog_blocks: u64,
    pub backlog_txs: u64,
    /// Messages dropped, by reason.
    pub dropped: BTreeMap<String, u64>,
}

/// The node's peers, as its network task sees them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerStatus {
    /// Connected peers' ids.
    pub connected: Vec<String>,
    pub refused_connections: u64,
    pub bad_messages: u64,
    pub dropped_events: u64,
}

/// The mempool's size.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MempoolStats {
    pub txs: usize,
    pub bytes: usize,
    pub senders: usize,
}

/// A block as announced to `subscribeBlocks` subscribers once it is
/// executed and durable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockNotice {
    pub height: u64,
    /// Hex.
    pub block_id: String,
    pub round: u64,
    pub timestamp_ms: u64,
    /// How many transactions the block holds.
    pub txs: usize,
    pub state_root: String,
    pub receipts_root: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The JSON shapes wallets already read stay as they were.
    #[test]
    fn statuses_and_verdicts_keep_their_json_shape() {
        let rejected = TxStatus::Rejected {
            hash: "ab".into(),
            why: RejectionData {
                code: "stale_sequence".into(),
                retryable: false,
                message: "m".into(),
                used_by: None,
            },
        };
        assert_eq!(
            serde_json::to_value(&rejected).unwrap(),
            serde_json::json!({"status": "rejected", "hash": "ab", "code": "stale_sequence", "retryable": false, "message": "m"})
        );
        let pending = SubmitVerdict::Pending { hash: "cd".into() };
        assert_eq!(
            serde_json::to_value(&pending).unwrap(),
            serde_json::json!({"status": "pending", "hash": "cd"})
        );
        let receipt = ReceiptView {
            tx_hash: "ef".into(),
            success: false,
            effects: None,
            code: Some("frozen".into()),
            reason: Some("Frozen".into()),
            failure: None,
            failed_leg: None,
        };
        assert_eq!(
            serde_json::to_value(&receipt).unwrap(),
            serde_json::json!({"tx_hash": "ef", "success": false, "code": "frozen", "reason": "Frozen"})
        );
        let effect = EffectView::SupplyChanged {
            asset: "CNY".into(),
            total_supply: "5".into(),
        };
        assert_eq!(
            serde_json::to_value(&effect).unwrap(),
            serde_json::json!({"type": "supply_changed", "asset": "CNY", "total_supply": "5"})
        );
        for status in [rejected, TxStatus::Unknown { hash: "01".into() }] {
            let back: TxStatus =
                serde_json::from_value(serde_json::to_value(&status).unwrap()).unwrap();
            assert_eq!(back, status);
        }
    }
}

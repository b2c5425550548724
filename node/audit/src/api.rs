//! The audit node's JSON-RPC interface: each method's query and answer,
//! shared by the node that answers, the Rust client and the CLI that ask,
//! and any analytics engine that reads the answers. Amounts are strings of
//! minor units (`amount`) with their decimal rendering (`amount_display`);
//! times are unix milliseconds; addresses and hashes are the chain's text
//! forms.
//!
//! Every call carries `{"query": <one of the queries here>, "auth":
//! <a signed request, see [`crate::auth`]>}`. A query's fields are all
//! optional unless said otherwise, and unknown fields are refused.
//! [`AuditQuery`] ties each query to its method and its answer.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::alerts::Alert;
use crate::auth::LogEntry;
use crate::edge::EdgeKind;

/// The method names.
pub mod method {
    pub const HISTORY: &str = "hutong_auditHistory";
    pub const TRACE: &str = "hutong_auditTrace";
    pub const FLOWS: &str = "hutong_auditFlows";
    pub const EXPORT: &str = "hutong_auditExport";
    pub const ALERTS: &str = "hutong_auditAlerts";
    pub const PROOF: &str = "hutong_auditProof";
    pub const LOG: &str = "hutong_auditLog";
    /// Query: [`super::AllowListQuery`]; the regulator's allow-list.
    pub const ALLOW_LIST: &str = "hutong_auditAllowList";
    /// Query: [`super::LedgerQuery`]; blocks and their legs in height
    /// order (what an export to an analytics engine reads).
    pub const LEDGER: &str = "hutong_auditLedger";
    /// Query: [`super::OwnerQuery`]; the accounts one owner holds, at
    /// every institution.
    pub const OWNER: &str = "hutong_auditOwner";
    /// Query: [`super::AlertFilter`]; one notification per new alert.
    pub const SUBSCRIBE_ALERTS: &str = "hutong_auditSubscribeAlerts";
    pub const ALERT_NOTIFICATION: &str = "hutong_auditAlert";
    pub const UNSUBSCRIBE_ALERTS: &str = "hutong_auditUnsubscribeAlerts";

    /// Query: [`super::EvaluateQuery`]; the regulator's OPRF evaluation
    /// of blinded identities, asked by a member institution (signed with
    /// its institution key) or a regulator; rate-limited per key, logged.
    pub const IDENTITY_EVALUATE: &str = "hutong_identityEvaluate";

    /// The methods that answer once.
    pub const QUERIES: [&str; 10] = [
        HISTORY, TRACE, FLOWS, EXPORT, ALERTS, PROOF, LOG, ALLOW_LIST, LEDGER, OWNER,
    ];
}

/// A query of the audit API: its method and the type of its answer.
pub trait AuditQuery: Serialize {
    const METHOD: &'static str;
    type Answer: Serialize + DeserializeOwned;
}

macro_rules! audit_query {
    ($query:ty, $method:expr, $answer:ty) => {
        impl AuditQuery for $query {
            const METHOD: &'static str = $method;
            type Answer = $answer;
        }
    };
}

audit_query!(HistoryQuery, method::HISTORY, HistoryPage);
audit_query!(TraceQuery, method::TRACE, Trace);
audit_query!(FlowsQuery, method::FLOWS, Flows);
audit_query!(ExportQuery, method::EXPORT, ExportPage);
audit_query!(AlertsQuery, method::ALERTS, AlertsPage);
audit_query!(ProofQuery, method::PROOF, ProofAnswer);
audit_query!(LogQuery, method::LOG, LogPage);
audit_query!(AllowListQuery, method::ALLOW_LIST, AllowList);
audit_query!(LedgerQuery, method::LEDGER, LedgerPage);
audit_query!(OwnerQuery, method::OWNER, OwnerAccounts);
audit_query!(EvaluateQuery, method::IDENTITY_EVALUATE, Evaluated);

/// Blinded identities for the regulator to evaluate
/// (`hutong_identityEvaluate`); see `hutong_privacy::oprf`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvaluateQuery {
    /// 1 to 64 blinded elements, 64 hex digits each (required).
    pub blinded: Vec<String>,
}

/// The regulator's evaluation: one element per blinded one, in order, and
/// one proof (128 hex digits) that they were made with the key genesis
/// publishes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evaluated {
    pub elements: Vec<String>,
    pub proof: String,
    /// Evaluations this key may still ask for at once (its limit refills
    /// at the node's `identity_evaluations_per_minute`).
    pub remaining: u32,
}

/// The `data` of an audit request refused for its authentication
/// (error `hutong_wire::rpc::code::AUTH`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refusal {
    /// `unauthenticated`, `unknown_key`, `bad_signature`, `stale`,
    /// `replayed` or `busy`.
    pub code: String,
    pub message: String,
}

/// Which legs of an account's history.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    In,
    Out,
    #[default]
    Any,
}

/// Legs by outcome.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Ok,
    Failed,
    #[default]
    Any,
}

/// Every leg touching an account, oldest first, paged.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HistoryQuery {
    /// Required.
    pub account: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asset: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counterparty: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direction: Option<Direction>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Outcome>,
    /// Rows per page: default 100, at most 10,000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
    /// A previous page's `next_cursor`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    /// The history of the account's owner, not of the account alone:
    /// every account of the owner at every institution (as
    /// `hutong_auditOwner` lists them, at most 64), merged in ledger
    /// order, one row per leg (a transfer between two of the owner's
    /// accounts is one `to_self` row), directions as the owner sees them.
    /// An account without an owner has its own history.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub whole_owner: bool,
}

/// One leg of one committed transaction, with names and decimals.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LegView {
    pub height: u64,
    /// The transaction's position in its block.
    pub index: u32,
    /// The leg's position in its transaction (a batch transfer has one
    /// per payout).
    pub leg: u16,
    pub timestamp_ms: u64,
    pub tx_hash: String,
    pub kind: EdgeKind,
    pub from: String,
    /// The institution's name (its address when the genesis names none).
    pub from_institution: String,
    pub to: String,
    pub to_institution: String,
    /// `None` for actions that move no money (freeze, tier change…).
    pub asset: Option<String>,
    pub amount: String,
    pub amount_display: Option<String>,
    pub success: bool,
    /// The failure code of a failed transaction.
    pub failure: Option<String>,
}

/// Which way a leg went, seen from the account asked about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LegDirection {
    In,
    Out,
    /// From the account to itself (in an owner's history: between two of
    /// the owner's accounts).
    #[serde(rename = "self")]
    ToSelf,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryRow {
    #[serde(flatten)]
    pub leg: LegView,
    pub direction: LegDirection,
    /// The transaction's sealed memo in clear (UTF-8, invalid bytes
    /// replaced), opened with the regulator's key; absent without a memo.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memo: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryPage {
    pub account: String,
    /// With `whole_owner`: the owner's identity commitment and the
    /// accounts whose legs the page merges.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub accounts: Vec<String>,
    pub rows: Vec<HistoryRow>,
    /// Present when there is more: pass it as `cursor`.
    pub next_cursor: Option<String>,
}

/// Where money went (`forward`) or came from (`backward`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TraceDirection {
    #[default]
    Forward,
    Backward,
}

/// Follows money from an account or a transaction, hop by hop.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TraceQuery {
    /// Start from an account's legs...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// ...or from one transaction's legs (exactly one of the two).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tx: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direction: Option<TraceDirection>,
    /// Default 4, 1 to 10.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hops: Option<u32>,
    /// Legs below this amount (minor units) are not followed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_amount: Option<String>,
    /// Most time between a leg and the next one followed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window_secs: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asset: Option<String>,
    /// Default 2,000, at most 20,000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edges_max: Option<usize>,
}

/// Where a trace started: an account or a transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceStart {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tx: Option<String>,
}

impl std::fmt::Display for TraceStart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.account, &self.tx) {
            (Some(a), _) => write!(f, "account {a}"),
            (None, Some(t)) => write!(f, "transaction {t}"),
            (None, None) => f.write_str("nowhere"),
        }
    }
}

/// An account the trace reached, at its first hop.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceNode {
    pub account: String,
    pub institution: String,
    pub hop: u32,
    /// The account's owner (identity commitment, as in
    /// `hutong_auditOwner`): accounts of one owner at several institutions
    /// are one party, and money back at any of them went round.
    #[serde(default)]
    pub owner: Option<String>,
}

/// A leg the trace followed, at its hop.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceLeg {
    #[serde(flatten)]
    pub leg: LegView,
    pub hop: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trace {
    pub start: TraceStart,
    pub direction: TraceDirection,
    pub hops: u32,
    /// A bound cut the trace short (`edges_max`, or the scan per account or
    /// per trace).
    pub truncated: bool,
    pub nodes: Vec<TraceNode>,
    pub edges: Vec<TraceLeg>,
}

/// Gross and net flows between institutions over a period.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlowsQuery {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asset: Option<String>,
}

/// What one institution's accounts paid another's, in one asset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrossFlow {
    pub from: String,
    pub to: String,
    pub asset: String,
    pub transfers: u64,
    pub amount: String,
    pub amount_display: String,
}

/// The net position between two institutions in one asset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetFlow {
    pub payer: String,
    pub payee: String,
    pub asset: String,
    pub net_amount: String,
    pub net_display: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Flows {
    pub from_ms: u64,
    pub to_ms: Option<u64>,
    /// Always false: flows are read from totals kept per block, minute,
    /// hour and day, never cut short. Kept for clients that read it.
    pub truncated: bool,
    pub gross: Vec<GrossFlow>,
    pub net: Vec<NetFlow>,
    /// The settlement cycles that start in the period (the latest
    /// [`SETTLEMENT_CYCLES_MAX`]), as the ledger's clearing records certify
    /// them: each institution's paid, received and net position per asset
    /// (closed cycles), or the open cycle's positions so far.
    #[serde(default)]
    pub settlement: Vec<CycleSettlement>,
}

/// Most settlement cycles one flows answer shows.
pub const SETTLEMENT_CYCLES_MAX: usize = 31;

/// One settlement cycle's positions, from the ledger's clearing record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CycleSettlement {
    pub cycle: u64,
    pub start_ms: i64,
    pub end_ms: i64,
    /// Closed into a certified clearing record; false: the open cycle.
    pub closed: bool,
    pub positions: Vec<SettlementPosition>,
}

/// An institution's position in one asset over a cycle (minor units; `net`
/// is received − paid, signed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettlementPosition {
    pub institution: String,
    pub asset: String,
    pub paid: String,
    pub received: String,
    pub net: String,
    pub net_display: String,
}

/// A period's legs for an institution or a set of accounts, paged.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportQuery {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_ms: Option<u64>,
    /// An institution (name or address): every leg that starts or ends at
    /// one of its accounts...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub institution: Option<String>,
    /// ...or these accounts (exactly one of the two).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accounts: Option<Vec<String>>,
    /// Rows per page: default 10,000, at most 100,000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportPage {
    pub from_ms: u64,
    pub to_ms: Option<u64>,
    pub institution: Option<String>,
    pub accounts: Vec<String>,
    pub rows: Vec<LegView>,
    pub next_cursor: Option<String>,
}

/// Stored alerts, oldest first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertsQuery {
    /// Alerts with a greater id (0: from the first).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after_id: Option<u64>,
    /// An alert kind (`fan_out` or `fan-out`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Alerts about this account or naming it among the related ones (a
    /// counterparty, a cycle's path, a smurf).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// Alerts about accounts of this institution (its name in the genesis,
    /// or its address).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub institution: Option<String>,
    /// Alerts raised (or last updated) at or after this time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_ms: Option<u64>,
    /// … and before this time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_ms: Option<u64>,
    /// Alerts scoring at least this (0–100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_score: Option<u8>,
    /// Default 100, at most 10,000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertsPage {
    pub alerts: Vec<Alert>,
    /// The last alert's id: the next page's `after_id`.
    pub last_id: Option<u64>,
}

/// Reads the regulator's allow-list, after adding `add` (an entry for a
/// subject already listed replaces it) and removing the subjects in
/// `remove`. An empty query just reads it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AllowListQuery {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub add: Vec<crate::alerts::AllowEntry>,
    /// Subjects (addresses) whose entries to remove.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub remove: Vec<String>,
}

/// The allow-list after the change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AllowList {
    pub entries: Vec<crate::alerts::AllowEntry>,
}

/// The accounts of one owner, at every institution: the owner of
/// `account`, or the owner given by its identity commitment. An owner is
/// the identity commitment the institutions put in `OpenAccount` (the
/// same person gives the same commitment when the institutions form it
/// the same way); accounts with the zero commitment, and institution and
/// regulator accounts, have no owner here.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OwnerQuery {
    /// An account of the owner (exactly one of `account` and `owner`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// The owner's identity commitment (64 hex digits).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// Accounts per page: default 100, at most 1,000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
    /// A previous page's `next_cursor`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

/// One balance of an account, now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BalanceView {
    pub asset: String,
    pub amount: String,
    pub amount_display: String,
}

/// One account of an owner, as it stands now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OwnedAccount {
    pub address: String,
    /// The institution's name (its address when the genesis names none).
    pub institution: String,
    pub institution_address: String,
    pub tier: u8,
    /// The height of the block that opened it (0: in the genesis).
    pub opened_height: u64,
    /// The freeze's reason (`fraud`, `legal-order`…), when frozen.
    pub frozen: Option<String>,
    /// Its non-zero balances.
    pub balances: Vec<BalanceView>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OwnerAccounts {
    /// The account asked about, when the query named one.
    pub account: Option<String>,
    /// The owner's identity commitment; `None` when the account has no
    /// owner here (the zero commitment, or not a customer's account).
    pub owner: Option<String>,
    /// Its accounts, by address (the one asked about among them).
    pub accounts: Vec<OwnedAccount>,
    /// Present when there is more: pass it as `cursor`.
    pub next_cursor: Option<String>,
}

/// Executed blocks from `from_height` on, in order, with every leg of
/// their transactions: an export reads the whole ledger page by page
/// (`next_height`), and can resume from any height.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LedgerQuery {
    /// Default 0 (the genesis).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_height: Option<u64>,
    /// Blocks per page: default 500, at most 2,000 (a page also ends
    /// after the block that reaches 100,000 legs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
}

/// One executed block: when, what it holds, and the execution result
/// that the consortium certified for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockRow {
    pub height: u64,
    pub block_id: String,
    pub timestamp_ms: u64,
    pub tx_count: u32,
    /// The state root after executing this block (hex).
    pub state_root: String,
    pub receipts_root: String,
    /// The block whose quorum certificate first certifies this result
    /// (`hutong audit proof` builds on it); `None` until one does.
    pub certified_by_height: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerPage {
    pub blocks: Vec<BlockRow>,
    /// Every leg of those blocks' transactions, in ledger order.
    pub legs: Vec<LegView>,
    /// Where the next page starts.
    pub next_height: u64,
    /// The node's last executed height when it answered.
    pub executed_height: u64,
}

/// Which new alerts a subscription receives.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertFilter {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
}

/// A proof of a transaction (`tx`), or of a balance (`account` and
/// `asset`, at the latest certified height at or below `height`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProofQuery {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tx: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asset: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProofAnswer {
    /// The proof file, to be saved as is: `hutong audit verify` (or any
    /// verifier built on [`crate::proof::verify_file`]) checks it against
    /// the genesis alone.
    pub file: String,
    /// What it proves: the file's own `claims`, as the verifier computes
    /// them.
    pub claims: serde_json::Value,
}

/// The log of audit queries, from `from_seq`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogQuery {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_seq: Option<u64>,
    /// Default 100, at most 10,000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogPage {
    pub entries: Vec<LogEntry>,
    /// The entries' hash chain links up from the entry before them.
    pub chain_ok: bool,
    pub chain_error: Option<String>,
    /// The sequence number the next logged query will get.
    pub next_seq: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leg() -> LegView {
        LegView {
            height: 7,
            index: 1,
            leg: 0,
            timestamp_ms: 1_000,
            tx_hash: "ab".into(),
            kind: EdgeKind::Transfer,
            from: "ht1a".into(),
            from_institution: "bank-a".into(),
            to: "ht1b".into(),
            to_institution: "wallet-b".into(),
            asset: Some("CNY".into()),
            amount: "150".into(),
            amount_display: Some("1.50".into()),
            success: true,
            failure: None,
        }
    }

    /// A history row is a flat object (what CSV exports and analytics
    /// engines read), and it reads back as it was.
    #[test]
    fn rows_are_flat_and_round_trip() {
        let row = HistoryRow {
            leg: leg(),
            direction: LegDirection::ToSelf,
            memo: Some("invoice 42".into()),
        };
        let v = serde_json::to_value(&row).unwrap();
        assert_eq!(v["direction"], "self");
        assert_eq!(v["amount_display"], "1.50");
        assert_eq!(v["kind"], "transfer");
        assert_eq!(serde_json::from_value::<HistoryRow>(v).unwrap(), row);
        let hop = TraceLeg { leg: leg(), hop: 3 };
        let v = serde_json::to_value(&hop).unwrap();
        assert_eq!(v["hop"], 3);
        assert_eq!(serde_json::from_value::<TraceLeg>(v).unwrap(), hop);
    }

    /// Absent options are absent on the wire, and a misspelt field is
    /// refused rather than ignored.
    #[test]
    fn queries_send_only_what_is_set_and_refuse_unknown_fields() {
        let q = HistoryQuery {
            account: "ht1a".into(),
            direction: Some(Direction::Out),
            ..HistoryQuery::default()
        };
        assert_eq!(
            serde_json::to_value(&q).unwrap(),
            serde_json::json!({"account": "ht1a", "direction": "out"})
        );
        assert!(serde_json::from_value::<HistoryQuery>(
            serde_json::json!({"account": "a", "limt": 5})
        )
        .is_err());
        assert!(
            serde_json::from_value::<TraceQuery>(serde_json::json!({"direction": "sideways"}))
                .is_err()
        );
    }
}

//! The audit node's state and its JSON-RPC methods.
//!
//! Methods (params: `{"query": {...}, "auth": {...}}`, see [`super::auth`]):
//! `hutong_auditHistory`, `hutong_auditTrace`, `hutong_auditFlows`,
//! `hutong_auditExport`, `hutong_auditAlerts`, `hutong_auditProof`,
//! `hutong_auditLog`, and the subscription `hutong_auditSubscribeAlerts`
//! (notification `hutong_auditAlert`). A node that is not a regulator's
//! answers every one of them with [`code::NOT_REGULATOR`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use hutong_consensus::types::Block;
use hutong_runtime::crypto::Hash;
use hutong_runtime::state::{AccountKind, AssetLimits, StateKey, StateValue};
use hutong_runtime::{Account, Address, AssetCode, Params, Receipt};
use jsonrpsee::core::SubscriptionError;
use jsonrpsee::server::{PendingSubscriptionSink, RpcModule};
use jsonrpsee::types::{ErrorObjectOwned, Params as RpcParams};
use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use tokio::sync::broadcast;

use super::alerts::{Detector, Limits};
use super::auth::{AuthError, Gate, LogEntry};
use super::proof::{self, ProofError};
use super::query::{self, Names, QueryError};
use super::{edge_key, edges_of_block, Alert, AlertConfig, AlertKind, AuditWrite};
use crate::payload::Payload;
use crate::shared::{lock, Role, Shared};
use crate::store::{Db, DbError};

/// Error codes of the audit API (next to [`crate::rpc::code`]).
pub mod code {
    /// The request is not authenticated as a regulator's: `data.code` is
    /// `unauthenticated`, `unknown_key`, `bad_signature`, `stale`,
    /// `replayed` or `busy`.
    pub const AUTH: i32 = 1010;
    /// This node is not a regulator's audit node.
    pub const NOT_REGULATOR: i32 = 1011;
}

pub const METHODS: [&str; 7] = [
    "hutong_auditHistory",
    "hutong_auditTrace",
    "hutong_auditFlows",
    "hutong_auditExport",
    "hutong_auditAlerts",
    "hutong_auditProof",
    "hutong_auditLog",
];

/// Most blocks replayed into the detector on start.
const REPLAY_BLOCKS_MAX: u64 = 50_000;
/// Most legs replayed into the detector on start.
const REPLAY_EDGES_MAX: usize = 2_000_000;

/// What only a regulator node has.
#[derive(Debug)]
pub struct AuditNode {
    pub gate: Gate,
    pub names: Names,
    /// The detector and the next alert id.
    detector: Mutex<(Detector, u64)>,
    pub alerts: broadcast::Sender<Arc<Alert>>,
}

impl AuditNode {
    /// Sets up the audit node over `db`: the detector is fed the legs of
    /// its look-back window again, so it resumes where it stopped.
    pub fn open(
        db: &Db,
        genesis: &hutong_genesis::Genesis,
        config: AlertConfig,
    ) -> Result<AuditNode, DbError> {
        let mut detector = Detector::new(config);
        if let Some(executed) = db.executed()? {
            let since = executed
                .timestamp_ms
                .saturating_sub(detector.config().lookback_ms());
            let start = db
                .height_at_time(since)?
                .max(executed.height.saturating_sub(REPLAY_BLOCKS_MAX));
            let limits = DbLimits {
                db,
                params: &genesis.params,
                overrides: &HashMap::new(),
            };
            // The newest legs of the window, if it holds more than the
            // replay may take: the detector must resume on what happened
            // last, not on the start of its window.
            let from = edge_key(start, 0, 0);
            let from = match db.newest_edges_start(REPLAY_EDGES_MAX)? {
                Some(newest) => newest.max(from),
                None => from,
            };
            let mut replayed = 0usize;
            db.edges_from(from, |e| {
                replayed += 1;
                let _ = detector.observe(&e, &limits);
                replayed < REPLAY_EDGES_MAX
            })?;
            tracing::info!(
                replayed,
                from_height = start,
                "audit: risk detector resumed"
            );
        }
        let next_id = db.last_alert_id()? + 1;
        let regulators = genesis.regulators.iter().map(|r| r.key).collect();
        Ok(AuditNode {
            gate: Gate::new(genesis.chain_id(), regulators),
            names: Names::new(genesis),
            detector: Mutex::new((detector, next_id)),
            alerts: broadcast::channel(1_024).0,
        })
    }

    /// The indexes and alerts of one executed block, for its batch.
    /// `earlier` holds the changes of the previous block when it may not be
    /// durable yet (the executor runs one block ahead of the writer), and
    /// `previous_claim` the result height that block carried; without
    /// them, both are read from the database.
    #[allow(clippy::too_many_arguments)]
    pub fn index_block<'a>(
        &self,
        db: &Db,
        params: &Params,
        block: &Block,
        payload: &Payload,
        hashes: &[Hash],
        receipts: &[Receipt],
        changes: &[(StateKey, Option<StateValue>)],
        earlier: impl IntoIterator<Item = (&'a StateKey, &'a Option<StateValue>)>,
        previous_claim: Option<u64>,
    ) -> Result<AuditWrite, DbError> {
        let height = block.height.0;
        let account_of = |(k, v): (&StateKey, &Option<StateValue>)| match (k, v) {
            (StateKey::Account(a), Some(StateValue::Account(acc))) => Some((*a, *acc)),
            _ => None,
        };
        // This block's changes over the previous block's.
        let mut overrides: HashMap<Address, Account> =
            earlier.into_iter().filter_map(account_of).collect();
        overrides.extend(changes.iter().filter_map(|(k, v)| account_of((k, v))));
        let limits = DbLimits {
            db,
            params,
            overrides: &overrides,
        };
        let mut failure = None;
        let mut institution_of = |a: &Address| match limits.account(a) {
            Ok(Some(acc)) => acc.institution,
            Ok(None) => Address::default(),
            Err(e) => {
                failure = Some(e);
                Address::default()
            }
        };
        let edges = edges_of_block(
            height,
            block.timestamp_ms,
            &payload.txs,
            hashes,
            receipts,
            &mut institution_of,
        );
        if let Some(e) = failure {
            return Err(e);
        }
        let mut alerts = Vec::new();
        {
            let mut guard = lock(&self.detector);
            let (detector, next_id) = &mut *guard;
            for e in &edges {
                for mut alert in detector.observe(e, &limits) {
                    alert.id = *next_id;
                    *next_id += 1;
                    alerts.push(alert);
                }
            }
        }
        let claim = payload.result.height;
        let previous = match (previous_claim, height.checked_sub(1)) {
            (Some(claim), _) => Some(claim),
            (None, Some(h)) => db.block_at(h)?.map(|s| s.payload.result.height),
            (None, None) => None,
        };
        let first_claim = previous.is_none_or(|p| claim > p).then_some(claim);
        Ok(AuditWrite {
            edges,
            alerts,
            first_claim,
        })
    }

    /// Announces a durable block's alerts to subscribers.
    pub fn publish(&self, alerts: &[Alert]) {
        for a in alerts {
            tracing::warn!(
                id = a.id,
                kind = a.kind.name(),
                account = %a.account,
                height = a.height,
                "risk alert: {}",
                a.detail
            );
            let _ = self.alerts.send(Arc::new(a.clone()));
        }
    }
}

/// Account lookups for indexing: this block's new account records first,
/// then the database.
struct DbLimits<'a> {
    db: &'a Db,
    params: &'a Params,
    overrides: &'a HashMap<Address, Account>,
}

impl DbLimits<'_> {
    fn account(&self, a: &Address) -> Result<Option<Account>, DbError> {
        if let Some(acc) = self.overrides.get(a) {
            return Ok(Some(*acc));
        }
        match self.db.state(&StateKey::Account(*a))? {
            Some(StateValue::Account(acc)) => Ok(Some(acc)),
            _ => Ok(None),
        }
    }
}

impl Limits for DbLimits<'_> {
    fn customer_limits(&self, account: &Address, asset: AssetCode) -> Option<AssetLimits> {
        match self.account(account).ok().flatten()?.kind {
            AccountKind::Customer { tier, .. } => self.params.limits(tier, asset).copied(),
            _ => None,
        }
    }
}

fn err(code: i32, message: impl Into<String>) -> ErrorObjectOwned {
    ErrorObjectOwned::owned(code, message.into(), None::<()>)
}

fn auth_error(e: &AuthError) -> ErrorObjectOwned {
    ErrorObjectOwned::owned(
        code::AUTH,
        e.to_string(),
        Some(json!({"code": e.code(), "message": e.to_string()})),
    )
}

fn not_regulator(role: Role) -> ErrorObjectOwned {
    err(
        code::NOT_REGULATOR,
        format!(
            "this node is a {}; audit methods are served only by a regulator's audit node",
            match role {
                Role::Validator => "validator",
                Role::Observer => "observer",
                Role::Regulator => "regulator",
            }
        ),
    )
}

fn query_error(e: QueryError) -> ErrorObjectOwned {
    match e {
        QueryError::Invalid(m) => err(crate::rpc::code::INVALID_PARAMS, m),
        QueryError::NotFound(m) => err(crate::rpc::code::NOT_FOUND, m),
        QueryError::Db(e) => err(
            crate::rpc::code::INTERNAL,
            format!("node database error: {e}"),
        ),
    }
}

fn proof_error(e: ProofError) -> ErrorObjectOwned {
    match e {
        ProofError::Unavailable(m) => err(crate::rpc::code::NOT_FOUND, m),
        ProofError::Db(e) => err(
            crate::rpc::code::INTERNAL,
            format!("node database error: {e}"),
        ),
        other => err(crate::rpc::code::INTERNAL, other.to_string()),
    }
}

fn parse<T: DeserializeOwned>(query: Value) -> Result<T, ErrorObjectOwned> {
    serde_json::from_value(query).map_err(|e| {
        err(
            crate::rpc::code::INVALID_PARAMS,
            format!("invalid query: {e}"),
        )
    })
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The request object, whether sent as `params: {...}` or `params: [{...}]`.
fn request_of(params: &RpcParams<'_>) -> Value {
    match params.parse::<Value>() {
        Ok(Value::Array(mut items)) if items.len() == 1 => items.pop().unwrap_or(Value::Null),
        Ok(v) => v,
        Err(_) => Value::Null,
    }
}

/// Authenticates and logs a request; returns the query.
fn admit(
    shared: &Shared,
    method: &str,
    params: &RpcParams<'_>,
) -> Result<(Arc<AuditNode>, Value), ErrorObjectOwned> {
    let Some(audit) = shared.audit.clone() else {
        return Err(not_regulator(shared.role));
    };
    let now = now_ms();
    let (key, query) = audit
        .gate
        .check(method, request_of(params), now)
        .map_err(|e| {
            tracing::warn!(method, code = e.code(), "audit request refused: {e}");
            auth_error(&e)
        })?;
    audit
        .gate
        .log(&shared.db, &key, method, &query, now)
        .map_err(|e| {
            err(
                crate::rpc::code::INTERNAL,
                format!("cannot log the query: {e}"),
            )
        })?;
    Ok((audit, query))
}

fn answer(
    shared: &Shared,
    method: &'static str,
    params: RpcParams<'_>,
) -> Result<Value, ErrorObjectOwned> {
    let (audit, query) = admit(shared, method, &params)?;
    let db = &shared.db;
    let names = &audit.names;
    match method {
        "hutong_auditHistory" => query::history(db, names, parse(query)?).map_err(query_error),
        "hutong_auditTrace" => query::trace(db, names, parse(query)?).map_err(query_error),
        "hutong_auditFlows" => query::flows(db, names, parse(query)?).map_err(query_error),
        "hutong_auditExport" => query::export(db, names, parse(query)?).map_err(query_error),
        "hutong_auditAlerts" => query::alerts(db, parse(query)?).map_err(query_error),
        "hutong_auditProof" => prove(shared, parse(query)?),
        "hutong_auditLog" => read_log(db, parse(query)?),
        _ => Err(err(
            crate::rpc::code::INVALID_PARAMS,
            "unknown audit method",
        )),
    }
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ProofQuery {
    tx: Option<String>,
    account: Option<String>,
    asset: Option<String>,
    height: Option<u64>,
}

fn prove(shared: &Shared, q: ProofQuery) -> Result<Value, ErrorObjectOwned> {
    let invalid = |m: String| err(crate::rpc::code::INVALID_PARAMS, m);
    let proof = match (&q.tx, &q.account, &q.asset) {
        (Some(tx), None, None) => {
            let hash = Hash::from_hex(tx.trim_start_matches("0x"))
                .map_err(|_| invalid(format!("{tx:?} is not a transaction hash")))?;
            proof::prove_transaction(&shared.db, &hash)
        }
        (None, Some(account), Some(asset)) => {
            let account: Address = account
                .parse()
                .map_err(|e| invalid(format!("{account:?} is not an address: {e}")))?;
            let asset: AssetCode = asset
                .parse()
                .map_err(|e| invalid(format!("{asset:?} is not an asset code: {e:?}")))?;
            proof::prove_balance(&shared.db, account, asset, q.height)
        }
        _ => return Err(invalid("give tx, or account and asset".into())),
    }
    .map_err(proof_error)?;
    let file = proof::render_file(&proof, &shared.genesis).map_err(proof_error)?;
    let claims: Value = serde_json::from_str::<Value>(&file)
        .map(|v| v["claims"].clone())
        .unwrap_or(Value::Null);
    Ok(json!({"file": file, "claims": claims}))
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct LogQuery {
    from_seq: Option<u64>,
    limit: Option<usize>,
}

fn read_log(db: &Db, q: LogQuery) -> Result<Value, ErrorObjectOwned> {
    let from = q.from_seq.unwrap_or(0);
    let limit = q.limit.unwrap_or(100).clamp(1, 10_000);
    let internal = |e: String| err(crate::rpc::code::INTERNAL, e);
    let mut prev = Hash::ZERO;
    let mut entries: Vec<LogEntry> = Vec::new();
    let mut bad = None;
    db.audit_log_from(from.saturating_sub(1), |seq, bytes| {
        match serde_json::from_slice::<LogEntry>(bytes) {
            Ok(e) if seq + 1 == from => {
                prev = Hash::from_hex(&e.hash).unwrap_or(Hash::ZERO);
            }
            Ok(e) if seq >= from => entries.push(e),
            Ok(_) => {}
            Err(e) => bad = Some(format!("log entry {seq} does not decode: {e}")),
        }
        bad.is_none() && entries.len() < limit
    })
    .map_err(|e| internal(e.to_string()))?;
    if let Some(b) = bad {
        return Err(internal(b));
    }
    let verified = super::auth::verify_log(&entries, prev);
    let (next, _) = db.audit_log_head().map_err(|e| internal(e.to_string()))?;
    Ok(json!({
        "entries": entries,
        "chain_ok": verified.is_ok(),
        "chain_error": verified.err(),
        "next_seq": next,
    }))
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct AlertFilter {
    kind: Option<String>,
    account: Option<String>,
}

/// Registers the audit methods on the node's JSON-RPC module.
pub fn register(m: &mut RpcModule<Arc<Shared>>) -> anyhow::Result<()> {
    for method in METHODS {
        m.register_blocking_method(method, move |params, ctx, _| answer(&ctx, method, params))?;
    }
    m.register_subscription(
        "hutong_auditSubscribeAlerts",
        "hutong_auditAlert",
        "hutong_auditUnsubscribeAlerts",
        |params, pending, ctx, _| async move {
            follow_alerts(params, pending, (*ctx).clone())
                .await
                .map_err(|e| SubscriptionError::from(e.to_string()))
        },
    )?;
    Ok(())
}

async fn follow_alerts(
    params: RpcParams<'static>,
    pending: PendingSubscriptionSink,
    ctx: Arc<Shared>,
) -> anyhow::Result<()> {
    let admitted = {
        let ctx = ctx.clone();
        tokio::task::spawn_blocking(move || admit(&ctx, "hutong_auditSubscribeAlerts", &params))
            .await?
    };
    let (audit, query) = match admitted {
        Ok(x) => x,
        Err(e) => {
            pending.reject(e).await;
            return Ok(());
        }
    };
    let filter: AlertFilter = match serde_json::from_value(query) {
        Ok(f) => f,
        Err(e) => {
            pending
                .reject(err(
                    crate::rpc::code::INVALID_PARAMS,
                    format!("invalid query: {e}"),
                ))
                .await;
            return Ok(());
        }
    };
    let kind = filter.kind.as_deref().map(AlertKind::parse);
    if let Some(None) = kind {
        pending
            .reject(err(crate::rpc::code::INVALID_PARAMS, "unknown alert kind"))
            .await;
        return Ok(());
    }
    let kind = kind.flatten();
    let mut alerts = audit.alerts.subscribe();
    let sink = pending.accept().await?;
    loop {
        tokio::select! {
            _ = sink.closed() => return Ok(()),
            alert = alerts.recv() => match alert {
                Ok(a) => {
                    if kind.is_some_and(|k| a.kind != k)
                        || filter.account.as_ref().is_some_and(|x| *x != a.account)
                    {
                        continue;
                    }
                    sink.send(serde_json::value::to_raw_value(&*a)?).await?;
                }
                // A slow subscriber misses alerts (they stay queryable)
                // rather than make the node buffer them.
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(_) => return Ok(()),
            },
        }
    }
}

//! The audit node's JSON-RPC methods.
//!
//! Their queries and answers are [`hutong_audit::api`]'s (params:
//! `{"query": {...}, "auth": {...}}`, the auth part per
//! [`hutong_audit::auth`]): `hutong_auditHistory`, `hutong_auditTrace`,
//! `hutong_auditFlows`, `hutong_auditExport`, `hutong_auditAlerts`,
//! `hutong_auditProof`, `hutong_auditLog`, `hutong_auditAllowList`,
//! `hutong_auditLedger`, `hutong_auditOwner`, and the subscription
//! `hutong_auditSubscribeAlerts` (notification `hutong_auditAlert`). A
//! node that is not a regulator's answers every one of them with
//! [`code::NOT_REGULATOR`].

use std::sync::Arc;

use hutong_audit::api::{
    self, AlertFilter, AlertsQuery, AllowList, AllowListQuery, AuditQuery, ExportQuery, FlowsQuery,
    HistoryQuery, LedgerQuery, LogPage, LogQuery, OwnerQuery, ProofAnswer, ProofQuery, TraceQuery,
};
use hutong_audit::auth::{AuthError, LogEntry};
use hutong_audit::proof::{self, ProofError};
use hutong_audit::AlertKind;
use hutong_runtime::crypto::Hash;
use hutong_runtime::state::AccountKind;
use hutong_runtime::{Account, Address, AssetCode};
use jsonrpsee::core::SubscriptionError;
use jsonrpsee::server::{PendingSubscriptionSink, RpcModule};
use jsonrpsee::types::{ErrorObjectOwned, Params as RpcParams};
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::sync::broadcast;

use super::RpcContext;
use crate::audit::query::{self, QueryError};
use crate::audit::service::AuditNode;
use crate::audit::{index, prove};
use crate::status::Role;
use hutong_wire::rpc::code;

fn err(code: i32, message: impl Into<String>) -> ErrorObjectOwned {
    ErrorObjectOwned::owned(code, message.into(), None::<()>)
}

fn auth_error(e: &AuthError) -> ErrorObjectOwned {
    ErrorObjectOwned::owned(
        code::AUTH,
        e.to_string(),
        Some(api::Refusal {
            code: e.code().to_string(),
            message: e.to_string(),
        }),
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
        QueryError::Invalid(m) => err(code::INVALID_PARAMS, m),
        QueryError::NotFound(m) => err(code::NOT_FOUND, m),
        QueryError::Db(e) => err(code::INTERNAL, format!("node database error: {e}")),
    }
}

fn proof_error(e: ProofError) -> ErrorObjectOwned {
    match e {
        ProofError::Unavailable(m) => err(code::NOT_FOUND, m),
        ProofError::Store(e) => err(code::INTERNAL, format!("node database error: {e}")),
        other => err(code::INTERNAL, other.to_string()),
    }
}

fn parse<T: DeserializeOwned>(query: Value) -> Result<T, ErrorObjectOwned> {
    serde_json::from_value(query)
        .map_err(|e| err(code::INVALID_PARAMS, format!("invalid query: {e}")))
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
    shared: &RpcContext,
    method: &str,
    params: &RpcParams<'_>,
) -> Result<(Arc<AuditNode>, Value), ErrorObjectOwned> {
    let Some(audit) = shared.audit.clone() else {
        return Err(not_regulator(shared.status.role));
    };
    let now = now_ms();
    let request = request_of(params);
    let (key, query) = match audit.gate.check(method, request.clone(), now) {
        Ok(admitted) => admitted,
        Err(e) => {
            tracing::warn!(method, code = e.code(), "audit request refused: {e}");
            // The refusal is an entry of the hash-chained log too.
            if let Err(log_error) =
                audit
                    .gate
                    .log_refusal(&shared.ledger.db, method, &request, &e, now)
            {
                tracing::error!(%log_error, "cannot log a refused audit request");
            }
            return Err(auth_error(&e));
        }
    };
    audit
        .gate
        .log(&shared.ledger.db, &key, method, &query, now)
        .map_err(|e| err(code::INTERNAL, format!("cannot log the query: {e}")))?;
    Ok((audit, query))
}

/// `hutong_identityEvaluate`: a member institution (or a regulator) asks
/// the regulator's OPRF key to evaluate blinded identities. Signed like
/// an audit request (by an institution key of the ledger), limited per
/// key and minute, and logged in the hash-chained audit log before it is
/// answered; a refusal past the limit is logged too.
fn identity_evaluate(
    shared: &RpcContext,
    params: &RpcParams<'_>,
) -> Result<api::Evaluated, ErrorObjectOwned> {
    const METHOD: &str = api::method::IDENTITY_EVALUATE;
    let Some(audit) = shared.audit.clone() else {
        return Err(not_regulator(shared.status.role));
    };
    let Some(service) = &audit.identity else {
        return Err(err(
            code::NOT_FOUND,
            "this regulator's node runs no identity service (genesis names none, or its \
             [audit] identity_key is not set)",
        ));
    };
    let db = &shared.ledger.db;
    // A member institution's current key (a rotated one resolved by its
    // alias; a rotated-away key is no institution's any more).
    let is_institution = |key: &hutong_runtime::PublicKey| {
        matches!(
            crate::rpc::views::account_of_key(db, key),
            Ok(Some((
                _,
                Account {
                    kind: AccountKind::Institution,
                    ..
                }
            )))
        )
    };
    let now = now_ms();
    let request = request_of(params);
    let refuse = |e: AuthError| {
        tracing::warn!(
            method = METHOD,
            code = e.code(),
            "identity request refused: {e}"
        );
        if let Err(log_error) = audit.gate.log_refusal(db, METHOD, &request, &e, now) {
            tracing::error!(%log_error, "cannot log a refused identity request");
        }
        auth_error(&e)
    };
    let (key, query) = audit
        .gate
        .check_signed(METHOD, request.clone(), now, is_institution)
        .map_err(refuse)?;
    // A malformed query from an authenticated key is logged before it is
    // refused, like any other request of that key.
    let log = |query: &Value| {
        audit
            .gate
            .log(db, &key, METHOD, query, now)
            .map(|_| ())
            .map_err(|e| err(code::INTERNAL, format!("cannot log the request: {e}")))
    };
    let parsed = parse::<api::EvaluateQuery>(query.clone()).and_then(|q| {
        if q.blinded.is_empty() || q.blinded.len() > hutong_privacy::oprf::BATCH_MAX {
            return Err(err(
                code::INVALID_PARAMS,
                format!(
                    "blinded: 1 to {} elements, not {}",
                    hutong_privacy::oprf::BATCH_MAX,
                    q.blinded.len()
                ),
            ));
        }
        q.blinded
            .iter()
            .map(|b| hutong_privacy::hex_array::<32>("blinded element", b))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| err(code::INVALID_PARAMS, e.to_string()))
    });
    let blinded = match parsed {
        Ok(b) => b,
        Err(e) => {
            log(&query)?;
            return Err(e);
        }
    };
    let remaining = service
        .limiter
        .take(&key, blinded.len() as u32, now)
        .map_err(refuse)?;
    log(&query)?;
    let answer = service
        .keys
        .oprf
        .evaluate(&blinded, &mut rand::rngs::OsRng)
        .map_err(|e| err(code::INVALID_PARAMS, e.to_string()))?;
    Ok(api::Evaluated {
        elements: answer.elements.iter().map(hex::encode).collect(),
        proof: hex::encode(answer.proof),
        remaining,
    })
}

/// Fills in the memos of a history page's rows, opened with the
/// regulator's key (one read and one open per transaction).
fn open_memos(
    shared: &RpcContext,
    service: &crate::audit::service::IdentityService,
    rows: &mut [api::HistoryRow],
) -> Result<(), ErrorObjectOwned> {
    let db = &shared.ledger.db;
    let mut seen: std::collections::HashMap<String, Option<String>> =
        std::collections::HashMap::new();
    for row in rows {
        if let Some(memo) = seen.get(&row.leg.tx_hash) {
            row.memo = memo.clone();
            continue;
        }
        let memo = (|| -> Result<Option<String>, ErrorObjectOwned> {
            let Ok(hash) = Hash::from_hex(&row.leg.tx_hash) else {
                return Ok(None);
            };
            let internal =
                |e: crate::store::DbError| err(code::INTERNAL, format!("node database error: {e}"));
            let Some(loc) = db.tx_location(&hash).map_err(internal)? else {
                return Ok(None);
            };
            let Some(stx) = db
                .block_at(loc.height)
                .map_err(internal)?
                .and_then(|b| b.payload.txs.get(loc.index as usize).cloned())
            else {
                return Ok(None);
            };
            if stx.tx.memo.is_empty() {
                return Ok(None);
            }
            let context = hutong_privacy::envelope::memo_context(
                &shared.ledger.chain_id.0,
                &stx.tx.sender.0,
                stx.tx.sequence.0,
            );
            Ok(Some(
                match hutong_privacy::envelope::open_memo(
                    &service.keys.hpke,
                    &context,
                    &stx.tx.memo,
                ) {
                    Ok(text) => String::from_utf8_lossy(&text).into_owned(),
                    Err(e) => format!(
                        "(sealed; the regulator's key does not open it: {})",
                        e.code()
                    ),
                },
            ))
        })()?;
        seen.insert(row.leg.tx_hash.clone(), memo.clone());
        row.memo = memo;
    }
    Ok(())
}

/// Registers one audit method: authenticated, logged, its query parsed,
/// then answered by `run` on a blocking thread (the answers read RocksDB).
fn register_query<Q>(
    m: &mut RpcModule<Arc<RpcContext>>,
    run: fn(&RpcContext, &AuditNode, Q) -> Result<Q::Answer, ErrorObjectOwned>,
) -> anyhow::Result<()>
where
    Q: AuditQuery + DeserializeOwned + 'static,
    Q::Answer: Clone + Send + 'static,
{
    m.register_blocking_method(Q::METHOD, move |params, ctx, _| {
        let (audit, query) = admit(&ctx, Q::METHOD, &params)?;
        run(&ctx, &audit, parse(query)?)
    })?;
    Ok(())
}

fn prove(
    shared: &RpcContext,
    _: &AuditNode,
    q: ProofQuery,
) -> Result<ProofAnswer, ErrorObjectOwned> {
    let invalid = |m: String| err(code::INVALID_PARAMS, m);
    let proof = match (&q.tx, &q.account, &q.asset) {
        (Some(tx), None, None) => {
            let hash = Hash::from_hex(tx.trim_start_matches("0x"))
                .map_err(|_| invalid(format!("{tx:?} is not a transaction hash")))?;
            prove::prove_transaction(&shared.ledger.db, &hash)
        }
        (None, Some(account), Some(asset)) => {
            let account: Address = account
                .parse()
                .map_err(|e| invalid(format!("{account:?} is not an address: {e}")))?;
            let asset: AssetCode = asset
                .parse()
                .map_err(|e| invalid(format!("{asset:?} is not an asset code: {e:?}")))?;
            prove::prove_balance(&shared.ledger.db, account, asset, q.height)
        }
        _ => return Err(invalid("give tx, or account and asset".into())),
    }
    .map_err(proof_error)?;
    let file = proof::render_file(&proof, &shared.ledger.genesis).map_err(proof_error)?;
    // The claims exactly as the file states them.
    let claims = serde_json::from_str::<Value>(&file)
        .ok()
        .and_then(|mut v| v.get_mut("claims").map(Value::take))
        .unwrap_or(Value::Null);
    Ok(ProofAnswer { file, claims })
}

fn read_log(shared: &RpcContext, _: &AuditNode, q: LogQuery) -> Result<LogPage, ErrorObjectOwned> {
    let db = &shared.ledger.db;
    let from = q.from_seq.unwrap_or(0);
    let limit = q.limit.unwrap_or(100).clamp(1, 10_000);
    let internal = |e: String| err(code::INTERNAL, e);
    let mut prev = Hash::ZERO;
    let mut entries: Vec<LogEntry> = Vec::new();
    let mut bad = None;
    index::audit_log_from(db, from.saturating_sub(1), |seq, bytes| {
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
    let verified = hutong_audit::auth::verify_log(&entries, prev);
    let (next, _) = index::audit_log_head(db).map_err(|e| internal(e.to_string()))?;
    Ok(LogPage {
        entries,
        chain_ok: verified.is_ok(),
        chain_error: verified.err(),
        next_seq: next,
    })
}

/// Reads the allow-list, changed as the query says.
fn allow_list(
    shared: &RpcContext,
    audit: &AuditNode,
    q: AllowListQuery,
) -> Result<AllowList, ErrorObjectOwned> {
    if q.add.is_empty() && q.remove.is_empty() {
        return Ok(AllowList {
            entries: audit.allow_list(),
        });
    }
    let invalid = |m: String| err(code::INVALID_PARAMS, m);
    // Subjects in their canonical spelling, so that one address is one entry.
    let canonical = |s: &str| s.parse::<Address>().map(|a| a.to_string());
    let mut entries = audit.allow_list();
    for subject in &q.remove {
        let subject = canonical(subject).unwrap_or_else(|_| subject.clone());
        let before = entries.len();
        entries.retain(|e| e.subject != subject);
        if entries.len() == before {
            return Err(invalid(format!("{subject} is not on the allow-list")));
        }
    }
    for mut entry in q.add {
        entry.subject = canonical(&entry.subject)
            .map_err(|_| invalid(format!("{:?} is not an address", entry.subject)))?;
        if entry.reason.trim().is_empty() {
            return Err(invalid(format!(
                "the entry for {} has no reason",
                entry.subject
            )));
        }
        entries.retain(|e| e.subject != entry.subject);
        entries.push(entry);
    }
    if entries.len() > ALLOW_LIST_MAX {
        return Err(invalid(format!(
            "the allow-list holds at most {ALLOW_LIST_MAX} entries"
        )));
    }
    audit
        .set_allow_list(&shared.ledger.db, entries)
        .map_err(|e| err(code::INTERNAL, e))?;
    Ok(AllowList {
        entries: audit.allow_list(),
    })
}

/// Most entries of the allow-list (it is searched on every alert).
const ALLOW_LIST_MAX: usize = 10_000;

/// Registers the audit methods on the node's JSON-RPC module.
pub fn register(m: &mut RpcModule<Arc<RpcContext>>) -> anyhow::Result<()> {
    register_query::<HistoryQuery>(m, |ctx, audit, q| {
        let mut page = query::history(&ctx.ledger.db, &audit.names, q).map_err(query_error)?;
        if let Some(service) = &audit.identity {
            open_memos(ctx, service, &mut page.rows)?;
        }
        Ok(page)
    })?;
    register_query::<TraceQuery>(m, |ctx, audit, q| {
        query::trace(&ctx.ledger.db, &audit.names, q).map_err(query_error)
    })?;
    register_query::<FlowsQuery>(m, |ctx, audit, q| {
        query::flows(&ctx.ledger.db, &audit.names, q).map_err(query_error)
    })?;
    register_query::<ExportQuery>(m, |ctx, audit, q| {
        query::export(&ctx.ledger.db, &audit.names, q).map_err(query_error)
    })?;
    register_query::<AlertsQuery>(m, |ctx, audit, q| {
        query::alerts(&ctx.ledger.db, &audit.names, q).map_err(query_error)
    })?;
    register_query::<AllowListQuery>(m, allow_list)?;
    register_query::<LedgerQuery>(m, |ctx, audit, q| {
        query::ledger(&ctx.ledger.db, &audit.names, q).map_err(query_error)
    })?;
    register_query::<OwnerQuery>(m, |ctx, audit, q| {
        query::owner(&ctx.ledger.db, &audit.names, q).map_err(query_error)
    })?;
    register_query::<ProofQuery>(m, prove)?;
    register_query::<LogQuery>(m, read_log)?;
    m.register_blocking_method(api::method::IDENTITY_EVALUATE, |params, ctx, _| {
        identity_evaluate(&ctx, &params)
    })?;
    m.register_subscription(
        api::method::SUBSCRIBE_ALERTS,
        api::method::ALERT_NOTIFICATION,
        api::method::UNSUBSCRIBE_ALERTS,
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
    ctx: Arc<RpcContext>,
) -> anyhow::Result<()> {
    let admitted = {
        let ctx = ctx.clone();
        tokio::task::spawn_blocking(move || admit(&ctx, api::method::SUBSCRIBE_ALERTS, &params))
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
                .reject(err(code::INVALID_PARAMS, format!("invalid query: {e}")))
                .await;
            return Ok(());
        }
    };
    let kind = filter.kind.as_deref().map(AlertKind::parse);
    if let Some(None) = kind {
        pending
            .reject(err(code::INVALID_PARAMS, "unknown alert kind"))
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

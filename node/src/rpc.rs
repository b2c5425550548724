//! JSON-RPC 2.0 over HTTP and WebSocket (`jsonrpsee`), on one port.
//!
//! Methods, all under `hutong_`:
//! - `submitTransaction(tx_hex)`, `submitTransactions([tx_hex])`
//! - `getTransaction(hash)`: unknown / pending / rejected with its code /
//!   committed with its block and receipt
//! - `getAccount(address)`: balances per asset, sequence, kind, tier,
//!   institution, freeze
//! - `getBlock({"height": n} | {"id": hex})`: header, transaction hashes,
//!   execution result and the certificate that committed it
//! - `status()`: chain id, role, heights, round, peers, validators,
//!   mempool, and why the node halted if it did
//! - subscriptions `subscribeBlocks` (notification `hutong_block`) and
//!   `subscribeTransaction(hash)` (one `hutong_transaction` at finality)
//!
//! Errors carry stable numeric codes (see [`code`]) and, for rejected
//! transactions, `data = {code, retryable, message}`.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use hutong_runtime::crypto::Hash;
use hutong_runtime::receipt::{Effect, Outcome};
use hutong_runtime::state::{AccountKind, StateKey, StateValue};
use hutong_runtime::{Address, Receipt};
use jsonrpsee::core::SubscriptionError;
use jsonrpsee::server::{
    stop_channel, BatchRequestConfig, Methods, PendingSubscriptionSink, RpcModule, Server,
    ServerConfig, ServerHandle, StopHandle,
};
use jsonrpsee::types::{ErrorObjectOwned, Params};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::admit::{admit, Source};
use crate::config::NodeConfig;
use crate::mempool::Rejection;
use crate::shared::{lock, Counters, Shared};

/// Stable error codes. JSON-RPC reserves -32768 to -32000 for itself and
/// jsonrpsee uses part of that range (-32010 is its "batch too large"), so
/// Hutong's own codes are positive.
pub mod code {
    pub const INVALID_PARAMS: i32 = -32602;
    /// The transaction was not admitted; `data.code` says why.
    pub const REJECTED: i32 = 1001;
    /// The node is overloaded; retry later.
    pub const BUSY: i32 = 1002;
    /// Not found (block, account).
    pub const NOT_FOUND: i32 = 1003;
    /// The node's database failed.
    pub const INTERNAL: i32 = 1004;
    /// Too many items in one call.
    pub const TOO_MANY: i32 = 1005;
}

/// Most transactions in one `submitTransactions` call.
pub const SUBMIT_BATCH_MAX: usize = 1_000;

#[derive(Debug)]
pub struct RpcServer {
    pub local_addr: SocketAddr,
    handle: ServerHandle,
}

impl RpcServer {
    pub async fn stop(self) {
        let _ = self.handle.stop();
        self.handle.stopped().await;
    }
}

fn err(code: i32, message: impl Into<String>) -> ErrorObjectOwned {
    ErrorObjectOwned::owned(code, message.into(), None::<()>)
}

fn rejected(r: &Rejection) -> ErrorObjectOwned {
    let code =
        if r.retryable() && matches!(r, Rejection::Busy { .. } | Rejection::SenderBusy { .. }) {
            code::BUSY
        } else {
            code::REJECTED
        };
    ErrorObjectOwned::owned(
        code,
        r.to_string(),
        Some(json!({"code": r.code(), "retryable": r.retryable(), "message": r.to_string()})),
    )
}

fn internal(e: impl std::fmt::Display) -> ErrorObjectOwned {
    tracing::error!("rpc: {e}");
    err(code::INTERNAL, format!("node database error: {e}"))
}

fn parse_hash(s: &str) -> Result<Hash, ErrorObjectOwned> {
    Hash::from_hex(s.trim_start_matches("0x")).map_err(|e| {
        err(
            code::INVALID_PARAMS,
            format!("{s:?} is not a 32-byte hex hash: {e}"),
        )
    })
}

fn parse_tx_hex(s: &str) -> Result<Vec<u8>, ErrorObjectOwned> {
    hex::decode(s.trim_start_matches("0x"))
        .map_err(|e| err(code::INVALID_PARAMS, format!("transaction is not hex: {e}")))
}

/// One effect of a successful transaction as JSON; amounts in minor units.
pub fn effect_json(e: &Effect) -> Value {
    match e {
        Effect::Debit {
            account,
            asset,
            amount,
        } => {
            json!({"type": "debit", "account": account.to_string(), "asset": asset.to_string(), "amount": amount.0.to_string()})
        }
        Effect::Credit {
            account,
            asset,
            amount,
        } => {
            json!({"type": "credit", "account": account.to_string(), "asset": asset.to_string(), "amount": amount.0.to_string()})
        }
        Effect::SupplyChanged {
            asset,
            total_supply,
        } => {
            json!({"type": "supply_changed", "asset": asset.to_string(), "total_supply": total_supply.0.to_string()})
        }
        Effect::AccountOpened {
            account,
            institution,
            tier,
        } => {
            json!({"type": "account_opened", "account": account.to_string(), "institution": institution.to_string(), "tier": tier.0})
        }
        Effect::TierSet { account, tier } => {
            json!({"type": "tier_set", "account": account.to_string(), "tier": tier.0})
        }
        Effect::Frozen { account, freeze } => json!({
            "type": "frozen",
            "account": account.to_string(),
            "reason": freeze.reason.name(),
            "by": freeze.by.to_string(),
        }),
        Effect::Unfrozen { account } => {
            json!({"type": "unfrozen", "account": account.to_string()})
        }
    }
}

/// A receipt as JSON.
pub fn receipt_json(r: &Receipt) -> Value {
    match &r.outcome {
        Outcome::Success { effects } => json!({
            "tx_hash": r.tx_hash.to_string(),
            "success": true,
            "effects": effects.iter().map(effect_json).collect::<Vec<_>>(),
        }),
        Outcome::Failed { reason } => json!({
            "tx_hash": r.tx_hash.to_string(),
            "success": false,
            "code": reason.code(),
            "reason": format!("{reason:?}"),
        }),
    }
}

fn tx_status(shared: &Shared, hash: &Hash) -> Result<Value, ErrorObjectOwned> {
    let db = &shared.db;
    if let Some(loc) = db.tx_location(hash).map_err(internal)? {
        let receipt = db
            .receipts_at(loc.height)
            .map_err(internal)?
            .and_then(|rs| rs.get(loc.index as usize).cloned());
        let block_id = db.block_id_at(loc.height).map_err(internal)?;
        return Ok(json!({
            "hash": hash.to_string(),
            "status": "committed",
            "height": loc.height,
            "index": loc.index,
            "block_id": block_id.map(|id| hex::encode(id.0)),
            "receipt": receipt.as_ref().map(receipt_json),
        }));
    }
    if lock(&shared.mempool).contains(hash) {
        return Ok(json!({"hash": hash.to_string(), "status": "pending"}));
    }
    if let Some(r) = lock(&shared.rejections).get(hash) {
        return Ok(json!({
            "hash": hash.to_string(),
            "status": "rejected",
            "code": r.code(),
            "retryable": r.retryable(),
            "message": r.to_string(),
        }));
    }
    Ok(json!({"hash": hash.to_string(), "status": "unknown"}))
}

fn account_json(shared: &Shared, address: Address) -> Result<Value, ErrorObjectOwned> {
    let db = &shared.db;
    let account = match db.state(&StateKey::Account(address)).map_err(internal)? {
        Some(StateValue::Account(a)) => a,
        _ => return Err(err(code::NOT_FOUND, format!("no account {address}"))),
    };
    let mut balances = serde_json::Map::new();
    for asset in &shared.genesis.assets {
        if let Some(StateValue::Balance(b)) = db
            .state(&StateKey::Balance(address, asset.code))
            .map_err(internal)?
        {
            balances.insert(
                asset.code.to_string(),
                Value::String(b.balance.0.to_string()),
            );
        }
    }
    let (kind, tier) = match account.kind {
        AccountKind::Customer { tier, .. } => ("customer", Some(tier.0)),
        AccountKind::Institution => ("institution", None),
        AccountKind::Regulator => ("regulator", None),
    };
    Ok(json!({
        "address": address.to_string(),
        "kind": kind,
        "tier": tier,
        "institution": account.institution.to_string(),
        "sequence": account.sequence.0,
        "frozen": account.frozen.map(|f| json!({"reason": f.reason.name(), "by": f.by.to_string()})),
        "status": if account.frozen.is_some() { "frozen" } else { "active" },
        "balances": balances,
        "height": shared.executed().height,
    }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BlockQuery {
    height: Option<u64>,
    id: Option<String>,
}

fn block_json(shared: &Shared, q: BlockQuery) -> Result<Value, ErrorObjectOwned> {
    let db = &shared.db;
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
    let cert = match db.cert_from(height).map_err(internal)? {
        Some((at, qc)) if committed => Some(json!({
            "committed_by_height": at,
            "round": qc.data.round.0,
            "block_id": hex::encode(qc.data.block_id.0),
            "signers": qc.signers.iter().map(|s| s.0).collect::<Vec<_>>(),
            "borsh_hex": hex::encode(borsh::to_vec(&qc).unwrap_or_default()),
        })),
        _ => None,
    };
    Ok(json!({
        "height": height,
        "id": hex::encode(b.id().0),
        "committed": committed,
        "epoch": b.epoch.0,
        "round": b.round.0,
        "proposer": b.proposer.0,
        "timestamp_ms": b.timestamp_ms,
        "parent_id": hex::encode(b.parent_id().0),
        "payload_digest": hex::encode(b.payload.0),
        "tx_count": stored.payload.txs.len(),
        "tx_root": hutong_runtime::block::tx_root(&stored.payload.txs).to_string(),
        "txs": stored.payload.txs.iter().map(|t| t.hash().to_string()).collect::<Vec<_>>(),
        "claimed_result": {
            "height": stored.payload.result.height,
            "state_root": stored.payload.result.state_root.to_string(),
            "receipts_root": stored.payload.result.receipts_root.to_string(),
        },
        "result": result.map(|r| json!({
            "state_root": r.state_root.to_string(),
            "receipts_root": r.receipts_root.to_string(),
        })),
        "certificate": cert,
    }))
}

/// The node's status, as `hutong_status` returns it.
pub fn status_json(shared: &Shared) -> Value {
    let executed = shared.executed();
    let consensus = lock(&shared.consensus).clone();
    let peers = lock(&shared.peers).clone();
    let mempool = lock(&shared.mempool).stats();
    json!({
        "chain_id": shared.chain_id.to_string(),
        "consortium": shared.genesis.consortium,
        "role": shared.role,
        "height": executed.height,
        "block_id": hex::encode(executed.block_id.0),
        "state_root": executed.state_root.to_string(),
        "receipts_root": executed.receipts_root.to_string(),
        "timestamp_ms": executed.timestamp_ms,
        "consensus": consensus,
        "validators": shared.validators,
        "assets": shared.genesis.assets.iter().map(|a| json!({
            "code": a.code.to_string(),
            "decimals": a.decimals,
            "issuer": a.issuer.to_string(),
        })).collect::<Vec<_>>(),
        "peers": peers,
        "mempool": mempool,
        "halted": shared.halted(),
    })
}

/// Most calls in one JSON-RPC batch.
pub const RPC_BATCH_MAX: u32 = 64;

/// Starts the server on the configured address.
///
/// The accept loop is ours rather than jsonrpsee's so that every
/// connection is bounded: at most `rpc_connections_max` in all and
/// `rpc_connections_per_ip_max` per client address (the rest are closed at
/// once), request headers within `rpc_header_timeout` (slow-loris, idle
/// keep-alive), each request within `rpc_request_timeout`, and batches of
/// at most [`RPC_BATCH_MAX`] calls. WebSocket sessions also count against
/// jsonrpsee's own connection guard for as long as they live.
pub async fn start(config: &NodeConfig, shared: Arc<Shared>) -> anyhow::Result<RpcServer> {
    let server_config = ServerConfig::builder()
        .max_request_body_size(config.rpc_request_bytes_max)
        .max_response_body_size(64 * 1024 * 1024)
        .max_connections(config.rpc_connections_max)
        .max_subscriptions_per_connection(64)
        .set_message_buffer_capacity(256)
        .set_batch_request_config(BatchRequestConfig::Limit(RPC_BATCH_MAX))
        .build();
    let listener = tokio::net::TcpListener::bind(config.rpc_listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen for JSON-RPC on {}: {e}", config.rpc_listen))?;
    let local_addr = listener.local_addr()?;
    let methods: Methods = build_module(shared.clone())?.into();
    let (stop, handle) = stop_channel();
    let service = Server::builder()
        .set_config(server_config)
        .to_service_builder();
    let limits = Arc::new(ConnectionLimits {
        total: Arc::new(tokio::sync::Semaphore::new(
            config.rpc_connections_max as usize,
        )),
        per_ip_max: config.rpc_connections_per_ip_max,
        per_ip: std::sync::Mutex::new(HashMap::new()),
        header_timeout: config.rpc_header_timeout,
        request_timeout: config.rpc_request_timeout,
    });
    tokio::spawn(accept_loop(
        listener, service, methods, stop, limits, shared,
    ));
    tracing::info!(%local_addr, "JSON-RPC listening (HTTP and WebSocket)");
    Ok(RpcServer { local_addr, handle })
}

type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// jsonrpsee's service error as a concrete type: with its boxed error
/// rustc cannot prove the connection future `Send` (rust-lang/rust#64552).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct ServiceError(String);

struct ConnectionLimits {
    total: Arc<tokio::sync::Semaphore>,
    per_ip_max: u32,
    per_ip: std::sync::Mutex<HashMap<IpAddr, u32>>,
    header_timeout: Duration,
    request_timeout: Duration,
}

/// One connection's claim on the limits, given back on drop.
struct ConnectionSlot {
    limits: Arc<ConnectionLimits>,
    ip: IpAddr,
    _permit: tokio::sync::OwnedSemaphorePermit,
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        let mut map = lock(&self.limits.per_ip);
        if let Some(n) = map.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                map.remove(&self.ip);
            }
        }
    }
}

/// A slot for a new connection from `ip`, or `None` when the node or that
/// address is at its limit.
fn claim(limits: &Arc<ConnectionLimits>, ip: IpAddr) -> Option<ConnectionSlot> {
    let permit = limits.total.clone().try_acquire_owned().ok()?;
    let mut map = lock(&limits.per_ip);
    let n = map.entry(ip).or_default();
    if *n >= limits.per_ip_max {
        return None;
    }
    *n += 1;
    Some(ConnectionSlot {
        limits: limits.clone(),
        ip,
        _permit: permit,
    })
}

async fn accept_loop(
    listener: tokio::net::TcpListener,
    service: jsonrpsee::server::TowerServiceBuilder<
        tower::layer::util::Identity,
        tower::layer::util::Identity,
    >,
    methods: Methods,
    stop: StopHandle,
    limits: Arc<ConnectionLimits>,
    shared: Arc<Shared>,
) {
    loop {
        let (socket, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: wait, go on.
                    tracing::warn!(error = %e, "JSON-RPC accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = stop.clone().shutdown() => break,
        };
        let Some(slot) = claim(&limits, remote.ip()) else {
            Counters::add(&shared.counters.rpc_connections_refused, 1);
            drop(socket);
            continue;
        };
        let _ = socket.set_nodelay(true);
        let service = service.clone();
        let methods = methods.clone();
        let stop = stop.clone();
        let stop_for_calls = stop.clone();
        let request_timeout = limits.request_timeout;
        let header_timeout = limits.header_timeout;
        let svc = tower::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
            let mut svc = service
                .clone()
                .build(methods.clone(), stop_for_calls.clone());
            // jsonrpsee's future owns what it needs: no borrow of `svc`.
            let call = tower::Service::call(&mut svc, req);
            async move {
                match tokio::time::timeout(request_timeout, call).await {
                    Ok(answer) => answer.map_err(|e| ServiceError(e.to_string())),
                    Err(_) => Ok(timed_out()),
                }
            }
        });
        tokio::spawn(async move {
            let _slot = slot;
            serve_connection(socket, svc, header_timeout, stop.shutdown()).await;
        });
    }
}

/// Serves one connection with a header timeout, until it closes or the
/// server stops (then gracefully, for at most five seconds).
async fn serve_connection<S, B>(
    socket: tokio::net::TcpStream,
    service: S,
    header_timeout: Duration,
    stopped: impl std::future::Future<Output = ()>,
) where
    S: tower::Service<hyper::Request<hyper::body::Incoming>, Response = hyper::Response<B>>
        + Clone
        + Send
        + 'static,
    S::Future: Send,
    S::Error: Into<BoxError>,
    B: hyper::body::Body<Data = hyper::body::Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let mut builder =
        hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new());
    builder
        .http1()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(header_timeout)
        .max_buf_size(64 * 1024);
    builder
        .http2()
        .timer(hyper_util::rt::TokioTimer::new())
        .keep_alive_interval(Some(Duration::from_secs(30)))
        .max_concurrent_streams(32);
    let conn = builder.serve_connection_with_upgrades(
        hyper_util::rt::TokioIo::new(socket),
        hyper_util::service::TowerToHyperService::new(service),
    );
    tokio::pin!(conn, stopped);
    tokio::select! {
        _ = &mut conn => {}
        _ = &mut stopped => {
            conn.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(Duration::from_secs(5), conn).await;
        }
    }
}

fn timed_out() -> jsonrpsee::server::HttpResponse {
    let mut response = jsonrpsee::server::HttpResponse::new(jsonrpsee::server::HttpBody::from(
        "request not done within the node's request timeout\n",
    ));
    *response.status_mut() = hyper::StatusCode::REQUEST_TIMEOUT;
    response
}

fn one<T: for<'de> Deserialize<'de>>(params: &Params<'_>) -> Result<T, ErrorObjectOwned> {
    params.one::<T>().map_err(|e| {
        err(
            code::INVALID_PARAMS,
            format!("invalid params: {}", e.message()),
        )
    })
}

/// The JSON-RPC methods without a server: what [`start`] serves, for
/// in-process callers (the fuzz target `rpc_bodies` feeds it raw bodies).
pub fn build_module(shared: Arc<Shared>) -> anyhow::Result<RpcModule<Arc<Shared>>> {
    let mut m = RpcModule::new(shared);
    m.register_async_method("hutong_submitTransaction", |params, ctx, _| async move {
        let hex_tx: String = one(&params)?;
        let raw = parse_tx_hex(&hex_tx)?;
        let mut verdicts = admit(&ctx, vec![raw], Source::Client).await;
        match verdicts.pop() {
            Some(Ok(hash)) => Ok::<Value, ErrorObjectOwned>(
                json!({"hash": hash.to_string(), "status": "pending"}),
            ),
            Some(Err(r)) => Err(rejected(&r)),
            None => Err(err(code::INTERNAL, "no verdict")),
        }
    })?;
    m.register_async_method("hutong_submitTransactions", |params, ctx, _| async move {
        let list: Vec<String> = one(&params)?;
        if list.len() > SUBMIT_BATCH_MAX {
            return Err(err(
                code::TOO_MANY,
                format!("{} transactions in one call; at most {SUBMIT_BATCH_MAX}", list.len()),
            ));
        }
        let raws = list
            .iter()
            .map(|s| parse_tx_hex(s))
            .collect::<Result<Vec<_>, _>>()?;
        let verdicts = admit(&ctx, raws, Source::Client).await;
        Ok::<Value, ErrorObjectOwned>(Value::Array(
            verdicts
                .into_iter()
                .map(|v| match v {
                    Ok(hash) => json!({"hash": hash.to_string(), "status": "pending"}),
                    Err(r) => json!({"status": "rejected", "code": r.code(), "retryable": r.retryable(), "message": r.to_string()}),
                })
                .collect(),
        ))
    })?;
    m.register_method("hutong_getTransaction", |params, ctx, _| {
        let hash: String = one(&params)?;
        tx_status(ctx, &parse_hash(&hash)?)
    })?;
    m.register_method("hutong_getAccount", |params, ctx, _| {
        let address: String = one(&params)?;
        let address: Address = address.parse().map_err(|e| {
            err(
                code::INVALID_PARAMS,
                format!("{address:?} is not an address: {e}"),
            )
        })?;
        account_json(ctx, address)
    })?;
    m.register_method("hutong_getBlock", |params, ctx, _| {
        let q: BlockQuery = one(&params)?;
        block_json(ctx, q)
    })?;
    m.register_method("hutong_status", |_, ctx, _| {
        Ok::<Value, ErrorObjectOwned>(status_json(ctx))
    })?;
    m.register_subscription(
        "hutong_subscribeBlocks",
        "hutong_block",
        "hutong_unsubscribeBlocks",
        |_, pending, ctx, _| async move {
            follow_blocks(pending, (*ctx).clone())
                .await
                .map_err(|e| SubscriptionError::from(e.to_string()))
        },
    )?;
    m.register_subscription(
        "hutong_subscribeTransaction",
        "hutong_transaction",
        "hutong_unsubscribeTransaction",
        |params, pending, ctx, _| async move {
            let hash = params.one::<String>().ok().map(|h| parse_hash(&h));
            follow_transaction(hash, pending, (*ctx).clone())
                .await
                .map_err(|e| SubscriptionError::from(e.to_string()))
        },
    )?;
    crate::audit::rpc::register(&mut m)?;
    Ok(m)
}

async fn follow_blocks(pending: PendingSubscriptionSink, ctx: Arc<Shared>) -> anyhow::Result<()> {
    let mut commits = ctx.commits.subscribe();
    let sink = pending.accept().await?;
    loop {
        tokio::select! {
            _ = sink.closed() => return Ok(()),
            block = commits.recv() => match block {
                Ok(block) => {
                    let msg = serde_json::value::to_raw_value(&*block)?;
                    sink.send(msg).await?;
                }
                // A slow subscriber misses blocks rather than making the
                // node buffer them for it.
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(_) => return Ok(()),
            },
        }
    }
}

async fn follow_transaction(
    hash: Option<Result<Hash, ErrorObjectOwned>>,
    pending: PendingSubscriptionSink,
    ctx: Arc<Shared>,
) -> anyhow::Result<()> {
    let hash = match hash {
        Some(Ok(h)) => h,
        Some(Err(e)) => {
            pending.reject(e).await;
            return Ok(());
        }
        None => {
            pending
                .reject(err(code::INVALID_PARAMS, "expected one transaction hash"))
                .await;
            return Ok(());
        }
    };
    // Subscribe before the first look, so no commit slips between them.
    let mut commits = ctx.commits.subscribe();
    let sink = pending.accept().await?;
    loop {
        let status = tx_status(&ctx, &hash).map_err(|e| anyhow::anyhow!("{}", e.message()))?;
        if status["status"] == "committed" || status["status"] == "rejected" {
            sink.send(serde_json::value::to_raw_value(&status)?).await?;
            return Ok(());
        }
        tokio::select! {
            _ = sink.closed() => return Ok(()),
            block = commits.recv() => {
                if let Err(tokio::sync::broadcast::error::RecvError::Closed) = block {
                    return Ok(());
                }
            }
        }
    }
}

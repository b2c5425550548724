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

use std::net::SocketAddr;
use std::sync::Arc;

use hutong_runtime::crypto::Hash;
use hutong_runtime::receipt::{Effect, Outcome};
use hutong_runtime::state::{AccountKind, StateKey, StateValue};
use hutong_runtime::{Address, Receipt};
use jsonrpsee::core::SubscriptionError;
use jsonrpsee::server::{PendingSubscriptionSink, RpcModule, Server, ServerConfig, ServerHandle};
use jsonrpsee::types::{ErrorObjectOwned, Params};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::admit::{admit, Source};
use crate::config::NodeConfig;
use crate::mempool::Rejection;
use crate::shared::{lock, Shared};

/// Stable error codes (JSON-RPC's own are -32700 to -32600).
pub mod code {
    pub const INVALID_PARAMS: i32 = -32602;
    /// The transaction was not admitted; `data.code` says why.
    pub const REJECTED: i32 = -32010;
    /// The node is overloaded; retry later.
    pub const BUSY: i32 = -32011;
    /// Not found (block, account).
    pub const NOT_FOUND: i32 = -32012;
    /// The node's database failed.
    pub const INTERNAL: i32 = -32013;
    /// Too many items in one call.
    pub const TOO_MANY: i32 = -32014;
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
            balances.insert(asset.code.to_string(), Value::String(b.0.to_string()));
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

/// Starts the server on the configured address.
pub async fn start(config: &NodeConfig, shared: Arc<Shared>) -> anyhow::Result<RpcServer> {
    let server_config = ServerConfig::builder()
        .max_request_body_size(config.rpc_request_bytes_max)
        .max_response_body_size(64 * 1024 * 1024)
        .max_connections(config.rpc_connections_max)
        .max_subscriptions_per_connection(64)
        .set_message_buffer_capacity(256)
        .build();
    let server = Server::builder()
        .set_config(server_config)
        .build(config.rpc_listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen for JSON-RPC on {}: {e}", config.rpc_listen))?;
    let local_addr = server.local_addr()?;
    let module = build_module(shared)?;
    let handle = server.start(module);
    tracing::info!(%local_addr, "JSON-RPC listening (HTTP and WebSocket)");
    Ok(RpcServer { local_addr, handle })
}

fn one<T: for<'de> Deserialize<'de>>(params: &Params<'_>) -> Result<T, ErrorObjectOwned> {
    params.one::<T>().map_err(|e| {
        err(
            code::INVALID_PARAMS,
            format!("invalid params: {}", e.message()),
        )
    })
}

pub(crate) fn build_module(shared: Arc<Shared>) -> anyhow::Result<RpcModule<Arc<Shared>>> {
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

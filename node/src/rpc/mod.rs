//! JSON-RPC 2.0 over HTTP and WebSocket (`jsonrpsee`), on one port.
//!
//! Methods, all under `hutong_`:
//! - `submitTransaction(tx_hex)`, `submitTransactions([tx_hex])`
//! - `getTransaction(hash)`: unknown / pending / rejected with its code /
//!   committed with its block and receipt
//! - `getAccount(address)`: balances per asset, sequence (and the next
//!   one past this node's pending transactions), kind, tier, institution,
//!   freeze, and a customer's limits today (spent, remaining)
//! - `getParameters()`: the consortium, tiers and limits, time zone,
//!   assets' decimals, size limits and this node's sequence window
//! - `getBlock({"height": n} | {"id": hex})`: header, transaction hashes,
//!   execution result and the certificate that committed it
//! - `status()`: chain id, role, heights, round, peers, validators,
//!   mempool, and why the node halted if it did
//! - subscriptions `subscribeBlocks` (notification `hutong_block`) and
//!   `subscribeTransaction(hash)` (one `hutong_transaction` at finality)
//!
//! The answers are the typed views of [`hutong_wire::rpc`] ([`views`]
//! builds them; [`methods`] is the method table). Errors carry stable
//! numeric codes ([`hutong_wire::rpc::code`]) and, for rejected
//! transactions, `data = {code, retryable, message}`.
//!
//! A regulator's node also serves the authenticated audit methods
//! ([`audit`]).

pub mod audit;
mod dashboard;
mod methods;
pub mod openrpc;
pub mod views;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use hutong_host::admit::Admission;
use hutong_host::mempool::Rejection;
use hutong_host::status::CpuStage;
use hutong_host::util::lock;
use hutong_runtime::crypto::Hash;
use hutong_wire::rpc::{code, BlockNotice};
use jsonrpsee::server::{
    stop_channel, BatchRequestConfig, Methods, RpcModule, Server, ServerConfig, ServerHandle,
    StopHandle,
};
use jsonrpsee::types::ErrorObjectOwned;
use tokio::sync::broadcast;

pub use methods::build_module;

use crate::audit::AuditNode;
use crate::config::NodeConfig;
use crate::ledger::Ledger;
use crate::status::{Counters, NodeStatus};

/// What the JSON-RPC methods read and do: ledger reads, admission, the
/// node's status, block announcements, and (on a regulator) the audit
/// node.
#[derive(Debug, Clone)]
pub struct RpcContext {
    pub ledger: Ledger,
    pub admission: Admission,
    pub status: NodeStatus,
    pub commits: broadcast::Sender<Arc<BlockNotice>>,
    pub audit: Option<Arc<AuditNode>>,
    /// The institution's memo key (`[memo] key`), to open its customers'
    /// sealed memos for their parties.
    pub memo_key: Option<Arc<hutong_privacy::envelope::HpkeKey>>,
}

#[derive(Debug)]
pub struct RpcServer {
    pub local_addr: SocketAddr,
    /// The regulator's web dashboard, when it is served.
    pub dashboard_addr: Option<SocketAddr>,
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
    ErrorObjectOwned::owned(code, r.to_string(), Some(views::rejection(r)))
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
pub async fn start(config: &NodeConfig, ctx: Arc<RpcContext>) -> anyhow::Result<RpcServer> {
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
    let methods = Served {
        websocket: build_module(ctx.clone())?.into(),
        http: http_module(build_module(ctx.clone())?)?.into(),
    };
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
    let dashboard_addr = match (config.dashboard_listen, &ctx.audit) {
        (Some(addr), Some(_)) => {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|e| anyhow::anyhow!("cannot listen for the dashboard on {addr}: {e}"))?;
            let bound = listener.local_addr()?;
            // The same limits and methods as the RPC port, plus the pages.
            tokio::spawn(accept_loop(
                listener,
                service.clone(),
                methods.clone(),
                stop.clone(),
                limits.clone(),
                ctx.clone(),
                true,
            ));
            tracing::info!(%bound, "regulator's dashboard listening: http://{bound}/");
            Some(bound)
        }
        _ => None,
    };
    tokio::spawn(accept_loop(
        listener, service, methods, stop, limits, ctx, false,
    ));
    tracing::info!(%local_addr, "JSON-RPC listening (HTTP and WebSocket)");
    Ok(RpcServer {
        local_addr,
        dashboard_addr,
        handle,
    })
}

type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The method table per transport: over plain HTTP a subscription cannot
/// deliver anything, so there its methods answer how to subscribe instead
/// of jsonrpsee's bare "internal error".
#[derive(Clone)]
struct Served {
    websocket: Methods,
    http: Methods,
}

/// The subscribe and unsubscribe methods, which need a WebSocket.
pub const SUBSCRIPTION_METHODS: [&str; 6] = [
    hutong_wire::rpc::method::SUBSCRIBE_BLOCKS,
    hutong_wire::rpc::method::UNSUBSCRIBE_BLOCKS,
    hutong_wire::rpc::method::SUBSCRIBE_TRANSACTION,
    hutong_wire::rpc::method::UNSUBSCRIBE_TRANSACTION,
    hutong_audit::api::method::SUBSCRIBE_ALERTS,
    hutong_audit::api::method::UNSUBSCRIBE_ALERTS,
];

/// `module` with each subscription method replaced by one that says to
/// connect with WebSocket (same host and port, `ws://`).
fn http_module(
    mut module: RpcModule<Arc<RpcContext>>,
) -> anyhow::Result<RpcModule<Arc<RpcContext>>> {
    for name in SUBSCRIPTION_METHODS {
        module.remove_method(name);
        module.register_method(name, move |_, _, _| {
            Err::<(), _>(ErrorObjectOwned::owned(
                code::NEEDS_WEBSOCKET,
                format!(
                    "{name} is a subscription: it needs a WebSocket connection. \
                     Connect to ws://HOST:PORT (this node's RPC address, same port, \
                     ws:// instead of http://) and call it there"
                ),
                Some(serde_json::json!({"transport": "websocket", "scheme": "ws"})),
            ))
        })?;
    }
    Ok(module)
}

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
    methods: Served,
    stop: StopHandle,
    limits: Arc<ConnectionLimits>,
    ctx: Arc<RpcContext>,
    pages: bool,
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
            Counters::add(&ctx.status.counters.rpc_connections_refused, 1);
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
            // On the dashboard's port, a GET is a page; the rest is JSON-RPC.
            let call = match pages.then(|| dashboard::page(&req)).flatten() {
                Some(page) => Err(page),
                None => {
                    let table = if jsonrpsee::server::ws::is_upgrade_request(&req) {
                        methods.websocket.clone()
                    } else {
                        methods.http.clone()
                    };
                    let mut svc = service.clone().build(table, stop_for_calls.clone());
                    // jsonrpsee's future owns what it needs: no borrow of `svc`.
                    Ok(tower::Service::call(&mut svc, req))
                }
            };
            async move {
                let call = match call {
                    Ok(call) => call,
                    Err(page) => return Ok(page),
                };
                match tokio::time::timeout(request_timeout, call).await {
                    Ok(answer) => answer.map_err(|e| ServiceError(e.to_string())),
                    Err(_) => Ok(timed_out()),
                }
            }
        });
        let counters = ctx.status.counters.clone();
        tokio::spawn(crate::cpu::Metered::new(
            counters,
            CpuStage::Rpc,
            async move {
                let _slot = slot;
                serve_connection(socket, svc, header_timeout, stop.shutdown()).await;
            },
        ));
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

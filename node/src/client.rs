//! A Rust JSON-RPC client for Hutong nodes, used by the CLI and the
//! benchmark: typed calls over HTTP, and waiting for finality.

use std::time::{Duration, Instant};

use hutong_runtime::crypto::Hash;
use hutong_runtime::{Address, SignedTransaction};
use jsonrpsee::core::client::{ClientT, Subscription, SubscriptionClientT};
use jsonrpsee::http_client::{HttpClient, HttpClientBuilder};
use jsonrpsee::rpc_params;
use jsonrpsee::ws_client::{WsClient, WsClientBuilder};
use serde_json::Value;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot reach the node at {url}: {reason}")]
    Unreachable { url: String, reason: String },
    /// The node answered with a JSON-RPC error.
    #[error("{message} (error {code}{})", data.as_ref().map(|d| format!(", {d}")).unwrap_or_default())]
    Rpc {
        code: i32,
        message: String,
        data: Option<Value>,
    },
    #[error("transaction {hash} is not final after {waited:?}")]
    Timeout { hash: String, waited: Duration },
    #[error("unexpected answer from the node: {0}")]
    Protocol(String),
}

impl ClientError {
    /// The stable rejection code of a rejected transaction, if this is one.
    pub fn rejection_code(&self) -> Option<&str> {
        match self {
            ClientError::Rpc { data: Some(d), .. } => d.get("code").and_then(Value::as_str),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Client {
    url: String,
    http: HttpClient,
}

impl Client {
    /// A client for the node at `url` (`http://host:port`).
    pub fn new(url: &str) -> Result<Client, ClientError> {
        let http = HttpClientBuilder::default()
            .request_timeout(Duration::from_secs(30))
            .max_request_size(16 * 1024 * 1024)
            .max_response_size(64 * 1024 * 1024)
            .build(url)
            .map_err(|e| ClientError::Unreachable {
                url: url.to_string(),
                reason: e.to_string(),
            })?;
        Ok(Client {
            url: url.to_string(),
            http,
        })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    async fn call(
        &self,
        method: &str,
        params: jsonrpsee::core::params::ArrayParams,
    ) -> Result<Value, ClientError> {
        self.http
            .request::<Value, _>(method, params)
            .await
            .map_err(|e| self.rpc_error(e))
    }

    /// Submits a signed transaction; returns its hash once it is pending.
    pub async fn submit(&self, tx: &SignedTransaction) -> Result<Hash, ClientError> {
        let v = self
            .call(
                "hutong_submitTransaction",
                rpc_params![hex::encode(tx.encode())],
            )
            .await?;
        parse_hash(&v["hash"])
    }

    /// Submits one transaction already encoded as hex (a benchmark's
    /// pre-signed load); returns its hash once it is pending.
    pub async fn submit_hex(&self, tx_hex: &str) -> Result<Hash, ClientError> {
        let v = self
            .call("hutong_submitTransaction", rpc_params![tx_hex])
            .await?;
        parse_hash(&v["hash"])
    }

    /// Submits many transactions already encoded as hex; the node's
    /// verdict for each, in order.
    pub async fn submit_many_hex(&self, txs: &[&str]) -> Result<Vec<Value>, ClientError> {
        match self
            .call("hutong_submitTransactions", rpc_params![txs])
            .await?
        {
            Value::Array(items) => Ok(items),
            other => Err(ClientError::Protocol(other.to_string())),
        }
    }

    /// Submits many; returns the node's verdict for each, in order.
    pub async fn submit_many(&self, txs: &[SignedTransaction]) -> Result<Vec<Value>, ClientError> {
        let list: Vec<String> = txs.iter().map(|t| hex::encode(t.encode())).collect();
        match self
            .call("hutong_submitTransactions", rpc_params![list])
            .await?
        {
            Value::Array(items) => Ok(items),
            other => Err(ClientError::Protocol(other.to_string())),
        }
    }

    pub async fn transaction(&self, hash: &Hash) -> Result<Value, ClientError> {
        self.call("hutong_getTransaction", rpc_params![hash.to_string()])
            .await
    }

    pub async fn account(&self, address: &Address) -> Result<Value, ClientError> {
        self.call("hutong_getAccount", rpc_params![address.to_string()])
            .await
    }

    pub async fn block_at(&self, height: u64) -> Result<Value, ClientError> {
        self.call(
            "hutong_getBlock",
            rpc_params![serde_json::json!({"height": height})],
        )
        .await
    }

    pub async fn block_by_id(&self, id: &str) -> Result<Value, ClientError> {
        self.call(
            "hutong_getBlock",
            rpc_params![serde_json::json!({"id": id})],
        )
        .await
    }

    pub async fn status(&self) -> Result<Value, ClientError> {
        self.call("hutong_status", rpc_params![]).await
    }

    /// Polls until the transaction is committed (or rejected), up to
    /// `timeout`; returns its final status.
    pub async fn wait_final(&self, hash: &Hash, timeout: Duration) -> Result<Value, ClientError> {
        self.wait_final_with(hash, timeout, |_| {}).await
    }

    /// As [`Client::wait_final`], calling `progress` about twice a second
    /// while the transaction is not final (for a wallet's progress line).
    pub async fn wait_final_with(
        &self,
        hash: &Hash,
        timeout: Duration,
        mut progress: impl FnMut(&Progress),
    ) -> Result<Value, ClientError> {
        let started = Instant::now();
        let mut polls = 0u64;
        loop {
            let status = self.transaction(hash).await?;
            let state = status["status"].as_str().unwrap_or("unknown").to_string();
            if state == "committed" || state == "rejected" {
                return Ok(status);
            }
            if started.elapsed() > timeout {
                return Err(ClientError::Timeout {
                    hash: hash.to_string(),
                    waited: started.elapsed(),
                });
            }
            if polls.is_multiple_of(5) {
                let height = self.status().await.ok().and_then(|s| s["height"].as_u64());
                progress(&Progress {
                    status: state,
                    height,
                    waited: started.elapsed(),
                });
            }
            polls += 1;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The same node over WebSocket (`ws://` for `http://`).
    fn ws_url(&self) -> String {
        if let Some(rest) = self.url.strip_prefix("https://") {
            format!("wss://{rest}")
        } else if let Some(rest) = self.url.strip_prefix("http://") {
            format!("ws://{rest}")
        } else {
            self.url.clone()
        }
    }

    async fn ws(&self) -> Result<WsClient, ClientError> {
        WsClientBuilder::default()
            .max_request_size(1024 * 1024)
            .max_response_size(64 * 1024 * 1024)
            .build(self.ws_url())
            .await
            .map_err(|e| ClientError::Unreachable {
                url: self.ws_url(),
                reason: e.to_string(),
            })
    }

    /// Every block the node commits from now on, as it announces them
    /// (`hutong_subscribeBlocks`). A subscriber that falls far behind
    /// misses blocks rather than making the node buffer them.
    pub async fn subscribe_blocks(&self) -> Result<BlockStream, ClientError> {
        let ws = self.ws().await?;
        let sub = ws
            .subscribe::<Value, _>(
                "hutong_subscribeBlocks",
                rpc_params![],
                "hutong_unsubscribeBlocks",
            )
            .await
            .map_err(|e| self.rpc_error(e))?;
        Ok(BlockStream { _ws: ws, sub })
    }

    /// Waits, over one WebSocket subscription, for the transaction to be
    /// committed or rejected (`hutong_subscribeTransaction`).
    pub async fn await_transaction(
        &self,
        hash: &Hash,
        timeout: Duration,
    ) -> Result<Value, ClientError> {
        let ws = self.ws().await?;
        let mut sub = ws
            .subscribe::<Value, _>(
                "hutong_subscribeTransaction",
                rpc_params![hash.to_string()],
                "hutong_unsubscribeTransaction",
            )
            .await
            .map_err(|e| self.rpc_error(e))?;
        match tokio::time::timeout(timeout, sub.next()).await {
            Ok(Some(Ok(v))) => Ok(v),
            Ok(Some(Err(e))) => Err(ClientError::Protocol(e.to_string())),
            Ok(None) => Err(ClientError::Unreachable {
                url: self.ws_url(),
                reason: "the node closed the subscription".into(),
            }),
            Err(_) => Err(ClientError::Timeout {
                hash: hash.to_string(),
                waited: timeout,
            }),
        }
    }

    /// The chain id the node serves.
    pub async fn chain_id(&self) -> Result<hutong_runtime::ChainId, ClientError> {
        let status = self.status().await?;
        let hash = parse_hash(&status["chain_id"])?;
        Ok(hutong_runtime::ChainId(hash.0))
    }

    fn signed_audit_params(
        key: &hutong_runtime::Keypair,
        chain_id: &hutong_runtime::ChainId,
        method: &str,
        query: Value,
    ) -> Value {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        let nonce = hex::encode(rand::random::<[u8; 16]>());
        crate::audit::auth::sign_request(key, chain_id, method, query, now, &nonce)
    }

    /// Calls an audit method of a regulator node, signing the request with
    /// the regulator key.
    pub async fn audit(
        &self,
        method: &str,
        key: &hutong_runtime::Keypair,
        query: Value,
    ) -> Result<Value, ClientError> {
        let chain_id = self.chain_id().await?;
        let params = Self::signed_audit_params(key, &chain_id, method, query);
        self.call(method, rpc_params![params]).await
    }

    /// Sends already-built params to an audit method (tests of refusals).
    pub async fn audit_raw(&self, method: &str, params: Value) -> Result<Value, ClientError> {
        self.call(method, rpc_params![params]).await
    }

    /// Risk alerts as the regulator node raises them
    /// (`hutong_auditSubscribeAlerts`), filtered by `filter`
    /// (`{"kind": …, "account": …}`, both optional).
    pub async fn subscribe_alerts(
        &self,
        key: &hutong_runtime::Keypair,
        filter: Value,
    ) -> Result<BlockStream, ClientError> {
        let chain_id = self.chain_id().await?;
        let params =
            Self::signed_audit_params(key, &chain_id, "hutong_auditSubscribeAlerts", filter);
        let ws = self.ws().await?;
        let sub = ws
            .subscribe::<Value, _>(
                "hutong_auditSubscribeAlerts",
                rpc_params![params],
                "hutong_auditUnsubscribeAlerts",
            )
            .await
            .map_err(|e| self.rpc_error(e))?;
        Ok(BlockStream { _ws: ws, sub })
    }

    fn rpc_error(&self, e: jsonrpsee::core::ClientError) -> ClientError {
        match e {
            jsonrpsee::core::ClientError::Call(obj) => ClientError::Rpc {
                code: obj.code(),
                message: obj.message().to_string(),
                data: obj.data().and_then(|d| serde_json::from_str(d.get()).ok()),
            },
            other => ClientError::Unreachable {
                url: self.url.clone(),
                reason: other.to_string(),
            },
        }
    }
}

/// Where a wait for finality stands.
#[derive(Debug, Clone)]
pub struct Progress {
    /// `pending` or `unknown` (not yet seen by this node).
    pub status: String,
    /// The node's executed height, if it answered.
    pub height: Option<u64>,
    pub waited: Duration,
}

/// Committed blocks as a node announces them.
#[derive(Debug)]
pub struct BlockStream {
    _ws: WsClient,
    sub: Subscription<Value>,
}

impl BlockStream {
    /// The next block (`height`, `block_id`, `txs`, `state_root`, …), or
    /// `None` when the node closed the connection.
    pub async fn next(&mut self) -> Option<Result<Value, ClientError>> {
        self.sub
            .next()
            .await
            .map(|r| r.map_err(|e| ClientError::Protocol(e.to_string())))
    }
}

fn parse_hash(v: &Value) -> Result<Hash, ClientError> {
    v.as_str()
        .and_then(|s| Hash::from_hex(s).ok())
        .ok_or_else(|| ClientError::Protocol(format!("expected a hash, got {v}")))
}

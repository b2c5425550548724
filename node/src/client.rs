//! A Rust JSON-RPC client for Hutong nodes, used by the CLI and the
//! benchmark: typed calls over HTTP, and waiting for finality.

use std::time::{Duration, Instant};

use hutong_runtime::crypto::Hash;
use hutong_runtime::{Address, SignedTransaction};
use jsonrpsee::core::client::ClientT;
use jsonrpsee::http_client::{HttpClient, HttpClientBuilder};
use jsonrpsee::rpc_params;
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
            .map_err(|e| match e {
                jsonrpsee::core::ClientError::Call(obj) => ClientError::Rpc {
                    code: obj.code(),
                    message: obj.message().to_string(),
                    data: obj.data().and_then(|d| serde_json::from_str(d.get()).ok()),
                },
                other => ClientError::Unreachable {
                    url: self.url.clone(),
                    reason: other.to_string(),
                },
            })
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
        let started = Instant::now();
        loop {
            let status = self.transaction(hash).await?;
            match status["status"].as_str() {
                Some("committed") | Some("rejected") => return Ok(status),
                _ => {}
            }
            if started.elapsed() > timeout {
                return Err(ClientError::Timeout {
                    hash: hash.to_string(),
                    waited: started.elapsed(),
                });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

fn parse_hash(v: &Value) -> Result<Hash, ClientError> {
    v.as_str()
        .and_then(|s| Hash::from_hex(s).ok())
        .ok_or_else(|| ClientError::Protocol(format!("expected a hash, got {v}")))
}

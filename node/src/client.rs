//! A Rust JSON-RPC client for Hutong nodes, used by the CLI and the
//! benchmark: typed calls over HTTP (the answers are
//! [`hutong_wire::rpc`]'s types), waiting for finality, subscriptions,
//! and reading a node's metrics.

use std::time::{Duration, Instant};

use hutong_audit::api::{method as audit_method, AlertFilter, AuditQuery};
use hutong_audit::Alert;
use hutong_runtime::crypto::Hash;
use hutong_runtime::{Address, SignedTransaction};
use hutong_wire::rpc::{
    method, AccountView, BlockNotice, BlockQuery, BlockView, RejectionData, StatusView,
    SubmitVerdict, TxStatus,
};
use jsonrpsee::core::client::{ClientT, Subscription, SubscriptionClientT};
use jsonrpsee::http_client::{HttpClient, HttpClientBuilder};
use jsonrpsee::rpc_params;
use jsonrpsee::ws_client::{WsClient, WsClientBuilder};
use serde::de::DeserializeOwned;
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
    /// An identity step failed on this side (a malformed identity, an
    /// evaluation whose proof does not verify).
    #[error("{0}")]
    Identity(#[from] hutong_privacy::PrivacyError),
}

impl ClientError {
    /// Why a transaction was rejected, if this is a rejection.
    pub fn rejection(&self) -> Option<RejectionData> {
        match self {
            ClientError::Rpc { data: Some(d), .. } => serde_json::from_value(d.clone()).ok(),
            _ => None,
        }
    }

    /// The stable rejection code of a rejected transaction, if this is one.
    pub fn rejection_code(&self) -> Option<String> {
        self.rejection().map(|r| r.code)
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

    async fn call<T: DeserializeOwned>(
        &self,
        method: &str,
        params: jsonrpsee::core::params::ArrayParams,
    ) -> Result<T, ClientError> {
        self.http
            .request::<T, _>(method, params)
            .await
            .map_err(|e| self.rpc_error(e))
    }

    /// Submits a signed transaction; returns its hash once it is pending.
    pub async fn submit(&self, tx: &SignedTransaction) -> Result<Hash, ClientError> {
        self.submit_hex(&hex::encode(tx.encode())).await
    }

    /// Submits one transaction already encoded as hex (a benchmark's
    /// pre-signed load); returns its hash once it is pending.
    pub async fn submit_hex(&self, tx_hex: &str) -> Result<Hash, ClientError> {
        let status: TxStatus = self
            .call(method::SUBMIT_TRANSACTION, rpc_params![tx_hex])
            .await?;
        match status {
            // A retry of a committed transaction answers where it is.
            TxStatus::Pending { hash } | TxStatus::Committed { hash, .. } => parse_hash(&hash),
            other => Err(ClientError::Protocol(format!(
                "a submitted transaction is {}, not pending",
                other.name()
            ))),
        }
    }

    /// Submits many transactions already encoded as hex; the node's
    /// verdict for each, in order.
    pub async fn submit_many_hex(&self, txs: &[&str]) -> Result<Vec<SubmitVerdict>, ClientError> {
        self.call(method::SUBMIT_TRANSACTIONS, rpc_params![txs])
            .await
    }

    /// Submits many; returns the node's verdict for each, in order.
    pub async fn submit_many(
        &self,
        txs: &[SignedTransaction],
    ) -> Result<Vec<SubmitVerdict>, ClientError> {
        let list: Vec<String> = txs.iter().map(|t| hex::encode(t.encode())).collect();
        self.call(method::SUBMIT_TRANSACTIONS, rpc_params![list])
            .await
    }

    pub async fn transaction(&self, hash: &Hash) -> Result<TxStatus, ClientError> {
        self.call(method::GET_TRANSACTION, rpc_params![hash.to_string()])
            .await
    }

    pub async fn account(&self, address: &Address) -> Result<AccountView, ClientError> {
        self.call(method::GET_ACCOUNT, rpc_params![address.to_string()])
            .await
    }

    /// A hold by payer and id, while the ledger keeps it.
    pub async fn hold(
        &self,
        payer: &Address,
        hold_id: hutong_runtime::TransferId,
    ) -> Result<hutong_wire::rpc::HoldView, ClientError> {
        let q = serde_json::json!({"payer": payer.to_string(), "hold_id": hold_id.to_string()});
        self.call(method::GET_HOLD, rpc_params![q]).await
    }

    /// The mandates an account granted.
    pub async fn mandates(
        &self,
        account: &Address,
    ) -> Result<hutong_wire::rpc::MandatesView, ClientError> {
        let q = serde_json::json!({"account": account.to_string()});
        self.call(method::GET_MANDATES, rpc_params![q]).await
    }

    /// An account read under a read mandate: the request is signed by the
    /// grantee's key, with this machine's clock.
    pub async fn read_account(
        &self,
        chain_id: hutong_runtime::ChainId,
        account: &Address,
        mandate_id: u64,
        grantee: &hutong_runtime::Keypair,
    ) -> Result<AccountView, ClientError> {
        let timestamp_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        let digest =
            hutong_runtime::mandate::read_request_hash(chain_id, account, mandate_id, timestamp_ms);
        let request = hutong_wire::rpc::ReadAccountRequest {
            account: account.to_string(),
            mandate_id,
            grantee_key: grantee.public().to_hex(),
            timestamp_ms,
            signature: grantee.sign(&digest.0).to_hex(),
        };
        self.call(method::READ_ACCOUNT, rpc_params![request]).await
    }

    /// A settlement cycle's clearing; `None`: the open cycle.
    pub async fn clearing(
        &self,
        cycle: Option<u64>,
    ) -> Result<hutong_wire::rpc::ClearingView, ClientError> {
        match cycle {
            Some(c) => self.call(method::GET_CLEARING, rpc_params![c]).await,
            None => self.call(method::GET_CLEARING, rpc_params![]).await,
        }
    }

    pub async fn block_at(&self, height: u64) -> Result<BlockView, ClientError> {
        let q = BlockQuery {
            height: Some(height),
            id: None,
        };
        self.call(method::GET_BLOCK, rpc_params![q]).await
    }

    pub async fn block_by_id(&self, id: &str) -> Result<BlockView, ClientError> {
        let q = BlockQuery {
            height: None,
            id: Some(id.to_string()),
        };
        self.call(method::GET_BLOCK, rpc_params![q]).await
    }

    pub async fn status(&self) -> Result<StatusView, ClientError> {
        self.call(method::STATUS, rpc_params![]).await
    }

    /// The consortium and its rules as of the latest executed block.
    pub async fn parameters(&self) -> Result<hutong_wire::gov::ParametersView, ClientError> {
        self.call(method::GET_PARAMETERS, rpc_params![]).await
    }

    pub async fn proposal(&self, id: u64) -> Result<hutong_wire::gov::ProposalView, ClientError> {
        self.call(method::GET_PROPOSAL, rpc_params![id]).await
    }

    /// One page of proposals, newest first.
    pub async fn proposals(
        &self,
        q: &hutong_wire::gov::ProposalsQuery,
    ) -> Result<hutong_wire::gov::ProposalsPage, ClientError> {
        self.call(method::GET_PROPOSALS, rpc_params![q]).await
    }

    /// Polls until the transaction is committed (or rejected), up to
    /// `timeout`; returns its final status.
    pub async fn wait_final(
        &self,
        hash: &Hash,
        timeout: Duration,
    ) -> Result<TxStatus, ClientError> {
        self.wait_final_with(hash, timeout, |_| {}).await
    }

    /// As [`Client::wait_final`], calling `progress` about twice a second
    /// while the transaction is not final (for a wallet's progress line).
    pub async fn wait_final_with(
        &self,
        hash: &Hash,
        timeout: Duration,
        mut progress: impl FnMut(&Progress),
    ) -> Result<TxStatus, ClientError> {
        let started = Instant::now();
        let mut polls = 0u64;
        loop {
            let status = self.transaction(hash).await?;
            if status.is_final() {
                return Ok(status);
            }
            let state = status.name().to_string();
            if started.elapsed() > timeout {
                return Err(ClientError::Timeout {
                    hash: hash.to_string(),
                    waited: started.elapsed(),
                });
            }
            if polls.is_multiple_of(5) {
                let height = self.status().await.ok().map(|s| s.height);
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
    pub async fn subscribe_blocks(&self) -> Result<Stream<BlockNotice>, ClientError> {
        let ws = self.ws().await?;
        let sub = ws
            .subscribe::<BlockNotice, _>(
                method::SUBSCRIBE_BLOCKS,
                rpc_params![],
                method::UNSUBSCRIBE_BLOCKS,
            )
            .await
            .map_err(|e| self.rpc_error(e))?;
        Ok(Stream { _ws: ws, sub })
    }

    /// Waits, over one WebSocket subscription, for the transaction to be
    /// committed or rejected (`hutong_subscribeTransaction`).
    pub async fn await_transaction(
        &self,
        hash: &Hash,
        timeout: Duration,
    ) -> Result<TxStatus, ClientError> {
        let ws = self.ws().await?;
        let mut sub = ws
            .subscribe::<TxStatus, _>(
                method::SUBSCRIBE_TRANSACTION,
                rpc_params![hash.to_string()],
                method::UNSUBSCRIBE_TRANSACTION,
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
        let hash = parse_hash(&status.chain_id)?;
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
        hutong_audit::auth::sign_request(key, chain_id, method, query, now, &nonce)
    }

    /// Asks a regulator's audit node `query` (its method is the query's),
    /// signing the request with the regulator key.
    pub async fn audit<Q: AuditQuery>(
        &self,
        key: &hutong_runtime::Keypair,
        query: &Q,
    ) -> Result<Q::Answer, ClientError> {
        let query =
            serde_json::to_value(query).map_err(|e| ClientError::Protocol(e.to_string()))?;
        let chain_id = self.chain_id().await?;
        let params = Self::signed_audit_params(key, &chain_id, Q::METHOD, query);
        self.call(Q::METHOD, rpc_params![params]).await
    }

    /// Sends any query, signed, to an audit method (tests of refusals:
    /// a query the typed API would not let one build).
    pub async fn audit_value(
        &self,
        method: &str,
        key: &hutong_runtime::Keypair,
        query: Value,
    ) -> Result<Value, ClientError> {
        let chain_id = self.chain_id().await?;
        let params = Self::signed_audit_params(key, &chain_id, method, query);
        self.call(method, rpc_params![params]).await
    }

    /// Obtains the identity tags of `identities` (each `TYPE:NUMBER`) from
    /// the regulator's node at this client's address: blinds them, asks
    /// for their evaluation in one request signed with `key` (a member
    /// institution's key), checks the proof against the regulator's OPRF
    /// public key `oprf_key` (from the ledger's parameters, never from the
    /// answering node), and unblinds. The node learns nothing about the
    /// identities. At most [`hutong_privacy::oprf::BATCH_MAX`] at a time.
    pub async fn identity_tags(
        &self,
        key: &hutong_runtime::Keypair,
        oprf_key: &[u8; 32],
        identities: &[String],
    ) -> Result<Vec<hutong_privacy::IdentityTag>, ClientError> {
        use hutong_privacy::oprf;
        let inputs = identities
            .iter()
            .map(|i| oprf::identity_input(i))
            .collect::<Result<Vec<_>, _>>()?;
        let mut states = Vec::with_capacity(inputs.len());
        let mut blinded = Vec::with_capacity(inputs.len());
        for input in &inputs {
            let (state, b) = oprf::blind(input, &mut rand::rngs::OsRng)?;
            states.push(state);
            blinded.push(hex::encode(b));
        }
        let answer = self
            .audit(key, &hutong_audit::api::EvaluateQuery { blinded })
            .await?;
        let elements = answer
            .elements
            .iter()
            .map(|e| hutong_privacy::hex_array::<32>("evaluated element", e))
            .collect::<Result<Vec<_>, _>>()?;
        let proof = hutong_privacy::hex_array::<64>("proof", &answer.proof)?;
        let refs: Vec<&[u8]> = inputs.iter().map(|i| i.as_slice()).collect();
        Ok(oprf::finalize(
            &states,
            &refs,
            &oprf::Evaluation { elements, proof },
            oprf_key,
        )?)
    }

    /// Whether an identity is on the shared blacklist
    /// (`hutong_checkListing`).
    pub async fn check_listing(
        &self,
        listing_key: &Hash,
    ) -> Result<hutong_wire::rpc::ListingView, ClientError> {
        self.call(
            hutong_wire::rpc::method::CHECK_LISTING,
            rpc_params![listing_key.to_hex()],
        )
        .await
    }

    /// The keys a memo between `accounts` is sealed to
    /// (`hutong_getMemoKeys`).
    pub async fn memo_keys(
        &self,
        accounts: &[Address],
    ) -> Result<hutong_wire::rpc::MemoKeysView, ClientError> {
        let list: Vec<String> = accounts.iter().map(|a| a.to_string()).collect();
        self.call(hutong_wire::rpc::method::GET_MEMO_KEYS, rpc_params![list])
            .await
    }

    /// Seals `text` as the memo of the transaction `sender` signs with
    /// `sequence` on `chain`, naming `counterparties`: to the institutions
    /// of the sender and the counterparties that published a memo key, and
    /// to the regulator (at most four readers).
    pub async fn seal_memo(
        &self,
        chain: &hutong_runtime::ChainId,
        sender: &hutong_runtime::PublicKey,
        sequence: u64,
        counterparties: &[Address],
        text: &[u8],
    ) -> Result<Vec<u8>, ClientError> {
        let mut accounts = vec![Address::of(sender)];
        accounts.extend(counterparties.iter().take(15).copied());
        let keys = self.memo_keys(&accounts).await?;
        let mut readers: Vec<[u8; 32]> = Vec::new();
        let mut add = |hex_key: &str| -> Result<(), ClientError> {
            let k = hutong_privacy::hex_array::<32>("memo key", hex_key)?;
            if !readers.contains(&k) {
                readers.push(k);
            }
            Ok(())
        };
        if let Some(r) = &keys.regulator {
            add(r)?;
        }
        for a in &keys.accounts {
            if let Some(k) = &a.memo_key {
                add(k)?;
            }
        }
        let context = hutong_privacy::envelope::memo_context(&chain.0, &sender.0, sequence);
        Ok(hutong_privacy::envelope::seal_memo(
            &readers,
            &context,
            text,
            hutong_runtime::tx::MEMO_BYTES_MAX,
            &mut rand::rngs::OsRng,
        )?)
    }

    /// A transaction's memo in clear, asked of the node of its party's
    /// institution with the party's key (`hutong_readMemo`).
    pub async fn read_memo(
        &self,
        key: &hutong_runtime::Keypair,
        tx_hash: &Hash,
    ) -> Result<hutong_wire::rpc::MemoView, ClientError> {
        let chain = self.chain_id().await?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        let message = hutong_wire::rpc::read_memo_message(&chain.0, &tx_hash.0, now);
        let request = hutong_wire::rpc::ReadMemoRequest {
            tx_hash: tx_hash.to_hex(),
            key: key.public().to_hex(),
            timestamp_ms: now,
            signature: key.sign(&message).to_hex(),
        };
        self.call(hutong_wire::rpc::method::READ_MEMO, rpc_params![request])
            .await
    }

    /// Sends already-built params to an audit method (tests of refusals).
    pub async fn audit_raw(&self, method: &str, params: Value) -> Result<Value, ClientError> {
        self.call(method, rpc_params![params]).await
    }

    /// Risk alerts as the regulator node raises them
    /// (`hutong_auditSubscribeAlerts`), filtered by `filter`.
    pub async fn subscribe_alerts(
        &self,
        key: &hutong_runtime::Keypair,
        filter: &AlertFilter,
    ) -> Result<Stream<Alert>, ClientError> {
        let filter =
            serde_json::to_value(filter).map_err(|e| ClientError::Protocol(e.to_string()))?;
        let chain_id = self.chain_id().await?;
        let params =
            Self::signed_audit_params(key, &chain_id, audit_method::SUBSCRIBE_ALERTS, filter);
        let ws = self.ws().await?;
        let sub = ws
            .subscribe::<Alert, _>(
                audit_method::SUBSCRIBE_ALERTS,
                rpc_params![params],
                audit_method::UNSUBSCRIBE_ALERTS,
            )
            .await
            .map_err(|e| self.rpc_error(e))?;
        Ok(Stream { _ws: ws, sub })
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

/// A subscription's notifications (committed blocks, alerts) as a node
/// sends them.
#[derive(Debug)]
pub struct Stream<T> {
    _ws: WsClient,
    sub: Subscription<T>,
}

impl<T: DeserializeOwned> Stream<T> {
    /// The next notification, or `None` when the node closed the
    /// connection.
    pub async fn next(&mut self) -> Option<Result<T, ClientError>> {
        self.sub
            .next()
            .await
            .map(|r| r.map_err(|e| ClientError::Protocol(e.to_string())))
    }
}

fn parse_hash(s: &str) -> Result<Hash, ClientError> {
    Hash::from_hex(s.trim_start_matches("0x"))
        .map_err(|_| ClientError::Protocol(format!("expected a hash, got {s:?}")))
}

/// A node's Prometheus metrics, as text (`GET /metrics` on its metrics
/// address).
pub async fn metrics(addr: std::net::SocketAddr) -> std::io::Result<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream =
        tokio::time::timeout(Duration::from_secs(5), tokio::net::TcpStream::connect(addr))
            .await
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "connecting"))??;
    let request = format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut body = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut body))
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "reading"))??;
    let text = String::from_utf8_lossy(&body);
    Ok(match text.split_once("\r\n\r\n") {
        Some((_, body)) => body.to_string(),
        None => text.to_string(),
    })
}

/// The values of a metric by one label's value (`name{label="v"} x`),
/// from the text exposition format.
pub fn metric_by_label(
    text: &str,
    name: &str,
    label: &str,
) -> std::collections::BTreeMap<String, f64> {
    let mut out = std::collections::BTreeMap::new();
    let open = format!("{name}{{{label}=\"");
    for line in text.lines() {
        let Some(rest) = line.strip_prefix(&open) else {
            continue;
        };
        let Some((value_of_label, rest)) = rest.split_once('"') else {
            continue;
        };
        if let Some(v) = rest
            .rsplit(' ')
            .next()
            .and_then(|v| v.trim().parse::<f64>().ok())
        {
            *out.entry(value_of_label.to_string()).or_insert(0.0) += v;
        }
    }
    out
}

/// The sum of a metric's samples (every label set) in a metrics text;
/// `None` when it has none.
pub fn metric_sum(text: &str, name: &str) -> Option<f64> {
    let mut found = None;
    for line in text.lines() {
        if line.starts_with('#') {
            continue;
        }
        let Some(rest) = line.strip_prefix(name) else {
            continue;
        };
        // The name ends at a label set or a space.
        if !(rest.starts_with('{') || rest.starts_with(' ')) {
            continue;
        }
        if let Some(v) = rest
            .rsplit(' ')
            .next()
            .and_then(|v| v.trim().parse::<f64>().ok())
        {
            found = Some(found.unwrap_or(0.0) + v);
        }
    }
    found
}

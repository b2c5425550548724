//! Who may ask the audit node, and the record of what they asked.
//!
//! Every audit request is `{"query": {...}, "auth": {...}}`: the query and
//! a signature over it by a regulator key listed in genesis, with a
//! timestamp and a nonce. The node refuses a request that is unsigned,
//! signed by another key or wrongly, older or newer than the freshness
//! window, or whose nonce it already saw (a replay). Signed bytes:
//! `SHA-256("hutong/audit/request/v1" || 0x00 || borsh((chain id, method,
//! compact JSON of the query, timestamp ms, nonce)))`.
//!
//! Every request that passes is appended to the audit-query log before it
//! is answered: entries are hash-chained (each names the previous entry's
//! hash), so removing or editing one breaks the chain from there on.
//! Refused requests are entries too (with their refusal code), at most
//! [`REFUSALS_PER_MINUTE`] a minute; the ones beyond are counted, and the
//! count is logged with the next refusal that is.

use std::collections::{HashSet, VecDeque};
use std::sync::Mutex;

use hutong_runtime::crypto::Hash;
use hutong_runtime::{ChainId, Keypair, PublicKey, Signature};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::lock;

const REQUEST_TAG: &[u8] = b"hutong/audit/request/v1";
const LOG_TAG: &[u8] = b"hutong/audit/log/v1";

/// How far a request's timestamp may be from the node's clock.
pub const FRESHNESS_MS: u64 = 60_000;

/// Refused requests logged per minute at most: each entry is a synced
/// write, and refusals cost an attacker nothing.
pub const REFUSALS_PER_MINUTE: u32 = 60;

/// Most nonces remembered; beyond it (a flood of valid signed requests)
/// requests are refused as busy rather than remembered without bound.
const NONCES_MAX: usize = 200_000;

/// The `auth` part of a request.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Auth {
    /// The regulator's public key (hex).
    pub key: String,
    pub timestamp_ms: u64,
    /// 16 to 64 hex characters, never reused.
    pub nonce: String,
    /// ed25519 signature (hex) over [`signing_message`].
    pub signature: String,
}

/// Why a request was refused. `code` is stable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("audit methods need a signed request: params {{\"query\": {{…}}, \"auth\": {{key, timestamp_ms, nonce, signature}}}}; {0}")]
    Unauthenticated(String),
    #[error("key {0} may not ask this: audit methods take a regulator key of genesis, identity evaluation also a member institution's key")]
    UnknownKey(String),
    #[error("the request's signature does not verify for key {0}")]
    BadSignature(String),
    #[error("request timestamp {timestamp_ms} is more than {FRESHNESS_MS} ms from the node's clock {now_ms}")]
    Stale { timestamp_ms: u64, now_ms: u64 },
    #[error("nonce {0} was already used: a replayed request")]
    Replayed(String),
    #[error("too many recent audit requests; retry in a minute")]
    Busy,
    #[error("key {key} has used its {limit} identity evaluations of this minute; retry in {retry_in_ms} ms")]
    RateLimited {
        key: String,
        limit: u32,
        retry_in_ms: u64,
    },
}

impl AuthError {
    pub fn code(&self) -> &'static str {
        match self {
            AuthError::Unauthenticated(_) => "unauthenticated",
            AuthError::UnknownKey(_) => "unknown_key",
            AuthError::BadSignature(_) => "bad_signature",
            AuthError::Stale { .. } => "stale",
            AuthError::Replayed(_) => "replayed",
            AuthError::Busy => "busy",
            AuthError::RateLimited { .. } => "rate_limited",
        }
    }
}

/// The bytes a regulator signs for one request.
pub fn signing_message(
    chain_id: &ChainId,
    method: &str,
    query: &Value,
    timestamp_ms: u64,
    nonce: &str,
) -> Hash {
    let query = serde_json::to_string(query).expect("a JSON value encodes");
    let bytes = borsh::to_vec(&(chain_id.0, method, query, timestamp_ms, nonce))
        .expect("borsh into a Vec cannot fail");
    Hash::tagged(REQUEST_TAG, &bytes)
}

/// Builds the params of a signed request (what the CLI sends).
pub fn sign_request(
    key: &Keypair,
    chain_id: &ChainId,
    method: &str,
    query: Value,
    timestamp_ms: u64,
    nonce: &str,
) -> Value {
    let message = signing_message(chain_id, method, &query, timestamp_ms, nonce);
    let signature = key.sign(&message.0);
    json!({
        "query": query,
        "auth": {
            "key": key.public().to_hex(),
            "timestamp_ms": timestamp_ms,
            "nonce": nonce,
            "signature": signature.to_hex(),
        }
    })
}

#[derive(Debug, Default)]
struct Nonces {
    seen: HashSet<(PublicKey, String)>,
    order: VecDeque<(u64, PublicKey, String)>,
}

/// The door of the audit API.
#[derive(Debug)]
pub struct Gate {
    chain_id: ChainId,
    regulators: Vec<PublicKey>,
    nonces: Mutex<Nonces>,
    /// Serialises appends to the log (each entry names the previous).
    log: Mutex<()>,
    refusals: Mutex<Refusals>,
}

/// Refusals logged in the current minute, and those not logged since the
/// last one that was.
#[derive(Debug, Default)]
struct Refusals {
    minute: u64,
    logged: u32,
    unlogged: u64,
}

impl Gate {
    pub fn new(chain_id: ChainId, regulators: Vec<PublicKey>) -> Gate {
        Gate {
            chain_id,
            regulators,
            nonces: Mutex::default(),
            log: Mutex::default(),
            refusals: Mutex::default(),
        }
    }

    /// Checks a request's authentication by a regulator key; returns the
    /// signer and the query.
    pub fn check(
        &self,
        method: &str,
        params: Value,
        now_ms: u64,
    ) -> Result<(PublicKey, Value), AuthError> {
        self.check_signed(method, params, now_ms, |_| false)
    }

    /// Checks a request's authentication by a regulator key or a key
    /// `also` accepts (a member institution's, for identity evaluation).
    pub fn check_signed(
        &self,
        method: &str,
        params: Value,
        now_ms: u64,
        also: impl Fn(&PublicKey) -> bool,
    ) -> Result<(PublicKey, Value), AuthError> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Request {
            query: Value,
            auth: Option<Auth>,
        }
        let request: Request = serde_json::from_value(params)
            .map_err(|e| AuthError::Unauthenticated(format!("params do not parse: {e}")))?;
        let Some(auth) = request.auth else {
            return Err(AuthError::Unauthenticated("the request has no auth".into()));
        };
        let key =
            PublicKey::from_hex(&auth.key).map_err(|_| AuthError::UnknownKey(auth.key.clone()))?;
        if !self.regulators.contains(&key) && !also(&key) {
            return Err(AuthError::UnknownKey(auth.key));
        }
        let nonce_ok = (16..=64).contains(&auth.nonce.len())
            && auth.nonce.bytes().all(|b| b.is_ascii_hexdigit());
        if !nonce_ok {
            return Err(AuthError::Unauthenticated(
                "nonce must be 16 to 64 hex characters".into(),
            ));
        }
        let signature = Signature::from_hex(&auth.signature)
            .map_err(|_| AuthError::BadSignature(auth.key.clone()))?;
        let message = signing_message(
            &self.chain_id,
            method,
            &request.query,
            auth.timestamp_ms,
            &auth.nonce,
        );
        key.verify(&message.0, &signature)
            .map_err(|_| AuthError::BadSignature(auth.key.clone()))?;
        if auth.timestamp_ms.abs_diff(now_ms) > FRESHNESS_MS {
            return Err(AuthError::Stale {
                timestamp_ms: auth.timestamp_ms,
                now_ms,
            });
        }
        let mut nonces = lock(&self.nonces);
        // Forget nonces whose requests are past the window: a replay of
        // those is refused as stale.
        while let Some((ts, _, _)) = nonces.order.front() {
            if ts.saturating_add(2 * FRESHNESS_MS) >= now_ms {
                break;
            }
            if let Some((_, k, n)) = nonces.order.pop_front() {
                nonces.seen.remove(&(k, n));
            }
        }
        let id = (key, auth.nonce.to_ascii_lowercase());
        if nonces.seen.contains(&id) {
            return Err(AuthError::Replayed(auth.nonce));
        }
        if nonces.seen.len() >= NONCES_MAX {
            return Err(AuthError::Busy);
        }
        nonces.seen.insert(id.clone());
        nonces
            .order
            .push_back((auth.timestamp_ms.max(now_ms), id.0, id.1));
        Ok((key, request.query))
    }

    /// Appends a query to the audit-query log; returns its sequence number.
    pub fn log<L: AuditLog>(
        &self,
        log: &L,
        key: &PublicKey,
        method: &str,
        query: &Value,
        now_ms: u64,
    ) -> Result<u64, L::Error> {
        let _guard = lock(&self.log);
        let (seq, prev) = log.head()?;
        let entry = LogEntry {
            seq,
            time_ms: now_ms,
            key: key.to_hex(),
            method: method.to_string(),
            query: query.clone(),
            query_hash: query_hash(query).to_hex(),
            prev: prev.to_hex(),
            hash: String::new(),
            refused: None,
        };
        let hash = entry.compute_hash();
        let entry = LogEntry {
            hash: hash.to_hex(),
            ..entry
        };
        let bytes = serde_json::to_vec(&entry).expect("a log entry encodes");
        log.append(seq, &bytes, hash)?;
        Ok(seq)
    }

    /// Appends a refused request to the log (its key as sent, if any, and
    /// a summary in place of its query: an unauthenticated query is not
    /// worth keeping whole); `None` when this minute's quota of logged
    /// refusals is spent (the refusal is counted instead).
    pub fn log_refusal<L: AuditLog>(
        &self,
        log: &L,
        method: &str,
        params: &Value,
        error: &AuthError,
        now_ms: u64,
    ) -> Result<Option<u64>, L::Error> {
        let unlogged = {
            let mut r = lock(&self.refusals);
            let minute = now_ms / 60_000;
            if r.minute != minute {
                r.minute = minute;
                r.logged = 0;
            }
            if r.logged >= REFUSALS_PER_MINUTE {
                r.unlogged += 1;
                return Ok(None);
            }
            r.logged += 1;
            std::mem::take(&mut r.unlogged)
        };
        let key: String = params
            .pointer("/auth/key")
            .and_then(Value::as_str)
            .unwrap_or("")
            .chars()
            .take(128)
            .collect();
        let message: String = error.to_string().chars().take(300).collect();
        let summary = json!({
            "refused": error.code(),
            "message": message,
            "query_bytes": params.get("query").map(|q| q.to_string().len()).unwrap_or(0),
            "unlogged_refusals_before": unlogged,
        });
        let _guard = lock(&self.log);
        let (seq, prev) = log.head()?;
        let entry = LogEntry {
            seq,
            time_ms: now_ms,
            key,
            method: method.chars().take(64).collect(),
            query_hash: query_hash(&summary).to_hex(),
            query: summary,
            prev: prev.to_hex(),
            hash: String::new(),
            refused: Some(error.code().to_string()),
        };
        let hash = entry.compute_hash();
        let entry = LogEntry {
            hash: hash.to_hex(),
            ..entry
        };
        let bytes = serde_json::to_vec(&entry).expect("a log entry encodes");
        log.append(seq, &bytes, hash)?;
        Ok(Some(seq))
    }
}

/// Identity evaluations per key: a bucket of `per_minute` tokens per key
/// that refills at `per_minute` a minute, counted per blinded identity (a
/// batch of 64 takes 64), so that no institution can evaluate a list of
/// ID numbers through the regulator's node faster than its limit, however
/// it times its requests. Keys are the gate's (regulators and member
/// institutions), so the map stays small.
#[derive(Debug)]
pub struct RateLimiter {
    per_minute: u32,
    /// Per key: tokens left (in thousandths) as of a time.
    buckets: Mutex<std::collections::HashMap<PublicKey, (u64, u64)>>,
}

impl RateLimiter {
    pub fn new(per_minute: u32) -> RateLimiter {
        RateLimiter {
            per_minute,
            buckets: Mutex::default(),
        }
    }

    pub fn per_minute(&self) -> u32 {
        self.per_minute
    }

    /// Takes `n` evaluations for `key` at `now_ms`: how many it may still
    /// take at once, or the refusal (nothing is taken when refused).
    pub fn take(&self, key: &PublicKey, n: u32, now_ms: u64) -> Result<u32, AuthError> {
        let full = u64::from(self.per_minute) * 1_000;
        let mut buckets = lock(&self.buckets);
        let (at, left) = buckets.entry(*key).or_insert((now_ms, full));
        // per_minute tokens a minute: per_minute thousandths a millisecond
        // divided by 60.
        let refill = now_ms
            .saturating_sub(*at)
            .saturating_mul(u64::from(self.per_minute))
            / 60;
        *left = left.saturating_add(refill).min(full);
        *at = now_ms.max(*at);
        let need = u64::from(n) * 1_000;
        if need > *left {
            let missing = need - *left;
            return Err(AuthError::RateLimited {
                key: key.to_hex(),
                limit: self.per_minute,
                retry_in_ms: (missing * 60).div_ceil(u64::from(self.per_minute).max(1)),
            });
        }
        *left -= need;
        Ok((*left / 1_000) as u32)
    }
}

/// The hash of a logged query: SHA-256("hutong/audit/query/v1" || 0x00
/// || its compact JSON).
fn query_hash(query: &Value) -> Hash {
    Hash::tagged(
        b"hutong/audit/query/v1",
        serde_json::to_string(query)
            .expect("a JSON value encodes")
            .as_bytes(),
    )
}

/// Where the audit-query log is kept (the node: a column of its database,
/// each append synced before the query is answered).
pub trait AuditLog {
    type Error;
    /// The next sequence number and the hash of the last entry (zeros when
    /// the log is empty).
    fn head(&self) -> Result<(u64, Hash), Self::Error>;
    /// Appends entry `seq` (its JSON bytes) and makes `hash` the head's.
    fn append(&self, seq: u64, entry: &[u8], hash: Hash) -> Result<(), Self::Error>;
}

/// One entry of the audit-query log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogEntry {
    pub seq: u64,
    pub time_ms: u64,
    /// The regulator key that signed the query.
    pub key: String,
    pub method: String,
    pub query: Value,
    pub query_hash: String,
    /// The previous entry's hash (zeros for the first).
    pub prev: String,
    pub hash: String,
    /// The refusal code of a refused request (then `query` is a summary:
    /// the code, the message, the query's size, and how many refusals
    /// before it went unlogged over the per-minute quota).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refused: Option<String>,
}

impl LogEntry {
    /// `SHA-256("hutong/audit/log/v1" || 0x00 || borsh((seq, time, key,
    /// method, query hash, prev)))`; for a refused request the refusal
    /// code is a seventh member of the tuple (a borsh string).
    pub fn compute_hash(&self) -> Hash {
        let bytes = match &self.refused {
            None => borsh::to_vec(&(
                self.seq,
                self.time_ms,
                &self.key,
                &self.method,
                &self.query_hash,
                &self.prev,
            )),
            Some(code) => borsh::to_vec(&(
                self.seq,
                self.time_ms,
                &self.key,
                &self.method,
                &self.query_hash,
                &self.prev,
                code,
            )),
        }
        .expect("borsh into a Vec cannot fail");
        Hash::tagged(LOG_TAG, &bytes)
    }
}

/// Checks a run of consecutive log entries: each hash is right, each
/// names the one before, and each query matches its hash. `prev` is the
/// hash before the first entry (zeros from the start of the log).
pub fn verify_log(entries: &[LogEntry], mut prev: Hash) -> Result<(), String> {
    for (i, e) in entries.iter().enumerate() {
        if i > 0 && e.seq != entries[i - 1].seq + 1 {
            return Err(format!(
                "entry {} does not follow entry {}",
                e.seq,
                entries[i - 1].seq
            ));
        }
        if e.prev != prev.to_hex() {
            return Err(format!(
                "entry {} does not name the previous entry's hash",
                e.seq
            ));
        }
        if query_hash(&e.query).to_hex() != e.query_hash {
            return Err(format!("entry {}'s query does not match its hash", e.seq));
        }
        let hash = e.compute_hash();
        if hash.to_hex() != e.hash {
            return Err(format!("entry {}'s hash is wrong: it was edited", e.seq));
        }
        prev = hash;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn setup() -> (Keypair, Keypair, Gate, ChainId) {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let regulator = Keypair::generate(&mut rng);
        let other = Keypair::generate(&mut rng);
        let chain = ChainId([7; 32]);
        let gate = Gate::new(chain, vec![regulator.public()]);
        (regulator, other, gate, chain)
    }

    #[test]
    fn signed_requests_pass_once_and_everything_else_is_refused() {
        let (regulator, other, gate, chain) = setup();
        let now = 1_000_000;
        let query = json!({"account": "x", "limit": 5});
        let params = sign_request(
            &regulator,
            &chain,
            "hutong_auditHistory",
            query.clone(),
            now,
            "00112233445566778899",
        );
        let (key, got) = gate
            .check("hutong_auditHistory", params.clone(), now)
            .unwrap();
        assert_eq!((key, got), (regulator.public(), query.clone()));
        // Replayed.
        let e = gate
            .check("hutong_auditHistory", params.clone(), now + 10)
            .unwrap_err();
        assert_eq!(e.code(), "replayed");
        // Unsigned.
        let e = gate
            .check("hutong_auditHistory", json!({"query": query}), now)
            .unwrap_err();
        assert_eq!(e.code(), "unauthenticated");
        // Signed by a key that is not a regulator's.
        let p = sign_request(
            &other,
            &chain,
            "hutong_auditHistory",
            query.clone(),
            now,
            "aaaaaaaaaaaaaaaaaaaa",
        );
        assert_eq!(
            gate.check("hutong_auditHistory", p, now)
                .unwrap_err()
                .code(),
            "unknown_key"
        );
        // A regulator's signature over another query, method or chain.
        let mut p = sign_request(
            &regulator,
            &chain,
            "hutong_auditHistory",
            query.clone(),
            now,
            "bbbbbbbbbbbbbbbbbbbb",
        );
        p["query"]["limit"] = json!(6);
        assert_eq!(
            gate.check("hutong_auditHistory", p, now)
                .unwrap_err()
                .code(),
            "bad_signature"
        );
        let p = sign_request(
            &regulator,
            &chain,
            "hutong_auditTrace",
            query.clone(),
            now,
            "cccccccccccccccccccc",
        );
        assert_eq!(
            gate.check("hutong_auditHistory", p, now)
                .unwrap_err()
                .code(),
            "bad_signature"
        );
        let p = sign_request(
            &regulator,
            &ChainId([8; 32]),
            "hutong_auditHistory",
            query.clone(),
            now,
            "dddddddddddddddddddd",
        );
        assert_eq!(
            gate.check("hutong_auditHistory", p, now)
                .unwrap_err()
                .code(),
            "bad_signature"
        );
        // Stale and far-future.
        let p = sign_request(
            &regulator,
            &chain,
            "hutong_auditHistory",
            query.clone(),
            now - 2 * FRESHNESS_MS,
            "eeeeeeeeeeeeeeeeeeee",
        );
        assert_eq!(
            gate.check("hutong_auditHistory", p, now)
                .unwrap_err()
                .code(),
            "stale"
        );
        let p = sign_request(
            &regulator,
            &chain,
            "hutong_auditHistory",
            query,
            now + 2 * FRESHNESS_MS,
            "ffffffffffffffffffff",
        );
        assert_eq!(
            gate.check("hutong_auditHistory", p, now)
                .unwrap_err()
                .code(),
            "stale"
        );
    }

    #[test]
    fn the_log_chain_breaks_where_an_entry_is_edited() {
        let mut entries = Vec::new();
        let mut prev = Hash::ZERO;
        for seq in 0..4u64 {
            let query = json!({"n": seq});
            let query_hash = Hash::tagged(
                b"hutong/audit/query/v1",
                serde_json::to_string(&query).unwrap().as_bytes(),
            );
            let mut e = LogEntry {
                seq,
                time_ms: seq * 10,
                key: "k".into(),
                method: "hutong_auditTrace".into(),
                query,
                query_hash: query_hash.to_hex(),
                prev: prev.to_hex(),
                hash: String::new(),
                refused: None,
            };
            let h = e.compute_hash();
            e.hash = h.to_hex();
            prev = h;
            entries.push(e);
        }
        verify_log(&entries, Hash::ZERO).unwrap();
        let mut edited = entries.clone();
        edited[2].query = json!({"n": 99});
        assert!(verify_log(&edited, Hash::ZERO).is_err());
        let mut removed = entries.clone();
        removed.remove(1);
        assert!(verify_log(&removed, Hash::ZERO).is_err());
    }

    /// A log in memory, as the node's column keeps it.
    #[derive(Default)]
    struct MemoryLog(std::cell::RefCell<Vec<(u64, Vec<u8>, Hash)>>);

    impl AuditLog for MemoryLog {
        type Error = std::convert::Infallible;
        fn head(&self) -> Result<(u64, Hash), Self::Error> {
            let v = self.0.borrow();
            Ok(v.last()
                .map(|(s, _, h)| (s + 1, *h))
                .unwrap_or((0, Hash::ZERO)))
        }
        fn append(&self, seq: u64, entry: &[u8], hash: Hash) -> Result<(), Self::Error> {
            self.0.borrow_mut().push((seq, entry.to_vec(), hash));
            Ok(())
        }
    }

    #[test]
    fn refused_requests_are_chained_entries_within_a_quota() {
        let regulator = Keypair::from_secret_bytes(&[7; 32]);
        let chain = ChainId([1; 32]);
        let gate = Gate::new(chain, vec![regulator.public()]);
        let log = MemoryLog::default();
        let now = 120_000u64;
        let stranger = Keypair::from_secret_bytes(&[8; 32]);
        let p = sign_request(
            &stranger,
            &chain,
            "hutong_auditTrace",
            json!({}),
            now,
            "0123456789abcdef",
        );
        let e = gate.check("hutong_auditTrace", p.clone(), now).unwrap_err();
        for _ in 0..REFUSALS_PER_MINUTE {
            assert!(gate
                .log_refusal(&log, "hutong_auditTrace", &p, &e, now)
                .unwrap()
                .is_some());
        }
        // Over the quota: counted, not written.
        assert_eq!(
            gate.log_refusal(&log, "hutong_auditTrace", &p, &e, now)
                .unwrap(),
            None
        );
        assert_eq!(
            gate.log_refusal(&log, "hutong_auditTrace", &p, &e, now + 1)
                .unwrap(),
            None
        );
        let next = gate
            .log_refusal(&log, "hutong_auditTrace", &p, &e, now + 60_000)
            .unwrap();
        assert_eq!(next, Some(u64::from(REFUSALS_PER_MINUTE)));
        // An accepted one after them, in the same chain.
        let ok = sign_request(
            &regulator,
            &chain,
            "hutong_auditTrace",
            json!({}),
            now,
            "fedcba9876543210",
        );
        let (key, query) = gate.check("hutong_auditTrace", ok, now).unwrap();
        gate.log(&log, &key, "hutong_auditTrace", &query, now)
            .unwrap();

        let entries: Vec<LogEntry> = log
            .0
            .borrow()
            .iter()
            .map(|(_, b, _)| serde_json::from_slice(b).unwrap())
            .collect();
        verify_log(&entries, Hash::ZERO).unwrap();
        let last_refusal = &entries[REFUSALS_PER_MINUTE as usize];
        assert_eq!(last_refusal.refused.as_deref(), Some("unknown_key"));
        assert_eq!(last_refusal.key, stranger.public().to_hex());
        assert_eq!(last_refusal.query["unlogged_refusals_before"], 2);
        assert_eq!(entries.last().unwrap().refused, None);
        // Turning a refusal into an accepted request breaks the chain.
        let mut forged = entries.clone();
        forged[0].refused = None;
        assert!(verify_log(&forged, Hash::ZERO).is_err());
    }

    #[test]
    fn identity_evaluations_are_limited_per_key() {
        let mut rng = rand::thread_rng();
        let a = Keypair::generate(&mut rng).public();
        let b = Keypair::generate(&mut rng).public();
        let limit = RateLimiter::new(600);
        let t = 7 * 60_000 + 5_000;
        assert_eq!(limit.take(&a, 64, t), Ok(536));
        assert_eq!(limit.take(&a, 536, t + 1), Ok(0));
        // Past the limit: refused, nothing taken, the wait named (ten a
        // second come back).
        let e = limit.take(&a, 5, t + 1).unwrap_err();
        assert_eq!(e.code(), "rate_limited");
        assert!(matches!(
            e,
            AuthError::RateLimited {
                retry_in_ms: 499,
                limit: 600,
                ..
            }
        ));
        assert_eq!(limit.take(&a, 5, t + 501), Ok(0));
        // However the requests are timed, at most the limit a minute and
        // the bucket's size at once: 1,000 in a second get 600 and a few.
        let c = Keypair::generate(&mut rng).public();
        let taken = (0..1_000)
            .filter(|i| limit.take(&c, 1, t + i).is_ok())
            .count();
        assert!((600..=620).contains(&taken), "{taken}");
        // Another key has its own bucket; a minute refills it, no more.
        assert_eq!(limit.take(&b, 600, t), Ok(0));
        assert_eq!(limit.take(&a, 600, t + 120_000), Ok(0));
        assert!(limit.take(&a, 601, t + 600_000).is_err());
    }
}

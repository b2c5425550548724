//! The mempool: signed transactions admitted and waiting for a block.
//!
//! Admission is in two halves. [`check_stateless`] and the parallel
//! signature check run without the pool's lock; [`Mempool::insert`] then
//! checks what needs state (sender, sequence window, freeze, expiry) and
//! the bounds. Everything is bounded: transactions and bytes in all, and
//! transactions per sender; a full pool answers [`Rejection::Busy`], and
//! the client retries later. Committed, stale and expired transactions
//! leave the pool as blocks commit ([`Mempool::on_commit`]).
//!
//! A transaction in the pool has had its signatures checked; the pool is
//! also the node's verification cache: a proposal's transactions that are
//! already here are not checked again ([`Mempool::contains`]).

use std::collections::{BTreeMap, HashMap, HashSet};

use hutong_runtime::crypto::Hash;
use hutong_runtime::state::Account;
use hutong_runtime::tx::{Expiry, TX_BYTES_MAX};
use hutong_runtime::{Address, ChainId, SignedTransaction};
use serde::Serialize;

#[derive(Debug, Clone)]
pub struct MempoolConfig {
    pub txs_max: usize,
    pub bytes_max: usize,
    pub per_sender_max: usize,
    /// A transaction's sequence may be at most this far ahead of the
    /// account's next sequence number.
    pub sequence_window: u64,
}

impl Default for MempoolConfig {
    fn default() -> Self {
        MempoolConfig {
            txs_max: 200_000,
            bytes_max: 128 * 1024 * 1024,
            per_sender_max: 256,
            sequence_window: 256,
        }
    }
}

/// Why a transaction was not admitted. `code()` is stable and reaches the
/// wallet; `retryable()` says whether the same bytes may succeed later.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum Rejection {
    #[error("transaction is {bytes} bytes; at most {max}")]
    TooLarge { bytes: usize, max: usize },
    #[error("transaction does not decode: {reason}")]
    Malformed { reason: String },
    #[error("transaction is for chain {got}, this is chain {expected}")]
    WrongChain { expected: String, got: String },
    #[error("transaction signature is invalid")]
    BadSignature,
    #[error("sender {sender} has no account")]
    UnknownSender { sender: String },
    #[error("sequence {got} is already used; the account's next is {expected}")]
    StaleSequence { expected: u64, got: u64 },
    #[error("sequence {got} is too far ahead of the account's next {expected} (window {window})")]
    SequenceTooFar {
        expected: u64,
        got: u64,
        window: u64,
    },
    #[error("sender {sender} is frozen")]
    SenderFrozen { sender: String },
    #[error("transaction expired at {expiry}")]
    Expired { expiry: String },
    #[error("another transaction with sequence {sequence} from this sender is pending")]
    SequenceTaken { sequence: u64 },
    #[error("the mempool is full ({what}); retry later")]
    Busy { what: String },
    #[error("sender has {pending} pending transactions; at most {max}; retry later")]
    SenderBusy { pending: usize, max: usize },
}

impl Rejection {
    pub fn code(&self) -> &'static str {
        match self {
            Rejection::TooLarge { .. } => "too_large",
            Rejection::Malformed { .. } => "malformed",
            Rejection::WrongChain { .. } => "wrong_chain",
            Rejection::BadSignature => "bad_signature",
            Rejection::UnknownSender { .. } => "unknown_sender",
            Rejection::StaleSequence { .. } => "stale_sequence",
            Rejection::SequenceTooFar { .. } => "sequence_too_far",
            Rejection::SenderFrozen { .. } => "sender_frozen",
            Rejection::Expired { .. } => "expired",
            Rejection::SequenceTaken { .. } => "sequence_taken",
            Rejection::Busy { .. } => "busy",
            Rejection::SenderBusy { .. } => "sender_busy",
        }
    }

    /// Whether the same transaction may be admitted later unchanged.
    pub fn retryable(&self) -> bool {
        matches!(
            self,
            Rejection::Busy { .. }
                | Rejection::SenderBusy { .. }
                | Rejection::SequenceTooFar { .. }
                | Rejection::UnknownSender { .. }
        )
    }

    pub const ALL_CODES: [&'static str; 12] = [
        "too_large",
        "malformed",
        "wrong_chain",
        "bad_signature",
        "unknown_sender",
        "stale_sequence",
        "sequence_too_far",
        "sender_frozen",
        "expired",
        "sequence_taken",
        "busy",
        "sender_busy",
    ];
}

/// A decoded transaction that passed the checks needing no state.
#[derive(Debug, Clone)]
pub struct Decoded {
    pub tx: SignedTransaction,
    pub hash: Hash,
    pub sender: Address,
    pub bytes: usize,
}

/// Size, encoding and chain id.
pub fn check_stateless(raw: &[u8], chain_id: ChainId) -> Result<Decoded, Rejection> {
    if raw.len() > TX_BYTES_MAX {
        return Err(Rejection::TooLarge {
            bytes: raw.len(),
            max: TX_BYTES_MAX,
        });
    }
    let tx = SignedTransaction::decode(raw).map_err(|e| Rejection::Malformed {
        reason: e.to_string(),
    })?;
    if tx.tx.chain_id != chain_id {
        return Err(Rejection::WrongChain {
            expected: chain_id.to_string(),
            got: tx.tx.chain_id.to_string(),
        });
    }
    let hash = tx.hash();
    let sender = tx.tx.sender_address();
    Ok(Decoded {
        tx,
        hash,
        sender,
        bytes: raw.len(),
    })
}

/// What the pool needs to know about the chain's tip to judge expiry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Tip {
    pub height: u64,
    pub timestamp_ms: u64,
}

fn expired(expiry: &Expiry, tip: Tip) -> bool {
    // The next block has at least the next height and no earlier time.
    match expiry {
        Expiry::Height(h) => tip.height.saturating_add(1) > h.0,
        Expiry::Time(t) => tip.timestamp_ms > t.0,
    }
}

#[derive(Debug)]
struct Entry {
    tx: SignedTransaction,
    sender: Address,
    sequence: u64,
    bytes: usize,
    arrival: u64,
}

#[derive(Debug, Default)]
pub struct Mempool {
    config: MempoolConfig,
    entries: HashMap<Hash, Entry>,
    by_sender: HashMap<Address, BTreeMap<u64, Hash>>,
    /// Arrival number → hash: the order blocks take transactions in.
    queue: BTreeMap<u64, Hash>,
    next_arrival: u64,
    bytes: usize,
}

/// Counts for status and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct MempoolStats {
    pub txs: usize,
    pub bytes: usize,
    pub senders: usize,
}

impl Mempool {
    pub fn new(config: MempoolConfig) -> Mempool {
        Mempool {
            config,
            ..Mempool::default()
        }
    }

    pub fn stats(&self) -> MempoolStats {
        MempoolStats {
            txs: self.entries.len(),
            bytes: self.bytes,
            senders: self.by_sender.len(),
        }
    }

    pub fn contains(&self, hash: &Hash) -> bool {
        self.entries.contains_key(hash)
    }

    /// Whether the pool has room for `count` more transactions: admission
    /// sheds load before it spends time verifying signatures.
    pub fn is_full(&self) -> bool {
        self.entries.len() >= self.config.txs_max || self.bytes >= self.config.bytes_max
    }

    /// Admits a transaction whose signatures were verified. `account` is the
    /// sender's committed account (`None` if it has none). Returns `Ok(false)`
    /// when the same transaction is already pending.
    pub fn insert(
        &mut self,
        decoded: Decoded,
        account: Option<&Account>,
        tip: Tip,
    ) -> Result<bool, Rejection> {
        if self.entries.contains_key(&decoded.hash) {
            return Ok(false);
        }
        let Some(account) = account else {
            return Err(Rejection::UnknownSender {
                sender: decoded.sender.to_string(),
            });
        };
        if account.frozen.is_some() {
            return Err(Rejection::SenderFrozen {
                sender: decoded.sender.to_string(),
            });
        }
        let expected = account.sequence.0;
        let got = decoded.tx.tx.sequence.0;
        if got < expected {
            return Err(Rejection::StaleSequence { expected, got });
        }
        let window = self.config.sequence_window;
        if got - expected >= window {
            return Err(Rejection::SequenceTooFar {
                expected,
                got,
                window,
            });
        }
        if expired(&decoded.tx.tx.expiry, tip) {
            return Err(Rejection::Expired {
                expiry: format!("{:?}", decoded.tx.tx.expiry),
            });
        }
        let pending = self.by_sender.get(&decoded.sender);
        if let Some(seqs) = pending {
            if seqs.contains_key(&got) {
                return Err(Rejection::SequenceTaken { sequence: got });
            }
            if seqs.len() >= self.config.per_sender_max {
                return Err(Rejection::SenderBusy {
                    pending: seqs.len(),
                    max: self.config.per_sender_max,
                });
            }
        }
        if self.entries.len() >= self.config.txs_max {
            return Err(Rejection::Busy {
                what: format!("{} transactions", self.entries.len()),
            });
        }
        if self.bytes + decoded.bytes > self.config.bytes_max {
            return Err(Rejection::Busy {
                what: format!("{} bytes", self.bytes),
            });
        }
        let arrival = self.next_arrival;
        self.next_arrival += 1;
        self.queue.insert(arrival, decoded.hash);
        self.by_sender
            .entry(decoded.sender)
            .or_default()
            .insert(got, decoded.hash);
        self.bytes += decoded.bytes;
        self.entries.insert(
            decoded.hash,
            Entry {
                tx: decoded.tx,
                sender: decoded.sender,
                sequence: got,
                bytes: decoded.bytes,
                arrival,
            },
        );
        Ok(true)
    }

    fn remove(&mut self, hash: &Hash) -> Option<Entry> {
        let entry = self.entries.remove(hash)?;
        self.queue.remove(&entry.arrival);
        if let Some(seqs) = self.by_sender.get_mut(&entry.sender) {
            seqs.remove(&entry.sequence);
            if seqs.is_empty() {
                self.by_sender.remove(&entry.sender);
            }
        }
        self.bytes -= entry.bytes;
        Some(entry)
    }

    /// Transactions for a block, in arrival order, at most `txs_max` and
    /// `bytes_max`. `in_flight` holds transactions already in uncommitted
    /// blocks below the new one; `next_sequence` gives each sender's next
    /// sequence number after those blocks. A sender's transactions are
    /// taken only as a gap-free run from its next sequence number, so none
    /// fails for its sequence.
    pub fn take(
        &self,
        txs_max: usize,
        bytes_max: usize,
        in_flight: &HashSet<Hash>,
        next_sequence: impl Fn(&Address) -> Option<u64>,
    ) -> Vec<SignedTransaction> {
        let mut out = Vec::new();
        let mut bytes = 0usize;
        let mut next: HashMap<Address, u64> = HashMap::new();
        let mut done: HashSet<Address> = HashSet::new();
        for hash in self.queue.values() {
            if out.len() >= txs_max {
                break;
            }
            let Some(entry) = self.entries.get(hash) else {
                continue;
            };
            if in_flight.contains(hash) || done.contains(&entry.sender) {
                continue;
            }
            // Take this sender's whole gap-free run now, in sequence order,
            // at the position of its first transaction to arrive.
            let Some(mut seq) = next
                .get(&entry.sender)
                .copied()
                .or_else(|| next_sequence(&entry.sender))
            else {
                done.insert(entry.sender);
                continue;
            };
            let Some(seqs) = self.by_sender.get(&entry.sender) else {
                continue;
            };
            for (s, h) in seqs.range(seq..) {
                if *s != seq || out.len() >= txs_max {
                    break;
                }
                if in_flight.contains(h) {
                    seq += 1;
                    continue;
                }
                let Some(e) = self.entries.get(h) else { break };
                if bytes + e.bytes > bytes_max {
                    break;
                }
                bytes += e.bytes;
                out.push(e.tx.clone());
                seq += 1;
            }
            next.insert(entry.sender, seq);
            done.insert(entry.sender);
        }
        out
    }

    /// After a block commits: drops its transactions, every transaction
    /// whose sequence the block used up, and expired ones. `account_sequence`
    /// gives the committed next sequence of a sender.
    pub fn on_commit(
        &mut self,
        committed: &[Hash],
        senders: &HashSet<Address>,
        account_sequence: impl Fn(&Address) -> Option<u64>,
        tip: Tip,
    ) -> usize {
        let mut removed = 0;
        for hash in committed {
            removed += usize::from(self.remove(hash).is_some());
        }
        for sender in senders {
            let next = account_sequence(sender).unwrap_or(0);
            let stale: Vec<Hash> = match self.by_sender.get(sender) {
                Some(seqs) => seqs.range(..next).map(|(_, h)| *h).collect(),
                None => continue,
            };
            for hash in stale {
                removed += usize::from(self.remove(&hash).is_some());
            }
        }
        let expired_hashes: Vec<Hash> = self
            .entries
            .iter()
            .filter(|(_, e)| expired(&e.tx.tx.expiry, tip))
            .map(|(h, _)| *h)
            .collect();
        for hash in expired_hashes {
            removed += usize::from(self.remove(&hash).is_some());
        }
        removed
    }
}

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

use std::collections::{BTreeMap, BTreeSet};

use hutong_runtime::crypto::Hash;
use hutong_runtime::state::Account;
use hutong_runtime::tx::{Expiry, TxKind, TX_BYTES_MAX};
use hutong_runtime::{Address, ChainId, Height, SignedTransaction, TimestampMs};
use serde::Serialize;

pub use hutong_wire::rpc::MempoolStats;

use crate::util::{FastMap, FastSet};

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
            // A few seconds of work at the rates a node reaches (2,000 to
            // 8,000 transfers/s): past it a flood is answered "busy,
            // retry" instead of queueing for minutes. 200,000 held ~100 s
            // of backlog after a one-minute flood (BENCHMARKS.md).
            txs_max: 20_000,
            bytes_max: 32 * 1024 * 1024,
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
    #[error(
        "the key of {sender} was rotated away by governance; sign with the account's current key"
    )]
    RetiredKey { sender: String },
    #[error("transaction expired at {expiry}")]
    Expired { expiry: String },
    #[error("another transaction with sequence {sequence} from this sender is pending")]
    SequenceTaken { sequence: u64 },
    #[error("the mempool is full ({what}); retry later")]
    Busy { what: String },
    #[error("sender has {pending} pending transactions; at most {max}; retry later")]
    SenderBusy { pending: usize, max: usize },
    #[error("an amount is zero")]
    ZeroAmount,
    #[error("a transfer pays its own sender")]
    SelfTransfer,
    #[error("asset {asset} does not exist on this chain")]
    UnknownAsset { asset: String },
    #[error("the transaction names co-signer {cosigner} but carries no co-signature")]
    CosignatureMissing { cosigner: String },
    #[error("the transaction carries a co-signature but names no co-signer")]
    CosignatureUnexpected,
    #[error("the co-signature does not verify under co-signer {cosigner} (the sender's own signature does)")]
    CosignatureInvalid { cosigner: String },
    /// After admission: another transaction of the sender with the same
    /// sequence number was committed first (`used_by`, when this node saw
    /// which). Final: these bytes can never execute.
    #[error("sequence {sequence} was used by another transaction of the sender{}", used_by.as_ref().map(|h| format!(" ({h})")).unwrap_or_default())]
    SequenceUsed {
        sequence: u64,
        used_by: Option<String>,
    },
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
            Rejection::RetiredKey { .. } => "retired_key",
            Rejection::Expired { .. } => "expired",
            Rejection::SequenceTaken { .. } => "sequence_taken",
            Rejection::Busy { .. } => "busy",
            Rejection::SenderBusy { .. } => "sender_busy",
            Rejection::ZeroAmount => "zero_amount",
            Rejection::SelfTransfer => "self_transfer",
            Rejection::UnknownAsset { .. } => "unknown_asset",
            Rejection::CosignatureMissing { .. } => "cosignature_missing",
            Rejection::CosignatureUnexpected => "cosignature_unexpected",
            Rejection::CosignatureInvalid { .. } => "cosignature_invalid",
            Rejection::SequenceUsed { .. } => "sequence_used",
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

    pub const ALL_CODES: [&'static str; 19] = [
        "too_large",
        "malformed",
        "wrong_chain",
        "bad_signature",
        "unknown_sender",
        "stale_sequence",
        "sequence_too_far",
        "retired_key",
        "expired",
        "sequence_taken",
        "busy",
        "sender_busy",
        "zero_amount",
        "self_transfer",
        "unknown_asset",
        "cosignature_missing",
        "cosignature_unexpected",
        "cosignature_invalid",
        "sequence_used",
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

/// Size, encoding, chain id, and the rules of a transaction's own fields
/// that need no state (a zero amount, a transfer to its own sender): such
/// a transaction is refused here, before it costs a sequence number. The
/// ledger checks them again at execution (a block may carry anything).
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
    match (&tx.tx.cosigner, &tx.cosignature) {
        (Some(key), None) => {
            return Err(Rejection::CosignatureMissing {
                cosigner: key.to_hex(),
            })
        }
        (None, Some(_)) => return Err(Rejection::CosignatureUnexpected),
        _ => {}
    }
    let hash = tx.hash();
    let sender = tx.tx.sender_address();
    let payouts: &[hutong_runtime::tx::Payout] = match &tx.tx.kind {
        TxKind::Transfer { to, amount, .. } => &[hutong_runtime::tx::Payout {
            to: *to,
            amount: *amount,
        }],
        TxKind::BatchTransfer { payouts, .. } => payouts,
        // A hold pays later: the same two checks.
        TxKind::Hold { to, amount, .. } => &[hutong_runtime::tx::Payout {
            to: *to,
            amount: *amount,
        }],
        TxKind::Mint { amount, .. }
        | TxKind::Burn { amount, .. }
        | TxKind::Capture { amount, .. }
        | TxKind::FreezeAmount { amount, .. }
        | TxKind::MandatePay { amount, .. }
        | TxKind::Pvp { pay: amount, .. }
            if amount.0 == 0 =>
        {
            return Err(Rejection::ZeroAmount)
        }
        _ => &[],
    };
    if payouts.iter().any(|p| p.amount.0 == 0) {
        return Err(Rejection::ZeroAmount);
    }
    if payouts.iter().any(|p| p.to == sender) {
        return Err(Rejection::SelfTransfer);
    }
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
    entries: FastMap<Hash, Entry>,
    by_sender: FastMap<Address, BTreeMap<u64, Hash>>,
    /// Arrival number → hash: the order blocks take transactions in.
    queue: BTreeMap<u64, Hash>,
    /// Expiry → hash, one index per kind of expiry, so that a commit finds
    /// the expired transactions without scanning the pool.
    by_expiry_height: BTreeSet<(u64, Hash)>,
    by_expiry_time: BTreeSet<(u64, Hash)>,
    next_arrival: u64,
    bytes: usize,
}

impl Mempool {
    /// The sequence a sender's next transaction should carry: its
    /// account's `account_sequence`, past the transactions this pool
    /// holds for it that follow on without a gap.
    pub fn next_sequence(&self, sender: &Address, account_sequence: u64) -> u64 {
        let mut next = account_sequence;
        if let Some(seqs) = self.by_sender.get(sender) {
            for seq in seqs.range(account_sequence..).map(|(s, _)| *s) {
                if seq != next {
                    break;
                }
                next = next.saturating_add(1);
            }
        }
        next
    }

    /// The pool's bounds.
    pub fn config(&self) -> &MempoolConfig {
        &self.config
    }

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
        // A key rotated away signs for nothing (execution says the same).
        if account.owner != decoded.tx.tx.sender {
            return Err(Rejection::RetiredKey {
                sender: decoded.sender.to_string(),
            });
        }
        // A frozen sender's transaction is admitted: it is ordered and
        // fails (receipt `sender_frozen`, its sequence number used), so
        // the attempt is on the ledger, where the regulator's detectors
        // and every member see it. Refused here, it would reach no one.
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
        match decoded.tx.tx.expiry {
            Expiry::Height(h) => self.by_expiry_height.insert((h.0, decoded.hash)),
            Expiry::Time(t) => self.by_expiry_time.insert((t.0, decoded.hash)),
        };
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
        match entry.tx.tx.expiry {
            Expiry::Height(h) => self.by_expiry_height.remove(&(h.0, *hash)),
            Expiry::Time(t) => self.by_expiry_time.remove(&(t.0, *hash)),
        };
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
        in_flight: &FastSet<Hash>,
        next_sequence: impl Fn(&Address) -> Option<u64>,
    ) -> Vec<SignedTransaction> {
        let mut out = Vec::new();
        let mut bytes = 0usize;
        let mut next: FastMap<Address, u64> = FastMap::default();
        let mut done: FastSet<Address> = FastSet::default();
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
    /// gives the committed next sequence of a sender. Says which pending
    /// transactions ended without executing, so their wallets hear why.
    pub fn on_commit(
        &mut self,
        committed: &[Hash],
        senders: &FastSet<Address>,
        account_sequence: impl Fn(&Address) -> Option<u64>,
        tip: Tip,
    ) -> CommitOutcome {
        let mut removed = 0;
        let mut superseded = Vec::new();
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
                if let Some(entry) = self.remove(&hash) {
                    removed += 1;
                    superseded.push(Superseded {
                        hash,
                        sender: entry.sender,
                        sequence: entry.sequence,
                    });
                }
            }
        }
        // Both indexes are ordered by expiry: the expired ones lead.
        let expired_hashes: Vec<Hash> = self
            .by_expiry_height
            .iter()
            .take_while(|(h, _)| expired(&Expiry::Height(Height(*h)), tip))
            .chain(
                self.by_expiry_time
                    .iter()
                    .take_while(|(t, _)| expired(&Expiry::Time(TimestampMs(*t)), tip)),
            )
            .map(|(_, hash)| *hash)
            .collect();
        let mut expired_out = Vec::new();
        for hash in expired_hashes {
            if let Some(entry) = self.remove(&hash) {
                removed += 1;
                expired_out.push((hash, entry.tx.tx.expiry));
            }
        }
        CommitOutcome {
            removed,
            superseded,
            expired: expired_out,
        }
    }
}

/// What a commit did to the pool ([`Mempool::on_commit`]).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CommitOutcome {
    /// Transactions let go: committed, superseded and expired.
    pub removed: usize,
    /// Pending transactions whose sequence number another transaction of
    /// the same sender used first.
    pub superseded: Vec<Superseded>,
    /// Pending transactions that expired before a block took them.
    pub expired: Vec<(Hash, Expiry)>,
}

/// A pending transaction that lost the race for its sequence number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Superseded {
    pub hash: Hash,
    /// The signing key's address.
    pub sender: Address,
    pub sequence: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use hutong_runtime::state::AccountKind;
    use hutong_runtime::tx::TxKind;
    use hutong_runtime::{Amount, AssetCode, Keypair, Nonce, Tier, Transaction, TransferId};
    use rand::SeedableRng;

    const CHAIN: ChainId = ChainId([3; 32]);

    fn key(seed: u64) -> Keypair {
        Keypair::generate(&mut rand_chacha::ChaCha8Rng::seed_from_u64(seed))
    }

    fn account(key: &Keypair, next: u64) -> Account {
        Account {
            owner: key.public(),
            kind: AccountKind::Customer {
                tier: Tier(1),
                identity_commitment: Hash([0; 32]),
            },
            institution: Address::of(&key.public()),
            sequence: Nonce(next),
            frozen: None,
            restriction: None,
        }
    }

    fn tx(key: &Keypair, sequence: u64, expiry: Expiry) -> Decoded {
        let t = Transaction {
            chain_id: CHAIN,
            sender: key.public(),
            sequence: Nonce(sequence),
            expiry,
            kind: TxKind::Transfer {
                to: Address([0xee; 20]),
                asset: AssetCode::new("CNY").unwrap(),
                amount: Amount(1),
                transfer_id: TransferId(u128::from(sequence)),
            },
            cosigner: None,
            memo: Vec::new(),
        }
        .sign(key);
        check_stateless(&t.encode(), CHAIN).unwrap()
    }

    fn far() -> Expiry {
        Expiry::Height(Height(1_000_000))
    }

    fn pool(txs_max: usize, per_sender_max: usize) -> Mempool {
        Mempool::new(MempoolConfig {
            txs_max,
            bytes_max: 1 << 20,
            per_sender_max,
            sequence_window: 8,
        })
    }

    #[test]
    fn admission_checks_sequence_window_sender_and_bounds() {
        let k = key(1);
        let a = account(&k, 5);
        let tip = Tip::default();
        let mut p = pool(4, 3);
        assert_eq!(
            p.insert(tx(&k, 4, far()), Some(&a), tip)
                .unwrap_err()
                .code(),
            "stale_sequence"
        );
        assert_eq!(
            p.insert(tx(&k, 13, far()), Some(&a), tip)
                .unwrap_err()
                .code(),
            "sequence_too_far"
        );
        assert_eq!(
            p.insert(tx(&k, 5, far()), None, tip).unwrap_err().code(),
            "unknown_sender"
        );
        // A frozen sender is admitted: its attempt is ordered, and fails.
        let mut frozen = a;
        frozen.frozen = Some(hutong_runtime::state::Freeze {
            reason: hutong_runtime::tx::FreezeReason::Fraud,
            by: Address::of(&k.public()),
        });
        let mut q = pool(4, 3);
        assert_eq!(q.insert(tx(&k, 5, far()), Some(&frozen), tip), Ok(true));
        assert_eq!(
            p.insert(
                tx(&k, 5, Expiry::Height(Height(1))),
                Some(&a),
                Tip {
                    height: 1,
                    timestamp_ms: 0
                }
            )
            .unwrap_err()
            .code(),
            "expired"
        );
        // The same transaction twice is one entry; another with the same
        // sequence is refused.
        let first = tx(&k, 5, far());
        assert_eq!(p.insert(first.clone(), Some(&a), tip), Ok(true));
        assert_eq!(p.insert(first, Some(&a), tip), Ok(false));
        let other = tx(&k, 5, Expiry::Height(Height(999_999)));
        assert_eq!(
            p.insert(other, Some(&a), tip).unwrap_err().code(),
            "sequence_taken"
        );
        p.insert(tx(&k, 6, far()), Some(&a), tip).unwrap();
        p.insert(tx(&k, 7, far()), Some(&a), tip).unwrap();
        // Per sender: 3 at most.
        assert_eq!(
            p.insert(tx(&k, 8, far()), Some(&a), tip)
                .unwrap_err()
                .code(),
            "sender_busy"
        );
        // In all: 4 at most, then "busy, retry".
        let k2 = key(2);
        let a2 = account(&k2, 0);
        p.insert(tx(&k2, 0, far()), Some(&a2), tip).unwrap();
        assert!(p.is_full());
        let e = p.insert(tx(&k2, 1, far()), Some(&a2), tip).unwrap_err();
        assert_eq!(e.code(), "busy");
        assert!(e.retryable());
        assert_eq!(p.stats().txs, 4);
    }

    /// A zero amount or a transfer to its own sender is refused before
    /// the pool, in every kind that carries one.
    #[test]
    fn stateless_rules_refuse_zero_amounts_and_self_transfers() {
        let k = key(3);
        let me = Address::of(&k.public());
        let cny = AssetCode::new("CNY").unwrap();
        let code = |kind: TxKind| {
            let t = Transaction {
                chain_id: CHAIN,
                sender: k.public(),
                sequence: Nonce(0),
                expiry: far(),
                kind,
                cosigner: None,
                memo: Vec::new(),
            }
            .sign(&k);
            check_stateless(&t.encode(), CHAIN).err().map(|r| r.code())
        };
        let transfer = |to, amount| TxKind::Transfer {
            to,
            asset: cny,
            amount: Amount(amount),
            transfer_id: TransferId(1),
        };
        let batch = |payouts: Vec<(Address, u128)>| TxKind::BatchTransfer {
            asset: cny,
            payouts: payouts
                .into_iter()
                .map(|(to, a)| hutong_runtime::tx::Payout {
                    to,
                    amount: Amount(a),
                })
                .collect(),
            transfer_id: TransferId(2),
        };
        let other = Address([0xee; 20]);
        assert_eq!(code(transfer(other, 1)), None);
        assert_eq!(code(transfer(other, 0)), Some("zero_amount"));
        assert_eq!(code(transfer(me, 1)), Some("self_transfer"));
        assert_eq!(code(batch(vec![(other, 1), (Address([1; 20]), 2)])), None);
        assert_eq!(
            code(batch(vec![(other, 1), (me, 2)])),
            Some("self_transfer")
        );
        assert_eq!(code(batch(vec![(other, 0)])), Some("zero_amount"));
        let mint = |amount| TxKind::Mint {
            to: me,
            asset: cny,
            amount: Amount(amount),
        };
        assert_eq!(code(mint(0)), Some("zero_amount"));
        assert_eq!(code(mint(5)), None, "an issuer mints to itself");
        let burn = TxKind::Burn {
            asset: cny,
            amount: Amount(0),
        };
        assert_eq!(code(burn), Some("zero_amount"));
    }

    /// A wallet's next sequence counts the pool's transactions that follow
    /// its account's without a gap, and no further.
    #[test]
    fn the_next_sequence_counts_the_gap_free_pending_run() {
        let k = key(7);
        let a = account(&k, 5);
        let me = Address::of(&k.public());
        let tip = Tip::default();
        let mut p = pool(16, 8);
        assert_eq!(p.next_sequence(&me, 5), 5);
        for seq in [5, 6, 8] {
            p.insert(tx(&k, seq, far()), Some(&a), tip).unwrap();
        }
        assert_eq!(p.next_sequence(&me, 5), 7);
        // Once 5 and 6 executed, the account is at 7 and 8 waits on it.
        assert_eq!(p.next_sequence(&me, 7), 7);
        p.insert(tx(&k, 7, far()), Some(&a), tip).unwrap();
        assert_eq!(p.next_sequence(&me, 5), 9);
        assert_eq!(p.next_sequence(&Address([9; 20]), 3), 3);
    }

    #[test]
    fn blocks_take_gap_free_runs_and_skip_what_is_in_flight() {
        let k = key(3);
        let a = account(&k, 0);
        let tip = Tip::default();
        let mut p = pool(100, 100);
        let txs: Vec<Decoded> = [0, 1, 3].iter().map(|s| tx(&k, *s, far())).collect();
        for t in &txs {
            p.insert(t.clone(), Some(&a), tip).unwrap();
        }
        let next = |_: &Address| Some(0);
        let taken = p.take(100, 1 << 20, &FastSet::default(), next);
        // 3 waits behind the missing 2.
        let seqs: Vec<u64> = taken.iter().map(|t| t.tx.sequence.0).collect();
        assert_eq!(seqs, vec![0, 1]);
        // With 0 in an uncommitted block, the next block starts at 1.
        let in_flight: FastSet<Hash> = [txs[0].hash].into_iter().collect();
        let taken = p.take(100, 1 << 20, &in_flight, |_| Some(1));
        let seqs: Vec<u64> = taken.iter().map(|t| t.tx.sequence.0).collect();
        assert_eq!(seqs, vec![1]);
        // Bounded by count.
        assert_eq!(p.take(1, 1 << 20, &FastSet::default(), next).len(), 1);
    }

    #[test]
    fn commits_remove_committed_stale_and_expired_transactions() {
        let (k1, k2, k3) = (key(4), key(5), key(6));
        let tip = Tip {
            height: 10,
            timestamp_ms: 1_000,
        };
        let mut p = pool(100, 100);
        let committed = tx(&k1, 0, far());
        let stale = tx(&k1, 1, far());
        let kept = tx(&k1, 2, far());
        let by_height = tx(&k2, 0, Expiry::Height(Height(12)));
        let by_time = tx(&k3, 0, Expiry::Time(TimestampMs(2_000)));
        let later_time = tx(&k3, 1, Expiry::Time(TimestampMs(9_000)));
        for (t, k) in [
            (&committed, &k1),
            (&stale, &k1),
            (&kept, &k1),
            (&by_height, &k2),
            (&by_time, &k3),
            (&later_time, &k3),
        ] {
            p.insert(t.clone(), Some(&account(k, 0)), tip).unwrap();
        }
        assert_eq!(p.stats().txs, 6);
        // Block 11 committed `committed` and, by another route, used
        // sequence 1 of k1 too (its next is 2).
        let senders: FastSet<Address> = [committed.sender].into_iter().collect();
        let removed = p.on_commit(
            &[committed.hash],
            &senders,
            |_| Some(2),
            Tip {
                height: 11,
                timestamp_ms: 1_500,
            },
        );
        assert_eq!(removed.removed, 2);
        assert_eq!(removed.superseded.len(), 1, "{removed:?}");
        assert_eq!(removed.superseded[0].sequence, 1);
        assert!(removed.expired.is_empty());
        assert!(p.contains(&kept.hash) && p.contains(&by_height.hash));
        // Block 12 at t = 2,500: the next block is 13, past `by_height`'s
        // expiry; `by_time` expired too; the others stay.
        let removed = p.on_commit(
            &[],
            &FastSet::default(),
            |_| None,
            Tip {
                height: 12,
                timestamp_ms: 2_500,
            },
        );
        assert_eq!(removed.removed, 2);
        assert!(removed.superseded.is_empty());
        let mut expired: Vec<Hash> = removed.expired.iter().map(|(h, _)| *h).collect();
        expired.sort();
        let mut want = vec![by_height.hash, by_time.hash];
        want.sort();
        assert_eq!(expired, want);
        assert!(!p.contains(&by_height.hash) && !p.contains(&by_time.hash));
        assert!(p.contains(&kept.hash) && p.contains(&later_time.hash));
        assert_eq!(p.stats().txs, 2);
        assert_eq!(p.stats().senders, 2);
    }
}

//! Proposing, as leader: when consensus asks for a payload, wait until a
//! block is worth proposing (transactions waiting and the parent old
//! enough, or the empty-block interval), and while this node's executor
//! is too far behind (its transactions would be stale); then build the
//! payload from the pool, leaving out what blocks in flight already hold.

use std::time::Duration;

use hutong_consensus::messages::Event;
use hutong_consensus::types::{BlockId, Round};
use hutong_runtime::{Address, Preverified};
use hutong_wire::payload::{Payload, ResultClaim, BLOCK_BYTES_MAX};

use super::{Context, Host, HostError, HostStore};
use crate::runtime::{Clock, Instant};
use crate::util::{lock, FastMap, FastSet};

/// A leader's pending payload: waiting for transactions or the interval.
#[derive(Debug)]
pub(super) struct PendingProposal {
    round: Round,
    parent: BlockId,
    pub deadline: Instant,
    /// Before this, only a full block is proposed.
    earliest: Instant,
    /// Until this, the leader waits for its executor to catch up
    /// ([`super::HostConfig::execution_lead_blocks`]).
    execution_deadline: Instant,
    /// Set while the proposal waits for the executor.
    pub held: bool,
    /// Set while the proposal waits for its parent block, which this
    /// leader certified (the votes came to it) but never received.
    pub awaiting_parent: bool,
    /// When consensus asked for the payload.
    asked: Instant,
}

impl<C: Context> Host<C> {
    /// The core's `NeedPayload`: this node leads `round`, on `parent`.
    pub(super) fn need_payload(
        &mut self,
        round: Round,
        parent: BlockId,
    ) -> Result<Option<Event>, HostError> {
        let now = self.rt.now();
        let earliest = now + self.fill_wait(&parent);
        let work = self.has_work(&parent);
        self.pending_proposal = Some(PendingProposal {
            round,
            parent,
            deadline: if work {
                earliest
            } else {
                now + self.config.empty_block_interval
            },
            earliest,
            execution_deadline: now + self.config.execution_wait_max,
            held: false,
            awaiting_parent: false,
            asked: now,
        });
        if work && earliest <= now {
            return Ok(self.build_payload());
        }
        Ok(None)
    }

    /// Whether a leader should propose at once: transactions are waiting,
    /// or blocks with transactions still need descendants to commit.
    fn has_work(&self, parent: &BlockId) -> bool {
        if lock(&self.handles.pool).stats().txs > 0 {
            return true;
        }
        let mut cursor = *parent;
        for _ in 0..3 {
            match self.known.get(&cursor) {
                Some(k) if !k.payload.txs.is_empty() => return true,
                Some(k) => cursor = k.parent,
                None => break,
            }
        }
        false
    }

    /// How long a leader should still wait after its parent block before
    /// proposing a block that is not full.
    fn fill_wait(&self, parent: &BlockId) -> Duration {
        let parent_ms = match self.known.get(parent) {
            Some(k) => k.timestamp_ms,
            None => self.executed.timestamp_ms,
        };
        let since = self.rt.wall_ms().saturating_sub(parent_ms);
        let min = self.config.min_block_interval;
        // A parent stamped ahead of this clock waits at most `min`.
        min.saturating_sub(Duration::from_millis(since)).min(min)
    }

    /// Transactions arrived while this leader waits to propose: the block
    /// goes at the earliest moment allowed. (The pool's size says little
    /// about how full the block would be: much of it may be in flight.)
    pub fn on_pool_grew(&mut self) -> Result<(), HostError> {
        let now = self.rt.now();
        let Some(p) = self.pending_proposal.as_mut() else {
            return Ok(());
        };
        if p.earliest <= now {
            return self.propose_now();
        }
        p.deadline = p.deadline.min(p.earliest);
        Ok(())
    }

    /// A block arrived (a proposal, a fetch): if this leader waited for it
    /// as its parent, the proposal goes now.
    pub(super) fn parent_arrived(&mut self) -> Result<(), HostError> {
        let ready = self
            .pending_proposal
            .as_ref()
            .is_some_and(|p| p.awaiting_parent && self.known.contains_key(&p.parent));
        if ready {
            self.propose_now()?;
        }
        Ok(())
    }

    pub(super) fn propose_now(&mut self) -> Result<(), HostError> {
        if let Some(event) = self.build_payload() {
            self.apply(event)?;
        }
        Ok(())
    }

    /// Builds this leader's payload on its parent from the mempool.
    fn build_payload(&mut self) -> Option<Event> {
        let pending = self.pending_proposal.take()?;
        if pending.round != self.core.round() {
            return None;
        }
        let now = self.rt.now();
        // The parent's payload carries the result claim this block must not
        // go back from (followers refuse one that does), and transactions
        // now in flight. A leader that certified a parent it never received
        // waits for it (consensus fetches it), as long as it would wait for
        // its executor.
        let parent_known =
            self.known.contains_key(&pending.parent) || pending.parent == self.executed.block_id;
        if !parent_known && now < pending.execution_deadline {
            self.pending_proposal = Some(PendingProposal {
                deadline: pending.execution_deadline,
                awaiting_parent: true,
                ..pending
            });
            return None;
        }
        if !parent_known {
            // Still unknown. Claiming this node's own result is valid only
            // if it cannot be below the parent's claim, which is for a
            // height below the parent's; otherwise followers would refuse
            // the block, and this round times out as it would without it.
            let qc = &self.core.high_qc().data;
            let parent_height = (qc.block_id == pending.parent).then_some(qc.height.0);
            if parent_height.is_none_or(|h| self.executed.height.saturating_add(1) < h) {
                tracing::info!(
                    round = pending.round.0,
                    executed = self.executed.height,
                    "not proposing: the parent block never arrived, and this node's result may be below its claim"
                );
                return None;
            }
        }
        if self.execution_behind() && now < pending.execution_deadline {
            self.pending_proposal = Some(PendingProposal {
                deadline: pending.execution_deadline,
                held: true,
                awaiting_parent: false,
                ..pending
            });
            return None;
        }
        // Transactions in blocks between the executed state and the parent
        // are in flight: not again, and their senders' sequences move on.
        let executed = self.executed;
        let mut in_flight = FastSet::default();
        let mut next_seq: FastMap<Address, u64> = FastMap::default();
        let mut cursor = pending.parent;
        let mut parent_claim = None;
        let mut parent_ts = executed.timestamp_ms;
        let mut first = true;
        // Whether every block between the parent and the executed state is
        // known here. If one is not (a gap after a restart or a sync), its
        // transactions and sequences are unknown too, and taking from the
        // pool could propose transactions that block already holds: they
        // would execute twice (the second time failing on its sequence, and
        // their index would then point at the failed copy).
        let mut complete = true;
        loop {
            let Some(k) = self.known.get(&cursor) else {
                complete = cursor == executed.block_id;
                break;
            };
            if k.height <= executed.height {
                break;
            }
            if first {
                parent_claim = Some(k.payload.result);
                first = false;
            }
            for (tx, hash) in k.payload.txs.iter().zip(&k.tx_hashes) {
                in_flight.insert(*hash);
                let seq = next_seq.entry(tx.tx.sender_address()).or_insert(0);
                *seq = (*seq).max(tx.tx.sequence.0 + 1);
            }
            cursor = k.parent;
        }
        // The parent's timestamp: from memory when it is still known, else
        // from the store (decoding a stored block costs its whole body).
        if let Some(k) = self.known.get(&pending.parent) {
            parent_ts = parent_ts.max(k.timestamp_ms);
        } else if let Some(parent) = self.store.block(&pending.parent).ok().flatten() {
            parent_ts = parent_ts.max(parent.block.timestamp_ms);
        }
        let store = &self.store;
        let sequence = |a: &Address| {
            let committed = store.account_sequence(a);
            match (committed, next_seq.get(a)) {
                (Some(c), Some(n)) => Some(c.max(*n)),
                (c, None) => c,
                (None, Some(n)) => Some(*n),
            }
        };
        let txs = if complete {
            lock(&self.handles.pool).take(
                self.config.block_txs_max,
                BLOCK_BYTES_MAX,
                &in_flight,
                sequence,
            )
        } else {
            tracing::info!(
                round = pending.round.0,
                "proposing an empty block: the blocks between the executed state and the parent are not all known here"
            );
            Vec::new()
        };
        let mine = ResultClaim {
            height: executed.height,
            state_root: executed.state_root,
            receipts_root: executed.receipts_root,
        };
        let result = match parent_claim {
            Some(p) if p.height > mine.height => p,
            _ => mine,
        };
        let pre = Preverified {
            hashes: txs.iter().map(|t| t.hash()).collect(),
            senders: txs.iter().map(|t| t.tx.sender_address()).collect(),
            valid: vec![true; txs.len()],
        };
        tracing::debug!(
            round = pending.round.0,
            txs = txs.len(),
            waited_ms = now.saturating_duration_since(pending.asked).as_millis() as u64,
            held = pending.held,
            backlog = self.backlog.blocks.len(),
            "proposing"
        );
        let payload = Payload { result, txs };
        let digest = payload.digest();
        if self.preverified.len() < super::payloads::PAYLOADS_MAX {
            self.preverified.insert(digest, std::sync::Arc::new(pre));
        }
        self.payloads.insert(digest, std::sync::Arc::new(payload));
        Some(Event::PayloadReady {
            round: pending.round,
            payload: digest,
            timestamp_ms: self.rt.wall_ms().max(parent_ts),
        })
    }
}

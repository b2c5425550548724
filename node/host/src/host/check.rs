//! Checking the payload of another validator's proposal before voting
//! for it: bounds, chain id, duplicates and signatures (those the pool
//! does not vouch for, on another thread, in parallel), the timestamp,
//! and the execution result it claims, which must equal this node's own.
//! A claim about a height this node has not executed yet waits for it.

use std::collections::HashSet;
use std::sync::Arc;

use hutong_consensus::messages::Event;
use hutong_consensus::types::Block;
use hutong_runtime::Preverified;
use hutong_wire::payload::{Payload, PayloadError};

use super::{Completion, Context, Host, HostError, HostStore};
use crate::runtime::{Clock, Spawner};
use crate::sigverify::{available_threads, verify_parallel_metered};
use crate::status::{Counters, CpuStage};
use crate::util::lock;

/// Most payload checks waiting for this node's execution to reach the
/// height they claim; past it the oldest is forgotten (the core asks
/// again on a later proposal).
const WAITING_CHECKS_MAX: usize = 64;

/// A payload check waiting for this node to execute the height it claims.
#[derive(Debug)]
pub(super) struct WaitingCheck {
    block: Block,
    pre: Arc<Preverified>,
}

impl<C: Context> Host<C> {
    /// The core's `CheckPayload`: the cheap checks at once, the signatures
    /// on another thread (the verdict comes back as
    /// [`Completion::Checked`]). A payload that fails at once gives its
    /// verdict back as an event.
    pub(super) fn check_payload(&mut self, block: Block) -> Option<Event> {
        let Some(payload) = self.payloads.get(&block.payload).cloned() else {
            let e = PayloadError::Missing {
                digest: block.payload,
            };
            return Some(self.refuse(&block, &e));
        };
        if let Err(e) = self.check_stateless(&block, &payload) {
            return Some(self.refuse(&block, &e));
        }
        // Transactions the mempool holds were verified on admission.
        let known: Vec<bool> = {
            let pool = lock(&self.handles.pool);
            payload
                .txs
                .iter()
                .map(|t| pool.contains(&t.hash()))
                .collect()
        };
        let unpooled = known.iter().filter(|k| !**k).count() as u64;
        Counters::add(&self.handles.counters.sigchecks_proposal, unpooled);
        let inbox = self.inbox.clone();
        let counters = self.handles.counters.clone();
        self.rt.spawn_blocking(Box::new(move || {
            let verdict = check_signatures(&payload, &known, &counters);
            inbox(Completion::Checked { block, verdict });
        }));
        None
    }

    fn refuse(&self, block: &Block, e: &PayloadError) -> Event {
        tracing::warn!(
            round = block.round.0,
            proposer = block.proposer.0,
            "payload rejected: {e}"
        );
        Event::PayloadChecked {
            block_id: block.id(),
            valid: false,
        }
    }

    pub(super) fn check_stateless(
        &self,
        block: &Block,
        payload: &Payload,
    ) -> Result<(), PayloadError> {
        payload.check_bounds()?;
        let chain_id = self.handles.chain_id;
        for (index, tx) in payload.txs.iter().enumerate() {
            if tx.tx.chain_id != chain_id {
                return Err(PayloadError::WrongChain {
                    index,
                    got: tx.tx.chain_id.to_string(),
                });
            }
        }
        let parent = block.height.0.saturating_sub(1);
        if payload.result.height > parent {
            return Err(PayloadError::ResultAhead {
                claimed: payload.result.height,
                parent,
            });
        }
        let parent_ts = match self.known.get(&block.parent_id()) {
            Some(k) => Some(k.timestamp_ms),
            None => {
                (self.executed.block_id == block.parent_id()).then_some(self.executed.timestamp_ms)
            }
        };
        if let Some(parent_ts) = parent_ts {
            if block.timestamp_ms < parent_ts {
                return Err(PayloadError::TimestampBehind {
                    timestamp_ms: block.timestamp_ms,
                    parent_ms: parent_ts,
                });
            }
        }
        if let Some(k) = self.known.get(&block.parent_id()) {
            if payload.result.height < k.payload.result.height {
                return Err(PayloadError::ResultBehind {
                    claimed: payload.result.height,
                    parent: k.payload.result.height,
                });
            }
        }
        Ok(())
    }

    /// The part of a payload check that needs this node's own execution
    /// result: `None` while that height is not executed yet.
    fn check_result(&self, block: &Block) -> Option<Result<(), PayloadError>> {
        let payload = self.payloads.get(&block.payload)?;
        let claim = payload.result;
        if claim.height > self.executed.height {
            return None;
        }
        let ours = if claim.height == self.executed.height {
            Ok(Some(self.executed))
        } else {
            self.store.result_at(claim.height)
        };
        let verdict = match ours {
            Ok(Some(ours))
                if ours.state_root == claim.state_root
                    && ours.receipts_root == claim.receipts_root =>
            {
                Ok(())
            }
            Ok(Some(ours)) => Err(PayloadError::ResultMismatch {
                height: claim.height,
                claimed: claim.state_root,
                ours: ours.state_root,
            }),
            Ok(None) if self.store.joined_at().is_some_and(|j| claim.height < j) => Ok(()),
            _ => Err(PayloadError::ResultAhead {
                claimed: claim.height,
                parent: self.executed.height,
            }),
        };
        Some(verdict)
    }

    /// The signatures were checked: the timestamp and the result claim
    /// next, then the verdict.
    pub(super) fn on_checked(
        &mut self,
        block: Block,
        verdict: Result<Arc<Preverified>, PayloadError>,
    ) -> Result<(), HostError> {
        let pre = match verdict {
            Ok(pre) => pre,
            Err(e) => return self.verdict(&block, Err(e)),
        };
        let now = self.rt.wall_ms();
        let drift = self.config.clock_drift_max.as_millis() as u64;
        if block.timestamp_ms > now.saturating_add(drift) {
            tracing::warn!(
                block_ts = block.timestamp_ms,
                now,
                "proposal timestamp is too far in the future"
            );
            let e = PayloadError::TimestampAhead {
                timestamp_ms: block.timestamp_ms,
                now_ms: now,
            };
            return self.verdict(&block, Err(e));
        }
        match self.check_result(&block) {
            Some(result) => {
                if result.is_ok() {
                    self.preverified.insert(block.payload, pre);
                }
                self.verdict(&block, result)
            }
            None => {
                if self.waiting.len() >= WAITING_CHECKS_MAX {
                    self.waiting.remove(0);
                }
                self.waiting.push(WaitingCheck { block, pre });
                Ok(())
            }
        }
    }

    /// Finishes the checks that waited for the height just executed.
    pub(super) fn recheck_waiting(&mut self) -> Result<(), HostError> {
        let waiting = std::mem::take(&mut self.waiting);
        for w in waiting {
            match self.check_result(&w.block) {
                Some(result) => {
                    if result.is_ok() {
                        self.preverified.insert(w.block.payload, w.pre.clone());
                    }
                    self.verdict(&w.block, result)?;
                }
                None => self.waiting.push(w),
            }
        }
        Ok(())
    }

    fn verdict(
        &mut self,
        block: &Block,
        result: Result<(), PayloadError>,
    ) -> Result<(), HostError> {
        if let Err(e) = &result {
            tracing::warn!(
                round = block.round.0,
                proposer = block.proposer.0,
                "payload rejected: {e}"
            );
        }
        self.apply(Event::PayloadChecked {
            block_id: block.id(),
            valid: result.is_ok(),
        })
    }
}

/// Checks the signatures of the transactions `known` does not vouch for,
/// and that no transaction appears twice; returns every transaction's
/// hash, sender and verdict, in order.
fn check_signatures(
    payload: &Payload,
    known: &[bool],
    counters: &Counters,
) -> Result<Arc<Preverified>, PayloadError> {
    let unknown: Vec<_> = payload
        .txs
        .iter()
        .zip(known)
        .filter(|(_, k)| !**k)
        .map(|(t, _)| t.clone())
        .collect();
    let checked = verify_parallel_metered(&unknown, available_threads(), &|work| {
        counters.metered(CpuStage::SignatureChecks, work)
    });
    let mut pre = Preverified {
        hashes: Vec::with_capacity(payload.txs.len()),
        senders: Vec::with_capacity(payload.txs.len()),
        valid: Vec::with_capacity(payload.txs.len()),
    };
    let mut j = 0;
    let mut verdict = Ok(());
    for (index, (tx, k)) in payload.txs.iter().zip(known).enumerate() {
        if *k {
            pre.hashes.push(tx.hash());
            pre.senders.push(tx.tx.sender_address());
            pre.valid.push(true);
        } else {
            pre.hashes.push(checked.hashes[j]);
            pre.senders.push(checked.senders[j]);
            pre.valid.push(checked.valid[j]);
            if !checked.valid[j] && verdict.is_ok() {
                verdict = Err(PayloadError::BadSignature { index });
            }
            j += 1;
        }
    }
    let mut seen = HashSet::with_capacity(pre.hashes.len());
    for (index, h) in pre.hashes.iter().enumerate() {
        if !seen.insert(*h) && verdict.is_ok() {
            verdict = Err(PayloadError::Duplicate { index });
        }
    }
    verdict.map(|_| Arc::new(pre))
}

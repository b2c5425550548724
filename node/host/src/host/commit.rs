//! Committed blocks on their way to the executor, and how far execution
//! may fall behind consensus.
//!
//! The host never waits for the executor: it must go on reading the
//! network, or peers' messages would pile up in front of it. Committed
//! blocks queue here ([`Backlog`]); past its bound the host lets proposals
//! pass and, once execution is back under half of it, catches up by bulk
//! sync from peers' stores, which is paced by its own execution.

use std::collections::{HashSet, VecDeque};

use hutong_consensus::types::{Block, Digest, QuorumCert};

use super::payloads::take_committed;
use super::{Context, ExecJob, Executor, Host, HostError, HostStore, Refused};
use crate::util::lock;

/// How far execution may fall behind consensus before this node stops
/// taking new proposals: committed blocks not yet executed, and their
/// transactions. Their bodies are held in memory until executed, so this
/// bounds a lagging node's memory (a regulator during a burst, a validator
/// slower than the others).
pub(super) const BACKLOG_BLOCKS_MAX: usize = 256;
pub(super) const BACKLOG_TXS_MAX: usize = 100_000;

/// Committed blocks this node has not executed yet, oldest first.
#[derive(Debug, Default)]
pub(super) struct Backlog {
    /// Height and transaction count of each committed, unexecuted block.
    pub blocks: VecDeque<(u64, usize)>,
    pub txs: usize,
    /// Jobs the executor's queue had no room for yet, oldest first.
    pub unsent: VecDeque<ExecJob>,
    /// Set when the backlog reached its bound; cleared below half of it.
    pub deferring: bool,
}

impl Backlog {
    pub fn push(&mut self, height: u64, txs: usize) {
        self.blocks.push_back((height, txs));
        self.txs += txs;
        if self.blocks.len() >= BACKLOG_BLOCKS_MAX || self.txs >= BACKLOG_TXS_MAX {
            self.deferring = true;
        }
    }

    /// Forgets blocks above `height`: an epoch ended there, and the
    /// blocks its validators committed after it are not executed.
    pub fn forget_above(&mut self, height: u64) {
        while let Some(&(h, txs)) = self.blocks.back() {
            if h <= height {
                break;
            }
            self.blocks.pop_back();
            self.txs -= txs;
        }
        if self.blocks.len() <= BACKLOG_BLOCKS_MAX / 2 && self.txs <= BACKLOG_TXS_MAX / 2 {
            self.deferring = false;
        }
    }

    /// Forgets blocks at or below `executed`.
    pub fn executed(&mut self, executed: u64) {
        while let Some(&(height, txs)) = self.blocks.front() {
            if height > executed {
                break;
            }
            self.blocks.pop_front();
            self.txs -= txs;
        }
        if self.blocks.len() <= BACKLOG_BLOCKS_MAX / 2 && self.txs <= BACKLOG_TXS_MAX / 2 {
            self.deferring = false;
        }
    }
}

impl<C: Context> Host<C> {
    /// Commit (the core's `Commit` action): the blocks, oldest first, and
    /// the certificate that commits the last, go to the executor.
    pub(super) fn commit(
        &mut self,
        blocks: Vec<Block>,
        proof: QuorumCert,
    ) -> Result<(), HostError> {
        let last = blocks.len().saturating_sub(1);
        let keep: HashSet<Digest> = self.known.values().map(|k| k.digest).collect();
        let taken = take_committed(&mut self.payloads, &blocks, &keep);
        for (i, (block, payload)) in blocks.into_iter().zip(taken).enumerate() {
            let id = block.id();
            let payload = match payload {
                Some(p) => p,
                None => match self.store.block(&id) {
                    Ok(Some(stored)) => std::sync::Arc::new(stored.payload),
                    // Consensus accepted the block, so its payload was
                    // here; losing it is a bug, not a peer's fault.
                    _ => return Err(HostError::PayloadLost(id)),
                },
            };
            self.backlog.push(block.height.0, payload.txs.len());
            let job = ExecJob {
                preverified: self.preverified.remove(&block.payload),
                block,
                payload,
                proof: (i == last).then(|| proof.clone()),
            };
            self.backlog.unsent.push_back(job);
        }
        self.feed_executor()
    }

    /// Hands queued blocks to the executor while it takes them.
    pub(super) fn feed_executor(&mut self) -> Result<(), HostError> {
        while let Some(job) = self.backlog.unsent.pop_front() {
            match self.exec.try_execute(job) {
                Ok(()) => {}
                Err(Refused::Full(job)) => {
                    self.backlog.unsent.push_front(job);
                    break;
                }
                Err(Refused::Stopped) => return Err(HostError::ExecutorStopped),
            }
        }
        let mut s = lock(&self.handles.status);
        s.backlog_blocks = self.backlog.blocks.len() as u64;
        s.backlog_txs = self.backlog.txs as u64;
        Ok(())
    }

    /// Whether this node's executor is further behind consensus than a
    /// leader lets it be before proposing.
    pub(super) fn execution_behind(&self) -> bool {
        self.backlog.blocks.len() > self.config.execution_lead_blocks
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backlog_defers_at_its_bound_and_resumes_below_half() {
        let mut backlog = Backlog::default();
        for height in 1..BACKLOG_BLOCKS_MAX as u64 {
            backlog.push(height, 1);
            assert!(!backlog.deferring, "deferring at {height} blocks");
        }
        backlog.push(BACKLOG_BLOCKS_MAX as u64, 1);
        assert!(backlog.deferring);
        // Executing a few blocks is not enough: it resumes below half.
        backlog.executed(10);
        assert!(backlog.deferring);
        assert_eq!(backlog.blocks.len(), BACKLOG_BLOCKS_MAX - 10);
        let half = (BACKLOG_BLOCKS_MAX / 2) as u64;
        backlog.executed(half);
        assert!(!backlog.deferring);
        assert_eq!(backlog.blocks.len(), BACKLOG_BLOCKS_MAX / 2);
        assert_eq!(backlog.txs, BACKLOG_BLOCKS_MAX / 2);
    }

    #[test]
    fn the_backlog_counts_transactions_too() {
        let mut backlog = Backlog::default();
        backlog.push(1, BACKLOG_TXS_MAX / 2);
        assert!(!backlog.deferring);
        backlog.push(2, BACKLOG_TXS_MAX / 2);
        assert!(backlog.deferring);
        backlog.executed(1);
        assert!(!backlog.deferring);
        assert_eq!(backlog.txs, BACKLOG_TXS_MAX / 2);
        // Heights already executed (a restart replays) are forgotten at once.
        backlog.executed(5);
        assert_eq!((backlog.blocks.len(), backlog.txs), (0, 0));
    }
}

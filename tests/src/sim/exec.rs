//! Executing committed blocks in the simulation: the runtime over each
//! node's copy of the ledger, the check that every node executes the same
//! blocks to the same roots, and epoch changes.

use super::*;

impl Sim {
    pub(super) fn schedule_execution(&mut self, node: usize) {
        let n = &self.nodes[node];
        if !n.up || n.executing || lock(&n.exec).is_empty() {
            return;
        }
        let txs = lock(&n.exec)
            .front()
            .map(|j| j.payload.txs.len())
            .unwrap_or(0);
        let incarnation = n.incarnation;
        self.nodes[node].executing = true;
        // A block costs a couple of milliseconds plus its transactions.
        let at = self.now() + 2 + txs as u64 / 20;
        self.schedule(at, Delivery::Execute { node, incarnation });
    }

    /// Executes the next committed block of `node`, as the node's
    /// executor does, and checks it against every other node's.
    pub(super) fn execute(&mut self, node: usize) -> Result<(), String> {
        self.nodes[node].executing = false;
        let Some(job) = lock(&self.nodes[node].exec).pop_front() else {
            return Ok(());
        };
        let height = job.block.height.0;
        let epoch_end = self.faults.reconfigure_at;
        let record = {
            let mut disk = lock(&self.nodes[node].disk);
            let executed = disk.executed();
            if height <= executed.height {
                None
            } else if job.block.epoch == Epoch(1) && epoch_end.is_some_and(|end| height > end) {
                // Past the epoch's last block: every honest host ignores it.
                None
            } else {
                if height != executed.height + 1 {
                    return Err(self.violation(format!(
                        "node {node} was handed height {height} after executing {}",
                        executed.height
                    )));
                }
                let claim = job.payload.result;
                let ours = disk.results.get(claim.height as usize).copied();
                if ours.is_none_or(|o| {
                    o.state_root != claim.state_root || o.receipts_root != claim.receipts_root
                }) {
                    return Err(self.violation(format!(
                        "SAFETY VIOLATION (divergence): node {node}: block {height} certifies a result for height {} that this node did not reach",
                        claim.height
                    )));
                }
                let pre = match &job.preverified {
                    Some(pre) if pre.hashes.len() == job.payload.txs.len() => (**pre).clone(),
                    _ => hutong_runtime::Preverified::compute(&job.payload.txs),
                };
                let outcome = ledger::execute(
                    &mut disk.state,
                    self.world.genesis.chain_id,
                    height,
                    job.block.timestamp_ms,
                    &job.payload.txs,
                    &pre,
                );
                let id = job.block.id();
                let record = Executed {
                    height,
                    block_id: id,
                    round: job.block.round.0,
                    timestamp_ms: job.block.timestamp_ms,
                    state_root: outcome.state_root,
                    receipts_root: outcome.receipts_root,
                };
                disk.results.push(record);
                disk.heights.push(id);
                if let Some(proof) = job.proof.clone() {
                    disk.certs.insert(height, proof);
                }
                // Blocks that lost at the executed heights go, as the
                // node's commit prunes them.
                let executed_ids: std::collections::BTreeSet<BlockId> =
                    disk.heights.iter().copied().collect();
                disk.blocks
                    .retain(|bid, b| b.block.height.0 > height || executed_ids.contains(bid));
                Some((record, pre.hashes, pre.senders))
            }
        };
        if let Some((record, hashes, senders)) = record {
            let senders: hutong_host::util::FastSet<_> = senders.into_iter().collect();
            {
                let disk = lock(&self.nodes[node].disk);
                let state = &disk.state;
                lock(&self.nodes[node].admission.pool).on_commit(
                    &hashes,
                    &senders,
                    |a| ledger::sequence(state, a),
                    hutong_host::mempool::Tip {
                        height: record.height,
                        timestamp_ms: record.timestamp_ms,
                    },
                );
            }
            if self.honest(node) {
                self.check_canonical(node, record)?;
            }
            let r = self.nodes[node].host.on_executed(record);
            self.host_result(node, r)?;
            if epoch_end == Some(record.height) && job.block.epoch == Epoch(1) {
                self.switch_epoch(node, record.block_id, record.height)?;
            }
        }
        self.flush(node)
    }

    /// One block and one state root per height across honest nodes.
    pub(super) fn check_canonical(&mut self, node: usize, record: Executed) -> Result<(), String> {
        let h = record.height as usize;
        match self.canonical.get(h - 1) {
            Some((id, _)) if *id != record.block_id => Err(self.violation(format!(
                "SAFETY VIOLATION at height {h}: node {node} executed {:?}, another executed {id:?}",
                record.block_id
            ))),
            Some((_, root)) if *root != record.state_root => Err(self.violation(format!(
                "SAFETY VIOLATION (divergence) at height {h}: node {node} computed state root {}, another {root}",
                record.state_root
            ))),
            Some(_) => Ok(()),
            None => {
                if h != self.canonical.len() + 1 {
                    return Err(self.violation(format!(
                        "node {node} executed height {h} before the canonical chain reached {}",
                        h - 1
                    )));
                }
                self.canonical.push((record.block_id, record.state_root));
                self.trace.update(record.block_id.0);
                self.trace.update(self.now().to_le_bytes());
                let disk = lock(&self.nodes[node].disk);
                let state = &disk.state;
                self.transfers = (0..self.wallets.len())
                    .map(|w| ledger::sequence(state, &self.wallets.address(w)).unwrap_or(0))
                    .sum();
                Ok(())
            }
        }
    }

    /// Moves `node` into epoch 2, which starts from the block at `height`
    /// and drops the last validator.
    pub(super) fn switch_epoch(
        &mut self,
        node: usize,
        genesis: BlockId,
        height: u64,
    ) -> Result<(), String> {
        let next = {
            let mut disk = lock(&self.nodes[node].disk);
            let n = disk.validators.len();
            let keys: Vec<[u8; 32]> = (0..n - 1)
                .map(|i| {
                    *disk
                        .validators
                        .key(ValidatorId(i as u16))
                        .expect("a member")
                })
                .collect();
            let mut next = ValidatorSet::next_epoch(Epoch(2), keys, genesis, Height(height))
                .expect("a valid set");
            if self.faults.weak_quorum {
                next.weaken_quorum_for_simulation();
            }
            // The host persists the epoch change as one write, with the
            // ledger as it stands for nodes that missed the change.
            disk.validators = next.clone();
            disk.epoch_genesis = Some((genesis, height));
            disk.blocks.retain(|_, b| b.block.height.0 <= height);
            disk.at_epoch_change = Some(Box::new((
                disk.state.clone(),
                disk.heights.clone(),
                disk.results.clone(),
            )));
            next
        };
        let v = self.nodes[node].validator;
        let me = (v < next.len()).then_some(ValidatorId(v as u16));
        let peers = (0..next.len()).collect();
        let r = self.nodes[node].host.on_new_epoch(next, me, peers);
        self.host_result(node, r)
    }

    /// A node that missed the epoch change (it hears from epoch 2 while
    /// still in epoch 1, below the epoch's last block) takes the ledger as
    /// it was at the change from a peer and restarts in epoch 2: the
    /// simulator's stand-in for joining by snapshot.
    pub(super) fn catch_up_epoch(&mut self, node: usize) -> Result<(), String> {
        let Some(end) = self.faults.reconfigure_at else {
            return Ok(());
        };
        let core = self.nodes[node].host.core();
        if core.epoch() != Epoch(1) || core.epoch_ahead() <= Epoch(1) {
            return Ok(());
        }
        let source = (0..self.nodes.len()).find(|p| {
            *p != node && self.honest(*p) && lock(&self.nodes[*p].disk).at_epoch_change.is_some()
        });
        let Some(source) = source else {
            return Ok(());
        };
        let (snapshot, validators, genesis) = {
            let d = lock(&self.nodes[source].disk);
            (
                d.at_epoch_change.clone(),
                d.validators.clone(),
                d.epoch_genesis,
            )
        };
        let Some(snapshot) = snapshot else {
            return Ok(());
        };
        {
            let mut disk = lock(&self.nodes[node].disk);
            if disk.executed().height > end {
                return Ok(());
            }
            let (state, heights, results) = (*snapshot).clone();
            disk.state = state;
            disk.heights = heights;
            disk.results = results;
            disk.validators = validators;
            disk.epoch_genesis = genesis;
            disk.safety = hutong_consensus::safety::SafetyData::new(Epoch(2));
            disk.blocks.clear();
            disk.at_epoch_change = Some(snapshot);
        }
        self.reboot(node);
        self.flush(node)
    }
}

//! Executing committed blocks in the simulation: the runtime over each
//! node's copy of the ledger, the check that every node executes the same
//! blocks to the same roots, and epoch changes.

use hutong_host::host::ExecJob;
use hutong_wire::{EpochEnd, StoredBlock};

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
                // Past the epoch's last block: every honest node leaves it
                // unexecuted, and keeps it for peers that sync across the
                // boundary until the certificate that commits it comes.
                drop(disk);
                self.keep_tail(node, &job);
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
                    claim.height,
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
                let end = EpochEnd {
                    epoch: Epoch(1),
                    height: record.height,
                    tail: Vec::new(),
                    proof: job
                        .proof
                        .clone()
                        .unwrap_or_else(|| job.block.justify.clone()),
                };
                if job.proof.is_some() {
                    lock(&self.nodes[node].disk).epoch_end = Some(end);
                } else {
                    self.nodes[node].tail = Some(end);
                }
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

    /// Epoch 1's blocks after its last one, gathered until the
    /// certificate that commits them comes (as the node's executor does).
    fn keep_tail(&mut self, node: usize, job: &ExecJob) {
        let Some(end) = self.nodes[node].tail.as_mut() else {
            return;
        };
        if job.block.height.0 != end.height + end.tail.len() as u64 + 1 {
            return;
        }
        end.tail.push(StoredBlock {
            block: job.block.clone(),
            payload: (*job.payload).clone(),
        });
        if let Some(proof) = &job.proof {
            if let Some(mut end) = self.nodes[node].tail.take() {
                end.proof = proof.clone();
                lock(&self.nodes[node].disk).epoch_end = Some(end);
            }
        }
    }

    /// Epoch 2's validators, as network addresses in validator order.
    fn next_members(&self) -> Vec<usize> {
        let n = self.n;
        match self.faults.change {
            EpochChange::RemoveLast => (0..n - 1).collect(),
            EpochChange::AddNode => (0..=n).collect(),
            EpochChange::RotateKey(k) => (0..n).map(|v| if v == k % n { n } else { v }).collect(),
        }
    }

    /// Moves `node` into epoch 2, which starts from the block at `height`
    /// with the validators [`Sim::next_members`] names.
    pub(super) fn switch_epoch(
        &mut self,
        node: usize,
        genesis: BlockId,
        height: u64,
    ) -> Result<(), String> {
        let members = self.next_members();
        let keys: Vec<[u8; 32]> = members.iter().map(|a| self.signers[*a].public()).collect();
        let mut next =
            ValidatorSet::next_epoch(Epoch(2), keys, genesis, Height(height)).expect("a valid set");
        if self.faults.weak_quorum {
            next.weaken_quorum_for_simulation();
        }
        {
            // The node persists the epoch change with the block that
            // made it.
            let mut disk = lock(&self.nodes[node].disk);
            disk.validators = next.clone();
            disk.members = members.clone();
            disk.epoch_genesis = Some((genesis, height));
            disk.blocks.retain(|_, b| b.block.height.0 <= height);
        }
        let v = self.nodes[node].validator;
        let me = members
            .iter()
            .position(|a| *a == v)
            .map(|i| ValidatorId(i as u16));
        if self.faults.crash_at_switch && !self.switch_crashed {
            // A crash in the middle of the change: another node goes
            // down as this one switches, and comes back later.
            self.switch_crashed = true;
            let others: Vec<usize> = (0..self.nodes.len()).filter(|i| *i != node).collect();
            let victim = others[self.rng.gen_range(0..others.len())];
            let now = self.now();
            let pause = self.rng.gen_range(100..2_000);
            self.schedule(now, Delivery::Crash { node: victim });
            self.schedule(now + pause, Delivery::Restart { node: victim });
            self.faults_end_ms = self.faults_end_ms.max(now + pause);
        }
        let r = self.nodes[node].host.on_new_epoch(next, me, members);
        self.host_result(node, r)
    }
}

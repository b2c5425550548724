//! Driving a cluster step by step instead of by the seeded schedule: the
//! fuzz target `consensus_core` chooses every delivery, timer, crash and
//! restart, hands nodes answers they may not have asked for, and speaks
//! for a Byzantine validator that runs no node. The invariants are the
//! simulator's own, checked after every step.

use std::collections::BTreeMap;

use hutong_consensus::messages::Message;
use hutong_consensus::types::{Block, BlockId, QuorumCert, TimeoutCert};
use hutong_host::host::Completion;
use hutong_host::util::lock;
use hutong_wire::p2p::{ConsensusEnvelope, SyncResponse};
use hutong_wire::payload::Payload;
use hutong_wire::StoredBlock;

use super::{Delivery, Faults, Sim, SimSigner};

/// What a script can see of the cluster, to build a Byzantine
/// validator's messages on: blocks with their payloads, and the
/// certificates in circulation. In a deterministic order.
#[derive(Debug, Default, Clone)]
pub struct Observed {
    pub blocks: Vec<StoredBlock>,
    pub qcs: Vec<QuorumCert>,
    pub tcs: Vec<TimeoutCert>,
}

impl Sim {
    /// A cluster of `n` validators in which validator `byzantine` runs no
    /// node: the script speaks for it ([`Sim::inject`]). No fault and no
    /// load is scheduled; nothing happens but what the script does.
    pub fn scripted(n: usize, seed: u64, byzantine: usize) -> Result<Sim, String> {
        let faults = Faults {
            tx_interval_ms: 0,
            ..Faults::none()
        };
        let mut sim = Sim::new(n, seed, faults);
        sim.byzantine = Some(byzantine);
        sim.nodes[byzantine].up = false;
        sim.refresh_reachability();
        for i in 0..sim.nodes.len() {
            if sim.nodes[i].up {
                let r = sim.nodes[i].host.start();
                sim.host_result(i, r)?;
                sim.flush(i)?;
            }
        }
        Ok(sim)
    }

    /// Deliveries waiting: messages, answers, signature checks, block
    /// executions, timers.
    pub fn queued(&self) -> usize {
        self.pending.len()
    }

    fn take_queued(&mut self, pick: usize) -> Option<Delivery> {
        if self.pending.is_empty() {
            return None;
        }
        let key = *self.pending.keys().nth(pick % self.pending.len())?;
        self.pending.remove(&key)
    }

    /// Carries out the `pick`-th waiting delivery (modulo how many wait),
    /// whatever its scheduled time: the script decides the order.
    pub fn deliver(&mut self, pick: usize) -> Result<(), String> {
        let f = (self.n - 1) / 3;
        match self.take_queued(pick) {
            Some(d) => {
                self.tick();
                self.step(d, f)
            }
            None => Ok(()),
        }
    }

    /// Loses the `pick`-th waiting delivery, if it is a message.
    pub fn drop_queued(&mut self, pick: usize) {
        if let Some(d) = self.take_queued(pick) {
            match d {
                Delivery::Message { .. } | Delivery::Gossip { .. } => {}
                // Work, timers, executions and answers are not the
                // network's to lose: put them back.
                other => {
                    let at = self.now();
                    self.schedule(at, other);
                }
            }
        }
    }

    /// Delivers the `pick`-th waiting message twice (once now, once
    /// later).
    pub fn duplicate(&mut self, pick: usize) -> Result<(), String> {
        let copy = match self.pending.keys().nth(pick % self.pending.len().max(1)) {
            Some(key) => match self.pending.get(key) {
                Some(Delivery::Message { to, from, envelope }) => Some(Delivery::Message {
                    to: *to,
                    from: *from,
                    envelope: envelope.clone(),
                }),
                Some(Delivery::Gossip { to, from, gossip }) => Some(Delivery::Gossip {
                    to: *to,
                    from: *from,
                    gossip: gossip.clone(),
                }),
                _ => None,
            },
            None => None,
        };
        if let Some(copy) = copy {
            let at = self.now();
            self.schedule(at, copy);
        }
        self.deliver(pick)
    }

    /// Simulated time moves on by a millisecond per step, so that timers
    /// and deadlines come due as the script goes.
    fn tick(&mut self) {
        let now = self.now() + 1;
        self.now_ms.store(now, std::sync::atomic::Ordering::SeqCst);
    }

    /// Fires what `node` is waiting for (its round timer, a proposal's
    /// deadline, the attestation protocol's), moving time forward to it.
    pub fn wake(&mut self, node: usize) -> Result<(), String> {
        let node = node % self.nodes.len();
        let n = &self.nodes[node];
        if !n.up {
            return Ok(());
        }
        if let Some(at) = n.next_wake(n.attest_due) {
            if at > self.now() {
                self.now_ms.store(at, std::sync::atomic::Ordering::SeqCst);
            }
        }
        let incarnation = self.nodes[node].incarnation;
        self.step(Delivery::Wake { node, incarnation }, 0)
    }

    /// Crashes `node` (an honest one), whatever f allows: the script may
    /// take the cluster below its quorum; safety must hold anyway.
    pub fn crash(&mut self, node: usize) {
        let node = node % self.nodes.len();
        if self.honest(node) && self.nodes[node].up {
            self.nodes[node].up = false;
            lock(&self.nodes[node].outbox).clear();
            self.refresh_reachability();
        }
    }

    /// Restarts `node` from its disk.
    pub fn restart(&mut self, node: usize) -> Result<(), String> {
        let node = node % self.nodes.len();
        if self.honest(node) && !self.nodes[node].up {
            self.step(Delivery::Restart { node }, 0)?;
        }
        Ok(())
    }

    /// One wallet submits a transfer (or its last one again).
    pub fn submit_once(&mut self) -> Result<(), String> {
        self.submit_transfer()
    }

    /// A consensus message from the Byzantine validator, delivered to
    /// `to` now.
    pub fn inject(&mut self, to: usize, envelope: ConsensusEnvelope) -> Result<(), String> {
        let to = to % self.nodes.len();
        let Some(from) = self.byzantine else {
            return Ok(());
        };
        self.tick();
        self.step(Delivery::Message { to, from, envelope }, 0)
    }

    /// An answer `to` may never have asked for: one block, or committed
    /// blocks in bulk.
    pub fn answer(&mut self, to: usize, response: SyncResponse, bulk: bool) -> Result<(), String> {
        let to = to % self.nodes.len();
        if !self.nodes[to].up {
            return Ok(());
        }
        self.tick();
        let completion = if bulk {
            Completion::Synced(Some(response))
        } else {
            Completion::Fetched(Some(response))
        };
        let r = self.nodes[to].host.on_completion(completion);
        self.host_result(to, r)?;
        self.flush(to)
    }

    /// The block the first node's current epoch started from: what a
    /// timeout of that epoch signs with its data.
    pub fn epoch_genesis(&self) -> BlockId {
        self.nodes[0].host.core().validators().genesis()
    }

    /// The Byzantine validator's signer (the script's key).
    pub fn signer(&self, v: usize) -> SimSigner {
        self.signers[v % self.signers.len()].clone()
    }

    /// The blocks and certificates the nodes hold and the messages in
    /// flight carry.
    pub fn observed(&self) -> Observed {
        let mut blocks: BTreeMap<BlockId, StoredBlock> = BTreeMap::new();
        let mut qcs: BTreeMap<BlockId, QuorumCert> = BTreeMap::new();
        let mut tcs: BTreeMap<(u64, u64), TimeoutCert> = BTreeMap::new();
        let learn_block = |b: &Block,
                           qcs: &mut BTreeMap<BlockId, QuorumCert>,
                           tcs: &mut BTreeMap<(u64, u64), TimeoutCert>| {
            qcs.entry(b.justify.data.block_id)
                .or_insert_with(|| b.justify.clone());
            if let Some(tc) = &b.timeout_cert {
                tcs.entry((tc.epoch.0, tc.round.0))
                    .or_insert_with(|| tc.clone());
            }
        };
        for node in &self.nodes {
            let disk = lock(&node.disk);
            for (id, stored) in &disk.blocks {
                learn_block(&stored.block, &mut qcs, &mut tcs);
                blocks.entry(*id).or_insert_with(|| stored.clone());
            }
            for qc in disk.certs.values() {
                qcs.entry(qc.data.block_id).or_insert_with(|| qc.clone());
            }
        }
        for d in self.pending.values() {
            if let Delivery::Message { envelope, .. } = d {
                match &envelope.message {
                    Message::Proposal(p) => {
                        learn_block(&p.block, &mut qcs, &mut tcs);
                        if let Some(payload) = &envelope.payload {
                            blocks.entry(p.block.id()).or_insert_with(|| StoredBlock {
                                block: p.block.clone(),
                                payload: payload.clone(),
                            });
                        }
                    }
                    Message::Timeout(t) => {
                        qcs.entry(t.high_qc.data.block_id)
                            .or_insert_with(|| t.high_qc.clone());
                        if let Some(tc) = &t.high_tc {
                            tcs.entry((tc.epoch.0, tc.round.0))
                                .or_insert_with(|| tc.clone());
                        }
                    }
                    Message::TimeoutCert(tc) => {
                        tcs.entry((tc.epoch.0, tc.round.0))
                            .or_insert_with(|| tc.clone());
                    }
                    Message::Vote(_) => {}
                }
            }
        }
        Observed {
            blocks: blocks.into_values().collect(),
            qcs: qcs.into_values().collect(),
            tcs: tcs.into_values().collect(),
        }
    }

    /// A payload a Byzantine proposal can carry: the result claim of a
    /// payload the cluster knows, or a forged one.
    pub fn payload_for(&self, observed: &Observed, pick: u8, forged: bool) -> Payload {
        let mut result = match observed
            .blocks
            .get(usize::from(pick) % observed.blocks.len().max(1))
        {
            Some(b) => b.payload.result,
            None => {
                let e = lock(&self.nodes[0].disk).executed();
                hutong_wire::payload::ResultClaim {
                    height: e.height,
                    state_root: e.state_root,
                    receipts_root: e.receipts_root,
                }
            }
        };
        if forged {
            result.state_root.0[0] ^= 0x5a;
        }
        Payload {
            result,
            txs: Vec::new(),
        }
    }
}

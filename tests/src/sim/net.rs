//! The simulated network: links, partitions and transit times, and
//! carrying out what a node's host asked to send.

use super::*;

impl Sim {
    /// Whether `a` and `b` can talk now (both up, same side).
    pub(super) fn linked(&self, a: usize, b: usize) -> bool {
        self.nodes[a].up
            && self.nodes[b].up
            && self
                .partition
                .as_ref()
                .is_none_or(|side| side[a] == side[b])
    }

    /// Tells every node whom it can reach, by validator.
    pub(super) fn refresh_reachability(&mut self) {
        for a in 0..self.nodes.len() {
            let row: Vec<bool> = (0..self.addresses)
                .map(|v| {
                    (0..self.nodes.len())
                        .any(|b| b != a && self.nodes[b].validator == v && self.linked(a, b))
                })
                .collect();
            *lock(&self.nodes[a].reachable) = row;
        }
    }

    /// The one-way delay of a message, or `None` when it is lost.
    pub(super) fn transit(&mut self, from: usize, to: usize) -> Option<u64> {
        self.messages += 1;
        if self.rng.gen_bool(self.faults.drop) || !self.linked(from, to) {
            return None;
        }
        Some(self.faults.delay_ms + self.rng.gen_range(0..=self.faults.jitter_ms))
    }

    /// An instance of validator `v` (twins split the traffic at random).
    pub(super) fn instance_of(&mut self, v: usize) -> Option<usize> {
        let targets: Vec<usize> = (0..self.nodes.len())
            .filter(|i| self.nodes[*i].validator == v)
            .collect();
        if targets.is_empty() {
            return None;
        }
        Some(targets[self.rng.gen_range(0..targets.len())])
    }

    pub(super) fn deliver_message(&mut self, from: usize, to: usize, envelope: ConsensusEnvelope) {
        let copies = if self.rng.gen_bool(self.faults.duplicate) {
            2
        } else {
            1
        };
        for _ in 0..copies {
            if let Some(delay) = self.transit(from, to) {
                let v = self.nodes[from].validator;
                let at = self.now() + delay;
                self.schedule(
                    at,
                    Delivery::Message {
                        to,
                        from: v,
                        envelope: envelope.clone(),
                    },
                );
            }
        }
    }

    /// Sends from `node` to validator `to`, through the Byzantine filter
    /// when `node` is the Byzantine validator.
    pub(super) fn send(&mut self, node: usize, to: usize, envelope: ConsensusEnvelope) {
        if self.honest(node) {
            if let Some(target) = self.instance_of(to) {
                self.deliver_message(node, target, envelope);
            }
            return;
        }
        for (target, e) in self.misbehave(node, to, envelope) {
            if let Some(instance) = self.instance_of(target) {
                self.deliver_message(node, instance, e);
            }
        }
    }

    /// Carries out what `node`'s host logic asked, until nothing is left.
    pub(super) fn flush(&mut self, node: usize) -> Result<(), String> {
        loop {
            let outs: Vec<Out> = std::mem::take(&mut *lock(&self.nodes[node].outbox));
            for out in outs {
                self.carry_out(node, out)?;
            }
            // Share what is due, check parked batches whose wait is over,
            // and learn when that is next due.
            let due = block_on(self.nodes[node].attest.on_tick());
            self.nodes[node].attest_due = due;
            if lock(&self.nodes[node].outbox).is_empty() {
                break;
            }
        }
        self.check_violations()?;
        self.schedule_wake(node);
        self.schedule_execution(node);
        Ok(())
    }

    pub(super) fn carry_out(&mut self, node: usize, out: Out) -> Result<(), String> {
        let me = self.nodes[node].validator;
        match out {
            Out::Send { to, envelope } => self.send(node, to, envelope),
            Out::Broadcast(envelope) => {
                for to in (0..self.addresses).filter(|v| *v != me) {
                    self.send(node, to, envelope.clone());
                }
                if self.faults.byzantine == Some(Byzantine::Twins) && me == 0 {
                    // A twin's broadcast reaches its twin too.
                    let twin =
                        (0..self.nodes.len()).find(|i| *i != node && self.nodes[*i].validator == 0);
                    if let Some(twin) = twin {
                        self.deliver_message(node, twin, envelope);
                    }
                }
            }
            Out::Gossip { to, gossip } => {
                if let Some(target) = self.instance_of(to) {
                    if let Some(delay) = self.transit(node, target) {
                        let at = self.now() + delay;
                        self.schedule(
                            at,
                            Delivery::Gossip {
                                to: target,
                                from: me,
                                gossip,
                            },
                        );
                    }
                }
            }
            Out::Request { to, request, reply } => {
                let target = self.instance_of(to);
                match target.and_then(|t| self.transit(node, t).map(|d| (t, d))) {
                    Some((target, delay)) => {
                        let at = self.now() + delay;
                        self.schedule(
                            at,
                            Delivery::Serve {
                                to: target,
                                from: node,
                                request,
                                reply,
                            },
                        );
                    }
                    None => {
                        let at = self.now() + REQUEST_TIMEOUT_MS;
                        self.schedule(
                            at,
                            Delivery::Reply {
                                reply,
                                response: None,
                            },
                        );
                    }
                }
            }
            Out::Penalise { peer, why } => {
                if self.honest(node) && !self.is_byzantine(peer) {
                    return Err(self.violation(format!(
                        "honest validator {me} penalised honest validator {peer}: {why}"
                    )));
                }
                self.penalties += 1;
            }
            Out::Work(work) => {
                // Signature checks take a moment of another thread's time.
                let incarnation = self.nodes[node].incarnation;
                let at = self.now() + 1;
                self.schedule(
                    at,
                    Delivery::Work {
                        node,
                        incarnation,
                        work,
                    },
                );
            }
            Out::Share(raws) => self.nodes[node].attest.share(raws),
            Out::PoolGrew => {
                if self.nodes[node].host.wants_pool_news() {
                    let r = self.nodes[node].host.on_pool_grew();
                    self.host_result(node, r)?;
                }
            }
            Out::Completion(c) => {
                let r = self.nodes[node].host.on_completion(c);
                self.host_result(node, r)?;
            }
        }
        Ok(())
    }
}

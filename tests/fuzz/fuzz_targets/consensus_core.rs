//! The consensus core under a fuzzed network and a Byzantine validator.
//!
//! Four validators run the real state machine (`Consensus`) with the
//! simulated signature scheme. The fuzz input is a script of operations:
//! deliver, duplicate or drop a message in flight, fire a round timer,
//! crash and restart a validator from what it persisted, answer block
//! fetches and syncs (with the right blocks or wrong ones), inject raw wire
//! bytes as a message from any peer, and act as validator 3, whose key the
//! script holds: equivocating proposals, votes for any known block,
//! timeouts reporting any known certificate.
//!
//! Checked after every step: no panic; no two validators commit different
//! blocks at one height; every commit extends the validator's own chain by
//! hash; equivocation evidence only ever names validator 3; the safety
//! data a validator persists never goes back within an epoch.

#![no_main]

use std::collections::{BTreeMap, VecDeque};

use arbitrary::{Arbitrary, Unstructured};
use hutong_consensus::core::{Committed, Config, Consensus};
use hutong_consensus::messages::{Action, Equivocation, Event, Message, Proposal, Timeout, Vote};
use hutong_consensus::safety::SafetyData;
use hutong_consensus::types::{
    Block, BlockId, Digest, Epoch, Height, QuorumCert, Round, TimeoutCert, TimeoutData, ValidatorId,
};
use hutong_consensus::validators::ValidatorSet;
use hutong_fuzz_support::sim::{self, SimSigner, SimVerifier, VALIDATORS};
use libfuzzer_sys::fuzz_target;

/// The validator whose key the fuzz script holds.
const BYZANTINE: u16 = 3;
/// Most messages in flight; older ones are lost beyond it.
const IN_FLIGHT_MAX: usize = 256;
/// Most certificates remembered for the Byzantine validator to reuse.
const KNOWN_MAX: usize = 64;
/// Payload digests the host calls invalid.
const BAD_PAYLOAD: u8 = 0xff;

#[derive(Debug, Arbitrary)]
enum Op {
    Deliver {
        pick: u16,
    },
    Duplicate {
        pick: u16,
    },
    Drop {
        pick: u16,
    },
    Timer {
        node: u8,
    },
    Restart {
        node: u8,
    },
    /// Wire bytes, borsh-decoded as the network does, from any peer id
    /// (the core must check every signature itself).
    Raw {
        to: u8,
        from: u8,
        bytes: Vec<u8>,
    },
    /// A known block handed over as if fetched, asked for or not.
    Fetched {
        to: u8,
        pick: u16,
    },
    /// Known blocks handed over as a sync response with a known QC.
    Sync {
        to: u8,
        first: u16,
        len: u8,
        qc: u16,
    },
    Byzantine(Byz),
}

#[derive(Debug, Arbitrary)]
enum Byz {
    Propose {
        qc: u16,
        tc: Option<u16>,
        round_ahead: u8,
        height_off: i8,
        payload: u8,
        to: u8,
    },
    Vote {
        block: u16,
        round_off: i8,
        to: u8,
    },
    Timeout {
        qc: u16,
        tc: Option<u16>,
        round_ahead: u8,
        lie: Option<u8>,
        to: u8,
    },
    ForwardTc {
        tc: u16,
        to: u8,
    },
    /// A proposal on a known certificate whose round and height are
    /// rewritten (so its signatures no longer hold): a malformed
    /// certificate from a peer.
    Forge {
        qc: u16,
        qc_round: u64,
        qc_height: u64,
        round_ahead: u8,
        proposer: u8,
        to: u8,
    },
}

#[derive(Debug)]
enum InFlight {
    Message {
        from: ValidatorId,
        to: usize,
        message: Message,
    },
    Fetched {
        to: usize,
        block: Block,
    },
    Synced {
        to: usize,
        blocks: Vec<Block>,
        proof: QuorumCert,
    },
}

impl InFlight {
    fn to(&self) -> usize {
        match self {
            InFlight::Message { to, .. } | InFlight::Fetched { to, .. } => *to,
            InFlight::Synced { to, .. } => *to,
        }
    }
}

/// What a validator persisted: all it has after a crash.
struct Disk {
    safety: SafetyData,
    blocks: BTreeMap<BlockId, Block>,
    committed: Committed,
}

struct Node {
    core: Consensus<SimSigner, SimVerifier>,
    disk: Disk,
    timer: Round,
    /// Committed block ids by height (genesis at height 0).
    chain: Vec<BlockId>,
    /// The certificate of the latest commit.
    proof: Option<QuorumCert>,
}

struct World {
    set: ValidatorSet,
    nodes: Vec<Node>,
    in_flight: VecDeque<InFlight>,
    blocks: BTreeMap<BlockId, Block>,
    block_order: Vec<BlockId>,
    qcs: Vec<QuorumCert>,
    tcs: Vec<TimeoutCert>,
    /// The first block committed at each height by anyone.
    committed: BTreeMap<u64, BlockId>,
}

fn config() -> Config {
    Config {
        round_window: 64,
        blocks_max: 256,
        ..Config::default()
    }
}

fn new_core(
    id: usize,
    set: &ValidatorSet,
    disk: Option<&Disk>,
) -> Consensus<SimSigner, SimVerifier> {
    let me = ValidatorId(id as u16);
    match disk {
        None => Consensus::new(me, set.clone(), SimSigner::of(me), SimVerifier, config()),
        Some(d) => Consensus::restore(
            me,
            set.clone(),
            SimSigner::of(me),
            SimVerifier,
            config(),
            d.safety.clone(),
            d.blocks.values().cloned().collect(),
            d.committed,
        ),
    }
}

fn pick<T>(items: &[T], i: u16) -> Option<&T> {
    (!items.is_empty()).then(|| &items[usize::from(i) % items.len()])
}

fn remember<T: PartialEq>(list: &mut Vec<T>, item: T) {
    if !list.contains(&item) {
        if list.len() >= KNOWN_MAX {
            list.remove(0);
        }
        list.push(item);
    }
}

impl World {
    fn new() -> World {
        let set = sim::validator_set();
        let genesis = set.genesis();
        let nodes = (0..VALIDATORS)
            .map(|i| Node {
                core: new_core(i, &set, None),
                disk: Disk {
                    safety: SafetyData::new(Epoch(1)),
                    blocks: BTreeMap::new(),
                    committed: Committed {
                        id: genesis,
                        round: Round(0),
                        height: Height(0),
                    },
                },
                timer: Round(0),
                chain: vec![genesis],
                proof: None,
            })
            .collect();
        let mut committed = BTreeMap::new();
        committed.insert(0, genesis);
        World {
            qcs: vec![set.genesis_qc()],
            set,
            nodes,
            in_flight: VecDeque::new(),
            blocks: BTreeMap::new(),
            block_order: Vec::new(),
            tcs: Vec::new(),
            committed,
        }
    }

    fn send(&mut self, item: InFlight) {
        if self.in_flight.len() >= IN_FLIGHT_MAX {
            self.in_flight.pop_front();
        }
        self.in_flight.push_back(item);
    }

    fn learn_block(&mut self, block: &Block) {
        let id = block.id();
        if self.blocks.insert(id, block.clone()).is_none() {
            self.block_order.push(id);
        }
        self.learn_message(&Message::Proposal(Proposal {
            block: block.clone(),
            signature: hutong_consensus::types::SignatureBytes([0; 64]),
        }));
    }

    /// Remembers the certificates a message carries, for reuse.
    fn learn_message(&mut self, message: &Message) {
        match message {
            Message::Proposal(p) => {
                remember(&mut self.qcs, p.block.justify.clone());
                if let Some(tc) = &p.block.timeout_cert {
                    remember(&mut self.tcs, tc.clone());
                }
            }
            Message::Vote(_) => {}
            Message::Timeout(t) => {
                remember(&mut self.qcs, t.high_qc.clone());
                if let Some(tc) = &t.high_tc {
                    remember(&mut self.tcs, tc.clone());
                }
            }
            Message::TimeoutCert(tc) => remember(&mut self.tcs, tc.clone()),
        }
    }

    /// Feeds `event` to validator `n` and carries out what it asks, like a
    /// host would, checking the invariants on the way.
    fn step(&mut self, n: usize, event: Event) {
        let mut events = VecDeque::from([event]);
        let mut budget = 64;
        while let Some(event) = events.pop_front() {
            budget -= 1;
            if budget == 0 {
                break;
            }
            let actions = self.nodes[n].core.handle(event);
            for action in actions {
                self.act(n, action, &mut events);
            }
        }
    }

    fn act(&mut self, n: usize, action: Action, events: &mut VecDeque<Event>) {
        let me = ValidatorId(n as u16);
        match action {
            Action::PersistSafety(next) => {
                let old = &self.nodes[n].disk.safety;
                if next.epoch == old.epoch {
                    assert!(
                        next.last_voted_round >= old.last_voted_round
                            && next.highest_qc_round >= old.highest_qc_round
                            && next.last_proposed_round >= old.last_proposed_round,
                        "validator {n} persisted safety data going back: {old:?} -> {next:?}"
                    );
                }
                self.nodes[n].disk.safety = next;
            }
            Action::PersistBlock(block) => {
                self.learn_block(&block);
                self.nodes[n].disk.blocks.insert(block.id(), block);
            }
            Action::Send { to, message } => {
                self.learn_message(&message);
                let to = usize::from(to.0);
                if to == n {
                    events.push_back(Event::Message { from: me, message });
                } else if to < VALIDATORS {
                    self.send(InFlight::Message {
                        from: me,
                        to,
                        message,
                    });
                }
            }
            Action::Broadcast(message) => {
                self.learn_message(&message);
                for to in (0..VALIDATORS).filter(|&to| to != n) {
                    self.send(InFlight::Message {
                        from: me,
                        to,
                        message: message.clone(),
                    });
                }
            }
            Action::SetTimer { round, .. } => self.nodes[n].timer = round,
            Action::NeedPayload { round, .. } => events.push_back(Event::PayloadReady {
                round,
                payload: Digest::tagged(b"payload", &round.0.to_le_bytes()),
                timestamp_ms: round.0.saturating_mul(1_000),
            }),
            Action::CheckPayload { block } => events.push_back(Event::PayloadChecked {
                block_id: block.id(),
                valid: block.payload.0[0] != BAD_PAYLOAD,
            }),
            Action::Commit { blocks, proof } => self.commit(n, blocks, proof),
            Action::SyncRequest { after, from } => self.serve_sync(n, after, from),
            Action::Fetch { block_id, .. } => {
                if let Some(block) = self.blocks.get(&block_id).cloned() {
                    self.send(InFlight::Fetched { to: n, block });
                }
            }
            Action::EpochAhead { .. } => {}
            Action::Equivocation(evidence) => {
                let culprit = match &evidence {
                    Equivocation::Proposals(a, b) => {
                        assert_eq!(a.block.proposer, b.block.proposer);
                        assert_eq!(a.block.round, b.block.round);
                        assert_ne!(a.block.id(), b.block.id());
                        a.block.proposer
                    }
                    Equivocation::Votes(a, b) => {
                        assert_eq!(a.voter, b.voter);
                        assert_eq!(a.data.round, b.data.round);
                        assert_ne!(a.data, b.data);
                        a.voter
                    }
                };
                assert_eq!(
                    culprit,
                    ValidatorId(BYZANTINE),
                    "validator {n} reports an honest validator equivocating: {evidence:?}"
                );
            }
        }
    }

    fn commit(&mut self, n: usize, blocks: Vec<Block>, proof: QuorumCert) {
        assert!(!blocks.is_empty(), "validator {n} committed nothing");
        let node = &mut self.nodes[n];
        for block in &blocks {
            let id = block.id();
            let tip = *node.chain.last().expect("genesis");
            assert_eq!(
                block.parent_id(),
                tip,
                "validator {n} committed a block that does not extend its chain"
            );
            assert_eq!(block.height.0, node.chain.len() as u64);
            node.chain.push(id);
            node.disk.blocks.insert(id, block.clone());
            let first = *self.committed.entry(block.height.0).or_insert(id);
            assert_eq!(
                first, id,
                "safety violation: two blocks committed at height {}",
                block.height.0
            );
        }
        let last = blocks.last().expect("non-empty");
        assert_eq!(proof.data.commits(), Some(last.id()));
        node.disk.committed = Committed {
            id: last.id(),
            round: last.round,
            height: last.height,
        };
        node.proof = Some(proof.clone());
        for block in &blocks {
            self.learn_block(block);
        }
        remember(&mut self.qcs, proof);
    }

    /// A peer's answer to a bulk sync request: its committed blocks after
    /// `after`, with the certificate of its latest commit.
    fn serve_sync(&mut self, n: usize, after: Height, from: ValidatorId) {
        let Some(peer) = self.nodes.get(usize::from(from.0)) else {
            return;
        };
        let Some(proof) = peer.proof.clone() else {
            return;
        };
        let start = usize::try_from(after.0)
            .unwrap_or(usize::MAX)
            .saturating_add(1);
        if start >= peer.chain.len() {
            return;
        }
        let blocks: Vec<Block> = peer.chain[start..]
            .iter()
            .filter_map(|id| self.blocks.get(id).cloned())
            .collect();
        self.send(InFlight::Synced {
            to: n,
            blocks,
            proof,
        });
    }

    fn deliver(&mut self, item: InFlight) {
        let to = item.to();
        let event = match item {
            InFlight::Message { from, message, .. } => Event::Message { from, message },
            InFlight::Fetched { block, .. } => Event::BlockFetched { block },
            InFlight::Synced { blocks, proof, .. } => Event::SyncResponse { blocks, proof },
        };
        self.step(to, event);
    }

    fn clone_in_flight(item: &InFlight) -> InFlight {
        match item {
            InFlight::Message { from, to, message } => InFlight::Message {
                from: *from,
                to: *to,
                message: message.clone(),
            },
            InFlight::Fetched { to, block } => InFlight::Fetched {
                to: *to,
                block: block.clone(),
            },
            InFlight::Synced { to, blocks, proof } => InFlight::Synced {
                to: *to,
                blocks: blocks.clone(),
                proof: proof.clone(),
            },
        }
    }

    /// Sends `message` from the Byzantine validator to the validators in
    /// the bit mask `to`.
    fn byzantine_send(&mut self, to: u8, message: Message) {
        for n in (0..VALIDATORS).filter(|n| to & (1 << n) != 0 && *n != BYZANTINE as usize) {
            self.send(InFlight::Message {
                from: ValidatorId(BYZANTINE),
                to: n,
                message: message.clone(),
            });
        }
    }

    fn byzantine(&mut self, op: Byz) {
        let signer = SimSigner::of(ValidatorId(BYZANTINE));
        let sign = |m: &Digest| sim::sign_with(&signer.secret, m);
        match op {
            Byz::Propose {
                qc,
                tc,
                round_ahead,
                height_off,
                payload,
                to,
            } => {
                let Some(justify) = pick(&self.qcs, qc).cloned() else {
                    return;
                };
                let timeout_cert = tc.and_then(|i| pick(&self.tcs, i).cloned());
                let base = timeout_cert.as_ref().map_or(justify.round(), |tc| tc.round);
                let block = Block {
                    epoch: Epoch(1),
                    round: Round(base.0.saturating_add(1 + u64::from(round_ahead % 8))),
                    height: Height(
                        justify
                            .data
                            .height
                            .0
                            .saturating_add_signed(1 + i64::from(height_off % 3)),
                    ),
                    proposer: ValidatorId(BYZANTINE),
                    timestamp_ms: 0,
                    payload: Digest([payload; 32]),
                    justify,
                    timeout_cert,
                };
                let proposal = Proposal {
                    signature: sign(&block.id()),
                    block,
                };
                self.byzantine_send(to, Message::Proposal(proposal));
            }
            Byz::Vote {
                block,
                round_off,
                to,
            } => {
                let Some(id) = pick(&self.block_order, block) else {
                    return;
                };
                let mut data = self.blocks[id].vote_data();
                data.round = Round(data.round.0.saturating_add_signed(i64::from(round_off % 3)));
                let vote = Vote {
                    signature: sign(&data.signing_message()),
                    data,
                    voter: ValidatorId(BYZANTINE),
                };
                // A vote goes to the next leader, but any will do.
                self.byzantine_send(to, Message::Vote(vote));
            }
            Byz::Timeout {
                qc,
                tc,
                round_ahead,
                lie,
                to,
            } => {
                let Some(high_qc) = pick(&self.qcs, qc).cloned() else {
                    return;
                };
                let high_tc = tc.and_then(|i| pick(&self.tcs, i).cloned());
                let data = TimeoutData {
                    epoch: Epoch(1),
                    round: Round(
                        high_qc
                            .round()
                            .0
                            .saturating_add(1 + u64::from(round_ahead % 8)),
                    ),
                    high_qc_round: lie.map_or(high_qc.round(), |r| Round(u64::from(r % 8))),
                };
                let timeout = Timeout {
                    signature: sign(&data.signing_message()),
                    data,
                    high_qc,
                    high_tc,
                    voter: ValidatorId(BYZANTINE),
                };
                self.byzantine_send(to, Message::Timeout(timeout));
            }
            Byz::Forge {
                qc,
                qc_round,
                qc_height,
                round_ahead,
                proposer,
                to,
            } => {
                let Some(mut justify) = pick(&self.qcs, qc).cloned() else {
                    return;
                };
                let round = Round(
                    justify
                        .round()
                        .0
                        .saturating_add(1 + u64::from(round_ahead % 4)),
                );
                justify.data.round = Round(qc_round);
                justify.data.height = Height(qc_height);
                let block = Block {
                    epoch: Epoch(1),
                    round,
                    height: Height(qc_height.wrapping_add(1)),
                    proposer: ValidatorId(u16::from(proposer % 4)),
                    timestamp_ms: 0,
                    payload: Digest([0; 32]),
                    justify,
                    timeout_cert: None,
                };
                let proposal = Proposal {
                    signature: sign(&block.id()),
                    block,
                };
                self.byzantine_send(to, Message::Proposal(proposal));
            }
            Byz::ForwardTc { tc, to } => {
                if let Some(tc) = pick(&self.tcs, tc).cloned() {
                    self.byzantine_send(to, Message::TimeoutCert(tc));
                }
            }
        }
    }

    fn run(&mut self, op: Op) {
        let node = |i: u8| usize::from(i) % VALIDATORS;
        match op {
            Op::Deliver { pick } => {
                if !self.in_flight.is_empty() {
                    let i = usize::from(pick) % self.in_flight.len();
                    let item = self.in_flight.remove(i).expect("in range");
                    self.deliver(item);
                }
            }
            Op::Duplicate { pick } => {
                if !self.in_flight.is_empty() {
                    let i = usize::from(pick) % self.in_flight.len();
                    let item = World::clone_in_flight(&self.in_flight[i]);
                    self.deliver(item);
                }
            }
            Op::Drop { pick } => {
                if !self.in_flight.is_empty() {
                    let i = usize::from(pick) % self.in_flight.len();
                    self.in_flight.remove(i);
                }
            }
            Op::Timer { node: i } => {
                let n = node(i);
                let round = self.nodes[n].timer;
                self.step(n, Event::Timer { round });
            }
            Op::Restart { node: i } => {
                let n = node(i);
                let core = new_core(n, &self.set, Some(&self.nodes[n].disk));
                self.nodes[n].core = core;
                self.in_flight.retain(|m| m.to() != n);
                self.step(n, Event::Start);
            }
            Op::Raw { to, from, bytes } => {
                if let Ok(message) = borsh::from_slice::<Message>(&bytes) {
                    self.step(
                        node(to),
                        Event::Message {
                            from: ValidatorId(u16::from(from % 6)),
                            message,
                        },
                    );
                }
            }
            Op::Fetched { to, pick } => {
                if let Some(id) = self::pick(&self.block_order, pick) {
                    let block = self.blocks[id].clone();
                    self.step(node(to), Event::BlockFetched { block });
                }
            }
            Op::Sync { to, first, len, qc } => {
                let Some(proof) = pick(&self.qcs, qc).cloned() else {
                    return;
                };
                if self.block_order.is_empty() {
                    return;
                }
                let start = usize::from(first) % self.block_order.len();
                let blocks: Vec<Block> = self.block_order[start..]
                    .iter()
                    .take(usize::from(len % 8))
                    .map(|id| self.blocks[id].clone())
                    .collect();
                self.step(node(to), Event::SyncResponse { blocks, proof });
            }
            Op::Byzantine(op) => self.byzantine(op),
        }
    }
}

fuzz_target!(|data: &[u8]| {
    // `HUTONG_FUZZ_DEBUG=1` when replaying an input shows its operations
    // and how far the cluster got.
    static DEBUG: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let debug = *DEBUG.get_or_init(|| std::env::var_os("HUTONG_FUZZ_DEBUG").is_some());
    let mut u = Unstructured::new(data);
    let mut world = World::new();
    for n in 0..VALIDATORS {
        world.step(n, Event::Start);
    }
    let mut ops = 0;
    while !u.is_empty() && ops < 512 {
        let Ok(op) = Op::arbitrary(&mut u) else {
            break;
        };
        if debug {
            eprintln!("{op:?}");
        }
        world.run(op);
        ops += 1;
    }
    if debug {
        for (i, n) in world.nodes.iter().enumerate() {
            eprintln!(
                "validator {i}: round {:?}, committed height {}, dropped {:?}",
                n.core.round(),
                n.chain.len() - 1,
                n.core.dropped()
            );
        }
        eprintln!("{ops} ops, {} in flight", world.in_flight.len());
    }
});

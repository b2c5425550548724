//! The consensus host: owns the consensus core, feeds it events (peer
//! messages, timers, payloads, fetched blocks, verdicts) and carries out
//! its actions in the order it returns them. Persisting the safety data is
//! a synced write done here, before any later action (the vote it guards)
//! leaves the node.
//!
//! Payloads travel with proposals; the host keeps the payloads of blocks
//! not yet executed ([`payloads`]), builds payloads from the mempool when
//! this node leads ([`propose`]), checks the payloads of others'
//! proposals: bounds, chain id, duplicates, signatures (those not already
//! verified by the mempool, in parallel), timestamp, and the execution
//! result they claim ([`check`]), hands committed blocks to the executor
//! without ever waiting for it, and lets proposals pass while execution is
//! far behind ([`commit`]), and asks peers for blocks it lacks
//! ([`catchup`]).
//!
//! The host performs no I/O itself and never blocks: it is generic over
//! its [`Context`] (clock, task spawning, network, store, executor), and
//! its driver calls one input method at a time. The node drives it from a
//! tokio task; the deterministic simulator drives the same code with a
//! simulated clock and network.

mod catchup;
mod check;
mod commit;
mod payloads;
mod propose;

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hutong_consensus::core::{Consensus, Signer};
use hutong_consensus::messages::{Action, Equivocation, Event, Message};
use hutong_consensus::safety::SafetyData;
use hutong_consensus::types::{Block, BlockId, Digest, QuorumCert, Round, ValidatorId};
use hutong_consensus::validators::{ValidatorSet, Verifier};
use hutong_runtime::{Address, ChainId, Preverified};
use hutong_wire::p2p::{ConsensusEnvelope, SyncResponse};
use hutong_wire::payload::{Payload, PayloadError};
use hutong_wire::{Executed, StoredBlock};

use crate::mempool::Mempool;
use crate::runtime::{Clock, Instant, Network, Spawner};
use crate::status::{ConsensusStatus, Counters};
use crate::util::lock;

use commit::Backlog;
use payloads::Known;
use propose::PendingProposal;

/// Host tuning.
#[derive(Debug, Clone)]
pub struct HostConfig {
    pub block_txs_max: usize,
    /// With nothing to order, a leader waits this long before proposing an
    /// empty block (it proposes at once when transactions arrive).
    pub empty_block_interval: Duration,
    /// A leader proposes no sooner than this after its parent block (by
    /// the parent's timestamp, waiting at most this long): blocks then
    /// carry batches, and the cost of a block is shared by more
    /// transactions.
    pub min_block_interval: Duration,
    /// A leader whose executor has more than this many committed blocks
    /// still to execute waits (at most `execution_wait_max`) for it to
    /// catch up before proposing. The transactions of those blocks are in
    /// flight, so a block proposed now would carry only what arrived in the
    /// last moments, and would only join the queue: under load, consensus
    /// ran ahead with many small blocks, each costing execution its fixed
    /// share (an fsync, the tree's upper levels), and throughput fell.
    pub execution_lead_blocks: usize,
    /// The longest a leader waits for its executor; below the round
    /// timeout, so that followers do not give up on it.
    pub execution_wait_max: Duration,
    /// How far ahead of this node's clock a proposal's timestamp may be.
    pub clock_drift_max: Duration,
}

impl Default for HostConfig {
    fn default() -> Self {
        HostConfig {
            block_txs_max: 5_000,
            empty_block_interval: Duration::from_millis(500),
            min_block_interval: Duration::from_millis(50),
            execution_lead_blocks: 2,
            execution_wait_max: Duration::from_millis(400),
            clock_drift_max: Duration::from_secs(10),
        }
    }
}

/// The storage the host writes and reads. A failed write is fatal: the
/// host stops rather than send a vote whose safety data is not durable.
pub trait HostStore {
    type Error: std::fmt::Display;
    /// Durably (synced): the vote or timeout it guards is sent next.
    fn put_safety(&self, safety: &SafetyData) -> Result<(), Self::Error>;
    /// A block consensus accepted into its tree, with its payload. Need
    /// not be synced: a block lost in a crash is fetched again.
    fn put_block(&self, block: &StoredBlock) -> Result<(), Self::Error>;
    fn block(&self, id: &BlockId) -> Result<Option<StoredBlock>, Self::Error>;
    /// What executing the committed block at `height` gave.
    fn result_at(&self, height: u64) -> Result<Option<Executed>, Self::Error>;
    /// The height this node's state was restored at from a snapshot, if it
    /// joined that way: it has no result of the blocks below it, so a
    /// claim about one of them is not its to check.
    fn joined_at(&self) -> Option<u64> {
        None
    }
    /// The next sequence number of an account in the executed state.
    fn account_sequence(&self, address: &Address) -> Option<u64>;
}

/// A committed block for the executor, with its signature verdicts when
/// the host already computed them (while checking the proposal).
#[derive(Debug)]
pub struct ExecJob {
    pub block: Block,
    /// Shared with the host, which may still hold it for building payloads
    /// on top: the executor never copies a block's transactions.
    pub payload: Arc<Payload>,
    /// The certificate that commits this block, when it ends a committed
    /// run.
    pub proof: Option<QuorumCert>,
    pub preverified: Option<Arc<Preverified>>,
}

/// Why the executor did not take a job. The job is handed back whole, as
/// big as the one offered: boxing it would allocate on the path every
/// committed block takes.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Refused {
    /// Its queue is full; the job is handed back and offered again later.
    Full(ExecJob),
    /// It stopped (halted, or the node is shutting down).
    Stopped,
}

/// Where committed blocks go to be executed, in order. The executor
/// reports what it executed through [`Host::on_executed`].
pub trait Executor {
    #[allow(clippy::result_large_err)]
    fn try_execute(&self, job: ExecJob) -> Result<(), Refused>;
}

/// Everything a host is generic over.
pub trait Context {
    type Runtime: Clock + Spawner + Network;
    type Store: HostStore;
    type Executor: Executor;
    type Signer: Signer;
    type Verifier: Verifier;
}

type Peer<C> = <<C as Context>::Runtime as Network>::Peer;

/// The results of work the host started outside its own calls, delivered
/// back by its driver through [`Host::on_completion`].
#[derive(Debug)]
pub enum Completion {
    /// A proposal's payload was checked (its signatures on another thread).
    Checked {
        block: Block,
        verdict: Result<Arc<Preverified>, PayloadError>,
    },
    /// The answer to a request for one block.
    Fetched(Option<SyncResponse>),
    /// The answer to a request for committed blocks in bulk.
    Synced(Option<SyncResponse>),
}

/// Where a host's completions go: its driver's inbox.
pub type Inbox = Arc<dyn Fn(Completion) + Send + Sync>;

/// Why the host stopped. Every variant is a local failure, fatal to the
/// node (better down than wrong).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HostError {
    #[error("cannot persist safety data: {0}")]
    Safety(String),
    #[error("cannot store a block: {0}")]
    Block(String),
    #[error("committed block {0:?} has no payload")]
    PayloadLost(BlockId),
    #[error("the executor stopped")]
    ExecutorStopped,
}

/// The handles a host works with, besides its context.
#[derive(Debug, Clone)]
pub struct Handles {
    pub chain_id: ChainId,
    pub pool: Arc<Mutex<Mempool>>,
    pub status: Arc<Mutex<ConsensusStatus>>,
    pub counters: Arc<Counters>,
    /// Where recovery statements peers served go (the node checks and
    /// adopts them); `None` where nothing adopts them.
    pub recoveries:
        Option<std::sync::mpsc::SyncSender<hutong_runtime::recovery::RecoveryStatement>>,
}

/// What a host starts from: the core restored from what was persisted,
/// the blocks stored but not executed, and the last executed block.
#[derive(Debug)]
pub struct Restored<S, V> {
    pub core: Consensus<S, V>,
    pub blocks: Vec<StoredBlock>,
    pub executed: Executed,
}

pub struct Host<C: Context> {
    core: Consensus<C::Signer, C::Verifier>,
    rt: C::Runtime,
    store: C::Store,
    exec: C::Executor,
    inbox: Inbox,
    me: Option<ValidatorId>,
    /// The validators' peers, by index.
    peers: Vec<Peer<C>>,
    handles: Handles,
    config: HostConfig,
    /// The last block the executor reported durable.
    executed: Executed,
    /// Payloads by digest (proposals received, fetched blocks, own).
    payloads: HashMap<Digest, Arc<Payload>>,
    /// Accepted blocks not yet executed.
    known: HashMap<BlockId, Known>,
    /// Signature verdicts by payload digest, handed to the executor.
    preverified: HashMap<Digest, Arc<Preverified>>,
    waiting: Vec<check::WaitingCheck>,
    backlog: Backlog,
    /// When the bulk sync request still unanswered was sent.
    sync_in_flight: Option<Instant>,
    /// A bulk sync consensus asked for while execution was too far
    /// behind: whom to ask once the backlog has drained.
    sync_skipped: Option<ValidatorId>,
    pending_proposal: Option<PendingProposal>,
    timer: Option<(Round, Instant)>,
    /// While peers are in a later epoch: when to ask again for the blocks
    /// up to the end of this one, and whom (the last peer heard from the
    /// later epoch first, then the others in turn).
    epoch_sync: Option<(Instant, Option<ValidatorId>, u64)>,
    /// The committed height while behind a later epoch, and how many
    /// epoch syncs in a row left it there.
    epoch_sync_stuck: (u64, u32),
}

impl<C: Context> std::fmt::Debug for Host<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Host")
            .field("me", &self.me)
            .field("executed", &self.executed.height)
            .field("known", &self.known.len())
            .field("payloads", &self.payloads.len())
            .finish_non_exhaustive()
    }
}

impl<C: Context> Host<C> {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        restored: Restored<C::Signer, C::Verifier>,
        me: Option<ValidatorId>,
        peers: Vec<Peer<C>>,
        rt: C::Runtime,
        store: C::Store,
        exec: C::Executor,
        inbox: Inbox,
        handles: Handles,
        config: HostConfig,
    ) -> Host<C> {
        let mut host = Host {
            core: restored.core,
            rt,
            store,
            exec,
            inbox,
            me,
            peers,
            handles,
            config,
            executed: restored.executed,
            payloads: HashMap::new(),
            known: HashMap::new(),
            preverified: HashMap::new(),
            waiting: Vec::new(),
            backlog: Backlog::default(),
            sync_in_flight: None,
            sync_skipped: None,
            pending_proposal: None,
            timer: None,
            epoch_sync: None,
            epoch_sync_stuck: (0, 0),
        };
        for stored in restored.blocks {
            let payload = Arc::new(stored.payload);
            host.payloads.insert(stored.block.payload, payload.clone());
            host.remember(&stored.block, payload);
        }
        host
    }

    /// The consensus core (for status and the simulator's checks).
    pub fn core(&self) -> &Consensus<C::Signer, C::Verifier> {
        &self.core
    }

    /// The runtime the host was given (the simulator reaches its queues
    /// through it).
    pub fn runtime(&self) -> &C::Runtime {
        &self.rt
    }

    /// The last executed block, as the executor last reported it.
    pub fn executed(&self) -> Executed {
        self.executed
    }

    /// Starts consensus (the first round's timer, or a restart's).
    pub fn start(&mut self) -> Result<(), HostError> {
        self.apply(Event::Start)
    }

    /// When the host next needs [`Host::on_wake`]: its round timer or a
    /// pending proposal's deadline, whichever is first.
    pub fn next_wake(&self) -> Option<Instant> {
        let timer = self.timer.map(|(_, at)| at);
        let proposal = self.pending_proposal.as_ref().map(|p| p.deadline);
        let epoch_sync = self.epoch_sync.map(|(at, _, _)| at);
        [timer, proposal, epoch_sync].into_iter().flatten().min()
    }

    /// Fires what is due: the round timer, a proposal's deadline.
    pub fn on_wake(&mut self) -> Result<(), HostError> {
        let now = self.rt.now();
        if let Some((round, at)) = self.timer {
            if at <= now {
                self.timer = None;
                lock(&self.handles.status).timeouts += 1;
                tracing::info!(round = round.0, "round timed out");
                self.apply(Event::Timer { round })?;
            }
        }
        if self.epoch_sync.is_some_and(|(at, _, _)| at <= now) {
            self.sync_to_epoch_end();
        }
        if self
            .pending_proposal
            .as_ref()
            .is_some_and(|p| p.deadline <= now)
        {
            self.propose_now()?;
        }
        Ok(())
    }

    /// Whether the host waits for the pool to grow (a leader that has
    /// nothing to propose yet): only then is [`Host::on_pool_grew`] news.
    pub fn wants_pool_news(&self) -> bool {
        self.pending_proposal.is_some()
    }

    /// Work finished outside the host: a payload check, a peer's answer.
    pub fn on_completion(&mut self, completion: Completion) -> Result<(), HostError> {
        match completion {
            Completion::Checked { block, verdict } => self.on_checked(block, verdict),
            Completion::Fetched(response) => self.on_fetched(response),
            Completion::Synced(response) => self.on_synced(response),
        }
    }

    /// New timing (the consortium voted it): the core's round timeouts
    /// and this host's block intervals, from the next round on.
    pub fn set_timing(&mut self, consensus: &hutong_consensus::core::Config, host: HostConfig) {
        self.core
            .set_timeouts(consensus.base_timeout, consensus.max_timeout);
        self.config = host;
    }

    /// Switches to the next epoch's validator set (decided by a block this
    /// node executed): the core refuses the old epoch's messages from now
    /// on, and `peers` are the new set's, by index. Blocks of the old
    /// epoch above the new epoch's genesis are never executed: they leave
    /// the backlog and the known blocks (their transactions are proposed
    /// again), though jobs already queued still reach the executor, which
    /// keeps them as the ended epoch's tail.
    pub fn on_new_epoch(
        &mut self,
        validators: ValidatorSet,
        me: Option<ValidatorId>,
        peers: Vec<Peer<C>>,
    ) -> Result<(), HostError> {
        if validators.epoch() <= self.core.epoch() {
            return Ok(());
        }
        let start = validators.genesis_height().0;
        self.me = me;
        self.peers = peers;
        self.known.retain(|_, k| k.height <= start);
        let keep: std::collections::HashSet<Digest> =
            self.known.values().map(|k| k.digest).collect();
        let in_jobs: std::collections::HashSet<Digest> = self
            .backlog
            .unsent
            .iter()
            .map(|j| j.block.payload)
            .collect();
        self.payloads
            .retain(|d, _| keep.contains(d) || in_jobs.contains(d));
        self.preverified.retain(|d, _| keep.contains(d));
        self.backlog.forget_above(start);
        self.waiting.clear();
        self.pending_proposal = None;
        self.sync_in_flight = None;
        self.sync_skipped = None;
        self.epoch_sync = None;
        self.apply(Event::NewEpoch { validators, me })?;
        // Peers may be more than one epoch ahead (a node down across two
        // changes, a new member syncing from genesis): no message of the
        // epoch just entered will come to say so again.
        if self.core.epoch_ahead() > self.core.epoch() {
            self.epoch_sync = Some((self.rt.now(), None, 0));
        }
        Ok(())
    }

    fn validator_of(&self, peer: &Peer<C>) -> Option<ValidatorId> {
        self.peers
            .iter()
            .position(|p| p == peer)
            .map(|i| ValidatorId(i as u16))
    }

    fn peer_of(&self, id: ValidatorId) -> Option<Peer<C>> {
        self.peers.get(usize::from(id.0)).copied()
    }

    /// A consensus message from `from`, with the payload when it is a
    /// proposal.
    pub fn on_message(
        &mut self,
        from: Peer<C>,
        envelope: ConsensusEnvelope,
    ) -> Result<(), HostError> {
        let Some(id) = self.validator_of(&from) else {
            // Observers and regulators follow; they do not speak.
            return Ok(());
        };
        let mut added = None;
        if let Message::Proposal(p) = &envelope.message {
            if self.backlog.deferring {
                // Execution is far behind: holding more bodies would only
                // grow memory. Consensus catches up by sync afterwards.
                lock(&self.handles.status).deferred_proposals += 1;
                return Ok(());
            }
            if let Some(payload) = envelope.payload {
                if payload.digest() != p.block.payload {
                    tracing::warn!(peer = ?from, "proposal payload does not match its digest; dropped");
                    self.rt
                        .penalise(from, "a proposal whose payload does not match its digest");
                    return Ok(());
                }
                if self.payloads.len() < payloads::PAYLOADS_MAX {
                    added = self.add_payload(p.block.payload, payload);
                }
            }
        }
        self.apply(Event::Message {
            from: id,
            message: envelope.message,
        })?;
        if let Some(reason) = self.core.last_message_drop().cloned() {
            // A refused proposal leaves no payload behind.
            self.forget_unreferenced(added.as_slice());
            if reason.is_misbehaviour() {
                let why = format!("consensus message dropped: {}", reason.code());
                self.rt.penalise(from, &why);
            }
        }
        self.parent_arrived()
    }

    /// Feeds an event and carries out the resulting actions, in order.
    fn apply(&mut self, event: Event) -> Result<(), HostError> {
        let mut queue = VecDeque::from([event]);
        while let Some(event) = queue.pop_front() {
            let actions = self.core.handle(event);
            for action in actions {
                if let Some(next) = self.act(action)? {
                    queue.push_back(next);
                }
            }
        }
        self.publish_status();
        Ok(())
    }

    fn publish_status(&self) {
        let mut s = lock(&self.handles.status);
        s.epoch = self.core.epoch().0;
        s.validators = self.core.validators().len() as u64;
        s.round = self.core.round().0;
        s.committed_height = self.core.committed().height.0;
        s.dropped = self
            .core
            .dropped()
            .iter()
            .map(|(k, v)| ((*k).to_string(), *v))
            .collect();
    }

    /// Carries out one action; may produce an event to feed back at once.
    fn act(&mut self, action: Action) -> Result<Option<Event>, HostError> {
        match action {
            Action::PersistSafety(safety) => {
                self.store
                    .put_safety(&safety)
                    .map_err(|e| HostError::Safety(e.to_string()))?;
            }
            Action::PersistBlock(block) => {
                let Some(payload) = self.payloads.get(&block.payload).cloned() else {
                    tracing::warn!(block = ?block.id(), "accepted block without its payload");
                    return Ok(None);
                };
                self.store
                    .put_block(&StoredBlock {
                        block: block.clone(),
                        payload: (*payload).clone(),
                    })
                    .map_err(|e| HostError::Block(e.to_string()))?;
                self.remember(&block, payload);
            }
            Action::Send { to, message } => {
                if Some(to) == self.me {
                    return Ok(Some(Event::Message { from: to, message }));
                }
                if let Some(peer) = self.peer_of(to) {
                    let envelope = ConsensusEnvelope {
                        message,
                        payload: None,
                    };
                    self.rt.send(peer, envelope);
                }
            }
            Action::Broadcast(message) => {
                let payload = match &message {
                    Message::Proposal(p) => {
                        lock(&self.handles.status).proposals += 1;
                        self.payloads.get(&p.block.payload).map(|p| (**p).clone())
                    }
                    _ => None,
                };
                self.rt.broadcast(ConsensusEnvelope { message, payload });
            }
            Action::SetTimer { round, after } => {
                self.timer = Some((round, self.rt.now() + after));
            }
            Action::NeedPayload { round, parent } => return self.need_payload(round, parent),
            Action::Commit { blocks, proof } => self.commit(blocks, proof)?,
            Action::CheckPayload { block } => return Ok(self.check_payload(block)),
            Action::SyncRequest { after, from } => self.sync_request(from, after.0),
            Action::Fetch { block_id, from } => self.fetch(block_id, from),
            Action::EpochAhead { epoch, from } => {
                tracing::warn!(
                    ?epoch,
                    ?from,
                    "a peer is in a later epoch; syncing up to the end of this one"
                );
                self.epoch_sync = Some((self.rt.now(), Some(from), 0));
                self.sync_to_epoch_end();
            }
            Action::Equivocation(evidence) => {
                let accused = match &evidence {
                    Equivocation::Proposals(a, _) => a.block.proposer,
                    Equivocation::Votes(a, _) => a.voter,
                };
                let mut status = lock(&self.handles.status);
                status.equivocations += 1;
                *status.equivocators.entry(accused.0).or_default() += 1;
                drop(status);
                tracing::warn!(
                    ?evidence,
                    "EQUIVOCATION: a validator signed conflicting messages"
                );
            }
        }
        Ok(None)
    }

    /// A block was executed and is durable: finish payload checks that
    /// waited for it, forget blocks at or below it, and go on with what
    /// waited for execution to catch up.
    pub fn on_executed(&mut self, executed: Executed) -> Result<(), HostError> {
        if executed.height < self.executed.height {
            return Ok(());
        }
        self.executed = executed;
        self.backlog.executed(executed.height);
        self.feed_executor()?;
        if !self.backlog.deferring {
            if let Some(from) = self.sync_skipped.take() {
                self.bulk_sync(from, self.core.committed().height.0);
            }
        }
        if self.pending_proposal.as_ref().is_some_and(|p| p.held) && !self.execution_behind() {
            self.propose_now()?;
        }
        self.recheck_waiting()?;
        self.forget_executed(executed.height);
        Ok(())
    }
}

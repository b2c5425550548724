//! The consensus host: the task that owns the consensus core, feeds it
//! events (peer messages, timers, payloads, fetched blocks, verdicts) and
//! carries out its actions in the order it returns them. Persisting the
//! safety data is a synced database write done here, before any later
//! action (the vote it guards) leaves the node.
//!
//! Payloads travel with proposals; the host keeps the payloads of blocks
//! not yet executed, builds payloads from the mempool when this node
//! leads, and checks the payloads of others' proposals: bounds, chain id,
//! duplicates, signatures (those not already verified by the mempool, in
//! parallel), timestamp, and the execution result they claim.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hutong_consensus::core::{Consensus, Signer};
use hutong_consensus::messages::{Action, Event, Message};
use hutong_consensus::types::{Block, BlockId, Digest, Round, SignatureBytes, ValidatorId};
use hutong_consensus::validators::Verifier;
use hutong_runtime::crypto::Hash;
use hutong_runtime::state::{StateKey, StateValue};
use hutong_runtime::{Address, Keypair, Preverified, PublicKey, Signature};
use libp2p::PeerId;
use tokio::sync::{mpsc, oneshot};

use crate::executor::ExecJob;
use crate::mempool::{FastMap, FastSet};
use crate::network::{ConsensusEnvelope, NetCommand, NetEvent, SyncRequest, SyncResponse};
use crate::payload::{Payload, PayloadError, ResultClaim, BLOCK_BYTES_MAX};
use crate::shared::{lock, Counters, Shared};
use crate::sigverify::{available_threads, verify_parallel};
use crate::store::StoredBlock;

/// Signs consensus messages with the node key.
#[derive(Debug)]
pub struct NodeSigner(pub Keypair);

impl Signer for NodeSigner {
    fn sign(&self, message: &Digest) -> SignatureBytes {
        SignatureBytes(self.0.sign(&message.0).0)
    }
}

/// Checks consensus signatures (ZIP-215, like every signature in Hutong).
#[derive(Debug, Clone, Copy)]
pub struct NodeVerifier;

impl Verifier for NodeVerifier {
    fn verify(&self, key: &[u8; 32], message: &Digest, signature: &SignatureBytes) -> bool {
        PublicKey(*key)
            .verify(&message.0, &Signature(signature.0))
            .is_ok()
    }
}

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

/// Results of work the host started outside its loop.
#[derive(Debug)]
enum Internal {
    Verified {
        block: Block,
        verdict: Result<Arc<Preverified>, PayloadError>,
    },
    Fetched(Option<SyncResponse>),
    Synced(Option<SyncResponse>),
}

/// A block the host knows (accepted by consensus, not yet executed).
#[derive(Debug)]
struct Known {
    parent: BlockId,
    height: u64,
    timestamp_ms: u64,
    digest: Digest,
    payload: Arc<Payload>,
    tx_hashes: Vec<Hash>,
}

/// A payload check waiting for this node to execute the height it claims.
#[derive(Debug)]
struct WaitingCheck {
    block: Block,
    pre: Arc<Preverified>,
}

/// A leader's pending payload: waiting for transactions or the interval.
#[derive(Debug)]
struct PendingProposal {
    round: Round,
    parent: BlockId,
    deadline: tokio::time::Instant,
    /// Before this, only a full block is proposed.
    earliest: tokio::time::Instant,
    /// Until this, the leader waits for its executor to catch up
    /// ([`HostConfig::execution_lead_blocks`]).
    execution_deadline: tokio::time::Instant,
    /// Set while the proposal waits for the executor.
    held: bool,
    /// When consensus asked for the payload.
    asked: tokio::time::Instant,
}

const WAITING_CHECKS_MAX: usize = 64;
/// How long an unanswered bulk sync request keeps others from being sent.
const SYNC_WAIT_MAX: Duration = Duration::from_secs(30);
const PAYLOADS_MAX: usize = 4_096;

/// How far execution may fall behind consensus before this node stops
/// taking new proposals: committed blocks not yet executed, and their
/// transactions. Their bodies are held in memory until executed, so this
/// bounds a lagging node's memory (a regulator during a burst, a validator
/// slower than the others). Beyond it the node lets proposals pass and,
/// once execution is back under half of it, catches up by bulk sync from
/// peers' stores, which is paced by its own execution.
const BACKLOG_BLOCKS_MAX: usize = 256;
const BACKLOG_TXS_MAX: usize = 100_000;

/// Committed blocks this node has not executed yet, oldest first.
#[derive(Debug, Default)]
struct Backlog {
    /// Height and transaction count of each committed, unexecuted block.
    blocks: VecDeque<(u64, usize)>,
    txs: usize,
    /// Jobs the executor's queue had no room for yet, oldest first.
    unsent: VecDeque<ExecJob>,
    /// Set when the backlog reached its bound; cleared below half of it.
    deferring: bool,
}

impl Backlog {
    fn push(&mut self, height: u64, txs: usize) {
        self.blocks.push_back((height, txs));
        self.txs += txs;
        if self.blocks.len() >= BACKLOG_BLOCKS_MAX || self.txs >= BACKLOG_TXS_MAX {
            self.deferring = true;
        }
    }

    /// Forgets blocks at or below `executed`.
    fn executed(&mut self, executed: u64) {
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

pub struct Host {
    core: Consensus<NodeSigner, NodeVerifier>,
    me: Option<ValidatorId>,
    peers: Vec<PeerId>,
    shared: Arc<Shared>,
    config: HostConfig,
    net: mpsc::Sender<NetCommand>,
    exec: mpsc::Sender<ExecJob>,
    internal_tx: mpsc::Sender<Internal>,
    internal_rx: mpsc::Receiver<Internal>,
    /// Payloads by digest (proposals received, fetched blocks, own).
    payloads: HashMap<Digest, Arc<Payload>>,
    /// Accepted blocks not yet executed.
    known: HashMap<BlockId, Known>,
    /// Signature verdicts by payload digest, handed to the executor.
    preverified: HashMap<Digest, Arc<Preverified>>,
    waiting: Vec<WaitingCheck>,
    backlog: Backlog,
    /// When the bulk sync request still unanswered was sent.
    sync_in_flight: Option<tokio::time::Instant>,
    /// A bulk sync consensus asked for while execution was too far
    /// behind: whom to ask once the backlog has drained.
    sync_skipped: Option<ValidatorId>,
    pending_proposal: Option<PendingProposal>,
    timer: Option<(Round, tokio::time::Instant)>,
}

impl std::fmt::Debug for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Host")
            .field("me", &self.me)
            .field("core", &self.core)
            .finish_non_exhaustive()
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl Host {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        core: Consensus<NodeSigner, NodeVerifier>,
        me: Option<ValidatorId>,
        peers: Vec<PeerId>,
        shared: Arc<Shared>,
        config: HostConfig,
        net: mpsc::Sender<NetCommand>,
        exec: mpsc::Sender<ExecJob>,
        restored: Vec<StoredBlock>,
    ) -> Host {
        let (internal_tx, internal_rx) = mpsc::channel(1_024);
        let mut host = Host {
            core,
            me,
            peers,
            shared,
            config,
            net,
            exec,
            internal_tx,
            internal_rx,
            payloads: HashMap::new(),
            known: HashMap::new(),
            preverified: HashMap::new(),
            waiting: Vec::new(),
            backlog: Backlog::default(),
            sync_in_flight: None,
            sync_skipped: None,
            pending_proposal: None,
            timer: None,
        };
        for stored in restored {
            let payload = Arc::new(stored.payload);
            host.payloads.insert(stored.block.payload, payload.clone());
            host.remember(&stored.block, payload);
        }
        host
    }

    fn remember(&mut self, block: &Block, payload: Arc<Payload>) {
        let tx_hashes = payload.txs.iter().map(|t| t.hash()).collect();
        self.known.insert(
            block.id(),
            Known {
                parent: block.parent_id(),
                height: block.height.0,
                timestamp_ms: block.timestamp_ms,
                digest: block.payload,
                payload,
                tx_hashes,
            },
        );
    }

    /// Runs the consensus loop until `shutdown` resolves. Returns an error
    /// only for a failed local write (fatal).
    pub async fn run(
        mut self,
        mut events: mpsc::Receiver<NetEvent>,
        shutdown: impl std::future::Future<Output = ()>,
    ) -> anyhow::Result<()> {
        tokio::pin!(shutdown);
        let mut executed = self.shared.executed.subscribe();
        self.apply(Event::Start).await?;
        loop {
            let timer = self.timer.map(|(_, at)| at);
            let proposal_at = self.pending_proposal.as_ref().map(|p| p.deadline);
            tokio::select! {
                _ = &mut shutdown => return Ok(()),
                _ = sleep_until(timer) => {
                    if let Some((round, _)) = self.timer.take() {
                        lock(&self.shared.consensus).timeouts += 1;
                        tracing::info!(round = round.0, "round timed out");
                        self.apply(Event::Timer { round }).await?;
                    }
                }
                _ = sleep_until(proposal_at) => self.propose_now().await?,
                _ = self.shared.mempool_grew.notified(), if self.pending_proposal.is_some() => {
                    self.on_mempool_grew().await?;
                }
                event = events.recv() => match event {
                    Some(NetEvent::Consensus { from, envelope }) => self.on_peer(from, envelope).await?,
                    Some(NetEvent::Txs { .. }) => {}
                    None => return Ok(()),
                },
                Some(internal) = self.internal_rx.recv() => self.on_internal(internal).await?,
                changed = executed.changed() => {
                    if changed.is_err() {
                        return Ok(());
                    }
                    self.on_executed().await?;
                }
            }
            if self.shared.halted().is_some() {
                tracing::error!("consensus stops: execution halted");
                shutdown.await;
                return Ok(());
            }
        }
    }

    fn validator_of(&self, peer: &PeerId) -> Option<ValidatorId> {
        self.peers
            .iter()
            .position(|p| p == peer)
            .map(|i| ValidatorId(i as u16))
    }

    fn peer_of(&self, id: ValidatorId) -> Option<PeerId> {
        self.peers.get(usize::from(id.0)).copied()
    }

    async fn on_peer(
        &mut self,
        from: PeerId,
        envelope: Box<ConsensusEnvelope>,
    ) -> anyhow::Result<()> {
        let Some(id) = self.validator_of(&from) else {
            // Observers and regulators follow; they do not speak.
            return Ok(());
        };
        let envelope = *envelope;
        let mut added = None;
        if let Message::Proposal(p) = &envelope.message {
            if self.backlog.deferring {
                // Execution is far behind: holding more bodies would only
                // grow memory. Consensus catches up by sync afterwards.
                lock(&self.shared.consensus).deferred_proposals += 1;
                return Ok(());
            }
            if let Some(payload) = envelope.payload {
                if payload.digest() != p.block.payload {
                    tracing::warn!(peer = %from, "proposal payload does not match its digest; dropped");
                    self.penalise(from, "a proposal whose payload does not match its digest");
                    return Ok(());
                }
                if self.payloads.len() < PAYLOADS_MAX
                    && !self.payloads.contains_key(&p.block.payload)
                {
                    self.payloads.insert(p.block.payload, Arc::new(payload));
                    added = Some(p.block.payload);
                }
            }
        }
        self.apply(Event::Message {
            from: id,
            message: envelope.message,
        })
        .await?;
        if let Some(reason) = self.core.last_message_drop() {
            // A refused proposal leaves no payload behind.
            if let Some(digest) = added {
                if !self.known.values().any(|k| k.digest == digest) {
                    self.payloads.remove(&digest);
                }
            }
            if reason.is_misbehaviour() {
                let why = format!("consensus message dropped: {}", reason.code());
                self.penalise(from, &why);
            }
        }
        Ok(())
    }

    /// Tells the network that `peer` sent what only a faulty node sends
    /// (it is disconnected, and banned for a while when it goes on).
    fn penalise(&self, peer: PeerId, why: &str) {
        let command = NetCommand::Penalise {
            peer,
            why: why.to_string(),
        };
        if self.net.try_send(command).is_err() {
            tracing::warn!(%peer, "network queue full; not penalised for: {why}");
        }
    }

    /// Feeds an event and carries out the resulting actions, in order.
    async fn apply(&mut self, event: Event) -> anyhow::Result<()> {
        let mut queue = std::collections::VecDeque::from([event]);
        while let Some(event) = queue.pop_front() {
            let actions = self.core.handle(event);
            for action in actions {
                if let Some(next) = self.act(action).await? {
                    queue.push_back(next);
                }
            }
        }
        self.publish_status();
        Ok(())
    }

    fn publish_status(&self) {
        let mut s = lock(&self.shared.consensus);
        s.epoch = self.core.epoch().0;
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
    async fn act(&mut self, action: Action) -> anyhow::Result<Option<Event>> {
        match action {
            Action::PersistSafety(safety) => {
                self.shared
                    .db
                    .put_safety(&safety)
                    .map_err(|e| anyhow::anyhow!("cannot persist safety data: {e}"))?;
            }
            Action::PersistBlock(block) => {
                let Some(payload) = self.payloads.get(&block.payload).cloned() else {
                    tracing::warn!(block = ?block.id(), "accepted block without its payload");
                    return Ok(None);
                };
                self.shared
                    .db
                    .put_block(&StoredBlock {
                        block: block.clone(),
                        payload: (*payload).clone(),
                    })
                    .map_err(|e| anyhow::anyhow!("cannot store a block: {e}"))?;
                self.remember(&block, payload);
            }
            Action::Send { to, message } => {
                if let Some(peer) = self.peer_of(to) {
                    let envelope = ConsensusEnvelope {
                        message,
                        payload: None,
                    };
                    if Some(to) == self.me {
                        return Ok(Some(Event::Message {
                            from: to,
                            message: envelope.message,
                        }));
                    }
                    let _ = self.net.try_send(NetCommand::Send { to: peer, envelope });
                }
            }
            Action::Broadcast(message) => {
                let payload = match &message {
                    Message::Proposal(p) => {
                        lock(&self.shared.consensus).proposals += 1;
                        self.payloads.get(&p.block.payload).map(|p| (**p).clone())
                    }
                    _ => None,
                };
                let _ = self
                    .net
                    .send(NetCommand::Broadcast(ConsensusEnvelope {
                        message,
                        payload,
                    }))
                    .await;
            }
            Action::SetTimer { round, after } => {
                self.timer = Some((round, tokio::time::Instant::now() + after));
            }
            Action::NeedPayload { round, parent } => {
                let now = tokio::time::Instant::now();
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
                    asked: now,
                });
                if work && earliest <= now {
                    return self.build_payload();
                }
            }
            Action::Commit { blocks, proof } => self.commit(blocks, proof).await?,
            Action::CheckPayload { block } => self.check_payload(block),
            Action::SyncRequest { after, from } => {
                // Each sync answer commits more blocks and asks for the
                // next: while execution is far behind, wait, and ask once
                // the backlog has drained (the core would ask again only
                // after a few rounds, and a node that lets proposals pass
                // sees rounds go by only through its own timeouts).
                if self.backlog.deferring {
                    self.sync_skipped = Some(from);
                    return Ok(None);
                }
                self.bulk_sync(from, after.0);
            }
            Action::Fetch { block_id, from } => {
                // A node far behind would keep every block it fetches (a
                // recent, full one) in memory until it executes up to it,
                // minutes later. The core fetches again on later rounds.
                if self.backlog.deferring {
                    return Ok(None);
                }
                if let Some(peer) = self.peer_of(from) {
                    self.request(peer, SyncRequest::Block(block_id), false);
                }
            }
            Action::EpochAhead { epoch, from } => {
                tracing::warn!(
                    ?epoch,
                    ?from,
                    "a peer is in a later epoch; this node must sync"
                );
            }
            Action::Equivocation(evidence) => {
                lock(&self.shared.consensus).equivocations += 1;
                tracing::warn!(
                    ?evidence,
                    "EQUIVOCATION: a validator signed conflicting messages"
                );
            }
        }
        Ok(None)
    }

    /// Asks `from` for the committed blocks after `after`. One answer at a
    /// time: the core asks again every few rounds, and a node slow to get
    /// or apply answers (the very node that is behind) held several at
    /// once, each up to `SYNC_ANSWER_BYTES`. The network times a request
    /// out, so the wait here is only a backstop.
    fn bulk_sync(&mut self, from: ValidatorId, after: u64) {
        let now = tokio::time::Instant::now();
        if self
            .sync_in_flight
            .is_some_and(|at| now.duration_since(at) < SYNC_WAIT_MAX)
        {
            return;
        }
        if let Some(peer) = self.peer_of(from) {
            self.sync_in_flight = Some(now);
            self.request(peer, SyncRequest::Committed { after }, true);
        }
    }

    fn request(&self, peer: PeerId, request: SyncRequest, bulk: bool) {
        let net = self.net.clone();
        let internal = self.internal_tx.clone();
        tokio::spawn(async move {
            let (reply, rx) = oneshot::channel();
            if net
                .send(NetCommand::Sync {
                    to: peer,
                    request,
                    reply,
                })
                .await
                .is_err()
            {
                return;
            }
            let response = rx.await.ok().flatten();
            let _ = internal
                .send(if bulk {
                    Internal::Synced(response)
                } else {
                    Internal::Fetched(response)
                })
                .await;
        });
    }

    /// Whether a leader should propose at once: transactions are waiting,
    /// or blocks with transactions still need descendants to commit.
    fn has_work(&self, parent: &BlockId) -> bool {
        if lock(&self.shared.mempool).stats().txs > 0 {
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

    /// Whether this node's executor is further behind consensus than a
    /// leader lets it be before proposing.
    fn execution_behind(&self) -> bool {
        self.backlog.blocks.len() > self.config.execution_lead_blocks
    }

    /// How long a leader should still wait after its parent block before
    /// proposing a block that is not full.
    fn fill_wait(&self, parent: &BlockId) -> Duration {
        let parent_ms = match self.known.get(parent) {
            Some(k) => k.timestamp_ms,
            None => self.shared.executed().timestamp_ms,
        };
        let since = now_ms().saturating_sub(parent_ms);
        let min = self.config.min_block_interval;
        // A parent stamped ahead of this clock waits at most `min`.
        min.saturating_sub(Duration::from_millis(since)).min(min)
    }

    /// Transactions arrived while this leader waits to propose: the block
    /// goes at the earliest moment allowed. (The pool's size says little
    /// about how full the block would be: much of it may be in flight.)
    async fn on_mempool_grew(&mut self) -> anyhow::Result<()> {
        let now = tokio::time::Instant::now();
        let Some(p) = self.pending_proposal.as_mut() else {
            return Ok(());
        };
        if p.earliest <= now {
            return self.propose_now().await;
        }
        p.deadline = p.deadline.min(p.earliest);
        Ok(())
    }

    async fn propose_now(&mut self) -> anyhow::Result<()> {
        if let Some(event) = self.build_payload()? {
            self.apply(event).await?;
        }
        Ok(())
    }

    /// Builds this leader's payload on `parent` from the mempool.
    fn build_payload(&mut self) -> anyhow::Result<Option<Event>> {
        let Some(pending) = self.pending_proposal.take() else {
            return Ok(None);
        };
        if pending.round != self.core.round() {
            return Ok(None);
        }
        let now = tokio::time::Instant::now();
        if self.execution_behind() && now < pending.execution_deadline {
            self.pending_proposal = Some(PendingProposal {
                deadline: pending.execution_deadline,
                held: true,
                ..pending
            });
            return Ok(None);
        }
        // Transactions in blocks between the executed state and the parent
        // are in flight: not again, and their senders' sequences move on.
        let executed = self.shared.executed();
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
        // from the database (decoding a stored block costs its whole body).
        if let Some(k) = self.known.get(&pending.parent) {
            parent_ts = parent_ts.max(k.timestamp_ms);
        } else if let Some(parent) = self.shared.db.block(&pending.parent).ok().flatten() {
            parent_ts = parent_ts.max(parent.block.timestamp_ms);
        }
        let db = &self.shared.db;
        let sequence = |a: &Address| {
            let committed = match db.state(&StateKey::Account(*a)) {
                Ok(Some(StateValue::Account(acc))) => Some(acc.sequence.0),
                _ => None,
            };
            match (committed, next_seq.get(a)) {
                (Some(c), Some(n)) => Some(c.max(*n)),
                (c, None) => c,
                (None, Some(n)) => Some(*n),
            }
        };
        let txs = if complete {
            lock(&self.shared.mempool).take(
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
            waited_ms = now.duration_since(pending.asked).as_millis() as u64,
            held = pending.held,
            backlog = self.backlog.blocks.len(),
            "proposing"
        );
        let payload = Payload { result, txs };
        let digest = payload.digest();
        if self.preverified.len() < PAYLOADS_MAX {
            self.preverified.insert(digest, Arc::new(pre));
        }
        self.payloads.insert(digest, Arc::new(payload));
        Ok(Some(Event::PayloadReady {
            round: pending.round,
            payload: digest,
            timestamp_ms: now_ms().max(parent_ts),
        }))
    }

    async fn commit(
        &mut self,
        blocks: Vec<Block>,
        proof: hutong_consensus::types::QuorumCert,
    ) -> anyhow::Result<()> {
        let last = blocks.len().saturating_sub(1);
        let keep: HashSet<Digest> = self.known.values().map(|k| k.digest).collect();
        let taken = take_committed(&mut self.payloads, &blocks, &keep);
        for (i, (block, payload)) in blocks.into_iter().zip(taken).enumerate() {
            let id = block.id();
            let payload = match payload {
                Some(p) => p,
                None => match self.shared.db.block(&id) {
                    Ok(Some(stored)) => Arc::new(stored.payload),
                    _ => {
                        // Consensus accepted the block, so its payload was
                        // here; losing it is a bug, not a peer's fault.
                        anyhow::bail!("committed block {id:?} has no payload");
                    }
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

    /// Hands queued blocks to the executor while its queue has room. The
    /// host never waits for the executor: it must go on reading the
    /// network, or peers' messages would pile up in front of it.
    fn feed_executor(&mut self) -> anyhow::Result<()> {
        while let Some(job) = self.backlog.unsent.pop_front() {
            match self.exec.try_send(job) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(job)) => {
                    self.backlog.unsent.push_front(job);
                    break;
                }
                Err(mpsc::error::TrySendError::Closed(_)) => anyhow::bail!("the executor stopped"),
            }
        }
        let mut s = lock(&self.shared.consensus);
        s.backlog_blocks = self.backlog.blocks.len() as u64;
        s.backlog_txs = self.backlog.txs as u64;
        Ok(())
    }

    /// Starts checking a proposal's payload; the verdict comes back as
    /// [`Internal::Verified`].
    fn check_payload(&mut self, block: Block) {
        let Some(payload) = self.payloads.get(&block.payload).cloned() else {
            let verdict = Err(PayloadError::Missing {
                digest: block.payload,
            });
            let _ = self
                .internal_tx
                .try_send(Internal::Verified { block, verdict });
            return;
        };
        if let Err(e) = self.check_stateless(&block, &payload) {
            let _ = self.internal_tx.try_send(Internal::Verified {
                block,
                verdict: Err(e),
            });
            return;
        }
        // Transactions the mempool holds were verified on admission.
        let known: Vec<bool> = {
            let pool = lock(&self.shared.mempool);
            payload
                .txs
                .iter()
                .map(|t| pool.contains(&t.hash()))
                .collect()
        };
        let internal = self.internal_tx.clone();
        let unpooled = known.iter().filter(|k| !**k).count() as u64;
        Counters::add(&self.shared.counters.sigchecks_proposal, unpooled);
        tokio::task::spawn_blocking(move || {
            let unknown: Vec<_> = payload
                .txs
                .iter()
                .zip(&known)
                .filter(|(_, k)| !**k)
                .map(|(t, _)| t.clone())
                .collect();
            let checked = verify_parallel(&unknown, available_threads());
            let mut pre = Preverified {
                hashes: Vec::with_capacity(payload.txs.len()),
                senders: Vec::with_capacity(payload.txs.len()),
                valid: Vec::with_capacity(payload.txs.len()),
            };
            let mut j = 0;
            let mut verdict = Ok(());
            for (index, (tx, k)) in payload.txs.iter().zip(&known).enumerate() {
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
            let verdict = verdict.map(|_| Arc::new(pre));
            let _ = internal.blocking_send(Internal::Verified { block, verdict });
        });
    }

    fn check_stateless(&self, block: &Block, payload: &Payload) -> Result<(), PayloadError> {
        payload.check_bounds()?;
        for (index, tx) in payload.txs.iter().enumerate() {
            if tx.tx.chain_id != self.shared.chain_id {
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
                let executed = self.shared.executed();
                (executed.block_id == block.parent_id()).then_some(executed.timestamp_ms)
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
        if claim.height > self.shared.executed().height {
            return None;
        }
        let verdict = match self.shared.db.result_at(claim.height) {
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
            _ => Err(PayloadError::ResultAhead {
                claimed: claim.height,
                parent: self.shared.executed().height,
            }),
        };
        Some(verdict)
    }

    async fn on_internal(&mut self, internal: Internal) -> anyhow::Result<()> {
        match internal {
            Internal::Verified { block, verdict } => {
                let pre = match verdict {
                    Ok(pre) => pre,
                    Err(e) => return self.verdict(&block, Err(e)).await,
                };
                let now = now_ms();
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
                    return self.verdict(&block, Err(e)).await;
                }
                match self.check_result(&block) {
                    Some(result) => {
                        if result.is_ok() {
                            self.preverified.insert(block.payload, pre);
                        }
                        self.verdict(&block, result).await?;
                    }
                    None => {
                        if self.waiting.len() >= WAITING_CHECKS_MAX {
                            self.waiting.remove(0);
                        }
                        self.waiting.push(WaitingCheck { block, pre });
                    }
                }
            }
            Internal::Fetched(Some(SyncResponse::Block(Some(stored)))) => {
                if stored.payload.digest() == stored.block.payload {
                    let stored = *stored;
                    let block = stored.block.clone();
                    let added = self.add_payload(stored.block.payload, stored.payload);
                    self.apply(Event::BlockFetched { block }).await?;
                    self.forget_unused(added.as_slice());
                }
            }
            Internal::Synced(Some(SyncResponse::Committed {
                blocks,
                proof: Some(proof),
            })) => {
                self.sync_in_flight = None;
                let mut plain = Vec::with_capacity(blocks.len());
                let mut added = Vec::new();
                for stored in blocks {
                    if stored.payload.digest() != stored.block.payload {
                        tracing::warn!("sync response with a payload that does not match");
                        self.forget_unused(&added);
                        return Ok(());
                    }
                    added.extend(self.add_payload(stored.block.payload, stored.payload));
                    plain.push(stored.block);
                }
                tracing::info!(blocks = plain.len(), "synced committed blocks");
                self.apply(Event::SyncResponse {
                    blocks: plain,
                    proof,
                })
                .await?;
                // Blocks consensus did not take (committed already, by an
                // earlier answer) leave nothing behind: their payloads
                // used to stay until the map held 4,096.
                self.forget_unused(&added);
            }
            Internal::Synced(_) => self.sync_in_flight = None,
            Internal::Fetched(_) => {}
        }
        Ok(())
    }

    /// Adds a payload that came from a peer's store under its (checked)
    /// digest; returns the digest if it was not there yet.
    fn add_payload(&mut self, digest: Digest, payload: Payload) -> Option<Digest> {
        match self.payloads.entry(digest) {
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(Arc::new(payload));
                Some(digest)
            }
            std::collections::hash_map::Entry::Occupied(_) => None,
        }
    }

    /// Removes those of `added` that no known block refers to.
    fn forget_unused(&mut self, added: &[Digest]) {
        if added.is_empty() {
            return;
        }
        let used: HashSet<Digest> = self.known.values().map(|k| k.digest).collect();
        forget_unused(&mut self.payloads, added, &used);
    }

    async fn verdict(
        &mut self,
        block: &Block,
        result: Result<(), PayloadError>,
    ) -> anyhow::Result<()> {
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
        .await
    }

    /// A block was executed: finish payload checks that waited for it and
    /// forget blocks at or below it.
    async fn on_executed(&mut self) -> anyhow::Result<()> {
        let executed = self.shared.executed().height;
        self.backlog.executed(executed);
        self.feed_executor()?;
        if !self.backlog.deferring {
            if let Some(from) = self.sync_skipped.take() {
                self.bulk_sync(from, self.core.committed().height.0);
            }
        }
        if self.pending_proposal.as_ref().is_some_and(|p| p.held) && !self.execution_behind() {
            self.propose_now().await?;
        }
        let waiting = std::mem::take(&mut self.waiting);
        for w in waiting {
            match self.check_result(&w.block) {
                Some(result) => {
                    if result.is_ok() {
                        self.preverified.insert(w.block.payload, w.pre.clone());
                    }
                    self.verdict(&w.block, result).await?;
                }
                None => self.waiting.push(w),
            }
        }
        let stale: Vec<BlockId> = self
            .known
            .iter()
            .filter(|(_, k)| k.height <= executed)
            .map(|(id, _)| *id)
            .collect();
        for id in stale {
            if let Some(k) = self.known.remove(&id) {
                self.preverified.remove(&k.digest);
                // Two blocks may carry the same payload (a re-proposal).
                if !self.known.values().any(|o| o.digest == k.digest) {
                    self.payloads.remove(&k.digest);
                }
            }
        }
        if self.payloads.len() > PAYLOADS_MAX {
            let keep: HashSet<Digest> = self.known.values().map(|k| k.digest).collect();
            self.payloads.retain(|d, _| keep.contains(d));
        }
        Ok(())
    }
}

/// Removes the payloads of `added` that are not in `used`.
fn forget_unused(
    payloads: &mut HashMap<Digest, Arc<Payload>>,
    added: &[Digest],
    used: &HashSet<Digest>,
) {
    for digest in added {
        if !used.contains(digest) {
            payloads.remove(digest);
        }
    }
}

/// The payloads of `blocks`, committed together, from memory (`None` for
/// one that is not there: the caller reads it from the store). Those that
/// no block in `keep` (the known, unexecuted ones) refers to then leave
/// the map, as the executor's jobs hold them now: synced blocks' payloads
/// would otherwise stay. Only after all are taken, since blocks may share
/// a payload (two empty blocks with the same result claim).
fn take_committed(
    payloads: &mut HashMap<Digest, Arc<Payload>>,
    blocks: &[Block],
    keep: &HashSet<Digest>,
) -> Vec<Option<Arc<Payload>>> {
    let taken = blocks
        .iter()
        .map(|b| payloads.get(&b.payload).cloned())
        .collect();
    for b in blocks {
        if !keep.contains(&b.payload) {
            payloads.remove(&b.payload);
        }
    }
    taken
}

async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
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

    fn block(round: u64, payload: Digest) -> Block {
        use hutong_consensus::types::{Epoch, Height, QuorumCert};
        Block {
            epoch: Epoch(1),
            round: Round(round),
            height: Height(round),
            proposer: ValidatorId(0),
            timestamp_ms: round,
            payload,
            justify: QuorumCert::genesis(Epoch(1), Digest([1; 32]), Height(0)),
            timeout_cert: None,
        }
    }

    #[test]
    fn blocks_committed_together_may_share_a_payload() {
        let empty = Payload {
            result: ResultClaim {
                height: 3,
                state_root: Hash([0; 32]),
                receipts_root: Hash([0; 32]),
            },
            txs: Vec::new(),
        };
        let (shared, own) = (empty.digest(), Digest([7; 32]));
        let mut payloads = HashMap::from([
            (shared, Arc::new(empty.clone())),
            (own, Arc::new(empty.clone())),
        ]);
        // Two synced empty blocks with the same claim, and one whose
        // payload a known block still refers to.
        let blocks = [block(4, shared), block(5, shared), block(6, own)];
        let keep = HashSet::from([own]);
        let taken = take_committed(&mut payloads, &blocks, &keep);
        assert!(taken.iter().all(Option::is_some), "{taken:?}");
        assert!(!payloads.contains_key(&shared));
        assert!(payloads.contains_key(&own));
    }

    #[test]
    fn a_synced_payload_nothing_refers_to_leaves_the_map() {
        let payload = |h: u64| Payload {
            result: ResultClaim {
                height: h,
                state_root: Hash([0; 32]),
                receipts_root: Hash([0; 32]),
            },
            txs: Vec::new(),
        };
        let (stale, kept, earlier) = (payload(1), payload(2), payload(3));
        let mut payloads: HashMap<Digest, Arc<Payload>> = [&stale, &kept, &earlier]
            .into_iter()
            .map(|p| (p.digest(), Arc::new(p.clone())))
            .collect();
        // An answer added `stale` (its block was committed already) and
        // `kept` (a known block refers to it); `earlier` was in the map
        // before the answer and is not the answer's to remove.
        let used = HashSet::from([kept.digest()]);
        forget_unused(&mut payloads, &[stale.digest(), kept.digest()], &used);
        assert!(!payloads.contains_key(&stale.digest()));
        assert!(payloads.contains_key(&kept.digest()));
        assert!(payloads.contains_key(&earlier.digest()));
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

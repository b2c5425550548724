//! The round state machine: proposals, votes, timeouts, certificates and
//! commits, as events in and actions out. See the crate documentation for
//! the protocol and [`crate::safety`] for the rules that keep it safe.
//!
//! Transitions (each cites its rule; names in `code` are the functions of
//! the DiemBFT v4 report's modules that the transition implements):
//! - **Enter round** `r` on a QC of round `r − 1` or a TC of round `r − 1`
//!   (Pacemaker `advance_round_qc`, `advance_round_tc`): arm the round
//!   timer; the leader of `r` asks for a payload.
//! - **Propose**: the leader extends its highest QC, with the TC of
//!   `r − 1` when the QC is older (V2 makes validators require it; Main
//!   `process_new_round_event`); never twice in a round (P1).
//! - **Vote** for a valid proposal of the current round if the safety rules
//!   allow (V1, V2: Safety `make_vote`); persist, then send the vote to
//!   the leader of `r + 1` (Main `process_proposal_msg`).
//! - **Aggregate** a quorum of `2f + 1` matching votes into a QC (Block-tree
//!   `process_vote`); the QC is then processed like any other.
//! - **Process a QC** (Block-tree `process_qc`, Main
//!   `process_certificates`): keep the highest QC, commit the parent of a
//!   QC certifying consecutive rounds (the two-chain commit rule,
//!   [`crate::types::VoteData::commits`]), and enter the next round.
//! - **Time out** the current round when its timer fires (T1: Safety
//!   `make_timeout`, Pacemaker `local_timeout_round`); persist, then
//!   broadcast. A quorum of `2f + 1` timeouts forms a TC (Pacemaker
//!   `process_remote_timeout`), which enters the next round. Timers back off
//!   exponentially while rounds keep failing.

mod catchup;
mod certify;
mod leader;
mod pacemaker;

use std::collections::{BTreeMap, HashMap};

use leader::{reputation_window, Link};
use std::time::Duration;

use crate::messages::{Action, Equivocation, Event, Message, Proposal, Timeout, Vote};
use crate::safety::{self, SafetyData};
use crate::types::{
    Block, BlockId, Digest, Epoch, Height, QuorumCert, Round, SignatureBytes, TimeoutCert,
    ValidatorId, VoteData,
};
use crate::validators::{CertError, ValidatorSet, Verifier};

/// Signing with this validator's key, supplied by the host (so the key can
/// live in an HSM).
pub trait Signer {
    fn sign(&self, message: &Digest) -> SignatureBytes;
}

#[derive(Debug, Clone)]
pub struct Config {
    /// The first round timeout; it doubles with each consecutive failed
    /// round, up to `max_timeout`, and resets on progress.
    pub base_timeout: Duration,
    pub max_timeout: Duration,
    /// Messages for rounds further ahead than this are dropped: nothing a
    /// peer sends can make the core keep state for arbitrary rounds.
    pub round_window: u64,
    /// Most uncommitted blocks kept.
    pub blocks_max: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            base_timeout: Duration::from_millis(1_000),
            max_timeout: Duration::from_secs(60),
            round_window: 1_000,
            blocks_max: 10_000,
        }
    }
}

/// Why an incoming message was dropped. Counted; never a panic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DropReason {
    NotMember,
    WrongEpoch,
    FarFuture,
    Stale,
    NotLeader,
    BadSignature,
    BadCertificate(CertError),
    Malformed,
    Equivocation,
    TooManyBlocks,
    /// The host found the proposal's payload invalid.
    BadPayload,
}

impl DropReason {
    /// A stable name, for counters and logs.
    pub fn code(&self) -> &'static str {
        match self {
            DropReason::NotMember => "not_member",
            DropReason::WrongEpoch => "wrong_epoch",
            DropReason::FarFuture => "far_future",
            DropReason::Stale => "stale",
            DropReason::NotLeader => "not_leader",
            DropReason::BadSignature => "bad_signature",
            DropReason::BadCertificate(_) => "bad_certificate",
            DropReason::Malformed => "malformed",
            DropReason::Equivocation => "equivocation",
            DropReason::TooManyBlocks => "too_many_blocks",
            DropReason::BadPayload => "bad_payload",
        }
    }

    /// Whether only a faulty sender sends such a message. Validators send
    /// their own messages straight to each other (nothing is relayed), so
    /// a bad signature, a forged certificate, a malformed or equivocating
    /// message is its sender's doing. Stale, far-future, wrong-epoch and
    /// not-leader messages are not: honest nodes that are behind, or see
    /// a different chain for a moment, send them.
    pub fn is_misbehaviour(&self) -> bool {
        match self {
            DropReason::BadSignature
            | DropReason::Malformed
            | DropReason::Equivocation
            | DropReason::BadPayload => true,
            DropReason::BadCertificate(e) => !matches!(e, CertError::WrongEpoch { .. }),
            DropReason::NotMember
            | DropReason::WrongEpoch
            | DropReason::FarFuture
            | DropReason::Stale
            | DropReason::NotLeader
            | DropReason::TooManyBlocks => false,
        }
    }
}

/// Most blocks a sync response may carry for the core to take it; a
/// longer one is dropped as malformed. (The node answers with fewer: its
/// own bound on what it serves is `hutong_wire::SYNC_ANSWER_BLOCKS_MAX`.)
pub const SYNC_RESPONSE_BLOCKS_MAX: usize = 1_000;

/// Behind by more than this many blocks, a validator syncs committed
/// blocks in bulk instead of fetching ancestors one by one.
const SYNC_GAP: u64 = 16;

/// Most blocks being fetched at once.
const MISSING_MAX: usize = 1_024;

/// The votes collected for one [`VoteData`], by voter.
type VoteTally = (VoteData, BTreeMap<ValidatorId, SignatureBytes>);

/// The committed end of the chain: everything up to it is final.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Committed {
    pub id: BlockId,
    pub round: Round,
    pub height: Height,
}

pub struct Consensus<S, V> {
    me: ValidatorId,
    /// Whether this node votes and proposes in the current epoch; a node
    /// dropped from the validator set follows passively.
    member: bool,
    /// The latest later epoch reported with [`Action::EpochAhead`].
    epoch_ahead: Epoch,
    validators: ValidatorSet,
    signer: S,
    verifier: V,
    config: Config,
    safety: SafetyData,
    round: Round,
    started: bool,
    high_qc: QuorumCert,
    high_tc: Option<TimeoutCert>,
    /// Uncommitted blocks, by id (the committed root is `committed`).
    blocks: HashMap<BlockId, Block>,
    committed: Committed,
    /// Votes by round, then by what they sign.
    votes: BTreeMap<Round, HashMap<Digest, VoteTally>>,
    /// The first vote of each validator in each round, for evidence.
    first_votes: BTreeMap<(Round, ValidatorId), Vote>,
    /// The first proposal of each round, for evidence.
    first_proposals: BTreeMap<(Round, ValidatorId), Proposal>,
    timeouts: BTreeMap<Round, BTreeMap<ValidatorId, (Round, SignatureBytes)>>,
    /// Blocks asked for with [`Action::Fetch`], each with the blocks that
    /// wait for it.
    missing: HashMap<BlockId, Vec<BlockId>>,
    /// Blocks whose payload the host found valid, and blocks waiting for
    /// its verdict.
    payload_valid: std::collections::HashSet<BlockId>,
    payload_pending: std::collections::HashSet<BlockId>,
    /// A commit that waits for missing ancestors.
    pending_commit: Option<(BlockId, QuorumCert)>,
    /// The round in which bulk sync was last requested, if unanswered.
    sync_requested: Option<Round>,
    /// The round in which a far-future message's certificate was last
    /// checked (see `take_far_future_certificate`).
    far_future_checked: Option<Round>,
    /// Parent links (parent id, own round) of known blocks, committed ones
    /// included for a while: the leader-reputation rule reads the chain.
    links: HashMap<BlockId, Link>,
    failed_rounds: u32,
    dropped: BTreeMap<&'static str, u64>,
    last_message_drop: Option<DropReason>,
    out: Vec<Action>,
}

impl<S, V> std::fmt::Debug for Consensus<S, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Consensus")
            .field("me", &self.me)
            .field("round", &self.round)
            .field("high_qc", &self.high_qc.round())
            .field("committed", &self.committed)
            .field("high_tc", &self.high_tc.as_ref().map(|tc| tc.round))
            .field(
                "timeouts",
                &self
                    .timeouts
                    .iter()
                    .map(|(r, s)| (r.0, s.len()))
                    .collect::<Vec<_>>(),
            )
            .field("missing", &self.missing.len())
            .field("blocks", &self.blocks.len())
            .finish_non_exhaustive()
    }
}

impl<S: Signer, V: Verifier> Consensus<S, V> {
    /// A validator starting the epoch from its genesis block.
    pub fn new(
        me: ValidatorId,
        validators: ValidatorSet,
        signer: S,
        verifier: V,
        config: Config,
    ) -> Self {
        let epoch = validators.epoch();
        let genesis = validators.genesis();
        let height = validators.genesis_height();
        Self::restore(
            me,
            validators,
            signer,
            verifier,
            config,
            SafetyData::new(epoch),
            Vec::new(),
            Committed {
                id: genesis,
                round: Round(0),
                height,
            },
        )
    }

    /// A validator restarting from what it persisted: its safety data, the
    /// blocks it stored, and its last committed block.
    #[allow(clippy::too_many_arguments)]
    pub fn restore(
        me: ValidatorId,
        validators: ValidatorSet,
        signer: S,
        verifier: V,
        config: Config,
        safety: SafetyData,
        blocks: Vec<Block>,
        committed: Committed,
    ) -> Self {
        let mut high_qc = validators.genesis_qc();
        let mut tree = HashMap::new();
        let keep_from = committed
            .round
            .0
            .saturating_sub(reputation_window(validators.len()));
        let links = blocks
            .iter()
            .filter(|b| b.epoch == validators.epoch() && b.round.0 > keep_from)
            .map(|b| (b.id(), Link::of(b)))
            .collect();
        // Only this epoch's blocks above the committed one count: a block
        // store may still hold the previous epoch's tail.
        for b in blocks {
            if b.epoch == validators.epoch() && b.round > committed.round {
                if b.justify.round() > high_qc.round() {
                    high_qc = b.justify.clone();
                }
                tree.insert(b.id(), b);
            }
        }
        Consensus {
            me,
            member: validators.key(me).is_some(),
            epoch_ahead: validators.epoch(),
            validators,
            signer,
            verifier,
            config,
            safety,
            round: Round(0),
            started: false,
            high_qc,
            high_tc: None,
            blocks: tree,
            committed,
            votes: BTreeMap::new(),
            first_votes: BTreeMap::new(),
            first_proposals: BTreeMap::new(),
            timeouts: BTreeMap::new(),
            missing: HashMap::new(),
            payload_valid: Default::default(),
            payload_pending: Default::default(),
            pending_commit: None,
            sync_requested: None,
            far_future_checked: None,
            links,
            failed_rounds: 0,
            dropped: BTreeMap::new(),
            last_message_drop: None,
            out: Vec::new(),
        }
    }

    pub fn round(&self) -> Round {
        self.round
    }

    pub fn epoch(&self) -> Epoch {
        self.validators.epoch()
    }

    /// New round timeouts (the consortium voted new timing); they apply
    /// from the next timer this core sets.
    pub fn set_timeouts(&mut self, base: Duration, max: Duration) {
        self.config.base_timeout = base;
        self.config.max_timeout = max;
    }

    /// The current epoch's validator set.
    pub fn validators(&self) -> &ValidatorSet {
        &self.validators
    }

    pub fn committed(&self) -> Committed {
        self.committed
    }

    /// The latest epoch a peer's message came from (at least this node's
    /// own): above [`Consensus::epoch`], this node missed an epoch change
    /// and must catch up on the ledger before it can take part again.
    pub fn epoch_ahead(&self) -> Epoch {
        self.epoch_ahead
    }

    pub fn high_qc(&self) -> &QuorumCert {
        &self.high_qc
    }

    pub fn safety(&self) -> &SafetyData {
        &self.safety
    }

    /// Blocks being fetched (for metrics and diagnosis).
    pub fn missing_blocks(&self) -> Vec<BlockId> {
        let mut ids: Vec<BlockId> = self.missing.keys().copied().collect();
        ids.sort();
        ids
    }

    /// Why the last [`Event::Message`] was dropped, if it was: the host
    /// penalises the peer that sent it when the reason is
    /// [`DropReason::is_misbehaviour`].
    pub fn last_message_drop(&self) -> Option<&DropReason> {
        self.last_message_drop.as_ref()
    }

    /// Messages dropped so far, by reason.
    pub fn dropped(&self) -> &BTreeMap<&'static str, u64> {
        &self.dropped
    }

    /// Feeds one event; returns the actions to carry out, in order.
    pub fn handle(&mut self, event: Event) -> Vec<Action> {
        match event {
            Event::Start => {
                self.started = true;
                let r = self.entry_round();
                self.enter_round(r, true);
            }
            Event::Timer { round } => self.on_timer(round),
            Event::PayloadChecked { block_id, valid } => self.on_payload_checked(block_id, valid),
            Event::SyncResponse { blocks, proof } => {
                if let Err(reason) = self.on_sync(blocks, proof) {
                    self.drop(reason);
                }
            }
            Event::NewEpoch { validators, me } => self.on_new_epoch(validators, me),
            Event::BlockFetched { block } => {
                if let Err(reason) = self.on_fetched(block) {
                    self.drop(reason);
                }
            }
            Event::PayloadReady {
                round,
                payload,
                timestamp_ms,
            } => self.propose(round, payload, timestamp_ms),
            Event::Message { from, message } => {
                self.last_message_drop = None;
                if self.validators.key(from).is_none() {
                    self.drop(DropReason::NotMember);
                    self.last_message_drop = Some(DropReason::NotMember);
                } else {
                    self.take_far_future_certificate(&message);
                    if let Err(reason) = self.on_message(from, message) {
                        self.drop(reason.clone());
                        self.last_message_drop = Some(reason);
                    }
                }
            }
        }
        std::mem::take(&mut self.out)
    }

    /// A message more than `round_window` rounds ahead is dropped, but the
    /// certificate it carries (a proposal's, a timeout's highest) is
    /// checked and taken: it is proof that the chain has moved on, and
    /// the only way a node that was stopped or wiped for longer than the
    /// window learns where to sync to (every message it receives is far
    /// future). At most one such check per round this node is in, so a
    /// flood of far-future messages costs one certificate check.
    fn take_far_future_certificate(&mut self, message: &Message) {
        let (epoch, round, qc) = match message {
            Message::Proposal(p) => (p.block.epoch, p.block.round, &p.block.justify),
            Message::Timeout(t) => (t.data.epoch, t.data.round, &t.high_qc),
            Message::Vote(_) | Message::TimeoutCert(_) => return,
        };
        if epoch != self.validators.epoch()
            || round.0 <= self.round.0.saturating_add(self.config.round_window)
            || qc.round() <= self.high_qc.round()
            || self.far_future_checked == Some(self.round)
        {
            return;
        }
        self.far_future_checked = Some(self.round);
        if self.validators.verify_qc(qc, &self.verifier).is_ok() {
            self.process_qc(qc.clone());
        }
    }

    fn drop(&mut self, reason: DropReason) {
        *self.dropped.entry(reason.code()).or_default() += 1;
    }

    fn persist_safety(&mut self, next: SafetyData) {
        if next != self.safety {
            self.safety = next.clone();
            self.out.push(Action::PersistSafety(next));
        }
    }

    /// Propose: the leader extends its highest QC (with the TC of the
    /// previous round when the QC is older).
    fn propose(&mut self, round: Round, payload: Digest, timestamp_ms: u64) {
        if round != self.round
            || self.leader(round) != self.me
            || round <= self.safety.last_voted_round
        {
            return;
        }
        let direct = self.high_qc.round().next() == round;
        let timeout_cert = if direct {
            None
        } else {
            match &self.high_tc {
                Some(tc) if tc.round.next() == round => Some(tc.clone()),
                _ => return,
            }
        };
        let block = Block {
            epoch: self.validators.epoch(),
            round,
            height: Height(self.high_qc.data.height.0 + 1),
            proposer: self.me,
            timestamp_ms,
            payload,
            justify: self.high_qc.clone(),
            timeout_cert,
        };
        // P1: persist that this round is proposed before the proposal leaves.
        let Ok(next) = safety::propose(&self.safety, &block) else {
            return;
        };
        self.persist_safety(next);
        // The leader's own payload came from its host: valid by definition.
        self.payload_valid.insert(block.id());
        let proposal = Proposal {
            signature: self.signer.sign(&block.id()),
            block,
        };
        self.out
            .push(Action::Broadcast(Message::Proposal(proposal.clone())));
        // The leader votes for its own block like everyone else.
        if let Err(reason) = self.on_proposal(self.me, proposal) {
            self.drop(reason);
        }
    }

    fn on_message(&mut self, from: ValidatorId, message: Message) -> Result<(), DropReason> {
        let epoch = match &message {
            Message::Proposal(p) => p.block.epoch,
            Message::Vote(v) => v.data.epoch,
            Message::Timeout(t) => t.data.epoch,
            Message::TimeoutCert(tc) => tc.epoch,
        };
        if epoch > self.validators.epoch() {
            if epoch > self.epoch_ahead {
                self.epoch_ahead = epoch;
                self.out.push(Action::EpochAhead { epoch, from });
            }
            return Err(DropReason::WrongEpoch);
        }
        match message {
            Message::Proposal(p) => self.on_proposal(from, p),
            Message::Vote(v) => self.on_vote(v),
            Message::Timeout(t) => self.on_timeout(t),
            Message::TimeoutCert(tc) => self.on_timeout_cert(tc),
        }
    }

    fn check_round(&self, round: Round) -> Result<(), DropReason> {
        if round.0 > self.round.0.saturating_add(self.config.round_window) {
            return Err(DropReason::FarFuture);
        }
        if round <= self.committed.round && self.committed.round > Round(0) {
            return Err(DropReason::Stale);
        }
        Ok(())
    }

    fn verify_qc(&self, qc: &QuorumCert) -> Result<(), DropReason> {
        // The highest QC is already verified; most proposals carry it.
        if *qc == self.high_qc {
            return Ok(());
        }
        self.validators
            .verify_qc(qc, &self.verifier)
            .map_err(DropReason::BadCertificate)
    }

    fn on_proposal(&mut self, _from: ValidatorId, proposal: Proposal) -> Result<(), DropReason> {
        let block = &proposal.block;
        if block.epoch != self.validators.epoch() {
            return Err(DropReason::WrongEpoch);
        }
        self.check_round(block.round)?;
        if block.proposer
            != self.leader_after(
                block.round,
                block.justify.data.block_id,
                block.justify.round(),
            )
        {
            return Err(DropReason::NotLeader);
        }
        let id = block.id();
        let key = self
            .validators
            .key(block.proposer)
            .ok_or(DropReason::NotMember)?;
        if !self.verifier.verify(key, &id, &proposal.signature) {
            return Err(DropReason::BadSignature);
        }
        // Two leaders may propose in one round when they extend different
        // certificates (reputation reads each one's chain); one leader
        // proposing twice is an equivocation.
        if let Some(first) = self.first_proposals.get(&(block.round, block.proposer)) {
            if first.block.id() != id {
                let evidence = Equivocation::Proposals(Box::new(first.clone()), Box::new(proposal));
                self.out.push(Action::Equivocation(evidence));
                return Err(DropReason::Equivocation);
            }
        }
        if block.round <= block.justify.round()
            || Some(block.height.0) != block.justify.data.height.0.checked_add(1)
        {
            return Err(DropReason::Malformed);
        }
        self.verify_qc(&block.justify)?;
        if let Some(tc) = &block.timeout_cert {
            self.validators
                .verify_tc(tc, &self.verifier)
                .map_err(DropReason::BadCertificate)?;
        }
        self.first_proposals
            .insert((block.round, block.proposer), proposal.clone());

        let block = proposal.block;
        self.process_qc(block.justify.clone());
        if let Some(tc) = &block.timeout_cert {
            self.process_tc(tc.clone());
        }
        if !self.blocks.contains_key(&id) {
            if self.blocks.len() >= self.config.blocks_max {
                return Err(DropReason::TooManyBlocks);
            }
            self.out.push(Action::PersistBlock(block.clone()));
            self.links.insert(id, Link::of(&block));
            self.blocks.insert(id, block.clone());
        }
        if !self.has_ancestry(&block, block.proposer) {
            // We cannot vote on a block whose ancestry we cannot check
            // against our own committed chain; its parent is on its way.
            return Ok(());
        }
        if block.round == self.round {
            self.try_vote(&block);
        }
        Ok(())
    }

    fn on_payload_checked(&mut self, block_id: BlockId, valid: bool) {
        if !self.payload_pending.remove(&block_id) {
            return;
        }
        if !valid {
            self.drop(DropReason::BadPayload);
            return;
        }
        self.payload_valid.insert(block_id);
        if let Some(block) = self.blocks.get(&block_id).cloned() {
            if block.round == self.round && self.has_ancestry(&block, block.proposer) {
                self.try_vote(&block);
            }
        }
    }

    /// Vote (V1, V2): persist the safety data, then send the vote to the
    /// next round's leader.
    fn try_vote(&mut self, block: &Block) {
        if !self.member {
            return;
        }
        let id = block.id();
        if !self.payload_valid.contains(&id) {
            // Ask the host first; the vote waits for its verdict.
            if self.payload_pending.len() < self.config.blocks_max
                && self.payload_pending.insert(id)
            {
                self.out.push(Action::CheckPayload {
                    block: block.clone(),
                });
            }
            return;
        }
        let Ok((next, data)) = safety::vote(&self.safety, block) else {
            return;
        };
        self.persist_safety(next);
        let vote = Vote {
            signature: self.signer.sign(&data.signing_message()),
            data,
            voter: self.me,
        };
        let next_leader = self.leader_after(block.round.next(), block.id(), block.round);
        if next_leader == self.me {
            if let Err(reason) = self.on_vote(vote) {
                self.drop(reason);
            }
        } else {
            self.out.push(Action::Send {
                to: next_leader,
                message: Message::Vote(vote),
            });
        }
    }
}

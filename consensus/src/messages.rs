//! What validators send each other, and what the host tells the core.

use std::time::Duration;

use borsh::{BorshDeserialize, BorshSerialize};

use crate::safety::SafetyData;
use crate::types::{
    Block, BlockId, Height, QuorumCert, Round, SignatureBytes, TimeoutCert, TimeoutData,
    ValidatorId, VoteData,
};

/// A block signed by its proposer (over [`Block::id`]).
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Proposal {
    pub block: Block,
    pub signature: SignatureBytes,
}

/// A vote, sent to the next round's leader.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Vote {
    pub data: VoteData,
    pub voter: ValidatorId,
    pub signature: SignatureBytes,
}

/// A timeout, broadcast, with the certificate behind its high-QC round so
/// that whoever aggregates the timeouts can propose on it.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Timeout {
    pub data: TimeoutData,
    pub high_qc: QuorumCert,
    /// The sender's highest timeout certificate, so that a validator that
    /// missed it catches up to the round the others time out in.
    pub high_tc: Option<TimeoutCert>,
    pub voter: ValidatorId,
    pub signature: SignatureBytes,
}

#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum Message {
    Proposal(Proposal),
    Vote(Vote),
    Timeout(Timeout),
    /// A timeout certificate, so that validators that missed some timeouts
    /// still enter the next round.
    TimeoutCert(TimeoutCert),
}

/// Something the host tells the core.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Enter the first round (after construction or restart).
    Start,
    /// A message from a peer. The host has authenticated the connection;
    /// the core still checks every signature inside.
    Message { from: ValidatorId, message: Message },
    /// The round timer set by [`Action::SetTimer`] fired.
    Timer { round: Round },
    /// A block the core asked for with [`Action::Fetch`], fetched by the
    /// host from a peer's block store. Its id is its hash, so it cannot be
    /// forged; the core still checks its certificate.
    BlockFetched { block: Block },
    /// The epoch ended with a committed block (the host learned it by
    /// executing that block): continue in the next epoch with `validators`,
    /// as `me`, or follow passively if this node is not a validator of it.
    NewEpoch {
        validators: crate::validators::ValidatorSet,
        me: Option<ValidatorId>,
    },
    /// Committed blocks the core asked for with [`Action::SyncRequest`],
    /// oldest first, and the commit certificate of the last one (the QC of
    /// its child in the next round). The core checks the hash chain from
    /// its own committed block and the certificate before committing them.
    SyncResponse {
        blocks: Vec<Block>,
        proof: QuorumCert,
    },
    /// The host's verdict on a payload the core asked it to check with
    /// [`Action::CheckPayload`].
    PayloadChecked { block_id: BlockId, valid: bool },
    /// The payload the core asked for with [`Action::NeedPayload`].
    PayloadReady {
        round: Round,
        payload: crate::types::Digest,
        timestamp_ms: u64,
    },
}

/// Something the core asks the host to do, in order. A `Persist*` action
/// must be durable before any later action is carried out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Store the safety data (fsync) before going on.
    PersistSafety(SafetyData),
    /// Store a block the core has accepted into its tree.
    PersistBlock(Block),
    Send {
        to: ValidatorId,
        message: Message,
    },
    Broadcast(Message),
    /// Fire [`Event::Timer`] for `round` after `after`, unless a later
    /// round's timer replaces it.
    SetTimer {
        round: Round,
        after: Duration,
    },
    /// This validator leads `round`: build a payload on `parent` and answer
    /// with [`Event::PayloadReady`].
    NeedPayload {
        round: Round,
        parent: BlockId,
    },
    /// These blocks are final, in order; `proof` is the certificate of the
    /// last one's child in the next round, which proves it to anyone.
    Commit {
        blocks: Vec<Block>,
        proof: QuorumCert,
    },
    /// Check that `block`'s payload is valid (its batches are available and
    /// proven, its transactions well-formed) and answer with
    /// [`Event::PayloadChecked`]; the core votes only for valid payloads.
    CheckPayload {
        block: Block,
    },
    /// This validator is far behind: ask `from` for the committed blocks
    /// after `after` (at most [`crate::core::SYNC_RESPONSE_BLOCKS_MAX`]) with a
    /// commit certificate, and answer with [`Event::SyncResponse`].
    SyncRequest {
        after: Height,
        from: ValidatorId,
    },
    /// A block needed to go on is missing; ask `from` for it.
    Fetch {
        block_id: BlockId,
        from: ValidatorId,
    },
    /// A member sent a message of a later epoch: this node is behind an
    /// epoch change and should sync the epoch-ending block (reported once
    /// per epoch).
    EpochAhead {
        epoch: crate::types::Epoch,
        from: ValidatorId,
    },
    /// A validator signed two conflicting messages: signed evidence.
    Equivocation(Equivocation),
}

/// Two signed, conflicting messages from one validator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Equivocation {
    Proposals(Box<Proposal>, Box<Proposal>),
    Votes(Box<Vote>, Box<Vote>),
}

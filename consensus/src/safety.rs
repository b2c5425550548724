//! Safety rules: when a validator may vote or time out, and what it must
//! persist first. Everything that keeps honest validators from committing
//! conflicting blocks is here, in pure functions over [`SafetyData`].
//!
//! The caller persists the returned `SafetyData` (fsync) before the vote or
//! timeout leaves the node. After a crash the validator restarts from what
//! it persisted, so it can never vote twice in a round: a second request
//! for the same round gets the same vote back, or a refusal.
//!
//! The rules (two-chain HotStuff as in Jolteon / DiemBFT v4). The labels
//! are ours; each names the part of the DiemBFT v4 report's Safety module
//! (The Diem Team, "DiemBFT v4: State Machine Replication in the Diem
//! Blockchain", 2021, whose safety rules Jolteon shares) that it
//! implements:
//! - **Vote (V1)**: vote for block `B` only if `B.round` is above every
//!   round voted or timed out in (`is_safe_to_vote`:
//!   `block_round > max(highest_vote_round, qc_round)`).
//! - **Vote (V2)**: and `B` extends the certificate of the directly
//!   preceding round (`B.round = B.qc.round + 1`), or `B` carries a timeout
//!   certificate for the preceding round and `B.qc.round` is at least the
//!   highest certified round any of its signers reported
//!   (`is_safe_to_vote`: `consecutive(block_round, qc_round) ||
//!   safe_to_extend(block_round, qc_round, tc)`).
//! - **Propose (P1)**: a leader proposes at most once per round (not a
//!   rule of the report, whose leader keeps no state: a restarted leader
//!   that proposed twice would equivocate, so Hutong persists it like a
//!   vote).
//! - **Timeout (T1)**: time out round `r` only when in it
//!   (`r = qc.round + 1` or `r = tc.round + 1`), reporting a certificate no
//!   lower than the highest one ever seen; afterwards never vote in `r`
//!   (`is_safe_to_timeout`: `qc_round >= highest_qc_round`,
//!   `round > max(highest_vote_round - 1, qc_round)` and
//!   `consecutive(round, qc_round) || consecutive(round, tc.round)`; then
//!   `increase_highest_vote_round(round)`).
//!
//! Why that is safe: if block `B` (round `r`) is committed, a quorum voted
//! for its child in round `r + 1`, so more than f honest validators hold a
//! certificate of round ≥ `r` before they vote or time out in any later
//! round (V1 orders their actions). A timeout certificate for any later
//! round has a quorum of signers, so at least one of those honest ones,
//! which reports a high-QC round ≥ `r` (T1); by V2 every later block that
//! skips rounds must extend a certificate of round ≥ `r`, and one that
//! does not skip extends the preceding round's certificate. By induction
//! on rounds, every certified block after `r` descends from `B`.

use borsh::{BorshDeserialize, BorshSerialize};

use crate::types::{Block, Epoch, QuorumCert, Round, TimeoutCert, TimeoutData, VoteData};

/// What a validator must remember across restarts, per epoch.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct SafetyData {
    pub epoch: Epoch,
    /// The highest round it voted or timed out in; it never votes in a
    /// round at or below this again (V1).
    pub last_voted_round: Round,
    /// The highest round of a quorum certificate it has seen (its lock);
    /// its timeouts never report less (T1).
    pub highest_qc_round: Round,
    /// Its last vote, re-sent unchanged if asked again for the same block.
    pub last_vote: Option<VoteData>,
    /// Its last timeout, re-sent unchanged for the same round.
    pub last_timeout: Option<TimeoutData>,
    /// The last round it proposed in, as leader; it never proposes twice in
    /// a round, even across a restart (that would be an equivocation).
    pub last_proposed_round: Round,
}

impl SafetyData {
    /// The state of a validator that has done nothing yet in `epoch`.
    pub fn new(epoch: Epoch) -> SafetyData {
        SafetyData {
            epoch,
            last_voted_round: Round(0),
            highest_qc_round: Round(0),
            last_vote: None,
            last_timeout: None,
            last_proposed_round: Round(0),
        }
    }
}

/// Why a validator refuses to vote or time out. These are normal events in
/// a protocol with faulty leaders and late messages, not errors of the
/// validator itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SafetyError {
    #[error("message is for epoch {got}, this validator is in epoch {expected}")]
    WrongEpoch { expected: Epoch, got: Epoch },
    #[error("round {round} is not above the last voted round {last_voted_round} (V1)")]
    RoundNotNew {
        round: Round,
        last_voted_round: Round,
    },
    #[error("already proposed in round {last_proposed_round}; round {round} is not above it (P1)")]
    AlreadyProposed {
        round: Round,
        last_proposed_round: Round,
    },
    #[error("already voted in round {round} for another block")]
    WouldEquivocate { round: Round },
    #[error("block of round {round} extends a certificate of round {qc_round} without a timeout certificate that allows it (V2)")]
    NotSafeToVote {
        round: Round,
        qc_round: Round,
        tc_round: Option<Round>,
        tc_high_qc_round: Option<Round>,
    },
    #[error("cannot time out round {round} with a certificate of round {qc_round} (highest seen {highest_qc_round}) (T1)")]
    NotSafeToTimeout {
        round: Round,
        qc_round: Round,
        tc_round: Option<Round>,
        highest_qc_round: Round,
    },
}

fn check_epoch(data: &SafetyData, got: Epoch) -> Result<(), SafetyError> {
    if data.epoch != got {
        return Err(SafetyError::WrongEpoch {
            expected: data.epoch,
            got,
        });
    }
    Ok(())
}

/// Decides whether to vote for `block` (whose certificates the caller has
/// already verified). On success, returns the safety data to persist before
/// the vote is sent, and what to sign.
pub fn vote(data: &SafetyData, block: &Block) -> Result<(SafetyData, VoteData), SafetyError> {
    check_epoch(data, block.epoch)?;
    let vote = block.vote_data();
    if let Some(last) = &data.last_vote {
        if last.round == block.round {
            // A restarted or retried validator gets its own vote back; a
            // different block in the same round is an equivocation.
            return if last.block_id == vote.block_id {
                Ok((data.clone(), *last))
            } else {
                Err(SafetyError::WouldEquivocate { round: block.round })
            };
        }
    }
    // V1.
    if block.round <= data.last_voted_round {
        return Err(SafetyError::RoundNotNew {
            round: block.round,
            last_voted_round: data.last_voted_round,
        });
    }
    // V2.
    let qc_round = block.justify.round();
    let direct = qc_round.0.checked_add(1) == Some(block.round.0);
    let via_timeout = block.timeout_cert.as_ref().is_some_and(|tc| {
        tc.round.0.checked_add(1) == Some(block.round.0) && qc_round >= tc.highest_qc_round()
    });
    if !(direct || via_timeout) {
        return Err(SafetyError::NotSafeToVote {
            round: block.round,
            qc_round,
            tc_round: block.timeout_cert.as_ref().map(|tc| tc.round),
            tc_high_qc_round: block.timeout_cert.as_ref().map(|tc| tc.highest_qc_round()),
        });
    }
    let next = SafetyData {
        epoch: data.epoch,
        last_voted_round: block.round,
        highest_qc_round: data.highest_qc_round.max(qc_round),
        last_vote: Some(vote),
        last_timeout: data.last_timeout,
        last_proposed_round: data.last_proposed_round,
    };
    Ok((next, vote))
}

/// Decides whether to time out `round`, given the highest certificate the
/// validator holds and the timeout certificate that brought it into
/// `round`, if any. Returns the safety data to persist before the timeout
/// is sent, and what to sign.
pub fn timeout(
    data: &SafetyData,
    round: Round,
    high_qc: &QuorumCert,
    tc: Option<&TimeoutCert>,
) -> Result<(SafetyData, TimeoutData), SafetyError> {
    check_epoch(data, high_qc.data.epoch)?;
    // The same timeout again, unless the validator has since seen a higher
    // certificate: then it signs a new timeout for the round that reports
    // it (allowed by T1, and needed, since the message must carry the
    // certificate it reports).
    if let Some(last) = &data.last_timeout {
        if last.round == round && last.high_qc_round == high_qc.round() {
            return Ok((data.clone(), *last));
        }
    }
    // Timing out the round it voted in is allowed (the round may still
    // fail); any earlier round is not.
    if round < data.last_voted_round {
        return Err(SafetyError::RoundNotNew {
            round,
            last_voted_round: data.last_voted_round,
        });
    }
    let qc_round = high_qc.round();
    let in_round = qc_round.0.checked_add(1) == Some(round.0)
        || tc.is_some_and(|tc| tc.round.0.checked_add(1) == Some(round.0));
    if !in_round || qc_round < data.highest_qc_round {
        return Err(SafetyError::NotSafeToTimeout {
            round,
            qc_round,
            tc_round: tc.map(|tc| tc.round),
            highest_qc_round: data.highest_qc_round,
        });
    }
    let signed = TimeoutData {
        epoch: data.epoch,
        round,
        high_qc_round: qc_round,
    };
    let next = SafetyData {
        epoch: data.epoch,
        last_voted_round: data.last_voted_round.max(round),
        highest_qc_round: qc_round,
        last_vote: data.last_vote,
        last_timeout: Some(signed),
        last_proposed_round: data.last_proposed_round,
    };
    Ok((next, signed))
}

/// Decides whether this validator, as leader, may propose `block`: never
/// twice in a round (P1). Returns the safety data to persist before the
/// proposal is sent.
pub fn propose(data: &SafetyData, block: &Block) -> Result<SafetyData, SafetyError> {
    check_epoch(data, block.epoch)?;
    if block.round <= data.last_proposed_round {
        return Err(SafetyError::AlreadyProposed {
            round: block.round,
            last_proposed_round: data.last_proposed_round,
        });
    }
    Ok(SafetyData {
        last_proposed_round: block.round,
        ..data.clone()
    })
}

/// Records a verified certificate the validator has seen. Its timeouts must
/// report at least this round from now on, so the result must be persisted
/// before the next timeout is sent (a [`timeout`] call persists it anyway).
pub fn observe_qc(data: &SafetyData, qc: &QuorumCert) -> SafetyData {
    let mut next = data.clone();
    if qc.data.epoch == data.epoch {
        next.highest_qc_round = data.highest_qc_round.max(qc.round());
    }
    next
}

//! Table-driven tests of the safety rules and the commit rule.

use hutong_consensus::safety::{self, SafetyData, SafetyError};
use hutong_consensus::types::{
    Block, Digest, Epoch, Height, QuorumCert, Round, SignatureBytes, TimeoutCert, ValidatorId,
    VoteData,
};

const E: Epoch = Epoch(1);

fn genesis_id() -> Digest {
    Digest::tagged(b"test-genesis", b"")
}

/// A certificate for a (fictional) block of `round` whose parent is in
/// `parent_round`; safety rules trust certificates the caller verified.
fn qc(round: u64, parent_round: u64) -> QuorumCert {
    if round == 0 {
        return QuorumCert::genesis(E, genesis_id(), Height(0));
    }
    QuorumCert {
        data: VoteData {
            epoch: E,
            round: Round(round),
            height: Height(round),
            block_id: Digest::tagged(b"block", &round.to_le_bytes()),
            parent_id: Digest::tagged(b"block", &parent_round.to_le_bytes()),
            parent_round: Round(parent_round),
        },
        signers: vec![ValidatorId(0), ValidatorId(1), ValidatorId(2)],
        signatures: vec![SignatureBytes([0; 64]); 3],
    }
}

fn tc(round: u64, high_qc_rounds: &[u64]) -> TimeoutCert {
    TimeoutCert {
        epoch: E,
        round: Round(round),
        signers: high_qc_rounds
            .iter()
            .enumerate()
            .map(|(i, r)| (ValidatorId(i as u16), Round(*r)))
            .collect(),
        signatures: vec![SignatureBytes([0; 64]); high_qc_rounds.len()],
    }
}

fn block(round: u64, justify: QuorumCert, timeout_cert: Option<TimeoutCert>, payload: u8) -> Block {
    Block {
        epoch: E,
        round: Round(round),
        height: Height(justify.data.height.0 + 1),
        proposer: ValidatorId(0),
        timestamp_ms: 1_000 * round,
        payload: Digest([payload; 32]),
        justify,
        timeout_cert,
    }
}

#[test]
fn voting_rule_table() {
    struct Case {
        name: &'static str,
        state: SafetyData,
        block: Block,
        expect: Result<Round, fn(&SafetyError) -> bool>,
    }
    let fresh = SafetyData::new(E);
    let voted = |round: u64| SafetyData {
        last_voted_round: Round(round),
        ..SafetyData::new(E)
    };
    let cases = vec![
        Case {
            name: "first block on genesis",
            state: fresh.clone(),
            block: block(1, qc(0, 0), None, 1),
            expect: Ok(Round(1)),
        },
        Case {
            name: "next round on the previous round's QC",
            state: voted(4),
            block: block(5, qc(4, 3), None, 1),
            expect: Ok(Round(5)),
        },
        Case {
            name: "round already voted",
            state: voted(5),
            block: block(5, qc(4, 3), None, 1),
            expect: Err(|e| matches!(e, SafetyError::RoundNotNew { .. })),
        },
        Case {
            name: "older round",
            state: voted(7),
            block: block(5, qc(4, 3), None, 1),
            expect: Err(|e| matches!(e, SafetyError::RoundNotNew { .. })),
        },
        Case {
            name: "skips a round without a TC",
            state: voted(1),
            block: block(3, qc(1, 0), None, 1),
            expect: Err(|e| matches!(e, SafetyError::NotSafeToVote { .. })),
        },
        Case {
            name: "skips a round with a TC whose high QCs it covers",
            state: voted(1),
            block: block(3, qc(1, 0), Some(tc(2, &[1, 1, 0])), 1),
            expect: Ok(Round(3)),
        },
        Case {
            name: "TC reports a higher QC than the block extends",
            state: voted(1),
            block: block(4, qc(1, 0), Some(tc(3, &[1, 2, 1])), 1),
            expect: Err(|e| matches!(e, SafetyError::NotSafeToVote { .. })),
        },
        Case {
            name: "TC for the wrong round",
            state: voted(1),
            block: block(4, qc(1, 0), Some(tc(2, &[1, 1, 1])), 1),
            expect: Err(|e| matches!(e, SafetyError::NotSafeToVote { .. })),
        },
        Case {
            name: "wrong epoch",
            state: SafetyData::new(Epoch(2)),
            block: block(1, qc(0, 0), None, 1),
            expect: Err(|e| matches!(e, SafetyError::WrongEpoch { .. })),
        },
    ];
    for case in cases {
        let got = safety::vote(&case.state, &case.block);
        match (got, case.expect) {
            (Ok((next, vote)), Ok(round)) => {
                assert_eq!(vote.round, round, "{}", case.name);
                assert_eq!(vote.block_id, case.block.id(), "{}", case.name);
                assert_eq!(next.last_voted_round, round, "{}", case.name);
                assert_eq!(next.last_vote, Some(vote), "{}", case.name);
                assert!(
                    next.highest_qc_round >= case.block.justify.round(),
                    "{}",
                    case.name
                );
            }
            (Err(e), Err(check)) => assert!(check(&e), "{}: unexpected refusal {e}", case.name),
            (got, _) => panic!("{}: got {got:?}", case.name),
        }
    }
}

#[test]
fn a_validator_never_votes_twice_in_a_round_even_after_a_restart() {
    let b = block(1, qc(0, 0), None, 1);
    let (state, vote) = safety::vote(&SafetyData::new(E), &b).unwrap();
    // What was persisted comes back after a crash.
    let bytes = borsh::to_vec(&state).unwrap();
    let restored: SafetyData = borsh::from_slice(&bytes).unwrap();
    // The same block again: the same vote, nothing new to persist.
    let (again, same) = safety::vote(&restored, &b).unwrap();
    assert_eq!((again, same), (restored.clone(), vote));
    // A conflicting block in the same round (an equivocating leader).
    let other = block(1, qc(0, 0), None, 2);
    assert_ne!(other.id(), b.id());
    assert!(matches!(
        safety::vote(&restored, &other),
        Err(SafetyError::WouldEquivocate { .. })
    ));
}

#[test]
fn timeout_rule_table() {
    let fresh = SafetyData::new(E);
    // Time out round 1 holding the genesis QC.
    let (s, t) = safety::timeout(&fresh, Round(1), &qc(0, 0), None).unwrap();
    assert_eq!((t.round, t.high_qc_round), (Round(1), Round(0)));
    assert_eq!(s.last_voted_round, Round(1));
    // After timing out, no vote in that round.
    assert!(matches!(
        safety::vote(&s, &block(1, qc(0, 0), None, 1)),
        Err(SafetyError::RoundNotNew { .. })
    ));
    // The same timeout again is the same message.
    assert_eq!(safety::timeout(&s, Round(1), &qc(0, 0), None).unwrap().1, t);
    // Entering round 2 through the TC of round 1, then timing it out too.
    let (s2, t2) = safety::timeout(&s, Round(2), &qc(0, 0), Some(&tc(1, &[0, 0, 0]))).unwrap();
    assert_eq!(t2.round, Round(2));
    // Not in round 5: neither the QC nor the TC leads there.
    assert!(matches!(
        safety::timeout(&s2, Round(5), &qc(2, 1), Some(&tc(2, &[0, 0, 0]))),
        Err(SafetyError::NotSafeToTimeout { .. })
    ));

    // Timing out the round it voted in is allowed (the round may still fail).
    let (voted, _) = safety::vote(&SafetyData::new(E), &block(1, qc(0, 0), None, 1)).unwrap();
    assert!(safety::timeout(&voted, Round(1), &qc(0, 0), None).is_ok());
    // But not an earlier round.
    let later = SafetyData {
        last_voted_round: Round(4),
        highest_qc_round: Round(3),
        ..SafetyData::new(E)
    };
    assert!(matches!(
        safety::timeout(&later, Round(3), &qc(2, 1), None),
        Err(SafetyError::RoundNotNew { .. })
    ));
    // A timeout never reports less than the highest QC ever seen.
    let seen = safety::observe_qc(&SafetyData::new(E), &qc(6, 5));
    assert_eq!(seen.highest_qc_round, Round(6));
    assert!(matches!(
        safety::timeout(&seen, Round(5), &qc(4, 3), None),
        Err(SafetyError::NotSafeToTimeout { .. })
    ));
    assert!(safety::timeout(&seen, Round(7), &qc(6, 5), None).is_ok());
}

#[test]
fn two_chain_commit_rule() {
    // A certificate on a block whose parent is in the previous round
    // commits the parent; a gap commits nothing.
    assert_eq!(qc(5, 4).data.commits(), Some(qc(5, 4).data.parent_id));
    assert_eq!(qc(5, 3).data.commits(), None);
    let max = VoteData {
        round: Round(0),
        parent_round: Round(u64::MAX),
        ..qc(1, 0).data
    };
    assert_eq!(
        max.commits(),
        None,
        "no overflow at the top of the round space"
    );
}

#[test]
fn a_leader_never_proposes_twice_in_a_round() {
    let b = block(4, qc(3, 2), None, 1);
    let s = safety::propose(&SafetyData::new(E), &b).unwrap();
    assert_eq!(s.last_proposed_round, Round(4));
    // After a restart from what was persisted, the same round is refused,
    // whatever the block.
    let other = block(4, qc(3, 2), None, 2);
    assert_eq!(
        safety::propose(&s, &other),
        Err(SafetyError::AlreadyProposed {
            round: Round(4),
            last_proposed_round: Round(4),
        })
    );
    assert!(safety::propose(&s, &block(5, qc(4, 3), None, 1)).is_ok());
}

#[test]
fn a_repeated_timeout_reports_a_higher_certificate_seen_since() {
    let (s, first) = safety::timeout(
        &SafetyData::new(E),
        Round(3),
        &qc(1, 0),
        Some(&tc(2, &[1, 1, 0])),
    )
    .unwrap();
    assert_eq!(first.high_qc_round, Round(1));
    // A certificate of round 2 arrives while round 3 is still failing: the
    // next timeout for round 3 reports it, and carries it.
    let (_, second) = safety::timeout(&s, Round(3), &qc(2, 1), None).unwrap();
    assert_eq!((second.round, second.high_qc_round), (Round(3), Round(2)));
}

//! Governance by vote: proposals, votes, thresholds, vetoes, deadlines,
//! and what each action does to the consortium and the ledger.

mod common;

use common::*;
use hutong_runtime::governance::{
    Action, ActionProblem, ConsensusTiming, MemberRole, ProposalStatus, RegulatorPower, Status,
    VotingRules, VOTING_PERIOD_MIN_MS,
};
use hutong_runtime::state::{AccountKind, AssetLimits};
use hutong_runtime::{Amount, AssetCode, Effect, Keypair, Receipt, Tier, TimestampMs, TxKind};
use rand::SeedableRng;

const DAY_MS: u64 = 24 * 3_600 * 1_000;

fn chain(voting: VotingRules) -> Chain {
    Chain::governed(8, 11, 4, voting)
}

/// Member `who` proposes (signing with its current institution key,
/// `ch.members[who]`, for its account, which keeps its first address).
fn propose(ch: &mut Chain, who: usize, actions: Vec<Action>) -> (Receipt, Option<u64>) {
    let key = ch.members[who].clone();
    let account = ch.consortium().members[who].account;
    let r = ch.run(ch.tx_for(
        account,
        &key,
        TxKind::Propose {
            actions,
            voting_period_ms: DAY_MS,
        },
    ));
    let id = match &r.outcome {
        hutong_runtime::Outcome::Success { effects } => effects.iter().find_map(|e| match e {
            Effect::ProposalCreated { proposal } => Some(*proposal),
            _ => None,
        }),
        _ => None,
    };
    (r, id)
}

fn vote(ch: &mut Chain, who: &Keypair, proposal: u64, approve: bool) -> Receipt {
    ch.run(ch.tx(who, TxKind::Vote { proposal, approve }))
}

fn effects(r: &Receipt) -> Vec<Effect> {
    match &r.outcome {
        hutong_runtime::Outcome::Success { effects } => effects.clone(),
        other => panic!("expected success, got {other:?}"),
    }
}

fn code(r: &Receipt) -> Option<&'static str> {
    r.failure().map(|f| f.code())
}

fn raise_tier_1_cny(single: u128, daily: u128) -> Action {
    Action::SetTierLimits {
        tier: Tier(1),
        name: "basic".into(),
        limits: AssetLimits {
            asset: cny(),
            single_max: Amount(single),
            daily_max: Amount(daily),
            step_up_threshold: None,
        },
    }
}

fn new_member(rng: &mut rand_chacha::ChaCha20Rng, name: &str) -> (Keypair, Keypair, Action) {
    let institution = Keypair::generate(rng);
    let node = Keypair::generate(rng);
    let action = Action::AddMember {
        name: name.into(),
        institution_key: institution.public(),
        node_key: node.public(),
        role: MemberRole::Validator,
        p2p_address: Some("/ip4/10.0.0.5/tcp/26600".into()),
    };
    (institution, node, action)
}

#[test]
fn more_than_two_thirds_pass_and_execute_at_the_deciding_vote() {
    let mut ch = chain(VotingRules::default());
    let customer = ch.customers[0].clone(); // tier 1 at bank A: single max 1,000 CNY
    let to = addr(&ch.customers[2]);
    let r = ch.run(ch.transfer(&customer, to, cny(), 2_000, 1));
    assert_eq!(code(&r), Some("single_limit_exceeded"));

    let (r, id) = propose(&mut ch, 0, vec![raise_tier_1_cny(5_000, 10_000)]);
    let id = id.unwrap();
    // The proposer's own vote: 1 of 4.
    assert!(effects(&r).contains(&Effect::Voted {
        proposal: id,
        approve: true,
        approvals: 1,
        rejections: 0,
        voters: 4,
    }));
    // 2 of 4 is not more than two thirds; nothing changes yet.
    let b = ch.members[1].clone();
    let r = vote(&mut ch, &b, id, true);
    assert!(!effects(&r)
        .iter()
        .any(|e| matches!(e, Effect::ProposalExecuted { .. })));
    let r = ch.run(ch.transfer(&customer, to, cny(), 2_000, 2));
    assert_eq!(code(&r), Some("single_limit_exceeded"));
    // A changed vote counts once: member 2 says no, then yes.
    let c = ch.members[2].clone();
    let r = vote(&mut ch, &c, id, false);
    assert!(effects(&r).contains(&Effect::Voted {
        proposal: id,
        approve: false,
        approvals: 2,
        rejections: 1,
        voters: 4,
    }));
    let r = vote(&mut ch, &c, id, true);
    let height = ch.height;
    assert!(
        effects(&r).contains(&Effect::ProposalExecuted {
            proposal: id,
            epoch: None
        }),
        "{r:?}"
    );
    assert_eq!(
        ch.proposal(id).status,
        ProposalStatus::Executed {
            height: hutong_runtime::Height(height)
        }
    );
    // The new limit rules from the next transaction on.
    let r = ch.run(ch.transfer(&customer, to, cny(), 2_000, 3));
    assert!(r.is_success(), "{r:?}");
    // Votes on an executed proposal are refused.
    let d = ch.members[3].clone();
    assert_eq!(code(&vote(&mut ch, &d, id, true)), Some("proposal_closed"));
}

#[test]
fn votes_are_refused_with_a_code() {
    let mut ch = chain(VotingRules::default());
    let (_, id) = propose(&mut ch, 0, vec![raise_tier_1_cny(2_000, 4_000)]);
    let id = id.unwrap();
    // Customers and regulators without a vote may not vote.
    let customer = ch.customers[1].clone();
    assert_eq!(
        code(&vote(&mut ch, &customer, id, true)),
        Some("unauthorised")
    );
    let regulator = ch.regulator.clone();
    assert_eq!(
        code(&vote(&mut ch, &regulator, id, false)),
        Some("unauthorised")
    );
    let b = ch.members[1].clone();
    assert_eq!(code(&vote(&mut ch, &b, 99, true)), Some("unknown_proposal"));
    // After the deadline (block time), votes are refused and the proposal
    // reads as expired.
    ch.time += DAY_MS;
    let r = vote(&mut ch, &b, id, true);
    assert_eq!(code(&r), Some("voting_closed"), "{r:?}");
    assert_eq!(
        ch.proposal(id).status_at(TimestampMs(ch.time)),
        Status::Expired
    );
    // A refused vote still consumed its sequence (a ledger rule).
    assert!(r.failure().unwrap().consumes_sequence());
    // The voting period must be within bounds.
    let a = ch.members[0].clone();
    let r = ch.run(ch.tx(
        &a,
        TxKind::Propose {
            actions: vec![raise_tier_1_cny(2_000, 4_000)],
            voting_period_ms: VOTING_PERIOD_MIN_MS - 1,
        },
    ));
    assert_eq!(code(&r), Some("bad_voting_period"));
    // An empty proposal is out of bounds (it never decodes from the wire).
    let r = ch.run(ch.tx(
        &a,
        TxKind::Propose {
            actions: vec![],
            voting_period_ms: DAY_MS,
        },
    ));
    assert_eq!(code(&r), Some("out_of_bounds"));
}

#[test]
fn a_proposal_that_cannot_pass_is_rejected_and_one_can_be_withdrawn() {
    let mut ch = chain(VotingRules::default());
    let (_, id) = propose(&mut ch, 0, vec![raise_tier_1_cny(2_000, 4_000)]);
    let id = id.unwrap();
    let (b, c) = (ch.members[1].clone(), ch.members[2].clone());
    vote(&mut ch, &b, id, false);
    // With two against, at most 2 of 4 can approve: rejected.
    let r = vote(&mut ch, &c, id, false);
    assert!(effects(&r).contains(&Effect::ProposalRejected { proposal: id }));
    assert!(matches!(
        ch.proposal(id).status,
        ProposalStatus::Rejected { .. }
    ));

    let (_, id) = propose(&mut ch, 1, vec![raise_tier_1_cny(2_000, 4_000)]);
    let id = id.unwrap();
    let a = ch.members[0].clone();
    // Only the proposer withdraws.
    assert_eq!(
        code(&ch.run(ch.tx(&a, TxKind::Withdraw { proposal: id }))),
        Some("unauthorised")
    );
    let r = ch.run(ch.tx(&b, TxKind::Withdraw { proposal: id }));
    assert!(effects(&r).contains(&Effect::ProposalWithdrawn { proposal: id }));
    assert_eq!(code(&vote(&mut ch, &a, id, true)), Some("proposal_closed"));
}

#[test]
fn regulators_veto_or_vote_as_genesis_says() {
    let veto = VotingRules {
        regulators: RegulatorPower::Veto,
        ..VotingRules::default()
    };
    let mut ch = chain(veto);
    let (_, id) = propose(&mut ch, 0, vec![raise_tier_1_cny(2_000, 4_000)]);
    let id = id.unwrap();
    let regulator = ch.regulator.clone();
    // A regulator may not propose under a veto.
    let r = ch.run(ch.tx(
        &regulator,
        TxKind::Propose {
            actions: vec![raise_tier_1_cny(3_000, 4_000)],
            voting_period_ms: DAY_MS,
        },
    ));
    assert_eq!(code(&r), Some("unauthorised"));
    let r = vote(&mut ch, &regulator, id, false);
    assert!(effects(&r).contains(&Effect::ProposalRejected { proposal: id }));

    let vote_rules = VotingRules {
        regulators: RegulatorPower::Vote,
        ..VotingRules::default()
    };
    let mut ch = chain(vote_rules);
    let (r, id) = propose(&mut ch, 0, vec![raise_tier_1_cny(2_000, 4_000)]);
    let id = id.unwrap();
    // Five voters now: four members and the regulator; 4 of 5 needed.
    assert!(effects(&r)
        .iter()
        .any(|e| matches!(e, Effect::Voted { voters: 5, .. })));
    let (b, c) = (ch.members[1].clone(), ch.members[2].clone());
    vote(&mut ch, &b, id, true);
    let r = vote(&mut ch, &c, id, true);
    assert!(!effects(&r)
        .iter()
        .any(|e| matches!(e, Effect::ProposalExecuted { .. })));
    let regulator = ch.regulator.clone();
    let r = vote(&mut ch, &regulator, id, true);
    assert!(effects(&r)
        .iter()
        .any(|e| matches!(e, Effect::ProposalExecuted { .. })));
}

/// Member 0 proposes `actions`; the other members in `ch.members` approve
/// until it is decided. Returns the deciding receipt.
fn pass(ch: &mut Chain, actions: Vec<Action>) -> Receipt {
    let (r, id) = propose(ch, 0, actions);
    let Some(id) = id else {
        panic!("proposal refused: {r:?}");
    };
    for who in 1..ch.members.len() {
        let key = ch.members[who].clone();
        let account = ch.consortium().members[who].account;
        let r = ch.run(ch.tx_for(
            account,
            &key,
            TxKind::Vote {
                proposal: id,
                approve: true,
            },
        ));
        if !matches!(ch.proposal(id).status, ProposalStatus::Open) {
            return r;
        }
    }
    panic!("proposal {id} is still open: {:?}", ch.proposal(id));
}

fn executed_epoch(r: &Receipt) -> Option<Option<u64>> {
    effects(r).iter().find_map(|e| match e {
        Effect::ProposalExecuted { epoch, .. } => Some(*epoch),
        _ => None,
    })
}

#[test]
fn members_join_leave_and_change_role_at_epoch_boundaries() {
    let mut ch = chain(VotingRules::default());
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(5);
    let (newcomer, newcomer_node, add) = new_member(&mut rng, "bank-e");
    let r = pass(&mut ch, vec![add]);
    ch.members.push(newcomer.clone());
    assert_eq!(executed_epoch(&r), Some(Some(1)), "{r:?}");
    // The change waits for a block that certifies its height's result:
    // the old set stays in force until then.
    let c = ch.consortium();
    assert_eq!(c.epoch, 0);
    assert_eq!(
        c.set_change_pending,
        Some(hutong_runtime::Height(ch.height))
    );
    assert_eq!(c.active_validators.len(), 4);
    ch.execute(&[]);
    let c = ch.consortium();
    assert_eq!(c.epoch, 1);
    assert_eq!(c.epoch_start.0, ch.height + 1);
    assert_eq!(c.set_change_pending, None);
    assert_eq!(c.active_validators, c.validator_keys());
    assert_eq!(c.validators().count(), 5);
    assert_eq!(c.validator_keys()[4], newcomer_node.public());
    assert_eq!(
        c.member("bank-e").unwrap().p2p_address.as_deref(),
        Some("/ip4/10.0.0.5/tcp/26600")
    );
    // The newcomer's institution account exists, and it votes: 5 voters.
    let acct = ch.account(&addr(&newcomer)).unwrap();
    assert_eq!(acct.kind, AccountKind::Institution);
    let (r, _) = propose(&mut ch, 0, vec![raise_tier_1_cny(2_000, 4_000)]);
    assert!(effects(&r)
        .iter()
        .any(|e| matches!(e, Effect::Voted { voters: 5, .. })));

    // Demote a validator to observer: the validator set changes.
    let r = pass(
        &mut ch,
        vec![Action::SetRole {
            name: "bank-e".into(),
            role: MemberRole::Observer,
        }],
    );
    assert_eq!(executed_epoch(&r), Some(Some(2)));
    assert_eq!(ch.consortium().validators().count(), 4);
    // Now 4 validators: removing one is refused when proposed.
    let (r, _) = propose(
        &mut ch,
        0,
        vec![Action::RemoveMember {
            name: "member-3".into(),
        }],
    );
    assert_eq!(code(&r), Some("invalid_action"));
    assert!(matches!(
        r.failure(),
        Some(hutong_runtime::FailureReason::InvalidAction {
            action: 0,
            problem: ActionProblem::TooFewValidators
        })
    ));
    // An issuer cannot leave (bank B issues HKD).
    let (r, _) = propose(
        &mut ch,
        0,
        vec![
            Action::SetRole {
                name: "bank-e".into(),
                role: MemberRole::Validator,
            },
            Action::RemoveMember {
                name: "member-1".into(),
            },
        ],
    );
    assert!(matches!(
        r.failure(),
        Some(hutong_runtime::FailureReason::InvalidAction {
            action: 1,
            problem: ActionProblem::IssuerCannotLeave
        })
    ));
    // Promote bank-e and remove member-3, atomically: one epoch change.
    let bank_a = ch.bank_a.clone();
    let member_3 = addr(&ch.members[3]);
    assert!(ch
        .run(ch.transfer(&bank_a, member_3, cny(), 100, 77))
        .is_success());
    let r = pass(
        &mut ch,
        vec![
            Action::SetRole {
                name: "bank-e".into(),
                role: MemberRole::Validator,
            },
            Action::RemoveMember {
                name: "member-3".into(),
            },
        ],
    );
    assert_eq!(executed_epoch(&r), Some(Some(3)));
    let removed = ch.members[3].clone();
    let acct = ch.account(&addr(&removed)).unwrap();
    assert_eq!(acct.kind, AccountKind::Retired);
    // A retired institution keeps its money and may move it, but has no
    // other power: it cannot open accounts or propose.
    let to = addr(&ch.members[0]);
    let r = ch.run(ch.transfer(&removed, to, cny(), 10, 1));
    assert!(r.is_success(), "{r:?}");
    let r = ch.run(ch.tx(
        &removed,
        TxKind::Propose {
            actions: vec![raise_tier_1_cny(2_000, 4_000)],
            voting_period_ms: DAY_MS,
        },
    ));
    assert_eq!(code(&r), Some("unauthorised"));
}

#[test]
fn an_institution_key_rotates_and_the_old_one_stops_signing() {
    let mut ch = chain(VotingRules::default());
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(6);
    let old = ch.bank_a.clone();
    let bank_a = addr(&old);
    let new = Keypair::generate(&mut rng);
    // Bank A (member 0) proposes its own rotation.
    let r = pass(
        &mut ch,
        vec![Action::RotateInstitutionKey {
            name: "member-0".into(),
            institution_key: new.public(),
        }],
    );
    assert_eq!(executed_epoch(&r), Some(None), "not a validator-set change");
    ch.members[0] = new.clone();
    // The account keeps its address and sequence; the new key signs.
    let before = ch.sequence(&bank_a);
    let to = addr(&ch.customers[0]);
    let r = ch.run(ch.tx_for(
        bank_a,
        &new,
        TxKind::Mint {
            to,
            asset: cny(),
            amount: Amount(7),
        },
    ));
    assert!(r.is_success(), "{r:?}");
    assert_eq!(ch.sequence(&bank_a).0, before.0 + 1);
    // The old key no longer does, and consumes nothing.
    let r = ch.run(ch.tx(
        &old,
        TxKind::Mint {
            to,
            asset: cny(),
            amount: Amount(7),
        },
    ));
    assert_eq!(code(&r), Some("retired_key"));
    assert_eq!(ch.sequence(&bank_a).0, before.0 + 1);
    // Its customers keep working: a step-up transfer co-signed by the new
    // key succeeds, one co-signed by the old key is refused.
    let customer = ch.customers[2].clone(); // bank A, tier 2: step-up above 5,000 CNY
    let payee = addr(&ch.customers[1]);
    let r = ch.run(ch.transfer_cosigned(&customer, payee, 6_000, &old));
    assert_eq!(code(&r), Some("cosigner_not_institution"), "{r:?}");
    let mut t = ch.unsigned(
        &customer,
        TxKind::Transfer {
            to: payee,
            asset: cny(),
            amount: Amount(6_000),
            transfer_id: hutong_runtime::TransferId(2),
        },
    );
    t.sequence = ch.sequence(&addr(&customer));
    let r = ch.run(t.sign_cosigned(&customer, &new));
    assert!(r.is_success(), "{r:?}");
    // Nobody can open an account at the new key's address: it would
    // capture what the key signs.
    let bank_b = ch.bank_b.clone();
    let r = ch.run(ch.tx(
        &bank_b,
        TxKind::OpenAccount {
            owner: new.public(),
            tier: Tier(1),
            identity_commitment: hutong_runtime::Hash::ZERO,
            identity_envelope: Vec::new(),
        },
    ));
    assert_eq!(code(&r), Some("account_exists"));
    // A second rotation moves the alias on; the first new key retires.
    let newer = Keypair::generate(&mut rng);
    let r = pass(
        &mut ch,
        vec![Action::RotateInstitutionKey {
            name: "member-0".into(),
            institution_key: newer.public(),
        }],
    );
    assert!(executed_epoch(&r).is_some());
    let mint = TxKind::Mint {
        to,
        asset: cny(),
        amount: Amount(1),
    };
    assert_eq!(
        code(&ch.run(ch.tx_for(bank_a, &new, mint.clone()))),
        Some("unknown_sender")
    );
    assert!(ch.run(ch.tx_for(bank_a, &newer, mint)).is_success());
}

#[test]
fn node_keys_rotate_assets_are_added_and_timing_changes() {
    let mut ch = chain(VotingRules::default());
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(7);
    let node = Keypair::generate(&mut rng);
    let r = pass(
        &mut ch,
        vec![Action::RotateNodeKey {
            name: "member-2".into(),
            node_key: node.public(),
        }],
    );
    assert_eq!(executed_epoch(&r), Some(Some(1)));
    assert_eq!(ch.consortium().validator_keys()[2], node.public());
    // A key already in use is refused.
    let (r, _) = propose(
        &mut ch,
        0,
        vec![Action::RotateNodeKey {
            name: "member-1".into(),
            node_key: node.public(),
        }],
    );
    assert!(matches!(
        r.failure(),
        Some(hutong_runtime::FailureReason::InvalidAction {
            problem: ActionProblem::KeyInUse,
            ..
        })
    ));

    // A new asset and its limits, in one proposal; then its issuer mints.
    let usd = AssetCode::new("USD").unwrap();
    let r = pass(
        &mut ch,
        vec![
            Action::AddAsset {
                code: usd,
                decimals: 2,
                issuer: "member-1".into(),
            },
            Action::SetTierLimits {
                tier: Tier(1),
                name: "basic".into(),
                limits: AssetLimits {
                    asset: usd,
                    single_max: Amount(100),
                    daily_max: Amount(500),
                    step_up_threshold: None,
                },
            },
        ],
    );
    assert_eq!(executed_epoch(&r), Some(None));
    let bank_b = ch.bank_b.clone();
    let customer = addr(&ch.customers[0]);
    let r = ch.run(ch.tx(
        &bank_b,
        TxKind::Mint {
            to: customer,
            asset: usd,
            amount: Amount(1_000),
        },
    ));
    assert!(r.is_success(), "{r:?}");
    let c0 = ch.customers[0].clone();
    let r = ch.run(ch.transfer(&c0, addr(&ch.customers[2]), usd, 100, 1));
    assert!(r.is_success(), "{r:?}");

    let timing = ConsensusTiming {
        base_timeout_ms: 2_000,
        ..ConsensusTiming::default()
    };
    pass(&mut ch, vec![Action::SetConsensusTiming { timing }]);
    assert_eq!(ch.consortium().timing, timing);
    let (r, _) = propose(
        &mut ch,
        0,
        vec![Action::SetConsensusTiming {
            timing: ConsensusTiming {
                base_timeout_ms: 0,
                ..timing
            },
        }],
    );
    assert_eq!(code(&r), Some("invalid_action"));
    // Each value in range, but together not runnable: an idle round's
    // empty block would come after more than half the round timeout.
    let (r, _) = propose(
        &mut ch,
        0,
        vec![Action::SetConsensusTiming {
            timing: ConsensusTiming {
                empty_block_interval_ms: 1_200,
                ..timing
            },
        }],
    );
    assert_eq!(code(&r), Some("invalid_action"));
}

#[test]
fn a_passed_proposal_whose_action_no_longer_fits_fails_whole() {
    let mut ch = chain(VotingRules::default());
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(8);
    let (_, _, add) = new_member(&mut rng, "bank-e");
    // Two proposals: the second adds the same name, plus a limit change.
    let (_, first) = propose(&mut ch, 0, vec![add.clone()]);
    let (_, _, mut second_add) = new_member(&mut rng, "bank-e");
    if let Action::AddMember { p2p_address, .. } = &mut second_add {
        *p2p_address = None;
    }
    let (r, second) = propose(&mut ch, 1, vec![raise_tier_1_cny(2_000, 4_000), second_add]);
    let (first, second) = (first.unwrap(), second.unwrap_or_else(|| panic!("{r:?}")));
    let (b, c, d) = (
        ch.members[1].clone(),
        ch.members[2].clone(),
        ch.members[3].clone(),
    );
    vote(&mut ch, &b, first, true);
    vote(&mut ch, &c, first, true);
    assert_eq!(ch.consortium().members.len(), 5);
    // The second now passes, but its second action cannot execute: the
    // whole proposal fails, the limit change is not applied, and the vote
    // is still recorded.
    let a = ch.members[0].clone();
    vote(&mut ch, &a, second, true);
    let r = vote(&mut ch, &c, second, true);
    let r = if effects(&r)
        .iter()
        .any(|e| matches!(e, Effect::ProposalFailed { .. }))
    {
        r
    } else {
        vote(&mut ch, &d, second, true)
    };
    assert!(
        effects(&r).contains(&Effect::ProposalFailed {
            proposal: second,
            action: 1,
            problem: ActionProblem::DuplicateName
        }),
        "{r:?}"
    );
    let customer = ch.customers[0].clone();
    let r = ch.run(ch.transfer(&customer, addr(&ch.customers[2]), cny(), 1_500, 1));
    assert_eq!(code(&r), Some("single_limit_exceeded"));
}

#[test]
fn governance_is_deterministic() {
    let run = || {
        let mut ch = chain(VotingRules::default());
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(9);
        let (_, _, add) = new_member(&mut rng, "bank-e");
        pass(&mut ch, vec![add, raise_tier_1_cny(2_000, 4_000)]);
        ch.state_roots.clone()
    };
    assert_eq!(run(), run());
}

#[test]
fn open_proposals_are_bounded_per_proposer() {
    let mut ch = chain(VotingRules::default());
    for i in 0..8 {
        let (r, id) = propose(&mut ch, 0, vec![raise_tier_1_cny(2_000 + i, 4_000)]);
        assert!(id.is_some(), "{r:?}");
    }
    let (r, _) = propose(&mut ch, 0, vec![raise_tier_1_cny(3_000, 4_000)]);
    assert_eq!(code(&r), Some("too_many_proposals"));
    // Another proposer has room; and once the first's expire, so does it.
    assert!(propose(&mut ch, 1, vec![raise_tier_1_cny(3_000, 4_000)])
        .1
        .is_some());
    ch.time += DAY_MS + 1;
    assert!(propose(&mut ch, 0, vec![raise_tier_1_cny(3_000, 4_000)])
        .1
        .is_some());
}

/// A validator-set change waits for the first block that certifies the
/// result of its height. Meanwhile the old set (a rotated-out key
/// included) stays in force, its keys stay taken, and a second change to
/// the set is refused at its deciding vote.
#[test]
fn a_validator_set_change_takes_effect_once_its_result_is_certified() {
    let mut ch = chain(VotingRules::default());
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(1011);
    let before = ch.consortium().active_validators.clone();
    let rotated = Keypair::generate(&mut rng);
    let (_, _, add) = new_member(&mut rng, "bank-e");
    let (_, a) = propose(
        &mut ch,
        0,
        vec![Action::RotateNodeKey {
            name: "member-2".into(),
            node_key: rotated.public(),
        }],
    );
    let (rb, b) = propose(&mut ch, 0, vec![add]);
    assert!(b.is_some(), "{rb:?}");
    let (a, b) = (a.unwrap(), b.unwrap());
    // Every block from here certifies only the genesis result.
    let vote_in = |ch: &mut Chain, who: usize, id: u64| {
        let key = ch.members[who].clone();
        let tx = ch.tx(
            &key,
            TxKind::Vote {
                proposal: id,
                approve: true,
            },
        );
        ch.execute_certifying(&[tx], 0).remove(0)
    };
    vote_in(&mut ch, 1, a);
    vote_in(&mut ch, 2, a);
    assert!(matches!(
        ch.proposal(a).status,
        ProposalStatus::Executed { .. }
    ));
    let changed = ch.height;
    let c = ch.consortium();
    assert_eq!(c.epoch, 0);
    assert_eq!(c.set_change_pending, Some(hutong_runtime::Height(changed)));
    assert_eq!(c.active_validators, before);
    assert_eq!(c.validator_keys()[2], rotated.public());

    vote_in(&mut ch, 1, b);
    let r = vote_in(&mut ch, 2, b);
    assert!(r.is_success(), "{r:?}");
    assert!(
        matches!(
            ch.proposal(b).status,
            ProposalStatus::Failed {
                problem: ActionProblem::ValidatorChangePending,
                ..
            }
        ),
        "{:?}",
        ch.proposal(b)
    );
    assert_eq!(
        ActionProblem::ValidatorChangePending.code(),
        "validator_change_pending"
    );

    // The rotated-out key still signs in consensus: nobody may take it.
    let key = ch.members[0].clone();
    let account = ch.consortium().members[0].account;
    let tx = ch.tx_for(
        account,
        &key,
        TxKind::Propose {
            actions: vec![Action::RotateNodeKey {
                name: "member-1".into(),
                node_key: before[2],
            }],
            voting_period_ms: DAY_MS,
        },
    );
    let r = ch.execute_certifying(&[tx], 0).remove(0);
    assert!(matches!(
        r.failure(),
        Some(hutong_runtime::FailureReason::InvalidAction {
            problem: ActionProblem::KeyInUse,
            ..
        })
    ));
    assert_eq!(ch.consortium().epoch, 0);

    // The first block certifying the change's height ends the epoch.
    ch.execute_certifying(&[], changed);
    let c = ch.consortium();
    assert_eq!((c.epoch, c.epoch_start.0), (1, ch.height + 1));
    assert_eq!(c.active_validators, c.validator_keys());
    assert_eq!(c.active_validators[2], rotated.public());
    assert!(!c.active_validators.contains(&before[2]));
}

/// The block that certifies a height below the change leaves it waiting;
/// the first that certifies it (or later) ends the epoch.
#[test]
fn the_epoch_ends_at_the_first_block_certifying_the_change() {
    let mut ch = chain(VotingRules::default());
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(1012);
    let (_, _, add) = new_member(&mut rng, "bank-e");
    pass(&mut ch, vec![add]);
    let changed = ch.height;
    assert_eq!(
        ch.consortium().set_change_pending,
        Some(hutong_runtime::Height(changed))
    );
    ch.execute_certifying(&[], changed - 1);
    ch.execute_certifying(&[], changed - 1);
    assert_eq!(ch.consortium().epoch, 0);
    ch.execute_certifying(&[], changed);
    let c = ch.consortium();
    assert_eq!((c.epoch, c.epoch_start.0), (1, ch.height + 1));
    assert_eq!(c.set_change_pending, None);
    // Nothing waits now: later blocks leave the epoch alone.
    ch.execute(&[]);
    assert_eq!(ch.consortium().epoch, 1);
}

//! Epoch changes in the state machine: old-epoch messages are refused
//! after the switch, and a message from a later epoch asks the host to
//! sync, once.

use hutong_consensus::core::{Config, Consensus, Signer};
use hutong_consensus::messages::{Action, Event, Message, Proposal};
use hutong_consensus::types::{Block, Digest, Epoch, Height, Round, ValidatorId};
use hutong_consensus::validators::ValidatorSet;
use hutong_testkit::keys::{SimSigner, SimVerifier};

/// The test kit's simulated scheme (keyed hashes): enough to exercise the
/// state machine, not crypto.
fn signer(i: usize) -> SimSigner {
    SimSigner::Hash([i as u8 + 1; 32])
}

fn verifier() -> SimVerifier {
    SimVerifier::of(&(0..4).map(signer).collect::<Vec<_>>())
}

fn keys() -> Vec<[u8; 32]> {
    (0..4).map(|i| signer(i).public()).collect()
}

fn proposal(set: &ValidatorSet, round: u64, proposer: u16) -> Message {
    let block = Block {
        epoch: set.epoch(),
        round: Round(round),
        height: Height(set.genesis_height().0 + 1),
        proposer: ValidatorId(proposer),
        timestamp_ms: 1,
        payload: Digest([7; 32]),
        justify: set.genesis_qc(),
        timeout_cert: None,
    };
    let signature = signer(usize::from(proposer)).sign(&block.id());
    Message::Proposal(Proposal { block, signature })
}

#[test]
fn old_epoch_refused_and_later_epoch_reported_once() {
    let e1 = ValidatorSet::new(Epoch(1), keys(), Digest([1; 32])).unwrap();
    let mut node = Consensus::new(
        ValidatorId(3),
        e1.clone(),
        signer(3),
        verifier(),
        Config::default(),
    );
    node.handle(Event::Start);

    // A message from epoch 2 while in epoch 1: dropped, reported once.
    let e2 = ValidatorSet::next_epoch(Epoch(2), keys(), Digest([2; 32]), Height(40)).unwrap();
    let from = ValidatorId(1);
    let actions = node.handle(Event::Message {
        from,
        message: proposal(&e2, 1, 1),
    });
    assert!(
        actions.iter().any(|a| matches!(
            a,
            Action::EpochAhead {
                epoch: Epoch(2),
                ..
            }
        )),
        "{actions:?}"
    );
    let again = node.handle(Event::Message {
        from,
        message: proposal(&e2, 1, 1),
    });
    assert!(
        !again.iter().any(|a| matches!(a, Action::EpochAhead { .. })),
        "reported twice: {again:?}"
    );

    // The switch: fresh safety data persisted, round 1 of the new epoch.
    let actions = node.handle(Event::NewEpoch {
        validators: e2.clone(),
        me: Some(ValidatorId(3)),
    });
    assert!(
        actions
            .iter()
            .any(|a| matches!(a, Action::PersistSafety(s) if s.epoch == Epoch(2))),
        "{actions:?}"
    );
    assert_eq!((node.epoch(), node.round()), (Epoch(2), Round(1)));
    assert_eq!(node.committed().height, Height(40));

    // Epoch 1 traffic is now refused.
    let before = node.dropped().get("wrong_epoch").copied().unwrap_or(0);
    node.handle(Event::Message {
        from,
        message: proposal(&e1, 2, 2),
    });
    assert_eq!(
        node.dropped().get("wrong_epoch").copied().unwrap_or(0),
        before + 1
    );

    // Epoch 2's leader of round 1 is validator 1: its proposal gets a
    // payload check, then a vote for validator 2 (leader of round 2).
    let actions = node.handle(Event::Message {
        from,
        message: proposal(&e2, 1, 1),
    });
    let Some(Action::CheckPayload { block }) = actions
        .iter()
        .find(|a| matches!(a, Action::CheckPayload { .. }))
    else {
        panic!("no payload check: {actions:?}");
    };
    let actions = node.handle(Event::PayloadChecked {
        block_id: block.id(),
        valid: true,
    });
    assert!(
        actions.iter().any(|a| matches!(a, Action::Send { to: ValidatorId(2), message: Message::Vote(v) } if v.data.epoch == Epoch(2))),
        "{actions:?}"
    );
    // Persist comes before the vote leaves.
    let persist = actions
        .iter()
        .position(|a| matches!(a, Action::PersistSafety(_)))
        .unwrap();
    let send = actions
        .iter()
        .position(|a| matches!(a, Action::Send { .. }))
        .unwrap();
    assert!(persist < send);
}

#[test]
fn a_validator_dropped_from_the_set_follows_passively() {
    let e1 = ValidatorSet::new(Epoch(1), keys(), Digest([1; 32])).unwrap();
    let mut node = Consensus::new(ValidatorId(3), e1, signer(3), verifier(), Config::default());
    node.handle(Event::Start);
    let e2 = ValidatorSet::next_epoch(Epoch(2), keys()[..3].to_vec(), Digest([2; 32]), Height(9))
        .unwrap();
    node.handle(Event::NewEpoch {
        validators: e2.clone(),
        me: None,
    });
    // It neither votes nor times out.
    let actions = node.handle(Event::Message {
        from: ValidatorId(1),
        message: proposal(&e2, 1, 1),
    });
    assert!(
        !actions
            .iter()
            .any(|a| matches!(a, Action::CheckPayload { .. } | Action::Send { .. })),
        "{actions:?}"
    );
    let actions = node.handle(Event::Timer { round: Round(1) });
    assert!(
        !actions.iter().any(|a| matches!(a, Action::Broadcast(_))),
        "{actions:?}"
    );
}

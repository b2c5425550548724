//! Inputs found by the fuzz targets in `tests/fuzz`, each reduced to the
//! events that matter, so they run with the normal tests on stable.

use hutong_consensus::core::{Config, Consensus, Signer};
use hutong_consensus::messages::{Event, Message, Proposal};
use hutong_consensus::types::{
    Block, Digest, Epoch, Height, QuorumCert, Round, SignatureBytes, ValidatorId, VoteData,
};
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

fn node() -> Consensus<SimSigner, SimVerifier> {
    let set = ValidatorSet::new(Epoch(1), keys(), Digest([1; 32])).unwrap();
    let mut node = Consensus::new(
        ValidatorId(0),
        set,
        signer(0),
        verifier(),
        Config::default(),
    );
    node.handle(Event::Start);
    node
}

/// `consensus_core` crash (leader.rs: "attempt to add with overflow"): a
/// proposal whose certificate claims round u64::MAX for a block the node
/// does not know. The leader check runs before the certificate is
/// verified, and the reputation rule computed `floor + 1` with the floor at
/// u64::MAX: a panic in debug builds, and in release a wrap to a loop over
/// 2^64 rounds that hung the node. One malformed message from any member
/// did it; it must be dropped instead.
#[test]
fn proposal_on_a_certificate_of_round_u64_max_is_dropped() {
    let mut node = node();
    let forged = QuorumCert {
        data: VoteData {
            epoch: Epoch(1),
            round: Round(u64::MAX),
            height: Height(u64::MAX),
            block_id: Digest([9; 32]),
            parent_id: Digest([9; 32]),
            parent_round: Round(u64::MAX),
        },
        signers: vec![ValidatorId(0), ValidatorId(1), ValidatorId(2)],
        signatures: vec![SignatureBytes([0; 64]); 3],
    };
    let block = Block {
        epoch: Epoch(1),
        round: Round(1),
        height: Height(u64::MAX),
        proposer: ValidatorId(1),
        timestamp_ms: 0,
        payload: Digest([0; 32]),
        justify: forged,
        timeout_cert: None,
    };
    let signature = signer(1).sign(&block.id());
    let actions = node.handle(Event::Message {
        from: ValidatorId(1),
        message: Message::Proposal(Proposal { block, signature }),
    });
    assert!(actions.is_empty(), "{actions:?}");
    assert_eq!(node.dropped().get("malformed"), Some(&1));
    assert_eq!(node.round(), Round(1));
}

/// The same rule called directly: an unknown anchor at round u64::MAX
/// blames nobody, so the leader is the round-robin one.
#[test]
fn leader_after_an_unknown_anchor_at_round_u64_max_is_round_robin() {
    let node = node();
    for round in [0, 1, 5, u64::MAX] {
        assert_eq!(
            node.leader_after(Round(round), Digest([9; 32]), Round(u64::MAX)),
            node.round_robin(Round(round)),
        );
    }
}

//! Inputs found by the fuzz targets in `tests/fuzz`, each reduced to the
//! events that matter, so they run with the normal tests on stable.

use hutong_consensus::core::{Config, Consensus, Signer};
use hutong_consensus::messages::{Event, Message, Proposal};
use hutong_consensus::types::{
    Block, Digest, Epoch, Height, QuorumCert, Round, SignatureBytes, ValidatorId, VoteData,
};
use hutong_consensus::validators::{ValidatorSet, Verifier};

/// A toy scheme: the signature is the key followed by the message digest.
struct Toy([u8; 32]);

impl Signer for Toy {
    fn sign(&self, message: &Digest) -> SignatureBytes {
        let mut s = [0u8; 64];
        s[..32].copy_from_slice(&self.0);
        s[32..].copy_from_slice(&message.0);
        SignatureBytes(s)
    }
}

struct ToyVerifier;

impl Verifier for ToyVerifier {
    fn verify(&self, key: &[u8; 32], message: &Digest, signature: &SignatureBytes) -> bool {
        signature.0[..32] == key[..] && signature.0[32..] == message.0[..]
    }
}

fn keys() -> Vec<[u8; 32]> {
    (1..=4u8).map(|i| [i; 32]).collect()
}

fn node() -> Consensus<Toy, ToyVerifier> {
    let set = ValidatorSet::new(Epoch(1), keys(), Digest([1; 32])).unwrap();
    let mut node = Consensus::new(
        ValidatorId(0),
        set,
        Toy(keys()[0]),
        ToyVerifier,
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
    let signature = Toy(keys()[1]).sign(&block.id());
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

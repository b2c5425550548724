//! Consensus wire types from arbitrary bytes: the messages validators send
//! (`/hutong/consensus/1`), the sync protocol's requests and responses
//! (`/hutong/sync/1`), and the persisted safety data. The first byte picks
//! the type ([`hutong_fuzz_support::seeds::CONSENSUS_KINDS`]). Whatever
//! decodes must have one encoding, and the pure checks a node runs on it
//! (ids, certificate checks against a 4-validator set, the safety rules)
//! must answer without panicking.

#![no_main]

use hutong_consensus::messages::{Message, Proposal, Timeout, Vote};
use hutong_consensus::safety::{self, SafetyData};
use hutong_consensus::types::{Block, QuorumCert, TimeoutCert};
use hutong_consensus::validators::{ValidatorSet, Verifier};
use hutong_fuzz_support::canonical;
use hutong_fuzz_support::seeds::CONSENSUS_KINDS;
use hutong_fuzz_support::sim::{self, SimVerifier};

fn verifier() -> &'static SimVerifier {
    static V: std::sync::OnceLock<SimVerifier> = std::sync::OnceLock::new();
    V.get_or_init(sim::verifier)
}
use hutong_fuzz_support::wire::{
    ConsensusEnvelope, Payload, StoredBlock, SyncRequest, SyncResponse,
};
use libfuzzer_sys::fuzz_target;

fn check_qc(set: &ValidatorSet, qc: &QuorumCert) {
    let verdict = set.verify_qc(qc, verifier());
    // A certificate that passes has a quorum of distinct, ordered members.
    if verdict.is_ok() && !qc.is_genesis() {
        assert!(qc.signers.len() >= set.quorum());
        assert!(qc.signers.windows(2).all(|w| w[0] < w[1]));
    }
    let _ = qc.data.commits();
    let _ = qc.data.signing_message();
}

fn check_tc(set: &ValidatorSet, tc: &TimeoutCert) {
    if set.verify_tc(tc, verifier()).is_ok() {
        assert!(tc.signers.len() >= set.quorum());
        assert!(tc.highest_qc_round() < tc.round);
    }
}

fn check_block(set: &ValidatorSet, block: &Block) {
    let id = block.id();
    let vote = block.vote_data();
    assert_eq!(vote.block_id, id);
    assert_eq!(vote.parent_id, block.parent_id());
    check_qc(set, &block.justify);
    if let Some(tc) = &block.timeout_cert {
        check_tc(set, tc);
    }
    let fresh = SafetyData::new(block.epoch);
    if let Ok((next, data)) = safety::vote(&fresh, block) {
        assert_eq!(next.last_voted_round, block.round);
        assert_eq!(data.block_id, id);
        // Asked again, the same vote; never another one in that round.
        assert_eq!(safety::vote(&next, block).map(|(_, d)| d), Ok(data));
    }
    let _ = safety::propose(&fresh, block);
}

fn check_proposal(set: &ValidatorSet, p: &Proposal) {
    check_block(set, &p.block);
    if let Some(key) = set.key(p.block.proposer) {
        let _ = verifier().verify(key, &p.block.id(), &p.signature);
    }
}

fn check_vote(set: &ValidatorSet, v: &Vote) {
    if let Some(key) = set.key(v.voter) {
        let _ = verifier().verify(key, &v.data.signing_message(), &v.signature);
    }
    let _ = v.data.commits();
}

fn check_timeout(set: &ValidatorSet, t: &Timeout) {
    let _ = t.data.signing_message(&set.genesis());
    check_qc(set, &t.high_qc);
    if let Some(tc) = &t.high_tc {
        check_tc(set, tc);
    }
    let safety = SafetyData::new(t.data.epoch);
    let _ = safety::timeout(&safety, t.data.round, &t.high_qc, t.high_tc.as_ref());
    let _ = safety::observe_qc(&safety, &t.high_qc);
}

fn check_message(set: &ValidatorSet, m: &Message) {
    match m {
        Message::Proposal(p) => check_proposal(set, p),
        Message::Vote(v) => check_vote(set, v),
        Message::Timeout(t) => check_timeout(set, t),
        Message::TimeoutCert(tc) => check_tc(set, tc),
    }
}

fn check_payload(p: &Payload) {
    let _ = p.digest();
    let _ = p.check_bounds();
}

fn check_stored(set: &ValidatorSet, s: &StoredBlock) {
    check_block(set, &s.block);
    check_payload(&s.payload);
}

fuzz_target!(|data: &[u8]| {
    let Some((&kind, body)) = data.split_first() else {
        return;
    };
    let set = sim::validator_set();
    match CONSENSUS_KINDS[usize::from(kind) % CONSENSUS_KINDS.len()] {
        "message" => {
            if let Some(m) = canonical::<Message>(body) {
                check_message(&set, &m);
            }
        }
        "block" => {
            if let Some(b) = canonical::<Block>(body) {
                check_block(&set, &b);
            }
        }
        "quorum_cert" => {
            if let Some(qc) = canonical::<QuorumCert>(body) {
                check_qc(&set, &qc);
            }
        }
        "timeout_cert" => {
            if let Some(tc) = canonical::<TimeoutCert>(body) {
                check_tc(&set, &tc);
            }
        }
        "vote" => {
            if let Some(v) = canonical::<Vote>(body) {
                check_vote(&set, &v);
            }
        }
        "proposal" => {
            if let Some(p) = canonical::<Proposal>(body) {
                check_proposal(&set, &p);
            }
        }
        "timeout" => {
            if let Some(t) = canonical::<Timeout>(body) {
                check_timeout(&set, &t);
            }
        }
        "envelope" => {
            if let Some(e) = canonical::<ConsensusEnvelope>(body) {
                check_message(&set, &e.message);
                if let Some(p) = &e.payload {
                    check_payload(p);
                }
            }
        }
        "sync_request" => {
            let _ = canonical::<SyncRequest>(body);
        }
        "sync_response" => match canonical::<SyncResponse>(body) {
            Some(SyncResponse::Block(Some(s))) => check_stored(&set, &s),
            Some(SyncResponse::Committed { blocks, proof }) => {
                for s in &blocks {
                    check_stored(&set, s);
                }
                if let Some(qc) = &proof {
                    check_qc(&set, qc);
                }
            }
            _ => {}
        },
        "safety_data" => {
            if let Some(s) = canonical::<SafetyData>(body) {
                let genesis = set.genesis_qc();
                let _ = safety::observe_qc(&s, &genesis);
                let _ = safety::timeout(&s, s.last_voted_round, &genesis, None);
            }
        }
        other => unreachable!("kind {other} has no decoder"),
    }
});

//! Block payloads and proofs from arbitrary bytes: the payload a proposal
//! carries, a stored block served by sync, a batch of shared transactions,
//! a transaction inclusion proof, a state proof (what an audit proof file
//! carries), and the state and receipt types inside them. The first byte
//! picks the type ([`hutong_fuzz_support::seeds::PAYLOAD_KINDS`]). Whatever
//! decodes has one encoding; verifying an arbitrary proof answers yes or
//! no, never panics, and says yes only when the proof is right.

#![no_main]

use hutong_fuzz_support::canonical;
use hutong_fuzz_support::seeds::PAYLOAD_KINDS;
use hutong_fuzz_support::wire::{Payload, StoredBlock, TxGossip};
use hutong_runtime::block::{prove_tx, tx_root, verify_tx_inclusion};
use hutong_runtime::merkle::{self, InclusionProof};
use hutong_runtime::receipt::Receipt;
use hutong_runtime::state::{StateKey, StateValue};
use hutong_runtime::store::StateProof;
use hutong_runtime::{Hash, SignedTransaction};
use libfuzzer_sys::fuzz_target;

/// Every inclusion proof of a payload's transactions verifies, at its own
/// index only (for small payloads: proving is quadratic).
fn check_inclusion(txs: &[SignedTransaction]) {
    if txs.is_empty() || txs.len() > 16 {
        return;
    }
    let root = tx_root(txs);
    let count = txs.len() as u64;
    for (i, tx) in txs.iter().enumerate() {
        let proof = prove_tx(txs, i).expect("index in range");
        verify_tx_inclusion(tx, &proof, &root, count).expect("a genuine proof verifies");
        assert!(verify_tx_inclusion(tx, &proof, &root, count + 1).is_err());
    }
}

fn check_payload(p: &Payload) {
    let _ = p.digest();
    if p.check_bounds().is_ok() {
        check_inclusion(&p.txs);
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&kind, body)) = data.split_first() else {
        return;
    };
    match PAYLOAD_KINDS[usize::from(kind) % PAYLOAD_KINDS.len()] {
        "payload" => {
            if let Some(p) = canonical::<Payload>(body) {
                check_payload(&p);
            }
        }
        "stored_block" => {
            if let Some(s) = canonical::<StoredBlock>(body) {
                let _ = s.block.id();
                check_payload(&s.payload);
            }
        }
        "tx_gossip" => {
            if let Some(TxGossip::Batch { txs: raws, .. }) = canonical::<TxGossip>(body) {
                for raw in &raws {
                    if let Ok(tx) = SignedTransaction::decode(raw) {
                        assert_eq!(&tx.encode(), raw);
                        let _ = tx.hash();
                    }
                }
            }
        }
        "inclusion_proof" => {
            if let Some((proof, leaf, root)) = canonical::<(InclusionProof, Hash, Hash)>(body) {
                if proof.verify(&leaf, &root).is_ok() {
                    // Yes only for a proof that really leads to the root:
                    // the same path from another leaf must not.
                    let other = merkle::leaf_hash(&leaf.0);
                    assert!(proof.verify(&other, &root).is_err());
                    assert!(proof.index < proof.size);
                }
            }
        }
        "state_proof" => {
            if let Some((proof, root)) = canonical_state_proof(body) {
                if proof.verify(&root).is_ok() {
                    let _ = proof.key.key_hash();
                }
            }
        }
        "state_key" => {
            if let Some(k) = canonical::<StateKey>(body) {
                let _ = k.key_hash();
            }
        }
        "state_value" => {
            if let Some(v) = canonical::<StateValue>(body) {
                assert_eq!(v.encode(), body);
            }
        }
        "receipt" => {
            if let Some(r) = canonical::<Receipt>(body) {
                let _ = hutong_runtime::block::receipt_leaf(&r);
                if let Some(reason) = r.failure() {
                    let _ = (reason.code(), reason.consumes_sequence());
                }
            }
        }
        other => unreachable!("kind {other} has no decoder"),
    }
});

/// A state proof's round trip: one encoding per proof.
fn canonical_state_proof(body: &[u8]) -> Option<(StateProof, Hash)> {
    let value: (StateProof, Hash) = borsh::from_slice(body).ok()?;
    let encoded = borsh::to_vec(&value).expect("borsh into a Vec cannot fail");
    assert_eq!(encoded, body, "two encodings decode to one state proof");
    Some(value)
}

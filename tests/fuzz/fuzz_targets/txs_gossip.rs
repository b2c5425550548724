//! The `/hutong/txs/2` protocol from arbitrary bytes, as a node reads it:
//! a frame (length prefix and borsh body, at most `TXS_BYTES_MAX`)
//! decoded strictly into a `TxGossip`; the bounds the network checks as
//! it arrives and the digest an attestation must cover
//! (`TxGossip::check`); each shared transaction through admission's
//! checks that need no state (`mempool::check_stateless`); and an
//! attestation's signature against the validators' node keys. Whatever
//! decodes has one encoding and nothing panics; an attestation that
//! passes the check covers exactly the batch's bytes, and one whose
//! signature verifies was signed by the validator it names.

#![no_main]

use hutong_fuzz_support::sim::{node_key, VALIDATORS};
use hutong_host::mempool::check_stateless;
use hutong_runtime::SignedTransaction;
use hutong_wire::attestation::batch_digest;
use hutong_wire::p2p::{decode_frame, encode_frame, TxGossip, TXS_BYTES_MAX};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(gossip) = decode_frame::<TxGossip>(data, TXS_BYTES_MAX) else {
        return;
    };
    // One encoding: the frame that decoded is the frame it encodes to.
    let frame = encode_frame(&gossip, TXS_BYTES_MAX).expect("it decoded within the limit");
    assert_eq!(frame, data, "two frames decode to one message");
    let chain = hutong_fuzz_support::seeds::transactions()[0].tx.chain_id;
    let keys: Vec<_> = (0..VALIDATORS).map(|i| node_key(i).public()).collect();
    let checked = gossip.check(chain, VALIDATORS);
    let attestation = match &gossip {
        TxGossip::Batch {
            txs, attestation, ..
        } => {
            for raw in txs {
                if let Ok(d) = check_stateless(raw, chain) {
                    let tx = SignedTransaction::decode(raw).expect("it passed the checks");
                    assert_eq!(d.hash, tx.hash());
                    assert_eq!(d.sender, tx.tx.sender_address());
                }
            }
            if let (Ok(()), Some(a)) = (&checked, attestation) {
                assert_eq!(a.digest, batch_digest(chain, txs));
            }
            attestation.as_ref()
        }
        TxGossip::Attest(a) => Some(a),
    };
    if let Some(a) = attestation {
        for (i, key) in keys.iter().enumerate() {
            if a.verify(chain, key) {
                assert_eq!(usize::from(a.validator), i, "a signature under another index");
            }
        }
    }
});

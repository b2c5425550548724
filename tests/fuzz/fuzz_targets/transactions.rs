//! Transactions from outside (`hutong_submitTransaction`, the txs
//! protocol): `SignedTransaction::decode` on arbitrary bytes. A transaction
//! that decodes must hash, check its signatures (and say no, never panic),
//! and have exactly one encoding: the bytes it came from.

#![no_main]

use hutong_runtime::tx::{DecodeError, TX_BYTES_MAX};
use hutong_runtime::SignedTransaction;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let decoded = SignedTransaction::decode(data);
    // The strict decoder is plain borsh (whole buffer) plus bounds: it
    // accepts exactly what `borsh::from_slice` accepts within the limits.
    let plain = borsh::from_slice::<SignedTransaction>(data);
    match &decoded {
        Ok(stx) => assert_eq!(plain.as_ref().ok(), Some(stx)),
        Err(DecodeError::Malformed { .. }) => assert!(plain.is_err()),
        Err(DecodeError::TooLarge { len, .. }) => assert!(*len > TX_BYTES_MAX),
        Err(
            DecodeError::MemoTooLong { .. }
            | DecodeError::BatchSize { .. }
            | DecodeError::ProposalSize { .. }
            | DecodeError::ActionTooLong
            | DecodeError::ReferenceTooLong { .. }
            | DecodeError::TooManyPayees { .. }
            | DecodeError::LinkedSize { .. }
            | DecodeError::IdentityEnvelope { .. },
        ) => {
            let stx = plain.expect("a bounds error comes after a good decode");
            assert!(stx.tx.check_bounds().is_err());
        }
    }
    let Ok(stx) = decoded else {
        return;
    };

    // Canonical: one value, one encoding.
    let encoded = stx.encode();
    assert_eq!(encoded, data, "a transaction has two encodings: {stx:?}");
    assert_eq!(SignedTransaction::decode(&encoded).as_ref(), Ok(&stx));

    // What the mempool and execution do with it.
    let hash = stx.hash();
    let verdict = stx.verify_signatures();
    assert_eq!(verdict.is_ok(), stx.verify_signatures_with(&hash).is_ok());
    match stx.signature_items(&hash) {
        // Items exist exactly when the co-signature matches the body; each
        // item checks like the whole.
        Some(items) => {
            let all = items
                .map(|(key, msg, sig)| key.verify(&msg.0, &sig).is_ok())
                .fold(true, |a, b| a && b);
            assert_eq!(all, verdict.is_ok());
        }
        None => assert!(verdict.is_err()),
    }
    let _ = stx.tx.sender_address().to_string();
    let _ = stx.tx.sender.check_strong();
    let _ = hutong_runtime::block::tx_leaf(&stx);
    let _ = stx.tx.kind.name();
});

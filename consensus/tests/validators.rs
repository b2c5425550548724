//! Certificate checks against a validator set, with real ed25519 keys.

use ed25519_dalek::Signer as _;
use hutong_consensus::types::{
    Digest, Epoch, Height, QuorumCert, Round, SignatureBytes, TimeoutCert, TimeoutData,
    ValidatorId, VoteData,
};
use hutong_consensus::validators::{CertError, ValidatorSet, ValidatorSetError, Verifier};

struct Ed25519;

impl Verifier for Ed25519 {
    fn verify(&self, key: &[u8; 32], message: &Digest, signature: &SignatureBytes) -> bool {
        ed25519_zebra::VerificationKey::try_from(*key)
            .and_then(|vk| {
                vk.verify(
                    &ed25519_zebra::Signature::from_bytes(&signature.0),
                    &message.0,
                )
            })
            .is_ok()
    }
}

fn keys(n: usize) -> Vec<ed25519_dalek::SigningKey> {
    (0..n)
        .map(|i| ed25519_dalek::SigningKey::from_bytes(&[i as u8 + 1; 32]))
        .collect()
}

fn set(keys: &[ed25519_dalek::SigningKey]) -> ValidatorSet {
    let public = keys.iter().map(|k| k.verifying_key().to_bytes()).collect();
    ValidatorSet::new(Epoch(3), public, Digest([9; 32])).unwrap()
}

fn data() -> VoteData {
    VoteData {
        epoch: Epoch(3),
        round: Round(8),
        height: Height(8),
        block_id: Digest([1; 32]),
        parent_id: Digest([2; 32]),
        parent_round: Round(7),
    }
}

fn qc(keys: &[ed25519_dalek::SigningKey], signers: &[u16]) -> QuorumCert {
    let msg = data().signing_message();
    QuorumCert {
        data: data(),
        signers: signers.iter().map(|i| ValidatorId(*i)).collect(),
        signatures: signers
            .iter()
            .map(|i| SignatureBytes(keys[usize::from(*i)].sign(&msg.0).to_bytes()))
            .collect(),
    }
}

#[test]
fn quorum_sizes() {
    for (n, f, q) in [
        (1, 0, 1),
        (4, 1, 3),
        (5, 1, 4),
        (6, 1, 5),
        (7, 2, 5),
        (10, 3, 7),
        (100, 33, 67),
    ] {
        let s = ValidatorSet::new(
            Epoch(0),
            (0..n).map(|i| [i as u8; 32]).collect(),
            Digest::default(),
        )
        .unwrap();
        assert_eq!((s.max_faulty(), s.quorum()), (f, q), "n = {n}");
        // Two quorums always share an honest validator.
        assert!(2 * q - n > f, "n = {n}");
    }
    assert_eq!(
        ValidatorSet::new(Epoch(0), vec![], Digest::default()),
        Err(ValidatorSetError::Empty)
    );
    assert!(matches!(
        ValidatorSet::new(Epoch(0), vec![[1; 32], [2; 32], [1; 32]], Digest::default()),
        Err(ValidatorSetError::DuplicateKey { .. })
    ));
}

#[test]
fn quorum_certificates_are_checked() {
    let k = keys(4);
    let s = set(&k);
    s.verify_qc(&qc(&k, &[0, 1, 2]), &Ed25519).unwrap();
    s.verify_qc(&qc(&k, &[0, 1, 2, 3]), &Ed25519).unwrap();

    let err = |q: &QuorumCert| s.verify_qc(q, &Ed25519).unwrap_err();
    assert!(matches!(
        err(&qc(&k, &[0, 1])),
        CertError::TooFewSigners { got: 2, need: 3 }
    ));
    // f + 1 = 2 votes counted twice do not make a quorum.
    assert!(matches!(
        err(&qc(&k, &[0, 1, 1])),
        CertError::DuplicateSigner { .. }
    ));
    assert!(matches!(
        err(&qc(&k, &[2, 1, 0])),
        CertError::DuplicateSigner { .. }
    ));
    let mut outsider = qc(&k, &[0, 1, 2]);
    outsider.signers[2] = ValidatorId(9);
    assert!(matches!(err(&outsider), CertError::UnknownSigner { .. }));
    let mut forged = qc(&k, &[0, 1, 2]);
    forged.signatures[1].0[0] ^= 1;
    assert!(matches!(
        err(&forged),
        CertError::BadSignature {
            signer: ValidatorId(1)
        }
    ));
    let mut other_block = qc(&k, &[0, 1, 2]);
    other_block.data.block_id = Digest([7; 32]);
    assert!(matches!(err(&other_block), CertError::BadSignature { .. }));
    let mut short = qc(&k, &[0, 1, 2]);
    short.signatures.pop();
    assert!(matches!(err(&short), CertError::LengthMismatch { .. }));
    let mut old_epoch = qc(&k, &[0, 1, 2]);
    old_epoch.data.epoch = Epoch(2);
    assert!(matches!(err(&old_epoch), CertError::WrongEpoch { .. }));

    // Genesis: only the real one, and without signatures.
    s.verify_qc(
        &QuorumCert::genesis(Epoch(3), Digest([9; 32]), Height(0)),
        &Ed25519,
    )
    .unwrap();
    assert!(matches!(
        err(&QuorumCert::genesis(Epoch(3), Digest([8; 32]), Height(0))),
        CertError::FakeGenesis
    ));
}

#[test]
fn timeout_certificates_are_checked() {
    let k = keys(4);
    let s = set(&k);
    let make = |round: u64, signers: &[(u16, u64)]| TimeoutCert {
        epoch: Epoch(3),
        round: Round(round),
        signers: signers
            .iter()
            .map(|(i, r)| (ValidatorId(*i), Round(*r)))
            .collect(),
        signatures: signers
            .iter()
            .map(|(i, r)| {
                let m = TimeoutData {
                    epoch: Epoch(3),
                    round: Round(round),
                    high_qc_round: Round(*r),
                }
                .signing_message(&s.genesis());
                SignatureBytes(k[usize::from(*i)].sign(&m.0).to_bytes())
            })
            .collect(),
    };
    let good = make(5, &[(0, 4), (1, 3), (3, 4)]);
    s.verify_tc(&good, &Ed25519).unwrap();
    assert_eq!(good.highest_qc_round(), Round(4));
    // A signer's reported high-QC round is signed: raising it breaks the signature.
    let mut raised = good.clone();
    raised.signers[1].1 = Round(4);
    assert!(matches!(
        s.verify_tc(&raised, &Ed25519),
        Err(CertError::BadSignature { .. })
    ));
    assert!(matches!(
        s.verify_tc(&make(5, &[(0, 4), (1, 5), (3, 4)]), &Ed25519),
        Err(CertError::ImpossibleHighQc { .. })
    ));
    assert!(matches!(
        s.verify_tc(&make(5, &[(0, 4), (3, 4)]), &Ed25519),
        Err(CertError::TooFewSigners { .. })
    ));
    // The same keys, epoch and rounds in another chain (an epoch that
    // started from another block): the timeouts are signed with the
    // epoch's genesis block, so they are no timeouts there.
    let public = k.iter().map(|k| k.verifying_key().to_bytes()).collect();
    let other = ValidatorSet::new(Epoch(3), public, Digest([10; 32])).unwrap();
    assert!(matches!(
        other.verify_tc(&good, &Ed25519),
        Err(CertError::BadSignature { .. })
    ));
}

//! The validator set of an epoch, and the checks of certificates against
//! it: every certificate needs a quorum of distinct members whose
//! signatures verify.

use crate::types::{
    BlockId, Digest, Epoch, Height, QuorumCert, Round, SignatureBytes, TimeoutCert, TimeoutData,
    ValidatorId,
};

/// Signature checks, supplied by the host (ed25519 under ZIP-215 rules in
/// the node; a counting fake in tests).
pub trait Verifier {
    fn verify(&self, key: &[u8; 32], message: &Digest, signature: &SignatureBytes) -> bool;
}

/// Most validators an epoch may have (ids are `u16`; far above any
/// consortium, and it bounds every certificate's size).
pub const VALIDATORS_MAX: usize = 1_000;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValidatorSetError {
    #[error("a validator set needs at least one validator")]
    Empty,
    #[error("{count} validators; at most {VALIDATORS_MAX}")]
    TooMany { count: usize },
    #[error("validators {first} and {second} have the same key")]
    DuplicateKey {
        first: ValidatorId,
        second: ValidatorId,
    },
}

/// Why a certificate is not valid. All are permanent: the same certificate
/// will never become valid, and whoever sent it sent garbage.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertError {
    #[error("certificate is for epoch {got}, the validator set is epoch {expected}")]
    WrongEpoch { expected: Epoch, got: Epoch },
    #[error("certificate has {got} signers; a quorum is {need}")]
    TooFewSigners { got: usize, need: usize },
    #[error("certificate lists {signers} signers but {signatures} signatures")]
    LengthMismatch { signers: usize, signatures: usize },
    #[error("signer {signer} is repeated or out of order")]
    DuplicateSigner { signer: ValidatorId },
    #[error("signer {signer} is not in the validator set of {count}")]
    UnknownSigner { signer: ValidatorId, count: usize },
    #[error("signature of validator {signer} does not verify")]
    BadSignature { signer: ValidatorId },
    #[error("a round-0 certificate must be the epoch's genesis certificate")]
    FakeGenesis,
    #[error("signer {signer} reports high-QC round {high_qc_round}, not below the timed-out round {round}")]
    ImpossibleHighQc {
        signer: ValidatorId,
        high_qc_round: Round,
        round: Round,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidatorSet {
    epoch: Epoch,
    keys: Vec<[u8; 32]>,
    /// The block the epoch starts from, certified by definition, and its
    /// height (0 for the first epoch; heights continue across epochs).
    genesis: BlockId,
    genesis_height: Height,
    /// Set only by the simulator's broken-rule test; see
    /// [`ValidatorSet::weaken_quorum_for_simulation`].
    quorum_override: Option<usize>,
}

impl ValidatorSet {
    pub fn new(
        epoch: Epoch,
        keys: Vec<[u8; 32]>,
        genesis: BlockId,
    ) -> Result<Self, ValidatorSetError> {
        if keys.is_empty() {
            return Err(ValidatorSetError::Empty);
        }
        if keys.len() > VALIDATORS_MAX {
            return Err(ValidatorSetError::TooMany { count: keys.len() });
        }
        for (i, k) in keys.iter().enumerate() {
            if let Some(j) = keys[..i].iter().position(|other| other == k) {
                return Err(ValidatorSetError::DuplicateKey {
                    first: ValidatorId(j as u16),
                    second: ValidatorId(i as u16),
                });
            }
        }
        Ok(ValidatorSet {
            epoch,
            keys,
            genesis,
            genesis_height: Height(0),
            quorum_override: None,
        })
    }

    /// The validator set of a later epoch, starting from `genesis`: the
    /// committed block (at `height`) that ended the previous epoch.
    pub fn next_epoch(
        epoch: Epoch,
        keys: Vec<[u8; 32]>,
        genesis: BlockId,
        height: Height,
    ) -> Result<Self, ValidatorSetError> {
        let mut set = ValidatorSet::new(epoch, keys, genesis)?;
        set.genesis_height = height;
        Ok(set)
    }

    pub fn epoch(&self) -> Epoch {
        self.epoch
    }

    pub fn genesis_height(&self) -> Height {
        self.genesis_height
    }

    /// The certificate this epoch starts from.
    pub fn genesis_qc(&self) -> QuorumCert {
        QuorumCert::genesis(self.epoch, self.genesis, self.genesis_height)
    }

    pub fn genesis(&self) -> BlockId {
        self.genesis
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// f: the most Byzantine validators the set tolerates, `⌊(n − 1) / 3⌋`.
    pub fn max_faulty(&self) -> usize {
        (self.keys.len() - 1) / 3
    }

    /// The quorum, `n − f`: any two quorums share more than f validators,
    /// so at least one honest one (`2(n − f) − n = n − 2f > f` as n > 3f).
    pub fn quorum(&self) -> usize {
        self.quorum_override
            .unwrap_or(self.keys.len() - self.max_faulty())
    }

    /// Breaks the protocol on purpose: certificates of `f + 1` instead of
    /// `n − f`. Only the simulator's "teeth" test calls it, to show that the
    /// simulator catches a broken safety rule; nothing else may.
    #[doc(hidden)]
    pub fn weaken_quorum_for_simulation(&mut self) {
        self.quorum_override = Some(self.max_faulty() + 1);
    }

    pub fn key(&self, id: ValidatorId) -> Option<&[u8; 32]> {
        self.keys.get(usize::from(id.0))
    }

    pub fn id_of(&self, key: &[u8; 32]) -> Option<ValidatorId> {
        self.keys
            .iter()
            .position(|k| k == key)
            .map(|i| ValidatorId(i as u16))
    }

    /// Checks a quorum certificate: the epoch, a quorum of distinct
    /// members, and every signature. The genesis certificate is valid
    /// without signatures, and only for this epoch's genesis block.
    pub fn verify_qc(&self, qc: &QuorumCert, verifier: &impl Verifier) -> Result<(), CertError> {
        if qc.data.epoch != self.epoch {
            return Err(CertError::WrongEpoch {
                expected: self.epoch,
                got: qc.data.epoch,
            });
        }
        if qc.is_genesis() {
            return if *qc == self.genesis_qc() {
                Ok(())
            } else {
                Err(CertError::FakeGenesis)
            };
        }
        let message = qc.data.signing_message();
        self.verify_signers(
            qc.signers.iter().copied(),
            &qc.signatures,
            |_| message,
            verifier,
        )
    }

    /// Checks a timeout certificate: the epoch, a quorum of distinct
    /// members, each reported high-QC round below the timed-out round, and
    /// every signature.
    pub fn verify_tc(&self, tc: &TimeoutCert, verifier: &impl Verifier) -> Result<(), CertError> {
        if tc.epoch != self.epoch {
            return Err(CertError::WrongEpoch {
                expected: self.epoch,
                got: tc.epoch,
            });
        }
        for (signer, high_qc_round) in &tc.signers {
            if *high_qc_round >= tc.round {
                return Err(CertError::ImpossibleHighQc {
                    signer: *signer,
                    high_qc_round: *high_qc_round,
                    round: tc.round,
                });
            }
        }
        let messages: Vec<Digest> = tc
            .signers
            .iter()
            .map(|(_, high_qc_round)| {
                TimeoutData {
                    epoch: tc.epoch,
                    round: tc.round,
                    high_qc_round: *high_qc_round,
                }
                .signing_message(&self.genesis)
            })
            .collect();
        self.verify_signers(
            tc.signers.iter().map(|(s, _)| *s),
            &tc.signatures,
            |i| messages[i],
            verifier,
        )
    }

    fn verify_signers(
        &self,
        signers: impl ExactSizeIterator<Item = ValidatorId> + Clone,
        signatures: &[SignatureBytes],
        message: impl Fn(usize) -> Digest,
        verifier: &impl Verifier,
    ) -> Result<(), CertError> {
        if signers.len() != signatures.len() {
            return Err(CertError::LengthMismatch {
                signers: signers.len(),
                signatures: signatures.len(),
            });
        }
        if signers.len() < self.quorum() {
            return Err(CertError::TooFewSigners {
                got: signers.len(),
                need: self.quorum(),
            });
        }
        // Structure first (cheap), signatures last (expensive).
        let mut previous: Option<ValidatorId> = None;
        for signer in signers.clone() {
            if previous.is_some_and(|p| p >= signer) {
                return Err(CertError::DuplicateSigner { signer });
            }
            if self.key(signer).is_none() {
                return Err(CertError::UnknownSigner {
                    signer,
                    count: self.len(),
                });
            }
            previous = Some(signer);
        }
        for (i, (signer, signature)) in signers.zip(signatures).enumerate() {
            let key = self.key(signer).expect("membership checked above");
            if !verifier.verify(key, &message(i), signature) {
                return Err(CertError::BadSignature { signer });
            }
        }
        Ok(())
    }
}

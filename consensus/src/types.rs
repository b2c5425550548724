//! The protocol's data: rounds, blocks, votes, timeouts and their
//! certificates. Consensus orders opaque payload digests; what a payload
//! means (batches of transactions) is the host's business.

use std::fmt;

use borsh::{BorshDeserialize, BorshSerialize};
use sha2::{Digest as _, Sha256};

macro_rules! quantity {
    ($(#[$doc:meta])* $name:ident($inner:ty)) => {
        $(#[$doc])*
        #[derive(
            Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, BorshSerialize,
            BorshDeserialize,
        )]
        pub struct $name(pub $inner);

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}", self.0)
            }
        }
    };
}

quantity!(
    /// The validator set's generation; it changes only at an epoch boundary
    /// decided by a committed block.
    Epoch(u64)
);
quantity!(
    /// A round of the protocol: one proposal slot with one leader.
    Round(u64)
);
quantity!(
    /// A block's distance from the epoch's genesis block.
    Height(u64)
);
quantity!(
    /// A validator's position in its epoch's validator set.
    ValidatorId(u16)
);

impl Round {
    pub fn next(self) -> Round {
        Round(self.0.saturating_add(1))
    }
}

/// A 32-byte SHA-256 digest.
#[derive(
    Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, BorshSerialize, BorshDeserialize,
)]
pub struct Digest(pub [u8; 32]);

impl Digest {
    /// `SHA-256(tag || 0x00 || data)`: every signed or hashed message has
    /// its own tag, so bytes of one kind never pass for another.
    pub fn tagged(tag: &[u8], data: &[u8]) -> Digest {
        let mut h = Sha256::new();
        h.update(tag);
        h.update([0u8]);
        h.update(data);
        Digest(h.finalize().into())
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", &hex::encode(self.0)[..16])
    }
}

/// A block's id: the digest of its borsh encoding.
pub type BlockId = Digest;

/// An ed25519 signature, as bytes; checked through the host's
/// [`crate::validators::Verifier`].
#[derive(Clone, Copy, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct SignatureBytes(pub [u8; 64]);

impl fmt::Debug for SignatureBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sig({})", &hex::encode(self.0)[..12])
    }
}

pub mod tag {
    pub const BLOCK: &[u8] = b"hutong/consensus/block/v1";
    pub const VOTE: &[u8] = b"hutong/consensus/vote/v1";
    /// v2: the epoch's genesis block is signed too (v1 signed the epoch
    /// and rounds only, which two chains share).
    pub const TIMEOUT: &[u8] = b"hutong/consensus/timeout/v2";
}

/// What a vote certifies: a block, with what the two-chain commit rule
/// needs to know about its parent, so that a quorum certificate alone
/// tells whether it commits the parent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct VoteData {
    pub epoch: Epoch,
    pub round: Round,
    pub height: Height,
    pub block_id: BlockId,
    pub parent_id: BlockId,
    pub parent_round: Round,
}

impl VoteData {
    /// The bytes a validator signs to vote.
    pub fn signing_message(&self) -> Digest {
        Digest::tagged(
            tag::VOTE,
            &borsh::to_vec(self).expect("borsh into a Vec cannot fail"),
        )
    }

    /// The two-chain commit rule: a certificate on a block whose parent is
    /// in the directly preceding round commits that parent (and with it
    /// every ancestor).
    pub fn commits(&self) -> Option<BlockId> {
        (self.parent_round.0.checked_add(1) == Some(self.round.0)).then_some(self.parent_id)
    }
}

/// Votes of a quorum (2f + 1) on the same [`VoteData`]. `signers` is
/// strictly increasing; `signatures[i]` is the signature of `signers[i]`.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct QuorumCert {
    pub data: VoteData,
    pub signers: Vec<ValidatorId>,
    pub signatures: Vec<SignatureBytes>,
}

impl QuorumCert {
    /// The certificate every epoch starts from: it certifies the epoch's
    /// genesis block (the last block of the previous epoch, at `height`),
    /// by definition and without signatures.
    pub fn genesis(epoch: Epoch, genesis_id: BlockId, height: Height) -> QuorumCert {
        QuorumCert {
            data: VoteData {
                epoch,
                round: Round(0),
                height,
                block_id: genesis_id,
                parent_id: genesis_id,
                parent_round: Round(0),
            },
            signers: Vec::new(),
            signatures: Vec::new(),
        }
    }

    pub fn round(&self) -> Round {
        self.data.round
    }

    pub fn is_genesis(&self) -> bool {
        self.data.round == Round(0)
    }
}

/// A validator's statement that round `round` timed out, with the round of
/// the highest quorum certificate it holds. Signed with the block the
/// epoch started from ([`TimeoutData::signing_message`]), so that a
/// timeout signed with a node key in one chain (or one recovery of a
/// chain) is no timeout in another: votes are bound the same way through
/// the block ids they name, and nothing in these three numbers is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct TimeoutData {
    pub epoch: Epoch,
    pub round: Round,
    pub high_qc_round: Round,
}

impl TimeoutData {
    /// The bytes a validator signs to time out: this data and the id of
    /// the epoch's genesis block ([`crate::validators::ValidatorSet::genesis`]).
    pub fn signing_message(&self, epoch_genesis: &BlockId) -> Digest {
        let mut bytes = borsh::to_vec(self).expect("borsh into a Vec cannot fail");
        bytes.extend_from_slice(&epoch_genesis.0);
        Digest::tagged(tag::TIMEOUT, &bytes)
    }
}

/// Timeouts of a quorum for one round: it lets the next round start
/// without a certificate for the timed-out one. Each signer reports its own
/// highest certified round, which the next proposal must not go below.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct TimeoutCert {
    pub epoch: Epoch,
    pub round: Round,
    /// Strictly increasing signers, each with the high-QC round it signed.
    pub signers: Vec<(ValidatorId, Round)>,
    pub signatures: Vec<SignatureBytes>,
}

impl TimeoutCert {
    /// The highest certified round any signer reported: a proposal built on
    /// this certificate must extend a certificate at least that high.
    pub fn highest_qc_round(&self) -> Round {
        self.signers
            .iter()
            .map(|(_, r)| *r)
            .max()
            .unwrap_or_default()
    }
}

/// A proposed block. The leader of `round` proposes it, extending the block
/// certified by `justify`; when the previous round ended in a timeout it
/// carries the timeout certificate that lets it skip ahead.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Block {
    pub epoch: Epoch,
    pub round: Round,
    pub height: Height,
    pub proposer: ValidatorId,
    /// The leader's clock when proposing; the host checks it is plausible
    /// and not before the parent's.
    pub timestamp_ms: u64,
    /// Digest of the payload (batches with proofs of availability), which
    /// the host validates.
    pub payload: Digest,
    /// The certificate of the parent block.
    pub justify: QuorumCert,
    /// Present when `round` does not directly follow `justify`'s round.
    pub timeout_cert: Option<TimeoutCert>,
}

impl Block {
    pub fn id(&self) -> BlockId {
        Digest::tagged(
            tag::BLOCK,
            &borsh::to_vec(self).expect("borsh into a Vec cannot fail"),
        )
    }

    /// The parent is the block `justify` certifies (not that block's own
    /// parent, which the lint below would suggest).
    #[allow(clippy::misnamed_getters)]
    pub fn parent_id(&self) -> BlockId {
        self.justify.data.block_id
    }

    /// What a vote for this block signs.
    pub fn vote_data(&self) -> VoteData {
        VoteData {
            epoch: self.epoch,
            round: self.round,
            height: self.height,
            block_id: self.id(),
            parent_id: self.parent_id(),
            parent_round: self.justify.round(),
        }
    }
}

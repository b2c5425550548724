//! What nodes send each other over libp2p: three protocols, each message
//! a length-prefixed borsh frame with a size limit per direction.
//!
//! - [`CONSENSUS_PROTOCOL`]: consensus messages ([`ConsensusEnvelope`]; a
//!   proposal carries its payload), one request each. No response body.
//! - [`TXS_PROTOCOL`]: client transactions shared between validators, with
//!   their attestations ([`TxGossip`]): frames back to back on one
//!   long-lived stream per peer and direction (version 2 was one request
//!   per message).
//! - [`SYNC_PROTOCOL`]: blocks by id and runs of committed blocks with the
//!   certificate that commits them ([`SyncRequest`], [`SyncResponse`]),
//!   one request each.
//!
//! A frame is a 4-byte little-endian length and that many bytes of borsh,
//! decoded strictly (the whole body, nothing left over).

use borsh::{BorshDeserialize, BorshSerialize};
use hutong_consensus::messages::Message;
use hutong_consensus::types::{BlockId, QuorumCert};
use hutong_runtime::ChainId;

use crate::attestation::{batch_digest, Attestation};
use crate::chain::StoredBlock;
use crate::payload::Payload;

pub const CONSENSUS_PROTOCOL: &str = "/hutong/consensus/1";
pub const TXS_PROTOCOL: &str = "/hutong/txs/3";
pub const SYNC_PROTOCOL: &str = "/hutong/sync/2";

/// Most bytes in one consensus message (a proposal carries its payload).
pub const CONSENSUS_BYTES_MAX: usize = 12 * 1024 * 1024;
/// Most bytes in one batch of shared transactions.
pub const TXS_BYTES_MAX: usize = 4 * 1024 * 1024;
/// Most transactions in one shared batch.
pub const TXS_BATCH_MAX: usize = 4_096;
/// Most bytes in one sync request (they are tiny).
pub const SYNC_REQUEST_BYTES_MAX: usize = 64;
/// Most bytes in one sync response.
pub const SYNC_BYTES_MAX: usize = 64 * 1024 * 1024;
/// Most committed blocks one sync answer of a node carries (the consensus
/// core takes answers of up to its `SYNC_RESPONSE_BLOCKS_MAX`).
pub const SYNC_ANSWER_BLOCKS_MAX: usize = 256;
const _: () = assert!(SYNC_ANSWER_BLOCKS_MAX <= hutong_consensus::core::SYNC_RESPONSE_BLOCKS_MAX);
/// A sync answer carries whole committed runs up to this many encoded
/// bytes (the first run always). The node that asked holds the answer,
/// decoded, on top of its execution backlog: a lagging regulator took
/// 32 MiB answers (~150,000 transfers) while its backlog was already
/// full, and its memory passed 1 GiB. A few MiB per round trip still
/// syncs far faster than any node executes.
pub const SYNC_ANSWER_BYTES: usize = 8 * 1024 * 1024;
const _: () = assert!(SYNC_ANSWER_BYTES <= SYNC_BYTES_MAX);

/// A consensus message, with the payload when it is a proposal.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct ConsensusEnvelope {
    pub message: Message,
    pub payload: Option<Payload>,
}

/// What validators share on [`TXS_PROTOCOL`].
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum TxGossip {
    /// Client transactions the sender admitted. A validator attests that
    /// it checked every signature and names the validators it asks to
    /// check them too; another node's batch carries no attestation.
    Batch {
        txs: Vec<Vec<u8>>,
        attestation: Option<Attestation>,
        verifiers: Vec<u16>,
    },
    /// A named validator's attestation of a batch it checked.
    Attest(Attestation),
}

/// Why a decoded [`TxGossip`] is refused before anything else looks at
/// it. Every one is its sender's fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GossipError {
    #[error("a batch of {count} transactions; at most {TXS_BATCH_MAX}")]
    TooManyTxs { count: usize },
    #[error("a batch naming {named} verifiers among {validators} validators")]
    TooManyVerifiers { named: usize, validators: usize },
    #[error("a batch attestation of other transactions (digest mismatch)")]
    DigestMismatch,
}

impl TxGossip {
    /// The checks a received message passes before the attestation
    /// protocol takes it: bounded batch, bounded list of named verifiers,
    /// and an attestation that covers exactly these bytes.
    pub fn check(&self, chain_id: ChainId, validators: usize) -> Result<(), GossipError> {
        self.check_bounds(validators)?;
        if let TxGossip::Batch {
            txs,
            attestation: Some(a),
            ..
        } = self
        {
            if batch_digest(chain_id, txs) != a.digest {
                return Err(GossipError::DigestMismatch);
            }
        }
        Ok(())
    }

    /// The bounds alone (no hashing): what the network checks as a frame
    /// arrives, so that an oversized message is charged to the connection
    /// it came on. The digest is the attestation protocol's to check.
    pub fn check_bounds(&self, validators: usize) -> Result<(), GossipError> {
        if let TxGossip::Batch { txs, verifiers, .. } = self {
            if txs.len() > TXS_BATCH_MAX {
                return Err(GossipError::TooManyTxs { count: txs.len() });
            }
            if verifiers.len() > validators {
                return Err(GossipError::TooManyVerifiers {
                    named: verifiers.len(),
                    validators,
                });
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum SyncRequest {
    /// A block (committed or not) with its payload, by id.
    Block(BlockId),
    /// Committed blocks after a height, ending with a committed run, and
    /// the certificate that commits the last one.
    Committed { after: u64 },
    /// The members' recovery statement that restarted the chain from a
    /// height (`hutong_runtime::recovery`), if the peer holds one: what a
    /// node that was not given it needs to follow past that height.
    Recovery { height: u64 },
    /// A chunk of the state tree of an executed height: its leaves after
    /// key hash `after` (from the first when `None`), with the range
    /// proof against that height's state root
    /// (`hutong_runtime::snapshot`). What a node joining from a snapshot
    /// asks for.
    Snapshot {
        version: u64,
        after: Option<[u8; 32]>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum SyncResponse {
    Block(Option<Box<StoredBlock>>),
    Committed {
        blocks: Vec<StoredBlock>,
        proof: Option<QuorumCert>,
    },
    /// The peer could not serve the request (busy, or its database
    /// failed); ask again later or ask another peer.
    Unavailable,
    Recovery(Option<Box<hutong_runtime::recovery::RecoveryStatement>>),
    /// `None`: the peer has not executed that height, or there is no leaf
    /// after `after`.
    Snapshot(Option<Box<hutong_runtime::snapshot::Chunk>>),
}

/// Why a frame was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("message of {len} bytes; at most {max}")]
    TooLarge { len: usize, max: usize },
    #[error("frame of {got} bytes is shorter than its length prefix says ({expected})")]
    Truncated { expected: usize, got: usize },
    #[error("message does not decode: {0}")]
    Undecodable(String),
}

/// The body length a frame's prefix announces, refused past `max` before
/// anything is allocated for it.
pub fn body_len(prefix: [u8; 4], max: usize) -> Result<usize, FrameError> {
    let len = u32::from_le_bytes(prefix) as usize;
    if len > max {
        return Err(FrameError::TooLarge { len, max });
    }
    Ok(len)
}

/// Decodes a frame's body strictly: all of it, nothing left over.
pub fn decode_body<T: BorshDeserialize>(body: &[u8]) -> Result<T, FrameError> {
    borsh::from_slice(body).map_err(|e| FrameError::Undecodable(e.to_string()))
}

/// Decodes a whole frame (prefix and body) as it arrives on the wire.
pub fn decode_frame<T: BorshDeserialize>(frame: &[u8], max: usize) -> Result<T, FrameError> {
    let Some((prefix, body)) = frame.split_first_chunk::<4>() else {
        return Err(FrameError::Truncated {
            expected: 4,
            got: frame.len(),
        });
    };
    let len = body_len(*prefix, max)?;
    if body.len() < len {
        return Err(FrameError::Truncated {
            expected: len,
            got: body.len(),
        });
    }
    if body.len() > len {
        return Err(FrameError::Undecodable(format!(
            "{} bytes after a body of {len}",
            body.len() - len
        )));
    }
    decode_body(body)
}

/// Encodes a frame: the length prefix and the body, refused past `max`.
pub fn encode_frame<T: BorshSerialize>(value: &T, max: usize) -> Result<Vec<u8>, FrameError> {
    let body = borsh::to_vec(value).map_err(|e| FrameError::Undecodable(e.to_string()))?;
    if body.len() > max {
        return Err(FrameError::TooLarge {
            len: body.len(),
            max,
        });
    }
    let mut frame = Vec::with_capacity(4 + body.len());
    frame.extend_from_slice(&(body.len() as u32).to_le_bytes());
    frame.extend_from_slice(&body);
    Ok(frame)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_round_trips_and_refuses_what_is_past_its_limit() {
        let request = SyncRequest::Committed { after: 7 };
        let frame = encode_frame(&request, SYNC_REQUEST_BYTES_MAX).expect("small");
        assert_eq!(
            decode_frame::<SyncRequest>(&frame, SYNC_REQUEST_BYTES_MAX),
            Ok(request)
        );
        assert!(matches!(
            decode_frame::<SyncRequest>(&frame, 3),
            Err(FrameError::TooLarge { .. })
        ));
        assert!(matches!(
            decode_frame::<SyncRequest>(&frame[..frame.len() - 1], 64),
            Err(FrameError::Truncated { .. })
        ));
        let mut long = frame.clone();
        long.push(0);
        assert!(matches!(
            decode_frame::<SyncRequest>(&long, 64),
            Err(FrameError::Undecodable(_))
        ));
        // A prefix announcing 4 GiB is refused before any allocation.
        assert!(matches!(
            body_len([0xff; 4], TXS_BYTES_MAX),
            Err(FrameError::TooLarge { .. })
        ));
    }

    #[test]
    fn a_batch_attested_for_other_bytes_is_refused() {
        let chain = ChainId([5; 32]);
        let key = hutong_runtime::Keypair::from_secret_bytes(&[1; 32]);
        let txs = vec![vec![1, 2, 3]];
        let attestation = Attestation::sign(&key, chain, 0, batch_digest(chain, &txs));
        let good = TxGossip::Batch {
            txs: txs.clone(),
            attestation: Some(attestation.clone()),
            verifiers: vec![1],
        };
        assert_eq!(good.check(chain, 4), Ok(()));
        let moved = TxGossip::Batch {
            txs: vec![vec![1, 2, 4]],
            attestation: Some(attestation),
            verifiers: vec![1],
        };
        assert_eq!(moved.check(chain, 4), Err(GossipError::DigestMismatch));
        let crowded = TxGossip::Batch {
            txs,
            attestation: None,
            verifiers: vec![1, 2, 3, 0, 1],
        };
        assert!(matches!(
            crowded.check(chain, 4),
            Err(GossipError::TooManyVerifiers { .. })
        ));
    }
}

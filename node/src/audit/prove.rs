//! Building audit proofs from the node's database (their types and the
//! offline verifier are in [`hutong_audit::proof`]).

use hutong_audit::proof::{
    AuditProof, CertifiedResult, CommitChain, EpochHandoff, PayloadHeader, ProofError, Proven,
    ReceiptProof, CHAIN_BLOCKS_MAX, EPOCHS_MAX,
};
use hutong_consensus::types::Epoch;
use hutong_runtime::block::receipt_leaf;
use hutong_runtime::crypto::Hash;
use hutong_runtime::merkle;
use hutong_runtime::state::StateKey;
use hutong_runtime::{Address, AssetCode};

use super::index;
use crate::store::{Db, DbError};

fn db_error(e: DbError) -> ProofError {
    ProofError::Store(e.to_string())
}

/// The commit chain of the committed block at `height`. In an epoch's
/// last blocks it ends with the epoch's tail and the certificate that
/// committed it (see [`hutong_wire::EpochEnd`]): a certificate of the next
/// epoch is signed by another set.
fn commit_chain(db: &Db, height: u64) -> Result<CommitChain, ProofError> {
    let cert = db.cert_from(height).map_err(db_error)?;
    if let Some(end) = db.epoch_end_from(height).map_err(db_error)? {
        if cert.as_ref().is_none_or(|(at, _)| *at > end.height) {
            let mut blocks = stored_blocks(db, height, end.height)?;
            blocks.extend(end.tail.into_iter().map(|b| b.block));
            if blocks.len() > CHAIN_BLOCKS_MAX {
                return Err(ProofError::Unavailable(format!(
                    "the certificate of height {height} is {} blocks away",
                    blocks.len()
                )));
            }
            return single_epoch(CommitChain {
                blocks,
                cert: end.proof,
            });
        }
    }
    let Some((last, cert)) = cert else {
        return Err(ProofError::Unavailable(format!(
            "the block at height {height} has no commit certificate yet; retry in a moment"
        )));
    };
    if last - height >= CHAIN_BLOCKS_MAX as u64 {
        return Err(ProofError::Unavailable(format!(
            "the certificate of height {height} is {} blocks away",
            last - height
        )));
    }
    single_epoch(CommitChain {
        blocks: stored_blocks(db, height, last)?,
        cert,
    })
}

/// A chain whose blocks are all of its certificate's epoch. A node that
/// lost an epoch's end (its tail was too large to keep) would otherwise
/// build one that runs across the boundary, which no verifier accepts.
fn single_epoch(chain: CommitChain) -> Result<CommitChain, ProofError> {
    let epoch = chain.cert.data.epoch;
    match chain.blocks.iter().find(|b| b.epoch != epoch) {
        Some(b) => Err(ProofError::Unavailable(format!(
            "block {} is of epoch {}, its certificate of epoch {}: this node has no record of how epoch {} ended",
            b.height, b.epoch.0, epoch.0, b.epoch.0
        ))),
        None => Ok(chain),
    }
}

fn stored_blocks(
    db: &Db,
    from: u64,
    to: u64,
) -> Result<Vec<hutong_consensus::types::Block>, ProofError> {
    if to.saturating_sub(from) >= CHAIN_BLOCKS_MAX as u64 {
        return Err(ProofError::Unavailable(format!(
            "the certificate of height {from} is {} blocks away",
            to - from
        )));
    }
    (from..=to)
        .map(|h| {
            db.block_at(h)
                .map_err(db_error)?
                .map(|s| s.block)
                .ok_or_else(|| ProofError::Unavailable(format!("block {h} is not stored")))
        })
        .collect()
}

/// The handoffs from the genesis set to the set of `epoch`: one per
/// ended epoch below it, from the records of how each ended.
fn handoffs(db: &Db, epoch: Epoch) -> Result<Vec<EpochHandoff>, ProofError> {
    let mut out = Vec::new();
    let mut from = 0;
    let mut expected = hutong_wire::GENESIS_EPOCH;
    while expected < epoch {
        if out.len() >= EPOCHS_MAX {
            return Err(ProofError::Unavailable(format!(
                "more than {EPOCHS_MAX} validator-set changes to follow"
            )));
        }
        let Some(end) = db.epoch_end_from(from).map_err(db_error)? else {
            return Err(ProofError::Unavailable(format!(
                "this node has no record of how epoch {} ended (its tail was too large to keep, or it joined later)",
                expected.0
            )));
        };
        if end.epoch != expected {
            return Err(ProofError::Unavailable(format!(
                "this node's record of epoch {}'s end is missing (the next is epoch {}'s)",
                expected.0, end.epoch.0
            )));
        }
        let last = db.block_at(end.height).map_err(db_error)?.ok_or_else(|| {
            ProofError::Unavailable(format!("block {} is not stored", end.height))
        })?;
        let claimed = last.payload.result.height;
        let consortium = hutong_runtime::store::prove(db, StateKey::Consortium, claimed)
            .map_err(|e| ProofError::Unavailable(e.to_string()))?;
        // An epoch that lost its quorum ended by the members' statement.
        let recovery = db
            .recovery_at(end.height)
            .map_err(db_error)?
            .filter(|s| s.plan.epoch.saturating_add(hutong_wire::GENESIS_EPOCH.0) == end.epoch.0);
        let mut blocks = vec![last.block];
        blocks.extend(end.tail.into_iter().map(|b| b.block));
        out.push(EpochHandoff {
            chain: CommitChain {
                blocks,
                cert: end.proof,
            },
            carrier: PayloadHeader::of(&last.payload),
            consortium,
            recovery,
        });
        from = end.height.saturating_add(1);
        expected = Epoch(expected.0.saturating_add(1));
    }
    Ok(out)
}

/// The latest epoch among the chains a proof's certificates come with.
fn epoch_of(chains: &[&CommitChain]) -> Epoch {
    chains
        .iter()
        .filter_map(|c| c.blocks.first().map(|b| b.epoch))
        .max()
        .unwrap_or(hutong_wire::GENESIS_EPOCH)
}

/// The certificate of `height`'s execution result, if a committed block
/// carries it yet.
fn certified_result(db: &Db, height: u64) -> Result<Option<CertifiedResult>, ProofError> {
    match index::claim_at_or_below(db, height).map_err(db_error)? {
        Some((claimed, carrier)) if claimed == height => {
            let stored = db
                .block_at(carrier)
                .map_err(db_error)?
                .ok_or_else(|| ProofError::Unavailable(format!("block {carrier} is not stored")))?;
            Ok(Some(CertifiedResult {
                carrier: PayloadHeader::of(&stored.payload),
                chain: commit_chain(db, carrier)?,
            }))
        }
        _ => Ok(None),
    }
}

/// Builds the proof of a committed transaction.
pub fn prove_transaction(db: &Db, hash: &Hash) -> Result<AuditProof, ProofError> {
    let loc = db
        .tx_location(hash)
        .map_err(db_error)?
        .ok_or_else(|| ProofError::Unavailable(format!("no committed transaction {hash}")))?;
    let stored = db
        .block_at(loc.height)
        .map_err(db_error)?
        .ok_or_else(|| ProofError::Unavailable(format!("block {} is not stored", loc.height)))?;
    let index = loc.index as usize;
    let tx = stored
        .payload
        .txs
        .get(index)
        .cloned()
        .ok_or_else(|| ProofError::Unavailable("the index names no transaction".into()))?;
    let path = hutong_runtime::block::prove_tx(&stored.payload.txs, index)
        .map_err(|e| ProofError::Unavailable(e.to_string()))?;
    let receipt = match certified_result(db, loc.height)? {
        Some(certified) => {
            let receipts = db
                .receipts_at(loc.height)
                .map_err(db_error)?
                .unwrap_or_default();
            let leaves: Vec<Hash> = receipts.iter().map(receipt_leaf).collect();
            match (receipts.get(index), merkle::prove(&leaves, index)) {
                (Some(r), Ok(path)) => Some(ReceiptProof {
                    receipt: r.clone(),
                    path,
                    certified,
                }),
                _ => None,
            }
        }
        None => None,
    };
    let chain = commit_chain(db, loc.height)?;
    let mut chains = vec![&chain];
    if let Some(r) = &receipt {
        chains.push(&r.certified.chain);
    }
    let epochs = handoffs(db, epoch_of(&chains))?;
    Ok(AuditProof {
        epochs,
        body: Proven::Transaction {
            tx,
            path,
            header: PayloadHeader::of(&stored.payload),
            chain,
            receipt,
        },
    })
}

/// Builds the proof of `account`'s balance of `asset` at the highest
/// certified height at or below `height` (the latest when `None`).
pub fn prove_balance(
    db: &Db,
    account: Address,
    asset: AssetCode,
    height: Option<u64>,
) -> Result<AuditProof, ProofError> {
    let top = db
        .executed()
        .map_err(db_error)?
        .map(|e| e.height)
        .unwrap_or(0);
    let at = height.unwrap_or(top).min(top);
    let Some((claimed, carrier)) = index::claim_at_or_below(db, at).map_err(db_error)? else {
        return Err(ProofError::Unavailable(format!(
            "no execution result at or below height {at} is certified yet"
        )));
    };
    let state = hutong_runtime::store::prove(db, StateKey::Balance(account, asset), claimed)
        .map_err(|e| ProofError::Unavailable(e.to_string()))?;
    let stored = db
        .block_at(carrier)
        .map_err(db_error)?
        .ok_or_else(|| ProofError::Unavailable(format!("block {carrier} is not stored")))?;
    let chain = commit_chain(db, carrier)?;
    let epochs = handoffs(db, epoch_of(&[&chain]))?;
    Ok(AuditProof {
        epochs,
        body: Proven::Balance {
            state,
            certified: CertifiedResult {
                carrier: PayloadHeader::of(&stored.payload),
                chain,
            },
        },
    })
}

//! Building audit proofs from the node's database (their types and the
//! offline verifier are in [`hutong_audit::proof`]).

use hutong_audit::proof::{
    AuditProof, CertifiedResult, CommitChain, PayloadHeader, ProofError, ReceiptProof,
    CHAIN_BLOCKS_MAX,
};
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

/// The commit chain of the committed block at `height`.
fn commit_chain(db: &Db, height: u64) -> Result<CommitChain, ProofError> {
    let Some((last, cert)) = db.cert_from(height).map_err(db_error)? else {
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
    let mut blocks = Vec::with_capacity((last - height + 1) as usize);
    for h in height..=last {
        let stored = db
            .block_at(h)
            .map_err(db_error)?
            .ok_or_else(|| ProofError::Unavailable(format!("block {h} is not stored")))?;
        blocks.push(stored.block);
    }
    Ok(CommitChain { blocks, cert })
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
    Ok(AuditProof::Transaction {
        tx,
        path,
        header: PayloadHeader::of(&stored.payload),
        chain: commit_chain(db, loc.height)?,
        receipt,
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
    Ok(AuditProof::Balance {
        state,
        certified: CertifiedResult {
            carrier: PayloadHeader::of(&stored.payload),
            chain: commit_chain(db, carrier)?,
        },
    })
}

//! Recovery statements on a node (see [`hutong_runtime::recovery`]).
//!
//! A statement is given to a stopped node (`hutong recover apply`), checked
//! against what the node itself executed, and kept in its database. The
//! node puts it in force at the statement's height: consensus switches to
//! the new set and epoch, and the next block's execution writes the new
//! consortium record before its transactions. A node still behind that
//! height (a replacement machine, or a survivor that missed the last
//! blocks) syncs up to it first, from the consortium's other nodes, and
//! checks the statement when it gets there.

use std::sync::Arc;

use hutong_runtime::recovery::{self, RecoveryError, RecoveryStatement};
use hutong_runtime::store::StateStore;
use hutong_runtime::{ChainId, Hash};
use hutong_wire::{Executed, Membership};

use crate::store::{Db, DbError};

/// Why a node refuses a statement.
#[derive(Debug, thiserror::Error)]
pub enum RecoverError {
    #[error("{0} ({code})", code = .0.code())]
    Statement(#[from] RecoveryError),
    #[error(
        "the statement recovers from height {statement}, older than this node's committed height \
         {committed}: applying it would drop committed blocks. Recover from the highest height a \
         surviving node committed (this node's: {committed}, `hutong recover draft` here)"
    )]
    Older { statement: u64, committed: u64 },
    #[error(
        "the statement names {what} {named} at height {height}, but this node committed {ours} \
         there: it names a state the consortium did not certify (or another chain's)"
    )]
    Uncertified {
        what: &'static str,
        height: u64,
        named: String,
        ours: String,
    },
    #[error(
        "this node's ledger is in epoch {ledger}, past the statement's epoch {statement}: \
         it was applied already, or the chain went on without it"
    )]
    Applied { ledger: u64, statement: u64 },
    #[error("database: {0}")]
    Db(#[from] DbError),
    #[error("state: {0}")]
    State(String),
}

/// What a node does with an accepted statement.
#[derive(Debug)]
pub enum Accepted {
    /// The node is at the statement's height: it starts in the new epoch
    /// with this membership.
    Now(Box<Membership>),
    /// The node is behind: it syncs to `height` and checks the statement
    /// there.
    AtHeight { height: u64, executed: u64 },
}

/// Checks a statement against this node's database and keeps it. The
/// node must be stopped (the database is opened by the caller).
pub fn accept(
    db: &Db,
    chain_id: ChainId,
    statement: &RecoveryStatement,
) -> Result<Accepted, RecoverError> {
    let plan = &statement.plan;
    plan.check_chain(chain_id)?;
    let executed = db
        .executed()?
        .ok_or_else(|| RecoverError::State("the database holds no genesis".into()))?;
    let ledger = ledger_epoch(db)?;
    if ledger > plan.epoch {
        return Err(RecoverError::Applied {
            ledger,
            statement: plan.epoch,
        });
    }
    let committed = committed_height(db, &executed)?;
    if committed > plan.height.0 {
        return Err(RecoverError::Older {
            statement: plan.height.0,
            committed,
        });
    }
    let accepted = if executed.height == plan.height.0 {
        Accepted::Now(Box::new(membership_in(db, chain_id, statement, &executed)?))
    } else {
        // The signers and the set are checked against the ledger at the
        // statement's height, once this node has executed it; the
        // signatures themselves can be checked now.
        let digest = plan.digest();
        for s in &statement.signatures {
            s.key
                .verify(&digest.0, &s.signature)
                .map_err(|_| RecoveryError::BadSignature { key: s.key })?;
        }
        Accepted::AtHeight {
            height: plan.height.0,
            executed: executed.height,
        }
    };
    db.put_recovery(statement)?;
    Ok(accepted)
}

/// The membership a statement starts, checked against the block this node
/// executed at the statement's height (`executed`) and the ledger there
/// (`state`, the state after that block).
pub fn membership_in<S: StateStore + ?Sized>(
    state: &S,
    chain_id: ChainId,
    statement: &RecoveryStatement,
    executed: &Executed,
) -> Result<Membership, RecoverError> {
    let plan = &statement.plan;
    let named = |what, named: &Hash, ours: [u8; 32]| {
        if named.0 == ours {
            return Ok(());
        }
        Err(RecoverError::Uncertified {
            what,
            height: plan.height.0,
            named: named.to_hex(),
            ours: hex::encode(ours),
        })
    };
    named("block", &plan.block_id, executed.block_id.0)?;
    named("state root", &plan.state_root, executed.state_root.0)?;
    let consortium = recovery::check(state, chain_id, statement)?;
    Ok(Membership::of(&consortium, executed.block_id))
}

/// The statement this node still has to put in force: the latest one it
/// was given, while its ledger has not passed the statement's epoch (a
/// replacement started from genesis may be several epochs before it).
pub fn pending(db: &Db) -> Result<Option<Arc<RecoveryStatement>>, RecoverError> {
    let Some(statement) = db.latest_recovery()? else {
        return Ok(None);
    };
    if ledger_epoch(db)? > statement.plan.epoch {
        return Ok(None);
    }
    Ok(Some(Arc::new(statement)))
}

/// The membership a node starts with when it stopped exactly at a pending
/// statement's height (the usual case: a survivor given the statement).
pub fn starting_membership(
    db: &Db,
    chain_id: ChainId,
    pending: Option<&RecoveryStatement>,
    executed: &Executed,
) -> Result<Option<Membership>, RecoverError> {
    match pending {
        Some(s) if s.plan.height.0 == executed.height => {
            membership_in(db, chain_id, s, executed).map(Some)
        }
        _ => Ok(None),
    }
}

fn ledger_epoch(db: &Db) -> Result<u64, RecoverError> {
    use hutong_runtime::state::{StateKey, StateValue};
    match StateStore::get(db, &StateKey::Consortium)
        .map_err(|e| RecoverError::State(e.to_string()))?
    {
        Some(StateValue::Consortium(c)) => Ok(c.epoch),
        _ => Err(RecoverError::State(
            "the state has no consortium record".into(),
        )),
    }
}

/// The highest height this node knows committed: its executed height, or
/// above it if a block it stored carries a certificate that commits a
/// later block (committed, not yet executed when it stopped).
fn committed_height(db: &Db, executed: &Executed) -> Result<u64, RecoverError> {
    let mut committed = executed.height;
    if let Some((height, _)) = db.cert_from(executed.height.saturating_add(1))? {
        committed = committed.max(height);
    }
    for stored in db.stored_blocks_above(executed.height)? {
        let qc = &stored.block.justify;
        if qc.data.commits().is_some() {
            committed = committed.max(qc.data.height.0.saturating_sub(1));
        }
    }
    Ok(committed)
}

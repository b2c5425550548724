//! The execution pipeline: committed blocks, in height order, through the
//! runtime and into the database in one synced batch each.
//!
//! Before executing a block, the executor checks the execution result the
//! block carries (certified by the quorum that committed it) against its
//! own result for that height. On a mismatch this node's state has forked
//! from the consortium's: it stops executing, marks itself halted and says
//! so loudly, rather than build on a wrong state.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Instant;

use hutong_consensus::types::QuorumCert;
use hutong_runtime::state::{StateKey, StateValue};
use hutong_runtime::store::prepare_commit;
use hutong_runtime::{
    execute_block, Address, BlockContext, Height, Preverified, SignatureCheck, TimestampMs,
};
use tokio::sync::mpsc;

use crate::mempool::Tip;
use crate::shared::{lock, CommittedBlock, Counters, Shared};
use crate::sigverify::{available_threads, verify_parallel};
use crate::store::{BlockWrite, Executed, StoredBlock};

/// A committed block for the executor, with its signature verdicts when
/// the host already computed them (while checking the proposal).
#[derive(Debug)]
pub struct ExecJob {
    pub stored: StoredBlock,
    pub proof: Option<QuorumCert>,
    pub preverified: Option<Arc<Preverified>>,
}

/// Why the executor stopped. Every variant is fatal for execution.
#[derive(Debug, thiserror::Error)]
pub enum ExecutorError {
    #[error("state divergence at height {height}: the consortium certified state root {certified} and receipts root {certified_receipts}, this node computed {ours} and {ours_receipts}; this node stops executing (its database or binary differs from the others')")]
    Diverged {
        height: u64,
        certified: String,
        certified_receipts: String,
        ours: String,
        ours_receipts: String,
    },
    #[error("block at height {height} claims a result for height {claimed}, which this node has not executed")]
    UnknownResult { height: u64, claimed: u64 },
    #[error("block at height {height} does not follow the executed height {executed}")]
    Gap { height: u64, executed: u64 },
    #[error("database: {0}")]
    Db(#[from] crate::store::DbError),
    #[error("execution: {0}")]
    Exec(#[from] hutong_runtime::ExecError),
    #[error("state: {0}")]
    State(#[from] hutong_runtime::StoreError),
}

pub async fn run(shared: Arc<Shared>, mut jobs: mpsc::Receiver<ExecJob>) {
    while let Some(job) = jobs.recv().await {
        let height = job.stored.block.height.0;
        let shared2 = shared.clone();
        // Execution is CPU and disk work: keep it off the async threads.
        let result = tokio::task::spawn_blocking(move || execute(&shared2, job)).await;
        match result {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::error!(height, "HALTED: {e}");
                *lock(&shared.halted) = Some(e.to_string());
                // Stay halted, with the node up to say why (status, logs),
                // until the operator stops it.
                std::future::pending::<()>().await;
            }
            Err(join) => {
                tracing::error!(height, "HALTED: execution task failed: {join}");
                *lock(&shared.halted) = Some(format!("execution task failed: {join}"));
                std::future::pending::<()>().await;
            }
        }
    }
}

fn execute(shared: &Shared, job: ExecJob) -> Result<(), ExecutorError> {
    let db = &shared.db;
    let executed = shared.executed();
    let block = &job.stored.block;
    let height = block.height.0;
    if height <= executed.height {
        // Committed again after a restart; already durable.
        return Ok(());
    }
    if height != executed.height + 1 {
        return Err(ExecutorError::Gap {
            height,
            executed: executed.height,
        });
    }
    let claim = job.stored.payload.result;
    let ours = db
        .result_at(claim.height)?
        .ok_or(ExecutorError::UnknownResult {
            height,
            claimed: claim.height,
        })?;
    if ours.state_root != claim.state_root || ours.receipts_root != claim.receipts_root {
        return Err(ExecutorError::Diverged {
            height: claim.height,
            certified: claim.state_root.to_string(),
            certified_receipts: claim.receipts_root.to_string(),
            ours: ours.state_root.to_string(),
            ours_receipts: ours.receipts_root.to_string(),
        });
    }

    let txs = &job.stored.payload.txs;
    let pre = match job.preverified {
        Some(pre) if pre.hashes.len() == txs.len() => pre,
        _ => Arc::new(verify_parallel(txs, available_threads())),
    };
    let ctx = BlockContext {
        chain_id: shared.chain_id,
        height: Height(height),
        timestamp: TimestampMs(block.timestamp_ms),
    };
    let outcome = execute_block(db, &ctx, txs, SignatureCheck::Preverified(&pre))?;
    let senders: HashSet<Address> = pre.senders.iter().copied().collect();
    let audit = match &shared.audit {
        Some(node) => Some(node.index_block(
            db,
            &shared.genesis.params,
            &job.stored,
            &pre.hashes,
            &outcome.receipts,
            &outcome.changes,
        )?),
        None => None,
    };
    let update = prepare_commit(db, height, outcome.changes)?;
    let state_root = update.root;
    let receipts_root = hutong_runtime::block::receipts_root(&outcome.receipts);
    let record = Executed {
        height,
        block_id: block.id(),
        round: block.round.0,
        timestamp_ms: block.timestamp_ms,
        state_root,
        receipts_root,
    };
    let started = Instant::now();
    let alerts = audit.as_ref().map(|a| a.alerts.clone()).unwrap_or_default();
    db.commit_block(BlockWrite {
        stored: job.stored.clone(),
        executed: record,
        receipts: outcome.receipts,
        tx_hashes: pre.hashes.clone(),
        state: update,
        proof: job.proof,
        audit,
    })?;
    if let Some(node) = &shared.audit {
        node.publish(&alerts);
    }
    let c = &shared.counters;
    Counters::add(
        &c.rocksdb_write_micros_total,
        started.elapsed().as_micros() as u64,
    );
    Counters::add(&c.rocksdb_writes, 1);
    Counters::add(&c.committed_blocks, 1);
    Counters::add(&c.committed_txs, txs.len() as u64);

    // The block is durable: the mempool lets go of its transactions, then
    // everyone waiting hears about it.
    let tip = Tip {
        height,
        timestamp_ms: block.timestamp_ms,
    };
    let sequence = |a: &Address| match db.state(&StateKey::Account(*a)) {
        Ok(Some(StateValue::Account(acc))) => Some(acc.sequence.0),
        _ => None,
    };
    lock(&shared.mempool).on_commit(&pre.hashes, &senders, sequence, tip);
    shared.executed.send_replace(record);
    let _ = shared.commits.send(Arc::new(CommittedBlock {
        height,
        block_id: hex::encode(record.block_id.0),
        round: record.round,
        timestamp_ms: record.timestamp_ms,
        txs: txs.len(),
        state_root: state_root.to_string(),
        receipts_root: receipts_root.to_string(),
        tx_hashes: pre.hashes.clone(),
    }));
    if height.is_multiple_of(100) || !txs.is_empty() {
        tracing::info!(height, txs = txs.len(), state_root = %state_root, "executed");
    }
    Ok(())
}

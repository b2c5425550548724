//! The execution pipeline: committed blocks, in height order, through the
//! runtime and into the database in one synced batch each.
//!
//! Two stages overlap: while the writer thread makes block N durable (its
//! RocksDB batch, fsync, then the announcements), the executor already
//! runs block N+1 on N's state, read through [`ExecView`]: N's changes
//! from memory, everything older from the database. The executor is at
//! most one block ahead of the durable state, and nothing outside it sees
//! N's state before N is durable. The regulator's indexes of N+1 read
//! N's account changes and result claim from the executor too.
//!
//! A block whose execution puts a new validator set in force ends its
//! epoch (the ledger does that at the first block that certifies the
//! result of the height that voted the change: see
//! `hutong_runtime::governance`): the executor announces the new
//! membership (before the block itself, so consensus switches sets at the
//! same height on every node), and blocks
//! of the ended epoch committed after it are not executed; they are kept
//! with their certificate ([`hutong_wire::EpochEnd`]) for peers that sync
//! across the boundary.
//!
//! Before executing a block, the executor checks the execution result the
//! block carries (certified by the quorum that committed it) against its
//! own result for that height. On a mismatch this node's state has forked
//! from the consortium's: it stops executing, marks itself halted and says
//! so loudly, rather than build on a wrong state.

use std::collections::HashMap;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use hutong_runtime::recovery::RecoveryStatement;
use hutong_runtime::state::{StateKey, StateValue};
use hutong_runtime::store::Version;
use hutong_runtime::store::{prepare_commit, StateStore, StateUpdate, StoreError};
use hutong_runtime::tree::{KeyHash, Node, NodeKey, NodeReader, Nodes, TreeError};
use hutong_runtime::{
    execute_block_with, Address, BlockContext, Hash, Height, SignatureCheck, TimestampMs,
};
use tokio::sync::mpsc;

use hutong_audit::Alert;
use hutong_host::host::ExecJob;
use hutong_host::mempool::{CommitOutcome, Mempool, Rejection, Tip};
use hutong_host::sigverify::{available_threads, verify_parallel_metered};
use hutong_host::status::CpuStage;
use hutong_host::util::{lock, FastMap, FastSet};
use hutong_runtime::{ChainId, Params};
use hutong_wire::p2p::{SYNC_ANSWER_BLOCKS_MAX, SYNC_ANSWER_BYTES};
use hutong_wire::rpc::BlockNotice;
use hutong_wire::{EpochEnd, Membership, StoredBlock};
use tokio::sync::{broadcast, watch};

use crate::audit::AuditNode;
use crate::status::{Counters, Halt, RecentRejections};
use crate::store::{BlockWrite, Db, Executed};

/// What the executor and its writer work with.
#[derive(Debug)]
pub struct ExecHandles {
    pub db: Db,
    pub chain_id: ChainId,
    /// The genesis risk parameters (the regulator's detectors read them).
    pub params: Params,
    /// The regulator's audit node, on a regulator.
    pub audit: Option<Arc<AuditNode>>,
    pub counters: Arc<Counters>,
    /// Lets go of committed transactions.
    pub pool: Arc<Mutex<Mempool>>,
    /// Where pending transactions that ended without executing are
    /// remembered (superseded, expired), for their wallets' status.
    pub rejections: Arc<Mutex<RecentRejections>>,
    /// Announces each block once it is durable: to the consensus host,
    /// admission and the RPC (the last executed block) and to subscribers.
    pub executed: watch::Sender<Executed>,
    /// Announces a changed membership (a vote executed): consensus, the
    /// network and the attestation task follow it.
    pub membership: watch::Sender<Arc<Membership>>,
    pub commits: broadcast::Sender<Arc<BlockNotice>>,
    pub halt: Halt,
    /// A recovery statement not in force yet ([`crate::recovery`]): at its
    /// height the executor checks it and switches to its epoch, and the
    /// next block's execution writes its consortium record.
    /// Set at start, or later when a peer serves the statement to a node
    /// stuck at its height ([`adopt_recovery`]).
    pub recovery: Mutex<Option<Arc<RecoveryStatement>>>,
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
    #[error(
        "block at height {height} is in epoch {got}, but this node's ledger is in epoch {ours}"
    )]
    EpochAhead { height: u64, got: u64, ours: u64 },
    #[error("database: {0}")]
    Db(#[from] crate::store::DbError),
    #[error("execution: {0}")]
    Exec(#[from] hutong_runtime::ExecError),
    #[error("recovery statement refused at its height {height}: {error}; this node stops (give it the statement the members signed for this chain, or wipe it and start again)")]
    Recovery {
        height: u64,
        error: crate::recovery::RecoverError,
    },
    #[error("state: {0}")]
    State(#[from] hutong_runtime::StoreError),
    #[error("the block writer stopped")]
    WriterStopped,
}

/// The state the executor runs the next block on: the last executed
/// block's changes, not yet known durable, over the database.
struct ExecView<'a> {
    db: &'a Db,
    pending: Option<&'a Pending>,
}

/// The last executed block as the executor knows it: its result, and its
/// state changes while the writer may still be writing them.
#[derive(Debug)]
struct Pending {
    version: u64,
    values: FastMap<StateKey, Option<StateValue>>,
}

impl NodeReader for ExecView<'_> {
    fn node(&self, key: &NodeKey) -> Result<Option<Node>, TreeError> {
        // The pending version's nodes are staged in the database handle.
        self.db.node(key)
    }
}

impl StateStore for ExecView<'_> {
    fn get(&self, key: &StateKey) -> Result<Option<StateValue>, StoreError> {
        if let Some(value) = self.pending.and_then(|p| p.values.get(key)) {
            return Ok(value.clone());
        }
        StateStore::get(self.db, key)
    }

    fn latest_version(&self) -> Option<Version> {
        match self.pending {
            Some(p) => Some(p.version),
            None => self.db.latest_version(),
        }
    }

    fn tree_value(&self, version: Version, key: &KeyHash) -> Result<Option<Vec<u8>>, StoreError> {
        match self.pending {
            Some(p) if version >= p.version => Err(StoreError::Backend(format!(
                "versioned values are not read while executing (version {version})"
            ))),
            _ => StateStore::tree_value(self.db, version, key),
        }
    }

    fn apply(&mut self, _update: StateUpdate) -> Result<(), StoreError> {
        Err(StoreError::Backend(
            "the executor's view of the state is read-only".into(),
        ))
    }
}

/// The executor's own progress, carried from block to block.
#[derive(Debug)]
struct ExecState {
    /// The last block executed (durable or being written).
    last: Executed,
    /// The result height that block carried (the regulator's indexes).
    last_claim: Option<u64>,
    pending: Option<Pending>,
    /// The membership of the epoch being executed.
    membership: Arc<Membership>,
    /// The end of the last epoch while the certificate that commits its
    /// last block has not come yet: the blocks after it, gathered.
    tail: Option<EpochEnd>,
}

/// An executed block on its way to the writer.
struct Staged {
    write: BlockWrite,
    /// The block's tree nodes, taken out of `write.state` and staged.
    nodes: Arc<Nodes>,
    alerts: Vec<Alert>,
    senders: FastSet<Address>,
    txs: usize,
    /// The membership this block changed, announced once it is durable.
    membership: Option<Arc<Membership>>,
}

/// Blocks whose signatures are checked ahead of execution (beyond the one
/// executing).
const PREVERIFIED_AHEAD: usize = 2;

/// Checks the signatures of the blocks that come without the host's
/// checks (a regulator's, and any node's blocks from sync) while the
/// block before them executes, and hands them on in order.
async fn preverify(
    shared: Arc<ExecHandles>,
    mut jobs: mpsc::Receiver<ExecJob>,
    out: mpsc::Sender<ExecJob>,
) {
    while let Some(mut job) = jobs.recv().await {
        let unchecked = job
            .preverified
            .as_ref()
            .is_none_or(|pre| pre.hashes.len() != job.payload.txs.len());
        if unchecked && job.block.height.0 > shared.executed.borrow().height {
            let payload = job.payload.clone();
            let counters = shared.counters.clone();
            let checked = tokio::task::spawn_blocking(move || {
                verify_parallel_metered(&payload.txs, available_threads(), &|work| {
                    counters.metered(CpuStage::BlockSignatures, work)
                })
            })
            .await;
            // A failed check task leaves it to the executor.
            if let Ok(pre) = checked {
                Counters::add(
                    &shared.counters.sigchecks_execution,
                    job.payload.txs.len() as u64,
                );
                job.preverified = Some(Arc::new(pre));
            }
        }
        if out.send(job).await.is_err() {
            return;
        }
    }
}

pub async fn run(shared: Arc<ExecHandles>, incoming: mpsc::Receiver<ExecJob>) {
    let (checked, mut jobs) = mpsc::channel(PREVERIFIED_AHEAD);
    tokio::spawn(preverify(shared.clone(), incoming, checked));
    // A rendezvous: the executor hands block N+1 over only once the
    // writer has finished N, so it never runs more than one block ahead.
    let (to_writer, from_executor) = sync_channel::<Staged>(0);
    let writer_shared = shared.clone();
    let writer = std::thread::Builder::new()
        .name("hutong-writer".into())
        .spawn(move || write_loop(&writer_shared, from_executor));
    let writer = match writer {
        Ok(handle) => handle,
        Err(e) => {
            halt(&shared, 0, &format!("cannot start the block writer: {e}"));
            std::future::pending::<()>().await;
            return;
        }
    };
    let mut state = Some(ExecState {
        last: *shared.executed.borrow(),
        last_claim: None,
        pending: None,
        membership: shared.membership.borrow().clone(),
        tail: None,
    });
    while let Some(job) = jobs.recv().await {
        let height = job.block.height.0;
        let shared2 = shared.clone();
        let to_writer = to_writer.clone();
        let Some(mut st) = state.take() else {
            break;
        };
        // Execution is CPU and disk work: keep it off the async threads.
        let result = tokio::task::spawn_blocking(move || {
            let r = execute(&shared2, &mut st, job, &to_writer);
            (st, r)
        })
        .await;
        match result {
            Ok((st, Ok(()))) => state = Some(st),
            Ok((_, Err(e))) => {
                halt(&shared, height, &e.to_string());
                // Stay halted, with the node up to say why (status, logs),
                // until the operator stops it.
                std::future::pending::<()>().await;
            }
            Err(join) => {
                halt(&shared, height, &format!("execution task failed: {join}"));
                std::future::pending::<()>().await;
            }
        }
    }
    // No more blocks: let the writer finish the last one before the node
    // flushes and closes the database.
    drop(to_writer);
    let _ = tokio::task::spawn_blocking(move || writer.join()).await;
}

fn halt(shared: &ExecHandles, height: u64, why: &str) {
    tracing::error!(height, "HALTED: {why}");
    shared.halt.halt(why);
}

fn execute(
    shared: &ExecHandles,
    state: &mut ExecState,
    job: ExecJob,
    to_writer: &SyncSender<Staged>,
) -> Result<(), ExecutorError> {
    let db = &shared.db;
    let executed = state.last;
    let height = job.block.height.0;
    // A recovery adopted from a peer after this node executed its height:
    // the new epoch starts from the last block executed.
    let announced = shared.membership.borrow().clone();
    if announced.epoch > state.membership.epoch && announced.genesis_height == executed.height {
        state.membership = announced;
    }
    if height <= executed.height {
        // Committed again after a restart; already durable.
        return Ok(());
    }
    let epoch = job.block.epoch;
    if epoch < state.membership.epoch && height > state.membership.genesis_height {
        keep_tail(db, state, job)?;
        return Ok(());
    }
    if epoch > state.membership.epoch {
        return Err(ExecutorError::EpochAhead {
            height,
            got: epoch.0,
            ours: state.membership.epoch.0,
        });
    }
    if height != executed.height + 1 {
        return Err(ExecutorError::Gap {
            height,
            executed: executed.height,
        });
    }
    let claim = job.payload.result;
    let ours = if claim.height == executed.height {
        Some(executed)
    } else {
        db.result_at(claim.height)?
    };
    let ours = match ours {
        Some(ours) => Some(ours),
        // A node that joined from a snapshot did not execute the blocks
        // below it: a claim about one of them is not its to check.
        None if db.joined_at()?.is_some_and(|joined| claim.height < joined) => None,
        None => {
            return Err(ExecutorError::UnknownResult {
                height,
                claimed: claim.height,
            })
        }
    };
    if let Some(ours) =
        ours.filter(|o| o.state_root != claim.state_root || o.receipts_root != claim.receipts_root)
    {
        return Err(ExecutorError::Diverged {
            height: claim.height,
            certified: claim.state_root.to_string(),
            certified_receipts: claim.receipts_root.to_string(),
            ours: ours.state_root.to_string(),
            ours_receipts: ours.receipts_root.to_string(),
        });
    }

    let ExecJob {
        block,
        payload,
        proof,
        preverified,
    } = job;
    let txs = &payload.txs;
    let pre = match preverified {
        Some(pre) if pre.hashes.len() == txs.len() => pre,
        _ => {
            Counters::add(&shared.counters.sigchecks_execution, txs.len() as u64);
            Arc::new(verify_parallel_metered(txs, available_threads(), &|work| {
                shared.counters.metered(CpuStage::BlockSignatures, work)
            }))
        }
    };
    let ctx = BlockContext {
        chain_id: shared.chain_id,
        height: Height(height),
        timestamp: TimestampMs(block.timestamp_ms),
        certified: Height(payload.result.height),
    };
    let view = ExecView {
        db,
        pending: state.pending.as_ref(),
    };
    // The first block after a recovery runs under the statement's record.
    let recovery = lock(&shared.recovery).clone();
    let recovery = recovery.as_deref();
    let recovering = recovery
        .map(|s| &s.plan)
        .filter(|p| p.height.0.checked_add(1) == Some(height));
    let outcome = crate::cpu::charge(&shared.counters, CpuStage::Execution, || {
        execute_block_with(
            &view,
            &ctx,
            txs,
            SignatureCheck::Preverified(&pre),
            recovering,
        )
    })?;
    let senders: FastSet<Address> = pre.senders.iter().copied().collect();
    let claim_height = payload.result.height;
    let mut membership =
        changed_membership(&state.membership, &outcome.changes, block.id(), height);
    // This block is where a recovery statement starts a new epoch (this
    // node came to it by sync): the statement must name this block and
    // its state, and this ledger's members must have signed it.
    let recovery_at = recovery.filter(|s| s.plan.height.0 == height);
    if let Some(statement) = recovery_at {
        let after = Pending {
            version: height,
            values: outcome.changes.iter().cloned().collect(),
        };
        let view = ExecView {
            db,
            pending: Some(&after),
        };
        let consortium = hutong_runtime::recovery::check(&view, shared.chain_id, statement)
            .map_err(|e| ExecutorError::Recovery {
                height,
                error: e.into(),
            })?;
        membership = Some(Arc::new(Membership::of(&consortium, block.id())));
    }
    if let Some(m) = &membership {
        if m.epoch > state.membership.epoch {
            tracing::info!(
                height,
                epoch = m.epoch.0,
                validators = m.validators.len(),
                "this block ends epoch {}: the validator set changes",
                state.membership.epoch.0
            );
            let end = EpochEnd {
                epoch: state.membership.epoch,
                height,
                tail: Vec::new(),
                proof: proof.clone().unwrap_or_else(|| block.justify.clone()),
            };
            match &proof {
                Some(_) => db.put_epoch_end(&end)?,
                None => state.tail = Some(end),
            }
        }
    }
    // On a regulator, the audit indexes and the risk detectors of this
    // block run on a thread of their own beside the state commitment:
    // they read the same changes, and the block's one serial path is
    // then the longer of the two rather than both.
    let (audit, mut update) = match &shared.audit {
        None => (
            None,
            crate::cpu::charge(&shared.counters, CpuStage::StateCommitment, || {
                prepare_commit(&view, height, outcome.changes)
            })?,
        ),
        Some(node) => {
            let params =
                &current_params(&view, &outcome.changes)?.unwrap_or_else(|| shared.params.clone());
            let tree_changes = outcome.changes.clone();
            let (block, payload, receipts, changes) =
                (&block, &payload, &outcome.receipts, &outcome.changes);
            let (hashes, earlier, last_claim) =
                (&pre.hashes, state.pending.as_ref(), state.last_claim);
            // The block's index entries and alerts, encoded for its batch.
            let counters = &shared.counters;
            let index = |node: &AuditNode| {
                crate::cpu::charge(counters, CpuStage::AuditIndex, || {
                    node.index_block(
                        db,
                        params,
                        block,
                        payload,
                        hashes,
                        receipts,
                        changes,
                        earlier.iter().flat_map(|p| p.values.iter()),
                        last_claim,
                    )
                })
                .map(|a| {
                    let extra = crate::audit::index::puts(height, &a);
                    (a.alerts, extra)
                })
            };
            let (audit, update) = std::thread::scope(|scope| {
                let indexing = std::thread::Builder::new()
                    .name("hutong-audit".into())
                    .spawn_scoped(scope, move || index(node));
                let update = crate::cpu::charge(counters, CpuStage::StateCommitment, || {
                    prepare_commit(&view, height, tree_changes)
                });
                let audit = match indexing {
                    Ok(h) => h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)),
                    // No thread to be had: index here, after the tree.
                    Err(_) => index(node),
                };
                (audit, update)
            });
            (Some(audit?), update?)
        }
    };
    let state_root = update.root;
    if let Some(statement) = recovery_at {
        let plan = &statement.plan;
        let refuse = |what, named: &hutong_runtime::Hash, ours: [u8; 32]| ExecutorError::Recovery {
            height,
            error: crate::recovery::RecoverError::Uncertified {
                what,
                height,
                named: named.to_hex(),
                ours: hex::encode(ours),
            },
        };
        if plan.block_id.0 != block.id().0 {
            return Err(refuse("block", &plan.block_id, block.id().0));
        }
        if plan.state_root != state_root {
            return Err(refuse("state root", &plan.state_root, state_root.0));
        }
        tracing::warn!(
            height,
            epoch = hutong_wire::GENESIS_EPOCH
                .0
                .saturating_add(plan.new_epoch()),
            "recovery: the members' statement names this block; a new epoch starts here"
        );
    }
    let receipts_root = hutong_runtime::block::receipts_root(&outcome.receipts);
    let record = Executed {
        height,
        block_id: block.id(),
        round: block.round.0,
        timestamp_ms: block.timestamp_ms,
        state_root,
        receipts_root,
    };
    // The next block's tree starts from this one's nodes, before they are
    // durable; the writer writes them from the same shared batch.
    let nodes = Arc::new(std::mem::take(&mut update.tree.nodes));
    crate::cpu::charge(&shared.counters, CpuStage::StateCommitment, || {
        db.stage_nodes(height, &nodes)
    });
    let values: FastMap<StateKey, Option<StateValue>> = update.values.iter().cloned().collect();
    let (alerts, extra) = audit.unwrap_or_default();
    let staged = Staged {
        write: BlockWrite {
            tx_hashes: pre.hashes.clone(),
            block,
            payload,
            executed: record,
            receipts: outcome.receipts,
            state: update,
            proof,
            extra,
        },
        nodes,
        alerts,
        senders,
        txs: pre.hashes.len(),
        membership: membership.clone(),
    };
    // Returns once the writer has taken this block, so every block before
    // it is durable and only this one is pending.
    to_writer
        .send(staged)
        .map_err(|_| ExecutorError::WriterStopped)?;
    state.last = record;
    state.last_claim = Some(claim_height);
    state.pending = Some(Pending {
        version: height,
        values,
    });
    if let Some(m) = membership {
        state.membership = m;
    }
    Ok(())
}

/// The membership after a block, if the block changed the consortium
/// record: a new epoch starts from this block when the validator set
/// changed, else the epoch goes on (a member added as observer, an
/// address, a regulator).
fn changed_membership(
    current: &Membership,
    changes: &[(StateKey, Option<StateValue>)],
    block_id: hutong_consensus::types::BlockId,
    height: u64,
) -> Option<Arc<Membership>> {
    let consortium = changes.iter().find_map(|(k, v)| match (k, v) {
        (StateKey::Consortium, Some(StateValue::Consortium(c))) => Some(c),
        _ => None,
    })?;
    let genesis = if Membership::epoch_of(consortium) > current.epoch {
        debug_assert_eq!(consortium.epoch_start.0, height + 1);
        block_id
    } else {
        current.genesis
    };
    Some(Arc::new(Membership::of(consortium, genesis)))
}

/// A block of an epoch that ended below it: committed by that epoch's
/// validators, but no node executes it (the next epoch starts from the
/// ended one's last block). Kept until the certificate that commits it
/// comes, then recorded with the epoch's end for peers still in it.
fn keep_tail(db: &Db, state: &mut ExecState, job: ExecJob) -> Result<(), ExecutorError> {
    let height = job.block.height.0;
    tracing::debug!(
        height,
        epoch = job.block.epoch.0,
        "block committed after its epoch ended; not executed"
    );
    let Some(end) = state.tail.as_mut() else {
        return Ok(());
    };
    if job.block.epoch != end.epoch || height != end.height + end.tail.len() as u64 + 1 {
        return Ok(());
    }
    let block = StoredBlock {
        block: job.block,
        payload: (*job.payload).clone(),
    };
    let bytes: usize = end
        .tail
        .iter()
        .chain(std::iter::once(&block))
        .map(|b| borsh::object_length(b).unwrap_or(usize::MAX))
        .fold(0usize, |a, b| a.saturating_add(b));
    if bytes > SYNC_ANSWER_BYTES {
        tracing::warn!(
            epoch = end.epoch.0,
            "an ended epoch's tail is too large to serve; peers behind it sync from others"
        );
        state.tail = None;
        return Ok(());
    }
    end.tail.push(block);
    match job.proof {
        Some(proof) => {
            if let Some(mut end) = state.tail.take() {
                end.proof = proof;
                db.put_epoch_end(&end)?;
            }
        }
        None if end.tail.len() >= SYNC_ANSWER_BLOCKS_MAX => {
            tracing::warn!(
                epoch = end.epoch.0,
                "an ended epoch's tail is too long to serve; peers behind it sync from others"
            );
            state.tail = None;
        }
        None => {}
    }
    Ok(())
}

/// The writer thread: makes each executed block durable, in order, then
/// announces it. A failed write halts the node.
fn write_loop(shared: &ExecHandles, blocks: Receiver<Staged>) {
    while let Ok(staged) = blocks.recv() {
        let height = staged.write.executed.height;
        if let Err(e) = write_block(shared, staged) {
            halt(shared, height, &e.to_string());
            // Dropping the receiver stops the executor at its next block.
            return;
        }
    }
}

fn write_block(shared: &ExecHandles, staged: Staged) -> Result<(), ExecutorError> {
    let db = &shared.db;
    let Staged {
        write,
        nodes,
        alerts,
        senders,
        txs,
        membership,
    } = staged;
    let record = write.executed;
    let height = record.height;
    let state_root = record.state_root;
    let tx_hashes = write.tx_hashes.clone();
    let started = Instant::now();
    crate::cpu::charge(&shared.counters, CpuStage::Storage, || {
        db.commit_staged_block(write, nodes)
    })?;
    if let Some(node) = &shared.audit {
        node.publish(alerts);
    }
    let c = &shared.counters;
    Counters::add(
        &c.rocksdb_write_micros_total,
        started.elapsed().as_micros() as u64,
    );
    Counters::add(&c.rocksdb_writes, 1);
    Counters::add(&c.committed_blocks, 1);
    Counters::add(&c.committed_txs, txs as u64);

    // The block is durable: the mempool lets go of its transactions, then
    // everyone waiting hears about it.
    let tip = Tip {
        height,
        timestamp_ms: record.timestamp_ms,
    };
    let sequence = |a: &Address| match db.signer_account(a) {
        Ok(Some(acc)) => Some(acc.sequence.0),
        _ => None,
    };
    let outcome = lock(&shared.pool).on_commit(&tx_hashes, &senders, sequence, tip);
    remember_endings(shared, height, outcome);
    if let Some(m) = membership {
        shared.membership.send_replace(m);
    }
    shared.executed.send_replace(record);
    let _ = shared.commits.send(Arc::new(BlockNotice {
        height,
        block_id: hex::encode(record.block_id.0),
        round: record.round,
        timestamp_ms: record.timestamp_ms,
        txs,
        state_root: state_root.to_string(),
        receipts_root: record.receipts_root.to_string(),
    }));
    if height.is_multiple_of(100) || txs > 0 {
        tracing::info!(height, txs, state_root = %state_root, "executed");
    }
    Ok(())
}

/// Pending transactions that ended without executing become final for
/// their wallets: `sequence_used` (naming the committed transaction that
/// took the sequence, read from the block just written: this is the rare
/// path), or dropped as `expired`.
fn remember_endings(shared: &ExecHandles, height: u64, outcome: CommitOutcome) {
    if outcome.superseded.is_empty() && outcome.expired.is_empty() {
        return;
    }
    let used: HashMap<(Address, u64), Hash> = if outcome.superseded.is_empty() {
        HashMap::new()
    } else {
        match shared.db.block_at(height) {
            Ok(Some(stored)) => stored
                .payload
                .txs
                .iter()
                .map(|t| ((t.tx.sender_address(), t.tx.sequence.0), t.hash()))
                .collect(),
            _ => HashMap::new(),
        }
    };
    let mut recent = lock(&shared.rejections);
    for s in outcome.superseded {
        let used_by = used.get(&(s.sender, s.sequence)).map(|h| h.to_string());
        recent.insert(
            s.hash,
            Rejection::SequenceUsed {
                sequence: s.sequence,
                used_by,
            },
        );
        shared.counters.reject("sequence_used");
    }
    for (hash, expiry) in outcome.expired {
        recent.insert_dropped(
            hash,
            Rejection::Expired {
                expiry: format!("{expiry:?}"),
            },
        );
    }
}

/// The risk parameters after a block: its own change if it made one (a
/// tier's limits changed by vote), else the state's.
fn current_params<S: hutong_runtime::StateStore + ?Sized>(
    view: &S,
    changes: &[(StateKey, Option<StateValue>)],
) -> Result<Option<Params>, hutong_runtime::StoreError> {
    for (k, v) in changes {
        if let (StateKey::Params, Some(StateValue::Params(p))) = (k, v) {
            return Ok(Some(p.clone()));
        }
    }
    match hutong_runtime::store::read_value(view, &StateKey::Params)? {
        Some(StateValue::Params(p)) => Ok(Some(p)),
        _ => Ok(None),
    }
}

/// Adopts a recovery statement a peer served while this node waits at the
/// statement's height (it was down during the recovery, or joins later):
/// checked like `hutong recover apply` against what this node executed,
/// kept, and put in force. Anything else is logged and dropped: a peer
/// cannot forge the members' signatures, only serve a stale or foreign
/// statement.
pub fn adopt_recovery(shared: &ExecHandles, statement: RecoveryStatement) {
    let executed = *shared.executed.borrow();
    let height = statement.plan.height.0;
    if let Err(e) = statement.check_bounds() {
        tracing::warn!(
            height,
            "a peer served a recovery statement out of bounds: {e}"
        );
        return;
    }
    if executed.height != height {
        tracing::debug!(
            height,
            executed = executed.height,
            "a peer's recovery statement is not for this node's height"
        );
        return;
    }
    {
        let pending = lock(&shared.recovery);
        if pending.as_ref().is_some_and(|p| p.plan == statement.plan) {
            return;
        }
    }
    let db = &shared.db;
    let membership =
        match crate::recovery::membership_in(db, shared.chain_id, &statement, &executed) {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(
                    height,
                    "a peer served a recovery statement this node refuses: {e}"
                );
                return;
            }
        };
    if let Err(e) = db.put_recovery(&statement) {
        tracing::error!("cannot keep the recovery statement: {e}");
        return;
    }
    tracing::warn!(
        height,
        epoch = membership.epoch.0,
        validators = membership.validators.len(),
        "recovery: a peer served the members' statement; a new epoch starts from this height"
    );
    *lock(&shared.recovery) = Some(Arc::new(statement));
    if let Err(e) = crate::membership::recover_epoch_end(db, &membership) {
        tracing::warn!("cannot record how the last epoch ended: {e}");
    }
    shared.membership.send_replace(Arc::new(membership));
}

#[cfg(test)]
mod tests {
    //! The overlap at the storage level: block N+1's state is computed
    //! through [`ExecView`] while block N is not yet written, and must give
    //! exactly what executing them one after the other gives.

    use super::*;
    use hutong_consensus::types::{
        Block, Digest, Epoch, Height as CHeight, QuorumCert, Round, ValidatorId,
    };
    use hutong_runtime::crypto::Hash;
    use hutong_runtime::state::Holding;
    use hutong_runtime::store::state_root;
    use hutong_runtime::{AssetCode, ChainId, MemStore};

    use hutong_wire::payload::{Payload, ResultClaim};

    fn key(i: u64) -> StateKey {
        let mut a = [0u8; 20];
        a[..8].copy_from_slice(&i.to_le_bytes());
        StateKey::Balance(Address(a), AssetCode::new("CNY").expect("a valid code"))
    }

    fn amount_of(value: Option<StateValue>) -> u128 {
        match value {
            Some(StateValue::Balance(h)) => h.balance.0,
            None => 0,
            Some(other) => panic!("not a balance: {other:?}"),
        }
    }

    /// Version `v` adds `v` to 40 balances (overlapping from version to
    /// version), reading each through `store`: a stale read gives a
    /// different value and so a different root.
    fn changes<S: StateStore>(store: &S, v: u64) -> Vec<(StateKey, Option<StateValue>)> {
        (0..40u64)
            .map(|i| {
                let k = key((v * 7 + i) % 100);
                let old = amount_of(store.get(&k).expect("a readable store"));
                let new = Holding::of(hutong_runtime::Amount(old + u128::from(v)));
                (k, Some(StateValue::Balance(new)))
            })
            .collect()
    }

    fn block_write(height: u64, state: StateUpdate) -> BlockWrite {
        let genesis = Digest([1; 32]);
        let stored = crate::store::StoredBlock {
            block: Block {
                epoch: Epoch(1),
                round: Round(height),
                height: CHeight(height),
                proposer: ValidatorId(0),
                timestamp_ms: height,
                payload: Digest([height as u8; 32]),
                justify: QuorumCert::genesis(Epoch(1), genesis, CHeight(0)),
                timeout_cert: None,
            },
            payload: Payload {
                result: ResultClaim {
                    height: height.saturating_sub(1),
                    state_root: Hash([0; 32]),
                    receipts_root: Hash([0; 32]),
                },
                txs: Vec::new(),
            },
        };
        BlockWrite {
            executed: Executed {
                height,
                block_id: stored.block.id(),
                round: height,
                timestamp_ms: height,
                state_root: state.root,
                receipts_root: Hash([0; 32]),
            },
            block: stored.block,
            payload: Arc::new(stored.payload),
            receipts: Vec::new(),
            tx_hashes: Vec::new(),
            state,
            proof: None,
            extra: Vec::new(),
        }
    }

    /// The database keeps a tree key's value in its leaf and transfer
    /// records apart: read back cold, every latest value, every deletion
    /// and every older version agree with the in-memory reference store
    /// (leaves that moved when a key beside them came or went included).
    #[test]
    fn latest_values_read_cold_match_the_reference_store() {
        use hutong_runtime::state::{TransferFields, TransferRecord};
        use hutong_runtime::{Amount, TransferId};

        let dir = tempfile::tempdir().expect("a temporary folder");
        let mut db = Db::open(dir.path(), ChainId([7; 32])).expect("a new database");
        let mut reference = MemStore::new();
        let record = |i: u8| {
            (
                StateKey::TransferRecord(Address([i; 20]), TransferId(u128::from(i))),
                Some(StateValue::TransferRecord(TransferRecord {
                    tx_hash: Hash([i; 32]),
                    fields: TransferFields::Single {
                        to: Address([9; 20]),
                        asset: AssetCode::new("CNY").expect("a valid code"),
                        amount: Amount(u128::from(i)),
                    },
                })),
            )
        };
        let balance = |v: u128| Some(StateValue::Balance(Holding::of(Amount(v))));
        let versions: Vec<Vec<(StateKey, Option<StateValue>)>> = vec![
            (0..20).map(|i| (key(i), balance(u128::from(i)))).collect(),
            vec![(key(3), balance(300)), record(1), record(2)],
            // Deletions; a record's value changes.
            vec![(key(4), None), (key(5), None), (key(6), balance(600))],
            vec![(key(5), balance(55)), record(3)],
        ];
        for (v, changes) in versions.into_iter().enumerate() {
            let v = v as u64;
            let ours = prepare_commit(&db, v, changes.clone()).expect("computed");
            let theirs = prepare_commit(&reference, v, changes).expect("computed");
            assert_eq!(ours.root, theirs.root, "root of version {v}");
            db.apply(ours).expect("written");
            reference.apply(theirs).expect("applied");
        }
        drop(db);
        let db = Db::open(dir.path(), ChainId([7; 32])).expect("reopened");
        let mut keys: Vec<StateKey> = (0..22).map(key).collect();
        keys.extend((1..=4).map(|i| record(i).0));
        for k in &keys {
            assert_eq!(
                db.state(k).expect("readable"),
                reference.get(k).expect("readable"),
                "{k:?}"
            );
        }
        assert_eq!(db.state(&key(4)).expect("readable"), None);
        for v in 0..=3 {
            for i in [3, 4, 5, 6] {
                let h = key(i).key_hash();
                assert_eq!(
                    StateStore::tree_value(&db, v, &h).expect("readable"),
                    reference.tree_value(v, &h).expect("readable"),
                    "key {i} at version {v}"
                );
            }
        }
    }

    #[test]
    fn the_next_block_runs_on_the_pending_one_and_matches_serial_execution() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let db = Db::open(dir.path(), ChainId([7; 32])).expect("a new database");
        let mut reference = MemStore::new();

        let genesis = prepare_commit(&db, 0, changes(&db, 0)).expect("genesis");
        reference
            .apply(prepare_commit(&reference, 0, changes(&reference, 0)).expect("genesis"))
            .expect("applied");
        let executed = Executed {
            height: 0,
            block_id: Digest([1; 32]),
            round: 0,
            timestamp_ms: 0,
            state_root: genesis.root,
            receipts_root: Hash([0; 32]),
        };
        db.commit_genesis(genesis, executed).expect("written");

        // Each block is computed while the previous one is still unwritten,
        // then the previous one is written: the executor and writer of the
        // node, in one thread.
        let mut pending: Option<Pending> = None;
        let mut unwritten: Option<(BlockWrite, Arc<Nodes>)> = None;
        for height in 1..=12u64 {
            let view = ExecView {
                db: &db,
                pending: pending.as_ref(),
            };
            let mut update =
                prepare_commit(&view, height, changes(&view, height)).expect("computed");
            let expected =
                prepare_commit(&reference, height, changes(&reference, height)).expect("computed");
            assert_eq!(update.root, expected.root, "root of height {height}");
            reference.apply(expected).expect("applied");

            let nodes = Arc::new(std::mem::take(&mut update.tree.nodes));
            db.stage_nodes(height, &nodes);
            let values = update.values.iter().cloned().collect();
            if let Some((write, nodes)) = unwritten.take() {
                db.commit_staged_block(write, nodes).expect("written");
            }
            pending = Some(Pending {
                version: height,
                values,
            });
            unwritten = Some((block_write(height, update), nodes));
            // Nothing outside the executor sees the unwritten block.
            assert_eq!(db.latest_version(), Some(height - 1));
        }
        let (write, nodes) = unwritten.take().expect("the last block");
        db.commit_staged_block(write, nodes).expect("written");

        assert_eq!(db.latest_version(), Some(12));
        assert_eq!(
            state_root(&db, 12).expect("a root"),
            state_root(&reference, 12).expect("a root")
        );
        for i in 0..100 {
            assert_eq!(
                db.state(&key(i)).expect("readable"),
                reference.get(&key(i)).expect("readable"),
                "key {i}"
            );
        }
        // Reopened, without the in-memory caches: the staged nodes were
        // written.
        drop(db);
        let db = Db::open(dir.path(), ChainId([7; 32])).expect("reopened");
        assert_eq!(
            state_root(&db, 12).expect("a root"),
            state_root(&reference, 12).expect("a root")
        );
        for v in 1..=12 {
            assert_eq!(
                state_root(&db, v).expect("a root"),
                state_root(&reference, v).expect("a root"),
                "version {v}"
            );
        }
    }
}

//! The consensus task: the host ([`hutong_host::host`]) driven by tokio,
//! with the node's network, database and executor. One input at a time:
//! a peer's message, a timer, the pool growing while this node waits to
//! propose, work finished on another thread, a block executed, the
//! validator set changed by a vote the executor executed.

use std::future::Future;
use std::sync::Arc;

use hutong_consensus::types::ValidatorId;
use hutong_host::host::{Completion, Context, ExecJob, Executor, Host, Refused};
use hutong_runtime::PublicKey;
use hutong_wire::p2p::ConsensusEnvelope;
use hutong_wire::{Executed, Membership, NodeSigner, NodeVerifier};
use libp2p::PeerId;
use tokio::sync::{mpsc, watch, Notify};

use crate::runtime::{sleep_until, TokioRuntime};
use crate::status::Halt;
use crate::store::Db;

/// The host as the node runs it.
#[derive(Debug)]
pub struct NodeContext;

impl Context for NodeContext {
    type Runtime = TokioRuntime;
    type Store = Db;
    type Executor = ExecQueue;
    type Signer = NodeSigner;
    type Verifier = NodeVerifier;
}

/// The executor's queue (see [`crate::executor`]).
#[derive(Debug, Clone)]
pub struct ExecQueue(pub mpsc::Sender<ExecJob>);

impl Executor for ExecQueue {
    #[allow(clippy::result_large_err)]
    fn try_execute(&self, job: ExecJob) -> Result<(), Refused> {
        match self.0.try_send(job) {
            Ok(()) => Ok(()),
            Err(mpsc::error::TrySendError::Full(job)) => Err(Refused::Full(job)),
            Err(mpsc::error::TrySendError::Closed(_)) => Err(Refused::Stopped),
        }
    }
}

/// A host's inbox for work it started elsewhere. Unbounded in type, but
/// bounded by what the host starts: one payload check per block the core
/// waits on (at most its `blocks_max`), one bulk sync and one fetch per
/// missing block (bounded by the core) in flight.
pub fn inbox() -> (
    hutong_host::host::Inbox,
    mpsc::UnboundedReceiver<Completion>,
) {
    let (tx, rx) = mpsc::unbounded_channel();
    let inbox: hutong_host::host::Inbox = Arc::new(move |c| {
        let _ = tx.send(c);
    });
    (inbox, rx)
}

/// What the consensus task listens to.
#[derive(Debug)]
pub struct Inputs {
    pub messages: mpsc::Receiver<(PeerId, ConsensusEnvelope)>,
    pub completions: mpsc::UnboundedReceiver<Completion>,
    pub executed: watch::Receiver<Executed>,
    pub pool_grew: Arc<Notify>,
    /// The membership the executor announces, and this node's key.
    pub membership: watch::Receiver<Arc<Membership>>,
    pub me: PublicKey,
    /// To resolve the consortium's timing with this node's overrides.
    pub config: crate::config::NodeConfig,
}

/// Follows a membership change: the epoch, and the timing.
fn follow(
    host: &mut Host<NodeContext>,
    m: &Membership,
    me: &PublicKey,
    config: &crate::config::NodeConfig,
    timing: &mut hutong_runtime::governance::ConsensusTiming,
) -> anyhow::Result<()> {
    follow_epoch(host, m, me)?;
    if m.timing != *timing {
        *timing = m.timing;
        match config.resolve_timing(&m.timing) {
            Ok((consensus, host_config)) => {
                tracing::info!(timing = ?m.timing, "the consortium's consensus timing changed");
                host.set_timing(&consensus, host_config);
            }
            // A vote cannot make the ledger's timing unusable (it is
            // checked), but this node's overrides may not fit with it.
            Err(e) => tracing::error!(
                "the consortium's new consensus timing does not fit this node's config ({e}); \
                 keeping the previous timing"
            ),
        }
    }
    Ok(())
}

/// Moves the host into the membership's epoch, if it is a later one.
fn follow_epoch(
    host: &mut Host<NodeContext>,
    m: &Membership,
    me: &PublicKey,
) -> anyhow::Result<()> {
    if m.epoch <= host.core().epoch() {
        return Ok(());
    }
    let validators = m
        .validator_set()
        .map_err(|e| anyhow::anyhow!("the validator set of epoch {}: {e}", m.epoch.0))?;
    let peers = crate::membership::validator_peers(m)?;
    let index = m.index_of(me);
    tracing::info!(
        epoch = m.epoch.0,
        from_height = m.genesis_height,
        validators = m.validators.len(),
        validator = index.is_some(),
        "new epoch: consensus switches to the validator set the consortium voted"
    );
    host.on_new_epoch(validators, index.map(ValidatorId), peers)?;
    Ok(())
}

/// Runs the host until `shutdown` resolves. Returns an error only for a
/// failed local write (fatal). Once execution halts, consensus stops too
/// (its votes would certify a state this node no longer follows) and
/// waits for the shutdown.
pub async fn run(
    mut host: Host<NodeContext>,
    mut inputs: Inputs,
    halt: Halt,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    tokio::pin!(shutdown);
    host.start()?;
    let me = inputs.me;
    let mut timing = inputs.membership.borrow().timing;
    loop {
        let wake = host.next_wake();
        let rt = host.runtime().clone();
        let wants_pool = host.wants_pool_news();
        tokio::select! {
            _ = &mut shutdown => return Ok(()),
            _ = sleep_until(&rt, wake) => host.on_wake()?,
            _ = inputs.pool_grew.notified(), if wants_pool => host.on_pool_grew()?,
            message = inputs.messages.recv() => match message {
                Some((from, envelope)) => host.on_message(from, envelope)?,
                None => return Ok(()),
            },
            Some(completion) = inputs.completions.recv() => host.on_completion(completion)?,
            changed = inputs.executed.changed() => {
                if changed.is_err() {
                    return Ok(());
                }
                // The executor announces a membership before the block
                // that changed it.
                if inputs.membership.has_changed().unwrap_or(false) {
                    let m = inputs.membership.borrow_and_update().clone();
                    follow(&mut host, &m, &me, &inputs.config, &mut timing)?;
                }
                let executed = *inputs.executed.borrow_and_update();
                host.on_executed(executed)?;
            }
            Ok(()) = inputs.membership.changed() => {
                let m = inputs.membership.borrow_and_update().clone();
                follow(&mut host, &m, &me, &inputs.config, &mut timing)?;
            }
        }
        if halt.reason().is_some() {
            tracing::error!("consensus stops: execution halted");
            shutdown.await;
            return Ok(());
        }
    }
}

//! The consensus task: the host ([`hutong_host::host`]) driven by tokio,
//! with the node's network, database and executor. One input at a time:
//! a peer's message, a timer, the pool growing while this node waits to
//! propose, work finished on another thread, a block executed.

use std::future::Future;
use std::sync::Arc;

use hutong_host::host::{Completion, Context, ExecJob, Executor, Host, Refused};
use hutong_wire::p2p::ConsensusEnvelope;
use hutong_wire::{Executed, NodeSigner, NodeVerifier};
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
                let executed = *inputs.executed.borrow_and_update();
                host.on_executed(executed)?;
            }
        }
        if halt.reason().is_some() {
            tracing::error!("consensus stops: execution halted");
            shutdown.await;
            return Ok(());
        }
    }
}

//! Shared transactions and attestations ([`TXS_PROTOCOL`]) on one
//! long-lived stream per peer and direction, not a request each.
//!
//! Validators exchange a batch or an attestation every few milliseconds.
//! As requests, each opened a Yamux stream, negotiated the protocol,
//! wrote one frame, closed, and waited for an empty response: several
//! frames and socket writes each way per message, and the network's CPU
//! per transfer grew as batches got smaller. Here a writer task per peer
//! keeps one stream open and writes frames back to back (what queued
//! while it wrote goes out together), and a reader task per inbound
//! stream reads frames until the stream ends.
//!
//! Best effort, as before: a frame that cannot be queued (the peer's queue
//! is full, the peer is not connected, its stream broke) is dropped and
//! counted; the validator that admitted the transactions proposes them
//! itself. A frame that does not decode, or breaks the batch rules,
//! costs its sender a penalty and the stream.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use futures::{AsyncWriteExt, StreamExt};
use hutong_host::status::{Counters, CpuStage};
use hutong_host::util::lock;
use hutong_wire::p2p::{self, TxGossip, TXS_BYTES_MAX, TXS_PROTOCOL};
use libp2p::{PeerId, StreamProtocol};
use libp2p_stream::{Control, IncomingStreams};
use tokio::sync::mpsc;

use super::codec::read_framed;
use super::NetCommand;
use crate::cpu::Metered;
use crate::status::PeerStatus;

/// Frames queued for one peer; past it, new ones are dropped and counted.
pub(super) const QUEUE_MAX: usize = 1_024;

/// Inbound streams one peer may hold open at once (one per connection,
/// normally: two nodes that dialled each other hold two).
const INBOUND_PER_PEER_MAX: usize = 4;

/// Most bytes written before the writer flushes, when frames keep coming.
const FLUSH_BYTES: usize = 1024 * 1024;

/// How long opening a stream may take before the frame waiting for it is
/// dropped.
const OPEN_TIMEOUT: Duration = Duration::from_secs(10);

pub(super) fn protocol() -> StreamProtocol {
    StreamProtocol::new(TXS_PROTOCOL)
}

/// What the reader and writer tasks share with the network task.
#[derive(Clone)]
pub(super) struct Shared {
    pub control: Control,
    /// The peers connected now (the network task keeps it).
    pub connected: Arc<RwLock<std::collections::HashSet<PeerId>>>,
    pub status: Arc<Mutex<PeerStatus>>,
    /// The network task's own command queue, for penalties.
    pub commands: mpsc::Sender<NetCommand>,
    /// Where decoded messages go.
    pub gossip: mpsc::Sender<(PeerId, TxGossip)>,
    /// How many validators the membership has (a batch's rules depend on
    /// it); the network task updates it.
    pub validators: Arc<AtomicUsize>,
    /// Open inbound streams per peer.
    pub inbound: Arc<Mutex<HashMap<PeerId, usize>>>,
    pub cpu: Option<Arc<Counters>>,
}

impl Shared {
    /// Spawns `task` on tokio, its polls charged to the network when
    /// counted.
    pub fn spawn(&self, task: impl std::future::Future<Output = ()> + Send + 'static) {
        match &self.cpu {
            Some(counters) => {
                tokio::spawn(Metered::new(counters.clone(), CpuStage::Network, task));
            }
            None => {
                tokio::spawn(task);
            }
        }
    }

    fn dropped(&self) {
        lock(&self.status).dropped_events += 1;
    }

    fn is_connected(&self, peer: &PeerId) -> bool {
        self.connected
            .read()
            .map(|c| c.contains(peer))
            .unwrap_or(false)
    }

    fn penalise(&self, peer: PeerId, why: String) {
        // The command queue full: the penalty is lost, the stream is
        // dropped all the same.
        let _ = self.commands.try_send(NetCommand::Penalise { peer, why });
    }
}

/// Accepts inbound streams until the swarm goes; a reader task each.
pub(super) async fn accept(shared: Shared, mut incoming: IncomingStreams) {
    while let Some((peer, stream)) = incoming.next().await {
        {
            let mut open = lock(&shared.inbound);
            let count = open.entry(peer).or_insert(0);
            if *count >= INBOUND_PER_PEER_MAX {
                tracing::debug!(%peer, "refused another inbound transactions stream");
                continue;
            }
            *count += 1;
        }
        let reader = read(shared.clone(), peer, stream);
        shared.spawn(reader);
    }
}

/// Reads one inbound stream's frames until it ends or breaks.
async fn read(shared: Shared, peer: PeerId, mut stream: libp2p::Stream) {
    loop {
        match read_framed::<TxGossip, _>(&mut stream, TXS_BYTES_MAX).await {
            Ok(gossip) => {
                let validators = shared.validators.load(Ordering::Relaxed);
                if let Err(e) = gossip.check_bounds(validators) {
                    shared.penalise(peer, e.to_string());
                    break;
                }
                if shared.gossip.try_send((peer, gossip)).is_err() {
                    shared.dropped();
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
                shared.penalise(peer, e.to_string());
                break;
            }
            // The stream or its connection ended (cleanly or not): the
            // peer opens another when it has something to send.
            Err(e) => {
                tracing::debug!(%peer, "transactions stream ended: {e}");
                break;
            }
        }
    }
    let mut open = lock(&shared.inbound);
    if let Some(count) = open.get_mut(&peer) {
        *count = count.saturating_sub(1);
        if *count == 0 {
            open.remove(&peer);
        }
    }
}

/// Starts the writer task for `peer`; frames go through the returned
/// queue. The task ends when the queue's sender is dropped.
pub(super) fn writer(shared: &Shared, peer: PeerId) -> mpsc::Sender<Arc<Vec<u8>>> {
    let (tx, rx) = mpsc::channel(QUEUE_MAX);
    shared.spawn(write(shared.clone(), peer, rx));
    tx
}

async fn write(mut shared: Shared, peer: PeerId, mut frames: mpsc::Receiver<Arc<Vec<u8>>>) {
    let mut stream: Option<libp2p::Stream> = None;
    while let Some(first) = frames.recv().await {
        let out = match stream.as_mut() {
            Some(out) => out,
            None => {
                if !shared.is_connected(&peer) {
                    shared.dropped();
                    continue;
                }
                let open = shared.control.open_stream(peer, protocol());
                match tokio::time::timeout(OPEN_TIMEOUT, open).await {
                    Ok(Ok(s)) => stream.insert(s),
                    Ok(Err(e)) => {
                        tracing::debug!(%peer, "cannot open a transactions stream: {e}");
                        shared.dropped();
                        continue;
                    }
                    Err(_) => {
                        tracing::debug!(%peer, "opening a transactions stream timed out");
                        shared.dropped();
                        continue;
                    }
                }
            }
        };
        // This frame, and whatever queued meanwhile, then one flush.
        let mut written = 0;
        let mut next = Some(first);
        let mut result = Ok(());
        while let Some(frame) = next.take() {
            result = out.write_all(&frame).await;
            written += frame.len();
            if result.is_err() || written >= FLUSH_BYTES {
                break;
            }
            next = frames.try_recv().ok();
        }
        if result.is_ok() {
            result = out.flush().await;
        }
        if let Err(e) = result {
            tracing::debug!(%peer, "transactions stream broke: {e}");
            shared.dropped();
            stream = None;
        }
    }
    if let Some(mut out) = stream {
        let _ = out.close().await;
    }
}

/// The frame of a message, or why it cannot be sent.
pub(super) fn frame(gossip: &TxGossip) -> Result<Arc<Vec<u8>>, p2p::FrameError> {
    p2p::encode_frame(gossip, TXS_BYTES_MAX).map(Arc::new)
}

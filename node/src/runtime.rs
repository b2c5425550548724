//! The node's implementation of the host logic's runtime traits
//! ([`hutong_host::runtime`]): tokio's clock and blocking pool, and the
//! libp2p network through its handle.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hutong_host::runtime::{Clock, Instant, Network, Spawner, SyncReply};
use hutong_wire::p2p::{ConsensusEnvelope, SyncRequest, TxGossip};
use libp2p::PeerId;

use crate::network::NetHandle;

#[derive(Debug, Clone)]
pub struct TokioRuntime {
    origin: tokio::time::Instant,
    net: NetHandle,
}

impl TokioRuntime {
    pub fn new(net: NetHandle) -> TokioRuntime {
        TokioRuntime {
            origin: tokio::time::Instant::now(),
            net,
        }
    }

    /// The tokio instant of a point on this runtime's clock.
    pub fn tokio_instant(&self, at: Instant) -> tokio::time::Instant {
        self.origin + at.0
    }
}

/// Sleeps until `at` on `rt`'s clock, or forever when there is no `at`.
pub async fn sleep_until(rt: &TokioRuntime, at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(rt.tokio_instant(at)).await,
        None => std::future::pending().await,
    }
}

impl Clock for TokioRuntime {
    fn now(&self) -> Instant {
        Instant(self.origin.elapsed())
    }

    fn wall_ms(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO)
            .as_millis() as u64
    }
}

impl Spawner for TokioRuntime {
    fn spawn_blocking(&self, work: Box<dyn FnOnce() + Send>) {
        tokio::task::spawn_blocking(work);
    }
}

impl Network for TokioRuntime {
    type Peer = PeerId;

    fn send(&self, to: PeerId, envelope: ConsensusEnvelope) {
        self.net.send(to, envelope)
    }

    fn broadcast(&self, envelope: ConsensusEnvelope) {
        self.net.broadcast(envelope)
    }

    fn gossip(&self, to: PeerId, gossip: TxGossip) {
        self.net.gossip(to, gossip)
    }

    fn is_connected(&self, peer: PeerId) -> bool {
        self.net.is_connected(peer)
    }

    fn request(&self, to: PeerId, request: SyncRequest, reply: SyncReply) {
        self.net.request(to, request, reply)
    }

    fn penalise(&self, peer: PeerId, why: &str) {
        self.net.penalise(peer, why)
    }
}

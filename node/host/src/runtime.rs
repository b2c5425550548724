//! What the host logic needs from the world, as small traits (after
//! Commonware's runtime traits): a clock, a way to run CPU work off the
//! caller's thread, and a network. The node implements them with tokio
//! and libp2p; the deterministic simulator with a simulated clock, inline
//! work and a seeded network, so that it runs the real host.
//!
//! Nothing here blocks or awaits: results of work started elsewhere (a
//! signature check on another thread, a peer's answer) come back to their
//! owner as an input, through the callback it passed.

use std::fmt::Debug;
use std::hash::Hash;
use std::ops::Add;
use std::time::Duration;

use hutong_wire::p2p::{ConsensusEnvelope, SyncRequest, SyncResponse, TxGossip};

/// A point on a monotonic clock: the time since the clock's origin.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Instant(pub Duration);

impl Instant {
    /// How long after `earlier` this is (zero if it is not after it).
    pub fn saturating_duration_since(self, earlier: Instant) -> Duration {
        self.0.saturating_sub(earlier.0)
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;

    fn add(self, d: Duration) -> Instant {
        Instant(self.0.saturating_add(d))
    }
}

pub trait Clock {
    /// Monotonic time, for timers and deadlines.
    fn now(&self) -> Instant;
    /// Wall-clock time in milliseconds since the Unix epoch, for block
    /// timestamps (and their drift check).
    fn wall_ms(&self) -> u64;
}

/// Runs CPU work (milliseconds of signature checks) where it does not
/// hold up the caller's event loop.
pub trait Spawner {
    fn spawn_blocking(&self, work: Box<dyn FnOnce() + Send>);
}

/// An answer to a sync request, or `None` when none came (the peer is not
/// connected, the request timed out or failed).
pub type SyncReply = Box<dyn FnOnce(Option<SyncResponse>) + Send>;

/// The peer-to-peer network as the host logic uses it. Sends never wait:
/// a full queue drops the message (consensus recovers lost messages, and
/// a dropped share only delays transactions).
pub trait Network {
    /// Who a message comes from or goes to.
    type Peer: Copy + Eq + Hash + Debug + Send + Sync + 'static;

    /// A consensus message to one peer.
    fn send(&self, to: Self::Peer, envelope: ConsensusEnvelope);
    /// A consensus message to every connected member: validators vote on
    /// it, observers and regulators follow the chain through it.
    fn broadcast(&self, envelope: ConsensusEnvelope);
    /// Transactions or an attestation to one validator.
    fn gossip(&self, to: Self::Peer, gossip: TxGossip);
    /// Whether `peer` is connected now.
    fn is_connected(&self, peer: Self::Peer) -> bool;
    /// Asks `to` for blocks; `reply` gets the answer.
    fn request(&self, to: Self::Peer, request: SyncRequest, reply: SyncReply);
    /// `peer` sent what only a faulty node sends: it is disconnected, and
    /// banned for a while when it goes on.
    fn penalise(&self, peer: Self::Peer, why: &str);
}

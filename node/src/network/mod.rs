//! The peer-to-peer network: libp2p over TCP with Noise and Yamux.
//!
//! A node's libp2p identity is its node key from genesis, and only the
//! consortium's nodes (members' validators and observers, regulators) may
//! connect: any other peer is refused as soon as the Noise handshake tells
//! who it is (`allow_block_list`), and logged. Three protocols carry the
//! traffic, each with its own size limits: two request–response ones,
//! `/hutong/consensus/1` (consensus messages, a proposal with its payload)
//! and `/hutong/sync/2` (blocks by id and committed blocks with their
//! commit certificate), and `/hutong/txs/3`, transactions shared between
//! validators with their attestations (see [`hutong_host::attest`]), as
//! frames on one long-lived stream per peer ([`txs`]). This task keeps the swarm: it hands what arrives to the
//! task that owns it (consensus, the attestation protocol, the sync
//! server) and sends what they give it; it reads no database and decides
//! nothing about what messages mean.
//!
//! - [`codec`]: frames on libp2p streams.
//! - [`handle`]: what other tasks hold: [`NetHandle`] and the commands.
//! - [`txs`]: the shared-transactions streams, their reader and writer
//!   tasks.
//!
//! A peer that sends something that does not decode is disconnected and
//! loses score; one that keeps doing it is banned for a while. Configured
//! peers are redialled with exponential back-off, so nodes find each other
//! whatever order they start in.

mod codec;
mod handle;
mod txs;

use std::collections::{HashMap, HashSet};
use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use futures::StreamExt;
use hutong_wire::p2p::{
    ConsensusEnvelope, SyncRequest, SyncResponse, TxGossip, CONSENSUS_BYTES_MAX,
    CONSENSUS_PROTOCOL, SYNC_BYTES_MAX, SYNC_PROTOCOL, SYNC_REQUEST_BYTES_MAX,
};
use libp2p::request_response::{self, OutboundRequestId, ProtocolSupport, ResponseChannel};
use libp2p::swarm::{ConnectionId, DialError, ListenError, NetworkBehaviour, SwarmEvent};
use libp2p::{allow_block_list, identity, noise, tcp, yamux, Multiaddr, PeerId, StreamProtocol};
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::{mpsc, oneshot};

pub use codec::Inbound;
use codec::{ConsensusCodec, SyncCodec};
pub use handle::{NetCommand, NetHandle};

use crate::cpu::Metered;
use crate::status::PeerStatus;
use hutong_host::status::{Counters, CpuStage};
use hutong_host::util::lock;

/// Score below which a peer is banned; each undecodable message costs 10.
const BAN_SCORE: i32 = -50;
/// A peer's score is forgiven this long after its last bad message, so an
/// honest node that crashed mid-message now and then is never banned.
const SCORE_MEMORY: Duration = Duration::from_secs(600);
const BAN_FOR: Duration = Duration::from_secs(60);
const REDIAL_MIN: Duration = Duration::from_millis(500);
const REDIAL_MAX: Duration = Duration::from_secs(30);

#[derive(NetworkBehaviour)]
struct Behaviour {
    allowed: allow_block_list::Behaviour<allow_block_list::AllowedPeers>,
    consensus: request_response::Behaviour<ConsensusCodec>,
    sync: request_response::Behaviour<SyncCodec>,
    /// Long-lived streams: the shared transactions ([`txs`]).
    streams: libp2p_stream::Behaviour,
}

/// A sync request for the sync server, with where its answer goes.
#[derive(Debug)]
pub struct SyncServe {
    pub from: PeerId,
    pub request: SyncRequest,
    pub channel: ResponseChannel<SyncResponse>,
}

/// Where the network hands what arrives: each protocol to the task that
/// owns it. Bounded; a full queue drops and counts (consensus recovers
/// lost messages, a dropped batch still reaches the leader that got it,
/// a refused sync request is answered `Unavailable`).
#[derive(Debug)]
pub struct Outputs {
    pub consensus: mpsc::Sender<(PeerId, ConsensusEnvelope)>,
    pub gossip: mpsc::Sender<(PeerId, TxGossip)>,
    pub sync: mpsc::Sender<SyncServe>,
}

#[derive(Debug, Clone)]
pub struct NetConfig {
    pub listen: Multiaddr,
    /// Addresses of other nodes to dial (with or without a `/p2p/` id).
    pub peers: Vec<Multiaddr>,
    /// Every node key allowed to connect.
    pub members: Vec<PeerId>,
    /// Validators, who receive consensus messages and shared transactions.
    pub validators: Vec<PeerId>,
    /// Where the connections' tasks charge their CPU time
    /// ([`CpuStage::Network`]); `None`, uncounted.
    pub cpu: Option<Arc<Counters>>,
}

struct Dial {
    addr: Multiaddr,
    peer: Option<PeerId>,
    next: Instant,
    backoff: Duration,
}

pub struct Network {
    swarm: libp2p::Swarm<Behaviour>,
    commands: mpsc::Receiver<NetCommand>,
    outputs: Outputs,
    config: NetConfig,
    dials: Vec<Dial>,
    /// Penalty score and the time of the last bad message, per peer.
    scores: HashMap<PeerId, (i32, Instant)>,
    /// The connections already charged, until they close. A connection
    /// is charged once: the first bad message closes it, and everything
    /// else that arrives broken on it is the same event. When this node
    /// stalls (a long pause, a slow disk), every request its peers had
    /// half-sent ends in an unexpected end of file at once; charged one
    /// by one, those banned every honest peer in the same millisecond.
    /// A set, not the last connection per peer: two peers often hold two
    /// connections (each dialled the other), and failures alternating
    /// between them were each charged as new. Bounded: only members
    /// connect (the allow list refuses the rest), and a closed
    /// connection's entry goes.
    charged: HashSet<(PeerId, ConnectionId)>,
    banned: HashMap<PeerId, Instant>,
    pending_sync: HashMap<OutboundRequestId, oneshot::Sender<Option<SyncResponse>>>,
    status: Arc<Mutex<PeerStatus>>,
    /// The peers connected now, as [`NetHandle::is_connected`] reads them.
    connected: Arc<RwLock<HashSet<PeerId>>>,
    /// What the shared-transactions tasks hold, and the inbound streams
    /// until [`Network::run`] starts accepting them.
    txs: txs::Shared,
    incoming: Option<libp2p_stream::IncomingStreams>,
    /// Each peer's shared-transactions writer (while it is connected).
    writers: HashMap<PeerId, mpsc::Sender<Arc<Vec<u8>>>>,
}

impl std::fmt::Debug for Network {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Network")
            .field("peer_id", self.swarm.local_peer_id())
            .finish_non_exhaustive()
    }
}

/// Most commands queued for the network task.
const COMMANDS_MAX: usize = 4_096;

/// The libp2p peer id of an ed25519 public key.
pub fn peer_id_of(key: &hutong_runtime::PublicKey) -> Result<PeerId, String> {
    identity::ed25519::PublicKey::try_from_bytes(&key.0)
        .map(|pk| identity::PublicKey::from(pk).to_peer_id())
        .map_err(|e| format!("{key} is not an ed25519 public key: {e}"))
}

/// Where to dial a node whose address hint (from genesis or a member card)
/// is `hint`: the hint with `/p2p/<peer id>` of `node_key` appended, so
/// that the connection is refused unless that key answers. The hint must
/// reach a TCP port (`/ip4/…/tcp/…`, `/dns4/…/tcp/…`) and may already end
/// in the same peer id, never in another.
pub fn dial_address(hint: &str, node_key: &hutong_runtime::PublicKey) -> Result<Multiaddr, String> {
    use libp2p::multiaddr::Protocol;
    let mut addr: Multiaddr = hint
        .parse()
        .map_err(|e| format!("{hint:?} is not a multiaddr: {e}"))?;
    let id = peer_id_of(node_key)?;
    if let Some(Protocol::P2p(named)) = addr.iter().last() {
        if named != id {
            return Err(format!(
                "{hint:?} names peer {named}, but the node key's peer id is {id}"
            ));
        }
        addr.pop();
    }
    if !addr.iter().any(|p| matches!(p, Protocol::Tcp(_))) {
        return Err(format!(
            "{hint:?} has no TCP port; write it like /ip4/10.0.0.1/tcp/26600"
        ));
    }
    Ok(addr.with(Protocol::P2p(id)))
}

/// The TCP port of an address hint, if it has one.
pub fn tcp_port(hint: &str) -> Option<u16> {
    use libp2p::multiaddr::Protocol;
    let addr: Multiaddr = hint.parse().ok()?;
    addr.iter().find_map(|p| match p {
        Protocol::Tcp(port) => Some(port),
        _ => None,
    })
}

impl Network {
    /// Builds the swarm and starts listening. Returns the network task and
    /// the handle other tasks send through.
    pub fn new(
        node_key: &hutong_runtime::Keypair,
        config: NetConfig,
        outputs: Outputs,
        status: Arc<Mutex<PeerStatus>>,
    ) -> anyhow::Result<(Network, NetHandle)> {
        let mut secret = node_key.secret_bytes();
        let keypair = identity::Keypair::ed25519_from_bytes(&mut secret)
            .map_err(|e| anyhow::anyhow!("node key is not a valid ed25519 key: {e}"))?;
        let members = config.members.clone();
        let request_timeout = Duration::from_secs(10);
        let mut swarm = libp2p::SwarmBuilder::with_existing_identity(keypair)
            .with_tokio()
            .with_tcp(
                tcp::Config::default().nodelay(true),
                noise::Config::new,
                yamux::Config::default,
            )?
            .with_behaviour(|_| {
                let mut allowed = allow_block_list::Behaviour::default();
                for peer in &members {
                    allowed.allow_peer(*peer);
                }
                let rr = |streams: usize| {
                    request_response::Config::default()
                        .with_request_timeout(request_timeout)
                        .with_max_concurrent_streams(streams)
                };
                Behaviour {
                    allowed,
                    consensus: request_response::Behaviour::with_codec(
                        ConsensusCodec::new(CONSENSUS_BYTES_MAX, 0),
                        [(
                            StreamProtocol::new(CONSENSUS_PROTOCOL),
                            ProtocolSupport::Full,
                        )],
                        rr(256),
                    ),
                    sync: request_response::Behaviour::with_codec(
                        SyncCodec::new(SYNC_REQUEST_BYTES_MAX, SYNC_BYTES_MAX),
                        [(StreamProtocol::new(SYNC_PROTOCOL), ProtocolSupport::Full)],
                        rr(16),
                    ),
                    streams: libp2p_stream::Behaviour::new(),
                }
            })
            .map_err(|e| anyhow::anyhow!("building the network: {e}"))?
            .with_swarm_config(|c| {
                // Each connection runs as a task of its own (transport,
                // encryption, multiplexing, message decoding): counted, it
                // charges its polls to the network.
                let c = match &config.cpu {
                    Some(counters) => {
                        let counters = counters.clone();
                        libp2p::swarm::Config::with_executor(move |task| {
                            tokio::spawn(Metered::new(counters.clone(), CpuStage::Network, task));
                        })
                    }
                    None => c,
                };
                c.with_idle_connection_timeout(Duration::from_secs(3600))
            })
            .build();
        swarm
            .listen_on(config.listen.clone())
            .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.listen))?;
        let (commands_tx, commands) = mpsc::channel(COMMANDS_MAX);
        let connected = Arc::new(RwLock::new(HashSet::new()));
        let mut control = swarm.behaviour().streams.new_control();
        let incoming = control
            .accept(txs::protocol())
            .map_err(|e| anyhow::anyhow!("the transactions protocol: {e}"))?;
        let txs = txs::Shared {
            control,
            connected: connected.clone(),
            status: status.clone(),
            commands: commands_tx.clone(),
            gossip: outputs.gossip.clone(),
            validators: Arc::new(AtomicUsize::new(config.validators.len())),
            inbound: Arc::default(),
            cpu: config.cpu.clone(),
        };
        let handle = NetHandle::new(commands_tx, connected.clone());
        let now = Instant::now();
        let dials = config
            .peers
            .iter()
            .map(|addr| Dial {
                addr: addr.clone(),
                peer: addr.iter().find_map(|p| match p {
                    libp2p::multiaddr::Protocol::P2p(id) => Some(id),
                    _ => None,
                }),
                next: now,
                backoff: REDIAL_MIN,
            })
            .collect();
        let network = Network {
            swarm,
            commands,
            outputs,
            config,
            dials,
            scores: HashMap::new(),
            charged: HashSet::new(),
            banned: HashMap::new(),
            pending_sync: HashMap::new(),
            status,
            connected,
            txs,
            incoming: Some(incoming),
            writers: HashMap::new(),
        };
        Ok((network, handle))
    }

    pub fn local_peer_id(&self) -> PeerId {
        *self.swarm.local_peer_id()
    }

    /// Runs until `shutdown` resolves or every command sender is gone.
    pub async fn run(mut self, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        if let Some(incoming) = self.incoming.take() {
            self.txs.spawn(txs::accept(self.txs.clone(), incoming));
        }
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        loop {
            tokio::select! {
                _ = &mut shutdown => break,
                _ = tick.tick() => self.maintain(),
                command = self.commands.recv() => match command {
                    Some(c) => self.on_command(c),
                    None => break,
                },
                event = self.swarm.select_next_some() => self.on_swarm_event(event),
            }
        }
    }

    /// Redials configured peers that are not connected and lifts bans
    /// that have expired.
    fn maintain(&mut self) {
        let now = Instant::now();
        let expired: Vec<PeerId> = self
            .banned
            .iter()
            .filter(|(_, until)| **until <= now)
            .map(|(p, _)| *p)
            .collect();
        for peer in expired {
            self.banned.remove(&peer);
            self.scores.remove(&peer);
            if self.config.members.contains(&peer) {
                self.swarm.behaviour_mut().allowed.allow_peer(peer);
            }
            tracing::info!(%peer, "ban lifted");
        }
        for i in 0..self.dials.len() {
            let dial = &self.dials[i];
            if dial.next > now {
                continue;
            }
            if let Some(peer) = dial.peer {
                if self.swarm.is_connected(&peer) || self.banned.contains_key(&peer) {
                    continue;
                }
            }
            let addr = dial.addr.clone();
            let dial = &mut self.dials[i];
            dial.next = now + dial.backoff;
            dial.backoff = (dial.backoff * 2).min(REDIAL_MAX);
            if let Err(e) = self.swarm.dial(addr.clone()) {
                tracing::debug!(%addr, "dial failed: {e}");
            }
        }
        let connected: Vec<String> = self
            .swarm
            .connected_peers()
            .map(|p| p.to_string())
            .collect();
        lock(&self.status).connected = connected;
    }

    fn on_command(&mut self, command: NetCommand) {
        let me = self.local_peer_id();
        match command {
            NetCommand::Send { to, envelope } => {
                if to != me {
                    self.swarm
                        .behaviour_mut()
                        .consensus
                        .send_request(&to, Inbound::Valid(envelope));
                }
            }
            NetCommand::Broadcast(envelope) => {
                // Every connected member: validators vote on it, observers
                // and regulators follow the chain through it.
                let peers: Vec<PeerId> = self.swarm.connected_peers().copied().collect();
                for peer in peers {
                    self.swarm
                        .behaviour_mut()
                        .consensus
                        .send_request(&peer, Inbound::Valid(envelope.clone()));
                }
            }
            NetCommand::Gossip { to, gossip } => {
                if to != me && self.swarm.is_connected(&to) {
                    self.gossip(to, &gossip);
                }
            }
            NetCommand::Sync { to, request, reply } => {
                if !self.swarm.is_connected(&to) {
                    let _ = reply.send(None);
                    return;
                }
                let id = self
                    .swarm
                    .behaviour_mut()
                    .sync
                    .send_request(&to, Inbound::Valid(request));
                self.pending_sync.insert(id, reply);
            }
            NetCommand::Respond { channel, response } => {
                let _ = self
                    .swarm
                    .behaviour_mut()
                    .sync
                    .send_response(channel, response);
            }
            NetCommand::Penalise { peer, why } => self.penalise(peer, None, &why),
            NetCommand::SetMembers {
                members,
                validators,
                dial,
            } => self.set_members(members, validators, dial),
        }
    }

    /// Queues a message for `to`'s shared-transactions stream (its writer
    /// started if it has none).
    fn gossip(&mut self, to: PeerId, gossip: &TxGossip) {
        let frame = match txs::frame(gossip) {
            Ok(frame) => frame,
            Err(e) => {
                tracing::warn!(peer = %to, "a shared batch cannot be sent: {e}");
                return;
            }
        };
        let queue = self
            .writers
            .entry(to)
            .or_insert_with(|| txs::writer(&self.txs, to));
        match queue.try_send(frame) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => self.dropped(),
            Err(TrySendError::Closed(_)) => {
                self.writers.remove(&to);
                self.dropped();
            }
        }
    }

    /// Follows a membership change the ledger executed: removed nodes are
    /// disconnected and refused, new ones allowed (and dialled where
    /// their address is known).
    fn set_members(&mut self, members: Vec<PeerId>, validators: Vec<PeerId>, dial: Vec<Multiaddr>) {
        let me = self.local_peer_id();
        let new: HashSet<PeerId> = members.iter().copied().collect();
        for peer in &self.config.members {
            if !new.contains(peer) && *peer != me {
                tracing::warn!(%peer, "no longer a member of the consortium: disconnected and refused from now on");
                self.swarm.behaviour_mut().allowed.disallow_peer(*peer);
                let _ = self.swarm.disconnect_peer_id(*peer);
            }
        }
        for peer in &members {
            if !self.config.members.contains(peer) {
                tracing::info!(%peer, "a new member of the consortium: allowed to connect");
            }
            if !self.banned.contains_key(peer) {
                self.swarm.behaviour_mut().allowed.allow_peer(*peer);
            }
        }
        self.dials
            .retain(|d| d.peer.is_none_or(|p| new.contains(&p)));
        let now = Instant::now();
        for addr in dial {
            let peer = addr.iter().find_map(|p| match p {
                libp2p::multiaddr::Protocol::P2p(id) => Some(id),
                _ => None,
            });
            if peer == Some(me)
                || self
                    .dials
                    .iter()
                    .any(|d| d.addr == addr || (peer.is_some() && d.peer == peer))
            {
                continue;
            }
            self.dials.push(Dial {
                addr,
                peer,
                next: now,
                backoff: REDIAL_MIN,
            });
        }
        self.txs
            .validators
            .store(validators.len(), Ordering::Relaxed);
        self.config.members = members;
        self.config.validators = validators;
    }

    /// Charges `peer` for a bad message and disconnects it. `connection`
    /// is the connection the message came on, when the network saw it
    /// arrive (not for messages the host found bad after decoding):
    /// further bad messages on an already charged connection cost nothing.
    fn penalise(&mut self, peer: PeerId, connection: Option<ConnectionId>, why: &str) {
        if let Some(connection) = connection {
            if !self.charged.insert((peer, connection)) {
                tracing::debug!(%peer, "another bad message ({why}) on a connection already charged");
                let _ = self.swarm.disconnect_peer_id(peer);
                return;
            }
        }
        let now = Instant::now();
        let entry = self.scores.entry(peer).or_insert((0, now));
        if now.duration_since(entry.1) > SCORE_MEMORY {
            entry.0 = 0;
        }
        entry.0 -= 10;
        entry.1 = now;
        let score = entry.0;
        lock(&self.status).bad_messages += 1;
        tracing::warn!(%peer, score, "peer sent a bad message ({why}); disconnecting");
        let _ = self.swarm.disconnect_peer_id(peer);
        if score <= BAN_SCORE && !self.banned.contains_key(&peer) {
            tracing::warn!(%peer, "peer banned for {}s", BAN_FOR.as_secs());
            self.banned.insert(peer, Instant::now() + BAN_FOR);
            self.swarm.behaviour_mut().allowed.disallow_peer(peer);
        }
    }

    /// Counts a message dropped because the task that owns it is behind
    /// (its queue is full): bounded queues, not unbounded memory.
    fn dropped(&self) {
        lock(&self.status).dropped_events += 1;
    }

    fn on_swarm_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        match event {
            SwarmEvent::NewListenAddr { address, .. } => {
                tracing::info!(%address, "p2p listening");
            }
            SwarmEvent::ConnectionEstablished { peer_id, .. } => {
                tracing::info!(peer = %peer_id, "peer connected");
                if let Ok(mut connected) = self.connected.write() {
                    connected.insert(peer_id);
                }
                for dial in &mut self.dials {
                    if dial.peer == Some(peer_id) {
                        dial.backoff = REDIAL_MIN;
                    }
                }
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                connection_id,
                num_established,
                ..
            } => {
                self.charged.remove(&(peer_id, connection_id));
                if num_established == 0 {
                    tracing::info!(peer = %peer_id, "peer disconnected");
                    // Its writer ends; a new one opens a new stream.
                    self.writers.remove(&peer_id);
                    if let Ok(mut connected) = self.connected.write() {
                        connected.remove(&peer_id);
                    }
                }
            }
            SwarmEvent::IncomingConnectionError {
                error: ListenError::Denied { cause },
                send_back_addr,
                peer_id,
                ..
            } => {
                // Bans go through the same allow list as membership.
                let who = if peer_id.is_some_and(|p| self.banned.contains_key(&p)) {
                    "a banned peer"
                } else {
                    "a non-member"
                };
                tracing::warn!(peer = ?peer_id, from = %send_back_addr, "refused a connection from {who}: {cause}");
                lock(&self.status).refused_connections += 1;
            }
            SwarmEvent::IncomingConnectionError {
                error,
                send_back_addr,
                ..
            } => {
                tracing::debug!(from = %send_back_addr, "incoming connection failed: {error}");
            }
            SwarmEvent::OutgoingConnectionError {
                error: DialError::Denied { cause },
                peer_id,
                ..
            } => {
                tracing::warn!(peer = ?peer_id, "refused to connect to a non-member: {cause}");
                lock(&self.status).refused_connections += 1;
            }
            SwarmEvent::OutgoingConnectionError { peer_id, error, .. } => {
                tracing::debug!(peer = ?peer_id, "dial error: {error}");
            }
            SwarmEvent::Behaviour(BehaviourEvent::Consensus(e)) => self.on_consensus(e),
            SwarmEvent::Behaviour(BehaviourEvent::Sync(e)) => self.on_sync(e),
            _ => {}
        }
    }

    fn on_consensus(&mut self, event: request_response::Event<Inbound<ConsensusEnvelope>, ()>) {
        match event {
            request_response::Event::Message {
                peer,
                connection_id,
                message:
                    request_response::Message::Request {
                        request, channel, ..
                    },
                ..
            } => {
                let request = match request {
                    Inbound::Valid(r) => r,
                    Inbound::Invalid(why) => return self.penalise(peer, Some(connection_id), &why),
                };
                let _ = self
                    .swarm
                    .behaviour_mut()
                    .consensus
                    .send_response(channel, ());
                if self.outputs.consensus.try_send((peer, request)).is_err() {
                    self.dropped();
                }
            }
            other => self.inbound_failure(other),
        }
    }

    /// What the protocols share: a request that failed on the way in
    /// (charged when it was undecodable, see [`Network::penalise`]);
    /// anything else needs no action.
    fn inbound_failure<Req, Resp>(&mut self, event: request_response::Event<Req, Resp>) {
        if let request_response::Event::InboundFailure {
            peer,
            connection_id,
            error,
            ..
        } = event
        {
            match error {
                request_response::InboundFailure::Io(e)
                    if e.kind() == io::ErrorKind::InvalidData =>
                {
                    self.penalise(peer, Some(connection_id), &e.to_string());
                }
                other => tracing::debug!(%peer, "inbound request failed: {other}"),
            }
        }
    }

    fn on_sync(&mut self, event: request_response::Event<Inbound<SyncRequest>, SyncResponse>) {
        match event {
            request_response::Event::Message {
                peer,
                connection_id,
                message:
                    request_response::Message::Request {
                        request, channel, ..
                    },
                ..
            } => {
                let request = match request {
                    Inbound::Valid(r) => r,
                    Inbound::Invalid(why) => return self.penalise(peer, Some(connection_id), &why),
                };
                let serve = SyncServe {
                    from: peer,
                    request,
                    channel,
                };
                if let Err(refused) = self.outputs.sync.try_send(serve) {
                    let serve = refused.into_inner();
                    tracing::debug!(%peer, request = ?serve.request, "sync request refused: busy");
                    let _ = self
                        .swarm
                        .behaviour_mut()
                        .sync
                        .send_response(serve.channel, SyncResponse::Unavailable);
                }
            }
            request_response::Event::Message {
                message:
                    request_response::Message::Response {
                        request_id,
                        response,
                    },
                ..
            } => {
                if let Some(reply) = self.pending_sync.remove(&request_id) {
                    let _ = reply.send(Some(response));
                }
            }
            request_response::Event::OutboundFailure {
                request_id,
                error,
                peer,
                ..
            } => {
                tracing::debug!(%peer, "sync request failed: {error}");
                if let Some(reply) = self.pending_sync.remove(&request_id) {
                    let _ = reply.send(None);
                }
            }
            other => self.inbound_failure(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::TcpListener;

    use hutong_host::runtime::Network as _;
    use hutong_runtime::crypto::Hash;
    use hutong_runtime::{ChainId, Keypair};
    use hutong_wire::Attestation;

    use super::*;

    struct Node {
        handle: NetHandle,
        gossip: mpsc::Receiver<(PeerId, TxGossip)>,
        status: Arc<Mutex<PeerStatus>>,
        peer: PeerId,
        _stop: oneshot::Sender<()>,
    }

    fn free_port() -> u16 {
        TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port")
    }

    fn start(key: &Keypair, port: u16, peers: Vec<Multiaddr>, members: Vec<PeerId>) -> Node {
        let (consensus, _) = mpsc::channel(16);
        let (gossip_tx, gossip) = mpsc::channel(1_024);
        let (sync, _) = mpsc::channel(16);
        let status = Arc::new(Mutex::new(PeerStatus::default()));
        let config = NetConfig {
            listen: format!("/ip4/127.0.0.1/tcp/{port}").parse().unwrap(),
            peers,
            members: members.clone(),
            validators: members,
            cpu: None,
        };
        let outputs = Outputs {
            consensus,
            gossip: gossip_tx,
            sync,
        };
        let (network, handle) = Network::new(key, config, outputs, status.clone()).unwrap();
        let peer = network.local_peer_id();
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(network.run(async move {
            let _ = stopped.await;
        }));
        Node {
            handle,
            gossip,
            status,
            peer,
            _stop: stop,
        }
    }

    async fn until(what: &str, mut done: impl FnMut() -> bool) {
        for _ in 0..200 {
            if done() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("timed out waiting until {what}");
    }

    fn attest(key: &Keypair, n: u8) -> TxGossip {
        TxGossip::Attest(Attestation::sign(key, ChainId([7; 32]), 1, Hash([n; 32])))
    }

    /// Shared transactions go over one stream per peer: many messages in
    /// a burst all arrive, in order, and after the connection drops and
    /// comes back the next ones open a new stream and arrive too.
    #[test]
    fn shared_transactions_flow_in_order_and_again_after_a_reconnect() {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let (ka, kb) = (
                Keypair::from_secret_bytes(&[1; 32]),
                Keypair::from_secret_bytes(&[2; 32]),
            );
            let (pa, pb) = (
                peer_id_of(&ka.public()).unwrap(),
                peer_id_of(&kb.public()).unwrap(),
            );
            let port = free_port();
            let mut a = start(&ka, port, vec![], vec![pa, pb]);
            let addr = dial_address(&format!("/ip4/127.0.0.1/tcp/{port}"), &ka.public()).unwrap();
            let b = start(&kb, free_port(), vec![addr], vec![pa, pb]);
            assert_eq!((a.peer, b.peer), (pa, pb));
            until("b connects to a", || b.handle.is_connected(pa)).await;

            for n in 0..200u8 {
                b.handle.gossip(pa, attest(&kb, n));
            }
            for n in 0..200u8 {
                let (from, got) = tokio::time::timeout(Duration::from_secs(10), a.gossip.recv())
                    .await
                    .expect("a burst's message in time")
                    .expect("the network is running");
                assert_eq!((from, got), (pb, attest(&kb, n)));
            }

            // a drops b (a penalty well short of a ban); b redials.
            a.handle.penalise(pb, "a test");
            until("a drops b", || !b.handle.is_connected(pa)).await;
            until("b reconnects", || b.handle.is_connected(pa)).await;
            let mut arrived = false;
            for n in 0..50u8 {
                b.handle.gossip(pa, attest(&kb, n));
                if let Ok(Some((from, _))) =
                    tokio::time::timeout(Duration::from_millis(200), a.gossip.recv()).await
                {
                    assert_eq!(from, pb);
                    arrived = true;
                    break;
                }
            }
            assert!(arrived, "nothing arrived after the reconnect");
            assert_eq!(lock(&a.status).bad_messages, 1);
        });
    }
}

//! The peer-to-peer network: libp2p over TCP with Noise and Yamux.
//!
//! A node's libp2p identity is its node key from genesis, and only the
//! consortium's nodes (members' validators and observers, regulators) may
//! connect: any other peer is refused as soon as the Noise handshake tells
//! who it is (`allow_block_list`), and logged. Three request–response
//! protocols carry the traffic, each with its own size limits:
//! `/hutong/consensus/1` (consensus messages, a proposal with its payload),
//! `/hutong/txs/2` (transactions shared between validators, with their
//! attestations: see [`crate::attest`]) and
//! `/hutong/sync/1` (blocks by id and committed blocks with their commit
//! certificate, served from the database by this task).
//!
//! A peer that sends something that does not decode is disconnected and
//! loses score; one that keeps doing it is banned for a while. Configured
//! peers are redialled with exponential back-off, so nodes find each other
//! whatever order they start in.

use std::collections::HashMap;
use std::io;
use std::marker::PhantomData;
use std::time::{Duration, Instant};

use borsh::{BorshDeserialize, BorshSerialize};
use futures::{AsyncReadExt, AsyncWriteExt, StreamExt};
use hutong_consensus::messages::Message;
use hutong_consensus::types::{BlockId, QuorumCert};
use hutong_runtime::{ChainId, Keypair};
use libp2p::request_response::{self, OutboundRequestId, ProtocolSupport, ResponseChannel};
use libp2p::swarm::{ConnectionId, DialError, ListenError, NetworkBehaviour, SwarmEvent};
use libp2p::{allow_block_list, identity, noise, tcp, yamux, Multiaddr, PeerId, StreamProtocol};
use tokio::sync::{mpsc, oneshot};

use crate::attest::{batch_digest, faults_tolerated, Attestation};
use crate::payload::Payload;
use crate::store::{Db, StoredBlock};

/// Most bytes in one consensus message (a proposal carries its payload).
pub const CONSENSUS_BYTES_MAX: usize = 12 * 1024 * 1024;
/// Most bytes in one batch of shared transactions.
pub const TXS_BYTES_MAX: usize = 4 * 1024 * 1024;
/// Most bytes in one sync response; a sync request is tiny.
pub const SYNC_BYTES_MAX: usize = 64 * 1024 * 1024;
/// Most committed blocks one sync response carries.
pub const SYNC_BLOCKS_MAX: usize = 256;
/// A sync response carries whole committed runs up to this many encoded
/// bytes (the first run always). The node that asked holds the answer,
/// decoded, on top of its execution backlog: a lagging regulator took
/// 32 MiB answers (~150,000 transfers) while its backlog was already
/// full, and its memory passed 1 GiB. A few MiB per round trip still
/// syncs far faster than any node executes.
pub const SYNC_ANSWER_BYTES: usize = 8 * 1024 * 1024;
/// Most transactions in one shared batch.
pub const TXS_BATCH_MAX: usize = 4_096;

/// How long client transactions wait to be shared with the other
/// validators, gathered into one message.
const SHARE_INTERVAL: Duration = Duration::from_millis(10);

/// Score below which a peer is banned; each undecodable message costs 10.
const BAN_SCORE: i32 = -50;
/// A peer's score is forgiven this long after its last bad message, so an
/// honest node that crashed mid-message now and then is never banned.
const SCORE_MEMORY: Duration = Duration::from_secs(600);
const BAN_FOR: Duration = Duration::from_secs(60);
const REDIAL_MIN: Duration = Duration::from_millis(500);
const REDIAL_MAX: Duration = Duration::from_secs(30);

/// A consensus message, with the payload when it is a proposal.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct ConsensusEnvelope {
    pub message: Message,
    pub payload: Option<Payload>,
}

/// Encoded signed transactions.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct TxBatch(pub Vec<Vec<u8>>);

/// What validators share on `/hutong/txs/2`.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum TxGossip {
    /// Client transactions the sender admitted. A validator attests that
    /// it checked every signature and names the validators it asks to
    /// check them too; another node's batch carries no attestation.
    Batch {
        txs: Vec<Vec<u8>>,
        attestation: Option<Attestation>,
        verifiers: Vec<u16>,
    },
    /// A named validator's attestation of a batch it checked.
    Attest(Attestation),
}

#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum SyncRequest {
    /// A block (committed or not) with its payload, by id.
    Block(BlockId),
    /// Committed blocks after a height, ending with a committed run, and
    /// the certificate that commits the last one.
    Committed { after: u64 },
}

#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum SyncResponse {
    Block(Option<Box<StoredBlock>>),
    Committed {
        blocks: Vec<StoredBlock>,
        proof: Option<QuorumCert>,
    },
    /// The peer could not serve the request (its database failed).
    Unavailable,
}

/// A request as read off the wire: decoded, or why it could not be.
///
/// libp2p's request–response reports nothing to the behaviour when a
/// codec fails to read a request (the stream is just dropped), so the
/// codec hands undecodable, oversized and truncated requests up as
/// `Invalid` for the network to penalise their sender.
#[derive(Debug, Clone)]
pub enum Inbound<T> {
    Valid(T),
    Invalid(String),
}

/// Length-prefixed borsh with a size limit per direction.
#[derive(Debug)]
pub struct BorshCodec<Req, Resp> {
    request_max: usize,
    response_max: usize,
    _types: PhantomData<fn() -> (Req, Resp)>,
}

impl<Req, Resp> Clone for BorshCodec<Req, Resp> {
    fn clone(&self) -> Self {
        BorshCodec {
            request_max: self.request_max,
            response_max: self.response_max,
            _types: PhantomData,
        }
    }
}

impl<Req, Resp> BorshCodec<Req, Resp> {
    fn new(request_max: usize, response_max: usize) -> Self {
        BorshCodec {
            request_max,
            response_max,
            _types: PhantomData,
        }
    }
}

async fn read_framed<T, R>(io: &mut R, max: usize) -> io::Result<T>
where
    T: BorshDeserialize,
    R: futures::AsyncRead + Unpin + Send,
{
    let mut len = [0u8; 4];
    io.read_exact(&mut len).await?;
    let len = u32::from_le_bytes(len) as usize;
    if len > max {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("message of {len} bytes; at most {max}"),
        ));
    }
    let mut buf = vec![0u8; len];
    io.read_exact(&mut buf).await?;
    borsh::from_slice(&buf).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

async fn write_framed<T, W>(io: &mut W, value: &T, max: usize) -> io::Result<()>
where
    T: BorshSerialize,
    W: futures::AsyncWrite + Unpin + Send,
{
    let bytes = borsh::to_vec(value)?;
    if bytes.len() > max {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("message of {} bytes; at most {max}", bytes.len()),
        ));
    }
    io.write_all(&(bytes.len() as u32).to_le_bytes()).await?;
    io.write_all(&bytes).await?;
    io.close().await
}

impl<Req, Resp> request_response::Codec for BorshCodec<Req, Resp>
where
    Req: BorshSerialize + BorshDeserialize + Send + Sync,
    Resp: BorshSerialize + BorshDeserialize + Send + Sync,
{
    type Protocol = StreamProtocol;
    type Request = Inbound<Req>;
    type Response = Resp;

    async fn read_request<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Inbound<Req>>
    where
        T: futures::AsyncRead + Unpin + Send,
    {
        match read_framed(io, self.request_max).await {
            Ok(req) => Ok(Inbound::Valid(req)),
            // The peer closed its side mid-message, or sent too much or
            // nonsense: its fault, reported rather than swallowed.
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::InvalidData | io::ErrorKind::UnexpectedEof
                ) =>
            {
                Ok(Inbound::Invalid(e.to_string()))
            }
            Err(e) => Err(e),
        }
    }

    async fn read_response<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Resp>
    where
        T: futures::AsyncRead + Unpin + Send,
    {
        read_framed(io, self.response_max).await
    }

    async fn write_request<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        req: Inbound<Req>,
    ) -> io::Result<()>
    where
        T: futures::AsyncWrite + Unpin + Send,
    {
        match req {
            Inbound::Valid(req) => write_framed(io, &req, self.request_max).await,
            Inbound::Invalid(why) => Err(io::Error::new(io::ErrorKind::InvalidInput, why)),
        }
    }

    async fn write_response<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        res: Resp,
    ) -> io::Result<()>
    where
        T: futures::AsyncWrite + Unpin + Send,
    {
        write_framed(io, &res, self.response_max).await
    }
}

type ConsensusCodec = BorshCodec<ConsensusEnvelope, ()>;
type TxsCodec = BorshCodec<TxGossip, ()>;
type SyncCodec = BorshCodec<SyncRequest, SyncResponse>;

#[derive(NetworkBehaviour)]
struct Behaviour {
    allowed: allow_block_list::Behaviour<allow_block_list::AllowedPeers>,
    consensus: request_response::Behaviour<ConsensusCodec>,
    txs: request_response::Behaviour<TxsCodec>,
    sync: request_response::Behaviour<SyncCodec>,
}

/// What the rest of the node asks the network to do.
#[derive(Debug)]
pub enum NetCommand {
    Send {
        to: PeerId,
        envelope: ConsensusEnvelope,
    },
    Broadcast(ConsensusEnvelope),
    ShareTxs(TxBatch),
    /// Sends this node's attestation of a batch to every validator but
    /// the batch's origin (which has no use for it).
    Attest {
        attestation: Attestation,
        origin: PeerId,
    },
    Sync {
        to: PeerId,
        request: SyncRequest,
        reply: oneshot::Sender<Option<SyncResponse>>,
    },
    /// The peer sent something only a faulty node sends, found above the
    /// wire (a bad signature, a forged certificate, an equivocation).
    Penalise {
        peer: PeerId,
        why: String,
    },
}

/// What the network hands the rest of the node.
#[derive(Debug)]
pub enum NetEvent {
    Consensus {
        from: PeerId,
        envelope: Box<ConsensusEnvelope>,
    },
    Txs {
        from: PeerId,
        gossip: TxGossip,
    },
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
    pub chain_id: ChainId,
    /// This node's index among the validators, if it is one: it then
    /// attests the batches it shares.
    pub me: Option<u16>,
}

/// Peer information the RPC and metrics read.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct PeerStatus {
    pub connected: Vec<String>,
    pub refused_connections: u64,
    pub bad_messages: u64,
    pub dropped_events: u64,
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
    events: mpsc::Sender<NetEvent>,
    txs: mpsc::Sender<(PeerId, TxGossip)>,
    db: Db,
    config: NetConfig,
    dials: Vec<Dial>,
    /// Penalty score and the time of the last bad message, per peer.
    scores: HashMap<PeerId, (i32, Instant)>,
    /// The last connection each peer was charged for. A connection is
    /// charged once: the first bad message closes it, and everything
    /// else that arrives broken on it is the same event. When this node
    /// stalls (a long pause, a slow disk), every request its peers had
    /// half-sent ends in an unexpected end of file at once; charged one
    /// by one, those banned every honest peer in the same millisecond.
    /// Bounded: only members connect (the allow list refuses the rest).
    charged: HashMap<PeerId, ConnectionId>,
    banned: HashMap<PeerId, Instant>,
    pending_sync: HashMap<OutboundRequestId, oneshot::Sender<Option<SyncResponse>>>,
    status: std::sync::Arc<std::sync::Mutex<PeerStatus>>,
    /// Client transactions waiting to be shared (bounded by the flush at
    /// `TXS_BATCH_MAX` transactions or half of `TXS_BYTES_MAX`).
    outgoing_txs: Vec<Vec<u8>>,
    outgoing_bytes: usize,
    /// Signs this validator's attestations of the batches it shares.
    node_key: Keypair,
    /// Where the rotation of named co-verifiers stands.
    next_verifier: usize,
    /// Sync answers read off the network task (a run of committed blocks
    /// is up to tens of MiB to read and decode: the swarm must not wait
    /// for it, or consensus messages queue behind it), and how many such
    /// reads are under way (at most `SERVING_MAX`).
    served_tx: mpsc::Sender<Served>,
    served_rx: mpsc::Receiver<Served>,
    serving: usize,
}

/// A sync answer read from the database, for its response channel.
type Served = (ResponseChannel<SyncResponse>, SyncResponse);

/// Sync requests served at once; more are answered `Unavailable` (the
/// asker tries again, or another peer).
const SERVING_MAX: usize = 2;

impl std::fmt::Debug for Network {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Network")
            .field("peer_id", self.swarm.local_peer_id())
            .finish_non_exhaustive()
    }
}

/// The libp2p peer id of an ed25519 public key.
pub fn peer_id_of(key: &hutong_runtime::PublicKey) -> Result<PeerId, String> {
    identity::ed25519::PublicKey::try_from_bytes(&key.0)
        .map(|pk| identity::PublicKey::from(pk).to_peer_id())
        .map_err(|e| format!("{key} is not an ed25519 public key: {e}"))
}

impl Network {
    /// Builds the swarm and starts listening. Returns the network task and
    /// the address it listens on (useful with port 0).
    #[allow(clippy::type_complexity)]
    pub fn new(
        node_key: &hutong_runtime::Keypair,
        config: NetConfig,
        db: Db,
        commands: mpsc::Receiver<NetCommand>,
        events: mpsc::Sender<NetEvent>,
        txs: mpsc::Sender<(PeerId, TxGossip)>,
        status: std::sync::Arc<std::sync::Mutex<PeerStatus>>,
    ) -> anyhow::Result<Network> {
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
                            StreamProtocol::new("/hutong/consensus/1"),
                            ProtocolSupport::Full,
                        )],
                        rr(256),
                    ),
                    txs: request_response::Behaviour::with_codec(
                        TxsCodec::new(TXS_BYTES_MAX, 0),
                        [(StreamProtocol::new("/hutong/txs/2"), ProtocolSupport::Full)],
                        rr(64),
                    ),
                    sync: request_response::Behaviour::with_codec(
                        SyncCodec::new(64, SYNC_BYTES_MAX),
                        [(StreamProtocol::new("/hutong/sync/1"), ProtocolSupport::Full)],
                        rr(16),
                    ),
                }
            })
            .map_err(|e| anyhow::anyhow!("building the network: {e}"))?
            .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(3600)))
            .build();
        swarm
            .listen_on(config.listen.clone())
            .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.listen))?;
        let (served_tx, served_rx) = mpsc::channel(SERVING_MAX);
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
        Ok(Network {
            swarm,
            commands,
            events,
            txs,
            db,
            config,
            dials,
            scores: HashMap::new(),
            charged: HashMap::new(),
            banned: HashMap::new(),
            pending_sync: HashMap::new(),
            status,
            outgoing_txs: Vec::new(),
            outgoing_bytes: 0,
            node_key: node_key.clone(),
            next_verifier: 0,
            served_tx,
            served_rx,
            serving: 0,
        })
    }

    pub fn local_peer_id(&self) -> PeerId {
        *self.swarm.local_peer_id()
    }

    /// Runs until `shutdown` resolves or every command sender is gone.
    pub async fn run(mut self, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        let mut share = tokio::time::interval(SHARE_INTERVAL);
        share.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = &mut shutdown => break,
                _ = tick.tick() => self.maintain(),
                _ = share.tick() => self.flush_txs(),
                command = self.commands.recv() => match command {
                    Some(c) => self.on_command(c),
                    None => break,
                },
                event = self.swarm.select_next_some() => self.on_swarm_event(event),
                Some((channel, response)) = self.served_rx.recv() => {
                    self.serving = self.serving.saturating_sub(1);
                    self.respond_sync(channel, response);
                }
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
            self.swarm.behaviour_mut().allowed.allow_peer(peer);
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
        if let Ok(mut status) = self.status.lock() {
            status.connected = connected;
        }
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
            NetCommand::ShareTxs(batch) => {
                // Gathered and sent every SHARE_INTERVAL, so that many small
                // submissions make a few large messages, not a stream each.
                for raw in batch.0 {
                    self.outgoing_bytes += raw.len();
                    self.outgoing_txs.push(raw);
                    if self.outgoing_txs.len() >= TXS_BATCH_MAX
                        || self.outgoing_bytes >= TXS_BYTES_MAX / 2
                    {
                        self.flush_txs();
                    }
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
            NetCommand::Attest {
                attestation,
                origin,
            } => {
                let gossip = TxGossip::Attest(attestation);
                for peer in self.config.validators.clone() {
                    if peer != me && peer != origin && self.swarm.is_connected(&peer) {
                        self.swarm
                            .behaviour_mut()
                            .txs
                            .send_request(&peer, Inbound::Valid(gossip.clone()));
                    }
                }
            }
            NetCommand::Penalise { peer, why } => self.penalise(peer, None, &why),
        }
    }

    /// Sends the gathered client transactions to every connected validator.
    fn flush_txs(&mut self) {
        if self.outgoing_txs.is_empty() {
            return;
        }
        let txs = std::mem::take(&mut self.outgoing_txs);
        self.outgoing_bytes = 0;
        let me = *self.swarm.local_peer_id();
        // A validator attests its batch (it checked every signature on
        // admission) and names f connected validators, in rotation, to
        // check it too.
        let (attestation, verifiers) = match self.config.me {
            Some(index) => {
                let digest = batch_digest(self.config.chain_id, &txs);
                let attestation =
                    Attestation::sign(&self.node_key, self.config.chain_id, index, digest);
                let others: Vec<u16> = (0..self.config.validators.len())
                    .filter(|i| *i != index as usize)
                    .filter(|i| self.swarm.is_connected(&self.config.validators[*i]))
                    .map(|i| i as u16)
                    .collect();
                let f = faults_tolerated(self.config.validators.len());
                let mut verifiers = Vec::with_capacity(f);
                if !others.is_empty() {
                    for k in 0..f.min(others.len()) {
                        verifiers.push(others[(self.next_verifier + k) % others.len()]);
                    }
                    self.next_verifier = (self.next_verifier + 1) % others.len();
                }
                (Some(attestation), verifiers)
            }
            None => (None, Vec::new()),
        };
        let gossip = TxGossip::Batch {
            txs,
            attestation,
            verifiers,
        };
        for peer in self.config.validators.clone() {
            if peer != me && self.swarm.is_connected(&peer) {
                self.swarm
                    .behaviour_mut()
                    .txs
                    .send_request(&peer, Inbound::Valid(gossip.clone()));
            }
        }
    }

    /// Charges `peer` for a bad message and disconnects it. `connection`
    /// is the connection the message came on, when the network saw it
    /// arrive (not for messages the host found bad after decoding):
    /// further bad messages on an already charged connection cost nothing.
    fn penalise(&mut self, peer: PeerId, connection: Option<ConnectionId>, why: &str) {
        if let Some(connection) = connection {
            if self.charged.insert(peer, connection) == Some(connection) {
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
        if let Ok(mut status) = self.status.lock() {
            status.bad_messages += 1;
        }
        tracing::warn!(%peer, score, "peer sent a bad message ({why}); disconnecting");
        let _ = self.swarm.disconnect_peer_id(peer);
        if score <= BAN_SCORE && !self.banned.contains_key(&peer) {
            tracing::warn!(%peer, "peer banned for {}s", BAN_FOR.as_secs());
            self.banned.insert(peer, Instant::now() + BAN_FOR);
            self.swarm.behaviour_mut().allowed.disallow_peer(peer);
        }
    }

    fn deliver(&mut self, event: NetEvent) {
        // A full queue means the node is behind: drop and count rather than
        // buffer without bound; consensus recovers lost messages, and a
        // dropped transaction batch still reaches the leader that got it.
        let full = match event {
            NetEvent::Txs { from, gossip } => self.txs.try_send((from, gossip)).is_err(),
            event => self.events.try_send(event).is_err(),
        };
        if full {
            if let Ok(mut status) = self.status.lock() {
                status.dropped_events += 1;
            }
        }
    }

    fn on_swarm_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        match event {
            SwarmEvent::NewListenAddr { address, .. } => {
                tracing::info!(%address, "p2p listening");
            }
            SwarmEvent::ConnectionEstablished { peer_id, .. } => {
                tracing::info!(peer = %peer_id, "peer connected");
                for dial in &mut self.dials {
                    if dial.peer == Some(peer_id) {
                        dial.backoff = REDIAL_MIN;
                    }
                }
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                num_established: 0,
                ..
            } => {
                tracing::info!(peer = %peer_id, "peer disconnected");
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
                if let Ok(mut status) = self.status.lock() {
                    status.refused_connections += 1;
                }
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
                if let Ok(mut status) = self.status.lock() {
                    status.refused_connections += 1;
                }
            }
            SwarmEvent::OutgoingConnectionError { peer_id, error, .. } => {
                tracing::debug!(peer = ?peer_id, "dial error: {error}");
            }
            SwarmEvent::Behaviour(BehaviourEvent::Consensus(e)) => self.on_consensus(e),
            SwarmEvent::Behaviour(BehaviourEvent::Txs(e)) => self.on_txs(e),
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
                self.deliver(NetEvent::Consensus {
                    from: peer,
                    envelope: Box::new(request),
                });
            }
            other => self.inbound_failure(other),
        }
    }

    fn on_txs(&mut self, event: request_response::Event<Inbound<TxGossip>, ()>) {
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
                let _ = self.swarm.behaviour_mut().txs.send_response(channel, ());
                if let TxGossip::Batch { txs, verifiers, .. } = &request {
                    if txs.len() > TXS_BATCH_MAX {
                        self.penalise(peer, Some(connection_id), "oversized transaction batch");
                        return;
                    }
                    if verifiers.len() > self.config.validators.len() {
                        self.penalise(peer, Some(connection_id), "too many named verifiers");
                        return;
                    }
                }
                self.deliver(NetEvent::Txs {
                    from: peer,
                    gossip: request,
                });
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
                if self.serving >= SERVING_MAX {
                    tracing::debug!(%peer, ?request, "sync request refused: busy");
                    return self.respond_sync(channel, SyncResponse::Unavailable);
                }
                self.serving += 1;
                let db = self.db.clone();
                let served = self.served_tx.clone();
                tokio::task::spawn_blocking(move || {
                    let response = serve_sync(&db, &request);
                    tracing::debug!(%peer, ?request, "served sync request");
                    // Capacity is `SERVING_MAX`, and at most that many
                    // reads run: the send never waits.
                    let _ = served.blocking_send((channel, response));
                });
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

    fn respond_sync(&mut self, channel: ResponseChannel<SyncResponse>, response: SyncResponse) {
        let _ = self
            .swarm
            .behaviour_mut()
            .sync
            .send_response(channel, response);
    }
}

/// Answers a sync request from the database. Reads are local and
/// quick; a read error answers `Unavailable` (the asker tries another
/// peer) and is logged here.
fn serve_sync(db: &Db, request: &SyncRequest) -> SyncResponse {
    let result = match request {
        SyncRequest::Block(id) => db.block(id).map(|b| SyncResponse::Block(b.map(Box::new))),
        SyncRequest::Committed { after } => committed_after(db, *after),
    };
    result.unwrap_or_else(|e| {
        tracing::error!("cannot serve a sync request: {e}");
        SyncResponse::Unavailable
    })
}

/// Committed blocks after `after`, whole committed runs only (so the
/// last block has the certificate that commits it), within the size
/// limits; the first run is always served.
fn committed_after(db: &Db, after: u64) -> Result<SyncResponse, crate::store::DbError> {
    let mut blocks = Vec::new();
    let mut proof = None;
    let mut bytes = 0usize;
    let mut cursor = after.saturating_add(1);
    while let Some((end, cert)) = db.cert_from(cursor)? {
        let mut run = Vec::new();
        let mut run_bytes = 0usize;
        for h in cursor..=end {
            let Some(b) = db.block_at(h)? else {
                return Ok(SyncResponse::Committed { blocks, proof });
            };
            run_bytes += borsh::object_length(&b).unwrap_or(0);
            run.push(b);
        }
        if !blocks.is_empty()
            && (blocks.len() + run.len() > SYNC_BLOCKS_MAX || bytes + run_bytes > SYNC_ANSWER_BYTES)
        {
            break;
        }
        bytes += run_bytes;
        blocks.extend(run);
        proof = Some(cert);
        cursor = end + 1;
        if blocks.len() >= SYNC_BLOCKS_MAX {
            break;
        }
    }
    Ok(SyncResponse::Committed { blocks, proof })
}

//! What the node's other tasks hold of the network: a [`NetHandle`] that
//! queues [`NetCommand`]s for the network task and knows who is connected.
//! It is the node's side of [`hutong_host::runtime::Network`].

use std::collections::HashSet;
use std::sync::{Arc, RwLock};

use hutong_host::runtime::SyncReply;
use hutong_wire::p2p::{ConsensusEnvelope, SyncRequest, SyncResponse, TxGossip};
use libp2p::request_response::ResponseChannel;
use libp2p::{Multiaddr, PeerId};
use tokio::sync::{mpsc, oneshot};

/// What the rest of the node asks the network task to do.
#[derive(Debug)]
pub enum NetCommand {
    Send {
        to: PeerId,
        envelope: ConsensusEnvelope,
    },
    Broadcast(ConsensusEnvelope),
    Gossip {
        to: PeerId,
        gossip: TxGossip,
    },
    Sync {
        to: PeerId,
        request: SyncRequest,
        reply: oneshot::Sender<Option<SyncResponse>>,
    },
    /// The sync server's answer to a peer's request.
    Respond {
        channel: ResponseChannel<SyncResponse>,
        response: SyncResponse,
    },
    /// The peer sent something only a faulty node sends, found above the
    /// wire (a bad signature, a forged certificate, an equivocation).
    Penalise {
        peer: PeerId,
        why: String,
    },
    /// The consortium changed by vote: who may connect, who the
    /// validators are, and where newly named nodes listen. Connections of
    /// nodes no longer members are closed and refused from now on.
    SetMembers {
        members: Vec<PeerId>,
        validators: Vec<PeerId>,
        dial: Vec<Multiaddr>,
    },
}

/// Sends through the network task. Cheap to clone. Sends never wait: a
/// full queue drops the command and logs it (the network task is far
/// behind; consensus recovers lost messages).
#[derive(Debug, Clone)]
pub struct NetHandle {
    commands: mpsc::Sender<NetCommand>,
    connected: Arc<RwLock<HashSet<PeerId>>>,
}

impl NetHandle {
    pub(super) fn new(
        commands: mpsc::Sender<NetCommand>,
        connected: Arc<RwLock<HashSet<PeerId>>>,
    ) -> NetHandle {
        NetHandle {
            commands,
            connected,
        }
    }

    /// The peers connected now.
    pub fn connected_peers(&self) -> Vec<PeerId> {
        self.connected
            .read()
            .map(|c| c.iter().copied().collect())
            .unwrap_or_default()
    }

    /// Queues a command; false when the queue is full or closed.
    pub fn command(&self, command: NetCommand) -> bool {
        match self.commands.try_send(command) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(c)) => {
                tracing::warn!(command = command_name(&c), "network queue full; dropped");
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }
}

fn command_name(c: &NetCommand) -> &'static str {
    match c {
        NetCommand::Send { .. } => "send",
        NetCommand::Broadcast(_) => "broadcast",
        NetCommand::Gossip { .. } => "gossip",
        NetCommand::Sync { .. } => "sync",
        NetCommand::Respond { .. } => "respond",
        NetCommand::Penalise { .. } => "penalise",
        NetCommand::SetMembers { .. } => "set members",
    }
}

impl hutong_host::runtime::Network for NetHandle {
    type Peer = PeerId;

    fn send(&self, to: PeerId, envelope: ConsensusEnvelope) {
        self.command(NetCommand::Send { to, envelope });
    }

    fn broadcast(&self, envelope: ConsensusEnvelope) {
        self.command(NetCommand::Broadcast(envelope));
    }

    fn gossip(&self, to: PeerId, gossip: TxGossip) {
        self.command(NetCommand::Gossip { to, gossip });
    }

    fn is_connected(&self, peer: PeerId) -> bool {
        self.connected
            .read()
            .map(|c| c.contains(&peer))
            .unwrap_or(false)
    }

    fn request(&self, to: PeerId, request: SyncRequest, reply: SyncReply) {
        let (tx, rx) = oneshot::channel();
        if !self.command(NetCommand::Sync {
            to,
            request,
            reply: tx,
        }) {
            reply(None);
            return;
        }
        // The network times requests out, so this task ends.
        tokio::spawn(async move { reply(rx.await.ok().flatten()) });
    }

    fn penalise(&self, peer: PeerId, why: &str) {
        self.command(NetCommand::Penalise {
            peer,
            why: why.to_string(),
        });
    }
}

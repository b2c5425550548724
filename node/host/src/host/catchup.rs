//! Asking peers for blocks: one block by id when consensus misses an
//! ancestor (fetch), and committed blocks in bulk with the certificate
//! that commits the last when this node is far behind (sync). Answers come
//! back as [`Completion`]s, checked by digest before consensus sees them.

use std::time::Duration;

use hutong_consensus::messages::Event;
use hutong_consensus::types::{BlockId, Digest, ValidatorId};
use hutong_wire::p2p::{SyncRequest, SyncResponse};

use super::{Completion, Context, Host, HostError};
use crate::runtime::{Clock, Network};

/// How long an unanswered bulk sync request keeps others from being sent.
const SYNC_WAIT_MAX: Duration = Duration::from_secs(30);

/// How often a node behind an epoch change asks for the rest of its epoch.
const EPOCH_SYNC_INTERVAL: Duration = Duration::from_millis(500);

impl<C: Context> Host<C> {
    /// The core's `SyncRequest`. Each sync answer commits more blocks and
    /// asks for the next: while execution is far behind, wait, and ask
    /// once the backlog has drained (the core would ask again only after a
    /// few rounds, and a node that lets proposals pass sees rounds go by
    /// only through its own timeouts).
    pub(super) fn sync_request(&mut self, from: ValidatorId, after: u64) {
        if self.backlog.deferring {
            self.sync_skipped = Some(from);
            return;
        }
        self.bulk_sync(from, after);
    }

    /// The core's `Fetch`. A node far behind would keep every block it
    /// fetches (a recent, full one) in memory until it executes up to it,
    /// minutes later; it fetches nothing, and the core fetches again on
    /// later rounds.
    pub(super) fn fetch(&mut self, block_id: BlockId, from: ValidatorId) {
        if self.backlog.deferring {
            return;
        }
        if let Some(peer) = self.peer_of(from) {
            self.request(peer, SyncRequest::Block(block_id), false);
        }
    }

    /// Asks `from` for the committed blocks after `after`. One answer at a
    /// time: the core asks again every few rounds, and a node slow to get
    /// or apply answers (the very node that is behind) held several at
    /// once, each up to `SYNC_ANSWER_BYTES`. The network times a request
    /// out, so the wait here is only a backstop.
    pub(super) fn bulk_sync(&mut self, from: ValidatorId, after: u64) {
        let now = self.rt.now();
        if self
            .sync_in_flight
            .is_some_and(|at| now.saturating_duration_since(at) < SYNC_WAIT_MAX)
        {
            return;
        }
        if let Some(peer) = self.peer_of(from) {
            self.sync_in_flight = Some(now);
            self.request(peer, SyncRequest::Committed { after }, true);
        }
    }

    fn request(&self, peer: <C::Runtime as Network>::Peer, request: SyncRequest, bulk: bool) {
        let inbox = self.inbox.clone();
        self.rt.request(
            peer,
            request,
            Box::new(move |response| {
                inbox(if bulk {
                    Completion::Synced(response)
                } else {
                    Completion::Fetched(response)
                })
            }),
        );
    }

    /// A node whose peers are in a later epoch hears nothing that would
    /// make its core ask for blocks (their messages are all refused):
    /// while it is behind, it asks every [`EPOCH_SYNC_INTERVAL`] for what
    /// follows its committed block, first the peer it heard the later
    /// epoch from, then the other validators of its epoch in turn.
    pub(super) fn sync_to_epoch_end(&mut self) {
        let Some((_, first, turn)) = self.epoch_sync else {
            return;
        };
        if self.core.epoch_ahead() <= self.core.epoch() {
            self.epoch_sync = None;
            return;
        }
        let from = match (turn, first) {
            (0, Some(first)) => Some(first),
            _ => self.epoch_sync_peer(turn),
        };
        self.epoch_sync = Some((
            self.rt.now() + EPOCH_SYNC_INTERVAL,
            first,
            turn.wrapping_add(1),
        ));
        // Behind, and not moving for 10 s: the usual cause is a recovery
        // (see `hutong_runtime::recovery`), which no block announces.
        let height = self.core.committed().height.0;
        match &mut self.epoch_sync_stuck {
            (h, tries) if *h == height => *tries = tries.saturating_add(1),
            stuck => *stuck = (height, 0),
        }
        if self.epoch_sync_stuck.1 % 120 == 20 {
            tracing::warn!(
                height = self.core.committed().height.0,
                epoch = self.core.epoch().0,
                peers_epoch = self.core.epoch_ahead().0,
                "still behind the peers' epoch; if the consortium recovered from a lost quorum at \
                 this height, this node needs the members' statement: stop it and run \
                 `hutong recover apply`"
            );
        }
        if let Some(from) = from {
            self.sync_request(from, self.core.committed().height.0);
            // Stuck for 2 s: perhaps the chain recovered from here; ask for
            // the statement (the node checks it before adopting it).
            if self.handles.recoveries.is_some() && self.epoch_sync_stuck.1 % 4 == 3 {
                if let Some(peer) = self.peer_of(from) {
                    self.request(peer, SyncRequest::Recovery { height }, false);
                }
            }
        }
    }
    /// A validator of this node's epoch other than itself, chosen by
    /// `turn`.
    fn epoch_sync_peer(&self, turn: u64) -> Option<ValidatorId> {
        let others: Vec<ValidatorId> = (0..self.peers.len())
            .map(|i| ValidatorId(i as u16))
            .filter(|id| Some(*id) != self.me)
            .collect();
        if others.is_empty() {
            return None;
        }
        others.get((turn as usize) % others.len()).copied()
    }

    /// A fetched block: handed to consensus if its payload matches.
    pub(super) fn on_fetched(&mut self, response: Option<SyncResponse>) -> Result<(), HostError> {
        if let Some(SyncResponse::Recovery(Some(statement))) = response {
            if let Some(to) = &self.handles.recoveries {
                // One waits at a time; the next comes on a later ask.
                let _ = to.try_send(*statement);
            }
            return Ok(());
        }
        let Some(SyncResponse::Block(Some(stored))) = response else {
            return Ok(());
        };
        if stored.payload.digest() != stored.block.payload {
            return Ok(());
        }
        let stored = *stored;
        let block = stored.block;
        let added = self.add_payload(block.payload, stored.payload);
        self.apply(Event::BlockFetched { block })?;
        self.forget_unreferenced(added.as_slice());
        self.parent_arrived()
    }

    /// Committed blocks in bulk: handed to consensus if every payload
    /// matches its block.
    pub(super) fn on_synced(&mut self, response: Option<SyncResponse>) -> Result<(), HostError> {
        self.sync_in_flight = None;
        let Some(SyncResponse::Committed {
            blocks,
            proof: Some(proof),
        }) = response
        else {
            tracing::debug!(
                answered = response.is_some(),
                "a sync request brought nothing"
            );
            return Ok(());
        };
        let mut plain = Vec::with_capacity(blocks.len());
        let mut added: Vec<Digest> = Vec::new();
        for stored in blocks {
            if stored.payload.digest() != stored.block.payload {
                tracing::warn!("sync response with a payload that does not match");
                self.forget_unreferenced(&added);
                return Ok(());
            }
            added.extend(self.add_payload(stored.block.payload, stored.payload));
            plain.push(stored.block);
        }
        tracing::info!(blocks = plain.len(), "synced committed blocks");
        let before = self.core.committed().height;
        self.apply(Event::SyncResponse {
            blocks: plain,
            proof,
        })?;
        // Behind an epoch change, no message of this epoch will come to
        // ask for more: ask at once while answers move the chain on.
        if self.core.epoch_ahead() > self.core.epoch() && self.core.committed().height > before {
            if let Some((at, _, _)) = self.epoch_sync.as_mut() {
                *at = self.rt.now();
            }
        }
        // Blocks consensus did not take (committed already, by an earlier
        // answer) leave nothing behind.
        self.forget_unreferenced(&added);
        Ok(())
    }
}

//! Joining from a snapshot: a new or wiped node fills its empty database
//! with the state of one executed height, fetched from its peers in chunks
//! (`SyncRequest::Snapshot`), each checked against that height's state
//! root before anything of it is written (`hutong_runtime::snapshot`). It
//! then follows the chain from the next block, as a node restarted at that
//! height does, without replaying the history below it.
//!
//! What is trusted is the anchor: the executed record (height, block id,
//! state and receipts roots) of a node the operator trusts, usually
//! another node of their own institution (`hutong join --trust-rpc`). No
//! peer is: a chunk that does not prove against the anchor's root is
//! refused, the peer that served it is charged, and another is asked.
//!
//! The anchor is then checked by the validators' quorum, after the fact:
//! the joined node records the anchor as its result at the join height,
//! and every committed block claims the result of an executed height,
//! which a quorum checked before voting. The executor checks each claim
//! at or above the join height against its own results (only claims
//! below it are skipped), so a node given a false anchor (whose chunks
//! some peer must also have forged to match) stops with "diverged" at the
//! first committed block whose claim reaches the join height, a block or
//! two after it starts, rather than following a state no quorum certified.
//! Checking the anchor before restoring, against a certificate of the
//! current validator set reached from genesis through every set change,
//! is not built: after a change it needs each boundary's membership
//! proved against its certified root, which only a node keeping every
//! state (the regulator) can serve.
//!
//! After a validator-set change, the anchor also names the block the
//! current epoch started from (its certificates' root), which the node
//! keeps in place of that block's result.
//!
//! Limits, for now: the node dials the genesis members' nodes and those
//! in its config (`hutong init --peer`), so at least one of them must
//! still serve; a regulator keeps the whole history and syncs from
//! genesis instead; and the blocks below the anchor are not fetched (the
//! node cannot serve them, nor their receipts, to anyone).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};
use hutong_runtime::snapshot::{Restore, SnapshotError};
use hutong_runtime::state::{StateKey, StateValue};
use hutong_runtime::store::StateStore;
use hutong_wire::p2p::{SyncRequest, SyncResponse};
use hutong_wire::{genesis_block_id, Executed, Membership};
use libp2p::PeerId;
use tokio::sync::{mpsc, oneshot};

use crate::config::NodeConfig;
use crate::keyfile;
use crate::network::{NetCommand, NetConfig, NetHandle, Network, Outputs};
use crate::status::Role;
use crate::store::Db;

/// How long to wait for a first peer, and for any progress after it.
pub const STALL_MAX: Duration = Duration::from_secs(120);
/// How long a peer that served a bad chunk, or nothing, is left alone.
const REST: Duration = Duration::from_secs(5);

/// What the operator trusts: a node's last executed block, as its
/// status shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Anchor {
    pub height: u64,
    pub block_id: hutong_runtime::Hash,
    pub state_root: hutong_runtime::Hash,
    pub receipts_root: hutong_runtime::Hash,
    /// The height and block id the trusted node's current epoch started
    /// from, when that is not genesis: the root of that epoch's
    /// certificates, which the node needs to follow it.
    pub epoch_genesis: Option<(u64, hutong_runtime::Hash)>,
}

/// What a join did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinReport {
    pub height: u64,
    pub leaves: u64,
    pub chunks: u64,
    /// Chunks refused because they did not prove against the root.
    pub refused: u64,
    pub elapsed: Duration,
}

/// Fills the empty database of the node `config` describes with the state
/// at `anchor`, from its peers. `progress` is told the leaves restored so
/// far, after every chunk.
pub async fn join(
    config: &NodeConfig,
    anchor: Anchor,
    progress: impl Fn(u64),
) -> Result<JoinReport> {
    let started = Instant::now();
    if config.role == Role::Regulator {
        bail!(
            "a regulator keeps the whole history (its audit indexes need every block): start it \
             with `hutong node`, and it syncs from genesis"
        );
    }
    let genesis = config.read_genesis()?;
    let chain_id = genesis.chain_id();
    let node_key = keyfile::read(&config.node_key)?;
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("cannot create {}", config.data_dir.display()))?;
    let db = Db::open_with_columns(
        &config.data_dir.join("db"),
        chain_id,
        &crate::audit::index::COLUMNS,
    )
    .with_context(|| format!("opening the database in {}", config.data_dir.display()))?;
    if let Some(e) = db.executed()? {
        bail!(
            "{} already holds this chain up to height {}: a node joins from a snapshot only with \
             an empty data folder (a node that has the chain just runs, and syncs the rest)",
            config.data_dir.display(),
            e.height
        );
    }
    if !db.is_empty_chain()? {
        // A restore stopped half-way, possibly at another height than the
        // trusted node's now: start again rather than mix two versions.
        bail!(
            "{} holds a join that stopped half-way: delete it and run `hutong join` again",
            config.data_dir.display()
        );
    }

    // The genesis set's nodes serve the snapshot.
    let membership = Membership::of(&genesis.consortium(), genesis_block_id(chain_id));
    let mut members = crate::membership::member_peers(&membership)?;
    let validators = crate::membership::validator_peers(&membership)?;
    members.extend(validators.iter().copied());
    members.sort();
    members.dedup();
    let mut dial = config.peers.clone();
    dial.extend(crate::membership::dial_addresses(
        &membership,
        &node_key.public(),
    ));
    let (consensus_tx, mut consensus_rx) = mpsc::channel(64);
    let (gossip_tx, mut gossip_rx) = mpsc::channel(64);
    let (sync_tx, mut sync_rx) = mpsc::channel(16);
    let (network, net) = Network::new(
        &node_key,
        NetConfig {
            listen: config.p2p_listen.clone(),
            peers: dial,
            members,
            validators,
            cpu: None,
        },
        Outputs {
            consensus: consensus_tx,
            gossip: gossip_tx,
            sync: sync_tx,
        },
        Arc::new(Mutex::new(Default::default())),
    )?;
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let network_task = tokio::spawn(network.run(async {
        let _ = stop_rx.await;
    }));
    // A joining node has nothing to give: peers' requests are answered
    // `Unavailable` (they ask another), consensus and gossip are dropped.
    let answering = {
        let net = net.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    serve = sync_rx.recv() => match serve {
                        Some(serve) => {
                            net.command(NetCommand::Respond {
                                channel: serve.channel,
                                response: SyncResponse::Unavailable,
                            });
                        }
                        None => return,
                    },
                    message = consensus_rx.recv() => if message.is_none() { return },
                    gossip = gossip_rx.recv() => if gossip.is_none() { return },
                }
            }
        })
    };

    let outcome = async {
        let executed = fetch_block(&db, &net, anchor).await?;
        let counts = fetch(&db, &net, executed, &progress).await?;
        Ok::<_, anyhow::Error>((executed, counts))
    }
    .await;
    let _ = stop_tx.send(());
    answering.abort();
    let _ = network_task.await;
    let (executed, (leaves, chunks, refused)) = outcome?;

    let epoch_genesis = check_restored(&db, anchor)?;
    db.finish_restore(executed, epoch_genesis)?;
    db.flush()?;
    Ok(JoinReport {
        height: anchor.height,
        leaves,
        chunks,
        refused,
        elapsed: started.elapsed(),
    })
}

/// The next connected peer in turn that is not resting; `None` (after a
/// short wait) when there is none.
async fn pick(
    net: &NetHandle,
    resting: &HashMap<PeerId, Instant>,
    turn: &mut usize,
) -> Option<PeerId> {
    let mut peers: Vec<PeerId> = net
        .connected_peers()
        .into_iter()
        .filter(|p| resting.get(p).is_none_or(|t| t.elapsed() > REST))
        .collect();
    peers.sort();
    if peers.is_empty() {
        tokio::time::sleep(Duration::from_millis(200)).await;
        return None;
    }
    *turn = turn.wrapping_add(1);
    Some(peers[*turn % peers.len()])
}

/// One sync request to `peer`; `None` when it did not answer in time (or
/// the network's queue was full).
async fn ask(net: &NetHandle, peer: PeerId, request: SyncRequest) -> Option<SyncResponse> {
    let (tx, rx) = oneshot::channel();
    net.command(NetCommand::Sync {
        to: peer,
        request,
        reply: tx,
    });
    rx.await.ok().flatten()
}

/// The anchor's block, from any peer (checked by its id), stored: its
/// round and time complete the executed record.
async fn fetch_block(db: &Db, net: &NetHandle, anchor: Anchor) -> Result<Executed> {
    let started = Instant::now();
    let block_id = hutong_consensus::types::Digest(anchor.block_id.0);
    let mut turn = 0usize;
    loop {
        if started.elapsed() > STALL_MAX {
            bail!(
                "no peer served block {} at height {} for {}s (are the peers in config.toml's \
                 [p2p] reachable?)",
                anchor.block_id,
                anchor.height,
                STALL_MAX.as_secs()
            );
        }
        let Some(peer) = pick(net, &HashMap::new(), &mut turn).await else {
            continue;
        };
        match ask(net, peer, SyncRequest::Block(block_id)).await {
            Some(SyncResponse::Block(Some(stored)))
                if stored.block.id() == block_id && stored.block.height.0 == anchor.height =>
            {
                db.put_block(&stored)?;
                return Ok(Executed {
                    height: anchor.height,
                    block_id,
                    round: stored.block.round.0,
                    timestamp_ms: stored.block.timestamp_ms,
                    state_root: anchor.state_root,
                    receipts_root: anchor.receipts_root,
                });
            }
            Some(SyncResponse::Block(Some(_))) => {
                net.command(NetCommand::Penalise {
                    peer,
                    why: "served another block than the one asked for by id".into(),
                });
            }
            _ => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

/// Asks connected peers for chunks until the tree at the anchor is whole.
/// Returns the leaves, chunks and refused chunks.
async fn fetch(
    db: &Db,
    net: &NetHandle,
    anchor: Executed,
    progress: &impl Fn(u64),
) -> Result<(u64, u64, u64)> {
    let target = Arc::new(db.clone());
    let new_restore = || Restore::new(Arc::clone(&target), anchor.height, anchor.state_root);
    let mut restore = new_restore().map_err(|e| anyhow::anyhow!("starting the restore: {e}"))?;
    let (mut chunks, mut refused, mut leaves) = (0u64, 0u64, 0u64);
    let mut resting: HashMap<PeerId, Instant> = HashMap::new();
    let mut last_progress = Instant::now();
    let mut turn = 0usize;
    loop {
        if last_progress.elapsed() > STALL_MAX {
            bail!(
                "no peer served the snapshot of height {} for {}s (are the peers in \
                 config.toml's [p2p] reachable, and have they executed that height?)",
                anchor.height,
                STALL_MAX.as_secs()
            );
        }
        let Some(peer) = pick(net, &resting, &mut turn).await else {
            continue;
        };
        let after = restore.resume_after();
        let request = SyncRequest::Snapshot {
            version: anchor.height,
            after,
        };
        match ask(net, peer, request).await {
            Some(SyncResponse::Snapshot(Some(chunk))) => {
                chunks += 1;
                let count = chunk.entries.len() as u64;
                match restore.add(*chunk) {
                    Ok(()) => {
                        leaves += count;
                        last_progress = Instant::now();
                        progress(leaves);
                    }
                    Err(SnapshotError::BadChunk(why)) => {
                        refused += 1;
                        tracing::warn!(%peer, "refused a snapshot chunk: {why}");
                        net.command(NetCommand::Penalise {
                            peer,
                            why: format!("a snapshot chunk that does not prove: {why}"),
                        });
                        resting.insert(peer, Instant::now());
                    }
                    Err(e) => bail!("restoring the snapshot: {e}"),
                }
            }
            // Nothing after the last leaf: the tree is whole if its root
            // is the anchor's (a peer that stops early is found out here).
            Some(SyncResponse::Snapshot(None)) if after.is_some() => match restore.finish() {
                Ok(()) => return Ok((leaves, chunks, refused)),
                Err(e) => {
                    tracing::warn!(%peer, "the snapshot is not whole yet: {e}");
                    resting.insert(peer, Instant::now());
                    restore =
                        new_restore().map_err(|e| anyhow::anyhow!("resuming the restore: {e}"))?;
                }
            },
            // The peer has not executed the height, is busy, or did not
            // answer in time.
            _ => {
                resting.insert(peer, Instant::now());
            }
        }
    }
}

/// The restored state's epoch is the one the anchor names the start of.
/// Returns the epoch's first block (its height and id) unless it is
/// genesis.
fn check_restored(
    db: &Db,
    anchor: Anchor,
) -> Result<Option<(u64, hutong_consensus::types::BlockId)>> {
    // The restore is not the executed state yet: read its version.
    let read = StateStore::tree_value(db, anchor.height, &StateKey::Consortium.key_hash())
        .map_err(|e| anyhow::anyhow!("reading the restored consortium record: {e}"))?
        .map(|bytes| borsh::from_slice::<StateValue>(&bytes))
        .transpose()
        .map_err(|e| anyhow::anyhow!("the restored consortium record does not decode: {e}"))?;
    let consortium = match read {
        Some(StateValue::Consortium(c)) => c,
        _ => bail!("the restored state has no consortium record"),
    };
    if consortium.epoch == 0 {
        return Ok(None);
    }
    let start = consortium.epoch_start.0.saturating_sub(1);
    match anchor.epoch_genesis {
        Some((height, id)) if height == start => {
            Ok(Some((height, hutong_consensus::types::Digest(id.0))))
        }
        _ => bail!(
            "the snapshot's epoch started at height {start}, not where the trusted node said \
             ({:?}): its epoch changed during the join; run `hutong join` again",
            anchor.epoch_genesis.map(|(h, _)| h)
        ),
    }
}

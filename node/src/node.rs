//! `run(config, shutdown)`: opens the database (writing the genesis state
//! on first start), restores consensus from what was persisted, and runs
//! the network, the consensus host, the executor, the JSON-RPC server and
//! the metrics endpoint until `shutdown` resolves.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use anyhow::{bail, Context, Result};
use hutong_consensus::core::{Committed, Consensus};
use hutong_consensus::safety::SafetyData;
use hutong_consensus::types::{Digest, Epoch, Height, Round, ValidatorId};
use hutong_consensus::validators::ValidatorSet;
use hutong_genesis::Genesis;
use hutong_runtime::merkle;
use hutong_runtime::store::{prepare_commit, StateStore};
use libp2p::PeerId;
use tokio::sync::{broadcast, mpsc, watch};

use crate::config::NodeConfig;
use crate::executor;
use crate::host::{Host, NodeSigner, NodeVerifier};
use crate::keyfile;
use crate::mempool::Mempool;
use crate::network::{peer_id_of, NetConfig, Network, TxGossip};
use crate::shared::{ConsensusStatus, Counters, RecentRejections, Role, Shared};
use crate::store::{Db, Executed};

/// The consensus epoch the genesis starts.
pub const GENESIS_EPOCH: Epoch = Epoch(1);

/// Where a running node can be reached (useful when listening on port 0).
#[derive(Debug, Clone)]
pub struct Endpoints {
    pub rpc: SocketAddr,
    pub metrics: Option<SocketAddr>,
    pub peer_id: PeerId,
}

/// The genesis block id of the consensus chain: the chain id itself.
pub fn genesis_block_id(genesis: &Genesis) -> Digest {
    Digest(genesis.chain_id().0)
}

/// Writes the genesis state into an empty database; on a database that
/// already holds it, returns what has been executed.
pub fn init_state(db: &Db, genesis: &Genesis) -> Result<Executed> {
    if let Some(e) = db.executed()? {
        return Ok(e);
    }
    let update = prepare_commit(
        db,
        0,
        genesis
            .initial_state()
            .into_iter()
            .map(|(k, v)| (k, Some(v))),
    )?;
    let executed = Executed {
        height: 0,
        block_id: genesis_block_id(genesis),
        round: 0,
        timestamp_ms: genesis.genesis_time.0,
        state_root: update.root,
        receipts_root: merkle::root(&[]),
    };
    db.commit_genesis(update, executed)?;
    tracing::info!(state_root = %executed.state_root, "genesis state written");
    Ok(executed)
}

/// Runs a node until `shutdown` resolves. `ready` receives the endpoints
/// once everything listens.
pub async fn run(
    config: NodeConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
    ready: Option<tokio::sync::oneshot::Sender<Endpoints>>,
) -> Result<()> {
    let text = std::fs::read_to_string(&config.genesis)
        .with_context(|| format!("cannot read genesis {}", config.genesis.display()))?;
    let genesis =
        Genesis::from_toml(&text).with_context(|| format!("{}", config.genesis.display()))?;
    let chain_id = genesis.chain_id();
    let node_key = keyfile::read(&config.node_key)?;
    let public = node_key.public();

    let validator_keys: Vec<[u8; 32]> = genesis.validators().map(|m| m.node_key.0).collect();
    let me = validator_keys.iter().position(|k| *k == public.0);
    let in_genesis = me.is_some()
        || genesis.members.iter().any(|m| m.node_key == public)
        || genesis.regulators.iter().any(|r| r.node_key == public);
    if !in_genesis {
        bail!(
            "node key {} ({}) is not a node of this consortium's genesis",
            public,
            config.node_key.display()
        );
    }
    match (config.role, me.is_some()) {
        (Role::Validator, false) => bail!(
            "config says role = \"validator\", but node key {public} is not a validator in genesis"
        ),
        (Role::Observer | Role::Regulator, true) => bail!(
            "node key {public} is a validator in genesis; a validator's config says role = \"validator\""
        ),
        _ => {}
    }
    if config.role == Role::Regulator && !genesis.regulators.iter().any(|r| r.node_key == public) {
        bail!("config says role = \"regulator\", but node key {public} is no regulator's node key");
    }

    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("cannot create {}", config.data_dir.display()))?;
    let db = open_db_watched(&config.data_dir.join("db"), chain_id)
        .with_context(|| format!("opening the database in {}", config.data_dir.display()))?;
    let executed = init_state(&db, &genesis)?;
    if db.latest_version() != Some(executed.height) {
        bail!(
            "database is inconsistent: state version {:?}, executed height {}",
            db.latest_version(),
            executed.height
        );
    }
    tracing::info!(
        chain_id = %chain_id,
        role = ?config.role,
        height = executed.height,
        state_root = %executed.state_root,
        "starting"
    );

    let validators = ValidatorSet::new(
        GENESIS_EPOCH,
        validator_keys.clone(),
        genesis_block_id(&genesis),
    )
    .map_err(|e| anyhow::anyhow!("genesis validator set: {e}"))?;
    let validator_peers = validator_keys
        .iter()
        .map(|k| peer_id_of(&hutong_runtime::PublicKey(*k)).map_err(anyhow::Error::msg))
        .collect::<Result<Vec<_>>>()?;
    let mut members = validator_peers.clone();
    for m in &genesis.members {
        members.push(peer_id_of(&m.node_key).map_err(anyhow::Error::msg)?);
    }
    for r in &genesis.regulators {
        members.push(peer_id_of(&r.node_key).map_err(anyhow::Error::msg)?);
    }
    members.sort();
    members.dedup();

    let safety = db
        .safety()?
        .unwrap_or_else(|| SafetyData::new(GENESIS_EPOCH));
    let restored = db.stored_blocks_above(executed.height)?;
    let me_id = me
        .map(|i| ValidatorId(i as u16))
        .unwrap_or(ValidatorId(u16::MAX));
    let core = Consensus::restore(
        me_id,
        validators,
        NodeSigner(node_key.clone()),
        NodeVerifier,
        config.consensus.clone(),
        safety,
        restored.iter().map(|s| s.block.clone()).collect(),
        Committed {
            id: executed.block_id,
            round: Round(executed.round),
            height: Height(executed.height),
        },
    );

    let audit = match config.role {
        Role::Regulator => Some(Arc::new(
            crate::audit::rpc::AuditNode::open(&db, &genesis, config.audit.clone())
                .context("opening the audit indexes")?,
        )),
        _ => None,
    };

    let (net_tx, net_rx) = mpsc::channel(4_096);
    let (events_tx, events_rx) = mpsc::channel(4_096);
    let (txs_tx, mut txs_rx) = mpsc::channel(256);
    let (exec_tx, exec_rx) = mpsc::channel(256);
    let (executed_tx, _) = watch::channel(executed);
    // Subscribers' buffer: each entry holds its block's transaction hashes
    // (up to 320 KiB), and the ring stays full whether anyone listens or
    // not; a subscriber 256 blocks behind skips ahead.
    let (commits_tx, _) = broadcast::channel(256);
    let peers = Arc::new(Mutex::new(Default::default()));
    let shared = Arc::new(Shared {
        chain_id,
        role: config.role,
        db: db.clone(),
        mempool: Mutex::new(Mempool::new(config.mempool.clone())),
        mempool_grew: Default::default(),
        executed: executed_tx,
        commits: commits_tx,
        consensus: Mutex::new(ConsensusStatus::default()),
        peers: peers.clone(),
        counters: Counters::default(),
        rejections: Mutex::new(RecentRejections::default()),
        halted: Mutex::new(None),
        validators: validator_keys.len(),
        net: net_tx.clone(),
        verifier: crate::sigverify::AdmissionVerifier::start(crate::sigverify::available_threads())
            .context("cannot start the signature verifier thread")?,
        audit,
        genesis,
    });

    let network = Network::new(
        &node_key,
        NetConfig {
            listen: config.p2p_listen.clone(),
            peers: config.peers.clone(),
            members,
            validators: validator_peers.clone(),
            chain_id,
            me: me.map(|i| i as u16),
        },
        db.clone(),
        net_rx,
        events_tx,
        txs_tx,
        peers,
    )?;
    let peer_id = network.local_peer_id();
    let (stop_tx, stop_rx) = watch::channel(false);
    let stopped = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };

    let mut tasks = tokio::task::JoinSet::new();
    tasks.spawn({
        let stop = stopped(stop_rx.clone());
        async move {
            network.run(stop).await;
            Ok(())
        }
    });
    tasks.spawn({
        let shared = shared.clone();
        async move {
            executor::run(shared, exec_rx).await;
            Ok(())
        }
    });
    // Transactions shared by other validators, and their attestations.
    tasks.spawn({
        let shared = shared.clone();
        let mut gossip = crate::attest::Gossip::new(
            shared.clone(),
            validator_peers.clone(),
            validator_keys
                .iter()
                .map(|k| hutong_runtime::PublicKey(*k))
                .collect(),
            me.map(|i| i as u16),
            node_key.clone(),
            config.attestation_wait,
        );
        let stop = stopped(stop_rx.clone());
        async move {
            tokio::pin!(stop);
            let mut due: Option<tokio::time::Instant> = None;
            loop {
                let wake = due.unwrap_or_else(|| {
                    tokio::time::Instant::now() + std::time::Duration::from_secs(3600)
                });
                tokio::select! {
                    _ = &mut stop => return Ok(()),
                    _ = tokio::time::sleep_until(wake) => {}
                    message = txs_rx.recv() => match message {
                        Some((from, TxGossip::Batch { txs, attestation: Some(a), verifiers })) => {
                            gossip.on_batch(from, txs, a, verifiers).await;
                        }
                        Some((_, TxGossip::Batch { txs, attestation: None, .. })) => {
                            crate::admit::admit(&shared, txs, crate::admit::Source::Peer).await;
                        }
                        Some((from, TxGossip::Attest(a))) => gossip.on_attest(from, a).await,
                        None => return Ok(()),
                    },
                }
                due = gossip.on_tick().await;
            }
        }
    });
    let host = Host::new(
        core,
        me.map(|i| ValidatorId(i as u16)),
        validator_peers,
        shared.clone(),
        config.host.clone(),
        net_tx,
        exec_tx,
        restored,
    );
    tasks.spawn({
        let stop = stopped(stop_rx.clone());
        async move { host.run(events_rx, stop).await }
    });

    let rpc = crate::rpc::start(&config, shared.clone()).await?;
    let rpc_addr = rpc.local_addr;
    let metrics = match config.metrics_listen {
        Some(addr) => {
            Some(crate::metrics::start(addr, shared.clone(), stopped(stop_rx.clone())).await?)
        }
        None => None,
    };
    tracing::info!(rpc = %rpc_addr, peer_id = %peer_id, "node running");
    if let Some(ready) = ready {
        let _ = ready.send(Endpoints {
            rpc: rpc_addr,
            metrics,
            peer_id,
        });
    }

    // Run until asked to stop or until a task fails (a failed local write
    // is fatal: better down than wrong).
    let mut failure = None;
    tokio::pin!(shutdown);
    tokio::select! {
        _ = &mut shutdown => tracing::info!("shutting down"),
        Some(done) = tasks.join_next() => {
            match done {
                Ok(Ok(())) => tracing::warn!("a node task ended; shutting down"),
                Ok(Err(e)) => failure = Some(e),
                Err(e) => failure = Some(anyhow::anyhow!("a node task panicked: {e}")),
            }
        }
    }
    let _ = stop_tx.send(true);
    rpc.stop().await;
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    tasks.abort_all();
    if let Err(e) = db.flush() {
        tracing::warn!("flushing the database on shutdown: {e}");
    }
    match failure {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Opens the database, saying so every 30 s while it takes longer: a
/// large write-ahead log replays for a while, and RocksDB's recovery of a
/// damaged log has been seen to spin without end (facebook/rocksdb#13333),
/// which an operator should hear about rather than face a silent node.
fn open_db_watched(
    path: &std::path::Path,
    chain_id: hutong_runtime::ChainId,
) -> Result<Db, crate::store::DbError> {
    let opened = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watch = opened.clone();
    let shown = path.display().to_string();
    let _ = std::thread::Builder::new()
        .name("hutong-open-watch".into())
        .spawn(move || {
            for waited in (30u64..).step_by(30) {
                std::thread::sleep(std::time::Duration::from_secs(30));
                if watch.load(std::sync::atomic::Ordering::SeqCst) {
                    return;
                }
                tracing::warn!(
                    path = %shown,
                    waited_secs = waited,
                    "still opening the database (replaying its write-ahead log); if this \
                     goes on for many minutes at full CPU, the log's tail may be damaged \
                     and RocksDB's recovery stuck on it: stop the node and check the disk"
                );
            }
        });
    let db = Db::open(path, chain_id);
    opened.store(true, std::sync::atomic::Ordering::SeqCst);
    db
}

//! `run(config, shutdown)`: opens the database (writing the genesis state
//! on first start), restores consensus from what was persisted, and runs
//! the node's tasks until `shutdown` resolves: the network, the consensus
//! host, the attestation protocol, the sync server, the executor, the
//! JSON-RPC server and the metrics endpoint. Each task is handed the
//! handles it needs and nothing else.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use anyhow::{bail, Context as _, Result};
use hutong_consensus::core::{Committed, Consensus};
use hutong_consensus::safety::SafetyData;
use hutong_consensus::types::{Height, Round, ValidatorId};
use hutong_consensus::validators::ValidatorSet;
use hutong_genesis::Genesis;
use hutong_host::admit::{Admission, Outlets};
use hutong_host::attest::{Attestations, Members};
use hutong_host::host::{Handles, Host, Restored};
use hutong_host::mempool::Mempool;
use hutong_host::sigverify::{available_threads, AdmissionVerifier};
use hutong_runtime::merkle;
use hutong_runtime::store::{prepare_commit, StateStore};
use libp2p::PeerId;
use tokio::sync::{broadcast, mpsc, watch, Notify};

use hutong_wire::{genesis_block_id, Executed, NodeSigner, NodeVerifier, GENESIS_EPOCH};

use crate::audit::AuditNode;
use crate::config::NodeConfig;
use crate::consensus::{ExecQueue, NodeContext};
use crate::executor::{self, ExecHandles};
use crate::keyfile;
use crate::ledger::Ledger;
use crate::metrics::MetricsSources;
use crate::network::{peer_id_of, NetConfig, Network, Outputs};
use crate::rpc::RpcContext;
use crate::runtime::TokioRuntime;
use crate::status::{Halt, NodeStatus, Role};
use crate::store::Db;

/// Where a running node can be reached (useful when listening on port 0).
#[derive(Debug, Clone)]
pub struct Endpoints {
    pub rpc: SocketAddr,
    pub metrics: Option<SocketAddr>,
    pub peer_id: PeerId,
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
        block_id: genesis_block_id(genesis.chain_id()),
        round: 0,
        timestamp_ms: genesis.genesis_time.0,
        state_root: update.root,
        receipts_root: merkle::root(&[]),
    };
    db.commit_genesis(update, executed)?;
    tracing::info!(state_root = %executed.state_root, "genesis state written");
    Ok(executed)
}

/// Admission's outlets on a node: new client transactions to the
/// attestation task, and the news to a leader waiting to propose.
#[derive(Debug)]
struct NodeOutlets {
    share: mpsc::Sender<Vec<Vec<u8>>>,
    pool_grew: Arc<Notify>,
}

impl Outlets for NodeOutlets {
    fn share(&self, raws: Vec<Vec<u8>>) {
        // Best effort: a full queue only delays the transactions to the
        // leaders that receive them later.
        let _ = self.share.try_send(raws);
    }

    fn pool_grew(&self) {
        self.pool_grew.notify_waiters();
        self.pool_grew.notify_one();
    }
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
        genesis_block_id(chain_id),
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
            AuditNode::open(&db, &genesis, config.audit.clone())
                .context("opening the audit indexes")?,
        )),
        _ => None,
    };
    let genesis = Arc::new(genesis);

    // The handles the tasks share, each given only to those that use it.
    let (executed_tx, executed_rx) = watch::channel(executed);
    // Subscribers' buffer; a subscriber 256 blocks behind skips ahead.
    let (commits_tx, _) = broadcast::channel(256);
    let ledger = Ledger::new(db.clone(), genesis.clone(), executed_rx.clone());
    let pool = Arc::new(Mutex::new(Mempool::new(config.mempool.clone())));
    let pool_grew = Arc::new(Notify::new());
    let halt = Halt::default();
    let status = NodeStatus {
        role: config.role,
        validators: validator_keys.len(),
        consensus: Arc::default(),
        peers: Arc::default(),
        counters: Arc::default(),
        halt: halt.clone(),
    };

    let (consensus_tx, consensus_rx) = mpsc::channel(4_096);
    let (gossip_tx, gossip_rx) = mpsc::channel(256);
    let (sync_tx, sync_rx) = mpsc::channel(crate::sync_server::QUEUED_MAX);
    let (network, net) = Network::new(
        &node_key,
        NetConfig {
            listen: config.p2p_listen.clone(),
            peers: config.peers.clone(),
            members,
            validators: validator_peers.clone(),
        },
        Outputs {
            consensus: consensus_tx,
            gossip: gossip_tx,
            sync: sync_tx,
        },
        status.peers.clone(),
    )?;
    let peer_id = network.local_peer_id();
    let rt = TokioRuntime::new(net.clone());

    let (share_tx, share_rx) = mpsc::channel(crate::gossip::SHARE_QUEUE_MAX);
    let admission = Admission {
        chain_id,
        pool: pool.clone(),
        verifier: Arc::new(
            AdmissionVerifier::start(available_threads())
                .context("cannot start the signature verifier thread")?,
        ),
        ledger: Arc::new(ledger.clone()),
        outlets: Arc::new(NodeOutlets {
            share: share_tx,
            pool_grew: pool_grew.clone(),
        }),
        counters: status.counters.clone(),
        rejections: Arc::default(),
    };

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
        let stop = stopped(stop_rx.clone());
        let db = db.clone();
        let net = net.clone();
        async move {
            crate::sync_server::run(db, sync_rx, net, stop).await;
            Ok(())
        }
    });
    let (exec_tx, exec_rx) = mpsc::channel(256);
    tasks.spawn({
        let handles = Arc::new(ExecHandles {
            db: db.clone(),
            chain_id,
            params: genesis.params.clone(),
            audit: audit.clone(),
            counters: status.counters.clone(),
            pool: pool.clone(),
            executed: executed_tx,
            commits: commits_tx.clone(),
            halt: halt.clone(),
        });
        async move {
            executor::run(handles, exec_rx).await;
            Ok(())
        }
    });
    // Transactions shared by other validators, their attestations, and
    // the sharing of this node's client transactions.
    tasks.spawn({
        let attestations = Attestations::new(
            rt.clone(),
            admission.clone(),
            Members {
                validators: validator_peers.clone(),
                keys: validator_keys
                    .iter()
                    .map(|k| hutong_runtime::PublicKey(*k))
                    .collect(),
                me: me.map(|i| i as u16),
            },
            node_key.clone(),
            config.attestation_wait,
        );
        let rt = rt.clone();
        let stop = stopped(stop_rx.clone());
        async move {
            crate::gossip::run(attestations, rt, gossip_rx, share_rx, stop).await;
            Ok(())
        }
    });
    let (inbox, completions) = crate::consensus::inbox();
    let host: Host<NodeContext> = Host::new(
        Restored {
            core,
            blocks: restored,
            executed,
        },
        me.map(|i| ValidatorId(i as u16)),
        validator_peers,
        rt.clone(),
        db.clone(),
        ExecQueue(exec_tx),
        inbox,
        Handles {
            chain_id,
            pool: pool.clone(),
            status: status.consensus.clone(),
            counters: status.counters.clone(),
        },
        config.host.clone(),
    );
    tasks.spawn({
        let stop = stopped(stop_rx.clone());
        let inputs = crate::consensus::Inputs {
            messages: consensus_rx,
            completions,
            executed: executed_rx,
            pool_grew,
        };
        let halt = halt.clone();
        async move { crate::consensus::run(host, inputs, halt, stop).await }
    });

    let rpc = crate::rpc::start(
        &config,
        Arc::new(RpcContext {
            ledger: ledger.clone(),
            admission,
            status: status.clone(),
            commits: commits_tx,
            audit,
        }),
    )
    .await?;
    let rpc_addr = rpc.local_addr;
    let metrics = match config.metrics_listen {
        Some(addr) => Some(
            crate::metrics::start(
                addr,
                Arc::new(MetricsSources {
                    ledger,
                    status,
                    pool,
                }),
                stopped(stop_rx.clone()),
            )
            .await?,
        ),
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
    let db = Db::open_with_columns(path, chain_id, &crate::audit::index::COLUMNS);
    opened.store(true, std::sync::atomic::Ordering::SeqCst);
    db
}

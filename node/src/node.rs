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
use hutong_genesis::Genesis;
use hutong_host::admit::{Admission, Outlets};
use hutong_host::attest::Attestations;
use hutong_host::host::{Handles, Host, Restored};
use hutong_host::mempool::Mempool;
use hutong_host::sigverify::{available_threads, AdmissionVerifier};
use hutong_host::status::CpuStage;
use hutong_runtime::merkle;
use hutong_runtime::store::{prepare_commit, StateStore};
use libp2p::PeerId;
use tokio::sync::{broadcast, mpsc, watch, Notify};

use hutong_wire::{genesis_block_id, Executed, NodeSigner, NodeVerifier};

use crate::audit::AuditNode;
use crate::config::NodeConfig;
use crate::consensus::{ExecQueue, NodeContext};
use crate::cpu::Metered;
use crate::executor::{self, ExecHandles};
use crate::keyfile;
use crate::ledger::Ledger;
use crate::metrics::MetricsSources;
use crate::network::{NetConfig, Network, Outputs};
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

/// `[storage] keep_blocks` and `keep_states`: deletes the blocks older
/// than the last `keep_blocks`, and the tree nodes only the states older
/// than the last `keep_states` refer to, as the chain grows (a pass a
/// second at most, off the async threads).
async fn prune(
    db: Db,
    executed: watch::Receiver<Executed>,
    keep_blocks: Option<u64>,
    keep_states: Option<u64>,
    shutdown: impl Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = &mut shutdown => return,
            _ = tick.tick() => {}
        }
        let next = executed.borrow().height.saturating_add(1);
        let db = db.clone();
        let pass = move || -> Result<(u64, usize), crate::store::DbError> {
            let blocks = match keep_blocks {
                Some(keep) => db.prune_blocks_below(next.saturating_sub(keep))?,
                None => 0,
            };
            let nodes = match keep_states {
                Some(keep) => db.prune_states_below(next.saturating_sub(keep))?,
                None => 0,
            };
            Ok((blocks, nodes))
        };
        match tokio::task::spawn_blocking(pass).await {
            Ok(Ok((0, 0))) => {}
            Ok(Ok((blocks, nodes))) => tracing::debug!(blocks, nodes, next, "pruned"),
            Ok(Err(e)) => tracing::error!("pruning: {e}"),
            Err(e) => tracing::error!("pruning: {e}"),
        }
    }
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

/// Opens a stopped node's database (writing the genesis state if it is
/// new), for offline work on it: `hutong recover`. Fails if the node runs
/// (RocksDB locks the database).
pub fn open_offline(config: &NodeConfig) -> Result<(Db, hutong_runtime::ChainId, Executed)> {
    let genesis = config.read_genesis()?;
    let chain_id = genesis.chain_id();
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("cannot create {}", config.data_dir.display()))?;
    let path = config.data_dir.join("db");
    let db = Db::open_with_columns(&path, chain_id, &crate::audit::index::COLUMNS).with_context(
        || {
            format!(
                "opening the database in {} (stop the node first: a running node holds it)",
                config.data_dir.display()
            )
        },
    )?;
    let executed = init_state(&db, &genesis)?;
    Ok((db, chain_id, executed))
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
    let genesis = config.read_genesis()?;
    let chain_id = genesis.chain_id();
    let node_key = keyfile::read(&config.node_key)?;
    let public = node_key.public();

    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("cannot create {}", config.data_dir.display()))?;
    let db = open_db_watched(&config.data_dir.join("db"), chain_id)
        .with_context(|| format!("opening the database in {}", config.data_dir.display()))?;
    if config.keep_states.is_some() {
        db.track_stale_nodes();
    }
    let executed = init_state(&db, &genesis)?;
    if db.latest_version() != Some(executed.height) {
        bail!(
            "database is inconsistent: state version {:?}, executed height {}",
            db.latest_version(),
            executed.height
        );
    }

    // Who the consortium's nodes are is the ledger's to say: genesis at
    // first, then whatever votes executed.
    let membership = crate::membership::load(&db, chain_id)?;
    // A recovery statement this node was given (`hutong recover apply`)
    // and has not put in force yet: at its height, the node starts in the
    // statement's epoch; below it, the executor switches there.
    let recovery = crate::recovery::pending(&db)?;
    let membership = match crate::recovery::starting_membership(
        &db,
        chain_id,
        recovery.as_deref(),
        &executed,
    )? {
        Some(recovered) => {
            tracing::warn!(
                height = executed.height,
                epoch = recovered.epoch.0,
                validators = recovered.validators.len(),
                "recovery: a new epoch starts from this height with the validators the members' \
                 statement names"
            );
            recovered
        }
        None => membership,
    };
    if let Some(s) = recovery
        .as_ref()
        .filter(|s| s.plan.height.0 > executed.height)
    {
        tracing::warn!(
            height = executed.height,
            recovery_height = s.plan.height.0,
            "recovery: this node syncs to the statement's height, then checks it and switches to \
             its epoch"
        );
    }
    let me = membership.index_of(&public);
    if executed.height == membership.genesis_height {
        crate::membership::recover_epoch_end(&db, &membership)?;
    }
    check_role(&config, &genesis, &membership, &public, executed.height)?;
    tracing::info!(
        chain_id = %chain_id,
        role = ?config.role,
        height = executed.height,
        epoch = membership.epoch.0,
        validators = membership.validators.len(),
        state_root = %executed.state_root,
        "starting"
    );

    // The consortium's timing, with this node's overrides.
    let overrides = config.consensus_section.overrides();
    if !overrides.is_empty() {
        tracing::warn!(
            ?overrides,
            ledger = ?membership.timing,
            "{} overrides the consortium's consensus timing on this node",
            config.path
        );
    }
    let (consensus_config, host_config) = config.resolve_timing(&membership.timing)?;

    let validators = membership
        .validator_set()
        .map_err(|e| anyhow::anyhow!("the validator set of epoch {}: {e}", membership.epoch.0))?;
    let validator_peers = crate::membership::validator_peers(&membership)?;
    let mut members = crate::membership::member_peers(&membership)?;
    members.extend(validator_peers.iter().copied());
    members.sort();
    members.dedup();

    let safety = match db.safety()? {
        Some(s) if s.epoch >= membership.epoch => s,
        _ => SafetyData::new(membership.epoch),
    };
    // Blocks of an ended epoch stored after its last executed block are
    // never executed.
    let restored: Vec<_> = db
        .stored_blocks_above(executed.height)?
        .into_iter()
        .filter(|s| s.block.epoch == membership.epoch)
        .collect();
    let me_id = me.map(ValidatorId).unwrap_or(ValidatorId(u16::MAX));
    let core = Consensus::restore(
        me_id,
        validators,
        NodeSigner(node_key.clone()),
        NodeVerifier,
        consensus_config,
        safety,
        restored.iter().map(|s| s.block.clone()).collect(),
        // The block an epoch starts from is its round 0, whatever round
        // it had in the epoch it ended.
        Committed {
            id: executed.block_id,
            round: if executed.height == membership.genesis_height {
                Round(0)
            } else {
                Round(executed.round)
            },
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
    let memo_key = match &config.memo_key {
        Some(path) => {
            let seed = crate::keyfile::read(path).context("reading [memo] key")?;
            let key = hutong_privacy::keys::memo_key(&seed.secret_bytes());
            tracing::info!(
                key = hex::encode(key.public_key()),
                "memo key loaded: customers' sealed memos are read for their parties"
            );
            Some(Arc::new(key))
        }
        None => None,
    };
    let genesis = Arc::new(genesis);

    // The handles the tasks share, each given only to those that use it.
    let (executed_tx, executed_rx) = watch::channel(executed);
    let mut peers_to_dial = config.peers.clone();
    peers_to_dial.extend(crate::membership::dial_addresses(&membership, &public));
    let validator_count = membership.validators.len();
    let (membership_tx, membership_rx) = watch::channel(Arc::new(membership));
    // Subscribers' buffer; a subscriber 256 blocks behind skips ahead.
    let (commits_tx, _) = broadcast::channel(256);
    let ledger = Ledger::new(db.clone(), genesis.clone(), executed_rx.clone());
    let pool = Arc::new(Mutex::new(Mempool::new(config.mempool.clone())));
    let pool_grew = Arc::new(Notify::new());
    let halt = Halt::default();
    let counters: Arc<crate::status::Counters> = Arc::default();
    let _ = counters.meter.set(crate::cpu::meter());
    let status = NodeStatus {
        role: config.role,
        validators: validator_count,
        consensus: Arc::default(),
        peers: Arc::default(),
        counters: counters.clone(),
        halt: halt.clone(),
        keep_blocks: config.keep_blocks,
        keep_states: config.keep_states,
    };

    let (consensus_tx, consensus_rx) = mpsc::channel(4_096);
    let (gossip_tx, gossip_rx) = mpsc::channel(256);
    let (sync_tx, sync_rx) = mpsc::channel(crate::sync_server::QUEUED_MAX);
    let (network, net) = Network::new(
        &node_key,
        NetConfig {
            listen: config.p2p_listen.clone(),
            peers: peers_to_dial,
            members,
            validators: validator_peers.clone(),
            cpu: Some(status.counters.clone()),
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
    let rejections: Arc<Mutex<crate::status::RecentRejections>> = Arc::default();
    let admission = Admission {
        chain_id,
        pool: pool.clone(),
        verifier: Arc::new(
            AdmissionVerifier::start_counted(available_threads(), counters.clone())
                .context("cannot start the signature verifier thread")?,
        ),
        ledger: Arc::new(ledger.clone()),
        outlets: Arc::new(NodeOutlets {
            share: share_tx,
            pool_grew: pool_grew.clone(),
        }),
        counters: status.counters.clone(),
        rejections: rejections.clone(),
    };

    let (stop_tx, stop_rx) = watch::channel(false);
    let stopped = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let mut tasks = tokio::task::JoinSet::new();
    tasks.spawn({
        let stop = stopped(stop_rx.clone());
        let network = network.run(stop);
        let counters = status.counters.clone();
        async move {
            Metered::new(counters, CpuStage::Network, network).await;
            Ok(())
        }
    });
    tasks.spawn({
        let stop = stopped(stop_rx.clone());
        let db = db.clone();
        let net = net.clone();
        let counters = status.counters.clone();
        async move {
            let serve = crate::sync_server::run(db, sync_rx, net, stop);
            Metered::new(counters, CpuStage::Network, serve).await;
            Ok(())
        }
    });
    if config.keep_blocks.is_some() || config.keep_states.is_some() {
        let (keep_blocks, keep_states) = (config.keep_blocks, config.keep_states);
        tasks.spawn({
            let stop = stopped(stop_rx.clone());
            let db = db.clone();
            let executed = executed_rx.clone();
            async move {
                prune(db, executed, keep_blocks, keep_states, stop).await;
                Ok(())
            }
        });
    }
    let (exec_tx, exec_rx) = mpsc::channel(256);
    // Recovery statements peers serve to this node while it is stuck at a
    // recovered height (see `executor::adopt_recovery`).
    let (recoveries_tx, recoveries_rx) = std::sync::mpsc::sync_channel(1);
    let exec_handles = Arc::new(ExecHandles {
        db: db.clone(),
        chain_id,
        params: genesis.params.clone(),
        audit: audit.clone(),
        counters: status.counters.clone(),
        pool: pool.clone(),
        rejections: rejections.clone(),
        executed: executed_tx,
        membership: membership_tx,
        commits: commits_tx.clone(),
        halt: halt.clone(),
        recovery: std::sync::Mutex::new(recovery),
    });
    tasks.spawn({
        let handles = exec_handles.clone();
        async move {
            executor::run(handles, exec_rx).await;
            Ok(())
        }
    });
    {
        let handles = exec_handles.clone();
        std::thread::Builder::new()
            .name("hutong-recovery".into())
            .spawn(move || {
                // Ends when the host (the only sender) is dropped.
                while let Ok(statement) = recoveries_rx.recv() {
                    executor::adopt_recovery(&handles, statement);
                }
            })
            .context("starting the recovery thread")?;
    }
    // Transactions shared by other validators, their attestations, and
    // the sharing of this node's client transactions.
    tasks.spawn({
        let attestations = Attestations::new(
            rt.clone(),
            admission.clone(),
            crate::membership::attest_members(&membership_rx.borrow(), &public)?,
            node_key.clone(),
            config.attestation_wait,
        );
        let rt = rt.clone();
        let stop = stopped(stop_rx.clone());
        let membership = (membership_rx.clone(), public);
        let counters = status.counters.clone();
        async move {
            let gossip =
                crate::gossip::run(attestations, rt, gossip_rx, share_rx, membership, stop);
            Metered::new(counters, CpuStage::Admission, gossip).await;
            Ok(())
        }
    });
    tasks.spawn({
        let stop = stopped(stop_rx.clone());
        let membership = membership_rx.clone();
        let net = net.clone();
        async move {
            crate::membership::follow_in_network(membership, net, public, stop).await;
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
        me.map(ValidatorId),
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
            recoveries: Some(recoveries_tx),
        },
        host_config,
    );
    tasks.spawn({
        let stop = stopped(stop_rx.clone());
        let inputs = crate::consensus::Inputs {
            messages: consensus_rx,
            completions,
            executed: executed_rx,
            pool_grew,
            membership: membership_rx,
            me: public,
            config: config.clone(),
        };
        let halt = halt.clone();
        let consensus = crate::consensus::run(host, inputs, halt, stop);
        Metered::new(status.counters.clone(), CpuStage::Consensus, consensus)
    });

    let rpc = crate::rpc::start(
        &config,
        Arc::new(RpcContext {
            ledger: ledger.clone(),
            admission,
            status: status.clone(),
            commits: commits_tx,
            audit,
            memo_key,
        }),
    )
    .await?;
    let rpc_addr = rpc.local_addr;
    if let (Role::Regulator, Some(path)) = (config.role, &config.audit.anchor_key) {
        let key = crate::keyfile::read(path)
            .with_context(|| format!("[audit] anchor_key {}", path.display()))?;
        if !genesis.regulators.iter().any(|r| r.key == key.public()) {
            anyhow::bail!(
                "[audit] anchor_key {}: key {} is not a regulator key of the genesis",
                path.display(),
                key.public().to_hex()
            );
        }
        let every = std::time::Duration::from_secs(config.audit.anchor_every_secs);
        tasks.spawn({
            let stop = stopped(stop_rx.clone());
            let db = db.clone();
            async move {
                crate::anchor::run(db, rpc_addr, key, every, stop).await;
                Ok(())
            }
        });
    }
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

/// Checks the configured role against the consortium as the ledger has
/// it. Votes change roles and admit nodes that genesis did not name, so
/// only contradictions the operator must fix stop the node; a node not
/// (yet) in the consortium starts, and is told that peers refuse it.
fn check_role(
    config: &NodeConfig,
    genesis: &Genesis,
    membership: &hutong_wire::Membership,
    public: &hutong_runtime::PublicKey,
    height: u64,
) -> Result<()> {
    let validator = membership.index_of(public).is_some();
    if !membership.is_node(public) {
        if height == 0 && config.role == Role::Regulator {
            bail!("config says role = \"regulator\", but node key {public} is no regulator's node key");
        }
        tracing::warn!(
            "node key {public} ({}) is not a node of this consortium at height {height}: \
             its peers refuse its connections until a vote admits it (hutong gov propose add-member)",
            config.node_key.display()
        );
        return Ok(());
    }
    match (config.role, validator) {
        (Role::Regulator, true) => bail!(
            "node key {public} is a validator; a regulator's node runs with its own node key"
        ),
        (Role::Regulator, false)
            if height == 0 && !genesis.regulators.iter().any(|r| r.node_key == *public) =>
        {
            bail!("config says role = \"regulator\", but node key {public} is no regulator's node key")
        }
        (Role::Validator, false) => tracing::warn!(
            "config says role = \"validator\", but node key {public} is not a validator in epoch {}: \
             it follows the chain, and votes once a vote makes it a validator",
            membership.epoch.0
        ),
        (Role::Observer, true) => tracing::warn!(
            "config says role = \"observer\", but node key {public} is a validator in epoch {}: it votes",
            membership.epoch.0
        ),
        _ => {}
    }
    Ok(())
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

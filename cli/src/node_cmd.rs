//! `hutong init`, `hutong node` and `hutong testnet`.

use crate::out::say;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Args;
use hutong_genesis::template::{generate, TemplateOptions};
use hutong_genesis::Genesis;
use hutong_node::client::Client;
use hutong_node::config::{
    ConfigFile, ConsensusSection, DashboardSection, MemoSection, MempoolSection, MetricsSection,
    NodeConfig, P2pSection, RpcSection,
};
use hutong_node::keyfile;
use hutong_node::network::{dial_address, peer_id_of, tcp_port};
use hutong_node::status::Role;

#[derive(Args)]
pub struct InitArgs {
    /// The node's home folder (created; must not hold a config yet).
    #[arg(long)]
    home: PathBuf,
    /// The consortium's genesis file (copied into the home folder).
    #[arg(long)]
    genesis: PathBuf,
    /// This node's key file, named in genesis (copied into the home folder).
    #[arg(long)]
    node_key: PathBuf,
    /// validator, observer or regulator; inferred from genesis if omitted.
    #[arg(long)]
    role: Option<String>,
    /// Where to listen for peers (default: every interface, at the port
    /// of this node's address in genesis, or 26600).
    #[arg(long)]
    p2p_listen: Option<String>,
    /// Another node's p2p address; repeat for each (default: every other
    /// node's address in genesis, with its peer id).
    #[arg(long = "peer")]
    peers: Vec<String>,
    #[arg(long, default_value = "127.0.0.1:8545")]
    rpc_listen: String,
    #[arg(long)]
    metrics_listen: Option<String>,
}

#[derive(Args)]
pub struct NodeArgs {
    /// The node's home folder, made by `hutong init`.
    #[arg(long)]
    home: PathBuf,
}

#[derive(Args)]
pub struct JoinArgs {
    /// The node's home folder, made by `hutong init`, with an empty (or
    /// wiped) data folder.
    #[arg(long)]
    home: PathBuf,
    /// JSON-RPC address of a node you trust (another node of your own
    /// institution, say): the snapshot is of its last executed block, and
    /// every chunk the peers serve is checked against that block's state
    /// root.
    #[arg(long, value_name = "URL")]
    trust_rpc: String,
}

#[derive(Args)]
pub struct TestnetArgs {
    /// Folder for the testnet's genesis, keys and node homes; reused if it
    /// already holds a testnet.
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Wipe the folder and start a new chain.
    #[arg(long)]
    fresh: bool,
    /// Demo customer accounts in the genesis.
    #[arg(long, default_value_t = 8)]
    accounts: usize,
    /// Stop after this many seconds (default: run until Ctrl-C).
    #[arg(long)]
    duration_secs: Option<u64>,
    /// Only lay out the folder (genesis, keys, node homes) and exit; each
    /// node then runs with `hutong node --home DIR/NAME`.
    #[arg(long)]
    create_only: bool,
}

fn infer_role(genesis: &Genesis, key: &hutong_runtime::PublicKey) -> Result<Role> {
    if genesis.validators().any(|m| m.node_key == *key) {
        return Ok(Role::Validator);
    }
    if genesis.regulators.iter().any(|r| r.node_key == *key) {
        return Ok(Role::Regulator);
    }
    if genesis.members.iter().any(|m| m.node_key == *key) {
        return Ok(Role::Observer);
    }
    bail!(
        "node key {key} is not a node of this genesis; a node admitted by vote after genesis \
         gives its role with --role (validator or observer) and its peers with --peer"
    )
}

fn parse_role(s: &str) -> Result<Role> {
    match s {
        "validator" => Ok(Role::Validator),
        "observer" => Ok(Role::Observer),
        "regulator" => Ok(Role::Regulator),
        other => bail!("--role {other:?}: expected validator, observer or regulator"),
    }
}

fn copy_private(from: &Path, to: &Path) -> Result<()> {
    let key = keyfile::read(from)?;
    keyfile::write(to, &key)
}

pub fn init(args: InitArgs) -> Result<()> {
    let config_path = NodeConfig::path_in(&args.home);
    if config_path.exists() {
        bail!(
            "{} already exists; refusing to overwrite a node",
            config_path.display()
        );
    }
    let genesis = crate::genesis_cmd::load_genesis(&args.genesis)?;
    let key = keyfile::read(&args.node_key)?;
    let role = match &args.role {
        Some(r) => parse_role(r)?,
        None => infer_role(&genesis, &key.public())?,
    };
    let (own_hint, hinted_peers) = genesis_addresses(&genesis, &key.public())?;
    let p2p_listen = match args.p2p_listen {
        Some(listen) => listen,
        None => format!(
            "/ip4/0.0.0.0/tcp/{}",
            own_hint.as_deref().and_then(tcp_port).unwrap_or(26600)
        ),
    };
    let peers = if args.peers.is_empty() {
        if hinted_peers.is_empty() {
            say!("genesis gives no other node's address: give them with --peer");
        } else {
            say!(
                "peers from genesis: {} (override with --peer)",
                hinted_peers.len()
            );
        }
        hinted_peers
    } else {
        args.peers
    };
    std::fs::create_dir_all(&args.home)
        .with_context(|| format!("cannot create {}", args.home.display()))?;
    std::fs::copy(&args.genesis, args.home.join("genesis.toml"))
        .with_context(|| format!("cannot copy {}", args.genesis.display()))?;
    copy_private(&args.node_key, &args.home.join("node.key"))?;
    let file = ConfigFile {
        role,
        genesis: "genesis.toml".into(),
        node_key: "node.key".into(),
        data_dir: "data".into(),
        p2p: P2pSection {
            listen: p2p_listen,
            peers,
        },
        rpc: RpcSection::new(args.rpc_listen),
        metrics: args.metrics_listen.map(|listen| MetricsSection { listen }),
        dashboard: None,
        consensus: ConsensusSection::default(),
        mempool: MempoolSection::default(),
        audit: (role == Role::Regulator).then(Default::default),
        storage: None,
        memo: None,
    };
    write_config(&args.home, &file)?;
    say!(
        "initialised {} as a {:?} of chain {}; peer id {}",
        args.home.display(),
        role,
        genesis.chain_id(),
        peer_id_of(&key.public()).map_err(anyhow::Error::msg)?
    );
    say!("start it with: hutong node --home {}", args.home.display());
    Ok(())
}

/// This node's address hint in genesis, and every other node's, ready to
/// dial (with its peer id, so only that node's key is accepted).
fn genesis_addresses(
    genesis: &Genesis,
    own_key: &hutong_runtime::PublicKey,
) -> Result<(Option<String>, Vec<String>)> {
    let nodes = genesis
        .members
        .iter()
        .map(|m| (&m.name, &m.node_key, &m.p2p_address))
        .chain(
            genesis
                .regulators
                .iter()
                .map(|r| (&r.name, &r.node_key, &r.p2p_address)),
        );
    let mut own = None;
    let mut peers = Vec::new();
    for (name, node_key, hint) in nodes {
        let Some(hint) = hint else { continue };
        if node_key == own_key {
            own = Some(hint.clone());
            continue;
        }
        let addr = dial_address(hint, node_key)
            .map_err(|e| anyhow::anyhow!("genesis: the address of {name}: {e}"))?;
        peers.push(addr.to_string());
    }
    Ok((own, peers))
}

fn write_config(home: &Path, file: &ConfigFile) -> Result<()> {
    // Validate what we write, so a bad flag fails here and not at start.
    NodeConfig::from_file(home, "config.toml", file.clone())?;
    let text = format!(
        "# Hutong node configuration. Paths are relative to this folder.\n{}",
        toml::to_string(file).context("encoding the config")?
    );
    let path = NodeConfig::path_in(home);
    std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))
}

pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("HUTONG_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,libp2p=warn,jsonrpsee=warn"));
    // Colours only on a terminal: a node's log usually goes to a file or
    // a journal, where escape codes get in the way of grep.
    use std::io::IsTerminal;
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(std::io::stdout().is_terminal())
        .try_init();
}

/// A future that resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = match signal(SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

pub fn node(args: NodeArgs) -> Result<()> {
    let config = NodeConfig::load(&args.home)?;
    init_logging();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(hutong_node::run(config, shutdown_signal(), None))?;
    tracing::info!("stopped");
    Ok(())
}

/// `hutong join`: fills an empty node's database from its peers' state
/// snapshot at the trusted node's height; `hutong node` then follows on.
pub fn join(args: JoinArgs) -> Result<()> {
    let config = NodeConfig::load(&args.home)?;
    init_logging();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let report = runtime.block_on(async {
        let client = hutong_node::client::Client::new(&args.trust_rpc)?;
        let asking = || format!("asking the trusted node at {}", args.trust_rpc);
        let hash = |what: &str, hex: &str| {
            hutong_runtime::Hash::from_hex(hex.trim_start_matches("0x"))
                .map_err(|e| anyhow::anyhow!("the trusted node's {what} {hex:?}: {e}"))
        };
        // Its last executed block, and where its epoch started (read
        // before and after, so that both are of the same epoch).
        let (status, epoch_start) = loop {
            let before = client.parameters().await.with_context(asking)?;
            let status = client.status().await.with_context(asking)?;
            let after = client.parameters().await.with_context(asking)?;
            if before.epoch_start == after.epoch_start {
                break (status, after.epoch_start);
            }
        };
        let epoch_genesis = match epoch_start.saturating_sub(1) {
            0 => None,
            start => {
                let block = client.block_at(start).await.with_context(asking)?;
                Some((start, hash("epoch's first block id", &block.id)?))
            }
        };
        let anchor = hutong_node::join::Anchor {
            height: status.height,
            block_id: hash("block id", &status.block_id)?,
            state_root: hash("state root", &status.state_root)?,
            receipts_root: hash("receipts root", &status.receipts_root)?,
            epoch_genesis,
        };
        say!(
            "joining at height {} (state root {}), trusted from {}",
            anchor.height,
            anchor.state_root,
            args.trust_rpc
        );
        let last = std::sync::atomic::AtomicU64::new(0);
        hutong_node::join::join(&config, anchor, |leaves| {
            let shown = last.load(std::sync::atomic::Ordering::Relaxed);
            if leaves >= shown + 100_000 {
                last.store(leaves, std::sync::atomic::Ordering::Relaxed);
                say!("  {leaves} state entries restored");
            }
        })
        .await
    })?;
    say!(
        "joined at height {}: {} state entries in {} chunks ({} refused) in {:.1}s; now run: hutong node --home {}",
        report.height,
        report.leaves,
        report.chunks,
        report.refused,
        report.elapsed.as_secs_f64(),
        args.home.display()
    );
    Ok(())
}

/// A free TCP port on loopback (bound and released; the node binds it
/// again a moment later). Taken below Linux's ephemeral range (32768 and
/// up), where the kernel also picks the local ports of outgoing
/// connections: a port from there can be taken by some connection
/// between now and the node's start.
fn free_port() -> Result<u16> {
    use std::hash::{BuildHasher, Hasher};
    let seed = std::collections::hash_map::RandomState::new();
    for attempt in 0u64..500 {
        let mut h = seed.build_hasher();
        h.write_u64(attempt);
        let port = 20_000 + (h.finish() % 12_000) as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return Ok(port);
        }
    }
    let l = std::net::TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(l.local_addr()?.port())
}

pub(crate) struct TestnetNode {
    pub name: String,
    pub home: PathBuf,
    pub rpc: String,
    /// The regulator's web dashboard, if this node serves it.
    pub dashboard: Option<String>,
}

/// Lays out a testnet in `dir`: genesis, keys, and one home per node.
/// One validator makes a development chain.
fn create_testnet(dir: &Path, validators: usize, regulator: bool, accounts: usize) -> Result<()> {
    let opts = TemplateOptions {
        consortium: "Hutong local testnet".into(),
        validators,
        observers: 0,
        regulator,
        demo_accounts: accounts,
        genesis_time_ms: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0),
    };
    let generated = generate(&opts, &mut rand::rngs::OsRng);
    let genesis = Genesis::from_doc(&generated.doc)?;
    let keys = dir.join("keys");
    std::fs::create_dir_all(&keys).with_context(|| format!("cannot create {}", keys.display()))?;
    for named in &generated.keys {
        keyfile::write(&keys.join(format!("{}.key", named.name)), &named.key)?;
    }
    std::fs::write(
        dir.join("genesis.toml"),
        toml::to_string(&generated.doc).context("encoding genesis")?,
    )?;
    // Nodes: the validators in genesis order, then the regulator.
    let mut nodes: Vec<(String, String, Role)> = genesis
        .validators()
        .map(|m| (m.name.clone(), format!("{}.node", m.name), Role::Validator))
        .collect();
    if !genesis.regulators.is_empty() {
        nodes.push(("regulator".into(), "regulator.node".into(), Role::Regulator));
    }
    // Each released as soon as it is found: keep them distinct.
    let mut taken = std::collections::HashSet::new();
    let mut distinct = || -> Result<u16> {
        loop {
            let p = free_port()?;
            if taken.insert(p) {
                return Ok(p);
            }
        }
    };
    let mut ports = Vec::new();
    for _ in &nodes {
        ports.push((distinct()?, distinct()?, distinct()?, distinct()?));
    }
    let peer_addrs: Vec<String> = nodes
        .iter()
        .zip(&ports)
        .map(|((_, key, _), (p2p, _, _, _))| {
            let k = keyfile::read(&keys.join(format!("{key}.key")))?;
            let id = peer_id_of(&k.public()).map_err(anyhow::Error::msg)?;
            Ok(format!("/ip4/127.0.0.1/tcp/{p2p}/p2p/{id}"))
        })
        .collect::<Result<_>>()?;
    for (i, ((name, key, role), (p2p, rpc, metrics, dashboard))) in
        nodes.iter().zip(&ports).enumerate()
    {
        let regulator = *role == Role::Regulator;
        let home = dir.join(name);
        std::fs::create_dir_all(&home)?;
        let file = ConfigFile {
            role: *role,
            genesis: "../genesis.toml".into(),
            node_key: format!("../keys/{key}.key").into(),
            data_dir: "data".into(),
            p2p: P2pSection {
                listen: format!("/ip4/127.0.0.1/tcp/{p2p}"),
                peers: peer_addrs
                    .iter()
                    .enumerate()
                    .filter(|(j, _)| *j != i)
                    .map(|(_, a)| a.clone())
                    .collect(),
            },
            rpc: RpcSection::new(format!("127.0.0.1:{rpc}")),
            metrics: Some(MetricsSection {
                listen: format!("127.0.0.1:{metrics}"),
            }),
            // The regulator serves its dashboard, and anchors its audit
            // log on the ledger every minute while it grows.
            dashboard: regulator.then(|| DashboardSection {
                listen: format!("127.0.0.1:{dashboard}"),
            }),
            consensus: ConsensusSection::default(),
            mempool: MempoolSection::default(),
            audit: regulator.then(|| hutong_audit::AlertConfig {
                anchor_key: Some("../keys/regulator.key".into()),
                anchor_every_secs: 60,
                identity_key: Some("../keys/regulator.identity.key".into()),
                ..Default::default()
            }),
            storage: None,
            // Each member's node reads its customers' sealed memos.
            memo: (!regulator).then(|| MemoSection {
                key: format!("../keys/{name}.memo.key").into(),
            }),
        };
        write_config(&home, &file)?;
    }
    Ok(())
}

/// Makes `dir` hold a local chain: wiped first with `fresh`, created if it
/// holds none (with a regulator unless it is a 1-validator development
/// chain), reused otherwise. True if it was created. A folder that holds
/// something else is refused.
pub(crate) fn prepare_chain_dir(
    dir: &Path,
    fresh: bool,
    validators: usize,
    accounts: usize,
) -> Result<bool> {
    if fresh && dir.exists() {
        std::fs::remove_dir_all(dir).with_context(|| format!("cannot remove {}", dir.display()))?;
    }
    if dir.join("genesis.toml").exists() {
        return Ok(false);
    }
    if dir.exists()
        && std::fs::read_dir(dir)
            .with_context(|| format!("cannot read {}", dir.display()))?
            .next()
            .is_some()
    {
        bail!(
            "{} is not empty and holds no chain; choose another --dir",
            dir.display()
        );
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    create_testnet(dir, validators, validators > 1, accounts)?;
    Ok(true)
}

pub(crate) fn testnet_nodes(dir: &Path) -> Result<Vec<TestnetNode>> {
    let mut out = Vec::new();
    let mut entries: Vec<_> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| NodeConfig::path_in(p).exists())
        .collect();
    entries.sort();
    // Validators first, the regulator last, as in genesis.
    entries.sort_by_key(|p| p.file_name().map(|n| n == "regulator").unwrap_or(false));
    for home in entries {
        let config = NodeConfig::load(&home)?;
        out.push(TestnetNode {
            name: home
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            rpc: format!("http://{}", config.rpc_listen),
            dashboard: config.dashboard_listen.map(|a| format!("http://{a}/")),
            home,
        });
    }
    Ok(out)
}

pub fn testnet(args: TestnetArgs) -> Result<()> {
    let dir = args
        .dir
        .unwrap_or_else(|| std::env::temp_dir().join("hutong-testnet"));
    if prepare_chain_dir(&dir, args.fresh, 4, args.accounts)? {
        say!("created a new testnet in {}", dir.display());
    } else {
        say!(
            "reusing the testnet in {} (--fresh starts a new chain)",
            dir.display()
        );
    }
    if args.create_only {
        for n in testnet_nodes(&dir)? {
            say!("{} {} {}", n.name, n.home.display(), n.rpc);
        }
        return Ok(());
    }
    let nodes = testnet_nodes(&dir)?;
    let duration_secs = args.duration_secs;
    let exe = std::env::current_exe().context("finding the hutong binary")?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let mut children = spawn_nodes(&exe, &nodes)?;
        say!("\nHutong testnet: 4 validators and a regulator on loopback");
        for n in &nodes {
            say!("  {:<10} rpc {}   log {}", n.name, n.rpc, n.home.join("node.log").display());
            if let Some(d) = &n.dashboard {
                say!("  {:<10} dashboard {d}  (sign in with {})", n.name, dir.join("keys/regulator.key").display());
            }
        }
        let first = &nodes[0];
        say!("\ntry, in another terminal:");
        say!("  hutong query status --rpc {}", first.rpc);
        say!(
            "  hutong tx --rpc {} --key {} transfer --to <address> --asset CNY --amount 1.00 --wait",
            first.rpc,
            dir.join("keys/account-1.key").display()
        );
        say!("  (account addresses: hutong keys show {})", dir.join("keys/account-2.key").display());
        if let Some(reg) = nodes.iter().find(|n| n.name == "regulator") {
            let audit = format!(
                "hutong audit --rpc {} --key {}",
                reg.rpc,
                dir.join("keys/regulator.key").display()
            );
            say!("  regulator: {audit} alerts");
            say!("             {audit} trace --account <address>");
            say!("             {audit} proof tx <hash> --out tx.proof.json");
        }
        say!("\nCtrl-C stops all nodes.\n");
        let client = Client::new(&first.rpc)?;
        let deadline = duration_secs.map(|s| tokio::time::Instant::now() + Duration::from_secs(s));
        let mut tick = tokio::time::interval(Duration::from_secs(2));
        let mut exited = vec![false; nodes.len()];
        let stop = crate::node_cmd::shutdown_signal();
        tokio::pin!(stop);
        loop {
            tokio::select! {
                _ = &mut stop => break,
                _ = tick.tick() => {
                    if deadline.is_some_and(|d| tokio::time::Instant::now() >= d) {
                        break;
                    }
                    // Each exit is said once, not on every tick after it.
                    for ((n, child), told) in nodes.iter().zip(children.iter_mut()).zip(exited.iter_mut()) {
                        if *told {
                            continue;
                        }
                        if let Ok(Some(status)) = child.try_wait() {
                            *told = true;
                            say!("{} exited ({status}); see {}", n.name, n.home.join("node.log").display());
                        }
                    }
                    match client.status().await {
                        Ok(s) => say!(
                            "height {:>6}  round {:>6}  peers {}  mempool {}",
                            s.height, s.consensus.round,
                            s.peers.connected.len(),
                            s.mempool.txs
                        ),
                        Err(e) => say!("waiting for {}: {e}", first.name),
                    }
                }
            }
        }
        say!("stopping the testnet");
        stop_nodes(&nodes, &mut children).await;
        Ok::<(), anyhow::Error>(())
    })
}

/// Starts each node as a child process of this one, logging to
/// `node.log` in its home; they die with this process.
pub(crate) fn spawn_nodes(exe: &Path, nodes: &[TestnetNode]) -> Result<Vec<tokio::process::Child>> {
    nodes.iter().map(|n| spawn_node(exe, n, false)).collect()
}

/// Starts one node, its output going to `node.log` in its home (appended
/// to on a restart, so the log of the previous run is kept).
pub(crate) fn spawn_node(
    exe: &Path,
    n: &TestnetNode,
    append: bool,
) -> Result<tokio::process::Child> {
    let path = n.home.join("node.log");
    let log = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .append(append)
        .truncate(!append)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    tokio::process::Command::new(exe)
        .arg("node")
        .arg("--home")
        .arg(&n.home)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {}", n.name))
}

/// SIGTERM to every child, then up to 10 s for each to stop cleanly
/// before it is killed.
pub(crate) async fn stop_nodes(nodes: &[TestnetNode], children: &mut [tokio::process::Child]) {
    for child in children.iter() {
        if let Some(pid) = child.id() {
            let _ = std::process::Command::new("kill")
                .arg("-TERM")
                .arg(pid.to_string())
                .status();
        }
    }
    for (n, child) in nodes.iter().zip(children.iter_mut()) {
        if tokio::time::timeout(Duration::from_secs(10), child.wait())
            .await
            .is_err()
        {
            say!("{} did not stop in 10 s; killing it", n.name);
            let _ = child.kill().await;
        }
    }
}

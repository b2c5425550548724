//! The cluster harness every theme shares: real `hutong` processes on
//! loopback (four validators and a regulator), one cluster at a time,
//! their RPC and metrics, logs, keys and wallets.

pub(crate) use std::collections::HashMap;
pub(crate) use std::path::{Path, PathBuf};
pub(crate) use std::process::{Child, Command, Stdio};
pub(crate) use std::time::{Duration, Instant};

pub(crate) use hutong_consensus::messages::{Message, Vote};
pub(crate) use hutong_consensus::types::{
    self as ct, Digest, Round, SignatureBytes, ValidatorId, VoteData,
};
pub(crate) use hutong_node::client::Client;
pub(crate) use hutong_node::keyfile;
pub(crate) use hutong_runtime::crypto::Hash;
pub(crate) use hutong_runtime::tx::Expiry;
pub(crate) use hutong_runtime::{
    Address, Amount, AssetCode, ChainId, Height, Keypair, Nonce, SignedTransaction, Transaction,
    TransferId, TxKind,
};
pub(crate) use hutong_testkit::{skipped, Wallets};
pub(crate) use hutong_wire::rpc::{SubmitVerdict, TxStatus};
pub(crate) use hutong_wire::ConsensusEnvelope;
pub(crate) use hutong_wire::GENESIS_EPOCH;
pub(crate) use serde_json::Value;

pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_hutong");

/// One cluster at a time: five nodes each already fill a 2-core machine.
pub(crate) static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

pub(crate) fn exclusive() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner())
}

pub(crate) struct Node {
    pub(crate) name: String,
    pub(crate) home: PathBuf,
    pub(crate) rpc: String,
    pub(crate) child: Option<Child>,
    /// The network namespace it runs in (partition tests), if any.
    pub(crate) netns: Option<String>,
}

pub(crate) struct Cluster {
    pub(crate) _dir: tempfile::TempDir,
    pub(crate) keys: PathBuf,
    pub(crate) nodes: Vec<Node>,
}

impl Cluster {
    pub(crate) fn new() -> Cluster {
        Cluster::with_accounts(16)
    }

    pub(crate) fn with_accounts(accounts: usize) -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new(BIN)
            .args(["testnet", "--create-only", "--accounts"])
            .arg(accounts.to_string())
            .arg("--dir")
            .arg(dir.path().join("net"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8(out.stdout).unwrap();
        let nodes = laid_out(&text);
        assert_eq!(nodes.len(), 5, "4 validators and a regulator: {text}");
        Cluster {
            keys: dir.path().join("net/keys"),
            _dir: dir,
            nodes,
        }
    }

    pub(crate) fn start(&mut self, i: usize) {
        let n = &mut self.nodes[i];
        assert!(n.child.is_none(), "{} already runs", n.name);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(n.home.join("node.log"))
            .unwrap();
        let mut command = match &n.netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns, BIN]);
                c
            }
            None => Command::new(BIN),
        };
        n.child = Some(
            command
                .args(["node", "--home"])
                .arg(&n.home)
                .env(
                    "HUTONG_LOG",
                    std::env::var("HUTONG_TEST_LOG").unwrap_or_else(|_| "info,libp2p=warn".into()),
                )
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .unwrap(),
        );
    }

    /// SIGKILL: no shutdown, no flush.
    pub(crate) fn kill(&mut self, i: usize) {
        if let Some(mut c) = self.nodes[i].child.take() {
            c.kill().unwrap();
            c.wait().unwrap();
        }
    }

    /// Changes one setting in every node's config.toml.
    pub(crate) fn configure(&self, section: &str, key: &str, value: toml::Value) {
        for n in &self.nodes {
            let path = n.home.join("config.toml");
            let mut doc: toml::Table =
                toml::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
            doc.get_mut(section)
                .and_then(|s| s.as_table_mut())
                .unwrap_or_else(|| panic!("no [{section}] in {}", path.display()))
                .insert(key.to_string(), value.clone());
            std::fs::write(&path, toml::to_string(&doc).unwrap()).unwrap();
        }
    }

    /// GET /metrics from a node, as text (through the client's scraper;
    /// called from inside the harness's multi-threaded runtime).
    pub(crate) fn metrics(&self, i: usize) -> String {
        let text = std::fs::read_to_string(self.nodes[i].home.join("config.toml")).unwrap();
        let v: toml::Value = toml::from_str(&text).unwrap();
        let addr: std::net::SocketAddr = v["metrics"]["listen"].as_str().unwrap().parse().unwrap();
        tokio::task::block_in_place(|| {
            tokio::runtime::Handle::current().block_on(hutong_node::client::metrics(addr))
        })
        .unwrap_or_else(|e| panic!("metrics of {}: {e}", self.nodes[i].name))
    }

    pub(crate) fn client(&self, i: usize) -> Client {
        Client::new(&self.nodes[i].rpc).unwrap()
    }

    pub(crate) fn key(&self, name: &str) -> Keypair {
        keyfile::read(&self.keys.join(format!("{name}.key"))).unwrap()
    }

    pub(crate) fn log_tail(&self, i: usize) -> String {
        let text = std::fs::read_to_string(self.nodes[i].home.join("node.log")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    pub(crate) async fn height(&self, i: usize) -> Option<u64> {
        Some(self.client(i).status().await.ok()?.height)
    }

    pub(crate) async fn wait_height(&self, i: usize, at_least: u64, timeout: Duration) -> u64 {
        let started = Instant::now();
        loop {
            if let Some(h) = self.height(i).await {
                if h >= at_least {
                    return h;
                }
            }
            if started.elapsed() > timeout {
                panic!(
                    "{} did not reach height {at_least} in {timeout:?}; log:\n{}",
                    self.nodes[i].name,
                    self.log_tail(i)
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Every running node's block id and state root at `height` agree.
    pub(crate) async fn assert_agree(&self, running: &[usize], height: u64) {
        let mut seen: Option<(String, String)> = None;
        for &i in running {
            self.wait_height(i, height, Duration::from_secs(60)).await;
            let b = self.client(i).block_at(height).await.unwrap();
            let Some(result) = &b.result else {
                panic!("{}: no result at {height}: {b:?}", self.nodes[i].name);
            };
            let this = (b.id.clone(), result.state_root.clone());
            match &seen {
                None => seen = Some(this),
                Some(first) => assert_eq!(
                    first, &this,
                    "{} disagrees at height {height}",
                    self.nodes[i].name
                ),
            }
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for n in &mut self.nodes {
            if let Some(mut c) = n.child.take() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }
}

/// Wallets for the demo accounts `account-1` … `account-<count>`, signing
/// for the cluster's chain (the test kit's, keeping sequences).
pub(crate) async fn demo_wallets(cluster: &Cluster, count: usize) -> Wallets {
    let status = cluster.client(0).status().await.unwrap();
    let chain_id = ChainId(Hash::from_hex(&status.chain_id).unwrap().0);
    let keys: Vec<Keypair> = (0..count)
        .map(|i| cluster.key(&format!("account-{}", i + 1)))
        .collect();
    Wallets::new(chain_id, keys)
}

pub(crate) async fn wait_committed(client: &Client, hashes: &[Hash]) {
    for h in hashes {
        let status = client.wait_final(h, Duration::from_secs(60)).await.unwrap();
        assert!(status.succeeded(), "{status:?}");
    }
}

pub(crate) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// One value from a node's metrics.
pub(crate) fn metric(cluster: &Cluster, i: usize, name: &str) -> f64 {
    let m = cluster.metrics(i);
    hutong_node::client::metric_sum(&m, name.trim())
        .unwrap_or_else(|| panic!("no {name} in metrics:\n{m}"))
}

/// The node's count of refused connections, from its status.
pub(crate) async fn refused(cluster: &Cluster, i: usize) -> u64 {
    cluster
        .client(i)
        .status()
        .await
        .unwrap()
        .peers
        .refused_connections
}

pub(crate) fn first_p2p_addr(home: &Path) -> String {
    let text = std::fs::read_to_string(home.join("config.toml")).unwrap();
    let v: toml::Value = toml::from_str(&text).unwrap();
    v["p2p"]["listen"].as_str().unwrap().to_string()
}

/// Dials `addr` with a fresh key; true if the connection stays up.
pub(crate) async fn stranger_connects(addr: &str) -> bool {
    use futures::StreamExt;
    use libp2p::swarm::SwarmEvent;
    let mut swarm = libp2p::SwarmBuilder::with_new_identity()
        .with_tokio()
        .with_tcp(
            libp2p::tcp::Config::default(),
            libp2p::noise::Config::new,
            libp2p::yamux::Config::default,
        )
        .unwrap()
        .with_behaviour(|_| libp2p::swarm::dummy::Behaviour)
        .unwrap()
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(30)))
        .build();
    swarm
        .dial(addr.parse::<libp2p::Multiaddr>().unwrap())
        .unwrap();
    let deadline = tokio::time::sleep(Duration::from_secs(5));
    tokio::pin!(deadline);
    let mut connected = false;
    loop {
        tokio::select! {
            _ = &mut deadline => return connected,
            event = swarm.select_next_some() => match event {
                SwarmEvent::ConnectionEstablished { .. } => connected = true,
                SwarmEvent::ConnectionClosed { .. } | SwarmEvent::OutgoingConnectionError { .. } => {
                    // Give the node a moment to count it.
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    return false;
                }
                _ => {}
            },
        }
    }
}

pub(crate) async fn bad_messages(cluster: &Cluster, i: usize) -> u64 {
    cluster.client(i).status().await.unwrap().peers.bad_messages
}

/// Node `i`'s libp2p peer id (from its node key).
pub(crate) fn peer_of(cluster: &Cluster, i: usize) -> libp2p::PeerId {
    let mut secret = cluster
        .key(&format!("{}.node", cluster.nodes[i].name))
        .secret_bytes();
    libp2p::PeerId::from_public_key(
        &libp2p::identity::Keypair::ed25519_from_bytes(&mut secret)
            .unwrap()
            .public(),
    )
}

/// `hutong gov ARGS` against node `i`; returns stdout.
pub(crate) fn gov_on(cluster: &Cluster, i: usize, args: &[&str]) -> String {
    let mut all = vec!["gov", "--rpc", &cluster.nodes[i].rpc];
    all.extend_from_slice(args);
    hutong(&all)
}

/// The path of the testnet's key file `name` ("bank-a.institution").
pub(crate) fn key_path(cluster: &Cluster, name: &str) -> String {
    cluster
        .keys
        .join(format!("{name}.key"))
        .to_str()
        .unwrap()
        .to_string()
}

/// Approves proposal `id` with the institution key file `key` through
/// node `i`, waiting there until the vote is final.
pub(crate) fn approve(cluster: &Cluster, i: usize, key: &str, id: u64) {
    let id = id.to_string();
    gov_on(
        cluster,
        i,
        &["vote", "--key", key, "--wait", &id, "approve"],
    );
}

/// The nodes `hutong testnet --create-only` lists (name, home, RPC).
pub(crate) fn laid_out(text: &str) -> Vec<Node> {
    text.lines()
        .filter_map(|l| {
            let parts: Vec<&str> = l.split_whitespace().collect();
            (parts.len() == 3 && parts[2].starts_with("http")).then(|| Node {
                name: parts[0].to_string(),
                home: PathBuf::from(parts[1]),
                rpc: parts[2].to_string(),
                child: None,
                netns: None,
            })
        })
        .collect()
}

/// Runs the `hutong` binary expecting failure; returns stderr.
pub(crate) fn hutong_fails(args: &[&str]) -> String {
    let out = Command::new(BIN).args(args).output().unwrap();
    assert!(
        !out.status.success(),
        "hutong {args:?} succeeded:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8(out.stderr).unwrap()
}

/// A TCP port free on loopback right now.
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Runs the `hutong` binary; returns stdout, or panics with stderr.
pub(crate) fn hutong(args: &[&str]) -> String {
    let out = Command::new(BIN).args(args).output().unwrap();
    // The status says how it ended: an exit code, or the signal that
    // killed it (a failure with nothing on stdout or stderr, seen once
    // in CI, can only be told apart that way).
    assert!(
        out.status.success(),
        "hutong {args:?} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Runs `hutong bench --validators 1 --json` on the chain in `chain`
/// (created on first use) with `args`; returns its result.
pub(crate) fn bench_json(chain: &Path, args: &[&str]) -> Value {
    let out = Command::new(BIN)
        .args(["bench", "--validators", "1", "--json", "--dir"])
        .arg(chain)
        .args(args)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    serde_json::from_slice(&out.stdout).unwrap()
}

//! Multi-process clusters of the real `hutong` binary on loopback: four
//! validators and a regulator, ports chosen free at run time.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use hutong_node::client::Client;
use hutong_node::keyfile;
use hutong_runtime::crypto::Hash;
use hutong_runtime::tx::Expiry;
use hutong_runtime::{
    Address, Amount, AssetCode, ChainId, Height, Keypair, Nonce, SignedTransaction, Transaction,
    TransferId, TxKind,
};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_hutong");

/// One cluster at a time: five nodes each already fill a 2-core machine.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn exclusive() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner())
}

struct Node {
    name: String,
    home: PathBuf,
    rpc: String,
    child: Option<Child>,
}

struct Cluster {
    _dir: tempfile::TempDir,
    keys: PathBuf,
    nodes: Vec<Node>,
}

impl Cluster {
    fn new() -> Cluster {
        Cluster::with_accounts(16)
    }

    fn with_accounts(accounts: usize) -> Cluster {
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
        let nodes = text
            .lines()
            .filter_map(|l| {
                let parts: Vec<&str> = l.split_whitespace().collect();
                (parts.len() == 3 && parts[2].starts_with("http")).then(|| Node {
                    name: parts[0].to_string(),
                    home: PathBuf::from(parts[1]),
                    rpc: parts[2].to_string(),
                    child: None,
                })
            })
            .collect::<Vec<_>>();
        assert_eq!(nodes.len(), 5, "4 validators and a regulator: {text}");
        Cluster {
            keys: dir.path().join("net/keys"),
            _dir: dir,
            nodes,
        }
    }

    fn start(&mut self, i: usize) {
        let n = &mut self.nodes[i];
        assert!(n.child.is_none(), "{} already runs", n.name);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(n.home.join("node.log"))
            .unwrap();
        n.child = Some(
            Command::new(BIN)
                .args(["node", "--home"])
                .arg(&n.home)
                .env("HUTONG_LOG", "info,libp2p=warn")
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .unwrap(),
        );
    }

    /// SIGKILL: no shutdown, no flush.
    fn kill(&mut self, i: usize) {
        if let Some(mut c) = self.nodes[i].child.take() {
            c.kill().unwrap();
            c.wait().unwrap();
        }
    }

    /// Changes one setting in every node's config.toml.
    fn configure(&self, section: &str, key: &str, value: toml::Value) {
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

    /// GET /metrics from a node, as text.
    fn metrics(&self, i: usize) -> String {
        use std::io::{Read, Write};
        let text = std::fs::read_to_string(self.nodes[i].home.join("config.toml")).unwrap();
        let v: toml::Value = toml::from_str(&text).unwrap();
        let addr = v["metrics"]["listen"].as_str().unwrap().to_string();
        let mut stream = std::net::TcpStream::connect(&addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        write!(
            stream,
            "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut out = String::new();
        stream.read_to_string(&mut out).unwrap();
        assert!(out.starts_with("HTTP/1.1 200"), "{out}");
        out
    }

    fn client(&self, i: usize) -> Client {
        Client::new(&self.nodes[i].rpc).unwrap()
    }

    fn key(&self, name: &str) -> Keypair {
        keyfile::read(&self.keys.join(format!("{name}.key"))).unwrap()
    }

    fn log_tail(&self, i: usize) -> String {
        let text = std::fs::read_to_string(self.nodes[i].home.join("node.log")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    async fn height(&self, i: usize) -> Option<u64> {
        self.client(i).status().await.ok()?["height"].as_u64()
    }

    async fn wait_height(&self, i: usize, at_least: u64, timeout: Duration) -> u64 {
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
    async fn assert_agree(&self, running: &[usize], height: u64) {
        let mut seen: Option<(Value, Value)> = None;
        for &i in running {
            self.wait_height(i, height, Duration::from_secs(60)).await;
            let b = self.client(i).block_at(height).await.unwrap();
            let this = (b["id"].clone(), b["result"]["state_root"].clone());
            assert!(
                this.1.is_string(),
                "{}: no result at {height}: {b}",
                self.nodes[i].name
            );
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

/// Signs transfers between the demo accounts, keeping sequences.
struct Wallets {
    chain_id: ChainId,
    keys: Vec<Keypair>,
    next: HashMap<usize, u64>,
    cny: AssetCode,
    next_id: u128,
    expiry: Height,
}

impl Wallets {
    async fn new(cluster: &Cluster, count: usize) -> Wallets {
        let status = cluster.client(0).status().await.unwrap();
        let chain_id = ChainId(
            Hash::from_hex(status["chain_id"].as_str().unwrap())
                .unwrap()
                .0,
        );
        let keys: Vec<Keypair> = (0..count)
            .map(|i| cluster.key(&format!("account-{}", i + 1)))
            .collect();
        Wallets {
            chain_id,
            keys,
            next: HashMap::new(),
            cny: AssetCode::new("CNY").unwrap(),
            next_id: 1,
            expiry: Height(1_000_000),
        }
    }

    fn address(&self, i: usize) -> Address {
        Address::of(&self.keys[i].public())
    }

    fn transfer(&mut self, from: usize, to: usize, amount: u128) -> SignedTransaction {
        let to = self.address(to);
        let seq = self.next.entry(from).or_insert(0);
        let tx = Transaction {
            chain_id: self.chain_id,
            sender: self.keys[from].public(),
            sequence: Nonce(*seq),
            expiry: Expiry::Height(self.expiry),
            kind: TxKind::Transfer {
                to,
                asset: self.cny,
                amount: Amount(amount),
                transfer_id: TransferId(self.next_id),
            },
            cosigner: None,
            memo: Vec::new(),
        };
        *seq += 1;
        self.next_id += 1;
        tx.sign(&self.keys[from])
    }
}

async fn wait_committed(client: &Client, hashes: &[Hash]) {
    for h in hashes {
        let status = client.wait_final(h, Duration::from_secs(60)).await.unwrap();
        assert_eq!(status["status"], "committed", "{status}");
        assert_eq!(status["receipt"]["success"], true, "{status}");
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn four_validators_commit_agree_and_reject_bad_input() {
    let _one = exclusive();
    let mut cluster = Cluster::new();
    for i in 0..5 {
        cluster.start(i);
    }
    runtime().block_on(async {
        cluster.wait_height(0, 2, Duration::from_secs(60)).await;
        let mut wallets = Wallets::new(&cluster, 8).await;

        // Transfers submitted to different validators all commit.
        let mut hashes = Vec::new();
        for k in 0..32 {
            let tx = wallets.transfer(k % 8, (k + 1) % 8, 100);
            let node = k % 4;
            hashes.push(cluster.client(node).submit(&tx).await.unwrap());
        }
        wait_committed(&cluster.client(0), &hashes).await;
        // Every node, the regulator too, has the same blocks and state.
        let h = cluster.height(0).await.unwrap();
        cluster.assert_agree(&[0, 1, 2, 3, 4], h).await;

        // Bad input gets its code.
        let client = cluster.client(1);
        let mut bad_sig = wallets.transfer(0, 1, 1);
        bad_sig.signature.0[5] ^= 1;
        let e = client.submit(&bad_sig).await.unwrap_err();
        assert_eq!(e.rejection_code(), Some("bad_signature"), "{e}");
        // Its sequence was not used: take it back.
        *wallets.next.get_mut(&0).unwrap() -= 1;

        let mut other = Wallets::new(&cluster, 8).await;
        other.chain_id = ChainId([9; 32]);
        let e = client.submit(&other.transfer(2, 3, 1)).await.unwrap_err();
        assert_eq!(e.rejection_code(), Some("wrong_chain"), "{e}");

        // A committed transaction sent again: its sequence is used.
        let first = {
            let mut w = Wallets::new(&cluster, 8).await;
            w.next_id = 1;
            w.transfer(0, 1, 100)
        };
        let e = client.submit(&first).await.unwrap_err();
        assert_eq!(e.rejection_code(), Some("stale_sequence"), "{e}");

        let mut huge = wallets.transfer(4, 5, 1);
        huge.tx.memo = vec![0; 20_000];
        let e = client.submit(&huge).await.unwrap_err();
        assert_eq!(e.rejection_code(), Some("too_large"), "{e}");
        *wallets.next.get_mut(&4).unwrap() -= 1;

        // The rejections left the chain alone: a later transfer commits,
        // and everything acknowledged before is still there. Its finality
        // arrives on a WebSocket subscription to another node, and the
        // block subscription announces the blocks.
        let mut blocks = cluster.client(1).subscribe_blocks().await.unwrap();
        let tx = wallets.transfer(6, 7, 100);
        let h2 = client.submit(&tx).await.unwrap();
        let fin = cluster
            .client(2)
            .await_transaction(&h2, Duration::from_secs(60))
            .await
            .unwrap();
        assert_eq!(fin["status"], "committed", "{fin}");
        assert_eq!(fin["receipt"]["success"], true, "{fin}");
        let announced = tokio::time::timeout(Duration::from_secs(30), blocks.next())
            .await
            .expect("no block announced in 30 s")
            .expect("subscription closed")
            .unwrap();
        assert!(announced["height"].as_u64().unwrap() > h, "{announced}");
        assert!(announced["state_root"].is_string(), "{announced}");
        wait_committed(&cluster.client(2), &[h2]).await;
        wait_committed(&cluster.client(3), &hashes).await;

        // The metrics endpoint counts what happened.
        let m = cluster.metrics(1);
        let value = |name: &str| -> f64 {
            m.lines()
                .find_map(|l| l.strip_prefix(name).and_then(|v| v.trim().parse().ok()))
                .unwrap_or_else(|| panic!("no {name} in metrics:\n{m}"))
        };
        assert!(value("hutong_height ") >= h as f64);
        assert_eq!(value("hutong_peers "), 4.0);
        assert_eq!(
            value("hutong_rejected_txs_total{code=\"bad_signature\"} "),
            1.0
        );
        assert_eq!(value("hutong_halted "), 0.0);
        assert!(value("hutong_rocksdb_block_writes_total ") > 0.0);

        // A peer whose key is not in genesis cannot connect.
        let metrics_before = refused(&cluster, 0).await;
        let target = first_p2p_addr(&cluster.nodes[0].home);
        let stranger = stranger_connects(&target).await;
        assert!(!stranger, "a non-member peer stayed connected");
        let metrics_after = refused(&cluster, 0).await;
        assert!(
            metrics_after > metrics_before,
            "the refusal was not counted"
        );
    });
}

/// The node's count of refused connections, from its status.
async fn refused(cluster: &Cluster, i: usize) -> u64 {
    cluster.client(i).status().await.unwrap()["peers"]["refused_connections"]
        .as_u64()
        .unwrap()
}

fn first_p2p_addr(home: &Path) -> String {
    let text = std::fs::read_to_string(home.join("config.toml")).unwrap();
    let v: toml::Value = toml::from_str(&text).unwrap();
    v["p2p"]["listen"].as_str().unwrap().to_string()
}

/// Dials `addr` with a fresh key; true if the connection stays up.
async fn stranger_connects(addr: &str) -> bool {
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

#[test]
fn a_killed_validator_catches_up_and_quorum_loss_recovers() {
    let _one = exclusive();
    let mut cluster = Cluster::new();
    for i in 0..5 {
        cluster.start(i);
    }
    runtime().block_on(async {
        cluster.wait_height(0, 2, Duration::from_secs(60)).await;
        let mut wallets = Wallets::new(&cluster, 16).await;

        // kill -9 one validator under load: the others keep committing.
        let mut hashes = Vec::new();
        for k in 0..16 {
            hashes.push(
                cluster
                    .client(k % 3)
                    .submit(&wallets.transfer(k, (k + 1) % 16, 100))
                    .await
                    .unwrap(),
            );
            if k == 5 {
                cluster.kill(3);
            }
        }
        wait_committed(&cluster.client(0), &hashes).await;
        let h = cluster.height(0).await.unwrap();
        let later = cluster.wait_height(1, h + 3, Duration::from_secs(60)).await;
        assert!(later > h);

        // Restarted, it catches up and agrees.
        cluster.start(3);
        let target = cluster.height(0).await.unwrap();
        cluster
            .wait_height(3, target, Duration::from_secs(90))
            .await;
        cluster.assert_agree(&[0, 1, 2, 3, 4], target).await;

        // Two of four down: no progress (and no fork).
        cluster.kill(2);
        cluster.kill(3);
        tokio::time::sleep(Duration::from_secs(2)).await;
        let stalled = cluster.height(0).await.unwrap();
        let tx = wallets.transfer(0, 1, 100);
        let pending = cluster.client(0).submit(&tx).await.unwrap();
        tokio::time::sleep(Duration::from_secs(5)).await;
        let still = cluster.height(0).await.unwrap();
        assert!(
            still <= stalled + 1,
            "committed without a quorum: {stalled} -> {still}"
        );
        assert_eq!(
            cluster.client(0).transaction(&pending).await.unwrap()["status"],
            "pending"
        );

        // One comes back: commits resume by themselves.
        cluster.start(2);
        wait_committed(&cluster.client(0), &[pending]).await;
        let resumed = cluster.height(0).await.unwrap();
        assert!(resumed > still);
        cluster.assert_agree(&[0, 1, 2, 4], resumed).await;
        // Nothing acknowledged as committed was lost.
        wait_committed(&cluster.client(2), &hashes).await;

        // SIGTERM stops a node cleanly, with a zero exit status.
        let mut child = cluster.nodes[4].child.take().unwrap();
        let term = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(term.success());
        let stopped = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            assert!(
                stopped.elapsed() < Duration::from_secs(20),
                "the regulator did not stop in 20 s after SIGTERM"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        assert!(
            status.success(),
            "exit after SIGTERM: {status}\n{}",
            cluster.log_tail(4)
        );
    });
}

#[test]
fn a_flood_beyond_capacity_gets_busy_and_the_chain_recovers() {
    const ACCOUNTS: usize = 48;
    const PER_ACCOUNT: usize = 200;
    const POOL_MAX: i64 = 2_000;
    let _one = exclusive();
    let mut cluster = Cluster::with_accounts(ACCOUNTS + 1);
    cluster.configure("mempool", "txs_max", toml::Value::Integer(POOL_MAX));
    for i in 0..5 {
        cluster.start(i);
    }
    runtime().block_on(async {
        cluster.wait_height(0, 2, Duration::from_secs(60)).await;
        let mut wallets = Wallets::new(&cluster, ACCOUNTS + 1).await;
        let start = cluster.height(0).await.unwrap();
        // Flood transactions expire 60 blocks from now, so that the ones
        // left behind a gap (a busy rejection) leave the pool by expiry.
        wallets.expiry = Height(start + 60);
        let mut flood = Vec::with_capacity(ACCOUNTS * PER_ACCOUNT);
        for k in 0..PER_ACCOUNT {
            for a in 0..ACCOUNTS {
                flood.push(wallets.transfer(a, (a + k + 1) % ACCOUNTS, 1));
            }
        }
        wallets.expiry = Height(1_000_000);
        // Four flooders, one per validator, each sends its share in
        // batches of 500 as fast as the node answers.
        let mut tasks = Vec::new();
        let shares: Vec<Vec<SignedTransaction>> = (0..4)
            .map(|v| flood.iter().skip(v).step_by(4).cloned().collect())
            .collect();
        for (v, share) in shares.into_iter().enumerate() {
            let client = cluster.client(v);
            tasks.push(tokio::spawn(async move {
                let mut codes: HashMap<String, usize> = HashMap::new();
                for batch in share.chunks(500) {
                    for verdict in client.submit_many(batch).await.unwrap() {
                        let code = verdict["code"].as_str().unwrap_or("pending").to_string();
                        *codes.entry(code).or_default() += 1;
                    }
                }
                codes
            }));
        }
        // While it lasts, the pool never exceeds its bound.
        let mut peak = 0;
        while !tasks.iter().all(|t| t.is_finished()) {
            if let Ok(s) = cluster.client(0).status().await {
                peak = peak.max(s["mempool"]["txs"].as_i64().unwrap_or(0));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let mut codes: HashMap<String, usize> = HashMap::new();
        for t in tasks {
            for (code, n) in t.await.unwrap() {
                *codes.entry(code).or_default() += n;
            }
        }
        eprintln!("flood verdicts: {codes:?}; peak pool {peak}");
        assert!(peak <= POOL_MAX, "the pool grew to {peak} > {POOL_MAX}");
        assert!(
            codes.get("busy").copied().unwrap_or(0) > 0,
            "the flood never met a full pool: {codes:?}"
        );
        assert!(codes.get("pending").copied().unwrap_or(0) >= POOL_MAX as usize);
        let during = cluster.height(0).await.unwrap();
        assert!(during > start, "no commit during the flood");

        // Once it stops, the node serves a new client without a restart:
        // a transfer from an account outside the flood, retried on "busy"
        // as a wallet does (the pool may still hold flood transactions
        // stuck behind a gap until they expire), gets in and commits.
        let fresh = wallets.transfer(ACCOUNTS, 0, 100);
        let retrying = Instant::now();
        let hash = loop {
            match cluster.client(1).submit(&fresh).await {
                Ok(hash) => break hash,
                Err(e) if e.rejection_code() == Some("busy") => {
                    assert!(
                        retrying.elapsed() < Duration::from_secs(120),
                        "still busy after 120 s: {e}"
                    );
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
                Err(e) => panic!("{e}"),
            }
        };
        eprintln!(
            "admitted after {:.1} s of busy retries",
            retrying.elapsed().as_secs_f64()
        );
        wait_committed(&cluster.client(1), &[hash]).await;
        // And the pool drains (committed, or expired behind a gap).
        let drained = Instant::now();
        loop {
            let s = cluster.client(0).status().await.unwrap();
            if s["mempool"]["txs"].as_u64() == Some(0) {
                break;
            }
            assert!(
                drained.elapsed() < Duration::from_secs(120),
                "the pool did not drain: {}",
                s["mempool"]
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        let h = cluster.height(0).await.unwrap();
        cluster.assert_agree(&[0, 1, 2, 3, 4], h).await;
    });
}

#[test]
fn bench_measures_a_dev_chain_and_checks_the_ledger() {
    let _one = exclusive();
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .args([
            "bench",
            "--validators",
            "1",
            "--accounts",
            "50",
            "--duration-secs",
            "20",
            "--txs",
            "3000",
            "--workload",
            "mixed",
            "--json",
            "--dir",
        ])
        .arg(dir.path().join("chain"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    // All of the load commits (failures by design included), the nodes
    // agree, and the money is all still there.
    assert_eq!(r["committed"], 3000, "{r}");
    assert_eq!(r["expected_failures"], 150, "{r}");
    assert_eq!(r["state_roots_agree"], true, "{r}");
    assert_eq!(r["supply_conserved"], true, "{r}");
    assert_eq!(r["latency_ms"]["samples"], 3000, "{r}");
    assert!(r["committed_per_sec"].as_f64().unwrap() > 0.0, "{r}");
    assert!(r["verify_rate_per_sec"].as_f64().unwrap() > 0.0, "{r}");
}

/// Runs the `hutong` binary; returns stdout, or panics with stderr.
fn hutong(args: &[&str]) -> String {
    let out = Command::new(BIN).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "hutong {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn audit_refusal(e: hutong_node::client::ClientError) -> (i32, Option<String>) {
    match e {
        hutong_node::client::ClientError::Rpc { code, data, .. } => (
            code,
            data.and_then(|d| d["code"].as_str().map(String::from)),
        ),
        other => panic!("expected a JSON-RPC error, got {other}"),
    }
}

/// The regulator's audit node end to end, through the CLI: a layering
/// pattern through 5 accounts at 4 institutions is traced; structuring
/// and fan-out raise alerts and ordinary transfers do not; requests that
/// are not a regulator's are refused; a proof checks offline and fails
/// with any byte changed; a regulator freeze lands and flags the frozen
/// account's counterparty; the audit log's chain holds; and a regulator
/// whose state was tampered with stops with a divergence report.
#[test]
fn the_regulator_traces_alerts_proves_and_freezes() {
    let _one = exclusive();
    let mut cluster = Cluster::with_accounts(24);
    for i in 0..5 {
        cluster.start(i);
    }
    let net = cluster.keys.parent().unwrap().to_path_buf();
    let regulator_rpc = cluster.nodes[4].rpc.clone();
    let regulator_key = cluster.keys.join("regulator.key");
    let reg_key = regulator_key.to_str().unwrap().to_string();
    let genesis_path = net.join("genesis.toml");
    runtime().block_on(async {
        cluster.wait_height(4, 2, Duration::from_secs(60)).await;
        let mut w = Wallets::new(&cluster, 24).await;
        let validator = cluster.client(0);
        let regulator = cluster.client(4);
        let yuan = |n: u128| n * 100;

        // Layering: account-3 (mall-c) → 6 (wallet-b) → 9 (bank-a) →
        // 12 (ride-d) → 15 (mall-c), one hop at a time, peeling a little.
        let path = [2usize, 5, 8, 11, 14];
        let mut layering = Vec::new();
        for (hop, pair) in path.windows(2).enumerate() {
            let tx = w.transfer(pair[0], pair[1], yuan(3_000 - 50 * hop as u128));
            let h = validator.submit(&tx).await.unwrap();
            wait_committed(&validator, &[h]).await;
            layering.push(h);
        }
        // Structuring: account-5 (tier 2, step-up at 10,000 CNY) sends
        // three amounts just under it.
        let mut others = Vec::new();
        for (k, amount) in [9_800u128, 9_700, 9_900].into_iter().enumerate() {
            let tx = w.transfer(4, 15 + k, yuan(amount));
            others.push(validator.submit(&tx).await.unwrap());
        }
        // Fan-out: account-8 pays 8 distinct accounts.
        for k in [0, 1, 3, 6, 9, 10, 12, 13] {
            let tx = w.transfer(7, k, yuan(10));
            others.push(validator.submit(&tx).await.unwrap());
        }
        // Baseline: ordinary random transfers among accounts 19..24.
        use rand::{Rng, SeedableRng};
        let seed: u64 = rand::random();
        println!("baseline seed {seed}");
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let mut baseline_senders = std::collections::HashSet::new();
        for _ in 0..30 {
            let from = rng.gen_range(18..24);
            let mut to = rng.gen_range(18..24);
            if to == from {
                to = 18 + (to - 17) % 6;
            }
            baseline_senders.insert(w.address(from).to_string());
            let tx = w.transfer(from, to, yuan(rng.gen_range(1..100)));
            others.push(validator.submit(&tx).await.unwrap());
        }
        wait_committed(&validator, &others).await;
        let top = cluster.height(0).await.unwrap();
        cluster.wait_height(4, top, Duration::from_secs(60)).await;

        // "Where did this money go": trace from the first account.
        let first = w.address(2).to_string();
        let trace: Value = serde_json::from_str(&hutong(&[
            "audit",
            "trace",
            "--rpc",
            &regulator_rpc,
            "--key",
            &reg_key,
            "--account",
            &first,
            "--hops",
            "6",
            "--format",
            "json",
        ]))
        .unwrap();
        let traced: Vec<(String, String)> = trace["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["from"].as_str().unwrap().into(),
                    e["to"].as_str().unwrap().into(),
                )
            })
            .collect();
        let expected: Vec<(String, String)> = path
            .windows(2)
            .map(|p| (w.address(p[0]).to_string(), w.address(p[1]).to_string()))
            .collect();
        assert_eq!(traced, expected, "{trace}");
        let institutions: std::collections::BTreeSet<&str> = trace["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["institution"].as_str().unwrap())
            .collect();
        assert!(institutions.len() >= 3, "{institutions:?}");
        // Backward from the last hop's transaction finds the same path.
        let back: Value = serde_json::from_str(&hutong(&[
            "audit",
            "trace",
            "--rpc",
            &regulator_rpc,
            "--key",
            &reg_key,
            "--tx",
            &layering[3].to_string(),
            "--backward",
            "--format",
            "json",
        ]))
        .unwrap();
        assert_eq!(back["edges"].as_array().unwrap().len(), 4, "{back}");
        let dot = hutong(&[
            "audit",
            "trace",
            "--rpc",
            &regulator_rpc,
            "--key",
            &reg_key,
            "--account",
            &first,
            "--format",
            "dot",
        ]);
        assert!(
            dot.starts_with("digraph") && dot.matches(" -> ").count() == 4,
            "{dot}"
        );
        let csv = hutong(&[
            "audit",
            "history",
            &w.address(8).to_string(),
            "--rpc",
            &regulator_rpc,
            "--key",
            &reg_key,
            "--format",
            "csv",
        ]);
        assert_eq!(csv.lines().count(), 3, "header, one in, one out:\n{csv}");

        // Alerts: structuring and fan-out fire; the baseline raises none.
        let key = cluster.key("regulator");
        let alerts = regulator
            .audit(
                "hutong_auditAlerts",
                &key,
                serde_json::json!({"limit": 1000}),
            )
            .await
            .unwrap();
        let alerts = alerts["alerts"].as_array().unwrap().clone();
        let has = |kind: &str, who: usize| {
            alerts
                .iter()
                .any(|a| a["kind"] == kind && a["account"] == w.address(who).to_string())
        };
        assert!(has("structuring", 4), "{alerts:?}");
        assert!(has("fan_out", 7), "{alerts:?}");
        for a in &alerts {
            assert!(
                !baseline_senders.contains(a["account"].as_str().unwrap()),
                "an ordinary transfer raised {a}"
            );
        }
        assert_eq!(alerts.len(), 2, "only the two patterns: {alerts:?}");

        // Refusals: a validator serves no audit method; unsigned, foreign
        // and tampered requests and replays are refused.
        let e = validator
            .audit("hutong_auditAlerts", &key, serde_json::json!({}))
            .await
            .unwrap_err();
        assert_eq!(audit_refusal(e).0, -32021);
        let e = regulator
            .audit_raw("hutong_auditAlerts", serde_json::json!({"query": {}}))
            .await
            .unwrap_err();
        assert_eq!(audit_refusal(e), (-32020, Some("unauthenticated".into())));
        let e = regulator
            .audit(
                "hutong_auditAlerts",
                &cluster.key("account-1"),
                serde_json::json!({}),
            )
            .await
            .unwrap_err();
        assert_eq!(audit_refusal(e), (-32020, Some("unknown_key".into())));
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        let signed = hutong_node::audit::auth::sign_request(
            &key,
            &w.chain_id,
            "hutong_auditAlerts",
            serde_json::json!({"limit": 1}),
            now,
            "0123456789abcdef0123",
        );
        let mut tampered = signed.clone();
        tampered["query"]["limit"] = serde_json::json!(2);
        let e = regulator
            .audit_raw("hutong_auditAlerts", tampered)
            .await
            .unwrap_err();
        assert_eq!(audit_refusal(e), (-32020, Some("bad_signature".into())));
        regulator
            .audit_raw("hutong_auditAlerts", signed.clone())
            .await
            .unwrap();
        let e = regulator
            .audit_raw("hutong_auditAlerts", signed)
            .await
            .unwrap_err();
        assert_eq!(audit_refusal(e), (-32020, Some("replayed".into())));

        // "Prove it": a transaction proof and a balance proof, checked
        // offline; any changed byte is caught.
        for _ in 0..50 {
            // The receipt comes once a later block certifies its result.
            let p = regulator
                .audit(
                    "hutong_auditProof",
                    &key,
                    serde_json::json!({"tx": layering[1].to_string()}),
                )
                .await
                .unwrap();
            if p["claims"]["outcome"]["success"] == true {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let proof_path = net.join("hop2.proof.json");
        hutong(&[
            "audit",
            "proof",
            "--rpc",
            &regulator_rpc,
            "--key",
            &reg_key,
            "tx",
            &layering[1].to_string(),
            "--out",
            proof_path.to_str().unwrap(),
        ]);
        let verified = hutong(&[
            "audit",
            "verify",
            proof_path.to_str().unwrap(),
            "--genesis",
            genesis_path.to_str().unwrap(),
        ]);
        assert!(
            verified.contains("VALID") && verified.contains("\"success\": true"),
            "{verified}"
        );
        let genesis =
            hutong_genesis::Genesis::from_toml(&std::fs::read_to_string(&genesis_path).unwrap())
                .unwrap();
        let bytes = std::fs::read(&proof_path).unwrap();
        hutong_node::audit::proof::verify_file(&bytes, &genesis).unwrap();
        for i in 0..bytes.len() {
            let mut changed = bytes.clone();
            changed[i] = if changed[i] == b'0' { b'1' } else { b'0' };
            assert!(
                hutong_node::audit::proof::verify_file(&changed, &genesis).is_err(),
                "a proof with byte {i} changed was accepted"
            );
        }
        let mut changed = bytes.clone();
        let mid = changed.len() / 2;
        changed[mid] = if changed[mid] == b'a' { b'b' } else { b'a' };
        std::fs::write(net.join("tampered.json"), &changed).unwrap();
        let out = Command::new(BIN)
            .args(["audit", "verify"])
            .arg(net.join("tampered.json"))
            .arg("--genesis")
            .arg(&genesis_path)
            .output()
            .unwrap();
        assert!(!out.status.success());
        assert!(String::from_utf8_lossy(&out.stderr).contains("INVALID"));
        let balance_path = net.join("balance.proof.json");
        let last = w.address(14).to_string();
        hutong(&[
            "audit",
            "proof",
            "--rpc",
            &regulator_rpc,
            "--key",
            &reg_key,
            "balance",
            &last,
            "--asset",
            "CNY",
            "--out",
            balance_path.to_str().unwrap(),
        ]);
        let verified = hutong(&[
            "audit",
            "verify",
            balance_path.to_str().unwrap(),
            "--genesis",
            genesis_path.to_str().unwrap(),
        ]);
        // 100,000 CNY at genesis plus the last hop's 2,850.
        assert!(verified.contains("\"balance\": \"10285000\""), "{verified}");

        // A regulator freeze of the path's end, sent through the
        // regulator's own node; then its recent counterparty moves money.
        hutong(&[
            "audit",
            "freeze",
            &last,
            "--rpc",
            &regulator_rpc,
            "--key",
            &reg_key,
            "--wait",
        ]);
        let account = validator.account(&w.address(14)).await.unwrap();
        assert_eq!(account["status"], "frozen", "{account}");
        let tx = w.transfer(11, 20, yuan(5));
        let h = validator.submit(&tx).await.unwrap();
        wait_committed(&validator, &[h]).await;
        let mut flagged = Value::Null;
        for _ in 0..50 {
            let a = regulator
                .audit(
                    "hutong_auditAlerts",
                    &key,
                    serde_json::json!({"kind": "frozen_counterparty"}),
                )
                .await
                .unwrap();
            if let Some(x) = a["alerts"].as_array().and_then(|v| v.first()) {
                flagged = x.clone();
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        assert_eq!(flagged["account"], w.address(11).to_string(), "{flagged}");

        // Institution flows and an export report.
        let flows = hutong(&[
            "audit",
            "flows",
            "--rpc",
            &regulator_rpc,
            "--key",
            &reg_key,
            "--format",
            "json",
        ]);
        let flows: Value = serde_json::from_str(&flows).unwrap();
        assert!(flows["gross"].as_array().unwrap().len() >= 4, "{flows}");
        let export = hutong(&[
            "audit",
            "export",
            "--rpc",
            &regulator_rpc,
            "--key",
            &reg_key,
            "--institution",
            "ride-d",
            "--format",
            "csv",
        ]);
        assert!(export.lines().count() > 10, "{export}");

        // Every query above is in the audit log, and its chain holds.
        let log = hutong(&[
            "audit",
            "log",
            "--rpc",
            &regulator_rpc,
            "--key",
            &reg_key,
            "--limit",
            "1000",
        ]);
        assert!(log.contains("hash chain: intact"), "{log}");
        assert!(
            log.contains("hutong_auditTrace") && log.contains("hutong_auditProof"),
            "{log}"
        );
    });

    // Tamper with the regulator's copy of a balance; the next transfer
    // from that account makes its result differ from the certified one.
    cluster.kill(4);
    let db_path = cluster.nodes[4].home.join("data/db");
    {
        let cfs = rocksdb::DB::list_cf(&rocksdb::Options::default(), &db_path).unwrap();
        let db = rocksdb::DB::open_cf(&rocksdb::Options::default(), &db_path, &cfs).unwrap();
        let w_key = cluster.key("account-20");
        let cny = AssetCode::new("CNY").unwrap();
        let key = hutong_runtime::StateKey::Balance(Address::of(&w_key.public()), cny);
        let value = hutong_runtime::StateValue::Balance(Amount(1));
        db.put_cf(
            db.cf_handle("state").unwrap(),
            borsh::to_vec(&key).unwrap(),
            borsh::to_vec(&value).unwrap(),
        )
        .unwrap();
    }
    cluster.start(4);
    runtime().block_on(async {
        let mut w = Wallets::new(&cluster, 24).await;
        let validator = cluster.client(0);
        // Account-20's next sequence: what the validator says.
        let me = w.address(19);
        let seq = validator.account(&me).await.unwrap()["sequence"]
            .as_u64()
            .unwrap();
        w.next.insert(19, seq);
        let tx = w.transfer(19, 16, 100);
        let h = validator.submit(&tx).await.unwrap();
        validator
            .wait_final(&h, Duration::from_secs(60))
            .await
            .unwrap();
        let started = Instant::now();
        loop {
            let status = cluster.client(4).status().await.unwrap();
            if let Some(why) = status["halted"].as_str() {
                assert!(why.contains("state divergence"), "{why}");
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "the regulator did not detect the divergence; log:\n{}",
                cluster.log_tail(4)
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        // It stops following: its height stays while the chain goes on.
        let stuck = cluster.height(4).await.unwrap();
        let ahead = cluster
            .wait_height(0, stuck + 5, Duration::from_secs(60))
            .await;
        assert!(cluster.height(4).await.unwrap() <= stuck, "{ahead}");
    });
}

//! `hutong bench`: committed transfers per second and commit latency,
//! measured through the nodes' real entry points.
//!
//! The chain is a local consortium on loopback that the bench creates (or
//! reuses) and runs as child processes: a single-validator development
//! chain, or 4 validators and a regulator. The load is signed before the
//! clock starts; it is submitted over JSON-RPC (`hutong_submitTransactions`
//! batches, or one `hutong_submitTransaction` per transfer); finality is
//! what the nodes report in their committed blocks, not the client's own
//! bookkeeping. At the end every node must hold the same state root at the
//! same height and the supply of each asset must be unchanged: a run that
//! breaks the ledger is reported as a failure, not as a figure.

use crate::out::say;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};
use hutong_genesis::Genesis;
use hutong_node::client::Client;
use hutong_node::keyfile;
use hutong_node::sigverify::{available_threads, verify_parallel};
use hutong_runtime::crypto::Hash;
use hutong_runtime::tx::{Expiry, Payout, BATCH_RECIPIENTS_MAX};
use hutong_runtime::{
    Address, Amount, AssetCode, ChainId, Height, Keypair, Nonce, SignedTransaction, Transaction,
    TransferId, TxKind,
};
use rand::{Rng, SeedableRng};
use serde::Serialize;
use serde_json::Value;

use crate::node_cmd::{prepare_chain_dir, spawn_nodes, stop_nodes, testnet_nodes, TestnetNode};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Workload {
    /// Customers pay random other customers.
    Uniform,
    /// 90% of payments go to the institutions' settlement accounts,
    /// Zipf-distributed (the first receives the most).
    Hot,
    /// The institutions pay out to random customers, in batch transfers
    /// of `--payouts-per-tx` recipients (a payroll), or one by one.
    Payout,
    /// Uniform, with every 20th transfer failing (insufficient funds).
    Mixed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SubmitPath {
    /// `hutong_submitTransactions`, `--batch` transfers per call.
    Batch,
    /// `hutong_submitTransaction`, one transfer per call, `--concurrency`
    /// calls in flight.
    Single,
}

#[derive(Args)]
pub struct BenchArgs {
    /// 1 (a development chain) or 4 (4 validators and a regulator).
    #[arg(long, default_value_t = 4)]
    validators: usize,
    /// Folder of the bench chain; reused if it holds one with the same
    /// number of validators (default: a folder in the temp dir per size).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Wipe the folder and start a new chain.
    #[arg(long)]
    fresh: bool,
    /// Funded customer accounts in a new chain.
    #[arg(long, default_value_t = 2_000)]
    accounts: usize,
    #[arg(long, value_enum, default_value = "uniform")]
    workload: Workload,
    /// Open loop: submit at this many transfers per second, whatever the
    /// chain does. Omitted: closed loop (keep `--inflight` uncommitted).
    #[arg(long)]
    rate: Option<u64>,
    /// Length of the measured run.
    #[arg(long, default_value_t = 60)]
    duration_secs: u64,
    /// Closed loop: transfers submitted and not yet committed (keep it
    /// below the nodes' pool bound, `mempool.txs_max`, 20,000 by default).
    #[arg(long, default_value_t = 5_000)]
    inflight: usize,
    /// Payout workload: recipients per transaction, each a transfer (one
    /// `BatchTransfer`, all or nothing); 1 sends single transfers.
    /// `--rate`, `--inflight`, `--txs` and the figures count transfers;
    /// latency counts transactions.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..=BATCH_RECIPIENTS_MAX as u64))]
    payouts_per_tx: u64,
    /// Pre-signed transfers for a closed loop (default: 15,000 per second
    /// of `--duration-secs`); the run ends early if they run out.
    #[arg(long)]
    txs: Option<usize>,
    #[arg(long, value_enum, default_value = "batch")]
    submit: SubmitPath,
    /// Transfers per `hutong_submitTransactions` call.
    #[arg(long, default_value_t = 500)]
    batch: usize,
    /// Calls in flight per node.
    #[arg(long, default_value_t = 4)]
    concurrency: usize,
    /// Seed of the workload's choices (printed; random if omitted).
    #[arg(long)]
    seed: Option<u64>,
    /// Print the result as JSON on stdout (progress still goes to stderr).
    #[arg(long)]
    json: bool,
    /// Kill -9 the last validator this many seconds into the run (4
    /// validators only): the figures are then given before and after the
    /// kill. It is restarted when the run ends and must catch up before
    /// the ledger check, which then includes it.
    #[arg(long)]
    kill_after_secs: Option<u64>,
}

/// What a run measured.
#[derive(Debug, Serialize)]
pub struct BenchResult {
    pub validators: usize,
    pub nodes: usize,
    pub workload: Workload,
    pub submit: SubmitPath,
    pub mode: String,
    pub seed: u64,
    pub duration_secs: f64,
    pub presigned: usize,
    pub submitted: u64,
    pub committed: u64,
    pub committed_in_window: u64,
    pub committed_per_sec: f64,
    /// Transfers per transaction: 1, except in the payout workload's
    /// batch transfers. `presigned`, `submitted` and `committed` count
    /// transactions; `committed_in_window` and `committed_per_sec` count
    /// transfers.
    pub transfers_per_tx: u64,
    /// Committed transactions (signatures) per second.
    pub committed_txs_per_sec: f64,
    pub expected_failures: u64,
    pub latency_ms: Latency,
    pub rejected: HashMap<String, u64>,
    pub retried_busy: u64,
    pub uncommitted_at_end: u64,
    pub cpu_cores_per_node: Vec<(String, f64)>,
    /// Transactions whose signatures each node checked during the window,
    /// per transaction it committed then (1.0: each checked once; `null`
    /// when the node could not say, or committed nothing).
    pub signature_checks_per_tx_per_node: Vec<(String, Option<f64>)>,
    pub max_rss_mib_per_node: Vec<(String, f64)>,
    pub verify_rate_per_sec: f64,
    pub verify_threads: usize,
    pub limit_per_sec: f64,
    /// Committed transactions per second over `limit_per_sec` (a limit on
    /// signatures: one per transaction, however many transfers it makes).
    pub ratio_to_limit: f64,
    pub final_height: u64,
    /// Seconds after the run until the slowest node had executed
    /// `final_height` (a lagging regulator catching up).
    pub catch_up_secs: f64,
    pub state_roots_agree: bool,
    pub supply_conserved: bool,
    /// Receipts read back from node 0, spread over the committed load.
    pub receipts_checked: u64,
    /// Of those, how many did not end as the workload meant them to (a
    /// transfer meant to succeed that failed, or the other way round).
    pub receipts_unexpected: u64,
    pub load_exhausted: bool,
    /// With `--kill-after-secs`: who was killed, and committed transfers
    /// per second before and after.
    pub kill: Option<KillFigures>,
    /// After the load and its drain: single transfers sent one at a time,
    /// submit to finality (ms). An overloaded node must be back to these
    /// figures within seconds, with no restart.
    pub after_load_latency_ms: Latency,
}

#[derive(Debug, Serialize)]
pub struct KillFigures {
    pub node: String,
    pub at_secs: f64,
    pub committed_per_sec_before: f64,
    pub committed_per_sec_after: f64,
    pub ratio_after_to_before: f64,
    pub caught_up_after_restart: bool,
}

#[derive(Debug, Default, Serialize)]
pub struct Latency {
    pub samples: usize,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
}

impl Latency {
    /// Percentiles of `samples` (milliseconds), nearest rank.
    fn of(mut samples: Vec<f64>) -> Latency {
        samples.sort_by(|a, b| a.total_cmp(b));
        let pct = |p: f64| -> f64 {
            if samples.is_empty() {
                return 0.0;
            }
            let i = ((samples.len() as f64 - 1.0) * p).round() as usize;
            samples[i.min(samples.len() - 1)]
        };
        Latency {
            samples: samples.len(),
            p50: pct(0.5),
            p90: pct(0.9),
            p99: pct(0.99),
            max: samples.last().copied().unwrap_or(0.0),
        }
    }
}

/// One pre-signed transfer.
struct Item {
    hex: String,
    /// Made to fail at execution (the mixed workload).
    failing: bool,
}

/// The run's shared bookkeeping. Times are microseconds since `t0`.
struct Book {
    t0: Instant,
    items: Vec<Item>,
    index: HashMap<Hash, u32>,
    sent_at: Vec<AtomicU64>,
    committed_at: Vec<AtomicU64>,
    next: AtomicUsize,
    retry: Mutex<Vec<u32>>,
    submitted: AtomicU64,
    committed: AtomicU64,
    settled: AtomicU64,
    retried_busy: AtomicU64,
    rejected: Mutex<HashMap<String, u64>>,
    stop: AtomicBool,
}

const UNSET: u64 = u64::MAX;

/// After the run, a node still catching up fails the run only when its
/// height stops moving for this long.
const CATCH_UP_STALL: Duration = Duration::from_secs(60);

/// Most receipts the ledger check reads back.
const RECEIPTS_CHECKED_MAX: usize = 500;

/// Most transfers a run signs ahead (each holds ~0.5 KiB until the end).
const PRESIGNED_MAX: u64 = 10_000_000;

impl Book {
    fn now(&self) -> u64 {
        self.t0.elapsed().as_micros() as u64
    }

    fn inflight(&self) -> u64 {
        self.submitted
            .load(Ordering::Relaxed)
            .saturating_sub(self.settled.load(Ordering::Relaxed))
    }

    /// Up to `n` transfers to send: retries first, then new ones.
    fn take(&self, n: usize) -> Vec<u32> {
        let mut out: Vec<u32> = {
            let mut retry = self.retry.lock().unwrap_or_else(|p| p.into_inner());
            let k = retry.len().min(n);
            retry.drain(..k).collect()
        };
        if out.len() < n {
            let want = n - out.len();
            let start = self.next.fetch_add(want, Ordering::Relaxed);
            let end = (start + want).min(self.items.len());
            out.extend((start.min(end)..end).map(|i| i as u32));
        }
        out
    }

    fn exhausted(&self) -> bool {
        self.next.load(Ordering::Relaxed) >= self.items.len()
            && self
                .retry
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .is_empty()
    }

    /// Records the node's verdicts on `ids`; returns how many are to be
    /// retried ("busy").
    fn verdicts(&self, ids: &[u32], verdicts: &[Value]) -> usize {
        let mut retry = 0;
        for (id, v) in ids.iter().zip(verdicts) {
            if v["status"] == "pending" {
                continue;
            }
            let code = v["code"].as_str().unwrap_or("unknown").to_string();
            if v["retryable"] == true {
                retry += 1;
                self.retried_busy.fetch_add(1, Ordering::Relaxed);
                self.submitted.fetch_sub(1, Ordering::Relaxed);
                self.retry
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(*id);
            } else {
                self.settled.fetch_add(1, Ordering::Relaxed);
                *self
                    .rejected
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .entry(code)
                    .or_default() += 1;
            }
        }
        retry
    }
}

pub fn bench(args: BenchArgs) -> Result<()> {
    if args.validators != 1 && args.validators != 4 {
        bail!(
            "--validators {}: the bench runs 1 (a development chain) or 4 (with a regulator)",
            args.validators
        );
    }
    if args.batch == 0 || args.batch > hutong_node::rpc::SUBMIT_BATCH_MAX {
        bail!(
            "--batch must be 1 to {}",
            hutong_node::rpc::SUBMIT_BATCH_MAX
        );
    }
    if args.concurrency == 0
        || args.duration_secs == 0
        || args.rate == Some(0)
        || args.txs == Some(0)
    {
        bail!("--concurrency, --duration-secs, --rate and --txs must be at least 1");
    }
    let load = match args.rate {
        Some(rate) => rate.saturating_mul(args.duration_secs),
        None => args
            .txs
            .map(|t| t as u64)
            .unwrap_or(15_000 * args.duration_secs),
    };
    if load > PRESIGNED_MAX {
        bail!(
            "{load} pre-signed transfers would not fit in memory; at most {PRESIGNED_MAX} (lower --rate, --duration-secs or --txs)"
        );
    }
    let dir = args
        .dir
        .clone()
        .unwrap_or_else(|| std::env::temp_dir().join(format!("hutong-bench-{}v", args.validators)));
    if prepare_chain_dir(&dir, args.fresh, args.validators, args.accounts)? {
        eprintln!(
            "created a {}-validator chain with {} accounts in {}",
            args.validators,
            args.accounts,
            dir.display()
        );
    }
    let genesis = crate::load_genesis(&dir.join("genesis.toml"))?;
    let validators = genesis.validators().count();
    if validators != args.validators {
        bail!(
            "{} holds a {validators}-validator chain; use --fresh or another --dir",
            dir.display()
        );
    }
    let nodes = testnet_nodes(&dir)?;
    let exe = std::env::current_exe().context("finding the hutong binary")?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    if args.kill_after_secs.is_some() && args.validators < 4 {
        bail!("--kill-after-secs needs 4 validators: with fewer, one down stops the chain");
    }
    runtime.block_on(async move {
        let mut children = spawn_nodes(&exe, &nodes)?;
        let outcome = run(&args, &dir, &genesis, &nodes, &mut children, &exe).await;
        stop_nodes(&nodes, &mut children).await;
        let result = outcome?;
        if args.json {
            say!("{}", serde_json::to_string_pretty(&result)?);
        } else {
            print_summary(&result);
        }
        if !result.state_roots_agree || !result.supply_conserved {
            bail!("the ledger check failed: this run is not a result");
        }
        if result.receipts_unexpected > 0 {
            bail!(
                "{} of {} receipts read back did not end as the workload meant: this run is not a result",
                result.receipts_unexpected,
                result.receipts_checked
            );
        }
        Ok(())
    })
}

async fn wait_ready(nodes: &[TestnetNode]) -> Result<Vec<Client>> {
    let clients: Vec<Client> = nodes
        .iter()
        .map(|n| Client::new(&n.rpc))
        .collect::<Result<_, _>>()?;
    let started = Instant::now();
    for (n, c) in nodes.iter().zip(&clients) {
        loop {
            if let Ok(s) = c.status().await {
                if s["height"].as_u64().unwrap_or(0) >= 1 {
                    break;
                }
            }
            if started.elapsed() > Duration::from_secs(120) {
                bail!(
                    "{} did not start committing in 120 s; see {}",
                    n.name,
                    n.home.join("node.log").display()
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    Ok(clients)
}

struct Payer {
    key: Keypair,
    next: u64,
}

async fn load_payers(client: &Client, keys: &[Keypair]) -> Result<Vec<Payer>> {
    let mut out = Vec::with_capacity(keys.len());
    for k in keys {
        let a = client.account(&Address::of(&k.public())).await?;
        let next = a["sequence"]
            .as_u64()
            .with_context(|| format!("no sequence in {a}"))?;
        out.push(Payer {
            key: k.clone(),
            next,
        });
    }
    Ok(out)
}

/// Sum of every genesis address's balances, per asset, at the node's
/// current height.
async fn supply(client: &Client, genesis: &Genesis) -> Result<HashMap<String, u128>> {
    let mut addresses: Vec<Address> = genesis.balances.iter().map(|(a, _, _)| *a).collect();
    addresses.sort();
    addresses.dedup();
    let mut total: HashMap<String, u128> = HashMap::new();
    for a in addresses {
        let v = client.account(&a).await?;
        if let Some(b) = v["balances"].as_object() {
            for (asset, amount) in b {
                let n: u128 = amount
                    .as_str()
                    .and_then(|s| s.parse().ok())
                    .with_context(|| format!("bad balance {amount} of {a}"))?;
                *total.entry(asset.clone()).or_default() += n;
            }
        }
    }
    Ok(total)
}

/// Customer keys `account-1…` and institution keys, from the chain's
/// key folder.
fn read_keys(dir: &Path, genesis: &Genesis) -> Result<(Vec<Keypair>, Vec<Keypair>)> {
    let keys = dir.join("keys");
    let mut customers = Vec::new();
    for i in 1..=genesis.accounts.len() {
        let path = keys.join(format!("account-{i}.key"));
        if !path.exists() {
            break;
        }
        customers.push(keyfile::read(&path)?);
    }
    let institutions = genesis
        .validators()
        .map(|m| keyfile::read(&keys.join(format!("{}.institution.key", m.name))))
        .collect::<Result<Vec<_>, _>>()?;
    if customers.len() < 2 {
        bail!(
            "the chain in {} has fewer than 2 customer keys",
            dir.display()
        );
    }
    Ok((customers, institutions))
}

/// Signs the load, in parallel over the machine's cores: `count`
/// transactions, each of `legs` transfers (more than 1 only for batch
/// payouts).
fn presign(
    (workload, legs): (Workload, usize),
    count: usize,
    chain_id: ChainId,
    expiry: Height,
    customers: &mut [Payer],
    institutions: &mut [Payer],
    seed: u64,
) -> (Vec<Item>, Vec<SignedTransaction>) {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let assets = [
        AssetCode::new("CNY").expect("a valid code"),
        AssetCode::new("HKD").expect("a valid code"),
    ];
    let customer_addrs: Vec<Address> = customers
        .iter()
        .map(|p| Address::of(&p.key.public()))
        .collect();
    let institution_addrs: Vec<Address> = institutions
        .iter()
        .map(|p| Address::of(&p.key.public()))
        .collect();
    // Zipf weights (s = 1) over the institutions.
    let zipf: Vec<f64> = (0..institution_addrs.len())
        .map(|i| 1.0 / (i + 1) as f64)
        .collect();
    let zipf_total: f64 = zipf.iter().sum();
    let id_base = u128::from(rng.gen::<u64>()) << 64;
    let mut unsigned: Vec<(Transaction, Keypair, bool)> = Vec::with_capacity(count);
    for k in 0..count {
        let (payer, from_index) = match workload {
            Workload::Payout => {
                let i = k % institutions.len();
                (&mut institutions[i], usize::MAX)
            }
            _ => {
                let i = k % customers.len();
                (&mut customers[i], i)
            }
        };
        let to = match workload {
            Workload::Hot if rng.gen_bool(0.9) => {
                let mut x = rng.gen::<f64>() * zipf_total;
                let mut pick = 0;
                for (i, w) in zipf.iter().enumerate() {
                    if x < *w {
                        pick = i;
                        break;
                    }
                    x -= w;
                }
                institution_addrs[pick]
            }
            _ => loop {
                let j = rng.gen_range(0..customer_addrs.len());
                if j != from_index {
                    break customer_addrs[j];
                }
            },
        };
        let failing = workload == Workload::Mixed && k % 20 == 19;
        let amount = if failing {
            // More than any demo account holds.
            Amount(1_000_000_000_000_000)
        } else {
            Amount(1)
        };
        let transfer_id = TransferId(id_base + k as u128);
        let asset = assets[k % 2];
        let kind = if legs > 1 {
            let mut payouts = Vec::with_capacity(legs);
            payouts.push(Payout { to, amount });
            while payouts.len() < legs {
                let j = rng.gen_range(0..customer_addrs.len());
                payouts.push(Payout {
                    to: customer_addrs[j],
                    amount,
                });
            }
            TxKind::BatchTransfer {
                asset,
                payouts,
                transfer_id,
            }
        } else {
            TxKind::Transfer {
                to,
                asset,
                amount,
                transfer_id,
            }
        };
        let tx = Transaction {
            chain_id,
            sender: payer.key.public(),
            sequence: Nonce(payer.next),
            expiry: Expiry::Height(expiry),
            kind,
            cosigner: None,
            memo: Vec::new(),
        };
        payer.next += 1;
        unsigned.push((tx, payer.key.clone(), failing));
    }
    let threads = available_threads().get();
    let per = unsigned.len().div_ceil(threads).max(1);
    let signed: Vec<(SignedTransaction, bool)> = std::thread::scope(|s| {
        let handles: Vec<_> = unsigned
            .chunks(per)
            .map(|chunk| {
                s.spawn(move || {
                    chunk
                        .iter()
                        .map(|(tx, key, failing)| (tx.clone().sign(key), *failing))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    });
    // Keep a sample of signed transactions for the verify-rate probe.
    let sample: Vec<SignedTransaction> =
        signed.iter().take(20_000).map(|(t, _)| t.clone()).collect();
    let items = signed
        .into_iter()
        .map(|(t, failing)| Item {
            hex: hex::encode(t.encode()),
            failing,
        })
        .collect();
    (items, sample)
}

/// The machine's ed25519 batch-verification rate on all cores, best of 3.
fn verify_rate(sample: &[SignedTransaction]) -> f64 {
    let mut best: f64 = 0.0;
    for _ in 0..3 {
        let started = Instant::now();
        let pre = verify_parallel(sample, available_threads());
        let secs = started.elapsed().as_secs_f64();
        debug_assert!(pre.valid.iter().all(|v| *v));
        if secs > 0.0 {
            best = best.max(sample.len() as f64 / secs);
        }
    }
    best
}

/// CPU seconds (user + system) a process has used, from /proc.
fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / clock_ticks())
}

fn clock_ticks() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// A node's signature checks (admission, proposals and execution
/// together) and its committed transactions so far, from its metrics
/// endpoint; `None` when it has none or does not answer in time.
async fn sigcheck_counters(node: &TestnetNode) -> Option<(u64, u64)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let text = std::fs::read_to_string(node.home.join("config.toml")).ok()?;
    let config: toml::Value = toml::from_str(&text).ok()?;
    let addr = config.get("metrics")?.get("listen")?.as_str()?.to_string();
    let body = tokio::time::timeout(Duration::from_secs(5), async {
        let mut stream = tokio::net::TcpStream::connect(&addr).await.ok()?;
        let request = format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.ok()?;
        let mut out = Vec::new();
        stream.take(1 << 20).read_to_end(&mut out).await.ok()?;
        String::from_utf8(out).ok()
    })
    .await
    .ok()??;
    let mut checks = 0u64;
    let mut committed = None;
    for line in body.lines() {
        let value = || line.rsplit(' ').next()?.parse::<u64>().ok();
        if line.starts_with("hutong_signature_checks_total{") {
            checks += value()?;
        } else if line.starts_with("hutong_committed_txs_total ") {
            committed = value();
        }
    }
    Some((checks, committed?))
}

async fn sigchecks_all(nodes: &[TestnetNode]) -> Vec<Option<(u64, u64)>> {
    let mut out = Vec::with_capacity(nodes.len());
    for node in nodes {
        out.push(sigcheck_counters(node).await);
    }
    out
}

fn rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

async fn run(
    args: &BenchArgs,
    dir: &Path,
    genesis: &Genesis,
    nodes: &[TestnetNode],
    children: &mut [tokio::process::Child],
    exe: &Path,
) -> Result<BenchResult> {
    let pids: Vec<Option<u32>> = children.iter().map(|c| c.id()).collect();
    let seed = args.seed.unwrap_or_else(rand::random);
    eprintln!("bench seed {seed} (--seed {seed} repeats the workload's choices)");
    let clients = wait_ready(nodes).await?;
    let status = clients[0].status().await?;
    let chain_id = ChainId(
        Hash::from_hex(status["chain_id"].as_str().unwrap_or_default())
            .context("node reported no chain id")?
            .0,
    );
    let height = status["height"].as_u64().unwrap_or(0);
    let (customer_keys, institution_keys) = read_keys(dir, genesis)?;
    let mut customers = load_payers(&clients[0], &customer_keys).await?;
    let mut institutions = load_payers(&clients[0], &institution_keys).await?;
    let supply_before = supply(&clients[0], genesis).await?;

    let count = match args.rate {
        Some(rate) => (rate as usize).saturating_mul(args.duration_secs as usize),
        None => args
            .txs
            .unwrap_or(15_000usize.saturating_mul(args.duration_secs as usize)),
    };
    // Transfers per transaction, and the load in transactions.
    let legs = match args.workload {
        Workload::Payout => args.payouts_per_tx.max(1),
        _ => 1,
    };
    let tx_count = (count as u64).div_ceil(legs) as usize;
    if args.workload == Workload::Payout {
        eprintln!(
            "payout: {} payers, {legs} recipient(s) per transaction, each payer limited to its sequence window of uncommitted transactions",
            institutions.len()
        );
    }
    eprintln!(
        "signing {count} transfers in {tx_count} transactions ({:?})…",
        args.workload
    );
    let signing = Instant::now();
    let (items, sample) = {
        let workload = args.workload;
        let expiry = Height(height + 100_000);
        tokio::task::block_in_place(|| {
            presign(
                (workload, legs as usize),
                tx_count,
                chain_id,
                expiry,
                &mut customers,
                &mut institutions,
                seed,
            )
        })
    };
    eprintln!(
        "signed in {:.1} s; measuring the batch-verify rate…",
        signing.elapsed().as_secs_f64()
    );
    let verify = tokio::task::block_in_place(|| verify_rate(&sample));
    drop(sample);

    let mut index = HashMap::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let raw = hex::decode(&item.hex).context("re-reading the load")?;
        let t = SignedTransaction::decode(&raw).map_err(|e| anyhow::anyhow!("{e:?}"))?;
        index.insert(t.hash(), i as u32);
    }
    let expected_failures = items.iter().filter(|i| i.failing).count() as u64;
    let book = Arc::new(Book {
        t0: Instant::now(),
        sent_at: (0..items.len()).map(|_| AtomicU64::new(UNSET)).collect(),
        committed_at: (0..items.len()).map(|_| AtomicU64::new(UNSET)).collect(),
        items,
        index,
        next: AtomicUsize::new(0),
        retry: Mutex::new(Vec::new()),
        submitted: AtomicU64::new(0),
        committed: AtomicU64::new(0),
        settled: AtomicU64::new(0),
        retried_busy: AtomicU64::new(0),
        rejected: Mutex::new(HashMap::new()),
        stop: AtomicBool::new(false),
    });
    let cpu_before: Vec<Option<f64>> = pids.iter().map(|p| p.and_then(cpu_seconds)).collect();
    let sigchecks_before = sigchecks_all(nodes).await;

    // Finality, as node 0 reports it.
    let watcher = tokio::spawn(watch_commits(clients[0].clone(), book.clone(), height));
    // Submitters: `concurrency` per validator (the regulator takes no
    // client transactions in this bench).
    let validator_clients: Vec<Client> = clients.iter().take(args.validators).cloned().collect();
    let alive: Vec<Arc<AtomicBool>> = validator_clients
        .iter()
        .map(|_| Arc::new(AtomicBool::new(true)))
        .collect();
    let mut submitters = Vec::new();
    let duration = Duration::from_secs(args.duration_secs);
    for (c, alive) in validator_clients.iter().zip(&alive) {
        for _ in 0..args.concurrency {
            submitters.push(tokio::spawn(submit_loop(
                c.clone(),
                book.clone(),
                alive.clone(),
                args.submit,
                args.batch,
                args.rate.map(|r| {
                    r as f64 / legs as f64 / (validator_clients.len() * args.concurrency) as f64
                }),
                (args.inflight as u64 / legs).max(1),
            )));
        }
    }

    // Progress, once a second; resident memory sampled with it.
    let mut max_rss = vec![0f64; pids.len()];
    let started = Instant::now();
    let mut last_committed = 0;
    // The victim of `--kill-after-secs`: the last validator (node 0 is the
    // one whose commits are watched), and the committed count at the kill.
    let victim = args.validators - 1;
    let mut killed: Option<(f64, u64)> = None;
    while started.elapsed() < duration && !book.stop.load(Ordering::Relaxed) {
        tokio::time::sleep(Duration::from_secs(1)).await;
        if let Some(at) = args.kill_after_secs {
            if killed.is_none() && started.elapsed() >= Duration::from_secs(at) {
                alive[victim].store(false, Ordering::Relaxed);
                let _ = children[victim].start_kill();
                let _ = children[victim].wait().await;
                killed = Some((
                    started.elapsed().as_secs_f64(),
                    book.committed.load(Ordering::Relaxed),
                ));
                eprintln!("\nkilled {} (kill -9)", nodes[victim].name);
            }
        }
        for (m, pid) in max_rss.iter_mut().zip(&pids) {
            if let Some(r) = pid.and_then(rss_mib) {
                *m = m.max(r);
            }
        }
        // In transfers, like the figures (a batch payout makes several).
        let committed = book.committed.load(Ordering::Relaxed) * legs;
        let done = started.elapsed().as_secs_f64() / duration.as_secs_f64();
        let bar = (done * 30.0).round() as usize;
        eprint!(
            "\r[{:<30}] {:>3.0} s  committed {:>9}  {:>7}/s  in flight {:>6}  busy retries {:>7}   ",
            "#".repeat(bar.min(30)),
            started.elapsed().as_secs_f64(),
            committed,
            committed - last_committed,
            book.inflight(),
            book.retried_busy.load(Ordering::Relaxed),
        );
        last_committed = committed;
        if book.exhausted() && book.inflight() == 0 {
            break;
        }
    }
    eprintln!();
    let window = started.elapsed();
    let window_end = book.now();
    let load_exhausted = book.exhausted();
    book.stop.store(true, Ordering::Relaxed);
    for s in submitters {
        let _ = s.await;
    }
    let cpu_after: Vec<Option<f64>> = pids.iter().map(|p| p.and_then(cpu_seconds)).collect();
    let sigchecks_after = sigchecks_all(nodes).await;
    // Drain: what was submitted gets up to 30 s to commit.
    let drain = Instant::now();
    while book.inflight() > 0 && drain.elapsed() < Duration::from_secs(30) {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let uncommitted_at_end = book.inflight();
    watcher.abort();
    // Back to normal? One transfer at a time, each waited for.
    let probe_started = Instant::now();
    let after_load = probe_latency(&clients[0], &customers, chain_id, height, seed).await?;
    eprintln!(
        "after the load: {} single transfers, p50 {:.0} ms, max {:.0} ms (first sent {:.1} s after the window)",
        after_load.samples,
        after_load.p50,
        after_load.max,
        probe_started.duration_since(started).as_secs_f64() - window.as_secs_f64()
    );
    if killed.is_some() {
        eprintln!("restarting {}…", nodes[victim].name);
        children[victim] = crate::node_cmd::spawn_node(exe, &nodes[victim], true)?;
    }

    // Figures.
    let mut latencies = Vec::new();
    let mut in_window = 0u64;
    for (sent, done) in book.sent_at.iter().zip(&book.committed_at) {
        let (sent, done) = (sent.load(Ordering::Relaxed), done.load(Ordering::Relaxed));
        if done != UNSET {
            if done <= window_end {
                in_window += 1;
            }
            if sent != UNSET {
                latencies.push(done.saturating_sub(sent) as f64 / 1000.0);
            }
        }
    }
    let latency = Latency::of(latencies);
    let secs = window.as_secs_f64();
    let committed_txs_per_sec = in_window as f64 / secs;
    let committed_per_sec = committed_txs_per_sec * legs as f64;
    let sigchecks: Vec<(String, Option<f64>)> = nodes
        .iter()
        .zip(sigchecks_before.iter().zip(&sigchecks_after))
        .map(|(n, pair)| {
            let ratio = match pair {
                (Some((c0, t0)), Some((c1, t1))) if t1 > t0 => {
                    let r = c1.saturating_sub(*c0) as f64 / (t1 - t0) as f64;
                    Some((r * 100.0).round() / 100.0)
                }
                _ => None,
            };
            (n.name.clone(), ratio)
        })
        .collect();
    let cpu: Vec<(String, f64)> = nodes
        .iter()
        .zip(cpu_before.iter().zip(&cpu_after))
        .map(|(n, (b, a))| {
            let used = match (b, a) {
                (Some(b), Some(a)) => (a - b) / secs,
                _ => f64::NAN,
            };
            (n.name.clone(), (used * 100.0).round() / 100.0)
        })
        .collect();
    // Each node checks each signature once: the machine's verify rate is
    // shared by every node running on it.
    let limit = verify / nodes.len() as f64;

    // The ledger check: same state root everywhere, supply unchanged.
    eprintln!("checking the ledger on every node…");
    let final_height = clients[0].status().await?["height"].as_u64().unwrap_or(0);
    let mut roots = Vec::new();
    let checking = Instant::now();
    let mut catch_up_secs = 0.0f64;
    for (i, (n, c)) in nodes.iter().zip(&clients).enumerate() {
        // A node that fell behind during the run (the regulator checks
        // every signature itself) must catch up by itself: wait as long as
        // it makes progress, and fail only when it stalls.
        let mut best = 0u64;
        let mut progressed = Instant::now();
        let mut failure = String::new();
        loop {
            let h = match c.status().await {
                Ok(s) => s["height"].as_u64().unwrap_or(0),
                Err(e) => {
                    failure = format!(" (its status call failed: {e:#}; see its node.log)");
                    0
                }
            };
            if h >= final_height {
                break;
            }
            if h > best {
                best = h;
                progressed = Instant::now();
            }
            // Memory counts while catching up too.
            if let Some(r) = children[i].id().and_then(rss_mib) {
                max_rss[i] = max_rss[i].max(r);
            }
            if progressed.elapsed() > CATCH_UP_STALL {
                bail!(
                    "{} stalled at height {best} for {} s while catching up to {final_height} after the run{failure}",
                    n.name,
                    CATCH_UP_STALL.as_secs()
                );
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        catch_up_secs = catch_up_secs.max(checking.elapsed().as_secs_f64());
        let b = c.block_at(final_height).await?;
        roots.push(b["result"]["state_root"].clone());
    }
    let rss: Vec<(String, f64)> = nodes
        .iter()
        .zip(&max_rss)
        .map(|(n, r)| (n.name.clone(), r.round()))
        .collect();
    let state_roots_agree = roots.iter().all(|r| r.is_string() && *r == roots[0]);
    let kill = killed.map(|(at, committed_then)| {
        // Transfers committed by the end of the window (the drain after it
        // is not counted, as for the main figure).
        let in_window_before = (committed_then * legs) as f64;
        let after = (in_window.saturating_sub(committed_then) * legs) as f64;
        let before_rate = in_window_before / at;
        let after_rate = after / (secs - at).max(1.0);
        KillFigures {
            node: nodes[victim].name.clone(),
            at_secs: (at * 10.0).round() / 10.0,
            committed_per_sec_before: before_rate.round(),
            committed_per_sec_after: after_rate.round(),
            ratio_after_to_before: if before_rate > 0.0 {
                (after_rate / before_rate * 1000.0).round() / 1000.0
            } else {
                0.0
            },
            // The ledger check above waited for every node, the restarted
            // one included, to reach the final height.
            caught_up_after_restart: true,
        }
    });
    let supply_after = supply(&clients[0], genesis).await?;
    let supply_conserved = supply_before == supply_after;
    let (receipts_checked, receipts_unexpected) = check_receipts(&clients[0], &book).await?;

    let rejected = book
        .rejected
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    Ok(BenchResult {
        validators: args.validators,
        nodes: nodes.len(),
        workload: args.workload,
        submit: args.submit,
        mode: match args.rate {
            Some(r) => format!("open loop at {r}/s"),
            None => format!("closed loop, {} in flight", args.inflight),
        },
        seed,
        duration_secs: (secs * 100.0).round() / 100.0,
        presigned: book.items.len(),
        submitted: book.submitted.load(Ordering::Relaxed),
        committed: book.committed.load(Ordering::Relaxed),
        committed_in_window: in_window * legs,
        committed_per_sec: committed_per_sec.round(),
        transfers_per_tx: legs,
        committed_txs_per_sec: committed_txs_per_sec.round(),
        expected_failures,
        latency_ms: latency,
        rejected,
        retried_busy: book.retried_busy.load(Ordering::Relaxed),
        uncommitted_at_end,
        cpu_cores_per_node: cpu,
        signature_checks_per_tx_per_node: sigchecks,
        max_rss_mib_per_node: rss,
        verify_rate_per_sec: verify.round(),
        verify_threads: available_threads().get(),
        limit_per_sec: limit.round(),
        ratio_to_limit: if limit > 0.0 {
            (committed_txs_per_sec / limit * 1000.0).round() / 1000.0
        } else {
            0.0
        },
        final_height,
        catch_up_secs: (catch_up_secs * 10.0).round() / 10.0,
        state_roots_agree,
        supply_conserved,
        receipts_checked,
        receipts_unexpected,
        load_exhausted,
        kill,
        after_load_latency_ms: after_load,
    })
}

/// Transfers sent one at a time after the load, each waited for: their
/// submit-to-finality times. Senders are customers whose next sequence
/// number is read from the node (the load may have left some unsent).
async fn probe_latency(
    client: &Client,
    payers: &[Payer],
    chain_id: ChainId,
    height: u64,
    seed: u64,
) -> Result<Latency> {
    const PROBES: usize = 20;
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed ^ 0x9e37_79b9);
    let mut times = Vec::with_capacity(PROBES);
    for _ in 0..PROBES.min(payers.len()) {
        let payer = &payers[rng.gen_range(0..payers.len())];
        let to = &payers[rng.gen_range(0..payers.len())];
        let from = Address::of(&payer.key.public());
        let sequence = client.account(&from).await?["sequence"]
            .as_u64()
            .context("no sequence")?;
        let tx = Transaction {
            chain_id,
            sender: payer.key.public(),
            sequence: Nonce(sequence),
            expiry: Expiry::Height(Height(height + 1_000_000)),
            kind: TxKind::Transfer {
                to: Address::of(&to.key.public()),
                asset: AssetCode::new("CNY").map_err(|e| anyhow::anyhow!("{e}"))?,
                amount: Amount(1),
                transfer_id: TransferId(rng.gen()),
            },
            cosigner: None,
            memo: Vec::new(),
        }
        .sign(&payer.key);
        let sent = Instant::now();
        let hash = match client.submit(&tx).await {
            Ok(hash) => hash,
            // A sequence taken meanwhile by a late transfer of the load:
            // skip this probe.
            Err(e) if e.rejection_code().is_some() => continue,
            Err(e) => return Err(e.into()),
        };
        // Not final within a minute: counted as a minute (the figure then
        // says so), not an abort of the whole run and its ledger check.
        let _ = client.wait_final(&hash, Duration::from_secs(60)).await;
        times.push(sent.elapsed().as_secs_f64() * 1000.0);
    }
    Ok(Latency::of(times))
}

/// Sends transfers until told to stop: in batches or one by one, paced
/// to `rate` per second (open loop) or keeping at most `inflight`
/// uncommitted (closed loop).
#[allow(clippy::too_many_arguments)]
async fn submit_loop(
    client: Client,
    book: Arc<Book>,
    alive: Arc<AtomicBool>,
    path: SubmitPath,
    batch: usize,
    rate: Option<f64>,
    inflight: u64,
) {
    let per_call = match (path, rate) {
        (SubmitPath::Single, _) => 1,
        // Open loop: calls about every 20 ms, not bursts of a whole batch.
        (SubmitPath::Batch, Some(rate)) => ((rate / 50.0).ceil() as usize).clamp(1, batch),
        // Closed loop: a call never holds more than the loop allows (few
        // transactions when each is a batch payout of many transfers).
        (SubmitPath::Batch, None) => batch.min(inflight as usize).max(1),
    };
    let started = Instant::now();
    let mut sent = 0f64;
    while !book.stop.load(Ordering::Relaxed) && alive.load(Ordering::Relaxed) {
        // How late this call is against the open loop's schedule: latency
        // counts from the scheduled moment, so a submitter that falls
        // behind does not hide the wait (no coordinated omission).
        let mut late = Duration::ZERO;
        match rate {
            Some(rate) => {
                // Open loop: the schedule, not the chain, sets the pace.
                let due = sent / rate;
                let now = started.elapsed().as_secs_f64();
                if due > now {
                    tokio::time::sleep(Duration::from_secs_f64(due - now)).await;
                } else {
                    late = Duration::from_secs_f64(now - due);
                }
            }
            None => {
                if book.inflight() + per_call as u64 > inflight {
                    tokio::time::sleep(Duration::from_millis(2)).await;
                    continue;
                }
            }
        }
        let ids = book.take(per_call);
        if ids.is_empty() {
            if book.exhausted() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
            continue;
        }
        sent += ids.len() as f64;
        let now = book.now().saturating_sub(late.as_micros() as u64);
        for id in &ids {
            // The first send counts: a busy retry keeps its original time.
            let _ = book.sent_at[*id as usize].compare_exchange(
                UNSET,
                now,
                Ordering::Relaxed,
                Ordering::Relaxed,
            );
        }
        book.submitted
            .fetch_add(ids.len() as u64, Ordering::Relaxed);
        let verdicts: Vec<Value> = if per_call == 1 {
            let id = ids[0];
            match client.submit_hex(&book.items[id as usize].hex).await {
                Ok(_) => vec![serde_json::json!({"status": "pending"})],
                Err(e) => match e.rejection_code() {
                    Some(code) => {
                        let retryable = matches!(&e, hutong_node::client::ClientError::Rpc { data: Some(d), .. } if d["retryable"] == true);
                        vec![
                            serde_json::json!({"status": "rejected", "code": code, "retryable": retryable}),
                        ]
                    }
                    None => vec![
                        serde_json::json!({"status": "rejected", "code": "transport", "retryable": true}),
                    ],
                },
            }
        } else {
            let hexes: Vec<&str> = ids
                .iter()
                .map(|i| book.items[*i as usize].hex.as_str())
                .collect();
            match client.submit_many_hex(&hexes).await {
                Ok(v) => v,
                // The call failed as a whole: every transfer in it is
                // retried (a pending one is recognised by its hash).
                Err(_) => ids
                    .iter()
                    .map(|_| serde_json::json!({"status": "rejected", "code": "transport", "retryable": true}))
                    .collect(),
            }
        };
        // Mostly bounced ("busy"): back off a little, as a wallet would,
        // instead of spinning on the node.
        if book.verdicts(&ids, &verdicts) * 2 >= ids.len() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Reads back the receipts of up to [`RECEIPTS_CHECKED_MAX`] committed
/// transactions, evenly spread over the load: each must have succeeded,
/// or failed if the workload made it to fail. A figure made of failed
/// transfers would be no figure. Returns (checked, unexpected).
async fn check_receipts(client: &Client, book: &Book) -> Result<(u64, u64)> {
    let mut committed: Vec<(u32, Hash)> = book
        .index
        .iter()
        .filter(|(_, id)| book.committed_at[**id as usize].load(Ordering::Relaxed) != UNSET)
        .map(|(hash, id)| (*id, *hash))
        .collect();
    committed.sort_unstable_by_key(|(id, _)| *id);
    let step = committed.len().div_ceil(RECEIPTS_CHECKED_MAX).max(1);
    let (mut checked, mut unexpected) = (0u64, 0u64);
    for (id, hash) in committed.iter().step_by(step) {
        let v = client
            .transaction(hash)
            .await
            .context("reading a receipt back")?;
        let success = v["receipt"]["success"].as_bool();
        checked += 1;
        if success != Some(!book.items[*id as usize].failing) {
            unexpected += 1;
            if unexpected <= 3 {
                eprintln!("unexpected receipt: {v}");
            }
        }
    }
    Ok((checked, unexpected))
}

/// Follows node 0's committed blocks and stamps each transfer of the load
/// with the moment its block was announced.
async fn watch_commits(client: Client, book: Arc<Book>, from: u64) {
    let mut next = from + 1;
    let mut blocks = client.subscribe_blocks().await.ok();
    loop {
        // Woken by an announcement, or every 250 ms if the subscription
        // lagged or is gone: heights are then fetched one by one.
        match blocks.as_mut() {
            Some(b) => {
                let _ = tokio::time::timeout(Duration::from_millis(250), b.next()).await;
            }
            None => tokio::time::sleep(Duration::from_millis(250)).await,
        }
        let Ok(status) = client.status().await else {
            continue;
        };
        let tip = status["height"].as_u64().unwrap_or(0);
        while next <= tip {
            let Ok(block) = client.block_at(next).await else {
                break;
            };
            let now = book.now();
            if let Some(txs) = block["txs"].as_array() {
                for h in txs {
                    let Some(hash) = h.as_str().and_then(|s| Hash::from_hex(s).ok()) else {
                        continue;
                    };
                    if let Some(&id) = book.index.get(&hash) {
                        if book.committed_at[id as usize]
                            .compare_exchange(UNSET, now, Ordering::Relaxed, Ordering::Relaxed)
                            .is_ok()
                        {
                            book.committed.fetch_add(1, Ordering::Relaxed);
                            book.settled.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            }
            next += 1;
        }
    }
}

fn print_summary(r: &BenchResult) {
    say!();
    say!(
        "hutong bench: {} validator{}{}, {:?} workload, {:?} submission, {}",
        r.validators,
        if r.validators == 1 { "" } else { "s" },
        if r.nodes > r.validators {
            " + regulator"
        } else {
            ""
        },
        r.workload,
        r.submit,
        r.mode
    );
    say!(
        "  committed       {} transfers in {:.1} s = {:.0} transfers/s ({} expected to fail by design)",
        r.committed_in_window, r.duration_secs, r.committed_per_sec, r.expected_failures
    );
    if r.transfers_per_tx > 1 {
        say!(
            "                  in batch transfers of {} recipients: {:.0} transactions/s (signatures)",
            r.transfers_per_tx,
            r.committed_txs_per_sec
        );
    }
    say!(
        "  commit latency  p50 {:.0} ms  p90 {:.0} ms  p99 {:.0} ms  max {:.0} ms  ({} samples, submit to finality)",
        r.latency_ms.p50, r.latency_ms.p90, r.latency_ms.p99, r.latency_ms.max, r.latency_ms.samples
    );
    say!(
        "  rejected        {:?}; busy retries {}; uncommitted after 30 s drain {}",
        r.rejected,
        r.retried_busy,
        r.uncommitted_at_end
    );
    say!(
        "  machine limit   ed25519 batch verify {:.0}/s on {} threads; {} nodes check every signature: limit {:.0} transactions/s; achieved {:.1}% of it",
        r.verify_rate_per_sec,
        r.verify_threads,
        r.nodes,
        r.limit_per_sec,
        r.ratio_to_limit * 100.0
    );
    let cpu: Vec<String> = r
        .cpu_cores_per_node
        .iter()
        .zip(&r.max_rss_mib_per_node)
        .zip(&r.signature_checks_per_tx_per_node)
        .map(|(((n, c), (_, m)), (_, s))| match s {
            Some(s) => format!("{n} {c:.2} cores {m:.0} MiB {s:.2} sig checks/tx"),
            None => format!("{n} {c:.2} cores {m:.0} MiB"),
        })
        .collect();
    say!("  per node        {}", cpu.join(", "));
    say!(
        "  ledger          height {} (every node there {:.1} s after the run); state roots {}; supply {}",
        r.final_height,
        r.catch_up_secs,
        if r.state_roots_agree {
            "agree"
        } else {
            "DISAGREE"
        },
        if r.supply_conserved {
            "conserved"
        } else {
            "CHANGED"
        }
    );
    say!(
        "  receipts        {} read back, {} not as the workload meant",
        r.receipts_checked,
        r.receipts_unexpected
    );
    let a = &r.after_load_latency_ms;
    say!(
        "  after the load  {} single transfers one at a time: p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
        a.samples, a.p50, a.p99, a.max
    );
    if let Some(k) = &r.kill {
        say!(
            "  kill -9         {} at {:.0} s: {:.0}/s before, {:.0}/s after ({:.0}% of before); restarted, caught up",
            k.node,
            k.at_secs,
            k.committed_per_sec_before,
            k.committed_per_sec_after,
            k.ratio_after_to_before * 100.0
        );
    }
    if r.load_exhausted {
        say!("  note: the pre-signed load ran out before the duration; use --txs for more");
    }
    say!("  seed {}", r.seed);
}

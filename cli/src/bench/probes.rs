//! What the run measures besides commits: the machine's verify rate,
//! the nodes' CPU, memory and signature checks, and latency after the
//! load.

use std::time::{Duration, Instant};

use anyhow::Result;
use hutong_host::sigverify::{available_threads, verify_parallel};
use hutong_node::client::Client;
use hutong_runtime::tx::Expiry;
use hutong_runtime::{
    Address, Amount, AssetCode, ChainId, Height, Nonce, SignedTransaction, Transaction, TransferId,
    TxKind,
};
use rand::{Rng, SeedableRng};

use super::load::Payer;
use super::report::Latency;
use crate::node_cmd::TestnetNode;

/// The machine's ed25519 batch-verification rate on all cores, best of 3.
pub(super) fn verify_rate(sample: &[SignedTransaction]) -> f64 {
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
pub(super) fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / clock_ticks())
}

pub(super) fn clock_ticks() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// What a node's metrics endpoint says of its work so far: signature
/// checks (admission, proposals and execution together), committed
/// transactions, and CPU seconds by stage (`hutong_cpu_seconds_total`).
#[derive(Debug, Clone, Default)]
pub(super) struct NodeCounters {
    pub checks: u64,
    pub committed: u64,
    pub cpu_by_stage: std::collections::BTreeMap<String, f64>,
}

/// A node's counters; `None` when it has no metrics endpoint or does not
/// answer in time.
pub(super) async fn node_counters(node: &TestnetNode) -> Option<NodeCounters> {
    let text = std::fs::read_to_string(node.home.join("config.toml")).ok()?;
    let config: toml::Value = toml::from_str(&text).ok()?;
    let addr = config
        .get("metrics")?
        .get("listen")?
        .as_str()?
        .parse()
        .ok()?;
    let body = hutong_node::client::metrics(addr).await.ok()?;
    let checks = hutong_node::client::metric_sum(&body, "hutong_signature_checks_total")?;
    let committed = hutong_node::client::metric_sum(&body, "hutong_committed_txs_total")?;
    Some(NodeCounters {
        checks: checks as u64,
        committed: committed as u64,
        cpu_by_stage: hutong_node::client::metric_by_label(
            &body,
            "hutong_cpu_seconds_total",
            "stage",
        ),
    })
}

pub(super) async fn counters_all(nodes: &[TestnetNode]) -> Vec<Option<NodeCounters>> {
    let mut out = Vec::with_capacity(nodes.len());
    for node in nodes {
        out.push(node_counters(node).await);
    }
    out
}

pub(super) fn rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// Transfers sent one at a time after the load, each waited for: their
/// submit-to-finality times. Senders are customers whose next sequence
/// number is read from the node (the load may have left some unsent).
pub(super) async fn probe_latency(
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
        let sequence = client.account(&from).await?.sequence;
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

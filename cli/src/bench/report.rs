//! What a run reports: its figures, as JSON or as a summary.

use std::collections::HashMap;

use serde::Serialize;

use super::{SubmitPath, Workload};
use crate::out::say;

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
    /// CPU µs each node spent per transfer it committed in the window, and
    /// how they split by stage.
    pub cpu_us_per_transfer_per_node: Vec<NodeCpu>,
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

/// A node's CPU per committed transfer (µs), by stage, as the node
/// measures them on their threads (`hutong_cpu_seconds_total`): the block
/// path's stages, signature checks, admission, RPC, consensus, network
/// and RocksDB's background threads; `other` is the rest of the process
/// (the async runtime's scheduling and timers, threads no stage claims).
#[derive(Debug, Serialize)]
pub struct NodeCpu {
    pub node: String,
    pub total: f64,
    pub stages: Vec<(String, f64)>,
}

impl NodeCpu {
    pub fn of(
        node: &str,
        cpu_secs: f64,
        before: &std::collections::BTreeMap<String, f64>,
        after: &std::collections::BTreeMap<String, f64>,
        transfers: u64,
    ) -> NodeCpu {
        let per = |secs: f64| (secs * 1e6 / transfers as f64 * 10.0).round() / 10.0;
        let mut stages = Vec::new();
        let mut measured = 0.0;
        for (stage, a) in after {
            let used = (a - before.get(stage).copied().unwrap_or(0.0)).max(0.0);
            measured += used;
            stages.push((stage.clone(), per(used)));
        }
        stages.sort_by(|a, b| b.1.total_cmp(&a.1));
        stages.push(("other".to_string(), per((cpu_secs - measured).max(0.0))));
        NodeCpu {
            node: node.to_string(),
            total: per(cpu_secs),
            stages,
        }
    }
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
    pub(super) fn of(mut samples: Vec<f64>) -> Latency {
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

pub(super) fn print_summary(r: &BenchResult) {
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
    for n in &r.cpu_us_per_transfer_per_node {
        let stages: Vec<String> = n
            .stages
            .iter()
            .filter(|(_, us)| *us > 0.0)
            .map(|(s, us)| format!("{} {us:.1}", s.replace('_', " ")))
            .collect();
        say!(
            "  CPU/transfer    {} {:.1} µs: {}",
            n.node,
            n.total,
            stages.join(", ")
        );
    }
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

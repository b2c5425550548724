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

mod drive;
mod ledger;
mod load;
mod probes;
mod report;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};
use hutong_genesis::Genesis;
use hutong_host::sigverify::available_threads;
use hutong_node::client::Client;
use hutong_runtime::crypto::Hash;
use hutong_runtime::tx::BATCH_RECIPIENTS_MAX;
use hutong_runtime::{ChainId, Height};
use hutong_wire::rpc::SUBMIT_BATCH_MAX;
use serde::Serialize;

use crate::node_cmd::{prepare_chain_dir, spawn_nodes, stop_nodes, testnet_nodes, TestnetNode};
use crate::out::say;
use drive::{submit_loop, watch_commits, Book, UNSET};
use ledger::{check_receipts, supply};
use load::{load_payers, presign, read_keys, PRESIGNED_MAX};
use probes::{counters_all, cpu_seconds, probe_latency, rss_mib, verify_rate};
use report::{print_summary, BenchResult, KillFigures, Latency, NodeCpu};

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
    /// Two-phase payments: each customer places a hold for a random other
    /// customer, then captures it (two transactions per payment; compare
    /// transactions per second with `uniform`: a hold and its capture
    /// should cost at most two transfers).
    Holds,
    /// Payments versus payments: each customer pays one minor unit of CNY
    /// or HKD to the chain's FX provider, which pays a random other
    /// customer one minor unit of the other asset, at a quote the
    /// provider signed for that payment (two legs and a quote signature
    /// per transaction).
    Pvp,
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

pub fn bench(args: BenchArgs) -> Result<()> {
    if args.validators != 1 && args.validators != 4 {
        bail!(
            "--validators {}: the bench runs 1 (a development chain) or 4 (with a regulator)",
            args.validators
        );
    }
    if args.batch == 0 || args.batch > SUBMIT_BATCH_MAX {
        bail!("--batch must be 1 to {}", SUBMIT_BATCH_MAX);
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
    let genesis = crate::genesis_cmd::load_genesis(&dir.join("genesis.toml"))?;
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
                if s.height >= 1 {
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
        Hash::from_hex(&status.chain_id)
            .context("node reported no chain id")?
            .0,
    );
    let height = status.height;
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
                genesis.params.fx_providers.first().copied(),
                seed,
            )
        })?
    };
    eprintln!(
        "signed in {:.1} s; measuring the batch-verify rate…",
        signing.elapsed().as_secs_f64()
    );
    let verify = tokio::task::block_in_place(|| verify_rate(&sample));
    drop(sample);

    let expected_failures = items.iter().filter(|i| i.failing).count() as u64;
    let book = Arc::new(Book::new(items));
    let cpu_before: Vec<Option<f64>> = pids.iter().map(|p| p.and_then(cpu_seconds)).collect();
    let counters_before = counters_all(nodes).await;

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
    let counters_after = counters_all(nodes).await;
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
        .zip(counters_before.iter().zip(&counters_after))
        .map(|(n, pair)| {
            let ratio = match pair {
                (Some(b), Some(a)) if a.committed > b.committed => {
                    let r = a.checks.saturating_sub(b.checks) as f64
                        / (a.committed - b.committed) as f64;
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
    // CPU per committed transfer, each node by its own commits in the
    // window: the whole process, its measured stages, and the rest.
    let cpu_per_transfer: Vec<NodeCpu> = nodes
        .iter()
        .zip(cpu_before.iter().zip(&cpu_after))
        .zip(counters_before.iter().zip(&counters_after))
        .filter_map(|((n, cpu), counters)| {
            let (Some(cpu0), Some(cpu1)) = cpu else {
                return None;
            };
            let (Some(c0), Some(c1)) = counters else {
                return None;
            };
            let transfers = c1.committed.saturating_sub(c0.committed) * legs;
            if transfers == 0 {
                return None;
            }
            Some(NodeCpu::of(
                &n.name,
                cpu1 - cpu0,
                &c0.cpu_by_stage,
                &c1.cpu_by_stage,
                transfers,
            ))
        })
        .collect();
    // Each node checks each signature once: the machine's verify rate is
    // shared by every node running on it.
    let limit = verify / nodes.len() as f64;

    // The ledger check: same state root everywhere, supply unchanged.
    eprintln!("checking the ledger on every node…");
    let final_height = clients[0].status().await?.height;
    let (roots, catch_up_secs) =
        ledger::every_node_at(final_height, nodes, &clients, children, &mut max_rss).await?;
    let rss: Vec<(String, f64)> = nodes
        .iter()
        .zip(&max_rss)
        .map(|(n, r)| (n.name.clone(), r.round()))
        .collect();
    let state_roots_agree = roots.iter().all(|r| r.is_some() && *r == roots[0]);
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
        cpu_us_per_transfer_per_node: cpu_per_transfer,
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

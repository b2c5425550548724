//! A Prometheus endpoint: `GET /metrics` in the text exposition format,
//! on its own port. Deliberately small: a bounded number of connections,
//! a bounded request, a read timeout.

use std::fmt::Write as _;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use hutong_host::mempool::Mempool;
use hutong_host::util::lock;

use crate::ledger::Ledger;
use crate::status::NodeStatus;

/// What the metrics endpoint reads.
#[derive(Debug, Clone)]
pub struct MetricsSources {
    pub ledger: Ledger,
    pub status: NodeStatus,
    pub pool: Arc<std::sync::Mutex<Mempool>>,
}

const CONNECTIONS_MAX: usize = 16;
const REQUEST_BYTES_MAX: usize = 8 * 1024;

/// Renders every metric.
pub fn render(sources: &MetricsSources) -> String {
    let mut out = String::new();
    let executed = sources.ledger.executed();
    let consensus = lock(&sources.status.consensus).clone();
    let mempool = lock(&sources.pool).stats();
    let peers = lock(&sources.status.peers).clone();
    let c = &sources.status.counters;
    let mut gauge = |name: &str, help: &str, kind: &str, value: u64| {
        let _ = writeln!(
            out,
            "# HELP hutong_{name} {help}\n# TYPE hutong_{name} {kind}\nhutong_{name} {value}"
        );
    };
    gauge(
        "height",
        "Height of the last executed block.",
        "gauge",
        executed.height,
    );
    gauge(
        "round",
        "Current consensus round.",
        "gauge",
        consensus.round,
    );
    gauge(
        "epoch",
        "Current consensus epoch.",
        "gauge",
        consensus.epoch,
    );
    gauge(
        "committed_blocks_total",
        "Blocks executed and stored since start.",
        "counter",
        c.committed_blocks.load(Ordering::Relaxed),
    );
    gauge(
        "committed_txs_total",
        "Transactions executed and stored since start.",
        "counter",
        c.committed_txs.load(Ordering::Relaxed),
    );
    gauge(
        "submitted_txs_total",
        "Transactions submitted to this node since start.",
        "counter",
        c.submitted_txs.load(Ordering::Relaxed),
    );
    gauge(
        "timeouts_total",
        "Round timeouts since start.",
        "counter",
        consensus.timeouts,
    );
    gauge(
        "proposals_total",
        "Blocks this node proposed since start.",
        "counter",
        consensus.proposals,
    );
    gauge(
        "equivocations_total",
        "Equivocations observed since start.",
        "counter",
        consensus.equivocations,
    );
    gauge(
        "deferred_proposals_total",
        "Proposals let pass because execution was too far behind consensus (caught up later by sync).",
        "counter",
        consensus.deferred_proposals,
    );
    gauge(
        "execution_backlog_blocks",
        "Committed blocks not executed yet.",
        "gauge",
        consensus.backlog_blocks,
    );
    gauge(
        "execution_backlog_txs",
        "Transactions in committed blocks not executed yet.",
        "gauge",
        consensus.backlog_txs,
    );
    gauge(
        "mempool_txs",
        "Transactions in the mempool.",
        "gauge",
        mempool.txs as u64,
    );
    gauge(
        "mempool_bytes",
        "Bytes of transactions in the mempool.",
        "gauge",
        mempool.bytes as u64,
    );
    gauge(
        "peers",
        "Connected peers.",
        "gauge",
        peers.connected.len() as u64,
    );
    gauge(
        "refused_connections_total",
        "Connections refused from non-members.",
        "counter",
        peers.refused_connections,
    );
    gauge(
        "bad_peer_messages_total",
        "Undecodable messages from peers.",
        "counter",
        peers.bad_messages,
    );
    gauge(
        "dropped_peer_events_total",
        "Peer messages dropped because the node was busy.",
        "counter",
        peers.dropped_events,
    );
    gauge(
        "rpc_connections_refused_total",
        "JSON-RPC connections closed at once: the node or the client address at its limit.",
        "counter",
        c.rpc_connections_refused.load(Ordering::Relaxed),
    );
    gauge(
        "rocksdb_block_writes_total",
        "Synced block write batches.",
        "counter",
        c.rocksdb_writes.load(Ordering::Relaxed),
    );
    gauge(
        "halted",
        "1 if execution halted on a state divergence.",
        "gauge",
        u64::from(sources.status.halt.reason().is_some()),
    );
    let db = sources.ledger.db.memory();
    gauge(
        "rocksdb_memtable_bytes",
        "RocksDB memtables, flushed-but-kept ones included.",
        "gauge",
        db.memtables,
    );
    gauge(
        "rocksdb_table_readers_bytes",
        "RocksDB table-reader memory outside the block cache.",
        "gauge",
        db.table_readers,
    );
    gauge(
        "rocksdb_block_cache_bytes",
        "RocksDB block cache in use.",
        "gauge",
        db.block_cache,
    );
    gauge(
        "rocksdb_block_cache_pinned_bytes",
        "RocksDB block cache pinned (not evictable).",
        "gauge",
        db.block_cache_pinned,
    );
    let cache = sources.ledger.db.state_cache_stats();
    gauge(
        "state_cache_entries",
        "State values held decoded in the node's state cache.",
        "gauge",
        cache.entries,
    );
    gauge(
        "state_cache_hits_total",
        "State reads answered by the state cache.",
        "counter",
        cache.hits,
    );
    gauge(
        "state_cache_misses_total",
        "State reads that went to RocksDB (transfer records are never cached).",
        "counter",
        cache.misses,
    );
    if let Some(rss) = resident_bytes() {
        gauge(
            "resident_memory_bytes",
            "Resident memory of the node process.",
            "gauge",
            rss,
        );
    }
    let _ = writeln!(
        out,
        "# HELP hutong_rocksdb_block_write_seconds_total Time spent in synced block writes.\n# TYPE hutong_rocksdb_block_write_seconds_total counter\nhutong_rocksdb_block_write_seconds_total {:.6}",
        c.rocksdb_write_micros_total.load(Ordering::Relaxed) as f64 / 1e6
    );
    let _ = writeln!(out, "# HELP hutong_rejected_txs_total Transactions rejected at admission, by code.\n# TYPE hutong_rejected_txs_total counter");
    for code in hutong_host::mempool::Rejection::ALL_CODES {
        let n = lock(&c.rejected).get(code).copied().unwrap_or(0);
        let _ = writeln!(out, "hutong_rejected_txs_total{{code=\"{code}\"}} {n}");
    }
    let _ = writeln!(out, "# HELP hutong_signature_checks_total Transactions whose signatures this node checked: on admission, in a proposal (not pooled here), at execution (no verdicts kept).\n# TYPE hutong_signature_checks_total counter");
    for (at, counter) in [
        ("admission", &c.sigchecks_admission),
        ("proposal", &c.sigchecks_proposal),
        ("execution", &c.sigchecks_execution),
    ] {
        let n = counter.load(Ordering::Relaxed);
        let _ = writeln!(out, "hutong_signature_checks_total{{at=\"{at}\"}} {n}");
    }
    let _ = writeln!(out, "# HELP hutong_cpu_seconds_total CPU time (thread time) by stage: each of a block's path, signature checks, and the async work (admission, RPC, consensus, network; charged per poll); storage_background is RocksDB's flush and compaction threads. The rest of the process's CPU is the async runtime's own.\n# TYPE hutong_cpu_seconds_total counter");
    for stage in hutong_host::status::CpuStage::ALL {
        let ns = c.cpu_nanos[stage as usize].load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "hutong_cpu_seconds_total{{stage=\"{}\"}} {:.6}",
            stage.name(),
            ns as f64 / 1e9
        );
    }
    if let Some(ns) = crate::cpu::storage_background_nanos() {
        let _ = writeln!(
            out,
            "hutong_cpu_seconds_total{{stage=\"storage_background\"}} {:.6}",
            ns as f64 / 1e9
        );
    }
    let _ = writeln!(out, "# HELP hutong_signature_checks_skipped_total Transactions admitted on f+1 validators' attestations, without checking their signatures here.\n# TYPE hutong_signature_checks_skipped_total counter\nhutong_signature_checks_skipped_total {}", c.sigchecks_attested.load(Ordering::Relaxed));
    let _ = writeln!(out, "# HELP hutong_attestations_sent_total Shared batches this node checked as a named co-verifier and attested.\n# TYPE hutong_attestations_sent_total counter\nhutong_attestations_sent_total {}", c.attestations_sent.load(Ordering::Relaxed));
    let _ = writeln!(out, "# HELP hutong_attestation_fallbacks_total Shared batches checked here because f+1 attestations did not arrive in time.\n# TYPE hutong_attestation_fallbacks_total counter\nhutong_attestation_fallbacks_total {}", c.attestation_fallbacks.load(Ordering::Relaxed));
    let _ = writeln!(out, "# HELP hutong_attestation_faults_total Attested batches found holding a bad signature (evidence against their origin; logged in full).\n# TYPE hutong_attestation_faults_total counter\nhutong_attestation_faults_total {}", c.attestation_faults.load(Ordering::Relaxed));
    let _ = writeln!(out, "# HELP hutong_consensus_dropped_total Consensus messages dropped, by reason.\n# TYPE hutong_consensus_dropped_total counter");
    for (reason, n) in &consensus.dropped {
        let _ = writeln!(
            out,
            "hutong_consensus_dropped_total{{reason=\"{reason}\"}} {n}"
        );
    }
    out
}

/// The process's resident set, from `/proc/self/status` (Linux only).
fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Starts serving; returns the bound address.
pub async fn start(
    addr: SocketAddr,
    sources: Arc<MetricsSources>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen for metrics on {addr}: {e}"))?;
    let local = listener.local_addr()?;
    let permits = Arc::new(tokio::sync::Semaphore::new(CONNECTIONS_MAX));
    tokio::spawn(async move {
        tokio::pin!(shutdown);
        loop {
            let accepted = tokio::select! {
                _ = &mut shutdown => return,
                a = listener.accept() => a,
            };
            let Ok((mut stream, _)) = accepted else {
                continue;
            };
            let Ok(permit) = permits.clone().try_acquire_owned() else {
                continue; // over the limit: the connection is dropped
            };
            let sources = sources.clone();
            tokio::spawn(async move {
                let _permit = permit;
                let mut buf = vec![0u8; REQUEST_BYTES_MAX];
                let mut len = 0;
                let read = tokio::time::timeout(Duration::from_secs(5), async {
                    while len < buf.len() {
                        let n = stream.read(&mut buf[len..]).await?;
                        if n == 0 {
                            break;
                        }
                        len += n;
                        if buf[..len].windows(4).any(|w| w == b"\r\n\r\n") {
                            break;
                        }
                    }
                    Ok::<_, std::io::Error>(())
                })
                .await;
                if !matches!(read, Ok(Ok(()))) {
                    return;
                }
                let ok = buf[..len].starts_with(b"GET /metrics ");
                let (status, body) = if ok {
                    ("200 OK", render(&sources))
                } else {
                    (
                        "404 Not Found",
                        "only GET /metrics is served here\n".to_string(),
                    )
                };
                let response = format!(
                    "HTTP/1.1 {status}\r\ncontent-type: text/plain; version=0.0.4\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(response.as_bytes()).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    Ok(local)
}

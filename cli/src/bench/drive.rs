//! Driving the load: the shared bookkeeping, the submitters, and the
//! watcher that stamps each transfer with the moment its block commits.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hutong_node::client::Client;
use hutong_runtime::crypto::Hash;
use hutong_wire::rpc::{RejectionData, SubmitVerdict};

use super::load::Item;
use super::SubmitPath;

/// The run's shared bookkeeping. Times are microseconds since `t0`.
pub(super) struct Book {
    t0: Instant,
    pub(super) items: Vec<Item>,
    pub(super) index: HashMap<Hash, u32>,
    pub(super) sent_at: Vec<AtomicU64>,
    pub(super) committed_at: Vec<AtomicU64>,
    pub(super) next: AtomicUsize,
    pub(super) retry: Mutex<Vec<u32>>,
    pub(super) submitted: AtomicU64,
    pub(super) committed: AtomicU64,
    pub(super) settled: AtomicU64,
    pub(super) retried_busy: AtomicU64,
    pub(super) rejected: Mutex<HashMap<String, u64>>,
    pub(super) stop: AtomicBool,
}

pub(super) const UNSET: u64 = u64::MAX;

impl Book {
    /// The bookkeeping of a run of `items`; its clock starts now.
    pub(super) fn new(items: Vec<Item>) -> Book {
        let index = items
            .iter()
            .enumerate()
            .map(|(i, item)| (item.hash, i as u32))
            .collect();
        Book {
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
        }
    }

    pub(super) fn now(&self) -> u64 {
        self.t0.elapsed().as_micros() as u64
    }

    pub(super) fn inflight(&self) -> u64 {
        self.submitted
            .load(Ordering::Relaxed)
            .saturating_sub(self.settled.load(Ordering::Relaxed))
    }

    /// Up to `n` transfers to send: retries first, then new ones.
    pub(super) fn take(&self, n: usize) -> Vec<u32> {
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

    pub(super) fn exhausted(&self) -> bool {
        self.next.load(Ordering::Relaxed) >= self.items.len()
            && self
                .retry
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .is_empty()
    }

    /// Records the node's verdicts on `ids`; returns how many are to be
    /// retried ("busy").
    pub(super) fn verdicts(&self, ids: &[u32], verdicts: &[SubmitVerdict]) -> usize {
        let mut retry = 0;
        for (id, v) in ids.iter().zip(verdicts) {
            let SubmitVerdict::Rejected { why } = v else {
                continue;
            };
            let code = why.code.clone();
            if why.retryable {
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

/// Sends transfers until told to stop: in batches or one by one, paced
/// to `rate` per second (open loop) or keeping at most `inflight`
/// uncommitted (closed loop).
#[allow(clippy::too_many_arguments)]
pub(super) async fn submit_loop(
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
        let verdicts: Vec<SubmitVerdict> = if per_call == 1 {
            let id = ids[0];
            match client.submit_hex(&book.items[id as usize].hex).await {
                Ok(hash) => vec![SubmitVerdict::Pending {
                    hash: hash.to_string(),
                }],
                Err(e) => vec![SubmitVerdict::Rejected {
                    why: e.rejection().unwrap_or_else(transport_failure),
                }],
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
                    .map(|_| SubmitVerdict::Rejected {
                        why: transport_failure(),
                    })
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

/// Follows node 0's committed blocks and stamps each transfer of the load
/// with the moment its block was announced.
pub(super) async fn watch_commits(client: Client, book: Arc<Book>, from: u64) {
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
        let tip = status.height;
        while next <= tip {
            let Ok(block) = client.block_at(next).await else {
                break;
            };
            let now = book.now();
            {
                for h in &block.txs {
                    let Ok(hash) = Hash::from_hex(h) else {
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

/// The verdict of a call that failed as a whole: retried.
pub(super) fn transport_failure() -> RejectionData {
    RejectionData {
        code: "transport".into(),
        retryable: true,
        message: "the call failed".into(),
        used_by: None,
    }
}

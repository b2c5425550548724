//! CPU time by stage, for the metrics endpoint and `hutong bench`: each
//! stage of a block's path charges the thread time it used (the thread's
//! CPU clock, `CLOCK_THREAD_CPUTIME_ID`, in nanoseconds) to its counter,
//! and the host's parallel signature checks are measured on each of their
//! threads through the [`meter`] the node gives it. The clock is exact to
//! the nanosecond at every read (the kernel brings the running thread's
//! time up to date), unlike `/proc`'s per-thread figures, which advance
//! only at scheduler ticks and would miss most of a short stage.
//!
//! The node's async work (admission, RPC, consensus, the network) shares
//! the runtime's threads, so its tasks are wrapped in [`Metered`], which
//! charges their polls, a sample of them at the top of a thread (see
//! [`POLL_SAMPLING`]). RocksDB's own background threads are read from
//! `/proc` ([`storage_background_nanos`]).

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use hutong_host::status::{Counters, CpuStage, Meter};

/// The calling thread's CPU time so far, in nanoseconds.
pub fn thread_nanos() -> Option<u64> {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    let secs = u64::try_from(t.tv_sec).ok()?;
    let nanos = u64::try_from(t.tv_nsec).ok()?;
    secs.checked_mul(1_000_000_000)?.checked_add(nanos)
}

thread_local! {
    /// The CPU time measured so far by measurements nested inside the one
    /// running on this thread (charged to their own stages, so the outer
    /// one leaves it out).
    static NESTED: Cell<u64> = const { Cell::new(0) };
    /// How many measurements (or unmeasured polls) run on this thread now.
    static DEPTH: Cell<u32> = const { Cell::new(0) };
    /// The state of this thread's sampling choices (xorshift64).
    static DICE: Cell<u64> = const { Cell::new(0) };
}

/// One in this many polls of a metered future that runs at the top of
/// its thread is measured, and counts for this many: a read of the
/// thread's CPU clock is a system call (~0.7 µs here), and the network's
/// and consensus's tasks are polled many thousand times a second. The
/// choice is random, so the total is unbiased whatever the order in which
/// the tasks run; over a benchmark's millions of polls its error is
/// negligible.
const POLL_SAMPLING: u64 = 8;

/// Runs `work` and answers its CPU time on this thread, less what
/// measurements nested inside it took (they charge their own stage).
fn exclusive<R>(work: impl FnOnce() -> R) -> (R, u64) {
    let outer = NESTED.with(|n| n.replace(0));
    DEPTH.with(|d| d.set(d.get() + 1));
    let start = thread_nanos();
    let out = work();
    let total = match (start, thread_nanos()) {
        (Some(start), Some(end)) => end.saturating_sub(start),
        _ => 0,
    };
    DEPTH.with(|d| d.set(d.get().saturating_sub(1)));
    let nested = NESTED.with(|n| n.replace(outer.saturating_add(total)));
    (out, total.saturating_sub(nested))
}

/// Whether to measure this top-level poll (probability 1 /
/// [`POLL_SAMPLING`]).
fn sample() -> bool {
    DICE.with(|dice| {
        let mut x = dice.get();
        if x == 0 {
            // Seeded per thread from where its state lives; never zero.
            x = (dice as *const Cell<u64> as u64) | 1;
        }
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        dice.set(x);
        x % POLL_SAMPLING == 0
    })
}

/// Runs `work`, charging the calling thread's CPU time to `stage`.
pub fn charge<R>(counters: &Counters, stage: CpuStage, work: impl FnOnce() -> R) -> R {
    let (out, nanos) = exclusive(work);
    counters.charge(stage, nanos);
    out
}

/// The node's [`Meter`]: the host's threads' CPU time, by their clock.
pub fn meter() -> Meter {
    Meter::new(|work| exclusive(work).1)
}

/// A future whose polls charge their thread time to a stage: how the node
/// measures its async work (RPC calls, admission, consensus, the
/// network), which shares the runtime's threads. A poll at the top of its
/// thread is measured one time in [`POLL_SAMPLING`] and counts for that
/// many; one nested in another measurement (admission inside an RPC
/// call) is always measured, and charged to its own stage only.
pub struct Metered<F> {
    inner: Pin<Box<F>>,
    counters: Arc<Counters>,
    stage: CpuStage,
}

impl<F> std::fmt::Debug for Metered<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metered")
            .field("stage", &self.stage)
            .finish_non_exhaustive()
    }
}

impl<F: Future> Metered<F> {
    pub fn new(counters: Arc<Counters>, stage: CpuStage, inner: F) -> Metered<F> {
        Metered {
            inner: Box::pin(inner),
            counters,
            stage,
        }
    }
}

impl<F: Future> Future for Metered<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.get_mut();
        let weight = if DEPTH.with(Cell::get) > 0 {
            1
        } else if sample() {
            POLL_SAMPLING
        } else {
            // Not measured. What is nested in it still is, exactly (at
            // depth > 0), and charges its own stage.
            DEPTH.with(|d| d.set(d.get() + 1));
            let out = this.inner.as_mut().poll(cx);
            DEPTH.with(|d| d.set(d.get().saturating_sub(1)));
            return out;
        };
        let (out, nanos) = exclusive(|| this.inner.as_mut().poll(cx));
        this.counters
            .charge(this.stage, nanos.saturating_mul(weight));
        out
    }
}

/// The CPU time of this process's RocksDB background threads (flushes
/// and compactions), in nanoseconds, from `/proc` (in scheduler ticks;
/// exact enough for a running total). `None` where `/proc` is not there.
pub fn storage_background_nanos() -> Option<u64> {
    let tick = rustix::param::clock_ticks_per_second();
    if tick == 0 {
        return None;
    }
    let mut ticks = 0u64;
    for task in std::fs::read_dir("/proc/self/task").ok()?.flatten() {
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else {
            continue;
        };
        // pid (comm) state ... utime stime: the name may hold spaces, so
        // the fields are counted after its closing parenthesis.
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let (Some(name), Some(rest)) = (stat.get(open + 1..close), stat.get(close + 1..)) else {
            continue;
        };
        if !name.starts_with("rocksdb:") {
            continue;
        }
        let mut fields = rest.split_whitespace().skip(11);
        let (Some(utime), Some(stime)) = (fields.next(), fields.next()) else {
            continue;
        };
        ticks += utime.parse::<u64>().unwrap_or(0) + stime.parse::<u64>().unwrap_or(0);
    }
    Some(ticks.saturating_mul(1_000_000_000) / tick)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stage is charged the CPU its work used, on Linux.
    #[test]
    fn work_is_charged_to_its_stage() {
        let counters = Counters::default();
        let spun = charge(&counters, CpuStage::Execution, || {
            let mut x = 0u64;
            for i in 0..1_000_000u64 {
                x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
            }
            x
        });
        std::hint::black_box(spun);
        let charged = counters.cpu_nanos[CpuStage::Execution as usize]
            .load(std::sync::atomic::Ordering::Relaxed);
        if thread_nanos().is_some() {
            assert!(charged > 0, "no CPU charged to execution");
        }
        assert_eq!(
            counters.cpu_nanos[CpuStage::Storage as usize]
                .load(std::sync::atomic::Ordering::Relaxed),
            0
        );
    }

    fn spin(rounds: u64) -> u64 {
        let mut x = 0u64;
        for i in 0..rounds {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
        }
        x
    }

    fn charged(counters: &Counters, stage: CpuStage) -> u64 {
        counters.cpu_nanos[stage as usize].load(std::sync::atomic::Ordering::Relaxed)
    }

    /// A stage measured inside another is charged to the inner one only:
    /// the outer one's figure leaves it out, and the two add up to the
    /// whole.
    #[test]
    fn a_nested_stage_is_not_charged_twice() {
        if thread_nanos().is_none() {
            return;
        }
        let counters = Counters::default();
        let start = thread_nanos().unwrap();
        charge(&counters, CpuStage::Consensus, || {
            spin(200_000);
            charge(&counters, CpuStage::SignatureChecks, || spin(4_000_000));
            spin(200_000);
        });
        let whole = thread_nanos().unwrap() - start;
        let (outer, inner) = (
            charged(&counters, CpuStage::Consensus),
            charged(&counters, CpuStage::SignatureChecks),
        );
        assert!(inner > outer, "outer {outer} ns, inner {inner} ns");
        assert!(outer + inner <= whole, "{outer} + {inner} > {whole}");
    }

    /// A metered future is charged what its polls used, and an inner
    /// metered future's polls only to its own stage (nested here in a
    /// measurement, so every poll is measured).
    #[test]
    fn a_metered_future_charges_its_polls() {
        if thread_nanos().is_none() {
            return;
        }
        let counters = Arc::new(Counters::default());
        let inner = Metered::new(counters.clone(), CpuStage::Admission, async {
            spin(4_000_000)
        });
        let outer = Metered::new(counters.clone(), CpuStage::Rpc, async move {
            spin(200_000);
            inner.await
        });
        charge(&counters, CpuStage::Consensus, || {
            futures::executor::block_on(outer)
        });
        let (rpc, admission) = (
            charged(&counters, CpuStage::Rpc),
            charged(&counters, CpuStage::Admission),
        );
        assert!(
            rpc > 0 && admission > rpc,
            "rpc {rpc} ns, admission {admission} ns"
        );
    }

    /// Polled at the top of its thread, a future is measured one poll in
    /// eight, each counting for eight: over many polls the total is
    /// close to what they used.
    #[test]
    fn sampled_polls_add_up_to_the_whole() {
        if thread_nanos().is_none() {
            return;
        }
        struct Yields(u32);
        impl Future for Yields {
            type Output = ();
            fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
                spin(20_000);
                if self.0 == 0 {
                    return Poll::Ready(());
                }
                self.0 -= 1;
                cx.waker().wake_by_ref();
                Poll::Pending
            }
        }
        let counters = Arc::new(Counters::default());
        let start = thread_nanos().unwrap();
        futures::executor::block_on(Metered::new(
            counters.clone(),
            CpuStage::Network,
            Yields(4_000),
        ));
        let whole = thread_nanos().unwrap() - start;
        let charged = charged(&counters, CpuStage::Network);
        let ratio = charged as f64 / whole as f64;
        assert!(
            (0.6..1.3).contains(&ratio),
            "charged {charged} ns of {whole} ns ({ratio:.2})"
        );
    }

    /// RocksDB's background threads are found by name in `/proc`.
    #[test]
    fn background_threads_are_read_from_proc() {
        if std::path::Path::new("/proc/self/task").exists() {
            assert!(storage_background_nanos().is_some());
        }
    }

    /// Parallel signature checks are charged on every thread that ran
    /// them, helpers included.
    #[test]
    fn every_thread_of_a_parallel_check_is_charged() {
        use hutong_runtime::{
            tx::Expiry, Address, Amount, AssetCode, ChainId, Height, Keypair, Nonce, Transaction,
            TransferId, TxKind,
        };
        let counters = Counters::default();
        let _ = counters.meter.set(meter());
        let key = Keypair::from_secret_bytes(&[7; 32]);
        let txs: Vec<_> = (0..4_000u64)
            .map(|i| {
                Transaction {
                    chain_id: ChainId([1; 32]),
                    sender: key.public(),
                    sequence: Nonce(i),
                    expiry: Expiry::Height(Height(10)),
                    kind: TxKind::Transfer {
                        to: Address([2; 20]),
                        asset: AssetCode::new("CNY").unwrap(),
                        amount: Amount(5),
                        transfer_id: TransferId(u128::from(i)),
                    },
                    cosigner: None,
                    memo: vec![],
                }
                .sign(&key)
            })
            .collect();
        let two = std::num::NonZeroUsize::new(2).unwrap();
        let checked = hutong_host::sigverify::verify_parallel_metered(&txs, two, &|work| {
            counters.metered(CpuStage::SignatureChecks, work)
        });
        assert!(checked.valid.iter().all(|v| *v));
        let charged = counters.cpu_nanos[CpuStage::SignatureChecks as usize]
            .load(std::sync::atomic::Ordering::Relaxed);
        if thread_nanos().is_some() {
            assert!(charged > 0, "no CPU charged to signature checks");
        }
    }
}

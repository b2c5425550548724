//! CPU time by stage, for the metrics endpoint and `hutong bench`: each
//! stage of a block's path charges the thread time it used (Linux's
//! `/proc/thread-self/schedstat`, in nanoseconds) to its counter, and the
//! host's parallel signature checks are measured on each of their threads
//! through the [`meter`] the node gives it.
//! Where `/proc` is missing, nothing is charged and nothing fails. A
//! running thread's figure advances at scheduler ticks and switches, so
//! one short stage may read a tick more or less than it used; over the
//! thousands of blocks of a measurement the errors cancel.

use std::sync::OnceLock;

use hutong_host::status::{Counters, CpuStage, Meter};

/// The calling thread's CPU time so far, in nanoseconds.
pub fn thread_nanos() -> Option<u64> {
    static AVAILABLE: OnceLock<bool> = OnceLock::new();
    if !*AVAILABLE.get_or_init(|| read_schedstat("/proc/thread-self/schedstat").is_some()) {
        return None;
    }
    read_schedstat("/proc/thread-self/schedstat")
}

/// The first field of a schedstat file: time on the CPU, in ns.
fn read_schedstat(path: &str) -> Option<u64> {
    let text = std::fs::read_to_string(path).ok()?;
    text.split_whitespace().next()?.parse().ok()
}

/// Runs `work`, charging the calling thread's CPU time to `stage`.
pub fn charge<R>(counters: &Counters, stage: CpuStage, work: impl FnOnce() -> R) -> R {
    let start = thread_nanos();
    let out = work();
    if let (Some(start), Some(end)) = (start, thread_nanos()) {
        counters.charge(stage, end.saturating_sub(start));
    }
    out
}

/// The node's [`Meter`]: the host's threads' CPU time, by their clock.
pub fn meter() -> Meter {
    Meter::new(|work| {
        let start = thread_nanos();
        work();
        match (start, thread_nanos()) {
            (Some(start), Some(end)) => end.saturating_sub(start),
            _ => 0,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stage is charged the CPU its work used, on Linux.
    #[test]
    fn work_is_charged_to_its_stage() {
        let counters = Counters::default();
        let spun = charge(&counters, CpuStage::Execution, || {
            // Long enough to cross several scheduler ticks: a running
            // thread's schedstat advances at ticks and switches.
            let mut x = 0u64;
            for i in 0..200_000_000u64 {
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

//! CPU time by stage, for the metrics endpoint and `hutong bench`: each
//! stage of a block's path charges the thread time it used (the thread's
//! CPU clock, `CLOCK_THREAD_CPUTIME_ID`, in nanoseconds) to its counter,
//! and the host's parallel signature checks are measured on each of their
//! threads through the [`meter`] the node gives it. The clock is exact to
//! the nanosecond at every read (the kernel brings the running thread's
//! time up to date), unlike `/proc`'s per-thread figures, which advance
//! only at scheduler ticks and would miss most of a short stage.

use hutong_host::status::{Counters, CpuStage, Meter};

/// The calling thread's CPU time so far, in nanoseconds.
pub fn thread_nanos() -> Option<u64> {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    let secs = u64::try_from(t.tv_sec).ok()?;
    let nanos = u64::try_from(t.tv_nsec).ok()?;
    secs.checked_mul(1_000_000_000)?.checked_add(nanos)
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

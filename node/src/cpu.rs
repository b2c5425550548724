//! CPU time by stage, for the metrics endpoint and `hutong bench`: each
//! stage of a block's path charges the thread time it used (Linux's
//! `/proc/thread-self/schedstat`, in nanoseconds) to its counter; the
//! signature-check threads are read by name from `/proc/self/task`.
//! Where `/proc` is missing, nothing is charged and nothing fails.

use std::sync::OnceLock;

use hutong_host::status::{Counters, CpuStage};

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

/// CPU seconds used so far by this process's threads whose name starts
/// with `prefix` (e.g. `hutong-verify`, the signature-check pool).
pub fn threads_seconds(prefix: &str) -> Option<f64> {
    let mut total = 0u64;
    for entry in std::fs::read_dir("/proc/self/task").ok()?.flatten() {
        let dir = entry.path();
        let Ok(name) = std::fs::read_to_string(dir.join("comm")) else {
            continue;
        };
        if name.trim_end().starts_with(prefix) {
            if let Some(ns) = read_schedstat(&dir.join("schedstat").to_string_lossy()) {
                total = total.saturating_add(ns);
            }
        }
    }
    Some(total as f64 / 1e9)
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
            for i in 0..5_000_000u64 {
                x = x.wrapping_mul(31).wrapping_add(i);
            }
            std::hint::black_box(x)
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
}

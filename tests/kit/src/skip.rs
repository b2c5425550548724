//! A test that cannot run here (no tmpfs, no network namespaces) says so
//! and returns. cargo hides what a passing test prints, so the line also
//! goes to the file `HUTONG_SKIPPED_LOG` names, which `.ci/run` lists in
//! its summary: a skip is never silent.

use std::io::Write as _;

pub fn skipped(test: &str, why: &str) {
    let line = format!("{test}: {why}");
    eprintln!("SKIPPED {line}");
    if let Some(path) = std::env::var_os("HUTONG_SKIPPED_LOG") {
        let appended = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .and_then(|mut f| writeln!(f, "{line}"));
        if let Err(e) = appended {
            eprintln!("cannot record the skip in {}: {e}", path.to_string_lossy());
        }
    }
}

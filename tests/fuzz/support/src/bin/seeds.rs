//! Writes the seed inputs of every fuzz target into `<corpus>/<target>/`,
//! each file named by the hash of its content (so reruns add nothing new).
//!
//! Usage: `seeds <corpus-dir>`.

use std::path::PathBuf;

use sha2::{Digest, Sha256};

fn main() -> std::io::Result<()> {
    let dir = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "tests/fuzz/corpus".into()),
    );
    #[allow(unused_mut)]
    let mut all = hutong_fuzz_support::seeds::all();
    #[cfg(feature = "node")]
    all.extend(hutong_fuzz_support::node_seeds::all());
    for (target, inputs) in all {
        let target_dir = dir.join(target);
        std::fs::create_dir_all(&target_dir)?;
        for input in &inputs {
            let name = hex::encode(&Sha256::digest(input)[..20]);
            std::fs::write(target_dir.join(format!("seed-{name}")), input)?;
        }
        println!("{target}: {} seeds", inputs.len());
    }
    Ok(())
}

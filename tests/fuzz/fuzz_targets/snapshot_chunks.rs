//! State snapshot chunks from arbitrary bytes (a borsh `Vec<Chunk>`, as
//! peers would serve them one by one), fed to a restore of a known tree
//! (`hutong_runtime::snapshot::Restore`). Whatever the chunks, a restore
//! never panics, refuses what does not belong to the tree, and can only
//! finish with the expected root; the genuine seeds restore the tree
//! (checked once, at the first input).

#![no_main]

use std::sync::{Arc, OnceLock};

use hutong_runtime::snapshot::{Chunk, MemRestoreTarget, Restore};
use hutong_runtime::Hash;
use libfuzzer_sys::fuzz_target;

fn source() -> &'static (u64, Hash) {
    static SOURCE: OnceLock<(u64, Hash)> = OnceLock::new();
    SOURCE.get_or_init(|| {
        let (_, version, root) = hutong_fuzz_support::seeds::snapshot_source();
        let seeds = hutong_fuzz_support::seeds::snapshot_chunks();
        let whole = seeds.last().expect("seeds");
        let chunks: Vec<Chunk> = borsh::from_slice(whole).expect("a seed decodes");
        let mut restore = Restore::new(Arc::new(MemRestoreTarget::new()), version, root)
            .expect("an empty target");
        for c in chunks {
            restore.add(c).expect("a genuine chunk is kept");
        }
        restore
            .finish()
            .expect("the genuine chunks restore the tree");
        (version, root)
    })
}

fuzz_target!(|data: &[u8]| {
    let (version, root) = *source();
    let Ok(chunks) = borsh::from_slice::<Vec<Chunk>>(data) else {
        return;
    };
    let Ok(mut restore) = Restore::new(Arc::new(MemRestoreTarget::new()), version, root) else {
        return;
    };
    for c in chunks {
        let _ = restore.add(c);
    }
    // A finished restore is the whole tree: only then is the root reached.
    let _ = restore.finish();
});

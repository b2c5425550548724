//! State snapshots: a tree read in chunks and restored elsewhere gives the
//! same root and values; a bad chunk is refused without a trace, and the
//! restore resumes from what it wrote.

mod common;

use std::sync::Arc;

use hutong_runtime::snapshot::{read_chunk, Chunk, MemRestoreTarget, Restore, SnapshotError};
use hutong_runtime::state::{Holding, StateKey, StateValue};
use hutong_runtime::store::{prepare_commit, state_root, MemStore, StateStore};
use hutong_runtime::{Address, Amount, AssetCode, Hash};
use rand::{Rng, SeedableRng};

/// A store with `accounts` balances written over a few versions, some
/// changed and some deleted later: the snapshot is of the last version.
fn store(seed: u64, accounts: usize) -> (MemStore, u64) {
    println!("seed {seed}");
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(seed);
    let cny = AssetCode::new("CNY").unwrap();
    let key = |i: usize| {
        let mut a = [0u8; 20];
        a[..8].copy_from_slice(&(i as u64).to_le_bytes());
        StateKey::Balance(Address(a), cny)
    };
    let mut store = MemStore::new();
    let mut version = 0;
    for round in 0..4 {
        let mut changes = Vec::new();
        for i in 0..accounts {
            if round > 0 && !rng.gen_ratio(1, 3) {
                continue;
            }
            let value = if round > 0 && rng.gen_ratio(1, 10) {
                None
            } else {
                Some(StateValue::Balance(Holding::of(Amount(
                    rng.gen_range(1..1_000_000),
                ))))
            };
            changes.push((key(i), value));
        }
        let update = prepare_commit(&store, version, changes).unwrap();
        store.apply(update).unwrap();
        version += 1;
    }
    (store, version - 1)
}

fn chunks(store: &MemStore, version: u64, size: usize) -> Vec<Chunk> {
    let mut out = Vec::new();
    let mut after = None;
    while let Some(chunk) = read_chunk(store, version, after, size, usize::MAX).unwrap() {
        after = chunk.last_key();
        out.push(chunk);
    }
    out
}

/// Every leaf of `version`, as the source holds it.
fn leaves(store: &MemStore, version: u64) -> Vec<([u8; 32], Vec<u8>)> {
    chunks(store, version, 1_000)
        .into_iter()
        .flat_map(|c| c.entries)
        .collect()
}

#[test]
fn a_tree_restored_from_chunks_has_the_same_root_and_values() {
    for seed in [1, 2, 3] {
        let (source, version) = store(seed, 3_000);
        let root = state_root(&source, version).unwrap();
        let expected = leaves(&source, version);
        assert!(expected.len() > 2_000, "{}", expected.len());
        for size in [1, 97, 4_096] {
            if size == 1 && seed > 1 {
                continue;
            }
            let target = Arc::new(MemRestoreTarget::new());
            let mut restore = Restore::new(Arc::clone(&target), version, root).unwrap();
            for chunk in chunks(&source, version, size) {
                restore.add(chunk).unwrap();
            }
            assert_eq!(restore.leaves(), expected.len() as u64);
            restore.finish().unwrap();
            drop(restore);
            let target = Arc::try_unwrap(target).unwrap();
            let (nodes, values) = target.into_parts();
            assert_eq!(values, expected, "seed {seed}, chunk size {size}");
            // The restored store proves every key as the source does.
            let copy = MemStore::restored(nodes, values, version).unwrap();
            for (key, _) in expected.iter().step_by(97) {
                assert_eq!(
                    hutong_runtime::tree::prove(&copy, version, key).unwrap(),
                    hutong_runtime::tree::prove(&source, version, key).unwrap()
                );
            }
        }
    }
}

#[test]
fn a_bad_chunk_is_refused_and_the_restore_resumes_from_what_it_wrote() {
    let (source, version) = store(7, 2_000);
    let root = state_root(&source, version).unwrap();
    assert!(chunks(&source, version, 150).len() > 5);
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(7);

    let target = Arc::new(MemRestoreTarget::new());
    let mut restore = Restore::new(Arc::clone(&target), version, root).unwrap();
    let mut refused = 0;
    // The chunk that follows where the restore stands; every other time a
    // peer serves a damaged copy of it first.
    while let Some(chunk) =
        read_chunk(&source, version, restore.resume_after(), 150, usize::MAX).unwrap()
    {
        if rng.gen_ratio(1, 2) {
            let before = restore.resume_after();
            match restore.add(damage(&chunk, &mut rng, &source, version)) {
                Err(SnapshotError::BadChunk(_)) => refused += 1,
                other => panic!("a damaged chunk was not refused: {other:?}"),
            }
            // Nothing of the refused chunk was kept.
            assert!(restore.resume_after() <= before);
            continue;
        }
        restore.add(chunk).unwrap();
    }
    assert!(refused > 2, "{refused}");
    restore.finish().unwrap();
}

/// A copy of `chunk` with one kind of damage a peer could do.
fn damage(chunk: &Chunk, rng: &mut impl Rng, source: &MemStore, version: u64) -> Chunk {
    let mut c = chunk.clone();
    let n = c.entries.len();
    match rng.gen_range(0..5) {
        0 => {
            // A value changed.
            let i = rng.gen_range(0..n);
            let last = c.entries[i].1.len() - 1;
            c.entries[i].1[last] ^= 1;
        }
        1 if n > 1 => {
            // A leaf left out.
            c.entries.remove(rng.gen_range(0..n - 1));
        }
        2 if n > 1 => {
            // Two leaves swapped.
            c.entries.swap(0, n - 1);
        }
        3 => {
            // A leaf that is not in the tree.
            let mut key = c.entries[0].0;
            key[31] ^= 1;
            c.entries.insert(0, (key, c.entries[0].1.clone()));
            c.entries.sort_by_key(|(k, _)| *k);
            c.entries.dedup_by_key(|(k, _)| *k);
            if c.entries.len() == n {
                c.entries[0].1.push(0);
            }
        }
        _ => {
            // The proof of another version's tree.
            let other = read_chunk(source, version - 1, None, 1, usize::MAX)
                .unwrap()
                .unwrap();
            if other.proof == c.proof {
                c.entries[0].1.push(0);
            } else {
                c.proof = other.proof;
            }
        }
    }
    c
}

#[test]
fn an_incomplete_restore_does_not_finish() {
    let (source, version) = store(9, 500);
    let root = state_root(&source, version).unwrap();
    let good = chunks(&source, version, 100);
    let target = Arc::new(MemRestoreTarget::new());
    let mut restore = Restore::new(Arc::clone(&target), version, root).unwrap();
    for chunk in &good[..good.len() - 1] {
        restore.add(chunk.clone()).unwrap();
    }
    assert!(matches!(
        restore.finish(),
        Err(SnapshotError::Incomplete(_))
    ));
    // Nothing restored at all is not a tree either.
    let mut empty = Restore::new(Arc::new(MemRestoreTarget::new()), version, root).unwrap();
    assert!(matches!(empty.finish(), Err(SnapshotError::Incomplete(_))));
    // And a root nobody certified is not reached.
    let target = Arc::new(MemRestoreTarget::new());
    let mut restore = Restore::new(Arc::clone(&target), version, Hash([7; 32])).unwrap();
    assert!(matches!(
        restore.add(good[0].clone()),
        Err(SnapshotError::BadChunk(_))
    ));
}

/// A restore started again on the same target (a node restarted, or
/// the join's retry after a peer stopped early) goes on from the progress
/// written with the last chunk, and a finish that comes too early leaves
/// the restore as it was.
#[test]
fn a_restore_started_again_resumes_from_its_written_progress() {
    let (source, version) = store(5, 1_500);
    let root = state_root(&source, version).unwrap();
    let all = chunks(&source, version, 200);
    let target = Arc::new(MemRestoreTarget::new());
    let mut restore = Restore::new(Arc::clone(&target), version, root).unwrap();
    for chunk in &all[..3] {
        restore.add(chunk.clone()).unwrap();
    }
    assert!(matches!(
        restore.finish(),
        Err(SnapshotError::Incomplete(_))
    ));
    let after = restore.resume_after();
    drop(restore);
    let mut restore = Restore::new(Arc::clone(&target), version, root).unwrap();
    assert_eq!(restore.resume_after(), after);
    for chunk in &all[3..] {
        restore.add(chunk.clone()).unwrap();
    }
    restore.finish().unwrap();
    // Another version's restore does not pick that progress up.
    let other = Restore::new(Arc::clone(&target), version - 1, root).unwrap();
    assert_eq!(other.resume_after(), None);
}

/// A store restored from a snapshot of a chain with transfers executes the
/// next block as the chain's own store does: the same receipts (a retry of
/// a transfer from before the snapshot is still refused, because the
/// idempotency index is rebuilt from the tree's leaves) and the same root.
#[test]
fn a_store_restored_from_a_snapshot_executes_the_next_block_as_the_source_does() {
    use hutong_runtime::execute::{execute_block, SignatureCheck};
    use hutong_runtime::transfer::TRANSFER_PRUNE_EVERY;

    let mut ch = common::Chain::new(16, 11);
    let cny = common::cny();
    let mut id = 0;
    for round in 0..5 {
        let txs: Vec<_> = (0..8)
            .map(|i| {
                id += 1;
                let from = ch.customers[(i + round) % 16].clone();
                let to = common::addr(&ch.customers[(i + round + 1) % 16]);
                ch.transfer(&from, to, cny, 10, id)
            })
            .collect();
        assert!(ch.execute(&txs).iter().all(|r| r.is_success()));
    }
    // The snapshot is taken just before a pruning height, so the next block
    // also prunes (nothing old enough is there, but it reads the window).
    while !(ch.height + 1).is_multiple_of(TRANSFER_PRUNE_EVERY) {
        ch.execute(&[]);
    }
    let version = ch.height;
    let root = state_root(&ch.store, version).unwrap();
    let target = Arc::new(MemRestoreTarget::new());
    let mut restore = Restore::new(Arc::clone(&target), version, root).unwrap();
    for chunk in chunks(&ch.store, version, 64) {
        restore.add(chunk).unwrap();
    }
    restore.finish().unwrap();
    drop(restore);
    let target = Arc::try_unwrap(target).unwrap();
    let (nodes, values) = target.into_parts();
    let mut restored = MemStore::restored(nodes, values, version).unwrap();

    // A retry of the first round's first transfer (same sender, same id),
    // and new transfers.
    let first = ch.customers[0].clone();
    let txs = vec![
        ch.transfer(&first, common::addr(&ch.customers[1]), cny, 10, 1),
        ch.transfer(
            &ch.customers[4].clone(),
            common::addr(&ch.customers[5]),
            cny,
            7,
            1_000,
        ),
        ch.transfer(&ch.customers[9].clone(), common::addr(&first), cny, 3, 2),
    ];
    let ctx = ch.context();
    let source = execute_block(&ch.store, &ctx, &txs, SignatureCheck::Verify).unwrap();
    let copy = execute_block(&restored, &ctx, &txs, SignatureCheck::Verify).unwrap();
    assert_eq!(source.receipts, copy.receipts);
    assert!(matches!(
        source.receipts[0].failure(),
        Some(hutong_runtime::FailureReason::TransferExists { .. })
    ));
    assert!(source.receipts[1].is_success() && source.receipts[2].is_success());
    let a = prepare_commit(&ch.store, ctx.height.0, source.changes).unwrap();
    let b = prepare_commit(&restored, ctx.height.0, copy.changes).unwrap();
    assert_eq!(a.root, b.root);
    ch.store.apply(a).unwrap();
    restored.apply(b).unwrap();
    assert_eq!(
        restored
            .get(&StateKey::Account(common::addr(&first)))
            .unwrap(),
        ch.store
            .get(&StateKey::Account(common::addr(&first)))
            .unwrap()
    );
}

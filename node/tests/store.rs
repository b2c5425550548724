//! The state-store trait suite, run against the in-memory store and the
//! RocksDB store; and crash recovery: a child process writing blocks is
//! killed with SIGKILL at random instants, and the database must reopen
//! exactly at a block boundary with the state root a replay gives.

use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use hutong_consensus::types::{
    Block, Digest, Epoch, Height as CHeight, QuorumCert, Round, ValidatorId,
};
use hutong_node::store::{BlockWrite, Db};
use hutong_runtime::crypto::Hash;
use hutong_runtime::state::{StateKey, StateValue};
use hutong_runtime::store::{prepare_commit, prove, state_root, StateStore, StoreError};
use hutong_runtime::{Address, Amount, AssetCode, ChainId, MemStore};
use hutong_wire::payload::{Payload, ResultClaim};
use hutong_wire::{Executed, StoredBlock};
use rand::Rng;

const CHAIN: ChainId = ChainId([7; 32]);

fn key(i: u64) -> StateKey {
    let mut a = [0u8; 20];
    a[..8].copy_from_slice(&i.to_le_bytes());
    StateKey::Balance(Address(a), AssetCode::new("CNY").unwrap())
}

/// The deterministic changes of version `v`: 50 balances, overlapping
/// with earlier versions so values get overwritten.
fn changes(v: u64) -> Vec<(StateKey, Option<StateValue>)> {
    (0..50u64)
        .map(|i| {
            let k = (v * 37 + i * 11) % 400;
            (
                key(k),
                Some(StateValue::Balance(hutong_runtime::state::Holding::of(
                    Amount(u128::from(v * 1000 + i)),
                ))),
            )
        })
        .collect()
}

fn commit<S: StateStore>(store: &mut S, v: u64) -> Hash {
    let update = prepare_commit(store, v, changes(v)).unwrap();
    let root = update.root;
    store.apply(update).unwrap();
    root
}

/// The suite every `StateStore` must pass.
fn suite<S: StateStore>(mut store: S) -> Vec<Hash> {
    assert_eq!(store.latest_version(), None);
    assert_eq!(store.get(&key(1)).unwrap(), None);

    // A version must follow the latest one.
    let gap = prepare_commit(&store, 3, changes(3));
    assert!(matches!(gap, Err(StoreError::VersionGap { got: 3, .. })));

    let mut roots = Vec::new();
    for v in 0..8 {
        roots.push(commit(&mut store, v));
        assert_eq!(store.latest_version(), Some(v));
        assert_eq!(state_root(&store, v).unwrap(), roots[v as usize]);
        // Latest values are readable.
        for (k, value) in changes(v) {
            assert_eq!(store.get(&k).unwrap(), value);
        }
    }
    // Proofs at every past version verify against that version's root and
    // carry the value the key had then.
    for v in 0..8u64 {
        let (k, value) = changes(v)[0].clone();
        let proof = prove(&store, k, v).unwrap();
        proof.verify(&roots[v as usize]).unwrap();
        let later_overwrite = (v + 1..8).any(|w| changes(w).iter().any(|(kk, _)| *kk == k));
        if !later_overwrite {
            assert_eq!(proof.value, value);
        }
        if v > 0 {
            assert!(proof.verify(&roots[v as usize - 1]).is_err());
        }
    }
    // An absent key has a proof of absence.
    let absent = prove(&store, key(10_000), 7).unwrap();
    assert_eq!(absent.value, None);
    absent.verify(&roots[7]).unwrap();
    roots
}

#[test]
fn memory_and_rocksdb_stores_pass_the_same_suite_with_the_same_roots() {
    let mem = suite(MemStore::new());
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), CHAIN).unwrap();
    let rocks = suite(db);
    assert_eq!(mem, rocks, "both stores must give identical roots");
}

/// A tree key's value is kept in its leaf: through random inserts,
/// updates and deletes (which move the leaves beside them up and down the
/// tree with their values unchanged), every key's value at every version,
/// and its latest value read cold after a reopen, are the reference
/// store's.
#[test]
fn leaf_values_read_back_at_every_version_as_the_reference_store() {
    let mut rng = seeded_rng();
    let dir = tempfile::tempdir().unwrap();
    let mut db = Db::open(dir.path(), CHAIN).unwrap();
    let mut reference = MemStore::new();
    let keys = 300u64;
    let versions = 40u64;
    for v in 0..versions {
        let changes: Vec<(StateKey, Option<StateValue>)> = (0..rng.gen_range(1..60))
            .map(|_| {
                let k = rng.gen_range(0..keys);
                let value = (v == 0 || rng.gen_bool(0.7)).then(|| {
                    StateValue::Balance(hutong_runtime::state::Holding::of(Amount(
                        rng.gen_range(0..1_000_000u128),
                    )))
                });
                (key(k), value)
            })
            .collect();
        let ours = prepare_commit(&db, v, changes.clone()).unwrap();
        let theirs = prepare_commit(&reference, v, changes).unwrap();
        assert_eq!(ours.root, theirs.root, "root of version {v}");
        db.apply(ours).unwrap();
        reference.apply(theirs).unwrap();
    }
    drop(db);
    let db = Db::open(dir.path(), CHAIN).unwrap();
    for k in 0..keys {
        let hash = key(k).key_hash();
        for v in 0..versions {
            assert_eq!(
                StateStore::tree_value(&db, v, &hash).unwrap(),
                reference.tree_value(v, &hash).unwrap(),
                "key {k} at version {v}"
            );
        }
        assert_eq!(
            db.state(&key(k)).unwrap(),
            reference.get(&key(k)).unwrap(),
            "key {k}"
        );
    }
}

#[test]
fn rocksdb_store_reopens_at_its_last_version() {
    let dir = tempfile::tempdir().unwrap();
    let roots = {
        let mut db = Db::open(dir.path(), CHAIN).unwrap();
        (0..5).map(|v| commit(&mut db, v)).collect::<Vec<_>>()
    };
    let mut db = Db::open(dir.path(), CHAIN).unwrap();
    assert_eq!(db.latest_version(), Some(4));
    assert_eq!(state_root(&db, 4).unwrap(), roots[4]);
    commit(&mut db, 5);
    assert_eq!(db.latest_version(), Some(5));
}

#[test]
fn a_database_of_another_chain_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    drop(Db::open(dir.path(), CHAIN).unwrap());
    let err = Db::open(dir.path(), ChainId([8; 32])).unwrap_err();
    assert!(err.to_string().contains("belongs to chain"), "{err}");
}

fn block_at(height: u64) -> StoredBlock {
    let genesis = Digest([1; 32]);
    StoredBlock {
        block: Block {
            epoch: Epoch(1),
            round: Round(height),
            height: CHeight(height),
            proposer: ValidatorId(0),
            timestamp_ms: height,
            payload: Digest([height as u8; 32]),
            justify: QuorumCert::genesis(Epoch(1), genesis, CHeight(0)),
            timeout_cert: None,
        },
        payload: Payload {
            result: ResultClaim {
                height: height.saturating_sub(1),
                state_root: Hash([0; 32]),
                receipts_root: Hash([0; 32]),
            },
            txs: Vec::new(),
        },
    }
}

/// Opens `db`'s state at version 0 with its executed record.
fn commit_genesis(db: &Db) {
    let update = prepare_commit(db, 0, changes(0)).unwrap();
    let root = update.root;
    db.commit_genesis(
        update,
        Executed {
            height: 0,
            block_id: Digest([1; 32]),
            round: 0,
            timestamp_ms: 0,
            state_root: root,
            receipts_root: Hash([0; 32]),
        },
    )
    .unwrap();
}

/// Writes blocks (genesis first) with their state, forever. Runs only as
/// the child of `a_killed_writer_recovers_at_a_block_boundary`.
fn write_blocks_forever(path: &str) {
    let db = Db::open(std::path::Path::new(path), CHAIN).unwrap();
    let mut next = match db.executed().unwrap() {
        Some(e) => e.height + 1,
        None => {
            commit_genesis(&db);
            1
        }
    };
    loop {
        let stored = block_at(next);
        let update = prepare_commit(&db, next, changes(next)).unwrap();
        let executed = Executed {
            height: next,
            block_id: stored.block.id(),
            round: next,
            timestamp_ms: next,
            state_root: update.root,
            receipts_root: Hash([0; 32]),
        };
        db.commit_block(BlockWrite {
            block: stored.block,
            payload: Arc::new(stored.payload),
            executed,
            receipts: Vec::new(),
            tx_hashes: vec![Hash([next as u8; 32])],
            state: update,
            proof: None,
            extra: Vec::new(),
        })
        .unwrap();
        next += 1;
    }
}

#[test]
fn crash_child() {
    // Does nothing unless started by the crash test below.
    if let Ok(path) = std::env::var("HUTONG_CRASH_CHILD") {
        write_blocks_forever(&path);
    }
}

/// The seeded generator of a crash test, its seed printed.
fn seeded_rng() -> rand_chacha::ChaCha8Rng {
    hutong_testkit::seeded()
}

/// Runs the block writer on `path` in a child process and SIGKILLs it
/// (no destructor, no flush) at a random instant.
fn kill_writer_at_random(path: &std::path::Path, rng: &mut rand_chacha::ChaCha8Rng) {
    let exe = std::env::current_exe().unwrap();
    let mut child = Command::new(&exe)
        .args(["--exact", "crash_child", "--nocapture", "--test-threads=1"])
        .env("HUTONG_CRASH_CHILD", path)
        .spawn()
        .unwrap();
    // Kill it at a random moment once it writes: on a loaded machine a
    // child may take longer than the whole random delay just to start,
    // and a kill before its first write tests nothing (and leaves an
    // empty write-ahead log).
    let started = std::time::Instant::now();
    while !wal_written(path) && started.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(rng.gen_range(100..1_000)));
    child.kill().unwrap();
    child.wait().unwrap();
}

/// Whether the database at `path` has a write-ahead log with something in
/// it.
fn wal_written(path: &std::path::Path) -> bool {
    std::fs::read_dir(path).is_ok_and(|entries| {
        entries.filter_map(Result::ok).any(|e| {
            e.path().extension().is_some_and(|x| x == "log")
                && e.metadata().is_ok_and(|m| m.len() > 0)
        })
    })
}

/// The database is at a block boundary consistent with the replayed
/// roots: state, blocks and results agree, nothing after. Its height.
fn assert_consistent(db: &Db, replay: &mut MemStore, roots: &mut Vec<Hash>) -> u64 {
    let executed = db.executed().unwrap().expect("genesis was written");
    let h = executed.height;
    assert_eq!(db.latest_version(), Some(h), "state and blocks agree");
    while roots.len() as u64 <= h {
        let v = roots.len() as u64;
        roots.push(commit(replay, v));
    }
    assert_eq!(executed.state_root, roots[h as usize]);
    assert_eq!(state_root(db, h).unwrap(), roots[h as usize]);
    for height in 1..=h {
        let b = db
            .block_at(height)
            .unwrap()
            .expect("every executed block is stored");
        assert_eq!(b.block.height.0, height);
        assert!(db.result_at(height).unwrap().is_some());
    }
    assert!(
        db.block_at(h + 1).unwrap().is_none(),
        "nothing after the last block"
    );
    h
}

#[test]
fn a_killed_writer_recovers_at_a_block_boundary() {
    let mut rng = seeded_rng();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    // Replaying the same versions in memory gives the expected roots.
    let mut replay = MemStore::new();
    let mut roots = vec![commit(&mut replay, 0)];
    let mut last = 0;
    for round in 0..5 {
        kill_writer_at_random(&path, &mut rng);
        let db = Db::open(&path, CHAIN).unwrap();
        let h = assert_consistent(&db, &mut replay, &mut roots);
        assert!(h >= last, "round {round}: went back from {last} to {h}");
        println!("round {round}: killed at height {h}, recovered");
        last = h;
    }
    assert!(last > 0, "the writer made progress");
}

/// After a kill, the write-ahead log's tail is torn three ways — cut
/// short, overwritten with noise, garbage appended — as a crash during a
/// write or a disk that lost its last sectors would leave it. The
/// database must reopen at a block boundary (perhaps an earlier one: the
/// node then fetches the rest from its peers) or refuse with a message;
/// never open on a state that is not a block boundary.
#[test]
fn a_torn_wal_tail_reopens_at_a_block_boundary_or_is_refused() {
    let mut rng = seeded_rng();
    let mut replay = MemStore::new();
    let mut roots = vec![commit(&mut replay, 0)];
    for damage in ["truncate", "noise", "append"] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        kill_writer_at_random(&path, &mut rng);
        // The newest WAL file.
        let wal = std::fs::read_dir(&path)
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "log"))
            .max_by_key(|p| std::fs::metadata(p).unwrap().len())
            .expect("a write-ahead log");
        let mut bytes = std::fs::read(&wal).unwrap();
        let len = bytes.len();
        assert!(len > 0, "empty WAL");
        let n = rng.gen_range(1..=len.min(4_096));
        match damage {
            "truncate" => bytes.truncate(len - n),
            "noise" => {
                for b in &mut bytes[len - n..] {
                    *b = rng.gen();
                }
            }
            _ => bytes.extend((0..n).map(|_| rng.gen::<u8>())),
        }
        std::fs::write(&wal, &bytes).unwrap();
        // RocksDB's recovery of a damaged log has been seen to spin for
        // ever (facebook/rocksdb#13333): fail with the seed, not hang.
        let opening = path.clone();
        let (done, opened) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = done.send(Db::open(&opening, CHAIN));
        });
        let opened = opened
            .recv_timeout(Duration::from_secs(120))
            .unwrap_or_else(|_| {
                panic!("{damage} {n} bytes of {len}: Db::open did not return in 120 s (the seed is printed above)")
            });
        match opened {
            Ok(db) => {
                let h = assert_consistent(&db, &mut replay, &mut roots);
                println!("{damage} {n} bytes of {len}: reopened at height {h}");
            }
            Err(e) => {
                let msg = e.to_string();
                println!("{damage} {n} bytes of {len}: refused: {msg}");
                assert!(!msg.is_empty());
            }
        }
    }
}

/// A fork of `block_at(height)`: same height, another payload.
fn fork_at(height: u64) -> StoredBlock {
    let mut b = block_at(height);
    b.block.payload = Digest([0xEE; 32]);
    b.block.round = Round(height + 1_000);
    b
}

#[test]
fn a_commit_prunes_the_forks_it_makes_impossible_and_keeps_later_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), CHAIN).unwrap();
    commit_genesis(&db);
    // Consensus stored two competing blocks at height 1 and 2, and one
    // at height 3.
    for b in [
        block_at(1),
        fork_at(1),
        block_at(2),
        fork_at(2),
        block_at(3),
    ] {
        db.put_block(&b).unwrap();
    }
    let ids = |blocks: Vec<StoredBlock>| -> Vec<Digest> {
        let mut v: Vec<Digest> = blocks.iter().map(|b| b.block.id()).collect();
        v.sort();
        v
    };
    assert_eq!(db.stored_blocks_above(0).unwrap().len(), 5);
    // Height 1 commits: its fork is gone; the rest is still pending.
    commit_with_extra(&db, 1, 1, Vec::new());
    assert!(db.block(&fork_at(1).block.id()).unwrap().is_none());
    // The committed block's body is the one stored while pending (the
    // commit does not write it again).
    assert_eq!(db.block_at(1).unwrap(), Some(block_at(1)));
    assert_eq!(
        ids(db.stored_blocks_above(1).unwrap()),
        ids(vec![block_at(2), fork_at(2), block_at(3)])
    );
    // After a restart the pending blocks are still found.
    drop(db);
    let db = Db::open(dir.path(), CHAIN).unwrap();
    assert_eq!(db.stored_blocks_above(1).unwrap().len(), 3);
    assert!(db.block(&fork_at(2).block.id()).unwrap().is_some());
    assert_eq!(db.block_at(1).unwrap(), Some(block_at(1)));
}

/// Commits block `height` at `timestamp_ms` with no transactions, its
/// state `changes(height)` and `extra` entries (the audit indexes).
fn commit_with_extra(db: &Db, height: u64, timestamp_ms: u64, extra: Vec<hutong_node::store::Put>) {
    commit_with_state(db, height, timestamp_ms, changes(height), extra)
}

/// [`commit_with_extra`] with the given state changes.
fn commit_with_state(
    db: &Db,
    height: u64,
    timestamp_ms: u64,
    state: Vec<(StateKey, Option<StateValue>)>,
    extra: Vec<hutong_node::store::Put>,
) {
    let stored = block_at(height);
    let update = prepare_commit(db, height, state).unwrap();
    db.commit_block(BlockWrite {
        executed: Executed {
            height,
            block_id: stored.block.id(),
            round: height,
            timestamp_ms,
            state_root: update.root,
            receipts_root: Hash([0; 32]),
        },
        block: stored.block,
        payload: Arc::new(stored.payload),
        receipts: Vec::new(),
        tx_hashes: Vec::new(),
        state: update,
        proof: None,
        extra,
    })
    .unwrap();
}

/// The regulator's indexes go into the block's own batch, and read back
/// by account (both directions), in ledger order, by time, and by claim.
#[test]
fn audit_indexes_are_written_with_their_block() {
    use hutong_audit::{edge_key, Alert, AlertKind, AuditWrite, Edge, EdgeKind};
    use hutong_node::audit::index;
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open_with_columns(dir.path(), CHAIN, &index::COLUMNS).unwrap();
    commit_genesis(&db);
    let (a, b, c) = (Address([1; 20]), Address([2; 20]), Address([3; 20]));
    let cny = AssetCode::new("CNY").unwrap();
    let leg = |height: u64, from: Address, to: Address| Edge {
        height,
        index: 0,
        leg: 0,
        timestamp_ms: height * 1_000,
        tx_hash: Hash([height as u8; 32]),
        kind: EdgeKind::Transfer,
        from,
        from_institution: Address([9; 20]),
        to,
        to_institution: Address([9; 20]),
        asset: Some(cny),
        amount: Amount(u128::from(height)),
        failure: None,
    };
    for height in 1..=4u64 {
        let (from, to) = if height % 2 == 1 { (a, b) } else { (b, c) };
        commit_with_extra(
            &db,
            height,
            height * 1_000,
            index::puts(
                height,
                &AuditWrite {
                    edges: vec![leg(height, from, to)],
                    alerts: vec![Alert {
                        id: height,
                        revision: 0,
                        kind: AlertKind::Velocity,
                        account: from.to_string(),
                        institution: String::new(),
                        institution_name: None,
                        height,
                        timestamp_ms: height * 1_000,
                        window_secs: 600,
                        score: 50,
                        asset: None,
                        amount: None,
                        amount_decimal: None,
                        count: 1,
                        detail: String::new(),
                        tx_hashes: Vec::new(),
                        related: Vec::new(),
                    }],
                    first_claim: (height % 2 == 0).then_some(height - 1),
                    // One owner's accounts a and b, opened at 1 and 2; c
                    // another's.
                    owners: match height {
                        1 => vec![(Hash([7; 32]), a)],
                        2 => vec![(Hash([7; 32]), b)],
                        3 => vec![(Hash([8; 32]), c)],
                        _ => Vec::new(),
                    },
                    listing_owners: Vec::new(),
                },
            ),
        );
    }
    // These blocks were never stored as pending (as after a sync): the
    // commit wrote their bodies, as `StoredBlock` bytes.
    for height in 1..=4u64 {
        assert_eq!(db.block_at(height).unwrap(), Some(block_at(height)));
    }
    let heights = |account: Address, forward: bool| {
        let mut out = Vec::new();
        let start = if forward {
            edge_key(0, 0, 0)
        } else {
            [0xFF; 14]
        };
        index::account_edges(
            &db,
            &account,
            index::Sides::Both,
            start,
            forward,
            |_| index::Step::Read,
            |e| {
                out.push(e.height);
                true
            },
        )
        .unwrap();
        out
    };
    // The postings tell which way each leg went and when, unread.
    let mut seen = Vec::new();
    index::account_edges(
        &db,
        &b,
        index::Sides::Both,
        edge_key(0, 0, 0),
        true,
        |p| {
            let s = p.summary;
            seen.push((s.sent, s.received, s.moves, s.timestamp_ms));
            if s.sent {
                index::Step::Read
            } else {
                index::Step::Skip
            }
        },
        |e| {
            assert_eq!(e.from, b);
            true
        },
    )
    .unwrap();
    assert_eq!(
        seen,
        vec![
            (false, true, true, 1_000),
            (true, false, true, 2_000),
            (false, true, true, 3_000),
            (true, false, true, 4_000)
        ]
    );
    assert_eq!(heights(a, true), vec![1, 3]);
    assert_eq!(heights(b, true), vec![1, 2, 3, 4]);
    assert_eq!(heights(b, false), vec![4, 3, 2, 1]);
    assert_eq!(heights(c, true), vec![2, 4]);
    let mut all = Vec::new();
    index::edges_from(&db, edge_key(2, 0, 0), |e| {
        all.push(e.height);
        true
    })
    .unwrap();
    assert_eq!(all, vec![2, 3, 4]);
    // Where a replay of the newest n legs starts.
    assert_eq!(
        index::newest_edges_start(&db, 1).unwrap(),
        Some(edge_key(4, 0, 0))
    );
    assert_eq!(
        index::newest_edges_start(&db, 3).unwrap(),
        Some(edge_key(2, 0, 0))
    );
    assert_eq!(
        index::newest_edges_start(&db, 4).unwrap(),
        Some(edge_key(1, 0, 0))
    );
    assert_eq!(index::newest_edges_start(&db, 5).unwrap(), None);
    assert_eq!(index::newest_edges_start(&db, 0).unwrap(), None);
    assert_eq!(index::last_alert_id(&db).unwrap(), 4);
    let mut ids = Vec::new();
    index::alerts_from(&db, 3, |x| {
        ids.push(x.id);
        true
    })
    .unwrap();
    assert_eq!(ids, vec![3, 4]);
    assert_eq!(index::claim_at_or_below(&db, 2).unwrap(), Some((1, 2)));
    assert_eq!(index::claim_at_or_below(&db, 10).unwrap(), Some((3, 4)));
    assert_eq!(index::claim_at_or_below(&db, 0).unwrap(), None);
    assert_eq!(db.height_at_time(2_500).unwrap(), 3);
    assert_eq!(db.height_at_time(0).unwrap(), 0);
    assert_eq!(db.height_at_time(99_000).unwrap(), 5);
    // The audit-query log: appends advance the head, entries read back.
    assert_eq!(index::audit_log_head(&db).unwrap(), (0, Hash::ZERO));
    index::audit_log_append(&db, 0, b"first", Hash([5; 32])).unwrap();
    index::audit_log_append(&db, 1, b"second", Hash([6; 32])).unwrap();
    assert_eq!(index::audit_log_head(&db).unwrap(), (2, Hash([6; 32])));
    let mut entries = Vec::new();
    index::audit_log_from(&db, 1, |seq, bytes| {
        entries.push((seq, bytes.to_vec()));
        true
    })
    .unwrap();
    assert_eq!(entries, vec![(1, b"second".to_vec())]);
    // The owner index: each owner's accounts by address, with the height
    // that opened them; a page continues after its last address.
    let owned = |owner: Hash, after: Option<&Address>| {
        let mut out = Vec::new();
        index::owner_accounts(&db, &owner, after, |a, h| {
            out.push((a, h));
            true
        })
        .unwrap();
        out
    };
    assert_eq!(owned(Hash([7; 32]), None), vec![(a, 1), (b, 2)]);
    assert_eq!(owned(Hash([7; 32]), Some(&a)), vec![(b, 2)]);
    assert_eq!(owned(Hash([8; 32]), None), vec![(c, 3)]);
    assert_eq!(owned(Hash([6; 32]), None), vec![]);
    assert_eq!(owned(Hash([9; 32]), None), vec![]);
}

/// A regulator that indexed blocks before the owner index existed builds
/// it from the accounts those blocks opened, once: accounts with one
/// commitment are one owner's; the zero commitment links nothing.
#[test]
fn owners_of_accounts_opened_before_the_index_are_backfilled() {
    use hutong_audit::{AuditWrite, Edge, EdgeKind};
    use hutong_node::audit::index;
    use hutong_runtime::state::{Account, AccountKind};
    use hutong_runtime::types::{Nonce, Tier};
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open_with_columns(dir.path(), CHAIN, &index::COLUMNS).unwrap();
    commit_genesis(&db);
    let bank = Address([9; 20]);
    let opened = |n: u8, commitment: Hash| {
        let key = hutong_runtime::Keypair::from_secret_bytes(&[n; 32]);
        let address = Address::of(&key.public());
        let account = Account {
            owner: key.public(),
            kind: AccountKind::Customer {
                tier: Tier(1),
                identity_commitment: commitment,
            },
            institution: bank,
            sequence: Nonce(0),
            frozen: None,
            restriction: None,
        };
        (address, account)
    };
    let same = Hash([7; 32]);
    let accounts = [
        opened(1, same),
        opened(2, same),
        opened(3, Hash::ZERO),
        opened(4, Hash([8; 32])),
    ];
    // Opened at heights 1 and 2, indexed without owners (as before).
    for (height, pair) in [(1u64, &accounts[..2]), (2, &accounts[2..])] {
        let edges: Vec<Edge> = pair
            .iter()
            .enumerate()
            .map(|(i, (address, _))| Edge {
                height,
                index: i as u32,
                leg: 0,
                timestamp_ms: height * 1_000,
                tx_hash: Hash([height as u8 * 10 + i as u8; 32]),
                kind: EdgeKind::OpenAccount,
                from: bank,
                from_institution: bank,
                to: *address,
                to_institution: bank,
                asset: None,
                amount: Amount(0),
                failure: None,
            })
            .collect();
        let state = pair
            .iter()
            .map(|(a, acc)| (StateKey::Account(*a), Some(StateValue::Account(*acc))))
            .collect();
        let write = AuditWrite {
            edges,
            ..AuditWrite::default()
        };
        commit_with_state(
            &db,
            height,
            height * 1_000,
            state,
            index::puts(height, &write),
        );
    }
    let built = index::backfill(&db).unwrap();
    assert!(built.contains(&(index::AUDIT_OWNERS, 4)), "{built:?}");
    let owned = |owner: Hash| {
        let mut out = Vec::new();
        index::owner_accounts(&db, &owner, None, |a, h| {
            out.push((a, h));
            true
        })
        .unwrap();
        out
    };
    let mut expected = vec![(accounts[0].0, 1), (accounts[1].0, 1)];
    expected.sort();
    assert_eq!(owned(same), expected);
    assert_eq!(owned(Hash([8; 32])), vec![(accounts[3].0, 2)]);
    assert_eq!(owned(Hash::ZERO), vec![]);
    assert_eq!(index::owner_of(&db, &accounts[2].0).unwrap(), None);
    assert_eq!(index::owner_of(&db, &accounts[0].0).unwrap(), Some(same));
    // Once: a second start folds nothing in.
    assert!(index::backfill(&db)
        .unwrap()
        .contains(&(index::AUDIT_OWNERS, 0)));
}

/// A transaction that a later block holds again (it fails there on its
/// used sequence number) keeps its first, executed location in the index;
/// one whose first copy failed without using its sequence number (an
/// unknown sender, say) moves to the copy that ran.
#[test]
fn the_transaction_index_keeps_the_copy_that_ran() {
    use hutong_runtime::types::Nonce;
    use hutong_runtime::{FailureReason, Outcome, Receipt};
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), CHAIN).unwrap();
    commit_genesis(&db);
    let (paid, early) = (Hash([0xaa; 32]), Hash([0xbb; 32]));
    let ok = |tx_hash| Receipt {
        tx_hash,
        outcome: Outcome::Success {
            effects: Vec::new(),
        },
    };
    let failed = |tx_hash, reason| Receipt {
        tx_hash,
        outcome: Outcome::Failed { reason },
    };
    let used = |tx_hash| {
        failed(
            tx_hash,
            FailureReason::BadSequence {
                expected: Nonce(2),
                got: Nonce(1),
            },
        )
    };
    let unknown = failed(
        early,
        FailureReason::UnknownSender {
            account: Address([5; 20]),
        },
    );
    let blocks = [
        vec![ok(paid), unknown],
        vec![used(paid)],
        vec![
            Receipt {
                tx_hash: Hash([0xcc; 32]),
                ..ok(paid)
            },
            ok(early),
        ],
        vec![used(early)],
    ];
    for (i, receipts) in blocks.into_iter().enumerate() {
        let height = i as u64 + 1;
        let stored = block_at(height);
        let update = prepare_commit(&db, height, changes(height)).unwrap();
        db.commit_block(BlockWrite {
            executed: Executed {
                height,
                block_id: stored.block.id(),
                round: height,
                timestamp_ms: height,
                state_root: update.root,
                receipts_root: Hash([0; 32]),
            },
            block: stored.block,
            payload: Arc::new(stored.payload),
            tx_hashes: receipts.iter().map(|r| r.tx_hash).collect(),
            receipts,
            state: update,
            proof: None,
            extra: Vec::new(),
        })
        .unwrap();
    }
    let at = |height, index| Some(hutong_node::store::TxLocation { height, index });
    assert_eq!(db.tx_location(&paid).unwrap(), at(1, 0), "the paid copy");
    assert_eq!(
        db.tx_location(&early).unwrap(),
        at(3, 1),
        "the copy that ran"
    );
    assert_eq!(db.tx_location(&Hash([0xcc; 32])).unwrap(), at(3, 0));
}

/// Institution flows read from the buckets (blocks, minutes, hours, days)
/// equal a scan of every leg, for any period, including blocks indexed
/// before the buckets existed and folded in by the backfill.
#[test]
fn flow_totals_match_a_scan_of_every_leg() {
    use hutong_audit::{AuditWrite, Edge, EdgeKind};
    use hutong_node::audit::index;
    use rand::SeedableRng;
    let seed: u64 = std::env::var("HUTONG_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    println!("seed {seed} (HUTONG_SEED={seed} repeats it)");
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open_with_columns(dir.path(), CHAIN, &index::COLUMNS).unwrap();
    commit_genesis(&db);
    let institutions = [Address([10; 20]), Address([11; 20]), Address([12; 20])];
    let assets = [
        AssetCode::new("CNY").unwrap(),
        AssetCode::new("HKD").unwrap(),
    ];
    // A minute before a day starts (UTC), so the blocks cross every kind
    // of bucket boundary.
    let mut ts: u64 = 1_767_225_600_000 - 60_000;
    let mut legs: Vec<Edge> = Vec::new();
    let mut stamps = Vec::new();
    let blocks = 240u64;
    for height in 1..=blocks {
        ts += match rng.gen_range(0..20) {
            0 => rng.gen_range(1_000_000..5_000_000),
            1 => rng.gen_range(20_000_000..50_000_000),
            _ => rng.gen_range(1..20_000),
        };
        stamps.push(ts);
        let mut edges = Vec::new();
        for i in 0..rng.gen_range(0..6u32) {
            let kind = match rng.gen_range(0..10) {
                0 => EdgeKind::Freeze,
                1 => EdgeKind::Payout,
                2 => EdgeKind::Mint,
                _ => EdgeKind::Transfer,
            };
            let from = Address([rng.gen_range(1..6u8); 20]);
            let to = if rng.gen_range(0..20) == 0 {
                from
            } else {
                Address([rng.gen_range(1..6u8); 20])
            };
            edges.push(Edge {
                height,
                index: i,
                leg: 0,
                timestamp_ms: ts,
                tx_hash: Hash([i as u8; 32]),
                kind,
                from,
                from_institution: institutions[rng.gen_range(0..3)],
                to,
                to_institution: institutions[rng.gen_range(0..3)],
                asset: (kind != EdgeKind::Freeze).then(|| assets[rng.gen_range(0..2)]),
                amount: Amount(if rng.gen_range(0..10) == 0 {
                    0
                } else {
                    rng.gen_range(1..10_000_000u128)
                }),
                failure: (rng.gen_range(0..10) == 0).then(|| "insufficient_funds".into()),
            });
        }
        let mut extra = index::puts(
            height,
            &AuditWrite {
                owners: Vec::new(),
                edges: edges.clone(),
                alerts: Vec::new(),
                first_claim: None,
                listing_owners: Vec::new(),
            },
        );
        // The first third as a node from before the buckets and the
        // postings wrote them.
        if height <= blocks / 3 {
            extra.retain(|p| p.column != index::AUDIT_FLOWS && p.column != index::AUDIT_POSTINGS);
        }
        commit_with_extra(&db, height, ts, extra);
        legs.extend(edges);
        if height == blocks / 3 {
            // The regulator restarts with the buckets and postings: they
            // are built for the blocks so far, once.
            let n = legs.len() as u64;
            assert_eq!(
                index::backfill(&db).unwrap(),
                vec![
                    (index::AUDIT_FLOWS, n),
                    (index::AUDIT_POSTINGS, n),
                    (index::AUDIT_OWNERS, n)
                ]
            );
        }
    }
    assert_eq!(
        index::backfill(&db).unwrap(),
        vec![
            (index::AUDIT_FLOWS, 0),
            (index::AUDIT_POSTINGS, 0),
            (index::AUDIT_OWNERS, 0)
        ],
        "built twice"
    );
    // Each account's legs by side, either way, a leg to itself once.
    for account in (1..6u8).map(|b| Address([b; 20])) {
        for (sides, wanted) in [
            (
                index::Sides::Sent,
                &(|e: &Edge| e.from == account) as &dyn Fn(&Edge) -> bool,
            ),
            (index::Sides::Received, &|e: &Edge| e.to == account),
            (index::Sides::Both, &|e: &Edge| {
                e.from == account || e.to == account
            }),
        ] {
            let expected: Vec<[u8; 14]> =
                legs.iter().filter(|e| wanted(e)).map(|e| e.key()).collect();
            for forward in [true, false] {
                let start = if forward { [0; 14] } else { [0xFF; 14] };
                let mut got = Vec::new();
                index::account_edges(
                    &db,
                    &account,
                    sides,
                    start,
                    forward,
                    |p| {
                        got.push(p.key);
                        index::Step::Skip
                    },
                    |_| true,
                )
                .unwrap();
                if !forward {
                    got.reverse();
                }
                assert_eq!(got, expected, "{sides:?} forward={forward} (seed {seed})");
            }
        }
    }
    let scan = |from: u64, to: u64| {
        let mut out: std::collections::BTreeMap<(Address, Address, AssetCode), (u64, u128)> =
            Default::default();
        for e in legs
            .iter()
            .filter(|e| e.is_movement() && e.timestamp_ms >= from && e.timestamp_ms < to)
        {
            let t = out
                .entry((e.from_institution, e.to_institution, e.asset.unwrap()))
                .or_default();
            t.0 += 1;
            t.1 += e.amount.0;
        }
        out
    };
    let point = |rng: &mut rand_chacha::ChaCha8Rng| match rng.gen_range(0..6) {
        0 => 0,
        1 => u64::MAX,
        2 => stamps[rng.gen_range(0..stamps.len())],
        3 => stamps[rng.gen_range(0..stamps.len())] + 1,
        4 => stamps[rng.gen_range(0..stamps.len())] - 1,
        _ => rng.gen_range(stamps[0] - 100_000..ts + 100_000),
    };
    for _ in 0..300 {
        let (a, b) = (point(&mut rng), point(&mut rng));
        let (from, to) = (a.min(b), a.max(b));
        assert_eq!(
            index::flows_between(&db, from, to).unwrap(),
            scan(from, to),
            "flows in {from}..{to} (seed {seed})"
        );
    }
}

/// The regulator's queries over the indexes: a trace backward from an
/// account that paid more payouts than a trace scans per account still
/// finds the one payment it received (the index is split by side); history
/// by direction reads one side; a backward trace with a minimum amount
/// keeps small legs into one account that together reach it (twelve
/// smurfs) and drops those that do not.
#[test]
fn traces_read_the_side_money_went_and_keep_small_legs_that_add_up() {
    use hutong_audit::api::{Direction, HistoryQuery, TraceDirection, TraceQuery};
    use hutong_audit::{AuditWrite, Edge, EdgeKind, Names};
    use hutong_genesis::template::{generate, TemplateOptions};
    use hutong_node::audit::{index, query};
    use rand::SeedableRng;
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open_with_columns(dir.path(), CHAIN, &index::COLUMNS).unwrap();
    commit_genesis(&db);
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(25);
    let generated = generate(&TemplateOptions::default(), &mut rng);
    let names = Names::new(&hutong_genesis::Genesis::from_doc(&generated.doc).unwrap());
    let cny = AssetCode::new("CNY").unwrap();
    let bank = Address([200; 20]);
    let account = |i: u32| {
        let mut a = [0u8; 20];
        a[..4].copy_from_slice(&i.to_be_bytes());
        a[19] = 1;
        Address(a)
    };
    let (source, payer, collector, small_collector, end) =
        (account(1), account(2), account(3), account(4), account(5));
    let leg = |height: u64, index: u32, kind, from, to, amount: u128| Edge {
        height,
        index,
        leg: 0,
        timestamp_ms: 1_767_225_600_000 + height * 1_000,
        tx_hash: Hash([(height % 251) as u8; 32]),
        kind,
        from,
        from_institution: bank,
        to,
        to_institution: bank,
        asset: Some(cny),
        amount: Amount(amount),
        failure: None,
    };
    let mut blocks: Vec<Vec<Edge>> = Vec::new();
    // The payer's one receipt, then 20,004 payouts (a payroll account).
    blocks.push(vec![leg(
        1,
        0,
        EdgeKind::Transfer,
        source,
        payer,
        50_000_000,
    )]);
    for b in 0..4u32 {
        let height = 2 + u64::from(b);
        blocks.push(
            (0..5_001)
                .map(|i| {
                    leg(
                        height,
                        i,
                        EdgeKind::Payout,
                        payer,
                        account(1_000 + b * 5_001 + i),
                        100,
                    )
                })
                .collect(),
        );
    }
    // Twelve smurfs of 9,900 to one collector, three 100s to another;
    // both pay the end account.
    let mut smurfs: Vec<Edge> = (0..12)
        .map(|i| leg(6, i, EdgeKind::Transfer, account(100 + i), collector, 9_900))
        .collect();
    smurfs.extend((0..3).map(|i| {
        leg(
            6,
            12 + i,
            EdgeKind::Transfer,
            account(200 + i),
            small_collector,
            100,
        )
    }));
    blocks.push(smurfs);
    blocks.push(vec![
        leg(7, 0, EdgeKind::Transfer, collector, end, 115_000),
        leg(7, 1, EdgeKind::Transfer, small_collector, end, 50_000),
    ]);
    for (i, edges) in blocks.into_iter().enumerate() {
        let height = i as u64 + 1;
        commit_with_extra(
            &db,
            height,
            1_767_225_600_000 + height * 1_000,
            index::puts(
                height,
                &AuditWrite {
                    edges,
                    alerts: Vec::new(),
                    first_claim: None,
                    owners: Vec::new(),
                    listing_owners: Vec::new(),
                },
            ),
        );
    }

    let back = |start: Address, hops: u32, min: Option<&str>| {
        query::trace(
            &db,
            &names,
            TraceQuery {
                account: Some(start.to_string()),
                direction: Some(TraceDirection::Backward),
                hops: Some(hops),
                min_amount: min.map(str::to_string),
                ..Default::default()
            },
        )
        .unwrap()
    };
    let from_of = |t: &hutong_audit::api::Trace| {
        let mut v: Vec<String> = t.edges.iter().map(|e| e.leg.from.clone()).collect();
        v.sort();
        v
    };
    // Backward from the payroll account: its one receipt, past 20,004
    // payouts, complete.
    let t = back(payer, 3, None);
    assert!(!t.truncated, "a trace backward from a payer is cut short");
    assert_eq!(from_of(&t), vec![source.to_string()]);
    // History by direction.
    let history = |direction, limit| {
        query::history(
            &db,
            &names,
            HistoryQuery {
                account: payer.to_string(),
                direction: Some(direction),
                limit: Some(limit),
                ..Default::default()
            },
        )
        .unwrap()
    };
    let received = history(Direction::In, 100);
    assert_eq!(received.rows.len(), 1);
    assert!(received.next_cursor.is_none());
    let sent = history(Direction::Out, 10);
    assert_eq!(sent.rows.len(), 10);
    assert!(sent.next_cursor.is_some());
    assert_eq!(history(Direction::Any, 10_000).rows.len(), 10_000);
    // The twelve smurfs reach 40,000 together; three 100s do not.
    let t = back(end, 2, Some("40000"));
    let mut expected: Vec<String> = (0..12).map(|i| account(100 + i).to_string()).collect();
    expected.push(collector.to_string());
    expected.push(small_collector.to_string());
    expected.sort();
    assert_eq!(from_of(&t), expected);
    // Above what everything into the end account adds up to: nothing.
    let t = back(end, 2, Some("200000"));
    assert!(t.edges.is_empty(), "{:?}", from_of(&t));
    // 115,000 reaches 100,000 alone, 50,000 does not (and the two are not
    // both small); the smurfs together do.
    let t = back(end, 2, Some("100000"));
    assert_eq!(from_of(&t), {
        let mut v: Vec<String> = (0..12).map(|i| account(100 + i).to_string()).collect();
        v.push(collector.to_string());
        v.sort();
        v
    });
}

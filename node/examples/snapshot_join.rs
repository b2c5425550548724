//! How long a wiped node takes to get the state back: by replaying every
//! block from genesis, or from a snapshot of the state (the chunks a join
//! fetches, checked against the state root), side by side on one chain,
//! in one run. In process, on the node's RocksDB store: no network, no
//! consensus, so it measures what each path costs the joining node's CPU
//! and disk, not a link's bandwidth.
//!
//! The chain: `--accounts` customer accounts in genesis, then
//! `--transfers` signed transfers in blocks of `--block` (every block
//! from distinct senders), then, eight days of block time later, the
//! pruning height that forgets their transfer ids: the snapshot is of the
//! state after it, so it holds the accounts (and whatever transfer ids the
//! last seven days used: none here), not the history.
//!
//! - Replay: a fresh database from genesis executes every block,
//!   checking every signature (in parallel, as the node does) and writing
//!   each block's state synced, as a node syncing from genesis does.
//! - Snapshot: another fresh database restores the tree from chunks read
//!   from the replayed one (the state a peer holds after the whole chain;
//!   each chunk encoded and decoded as on the wire, each proof checked),
//!   rebuilds the transfer-id index, and records the executed height.
//!
//! The replayed database keeps the tree of only the last `--keep-states`
//! heights (`[storage] keep_states`; 0 keeps every version), pruned every
//! `--keep-states` blocks in line: the replay's figure includes that
//! work, and the time it took is printed apart.
//!
//! Run (release; the figures in BENCHMARKS.md):
//!   cargo run --release -p hutong-node --example snapshot_join -- \
//!       --accounts 1000000 --transfers 10000000

use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::Instant;

use hutong_consensus::types::Digest;
use hutong_node::store::{Db, Executed};
use hutong_runtime::execute::{execute_block, BlockContext, Preverified, SignatureCheck};
use hutong_runtime::snapshot::{read_chunk, Chunk, Restore, CHUNK_BYTES_MAX, CHUNK_ENTRIES_MAX};
use hutong_runtime::state::{
    AssetInfo, AssetLimits, Holding, Params, StateKey, StateValue, TierParams,
};
use hutong_runtime::store::{prepare_commit, state_root, StateStore};
use hutong_runtime::transfer::{TRANSFER_ID_RETENTION_MS, TRANSFER_PRUNE_EVERY};
use hutong_runtime::tx::Expiry;
use hutong_runtime::types::TimestampMs;
use hutong_runtime::{
    Account, AccountKind, Address, Amount, AssetCode, ChainId, Hash, Height, Keypair, Nonce,
    SignedTransaction, Tier, Transaction, TransferId, TxKind,
};
use rand::{Rng, SeedableRng};

struct Args {
    accounts: usize,
    transfers: usize,
    block: usize,
    seed: u64,
    keep_states: u64,
}

fn args() -> Args {
    let mut a = Args {
        accounts: 100_000,
        transfers: 1_000_000,
        block: 5_000,
        seed: 1,
        keep_states: 64,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value: u64 = it
            .next()
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{flag} needs a number"));
        match flag.as_str() {
            "--accounts" => a.accounts = value as usize,
            "--transfers" => a.transfers = value as usize,
            "--block" => a.block = value as usize,
            "--seed" => a.seed = value,
            "--keep-states" => a.keep_states = value,
            other => panic!("unknown flag {other}"),
        }
    }
    assert!(
        a.accounts >= a.block,
        "--accounts must be at least --block (senders are distinct within a block)"
    );
    a
}

const T0: u64 = 1_767_196_800_000;

fn cny() -> AssetCode {
    AssetCode::new("CNY").expect("a valid code")
}

fn genesis(keys: &[Keypair]) -> Vec<(StateKey, Option<StateValue>)> {
    let limits = AssetLimits {
        asset: cny(),
        single_max: Amount(1 << 60),
        daily_max: Amount(1 << 62),
        step_up_threshold: None,
    };
    let params = Params {
        utc_offset_seconds: 8 * 3600,
        settlement_cycle_seconds: 86_400,
        fx_providers: Vec::new(),
        identity: None,
        tiers: vec![TierParams {
            tier: Tier(1),
            name: "basic".into(),
            limits: vec![limits],
        }],
    };
    let bank = Address([1; 20]);
    let balance = 1u128 << 40;
    let mut state = vec![
        (StateKey::Params, Some(StateValue::Params(params))),
        (
            StateKey::Asset(cny()),
            Some(StateValue::Asset(AssetInfo {
                code: cny(),
                decimals: 2,
                issuer: bank,
                total_supply: Amount(balance * keys.len() as u128),
            })),
        ),
    ];
    for (i, k) in keys.iter().enumerate() {
        let address = Address::of(&k.public());
        state.push((
            StateKey::Account(address),
            Some(StateValue::Account(Account {
                owner: k.public(),
                kind: AccountKind::Customer {
                    tier: Tier(1),
                    identity_commitment: Hash::tagged(b"bench", &(i as u64).to_le_bytes()),
                },
                institution: bank,
                sequence: Nonce(0),
                frozen: None,
                restriction: None,
            })),
        ));
        state.push((
            StateKey::Balance(address, cny()),
            Some(StateValue::Balance(Holding::of(Amount(balance)))),
        ));
    }
    state
}

/// The blocks: transfers from distinct senders, signed on every core.
fn blocks(a: &Args, keys: &[Keypair], chain_id: ChainId) -> Vec<Vec<SignedTransaction>> {
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(a.seed);
    let mut sequence = vec![0u64; keys.len()];
    let threads = std::thread::available_parallelism().map_or(1, NonZeroUsize::get);
    let mut out = Vec::new();
    let mut next = 0usize;
    let mut id = 0u128;
    while next < a.transfers {
        let n = a.block.min(a.transfers - next);
        let unsigned: Vec<(usize, Transaction)> = (0..n)
            .map(|i| {
                let from = (next + i) % keys.len();
                let mut to = rng.gen_range(0..keys.len());
                if to == from {
                    to = (to + 1) % keys.len();
                }
                id += 1;
                let tx = Transaction {
                    chain_id,
                    sender: keys[from].public(),
                    sequence: Nonce(sequence[from]),
                    expiry: Expiry::Height(Height(u64::MAX / 2)),
                    kind: TxKind::Transfer {
                        to: Address::of(&keys[to].public()),
                        asset: cny(),
                        amount: Amount(rng.gen_range(1..1_000)),
                        transfer_id: TransferId(id),
                    },
                    cosigner: None,
                    memo: Vec::new(),
                };
                sequence[from] += 1;
                (from, tx)
            })
            .collect();
        let per = unsigned.len().div_ceil(threads);
        let signed: Vec<SignedTransaction> = std::thread::scope(|s| {
            let parts: Vec<_> = unsigned
                .chunks(per)
                .map(|part| {
                    s.spawn(move || {
                        part.iter()
                            .map(|(from, tx)| tx.clone().sign(&keys[*from]))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            parts
                .into_iter()
                .flat_map(|h| h.join().expect("a signing thread"))
                .collect()
        });
        out.push(signed);
        next += n;
    }
    out
}

fn context(chain_id: ChainId, height: u64, timestamp: u64) -> BlockContext {
    BlockContext {
        chain_id,
        height: Height(height),
        timestamp: TimestampMs(timestamp),
        certified: Height(height.saturating_sub(1)),
    }
}

/// Executes `txs` as block `height` on `db` and writes it, synced.
fn apply(
    db: &mut Db,
    ctx: &BlockContext,
    txs: &[SignedTransaction],
    pre: Option<&Preverified>,
) -> Hash {
    let check = match pre {
        Some(p) => SignatureCheck::Preverified(p),
        None => SignatureCheck::Verify,
    };
    let outcome = execute_block(&*db, ctx, txs, check).expect("the block executes");
    assert!(
        outcome.receipts.iter().all(|r| r.is_success()),
        "every benchmark transfer succeeds"
    );
    let update = prepare_commit(&*db, ctx.height.0, outcome.changes).expect("the state commits");
    let root = update.root;
    db.apply(update).expect("written");
    root
}

/// The chain's blocks after genesis: the transfer blocks one second
/// apart, then empty blocks up to the pruning height eight days later.
fn schedule(transfer_blocks: usize) -> Vec<(u64, u64)> {
    let mut out: Vec<(u64, u64)> = (1..=transfer_blocks as u64)
        .map(|h| (h, T0 + h * 1_000))
        .collect();
    let last = out.last().map_or(T0, |b| b.1);
    let mut h = transfer_blocks as u64 + 1;
    loop {
        out.push((h, last + TRANSFER_ID_RETENTION_MS + 86_400_000));
        if h.is_multiple_of(TRANSFER_PRUNE_EVERY) {
            return out;
        }
        h += 1;
    }
}

/// The bytes of the files under `path`.
fn disk_bytes(path: &std::path::Path) -> u64 {
    std::fs::read_dir(path).map_or(0, |entries| {
        entries
            .flatten()
            .map(|e| match e.metadata() {
                Ok(m) if m.is_dir() => disk_bytes(&e.path()),
                Ok(m) => m.len(),
                Err(_) => 0,
            })
            .sum()
    })
}

/// A line on stderr every twentieth of the blocks, for long runs.
fn progress(what: &str, height: u64, of: usize, started: Instant) {
    let step = (of as u64 / 20).max(1);
    if height.is_multiple_of(step) {
        eprintln!(
            "    {what}: block {height} of {of} at {:.0}s",
            started.elapsed().as_secs_f64()
        );
    }
}

fn main() {
    let a = args();
    println!(
        "snapshot_join: {} accounts, {} transfers in blocks of {}, seed {}",
        a.accounts, a.transfers, a.block, a.seed
    );
    let chain_id = ChainId([42; 32]);
    let started = Instant::now();
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(a.seed);
    let keys: Vec<Keypair> = (0..a.accounts)
        .map(|_| Keypair::generate(&mut rng))
        .collect();
    let txs = blocks(&a, &keys, chain_id);
    println!(
        "  keys and {} signed blocks in {:.1}s",
        txs.len(),
        started.elapsed().as_secs_f64()
    );

    let dir = tempfile::tempdir().expect("a temporary folder");
    let open = |name: &str| {
        let db = Db::open(&dir.path().join(name), chain_id).expect("a new database");
        if a.keep_states > 0 {
            db.track_stale_nodes();
        }
        db
    };
    // Prunes the tree every `keep_states` heights; returns the seconds
    // it took.
    let prune = |db: &Db, height: u64| -> f64 {
        if a.keep_states == 0 || !height.is_multiple_of(a.keep_states) {
            return 0.0;
        }
        let started = Instant::now();
        while db
            .prune_states_below(height.saturating_sub(a.keep_states))
            .expect("pruned")
            > 0
        {}
        started.elapsed().as_secs_f64()
    };
    let write_genesis = |db: &mut Db| {
        let update = prepare_commit(&*db, 0, genesis(&keys)).expect("genesis commits");
        db.apply(update).expect("written");
    };
    let threads = std::thread::available_parallelism().unwrap_or(NonZeroUsize::MIN);
    let plan = schedule(txs.len());

    // Replay: genesis, then every block, every signature checked. The
    // replayed database is then the peer the snapshot is read from: the
    // state a node holds after executing the whole chain.
    let started = Instant::now();
    let mut source = open("replay");
    write_genesis(&mut source);
    let mut root = Hash([0; 32]);
    let mut pruning_secs = 0.0;
    for &(height, timestamp) in &plan {
        let block: &[SignedTransaction] = txs.get(height as usize - 1).map_or(&[], |b| b);
        let pre = hutong_host::sigverify::verify_parallel(block, threads);
        assert!(pre.valid.iter().all(|v| *v));
        root = apply(
            &mut source,
            &context(chain_id, height, timestamp),
            block,
            Some(&pre),
        );
        pruning_secs += prune(&source, height);
        progress("replay", height, plan.len(), started);
    }
    let replay_secs = started.elapsed().as_secs_f64();
    let version = plan.last().expect("a block").0;
    drop(txs);

    // Snapshot: the chunks of the replayed chain's last version, over the
    // "wire", each proved against its root.
    let started = Instant::now();
    let joined = open("joined");
    let mut restore =
        Restore::new(Arc::new(joined.clone()), version, root).expect("a restore starts");
    let (mut chunks, mut leaves, mut bytes) = (0u64, 0u64, 0u64);
    while let Some(chunk) = read_chunk(
        &source,
        version,
        restore.resume_after(),
        CHUNK_ENTRIES_MAX,
        CHUNK_BYTES_MAX,
    )
    .expect("the source serves")
    {
        let wire = borsh::to_vec(&chunk).expect("encodes");
        bytes += wire.len() as u64;
        let chunk: Chunk = borsh::from_slice(&wire).expect("decodes");
        chunks += 1;
        leaves += chunk.entries.len() as u64;
        restore.add(chunk).expect("every chunk proves");
    }
    restore.finish().expect("the restored root is the source's");
    joined
        .finish_restore(
            Executed {
                height: version,
                block_id: Digest([0; 32]),
                round: 0,
                timestamp_ms: plan.last().expect("a block").1,
                state_root: root,
                receipts_root: Hash([0; 32]),
            },
            None,
        )
        .expect("recorded");
    joined.flush().expect("flushed");
    let snapshot_secs = started.elapsed().as_secs_f64();
    assert_eq!(state_root(&joined, version).expect("a root"), root);

    println!(
        "  replay   {replay_secs:>8.1}s  ({} blocks, {} transfers, {:.0} transfers/s; \
         pruning old states {pruning_secs:.1}s of it)",
        plan.len(),
        a.transfers,
        a.transfers as f64 / replay_secs
    );
    println!(
        "  snapshot {snapshot_secs:>8.1}s  ({leaves} leaves in {chunks} chunks, {:.0} MB)",
        bytes as f64 / 1e6
    );
    println!(
        "  disk: replayed {:.2} GB, joined {:.2} GB",
        disk_bytes(&dir.path().join("replay")) as f64 / 1e9,
        disk_bytes(&dir.path().join("joined")) as f64 / 1e9,
    );
    println!(
        "RESULT accounts={} transfers={} keep_states={} replay_s={replay_secs:.1} replay_pruning_s={pruning_secs:.1} snapshot_s={snapshot_secs:.1} ratio={:.1} leaves={leaves} chunks={chunks}",
        a.accounts,
        a.transfers,
        a.keep_states,
        replay_secs / snapshot_secs
    );
}

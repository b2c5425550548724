//! The soak (not in the default run): steady load while validators are
//! killed, restarted and wiped.

use crate::harness::*;

/// Shared between the soak's load and its fault schedule.
#[derive(Default)]
pub(crate) struct SoakState {
    /// Validators that are running and caught up (a restarted one counts
    /// as down until it has reached the height the others had).
    up: [bool; 4],
    /// Transactions some node reported committed, and which node said so.
    committed: Vec<(Hash, usize)>,
    stop: bool,
}

/// One sender: at most one transfer in flight; on a lost one, it re-reads
/// its sequence from a node and goes on.
pub(crate) async fn soak_sender(
    rpcs: Vec<String>,
    state: std::sync::Arc<std::sync::Mutex<SoakState>>,
    keys: Vec<Keypair>,
    chain_id: ChainId,
    me: usize,
    seed: u64,
) {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed ^ (me as u64) << 32);
    let mut next: Option<u64> = None;
    let cny = AssetCode::new("CNY").unwrap();
    let mut transfer_id = (me as u128) << 64;
    let pick = |rng: &mut rand_chacha::ChaCha8Rng| -> Option<usize> {
        let s = state.lock().unwrap();
        let up: Vec<usize> = (0..4).filter(|&i| s.up[i]).collect();
        (!up.is_empty()).then(|| up[rng.gen_range(0..up.len())])
    };
    loop {
        if state.lock().unwrap().stop {
            return;
        }
        let Some(node) = pick(&mut rng) else {
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        };
        let client = Client::new(&rpcs[node]).unwrap();
        let me_addr = Address::of(&keys[me].public());
        let seq = match next {
            Some(s) => s,
            None => match client.account(&me_addr).await {
                Ok(v) => v.sequence,
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                }
            },
        };
        let mut to = rng.gen_range(0..keys.len());
        if to == me {
            to = (to + 1) % keys.len();
        }
        transfer_id += 1;
        let tx = Transaction {
            chain_id,
            sender: keys[me].public(),
            sequence: Nonce(seq),
            expiry: Expiry::Height(Height(u64::MAX / 2)),
            kind: TxKind::Transfer {
                to: Address::of(&keys[to].public()),
                asset: cny,
                amount: Amount(rng.gen_range(1..100)),
                transfer_id: TransferId(transfer_id),
            },
            cosigner: None,
            memo: Vec::new(),
        }
        .sign(&keys[me]);
        let hash = match client.submit(&tx).await {
            Ok(h) => h,
            Err(_) => {
                next = None;
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        // Wait for it, asking whichever validator is up.
        let started = Instant::now();
        next = None;
        while started.elapsed() < Duration::from_secs(15) {
            tokio::time::sleep(Duration::from_millis(150)).await;
            let Some(asked) = pick(&mut rng) else {
                continue;
            };
            if let Ok(v) = Client::new(&rpcs[asked]).unwrap().transaction(&hash).await {
                if matches!(v, TxStatus::Committed { .. }) {
                    state.lock().unwrap().committed.push((hash, asked));
                    next = Some(seq + 1);
                    break;
                }
            }
        }
    }
}

/// Sum of the demo accounts' balances per asset, as node `i` has them.
pub(crate) async fn demo_supply(
    cluster: &Cluster,
    i: usize,
    keys: &[Keypair],
) -> std::collections::BTreeMap<String, u128> {
    let mut total = std::collections::BTreeMap::new();
    for k in keys {
        let v = cluster
            .client(i)
            .account(&Address::of(&k.public()))
            .await
            .unwrap();
        for (asset, amount) in v.balances {
            *total.entry(asset).or_default() += amount.parse::<u128>().unwrap();
        }
    }
    total
}

/// The long soak, behind `--ignored` (see README "Reliability"): 4
/// validators and a regulator under steady load while a seeded schedule
/// kill -9s a random validator (never more than f = 1 at once) at random
/// instants, restarts it after a random pause, sometimes with its data
/// folder wiped. `HUTONG_SOAK_SECS` (default 600) and `HUTONG_SOAK_SEED`.
#[test]
#[ignore = "long soak: cargo test --workspace --test cluster soak -- --ignored --nocapture"]
fn soak_with_kills_and_wipes_loses_nothing_and_never_forks() {
    use rand::{Rng, SeedableRng};
    let _one = exclusive();
    let secs: u64 = std::env::var("HUTONG_SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(600);
    let seed: u64 = std::env::var("HUTONG_SOAK_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    println!(
        "soak seed {seed}, {secs} s (HUTONG_SOAK_SEED={seed} HUTONG_SOAK_SECS={secs} to repeat)"
    );
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let accounts = 32;
    let mut cluster = Cluster::with_accounts(accounts);
    for i in 0..5 {
        cluster.start(i);
    }
    let rt = runtime();
    rt.block_on(async {
        cluster.wait_height(0, 2, Duration::from_secs(60)).await;
        let keys: Vec<Keypair> = (0..accounts).map(|i| cluster.key(&format!("account-{}", i + 1))).collect();
        let supply_before = demo_supply(&cluster, 0, &keys).await;
        let chain_id = demo_wallets(&cluster, 1).await.chain_id;
        let state = std::sync::Arc::new(std::sync::Mutex::new(SoakState {
            up: [true; 4],
            ..Default::default()
        }));
        let rpcs: Vec<String> = cluster.nodes.iter().map(|n| n.rpc.clone()).collect();
        let senders: Vec<_> = (0..accounts)
            .map(|me| tokio::spawn(soak_sender(rpcs.clone(), state.clone(), keys.clone(), chain_id, me, seed)))
            .collect();

        // The fault schedule, and progress per interval.
        let started = Instant::now();
        let mut down: Option<(usize, Instant, bool)> = None; // node, restart at, wipe
        let mut catching_up: Option<(usize, u64)> = None;
        let (mut kills, mut wipes) = (0, 0);
        let mut next_fault = Instant::now() + Duration::from_secs(rng.gen_range(3..10));
        let mut interval: Option<(Instant, u64)> = None;
        let top = |cluster: &Cluster, state: &std::sync::Mutex<SoakState>| {
            let up: Vec<usize> = (0..4).filter(|&i| state.lock().unwrap().up[i]).collect();
            let clients: Vec<Client> = up.iter().map(|&i| cluster.client(i)).collect();
            async move {
                let mut h = 0;
                for c in clients {
                    if let Ok(s) = c.status().await {
                        h = h.max(s.height);
                    }
                }
                h
            }
        };
        while started.elapsed() < Duration::from_secs(secs) {
            tokio::time::sleep(Duration::from_millis(500)).await;
            let now = Instant::now();
            let h = top(&cluster, &state).await;
            // Progress: with at most f down (a catching-up node counts as
            // down), the chain must move within any 10 s.
            match interval {
                Some((_, at)) if h > at => interval = Some((now, h)),
                Some((since, at)) if now - since > Duration::from_secs(10) => {
                    let logs: Vec<String> = (0..5).map(|i| format!("--- {}:\n{}", cluster.nodes[i].name, cluster.log_tail(i))).collect();
                    let keep = cluster._dir.path().to_path_buf();
                    std::mem::forget(std::mem::replace(&mut cluster._dir, tempfile::tempdir().unwrap()));
                    panic!(
                        "no progress for {:?} at height {at} with at most f down (seed {seed}); nodes' folders kept in {}; logs:\n{}",
                        now - since,
                        keep.display(),
                        logs.join("\n")
                    );
                }
                None => interval = Some((now, h)),
                _ => {}
            }
            // Caught up means at the others' height now, not at the height
            // they had when it restarted (a wiped node syncs for a while).
            if let Some((node, _)) = catching_up {
                let at = cluster.height(node).await.unwrap_or(0);
                if at + 3 >= h {
                    state.lock().unwrap().up[node] = true;
                    catching_up = None;
                    println!("[{:>4}s] validator {node} caught up at {at}", started.elapsed().as_secs());
                }
            }
            if let Some((node, at, wipe)) = down {
                if now >= at {
                    if wipe {
                        std::fs::remove_dir_all(cluster.nodes[node].home.join("data")).unwrap();
                        wipes += 1;
                    }
                    cluster.start(node);
                    catching_up = Some((node, h));
                    down = None;
                    println!("[{:>4}s] validator {node} restarted{}", started.elapsed().as_secs(), if wipe { " with its data wiped" } else { "" });
                }
            } else if catching_up.is_none() && now >= next_fault {
                let node = rng.gen_range(0..4);
                state.lock().unwrap().up[node] = false;
                cluster.kill(node);
                kills += 1;
                let pause = Duration::from_millis(rng.gen_range(500..8_000));
                let wipe = rng.gen_bool(0.15);
                down = Some((node, now + pause, wipe));
                next_fault = now + pause + Duration::from_secs(rng.gen_range(3..12));
                interval = Some((now, h));
                println!("[{:>4}s] kill -9 validator {node} at height {h}", started.elapsed().as_secs());
            }
        }
        state.lock().unwrap().stop = true;
        for s in senders {
            s.await.unwrap();
        }
        if let Some((node, _, _)) = down {
            cluster.start(node);
        }
        // Everyone converges on one history.
        let h = top(&cluster, &state).await;
        for i in 0..5 {
            cluster.wait_height(i, h, Duration::from_secs(180)).await;
        }
        cluster.assert_agree(&[0, 1, 2, 3, 4], h).await;
        for height in (1..h).step_by((h as usize / 25).max(1)) {
            cluster.assert_agree(&[0, 1, 2, 3, 4], height).await;
        }
        // Supply conserved, on every node.
        for i in 0..5 {
            assert_eq!(demo_supply(&cluster, i, &keys).await, supply_before, "node {i}");
        }
        // Everything any node reported committed is committed everywhere.
        let committed = std::mem::take(&mut state.lock().unwrap().committed);
        for i in 0..5 {
            let client = cluster.client(i);
            for (hash, said) in &committed {
                let v = client.transaction(hash).await.unwrap();
                assert!(
                    matches!(v, TxStatus::Committed { .. }),
                    "{hash} (reported by {said}) on node {i}: {v:?}"
                );
            }
        }
        println!(
            "soak: {secs} s, seed {seed}: {kills} kills ({wipes} with wiped data), {} transfers committed, final height {h}, all 5 nodes agree",
            committed.len()
        );
    });
}

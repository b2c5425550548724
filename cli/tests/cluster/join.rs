//! Joining from a snapshot: a wiped validator fills its database from its
//! peers' state snapshot at a trusted node's height (`hutong join`),
//! without replaying the blocks below it, then follows the chain, votes
//! and agrees on the state root; the transfer ids used before the
//! snapshot are still remembered. A regulator, or a node that already
//! has the chain, is refused with one line.

use crate::harness::*;

#[test]
fn a_wiped_validator_joins_from_a_snapshot_and_follows() {
    let _one = exclusive();
    // Enough accounts for a snapshot of several chunks (4,096 leaves
    // each; an account is two leaves, its entry and its holding).
    let mut cluster = Cluster::with_accounts(3_000);
    for i in 0..cluster.nodes.len() {
        cluster.start(i);
    }
    let rt = runtime();
    let mut wallets = rt.block_on(async {
        cluster.wait_height(0, 2, Duration::from_secs(60)).await;
        let mut wallets = demo_wallets(&cluster, 8).await;
        let mut hashes = Vec::new();
        for k in 0..40 {
            let tx = wallets.transfer(k % 8, (k + 1) % 8, 100);
            hashes.push(cluster.client(k % 4).submit(&tx).await.unwrap());
        }
        wait_committed(&cluster.client(0), &hashes).await;
        wallets
    });

    // wallet-b (a validator) loses its data folder.
    let j = cluster
        .nodes
        .iter()
        .position(|n| n.name == "wallet-b")
        .unwrap();
    cluster.kill(j);
    let home = cluster.nodes[j].home.clone();
    std::fs::remove_dir_all(home.join("data")).unwrap();
    let trusted = cluster.nodes[0].rpc.clone();

    // A regulator keeps the whole history: it does not join from a snapshot.
    let regulator = cluster
        .nodes
        .iter()
        .position(|n| n.name == "regulator")
        .unwrap();
    let err = hutong_fails(&[
        "join",
        "--home",
        cluster.nodes[regulator].home.to_str().unwrap(),
        "--trust-rpc",
        &trusted,
    ]);
    assert!(err.contains("regulator keeps the whole history"), "{err}");

    let out = hutong(&[
        "join",
        "--home",
        home.to_str().unwrap(),
        "--trust-rpc",
        &trusted,
    ]);
    let joined_at: u64 = out
        .lines()
        .find_map(|l| l.strip_prefix("joined at height "))
        .and_then(|rest| rest.split(':').next())
        .and_then(|h| h.parse().ok())
        .unwrap_or_else(|| panic!("no join line:\n{out}"));
    assert!(joined_at >= 2, "{out}");
    let chunks: u64 = out
        .split(" chunks")
        .next()
        .and_then(|s| s.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no chunk count:\n{out}"));
    assert!(chunks >= 2, "{out}");
    println!("{out}");
    // Its database now holds the chain: joining again is refused.
    let err = hutong_fails(&[
        "join",
        "--home",
        home.to_str().unwrap(),
        "--trust-rpc",
        &trusted,
    ]);
    assert!(err.contains("already holds this chain"), "{err}");

    cluster.start(j);
    rt.block_on(async {
        // A transfer id used before the snapshot is still remembered by
        // the joined node (it agrees on the receipt and the state root).
        wallets.set_next_transfer_id(1);
        let reused = wallets.transfer(0, 1, 100);
        let reused = cluster.client(0).submit(&reused).await.unwrap();
        let status = cluster
            .client(0)
            .wait_final(&reused, Duration::from_secs(60))
            .await
            .unwrap();
        assert_eq!(
            status.receipt().and_then(|r| r.code.as_deref()),
            Some("exists"),
            "{status:?}"
        );
        // New transfers, submitted to the joined node too, commit.
        wallets.set_next_transfer_id(1_000);
        let mut hashes = Vec::new();
        for k in 0..20 {
            let tx = wallets.transfer(k % 8, (k + 3) % 8, 10);
            let node = if k % 2 == 0 { j } else { 0 };
            let started = Instant::now();
            let hash = loop {
                match cluster.client(node).submit(&tx).await {
                    Ok(h) => break h,
                    // The joined node's RPC may not listen yet.
                    Err(e) if started.elapsed() < Duration::from_secs(30) => {
                        let _ = e;
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                    Err(e) => panic!("submitting to {}: {e}", cluster.nodes[node].name),
                }
            };
            hashes.push(hash);
        }
        wait_committed(&cluster.client(0), &hashes).await;
        let height = cluster.height(0).await.unwrap();
        let all: Vec<usize> = (0..cluster.nodes.len()).collect();
        cluster.assert_agree(&all, height).await;
        // It holds no block below the snapshot: it never replayed them.
        assert!(cluster.client(j).block_at(1).await.is_err());
        assert!(cluster.client(j).block_at(joined_at).await.is_ok());
        let history = cluster.client(j).status().await.unwrap().history;
        assert_eq!(history.joined_at, Some(joined_at));
        assert_eq!(history.oldest_block, joined_at);
        assert!(!history.complete);
    });
}

/// Sets `[storage] keep_blocks` in one node's config (`None` removes it).
/// Sets a node's `[storage]` section to `fields` (none: no section).
fn storage(home: &Path, fields: &[(&str, i64)]) {
    let path = home.join("config.toml");
    let mut doc: toml::Table = toml::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    doc.remove("storage");
    if !fields.is_empty() {
        let storage: toml::Table = fields
            .iter()
            .map(|(k, v)| (k.to_string(), toml::Value::Integer(*v)))
            .collect();
        doc.insert("storage".into(), toml::Value::Table(storage));
    }
    std::fs::write(&path, toml::to_string(&doc).unwrap()).unwrap();
}

/// A validator that keeps only its last blocks and states deletes the
/// older blocks (blocks, transaction index, receipts) and the tree nodes
/// only older states use as the chain grows, and its status says so; it
/// keeps executing and agreeing. The regulator may not prune, and its
/// status says it holds the whole history.
#[test]
fn a_pruning_validator_keeps_its_last_blocks_and_the_regulator_keeps_all() {
    let _one = exclusive();
    let mut cluster = Cluster::new();
    cluster.configure(
        "consensus",
        "empty_block_interval_ms",
        toml::Value::Integer(100),
    );
    let regulator = cluster
        .nodes
        .iter()
        .position(|n| n.name == "regulator")
        .unwrap();
    let pruning = 1;
    let fails =
        |i: usize| hutong_fails(&["node", "--home", cluster.nodes[i].home.to_str().unwrap()]);
    for field in ["keep_blocks", "keep_states"] {
        storage(&cluster.nodes[regulator].home, &[(field, 32)]);
        let err = fails(regulator);
        assert!(
            err.contains("a regulator keeps every block and state") && err.contains(field),
            "{err}"
        );
        storage(&cluster.nodes[pruning].home, &[(field, 8)]);
        let err = fails(pruning);
        assert!(
            err.contains("must be at least 16") && err.contains(field),
            "{err}"
        );
    }
    storage(&cluster.nodes[regulator].home, &[]);
    storage(
        &cluster.nodes[pruning].home,
        &[("keep_blocks", 32), ("keep_states", 32)],
    );

    for i in 0..cluster.nodes.len() {
        cluster.start(i);
    }
    runtime().block_on(async {
        cluster.wait_height(0, 2, Duration::from_secs(60)).await;
        let mut wallets = demo_wallets(&cluster, 4).await;
        let early = wallets.transfer(0, 1, 100);
        let early = cluster.client(0).submit(&early).await.unwrap();
        wait_committed(&cluster.client(0), &[early]).await;
        let early_height = match cluster.client(pruning).transaction(&early).await.unwrap() {
            TxStatus::Committed { height, .. } => height,
            other => panic!("{other:?}"),
        };
        cluster
            .wait_height(0, early_height + 80, Duration::from_secs(60))
            .await;
        let started = Instant::now();
        let history = loop {
            let status = cluster.client(pruning).status().await.unwrap();
            if status.history.oldest_block > early_height + 8
                && status.history.oldest_state > early_height + 8
            {
                break status.history;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "no pruning: {:?}\n{}",
                status.history,
                cluster.log_tail(pruning)
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        assert!(!history.complete);
        assert_eq!(history.keep_blocks, Some(32));
        assert_eq!(history.keep_states, Some(32));
        // The early block, its receipt and its transaction's index are
        // gone from the pruning node, not from the others.
        assert!(cluster
            .client(pruning)
            .block_at(early_height)
            .await
            .is_err());
        assert!(matches!(
            cluster.client(pruning).transaction(&early).await.unwrap(),
            TxStatus::Unknown { .. }
        ));
        assert!(cluster.client(0).block_at(early_height).await.is_ok());
        let reg = cluster.client(regulator).status().await.unwrap().history;
        assert!(
            reg.complete && reg.oldest_block == 1 && reg.oldest_state == 0,
            "{reg:?}"
        );
        // It still executes and agrees.
        let late = wallets.transfer(1, 2, 10);
        let late = cluster.client(pruning).submit(&late).await.unwrap();
        wait_committed(&cluster.client(0), &[late]).await;
        let height = cluster.height(0).await.unwrap();
        let all: Vec<usize> = (0..cluster.nodes.len()).collect();
        cluster.assert_agree(&all, height).await;
    });
}

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
    });
}

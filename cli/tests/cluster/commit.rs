//! Commit and agree: transfers to different nodes commit and every node
//! agrees; bad input gets its code; a non-member peer is refused; the
//! WebSocket subscriptions and /metrics work.

use crate::harness::*;

#[test]
fn four_validators_commit_agree_and_reject_bad_input() {
    let _one = exclusive();
    let mut cluster = Cluster::new();
    for i in 0..5 {
        cluster.start(i);
    }
    runtime().block_on(async {
        cluster.wait_height(0, 2, Duration::from_secs(60)).await;
        let mut wallets = demo_wallets(&cluster, 8).await;

        // Transfers submitted to different validators all commit.
        let mut hashes = Vec::new();
        for k in 0..32 {
            let tx = wallets.transfer(k % 8, (k + 1) % 8, 100);
            let node = k % 4;
            hashes.push(cluster.client(node).submit(&tx).await.unwrap());
        }
        wait_committed(&cluster.client(0), &hashes).await;
        // Every node, the regulator too, has the same blocks and state.
        let h = cluster.height(0).await.unwrap();
        cluster.assert_agree(&[0, 1, 2, 3, 4], h).await;

        // Bad input gets its code.
        let client = cluster.client(1);
        let mut bad_sig = wallets.transfer(0, 1, 1);
        bad_sig.signature.0[5] ^= 1;
        let e = client.submit(&bad_sig).await.unwrap_err();
        assert_eq!(e.rejection_code().as_deref(), Some("bad_signature"), "{e}");
        // Its sequence was not used: take it back.
        wallets.rewind(0);

        let mut other = demo_wallets(&cluster, 8).await;
        other.chain_id = ChainId([9; 32]);
        let e = client.submit(&other.transfer(2, 3, 1)).await.unwrap_err();
        assert_eq!(e.rejection_code().as_deref(), Some("wrong_chain"), "{e}");

        // A committed transaction sent again (a wallet's retry) answers
        // where it is; another one with its used sequence is refused.
        let first = {
            let mut w = demo_wallets(&cluster, 8).await;
            w.set_next_transfer_id(1);
            w.transfer(0, 1, 100)
        };
        assert_eq!(client.submit(&first).await.unwrap(), first.hash());
        let reused = {
            let mut w = demo_wallets(&cluster, 8).await;
            w.set_next_transfer_id(77);
            w.transfer(0, 1, 100)
        };
        let e = client.submit(&reused).await.unwrap_err();
        assert_eq!(e.rejection_code().as_deref(), Some("stale_sequence"), "{e}");

        let mut huge = wallets.transfer(4, 5, 1);
        huge.tx.memo = vec![0; 20_000];
        let e = client.submit(&huge).await.unwrap_err();
        assert_eq!(e.rejection_code().as_deref(), Some("too_large"), "{e}");
        wallets.rewind(4);

        // The rejections left the chain alone: a later transfer commits,
        // and everything acknowledged before is still there. Its finality
        // arrives on a WebSocket subscription to another node, and the
        // block subscription announces the blocks.
        let mut blocks = cluster.client(1).subscribe_blocks().await.unwrap();
        let tx = wallets.transfer(6, 7, 100);
        let h2 = client.submit(&tx).await.unwrap();
        let fin = cluster
            .client(2)
            .await_transaction(&h2, Duration::from_secs(60))
            .await
            .unwrap();
        assert!(fin.succeeded(), "{fin:?}");
        let announced = tokio::time::timeout(Duration::from_secs(30), blocks.next())
            .await
            .expect("no block announced in 30 s")
            .expect("subscription closed")
            .unwrap();
        assert!(announced.height > h, "{announced:?}");
        assert_eq!(announced.state_root.len(), 64, "{announced:?}");
        wait_committed(&cluster.client(2), &[h2]).await;
        wait_committed(&cluster.client(3), &hashes).await;

        // The metrics endpoint counts what happened.
        let value = |name: &str| metric(&cluster, 1, name);
        assert!(value("hutong_height ") >= h as f64);
        assert_eq!(value("hutong_peers "), 4.0);
        assert_eq!(
            value("hutong_rejected_txs_total{code=\"bad_signature\"} "),
            1.0
        );
        assert_eq!(value("hutong_halted "), 0.0);
        assert!(value("hutong_rocksdb_block_writes_total ") > 0.0);
        // Shared batches were attested: named validators checked and
        // attested them, the others admitted them on f + 1 attestations
        // without checking; nobody attested a bad signature. The
        // regulator takes part in none of it.
        let sum = |name: &str| (0..4).map(|i| metric(&cluster, i, name)).sum::<f64>();
        assert!(sum("hutong_attestations_sent_total ") > 0.0);
        assert!(sum("hutong_signature_checks_skipped_total ") > 0.0);
        assert_eq!(sum("hutong_attestation_faults_total "), 0.0);
        assert_eq!(
            metric(&cluster, 4, "hutong_signature_checks_skipped_total "),
            0.0
        );

        // A peer whose key is not in genesis cannot connect.
        let metrics_before = refused(&cluster, 0).await;
        let target = first_p2p_addr(&cluster.nodes[0].home);
        let stranger = stranger_connects(&target).await;
        assert!(!stranger, "a non-member peer stayed connected");
        let metrics_after = refused(&cluster, 0).await;
        assert!(
            metrics_after > metrics_before,
            "the refusal was not counted"
        );
    });
}

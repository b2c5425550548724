//! Recovery after losing more than f validators for good: two of the four
//! validators (ride-d and wallet-b) are lost, the chain stalls; the
//! members sign a statement of the last committed state and a new set
//! (bank-a and mall-c on their nodes, wallet-b on a replacement machine
//! with a new node key, ride-d left out); the survivors and the
//! replacement take it (`hutong recover apply`), and the chain goes on in
//! a new epoch. Statements signed by too few members, naming a state the
//! chain did not certify, or older than a node's committed height are
//! refused with their reasons; none of it edits a database by hand. A
//! node that comes back without the statement gets it from its peers at
//! the recovered height, checks it, and follows.

use crate::harness::*;

/// Replaces one top-level field of a statement file (a forged or mistaken
/// statement, which its signers then sign).
fn edit(file: &Path, field: &str, value: toml::Value, out: &Path) {
    let mut doc: toml::Table = toml::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
    doc.insert(field.into(), value);
    std::fs::write(out, toml::to_string(&doc).unwrap()).unwrap();
}

fn sign(file: &Path, cluster: &Cluster, members: &[&str]) {
    for m in members {
        hutong(&[
            "recover",
            "sign",
            "--key",
            &key_path(cluster, &format!("{m}.institution")),
            file.to_str().unwrap(),
        ]);
    }
}

#[test]
fn a_consortium_that_lost_its_quorum_recovers_by_signed_statement() {
    let _one = exclusive();
    let mut cluster = Cluster::new();
    for i in 0..5 {
        cluster.start(i);
    }
    let (bank_a, mall_c, ride_d, wallet_b, regulator) = (0, 1, 2, 3, 4);
    let net = cluster.keys.parent().unwrap().to_path_buf();
    runtime().block_on(async {
        cluster.wait_height(0, 2, Duration::from_secs(60)).await;
        let mut wallets = demo_wallets(&cluster, 8).await;
        let mut before = Vec::new();
        for k in 0..8 {
            let tx = wallets.transfer(k % 4, 4 + k % 4, 100);
            before.push(cluster.client(bank_a).submit(&tx).await.unwrap());
        }
        wait_committed(&cluster.client(bank_a), &before).await;
        let epoch = cluster
            .client(bank_a)
            .status()
            .await
            .unwrap()
            .consensus
            .epoch;

        // Two of four validators are lost for good: no quorum is left.
        cluster.kill(ride_d);
        cluster.kill(wallet_b);
        tokio::time::sleep(Duration::from_secs(3)).await;
        let stalled = cluster.height(bank_a).await.unwrap();
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert!(
            cluster.height(bank_a).await.unwrap() <= stalled + 1,
            "the chain went on without a quorum"
        );

        // The survivors stop. Each drafts the statement; the one that
        // committed more is the one to recover from.
        for i in [bank_a, mall_c, regulator] {
            cluster.kill(i);
        }
        let homes: Vec<String> = cluster
            .nodes
            .iter()
            .map(|n| n.home.to_str().unwrap().to_string())
            .collect();
        let replacement_key = net.join("wallet-b.node-2.key");
        hutong(&["keys", "new", "--out", replacement_key.to_str().unwrap()]);
        let replacement = keyfile::read(&replacement_key).unwrap().public().to_hex();
        // Where the replacement will listen: the statement tells the other
        // nodes, which dial it there.
        let replacement_p2p = format!("/ip4/127.0.0.1/tcp/{}", free_port());
        let draft = |i: usize, out: &Path| -> u64 {
            hutong(&[
                "recover",
                "draft",
                "--home",
                &homes[i],
                "--validator",
                "bank-a",
                "--validator",
                "mall-c",
                "--validator",
                &format!("wallet-b={replacement}@{replacement_p2p}"),
                "--out",
                out.to_str().unwrap(),
            ]);
            let doc: toml::Table = toml::from_str(&std::fs::read_to_string(out).unwrap()).unwrap();
            doc["height"].as_integer().unwrap() as u64
        };
        let from_a = net.join("recovery-a.toml");
        let from_c = net.join("recovery-c.toml");
        let (ha, hc) = (draft(bank_a, &from_a), draft(mall_c, &from_c));
        let (statement, top) = if ha >= hc {
            (from_a, bank_a)
        } else {
            (from_c, mall_c)
        };
        let height = ha.max(hc);
        println!("recovering from height {height} ({ha} on bank-a, {hc} on mall-c)");

        // Too few: two of four members.
        let two = net.join("recovery-two.toml");
        std::fs::copy(&statement, &two).unwrap();
        sign(&two, &cluster, &["bank-a", "mall-c"]);
        let home = |i: usize| homes[i].clone();
        let err = hutong_fails(&[
            "recover",
            "apply",
            "--home",
            &home(top),
            two.to_str().unwrap(),
        ]);
        assert!(err.contains("too_few_signers"), "{err}");

        // A state root the chain never certified, signed by enough members.
        let forged = net.join("recovery-forged.toml");
        edit(
            &statement,
            "state_root",
            toml::Value::String("11".repeat(32)),
            &forged,
        );
        sign(&forged, &cluster, &["bank-a", "mall-c", "wallet-b"]);
        let err = hutong_fails(&[
            "recover",
            "apply",
            "--home",
            &home(top),
            forged.to_str().unwrap(),
        ]);
        assert!(err.contains("did not certify"), "{err}");

        // Older than what the node committed.
        let older = net.join("recovery-older.toml");
        edit(
            &statement,
            "height",
            toml::Value::Integer(height as i64 - 1),
            &older,
        );
        sign(&older, &cluster, &["bank-a", "mall-c", "wallet-b"]);
        let err = hutong_fails(&[
            "recover",
            "apply",
            "--home",
            &home(top),
            older.to_str().unwrap(),
        ]);
        assert!(
            err.contains("older than this node's committed height"),
            "{err}"
        );

        // Three of four members sign the real one; it shows who signed.
        sign(&statement, &cluster, &["bank-a", "mall-c", "wallet-b"]);
        let shown = hutong(&["recover", "show", statement.to_str().unwrap()]);
        assert_eq!(
            shown.lines().filter(|l| l.ends_with(" valid")).count(),
            3,
            "{shown}"
        );
        assert!(
            shown.contains(&format!("new epoch   {}", epoch + 1)),
            "{shown}"
        );

        for i in [bank_a, mall_c, regulator] {
            let out = hutong(&[
                "recover",
                "apply",
                "--home",
                &home(i),
                statement.to_str().unwrap(),
            ]);
            println!("{}: {out}", cluster.nodes[i].name);
            let now = out.contains(&format!("starts in epoch {}", epoch + 1));
            assert!(
                now || (i != top && out.contains("syncs to height")),
                "{out}"
            );
        }

        // wallet-b's replacement machine: a new node with the new key,
        // from genesis, given the statement before its first start.
        let rpc_port = free_port();
        let replacement_home = net.join("wallet-b-2");
        let peer = format!(
            "{}/p2p/{}",
            first_p2p_addr(&cluster.nodes[bank_a].home),
            peer_of(&cluster, bank_a)
        );
        hutong(&[
            "init",
            "--home",
            replacement_home.to_str().unwrap(),
            "--genesis",
            net.join("genesis.toml").to_str().unwrap(),
            "--node-key",
            replacement_key.to_str().unwrap(),
            "--role",
            "validator",
            "--p2p-listen",
            &replacement_p2p,
            "--peer",
            &peer,
            "--rpc-listen",
            &format!("127.0.0.1:{rpc_port}"),
        ]);
        let out = hutong(&[
            "recover",
            "apply",
            "--home",
            replacement_home.to_str().unwrap(),
            statement.to_str().unwrap(),
        ]);
        assert!(out.contains("syncs to height"), "{out}");
        cluster.nodes.push(Node {
            name: "wallet-b-2".into(),
            home: replacement_home.clone(),
            rpc: format!("http://127.0.0.1:{rpc_port}"),
            child: None,
            netns: None,
        });
        let wallet_b_2 = cluster.nodes.len() - 1;

        for i in [bank_a, mall_c, regulator, wallet_b_2] {
            cluster.start(i);
        }
        // The new epoch runs: the three validators commit new transfers,
        // and every running node follows.
        let running = [bank_a, mall_c, regulator, wallet_b_2];
        let started = Instant::now();
        loop {
            let s = cluster.client(wallet_b_2).status().await;
            if matches!(&s, Ok(s) if s.consensus.epoch == epoch + 1 && s.validators == 3) {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(90),
                "the replacement never reached the new epoch ({s:?}); log:\n{}",
                cluster.log_tail(wallet_b_2)
            );
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        // Blocks commit again (an idle chain still makes empty blocks).
        let started = Instant::now();
        while cluster.height(bank_a).await.unwrap_or(0) < height + 3 {
            if started.elapsed() > Duration::from_secs(60) {
                for &i in &running {
                    println!(
                        "{}: {:?}",
                        cluster.nodes[i].name,
                        cluster.client(i).status().await
                    );
                }
                let logs: Vec<String> = running
                    .iter()
                    .map(|&i| format!("== {}\n{}", cluster.nodes[i].name, cluster.log_tail(i)))
                    .collect();
                if let Some(dir) = std::env::var_os("HUTONG_TEST_LOGS_OUT") {
                    for &i in &running {
                        let _ = std::fs::copy(
                            cluster.nodes[i].home.join("node.log"),
                            Path::new(&dir).join(format!("{}.log", cluster.nodes[i].name)),
                        );
                    }
                }
                panic!("no block after the recovery in 60 s:\n{}", logs.join("\n"));
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        let mut after = Vec::new();
        for k in 0..8 {
            let tx = wallets.transfer(k % 4, 4 + k % 4, 100);
            after.push(cluster.client(mall_c).submit(&tx).await.unwrap());
        }
        wait_committed(&cluster.client(bank_a), &after).await;
        wait_committed(&cluster.client(bank_a), &before).await;
        let h = cluster.height(bank_a).await.unwrap();
        assert!(
            h > height + 2,
            "the chain did not go on: {h} after {height}"
        );
        for &i in &running {
            cluster.wait_height(i, h, Duration::from_secs(60)).await;
        }
        cluster.assert_agree(&running, h).await;
        // The replacement validates: it proposes as rounds rotate.
        let started = Instant::now();
        while cluster
            .client(wallet_b_2)
            .status()
            .await
            .unwrap()
            .consensus
            .proposals
            == 0
        {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "the replacement never proposed; log:\n{}",
                cluster.log_tail(wallet_b_2)
            );
            tokio::time::sleep(Duration::from_millis(300)).await;
        }

        // A third party holding only the genesis checks the regulator's
        // proof of a transfer of the new epoch: it follows the set across
        // the recovery, from the statement the members signed; a
        // statement altered in the proof does not pass.
        let latest = *after.last().unwrap();
        cluster
            .wait_height(regulator, h, Duration::from_secs(60))
            .await;
        let proof = net.join("recovered.tx.proof.json");
        let verified = crate::reconfigure::prove_and_verify(
            &cluster.nodes[regulator].rpc,
            &key_path(&cluster, "regulator"),
            &net.join("genesis.toml"),
            &["tx", &latest.to_string()],
            &proof,
        );
        assert!(verified.contains("VALID"), "{verified}");
        assert!(verified.contains("\"epoch_handoffs\": 1"), "{verified}");
        let g = hutong_genesis::Genesis::from_toml(
            &std::fs::read_to_string(net.join("genesis.toml")).unwrap(),
        )
        .unwrap();
        let file: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&proof).unwrap()).unwrap();
        let raw = hex::decode(file["proof"].as_str().unwrap()).unwrap();
        let mut forged: hutong_audit::proof::AuditProof = borsh::from_slice(&raw).unwrap();
        let signed = forged.epochs[0].recovery.as_mut().unwrap();
        signed.signatures.truncate(2);
        let err = forged.verify(&g).unwrap_err().to_string();
        assert!(err.contains("too_few_signers"), "{err}");
        let mut forged: hutong_audit::proof::AuditProof = borsh::from_slice(&raw).unwrap();
        forged.epochs[0].recovery.as_mut().unwrap().plan.validators[0].node_key =
            keyfile::read(&replacement_key).unwrap().public();
        assert!(forged.verify(&g).is_err());

        // The statement is spent: given again to a stopped survivor, it is
        // refused, as is its older sibling.
        cluster.kill(mall_c);
        let err = hutong_fails(&[
            "recover",
            "apply",
            "--home",
            &home(mall_c),
            statement.to_str().unwrap(),
        ]);
        assert!(err.contains("past the statement's epoch"), "{err}");
        cluster.start(mall_c);
        let h = cluster.height(bank_a).await.unwrap();
        cluster
            .wait_height(mall_c, h, Duration::from_secs(60))
            .await;

        // ride-d's machine comes back without the statement: it follows up
        // to the recovered height, where it asks its peers for the
        // statement, checks it against its own ledger and follows the new
        // epoch as an observer.
        cluster.start(ride_d);
        let h = cluster.height(bank_a).await.unwrap();
        cluster
            .wait_height(ride_d, h, Duration::from_secs(60))
            .await;
        let log = std::fs::read_to_string(cluster.nodes[ride_d].home.join("node.log")).unwrap();
        assert!(
            log.contains("a peer served the members' statement"),
            "{}",
            cluster.log_tail(ride_d)
        );
        let running = [bank_a, mall_c, ride_d, regulator, wallet_b_2];
        cluster.assert_agree(&running, h).await;
    });
}

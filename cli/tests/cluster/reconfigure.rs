//! The validator set changed by vote on a running consortium, each node
//! on a host of its own (network namespaces made with `netlab`, each with
//! its own address; on loopback where namespaces cannot be made): a fifth
//! member is voted in, its node joins from a snapshot of the state after
//! the epoch boundary (`hutong join`, checked against a trusted node's
//! state root) and takes part as a validator of the new epoch; then a member is
//! voted out, its node is disconnected and refused, and the others go on;
//! then a member's node key is rotated and its node, restarted with the
//! new key on the same data, takes its place in the next epoch.
//! A steady transfer load runs throughout; every transfer a node
//! acknowledged commits, and the nodes that remain agree on the state
//! root.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use crate::harness::*;
use crate::partitions::{move_into, Lab};

/// Submits `count` transfers through node `i`; returns their hashes.
async fn transfers(cluster: &Cluster, wallets: &mut Wallets, i: usize, count: usize) -> Vec<Hash> {
    let mut hashes = Vec::new();
    for k in 0..count {
        let tx = wallets.transfer(k % 4, 4 + k % 4, 100);
        hashes.push(cluster.client(i).submit(&tx).await.unwrap());
    }
    hashes
}

async fn epoch_of(cluster: &Cluster, i: usize) -> (u64, usize) {
    match cluster.client(i).status().await {
        Ok(s) => (s.consensus.epoch, s.validators),
        // Still starting.
        Err(_) => (0, 0),
    }
}

async fn wait_epoch(cluster: &Cluster, i: usize, epoch: u64) {
    let started = Instant::now();
    while epoch_of(cluster, i).await.0 < epoch {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{} did not reach epoch {epoch} in 30 s; log:\n{}",
            cluster.nodes[i].name,
            cluster.log_tail(i)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[test]
fn validators_join_and_leave_by_vote() {
    let _one = exclusive();
    let mut cluster = Cluster::new();
    // Six hosts: the five nodes, and bank-e's.
    let lab = match Lab::up(6) {
        Ok(lab) => Some(lab),
        Err(why) if std::env::var_os("HUTONG_NETLAB").is_some() => {
            panic!("the network lab could not be made: {why}")
        }
        Err(why) => {
            println!("validators_join_and_leave_by_vote runs on loopback: {why}");
            None
        }
    };
    if let Some(lab) = &lab {
        move_into(&mut cluster, lab);
    }
    let host_addr = |i: usize| match &lab {
        Some(lab) => lab.addr(i),
        None => "127.0.0.1".to_string(),
    };
    for i in 0..5 {
        cluster.start(i);
    }
    runtime().block_on(async {
        cluster.wait_height(0, 2, Duration::from_secs(60)).await;
        let mut wallets = demo_wallets(&cluster, 8).await;
        let mut acknowledged = transfers(&cluster, &mut wallets, 1, 8).await;
        let load = Load::start(&cluster).await;

        // bank-e makes its keys and card on its own machine.
        let dir = cluster.keys.parent().unwrap().join("bank-e");
        std::fs::create_dir_all(&dir).unwrap();
        let institution = dir.join("institution.key");
        let node_key = dir.join("node.key");
        hutong(&["keys", "new", "--out", institution.to_str().unwrap()]);
        hutong(&["keys", "new", "--out", node_key.to_str().unwrap()]);
        let p2p = format!("/ip4/{}/tcp/{}", host_addr(5), free_port());
        let card = dir.join("bank-e.card");
        hutong(&[
            "keys",
            "card",
            "--name",
            "bank-e",
            "--role",
            "validator",
            "--institution-key",
            institution.to_str().unwrap(),
            "--node-key",
            node_key.to_str().unwrap(),
            "--p2p",
            &p2p,
            "--out",
            card.to_str().unwrap(),
        ]);

        // The regulator's node is down across the next two changes: it
        // must catch up across both boundaries when it comes back.
        let regulator = cluster
            .nodes
            .iter()
            .position(|n| n.name == "regulator")
            .unwrap();
        cluster.kill(regulator);

        // Voted in: bank-a proposes, wallet-b and mall-c approve (3 of 4).
        let out = gov_on(
            &cluster,
            0,
            &[
                "propose",
                "--key",
                &key_path(&cluster, "bank-a.institution"),
                "--voting-period",
                "1h",
                "--wait",
                "add-member",
                "--card",
                card.to_str().unwrap(),
            ],
        );
        assert!(out.contains("proposal_created"), "{out}");
        for voter in ["wallet-b", "mall-c"] {
            approve(
                &cluster,
                0,
                &key_path(&cluster, &format!("{voter}.institution")),
                0,
            );
        }
        let p = cluster.client(0).proposal(0).await.unwrap();
        assert_eq!(p.status, "executed", "{p:?}");
        // Every running node switches to the five-validator set; four of
        // five are a quorum, so the chain goes on before bank-e starts.
        for i in (0..5).filter(|i| *i != regulator) {
            wait_epoch(&cluster, i, 2).await;
            assert_eq!(epoch_of(&cluster, i).await, (2, 5));
        }
        acknowledged.extend(transfers(&cluster, &mut wallets, 2, 8).await);
        let h = cluster.height(0).await.unwrap();
        cluster.wait_height(0, h + 3, Duration::from_secs(60)).await;

        // bank-e's node is made with the address of one peer, joins from a
        // snapshot and takes part in epoch 2.
        let home = dir.join("node");
        let rpc_port = free_port();
        let peer = format!(
            "{}/p2p/{}",
            first_p2p_addr(&cluster.nodes[0].home),
            peer_of(&cluster, 0)
        );
        hutong(&[
            "init",
            "--home",
            home.to_str().unwrap(),
            "--genesis",
            cluster
                .keys
                .parent()
                .unwrap()
                .join("genesis.toml")
                .to_str()
                .unwrap(),
            "--node-key",
            node_key.to_str().unwrap(),
            "--role",
            "validator",
            "--p2p-listen",
            &p2p,
            "--peer",
            &peer,
            "--rpc-listen",
            &format!("{}:{rpc_port}", host_addr(5)),
        ]);
        // It joins from a snapshot of the state at the height of a node
        // its operator trusts (bank-a's), checked against that node's
        // state root, instead of replaying the chain from genesis.
        let mut join = match &lab {
            Some(lab) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", &lab.netns(5), BIN]);
                c
            }
            None => Command::new(BIN),
        };
        let out = join
            .args(["join", "--home", home.to_str().unwrap(), "--trust-rpc"])
            .arg(&cluster.nodes[0].rpc)
            .output()
            .unwrap();
        let joined = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && joined.contains("joined at height"),
            "{joined}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        println!("{joined}");
        cluster.nodes.push(Node {
            name: "bank-e".into(),
            home,
            rpc: format!("http://{}:{rpc_port}", host_addr(5)),
            child: None,
            netns: lab.as_ref().map(|lab| lab.netns(5)),
        });
        cluster.start(5);
        let h = cluster.height(0).await.unwrap();
        cluster.wait_height(5, h, Duration::from_secs(90)).await;
        wait_epoch(&cluster, 5, 2).await;
        // It votes and leads: its proposals count up as rounds rotate.
        let started = Instant::now();
        loop {
            let s = cluster.client(5).status().await.unwrap();
            if s.consensus.proposals > 0 {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "bank-e never proposed; log:\n{}",
                cluster.log_tail(5)
            );
            acknowledged.extend(transfers(&cluster, &mut wallets, 5, 2).await);
            tokio::time::sleep(Duration::from_millis(300)).await;
        }

        // ride-d is voted out: four of the five members approve.
        let out = gov_on(
            &cluster,
            0,
            &[
                "propose",
                "--key",
                &key_path(&cluster, "bank-a.institution"),
                "--voting-period",
                "1h",
                "--wait",
                "remove-member",
                "ride-d",
            ],
        );
        assert!(out.contains("proposal_created"), "{out}");
        for voter in ["wallet-b", "mall-c"] {
            approve(
                &cluster,
                0,
                &key_path(&cluster, &format!("{voter}.institution")),
                1,
            );
        }
        approve(&cluster, 5, institution.to_str().unwrap(), 1);
        // Read where the deciding vote waited (others may be a block
        // behind).
        assert_eq!(
            cluster.client(5).proposal(1).await.unwrap().status,
            "executed"
        );
        let ride_d = cluster
            .nodes
            .iter()
            .position(|n| n.name == "ride-d")
            .unwrap();
        let members: Vec<usize> = (0..6).filter(|i| *i != ride_d).collect();
        for &i in members.iter().filter(|i| **i != regulator) {
            wait_epoch(&cluster, i, 3).await;
            assert_eq!(epoch_of(&cluster, i).await, (3, 4));
        }
        // Back after two changes: it syncs to the end of epoch 1, then of
        // epoch 2, checking each with its own validator set.
        cluster.start(regulator);
        wait_epoch(&cluster, regulator, 3).await;
        assert_eq!(epoch_of(&cluster, regulator).await, (3, 4));
        // Its node is cut off: it stops advancing while the others go on,
        // and its reconnections are refused.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let stuck = cluster.height(ride_d).await.unwrap();
        acknowledged.extend(transfers(&cluster, &mut wallets, 1, 8).await);
        let h = cluster.height(0).await.unwrap();
        cluster.wait_height(0, h + 5, Duration::from_secs(60)).await;
        assert!(
            cluster.height(ride_d).await.unwrap() <= stuck + 3,
            "the removed member's node kept following"
        );
        let started = Instant::now();
        while refused(&cluster, 0).await == 0 {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "no refused connection on bank-a; log:\n{}",
                cluster.log_tail(0)
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }

        // mall-c's node key is rotated: once the change takes effect (a
        // few blocks after the vote), the old key is out; its operator restarts the node with the new key on
        // the same data, and it takes its place in the new epoch.
        let mall_c = cluster
            .nodes
            .iter()
            .position(|n| n.name == "mall-c")
            .unwrap();
        let new_node_key = cluster.keys.join("mall-c.node-2.key");
        hutong(&["keys", "new", "--out", new_node_key.to_str().unwrap()]);
        let new_public = keyfile::read(&new_node_key).unwrap().public().to_hex();
        let out = gov_on(
            &cluster,
            0,
            &[
                "propose",
                "--key",
                &key_path(&cluster, "bank-a.institution"),
                "--voting-period",
                "1h",
                "--wait",
                "rotate-node-key",
                "mall-c",
                "--node-key",
                &new_public,
            ],
        );
        assert!(out.contains("proposal_created"), "{out}");
        for (node, key) in [
            (0, key_path(&cluster, "wallet-b.institution")),
            (5, institution.to_str().unwrap().to_string()),
        ] {
            approve(&cluster, node, &key, 2);
        }
        for &i in &members {
            if i != mall_c {
                wait_epoch(&cluster, i, 4).await;
            }
        }
        acknowledged.extend(transfers(&cluster, &mut wallets, 3, 4).await);
        cluster.kill(mall_c);
        // The operator points the node's config at the new key file.
        let config = cluster.nodes[mall_c].home.join("config.toml");
        let mut doc: toml::Table =
            toml::from_str(&std::fs::read_to_string(&config).unwrap()).unwrap();
        doc.insert(
            "node_key".into(),
            toml::Value::String(new_node_key.to_str().unwrap().into()),
        );
        std::fs::write(&config, toml::to_string(&doc).unwrap()).unwrap();
        cluster.start(mall_c);
        wait_epoch(&cluster, mall_c, 4).await;
        let h = cluster.height(0).await.unwrap();
        cluster
            .wait_height(mall_c, h, Duration::from_secs(60))
            .await;
        let started = Instant::now();
        while cluster
            .client(mall_c)
            .status()
            .await
            .unwrap()
            .consensus
            .proposals
            == 0
        {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "mall-c never proposed with its new key; log:\n{}",
                cluster.log_tail(mall_c)
            );
            acknowledged.extend(transfers(&cluster, &mut wallets, mall_c, 2).await);
            tokio::time::sleep(Duration::from_millis(300)).await;
        }

        // No acknowledged transfer was lost, and the members agree.
        let steady = load.stop().await;
        assert!(steady.len() > 50, "the load ran thin: {}", steady.len());
        let latest = *steady.last().unwrap();
        acknowledged.extend(steady);
        wait_committed(&cluster.client(0), &acknowledged).await;
        let h = cluster.height(0).await.unwrap();
        cluster.assert_agree(&members, h).await;

        // A third party holding only the genesis checks the regulator's
        // proofs of epoch 4: they follow the validator set across the
        // three changes, each certified by the set before it.
        cluster
            .wait_height(regulator, h, Duration::from_secs(60))
            .await;
        let net = cluster.keys.parent().unwrap().to_path_buf();
        let genesis = net.join("genesis.toml");
        let reg_key = key_path(&cluster, "regulator");
        let rpc = cluster.nodes[regulator].rpc.clone();
        let tx_proof = net.join("epoch4.tx.proof.json");
        let verified = prove_and_verify(
            &rpc,
            &reg_key,
            &genesis,
            &["tx", &latest.to_string()],
            &tx_proof,
        );
        assert!(verified.contains("VALID"), "{verified}");
        assert!(verified.contains("\"epoch\": 4"), "{verified}");
        assert!(verified.contains("\"epoch_handoffs\": 3"), "{verified}");
        let balance_proof = net.join("epoch4.balance.proof.json");
        let account = wallets.address(1).to_string();
        let verified = prove_and_verify(
            &rpc,
            &reg_key,
            &genesis,
            &["balance", &account, "--asset", "CNY"],
            &balance_proof,
        );
        assert!(verified.contains("\"certified_in_epoch\": 4"), "{verified}");
        assert!(verified.contains("\"epoch_handoffs\": 3"), "{verified}");
        // The fuzz target `audit_proof` starts from these proofs:
        // `HUTONG_PROOF_SEEDS_OUT=tests/fuzz/seeds/audit` writes them there.
        if let Some(out) = std::env::var_os("HUTONG_PROOF_SEEDS_OUT") {
            let out = std::path::PathBuf::from(out);
            std::fs::copy(&genesis, out.join("genesis.toml")).unwrap();
            std::fs::copy(&tx_proof, out.join("tx.proof.json")).unwrap();
            std::fs::copy(&balance_proof, out.join("balance.proof.json")).unwrap();
        }
        // A handoff that names another set does not pass.
        let bytes = std::fs::read(&balance_proof).unwrap();
        let g = hutong_genesis::Genesis::from_toml(&std::fs::read_to_string(&genesis).unwrap())
            .unwrap();
        let file: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        let raw = hex::decode(file["proof"].as_str().unwrap()).unwrap();
        let mut proof: hutong_audit::proof::AuditProof = borsh::from_slice(&raw).unwrap();
        proof.epochs.swap(0, 1);
        assert!(proof.verify(&g).is_err());
        proof.epochs.swap(0, 1);
        proof.epochs.pop();
        assert!(proof.verify(&g).is_err());
    });
    drop(cluster);
    drop(lab);
}

/// `hutong audit proof <what…> --out <out>` through the regulator's RPC,
/// then `hutong audit verify` of the file against the genesis alone;
/// returns what the verifier printed.
pub(crate) fn prove_and_verify(
    rpc: &str,
    key: &str,
    genesis: &std::path::Path,
    what: &[&str],
    out: &std::path::Path,
) -> String {
    let out = out.to_str().unwrap();
    let mut args = vec!["audit", "proof", "--rpc", rpc, "--key", key];
    args.extend_from_slice(what);
    args.extend(["--out", out]);
    hutong(&args);
    hutong(&[
        "audit",
        "verify",
        out,
        "--genesis",
        genesis.to_str().unwrap(),
    ])
}

/// A steady load: a transfer every 50 ms from accounts 9–16 (the test's
/// own use accounts 1–8), through bank-a and wallet-b (never removed or
/// restarted) in turn; the hashes of those the node acknowledged.
struct Load {
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
    acknowledged: Arc<Mutex<Vec<Hash>>>,
}

impl Load {
    async fn start(cluster: &Cluster) -> Load {
        let status = cluster.client(0).status().await.unwrap();
        let chain_id = ChainId(Hash::from_hex(&status.chain_id).unwrap().0);
        let keys: Vec<Keypair> = (9..=16)
            .map(|i| cluster.key(&format!("account-{i}")))
            .collect();
        let mut wallets = Wallets::new(chain_id, keys);
        let through: Vec<Client> = ["bank-a", "wallet-b"]
            .iter()
            .map(|name| {
                let i = cluster.nodes.iter().position(|n| n.name == *name).unwrap();
                cluster.client(i)
            })
            .collect();
        let stop = Arc::new(AtomicBool::new(false));
        let acknowledged = Arc::new(Mutex::new(Vec::new()));
        let task = tokio::spawn({
            let stop = stop.clone();
            let acknowledged = acknowledged.clone();
            async move {
                let mut k = 0usize;
                while !stop.load(Ordering::SeqCst) {
                    let from = k % 4;
                    let tx = wallets.transfer(from, 4 + (k / 4) % 4, 1);
                    match through[k % 2].submit(&tx).await {
                        Ok(h) => acknowledged.lock().unwrap().push(h),
                        // Refused (busy, a sequence gap after a refusal):
                        // the wallet's sequence is re-read and the
                        // transfer is not counted.
                        Err(_) => {
                            let account = wallets.address(from);
                            if let Ok(a) = through[k % 2].account(&account).await {
                                wallets.set_next_sequence(from, a.sequence);
                            }
                        }
                    }
                    k += 1;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        });
        Load {
            stop,
            task,
            acknowledged,
        }
    }

    async fn stop(self) -> Vec<Hash> {
        self.stop.store(true, Ordering::SeqCst);
        let _ = self.task.await;
        std::mem::take(&mut *self.acknowledged.lock().unwrap())
    }
}

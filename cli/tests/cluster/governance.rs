//! Governance by vote on a running consortium, through `hutong gov`: a
//! tier limit raised by vote (a transfer above the old limit then
//! succeeds on every node), an institution key rotated (the old key is
//! refused at admission with `retired_key`, the new one signs for the same
//! account), consensus timing changed by vote (every node applies it), and
//! the proposals and parameters as JSON-RPC shows them.

use crate::harness::*;

#[test]
fn tier_limits_and_keys_change_by_vote() {
    let _one = exclusive();
    let mut cluster = Cluster::new();
    for i in 0..5 {
        cluster.start(i);
    }
    runtime().block_on(async {
        cluster.wait_height(0, 2, Duration::from_secs(60)).await;
        let mut wallets = demo_wallets(&cluster, 8).await;
        // account-1 is tier 1: at most 5,000.00 CNY in one transfer.
        let over = 600_000;
        let tx = wallets.transfer(0, 1, over);
        let h = cluster.client(0).submit(&tx).await.unwrap();
        let status = cluster
            .client(0)
            .wait_final(&h, Duration::from_secs(60))
            .await
            .unwrap();
        let receipt = status.receipt().unwrap();
        assert_eq!(receipt.code.as_deref(), Some("single_limit_exceeded"));

        // bank-a proposes to raise it; wallet-b and mall-c approve.
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
                "set-tier-limits",
                "--tier",
                "1",
                "--name",
                "basic",
                "--asset",
                "CNY",
                "--single-max",
                "10000.00",
                "--daily-max",
                "40000.00",
            ],
        );
        assert!(out.contains("proposal_created"), "{out}");
        let listed = gov_on(&cluster, 0, &["list", "--status", "open"]);
        assert!(
            listed.contains("tier 1 CNY limits") && listed.contains("1/3 of 4"),
            "{listed}"
        );
        for voter in ["wallet-b", "mall-c"] {
            approve(
                &cluster,
                0,
                &key_path(&cluster, &format!("{voter}.institution")),
                0,
            );
        }
        // The votes waited on node 0; the others may be a block behind.
        let h0 = cluster.height(0).await.unwrap();
        for i in 1..5 {
            cluster.wait_height(i, h0, Duration::from_secs(60)).await;
        }
        let p = cluster.client(1).proposal(0).await.unwrap();
        assert_eq!(p.status, "executed", "{p:?}");
        assert_eq!(p.tally.approvals, 3);
        // A late vote is refused with its code.
        let late = Command::new(BIN)
            .args(["gov", "--rpc", &cluster.nodes[0].rpc, "vote", "--key"])
            .arg(key_path(&cluster, "ride-d.institution"))
            .args(["--wait", "0", "approve"])
            .output()
            .unwrap();
        assert!(!late.status.success());
        assert!(
            String::from_utf8_lossy(&late.stderr).contains("proposal_closed"),
            "{}",
            String::from_utf8_lossy(&late.stderr)
        );
        // The new limit rules on every node.
        let params = cluster.client(3).parameters().await.unwrap();
        let tier1 = params.tiers.iter().find(|t| t.tier == 1).unwrap();
        let cny = tier1.limits.iter().find(|l| l.asset == "CNY").unwrap();
        assert_eq!(cny.single_max, "1000000");
        // People read limits as decimals with the asset.
        let params_text = gov_on(&cluster, 0, &["params"]);
        assert!(
            params_text.contains("tier 1 (basic) single 10,000.00 CNY, daily 40,000.00 CNY"),
            "{params_text}"
        );
        let shown = gov_on(&cluster, 0, &["show", "0"]);
        assert!(shown.contains("single 10,000.00 CNY"), "{shown}");
        // A status filter that is not a status is refused, with the list.
        let bad = Command::new(BIN)
            .args([
                "gov",
                "--rpc",
                &cluster.nodes[0].rpc,
                "list",
                "--status",
                "opne",
            ])
            .output()
            .unwrap();
        assert!(!bad.status.success());
        assert!(
            String::from_utf8_lossy(&bad.stderr).contains("expected one of open"),
            "{}",
            String::from_utf8_lossy(&bad.stderr)
        );
        let tx = wallets.transfer(0, 1, over);
        let h = cluster.client(2).submit(&tx).await.unwrap();
        wait_committed(&cluster.client(0), &[h]).await;
        // Submitting the same bytes again (a wallet's retry) answers where
        // the transaction is, not "stale sequence".
        assert_eq!(cluster.client(1).submit(&tx).await.unwrap(), h);
        let verdicts = cluster.client(0).submit_many(std::slice::from_ref(&tx)).await.unwrap();
        assert!(
            matches!(&verdicts[..], [SubmitVerdict::Committed { hash, .. }] if *hash == h.to_string()),
            "{verdicts:?}"
        );
        // A wallet reads the rules and what it may still send today.
        let params = cluster.client(0).parameters().await.unwrap();
        assert_eq!(params.decimals.get("CNY"), Some(&2), "{params:?}");
        assert_eq!(params.sizes.tx_bytes_max, 16 * 1024);
        assert_eq!(params.sizes.memo_bytes_max, 512);
        assert_eq!(params.sizes.sequence_window, 256);
        let view = cluster
            .client(0)
            .account(&wallets.address(0))
            .await
            .unwrap();
        assert_eq!(view.next_sequence, view.sequence, "nothing pending");
        let cny = &view.limits["CNY"];
        assert_eq!(
            (cny.single_max.as_str(), cny.daily_max.as_str()),
            ("1000000", "4000000")
        );
        let spent: u128 = cny.spent_today.parse().unwrap();
        let remaining: u128 = cny.remaining_today.parse().unwrap();
        assert_eq!(spent + remaining, 4_000_000, "{cny:?}");
        // The day may have turned (midnight in the consortium's zone)
        // since the transfer's block; else it counts, and only it.
        assert!(spent == over || spent == 0, "{cny:?}");

        // bank-a rotates its institution key.
        let new_key = cluster.keys.join("bank-a.institution-2.key");
        hutong(&["keys", "new", "--out", new_key.to_str().unwrap()]);
        let new_public = keyfile::read(&new_key).unwrap().public().to_hex();
        let out = gov_on(
            &cluster,
            0,
            &[
                "propose",
                "--key",
                &key_path(&cluster, "bank-a.institution"),
                "--wait",
                "rotate-institution-key",
                "bank-a",
                "--institution-key",
                &new_public,
            ],
        );
        assert!(out.contains("proposal_created"), "{out}");
        for voter in ["wallet-b", "ride-d"] {
            approve(
                &cluster,
                0,
                &key_path(&cluster, &format!("{voter}.institution")),
                1,
            );
        }
        assert_eq!(
            cluster.client(0).proposal(1).await.unwrap().status,
            "executed"
        );
        let bank_a = Address::of(&cluster.key("bank-a.institution").public());
        let to = Address::of(&cluster.key("account-2").public()).to_string();
        let mint = |key: &Path| {
            Command::new(BIN)
                .args(["tx", "--rpc", &cluster.nodes[1].rpc, "--key"])
                .arg(key)
                .args([
                    "--wait", "mint", "--to", &to, "--asset", "CNY", "--amount", "1.00",
                ])
                .output()
                .unwrap()
        };
        // The old key is refused at admission; the new one signs for the
        // same account.
        let old = mint(&cluster.keys.join("bank-a.institution.key"));
        assert!(!old.status.success());
        assert!(
            String::from_utf8_lossy(&old.stderr).contains("retired_key"),
            "{}",
            String::from_utf8_lossy(&old.stderr)
        );
        // Read from the node the mint waited on (others may lag a block).
        let before = cluster.client(1).account(&bank_a).await.unwrap().sequence;
        let new = mint(&new_key);
        assert!(
            new.status.success(),
            "{}",
            String::from_utf8_lossy(&new.stderr)
        );
        let after = cluster.client(1).account(&bank_a).await.unwrap().sequence;
        assert_eq!(after, before + 1);

        // Consensus timing by vote: every node applies the new timing.
        let out = gov_on(
            &cluster,
            0,
            &[
                "propose",
                "--key",
                &key_path(&cluster, "wallet-b.institution"),
                "--wait",
                "set-timing",
                "--empty-block-interval-ms",
                "300",
            ],
        );
        assert!(out.contains("proposal_created"), "{out}");
        for voter in ["mall-c", "ride-d"] {
            approve(
                &cluster,
                0,
                &key_path(&cluster, &format!("{voter}.institution")),
                2,
            );
        }
        assert_eq!(
            cluster.client(0).proposal(2).await.unwrap().status,
            "executed"
        );
        let h0 = cluster.height(0).await.unwrap();
        for i in 0..5 {
            cluster.wait_height(i, h0, Duration::from_secs(60)).await;
            let started = Instant::now();
            loop {
                let log = std::fs::read_to_string(cluster.nodes[i].home.join("node.log")).unwrap();
                if log.contains("the consortium's consensus timing changed")
                    && log.contains("empty_block_interval_ms: 300")
                {
                    break;
                }
                assert!(
                    started.elapsed() < Duration::from_secs(10),
                    "{} did not apply the voted timing:\n{}",
                    cluster.nodes[i].name,
                    cluster.log_tail(i)
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }

        let h = cluster.height(0).await.unwrap();
        cluster.assert_agree(&[0, 1, 2, 3, 4], h).await;
    });
}

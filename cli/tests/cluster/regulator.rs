//! The regulator's audit node end to end: traces, alerts, proofs a third
//! party checks, freezes, and a tampered state it must detect.

use crate::harness::*;
use hutong_audit::api::{AlertsQuery, Flows, ProofQuery, Refusal, Trace};
use hutong_audit::AlertKind;

pub(crate) fn audit_refusal(e: hutong_node::client::ClientError) -> (i32, Option<String>) {
    match e {
        hutong_node::client::ClientError::Rpc { code, data, .. } => (
            code,
            data.and_then(|d| serde_json::from_value::<Refusal>(d).ok())
                .map(|r| r.code),
        ),
        other => panic!("expected a JSON-RPC error, got {other}"),
    }
}

/// The regulator's audit node end to end, through the CLI: a layering
/// pattern through 5 accounts at 4 institutions is traced; structuring
/// and fan-out raise alerts and ordinary transfers do not; requests that
/// are not a regulator's are refused; a proof checks offline and fails
/// with any byte changed; a regulator freeze lands and flags the frozen
/// account's counterparty; the audit log's chain holds; and a regulator
/// whose state was tampered with stops with a divergence report.
#[test]
fn the_regulator_traces_alerts_proves_and_freezes() {
    let _one = exclusive();
    let mut cluster = Cluster::with_accounts(24);
    for i in 0..5 {
        cluster.start(i);
    }
    let net = cluster.keys.parent().unwrap().to_path_buf();
    let regulator_rpc = cluster.nodes[4].rpc.clone();
    let regulator_key = cluster.keys.join("regulator.key");
    let reg_key = regulator_key.to_str().unwrap().to_string();
    let genesis_path = net.join("genesis.toml");
    // `hutong audit …` against the regulator's node, signed with its key.
    let audit = |args: &[&str]| {
        let mut all = vec!["audit", "--rpc", &regulator_rpc, "--key", &reg_key];
        all.extend_from_slice(args);
        hutong(&all)
    };
    runtime().block_on(async {
        cluster.wait_height(4, 2, Duration::from_secs(60)).await;
        let mut w = demo_wallets(&cluster, 24).await;
        let validator = cluster.client(0);
        let regulator = cluster.client(4);
        let yuan = |n: u128| n * 100;

        // Layering: account-3 (mall-c) → 6 (wallet-b) → 9 (bank-a) →
        // 12 (ride-d) → 15 (mall-c), one hop at a time, peeling a little.
        let path = [2usize, 5, 8, 11, 14];
        let mut layering = Vec::new();
        for (hop, pair) in path.windows(2).enumerate() {
            let tx = w.transfer(pair[0], pair[1], yuan(3_000 - 50 * hop as u128));
            let h = validator.submit(&tx).await.unwrap();
            wait_committed(&validator, &[h]).await;
            layering.push(h);
        }
        // Structuring: account-5 (tier 2, step-up at 10,000 CNY) sends
        // three amounts just under it.
        let mut others = Vec::new();
        for (k, amount) in [9_800u128, 9_700, 9_900].into_iter().enumerate() {
            let tx = w.transfer(4, 15 + k, yuan(amount));
            others.push(validator.submit(&tx).await.unwrap());
        }
        // Fan-out: account-8 pays 10 distinct accounts within seconds
        // (eight score just under the default minimum for an account
        // with no history: that many strangers is unusual, not alarming).
        for k in [0, 1, 3, 6, 9, 10, 12, 13, 16, 17] {
            let tx = w.transfer(7, k, yuan(10));
            others.push(validator.submit(&tx).await.unwrap());
        }
        // Baseline: ordinary random transfers among accounts 19..24.
        use rand::{Rng, SeedableRng};
        let seed: u64 = rand::random();
        println!("baseline seed {seed}");
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let mut baseline_senders = std::collections::HashSet::new();
        for _ in 0..30 {
            let from = rng.gen_range(18..24);
            let mut to = rng.gen_range(18..24);
            if to == from {
                to = 18 + (to - 17) % 6;
            }
            baseline_senders.insert(w.address(from).to_string());
            let tx = w.transfer(from, to, yuan(rng.gen_range(1..100)));
            others.push(validator.submit(&tx).await.unwrap());
        }
        wait_committed(&validator, &others).await;
        let top = cluster.height(0).await.unwrap();
        cluster.wait_height(4, top, Duration::from_secs(60)).await;

        // "Where did this money go": trace from the first account.
        let first = w.address(2).to_string();
        let trace: Trace = serde_json::from_str(&audit(&[
            "trace",
            "--account",
            &first,
            "--hops",
            "6",
            "--format",
            "json",
        ]))
        .unwrap();
        let traced: Vec<(String, String)> = trace
            .edges
            .iter()
            .map(|e| (e.leg.from.clone(), e.leg.to.clone()))
            .collect();
        let expected: Vec<(String, String)> = path
            .windows(2)
            .map(|p| (w.address(p[0]).to_string(), w.address(p[1]).to_string()))
            .collect();
        assert_eq!(traced, expected, "{trace:?}");
        // With a window (the README's example): the same path, since each
        // hop followed the last within seconds. The start account's own
        // first legs are not timed from `--from` (issue 25: this was empty).
        let windowed: Trace = serde_json::from_str(&audit(&[
            "trace",
            "--account",
            &first,
            "--hops",
            "6",
            "--window",
            "30m",
            "--format",
            "json",
        ]))
        .unwrap();
        let windowed: Vec<(String, String)> = windowed
            .edges
            .iter()
            .map(|e| (e.leg.from.clone(), e.leg.to.clone()))
            .collect();
        assert_eq!(windowed, expected, "forward with --window 30m");
        let last = w.address(*path.last().unwrap()).to_string();
        let back_windowed: Trace = serde_json::from_str(&audit(&[
            "trace",
            "--account",
            &last,
            "--backward",
            "--hops",
            "6",
            "--window",
            "30m",
            "--format",
            "json",
        ]))
        .unwrap();
        assert!(
            back_windowed.edges.iter().any(|e| e.leg.to == last),
            "backward with --window 30m from the path's end found nothing: {back_windowed:?}"
        );
        let institutions: std::collections::BTreeSet<&str> =
            trace.nodes.iter().map(|n| n.institution.as_str()).collect();
        assert!(institutions.len() >= 3, "{institutions:?}");
        // Backward from the last hop's transaction finds the same path.
        let back: Trace = serde_json::from_str(&audit(&[
            "trace",
            "--tx",
            &layering[3].to_string(),
            "--backward",
            "--format",
            "json",
        ]))
        .unwrap();
        assert_eq!(back.edges.len(), 4, "{back:?}");
        let dot = audit(&["trace", "--account", &first, "--format", "dot"]);
        assert!(
            dot.starts_with("digraph") && dot.matches(" -> ").count() == 4,
            "{dot}"
        );
        let csv = audit(&["history", &w.address(8).to_string(), "--format", "csv"]);
        assert_eq!(csv.lines().count(), 3, "header, one in, one out:\n{csv}");

        // Alerts: structuring and fan-out fire; the baseline raises none.
        let key = cluster.key("regulator");
        let alerts = regulator
            .audit(
                &key,
                &AlertsQuery {
                    limit: Some(1000),
                    ..AlertsQuery::default()
                },
            )
            .await
            .unwrap()
            .alerts;
        let has = |kind: AlertKind, who: usize| {
            alerts
                .iter()
                .any(|a| a.kind == kind && a.account == w.address(who).to_string())
        };
        assert!(has(AlertKind::Structuring, 4), "{alerts:?}");
        assert!(has(AlertKind::FanOut, 7), "{alerts:?}");
        for a in &alerts {
            assert!(
                !baseline_senders.contains(a.account.as_str()),
                "an ordinary transfer raised {a:?}"
            );
        }
        assert_eq!(alerts.len(), 2, "only the two patterns: {alerts:?}");

        // Refusals: a validator serves no audit method; unsigned, foreign
        // and tampered requests and replays are refused.
        let e = validator
            .audit(&key, &AlertsQuery::default())
            .await
            .unwrap_err();
        assert_eq!(audit_refusal(e).0, 1011);
        let e = regulator
            .audit_raw("hutong_auditAlerts", serde_json::json!({"query": {}}))
            .await
            .unwrap_err();
        assert_eq!(audit_refusal(e), (1010, Some("unauthenticated".into())));
        let e = regulator
            .audit(&cluster.key("account-1"), &AlertsQuery::default())
            .await
            .unwrap_err();
        assert_eq!(audit_refusal(e), (1010, Some("unknown_key".into())));
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        let signed = hutong_audit::auth::sign_request(
            &key,
            &w.chain_id,
            "hutong_auditAlerts",
            serde_json::json!({"limit": 1}),
            now,
            "0123456789abcdef0123",
        );
        let mut tampered = signed.clone();
        tampered["query"]["limit"] = serde_json::json!(2);
        let e = regulator
            .audit_raw("hutong_auditAlerts", tampered)
            .await
            .unwrap_err();
        assert_eq!(audit_refusal(e), (1010, Some("bad_signature".into())));
        regulator
            .audit_raw("hutong_auditAlerts", signed.clone())
            .await
            .unwrap();
        let e = regulator
            .audit_raw("hutong_auditAlerts", signed)
            .await
            .unwrap_err();
        assert_eq!(audit_refusal(e), (1010, Some("replayed".into())));

        // "Prove it": a transaction proof and a balance proof, checked
        // offline; any changed byte is caught.
        for _ in 0..50 {
            // The receipt comes once a later block certifies its result.
            let p = regulator
                .audit(
                    &key,
                    &ProofQuery {
                        tx: Some(layering[1].to_string()),
                        ..ProofQuery::default()
                    },
                )
                .await
                .unwrap();
            // The claims are the proof file's own (free-form JSON).
            if p.claims.pointer("/outcome/success") == Some(&Value::Bool(true)) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let proof_path = net.join("hop2.proof.json");
        audit(&[
            "proof",
            "tx",
            &layering[1].to_string(),
            "--out",
            proof_path.to_str().unwrap(),
        ]);
        let verified = hutong(&[
            "audit",
            "verify",
            proof_path.to_str().unwrap(),
            "--genesis",
            genesis_path.to_str().unwrap(),
        ]);
        assert!(
            verified.contains("VALID") && verified.contains("\"success\": true"),
            "{verified}"
        );
        let genesis =
            hutong_genesis::Genesis::from_toml(&std::fs::read_to_string(&genesis_path).unwrap())
                .unwrap();
        let bytes = std::fs::read(&proof_path).unwrap();
        hutong_audit::proof::verify_file(&bytes, &genesis).unwrap();
        for i in 0..bytes.len() {
            let mut changed = bytes.clone();
            changed[i] = if changed[i] == b'0' { b'1' } else { b'0' };
            assert!(
                hutong_audit::proof::verify_file(&changed, &genesis).is_err(),
                "a proof with byte {i} changed was accepted"
            );
        }
        let mut changed = bytes.clone();
        let mid = changed.len() / 2;
        changed[mid] = if changed[mid] == b'a' { b'b' } else { b'a' };
        std::fs::write(net.join("tampered.json"), &changed).unwrap();
        let out = Command::new(BIN)
            .args(["audit", "verify"])
            .arg(net.join("tampered.json"))
            .arg("--genesis")
            .arg(&genesis_path)
            .output()
            .unwrap();
        assert!(!out.status.success());
        assert!(String::from_utf8_lossy(&out.stderr).contains("INVALID"));
        let balance_path = net.join("balance.proof.json");
        let last = w.address(14).to_string();
        audit(&[
            "proof",
            "balance",
            &last,
            "--asset",
            "CNY",
            "--out",
            balance_path.to_str().unwrap(),
        ]);
        let verified = hutong(&[
            "audit",
            "verify",
            balance_path.to_str().unwrap(),
            "--genesis",
            genesis_path.to_str().unwrap(),
        ]);
        // 100,000 CNY at genesis plus the last hop's 2,850.
        assert!(verified.contains("\"balance\": \"10285000\""), "{verified}");

        // A regulator freeze of the path's end, sent through the
        // regulator's own node; then its recent counterparty moves money.
        audit(&["freeze", &last, "--wait"]);
        let account = validator.account(&w.address(14)).await.unwrap();
        assert_eq!(account.status, "frozen", "{account:?}");
        let tx = w.transfer(11, 20, yuan(5));
        let h = validator.submit(&tx).await.unwrap();
        wait_committed(&validator, &[h]).await;
        let mut flagged = None;
        for _ in 0..50 {
            let page = regulator
                .audit(
                    &key,
                    &AlertsQuery {
                        kind: Some("frozen_counterparty".into()),
                        ..AlertsQuery::default()
                    },
                )
                .await
                .unwrap();
            if let Some(x) = page.alerts.into_iter().next() {
                flagged = Some(x);
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let flagged = flagged.expect("no frozen_counterparty alert");
        assert_eq!(flagged.account, w.address(11).to_string(), "{flagged:?}");

        // Institution flows and an export report.
        let flows = audit(&["flows", "--format", "json"]);
        let flows: Flows = serde_json::from_str(&flows).unwrap();
        assert!(flows.gross.len() >= 4, "{flows:?}");
        let export = audit(&["export", "--institution", "ride-d", "--format", "csv"]);
        assert!(export.lines().count() > 10, "{export}");

        // Found by the analyst: the owner link appeared in no audit view.
        // One customer opens accounts at bank-a and at wallet-b, each
        // institution obtaining the customer's identity tag from the
        // regulator's node and sealing it to the regulator; the regulator
        // lists both from either account.
        let mut opened = Vec::new();
        let mut owner_keys = Vec::new();
        for institution in ["bank-a", "wallet-b"] {
            // One key per account (an account's address is its key's).
            let customer = hutong_runtime::Keypair::generate(&mut rand::rngs::OsRng);
            let customer_hex = customer.public().to_hex();
            opened.push(hutong_runtime::Address::of(&customer.public()).to_string());
            owner_keys.push(customer);
            hutong(&[
                "tx",
                "--rpc",
                &cluster.nodes[0].rpc,
                "--key",
                &key_path(&cluster, &format!("{institution}.institution")),
                "--wait",
                "open-account",
                "--owner",
                &customer_hex,
                "--tier",
                "1",
                "--identity",
                "cn_ric:11010519491231002X",
                "--regulator-rpc",
                &regulator_rpc,
            ]);
        }
        let mut owned = None;
        for _ in 0..50 {
            let text = audit(&["owner", &opened[0], "--format", "json"]);
            let o: hutong_audit::api::OwnerAccounts = serde_json::from_str(&text).unwrap();
            if o.accounts.len() == 2 {
                owned = Some(o);
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let owned = owned.expect("the regulator did not list the owner's two accounts");
        let institutions: Vec<&str> = owned
            .accounts
            .iter()
            .map(|a| a.institution.as_str())
            .collect();
        assert!(
            institutions.contains(&"bank-a") && institutions.contains(&"wallet-b"),
            "{owned:?}"
        );
        let listed: Vec<&str> = owned.accounts.iter().map(|a| a.address.as_str()).collect();
        assert!(listed.contains(&opened[0].as_str()) && listed.contains(&opened[1].as_str()));
        // The same two from the other account, and as a table; a demo
        // account with its own commitment lists itself alone.
        let table = audit(&["owner", &opened[1]]);
        assert!(
            table.contains(&opened[0]) && table.contains("2 accounts") && table.contains("(asked)"),
            "{table}"
        );
        let alone = audit(&["owner", &w.address(3).to_string()]);
        assert!(alone.contains("1 account"), "{alone}");
        // Money from the owner's bank-a account back to its wallet-b account
        // through another customer: the trace marks both as one owner's.
        let chain_id = ChainId(
            Hash::from_hex(&validator.status().await.unwrap().chain_id)
                .unwrap()
                .0,
        );
        let mut own = Wallets::new(chain_id, owner_keys);
        let mut legs = vec![validator
            .submit(&w.transfer_to(22, own.address(0), yuan(50)))
            .await
            .unwrap()];
        wait_committed(&validator, &legs).await;
        legs.push(
            validator
                .submit(&own.transfer_to(0, w.address(23), yuan(40)))
                .await
                .unwrap(),
        );
        wait_committed(&validator, &legs).await;
        legs.push(
            validator
                .submit(&w.transfer_to(23, own.address(1), yuan(30)))
                .await
                .unwrap(),
        );
        wait_committed(&validator, &legs).await;
        let mut owners_seen = None;
        for _ in 0..50 {
            let trace: Trace = regulator
                .audit(
                    &key,
                    &hutong_audit::api::TraceQuery {
                        account: Some(opened[0].clone()),
                        window_secs: Some(3_600),
                        ..Default::default()
                    },
                )
                .await
                .unwrap();
            let owner_of = |a: &str| {
                trace
                    .nodes
                    .iter()
                    .find(|n| n.account == a)
                    .map(|n| n.owner.clone())
            };
            if let Some(back) = owner_of(&opened[1]) {
                owners_seen = Some((
                    owner_of(&opened[0]).flatten(),
                    back,
                    owner_of(&w.address(23).to_string()).flatten(),
                ));
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let (first, back, between) =
            owners_seen.expect("the trace did not reach the owner's other account");
        assert!(
            first.is_some() && first == back && between != first,
            "{first:?} {back:?} {between:?}"
        );
        let text = audit(&["trace", "--account", &opened[0], "--window", "1h"]);
        assert!(
            text.contains("accounts of one owner")
                && text.contains(&format!(
                    "CYCLE: hop 2 pays back to {}, the same owner as {}",
                    opened[1], opened[0]
                )),
            "{text}"
        );

        // Every query above is in the audit log, and its chain holds.
        let log = audit(&["log", "--limit", "1000"]);
        assert!(log.contains("hash chain: intact"), "{log}");
        assert!(
            log.contains("checked here"),
            "the CLI checks the chain itself: {log}"
        );
        assert!(
            log.contains("hutong_auditTrace") && log.contains("hutong_auditProof"),
            "{log}"
        );

        // Found by the analyst: the alerts table read amounts in minor
        // units and institutions as addresses, had no transactions or
        // related accounts, no CSV, and --account missed the alerts an
        // account is party to. Account-16 is one of the structuring
        // sender's recipients: a related account, not the alert's own.
        let party = w.address(15).to_string();
        let table = audit(&["alerts", "--account", &party]);
        assert!(
            table.contains("structuring"),
            "--account finds it as a party:\n{table}"
        );
        assert!(
            table.contains("(bank-a)") && table.contains("29,400.00 CNY"),
            "institution by name, amounts in units:\n{table}"
        );
        assert!(
            table.contains("transactions (3)") && table.contains(&party),
            "{table}"
        );
        let csv = audit(&["alerts", "--kind", "structuring", "--format", "csv"]);
        let mut lines = csv.lines();
        assert!(
            lines
                .next()
                .unwrap()
                .starts_with("id,revision,timestamp_ms,kind,score"),
            "{csv}"
        );
        let row = lines.next().expect("a structuring row");
        assert!(row.contains(",29400.00,") && row.contains(&party), "{row}");

        // Refused requests are in the chained log too (the ones above).
        let page = regulator
            .audit(
                &key,
                &hutong_audit::api::LogQuery {
                    from_seq: Some(0),
                    limit: Some(10_000),
                },
            )
            .await
            .unwrap();
        let refused: Vec<&str> = page
            .entries
            .iter()
            .filter_map(|e| e.refused.as_deref())
            .collect();
        assert!(
            refused.contains(&"unknown_key")
                && refused.contains(&"bad_signature")
                && refused.contains(&"replayed"),
            "{refused:?}"
        );
        hutong_audit::auth::verify_log(&page.entries, hutong_runtime::crypto::Hash::ZERO).unwrap();

        // The log anchored on the ledger, and checked against it.
        audit(&["anchor", "--wait"]);
        let checked = audit(&["check-log", "--genesis", genesis_path.to_str().unwrap()]);
        assert!(
            checked.contains("hash chain: intact") && checked.contains("anchors match"),
            "{checked}"
        );
    });

    // Tamper with the regulator's copy of a balance; the next transfer
    // from that account makes its result differ from the certified one.
    cluster.kill(4);
    let db_path = cluster.nodes[4].home.join("data/db");
    {
        let cfs = rocksdb::DB::list_cf(&rocksdb::Options::default(), &db_path).unwrap();
        // The flow totals are merge operands: a database holding them is
        // opened with their merge operator, or its recovery stops at the
        // first block that has one (one operator for every family does:
        // the others have no operands).
        let merge = hutong_node::audit::index::COLUMNS
            .iter()
            .find_map(|c| c.merge)
            .unwrap();
        let descriptors = cfs.iter().map(|name| {
            let mut options = rocksdb::Options::default();
            options.set_merge_operator_associative(merge.name, merge.full);
            rocksdb::ColumnFamilyDescriptor::new(name, options)
        });
        let db =
            rocksdb::DB::open_cf_descriptors(&rocksdb::Options::default(), &db_path, descriptors)
                .unwrap();
        let w_key = cluster.key("account-20");
        let cny = AssetCode::new("CNY").unwrap();
        let key = hutong_runtime::StateKey::Balance(Address::of(&w_key.public()), cny);
        let value =
            hutong_runtime::StateValue::Balance(hutong_runtime::state::Holding::of(Amount(1)));
        // A tree key's value is kept in its leaf, in `tree_nodes`: the
        // node's encoding (1, key hash, value hash) and then the value's
        // bytes. Its live leaf is the newest one (keys begin with the
        // version that wrote them, big-endian); rewritten consistently
        // (the value hash of the new bytes), it reads back as balance 1.
        let nodes = db.cf_handle("tree_nodes").unwrap();
        let hash = key.key_hash();
        let leaf = db
            .iterator_cf(nodes, rocksdb::IteratorMode::End)
            .map(Result::unwrap)
            .find(|(_, bytes)| bytes.first() == Some(&1) && bytes.get(1..33) == Some(&hash[..]))
            .map(|(at, _)| at)
            .expect("the balance's leaf");
        let bytes = value.encode();
        let stored = [
            &[1u8][..],
            &hash,
            &hutong_runtime::tree::value_hash(&bytes),
            &bytes,
        ]
        .concat();
        db.put_cf(nodes, leaf, stored).unwrap();
    }
    cluster.start(4);
    runtime().block_on(async {
        let mut w = demo_wallets(&cluster, 24).await;
        let validator = cluster.client(0);
        // Account-20's next sequence: what the validator says.
        let me = w.address(19);
        let seq = validator.account(&me).await.unwrap().sequence;
        w.set_next_sequence(19, seq);
        let tx = w.transfer(19, 16, 100);
        let h = validator.submit(&tx).await.unwrap();
        validator
            .wait_final(&h, Duration::from_secs(60))
            .await
            .unwrap();
        let started = Instant::now();
        loop {
            // It may still be opening its database and replaying alerts.
            let halted = cluster.client(4).status().await.ok().and_then(|s| s.halted);
            if let Some(why) = halted {
                assert!(why.contains("state divergence"), "{why}");
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "the regulator did not detect the divergence; log:\n{}",
                cluster.log_tail(4)
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        // It stops following: its height stays while the chain goes on.
        let stuck = cluster.height(4).await.unwrap();
        let ahead = cluster
            .wait_height(0, stuck + 5, Duration::from_secs(60))
            .await;
        assert!(cluster.height(4).await.unwrap() <= stuck, "{ahead}");
    });
}

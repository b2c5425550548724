//! The identity layer on a 4 + 1 testnet: identity tags the regulator's
//! node evaluates blind, envelopes only it opens, the shared blacklist,
//! sealed memos, and the limit on evaluations.

use crate::harness::*;
use hutong_audit::api::{AlertsQuery, EvaluateQuery, LogQuery, OwnerAccounts};

/// Every file under `dir`, read whole.
fn files_under(dir: &std::path::Path, out: &mut Vec<(std::path::PathBuf, Vec<u8>)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            files_under(&p, out);
        } else if let Ok(bytes) = std::fs::read(&p) {
            out.push((p, bytes));
        }
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

/// Two institutions open accounts for the same person through the
/// regulator's identity service: only the regulator links them, and no
/// validator's database, log or RPC answer holds the identity or its tag
/// in clear. A blacklist check answers for a listed and an unlisted
/// identity, the regulator is alerted of the listed owner's accounts and
/// of a new one, an institution that asks for 1,024 evaluations at once
/// is refused past its limit and is in the audit log, a round trip
/// through the owner's second account is a cycle of one owner, and a
/// sealed memo is read by the regulator and by the payer through its
/// institution's node only.
#[test]
fn identity_tags_blacklist_and_sealed_memos_on_4_plus_1() {
    let _one = exclusive();
    let mut cluster = Cluster::with_accounts(8);
    for i in 0..5 {
        cluster.start(i);
    }
    let validator_rpc = cluster.nodes[0].rpc.clone();
    let regulator_rpc = cluster.nodes[4].rpc.clone();
    let reg_key = key_path(&cluster, "regulator");
    let audit = |args: &[&str]| {
        let mut all = vec!["audit", "--rpc", &regulator_rpc, "--key", &reg_key];
        all.extend_from_slice(args);
        hutong(&all)
    };
    let person = "CN_RIC:110101199003074514";
    let number = "110101199003074514";
    let stranger = "HK_ID:A1234563";
    runtime().block_on(async {
        cluster.wait_height(4, 2, Duration::from_secs(60)).await;
        let validator = cluster.client(0);
        let regulator = cluster.client(4);
        let key = cluster.key("regulator");

        // Two institutions open accounts for the same person.
        let mut opened = Vec::new();
        let mut owner_keys = Vec::new();
        let mut open_txs = Vec::new();
        for institution in ["bank-a", "wallet-b"] {
            let customer = hutong_runtime::Keypair::generate(&mut rand::rngs::OsRng);
            let out = hutong(&[
                "tx",
                "--rpc",
                &validator_rpc,
                "--key",
                &key_path(&cluster, &format!("{institution}.institution")),
                "--wait",
                "open-account",
                "--owner",
                &customer.public().to_hex(),
                "--tier",
                "1",
                "--identity",
                person,
                "--regulator-rpc",
                &regulator_rpc,
            ]);
            assert!(out.contains("sealed to the regulator"), "{out}");
            let hash = out
                .lines()
                .find_map(|l| l.strip_prefix("submitted "))
                .expect("a submitted hash")
                .to_string();
            open_txs.push(hash);
            opened.push(hutong_runtime::Address::of(&customer.public()).to_string());
            owner_keys.push(customer);
        }
        // Only the regulator links them: its owner query lists both, at
        // their two institutions.
        let mut owned = None;
        for _ in 0..50 {
            let text = audit(&["owner", &opened[1], "--format", "json"]);
            let o: OwnerAccounts = serde_json::from_str(&text).unwrap();
            if o.accounts.len() == 2 {
                owned = Some(o);
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let owned = owned.expect("the regulator did not link the owner's two accounts");
        let mut institutions: Vec<&str> = owned
            .accounts
            .iter()
            .map(|a| a.institution.as_str())
            .collect();
        institutions.sort();
        assert_eq!(institutions, ["bank-a", "wallet-b"], "{owned:?}");
        // A validator answers no owner query, and its account view shows
        // two unrelated commitments.
        let refused = validator
            .audit_value(
                hutong_audit::api::method::OWNER,
                &key,
                serde_json::json!({"account": opened[0]}),
            )
            .await
            .unwrap_err();
        assert!(refused.to_string().contains("regulator"), "{refused}");

        // The tag, as the institution sees it.
        let tag_json = hutong(&[
            "identity",
            "tag",
            "--identity",
            person,
            "--key",
            &key_path(&cluster, "bank-a.institution"),
            "--rpc",
            &validator_rpc,
            "--regulator-rpc",
            &regulator_rpc,
            "--show-tag",
            "--json",
        ]);
        let tag_view: serde_json::Value = serde_json::from_str(tag_json.trim()).unwrap();
        let tag_hex = tag_view["tag"].as_str().unwrap().to_string();
        let tag = hex::decode(&tag_hex).unwrap();
        assert_eq!(tag.len(), 64);
        let listing_key = tag_view["listing_key"].as_str().unwrap().to_string();

        // Neither the identity nor the tag is in a validator's database,
        // log or RPC answers (the blocks with the two openings, the
        // accounts, the receipts).
        let mut answers = String::new();
        for (hash, account) in open_txs.iter().zip(&opened) {
            let h = Hash::from_hex(hash).unwrap();
            let status = serde_json::to_string(&validator.transaction(&h).await.unwrap()).unwrap();
            let height: u64 = serde_json::from_str::<serde_json::Value>(&status).unwrap()["height"]
                .as_u64()
                .unwrap();
            answers.push_str(&status);
            answers.push_str(
                &serde_json::to_string(&validator.block_at(height).await.unwrap()).unwrap(),
            );
            let acc: hutong_runtime::Address = account.parse().unwrap();
            answers
                .push_str(&serde_json::to_string(&validator.account(&acc).await.unwrap()).unwrap());
        }
        for needle in [number, &tag_hex, &listing_key] {
            assert!(!answers.contains(needle), "an RPC answer holds {needle}");
        }
        for i in 0..4 {
            let mut files = Vec::new();
            files_under(&cluster.nodes[i].home, &mut files);
            assert!(files.len() > 5, "{:?}", cluster.nodes[i].home);
            for (path, bytes) in &files {
                for needle in [number.as_bytes(), tag.as_slice(), tag_hex.as_bytes()] {
                    assert!(
                        !contains(bytes, needle),
                        "{} holds the identity or its tag",
                        path.display()
                    );
                }
            }
        }
        // Nor does the regulator's: it keeps owner ids, not tags.
        let mut files = Vec::new();
        files_under(&cluster.nodes[4].home, &mut files);
        for (path, bytes) in &files {
            for needle in [number.as_bytes(), tag.as_slice()] {
                assert!(!contains(bytes, needle), "{} holds it", path.display());
            }
        }

        // The shared blacklist: bank-a lists the person; wallet-b checks
        // the person (listed) and a stranger (not listed).
        let out = hutong(&[
            "blacklist",
            "--rpc",
            &validator_rpc,
            "add",
            "--identity",
            person,
            "--key",
            &key_path(&cluster, "bank-a.institution"),
            "--regulator-rpc",
            &regulator_rpc,
            "--reason",
            "legal-order",
            "--reference",
            "(2026) Hu 0101 Zhi 7",
            "--wait",
        ]);
        assert!(out.contains(&listing_key), "{out}");
        let check = |identity: &str| {
            hutong(&[
                "blacklist",
                "--rpc",
                &cluster.nodes[1].rpc,
                "check",
                "--identity",
                identity,
                "--key",
                &key_path(&cluster, "wallet-b.institution"),
                "--regulator-rpc",
                &regulator_rpc,
            ])
        };
        // (wallet-b's node may be a block behind bank-a's.)
        let mut listed = check(person);
        for _ in 0..50 {
            if listed.starts_with("LISTED") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
            listed = check(person);
        }
        assert!(
            listed.starts_with("LISTED") && listed.contains("legal-order"),
            "{listed}"
        );
        let not = check(stranger);
        assert!(not.starts_with("not listed"), "{not}");
        // The regulator is alerted: the listed owner holds two accounts.
        let alert_of = |kind: &str, account: String| {
            let regulator = &regulator;
            let key = &key;
            let kind = kind.to_string();
            async move {
                for _ in 0..50 {
                    let page = regulator
                        .audit(
                            key,
                            &AlertsQuery {
                                kind: Some(kind.clone()),
                                account: Some(account.clone()),
                                ..AlertsQuery::default()
                            },
                        )
                        .await
                        .unwrap();
                    if let Some(a) = page.alerts.into_iter().next() {
                        return a;
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                panic!("no {kind} alert about {account}");
            }
        };
        let first = opened.iter().min().unwrap().clone();
        let a = alert_of("listed_owner", first).await;
        assert!(a.detail.contains("2 account"), "{a:?}");
        // A third institution opens an account for the listed person: the
        // regulator is alerted of that account.
        let third = hutong_runtime::Keypair::generate(&mut rand::rngs::OsRng);
        hutong(&[
            "tx",
            "--rpc",
            &validator_rpc,
            "--key",
            &key_path(&cluster, "mall-c.institution"),
            "--wait",
            "open-account",
            "--owner",
            &third.public().to_hex(),
            "--tier",
            "1",
            "--identity",
            person,
            "--regulator-rpc",
            &regulator_rpc,
        ]);
        let third_address = hutong_runtime::Address::of(&third.public()).to_string();
        let a = alert_of("listed_owner", third_address).await;
        assert!(a.detail.contains("shared blacklist"), "{a:?}");

        // A replayed request (the same signed params again) is refused.
        let input = hutong_privacy::oprf::identity_input(stranger).unwrap();
        let blinded = hex::encode(
            hutong_privacy::oprf::blind(&input, &mut rand::rngs::OsRng)
                .unwrap()
                .1,
        );
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        let params = hutong_audit::auth::sign_request(
            &cluster.key("mall-c.institution"),
            &validator.chain_id().await.unwrap(),
            hutong_audit::api::method::IDENTITY_EVALUATE,
            serde_json::json!({ "blinded": [blinded] }),
            now,
            &hex::encode(rand::random::<[u8; 16]>()),
        );
        regulator
            .audit_raw(hutong_audit::api::method::IDENTITY_EVALUATE, params.clone())
            .await
            .expect("the first is answered");
        let e = regulator
            .audit_raw(hutong_audit::api::method::IDENTITY_EVALUATE, params)
            .await
            .unwrap_err();
        assert_eq!(
            crate::regulator::audit_refusal(e),
            (1010, Some("replayed".to_string()))
        );
        // A customer's key may not ask.
        let e = regulator
            .audit(
                &cluster.key("account-1"),
                &EvaluateQuery {
                    blinded: vec!["00".repeat(32)],
                },
            )
            .await
            .unwrap_err();
        assert_eq!(
            crate::regulator::audit_refusal(e),
            (1010, Some("unknown_key".to_string()))
        );

        // An institution asking for 1,024 evaluations at once gets its
        // limit (600 a minute) and is refused past it; the refusals are in
        // the audit log under its key.
        let ride = cluster.key("ride-d.institution");
        let mut granted = 0usize;
        let mut refusals = 0usize;
        for _ in 0..16 {
            let blinded: Vec<String> = (0..64)
                .map(|i| {
                    let input =
                        hutong_privacy::oprf::identity_input(&format!("CN_RIC:99{i:016}")).unwrap();
                    hex::encode(
                        hutong_privacy::oprf::blind(&input, &mut rand::rngs::OsRng)
                            .unwrap()
                            .1,
                    )
                })
                .collect();
            match regulator.audit(&ride, &EvaluateQuery { blinded }).await {
                Ok(answer) => {
                    assert_eq!(answer.elements.len(), 64);
                    granted += 64;
                }
                Err(e) => {
                    let (code, refusal) = crate::regulator::audit_refusal(e);
                    assert_eq!((code, refusal.as_deref()), (1010, Some("rate_limited")));
                    refusals += 1;
                }
            }
        }
        println!("evaluations granted {granted}, requests refused {refusals}");
        assert!((512..=640).contains(&granted), "{granted}");
        assert!(refusals >= 6, "{refusals}");
        let log = regulator
            .audit(
                &key,
                &LogQuery {
                    from_seq: Some(0),
                    limit: Some(10_000),
                },
            )
            .await
            .unwrap();
        let ride_hex = ride.public().to_hex();
        let logged_refusals = log
            .entries
            .iter()
            .filter(|e| e.key == ride_hex && e.refused.as_deref() == Some("rate_limited"))
            .count();
        let logged_answers = log
            .entries
            .iter()
            .filter(|e| {
                e.key == ride_hex
                    && e.refused.is_none()
                    && e.method == hutong_audit::api::method::IDENTITY_EVALUATE
            })
            .count();
        assert_eq!((logged_answers, logged_refusals), (granted / 64, refusals));

        // A round trip through the owner's second account: the owner's
        // bank-a account pays a stranger, who pays on to another, who pays
        // the owner's wallet-b account (three legs of at least 3,000 CNY:
        // the detector's defaults). The regulator sees a cycle of one
        // owner.
        let mut w = demo_wallets(&cluster, 8).await;
        let chain_id = validator.chain_id().await.unwrap();
        let mut own = Wallets::new(chain_id, owner_keys);
        let yuan = |n: u128| n * 100;
        let legs = [
            w.transfer_to(2, own.address(0), yuan(4_000)),
            own.transfer_to(0, w.address(5), yuan(3_800)),
            w.transfer_to(5, w.address(6), yuan(3_600)),
            w.transfer_to(6, own.address(1), yuan(3_400)),
        ];
        for tx in legs {
            let h = validator.submit(&tx).await.unwrap();
            wait_committed(&validator, &[h]).await;
        }
        let cycle = alert_of("cycle", own.address(0).to_string()).await;
        assert!(cycle.detail.contains("same owner"), "{cycle:?}");
        // The owner's history merges its two accounts: the leg out of the
        // bank-a account and the leg into the wallet-b one, each once;
        // the wallet-b account's own history has only the second.
        let history = |whole: bool| {
            let mut args = vec!["history", &opened[1], "--format", "json", "--limit", "1000"];
            if whole {
                args.push("--whole-owner");
            }
            serde_json::from_str::<hutong_audit::api::HistoryPage>(&audit(&args)).unwrap()
        };
        let leg = |page: &hutong_audit::api::HistoryPage, from: String, to: String| {
            page.rows
                .iter()
                .filter(|r| r.leg.from == from && r.leg.to == to)
                .map(|r| r.direction)
                .collect::<Vec<_>>()
        };
        let whole = history(true);
        assert_eq!(
            whole.owner.as_deref(),
            Some(owned.owner.as_deref().unwrap()),
            "{whole:?}"
        );
        // Every account of the owner (the two above, and any the test
        // opened for the same person since), and no other.
        let now_owned: OwnerAccounts =
            serde_json::from_str(&audit(&["owner", &opened[1], "--format", "json"])).unwrap();
        let mut merged = whole.accounts.clone();
        merged.sort();
        let mut expected: Vec<String> = now_owned
            .accounts
            .iter()
            .map(|a| a.address.clone())
            .collect();
        expected.sort();
        assert_eq!(merged, expected, "{whole:?}");
        assert!(opened.iter().all(|a| merged.contains(a)), "{whole:?}");
        use hutong_audit::api::LegDirection;
        let out_of_bank = (own.address(0).to_string(), w.address(5).to_string());
        let into_wallet = (w.address(6).to_string(), own.address(1).to_string());
        assert_eq!(
            leg(&whole, out_of_bank.0.clone(), out_of_bank.1.clone()),
            [LegDirection::Out]
        );
        assert_eq!(
            leg(&whole, into_wallet.0.clone(), into_wallet.1.clone()),
            [LegDirection::In]
        );
        let alone = history(false);
        assert!(
            alone.owner.is_none() && alone.accounts.is_empty(),
            "{alone:?}"
        );
        assert!(
            leg(&alone, out_of_bank.0, out_of_bank.1).is_empty(),
            "{alone:?}"
        );
        assert_eq!(
            leg(&alone, into_wallet.0, into_wallet.1),
            [LegDirection::In]
        );

        // A sealed memo: account-1 (bank-a) pays account-2 (wallet-b)
        // "invoice 42"; the regulator's history shows it, the payer reads
        // it through bank-a's node, a stranger cannot, and no validator
        // holds it in clear.
        let memo = "invoice 42 / salary March";
        let out = hutong(&[
            "tx",
            "--rpc",
            &validator_rpc,
            "--key",
            &key_path(&cluster, "account-1"),
            "--memo",
            memo,
            "--wait",
            "transfer",
            "--to",
            &w.address(1).to_string(),
            "--asset",
            "CNY",
            "--amount",
            "1.00",
        ]);
        let hash = out
            .lines()
            .find_map(|l| l.strip_prefix("submitted "))
            .expect("a submitted hash")
            .to_string();
        let history = audit(&["history", &w.address(0).to_string(), "--format", "json"]);
        assert!(history.contains(memo), "{history}");
        let read = hutong(&[
            "query",
            "--rpc",
            &validator_rpc,
            "memo",
            &hash,
            "--key",
            &key_path(&cluster, "account-1"),
        ]);
        assert_eq!(read.trim(), memo);
        let refused = hutong_fails(&[
            "query",
            "--rpc",
            &validator_rpc,
            "memo",
            &hash,
            "--key",
            &key_path(&cluster, "account-3"),
        ]);
        assert!(refused.contains("not a party"), "{refused}");
        for i in 0..4 {
            let mut files = Vec::new();
            files_under(&cluster.nodes[i].home, &mut files);
            for (path, bytes) in &files {
                assert!(
                    !contains(bytes, memo.as_bytes()),
                    "{} holds the memo",
                    path.display()
                );
            }
        }
    });
}

/// The regulator's identity evaluation under load, for BENCHMARKS.md (not
/// a pass/fail figure): clients of four institutions ask for evaluations
/// for 20 seconds, one blinded identity per request and then 64, with the
/// per-key limit lifted; prints requests and evaluations per second.
/// `cargo test --workspace --test cluster identity_evaluation_throughput
/// -- --ignored --nocapture`.
#[test]
#[ignore = "a measurement: run on purpose, see BENCHMARKS.md"]
fn identity_evaluation_throughput() {
    let _one = exclusive();
    let mut cluster = Cluster::with_accounts(4);
    let config = cluster.nodes[4].home.join("config.toml");
    let mut doc: toml::Table = toml::from_str(&std::fs::read_to_string(&config).unwrap()).unwrap();
    doc.get_mut("audit")
        .and_then(|s| s.as_table_mut())
        .expect("[audit]")
        .insert(
            "identity_evaluations_per_minute".into(),
            toml::Value::Integer(100_000_000),
        );
    std::fs::write(&config, toml::to_string(&doc).unwrap()).unwrap();
    for i in 0..5 {
        cluster.start(i);
    }
    runtime().block_on(async {
        cluster.wait_height(4, 2, Duration::from_secs(60)).await;
        for batch in [1usize, 64] {
            let started = Instant::now();
            let run_for = Duration::from_secs(20);
            let mut tasks = Vec::new();
            for (n, institution) in ["bank-a", "wallet-b", "mall-c", "ride-d"]
                .iter()
                .enumerate()
            {
                for c in 0..2 {
                    let client = cluster.client(4);
                    let key = cluster.key(&format!("{institution}.institution"));
                    tasks.push(tokio::spawn(async move {
                        let mut done = 0usize;
                        let mut i = 0u64;
                        while started.elapsed() < run_for {
                            let blinded: Vec<String> = (0..batch)
                                .map(|_| {
                                    i += 1;
                                    let input = hutong_privacy::oprf::identity_input(&format!(
                                        "CN_RIC:{n}{c}{i:015}"
                                    ))
                                    .unwrap();
                                    hex::encode(
                                        hutong_privacy::oprf::blind(&input, &mut rand::rngs::OsRng)
                                            .unwrap()
                                            .1,
                                    )
                                })
                                .collect();
                            let answer = client
                                .audit(&key, &EvaluateQuery { blinded })
                                .await
                                .expect("an evaluation");
                            assert_eq!(answer.elements.len(), batch);
                            done += 1;
                        }
                        done
                    }));
                }
            }
            let mut requests = 0usize;
            for t in tasks {
                requests += t.await.unwrap();
            }
            let secs = started.elapsed().as_secs_f64();
            println!(
                "identity evaluation, {batch} per request, 8 clients: {requests} requests in {secs:.1} s = {:.0} requests/s, {:.0} evaluations/s",
                requests as f64 / secs,
                (requests * batch) as f64 / secs
            );
        }
    });
}

//! Settlement flows on a 4 + 1 testnet through the CLI and JSON-RPC: an
//! EV-charging session (hold, partial capture), a voided and an expired
//! hold, an amount freeze on a court order, a receive-only account, and
//! the regulator's history and trace following the hold and its capture;
//! then a payment versus payment at an FX provider's quote, linked
//! payments, and an open-banking mandate (pay and read), with the
//! regulator following each.

use crate::harness::*;
use hutong_audit::api::{HistoryPage, Trace};
use hutong_audit::edge::EdgeKind;

/// The hold id `hutong tx hold` printed.
fn hold_id_in(out: &str) -> String {
    out.lines()
        .find_map(|l| l.strip_prefix("hold id "))
        .unwrap_or_else(|| panic!("no hold id in:\n{out}"))
        .trim()
        .to_string()
}

fn minor(map: &std::collections::BTreeMap<String, String>, asset: &str) -> u128 {
    map.get(asset).map_or(0, |v| v.parse().unwrap())
}

#[test]
fn holds_freezes_and_restrictions_settle_on_a_testnet() {
    let _one = exclusive();
    let mut cluster = Cluster::new();
    for i in 0..5 {
        cluster.start(i);
    }
    let rpc = cluster.nodes[1].rpc.clone();
    let regulator_rpc = cluster.nodes[4].rpc.clone();
    let (car_key, charger_key) = (
        key_path(&cluster, "account-1"),
        key_path(&cluster, "account-2"),
    );
    let reg_key = key_path(&cluster, "regulator");
    let bank_key = key_path(&cluster, "bank-a.institution");
    let tx = |key: &str, args: &[&str]| {
        let mut all = vec!["tx", "--rpc", &rpc, "--key", key, "--wait"];
        all.extend_from_slice(args);
        hutong(&all)
    };
    let tx_fails = |key: &str, args: &[&str]| {
        let mut all = vec!["tx", "--rpc", &rpc, "--key", key, "--wait"];
        all.extend_from_slice(args);
        hutong_fails(&all)
    };
    runtime().block_on(async {
        cluster.wait_height(0, 2, Duration::from_secs(60)).await;
        let w = demo_wallets(&cluster, 4).await;
        let client = cluster.client(1);
        let (car, charger, third) = (w.address(0), w.address(1), w.address(2));
        let (car_s, charger_s, third_s) = (car.to_string(), charger.to_string(), third.to_string());
        let car_before = minor(&client.account(&car).await.unwrap().balances, "CNY");
        let charger_before = minor(&client.account(&charger).await.unwrap().balances, "CNY");

        // An EV-charging session: the car's wallet reserves 200.00 CNY for
        // the charger; the balance stays, the available balance falls.
        let out = tx(
            &car_key,
            &[
                "hold",
                "--to",
                &charger_s,
                "--asset",
                "CNY",
                "--amount",
                "200",
                "--expires-in",
                "600",
            ],
        );
        let id = hold_id_in(&out);
        let view = client.account(&car).await.unwrap();
        assert_eq!(minor(&view.balances, "CNY"), car_before);
        assert_eq!(minor(&view.held, "CNY"), 20_000);
        assert_eq!(minor(&view.available, "CNY"), car_before - 20_000);
        let hold = client
            .hold(
                &car,
                hutong_runtime::TransferId(u128::from_str_radix(&id, 16).unwrap()),
            )
            .await
            .unwrap();
        assert_eq!(
            (hold.state.as_str(), hold.amount.as_str()),
            ("open", "20000")
        );
        // The charger captures what was used; the rest is released.
        tx(
            &charger_key,
            &[
                "capture",
                "--payer",
                &car_s,
                "--hold-id",
                &id,
                "--amount",
                "73.50",
            ],
        );
        let view = client.account(&car).await.unwrap();
        assert_eq!(minor(&view.balances, "CNY"), car_before - 7_350);
        assert_eq!(minor(&view.held, "CNY"), 0);
        let charger_view = client.account(&charger).await.unwrap();
        assert_eq!(minor(&charger_view.balances, "CNY"), charger_before + 7_350);
        let shown: serde_json::Value = serde_json::from_str(&hutong(&[
            "query",
            "--rpc",
            &rpc,
            "hold",
            "--payer",
            &car_s,
            "--hold-id",
            &id,
        ]))
        .unwrap();
        assert_eq!(shown["state"], "captured", "{shown}");
        assert_eq!(shown["captured"], "7350", "{shown}");
        // Exactly one resolution.
        let e = tx_fails(
            &charger_key,
            &[
                "capture",
                "--payer",
                &car_s,
                "--hold-id",
                &id,
                "--amount",
                "1",
            ],
        );
        assert!(e.contains("hold_closed"), "{e}");

        // A voided hold moves nothing; an expired one releases itself.
        let out = tx(
            &car_key,
            &[
                "hold",
                "--to",
                &charger_s,
                "--asset",
                "CNY",
                "--amount",
                "50",
                "--expires-in",
                "600",
            ],
        );
        let voided = hold_id_in(&out);
        tx(
            &charger_key,
            &["void", "--payer", &car_s, "--hold-id", &voided],
        );
        let out = tx(
            &car_key,
            &[
                "hold",
                "--to",
                &charger_s,
                "--asset",
                "CNY",
                "--amount",
                "30",
                "--expires-in",
                "1",
            ],
        );
        let expiring = hold_id_in(&out);
        let expiring_id = hutong_runtime::TransferId(u128::from_str_radix(&expiring, 16).unwrap());
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            let h = client.hold(&car, expiring_id).await.unwrap();
            if h.state == "expired" {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the hold never expired: {h:?}"
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        let view = client.account(&car).await.unwrap();
        assert_eq!(minor(&view.held, "CNY"), 0, "{view:?}");
        assert_eq!(minor(&view.balances, "CNY"), car_before - 7_350);

        // The car's own key: registered by the owner with a scope, it
        // places a hold with its own sequence numbers; out of scope it is
        // refused; it may not pay.
        let device_path = cluster.keys.join("car-device.key");
        let device_file = device_path.to_str().unwrap().to_string();
        hutong(&["keys", "new", "--out", &device_file]);
        let shown = hutong(&["keys", "show", &device_file]);
        let device_pub = shown
            .lines()
            .find_map(|l| l.strip_prefix("public key:"))
            .unwrap()
            .trim()
            .to_string();
        tx(
            &car_key,
            &[
                "register-device",
                "--device-key",
                &device_pub,
                "--asset",
                "CNY",
                "--max-per-hold",
                "300",
                "--daily-max",
                "500",
                "--payee",
                &charger_s,
            ],
        );
        let out = tx(
            &device_file,
            &[
                "hold",
                "--to",
                &charger_s,
                "--asset",
                "CNY",
                "--amount",
                "120",
                "--expires-in",
                "600",
            ],
        );
        let by_device = hold_id_in(&out);
        tx(
            &charger_key,
            &[
                "capture",
                "--payer",
                &car_s,
                "--hold-id",
                &by_device,
                "--amount",
                "45",
            ],
        );
        let e = tx_fails(
            &device_file,
            &[
                "hold", "--to", &charger_s, "--asset", "CNY", "--amount", "301",
            ],
        );
        assert!(e.contains("device_scope"), "{e}");
        let e = tx_fails(
            &device_file,
            &[
                "transfer", "--to", &charger_s, "--asset", "CNY", "--amount", "1",
            ],
        );
        assert!(e.contains("unauthorised"), "{e}");
        let spent_by_car = 7_350 + 4_500;
        assert_eq!(
            minor(&client.account(&car).await.unwrap().balances, "CNY"),
            car_before - spent_by_car
        );

        // A court order freezes all but 5.00 CNY of the third account: it
        // cannot send more than that; the regulator lifts it.
        let third_before = minor(&client.account(&third).await.unwrap().balances, "CNY");
        let frozen = third_before - 500;
        let frozen_text = format!("{}.{:02}", frozen / 100, frozen % 100);
        tx(
            &reg_key,
            &[
                "freeze-amount",
                "--account",
                &third_s,
                "--asset",
                "CNY",
                "--amount",
                &frozen_text,
                "--reference",
                "(2026) Hu 0101 Zhi 123",
                "--freeze-id",
                "7",
            ],
        );
        let view = client.account(&third).await.unwrap();
        assert_eq!(view.amount_freezes.len(), 1, "{view:?}");
        assert_eq!(view.amount_freezes[0].reference, "(2026) Hu 0101 Zhi 123");
        assert_eq!(minor(&view.available, "CNY"), 500);
        let text = hutong(&["query", "--rpc", &rpc, "account", &third_s]);
        assert!(text.contains("(2026) Hu 0101 Zhi 123"), "{text}");
        let third_key = key_path(&cluster, "account-3");
        let e = tx_fails(
            &third_key,
            &[
                "transfer", "--to", &car_s, "--asset", "CNY", "--amount", "5.01",
            ],
        );
        assert!(e.contains("insufficient_balance"), "{e}");
        tx(
            &reg_key,
            &["release-freeze", "--account", &third_s, "--freeze-id", "7"],
        );
        assert!(client
            .account(&third)
            .await
            .unwrap()
            .amount_freezes
            .is_empty());

        // bank-a makes its customer (the car's account) receive-only: it
        // may receive, not pay.
        tx(
            &bank_key,
            &[
                "account-state",
                "--account",
                &car_s,
                "--state",
                "receive-only",
                "--reason",
                "fraud",
            ],
        );
        assert_eq!(client.account(&car).await.unwrap().status, "receive-only");
        let e = tx_fails(
            &car_key,
            &[
                "transfer", "--to", &charger_s, "--asset", "CNY", "--amount", "1",
            ],
        );
        assert!(e.contains("restricted"), "{e}");
        tx(
            &charger_key,
            &[
                "transfer", "--to", &car_s, "--asset", "CNY", "--amount", "1",
            ],
        );
        tx(
            &bank_key,
            &["account-state", "--account", &car_s, "--state", "normal"],
        );
        assert_eq!(client.account(&car).await.unwrap().status, "active");

        // The regulator's history shows the hold and its capture, and a
        // trace follows the captured money to the charger.
        let top = cluster.height(1).await.unwrap();
        cluster.wait_height(4, top, Duration::from_secs(60)).await;
        let audit = |args: &[&str]| {
            let mut all = vec!["audit", "--rpc", &regulator_rpc, "--key", &reg_key];
            all.extend_from_slice(args);
            hutong(&all)
        };
        let page: HistoryPage =
            serde_json::from_str(&audit(&["history", &car_s, "--format", "json"])).unwrap();
        let kinds: Vec<EdgeKind> = page.rows.iter().map(|r| r.leg.kind).collect();
        for kind in [
            EdgeKind::Hold,
            EdgeKind::Capture,
            EdgeKind::Void,
            EdgeKind::SetAccountState,
        ] {
            assert!(kinds.contains(&kind), "{kind:?} missing from {kinds:?}");
        }
        let capture = page
            .rows
            .iter()
            .find(|r| r.leg.kind == EdgeKind::Capture && r.leg.failure.is_none())
            .expect("a successful capture");
        assert_eq!(
            (capture.leg.from.as_str(), capture.leg.to.as_str()),
            (car_s.as_str(), charger_s.as_str())
        );
        let trace: Trace = serde_json::from_str(&audit(&[
            "trace",
            "--account",
            &car_s,
            "--hops",
            "1",
            "--format",
            "json",
        ]))
        .unwrap();
        assert!(
            trace
                .edges
                .iter()
                .any(|e| e.leg.kind == EdgeKind::Capture && e.leg.to == charger_s),
            "{trace:?}"
        );

        // The open settlement cycle counts the capture from bank-a's
        // customer to wallet-b's; its net positions sum to zero.
        let clearing: serde_json::Value =
            serde_json::from_str(&hutong(&["query", "--rpc", &rpc, "clearing", "--json"])).unwrap();
        assert_eq!(clearing["closed"], false, "{clearing}");
        let flows = clearing["flows"].as_array().unwrap();
        assert!(
            flows.iter().any(|f| f["from_name"] == "bank-a"
                && f["to_name"] == "wallet-b"
                && f["asset"] == "CNY"
                && f["amount"].as_str().unwrap().parse::<u128>().unwrap() >= 7_350),
            "{clearing}"
        );
        let net: i128 = clearing["positions"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["asset"] == "CNY")
            .map(|p| p["net"].as_str().unwrap().parse::<i128>().unwrap())
            .sum();
        assert_eq!(net, 0, "{clearing}");
        let text = hutong(&["query", "--rpc", &rpc, "clearing"]);
        assert!(text.contains("bank-a -> wallet-b"), "{text}");

        // Every node, the regulator too, has the same state.
        let h = cluster.height(0).await.unwrap();
        cluster.assert_agree(&[0, 1, 2, 3, 4], h).await;
    });
}

#[test]
fn pvp_linked_payments_and_mandates_settle_on_a_testnet() {
    let _one = exclusive();
    let mut cluster = Cluster::new();
    for i in 0..5 {
        cluster.start(i);
    }
    let rpc = cluster.nodes[1].rpc.clone();
    let regulator_rpc = cluster.nodes[4].rpc.clone();
    // account-1 banks at bank-a (tier 1), account-2 at wallet-b (tier 2),
    // account-3 at mall-c (tier 3); wallet-b quotes FX (the template's
    // second member).
    let (payer_key, shop_key, app_key) = (
        key_path(&cluster, "account-1"),
        key_path(&cluster, "account-2"),
        key_path(&cluster, "account-3"),
    );
    let provider_key = key_path(&cluster, "wallet-b.institution");
    let reg_key = key_path(&cluster, "regulator");
    let dir = tempfile::tempdir().unwrap();
    let tx = |key: &str, args: &[&str]| {
        let mut all = vec!["tx", "--rpc", &rpc, "--key", key, "--wait"];
        all.extend_from_slice(args);
        hutong(&all)
    };
    let tx_fails = |key: &str, args: &[&str]| {
        let mut all = vec!["tx", "--rpc", &rpc, "--key", key, "--wait"];
        all.extend_from_slice(args);
        hutong_fails(&all)
    };
    runtime().block_on(async {
        cluster.wait_height(0, 2, Duration::from_secs(60)).await;
        let w = demo_wallets(&cluster, 3).await;
        let client = cluster.client(1);
        let (payer, shop, app) = (w.address(0), w.address(1), w.address(2));
        let (payer_s, shop_s, app_s) = (payer.to_string(), shop.to_string(), app.to_string());
        let params = client.parameters().await.unwrap();
        let provider = params
            .members
            .iter()
            .find(|m| m.name == "wallet-b")
            .map(|m| m.account.clone())
            .expect("wallet-b");

        // Payment versus payment: wallet-b quotes 1.0912 HKD per CNY for
        // this payer; the payer pays 100.00 CNY and the app's account (at
        // mall-c) receives 109.12 HKD, both legs or neither.
        let quote_file = dir.path().join("quote.json");
        let quote_s = quote_file.to_str().unwrap();
        hutong(&[
            "quote",
            "--rpc",
            &rpc,
            "--key",
            &provider_key,
            "--sell",
            "CNY",
            "--buy",
            "HKD",
            "--rate",
            "1.0912",
            "--min",
            "1",
            "--max",
            "1000",
            "--expires-in",
            "600",
            "--payer",
            &payer_s,
            "--out",
            quote_s,
        ]);
        let before = client.account(&payer).await.unwrap();
        let app_before = client.account(&app).await.unwrap();
        let e = tx_fails(
            &payer_key,
            &[
                "pvp",
                "--quote",
                quote_s,
                "--pay",
                "100",
                "--min-receive",
                "109.13",
                "--to",
                &app_s,
            ],
        );
        assert!(e.contains("slippage"), "{e}");
        let out = tx(
            &payer_key,
            &[
                "pvp",
                "--quote",
                quote_s,
                "--pay",
                "100",
                "--min-receive",
                "109.12",
                "--to",
                &app_s,
            ],
        );
        assert!(out.contains("\"exchanged\""), "{out}");
        let after = client.account(&payer).await.unwrap();
        let app_after = client.account(&app).await.unwrap();
        assert_eq!(
            minor(&before.balances, "CNY") - minor(&after.balances, "CNY"),
            10_000
        );
        assert_eq!(
            minor(&app_after.balances, "HKD") - minor(&app_before.balances, "HKD"),
            10_912
        );
        // A quote settles once; an altered one never.
        let e = tx_fails(
            &payer_key,
            &[
                "pvp",
                "--quote",
                quote_s,
                "--pay",
                "10",
                "--min-receive",
                "0",
                "--to",
                &app_s,
            ],
        );
        assert!(e.contains("quote_used"), "{e}");
        let mut altered: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&quote_file).unwrap()).unwrap();
        altered["rate_num"] = serde_json::json!(altered["rate_num"].as_u64().unwrap() * 2);
        altered["quote_id"] = serde_json::json!(altered["quote_id"].as_u64().unwrap() ^ 1);
        let altered_file = dir.path().join("altered.json");
        std::fs::write(&altered_file, altered.to_string()).unwrap();
        let e = tx_fails(
            &payer_key,
            &[
                "pvp",
                "--quote",
                altered_file.to_str().unwrap(),
                "--pay",
                "10",
                "--min-receive",
                "0",
                "--to",
                &app_s,
            ],
        );
        assert!(e.contains("bad_quote_signature"), "{e}");

        // Linked: two payments in one transaction; then one whose second
        // leg cannot settle leaves nothing of the first.
        let shop_before = minor(&client.account(&shop).await.unwrap().balances, "CNY");
        tx(
            &payer_key,
            &[
                "linked",
                "--leg",
                &format!("transfer:{shop_s}:CNY:9.70"),
                "--leg",
                &format!("transfer:{app_s}:CNY:0.30"),
            ],
        );
        let shop_mid = minor(&client.account(&shop).await.unwrap().balances, "CNY");
        assert_eq!(shop_mid - shop_before, 970);
        let stranger = hutong_runtime::Address([7; 20]).to_string();
        let e = tx_fails(
            &payer_key,
            &[
                "linked",
                "--leg",
                &format!("transfer:{shop_s}:CNY:5"),
                "--leg",
                &format!("transfer:{stranger}:CNY:1"),
            ],
        );
        assert!(e.contains("leg 1") && e.contains("unknown_account"), "{e}");
        assert_eq!(
            minor(&client.account(&shop).await.unwrap().balances, "CNY"),
            shop_mid
        );

        // A mandate: the payer lets the app's account pay the shop up to
        // 50.00 a payment, 80.00 a day, and read the account.
        tx(
            &payer_key,
            &[
                "mandate",
                "grant",
                "--grantee",
                &app_s,
                "--asset",
                "CNY",
                "--per-payment",
                "50",
                "--per-period",
                "80",
                "--period-days",
                "1",
                "--days",
                "30",
                "--payee",
                &shop_s,
                "--read",
                "--mandate-id",
                "5",
            ],
        );
        let out = tx(
            &app_key,
            &[
                "mandate",
                "pay",
                "--payer",
                &payer_s,
                "--mandate-id",
                "5",
                "--to",
                &shop_s,
                "--asset",
                "CNY",
                "--amount",
                "40",
            ],
        );
        assert!(out.contains("\"mandate_used\""), "{out}");
        let e = tx_fails(
            &app_key,
            &[
                "mandate",
                "pay",
                "--payer",
                &payer_s,
                "--mandate-id",
                "5",
                "--to",
                &shop_s,
                "--asset",
                "CNY",
                "--amount",
                "40.01",
            ],
        );
        assert!(e.contains("mandate_limit"), "{e}");
        let e = tx_fails(
            &app_key,
            &[
                "mandate",
                "pay",
                "--payer",
                &payer_s,
                "--mandate-id",
                "5",
                "--to",
                &app_s,
                "--asset",
                "CNY",
                "--amount",
                "1",
            ],
        );
        assert!(e.contains("mandate_scope"), "{e}");
        let listed: serde_json::Value = serde_json::from_str(&hutong(&[
            "query", "--rpc", &rpc, "mandates", &payer_s, "--json",
        ]))
        .unwrap();
        let m = &listed["mandates"][0];
        assert_eq!(m["mandate_id"], 5, "{listed}");
        assert_eq!(m["grantee"], app_s.as_str(), "{listed}");
        assert_eq!(m["spent_in_period"], "4000", "{listed}");
        assert_eq!(m["active"], true, "{listed}");
        let text = hutong(&["query", "--rpc", &rpc, "mandates", &payer_s]);
        assert!(
            text.contains("per payment 50.00 CNY") && text.contains("spent this period 40.00 CNY"),
            "{text}"
        );
        // The grantee reads the account under the mandate; the shop,
        // which holds no mandate, may not.
        let read: serde_json::Value = serde_json::from_str(&hutong(&[
            "query",
            "--rpc",
            &rpc,
            "account",
            &payer_s,
            "--json",
            "--mandate-id",
            "5",
            "--key",
            &app_key,
        ]))
        .unwrap();
        assert_eq!(read["address"], payer_s.as_str(), "{read}");
        let e = hutong_fails(&[
            "query",
            "--rpc",
            &rpc,
            "account",
            &payer_s,
            "--mandate-id",
            "5",
            "--key",
            &shop_key,
        ]);
        assert!(e.contains("granted no mandate"), "{e}");
        // Revoked: no payment, no read.
        tx(&payer_key, &["mandate", "revoke", "--mandate-id", "5"]);
        let e = tx_fails(
            &app_key,
            &[
                "mandate",
                "pay",
                "--payer",
                &payer_s,
                "--mandate-id",
                "5",
                "--to",
                &shop_s,
                "--asset",
                "CNY",
                "--amount",
                "1",
            ],
        );
        assert!(e.contains("unknown_mandate"), "{e}");
        hutong_fails(&[
            "query",
            "--rpc",
            &rpc,
            "account",
            &payer_s,
            "--mandate-id",
            "5",
            "--key",
            &app_key,
        ]);

        // The regulator's history shows both PvP legs and the mandate
        // payment; a trace from the payer follows them.
        let top = cluster.height(1).await.unwrap();
        cluster.wait_height(4, top, Duration::from_secs(60)).await;
        let audit = |args: &[&str]| {
            let mut all = vec!["audit", "--rpc", &regulator_rpc, "--key", &reg_key];
            all.extend_from_slice(args);
            hutong(&all)
        };
        let page: HistoryPage =
            serde_json::from_str(&audit(&["history", &payer_s, "--format", "json"])).unwrap();
        let moved = |kind: EdgeKind, from: &str, to: &str| {
            page.rows.iter().any(|r| {
                r.leg.kind == kind
                    && r.leg.failure.is_none()
                    && r.leg.from == from
                    && r.leg.to == to
            })
        };
        assert!(moved(EdgeKind::PvpLeg, &payer_s, &provider), "{page:?}");
        assert!(
            moved(EdgeKind::MandatePayment, &payer_s, &shop_s),
            "{page:?}"
        );
        assert!(moved(EdgeKind::Transfer, &payer_s, &shop_s), "{page:?}");
        let app_page: HistoryPage =
            serde_json::from_str(&audit(&["history", &app_s, "--format", "json"])).unwrap();
        assert!(
            app_page.rows.iter().any(|r| r.leg.kind == EdgeKind::PvpLeg
                && r.leg.from == provider
                && r.leg.to == app_s
                && r.leg.asset.as_deref() == Some("HKD")),
            "{app_page:?}"
        );
        let trace: Trace = serde_json::from_str(&audit(&[
            "trace",
            "--account",
            &payer_s,
            "--hops",
            "2",
            "--format",
            "json",
        ]))
        .unwrap();
        assert!(
            trace
                .edges
                .iter()
                .any(|e| e.leg.kind == EdgeKind::PvpLeg && e.leg.to == app_s),
            "the trace follows the PvP through the provider: {trace:?}"
        );

        // The regulator's flows view carries the ledger's settlement
        // positions for the cycle: bank-a owes, in CNY, and they net to
        // zero.
        let flows: hutong_audit::api::Flows =
            serde_json::from_str(&audit(&["flows", "--format", "json"])).unwrap();
        let cycle = flows.settlement.first().expect("the open cycle");
        assert!(!cycle.closed, "{flows:?}");
        let cny: Vec<i128> = cycle
            .positions
            .iter()
            .filter(|p| p.asset == "CNY")
            .map(|p| p.net.parse().unwrap())
            .collect();
        assert_eq!(cny.iter().sum::<i128>(), 0, "{flows:?}");
        assert!(
            cycle
                .positions
                .iter()
                .any(|p| p.institution == "bank-a" && p.asset == "CNY" && p.net.starts_with('-')),
            "{flows:?}"
        );

        // The clearing counts the PvP's first leg between bank-a and
        // wallet-b.
        let clearing: serde_json::Value =
            serde_json::from_str(&hutong(&["query", "--rpc", &rpc, "clearing", "--json"])).unwrap();
        assert!(
            clearing["flows"]
                .as_array()
                .unwrap()
                .iter()
                .any(|f| f["from_name"] == "bank-a"
                    && f["to_name"] == "wallet-b"
                    && f["asset"] == "CNY"),
            "{clearing}"
        );

        let h = cluster.height(0).await.unwrap();
        cluster.assert_agree(&[0, 1, 2, 3, 4], h).await;
    });
}

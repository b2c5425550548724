//! Hostile clients: slow-loris headers and bodies, too many connections
//! from one address, oversized batches, garbage, malformed and
//! overflowing transactions get stable codes while others are served.

use crate::harness::*;

/// A raw TCP connection to `to` from the loopback address `from`.
pub(crate) async fn connect_from(
    from: &str,
    to: std::net::SocketAddr,
) -> std::io::Result<tokio::net::TcpStream> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.bind(format!("{from}:0").parse().unwrap())?;
    socket.connect(to).await
}

/// Reads until the server closes the connection or `wait` passes; `None`
/// if it was still open then.
pub(crate) async fn read_until_closed(
    stream: &mut tokio::net::TcpStream,
    wait: Duration,
) -> Option<String> {
    use tokio::io::AsyncReadExt;
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some(String::from_utf8_lossy(&out).into_owned()),
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
        }
    }
}

/// One HTTP/1.1 POST of `body` to the JSON-RPC port from `from`; the
/// whole answer.
pub(crate) async fn post_from(from: &str, to: std::net::SocketAddr, body: &str) -> String {
    use tokio::io::AsyncWriteExt;
    let mut s = connect_from(from, to).await.unwrap();
    let request = format!(
        "POST / HTTP/1.1\r\nHost: {to}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(request.as_bytes()).await.unwrap();
    read_until_closed(&mut s, Duration::from_secs(20))
        .await
        .expect("the node did not answer and close")
}

#[test]
fn hostile_clients_get_stable_codes_and_cannot_starve_others() {
    use tokio::io::AsyncWriteExt;
    let _one = exclusive();
    let mut cluster = Cluster::new();
    cluster.configure("rpc", "connections_max", toml::Value::Integer(24));
    cluster.configure("rpc", "connections_per_ip_max", toml::Value::Integer(6));
    cluster.configure("rpc", "header_timeout_ms", toml::Value::Integer(1_000));
    cluster.configure("rpc", "request_timeout_ms", toml::Value::Integer(2_000));
    for i in 0..5 {
        cluster.start(i);
    }
    runtime().block_on(async {
        cluster.wait_height(0, 2, Duration::from_secs(60)).await;
        let addr: std::net::SocketAddr = cluster.nodes[0].rpc.trim_start_matches("http://").parse().unwrap();
        let client = cluster.client(0);

        // Slow loris from 127.0.0.2: it may hold its six slots, no more,
        // and only until the header timeout; others are served meanwhile.
        let mut slow = Vec::new();
        for _ in 0..6 {
            let mut s = connect_from("127.0.0.2", addr).await.unwrap();
            s.write_all(b"POST / HTTP/1.1\r\nHost: x\r\n").await.unwrap();
            slow.push(s);
        }
        let mut seventh = connect_from("127.0.0.2", addr).await.unwrap();
        assert!(
            read_until_closed(&mut seventh, Duration::from_secs(2)).await.is_some(),
            "a seventh connection from one address was kept"
        );
        assert!(client.status().await.is_ok(), "others were not served");
        let started = Instant::now();
        let trickle: Vec<_> = slow
            .into_iter()
            .map(|s| {
                tokio::spawn(async move {
                    let (mut r, mut w) = s.into_split();
                    let writer = tokio::spawn(async move {
                        // One header byte every 200 ms, forever.
                        while w.write_all(b"a").await.is_ok() {
                            tokio::time::sleep(Duration::from_millis(200)).await;
                        }
                    });
                    let mut buf = [0u8; 1024];
                    let closed = tokio::time::timeout(Duration::from_secs(10), async {
                        loop {
                            match tokio::io::AsyncReadExt::read(&mut r, &mut buf).await {
                                Ok(0) | Err(_) => break,
                                Ok(_) => {}
                            }
                        }
                    })
                    .await
                    .is_ok();
                    writer.abort();
                    closed
                })
            })
            .collect();
        for t in trickle {
            assert!(t.await.unwrap(), "a slow-loris connection outlived the header timeout");
        }
        assert!(started.elapsed() < Duration::from_secs(10));
        // Its slots are free again.
        let ok = post_from("127.0.0.2", addr, r#"{"jsonrpc":"2.0","id":1,"method":"hutong_status"}"#).await;
        assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");

        // A body that never finishes: 408 at the request timeout.
        let mut s = connect_from("127.0.0.2", addr).await.unwrap();
        s.write_all(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"jsonrpc\"")
            .await
            .unwrap();
        let answer = read_until_closed(&mut s, Duration::from_secs(10)).await;
        let answer = answer.expect("a stalled body was waited for beyond the request timeout");
        assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");

        // Many idle connections from one address: six are kept, the rest
        // closed at once and counted.
        let refused_before = metric(&cluster, 0, "hutong_rpc_connections_refused_total ");
        let mut idle = Vec::new();
        let mut closed_at_once = 0;
        for _ in 0..40 {
            let mut s = connect_from("127.0.0.3", addr).await.unwrap();
            if read_until_closed(&mut s, Duration::from_millis(300)).await.is_some() {
                closed_at_once += 1;
            } else {
                idle.push(s);
            }
        }
        assert_eq!(idle.len(), 6, "{closed_at_once} closed");
        let refused_after = metric(&cluster, 0, "hutong_rpc_connections_refused_total ");
        assert!(refused_after >= refused_before + 34.0, "{refused_before} -> {refused_after}");
        assert!(client.status().await.is_ok(), "others were not served");
        drop(idle);

        // JSON-RPC batches: 64 calls are answered, 65 refused whole.
        let batch = |n: usize| {
            let calls: Vec<String> = (0..n)
                .map(|i| format!(r#"{{"jsonrpc":"2.0","id":{i},"method":"hutong_status"}}"#))
                .collect();
            format!("[{}]", calls.join(","))
        };
        let ok = post_from("127.0.0.1", addr, &batch(64)).await;
        let body = &ok[ok.find("\r\n\r\n").unwrap() + 4..];
        let answers: Value = serde_json::from_str(body.trim()).unwrap_or_else(|e| panic!("{e}: {body}"));
        assert_eq!(answers.as_array().map(Vec::len), Some(64));
        let too_many = post_from("127.0.0.1", addr, &batch(65)).await;
        assert!(too_many.contains("batch request was too large"), "{too_many}");
        // Garbage and bad JSON get JSON-RPC's own errors.
        let garbage = post_from("127.0.0.1", addr, "{not json").await;
        assert!(garbage.contains("-32700"), "{garbage}");

        // Transactions that break the rules get their stable codes.
        let mut w = demo_wallets(&cluster, 8).await;
        let e = client.submit_hex("zz").await.unwrap_err();
        assert!(matches!(e, hutong_node::client::ClientError::Rpc { code: -32602, .. }), "{e}");
        let e = client.submit_hex("00ff").await.unwrap_err();
        assert_eq!(e.rejection_code().as_deref(), Some("malformed"), "{e}");
        let hexes: Vec<String> = (0..1_001).map(|_| "00".to_string()).collect();
        let refs: Vec<&str> = hexes.iter().map(String::as_str).collect();
        let e = client.submit_many_hex(&refs).await.unwrap_err();
        assert!(matches!(e, hutong_node::client::ClientError::Rpc { code: 1005, .. }), "{e}");
        let me = w.address(0);
        let cases = [
            (
                TxKind::Transfer { to: w.address(1), asset: Wallets::cny(), amount: Amount(u128::MAX), transfer_id: TransferId(900) },
                "single_limit_exceeded",
            ),
            (
                TxKind::Mint { to: me, asset: Wallets::cny(), amount: Amount(1) },
                "unauthorised",
            ),
        ];
        for (kind, code) in cases {
            let tx = w.signed(0, kind);
            let h = client.submit(&tx).await.unwrap();
            let fin = client.wait_final(&h, Duration::from_secs(60)).await.unwrap();
            let receipt = fin.receipt().unwrap_or_else(|| panic!("{fin:?}"));
            assert!(!receipt.success, "{fin:?}");
            assert_eq!(receipt.code.as_deref(), Some(code), "{fin:?}");
        }
        // A transaction's own fields that break a rule needing no state
        // are refused at admission, before they cost a sequence number.
        for (kind, code) in [
            (
                TxKind::Transfer { to: me, asset: Wallets::cny(), amount: Amount(1), transfer_id: TransferId(902) },
                "self_transfer",
            ),
            (
                TxKind::Transfer { to: w.address(1), asset: Wallets::cny(), amount: Amount(0), transfer_id: TransferId(903) },
                "zero_amount",
            ),
            (
                TxKind::Mint { to: me, asset: Wallets::cny(), amount: Amount(0) },
                "zero_amount",
            ),
            (
                TxKind::Transfer { to: w.address(1), asset: AssetCode::new("XYZ").unwrap(), amount: Amount(1), transfer_id: TransferId(901) },
                "unknown_asset",
            ),
        ] {
            let tx = w.signed(0, kind);
            let e = client.submit(&tx).await.unwrap_err();
            assert_eq!(e.rejection_code().as_deref(), Some(code), "{e}");
            w.rewind(0);
        }
        // Co-signatures that do not match their transaction say which
        // part is wrong, at admission.
        let institution = cluster.key("bank-a.institution");
        let stranger = cluster.key("wallet-b.institution");
        let pay = |w: &Wallets, cosigner: Option<&Keypair>| Transaction {
            chain_id: w.chain_id,
            sender: w.key(0).public(),
            sequence: Nonce(w.next_sequence(0)),
            expiry: w.expiry,
            kind: TxKind::Transfer { to: w.address(1), asset: Wallets::cny(), amount: Amount(1), transfer_id: TransferId(904) },
            cosigner: cosigner.map(|k| k.public()),
            memo: Vec::new(),
        };
        let missing = pay(&w, Some(&institution)).sign(w.key(0));
        let mut unexpected = pay(&w, None).sign(w.key(0));
        unexpected.cosignature = Some(institution.sign(&[0; 32]));
        let invalid = pay(&w, Some(&institution)).sign(w.key(0)).cosign(&stranger);
        let mut forged = pay(&w, None).sign(w.key(0));
        forged.signature = stranger.sign(&[1; 32]);
        for (tx, code) in [
            (missing, "cosignature_missing"),
            (unexpected, "cosignature_unexpected"),
            (invalid, "cosignature_invalid"),
            (forged, "bad_signature"),
        ] {
            let e = client.submit(&tx).await.unwrap_err();
            assert_eq!(e.rejection_code().as_deref(), Some(code), "{e}");
        }
        let sequence = client.account(&me).await.unwrap().sequence;
        assert_eq!(sequence, w.next_sequence(0), "no sequence number was used");

        // Parameters by name work, and a bad one is named.
        let by_name = post_from("127.0.0.1", addr, &format!(
            r#"{{"jsonrpc":"2.0","id":1,"method":"hutong_getAccount","params":{{"address":"{me}"}}}}"#
        )).await;
        assert!(by_name.contains(&format!(r#""address":"{me}""#)), "{by_name}");
        let bad = post_from("127.0.0.1", addr,
            r#"{"jsonrpc":"2.0","id":1,"method":"hutong_getAccount","params":{"address":"nope"}}"#).await;
        assert!(bad.contains("-32602") && bad.contains(r#""param":"address""#), "{bad}");
        let missing = post_from("127.0.0.1", addr,
            r#"{"jsonrpc":"2.0","id":1,"method":"hutong_getTransaction","params":[]}"#).await;
        assert!(missing.contains(r#""param":"hash""#) && missing.contains("is missing"), "{missing}");
        // A subscription over plain HTTP says to use a WebSocket.
        let sub = post_from("127.0.0.1", addr, &format!(
            r#"{{"jsonrpc":"2.0","id":1,"method":"hutong_subscribeTransaction","params":["{}"]}}"#,
            Hash([7; 32])
        )).await;
        assert!(sub.contains("1012") && sub.contains("ws://"), "{sub}");
        // One item that is not even hex gets its own verdict; the others
        // go on.
        let good = w.transfer(2, 3, 1);
        let good_hex = hex::encode(good.encode());
        let verdicts = client.submit_many_hex(&["zz", &good_hex]).await.unwrap();
        assert!(
            matches!(&verdicts[0], SubmitVerdict::Rejected { why } if why.code == "malformed"),
            "{verdicts:?}"
        );
        assert!(matches!(&verdicts[1], SubmitVerdict::Pending { .. }), "{verdicts:?}");
        wait_committed(&client, &[good.hash()]).await;
        // People read amounts in the asset's units: `hutong query account`
        // prints the balances as the node's JSON gives them in decimals.
        let payee = w.address(3).to_string();
        let view = client.account(&w.address(3)).await.unwrap();
        let cny = view.balances_decimal.get("CNY").expect("a CNY balance in decimals").clone();
        let minor: u128 = view.balances["CNY"].parse().unwrap();
        assert_eq!(cny, hutong_wire::amount::format(minor, 2), "{view:?}");
        let text = hutong(&["query", "--rpc", &cluster.nodes[0].rpc, "account", &payee]);
        let grouped = hutong_wire::amount::format_grouped(minor, 2);
        assert!(
            text.contains(&format!("balances   {grouped} CNY")),
            "{text}"
        );
        assert!(text.contains("today      CNY: sent"), "{text}");
        let json: Value = serde_json::from_str(&hutong(&[
            "query", "--rpc", &cluster.nodes[0].rpc, "account", &payee, "--json",
        ]))
        .unwrap();
        assert_eq!(json["balances_decimal"]["CNY"], Value::String(cny));

        // A transaction that loses the race for its sequence number ends
        // `rejected` with `sequence_used` naming the winner, on the node
        // that admitted it, and its subscription hears so. Two nodes take
        // one transaction each for the same sequence at the same moment;
        // when one node learned of the other's first (it then refuses its
        // own with sequence_taken), the race is run again.
        let other = cluster.client(1);
        let mut raced = None;
        for attempt in 0..8 {
            let a = w.transfer(4, 5, 1);
            w.rewind(4);
            let b = w.transfer(4, 6, 1);
            let (ra, rb) = tokio::join!(client.submit(&a), other.submit(&b));
            match (ra, rb) {
                (Ok(_), Ok(_)) => {
                    raced = Some((a, b));
                    break;
                }
                (ra, rb) => println!("race {attempt}: {ra:?} / {rb:?}; again"),
            }
            // Whichever won, the next race starts after it.
            let next = client.account(&w.address(4)).await.unwrap();
            tokio::time::sleep(Duration::from_millis(500)).await;
            let next = client.account(&w.address(4)).await.map(|a| a.sequence).unwrap_or(next.sequence);
            w.set_next_sequence(4, next.max(w.next_sequence(4)));
        }
        let (a, b) = raced.expect("no race between two nodes in 8 tries");
        let (ha, hb) = (a.hash(), b.hash());
        let (fa, fb) = tokio::join!(
            client.await_transaction(&ha, Duration::from_secs(60)),
            other.await_transaction(&hb, Duration::from_secs(60)),
        );
        let (fa, fb) = (fa.unwrap(), fb.unwrap());
        let (winner, loser) = if fa.succeeded() { (&a, &fb) } else { (&b, &fa) };
        match loser {
            TxStatus::Rejected { why, .. } => {
                assert_eq!(why.code, "sequence_used", "{loser:?}");
                assert_eq!(why.used_by.as_deref(), Some(winner.hash().to_string().as_str()), "{loser:?}");
            }
            other => panic!("the loser of the race ended {other:?} (the winner: {fa:?} / {fb:?})"),
        }

        // A pending transaction that expires before any block takes it
        // (its sequence leaves a gap) ends `dropped`, code `expired`.
        let height = client.status().await.unwrap().height;
        let gap = Transaction {
            chain_id: w.chain_id,
            sender: w.key(7).public(),
            sequence: Nonce(w.next_sequence(7) + 1),
            expiry: Expiry::Height(Height(height + 3)),
            kind: TxKind::Transfer { to: w.address(1), asset: Wallets::cny(), amount: Amount(1), transfer_id: TransferId(905) },
            cosigner: None,
            memo: Vec::new(),
        }
        .sign(w.key(7));
        let h = client.submit(&gap).await.unwrap();
        let fin = client.await_transaction(&h, Duration::from_secs(60)).await.unwrap();
        match &fin {
            TxStatus::Dropped { why, .. } => assert_eq!(why.code, "expired", "{fin:?}"),
            other => panic!("an expired pending transaction ended {other:?}"),
        }
        // Through all of it the chain kept committing ordinary transfers.
        let tx = w.transfer(2, 3, 100);
        let h = client.submit(&tx).await.unwrap();
        wait_committed(&client, &[h]).await;
        let m = metric(&cluster, 0, "hutong_halted ");
        assert_eq!(m, 0.0);
    });
}

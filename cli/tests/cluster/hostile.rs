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
                TxKind::Transfer { to: w.address(1), asset: AssetCode::new("XYZ").unwrap(), amount: Amount(1), transfer_id: TransferId(901) },
                "unknown_asset",
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
        ] {
            let tx = w.signed(0, kind);
            let e = client.submit(&tx).await.unwrap_err();
            assert_eq!(e.rejection_code().as_deref(), Some(code), "{e}");
            w.rewind(0);
        }
        let sequence = client.account(&me).await.unwrap().sequence;
        assert_eq!(sequence, w.next_sequence(0), "no sequence number was used");
        // Through all of it the chain kept committing ordinary transfers.
        let tx = w.transfer(2, 3, 100);
        let h = client.submit(&tx).await.unwrap();
        wait_committed(&client, &[h]).await;
        let m = metric(&cluster, 0, "hutong_halted ");
        assert_eq!(m, 0.0);
    });
}

//! Byzantine peers: a rogue member with a validator's key replays,
//! forges and sends broken frames; a validator that attests a batch with
//! a bad signature is caught with the evidence.

use crate::harness::*;

/// Frames exactly as given: a rogue peer's codec, so that a test can send
/// what an honest node never would. Responses are read and ignored.
#[derive(Clone, Default)]
pub(crate) struct RawCodec;

impl libp2p::request_response::Codec for RawCodec {
    type Protocol = libp2p::StreamProtocol;
    type Request = Vec<u8>;
    type Response = ();

    async fn read_request<T>(&mut self, _: &Self::Protocol, io: &mut T) -> std::io::Result<Vec<u8>>
    where
        T: futures::AsyncRead + Unpin + Send,
    {
        use futures::AsyncReadExt;
        let mut out = Vec::new();
        io.take(16 * 1024 * 1024).read_to_end(&mut out).await?;
        Ok(out)
    }

    async fn read_response<T>(&mut self, _: &Self::Protocol, io: &mut T) -> std::io::Result<()>
    where
        T: futures::AsyncRead + Unpin + Send,
    {
        use futures::AsyncReadExt;
        let mut sink = Vec::new();
        io.take(64).read_to_end(&mut sink).await?;
        Ok(())
    }

    async fn write_request<T>(
        &mut self,
        _: &Self::Protocol,
        io: &mut T,
        req: Vec<u8>,
    ) -> std::io::Result<()>
    where
        T: futures::AsyncWrite + Unpin + Send,
    {
        use futures::AsyncWriteExt;
        io.write_all(&req).await?;
        io.close().await
    }

    async fn write_response<T>(
        &mut self,
        _: &Self::Protocol,
        io: &mut T,
        _: (),
    ) -> std::io::Result<()>
    where
        T: futures::AsyncWrite + Unpin + Send,
    {
        use futures::AsyncWriteExt;
        // borsh `()` framed: a zero length.
        io.write_all(&0u32.to_le_bytes()).await?;
        io.close().await
    }
}

pub(crate) type Rogue = libp2p::Swarm<libp2p::request_response::Behaviour<RawCodec>>;

/// A swarm with a member's node key that speaks the consensus protocol
/// with raw frames.
pub(crate) fn rogue(node_key: &Keypair) -> Rogue {
    rogue_on(node_key, hutong_wire::p2p::CONSENSUS_PROTOCOL)
}

/// A swarm with a member's node key that speaks `protocol` with raw
/// frames.
pub(crate) fn rogue_on(node_key: &Keypair, protocol: &'static str) -> Rogue {
    use libp2p::request_response::{Behaviour, Config, ProtocolSupport};
    let mut secret = node_key.secret_bytes();
    let id = libp2p::identity::Keypair::ed25519_from_bytes(&mut secret).unwrap();
    libp2p::SwarmBuilder::with_existing_identity(id)
        .with_tokio()
        .with_tcp(
            libp2p::tcp::Config::default().nodelay(true),
            libp2p::noise::Config::new,
            libp2p::yamux::Config::default,
        )
        .unwrap()
        .with_behaviour(|_| {
            Behaviour::with_codec(
                RawCodec,
                [(libp2p::StreamProtocol::new(protocol), ProtocolSupport::Full)],
                Config::default().with_request_timeout(Duration::from_secs(5)),
            )
        })
        .unwrap()
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(60)))
        .build()
}

/// When [`drive`] may return before its time is up.
#[derive(PartialEq)]
pub(crate) enum Until {
    Deadline,
    Closed,
    Connected,
}

/// What the rogue saw while it drove its swarm for `wait`.
#[derive(Default)]
pub(crate) struct Seen {
    connected: bool,
    closed: bool,
    captured: Vec<Vec<u8>>,
}

/// Drives the rogue for `wait`: answers and records consensus messages
/// sent to it, notes connections opening and closing; returns early at the
/// event `until` names.
pub(crate) async fn drive(swarm: &mut Rogue, wait: Duration, until: Until) -> Seen {
    use futures::StreamExt;
    use libp2p::request_response::{Event, Message};
    use libp2p::swarm::SwarmEvent;
    let mut seen = Seen::default();
    let deadline = tokio::time::sleep(wait);
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            _ = &mut deadline => return seen,
            event = swarm.select_next_some() => match event {
                SwarmEvent::ConnectionEstablished { .. } => {
                    seen.connected = true;
                    if until == Until::Connected {
                        return seen;
                    }
                }
                SwarmEvent::ConnectionClosed { num_established: 0, .. }
                | SwarmEvent::OutgoingConnectionError { .. } => {
                    seen.closed = true;
                    if until == Until::Closed {
                        return seen;
                    }
                }
                SwarmEvent::Behaviour(Event::Message {
                    message: Message::Request { request, channel, .. },
                    ..
                }) => {
                    if seen.captured.len() < 200 {
                        seen.captured.push(request);
                    }
                    let _ = swarm.behaviour_mut().send_response(channel, ());
                }
                _ => {}
            },
        }
    }
}

/// A validator that shares (and so attests) a batch holding a bad
/// signature has produced evidence of its own fault: the validator it
/// names to check the batch finds the bad signature, counts and logs the
/// signed attestation, admits nothing bad and disconnects it; a batch
/// nobody is named for is checked after the wait, with the same result.
#[test]
fn an_attested_batch_with_a_bad_signature_is_evidence_against_its_origin() {
    use hutong_wire::{batch_digest, Attestation, TxGossip};
    let _one = exclusive();
    let mut cluster = Cluster::new();
    for i in 0..5 {
        cluster.start(i);
    }
    runtime().block_on(async {
        cluster.wait_height(0, 2, Duration::from_secs(60)).await;
        let mut wallets = demo_wallets(&cluster, 4).await;
        // The rogue is validator 3 (its node stopped), speaking the
        // transaction-sharing protocol.
        cluster.kill(3);
        let key = cluster.key(&format!("{}.node", cluster.nodes[3].name));
        let target: libp2p::Multiaddr = first_p2p_addr(&cluster.nodes[0].home).parse().unwrap();
        let target_peer = peer_of(&cluster, 0);
        // Its index among the validators, as genesis orders them.
        let genesis_path = cluster.keys.parent().unwrap().join("genesis.toml");
        let genesis =
            hutong_genesis::Genesis::from_toml(&std::fs::read_to_string(genesis_path).unwrap())
                .unwrap();
        let index = genesis
            .validators()
            .position(|m| m.node_key == key.public())
            .expect("node 3 is a validator") as u16;
        let named_target = genesis
            .validators()
            .position(|m| {
                m.node_key
                    == cluster
                        .key(&format!("{}.node", cluster.nodes[0].name))
                        .public()
            })
            .expect("node 0 is a validator") as u16;
        let mut swarm = rogue_on(&key, hutong_wire::p2p::TXS_PROTOCOL);
        let value = |name: &str| metric(&cluster, 0, name);
        let faults_before = value("hutong_attestation_faults_total ");
        let fallbacks_before = value("hutong_attestation_fallbacks_total ");

        // A valid transfer and a forged one, attested by validator 3.
        let good = wallets.transfer(0, 1, 5);
        let mut bad = wallets.transfer(2, 1, 5);
        bad.signature.0[0] ^= 1;
        for (round, named) in [(0, vec![named_target]), (1, vec![])] {
            let txs = if round == 0 {
                vec![good.encode(), bad.encode()]
            } else {
                let mut again = wallets.transfer(2, 1, 7);
                again.signature.0[5] ^= 1;
                vec![again.encode()]
            };
            let digest = batch_digest(wallets.chain_id, &txs);
            let gossip = TxGossip::Batch {
                txs,
                attestation: Some(Attestation::sign(&key, wallets.chain_id, index, digest)),
                verifiers: named,
            };
            let body = borsh::to_vec(&gossip).unwrap();
            let frame = [(body.len() as u32).to_le_bytes().to_vec(), body].concat();
            if !swarm.is_connected(&target_peer) {
                swarm.dial(target.clone()).unwrap();
                let s = drive(&mut swarm, Duration::from_secs(10), Until::Connected).await;
                assert!(s.connected || swarm.is_connected(&target_peer));
            }
            swarm.behaviour_mut().send_request(&target_peer, frame);
            let s = drive(&mut swarm, Duration::from_secs(10), Until::Closed).await;
            assert!(
                s.closed,
                "the node kept a validator that attested a bad signature; log:\n{}",
                cluster.log_tail(0)
            );
            assert_eq!(
                value("hutong_attestation_faults_total "),
                faults_before + 1.0 + round as f64,
                "{}",
                cluster.log_tail(0)
            );
        }
        // The second batch named nobody: node 0 waited for attestations
        // that never came, then checked it itself.
        assert!(value("hutong_attestation_fallbacks_total ") > fallbacks_before);
        let log = std::fs::read_to_string(cluster.nodes[0].home.join("node.log")).unwrap();
        assert!(
            log.contains("evidence of its fault"),
            "{}",
            cluster.log_tail(0)
        );
        // The attestation's signature checked out: transferable evidence.
        // (Logs to a file carry no colour codes, so fields read as
        // `name=value`.)
        assert!(log.contains("signed=true"), "{}", cluster.log_tail(0));
        // The valid transfer of the first batch commits; the forged one
        // was never admitted.
        let good_hash = good.hash();
        wait_committed(&cluster.client(0), &[good_hash]).await;
        let forged = cluster.client(0).transaction(&bad.hash()).await.unwrap();
        assert!(!matches!(forged, TxStatus::Committed { .. }), "{forged:?}");
        let h = cluster.height(0).await.unwrap();
        cluster.wait_height(1, h, Duration::from_secs(60)).await;
    });
}

#[test]
fn a_misbehaving_member_is_dropped_penalised_and_the_chain_goes_on() {
    let _one = exclusive();
    let mut cluster = Cluster::new();
    for i in 0..5 {
        cluster.start(i);
    }
    runtime().block_on(async {
        cluster.wait_height(0, 3, Duration::from_secs(60)).await;
        // The rogue takes validator 3's identity (its node is stopped):
        // a member, so the Noise handshake and the allow-list let it in.
        cluster.kill(3);
        let key = cluster.key(&format!("{}.node", cluster.nodes[3].name));
        let target: libp2p::Multiaddr = first_p2p_addr(&cluster.nodes[0].home).parse().unwrap();
        let target_peer = peer_of(&cluster, 0);
        let mut swarm = rogue(&key);
        swarm.dial(target.clone()).unwrap();
        // It listens for a while: the validators send it their proposals
        // and votes, which it keeps.
        let seen = drive(&mut swarm, Duration::from_secs(3), Until::Deadline).await;
        assert!(seen.connected, "a member could not connect");
        assert!(
            !seen.captured.is_empty(),
            "no consensus traffic reached the rogue"
        );
        let h0 = cluster.height(0).await.unwrap();

        // Replays at a high rate: every captured message 25 times over
        // (duplicates, and soon stale ones). Well-formed, so dropped by
        // consensus without a penalty; the chain goes on.
        let mut sent = 0;
        for _ in 0..25 {
            for m in &seen.captured {
                swarm.behaviour_mut().send_request(&target_peer, m.clone());
                sent += 1;
            }
            drive(&mut swarm, Duration::from_millis(100), Until::Deadline).await;
        }
        drive(&mut swarm, Duration::from_secs(2), Until::Deadline).await;
        println!("replayed {sent} consensus messages");
        cluster
            .wait_height(0, h0 + 5, Duration::from_secs(60))
            .await;
        let dropped = cluster.client(0).status().await.unwrap().consensus.dropped;
        println!("node 0 dropped, by reason: {dropped:?}");

        // Decodable but forged: a vote for the current round whose
        // signature does not verify. Only a faulty sender sends that (votes
        // are never relayed), so it costs the peer its connection and score
        // like garbage does.
        let before = bad_messages(&cluster, 0).await;
        let round = cluster.client(0).status().await.unwrap().consensus.round;
        let forged = ConsensusEnvelope {
            message: Message::Vote(Vote {
                data: VoteData {
                    epoch: GENESIS_EPOCH,
                    round: Round(round + 1),
                    height: ct::Height(h0 + 1),
                    block_id: Digest([7; 32]),
                    parent_id: Digest([8; 32]),
                    parent_round: Round(round),
                },
                voter: ValidatorId(3),
                signature: SignatureBytes([1; 64]),
            }),
            payload: None,
        };
        let body = borsh::to_vec(&forged).unwrap();
        let frame = [(body.len() as u32).to_le_bytes().to_vec(), body].concat();
        if !swarm.is_connected(&target_peer) {
            swarm.dial(target.clone()).unwrap();
            drive(&mut swarm, Duration::from_secs(5), Until::Connected).await;
        }
        swarm.behaviour_mut().send_request(&target_peer, frame);
        let s = drive(&mut swarm, Duration::from_secs(5), Until::Closed).await;
        assert!(
            s.closed,
            "the node kept a peer that sent a forged vote; log:\n{}",
            cluster.log_tail(0)
        );
        let dropped = cluster.client(0).status().await.unwrap().consensus.dropped;
        assert!(
            dropped.get("bad_signature").copied().unwrap_or(0) >= 1,
            "the forged vote was not dropped as bad_signature: {dropped:?}"
        );

        // Undecodable frames: each costs the peer its connection and
        // score; the fifth (with the forged vote, the sixth) gets it
        // banned. Then it cannot stay connected.
        let garbage: Vec<Vec<u8>> = vec![
            // Claims 100 MB: refused from the length alone.
            (100u32 << 20).to_le_bytes().to_vec(),
            // Right length, not borsh of anything valid.
            [16u32.to_le_bytes().to_vec(), vec![0xff; 16]].concat(),
            // Truncated: says 64 bytes, sends 8.
            [64u32.to_le_bytes().to_vec(), vec![1; 8]].concat(),
            // Valid length, trailing garbage after a tiny prefix.
            [3u32.to_le_bytes().to_vec(), vec![9, 9, 9]].concat(),
            [16u32.to_le_bytes().to_vec(), vec![0x07; 16]].concat(),
        ];
        for (i, g) in garbage.iter().enumerate() {
            if !swarm.is_connected(&target_peer) {
                swarm.dial(target.clone()).unwrap();
                let s = drive(&mut swarm, Duration::from_secs(5), Until::Connected).await;
                assert!(
                    s.connected || swarm.is_connected(&target_peer),
                    "could not reconnect before the ban"
                );
            }
            swarm.behaviour_mut().send_request(&target_peer, g.clone());
            let s = drive(&mut swarm, Duration::from_secs(5), Until::Closed).await;
            assert!(
                s.closed,
                "the node kept a peer that sent garbage #{i}; log:\n{}",
                cluster.log_tail(0)
            );
        }
        let after = bad_messages(&cluster, 0).await;
        assert!(after >= before + 5, "bad messages {before} -> {after}");
        // Banned: a new connection does not last.
        swarm.dial(target.clone()).unwrap();
        let s = drive(&mut swarm, Duration::from_secs(3), Until::Deadline).await;
        assert!(
            !swarm.is_connected(&target_peer) && (s.closed || !s.connected),
            "a banned peer stayed connected"
        );

        // Through all of it the honest three kept committing and agree.
        let h1 = cluster.height(0).await.unwrap();
        let h = cluster
            .wait_height(0, h1 + 5, Duration::from_secs(60))
            .await;
        cluster.assert_agree(&[0, 1, 2, 4], h).await;
    });
}

//! The genesis ceremony, end to end with the real binary: five members
//! make their keys in their own folders and hand over cards only; a
//! coordinator assembles genesis from the cards and a template; every
//! member checks that it is listed exactly and that the chain ids agree;
//! `hutong init` takes its peers from genesis; the chain starts and
//! commits transfers. Bad cards are refused with one line naming the card
//! and the field.

use crate::harness::*;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn a_consortium_formed_from_member_cards_starts_and_commits() {
    let _one = exclusive();
    let dir = tempfile::tempdir().unwrap();
    let members = [
        ("bank-a", "validator"),
        ("bank-b", "validator"),
        ("pay-c", "validator"),
        ("pay-d", "validator"),
        ("regulator", "regulator"),
    ];
    // Distinct ports for p2p, RPC and metrics of each node.
    let mut taken = std::collections::HashSet::new();
    let mut free = || loop {
        let p = free_port();
        if taken.insert(p) {
            return p;
        }
    };
    let ports: Vec<(u16, u16, u16)> = members.iter().map(|_| (free(), free(), free())).collect();

    // 1. Each member, on "its own machine" (its own folder): two keys and
    //    a card. Only the card leaves the folder.
    let coordinator = dir.path().join("coordinator");
    std::fs::create_dir_all(&coordinator).unwrap();
    let mut cards = Vec::new();
    for ((name, role), (p2p, _, _)) in members.iter().zip(&ports) {
        let own = dir.path().join(name);
        std::fs::create_dir_all(&own).unwrap();
        let institution = own.join("institution.key");
        let node = own.join("node.key");
        hutong(&["keys", "new", "--out", s(&institution)]);
        hutong(&["keys", "new", "--out", s(&node)]);
        let card = own.join(format!("{name}.card"));
        let out = hutong(&[
            "keys",
            "card",
            "--name",
            name,
            "--role",
            role,
            "--institution-key",
            s(&institution),
            "--node-key",
            s(&node),
            "--p2p",
            &format!("/ip4/127.0.0.1/tcp/{p2p}"),
            "--out",
            s(&card),
        ]);
        assert!(out.contains("public keys only"), "{out}");
        let text = std::fs::read_to_string(&card).unwrap();
        assert!(!text.contains("secret"), "a card holds no secret:\n{text}");
        let handed = coordinator.join(format!("{name}.card"));
        std::fs::copy(&card, &handed).unwrap();
        cards.push(handed);
    }

    // Two customers, whose wallets made their own keys.
    let keys = dir.path().join("wallets");
    std::fs::create_dir_all(&keys).unwrap();
    let mut accounts = String::new();
    for (i, institution) in ["bank-a", "pay-c"].iter().enumerate() {
        let path = keys.join(format!("account-{}.key", i + 1));
        hutong(&["keys", "new", "--out", s(&path)]);
        let public = keyfile::read(&path).unwrap().public().to_hex();
        accounts.push_str(&format!(
            "[[accounts]]\nowner_key = \"{public}\"\ninstitution = \"{institution}\"\ntier = 1\n\
             identity_commitment = \"{}\"\nbalances = {{ CNY = 1000000 }}\n\n",
            Hash::tagged(b"test/identity", &[i as u8]).to_hex()
        ));
    }
    let template = coordinator.join("template.toml");
    std::fs::write(
        &template,
        format!(
            "consortium = \"Ceremony test consortium\"\nutc_offset = \"+08:00\"\n\n\
             [[assets]]\ncode = \"CNY\"\ndecimals = 2\nissuer = \"bank-a\"\n\n\
             [[tiers]]\ntier = 1\nname = \"basic\"\n\
             limits = [{{ asset = \"CNY\", single_max = 500000, daily_max = 2000000 }}]\n\n\
             [balances.bank-a]\nCNY = 100000000\n\n{accounts}"
        ),
    )
    .unwrap();

    // Bad cards first: each refused with one line naming card and field.
    let tampered = coordinator.join("tampered.card");
    let text = std::fs::read_to_string(&cards[1]).unwrap();
    std::fs::write(&tampered, text.replace("bank-b", "bank-z")).unwrap();
    let genesis = coordinator.join("genesis.toml");
    let mut args = vec!["genesis", "assemble", "--template", s(&template)];
    for c in &cards[..1] {
        args.extend(["--card", s(c)]);
    }
    args.extend(["--card", s(&tampered), "--out", s(&genesis)]);
    let err = hutong_fails(&args);
    assert!(
        err.contains("tampered.card: field `institution_signature`") && err.lines().count() == 1,
        "{err}"
    );
    let weak = coordinator.join("weak.card");
    let node_key_line = text
        .lines()
        .find(|l| l.starts_with("node_key"))
        .unwrap()
        .to_string();
    std::fs::write(
        &weak,
        text.replace(
            &node_key_line,
            &format!("node_key = \"01{}\"", "00".repeat(31)),
        ),
    )
    .unwrap();
    let err = hutong_fails(&["keys", "show-card", s(&weak)]);
    assert!(
        err.contains("weak.card: field `node_key`") && err.contains("small order"),
        "{err}"
    );
    let err = hutong_fails(&[
        "genesis",
        "assemble",
        "--template",
        s(&template),
        "--card",
        s(&cards[0]),
        "--card",
        s(&cards[0]),
        "--out",
        s(&genesis),
    ]);
    assert!(
        err.contains("field `name`") && err.contains("already"),
        "{err}"
    );
    assert!(!genesis.exists(), "a refused assembly writes nothing");

    // 2. The coordinator assembles genesis from the cards.
    let mut args = vec![
        "genesis",
        "assemble",
        "--template",
        s(&template),
        "--genesis-time-ms",
        "1767196800000",
    ];
    for c in &cards {
        args.extend(["--card", s(c)]);
    }
    args.extend(["--out", s(&genesis)]);
    let out = hutong(&args);
    assert!(out.contains("4 validators"), "{out}");

    // 3. Each member checks its card is listed and compares chain ids.
    let chain_id = hutong(&["genesis", "hash", s(&genesis)]);
    for (name, _) in &members {
        let own = dir.path().join(name);
        let copy = own.join("genesis.toml");
        std::fs::copy(&genesis, &copy).unwrap();
        let card = own.join(format!("{name}.card"));
        let out = hutong(&["genesis", "validate", s(&copy), "--card", s(&card)]);
        assert!(out.contains("listed exactly as signed"), "{out}");
        assert_eq!(hutong(&["genesis", "hash", s(&copy)]), chain_id);
    }
    // Another member's card is not "mine" under my name.
    let stranger_dir = dir.path().join("stranger");
    std::fs::create_dir_all(&stranger_dir).unwrap();
    let (si, sn) = (stranger_dir.join("i.key"), stranger_dir.join("n.key"));
    hutong(&["keys", "new", "--out", s(&si)]);
    hutong(&["keys", "new", "--out", s(&sn)]);
    let impostor = stranger_dir.join("bank-a.card");
    hutong(&[
        "keys",
        "card",
        "--name",
        "bank-a",
        "--role",
        "validator",
        "--institution-key",
        s(&si),
        "--node-key",
        s(&sn),
        "--out",
        s(&impostor),
    ]);
    let err = hutong_fails(&["genesis", "validate", s(&genesis), "--card", s(&impostor)]);
    assert!(err.contains("institution key"), "{err}");

    // Each member initialises its node: peers come from genesis.
    let mut nodes = Vec::new();
    for ((name, _), (p2p, rpc, metrics)) in members.iter().zip(&ports) {
        let own = dir.path().join(name);
        let home = own.join("home");
        let out = hutong(&[
            "init",
            "--home",
            s(&home),
            "--genesis",
            s(&own.join("genesis.toml")),
            "--node-key",
            s(&own.join("node.key")),
            "--p2p-listen",
            &format!("/ip4/127.0.0.1/tcp/{p2p}"),
            "--rpc-listen",
            &format!("127.0.0.1:{rpc}"),
            "--metrics-listen",
            &format!("127.0.0.1:{metrics}"),
        ]);
        assert!(out.contains("peers from genesis: 4"), "{out}");
        nodes.push(Node {
            name: name.to_string(),
            home,
            rpc: format!("http://127.0.0.1:{rpc}"),
            child: None,
            netns: None,
        });
    }
    let mut cluster = Cluster {
        _dir: dir,
        keys,
        nodes,
    };
    for i in 0..5 {
        cluster.start(i);
    }
    runtime().block_on(async {
        cluster.wait_height(0, 2, Duration::from_secs(60)).await;
        let status = cluster.client(0).status().await.unwrap();
        assert_eq!(status.chain_id, chain_id.trim());
        let mut wallets = demo_wallets(&cluster, 2).await;
        let mut hashes = Vec::new();
        for k in 0..8 {
            let tx = wallets.transfer(k % 2, (k + 1) % 2, 100);
            hashes.push(cluster.client(k % 4).submit(&tx).await.unwrap());
        }
        wait_committed(&cluster.client(0), &hashes).await;
        let h = cluster.height(0).await.unwrap();
        cluster.assert_agree(&[0, 1, 2, 3, 4], h).await;
    });
}

//! The genesis ceremony: member cards, assembly from cards and a template,
//! and each member's check of the result.

use hutong_genesis::assemble::{check_listed, AssembleError, AssemblyTemplate};
use hutong_genesis::card::{Card, CardDoc, CardError, CardProblem, CardRole};
use hutong_genesis::{Genesis, GenesisError, Problem};
use hutong_runtime::Keypair;
use rand::SeedableRng;

/// The identity point: a key of small order, for which anyone can sign.
const SMALL_ORDER_KEY: &str = "0100000000000000000000000000000000000000000000000000000000000000";

struct Member {
    name: String,
    institution: Keypair,
    node: Keypair,
    card: CardDoc,
}

fn member(rng: &mut rand_chacha::ChaCha20Rng, name: &str, role: CardRole, port: u16) -> Member {
    let institution = Keypair::generate(rng);
    let node = Keypair::generate(rng);
    let card = Card::sign(
        name,
        role,
        &institution,
        &node,
        Some(format!("/ip4/10.0.0.{port}/tcp/26600")),
    )
    .unwrap();
    Member {
        name: name.into(),
        institution,
        node,
        card,
    }
}

fn consortium(seed: u64) -> Vec<Member> {
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(seed);
    let mut members: Vec<Member> = ["bank-a", "bank-b", "pay-c", "pay-d"]
        .iter()
        .enumerate()
        .map(|(i, n)| member(&mut rng, n, CardRole::Validator, i as u16 + 1))
        .collect();
    members.push(member(&mut rng, "wallet-e", CardRole::Observer, 5));
    members.push(member(&mut rng, "pboc", CardRole::Regulator, 6));
    members
}

fn template() -> AssemblyTemplate {
    let mut t = AssemblyTemplate {
        consortium: Some("Greater Bay payments".into()),
        genesis_time_ms: Some(1_767_196_800_000),
        ..AssemblyTemplate::default()
    };
    t.add_asset_flag("CNY:2:bank-a").unwrap();
    t.add_asset_flag("HKD:2:bank-b").unwrap();
    t.add_tier_flag("1:basic:CNY:500000:2000000").unwrap();
    t.add_tier_flag("1:basic:HKD:500000:2000000").unwrap();
    t.add_tier_flag("2:verified:CNY:5000000:20000000:1000000")
        .unwrap();
    t.add_balance_flag("bank-a:CNY:100000000000").unwrap();
    t
}

/// What the coordinator does: read each card file's text, verify it.
fn received(members: &[Member]) -> Vec<(String, Card)> {
    members
        .iter()
        .map(|m| {
            let label = format!("{}.card", m.name);
            let doc = CardDoc::from_toml(&label, &m.card.to_toml()).unwrap();
            (label.clone(), doc.verify(&label).unwrap())
        })
        .collect()
}

fn card_problem(result: Result<Card, CardError>) -> (String, &'static str, CardProblem) {
    match result {
        Err(CardError::Invalid {
            card,
            field,
            problem,
        }) => (card, field, problem),
        other => panic!("expected a card error, got {other:?}"),
    }
}

#[test]
fn cards_assemble_into_a_genesis_every_member_can_check() {
    let members = consortium(1);
    let cards = received(&members);
    let doc = template().assemble(&cards).unwrap();
    let genesis = Genesis::from_doc(&doc).unwrap();
    assert_eq!(genesis.validators().count(), 4);
    assert_eq!(genesis.members.len(), 5);
    assert_eq!(genesis.regulators.len(), 1);
    // Validators in card order; keys are the members' own.
    let names: Vec<&str> = genesis.validators().map(|m| m.name.as_str()).collect();
    assert_eq!(names, ["bank-a", "bank-b", "pay-c", "pay-d"]);
    assert_eq!(
        genesis.members[0].institution_key,
        members[0].institution.public()
    );
    assert_eq!(genesis.regulators[0].key, members[5].institution.public());
    assert_eq!(genesis.regulators[0].node_key, members[5].node.public());

    // The document survives its TOML file, and every member finds its card
    // listed exactly.
    let text = toml::to_string(&doc).unwrap();
    let again = Genesis::from_toml(&text).unwrap();
    assert_eq!(again.chain_id(), genesis.chain_id());
    for (label, card) in &cards {
        let path = check_listed(&again, card).unwrap_or_else(|e| panic!("{label}: {e}"));
        assert!(path.starts_with("members[") || path.starts_with("regulators["));
    }

    // The same cards in the same order give the same chain; another order
    // is another validator order, so another chain.
    let twice = Genesis::from_doc(&template().assemble(&received(&members)).unwrap()).unwrap();
    assert_eq!(twice.chain_id(), genesis.chain_id());
    let mut reordered = received(&members);
    reordered.swap(0, 1);
    let other = Genesis::from_doc(&template().assemble(&reordered).unwrap()).unwrap();
    assert_ne!(other.chain_id(), genesis.chain_id());
}

#[test]
fn address_hints_are_not_part_of_the_chain_id() {
    let members = consortium(2);
    let doc = template().assemble(&received(&members)).unwrap();
    let genesis = Genesis::from_doc(&doc).unwrap();
    let mut moved = doc.clone();
    moved.members[0].p2p_address = Some("/dns4/node.bank-a.example/tcp/26600".into());
    moved.regulators[0].p2p_address = None;
    let moved = Genesis::from_doc(&moved).unwrap();
    assert_eq!(moved.chain_id(), genesis.chain_id());
    // But a member checking its card sees that its address was changed.
    let cards = received(&members);
    let err = check_listed(&moved, &cards[0].1).unwrap_err();
    assert!(err.contains("p2p address"), "{err}");
    // A hint that is not an address is refused, with its field.
    let mut bad = doc;
    bad.members[2].p2p_address = Some("10.0.0.3:26600".into());
    match Genesis::from_doc(&bad) {
        Err(GenesisError::Invalid { path, problem }) => {
            assert_eq!(path, "members[2].p2p_address");
            assert!(matches!(problem, Problem::BadAddress { .. }));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_card_changed_after_signing_is_refused() {
    let members = consortium(3);
    let card = &members[0].card;

    let mut renamed = card.clone();
    renamed.name = "bank-z".into();
    let (label, field, problem) = card_problem(renamed.verify("a.card"));
    assert_eq!((label.as_str(), field), ("a.card", "institution_signature"));
    assert!(matches!(problem, CardProblem::BadSignature { .. }));

    let mut promoted = members[4].card.clone();
    promoted.role = CardRole::Validator;
    let (_, field, _) = card_problem(promoted.verify("e.card"));
    assert_eq!(field, "institution_signature");

    // Someone else's node key, signed by the institution key: the node
    // key's own signature is missing, so the card is refused.
    let mut stolen = card.clone();
    stolen.node_key = members[1].node.public().to_hex();
    let body = Card {
        name: card.name.clone(),
        role: card.role,
        institution_key: members[0].institution.public(),
        node_key: members[1].node.public(),
        p2p_address: card.p2p_address.clone(),
        extras: Default::default(),
    };
    stolen.institution_signature = members[0]
        .institution
        .sign(&body.signed_message().0)
        .to_hex();
    let (_, field, _) = card_problem(stolen.verify("a.card"));
    assert_eq!(field, "node_signature");

    // The error is one line naming the card and the field.
    let text = card_problem(renamed.verify("a.card")).2.to_string();
    let full = CardError::Invalid {
        card: "a.card".into(),
        field: "institution_signature",
        problem: CardProblem::BadSignature { reason: "x" },
    }
    .to_string();
    assert!(full.starts_with("a.card: field `institution_signature`: "));
    assert!(!text.contains('\n'));
}

#[test]
fn a_small_order_key_is_refused_naming_card_and_field() {
    let members = consortium(4);
    for field in ["institution_key", "node_key"] {
        let mut card = members[0].card.clone();
        match field {
            "institution_key" => card.institution_key = SMALL_ORDER_KEY.into(),
            _ => card.node_key = SMALL_ORDER_KEY.into(),
        }
        let err = card.verify("bank-a.card").unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with(&format!("bank-a.card: field `{field}`: "))
                && text.contains("small order")
                && !text.contains('\n'),
            "{text}"
        );
    }
    // And in a genesis document too.
    let mut doc = template().assemble(&received(&members)).unwrap();
    doc.members[1].node_key = SMALL_ORDER_KEY.into();
    match Genesis::from_doc(&doc) {
        Err(GenesisError::Invalid { path, problem }) => {
            assert_eq!(path, "members[1].node_key");
            assert!(matches!(problem, Problem::WeakKey { .. }), "{problem}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn bad_card_fields_are_named() {
    let members = consortium(5);
    let card = &members[0].card;
    type Change = Box<dyn Fn(&mut CardDoc)>;
    let cases: Vec<(&str, Change)> = vec![
        ("kind", Box::new(|c| c.kind = "hutong-key".into())),
        ("name", Box::new(|c| c.name = "Bank A".into())),
        (
            "institution_key",
            Box::new(|c| c.institution_key = "zz".into()),
        ),
        (
            "node_key",
            Box::new(|c| c.node_key = c.institution_key.clone()),
        ),
        (
            "p2p_address",
            Box::new(|c| c.p2p_address = Some("bank-a:26600".into())),
        ),
        (
            "node_signature",
            Box::new(|c| c.node_signature = "00".into()),
        ),
    ];
    for (expected, change) in cases {
        let mut c = card.clone();
        change(&mut c);
        let (_, field, problem) = card_problem(c.verify("x.card"));
        assert_eq!(field, expected, "{problem}");
    }
    // Not a card at all: one line, naming the file.
    let err = CardDoc::from_toml("notes.txt", "hello = 1\n[x]\n").unwrap_err();
    assert!(matches!(err, CardError::Parse { .. }));
    assert!(err.to_string().starts_with("notes.txt: not a member card"));
    assert!(!err.to_string().contains('\n'), "{err}");
    // Signing refuses a card nobody could read back.
    let m = &members[1];
    assert!(Card::sign("Bank B", CardRole::Validator, &m.institution, &m.node, None).is_err());
    assert!(Card::sign("bank-b", CardRole::Validator, &m.node, &m.node, None).is_err());
}

#[test]
fn duplicate_names_and_keys_across_cards_name_both_cards() {
    let members = consortium(6);
    let mut cards = received(&members);
    // Two cards with one name.
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(60);
    let twin = member(&mut rng, "bank-a", CardRole::Validator, 9);
    cards.push(("twin.card".into(), twin.card.verify("twin.card").unwrap()));
    let err = template().assemble(&cards).unwrap_err().to_string();
    assert!(
        err.starts_with("twin.card: field `name`: ") && err.contains("bank-a.card"),
        "{err}"
    );

    // A key on two cards (a member that reused its node key as another
    // member's, or one card sent twice under two names).
    let mut cards = received(&members);
    let m = &members[0];
    let copy = Card::sign(
        "bank-a2",
        CardRole::Validator,
        &Keypair::generate(&mut rng),
        &m.node,
        None,
    )
    .unwrap();
    cards.push(("copy.card".into(), copy.verify("copy.card").unwrap()));
    let err = template().assemble(&cards).unwrap_err().to_string();
    assert!(
        err.starts_with("copy.card: field `node_key`: ") && err.contains("bank-a.card (node_key)"),
        "{err}"
    );
}

#[test]
fn templates_and_flags_are_checked() {
    let members = consortium(7);
    let cards = received(&members);
    // Too few validators: genesis says so.
    let few: Vec<(String, Card)> = cards[1..].to_vec();
    let mut t = template();
    t.balances.clear();
    let doc = t.assemble(&few).unwrap();
    assert!(matches!(
        Genesis::from_doc(&doc),
        Err(GenesisError::Invalid {
            problem: Problem::TooFewValidators { count: 3 },
            ..
        })
    ));
    // Missing pieces name the flag to give.
    let mut t = template();
    t.consortium = None;
    let err = t.assemble(&cards).unwrap_err().to_string();
    assert!(err.contains("--consortium"), "{err}");
    let mut t = template();
    t.tiers.clear();
    assert!(t
        .assemble(&cards)
        .unwrap_err()
        .to_string()
        .contains("--tier"));
    assert!(matches!(
        template().assemble(&[]),
        Err(AssembleError::NoCards)
    ));
    // A balance for nobody.
    let mut t = template();
    t.add_balance_flag("bank-q:CNY:1").unwrap();
    let err = t.assemble(&cards).unwrap_err().to_string();
    assert!(err.contains("balances.bank-q"), "{err}");
    // Bad flags.
    let mut t = AssemblyTemplate::default();
    for bad in ["CNY", "CNY:x:bank-a", "CNY:2:bank-a:extra"] {
        assert!(t.add_asset_flag(bad).is_err(), "{bad}");
    }
    for bad in ["1:basic:CNY:5", "x:basic:CNY:5:10", "1:basic:CNY:-5:10"] {
        assert!(t.add_tier_flag(bad).is_err(), "{bad}");
    }
    t.add_tier_flag("1:basic:CNY:5:10").unwrap();
    assert!(t.add_tier_flag("1:other:HKD:5:10").is_err());
    t.add_balance_flag("bank-a:CNY:5").unwrap();
    assert!(t.add_balance_flag("bank-a:CNY:6").is_err());
    // A template file.
    let t = AssemblyTemplate::from_toml(
        r#"
        consortium = "From a file"
        genesis_time_ms = 1767196800000
        [[assets]]
        code = "CNY"
        decimals = 2
        issuer = "bank-a"
        [[tiers]]
        tier = 1
        name = "basic"
        limits = [{ asset = "CNY", single_max = 500000, daily_max = 2000000 }]
        [balances.bank-b]
        CNY = 1000
        "#,
    )
    .unwrap();
    let g = Genesis::from_doc(&t.assemble(&cards).unwrap()).unwrap();
    assert_eq!(g.consortium, "From a file");
    assert!(AssemblyTemplate::from_toml("members = []").is_err());
}

/// Issue 27: a member's card carries its memo key and the regulator's its
/// identity service; genesis lists them, every member's check covers
/// them, and a key on the wrong role's card, or changed after signing, is
/// refused.
#[test]
fn cards_carry_memo_keys_and_the_identity_service() {
    use hutong_genesis::card::CardExtras;
    let mut members = consortium(3);
    let memo = [0x3e; 32];
    let identity = hutong_runtime::state::IdentityParams {
        // The ristretto255 base point: a valid element.
        oprf_key: hex::decode("e2f2ae0a6abc4e71a884a961c500515f58e30b6aa582dd8db6a65945e08d2d76")
            .unwrap()
            .try_into()
            .unwrap(),
        hpke_key: [0x44; 32],
    };
    let resign = |m: &Member, extras: CardExtras| {
        Card::sign_with(&m.name, m.card.role, &m.institution, &m.node, None, extras)
    };
    members[0].card = resign(
        &members[0],
        CardExtras {
            memo_key: Some(memo),
            identity: None,
        },
    )
    .unwrap();
    members[5].card = resign(
        &members[5],
        CardExtras {
            memo_key: None,
            identity: Some(identity),
        },
    )
    .unwrap();
    let cards = received(&members);
    let genesis = Genesis::from_doc(&template().assemble(&cards).unwrap()).unwrap();
    assert_eq!(genesis.params.identity, Some(identity));
    assert_eq!(genesis.members[0].memo_key, Some(memo));
    assert_eq!(genesis.members[1].memo_key, None);
    for (label, card) in &cards {
        check_listed(&genesis, card).unwrap_or_else(|e| panic!("{label}: {e}"));
    }
    // A genesis that dropped the memo key fails bank-a's check.
    let mut doc = template().assemble(&cards).unwrap();
    doc.members[0].memo_key = None;
    let dropped = Genesis::from_doc(&doc).unwrap();
    assert!(check_listed(&dropped, &cards[0].1)
        .unwrap_err()
        .contains("memo key"));
    // Changed after signing: refused.
    let mut changed = members[0].card.clone();
    changed.memo_key = Some(hex::encode([0x3f; 32]));
    let (_, field, _) = card_problem(changed.verify("a.card"));
    assert_eq!(field, "institution_signature");
    // On the wrong role's card: refused when signed and when read.
    let wrong = resign(
        &members[1],
        CardExtras {
            memo_key: None,
            identity: Some(identity),
        },
    );
    assert!(matches!(
        wrong,
        Err(CardError::Invalid {
            field: "identity",
            ..
        })
    ));
    let wrong = resign(
        &members[5],
        CardExtras {
            memo_key: Some(memo),
            identity: None,
        },
    );
    assert!(matches!(
        wrong,
        Err(CardError::Invalid {
            field: "memo_key",
            ..
        })
    ));
}

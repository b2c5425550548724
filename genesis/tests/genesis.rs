//! Genesis validation, canonical hash and initial state.

use hutong_genesis::doc::{AmountDoc, GenesisDoc, Role};
use hutong_genesis::template::{generate, TemplateOptions};
use hutong_genesis::{Genesis, GenesisError, Problem};
use hutong_runtime::store::read_value;
use hutong_runtime::{MemStore, StateKey, StateValue};
use rand::SeedableRng;

fn doc(seed: u64) -> GenesisDoc {
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(seed);
    generate(&TemplateOptions::default(), &mut rng).doc
}

fn problem(result: Result<Genesis, GenesisError>) -> (String, Problem) {
    match result {
        Err(GenesisError::Invalid { path, problem }) => (path, problem),
        other => panic!("expected a validation error, got {other:?}"),
    }
}

#[test]
fn generated_genesis_is_valid_and_round_trips_through_toml() {
    let d = doc(1);
    let g = Genesis::from_doc(&d).unwrap();
    assert_eq!(g.validators().count(), 4);
    let text = toml::to_string(&d).unwrap();
    let again = Genesis::from_toml(&text).unwrap();
    assert_eq!(again, g);
    assert_eq!(again.chain_id(), g.chain_id());
    // Comments and formatting do not change the chain id; content does.
    let commented = format!("# a comment\n\n{text}\n# trailing\n");
    assert_eq!(
        Genesis::from_toml(&commented).unwrap().chain_id(),
        g.chain_id()
    );
    let mut other = d.clone();
    other.consortium.push('!');
    assert_ne!(Genesis::from_doc(&other).unwrap().chain_id(), g.chain_id());
}

/// A fixed document must always give the same chain id. (Format 2, with
/// the voting rules and consensus timing, changed it from format 1's
/// 4ea596f7…; the state format 3 of holds and clearing — holdings' held
/// amount, accounts' restriction, the settlement cycle — from 840f0700…;
/// the FX providers in the parameters from 9b3c402b…; the identity layer
/// — the regulator's identity keys in the parameters, members' memo keys —
/// from a527d4fa….)
#[test]
fn golden_chain_id() {
    let text = include_str!("golden-genesis.toml");
    let g = Genesis::from_toml(text).unwrap();
    assert_eq!(
        g.chain_id().to_string(),
        "15b2c85eb4961bde41678750d964044234f0149326db8a189076ce7304822602"
    );
}

#[test]
fn validation_names_the_field_and_the_value() {
    type Mutation = fn(&mut GenesisDoc);
    type Check = fn(&Problem) -> bool;
    let cases: Vec<(&str, Mutation, &str, Check)> = vec![
        (
            "bad key",
            |d| d.members[1].node_key = "zz".into(),
            "members[1].node_key",
            |p| matches!(p, Problem::BadKey { value } if value == "zz"),
        ),
        (
            "not a canonical point",
            |d| d.members[0].institution_key = "ff".repeat(32),
            "members[0].institution_key",
            |p| matches!(p, Problem::BadKey { .. }),
        ),
        (
            "small-order key",
            |d| d.regulators[0].key = format!("01{}", "00".repeat(31)),
            "regulators[0].key",
            |p| matches!(p, Problem::WeakKey { .. }),
        ),
        (
            "identity key not a ristretto255 element",
            |d| {
                d.regulators[0].identity = Some(hutong_genesis::doc::IdentityDoc {
                    oprf_key: "ff".repeat(32),
                    hpke_key: "11".repeat(32),
                })
            },
            "regulators[0].identity.oprf_key",
            |p| matches!(p, Problem::BadIdentityKey { .. }),
        ),
        (
            "identity key not hex",
            |d| {
                d.regulators[0].identity = Some(hutong_genesis::doc::IdentityDoc {
                    oprf_key: "e2f2ae0a6abc4e71a884a961c500515f58e30b6aa582dd8db6a65945e08d2d76"
                        .into(),
                    hpke_key: "xyz".into(),
                })
            },
            "regulators[0].identity.hpke_key",
            |p| matches!(p, Problem::BadHash { .. }),
        ),
        (
            "memo key not hex",
            |d| d.members[2].memo_key = Some("12".into()),
            "members[2].memo_key",
            |p| matches!(p, Problem::BadHash { .. }),
        ),
        (
            "duplicate key",
            |d| d.members[2].node_key = d.members[0].institution_key.clone(),
            "members[2].node_key",
            |p| matches!(p, Problem::DuplicateKey { first, .. } if first == "members[0].institution_key"),
        ),
        (
            "duplicate name",
            |d| d.members[3].name = d.members[1].name.clone(),
            "members[3].name",
            |p| matches!(p, Problem::DuplicateName { .. }),
        ),
        (
            "bad name",
            |d| d.members[0].name = "Bank A".into(),
            "members[0].name",
            |p| matches!(p, Problem::BadName { .. }),
        ),
        (
            "three validators",
            |d| {
                d.members[3].role = Role::Observer;
            },
            "members",
            |p| matches!(p, Problem::TooFewValidators { count: 3 }),
        ),
        (
            "dev chain with four",
            |d| d.dev_chain = true,
            "members",
            |p| matches!(p, Problem::DevChainValidators { count: 4 }),
        ),
        (
            "unknown issuer",
            |d| d.assets[0].issuer = "nobody".into(),
            "assets[0].issuer",
            |p| matches!(p, Problem::UnknownMember { name } if name == "nobody"),
        ),
        (
            "bad asset code",
            |d| d.assets[1].code = "hkd".into(),
            "assets[1].code",
            |p| matches!(p, Problem::BadAssetCode { .. }),
        ),
        (
            "duplicate asset",
            |d| d.assets[1].code = "CNY".into(),
            "assets[1].code",
            |p| matches!(p, Problem::DuplicateName { .. }),
        ),
        (
            "tier without limits",
            |d| d.tiers[1].limits.clear(),
            "tiers[1].limits",
            |p| matches!(p, Problem::TierWithoutLimits { tier: 2 }),
        ),
        (
            "limit in unknown asset",
            |d| d.tiers[0].limits[0].asset = "USD".into(),
            "tiers[0].limits[0].asset",
            |p| matches!(p, Problem::UnknownAsset { .. }),
        ),
        (
            "single above daily",
            |d| d.tiers[0].limits[0].single_max = AmountDoc::Int(u64::MAX),
            "tiers[0].limits[0].single_max",
            |p| matches!(p, Problem::SingleAboveDaily { .. }),
        ),
        (
            "bad amount",
            |d| d.tiers[0].limits[0].daily_max = AmountDoc::Text("12a".into()),
            "tiers[0].limits[0].daily_max",
            |p| matches!(p, Problem::BadAmount { .. }),
        ),
        (
            "unknown tier",
            |d| d.accounts[0].tier = 9,
            "accounts[0].tier",
            |p| matches!(p, Problem::UnknownTier { tier: 9 }),
        ),
        (
            "unknown institution",
            |d| d.accounts[2].institution = "bank-z".into(),
            "accounts[2].institution",
            |p| matches!(p, Problem::UnknownMember { .. }),
        ),
        (
            "bad commitment",
            |d| d.accounts[0].identity_commitment = "Zhang San".into(),
            "accounts[0].identity_commitment",
            |p| matches!(p, Problem::BadHash { .. }),
        ),
        (
            "balance overflow",
            |d| {
                let max = AmountDoc::Text(u128::MAX.to_string());
                d.accounts[0].balances.insert("CNY".into(), max.clone());
                d.accounts[1].balances.insert("CNY".into(), max);
            },
            "accounts[0].balances.CNY",
            |p| matches!(p, Problem::BalanceOverflow { .. }),
        ),
        (
            "balance in unknown asset",
            |d| {
                d.accounts[0]
                    .balances
                    .insert("EUR".into(), AmountDoc::Int(1));
            },
            "accounts[0].balances.EUR",
            |p| matches!(p, Problem::UnknownAsset { .. }),
        ),
        (
            "bad offset",
            |d| d.utc_offset = "Asia/Shanghai".into(),
            "utc_offset",
            |p| matches!(p, Problem::BadOffset { .. }),
        ),
        (
            "offset out of range",
            |d| d.utc_offset = "+15:00".into(),
            "utc_offset",
            |p| matches!(p, Problem::BadOffset { .. }),
        ),
        (
            "no assets",
            |d| d.assets.clear(),
            "assets",
            |p| matches!(p, Problem::Empty),
        ),
        (
            "too many decimals",
            |d| d.assets[0].decimals = 30,
            "assets[0].decimals",
            |p| matches!(p, Problem::Decimals { value: 30 }),
        ),
    ];
    for (name, mutate, path, check) in cases {
        let mut d = doc(2);
        mutate(&mut d);
        let (got_path, got) = problem(Genesis::from_doc(&d));
        assert_eq!(got_path, path, "case {name}: {got}");
        assert!(check(&got), "case {name}: unexpected problem {got:?}");
    }
}

#[test]
fn a_single_validator_dev_chain_is_allowed_when_flagged() {
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(3);
    let opts = TemplateOptions {
        validators: 1,
        ..TemplateOptions::default()
    };
    let d = generate(&opts, &mut rng).doc;
    assert!(d.dev_chain);
    let g = Genesis::from_doc(&d).unwrap();
    assert!(g.dev_chain);
}

#[test]
fn unknown_fields_and_bad_toml_are_rejected() {
    let text = toml::to_string(&doc(4)).unwrap();
    let typo = text.replacen("consortium =", "consortum =", 1);
    let err = Genesis::from_toml(&typo).unwrap_err().to_string();
    assert!(err.contains("consortum"), "{err}");
    let err = Genesis::from_toml("members = [").unwrap_err();
    assert!(matches!(err, GenesisError::Toml(_)));
}

#[test]
fn initial_state_holds_every_account_and_the_supply() {
    let d = doc(5);
    let g = Genesis::from_doc(&d).unwrap();
    let mut store = MemStore::new();
    let root = g.apply(&mut store).unwrap();
    assert_eq!(hutong_runtime::store::state_root(&store, 0).unwrap(), root);
    for a in &g.assets {
        let Some(StateValue::Asset(info)) = read_value(&store, &StateKey::Asset(a.code)).unwrap()
        else {
            panic!("asset {} missing", a.code);
        };
        let sum: u128 = g
            .balances
            .iter()
            .filter(|b| b.1 == a.code)
            .map(|b| b.2 .0)
            .sum();
        assert_eq!(info.total_supply.0, sum);
    }
    let expected_accounts = g.members.len() + g.regulators.len() + g.accounts.len();
    let accounts = store
        .entries()
        .iter()
        .filter(|(k, _)| matches!(k, StateKey::Account(_)))
        .count();
    assert_eq!(accounts, expected_accounts);
    // The same genesis gives the same root in another store.
    let mut other = MemStore::new();
    assert_eq!(g.apply(&mut other).unwrap(), root);
}

mod hostile_input {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

        /// Any text gives a genesis or an error, never a panic.
        #[test]
        fn arbitrary_text_never_panics(text in "\\PC{0,400}") {
            let _ = Genesis::from_toml(&text);
        }

        /// A valid document with a few bytes changed gives a genesis or an
        /// error, never a panic.
        #[test]
        fn mutated_documents_never_panic(edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6)) {
            let mut bytes = include_str!("golden-genesis.toml").as_bytes().to_vec();
            for (at, b) in edits {
                let i = at.index(bytes.len());
                bytes[i] = b;
            }
            if let Ok(text) = std::str::from_utf8(&bytes) {
                let _ = Genesis::from_toml(text);
            }
        }
    }
}

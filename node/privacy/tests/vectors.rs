//! The identity layer's published vectors (`sdk/vectors/identity-tags.json`):
//! how an identity becomes an OPRF input, a full evaluation transcript
//! with a fixed blind (RFC 9497, ristretto255-SHA512, verifiable mode),
//! the values derived from a tag, an identity envelope and a sealed memo
//! with the keys that open them. The SDKs check themselves against it.
//!
//! `HUTONG_VECTORS_OUT=$PWD/sdk/vectors/identity-tags.json cargo test -p
//! hutong-privacy --test vectors` rewrites the file; without the variable
//! the test checks that the file's cases still hold (the random parts,
//! proofs and sealed bytes, are checked by verifying and opening them).

use hutong_privacy::envelope::{open_identity, open_memo, seal_identity, seal_memo, HpkeKey};
use hutong_privacy::keys::{memo_key, IdentityKeys};
use hutong_privacy::oprf::identity_input;
use hutong_privacy::IdentityTag;
use rand::SeedableRng;
use serde_json::{json, Value};
use voprf::{EvaluationElement, Group, Proof, Ristretto255, VoprfClient};

const FILE: &str = include_str!("../../../sdk/vectors/identity-tags.json");

const SEED: [u8; 32] = [0x11; 32];
const CHAIN: [u8; 32] = [0x22; 32];
const OWNER: [u8; 32] = [0x33; 32];

fn rng() -> rand_chacha::ChaCha20Rng {
    rand_chacha::ChaCha20Rng::seed_from_u64(2026)
}

/// The client's side of a transcript with a fixed blind: the blinded
/// element, and the tag its evaluation finalizes to (the proof checked).
fn client(
    input: &[u8],
    blind: [u8; 32],
    answer: Option<(&[u8], &[u8])>,
    public_key: &[u8; 32],
) -> ([u8; 32], Option<Vec<u8>>) {
    let blind = curve25519_dalek::Scalar::from_bytes_mod_order(blind);
    let r = VoprfClient::<Ristretto255>::deterministic_blind_unchecked(input, blind).unwrap();
    let blinded: [u8; 32] = r.message.serialize().into();
    let tag = answer.map(|(evaluated, proof)| {
        r.state
            .finalize(
                input,
                &EvaluationElement::deserialize(evaluated).unwrap(),
                &Proof::deserialize(proof).unwrap(),
                Ristretto255::deserialize_elem(public_key).unwrap(),
            )
            .unwrap()
            .to_vec()
    });
    (blinded, tag)
}

fn generate() -> Value {
    let mut rng = rng();
    let keys = IdentityKeys::from_seed(&SEED).unwrap();
    let inputs: Vec<Value> = [
        "CN_RIC:110101199003074514",
        "cn_ric: 1101-0119 9003-07451x",
        "HK_ID:A123456(3)",
        "PASSPORT_CN:E12345678",
    ]
    .iter()
    .map(|i| json!({"identity": i, "input": hex::encode(identity_input(i).unwrap())}))
    .collect();
    let invalid = ["CN_RIC", "CN RIC:1", "CN_RIC:", "CN_RIC:１２３", "cn-ric:1"];
    for i in invalid {
        assert!(identity_input(i).is_err(), "{i}");
    }
    let mut transcripts = Vec::new();
    for (n, identity) in ["CN_RIC:110101199003074514", "HK_ID:A1234563"]
        .iter()
        .enumerate()
    {
        let input = identity_input(identity).unwrap();
        let blind = [0x40 + n as u8; 32];
        let (blinded, _) = client(&input, blind, None, &keys.oprf.public_key());
        let answer = keys.oprf.evaluate(&[blinded], &mut rng).unwrap();
        let tag = keys.oprf.tag_of(&input).unwrap();
        let (_, finalized) = client(
            &input,
            blind,
            Some((&answer.elements[0], &answer.proof)),
            &keys.oprf.public_key(),
        );
        assert_eq!(finalized.unwrap(), tag.0.to_vec());
        transcripts.push(json!({
            "identity": identity,
            "input": hex::encode(&input),
            "blind": hex::encode(curve25519_dalek::Scalar::from_bytes_mod_order(blind).to_bytes()),
            "blinded": hex::encode(blinded),
            "evaluated": hex::encode(answer.elements[0]),
            "proof": hex::encode(answer.proof),
            "tag": hex::encode(tag.0),
            "owner": tag.owner().to_hex(),
            "listing_key": tag.listing_key().to_hex(),
        }));
    }
    let tag = keys
        .oprf
        .tag_of(&identity_input("CN_RIC:110101199003074514").unwrap())
        .unwrap();
    let salt = [0x55u8; 32];
    let (envelope, commitment) = seal_identity(
        &keys.hpke.public_key(),
        &CHAIN,
        &OWNER,
        &tag,
        &[0x56; 32],
        &mut rng,
    )
    .unwrap();
    let readers = memo_readers();
    let publics: Vec<[u8; 32]> = readers.iter().map(|k| k.public_key()).collect();
    let context = hutong_privacy::envelope::memo_context(&CHAIN, &OWNER, 7);
    let text = "salary March 工资".as_bytes();
    let memo = seal_memo(&publics, &context, text, 512, &mut rng).unwrap();
    json!({
        "about": "Vectors of Hutong's identity layer; see sdk/SPEC.md, section 9, \"Identity tags, the shared blacklist and sealed memos\". Hex is lowercase. The proofs, envelope and sealed memo are random: check them by verifying and opening, not by comparing bytes.",
        "identity_inputs": inputs,
        "invalid_identities": invalid,
        "oprf": {
            "suite": "ristretto255-SHA512, RFC 9497 mode 0x01 (VOPRF)",
            "seed": hex::encode(SEED),
            "derive_info": "hutong/identity/oprf-key/v1",
            "public_key": hex::encode(keys.oprf.public_key()),
            "transcripts": transcripts,
        },
        "binding": {
            "tag": hex::encode(tag.0),
            "salt": hex::encode(salt),
            "commitment": tag.binding(&salt).to_hex(),
            "owner": tag.owner().to_hex(),
            "listing_key": tag.listing_key().to_hex(),
        },
        "identity_envelope": {
            "hpke_secret": hex::encode(keys.hpke.secret_bytes()),
            "hpke_public": hex::encode(keys.hpke.public_key()),
            "info": "hutong/identity-envelope/v1",
            "chain_id": hex::encode(CHAIN),
            "owner": hex::encode(OWNER),
            "envelope": hex::encode(&envelope),
            "commitment": commitment.to_hex(),
            "tag": hex::encode(tag.0),
        },
        "memo": {
            "info": "hutong/memo/v1",
            "readers": readers.iter().map(|k| json!({
                "secret": hex::encode(k.secret_bytes()),
                "public": hex::encode(k.public_key()),
            })).collect::<Vec<_>>(),
            "context_of": {"chain_id": hex::encode(CHAIN), "sender": hex::encode(OWNER), "sequence": 7},
            "context": hex::encode(context),
            "text": hex::encode(text),
            "sealed": hex::encode(&memo),
        },
    })
}

fn memo_readers() -> Vec<HpkeKey> {
    vec![
        memo_key(&[0x71; 32]),
        memo_key(&[0x72; 32]),
        HpkeKey::derive(&[0x73; 32]),
    ]
}

fn bytes(v: &Value, path: &str) -> Vec<u8> {
    hex::decode(
        v.pointer(path)
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("{path}")),
    )
    .unwrap()
}

fn array<const N: usize>(v: &Value, path: &str) -> [u8; N] {
    bytes(v, path).try_into().unwrap()
}

#[test]
fn published_vectors_hold() {
    let generated = generate();
    if let Some(out) = std::env::var_os("HUTONG_VECTORS_OUT") {
        std::fs::write(
            out,
            serde_json::to_string_pretty(&generated).unwrap() + "\n",
        )
        .unwrap();
        return;
    }
    let published: Value = serde_json::from_str(FILE).expect("the vectors file is JSON");
    // What is deterministic is equal.
    for key in ["identity_inputs", "invalid_identities", "binding"] {
        assert_eq!(published[key], generated[key], "{key}");
    }
    for key in ["context_of", "context", "text", "readers"] {
        assert_eq!(published["memo"][key], generated["memo"][key], "memo.{key}");
    }
    assert_eq!(
        published["oprf"]["public_key"],
        generated["oprf"]["public_key"]
    );
    let keys = IdentityKeys::from_seed(&SEED).unwrap();
    // Each transcript's blind gives its blinded element, and its proof
    // verifies and finalizes to its tag.
    for t in published["oprf"]["transcripts"].as_array().unwrap() {
        let input = bytes(t, "/input");
        let (blinded, tag) = client(
            &input,
            array::<32>(t, "/blind"),
            Some((&bytes(t, "/evaluated"), &bytes(t, "/proof"))),
            &keys.oprf.public_key(),
        );
        assert_eq!(blinded.to_vec(), bytes(t, "/blinded"));
        assert_eq!(tag.unwrap(), bytes(t, "/tag"));
        let tag = IdentityTag(array::<64>(t, "/tag"));
        assert_eq!(tag.owner().to_hex(), t["owner"]);
        assert_eq!(tag.listing_key().to_hex(), t["listing_key"]);
        assert_eq!(tag, keys.oprf.tag_of(&input).unwrap());
    }
    // The envelope opens to its tag with the published secret.
    let e = &published["identity_envelope"];
    assert_eq!(
        hex::encode(keys.hpke.secret_bytes()),
        e["hpke_secret"].as_str().unwrap()
    );
    let tag = open_identity(
        &keys.hpke,
        &array::<32>(e, "/chain_id"),
        &array::<32>(e, "/owner"),
        &bytes(e, "/envelope"),
        &hutong_runtime::Hash(array::<32>(e, "/commitment")),
    )
    .unwrap();
    assert_eq!(tag.0.to_vec(), bytes(e, "/tag"));
    // The memo opens for each reader.
    let m = &published["memo"];
    for (key, r) in memo_readers().iter().zip(m["readers"].as_array().unwrap()) {
        assert_eq!(
            hex::encode(key.secret_bytes()),
            r["secret"].as_str().unwrap()
        );
        let text = open_memo(key, &bytes(m, "/context"), &bytes(m, "/sealed")).unwrap();
        assert_eq!(text, bytes(m, "/text"));
    }
}

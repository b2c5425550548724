//! `sdk/openrpc.json` against the node: every method of the real method
//! table is described and nothing else; every error code, admission
//! rejection code and receipt failure code the node's source spells is
//! listed; `rpc.discover` serves the document; parameters work by position
//! and by name, and a wrong one is named.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use hutong_genesis::template::{generate, TemplateOptions};
use hutong_genesis::Genesis;
use hutong_host::admit::{Admission, Outlets};
use hutong_host::mempool::{Mempool, MempoolConfig, Rejection};
use hutong_host::sigverify::Inline;
use rand::SeedableRng;
use serde_json::Value;
use tokio::sync::{broadcast, watch};

use hutong_node::ledger::Ledger;
use hutong_node::node::init_state;
use hutong_node::rpc::openrpc::{DISCOVER, DOCUMENT};
use hutong_node::rpc::{build_module, RpcContext, SUBSCRIPTION_METHODS};
use hutong_node::status::{NodeStatus, Role};
use hutong_node::store::Db;
use jsonrpsee::RpcModule;

struct Nowhere;
impl Outlets for Nowhere {
    fn share(&self, _: Vec<Vec<u8>>) {}
    fn pool_grew(&self) {}
}

/// The node's method table over a genesis state in a fresh RocksDB.
fn module(dir: &std::path::Path) -> RpcModule<Arc<RpcContext>> {
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(24);
    let generated = generate(&TemplateOptions::default(), &mut rng);
    let genesis = Genesis::from_doc(&generated.doc).unwrap();
    let chain_id = genesis.chain_id();
    let db = Db::open(&dir.join("db"), chain_id).unwrap();
    let executed = init_state(&db, &genesis).unwrap();
    let (_tx, executed_rx) = watch::channel(executed);
    let ledger = Ledger::new(db, Arc::new(genesis), executed_rx);
    let status = NodeStatus {
        role: Role::Validator,
        validators: 4,
        consensus: Arc::default(),
        peers: Arc::default(),
        counters: Arc::default(),
        halt: Default::default(),
        keep_blocks: None,
        keep_states: None,
    };
    let admission = Admission {
        chain_id,
        pool: Arc::new(Mutex::new(Mempool::new(MempoolConfig::default()))),
        verifier: Arc::new(Inline),
        ledger: Arc::new(ledger.clone()),
        outlets: Arc::new(Nowhere),
        counters: status.counters.clone(),
        rejections: Arc::default(),
    };
    build_module(Arc::new(RpcContext {
        ledger,
        admission,
        status,
        commits: broadcast::channel(16).0,
        audit: None,
        memo_key: None,
    }))
    .unwrap()
}

fn doc() -> Value {
    serde_json::from_str(DOCUMENT).expect("sdk/openrpc.json is JSON")
}

fn strings(v: &Value) -> BTreeSet<String> {
    v.as_array()
        .expect("an array")
        .iter()
        .map(|s| s.as_str().expect("a string").to_string())
        .collect()
}

/// The string literals a `match` arm answers inside `fn name(&self)`
/// of a source file: the codes as the code spells them.
fn codes_in(source: &str, function: &str) -> BTreeSet<String> {
    let start = source
        .find(&format!("pub fn {function}(&self)"))
        .unwrap_or_else(|| panic!("no fn {function}"));
    let body = &source[start..];
    let end = body.find("\n    }\n").expect("the function's end");
    body[..end]
        .split("=>")
        .skip(1)
        .filter_map(|rest| {
            let rest = rest.trim_start().trim_start_matches('{').trim_start();
            let quoted = rest.strip_prefix('"')?;
            Some(quoted.split('"').next()?.to_string())
        })
        .collect()
}

#[test]
fn the_document_lists_every_method_of_the_table_and_no_other() {
    let dir = tempfile::tempdir().unwrap();
    let module = module(dir.path());
    let table: BTreeSet<String> = module
        .method_names()
        .filter(|m| *m != DISCOVER)
        .map(str::to_string)
        .collect();
    let d = doc();
    let documented: BTreeSet<String> = d["methods"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        table.difference(&documented).collect::<Vec<_>>(),
        Vec::<&String>::new(),
        "methods the node serves that sdk/openrpc.json does not describe"
    );
    assert_eq!(
        documented.difference(&table).collect::<Vec<_>>(),
        Vec::<&String>::new(),
        "methods sdk/openrpc.json describes that the node does not serve"
    );
    // Every subscription names its notification and unsubscribe
    // method, and those are the ones the node uses.
    let notifications: BTreeSet<String> = d["methods"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["x-notification"]["name"].as_str().map(str::to_string))
        .collect();
    let expected: BTreeSet<String> = [
        hutong_wire::rpc::method::BLOCK_NOTIFICATION,
        hutong_wire::rpc::method::TRANSACTION_NOTIFICATION,
        hutong_audit::api::method::ALERT_NOTIFICATION,
    ]
    .into_iter()
    .map(str::to_string)
    .collect();
    assert_eq!(notifications, expected);
    assert_eq!(strings(&d["x-notifications"]), expected);
    for name in SUBSCRIPTION_METHODS {
        assert!(table.contains(name), "{name}");
    }
}

#[test]
fn the_document_lists_every_code_the_node_answers() {
    let d = doc();
    // Error codes: the node's own, by parsing the `code` module.
    let rpc_source = include_str!("../wire/src/rpc.rs");
    let start = rpc_source.find("pub mod code {").unwrap();
    let block = &rpc_source[start..start + rpc_source[start..].find("\n}\n").unwrap()];
    let ours: BTreeSet<i64> = block
        .lines()
        .filter_map(|l| l.trim().strip_prefix("pub const "))
        .filter_map(|l| l.split("= ").nth(1))
        .map(|v| v.trim_end_matches(';').parse::<i64>().unwrap())
        .collect();
    let documented: BTreeSet<i64> = d["x-error-sources"]["hutong"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_i64().unwrap())
        .collect();
    assert_eq!(
        ours, documented,
        "Hutong's error codes vs x-error-sources.hutong"
    );
    let all: BTreeSet<i64> = d["x-error-codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_i64().unwrap())
        .collect();
    let errors: BTreeSet<i64> = d["components"]["errors"]
        .as_object()
        .unwrap()
        .values()
        .map(|e| e["code"].as_i64().unwrap())
        .collect();
    assert!(
        ours.is_subset(&all) && all == errors,
        "{all:?} vs {errors:?}"
    );

    // Rejection codes, exactly.
    let rejections: BTreeSet<String> = Rejection::ALL_CODES.iter().map(|c| c.to_string()).collect();
    assert_eq!(strings(&d["x-rejection-codes"]), rejections);
    let mempool = include_str!("../host/src/mempool.rs");
    assert_eq!(
        codes_in(mempool, "code"),
        rejections,
        "Rejection::code and Rejection::ALL_CODES differ"
    );
    // Receipt failure codes, as FailureReason::code spells them.
    let receipt = include_str!("../../runtime/src/receipt.rs");
    assert_eq!(
        strings(&d["x-failure-codes"]),
        codes_in(receipt, "code"),
        "FailureReason::code vs x-failure-codes"
    );
}

#[test]
fn discover_answers_the_document_and_params_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let module = module(dir.path());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let call = |body: &str| -> Value {
        let (answer, _) = rt.block_on(module.raw_json_request(body, 1)).unwrap();
        serde_json::from_str(answer.get()).unwrap()
    };
    let v = call(r#"{"jsonrpc":"2.0","id":1,"method":"rpc.discover"}"#);
    assert_eq!(v["result"]["openrpc"], "1.2.6", "{v}");
    // By name and by position, the same answer.
    let by_position =
        call(r#"{"jsonrpc":"2.0","id":1,"method":"hutong_getProposals","params":[{"limit":5}]}"#);
    let by_name = call(
        r#"{"jsonrpc":"2.0","id":1,"method":"hutong_getProposals","params":{"query":{"limit":5}}}"#,
    );
    assert!(by_position.get("result").is_some(), "{by_position}");
    assert_eq!(by_position["result"], by_name["result"]);
    // A wrong parameter is named, with its position and what it must be.
    let v = call(r#"{"jsonrpc":"2.0","id":1,"method":"hutong_getTransaction","params":[42]}"#);
    assert_eq!(v["error"]["code"], -32602, "{v}");
    assert_eq!(v["error"]["data"]["param"], "hash", "{v}");
    assert_eq!(v["error"]["data"]["position"], 0, "{v}");
    let message = v["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("`hash`") && message.contains("64 hex"),
        "{message}"
    );
    let v = call(
        r#"{"jsonrpc":"2.0","id":1,"method":"hutong_submitTransaction","params":{"transaction":"00"}}"#,
    );
    assert_eq!(v["error"]["data"]["param"], "tx", "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("is missing"),
        "{v}"
    );
    let v = call(r#"{"jsonrpc":"2.0","id":1,"method":"hutong_getAccount","params":"ht1"}"#);
    assert_eq!(v["error"]["code"], -32602, "{v}");
}

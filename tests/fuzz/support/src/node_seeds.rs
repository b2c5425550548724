//! Seeds of the node-level targets (`tests/fuzz/node/`), which link the
//! node and so RocksDB: config files and JSON-RPC request bodies.

use hutong_runtime::Address;

use crate::seeds::{key, transactions};

/// Node config files: a validator's as `hutong init` writes it, and a
/// regulator's with every section spelled out.
pub fn node_configs() -> Vec<Vec<u8>> {
    use hutong_node::config::{
        ConfigFile, ConsensusSection, MempoolSection, MetricsSection, P2pSection, RpcSection,
    };
    use hutong_node::status::Role;
    let validator = ConfigFile {
        role: Role::Validator,
        genesis: "genesis.toml".into(),
        node_key: "node.key".into(),
        data_dir: "data".into(),
        p2p: P2pSection {
            listen: "/ip4/0.0.0.0/tcp/26600".into(),
            peers: vec!["/ip4/127.0.0.1/tcp/26601".into()],
        },
        rpc: RpcSection::new("127.0.0.1:8545".into()),
        metrics: None,
        consensus: ConsensusSection::default(),
        mempool: MempoolSection::default(),
        audit: None,
        storage: None,
        memo: None,
    };
    let regulator = ConfigFile {
        role: Role::Regulator,
        metrics: Some(MetricsSection {
            listen: "127.0.0.1:9100".into(),
        }),
        audit: Some(Default::default()),
        storage: None,
        memo: None,
        ..validator.clone()
    };
    [validator, regulator]
        .iter()
        .map(|c| toml::to_string(c).expect("a config serialises").into_bytes())
        .collect()
}

/// JSON-RPC request bodies for `rpc_bodies`: every method with good and
/// bad parameters.
pub fn rpc_bodies() -> Vec<Vec<u8>> {
    let tx = &transactions()[0];
    let tx_hex = format!("0x{}", hex::encode(tx.encode()));
    let account = Address::of(&key(0).public()).to_string();
    let call = |method: &str, params: serde_json::Value| {
        serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
    };
    let calls = vec![
        call("hutong_submitTransaction", serde_json::json!([tx_hex])),
        call("hutong_submitTransactions", serde_json::json!([[tx_hex, "0x00"]])),
        call("hutong_getTransaction", serde_json::json!([tx.hash().to_hex()])),
        call("hutong_getAccount", serde_json::json!([account])),
        call("hutong_getBlock", serde_json::json!([{"height": 0}])),
        call("hutong_getBlock", serde_json::json!([{"id": tx.hash().to_hex()}])),
        call("hutong_status", serde_json::json!([])),
        call("hutong_getAccount", serde_json::json!(["not an address"])),
    ];
    calls.iter().map(|c| c.to_string().into_bytes()).collect()
}


/// The node-level targets' seeds, by target name.
pub fn all() -> Vec<(&'static str, Vec<Vec<u8>>)> {
    vec![("node_config", node_configs()), ("rpc_bodies", rpc_bodies())]
}

//! JSON-RPC request bodies from arbitrary bytes, answered by the node's
//! real method table (`rpc::build_module`) over a real RocksDB store that
//! holds a genesis state: parameter decoding, hex and address parsing,
//! admission of submitted transactions into the mempool, and the queries.
//! Every body that is a JSON-RPC request must get a JSON-RPC answer (a
//! result or an error object), never a panic. Subscriptions are left out:
//! they start tasks that outlive the call.

#![no_main]

use std::sync::{Arc, Mutex, OnceLock};

use hutong_genesis::Genesis;
use hutong_host::admit::{Admission, Outlets};
use hutong_host::mempool::{Mempool, MempoolConfig};
use hutong_host::sigverify::Inline;
use hutong_node::ledger::Ledger;
use hutong_node::node::init_state;
use hutong_node::rpc::{build_module, RpcContext};
use hutong_node::status::{NodeStatus, Role};
use hutong_node::store::Db;
use jsonrpsee::RpcModule;
use libfuzzer_sys::fuzz_target;
use tokio::runtime::Runtime;
use tokio::sync::{broadcast, watch};

struct Harness {
    runtime: Runtime,
    module: RpcModule<Arc<RpcContext>>,
    _dir: tempfile::TempDir,
}

/// Admission's outlets with nobody behind them: shares are dropped (the
/// mempool bounds itself; when full, submissions are answered `busy`).
struct Nowhere;

impl Outlets for Nowhere {
    fn share(&self, _raws: Vec<Vec<u8>>) {}
    fn pool_grew(&self) {}
}

fn harness() -> &'static Harness {
    static HARNESS: OnceLock<Harness> = OnceLock::new();
    HARNESS.get_or_init(|| {
        let text = hutong_fuzz_support::seeds::genesis_docs()
            .into_iter()
            .next()
            .expect("one genesis");
        let genesis = Genesis::from_toml(&text).expect("the template is valid");
        let dir = tempfile::tempdir().expect("a temporary folder");
        let chain_id = genesis.chain_id();
        let db = Db::open(&dir.path().join("db"), chain_id).expect("a fresh database opens");
        let executed = init_state(&db, &genesis).expect("genesis state is written");
        let validators = genesis.validators().count();
        let (_executed_tx, executed_rx) = watch::channel(executed);
        let ledger = Ledger::new(db, Arc::new(genesis), executed_rx);
        let status = NodeStatus {
            role: Role::Validator,
            validators,
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
        let context = Arc::new(RpcContext {
            ledger,
            admission,
            status,
            commits: broadcast::channel(16).0,
            audit: None,
        });
        let module = build_module(context).expect("the methods register");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a runtime");
        Harness {
            runtime,
            module,
            _dir: dir,
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if text.contains("ubscribe") {
        return;
    }
    let h = harness();
    let answer = h
        .runtime
        .block_on(h.module.raw_json_request(text, 1));
    if let Ok((response, _)) = answer {
        let value: serde_json::Value =
            serde_json::from_str(response.get()).expect("the answer is JSON");
        assert!(
            value.get("result").is_some() || value.get("error").is_some(),
            "{value}"
        );
    }
});

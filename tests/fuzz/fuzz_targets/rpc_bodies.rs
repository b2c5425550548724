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
use hutong_node::mempool::{Mempool, MempoolConfig};
use hutong_node::network::NetCommand;
use hutong_node::node::init_state;
use hutong_node::rpc::build_module;
use hutong_node::shared::{ConsensusStatus, Counters, RecentRejections, Role, Shared};
use hutong_node::store::Db;
use jsonrpsee::RpcModule;
use libfuzzer_sys::fuzz_target;
use tokio::runtime::Runtime;
use tokio::sync::{broadcast, mpsc, watch};

struct Harness {
    runtime: Runtime,
    module: RpcModule<Arc<Shared>>,
    net: Mutex<mpsc::Receiver<NetCommand>>,
    _dir: tempfile::TempDir,
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
        let (net_tx, net_rx) = mpsc::channel(64);
        let shared = Arc::new(Shared {
            chain_id,
            role: Role::Validator,
            db,
            mempool: Mutex::new(Mempool::new(MempoolConfig::default())),
            mempool_grew: Default::default(),
            executed: watch::channel(executed).0,
            commits: broadcast::channel(16).0,
            consensus: Mutex::new(ConsensusStatus::default()),
            peers: Arc::new(Mutex::new(Default::default())),
            counters: Counters::default(),
            rejections: Mutex::new(RecentRejections::default()),
            halted: Mutex::new(None),
            validators: genesis.validators().count(),
            net: net_tx,
            verify_permits: tokio::sync::Semaphore::new(1),
            audit: None,
            genesis,
        });
        let module = build_module(shared).expect("the methods register");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a runtime");
        Harness {
            runtime,
            module,
            net: Mutex::new(net_rx),
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
    // The share queue is drained as the network task would; the mempool
    // bounds itself (when full, submissions are answered `busy`).
    if let Ok(mut rx) = h.net.lock() {
        while rx.try_recv().is_ok() {}
    }
});

//! Genesis documents from arbitrary bytes: TOML parse, validation, the
//! chain id and the initial state. A document that validates must give the
//! same genesis (and chain id) after a round trip through TOML, and build
//! its initial state without panicking.

#![no_main]

use hutong_genesis::{Genesis, GenesisDoc};
use hutong_runtime::store::MemStore;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(genesis) = Genesis::from_toml(text) else {
        return;
    };
    let chain_id = genesis.chain_id();
    let doc: GenesisDoc = toml::from_str(text).expect("it parsed once");
    let again = toml::to_string(&doc).expect("a parsed document serialises");
    let reparsed = Genesis::from_toml(&again).expect("a valid document stays valid");
    assert_eq!(reparsed, genesis);
    assert_eq!(reparsed.chain_id(), chain_id);
    let _ = genesis.validators().count();
    let state = genesis.initial_state();
    if state.len() <= 64 {
        let mut store = MemStore::new();
        genesis
            .apply(&mut store)
            .expect("genesis applies to an empty store");
    }
});

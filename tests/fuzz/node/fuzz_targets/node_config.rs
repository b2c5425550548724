//! A node's `config.toml` from arbitrary bytes, read as `hutong node`
//! reads it (`NodeConfig::parse`: TOML, then every field's validation).
//! A file that is accepted must serialise back to a file that is accepted
//! again with the same meaning.

#![no_main]

use std::path::Path;

use hutong_node::config::{ConfigFile, NodeConfig};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let home = Path::new("/hutong/home");
    let Ok(config) = NodeConfig::parse(home, "config.toml", text) else {
        return;
    };
    let file: ConfigFile = toml::from_str(text).expect("it parsed once");
    let again = toml::to_string(&file).expect("a parsed config serialises");
    let reparsed =
        NodeConfig::parse(home, "config.toml", &again).expect("an accepted config stays accepted");
    assert_eq!(format!("{reparsed:?}"), format!("{config:?}"));
    assert!(config.consensus.base_timeout <= config.consensus.max_timeout);
    assert!(config.host.min_block_interval < config.consensus.base_timeout);
    assert!(config.host.execution_wait_max * 2 <= config.consensus.base_timeout);
    assert!(config.rpc_connections_per_ip_max <= config.rpc_connections_max);
});

//! Audit proof files from arbitrary bytes, checked as `hutong audit verify`
//! checks them (`hutong_audit::proof::verify_file`) against the genesis of the
//! chain the seed proofs come from. An input that does not start with `{`
//! is read as the borsh proof inside a file instead and verified directly,
//! so the fuzzer reaches the Merkle paths, headers and certificates
//! without first having to keep the JSON wrapper consistent. Junk gets an
//! error, never a panic; the genuine seeds verify (checked once, at the
//! first input).

#![no_main]

use std::sync::OnceLock;

use hutong_genesis::Genesis;
use hutong_audit::proof::{verify_file, AuditProof};
use libfuzzer_sys::fuzz_target;

fn genesis() -> &'static Genesis {
    static GENESIS: OnceLock<Genesis> = OnceLock::new();
    GENESIS.get_or_init(|| {
        let genesis = Genesis::from_toml(hutong_fuzz_support::seeds::AUDIT_GENESIS)
            .expect("the seed chain's genesis is valid");
        for seed in hutong_fuzz_support::seeds::audit_proofs() {
            if seed.first() == Some(&b'{') {
                verify_file(&seed, &genesis).expect("a genuine proof file verifies");
            }
        }
        genesis
    })
}

fuzz_target!(|data: &[u8]| {
    let genesis = genesis();
    if data.first() == Some(&b'{') {
        if let Ok(summary) = verify_file(data, genesis) {
            assert!(summary.is_object(), "{summary}");
        }
    } else if let Ok(proof) = borsh::from_slice::<AuditProof>(data) {
        let _ = proof.verify(genesis);
    }
});

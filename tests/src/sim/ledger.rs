//! The ledger the simulated consortium runs: a generated genesis with
//! funded customer accounts, block execution by the real runtime over an
//! in-memory state store. The wallets (the test kit's) submit real signed
//! transfers (ed25519, checked by the hosts as the node checks them) and
//! resubmit the same bytes until they commit, as a wallet does after a
//! timeout.

use hutong_genesis::template::{generate, TemplateOptions};
use hutong_genesis::Genesis;
use hutong_runtime::crypto::Hash;
use hutong_runtime::state::{StateKey, StateValue};
use hutong_runtime::store::{prepare_commit, StateStore};
use hutong_runtime::{
    Address, BlockContext, ChainId, Height, Keypair, MemStore, Preverified, SignatureCheck,
    SignedTransaction, TimestampMs,
};
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// Customer accounts in the simulated genesis.
pub const CUSTOMERS: usize = 24;

/// What every replica starts from.
#[derive(Debug, Clone)]
pub struct SimGenesis {
    pub chain_id: ChainId,
    /// The state at version 0.
    pub state: MemStore,
    pub state_root: Hash,
    pub time_ms: u64,
    /// The customers' keys, for the wallets.
    pub customers: Vec<Keypair>,
}

impl SimGenesis {
    pub fn new(seed: u64) -> SimGenesis {
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x9e11_e515);
        let generated = generate(
            &TemplateOptions {
                consortium: "simulated consortium".into(),
                validators: 4,
                observers: 0,
                regulator: false,
                demo_accounts: CUSTOMERS,
                ..TemplateOptions::default()
            },
            &mut rng,
        );
        let genesis =
            Genesis::from_doc(&generated.doc).expect("the template makes a valid genesis");
        let customers = generated
            .keys
            .into_iter()
            .filter(|k| k.name.starts_with("account-"))
            .map(|k| k.key)
            .collect();
        let mut state = MemStore::new();
        let state_root = genesis
            .apply(&mut state)
            .expect("the genesis state goes into an empty store");
        SimGenesis {
            chain_id: genesis.chain_id(),
            time_ms: genesis.genesis_time.0,
            state,
            state_root,
            customers,
        }
    }
}

/// What executing one block gave.
#[derive(Debug)]
pub struct Executed {
    pub state_root: Hash,
    pub receipts_root: Hash,
}

/// Executes `txs` at `height` on `state` and commits the result into it,
/// as the node's executor does (minus RocksDB).
pub fn execute(
    state: &mut MemStore,
    chain_id: ChainId,
    height: u64,
    timestamp_ms: u64,
    certified: u64,
    txs: &[SignedTransaction],
    pre: &Preverified,
) -> Executed {
    let ctx = BlockContext {
        chain_id,
        height: Height(height),
        timestamp: TimestampMs(timestamp_ms),
        certified: Height(certified),
    };
    let outcome =
        hutong_runtime::execute_block(&*state, &ctx, txs, SignatureCheck::Preverified(pre))
            .expect("a committed block executes (its verdicts match its transactions)");
    let update =
        prepare_commit(&*state, height, outcome.changes).expect("the in-memory store commits");
    let state_root = update.root;
    state.apply(update).expect("the in-memory store applies");
    Executed {
        state_root,
        receipts_root: hutong_runtime::block::receipts_root(&outcome.receipts),
    }
}

/// The next sequence number of an account in `state`.
pub fn sequence(state: &MemStore, address: &Address) -> Option<u64> {
    match state.get(&StateKey::Account(*address)) {
        Ok(Some(StateValue::Account(a))) => Some(a.sequence.0),
        _ => None,
    }
}

/// How long a wallet waits before it submits its transfer again.
pub const RESUBMIT_AFTER_MS: u64 = 1_500;

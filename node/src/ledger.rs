//! Reads of the committed ledger, for the tasks that answer clients and
//! admit transactions: the database as of the last executed block, and
//! the genesis.

use std::collections::HashSet;
use std::sync::{Arc, RwLock};

use hutong_genesis::Genesis;
use hutong_host::mempool::Tip;
use hutong_runtime::state::Account;
use hutong_runtime::{Address, AssetCode, ChainId, StateKey, StateValue};
use hutong_wire::Executed;
use tokio::sync::watch;

use crate::store::{Db, DbError};

#[derive(Debug, Clone)]
pub struct Ledger {
    pub db: Db,
    pub genesis: Arc<Genesis>,
    pub chain_id: ChainId,
    executed: watch::Receiver<Executed>,
    /// Assets seen to exist. Assets are only ever added (by genesis or
    /// governance), so a hit stays true; bounded by the chain's assets.
    known_assets: Arc<RwLock<HashSet<AssetCode>>>,
}

impl Ledger {
    pub fn new(db: Db, genesis: Arc<Genesis>, executed: watch::Receiver<Executed>) -> Ledger {
        Ledger {
            db,
            chain_id: genesis.chain_id(),
            genesis,
            executed,
            known_assets: Arc::default(),
        }
    }

    /// The last executed (and durable) block.
    pub fn executed(&self) -> Executed {
        *self.executed.borrow()
    }

    /// A subscription to executed blocks.
    pub fn watch_executed(&self) -> watch::Receiver<Executed> {
        self.executed.clone()
    }

    /// The account a key (by its address) signs for; see
    /// [`Db::signer_account`].
    pub fn account(&self, address: &Address) -> Result<Option<Account>, DbError> {
        self.db.signer_account(address)
    }
}

impl hutong_host::admit::Ledger for Ledger {
    fn account(&self, address: &Address) -> Option<Account> {
        Ledger::account(self, address).ok().flatten()
    }

    fn asset_exists(&self, asset: &AssetCode) -> bool {
        if self.known_assets.read().is_ok_and(|k| k.contains(asset)) {
            return true;
        }
        match self.db.state(&StateKey::Asset(*asset)) {
            Ok(Some(StateValue::Asset(_))) => {
                if let Ok(mut known) = self.known_assets.write() {
                    known.insert(*asset);
                }
                true
            }
            Ok(_) => false,
            Err(_) => true,
        }
    }

    fn tip(&self) -> Tip {
        let executed = self.executed();
        Tip {
            height: executed.height,
            timestamp_ms: executed.timestamp_ms,
        }
    }
}

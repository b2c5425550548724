//! Reads of the committed ledger, for the tasks that answer clients and
//! admit transactions: the database as of the last executed block, and
//! the genesis.

use std::sync::Arc;

use hutong_genesis::Genesis;
use hutong_host::mempool::Tip;
use hutong_runtime::state::Account;
use hutong_runtime::{Address, ChainId};
use hutong_wire::Executed;
use tokio::sync::watch;

use crate::store::{Db, DbError};

#[derive(Debug, Clone)]
pub struct Ledger {
    pub db: Db,
    pub genesis: Arc<Genesis>,
    pub chain_id: ChainId,
    executed: watch::Receiver<Executed>,
}

impl Ledger {
    pub fn new(db: Db, genesis: Arc<Genesis>, executed: watch::Receiver<Executed>) -> Ledger {
        Ledger {
            db,
            chain_id: genesis.chain_id(),
            genesis,
            executed,
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

    fn tip(&self) -> Tip {
        let executed = self.executed();
        Tip {
            height: executed.height,
            timestamp_ms: executed.timestamp_ms,
        }
    }
}

//! Pruning old blocks on a validator or observer that keeps only the last
//! `[storage] keep_blocks` of them: the blocks, their transactions' index
//! entries, their receipts and certificates go; the state and every
//! block's execution result stay (results are small, and a node checks
//! the claims of new blocks and finds an epoch's first block by them).

use rocksdb::WriteBatch;

use super::{cf, encode, Db, DbError};

/// Most heights one pruning pass deletes (a node that turns pruning on
/// for a long chain catches up over several passes).
pub const PRUNE_PASS_MAX: u64 = 1_024;

impl Db {
    /// The lowest height whose block this node may still hold: blocks
    /// below it were pruned (or never held, for a node that joined from a
    /// snapshot). 1 for a node with the whole history.
    pub fn oldest_block(&self) -> Result<u64, DbError> {
        let pruned: Option<u64> = self.get(cf::META, b"pruned_below")?;
        let joined = self.joined_at()?;
        Ok(pruned.unwrap_or(1).max(joined.unwrap_or(1)).max(1))
    }

    /// Deletes the blocks below `below` (at most [`PRUNE_PASS_MAX`]
    /// heights from where the last pass stopped). Returns how many heights
    /// it pruned.
    pub fn prune_blocks_below(&self, below: u64) -> Result<u64, DbError> {
        let from = self.oldest_block()?;
        let to = below.min(from.saturating_add(PRUNE_PASS_MAX));
        if to <= from {
            return Ok(0);
        }
        let mut batch = WriteBatch::default();
        for height in from..to {
            let key = height.to_be_bytes();
            if let Some(id) = self.block_id_at(height)? {
                if let Some(stored) = self.block(&id)? {
                    for tx in &stored.payload.txs {
                        batch.delete_cf(self.cf(cf::TXS), tx.hash().0);
                    }
                }
                batch.delete_cf(self.cf(cf::BLOCKS), id.0);
            }
            batch.delete_cf(self.cf(cf::HEIGHTS), key);
            batch.delete_cf(self.cf(cf::RECEIPTS), key);
            batch.delete_cf(self.cf(cf::CERTS), key);
        }
        batch.put_cf(self.cf(cf::META), b"pruned_below", encode(&to));
        self.db.write(batch)?;
        Ok(to - from)
    }
}

//! Restoring the state tree from a snapshot: the database as the target of
//! `hutong_runtime::snapshot::Restore` (a node joining from its peers'
//! chunks, `crate::join`), and the record that makes the restored height
//! the node's executed one.

use std::sync::atomic::Ordering;

use hutong_runtime::state::StateValue;
use hutong_runtime::transfer::index_entries;
use jmt::storage::{LeafNode, Node, NodeBatch, NodeKey, TreeWriter};
use rocksdb::{IteratorMode, WriteBatch};

use super::{cf, decode, encode, synced, Db, DbError, Executed};

impl TreeWriter for Db {
    /// A restore's finished subtrees: their nodes and leaf values, and the
    /// transfer record index the leaves stand for (beside the tree, as
    /// execution keeps it). Not synced: [`Db::finish_restore`] is.
    fn write_node_batch(&self, nodes: &NodeBatch) -> anyhow::Result<()> {
        let mut batch = WriteBatch::default();
        self.put_nodes(&mut batch, nodes);
        let mut index = Vec::new();
        for value in nodes.values().values().flatten() {
            let value: StateValue = decode("a restored leaf", value)?;
            for (key, entry) in index_entries(&value) {
                index.push((encode(&key), Some(encode(&entry))));
            }
        }
        self.put_sorted(&mut batch, cf::STATE, &mut index);
        self.db.write(batch)?;
        Ok(())
    }
}

impl Db {
    /// The leaf with the greatest key hash among the tree's nodes: where a
    /// restore stands. A scan of every node, so only for a database that
    /// holds nothing but a restore in progress (which resumes from here
    /// after a refused chunk or a crash).
    pub(super) fn rightmost_leaf(&self) -> Result<Option<(NodeKey, LeafNode)>, DbError> {
        let mut best: Option<(NodeKey, LeafNode)> = None;
        for item in self
            .db
            .iterator_cf(self.cf(cf::TREE_NODES), IteratorMode::Start)
        {
            let (key, value) = item?;
            if let Node::Leaf(leaf) = decode::<Node>("tree_nodes", &value)? {
                if best
                    .as_ref()
                    .is_none_or(|(_, b)| leaf.key_hash() > b.key_hash())
                {
                    best = Some((decode("tree_nodes key", &key)?, leaf));
                }
            }
        }
        Ok(best)
    }

    /// Whether the database holds nothing of a chain yet (no executed
    /// block, no tree node): what a join from a snapshot starts from.
    pub fn is_empty_chain(&self) -> Result<bool, DbError> {
        Ok(self.executed()?.is_none()
            && self
                .db
                .iterator_cf(self.cf(cf::TREE_NODES), IteratorMode::Start)
                .next()
                .is_none())
    }

    /// Makes a fully restored tree the executed state: `executed` is the
    /// block whose state it is (its root checked by the restore). Synced,
    /// with everything the restore wrote before it. The node then follows
    /// the chain from the block after it.
    pub fn finish_restore(&self, executed: Executed) -> Result<(), DbError> {
        let height = executed.height;
        let mut batch = WriteBatch::default();
        batch.put_cf(self.cf(cf::META), b"executed", encode(&executed));
        batch.put_cf(self.cf(cf::META), b"state_version", encode(&height));
        batch.put_cf(self.cf(cf::META), b"joined_at", encode(&height));
        batch.put_cf(
            self.cf(cf::RESULTS),
            height.to_be_bytes(),
            encode(&executed),
        );
        batch.put_cf(
            self.cf(cf::HEIGHTS),
            height.to_be_bytes(),
            executed.block_id.0,
        );
        self.db.write_opt(batch, &synced())?;
        self.version.store(height, Ordering::SeqCst);
        Ok(())
    }

    /// The height this node's state was restored at from a snapshot, if
    /// it joined that way (it holds no blocks below it).
    pub fn joined_at(&self) -> Result<Option<u64>, DbError> {
        self.get(cf::META, b"joined_at")
    }
}

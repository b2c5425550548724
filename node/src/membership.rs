//! Who the consortium's nodes are now, as the ledger says: the validator
//! set consensus runs with, the node keys the network lets in and the
//! validators attested sharing counts on. Read from the consortium record
//! at start, then followed as the executor announces votes it executed
//! ([`hutong_wire::Membership`]); every node reads the same ledger, so
//! every node switches at the same height.

use std::sync::Arc;

use anyhow::{anyhow, bail, Context as _, Result};
use hutong_consensus::types::{BlockId, Epoch};
use hutong_host::attest::Members;
use hutong_runtime::state::{StateKey, StateValue};
use hutong_runtime::store::StateStore;
use hutong_runtime::{ChainId, PublicKey};
use hutong_wire::{genesis_block_id, EpochEnd, Membership, StoredBlock};
use libp2p::{Multiaddr, PeerId};
use tokio::sync::watch;

use crate::network::{dial_address, peer_id_of, NetCommand, NetHandle};
use crate::store::Db;

/// The membership in the database's executed state.
pub fn load(db: &Db, chain_id: ChainId) -> Result<Membership> {
    let consortium = match StateStore::get(db, &StateKey::Consortium)
        .map_err(|e| anyhow!("reading the consortium record: {e}"))?
    {
        Some(StateValue::Consortium(c)) => c,
        Some(_) => bail!("the consortium record in the state is of another kind"),
        None => bail!("the state has no consortium record (a database from an older version?)"),
    };
    let genesis_height = consortium.epoch_start.0.saturating_sub(1);
    let joined = db
        .joined_epoch_genesis()?
        .filter(|(height, _)| *height == genesis_height);
    let genesis = if consortium.epoch == 0 {
        genesis_block_id(chain_id)
    } else if let Some((_, id)) = joined {
        // Joined from a snapshot in this epoch: the block it started from
        // was named by the trusted node, not executed here.
        id
    } else {
        db.result_at(genesis_height)?
            .with_context(|| {
                format!(
                    "epoch {} starts from block {genesis_height}, which this database has not executed",
                    consortium.epoch
                )
            })?
            .block_id
    };
    Ok(Membership::of(&consortium, genesis))
}

/// After a restart at an epoch's first block (the block that ended the
/// last epoch), records how the last epoch ended if the executor had not
/// yet done so (a crash while the certificate committing that block was
/// still to come in a later job): from the ended epoch's blocks this node
/// stored, the chain above that block up to the last block a stored
/// certificate commits. Returns whether it recorded one. Without it, this
/// node could not serve peers still in the ended epoch (others can).
pub fn recover_epoch_end(db: &Db, m: &Membership) -> Result<bool> {
    let h = m.genesis_height;
    if m.epoch.0 <= hutong_wire::GENESIS_EPOCH.0
        || db.epoch_end_from(h)?.is_some_and(|e| e.height == h)
    {
        return Ok(false);
    }
    let ended = Epoch(m.epoch.0 - 1);
    let record = |tail: Vec<StoredBlock>, proof| -> Result<bool> {
        db.put_epoch_end(&EpochEnd {
            epoch: ended,
            height: h,
            tail,
            proof,
        })?;
        tracing::info!(
            epoch = ended.0,
            height = h,
            "recorded how the last epoch ended, from stored blocks"
        );
        Ok(true)
    };
    if let Some(cert) = db.cert_at(h)? {
        return record(Vec::new(), cert);
    }
    let stored: Vec<StoredBlock> = db
        .stored_blocks_above(h)?
        .into_iter()
        .filter(|b| b.block.epoch == ended)
        .collect();
    let by_id: std::collections::HashMap<BlockId, &StoredBlock> =
        stored.iter().map(|b| (b.block.id(), b)).collect();
    for carrier in &stored {
        let qc = &carrier.block.justify;
        let Some(target) = qc.data.commits().filter(|_| qc.data.epoch == ended) else {
            continue;
        };
        // Back from the committed block to the epoch's last executed one.
        let mut chain = Vec::new();
        let mut cursor = target;
        while cursor != m.genesis {
            let Some(b) = by_id.get(&cursor) else {
                break;
            };
            chain.push((*b).clone());
            cursor = b.block.parent_id();
        }
        if cursor == m.genesis
            && !chain.is_empty()
            && chain.len() <= hutong_wire::p2p::SYNC_ANSWER_BLOCKS_MAX
        {
            chain.reverse();
            return record(chain, qc.clone());
        }
    }
    tracing::warn!(
        epoch = ended.0,
        height = h,
        "how the last epoch ended is not recorded here, nor rebuildable from stored blocks: \
         peers still in that epoch will sync across it from other nodes"
    );
    Ok(false)
}

/// The validators' peer ids, by index.
pub fn validator_peers(m: &Membership) -> Result<Vec<PeerId>> {
    m.validators
        .iter()
        .map(|k| peer_id_of(k).map_err(anyhow::Error::msg))
        .collect()
}

/// Every node's peer id (members' and regulators').
pub fn member_peers(m: &Membership) -> Result<Vec<PeerId>> {
    m.nodes
        .iter()
        .map(|k| peer_id_of(k).map_err(anyhow::Error::msg))
        .collect()
}

/// What attested sharing needs: the validators' peers and keys, and this
/// node's index among them.
pub fn attest_members(m: &Membership, me: &PublicKey) -> Result<Members<PeerId>> {
    Ok(Members {
        validators: validator_peers(m)?,
        keys: m.validators.clone(),
        me: m.index_of(me),
    })
}

/// The addresses proposals gave for nodes, as dialable multiaddrs (a
/// hint that does not parse is logged and skipped: it came from a vote,
/// not from this operator).
pub fn dial_addresses(m: &Membership, me: &PublicKey) -> Vec<Multiaddr> {
    m.addresses
        .iter()
        .filter(|(key, _)| key != me)
        .filter_map(|(key, hint)| match dial_address(hint, key) {
            Ok(addr) => Some(addr),
            Err(e) => {
                tracing::warn!(node_key = %key, "the address a proposal gave is unusable: {e}");
                None
            }
        })
        .collect()
}

/// Keeps the network's allow list, validators and dials on the current
/// membership until the sender is gone or `shutdown` resolves.
pub async fn follow_in_network(
    mut membership: watch::Receiver<Arc<Membership>>,
    net: NetHandle,
    me: PublicKey,
    shutdown: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => return,
            changed = membership.changed() => {
                if changed.is_err() {
                    return;
                }
            }
        }
        let m = membership.borrow_and_update().clone();
        let (members, validators) = match (member_peers(&m), validator_peers(&m)) {
            (Ok(a), Ok(b)) => (a, b),
            (Err(e), _) | (_, Err(e)) => {
                tracing::error!("the new membership names an unusable node key: {e}");
                continue;
            }
        };
        tracing::info!(
            epoch = m.epoch.0,
            nodes = members.len(),
            validators = validators.len(),
            "the consortium changed: updating who may connect"
        );
        net.command(NetCommand::SetMembers {
            members,
            validators,
            dial: dial_addresses(&m, &me),
        });
    }
}

#[cfg(test)]
mod tests {
    use hutong_consensus::types::{
        Block, Digest, Height, QuorumCert, Round, ValidatorId, VoteData,
    };
    use hutong_runtime::crypto::Hash;
    use hutong_runtime::governance::ConsensusTiming;
    use hutong_wire::payload::{Payload, ResultClaim};

    use super::*;

    fn qc(
        round: u64,
        height: u64,
        block: BlockId,
        parent: BlockId,
        parent_round: u64,
    ) -> QuorumCert {
        QuorumCert {
            data: VoteData {
                epoch: Epoch(1),
                round: Round(round),
                height: Height(height),
                block_id: block,
                parent_id: parent,
                parent_round: Round(parent_round),
            },
            signers: Vec::new(),
            signatures: Vec::new(),
        }
    }

    fn stored(round: u64, height: u64, justify: QuorumCert) -> StoredBlock {
        StoredBlock {
            block: Block {
                epoch: Epoch(1),
                round: Round(round),
                height: Height(height),
                proposer: ValidatorId(0),
                timestamp_ms: height,
                payload: Digest([height as u8; 32]),
                justify,
                timeout_cert: None,
            },
            payload: Payload {
                result: ResultClaim {
                    height: 0,
                    state_root: Hash([0; 32]),
                    receipts_root: Hash([0; 32]),
                },
                txs: Vec::new(),
            },
        }
    }

    /// A crash after executing the block that ended epoch 1 (height 5),
    /// before the certificate committing it came in a later job: the
    /// record is rebuilt from the blocks stored above it.
    #[test]
    fn an_epoch_end_lost_in_a_crash_is_rebuilt_from_stored_blocks() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let db = Db::open(dir.path(), ChainId([7; 32])).expect("a new database");
        let h = Digest([9; 32]);
        let b6 = stored(10, 6, qc(9, 5, h, Digest([8; 32]), 8));
        let b7 = stored(11, 7, qc(10, 6, b6.block.id(), h, 9));
        // b8's certificate (on b7, a round after b6) commits b6; b9's
        // (on b8) commits b7.
        let b8 = stored(12, 8, qc(11, 7, b7.block.id(), b6.block.id(), 10));
        let b9 = stored(13, 9, qc(12, 8, b8.block.id(), b7.block.id(), 11));
        for b in [&b6, &b7, &b8, &b9] {
            db.put_block(b).expect("stored");
        }
        let m = Membership {
            epoch: Epoch(2),
            genesis: h,
            genesis_height: 5,
            validators: Vec::new(),
            nodes: Vec::new(),
            addresses: Vec::new(),
            timing: ConsensusTiming::default(),
        };
        assert!(recover_epoch_end(&db, &m).expect("readable"));
        let end = db.epoch_end_from(5).expect("readable").expect("recorded");
        assert_eq!(end.height, 5);
        assert_eq!(end.epoch, Epoch(1));
        let last = end.tail.last().expect("a tail");
        assert_eq!(end.tail[0].block.height, Height(6));
        assert_eq!(end.proof.data.commits(), Some(last.block.id()));
        // Recorded once: a second start leaves it.
        assert!(!recover_epoch_end(&db, &m).expect("readable"));
    }
}

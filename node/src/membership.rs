//! Who the consortium's nodes are now, as the ledger says: the validator
//! set consensus runs with, the node keys the network lets in and the
//! validators attested sharing counts on. Read from the consortium record
//! at start, then followed as the executor announces votes it executed
//! ([`hutong_wire::Membership`]); every node reads the same ledger, so
//! every node switches at the same height.

use std::sync::Arc;

use anyhow::{anyhow, bail, Context as _, Result};
use hutong_host::attest::Members;
use hutong_runtime::state::{StateKey, StateValue};
use hutong_runtime::store::StateStore;
use hutong_runtime::{ChainId, PublicKey};
use hutong_wire::{genesis_block_id, Membership};
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
    let genesis = if consortium.epoch == 0 {
        genesis_block_id(chain_id)
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

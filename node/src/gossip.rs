//! The attestation task: the attested-sharing protocol
//! ([`hutong_host::attest`]) driven by tokio. It takes the client
//! transactions admission hands over, the batches and attestations other
//! validators send, and its own deadlines (the share interval, parked
//! batches' waits), one at a time.

use std::future::Future;
use std::sync::Arc;

use hutong_host::attest::Attestations;
use hutong_runtime::PublicKey;
use hutong_wire::p2p::TxGossip;
use hutong_wire::Membership;
use libp2p::PeerId;
use tokio::sync::{mpsc, watch};

use crate::runtime::{sleep_until, TokioRuntime};

/// Client transactions queued for sharing; past it admission's shares are
/// dropped (they only reach the other leaders later: the one that admitted
/// them proposes them itself).
pub const SHARE_QUEUE_MAX: usize = 1_024;

pub async fn run(
    mut attestations: Attestations<TokioRuntime>,
    rt: TokioRuntime,
    mut gossip: mpsc::Receiver<(PeerId, TxGossip)>,
    mut shares: mpsc::Receiver<Vec<Vec<u8>>>,
    (mut membership, me): (watch::Receiver<Arc<Membership>>, PublicKey),
    shutdown: impl Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    let mut due = None;
    loop {
        tokio::select! {
            _ = &mut shutdown => return,
            _ = sleep_until(&rt, due) => {}
            message = gossip.recv() => match message {
                Some((from, g)) => attestations.on_gossip(from, g).await,
                None => return,
            },
            Some(raws) = shares.recv() => attestations.share(raws),
            Ok(()) = membership.changed() => {
                let m = membership.borrow_and_update().clone();
                match crate::membership::attest_members(&m, &me) {
                    Ok(members) => attestations.set_members(members).await,
                    Err(e) => tracing::error!("the new membership names an unusable node key: {e}"),
                }
            }
        }
        due = attestations.on_tick().await;
    }
}

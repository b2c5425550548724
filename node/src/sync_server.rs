//! The sync server: answers peers' requests for blocks from the database
//! ([`hutong_host::sync`]), off the network task (a run of committed
//! blocks is up to tens of MiB to read and decode: the swarm must not wait
//! for it, or consensus messages queue behind it). At most
//! [`SERVING_MAX`] reads at once; more are answered `Unavailable` (the
//! asker tries again, or another peer).

use std::future::Future;
use std::sync::Arc;

use hutong_wire::p2p::SyncResponse;
use tokio::sync::{mpsc, Semaphore};

use crate::network::{NetCommand, NetHandle, SyncServe};
use crate::store::Db;

/// Sync requests served at once.
pub const SERVING_MAX: usize = 2;
/// Requests queued for the server; the network answers `Unavailable`
/// past it.
pub const QUEUED_MAX: usize = 16;

pub async fn run(
    db: Db,
    mut requests: mpsc::Receiver<SyncServe>,
    net: NetHandle,
    shutdown: impl Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    let permits = Arc::new(Semaphore::new(SERVING_MAX));
    loop {
        let serve = tokio::select! {
            _ = &mut shutdown => return,
            serve = requests.recv() => match serve {
                Some(s) => s,
                None => return,
            },
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            tracing::debug!(peer = %serve.from, request = ?serve.request, "sync request refused: busy");
            net.command(NetCommand::Respond {
                channel: serve.channel,
                response: SyncResponse::Unavailable,
            });
            continue;
        };
        let db = db.clone();
        let net = net.clone();
        tokio::task::spawn_blocking(move || {
            let response = hutong_host::sync::serve(&db, &serve.request);
            tracing::debug!(peer = %serve.from, request = ?serve.request, "served sync request");
            net.command(NetCommand::Respond {
                channel: serve.channel,
                response,
            });
            drop(permit);
        });
    }
}

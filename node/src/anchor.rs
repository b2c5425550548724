//! Anchoring the audit-query log on the ledger: every so often, when the
//! log grew, the regulator's node submits an `AnchorAuditLog` transaction
//! with the log's entry count and last hash, signed with the regulator
//! key it was given (`[audit] anchor_key`). Ordered by the validators, the
//! head is then on every member's ledger; `hutong audit check-log` shows
//! that the log still extends each one.

use std::net::SocketAddr;
use std::time::Duration;

use hutong_runtime::crypto::Hash;
use hutong_runtime::tx::{Expiry, Transaction};
use hutong_runtime::{Address, ChainId, Height, Keypair, Nonce, TxKind};

use crate::audit::index;
use crate::client::Client;
use crate::store::Db;

/// Blocks an anchor transaction stays valid.
const VALID_FOR_BLOCKS: u64 = 600;

/// Anchors the log every `every` while it grows, until `stop`.
pub async fn run(
    db: Db,
    rpc: SocketAddr,
    key: Keypair,
    every: Duration,
    stop: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(stop);
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The first tick is at once: wait one period before the first anchor.
    tick.tick().await;
    let mut anchored = 0u64;
    loop {
        tokio::select! {
            _ = &mut stop => return,
            _ = tick.tick() => {}
        }
        let (entries, head) = match index::audit_log_head(&db) {
            Ok(h) => h,
            Err(e) => {
                tracing::error!(error = %e, "audit anchor: cannot read the log's head");
                continue;
            }
        };
        if entries == 0 || entries <= anchored {
            continue;
        }
        match anchor(rpc, &key, entries, head).await {
            Ok(tx) => {
                anchored = entries;
                tracing::info!(entries, %head, %tx, "audit log anchored on the ledger");
            }
            Err(e) => {
                tracing::warn!(error = %e, "audit anchor: not submitted; next period retries")
            }
        }
    }
}

/// Submits one anchor through the node's own JSON-RPC (admission as any
/// client's transaction).
async fn anchor(rpc: SocketAddr, key: &Keypair, entries: u64, head: Hash) -> anyhow::Result<Hash> {
    let client = Client::new(&format!("http://{rpc}"))?;
    let status = client.status().await?;
    let chain_id = ChainId(
        Hash::from_hex(&status.chain_id)
            .map_err(|_| anyhow::anyhow!("the node reported no chain id"))?
            .0,
    );
    let view = client.account(&Address::of(&key.public())).await?;
    let tx = Transaction {
        chain_id,
        sender: key.public(),
        sequence: Nonce(view.sequence.max(view.next_sequence)),
        expiry: Expiry::Height(Height(status.height + VALID_FOR_BLOCKS)),
        kind: TxKind::AnchorAuditLog { entries, head },
        cosigner: None,
        memo: Vec::new(),
    }
    .sign(key);
    Ok(client.submit(&tx).await?)
}

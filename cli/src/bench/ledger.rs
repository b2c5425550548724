//! The ledger check after a run: every node at the final height with
//! the same state root, the supply unchanged, receipts as the workload
//! meant. A run that fails it is not a result.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use hutong_genesis::Genesis;
use hutong_node::client::Client;
use hutong_runtime::crypto::Hash;
use hutong_runtime::Address;

use super::drive::{Book, UNSET};
use super::probes::rss_mib;
use crate::node_cmd::TestnetNode;

/// After the run, a node still catching up fails the run only when its
/// height stops moving for this long.
pub(super) const CATCH_UP_STALL: Duration = Duration::from_secs(60);

/// Most receipts the ledger check reads back.
pub(super) const RECEIPTS_CHECKED_MAX: usize = 500;

/// Sum of every genesis address's balances, per asset, at the node's
/// current height.
pub(super) async fn supply(client: &Client, genesis: &Genesis) -> Result<HashMap<String, u128>> {
    let mut addresses: Vec<Address> = genesis.balances.iter().map(|(a, _, _)| *a).collect();
    addresses.sort();
    addresses.dedup();
    let mut total: HashMap<String, u128> = HashMap::new();
    for a in addresses {
        for (asset, amount) in client.account(&a).await?.balances {
            let n: u128 = amount
                .parse()
                .with_context(|| format!("bad balance {amount} of {a}"))?;
            *total.entry(asset).or_default() += n;
        }
    }
    Ok(total)
}

/// Reads back the receipts of up to [`RECEIPTS_CHECKED_MAX`] committed
/// transactions, evenly spread over the load: each must have succeeded,
/// or failed if the workload made it to fail. A figure made of failed
/// transfers would be no figure. Returns (checked, unexpected).
pub(super) async fn check_receipts(client: &Client, book: &Book) -> Result<(u64, u64)> {
    let mut committed: Vec<(u32, Hash)> = book
        .index
        .iter()
        .filter(|(_, id)| book.committed_at[**id as usize].load(Ordering::Relaxed) != UNSET)
        .map(|(hash, id)| (*id, *hash))
        .collect();
    committed.sort_unstable_by_key(|(id, _)| *id);
    let step = committed.len().div_ceil(RECEIPTS_CHECKED_MAX).max(1);
    let (mut checked, mut unexpected) = (0u64, 0u64);
    for (id, hash) in committed.iter().step_by(step) {
        let v = client
            .transaction(hash)
            .await
            .context("reading a receipt back")?;
        let success = v.receipt().map(|r| r.success);
        checked += 1;
        if success != Some(!book.items[*id as usize].failing) {
            unexpected += 1;
            if unexpected <= 3 {
                eprintln!("unexpected receipt: {v:?}");
            }
        }
    }
    Ok((checked, unexpected))
}

/// Waits for every node to reach `final_height` and reads its state root
/// there. A node that fell behind during the run (the regulator checks
/// every signature itself) must catch up by itself: it is waited for as
/// long as it makes progress, and fails the run only when it stalls for
/// [`CATCH_UP_STALL`]. Memory counts while catching up too: `max_rss` is
/// sampled meanwhile. Returns the roots (`None` where a node has no
/// result at that height) and how long the slowest took.
pub(super) async fn every_node_at(
    final_height: u64,
    nodes: &[TestnetNode],
    clients: &[Client],
    children: &[tokio::process::Child],
    max_rss: &mut [f64],
) -> Result<(Vec<Option<String>>, f64)> {
    let mut roots = Vec::with_capacity(nodes.len());
    let checking = Instant::now();
    let mut catch_up_secs = 0.0f64;
    for (i, (n, c)) in nodes.iter().zip(clients).enumerate() {
        let mut best = 0u64;
        let mut progressed = Instant::now();
        let mut failure = String::new();
        loop {
            let h = match c.status().await {
                Ok(s) => s.height,
                Err(e) => {
                    failure = format!(" (its status call failed: {e:#}; see its node.log)");
                    0
                }
            };
            if h >= final_height {
                break;
            }
            if h > best {
                best = h;
                progressed = Instant::now();
            }
            if let Some(r) = children[i].id().and_then(rss_mib) {
                max_rss[i] = max_rss[i].max(r);
            }
            if progressed.elapsed() > CATCH_UP_STALL {
                bail!(
                    "{} stalled at height {best} for {} s while catching up to {final_height} after the run{failure}",
                    n.name,
                    CATCH_UP_STALL.as_secs()
                );
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        catch_up_secs = catch_up_secs.max(checking.elapsed().as_secs_f64());
        let b = c.block_at(final_height).await?;
        roots.push(b.result.map(|r| r.state_root));
    }
    Ok((roots, catch_up_secs))
}

//! The method table: each method parses its parameters (positional, as
//! `params: [..]`), does its work through the context's handles and
//! answers with a typed view ([`super::views`]).

use std::sync::Arc;

use hutong_host::admit::Source;
use hutong_host::mempool::Rejection;
use hutong_runtime::crypto::Hash;
use hutong_runtime::Address;
use hutong_wire::rpc::{code, method, BlockQuery, SubmitVerdict, TxStatus, SUBMIT_BATCH_MAX};
use jsonrpsee::core::SubscriptionError;
use jsonrpsee::server::{PendingSubscriptionSink, RpcModule};
use jsonrpsee::types::{ErrorObjectOwned, Params};
use serde::Deserialize;

use super::{err, parse_hash, rejected, views, RpcContext};

fn one<T: for<'de> Deserialize<'de>>(params: &Params<'_>) -> Result<T, ErrorObjectOwned> {
    params.one::<T>().map_err(|e| {
        err(
            code::INVALID_PARAMS,
            format!("invalid params: {}", e.message()),
        )
    })
}

/// A submission refused for its used sequence number may be a wallet's
/// retry of a transaction that was committed: then its committed status
/// (submitting is idempotent), else `None`.
fn committed_already(
    ctx: &RpcContext,
    raw: &[u8],
    rejection: &Rejection,
) -> Result<Option<TxStatus>, ErrorObjectOwned> {
    if !matches!(rejection, Rejection::StaleSequence { .. }) {
        return Ok(None);
    }
    let Ok(tx) = hutong_runtime::SignedTransaction::decode(raw) else {
        return Ok(None);
    };
    match views::tx_status(ctx, &tx.hash())? {
        status @ TxStatus::Committed { .. } => Ok(Some(status)),
        _ => Ok(None),
    }
}

fn parse_tx_hex(s: &str) -> Result<Vec<u8>, ErrorObjectOwned> {
    hex::decode(s.trim_start_matches("0x"))
        .map_err(|e| err(code::INVALID_PARAMS, format!("transaction is not hex: {e}")))
}

/// The JSON-RPC methods without a server: what [`super::start`] serves,
/// for in-process callers (the fuzz target `rpc_bodies` feeds it raw
/// bodies).
pub fn build_module(ctx: Arc<RpcContext>) -> anyhow::Result<RpcModule<Arc<RpcContext>>> {
    let mut m = RpcModule::new(ctx);
    m.register_async_method(method::SUBMIT_TRANSACTION, |params, ctx, _| async move {
        let hex_tx: String = one(&params)?;
        let raw = parse_tx_hex(&hex_tx)?;
        let mut verdicts = ctx.admission.admit(vec![raw.clone()], Source::Client).await;
        match verdicts.pop() {
            Some(Ok(hash)) => Ok::<TxStatus, ErrorObjectOwned>(TxStatus::Pending {
                hash: hash.to_string(),
            }),
            Some(Err(r)) => match committed_already(&ctx, &raw, &r)? {
                Some(status) => Ok(status),
                None => Err(rejected(&r)),
            },
            None => Err(err(code::INTERNAL, "no verdict")),
        }
    })?;
    m.register_async_method(method::SUBMIT_TRANSACTIONS, |params, ctx, _| async move {
        let list: Vec<String> = one(&params)?;
        if list.len() > SUBMIT_BATCH_MAX {
            return Err(err(
                code::TOO_MANY,
                format!(
                    "{} transactions in one call; at most {SUBMIT_BATCH_MAX}",
                    list.len()
                ),
            ));
        }
        let raws = list
            .iter()
            .map(|s| parse_tx_hex(s))
            .collect::<Result<Vec<_>, _>>()?;
        let verdicts = ctx.admission.admit(raws.clone(), Source::Client).await;
        let mut out = Vec::with_capacity(verdicts.len());
        for (v, raw) in verdicts.into_iter().zip(&raws) {
            out.push(match v {
                Ok(hash) => SubmitVerdict::Pending {
                    hash: hash.to_string(),
                },
                Err(r) => match committed_already(&ctx, raw, &r)? {
                    Some(TxStatus::Committed {
                        hash,
                        height,
                        index,
                        ..
                    }) => SubmitVerdict::Committed {
                        hash,
                        height,
                        index,
                    },
                    _ => SubmitVerdict::Rejected {
                        why: views::rejection(&r),
                    },
                },
            });
        }
        Ok::<Vec<SubmitVerdict>, ErrorObjectOwned>(out)
    })?;
    m.register_method(method::GET_TRANSACTION, |params, ctx, _| {
        let hash: String = one(&params)?;
        views::tx_status(ctx, &parse_hash(&hash)?)
    })?;
    m.register_method(method::GET_ACCOUNT, |params, ctx, _| {
        let address: String = one(&params)?;
        let address: Address = address.parse().map_err(|e| {
            err(
                code::INVALID_PARAMS,
                format!("{address:?} is not an address: {e}"),
            )
        })?;
        views::account(ctx, address)
    })?;
    m.register_method(method::GET_BLOCK, |params, ctx, _| {
        let q: BlockQuery = one(&params)?;
        views::block(ctx, q)
    })?;
    m.register_method(method::STATUS, |_, ctx, _| {
        Ok::<_, ErrorObjectOwned>(views::status(ctx))
    })?;
    m.register_method(method::GET_PARAMETERS, |_, ctx, _| views::parameters(ctx))?;
    m.register_method(method::GET_PROPOSAL, |params, ctx, _| {
        let id: u64 = one(&params)?;
        views::proposal(ctx, id)
    })?;
    m.register_method(method::GET_PROPOSALS, |params, ctx, _| {
        // No parameters at all means the first page of every status.
        let q: hutong_wire::gov::ProposalsQuery = if params.as_str().is_none() {
            Default::default()
        } else {
            one(&params)?
        };
        views::proposals(ctx, q)
    })?;
    m.register_subscription(
        method::SUBSCRIBE_BLOCKS,
        method::BLOCK_NOTIFICATION,
        method::UNSUBSCRIBE_BLOCKS,
        |_, pending, ctx, _| async move {
            follow_blocks(pending, (*ctx).clone())
                .await
                .map_err(|e| SubscriptionError::from(e.to_string()))
        },
    )?;
    m.register_subscription(
        method::SUBSCRIBE_TRANSACTION,
        method::TRANSACTION_NOTIFICATION,
        method::UNSUBSCRIBE_TRANSACTION,
        |params, pending, ctx, _| async move {
            let hash = params.one::<String>().ok().map(|h| parse_hash(&h));
            follow_transaction(hash, pending, (*ctx).clone())
                .await
                .map_err(|e| SubscriptionError::from(e.to_string()))
        },
    )?;
    super::audit::register(&mut m)?;
    Ok(m)
}

async fn follow_blocks(
    pending: PendingSubscriptionSink,
    ctx: Arc<RpcContext>,
) -> anyhow::Result<()> {
    let mut commits = ctx.commits.subscribe();
    let sink = pending.accept().await?;
    loop {
        tokio::select! {
            _ = sink.closed() => return Ok(()),
            block = commits.recv() => match block {
                Ok(block) => {
                    let msg = serde_json::value::to_raw_value(&*block)?;
                    sink.send(msg).await?;
                }
                // A slow subscriber misses blocks rather than making the
                // node buffer them for it.
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(_) => return Ok(()),
            },
        }
    }
}

async fn follow_transaction(
    hash: Option<Result<Hash, ErrorObjectOwned>>,
    pending: PendingSubscriptionSink,
    ctx: Arc<RpcContext>,
) -> anyhow::Result<()> {
    let hash = match hash {
        Some(Ok(h)) => h,
        Some(Err(e)) => {
            pending.reject(e).await;
            return Ok(());
        }
        None => {
            pending
                .reject(err(code::INVALID_PARAMS, "expected one transaction hash"))
                .await;
            return Ok(());
        }
    };
    // Subscribe before the first look, so no commit slips between them.
    let mut commits = ctx.commits.subscribe();
    let sink = pending.accept().await?;
    loop {
        let status =
            views::tx_status(&ctx, &hash).map_err(|e| anyhow::anyhow!("{}", e.message()))?;
        if status.is_final() {
            sink.send(serde_json::value::to_raw_value(&status)?).await?;
            return Ok(());
        }
        tokio::select! {
            _ = sink.closed() => return Ok(()),
            block = commits.recv() => {
                if let Err(tokio::sync::broadcast::error::RecvError::Closed) = block {
                    return Ok(());
                }
            }
        }
    }
}

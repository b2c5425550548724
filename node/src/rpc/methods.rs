//! The method table: each method parses its parameters (by position,
//! `params: [..]`, or by name, `params: {..}`), does its work through the
//! context's handles and answers with a typed view ([`super::views`]).

use std::sync::Arc;

use hutong_host::admit::Source;
use hutong_host::mempool::Rejection;
use hutong_host::status::CpuStage;
use hutong_runtime::crypto::Hash;
use hutong_runtime::Address;
use hutong_wire::rpc::{code, method, BlockQuery, SubmitVerdict, TxStatus, SUBMIT_BATCH_MAX};
use jsonrpsee::core::SubscriptionError;
use jsonrpsee::server::{PendingSubscriptionSink, RpcModule};
use jsonrpsee::types::{ErrorObjectOwned, Params};
use serde::de::DeserializeOwned;

use super::{err, parse_hash, rejected, views, RpcContext};

/// What a parameter must be, for the `-32602` answer that names it.
#[derive(Debug, Clone, Copy)]
struct Param {
    name: &'static str,
    position: usize,
    expected: &'static str,
}

const TX: Param = Param {
    name: "tx",
    position: 0,
    expected: "a signed transaction: hex of its borsh encoding (sdk/SPEC.md)",
};
const TXS: Param = Param {
    name: "txs",
    position: 0,
    expected: "an array of at most 1000 signed transactions, each hex of its borsh encoding",
};
const HASH: Param = Param {
    name: "hash",
    position: 0,
    expected: "a transaction hash: 64 hex digits",
};
const ADDRESS: Param = Param {
    name: "address",
    position: 0,
    expected: "an account address: ht1… (bech32m)",
};
const HOLD: Param = Param {
    name: "query",
    position: 0,
    expected: "an object with \"payer\" (ht1…) and \"hold_id\" (32 hex digits)",
};
const ACCOUNT_QUERY: Param = Param {
    name: "query",
    position: 0,
    expected: "an object with \"account\" (ht1…)",
};
const READ: Param = Param {
    name: "request",
    position: 0,
    expected: "an object with \"account\", \"mandate_id\", \"grantee_key\", \"timestamp_ms\" and \"signature\"",
};
const LISTING: Param = Param {
    name: "listing_key",
    position: 0,
    expected: "a listing key: 64 hex digits",
};
const MEMO_ACCOUNTS: Param = Param {
    name: "accounts",
    position: 0,
    expected: "an array of 1 to 16 account addresses (ht1…)",
};
const READ_MEMO: Param = Param {
    name: "request",
    position: 0,
    expected: "an object with \"tx_hash\", \"key\", \"timestamp_ms\" and \"signature\"",
};
const CYCLE: Param = Param {
    name: "cycle",
    position: 0,
    expected: "a settlement cycle number (an unsigned integer), or nothing for the open one",
};
const BLOCK: Param = Param {
    name: "query",
    position: 0,
    expected: "an object with \"height\" (an integer) or \"id\" (64 hex digits)",
};
const PROPOSAL: Param = Param {
    name: "id",
    position: 0,
    expected: "a proposal id: an unsigned integer",
};
const PROPOSALS: Param = Param {
    name: "query",
    position: 0,
    expected: "an object with optional \"status\", \"before\" and \"limit\"",
};

/// `-32602` naming the parameter, its position and what it must be; the
/// same three in `data` for programs.
fn invalid_param(p: Param, problem: impl std::fmt::Display) -> ErrorObjectOwned {
    ErrorObjectOwned::owned(
        code::INVALID_PARAMS,
        format!(
            "invalid params: `{}` (position {}) {problem}; expected {}",
            p.name, p.position, p.expected
        ),
        Some(serde_json::json!({
            "param": p.name,
            "position": p.position,
            "expected": p.expected,
        })),
    )
}

/// The raw value of parameter `p`: by position (`"params": [..]`) or by
/// name (`"params": {..}`); `None` when absent.
fn raw_param(params: &Params<'_>, p: Param) -> Result<Option<serde_json::Value>, ErrorObjectOwned> {
    let Some(text) = params.as_str() else {
        return Ok(None);
    };
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(serde_json::Value::Array(mut items)) => {
            Ok((p.position < items.len()).then(|| items.swap_remove(p.position)))
        }
        Ok(serde_json::Value::Object(mut fields)) => Ok(fields.remove(p.name)),
        Ok(serde_json::Value::Null) => Ok(None),
        _ => Err(invalid_param(
            p,
            "cannot be read: params must be an array (by position) or an object (by name)",
        )),
    }
}

/// Parameter `p`, required.
fn param<T: DeserializeOwned>(params: &Params<'_>, p: Param) -> Result<T, ErrorObjectOwned> {
    let value = raw_param(params, p)?.ok_or_else(|| invalid_param(p, "is missing"))?;
    serde_json::from_value(value).map_err(|e| invalid_param(p, format!("is wrong ({e})")))
}

/// Parameter `p`, or `None` when absent (or `null`).
fn optional_param<T: DeserializeOwned>(
    params: &Params<'_>,
    p: Param,
) -> Result<Option<T>, ErrorObjectOwned> {
    match raw_param(params, p)? {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(value) => serde_json::from_value(value)
            .map(Some)
            .map_err(|e| invalid_param(p, format!("is wrong ({e})"))),
    }
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

/// A transfer or hold id: 1 to 32 hex digits.
fn parse_transfer_id(s: &str) -> Option<hutong_runtime::TransferId> {
    let s = s.trim_start_matches("0x");
    if s.is_empty() || s.len() > 32 {
        return None;
    }
    u128::from_str_radix(s, 16)
        .ok()
        .map(hutong_runtime::TransferId)
}

fn parse_tx_hex(p: Param, s: &str) -> Result<Vec<u8>, ErrorObjectOwned> {
    hex::decode(s.trim_start_matches("0x"))
        .map_err(|e| invalid_param(p, format!("is not hex ({e})")))
}

/// A client's transactions through admission, its CPU charged to
/// admission rather than to the RPC call it came in.
async fn admit(ctx: &RpcContext, raws: Vec<Vec<u8>>) -> Vec<Result<Hash, Rejection>> {
    let admission = ctx.admission.admit(raws, Source::Client);
    crate::cpu::Metered::new(ctx.status.counters.clone(), CpuStage::Admission, admission).await
}

/// The JSON-RPC methods without a server: what [`super::start`] serves,
/// for in-process callers (the fuzz target `rpc_bodies` feeds it raw
/// bodies).
pub fn build_module(ctx: Arc<RpcContext>) -> anyhow::Result<RpcModule<Arc<RpcContext>>> {
    let mut m = RpcModule::new(ctx);
    m.register_async_method(method::SUBMIT_TRANSACTION, |params, ctx, _| async move {
        let hex_tx: String = param(&params, TX)?;
        let raw = parse_tx_hex(TX, &hex_tx)?;
        let mut verdicts = admit(&ctx, vec![raw.clone()]).await;
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
        let list: Vec<serde_json::Value> = param(&params, TXS)?;
        if list.len() > SUBMIT_BATCH_MAX {
            return Err(err(
                code::TOO_MANY,
                format!(
                    "{} transactions in one call; at most {SUBMIT_BATCH_MAX}",
                    list.len()
                ),
            ));
        }
        // An item that is not even hex gets its own verdict (`malformed`);
        // the others go on to admission.
        let mut out: Vec<Option<SubmitVerdict>> = vec![None; list.len()];
        let mut raws = Vec::with_capacity(list.len());
        let mut at = Vec::with_capacity(list.len());
        for (i, item) in list.iter().enumerate() {
            let decoded = item
                .as_str()
                .ok_or_else(|| "is not a string".to_string())
                .and_then(|s| {
                    hex::decode(s.trim_start_matches("0x")).map_err(|e| format!("is not hex ({e})"))
                });
            match decoded {
                Ok(raw) => {
                    raws.push(raw);
                    at.push(i);
                }
                Err(problem) => {
                    out[i] = Some(SubmitVerdict::Rejected {
                        why: views::rejection(&Rejection::Malformed {
                            reason: format!("item {i} {problem}"),
                        }),
                    })
                }
            }
        }
        let verdicts = admit(&ctx, raws.clone()).await;
        for ((v, raw), i) in verdicts.into_iter().zip(&raws).zip(at) {
            out[i] = Some(match v {
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
        let out: Vec<SubmitVerdict> = out
            .into_iter()
            .map(|v| {
                v.unwrap_or(SubmitVerdict::Rejected {
                    why: views::rejection(&Rejection::Busy {
                        what: "no verdict".into(),
                    }),
                })
            })
            .collect();
        Ok::<Vec<SubmitVerdict>, ErrorObjectOwned>(out)
    })?;
    m.register_method(method::GET_TRANSACTION, |params, ctx, _| {
        let hash: String = param(&params, HASH)?;
        let hash = parse_hash(&hash).map_err(|e| invalid_param(HASH, e.message()))?;
        views::tx_status(ctx, &hash)
    })?;
    m.register_method(method::GET_ACCOUNT, |params, ctx, _| {
        let address: String = param(&params, ADDRESS)?;
        let address: Address = address
            .parse()
            .map_err(|e| invalid_param(ADDRESS, format!("{address:?} is not an address ({e})")))?;
        views::account(ctx, address)
    })?;
    m.register_method(method::GET_HOLD, |params, ctx, _| {
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct HoldQuery {
            payer: String,
            hold_id: String,
        }
        let q: HoldQuery = param(&params, HOLD)?;
        let payer: Address = q
            .payer
            .parse()
            .map_err(|e| invalid_param(HOLD, format!("payer {:?}: {e}", q.payer)))?;
        let hold_id = parse_transfer_id(&q.hold_id).ok_or_else(|| {
            invalid_param(
                HOLD,
                format!("hold_id {:?} is not 32 hex digits", q.hold_id),
            )
        })?;
        views::hold(ctx, payer, hold_id)
    })?;
    m.register_method(method::GET_MANDATES, |params, ctx, _| {
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Query {
            account: String,
        }
        let q: Query = param(&params, ACCOUNT_QUERY)?;
        let account: Address = q
            .account
            .parse()
            .map_err(|e| invalid_param(ACCOUNT_QUERY, format!("account {:?}: {e}", q.account)))?;
        views::mandates(ctx, account)
    })?;
    m.register_method(method::READ_ACCOUNT, |params, ctx, _| {
        let request: hutong_wire::rpc::ReadAccountRequest = param(&params, READ)?;
        views::read_account(ctx, &request)
    })?;
    m.register_method(method::CHECK_LISTING, |params, ctx, _| {
        let key: String = param(&params, LISTING)?;
        let key = parse_hash(&key).map_err(|e| invalid_param(LISTING, e.message()))?;
        views::check_listing(ctx, &key)
    })?;
    m.register_method(method::GET_MEMO_KEYS, |params, ctx, _| {
        let accounts: Vec<String> = param(&params, MEMO_ACCOUNTS)?;
        views::memo_keys(ctx, &accounts)
    })?;
    m.register_blocking_method(method::READ_MEMO, |params, ctx, _| {
        let request: hutong_wire::rpc::ReadMemoRequest = param(&params, READ_MEMO)?;
        views::read_memo(&ctx, &request)
    })?;
    m.register_method(method::GET_CLEARING, |params, ctx, _| {
        let cycle: Option<u64> = optional_param(&params, CYCLE)?;
        views::clearing(ctx, cycle)
    })?;
    m.register_method(method::GET_BLOCK, |params, ctx, _| {
        let q: BlockQuery = param(&params, BLOCK)?;
        views::block(ctx, q)
    })?;
    m.register_method(method::STATUS, |_, ctx, _| {
        Ok::<_, ErrorObjectOwned>(views::status(ctx))
    })?;
    m.register_method(method::GET_PARAMETERS, |_, ctx, _| views::parameters(ctx))?;
    m.register_method(method::GET_PROPOSAL, |params, ctx, _| {
        let id: u64 = param(&params, PROPOSAL)?;
        views::proposal(ctx, id)
    })?;
    m.register_method(method::GET_PROPOSALS, |params, ctx, _| {
        // No parameters at all means the first page of every status.
        let q: hutong_wire::gov::ProposalsQuery =
            optional_param(&params, PROPOSALS)?.unwrap_or_default();
        views::proposals(ctx, q)
    })?;
    m.register_subscription(
        method::SUBSCRIBE_BLOCKS,
        method::BLOCK_NOTIFICATION,
        method::UNSUBSCRIBE_BLOCKS,
        |_, pending, ctx, _| {
            // A subscription runs as a task of its own, not the call's.
            let counters = ctx.status.counters.clone();
            let follow = async move {
                follow_blocks(pending, (*ctx).clone())
                    .await
                    .map_err(|e| SubscriptionError::from(e.to_string()))
            };
            crate::cpu::Metered::new(counters, CpuStage::Rpc, follow)
        },
    )?;
    m.register_subscription(
        method::SUBSCRIBE_TRANSACTION,
        method::TRANSACTION_NOTIFICATION,
        method::UNSUBSCRIBE_TRANSACTION,
        |params, pending, ctx, _| {
            let counters = ctx.status.counters.clone();
            let follow = async move {
                let hash = match param::<String>(&params, HASH) {
                    Ok(h) => Ok(parse_hash(&h).map_err(|e| invalid_param(HASH, e.message()))),
                    Err(e) => Err(e),
                };
                follow_transaction(hash, pending, (*ctx).clone())
                    .await
                    .map_err(|e| SubscriptionError::from(e.to_string()))
            };
            crate::cpu::Metered::new(counters, CpuStage::Rpc, follow)
        },
    )?;
    super::audit::register(&mut m)?;
    super::openrpc::register(&mut m)?;
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
    hash: Result<Result<Hash, ErrorObjectOwned>, ErrorObjectOwned>,
    pending: PendingSubscriptionSink,
    ctx: Arc<RpcContext>,
) -> anyhow::Result<()> {
    let hash = match hash.and_then(|h| h) {
        Ok(h) => h,
        Err(e) => {
            pending.reject(e).await;
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

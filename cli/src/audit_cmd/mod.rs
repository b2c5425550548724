//! `hutong audit …`: the regulator's questions to its audit node, every
//! request signed with the regulator key; and `hutong audit verify`, which
//! checks a proof offline with nothing but the genesis.

use crate::out::{say, say_raw};
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use hutong_audit::api::{
    AlertFilter, AlertsQuery, AllowListQuery, ExportQuery, FlowsQuery, HistoryQuery, LogQuery,
    OwnerQuery, ProofQuery, TraceDirection, TraceQuery,
};
use hutong_audit::render::{legs_csv, trace_dot};
use hutong_node::client::Client;
use hutong_node::keyfile;

mod parquet;
mod show;
pub(crate) mod time;

use time::{parse_duration_ms, parse_time_ms};

#[derive(Args)]
pub struct AuditArgs {
    /// The regulator node's JSON-RPC address.
    #[arg(long, default_value = "http://127.0.0.1:8545", global = true)]
    rpc: String,
    /// The regulator key file that signs every request (and the freeze
    /// transactions).
    #[arg(long, global = true)]
    key: Option<PathBuf>,
    #[command(subcommand)]
    what: AuditCommand,
}

#[derive(Subcommand)]
pub enum AuditCommand {
    /// Every transaction touching an account, oldest first.
    History {
        account: String,
        /// Start of the period: unix ms, an RFC 3339 UTC time
        /// (2026-11-26T08:00:00Z), a date, or relative (-30m, -2h, -7d).
        #[arg(long, allow_hyphen_values = true)]
        from: Option<String>,
        #[arg(long, allow_hyphen_values = true)]
        to: Option<String>,
        #[arg(long)]
        asset: Option<String>,
        #[arg(long)]
        counterparty: Option<String>,
        /// in, out or any.
        #[arg(long)]
        direction: Option<String>,
        /// ok, failed or any.
        #[arg(long)]
        status: Option<String>,
        #[arg(long, default_value_t = 100)]
        limit: usize,
        /// Continue after a previous page (its `next_cursor`).
        #[arg(long)]
        cursor: Option<String>,
        /// The history of the account's owner: every account of the same
        /// person at every institution, merged (the identity layer links
        /// them); directions as the owner sees them.
        #[arg(long)]
        whole_owner: bool,
        #[command(flatten)]
        output: Output,
    },
    /// Follow money forward (where it went) or backward (where it came
    /// from), across accounts and institutions.
    Trace {
        /// Start from this account's transfers...
        #[arg(long, conflicts_with = "tx")]
        account: Option<String>,
        /// ...or from this transaction.
        #[arg(long)]
        tx: Option<String>,
        #[arg(long)]
        backward: bool,
        #[arg(long, default_value_t = 4)]
        hops: u32,
        /// Ignore transfers below this amount (in units of --asset, or of
        /// the chain's first asset).
        #[arg(long)]
        min_amount: Option<String>,
        #[arg(long)]
        asset: Option<String>,
        /// Most time between a transfer and the next one followed (90s,
        /// 30m, 2h).
        #[arg(long, allow_hyphen_values = true)]
        window: Option<String>,
        #[arg(long, allow_hyphen_values = true)]
        from: Option<String>,
        #[arg(long, allow_hyphen_values = true)]
        to: Option<String>,
        #[arg(long, default_value_t = 2_000)]
        edges_max: usize,
        #[command(flatten)]
        output: Output,
    },
    /// Gross and net flows between member institutions, per asset.
    Flows {
        #[arg(long, allow_hyphen_values = true)]
        from: Option<String>,
        #[arg(long, allow_hyphen_values = true)]
        to: Option<String>,
        #[arg(long)]
        asset: Option<String>,
        #[command(flatten)]
        output: Output,
    },
    /// Every account of one owner, at every institution: the owner of an
    /// account, or an owner given by its identity commitment.
    Owner {
        /// An account of the owner (ht1…).
        #[arg(required_unless_present = "commitment", conflicts_with = "commitment")]
        account: Option<String>,
        /// The owner's identity commitment (64 hex digits) instead.
        #[arg(long = "owner", value_name = "COMMITMENT")]
        commitment: Option<String>,
        /// Accounts per page (at most 1,000).
        #[arg(long, default_value_t = 100)]
        limit: usize,
        /// Continue after a previous page (its `next_cursor`).
        #[arg(long)]
        cursor: Option<String>,
        #[command(flatten)]
        output: Output,
    },
    /// Build a proof a third party can check offline.
    #[command(subcommand)]
    Proof(ProofCommand),
    /// Check a proof file offline, against the genesis alone.
    Verify {
        file: PathBuf,
        #[arg(long)]
        genesis: PathBuf,
    },
    /// Risk alerts, oldest first (or by score); --follow waits for new
    /// ones. Amounts are in the asset's units; every alert lists its
    /// transactions and the accounts involved.
    Alerts {
        /// velocity, structuring, structuring_in, fan_out, fan_in,
        /// pass_through, cycle, frozen_counterparty, frozen_attempt,
        /// unfreeze_attempt, listed_owner, identity_unverified or
        /// memo_unreadable.
        #[arg(long)]
        kind: Option<String>,
        /// Alerts about this account, or naming it (a counterparty, a
        /// cycle's path, a smurf).
        #[arg(long)]
        account: Option<String>,
        /// Alerts about accounts of this institution (name or address).
        #[arg(long)]
        institution: Option<String>,
        /// Raised at or after this time (unix ms, RFC 3339, a date, -2h).
        #[arg(long, allow_hyphen_values = true)]
        from: Option<String>,
        #[arg(long, allow_hyphen_values = true)]
        to: Option<String>,
        /// Alerts scoring at least this (0-100): how unusual the account's
        /// day is against its own history.
        #[arg(long)]
        min_score: Option<u8>,
        /// id (oldest first) or score (highest first, within the page).
        #[arg(long, default_value = "id")]
        sort: String,
        #[arg(long, default_value_t = 0)]
        after_id: u64,
        #[arg(long, default_value_t = 100)]
        limit: usize,
        #[arg(long)]
        follow: bool,
        #[command(flatten)]
        output: Output,
    },
    /// The allow-list: accounts or institutions whose alerts of some
    /// patterns are not raised (a known payroll hub, a merchant).
    #[command(subcommand)]
    Allow(AllowCommand),
    /// A period's activity of an institution or a set of accounts.
    Export {
        /// An institution, by name (bank-a) or address.
        #[arg(long, conflicts_with = "accounts")]
        institution: Option<String>,
        /// Comma-separated addresses.
        #[arg(long, value_delimiter = ',')]
        accounts: Vec<String>,
        #[arg(long, allow_hyphen_values = true)]
        from: Option<String>,
        #[arg(long, allow_hyphen_values = true)]
        to: Option<String>,
        #[command(flatten)]
        output: Output,
    },
    /// The audit node's log of audit queries, with its hash chain checked.
    Log {
        #[arg(long, default_value_t = 0)]
        from_seq: u64,
        #[arg(long, default_value_t = 100)]
        limit: usize,
        #[command(flatten)]
        output: Output,
    },
    /// Freeze an account (a regulator's freeze: only a regulator lifts it).
    Freeze {
        account: String,
        /// fraud, legal-order, regulatory, customer-request or other.
        #[arg(long, default_value = "regulatory")]
        reason: String,
        #[arg(long)]
        wait: bool,
    },
    /// Lift a freeze (a regulator lifts any freeze; an institution's
    /// attempt to lift a regulator's is refused, and alerts).
    Unfreeze {
        account: String,
        #[arg(long)]
        wait: bool,
    },
    /// Export the ledger to Parquet files for analytics engines (DuckDB,
    /// Spark, Trino): blocks with their certified roots, transfers,
    /// account events and alerts, partitioned by day; run it again to
    /// export what is new.
    ExportParquet {
        /// The export's folder (created; a previous export there resumes).
        #[arg(long)]
        out: PathBuf,
        /// Stop after this height (default: the node's last executed).
        #[arg(long)]
        to_height: Option<u64>,
    },
    /// Anchor the audit-query log's head on the ledger now: a regulator
    /// transaction every member sees (a node with `[audit] anchor_key`
    /// does it every `anchor_every_secs` by itself).
    Anchor {
        #[arg(long)]
        wait: bool,
    },
    /// Check the whole audit-query log here: its hash chain, and that it
    /// extends every head this regulator anchored on the ledger (each
    /// anchor proven against the genesis alone). A rewritten log fails.
    CheckLog {
        #[arg(long)]
        genesis: PathBuf,
    },
    /// Measure the detectors on a labelled synthetic chain: ordinary
    /// payments with planted laundering patterns; prints recall per
    /// pattern and false alerts per 10,000 accounts per day.
    Eval(crate::eval_cmd::EvalArgs),
}

#[derive(Subcommand)]
pub enum AllowCommand {
    /// Show the allow-list.
    List {
        #[command(flatten)]
        output: Output,
    },
    /// Add (or replace) the entry of an account or institution.
    Add {
        /// An account's or an institution's address.
        subject: String,
        /// Why (kept with the entry; required).
        #[arg(long)]
        reason: String,
        /// The patterns silenced, comma-separated (default: all but frozen
        /// and unfreeze attempts, which are never silenced).
        #[arg(long, value_delimiter = ',')]
        kinds: Vec<String>,
        /// Until this time (unix ms, RFC 3339, a date, or +30d).
        #[arg(long, allow_hyphen_values = true)]
        until: Option<String>,
    },
    /// Remove the entry of an account or institution.
    Remove { subject: String },
}

#[derive(Subcommand)]
pub enum ProofCommand {
    /// That a transaction is in a committed block (with its receipt once
    /// that is certified).
    Tx {
        hash: String,
        #[arg(long)]
        out: PathBuf,
    },
    /// An account's balance of an asset at a certified height.
    Balance {
        account: String,
        #[arg(long)]
        asset: String,
        /// The latest certified height at or below this one (default:
        /// the latest).
        #[arg(long)]
        height: Option<u64>,
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Args)]
pub struct Output {
    /// table (default), json, csv; for trace also dot (Graphviz).
    #[arg(long, default_value = "table")]
    format: String,
    /// Write to this file instead of stdout.
    #[arg(long)]
    out: Option<PathBuf>,
}

fn emit(output: &Output, text: &str) -> Result<()> {
    match &output.out {
        Some(path) => {
            std::fs::write(path, text)
                .with_context(|| format!("cannot write {}", path.display()))?;
            eprintln!("wrote {}", path.display());
        }
        None => {
            let mut out = std::io::stdout().lock();
            if let Err(e) = out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
                crate::out::exit_on(&e);
            }
        }
    }
    Ok(())
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn time_opt(s: &Option<String>, now: u64) -> Result<Option<u64>> {
    s.as_deref().map(|t| parse_time_ms(t, now)).transpose()
}

fn read_key(key: &Option<PathBuf>) -> Result<hutong_runtime::Keypair> {
    let path = key
        .as_deref()
        .context("--key: the regulator key file that signs audit requests")?;
    keyfile::read(path)
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

fn pretty<T: serde::Serialize>(v: &T) -> Result<String> {
    Ok(format!("{}\n", serde_json::to_string_pretty(v)?))
}

fn check_format(output: &Output, allowed: &[&str]) -> Result<()> {
    if !allowed.contains(&output.format.as_str()) {
        bail!(
            "--format {:?}: one of {}",
            output.format,
            allowed.join(", ")
        );
    }
    Ok(())
}

/// Units ("12.5") in minor units, with the asset's decimals.
fn minor_units(text: &str, decimals: u32) -> Result<u128> {
    let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
    if frac.len() > decimals as usize {
        bail!("{text:?} has more than {decimals} decimals");
    }
    format!("{whole}{frac:0<width$}", width = decimals as usize)
        .parse()
        .with_context(|| format!("{text:?} is not an amount"))
}

pub fn audit(args: AuditArgs) -> Result<()> {
    let now = now_ms();
    match args.what {
        AuditCommand::Verify { file, genesis } => return verify(&file, &genesis),
        AuditCommand::Eval(args) => return crate::eval_cmd::eval(args),
        AuditCommand::Freeze {
            account,
            reason,
            wait,
        } => {
            let key = args.key.context("--key: the regulator key file")?;
            return crate::tx_cmd::freeze(args.rpc, key, account, Some(reason), wait);
        }
        AuditCommand::Unfreeze { account, wait } => {
            let key = args.key.context("--key: the regulator key file")?;
            return crate::tx_cmd::freeze(args.rpc, key, account, None, wait);
        }
        _ => {}
    }
    let key = read_key(&args.key)?;
    let rpc = args.rpc.clone();
    runtime()?.block_on(async move {
        let client = Client::new(&rpc)?;
        match args.what {
            AuditCommand::History {
                account,
                from,
                to,
                asset,
                counterparty,
                direction,
                status,
                limit,
                cursor,
                whole_owner,
                output,
            } => {
                check_format(&output, &["table", "json", "csv"])?;
                let query = HistoryQuery {
                    whole_owner,
                    account,
                    from_ms: time_opt(&from, now)?,
                    to_ms: time_opt(&to, now)?,
                    asset,
                    counterparty,
                    direction: direction.as_deref().map(|d| choice(d, "--direction", "in, out or any")).transpose()?,
                    status: status.as_deref().map(|s| choice(s, "--status", "ok, failed or any")).transpose()?,
                    limit: Some(limit),
                    cursor,
                };
                let page = client.audit(&key, &query).await?;
                let text = match output.format.as_str() {
                    "json" => pretty(&page)?,
                    "csv" => legs_csv(&page.rows),
                    _ => show::history(&page),
                };
                emit(&output, &text)
            }
            AuditCommand::Trace {
                account,
                tx,
                backward,
                hops,
                min_amount,
                asset,
                window,
                from,
                to,
                edges_max,
                output,
            } => {
                check_format(&output, &["table", "json", "csv", "dot"])?;
                let min_amount = match &min_amount {
                    Some(m) => {
                        let status = client.status().await?;
                        let decimals = status
                            .assets
                            .iter()
                            .find(|a| asset.as_deref().is_none_or(|x| a.code == x))
                            .map(|a| u32::from(a.decimals))
                            .context("the chain has no such asset")?;
                        Some(minor_units(m, decimals)?.to_string())
                    }
                    None => None,
                };
                let query = TraceQuery {
                    account,
                    tx,
                    direction: Some(if backward {
                        TraceDirection::Backward
                    } else {
                        TraceDirection::Forward
                    }),
                    hops: Some(hops),
                    min_amount,
                    window_secs: window
                        .as_deref()
                        .map(parse_duration_ms)
                        .transpose()?
                        .map(|ms| ms / 1_000),
                    from_ms: time_opt(&from, now)?,
                    to_ms: time_opt(&to, now)?,
                    asset,
                    edges_max: Some(edges_max),
                };
                let trace = client.audit(&key, &query).await?;
                let text = match output.format.as_str() {
                    "json" => pretty(&trace)?,
                    "csv" => legs_csv(&trace.edges),
                    "dot" => trace_dot(&trace),
                    _ => show::trace(&trace),
                };
                emit(&output, &text)
            }
            AuditCommand::Flows {
                from,
                to,
                asset,
                output,
            } => {
                check_format(&output, &["table", "json", "csv"])?;
                let query = FlowsQuery {
                    from_ms: time_opt(&from, now)?,
                    to_ms: time_opt(&to, now)?,
                    asset,
                };
                let flows = client.audit(&key, &query).await?;
                let text = match output.format.as_str() {
                    "json" => pretty(&flows)?,
                    "csv" => show::flows_csv(&flows),
                    _ => show::flows(&flows),
                };
                emit(&output, &text)
            }
            AuditCommand::Owner {
                account,
                commitment,
                limit,
                cursor,
                output,
            } => {
                check_format(&output, &["table", "json", "csv"])?;
                let query = OwnerQuery {
                    account,
                    owner: commitment,
                    limit: Some(limit),
                    cursor,
                };
                let owned = client.audit(&key, &query).await?;
                let text = match output.format.as_str() {
                    "json" => pretty(&owned)?,
                    "csv" => show::owner_csv(&owned),
                    _ => show::owner(&owned),
                };
                emit(&output, &text)
            }
            AuditCommand::Proof(what) => {
                let (query, out) = match what {
                    ProofCommand::Tx { hash, out } => (
                        ProofQuery {
                            tx: Some(hash),
                            ..ProofQuery::default()
                        },
                        out,
                    ),
                    ProofCommand::Balance {
                        account,
                        asset,
                        height,
                        out,
                    } => (
                        ProofQuery {
                            tx: None,
                            account: Some(account),
                            asset: Some(asset),
                            height,
                        },
                        out,
                    ),
                };
                let answer = client.audit(&key, &query).await?;
                std::fs::write(&out, &answer.file)
                    .with_context(|| format!("cannot write {}", out.display()))?;
                say!("{}", serde_json::to_string_pretty(&answer.claims)?);
                say!(
                    "wrote {}; anyone can check it with: hutong audit verify {} --genesis genesis.toml",
                    out.display(),
                    out.display()
                );
                Ok(())
            }
            AuditCommand::Alerts {
                kind,
                account,
                institution,
                from,
                to,
                min_score,
                sort,
                after_id,
                limit,
                follow,
                output,
            } => {
                check_format(&output, &["table", "json", "csv"])?;
                if sort != "id" && sort != "score" {
                    bail!("--sort {sort:?}: id or score");
                }
                let query = AlertsQuery {
                    after_id: Some(after_id),
                    kind: kind.clone(),
                    account: account.clone(),
                    institution,
                    from_ms: time_opt(&from, now)?,
                    to_ms: time_opt(&to, now)?,
                    min_score,
                    limit: Some(limit),
                };
                let mut page = client.audit(&key, &query).await?;
                if sort == "score" {
                    page.alerts.sort_by(|a, b| b.score.cmp(&a.score).then(a.id.cmp(&b.id)));
                }
                let text = match output.format.as_str() {
                    "json" => pretty(&page)?,
                    "csv" => hutong_audit::render::alerts_csv(&page.alerts),
                    _ => show::alerts(&page),
                };
                emit(&output, &text)?;
                if follow {
                    let mut stream = client
                        .subscribe_alerts(&key, &AlertFilter { kind, account })
                        .await?;
                    eprintln!("following new alerts; Ctrl-C stops");
                    while let Some(a) = stream.next().await {
                        let a = a?;
                        if output.format == "json" {
                            say!("{}", serde_json::to_string(&a)?);
                        } else {
                            say_raw!("{}", show::alert(&a));
                        }
                    }
                }
                Ok(())
            }
            AuditCommand::Export {
                institution,
                accounts,
                from,
                to,
                output,
            } => {
                check_format(&output, &["table", "json", "csv"])?;
                let mut query = ExportQuery {
                    from_ms: time_opt(&from, now)?,
                    to_ms: time_opt(&to, now)?,
                    institution,
                    accounts: (!accounts.is_empty()).then_some(accounts),
                    limit: None,
                    cursor: None,
                };
                // Every page, into one answer.
                let mut all = client.audit(&key, &query).await?;
                while let Some(cursor) = all.next_cursor.take() {
                    query.cursor = Some(cursor);
                    let mut page = client.audit(&key, &query).await?;
                    all.rows.append(&mut page.rows);
                    all.next_cursor = page.next_cursor;
                }
                let text = match output.format.as_str() {
                    "json" => pretty(&all)?,
                    "csv" => legs_csv(&all.rows),
                    _ => show::legs(&all.rows),
                };
                emit(&output, &text)
            }
            AuditCommand::Log {
                from_seq,
                limit,
                output,
            } => {
                check_format(&output, &["table", "json"])?;
                // The entry before the first one asked for too: the chain
                // is checked here, from its hash, not taken from the node.
                let query = LogQuery {
                    from_seq: Some(from_seq.saturating_sub(1)),
                    limit: Some(limit.saturating_add(usize::from(from_seq > 0))),
                };
                let mut page = client.audit(&key, &query).await?;
                let prev = if from_seq > 0 && !page.entries.is_empty() {
                    let before = page.entries.remove(0);
                    hutong_runtime::crypto::Hash::from_hex(&before.hash)
                        .map_err(|_| anyhow::anyhow!("log entry {} has no valid hash", before.seq))?
                } else {
                    hutong_runtime::crypto::Hash::ZERO
                };
                let checked = hutong_audit::auth::verify_log(&page.entries, prev);
                let text = match output.format.as_str() {
                    "json" => pretty(&page)?,
                    _ => show::log(&page, &checked),
                };
                emit(&output, &text)?;
                if let Err(e) = checked {
                    bail!("the audit log's hash chain is broken (checked here): {e}");
                }
                if !page.chain_ok {
                    bail!("the node says the audit log's hash chain is broken");
                }
                Ok(())
            }
            AuditCommand::Allow(what) => {
                let (query, output) = match what {
                    AllowCommand::List { output } => (AllowListQuery::default(), Some(output)),
                    AllowCommand::Add {
                        subject,
                        reason,
                        kinds,
                        until,
                    } => {
                        let kinds = kinds
                            .iter()
                            .map(|k| {
                                hutong_audit::AlertKind::parse(k).with_context(|| {
                                    format!(
                                        "--kinds {k:?}: one of {}",
                                        hutong_audit::AlertKind::ALL.map(|k| k.name()).join(", ")
                                    )
                                })
                            })
                            .collect::<Result<Vec<_>>>()?;
                        let until_ms = match until.as_deref() {
                            Some(u) => Some(parse_time_ms(u.trim_start_matches('+'), now).or_else(
                                |_| parse_duration_ms(u.trim_start_matches('+')).map(|d| now + d),
                            )?),
                            None => None,
                        };
                        (
                            AllowListQuery {
                                add: vec![hutong_audit::AllowEntry {
                                    subject,
                                    kinds,
                                    reason,
                                    until_ms,
                                }],
                                remove: Vec::new(),
                            },
                            None,
                        )
                    }
                    AllowCommand::Remove { subject } => (
                        AllowListQuery {
                            add: Vec::new(),
                            remove: vec![subject],
                        },
                        None,
                    ),
                };
                let list = client.audit(&key, &query).await?;
                match output {
                    Some(o) if o.format == "json" => emit(&o, &pretty(&list)?),
                    Some(o) => emit(&o, &show::allow_list(&list)),
                    None => {
                        say_raw!("{}", show::allow_list(&list));
                        Ok(())
                    }
                }
            }
            AuditCommand::Anchor { wait } => {
                let (entries, head) = log_head(&client, &key).await?;
                say!("anchoring the audit log: {entries} entries, head {head}");
                let status = client.status().await?;
                crate::tx_cmd::send(
                    &client,
                    &status,
                    &key,
                    None,
                    hutong_runtime::TxKind::AnchorAuditLog { entries, head },
                    1_000,
                    Vec::new(),
                    wait,
                )
                .await
            }
            AuditCommand::CheckLog { genesis } => check_log(&client, &key, &genesis).await,
            AuditCommand::ExportParquet { out, to_height } => {
                parquet::export(&client, &key, &out, to_height).await
            }
            AuditCommand::Verify { .. }
            | AuditCommand::Freeze { .. }
            | AuditCommand::Unfreeze { .. }
            | AuditCommand::Eval(_) => Ok(()),
        }
    })
}

/// The log's entry count and last hash, as the node has them now (this
/// very request is the last entry).
async fn log_head(
    client: &Client,
    key: &hutong_runtime::Keypair,
) -> Result<(u64, hutong_runtime::crypto::Hash)> {
    let first = client
        .audit(
            key,
            &LogQuery {
                from_seq: Some(0),
                limit: Some(1),
            },
        )
        .await?;
    let page = client
        .audit(
            key,
            &LogQuery {
                from_seq: Some(first.next_seq),
                limit: Some(10_000),
            },
        )
        .await?;
    let last = page
        .entries
        .last()
        .context("the node answered an empty log page after logging the request")?;
    let head = hutong_runtime::crypto::Hash::from_hex(&last.hash)
        .map_err(|_| anyhow::anyhow!("log entry {} has no valid hash", last.seq))?;
    Ok((last.seq + 1, head))
}

/// Reads the whole log, checks its chain here, then each anchor this key
/// placed on the ledger against it.
async fn check_log(
    client: &Client,
    key: &hutong_runtime::Keypair,
    genesis_path: &Path,
) -> Result<()> {
    let genesis = crate::genesis_cmd::load_genesis(genesis_path)?;
    let mut entries = Vec::new();
    loop {
        let page = client
            .audit(
                key,
                &LogQuery {
                    from_seq: Some(entries.len() as u64),
                    limit: Some(10_000),
                },
            )
            .await?;
        let got = page.entries.len();
        entries.extend(page.entries);
        // The node logs each of these requests: stop at the page that
        // reached the head as it was when that page was asked for.
        if got == 0 || entries.len() as u64 >= page.next_seq {
            break;
        }
    }
    hutong_audit::auth::verify_log(&entries, hutong_runtime::crypto::Hash::ZERO)
        .map_err(|e| anyhow::anyhow!("the audit log's hash chain is BROKEN (checked here): {e}"))?;
    say!(
        "hash chain: intact over {} entries (checked here)",
        entries.len()
    );

    let me = hutong_runtime::Address::of(&key.public()).to_string();
    let mut anchors = Vec::new();
    let mut cursor = None;
    loop {
        let page = client
            .audit(
                key,
                &HistoryQuery {
                    account: me.clone(),
                    limit: Some(10_000),
                    cursor: cursor.take(),
                    ..HistoryQuery::default()
                },
            )
            .await?;
        anchors.extend(
            page.rows
                .into_iter()
                .filter(|r| r.leg.kind == hutong_audit::EdgeKind::AnchorAuditLog && r.leg.success)
                .map(|r| r.leg.tx_hash),
        );
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    if anchors.is_empty() {
        say!("no anchors by {me} on the ledger yet: run `hutong audit anchor`, or set [audit] anchor_key on the node");
        return Ok(());
    }
    let mut bad = 0usize;
    for tx in &anchors {
        let answer = client
            .audit(
                key,
                &ProofQuery {
                    tx: Some(tx.clone()),
                    ..ProofQuery::default()
                },
            )
            .await?;
        // Proven against the genesis alone: the regulator's node is not trusted here.
        let claims = hutong_audit::proof::verify_file(answer.file.as_bytes(), &genesis)
            .map_err(|e| anyhow::anyhow!("the proof of anchor {tx} does not verify: {e}"))?;
        let n = claims["kind"]["entries"].as_u64().unwrap_or(0);
        let head = claims["kind"]["head"].as_str().unwrap_or("");
        let height = claims["height"].as_u64().unwrap_or(0);
        let ours = n
            .checked_sub(1)
            .and_then(|i| entries.get(i as usize))
            .map(|e| e.hash.as_str());
        if ours == Some(head) {
            say!("anchor at height {height} ({tx}): the log's first {n} entries match");
        } else {
            bad += 1;
            say!(
                "anchor at height {height} ({tx}): MISMATCH: the ledger says entry {} has hash {head}, the log shows {}",
                n.saturating_sub(1),
                ours.unwrap_or("no such entry")
            );
        }
    }
    if bad > 0 {
        bail!(
            "{bad} of {} anchors do not match: the audit log was rewritten",
            anchors.len()
        );
    }
    say!(
        "all {} anchors match: the log extends every head placed on the ledger",
        anchors.len()
    );
    Ok(())
}

/// A command-line choice read as the API's enum (`in`, `backward`…).
fn choice<T: serde::de::DeserializeOwned>(s: &str, flag: &str, allowed: &str) -> Result<T> {
    serde_json::from_value(serde_json::Value::String(s.to_string()))
        .map_err(|_| anyhow::anyhow!("{flag} {s:?}: one of {allowed}"))
}

fn verify(file: &Path, genesis: &Path) -> Result<()> {
    let genesis = crate::genesis_cmd::load_genesis(genesis)?;
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    match hutong_audit::proof::verify_file(&bytes, &genesis) {
        Ok(claims) => {
            say!("{}", serde_json::to_string_pretty(&claims)?);
            say!(
                "VALID: the proof holds against the genesis of chain {}",
                genesis.chain_id()
            );
            Ok(())
        }
        Err(e) => bail!("INVALID: {e}"),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn relative_times_are_values_not_flags() {
        use clap::Parser;
        for args in [
            &["hutong", "audit", "flows", "--from", "-1h"][..],
            &[
                "hutong", "audit", "history", "ht1x", "--from", "-2h", "--to", "-1h",
            ],
            &[
                "hutong",
                "audit",
                "export",
                "--institution",
                "bank-a",
                "--from",
                "-1d",
            ],
            &[
                "hutong",
                "audit",
                "trace",
                "--account",
                "ht1x",
                "--from",
                "-30m",
            ],
        ] {
            if let Err(e) = crate::Cli::try_parse_from(args) {
                panic!("{args:?}: {e}");
            }
        }
    }
}

//! `hutong audit …`: the regulator's questions to its audit node, every
//! request signed with the regulator key; and `hutong audit verify`, which
//! checks a proof offline with nothing but the genesis.

use crate::out::{say, say_raw};
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use hutong_audit::api::{
    AlertFilter, AlertsQuery, ExportQuery, FlowsQuery, HistoryQuery, LogQuery, ProofQuery,
    TraceDirection, TraceQuery,
};
use hutong_audit::render::{legs_csv, trace_dot};
use hutong_node::client::Client;
use hutong_node::keyfile;

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
    /// Build a proof a third party can check offline.
    #[command(subcommand)]
    Proof(ProofCommand),
    /// Check a proof file offline, against the genesis alone.
    Verify {
        file: PathBuf,
        #[arg(long)]
        genesis: PathBuf,
    },
    /// Risk alerts, oldest first; --follow waits for new ones.
    Alerts {
        #[arg(long)]
        kind: Option<String>,
        #[arg(long)]
        account: Option<String>,
        #[arg(long, default_value_t = 0)]
        after_id: u64,
        #[arg(long, default_value_t = 100)]
        limit: usize,
        #[arg(long)]
        follow: bool,
        #[command(flatten)]
        output: Output,
    },
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
    Unfreeze {
        account: String,
        #[arg(long)]
        wait: bool,
    },
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
                output,
            } => {
                check_format(&output, &["table", "json", "csv"])?;
                let query = HistoryQuery {
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
                after_id,
                limit,
                follow,
                output,
            } => {
                check_format(&output, &["table", "json"])?;
                let query = AlertsQuery {
                    after_id: Some(after_id),
                    kind: kind.clone(),
                    account: account.clone(),
                    limit: Some(limit),
                };
                let page = client.audit(&key, &query).await?;
                let text = match output.format.as_str() {
                    "json" => pretty(&page)?,
                    _ => {
                        page.alerts.iter().map(show::alert).collect::<String>()
                            + &format!("{} alerts\n", page.alerts.len())
                    }
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
                let query = LogQuery {
                    from_seq: Some(from_seq),
                    limit: Some(limit),
                };
                let page = client.audit(&key, &query).await?;
                let text = match output.format.as_str() {
                    "json" => pretty(&page)?,
                    _ => show::log(&page),
                };
                emit(&output, &text)?;
                if !page.chain_ok {
                    bail!("the audit log's hash chain is broken");
                }
                Ok(())
            }
            AuditCommand::Verify { .. } | AuditCommand::Freeze { .. } | AuditCommand::Unfreeze { .. } => Ok(()),
        }
    })
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

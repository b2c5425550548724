//! `hutong audit …`: the regulator's questions to its audit node, every
//! request signed with the regulator key; and `hutong audit verify`, which
//! checks a proof offline with nothing but the genesis.

use crate::out::{say, say_raw};
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use hutong_node::audit::query::{edges_csv, trace_dot};
use hutong_node::client::Client;
use hutong_node::keyfile;
use serde_json::{json, Value};

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

/// A duration: `90s`, `30m`, `2h`, `7d` (or plain seconds).
pub fn parse_duration_ms(s: &str) -> Result<u64> {
    let (digits, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = digits
        .parse()
        .with_context(|| format!("{s:?} is not a duration (90s, 30m, 2h, 7d)"))?;
    let scale = match unit {
        "" | "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => bail!("{s:?} is not a duration (90s, 30m, 2h, 7d)"),
    };
    n.checked_mul(scale).context("duration too long")
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// A point in time: unix ms, `now`, relative (`-30m`), a UTC date
/// (`2026-11-26`) or time (`2026-11-26T08:00:00Z`).
pub fn parse_time_ms(s: &str, now: u64) -> Result<u64> {
    if s == "now" {
        return Ok(now);
    }
    if let Some(rel) = s.strip_prefix('-') {
        return Ok(now.saturating_sub(parse_duration_ms(rel)?));
    }
    if let Ok(ms) = s.parse::<u64>() {
        return Ok(ms);
    }
    let bad = || {
        anyhow::anyhow!(
            "{s:?} is not a time: unix ms, now, -30m, 2026-11-26 or 2026-11-26T08:00:00Z"
        )
    };
    let (date, time) = match s.split_once('T') {
        Some((d, t)) => (d, Some(t.strip_suffix('Z').ok_or_else(bad)?)),
        None => (s, None),
    };
    let parts: Vec<i64> = date
        .split('-')
        .map(|p| p.parse().map_err(|_| bad()))
        .collect::<Result<_>>()?;
    let [y, m, d] = parts[..] else {
        return Err(bad());
    };
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return Err(bad());
    }
    let mut secs = days_from_civil(y, m, d) * 86_400;
    if let Some(t) = time {
        let hms: Vec<i64> = t
            .split(':')
            .map(|p| p.parse().map_err(|_| bad()))
            .collect::<Result<_>>()?;
        let (h, mi, se) = match hms[..] {
            [h, mi] => (h, mi, 0),
            [h, mi, se] => (h, mi, se),
            _ => return Err(bad()),
        };
        if !(0..24).contains(&h) || !(0..60).contains(&mi) || !(0..61).contains(&se) {
            return Err(bad());
        }
        secs += h * 3_600 + mi * 60 + se;
    }
    u64::try_from(secs * 1_000).map_err(|_| bad())
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

fn render_time(ms: &Value) -> String {
    let Some(ms) = ms.as_u64() else {
        return String::new();
    };
    let secs = (ms / 1_000) as i64;
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // civil_from_days
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}Z",
        rem / 3_600,
        rem % 3_600 / 60,
        rem % 60
    )
}

fn short(s: &str) -> String {
    if s.len() > 12 {
        format!("{}…", &s[..12])
    } else {
        s.to_string()
    }
}

/// A JSON number as text, so that width and alignment apply to it.
fn num(v: &Value) -> String {
    match v.as_u64() {
        Some(n) => n.to_string(),
        None => v.to_string(),
    }
}

fn edges_table(rows: &[Value], with_hop: bool) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "{:<21} {:>7} {:<9} {:<14} {:<10} {:<14} {:<10} {:>16} {:<5} {}\n",
        "time (UTC)",
        "height",
        "kind",
        "from",
        "inst",
        "to",
        "inst",
        "amount",
        "asset",
        if with_hop { "hop / tx" } else { "status / tx" }
    ));
    for r in rows {
        let tail = if with_hop {
            format!(
                "{} {}",
                r["hop"],
                short(r["tx_hash"].as_str().unwrap_or(""))
            )
        } else {
            let status = if r["success"] == true {
                "ok".to_string()
            } else {
                r["failure"].as_str().unwrap_or("failed").to_string()
            };
            format!("{status} {}", short(r["tx_hash"].as_str().unwrap_or("")))
        };
        out.push_str(&format!(
            "{:<21} {:>7} {:<9} {:<14} {:<10} {:<14} {:<10} {:>16} {:<5} {}\n",
            render_time(&r["timestamp_ms"]),
            num(&r["height"]),
            r["kind"].as_str().unwrap_or(""),
            short(r["from"].as_str().unwrap_or("")),
            r["from_institution"].as_str().unwrap_or(""),
            short(r["to"].as_str().unwrap_or("")),
            r["to_institution"].as_str().unwrap_or(""),
            r["amount_display"].as_str().unwrap_or(""),
            r["asset"].as_str().unwrap_or(""),
            tail,
        ));
    }
    out
}

fn rows_count(n: usize) -> String {
    if n == 1 {
        "1 row".to_string()
    } else {
        format!("{n} rows")
    }
}

fn pretty(v: &Value) -> Result<String> {
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
                let query = json!({
                    "account": account,
                    "from_ms": time_opt(&from, now)?,
                    "to_ms": time_opt(&to, now)?,
                    "asset": asset,
                    "counterparty": counterparty,
                    "direction": direction,
                    "status": status,
                    "limit": limit,
                    "cursor": cursor,
                });
                let v = client.audit("hutong_auditHistory", &key, strip_nulls(query)).await?;
                let rows = v["rows"].as_array().cloned().unwrap_or_default();
                let text = match output.format.as_str() {
                    "json" => pretty(&v)?,
                    "csv" => edges_csv(&rows, &["direction"]),
                    _ => {
                        let mut t = edges_table(&rows, false);
                        t.push_str(&rows_count(rows.len()));
                        if let Some(c) = v["next_cursor"].as_str() {
                            t.push_str(&format!("; more with --cursor {c}"));
                        }
                        t.push('\n');
                        t
                    }
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
                        let assets = status["assets"].as_array().cloned().unwrap_or_default();
                        let decimals = assets
                            .iter()
                            .find(|a| asset.as_deref().is_none_or(|x| a["code"] == x))
                            .and_then(|a| a["decimals"].as_u64())
                            .context("the chain has no such asset")?;
                        Some(minor_units(m, decimals as u32)?.to_string())
                    }
                    None => None,
                };
                let query = json!({
                    "account": account,
                    "tx": tx,
                    "direction": if backward { "backward" } else { "forward" },
                    "hops": hops,
                    "min_amount": min_amount,
                    "asset": asset,
                    "window_secs": window.as_deref().map(parse_duration_ms).transpose()?.map(|ms| ms / 1_000),
                    "from_ms": time_opt(&from, now)?,
                    "to_ms": time_opt(&to, now)?,
                    "edges_max": edges_max,
                });
                let v = client.audit("hutong_auditTrace", &key, strip_nulls(query)).await?;
                let edges = v["edges"].as_array().cloned().unwrap_or_default();
                let text = match output.format.as_str() {
                    "json" => pretty(&v)?,
                    "csv" => edges_csv(&edges, &["hop"]),
                    "dot" => trace_dot(&v),
                    _ => {
                        let mut t = String::new();
                        let nodes = v["nodes"].as_array().cloned().unwrap_or_default();
                        t.push_str(&format!(
                            "{} trace from {}: {} accounts at {} institutions, {} transfers{}\n\naccounts:\n",
                            v["direction"].as_str().unwrap_or(""),
                            v["start"],
                            nodes.len(),
                            nodes
                                .iter()
                                .map(|n| n["institution"].as_str().unwrap_or(""))
                                .collect::<std::collections::BTreeSet<_>>()
                                .len(),
                            edges.len(),
                            if v["truncated"] == true { " (truncated)" } else { "" },
                        ));
                        for n in &nodes {
                            t.push_str(&format!(
                                "  hop {}  {}  {}\n",
                                n["hop"],
                                n["account"].as_str().unwrap_or(""),
                                n["institution"].as_str().unwrap_or("")
                            ));
                        }
                        t.push_str("\ntransfers:\n");
                        t.push_str(&edges_table(&edges, true));
                        t
                    }
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
                let query = json!({
                    "from_ms": time_opt(&from, now)?,
                    "to_ms": time_opt(&to, now)?,
                    "asset": asset,
                });
                let v = client.audit("hutong_auditFlows", &key, strip_nulls(query)).await?;
                let gross = v["gross"].as_array().cloned().unwrap_or_default();
                let net = v["net"].as_array().cloned().unwrap_or_default();
                let text = match output.format.as_str() {
                    "json" => pretty(&v)?,
                    "csv" => {
                        let mut t = String::from("from,to,asset,transfers,amount,amount_display\n");
                        for g in &gross {
                            t.push_str(&format!(
                                "{},{},{},{},{},{}\n",
                                g["from"].as_str().unwrap_or(""),
                                g["to"].as_str().unwrap_or(""),
                                g["asset"].as_str().unwrap_or(""),
                                g["transfers"],
                                g["amount"].as_str().unwrap_or(""),
                                g["amount_display"].as_str().unwrap_or(""),
                            ));
                        }
                        t
                    }
                    _ => {
                        let mut t = format!(
                            "gross flows{}:\n{:<12} {:<12} {:<5} {:>9} {:>18}\n",
                            if v["truncated"] == true { " (truncated)" } else { "" },
                            "from", "to", "asset", "transfers", "amount"
                        );
                        for g in &gross {
                            t.push_str(&format!(
                                "{:<12} {:<12} {:<5} {:>9} {:>18}\n",
                                g["from"].as_str().unwrap_or(""),
                                g["to"].as_str().unwrap_or(""),
                                g["asset"].as_str().unwrap_or(""),
                                num(&g["transfers"]),
                                g["amount_display"].as_str().unwrap_or(""),
                            ));
                        }
                        t.push_str(&format!("\nnet positions:\n{:<12} {:<12} {:<5} {:>18}\n", "payer", "payee", "asset", "net"));
                        for n in &net {
                            t.push_str(&format!(
                                "{:<12} {:<12} {:<5} {:>18}\n",
                                n["payer"].as_str().unwrap_or(""),
                                n["payee"].as_str().unwrap_or(""),
                                n["asset"].as_str().unwrap_or(""),
                                n["net_display"].as_str().unwrap_or(""),
                            ));
                        }
                        t
                    }
                };
                emit(&output, &text)
            }
            AuditCommand::Proof(what) => {
                let (query, out) = match what {
                    ProofCommand::Tx { hash, out } => (json!({"tx": hash}), out),
                    ProofCommand::Balance {
                        account,
                        asset,
                        height,
                        out,
                    } => (
                        strip_nulls(json!({"account": account, "asset": asset, "height": height})),
                        out,
                    ),
                };
                let v = client.audit("hutong_auditProof", &key, query).await?;
                let file = v["file"].as_str().context("the node sent no proof file")?;
                std::fs::write(&out, file)
                    .with_context(|| format!("cannot write {}", out.display()))?;
                say!("{}", serde_json::to_string_pretty(&v["claims"])?);
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
                let query = strip_nulls(json!({
                    "after_id": after_id,
                    "kind": kind,
                    "account": account,
                    "limit": limit,
                }));
                let v = client.audit("hutong_auditAlerts", &key, query).await?;
                let alerts = v["alerts"].as_array().cloned().unwrap_or_default();
                let line = |a: &Value| {
                    format!(
                        "#{:<5} {:<21} {:<20} {}  {}  {}\n",
                        num(&a["id"]),
                        render_time(&a["timestamp_ms"]),
                        a["kind"].as_str().unwrap_or(""),
                        a["account"].as_str().unwrap_or(""),
                        a["institution"].as_str().unwrap_or(""),
                        a["detail"].as_str().unwrap_or(""),
                    )
                };
                let text = match output.format.as_str() {
                    "json" => pretty(&v)?,
                    _ => alerts.iter().map(line).collect::<String>()
                        + &format!("{} alerts\n", alerts.len()),
                };
                emit(&output, &text)?;
                if follow {
                    let mut stream = client
                        .subscribe_alerts(&key, strip_nulls(json!({"kind": kind, "account": account})))
                        .await?;
                    eprintln!("following new alerts; Ctrl-C stops");
                    while let Some(a) = stream.next().await {
                        let a = a?;
                        if output.format == "json" {
                            say!("{}", serde_json::to_string(&a)?);
                        } else {
                            say_raw!("{}", line(&a));
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
                let mut rows = Vec::new();
                let mut cursor: Option<String> = None;
                let mut last;
                loop {
                    let query = strip_nulls(json!({
                        "institution": institution,
                        "accounts": if accounts.is_empty() { Value::Null } else { json!(accounts) },
                        "from_ms": time_opt(&from, now)?,
                        "to_ms": time_opt(&to, now)?,
                        "cursor": cursor,
                    }));
                    let v = client.audit("hutong_auditExport", &key, query).await?;
                    rows.extend(v["rows"].as_array().cloned().unwrap_or_default());
                    cursor = v["next_cursor"].as_str().map(String::from);
                    last = v;
                    if cursor.is_none() {
                        break;
                    }
                }
                last["rows"] = Value::Array(rows.clone());
                last["next_cursor"] = Value::Null;
                let text = match output.format.as_str() {
                    "json" => pretty(&last)?,
                    "csv" => edges_csv(&rows, &[]),
                    _ => edges_table(&rows, false) + &rows_count(rows.len()) + "\n",
                };
                emit(&output, &text)
            }
            AuditCommand::Log {
                from_seq,
                limit,
                output,
            } => {
                check_format(&output, &["table", "json"])?;
                let v = client
                    .audit("hutong_auditLog", &key, json!({"from_seq": from_seq, "limit": limit}))
                    .await?;
                let text = match output.format.as_str() {
                    "json" => pretty(&v)?,
                    _ => {
                        let mut t = String::new();
                        for e in v["entries"].as_array().into_iter().flatten() {
                            t.push_str(&format!(
                                "{:>6} {:<21} {:<22} {} {}\n",
                                num(&e["seq"]),
                                render_time(&e["time_ms"]),
                                e["method"].as_str().unwrap_or(""),
                                short(e["key"].as_str().unwrap_or("")),
                                e["query"],
                            ));
                        }
                        t.push_str(&match v["chain_ok"].as_bool() {
                            Some(true) => "hash chain: intact\n".to_string(),
                            _ => format!("hash chain: BROKEN: {}\n", v["chain_error"]),
                        });
                        t
                    }
                };
                emit(&output, &text)?;
                if v["chain_ok"] != true {
                    bail!("the audit log's hash chain is broken");
                }
                Ok(())
            }
            AuditCommand::Verify { .. } | AuditCommand::Freeze { .. } | AuditCommand::Unfreeze { .. } => Ok(()),
        }
    })
}

/// Drops null fields, so optional query fields are simply absent.
fn strip_nulls(v: Value) -> Value {
    match v {
        Value::Object(map) => {
            Value::Object(map.into_iter().filter(|(_, v)| !v.is_null()).collect())
        }
        other => other,
    }
}

fn verify(file: &Path, genesis: &Path) -> Result<()> {
    let genesis = crate::load_genesis(genesis)?;
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    match hutong_node::audit::proof::verify_file(&bytes, &genesis) {
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
    use super::*;

    #[test]
    fn times_and_durations_parse() {
        assert_eq!(parse_time_ms("1970-01-02", 0).unwrap(), 86_400_000);
        assert_eq!(
            parse_time_ms("2026-11-26T08:00:00Z", 0).unwrap(),
            1_795_680_000_000
        );
        assert_eq!(parse_time_ms("-2h", 10_000_000).unwrap(), 2_800_000);
        assert_eq!(parse_time_ms("now", 5).unwrap(), 5);
        assert_eq!(parse_time_ms("123", 5).unwrap(), 123);
        assert!(parse_time_ms("2026-13-01", 0).is_err());
        assert!(parse_time_ms("yesterday", 0).is_err());
        assert_eq!(parse_duration_ms("90s").unwrap(), 90_000);
        assert_eq!(parse_duration_ms("30m").unwrap(), 1_800_000);
        assert!(parse_duration_ms("3w").is_err());
        assert_eq!(
            render_time(&json!(86_400_000u64 + 3_661_000)),
            "1970-01-02 01:01:01Z"
        );
        let t = parse_time_ms("2026-11-26T08:00:00Z", 0).unwrap();
        assert_eq!(render_time(&json!(t)), "2026-11-26 08:00:00Z");
    }

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

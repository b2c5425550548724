//! `hutong audit export-parquet`: the regulator's ledger as Parquet files
//! for the analytics engines regulators already run (DuckDB, Spark,
//! Trino, graph databases), read page by page from the audit node.
//!
//! Layout under `--out`, partitioned by day (UTC) in the Hive style that
//! those engines read as a column:
//!
//! - `blocks/date=YYYY-MM-DD/part-<from>-<to>.parquet`: every executed
//!   block with its state and receipts roots and the height of the block
//!   whose certificate first certifies them, so a row can be proven to
//!   come from the chain (`hutong audit proof tx <hash>`, checked with the
//!   genesis alone);
//! - `transfers/…`: every leg that moves money (transfer, payout, mint,
//!   burn), failed ones included with their failure code;
//! - `accounts/…`: every other leg: accounts opened, tiers set, freezes,
//!   unfreezes, audit-log anchors;
//! - `alerts/alerts.parquet`: every alert in its latest revision,
//!   rewritten on each run (alerts are updated in place).
//!
//! The export resumes: `_export.json` holds the next height, written
//! after the files of a run; files of an interrupted run (from that
//! height on) are removed first, so no row is written twice.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use hutong_audit::api::{AlertsQuery, BlockRow, LedgerQuery, LegView};
use hutong_audit::Alert;
use hutong_node::client::Client;
use parquet::basic::Compression;
use parquet::data_type::{
    BoolType, ByteArray, ByteArrayType, DoubleType, FixedLenByteArray, FixedLenByteArrayType,
    Int32Type, Int64Type,
};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::parser::parse_message_type;
use serde::{Deserialize, Serialize};

use super::time::render_time;
use crate::out::say;

/// Where an export stands, kept next to its files.
#[derive(Debug, Serialize, Deserialize)]
struct ExportState {
    chain_id: String,
    /// The first height not yet exported.
    next_height: u64,
}

const STATE_FILE: &str = "_export.json";

/// 10^38: the first amount DECIMAL(38, 0) cannot hold.
const DECIMAL_38_LIMIT: u128 = 100_000_000_000_000_000_000_000_000_000_000_000_000;

/// Blocks asked for per page.
const PAGE_BLOCKS: usize = 1_000;

/// One column's values, typed as Parquet stores them.
enum Column {
    I64(Vec<i64>),
    OptI64(Vec<Option<i64>>),
    I32(Vec<i32>),
    F64(Vec<Option<f64>>),
    Bool(Vec<bool>),
    Str(Vec<String>),
    OptStr(Vec<Option<String>>),
    /// An unsigned amount as DECIMAL(38, 0), exact; `None` (null) for an
    /// amount of 10^38 or more, which the type cannot hold (only a failed
    /// transfer can carry one: its text column keeps it).
    Amount(Vec<Option<u128>>),
}

impl Column {
    fn len(&self) -> usize {
        match self {
            Column::I64(v) => v.len(),
            Column::OptI64(v) => v.len(),
            Column::I32(v) => v.len(),
            Column::F64(v) => v.len(),
            Column::Bool(v) => v.len(),
            Column::Str(v) => v.len(),
            Column::OptStr(v) => v.len(),
            Column::Amount(v) => v.len(),
        }
    }
}

/// Definition levels of an optional column, and its present values.
fn present<T: Clone>(values: &[Option<T>]) -> (Vec<i16>, Vec<T>) {
    let levels = values.iter().map(|v| i16::from(v.is_some())).collect();
    (levels, values.iter().flatten().cloned().collect())
}

/// Writes one Parquet file (snappy-compressed, one row group) of
/// `columns`, which follow `schema`'s order.
fn write_file(path: &Path, schema: &str, columns: Vec<Column>) -> Result<()> {
    let rows = columns.first().map(Column::len).unwrap_or(0);
    if columns.iter().any(|c| c.len() != rows) {
        bail!(
            "internal: the columns of {} differ in length",
            path.display()
        );
    }
    let schema = Arc::new(parse_message_type(schema).context("the Parquet schema")?);
    let props = Arc::new(
        WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .set_created_by("hutong audit export-parquet".into())
            .build(),
    );
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    // Written under a temporary name, renamed when complete: a reader
    // never sees half a file.
    let partial = path.with_extension("parquet.partial");
    let file =
        File::create(&partial).with_context(|| format!("cannot create {}", partial.display()))?;
    let mut writer = SerializedFileWriter::new(file, schema, props)?;
    let mut group = writer.next_row_group()?;
    let mut columns = columns.into_iter();
    while let Some(mut writer) = group.next_column()? {
        let column = columns
            .next()
            .context("internal: fewer columns than the schema")?;
        match column {
            Column::I64(v) => {
                writer.typed::<Int64Type>().write_batch(&v, None, None)?;
            }
            Column::OptI64(v) => {
                let (levels, values) = present(&v);
                writer
                    .typed::<Int64Type>()
                    .write_batch(&values, Some(&levels), None)?;
            }
            Column::I32(v) => {
                writer.typed::<Int32Type>().write_batch(&v, None, None)?;
            }
            Column::F64(v) => {
                let (levels, values) = present(&v);
                writer
                    .typed::<DoubleType>()
                    .write_batch(&values, Some(&levels), None)?;
            }
            Column::Bool(v) => {
                writer.typed::<BoolType>().write_batch(&v, None, None)?;
            }
            Column::Str(v) => {
                let values: Vec<ByteArray> =
                    v.iter().map(|s| ByteArray::from(s.as_str())).collect();
                writer
                    .typed::<ByteArrayType>()
                    .write_batch(&values, None, None)?;
            }
            Column::OptStr(v) => {
                let (levels, values) = present(&v);
                let values: Vec<ByteArray> =
                    values.iter().map(|s| ByteArray::from(s.as_str())).collect();
                writer
                    .typed::<ByteArrayType>()
                    .write_batch(&values, Some(&levels), None)?;
            }
            Column::Amount(v) => {
                // DECIMAL(38, 0) in 16 big-endian bytes, two's complement:
                // below 10^38 (< 2^127) the top bit is clear.
                let (levels, values) = present(&v);
                let values: Vec<FixedLenByteArray> = values
                    .iter()
                    .map(|a| FixedLenByteArray::from(a.to_be_bytes().to_vec()))
                    .collect();
                writer.typed::<FixedLenByteArrayType>().write_batch(
                    &values,
                    Some(&levels),
                    None,
                )?;
            }
        }
        writer.close()?;
    }
    group.close()?;
    writer.close()?;
    std::fs::rename(&partial, path)
        .with_context(|| format!("cannot rename {} into place", partial.display()))?;
    Ok(())
}

const BLOCKS_SCHEMA: &str = "message blocks {
    REQUIRED INT64 height;
    REQUIRED BYTE_ARRAY block_id (UTF8);
    REQUIRED INT64 timestamp (TIMESTAMP(MILLIS,true));
    REQUIRED INT32 tx_count;
    REQUIRED BYTE_ARRAY state_root (UTF8);
    REQUIRED BYTE_ARRAY receipts_root (UTF8);
    OPTIONAL INT64 certified_by_height;
}";

const LEGS_SCHEMA: &str = "message legs {
    REQUIRED INT64 height;
    REQUIRED INT32 tx_index;
    REQUIRED INT32 leg;
    REQUIRED INT64 timestamp (TIMESTAMP(MILLIS,true));
    REQUIRED BYTE_ARRAY tx_hash (UTF8);
    REQUIRED BYTE_ARRAY kind (UTF8);
    REQUIRED BYTE_ARRAY from_account (UTF8);
    REQUIRED BYTE_ARRAY from_institution (UTF8);
    REQUIRED BYTE_ARRAY to_account (UTF8);
    REQUIRED BYTE_ARRAY to_institution (UTF8);
    OPTIONAL BYTE_ARRAY asset (UTF8);
    OPTIONAL FIXED_LEN_BYTE_ARRAY (16) amount_minor (DECIMAL(38,0));
    REQUIRED BYTE_ARRAY amount_minor_text (UTF8);
    OPTIONAL DOUBLE amount;
    REQUIRED BOOLEAN success;
    OPTIONAL BYTE_ARRAY failure (UTF8);
}";

const ALERTS_SCHEMA: &str = "message alerts {
    REQUIRED INT64 id;
    REQUIRED INT32 revision;
    REQUIRED BYTE_ARRAY kind (UTF8);
    REQUIRED INT32 score;
    REQUIRED BYTE_ARRAY account (UTF8);
    REQUIRED BYTE_ARRAY institution (UTF8);
    REQUIRED INT64 height;
    REQUIRED INT64 timestamp (TIMESTAMP(MILLIS,true));
    REQUIRED INT64 window_secs;
    OPTIONAL BYTE_ARRAY asset (UTF8);
    OPTIONAL BYTE_ARRAY amount_minor (UTF8);
    OPTIONAL DOUBLE amount;
    REQUIRED INT64 count;
    REQUIRED BYTE_ARRAY detail (UTF8);
    REQUIRED BYTE_ARRAY tx_hashes (UTF8);
    REQUIRED BYTE_ARRAY related (UTF8);
}";

fn day_of(ms: u64) -> String {
    render_time(ms)[..10].to_string()
}

fn blocks_columns(rows: &[&BlockRow]) -> Vec<Column> {
    vec![
        Column::I64(rows.iter().map(|b| b.height as i64).collect()),
        Column::Str(rows.iter().map(|b| b.block_id.clone()).collect()),
        Column::I64(rows.iter().map(|b| b.timestamp_ms as i64).collect()),
        Column::I32(rows.iter().map(|b| b.tx_count as i32).collect()),
        Column::Str(rows.iter().map(|b| b.state_root.clone()).collect()),
        Column::Str(rows.iter().map(|b| b.receipts_root.clone()).collect()),
        Column::OptI64(
            rows.iter()
                .map(|b| b.certified_by_height.map(|h| h as i64))
                .collect(),
        ),
    ]
}

fn legs_columns(rows: &[&LegView]) -> Result<Vec<Column>> {
    let amounts = rows
        .iter()
        .map(|l| {
            l.amount
                .parse::<u128>()
                .with_context(|| format!("leg {}: amount {:?}", l.tx_hash, l.amount))
        })
        .collect::<Result<Vec<u128>>>()?;
    Ok(vec![
        Column::I64(rows.iter().map(|l| l.height as i64).collect()),
        Column::I32(rows.iter().map(|l| l.index as i32).collect()),
        Column::I32(rows.iter().map(|l| i32::from(l.leg)).collect()),
        Column::I64(rows.iter().map(|l| l.timestamp_ms as i64).collect()),
        Column::Str(rows.iter().map(|l| l.tx_hash.clone()).collect()),
        Column::Str(rows.iter().map(|l| l.kind.name().to_string()).collect()),
        Column::Str(rows.iter().map(|l| l.from.clone()).collect()),
        Column::Str(rows.iter().map(|l| l.from_institution.clone()).collect()),
        Column::Str(rows.iter().map(|l| l.to.clone()).collect()),
        Column::Str(rows.iter().map(|l| l.to_institution.clone()).collect()),
        Column::OptStr(rows.iter().map(|l| l.asset.clone()).collect()),
        Column::Amount(
            amounts
                .iter()
                .map(|a| (*a < DECIMAL_38_LIMIT).then_some(*a))
                .collect(),
        ),
        Column::Str(rows.iter().map(|l| l.amount.clone()).collect()),
        Column::F64(
            rows.iter()
                .map(|l| l.amount_display.as_deref().and_then(|a| a.parse().ok()))
                .collect(),
        ),
        Column::Bool(rows.iter().map(|l| l.success).collect()),
        Column::OptStr(rows.iter().map(|l| l.failure.clone()).collect()),
    ])
}

fn alerts_columns(rows: &[Alert]) -> Vec<Column> {
    vec![
        Column::I64(rows.iter().map(|a| a.id as i64).collect()),
        Column::I32(rows.iter().map(|a| a.revision as i32).collect()),
        Column::Str(rows.iter().map(|a| a.kind.name().to_string()).collect()),
        Column::I32(rows.iter().map(|a| i32::from(a.score)).collect()),
        Column::Str(rows.iter().map(|a| a.account.clone()).collect()),
        Column::Str(
            rows.iter()
                .map(|a| a.institution_name.clone().unwrap_or(a.institution.clone()))
                .collect(),
        ),
        Column::I64(rows.iter().map(|a| a.height as i64).collect()),
        Column::I64(rows.iter().map(|a| a.timestamp_ms as i64).collect()),
        Column::I64(rows.iter().map(|a| a.window_secs as i64).collect()),
        Column::OptStr(rows.iter().map(|a| a.asset.clone()).collect()),
        Column::OptStr(rows.iter().map(|a| a.amount.clone()).collect()),
        Column::F64(
            rows.iter()
                .map(|a| a.amount_decimal.as_deref().and_then(|x| x.parse().ok()))
                .collect(),
        ),
        Column::I64(rows.iter().map(|a| a.count as i64).collect()),
        Column::Str(rows.iter().map(|a| a.detail.clone()).collect()),
        Column::Str(rows.iter().map(|a| a.tx_hashes.join(";")).collect()),
        Column::Str(rows.iter().map(|a| a.related.join(";")).collect()),
    ]
}

/// Removes the files a run starting at `from` or later wrote: a run that
/// stopped before saving its state left them, and it will write them again.
fn remove_from(dir: &Path, from: u64) -> Result<()> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    for e in entries.flatten() {
        let path = e.path();
        if path.is_dir() {
            remove_from(&path, from)?;
            continue;
        }
        let name = e.file_name().to_string_lossy().into_owned();
        let stale = name.ends_with(".partial")
            || name
                .strip_prefix("part-")
                .and_then(|rest| rest.split('-').next())
                .and_then(|h| h.parse::<u64>().ok())
                .is_some_and(|h| h >= from);
        if stale {
            std::fs::remove_file(&path)
                .with_context(|| format!("cannot remove {}", path.display()))?;
        }
    }
    Ok(())
}

/// Exports what the audit node has beyond `--out`'s last export, up to
/// `to_height` (default: the node's last executed block).
pub async fn export(
    client: &Client,
    key: &hutong_runtime::Keypair,
    out: &Path,
    to_height: Option<u64>,
) -> Result<()> {
    let status = client.status().await?;
    let state_path = out.join(STATE_FILE);
    let mut state = match std::fs::read_to_string(&state_path) {
        Ok(text) => {
            let s: ExportState = serde_json::from_str(&text)
                .with_context(|| format!("{} is not an export state", state_path.display()))?;
            if s.chain_id != status.chain_id {
                bail!(
                    "{} holds an export of chain {}, this node is on chain {}",
                    out.display(),
                    s.chain_id,
                    status.chain_id
                );
            }
            s
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => ExportState {
            chain_id: status.chain_id.clone(),
            next_height: 0,
        },
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", state_path.display())),
    };
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    for table in ["blocks", "transfers", "accounts"] {
        remove_from(&out.join(table), state.next_height)?;
    }
    let start = state.next_height;
    let (mut blocks_n, mut transfers_n, mut accounts_n) = (0usize, 0usize, 0usize);
    loop {
        let last = to_height.unwrap_or(u64::MAX);
        if state.next_height > last {
            break;
        }
        let page = client
            .audit(
                key,
                &LedgerQuery {
                    from_height: Some(state.next_height),
                    limit: Some(PAGE_BLOCKS),
                },
            )
            .await?;
        let blocks: Vec<&BlockRow> = page.blocks.iter().filter(|b| b.height <= last).collect();
        if blocks.is_empty() {
            break;
        }
        let first = blocks[0].height;
        let end = blocks[blocks.len() - 1].height;
        // One file per table and day for this page.
        let mut by_day: BTreeMap<String, Vec<&BlockRow>> = BTreeMap::new();
        for b in &blocks {
            by_day.entry(day_of(b.timestamp_ms)).or_default().push(b);
        }
        let name = format!("part-{first:012}-{end:012}.parquet");
        for (day, rows) in &by_day {
            let path = out.join("blocks").join(format!("date={day}")).join(&name);
            write_file(&path, BLOCKS_SCHEMA, blocks_columns(rows))?;
            blocks_n += rows.len();
        }
        let mut legs: BTreeMap<(bool, String), Vec<&LegView>> = BTreeMap::new();
        for l in page.legs.iter().filter(|l| l.height <= end) {
            let money = matches!(l.kind.name(), "transfer" | "payout" | "mint" | "burn");
            legs.entry((money, day_of(l.timestamp_ms)))
                .or_default()
                .push(l);
        }
        for ((money, day), rows) in &legs {
            let table = if *money { "transfers" } else { "accounts" };
            let path = out.join(table).join(format!("date={day}")).join(&name);
            write_file(&path, LEGS_SCHEMA, legs_columns(rows)?)?;
            if *money {
                transfers_n += rows.len();
            } else {
                accounts_n += rows.len();
            }
        }
        state.next_height = end + 1;
        let text = serde_json::to_string_pretty(&state)?;
        let tmp = state_path.with_extension("json.partial");
        std::fs::write(&tmp, text).with_context(|| format!("cannot write {}", tmp.display()))?;
        std::fs::rename(&tmp, &state_path)
            .with_context(|| format!("cannot write {}", state_path.display()))?;
        eprint!("\rexported up to height {end}   ");
        if page.next_height > page.executed_height {
            break;
        }
    }
    eprintln!();

    // Alerts: every one in its latest revision, the file rewritten.
    let mut alerts = Vec::new();
    let mut after = 0u64;
    loop {
        let page = client
            .audit(
                key,
                &AlertsQuery {
                    after_id: Some(after),
                    limit: Some(10_000),
                    ..AlertsQuery::default()
                },
            )
            .await?;
        let Some(last) = page.last_id else { break };
        alerts.extend(page.alerts);
        after = last;
    }
    write_file(
        &out.join("alerts").join("alerts.parquet"),
        ALERTS_SCHEMA,
        alerts_columns(&alerts),
    )?;
    say!(
        "exported heights {start}..{} of chain {}: {blocks_n} blocks, {transfers_n} transfer legs, {accounts_n} account events; {} alerts; next run resumes at {}",
        state.next_height.saturating_sub(1),
        state.chain_id,
        alerts.len(),
        state.next_height
    );
    say!("read it with, for example: duckdb -c \"SELECT count(*) FROM read_parquet('{}/transfers/*/*.parquet', hive_partitioning = true)\"", out.display());
    Ok(())
}

//! The audit answers as tables for a terminal (JSON and CSV come from
//! the answers themselves and `hutong_audit::render`).

use std::collections::BTreeSet;

use hutong_audit::api::{Flows, HistoryPage, LegDirection, LegView, LogPage, Trace};
use hutong_audit::Alert;

use super::time::render_time;

fn short(s: &str) -> String {
    match s.char_indices().nth(12) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

/// Legs, one line each, ending with `tail` (status, hop…) and the
/// transaction.
fn legs_table<'a>(rows: impl Iterator<Item = (&'a LegView, String)>, tail: &str) -> String {
    let mut out = format!(
        "{:<21} {:>7} {:<9} {:<14} {:<10} {:<14} {:<10} {:>16} {:<5} {tail} / tx\n",
        "time (UTC)", "height", "kind", "from", "inst", "to", "inst", "amount", "asset",
    );
    for (l, tail) in rows {
        out.push_str(&format!(
            "{:<21} {:>7} {:<9} {:<14} {:<10} {:<14} {:<10} {:>16} {:<5} {tail} {}\n",
            render_time(l.timestamp_ms),
            l.height,
            l.kind.name(),
            short(&l.from),
            l.from_institution,
            short(&l.to),
            l.to_institution,
            l.amount_display.as_deref().unwrap_or(""),
            l.asset.as_deref().unwrap_or(""),
            short(&l.tx_hash),
        ));
    }
    out
}

fn status(l: &LegView) -> String {
    if l.success {
        "ok".to_string()
    } else {
        l.failure.clone().unwrap_or_else(|| "failed".into())
    }
}

pub fn rows_count(n: usize) -> String {
    if n == 1 {
        "1 row".to_string()
    } else {
        format!("{n} rows")
    }
}

/// Legs with their outcome (an export).
pub fn legs(rows: &[LegView]) -> String {
    legs_table(rows.iter().map(|l| (l, status(l))), "status") + &rows_count(rows.len()) + "\n"
}

pub fn history(page: &HistoryPage) -> String {
    let mut t = legs_table(
        page.rows.iter().map(|r| {
            let arrow = match r.direction {
                LegDirection::In => "in",
                LegDirection::Out => "out",
                LegDirection::ToSelf => "self",
            };
            (&r.leg, format!("{arrow} {}", status(&r.leg)))
        }),
        "dir status",
    );
    t.push_str(&rows_count(page.rows.len()));
    if let Some(c) = &page.next_cursor {
        t.push_str(&format!("; more with --cursor {c}"));
    }
    t.push('\n');
    t
}

pub fn trace(trace: &Trace) -> String {
    let institutions: BTreeSet<&str> = trace.nodes.iter().map(|n| n.institution.as_str()).collect();
    let mut t = format!(
        "{} trace from {}: {} accounts at {} institutions, {} transfers{}\n\naccounts:\n",
        match trace.direction {
            hutong_audit::api::TraceDirection::Forward => "forward",
            hutong_audit::api::TraceDirection::Backward => "backward",
        },
        trace.start,
        trace.nodes.len(),
        institutions.len(),
        trace.edges.len(),
        if trace.truncated { " (truncated)" } else { "" },
    );
    for n in &trace.nodes {
        t.push_str(&format!(
            "  hop {}  {}  {}\n",
            n.hop, n.account, n.institution
        ));
    }
    t.push_str("\ntransfers:\n");
    t.push_str(&legs_table(
        trace.edges.iter().map(|e| (&e.leg, e.hop.to_string())),
        "hop",
    ));
    t
}

pub fn flows(f: &Flows) -> String {
    let mut t = format!(
        "gross flows{}:\n{:<12} {:<12} {:<5} {:>9} {:>18}\n",
        if f.truncated { " (truncated)" } else { "" },
        "from",
        "to",
        "asset",
        "transfers",
        "amount"
    );
    for g in &f.gross {
        t.push_str(&format!(
            "{:<12} {:<12} {:<5} {:>9} {:>18}\n",
            g.from, g.to, g.asset, g.transfers, g.amount_display
        ));
    }
    t.push_str(&format!(
        "\nnet positions:\n{:<12} {:<12} {:<5} {:>18}\n",
        "payer", "payee", "asset", "net"
    ));
    for n in &f.net {
        t.push_str(&format!(
            "{:<12} {:<12} {:<5} {:>18}\n",
            n.payer, n.payee, n.asset, n.net_display
        ));
    }
    t
}

pub fn flows_csv(f: &Flows) -> String {
    let mut t = String::from("from,to,asset,transfers,amount,amount_display\n");
    for g in &f.gross {
        t.push_str(&format!(
            "{},{},{},{},{},{}\n",
            g.from, g.to, g.asset, g.transfers, g.amount, g.amount_display
        ));
    }
    t
}

pub fn alert(a: &Alert) -> String {
    format!(
        "#{:<5} {:<21} {:<20} {}  {}  {}\n",
        a.id,
        render_time(a.timestamp_ms),
        a.kind.name(),
        a.account,
        a.institution,
        a.detail,
    )
}

pub fn log(page: &LogPage) -> String {
    let mut t = String::new();
    for e in &page.entries {
        t.push_str(&format!(
            "{:>6} {:<21} {:<22} {} {}\n",
            e.seq,
            render_time(e.time_ms),
            e.method,
            short(&e.key),
            e.query,
        ));
    }
    t.push_str(&if page.chain_ok {
        "hash chain: intact\n".to_string()
    } else {
        format!(
            "hash chain: BROKEN: {}\n",
            page.chain_error.as_deref().unwrap_or("")
        )
    });
    t
}

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
    let mut t = String::new();
    if let Some(owner) = &page.owner {
        t.push_str(&format!(
            "owner {owner}: {} accounts ({})\n\n",
            page.accounts.len(),
            page.accounts.join(", ")
        ));
    }
    t += &legs_table(
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
    // Legs that lead back to an account met at an earlier hop: money
    // going round (forward) or coming from where it went (backward).
    let hop_of: std::collections::HashMap<&str, u32> = trace
        .nodes
        .iter()
        .map(|n| (n.account.as_str(), n.hop))
        .collect();
    // The earliest hop at which each owner's accounts were met, and which.
    let mut owner_met: std::collections::HashMap<&str, (u32, &str)> = Default::default();
    for n in &trace.nodes {
        if let Some(o) = &n.owner {
            let met = owner_met.entry(o.as_str()).or_insert((n.hop, &n.account));
            if n.hop < met.0 {
                *met = (n.hop, &n.account);
            }
        }
    }
    let owner_of: std::collections::HashMap<&str, &str> = trace
        .nodes
        .iter()
        .filter_map(|n| Some((n.account.as_str(), n.owner.as_deref()?)))
        .collect();
    let forward = trace.direction == hutong_audit::api::TraceDirection::Forward;
    let back: Vec<String> = trace
        .edges
        .iter()
        .filter_map(|e| {
            let other = if forward { &e.leg.to } else { &e.leg.from };
            // Back to the account itself, or to another account of its owner.
            let (h, via) = match hop_of.get(other.as_str()) {
                Some(h) if h + 1 < e.hop => (*h, String::new()),
                _ => {
                    let (h, first) = owner_met.get(owner_of.get(other.as_str())?)?;
                    if *first == other.as_str() || h + 1 >= e.hop {
                        return None;
                    }
                    (*h, format!(", the same owner as {first}"))
                }
            };
            Some({
                format!(
                    "  CYCLE: hop {} {} {}{via} {} {} (met at hop {h}), tx {}\n",
                    e.hop,
                    if forward {
                        "pays back to"
                    } else {
                        "was paid by"
                    },
                    other,
                    e.leg
                        .amount_display
                        .as_deref()
                        .map(group)
                        .unwrap_or_default(),
                    e.leg.asset.as_deref().unwrap_or(""),
                    e.leg.tx_hash
                )
            })
        })
        .collect();
    if !back.is_empty() {
        t.push_str("\ncycles:\n");
        t.extend(back);
    }
    // Accounts of one owner among those reached: money that reaches one
    // of them came back to the same person.
    let mut by_owner: std::collections::BTreeMap<&str, Vec<&hutong_audit::api::TraceNode>> =
        Default::default();
    for n in &trace.nodes {
        if let Some(o) = &n.owner {
            by_owner.entry(o.as_str()).or_default().push(n);
        }
    }
    let shared: Vec<_> = by_owner.into_iter().filter(|(_, v)| v.len() > 1).collect();
    if !shared.is_empty() {
        t.push_str("\naccounts of one owner:\n");
        for (owner, nodes) in shared {
            t.push_str(&format!("  owner {}…:", &owner[..owner.len().min(16)]));
            for n in nodes {
                t.push_str(&format!(
                    "  {} ({}, hop {})",
                    n.account, n.institution, n.hop
                ));
            }
            t.push('\n');
        }
    }
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
    for c in &f.settlement {
        t.push_str(&format!(
            "\nsettlement cycle {} ({}, from {} ms to {} ms), each institution's position:\n{:<12} {:<5} {:>18}\n",
            c.cycle,
            if c.closed {
                "closed: the ledger's clearing record"
            } else {
                "open: so far"
            },
            c.start_ms,
            c.end_ms,
            "institution",
            "asset",
            "net"
        ));
        for p in &c.positions {
            t.push_str(&format!(
                "{:<12} {:<5} {:>18}\n",
                p.institution, p.asset, p.net_display
            ));
        }
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

/// An owner's accounts: one line each (address, institution, tier, when
/// opened, frozen or not, balances).
pub fn owner(o: &hutong_audit::api::OwnerAccounts) -> String {
    let Some(owner) = &o.owner else {
        return format!(
            "{} has no owner on record (an institution's or a regulator's account, or one opened with the zero identity commitment)\n",
            o.account.as_deref().unwrap_or("the account")
        );
    };
    let mut t = format!("owner {owner}\n");
    t.push_str(&format!(
        "{:<44} {:<12} {:>4} {:>8} {:<10} balances\n",
        "account", "institution", "tier", "opened", "status"
    ));
    for a in &o.accounts {
        let mark = if o.account.as_deref() == Some(a.address.as_str()) {
            " (asked)"
        } else {
            ""
        };
        let balances = a
            .balances
            .iter()
            .map(|b| format!("{} {}", group(&b.amount_display), b.asset))
            .collect::<Vec<_>>()
            .join(", ");
        t.push_str(&format!(
            "{:<44} {:<12} {:>4} {:>8} {:<10} {}{mark}\n",
            a.address,
            a.institution,
            a.tier,
            a.opened_height,
            a.frozen
                .as_deref()
                .map(|r| format!("frozen:{r}"))
                .unwrap_or_else(|| "active".into()),
            if balances.is_empty() {
                "-".into()
            } else {
                balances
            },
        ));
    }
    t.push_str(&match o.accounts.len() {
        1 => "1 account".to_string(),
        n => format!("{n} accounts"),
    });
    if let Some(c) = &o.next_cursor {
        t.push_str(&format!(" (more: --cursor {c})"));
    }
    t.push('\n');
    t
}

/// An owner's accounts as CSV, one row per account and asset held.
pub fn owner_csv(o: &hutong_audit::api::OwnerAccounts) -> String {
    let mut t = String::from(
        "owner,account,institution,institution_address,tier,opened_height,frozen,asset,amount,amount_display\n",
    );
    let owner = o.owner.as_deref().unwrap_or("");
    for a in &o.accounts {
        let head = format!(
            "{owner},{},{},{},{},{},{}",
            a.address,
            hutong_audit::render::csv_field(&a.institution),
            a.institution_address,
            a.tier,
            a.opened_height,
            a.frozen.as_deref().unwrap_or("")
        );
        if a.balances.is_empty() {
            t.push_str(&format!("{head},,,\n"));
        }
        for b in &a.balances {
            t.push_str(&format!(
                "{head},{},{},{}\n",
                b.asset, b.amount, b.amount_display
            ));
        }
    }
    t
}

/// One alert: a headline (id, time, pattern, score, account and its
/// institution, amount), the detail, and the evidence (transactions and
/// the accounts involved, in full: an analyst copies them into the next
/// query).
pub fn alert(a: &Alert) -> String {
    let amount = match (&a.amount_decimal, &a.asset) {
        (Some(v), Some(asset)) => format!("  {} {asset}", group(v)),
        _ => String::new(),
    };
    let mut t = format!(
        "#{}{} {} {} score {} {} ({}){}\n    {}\n",
        a.id,
        if a.revision > 0 {
            format!(" (updated {}x)", a.revision)
        } else {
            String::new()
        },
        render_time(a.timestamp_ms),
        a.kind.name(),
        a.score,
        a.account,
        a.institution_name.as_deref().unwrap_or(&a.institution),
        amount,
        a.detail,
    );
    if !a.related.is_empty() {
        let sep = if a.kind == hutong_audit::AlertKind::Cycle {
            " → "
        } else {
            ", "
        };
        t.push_str(&format!(
            "    {}: {}\n",
            if a.kind == hutong_audit::AlertKind::Cycle {
                "path"
            } else {
                "accounts"
            },
            a.related.join(sep)
        ));
    }
    if !a.tx_hashes.is_empty() {
        t.push_str(&format!(
            "    transactions ({}): {}\n",
            a.tx_hashes.len(),
            a.tx_hashes.join(" ")
        ));
    }
    t
}

/// A page of alerts.
pub fn alerts(page: &hutong_audit::api::AlertsPage) -> String {
    let mut t: String = page.alerts.iter().map(|a| alert(a) + "\n").collect();
    t.push_str(&match page.alerts.len() {
        1 => "1 alert\n".to_string(),
        n => format!("{n} alerts\n"),
    });
    t
}

/// "1234567.50" as "1,234,567.50".
fn group(decimal: &str) -> String {
    let (whole, frac) = decimal.split_once('.').unwrap_or((decimal, ""));
    let mut out = String::new();
    for (i, c) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if !frac.is_empty() {
        out.push('.');
        out.push_str(frac);
    }
    out
}

/// The allow-list.
pub fn allow_list(list: &hutong_audit::api::AllowList) -> String {
    let mut t = String::new();
    for e in &list.entries {
        t.push_str(&format!(
            "{}  {}  until {}  reason: {}\n",
            e.subject,
            if e.kinds.is_empty() {
                "all patterns".to_string()
            } else {
                e.kinds
                    .iter()
                    .map(|k| k.name())
                    .collect::<Vec<_>>()
                    .join(",")
            },
            e.until_ms
                .map(render_time)
                .unwrap_or_else(|| "removed".into()),
            e.reason
        ));
    }
    t.push_str(&match list.entries.len() {
        1 => "1 entry\n".to_string(),
        n => format!("{n} entries\n"),
    });
    t
}

pub fn log(page: &LogPage, checked: &Result<(), String>) -> String {
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
    t.push_str(&match (checked, page.chain_ok) {
        (Ok(()), true) => format!(
            "hash chain: intact (checked here over {} entries)\n",
            page.entries.len()
        ),
        (Ok(()), false) => format!(
            "hash chain: intact here, but the node says BROKEN: {}\n",
            page.chain_error.as_deref().unwrap_or("")
        ),
        (Err(e), _) => format!("hash chain: BROKEN (checked here): {e}\n"),
    });
    t
}

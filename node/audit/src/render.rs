//! Renderings of audit answers for other tools: CSV rows for
//! spreadsheets, Graphviz for a trace.

use std::collections::BTreeMap;

use crate::alerts::Alert;
use crate::api::{HistoryRow, LegView, Trace, TraceLeg};

/// A CSV field, quoted when it must be.
pub fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

const LEG_COLUMNS: [&str; 15] = [
    "height",
    "index",
    "leg",
    "timestamp_ms",
    "tx_hash",
    "kind",
    "from",
    "from_institution",
    "to",
    "to_institution",
    "asset",
    "amount",
    "amount_display",
    "success",
    "failure",
];

/// A row of legs for CSV: the leg's columns, then the row's own.
pub trait LegRow {
    /// The names of the columns after the leg's.
    const EXTRA: &'static [&'static str];
    fn leg(&self) -> &LegView;
    fn extra(&self) -> Vec<String>;
}

impl LegRow for LegView {
    const EXTRA: &'static [&'static str] = &[];
    fn leg(&self) -> &LegView {
        self
    }
    fn extra(&self) -> Vec<String> {
        Vec::new()
    }
}

impl LegRow for HistoryRow {
    const EXTRA: &'static [&'static str] = &["direction"];
    fn leg(&self) -> &LegView {
        &self.leg
    }
    fn extra(&self) -> Vec<String> {
        vec![match self.direction {
            crate::api::LegDirection::In => "in",
            crate::api::LegDirection::Out => "out",
            crate::api::LegDirection::ToSelf => "self",
        }
        .to_string()]
    }
}

impl LegRow for TraceLeg {
    const EXTRA: &'static [&'static str] = &["hop"];
    fn leg(&self) -> &LegView {
        &self.leg
    }
    fn extra(&self) -> Vec<String> {
        vec![self.hop.to_string()]
    }
}

fn leg_fields(l: &LegView) -> [String; 15] {
    let opt = |o: &Option<String>| o.clone().unwrap_or_default();
    [
        l.height.to_string(),
        l.index.to_string(),
        l.leg.to_string(),
        l.timestamp_ms.to_string(),
        l.tx_hash.clone(),
        l.kind.name().to_string(),
        l.from.clone(),
        l.from_institution.clone(),
        l.to.clone(),
        l.to_institution.clone(),
        opt(&l.asset),
        l.amount.clone(),
        opt(&l.amount_display),
        l.success.to_string(),
        opt(&l.failure),
    ]
}

/// Rows of legs as CSV, with a header.
pub fn legs_csv<R: LegRow>(rows: &[R]) -> String {
    let mut out = String::new();
    let header: Vec<&str> = LEG_COLUMNS.iter().chain(R::EXTRA).copied().collect();
    out.push_str(&header.join(","));
    out.push('\n');
    for row in rows {
        let fields: Vec<String> = leg_fields(row.leg())
            .into_iter()
            .chain(row.extra())
            .map(|f| csv_field(&f))
            .collect();
        out.push_str(&fields.join(","));
        out.push('\n');
    }
    out
}

fn short(a: &str) -> &str {
    a.get(..14).unwrap_or(a)
}

/// Text safe inside a Graphviz double-quoted string.
fn dot_text(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "'")
}

/// A trace answer as a Graphviz digraph: one cluster per institution,
/// accounts as nodes, legs as labelled edges.
pub fn trace_dot(trace: &Trace) -> String {
    let mut out = String::from(
        "digraph trace {\n  rankdir=LR;\n  node [shape=box, fontname=\"monospace\"];\n",
    );
    let mut by_inst: BTreeMap<&str, Vec<_>> = BTreeMap::new();
    for n in &trace.nodes {
        by_inst.entry(n.institution.as_str()).or_default().push(n);
    }
    for (i, (inst, nodes)) in by_inst.iter().enumerate() {
        out.push_str(&format!(
            "  subgraph cluster_{i} {{\n    label=\"{}\";\n",
            dot_text(inst)
        ));
        for n in nodes {
            let a = dot_text(&n.account);
            out.push_str(&format!(
                "    \"{a}\" [label=\"{}\\nhop {}\"];\n",
                short(&a),
                n.hop
            ));
        }
        out.push_str("  }\n");
    }
    for e in &trace.edges {
        let l = &e.leg;
        out.push_str(&format!(
            "  \"{}\" -> \"{}\" [label=\"{} {}\\nh{} {}\"];\n",
            dot_text(&l.from),
            dot_text(&l.to),
            dot_text(l.amount_display.as_deref().unwrap_or("")),
            dot_text(l.asset.as_deref().unwrap_or("")),
            l.height,
            short(&dot_text(&l.tx_hash)),
        ));
    }
    out.push_str("}\n");
    out
}

/// Alerts as CSV, one row each; the transactions and related accounts
/// are `;`-separated in their fields.
pub fn alerts_csv(alerts: &[Alert]) -> String {
    let mut out = String::from(
        "id,revision,timestamp_ms,kind,score,account,institution,institution_name,asset,amount,amount_decimal,count,window_secs,detail,tx_hashes,related\n",
    );
    for a in alerts {
        let fields = [
            a.id.to_string(),
            a.revision.to_string(),
            a.timestamp_ms.to_string(),
            a.kind.name().to_string(),
            a.score.to_string(),
            a.account.clone(),
            a.institution.clone(),
            a.institution_name.clone().unwrap_or_default(),
            a.asset.clone().unwrap_or_default(),
            a.amount.clone().unwrap_or_default(),
            a.amount_decimal.clone().unwrap_or_default(),
            a.count.to_string(),
            a.window_secs.to_string(),
            a.detail.clone(),
            a.tx_hashes.join(";"),
            a.related.join(";"),
        ];
        let row: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
        out.push_str(&row.join(","));
        out.push('\n');
    }
    out
}

//! The node's modules form layers: each imports only from its own layer
//! or below, and no two modules import each other (directly or around a
//! circle). The layers are described in `node/src/lib.rs`; this test reads
//! the sources and holds them to it, so a new import that would tie the
//! node back into one knot fails here with the offending line.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Each top-level module of `node/src` and its layer (1 = leaves).
const LAYERS: &[(&str, u8)] = &[
    ("status", 1),
    ("config", 1),
    ("keyfile", 1),
    ("state_cache", 1),
    ("cpu", 1),
    ("store", 2),
    ("ledger", 3),
    ("audit", 3),
    ("network", 4),
    ("runtime", 4),
    ("membership", 4),
    ("recovery", 4),
    ("consensus", 5),
    ("gossip", 5),
    ("sync_server", 5),
    ("executor", 5),
    ("rpc", 5),
    ("metrics", 5),
    ("client", 5),
    ("join", 5),
    ("anchor", 5),
    ("node", 6),
];

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("node/src is readable") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a source file belongs to (`None` for `lib.rs`).
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).expect("under src");
    let first = rel.components().next()?.as_os_str().to_string_lossy();
    let name = first.trim_end_matches(".rs").to_string();
    (name != "lib").then_some(name)
}

/// The top-level modules a line of code names through `crate::`, outside
/// comments (doc links name modules without depending on them).
fn named_modules(line: &str) -> Vec<String> {
    let code = line.split("//").next().unwrap_or("");
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        let after = &rest[at + "crate::".len()..];
        let name: String = after
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if !name.is_empty() {
            out.push(name);
        }
        rest = after;
    }
    // `use crate::{a, b::c}` names several.
    if let Some(open) = code.find("crate::{") {
        let inner = &code[open + "crate::{".len()..];
        for part in inner.split([',', '}']) {
            let name: String = part
                .trim()
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                out.push(name);
            }
        }
    }
    out
}

#[test]
fn node_modules_import_only_from_their_layer_or_below_and_never_in_a_circle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let layer: BTreeMap<&str, u8> = LAYERS.iter().copied().collect();
    let mut files = Vec::new();
    sources(&src, &mut files);
    files.sort();
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut wrong = Vec::new();
    for file in &files {
        let Some(module) = module_of(&src, file) else {
            continue;
        };
        let Some(&own) = layer.get(module.as_str()) else {
            wrong.push(format!(
                "{}: module `{module}` has no layer in this test (add it, and to lib.rs)",
                file.display()
            ));
            continue;
        };
        let text = std::fs::read_to_string(file).expect("a readable source file");
        for (n, line) in text.lines().enumerate() {
            for target in named_modules(line) {
                if target == module || target == "self" {
                    continue;
                }
                let Some(&theirs) = layer.get(target.as_str()) else {
                    continue;
                };
                edges
                    .entry(module.clone())
                    .or_default()
                    .insert(target.clone());
                if theirs > own {
                    wrong.push(format!(
                        "{}:{}: `{module}` (layer {own}) imports `{target}` (layer {theirs}): {}",
                        file.display(),
                        n + 1,
                        line.trim()
                    ));
                }
            }
        }
    }
    // No circle, even within a layer.
    fn visit(
        m: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
        cycles: &mut Vec<String>,
    ) {
        if let Some(at) = path.iter().position(|p| p == m) {
            let mut circle = path[at..].to_vec();
            circle.push(m.to_string());
            cycles.push(circle.join(" -> "));
            return;
        }
        if !done.insert(m.to_string()) {
            return;
        }
        path.push(m.to_string());
        for next in edges.get(m).into_iter().flatten() {
            visit(next, edges, path, done, cycles);
        }
        path.pop();
    }
    let mut cycles = Vec::new();
    let mut done = BTreeSet::new();
    for (m, _) in LAYERS {
        visit(m, &edges, &mut Vec::new(), &mut done, &mut cycles);
    }
    wrong.extend(cycles.into_iter().map(|c| format!("import circle: {c}")));
    assert!(wrong.is_empty(), "layering broken:\n{}", wrong.join("\n"));
}

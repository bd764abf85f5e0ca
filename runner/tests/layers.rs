//! The runner's layers (docs/architecture.md, "Layers"): every module of
//! `src/` may use only modules of lower layers, so there are no circles.
//!
//! Reads every `src/**/*.rs` as Rust tokens (comments and strings left
//! out, macros' arguments kept), and takes each path that leaves the
//! module it is written in: `crate::a::b`, the groups of
//! `use crate::{a, b::{c}}`, `super::` chains that climb out of a
//! module, and paths through a child module (`state::RunState` in
//! `watch/mod.rs`, `cli::Cli` in `main.rs`). Then checks
//! - each top-level module's dependencies against [`LAYERS`];
//! - no circles between top-level modules;
//! - no circles between the files of [`NO_INNER_CIRCLES`] (a `mod.rs`
//!   counts as its own node: children may use it, or it them, not both).

use petgraph::algo::tarjan_scc;
use petgraph::graphmap::DiGraphMap;
use proc_macro2::{Delimiter, Spacing, TokenStream, TokenTree};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// The runner's modules by layer, lowest first. A module may use any
/// module of a lower layer, none of its own layer or above. Mirrors the
/// table of docs/architecture.md; a new top-level module needs a row.
#[rustfmt::skip]
const LAYERS: &[&[&str]] = &[
    // Leaves: configuration, logging, users' managers, the invoker, sd_notify,
    // logind's inhibitor lock, retries of transient failures.
    &["config", "log", "user_manager", "invoker", "sd_notify", "inhibit", "retry"],
    // The bus, events, properties, unit names and the one classifier.
    &["systemd"],
    // The one run summary, of systemd's outcomes.
    &["summary"],
    // Storage and queries of the statistics database.
    &["stats"],
    // All formatting: durations, tables, the live table.
    &["output"],
    // Services that checks, runs and commands call on.
    &["plugin", "schedule", "notify"],
    // `update-all check` and the dynamic mutexes; reboots: detection and
    // the policy; the health checks after a run and at boot; the snapshots
    // around a run.
    &["check", "reboot", "health", "snapshot"],
    // The state machine of a run; rolling a run back (the ladder).
    &["watch", "rollback"],
    // Orchestration of a run; the recorder's process.
    &["run", "recorder"],
    // The command line: only commands and main use it.
    &["cli"],
    // One thin module per subcommand.
    &["commands"],
    // `main.rs`.
    &["main"],
];

/// Top-level modules whose own files must not form circles either.
const NO_INNER_CIRCLES: &[&str] = &["run", "watch", "recorder"];

/// A module path from the crate root, e.g. `["run", "parts"]`.
type ModPath = Vec<String>;

/// One source file: its module path and the module paths it refers to.
struct Source {
    file: PathBuf,
    module: ModPath,
    uses: BTreeSet<ModPath>,
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// `run/parts.rs` → `[run, parts]`; `run/mod.rs` → `[run]`; `main.rs` → `[]`.
fn module_of(relative: &Path) -> ModPath {
    let mut parts: ModPath = relative
        .iter()
        .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_owned())
        .collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "main")) {
        parts.pop();
    }
    parts
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("src/ is readable") {
        let path = entry.expect("src/ is readable").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Every file of `src/` with the module paths it refers to, resolved.
fn sources() -> Vec<Source> {
    let root = src();
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    files.sort();
    let modules: BTreeSet<ModPath> = files
        .iter()
        .map(|f| module_of(f.strip_prefix(&root).unwrap()))
        .collect();
    files
        .into_iter()
        .map(|file| {
            let module = module_of(file.strip_prefix(&root).unwrap());
            let text = std::fs::read_to_string(&file).expect("a source file is readable");
            let tokens = TokenStream::from_str(&text)
                .unwrap_or_else(|e| panic!("{}: not Rust tokens: {e:?}", file.display()));
            let mut uses = BTreeSet::new();
            walk(tokens, &module, &modules, &mut uses);
            Source { file, module, uses }
        })
        .collect()
}

/// Collects the paths in `tokens`, written inside module `here` (inline
/// `mod x { … }` blocks go one level down).
fn walk(
    tokens: TokenStream,
    here: &ModPath,
    modules: &BTreeSet<ModPath>,
    uses: &mut BTreeSet<ModPath>,
) {
    let tokens: Vec<TokenTree> = tokens.into_iter().collect();
    for (i, token) in tokens.iter().enumerate() {
        match token {
            TokenTree::Group(group) => {
                // `mod name { … }`: an inline module.
                let before = |n: usize| i.checked_sub(n).map(|j| &tokens[j]);
                let inline = match (before(2), before(1)) {
                    (Some(TokenTree::Ident(m)), Some(TokenTree::Ident(name)))
                        if m == "mod" && group.delimiter() == Delimiter::Brace =>
                    {
                        Some(name.to_string())
                    }
                    _ => None,
                };
                match inline {
                    Some(name) => {
                        let mut inner = here.clone();
                        inner.push(name);
                        walk(group.stream(), &inner, modules, uses);
                    }
                    None => walk(group.stream(), here, modules, uses),
                }
            }
            TokenTree::Ident(ident) => {
                // Only the first segment of a path: not after `::`.
                if i >= 2 && is_path_sep(&tokens, i - 2) {
                    continue;
                }
                let start = match ident.to_string().as_str() {
                    "crate" => Vec::new(),
                    "super" | "self" => here.clone(),
                    _ => {
                        // A path through a child module, e.g. `state::X`.
                        let mut child = here.clone();
                        child.push(ident.to_string());
                        if !modules.contains(&child) || !is_path_sep(&tokens, i + 1) {
                            continue;
                        }
                        uses.insert(child.clone());
                        follow(&tokens[i + 1..], child, modules, uses);
                        continue;
                    }
                };
                if ident == "super" {
                    if !is_path_sep(&tokens, i + 1) {
                        continue; // `pub(super)`
                    }
                    let mut at = start;
                    at.pop();
                    follow_supers(&tokens[i + 1..], at, modules, uses);
                } else if is_path_sep(&tokens, i + 1) {
                    follow(&tokens[i + 1..], start, modules, uses);
                }
            }
            _ => {}
        }
    }
}

/// `::super::super::x…` after a first `super`: climbs, then follows.
fn follow_supers(
    rest: &[TokenTree],
    mut at: ModPath,
    modules: &BTreeSet<ModPath>,
    uses: &mut BTreeSet<ModPath>,
) {
    let mut rest = rest;
    while is_path_sep(rest, 0) && matches!(rest.get(2), Some(TokenTree::Ident(s)) if s == "super") {
        at.pop();
        rest = &rest[2..][1..];
    }
    follow(rest, at, modules, uses);
}

/// Follows `::a::b::{c, d::e}` from module `at`, as far as the segments
/// are modules; records the deepest module each branch reaches.
fn follow(
    rest: &[TokenTree],
    at: ModPath,
    modules: &BTreeSet<ModPath>,
    uses: &mut BTreeSet<ModPath>,
) {
    if !is_path_sep(rest, 0) {
        uses.insert(at);
        return;
    }
    match rest.get(2) {
        Some(TokenTree::Ident(name)) => {
            let mut next = at.clone();
            next.push(name.to_string());
            if modules.contains(&next) {
                follow(&rest[3..], next, modules, uses);
            } else {
                // An item of `at` (or a module declared inline: `at` still).
                uses.insert(at);
            }
        }
        Some(TokenTree::Group(group)) if group.delimiter() == Delimiter::Brace => {
            let items: Vec<TokenTree> = group.stream().into_iter().collect();
            for item in items.split(|t| matches!(t, TokenTree::Punct(p) if p.as_char() == ',')) {
                match item.first() {
                    Some(TokenTree::Ident(name)) if name == "self" => {
                        uses.insert(at.clone());
                    }
                    Some(TokenTree::Ident(name)) => {
                        let mut next = at.clone();
                        next.push(name.to_string());
                        if modules.contains(&next) {
                            follow(&item[1..], next, modules, uses);
                        } else {
                            uses.insert(at.clone());
                        }
                    }
                    _ => {}
                }
            }
        }
        _ => {
            uses.insert(at);
        }
    }
}

/// `tokens[i..]` starts with `::`.
fn is_path_sep(tokens: &[TokenTree], i: usize) -> bool {
    matches!(
        (tokens.get(i), tokens.get(i + 1)),
        (Some(TokenTree::Punct(a)), Some(TokenTree::Punct(b)))
            if a.as_char() == ':' && a.spacing() == Spacing::Joint && b.as_char() == ':'
    )
}

/// The top-level module of a module path (`main` for the crate root).
fn top(module: &ModPath) -> &str {
    module.first().map_or("main", String::as_str)
}

/// Dependencies between top-level modules, each with a file that has it.
fn top_level_graph(sources: &[Source]) -> BTreeMap<(String, String), PathBuf> {
    let mut edges = BTreeMap::new();
    for source in sources {
        let from = top(&source.module);
        for used in &source.uses {
            let to = top(used);
            if to != from && !used.is_empty() {
                edges
                    .entry((from.to_owned(), to.to_owned()))
                    .or_insert_with(|| source.file.clone());
            }
        }
    }
    edges
}

/// The strongly connected parts of more than one node: the circles.
fn circles<'a>(edges: impl Iterator<Item = (&'a str, &'a str)>) -> Vec<Vec<&'a str>> {
    let graph: DiGraphMap<&str, ()> = edges.map(|(a, b)| (a, b, ())).collect();
    tarjan_scc(&graph)
        .into_iter()
        .filter(|part| part.len() > 1)
        .map(|mut part| {
            part.sort();
            part
        })
        .collect()
}

fn relative(file: &Path) -> String {
    file.strip_prefix(src().parent().unwrap())
        .unwrap_or(file)
        .display()
        .to_string()
}

#[test]
fn every_module_uses_only_lower_layers() {
    let layer_of: BTreeMap<&str, usize> = LAYERS
        .iter()
        .enumerate()
        .flat_map(|(rank, modules)| modules.iter().map(move |m| (*m, rank)))
        .collect();
    let sources = sources();
    let mut wrong = Vec::new();
    for source in &sources {
        let module = top(&source.module);
        if !layer_of.contains_key(module) {
            wrong.push(format!(
                "{module} ({}) has no layer in LAYERS",
                relative(&source.file)
            ));
        }
    }
    for ((from, to), file) in top_level_graph(&sources) {
        let (Some(a), Some(b)) = (layer_of.get(from.as_str()), layer_of.get(to.as_str())) else {
            continue;
        };
        if b >= a {
            wrong.push(format!(
                "{from} uses {to} ({}): {to} is not in a lower layer",
                relative(&file)
            ));
        }
    }
    wrong.dedup();
    assert!(
        wrong.is_empty(),
        "upward or sideways dependencies:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn no_circles_between_top_level_modules() {
    let edges = top_level_graph(&sources());
    let found = circles(edges.keys().map(|(a, b)| (a.as_str(), b.as_str())));
    assert!(
        found.is_empty(),
        "modules that depend on each other: {found:?}"
    );
}

#[test]
fn no_circles_inside_run_watch_and_recorder() {
    let sources = sources();
    for &module in NO_INNER_CIRCLES {
        // A file's node: its module one level below `module` (a `mod.rs`
        // is `module` itself).
        let node = |path: &ModPath| path.get(..2).map_or(module.to_owned(), |p| p.join("::"));
        let mut edges = BTreeSet::new();
        for source in sources.iter().filter(|s| top(&s.module) == module) {
            let from = node(&source.module);
            for used in source.uses.iter().filter(|u| top(u) == module) {
                let to = node(used);
                if to != from {
                    edges.insert((from.clone(), to));
                }
            }
        }
        let found = circles(edges.iter().map(|(a, b)| (a.as_str(), b.as_str())));
        assert!(
            found.is_empty(),
            "files of {module} that depend on each other: {found:?}"
        );
    }
}

/// The extraction itself, on paths written every way the runner does.
#[test]
fn paths_are_read_every_way_they_are_written() {
    let modules: BTreeSet<ModPath> = [
        vec!["a"],
        vec!["a", "x"],
        vec!["b"],
        vec!["b", "y"],
        vec!["c"],
        vec!["d"],
        vec!["e"],
    ]
    .into_iter()
    .map(|m| m.into_iter().map(str::to_owned).collect())
    .collect();
    let text = r#"
        //! crate::e in a comment is not a use
        use crate::{b::{self, y::Thing}, c};
        use super::x::Other;
        fn f() { tracing::info!("{}", crate::d::name()); let s = "crate::e"; }
        mod tests { use super::*; use super::super::super::b::Y; }
        pub(super) fn g() {}
    "#;
    let mut uses = BTreeSet::new();
    let here: ModPath = vec!["a".into(), "x".into()];
    walk(
        TokenStream::from_str(text).unwrap(),
        &here,
        &modules,
        &mut uses,
    );
    let found: Vec<String> = uses.iter().map(|m| m.join("::")).collect();
    assert_eq!(found, ["a::x", "b", "b::y", "c", "d"]);
}

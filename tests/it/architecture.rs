//! The shape of the crate, read from its sources: no circle of dependencies between its
//! top-level modules (nor between the modules inside `github`), and a pure core (`features`,
//! `model`, `labels`) that reaches no async runtime, database, GitHub client or web framework,
//! neither itself nor through the modules it uses.
//!
//! A dependency is a path that names another module: `crate::x::…` or `super::…::x::…`, in a
//! `use` or anywhere in code (`crate::{a, b::c}` names both `a` and `b`). Comments and string
//! literals are not code.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The pure core and what it must not reach.
const PURE: [&str; 3] = ["features", "model", "labels"];
const FORBIDDEN_CRATES: [&str; 4] = ["tokio", "sqlx", "octocrab", "axum"];
/// Modules whose submodules form a graph of their own that must have no circle either.
const CHECKED_INSIDE: [&str; 1] = ["github"];

#[test]
fn no_module_depends_on_itself() {
    let crate_graph = CrateGraph::read(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
    let mut found = crate_graph.top.cycles();
    for (module, graph) in &crate_graph.inside {
        found.extend(
            graph
                .cycles()
                .into_iter()
                .map(|c| format!("inside {module}: {c}")),
        );
    }
    assert!(
        found.is_empty(),
        "module dependency cycles:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_pure_core_reaches_no_runtime_database_github_client_or_web_framework() {
    let crate_graph = CrateGraph::read(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
    let problems = crate_graph.impure_core();
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The checker finds what it must and nothing else: a circle planted in a small crate, paths
/// in groups and through `super`, and no paths in comments or strings.
#[test]
fn the_checker_sees_circles_and_only_code() {
    let dir = tempfile::tempdir().unwrap();
    let write = |path: &str, text: &str| {
        let path = dir.path().join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    };
    write(
        "lib.rs",
        "pub mod a;\npub mod b;\npub mod c;\npub mod model;\npub mod github;\n",
    );
    write(
        "a.rs",
        "use crate::{b::{self, X}, model};\n// crate::c::Y is only a comment\nfn f() { let _ = \"crate::c::Z\"; let _ = '\"'; }\n",
    );
    write("b/mod.rs", "mod inner;\n");
    write("b/inner.rs", "fn g() -> super::super::c::T { todo!() }\n");
    write(
        "c.rs",
        "/* crate::model::M */\nmod tests {\n    use super::*;\n    fn h() { crate::a::f(); }\n}\n",
    );
    write("model/mod.rs", "pub mod score;\n");
    write(
        "model/score.rs",
        "use super::super::b; fn s() { let _ = r#\"sqlx::x \"# ; }\n",
    );
    write(
        "github/mod.rs",
        "pub mod auth;\npub mod client;\npub use client::Api;\n",
    );
    write("github/auth.rs", "use crate::github::Api;\n");
    write("github/client.rs", "use super::auth::Tokens;\n");

    let graph = CrateGraph::read(dir.path());
    let edges: BTreeSet<(String, String)> = graph.top.edges.keys().cloned().collect();
    let edge = |a: &str, b: &str| (a.to_string(), b.to_string());
    assert_eq!(
        edges,
        BTreeSet::from([
            edge("a", "b"),
            edge("a", "model"),
            edge("b", "c"),
            edge("c", "a"),
            edge("model", "b"),
        ])
    );
    let cycles = graph.top.cycles();
    assert_eq!(
        cycles.len(),
        2,
        "a -> b -> c -> a and a -> model -> b -> c -> a: {cycles:#?}"
    );
    assert!(cycles[0].starts_with("a -> b -> c -> a ("), "{}", cycles[0]);
    assert!(
        cycles[0].contains("b/inner.rs:1 super::super::c"),
        "{}",
        cycles[0]
    );
    let inside = graph.inside["github"].cycles();
    assert_eq!(inside.len(), 1, "{inside:#?}");
    assert!(
        inside[0].starts_with("auth -> client -> auth ("),
        "{}",
        inside[0]
    );

    write(
        "model/score.rs",
        "use super::super::b;\nfn s() { tokio::spawn(async {}); }\n",
    );
    write("b/mod.rs", "use sqlx::Pool;\n");
    let problems = CrateGraph::read(dir.path()).impure_core();
    assert_eq!(problems.len(), 2, "{problems:#?}");
    assert!(
        problems[0].contains("model/score.rs:2 uses tokio"),
        "{problems:#?}"
    );
    assert!(
        problems[1].contains("model reaches b") && problems[1].contains("b/mod.rs:1 uses sqlx"),
        "{problems:#?}"
    );
}

/// Where a dependency was seen: `file:line path`.
type Evidence = String;

#[derive(Default)]
struct Graph {
    nodes: BTreeSet<String>,
    edges: BTreeMap<(String, String), Evidence>,
}

impl Graph {
    fn add(&mut self, from: &str, to: &str, evidence: impl FnOnce() -> Evidence) {
        if from != to {
            self.edges
                .entry((from.to_string(), to.to_string()))
                .or_insert_with(evidence);
        }
    }

    fn next<'g>(&'g self, from: &'g str) -> impl Iterator<Item = &'g str> + 'g {
        self.edges
            .keys()
            .filter(move |(a, _)| a == from)
            .map(|(_, b)| b.as_str())
    }

    /// Every elementary cycle once, starting from its smallest module, with the evidence of
    /// each of its steps.
    fn cycles(&self) -> Vec<String> {
        let mut out = Vec::new();
        for start in &self.nodes {
            let mut path = vec![start.as_str()];
            self.cycles_from(start, &mut path, &mut out);
        }
        out
    }

    fn cycles_from<'g>(&'g self, start: &str, path: &mut Vec<&'g str>, out: &mut Vec<String>) {
        let last = *path.last().unwrap();
        for next in self.next(last) {
            if next == start {
                let mut steps: Vec<&str> = path.clone();
                steps.push(start);
                let why: Vec<String> = steps
                    .windows(2)
                    .map(|w| self.edges[&(w[0].to_string(), w[1].to_string())].clone())
                    .collect();
                out.push(format!("{} ({})", steps.join(" -> "), why.join("; ")));
            } else if next > start && !path.contains(&next) {
                path.push(next);
                self.cycles_from(start, path, out);
                path.pop();
            }
        }
    }

    /// Modules reachable from `from`, each with the path that reaches it.
    fn reachable(&self, from: &str) -> BTreeMap<String, Vec<String>> {
        let mut seen: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut queue = vec![vec![from.to_string()]];
        while let Some(path) = queue.pop() {
            let last = path.last().unwrap().clone();
            for next in self.next(&last) {
                if next != from && !seen.contains_key(next) {
                    let mut longer = path.clone();
                    longer.push(next.to_string());
                    seen.insert(next.to_string(), longer.clone());
                    queue.insert(0, longer);
                }
            }
        }
        seen
    }
}

struct CrateGraph {
    /// Between the crate's top-level modules.
    top: Graph,
    /// Between the submodules of each module in [`CHECKED_INSIDE`].
    inside: BTreeMap<String, Graph>,
    /// Forbidden crates each top-level module names, with where.
    crates: BTreeMap<String, Vec<Evidence>>,
}

impl CrateGraph {
    fn read(src: &Path) -> CrateGraph {
        let mut files = Vec::new();
        rust_files(src, &mut files);
        let modules: Vec<(Vec<String>, PathBuf)> = files
            .into_iter()
            .filter_map(|f| Some((module_of(src, &f)?, f)))
            .collect();
        let top_level: BTreeSet<String> = modules
            .iter()
            .filter(|(m, _)| m.len() == 1)
            .map(|(m, _)| m[0].clone())
            .collect();
        let mut graph = CrateGraph {
            top: Graph {
                nodes: top_level.clone(),
                ..Graph::default()
            },
            inside: BTreeMap::new(),
            crates: BTreeMap::new(),
        };
        // What each checked module re-exports, by name: `pub use auth::Tokens` in
        // `github/mod.rs` makes `crate::github::Tokens` a path into `github::auth`.
        let mut reexports: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        for outer in CHECKED_INSIDE {
            let children: BTreeSet<String> = modules
                .iter()
                .filter(|(m, _)| m.len() == 2 && m[0] == outer)
                .map(|(m, _)| m[1].clone())
                .collect();
            let mut names = BTreeMap::new();
            if let Some((_, file)) = modules.iter().find(|(m, _)| m.len() == 1 && m[0] == outer) {
                let tokens = tokenize(&code_only(&std::fs::read_to_string(file).unwrap()));
                for i in 0..tokens.len().saturating_sub(1) {
                    if tokens[i].is("pub") && tokens[i + 1].is("use") {
                        let mut paths = Vec::new();
                        parse_tree(&tokens, i + 2, &[], &mut paths);
                        for p in paths {
                            if p.len() >= 2 && children.contains(&p[0]) {
                                names.insert(p.last().unwrap().clone(), p[0].clone());
                            }
                        }
                    }
                }
            }
            reexports.insert(outer.to_string(), names);
            graph.inside.insert(
                outer.to_string(),
                Graph {
                    nodes: children,
                    ..Graph::default()
                },
            );
        }

        for (module, file) in &modules {
            let shown = file.strip_prefix(src).unwrap_or(file).display().to_string();
            let tokens = tokenize(&code_only(&std::fs::read_to_string(file).unwrap()));
            for found in references(module, &tokens) {
                let evidence = || format!("{shown}:{} {}", found.line, found.text);
                match found.target {
                    Target::Module(target) => {
                        let (Some(from), Some(to)) = (module.first(), target.first()) else {
                            continue;
                        };
                        if top_level.contains(to) {
                            graph.top.add(from, to, evidence);
                        }
                        if from == to && module.len() >= 2 && target.len() >= 2 {
                            if let Some(inner) = graph.inside.get_mut(from) {
                                let to_child = if inner.nodes.contains(&target[1]) {
                                    Some(&target[1])
                                } else {
                                    reexports[from].get(&target[1])
                                };
                                if let Some(to_child) = to_child {
                                    inner.add(&module[1], to_child, evidence);
                                }
                            }
                        }
                    }
                    Target::Crate(name) => {
                        if let Some(from) = module.first() {
                            graph
                                .crates
                                .entry(from.clone())
                                .or_default()
                                .push(format!("{shown}:{} uses {name}", found.line));
                        }
                    }
                }
            }
        }
        graph
    }

    /// How the pure core reaches a forbidden crate, itself or through a module it uses.
    fn impure_core(&self) -> Vec<String> {
        let mut problems = Vec::new();
        for pure in PURE {
            for evidence in self.crates.get(pure).into_iter().flatten() {
                problems.push(format!("{pure}: {evidence}"));
            }
            for (module, path) in self.top.reachable(pure) {
                if let Some(evidence) = self.crates.get(&module).and_then(|e| e.first()) {
                    let steps: Vec<String> = path
                        .windows(2)
                        .map(|w| self.top.edges[&(w[0].clone(), w[1].clone())].clone())
                        .collect();
                    problems.push(format!(
                        "{pure} reaches {module} ({}), and {evidence}",
                        steps.join("; ")
                    ));
                }
            }
        }
        problems
    }
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The module a file holds: `src/a/b.rs` and `src/a/b/mod.rs` hold `a::b`, `src/lib.rs` the
/// crate root. `src/main.rs` is the binary, outside the library.
fn module_of(src: &Path, file: &Path) -> Option<Vec<String>> {
    let relative = file.strip_prefix(src).ok()?.with_extension("");
    let mut parts: Vec<String> = relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    match parts.as_slice() {
        [only] if only == "main" => return None,
        [only] if only == "lib" => return Some(Vec::new()),
        _ => {}
    }
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    Some(parts)
}

/// The code of a Rust source with comments, strings and character literals blanked out
/// (newlines kept, so lines still count).
fn code_only(source: &str) -> String {
    let chars: Vec<char> = source.chars().collect();
    let mut out = String::with_capacity(source.len());
    let blank = |out: &mut String, c: char| out.push(if c == '\n' { '\n' } else { ' ' });
    let ident = |c: char| c.is_alphanumeric() || c == '_';
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                blank(&mut out, chars[i]);
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    out.push_str("  ");
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    blank(&mut out, chars[i]);
                    i += 1;
                }
            }
        } else if c == 'r'
            && (i == 0
                || !ident(chars[i - 1])
                || (chars[i - 1] == 'b' && (i < 2 || !ident(chars[i - 2]))))
            && matches!(next, Some('"' | '#'))
        {
            // A raw string, r"…" or r#"…"#; `r#ident` is a raw identifier.
            let hashes = chars[i + 1..].iter().take_while(|&&c| c == '#').count();
            if chars.get(i + 1 + hashes) != Some(&'"') {
                out.push(c);
                i += 1;
                continue;
            }
            let close: Vec<char> = std::iter::once('"')
                .chain(std::iter::repeat_n('#', hashes))
                .collect();
            let mut j = i + 2 + hashes;
            while j < chars.len() && chars[j..].iter().take(close.len()).ne(close.iter()) {
                j += 1;
            }
            let end = (j + close.len()).min(chars.len());
            for &ch in &chars[i..end] {
                blank(&mut out, ch);
            }
            i = end;
        } else if c == '"' {
            blank(&mut out, c);
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                let step = if chars[i] == '\\' { 2 } else { 1 };
                for &ch in chars.iter().skip(i).take(step) {
                    blank(&mut out, ch);
                }
                i += step;
            }
            if i < chars.len() {
                blank(&mut out, chars[i]);
                i += 1;
            }
        } else if c == '\'' && next == Some('\\') {
            // An escaped character literal: '\n', '\'', '\u{1F600}'.
            let mut j = i + 3;
            while j < chars.len() && chars[j] != '\'' {
                j += 1;
            }
            let end = (j + 1).min(chars.len());
            for &ch in &chars[i..end] {
                blank(&mut out, ch);
            }
            i = end;
        } else if c == '\'' && chars.get(i + 2) == Some(&'\'') {
            // A character literal such as '"'; otherwise a lifetime or a label.
            out.push_str("   ");
            i += 3;
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    PathSep,
    Open,
    Close,
    Comma,
    Other(char),
}

#[derive(Debug, Clone)]
struct Token {
    tok: Tok,
    line: usize,
}

impl Token {
    fn is(&self, word: &str) -> bool {
        matches!(&self.tok, Tok::Ident(w) if w == word)
    }
}

fn tokenize(code: &str) -> Vec<Token> {
    let chars: Vec<char> = code.chars().collect();
    let mut out = Vec::new();
    let (mut i, mut line) = (0, 1);
    while i < chars.len() {
        let c = chars[i];
        if c == '\n' {
            line += 1;
            i += 1;
            continue;
        }
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        if c.is_alphanumeric() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let tok = if c.is_ascii_digit() {
                Tok::Other('0')
            } else {
                Tok::Ident(word)
            };
            out.push(Token { tok, line });
            continue;
        }
        let tok = match c {
            ':' if chars.get(i + 1) == Some(&':') => {
                i += 1;
                Tok::PathSep
            }
            '{' => Tok::Open,
            '}' => Tok::Close,
            ',' => Tok::Comma,
            other => Tok::Other(other),
        };
        i += 1;
        out.push(Token { tok, line });
    }
    out
}

/// Parses a use tree (or a plain path) at `at` below `prefix`: `a::b`, `a::{b, c::d}`,
/// `a::*`, `a as b`. Returns where it stopped.
fn parse_tree(
    tokens: &[Token],
    mut at: usize,
    prefix: &[String],
    out: &mut Vec<Vec<String>>,
) -> usize {
    match tokens.get(at).map(|t| &t.tok) {
        Some(Tok::Ident(first)) => {
            let mut path = prefix.to_vec();
            path.push(first.clone());
            at += 1;
            while tokens.get(at).map(|t| &t.tok) == Some(&Tok::PathSep) {
                match tokens.get(at + 1).map(|t| &t.tok) {
                    Some(Tok::Ident(next)) => {
                        path.push(next.clone());
                        at += 2;
                    }
                    Some(Tok::Open) => return parse_group(tokens, at + 1, &path, out),
                    Some(Tok::Other('*')) => {
                        at += 2;
                        break;
                    }
                    _ => break,
                }
            }
            if tokens.get(at).is_some_and(|t| t.is("as")) {
                at += 2;
            }
            if path.last().is_some_and(|p| p == "self") {
                path.pop();
            }
            out.push(path);
            at
        }
        Some(Tok::Open) => parse_group(tokens, at, prefix, out),
        _ => at,
    }
}

fn parse_group(
    tokens: &[Token],
    mut at: usize,
    prefix: &[String],
    out: &mut Vec<Vec<String>>,
) -> usize {
    at += 1; // the `{`
    loop {
        if tokens.get(at).map(|t| &t.tok) == Some(&Tok::Other('*')) {
            out.push(prefix.to_vec());
            at += 1;
        } else {
            at = parse_tree(tokens, at, prefix, out);
        }
        match tokens.get(at).map(|t| &t.tok) {
            Some(Tok::Comma) => at += 1,
            Some(Tok::Close) => return at + 1,
            _ => return at,
        }
        if tokens.get(at).map(|t| &t.tok) == Some(&Tok::Close) {
            return at + 1;
        }
    }
}

enum Target {
    /// A module path, from the crate root.
    Module(Vec<String>),
    /// A forbidden external crate.
    Crate(&'static str),
}

struct Reference {
    line: usize,
    text: String,
    target: Target,
}

/// Every path in `tokens` (the code of the file holding `module`) that names a module of the
/// crate from its root or through `super`, and every use of a forbidden crate.
fn references(module: &[String], tokens: &[Token]) -> Vec<Reference> {
    let mut out = Vec::new();
    // Inline modules (`mod tests { … }`) open at a brace depth.
    let mut inline: Vec<(String, usize)> = Vec::new();
    let mut depth: usize = 0;
    for i in 0..tokens.len() {
        let prev = i.checked_sub(1).map(|p| &tokens[p].tok);
        let sep_after = |k: usize| tokens.get(k).map(|t| &t.tok) == Some(&Tok::PathSep);
        match &tokens[i].tok {
            Tok::Open => depth += 1,
            Tok::Close => {
                depth = depth.saturating_sub(1);
                if inline.last().is_some_and(|(_, d)| *d == depth) {
                    inline.pop();
                }
            }
            Tok::Ident(w) if w == "mod" => {
                if let (Some(Tok::Ident(name)), Some(Tok::Open)) = (
                    tokens.get(i + 1).map(|t| &t.tok),
                    tokens.get(i + 2).map(|t| &t.tok),
                ) {
                    inline.push((name.clone(), depth));
                }
            }
            _ => {}
        }
        if prev == Some(&Tok::PathSep) {
            continue; // inside a path, not at its start
        }
        let Tok::Ident(word) = &tokens[i].tok else {
            continue;
        };
        if let Some(name) = FORBIDDEN_CRATES.iter().find(|c| *c == word) {
            let after_use = i > 0 && (tokens[i - 1].is("use") || tokens[i - 1].is("crate"));
            if sep_after(i + 1) || after_use {
                out.push(Reference {
                    line: tokens[i].line,
                    text: word.clone(),
                    target: Target::Crate(name),
                });
            }
            continue;
        }
        let (base, at, shown): (Vec<String>, usize, String) = if word == "crate" && sep_after(i + 1)
        {
            (Vec::new(), i + 2, "crate".into())
        } else if word == "super" && sep_after(i + 1) {
            let mut here: Vec<String> = module.to_vec();
            here.extend(inline.iter().map(|(n, _)| n.clone()));
            let mut at = i;
            let mut shown = Vec::new();
            while tokens.get(at).is_some_and(|t| t.is("super")) && sep_after(at + 1) {
                if here.pop().is_none() {
                    break;
                }
                shown.push("super");
                at += 2;
            }
            (here, at, shown.join("::"))
        } else {
            continue;
        };
        let mut paths = Vec::new();
        parse_tree(tokens, at, &base, &mut paths);
        for path in paths {
            let rest = path[base.len()..].join("::");
            out.push(Reference {
                line: tokens[i].line,
                text: if rest.is_empty() {
                    shown.clone()
                } else {
                    format!("{shown}::{rest}")
                },
                target: Target::Module(path),
            });
        }
    }
    out
}

//! Hostile input: arbitrary and mutated real bytes thrown at every parser a user, a repository
//! or GitHub can hand riskgate. Each parser must answer with a value or an error that says
//! what is wrong, never panic, and never allocate far beyond what its input holds.
//!
//! Each property runs [`DEFAULT_CASES`] cases; `PROPTEST_CASES=N` runs N
//! (`scripts/fuzz.sh` runs a long campaign in release mode).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::Value;

use riskgate::config::{RepoConfig, MAX_CONFIG_BYTES, MAX_ENTRY_BYTES, MAX_LIST_ENTRIES};
use riskgate::features::coverage::{coverage_delta, CoverageReport};
use riskgate::github::events::EVENTS_READ;
use riskgate::github::events::{parse_event, Event};
use riskgate::github::webhook::{sign, verify_signature, Signature, SignatureError};
use riskgate::labels::incident_input::{incidents_from_csv, incidents_from_json};
use riskgate::mining::identity::Identities;
use riskgate::mining::pack::{BlobRead, Packs, TreeData};
use riskgate::model::dataset::Dataset;

use crate::support::commit_with_author;

const DEFAULT_CASES: u32 = 64;

fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(DEFAULT_CASES);
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

// --- the largest single allocation a parser makes ---

/// The system allocator, noting per thread the largest block asked for.
struct Tracking;

thread_local! {
    static LARGEST: Cell<usize> = const { Cell::new(0) };
    static TOTAL: Cell<usize> = const { Cell::new(0) };
}

fn note(size: usize) {
    let _ = LARGEST.try_with(|l| {
        if size > l.get() {
            l.set(size);
        }
    });
    let _ = TOTAL.try_with(|t| t.set(t.get().saturating_add(size)));
}

unsafe impl GlobalAlloc for Tracking {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Tracking = Tracking;

/// `f()`, and the largest block allocated on this thread while it ran.
fn largest_allocation<T>(f: impl FnOnce() -> T) -> (T, usize) {
    LARGEST.with(|l| l.set(0));
    let out = f();
    (out, LARGEST.with(Cell::get))
}

/// `f()`, and the bytes allocated on this thread while it ran, all blocks together (a block
/// grown counts again at its new size).
fn total_allocation<T>(f: impl FnOnce() -> T) -> (T, usize) {
    TOTAL.with(|t| t.set(0));
    let out = f();
    (out, TOTAL.with(Cell::get))
}

/// What a parser may allocate at once for `input` bytes: a few copies of it, plus slack.
fn allowance(input: usize) -> usize {
    16 * input + (1 << 20)
}

// --- mutations of real samples ---

#[derive(Debug, Clone)]
enum Mutation {
    Flip(Index, u8),
    Set(Index, u8),
    Insert(Index, Vec<u8>),
    Token(Index, Index),
    Delete(Index, u16),
    Repeat(Index, u8, u8),
    Truncate(Index),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<Index>(), 1..=255u8).prop_map(|(i, m)| Mutation::Flip(i, m)),
        (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Mutation::Set(i, b)),
        (any::<Index>(), prop::collection::vec(any::<u8>(), 1..16))
            .prop_map(|(i, b)| Mutation::Insert(i, b)),
        (any::<Index>(), any::<Index>()).prop_map(|(i, t)| Mutation::Token(i, t)),
        (any::<Index>(), 1..512u16).prop_map(|(i, n)| Mutation::Delete(i, n)),
        (any::<Index>(), 1..64u8, 1..32u8).prop_map(|(i, n, k)| Mutation::Repeat(i, n, k)),
        any::<Index>().prop_map(Mutation::Truncate),
    ]
}

fn apply(data: &mut Vec<u8>, m: &Mutation, dict: &[&[u8]]) {
    let at = |i: &Index, len: usize| i.index(len + 1);
    match m {
        Mutation::Flip(i, mask) if !data.is_empty() => {
            let p = i.index(data.len());
            data[p] ^= mask;
        }
        Mutation::Set(i, b) if !data.is_empty() => {
            let p = i.index(data.len());
            data[p] = *b;
        }
        Mutation::Insert(i, bytes) => {
            let p = at(i, data.len());
            data.splice(p..p, bytes.iter().copied());
        }
        Mutation::Token(i, t) if !dict.is_empty() => {
            let p = at(i, data.len());
            let token = dict[t.index(dict.len())];
            data.splice(p..p, token.iter().copied());
        }
        Mutation::Delete(i, n) => {
            let p = at(i, data.len());
            let end = (p + usize::from(*n)).min(data.len());
            data.drain(p..end);
        }
        Mutation::Repeat(i, n, k) if !data.is_empty() => {
            let p = i.index(data.len());
            let end = (p + usize::from(*n)).min(data.len());
            let piece = data[p..end].to_vec();
            for _ in 0..*k {
                data.splice(end..end, piece.iter().copied());
            }
        }
        Mutation::Truncate(i) => {
            let p = at(i, data.len());
            data.truncate(p);
        }
        _ => {}
    }
}

/// One of `seeds` with a few mutations, some of them splicing in tokens of `dict`.
fn mutated(
    seeds: &'static [&'static [u8]],
    dict: &'static [&'static [u8]],
) -> impl Strategy<Value = Vec<u8>> {
    (0..seeds.len(), prop::collection::vec(mutation(), 1..8)).prop_map(move |(i, ms)| {
        let mut data = seeds[i].to_vec();
        for m in &ms {
            apply(&mut data, m, dict);
        }
        data
    })
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

// --- JSON values edited in place: the right syntax with the wrong content ---

#[derive(Debug, Clone)]
enum Edit {
    Replace(Index, Value),
    Remove(Index),
    Wrap(Index),
}

fn interesting_string() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "",
            " ",
            "/",
            "a/",
            "/b",
            "owner/name",
            "owner/name/extra",
            "é",
            "\u{0}",
            "null",
            "opened",
            "synchronize",
            "closed",
            "created",
            "labeled",
            "unlabeled",
            "submitted",
            "rerequested",
            "requested_action",
            "completed",
            "checks_requested",
            "added",
            "removed",
            "refs/heads/main",
            "refs/heads/../x",
            "refs/heads/a@{b",
            "2024-01-01T00:00:00Z",
            "2024-02-30T25:61:61Z",
            "0000-00-00T00:00:00Z",
            "9999-12-31T23:59:60.999999999+00:00",
            "2024-01-01",
            "2024-01-01 10:00:00",
            "1700000000",
            "-1",
            "99999999999999999999",
            "#42",
            "https://github.com/o/r/pull/7",
            "0123456789abcdef0123456789abcdef01234567",
            "ABCDEF1",
            "This reverts commit 0123456789abcdef0123456789abcdef01234567.",
        ])
        .prop_map(str::to_string),
        "\\PC{0,40}",
    ]
}

fn json_leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        interesting_string().prop_map(Value::from),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    json_leaf().prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
            prop::collection::btree_map(interesting_string(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        3 => (any::<Index>(), json_value()).prop_map(|(i, v)| Edit::Replace(i, v)),
        1 => any::<Index>().prop_map(Edit::Remove),
        1 => any::<Index>().prop_map(Edit::Wrap),
    ]
}

/// JSON pointers of every node of `v`, the root first.
fn pointers(v: &Value) -> Vec<String> {
    fn walk(v: &Value, at: String, out: &mut Vec<String>) {
        out.push(at.clone());
        match v {
            Value::Array(a) => {
                for (i, x) in a.iter().enumerate() {
                    walk(x, format!("{at}/{i}"), out);
                }
            }
            Value::Object(o) => {
                for (k, x) in o {
                    let k = k.replace('~', "~0").replace('/', "~1");
                    walk(x, format!("{at}/{k}"), out);
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(v, String::new(), &mut out);
    out
}

fn apply_edit(root: &mut Value, e: &Edit) {
    let all = pointers(root);
    let pick = |i: &Index| all[i.index(all.len())].clone();
    match e {
        Edit::Replace(i, v) => {
            if let Some(node) = root.pointer_mut(&pick(i)) {
                *node = v.clone();
            }
        }
        Edit::Wrap(i) => {
            if let Some(node) = root.pointer_mut(&pick(i)) {
                *node = Value::Array(vec![node.take()]);
            }
        }
        Edit::Remove(i) => {
            let p = pick(i);
            let Some((parent, last)) = p.rsplit_once('/') else {
                return;
            };
            let last = last.replace("~1", "/").replace("~0", "~");
            match root.pointer_mut(parent) {
                Some(Value::Object(o)) => {
                    o.remove(&last);
                }
                Some(Value::Array(a)) => {
                    if let Ok(n) = last.parse::<usize>() {
                        if n < a.len() {
                            a.remove(n);
                        }
                    }
                }
                _ => {}
            }
        }
    }
}

/// One of `seeds` (JSON documents) with a few of its values replaced, removed or wrapped.
fn edited_json(seeds: &'static [&'static [u8]]) -> impl Strategy<Value = Vec<u8>> {
    (0..seeds.len(), prop::collection::vec(edit(), 1..6)).prop_map(move |(i, edits)| {
        let mut v: Value = serde_json::from_slice(seeds[i]).expect("seed is JSON");
        for e in &edits {
            apply_edit(&mut v, e);
        }
        serde_json::to_vec(&v).expect("serialises")
    })
}

// --- webhooks ---

const PAYLOADS: &[&[u8]] = &[
    include_bytes!("../../fixtures/github/check_run.rerequested.json"),
    include_bytes!("../../fixtures/github/installation.created.json"),
    include_bytes!("../../fixtures/github/merge_group.checks_requested.json"),
    include_bytes!("../../fixtures/github/pull_request.opened.json"),
    include_bytes!("../../fixtures/github/pull_request.synchronize.json"),
    include_bytes!("../../fixtures/github/pull_request_review.submitted.json"),
];

const JSON_TOKENS: &[&[u8]] = &[
    b"{",
    b"}",
    b"[",
    b"]",
    b"\"",
    b",",
    b":",
    b"null",
    b"true",
    b"-",
    b"1e999",
    b"\\u0000",
    b"\\ud800",
    b"\xff",
    b"\"action\":\"closed\",",
    b"\"action\":\"completed\",",
    b"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[",
];

fn event_name() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(&EVENTS_READ[..]).prop_map(str::to_string),
        1 => "\\PC{0,20}",
    ]
}

fn webhook_body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..256),
        mutated(PAYLOADS, JSON_TOKENS),
        edited_json(PAYLOADS),
        json_value().prop_map(|v| serde_json::to_vec(&v).unwrap()),
    ]
}

/// Only malformed JSON is an error; anything else is an event or a reason to ignore it.
fn check_event(name: &str, body: &[u8]) -> Result<(), TestCaseError> {
    let (parsed, largest) = largest_allocation(|| parse_event(name, body));
    prop_assert!(largest <= allowance(body.len()), "allocated {largest}");
    let is_json = serde_json::from_slice::<Value>(body).is_ok();
    match parsed {
        Ok(Event::Ignored { reason, .. }) => prop_assert!(!reason.is_empty()),
        Ok(_) => prop_assert!(is_json),
        Err(e) => {
            prop_assert!(!is_json, "valid JSON refused: {e}");
            prop_assert!(e
                .to_string()
                .starts_with("the webhook body is not valid JSON"));
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn webhook_events_never_panic(name in event_name(), body in webhook_body()) {
        check_event(&name, &body)?;
    }

    #[test]
    fn real_payloads_under_every_event_name(
        body in edited_json(PAYLOADS),
        name in prop::sample::select(&EVENTS_READ[..]),
    ) {
        check_event(name, &body)?;
    }

    #[test]
    fn signature_headers_never_panic(
        header in prop_oneof![
            "\\PC{0,80}",
            "sha256=[0-9a-fA-F]{0,70}",
            mutated(
                &[b"sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"],
                &[b"sha256=", b" ", b"\t", b"\xc3\xa9", b"0"],
            )
            .prop_map(|b| lossy(&b)),
        ],
    ) {
        let parsed = Signature::parse(Some(&header));
        let digest = header.trim().strip_prefix("sha256=");
        let well_formed =
            digest.is_some_and(|d| d.len() == 64 && d.bytes().all(|b| b.is_ascii_hexdigit()));
        prop_assert_eq!(parsed.is_ok(), well_formed, "{:?}", parsed);
        if let Err(e) = parsed {
            prop_assert!(e.to_string().contains("X-Hub-Signature-256"));
        }
    }

    #[test]
    fn signatures_match_only_their_body(
        secret in prop::collection::vec(any::<u8>(), 0..64),
        body in prop::collection::vec(any::<u8>(), 0..256),
        flip in (any::<Index>(), 1..=255u8),
    ) {
        let header = sign(&secret, &body);
        prop_assert_eq!(verify_signature(&secret, &body, Some(&header)), Ok(()));
        if !body.is_empty() {
            let mut other = body.clone();
            other[flip.0.index(body.len())] ^= flip.1;
            prop_assert_eq!(
                verify_signature(&secret, &other, Some(&header)),
                Err(SignatureError::Mismatch)
            );
        }
    }
}

// --- coverage reports ---

const COVERAGE: &[&[u8]] = &[
    include_bytes!("../../fixtures/coverage/base.info"),
    include_bytes!("../../fixtures/coverage/head.info"),
    include_bytes!("../../fixtures/coverage/head.cobertura.xml"),
    include_bytes!("../../fixtures/coverage/coverage-py.xml"),
];

const COVERAGE_TOKENS: &[&[u8]] = &[
    b"SF:",
    b"DA:",
    b"end_of_record\n",
    b"\n",
    b",",
    b"-",
    b"99999999999999999999999",
    b"<",
    b">",
    b"/>",
    b"</",
    b"<class filename=\"x\">",
    b"<lines>",
    b"<line number=\"1\" hits=\"1\"/>",
    b"<source>",
    b"</source>",
    b"<![CDATA[",
    b"]]>",
    b"&amp;",
    b"&#0;",
    b"&#x10FFFF;",
    b"&bogus;",
    b"<!DOCTYPE x [<!ENTITY a \"aaaa\">]>",
    b"\xef\xbb\xbf",
    b"xmlns:p=\"u\" ",
    b"p:",
];

fn check_coverage(text: &str) -> Result<(), TestCaseError> {
    let (parsed, largest) = largest_allocation(|| CoverageReport::parse("report.xml", text));
    prop_assert!(largest <= allowance(text.len()), "allocated {largest}");
    match parsed {
        Ok(report) => {
            let (covered, instrumented) = report.totals();
            prop_assert!(covered <= instrumented);
            let paths: Vec<String> = report.files().map(|(p, _)| p.to_string()).collect();
            for p in paths
                .iter()
                .chain(["", "/", "src/lib.rs", "../x"].map(String::from).iter())
            {
                let _ = report.resolve_path(p);
                let _ = report.line_hits(p, 1);
            }
            let added: Vec<(String, Vec<u32>)> = paths
                .iter()
                .map(|p| (p.clone(), vec![0, 1, 2, u32::MAX]))
                .collect();
            let delta = coverage_delta(&report, &report, &added);
            if let Some(p) = delta.patch_percent {
                prop_assert!((0.0..=100.0).contains(&p));
            }
        }
        Err(e) => prop_assert!(e.to_string().starts_with("report.xml: "), "{e}"),
    }
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn coverage_reports_never_panic(
        bytes in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..256),
            mutated(COVERAGE, COVERAGE_TOKENS),
        ],
    ) {
        check_coverage(&lossy(&bytes))?;
    }

    #[test]
    fn lcov_reads_what_was_written(
        files in prop::collection::btree_map(
            "[a-z]{1,8}(/[a-z]{1,8}){0,2}\\.rs",
            prop::collection::btree_map(1..10_000u32, 0..1_000_000u64, 1..20),
            1..6,
        ),
    ) {
        let mut text = String::from("TN:\n");
        for (path, lines) in &files {
            text.push_str(&format!("SF:{path}\n"));
            for (line, hits) in lines {
                text.push_str(&format!("DA:{line},{hits}\n"));
            }
            text.push_str("end_of_record\n");
        }
        let report = CoverageReport::parse("lcov.info", &text).unwrap();
        prop_assert_eq!(report.file_count(), files.len());
        for (path, lines) in &files {
            for (line, hits) in lines {
                prop_assert_eq!(report.line_hits(path, *line), Some(*hits));
            }
        }
    }
}

/// Path matching as `CoverageReport::resolve_path` documents it, the plain way: every report
/// path, and every relative one joined to every `<source>` root, compared with the wanted path.
mod plain {
    use riskgate::features::coverage::CoverageReport;

    pub fn normalize(path: &str) -> String {
        let path = path.trim().replace('\\', "/");
        let absolute = path.starts_with('/');
        let mut parts: Vec<&str> = Vec::new();
        for part in path.split('/') {
            match part {
                "" | "." => {}
                ".." => {
                    if parts.last().is_some_and(|last| *last != "..") {
                        parts.pop();
                    } else if !absolute {
                        parts.push("..");
                    }
                }
                _ => parts.push(part),
            }
        }
        let joined = parts.join("/");
        if absolute {
            format!("/{joined}")
        } else {
            joined
        }
    }

    fn is_absolute(p: &str) -> bool {
        let b = p.as_bytes();
        p.starts_with('/') || (b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':')
    }

    fn file_name(p: &str) -> &str {
        p.rsplit('/').next().unwrap_or(p)
    }

    pub fn resolve<'r>(report: &'r CoverageReport, repo_path: &str) -> Option<&'r str> {
        let wanted = normalize(repo_path);
        let wanted = wanted.trim_start_matches('/');
        if wanted.is_empty() {
            return None;
        }
        let suffix = format!("/{wanted}");
        let mut best: Option<((u8, usize), &str)> = None;
        for (key, _) in report.files() {
            let own = normalize(key);
            let name = file_name(&own);
            if name.is_empty() || name != file_name(wanted) {
                continue;
            }
            let mut candidates = vec![own.clone()];
            if !is_absolute(&own) {
                for root in report.source_roots() {
                    let joined = normalize(&format!("{root}/{own}"));
                    if file_name(&joined) == name {
                        candidates.push(joined);
                    }
                }
            }
            for c in &candidates {
                let score = if c == wanted {
                    (0, c.len())
                } else if c.ends_with(&suffix) {
                    (1, c.len())
                } else {
                    continue;
                };
                if best.is_none_or(|(s, _)| score < s) {
                    best = Some((score, key));
                }
            }
        }
        best.map(|(_, key)| key)
    }
}

/// A path made of a few components likely to trip path handling.
fn tricky_path() -> impl Strategy<Value = String> {
    (
        prop::sample::select(vec!["", "/", "C:/", "./", "\\"]),
        prop::collection::vec(
            prop::sample::select(vec!["a", "b", "src", "..", ".", "", "a.rs"]),
            0..6,
        ),
        prop::sample::select(vec!["a.rs", "b.py", "..", "a", ""]),
        prop::sample::select(vec!["/", "\\"]),
    )
        .prop_map(|(start, parts, name, sep)| {
            let mut p = start.to_string();
            for part in parts {
                p.push_str(part);
                p.push_str(sep);
            }
            p.push_str(name);
            p
        })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn cobertura_paths_resolve_as_documented(
        roots in prop::collection::vec(tricky_path(), 0..5),
        files in prop::collection::vec(tricky_path(), 1..8),
        queries in prop::collection::vec(tricky_path(), 1..8),
    ) {
        let mut xml = String::from("<coverage><sources>");
        for r in &roots {
            xml.push_str(&format!("<source>{r}</source>"));
        }
        xml.push_str("</sources><packages><package><classes>");
        for f in &files {
            xml.push_str(&format!(
                "<class filename=\"{f}\"><lines><line number=\"1\" hits=\"1\"/></lines></class>"
            ));
        }
        xml.push_str("</classes></package></packages></coverage>");
        let Ok(report) = CoverageReport::parse("c.xml", &xml) else {
            // A blank file name is refused; nothing to match.
            prop_assert!(files.iter().any(|f| f.trim().is_empty()));
            return Ok(());
        };
        let written: Vec<String> = report.files().map(|(k, _)| k.to_string()).collect();
        for q in queries.iter().chain(&written).chain(&roots) {
            prop_assert_eq!(report.resolve_path(q), plain::resolve(&report, q), "{}", q);
            for r in &roots {
                let under = format!("{}/{q}", plain::normalize(r));
                prop_assert_eq!(report.resolve_path(&under), plain::resolve(&report, &under), "{}", under);
            }
        }
    }
}

// --- .github/riskgate.yml ---

const CONFIGS: &[&[u8]] = &[
    b"sensitive_paths:\n  - 'src/payments/**'\n  - \"db/**\"\nthresholds: {elevated: 0.2, high: 0.4}\nhigh_risk: neutral\ncomment: always\nskip_label: no-risk\nscore_drafts: true\ncoverage:\n  artifact: cov\n  paths: [lcov.info, coverage.xml]\n",
    b"sensitive_paths: [&g 'src/**', *g, *g]\n",
    b"# comment\nsensitive_paths:\n- a\n- b # trailing\n---\n",
    b"",
];

const YAML_TOKENS: &[&[u8]] = &[
    b"&a ",
    b"*a",
    b"[",
    b"]",
    b"{",
    b"}",
    b"- ",
    b": ",
    b"? ",
    b"<<: *a\n",
    b"!!binary ",
    b"!!str ",
    b"!tag ",
    b"---\n",
    b"...\n",
    b"\t",
    b"'",
    b"\"",
    b"\\",
    b"|\n  ",
    b">-\n  ",
    b"%YAML 1.2\n",
    b"#",
    b"\n  ",
    b",",
    b"~",
    b".inf",
    b"0x1F",
    b"1e400",
    b"\xef\xbb\xbf",
];

fn check_config(text: &str) -> Result<(), TestCaseError> {
    let ((parsed, largest), total) =
        total_allocation(|| largest_allocation(|| RepoConfig::parse(".github/riskgate.yml", text)));
    prop_assert!(largest <= allowance(text.len()), "allocated {largest}");
    // Aliases must not multiply a short file into a large value.
    prop_assert!(
        total <= 64 * text.len() + (4 << 20),
        "allocated {total} in all for {} bytes",
        text.len()
    );
    match parsed {
        Ok(c) => {
            prop_assert!(text.len() <= MAX_CONFIG_BYTES);
            prop_assert!(!c.skip_label.trim().is_empty());
            if let Some(t) = c.thresholds {
                prop_assert!(t.elevated > 0.0 && t.elevated <= t.high && t.high < 1.0);
            }
            let coverage_paths = c.coverage.iter().flat_map(|c| &c.paths);
            for list in [
                c.sensitive_paths.iter().collect::<Vec<_>>(),
                coverage_paths.collect(),
            ] {
                prop_assert!(list.len() <= MAX_LIST_ENTRIES);
                prop_assert!(list.iter().all(|e| e.len() <= MAX_ENTRY_BYTES));
            }
        }
        Err(e) => prop_assert!(e.to_string().starts_with(".github/riskgate.yml: "), "{e}"),
    }
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn repo_config_never_panics(
        bytes in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..256),
            "[-\\[\\]{}&*a-z0-9:,'\"#!|>?\\\\ \t\n]{0,300}".prop_map(String::into_bytes),
            mutated(CONFIGS, YAML_TOKENS),
        ],
    ) {
        check_config(&lossy(&bytes))?;
    }

    #[test]
    fn aliased_globs_are_read_within_limits(
        glob_len in 0..3 * MAX_ENTRY_BYTES,
        aliases in 0..MAX_LIST_ENTRIES + MAX_LIST_ENTRIES / 2,
        anchor_elsewhere in any::<bool>(),
        list in prop::sample::select(vec!["sensitive_paths", "coverage.paths"]),
    ) {
        let glob = "g".repeat(glob_len.max(1));
        let (anchor, first) = if anchor_elsewhere {
            (format!("skip_label: &g '{glob}'\n"), "*g".to_string())
        } else {
            (String::new(), format!("&g '{glob}'"))
        };
        let entries = format!("[{first}{}]", ", *g".repeat(aliases));
        let text = if list == "sensitive_paths" {
            format!("{anchor}sensitive_paths: {entries}\n")
        } else {
            format!("{anchor}coverage: {{artifact: a, paths: {entries}}}\n")
        };
        check_config(&text)?;
        let accepted = RepoConfig::parse(".github/riskgate.yml", &text).is_ok();
        prop_assert_eq!(
            accepted,
            glob.len() <= MAX_ENTRY_BYTES && aliases < MAX_LIST_ENTRIES,
            "{} bytes, {} aliases", glob.len(), aliases
        );
    }
}

// --- training data ---

const DATASETS: &[&[u8]] = &[
    include_bytes!("../../fixtures/datasets/planted.csv"),
    b"commit_id,author_date,la,ld,ns,buggy\nabc,1700000000,10,2,1,1\ndef,1700000100,NA,,2,FALSE\n",
];

const CSV_TOKENS: &[&[u8]] = &[
    b",",
    b"\n",
    b"\r\n",
    b"\"",
    b"\"\"",
    b"NA",
    b"TRUE",
    b"false",
    b"1e308",
    b"1e309",
    b"-0",
    b"NaN",
    b"inf",
    b"\xff",
    b"buggy",
    b"commit_id",
    b"author_date",
    b"la",
    b"ent",
    b"aexp",
];

proptest! {
    #![proptest_config(config())]

    #[test]
    fn datasets_never_panic(
        bytes in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..256),
            mutated(DATASETS, CSV_TOKENS),
        ],
    ) {
        let (parsed, largest) =
            largest_allocation(|| Dataset::from_reader(&bytes[..], "data.csv"));
        prop_assert!(largest <= allowance(bytes.len()), "allocated {largest}");
        match parsed {
            Ok(d) => {
                prop_assert!(!d.rows.is_empty());
                for row in &d.rows {
                    prop_assert_eq!(row.values.len(), d.names.len());
                    prop_assert!(row.values.iter().flatten().all(|v| v.is_finite()));
                }
            }
            Err(e) => prop_assert!(e.to_string().starts_with("data.csv: "), "{e}"),
        }
    }
}

// --- incidents ---

const INCIDENTS_JSON: &[&[u8]] = &[
    br##"[{"id": "INC-7", "title": "Checkout 500s", "opened_at": "2026-11-02T10:15:00Z", "resolved_at": "2026-11-02T12:00:00+01:00", "repository": "acme/shop", "environment": "production", "commit_sha": "ABCDEF1234", "pr_number": "#42", "description": "caused by #41"}]"##,
    br##"{"incidents": [{"incident_number": 12, "summary": "db down", "created_at": 1700000000, "service": {"summary": "db"}, "pull_request": "https://github.com/a/b/pull/3"}, {"key": "X-1", "name": "n", "createdAt": "2024-01-01 10:00", "repo": "a/b", "closed_at": "2024-01-02"}]}"##,
    br##"{"id": 1, "title": "t", "opened_at": "2024-01-01", "repository": "o/r"}"##,
];

const INCIDENTS_CSV: &[&[u8]] = &[
    b"id,title,opened_at,resolved_at,repository,service,commit_sha,pr_number\nINC-1,Checkout down,2026-11-02T10:15:00Z,2026-11-02T11:00:00Z,acme/shop,,abcdef1,42\nINC-2,\"Quoted, title\",1700000000,NA,,payments,,#7\n",
];

fn check_incidents(
    parsed: Result<
        Vec<riskgate::labels::incidents::Incident>,
        Vec<riskgate::labels::incident_input::RecordError>,
    >,
) -> Result<(), TestCaseError> {
    match parsed {
        Ok(list) => {
            let mut ids = std::collections::HashSet::new();
            for i in &list {
                prop_assert!(ids.insert(i.id.clone()), "duplicate id {}", i.id);
                prop_assert!(!i.id.is_empty());
                prop_assert!(i.repository.is_some() || i.service.is_some());
                if let Some(r) = i.resolved_at {
                    prop_assert!(r >= i.opened_at);
                }
            }
        }
        Err(errors) => {
            prop_assert!(!errors.is_empty());
            for e in &errors {
                prop_assert!(!e.error.field.is_empty() && !e.error.message.is_empty());
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn incident_json_never_panics(
        bytes in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..256),
            mutated(INCIDENTS_JSON, JSON_TOKENS),
            edited_json(INCIDENTS_JSON),
        ],
    ) {
        let text = lossy(&bytes);
        let (parsed, largest) = largest_allocation(|| incidents_from_json(&text, "import"));
        prop_assert!(largest <= allowance(text.len()), "allocated {largest}");
        check_incidents(parsed)?;
    }

    #[test]
    fn incident_csv_never_panics(
        bytes in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..256),
            mutated(INCIDENTS_CSV, CSV_TOKENS),
        ],
    ) {
        let text = lossy(&bytes);
        let (parsed, largest) = largest_allocation(|| incidents_from_csv(&text, "import"));
        prop_assert!(largest <= allowance(text.len()), "allocated {largest}");
        check_incidents(parsed)?;
    }
}

// --- pack files and trees ---

/// `git` in `dir` with a blank configuration and fixed dates.
fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("HOME", dir.join(".test-home"))
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_AUTHOR_DATE", "@1700000000 +0000")
        .env("GIT_COMMITTER_DATE", "@1700000000 +0000")
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A small repository packed with delta chains: its pack and index, its object ids, and
/// its raw trees.
struct PackSeed {
    pack: Vec<u8>,
    idx: Vec<u8>,
    ids: Vec<git2::Oid>,
    trees: Vec<Vec<u8>>,
}

fn pack_seed() -> &'static PackSeed {
    static SEED: OnceLock<PackSeed> = OnceLock::new();
    SEED.get_or_init(|| {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        git(dir, &["init", "-q", "-b", "main"]);
        let who = ["-c", "user.name=x", "-c", "user.email=x@example.com"];
        for i in 0..12 {
            let lines: String = (0..60)
                .map(|l| format!("line {l} of version {}\n", l * i % 7))
                .collect();
            std::fs::create_dir_all(dir.join("src/deep")).unwrap();
            std::fs::write(dir.join("src/lib.rs"), &lines).unwrap();
            std::fs::write(
                dir.join(format!("src/deep/f{}.txt", i % 3)),
                format!("{i}\n"),
            )
            .unwrap();
            git(dir, &["add", "-A"]);
            git(
                dir,
                &[&who[..], &["commit", "-q", "-m", &format!("v{i}")]].concat(),
            );
        }
        git(
            dir,
            &[
                "repack",
                "-a",
                "-d",
                "-f",
                "-q",
                "--window=10",
                "--depth=50",
            ],
        );
        let pack_dir = dir.join(".git/objects/pack");
        let mut pack = Vec::new();
        let mut idx = Vec::new();
        for e in std::fs::read_dir(&pack_dir).unwrap() {
            let p = e.unwrap().path();
            match p.extension().and_then(|x| x.to_str()) {
                Some("pack") => pack = std::fs::read(&p).unwrap(),
                Some("idx") => idx = std::fs::read(&p).unwrap(),
                _ => {}
            }
        }
        let repo = git2::Repository::open(dir).unwrap();
        let odb = repo.odb().unwrap();
        let mut ids = Vec::new();
        odb.foreach(|id| {
            ids.push(*id);
            true
        })
        .unwrap();
        let trees = ids
            .iter()
            .filter_map(|id| odb.read(*id).ok())
            .filter(|o| o.kind() == git2::ObjectType::Tree)
            .map(|o| o.data().to_vec())
            .collect();
        assert!(!pack.is_empty() && !idx.is_empty() && !ids.is_empty());
        PackSeed {
            pack,
            idx,
            ids,
            trees,
        }
    })
}

/// A git dir of its own for each test thread, holding one pack.
fn pack_dir() -> PathBuf {
    thread_local! {
        static DIR: tempfile::TempDir = tempfile::tempdir().unwrap();
    }
    let git_dir = DIR.with(|d| d.path().to_path_buf());
    std::fs::create_dir_all(git_dir.join("objects/pack")).unwrap();
    git_dir
}

/// The size limit blobs are read within in [`read_all`]: the seed's blobs fall on both sides.
const BLOB_LIMIT: u64 = 64;

/// Every seed object (and `extra`) read from a git dir holding `pack` and `idx`, and each
/// read again as a blob within [`BLOB_LIMIT`].
fn read_all(pack: &[u8], idx: &[u8], extra: &[git2::Oid]) -> Result<(), TestCaseError> {
    let git_dir = pack_dir();
    let base = git_dir.join("objects/pack/pack-fuzz");
    std::fs::write(base.with_extension("pack"), pack).unwrap();
    std::fs::write(base.with_extension("idx"), idx).unwrap();
    let (disagreeing, largest) = largest_allocation(|| {
        let mut packs = Packs::open(&git_dir);
        // Sized before read, from a reader of its own (nothing cached): the same blobs, and
        // those past the limit by the size their content has.
        let mut sized = Packs::open(&git_dir);
        let mut disagreeing = Vec::new();
        for id in pack_seed().ids.iter().chain(extra) {
            let read = packs.read(*id);
            if let Some((kind, data)) = &read {
                if *kind == git2::ObjectType::Tree {
                    let _ = TreeData::parse(*id, data).map(|t| t.iter().count());
                }
            }
            let agrees = match (sized.read_blob(*id, BLOB_LIMIT), read) {
                (Some(BlobRead::Content(c)), Some((git2::ObjectType::Blob, data))) => c == data,
                (Some(BlobRead::Content(_)), _) => false,
                (Some(BlobRead::Larger(n)), Some((git2::ObjectType::Blob, data))) => {
                    n > BLOB_LIMIT && n == data.len() as u64
                }
                (Some(BlobRead::Larger(n)), _) => n > BLOB_LIMIT,
                (None, Some((git2::ObjectType::Blob, _))) => false,
                (None, _) => true,
            };
            if !agrees {
                disagreeing.push(*id);
            }
        }
        disagreeing
    });
    prop_assert!(
        disagreeing.is_empty(),
        "read_blob differs on {disagreeing:?}"
    );
    // Inflating a stream may yield a thousand times its size; nothing may be reserved
    // merely because a header claims it.
    let budget = 2048 * (pack.len() + idx.len()) + (16 << 20);
    prop_assert!(
        largest <= budget,
        "allocated {largest} for {} bytes",
        pack.len()
    );
    Ok(())
}

fn byte_mutations() -> impl Strategy<Value = Vec<Mutation>> {
    prop::collection::vec(mutation(), 1..6)
}

fn oid() -> impl Strategy<Value = git2::Oid> {
    prop::array::uniform20(any::<u8>()).prop_map(|b| git2::Oid::from_bytes(&b).unwrap())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn corrupt_packs_never_panic(
        pack_edits in byte_mutations(),
        idx_edits in prop::option::of(byte_mutations()),
        extra in prop::collection::vec(oid(), 0..3),
    ) {
        let seed = pack_seed();
        let mut pack = seed.pack.clone();
        for m in &pack_edits {
            apply(&mut pack, m, &[]);
        }
        let mut idx = seed.idx.clone();
        for m in idx_edits.iter().flatten() {
            apply(&mut idx, m, &[]);
        }
        read_all(&pack, &idx, &extra)?;
    }

    #[test]
    fn corrupt_indexes_never_panic(idx_edits in byte_mutations()) {
        let seed = pack_seed();
        let mut idx = seed.idx.clone();
        for m in &idx_edits {
            apply(&mut idx, m, &[]);
        }
        read_all(&seed.pack, &idx, &[])?;
    }

    #[test]
    fn arbitrary_pack_files_never_panic(
        pack in prop::collection::vec(any::<u8>(), 0..512),
        idx in prop::collection::vec(any::<u8>(), 0..2048),
    ) {
        read_all(&pack, &idx, &[])?;
    }

    #[test]
    fn trees_parse_like_libgit2(
        raw in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..128),
            (any::<Index>(), byte_mutations()).prop_map(|(i, ms)| {
                let trees = &pack_seed().trees;
                let mut t = trees[i.index(trees.len())].clone();
                for m in &ms {
                    apply(&mut t, m, &[b" ", b"\0", b"100644 ", b"40000 ", b"-0 "]);
                }
                t
            }),
        ],
    ) {
        check_tree(&raw)?;
    }

    #[test]
    fn authors_and_mailmaps_never_panic(
        mailmap in mutated(MAILMAP_SEEDS, AUTHOR_TOKENS),
        author in mutated(AUTHOR_SEEDS, AUTHOR_TOKENS),
        encoding in prop::option::of(prop::sample::select(&["cp1252", "ISO-8859-1", "UTF-8", "utf-16", "x-\u{fffd}"][..])),
    ) {
        check_author(&mailmap, &author, encoding)?;
    }
}

const MAILMAP_SEEDS: &[&[u8]] = &[
    b"Fernando Perez <Fernando.Perez@berkeley.edu> fptest <>\n# comment\n",
    b"Nicholas <nicm@example.org> <nicm@old.example.net>\n<nicm@example.org> Nick <NICM@laptop>\n",
    b"J\xc3\xb6rgen <j@new> J\xc3\xb6rgen <j@old>\nMarcin Kostrzewa <>\n<> <>\n",
];

const AUTHOR_SEEDS: &[&[u8]] = &[
    b"Ping Yin <pkufranky@gmail.com <none@none> 1278692065 -0300",
    b"fptest <> 1162065110 +0000",
    b"J\xf6rgen <j@old> 1319139001 +0200",
    b"Nick <NICM@laptop> 0 +0000",
];

const AUTHOR_TOKENS: &[&[u8]] = &[b"<", b">", b"<>", b" ", b"\n", b"\0", b"\xc3", b"#"];

/// The author key and name of a commit with this author line, declaring `encoding`, under
/// this `.mailmap`: a commit libgit2 cannot read is left to the walk's own handling.
fn check_author(
    mailmap: &[u8],
    author: &[u8],
    encoding: Option<&str>,
) -> Result<(), TestCaseError> {
    let repo = scratch_repo();
    let id = commit_with_author(&repo, author, encoding);
    let Ok(commit) = repo.find_commit(id) else {
        return Ok(());
    };
    let ids = Identities::from_mailmap(mailmap);
    let key = ids.author(&commit).key;
    prop_assert_eq!(&key, &key.trim(), "a key has no spaces around it");
    Ok(())
}

/// Our tree parser accepts what libgit2 accepts, with the same entries.
fn check_tree(raw: &[u8]) -> Result<(), TestCaseError> {
    let repo = scratch_repo();
    let id = repo
        .odb()
        .unwrap()
        .write(git2::ObjectType::Tree, raw)
        .unwrap();
    let ours = TreeData::parse(id, raw);
    let theirs = repo.find_tree(id);
    prop_assert_eq!(
        ours.is_some(),
        theirs.is_ok(),
        "{:?}",
        theirs.as_ref().err()
    );
    if let (Some(ours), Ok(theirs)) = (ours, theirs) {
        let a: Vec<_> = ours
            .iter()
            .map(|e| (e.name_bytes().to_vec(), e.filemode(), e.id()))
            .collect();
        let b: Vec<_> = theirs
            .iter()
            .map(|e| (e.name_bytes().to_vec(), e.filemode(), e.id()))
            .collect();
        prop_assert_eq!(a, b);
    }
    Ok(())
}

/// An empty repository per test thread, to let libgit2 judge raw trees.
fn scratch_repo() -> git2::Repository {
    thread_local! {
        static DIR: tempfile::TempDir = {
            let d = tempfile::tempdir().unwrap();
            git2::Repository::init_bare(d.path()).unwrap();
            d
        };
    }
    let path = DIR.with(|d| d.path().to_path_buf());
    git2::Repository::open_bare(path).unwrap()
}

#[test]
fn seeds_read_back_whole() {
    // The unmutated pack reads every object, so mutations start from a working reader.
    let seed = pack_seed();
    let git_dir = pack_dir();
    let base = git_dir.join("objects/pack/pack-fuzz");
    std::fs::write(base.with_extension("pack"), &seed.pack).unwrap();
    std::fs::write(base.with_extension("idx"), &seed.idx).unwrap();
    let mut packs = Packs::open(&git_dir);
    for id in &seed.ids {
        assert!(packs.read(*id).is_some(), "{id}");
    }
    // Its blobs fall on both sides of the limit they are sized against.
    let mut sized = Packs::open(&git_dir);
    let (mut within, mut past) = (0, 0);
    for id in &seed.ids {
        match sized.read_blob(*id, BLOB_LIMIT) {
            Some(BlobRead::Content(_)) => within += 1,
            Some(BlobRead::Larger(_)) => past += 1,
            None => {}
        }
    }
    assert!(within > 0 && past > 0, "{within} within, {past} past");
}

// --- packs built by hand ---

/// The header of a pack entry: its type and the size it claims.
fn entry_header(kind: u8, size: u64) -> Vec<u8> {
    let mut out = vec![(kind << 4) | (size & 15) as u8];
    let mut rest = size >> 4;
    while rest > 0 {
        *out.last_mut().unwrap() |= 0x80;
        out.push((rest & 0x7f) as u8);
        rest >>= 7;
    }
    out
}

fn zlib(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    z.write_all(data).unwrap();
    z.finish().unwrap()
}

/// A pack of `entries` (each its header and data as stored) and its version 2 index, the
/// entries named by the ids given.
fn hand_pack(entries: &[([u8; 20], Vec<u8>)]) -> (Vec<u8>, Vec<u8>) {
    let mut pack = b"PACK\0\0\0\x02".to_vec();
    pack.extend_from_slice(&(entries.len() as u32).to_be_bytes());
    let mut named: Vec<([u8; 20], u32)> = Vec::new();
    for (id, entry) in entries {
        named.push((*id, pack.len() as u32));
        pack.extend_from_slice(entry);
    }
    pack.extend_from_slice(&[0; 20]);
    named.sort();
    let mut idx = vec![0xff, b't', b'O', b'c', 0, 0, 0, 2];
    for first in 0..=255u8 {
        let n = named.iter().filter(|(id, _)| id[0] <= first).count() as u32;
        idx.extend_from_slice(&n.to_be_bytes());
    }
    for (id, _) in &named {
        idx.extend_from_slice(id);
    }
    for _ in &named {
        idx.extend_from_slice(&[0; 4]);
    }
    for (_, offset) in &named {
        idx.extend_from_slice(&offset.to_be_bytes());
    }
    idx.extend_from_slice(&[0; 40]);
    (pack, idx)
}

/// What reading `id` from `pack` and `idx` gives, and the largest block it allocated.
fn read_hand_pack(pack: &[u8], idx: &[u8], id: [u8; 20]) -> (Option<Vec<u8>>, usize) {
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path().join("objects/pack/pack-hand");
    std::fs::create_dir_all(base.parent().unwrap()).unwrap();
    std::fs::write(base.with_extension("pack"), pack).unwrap();
    std::fs::write(base.with_extension("idx"), idx).unwrap();
    largest_allocation(|| {
        let mut packs = Packs::open(tmp.path());
        packs
            .read(git2::Oid::from_bytes(&id).unwrap())
            .map(|(_, data)| data.to_vec())
    })
}

#[test]
fn hand_packs_read() {
    let mut blob = entry_header(3, 13);
    blob.extend(zlib(b"hello, world\n"));
    // copy 0..7 ("hello, "), insert "there ", copy 7..13 ("world\n")
    let mut delta = vec![13, 19, 0x80 | 0x10, 7, 6];
    delta.extend_from_slice(b"there ");
    delta.extend_from_slice(&[0x80 | 0x01 | 0x10, 7, 6]);
    let mut ofs = entry_header(6, delta.len() as u64);
    ofs.push(blob.len() as u8); // back to the blob, just before
    ofs.extend(zlib(&delta));
    let (pack, idx) = hand_pack(&[([1; 20], blob), ([2; 20], ofs)]);
    assert_eq!(
        read_hand_pack(&pack, &idx, [1; 20]).0.unwrap(),
        b"hello, world\n"
    );
    assert_eq!(
        read_hand_pack(&pack, &idx, [2; 20]).0.unwrap(),
        b"hello, there world\n"
    );
}

#[test]
fn pack_entry_claiming_a_gigabyte_reserves_nothing() {
    // A corrupt header claims 1 GiB for five bytes of data: found by
    // `corrupt_packs_never_panic` (a pack with its first bytes cut off), which made room for
    // 388 MB before reading a byte.
    let mut blob = entry_header(3, 1 << 30);
    blob.extend(zlib(b"hello"));
    let (pack, idx) = hand_pack(&[([1; 20], blob)]);
    let (read, largest) = read_hand_pack(&pack, &idx, [1; 20]);
    assert_eq!(read, None);
    assert!(largest < 2 << 20, "allocated {largest}");
}

#[test]
fn delta_claiming_a_gigabyte_reserves_nothing() {
    let mut blob = entry_header(3, 13);
    blob.extend(zlib(b"hello, world\n"));
    // source 13 bytes, target (1 << 30) - 1 bytes, then one copy of five bytes
    let delta = [13, 0xff, 0xff, 0xff, 0xff, 0x03, 0x80 | 0x10, 5];
    let mut ofs = entry_header(6, delta.len() as u64);
    ofs.push(blob.len() as u8);
    ofs.extend(zlib(&delta));
    let (pack, idx) = hand_pack(&[([1; 20], blob), ([2; 20], ofs)]);
    let (read, largest) = read_hand_pack(&pack, &idx, [2; 20]);
    assert_eq!(read, None);
    assert!(largest < 2 << 20, "allocated {largest}");
}

#[test]
fn cobertura_with_many_roots_and_files_reads_in_linear_time() {
    // Every relative file name was joined to every <source> root when the report was read,
    // each join checked against the file's earlier ones: 4,000 roots and 4,000 classes
    // (400 KB) took minutes, and memory grew with roots × files.
    let n = 20_000;
    let mut xml = String::from("<coverage><sources>");
    for i in 0..n {
        xml.push_str(&format!("<source>/r{i}/pkg</source>"));
    }
    xml.push_str("</sources><packages><package><classes>");
    for i in 0..n {
        xml.push_str(&format!(
            "<class filename=\"d{i}/a.py\"><lines><line number=\"1\" hits=\"{i}\"/></lines></class>"
        ));
    }
    xml.push_str("</classes></package></packages></coverage>");
    let started = std::time::Instant::now();
    let (report, largest) = largest_allocation(|| CoverageReport::parse("c.xml", &xml).unwrap());
    assert!(largest <= allowance(xml.len()), "allocated {largest}");
    // Every entry is named a.py: a lookup sees all of them, under every root.
    assert_eq!(report.line_hits("pkg/d7/a.py", 1), Some(7));
    assert_eq!(report.line_hits("r9/pkg/d7/a.py", 1), Some(7));
    assert_eq!(report.line_hits("r9/pkg/d7/b.py", 1), None);
    assert_eq!(report.line_hits("elsewhere/d7/a.py", 1), None);
    let elapsed = started.elapsed();
    assert!(elapsed.as_secs() < 30, "took {elapsed:?}");
}

// --- the history index a repository keeps of itself ---

/// A repository with renames, a merge and several authors, its history index as the first
/// score left it, and what that score read.
struct IndexSeed {
    dir: tempfile::TempDir,
    index: Vec<u8>,
    mined: String,
}

fn index_file(dir: &Path) -> PathBuf {
    let folder = dir.join(".git/riskgate");
    std::fs::read_dir(&folder)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "idx"))
        .expect("a history index")
}

/// The files of the line-owner store beside the history index.
fn owner_entries(dir: &Path) -> Vec<PathBuf> {
    let mut entries = Vec::new();
    for store in std::fs::read_dir(dir.join(".git/riskgate")).unwrap() {
        let store = store.unwrap().path();
        if !store.is_dir() {
            continue;
        }
        for shard in std::fs::read_dir(&store).unwrap() {
            for entry in std::fs::read_dir(shard.unwrap().path()).unwrap() {
                entries.push(entry.unwrap().path());
            }
        }
    }
    entries.sort();
    entries
}

/// What scoring HEAD~1..HEAD reads of the history, as text (or the error).
fn mine_last_commit(dir: &Path) -> String {
    let repo = git2::Repository::open(dir).unwrap();
    let spec = riskgate::mining::ChangeSpec {
        base: Some("HEAD~1".into()),
        ..Default::default()
    };
    match riskgate::mining::mine_change(&repo, &spec) {
        Ok(mined) => format!("{:?} {:?}", mined.snapshot, mined.file_authors),
        Err(e) => format!("error: {e}"),
    }
}

fn index_seed() -> &'static IndexSeed {
    static SEED: OnceLock<IndexSeed> = OnceLock::new();
    SEED.get_or_init(|| {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        git(dir, &["init", "-q", "-b", "main"]);
        let as_ = |name: &str| {
            [
                format!("user.name={name}"),
                format!("user.email={name}@example.com"),
            ]
        };
        let commit = |name: &str, message: &str| {
            let [n, e] = as_(name);
            git(dir, &["add", "-A"]);
            git(dir, &["-c", &n, "-c", &e, "commit", "-q", "-m", message]);
        };
        std::fs::create_dir_all(dir.join("src")).unwrap();
        // Twenty versions of one file: enough for its line owners to be kept on disk.
        for i in 0..20 {
            let text: String = (0..30)
                .map(|l| format!("line {l} {}\n", l * i % 7))
                .collect();
            std::fs::write(dir.join("src/lib.rs"), &text).unwrap();
            std::fs::write(dir.join(format!("src/m{}.rs", i % 2)), format!("{i}\n")).unwrap();
            commit(["ann", "bob", "cy"][i % 3], &format!("fix: step {i}"));
        }
        git(dir, &["checkout", "-q", "-b", "side"]);
        git(dir, &["mv", "src/m0.rs", "src/moved.rs"]);
        commit("bob", "Move m0");
        git(dir, &["checkout", "-q", "main"]);
        std::fs::write(dir.join("src/m1.rs"), "main\n").unwrap();
        commit("ann", "Change m1");
        let [n, e] = as_("cy");
        git(
            dir,
            &[
                "-c",
                &n,
                "-c",
                &e,
                "merge",
                "-q",
                "--no-ff",
                "-m",
                "Merge side",
                "side",
            ],
        );
        std::fs::write(dir.join("src/moved.rs"), "0\nmore\n").unwrap();
        std::fs::write(dir.join("src/lib.rs"), "rewritten\n").unwrap();
        // By an author who owns lines of the files it changes, so that owners read wrong
        // would show in what is mined.
        commit("bob", "Change the moved file");
        let mined = mine_last_commit(dir);
        assert!(!mined.starts_with("error"), "{mined}");
        assert!(
            !owner_entries(dir).is_empty(),
            "line owners were kept on disk"
        );
        let index = std::fs::read(index_file(dir)).unwrap();
        IndexSeed {
            dir: tmp,
            index,
            mined,
        }
    })
}

/// A copy of the seed repository for each test thread: the properties run at once, and each
/// writes the index file.
fn index_repo() -> PathBuf {
    thread_local! {
        static DIR: tempfile::TempDir = {
            let copy = tempfile::tempdir().unwrap();
            let status = Command::new("cp")
                .arg("-a")
                .arg(index_seed().dir.path().join("."))
                .arg(copy.path())
                .status()
                .unwrap();
            assert!(status.success());
            copy
        };
    }
    DIR.with(|d| d.path().to_path_buf())
}

proptest! {
    #![proptest_config(config())]

    /// A damaged history index (a disk error, a crash of another tool, a copied `.git`) is
    /// noticed and rebuilt: the score never panics and reads the history it would have read
    /// from a sound one.
    #[test]
    fn damaged_history_indexes_are_rebuilt(edits in byte_mutations()) {
        let seed = index_seed();
        let mut bytes = seed.index.clone();
        for m in &edits {
            apply(&mut bytes, m, &[]);
        }
        let dir = &index_repo();
        std::fs::write(index_file(dir), &bytes).unwrap();
        let mined = std::panic::catch_unwind(|| mine_last_commit(dir))
            .map_err(|_| TestCaseError::fail("scoring panicked"))?;
        prop_assert_eq!(&mined, &seed.mined);
    }

    /// A damaged entry of the line-owner store never makes a score panic, fail or read other
    /// owners: one that fails its checksum, cannot be read or names commits the index lacks is
    /// replayed from the history.
    #[test]
    fn damaged_line_owner_entries_are_replayed(edits in byte_mutations()) {
        let seed = index_seed();
        let dir = &index_repo();
        std::fs::write(index_file(dir), &seed.index).unwrap();
        let entries = owner_entries(dir);
        prop_assert!(!entries.is_empty());
        let originals: Vec<Vec<u8>> = entries.iter().map(|e| std::fs::read(e).unwrap()).collect();
        for (entry, original) in entries.iter().zip(&originals) {
            let mut bytes = original.clone();
            for m in &edits {
                apply(&mut bytes, m, &[]);
            }
            std::fs::write(entry, &bytes).unwrap();
        }
        let mined = std::panic::catch_unwind(|| mine_last_commit(dir))
            .map_err(|_| TestCaseError::fail("scoring panicked"))?;
        for (entry, original) in entries.iter().zip(&originals) {
            std::fs::write(entry, original).unwrap();
        }
        prop_assert_eq!(&mined, &seed.mined);
    }

    /// An index whose checksum was made to fit its damage (as a hostile copy of a `.git` could
    /// be) still never makes a score panic or loop: ids that point nowhere are refused.
    #[test]
    fn crafted_history_indexes_never_panic(edits in byte_mutations()) {
        let seed = index_seed();
        let mut body = seed.index[..seed.index.len() - 4].to_vec();
        for m in &edits {
            apply(&mut body, m, &[]);
        }
        body.extend_from_slice(&crc32fast::hash(&body).to_le_bytes());
        let dir = &index_repo();
        std::fs::write(index_file(dir), &body).unwrap();
        std::panic::catch_unwind(|| mine_last_commit(dir))
            .map_err(|_| TestCaseError::fail("scoring panicked"))?;
    }
}

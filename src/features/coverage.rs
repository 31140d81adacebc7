//! Line coverage from lcov and Cobertura XML reports, and the coverage signal of a change.
//!
//! Everything here is pure: callers read the report files and pass their text in.
//! Two reports (base and head of a change) plus the lines the change added give a
//! [`CoverageDelta`]: project coverage before and after, and how much of the added
//! code the head report shows as executed.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

/// Hits per line number of one file.
pub type LineHits = BTreeMap<u32, u64>;

/// Line hits per file from one coverage report.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CoverageReport {
    /// Path as written in the report -> (line number -> hit count).
    files: BTreeMap<String, LineHits>,
    /// Cobertura `<source>` roots, normalised; report paths may be relative to them.
    roots: Vec<String>,
    /// File name (last path component) -> report paths ending in it, for `line_hits`.
    by_name: HashMap<String, Vec<PathEntry>>,
}

/// One report path, normalised. A relative one may also stand for itself under each
/// `<source>` root; those joined paths are worked out when a path is looked up, not stored,
/// so that a report naming many files and many roots costs no more than its size.
#[derive(Debug, Clone, PartialEq)]
struct PathEntry {
    key: String,
    own: String,
    relative: bool,
    /// Leading `..` components of `own` (a relative path keeps only leading ones).
    up: usize,
    /// Byte offset in `own` of what follows them.
    rest: usize,
}

/// Why a coverage report could not be read.
#[derive(Debug, thiserror::Error)]
pub enum CoverageError {
    /// A malformed lcov line.
    #[error("{source_name}: line {line}: {message}")]
    Lcov {
        source_name: String,
        line: usize,
        message: String,
    },
    /// A Cobertura element with a missing or invalid attribute, or in the wrong place.
    #[error("{source_name}: line {line}: <{element}>: {message}")]
    Cobertura {
        source_name: String,
        line: usize,
        element: String,
        message: String,
    },
    /// Text that is not well-formed XML.
    #[error("{source_name}: line {line}: malformed XML: {message}")]
    Xml {
        source_name: String,
        line: usize,
        message: String,
    },
    /// The report holds no per-file record at all.
    #[error("{source_name}: no coverage records")]
    NoRecords { source_name: String },
}

impl CoverageReport {
    /// Detect the format from the content (Cobertura XML if it starts, after
    /// whitespace/BOM, with `<`; otherwise lcov) and parse.
    pub fn parse(source_name: &str, text: &str) -> Result<CoverageReport, CoverageError> {
        if strip_bom(text).trim_start().starts_with('<') {
            Self::parse_cobertura(source_name, text)
        } else {
            Self::parse_lcov(source_name, text)
        }
    }

    /// Parse an lcov tracefile (`SF:` / `DA:` / `end_of_record`; other records are ignored).
    ///
    /// Hits of a line listed more than once for a file, or of a file in several
    /// records, are summed (merged test runs). Negative hit counts, which lcov
    /// writes after a counter overflow, count as 0.
    pub fn parse_lcov(source_name: &str, text: &str) -> Result<CoverageReport, CoverageError> {
        let text = strip_bom(text);
        let mut files: BTreeMap<String, LineHits> = BTreeMap::new();
        let mut current: Option<String> = None;
        let mut saw_record = false;
        let err = |line: usize, message: String| CoverageError::Lcov {
            source_name: source_name.to_string(),
            line,
            message,
        };

        for (index, raw) in text.split('\n').enumerate() {
            let line_no = index + 1;
            let line = raw.trim();
            if line.is_empty() {
                continue;
            }
            if line == "end_of_record" {
                current = None;
                continue;
            }
            let Some((tag, value)) = line.split_once(':') else {
                continue;
            };
            match tag.trim() {
                "SF" => {
                    let path = value.trim();
                    if path.is_empty() {
                        return Err(err(line_no, "SF record with an empty path".to_string()));
                    }
                    files.entry(path.to_string()).or_default();
                    current = Some(path.to_string());
                    saw_record = true;
                }
                "DA" => {
                    let Some(path) = current.as_ref() else {
                        return Err(err(line_no, "DA outside an SF record".to_string()));
                    };
                    let mut parts = value.split(',');
                    let number_text = parts.next().unwrap_or("").trim();
                    let Some(number) = parse_line_number(number_text) else {
                        return Err(err(
                            line_no,
                            format!("invalid line number {number_text:?} in DA"),
                        ));
                    };
                    let Some(hits_text) = parts.next().map(str::trim) else {
                        return Err(err(line_no, "DA without a hit count".to_string()));
                    };
                    let Some(hits) = parse_hits(hits_text) else {
                        return Err(err(
                            line_no,
                            format!("invalid hit count {hits_text:?} in DA"),
                        ));
                    };
                    if let Some(lines) = files.get_mut(path) {
                        let slot = lines.entry(number).or_insert(0);
                        *slot = slot.saturating_add(hits);
                    }
                }
                _ => {}
            }
        }

        if !saw_record {
            return Err(CoverageError::NoRecords {
                source_name: source_name.to_string(),
            });
        }
        Ok(Self::from_parts(files, Vec::new()))
    }

    /// Parse a Cobertura XML report (coverage.py, cargo-tarpaulin, gcovr, Istanbul, Java).
    ///
    /// Line hits come from `<line>` elements inside a `<class>`'s `<lines>`, including the
    /// copies under `<methods>`; within a file a line counts once, with its highest hit
    /// count, so method copies and several classes of one file do not double count.
    /// `<source>` roots are kept so that relative file names can be matched against
    /// repository paths under a root.
    pub fn parse_cobertura(source_name: &str, text: &str) -> Result<CoverageReport, CoverageError> {
        let text = strip_bom(text);
        let mut parser = CoberturaParser {
            source_name,
            text,
            stack: Vec::new(),
            files: BTreeMap::new(),
            roots: Vec::new(),
            seen_roots: HashSet::new(),
            current_file: None,
            source_text: None,
            saw_root: false,
            saw_class: false,
        };
        let mut reader = Reader::from_str(text);

        loop {
            let position = to_usize(reader.buffer_position());
            let event = match reader.read_event() {
                Ok(event) => event,
                Err(e) => return Err(parser.xml_error(to_usize(reader.error_position()), e)),
            };
            match event {
                Event::Start(e) => {
                    parser.open(&e, position)?;
                    parser.stack.push(local_name(&e));
                }
                Event::Empty(e) => {
                    parser.open(&e, position)?;
                    parser.close(&local_name(&e));
                }
                Event::End(_) => {
                    if let Some(name) = parser.stack.pop() {
                        parser.close(&name);
                    }
                }
                Event::Text(t) if parser.source_text.is_some() => {
                    let content = t.xml_content().map_err(|e| parser.xml_error(position, e))?;
                    parser.push_source_text(&content);
                }
                Event::CData(t) if parser.source_text.is_some() => {
                    let content = t.decode().map_err(|e| parser.xml_error(position, e))?;
                    parser.push_source_text(&content);
                }
                Event::GeneralRef(r) if parser.source_text.is_some() => {
                    let name = r.decode().map_err(|e| parser.xml_error(position, e))?;
                    let resolved = match r.resolve_char_ref() {
                        Ok(Some(c)) => c.to_string(),
                        _ => match quick_xml::escape::resolve_predefined_entity(&name) {
                            Some(s) => s.to_string(),
                            None => format!("&{name};"),
                        },
                    };
                    parser.push_source_text(&resolved);
                }
                Event::Eof => break,
                _ => {}
            }
        }

        if let Some(open) = parser.stack.last() {
            return Err(CoverageError::Xml {
                source_name: source_name.to_string(),
                line: line_of(text, text.len()),
                message: format!("document ends inside <{open}>"),
            });
        }
        if !parser.saw_root {
            return Err(CoverageError::Xml {
                source_name: source_name.to_string(),
                line: line_of(text, text.len()),
                message: "no root element".to_string(),
            });
        }
        if !parser.saw_class {
            return Err(CoverageError::NoRecords {
                source_name: source_name.to_string(),
            });
        }
        Ok(Self::from_parts(parser.files, parser.roots))
    }

    /// (covered lines, instrumented lines) over the whole report.
    pub fn totals(&self) -> (u64, u64) {
        self.files
            .values()
            .flat_map(|lines| lines.values())
            .fold((0, 0), |(covered, instrumented), &hits| {
                (covered + u64::from(hits > 0), instrumented + 1)
            })
    }

    /// Hits of `line` in the file whose report path matches repository path `repo_path`
    /// (repo-relative, '/' separated). None when the line is not instrumented or the
    /// file is not in the report.
    pub fn line_hits(&self, repo_path: &str, line: u32) -> Option<u64> {
        self.file_lines(repo_path)?.get(&line).copied()
    }

    /// All instrumented lines of the file matching `repo_path` (see [`Self::resolve_path`]).
    pub fn file_lines(&self, repo_path: &str) -> Option<&LineHits> {
        let key = self.resolve_path(repo_path)?;
        self.files.get(key)
    }

    /// The report path (as written in the report) that repository path `repo_path` maps to.
    ///
    /// After normalising separators and dropping `.` components, a report path matches
    /// when it equals the repository path or ends with `/` + the repository path; a
    /// relative Cobertura file name is also tried under each `<source>` root. An exact
    /// match wins, then the shortest matching path.
    pub fn resolve_path(&self, repo_path: &str) -> Option<&str> {
        let wanted = normalize_path(repo_path);
        let wanted = wanted.trim_start_matches('/');
        if wanted.is_empty() {
            return None;
        }
        let entries = self.by_name.get(file_name(wanted))?;
        let suffix = format!("/{wanted}");
        let mut best: Option<((u8, usize), &str)> = None;
        let mut rooted = HashMap::new();
        for entry in entries {
            let own = &entry.own;
            let mut score = if own == wanted {
                Some((0, own.len()))
            } else if own.ends_with(&suffix) {
                Some((1, own.len()))
            } else {
                None
            };
            if entry.relative && !self.roots.is_empty() {
                let under_root = self.rooted_score(entry, wanted, &mut rooted);
                score = match (score, under_root) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
            }
            if let Some(score) = score {
                if best.is_none_or(|(s, _)| score < s) {
                    best = Some((score, entry.key.as_str()));
                }
            }
        }
        best.map(|(_, key)| key)
    }

    /// The best score of `entry` joined to any root, against `wanted` (exact 0, suffix 1,
    /// then length): what `normalize_path(root + "/" + own)` would score for the best root.
    ///
    /// Joined to a root, `own` becomes the root less its last `up` components (its base),
    /// then `rest`. Which roots match, and how well, depends only on `up` and
    /// on the part of `wanted` before `rest`, so within one lookup each such pair is worked
    /// out once over the roots (`cache`, which keeps the score and what the root adds to the
    /// length), whatever the number of report paths sharing it.
    fn rooted_score(
        &self,
        entry: &PathEntry,
        wanted: &str,
        cache: &mut HashMap<(usize, Option<usize>), Option<(u8, usize)>>,
    ) -> Option<(u8, usize)> {
        let rest = &entry.own[entry.rest..];
        if rest.is_empty() {
            // `own` is nothing but `..`: join it the plain way.
            let name = file_name(&entry.own);
            return self
                .roots
                .iter()
                .map(|root| normalize_path(&format!("{root}/{}", entry.own)))
                .filter(|joined| file_name(joined) == name)
                .filter_map(|joined| {
                    if joined == wanted {
                        Some((0, joined.len()))
                    } else if joined.ends_with(&format!("/{wanted}")) {
                        Some((1, joined.len()))
                    } else {
                        None
                    }
                })
                .min();
        }
        // `prefix`: what `wanted` has before `rest` (Some("") when it is `rest`), or None
        // when `wanted` is a shorter suffix of `rest`.
        let prefix = if wanted == rest {
            Some("")
        } else if wanted.len() > rest.len()
            && wanted.ends_with(rest)
            && wanted.as_bytes()[wanted.len() - rest.len() - 1] == b'/'
        {
            Some(&wanted[..wanted.len() - rest.len() - 1])
        } else if rest.len() > wanted.len() && rest.ends_with(&format!("/{wanted}")) {
            None
        } else {
            return None;
        };
        let up = entry.up;
        let best = *cache.entry((up, prefix.map(str::len))).or_insert_with(|| {
            self.roots
                .iter()
                .filter_map(|root| {
                    let (kept, dots) = root_base(root, up);
                    // The base as a string, needed only to compare it with a prefix that
                    // could end in `..` (never one of a repository path).
                    let spelled = || {
                        let mut b = kept.to_string();
                        for _ in 0..dots {
                            b.push_str(if b.is_empty() { ".." } else { "/.." });
                        }
                        b
                    };
                    let len = match (kept.len(), dots) {
                        (k, 0) => k,
                        (0, d) => 3 * d - 1,
                        (k, d) => k + 3 * d,
                    };
                    // What the base adds to `rest`: nothing, `/`, or itself and `/`.
                    let extra = match (len, kept) {
                        (0, _) => 0,
                        (1, "/") => 1,
                        (l, _) => l + 1,
                    };
                    let matches = |p: &str| {
                        let base = if dots == 0 {
                            std::borrow::Cow::Borrowed(kept)
                        } else if p.contains("..") {
                            std::borrow::Cow::Owned(spelled())
                        } else {
                            return None;
                        };
                        if *base == *p {
                            Some(0)
                        } else if base.len() > p.len()
                            && base.ends_with(p)
                            && base.as_bytes()[base.len() - p.len() - 1] == b'/'
                        {
                            Some(1)
                        } else {
                            None
                        }
                    };
                    match prefix {
                        None => Some((1, extra)),
                        Some("") => Some((u8::from(len != 0), extra)),
                        Some(p) => matches(p).map(|score| (score, extra)),
                    }
                })
                .min()
        });
        best.map(|(score, extra)| (score, extra + rest.len()))
    }

    /// Report paths (as written) with their line hits, in path order.
    pub fn files(&self) -> impl Iterator<Item = (&str, &LineHits)> {
        self.files.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Cobertura `<source>` roots (normalised), in report order; empty for lcov.
    pub fn source_roots(&self) -> &[String] {
        &self.roots
    }

    /// Number of files in the report.
    pub fn file_count(&self) -> usize {
        self.files.len()
    }

    fn from_parts(files: BTreeMap<String, LineHits>, roots: Vec<String>) -> Self {
        let mut by_name: HashMap<String, Vec<PathEntry>> = HashMap::new();
        for key in files.keys() {
            let own = normalize_path(key);
            let name = file_name(&own).to_string();
            if name.is_empty() {
                continue;
            }
            let relative = !is_absolute(&own);
            let up = if relative {
                own.split('/').take_while(|part| *part == "..").count()
            } else {
                0
            };
            let rest = (up * 3).min(own.len());
            by_name.entry(name).or_default().push(PathEntry {
                key: key.clone(),
                own,
                relative,
                up,
                rest,
            });
        }
        CoverageReport {
            files,
            roots,
            by_name,
        }
    }
}

/// Streaming state of the Cobertura reader.
struct CoberturaParser<'a> {
    source_name: &'a str,
    text: &'a str,
    /// Local names of the open elements.
    stack: Vec<String>,
    files: BTreeMap<String, LineHits>,
    roots: Vec<String>,
    seen_roots: HashSet<String>,
    /// File name of the `<class>` being read.
    current_file: Option<String>,
    /// Text of the `<source>` being read.
    source_text: Option<String>,
    saw_root: bool,
    saw_class: bool,
}

impl CoberturaParser<'_> {
    /// Handle an opening (or empty) element; the stack holds its ancestors.
    fn open(&mut self, e: &BytesStart<'_>, position: usize) -> Result<(), CoverageError> {
        let name = local_name(e);
        if self.stack.is_empty() {
            if self.saw_root {
                return Err(self.element_error(&name, position, "second root element"));
            }
            self.saw_root = true;
            if name != "coverage" {
                return Err(self.element_error(
                    &name,
                    position,
                    "root element is not <coverage>; not a Cobertura report",
                ));
            }
            return Ok(());
        }
        let parent = self.stack.last().map(String::as_str);
        match name.as_str() {
            "source" if parent == Some("sources") => {
                self.source_text = Some(String::new());
            }
            "class" => {
                let Some(filename) = self.attribute(e, &name, position, "filename")? else {
                    return Err(self.element_error(&name, position, "missing filename attribute"));
                };
                if filename.trim().is_empty() {
                    return Err(self.element_error(&name, position, "empty filename attribute"));
                }
                self.files.entry(filename.clone()).or_default();
                self.current_file = Some(filename);
                self.saw_class = true;
            }
            "line" if parent == Some("lines") && self.current_file.is_some() => {
                let Some(number_text) = self.attribute(e, &name, position, "number")? else {
                    return Err(self.element_error(&name, position, "missing number attribute"));
                };
                let Some(number) = parse_line_number(number_text.trim()) else {
                    return Err(self.element_error(
                        &name,
                        position,
                        &format!("invalid number attribute {number_text:?}"),
                    ));
                };
                let Some(hits_text) = self.attribute(e, &name, position, "hits")? else {
                    return Err(self.element_error(&name, position, "missing hits attribute"));
                };
                let Some(hits) = parse_hits(&hits_text) else {
                    return Err(self.element_error(
                        &name,
                        position,
                        &format!("invalid hits attribute {hits_text:?}"),
                    ));
                };
                if let Some(lines) = self
                    .current_file
                    .as_ref()
                    .and_then(|f| self.files.get_mut(f))
                {
                    let slot = lines.entry(number).or_insert(0);
                    *slot = (*slot).max(hits);
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn push_source_text(&mut self, text: &str) {
        if let Some(buf) = self.source_text.as_mut() {
            buf.push_str(text);
        }
    }

    /// Handle the end of an element (also called right after `open` for empty ones).
    fn close(&mut self, name: &str) {
        match name {
            "class" => self.current_file = None,
            "source" => {
                if let Some(text) = self.source_text.take() {
                    let root = text.trim();
                    if !root.is_empty() {
                        let root = normalize_path(root);
                        if self.seen_roots.insert(root.clone()) {
                            self.roots.push(root);
                        }
                    }
                }
            }
            _ => {}
        }
    }

    fn attribute(
        &self,
        e: &BytesStart<'_>,
        element: &str,
        position: usize,
        wanted: &str,
    ) -> Result<Option<String>, CoverageError> {
        for attr in e.attributes() {
            let attr =
                attr.map_err(|err| self.element_error(element, position, &err.to_string()))?;
            if attr.key.local_name().as_ref() == wanted.as_bytes() {
                let value = attr.unescape_value().map_err(|err| {
                    self.element_error(element, position, &format!("bad {wanted} attribute: {err}"))
                })?;
                return Ok(Some(value.into_owned()));
            }
        }
        Ok(None)
    }

    fn element_error(&self, element: &str, position: usize, message: &str) -> CoverageError {
        CoverageError::Cobertura {
            source_name: self.source_name.to_string(),
            line: line_of(self.text, position),
            element: element.to_string(),
            message: message.to_string(),
        }
    }

    fn xml_error(&self, position: usize, err: impl std::fmt::Display) -> CoverageError {
        CoverageError::Xml {
            source_name: self.source_name.to_string(),
            line: line_of(self.text, position),
            message: err.to_string(),
        }
    }
}

/// Coverage of a change: project coverage at base and head, and of the added lines.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CoverageDelta {
    /// Project line coverage at base, 0..100; None if the report instruments no line.
    pub base_percent: Option<f64>,
    /// Project line coverage at head, 0..100; None if the report instruments no line.
    pub head_percent: Option<f64>,
    /// `head_percent - base_percent`.
    pub delta_points: Option<f64>,
    /// Added lines that the head report instruments.
    pub patch_instrumented: u64,
    /// Added lines that the head report instruments and shows hit at least once.
    pub patch_covered: u64,
    /// 100 × covered / instrumented over added lines; None when no added line is instrumented.
    pub patch_percent: Option<f64>,
    /// Per file (input order, only files with such lines), added line numbers that are
    /// instrumented but not hit, ascending.
    pub uncovered_added: Vec<(String, Vec<u32>)>,
}

/// `added_lines`: per repository path, the line numbers (in the head version of the
/// file) that the change added. A path listed twice is merged; a line listed twice
/// counts once.
pub fn coverage_delta(
    base: &CoverageReport,
    head: &CoverageReport,
    added_lines: &[(String, Vec<u32>)],
) -> CoverageDelta {
    let base_percent = percent(base.totals());
    let head_percent = percent(head.totals());
    let delta_points = match (base_percent, head_percent) {
        (Some(b), Some(h)) => Some(h - b),
        _ => None,
    };

    let mut order: HashMap<&str, usize> = HashMap::new();
    let mut per_file: Vec<(&str, BTreeSet<u32>)> = Vec::new();
    for (path, lines) in added_lines {
        let slot = *order.entry(path.as_str()).or_insert_with(|| {
            per_file.push((path.as_str(), BTreeSet::new()));
            per_file.len() - 1
        });
        per_file[slot].1.extend(lines.iter().copied());
    }

    let mut patch_instrumented = 0u64;
    let mut patch_covered = 0u64;
    let mut uncovered_added = Vec::new();
    for (path, lines) in per_file {
        let Some(hits) = head.file_lines(path) else {
            continue;
        };
        let mut uncovered = Vec::new();
        for line in lines {
            if let Some(&h) = hits.get(&line) {
                patch_instrumented += 1;
                if h > 0 {
                    patch_covered += 1;
                } else {
                    uncovered.push(line);
                }
            }
        }
        if !uncovered.is_empty() {
            uncovered_added.push((path.to_string(), uncovered));
        }
    }

    CoverageDelta {
        base_percent,
        head_percent,
        delta_points,
        patch_instrumented,
        patch_covered,
        patch_percent: percent((patch_covered, patch_instrumented)),
        uncovered_added,
    }
}

fn percent((covered, instrumented): (u64, u64)) -> Option<f64> {
    (instrumented > 0).then(|| 100.0 * covered as f64 / instrumented as f64)
}

fn strip_bom(text: &str) -> &str {
    text.strip_prefix('\u{feff}').unwrap_or(text)
}

fn local_name(e: &BytesStart<'_>) -> String {
    String::from_utf8_lossy(e.local_name().as_ref()).into_owned()
}

fn to_usize(position: u64) -> usize {
    usize::try_from(position).unwrap_or(usize::MAX)
}

/// 1-based line number of byte offset `position` in `text`.
fn line_of(text: &str, position: usize) -> usize {
    let end = position.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

fn parse_line_number(text: &str) -> Option<u32> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// A hit count: decimal digits, saturating at `u64::MAX`; a negative count (counter
/// overflow in lcov) is 0.
fn parse_hits(text: &str) -> Option<u64> {
    let text = text.trim();
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if negative {
        return Some(0);
    }
    Some(digits.parse().unwrap_or(u64::MAX))
}

/// '/' separators, no empty or `.` components, `..` resolved where possible.
/// A leading '/' is kept.
fn normalize_path(path: &str) -> String {
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

fn is_absolute(normalized: &str) -> bool {
    let bytes = normalized.as_bytes();
    normalized.starts_with('/')
        || (bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':')
}

fn file_name(normalized: &str) -> &str {
    normalized.rsplit('/').next().unwrap_or(normalized)
}

/// `normalize_path(root + "/" + "../" × up)` for a normalised root, without building it: the
/// part of the root kept (`/` for an absolute root with nothing left; an empty root is joined
/// as `/`), and how many `..` follow it (a relative root can run out of components).
fn root_base(root: &str, up: usize) -> (&str, usize) {
    if root.is_empty() {
        return ("/", 0);
    }
    let absolute = root.starts_with('/');
    let mut end = root.len();
    let mut removed = 0;
    while removed < up {
        let start = root[..end].rfind('/').map_or(0, |i| i + 1);
        let part = &root[start..end];
        if part.is_empty() || part == ".." {
            break;
        }
        end = start.saturating_sub(1);
        if absolute && end == 0 {
            end = 1;
        }
        removed += 1;
    }
    let dots = if absolute { 0 } else { up - removed };
    (&root[..end], dots)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE_LCOV: &str = include_str!("../../fixtures/coverage/base.info");
    const HEAD_LCOV: &str = include_str!("../../fixtures/coverage/head.info");
    const HEAD_COBERTURA: &str = include_str!("../../fixtures/coverage/head.cobertura.xml");
    const COVERAGE_PY: &str = include_str!("../../fixtures/coverage/coverage-py.xml");

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    fn added() -> Vec<(String, Vec<u32>)> {
        vec![
            // 12 is a closing brace: not instrumented, must not count.
            ("src/lib.rs".to_string(), vec![10, 11, 12]),
            ("src/util.rs".to_string(), vec![5]),
            // Not in the report at all.
            ("docs/notes.md".to_string(), vec![1, 2]),
            ("src/new.rs".to_string(), vec![1, 2, 3, 4]),
        ]
    }

    #[test]
    fn lcov_base_totals_and_hits() {
        let report = CoverageReport::parse_lcov("base.info", BASE_LCOV).unwrap();
        assert_eq!(report.file_count(), 2);
        // lib.rs 3 of 4 lines hit, util.rs 2 of 4.
        assert_eq!(report.totals(), (5, 8));
        assert_eq!(report.line_hits("src/lib.rs", 3), Some(4));
        assert_eq!(report.line_hits("src/lib.rs", 5), Some(0));
        assert_eq!(report.line_hits("src/lib.rs", 6), None);
        assert_eq!(report.line_hits("src/util.rs", 4), Some(1));
    }

    #[test]
    fn lcov_head_merges_records_and_clamps_negative_hits() {
        let report = CoverageReport::parse_lcov("head.info", HEAD_LCOV).unwrap();
        // util.rs appears in two records: merged into one file.
        assert_eq!(report.file_count(), 3);
        // lib.rs 4/6, util.rs 4/5 (line 3: 0 + 1), new.rs 2/3.
        assert_eq!(report.totals(), (10, 14));
        assert_eq!(report.line_hits("src/util.rs", 3), Some(1));
        assert_eq!(report.line_hits("src/util.rs", 1), Some(2));
        // DA:5,-2 (overflowed counter) reads as 0.
        assert_eq!(report.line_hits("src/util.rs", 5), Some(0));
        assert_eq!(report.line_hits("src/new.rs", 2), Some(1));
    }

    #[test]
    fn lcov_sums_repeated_lines_and_saturates_huge_hits() {
        let text = "SF:src/a.rs\nDA:3,2\nDA:3,5\nDA:4,18446744073709551615\nDA:4,5\n\
                    DA:5,99999999999999999999999\nend_of_record\n";
        let report = CoverageReport::parse_lcov("merged.info", text).unwrap();
        assert_eq!(report.line_hits("src/a.rs", 3), Some(7));
        assert_eq!(report.line_hits("src/a.rs", 4), Some(u64::MAX));
        assert_eq!(report.line_hits("src/a.rs", 5), Some(u64::MAX));
        assert_eq!(report.totals(), (3, 3));
    }

    #[test]
    fn lcov_tolerates_crlf_and_bom() {
        let text = "\u{feff}TN:\r\nSF:src/a.rs\r\nDA:1,1\r\nDA:2,0\r\nLF:2\r\nend_of_record\r\n";
        let report = CoverageReport::parse("crlf.info", text).unwrap();
        assert_eq!(report.totals(), (1, 2));
        assert_eq!(report.line_hits("src/a.rs", 1), Some(1));
        assert_eq!(report.files().next().map(|(p, _)| p), Some("src/a.rs"));
    }

    #[test]
    fn cobertura_head_matches_lcov_head() {
        let xml = CoverageReport::parse_cobertura("head.cobertura.xml", HEAD_COBERTURA).unwrap();
        let lcov = CoverageReport::parse_lcov("head.info", HEAD_LCOV).unwrap();
        assert_eq!(xml.file_count(), 3);
        // Method lines repeat class lines and two classes share util.rs: still 10/14.
        assert_eq!(xml.totals(), (10, 14));
        assert_eq!(xml.source_roots(), ["/home/ci/work/proj".to_string()]);
        for (path, lines) in lcov.files() {
            let repo_path = path.trim_start_matches("/home/ci/work/proj/");
            for (&line, &hits) in lines {
                assert_eq!(xml.line_hits(repo_path, line), Some(hits), "{path}:{line}");
            }
        }
        // <line> with <conditions> children is read too.
        assert_eq!(xml.line_hits("src/lib.rs", 10), Some(3));
    }

    #[test]
    fn coverage_py_sources_methods_and_entities() {
        let report = CoverageReport::parse("coverage-py.xml", COVERAGE_PY).unwrap();
        // __init__.py 1/1, mod/a.py 4/6 (method lines not counted again), mod/q&a.py 1/2.
        assert_eq!(report.totals(), (6, 9));
        assert_eq!(
            report.source_roots(),
            ["/home/runner/work/app/app/pkg".to_string()]
        );
        // The repository has the package under pkg/: matched through the <source> root.
        assert_eq!(report.line_hits("pkg/mod/a.py", 6), Some(1));
        assert_eq!(report.line_hits("pkg/mod/a.py", 5), Some(0));
        assert_eq!(report.line_hits("pkg/mod/a.py", 3), None);
        assert_eq!(report.line_hits("pkg/mod/q&a.py", 2), Some(3));
        assert_eq!(report.line_hits("pkg/__init__.py", 1), Some(1));
        assert_eq!(report.line_hits("other/mod/a.py", 6), None);
        assert_eq!(report.resolve_path("pkg/mod/a.py"), Some("mod/a.py"));
    }

    #[test]
    fn cobertura_with_bom_and_windows_source() {
        let text = "\u{feff}\n  <?xml version=\"1.0\"?>\n<coverage><sources><source>C:\\agent\\_work\\1\\s</source>\
                    </sources><packages><package><classes>\
                    <class filename=\"src\\app\\main.ts\"><lines><line number=\"7\" hits=\"2\"/></lines></class>\
                    </classes></package></packages></coverage>";
        let report = CoverageReport::parse("istanbul.xml", text).unwrap();
        assert_eq!(report.totals(), (1, 1));
        assert_eq!(report.line_hits("src/app/main.ts", 7), Some(2));
        assert_eq!(report.line_hits("s/src/app/main.ts", 7), Some(2));
        assert_eq!(report.line_hits("t/src/app/main.ts", 7), None);
    }

    #[test]
    fn delta_from_lcov_reports() {
        let base = CoverageReport::parse("base.info", BASE_LCOV).unwrap();
        let head = CoverageReport::parse("head.info", HEAD_LCOV).unwrap();
        let delta = coverage_delta(&base, &head, &added());
        // base 5/8, head 10/14.
        assert!(close(delta.base_percent.unwrap(), 62.5));
        assert!(close(delta.head_percent.unwrap(), 100.0 * 10.0 / 14.0));
        assert!(close(
            delta.delta_points.unwrap(),
            100.0 * 10.0 / 14.0 - 62.5
        ));
        assert!(close(delta.delta_points.unwrap(), 8.928571428571429));
        // Instrumented added lines: lib 10, 11; util 5; new 1, 2, 3. Hit: lib 10, new 1, 2.
        assert_eq!(delta.patch_instrumented, 6);
        assert_eq!(delta.patch_covered, 3);
        assert!(close(delta.patch_percent.unwrap(), 50.0));
        assert_eq!(
            delta.uncovered_added,
            vec![
                ("src/lib.rs".to_string(), vec![11]),
                ("src/util.rs".to_string(), vec![5]),
                ("src/new.rs".to_string(), vec![3]),
            ]
        );
    }

    #[test]
    fn delta_is_the_same_with_a_cobertura_head() {
        let base = CoverageReport::parse("base.info", BASE_LCOV).unwrap();
        let lcov_head = CoverageReport::parse("head.info", HEAD_LCOV).unwrap();
        let xml_head = CoverageReport::parse("head.cobertura.xml", HEAD_COBERTURA).unwrap();
        let from_lcov = coverage_delta(&base, &lcov_head, &added());
        let from_xml = coverage_delta(&base, &xml_head, &added());
        assert_eq!(from_xml, from_lcov);
        assert_eq!(from_xml.patch_covered, 3);
    }

    #[test]
    fn delta_merges_repeated_paths_and_lines() {
        let head = CoverageReport::parse("head.info", HEAD_LCOV).unwrap();
        let added = vec![
            ("src/new.rs".to_string(), vec![3, 3]),
            ("src/new.rs".to_string(), vec![1, 3]),
        ];
        let delta = coverage_delta(&head, &head, &added);
        assert_eq!(delta.patch_instrumented, 2);
        assert_eq!(delta.patch_covered, 1);
        assert_eq!(delta.delta_points, Some(0.0));
        assert_eq!(
            delta.uncovered_added,
            vec![("src/new.rs".to_string(), vec![3])]
        );
    }

    #[test]
    fn delta_without_instrumented_lines_has_no_percentages() {
        let empty = CoverageReport::parse("empty.info", "SF:src/a.rs\nend_of_record\n").unwrap();
        assert_eq!(empty.totals(), (0, 0));
        let head = CoverageReport::parse("head.info", HEAD_LCOV).unwrap();
        let delta = coverage_delta(&empty, &head, &[("src/lib.rs".to_string(), vec![12])]);
        assert_eq!(delta.base_percent, None);
        assert!(delta.head_percent.is_some());
        assert_eq!(delta.delta_points, None);
        assert_eq!(delta.patch_instrumented, 0);
        assert_eq!(delta.patch_percent, None);
        assert!(delta.uncovered_added.is_empty());
        let json = serde_json::to_string(&delta).unwrap();
        assert!(json.contains("\"patch_percent\":null"), "{json}");
    }

    const PATHS: &str = "\
SF:/home/ci/work/proj/src/a.rs\nDA:1,1\nend_of_record\n\
SF:xsrc/a.rs\nDA:1,2\nend_of_record\n\
SF:C:\\build\\proj\\lib\\b.rs\nDA:1,3\nend_of_record\n\
SF:./src/c.rs\nDA:1,4\nend_of_record\n\
SF:vendor/src/c.rs\nDA:1,5\nend_of_record\n\
SF:/ci/a/deep/src/d.rs\nDA:1,6\nend_of_record\n\
SF:/ci/src/d.rs\nDA:1,7\nend_of_record\n\
SF:/ci/build/../src/e.rs\nDA:1,8\nend_of_record\n";

    #[test]
    fn path_matching_respects_component_boundaries() {
        let report = CoverageReport::parse("paths.info", PATHS).unwrap();
        // Absolute report path; `xsrc/a.rs` must not be taken for `src/a.rs`.
        assert_eq!(report.line_hits("src/a.rs", 1), Some(1));
        assert_eq!(report.line_hits("xsrc/a.rs", 1), Some(2));
        assert_eq!(report.line_hits("rc/a.rs", 1), None);
        assert_eq!(report.line_hits("src/a.rs", 2), None);
        assert_eq!(report.line_hits("src/missing.rs", 1), None);
        assert_eq!(report.line_hits("", 1), None);
    }

    #[test]
    fn path_matching_normalises_and_prefers_exact_then_shortest() {
        let report = CoverageReport::parse("paths.info", PATHS).unwrap();
        // Backslashes and a drive letter.
        assert_eq!(report.line_hits("lib/b.rs", 1), Some(3));
        assert_eq!(
            report.resolve_path("lib/b.rs"),
            Some("C:\\build\\proj\\lib\\b.rs")
        );
        // `./src/c.rs` is exactly `src/c.rs`, preferred over `vendor/src/c.rs`.
        assert_eq!(report.line_hits("src/c.rs", 1), Some(4));
        assert_eq!(report.line_hits("./src/c.rs", 1), Some(4));
        assert_eq!(report.line_hits("vendor/src/c.rs", 1), Some(5));
        // Two absolute paths end in src/d.rs: the shorter wins.
        assert_eq!(report.line_hits("src/d.rs", 1), Some(7));
        assert_eq!(report.line_hits("deep/src/d.rs", 1), Some(6));
        // `..` in a report path is resolved.
        assert_eq!(report.line_hits("ci/src/e.rs", 1), Some(8));
        assert_eq!(report.line_hits("build/src/e.rs", 1), None);
    }

    #[test]
    fn path_lookup_scales_to_large_reports() {
        let mut text = String::new();
        for i in 0..10_000 {
            text.push_str(&format!(
                "SF:/home/ci/proj/crate{}/src/mod{}.rs\nDA:1,{}\nend_of_record\n",
                i % 50,
                i,
                i
            ));
        }
        let report = CoverageReport::parse("big.info", &text).unwrap();
        assert_eq!(report.file_count(), 10_000);
        let added: Vec<(String, Vec<u32>)> = (0..1_000)
            .map(|i| {
                (
                    format!("crate{}/src/mod{}.rs", (i * 7) % 50, i * 7),
                    vec![1, 2],
                )
            })
            .collect();
        let delta = coverage_delta(&report, &report, &added);
        assert_eq!(delta.patch_instrumented, 1_000);
        // Only mod0.rs has 0 hits.
        assert_eq!(delta.patch_covered, 999);
        assert_eq!(report.line_hits("crate3/src/mod3003.rs", 1), Some(3003));
        assert_eq!(report.line_hits("crate4/src/mod3003.rs", 1), None);
    }

    fn message(result: Result<CoverageReport, CoverageError>) -> String {
        match result {
            Ok(report) => panic!("expected an error, got {report:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn lcov_garbage_line_number_names_report_and_line() {
        let text = "TN:\nSF:src/a.rs\nDA:1,1\nDA:x7,1\nend_of_record\n";
        let msg = message(CoverageReport::parse("ci/lcov.info", text));
        assert!(msg.starts_with("ci/lcov.info: line 4:"), "{msg}");
        assert!(msg.contains("x7"), "{msg}");
    }

    #[test]
    fn lcov_bad_hit_count_names_report_and_line() {
        let text = "SF:src/a.rs\nDA:1,1\nDA:2,lots\nend_of_record\n";
        let msg = message(CoverageReport::parse_lcov("unit.info", text));
        assert!(msg.starts_with("unit.info: line 3:"), "{msg}");
        assert!(msg.contains("lots"), "{msg}");
        let msg = message(CoverageReport::parse_lcov("unit.info", "SF:a.rs\nDA:2\n"));
        assert!(msg.starts_with("unit.info: line 2:"), "{msg}");
    }

    #[test]
    fn lcov_da_before_sf_is_an_error() {
        let text = "TN:\nDA:1,1\nSF:src/a.rs\nDA:2,1\nend_of_record\n";
        let msg = message(CoverageReport::parse_lcov("early.info", text));
        assert!(msg.starts_with("early.info: line 2:"), "{msg}");
        assert!(msg.contains("outside an SF record"), "{msg}");
        // After end_of_record there is no current file either.
        let text = "SF:src/a.rs\nDA:1,1\nend_of_record\nDA:2,1\n";
        let msg = message(CoverageReport::parse_lcov("late.info", text));
        assert!(msg.starts_with("late.info: line 4:"), "{msg}");
    }

    #[test]
    fn empty_or_recordless_input_is_an_error() {
        for text in ["", "  \n\r\n", "TN:\nLF:0\n", "\u{feff}"] {
            let result = CoverageReport::parse("empty.info", text);
            assert!(
                matches!(result, Err(CoverageError::NoRecords { .. })),
                "{text:?}: {result:?}"
            );
            assert_eq!(message(result), "empty.info: no coverage records");
        }
        let xml = "<coverage><sources><source>/x</source></sources><packages/></coverage>";
        assert_eq!(
            message(CoverageReport::parse("empty.xml", xml)),
            "empty.xml: no coverage records"
        );
    }

    #[test]
    fn cobertura_missing_hits_names_report_element_and_line() {
        let text = "<coverage><packages><package><classes>\n\
                    <class filename=\"a.py\"><lines>\n\
                    <line number=\"1\" hits=\"1\"/>\n\
                    <line number=\"2\"/>\n\
                    </lines></class></classes></package></packages></coverage>\n";
        let msg = message(CoverageReport::parse("cov.xml", text));
        assert!(msg.starts_with("cov.xml: line 4: <line>:"), "{msg}");
        assert!(msg.contains("hits"), "{msg}");
        let text = text.replace("<line number=\"2\"/>", "<line hits=\"0\"/>");
        let msg = message(CoverageReport::parse("cov.xml", &text));
        assert!(msg.starts_with("cov.xml: line 4: <line>:"), "{msg}");
        assert!(msg.contains("number"), "{msg}");
        let text = text.replace("<line hits=\"0\"/>", "<line number=\"two\" hits=\"0\"/>");
        let msg = message(CoverageReport::parse("cov.xml", &text));
        assert!(msg.contains("two"), "{msg}");
    }

    #[test]
    fn cobertura_structural_errors() {
        let msg = message(CoverageReport::parse(
            "c.xml",
            "<coverage>\n<packages><class name=\"x\"><lines/></class></packages></coverage>",
        ));
        assert!(msg.starts_with("c.xml: line 2: <class>:"), "{msg}");
        assert!(msg.contains("filename"), "{msg}");

        let msg = message(CoverageReport::parse(
            "c.xml",
            "<coverage>\n<packages>\n</coverage>",
        ));
        assert!(msg.starts_with("c.xml: line 3: malformed XML"), "{msg}");

        let msg = message(CoverageReport::parse("c.xml", "<coverage>\n<packages>"));
        assert!(msg.starts_with("c.xml: line 2: malformed XML"), "{msg}");
        assert!(msg.contains("<packages>"), "{msg}");

        let msg = message(CoverageReport::parse("c.xml", "<html><body/></html>"));
        assert!(msg.starts_with("c.xml: line 1: <html>:"), "{msg}");

        let msg = message(CoverageReport::parse(
            "c.xml",
            "<coverage><packages>\n<class filename=oops/>",
        ));
        assert!(msg.starts_with("c.xml: line 2: <class>:"), "{msg}");
    }

    #[test]
    fn truncated_reports_fail_cleanly() {
        let closing = "</coverage>";
        for (end, _) in HEAD_COBERTURA.char_indices().skip(1) {
            let prefix = &HEAD_COBERTURA[..end];
            let result = CoverageReport::parse("cut.xml", prefix);
            assert_eq!(result.is_ok(), prefix.contains(closing), "cut at {end}");
        }
        let (_, full) = CoverageReport::parse("head.info", HEAD_LCOV)
            .unwrap()
            .totals();
        for (end, _) in HEAD_LCOV.char_indices() {
            if let Ok(report) = CoverageReport::parse("cut.info", &HEAD_LCOV[..end]) {
                assert!(report.totals().1 <= full, "cut at {end}");
            }
        }
        for text in [
            "<",
            "<<",
            "<?",
            "<!--",
            "&",
            "DA:",
            "SF:",
            "SF: \nDA:,",
            "DA:1,1",
        ] {
            assert!(CoverageReport::parse("odd", text).is_err(), "{text:?}");
        }
    }
}

//! Line coverage from lcov and Cobertura XML reports, and the coverage signal of a change.
//!
//! Everything here is pure: callers read the report files and pass their text in.
//! Two reports (base and head of a change) plus the lines the change added give a
//! [`CoverageDelta`]: project coverage before and after, and how much of the added
//! code the head report shows as executed.
//!
//! The two report formats are read in `lcov` and `cobertura`; `paths` maps repository paths to
//! the paths a report names; `delta` is the signal of a change.

use std::collections::{BTreeMap, HashMap};

mod cobertura;
mod delta;
mod lcov;
mod paths;

pub use delta::{coverage_delta, CoverageDelta};

use paths::PathEntry;

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
    /// More files or lines than [`MOST_FILES`] or [`MOST_LINES`].
    #[error("{source_name}: more than {most} {what}; riskgate reads no report this large")]
    TooLarge {
        source_name: String,
        what: &'static str,
        most: usize,
    },
}

/// Largest coverage report read, from a file or out of an artifact (counted in bytes
/// actually decompressed).
pub const MAX_REPORT_BYTES: u64 = 128 * 1024 * 1024;

/// Most files one report may list. A monorepo's lists tens of thousands; each costs a few
/// hundred bytes of lookups, so a report of nothing but short file names would otherwise take
/// about 75 times its size in memory.
pub const MOST_FILES: usize = 200_000;
/// Most instrumented lines one report may list, over all its files (tens of bytes each held).
pub const MOST_LINES: usize = 20_000_000;

/// Counts what a report being read holds against [`MOST_FILES`] and [`MOST_LINES`], and files
/// each path under the first spelling seen of it.
struct ReportSize<'a> {
    source_name: &'a str,
    lines: usize,
    /// Normalised path -> the spelling its lines are kept under. Tools and merged runs write one
    /// file as `./src/a.rs`, `src/a.rs` or `src\a.rs`; kept apart, the file would count once
    /// per spelling in the report's totals.
    spellings: HashMap<String, String>,
}

impl<'a> ReportSize<'a> {
    fn of(source_name: &'a str) -> Self {
        ReportSize {
            source_name,
            lines: 0,
            spellings: HashMap::new(),
        }
    }

    fn too_large(&self, what: &'static str, most: usize) -> CoverageError {
        CoverageError::TooLarge {
            source_name: self.source_name.to_string(),
            what,
            most,
        }
    }

    /// The hits of `number` in `lines`, a line counted the first time it is seen.
    fn line<'m>(
        &mut self,
        lines: &'m mut LineHits,
        number: u32,
    ) -> Result<&'m mut u64, CoverageError> {
        use std::collections::btree_map::Entry;
        match lines.entry(number) {
            Entry::Occupied(hits) => Ok(hits.into_mut()),
            Entry::Vacant(slot) => {
                self.lines += 1;
                if self.lines > MOST_LINES {
                    return Err(self.too_large("lines", MOST_LINES));
                }
                Ok(slot.insert(0))
            }
        }
    }

    /// The key of `path`'s lines in `files`: the first spelling seen of the same normalised
    /// path. A file is counted the first time it is seen.
    fn file(
        &mut self,
        files: &mut BTreeMap<String, LineHits>,
        path: &str,
    ) -> Result<String, CoverageError> {
        let normalized = paths::normalize_path(path);
        if let Some(key) = self.spellings.get(&normalized) {
            return Ok(key.clone());
        }
        if files.len() >= MOST_FILES {
            return Err(self.too_large("files", MOST_FILES));
        }
        files.insert(path.to_string(), LineHits::new());
        self.spellings.insert(normalized, path.to_string());
        Ok(path.to_string())
    }
}

impl CoverageReport {
    /// Detect the format from the content (Cobertura XML if it starts, after
    /// whitespace/BOM, with `<`; otherwise lcov) and parse.
    pub fn parse(source_name: &str, text: &str) -> Result<CoverageReport, CoverageError> {
        if is_cobertura(text) {
            Self::parse_cobertura(source_name, text)
        } else {
            Self::parse_lcov(source_name, text)
        }
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
}

/// A line number: decimal digits. 0, which no source line has (some tools write it for code
/// they cannot place), is `Some(0)`; readers skip it.
/// Whether report text is Cobertura XML (it starts, after a byte-order mark and whitespace,
/// with `<`) rather than lcov.
pub fn is_cobertura(text: &str) -> bool {
    crate::input::without_bom(text)
        .trim_start()
        .starts_with('<')
}

/// The text of a report's bytes. UTF-16 with a byte-order mark (what Windows PowerShell's `>`
/// writes) is decoded; anything else is read as UTF-8, an invalid byte replaced.
pub fn report_text(bytes: &[u8]) -> std::borrow::Cow<'_, str> {
    let utf16 = |unit: fn([u8; 2]) -> u16| {
        let units = bytes[2..]
            .chunks_exact(2)
            .map(|pair| unit([pair[0], pair[1]]));
        char::decode_utf16(units)
            .map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER))
            .collect::<String>()
    };
    match bytes {
        [0xFF, 0xFE, ..] => std::borrow::Cow::Owned(utf16(u16::from_le_bytes)),
        [0xFE, 0xFF, ..] => std::borrow::Cow::Owned(utf16(u16::from_be_bytes)),
        _ => String::from_utf8_lossy(bytes),
    }
}

pub(super) fn parse_line_number(text: &str) -> Option<u32> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// A hit count: decimal digits, saturating at `u64::MAX`; a negative count (counter
/// overflow in lcov) is 0.
pub(super) fn parse_hits(text: &str) -> Option<u64> {
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

/// Reports and an error reader the tests of every part share.
#[cfg(test)]
mod testdata {
    use super::{CoverageError, CoverageReport};

    pub(super) const BASE_LCOV: &str = include_str!("../../../fixtures/coverage/base.info");
    pub(super) const HEAD_LCOV: &str = include_str!("../../../fixtures/coverage/head.info");
    pub(super) const HEAD_COBERTURA: &str =
        include_str!("../../../fixtures/coverage/head.cobertura.xml");
    pub(super) const COVERAGE_PY: &str = include_str!("../../../fixtures/coverage/coverage-py.xml");

    pub(super) fn message(result: Result<CoverageReport, CoverageError>) -> String {
        match result {
            Ok(report) => panic!("expected an error, got {report:?}"),
            Err(e) => e.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::testdata::{message, HEAD_COBERTURA, HEAD_LCOV};
    use super::*;

    /// A report of more files than riskgate holds is refused by its size, in either format,
    /// and one file more than the limit is what tips it; a file named again costs nothing.
    #[test]
    fn a_report_past_its_files_or_lines_is_refused() {
        let names = |n: usize| (0..n).map(|i| format!("f{i}")).collect::<Vec<_>>();
        let lcov = |n: usize| {
            let mut text: String = names(n).iter().map(|f| format!("SF:{f}\n")).collect();
            text.push_str("SF:f0\nDA:1,1\nend_of_record\n");
            text
        };
        assert_eq!(
            CoverageReport::parse("at.info", &lcov(MOST_FILES))
                .unwrap()
                .file_count(),
            MOST_FILES
        );
        let refused = message(CoverageReport::parse("past.info", &lcov(MOST_FILES + 1)));
        assert_eq!(
            refused,
            format!("past.info: more than {MOST_FILES} files; riskgate reads no report this large")
        );
        let classes: String = names(MOST_FILES + 1)
            .iter()
            .map(|f| format!("<class filename=\"{f}\"/>"))
            .collect();
        let xml = format!("<coverage><packages><package><classes>{classes}</classes></package></packages></coverage>");
        let refused = message(CoverageReport::parse("past.xml", &xml));
        assert!(
            refused.contains(&format!("more than {MOST_FILES} files")),
            "{refused}"
        );

        // Lines: counted once each over all files, however often a line is listed.
        let mut size = ReportSize::of("lines.info");
        size.lines = MOST_LINES - 1;
        let mut lines = LineHits::new();
        *size.line(&mut lines, 7).unwrap() += 1;
        *size.line(&mut lines, 7).unwrap() += 1;
        assert_eq!(lines[&7], 2);
        let refused = size.line(&mut lines, 8).unwrap_err().to_string();
        assert!(
            refused.contains(&format!("more than {MOST_LINES} lines")),
            "{refused}"
        );
    }

    /// One file written under several spellings is one file: its lines counted once in the
    /// totals, merged as each format merges a file listed twice (lcov sums, Cobertura keeps the
    /// most hits), and found under any of the spellings.
    #[test]
    fn one_file_under_several_spellings_counts_once() {
        let lcov = "SF:./src/a.rs\nDA:1,1\nDA:2,0\nend_of_record\n\
                    SF:src/a.rs\nDA:1,2\nDA:2,0\nend_of_record\n\
                    SF:src\\a.rs\nDA:3,0\nend_of_record\n\
                    SF:src/b.rs\nDA:1,0\nend_of_record\n";
        let report = CoverageReport::parse("spellings.info", lcov).unwrap();
        assert_eq!(report.file_count(), 2);
        assert_eq!(report.totals(), (1, 4));
        assert_eq!(report.line_hits("src/a.rs", 1), Some(3));
        assert_eq!(report.line_hits("src/a.rs", 3), Some(0));
        assert_eq!(report.resolve_path("src/a.rs"), Some("./src/a.rs"));

        let class = |name: &str, hits: u32| {
            format!("<class filename=\"{name}\"><lines><line number=\"1\" hits=\"{hits}\"/><line number=\"2\" hits=\"0\"/></lines></class>")
        };
        let xml = format!(
            "<coverage><packages><package><classes>{}{}</classes></package></packages></coverage>",
            class("pkg/a.py", 2),
            class("pkg/./a.py", 5)
        );
        let report = CoverageReport::parse("spellings.xml", &xml).unwrap();
        assert_eq!(report.file_count(), 1);
        assert_eq!(report.totals(), (1, 2));
        assert_eq!(report.line_hits("pkg/a.py", 1), Some(5));
    }

    /// Line 0 is no line of a source file: it is left out of a report, in either format.
    #[test]
    fn line_zero_is_left_out() {
        let lcov = "SF:src/a.rs\nDA:0,1\nDA:1,0\nend_of_record\n";
        let report = CoverageReport::parse("zero.info", lcov).unwrap();
        assert_eq!(report.totals(), (0, 1));
        assert_eq!(report.line_hits("src/a.rs", 0), None);
        let xml = "<coverage><packages><package><classes><class filename=\"a.py\"><lines>\
                   <line number=\"0\" hits=\"1\"/><line number=\"1\" hits=\"0\"/>\
                   </lines></class></classes></package></packages></coverage>";
        let report = CoverageReport::parse("zero.xml", xml).unwrap();
        assert_eq!(report.totals(), (0, 1));
    }

    /// A report saved as UTF-16 (with its byte-order mark, either byte order) reads as the same
    /// report saved as UTF-8, in either format.
    #[test]
    fn utf16_reports_read_as_their_utf8_text() {
        for text in [HEAD_LCOV, HEAD_COBERTURA] {
            let utf8 = CoverageReport::parse("r", text).unwrap();
            let units: Vec<u16> = "\u{feff}"
                .encode_utf16()
                .chain(text.encode_utf16())
                .collect();
            let little: Vec<u8> = units.iter().flat_map(|u| u.to_le_bytes()).collect();
            let big: Vec<u8> = units.iter().flat_map(|u| u.to_be_bytes()).collect();
            for bytes in [little, big] {
                let decoded = report_text(&bytes);
                assert_eq!(is_cobertura(&decoded), is_cobertura(text));
                assert_eq!(CoverageReport::parse("r", &decoded).unwrap(), utf8);
            }
        }
        // Not UTF-16: UTF-8 with its bad bytes replaced.
        assert_eq!(report_text(b"SF:a\xff"), "SF:a\u{fffd}");
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

//! Reading lcov tracefiles.

use std::collections::BTreeMap;

use super::{parse_hits, parse_line_number, CoverageError, CoverageReport, LineHits, ReportSize};

impl CoverageReport {
    /// Parse an lcov tracefile (`SF:` / `DA:` / `end_of_record`; other records are ignored).
    /// The last record must be closed by `end_of_record`.
    ///
    /// Hits of a line listed more than once for a file, or of a file in several
    /// records, are summed (merged test runs); so are those of one file written under
    /// several spellings (`./src/a.rs`, `src/a.rs`). Negative hit counts, which lcov
    /// writes after a counter overflow, count as 0. Line 0, no line of a source file, is
    /// left out.
    pub fn parse_lcov(source_name: &str, text: &str) -> Result<CoverageReport, CoverageError> {
        let text = crate::input::without_bom(text);
        let mut files: BTreeMap<String, LineHits> = BTreeMap::new();
        let mut current: Option<String> = None;
        let mut saw_record = false;
        let mut size = ReportSize::of(source_name);
        let err = |line: usize, message: String| CoverageError::Lcov {
            source_name: source_name.to_string(),
            line,
            message,
        };

        let mut last_line = 0;
        for (index, raw) in text.split('\n').enumerate() {
            let line_no = index + 1;
            let line = raw.trim();
            if line.is_empty() {
                continue;
            }
            last_line = line_no;
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
                    current = Some(size.file(&mut files, path)?);
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
                    if number == 0 {
                        continue;
                    }
                    if let Some(lines) = files.get_mut(path) {
                        let slot = size.line(lines, number)?;
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
        // A report cut short (an upload or artifact that stopped) would otherwise count only
        // the lines it still has, and a change's coverage would read better or worse than it is.
        if let Some(path) = current {
            return Err(err(
                last_line,
                format!("the record of {path:?} has no end_of_record: the file looks cut short"),
            ));
        }
        Ok(Self::from_parts(files, Vec::new()))
    }
}

#[cfg(test)]
mod tests {
    use super::super::testdata::{message, BASE_LCOV, HEAD_LCOV};
    use super::*;

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
    fn lcov_cut_short_is_an_error() {
        let whole =
            "SF:src/a.rs\nDA:1,1\nend_of_record\nSF:src/b.rs\nDA:1,0\nDA:2,0\nend_of_record\n";
        assert!(CoverageReport::parse_lcov("whole.info", whole).is_ok());
        let cut = &whole[..whole.rfind("DA:2").unwrap()];
        let msg = message(CoverageReport::parse_lcov("cut.info", cut));
        assert!(msg.starts_with("cut.info: line 5:"), "{msg}");
        assert!(
            msg.contains("src/b.rs") && msg.contains("cut short"),
            "{msg}"
        );
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
}

//! The coverage signal of a change: project coverage at base and head, and how much of the
//! added code the head report shows as executed.

use std::collections::{BTreeSet, HashMap};

use super::CoverageReport;

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

#[cfg(test)]
mod tests {
    use super::super::testdata::{BASE_LCOV, HEAD_COBERTURA, HEAD_LCOV};
    use super::*;

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
}

//! Labels for training: which changes turned out buggy, and why we think so.
//!
//! Pure logic only (messages, lines, dates); the walk over a repository that feeds it lives
//! in `mining::mine`. Every positive label carries its provenance (`revert:<sha>`,
//! `szz:<fix sha>`), because published SZZ variants are right only 40–70% of the time.

use std::fmt;

pub mod deployments;
pub mod incident_input;
pub mod incidents;
pub mod revert;
pub mod szz;

/// A kind of label `riskgate mine --labels` can produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LabelKind {
    /// The change was reverted later.
    Revert,
    /// SZZ: a later fix changed or removed lines this change wrote.
    Szz,
}

impl LabelKind {
    pub const ALL: [LabelKind; 2] = [LabelKind::Revert, LabelKind::Szz];

    pub fn name(self) -> &'static str {
        match self {
            LabelKind::Revert => "revert",
            LabelKind::Szz => "szz",
        }
    }
}

impl fmt::Display for LabelKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Parse a comma-separated list of label kinds (`revert,szz`). At least one is required:
/// a dataset without labels cannot train anything.
pub fn parse_kinds(text: &str) -> Result<Vec<LabelKind>, String> {
    let mut kinds = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        if part.eq_ignore_ascii_case("none") {
            return Err(
                "at least one label kind is required (revert, szz): a dataset labelled by nothing cannot train a model"
                    .to_string(),
            );
        }
        let kind = LabelKind::ALL
            .into_iter()
            .find(|k| k.name().eq_ignore_ascii_case(part))
            .ok_or_else(|| {
                format!(
                    "unknown label kind `{part}` (known: revert, szz; at least one is required)"
                )
            })?;
        if !kinds.contains(&kind) {
            kinds.push(kind);
        }
    }
    if kinds.is_empty() {
        return Err("at least one label kind is required (revert, szz)".to_string());
    }
    kinds.sort();
    Ok(kinds)
}

/// One positive label: its kind and the commit that gave it (the revert, or the fix).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Provenance {
    pub kind: LabelKind,
    pub by: String,
}

impl fmt::Display for Provenance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.kind, self.by)
    }
}

/// The `label_source` cell: provenances joined with `;` (empty when clean).
pub fn label_source(provenance: &[Provenance]) -> String {
    provenance
        .iter()
        .map(|p| p.to_string())
        .collect::<Vec<_>>()
        .join(";")
}

/// The first line of a commit message, trimmed.
pub fn subject(message: &str) -> &str {
    message.lines().next().unwrap_or("").trim()
}

/// Which of a pull request's scores stands for it when it merged: the last made at or before
/// `merged_at` (unix ms). `order` gives each score's (time in unix ms, store id): among scores
/// of the same millisecond the higher id is the later. With `or_latest`, a pull request with no
/// score by then (never merged, or scored only after merging) is represented by its latest
/// score instead of none: what a chart of labelled pull requests wants, but never training,
/// where a score made after the merge could know what followed it.
pub fn score_at_merge<T>(
    scores: impl IntoIterator<Item = T>,
    merged_at: Option<i64>,
    order: impl Fn(&T) -> (i64, i64),
    or_latest: bool,
) -> Option<T> {
    let before_merge = |s: &T| merged_at.is_none_or(|m| order(s).0 <= m);
    scores
        .into_iter()
        .filter(|s| or_latest || (merged_at.is_some() && before_merge(s)))
        .max_by_key(|s| (before_merge(s), order(s)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_parse_and_need_one() {
        assert_eq!(
            parse_kinds("szz,revert").unwrap(),
            vec![LabelKind::Revert, LabelKind::Szz]
        );
        assert_eq!(parse_kinds("revert").unwrap(), vec![LabelKind::Revert]);
        assert!(parse_kinds("").unwrap_err().contains("at least one"));
        assert!(parse_kinds("none").unwrap_err().contains("at least one"));
        assert!(parse_kinds("revert,blame").is_err());
    }

    #[test]
    fn provenance_cell() {
        let p = vec![
            Provenance {
                kind: LabelKind::Revert,
                by: "abc".into(),
            },
            Provenance {
                kind: LabelKind::Szz,
                by: "def".into(),
            },
        ];
        assert_eq!(label_source(&p), "revert:abc;szz:def");
        assert_eq!(label_source(&[]), "");
    }

    #[test]
    fn the_score_at_merge_is_the_last_one_made_by_then() {
        // (time, id): two scores in the same millisecond are ordered by id.
        let scores = [(10, 1), (20, 3), (20, 2), (30, 4)];
        let pick =
            |merged, or_latest| score_at_merge(scores.iter(), merged, |s| **s, or_latest).copied();
        assert_eq!(pick(Some(25), false), Some((20, 3)));
        assert_eq!(
            pick(Some(20), false),
            Some((20, 3)),
            "a score at the merge counts"
        );
        assert_eq!(pick(Some(5), false), None, "only scores after the merge");
        assert_eq!(pick(None, false), None, "never merged");
        assert_eq!(
            pick(Some(25), true),
            Some((20, 3)),
            "before the merge still wins"
        );
        assert_eq!(pick(Some(5), true), Some((30, 4)));
        assert_eq!(pick(None, true), Some((30, 4)));
        let none: [(i64, i64); 0] = [];
        assert_eq!(score_at_merge(none.iter(), Some(1), |s| **s, true), None);
    }
}

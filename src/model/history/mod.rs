//! A training dataset from the App's own history: the feature vectors stored when each pull
//! request was scored, labelled by what happened after it merged.
//!
//! Pure: the caller loads the scores, pull requests and incident links out of the store.
//!
//! - **Rows.** One per pull request that was scored *and* merged: only a merged change can
//!   have caused trouble in production, and an open one's outcome is not known yet.
//! - **Features as they were then.** A row's values are those of the pull request's last score
//!   recorded at or before its merge. A score made after the merge (a re-run, a late event)
//!   is never used: it may know things the gate could not have known.
//! - **Time.** `author_date` is the merge time, so the chronological split trains on older
//!   merges and tests on newer ones.
//! - **Label.** Buggy when [`pull_labels`] has a positive label for it: an incident linked to
//!   it (rejected links are gone from the store) or a merged pull request that reverted it.
//!   Every positive keeps its provenance (`incident:<id>`, `revert:#<n>`).
//! - **Missing values.** A signal absent (or `null`) in a score is missing for that row, as an
//!   `NA` cell is in a CSV dataset; a signal with no number in any row is not a column.
//!
//! The rows are chosen and labelled in `build`; this file holds what they are made of and the
//! reports written about them.
//!
//! [`pull_labels`]: crate::labels::incidents::pull_labels

use serde::Serialize;
use serde_json::Value;

use super::dataset::Dataset;
use super::train::LABEL_SOURCE;
use crate::labels::deployments::PullRecord;
use crate::labels::incidents::Link;

mod build;

pub use build::history_dataset;

/// The dataset's name in tables, metrics and the model's provenance.
pub const HISTORY_SOURCE: &str = "history";

/// How the rows of a history dataset are labelled, for the model's provenance.
pub const HISTORY_LABEL_SOURCE: &str = "riskgate's own history: a merged pull request is buggy \
     when an incident is linked to it (the incident names it, its commit or its release window; \
     links a maintainer rejected excluded) or a merged pull request reverted it; features are \
     those stored by its last score at or before the merge";

/// One stored score, as the builder reads it.
#[derive(Debug, Clone, Copy)]
pub struct StoredScore<'a> {
    /// The store's id: among scores recorded in the same millisecond, the higher is the later.
    pub id: i64,
    pub pr_number: i64,
    /// Unix milliseconds.
    pub created_at: i64,
    pub model_version: &'a str,
    /// Signal name → value, as stored when the pull request was scored.
    pub features: &'a Value,
}

/// What the store holds of one repository.
#[derive(Debug, Clone, Copy)]
pub struct RepositoryHistory<'a> {
    pub repository: &'a str,
    pub scores: &'a [StoredScore<'a>],
    pub pulls: &'a [PullRecord],
    pub links: &'a [Link],
}

/// Where one row came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HistoryRow {
    pub repository: String,
    pub pr_number: i64,
    /// Unix milliseconds.
    pub merged_at: i64,
    /// The score whose features the row holds.
    pub score_id: i64,
    pub scored_at: i64,
    pub model_version: String,
    /// Why the row is buggy (`incident:<id>`, `revert:#<n>`); empty when clean.
    pub labels: Vec<String>,
}

/// Positive rows by the kind of label; a row with both kinds counts in both.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct LabelProvenance {
    /// Rows linked to at least one incident.
    pub incident: usize,
    /// Rows reverted by a merged pull request.
    pub revert: usize,
    /// Rows with both kinds.
    pub incident_and_revert: usize,
}

/// What was left out, and why.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Skipped {
    /// Scored pull requests not merged (open, closed unmerged, or never seen closing).
    pub not_merged: usize,
    /// Merged pull requests whose every score was made after the merge.
    pub scored_only_after_merge: usize,
    /// Scores made after their pull request merged (never used).
    pub scores_after_merge: usize,
    /// Pull requests whose last pre-merge score stores no feature object.
    pub no_features: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HistorySummary {
    pub repositories: Vec<String>,
    pub rows: usize,
    pub positives: usize,
    pub label_provenance: LabelProvenance,
    pub skipped: Skipped,
}

impl HistorySummary {
    /// One line for the terminal.
    pub fn describe(&self) -> String {
        let p = &self.label_provenance;
        let s = &self.skipped;
        format!(
            "{HISTORY_SOURCE}: {} scored, merged pull requests of {}, {} buggy ({} linked to an incident, {} reverted, {} both); \
             left out: {} not merged, {} scored only after merging, {} without features; {} scores made after a merge ignored",
            self.rows,
            self.repositories.join(", "),
            self.positives,
            p.incident,
            p.revert,
            p.incident_and_revert,
            s.not_merged,
            s.scored_only_after_merge,
            s.no_features,
            s.scores_after_merge,
        )
    }
}

/// The dataset and, row by row, where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryDataset {
    pub dataset: Dataset,
    /// Same order as `dataset.rows`.
    pub rows: Vec<HistoryRow>,
    pub summary: HistorySummary,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum HistoryError {
    #[error("the database holds no scored, merged pull requests: {0}")]
    Empty(String),
    #[error(
        "the database holds {rows} scored, merged pull requests and {positives} of them are labelled buggy: \
         training needs both incident-linked or reverted PRs and clean ones"
    )]
    OneClass { rows: usize, positives: usize },
    #[error(
        "the database holds {rows} scored, merged pull requests: at least {min} are needed for a chronological split"
    )]
    TooFewRows { rows: usize, min: usize },
}

/// A repository asked for that the store does not know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownRepository {
    pub asked: String,
    /// Every repository the store knows.
    pub known: Vec<String>,
}

impl std::fmt::Display for UnknownRepository {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the database knows no repository `{}` (it knows: {})",
            self.asked,
            if self.known.is_empty() {
                "none".to_string()
            } else {
                self.known.join(", ")
            }
        )
    }
}

impl std::error::Error for UnknownRepository {}

/// The repositories whose history to train on: every one the store knows when none is asked
/// for; otherwise those asked (blank names skipped), matched to the store's spelling without
/// regard to case, in the order asked, each once.
pub fn choose_repositories(
    known: &[String],
    asked: &[String],
) -> Result<Vec<String>, UnknownRepository> {
    if asked.is_empty() {
        return Ok(known.to_vec());
    }
    let mut wanted: Vec<String> = Vec::new();
    for r in asked.iter().map(|r| r.trim()).filter(|r| !r.is_empty()) {
        let Some(k) = known.iter().find(|k| k.eq_ignore_ascii_case(r)) else {
            return Err(UnknownRepository {
                asked: r.to_string(),
                known: known.to_vec(),
            });
        };
        if !wanted.contains(k) {
            wanted.push(k.clone());
        }
    }
    Ok(wanted)
}

impl HistoryDataset {
    /// Records in a model's provenance that it learned from this history: where its labels
    /// come from (this history's, or both kinds when CSV datasets were used too) and what this
    /// dataset holds.
    pub fn record_provenance(
        &self,
        provenance: &mut serde_json::Map<String, Value>,
        with_csv: bool,
    ) {
        let label_source = if with_csv {
            format!("the CSV datasets: {LABEL_SOURCE}; `{HISTORY_SOURCE}`: {HISTORY_LABEL_SOURCE}")
        } else {
            HISTORY_LABEL_SOURCE.to_string()
        };
        provenance.insert("label_source".into(), label_source.into());
        provenance.insert(HISTORY_SOURCE.into(), self.provenance_json());
    }

    /// What the model's provenance and `metrics.json` say about this dataset.
    pub fn provenance_json(&self) -> Value {
        serde_json::json!({
            "label_source": HISTORY_LABEL_SOURCE,
            "repositories": self.summary.repositories,
            "rows": self.summary.rows,
            "positives": self.summary.positives,
            "label_provenance": self.summary.label_provenance,
            "skipped": self.summary.skipped,
        })
    }

    /// One line per row, for the report: which pull request, when it merged, which score's
    /// features it holds, and why it is buggy.
    pub fn labels_csv(&self) -> String {
        let mut out = String::from(
            "pull_request,merged_at,score_id,scored_at,model_version,buggy,label_source\n",
        );
        let quote = |s: &str| {
            if s.contains([',', '"', '\n', '\r']) {
                format!("\"{}\"", s.replace('"', "\"\""))
            } else {
                s.to_string()
            }
        };
        for r in &self.rows {
            out.push_str(&format!(
                "{},{},{},{},{},{},{}\n",
                quote(&format!("{}#{}", r.repository, r.pr_number)),
                r.merged_at.div_euclid(1000),
                r.score_id,
                r.scored_at.div_euclid(1000),
                quote(&r.model_version),
                !r.labels.is_empty() as u8,
                quote(&r.labels.join(";")),
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repositories_are_chosen_from_those_the_store_knows() {
        let known = vec!["Org/Api".to_string(), "org/web".to_string()];
        let asked = |names: &[&str]| names.iter().map(|n| n.to_string()).collect::<Vec<_>>();
        assert_eq!(choose_repositories(&known, &[]).unwrap(), known);
        assert_eq!(
            choose_repositories(&known, &asked(&["org/web", " org/api", "ORG/WEB", ""])).unwrap(),
            ["org/web", "Org/Api"]
        );
        let err = choose_repositories(&known, &asked(&["org/nope"])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the database knows no repository `org/nope` (it knows: Org/Api, org/web)"
        );
        let err = choose_repositories(&[], &asked(&["o/r"])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the database knows no repository `o/r` (it knows: none)"
        );
    }
}

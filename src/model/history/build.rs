//! Building the history dataset: which score each merged pull request contributes, its label,
//! and the columns of the rows.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::super::dataset::{Dataset, Row};
use super::super::train::MIN_ROWS;
use super::{
    HistoryDataset, HistoryError, HistoryRow, HistorySummary, LabelProvenance, RepositoryHistory,
    Skipped, StoredScore, HISTORY_SOURCE,
};
use crate::labels::incidents::{pull_labels, PullLabel};
use crate::labels::score_at_merge;

/// A stored value as a number: numbers as themselves, booleans as 1/0; anything else
/// (`null`, text) is missing.
fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64().filter(|x| x.is_finite()),
        Value::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
        _ => None,
    }
}

/// Builds the dataset. Repositories are read in the order given; rows are ordered by merge
/// time, then repository and number.
pub fn history_dataset(
    repositories: &[RepositoryHistory<'_>],
) -> Result<HistoryDataset, HistoryError> {
    struct Chosen<'a> {
        row: HistoryRow,
        features: &'a serde_json::Map<String, Value>,
    }
    let mut chosen: Vec<Chosen<'_>> = Vec::new();
    let mut skipped = Skipped::default();
    let mut scored_pulls = 0usize;
    let mut names = Vec::new();
    for repo in repositories {
        let labels = pull_labels(repo.links, repo.pulls);
        let merged: BTreeMap<i64, i64> = repo
            .pulls
            .iter()
            .filter_map(|p| p.merged_at.map(|at| (p.number, at)))
            .collect();
        let mut by_pull: BTreeMap<i64, Vec<&StoredScore<'_>>> = BTreeMap::new();
        for s in repo.scores {
            by_pull.entry(s.pr_number).or_default().push(s);
        }
        scored_pulls += by_pull.len();
        if !by_pull.is_empty() {
            names.push(repo.repository.to_string());
        }
        for (number, scores) in by_pull {
            let Some(&merged_at) = merged.get(&number) else {
                skipped.not_merged += 1;
                continue;
            };
            skipped.scores_after_merge +=
                scores.iter().filter(|s| s.created_at > merged_at).count();
            let at_merge = score_at_merge(scores, Some(merged_at), |s| (s.created_at, s.id), false);
            let Some(last) = at_merge else {
                skipped.scored_only_after_merge += 1;
                continue;
            };
            let Some(features) = last.features.as_object() else {
                skipped.no_features += 1;
                continue;
            };
            chosen.push(Chosen {
                row: HistoryRow {
                    repository: repo.repository.to_string(),
                    pr_number: number,
                    merged_at,
                    score_id: last.id,
                    scored_at: last.created_at,
                    model_version: last.model_version.to_string(),
                    labels: labels
                        .get(&number)
                        .map(|l| l.iter().map(PullLabel::provenance).collect())
                        .unwrap_or_default(),
                },
                features,
            });
        }
    }
    if chosen.is_empty() {
        let detail = if scored_pulls == 0 {
            "no pull request has a stored score (riskgate serve stores one each time it checks a pull request)".to_string()
        } else {
            format!(
                "of {scored_pulls} scored pull requests, {} are not merged, {} were scored only after merging and {} have no stored features",
                skipped.not_merged, skipped.scored_only_after_merge, skipped.no_features
            )
        };
        return Err(HistoryError::Empty(detail));
    }
    chosen.sort_by(|a, b| {
        (a.row.merged_at, &a.row.repository, a.row.pr_number).cmp(&(
            b.row.merged_at,
            &b.row.repository,
            b.row.pr_number,
        ))
    });

    // Columns: every signal with a number in some row, by name.
    let columns: Vec<String> = chosen
        .iter()
        .flat_map(|c| c.features.iter())
        .filter(|(_, v)| number(v).is_some())
        .map(|(k, _)| k.clone())
        .collect::<BTreeSet<String>>()
        .into_iter()
        .collect();
    let mut provenance = LabelProvenance::default();
    let mut rows = Vec::with_capacity(chosen.len());
    for c in &chosen {
        let incident = c.row.labels.iter().any(|l| l.starts_with("incident:"));
        let revert = c.row.labels.iter().any(|l| l.starts_with("revert:"));
        provenance.incident += incident as usize;
        provenance.revert += revert as usize;
        provenance.incident_and_revert += (incident && revert) as usize;
        rows.push(Row {
            commit_id: format!("{}#{}", c.row.repository, c.row.pr_number),
            author_date: c.row.merged_at.div_euclid(1000),
            values: columns
                .iter()
                .map(|name| c.features.get(name).and_then(number))
                .collect(),
            buggy: !c.row.labels.is_empty(),
        });
    }
    let positives = rows.iter().filter(|r| r.buggy).count();
    if rows.len() < MIN_ROWS {
        return Err(HistoryError::TooFewRows {
            rows: rows.len(),
            min: MIN_ROWS,
        });
    }
    if positives == 0 || positives == rows.len() {
        return Err(HistoryError::OneClass {
            rows: rows.len(),
            positives,
        });
    }
    let summary = HistorySummary {
        repositories: names,
        rows: rows.len(),
        positives,
        label_provenance: provenance,
        skipped,
    };
    Ok(HistoryDataset {
        dataset: Dataset {
            names: columns,
            rows,
            source: HISTORY_SOURCE.to_string(),
        },
        rows: chosen.into_iter().map(|c| c.row).collect(),
        summary,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::labels::deployments::PullRecord;
    use crate::labels::incidents::{Link, LinkReason};
    use serde_json::json;

    const H: i64 = 3_600_000;

    fn pull(n: i64, merged_at: Option<i64>) -> PullRecord {
        PullRecord {
            repository: "o/r".into(),
            number: n,
            title: format!("PR {n}"),
            author: None,
            head_sha: None,
            merge_commit_sha: None,
            merged_at,
            closed_at: merged_at,
            reverts_number: None,
        }
    }

    fn link(incident: &str, pr: i64) -> Link {
        Link {
            incident_id: incident.into(),
            repository: "o/r".into(),
            pr_number: pr,
            reason: LinkReason::ExplicitPr,
            why: String::new(),
            deployment_id: None,
        }
    }

    fn score<'a>(id: i64, pr: i64, at: i64, features: &'a Value) -> StoredScore<'a> {
        StoredScore {
            id,
            pr_number: pr,
            created_at: at,
            model_version: "m1",
            features,
        }
    }

    /// Twelve merged PRs #1..=12, merged at hour 10×n; #13 open; #14 closed unmerged.
    fn pulls() -> Vec<PullRecord> {
        let mut p: Vec<PullRecord> = (1..=12).map(|n| pull(n, Some(10 * n * H))).collect();
        p.push(pull(13, None));
        p.push(pull(14, None));
        p.last_mut().unwrap().closed_at = Some(5 * H);
        // #20 reverts #3; #21 "reverts" #4 but was never merged, so it labels nothing.
        let mut revert = pull(20, Some(200 * H));
        revert.reverts_number = Some(3);
        p.push(revert);
        let mut unmerged = pull(21, None);
        unmerged.reverts_number = Some(4);
        p.push(unmerged);
        p
    }

    fn features(la: f64) -> Value {
        json!({"la": la, "nf": 2.0, "fix": false, "coverage_delta": null})
    }

    #[test]
    fn last_pre_merge_score_wins_and_later_ones_are_ignored() {
        let early: Vec<Value> = (0..=14).map(|n| features(1000.0 + n as f64)).collect();
        let last: Vec<Value> = (0..=14).map(|n| features(n as f64)).collect();
        let after = features(-1.0);
        let mut scores = Vec::new();
        for n in 1..=14i64 {
            let merge = 10 * n * H;
            scores.push(score(100 + n, n, merge - 2 * H, &early[n as usize]));
            // Made exactly at the merge: still "as it was then".
            scores.push(score(200 + n, n, merge, &last[n as usize]));
            // After the merge: misleading, never used.
            scores.push(score(300 + n, n, merge + H, &after));
        }
        // #12: two scores in the same millisecond; the later id wins.
        let tie = features(555.0);
        scores.push(score(400, 12, 120 * H, &tie));
        // #11 was scored only after merging.
        scores.retain(|s| s.pr_number != 11 || s.created_at > 110 * H);
        let pulls = pulls();
        let links = vec![link("INC-7", 5), link("INC-8", 3)];
        let h = history_dataset(&[RepositoryHistory {
            repository: "o/r",
            scores: &scores,
            pulls: &pulls,
            links: &links,
        }])
        .unwrap();
        let d = &h.dataset;
        assert_eq!(d.source, "history");
        assert_eq!(
            d.names,
            ["fix", "la", "nf"],
            "null-only signals are no column"
        );
        let numbers: Vec<i64> = h.rows.iter().map(|r| r.pr_number).collect();
        assert_eq!(
            numbers,
            [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12],
            "by merge time; #11, #13, #14 out"
        );
        let la = d.column("la").unwrap();
        for (row, meta) in d.rows.iter().zip(&h.rows) {
            let expected = if meta.pr_number == 12 {
                555.0
            } else {
                meta.pr_number as f64
            };
            assert_eq!(row.values[la], Some(expected), "#{}", meta.pr_number);
            assert_eq!(row.author_date, 10 * meta.pr_number * 3600);
            assert_eq!(row.commit_id, format!("o/r#{}", meta.pr_number));
            assert_eq!(row.values[d.column("fix").unwrap()], Some(0.0));
        }
        assert_eq!(h.rows[10].score_id, 400);
        assert_eq!(h.rows[0].model_version, "m1");

        // Labels: #3 by an incident and the merged revert #20, #5 by an incident; #4's revert
        // never merged.
        let buggy: Vec<(i64, Vec<String>)> = h
            .rows
            .iter()
            .filter(|r| !r.labels.is_empty())
            .map(|r| (r.pr_number, r.labels.clone()))
            .collect();
        assert_eq!(
            buggy,
            [
                (
                    3,
                    vec!["incident:INC-8".to_string(), "revert:#20".to_string()]
                ),
                (5, vec!["incident:INC-7".to_string()]),
            ]
        );
        assert_eq!(d.positives(), 2);
        assert!(d.rows[2].buggy && d.rows[4].buggy && !d.rows[3].buggy);
        let s = &h.summary;
        assert_eq!(
            s.label_provenance,
            LabelProvenance {
                incident: 2,
                revert: 1,
                incident_and_revert: 1
            }
        );
        assert_eq!(
            s.skipped,
            Skipped {
                not_merged: 2,
                scored_only_after_merge: 1,
                scores_after_merge: 12,
                no_features: 0,
            }
        );
        assert_eq!(s.repositories, ["o/r"]);
        let p = h.provenance_json();
        assert_eq!(p["label_provenance"]["revert"], 1);
        assert_eq!(p["rows"], 11);
        let csv = h.labels_csv();
        assert!(
            csv.contains("\no/r#3,108000,203,108000,m1,1,incident:INC-8;revert:#20\n"),
            "{csv}"
        );
        assert!(s
            .describe()
            .contains("2 linked to an incident, 1 reverted, 1 both"));
    }

    #[test]
    fn missing_signals_are_missing_and_repositories_are_pooled() {
        let full = json!({"la": 10, "age": 5});
        let partial = json!({"la": 3});
        let text = json!({"la": "many", "age": 1});
        let pulls_a: Vec<PullRecord> = (1..=6).map(|n| pull(n, Some(n * H))).collect();
        let mut pulls_b = pulls_a.clone();
        for p in &mut pulls_b {
            p.repository = "o/s".into();
        }
        let sa: Vec<StoredScore> = (1..=6)
            .map(|n| score(n, n, 0, if n % 2 == 0 { &full } else { &partial }))
            .collect();
        let sb: Vec<StoredScore> = (1..=6).map(|n| score(10 + n, n, 0, &text)).collect();
        let la = vec![link("INC-1", 2)];
        let h = history_dataset(&[
            RepositoryHistory {
                repository: "o/r",
                scores: &sa,
                pulls: &pulls_a,
                links: &la,
            },
            RepositoryHistory {
                repository: "o/s",
                scores: &sb,
                pulls: &pulls_b,
                links: &[],
            },
        ])
        .unwrap();
        assert_eq!(h.dataset.names, ["age", "la"]);
        assert_eq!(h.dataset.rows.len(), 12);
        // Same merge time in both: o/r first.
        assert_eq!(h.dataset.rows[0].commit_id, "o/r#1");
        assert_eq!(h.dataset.rows[1].commit_id, "o/s#1");
        assert_eq!(h.dataset.rows[0].values, [None, Some(3.0)]);
        assert_eq!(h.dataset.rows[2].values, [Some(5.0), Some(10.0)]);
        assert_eq!(
            h.dataset.rows[1].values,
            [Some(1.0), None],
            "text is missing"
        );
        assert_eq!(h.dataset.positives(), 1, "labels stay in their repository");
        assert_eq!(h.summary.repositories, ["o/r", "o/s"]);
    }

    #[test]
    fn clear_errors() {
        let pulls: Vec<PullRecord> = pulls()
            .into_iter()
            .filter(|p| p.reverts_number.is_none())
            .collect();
        let none = history_dataset(&[RepositoryHistory {
            repository: "o/r",
            scores: &[],
            pulls: &pulls,
            links: &[],
        }])
        .unwrap_err();
        assert!(matches!(none, HistoryError::Empty(_)));
        assert!(
            none.to_string()
                .starts_with("the database holds no scored, merged pull requests: "),
            "{none}"
        );
        let f = features(1.0);
        let open = [score(1, 13, 0, &f), score(2, 1, 20 * H, &f)];
        let err = history_dataset(&[RepositoryHistory {
            repository: "o/r",
            scores: &open,
            pulls: &pulls,
            links: &[],
        }])
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("1 are not merged, 1 were scored only after merging"),
            "{err}"
        );

        let all: Vec<StoredScore> = (1..=12).map(|n| score(n, n, 0, &f)).collect();
        let err = history_dataset(&[RepositoryHistory {
            repository: "o/r",
            scores: &all,
            pulls: &pulls,
            links: &[],
        }])
        .unwrap_err();
        assert_eq!(
            err,
            HistoryError::OneClass {
                rows: 12,
                positives: 0
            }
        );
        assert!(err
            .to_string()
            .contains("needs both incident-linked or reverted PRs and clean ones"));
        let every: Vec<Link> = (1..=12).map(|n| link("INC", n)).collect();
        let err = history_dataset(&[RepositoryHistory {
            repository: "o/r",
            scores: &all,
            pulls: &pulls,
            links: &every,
        }])
        .unwrap_err();
        assert_eq!(
            err,
            HistoryError::OneClass {
                rows: 12,
                positives: 12
            }
        );

        let few = &all[..4];
        let err = history_dataset(&[RepositoryHistory {
            repository: "o/r",
            scores: few,
            pulls: &pulls,
            links: &[link("INC", 1)],
        }])
        .unwrap_err();
        assert_eq!(err, HistoryError::TooFewRows { rows: 4, min: 10 });

        // A score without a feature object is left out, not a panic.
        let odd = json!("not an object");
        let mut some: Vec<StoredScore> = all.clone();
        some.push(score(99, 12, 1, &odd));
        let h = history_dataset(&[RepositoryHistory {
            repository: "o/r",
            scores: &some,
            pulls: &pulls,
            links: &[link("INC", 1)],
        }])
        .unwrap();
        assert_eq!(h.summary.skipped.no_features, 1);
        assert_eq!(h.summary.rows, 11);
    }
}

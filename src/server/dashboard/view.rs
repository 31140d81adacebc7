//! What the dashboard of one repository shows, built from its production history, its release
//! health and the current model. Pure: the handler loads the history and the model, this
//! builds the figures and the chart data, and `page` renders them.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::health::{repository_health, weekly, RepositoryHealth, WeekBucket};
use crate::labels::incidents::pull_labels;
use crate::labels::score_at_merge;
use crate::model::metrics::{reliability, roc_auc, roc_curve, thin_curve};
use crate::model::Model;
use crate::production::RepoHistory;
use crate::store::Score;

const DAY_MS: i64 = 24 * 60 * 60 * 1000;
const WEEK_MS: i64 = 7 * DAY_MS;

/// The figures and the list of pull requests cover this many days.
pub const PERIOD_DAYS: i64 = 90;
/// The release chart covers this many weeks.
pub const CHART_WEEKS: i64 = 12;
/// At most this many pull requests are listed and drawn.
pub const MAX_PULLS: usize = 100;
/// A curve is drawn with at most about this many points.
pub const MAX_CURVE_POINTS: usize = 200;
/// Bins of the calibration plot made from the App's own history.
pub const CALIBRATION_BINS: usize = 10;

/// Where a curve's data came from.
pub const SOURCE_MODEL: &str = "model";
pub const SOURCE_HISTORY: &str = "history";

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RepoView {
    pub repository: String,
    /// Unix ms; the figures cover [since, generated_at).
    pub generated_at: i64,
    pub since: i64,
    pub model: ModelSummary,
    /// The latest score of each pull request scored in the period, newest first, at most
    /// [`MAX_PULLS`].
    pub pulls: Vec<PullRow>,
    /// Pull requests scored in the period (before the cap).
    pub pulls_in_period: usize,
    pub health: RepositoryHealth,
    /// Weekly deployments and incidents per environment, the last [`CHART_WEEKS`] weeks.
    pub releases: Vec<EnvironmentWeeks>,
    pub roc: Vec<RocSeries>,
    pub calibration: Vec<CalibrationSeries>,
    /// Why a curve is missing, one sentence per source.
    pub curve_notes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelSummary {
    pub version: String,
    pub elevated: f64,
    pub high: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PullRow {
    pub number: i64,
    /// From the merged or closed pull request, when the App has seen it close.
    pub title: Option<String>,
    pub probability: f64,
    pub band: String,
    pub model_version: String,
    pub head_sha: String,
    pub scored_at: i64,
    /// Why the pull request is labelled buggy (`incident:<id>`, `revert:#<n>`); empty when it
    /// is not.
    pub labels: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EnvironmentWeeks {
    pub environment: String,
    pub weeks: Vec<WeekBucket>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RocSeries {
    /// [`SOURCE_MODEL`] or [`SOURCE_HISTORY`].
    pub source: &'static str,
    /// Where the data came from, in words.
    pub label: String,
    pub auc: Option<f64>,
    /// (false positive rate, true positive rate).
    pub points: Vec<[f64; 2]>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CalibrationSeries {
    pub source: &'static str,
    pub label: String,
    /// Non-empty bins only.
    pub bins: Vec<CalibrationPoint>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CalibrationPoint {
    /// Mean predicted probability of the bin.
    pub predicted: f64,
    /// Share of buggy changes in it.
    pub observed: f64,
    pub count: u64,
}

/// The dashboard of `history.repository` at `now_ms`.
pub fn repo_view(history: &RepoHistory, model: &Model, now_ms: i64) -> RepoView {
    let repository = history.repository.as_str();
    let since = now_ms - PERIOD_DAYS * DAY_MS;
    let health = repository_health(
        repository,
        &history.releases,
        &history.incidents,
        &history.links,
        &history.scored_pulls(),
        since,
        now_ms,
    );
    let labels = pull_labels(&history.links, &history.pulls);
    let titles: BTreeMap<i64, &str> = history
        .pulls
        .iter()
        .map(|p| (p.number, p.title.as_str()))
        .collect();

    let mut latest: BTreeMap<i64, &Score> = BTreeMap::new();
    for s in history
        .scores
        .iter()
        .filter(|s| s.created_at >= since && s.created_at < now_ms)
    {
        match latest.get(&s.pr_number) {
            Some(prev) if (prev.created_at, prev.id) > (s.created_at, s.id) => {}
            _ => {
                latest.insert(s.pr_number, s);
            }
        }
    }
    let mut recent: Vec<&Score> = latest.into_values().collect();
    recent.sort_by_key(|s| std::cmp::Reverse((s.created_at, s.pr_number)));
    let pulls_in_period = recent.len();
    let pulls = recent
        .into_iter()
        .take(MAX_PULLS)
        .map(|s| PullRow {
            number: s.pr_number,
            title: titles.get(&s.pr_number).map(|t| t.to_string()),
            probability: s.probability,
            band: s.band.clone(),
            model_version: s.model_version.clone(),
            head_sha: s.head_sha.clone(),
            scored_at: s.created_at,
            labels: labels
                .get(&s.pr_number)
                .map(|ls| ls.iter().map(|l| l.provenance()).collect())
                .unwrap_or_default(),
        })
        .collect();

    let chart_since = now_ms - CHART_WEEKS * WEEK_MS;
    let releases = health
        .environments
        .iter()
        .map(|e| EnvironmentWeeks {
            environment: e.environment.clone(),
            weeks: weekly(
                repository,
                &e.environment,
                &history.releases,
                &history.incidents,
                chart_since,
                now_ms,
            ),
        })
        .collect();

    let mut roc = Vec::new();
    let mut calibration = Vec::new();
    let mut curve_notes = Vec::new();
    match model_curves(model) {
        Curves::Both(r, c) => {
            roc.extend(r);
            calibration.extend(c);
        }
        Curves::Missing(note) => curve_notes.push(note),
    }
    match history_curves(history) {
        Curves::Both(r, c) => {
            roc.extend(r);
            calibration.extend(c);
        }
        Curves::Missing(note) => curve_notes.push(note),
    }

    RepoView {
        repository: repository.to_string(),
        generated_at: now_ms,
        since,
        model: ModelSummary {
            version: model.version.clone(),
            elevated: model.thresholds.elevated,
            high: model.thresholds.high,
        },
        pulls,
        pulls_in_period,
        health,
        releases,
        roc,
        calibration,
        curve_notes,
    }
}

enum Curves {
    /// Either may be absent when only the other could be read.
    Both(Option<RocSeries>, Option<CalibrationSeries>),
    Missing(String),
}

fn unit(v: &serde_json::Value) -> Option<f64> {
    v.as_f64()
        .filter(|x| x.is_finite() && (0.0..=1.0).contains(x))
}

/// The pooled hold-out curves `riskgate train` writes into the model (`metrics.curves`).
fn model_curves(model: &Model) -> Curves {
    let Some(curves) = model.metrics.get("curves").filter(|c| c.is_object()) else {
        return Curves::Missing(format!(
            "The model in use ({}) carries no hold-out curves: models trained before the \
             dashboard existed do not record them; retrain to get them.",
            model.version
        ));
    };
    let points: Vec<[f64; 2]> = curves
        .get("roc")
        .and_then(|r| r.as_array())
        .map(|pts| {
            pts.iter()
                .filter_map(|p| {
                    let p = p.as_array()?;
                    match p.as_slice() {
                        [f, t] => Some([unit(f)?, unit(t)?]),
                        _ => None,
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    let bins: Vec<CalibrationPoint> = curves
        .get("calibration")
        .and_then(|c| c.as_array())
        .map(|bins| {
            bins.iter()
                .filter_map(|b| {
                    let count = b.get("count").and_then(|c| c.as_u64())?;
                    Some(CalibrationPoint {
                        predicted: unit(b.get("predicted")?)?,
                        observed: unit(b.get("observed")?)?,
                        count,
                    })
                })
                .filter(|b| b.count > 0)
                .collect()
        })
        .unwrap_or_default();
    let pooled_auc = model
        .metrics
        .get("pooled")
        .and_then(|p| p.get("auc"))
        .and_then(unit);
    let rows = model
        .metrics
        .get("pooled")
        .and_then(|p| p.get("rows"))
        .and_then(|r| r.as_u64());
    let of_rows = rows.map(|n| format!(" of {n} changes")).unwrap_or_default();
    let roc = (points.len() >= 2).then(|| RocSeries {
        source: SOURCE_MODEL,
        label: format!(
            "the model's training hold-out{of_rows} (model {}, pooled)",
            model.version
        ),
        auc: pooled_auc.or_else(|| trapezoid(&points)),
        points: thin(&points, MAX_CURVE_POINTS),
    });
    let calibration = (!bins.is_empty()).then(|| CalibrationSeries {
        source: SOURCE_MODEL,
        label: format!(
            "the model's training hold-out{of_rows} (model {}, pooled)",
            model.version
        ),
        bins,
    });
    if roc.is_none() && calibration.is_none() {
        return Curves::Missing(format!(
            "The curves recorded in the model in use ({}) could not be read.",
            model.version
        ));
    }
    Curves::Both(roc, calibration)
}

/// Stored scores against the labels the App's history gives: merged pull requests (and any
/// labelled buggy), each with the last score it had when it merged.
fn history_curves(history: &RepoHistory) -> Curves {
    let labels = pull_labels(&history.links, &history.pulls);
    let merged: BTreeMap<i64, i64> = history
        .pulls
        .iter()
        .filter_map(|p| p.merged_at.map(|at| (p.number, at)))
        .collect();
    // Per pull request: the last score at or before its merge, else its last score.
    let mut by_pull: BTreeMap<i64, Vec<&Score>> = BTreeMap::new();
    for s in history.scores.iter().filter(|s| s.probability.is_finite()) {
        if merged.contains_key(&s.pr_number) || labels.contains_key(&s.pr_number) {
            by_pull.entry(s.pr_number).or_default().push(s);
        }
    }
    let chosen: BTreeMap<i64, &Score> = by_pull
        .into_iter()
        .filter_map(|(number, scores)| {
            let merged_at = merged.get(&number).copied();
            score_at_merge(scores, merged_at, |s| (s.created_at, s.id), true).map(|s| (number, s))
        })
        .collect();
    let probabilities: Vec<f64> = chosen.values().map(|s| s.probability).collect();
    let buggy: Vec<bool> = chosen.keys().map(|n| labels.contains_key(n)).collect();
    let positives = buggy.iter().filter(|b| **b).count();
    let negatives = buggy.len() - positives;
    if positives == 0 || negatives == 0 {
        return Curves::Missing(format!(
            "No curve from this repository's history yet: of {} scored pull requests that \
             merged or were labelled buggy, {positives} are labelled buggy (incident links, \
             reverts) and {negatives} are not; both kinds are needed.",
            buggy.len()
        ));
    }
    let label = format!(
        "this repository's history: {} scored pull requests, {positives} labelled buggy by \
         incident links or reverts (scores as given by the model of their time)",
        buggy.len()
    );
    let points: Vec<[f64; 2]> = roc_curve(&probabilities, &buggy)
        .into_iter()
        .map(|(f, t)| [f, t])
        .collect();
    let bins: Vec<CalibrationPoint> = reliability(&probabilities, &buggy, CALIBRATION_BINS)
        .into_iter()
        .filter_map(|b| {
            Some(CalibrationPoint {
                predicted: b.mean_predicted?,
                observed: b.observed_rate?,
                count: b.count as u64,
            })
        })
        .collect();
    Curves::Both(
        Some(RocSeries {
            source: SOURCE_HISTORY,
            label: label.clone(),
            auc: roc_auc(&probabilities, &buggy),
            points: thin(&points, MAX_CURVE_POINTS),
        }),
        Some(CalibrationSeries {
            source: SOURCE_HISTORY,
            label,
            bins,
        }),
    )
}

/// Area under a ROC curve by the trapezoid rule.
fn trapezoid(points: &[[f64; 2]]) -> Option<f64> {
    if points.len() < 2 {
        return None;
    }
    let area = points
        .windows(2)
        .map(|w| (w[1][0] - w[0][0]) * (w[1][1] + w[0][1]) / 2.0)
        .sum::<f64>();
    Some(area.clamp(0.0, 1.0))
}

/// At most about `max` points of a curve, the first and last always kept.
fn thin(points: &[[f64; 2]], max: usize) -> Vec<[f64; 2]> {
    let pairs: Vec<(f64, f64)> = points.iter().map(|p| (p[0], p[1])).collect();
    thin_curve(&pairs, max)
        .into_iter()
        .map(|(x, y)| [x, y])
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::labels::deployments::{releases, Deployment, DeploymentStatus, PullRecord};
    use crate::labels::incidents::{Incident, Link, LinkReason};
    use serde_json::json;

    const NOW: i64 = 1_000 * DAY_MS;
    const MIN: i64 = 60_000;

    fn model(metrics: serde_json::Value) -> Model {
        let mut m = Model::from_json(crate::model::file::SHIPPED_MODEL).unwrap();
        m.metrics = metrics;
        m
    }

    fn score(id: i64, pr: i64, p: f64, band: &str, at: i64) -> Score {
        Score {
            id,
            repository: "o/r".into(),
            pr_number: pr,
            head_sha: format!("{pr:040}"),
            base_sha: "b".repeat(40),
            probability: p,
            band: band.into(),
            model_version: "m1".into(),
            features: json!({}),
            conclusion: "success".into(),
            check_run_id: None,
            delivery_id: None,
            created_at: at,
        }
    }

    fn pull(n: i64, merged_at: Option<i64>, reverts: Option<i64>) -> PullRecord {
        PullRecord {
            repository: "o/r".into(),
            number: n,
            title: format!("Change <{n}>"),
            author: None,
            head_sha: None,
            merge_commit_sha: None,
            merged_at,
            closed_at: merged_at,
            reverts_number: reverts,
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

    fn history() -> RepoHistory {
        let d = |id, env: &str, at| Deployment {
            id,
            repository: "o/r".into(),
            environment: env.into(),
            sha: format!("sha{id}"),
            ref_name: None,
            task: None,
            description: None,
            creator: None,
            created_at: at,
        };
        let s = |id, dep, state: &str, at| DeploymentStatus {
            id,
            deployment_id: dep,
            repository: "o/r".into(),
            state: state.into(),
            creator: None,
            description: None,
            created_at: at,
        };
        let deployments = vec![
            d(1, "production", NOW - 10 * DAY_MS),
            d(2, "production", NOW - 3 * DAY_MS),
            d(3, "production", NOW - 200 * DAY_MS),
        ];
        let statuses = vec![
            s(1, 1, "success", NOW - 10 * DAY_MS + 10 * MIN),
            s(2, 2, "failure", NOW - 3 * DAY_MS + 5 * MIN),
            s(3, 3, "success", NOW - 200 * DAY_MS + MIN),
        ];
        RepoHistory {
            repository: "o/r".into(),
            releases: releases(&deployments, &statuses),
            pulls: vec![
                pull(1, Some(NOW - 20 * DAY_MS), None),
                pull(2, Some(NOW - 19 * DAY_MS), None),
                pull(3, Some(NOW - 18 * DAY_MS), None),
                pull(4, None, None),
                pull(5, Some(NOW - 2 * DAY_MS), Some(3)),
            ],
            incidents: vec![Incident {
                id: "inc-1".into(),
                source: "api".into(),
                title: "down".into(),
                repository: Some("o/r".into()),
                service: None,
                environment: Some("production".into()),
                opened_at: NOW - 9 * DAY_MS,
                resolved_at: None,
                commit_sha: None,
                pr_number: Some(1),
                body: None,
            }],
            links: vec![link("inc-1", 1)],
            scores: vec![
                // #1: scored low, then high before merging; a later rescore does not count
                // for the curves.
                score(1, 1, 0.05, "low", NOW - 22 * DAY_MS),
                score(2, 1, 0.40, "high", NOW - 21 * DAY_MS),
                score(3, 1, 0.01, "low", NOW - 5 * DAY_MS),
                score(4, 2, 0.08, "low", NOW - 19 * DAY_MS - MIN),
                score(5, 3, 0.20, "elevated", NOW - 18 * DAY_MS - MIN),
                // #4 never merged: listed, not in the curves.
                score(6, 4, 0.30, "elevated", NOW - DAY_MS),
                score(7, 5, 0.02, "low", NOW - 2 * DAY_MS - MIN),
                // Too old for the list.
                score(8, 9, 0.5, "high", NOW - 120 * DAY_MS),
            ],
        }
    }

    #[test]
    fn lists_the_latest_score_of_each_recent_pull_newest_first() {
        let v = repo_view(&history(), &model(json!({})), NOW);
        let numbers: Vec<i64> = v.pulls.iter().map(|p| p.number).collect();
        assert_eq!(numbers, [4, 5, 1, 3, 2]);
        assert_eq!(v.pulls_in_period, 5);
        let one = v.pulls.iter().find(|p| p.number == 1).unwrap();
        assert_eq!((one.probability, one.band.as_str()), (0.01, "low"));
        assert_eq!(one.labels, ["incident:inc-1"]);
        assert_eq!(one.title.as_deref(), Some("Change <1>"));
        let three = v.pulls.iter().find(|p| p.number == 3).unwrap();
        assert_eq!(three.labels, ["revert:#5"]);
        assert_eq!(v.model.version, model(json!({})).version);
        assert_eq!(v.since, NOW - 90 * DAY_MS);
    }

    #[test]
    fn caps_the_list() {
        let mut h = history();
        h.scores = (0..150)
            .map(|i| score(i, i, 0.1, "low", NOW - DAY_MS + i))
            .collect();
        let v = repo_view(&h, &model(json!({})), NOW);
        assert_eq!(v.pulls.len(), MAX_PULLS);
        assert_eq!(v.pulls_in_period, 150);
        assert_eq!(v.pulls[0].number, 149);
    }

    #[test]
    fn weekly_releases_for_each_environment_of_the_period() {
        let v = repo_view(&history(), &model(json!({})), NOW);
        assert_eq!(v.releases.len(), 1);
        let weeks = &v.releases[0].weeks;
        assert_eq!(weeks.len(), CHART_WEEKS as usize);
        // The chart starts 84 days ago: 10 and 9 days ago fall in week 10 (of 0..12), 3 days
        // ago in week 11.
        assert_eq!(weeks[10].successful, 1);
        assert_eq!(weeks[10].incidents, 1);
        assert_eq!(weeks[11].failed, 1);
        let total: usize = weeks.iter().map(|w| w.successful + w.failed).sum();
        assert_eq!(
            total, 2,
            "the deployment of 200 days ago is out of the chart"
        );
        let prod = &v.health.environments[0];
        assert_eq!((prod.deployments, prod.failed_release_rate), (2, Some(0.5)));
    }

    #[test]
    fn history_curves_use_merged_pulls_with_their_score_at_merge() {
        let v = repo_view(&history(), &model(json!({})), NOW);
        // Merged: #1 (0.40 at merge, incident), #2 (0.08), #3 (0.20, reverted), #5 (0.02).
        let roc = v.roc.iter().find(|r| r.source == SOURCE_HISTORY).unwrap();
        assert_eq!(
            roc.points,
            [[0.0, 0.0], [0.0, 0.5], [0.0, 1.0], [0.5, 1.0], [1.0, 1.0]]
        );
        assert_eq!(roc.auc, Some(1.0));
        assert!(roc
            .label
            .contains("4 scored pull requests, 2 labelled buggy"));
        let cal = v
            .calibration
            .iter()
            .find(|c| c.source == SOURCE_HISTORY)
            .unwrap();
        let counts: Vec<u64> = cal.bins.iter().map(|b| b.count).collect();
        assert_eq!(counts, [2, 1, 1], "bins 0.0-0.1, 0.2-0.3, 0.4-0.5");
        assert_eq!(cal.bins[0].observed, 0.0);
        assert_eq!(cal.bins[1].observed, 1.0);
        // The shipped model has no curves: said so, not drawn.
        assert!(v.roc.iter().all(|r| r.source != SOURCE_MODEL));
        assert_eq!(v.curve_notes.len(), 1);
        assert!(v.curve_notes[0].contains("carries no hold-out curves"));
    }

    #[test]
    fn one_class_draws_nothing_and_says_why() {
        let mut h = history();
        h.links.clear();
        h.pulls.retain(|p| p.reverts_number.is_none());
        let v = repo_view(&h, &model(json!({})), NOW);
        assert!(v.roc.is_empty() && v.calibration.is_empty());
        assert_eq!(v.curve_notes.len(), 2);
        assert!(v.curve_notes[1].contains("0 are labelled buggy"));
    }

    #[test]
    fn model_curves_are_read_tolerantly() {
        let metrics = json!({
            "pooled": {"auc": 0.7, "rows": 300},
            "curves": {
                "roc": [[0.0, 0.0], [0.2, 0.6], "junk", [2.0, 0.5], [1.0, 1.0]],
                "calibration": [
                    {"predicted": 0.1, "observed": 0.08, "count": 200},
                    {"predicted": 0.5, "observed": 0.4, "count": 0},
                    {"predicted": "x", "observed": 0.4, "count": 3},
                    {"predicted": 0.3, "observed": 0.35, "count": 100}
                ]
            }
        });
        let v = repo_view(&history(), &model(metrics), NOW);
        let roc = v.roc.iter().find(|r| r.source == SOURCE_MODEL).unwrap();
        assert_eq!(roc.points, [[0.0, 0.0], [0.2, 0.6], [1.0, 1.0]]);
        assert_eq!(roc.auc, Some(0.7));
        assert!(roc.label.contains("hold-out of 300 changes"));
        let cal = v
            .calibration
            .iter()
            .find(|c| c.source == SOURCE_MODEL)
            .unwrap();
        assert_eq!(cal.bins.len(), 2);
        assert!(v.curve_notes.is_empty());

        let broken = repo_view(&history(), &model(json!({"curves": {"roc": 3}})), NOW);
        assert!(broken.roc.iter().all(|r| r.source != SOURCE_MODEL));
        assert!(broken.curve_notes[0].contains("could not be read"));
    }

    #[test]
    fn auc_by_trapezoid_and_thinning_keep_the_ends() {
        assert_eq!(trapezoid(&[[0.0, 0.0], [1.0, 1.0]]), Some(0.5));
        assert_eq!(trapezoid(&[[0.0, 0.0], [0.0, 1.0], [1.0, 1.0]]), Some(1.0));
        let long: Vec<[f64; 2]> = (0..=1000).map(|i| [i as f64 / 1000.0, 0.5]).collect();
        let short = thin(&long, 200);
        assert_eq!(short.len(), 200);
        assert_eq!(short[0], long[0]);
        assert_eq!(short[199], long[1000]);
    }

    #[test]
    fn an_empty_history_is_a_page_of_empty_figures() {
        let h = RepoHistory {
            repository: "o/empty".into(),
            ..RepoHistory::default()
        };
        let v = repo_view(&h, &model(json!({})), NOW);
        assert!(v.pulls.is_empty() && v.releases.is_empty() && v.roc.is_empty());
        assert_eq!(v.health.gate.gate_rate, None);
    }
}

//! Predictions of a model on dataset rows, through the same scoring path as a live change, and
//! the metrics of a hold-out: per dataset, pooled, and the curves a model file keeps.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::json;

use super::super::dataset::Dataset;
use super::super::metrics::{reliability, roc_curve, Metrics, ReliabilityBin};
use super::super::Model;
use super::split::{chronological_split, Split};

/// Metrics of one dataset's hold-out (or of all hold-outs pooled), with the reliability curve.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Evaluation {
    pub dataset: String,
    #[serde(flatten)]
    pub metrics: Metrics,
    pub reliability: Vec<ReliabilityBin>,
    /// ROC curve of the model and of raw `la` (for the charts; not in `metrics.json`).
    #[serde(skip)]
    pub roc: Vec<(f64, f64)>,
    #[serde(skip)]
    pub baseline_roc: Vec<(f64, f64)>,
}

/// ROC curve of ranking by raw `la`; rows without a value are left out, as for its AUC.
fn la_curve(la: &[Option<f64>], labels: &[bool]) -> Vec<(f64, f64)> {
    let (scores, ys): (Vec<f64>, Vec<bool>) = la
        .iter()
        .zip(labels)
        .filter_map(|(v, &y)| v.filter(|v| v.is_finite()).map(|v| (v, y)))
        .unzip();
    roc_curve(&scores, &ys)
}

/// The raw values of the model's features for one row, as `Model::score` takes them.
pub fn row_values(model: &Model, dataset: &Dataset, row: usize) -> BTreeMap<String, Option<f64>> {
    model
        .input_names()
        .into_iter()
        .map(|n| {
            let v = dataset.column(n).and_then(|c| dataset.rows[row].values[c]);
            (n.to_string(), v)
        })
        .collect()
}

/// Signals the model reads that the dataset has no column for (the features that read them
/// score as an average change).
pub fn missing_features(model: &Model, dataset: &Dataset) -> Vec<String> {
    model
        .input_names()
        .into_iter()
        .filter(|n| dataset.column(n).is_none())
        .map(str::to_string)
        .collect()
}

/// Predicted probability of every row, through [`Model::score`] — the same path as scoring a
/// live change.
pub fn predict(model: &Model, dataset: &Dataset) -> Vec<f64> {
    predict_rows(model, dataset, &(0..dataset.rows.len()).collect::<Vec<_>>())
}

pub(super) fn predict_rows(model: &Model, dataset: &Dataset, rows: &[usize]) -> Vec<f64> {
    // Resolve columns once rather than per row.
    let names = model.input_names();
    let cols: Vec<Option<usize>> = names.iter().map(|n| dataset.column(n)).collect();
    rows.iter()
        .map(|&r| {
            let values: BTreeMap<String, Option<f64>> = names
                .iter()
                .zip(&cols)
                .map(|(n, c)| (n.to_string(), c.and_then(|c| dataset.rows[r].values[c])))
                .collect();
            model.score(&values).probability
        })
        .collect()
}

/// Metrics of a model on the hold-out (latest 20% by date) of each dataset, and pooled: the
/// rows a new training run is judged on, so two models can be compared on the same rows.
pub fn evaluate_holdout(model: &Model, datasets: &[Dataset]) -> (Vec<Evaluation>, Evaluation) {
    let splits: Vec<Split> = datasets.iter().map(chronological_split).collect();
    let per = datasets
        .iter()
        .zip(&splits)
        .map(|(d, s)| evaluation_of(model, d, &s.test))
        .collect();
    (per, pooled_evaluation(model, datasets, &splits))
}

/// Metrics of a model on all rows of a dataset (what `riskgate eval` prints).
pub fn evaluate(model: &Model, dataset: &Dataset) -> Metrics {
    let all: Vec<usize> = (0..dataset.rows.len()).collect();
    evaluation_of(model, dataset, &all).metrics
}

pub(super) fn evaluation_of(model: &Model, dataset: &Dataset, rows: &[usize]) -> Evaluation {
    let probabilities = predict_rows(model, dataset, rows);
    let labels: Vec<bool> = rows.iter().map(|&r| dataset.rows[r].buggy).collect();
    let la: Option<Vec<Option<f64>>> = dataset
        .column("la")
        .map(|c| rows.iter().map(|&r| dataset.rows[r].values[c]).collect());
    let mut metrics = Metrics::compute(&probabilities, &labels, la.as_deref());
    if let Some(changed) = changed_lines(dataset, rows) {
        metrics = metrics.with_effort(&probabilities, &labels, &changed);
    }
    Evaluation {
        dataset: dataset.short_name(),
        metrics,
        reliability: reliability(&probabilities, &labels, 10),
        roc: roc_curve(&probabilities, &labels),
        baseline_roc: la
            .as_deref()
            .map(|la| la_curve(la, &labels))
            .unwrap_or_default(),
    }
}

/// Each row's changed lines (`la + ld`, a missing value counting as none), when the dataset
/// has both columns: the effort of reviewing it.
fn changed_lines(dataset: &Dataset, rows: &[usize]) -> Option<Vec<f64>> {
    let (la, ld) = (dataset.column("la")?, dataset.column("ld")?);
    Some(
        rows.iter()
            .map(|&r| {
                let v = &dataset.rows[r].values;
                v[la].unwrap_or(0.0) + v[ld].unwrap_or(0.0)
            })
            .collect(),
    )
}

pub(super) fn pooled_evaluation(
    model: &Model,
    datasets: &[Dataset],
    splits: &[Split],
) -> Evaluation {
    let mut probabilities = Vec::new();
    let mut labels = Vec::new();
    let mut la = Vec::new();
    let all_have_la = datasets.iter().all(|d| d.column("la").is_some());
    let mut changed = Some(Vec::new());
    for (d, s) in datasets.iter().zip(splits) {
        changed = changed
            .zip(changed_lines(d, &s.test))
            .map(|(mut all, more)| {
                all.extend(more);
                all
            });
        probabilities.extend(predict_rows(model, d, &s.test));
        labels.extend(s.test.iter().map(|&r| d.rows[r].buggy));
        if let Some(c) = d.column("la") {
            la.extend(s.test.iter().map(|&r| d.rows[r].values[c]));
        }
    }
    let mut metrics = Metrics::compute(
        &probabilities,
        &labels,
        all_have_la.then_some(la.as_slice()),
    );
    if let Some(changed) = changed {
        metrics = metrics.with_effort(&probabilities, &labels, &changed);
    }
    Evaluation {
        dataset: "pooled".to_string(),
        metrics,
        reliability: reliability(&probabilities, &labels, 10),
        roc: roc_curve(&probabilities, &labels),
        baseline_roc: if all_have_la {
            la_curve(&la, &labels)
        } else {
            Vec::new()
        },
    }
}

/// Most points of the ROC curve kept in a model file.
pub const CURVE_POINTS: usize = 200;

pub use super::super::metrics::thin_curve;

fn round4(v: f64) -> f64 {
    (v * 1e4).round() / 1e4
}

/// The curves of an evaluation as a model file keeps them, for charts: the ROC curve
/// (`[fpr, tpr]` pairs, thinned to [`CURVE_POINTS`]) and the non-empty reliability bins.
pub fn curves_json(e: &Evaluation) -> serde_json::Value {
    let roc: Vec<[f64; 2]> = thin_curve(&e.roc, CURVE_POINTS)
        .into_iter()
        .map(|(x, y)| [round4(x), round4(y)])
        .collect();
    let calibration: Vec<serde_json::Value> = e
        .reliability
        .iter()
        .filter_map(|b| {
            let (p, o) = (b.mean_predicted?, b.observed_rate?);
            Some(json!({"predicted": round4(p), "observed": round4(o), "count": b.count}))
        })
        .collect();
    json!({"roc": roc, "calibration": calibration})
}

#[cfg(test)]
mod tests {
    use super::super::testdata::{options, synthetic};
    use super::super::train;
    use super::*;

    #[test]
    fn curves_are_thinned_and_kept_in_the_model() {
        let curve: Vec<(f64, f64)> = (0..=1000)
            .map(|i| (i as f64 / 1000.0, (i as f64 / 1000.0).sqrt()))
            .collect();
        let thin = thin_curve(&curve, 200);
        assert_eq!(thin.len(), 200);
        assert_eq!(thin[0], (0.0, 0.0));
        assert_eq!(thin[199], (1.0, 1.0));
        assert!(thin.windows(2).all(|w| w[0].0 < w[1].0));
        assert_eq!(thin_curve(&curve[..50], 200), curve[..50].to_vec());
        assert_eq!(thin_curve(&curve, 0).len(), 2);

        let d = synthetic(3000, 13);
        let out = train(std::slice::from_ref(&d), &options(&["risky", "safe"])).unwrap();
        let curves = &out.model.metrics["curves"];
        let roc = curves["roc"].as_array().unwrap();
        assert!(
            out.pooled.roc.len() > CURVE_POINTS,
            "{}",
            out.pooled.roc.len()
        );
        assert_eq!(roc.len(), CURVE_POINTS);
        assert_eq!(roc[0], json!([0.0, 0.0]));
        assert_eq!(roc[roc.len() - 1], json!([1.0, 1.0]));
        let calibration = curves["calibration"].as_array().unwrap();
        let total: u64 = calibration
            .iter()
            .map(|b| b["count"].as_u64().unwrap())
            .sum();
        assert_eq!(total as usize, out.pooled.metrics.rows);
        assert!(calibration
            .iter()
            .all(|b| b["predicted"].is_number() && b["observed"].is_number()));
        // The model file keeps them.
        let back = Model::from_json(&out.model.to_json()).unwrap();
        assert_eq!(&back.metrics["curves"], curves);
    }
}

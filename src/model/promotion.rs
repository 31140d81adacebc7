//! Whether a newly trained model replaces the current one: both are measured on the new run's
//! hold-out rows, and the new one wins unless its mean per-dataset AUC is worse by more than
//! noise.

use super::dataset::Dataset;
use super::train::{evaluate_holdout, Evaluation, TrainOutcome};
use super::Model;

/// How much worse (in mean per-dataset hold-out AUC) a new model may be and still replace the
/// current one: differences this small are noise.
pub const PROMOTION_TOLERANCE: f64 = 0.001;

/// Mean over datasets of a metric; `None` if any is undefined.
fn mean_of(evals: &[Evaluation], metric: impl Fn(&Evaluation) -> Option<f64>) -> Option<f64> {
    let v: Option<Vec<f64>> = evals.iter().map(metric).collect();
    let v = v?;
    (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
}

/// The comparison of a new model against the current one on the same hold-out rows.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Promotion {
    pub current_version: String,
    pub new_version: String,
    pub current_auc: Option<f64>,
    pub new_auc: Option<f64>,
    pub current_brier: Option<f64>,
    pub new_brier: Option<f64>,
    pub promoted: bool,
}

/// Measures `current` on the hold-out rows of the run that produced `outcome` (the rows its
/// metrics come from) and compares the two.
pub fn judge(current: &Model, outcome: &TrainOutcome, datasets: &[Dataset]) -> Promotion {
    let (current_eval, _) = evaluate_holdout(current, datasets);
    compare_models(current, &outcome.model, &current_eval, &outcome.holdout)
}

/// The comparison of two models from their evaluations on the same rows.
pub fn compare_models(
    current: &Model,
    new: &Model,
    current_eval: &[Evaluation],
    new_eval: &[Evaluation],
) -> Promotion {
    let auc = |e: &Evaluation| e.metrics.auc;
    let brier = |e: &Evaluation| e.metrics.brier;
    let (current_auc, new_auc) = (mean_of(current_eval, auc), mean_of(new_eval, auc));
    let promoted = match (current_auc, new_auc) {
        (Some(c), Some(n)) => n >= c - PROMOTION_TOLERANCE,
        // Without an AUC on the hold-out (one class only) there is no evidence the new model
        // is better: the live model stays.
        _ => false,
    };
    Promotion {
        current_version: current.version.clone(),
        new_version: new.version.clone(),
        current_auc,
        new_auc,
        current_brier: mean_of(current_eval, brier),
        new_brier: mean_of(new_eval, brier),
        promoted,
    }
}

#[cfg(test)]
mod tests {
    use super::super::train::{train, TrainOptions};
    use super::*;

    #[test]
    fn comparison_reports_both_metrics_and_tolerates_noise() {
        let d = Dataset::parse_str(
            include_str!("../../fixtures/datasets/planted.csv"),
            "fixtures/datasets/planted.csv",
        )
        .unwrap();
        let options = TrainOptions {
            features: Some(vec!["la".into(), "exp".into()]),
            positive_weight: Some(1),
            ..TrainOptions::default()
        };
        let m = train(std::slice::from_ref(&d), &options).unwrap().model;
        let (e, _) = evaluate_holdout(&m, std::slice::from_ref(&d));
        let p = compare_models(&m, &m, &e, &e);
        assert!(p.promoted, "an equal model is promoted");
        assert_eq!(p.new_auc, p.current_auc);
        assert!(p.new_brier.is_some());
        let mut worse = e.clone();
        worse[0].metrics.auc = worse[0].metrics.auc.map(|a| a - 0.01);
        assert!(!compare_models(&m, &m, &e, &worse).promoted);
        worse[0].metrics.auc = e[0].metrics.auc.map(|a| a - 0.0005);
        assert!(compare_models(&m, &m, &e, &worse).promoted);

        // A hold-out of one class gives no AUC: nothing shows the new model better.
        let mut unmeasured = e.clone();
        unmeasured[0].metrics.auc = None;
        assert!(!compare_models(&m, &m, &unmeasured, &unmeasured).promoted);
        assert!(!compare_models(&m, &m, &unmeasured, &e).promoted);
        assert!(!compare_models(&m, &m, &e, &unmeasured).promoted);
    }
}

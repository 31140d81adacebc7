//! Fitting the logistic model on labelled datasets, with a chronological hold-out.
//!
//! Pure: takes parsed [`Dataset`]s, returns the [`Model`] and its metrics; the caller does the
//! file I/O.
//!
//! Per dataset the rows are sorted by author date; the first 80% are for training and the last
//! 20% are the hold-out the reported metrics come from. Inside the training part, the last 20%
//! (again by date) is the validation slice on which the L2 strength is chosen; the model is then
//! refit on the whole training part. Nothing is ever split at random: a model is always judged
//! on changes that came after the ones it learned from, as it is used.
//!
//! The parts: `split` (the chronological split), `columns` (which columns a feature reads, and
//! its transform), `fit` (one logistic fit), `evaluate` (predictions and hold-out metrics) and
//! `provenance` (what the model file says about how it was made); this file holds the options,
//! the outcome and the training run that ties them together.

use serde::Serialize;
use serde_json::json;

use super::dataset::Dataset;
use super::metrics::roc_auc;
use super::monotone::breaches;
use super::{Model, Reference, Thresholds, Transform};
use crate::time::iso_date;

mod columns;
mod evaluate;
mod fit;
mod provenance;
mod signs;
mod split;
#[cfg(test)]
mod testdata;

pub use columns::{percentiles, transform_for};
pub use evaluate::{
    curves_json, evaluate, evaluate_holdout, missing_features, predict, row_values, thin_curve,
    Evaluation, CURVE_POINTS,
};
pub use provenance::LABEL_SOURCE;
pub use signs::{expected_sign, Sign};
pub use split::{chronological_split, Split, MIN_ROWS, TEST_FRACTION, VALIDATION_FRACTION};

use columns::{derived_transform, resolve_features, RowSet};
use evaluate::{evaluation_of, pooled_evaluation, predict_rows};
use fit::{draft_model, fit};
use provenance::{fingerprint, provenance, FitChoice};

/// The signals riskgate computes from git that both public datasets also have, ratios of them
/// that one change's signals give (earlier changes per touched file, which unlike their sum
/// does not grow with the number of files; lines added per file touched; the share of changed
/// lines that are deletions), and a bend in the effect of file age at its training median.
/// A choice of model, in the order the fitted model lists them; every signal they read is one
/// the catalogue says `score` computes and `mine` writes.
pub const DEFAULT_FEATURES: &[&str] = &[
    "la",
    "ld",
    "nf",
    "nd",
    "ns",
    "entropy",
    "fix",
    "ndev",
    "age",
    "ratio(nuc,nf)",
    "exp",
    "rexp",
    "sexp",
    "ratio(la,nf)",
    "share(ld,la)",
    "hinge(age,q50)",
];

/// The class weight of the default fit: each buggy row counts 10 times, about the inverse of
/// the share of buggy changes in the public data (chosen on the validation slices from 1, 3, 5
/// and 10; see the model card); the intercept is corrected back by ln(10).
pub const DEFAULT_POSITIVE_WEIGHT: u32 = 10;

/// The class weight when none is given: buggy rows count [`DEFAULT_POSITIVE_WEIGHT`] times, or
/// fewer where that many would outnumber the clean rows (clean per buggy, rounded up; at least
/// 1). Weighting exists to lift the rare class; in a history where trouble is common, as SZZ
/// finds in many a mined repository, a tenfold weight makes nearly every row buggy, and the
/// fit takes many times as long for no better ranking.
pub fn balancing_weight(buggy: usize, clean: usize) -> u32 {
    if buggy == 0 {
        return DEFAULT_POSITIVE_WEIGHT;
    }
    clean
        .div_ceil(buggy)
        .clamp(1, DEFAULT_POSITIVE_WEIGHT as usize) as u32
}

/// The class weight `options` ask for, else the [`balancing_weight`] of `rows`.
fn positive_weight_of(options: &TrainOptions, datasets: &[Dataset], rows: &RowSet) -> u32 {
    options.positive_weight.unwrap_or_else(|| {
        let buggy = rows
            .iter()
            .filter(|&&(d, r)| datasets[d].rows[r].buggy)
            .count();
        balancing_weight(buggy, rows.len() - buggy)
    })
}

/// The L2 strengths tried: 10^-3 … 10^3 in half decades.
pub fn default_alphas() -> Vec<f64> {
    (-6..=6).map(|k| 10f64.powf(k as f64 / 2.0)).collect()
}

#[derive(Debug, Clone)]
pub struct TrainOptions {
    /// Signals to use; `None` for [`DEFAULT_FEATURES`] (those present in every dataset).
    pub features: Option<Vec<String>>,
    /// Candidate L2 strengths, in linfa's convention: the loss is the *sum* of the log-loss over
    /// rows plus `alpha / 2 × ‖w‖²`; the intercept is not penalised.
    pub alphas: Vec<f64>,
    pub max_iterations: u64,
    /// Each buggy row counts this many times in the fit (a class-weighted fit); the intercept
    /// is then corrected back by `ln(weight)`, so probabilities stay calibrated. 1: unweighted;
    /// `None`: [`balancing_weight`] of the training rows.
    pub positive_weight: Option<u32>,
    /// Share (0..1] of each dataset's training rows, the most recent, that the model learns
    /// from; older rows are left out, as the risk factors of a project drift. 1: all.
    pub window: f64,
    /// Fit every coefficient freely instead of holding each to the sign the signal catalogue
    /// expects (more of a risk factor never lowers the score).
    pub free_signs: bool,
    /// Leave out each dataset's changes authored within this many days of its latest one:
    /// their fixes may not have landed yet, so they would be labelled clean. 0: keep all.
    pub settle_days: u32,
}

impl Default for TrainOptions {
    fn default() -> Self {
        TrainOptions {
            features: None,
            alphas: default_alphas(),
            max_iterations: 1000,
            positive_weight: None,
            window: 1.0,
            free_signs: false,
            settle_days: 0,
        }
    }
}

/// Validation AUC of one candidate L2 strength.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlphaScore {
    pub alpha: f64,
    /// Mean over datasets of the validation-slice ROC-AUC; `None` if no slice had both classes.
    pub validation_auc: Option<f64>,
    /// The validation-slice ROC-AUC of each dataset, in the order given.
    pub validation_aucs: Vec<Option<f64>>,
}

#[derive(Debug, Clone)]
pub struct TrainOutcome {
    pub model: Model,
    /// Hold-out metrics, one per dataset in the order given.
    pub holdout: Vec<Evaluation>,
    /// All hold-outs together.
    pub pooled: Evaluation,
    pub alpha: f64,
    pub grid: Vec<AlphaScore>,
    /// How many times each buggy row counted in the fit.
    pub positive_weight: u32,
    /// The hold-out AUC with each coefficient held to its expected sign and without; `None`
    /// when the fit was free.
    pub sign_cost: Option<Vec<SignCost>>,
    /// How each hold-out fell into the bands.
    pub bands: Vec<BandOutcome>,
}

/// The hold-out ROC-AUC of one dataset with the signs held, and fitted freely.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SignCost {
    pub dataset: String,
    pub auc: Option<f64>,
    pub free_auc: Option<f64>,
}

impl TrainOutcome {
    /// The report written as `metrics.json`.
    pub fn report_json(&self) -> serde_json::Value {
        json!({
            "model_version": self.model.version,
            "alpha": self.alpha,
            "alpha_grid": self.grid,
            "holdout": self.holdout,
            "pooled": self.pooled,
            "sign_constraints": self.sign_cost,
            "bands": self.bands,
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error("no dataset to train on")]
    NoData,
    #[error("{file}: has no column `{feature}`")]
    MissingFeature { file: String, feature: String },
    #[error("none of the default features ({}) is in every dataset", DEFAULT_FEATURES.join(", "))]
    NoFeatures,
    #[error(transparent)]
    Spec(#[from] super::SpecError),
    #[error("feature `{0}` is named twice")]
    DuplicateFeature(String),
    #[error("feature `{0}` has no value in any training row")]
    NoValues(String),
    #[error("{file}: {rows} rows are too few for a chronological split (at least {min} needed)")]
    TooFewRows {
        file: String,
        rows: usize,
        min: usize,
    },
    #[error("the training rows are all {0}: both buggy and clean changes are needed")]
    OneClass(&'static str),
    #[error("feature `{0}` has values too large to standardise (their mean or spread overflows); check the column for wrong values")]
    Overflow(String),
    #[error("internal error: the fitted model is not a valid model file: {0}")]
    Invalid(#[from] super::ModelError),
    #[error("logistic regression failed: {0}")]
    Fit(#[from] linfa_logistic::error::Error),
    #[error("internal error: the written model's scores differ from the fitted model's by {0}")]
    Mismatch(f64),
}

/// The monotone check of a fit reads every (n / MONOTONE_SAMPLE)-th training change: between
/// this many and twice as many, evenly spaced.
const MONOTONE_SAMPLE: usize = 2000;

/// A fit that keeps the monotone promise: after each fit, a derived feature fitted freely
/// ([`Sign::Audited`]) is held at zero if the model lets more of one of its inputs move the
/// score against that input's expected direction on the training changes; then the rest is
/// refitted. Returns the fit and the signs it ended with.
#[allow(clippy::too_many_arguments)]
fn fit_monotone(
    datasets: &[Dataset],
    columns: &columns::Columns,
    transforms: &[Transform],
    signs: &[Sign],
    rows: &RowSet,
    alpha: f64,
    options: &TrainOptions,
) -> Result<(fit::Fitted, Vec<Sign>), TrainError> {
    let mut signs = signs.to_vec();
    let step = (rows.len() / MONOTONE_SAMPLE).max(1);
    loop {
        let fitted = fit(datasets, columns, transforms, &signs, rows, alpha, options)?;
        if !signs.contains(&Sign::Audited) {
            return Ok((fitted, signs));
        }
        let model = draft_model(&fitted);
        let changes: Vec<_> = rows
            .iter()
            .step_by(step)
            .map(|&(d, r)| row_values(&model, &datasets[d], r))
            .collect();
        let broken: Vec<String> = breaches(&model, &changes)
            .into_iter()
            .map(|b| b.signal)
            .collect();
        let mut held_one = false;
        for (f, feature) in model.features.iter().enumerate() {
            if signs[f] == Sign::Audited
                && feature
                    .inputs()
                    .iter()
                    .any(|i| broken.iter().any(|b| b == i))
            {
                tracing::info!(feature = %feature.name, ?broken, "held at zero: not monotone");
                signs[f] = Sign::Zero;
                held_one = true;
            }
        }
        if !held_one {
            return Ok((fitted, signs));
        }
    }
}

/// A step of [`train_with_progress`], said before it starts: the fits take most of a train's
/// time (minutes on a million rows).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum TrainStep {
    /// Fitting with L2 strength `alpha` on the rows before the validation slices: fit `done + 1`
    /// of `of` on the grid.
    Validating { alpha: f64, done: usize, of: usize },
    /// Refitting with the chosen `alpha` on all training rows.
    Refitting { alpha: f64 },
}

/// Fits the model: chooses alpha on the validation slices, refits on all training rows,
/// measures the hold-outs.
pub fn train(datasets: &[Dataset], options: &TrainOptions) -> Result<TrainOutcome, TrainError> {
    train_with_progress(datasets, options, &mut |_| {})
}

/// [`train`], telling `progress` of each fit before it starts.
pub fn train_with_progress(
    datasets: &[Dataset],
    options: &TrainOptions,
    progress: &mut dyn FnMut(TrainStep),
) -> Result<TrainOutcome, TrainError> {
    if datasets.is_empty() {
        return Err(TrainError::NoData);
    }
    let settled_sets: Vec<Dataset>;
    let datasets = if options.settle_days > 0 {
        settled_sets = datasets
            .iter()
            .map(|d| settled(d, options.settle_days))
            .collect();
        for (all, kept) in datasets.iter().zip(&settled_sets) {
            tracing::info!(
                file = %all.source,
                left_out = all.rows.len() - kept.rows.len(),
                settle_days = options.settle_days,
                "left out the latest changes, whose labels may not have settled"
            );
        }
        &settled_sets[..]
    } else {
        datasets
    };
    for d in datasets {
        if d.rows.len() < MIN_ROWS {
            return Err(TrainError::TooFewRows {
                file: d.source.clone(),
                rows: d.rows.len(),
                min: MIN_ROWS,
            });
        }
    }
    let splits: Vec<Split> = datasets.iter().map(chronological_split).collect();
    for (d, split) in datasets.iter().zip(&splits) {
        let rate = |rows: &[usize]| {
            let buggy = rows.iter().filter(|&&r| d.rows[r].buggy).count();
            buggy as f64 / rows.len().max(1) as f64
        };
        let (trained, held_out) = (rate(&split.train()), rate(&split.test));
        if labels_look_unsettled(trained, held_out) {
            tracing::warn!(
                file = %d.source,
                training = %format!("{:.1}%", trained * 100.0),
                hold_out = %format!("{:.1}%", held_out * 100.0),
                "the latest changes are labelled buggy far less often than the earlier ones: \
                 their fixes may not have landed yet, so their clean labels, the hold-out \
                 metrics and the calibration understate the risk; leave them out with \
                 --settle-days N (the days a fix usually takes to follow a change)"
            );
        }
    }
    let gather = |part: &dyn Fn(&Split) -> Vec<usize>| -> RowSet {
        splits
            .iter()
            .enumerate()
            .flat_map(|(d, s)| part(s).into_iter().map(move |r| (d, r)))
            .collect()
    };
    let window = if options.window > 0.0 && options.window <= 1.0 {
        options.window
    } else {
        1.0
    };
    let recent = |rows: Vec<usize>| -> Vec<usize> {
        let keep = ((rows.len() as f64) * window).round().max(1.0) as usize;
        rows[rows.len() - keep.min(rows.len())..].to_vec()
    };
    let fit_rows = gather(&|s| recent(s.fit.clone()));
    let train_rows = gather(&|s| recent(s.train()));
    let columns = resolve_features(datasets, options.features.as_deref(), &train_rows)?;
    let positive_weight = positive_weight_of(options, datasets, &train_rows);
    let options = &TrainOptions {
        positive_weight: Some(positive_weight),
        ..options.clone()
    };
    let free = vec![Sign::Free; columns.names.len()];
    let signs: Vec<Sign> = if options.free_signs {
        free.clone()
    } else {
        columns
            .names
            .iter()
            .zip(&columns.derived)
            .map(|(name, derived)| expected_sign(name, derived.as_ref()))
            .collect()
    };

    let transforms: Vec<Transform> = (0..columns.names.len())
        .map(|f| match &columns.derived[f] {
            Some(d) => derived_transform(d),
            None => transform_for(&columns.names[f], &columns.raw(datasets, f, &train_rows)),
        })
        .collect();

    // Choose alpha: highest mean validation AUC; on a tie the stronger penalty.
    let mut alphas = options.alphas.clone();
    alphas.retain(|a| a.is_finite() && *a > 0.0);
    if alphas.is_empty() {
        alphas.push(1.0);
    }
    alphas.sort_by(f64::total_cmp);
    let mut grid = Vec::new();
    for (done, &alpha) in alphas.iter().enumerate() {
        progress(TrainStep::Validating {
            alpha,
            done,
            of: alphas.len(),
        });
        let (fitted, _) = fit_monotone(
            datasets,
            &columns,
            &transforms,
            &signs,
            &fit_rows,
            alpha,
            options,
        )?;
        let probe = draft_model(&fitted);
        let validation_aucs: Vec<Option<f64>> = datasets
            .iter()
            .zip(&splits)
            .map(|(d, s)| {
                let p = predict_rows(&probe, d, &s.validation);
                let y: Vec<bool> = s.validation.iter().map(|&r| d.rows[r].buggy).collect();
                roc_auc(&p, &y)
            })
            .collect();
        let aucs: Vec<f64> = validation_aucs.iter().flatten().copied().collect();
        let validation_auc =
            (!aucs.is_empty()).then(|| aucs.iter().sum::<f64>() / aucs.len() as f64);
        tracing::info!(alpha, ?validation_auc, "validation");
        grid.push(AlphaScore {
            alpha,
            validation_auc,
            validation_aucs,
        });
    }
    let mut alpha = alphas[alphas.len() / 2];
    let mut best = f64::NEG_INFINITY;
    for s in &grid {
        if let Some(auc) = s.validation_auc {
            if auc >= best {
                best = auc;
                alpha = s.alpha;
            }
        }
    }

    progress(TrainStep::Refitting { alpha });
    let (fitted, signs) = fit_monotone(
        datasets,
        &columns,
        &transforms,
        &signs,
        &train_rows,
        alpha,
        options,
    )?;
    let mut model = draft_model(&fitted);

    // The model file must reproduce the fitted model exactly.
    let mut worst = 0.0f64;
    let mut train_probabilities = Vec::with_capacity(train_rows.len());
    for (&(d, r), &expected) in train_rows.iter().zip(&fitted.linfa_probabilities) {
        let p = model
            .score(&row_values(&model, &datasets[d], r))
            .probability;
        worst = worst.max((p - expected).abs());
        train_probabilities.push(p);
    }
    if worst > 1e-9 {
        return Err(TrainError::Mismatch(worst));
    }

    // Bands people can reason about: multiples of the share of trouble among the training
    // changes.
    let positives = train_rows
        .iter()
        .filter(|&&(d, r)| datasets[d].rows[r].buggy)
        .count();
    let base_rate = positives as f64 / train_rows.len() as f64;
    let fewest = positives.min(train_rows.len() - positives);
    if fewest < FEW_OF_A_CLASS {
        tracing::warn!(
            buggy = positives,
            clean = train_rows.len() - positives,
            "so few changes of one class in the training rows that the model and its hold-out \
             metrics say little; give more history"
        );
    }
    let (thresholds, capped) = band_cut_points(base_rate);
    if capped {
        tracing::warn!(
            base_rate,
            elevated = thresholds.elevated,
            high = thresholds.high,
            "the base rate is too high for bands at 1.5x and 3x it: they are set part way to certainty"
        );
    }
    model.thresholds = thresholds;
    model.reference = Some(Reference {
        base_rate,
        quantiles: percentiles(&train_probabilities),
    });

    let holdout: Vec<Evaluation> = datasets
        .iter()
        .zip(&splits)
        .map(|(d, s)| evaluation_of(&model, d, &s.test))
        .collect();
    let pooled = pooled_evaluation(&model, datasets, &splits);
    let bands: Vec<BandOutcome> = datasets
        .iter()
        .zip(&splits)
        .map(|(d, s)| band_outcome(&model, d, &s.test))
        .collect();

    // What holding the signs costs: the same features fitted freely at the same alpha,
    // measured on the same hold-outs.
    let sign_cost = if signs == free {
        None
    } else {
        let unconstrained = draft_model(&fit(
            datasets,
            &columns,
            &transforms,
            &free,
            &train_rows,
            alpha,
            options,
        )?);
        Some(
            datasets
                .iter()
                .zip(&splits)
                .zip(&holdout)
                .map(|((d, s), held)| SignCost {
                    dataset: d.source.clone(),
                    auc: held.metrics.auc,
                    free_auc: evaluation_of(&unconstrained, d, &s.test).metrics.auc,
                })
                .collect::<Vec<_>>(),
        )
    };

    let latest = datasets
        .iter()
        .filter_map(|d| d.date_range())
        .map(|r| r.1)
        .max()
        .unwrap_or(0);
    model.version = format!(
        "{}-{}",
        iso_date(latest),
        fingerprint(model.intercept, &model.features)
    );
    model.provenance = provenance(
        datasets,
        &splits,
        &columns.names,
        &transforms,
        &signs,
        FitChoice {
            alpha,
            grid: &grid,
            positive_weight,
        },
    );
    if capped {
        model.provenance["thresholds"] = json!(format!(
            "elevated from {:.3}, high from {:.3}: a quarter and half of the way from the base \
             rate of buggy changes among the training rows ({base_rate:.3}) to certainty, as \
             {ELEVATED_TIMES_BASE_RATE}x and {HIGH_TIMES_BASE_RATE}x it would be out of reach",
            model.thresholds.elevated, model.thresholds.high
        ));
    }
    model.metrics = json!({
        "holdout": holdout.iter().map(|e| json!({"dataset": e.dataset, "metrics": e.metrics})).collect::<Vec<_>>(),
        "pooled": pooled.metrics,
        "curves": curves_json(&pooled),
        "sign_constraints": sign_cost,
        "bands": bands,
    });
    // What is written must load again: a model file that `score` refuses is never written.
    model.validate()?;

    Ok(TrainOutcome {
        model,
        holdout,
        pooled,
        alpha,
        grid,
        positive_weight,
        sign_cost,
        bands,
    })
}

/// Fewer buggy (or clean) training changes than this, and `train` warns that the model rests
/// on too little.
pub const FEW_OF_A_CLASS: usize = 30;

/// `dataset` without the changes authored within `days` days of its latest one.
pub fn settled(dataset: &Dataset, days: u32) -> Dataset {
    let latest = dataset.rows.iter().map(|r| r.author_date).max();
    let cutoff = latest.map_or(i64::MIN, |t| t.saturating_sub(i64::from(days) * 86_400));
    Dataset {
        rows: dataset
            .rows
            .iter()
            .filter(|r| r.author_date <= cutoff)
            .cloned()
            .collect(),
        ..dataset.clone_without_rows()
    }
}

/// Whether a hold-out's share of buggy changes is so far below the training rows' that its
/// labels have likely not settled: a fix follows the change it repairs by weeks or years, so
/// the latest changes of a mined history look clean. Drift alone seldom halves the rate; a
/// rate too small to halve says nothing.
pub fn labels_look_unsettled(training_rate: f64, hold_out_rate: f64) -> bool {
    training_rate >= 0.05 && hold_out_rate < training_rate / 2.0
}

/// The band cut points as multiples of the training changes' base rate of trouble: elevated
/// from one and a half times the base rate (clearly likelier than the average change to be
/// trouble), high from three times it.
pub const ELEVATED_TIMES_BASE_RATE: f64 = 1.5;
pub const HIGH_TIMES_BASE_RATE: f64 = 3.0;

/// The band cut points for a base rate, and whether they had to be capped. Past a base rate of
/// a fifth, three times it is at or beyond half-way to certainty (past a third, beyond
/// certainty): each cut is then the nearer of its multiple and a point part of the way from
/// the base rate to 1 (a quarter for elevated, half for high), so both bands stay reachable.
pub fn band_cut_points(base_rate: f64) -> (Thresholds, bool) {
    let base_rate = base_rate.clamp(0.0, 1.0);
    let part_way = |share: f64| base_rate + (1.0 - base_rate) * share;
    let elevated_multiple = ELEVATED_TIMES_BASE_RATE * base_rate;
    let high_multiple = HIGH_TIMES_BASE_RATE * base_rate;
    let elevated = elevated_multiple.min(part_way(0.25));
    let high = high_multiple.min(part_way(0.5));
    let capped = elevated < elevated_multiple || high < high_multiple;
    let clamp = |p: f64| p.clamp(1e-6, 1.0 - 1e-6);
    let elevated = clamp(elevated);
    (
        Thresholds {
            elevated,
            high: clamp(high).max(elevated),
        },
        capped,
    )
}

/// How a hold-out's changes fell into the bands, and how many of each turned out buggy.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BandOutcome {
    pub dataset: String,
    /// Share of the changes that were elevated or high, and of those the share buggy.
    pub elevated_or_high_share: f64,
    pub elevated_or_high_buggy: Option<f64>,
    /// Share of the changes that were high (gated), and of those the share buggy.
    pub high_share: f64,
    pub high_buggy: Option<f64>,
    /// Share of all the hold-out's changes that were buggy.
    pub base_rate: f64,
}

fn band_outcome(model: &Model, dataset: &Dataset, rows: &[usize]) -> BandOutcome {
    let p = predict_rows(model, dataset, rows);
    let at_least = |t: f64| {
        let picked: Vec<bool> = p
            .iter()
            .zip(rows)
            .filter(|(p, _)| **p >= t)
            .map(|(_, &r)| dataset.rows[r].buggy)
            .collect();
        let share = picked.len() as f64 / rows.len().max(1) as f64;
        let buggy = (!picked.is_empty())
            .then(|| picked.iter().filter(|&&b| b).count() as f64 / picked.len() as f64);
        (share, buggy)
    };
    let (elevated_or_high_share, elevated_or_high_buggy) = at_least(model.thresholds.elevated);
    let (high_share, high_buggy) = at_least(model.thresholds.high);
    BandOutcome {
        dataset: dataset.short_name(),
        elevated_or_high_share,
        elevated_or_high_buggy,
        high_share,
        high_buggy,
        base_rate: rows.iter().filter(|&&r| dataset.rows[r].buggy).count() as f64
            / rows.len().max(1) as f64,
    }
}

#[cfg(test)]
mod tests {
    use super::testdata::{fixture, options, synthetic, synthetic_at};
    use super::*;
    use crate::model::Derived;

    #[test]
    fn fixture_trains_with_default_features_and_recovers_planted_sign() {
        let d = fixture();
        assert_eq!(d.rows.len(), 200);
        let out = train(std::slice::from_ref(&d), &TrainOptions::default()).unwrap();
        let names: Vec<&str> = out.model.feature_names().collect();
        let n = DEFAULT_FEATURES.len();
        assert_eq!(names.len(), n, "all default features are in the fixture");
        assert_eq!(names[..n - 1], DEFAULT_FEATURES[..n - 1]);
        // The hinge's knot is resolved to a number, the training median of log1p(age).
        assert!(names[n - 1].starts_with("hinge(age,"), "{names:?}");
        let hinge = &out.model.features[n - 1];
        assert!(matches!(hinge.derived, Some(Derived::Hinge { knot, .. }) if knot > 0.0));
        let la = out.model.features.iter().find(|f| f.name == "la").unwrap();
        assert!(
            la.coefficient > 0.3,
            "la was planted as risky: {}",
            la.coefficient
        );
        let exp = out.model.features.iter().find(|f| f.name == "exp").unwrap();
        assert!(
            exp.coefficient < 0.0,
            "exp was planted as protective: {}",
            exp.coefficient
        );
        assert_eq!(la.transform, Transform::Log1p);
        assert_eq!(la.quantiles.len(), 101);
        assert!(la.quantiles.windows(2).all(|w| w[0] <= w[1]));
        let entropy = out
            .model
            .features
            .iter()
            .find(|f| f.name == "entropy")
            .unwrap();
        assert_eq!(entropy.transform, Transform::None);
        // `bugcount` is in the fixture and perfectly predictive, yet not used by default.
        assert!(d.column("bugcount").is_some());
        assert!(!names.contains(&"bugcount"));
        // The model file is valid and round-trips (serde_json's default float parsing may be
        // off in the last bit, hence the tolerance).
        let back = Model::from_json(&out.model.to_json()).unwrap();
        assert_eq!(back.feature_names().collect::<Vec<_>>(), names);
        for (a, b) in back.features.iter().zip(&out.model.features) {
            assert!(
                (a.coefficient - b.coefficient).abs() < 1e-12 && (a.mean - b.mean).abs() < 1e-12
            );
            assert!(a
                .quantiles
                .iter()
                .zip(&b.quantiles)
                .all(|(x, y)| (x - y).abs() <= 1e-9 * y.abs().max(1.0)));
        }
        assert!(out.model.thresholds.elevated < out.model.thresholds.high);
    }

    #[test]
    fn buggy_rows_are_weighted_up_to_ten_times_and_never_past_the_clean_ones() {
        assert_eq!(balancing_weight(97, 903), 10);
        assert_eq!(balancing_weight(10, 990), 10);
        assert_eq!(balancing_weight(36, 64), 2);
        assert_eq!(balancing_weight(60, 40), 1);
        assert_eq!(balancing_weight(0, 100), DEFAULT_POSITIVE_WEIGHT);
        let features = options(&["risky", "safe"]);
        let weighting = |out: &TrainOutcome| out.model.provenance["class_weighting"].clone();
        let rare = train(&[synthetic_at(1000, 3, -5.0)], &features).unwrap();
        assert_eq!(rare.positive_weight, 10);
        assert_eq!(weighting(&rare)["positive_weight"], 10);
        // Most rows buggy: weighting them up would only make the fit lopsided and slow.
        let common = synthetic_at(1000, 3, 1.5);
        let out = train(std::slice::from_ref(&common), &features).unwrap();
        assert_eq!(out.positive_weight, 1);
        assert!(weighting(&out).as_str().unwrap().starts_with("none"));
        let asked = TrainOptions {
            positive_weight: Some(10),
            ..features.clone()
        };
        let out = train(std::slice::from_ref(&common), &asked).unwrap();
        assert_eq!(out.positive_weight, 10);
        assert_eq!(weighting(&out)["positive_weight"], 10);
    }

    #[test]
    fn bands_stay_reachable_when_trouble_is_common() {
        let (t, capped) = band_cut_points(0.097);
        assert!(!capped);
        assert!((t.elevated - 1.5 * 0.097).abs() < 1e-12 && (t.high - 3.0 * 0.097).abs() < 1e-12);
        // A published JIT set with 36% fix-inducing changes: 3x would be 108%.
        let (t, capped) = band_cut_points(0.36);
        assert!(capped);
        assert!((t.elevated - 0.52).abs() < 1e-12, "{t:?}");
        assert!((t.high - 0.68).abs() < 1e-12, "{t:?}");
        for base in [0.0, 0.2, 0.25, 0.5, 0.9, 1.0] {
            let (t, _) = band_cut_points(base);
            assert!(t.elevated <= t.high && t.high < 1.0, "{base}: {t:?}");
            assert!(t.elevated >= base.min(1.0 - 1e-6) - 1e-12, "{base}: {t:?}");
        }
    }

    #[test]
    fn bands_follow_the_base_rate() {
        let d = synthetic(1000, 3);
        let out = train(std::slice::from_ref(&d), &options(&["risky", "safe"])).unwrap();
        let s = chronological_split(&d);
        let train_rows = s.train();
        let base = train_rows.iter().filter(|&&r| d.rows[r].buggy).count() as f64
            / train_rows.len() as f64;
        let t = out.model.thresholds;
        assert_eq!(t, band_cut_points(base).0);
        let reference = out.model.reference.as_ref().unwrap();
        assert_eq!(reference.base_rate, base);
        // The stored quantiles place a training score where it ranks among them.
        let p = predict_rows(&out.model, &d, &train_rows);
        let share = |t: f64| p.iter().filter(|&&x| x >= t).count() as f64 / p.len() as f64;
        let standing = reference.standing(t.high).unwrap();
        assert!((standing.riskiest_share - share(t.high)).abs() < 0.02);
        assert!((standing.times_base_rate - t.high / base).abs() < 1e-9);
        // The hold-out's bands: what share was gated, and how much of it was trouble.
        let bands = &out.bands[0];
        assert!(bands.high_share <= bands.elevated_or_high_share);
        if let (Some(high), Some(_)) = (bands.high_buggy, bands.elevated_or_high_buggy) {
            assert!(high > bands.base_rate, "a gated change is likelier trouble");
        }
    }

    #[test]
    fn alpha_is_chosen_from_the_grid_by_validation_auc() {
        let d = synthetic(800, 5);
        let out = train(
            std::slice::from_ref(&d),
            &options(&["risky", "safe", "noise"]),
        )
        .unwrap();
        assert_eq!(out.grid.len(), default_alphas().len());
        let best = out
            .grid
            .iter()
            .filter_map(|g| g.validation_auc)
            .fold(f64::NEG_INFINITY, f64::max);
        let chosen = out.grid.iter().find(|g| g.alpha == out.alpha).unwrap();
        assert_eq!(chosen.validation_auc, Some(best));
        assert_eq!(out.model.provenance["regularisation"]["alpha"], out.alpha);
    }

    /// Each fit is told before it starts, in the order it runs: the grid, then the refit with
    /// the alpha chosen; and telling changes nothing of the model.
    #[test]
    fn progress_is_told_each_fit() {
        let d = synthetic(800, 5);
        let chosen = options(&["risky", "safe", "noise"]);
        let mut steps = Vec::new();
        let out = train_with_progress(std::slice::from_ref(&d), &chosen, &mut |step| {
            steps.push(step)
        })
        .unwrap();
        let alphas = default_alphas();
        let mut expected: Vec<TrainStep> = alphas
            .iter()
            .enumerate()
            .map(|(done, &alpha)| TrainStep::Validating {
                alpha,
                done,
                of: alphas.len(),
            })
            .collect();
        expected.push(TrainStep::Refitting { alpha: out.alpha });
        assert_eq!(steps, expected);
        let quiet = train(std::slice::from_ref(&d), &chosen).unwrap();
        assert_eq!(quiet.model.to_json(), out.model.to_json());
    }

    #[test]
    fn training_is_deterministic() {
        let d = fixture();
        let a = train(std::slice::from_ref(&d), &TrainOptions::default()).unwrap();
        let b = train(std::slice::from_ref(&d), &TrainOptions::default()).unwrap();
        assert_eq!(a.model.to_json(), b.model.to_json());
        assert!(a
            .model
            .version
            .starts_with(&iso_date(d.date_range().unwrap().1)));
    }

    /// `--settle-days` leaves out the changes of the latest days, and only those: the
    /// hold-out is then the latest 20% of what is left.
    #[test]
    fn settling_leaves_out_the_latest_days() {
        // One row a minute, the latest at 1,000,000: a day is 1,440 rows.
        let d = synthetic(3_000, 7);
        let kept = settled(&d, 1);
        assert_eq!(kept.rows.len(), 3_000 - 1_440);
        assert!(kept
            .rows
            .iter()
            .all(|r| r.author_date <= 1_000_000 - 86_400));
        assert_eq!(kept.names, d.names);
        assert_eq!(settled(&d, 0).rows.len(), 3_000);
        assert_eq!(settled(&d, 3).rows.len(), 0);
        let all = train(std::slice::from_ref(&d), &options(&["risky", "safe"])).unwrap();
        let some = train(
            std::slice::from_ref(&d),
            &TrainOptions {
                settle_days: 1,
                ..options(&["risky", "safe"])
            },
        )
        .unwrap();
        assert_eq!(all.holdout[0].metrics.rows, 600);
        assert_eq!(some.holdout[0].metrics.rows, 312);
        let too_many = TrainOptions {
            settle_days: 3,
            ..options(&["risky", "safe"])
        };
        assert!(matches!(
            train(std::slice::from_ref(&d), &too_many),
            Err(TrainError::TooFewRows { .. })
        ));
    }

    #[test]
    fn unsettled_labels_are_told_from_drift() {
        // vcpkg as mined: 53.7% of training changes buggy, 8.5% of the hold-out.
        assert!(labels_look_unsettled(0.537, 0.085));
        assert!(labels_look_unsettled(0.388, 0.19));
        // The public datasets: Qt 8.3% and 6.6%, OpenStack 12.4% and 15.6%.
        assert!(!labels_look_unsettled(0.083, 0.066));
        assert!(!labels_look_unsettled(0.124, 0.156));
        // Too rare to halve with any confidence.
        assert!(!labels_look_unsettled(0.04, 0.0));
    }

    #[test]
    fn values_too_large_to_standardise_are_refused_by_their_column() {
        let mut d = fixture();
        let entropy = d.names.iter().position(|n| n == "entropy").unwrap();
        for (i, r) in d.rows.iter_mut().enumerate() {
            r.values[entropy] = Some(if i % 2 == 0 { 1e200 } else { -1e200 });
        }
        let options = TrainOptions {
            features: Some(vec!["la".into(), "entropy".into()]),
            ..TrainOptions::default()
        };
        match train(&[d], &options) {
            Err(e @ TrainError::Overflow(_)) => assert!(e.to_string().contains("`entropy`"), "{e}"),
            other => panic!("{:?}", other.map(|o| o.model.to_json())),
        }
    }

    #[test]
    fn one_class_and_tiny_data_are_refused() {
        let mut d = fixture();
        for r in &mut d.rows {
            r.buggy = false;
        }
        assert!(matches!(
            train(&[d], &TrainOptions::default()),
            Err(TrainError::OneClass(_))
        ));
        let d = Dataset::parse_str(
            "commit_id,author_date,la,buggy\na,1,1,1\nb,2,2,0\n",
            "tiny.csv",
        )
        .unwrap();
        assert!(matches!(
            train(&[d], &TrainOptions::default()),
            Err(TrainError::TooFewRows { .. })
        ));
    }
}

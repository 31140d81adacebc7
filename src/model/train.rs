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

use std::collections::BTreeMap;

use linfa::traits::Fit;
use linfa_logistic::LogisticRegression;
use ndarray::{Array1, Array2};
use serde::Serialize;
use serde_json::json;

use super::dataset::{Dataset, LEAKAGE_COLUMNS};
use super::metrics::{reliability, roc_auc, roc_curve, Metrics, ReliabilityBin};
use super::{Derived, Model, ModelFeature, Thresholds, Transform};
use crate::features::catalogue::{self, Scale};
use crate::time::iso_date;

/// The signals riskgate computes from git that both public datasets also have, two ratios of
/// them that one change's signals give (lines added per file touched, the share of changed
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
    "nuc",
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

/// Share of each dataset (by date) held out for testing, and share of the training part used
/// to choose the regularisation.
pub const TEST_FRACTION: f64 = 0.2;
pub const VALIDATION_FRACTION: f64 = 0.2;

pub const LABEL_SOURCE: &str =
    "buggy column of the dataset — SZZ-style fix-inducing labels from the original study";

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
    /// is then corrected back by `ln(weight)`, so probabilities stay calibrated. 1: unweighted.
    pub positive_weight: u32,
    /// Share (0..1] of each dataset's training rows, the most recent, that the model learns
    /// from; older rows are left out, as the risk factors of a project drift. 1: all.
    pub window: f64,
}

impl Default for TrainOptions {
    fn default() -> Self {
        TrainOptions {
            features: None,
            alphas: default_alphas(),
            max_iterations: 1000,
            positive_weight: DEFAULT_POSITIVE_WEIGHT,
            window: 1.0,
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

#[derive(Debug, Clone)]
pub struct TrainOutcome {
    pub model: Model,
    /// Hold-out metrics, one per dataset in the order given.
    pub holdout: Vec<Evaluation>,
    /// All hold-outs together.
    pub pooled: Evaluation,
    pub alpha: f64,
    pub grid: Vec<AlphaScore>,
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
    #[error("logistic regression failed: {0}")]
    Fit(#[from] linfa_logistic::error::Error),
    #[error("internal error: the written model's scores differ from the fitted model's by {0}")]
    Mismatch(f64),
}

/// Rows of one dataset in the three chronological parts, as indices into `Dataset::rows`.
#[derive(Debug, Clone, PartialEq)]
pub struct Split {
    /// The earliest part of training: the fit while alpha is chosen.
    pub fit: Vec<usize>,
    /// The rest of training: where alpha is chosen.
    pub validation: Vec<usize>,
    /// The latest 20%: the hold-out.
    pub test: Vec<usize>,
}

impl Split {
    /// All training rows, oldest first.
    pub fn train(&self) -> Vec<usize> {
        self.fit.iter().chain(&self.validation).copied().collect()
    }
}

/// Smallest dataset that can be split into non-empty fit, validation and test parts.
pub const MIN_ROWS: usize = 10;

/// Sorts rows by author date (file order among equal dates) and splits them chronologically.
pub fn chronological_split(dataset: &Dataset) -> Split {
    let mut order: Vec<usize> = (0..dataset.rows.len()).collect();
    order.sort_by_key(|&i| (dataset.rows[i].author_date, i));
    let n = order.len();
    let n_train = ((n as f64) * (1.0 - TEST_FRACTION)).round() as usize;
    let n_fit = ((n_train as f64) * (1.0 - VALIDATION_FRACTION)).round() as usize;
    Split {
        fit: order[..n_fit].to_vec(),
        validation: order[n_fit..n_train].to_vec(),
        test: order[n_train..].to_vec(),
    }
}

/// The transform of a signal: its scale in the [`catalogue`] when that names one; otherwise
/// `log1p` for a non-negative, strongly right-skewed signal (skewness above 1) that is not a
/// 0/1 flag.
pub fn transform_for(name: &str, raw: &[f64]) -> Transform {
    match catalogue::by_name(name).map(|s| s.scale) {
        Some(Scale::Log) => return Transform::Log1p,
        Some(Scale::Linear) => return Transform::None,
        Some(Scale::FromData) | None => {}
    }
    if raw.is_empty() {
        return Transform::None;
    }
    let min = raw.iter().copied().fold(f64::INFINITY, f64::min);
    if min < 0.0 || raw.iter().all(|&v| v == 0.0 || v == 1.0) {
        return Transform::None;
    }
    let n = raw.len() as f64;
    let mean = raw.iter().sum::<f64>() / n;
    let m2 = raw.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
    let m3 = raw.iter().map(|v| (v - mean).powi(3)).sum::<f64>() / n;
    if m2 > 0.0 && m3 / m2.powf(1.5) > 1.0 {
        Transform::Log1p
    } else {
        Transform::None
    }
}

/// Quantile `q` (0..1) of sorted values, interpolating linearly between order statistics.
fn quantile_sorted(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let pos = q.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// The 101 quantiles 0%, 1%, …, 100% of `values`.
pub fn percentiles(values: &[f64]) -> Vec<f64> {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    (0..=100)
        .map(|p| quantile_sorted(&sorted, p as f64 / 100.0))
        .collect()
}

/// The rows of several datasets used together: (dataset, row) pairs.
type RowSet = Vec<(usize, usize)>;

/// How each feature is read from each dataset.
struct Columns {
    names: Vec<String>,
    /// `None` for a raw signal.
    derived: Vec<Option<Derived>>,
    /// `index[d][f]`: columns of feature `f`'s inputs in dataset `d`.
    index: Vec<Vec<Vec<usize>>>,
}

impl Columns {
    /// The value (before transform) of feature `f` on row `r` of dataset `d`.
    fn value(&self, datasets: &[Dataset], f: usize, d: usize, r: usize) -> Option<f64> {
        let row = &datasets[d].rows[r];
        let cols = &self.index[d][f];
        match &self.derived[f] {
            None => row.values[cols[0]].filter(|v| v.is_finite()),
            Some(x) => {
                let inputs: Vec<Option<f64>> = cols.iter().map(|&c| row.values[c]).collect();
                x.compute(&inputs)
            }
        }
    }

    fn raw(&self, datasets: &[Dataset], f: usize, rows: &RowSet) -> Vec<f64> {
        rows.iter()
            .filter_map(|&(d, r)| self.value(datasets, f, d, r))
            .collect()
    }
}

/// The transform of a derived feature's value: a ratio has a long right tail; shares, hinges,
/// products of transformed signals and flags are used as they are.
fn derived_transform(d: &Derived) -> Transform {
    match d {
        Derived::Ratio { .. } => Transform::Log1p,
        _ => Transform::None,
    }
}

/// Resolves the requested features. A hinge knot given as a quantile (`hinge(la,q80)`) becomes
/// that quantile of the transformed signal on `train_rows`, rounded to two decimals.
fn resolve_features(
    datasets: &[Dataset],
    wanted: Option<&[String]>,
    train_rows: &RowSet,
) -> Result<Columns, TrainError> {
    let names: Vec<String> = match wanted {
        Some(list) => {
            for name in list {
                if LEAKAGE_COLUMNS.contains(&name.as_str()) {
                    tracing::warn!(feature = %name, "training on a column known to leak the label");
                }
            }
            list.to_vec()
        }
        None => DEFAULT_FEATURES
            .iter()
            .filter(|f| {
                let d = Derived::parse(f, &|_| Transform::None, &|_, _, _| Some(0.0))
                    .ok()
                    .flatten();
                let inputs = d.as_ref().map(Derived::inputs).unwrap_or(vec![**f]);
                datasets
                    .iter()
                    .all(|ds| inputs.iter().all(|i| ds.column(i).is_some()))
            })
            .map(|f| f.to_string())
            .collect(),
    };
    if names.is_empty() {
        return Err(TrainError::NoFeatures);
    }
    for (i, name) in names.iter().enumerate() {
        if names[..i].contains(name) {
            return Err(TrainError::DuplicateFeature(name.clone()));
        }
    }
    let transform_of = |n: &str| transform_for(n, &[]);
    let knot = |input: &str, transform: Transform, arg: &str| -> Option<f64> {
        if let Ok(k) = arg.parse::<f64>() {
            return k.is_finite().then_some(k);
        }
        let q: f64 = arg.strip_prefix('q')?.parse().ok()?;
        if !(0.0..=100.0).contains(&q) {
            return None;
        }
        let mut v: Vec<f64> = train_rows
            .iter()
            .filter_map(|&(d, r)| {
                let c = datasets[d].column(input)?;
                datasets[d].rows[r].values[c].filter(|v| v.is_finite())
            })
            .map(|v| transform.apply(v))
            .collect();
        if v.is_empty() {
            return None;
        }
        v.sort_by(f64::total_cmp);
        Some((quantile_sorted(&v, q / 100.0) * 100.0).round() / 100.0)
    };
    let mut derived = Vec::with_capacity(names.len());
    let mut canonical = Vec::with_capacity(names.len());
    for name in &names {
        let d = Derived::parse(name, &transform_of, &knot)?;
        canonical.push(
            d.as_ref()
                .map(Derived::name)
                .unwrap_or_else(|| name.clone()),
        );
        derived.push(d);
    }
    for (i, name) in canonical.iter().enumerate() {
        if canonical[..i].contains(name) {
            return Err(TrainError::DuplicateFeature(name.clone()));
        }
    }
    let mut index = Vec::new();
    for d in datasets {
        let mut cols = Vec::new();
        for (name, x) in canonical.iter().zip(&derived) {
            let inputs: Vec<&str> = match x {
                None => vec![name.as_str()],
                Some(x) => x.inputs(),
            };
            let mut c = Vec::new();
            for input in inputs {
                c.push(d.column(input).ok_or_else(|| TrainError::MissingFeature {
                    file: d.source.clone(),
                    feature: input.to_string(),
                })?);
            }
            cols.push(c);
        }
        index.push(cols);
    }
    Ok(Columns {
        names: canonical,
        derived,
        index,
    })
}

/// The raw values of the model's features for one row, as `Model::score` takes them.
fn row_values(model: &Model, dataset: &Dataset, row: usize) -> BTreeMap<String, Option<f64>> {
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

fn predict_rows(model: &Model, dataset: &Dataset, rows: &[usize]) -> Vec<f64> {
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

fn evaluation_of(model: &Model, dataset: &Dataset, rows: &[usize]) -> Evaluation {
    let probabilities = predict_rows(model, dataset, rows);
    let labels: Vec<bool> = rows.iter().map(|&r| dataset.rows[r].buggy).collect();
    let la: Option<Vec<Option<f64>>> = dataset
        .column("la")
        .map(|c| rows.iter().map(|&r| dataset.rows[r].values[c]).collect());
    Evaluation {
        dataset: dataset.short_name(),
        metrics: Metrics::compute(&probabilities, &labels, la.as_deref()),
        reliability: reliability(&probabilities, &labels, 10),
        roc: roc_curve(&probabilities, &labels),
        baseline_roc: la
            .as_deref()
            .map(|la| la_curve(la, &labels))
            .unwrap_or_default(),
    }
}

/// A fit on some rows: the features with their standardisation, and linfa's own predictions on
/// those rows (probability of buggy) for checking the model file against.
struct Fitted {
    intercept: f64,
    features: Vec<ModelFeature>,
    linfa_probabilities: Vec<f64>,
}

fn fit(
    datasets: &[Dataset],
    columns: &Columns,
    transforms: &[Transform],
    rows: &RowSet,
    alpha: f64,
    max_iterations: u64,
    positive_weight: u32,
) -> Result<Fitted, TrainError> {
    let positives = rows
        .iter()
        .filter(|&&(d, r)| datasets[d].rows[r].buggy)
        .count();
    if positives == 0 {
        return Err(TrainError::OneClass("clean"));
    }
    if positives == rows.len() {
        return Err(TrainError::OneClass("buggy"));
    }
    let k = columns.names.len();
    let mut features = Vec::with_capacity(k);
    for (f, &transform) in transforms.iter().enumerate().take(k) {
        let raw = columns.raw(datasets, f, rows);
        if raw.is_empty() {
            return Err(TrainError::NoValues(columns.names[f].clone()));
        }
        let t: Vec<f64> = raw.iter().map(|&v| transform.apply(v)).collect();
        let mean = t.iter().sum::<f64>() / t.len() as f64;
        let std = (t.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / t.len() as f64).sqrt();
        features.push(ModelFeature {
            name: columns.names[f].clone(),
            derived: columns.derived[f].clone(),
            transform,
            mean,
            std,
            coefficient: 0.0,
            quantiles: percentiles(&raw),
        });
    }
    // Standardised inputs; a missing value is the training mean, i.e. 0. A buggy row is
    // repeated `positive_weight` times: an integer class weight.
    let weight = positive_weight.max(1) as usize;
    let times = |d: usize, r: usize| if datasets[d].rows[r].buggy { weight } else { 1 };
    let n: usize = rows.iter().map(|&(d, r)| times(d, r)).sum();
    let mut x = Array2::<f64>::zeros((n, k));
    let mut y = Array1::<bool>::from_elem(n, false);
    let mut first = Vec::with_capacity(rows.len());
    let mut i = 0;
    let mut z = vec![0.0; k];
    for &(d, r) in rows {
        first.push(i);
        for (f, feature) in features.iter().enumerate() {
            z[f] = columns
                .value(datasets, f, d, r)
                .map_or(0.0, |v| feature.standardise(v));
        }
        for _ in 0..times(d, r) {
            y[i] = datasets[d].rows[r].buggy;
            for (f, &v) in z.iter().enumerate() {
                x[[i, f]] = v;
            }
            i += 1;
        }
    }
    let data = linfa::Dataset::new(x, y);
    let fitted = LogisticRegression::default()
        .alpha(alpha)
        .with_intercept(true)
        .max_iterations(max_iterations)
        .gradient_tolerance(1e-6)
        .fit(&data)?;
    // linfa models the probability of its "positive" class, which is the MORE FREQUENT label
    // in the training data (not `true`): flip the signs when that is "clean".
    let sign = if fitted.labels().pos.class { 1.0 } else { -1.0 };
    for (feature, w) in features.iter_mut().zip(fitted.params().iter()) {
        feature.coefficient = sign * w;
    }
    // Prior correction: weighting the buggy rows by w multiplies the fitted odds by w, so
    // ln(w) comes off the intercept (and off linfa's logits, for the check).
    let shift = (weight as f64).ln();
    let all = fitted.predict_probabilities(data.records());
    let linfa_probabilities = first
        .iter()
        .map(|&i| {
            let p = if sign > 0.0 { all[i] } else { 1.0 - all[i] };
            if weight == 1 {
                p
            } else {
                super::sigmoid((p / (1.0 - p)).ln() - shift)
            }
        })
        .collect();
    Ok(Fitted {
        intercept: sign * fitted.intercept() - shift,
        features,
        linfa_probabilities,
    })
}

/// FNV-1a over the intercept and coefficients: a short fingerprint for the version.
fn fingerprint(intercept: f64, features: &[ModelFeature]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |bytes: &[u8]| {
        for &b in bytes {
            h ^= b as u64;
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    };
    eat(&intercept.to_bits().to_le_bytes());
    for f in features {
        eat(f.name.as_bytes());
        eat(&f.coefficient.to_bits().to_le_bytes());
        eat(&f.mean.to_bits().to_le_bytes());
        eat(&f.std.to_bits().to_le_bytes());
    }
    format!("{:08x}", h >> 32)
}

/// Fits the model: chooses alpha on the validation slices, refits on all training rows,
/// measures the hold-outs.
pub fn train(datasets: &[Dataset], options: &TrainOptions) -> Result<TrainOutcome, TrainError> {
    if datasets.is_empty() {
        return Err(TrainError::NoData);
    }
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
    for &alpha in &alphas {
        let fitted = fit(
            datasets,
            &columns,
            &transforms,
            &fit_rows,
            alpha,
            options.max_iterations,
            options.positive_weight,
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

    let fitted = fit(
        datasets,
        &columns,
        &transforms,
        &train_rows,
        alpha,
        options.max_iterations,
        options.positive_weight,
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

    let mut sorted = train_probabilities.clone();
    sorted.sort_by(f64::total_cmp);
    let clamp = |p: f64| p.clamp(1e-6, 1.0 - 1e-6);
    let elevated = clamp(quantile_sorted(&sorted, 0.80));
    let high = clamp(quantile_sorted(&sorted, 0.95)).max(elevated);
    model.thresholds = Thresholds { elevated, high };

    let holdout: Vec<Evaluation> = datasets
        .iter()
        .zip(&splits)
        .map(|(d, s)| evaluation_of(&model, d, &s.test))
        .collect();
    let pooled = pooled_evaluation(&model, datasets, &splits);

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
        alpha,
        &grid,
        options.positive_weight,
    );
    model.metrics = json!({
        "holdout": holdout.iter().map(|e| json!({"dataset": e.dataset, "metrics": e.metrics})).collect::<Vec<_>>(),
        "pooled": pooled.metrics,
        "curves": curves_json(&pooled),
    });

    Ok(TrainOutcome {
        model,
        holdout,
        pooled,
        alpha,
        grid,
    })
}

/// Most points of the ROC curve kept in a model file.
pub const CURVE_POINTS: usize = 200;

pub use super::metrics::thin_curve;

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

fn draft_model(fitted: &Fitted) -> Model {
    Model {
        version: String::new(),
        intercept: fitted.intercept,
        features: fitted.features.clone(),
        thresholds: Thresholds {
            elevated: 0.5,
            high: 0.5,
        },
        provenance: serde_json::Value::Null,
        metrics: serde_json::Value::Null,
    }
}

fn pooled_evaluation(model: &Model, datasets: &[Dataset], splits: &[Split]) -> Evaluation {
    let mut probabilities = Vec::new();
    let mut labels = Vec::new();
    let mut la = Vec::new();
    let all_have_la = datasets.iter().all(|d| d.column("la").is_some());
    for (d, s) in datasets.iter().zip(splits) {
        probabilities.extend(predict_rows(model, d, &s.test));
        labels.extend(s.test.iter().map(|&r| d.rows[r].buggy));
        if let Some(c) = d.column("la") {
            la.extend(s.test.iter().map(|&r| d.rows[r].values[c]));
        }
    }
    Evaluation {
        dataset: "pooled".to_string(),
        metrics: Metrics::compute(
            &probabilities,
            &labels,
            all_have_la.then_some(la.as_slice()),
        ),
        reliability: reliability(&probabilities, &labels, 10),
        roc: roc_curve(&probabilities, &labels),
        baseline_roc: if all_have_la {
            la_curve(&la, &labels)
        } else {
            Vec::new()
        },
    }
}

fn provenance(
    datasets: &[Dataset],
    splits: &[Split],
    names: &[String],
    transforms: &[Transform],
    alpha: f64,
    grid: &[AlphaScore],
    positive_weight: u32,
) -> serde_json::Value {
    let data: Vec<serde_json::Value> = datasets
        .iter()
        .zip(splits)
        .map(|(d, s)| {
            let (from, to) = d.date_range().unwrap_or((0, 0));
            let test_from = s.test.first().map(|&r| d.rows[r].author_date).unwrap_or(0);
            json!({
                "file": d.source,
                "rows": d.rows.len(),
                "positives": d.positives(),
                "from": iso_date(from),
                "to": iso_date(to),
                "train_rows": s.fit.len() + s.validation.len(),
                "validation_rows": s.validation.len(),
                "test_rows": s.test.len(),
                "test_from": iso_date(test_from),
            })
        })
        .collect();
    json!({
        "data": data,
        "label_source": LABEL_SOURCE,
        "split": "per dataset, rows sorted by author_date: the first 80% train, the last 20% are the hold-out; \
                  the last 20% of the training part (by date) is the validation slice that chooses alpha, \
                  then the model is refit on the whole training part",
        "features": names.iter().zip(transforms).map(|(n, t)| json!({"name": n, "transform": t})).collect::<Vec<_>>(),
        "missing_values": "imputed with the training mean (standardised 0)",
        "standardisation": "transformed value minus its training mean, divided by its training standard deviation",
        "regularisation": {
            "penalty": "L2 on the coefficients (not the intercept); loss = sum of log-loss over rows + alpha/2 * |w|^2",
            "alpha": alpha,
            "selection": "highest mean validation ROC-AUC over the datasets",
            "grid": grid,
        },
        "class_weighting": if positive_weight <= 1 {
            json!("none: plain maximum likelihood, so probabilities stay calibrated to the base rate")
        } else {
            json!({
                "positive_weight": positive_weight,
                "method": "each buggy training row counts positive_weight times in the fit",
                "prior_correction": format!("intercept -= ln({positive_weight}), so the probabilities are calibrated to the unweighted base rate"),
            })
        },
        "thresholds": "elevated = 80th percentile, high = 95th percentile of predicted probability on the training rows",
        "solver": "linfa-logistic 0.8 (L-BFGS)",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXTURE: &str = include_str!("../../fixtures/datasets/planted.csv");

    fn fixture() -> Dataset {
        Dataset::parse_str(FIXTURE, "fixtures/datasets/planted.csv").unwrap()
    }

    /// A tiny deterministic generator so tests need no random-number crate.
    struct Lcg(u64);
    impl Lcg {
        fn next(&mut self) -> f64 {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (self.0 >> 11) as f64 / (1u64 << 53) as f64
        }
    }

    /// `n` rows where `risky` raises the odds of a bug and `safe` lowers them; `noise` is unrelated.
    /// The label is mostly clean, so linfa's "positive" class is the clean one.
    fn synthetic(n: usize, seed: u64) -> Dataset {
        let mut rng = Lcg(seed);
        let mut text = String::from("commit_id,author_date,risky,safe,noise,buggy\n");
        for i in 0..n {
            let risky = rng.next() * 4.0 - 2.0;
            let safe = rng.next() * 4.0 - 2.0;
            let noise = rng.next() * 4.0 - 2.0;
            let p = super::super::sigmoid(-2.0 + 1.5 * risky - 1.0 * safe);
            let buggy = rng.next() < p;
            // Dates run backwards through the file, so the file order is not the time order.
            text.push_str(&format!(
                "c{i},{},{risky},{safe},{noise},{}\n",
                1_000_000 - i as i64 * 60,
                buggy as u8
            ));
        }
        Dataset::parse_str(&text, "synthetic.csv").unwrap()
    }

    fn options(features: &[&str]) -> TrainOptions {
        TrainOptions {
            features: Some(features.iter().map(|s| s.to_string()).collect()),
            ..TrainOptions::default()
        }
    }

    #[test]
    fn planted_signs_are_recovered_whatever_linfa_calls_positive() {
        let d = synthetic(2000, 7);
        assert!(
            d.positives() * 2 < d.rows.len(),
            "the clean class must be the majority"
        );
        let out = train(
            std::slice::from_ref(&d),
            &options(&["risky", "safe", "noise"]),
        )
        .unwrap();
        let coef: BTreeMap<&str, f64> = out
            .model
            .features
            .iter()
            .map(|f| (f.name.as_str(), f.coefficient))
            .collect();
        assert!(coef["risky"] > 0.5, "{coef:?}");
        assert!(coef["safe"] < -0.3, "{coef:?}");
        assert!(coef["noise"].abs() < 0.25, "{coef:?}");
        assert!(out.holdout[0].metrics.auc.unwrap() > 0.75);

        // Same data with the labels flipped: buggy becomes the majority and the signs must flip.
        let mut flipped = d.clone();
        for r in &mut flipped.rows {
            r.buggy = !r.buggy;
        }
        let out = train(&[flipped], &options(&["risky", "safe", "noise"])).unwrap();
        let coef: BTreeMap<&str, f64> = out
            .model
            .features
            .iter()
            .map(|f| (f.name.as_str(), f.coefficient))
            .collect();
        assert!(coef["risky"] < -0.5, "{coef:?}");
        assert!(coef["safe"] > 0.3, "{coef:?}");
    }

    #[test]
    fn model_file_reproduces_linfa_probabilities() {
        let d = synthetic(600, 11);
        let rows: RowSet = (0..d.rows.len()).map(|r| (0, r)).collect();
        let columns = resolve_features(
            std::slice::from_ref(&d),
            Some(&["risky".into(), "safe".into()]),
            &rows,
        )
        .unwrap();
        let transforms = vec![Transform::None, Transform::None];
        let fitted = fit(
            std::slice::from_ref(&d),
            &columns,
            &transforms,
            &rows,
            1.0,
            1000,
            1,
        )
        .unwrap();
        let model = Model::from_json(
            &Model {
                thresholds: Thresholds {
                    elevated: 0.2,
                    high: 0.5,
                },
                ..draft_model(&fitted)
            }
            .to_json(),
        )
        .unwrap();
        let ours = predict(&model, &d);
        for (a, b) in ours.iter().zip(&fitted.linfa_probabilities) {
            assert!((a - b).abs() < 1e-9, "{a} vs {b}");
        }
        // And the probabilities are of "buggy": higher on average for the buggy rows.
        let mean = |want: bool| {
            let v: Vec<f64> = ours
                .iter()
                .zip(&d.rows)
                .filter(|(_, r)| r.buggy == want)
                .map(|(p, _)| *p)
                .collect();
            v.iter().sum::<f64>() / v.len() as f64
        };
        assert!(mean(true) > mean(false) + 0.1);
    }

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
    fn split_is_chronological() {
        let d = fixture();
        let s = chronological_split(&d);
        assert_eq!(
            s.fit.len() + s.validation.len() + s.test.len(),
            d.rows.len()
        );
        assert_eq!(s.test.len(), 40);
        assert_eq!(s.validation.len(), 32);
        let date = |r: &usize| d.rows[*r].author_date;
        let fit_max = s.fit.iter().map(date).max().unwrap();
        let val_min = s.validation.iter().map(date).min().unwrap();
        let val_max = s.validation.iter().map(date).max().unwrap();
        let test_min = s.test.iter().map(date).min().unwrap();
        assert!(fit_max <= val_min && val_max <= test_min);
        // The test rows are exactly the 40 latest dates.
        let mut dates: Vec<i64> = d.rows.iter().map(|r| r.author_date).collect();
        dates.sort();
        let mut test_dates: Vec<i64> = s.test.iter().map(date).collect();
        test_dates.sort();
        assert_eq!(test_dates, dates[160..]);
        // The fixture is not in date order, so sorting mattered.
        assert_ne!(s.test, (160..200).collect::<Vec<_>>());
    }

    #[test]
    fn thresholds_are_training_percentiles() {
        let d = synthetic(1000, 3);
        let out = train(std::slice::from_ref(&d), &options(&["risky", "safe"])).unwrap();
        let s = chronological_split(&d);
        let p = predict_rows(&out.model, &d, &s.train());
        let share = |t: f64| p.iter().filter(|&&x| x >= t).count() as f64 / p.len() as f64;
        let elevated_or_high = share(out.model.thresholds.elevated);
        let high = share(out.model.thresholds.high);
        assert!((elevated_or_high - 0.20).abs() < 0.01, "{elevated_or_high}");
        assert!((high - 0.05).abs() < 0.01, "{high}");
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

    #[test]
    fn missing_requested_feature_names_the_file() {
        let d = fixture();
        let err = train(&[d], &options(&["la", "coverage"]))
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "fixtures/datasets/planted.csv: has no column `coverage`"
        );
    }

    #[test]
    fn explicitly_requested_leakage_column_is_used() {
        let d = fixture();
        let out = train(&[d], &options(&["la", "bugcount"])).unwrap();
        assert!(out.model.feature_names().any(|n| n == "bugcount"));
    }

    #[test]
    fn default_features_and_the_shipped_model_read_computed_signals() {
        // Every input of the default fit and of the shipped model is a signal of the catalogue
        // that `score` computes and `mine` writes.
        let shipped = Model::from_json(include_str!("../../model/model.json")).unwrap();
        let mut inputs: Vec<String> = shipped
            .input_names()
            .iter()
            .map(|n| n.to_string())
            .collect();
        for name in DEFAULT_FEATURES {
            let d = Derived::parse(name, &|_| Transform::None, &|_, _, _| Some(0.0)).unwrap();
            match d {
                Some(d) => inputs.extend(d.inputs().iter().map(|n| n.to_string())),
                None => inputs.push(name.to_string()),
            }
        }
        for name in &inputs {
            let signal = catalogue::by_name(name).unwrap_or_else(|| panic!("{name}"));
            assert!(
                matches!(signal.source, catalogue::Source::Change(_)),
                "{name}"
            );
            assert!(signal.column.is_some(), "{name} is not mined");
        }
    }

    #[test]
    fn transforms_by_name_and_by_data() {
        assert_eq!(transform_for("la", &[0.0, 1.0]), Transform::Log1p);
        assert_eq!(transform_for("entropy", &[0.0, 100.0]), Transform::None);
        assert_eq!(transform_for("fix", &[0.0, 1.0]), Transform::None);
        // The catalogue's scale wins over the data; a signal it leaves to the data is judged so.
        assert_eq!(transform_for("nrev", &[5.0, 5.0]), Transform::Log1p);
        assert_eq!(transform_for("asawr", &[0.0, 1000.0, 1.0]), Transform::None);
        assert_eq!(transform_for("author_commit_share", &[]), Transform::None);
        let skewed: Vec<f64> = (0..100)
            .map(|i| if i < 95 { i as f64 % 5.0 } else { 1000.0 })
            .collect();
        assert_eq!(transform_for("mystery", &skewed), Transform::Log1p);
        let symmetric: Vec<f64> = (0..100).map(|i| i as f64).collect();
        assert_eq!(transform_for("mystery", &symmetric), Transform::None);
        let negative: Vec<f64> = skewed.iter().map(|v| v - 10.0).collect();
        assert_eq!(transform_for("mystery", &negative), Transform::None);
        assert_eq!(
            transform_for("flag", &[0.0, 0.0, 0.0, 1.0]),
            Transform::None
        );
    }

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

    #[test]
    fn percentiles_interpolate() {
        let q = percentiles(&[10.0, 0.0, 5.0]);
        assert_eq!(q.len(), 101);
        assert_eq!(q[0], 0.0);
        assert_eq!(q[50], 5.0);
        assert_eq!(q[100], 10.0);
        assert!((q[25] - 2.5).abs() < 1e-12);
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

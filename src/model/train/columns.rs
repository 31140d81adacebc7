//! Which dataset columns each feature reads, and how its values are transformed: the
//! default feature set narrowed to what every dataset has, derived features resolved (a hinge
//! knot given as a training quantile becomes a number), each signal's transform.

use super::super::dataset::{Dataset, LEAKAGE_COLUMNS};
use super::super::{Derived, Transform};
use super::{TrainError, DEFAULT_FEATURES};
use crate::features::catalogue::{self, Scale};

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
pub(super) fn quantile_sorted(sorted: &[f64], q: f64) -> f64 {
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
pub(super) type RowSet = Vec<(usize, usize)>;

/// How each feature is read from each dataset.
pub(super) struct Columns {
    pub(super) names: Vec<String>,
    /// `None` for a raw signal.
    pub(super) derived: Vec<Option<Derived>>,
    /// `index[d][f]`: columns of feature `f`'s inputs in dataset `d`.
    pub(super) index: Vec<Vec<Vec<usize>>>,
}

impl Columns {
    /// The value (before transform) of feature `f` on row `r` of dataset `d`.
    pub(super) fn value(&self, datasets: &[Dataset], f: usize, d: usize, r: usize) -> Option<f64> {
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

    pub(super) fn raw(&self, datasets: &[Dataset], f: usize, rows: &RowSet) -> Vec<f64> {
        rows.iter()
            .filter_map(|&(d, r)| self.value(datasets, f, d, r))
            .collect()
    }
}

/// The transform of a derived feature's value: a ratio has a long right tail; shares, hinges,
/// products of transformed signals and flags are used as they are.
pub(super) fn derived_transform(d: &Derived) -> Transform {
    match d {
        Derived::Ratio { .. } => Transform::Log1p,
        _ => Transform::None,
    }
}

/// Resolves the requested features. A hinge knot given as a quantile (`hinge(la,q80)`) becomes
/// that quantile of the transformed signal on `train_rows`, rounded to two decimals.
pub(super) fn resolve_features(
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

#[cfg(test)]
mod tests {
    use super::super::testdata::{fixture, options};
    use super::super::{train, DEFAULT_FEATURES};
    use super::*;
    use crate::model::Model;

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
        let shipped = Model::from_json(include_str!("../../../model/model.json")).unwrap();
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
    fn percentiles_interpolate() {
        let q = percentiles(&[10.0, 0.0, 5.0]);
        assert_eq!(q.len(), 101);
        assert_eq!(q[0], 0.0);
        assert_eq!(q[50], 5.0);
        assert_eq!(q[100], 10.0);
        assert!((q[25] - 2.5).abs() < 1e-12);
    }
}

//! One logistic fit on a set of rows: standardisation, class weighting, linfa's solver, and
//! the coefficients turned back into the probability of a buggy change.

use linfa::traits::Fit;
use linfa_logistic::LogisticRegression;
use ndarray::{Array1, Array2, Axis};

use super::super::dataset::Dataset;
use super::super::{Model, ModelFeature, Thresholds, Transform};
use super::columns::{percentiles, Columns, RowSet};
use super::signs::Sign;
use super::{TrainError, TrainOptions};

/// A fit on some rows: the features with their standardisation, and linfa's own predictions on
/// those rows (probability of buggy) for checking the model file against.
pub(super) struct Fitted {
    pub(super) intercept: f64,
    pub(super) features: Vec<ModelFeature>,
    pub(super) linfa_probabilities: Vec<f64>,
}

pub(super) fn fit(
    datasets: &[Dataset],
    columns: &Columns,
    transforms: &[Transform],
    signs: &[Sign],
    rows: &RowSet,
    alpha: f64,
    options: &TrainOptions,
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
        if !(mean.is_finite() && std.is_finite()) {
            return Err(TrainError::Overflow(columns.names[f].clone()));
        }
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
    let weight = super::positive_weight_of(options, datasets, rows).max(1) as usize;
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
    let solved = fit_signed(&x, &y, signs, alpha, options.max_iterations)?;
    for (feature, w) in features.iter_mut().zip(&solved.coefficients) {
        feature.coefficient = *w;
    }
    // Prior correction: weighting the buggy rows by w multiplies the fitted odds by w, so
    // ln(w) comes off the intercept (and off linfa's logits, for the check).
    let shift = (weight as f64).ln();
    let linfa_probabilities = first
        .iter()
        .map(|&i| {
            let p = solved.probabilities[i];
            if weight == 1 {
                p
            } else {
                super::super::sigmoid((p / (1.0 - p)).ln() - shift)
            }
        })
        .collect();
    Ok(Fitted {
        intercept: solved.intercept - shift,
        features,
        linfa_probabilities,
    })
}

/// A fit in the buggy direction: the intercept, one coefficient per column of the inputs, and
/// the probability of buggy for each input row.
struct Solved {
    intercept: f64,
    coefficients: Vec<f64>,
    probabilities: Vec<f64>,
}

/// Fits the logistic model with each coefficient held to its sign: an active-set method around
/// linfa's solver. A coefficient that comes out with the wrong sign is held at zero and the
/// rest refitted; one held at zero is let go again when the loss would fall by moving it the
/// allowed way. With every sign free this is one plain linfa fit.
fn fit_signed(
    x: &Array2<f64>,
    y: &Array1<bool>,
    signs: &[Sign],
    alpha: f64,
    max_iterations: u64,
) -> Result<Solved, TrainError> {
    // Each round either holds a coefficient or lets one go, and the loss only falls: the
    // bound is generous and only guards against a solver that stops short.
    let rounds = 4 * x.ncols() + 4;
    fit_signed_within(x, y, signs, alpha, max_iterations, rounds)
}

/// [`fit_signed`] in at most `rounds` fits. A search that has not settled by then ends with
/// the best fit it found that kept every sign (by penalised loss), or the intercept alone:
/// training goes on with a model that may fit a little worse, never with a wrong sign.
fn fit_signed_within(
    x: &Array2<f64>,
    y: &Array1<bool>,
    signs: &[Sign],
    alpha: f64,
    max_iterations: u64,
    rounds: usize,
) -> Result<Solved, TrainError> {
    let k = x.ncols();
    let mut held: Vec<bool> = signs.iter().map(|&s| s == Sign::Zero).collect();
    let mut best: Option<(f64, Solved)> = None;
    for _ in 0..rounds {
        let free: Vec<usize> = (0..k).filter(|&f| !held[f]).collect();
        let solved = fit_columns(x, y, &free, alpha, max_iterations)?;
        let wrong: Vec<usize> = (0..k)
            .filter(|&f| signs[f].violated_by(solved.coefficients[f]))
            .collect();
        if !wrong.is_empty() {
            for f in wrong {
                held[f] = true;
            }
            continue;
        }
        // Gradient of the summed log-loss at a held coefficient (zero, so no penalty term).
        let tolerance = 1e-6 * x.nrows() as f64;
        let release = (0..k)
            .filter(|&f| held[f])
            .map(|f| {
                let g: f64 = (0..x.nrows())
                    .map(|i| (solved.probabilities[i] - f64::from(u8::from(y[i]))) * x[[i, f]])
                    .sum();
                (f, g)
            })
            .filter(|&(f, g)| signs[f].wants_release(g, tolerance))
            .max_by(|a, b| a.1.abs().total_cmp(&b.1.abs()));
        match release {
            Some((f, _)) => {
                held[f] = false;
                let loss = penalised_loss(&solved, y, alpha);
                if best.as_ref().is_none_or(|(least, _)| loss < *least) {
                    best = Some((loss, solved));
                }
            }
            None => return Ok(solved),
        }
    }
    tracing::warn!(
        rounds,
        "the sign-constrained fit did not settle: keeping the best fit that held every sign"
    );
    match best {
        Some((_, solved)) => Ok(solved),
        None => fit_columns(x, y, &[], alpha, max_iterations),
    }
}

/// What linfa minimises: the summed log-loss plus `alpha / 2 × ‖w‖²`.
fn penalised_loss(solved: &Solved, y: &Array1<bool>, alpha: f64) -> f64 {
    let log_loss: f64 = solved
        .probabilities
        .iter()
        .zip(y)
        .map(|(&p, &buggy)| {
            let p = p.clamp(1e-15, 1.0 - 1e-15);
            -(if buggy { p } else { 1.0 - p }).ln()
        })
        .sum();
    let norm: f64 = solved.coefficients.iter().map(|w| w * w).sum();
    log_loss + alpha / 2.0 * norm
}

/// One linfa fit on the given columns; the other coefficients are zero.
fn fit_columns(
    x: &Array2<f64>,
    y: &Array1<bool>,
    columns: &[usize],
    alpha: f64,
    max_iterations: u64,
) -> Result<Solved, TrainError> {
    let mut coefficients = vec![0.0; x.ncols()];
    if columns.is_empty() {
        // Intercept only: the log-odds of the (weighted) base rate.
        let p = y.iter().filter(|&&b| b).count() as f64 / y.len().max(1) as f64;
        let p = p.clamp(1e-9, 1.0 - 1e-9);
        return Ok(Solved {
            intercept: (p / (1.0 - p)).ln(),
            coefficients,
            probabilities: vec![p; y.len()],
        });
    }
    let data = linfa::Dataset::new(x.select(Axis(1), columns), y.clone());
    let fitted = LogisticRegression::default()
        .alpha(alpha)
        .with_intercept(true)
        .max_iterations(max_iterations)
        .gradient_tolerance(1e-6)
        .fit(&data)?;
    // linfa models the probability of its "positive" class, which is the MORE FREQUENT label
    // in the training data (not `true`): flip the signs when that is "clean".
    let sign = if fitted.labels().pos.class { 1.0 } else { -1.0 };
    for (&f, w) in columns.iter().zip(fitted.params().iter()) {
        coefficients[f] = sign * w;
    }
    let probabilities = fitted
        .predict_probabilities(data.records())
        .iter()
        .map(|&p| if sign > 0.0 { p } else { 1.0 - p })
        .collect();
    Ok(Solved {
        intercept: sign * fitted.intercept(),
        coefficients,
        probabilities,
    })
}

pub(super) fn draft_model(fitted: &Fitted) -> Model {
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
        reference: None,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::super::columns::resolve_features;
    use super::super::testdata::{options, synthetic};
    use super::super::{predict, train};
    use super::*;

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

    /// Every row of `d`, and its `risky` and `safe` columns.
    fn risky_and_safe(d: &Dataset) -> (RowSet, Columns) {
        let rows: RowSet = (0..d.rows.len()).map(|r| (0, r)).collect();
        let columns = resolve_features(
            std::slice::from_ref(d),
            Some(&["risky".into(), "safe".into()]),
            &rows,
        )
        .unwrap();
        (rows, columns)
    }

    #[test]
    fn model_file_reproduces_linfa_probabilities() {
        let d = synthetic(600, 11);
        let (rows, columns) = risky_and_safe(&d);
        let transforms = vec![Transform::None, Transform::None];
        let fitted = fit(
            std::slice::from_ref(&d),
            &columns,
            &transforms,
            &[Sign::Free, Sign::Free],
            &rows,
            1.0,
            &TrainOptions {
                positive_weight: Some(1),
                ..TrainOptions::default()
            },
        )
        .unwrap();
        let model = Model::from_json(
            &Model {
                version: "draft".into(),
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

    /// `risky` raises the odds in this data, against the sign asked of it here: a search cut
    /// short after its first fit (which breaks that sign) still returns a fit keeping every
    /// sign, and one that settles fits better.
    #[test]
    fn a_search_cut_short_keeps_every_sign() {
        let d = synthetic(800, 3);
        let y = Array1::from_iter(d.rows.iter().map(|r| r.buggy));
        let (_, columns) = risky_and_safe(&d);
        let x = Array2::from_shape_fn((d.rows.len(), 2), |(r, f)| {
            columns.value(std::slice::from_ref(&d), f, 0, r).unwrap()
        });
        let signs = [Sign::NonPositive, Sign::NonPositive];
        for rounds in [1, 2, 100] {
            let solved = fit_signed_within(&x, &y, &signs, 1.0, 1000, rounds).unwrap();
            assert!(
                solved.coefficients.iter().all(|&w| w <= 0.0),
                "{rounds} rounds: {:?}",
                solved.coefficients
            );
        }
        let settled = fit_signed_within(&x, &y, &signs, 1.0, 1000, 100).unwrap();
        assert!(settled.coefficients[1] < -0.1, "{:?}", settled.coefficients);
        let cut = fit_signed_within(&x, &y, &signs, 1.0, 1000, 1).unwrap();
        assert_eq!(cut.coefficients, vec![0.0, 0.0], "the intercept alone");
        assert!(penalised_loss(&settled, &y, 1.0) < penalised_loss(&cut, &y, 1.0));
    }
}

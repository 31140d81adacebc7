//! What a trained model file says about how it was made: its version's fingerprint and the
//! provenance block (data, split, features, regularisation, class weighting, thresholds).

use serde_json::json;

use super::super::dataset::Dataset;
use super::super::{ModelFeature, Transform};
use super::signs::Sign;
use super::split::Split;
use super::{AlphaScore, ELEVATED_TIMES_BASE_RATE, HIGH_TIMES_BASE_RATE};
use crate::time::iso_date;

pub const LABEL_SOURCE: &str =
    "buggy column of the dataset — SZZ-style fix-inducing labels from the original study";

/// FNV-1a over the intercept and coefficients: a short fingerprint for the version.
pub(super) fn fingerprint(intercept: f64, features: &[ModelFeature]) -> String {
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

/// How the fit was chosen and weighted, as the provenance records it.
pub(super) struct FitChoice<'a> {
    /// The L2 strength chosen, and the validation scores of the whole grid.
    pub alpha: f64,
    pub grid: &'a [AlphaScore],
    pub positive_weight: u32,
}

pub(super) fn provenance(
    datasets: &[Dataset],
    splits: &[Split],
    names: &[String],
    transforms: &[Transform],
    signs: &[Sign],
    fit: FitChoice<'_>,
) -> serde_json::Value {
    let FitChoice {
        alpha,
        grid,
        positive_weight,
    } = fit;
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
        "features": names.iter().zip(transforms).zip(signs).map(|((n, t), s)| json!({"name": n, "transform": t, "sign": s})).collect::<Vec<_>>(),
        "signs": if signs.iter().all(|s| *s == Sign::Free) {
            "free: every coefficient fitted without constraint"
        } else {
            "each coefficient held to the sign the signal catalogue expects (non_negative: more of it never lowers the risk; non_positive: never raises it); a coefficient that would take the other sign is held at zero; an audited feature (a ratio, share or product whose sign alone does not decide its inputs' direction) is fitted freely and held at zero when the fit lets more of an input move the score against that input's direction on the training changes"
        },
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
        "thresholds": format!(
            "elevated from {ELEVATED_TIMES_BASE_RATE}x, high from {HIGH_TIMES_BASE_RATE}x the base rate of buggy changes among the training rows"
        ),
        "solver": "linfa-logistic 0.8 (L-BFGS), inside an active set that holds coefficients at zero to keep their signs",
    })
}

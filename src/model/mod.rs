//! The logistic risk model: its JSON format, scoring and per-feature contributions.
//!
//! Pure: no I/O. Loading takes the JSON text; the caller reads the file.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub mod charts;
pub mod dataset;
mod derived;
pub mod effort;
pub mod explain;
pub mod file;
pub mod history;
pub mod metrics;
pub mod monotone;
pub mod promotion;
pub mod train;

pub use derived::{Derived, Input, SpecError, Transform};

/// One input of the model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelFeature {
    /// A raw signal's name, or for a derived feature its canonical name ([`Derived::name`]).
    pub name: String,
    /// How the value is computed from raw signals; absent for a raw signal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub derived: Option<Derived>,
    pub transform: Transform,
    /// Mean and standard deviation of the transformed value on the training rows.
    pub mean: f64,
    pub std: f64,
    /// Weight of the standardised value in the logit.
    pub coefficient: f64,
    /// Quantiles of the raw value on the training rows at 0%, 1%, …, 100% (101 values),
    /// so an explanation can say "more than 90% of changes".
    pub quantiles: Vec<f64>,
}

impl ModelFeature {
    /// The feature's value (before transform) for one change's raw signals.
    pub fn value(&self, values: &BTreeMap<String, Option<f64>>) -> Option<f64> {
        match &self.derived {
            None => values
                .get(&self.name)
                .copied()
                .flatten()
                .filter(|v| v.is_finite()),
            Some(d) => {
                let inputs: Vec<Option<f64>> = d
                    .inputs()
                    .iter()
                    .map(|n| values.get(*n).copied().flatten())
                    .collect();
                d.compute(&inputs)
            }
        }
    }

    /// The raw signals this feature reads.
    pub fn inputs(&self) -> Vec<&str> {
        match &self.derived {
            None => vec![self.name.as_str()],
            Some(d) => d.inputs(),
        }
    }

    /// The standardised, transformed value.
    pub fn standardise(&self, raw: f64) -> f64 {
        let std = if self.std > 0.0 { self.std } else { 1.0 };
        (self.transform.apply(raw) - self.mean) / std
    }

    /// Share of training changes whose raw value lies strictly below `raw`, and the share
    /// strictly above it (ties count for neither), estimated from the stored quantiles.
    pub fn rank(&self, raw: f64) -> (f64, f64) {
        let q = &self.quantiles;
        if q.len() < 2 {
            return (0.5, 0.5);
        }
        let steps = (q.len() - 1) as f64;
        let below = q.iter().filter(|&&v| v < raw).count();
        let above = q.iter().filter(|&&v| v > raw).count();
        // Each quantile point stands for 1/steps of the distribution; the end points for half.
        let share = |n: usize| ((n as f64 - 0.5).max(0.0) / steps).clamp(0.0, 1.0);
        (share(below), share(above))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Thresholds {
    /// Probability at or above which a change is "elevated".
    pub elevated: f64,
    /// Probability at or above which a change is "high".
    pub high: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Band {
    Low,
    Elevated,
    High,
}

impl Band {
    pub fn as_str(self) -> &'static str {
        match self {
            Band::Low => "low",
            Band::Elevated => "elevated",
            Band::High => "high",
        }
    }

    /// The band named by [`Band::as_str`]'s word.
    pub fn parse(word: &str) -> Option<Band> {
        [Band::Low, Band::Elevated, Band::High]
            .into_iter()
            .find(|b| b.as_str() == word)
    }
}

impl Thresholds {
    pub fn band(&self, probability: f64) -> Band {
        if probability >= self.high {
            Band::High
        } else if probability >= self.elevated {
            Band::Elevated
        } else {
            Band::Low
        }
    }
}

/// The whole model file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Model {
    pub version: String,
    pub intercept: f64,
    pub features: Vec<ModelFeature>,
    pub thresholds: Thresholds,
    /// Where the model came from: data files, split, regularisation, the command that made it.
    #[serde(default)]
    pub provenance: serde_json::Value,
    /// Hold-out metrics measured when the model was trained.
    #[serde(default)]
    pub metrics: serde_json::Value,
    /// The training changes' share of trouble and spread of scores, so a score can be placed
    /// among them; absent in older model files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<Reference>,
}

/// What a probability is compared with: the training changes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reference {
    /// Share of the training changes that turned out buggy.
    pub base_rate: f64,
    /// The training changes' predicted probabilities at 0%, 1%, …, 100% (101 values).
    pub quantiles: Vec<f64>,
}

/// Where one change's probability stands.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Standing {
    /// Share of the training changes that scored at least as high.
    pub riskiest_share: f64,
    /// The probability over the base rate.
    pub times_base_rate: f64,
    pub base_rate: f64,
}

impl Reference {
    pub fn standing(&self, probability: f64) -> Option<Standing> {
        let q = &self.quantiles;
        if q.len() < 2
            || self.base_rate.is_nan()
            || self.base_rate <= 0.0
            || !probability.is_finite()
        {
            return None;
        }
        let steps = (q.len() - 1) as f64;
        let at_or_above = q.iter().filter(|&&v| v >= probability).count() as f64;
        Some(Standing {
            riskiest_share: (at_or_above / steps).clamp(0.0, 1.0),
            times_base_rate: probability / self.base_rate,
            base_rate: self.base_rate,
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("model is not valid JSON of the model format: {0}")]
    Format(#[from] serde_json::Error),
    #[error("model feature `{0}` has a non-finite mean, std or coefficient")]
    NonFinite(String),
    #[error("model feature `{0}` is computed as `{1}`: its name must say how it is computed")]
    DerivedName(String, String),
    #[error("model lists feature `{0}` twice")]
    Duplicate(String),
    #[error("model thresholds must satisfy 0 < elevated <= high < 1 (got {0} and {1})")]
    Thresholds(f64, f64),
    #[error("model feature `{0}`: {1}")]
    Feature(String, &'static str),
    #[error("model {0}")]
    Field(&'static str),
    #[error("model version {0:?} must be 1 to 100 letters, digits and `-_.+:`: it is shown in check runs and reports")]
    Version(String),
}

/// Quantiles as a model stores them: none, or the 0%, 1%, …, 100% points, finite and in
/// ascending order; explanations and standings read shares of changes from them.
fn quantiles_ok(q: &[f64]) -> bool {
    q.is_empty()
        || (q.len() == 101 && q.iter().all(|v| v.is_finite()) && q.windows(2).all(|w| w[0] <= w[1]))
}

/// One feature's share of the logit for a scored change.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Contribution {
    pub feature: String,
    /// The raw signal value.
    pub value: f64,
    /// coefficient × standardised value: how far this signal moves the logit from an average change.
    pub contribution: f64,
    /// Share of training changes with a lower / higher raw value.
    pub share_below: f64,
    pub share_above: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Scored {
    pub probability: f64,
    pub band: Band,
    /// Largest (most risk-raising) first.
    pub contributions: Vec<Contribution>,
    /// Model features the change had no value for; they were scored as an average change.
    pub missing: Vec<String>,
}

pub fn sigmoid(z: f64) -> f64 {
    if z >= 0.0 {
        1.0 / (1.0 + (-z).exp())
    } else {
        let e = z.exp();
        e / (1.0 + e)
    }
}

/// The most one feature moves the logit. A probability is 0 or 1 to the last digit long
/// before it; past it a model of finite but extreme numbers (a coefficient of 1e308, a
/// standard deviation of 1e-300) would add infinities, and +inf - inf is no probability at
/// all, which a gate would read as passing.
const MOST_CONTRIBUTION: f64 = 50.0;

/// `c` within ±[`MOST_CONTRIBUTION`]; not a number (0 × inf) is no contribution.
fn bounded_contribution(c: f64) -> f64 {
    if c.is_nan() {
        0.0
    } else {
        c.clamp(-MOST_CONTRIBUTION, MOST_CONTRIBUTION)
    }
}

impl Model {
    pub fn from_json(text: &str) -> Result<Model, ModelError> {
        let text = crate::input::without_bom(text);
        let model: Model = serde_json::from_str(text)?;
        model.validate()?;
        Ok(model)
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("model serialises")
    }

    pub(crate) fn validate(&self) -> Result<(), ModelError> {
        let version_ok = (1..=100).contains(&self.version.len())
            && self
                .version
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.+:".contains(c));
        if !version_ok {
            return Err(ModelError::Version(self.version.clone()));
        }
        if !self.intercept.is_finite() {
            return Err(ModelError::Field("intercept must be a finite number"));
        }
        if let Some(r) = &self.reference {
            if !(0.0..=1.0).contains(&r.base_rate) {
                return Err(ModelError::Field(
                    "reference base_rate must be a share between 0 and 1",
                ));
            }
            if !quantiles_ok(&r.quantiles) || r.quantiles.iter().any(|q| !(0.0..=1.0).contains(q)) {
                return Err(ModelError::Field(
                    "reference quantiles must be none or 101 probabilities in ascending order",
                ));
            }
        }
        let mut seen = std::collections::BTreeSet::new();
        for f in &self.features {
            if !(f.mean.is_finite() && f.std.is_finite() && f.coefficient.is_finite()) {
                return Err(ModelError::NonFinite(f.name.clone()));
            }
            if f.std < 0.0 {
                return Err(ModelError::Feature(f.name.clone(), "std is negative"));
            }
            if !quantiles_ok(&f.quantiles) {
                return Err(ModelError::Feature(
                    f.name.clone(),
                    "quantiles must be none or 101 finite numbers in ascending order",
                ));
            }
            if let Some(d) = &f.derived {
                if d.name() != f.name {
                    return Err(ModelError::DerivedName(f.name.clone(), d.name()));
                }
            }
            if !seen.insert(f.name.as_str()) {
                return Err(ModelError::Duplicate(f.name.clone()));
            }
        }
        let t = self.thresholds;
        if !(t.elevated > 0.0 && t.elevated <= t.high && t.high < 1.0) {
            return Err(ModelError::Thresholds(t.elevated, t.high));
        }
        Ok(())
    }

    pub fn feature_names(&self) -> impl Iterator<Item = &str> {
        self.features.iter().map(|f| f.name.as_str())
    }

    /// Why this model cannot score a change riskgate mines, if it cannot: it has no features,
    /// or reads inputs that are no signal riskgate computes (a dataset's own column, or a
    /// typo), which would be missing from every score and leave the model scoring nothing.
    pub fn unfit_to_score(&self) -> Option<String> {
        if self.features.is_empty() {
            return Some("it has no features".to_string());
        }
        let unknown: Vec<&str> = self
            .input_names()
            .into_iter()
            .filter(|name| crate::features::catalogue::by_name(name).is_none())
            .collect();
        (!unknown.is_empty()).then(|| {
            format!(
                "it reads {}, which riskgate does not compute",
                unknown
                    .iter()
                    .map(|n| format!("{n:?}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })
    }

    /// The raw signals the model reads (derived features' inputs included), each once, sorted.
    pub fn input_names(&self) -> Vec<&str> {
        let set: std::collections::BTreeSet<&str> =
            self.features.iter().flat_map(|f| f.inputs()).collect();
        set.into_iter().collect()
    }

    /// Probability from already-standardised inputs in model feature order.
    pub fn probability_of_standardised(&self, z: &[f64]) -> f64 {
        let logit = self.intercept
            + self
                .features
                .iter()
                .zip(z)
                .map(|(f, z)| bounded_contribution(f.coefficient * z))
                .sum::<f64>();
        sigmoid(logit)
    }

    /// Score a change from its raw signals. A derived feature is computed from its inputs.
    /// A model feature absent from `values` (or not finite, or with an input missing) is taken at the training mean, contributes nothing, and is listed in `missing`.
    pub fn score(&self, values: &BTreeMap<String, Option<f64>>) -> Scored {
        let mut logit = self.intercept;
        let mut contributions = Vec::with_capacity(self.features.len());
        let mut missing = Vec::new();
        for f in &self.features {
            match f.value(values) {
                Some(raw) => {
                    let contribution = bounded_contribution(f.coefficient * f.standardise(raw));
                    logit += contribution;
                    let (share_below, share_above) = f.rank(raw);
                    contributions.push(Contribution {
                        feature: f.name.clone(),
                        value: raw,
                        contribution,
                        share_below,
                        share_above,
                    });
                }
                _ => missing.push(f.name.clone()),
            }
        }
        contributions.sort_by(|a, b| b.contribution.total_cmp(&a.contribution));
        let probability = sigmoid(logit);
        Scored {
            probability,
            band: self.thresholds.band(probability),
            contributions,
            missing,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feature(name: &str, coefficient: f64) -> ModelFeature {
        ModelFeature {
            name: name.into(),
            derived: None,
            transform: Transform::Log1p,
            mean: 1.0,
            std: 0.5,
            coefficient,
            quantiles: (0..=100).map(|i| i as f64).collect(),
        }
    }

    fn model() -> Model {
        Model {
            version: "test".into(),
            intercept: -2.0,
            features: vec![feature("la", 0.8), feature("exp", -0.3)],
            thresholds: Thresholds {
                elevated: 0.2,
                high: 0.5,
            },
            provenance: serde_json::Value::Null,
            metrics: serde_json::Value::Null,
            reference: None,
        }
    }

    #[test]
    fn score_is_sigmoid_of_intercept_plus_contributions() {
        let m = model();
        let values = BTreeMap::from([
            ("la".to_string(), Some(20.0)),
            ("exp".to_string(), Some(3.0)),
        ]);
        let s = m.score(&values);
        let z_la = (21f64.ln() - 1.0) / 0.5;
        let z_exp = (4f64.ln() - 1.0) / 0.5;
        let expected = 1.0 / (1.0 + (-(-2.0 + 0.8 * z_la - 0.3 * z_exp)).exp());
        assert!((s.probability - expected).abs() < 1e-12);
        assert_eq!(s.contributions[0].feature, "la");
        assert!((s.contributions[0].contribution - 0.8 * z_la).abs() < 1e-12);
        assert!(s.missing.is_empty());
    }

    #[test]
    fn impossible_fields_are_refused_by_name() {
        let refused = |change: &dyn Fn(&mut Model)| {
            let mut m = model();
            change(&mut m);
            Model::from_json(&m.to_json()).unwrap_err().to_string()
        };
        let msg = refused(&|m| m.features[0].quantiles.swap(3, 90));
        assert!(msg.contains("`la`") && msg.contains("ascending"), "{msg}");
        let msg = refused(&|m| m.features[1].quantiles = vec![1.0, 2.0]);
        assert!(msg.contains("`exp`") && msg.contains("101"), "{msg}");
        let msg = refused(&|m| m.features[0].std = -1.0);
        assert!(msg.contains("std is negative"), "{msg}");
        let msg = refused(&|m| {
            m.reference = Some(Reference {
                base_rate: -0.1,
                quantiles: vec![],
            })
        });
        assert!(msg.contains("base_rate"), "{msg}");
        let msg = refused(&|m| {
            m.reference = Some(Reference {
                base_rate: 0.1,
                quantiles: (0..=100).map(|i| f64::from(i) / 50.0).collect(),
            })
        });
        assert!(msg.contains("probabilities"), "{msg}");
        let mut ok = model();
        ok.features[0].quantiles.clear();
        ok.features[1].std = 0.0;
        assert!(
            Model::from_json(&ok.to_json()).is_ok(),
            "none, and a constant feature, are fine"
        );
    }

    #[test]
    fn a_model_version_is_an_identifier_and_a_bom_is_skipped() {
        let m = model();
        let json = format!("{}{}", '\u{feff}', m.to_json());
        assert_eq!(Model::from_json(&json).unwrap().version, m.version);
        for bad in [
            "",
            "a b",
            "v1\n### forged",
            "`x`",
            "\u{1b}[31m",
            &"v".repeat(101),
        ] {
            let mut m = model();
            m.version = bad.to_string();
            assert!(
                matches!(Model::from_json(&m.to_json()), Err(ModelError::Version(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn missing_feature_is_neutral_and_reported() {
        let m = model();
        let values = BTreeMap::from([("la".to_string(), None)]);
        let s = m.score(&values);
        assert_eq!(s.missing, vec!["la".to_string(), "exp".to_string()]);
        assert!((s.probability - sigmoid(-2.0)).abs() < 1e-12);
        assert_eq!(s.band, Band::Low);
    }

    /// Finite but extreme numbers in a model file give each feature at most a bounded share
    /// of the logit: the probability is a number, and a feature pushed past all bounds the
    /// risk's way makes the change high risk, not a NaN that reads as low.
    #[test]
    fn extreme_coefficients_give_a_probability() {
        let mut m = model();
        m.features[0].coefficient = 1e308;
        m.features[0].std = 1e-300;
        let values = BTreeMap::from([
            ("la".to_string(), Some(20.0)),
            ("exp".to_string(), Some(3.0)),
        ]);
        let s = m.score(&values);
        assert!(s.probability.is_finite(), "{}", s.probability);
        assert_eq!(s.band, Band::High);
        assert_eq!(s.contributions[0].contribution, MOST_CONTRIBUTION);
        // +inf and -inf side by side cancel rather than make NaN.
        m.features[1].coefficient = -1e308;
        m.features[1].std = 1e-300;
        let s = m.score(&values);
        assert!(s.probability.is_finite(), "{}", s.probability);
        let z = [f64::INFINITY, f64::INFINITY];
        assert!(m.probability_of_standardised(&z).is_finite());
        m.features[0].coefficient = 0.0;
        assert!(m.probability_of_standardised(&z).is_finite(), "0 × inf");
    }

    #[test]
    fn rank_reads_quantiles() {
        let f = feature("la", 1.0);
        let (below, above) = f.rank(93.5);
        assert!((below - 0.935).abs() < 0.011, "{below}");
        assert!((above - 0.065).abs() < 0.011, "{above}");
    }

    #[test]
    fn bad_thresholds_and_duplicates_are_refused() {
        let mut m = model();
        m.thresholds.elevated = 0.7;
        assert!(matches!(
            Model::from_json(&m.to_json()),
            Err(ModelError::Thresholds(..))
        ));
        let mut m = model();
        m.features.push(feature("la", 1.0));
        assert!(matches!(
            Model::from_json(&m.to_json()),
            Err(ModelError::Duplicate(_))
        ));
        assert!(matches!(Model::from_json("{"), Err(ModelError::Format(_))));
    }

    #[test]
    fn bands_follow_thresholds() {
        let t = Thresholds {
            elevated: 0.2,
            high: 0.5,
        };
        assert_eq!(t.band(0.1), Band::Low);
        assert_eq!(t.band(0.2), Band::Elevated);
        assert_eq!(t.band(0.9), Band::High);
    }
    #[test]
    fn a_derived_feature_in_the_model_file_is_scored() {
        let mut m = model();
        let derived = Derived::parse("ratio(la,nf)", &|_| Transform::None, &|_, _, _| None)
            .unwrap()
            .unwrap();
        m.features.push(ModelFeature {
            name: derived.name(),
            derived: Some(derived),
            transform: Transform::Log1p,
            mean: 1.0,
            std: 0.5,
            coefficient: 0.4,
            quantiles: vec![],
        });
        let m = Model::from_json(&m.to_json()).unwrap();
        assert_eq!(m.input_names(), ["exp", "la", "nf"]);
        let values = BTreeMap::from([
            ("la".to_string(), Some(20.0)),
            ("exp".to_string(), Some(3.0)),
            ("nf".to_string(), Some(4.0)),
        ]);
        let s = m.score(&values);
        let z_la = (21f64.ln() - 1.0) / 0.5;
        let z_exp = (4f64.ln() - 1.0) / 0.5;
        let z_ratio = (6f64.ln() - 1.0) / 0.5;
        let expected = sigmoid(-2.0 + 0.8 * z_la - 0.3 * z_exp + 0.4 * z_ratio);
        assert!((s.probability - expected).abs() < 1e-12);
        let c = s
            .contributions
            .iter()
            .find(|c| c.feature == "ratio(la,nf)")
            .unwrap();
        assert_eq!(c.value, 5.0);
        // Without `nf` the ratio is missing and scored as average.
        let values = BTreeMap::from([("la".to_string(), Some(20.0))]);
        assert!(m
            .score(&values)
            .missing
            .contains(&"ratio(la,nf)".to_string()));
        // A name that does not say how the feature is computed is refused.
        let mut bad = m.clone();
        bad.features[2].name = "la_per_file".into();
        assert!(matches!(
            Model::from_json(&bad.to_json()),
            Err(ModelError::DerivedName(..))
        ));
    }
}

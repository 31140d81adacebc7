//! Whether a model keeps its promise that more of a risk factor never lowers the score (and
//! more of a protective one never raises it), checked on real changes. Pure.
//!
//! A raw signal's term is monotone by its coefficient's sign alone; a derived feature that
//! grows with one input and shrinks with another (`ratio(la,nf)`) is monotone only together
//! with the other terms, so the model as a whole is checked: each change's directed signals
//! are raised a step at a time, the rest held, and the probability must not move against the
//! direction the signal catalogue expects.

use std::collections::BTreeMap;

use super::Model;
use crate::features::catalogue::{self, Direction};

/// One change whose score moved against a signal's expected direction.
#[derive(Debug, Clone, PartialEq)]
pub struct Breach {
    pub signal: String,
    pub from: f64,
    pub to: f64,
    /// Probability at `from` and at `to`.
    pub before: f64,
    pub after: f64,
}

impl std::fmt::Display for Breach {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "raising {} from {} to {} moves the probability from {:.4} to {:.4}",
            self.signal, self.from, self.to, self.before, self.after
        )
    }
}

/// The values a signal is raised to from `v`: a small, a doubling and a tenfold step.
fn steps(v: f64) -> [f64; 3] {
    let v = v.max(0.0);
    [v + 1.0, 2.0 * v + 1.0, 10.0 * v + 10.0]
}

/// The first breach found for each directed signal the model reads, over `changes` (raw
/// signal values by name, as [`Model::score`] takes them).
pub fn breaches(model: &Model, changes: &[BTreeMap<String, Option<f64>>]) -> Vec<Breach> {
    let directed: Vec<(&str, Direction)> = model
        .input_names()
        .into_iter()
        .filter_map(|name| {
            let direction = catalogue::by_name(name)?.direction;
            (direction != Direction::Unknown).then_some((name, direction))
        })
        .collect();
    let mut found = Vec::new();
    for (signal, direction) in directed {
        'changes: for change in changes {
            let Some(Some(v)) = change.get(signal).copied() else {
                continue;
            };
            if !v.is_finite() {
                continue;
            }
            let before = model.score(change).probability;
            let mut raised = change.clone();
            for to in steps(v) {
                raised.insert(signal.to_string(), Some(to));
                let after = model.score(&raised).probability;
                let wrong = match direction {
                    Direction::Raises => after < before - 1e-12,
                    _ => after > before + 1e-12,
                };
                if wrong {
                    found.push(Breach {
                        signal: signal.to_string(),
                        from: v,
                        to,
                        before,
                        after,
                    });
                    break 'changes;
                }
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Derived, ModelFeature, Thresholds, Transform};

    fn feature(name: &str, coefficient: f64) -> ModelFeature {
        let derived =
            Derived::parse(name, &|_| Transform::Log1p, &|_, _, k| k.parse().ok()).unwrap();
        ModelFeature {
            name: name.into(),
            transform: if derived.is_some() && !name.starts_with("ratio") {
                Transform::None
            } else {
                Transform::Log1p
            },
            derived,
            mean: 0.0,
            std: 1.0,
            coefficient,
            quantiles: vec![],
        }
    }

    fn model(features: Vec<ModelFeature>) -> Model {
        Model {
            version: "t".into(),
            intercept: -2.0,
            features,
            thresholds: Thresholds {
                elevated: 0.1,
                high: 0.3,
            },
            provenance: serde_json::Value::Null,
            metrics: serde_json::Value::Null,
            reference: None,
        }
    }

    fn changes() -> Vec<BTreeMap<String, Option<f64>>> {
        [(0.0, 1.0), (10.0, 1.0), (300.0, 2.0), (5.0, 40.0)]
            .iter()
            .map(|&(la, nf)| {
                BTreeMap::from([("la".to_string(), Some(la)), ("nf".to_string(), Some(nf))])
            })
            .collect()
    }

    #[test]
    fn a_ratio_that_outweighs_its_numerator_is_a_breach() {
        // Lines per file weighing against lines: more lines at one file lowers the score.
        let m = model(vec![
            feature("la", 0.2),
            feature("nf", 0.1),
            feature("ratio(la,nf)", -0.9),
        ]);
        let found = breaches(&m, &changes());
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].signal, "la");
        assert!(found[0].after < found[0].before);
    }

    #[test]
    fn a_ratio_the_numerator_outweighs_keeps_the_promise() {
        let m = model(vec![
            feature("la", 1.5),
            feature("nf", 0.1),
            feature("ratio(la,nf)", -0.5),
        ]);
        assert_eq!(breaches(&m, &changes()), vec![]);
    }

    #[test]
    fn protective_signals_must_not_raise_the_score() {
        let m = model(vec![feature("exp", 0.4), feature("la", 1.0)]);
        let mut c = changes();
        for change in &mut c {
            change.insert("exp".into(), Some(3.0));
        }
        let found = breaches(&m, &c);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].signal, "exp");
    }
}

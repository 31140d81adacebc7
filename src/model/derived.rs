//! Derived features: values computed from one change's raw signals (a ratio, a share, a hinge,
//! a product, a flag), named so that the model file alone says how to compute them, and the
//! transform applied to a signal before it is standardised.

use serde::{Deserialize, Serialize};

/// How a raw signal is turned into the value the coefficient multiplies (before standardising).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Transform {
    /// The raw value.
    None,
    /// `ln(1 + max(x, 0))`: for counts and durations with long right tails.
    Log1p,
}

impl Transform {
    pub fn apply(self, x: f64) -> f64 {
        match self {
            Transform::None => x,
            Transform::Log1p => x.max(0.0).ln_1p(),
        }
    }
}

/// One raw signal inside a derived feature, with the transform applied to it first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Input {
    pub name: String,
    pub transform: Transform,
}

/// A feature computed from one change's raw signals (never from other changes), so the model
/// file alone says how to compute it at score time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Derived {
    /// `numerator / max(denominator, 1)`, e.g. lines added per file touched.
    Ratio {
        numerator: String,
        denominator: String,
    },
    /// `part / (part + other)`, 0 when both are 0, e.g. the share of changed lines deleted.
    Share { part: String, other: String },
    /// `max(0, transform(input) − knot)`: a piecewise-linear term, a slope that starts at the knot.
    Hinge {
        input: String,
        transform: Transform,
        knot: f64,
    },
    /// The product of two transformed signals: an interaction.
    Product { left: Input, right: Input },
    /// 1 when `input > threshold`, else 0.
    Above { input: String, threshold: f64 },
}

/// A malformed derived-feature name such as `ratio(la)`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("cannot read feature `{0}`: expected a signal name, ratio(a,b), share(a,b), hinge(a,K), mul(a,b) or gt(a,K)")]
pub struct SpecError(pub String);

impl Derived {
    /// The raw signals it reads, in a fixed order.
    pub fn inputs(&self) -> Vec<&str> {
        match self {
            Derived::Ratio {
                numerator,
                denominator,
            } => vec![numerator, denominator],
            Derived::Share { part, other } => vec![part, other],
            Derived::Hinge { input, .. } | Derived::Above { input, .. } => vec![input],
            Derived::Product { left, right } => vec![&left.name, &right.name],
        }
    }

    /// The value from the raw inputs in [`Derived::inputs`] order; `None` if any is missing or
    /// not finite.
    pub fn compute(&self, inputs: &[Option<f64>]) -> Option<f64> {
        let v: Vec<f64> = inputs
            .iter()
            .map(|x| x.filter(|x| x.is_finite()))
            .collect::<Option<Vec<f64>>>()?;
        Some(match self {
            Derived::Ratio { .. } => v[0] / v[1].max(1.0),
            Derived::Share { .. } => {
                let (a, b) = (v[0].max(0.0), v[1].max(0.0));
                if a + b > 0.0 {
                    a / (a + b)
                } else {
                    0.0
                }
            }
            Derived::Hinge {
                transform, knot, ..
            } => (transform.apply(v[0]) - knot).max(0.0),
            Derived::Product { left, right } => {
                left.transform.apply(v[0]) * right.transform.apply(v[1])
            }
            Derived::Above { threshold, .. } => (v[0] > *threshold) as u8 as f64,
        })
    }

    /// The canonical name: `ratio(la,nf)`, `share(ld,la)`, `hinge(la,3.5)`, `mul(fix,la)`,
    /// `gt(ns,1)`.
    pub fn name(&self) -> String {
        match self {
            Derived::Ratio {
                numerator,
                denominator,
            } => format!("ratio({numerator},{denominator})"),
            Derived::Share { part, other } => format!("share({part},{other})"),
            Derived::Hinge { input, knot, .. } => format!("hinge({input},{knot})"),
            Derived::Product { left, right } => format!("mul({},{})", left.name, right.name),
            Derived::Above { input, threshold } => format!("gt({input},{threshold})"),
        }
    }

    /// Reads a name of the forms [`Derived::name`] writes. `transform_of` gives the transform
    /// of a raw signal (for the inputs of `hinge` and `mul`); `knot` resolves a hinge's second
    /// argument, which may be a number or a training quantile such as `q80`. `Ok(None)` for a
    /// plain signal name.
    pub fn parse(
        spec: &str,
        transform_of: &dyn Fn(&str) -> Transform,
        knot: &dyn Fn(&str, Transform, &str) -> Option<f64>,
    ) -> Result<Option<Derived>, SpecError> {
        let spec = spec.trim();
        let Some(open) = spec.find('(') else {
            return Ok(None);
        };
        let bad = || SpecError(spec.to_string());
        let op = &spec[..open];
        let inner = spec[open + 1..].strip_suffix(')').ok_or_else(bad)?;
        let args: Vec<&str> = inner.split(',').map(str::trim).collect();
        if args.len() != 2 || args.iter().any(|a| a.is_empty()) {
            return Err(bad());
        }
        let (a, b) = (args[0].to_string(), args[1]);
        Ok(Some(match op {
            "ratio" => Derived::Ratio {
                numerator: a,
                denominator: b.to_string(),
            },
            "share" => Derived::Share {
                part: a,
                other: b.to_string(),
            },
            "hinge" => {
                let transform = transform_of(&a);
                let knot = knot(&a, transform, b).ok_or_else(bad)?;
                Derived::Hinge {
                    input: a,
                    transform,
                    knot,
                }
            }
            "mul" => Derived::Product {
                left: Input {
                    transform: transform_of(&a),
                    name: a,
                },
                right: Input {
                    name: b.to_string(),
                    transform: transform_of(b),
                },
            },
            "gt" => Derived::Above {
                input: a,
                // A threshold that is no number (NaN, inf) could not be written to the model.
                threshold: b
                    .parse()
                    .ok()
                    .filter(|t: &f64| t.is_finite())
                    .ok_or_else(bad)?,
            },
            _ => return Err(bad()),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(spec: &str) -> Option<Derived> {
        let by_name = |n: &str| {
            if n == "la" {
                Transform::Log1p
            } else {
                Transform::None
            }
        };
        Derived::parse(spec, &by_name, &|_, _, k| k.parse().ok()).unwrap()
    }

    #[test]
    fn derived_features_are_computed_from_raw_signals() {
        let ratio = parse("ratio(la,nf)").unwrap();
        assert_eq!(ratio.compute(&[Some(30.0), Some(3.0)]), Some(10.0));
        assert_eq!(ratio.compute(&[Some(30.0), Some(0.0)]), Some(30.0));
        assert_eq!(ratio.compute(&[Some(30.0), None]), None);
        let share = parse("share(ld,la)").unwrap();
        assert_eq!(share.compute(&[Some(1.0), Some(3.0)]), Some(0.25));
        assert_eq!(share.compute(&[Some(0.0), Some(0.0)]), Some(0.0));
        let hinge = parse("hinge(la,2)").unwrap();
        assert_eq!(hinge.compute(&[Some(3.0)]), Some(0.0));
        assert!((hinge.compute(&[Some(99.0)]).unwrap() - (100f64.ln() - 2.0)).abs() < 1e-12);
        let product = parse("mul(fix,la)").unwrap();
        assert!((product.compute(&[Some(1.0), Some(9.0)]).unwrap() - 10f64.ln()).abs() < 1e-12);
        let flag = parse("gt(ns,1)").unwrap();
        assert_eq!(flag.compute(&[Some(2.0)]), Some(1.0));
        assert_eq!(flag.compute(&[Some(1.0)]), Some(0.0));
        for spec in [
            "ratio(la,nf)",
            "share(ld,la)",
            "hinge(la,2)",
            "mul(fix,la)",
            "gt(ns,1)",
        ] {
            assert_eq!(parse(spec).unwrap().name(), spec);
        }
        assert_eq!(parse("la"), None);
        for bad in [
            "ratio(la)",
            "nope(a,b)",
            "ratio(la,nf",
            "gt(ns,x)",
            "gt(ns,NaN)",
            "gt(ns,inf)",
            "gt(ns,1e999)",
        ] {
            assert!(
                Derived::parse(bad, &|_| Transform::None, &|_, _, k| k.parse().ok()).is_err(),
                "{bad}"
            );
        }
    }
}

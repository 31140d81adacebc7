//! The sign each coefficient may take, so that more of a risk factor never lowers the score.
//!
//! The expected direction of every signal is in the signal catalogue. A raw signal's
//! coefficient must follow it; a derived feature's must follow the direction of each input it
//! grows or shrinks with (a ratio grows with its numerator and shrinks with its denominator).
//! A derived feature whose inputs ask for opposite signs (`ratio(la,nf)`: more lines raise it,
//! more files lower it) cannot be kept monotone by a sign alone: it is fitted freely and kept
//! only if the fitted model, checked on the training changes, stays monotone in its inputs
//! ([`crate::model::monotone`]); otherwise it is held at zero.

use serde::Serialize;

use super::super::Derived;
use crate::features::catalogue::{self, Direction};

/// The values a coefficient (in the buggy direction) may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Sign {
    Free,
    NonNegative,
    NonPositive,
    /// Fitted freely, kept only if the whole model stays monotone in the feature's inputs.
    Audited,
    /// Held at zero: an audited feature that broke the promise.
    Zero,
}

impl Sign {
    /// Whether `coefficient` breaks the constraint.
    pub fn violated_by(self, coefficient: f64) -> bool {
        match self {
            Sign::Free | Sign::Audited => false,
            Sign::NonNegative => coefficient < 0.0,
            Sign::NonPositive => coefficient > 0.0,
            Sign::Zero => coefficient != 0.0,
        }
    }

    /// Whether a coefficient held at zero would lower the loss by moving in the allowed
    /// direction, given the loss's gradient there.
    pub fn wants_release(self, gradient: f64, tolerance: f64) -> bool {
        match self {
            Sign::Free | Sign::Audited => true,
            Sign::NonNegative => -gradient > tolerance,
            Sign::NonPositive => gradient > tolerance,
            Sign::Zero => false,
        }
    }

    fn of(direction: Direction) -> Sign {
        match direction {
            Direction::Raises => Sign::NonNegative,
            Direction::Lowers => Sign::NonPositive,
            Direction::Unknown => Sign::Free,
        }
    }

    fn flipped(self) -> Sign {
        match self {
            Sign::NonNegative => Sign::NonPositive,
            Sign::NonPositive => Sign::NonNegative,
            other => other,
        }
    }
}

/// The direction the catalogue expects of a raw signal; a column it does not know: none.
fn direction_of(signal: &str) -> Direction {
    catalogue::by_name(signal).map_or(Direction::Unknown, |s| s.direction)
}

/// The sign the coefficient of feature `name` (computed as `derived`, if it is) must take.
pub fn expected_sign(name: &str, derived: Option<&Derived>) -> Sign {
    let Some(derived) = derived else {
        return Sign::of(direction_of(name));
    };
    // Each input, and whether the feature grows with it (true) or shrinks (false). A product
    // grows with an input only where the other is positive, which no sign can promise.
    let inputs: Vec<(&str, bool)> = match derived {
        Derived::Ratio {
            numerator,
            denominator,
        } => vec![(numerator, true), (denominator, false)],
        Derived::Share { part, other } => vec![(part, true), (other, false)],
        Derived::Hinge { input, .. } | Derived::Above { input, .. } => vec![(input, true)],
        Derived::Product { left, right } => {
            let directed = [&left.name, &right.name]
                .into_iter()
                .any(|n| direction_of(n) != Direction::Unknown);
            return if directed { Sign::Audited } else { Sign::Free };
        }
    };
    let mut wanted = Sign::Free;
    for (input, grows) in inputs {
        let sign = Sign::of(direction_of(input));
        let sign = if grows { sign } else { sign.flipped() };
        match (sign, wanted) {
            (Sign::Free, _) => {}
            (s, Sign::Free) => wanted = s,
            (s, w) if s == w => {}
            _ => return Sign::Audited,
        }
    }
    wanted
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Transform;

    fn parse(name: &str) -> Option<Derived> {
        Derived::parse(name, &|_| Transform::Log1p, &|_, _, k| k.parse().ok()).unwrap()
    }

    fn sign(name: &str) -> Sign {
        expected_sign(name, parse(name).as_ref())
    }

    #[test]
    fn raw_signals_follow_the_catalogue() {
        assert_eq!(sign("la"), Sign::NonNegative);
        assert_eq!(sign("ns"), Sign::NonNegative);
        assert_eq!(sign("exp"), Sign::NonPositive);
        assert_eq!(sign("age"), Sign::Free);
        assert_eq!(sign("some_column_of_my_own"), Sign::Free);
    }

    #[test]
    fn derived_features_follow_their_inputs_or_are_audited() {
        assert_eq!(sign("hinge(la,3.5)"), Sign::NonNegative);
        assert_eq!(sign("gt(exp,10)"), Sign::NonPositive);
        assert_eq!(sign("hinge(age,12.73)"), Sign::Free);
        // Lines added per file: more lines raise it, more files (also a risk) lower it.
        assert_eq!(sign("ratio(la,nf)"), Sign::Audited);
        // Lines added per unit of experience: both inputs push it the same way.
        assert_eq!(sign("ratio(la,exp)"), Sign::NonNegative);
        assert_eq!(sign("share(ld,la)"), Sign::Audited);
        assert_eq!(sign("mul(fix,la)"), Sign::Audited);
        assert_eq!(sign("mul(fix,age)"), Sign::Free);
    }
}

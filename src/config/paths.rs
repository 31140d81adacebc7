//! Per-path rules for monorepos: `paths: {"services/payments/**": {high: 0.2, sensitive: true}}`.
//! Among the rules whose glob a change touches, the strictest (lowest `high`, then lowest
//! `elevated`, then the first written) sets the change's thresholds, and the check names it.

use globset::{Glob, GlobMatcher};
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;

use super::layers::check_thresholds;
use super::limits::BoundedString;
use super::{RepoConfig, ThresholdConfig, MAX_LIST_ENTRIES};

/// How many of the touched paths a rule lists when it is applied.
const PATHS_NAMED: usize = 5;

/// One glob's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct PathRule {
    pub glob: String,
    pub elevated: Option<f64>,
    pub high: Option<f64>,
    /// Paths under the glob count as sensitive.
    pub sensitive: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleBody {
    elevated: Option<f64>,
    high: Option<f64>,
    #[serde(default)]
    sensitive: bool,
}

impl PathRule {
    fn matcher(&self) -> Result<GlobMatcher, String> {
        Glob::new(&self.glob)
            .map(|g| g.compile_matcher())
            .map_err(|e| format!("paths: `{}` is not a valid glob: {e}", self.glob))
    }

    /// The glob compiles; each threshold is in (0, 1) and `elevated <= high` when both are set.
    pub(super) fn check(&self) -> Result<(), String> {
        self.matcher()?;
        let in_range = |v: Option<f64>| v.is_none_or(|v| v > 0.0 && v < 1.0);
        if !in_range(self.elevated) || !in_range(self.high) {
            return Err(format!(
                "paths: `{}`: thresholds must lie between 0 and 1",
                self.glob
            ));
        }
        if let (Some(e), Some(h)) = (self.elevated, self.high) {
            check_thresholds(e, h).map_err(|m| format!("paths: `{}`: {m}", self.glob))?;
        }
        Ok(())
    }
}

/// The `paths:` map, in the order written, refused past [`MAX_LIST_ENTRIES`] rules or a glob
/// longer than an entry may be.
pub(super) fn bounded_rules<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Vec<PathRule>>, D::Error> {
    struct Rules;
    impl<'de> Visitor<'de> for Rules {
        type Value = Option<Vec<PathRule>>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a map from path globs to {elevated, high, sensitive}")
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(Some(Vec::new()))
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut rules: Vec<PathRule> = Vec::new();
            while let Some(BoundedString(glob)) = map.next_key()? {
                if rules.len() == MAX_LIST_ENTRIES {
                    return Err(de::Error::custom(format!(
                        "paths: more than {MAX_LIST_ENTRIES} rules"
                    )));
                }
                let body: RuleBody = map.next_value()?;
                if rules.iter().any(|r| r.glob == glob) {
                    return Err(de::Error::custom(format!(
                        "paths: `{glob}` is written twice"
                    )));
                }
                rules.push(PathRule {
                    glob,
                    elevated: body.elevated,
                    high: body.high,
                    sensitive: body.sensitive,
                });
            }
            Ok(Some(rules))
        }
    }
    deserializer.deserialize_any(Rules)
}

/// The path rule that set a change's thresholds.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct AppliedPathRule {
    pub glob: String,
    /// The thresholds in force: the rule's, the rest from the repository or the model.
    pub elevated: f64,
    pub high: f64,
    /// The first few touched paths under the glob, and how many there are in all.
    pub paths: Vec<String>,
    pub paths_touched: usize,
}

impl RepoConfig {
    /// Every sensitive glob: `sensitive_paths` and the path rules marked `sensitive`.
    pub fn all_sensitive_paths(&self) -> Vec<String> {
        let mut all = self.sensitive_paths.clone();
        for rule in self.paths.iter().filter(|r| r.sensitive) {
            if !all.contains(&rule.glob) {
                all.push(rule.glob.clone());
            }
        }
        all
    }

    /// The strictest rule with a threshold among those whose glob matches a touched path, with
    /// `base` (the repository's or the model's thresholds) filling what the rule leaves out.
    /// `None` when no such rule is touched or none is stricter than `base`.
    pub fn strictest_path_rule<'a>(
        &self,
        touched: impl IntoIterator<Item = &'a str>,
        base: ThresholdConfig,
    ) -> Option<AppliedPathRule> {
        let touched: Vec<&str> = touched.into_iter().collect();
        let mut best: Option<AppliedPathRule> = None;
        for rule in self
            .paths
            .iter()
            .filter(|r| r.elevated.is_some() || r.high.is_some())
        {
            let Ok(matcher) = rule.matcher() else {
                continue; // refused when the file was read
            };
            let under: Vec<&str> = touched
                .iter()
                .copied()
                .filter(|p| matcher.is_match(p))
                .collect();
            if under.is_empty() {
                continue;
            }
            let high = rule.high.unwrap_or(base.high);
            let elevated = rule.elevated.unwrap_or(base.elevated).min(high);
            let stricter = match &best {
                None => (high, elevated) < (base.high, base.elevated),
                Some(b) => (high, elevated) < (b.high, b.elevated),
            };
            if stricter {
                best = Some(AppliedPathRule {
                    glob: rule.glob.clone(),
                    elevated,
                    high,
                    paths: under
                        .iter()
                        .take(PATHS_NAMED)
                        .map(|p| p.to_string())
                        .collect(),
                    paths_touched: under.len(),
                });
            }
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: ThresholdConfig = ThresholdConfig {
        elevated: 0.3,
        high: 0.6,
    };

    fn config(text: &str) -> RepoConfig {
        RepoConfig::parse(".github/riskgate.yml", text).unwrap()
    }

    #[test]
    fn the_strictest_touched_rule_applies_and_is_named() {
        let c = config(
            "paths:\n  'services/payments/**': {high: 0.2}\n  'services/**': {elevated: 0.25, high: 0.5}\n  'docs/**': {high: 0.1}\n",
        );
        let touched = [
            "services/payments/charge.rs",
            "services/payments/refund.rs",
            "services/search/index.rs",
        ];
        let applied = c.strictest_path_rule(touched, BASE).unwrap();
        assert_eq!(applied.glob, "services/payments/**");
        assert_eq!(
            (applied.elevated, applied.high),
            (0.2, 0.2),
            "elevated ≤ high"
        );
        assert_eq!(applied.paths_touched, 2);
        // Only the search service touched: the broader rule.
        let applied = c
            .strictest_path_rule(["services/search/index.rs"], BASE)
            .unwrap();
        assert_eq!(
            (applied.glob.as_str(), applied.elevated, applied.high),
            ("services/**", 0.25, 0.5)
        );
        // No rule touched, or none stricter than the base: none applies.
        assert_eq!(c.strictest_path_rule(["README.md"], BASE), None);
        let lenient = config("paths: {'**': {high: 0.9}}\n");
        assert_eq!(lenient.strictest_path_rule(["a.rs"], BASE), None);
    }

    #[test]
    fn sensitive_rules_join_the_sensitive_paths() {
        let c = config(
            "sensitive_paths: ['db/**']\npaths: {'api/**': {sensitive: true}, 'db/**': {sensitive: true}}\n",
        );
        assert_eq!(c.all_sensitive_paths(), ["db/**", "api/**"]);
        // A rule without thresholds never sets them.
        assert_eq!(c.strictest_path_rule(["api/x.rs"], BASE), None);
    }

    #[test]
    fn bad_rules_are_refused_by_name() {
        for (text, expected) in [
            ("paths: {'a/[': {high: 0.2}}", "not a valid glob"),
            ("paths: {'a/**': {high: 1.5}}", "between 0 and 1"),
            (
                "paths: {'a/**': {elevated: 0.5, high: 0.2}}",
                "elevated 0.5",
            ),
            ("paths: {'a/**': {hgh: 0.2}}", "hgh"),
            ("paths: {'a/**': {high: 0.2}, 'a/**': {high: 0.3}}", "a/**"),
            ("paths: ['a/**']", "paths"),
        ] {
            let err = RepoConfig::parse(".github/riskgate.yml", text)
                .unwrap_err()
                .to_string();
            assert!(
                err.starts_with(".github/riskgate.yml: ") && err.contains(expected),
                "{text}: {err}"
            );
        }
        let many: String = (0..=MAX_LIST_ENTRIES)
            .map(|i| format!("  'p{i}/**': {{high: 0.5}}\n"))
            .collect();
        let err = RepoConfig::parse("f", &format!("paths:\n{many}"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("more than 1000 rules"), "{err}");
    }
}

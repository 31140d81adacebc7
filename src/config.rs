//! A repository's own settings, `.github/riskgate.yml`, read at the base revision so a change
//! cannot lower its own bar. Pure: parses text.

use serde::Deserialize;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RepoConfig {
    /// Globs of paths that count as sensitive, beside the built-in migrations and manifests.
    #[serde(default)]
    pub sensitive_paths: Vec<String>,
    /// Override the model's band thresholds for this repository.
    #[serde(default)]
    pub thresholds: Option<ThresholdConfig>,
    /// What a high-risk check concludes: `failure` blocks a required check, `neutral` advises.
    #[serde(default)]
    pub high_risk: HighRisk,
    /// When the sticky comment is posted or updated.
    #[serde(default)]
    pub comment: CommentPolicy,
    /// A PR carrying this label is not scored; its check says `skipped`.
    #[serde(default = "default_skip_label")]
    pub skip_label: String,
    /// Score draft pull requests too.
    #[serde(default)]
    pub score_drafts: bool,
    #[serde(default)]
    pub coverage: Option<CoverageConfig>,
}

impl Default for RepoConfig {
    fn default() -> Self {
        RepoConfig {
            sensitive_paths: Vec::new(),
            thresholds: None,
            high_risk: HighRisk::default(),
            comment: CommentPolicy::default(),
            skip_label: default_skip_label(),
            score_drafts: false,
            coverage: None,
        }
    }
}

fn default_skip_label() -> String {
    "riskgate:skip".to_string()
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HighRisk {
    #[default]
    Failure,
    Neutral,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CommentPolicy {
    Never,
    #[default]
    Elevated,
    Always,
}

/// Coverage from a CI artifact: the workflow run's artifact `artifact`, and the report files
/// inside it (lcov or Cobertura XML) to read.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CoverageConfig {
    pub artifact: String,
    #[serde(default = "default_report_paths")]
    pub paths: Vec<String>,
}

fn default_report_paths() -> Vec<String> {
    vec![
        "lcov.info".into(),
        "coverage.xml".into(),
        "cobertura.xml".into(),
    ]
}

#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThresholdConfig {
    pub elevated: f64,
    pub high: f64,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{source_name}: {message}")]
    Invalid {
        source_name: String,
        message: String,
    },
}

impl RepoConfig {
    pub fn parse(source_name: &str, text: &str) -> Result<RepoConfig, ConfigError> {
        let invalid = |message: String| ConfigError::Invalid {
            source_name: source_name.to_string(),
            message,
        };
        if text.trim().is_empty() {
            return Ok(RepoConfig::default());
        }
        let config: RepoConfig = serde_yaml::from_str(text).map_err(|e| invalid(e.to_string()))?;
        if let Some(t) = config.thresholds {
            if !(t.elevated > 0.0 && t.elevated <= t.high && t.high < 1.0) {
                return Err(invalid(format!(
                    "thresholds must satisfy 0 < elevated <= high < 1 (got elevated {} and high {})",
                    t.elevated, t.high
                )));
            }
        }
        if config.skip_label.trim().is_empty() {
            return Err(invalid("skip_label must not be empty".to_string()));
        }
        if let Some(c) = &config.coverage {
            if c.artifact.trim().is_empty() || c.paths.is_empty() {
                return Err(invalid(
                    "coverage needs an artifact name and at least one report path".to_string(),
                ));
            }
        }
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_names_errors() {
        let c = RepoConfig::parse(
            "x",
            "sensitive_paths: ['src/payments/**']\nthresholds: {elevated: 0.2, high: 0.4}\n",
        )
        .unwrap();
        assert_eq!(c.sensitive_paths, vec!["src/payments/**".to_string()]);
        assert_eq!(c.thresholds.unwrap().high, 0.4);
        assert_eq!(RepoConfig::parse("x", "\n").unwrap(), RepoConfig::default());
        let c = RepoConfig::parse(
            "x",
            "high_risk: neutral\ncomment: always\nskip_label: no-risk\nscore_drafts: true\ncoverage: {artifact: cov}\n",
        )
        .unwrap();
        assert_eq!(
            (c.high_risk, c.comment, c.score_drafts),
            (HighRisk::Neutral, CommentPolicy::Always, true)
        );
        assert_eq!(c.coverage.unwrap().paths[0], "lcov.info");
        let err = RepoConfig::parse("x", "comment: sometimes")
            .unwrap_err()
            .to_string();
        assert!(err.contains("sometimes"), "{err}");
        let err = RepoConfig::parse(".github/riskgate.yml", "sensitive_pathz: []")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with(".github/riskgate.yml: ") && err.contains("sensitive_pathz"),
            "{err}"
        );
        let err = RepoConfig::parse("c", "thresholds: {elevated: 0.5, high: 0.2}")
            .unwrap_err()
            .to_string();
        assert!(err.contains("elevated 0.5"), "{err}");
    }
}

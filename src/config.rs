//! A repository's own settings, `.github/riskgate.yml`, read at the base revision so a change
//! cannot lower its own bar. Pure: parses text.

use serde::Deserialize;

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RepoConfig {
    /// Globs of paths that count as sensitive, beside the built-in migrations and manifests.
    #[serde(default)]
    pub sensitive_paths: Vec<String>,
    /// Override the model's band thresholds for this repository.
    #[serde(default)]
    pub thresholds: Option<ThresholdConfig>,
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

//! One settings file as written (a layer), what it extends, and how it is laid over another.

use serde::de::{
    self, value::MapAccessDeserializer, Deserializer, IntoDeserializer, MapAccess, Visitor,
};
use serde::Deserialize;

use super::limits::{bounded_list, flow_depth_exceeded};
use super::paths::{bounded_rules, PathRule};
use super::{
    CommentBehavior, CommentPolicy, ConfigError, CoverageConfig, HighRisk, Mode, RepoConfig,
    ThresholdConfig, MAX_CONFIG_BYTES, MAX_ENTRY_BYTES, MAX_FLOW_DEPTH,
};
use crate::names;

/// The repository of an organisation (or user) whose `.github/riskgate.yml` is the default of
/// all its repositories.
pub const ORGANISATION_REPOSITORY: &str = ".github";
/// Where the settings file lives in a repository.
const DEFAULT_PATH: &str = ".github/riskgate.yml";
/// Longest path an `_extends` may name.
const MAX_EXTENDS_PATH: usize = 256;

/// Every key of a file, each optional so a layer sets only what it names.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLayer {
    #[serde(rename = "_extends")]
    extends: Option<String>,
    #[serde(default, deserialize_with = "optional_list")]
    sensitive_paths: Option<Vec<String>>,
    thresholds: Option<ThresholdConfig>,
    high_risk: Option<HighRisk>,
    mode: Option<Mode>,
    comment: Option<CommentSetting>,
    skip_label: Option<String>,
    score_drafts: Option<bool>,
    coverage: Option<CoverageConfig>,
    #[serde(default, deserialize_with = "bounded_rules")]
    paths: Option<Vec<PathRule>>,
}

fn optional_list<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    bounded_list(d).map(Some)
}

/// `comment: elevated` or `comment: {when: high, behavior: once}`.
#[derive(Debug, Default)]
struct CommentSetting {
    when: Option<CommentPolicy>,
    behavior: Option<CommentBehavior>,
}

impl<'de> Deserialize<'de> for CommentSetting {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Table {
            when: Option<CommentPolicy>,
            behavior: Option<CommentBehavior>,
        }
        struct Setting;
        impl<'de> Visitor<'de> for Setting {
            type Value = CommentSetting;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("never, elevated, high or always, or a map {when, behavior}")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<CommentSetting, E> {
                let when = CommentPolicy::deserialize(v.into_deserializer())?;
                Ok(CommentSetting {
                    when: Some(when),
                    behavior: None,
                })
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<CommentSetting, A::Error> {
                let t = Table::deserialize(MapAccessDeserializer::new(map))?;
                Ok(CommentSetting {
                    when: t.when,
                    behavior: t.behavior,
                })
            }
        }
        deserializer.deserialize_any(Setting)
    }
}

/// The file an `_extends` names: `.github` (the organisation's defaults), `repo` (a repository
/// of the same owner), `owner/repo`, each optionally followed by `:path/to/file.yml`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtendsTarget {
    /// `None`: the extending repository's owner.
    pub owner: Option<String>,
    pub repository: String,
    pub path: String,
}

impl ExtendsTarget {
    fn parse(value: &str) -> Result<ExtendsTarget, String> {
        let (name, path) = match value.split_once(':') {
            Some((name, path)) => (name, path),
            None => (value, DEFAULT_PATH),
        };
        let (owner, repository) = match name.split_once('/') {
            Some((owner, repository)) => (Some(owner), repository),
            None => (None, name),
        };
        if let Some(owner) = owner {
            if !names::is_account_name(owner) {
                return Err(format!("_extends: `{owner}` is not an account name"));
            }
        }
        if !names::is_repository_name(repository) {
            return Err(format!("_extends: `{repository}` is not a repository name"));
        }
        let path_ok = !path.is_empty()
            && path.len() <= MAX_EXTENDS_PATH
            && !path.starts_with('/')
            && path
                .split('/')
                .all(|part| !part.is_empty() && part != "." && part != "..")
            && path
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-/".contains(&b));
        if !path_ok {
            return Err(format!(
                "_extends: `{path}` is not a relative path of a file in the repository"
            ));
        }
        Ok(ExtendsTarget {
            owner: owner.map(str::to_string),
            repository: repository.to_string(),
            path: path.to_string(),
        })
    }

    /// `owner/repository` with the extending repository's owner filled in.
    pub fn full_name(&self, default_owner: &str) -> String {
        format!(
            "{}/{}",
            self.owner.as_deref().unwrap_or(default_owner),
            self.repository
        )
    }

    /// The organisation's defaults: `.github/riskgate.yml` of its `.github` repository.
    pub fn organisation_defaults() -> ExtendsTarget {
        ExtendsTarget {
            owner: None,
            repository: ORGANISATION_REPOSITORY.to_string(),
            path: DEFAULT_PATH.to_string(),
        }
    }
}

/// One settings file, read and checked, not yet merged.
#[derive(Debug)]
pub struct Layer {
    source_name: String,
    raw: RawLayer,
    extends: Option<ExtendsTarget>,
}

impl Layer {
    /// The file `source_name` with text `text`; every refusal names the file.
    pub fn parse(source_name: &str, text: &str) -> Result<Layer, ConfigError> {
        let invalid = |message: String| ConfigError::Invalid {
            source_name: source_name.to_string(),
            message,
        };
        if text.len() > MAX_CONFIG_BYTES {
            return Err(ConfigError::too_large(source_name, text.len() as u64));
        }
        let raw = if text.trim().is_empty() {
            RawLayer::default()
        } else {
            if let Some(line) = flow_depth_exceeded(text, MAX_FLOW_DEPTH) {
                return Err(invalid(format!(
                    "line {line}: lists and maps in brackets nest deeper than {MAX_FLOW_DEPTH}"
                )));
            }
            // An empty document (only comments) reads as no keys.
            serde_yaml::from_str::<Option<RawLayer>>(text)
                .map_err(|e| invalid(e.to_string()))?
                .unwrap_or_default()
        };
        if let Some(t) = raw.thresholds {
            check_thresholds(t.elevated, t.high).map_err(invalid)?;
        }
        if raw
            .skip_label
            .as_deref()
            .is_some_and(|l| l.trim().is_empty())
        {
            return Err(invalid("skip_label must not be empty".to_string()));
        }
        if raw
            .skip_label
            .as_deref()
            .is_some_and(|l| l.len() > MAX_ENTRY_BYTES)
        {
            return Err(invalid(format!(
                "skip_label is longer than {MAX_ENTRY_BYTES} bytes"
            )));
        }
        if let Some(c) = &raw.coverage {
            if c.artifact.trim().is_empty() || c.paths.is_empty() {
                return Err(invalid(
                    "coverage needs an artifact name and at least one report path".to_string(),
                ));
            }
        }
        for rule in raw.paths.iter().flatten() {
            rule.check().map_err(invalid)?;
        }
        let extends = match raw.extends.as_deref() {
            Some(value) => Some(ExtendsTarget::parse(value.trim()).map_err(invalid)?),
            None => None,
        };
        Ok(Layer {
            source_name: source_name.to_string(),
            raw,
            extends,
        })
    }

    /// The file this one is laid over, if it says `_extends`.
    pub fn extends(&self) -> Option<&ExtendsTarget> {
        self.extends.as_ref()
    }

    pub fn source_name(&self) -> &str {
        &self.source_name
    }

    /// Lays this file's keys over `config`.
    pub(super) fn apply_to(&self, config: &mut RepoConfig) -> Result<(), ConfigError> {
        let raw = &self.raw;
        if let Some(list) = &raw.sensitive_paths {
            // Joined with the base's, each glob once.
            let mut seen: std::collections::HashSet<String> =
                config.sensitive_paths.iter().cloned().collect();
            for glob in list {
                if seen.insert(glob.clone()) {
                    config.sensitive_paths.push(glob.clone());
                }
            }
        }
        if raw.thresholds.is_some() {
            config.thresholds = raw.thresholds;
        }
        if let Some(v) = raw.high_risk {
            config.high_risk = v;
        }
        if let Some(v) = raw.mode {
            config.mode = v;
        }
        if let Some(c) = &raw.comment {
            if let Some(when) = c.when {
                config.comment = when;
            }
            if let Some(behavior) = c.behavior {
                config.comment_behavior = behavior;
            }
        }
        if let Some(v) = &raw.skip_label {
            config.skip_label = v.clone();
        }
        if let Some(v) = raw.score_drafts {
            config.score_drafts = v;
        }
        if raw.coverage.is_some() {
            config.coverage = raw.coverage.clone();
        }
        for rule in raw.paths.iter().flatten() {
            match config.paths.iter_mut().find(|r| r.glob == rule.glob) {
                Some(existing) => *existing = rule.clone(),
                None => config.paths.push(rule.clone()),
            }
        }
        if config.paths.len() > super::MAX_LIST_ENTRIES {
            return Err(ConfigError::Invalid {
                source_name: self.source_name.clone(),
                message: format!(
                    "paths: more than {} rules with the file it extends",
                    super::MAX_LIST_ENTRIES
                ),
            });
        }
        Ok(())
    }
}

/// `0 < elevated <= high < 1`.
pub(super) fn check_thresholds(elevated: f64, high: f64) -> Result<(), String> {
    if elevated > 0.0 && elevated <= high && high < 1.0 {
        Ok(())
    } else {
        Err(format!(
            "thresholds must satisfy 0 < elevated <= high < 1 (got elevated {elevated} and high {high})"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ORG: &str = "Codertocat/.github:.github/riskgate.yml";
    const OWN: &str = ".github/riskgate.yml";

    fn layer(name: &str, text: &str) -> Layer {
        Layer::parse(name, text).unwrap()
    }

    #[test]
    fn a_repository_without_a_file_takes_the_organisations() {
        let org = layer(
            ORG,
            "thresholds: {elevated: 0.1, high: 0.3}\nmode: advisory\n",
        );
        let c = RepoConfig::from_layers(Some(&org), None).unwrap();
        assert_eq!(c.thresholds.unwrap().high, 0.3);
        assert_eq!(c.mode, Mode::Advisory);
        assert!(!c.blocks_on_high_risk());
    }

    #[test]
    fn a_file_without_extends_stands_alone() {
        let org = layer(ORG, "mode: advisory\nsensitive_paths: ['infra/**']\n");
        let own = layer(OWN, "score_drafts: true\n");
        let c = RepoConfig::from_layers(Some(&org), Some(&own)).unwrap();
        assert_eq!(c.mode, Mode::Gate);
        assert!(c.sensitive_paths.is_empty());
        assert!(c.score_drafts);
    }

    #[test]
    fn an_extending_file_is_laid_over_the_organisations_key_by_key() {
        let org = layer(
            ORG,
            "mode: advisory\nsensitive_paths: ['infra/**']\ncomment: {when: high, behavior: once}\n\
             paths: {'services/payments/**': {high: 0.2}, 'docs/**': {high: 0.9}}\n",
        );
        let own = layer(
            OWN,
            "_extends: .github\nsensitive_paths: ['db/**', 'infra/**']\ncomment: always\n\
             paths: {'docs/**': {high: 0.8}, 'api/**': {sensitive: true}}\n",
        );
        assert_eq!(own.extends(), Some(&ExtendsTarget::organisation_defaults()));
        let c = RepoConfig::from_layers(Some(&org), Some(&own)).unwrap();
        assert_eq!(c.mode, Mode::Advisory, "kept from the organisation");
        assert_eq!(
            c.sensitive_paths,
            ["infra/**", "db/**"],
            "lists joined once"
        );
        assert_eq!(
            c.comment,
            CommentPolicy::Always,
            "the repository's key wins"
        );
        assert_eq!(c.comment_behavior, CommentBehavior::Once, "the other stays");
        let globs: Vec<(&str, Option<f64>)> =
            c.paths.iter().map(|r| (r.glob.as_str(), r.high)).collect();
        assert_eq!(
            globs,
            [
                ("services/payments/**", Some(0.2)),
                ("docs/**", Some(0.8)),
                ("api/**", None)
            ]
        );
    }

    #[test]
    fn extends_targets() {
        let t = |v: &str| ExtendsTarget::parse(v);
        assert_eq!(
            t("other-repo").unwrap().full_name("acme"),
            "acme/other-repo"
        );
        let x = t("acme-platform/settings:riskgate/base.yml").unwrap();
        assert_eq!(x.full_name("acme"), "acme-platform/settings");
        assert_eq!(x.path, "riskgate/base.yml");
        for bad in [
            "",
            "..",
            "a/b/c",
            "acme/../x",
            "repo:../../etc/passwd",
            "repo:/etc/passwd",
            "repo:a//b",
            "-/x y",
            "repo:a b.yml",
        ] {
            assert!(t(bad).is_err(), "{bad:?} accepted");
        }
        let err = Layer::parse(OWN, "_extends: 'repo:../x'\n")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with(".github/riskgate.yml: _extends:"), "{err}");
    }

    #[test]
    fn comment_settings_read_both_forms_and_name_what_is_wrong() {
        let c = RepoConfig::parse(OWN, "comment: high\n").unwrap();
        assert_eq!(
            (c.comment, c.comment_behavior),
            (CommentPolicy::High, CommentBehavior::Update)
        );
        let c = RepoConfig::parse(OWN, "comment: {behavior: new}\n").unwrap();
        assert_eq!(
            (c.comment, c.comment_behavior),
            (CommentPolicy::Elevated, CommentBehavior::New)
        );
        let err = RepoConfig::parse(OWN, "comment: {when: high, how: new}\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("how"), "{err}");
        let err = RepoConfig::parse(OWN, "comment: {behavior: twice}\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("twice"), "{err}");
        let err = RepoConfig::parse(OWN, "mode: trial\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("trial"), "{err}");
    }

    #[test]
    fn errors_name_the_organisations_file() {
        let err = Layer::parse(ORG, "thresholds: {elevated: 0.5, high: 0.1}\n")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with(ORG), "{err}");
    }
}

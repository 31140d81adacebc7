//! A repository's own settings, `.github/riskgate.yml`, read at the base revision so a change
//! cannot lower its own bar, optionally on top of its organisation's defaults. Pure: parses
//! text and merges layers; fetching the files is the caller's.
//!
//! The file is written by whoever can push to the repository, so it is read within limits
//! (see [`limits`]): its size, how deep flow collections nest, and how long lists and their
//! entries may be. The last two stop YAML aliases from multiplying a short file into a large
//! value (an anchored long glob aliased many times, "billion laughs").
//!
//! Layers follow Probot's convention: a repository without the file takes the one in its
//! organisation's `.github` repository; a repository's file stands alone unless it says
//! `_extends: .github` (or another repository), and then its keys are laid over that file's
//! (see [`layers`]).

mod layers;
mod limits;
mod paths;

use serde::Deserialize;

pub use layers::{ExtendsTarget, Layer, ORGANISATION_REPOSITORY};
pub use paths::{AppliedPathRule, PathRule};

use limits::bounded_list;

/// The largest `.github/riskgate.yml` read, in bytes.
pub const MAX_CONFIG_BYTES: usize = 64 * 1024;
/// How deep flow collections (`[…]`, `{…}`) may nest, counted outside quoted strings.
pub const MAX_FLOW_DEPTH: usize = 128;
/// Most entries of a list (`sensitive_paths`, `coverage.paths`, `paths`), aliases counted as
/// entries.
pub const MAX_LIST_ENTRIES: usize = 1_000;
/// Longest list entry, in bytes.
pub const MAX_ENTRY_BYTES: usize = 1024;

/// The settings that apply to one repository, every layer merged.
#[derive(Debug, Clone, PartialEq)]
pub struct RepoConfig {
    /// Globs of paths that count as sensitive, beside the built-in migrations and manifests.
    pub sensitive_paths: Vec<String>,
    /// Override the model's band thresholds for this repository.
    pub thresholds: Option<ThresholdConfig>,
    /// What a high-risk check concludes: `failure` blocks a required check, `neutral` advises.
    pub high_risk: HighRisk,
    /// `advisory`: the check never concludes `failure`, whatever `high_risk` says (a trial).
    pub mode: Mode,
    /// When the sticky comment is posted.
    pub comment: CommentPolicy,
    /// How it is posted: edited in place, a new one each time, or only ever once.
    pub comment_behavior: CommentBehavior,
    /// A PR carrying this label is not scored; its check says `skipped`.
    pub skip_label: String,
    /// Score draft pull requests too.
    pub score_drafts: bool,
    pub coverage: Option<CoverageConfig>,
    /// Per-path thresholds and sensitive paths, in the order written (`paths:`).
    pub paths: Vec<PathRule>,
}

impl Default for RepoConfig {
    fn default() -> Self {
        RepoConfig {
            sensitive_paths: Vec::new(),
            thresholds: None,
            high_risk: HighRisk::default(),
            mode: Mode::default(),
            comment: CommentPolicy::default(),
            comment_behavior: CommentBehavior::default(),
            skip_label: default_skip_label(),
            score_drafts: false,
            coverage: None,
            paths: Vec::new(),
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

/// `gate` (the default) lets a high risk block the merge as `high_risk` says; `advisory`
/// never does.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    #[default]
    Gate,
    Advisory,
}

/// The least band that gets a comment (`never`: none; `always`: every band).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CommentPolicy {
    Never,
    #[default]
    Elevated,
    High,
    Always,
}

/// `update` edits riskgate's one comment in place, and only when the advice (the band)
/// changes; `new` posts a new comment whenever the comment's text would change; `once` posts
/// one comment on a PR and never touches it again.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CommentBehavior {
    #[default]
    Update,
    New,
    Once,
}

/// Coverage from a CI artifact: the workflow run's artifact `artifact`, and the report files
/// inside it (lcov or Cobertura XML) to read.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CoverageConfig {
    pub artifact: String,
    #[serde(default = "default_report_paths", deserialize_with = "bounded_list")]
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

#[derive(Debug, Clone, thiserror::Error)]
pub enum ConfigError {
    #[error("{source_name}: {message}")]
    Invalid {
        source_name: String,
        message: String,
    },
}

impl ConfigError {
    /// The refusal of the file `source_name` of `bytes` bytes, more than is read.
    pub fn too_large(source_name: &str, bytes: u64) -> ConfigError {
        ConfigError::Invalid {
            source_name: source_name.to_string(),
            message: format!(
                "the file is {bytes} bytes; at most {MAX_CONFIG_BYTES} (64 KiB) are read"
            ),
        }
    }
}

impl RepoConfig {
    /// Settings from the text of one file `source_name`, on nothing else; every refusal names
    /// the file and what is wrong with it. An `_extends` key is read and not followed (see
    /// [`Layer`] and [`RepoConfig::from_layers`] for that).
    pub fn parse(source_name: &str, text: &str) -> Result<RepoConfig, ConfigError> {
        RepoConfig::from_layers(None, Some(&Layer::parse(source_name, text)?))
    }

    /// The settings of a repository from its organisation's file (`base`, used when the
    /// repository has no file or its file extends it) and its own (`own`), as Probot merges
    /// them: the repository's keys win one by one, lists are joined, path rules are joined
    /// with the repository's replacing the base's for the same glob.
    pub fn from_layers(
        base: Option<&Layer>,
        own: Option<&Layer>,
    ) -> Result<RepoConfig, ConfigError> {
        let layers: Vec<&Layer> = match (base, own) {
            (Some(base), Some(own)) if own.extends().is_some() => vec![base, own],
            (_, Some(own)) => vec![own],
            (Some(base), None) => vec![base],
            (None, None) => vec![],
        };
        let mut config = RepoConfig::default();
        for layer in layers {
            layer.apply_to(&mut config)?;
        }
        Ok(config)
    }

    /// Whether a high risk concludes the check as `failure` (blocking a required check).
    pub fn blocks_on_high_risk(&self) -> bool {
        self.high_risk_conclusion() == HighRisk::Failure
    }

    /// What a high risk concludes: `high_risk`, except that advisory mode never blocks.
    pub fn high_risk_conclusion(&self) -> HighRisk {
        match self.mode {
            Mode::Gate => self.high_risk,
            Mode::Advisory => HighRisk::Neutral,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::limits::flow_depth_exceeded;
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

    const NAME: &str = ".github/riskgate.yml";

    fn refusal(text: &str) -> String {
        let err = RepoConfig::parse(NAME, text).unwrap_err().to_string();
        assert!(err.starts_with(".github/riskgate.yml: "), "{err}");
        err
    }

    #[test]
    fn list_entries_may_be_strings_of_any_scalar() {
        let c = RepoConfig::parse(NAME, "sensitive_paths: [123, true, 'a']\n").unwrap();
        assert_eq!(c.sensitive_paths, ["123", "true", "a"]);
        let c = RepoConfig::parse(
            NAME,
            "sensitive_paths:\ncoverage: {artifact: c, paths: [7]}\n",
        )
        .unwrap();
        assert!(c.sensitive_paths.is_empty());
        assert_eq!(c.coverage.unwrap().paths, ["7"]);
        assert!(refusal("sensitive_paths: [[a]]").contains("sensitive_paths"));
        assert!(refusal("sensitive_paths: a").contains("sensitive_paths"));
    }

    #[test]
    fn a_few_aliases_still_read() {
        let c = RepoConfig::parse(
            NAME,
            "sensitive_paths: [&g 'src/payments/**', *g, *g]\ncoverage: {artifact: *g}\n",
        )
        .unwrap();
        // Read three times, kept once.
        assert_eq!(c.sensitive_paths, ["src/payments/**"]);
        assert_eq!(c.coverage.unwrap().artifact, "src/payments/**");
        // The limits themselves are allowed.
        let long = "a".repeat(MAX_ENTRY_BYTES);
        let text = format!(
            "sensitive_paths: [&g '{long}'{}]\n",
            ", *g".repeat(MAX_LIST_ENTRIES - 1)
        );
        let c = RepoConfig::parse(NAME, &text).unwrap();
        assert_eq!(c.sensitive_paths, [long]);
    }

    #[test]
    fn alias_of_a_long_glob_refused() {
        let long = format!("src/{}/**", "a".repeat(2000));
        let text = format!("coverage:\n  artifact: &g '{long}'\nsensitive_paths: [*g]\n");
        let err = refusal(&text);
        assert!(
            err.contains("sensitive_paths[0]")
                && err.contains("2007 bytes")
                && err.contains("1024"),
            "{err}"
        );
        let err = refusal(&format!("coverage: {{artifact: x, paths: ['{long}']}}\n"));
        assert!(err.contains("coverage.paths[0]"), "{err}");
    }

    #[test]
    fn many_aliases_of_a_glob_refused() {
        let glob = format!("src/{}/**", "a".repeat(1000));
        let text = format!(
            "sensitive_paths: [&g '{glob}'{}]\n",
            ", *g".repeat(MAX_LIST_ENTRIES)
        );
        assert!(text.len() < MAX_CONFIG_BYTES);
        let err = refusal(&text);
        assert!(
            err.contains("sensitive_paths") && err.contains("more than 1000 entries"),
            "{err}"
        );
        // Written out rather than aliased, the same list is refused the same way.
        let text = format!("sensitive_paths:\n{}", "- x\n".repeat(MAX_LIST_ENTRIES + 1));
        assert!(refusal(&text).contains("more than 1000 entries"));
    }

    #[test]
    fn billion_laughs_refused() {
        let mut text = String::from("a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
        for (name, prev) in ["b", "c", "d", "e", "f", "g", "h", "i"]
            .iter()
            .zip("abcdefgh".chars())
        {
            let row = vec![format!("*{prev}"); 9].join(", ");
            text.push_str(&format!("{name}: &{name} [{row}]\n"));
        }
        text.push_str("sensitive_paths: *i\n");
        refusal(&text);
        // Within fields riskgate knows: a list where an entry belongs.
        let mut text = String::from("sensitive_paths: &a [lol, lol, lol, lol, lol, lol, lol]\n");
        text.push_str(&format!(
            "coverage: {{artifact: x, paths: [{}]}}\n",
            ["*a"; 9].join(", ")
        ));
        assert!(refusal(&text).contains("coverage.paths[0]"));
    }

    #[test]
    fn deep_nesting_refused() {
        let deep = format!("sensitive_paths: {}{}\n", "[".repeat(129), "]".repeat(129));
        let err = refusal(&format!("# settings\n{deep}"));
        assert!(
            err.contains("line 2") && err.contains("deeper than 128"),
            "{err}"
        );
        let err = refusal(&format!("thresholds: {}", "{a: ".repeat(10_000)));
        assert!(err.contains("deeper than 128"), "{err}");
        assert_eq!(flow_depth_exceeded(&"[".repeat(128), 128), None);
        assert_eq!(flow_depth_exceeded(&"[".repeat(129), 128), Some(1));
        // Closing brackets make room again.
        assert_eq!(flow_depth_exceeded(&"[[]]".repeat(1000), 2), None);
    }

    #[test]
    fn nesting_counted_outside_quotes_only() {
        let brackets = "[{".repeat(200);
        let text = format!(
            "# {brackets}\nskip_label: '{brackets}'\nsensitive_paths: [\"{brackets}\", 'it''s {brackets}', \"\\\" {brackets}\"]\n"
        );
        let c = RepoConfig::parse(NAME, &text).unwrap();
        assert_eq!(c.skip_label, brackets);
        assert_eq!(c.sensitive_paths.len(), 3);
        // A quote inside a plain scalar opens nothing: the brackets after it count.
        let text = format!(
            "skip_label: don't\nsensitive_paths: {}{}",
            "[".repeat(129),
            "]".repeat(129)
        );
        assert!(refusal(&text).contains("line 2"));
        assert_eq!(
            flow_depth_exceeded(&format!("a: b#{}", "[".repeat(129)), 128),
            Some(1)
        );
    }

    #[test]
    fn oversized_file_refused() {
        let text = format!("skip_label: x\n{}", "#".repeat(MAX_CONFIG_BYTES));
        let err = refusal(&text);
        assert!(
            err.contains("65550 bytes") && err.contains("64 KiB"),
            "{err}"
        );
        let text = format!("skip_label: x\n{}", "#".repeat(MAX_CONFIG_BYTES - 14));
        assert_eq!(text.len(), MAX_CONFIG_BYTES);
        assert_eq!(RepoConfig::parse(NAME, &text).unwrap().skip_label, "x");
        // Blank but large is still too large.
        refusal(&" ".repeat(MAX_CONFIG_BYTES + 1));
    }
}

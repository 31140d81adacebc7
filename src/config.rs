//! A repository's own settings, `.github/riskgate.yml`, read at the base revision so a change
//! cannot lower its own bar. Pure: parses text.
//!
//! The file is written by whoever can push to the repository, so it is read within limits:
//! its size, how deep flow collections nest, and how long lists and their entries may be. The
//! last two stop YAML aliases from multiplying a short file into a large value (an anchored
//! long glob aliased many times, "billion laughs").

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::Deserialize;

/// The largest `.github/riskgate.yml` read, in bytes.
pub const MAX_CONFIG_BYTES: usize = 64 * 1024;
/// How deep flow collections (`[…]`, `{…}`) may nest, counted outside quoted strings.
pub const MAX_FLOW_DEPTH: usize = 128;
/// Most entries of a list (`sensitive_paths`, `coverage.paths`), aliases counted as entries.
pub const MAX_LIST_ENTRIES: usize = 1_000;
/// Longest list entry, in bytes.
pub const MAX_ENTRY_BYTES: usize = 1024;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RepoConfig {
    /// Globs of paths that count as sensitive, beside the built-in migrations and manifests.
    #[serde(default, deserialize_with = "bounded_list")]
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

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{source_name}: {message}")]
    Invalid {
        source_name: String,
        message: String,
    },
}

/// A list of strings of at most [`MAX_LIST_ENTRIES`] entries of at most [`MAX_ENTRY_BYTES`]
/// each, refused as soon as it grows past either, before an alias can repeat a value further.
fn bounded_list<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    struct List;
    impl<'de> Visitor<'de> for List {
        type Value = Vec<String>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a list of strings")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<String>, A::Error> {
            let mut out = Vec::new();
            while let Some(BoundedString(entry)) = seq.next_element()? {
                if out.len() == MAX_LIST_ENTRIES {
                    return Err(de::Error::custom(format!(
                        "more than {MAX_LIST_ENTRIES} entries (aliases count as entries)"
                    )));
                }
                out.push(entry);
            }
            Ok(out)
        }
    }
    deserializer.deserialize_seq(List)
}

/// A string of at most [`MAX_ENTRY_BYTES`], refused before it is copied.
struct BoundedString(String);

impl<'de> Deserialize<'de> for BoundedString {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Entry;
        impl Visitor<'_> for Entry {
            type Value = BoundedString;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<BoundedString, E> {
                if v.len() > MAX_ENTRY_BYTES {
                    return Err(E::custom(format!(
                        "an entry of {} bytes, longer than the {MAX_ENTRY_BYTES} allowed",
                        v.len()
                    )));
                }
                Ok(BoundedString(v.to_string()))
            }
        }
        deserializer.deserialize_string(Entry)
    }
}

/// The line on which flow collections (`[…]`, `{…}`) first nest deeper than `limit`. Brackets
/// inside quoted strings and comments do not count; a quote opens a string only where a
/// scalar can start (after a space, a line break, `[`, `{`, `,` or `:`), not inside a plain
/// scalar such as `don't`.
fn flow_depth_exceeded(text: &str, limit: usize) -> Option<usize> {
    enum In {
        Plain,
        Single,
        Double { escaped: bool },
        Comment,
    }
    let mut state = In::Plain;
    let (mut depth, mut line) = (0usize, 1usize);
    let mut prev = b'\n';
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'\n' {
            line += 1;
        }
        match &mut state {
            In::Comment => {
                if b == b'\n' {
                    state = In::Plain;
                }
            }
            In::Single => {
                if b == b'\'' {
                    if bytes.get(i + 1) == Some(&b'\'') {
                        i += 1; // '' is a quote inside the string
                    } else {
                        state = In::Plain;
                    }
                }
            }
            In::Double { escaped } => {
                if *escaped {
                    *escaped = false;
                } else if b == b'\\' {
                    *escaped = true;
                } else if b == b'"' {
                    state = In::Plain;
                }
            }
            In::Plain => {
                let scalar_may_start = prev.is_ascii_whitespace() || b"[{,:".contains(&prev);
                match b {
                    b'\'' if scalar_may_start => state = In::Single,
                    b'"' if scalar_may_start => state = In::Double { escaped: false },
                    b'#' if prev.is_ascii_whitespace() => state = In::Comment,
                    b'[' | b'{' => {
                        depth += 1;
                        if depth > limit {
                            return Some(line);
                        }
                    }
                    b']' | b'}' => depth = depth.saturating_sub(1),
                    _ => {}
                }
            }
        }
        prev = b;
        i += 1;
    }
    None
}

impl RepoConfig {
    /// Settings from the text of `source_name`; every refusal names the file and what is
    /// wrong with it.
    pub fn parse(source_name: &str, text: &str) -> Result<RepoConfig, ConfigError> {
        let invalid = |message: String| ConfigError::Invalid {
            source_name: source_name.to_string(),
            message,
        };
        if text.len() > MAX_CONFIG_BYTES {
            return Err(invalid(format!(
                "the file is {} bytes; at most {MAX_CONFIG_BYTES} (64 KiB) are read",
                text.len()
            )));
        }
        if text.trim().is_empty() {
            return Ok(RepoConfig::default());
        }
        if let Some(line) = flow_depth_exceeded(text, MAX_FLOW_DEPTH) {
            return Err(invalid(format!(
                "line {line}: lists and maps in brackets nest deeper than {MAX_FLOW_DEPTH}"
            )));
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
        assert_eq!(c.sensitive_paths, vec!["src/payments/**"; 3]);
        assert_eq!(c.coverage.unwrap().artifact, "src/payments/**");
        // The limits themselves are allowed.
        let long = "a".repeat(MAX_ENTRY_BYTES);
        let text = format!(
            "sensitive_paths: [&g '{long}'{}]\n",
            ", *g".repeat(MAX_LIST_ENTRIES - 1)
        );
        let c = RepoConfig::parse(NAME, &text).unwrap();
        assert_eq!(c.sensitive_paths.len(), MAX_LIST_ENTRIES);
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
            vec!["*a"; 9].join(", ")
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

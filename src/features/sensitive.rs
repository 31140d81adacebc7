//! Sensitive paths: migrations, dependency manifests and lockfiles, and paths a repository lists.

use globset::{Glob, GlobSet, GlobSetBuilder};
use serde::Serialize;

/// Why a touched path counts as sensitive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SensitiveReason {
    Migration,
    Dependencies,
    Configured,
}

impl SensitiveReason {
    pub fn describe(self) -> &'static str {
        match self {
            SensitiveReason::Migration => "database migration",
            SensitiveReason::Dependencies => "dependency manifest or lockfile",
            SensitiveReason::Configured => "marked sensitive by the repository",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SensitiveHit {
    pub path: String,
    pub reason: SensitiveReason,
}

const MIGRATIONS: &[&str] = &[
    "**/migrations/**",
    "**/migrate/**",
    "**/migration/**",
    "**/alembic/versions/**",
    "**/flyway/**",
    "**/liquibase/**",
    "**/db/changelog/**",
    "**/schema.rb",
    "**/structure.sql",
];

const DEPENDENCIES: &[&str] = &[
    "**/Cargo.toml",
    "**/Cargo.lock",
    "**/package.json",
    "**/package-lock.json",
    "**/npm-shrinkwrap.json",
    "**/yarn.lock",
    "**/pnpm-lock.yaml",
    "**/bun.lockb",
    "**/go.mod",
    "**/go.sum",
    "**/requirements*.txt",
    "**/constraints*.txt",
    "**/Pipfile",
    "**/Pipfile.lock",
    "**/poetry.lock",
    "**/uv.lock",
    "**/pyproject.toml",
    "**/setup.py",
    "**/setup.cfg",
    "**/Gemfile",
    "**/Gemfile.lock",
    "**/*.gemspec",
    "**/pom.xml",
    "**/build.gradle",
    "**/build.gradle.kts",
    "**/gradle.lockfile",
    "**/composer.json",
    "**/composer.lock",
    "**/*.csproj",
    "**/packages.lock.json",
    "**/Directory.Packages.props",
    "**/mix.exs",
    "**/mix.lock",
    "**/Package.swift",
    "**/Package.resolved",
    "**/Podfile.lock",
    "**/pubspec.yaml",
    "**/pubspec.lock",
    "**/flake.lock",
];

#[derive(Debug, thiserror::Error)]
#[error("sensitive path pattern `{pattern}` is not a valid glob: {reason}")]
pub struct PatternError {
    pub pattern: String,
    pub reason: String,
}

/// Matches paths against the built-in and configured patterns.
#[derive(Debug, Clone)]
pub struct SensitivePaths {
    migrations: GlobSet,
    dependencies: GlobSet,
    configured: GlobSet,
}

fn build(patterns: &[&str]) -> Result<GlobSet, PatternError> {
    let mut builder = GlobSetBuilder::new();
    for p in patterns {
        let glob = Glob::new(p).map_err(|e| PatternError {
            pattern: p.to_string(),
            reason: e.kind().to_string(),
        })?;
        builder.add(glob);
    }
    builder.build().map_err(|e| PatternError {
        pattern: patterns.join(", "),
        reason: e.to_string(),
    })
}

impl SensitivePaths {
    /// `configured`: the repository's own globs (`sensitive_paths` in `.github/riskgate.yml`).
    /// A pattern without a `/` matches a file name anywhere, as in `.gitignore`.
    pub fn new(configured: &[String]) -> Result<SensitivePaths, PatternError> {
        let configured: Vec<String> = configured
            .iter()
            .map(|p| {
                let p = p.trim_start_matches("./");
                if p.contains('/') {
                    p.trim_start_matches('/').to_string()
                } else {
                    format!("**/{p}")
                }
            })
            .collect();
        let configured: Vec<&str> = configured.iter().map(String::as_str).collect();
        Ok(SensitivePaths {
            migrations: build(MIGRATIONS).expect("built-in patterns are valid"),
            dependencies: build(DEPENDENCIES).expect("built-in patterns are valid"),
            configured: build(&configured)?,
        })
    }

    pub fn classify(&self, path: &str) -> Option<SensitiveReason> {
        if self.configured.is_match(path) {
            Some(SensitiveReason::Configured)
        } else if self.migrations.is_match(path) {
            Some(SensitiveReason::Migration)
        } else if self.dependencies.is_match(path) {
            Some(SensitiveReason::Dependencies)
        } else {
            None
        }
    }

    pub fn hits<'a>(&self, paths: impl IntoIterator<Item = &'a str>) -> Vec<SensitiveHit> {
        paths
            .into_iter()
            .filter_map(|p| {
                self.classify(p).map(|reason| SensitiveHit {
                    path: p.to_string(),
                    reason,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_and_configured_patterns() {
        let s = SensitivePaths::new(&["src/payments/**".into(), "secrets.toml".into()]).unwrap();
        assert_eq!(
            s.classify("db/migrations/0001_init.sql"),
            Some(SensitiveReason::Migration)
        );
        assert_eq!(
            s.classify("Cargo.lock"),
            Some(SensitiveReason::Dependencies)
        );
        assert_eq!(
            s.classify("web/package.json"),
            Some(SensitiveReason::Dependencies)
        );
        assert_eq!(
            s.classify("requirements-dev.txt"),
            Some(SensitiveReason::Dependencies)
        );
        assert_eq!(
            s.classify("src/payments/charge.rs"),
            Some(SensitiveReason::Configured)
        );
        assert_eq!(
            s.classify("config/secrets.toml"),
            Some(SensitiveReason::Configured)
        );
        assert_eq!(s.classify("src/main.rs"), None);
        assert_eq!(s.classify("docs/migrating.md"), None);
    }

    #[test]
    fn bad_pattern_is_named() {
        let err = SensitivePaths::new(&["src/[oops".into()]).unwrap_err();
        assert!(err.to_string().contains("src/[oops"), "{err}");
    }
}

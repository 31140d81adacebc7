//! Bare mirrors of the repositories the App scores, one per repository in the data dir.
//!
//! Fetching goes through the `git` command (it speaks every transport and TLS); reading stays
//! with git2. The installation token travels in an HTTP header set through git's environment
//! configuration, so it is never written to disk, to a command line, or to a log.

use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine as _;

#[derive(Debug, thiserror::Error)]
pub enum MirrorError {
    #[error("repository name `{0}` is not owner/name")]
    BadName(String),
    #[error("preparing the mirror at {path}: {reason}")]
    Io { path: String, reason: String },
    #[error("fetching {repository}: {reason}")]
    Fetch { repository: String, reason: String },
}

#[derive(Debug, Clone)]
pub struct Mirrors {
    root: PathBuf,
}

fn safe_component(s: &str) -> bool {
    !s.is_empty()
        && s != "."
        && s != ".."
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

impl Mirrors {
    pub fn new(data_dir: &Path) -> Mirrors {
        Mirrors {
            root: data_dir.join("mirrors"),
        }
    }

    pub fn path_for(&self, full_name: &str) -> Result<PathBuf, MirrorError> {
        match full_name.split_once('/') {
            Some((owner, name)) if safe_component(owner) && safe_component(name) => {
                Ok(self.root.join(owner).join(format!("{name}.git")))
            }
            _ => Err(MirrorError::BadName(full_name.to_string())),
        }
    }

    /// Fetch `refspecs` from `clone_url` into the mirror of `full_name` (created on first use).
    /// Blocking: run it off the async runtime.
    pub fn fetch(
        &self,
        full_name: &str,
        clone_url: &str,
        token: Option<&str>,
        refspecs: &[String],
    ) -> Result<PathBuf, MirrorError> {
        let path = self.path_for(full_name)?;
        if !path.join("HEAD").exists() {
            std::fs::create_dir_all(&path).map_err(|e| MirrorError::Io {
                path: path.display().to_string(),
                reason: e.to_string(),
            })?;
            git2::Repository::init_bare(&path).map_err(|e| MirrorError::Io {
                path: path.display().to_string(),
                reason: e.message().to_string(),
            })?;
        }
        let mut cmd = Command::new("git");
        cmd.arg("-C")
            .arg(&path)
            .args([
                "fetch",
                "--quiet",
                "--no-tags",
                "--force",
                "--no-write-fetch-head",
            ])
            .arg(clone_url)
            .args(refspecs)
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env_remove("GIT_DIR");
        if let Some(token) = token {
            let basic =
                base64::engine::general_purpose::STANDARD.encode(format!("x-access-token:{token}"));
            cmd.env("GIT_CONFIG_COUNT", "1")
                .env("GIT_CONFIG_KEY_0", "http.extraHeader")
                .env(
                    "GIT_CONFIG_VALUE_0",
                    format!("Authorization: Basic {basic}"),
                );
        }
        let out = cmd.output().map_err(|e| MirrorError::Fetch {
            repository: full_name.to_string(),
            reason: format!("running git: {e}"),
        })?;
        if !out.status.success() {
            let mut reason = String::from_utf8_lossy(&out.stderr).trim().to_string();
            if let Some(token) = token {
                reason = reason.replace(token, "***");
            }
            return Err(MirrorError::Fetch {
                repository: full_name.to_string(),
                reason,
            });
        }
        Ok(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        let m = Mirrors::new(Path::new("/data"));
        assert_eq!(
            m.path_for("octo/app").unwrap(),
            PathBuf::from("/data/mirrors/octo/app.git")
        );
        for bad in ["octo", "../x", "octo/..", "a/b/c", "octo/ap p", ""] {
            assert!(m.path_for(bad).is_err(), "{bad}");
        }
    }
}

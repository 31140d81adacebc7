//! The GitHub REST calls the worker makes, on octocrab's raw request methods so that status
//! codes and rate-limit headers stay visible. Every call authenticates as one installation.
//!
//! Faults: 5xx answers and transport errors (connection refused, timeouts) are retried with
//! exponential backoff and full jitter; a 403/429 that says "rate limit" waits for
//! `retry-after` or `x-ratelimit-reset` and is retried; any other 4xx fails at once with
//! GitHub's message.
//!
//! The transport (retries, rate limits, answer size limits) is in `transport`; each group of
//! endpoints has its own file, all methods of [`GitHubApi`].

mod actions;
mod app;
mod checks;
mod issues;
mod pulls;
mod repos;
mod transport;
mod types;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use octocrab::Octocrab;

use crate::github::auth::{AuthError, InstallationTokens};

pub use transport::RetryPolicy;
pub use types::{
    Annotation, Artifact, CheckAction, CheckRunId, CheckRunUpdate, IssueComment, PullRequestInfo,
    Review, ReviewComment,
};

/// GitHub accepts at most this many annotations in one check run request.
pub const ANNOTATIONS_PER_REQUEST: usize = 50;
/// Page size for list endpoints (GitHub's maximum).
pub const PER_PAGE: usize = 100;
/// Most pages of one list read: 3,000 items, as many files as GitHub lists of a pull request.
/// A list past it (thousands of comments, any of which anyone may write) is refused rather
/// than held.
pub const MAX_PAGES: usize = 30;
/// Largest JSON answer read into memory.
const MAX_JSON_BYTES: usize = 64 * 1024 * 1024;
/// Largest artifact archive downloaded (it is held in memory to be unzipped).
pub const MAX_ARTIFACT_BYTES: usize = 64 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum GitHubError {
    /// A 4xx that retrying will not fix (404, 422, a 403 that is not a rate limit, …).
    #[error("GitHub answered {status} to {route}: {message}")]
    Status {
        route: &'static str,
        status: u16,
        message: String,
    },
    /// Retryable faults persisted. `status` is None when the last attempt got no answer.
    #[error("GitHub call {route} failed {attempts} times; last: {} {message}", status.map(|s| s.to_string()).unwrap_or_else(|| "no answer".into()))]
    GaveUp {
        route: &'static str,
        status: Option<u16>,
        attempts: u32,
        message: String,
    },
    /// The answer was larger than riskgate reads; it was not read (nor retried).
    #[error("GitHub's answer to {route} is larger than {} MiB; riskgate does not read it", limit / (1024 * 1024))]
    TooLarge { route: &'static str, limit: usize },
    /// A list longer than [`MAX_PAGES`] pages; what was read is dropped.
    #[error("GitHub's list {route} runs past {} items; riskgate reads no more", MAX_PAGES * PER_PAGE)]
    TooManyPages { route: &'static str },
    #[error("GitHub's answer to {route} could not be read: {message}")]
    Decode {
        route: &'static str,
        message: String,
    },
    #[error("could not build a request: {0}")]
    Request(String),
    #[error(transparent)]
    Auth(#[from] AuthError),
}

impl GitHubError {
    /// The HTTP status GitHub answered with, if it answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            GitHubError::Status { status, .. } => Some(*status),
            GitHubError::GaveUp { status, .. } => *status,
            _ => None,
        }
    }
}

/// Called once per HTTP answer (status 0: no answer) with the kind of call, e.g.
/// `check_runs.create`; feeds `/metrics`.
pub type ApiCallCounter = Arc<dyn Fn(&str, u16) + Send + Sync>;

/// A repository as the API addresses it.
#[derive(Debug, Clone, Copy)]
pub struct RepoId<'a> {
    pub owner: &'a str,
    pub name: &'a str,
}

impl<'a> RepoId<'a> {
    pub fn new(owner: &'a str, name: &'a str) -> RepoId<'a> {
        RepoId { owner, name }
    }
    fn path(&self) -> String {
        format!("/repos/{}/{}", seg(self.owner), seg(self.name))
    }
}

/// Percent-encode one path segment (owners, repository and user names are normally plain).
fn seg(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

struct ApiInner {
    /// Requests to the API: relative paths, joined to the base URL by octocrab.
    octo: Octocrab,
    /// Requests to absolute URLs outside the API (artifact downloads after a redirect); never
    /// carries credentials.
    plain: Octocrab,
    tokens: InstallationTokens,
    retry: RetryPolicy,
    counter: Option<ApiCallCounter>,
    /// The login of the App's bot account, once learnt (it does not change while we run).
    bot_login: tokio::sync::OnceCell<String>,
}

/// The REST client. Cheap to clone.
#[derive(Clone)]
pub struct GitHubApi {
    inner: Arc<ApiInner>,
}

impl fmt::Debug for GitHubApi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GitHubApi")
            .field("tokens", &self.inner.tokens)
            .field("retry", &self.inner.retry)
            .finish()
    }
}

impl GitHubApi {
    /// `base_url`: `https://api.github.com`, a GitHub Enterprise Server's
    /// `https://HOST/api/v3`, or a test's fake.
    pub fn new(
        base_url: &str,
        tokens: InstallationTokens,
        retry: RetryPolicy,
    ) -> Result<GitHubApi, GitHubError> {
        let build = |base: Option<&str>| -> Result<Octocrab, GitHubError> {
            let mut b = Octocrab::builder()
                .set_connect_timeout(Some(Duration::from_secs(10)))
                .set_read_timeout(Some(Duration::from_secs(60)))
                .set_write_timeout(Some(Duration::from_secs(60)));
            if let Some(base) = base {
                b = b
                    .base_uri(base.trim_end_matches('/'))
                    .map_err(|e| GitHubError::Request(format!("bad base URL {base:?}: {e}")))?;
            }
            b.build()
                .map_err(|e| GitHubError::Request(format!("HTTP client: {e}")))
        };
        Ok(GitHubApi {
            inner: Arc::new(ApiInner {
                octo: build(Some(base_url))?,
                plain: build(None)?,
                tokens,
                retry: RetryPolicy {
                    max_attempts: retry.max_attempts.max(1),
                    ..retry
                },
                counter: None,
                bot_login: tokio::sync::OnceCell::new(),
            }),
        })
    }

    /// Report every answer to `counter` (for `/metrics`).
    pub fn with_counter(self, counter: ApiCallCounter) -> GitHubApi {
        let inner = Arc::try_unwrap(self.inner).unwrap_or_else(|arc| ApiInner {
            octo: arc.octo.clone(),
            plain: arc.plain.clone(),
            tokens: arc.tokens.clone(),
            retry: arc.retry.clone(),
            counter: arc.counter.clone(),
            bot_login: arc.bot_login.clone(),
        });
        GitHubApi {
            inner: Arc::new(ApiInner {
                counter: Some(counter),
                ..inner
            }),
        }
    }

    pub fn tokens(&self) -> &InstallationTokens {
        &self.inner.tokens
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_segments_are_encoded() {
        assert_eq!(seg("octo-org.x_y"), "octo-org.x_y");
        assert_eq!(seg("a/b c"), "a%2Fb%20c");
    }
}

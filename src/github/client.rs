//! The GitHub REST calls the worker makes, on octocrab's raw request methods so that status
//! codes and rate-limit headers stay visible. Every call authenticates as one installation.
//!
//! Faults: 5xx answers and transport errors (connection refused, timeouts) are retried with
//! exponential backoff and full jitter; a 403/429 that says "rate limit" waits for
//! `retry-after` or `x-ratelimit-reset` and is retried; any other 4xx fails at once with
//! GitHub's message.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use octocrab::Octocrab;
use rand::Rng;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::github::auth::{AuthError, InstallationTokens};
use crate::time::now_secs;

/// GitHub accepts at most this many annotations in one check run request.
pub const ANNOTATIONS_PER_REQUEST: usize = 50;
/// Page size for list endpoints (GitHub's maximum).
pub const PER_PAGE: usize = 100;
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

/// How often and how patiently to retry.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts in all, the first included; at least 1.
    pub max_attempts: u32,
    /// Backoff before retry k (k = 1, 2, …) is uniform in `0..=min(max_delay, base_delay·2^(k−1))`.
    pub base_delay: Duration,
    pub max_delay: Duration,
    /// The longest a rate limit is waited out in one go; a longer `retry-after` or reset is
    /// cut to this before retrying.
    pub max_rate_limit_wait: Duration,
}

impl Default for RetryPolicy {
    fn default() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 5,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
            max_rate_limit_wait: Duration::from_secs(120),
        }
    }
}

impl RetryPolicy {
    fn backoff(&self, retry: u32) -> Duration {
        let exp = self
            .base_delay
            .saturating_mul(2u32.saturating_pow(retry.saturating_sub(1)));
        let cap = exp.min(self.max_delay);
        let millis = cap.as_millis().min(u64::MAX as u128) as u64;
        Duration::from_millis(rand::rng().random_range(0..=millis))
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct CheckRunId(pub u64);

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Annotation {
    pub path: String,
    pub start_line: u32,
    pub end_line: u32,
    /// `notice`, `warning` or `failure`.
    pub annotation_level: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    pub message: String,
}

/// A button on the check run page (label ≤ 20, description ≤ 40, identifier ≤ 20 characters).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckAction {
    pub label: String,
    pub description: String,
    pub identifier: String,
}

/// The fields of `PATCH /repos/{o}/{r}/check-runs/{id}` riskgate sends. `output` is sent when
/// `title` is set.
#[derive(Debug, Clone, Default)]
pub struct CheckRunUpdate {
    pub status: Option<String>,
    pub conclusion: Option<String>,
    pub title: Option<String>,
    pub summary: Option<String>,
    pub text: Option<String>,
    pub annotations: Vec<Annotation>,
    pub actions: Vec<CheckAction>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
struct Login {
    login: String,
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssueComment {
    pub id: u64,
    pub body: String,
    pub author: String,
    /// `User`, `Bot`, `Organization`.
    pub author_type: String,
}

#[derive(Deserialize)]
struct RawComment {
    id: u64,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    user: Option<Login>,
}

impl From<RawComment> for IssueComment {
    fn from(c: RawComment) -> IssueComment {
        let user = c.user.unwrap_or_default();
        IssueComment {
            id: c.id,
            body: c.body.unwrap_or_default(),
            author: user.login,
            author_type: user.kind,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Review {
    pub id: u64,
    pub reviewer: String,
    /// `APPROVED`, `CHANGES_REQUESTED`, `COMMENTED`, `DISMISSED`, `PENDING`.
    pub state: String,
    pub submitted_at: Option<String>,
    pub commit_id: Option<String>,
    pub body: String,
}

#[derive(Deserialize)]
struct RawReview {
    id: u64,
    #[serde(default)]
    user: Option<Login>,
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    submitted_at: Option<String>,
    #[serde(default)]
    commit_id: Option<String>,
    #[serde(default)]
    body: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReviewComment {
    pub id: u64,
    pub author: String,
    pub path: String,
    pub body: String,
    pub created_at: Option<String>,
    pub commit_id: Option<String>,
}

#[derive(Deserialize)]
struct RawReviewComment {
    id: u64,
    #[serde(default)]
    user: Option<Login>,
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    created_at: Option<String>,
    #[serde(default)]
    commit_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullRequestInfo {
    pub base_ref: String,
    pub head_sha: String,
    pub draft: bool,
    pub labels: Vec<String>,
    pub author: String,
    /// When it was opened, unix seconds.
    pub created_at: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Artifact {
    pub id: u64,
    pub name: String,
    #[serde(default)]
    pub size_in_bytes: u64,
    #[serde(default)]
    pub expired: bool,
}

#[derive(Deserialize)]
struct ArtifactPage {
    #[serde(default)]
    artifacts: Vec<Artifact>,
}

/// One HTTP answer, fully read.
struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

#[derive(Clone, Copy)]
enum Verb {
    Get,
    Post,
    Patch,
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

fn message_of(body: &[u8]) -> String {
    #[derive(Deserialize)]
    struct Msg {
        message: Option<String>,
    }
    match serde_json::from_slice::<Msg>(body) {
        Ok(Msg { message: Some(m) }) => m,
        _ => String::from_utf8_lossy(&body[..body.len().min(500)]).into_owned(),
    }
}

fn header_u64(headers: &HeaderMap, name: &str) -> Option<u64> {
    headers.get(name)?.to_str().ok()?.trim().parse().ok()
}

/// If a 403/429 answer is a rate limit, how long GitHub asks us to wait (None: not said).
fn rate_limit_wait(
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
) -> Option<Option<Duration>> {
    if status != StatusCode::FORBIDDEN && status != StatusCode::TOO_MANY_REQUESTS {
        return None;
    }
    if let Some(secs) = header_u64(headers, "retry-after") {
        return Some(Some(Duration::from_secs(secs)));
    }
    if header_u64(headers, "x-ratelimit-remaining") == Some(0) {
        if let Some(reset) = header_u64(headers, "x-ratelimit-reset") {
            let now = now_secs().max(0) as u64;
            // One second more: the reset instant is truncated to whole seconds.
            return Some(Some(Duration::from_secs(reset.saturating_sub(now) + 1)));
        }
        return Some(None);
    }
    let says_rate_limit = message_of(body).to_ascii_lowercase().contains("rate limit");
    if status == StatusCode::TOO_MANY_REQUESTS || says_rate_limit {
        return Some(None);
    }
    None
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

    /// An access token for the installation (cached).
    pub async fn installation_token(&self, installation_id: u64) -> Result<String, GitHubError> {
        self.inner
            .tokens
            .token(installation_id, |jwt| async move {
                self.request_installation_token(&jwt, installation_id).await
            })
            .await
    }

    /// `POST /app/installations/{id}/access_tokens` with the App JWT: `(token, expires_at)`.
    async fn request_installation_token(
        &self,
        jwt: &str,
        installation_id: u64,
    ) -> Result<(String, Option<String>), GitHubError> {
        #[derive(Deserialize)]
        struct TokenReply {
            token: String,
            #[serde(default)]
            expires_at: Option<String>,
        }
        let route = "installation_token";
        let path = format!("/app/installations/{installation_id}/access_tokens");
        let reply = self
            .send(
                route,
                Some(jwt),
                Verb::Post,
                &path,
                Some(&json!({})),
                false,
                MAX_JSON_BYTES,
            )
            .await?;
        let t: TokenReply = decode(route, &reply)?;
        Ok((t.token, t.expires_at))
    }

    /// The login of the App's bot account, `<slug>[bot]`, which authors everything the App
    /// writes with an installation token. Learnt once from `GET /app` (with the App JWT) and
    /// cached; a failed lookup is not cached.
    pub async fn app_bot_login(&self) -> Result<String, GitHubError> {
        #[derive(Deserialize)]
        struct App {
            #[serde(default)]
            slug: String,
        }
        let login = self
            .inner
            .bot_login
            .get_or_try_init(|| async {
                let route = "apps.get_authenticated";
                let jwt = self.inner.tokens.app_jwt()?;
                let reply = self
                    .send(
                        route,
                        Some(&jwt),
                        Verb::Get,
                        "/app",
                        None,
                        false,
                        MAX_JSON_BYTES,
                    )
                    .await?;
                let app: App = decode(route, &reply)?;
                let plain = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
                if app.slug.is_empty() || app.slug.len() > 100 || !app.slug.chars().all(plain) {
                    return Err(GitHubError::Decode {
                        route,
                        message: format!("the App's slug {:?} is not a usable name", app.slug),
                    });
                }
                Ok(format!("{}[bot]", app.slug))
            })
            .await?;
        Ok(login.clone())
    }

    fn count(&self, route: &str, status: u16) {
        if let Some(counter) = &self.inner.counter {
            counter(route, status);
        }
    }

    /// One call with retries. `uri` is a path under the base URL, or (with `absolute`) a full
    /// URL requested without credentials. An answer over `limit` bytes is refused unread, and
    /// not retried: it would not be smaller next time.
    #[allow(clippy::too_many_arguments)]
    async fn send(
        &self,
        route: &'static str,
        bearer: Option<&str>,
        verb: Verb,
        uri: &str,
        body: Option<&Value>,
        absolute: bool,
        limit: usize,
    ) -> Result<Reply, GitHubError> {
        let policy = &self.inner.retry;
        let client = match (absolute, bearer) {
            (true, _) => self.inner.plain.clone(),
            (false, Some(token)) => self
                .inner
                .octo
                .user_access_token(token.to_string())
                .map_err(|e| GitHubError::Request(e.to_string()))?,
            (false, None) => self.inner.octo.clone(),
        };
        let target: http::Uri = uri
            .parse()
            .map_err(|e| GitHubError::Request(format!("bad URI {uri:?}: {e}")))?;
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let answer = match verb {
                Verb::Get => client._get(target.clone()).await,
                Verb::Post => client._post(target.clone(), body).await,
                Verb::Patch => client._patch(target.clone(), body).await,
            };
            let outcome = match answer {
                Ok(resp) => {
                    let status = resp.status();
                    let headers = resp.headers().clone();
                    let too_large = || {
                        self.count(route, status.as_u16());
                        GitHubError::TooLarge { route, limit }
                    };
                    // A declared length says so at once; the count of bytes read decides.
                    if header_u64(&headers, "content-length").is_some_and(|n| n > limit as u64) {
                        return Err(too_large());
                    }
                    let limited = http_body_util::Limited::new(resp.into_body(), limit);
                    match http_body_util::BodyExt::collect(limited).await {
                        Ok(body) => Ok(Reply {
                            status,
                            headers,
                            body: body.to_bytes(),
                        }),
                        Err(e) if e.is::<http_body_util::LengthLimitError>() => {
                            return Err(too_large())
                        }
                        Err(e) => Err(format!("reading the answer: {e}")),
                    }
                }
                Err(e) => Err(e.to_string()),
            };
            let (status, message, wait) = match outcome {
                Err(message) => {
                    self.count(route, 0);
                    (None, message, policy.backoff(attempt))
                }
                Ok(reply) => {
                    self.count(route, reply.status.as_u16());
                    let status = reply.status;
                    if status.is_success() || status.is_redirection() {
                        return Ok(reply);
                    }
                    let message = message_of(&reply.body);
                    if status.is_server_error() {
                        (Some(status.as_u16()), message, policy.backoff(attempt))
                    } else if let Some(asked) = rate_limit_wait(status, &reply.headers, &reply.body)
                    {
                        let wait = asked
                            .unwrap_or_else(|| policy.backoff(attempt).max(policy.base_delay))
                            .min(policy.max_rate_limit_wait);
                        tracing::warn!(
                            route,
                            status = status.as_u16(),
                            wait_ms = wait.as_millis() as u64,
                            "GitHub rate limit"
                        );
                        (Some(status.as_u16()), message, wait)
                    } else {
                        return Err(GitHubError::Status {
                            route,
                            status: status.as_u16(),
                            message,
                        });
                    }
                }
            };
            if attempt >= policy.max_attempts {
                return Err(GitHubError::GaveUp {
                    route,
                    status,
                    attempts: attempt,
                    message,
                });
            }
            tracing::debug!(route, attempt, ?status, %message, "retrying GitHub call");
            tokio::time::sleep(wait).await;
        }
    }

    /// A call as the installation. A 401 drops the cached token so the next call fetches anew.
    async fn call(
        &self,
        route: &'static str,
        installation_id: u64,
        verb: Verb,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Reply, GitHubError> {
        self.call_limited(route, installation_id, verb, path, body, MAX_JSON_BYTES)
            .await
    }

    /// [`Self::call`] reading at most `limit` bytes of the answer.
    async fn call_limited(
        &self,
        route: &'static str,
        installation_id: u64,
        verb: Verb,
        path: &str,
        body: Option<&Value>,
        limit: usize,
    ) -> Result<Reply, GitHubError> {
        let token = self.installation_token(installation_id).await?;
        let result = self
            .send(route, Some(&token), verb, path, body, false, limit)
            .await;
        if let Err(GitHubError::Status { status: 401, .. }) = &result {
            self.inner.tokens.forget(installation_id);
        }
        result
    }

    async fn call_json<T: DeserializeOwned>(
        &self,
        route: &'static str,
        installation_id: u64,
        verb: Verb,
        path: &str,
        body: Option<&Value>,
    ) -> Result<T, GitHubError> {
        let reply = self.call(route, installation_id, verb, path, body).await?;
        decode(route, &reply)
    }

    /// Every page of a list endpoint (`per_page=100&page=k` until a short page).
    async fn all_pages<T>(
        &self,
        route: &'static str,
        installation_id: u64,
        path: &str,
        items: impl Fn(Value) -> Result<Vec<T>, serde_json::Error>,
    ) -> Result<Vec<T>, GitHubError> {
        let mut out = Vec::new();
        for page in 1.. {
            let sep = if path.contains('?') { '&' } else { '?' };
            let url = format!("{path}{sep}per_page={PER_PAGE}&page={page}");
            let value: Value = self
                .call_json(route, installation_id, Verb::Get, &url, None)
                .await?;
            let batch = items(value).map_err(|e| GitHubError::Decode {
                route,
                message: e.to_string(),
            })?;
            let n = batch.len();
            out.extend(batch);
            if n < PER_PAGE {
                break;
            }
        }
        Ok(out)
    }

    /// `POST /repos/{o}/{r}/check-runs` with status `in_progress`.
    pub async fn create_check_run(
        &self,
        installation_id: u64,
        repo: RepoId<'_>,
        head_sha: &str,
        name: &str,
        external_id: &str,
    ) -> Result<CheckRunId, GitHubError> {
        #[derive(Deserialize)]
        struct Created {
            id: u64,
        }
        let body = json!({
            "name": name,
            "head_sha": head_sha,
            "status": "in_progress",
            "external_id": external_id,
        });
        let path = format!("{}/check-runs", repo.path());
        let created: Created = self
            .call_json(
                "check_runs.create",
                installation_id,
                Verb::Post,
                &path,
                Some(&body),
            )
            .await?;
        Ok(CheckRunId(created.id))
    }

    /// `PATCH /repos/{o}/{r}/check-runs/{id}`: status, conclusion, output and the first 50
    /// annotations in one request; the remaining annotations in further requests of at most 50
    /// with the same output title and summary (GitHub appends them).
    pub async fn update_check_run(
        &self,
        installation_id: u64,
        repo: RepoId<'_>,
        id: CheckRunId,
        update: &CheckRunUpdate,
    ) -> Result<(), GitHubError> {
        let path = format!("{}/check-runs/{}", repo.path(), id.0);
        let route = "check_runs.update";
        let mut chunks = update.annotations.chunks(ANNOTATIONS_PER_REQUEST);
        let mut first = serde_json::Map::new();
        if let Some(status) = &update.status {
            first.insert("status".into(), json!(status));
        }
        if let Some(conclusion) = &update.conclusion {
            first.insert("conclusion".into(), json!(conclusion));
        }
        if !update.actions.is_empty() {
            first.insert("actions".into(), json!(update.actions));
        }
        let output = |annotations: &[Annotation], with_text: bool| -> Option<Value> {
            let title = update.title.as_ref()?;
            let mut o = json!({
                "title": title,
                "summary": update.summary.clone().unwrap_or_default(),
            });
            if with_text {
                if let Some(text) = &update.text {
                    o["text"] = json!(text);
                }
            }
            if !annotations.is_empty() {
                o["annotations"] = json!(annotations);
            }
            Some(o)
        };
        if let Some(o) = output(chunks.next().unwrap_or(&[]), true) {
            first.insert("output".into(), o);
        }
        self.call(
            route,
            installation_id,
            Verb::Patch,
            &path,
            Some(&Value::Object(first)),
        )
        .await?;
        for chunk in chunks {
            let Some(o) = output(chunk, false) else { break };
            self.call(
                route,
                installation_id,
                Verb::Patch,
                &path,
                Some(&json!({ "output": o })),
            )
            .await?;
        }
        Ok(())
    }

    /// All comments on an issue or PR, oldest first.
    pub async fn list_issue_comments(
        &self,
        installation_id: u64,
        repo: RepoId<'_>,
        number: u64,
    ) -> Result<Vec<IssueComment>, GitHubError> {
        let path = format!("{}/issues/{number}/comments", repo.path());
        self.all_pages("issue_comments.list", installation_id, &path, |v| {
            serde_json::from_value::<Vec<RawComment>>(v)
                .map(|cs| cs.into_iter().map(IssueComment::from).collect())
        })
        .await
    }

    /// Returns the new comment's id.
    pub async fn create_issue_comment(
        &self,
        installation_id: u64,
        repo: RepoId<'_>,
        number: u64,
        body: &str,
    ) -> Result<u64, GitHubError> {
        let path = format!("{}/issues/{number}/comments", repo.path());
        let c: RawComment = self
            .call_json(
                "issue_comments.create",
                installation_id,
                Verb::Post,
                &path,
                Some(&json!({ "body": body })),
            )
            .await?;
        Ok(c.id)
    }

    pub async fn update_issue_comment(
        &self,
        installation_id: u64,
        repo: RepoId<'_>,
        comment_id: u64,
        body: &str,
    ) -> Result<(), GitHubError> {
        let path = format!("{}/issues/comments/{comment_id}", repo.path());
        self.call(
            "issue_comments.update",
            installation_id,
            Verb::Patch,
            &path,
            Some(&json!({ "body": body })),
        )
        .await?;
        Ok(())
    }

    pub async fn list_reviews(
        &self,
        installation_id: u64,
        repo: RepoId<'_>,
        number: u64,
    ) -> Result<Vec<Review>, GitHubError> {
        let path = format!("{}/pulls/{number}/reviews", repo.path());
        self.all_pages("reviews.list", installation_id, &path, |v| {
            serde_json::from_value::<Vec<RawReview>>(v).map(|rs| {
                rs.into_iter()
                    .map(|r| Review {
                        id: r.id,
                        reviewer: r.user.unwrap_or_default().login,
                        state: r.state.unwrap_or_default(),
                        submitted_at: r.submitted_at,
                        commit_id: r.commit_id,
                        body: r.body.unwrap_or_default(),
                    })
                    .collect()
            })
        })
        .await
    }

    pub async fn list_review_comments(
        &self,
        installation_id: u64,
        repo: RepoId<'_>,
        number: u64,
    ) -> Result<Vec<ReviewComment>, GitHubError> {
        let path = format!("{}/pulls/{number}/comments", repo.path());
        self.all_pages("review_comments.list", installation_id, &path, |v| {
            serde_json::from_value::<Vec<RawReviewComment>>(v).map(|cs| {
                cs.into_iter()
                    .map(|c| ReviewComment {
                        id: c.id,
                        author: c.user.unwrap_or_default().login,
                        path: c.path.unwrap_or_default(),
                        body: c.body.unwrap_or_default(),
                        created_at: c.created_at,
                        commit_id: c.commit_id,
                    })
                    .collect()
            })
        })
        .await
    }

    /// The few facts of a pull request a re-run needs (its payload carries only the number).
    pub async fn get_pull_request(
        &self,
        installation_id: u64,
        repo: RepoId<'_>,
        number: u64,
    ) -> Result<PullRequestInfo, GitHubError> {
        #[derive(Deserialize, Default)]
        #[serde(default)]
        struct Branch {
            #[serde(rename = "ref")]
            name: String,
            sha: String,
        }
        #[derive(Deserialize)]
        struct Label {
            #[serde(default)]
            name: String,
        }
        #[derive(Deserialize)]
        struct Raw {
            #[serde(default)]
            base: Branch,
            #[serde(default)]
            head: Branch,
            #[serde(default)]
            draft: bool,
            #[serde(default)]
            labels: Vec<Label>,
            #[serde(default)]
            user: Option<Login>,
            #[serde(default)]
            created_at: Option<String>,
        }
        let path = format!("{}/pulls/{number}", repo.path());
        let raw: Raw = self
            .call_json("pulls.get", installation_id, Verb::Get, &path, None)
            .await?;
        Ok(PullRequestInfo {
            base_ref: raw.base.name,
            head_sha: raw.head.sha,
            draft: raw.draft,
            labels: raw.labels.into_iter().map(|l| l.name).collect(),
            author: raw.user.unwrap_or_default().login,
            created_at: raw
                .created_at
                .as_deref()
                .and_then(crate::time::parse_rfc3339_utc),
        })
    }

    /// `admin`, `maintain`, `write`, `triage`, `read` or `none`. GitHub's `permission` field
    /// folds maintain into write and triage into read; `role_name` keeps them apart, so it wins
    /// when it is one of the five built-in roles.
    pub async fn collaborator_permission(
        &self,
        installation_id: u64,
        repo: RepoId<'_>,
        username: &str,
    ) -> Result<String, GitHubError> {
        #[derive(Deserialize)]
        struct Perm {
            #[serde(default)]
            permission: Option<String>,
            #[serde(default)]
            role_name: Option<String>,
        }
        let path = format!("{}/collaborators/{}/permission", repo.path(), seg(username));
        let p: Perm = self
            .call_json(
                "collaborators.permission",
                installation_id,
                Verb::Get,
                &path,
                None,
            )
            .await?;
        let builtin = |s: &str| matches!(s, "admin" | "maintain" | "write" | "triage" | "read");
        Ok(match (p.role_name, p.permission) {
            (Some(role), _) if builtin(&role) => role,
            (_, Some(perm)) if builtin(&perm) || perm == "none" => perm,
            _ => "none".to_string(),
        })
    }

    pub async fn list_run_artifacts(
        &self,
        installation_id: u64,
        repo: RepoId<'_>,
        run_id: u64,
    ) -> Result<Vec<Artifact>, GitHubError> {
        let path = format!("{}/actions/runs/{run_id}/artifacts", repo.path());
        self.all_pages("artifacts.list", installation_id, &path, |v| {
            serde_json::from_value::<ArtifactPage>(v).map(|p| p.artifacts)
        })
        .await
    }

    /// The zip archive of an artifact, at most [`MAX_ARTIFACT_BYTES`]. GitHub answers with a
    /// redirect to a short-lived download URL, which is fetched without the installation token.
    pub async fn download_artifact(
        &self,
        installation_id: u64,
        repo: RepoId<'_>,
        artifact_id: u64,
    ) -> Result<Bytes, GitHubError> {
        let path = format!("{}/actions/artifacts/{artifact_id}/zip", repo.path());
        let route = "artifacts.download";
        let reply = self
            .call_limited(
                route,
                installation_id,
                Verb::Get,
                &path,
                None,
                MAX_ARTIFACT_BYTES,
            )
            .await?;
        if !reply.status.is_redirection() {
            return Ok(reply.body);
        }
        let location = reply
            .headers
            .get(http::header::LOCATION)
            .and_then(|l| l.to_str().ok())
            .ok_or_else(|| GitHubError::Decode {
                route,
                message: format!("{} without a Location header", reply.status),
            })?
            .to_string();
        let download = self
            .send(
                "artifacts.download_redirect",
                None,
                Verb::Get,
                &location,
                None,
                true,
                MAX_ARTIFACT_BYTES,
            )
            .await?;
        if download.status.is_success() {
            Ok(download.body)
        } else {
            Err(GitHubError::Status {
                route: "artifacts.download_redirect",
                status: download.status.as_u16(),
                message: "the download URL answered with a redirect".to_string(),
            })
        }
    }
}

fn decode<T: DeserializeOwned>(route: &'static str, reply: &Reply) -> Result<T, GitHubError> {
    serde_json::from_slice(&reply.body).map_err(|e| GitHubError::Decode {
        route,
        message: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_is_capped_and_jittered() {
        let p = RetryPolicy {
            max_attempts: 10,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(450),
            max_rate_limit_wait: Duration::from_secs(1),
        };
        for retry in 1..12 {
            for _ in 0..50 {
                let d = p.backoff(retry);
                let cap = Duration::from_millis(100 * 2u64.pow(retry - 1)).min(p.max_delay);
                assert!(d <= cap, "{retry}: {d:?} > {cap:?}");
            }
        }
    }

    #[test]
    fn rate_limits_are_recognised() {
        let mut h = HeaderMap::new();
        assert_eq!(rate_limit_wait(StatusCode::NOT_FOUND, &h, b""), None);
        assert_eq!(
            rate_limit_wait(
                StatusCode::FORBIDDEN,
                &h,
                br#"{"message":"Resource not accessible by integration"}"#
            ),
            None
        );
        assert_eq!(
            rate_limit_wait(
                StatusCode::FORBIDDEN,
                &h,
                br#"{"message":"You have exceeded a secondary rate limit."}"#
            ),
            Some(None)
        );
        assert_eq!(
            rate_limit_wait(StatusCode::TOO_MANY_REQUESTS, &h, b""),
            Some(None)
        );
        h.insert("retry-after", "7".parse().unwrap());
        assert_eq!(
            rate_limit_wait(StatusCode::FORBIDDEN, &h, b""),
            Some(Some(Duration::from_secs(7)))
        );
    }

    #[test]
    fn path_segments_are_encoded() {
        assert_eq!(seg("octo-org.x_y"), "octo-org.x_y");
        assert_eq!(seg("a/b c"), "a%2Fb%20c");
    }
}

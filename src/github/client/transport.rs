//! Every call goes through here: authentication headers, retries with backoff, rate limits
//! waited out, answers read up to a size limit, pagination, and the call counter.

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use rand::Rng;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;

use super::{GitHubApi, GitHubError, MAX_JSON_BYTES, MAX_PAGES, PER_PAGE};
use crate::time::now_secs;

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

/// One HTTP answer, fully read.
pub(super) struct Reply {
    pub(super) status: StatusCode,
    pub(super) headers: HeaderMap,
    pub(super) body: Bytes,
}

#[derive(Clone, Copy)]
pub(super) enum Verb {
    Get,
    Post,
    Patch,
}

fn message_of(body: &[u8]) -> String {
    #[derive(Deserialize)]
    struct Msg {
        message: Option<String>,
    }
    match serde_json::from_slice::<Msg>(body) {
        Ok(Msg { message: Some(m) }) => m.chars().take(500).collect(),
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
    fn count(&self, route: &str, status: u16) {
        if let Some(counter) = &self.inner.counter {
            counter(route, status);
        }
    }

    /// One call with retries. `uri` is a path under the base URL, or (with `absolute`) a full
    /// URL requested without credentials. An answer over `limit` bytes is refused unread, and
    /// not retried: it would not be smaller next time.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn send(
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
    pub(super) async fn call(
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
    pub(super) async fn call_limited(
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

    pub(super) async fn call_json<T: DeserializeOwned>(
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

    /// Every page of a list endpoint (`per_page=100&page=k` until a short page), at most
    /// [`MAX_PAGES`] of them.
    pub(super) async fn all_pages<T>(
        &self,
        route: &'static str,
        installation_id: u64,
        path: &str,
        items: impl Fn(Value) -> Result<Vec<T>, serde_json::Error>,
    ) -> Result<Vec<T>, GitHubError> {
        let mut out = Vec::new();
        for page in 1..=MAX_PAGES {
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
                return Ok(out);
            }
        }
        Err(GitHubError::TooManyPages { route })
    }
}

pub(super) fn decode<T: DeserializeOwned>(
    route: &'static str,
    reply: &Reply,
) -> Result<T, GitHubError> {
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
}

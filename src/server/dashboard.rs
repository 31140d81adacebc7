//! The read-only dashboard of `riskgate serve`: per repository, the risk of recent pull
//! requests, release health and the current model's ROC and calibration, behind a token.
//!
//! Nothing is public by default: without `RISKGATE_DASHBOARD_TOKEN` every dashboard URL
//! answers 404. With it, a request needs `Authorization: Bearer <token>`, or `?token=<token>`
//! (answered with a session cookie and a redirect to the same URL without the token), or that
//! cookie. Everything else gets 401 and no data. Handlers are thin: `view` builds what a page
//! shows, `page` renders it.

use std::sync::Arc;

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};
use hmac::Mac;

use super::auth::{bearer, tag, token_matches};
use super::clients::ClientAddr;
use super::AppState;
use crate::time::now_ms;

pub mod page;
pub mod view;

/// The session cookie set after a `?token=` visit.
pub const COOKIE_NAME: &str = "riskgate_dashboard";
/// How long the cookie lasts, in seconds.
pub const COOKIE_MAX_AGE_SECS: u64 = 12 * 60 * 60;
/// What a request without a configured token is told.
pub const OFF_MESSAGE: &str = "the dashboard is off: set RISKGATE_DASHBOARD_TOKEN";

const COOKIE_CONTEXT: &[u8] = b"riskgate dashboard cookie v2";

/// The dashboard's routes; `server::router` merges them.
pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/dashboard", get(index))
        .route("/dashboard/{owner}/{repo}", get(repository_page))
        .route("/dashboard/{owner}/{repo}/data.json", get(repository_data))
}

// ---- access -------------------------------------------------------------------------------

/// What a request may see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    /// No token is configured: the dashboard does not exist.
    Off,
    Granted,
    /// A right `?token=`: set this cookie and send the browser to `location`, the same URL
    /// without the token.
    Redirect {
        cookie: String,
        location: String,
    },
    Refused,
}

/// The cookie value of a session opened at `issued_at` (unix seconds): that time and a MAC of
/// it keyed by the token (never the token itself), so changing the token ends every session
/// and a session ends after [`COOKIE_MAX_AGE_SECS`] whatever the browser keeps.
pub fn cookie_value(token: &str, issued_at: i64) -> String {
    session_tag(token, issued_at)
        .map(|m| format!("{issued_at}.{}", hex::encode(m.finalize().into_bytes())))
        .unwrap_or_default()
}

fn session_tag(token: &str, issued_at: i64) -> Option<hmac::Hmac<sha2::Sha256>> {
    let mut mac = tag(token.as_bytes(), COOKIE_CONTEXT)?;
    mac.update(issued_at.to_string().as_bytes());
    Some(mac)
}

/// Several instances may share a token; their clocks may differ by this much.
const CLOCK_SKEW_SECS: i64 = 300;

fn cookie_matches(token: &str, value: &str, now_secs: i64) -> bool {
    let Some((issued, mac)) = value.trim().split_once('.') else {
        return false;
    };
    let (Ok(issued_at), Ok(bytes)) = (issued.parse::<i64>(), hex::decode(mac)) else {
        return false;
    };
    let age = now_secs.saturating_sub(issued_at);
    (-CLOCK_SKEW_SECS..=COOKIE_MAX_AGE_SECS as i64).contains(&age)
        && session_tag(token, issued_at).is_some_and(|m| m.verify_slice(&bytes).is_ok())
}

/// `%XX` and `+` decoded, as in a form-encoded query.
fn form_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(&s.replace('+', " "))
        .decode_utf8_lossy()
        .into_owned()
}

fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v)
}

/// Who may see the dashboard at `now_secs` (unix seconds). A `?token=` decides when present,
/// else an `Authorization` header, else the session cookie.
pub fn access(token: Option<&str>, headers: &HeaderMap, uri: &Uri, now_secs: i64) -> Access {
    let Some(token) = token.filter(|t| !t.is_empty()) else {
        return Access::Off;
    };
    let query = uri.query().unwrap_or("");
    let mut presented = None;
    let mut rest = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        if form_decode(key) == "token" {
            presented.get_or_insert_with(|| form_decode(value));
        } else {
            rest.push(pair);
        }
    }
    if let Some(presented) = presented {
        if !token_matches(token, &presented) {
            return Access::Refused;
        }
        let mut location = uri.path().to_string();
        if !rest.is_empty() {
            location.push('?');
            location.push_str(&rest.join("&"));
        }
        let secure = headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|p| p.eq_ignore_ascii_case("https"))
            || uri.scheme_str() == Some("https");
        let cookie = format!(
            "{COOKIE_NAME}={}; Path=/dashboard; HttpOnly; SameSite=Strict; Max-Age={COOKIE_MAX_AGE_SECS}{}",
            cookie_value(token, now_secs),
            if secure { "; Secure" } else { "" }
        );
        return Access::Redirect { cookie, location };
    }
    if headers.contains_key(header::AUTHORIZATION) {
        return match bearer(headers) {
            Some(t) if token_matches(token, t) => Access::Granted,
            _ => Access::Refused,
        };
    }
    match cookie(headers, COOKIE_NAME) {
        Some(v) if cookie_matches(token, v, now_secs) => Access::Granted,
        _ => Access::Refused,
    }
}

// ---- responses ----------------------------------------------------------------------------

fn private_headers(response: &mut Response) {
    let h = response.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
}

fn html(status: StatusCode, body: String) -> Response {
    let mut r = (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        body,
    )
        .into_response();
    private_headers(&mut r);
    if let Ok(csp) = HeaderValue::from_str(&page::CONTENT_SECURITY_POLICY) {
        r.headers_mut().insert(header::CONTENT_SECURITY_POLICY, csp);
    }
    r
}

fn message(status: StatusCode, title: &str, text: &str) -> Response {
    html(status, page::message_page(title, text))
}

/// The answer to a request that may not see the dashboard, or `None` when it may.
fn gate(
    state: &AppState,
    client: Option<Extension<ClientAddr>>,
    headers: &HeaderMap,
    uri: &Uri,
) -> Option<Response> {
    let client = client.map(|Extension(c)| c);
    let now_secs = now_ms() / 1000;
    if state.dashboard_token.is_some() {
        if let Some(wait) = state.wrong_tokens.refused_for(client, now_secs) {
            let mut r = message(
                StatusCode::TOO_MANY_REQUESTS,
                "riskgate dashboard: too many wrong tokens",
                &format!("Too many wrong tokens came from this address; try again in {wait} s."),
            );
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(wait));
            return Some(r);
        }
    }
    match access(state.dashboard_token.as_deref(), headers, uri, now_secs) {
        Access::Granted => None,
        Access::Off => {
            let mut r = (StatusCode::NOT_FOUND, format!("{OFF_MESSAGE}\n")).into_response();
            private_headers(&mut r);
            Some(r)
        }
        Access::Refused => {
            // A token in the address or an Authorization header is a guess; a session cookie
            // carries a MAC no one guesses, and one that ended must not lock its owner out.
            let guessed = headers.contains_key(header::AUTHORIZATION)
                || uri.query().is_some_and(|q| {
                    q.split('&').any(|pair| {
                        form_decode(pair.split_once('=').map_or(pair, |(k, _)| k)) == "token"
                    })
                });
            if guessed {
                state.wrong_tokens.record(client, "the dashboard", now_secs);
            }
            let mut r = message(
                StatusCode::UNAUTHORIZED,
                "riskgate dashboard: sign in",
                "This dashboard needs its token: open it with ?token=… once, or send \
                 Authorization: Bearer ….",
            );
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"riskgate dashboard\""),
            );
            Some(r)
        }
        Access::Redirect { cookie, location } => {
            let mut r = StatusCode::SEE_OTHER.into_response();
            private_headers(&mut r);
            let h = r.headers_mut();
            h.insert(
                header::LOCATION,
                HeaderValue::from_str(&location)
                    .unwrap_or_else(|_| HeaderValue::from_static("/dashboard")),
            );
            if let Ok(c) = HeaderValue::from_str(&cookie) {
                h.insert(header::SET_COOKIE, c);
            }
            Some(r)
        }
    }
}

fn store_failure(e: impl std::fmt::Display) -> Response {
    tracing::error!(error = %e, "dashboard: could not read the store");
    message(
        StatusCode::SERVICE_UNAVAILABLE,
        "riskgate dashboard: unavailable",
        "The database could not be read; try again.",
    )
}

async fn index(
    State(state): State<Arc<AppState>>,
    client: Option<Extension<ClientAddr>>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    if let Some(refusal) = gate(&state, client, &headers, &uri) {
        return refusal;
    }
    match state.store.known_repositories().await {
        Ok(repos) => html(StatusCode::OK, page::index_page(&repos)),
        Err(e) => store_failure(e),
    }
}

/// The view of `owner/repo` at this moment, or the response that says why there is none.
async fn load_view(state: &AppState, owner: &str, repo: &str) -> Result<view::RepoView, Response> {
    let wanted = format!("{owner}/{repo}");
    let known = state
        .store
        .known_repositories()
        .await
        .map_err(store_failure)?;
    let Some(repository) = known.into_iter().find(|r| r.eq_ignore_ascii_case(&wanted)) else {
        return Err(message(
            StatusCode::NOT_FOUND,
            "riskgate dashboard: unknown repository",
            &format!("riskgate knows nothing of {wanted}."),
        ));
    };
    // A repository keeps its scores and releases for good, so a view costs in proportion to
    // its whole history: views are built one at a time, off the async threads.
    let _turn = state
        .dashboard_views
        .acquire()
        .await
        .map_err(|_| store_failure("the server is stopping"))?;
    let history = crate::production::load_history(
        &state.store,
        &repository,
        crate::production::ScoresLoaded::Summaries,
    )
    .await
    .map_err(store_failure)?;
    let model = state.model.current();
    tokio::task::spawn_blocking(move || view::repo_view(&history, &model, now_ms()))
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "building a dashboard view failed");
            message(
                StatusCode::INTERNAL_SERVER_ERROR,
                "riskgate dashboard: error",
                "The view could not be built.",
            )
        })
}

async fn repository_page(
    State(state): State<Arc<AppState>>,
    path: Result<Path<(String, String)>, PathRejection>,
    client: Option<Extension<ClientAddr>>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    if let Some(refusal) = gate(&state, client, &headers, &uri) {
        return refusal;
    }
    let Ok(Path((owner, repo))) = path else {
        return message(
            StatusCode::BAD_REQUEST,
            "riskgate dashboard: bad address",
            "The repository in this address is not readable.",
        );
    };
    match load_view(&state, &owner, &repo).await {
        Ok(v) => html(StatusCode::OK, page::repo_page(&v)),
        Err(r) => r,
    }
}

async fn repository_data(
    State(state): State<Arc<AppState>>,
    path: Result<Path<(String, String)>, PathRejection>,
    client: Option<Extension<ClientAddr>>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    if let Some(refusal) = gate(&state, client, &headers, &uri) {
        return refusal;
    }
    let Ok(Path((owner, repo))) = path else {
        return message(
            StatusCode::BAD_REQUEST,
            "riskgate dashboard: bad address",
            "The repository in this address is not readable.",
        );
    };
    match load_view(&state, &owner, &repo).await {
        Ok(v) => {
            let mut r = axum::Json(v).into_response();
            private_headers(&mut r);
            r
        }
        Err(r) => r,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uri(s: &str) -> Uri {
        s.parse().unwrap()
    }

    fn with(name: header::HeaderName, value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(name, HeaderValue::from_str(value).unwrap());
        h
    }

    const T: Option<&str> = Some("s3cret token");
    /// The time the tests ask at, in unix seconds.
    const NOW: i64 = 1_800_000_000;

    fn access(token: Option<&str>, headers: &HeaderMap, uri: &Uri) -> Access {
        super::access(token, headers, uri, NOW)
    }

    #[test]
    fn without_a_token_the_dashboard_is_off() {
        let h = with(header::AUTHORIZATION, "Bearer anything");
        assert_eq!(access(None, &h, &uri("/dashboard")), Access::Off);
        assert_eq!(access(Some(""), &h, &uri("/dashboard?token=")), Access::Off);
    }

    #[test]
    fn bearer_tokens() {
        let u = uri("/dashboard/o/r");
        let ok = with(header::AUTHORIZATION, "Bearer s3cret token");
        assert_eq!(access(T, &ok, &u), Access::Granted);
        let lower = with(header::AUTHORIZATION, "bearer  s3cret token ");
        assert_eq!(access(T, &lower, &u), Access::Granted);
        for wrong in [
            "Bearer s3cret",
            "Bearer s3cret token!",
            "Basic czNjcmV0IHRva2Vu",
            "s3cret token",
            "Bearer",
        ] {
            let h = with(header::AUTHORIZATION, wrong);
            assert_eq!(access(T, &h, &u), Access::Refused, "{wrong}");
        }
        assert_eq!(access(T, &HeaderMap::new(), &u), Access::Refused);
    }

    #[test]
    fn a_query_token_sets_the_cookie_and_redirects_without_it() {
        let got = access(
            T,
            &HeaderMap::new(),
            &uri("/dashboard/o/r?a=1&token=s3cret%20token&b=x+y"),
        );
        let Access::Redirect { cookie, location } = got else {
            panic!("expected a redirect, got {got:?}");
        };
        assert_eq!(location, "/dashboard/o/r?a=1&b=x+y");
        assert!(cookie.starts_with(&format!(
            "{COOKIE_NAME}={}; Path=/dashboard; HttpOnly; SameSite=Strict",
            cookie_value("s3cret token", NOW)
        )));
        assert!(
            !cookie.contains("s3cret"),
            "the cookie never holds the token"
        );
        assert!(!cookie.contains("Secure"));
        let https = with(
            header::HeaderName::from_static("x-forwarded-proto"),
            "https",
        );
        let Access::Redirect { cookie, location } =
            access(T, &https, &uri("/dashboard?token=s3cret+token"))
        else {
            panic!("expected a redirect");
        };
        assert_eq!(location, "/dashboard");
        assert!(cookie.ends_with("; Secure"));
        // A wrong query token is refused even beside a good cookie.
        let mut h = with(
            header::COOKIE,
            &format!("{COOKIE_NAME}={}", cookie_value("s3cret token", NOW)),
        );
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer s3cret token"),
        );
        assert_eq!(
            access(T, &h, &uri("/dashboard?token=nope")),
            Access::Refused
        );
    }

    #[test]
    fn the_session_cookie() {
        let u = uri("/dashboard");
        let good = format!(
            "other=1; {COOKIE_NAME}={}",
            cookie_value("s3cret token", NOW)
        );
        assert_eq!(access(T, &with(header::COOKIE, &good), &u), Access::Granted);
        let old = format!("{COOKIE_NAME}={}", cookie_value("previous token", NOW));
        assert_eq!(access(T, &with(header::COOKIE, &old), &u), Access::Refused);
        for bad in [
            format!("{COOKIE_NAME}=s3cret token"),
            format!("{COOKIE_NAME}=zz"),
            format!("{COOKIE_NAME}="),
            "riskgate=1".to_string(),
        ] {
            assert_eq!(
                access(T, &with(header::COOKIE, &bad), &u),
                Access::Refused,
                "{bad}"
            );
        }
    }

    /// A session ends after its age whatever the browser keeps, and its time cannot be moved.
    #[test]
    fn a_session_ends_with_its_age() {
        let u = uri("/dashboard");
        let max = COOKIE_MAX_AGE_SECS as i64;
        let opened_at = |at: i64| {
            with(
                header::COOKIE,
                &format!("{COOKIE_NAME}={}", cookie_value("s3cret token", at)),
            )
        };
        assert_eq!(access(T, &opened_at(NOW - max), &u), Access::Granted);
        assert_eq!(access(T, &opened_at(NOW - max - 1), &u), Access::Refused);
        assert_eq!(
            access(T, &opened_at(NOW + 60), &u),
            Access::Granted,
            "a little clock skew"
        );
        assert_eq!(access(T, &opened_at(NOW + 3_600), &u), Access::Refused);
        let old = cookie_value("s3cret token", NOW - max - 1);
        let (_, mac) = old.split_once('.').unwrap();
        let moved = with(header::COOKIE, &format!("{COOKIE_NAME}={NOW}.{mac}"));
        assert_eq!(
            access(T, &moved, &u),
            Access::Refused,
            "a renewed time needs a new MAC"
        );
    }

    #[test]
    fn form_decoding_never_panics() {
        assert_eq!(form_decode("a%20b+c"), "a b c");
        assert_eq!(form_decode("%"), "%");
        assert_eq!(form_decode("%4"), "%4");
        assert_eq!(form_decode("%zz"), "%zz");
        assert_eq!(form_decode("%C3%A9"), "é");
        assert_eq!(form_decode("%FF"), "\u{FFFD}");
    }
}

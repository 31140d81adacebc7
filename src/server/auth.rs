//! Bearer tokens, shared by the dashboard and the incidents API: reading the header and
//! comparing a presented token with the configured one.

use std::collections::HashMap;
use std::sync::Mutex;

use axum::http::{header, HeaderMap};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::clients::ClientAddr;

type HmacSha256 = Hmac<Sha256>;

const TOKEN_CONTEXT: &[u8] = b"riskgate token comparison v1";

/// An HMAC-SHA256 keyed by `key` over `context`, ready to finalize or verify.
pub(super) fn tag(key: &[u8], context: &[u8]) -> Option<HmacSha256> {
    let mut mac = HmacSha256::new_from_slice(key).ok()?;
    mac.update(context);
    Some(mac)
}

/// Whether `presented` is the token, in constant time: both are turned into MACs of a fixed
/// length, compared by `verify_slice`, so neither the content nor the length leaks.
pub fn token_matches(expected: &str, presented: &str) -> bool {
    let (Some(theirs), Some(ours)) = (
        tag(presented.as_bytes(), TOKEN_CONTEXT),
        tag(expected.as_bytes(), TOKEN_CONTEXT),
    ) else {
        return false;
    };
    ours.verify_slice(&theirs.finalize().into_bytes()).is_ok()
}

/// The token of an `Authorization: Bearer …` header (the scheme in any case).
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Wrong tokens one client may present within [`WRONG_TOKEN_WINDOW_SECS`]; past them its
/// tokens are refused unread until the window ends.
pub const MAX_WRONG_TOKENS: u32 = 20;
pub const WRONG_TOKEN_WINDOW_SECS: i64 = 60;
/// Clients whose wrong tokens are counted at once: a bound on the memory a crowd of addresses
/// can make the count take. Past it, windows that ended are dropped, and a client that still
/// finds no room is not counted.
const MAX_COUNTED_CLIENTS: usize = 65_536;

/// The wrong dashboard and API tokens each client presented lately, so that guessing a token
/// goes at 20 tries a minute from one address instead of as fast as the server answers, and
/// the operator learns of it from the log.
#[derive(Default)]
pub struct WrongTokens {
    windows: Mutex<HashMap<ClientAddr, WrongWindow>>,
}

struct WrongWindow {
    started_secs: i64,
    wrong: u32,
}

impl WrongTokens {
    /// Seconds until `client` may present a token again, while it has used up its wrong ones.
    pub(crate) fn refused_for(&self, client: Option<ClientAddr>, now_secs: i64) -> Option<i64> {
        let windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        let window = windows.get(&client?)?;
        let ends = window.started_secs.saturating_add(WRONG_TOKEN_WINDOW_SECS);
        (window.wrong >= MAX_WRONG_TOKENS && now_secs < ends).then(|| ends - now_secs)
    }

    /// Counts a wrong token `client` presented to `what` (the dashboard, the incidents API);
    /// logs the one that uses up its window's allowance.
    pub(crate) fn record(&self, client: Option<ClientAddr>, what: &'static str, now_secs: i64) {
        let Some(client) = client else { return };
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        let ended =
            |w: &WrongWindow| now_secs.saturating_sub(w.started_secs) >= WRONG_TOKEN_WINDOW_SECS;
        if windows.len() >= MAX_COUNTED_CLIENTS && !windows.contains_key(&client) {
            windows.retain(|_, w| !ended(w));
            if windows.len() >= MAX_COUNTED_CLIENTS {
                return;
            }
        }
        let window = windows.entry(client).or_insert(WrongWindow {
            started_secs: now_secs,
            wrong: 0,
        });
        if ended(window) {
            *window = WrongWindow {
                started_secs: now_secs,
                wrong: 0,
            };
        }
        window.wrong = window.wrong.saturating_add(1);
        if window.wrong == MAX_WRONG_TOKENS {
            tracing::warn!(
                client = %client,
                what,
                "{MAX_WRONG_TOKENS} wrong tokens within {WRONG_TOKEN_WINDOW_SECS} s: this client's \
                 tokens are refused unread until the window ends"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn wrong_tokens_past_the_allowance_are_refused_until_the_window_ends() {
        let wrong = WrongTokens::default();
        let a = Some(ClientAddr::of("192.0.2.1".parse().unwrap()));
        let b = Some(ClientAddr::of("192.0.2.2".parse().unwrap()));
        for i in 0..MAX_WRONG_TOKENS {
            assert_eq!(wrong.refused_for(a, 1_000 + i64::from(i)), None, "{i}");
            wrong.record(a, "the dashboard", 1_000 + i64::from(i));
        }
        assert_eq!(wrong.refused_for(a, 1_020), Some(40));
        assert_eq!(
            wrong.refused_for(b, 1_020),
            None,
            "another client is not held back"
        );
        assert_eq!(wrong.refused_for(None, 1_020), None);
        assert_eq!(wrong.refused_for(a, 1_059), Some(1));
        assert_eq!(wrong.refused_for(a, 1_060), None, "the window ended");
        wrong.record(a, "the dashboard", 1_060);
        assert_eq!(
            wrong.refused_for(a, 1_061),
            None,
            "a new window, one wrong so far"
        );
    }

    #[test]
    fn token_comparison() {
        assert!(token_matches("abc", "abc"));
        assert!(!token_matches("abc", "abcd"));
        assert!(!token_matches("abc", ""));
        assert!(!token_matches("abc", "ABC"));
    }

    #[test]
    fn bearer_header() {
        let mut h = HeaderMap::new();
        assert_eq!(bearer(&h), None);
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("BEARER  t0k "),
        );
        assert_eq!(bearer(&h), Some("t0k"));
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic t0k"));
        assert_eq!(bearer(&h), None);
    }
}

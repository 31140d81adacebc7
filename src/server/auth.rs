//! Bearer tokens, shared by the dashboard and the incidents API: reading the header and
//! comparing a presented token with the configured one.

use axum::http::{header, HeaderMap};
use hmac::{Hmac, Mac};
use sha2::Sha256;

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

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

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

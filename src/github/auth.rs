//! Authenticating as the App: an RS256 JWT signed with the App's private key, exchanged for
//! installation access tokens that are cached until shortly before they expire.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;

/// How long before `expires_at` a cached installation token is replaced.
pub const REFRESH_MARGIN_SECS: i64 = 5 * 60;
/// JWT lifetime; GitHub accepts at most ten minutes.
pub const JWT_LIFETIME_SECS: i64 = 9 * 60;
/// The JWT's `iat` is set this far in the past to allow for clock drift.
pub const JWT_BACKDATE_SECS: i64 = 60;

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("the App private key is not a usable RSA PEM key: {0}")]
    Key(String),
    #[error("signing the App JWT failed: {0}")]
    Sign(String),
}

/// The App's identity. The private key never appears in `Debug` output.
#[derive(Clone)]
pub struct AppCredentials {
    pub app_id: u64,
    pub private_key_pem: String,
}

impl fmt::Debug for AppCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppCredentials")
            .field("app_id", &self.app_id)
            .field("private_key_pem", &"<redacted>")
            .finish()
    }
}

#[derive(Serialize)]
struct Claims {
    iat: i64,
    exp: i64,
    iss: String,
}

/// A JWT that authenticates as the App (not as an installation) at `now_unix`.
pub fn app_jwt(creds: &AppCredentials, now_unix: i64) -> Result<String, AuthError> {
    let key = EncodingKey::from_rsa_pem(creds.private_key_pem.as_bytes())
        .map_err(|e| AuthError::Key(e.to_string()))?;
    let claims = Claims {
        iat: now_unix - JWT_BACKDATE_SECS,
        exp: now_unix + JWT_LIFETIME_SECS,
        iss: creds.app_id.to_string(),
    };
    jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, &key)
        .map_err(|e| AuthError::Sign(e.to_string()))
}

/// A source of "now" in Unix seconds; tests move it.
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

struct Cached {
    token: String,
    /// Unix seconds after which the token is fetched again.
    refresh_at: i64,
}

impl fmt::Debug for Cached {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cached")
            .field("token", &"<redacted>")
            .field("refresh_at", &self.refresh_at)
            .finish()
    }
}

type Slot = Arc<tokio::sync::Mutex<Option<Cached>>>;

struct TokensInner {
    creds: AppCredentials,
    clock: Clock,
    slots: Mutex<HashMap<u64, Slot>>,
}

/// Installation access tokens, one cache slot per installation. Concurrent callers for the
/// same installation wait for one request rather than each making their own. Cheap to clone;
/// clones share the cache.
#[derive(Clone)]
pub struct InstallationTokens {
    inner: Arc<TokensInner>,
}

impl fmt::Debug for InstallationTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let cached: Vec<u64> = self
            .inner
            .slots
            .lock()
            .map(|s| s.keys().copied().collect())
            .unwrap_or_default();
        f.debug_struct("InstallationTokens")
            .field("app_id", &self.inner.creds.app_id)
            .field("installations", &cached)
            .finish()
    }
}

impl InstallationTokens {
    pub fn new(creds: AppCredentials) -> InstallationTokens {
        InstallationTokens::with_clock(creds, Arc::new(crate::time::now_secs))
    }

    pub fn with_clock(creds: AppCredentials, clock: Clock) -> InstallationTokens {
        InstallationTokens {
            inner: Arc::new(TokensInner {
                creds,
                clock,
                slots: Mutex::new(HashMap::new()),
            }),
        }
    }

    pub fn app_id(&self) -> u64 {
        self.inner.creds.app_id
    }

    /// A JWT for App-level endpoints, valid for the next nine minutes.
    pub fn app_jwt(&self) -> Result<String, AuthError> {
        app_jwt(&self.inner.creds, (self.inner.clock)())
    }

    fn slot(&self, installation_id: u64) -> Slot {
        let mut slots = self
            .inner
            .slots
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        slots.entry(installation_id).or_default().clone()
    }

    /// A valid access token for `installation_id`: the cached one unless it expires within
    /// five minutes, else a new one from `fetch`, which is given the App JWT and returns the
    /// token and its `expires_at` (the client asks `POST /app/installations/{id}/access_tokens`).
    pub async fn token<F, Fut, E>(&self, installation_id: u64, fetch: F) -> Result<String, E>
    where
        F: FnOnce(String) -> Fut,
        Fut: Future<Output = Result<(String, Option<String>), E>>,
        E: From<AuthError>,
    {
        let slot = self.slot(installation_id);
        let mut cached = slot.lock().await;
        let now = (self.inner.clock)();
        if let Some(c) = cached.as_ref() {
            if now < c.refresh_at {
                return Ok(c.token.clone());
            }
        }
        let jwt = app_jwt(&self.inner.creds, now)?;
        let (token, expires_at) = fetch(jwt).await?;
        let refresh_at = match expires_at
            .as_deref()
            .and_then(crate::time::parse_rfc3339_utc)
        {
            Some(expires) => expires - REFRESH_MARGIN_SECS,
            None => {
                tracing::warn!(
                    installation_id,
                    expires_at = expires_at.as_deref().unwrap_or(""),
                    "installation token has no readable expiry; it will not be cached"
                );
                now
            }
        };
        *cached = Some(Cached {
            token: token.clone(),
            refresh_at,
        });
        Ok(token)
    }

    /// Drop the cached token (GitHub answered 401 to it: revoked, or the App was reinstalled).
    pub fn forget(&self, installation_id: u64) {
        let slot = self.slot(installation_id);
        let guard = slot.try_lock();
        if let Ok(mut cached) = guard {
            *cached = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_debug_hides_the_key() {
        let c = AppCredentials {
            app_id: 7,
            private_key_pem: "-----BEGIN RSA PRIVATE KEY-----secret".into(),
        };
        let shown = format!("{c:?}");
        assert!(!shown.contains("secret"), "{shown}");
        assert!(shown.contains('7'));
    }

    #[test]
    fn a_bad_key_is_an_error() {
        let c = AppCredentials {
            app_id: 7,
            private_key_pem: "not a key".into(),
        };
        assert!(matches!(app_jwt(&c, 0), Err(AuthError::Key(_))));
    }
}

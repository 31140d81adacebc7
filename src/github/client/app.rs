//! Calls made as the App itself (with its JWT), not as an installation.

use serde::Deserialize;
use serde_json::json;

use super::transport::{decode, Verb};
use super::{GitHubApi, GitHubError, MAX_JSON_BYTES};

impl GitHubApi {
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
}

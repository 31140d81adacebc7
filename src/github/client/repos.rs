//! Repository-level facts: what a user may do in it (who may press a check run's buttons), and
//! a settings file of another repository (an organisation's defaults).

use serde::Deserialize;

use super::transport::Verb;
use super::{seg, GitHubApi, GitHubError, RepoId};

impl GitHubApi {
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

    /// The text of `path` on the default branch of `repo`, at most `max_bytes`; `None` when the
    /// repository or the file does not exist (or the App cannot see it). The path is sent one
    /// percent-encoded segment at a time, so a name cannot reach another route.
    pub async fn file_on_default_branch(
        &self,
        installation_id: u64,
        repo: RepoId<'_>,
        path: &str,
        max_bytes: usize,
    ) -> Result<Option<String>, GitHubError> {
        #[derive(Deserialize)]
        struct Contents {
            #[serde(default)]
            content: Option<String>,
            #[serde(default)]
            encoding: Option<String>,
            #[serde(default)]
            size: Option<u64>,
        }
        let route = "repos.contents";
        let encoded: Vec<String> = path.split('/').map(seg).collect();
        let url = format!("{}/contents/{}", repo.path(), encoded.join("/"));
        let contents: Contents = match self
            .call_json(route, installation_id, Verb::Get, &url, None)
            .await
        {
            Ok(c) => c,
            Err(GitHubError::Status { status: 404, .. }) => return Ok(None),
            Err(e) => return Err(e),
        };
        let refuse = |message: String| GitHubError::Status {
            route,
            status: 422,
            message,
        };
        if contents.size.unwrap_or(0) > max_bytes as u64 {
            return Err(refuse(format!(
                "{path} is {} bytes; at most {max_bytes} are read",
                contents.size.unwrap_or(0)
            )));
        }
        if contents.encoding.as_deref() != Some("base64") {
            return Err(refuse(format!(
                "{path} is not a file GitHub sends in base64"
            )));
        }
        use base64::Engine as _;
        let packed: String = contents
            .content
            .unwrap_or_default()
            .chars()
            .filter(|c| !c.is_ascii_whitespace())
            .collect();
        if packed.len() > max_bytes.saturating_mul(4) / 3 + 4 {
            return Err(refuse(format!("{path} is larger than {max_bytes} bytes")));
        }
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(packed)
            .map_err(|e| refuse(format!("{path}: bad base64: {e}")))?;
        String::from_utf8(bytes)
            .map(Some)
            .map_err(|_| refuse(format!("{path} is not UTF-8 text")))
    }
}

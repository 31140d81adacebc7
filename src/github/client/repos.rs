//! Repository-level facts: what a user may do in it (who may press a check run's buttons).

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
}

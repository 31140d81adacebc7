//! Issue comments: where the sticky comment lives.

use serde::Deserialize;
use serde_json::json;

use super::transport::Verb;
use super::types::{IssueComment, Login};
use super::{GitHubApi, GitHubError, RepoId};

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

impl GitHubApi {
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
}

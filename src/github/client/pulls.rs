//! A pull request's facts, reviews and review comments.

use serde::Deserialize;

use super::transport::Verb;
use super::types::{Login, PullRequestInfo, Review, ReviewComment};
use super::{GitHubApi, GitHubError, RepoId};

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

impl GitHubApi {
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
}

//! GitHub Actions: a workflow run's artifacts, and downloading one.

use bytes::Bytes;
use serde::Deserialize;

use super::transport::Verb;
use super::types::Artifact;
use super::{GitHubApi, GitHubError, RepoId, MAX_ARTIFACT_BYTES};

#[derive(Deserialize)]
struct ArtifactPage {
    #[serde(default)]
    artifacts: Vec<Artifact>,
}

impl GitHubApi {
    pub async fn list_run_artifacts(
        &self,
        installation_id: u64,
        repo: RepoId<'_>,
        run_id: u64,
    ) -> Result<Vec<Artifact>, GitHubError> {
        let path = format!("{}/actions/runs/{run_id}/artifacts", repo.path());
        self.all_pages("artifacts.list", installation_id, &path, |v| {
            serde_json::from_value::<ArtifactPage>(v).map(|p| p.artifacts)
        })
        .await
    }

    /// The zip archive of an artifact, at most [`MAX_ARTIFACT_BYTES`]. GitHub answers with a
    /// redirect to a short-lived download URL, which is fetched without the installation token.
    pub async fn download_artifact(
        &self,
        installation_id: u64,
        repo: RepoId<'_>,
        artifact_id: u64,
    ) -> Result<Bytes, GitHubError> {
        let path = format!("{}/actions/artifacts/{artifact_id}/zip", repo.path());
        let route = "artifacts.download";
        let reply = self
            .call_limited(
                route,
                installation_id,
                Verb::Get,
                &path,
                None,
                MAX_ARTIFACT_BYTES,
            )
            .await?;
        if !reply.status.is_redirection() {
            return Ok(reply.body);
        }
        let location = reply
            .headers
            .get(http::header::LOCATION)
            .and_then(|l| l.to_str().ok())
            .ok_or_else(|| GitHubError::Decode {
                route,
                message: format!("{} without a Location header", reply.status),
            })?
            .to_string();
        let download = self
            .send(
                "artifacts.download_redirect",
                None,
                Verb::Get,
                &location,
                None,
                true,
                MAX_ARTIFACT_BYTES,
            )
            .await?;
        if download.status.is_success() {
            Ok(download.body)
        } else {
            Err(GitHubError::Status {
                route: "artifacts.download_redirect",
                status: download.status.as_u16(),
                message: "the download URL answered with a redirect".to_string(),
            })
        }
    }
}

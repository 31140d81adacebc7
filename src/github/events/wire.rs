//! The wire shapes of webhook payloads: every field optional, so that a missing one is a
//! reason to ignore the delivery, not a failure to read it.

use serde::Deserialize;

/// Just the action, read when the rest of the payload has an unexpected shape.
#[derive(Debug, Default, Deserialize)]
pub(super) struct ActionOnly {
    #[serde(default)]
    pub(super) action: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct Envelope {
    pub(super) action: Option<String>,
    pub(super) installation: Option<RawInstallation>,
    pub(super) repository: Option<RawRepo>,
    pub(super) number: Option<u64>,
    pub(super) pull_request: Option<RawPull>,
    pub(super) label: Option<RawLabel>,
    pub(super) review: Option<RawReview>,
    pub(super) check_run: Option<RawCheckRun>,
    pub(super) check_suite: Option<RawCheckSuite>,
    pub(super) requested_action: Option<RawRequestedAction>,
    pub(super) sender: Option<RawUser>,
    pub(super) repositories: Option<Vec<RawRepoName>>,
    pub(super) repositories_added: Option<Vec<RawRepoName>>,
    pub(super) repositories_removed: Option<Vec<RawRepoName>>,
    pub(super) workflow_run: Option<RawWorkflowRun>,
    pub(super) merge_group: Option<RawMergeGroup>,
    pub(super) deployment: Option<RawDeployment>,
    pub(super) deployment_status: Option<RawDeploymentStatus>,
    pub(super) issue: Option<RawIssue>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct RawInstallation {
    pub(super) id: Option<u64>,
    pub(super) account: Option<RawUser>,
    pub(super) target_type: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct RawUser {
    pub(super) login: Option<String>,
    pub(super) name: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct RawRepo {
    pub(super) id: Option<u64>,
    pub(super) name: Option<String>,
    pub(super) full_name: Option<String>,
    pub(super) owner: Option<RawUser>,
    pub(super) default_branch: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct RawRepoName {
    pub(super) full_name: Option<String>,
    pub(super) name: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct RawBranch {
    pub(super) sha: Option<String>,
    #[serde(rename = "ref")]
    pub(super) ref_name: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct RawLabel {
    pub(super) name: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct RawPull {
    pub(super) number: Option<u64>,
    pub(super) draft: Option<bool>,
    pub(super) created_at: Option<String>,
    pub(super) head: Option<RawBranch>,
    pub(super) base: Option<RawBranch>,
    pub(super) labels: Option<Vec<RawLabel>>,
    pub(super) user: Option<RawUser>,
    pub(super) title: Option<String>,
    pub(super) body: Option<String>,
    pub(super) merged: Option<bool>,
    pub(super) merged_at: Option<String>,
    pub(super) merge_commit_sha: Option<String>,
    pub(super) closed_at: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct RawDeployment {
    pub(super) id: Option<u64>,
    pub(super) sha: Option<String>,
    #[serde(rename = "ref")]
    pub(super) ref_name: Option<String>,
    pub(super) task: Option<String>,
    pub(super) environment: Option<String>,
    pub(super) description: Option<String>,
    pub(super) creator: Option<RawUser>,
    pub(super) created_at: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct RawDeploymentStatus {
    pub(super) id: Option<u64>,
    pub(super) state: Option<String>,
    pub(super) description: Option<String>,
    pub(super) creator: Option<RawUser>,
    pub(super) created_at: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct RawIssue {
    pub(super) number: Option<u64>,
    pub(super) title: Option<String>,
    pub(super) body: Option<String>,
    pub(super) labels: Option<Vec<RawLabel>>,
    pub(super) user: Option<RawUser>,
    pub(super) created_at: Option<String>,
    pub(super) closed_at: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct RawReview {
    pub(super) id: Option<u64>,
    pub(super) state: Option<String>,
    pub(super) commit_id: Option<String>,
    pub(super) user: Option<RawUser>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct RawPullNumber {
    pub(super) number: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct RawApp {
    pub(super) id: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct RawCheckRun {
    pub(super) id: Option<u64>,
    pub(super) head_sha: Option<String>,
    pub(super) name: Option<String>,
    pub(super) external_id: Option<String>,
    pub(super) app: Option<RawApp>,
    pub(super) pull_requests: Option<Vec<RawPullNumber>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct RawCheckSuite {
    pub(super) head_sha: Option<String>,
    pub(super) pull_requests: Option<Vec<RawPullNumber>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct RawRequestedAction {
    pub(super) identifier: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct RawWorkflowRun {
    pub(super) id: Option<u64>,
    pub(super) head_sha: Option<String>,
    pub(super) head_branch: Option<String>,
    pub(super) conclusion: Option<String>,
    pub(super) pull_requests: Option<Vec<RawPullNumber>>,
    pub(super) head_repository: Option<RawRepo>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct RawMergeGroup {
    pub(super) head_sha: Option<String>,
    pub(super) head_ref: Option<String>,
    pub(super) base_sha: Option<String>,
    pub(super) base_ref: Option<String>,
}

//! Webhook payloads, reduced to what the App acts on. Pure.
//!
//! Real deliveries vary: some carry no `installation`, bodies can be `null`, GitHub adds actions
//! over time. So only malformed JSON is an error ([`PayloadError`], answered with 400); a body
//! that is valid JSON but lacks something the App needs becomes [`Event::Ignored`] with the
//! reason (answered with 200). Parsing never panics.

use crate::labels::deployments::{Deployment, DeploymentStatus, PullRecord};
use serde::Deserialize;

#[derive(Debug, thiserror::Error)]
#[error("the webhook body is not valid JSON: {0}")]
pub struct PayloadError(#[from] serde_json::Error);

/// The repository an event is about. The payload's URLs (`clone_url` and the like) are not
/// kept: repositories are fetched from the configured git URL only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoRef {
    pub owner: String,
    pub name: String,
    /// `owner/name`.
    pub full_name: String,
    /// Empty when the payload does not say.
    pub default_branch: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Ping,
    /// opened, synchronize, reopened, ready_for_review, labeled, unlabeled.
    PullRequest {
        action: String,
        installation_id: Option<u64>,
        repo: RepoRef,
        number: u64,
        head_sha: String,
        head_ref: String,
        base_ref: String,
        base_sha: String,
        draft: bool,
        /// When the PR was opened (unix seconds), for time in review.
        opened_at: Option<i64>,
        labels: Vec<String>,
        author: String,
        /// For labeled/unlabeled: the label that was added or removed.
        changed_label: Option<String>,
    },
    /// submitted, dismissed.
    PullRequestReview {
        action: String,
        installation_id: Option<u64>,
        repo: RepoRef,
        number: u64,
        head_sha: String,
        base_ref: String,
        review_id: Option<u64>,
        reviewer: Option<String>,
        /// `approved`, `changes_requested`, `commented`, `dismissed` (as GitHub spells it).
        state: Option<String>,
    },
    /// rerequested, requested_action.
    CheckRun {
        action: String,
        installation_id: Option<u64>,
        repo: RepoRef,
        check_run_id: u64,
        head_sha: String,
        name: String,
        external_id: Option<String>,
        /// The App that owns the check run; compare with our own before acting.
        app_id: Option<u64>,
        pull_numbers: Vec<u64>,
        /// The `identifier` of the button pressed, for `requested_action`.
        requested_action: Option<String>,
        sender: String,
    },
    /// requested, rerequested.
    CheckSuite {
        action: String,
        installation_id: Option<u64>,
        repo: RepoRef,
        head_sha: String,
        pull_numbers: Vec<u64>,
    },
    /// Any action (created, deleted, suspend, unsuspend, new_permissions_accepted, …).
    Installation {
        action: String,
        installation_id: u64,
        account: String,
        target_type: String,
        /// `owner/name` of the repositories listed in the payload.
        repositories: Vec<String>,
    },
    /// added, removed.
    InstallationRepositories {
        action: String,
        installation_id: u64,
        added: Vec<String>,
        removed: Vec<String>,
    },
    /// completed (the only action after which a run's artifacts exist).
    WorkflowRun {
        action: String,
        installation_id: Option<u64>,
        repo: RepoRef,
        run_id: u64,
        head_sha: String,
        head_branch: Option<String>,
        conclusion: Option<String>,
        pull_numbers: Vec<u64>,
        /// `owner/name` of the repository the run's head commit came from.
        head_repository: Option<String>,
        /// The run's head came from this repository itself (not a fork). False when the payload
        /// does not say: a run of unknown origin must not speak for a branch of the repository.
        same_repository: bool,
    },
    /// `merge_group` checks_requested: the merge queue built a group and waits for its checks.
    MergeGroup {
        action: String,
        installation_id: Option<u64>,
        repo: RepoRef,
        /// The commit to check: the base with the group's pull requests merged in.
        head_sha: String,
        /// `refs/heads/gh-readonly-queue/<base>/…`, the ref the queue pushed `head_sha` to.
        head_ref: String,
        /// The group's parent commit, on the base branch.
        base_sha: String,
        /// `refs/heads/<base>`.
        base_ref: String,
    },
    /// `deployment` created, or `deployment_status` created (which carries its deployment).
    Deployment {
        installation_id: Option<u64>,
        repo: RepoRef,
        deployment: Deployment,
        status: Option<DeploymentStatus>,
    },
    /// `pull_request` closed, merged or not.
    PullRequestClosed {
        installation_id: Option<u64>,
        repo: RepoRef,
        pull: PullRecord,
    },
    /// `issues`, any action, for an issue carrying at least one label (incidents are labelled
    /// issues; which label is a setting of the worker).
    Issue {
        action: String,
        installation_id: Option<u64>,
        repo: RepoRef,
        number: u64,
        title: String,
        body: Option<String>,
        labels: Vec<String>,
        /// Unix milliseconds.
        created_at: i64,
        closed_at: Option<i64>,
        author: Option<String>,
    },
    /// Understood, and needs no work.
    Ignored {
        event: String,
        action: Option<String>,
        reason: String,
    },
}

impl Event {
    /// Whether the event needs no work (the server answers 200 rather than 202).
    pub fn is_ignored(&self) -> bool {
        matches!(self, Event::Ping | Event::Ignored { .. })
    }

    pub fn installation_id(&self) -> Option<u64> {
        match self {
            Event::PullRequest {
                installation_id, ..
            }
            | Event::PullRequestReview {
                installation_id, ..
            }
            | Event::CheckRun {
                installation_id, ..
            }
            | Event::CheckSuite {
                installation_id, ..
            }
            | Event::WorkflowRun {
                installation_id, ..
            }
            | Event::MergeGroup {
                installation_id, ..
            }
            | Event::Deployment {
                installation_id, ..
            }
            | Event::PullRequestClosed {
                installation_id, ..
            }
            | Event::Issue {
                installation_id, ..
            } => *installation_id,
            Event::Installation {
                installation_id, ..
            }
            | Event::InstallationRepositories {
                installation_id, ..
            } => Some(*installation_id),
            Event::Ping | Event::Ignored { .. } => None,
        }
    }
}

// --- the wire shapes: every field optional, so that a missing one is a reason, not a failure ---

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Envelope {
    action: Option<String>,
    installation: Option<RawInstallation>,
    repository: Option<RawRepo>,
    number: Option<u64>,
    pull_request: Option<RawPull>,
    label: Option<RawLabel>,
    review: Option<RawReview>,
    check_run: Option<RawCheckRun>,
    check_suite: Option<RawCheckSuite>,
    requested_action: Option<RawRequestedAction>,
    sender: Option<RawUser>,
    repositories: Option<Vec<RawRepoName>>,
    repositories_added: Option<Vec<RawRepoName>>,
    repositories_removed: Option<Vec<RawRepoName>>,
    workflow_run: Option<RawWorkflowRun>,
    merge_group: Option<RawMergeGroup>,
    deployment: Option<RawDeployment>,
    deployment_status: Option<RawDeploymentStatus>,
    issue: Option<RawIssue>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RawInstallation {
    id: Option<u64>,
    account: Option<RawUser>,
    target_type: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RawUser {
    login: Option<String>,
    name: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RawRepo {
    id: Option<u64>,
    name: Option<String>,
    full_name: Option<String>,
    owner: Option<RawUser>,
    default_branch: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RawRepoName {
    full_name: Option<String>,
    name: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RawBranch {
    sha: Option<String>,
    #[serde(rename = "ref")]
    ref_name: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RawLabel {
    name: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RawPull {
    number: Option<u64>,
    draft: Option<bool>,
    created_at: Option<String>,
    head: Option<RawBranch>,
    base: Option<RawBranch>,
    labels: Option<Vec<RawLabel>>,
    user: Option<RawUser>,
    title: Option<String>,
    body: Option<String>,
    merged: Option<bool>,
    merged_at: Option<String>,
    merge_commit_sha: Option<String>,
    closed_at: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RawDeployment {
    id: Option<u64>,
    sha: Option<String>,
    #[serde(rename = "ref")]
    ref_name: Option<String>,
    task: Option<String>,
    environment: Option<String>,
    description: Option<String>,
    creator: Option<RawUser>,
    created_at: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RawDeploymentStatus {
    id: Option<u64>,
    state: Option<String>,
    description: Option<String>,
    creator: Option<RawUser>,
    created_at: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RawIssue {
    number: Option<u64>,
    title: Option<String>,
    body: Option<String>,
    labels: Option<Vec<RawLabel>>,
    user: Option<RawUser>,
    created_at: Option<String>,
    closed_at: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RawReview {
    id: Option<u64>,
    state: Option<String>,
    commit_id: Option<String>,
    user: Option<RawUser>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RawPullNumber {
    number: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RawApp {
    id: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RawCheckRun {
    id: Option<u64>,
    head_sha: Option<String>,
    name: Option<String>,
    external_id: Option<String>,
    app: Option<RawApp>,
    pull_requests: Option<Vec<RawPullNumber>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RawCheckSuite {
    head_sha: Option<String>,
    pull_requests: Option<Vec<RawPullNumber>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RawRequestedAction {
    identifier: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RawWorkflowRun {
    id: Option<u64>,
    head_sha: Option<String>,
    head_branch: Option<String>,
    conclusion: Option<String>,
    pull_requests: Option<Vec<RawPullNumber>>,
    head_repository: Option<RawRepo>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RawMergeGroup {
    head_sha: Option<String>,
    head_ref: Option<String>,
    base_sha: Option<String>,
    base_ref: Option<String>,
}

/// Whether `full` is `refs/heads/<name>` with a name git accepts as a branch (the rules of
/// `git check-ref-format --branch`), so that it can go into a refspec as it is: no `:`, `*`,
/// `+` at the start, `..`, `@{`, control characters or spaces, no component starting with `.`
/// or `-` or ending with `.lock`.
pub fn is_branch_ref(full: &str) -> bool {
    let Some(name) = full.strip_prefix("refs/heads/") else {
        return false;
    };
    let forbidden = |c: char| {
        c.is_ascii_control() || matches!(c, ' ' | '~' | '^' | ':' | '?' | '*' | '[' | '\\')
    };
    name.len() <= 1024
        && name != "@"
        && !name.contains("..")
        && !name.contains("@{")
        && !name.chars().any(forbidden)
        && !name.ends_with('.')
        && name.split('/').all(|part| {
            !part.is_empty()
                && !part.starts_with('.')
                && !part.starts_with('-')
                && !part.ends_with(".lock")
        })
}

/// A full commit id (SHA-1 or SHA-256, lower-case hex).
pub fn is_commit_sha(s: &str) -> bool {
    matches!(s.len(), 40 | 64) && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// A field the App needs was absent; carries its JSON path for the `Ignored` reason.
struct Missing(&'static str);

fn need<T>(value: Option<T>, path: &'static str) -> Result<T, Missing> {
    value.ok_or(Missing(path))
}

fn need_str(value: Option<String>, path: &'static str) -> Result<String, Missing> {
    match value {
        Some(s) if !s.is_empty() => Ok(s),
        _ => Err(Missing(path)),
    }
}

fn repo_ref(raw: Option<RawRepo>) -> Result<RepoRef, Missing> {
    let raw = need(raw, "repository")?;
    let owner_login = raw.owner.and_then(|o| o.login.or(o.name));
    let (owner, name, full_name) = match (owner_login, raw.name, raw.full_name) {
        (_, _, Some(full))
            if full
                .split_once('/')
                .is_some_and(|(o, n)| !o.is_empty() && !n.is_empty()) =>
        {
            let (o, n) = full.split_once('/').expect("checked above");
            (o.to_string(), n.to_string(), full.clone())
        }
        (Some(o), Some(n), _) if !o.is_empty() && !n.is_empty() => {
            let full = format!("{o}/{n}");
            (o, n, full)
        }
        _ => return Err(Missing("repository.full_name")),
    };
    Ok(RepoRef {
        owner,
        name,
        full_name,
        default_branch: raw.default_branch.unwrap_or_default(),
    })
}

/// An RFC 3339 time as unix milliseconds.
fn time_ms(text: Option<&str>) -> Option<i64> {
    text.and_then(crate::time::parse_rfc3339_utc)
        .map(|secs| secs * 1000)
}

fn pull_numbers(raw: Option<Vec<RawPullNumber>>) -> Vec<u64> {
    raw.unwrap_or_default()
        .into_iter()
        .filter_map(|p| p.number)
        .collect()
}

fn repo_names(raw: Option<Vec<RawRepoName>>) -> Vec<String> {
    raw.unwrap_or_default()
        .into_iter()
        .filter_map(|r| r.full_name.or(r.name))
        .collect()
}

/// Parse one delivery. `event_name` is the `X-GitHub-Event` header.
pub fn parse_event(event_name: &str, body: &[u8]) -> Result<Event, PayloadError> {
    Ok(parse_event_value(event_name, serde_json::from_slice(body)?))
}

/// [`parse_event`] of a body already parsed, for a caller that reads other fields of it too.
pub fn parse_event_value(event_name: &str, value: serde_json::Value) -> Event {
    let ignored = |action: Option<String>, reason: String| Event::Ignored {
        event: event_name.to_string(),
        action,
        reason,
    };
    if !value.is_object() {
        return ignored(None, "the body is not a JSON object".to_string());
    }
    // A field of an unexpected type (say, a number where a string belongs) is not malformed
    // JSON; the delivery is acknowledged and skipped.
    let envelope: Envelope = match serde_json::from_value(value) {
        Ok(e) => e,
        Err(e) => return ignored(None, format!("unexpected payload shape: {e}")),
    };
    let action = envelope.action.clone();
    match interpret(event_name, envelope) {
        Ok(Some(event)) => event,
        Ok(None) => ignored(
            action.clone(),
            match &action {
                Some(a) => format!("no work for `{event_name}` action `{a}`"),
                None => format!("no work for `{event_name}`"),
            },
        ),
        Err(Missing(path)) => ignored(action, format!("the payload has no `{path}`")),
    }
}

/// `Ok(None)`: an event or action the App does not act on.
fn interpret(event_name: &str, e: Envelope) -> Result<Option<Event>, Missing> {
    let action = e.action.clone().unwrap_or_default();
    let installation_id = e.installation.as_ref().and_then(|i| i.id);
    let event = match event_name {
        "ping" => Event::Ping,
        "pull_request" if action == "closed" => {
            let pr = need(e.pull_request, "pull_request")?;
            let repo = repo_ref(e.repository)?;
            let merged_at = time_ms(pr.merged_at.as_deref());
            let merged = pr.merged.unwrap_or(merged_at.is_some());
            let title = pr.title.unwrap_or_default();
            let reverts_number =
                crate::labels::incidents::revert_target(&title, pr.body.as_deref());
            Event::PullRequestClosed {
                installation_id,
                pull: PullRecord {
                    repository: repo.full_name.clone(),
                    number: need(pr.number.or(e.number), "pull_request.number")? as i64,
                    title,
                    author: pr.user.and_then(|u| u.login),
                    head_sha: pr.head.and_then(|h| h.sha),
                    merge_commit_sha: pr.merge_commit_sha.filter(|_| merged),
                    merged_at: merged_at.filter(|_| merged),
                    closed_at: time_ms(pr.closed_at.as_deref()),
                    reverts_number,
                },
                repo,
            }
        }
        "deployment" | "deployment_status" => {
            if action != "created" {
                return Ok(None);
            }
            let repo = repo_ref(e.repository)?;
            let d = need(e.deployment, "deployment")?;
            let deployment = Deployment {
                id: need(d.id, "deployment.id")? as i64,
                repository: repo.full_name.clone(),
                environment: need_str(d.environment, "deployment.environment")?,
                sha: need_str(d.sha, "deployment.sha")?,
                ref_name: d.ref_name,
                task: d.task,
                description: d.description,
                creator: d.creator.and_then(|u| u.login),
                created_at: need(time_ms(d.created_at.as_deref()), "deployment.created_at")?,
            };
            let status = if event_name == "deployment_status" {
                let s = need(e.deployment_status, "deployment_status")?;
                Some(DeploymentStatus {
                    id: need(s.id, "deployment_status.id")? as i64,
                    deployment_id: deployment.id,
                    repository: repo.full_name.clone(),
                    state: need_str(s.state, "deployment_status.state")?,
                    creator: s.creator.and_then(|u| u.login),
                    description: s.description,
                    created_at: need(
                        time_ms(s.created_at.as_deref()),
                        "deployment_status.created_at",
                    )?,
                })
            } else {
                None
            };
            Event::Deployment {
                installation_id,
                repo,
                deployment,
                status,
            }
        }
        "issues" => {
            let issue = need(e.issue, "issue")?;
            let labels: Vec<String> = issue
                .labels
                .unwrap_or_default()
                .into_iter()
                .filter_map(|l| l.name)
                .collect();
            // Without a label an issue cannot be an incident; an unlabeled one may have stopped
            // being one, which the worker decides.
            if labels.is_empty() && action != "unlabeled" {
                return Ok(None);
            }
            Event::Issue {
                installation_id,
                repo: repo_ref(e.repository)?,
                number: need(issue.number, "issue.number")?,
                title: issue.title.unwrap_or_default(),
                body: issue.body,
                labels,
                created_at: need(time_ms(issue.created_at.as_deref()), "issue.created_at")?,
                closed_at: time_ms(issue.closed_at.as_deref()),
                author: issue.user.and_then(|u| u.login),
                action,
            }
        }
        "pull_request" => {
            if !matches!(
                action.as_str(),
                "opened"
                    | "synchronize"
                    | "reopened"
                    | "ready_for_review"
                    | "labeled"
                    | "unlabeled"
            ) {
                return Ok(None);
            }
            let pr = need(e.pull_request, "pull_request")?;
            let head = need(pr.head, "pull_request.head")?;
            let base = need(pr.base, "pull_request.base")?;
            Event::PullRequest {
                installation_id,
                repo: repo_ref(e.repository)?,
                number: need(pr.number.or(e.number), "pull_request.number")?,
                head_sha: need_str(head.sha, "pull_request.head.sha")?,
                head_ref: need_str(head.ref_name, "pull_request.head.ref")?,
                base_ref: need_str(base.ref_name, "pull_request.base.ref")?,
                base_sha: need_str(base.sha, "pull_request.base.sha")?,
                draft: pr.draft.unwrap_or(false),
                opened_at: pr
                    .created_at
                    .as_deref()
                    .and_then(crate::time::parse_rfc3339_utc),
                labels: pr
                    .labels
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|l| l.name)
                    .collect(),
                author: need_str(pr.user.and_then(|u| u.login), "pull_request.user.login")?,
                changed_label: e.label.and_then(|l| l.name),
                action,
            }
        }
        "pull_request_review" => {
            if !matches!(action.as_str(), "submitted" | "dismissed") {
                return Ok(None);
            }
            let pr = need(e.pull_request, "pull_request")?;
            let head = need(pr.head, "pull_request.head")?;
            let base = need(pr.base, "pull_request.base")?;
            let review = e.review.unwrap_or_default();
            Event::PullRequestReview {
                installation_id,
                repo: repo_ref(e.repository)?,
                number: need(pr.number.or(e.number), "pull_request.number")?,
                head_sha: need_str(head.sha, "pull_request.head.sha")?,
                base_ref: need_str(base.ref_name, "pull_request.base.ref")?,
                review_id: review.id,
                reviewer: review.user.and_then(|u| u.login),
                state: review.state,
                action,
            }
        }
        "check_run" => {
            if !matches!(action.as_str(), "rerequested" | "requested_action") {
                return Ok(None);
            }
            let run = need(e.check_run, "check_run")?;
            let requested_action = e.requested_action.and_then(|a| a.identifier);
            if action == "requested_action" && requested_action.is_none() {
                return Err(Missing("requested_action.identifier"));
            }
            Event::CheckRun {
                installation_id,
                repo: repo_ref(e.repository)?,
                check_run_id: need(run.id, "check_run.id")?,
                head_sha: need_str(run.head_sha, "check_run.head_sha")?,
                name: run.name.unwrap_or_default(),
                external_id: run.external_id.filter(|s| !s.is_empty()),
                app_id: run.app.and_then(|a| a.id),
                pull_numbers: pull_numbers(run.pull_requests),
                requested_action,
                sender: e.sender.and_then(|s| s.login).unwrap_or_default(),
                action,
            }
        }
        "check_suite" => {
            if !matches!(action.as_str(), "requested" | "rerequested") {
                return Ok(None);
            }
            let suite = need(e.check_suite, "check_suite")?;
            Event::CheckSuite {
                installation_id,
                repo: repo_ref(e.repository)?,
                head_sha: need_str(suite.head_sha, "check_suite.head_sha")?,
                pull_numbers: pull_numbers(suite.pull_requests),
                action,
            }
        }
        "installation" => {
            if action.is_empty() {
                return Err(Missing("action"));
            }
            let inst = need(e.installation, "installation")?;
            Event::Installation {
                installation_id: need(inst.id, "installation.id")?,
                account: inst.account.and_then(|a| a.login).unwrap_or_default(),
                target_type: inst.target_type.unwrap_or_default(),
                repositories: repo_names(e.repositories),
                action,
            }
        }
        "installation_repositories" => {
            if !matches!(action.as_str(), "added" | "removed") {
                return Ok(None);
            }
            Event::InstallationRepositories {
                installation_id: need(installation_id, "installation.id")?,
                added: repo_names(e.repositories_added),
                removed: repo_names(e.repositories_removed),
                action,
            }
        }
        "merge_group" => {
            // `destroyed` (merged, dequeued, invalidated) needs no answer.
            if action != "checks_requested" {
                return Ok(None);
            }
            let group = need(e.merge_group, "merge_group")?;
            let head_sha = need_str(group.head_sha, "merge_group.head_sha")?;
            let head_ref = need_str(group.head_ref, "merge_group.head_ref")?;
            let base_sha = need_str(group.base_sha, "merge_group.base_sha")?;
            let base_ref = need_str(group.base_ref, "merge_group.base_ref")?;
            // These go to git as refspecs and revisions: anything but plain refs and commit
            // ids is refused here.
            let unusable = [
                ("merge_group.head_sha", is_commit_sha(&head_sha)),
                ("merge_group.base_sha", is_commit_sha(&base_sha)),
                ("merge_group.head_ref", is_branch_ref(&head_ref)),
                ("merge_group.base_ref", is_branch_ref(&base_ref)),
            ]
            .into_iter()
            .find(|(_, ok)| !ok);
            if let Some((field, _)) = unusable {
                return Ok(Some(Event::Ignored {
                    event: event_name.to_string(),
                    action: Some(action),
                    reason: format!("`{field}` is not a plain branch ref or commit id"),
                }));
            }
            Event::MergeGroup {
                installation_id,
                repo: repo_ref(e.repository)?,
                head_sha,
                head_ref,
                base_sha,
                base_ref,
                action,
            }
        }
        "workflow_run" => {
            if action != "completed" {
                return Ok(None);
            }
            let run = need(e.workflow_run, "workflow_run")?;
            let repo_id = e.repository.as_ref().and_then(|r| r.id);
            let repo = repo_ref(e.repository)?;
            let head_repo_id = run.head_repository.as_ref().and_then(|r| r.id);
            let head_repository = run.head_repository.and_then(|r| {
                r.full_name
                    .or_else(|| Some(format!("{}/{}", r.owner?.login?, r.name?)))
                    .filter(|n| !n.is_empty())
            });
            // Ids survive renames; names are the fallback when a payload lacks them.
            let same_repository = match (repo_id, head_repo_id, &head_repository) {
                (Some(id), Some(head_id), _) => id == head_id,
                (_, _, Some(head)) => head.eq_ignore_ascii_case(&repo.full_name),
                (_, _, None) => false,
            };
            Event::WorkflowRun {
                installation_id,
                repo,
                run_id: need(run.id, "workflow_run.id")?,
                head_sha: need_str(run.head_sha, "workflow_run.head_sha")?,
                head_branch: run.head_branch,
                conclusion: run.conclusion,
                pull_numbers: pull_numbers(run.pull_requests),
                head_repository,
                same_repository,
                action,
            }
        }
        _ => return Ok(None),
    };
    Ok(Some(event))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ping_is_understood() {
        let e = parse_event(
            "ping",
            br#"{"zen":"Keep it logically awesome.","hook_id":1}"#,
        )
        .unwrap();
        assert_eq!(e, Event::Ping);
        assert!(e.is_ignored());
    }

    #[test]
    fn null_body_and_empty_object_are_ignored() {
        for body in [&b"null"[..], b"{}", b"[]", b"42", b"\"x\""] {
            for event in ["pull_request", "check_run", "installation", "ping-ish"] {
                let e = parse_event(event, body).unwrap();
                assert!(
                    matches!(e, Event::Ignored { .. }),
                    "{event} {body:?}: {e:?}"
                );
            }
        }
    }

    #[test]
    fn malformed_json_is_an_error() {
        assert!(parse_event("pull_request", b"{\"action\": ").is_err());
        assert!(parse_event("pull_request", b"").is_err());
        assert!(parse_event("pull_request", b"not json").is_err());
    }

    #[test]
    fn wrong_types_are_ignored_not_a_panic() {
        let body = br#"{"action":"opened","pull_request":{"number":"two"}}"#;
        let e = parse_event("pull_request", body).unwrap();
        match e {
            Event::Ignored { reason, .. } => assert!(reason.contains("shape"), "{reason}"),
            other => panic!("{other:?}"),
        }
        let body = br#"{"action":7}"#;
        assert!(matches!(
            parse_event("pull_request", body).unwrap(),
            Event::Ignored { .. }
        ));
    }

    #[test]
    fn missing_fields_name_the_field() {
        let body = br#"{"action":"opened","pull_request":{"number":3,"head":{"sha":"a","ref":"x"},"base":{"sha":"b","ref":"main"},"user":{"login":"u"}}}"#;
        match parse_event("pull_request", body).unwrap() {
            Event::Ignored { reason, action, .. } => {
                assert_eq!(action.as_deref(), Some("opened"));
                assert!(reason.contains("repository"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn unknown_actions_and_events_are_ignored() {
        let body = br#"{"action":"closed"}"#;
        match parse_event("pull_request", body).unwrap() {
            Event::Ignored { action, .. } => assert_eq!(action.as_deref(), Some("closed")),
            other => panic!("{other:?}"),
        }
        assert!(parse_event("star", br#"{"action":"created"}"#)
            .unwrap()
            .is_ignored());
    }

    const REPO: &str = r#""repository":{"full_name":"o/r","clone_url":"file:///tmp/r.git"}"#;

    #[test]
    fn deployment_status_carries_its_deployment() {
        let body = format!(
            r#"{{"action":"created",{REPO},"installation":{{"id":3}},
            "deployment":{{"id":11,"sha":"abc","ref":"main","task":"deploy","environment":"production",
              "creator":{{"login":"bot"}},"created_at":"2026-11-02T10:00:00Z","payload":"x"}},
            "deployment_status":{{"id":99,"state":"success","creator":{{"login":"ci"}},
              "created_at":"2026-11-02T10:05:00Z"}}}}"#
        );
        match parse_event("deployment_status", body.as_bytes()).unwrap() {
            Event::Deployment {
                deployment, status, ..
            } => {
                assert_eq!(deployment.id, 11);
                assert_eq!(deployment.environment, "production");
                assert_eq!(deployment.created_at, 1_793_613_600_000);
                let status = status.unwrap();
                assert_eq!((status.id, status.deployment_id), (99, 11));
                assert_eq!(status.created_at - deployment.created_at, 5 * 60_000);
            }
            other => panic!("{other:?}"),
        }
        let no_env = body.replace(r#""environment":"production","#, "");
        match parse_event("deployment", no_env.as_bytes()).unwrap() {
            Event::Ignored { reason, .. } => {
                assert!(reason.contains("deployment.environment"), "{reason}")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn merged_revert_names_what_it_reverts() {
        let body = format!(
            r#"{{"action":"closed","number":8,{REPO},
            "pull_request":{{"number":8,"title":"Revert \"Add cache\"","body":"Reverts o/r#5",
              "merged":true,"merged_at":"2026-11-02T10:00:00Z","closed_at":"2026-11-02T10:00:00Z",
              "merge_commit_sha":"feed","user":{{"login":"carol"}},"head":{{"sha":"beef"}}}}}}"#
        );
        match parse_event("pull_request", body.as_bytes()).unwrap() {
            Event::PullRequestClosed { pull, .. } => {
                assert_eq!(pull.number, 8);
                assert_eq!(pull.reverts_number, Some(5));
                assert_eq!(pull.merged_at, Some(1_793_613_600_000));
                assert_eq!(pull.merge_commit_sha.as_deref(), Some("feed"));
            }
            other => panic!("{other:?}"),
        }
        let unmerged = body.replace(r#""merged":true"#, r#""merged":false"#);
        match parse_event("pull_request", unmerged.as_bytes()).unwrap() {
            Event::PullRequestClosed { pull, .. } => {
                assert_eq!(pull.merged_at, None);
                assert_eq!(pull.merge_commit_sha, None);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn only_labelled_issues_are_candidates() {
        let issue = |labels: &str| {
            format!(
                r#"{{"action":"opened",{REPO},"issue":{{"number":4,"title":"Down","labels":{labels},
                "created_at":"2026-11-02T10:00:00Z"}}}}"#
            )
        };
        assert!(parse_event("issues", issue("[]").as_bytes())
            .unwrap()
            .is_ignored());
        match parse_event("issues", issue(r#"[{"name":"incident"}]"#).as_bytes()).unwrap() {
            Event::Issue { number, labels, .. } => {
                assert_eq!(number, 4);
                assert_eq!(labels, vec!["incident".to_string()]);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_workflow_run_knows_whether_its_head_came_from_a_fork() {
        let run = |head_repository: &str| {
            let body = format!(
                r#"{{"action":"completed","repository":{{"id":10,"full_name":"o/r","clone_url":"file:///tmp/r.git"}},
                "workflow_run":{{"id":9,"head_sha":"abc","head_branch":"main","conclusion":"success",
                  "pull_requests":[]{head_repository}}}}}"#
            );
            match parse_event("workflow_run", body.as_bytes()).unwrap() {
                Event::WorkflowRun {
                    head_repository,
                    same_repository,
                    ..
                } => (head_repository, same_repository),
                other => panic!("{other:?}"),
            }
        };
        let own = run(r#","head_repository":{"id":10,"full_name":"o/r"}"#);
        assert_eq!(own, (Some("o/r".to_string()), true));
        let fork = run(r#","head_repository":{"id":11,"full_name":"mallory/r"}"#);
        assert_eq!(fork, (Some("mallory/r".to_string()), false));
        // The id decides: a fork cannot pass for the repository by its name.
        let named_alike = run(r#","head_repository":{"id":11,"full_name":"o/r"}"#);
        assert!(!named_alike.1);
        // Without ids, the names decide.
        let by_name = run(r#","head_repository":{"name":"r","owner":{"login":"O"}}"#);
        assert_eq!(by_name, (Some("O/r".to_string()), true));
        let unknown = run("");
        assert_eq!(
            unknown,
            (None, false),
            "a run of unknown origin is not trusted"
        );
        let null = run(r#","head_repository":null"#);
        assert_eq!(null, (None, false));
    }

    #[test]
    fn merge_group_checks_requested_is_read_from_the_fixture() {
        let body = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/fixtures/github/merge_group.checks_requested.json"
        ))
        .unwrap();
        match parse_event("merge_group", &body).unwrap() {
            Event::MergeGroup {
                action,
                installation_id,
                repo,
                head_sha,
                head_ref,
                base_sha,
                base_ref,
            } => {
                assert_eq!(action, "checks_requested");
                assert_eq!(installation_id, Some(1));
                assert_eq!(repo.full_name, "Codertocat/Hello-World");
                assert!(is_commit_sha(&head_sha) && is_commit_sha(&base_sha));
                assert!(head_ref.starts_with("refs/heads/gh-readonly-queue/main/pr-2-"));
                assert_eq!(base_ref, "refs/heads/main");
            }
            other => panic!("{other:?}"),
        }
        let mut destroyed: serde_json::Value = serde_json::from_slice(&body).unwrap();
        destroyed["action"] = "destroyed".into();
        destroyed["reason"] = "merged".into();
        let destroyed = serde_json::to_vec(&destroyed).unwrap();
        assert!(parse_event("merge_group", &destroyed).unwrap().is_ignored());
    }

    #[test]
    fn merge_group_refs_and_shas_must_be_plain() {
        let body = |head_ref: &str, head_sha: &str| {
            serde_json::json!({
                "action": "checks_requested",
                "repository": {"full_name": "o/r", "clone_url": "file:///tmp/r.git"},
                "merge_group": {"head_ref": head_ref, "head_sha": head_sha,
                                "base_ref": "refs/heads/main", "base_sha": "b".repeat(40)},
            })
            .to_string()
        };
        let sha = "a".repeat(40);
        let good = body("refs/heads/gh-readonly-queue/main/pr-2-abc", &sha);
        assert!(matches!(
            parse_event("merge_group", good.as_bytes()).unwrap(),
            Event::MergeGroup { .. }
        ));
        for (head_ref, head_sha) in [
            ("--upload-pack=touch /tmp/x", sha.as_str()),
            ("refs/heads/a:refs/heads/b", &sha),
            ("refs/heads/*", &sha),
            ("refs/heads/x/../../y", &sha),
            ("refs/tags/v1", &sha),
            ("refs/heads/-rf", &sha),
            ("refs/heads/ok", "HEAD~1"),
            ("refs/heads/ok", "--all"),
        ] {
            match parse_event("merge_group", body(head_ref, head_sha).as_bytes()).unwrap() {
                Event::Ignored { reason, .. } => {
                    assert!(reason.contains("merge_group.head_"), "{reason}")
                }
                other => panic!("{head_ref} {head_sha}: {other:?}"),
            }
        }
    }

    #[test]
    fn branch_refs() {
        for ok in [
            "refs/heads/main",
            "refs/heads/gh-readonly-queue/main/pr-12-0123abc",
            "refs/heads/feature/ünïcode",
            "refs/heads/a.b-c_d",
        ] {
            assert!(is_branch_ref(ok), "{ok}");
        }
        for bad in [
            "main",
            "refs/heads/",
            "refs/heads/a//b",
            "refs/heads/.hidden",
            "refs/heads/a.lock",
            "refs/heads/a.",
            "refs/heads/a b",
            "refs/heads/a@{1}",
            "refs/heads/a\\b",
            "refs/heads/a\nb",
            "refs/heads/@",
        ] {
            assert!(!is_branch_ref(bad), "{bad:?}");
        }
    }

    #[test]
    fn repository_without_full_name_uses_owner_and_name() {
        let body = br#"{"action":"completed","workflow_run":{"id":9,"head_sha":"abc","pull_requests":[{"number":4}]},
            "repository":{"name":"r","owner":{"login":"o"},"clone_url":"file:///tmp/r.git"}}"#;
        match parse_event("workflow_run", body).unwrap() {
            Event::WorkflowRun {
                repo,
                run_id,
                pull_numbers,
                installation_id,
                ..
            } => {
                assert_eq!(repo.full_name, "o/r");
                assert_eq!(run_id, 9);
                assert_eq!(pull_numbers, vec![4]);
                assert_eq!(installation_id, None);
            }
            other => panic!("{other:?}"),
        }
    }
}

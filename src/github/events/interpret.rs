//! From the wire shapes to an [`Event`]: one function per webhook event, each saying what it
//! needs and which actions it acts on.

use super::refs::{is_branch_ref, is_commit_sha};
use super::wire::{Envelope, RawPullNumber, RawRepo, RawRepoName};
use super::{Event, RepoRef};
use crate::input::without_nul;
use crate::labels::deployments::{Deployment, DeploymentStatus, PullRecord};

/// Why an event is not read, with the JSON path of the field for the `Ignored` reason.
pub(super) enum Unread {
    /// A field the App needs is absent.
    Missing(&'static str),
    /// A field holds what GitHub never sends there (the field, what it would be): the App
    /// would store it, and index it, as it came.
    Unlike(&'static str, &'static str),
}
use Unread::{Missing, Unlike};

fn need<T>(value: Option<T>, path: &'static str) -> Result<T, Unread> {
    value.ok_or(Missing(path))
}

fn need_str(value: Option<String>, path: &'static str) -> Result<String, Unread> {
    match value {
        Some(s) if !s.is_empty() => Ok(s),
        _ => Err(Missing(path)),
    }
}

fn repo_ref(raw: Option<RawRepo>) -> Result<RepoRef, Unread> {
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
    if crate::names::split_full_name(&full_name).is_none() {
        return Err(Unlike(
            "repository.full_name",
            "an owner/name as GitHub names repositories",
        ));
    }
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

/// Text of the payload that the App stores (titles, names, descriptions), with no NUL
/// character ([`without_nul`]): a delivery is recorded whatever its text holds.
fn text(value: Option<String>) -> Option<String> {
    value.map(without_nul)
}

fn repo_names(raw: Option<Vec<RawRepoName>>) -> Vec<String> {
    raw.unwrap_or_default()
        .into_iter()
        .filter_map(|r| r.full_name.or(r.name))
        .collect()
}

/// What one event's reading gives: `Ok(None)` for an action the App does not act on.
type Read = Result<Option<Event>, Unread>;

/// The events [`interpret`] reads; a delivery of any other needs no work.
pub static EVENTS_READ: [&str; 12] = [
    "ping",
    "pull_request",
    "deployment",
    "deployment_status",
    "issues",
    "pull_request_review",
    "check_run",
    "check_suite",
    "installation",
    "installation_repositories",
    "merge_group",
    "workflow_run",
];

/// `Ok(None)`: an event or action the App does not act on.
pub(super) fn interpret(event_name: &str, e: Envelope) -> Read {
    let action = e.action.clone().unwrap_or_default();
    let installation_id = e.installation.as_ref().and_then(|i| i.id);
    match event_name {
        "ping" => Ok(Some(Event::Ping)),
        "pull_request" if action == "closed" => pull_request_closed(e, installation_id),
        "deployment" | "deployment_status" => deployment(event_name, e, action, installation_id),
        "issues" => issue(e, action, installation_id),
        "pull_request" => pull_request(e, action, installation_id),
        "pull_request_review" => pull_request_review(e, action, installation_id),
        "check_run" => check_run(e, action, installation_id),
        "check_suite" => check_suite(e, action, installation_id),
        "installation" => installation(e, action),
        "installation_repositories" => installation_repositories(e, action, installation_id),
        "merge_group" => merge_group(event_name, e, action, installation_id),
        "workflow_run" => workflow_run(e, action, installation_id),
        _ => Ok(None),
    }
}

fn pull_request_closed(e: Envelope, installation_id: Option<u64>) -> Read {
    let pr = need(e.pull_request, "pull_request")?;
    let repo = repo_ref(e.repository)?;
    let merged_at = time_ms(pr.merged_at.as_deref());
    let merged = pr.merged.unwrap_or(merged_at.is_some());
    let title = without_nul(pr.title.unwrap_or_default());
    let reverts_number = crate::labels::incidents::revert_target(&title, pr.body.as_deref());
    Ok(Some(Event::PullRequestClosed {
        installation_id,
        pull: PullRecord {
            repository: repo.full_name.clone(),
            number: need(pr.number.or(e.number), "pull_request.number")? as i64,
            title,
            author: text(pr.user.and_then(|u| u.login)),
            head_sha: text(pr.head.and_then(|h| h.sha)),
            merge_commit_sha: text(pr.merge_commit_sha.filter(|_| merged)),
            merged_at: merged_at.filter(|_| merged),
            closed_at: time_ms(pr.closed_at.as_deref()),
            reverts_number,
        },
        repo,
    }))
}

/// The longest environment name GitHub allows; a longer one would be stored and indexed as it
/// came.
const MAX_ENVIRONMENT_CHARS: usize = 255;

fn deployment(event_name: &str, e: Envelope, action: String, installation_id: Option<u64>) -> Read {
    if action != "created" {
        return Ok(None);
    }
    let repo = repo_ref(e.repository)?;
    let d = need(e.deployment, "deployment")?;
    let environment = without_nul(need_str(d.environment, "deployment.environment")?);
    if environment.chars().count() > MAX_ENVIRONMENT_CHARS {
        return Err(Unlike(
            "deployment.environment",
            "an environment name of at most 255 characters",
        ));
    }
    let deployment = Deployment {
        id: need(d.id, "deployment.id")? as i64,
        repository: repo.full_name.clone(),
        environment,
        sha: without_nul(need_str(d.sha, "deployment.sha")?),
        ref_name: text(d.ref_name),
        task: text(d.task),
        description: text(d.description),
        creator: text(d.creator.and_then(|u| u.login)),
        created_at: need(time_ms(d.created_at.as_deref()), "deployment.created_at")?,
    };
    let status = if event_name == "deployment_status" {
        let s = need(e.deployment_status, "deployment_status")?;
        Some(DeploymentStatus {
            id: need(s.id, "deployment_status.id")? as i64,
            deployment_id: deployment.id,
            repository: repo.full_name.clone(),
            state: without_nul(need_str(s.state, "deployment_status.state")?),
            creator: text(s.creator.and_then(|u| u.login)),
            description: text(s.description),
            created_at: need(
                time_ms(s.created_at.as_deref()),
                "deployment_status.created_at",
            )?,
        })
    } else {
        None
    };
    Ok(Some(Event::Deployment {
        installation_id,
        repo,
        deployment,
        status,
    }))
}

fn issue(e: Envelope, action: String, installation_id: Option<u64>) -> Read {
    let issue = need(e.issue, "issue")?;
    let labels: Vec<String> = issue
        .labels
        .unwrap_or_default()
        .into_iter()
        .filter_map(|l| l.name)
        .map(without_nul)
        .collect();
    // Without a label an issue cannot be an incident; an unlabeled one may have stopped
    // being one, which the worker decides.
    if labels.is_empty() && action != "unlabeled" {
        return Ok(None);
    }
    Ok(Some(Event::Issue {
        installation_id,
        repo: repo_ref(e.repository)?,
        number: need(issue.number, "issue.number")?,
        title: without_nul(issue.title.unwrap_or_default()),
        body: text(issue.body),
        labels,
        created_at: need(time_ms(issue.created_at.as_deref()), "issue.created_at")?,
        closed_at: time_ms(issue.closed_at.as_deref()),
        author: text(issue.user.and_then(|u| u.login)),
        action,
    }))
}

/// A plain branch name as a pull request gives it (`main`, not `refs/heads/main`).
fn is_branch_name(name: &str) -> bool {
    is_branch_ref(&format!("refs/heads/{name}"))
}

/// The event ignored for the first of `fields` (name, whether it is plain) that is not a
/// plain commit id or branch: these go to git as revisions and refspecs, and no signature
/// makes a revision expression or an option one.
fn first_unusable(event_name: &str, action: &str, fields: &[(&str, bool)]) -> Option<Event> {
    let (field, _) = fields.iter().find(|(_, plain)| !plain)?;
    Some(Event::Ignored {
        event: event_name.to_string(),
        action: Some(action.to_string()),
        reason: format!("`{field}` is not a plain branch ref or commit id"),
    })
}

fn pull_request(e: Envelope, action: String, installation_id: Option<u64>) -> Read {
    if !matches!(
        action.as_str(),
        "opened" | "synchronize" | "reopened" | "ready_for_review" | "labeled" | "unlabeled"
    ) {
        return Ok(None);
    }
    let pr = need(e.pull_request, "pull_request")?;
    let head = need(pr.head, "pull_request.head")?;
    let base = need(pr.base, "pull_request.base")?;
    let head_sha = need_str(head.sha, "pull_request.head.sha")?;
    let head_ref = need_str(head.ref_name, "pull_request.head.ref")?;
    let base_ref = need_str(base.ref_name, "pull_request.base.ref")?;
    let base_sha = need_str(base.sha, "pull_request.base.sha")?;
    let fields = [
        ("pull_request.head.sha", is_commit_sha(&head_sha)),
        ("pull_request.base.sha", is_commit_sha(&base_sha)),
        ("pull_request.head.ref", is_branch_name(&head_ref)),
        ("pull_request.base.ref", is_branch_name(&base_ref)),
    ];
    if let Some(ignored) = first_unusable("pull_request", &action, &fields) {
        return Ok(Some(ignored));
    }
    Ok(Some(Event::PullRequest {
        installation_id,
        repo: repo_ref(e.repository)?,
        number: need(pr.number.or(e.number), "pull_request.number")?,
        head_sha,
        head_ref,
        base_ref,
        base_sha,
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
    }))
}

fn pull_request_review(e: Envelope, action: String, installation_id: Option<u64>) -> Read {
    if !matches!(action.as_str(), "submitted" | "dismissed") {
        return Ok(None);
    }
    let pr = need(e.pull_request, "pull_request")?;
    let head = need(pr.head, "pull_request.head")?;
    let base = need(pr.base, "pull_request.base")?;
    let review = e.review.unwrap_or_default();
    let head_sha = need_str(head.sha, "pull_request.head.sha")?;
    let base_ref = need_str(base.ref_name, "pull_request.base.ref")?;
    let fields = [
        ("pull_request.head.sha", is_commit_sha(&head_sha)),
        ("pull_request.base.ref", is_branch_name(&base_ref)),
    ];
    if let Some(ignored) = first_unusable("pull_request_review", &action, &fields) {
        return Ok(Some(ignored));
    }
    Ok(Some(Event::PullRequestReview {
        installation_id,
        repo: repo_ref(e.repository)?,
        number: need(pr.number.or(e.number), "pull_request.number")?,
        head_sha,
        base_ref,
        review_id: review.id,
        reviewer: review.user.and_then(|u| u.login),
        state: review.state,
        action,
    }))
}

fn check_run(e: Envelope, action: String, installation_id: Option<u64>) -> Read {
    if !matches!(action.as_str(), "rerequested" | "requested_action") {
        return Ok(None);
    }
    let run = need(e.check_run, "check_run")?;
    let requested_action = e.requested_action.and_then(|a| a.identifier);
    if action == "requested_action" && requested_action.is_none() {
        return Err(Missing("requested_action.identifier"));
    }
    let head_sha = need_str(run.head_sha, "check_run.head_sha")?;
    let fields = [("check_run.head_sha", is_commit_sha(&head_sha))];
    if let Some(ignored) = first_unusable("check_run", &action, &fields) {
        return Ok(Some(ignored));
    }
    Ok(Some(Event::CheckRun {
        installation_id,
        repo: repo_ref(e.repository)?,
        check_run_id: need(run.id, "check_run.id")?,
        head_sha,
        name: run.name.unwrap_or_default(),
        external_id: run.external_id.filter(|s| !s.is_empty()),
        app_id: run.app.and_then(|a| a.id),
        pull_numbers: pull_numbers(run.pull_requests),
        requested_action,
        sender: without_nul(e.sender.and_then(|s| s.login).unwrap_or_default()),
        action,
    }))
}

fn check_suite(e: Envelope, action: String, installation_id: Option<u64>) -> Read {
    if !matches!(action.as_str(), "requested" | "rerequested") {
        return Ok(None);
    }
    let suite = need(e.check_suite, "check_suite")?;
    let head_sha = need_str(suite.head_sha, "check_suite.head_sha")?;
    let fields = [("check_suite.head_sha", is_commit_sha(&head_sha))];
    if let Some(ignored) = first_unusable("check_suite", &action, &fields) {
        return Ok(Some(ignored));
    }
    Ok(Some(Event::CheckSuite {
        installation_id,
        repo: repo_ref(e.repository)?,
        head_sha,
        pull_numbers: pull_numbers(suite.pull_requests),
        action,
    }))
}

fn installation(e: Envelope, action: String) -> Read {
    if action.is_empty() {
        return Err(Missing("action"));
    }
    let inst = need(e.installation, "installation")?;
    Ok(Some(Event::Installation {
        installation_id: need(inst.id, "installation.id")?,
        account: without_nul(inst.account.and_then(|a| a.login).unwrap_or_default()),
        target_type: without_nul(inst.target_type.unwrap_or_default()),
        repositories: repo_names(e.repositories),
        action,
    }))
}

fn installation_repositories(e: Envelope, action: String, installation_id: Option<u64>) -> Read {
    if !matches!(action.as_str(), "added" | "removed") {
        return Ok(None);
    }
    let installation = e.installation.unwrap_or_default();
    Ok(Some(Event::InstallationRepositories {
        installation_id: need(installation_id, "installation.id")?,
        account: without_nul(
            installation
                .account
                .and_then(|a| a.login)
                .unwrap_or_default(),
        ),
        target_type: without_nul(installation.target_type.unwrap_or_default()),
        added: repo_names(e.repositories_added),
        removed: repo_names(e.repositories_removed),
        action,
    }))
}

fn merge_group(
    event_name: &str,
    e: Envelope,
    action: String,
    installation_id: Option<u64>,
) -> Read {
    // `destroyed` (merged, dequeued, invalidated) needs no answer.
    if action != "checks_requested" {
        return Ok(None);
    }
    let group = need(e.merge_group, "merge_group")?;
    let head_sha = need_str(group.head_sha, "merge_group.head_sha")?;
    let head_ref = need_str(group.head_ref, "merge_group.head_ref")?;
    let base_sha = need_str(group.base_sha, "merge_group.base_sha")?;
    let base_ref = need_str(group.base_ref, "merge_group.base_ref")?;
    let fields = [
        ("merge_group.head_sha", is_commit_sha(&head_sha)),
        ("merge_group.base_sha", is_commit_sha(&base_sha)),
        ("merge_group.head_ref", is_branch_ref(&head_ref)),
        ("merge_group.base_ref", is_branch_ref(&base_ref)),
    ];
    if let Some(ignored) = first_unusable(event_name, &action, &fields) {
        return Ok(Some(ignored));
    }
    Ok(Some(Event::MergeGroup {
        installation_id,
        repo: repo_ref(e.repository)?,
        head_sha,
        head_ref,
        base_sha,
        base_ref,
        action,
    }))
}

fn workflow_run(e: Envelope, action: String, installation_id: Option<u64>) -> Read {
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
            .filter(|n| crate::names::split_full_name(n).is_some())
    });
    // Ids survive renames; names are the fallback when a payload lacks them.
    let same_repository = match (repo_id, head_repo_id, &head_repository) {
        (Some(id), Some(head_id), _) => id == head_id,
        (_, _, Some(head)) => head.eq_ignore_ascii_case(&repo.full_name),
        (_, _, None) => false,
    };
    let head_sha = need_str(run.head_sha, "workflow_run.head_sha")?;
    let fields = [("workflow_run.head_sha", is_commit_sha(&head_sha))];
    if let Some(ignored) = first_unusable("workflow_run", &action, &fields) {
        return Ok(Some(ignored));
    }
    Ok(Some(Event::WorkflowRun {
        installation_id,
        repo,
        run_id: need(run.id, "workflow_run.id")?,
        head_sha,
        // Not a branch git would make: the report serves only its commit.
        head_branch: run.head_branch.filter(|b| is_branch_name(b)),
        conclusion: run.conclusion,
        pull_numbers: pull_numbers(run.pull_requests),
        head_repository,
        same_repository,
        action,
    }))
}

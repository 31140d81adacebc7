//! Webhook payloads, reduced to what the App acts on. Pure.
//!
//! Real deliveries vary: some carry no `installation`, bodies can be `null`, GitHub adds actions
//! over time. So only malformed JSON is an error ([`PayloadError`], answered with 400); a body
//! that is valid JSON but lacks something the App needs becomes [`Event::Ignored`] with the
//! reason (answered with 200). Parsing never panics.

use crate::labels::deployments::{Deployment, DeploymentStatus, PullRecord};
use serde::Deserialize;

mod interpret;
mod refs;
#[cfg(test)]
mod tests;
mod wire;

pub use interpret::EVENTS_READ;
use interpret::{interpret, Unread};
pub use refs::{is_branch_ref, is_commit_sha};
use wire::{ActionOnly, Envelope};

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
        /// The installation's account and its type, as `installation` gives them: what the
        /// App records of an installation it has not heard of.
        account: String,
        target_type: String,
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

    /// The delivery's `action` as the payload gave it, `None` where it gave none, so that the
    /// intake need not read the body a second time to store it.
    pub fn action(&self) -> Option<&str> {
        match self {
            Event::Ping => None,
            // Only these actions are read as these events.
            Event::Deployment { .. } => Some("created"),
            Event::PullRequestClosed { .. } => Some("closed"),
            Event::Ignored { action, .. } => action.as_deref(),
            Event::PullRequest { action, .. }
            | Event::PullRequestReview { action, .. }
            | Event::CheckRun { action, .. }
            | Event::CheckSuite { action, .. }
            | Event::Installation { action, .. }
            | Event::InstallationRepositories { action, .. }
            | Event::WorkflowRun { action, .. }
            | Event::MergeGroup { action, .. }
            | Event::Issue { action, .. } => Some(action.as_str()).filter(|a| !a.is_empty()),
        }
    }
}

/// Parse one delivery. `event_name` is the `X-GitHub-Event` header.
/// The name deliveries of `event_name` are counted under in the metrics: its own for an event
/// riskgate reads, `other` for the rest. The header is the sender's to write, and each name
/// would be a series of its own for as long as the process runs.
pub fn counted_as(event_name: &str) -> &str {
    if EVENTS_READ.contains(&event_name) {
        event_name
    } else {
        "other"
    }
}

pub fn parse_event(event_name: &str, body: &[u8]) -> Result<Event, PayloadError> {
    Ok(parse_event_value(event_name, serde_json::from_slice(body)?))
}

/// [`parse_event`], with the delivery's `action` as the body gave it (a string), in one pass
/// over the body: the fields the events read are deserialised straight from the bytes and the
/// rest skipped, without building the whole document. A body that this cannot read so (not
/// an object, a field of an unexpected type, a repeated key) is read the long way, with the
/// same outcome as [`parse_event`].
pub fn parse_event_and_action(
    event_name: &str,
    body: &[u8],
) -> Result<(Event, Option<String>), PayloadError> {
    let object = body
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|&b| b == b'{');
    if object {
        if let Ok(envelope) = serde_json::from_slice::<Envelope>(body) {
            let action = envelope.action.clone();
            return Ok((interpret_envelope(event_name, envelope), action));
        }
    }
    let value: serde_json::Value = serde_json::from_slice(body)?;
    let action = value
        .get("action")
        .and_then(|a| a.as_str())
        .map(str::to_string);
    Ok((parse_event_value(event_name, value), action))
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
    let envelope = match Envelope::deserialize(&value) {
        Ok(e) => e,
        Err(e) => {
            // The action is still the delivery's, when it is a string.
            let action = ActionOnly::deserialize(&value).ok().and_then(|a| a.action);
            return ignored(action, format!("unexpected payload shape: {e}"));
        }
    };
    interpret_envelope(event_name, envelope)
}

/// The event an envelope read from an object body is.
fn interpret_envelope(event_name: &str, envelope: Envelope) -> Event {
    let ignored = |action: Option<String>, reason: String| Event::Ignored {
        event: event_name.to_string(),
        action,
        reason,
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
        Err(Unread::Missing(path)) => ignored(action, format!("the payload has no `{path}`")),
        Err(Unread::Unlike(path, expected)) => {
            ignored(action, format!("`{path}` is not {expected}"))
        }
    }
}

//! Which job, if any, a webhook event asks for. Pure: the server stores what this returns.

use crate::github::events::{Event, RepoRef};
use crate::store::NewJob;

pub use super::payload::{
    AcceptRiskJob, CoverageJob, DeploymentJob, InstallationChangedJob, InstallationJob,
    InstallationRepositoriesJob, IssueJob, MergeGroupJob, Payload, PullClosedJob, RepoJob,
    ScoreJob,
};

/// The identifier of the check run's "Accept risk" button.
pub const ACCEPT_RISK_ACTION: &str = "accept_risk";

/// What the server does with an event.
#[derive(Debug, Clone, PartialEq)]
pub enum Plan {
    /// Queue these jobs (202).
    Queue(Vec<NewJob>),
    /// Understood; nothing to do (200).
    Nothing(String),
}

pub fn plan(event: &Event) -> Plan {
    let no_installation = || Plan::Nothing("the delivery names no installation".to_string());
    match event {
        Event::Ping => Plan::Nothing("ping".into()),
        Event::Ignored {
            event,
            action,
            reason,
        } => Plan::Nothing(format!(
            "{event}{}: {reason}",
            action
                .as_deref()
                .map(|a| format!(".{a}"))
                .unwrap_or_default()
        )),
        Event::PullRequest {
            action,
            installation_id,
            repo,
            number,
            head_sha,
            base_ref,
            draft,
            opened_at,
            labels,
            author,
            ..
        } => {
            let Some(installation_id) = installation_id else {
                return no_installation();
            };
            Plan::Queue(vec![ScoreJob {
                installation_id: *installation_id,
                repo: repo.into(),
                number: *number,
                head_sha: head_sha.clone(),
                base_ref: Some(base_ref.clone()),
                draft: Some(*draft),
                labels: Some(labels.clone()),
                author: Some(author.clone()),
                opened_at: *opened_at,
                reason: format!("pull_request.{action}"),
            }
            .to_job()])
        }
        Event::PullRequestReview {
            action,
            installation_id,
            repo,
            number,
            head_sha,
            base_ref,
            ..
        } => {
            let Some(installation_id) = installation_id else {
                return no_installation();
            };
            Plan::Queue(vec![ScoreJob {
                installation_id: *installation_id,
                repo: repo.into(),
                number: *number,
                head_sha: head_sha.clone(),
                base_ref: Some(base_ref.clone()),
                draft: None,
                labels: None,
                author: None,
                opened_at: None,
                reason: format!("pull_request_review.{action}"),
            }
            .to_job()])
        }
        Event::CheckRun {
            action,
            installation_id,
            repo,
            check_run_id,
            head_sha,
            name,
            pull_numbers,
            requested_action,
            sender,
            external_id,
            ..
        } => {
            let Some(installation_id) = installation_id else {
                return no_installation();
            };
            if name != crate::github::CHECK_NAME {
                return Plan::Nothing(format!("check run `{name}` is not riskgate's"));
            }
            match action.as_str() {
                "rerequested" => rescore(
                    *installation_id,
                    repo,
                    head_sha,
                    pull_numbers,
                    "check_run.rerequested",
                ),
                "requested_action" if requested_action.as_deref() == Some(ACCEPT_RISK_ACTION) => {
                    let job = AcceptRiskJob {
                        installation_id: *installation_id,
                        repo: repo.into(),
                        check_run_id: *check_run_id,
                        head_sha: head_sha.clone(),
                        pull_numbers: pull_numbers.clone(),
                        sender: sender.clone(),
                        external_id: external_id.clone(),
                    };
                    Plan::Queue(vec![job.to_job()])
                }
                other => Plan::Nothing(format!("check_run.{other} needs no work")),
            }
        }
        Event::CheckSuite {
            action,
            installation_id,
            repo,
            head_sha,
            pull_numbers,
        } => {
            let Some(installation_id) = installation_id else {
                return no_installation();
            };
            rescore(
                *installation_id,
                repo,
                head_sha,
                pull_numbers,
                &format!("check_suite.{action}"),
            )
        }
        Event::Installation { .. } | Event::InstallationRepositories { .. } => {
            match installation_job(event) {
                Some(job) => Plan::Queue(vec![job.to_job()]),
                None => no_installation(),
            }
        }
        Event::WorkflowRun {
            action,
            installation_id,
            repo,
            run_id,
            head_sha,
            head_branch,
            conclusion,
            pull_numbers,
            head_repository,
            same_repository,
        } => {
            let Some(installation_id) = installation_id else {
                return no_installation();
            };
            if action != "completed" {
                return Plan::Nothing(format!(
                    "workflow_run.{action}: artifacts exist only once a run completes"
                ));
            }
            if conclusion.as_deref() != Some("success") {
                return Plan::Nothing(
                    "the workflow run did not succeed; its coverage is not trusted".into(),
                );
            }
            let job = CoverageJob {
                installation_id: *installation_id,
                repo: repo.into(),
                run_id: *run_id,
                head_sha: head_sha.clone(),
                head_branch: head_branch.clone(),
                pull_numbers: pull_numbers.clone(),
                head_repository: head_repository.clone(),
                same_repository: *same_repository,
            };
            Plan::Queue(vec![job.to_job()])
        }
        Event::MergeGroup {
            installation_id,
            repo,
            head_sha,
            head_ref,
            base_sha,
            base_ref,
            ..
        } => {
            let Some(installation_id) = installation_id else {
                return no_installation();
            };
            let job = MergeGroupJob {
                installation_id: *installation_id,
                repo: repo.into(),
                head_sha: head_sha.clone(),
                head_ref: head_ref.clone(),
                base_sha: base_sha.clone(),
                base_ref: base_ref.clone(),
            };
            Plan::Queue(vec![job.to_job()])
        }
        Event::Deployment {
            deployment, status, ..
        } => Plan::Queue(vec![DeploymentJob {
            deployment: deployment.clone(),
            status: status.clone(),
        }
        .to_job()]),
        Event::PullRequestClosed { pull, .. } => {
            Plan::Queue(vec![PullClosedJob { pull: pull.clone() }.to_job()])
        }
        Event::Issue {
            action,
            repo,
            number,
            title,
            body,
            labels,
            created_at,
            closed_at,
            author,
            ..
        } => Plan::Queue(vec![IssueJob {
            repository: repo.full_name.clone(),
            action: action.clone(),
            number: *number,
            title: title.clone(),
            body: body.clone(),
            labels: labels.clone(),
            created_at: *created_at,
            closed_at: *closed_at,
            author: author.clone(),
        }
        .to_job()]),
    }
}

fn rescore(
    installation_id: u64,
    repo: &RepoRef,
    head_sha: &str,
    pull_numbers: &[u64],
    reason: &str,
) -> Plan {
    if pull_numbers.is_empty() {
        return Plan::Nothing(format!("{reason}: the head belongs to no pull request"));
    }
    Plan::Queue(
        pull_numbers
            .iter()
            .map(|&number| {
                ScoreJob {
                    installation_id,
                    repo: repo.into(),
                    number,
                    head_sha: head_sha.to_string(),
                    base_ref: None,
                    draft: None,
                    labels: None,
                    author: None,
                    opened_at: None,
                    reason: reason.to_string(),
                }
                .to_job()
            })
            .collect(),
    )
}

/// The job of an installation event; `None` for other events.
fn installation_job(event: &Event) -> Option<InstallationJob> {
    Some(match event {
        Event::Installation {
            action,
            installation_id,
            account,
            target_type,
            repositories,
        } => InstallationJob::Installation(InstallationChangedJob {
            action: action.clone(),
            installation_id: *installation_id,
            account: account.clone(),
            target_type: target_type.clone(),
            repositories: repositories.clone(),
        }),
        Event::InstallationRepositories {
            action,
            installation_id,
            account,
            target_type,
            added,
            removed,
        } => InstallationJob::Repositories(InstallationRepositoriesJob {
            action: action.clone(),
            installation_id: *installation_id,
            account: account.clone(),
            target_type: target_type.clone(),
            added: added.clone(),
            removed: removed.clone(),
        }),
        _ => return None,
    })
}

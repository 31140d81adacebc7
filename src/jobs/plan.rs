//! Which job, if any, a webhook event asks for. Pure: the server stores what this returns.

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::github::events::{Event, RepoRef};
use crate::store::NewJob;

use crate::labels::deployments::{Deployment, DeploymentStatus, PullRecord};
pub use crate::store::{
    JOB_ACCEPT_RISK, JOB_COVERAGE, JOB_RECORD_DEPLOYMENT,
    JOB_RECORD_INSTALLATION as JOB_INSTALLATION, JOB_RECORD_ISSUE, JOB_RECORD_PULL,
    JOB_SCORE_MERGE_GROUP, JOB_SCORE_PULL_REQUEST as JOB_SCORE,
};

/// The identifier of the check run's "Accept risk" button.
pub const ACCEPT_RISK_ACTION: &str = "accept_risk";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepoJob {
    pub owner: String,
    pub name: String,
    pub full_name: String,
    #[serde(default)]
    pub default_branch: String,
}

impl From<&RepoRef> for RepoJob {
    fn from(r: &RepoRef) -> Self {
        RepoJob {
            owner: r.owner.clone(),
            name: r.name.clone(),
            full_name: r.full_name.clone(),
            default_branch: r.default_branch.clone(),
        }
    }
}

/// Score one head of a pull request. Fields the event did not carry (a re-run from the checks
/// tab knows only the PR number) are looked up by the worker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScoreJob {
    pub installation_id: u64,
    pub repo: RepoJob,
    pub number: u64,
    pub head_sha: String,
    pub base_ref: Option<String>,
    pub draft: Option<bool>,
    pub labels: Option<Vec<String>>,
    pub author: Option<String>,
    /// When the PR was opened (unix seconds).
    #[serde(default)]
    pub opened_at: Option<i64>,
    /// What asked for the score, for logs and the audit trail.
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AcceptRiskJob {
    pub installation_id: u64,
    pub repo: RepoJob,
    pub check_run_id: u64,
    pub head_sha: String,
    pub pull_numbers: Vec<u64>,
    pub sender: String,
    /// The check run's `external_id` (`owner/name#N` for riskgate's own runs).
    #[serde(default)]
    pub external_id: Option<String>,
}

impl AcceptRiskJob {
    /// The pull request whose check was accepted: the first the check run lists, or else the
    /// number riskgate wrote into its `external_id` (GitHub lists no pull requests for a head
    /// in a fork).
    pub fn pull_number(&self) -> Option<u64> {
        if let Some(&n) = self.pull_numbers.first() {
            return Some(n);
        }
        let (repository, number) = self.external_id.as_deref()?.rsplit_once('#')?;
        if repository != self.repo.full_name {
            return None;
        }
        number.parse().ok()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CoverageJob {
    pub installation_id: u64,
    pub repo: RepoJob,
    pub run_id: u64,
    pub head_sha: String,
    pub head_branch: Option<String>,
    pub pull_numbers: Vec<u64>,
    /// `owner/name` the run's head came from.
    #[serde(default)]
    pub head_repository: Option<String>,
    /// Only a run of the repository itself may set a branch's coverage.
    #[serde(default)]
    pub same_repository: bool,
}

/// Score a merge queue's group: the change `base_sha..head_sha`, checked on `head_sha`. The
/// refs and commit ids were checked to be plain when the event was read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MergeGroupJob {
    pub installation_id: u64,
    pub repo: RepoJob,
    pub head_sha: String,
    /// `refs/heads/gh-readonly-queue/…`
    pub head_ref: String,
    pub base_sha: String,
    /// `refs/heads/<base>`
    pub base_ref: String,
}

/// Record a deployment (and the status that came with it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeploymentJob {
    pub deployment: Deployment,
    pub status: Option<DeploymentStatus>,
}

/// Record a closed pull request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PullClosedJob {
    pub pull: PullRecord,
}

/// A labelled issue: an incident if it carries the incident label.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssueJob {
    pub repository: String,
    pub action: String,
    pub number: u64,
    pub title: String,
    pub body: Option<String>,
    pub labels: Vec<String>,
    pub created_at: i64,
    pub closed_at: Option<i64>,
    pub author: Option<String>,
}

/// What the server does with an event.
#[derive(Debug, Clone, PartialEq)]
pub enum Plan {
    /// Queue these jobs (202).
    Queue(Vec<NewJob>),
    /// Understood; nothing to do (200).
    Nothing(String),
}

fn score_job(job: ScoreJob) -> NewJob {
    let (repository, number, head) = (
        job.repo.full_name.clone(),
        job.number as i64,
        job.head_sha.clone(),
    );
    NewJob::score_pull_request(
        &repository,
        number,
        &head,
        serde_json::to_value(job).expect("job serialises"),
    )
}

fn repo_job(kind: &str, repo: &RepoJob, payload: serde_json::Value) -> NewJob {
    let mut job = NewJob::new(kind, payload);
    job.repository = Some(repo.full_name.clone());
    job
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
            Plan::Queue(vec![score_job(ScoreJob {
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
            })])
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
            Plan::Queue(vec![score_job(ScoreJob {
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
            })])
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
                    let repo_job_ = job.repo.clone();
                    Plan::Queue(vec![repo_job(
                        JOB_ACCEPT_RISK,
                        &repo_job_,
                        serde_json::to_value(job).expect("job serialises"),
                    )])
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
        Event::Installation {
            installation_id, ..
        }
        | Event::InstallationRepositories {
            installation_id, ..
        } => {
            let payload = installation_payload(event);
            let mut job = NewJob::new(JOB_INSTALLATION, payload);
            job.repository = None;
            let _ = installation_id;
            Plan::Queue(vec![job])
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
            let r = job.repo.clone();
            Plan::Queue(vec![repo_job(
                JOB_COVERAGE,
                &r,
                serde_json::to_value(job).expect("job serialises"),
            )])
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
            let mut new = repo_job(
                JOB_SCORE_MERGE_GROUP,
                &job.repo,
                serde_json::to_value(&job).expect("job serialises"),
            );
            new.head_sha = Some(job.head_sha);
            Plan::Queue(vec![new])
        }
        Event::Deployment {
            repo,
            deployment,
            status,
            ..
        } => record_job(
            JOB_RECORD_DEPLOYMENT,
            &repo.full_name,
            serde_json::to_value(DeploymentJob {
                deployment: deployment.clone(),
                status: status.clone(),
            })
            .expect("job serialises"),
        ),
        Event::PullRequestClosed { repo, pull, .. } => record_job(
            JOB_RECORD_PULL,
            &repo.full_name,
            serde_json::to_value(PullClosedJob { pull: pull.clone() }).expect("job serialises"),
        ),
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
        } => record_job(
            JOB_RECORD_ISSUE,
            &repo.full_name,
            serde_json::to_value(IssueJob {
                repository: repo.full_name.clone(),
                action: action.clone(),
                number: *number,
                title: title.clone(),
                body: body.clone(),
                labels: labels.clone(),
                created_at: *created_at,
                closed_at: *closed_at,
                author: author.clone(),
            })
            .expect("job serialises"),
        ),
    }
}

fn record_job(kind: &str, repository: &str, payload: serde_json::Value) -> Plan {
    let mut job = NewJob::new(kind, payload);
    job.repository = Some(repository.to_string());
    Plan::Queue(vec![job])
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
                score_job(ScoreJob {
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
                })
            })
            .collect(),
    )
}

fn installation_payload(event: &Event) -> serde_json::Value {
    match event {
        Event::Installation {
            action,
            installation_id,
            account,
            target_type,
            repositories,
        } => json!({
            "action": action, "installation_id": installation_id, "account": account,
            "target_type": target_type, "repositories": repositories,
        }),
        Event::InstallationRepositories {
            action,
            installation_id,
            added,
            removed,
        } => json!({
            "action": action, "installation_id": installation_id, "added": added, "removed": removed,
        }),
        _ => serde_json::Value::Null,
    }
}

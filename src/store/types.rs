//! Values the store takes and returns.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::kind::JobKind;

/// A webhook delivery as received.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewDelivery {
    /// The `X-GitHub-Delivery` header.
    pub id: String,
    /// The `X-GitHub-Event` header.
    pub event: String,
    pub action: Option<String>,
    /// `owner/name`, when the event concerns a repository.
    pub repository: Option<String>,
    /// The raw JSON body.
    pub payload: String,
}

/// A stored webhook delivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    pub id: String,
    pub event: String,
    pub action: Option<String>,
    pub repository: Option<String>,
    pub received_at: i64,
    pub payload: String,
}

/// Work to queue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewJob {
    pub kind: JobKind,
    pub repository: Option<String>,
    pub pr_number: Option<i64>,
    pub head_sha: Option<String>,
    /// What the worker needs to do the job.
    pub payload: Value,
    /// Not before this time (unix ms); `None` means at once.
    pub run_after_ms: Option<i64>,
}

impl NewJob {
    /// A job of `kind` with `payload`, due at once, about no pull request.
    pub fn new(kind: JobKind, payload: Value) -> NewJob {
        NewJob {
            kind,
            repository: None,
            pr_number: None,
            head_sha: None,
            payload,
            run_after_ms: None,
        }
    }

    /// A scoring job for one head of a pull request.
    pub fn score_pull_request(
        repository: &str,
        pr_number: i64,
        head_sha: &str,
        payload: Value,
    ) -> NewJob {
        NewJob {
            kind: JobKind::ScorePullRequest,
            repository: Some(repository.to_string()),
            pr_number: Some(pr_number),
            head_sha: Some(head_sha.to_string()),
            payload,
            run_after_ms: None,
        }
    }
}

/// What [`super::Store::record_delivery`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recorded {
    /// The delivery is new and its jobs were queued (ids in the order given);
    /// `superseded` queued jobs for older heads were made moot.
    Queued { job_ids: Vec<i64>, superseded: u64 },
    /// The delivery is new and needs no job.
    Stored,
    /// The delivery was recorded before; nothing was written.
    Duplicate,
}

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobStatus {
    /// Waiting for a worker (from `run_after` on).
    Queued,
    /// Claimed by a worker until `locked_until`.
    Running,
    Done,
    /// Failed for good; kept with its error until unparked.
    Parked,
    /// A newer push to the same pull request made it moot.
    Superseded,
}

impl JobStatus {
    pub const ALL: [JobStatus; 5] = [
        JobStatus::Queued,
        JobStatus::Running,
        JobStatus::Done,
        JobStatus::Parked,
        JobStatus::Superseded,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Queued => "queued",
            JobStatus::Running => "running",
            JobStatus::Done => "done",
            JobStatus::Parked => "parked",
            JobStatus::Superseded => "superseded",
        }
    }
}

impl fmt::Display for JobStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A job status that is none of the known ones.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown job status {0:?}")]
pub struct UnknownJobStatus(pub String);

impl FromStr for JobStatus {
    type Err = UnknownJobStatus;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        JobStatus::ALL
            .into_iter()
            .find(|status| status.as_str() == s)
            .ok_or_else(|| UnknownJobStatus(s.to_string()))
    }
}

/// A job with everything a worker needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    pub id: i64,
    pub delivery_id: Option<String>,
    /// A claimed job's kind is always known: the claim parks one of a kind it does not know.
    pub kind: JobKind,
    pub repository: Option<String>,
    pub pr_number: Option<i64>,
    pub head_sha: Option<String>,
    pub payload: Value,
    pub status: JobStatus,
    /// Claims so far, this one included.
    pub attempts: i64,
    pub run_after: i64,
    /// The worker holding the job, or the last one that did.
    pub locked_by: Option<String>,
    /// End of the current lease, while running.
    pub locked_until: Option<i64>,
    pub last_error: Option<String>,
    /// What the worker saved between attempts.
    pub state: Option<Value>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A job without its payload and state, for listings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobSummary {
    pub id: i64,
    /// The stored name, as text: a listing also shows jobs of a kind this version does not
    /// know (parked when claimed). Compares equal to the [`JobKind`] of that name.
    pub kind: String,
    pub repository: Option<String>,
    pub pr_number: Option<i64>,
    pub head_sha: Option<String>,
    pub status: JobStatus,
    pub attempts: i64,
    pub run_after: i64,
    pub locked_by: Option<String>,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// An installation of the App, as GitHub reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewInstallation {
    pub id: i64,
    pub account_login: String,
    /// `User` or `Organization`.
    pub target_type: String,
    /// Full names (`owner/name`) of the selected repositories.
    pub repositories: Vec<String>,
}

/// A stored installation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Installation {
    pub id: i64,
    pub account_login: String,
    pub target_type: String,
    /// Sorted full names.
    pub repositories: Vec<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub removed_at: Option<i64>,
}

/// The score of one pull request head.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewScore {
    pub repository: String,
    pub pr_number: i64,
    pub head_sha: String,
    pub base_sha: String,
    pub probability: f64,
    /// `low`, `elevated` or `high`.
    pub band: String,
    pub model_version: String,
    /// Feature name → value, as scored.
    pub features: Value,
    /// The check run conclusion posted.
    pub conclusion: String,
    pub check_run_id: Option<i64>,
    pub delivery_id: Option<String>,
}

/// A stored score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Score {
    pub id: i64,
    pub repository: String,
    pub pr_number: i64,
    pub head_sha: String,
    pub base_sha: String,
    pub probability: f64,
    pub band: String,
    pub model_version: String,
    pub features: Value,
    pub conclusion: String,
    pub check_run_id: Option<i64>,
    pub delivery_id: Option<String>,
    pub created_at: i64,
}

/// Audit kind: the conclusion a check run was given.
pub const AUDIT_CHECK_CONCLUSION: &str = "check_conclusion";
/// Audit kind: a check run completed without a score (its scoring job was parked).
pub const AUDIT_CHECK_NOT_SCORED: &str = "check_not_scored";
/// Audit kind: someone allowed to accepted the risk of a change.
pub const AUDIT_RISK_ACCEPTED: &str = "risk_accepted";
/// Audit kind: someone not allowed to tried to accept the risk.
pub const AUDIT_RISK_ACCEPTANCE_REFUSED: &str = "risk_acceptance_refused";

/// An event for the append-only audit trail.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewAuditEvent {
    /// When it happened (unix ms).
    pub at: i64,
    pub repository: String,
    pub pr_number: Option<i64>,
    pub head_sha: Option<String>,
    /// One of the `AUDIT_*` kinds, or another self-explaining name.
    pub kind: String,
    /// Login of the person who acted, if a person did.
    pub actor: Option<String>,
    pub detail: Value,
}

/// A stored audit event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEvent {
    pub id: i64,
    pub at: i64,
    pub repository: String,
    pub pr_number: Option<i64>,
    pub head_sha: Option<String>,
    pub kind: String,
    pub actor: Option<String>,
    pub detail: Value,
}

/// The `branch` under which a report from a fork's run is kept: `owner/name:branch`. A git
/// branch name cannot contain `:`, so it never equals a branch of the repository, and such a
/// report is never the base of comparison for one.
pub fn fork_branch_label(head_repository: &str, branch: &str) -> String {
    format!("{head_repository}:{branch}")
}

/// An uploaded coverage report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewCoverageReport {
    pub repository: String,
    /// The branch of the repository the run was on, or [`fork_branch_label`] for a fork's run.
    pub branch: String,
    pub sha: String,
    /// `lcov`, `cobertura`, …
    pub format: String,
    pub report: String,
}

/// A stored coverage report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CoverageReport {
    pub id: i64,
    pub repository: String,
    pub branch: String,
    pub sha: String,
    pub format: String,
    pub report: String,
    pub created_at: i64,
}

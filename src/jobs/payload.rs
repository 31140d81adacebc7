//! What each kind of job carries: one serde struct per [`JobKind`], stored as JSON in the job's
//! `payload` column exactly as before the kinds were typed, so queued jobs survive an upgrade.
//!
//! [`Payload`] ties a struct to its kind: [`Payload::to_job`] queues it, [`Payload::read`]
//! takes it back out of a claimed job (parking the job when the payload does not fit).

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::JobError;
use crate::github::events::RepoRef;
use crate::labels::deployments::{Deployment, DeploymentStatus, PullRecord};
use crate::store::{Job, JobKind, NewJob};

pub use crate::store::FinishCheckRunJob;

/// A job payload of one kind.
pub trait Payload: Serialize + DeserializeOwned {
    const KIND: JobKind;

    /// A job of this kind carrying `self`, due at once, about no repository; callers fill in
    /// what the queue indexes (repository, pull request, head) where it applies.
    fn to_job(&self) -> NewJob {
        NewJob::new(
            Self::KIND,
            serde_json::to_value(self).expect("job payloads serialise"),
        )
    }

    /// The payload of a claimed job. A payload that does not fit will not fit on a retry
    /// either: the job is parked.
    fn read(job: &Job) -> Result<Self, JobError> {
        debug_assert_eq!(
            job.kind,
            Self::KIND,
            "job {} read as the wrong kind",
            job.id
        );
        Self::from_value(&job.payload, "job payload")
    }

    /// Reads a payload kept elsewhere (another job's); `what` names it in the error.
    fn from_value(value: &serde_json::Value, what: &str) -> Result<Self, JobError> {
        Self::deserialize(value).map_err(|e| JobError::Park(format!("bad {what}: {e}")))
    }
}

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

/// An installation created, changed or removed (`installation`), or repositories added to or
/// removed from one (`installation_repositories`). Which of the two is told by the fields the
/// payload carries, as it always was.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum InstallationJob {
    Repositories(InstallationRepositoriesJob),
    Installation(InstallationChangedJob),
}

/// `installation_repositories`: added, removed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstallationRepositoriesJob {
    pub action: String,
    pub installation_id: u64,
    /// Empty in jobs queued before riskgate read them.
    #[serde(default)]
    pub account: String,
    #[serde(default)]
    pub target_type: String,
    /// Full names.
    pub added: Vec<String>,
    #[serde(default)]
    pub removed: Vec<String>,
}

/// `installation`, any action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstallationChangedJob {
    #[serde(default)]
    pub action: String,
    pub installation_id: u64,
    #[serde(default)]
    pub account: String,
    #[serde(default)]
    pub target_type: String,
    /// Full names of the repositories the payload listed.
    #[serde(default)]
    pub repositories: Vec<String>,
}

impl InstallationJob {
    pub fn action(&self) -> &str {
        match self {
            InstallationJob::Repositories(r) => &r.action,
            InstallationJob::Installation(i) => &i.action,
        }
    }

    pub fn installation_id(&self) -> u64 {
        match self {
            InstallationJob::Repositories(r) => r.installation_id,
            InstallationJob::Installation(i) => i.installation_id,
        }
    }
}

impl Payload for ScoreJob {
    const KIND: JobKind = JobKind::ScorePullRequest;

    /// Indexed by pull request and head, so a newer head supersedes it.
    fn to_job(&self) -> NewJob {
        NewJob::score_pull_request(
            &self.repo.full_name,
            self.number as i64,
            &self.head_sha,
            serde_json::to_value(self).expect("job payloads serialise"),
        )
    }
}

impl Payload for AcceptRiskJob {
    const KIND: JobKind = JobKind::AcceptRisk;

    fn to_job(&self) -> NewJob {
        in_repository(self, &self.repo.full_name)
    }
}

impl Payload for CoverageJob {
    const KIND: JobKind = JobKind::Coverage;

    fn to_job(&self) -> NewJob {
        in_repository(self, &self.repo.full_name)
    }
}

impl Payload for MergeGroupJob {
    const KIND: JobKind = JobKind::ScoreMergeGroup;

    fn to_job(&self) -> NewJob {
        let mut job = in_repository(self, &self.repo.full_name);
        job.head_sha = Some(self.head_sha.clone());
        job
    }
}

impl Payload for DeploymentJob {
    const KIND: JobKind = JobKind::RecordDeployment;

    fn to_job(&self) -> NewJob {
        in_repository(self, &self.deployment.repository)
    }
}

impl Payload for PullClosedJob {
    const KIND: JobKind = JobKind::RecordPull;

    fn to_job(&self) -> NewJob {
        in_repository(self, &self.pull.repository)
    }
}

impl Payload for IssueJob {
    const KIND: JobKind = JobKind::RecordIssue;

    fn to_job(&self) -> NewJob {
        in_repository(self, &self.repository)
    }
}

impl Payload for InstallationJob {
    const KIND: JobKind = JobKind::RecordInstallation;
}

impl Payload for FinishCheckRunJob {
    const KIND: JobKind = JobKind::FinishCheckRun;
}

/// A job of `payload`'s kind about `repository`.
fn in_repository<P: Payload>(payload: &P, repository: &str) -> NewJob {
    let mut job = NewJob::new(
        P::KIND,
        serde_json::to_value(payload).expect("job payloads serialise"),
    );
    job.repository = Some(repository.to_string());
    job
}

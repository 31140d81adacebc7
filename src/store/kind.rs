//! The kinds of job the queue holds.
//!
//! The `kind` column keeps each kind's name as text, the same names as ever, so rows written by
//! an older (or newer) riskgate still read; a name this version does not know is parked when it
//! is claimed, not run.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// What a job does; the worker has one handler per kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobKind {
    /// Score a pull request head and post its check run.
    ScorePullRequest,
    /// A maintainer accepted the risk of a pull request.
    AcceptRisk,
    /// Score a merge queue's group and post its check run.
    ScoreMergeGroup,
    /// Record an installation or its repositories.
    RecordInstallation,
    /// Read a CI run's coverage report.
    Coverage,
    /// Record a deployment or deployment status.
    RecordDeployment,
    /// Record a closed pull request.
    RecordPull,
    /// A labelled issue, maybe an incident.
    RecordIssue,
    /// Complete the check run of a parked scoring job, saying why it was not scored.
    FinishCheckRun,
}

impl JobKind {
    pub const ALL: [JobKind; 9] = [
        JobKind::ScorePullRequest,
        JobKind::AcceptRisk,
        JobKind::ScoreMergeGroup,
        JobKind::RecordInstallation,
        JobKind::Coverage,
        JobKind::RecordDeployment,
        JobKind::RecordPull,
        JobKind::RecordIssue,
        JobKind::FinishCheckRun,
    ];

    /// The name stored in the `kind` column.
    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::ScorePullRequest => "score_pull_request",
            JobKind::AcceptRisk => "accept_risk",
            JobKind::ScoreMergeGroup => "score_merge_group",
            JobKind::RecordInstallation => "record_installation",
            JobKind::Coverage => "coverage",
            JobKind::RecordDeployment => "record_deployment",
            JobKind::RecordPull => "record_pull",
            JobKind::RecordIssue => "record_issue",
            JobKind::FinishCheckRun => "finish_check_run",
        }
    }
}

impl fmt::Display for JobKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A stored kind this version of riskgate does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown job kind `{0}`")]
pub struct UnknownJobKind(pub String);

impl FromStr for JobKind {
    type Err = UnknownJobKind;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        JobKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == s)
            .ok_or_else(|| UnknownJobKind(s.to_string()))
    }
}

// Comparisons with the stored text: listings keep the kind as text (see `JobSummary`).
impl PartialEq<str> for JobKind {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for JobKind {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<JobKind> for String {
    fn eq(&self, other: &JobKind) -> bool {
        self == other.as_str()
    }
}

impl PartialEq<JobKind> for &str {
    fn eq(&self, other: &JobKind) -> bool {
        *self == other.as_str()
    }
}

// The names callers used before the kinds were an enum.
/// [`JobKind::ScorePullRequest`].
pub const JOB_SCORE_PULL_REQUEST: JobKind = JobKind::ScorePullRequest;
/// [`JobKind::AcceptRisk`].
pub const JOB_ACCEPT_RISK: JobKind = JobKind::AcceptRisk;
/// [`JobKind::ScoreMergeGroup`].
pub const JOB_SCORE_MERGE_GROUP: JobKind = JobKind::ScoreMergeGroup;
/// [`JobKind::RecordInstallation`].
pub const JOB_RECORD_INSTALLATION: JobKind = JobKind::RecordInstallation;
/// [`JobKind::Coverage`].
pub const JOB_COVERAGE: JobKind = JobKind::Coverage;
/// [`JobKind::RecordDeployment`].
pub const JOB_RECORD_DEPLOYMENT: JobKind = JobKind::RecordDeployment;
/// [`JobKind::RecordPull`].
pub const JOB_RECORD_PULL: JobKind = JobKind::RecordPull;
/// [`JobKind::RecordIssue`].
pub const JOB_RECORD_ISSUE: JobKind = JobKind::RecordIssue;
/// [`JobKind::FinishCheckRun`]. Its payload is a [`FinishCheckRunJob`].
pub const JOB_FINISH_CHECK_RUN: JobKind = JobKind::FinishCheckRun;

/// The payload of a [`JobKind::FinishCheckRun`] job, `{"parked_job": ID}`. Defined here because
/// the store itself queues these jobs, in the transaction that parks a scoring job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FinishCheckRunJob {
    /// The parked scoring job whose check run is to be completed.
    pub parked_job: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_reads_back_from_its_stored_name() {
        for kind in JobKind::ALL {
            assert_eq!(kind.as_str().parse::<JobKind>(), Ok(kind));
            assert_eq!(
                serde_json::to_value(kind).unwrap(),
                serde_json::json!(kind.as_str())
            );
        }
        let unknown = "retired_kind".parse::<JobKind>().unwrap_err();
        assert_eq!(unknown.to_string(), "unknown job kind `retired_kind`");
    }
}

//! The jobs about one pull request: score it and post the check run and sticky comment; accept
//! its risk; take in a coverage report from CI; complete the check of a parked scoring job.
//!
//! Scoring is two steps: [`gather`] reads everything (the pull request, the repository's
//! settings, the change, its reviews and coverage) and scores it into a plain value;
//! [`publish`] turns that value into the check run, the sticky comment and the stored score.

use std::path::{Path, PathBuf};

use serde_json::json;

use super::payload::{Payload, RepoJob, ScoreJob};
use super::{JobClock, JobError, MirrorGuard, Worker};
use crate::config::HighRisk;
use crate::github::client::{CheckAction, CheckRunId, CheckRunUpdate, RepoId};
use crate::github::render;
use crate::mining;
use crate::mining::mirror::MirrorError;
use crate::store::Job;

mod accept;
mod coverage;
mod finish;
mod gather;
mod publish;

/// A mining failure in the mirror at `mirror` as a job outcome: past the deadline stops the
/// job, anything else is retried. The mirror is fetched whole, so an object or file content it
/// lacks means it is damaged: it is marked to be fetched whole again before the retry, which
/// would otherwise meet the same gap each time.
pub(in crate::jobs) fn mining_err(mirror: &Path, e: mining::MiningError) -> JobError {
    use mining::MiningError::{BlobMissing, ContentMissing, ObjectMissing, TimedOut};
    match e {
        TimedOut => JobError::TimedOut,
        ObjectMissing(_) | ContentMissing { .. } | BlobMissing { .. } => {
            mark_damaged(mirror, &e);
            JobError::Retry(format!(
                "{e} (the mirror is fetched whole again before the retry)"
            ))
        }
        e => JobError::Retry(e.to_string()),
    }
}

/// A `.mailmap` the mirror lacks means it is damaged, as in [`mining_err`], though the score
/// goes on: the mirror is marked to be fetched whole at its next fetch. The warning to add to
/// the report replaces the engine's, whose advice (a command to fetch the blob) is for a
/// partial clone of one's own.
pub(in crate::jobs) fn take_lacking_mailmap(
    mirror: &Path,
    mined: &mut mining::MinedChange,
) -> Option<String> {
    let id = mined.absent_mailmap.take()?;
    mark_damaged(mirror, &format!("the .mailmap, blob {id}"));
    Some(
        "riskgate's copy of this repository lacks the content of its committed .mailmap, so \
         an author who committed under several addresses counts as several people in exp, \
         rexp, sexp and ndev; the copy is fetched whole again before the next score"
            .to_string(),
    )
}

/// Mark the mirror at `mirror`, which lacks `what`, to be fetched whole at its next fetch.
fn mark_damaged(mirror: &Path, what: &dyn std::fmt::Display) {
    let marked = mining::mirror::mark_for_refetch(mirror);
    tracing::warn!(
        mirror = %mirror.display(),
        lacking = %what,
        marked = marked.is_ok(),
        "the mirror lacks objects: its next fetch downloads every object again"
    );
}

/// How a repository's `high_risk` setting is kept in a scoring job's state.
fn high_risk_name(high_risk: HighRisk) -> &'static str {
    match high_risk {
        HighRisk::Failure => "failure",
        HighRisk::Neutral => "neutral",
    }
}

/// A name or ref git would refuse, or a repository past the mirror size limit, will not get
/// better; a failed or stalled fetch may.
fn fetch_error(e: MirrorError) -> JobError {
    match e {
        MirrorError::BadName(_)
        | MirrorError::BadRef(_)
        | MirrorError::BadUrl { .. }
        | MirrorError::TooLarge { .. } => JobError::Park(e.to_string()),
        _ => JobError::Retry(e.to_string()),
    }
}

fn blocking_err(e: tokio::task::JoinError) -> JobError {
    JobError::Retry(format!("scoring task failed: {e}"))
}

impl Worker {
    /// Score a pull request head and complete its check run. `clock`'s deadline bounds the
    /// mining (checked by the mining code as it goes); the caller bounds the whole job by it too.
    pub(super) async fn score_pull_request(
        &self,
        job: &Job,
        clock: &JobClock,
    ) -> Result<(), JobError> {
        let pr = self.complete_pull_request(ScoreJob::read(job)?).await?;
        let mut state = job.state.clone().unwrap_or_else(|| json!({}));
        // The check appears at once, before the slow part; a resumed job reuses it.
        let check = self.open_check_run(job, &pr, &mut state).await?;
        match self.gather(job, &pr, &mut state, clock).await? {
            gather::Gathered::NotScored(why) => {
                let repo = RepoId::new(&pr.repo.owner, &pr.repo.name);
                self.complete_check(
                    pr.installation_id,
                    repo,
                    check,
                    why.conclusion,
                    &why.title,
                    &why.summary,
                    vec![],
                )
                .await
            }
            gather::Gathered::Scored(scored) => {
                self.publish(job, &pr, check, &scored, &mut state).await
            }
        }
    }

    /// Fetch `refs` of `repo` into its mirror, each to the same name (the mirror checks each
    /// is a well-formed ref); returns the mirror's path.
    pub(in crate::jobs) async fn fetch_refs(
        &self,
        guard: &MirrorGuard,
        installation_id: u64,
        repo: &RepoJob,
        refs: Vec<String>,
    ) -> Result<PathBuf, JobError> {
        let token = self.github.installation_token(installation_id).await?;
        let mirrors = self.mirrors.clone();
        let full_name = repo.full_name.clone();
        guard
            .blocking(move || mirrors.fetch(&full_name, Some(&token), &refs))
            .await?
            .map_err(fetch_error)
    }

    #[allow(clippy::too_many_arguments)]
    pub(in crate::jobs) async fn complete_check(
        &self,
        inst: u64,
        repo: RepoId<'_>,
        check: CheckRunId,
        conclusion: &str,
        title: &str,
        summary: &str,
        actions: Vec<CheckAction>,
    ) -> Result<(), JobError> {
        let update = CheckRunUpdate {
            status: Some("completed".into()),
            conclusion: Some(conclusion.into()),
            title: Some(title.into()),
            summary: Some(render::check_summary(summary)),
            text: None,
            annotations: vec![],
            actions,
        };
        Ok(self
            .github
            .update_check_run(inst, repo, check, &update)
            .await?)
    }
}

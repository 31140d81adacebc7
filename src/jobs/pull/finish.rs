//! The check run of a parked scoring job (a pull request's or a merge group's) is completed, so
//! a required check never stays pending: it says the head could not be scored, and how to try
//! again.

use serde_json::json;

use crate::config::{HighRisk, RepoConfig};
use crate::github::client::{CheckRunId, RepoId};
use crate::github::render;
use crate::jobs::merge_group::{group_check_external_id, group_name};
use crate::jobs::payload::{FinishCheckRunJob, MergeGroupJob, Payload, RepoJob, ScoreJob};
use crate::jobs::{CheckTarget, JobError, Worker, PAST_DEADLINE};
use crate::mining;
use crate::store::{Job, JobKind, JobStatus, NewAuditEvent};
use crate::time::now_ms;

/// The check of a parked scoring job, as the job's kind describes it.
struct ParkedCheck {
    installation_id: u64,
    repo: RepoJob,
    head_sha: String,
    /// The `external_id` of a check run created for it.
    external_id: String,
    pr_number: Option<i64>,
    /// Whether an unscored change fails the check (`high_risk: failure`).
    fails: bool,
    /// What the audit event adds to say which change it was: a PR's reason, a group's name.
    audit_detail: (&'static str, serde_json::Value),
}

impl Worker {
    /// Complete the check run of a parked scoring job, saying it could not be scored and how
    /// to try again: `neutral` when it ran out of time, the repository has high risk advise
    /// only, or the job was a merge group's (whose check never blocks the queue); `failure`
    /// where high risk fails the check. A job unparked since, or one whose check already
    /// carries its score, is left alone; a job parked before it created its check run gets
    /// one, completed, so a required check is never left waiting.
    pub(in crate::jobs) async fn finish_check_run(&self, job: &Job) -> Result<(), JobError> {
        let parked_id = FinishCheckRunJob::read(job)?.parked_job;
        let Some(parked) = self.store.job(parked_id).await? else {
            tracing::info!(parked_id, "the parked job is gone; nothing to complete");
            return Ok(());
        };
        if parked.status != JobStatus::Parked {
            tracing::info!(parked_id, status = %parked.status, "the job is no longer parked");
            return Ok(());
        }
        let parked_state = parked.state.clone().unwrap_or_else(|| json!({}));
        if parked_state["concluded"].as_bool() == Some(true) {
            tracing::info!(parked_id, "the check run already carries its score");
            return Ok(());
        }
        let what = format!("payload of parked job {parked_id}");
        let parked_check = match parked.kind {
            JobKind::ScorePullRequest => {
                let pr = ScoreJob::from_value(&parked.payload, &what)?;
                let high_risk = match parked_state["high_risk"].as_str() {
                    Some("neutral") => HighRisk::Neutral,
                    Some("failure") => HighRisk::Failure,
                    _ => self.high_risk_from_mirror(&pr).await,
                };
                ParkedCheck {
                    installation_id: pr.installation_id,
                    external_id: format!("{}#{}", pr.repo.full_name, pr.number),
                    pr_number: Some(pr.number as i64),
                    fails: high_risk == HighRisk::Failure,
                    audit_detail: ("reason", json!(pr.reason)),
                    repo: pr.repo,
                    head_sha: pr.head_sha,
                }
            }
            JobKind::ScoreMergeGroup => {
                let group = MergeGroupJob::from_value(&parked.payload, &what)?;
                ParkedCheck {
                    installation_id: group.installation_id,
                    external_id: group_check_external_id(&group),
                    pr_number: None,
                    fails: false,
                    audit_detail: ("merge_group", json!(group_name(&group))),
                    repo: group.repo.clone(),
                    head_sha: group.head_sha.clone(),
                }
            }
            other => {
                tracing::info!(parked_id, kind = %other, "a parked job of this kind has no check");
                return Ok(());
            }
        };
        let repo = RepoId::new(&parked_check.repo.owner, &parked_check.repo.name);
        let inst = parked_check.installation_id;
        let error = parked.last_error.clone().unwrap_or_default();
        let why = if error.starts_with(PAST_DEADLINE) {
            render::NotScored::TimedOut
        } else {
            render::NotScored::Failed { error: &error }
        };
        let (conclusion, title, summary) = render::not_scored_check(why, parked_check.fails);

        let mut state = job.state.clone().unwrap_or_else(|| json!({}));
        let check = match parked_state["check_run_id"].as_u64() {
            Some(id) => CheckRunId(id),
            None => {
                // The parked job may have created its run and stopped before saving the id.
                let target = CheckTarget {
                    installation_id: inst,
                    repo,
                    head_sha: &parked_check.head_sha,
                    external_id: &parked_check.external_id,
                };
                self.check_run_for(job, &mut state, &target, true).await?
            }
        };
        self.complete_check(inst, repo, check, conclusion, &title, &summary, vec![])
            .await?;
        if state["audited"].as_bool() != Some(true) {
            let mut detail = json!({
                "conclusion": conclusion, "check_run_id": check.0, "job_id": parked_id,
                "error": error,
            });
            let (key, value) = parked_check.audit_detail;
            detail[key] = value;
            self.store
                .append_audit(&NewAuditEvent {
                    at: now_ms(),
                    repository: parked_check.repo.full_name.clone(),
                    pr_number: parked_check.pr_number,
                    head_sha: Some(parked_check.head_sha.clone()),
                    kind: crate::store::AUDIT_CHECK_NOT_SCORED.into(),
                    actor: None,
                    detail,
                })
                .await?;
            state["audited"] = json!(true);
            self.save_state(job, &state).await?;
        }
        tracing::info!(parked_id, conclusion, "check run of a parked job completed");
        Ok(())
    }

    /// The repository's `high_risk` from its base branch in the mirror as it is (no fetch, no
    /// lock: reading a ref and a blob is safe beside a fetch), for a job parked before it read
    /// its settings. The default when the mirror, the branch or the file is missing or bad.
    async fn high_risk_from_mirror(&self, pr: &ScoreJob) -> HighRisk {
        let base = pr
            .base_ref
            .clone()
            .filter(|b| !b.is_empty())
            .unwrap_or_else(|| pr.repo.default_branch.clone());
        let Ok(mirror) = self.mirrors.path_for(&pr.repo.full_name) else {
            return HighRisk::default();
        };
        if base.is_empty() || !mirror.join("HEAD").exists() {
            return HighRisk::default();
        }
        let read = tokio::task::spawn_blocking(move || {
            let repo = mining::open_repository(&mirror).ok()?;
            mining::config_at(&repo, &format!("refs/heads/{base}"))
                .ok()
                .flatten()
                .and_then(Result::ok)
        });
        match tokio::time::timeout(std::time::Duration::from_secs(10), read).await {
            Ok(Ok(Some(text))) => RepoConfig::parse(mining::CONFIG_PATH, &text)
                .map(|c| c.high_risk_conclusion())
                .unwrap_or_default(),
            _ => HighRisk::default(),
        }
    }
}

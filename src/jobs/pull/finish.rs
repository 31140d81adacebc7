//! The check run of a parked scoring job is completed, so a required check never stays
//! pending: it says the head could not be scored, and how to try again.

use serde_json::json;

use crate::config::{HighRisk, RepoConfig};
use crate::github::client::{CheckRunId, RepoId};
use crate::github::{render, CHECK_NAME};
use crate::jobs::payload::{FinishCheckRunJob, Payload, ScoreJob};
use crate::jobs::{JobError, Worker, PAST_DEADLINE};
use crate::mining;
use crate::store::{Job, JobStatus, NewAuditEvent};
use crate::time::now_ms;

impl Worker {
    /// Complete the check run of a parked scoring job, saying it could not be scored and how
    /// to try again: `neutral` when it ran out of time or the repository has high risk advise
    /// only, `failure` where high risk fails the check. A job unparked since, or one whose
    /// check already carries its score, is left alone; a job parked before it created its check
    /// run gets one, completed, so a required check is never left waiting.
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
        let pr = ScoreJob::from_value(
            &parked.payload,
            &format!("payload of parked job {parked_id}"),
        )?;
        let repo = RepoId::new(&pr.repo.owner, &pr.repo.name);
        let inst = pr.installation_id;
        let error = parked.last_error.clone().unwrap_or_default();
        let why = if error.starts_with(PAST_DEADLINE) {
            render::NotScored::TimedOut
        } else {
            render::NotScored::Failed { error: &error }
        };
        let high_risk = match parked_state["high_risk"].as_str() {
            Some("neutral") => HighRisk::Neutral,
            Some("failure") => HighRisk::Failure,
            _ => self.high_risk_from_mirror(&pr).await,
        };
        let (conclusion, title, summary) =
            render::not_scored_check(why, high_risk == HighRisk::Failure);

        let mut state = job.state.clone().unwrap_or_else(|| json!({}));
        let existing = parked_state["check_run_id"]
            .as_u64()
            .or(state["check_run_id"].as_u64());
        let check = match existing {
            Some(id) => CheckRunId(id),
            None => {
                let id = self
                    .github
                    .create_check_run(
                        inst,
                        repo,
                        &pr.head_sha,
                        CHECK_NAME,
                        &format!("{}#{}", pr.repo.full_name, pr.number),
                    )
                    .await?;
                state["check_run_id"] = json!(id.0);
                self.save_state(job, &state).await?;
                id
            }
        };
        self.complete_check(inst, repo, check, conclusion, &title, &summary, vec![])
            .await?;
        if state["audited"].as_bool() != Some(true) {
            self.store
                .append_audit(&NewAuditEvent {
                    at: now_ms(),
                    repository: pr.repo.full_name.clone(),
                    pr_number: Some(pr.number as i64),
                    head_sha: Some(pr.head_sha.clone()),
                    kind: crate::store::AUDIT_CHECK_NOT_SCORED.into(),
                    actor: None,
                    detail: json!({
                        "conclusion": conclusion, "check_run_id": check.0, "job_id": parked_id,
                        "error": error, "reason": pr.reason,
                    }),
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

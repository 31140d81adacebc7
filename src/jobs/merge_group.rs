//! A merge queue's group: score the change the group adds to its base and complete a
//! `riskgate` check on the group's head, so that a required riskgate check never leaves a
//! merge queue waiting.
//!
//! The check is advisory (success when the risk is low, neutral otherwise): each pull request
//! was gated by its own riskgate check before it could join the queue, where its risk could be
//! accepted; the group offers no such way out, so failing it would only throw the pull requests
//! out of the queue.

use serde_json::json;

use super::payload::{MergeGroupJob, Payload};
use super::pull::{mining_err, take_lacking_mailmap};
use super::{CheckTarget, JobError, Worker};
use crate::config::RepoConfig;
use crate::engine;
use crate::github::client::{CheckRunUpdate, RepoId};
use crate::github::render;
use crate::mining::{self, AttributeSource, ChangeSpec};
use crate::model::Band;
use crate::store::{Job, NewAuditEvent};
use crate::time::now_ms;

/// The conclusion of a merge group's check: never one that blocks the queue.
pub(crate) fn merge_group_conclusion(band: Band) -> &'static str {
    match band {
        Band::Low => "success",
        Band::Elevated | Band::High => "neutral",
    }
}

/// The `external_id` of a merge group's check run.
pub(super) fn group_check_external_id(group: &MergeGroupJob) -> String {
    format!("{}@{}", group.repo.full_name, group.head_ref)
}

/// The group's name: its head ref without `refs/heads/`.
pub(super) fn group_name(group: &MergeGroupJob) -> &str {
    group
        .head_ref
        .strip_prefix("refs/heads/")
        .unwrap_or(&group.head_ref)
}

impl Worker {
    /// `deadline` bounds the mining, as for a pull request; past it the check is completed
    /// as not scored in time.
    pub(super) async fn score_merge_group(
        &self,
        job: &Job,
        deadline: std::time::Instant,
    ) -> Result<(), JobError> {
        let group = MergeGroupJob::read(job)?;
        let repo = RepoId::new(&group.repo.owner, &group.repo.name);
        let inst = group.installation_id;
        let mut state = job.state.clone().unwrap_or_else(|| json!({}));

        let target = CheckTarget {
            installation_id: inst,
            repo,
            head_sha: &group.head_sha,
            external_id: &group_check_external_id(&group),
        };
        let check = self
            .check_run_for(job, &mut state, &target, job.attempts > 1)
            .await?;

        // The group's own deadline, a little before the job's, so that a change too large to
        // score in time still gets its check completed, rather than left in progress while
        // the job is retried.
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let own_deadline = deadline - (left / 10).min(std::time::Duration::from_secs(10));
        let mined = tokio::time::timeout_at(own_deadline.into(), async {
            let guard = self.lock_repo(&group.repo.full_name).await;
            // The group's ref holds its head and, as an ancestor, its base.
            let mirror = self
                .fetch_refs(&guard, inst, &group.repo, vec![group.head_ref.clone()])
                .await?;
            let (base_sha, head_sha) = (group.base_sha.clone(), group.head_sha.clone());
            let path = mirror.clone();
            let (config_text, mined) = guard
                .blocking(move || {
                    let repo = mining::open_repository(&path)?;
                    let config = mining::config_at(&repo, &base_sha)?;
                    let mined = mining::mine_change(
                        &repo,
                        &ChangeSpec {
                            base: Some(base_sha),
                            head: Some(head_sha),
                            deadline: Some(own_deadline),
                            attributes: AttributeSource::BaseBranch,
                        },
                    )?;
                    Ok::<_, mining::MiningError>((config, mined))
                })
                .await?
                .map_err(|e| mining_err(&mirror, e))?;
            Ok::<_, JobError>((guard, mirror, config_text, mined))
        })
        .await;
        // The lock is kept to the end, as before: a damaged mirror is marked under it.
        let (_guard, mirror, config_text, mut mined) = match mined {
            Ok(Ok(mined)) => mined,
            Ok(Err(JobError::TimedOut)) | Err(_) => {
                let (conclusion, title, summary) =
                    render::not_scored_check(render::NotScored::TimedOut, false);
                return self
                    .complete_check(inst, repo, check, conclusion, &title, &summary, vec![])
                    .await;
            }
            Ok(Err(e)) => return Err(e),
        };
        let lacking_mailmap = take_lacking_mailmap(&mirror, &mut mined);

        let base_branch = group
            .base_ref
            .strip_prefix("refs/heads/")
            .unwrap_or(&group.base_ref)
            .to_string();
        let group_name = group_name(&group);
        let config =
            config_text.map(|f| f.and_then(|t| RepoConfig::parse(mining::CONFIG_PATH, &t)));
        if let Some(Err(e)) = config {
            let message = format!(
                "riskgate could not read its settings from the base branch `{base_branch}`, so \
                 it did not score the merge group `{group_name}`: {e}"
            );
            return self
                .complete_check(
                    inst,
                    repo,
                    check,
                    "neutral",
                    "riskgate: invalid .github/riskgate.yml",
                    &message,
                    vec![],
                )
                .await;
        }

        let coverage = self
            .coverage_inputs(&group.repo.full_name, &base_branch, &group.head_sha)
            .await?;
        let model = self.model.current();
        let mut report = engine::score_mined(&model, &mined, coverage.as_ref(), None)
            .map_err(|e| JobError::Park(format!("scoring: {e:#}")))?;
        report.warnings.extend(lacking_mailmap);
        let conclusion = merge_group_conclusion(report.band);
        let summary = format!(
            "Merge group `{group_name}`: the change it adds to `{base_branch}`. This check is \
             advisory in a merge queue; each pull request was gated by its own riskgate check \
             before it joined.\n\n{}",
            report.to_markdown()
        );
        let update = CheckRunUpdate {
            status: Some("completed".into()),
            conclusion: Some(conclusion.into()),
            title: Some(render::check_title(report.probability, report.band)),
            summary: Some(render::check_summary(&summary)),
            text: None,
            annotations: render::annotations_for(&report),
            actions: vec![],
        };
        self.github
            .update_check_run(inst, repo, check, &update)
            .await?;
        // The check carries its score: if the job is parked later, it is left as it is.
        state["concluded"] = json!(true);
        self.save_state(job, &state).await?;

        if state["recorded"].as_bool() != Some(true) {
            self.store
                .append_audit(&NewAuditEvent {
                    at: now_ms(),
                    repository: group.repo.full_name.clone(),
                    pr_number: None,
                    head_sha: Some(group.head_sha.clone()),
                    kind: crate::store::AUDIT_CHECK_CONCLUSION.into(),
                    actor: None,
                    detail: json!({
                        "conclusion": conclusion, "probability": report.probability,
                        "band": report.band.as_str(), "model_version": report.model.version,
                        "check_run_id": check.0, "merge_group": group_name,
                        "base_sha": group.base_sha,
                    }),
                })
                .await?;
            state["recorded"] = json!(true);
            self.save_state(job, &state).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_merge_group_check_never_blocks() {
        assert_eq!(merge_group_conclusion(Band::Low), "success");
        assert_eq!(merge_group_conclusion(Band::Elevated), "neutral");
        assert_eq!(merge_group_conclusion(Band::High), "neutral");
    }
}

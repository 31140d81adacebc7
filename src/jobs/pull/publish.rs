//! The second step of scoring a pull request: what [`super::gather`] found becomes the check
//! run, the sticky comment, the stored score and its audit event. Each is saved in the job's
//! state once done, so a resumed job does not repeat it.

use serde_json::{json, Value};

use super::gather::Scored;
use crate::config::{CommentBehavior, CommentPolicy, HighRisk};
use crate::github::client::{CheckAction, CheckRunId, CheckRunUpdate, GitHubError, RepoId};
use crate::github::render;
use crate::jobs::payload::ScoreJob;
use crate::jobs::plan::ACCEPT_RISK_ACTION;
use crate::jobs::{CheckTarget, JobError, Worker};
use crate::model::Band;
use crate::store::{Job, NewAuditEvent, NewScore};
use crate::time::now_ms;

/// What the check says: the score's conclusion, or success where the risk was accepted.
struct Verdict {
    conclusion: &'static str,
    title: String,
    summary: String,
    accepted_by: Option<String>,
}

impl Worker {
    /// The job's check run: the one an earlier attempt created, or a new one, in progress.
    pub(super) async fn open_check_run(
        &self,
        job: &Job,
        pr: &ScoreJob,
        state: &mut Value,
    ) -> Result<CheckRunId, JobError> {
        let target = CheckTarget {
            installation_id: pr.installation_id,
            repo: RepoId::new(&pr.repo.owner, &pr.repo.name),
            head_sha: &pr.head_sha,
            external_id: &format!("{}#{}", pr.repo.full_name, pr.number),
        };
        self.check_run_for(job, state, &target, job.attempts > 1)
            .await
    }

    /// Completes the check with the score, updates the sticky comment and records the score.
    pub(super) async fn publish(
        &self,
        job: &Job,
        pr: &ScoreJob,
        check: CheckRunId,
        scored: &Scored,
        state: &mut Value,
    ) -> Result<(), JobError> {
        let (inst, repo) = (
            pr.installation_id,
            RepoId::new(&pr.repo.owner, &pr.repo.name),
        );
        let report = &scored.report;
        let markdown = report.to_markdown();
        let verdict = self.verdict(pr, scored, &markdown).await?;
        let mut actions = Vec::new();
        if verdict.conclusion != "success" {
            actions.push(CheckAction {
                label: "Accept risk".into(),
                description: "Mark as reviewed; needs write access".into(),
                identifier: ACCEPT_RISK_ACTION.into(),
            });
        }
        let update = CheckRunUpdate {
            status: Some("completed".into()),
            conclusion: Some(verdict.conclusion.into()),
            title: Some(verdict.title.clone()),
            summary: Some(verdict.summary.clone()),
            text: None,
            annotations: render::annotations_for(report),
            actions,
        };
        self.github
            .update_check_run(inst, repo, check, &update)
            .await?;
        // From here on the check carries its score: a failure later (the comment, say) must
        // not turn it into "could not score".
        state["concluded"] = json!(true);
        self.save_state(job, state).await?;

        // The check belongs to its commit and stands; the comment and the PR's latest score
        // speak for the PR's head, which a later push may have moved past this one. Two jobs of
        // one PR (a push and a label, a review) take turns: each would find no comment and post.
        let comment_lock = self
            .store
            .lock_sticky_comment(&pr.repo.full_name, pr.number)
            .await?;
        let moved_on = self.head_moved_on(pr).await;
        if moved_on.is_none() {
            self.sticky_comment(
                inst,
                repo,
                pr.number,
                report.band,
                scored.comment,
                scored.comment_behavior,
                &markdown,
            )
            .await?;
        }
        drop(comment_lock);
        if state["recorded"].as_bool() != Some(true) {
            self.record_score(job, pr, check, scored, &verdict, moved_on.as_deref())
                .await?;
            state["recorded"] = json!(true);
            self.save_state(job, state).await?;
        }
        Ok(())
    }

    /// The pull request's head on GitHub, when it is no longer the head this job scored (a
    /// push came while it was being scored, or the job is a late rescore of an older head).
    /// When GitHub cannot say, the job's head is taken as current, as before the question.
    async fn head_moved_on(&self, pr: &ScoreJob) -> Option<String> {
        let repo = RepoId::new(&pr.repo.owner, &pr.repo.name);
        match self
            .github
            .get_pull_request(pr.installation_id, repo, pr.number)
            .await
        {
            Ok(info) if !info.head_sha.is_empty() && info.head_sha != pr.head_sha => {
                tracing::info!(
                    head = %info.head_sha,
                    scored = %pr.head_sha,
                    "the pull request moved on: its comment and latest score are left to its head"
                );
                Some(info.head_sha)
            }
            Ok(_) => None,
            Err(e) => {
                tracing::warn!(error = %e, "the pull request's head could not be read");
                None
            }
        }
    }

    /// The check's conclusion, title and summary. The acceptance is read as late as
    /// possible: one recorded while this head was being scored still counts.
    async fn verdict(
        &self,
        pr: &ScoreJob,
        scored: &Scored,
        markdown: &str,
    ) -> Result<Verdict, JobError> {
        let report = &scored.report;
        let accepted = self
            .store
            .standing_risk_acceptance(&pr.repo.full_name, pr.number as i64, &pr.head_sha)
            .await?;
        let accepted_by = accepted.and_then(|a| a.actor);
        Ok(match &accepted_by {
            Some(who) => Verdict {
                conclusion: "success",
                title: render::accepted_title(report.probability, report.band, who),
                summary: render::check_summary(&render::accepted_summary(who, markdown)),
                accepted_by,
            },
            None => Verdict {
                conclusion: render::conclusion_for(
                    report.band,
                    scored.high_risk == HighRisk::Failure,
                ),
                title: render::check_title(report.probability, report.band),
                summary: render::check_summary(markdown),
                accepted_by,
            },
        })
    }

    /// The score and the conclusion posted, in the scores table and the audit trail.
    async fn record_score(
        &self,
        job: &Job,
        pr: &ScoreJob,
        check: CheckRunId,
        scored: &Scored,
        verdict: &Verdict,
        moved_on_to: Option<&str>,
    ) -> Result<(), JobError> {
        let report = &scored.report;
        let features = serde_json::to_value(&report.features).unwrap_or_default();
        // Stored, the score of an older head would become the PR's latest: compared against
        // by the next score, shown on the dashboard, and ending the acceptance of the newer head.
        if moved_on_to.is_none() {
            self.store
                .record_score(
                    &NewScore {
                        repository: pr.repo.full_name.clone(),
                        pr_number: pr.number as i64,
                        head_sha: pr.head_sha.clone(),
                        base_sha: report.base.clone(),
                        probability: report.probability,
                        band: report.band.as_str().into(),
                        model_version: report.model.version.clone(),
                        features,
                        conclusion: verdict.conclusion.into(),
                        check_run_id: Some(check.0 as i64),
                        delivery_id: job.delivery_id.clone(),
                    },
                    now_ms(),
                )
                .await?;
        }
        let mut detail = json!({
            "conclusion": verdict.conclusion, "probability": report.probability,
            "band": report.band.as_str(), "model_version": report.model.version,
            "check_run_id": check.0, "reason": pr.reason,
            "accepted_by": verdict.accepted_by,
        });
        if let Some(head) = moved_on_to {
            detail["head_moved_on_to"] = json!(head);
        }
        self.store
            .append_audit(&NewAuditEvent {
                at: now_ms(),
                repository: pr.repo.full_name.clone(),
                pr_number: Some(pr.number as i64),
                head_sha: Some(pr.head_sha.clone()),
                kind: crate::store::AUDIT_CHECK_CONCLUSION.into(),
                actor: None,
                detail,
            })
            .await?;
        Ok(())
    }

    /// riskgate's comment on the PR, found by its marker and its author (the App's bot).
    /// Posted only once the band reaches the policy; once posted it follows the advice, down as
    /// well as up: edited in place when the band differs from the one its marker recorded
    /// (`update`; a comment without a recorded band counts as differing), a new comment when
    /// the text changes (`new`, compared with the latest), or left as first posted (`once`).
    #[allow(clippy::too_many_arguments)]
    async fn sticky_comment(
        &self,
        inst: u64,
        repo: RepoId<'_>,
        number: u64,
        band: Band,
        policy: CommentPolicy,
        behavior: CommentBehavior,
        markdown: &str,
    ) -> Result<(), JobError> {
        if policy == CommentPolicy::Never {
            return Ok(());
        }
        let bot_login = self.github.app_bot_login().await?;
        let comments = match self.github.list_issue_comments(inst, repo, number).await {
            // Among thousands of comments riskgate's is not looked for: the check run says
            // what a comment would, and a new comment on each push would bury the thread.
            Err(e @ GitHubError::TooManyPages { .. }) => {
                tracing::warn!(error = %e, "no comment on this pull request");
                return Ok(());
            }
            listed => listed?,
        };
        let existing = match behavior {
            CommentBehavior::New => render::find_latest_sticky(&comments, &bot_login),
            CommentBehavior::Update | CommentBehavior::Once => {
                render::find_sticky(&comments, &bot_login)
            }
        };
        let wanted = match policy {
            CommentPolicy::Always => true,
            CommentPolicy::Elevated => band >= Band::Elevated,
            CommentPolicy::High => band >= Band::High,
            CommentPolicy::Never => false,
        };
        let body = render::comment_body(markdown, band);
        match existing {
            Some(comment)
                if behavior == CommentBehavior::Update
                    && render::comment_band(&comment.body) != Some(band) =>
            {
                self.github
                    .update_issue_comment(inst, repo, comment.id, &body)
                    .await?;
            }
            Some(comment) if comment.body != body && behavior == CommentBehavior::New => {
                self.github
                    .create_issue_comment(inst, repo, number, &body)
                    .await?;
            }
            Some(_) => {}
            None if wanted => {
                self.github
                    .create_issue_comment(inst, repo, number, &body)
                    .await?;
            }
            None => {}
        }
        Ok(())
    }
}

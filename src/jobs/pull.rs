//! The jobs about one pull request: score it and post the check run and sticky comment; accept
//! its risk; take in a coverage report from CI.

use std::path::PathBuf;

use serde_json::json;

use super::plan::{AcceptRiskJob, CoverageJob, RepoJob, ScoreJob, ACCEPT_RISK_ACTION};
use super::{JobError, MirrorGuard, Worker, PAST_DEADLINE};
use crate::config::{CommentPolicy, HighRisk, RepoConfig};
use crate::engine::{self, CoverageInputs};
use crate::features::coverage::CoverageReport;
use crate::features::review::{review_signals, Review};
use crate::github::client::{CheckAction, CheckRunId, CheckRunUpdate, RepoId, MAX_ARTIFACT_BYTES};
use crate::github::{render, CHECK_NAME};
use crate::mining::mirror::MirrorError;
use crate::mining::{self, ChangeSpec};
use crate::model::Band;
use crate::store::{Job, JobStatus, NewAuditEvent, NewScore};
use crate::time::{now_ms, parse_rfc3339_utc};

/// A mining failure as a job outcome: past the deadline stops the job, anything else is retried.
pub(super) fn mining_err(e: mining::MiningError) -> JobError {
    match e {
        mining::MiningError::TimedOut => JobError::TimedOut,
        e => JobError::Retry(e.to_string()),
    }
}

fn high_risk_name(high_risk: HighRisk) -> &'static str {
    match high_risk {
        HighRisk::Failure => "failure",
        HighRisk::Neutral => "neutral",
    }
}

/// A name or ref git would refuse will not get better; a failed or stalled fetch may.
fn fetch_error(e: MirrorError) -> JobError {
    match e {
        MirrorError::BadName(_) | MirrorError::BadRef(_) | MirrorError::BadUrl { .. } => {
            JobError::Park(e.to_string())
        }
        _ => JobError::Retry(e.to_string()),
    }
}

/// Largest coverage report read out of an artifact, counted in bytes actually decompressed.
pub const MAX_COVERAGE_REPORT_BYTES: u64 = 128 * 1024 * 1024;

pub(super) fn blocking_err(e: tokio::task::JoinError) -> JobError {
    JobError::Retry(format!("scoring task failed: {e}"))
}

impl Worker {
    /// Fetch the base branch and the PR head into the mirror; returns the mirror's path.
    async fn fetch(
        &self,
        guard: &MirrorGuard,
        job: &ScoreJob,
        base_ref: &str,
    ) -> Result<PathBuf, JobError> {
        let refs = vec![
            format!("refs/heads/{base_ref}"),
            format!("refs/pull/{}/head", job.number),
        ];
        self.fetch_refs(guard, job.installation_id, &job.repo, refs)
            .await
    }

    /// Fetch `refs` of `repo` into its mirror, each to the same name (the mirror checks each
    /// is a well-formed ref); returns the mirror's path.
    pub(super) async fn fetch_refs(
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

    /// Score a pull request head and complete its check run. `deadline` bounds the mining
    /// (checked by the mining code as it goes); the caller bounds the whole job by it too.
    pub(super) async fn score_pull_request(
        &self,
        job: &Job,
        deadline: std::time::Instant,
    ) -> Result<(), JobError> {
        let mut pr: ScoreJob = serde_json::from_value(job.payload.clone())
            .map_err(|e| JobError::Park(format!("bad job payload: {e}")))?;
        let repo = RepoId::new(&pr.repo.owner, &pr.repo.name);
        let inst = pr.installation_id;
        if pr.base_ref.is_none()
            || pr.labels.is_none()
            || pr.draft.is_none()
            || pr.opened_at.is_none()
        {
            let info = self.github.get_pull_request(inst, repo, pr.number).await?;
            pr.base_ref.get_or_insert(info.base_ref);
            pr.labels.get_or_insert(info.labels);
            pr.draft.get_or_insert(info.draft);
            pr.author.get_or_insert(info.author);
            pr.opened_at = pr.opened_at.or(info.created_at);
        }
        let base_ref = pr.base_ref.clone().unwrap_or_default();
        let mut state = job.state.clone().unwrap_or_else(|| json!({}));

        // The check appears at once, before the slow part; a resumed job reuses it.
        let check = match state["check_run_id"].as_u64() {
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

        let guard = self.lock_repo(&pr.repo.full_name).await;
        let mirror = self.fetch(&guard, &pr, &base_ref).await?;

        let base_rev = format!("refs/heads/{base_ref}");
        let config_text = {
            let (mirror, base_rev) = (mirror.clone(), base_rev.clone());
            guard
                .blocking(move || {
                    let repo = mining::open_repository(&mirror)?;
                    mining::config_at(&repo, &base_rev)
                })
                .await?
                .map_err(mining_err)?
        };
        let config = match config_text
            .map(|t| RepoConfig::parse(mining::CONFIG_PATH, &t))
            .transpose()
        {
            Ok(c) => c.unwrap_or_default(),
            Err(e) => {
                let message = format!(
                    "riskgate could not read its settings from the base branch `{base_ref}`: {e}"
                );
                self.complete_check(
                    inst,
                    repo,
                    check,
                    "failure",
                    "riskgate: invalid .github/riskgate.yml",
                    &message,
                    vec![],
                )
                .await?;
                return Ok(());
            }
        };
        // Should this job be parked later, the check it completes follows the repository's bar.
        if state["high_risk"].as_str() != Some(high_risk_name(config.high_risk)) {
            state["high_risk"] = json!(high_risk_name(config.high_risk));
            self.save_state(job, &state).await?;
        }
        let labels = pr.labels.clone().unwrap_or_default();
        if labels.iter().any(|l| l == &config.skip_label) {
            let why = format!(
                "The pull request carries the `{}` label, so riskgate did not score it.",
                config.skip_label
            );
            return self
                .complete_check(
                    inst,
                    repo,
                    check,
                    "skipped",
                    "riskgate: skipped by label",
                    &why,
                    vec![],
                )
                .await;
        }
        if pr.draft == Some(true) && !config.score_drafts {
            let why = "Draft pull requests are scored when they are marked ready for review (or with `score_drafts: true`).";
            return self
                .complete_check(
                    inst,
                    repo,
                    check,
                    "skipped",
                    "riskgate: draft, not scored",
                    why,
                    vec![],
                )
                .await;
        }

        let mined = {
            let (mirror, head) = (mirror.clone(), pr.head_sha.clone());
            guard
                .blocking(move || {
                    let repo = mining::open_repository(&mirror)?;
                    mining::mine_change(
                        &repo,
                        &ChangeSpec {
                            base: Some(base_rev),
                            head: Some(head),
                            deadline: Some(deadline),
                        },
                    )
                })
                .await?
                .map_err(mining_err)?
        };
        drop(guard);

        let reviews = self.github.list_reviews(inst, repo, pr.number).await?;
        let review_comments = self
            .github
            .list_review_comments(inst, repo, pr.number)
            .await?;
        let reviews: Vec<Review> = reviews
            .into_iter()
            .map(|r| Review {
                reviewer: r.reviewer,
                state: r.state,
                submitted_at: r.submitted_at.as_deref().and_then(parse_rfc3339_utc),
            })
            .collect();
        let changed: u64 = mined
            .snapshot
            .files
            .iter()
            .map(|f| f.added + f.deleted)
            .sum();
        let author = pr.author.clone().unwrap_or_default();
        let review = review_signals(
            &author,
            &reviews,
            review_comments.len(),
            changed,
            pr.opened_at,
            &mined.file_authors,
        );

        let coverage = self
            .coverage_inputs(&pr.repo.full_name, &base_ref, &pr.head_sha)
            .await?;
        let model = self.model.current();
        let report = engine::score_mined(&model, &mined, coverage.as_ref(), Some(&review))
            .map_err(|e| JobError::Park(format!("scoring: {e:#}")))?;

        let markdown = report.to_markdown();
        // Read as late as possible: an acceptance recorded while this head was being scored
        // still counts.
        let accepted = self
            .store
            .standing_risk_acceptance(&pr.repo.full_name, pr.number as i64, &pr.head_sha)
            .await?;
        let accepted_by = accepted.as_ref().and_then(|a| a.actor.clone());
        let (conclusion, title, summary) = match &accepted_by {
            Some(who) => (
                "success",
                render::accepted_title(report.probability, report.band, who),
                render::check_summary(&render::accepted_summary(who, &markdown)),
            ),
            None => (
                render::conclusion_for(report.band, config.high_risk == HighRisk::Failure),
                render::check_title(report.probability, report.band),
                render::check_summary(&markdown),
            ),
        };
        let mut actions = Vec::new();
        if conclusion != "success" {
            actions.push(CheckAction {
                label: "Accept risk".into(),
                description: "Mark as reviewed; needs write access".into(),
                identifier: ACCEPT_RISK_ACTION.into(),
            });
        }
        let update = CheckRunUpdate {
            status: Some("completed".into()),
            conclusion: Some(conclusion.into()),
            title: Some(title),
            summary: Some(summary),
            text: None,
            annotations: render::annotations_for(&report),
            actions,
        };
        self.github
            .update_check_run(inst, repo, check, &update)
            .await?;
        // From here on the check carries its score: a failure later (the comment, say) must
        // not turn it into "could not score".
        state["concluded"] = json!(true);
        self.save_state(job, &state).await?;

        self.sticky_comment(
            inst,
            repo,
            pr.number,
            report.band,
            config.comment,
            &markdown,
        )
        .await?;

        if state["recorded"].as_bool() != Some(true) {
            let features = serde_json::to_value(&report.features).unwrap_or_default();
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
                        conclusion: conclusion.into(),
                        check_run_id: Some(check.0 as i64),
                        delivery_id: job.delivery_id.clone(),
                    },
                    now_ms(),
                )
                .await?;
            self.store
                .append_audit(&NewAuditEvent {
                    at: now_ms(),
                    repository: pr.repo.full_name.clone(),
                    pr_number: Some(pr.number as i64),
                    head_sha: Some(pr.head_sha.clone()),
                    kind: crate::store::AUDIT_CHECK_CONCLUSION.into(),
                    actor: None,
                    detail: json!({
                        "conclusion": conclusion, "probability": report.probability, "band": report.band.as_str(),
                        "model_version": report.model.version, "check_run_id": check.0, "reason": pr.reason,
                        "accepted_by": accepted_by,
                    }),
                })
                .await?;
            state["recorded"] = json!(true);
            self.save_state(job, &state).await?;
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) async fn complete_check(
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

    /// One comment per PR, found by its marker and its author (the App's bot) and edited in
    /// place. Posted only once the band reaches the policy; once posted it follows the score,
    /// down as well as up.
    async fn sticky_comment(
        &self,
        inst: u64,
        repo: RepoId<'_>,
        number: u64,
        band: Band,
        policy: CommentPolicy,
        markdown: &str,
    ) -> Result<(), JobError> {
        if policy == CommentPolicy::Never {
            return Ok(());
        }
        let bot_login = self.github.app_bot_login().await?;
        let comments = self.github.list_issue_comments(inst, repo, number).await?;
        let existing = render::find_sticky(&comments, &bot_login);
        let wanted = match policy {
            CommentPolicy::Always => true,
            CommentPolicy::Elevated => band >= Band::Elevated,
            CommentPolicy::High => band >= Band::High,
            CommentPolicy::Never => false,
        };
        let body = render::comment_body(markdown);
        match existing {
            Some(comment) if comment.body != body => {
                self.github
                    .update_issue_comment(inst, repo, comment.id, &body)
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

    pub(super) async fn coverage_inputs(
        &self,
        repository: &str,
        base_ref: &str,
        head_sha: &str,
    ) -> Result<Option<CoverageInputs>, JobError> {
        let Some(head) = self
            .store
            .coverage_report_for_commit(repository, head_sha)
            .await?
        else {
            return Ok(None);
        };
        let parse = |name: &str, text: &str| CoverageReport::parse(name, text).ok();
        let Some(head) = parse("head coverage report", &head.report) else {
            return Ok(None);
        };
        let base = self
            .store
            .latest_coverage_report(repository, base_ref)
            .await?
            .and_then(|b| parse("base coverage report", &b.report))
            .unwrap_or_default();
        Ok(Some(CoverageInputs { base, head }))
    }

    pub(super) async fn accept_risk(&self, job: &Job) -> Result<(), JobError> {
        let a: AcceptRiskJob = serde_json::from_value(job.payload.clone())
            .map_err(|e| JobError::Park(format!("bad job payload: {e}")))?;
        let repo = RepoId::new(&a.repo.owner, &a.repo.name);
        // GitHub answers 404 for someone who is not a collaborator at all: that is a "no", and
        // is audited like any other refusal rather than failing the job.
        let (permission, refusal) = if a.sender.is_empty() {
            ("none".to_string(), Some("the delivery names no sender"))
        } else {
            match self
                .github
                .collaborator_permission(a.installation_id, repo, &a.sender)
                .await
            {
                Ok(p) if matches!(p.as_str(), "admin" | "maintain" | "write") => (p, None),
                Ok(p) => (p, Some("no write permission")),
                Err(e) if e.status() == Some(404) => {
                    ("none".to_string(), Some("not a collaborator"))
                }
                Err(e) => return Err(e.into()),
            }
        };
        let pr_number = a.pull_number().map(|n| n as i64);
        let audit = |kind: &str, reason: Option<&str>| NewAuditEvent {
            at: now_ms(),
            repository: a.repo.full_name.clone(),
            pr_number,
            head_sha: Some(a.head_sha.clone()),
            kind: kind.into(),
            actor: Some(a.sender.clone()),
            detail: json!({
                "permission": permission, "check_run_id": a.check_run_id, "reason": reason,
            }),
        };
        if let Some(reason) = refusal {
            self.store
                .append_audit(&audit(
                    crate::store::AUDIT_RISK_ACCEPTANCE_REFUSED,
                    Some(reason),
                ))
                .await?;
            tracing::warn!(sender = %a.sender, %permission, reason, "risk acceptance refused");
            return Ok(());
        }
        let mut state = job.state.clone().unwrap_or_else(|| json!({}));
        if state["audited"].as_bool() != Some(true) {
            self.store
                .append_audit(&audit(crate::store::AUDIT_RISK_ACCEPTED, None))
                .await?;
            state["audited"] = json!(true);
            self.save_state(job, &state).await?;
        }
        let summary = format!(
            "@{} accepted the risk of this change (permission: {permission}). It stands for this \
             commit until a new one is pushed; the accepted score stays in riskgate's audit trail.",
            a.sender
        );
        self.complete_check(
            a.installation_id,
            repo,
            CheckRunId(a.check_run_id),
            "success",
            &format!("riskgate: risk accepted by @{}", a.sender),
            &summary,
            vec![],
        )
        .await
    }

    /// A CI run finished: read the configured coverage artifact, keep the report for its
    /// commit and branch, and rescore the run's pull requests with it.
    pub(super) async fn coverage(&self, job: &Job) -> Result<(), JobError> {
        let c: CoverageJob = serde_json::from_value(job.payload.clone())
            .map_err(|e| JobError::Park(format!("bad job payload: {e}")))?;
        let repo = RepoId::new(&c.repo.owner, &c.repo.name);
        let default_branch = if c.repo.default_branch.is_empty() {
            "main".to_string()
        } else {
            c.repo.default_branch.clone()
        };
        let token = self.github.installation_token(c.installation_id).await?;
        let config_text = {
            let guard = self.lock_repo(&c.repo.full_name).await;
            let mirrors = self.mirrors.clone();
            let full_name = c.repo.full_name.clone();
            let rev = format!("refs/heads/{default_branch}");
            let refs = vec![rev.clone()];
            guard
                .blocking(move || -> Result<Option<String>, JobError> {
                    let path = mirrors
                        .fetch(&full_name, Some(&token), &refs)
                        .map_err(fetch_error)?;
                    let repo = mining::open_repository(&path)
                        .map_err(|e| JobError::Retry(e.to_string()))?;
                    mining::config_at(&repo, &rev).map_err(|e| JobError::Retry(e.to_string()))
                })
                .await??
        };
        let config = match config_text
            .map(|t| RepoConfig::parse(mining::CONFIG_PATH, &t))
            .transpose()
        {
            Ok(c) => c.unwrap_or_default(),
            Err(e) => return Err(JobError::Park(format!("coverage not read: {e}"))),
        };
        let Some(wanted) = config.coverage else {
            tracing::info!("no coverage artifact configured; nothing to read");
            return Ok(());
        };
        let artifacts = self
            .github
            .list_run_artifacts(c.installation_id, repo, c.run_id)
            .await?;
        let Some(artifact) = artifacts
            .iter()
            .find(|a| a.name == wanted.artifact && !a.expired)
        else {
            tracing::info!(artifact = %wanted.artifact, "the run has no such artifact");
            return Ok(());
        };
        if artifact.size_in_bytes > MAX_ARTIFACT_BYTES as u64 {
            return Err(JobError::Park(format!(
                "the coverage artifact `{}` is {} bytes, more than the {} MiB riskgate downloads",
                artifact.name,
                artifact.size_in_bytes,
                MAX_ARTIFACT_BYTES / (1024 * 1024)
            )));
        }
        let zipped = self
            .github
            .download_artifact(c.installation_id, repo, artifact.id)
            .await?;
        // Unzipping is CPU work on a bounded input; it stays off the async threads.
        let paths = wanted.paths.clone();
        let (name, text) = tokio::task::spawn_blocking(move || {
            report_from_zip(&zipped, &paths, MAX_COVERAGE_REPORT_BYTES)
        })
        .await
        .map_err(blocking_err)?
        .map_err(JobError::Park)?;
        let parsed =
            CoverageReport::parse(&name, &text).map_err(|e| JobError::Park(e.to_string()))?;
        let format = if text.trim_start().starts_with('<') {
            "cobertura"
        } else {
            "lcov"
        };
        let head_branch = c.head_branch.clone().unwrap_or_default();
        // A fork can name a branch like the base branch; only the repository's own runs speak
        // for its branches. A fork's report still serves its own head commit.
        let branch = if c.same_repository {
            head_branch
        } else {
            let from = c.head_repository.as_deref().unwrap_or("unknown repository");
            crate::store::fork_branch_label(from, &head_branch)
        };
        self.store
            .store_coverage_report(
                &crate::store::NewCoverageReport {
                    repository: c.repo.full_name.clone(),
                    branch: branch.clone(),
                    sha: c.head_sha.clone(),
                    format: format.into(),
                    report: text,
                },
                now_ms(),
            )
            .await?;
        tracing::info!(files = parsed.file_count(), %branch, "coverage report stored");
        // GitHub lists no pull requests for a run from a fork: rescore those riskgate has seen
        // at this head instead.
        let pull_numbers = if c.pull_numbers.is_empty() {
            self.store
                .pull_requests_scored_at(&c.repo.full_name, &c.head_sha)
                .await?
                .into_iter()
                .filter_map(|n| u64::try_from(n).ok())
                .collect()
        } else {
            c.pull_numbers.clone()
        };
        for &number in &pull_numbers {
            let rescore = ScoreJob {
                installation_id: c.installation_id,
                repo: c.repo.clone(),
                number,
                head_sha: c.head_sha.clone(),
                base_ref: None,
                draft: None,
                labels: None,
                author: None,
                opened_at: None,
                reason: "coverage".into(),
            };
            let new = crate::store::NewJob::score_pull_request(
                &c.repo.full_name,
                number as i64,
                &c.head_sha,
                serde_json::to_value(rescore).expect("job serialises"),
            );
            self.store.enqueue_job(&new, now_ms()).await?;
        }
        self.wake.notify_waiters();
        Ok(())
    }
}

impl Worker {
    /// Complete the check run of a parked scoring job, saying it could not be scored and how
    /// to try again: `neutral` when it ran out of time or the repository has high risk advise
    /// only, `failure` where high risk fails the check. A job unparked since, or one whose
    /// check already carries its score, is left alone; a job parked before it created its check
    /// run gets one, completed, so a required check is never left waiting.
    pub(super) async fn finish_check_run(&self, job: &Job) -> Result<(), JobError> {
        let parked_id = job.payload["parked_job"]
            .as_i64()
            .ok_or_else(|| JobError::Park("the parked job's id is missing".into()))?;
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
        let pr: ScoreJob = serde_json::from_value(parked.payload.clone())
            .map_err(|e| JobError::Park(format!("bad payload of parked job {parked_id}: {e}")))?;
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
        });
        match tokio::time::timeout(std::time::Duration::from_secs(10), read).await {
            Ok(Ok(Some(text))) => RepoConfig::parse(mining::CONFIG_PATH, &text)
                .map(|c| c.high_risk)
                .unwrap_or_default(),
            _ => HighRisk::default(),
        }
    }
}

/// The first configured report path found in the artifact (by exact name or as a suffix), read
/// up to `max_bytes` of decompressed data. The limit counts the bytes the decompressor actually
/// yields: the sizes an archive declares are not trusted, since a zip bomb lies about them.
fn report_from_zip(
    bytes: &[u8],
    paths: &[String],
    max_bytes: u64,
) -> Result<(String, String), String> {
    use std::io::Read as _;
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes))
        .map_err(|e| format!("the coverage artifact is not a zip file: {e}"))?;
    let names: Vec<String> = archive.file_names().map(str::to_string).collect();
    for wanted in paths {
        let wanted = wanted.trim_start_matches("./");
        let found = names
            .iter()
            .find(|n| *n == wanted || n.ends_with(&format!("/{wanted}")));
        if let Some(name) = found {
            let file = archive
                .by_name(name)
                .map_err(|e| format!("reading {name} from the artifact: {e}"))?;
            let mut raw = Vec::new();
            file.take(max_bytes.saturating_add(1))
                .read_to_end(&mut raw)
                .map_err(|e| format!("reading {name} from the artifact: {e}"))?;
            if raw.len() as u64 > max_bytes {
                return Err(format!(
                    "the coverage report {name} in the artifact is larger than {} MiB once \
                     decompressed; riskgate reads no more of it",
                    max_bytes / (1024 * 1024)
                ));
            }
            return Ok((name.clone(), String::from_utf8_lossy(&raw).into_owned()));
        }
    }
    Err(format!(
        "the coverage artifact holds none of {}",
        paths.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write as _;

    const MIB: u64 = 1024 * 1024;

    /// A zip holding `name` with `size` zero bytes, deflated.
    fn zip_of_zeros(name: &str, size: u64) -> Vec<u8> {
        let mut buf = std::io::Cursor::new(Vec::new());
        let mut w = zip::ZipWriter::new(&mut buf);
        w.start_file(name, zip::write::SimpleFileOptions::default())
            .unwrap();
        let chunk = vec![0u8; MIB as usize];
        let mut left = size;
        while left > 0 {
            let n = left.min(MIB);
            w.write_all(&chunk[..n as usize]).unwrap();
            left -= n;
        }
        w.finish().unwrap();
        buf.into_inner()
    }

    /// Rewrites every uncompressed size the archive declares (local and central headers) to
    /// `declared`, as a zip bomb would.
    fn lie_about_sizes(zip: &mut [u8], declared: u32) {
        let mut i = 0;
        while i + 4 <= zip.len() {
            let at = match &zip[i..i + 4] {
                b"PK\x03\x04" => Some(i + 22),
                b"PK\x01\x02" => Some(i + 24),
                _ => None,
            };
            if let Some(at) = at {
                zip[at..at + 4].copy_from_slice(&declared.to_le_bytes());
            }
            i += 1;
        }
    }

    fn paths() -> Vec<String> {
        vec!["lcov.info".to_string()]
    }

    #[test]
    fn a_report_is_read_up_to_the_cap() {
        let exact = zip_of_zeros("out/lcov.info", MIB);
        let (name, text) = report_from_zip(&exact, &paths(), MIB).unwrap();
        assert_eq!(name, "out/lcov.info");
        assert_eq!(text.len() as u64, MIB);
        let over = zip_of_zeros("lcov.info", MIB + 1);
        let error = report_from_zip(&over, &paths(), MIB).unwrap_err();
        assert!(
            error.contains("lcov.info") && error.contains("larger than 1 MiB"),
            "{error}"
        );
    }

    #[test]
    fn the_cap_counts_bytes_read_not_the_sizes_declared() {
        let mut bomb = zip_of_zeros("lcov.info", 3 * MIB);
        lie_about_sizes(&mut bomb, 100);
        let archive = zip::ZipArchive::new(std::io::Cursor::new(&bomb)).unwrap();
        assert_eq!(
            archive.decompressed_size(),
            Some(100),
            "the archive claims 100 bytes"
        );
        let error = report_from_zip(&bomb, &paths(), MIB).unwrap_err();
        assert!(error.contains("larger than 1 MiB"), "{error}");
    }

    #[test]
    fn a_missing_report_and_a_non_zip_are_named() {
        let other = zip_of_zeros("coverage.json", 10);
        let error = report_from_zip(&other, &paths(), MIB).unwrap_err();
        assert!(error.contains("holds none of lcov.info"), "{error}");
        let error = report_from_zip(b"not a zip", &paths(), MIB).unwrap_err();
        assert!(error.contains("not a zip file"), "{error}");
    }
}

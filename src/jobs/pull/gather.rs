//! The first step of scoring a pull request: everything is read and scored, nothing is posted.
//! What it finds is a plain [`Gathered`] value that [`super::publish`] turns into the check.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::{high_risk_name, mining_err, take_lacking_mailmap};
use crate::config::{
    CommentBehavior, CommentPolicy, ExtendsTarget, HighRisk, Layer, RepoConfig, MAX_CONFIG_BYTES,
};
use crate::engine::{self, CoverageInputs};
use crate::features::coverage::CoverageReport;
use crate::features::review::{review_signals, Review, ReviewSignals};
use crate::github::client::RepoId;
use crate::jobs::payload::ScoreJob;
use crate::jobs::{JobClock, JobError, MirrorGuard, Worker};
use crate::mining::{self, AttributeSource, ChangeSpec, MinedChange};
use crate::model::Model;
use crate::report::{PreviousScore, ScoreReport};
use crate::store::Job;
use crate::time::parse_rfc3339_utc;

/// What scoring one head found.
pub(super) enum Gathered {
    /// The head is not scored (a skip label, a draft, unreadable settings): the check is
    /// completed with this.
    NotScored(NotScored),
    Scored(Box<Scored>),
}

/// The check of a head that was not scored.
pub(super) struct NotScored {
    pub conclusion: &'static str,
    pub title: String,
    pub summary: String,
}

impl NotScored {
    fn skipped(title: &str, summary: String) -> Gathered {
        Gathered::NotScored(NotScored {
            conclusion: "skipped",
            title: title.to_string(),
            summary,
        })
    }
}

/// The score of a head, with the settings that decide how it is shown.
pub(super) struct Scored {
    pub report: ScoreReport,
    pub high_risk: HighRisk,
    pub comment: CommentPolicy,
    pub comment_behavior: CommentBehavior,
}

impl Worker {
    /// The scoring job with what its event did not carry (a re-run from the checks tab knows
    /// only the PR number) looked up on GitHub.
    pub(super) async fn complete_pull_request(
        &self,
        mut pr: ScoreJob,
    ) -> Result<ScoreJob, JobError> {
        if pr.base_ref.is_none()
            || pr.labels.is_none()
            || pr.draft.is_none()
            || pr.opened_at.is_none()
        {
            let repo = RepoId::new(&pr.repo.owner, &pr.repo.name);
            let info = self
                .github
                .get_pull_request(pr.installation_id, repo, pr.number)
                .await?;
            pr.base_ref.get_or_insert(info.base_ref);
            pr.labels.get_or_insert(info.labels);
            pr.draft.get_or_insert(info.draft);
            pr.author.get_or_insert(info.author);
            pr.opened_at = pr.opened_at.or(info.created_at);
        }
        Ok(pr)
    }

    /// Reads the repository's settings from the base branch, the change from the mirror, the
    /// reviews and coverage, and scores the head. The repository's `high_risk` goes into the
    /// job's `state`, so that a check completed for the job if it is parked later follows it.
    pub(super) async fn gather(
        &self,
        job: &Job,
        pr: &ScoreJob,
        state: &mut Value,
        clock: &JobClock,
    ) -> Result<Gathered, JobError> {
        let base_ref = pr.base_ref.clone().unwrap_or_default();
        let guard = self.lock_repo(&pr.repo.full_name).await;
        let refs = vec![
            format!("refs/heads/{base_ref}"),
            format!("refs/pull/{}/head", pr.number),
        ];
        let mirror = self
            .fetch_refs(&guard, pr.installation_id, &pr.repo, refs)
            .await?;
        let base_rev = format!("refs/heads/{base_ref}");
        let own = self.config_at(&guard, &mirror, &base_rev).await?;
        let config = match self.layered_config(pr, own).await? {
            Ok(config) => config,
            Err(e) => {
                return Ok(Gathered::NotScored(NotScored {
                    conclusion: "failure",
                    title: "riskgate: invalid .github/riskgate.yml".to_string(),
                    summary: format!(
                        "riskgate could not read its settings from the base branch \
                         `{base_ref}`: {e}"
                    ),
                }))
            }
        };
        if state["high_risk"].as_str() != Some(high_risk_name(config.high_risk_conclusion())) {
            state["high_risk"] = json!(high_risk_name(config.high_risk_conclusion()));
            self.save_state(job, state).await?;
        }
        if let Some(skipped) = skipped(pr, &config) {
            return Ok(skipped);
        }

        clock.scoring_begins();
        let deadline = clock.deadline;
        let mut mined = {
            let head = pr.head_sha.clone();
            let path = mirror.clone();
            guard
                .blocking(move || {
                    let repo = mining::open_repository(&path)?;
                    mining::mine_change(
                        &repo,
                        &ChangeSpec {
                            base: Some(base_rev),
                            head: Some(head),
                            deadline: Some(deadline),
                            attributes: AttributeSource::BaseBranch,
                        },
                    )
                })
                .await?
                .map_err(|e| mining_err(&mirror, e))?
        };
        drop(guard);
        let lacking_mailmap = take_lacking_mailmap(&mirror, &mut mined);

        let review = self.review_signals(pr, &mined).await?;
        let coverage = self
            .coverage_inputs(&pr.repo.full_name, &base_ref, &pr.head_sha)
            .await?;
        let model = self.model.current();
        let mut report =
            engine::score_with_config(&model, &mined, &config, coverage.as_ref(), Some(&review))
                .map_err(|e| JobError::Park(format!("scoring: {e:#}")))?;
        report.warnings.extend(lacking_mailmap);
        self.compare_with_previous(pr, &model, &mut report).await;
        Ok(Gathered::Scored(Box::new(Scored {
            report,
            high_risk: config.high_risk_conclusion(),
            comment: config.comment,
            comment_behavior: config.comment_behavior,
        })))
    }

    /// Says in the report how the score moved since the pull request's previous score (a
    /// review, a coverage report, a push). A score by another model is not comparable, and one
    /// whose signals cannot be read is passed over: the comparison is a courtesy, not worth
    /// failing the check for.
    async fn compare_with_previous(&self, pr: &ScoreJob, model: &Model, report: &mut ScoreReport) {
        let previous = match self
            .store
            .latest_score(&pr.repo.full_name, pr.number as i64)
            .await
        {
            Ok(Some(previous)) => previous,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(error = %e, "the previous score could not be read; not compared");
                return;
            }
        };
        if previous.model_version != model.version {
            return;
        }
        let Ok(features) =
            serde_json::from_value::<BTreeMap<String, Option<f64>>>(previous.features)
        else {
            return;
        };
        let contributions: BTreeMap<String, f64> = model
            .score(&features)
            .contributions
            .into_iter()
            .map(|c| (c.feature, c.contribution))
            .collect();
        report.compare_with(&PreviousScore {
            probability: previous.probability,
            head: &previous.head_sha,
            contributions: &contributions,
        });
    }

    /// The repository's settings file at `rev` of the mirror, if it has one.
    async fn config_at(
        &self,
        guard: &MirrorGuard,
        mirror: &std::path::Path,
        rev: &str,
    ) -> Result<Option<mining::SettingsFile>, JobError> {
        let (path, rev) = (mirror.to_path_buf(), rev.to_string());
        guard
            .blocking(move || {
                let repo = mining::open_repository(&path)?;
                mining::config_at(&repo, &rev)
            })
            .await?
            .map_err(|e| mining_err(mirror, e))
    }

    /// The settings that apply: the repository's own file (`own`, from its base branch) laid
    /// over the file it extends, or its organisation's defaults when it has none (Probot's
    /// convention). The inner error, naming the file, when a file cannot be read as settings.
    async fn layered_config(
        &self,
        pr: &ScoreJob,
        own: Option<mining::SettingsFile>,
    ) -> Result<Result<RepoConfig, String>, JobError> {
        let own = match own
            .map(|file| file.and_then(|t| Layer::parse(mining::CONFIG_PATH, &t)))
            .transpose()
        {
            Ok(own) => own,
            Err(e) => return Ok(Err(e.to_string())),
        };
        let target = match &own {
            None => Some(ExtendsTarget::organisation_defaults()),
            Some(layer) => layer.extends().cloned(),
        };
        let mut base = None;
        if let Some(target) = target {
            let full_name = target.full_name(&pr.repo.owner);
            let itself = full_name == pr.repo.full_name && target.path == mining::CONFIG_PATH;
            if let (false, Some((owner, name))) = (itself, full_name.split_once('/')) {
                let text = self
                    .github
                    .file_on_default_branch(
                        pr.installation_id,
                        RepoId::new(owner, name),
                        &target.path,
                        MAX_CONFIG_BYTES,
                    )
                    .await?;
                let source = format!("{full_name}:{}", target.path);
                match text.map(|t| Layer::parse(&source, &t)).transpose() {
                    Ok(layer) => base = layer,
                    Err(e) => return Ok(Err(e.to_string())),
                }
            }
        }
        Ok(RepoConfig::from_layers(base.as_ref(), own.as_ref()).map_err(|e| e.to_string()))
    }

    /// The reviews of the pull request so far, as signals for the model.
    async fn review_signals(
        &self,
        pr: &ScoreJob,
        mined: &MinedChange,
    ) -> Result<ReviewSignals, JobError> {
        let (inst, repo) = (
            pr.installation_id,
            RepoId::new(&pr.repo.owner, &pr.repo.name),
        );
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
        Ok(review_signals(
            &author,
            &reviews,
            review_comments.len(),
            changed,
            pr.opened_at,
            &mined.file_authors,
        ))
    }

    /// The coverage of a head and of its base branch, when a report for the head was uploaded.
    pub(in crate::jobs) async fn coverage_inputs(
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
        let base = self
            .store
            .latest_coverage_report(repository, base_ref)
            .await?;
        let read: Vec<i64> = std::iter::once(head.id)
            .chain(base.as_ref().map(|b| b.id))
            .collect();
        self.store
            .mark_coverage_reports_used(&read, crate::time::now_ms())
            .await?;
        // Parsing is CPU work on reports of up to 128 MiB: off the async threads.
        tokio::task::spawn_blocking(move || {
            let parse = |name: &str, text: &str| CoverageReport::parse(name, text).ok();
            let head = parse("head coverage report", &head.report)?;
            let base = base.and_then(|b| parse("base coverage report", &b.report));
            Some(CoverageInputs {
                base: base.unwrap_or_default(),
                head,
            })
        })
        .await
        .map_err(super::blocking_err)
    }
}

/// Why the head is not scored at all, if it is not: the skip label, or a draft.
fn skipped(pr: &ScoreJob, config: &RepoConfig) -> Option<Gathered> {
    let labels = pr.labels.clone().unwrap_or_default();
    if labels.iter().any(|l| l == &config.skip_label) {
        return Some(NotScored::skipped(
            "riskgate: skipped by label",
            format!(
                "The pull request carries the `{}` label, so riskgate did not score it.",
                config.skip_label
            ),
        ));
    }
    if pr.draft == Some(true) && !config.score_drafts {
        return Some(NotScored::skipped(
            "riskgate: draft, not scored",
            "Draft pull requests are scored when they are marked ready for review (or with \
             `score_drafts: true`)."
                .to_string(),
        ));
    }
    None
}

//! From a mined change to its score report: signals, model, explanation. Shared by the
//! command line and the App's worker; pure apart from what the caller already gathered.

use anyhow::Context as _;

use crate::config::RepoConfig;
use crate::features::coverage::{coverage_delta, CoverageReport};
use crate::features::review::ReviewSignals;
use crate::features::sensitive::SensitivePaths;
use crate::features::{self, ChangeKind};
use crate::mining::{self, MinedChange};
use crate::model::{explain, Model, Thresholds};
use crate::report::{ChangeSummary, ScoreReport};

const HISTORY_SIGNALS: &str = "ndev, age, nuc, exp, rexp, sexp and author expertise";

/// Coverage reports of the base and head revisions (an empty base report: head only).
#[derive(Debug, Clone, Default)]
pub struct CoverageInputs {
    pub base: CoverageReport,
    pub head: CoverageReport,
}

/// The repository's settings at the base revision, or a clear error naming the file.
pub fn repo_config(mined: &MinedChange) -> anyhow::Result<RepoConfig> {
    match &mined.config {
        Some(text) => Ok(RepoConfig::parse(mining::CONFIG_PATH, text)?),
        None => Ok(RepoConfig::default()),
    }
}

/// Signals, score and explanation of a mined change.
pub fn score_mined(
    model: &Model,
    mined: &MinedChange,
    coverage: Option<&CoverageInputs>,
    review: Option<&ReviewSignals>,
) -> anyhow::Result<ScoreReport> {
    let config = repo_config(mined)?;
    let sensitive = SensitivePaths::new(&config.sensitive_paths)
        .with_context(|| mining::CONFIG_PATH.to_string())?;
    let snapshot = &mined.snapshot;
    let hits = sensitive.hits(snapshot.files.iter().map(|f| f.path.as_str()));

    let coverage = coverage.map(|c| {
        let added: Vec<(String, Vec<u32>)> = snapshot
            .files
            .iter()
            .filter(|f| f.change != ChangeKind::Deleted && !f.added_lines.is_empty())
            .map(|f| (f.path.clone(), f.added_lines.clone()))
            .collect();
        coverage_delta(&c.base, &c.head, &added)
    });

    let (signals, context) = features::compute(snapshot, hits.clone(), coverage.clone());
    let mut values = signals.to_map();
    if let Some(r) = review {
        values.insert("review_approvals".into(), Some(r.approvals));
        values.insert("review_reviewers".into(), Some(r.reviewers));
        values.insert(
            "review_comments_per_100_lines".into(),
            Some(r.review_comments_per_100_lines),
        );
        values.insert("review_hours".into(), Some(r.hours_in_review));
        values.insert("review_unapproved".into(), Some(r.unapproved));
        values.insert(
            "review_reviewers_with_history".into(),
            Some(r.reviewers_with_history),
        );
    }
    let mut model = model.clone();
    if let Some(t) = config.thresholds {
        model.thresholds = Thresholds {
            elevated: t.elevated,
            high: t.high,
        };
    }
    let scored = model.score(&values);
    let mut explanation = explain::explain(&scored, &signals, &context);
    if let Some(r) = review {
        explanation.notes.push(review_note(r));
    }

    let mut warnings = Vec::new();
    if mined.shallow {
        warnings.push(format!(
            "this clone is shallow: history before its cut is missing, so {HISTORY_SIGNALS} count only the commits present (git fetch --unshallow gives the full signals)"
        ));
    }
    let files = &snapshot.files;
    Ok(ScoreReport::new(
        scored.probability,
        scored.band,
        values,
        explanation,
        &model.version,
        mined.base.to_string(),
        mined.head.to_string(),
        ChangeSummary {
            commits: mined.commits,
            files: files.len(),
            lines_added: files.iter().map(|f| f.added).sum(),
            lines_deleted: files.iter().map(|f| f.deleted).sum(),
            empty: files.is_empty(),
        },
        warnings,
        hits,
        coverage,
    ))
}

fn review_note(r: &ReviewSignals) -> String {
    if r.reviewers == 0.0 {
        return "no one but the author has reviewed it yet".to_string();
    }
    let approvals = match r.approvals as i64 {
        0 => "no approval".to_string(),
        1 => "1 approval".to_string(),
        n => format!("{n} approvals"),
    };
    let know = match r.reviewers_with_history as i64 {
        0 => "none of whom has changed these files before".to_string(),
        n if n as f64 == r.reviewers => "all of whom have changed these files before".to_string(),
        n => format!("{n} of whom have changed these files before"),
    };
    format!(
        "review: {approvals} from {} reviewer{} ({know}), {:.1} review comments per 100 changed lines over {:.0} hours",
        r.reviewers,
        if r.reviewers == 1.0 { "" } else { "s" },
        r.review_comments_per_100_lines,
        r.hours_in_review
    )
}

/// The model a long-running process scores with. Given a file, it is read again whenever the
/// file changes (a promotion by `riskgate train` replaces it), so `serve` picks up a new
/// model without a restart; a file that fails to load is reported and the previous model kept.
pub struct ModelSource {
    path: Option<std::path::PathBuf>,
    current: std::sync::RwLock<(Option<std::time::SystemTime>, std::sync::Arc<Model>)>,
}

impl ModelSource {
    /// The shipped model when `path` is `None`.
    pub fn load(path: Option<&std::path::Path>) -> anyhow::Result<ModelSource> {
        let modified = path.and_then(Self::modified);
        let model = crate::cli::score::load_model(path)?;
        Ok(ModelSource {
            path: path.map(|p| p.to_path_buf()),
            current: std::sync::RwLock::new((modified, std::sync::Arc::new(model))),
        })
    }

    /// A fixed model (tests, benchmarks).
    pub fn fixed(model: Model) -> ModelSource {
        ModelSource {
            path: None,
            current: std::sync::RwLock::new((None, std::sync::Arc::new(model))),
        }
    }

    fn modified(path: &std::path::Path) -> Option<std::time::SystemTime> {
        std::fs::metadata(path).and_then(|m| m.modified()).ok()
    }

    /// The model to score with now.
    pub fn current(&self) -> std::sync::Arc<Model> {
        if let Some(path) = &self.path {
            let modified = Self::modified(path);
            let stale = {
                let guard = self.current.read().expect("model lock");
                modified.is_some() && modified != guard.0
            };
            if stale {
                match crate::cli::score::load_model(Some(path)) {
                    Ok(model) => {
                        tracing::info!(version = %model.version, path = %path.display(), "loaded a new model");
                        *self.current.write().expect("model lock") =
                            (modified, std::sync::Arc::new(model));
                    }
                    Err(e) => {
                        tracing::error!(path = %path.display(), error = %format!("{e:#}"), "keeping the previous model");
                        // Do not retry the broken file on every job; wait for it to change again.
                        self.current.write().expect("model lock").0 = modified;
                    }
                }
            }
        }
        self.current.read().expect("model lock").1.clone()
    }
}

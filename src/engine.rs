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
        values.extend(r.to_map());
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

/// One version of the model file on disk, as far as its metadata tells: a promotion replaces
/// the file (a new inode), an edit in place changes its time or length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileStamp {
    modified: Option<std::time::SystemTime>,
    len: u64,
    inode: (u64, u64),
}

impl FileStamp {
    fn of(path: &std::path::Path) -> Option<FileStamp> {
        let m = std::fs::metadata(path).ok()?;
        #[cfg(unix)]
        let inode = {
            use std::os::unix::fs::MetadataExt as _;
            (m.dev(), m.ino())
        };
        #[cfg(not(unix))]
        let inode = (0, 0);
        Some(FileStamp {
            modified: m.modified().ok(),
            len: m.len(),
            inode,
        })
    }
}

/// A file whose time is this close to when it was read may have been written again within
/// the same tick of the file system's clock: its content is compared, not only its stamp.
const RACY_WITHIN: std::time::Duration = std::time::Duration::from_secs(2);

/// What a [`ModelSource`] last read from its file.
struct Loaded {
    stamp: Option<FileStamp>,
    /// Hash of the bytes read (a model, or a file that failed to load).
    digest: u64,
    checked_at: std::time::SystemTime,
    model: std::sync::Arc<Model>,
}

impl Loaded {
    fn racy(&self) -> bool {
        match self.stamp.and_then(|s| s.modified) {
            Some(m) => self
                .checked_at
                .duration_since(m)
                .map_or(true, |d| d < RACY_WITHIN),
            None => true,
        }
    }
}

fn digest(bytes: &[u8]) -> u64 {
    use std::hash::{Hash as _, Hasher as _};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    bytes.hash(&mut h);
    h.finish()
}

fn parse_model(path: &std::path::Path, bytes: &[u8]) -> anyhow::Result<Model> {
    let text =
        std::str::from_utf8(bytes).with_context(|| format!("reading model {}", path.display()))?;
    Model::from_json(text).with_context(|| format!("model {}", path.display()))
}

/// The model a long-running process scores with. Given a file, it is read again whenever the
/// file changes (a promotion by `riskgate train` replaces it in one rename), so `serve` picks
/// up a new model without a restart; a file that fails to load is reported and the previous
/// model kept until the file changes again.
pub struct ModelSource {
    path: Option<std::path::PathBuf>,
    current: std::sync::RwLock<Loaded>,
}

impl ModelSource {
    /// The shipped model when `path` is `None`.
    pub fn load(path: Option<&std::path::Path>) -> anyhow::Result<ModelSource> {
        let Some(path) = path else {
            return Ok(Self::fixed(crate::cli::score::load_model(None)?));
        };
        let stamp = FileStamp::of(path);
        let checked_at = std::time::SystemTime::now();
        let bytes =
            std::fs::read(path).with_context(|| format!("reading model {}", path.display()))?;
        let model = parse_model(path, &bytes)?;
        Ok(ModelSource {
            path: Some(path.to_path_buf()),
            current: std::sync::RwLock::new(Loaded {
                stamp,
                digest: digest(&bytes),
                checked_at,
                model: std::sync::Arc::new(model),
            }),
        })
    }

    /// A fixed model (tests, benchmarks).
    pub fn fixed(model: Model) -> ModelSource {
        ModelSource {
            path: None,
            current: std::sync::RwLock::new(Loaded {
                stamp: None,
                digest: 0,
                checked_at: std::time::SystemTime::now(),
                model: std::sync::Arc::new(model),
            }),
        }
    }

    /// The model to score with now.
    pub fn current(&self) -> std::sync::Arc<Model> {
        if let Some(path) = &self.path {
            let stamp = FileStamp::of(path);
            let look = {
                let loaded = self.current.read().unwrap_or_else(|e| e.into_inner());
                stamp.is_some() && (stamp != loaded.stamp || loaded.racy())
            };
            if look {
                self.refresh(path, stamp);
            }
        }
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .model
            .clone()
    }

    fn refresh(&self, path: &std::path::Path, stamp: Option<FileStamp>) {
        let checked_at = std::time::SystemTime::now();
        let Ok(bytes) = std::fs::read(path) else {
            return; // gone for a moment: keep what we have and look again next time
        };
        let d = digest(&bytes);
        let mut loaded = self.current.write().unwrap_or_else(|e| e.into_inner());
        let unchanged = d == loaded.digest;
        loaded.stamp = stamp;
        loaded.checked_at = checked_at;
        if unchanged {
            return;
        }
        loaded.digest = d;
        match parse_model(path, &bytes) {
            Ok(model) => {
                tracing::info!(version = %model.version, path = %path.display(), "loaded a new model");
                loaded.model = std::sync::Arc::new(model);
            }
            Err(e) => {
                // Not retried until the file changes again.
                tracing::error!(path = %path.display(), error = %format!("{e:#}"), "keeping the previous model");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(version: &str) -> Model {
        let mut m = crate::cli::score::load_model(None).unwrap();
        m.version = version.to_string();
        m
    }

    #[test]
    fn model_source_picks_up_a_replaced_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("model.json");
        std::fs::write(&path, model("a").to_json()).unwrap();
        let source = ModelSource::load(Some(&path)).unwrap();
        assert_eq!(source.current().version, "a");
        assert_eq!(source.current().version, "a");

        // A promotion replaces the file in one rename.
        crate::cli::train::write_atomically(&path, model("b").to_json().as_bytes()).unwrap();
        assert_eq!(source.current().version, "b");

        // Rewritten in place at once, to the same length, within the same tick of a coarse
        // file system clock (its time set back to b's): only the content tells.
        let b_time = std::fs::metadata(&path).unwrap().modified().unwrap();
        std::fs::write(&path, model("c").to_json()).unwrap();
        let file = std::fs::File::options().write(true).open(&path).unwrap();
        file.set_modified(b_time).unwrap();
        drop(file);
        assert_eq!(source.current().version, "c");

        // A corrupt file keeps the model that was loaded.
        std::fs::write(&path, "{ not a model").unwrap();
        assert_eq!(source.current().version, "c");
        assert_eq!(source.current().version, "c");
        std::fs::write(&path, r#"{"version": "x"}"#).unwrap();
        assert_eq!(source.current().version, "c");

        // Gone: the model stays.
        std::fs::remove_file(&path).unwrap();
        assert_eq!(source.current().version, "c");

        crate::cli::train::write_atomically(&path, model("d").to_json().as_bytes()).unwrap();
        assert_eq!(source.current().version, "d");
    }

    #[test]
    fn a_fixed_or_shipped_model_never_changes() {
        let source = ModelSource::fixed(model("fixed"));
        assert_eq!(source.current().version, "fixed");
        let shipped = ModelSource::load(None).unwrap();
        let expected = crate::cli::score::load_model(None).unwrap().version;
        assert_eq!(shipped.current().version, expected);
    }
}

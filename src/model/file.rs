//! The model as a file: the model shipped inside the binary, loading one from disk, writing
//! one so that a reader never sees half of it, and the model a long-running process scores
//! with, read again when its file is replaced.

use std::path::{Path, PathBuf};

use anyhow::Context as _;

use super::Model;
use crate::input::{read_capped, read_text_capped, InputError, MAX_MODEL_BYTES};

/// The model shipped with riskgate, built into the binary: what `score` uses.
pub const SHIPPED_MODEL: &str = include_str!("../../model/model.json");

/// The shipped model with review inputs, built into the binary: what the App scores with by
/// default, since it always knows a pull request's reviews (none yet is a value too).
pub const SHIPPED_REVIEW_MODEL: &str = include_str!("../../model/review-model.json");

/// The model in the file at `path`, or the shipped one.
pub fn load_model(path: Option<&Path>) -> anyhow::Result<Model> {
    match path {
        Some(p) => {
            let text = read_text_capped(p, MAX_MODEL_BYTES, "model file")?;
            Model::from_json(&text).with_context(|| format!("model {}", p.display()))
        }
        None => Model::from_json(SHIPPED_MODEL).context("the shipped model"),
    }
}

/// Writes `contents` to `path` so that a reader never sees half a file: it goes to a new file
/// in the same directory, which then replaces `path` in one rename (a running `serve` reads
/// either the old model or the new one). A symlink is followed, so the file it points to is
/// replaced; the replaced file's permissions are kept.
pub fn write_atomically(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    use std::io::Write as _;
    let target = match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => std::fs::canonicalize(path)
            .with_context(|| format!("writing {}: following the symlink", path.display()))?,
        _ => path.to_path_buf(),
    };
    let name = target
        .file_name()
        .ok_or_else(|| anyhow::anyhow!("writing {}: not a file name", path.display()))?
        .to_string_lossy()
        .into_owned();
    let dir = match target.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let permissions = std::fs::metadata(&target).ok().map(|m| m.permissions());
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let temp = dir.join(format!(".{name}.{}.{nanos}.tmp", std::process::id()));
    let written = (|| -> std::io::Result<()> {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp)?;
        file.write_all(contents)?;
        if let Some(p) = permissions {
            file.set_permissions(p)?;
        }
        file.sync_all()?;
        drop(file);
        std::fs::rename(&temp, &target)
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&temp);
        return Err(anyhow::Error::new(e).context(format!("writing {}", path.display())));
    }
    Ok(())
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
    fn of(path: &Path) -> Option<FileStamp> {
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

/// A model read to score changes with (`serve`'s): one [`Model::unfit_to_score`] passes.
fn parse_model(path: &Path, bytes: &[u8]) -> anyhow::Result<Model> {
    let text =
        std::str::from_utf8(bytes).with_context(|| format!("reading model {}", path.display()))?;
    let model = Model::from_json(text).with_context(|| format!("model {}", path.display()))?;
    fit_to_score(model, path)
}

fn fit_to_score(model: Model, path: &Path) -> anyhow::Result<Model> {
    match model.unfit_to_score() {
        None => Ok(model),
        Some(why) => anyhow::bail!(
            "model {} cannot score changes: {why} (`eval` measures such a model on a dataset)",
            path.display()
        ),
    }
}

/// [`load_model`] for scoring changes (`score`): a model file [`Model::unfit_to_score`]
/// refuses is an error.
pub fn load_scoring_model(path: Option<&Path>) -> anyhow::Result<Model> {
    let model = load_model(path)?;
    match path {
        Some(p) => fit_to_score(model, p),
        None => Ok(model),
    }
}

/// The model a long-running process scores with. Given a file, it is read again whenever the
/// file changes (a promotion by `riskgate train` replaces it in one rename), so `serve` picks
/// up a new model without a restart; a file that fails to load is reported and the previous
/// model kept until the file changes again.
pub struct ModelSource {
    path: Option<PathBuf>,
    current: std::sync::RwLock<Loaded>,
}

impl ModelSource {
    /// The shipped review model when `path` is `None`.
    pub fn load(path: Option<&Path>) -> anyhow::Result<ModelSource> {
        let Some(path) = path else {
            let model =
                Model::from_json(SHIPPED_REVIEW_MODEL).context("the shipped review model")?;
            return Ok(Self::fixed(model));
        };
        let stamp = FileStamp::of(path);
        let checked_at = std::time::SystemTime::now();
        let bytes = read_capped(path, MAX_MODEL_BYTES, "model file")?;
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

    fn refresh(&self, path: &Path, stamp: Option<FileStamp>) {
        let checked_at = std::time::SystemTime::now();
        let bytes = match read_capped(path, MAX_MODEL_BYTES, "model file") {
            Ok(bytes) => bytes,
            Err(InputError::Io { .. }) => return, // gone for a moment: look again next time
            Err(e @ InputError::TooLarge { .. }) => {
                // Not read again until the file changes.
                self.current
                    .write()
                    .unwrap_or_else(|e| e.into_inner())
                    .stamp = stamp;
                tracing::error!(error = %e, "keeping the previous model");
                return;
            }
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
        let mut m = load_model(None).unwrap();
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
        write_atomically(&path, model("b").to_json().as_bytes()).unwrap();
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

        write_atomically(&path, model("d").to_json().as_bytes()).unwrap();
        assert_eq!(source.current().version, "d");
    }

    #[test]
    fn models_that_cannot_score_a_change_are_refused_for_scoring() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("model.json");
        let mut typo = model("typo");
        typo.features[0].name = "lq".to_string();
        std::fs::write(&path, typo.to_json()).unwrap();
        let err = format!("{:#}", load_scoring_model(Some(&path)).unwrap_err());
        assert!(
            err.contains("\"lq\"") && err.contains("does not compute"),
            "{err}"
        );
        assert!(ModelSource::load(Some(&path)).is_err());
        assert!(
            load_model(Some(&path)).is_ok(),
            "eval may still measure it on a dataset"
        );

        let mut empty = model("empty");
        empty.features.clear();
        std::fs::write(&path, empty.to_json()).unwrap();
        let err = format!("{:#}", load_scoring_model(Some(&path)).unwrap_err());
        assert!(err.contains("no features"), "{err}");

        // A live model stays when it is replaced by one that cannot score.
        std::fs::write(&path, model("good").to_json()).unwrap();
        let source = ModelSource::load(Some(&path)).unwrap();
        write_atomically(&path, typo.to_json().as_bytes()).unwrap();
        assert_eq!(source.current().version, "good");
        for shipped in [SHIPPED_MODEL, SHIPPED_REVIEW_MODEL] {
            assert_eq!(Model::from_json(shipped).unwrap().unfit_to_score(), None);
        }
    }

    #[test]
    fn a_fixed_or_shipped_model_never_changes() {
        let source = ModelSource::fixed(model("fixed"));
        assert_eq!(source.current().version, "fixed");
        // The App's default is the review model; the command line's is the model without
        // review inputs.
        let shipped = ModelSource::load(None).unwrap();
        let review = Model::from_json(SHIPPED_REVIEW_MODEL).unwrap();
        assert_eq!(shipped.current().version, review.version);
        assert!(review
            .features
            .iter()
            .any(|f| f.name == "review_unapproved"));
        let cli = load_model(None).unwrap();
        assert_ne!(cli.version, review.version);
        assert!(cli.features.iter().all(|f| !f.name.starts_with("review_")));
    }

    #[test]
    fn models_are_replaced_in_one_rename() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("model.json");
        write_atomically(&path, b"one").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"one");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        let inode = |p: &Path| std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(p).unwrap());
        let before = inode(&path);
        write_atomically(&path, b"two").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        assert_ne!(inode(&path), before, "a new file took the old one's place");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o640, "permissions are kept");
        // Through a symlink: the link stays, its target is replaced.
        let link = dir.path().join("current.json");
        std::os::unix::fs::symlink(&path, &link).unwrap();
        write_atomically(&link, b"three").unwrap();
        assert!(std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(std::fs::read(&path).unwrap(), b"three");
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names.len(), 2, "no temporary file is left: {names:?}");
        let err = write_atomically(&dir.path().join("absent/model.json"), b"x").unwrap_err();
        assert!(format!("{err:#}").contains("absent/model.json"));
    }
}

//! Opening a repository and naming revisions in it: the errors a user sees for a wrong path or
//! revision are made here, with hints for shallow clones.

use std::path::Path;

use git2::{ErrorCode, Oid, Repository};

use super::objects::read_blob_within;
use super::pack::BlobRead;
use super::{MiningError, CONFIG_PATH};
use crate::config::{ConfigError, MAX_CONFIG_BYTES};

pub fn open_repository(path: &Path) -> Result<Repository, MiningError> {
    Repository::discover(path).map_err(|e| {
        let path = path.display().to_string();
        match unsupported_object_format(e.message()) {
            Some(format) => MiningError::UnsupportedObjectFormat { path, format },
            None if e.message().ends_with("extensions.refstorage") => {
                MiningError::UnsupportedRefStorage { path }
            }
            None => MiningError::NotARepository {
                path,
                reason: e.message().to_string(),
            },
        }
    })
}

/// Whether the repository at `git_dir` is a partial clone: git fetches the objects it lacks
/// from a promisor remote (`remote.<name>.promisor`, or `extensions.partialClone` as older git
/// wrote it). Read from the repository's own configuration file, where git records it.
pub(crate) fn is_partial_clone(git_dir: &Path) -> bool {
    let Ok(config) = git2::Config::open(&git_dir.join("config")) else {
        return false;
    };
    let promisor = config
        .entries(Some(r"remote\..*\.promisor"))
        .is_ok_and(|mut entries| {
            let mut any = false;
            while let Some(Ok(entry)) = entries.next() {
                any |= entry
                    .value()
                    .is_some_and(|v| git2::Config::parse_bool(v).unwrap_or(false));
            }
            any
        });
    promisor
        || config
            .get_string("extensions.partialclone")
            .is_ok_and(|remote| !remote.is_empty())
}

/// The object format named by libgit2's refusal of a repository that is not SHA-1
/// (`unknown object format 'sha256'`), which is a git repository all the same.
fn unsupported_object_format(message: &str) -> Option<String> {
    let name = message
        .strip_prefix("unknown object format '")?
        .strip_suffix('\'')?;
    let plain = !name.is_empty()
        && name.len() <= 16
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    plain.then(|| name.to_string())
}

pub(super) fn resolve(repo: &Repository, rev: &str) -> Result<Oid, MiningError> {
    let object = repo.revparse_single(rev).map_err(|e| match e.code() {
        ErrorCode::UnbornBranch if rev == "HEAD" => MiningError::NoCommits,
        ErrorCode::NotFound
        | ErrorCode::Ambiguous
        | ErrorCode::InvalidSpec
        | ErrorCode::UnbornBranch => {
            if rev == "HEAD" && repo.is_empty().unwrap_or(false) {
                MiningError::NoCommits
            } else {
                let hint = if repo.is_shallow() {
                    " (this clone is shallow: its history is cut)"
                } else {
                    ""
                };
                MiningError::UnknownRevision {
                    rev: rev.to_string(),
                    hint,
                }
            }
        }
        // Following `~` or `^` parses each commit on the way: one libgit2 cannot parse.
        _ if e.class() == git2::ErrorClass::Invalid => MiningError::UnreadableCommit {
            id: if git2::Oid::from_str(rev).is_ok_and(|id| id.to_string() == rev) {
                rev.to_string()
            } else {
                format!("`{rev}` (or one on the way to it)")
            },
            reason: e.message().to_string(),
        },
        _ => MiningError::Git(e),
    })?;
    let commit = object.peel_to_commit().map_err(|e| {
        if object.kind() == Some(git2::ObjectType::Commit) {
            MiningError::UnreadableCommit {
                id: object.id().to_string(),
                reason: e.message().to_string(),
            }
        } else {
            MiningError::UnknownRevision {
                rev: rev.to_string(),
                hint: " (not a commit)",
            }
        }
    })?;
    Ok(commit.id())
}

/// The default branch: origin/HEAD's target, else main or master, local or on origin.
pub fn default_branch(repo: &Repository) -> Option<String> {
    if let Ok(r) = repo.find_reference("refs/remotes/origin/HEAD") {
        if let Some(target) = r.symbolic_target() {
            if repo.find_reference(target).is_ok() {
                return Some(target.trim_start_matches("refs/remotes/").to_string());
            }
        }
    }
    ["main", "master", "origin/main", "origin/master"]
        .into_iter()
        .find(|name| repo.revparse_single(name).is_ok())
        .map(str::to_string)
}

/// The settings file `.github/riskgate.yml` as read from a repository: its text, or the
/// refusal of a file larger than [`MAX_CONFIG_BYTES`], whose size is read and content is not.
pub type SettingsFile = Result<String, ConfigError>;

/// The settings file at revision `rev`, if it exists there.
pub fn config_at(repo: &Repository, rev: &str) -> Result<Option<SettingsFile>, MiningError> {
    let commit = repo.find_commit(resolve(repo, rev)?)?;
    settings_in(repo, &commit.tree()?)
}

/// The settings file of `tree`, if it has one.
pub(super) fn settings_in(
    repo: &Repository,
    tree: &git2::Tree<'_>,
) -> Result<Option<SettingsFile>, MiningError> {
    match tree.get_path(Path::new(CONFIG_PATH)) {
        Ok(entry) => settings_blob(repo, entry.id()),
        Err(_) => Ok(None),
    }
}

/// The settings file that is blob `id`, sized before it is read; `None` when it is not a
/// blob. One the repository lacks (a partial clone) is an error rather than no file: its
/// thresholds and sensitive paths would be silently dropped.
pub(super) fn settings_blob(
    repo: &Repository,
    id: Oid,
) -> Result<Option<SettingsFile>, MiningError> {
    Ok(Some(
        match read_blob_within(repo, id, MAX_CONFIG_BYTES as u64) {
            Some(BlobRead::Content(text)) => Ok(String::from_utf8_lossy(&text).into_owned()),
            Some(BlobRead::Larger(bytes)) => Err(ConfigError::too_large(CONFIG_PATH, bytes)),
            None if !super::holds(repo, id) => {
                return Err(MiningError::BlobMissing {
                    path: CONFIG_PATH.to_string(),
                    id: id.to_string(),
                })
            }
            None => return Ok(None),
        },
    ))
}

//! git2: resolve the change, diff it, and gather the history its signals need (blocking).

pub mod ancestry;
mod attributes;
mod attribution;
mod change;
mod diff;
pub mod identity;
pub mod ignored_revisions;
pub mod index;
mod libgit2_renames;
mod line_diff;
mod line_match;
pub mod mine;
pub mod mirror;
mod objects;
pub mod owner_store;
pub mod owners;
pub mod pack;
pub mod renames;
mod repo;
#[cfg(test)]
pub(crate) mod test_repo;
mod tree_diff;

pub use attributes::AttributeSource;
pub use change::{mine_change, ChangeSpec, MinedChange};
pub use diff::{diff_change, diff_change_detailed, DiffedFile, Hunk, PendingFile};
pub use line_diff::LineDiffs;
pub(crate) use objects::WorkTreeAttributes;
pub use objects::{count_lines, CachedBlob, ObjectCache, BLOB_CACHE_BYTES, TREE_CACHE_BYTES};
pub use repo::{config_at, default_branch, open_repository, SettingsFile};
pub(crate) use tree_diff::{commit_paths, CommitPaths};
pub use tree_diff::{
    diff_commit, diff_commit_cached, diff_trees_cached, merge_files, MergeFiles, RenameSource,
};

/// Where a repository keeps its own riskgate settings, read at the base revision.
pub const CONFIG_PATH: &str = ".github/riskgate.yml";

/// Most history steps (versions of the touched files) replayed attributing their lines to
/// their authors, about one line diff each (a merge's, one per parent that had the file); past
/// it the remaining files are left out of `author_blame_share` (and the tally says how many
/// were used). The score's deadline bounds the time either way.
pub const ATTRIBUTION_BUDGET: usize = 20_000;

/// gits diffing a walk's merges at once (`mine`'s threads, each with a git of its own, and the
/// history index's gits). Where release lines are merged upward, one merge's diff spans
/// thousands of files and git is most of the time; the walk beside them leaves a core to spare.
pub(crate) const MERGE_GITS: usize = 2;

#[derive(Debug, thiserror::Error)]
pub enum MiningError {
    #[error("{path} is not a git repository ({reason})")]
    NotARepository { path: String, reason: String },
    #[error(
        "{path} is a git repository with {format} object names (extensions.objectFormat), \
         which riskgate cannot read: libgit2, which it reads repositories with, reads SHA-1 \
         repositories only"
    )]
    UnsupportedObjectFormat { path: String, format: String },
    #[error(
        "{path} is a git repository whose references are kept in a reftable \
         (extensions.refStorage), which riskgate cannot read: libgit2, which it reads \
         repositories with, reads the files format only. A clone of it made with \
         `git clone --ref-format=files` can be scored"
    )]
    UnsupportedRefStorage { path: String },
    #[error("unknown revision `{rev}`{hint}")]
    UnknownRevision { rev: String, hint: &'static str },
    #[error("the repository has no commits yet")]
    NoCommits,
    #[error("no base given and no default branch found (tried origin/HEAD, main, master, origin/main, origin/master); pass --base")]
    NoDefaultBranch,
    #[error("`{base}` and `{head}` have no common ancestor{hint}")]
    NoMergeBase {
        base: String,
        head: String,
        hint: String,
    },
    #[error("git: {0}")]
    Git(#[source] git2::Error),
    /// An object the history names is not in the repository: a treeless clone lacks the trees
    /// of past commits, which every history signal reads.
    #[error(
        "the repository lacks an object its history refers to ({0}), as a partial clone made \
         with `--filter=tree:0` or a damaged one does: riskgate reads the tree of every commit \
         in the history. A full clone has them, and so does one made with \
         `--filter=blob:none`; `git fsck` names what a damaged one lacks"
    )]
    ObjectMissing(String),
    /// Directories nested deeper than riskgate reads (git's own limit, `core.maxTreeDepth`).
    #[error("{0}")]
    TreeTooDeep(String),
    #[error("the change could not be mined within the time allowed")]
    TimedOut,
    #[error("commit {id} could not be read ({reason}); `git fsck` names what is wrong with it")]
    UnreadableCommit { id: String, reason: String },
    /// Files of the change whose content the object store lacks: their lines cannot be
    /// counted, and a score without them would call the change smaller than it is.
    #[error(
        "the repository lacks the content of {count} of the files this change touches \
         (the first: `{first}`), as a partial clone (`git clone --filter`) or a damaged one \
         does, so their lines cannot be counted. In a partial clone, \
         `git diff --stat {base} {head}` makes git fetch them; then score again"
    )]
    ContentMissing {
        count: usize,
        first: String,
        base: String,
        head: String,
    },
    /// A file riskgate reads beside the change (the settings file, a committed
    /// `.gitattributes`) whose content the object store lacks: taken for no file, what it sets
    /// would be silently dropped.
    #[error(
        "the repository lacks the content of `{path}` (blob {id}), as a partial clone does \
         until git fetches it: `git cat-file blob {id}` fetches it; then score again"
    )]
    BlobMissing { path: String, id: String },
}

impl From<git2::Error> for MiningError {
    fn from(error: git2::Error) -> MiningError {
        if tree_diff::is_too_deep(&error) {
            MiningError::TreeTooDeep(error.message().to_string())
        } else if error.code() == git2::ErrorCode::NotFound
            && error.class() == git2::ErrorClass::Odb
        {
            MiningError::ObjectMissing(error.message().to_string())
        } else {
            MiningError::Git(error)
        }
    }
}

/// Commit `id`, or an error that names it when the repository holds it but libgit2 cannot
/// parse it (see [`UnreadableCommits`]).
pub(crate) fn find_commit(
    repo: &git2::Repository,
    id: git2::Oid,
) -> Result<git2::Commit<'_>, MiningError> {
    repo.find_commit(id).map_err(|e| commit_error(repo, id, e))
}

/// The error for commit `id`, which failed to read with `error`.
pub(crate) fn commit_error(
    repo: &git2::Repository,
    id: git2::Oid,
    error: git2::Error,
) -> MiningError {
    if holds(repo, id) {
        MiningError::UnreadableCommit {
            id: id.to_string(),
            reason: error.message().to_string(),
        }
    } else {
        MiningError::Git(error)
    }
}

/// Whether the repository holds object `id` (a shallow clone's cut does not).
pub(crate) fn holds(repo: &git2::Repository, id: git2::Oid) -> bool {
    repo.odb().is_ok_and(|odb| odb.exists(id))
}

/// Commits the repository holds that libgit2 cannot parse: one with no author line, or an
/// author with no `<e-mail>` (`git fsck` calls them errors; git itself shows them). Each one
/// ends its line of history, as a shallow clone's cut does, instead of stopping the run: the
/// commits behind it are not counted.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct UnreadableCommits {
    pub count: usize,
    /// The first one met, and libgit2's reason.
    pub first: Option<(git2::Oid, String)>,
}

impl UnreadableCommits {
    /// Notes `id`, which failed to read with `error`, if the repository holds it; one it lacks
    /// is a shallow cut, said elsewhere. Returns whether it was noted.
    pub(crate) fn note(
        &mut self,
        repo: &git2::Repository,
        id: git2::Oid,
        error: &git2::Error,
    ) -> bool {
        let held = holds(repo, id);
        if held {
            self.count += 1;
            self.first
                .get_or_insert_with(|| (id, error.message().to_string()));
        }
        held
    }

    /// What the user is told, when there were any.
    pub fn warning(&self) -> Option<String> {
        let (id, reason) = self.first.as_ref()?;
        let (commits, they, them) = if self.count == 1 {
            ("1 commit".to_string(), "it is", "it")
        } else {
            (format!("{} commits", self.count), "they are", "them")
        };
        Some(format!(
            "{commits} could not be read (the first, {}: {reason}; `git fsck` names what is wrong): {they} left out, with the history behind {them}, as at a shallow clone's cut",
            &id.to_string()[..10]
        ))
    }
}

/// Whether `deadline`, if there is one, has passed: looked at between units of work that may
/// each take long (a file's line diff, a replay step, 64 commits of the index walk).
pub(crate) fn past(deadline: Option<std::time::Instant>) -> bool {
    deadline.is_some_and(|d| std::time::Instant::now() >= d)
}

/// When a change was made, as the signals that measure time up to it read it (how long its
/// files had rested, how recent the author's experience is): its author date, but no later
/// than `now` (unix seconds). The date is the author's to write, and one in the year 9999
/// made every file look rested for millennia and the change safe.
pub(crate) fn change_time(author_date: i64, now: i64) -> i64 {
    author_date.min(now)
}

/// `git` found on our `PATH`, once. A program named by its path is started with
/// `posix_spawn`; one left to a `PATH` lookup in a changed environment makes the standard
/// library fork, copying the page tables of a process that may hold hundreds of MiB of caches
/// (about 17 ms a start while `mine` runs on tmux's history). The mirror and the rename
/// queries both start it this way.
pub(crate) fn git_program() -> &'static std::path::Path {
    static GIT: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    GIT.get_or_init(|| {
        std::env::var_os("PATH")
            .and_then(|path| {
                std::env::split_paths(&path)
                    .map(|dir| dir.join("git"))
                    .find(|candidate| candidate.is_file())
            })
            .unwrap_or_else(|| "git".into())
    })
}

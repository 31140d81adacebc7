//! The diffed files of a change or a commit: each file's kind, line counts and hunks, with the
//! line diffs of modified files left to be made where convenient ([`PendingFile::finish`]).

use std::rc::Rc;
use std::sync::Arc;

use git2::{Delta, DiffOptions, FileMode, Oid, Repository};

use super::libgit2_renames::diff_with_renames;
use super::line_diff::{whole_file, LineDiffs};
use super::objects::{CachedBlob, ObjectCache};
use super::MiningError;
use crate::features::{ChangeKind, FileChange, FileKind};

/// The squashed diff of the change, renames followed, one entry per file.
pub fn diff_change(
    repo: &Repository,
    base: &git2::Tree<'_>,
    head: &git2::Tree<'_>,
) -> Result<Vec<FileChange>, MiningError> {
    Ok(diff_change_detailed(repo, Some(base), head)?
        .into_iter()
        .map(|d| d.file)
        .collect())
}

/// One hunk of a zero-context line diff, as in its `@@ -old_start,old_lines +new_start,new_lines @@`
/// header (a pure insertion's `old_start` is the line before it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hunk {
    pub old_start: u32,
    pub old_lines: u32,
    pub new_start: u32,
    pub new_lines: u32,
}

/// A hunk from its four numbers, for tests that write hunks by hand.
#[cfg(test)]
pub(super) fn hunk(old_start: u32, old_lines: u32, new_start: u32, new_lines: u32) -> Hunk {
    Hunk {
        old_start,
        old_lines,
        new_start,
        new_lines,
    }
}

/// A file of a diff with what line ownership needs: blob ids (zero when absent) and hunks.
#[derive(Debug, Clone)]
pub struct DiffedFile {
    pub file: FileChange,
    /// The file is a text file after the change (see [`FileChange::text_before`]): its lines
    /// there get owners.
    pub text_after: bool,
    pub old_id: Oid,
    pub new_id: Oid,
    /// The diff's hunks, as `git diff` shows them: what the line counts and a fix's removed
    /// lines come from.
    pub hunks: Vec<Hunk>,
    /// The hunks `git blame` passes lines by, when they are not `hunks` and the diff was
    /// finished for owners ([`PendingFile::finish_with_owner_hunks`]).
    pub blame_hunks: Option<Vec<Hunk>>,
}

impl DiffedFile {
    /// The hunks line owners are carried over by, as `git blame` carries them.
    pub fn owner_hunks(&self) -> &[Hunk] {
        self.blame_hunks.as_deref().unwrap_or(&self.hunks)
    }
}

/// `diff_change` keeping blob ids and hunks; `base` None diffs against the empty tree.
pub fn diff_change_detailed(
    repo: &Repository,
    base: Option<&git2::Tree<'_>>,
    head: &git2::Tree<'_>,
) -> Result<Vec<DiffedFile>, MiningError> {
    let mut line_diffs = LineDiffs::new(repo);
    diff_change_cached(repo, &mut ObjectCache::new(repo), base, head)?
        .into_iter()
        .map(|f| f.finish(&mut line_diffs))
        .collect()
}

/// The tree diff with libgit2's rename detection, the line diffs of modified text files left
/// to [`PendingFile::finish`].
pub(super) fn diff_change_cached(
    repo: &Repository,
    cache: &mut ObjectCache,
    base: Option<&git2::Tree<'_>>,
    head: &git2::Tree<'_>,
) -> Result<Vec<PendingFile>, MiningError> {
    let mut opts = DiffOptions::new();
    opts.ignore_submodules(false)
        .include_typechange(true)
        .context_lines(0);
    let found = diff_with_renames(repo, base, head, &mut opts)?;
    let mut files = Vec::with_capacity(found.len());
    for delta in found {
        let change = match delta.status {
            Delta::Added => ChangeKind::Added,
            Delta::Deleted => ChangeKind::Deleted,
            Delta::Modified => ChangeKind::Modified,
            Delta::Renamed => ChangeKind::Renamed,
            _ => ChangeKind::Other,
        };
        let (old_path, new_path) = (delta.old_name(), delta.new_name());
        let path = match change {
            ChangeKind::Deleted => old_path.clone().or(new_path.clone()),
            _ => new_path.clone().or(old_path.clone()),
        }
        .unwrap_or_default();
        let old_path = match (change, old_path) {
            (ChangeKind::Renamed, Some(o)) if o != path => Some(o),
            _ => None,
        };
        files.push(diffed_file(
            repo, cache, change, path, old_path, delta.old, delta.new,
        ));
    }
    Ok(files)
}

/// One side of a changed file as the line diff reads it, and whether it is binary there. git
/// looks up the diff driver of regular files only: a symlink's target and a gitlink are
/// diffed by their content whatever the attributes say.
fn side_content(
    repo: &Repository,
    cache: &mut ObjectCache,
    id: Oid,
    mode: FileMode,
    path: &str,
) -> Side2 {
    if id.is_zero() {
        return Side2::Absent;
    }
    if mode == FileMode::Commit {
        // A submodule reads as git shows it: one line naming the commit.
        let text: Arc<[u8]> = Arc::from(format!("Subproject commit {id}\n").into_bytes());
        return Side2::Content {
            blob: Rc::new(CachedBlob {
                text: Some(text),
                binary: false,
                lines: 1,
            }),
            binary: false,
        };
    }
    let Some(blob) = cache.blob(repo, id) else {
        return Side2::Missing;
    };
    if !matches!(mode, FileMode::Blob | FileMode::BlobExecutable) {
        let binary = blob.binary;
        return Side2::Content { blob, binary };
    }
    match cache.as_text(repo, id, blob.clone(), path) {
        Some(text) => Side2::Content {
            blob: text,
            binary: false,
        },
        None => Side2::Content { blob, binary: true },
    }
}

enum Side2 {
    Absent,
    /// In the tree but not in the object store.
    Missing,
    Content {
        blob: Rc<CachedBlob>,
        binary: bool,
    },
}

/// One file of a diff: its kind, and the line counts and hunks of a file added or deleted
/// whole; a modified file keeps both contents for its line diff ([`PendingFile::finish`]).
/// Lines are counted as `git diff --numstat` counts them: a symlink's target and a submodule's
/// "Subproject commit" line are lines too (only a side that is a text file is counted in LT
/// and has owners). A blob the repository does not have (a partial or damaged clone) makes the
/// file [`FileKind::Missing`]: no line counts rather than wrong ones.
pub(super) fn diffed_file(
    repo: &Repository,
    cache: &mut ObjectCache,
    change: ChangeKind,
    path: String,
    old_path: Option<String>,
    old: (Oid, FileMode),
    new: (Oid, FileMode),
) -> PendingFile {
    let old_name = old_path.as_deref().unwrap_or(&path);
    let (old_side, new_side) = (
        side_content(repo, cache, old.0, old.1, old_name),
        side_content(repo, cache, new.0, new.1, &path),
    );
    let missing = matches!(old_side, Side2::Missing) || matches!(new_side, Side2::Missing);
    let binary = [&old_side, &new_side]
        .iter()
        .any(|s| matches!(s, Side2::Content { binary: true, .. }));
    let content = |s: &Side2| match s {
        Side2::Content { blob, .. } => Some(blob.clone()),
        _ => None,
    };
    let (old_blob, new_blob) = (content(&old_side), content(&new_side));
    let kind = kind_of(new.1)
        .filter(|k| *k == FileKind::Submodule)
        .or_else(|| kind_of(old.1).filter(|k| *k == FileKind::Submodule))
        .or_else(|| kind_of(new.1).or_else(|| kind_of(old.1)))
        .unwrap_or(if missing {
            FileKind::Missing
        } else if binary {
            FileKind::Binary
        } else {
            FileKind::Text
        });
    // Each side is a text file when the diff is a text diff and it is a regular file there: a
    // file that becomes a symlink or a submodule had its lines before, and one that follows a
    // symlink or a submodule has lines after, which its commit wrote.
    let text_diff = !missing && !binary;
    let text_before = text_diff && !old.0.is_zero() && kind_of(old.1).is_none();
    let text_after = text_diff && !new.0.is_zero() && kind_of(new.1).is_none();
    let mut file = FileChange {
        path,
        old_path,
        change,
        kind,
        added: 0,
        deleted: 0,
        lines_before: 0,
        text_before,
        added_lines: Vec::new(),
    };
    let mut hunks = Vec::new();
    let mut texts = None;
    if text_diff {
        if text_before {
            file.lines_before = old_blob.as_ref().map_or(0, |b| b.lines);
        }
        // A whole file added or deleted is one hunk of all its lines.
        let whole = match (&old_blob, &new_blob) {
            (Some(ob), Some(nb)) => {
                texts = Some([ob.text(), nb.text()]);
                None
            }
            (None, Some(nb)) => Some(whole_file(nb.lines, true)),
            (Some(ob), None) => Some(whole_file(ob.lines, false)),
            (None, None) => None,
        };
        if let Some(stats) = whole {
            file.added = stats.added;
            file.deleted = stats.deleted;
            file.added_lines = stats.added_lines;
            hunks = stats.hunks;
        }
    }
    PendingFile {
        diffed: DiffedFile {
            file,
            text_after,
            old_id: old.0,
            new_id: new.0,
            hunks,
            blame_hunks: None,
        },
        texts,
    }
}

fn kind_of(mode: FileMode) -> Option<FileKind> {
    match mode {
        FileMode::Link => Some(FileKind::Symlink),
        FileMode::Commit => Some(FileKind::Submodule),
        _ => None,
    }
}

/// A file of [`diff_commit_cached`]'s diff, its line diff possibly still to make
/// ([`PendingFile::finish`]): it can be made on another thread than the one reading the blobs.
///
/// [`diff_commit_cached`]: super::diff_commit_cached
pub struct PendingFile {
    diffed: DiffedFile,
    /// Old and new content of a modified text file, to line-diff.
    texts: Option<[Arc<[u8]>; 2]>,
}

impl PendingFile {
    /// The file with its line diff made, as `git diff` makes it.
    pub fn finish(self, line_diffs: &mut LineDiffs<'_>) -> Result<DiffedFile, MiningError> {
        self.finish_with(line_diffs, false)
    }

    /// [`finish`](Self::finish), with the hunks `git blame` would carry line owners by where
    /// they are not the diff's ([`DiffedFile::owner_hunks`]): for the miner, the one caller
    /// that carries owners from a commit's own diff.
    pub fn finish_with_owner_hunks(
        self,
        line_diffs: &mut LineDiffs<'_>,
    ) -> Result<DiffedFile, MiningError> {
        self.finish_with(line_diffs, true)
    }

    fn finish_with(
        self,
        line_diffs: &mut LineDiffs<'_>,
        owner_hunks: bool,
    ) -> Result<DiffedFile, MiningError> {
        let mut d = self.diffed;
        if let Some([old, new]) = self.texts {
            let (stats, blame_hunks) = if owner_hunks {
                line_diffs.stats_and_blame_hunks(d.old_id, &old, d.new_id, &new)?
            } else {
                (line_diffs.stats(d.old_id, &old, d.new_id, &new)?, None)
            };
            d.file.added = stats.added;
            d.file.deleted = stats.deleted;
            d.file.added_lines = stats.added_lines;
            d.hunks = stats.hunks;
            d.blame_hunks = blame_hunks;
        }
        Ok(d)
    }

    /// The file as diffed so far (counts and hunks of a modified text file not yet made).
    pub fn diffed(&self) -> &DiffedFile {
        &self.diffed
    }
}

//! The fast diff of two trees read through an [`ObjectCache`]: only subtrees whose ids differ
//! are read, and renames come from git ([`RenameSource`]). What the history walks use.

use std::collections::HashMap;

use git2::{FileMode, Oid, Repository};

use super::diff::{diff_change_cached, diffed_file, PendingFile};
use super::pack::{TreeData, TreeEntryRef};
use super::{DiffedFile, LineDiffs, MiningError, ObjectCache};
use crate::features::{git_path, ChangeKind};

/// A tree entry as the fast diff compares it.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Side {
    id: Oid,
    mode: FileMode,
}

fn file_mode(raw: i32) -> FileMode {
    match raw {
        0o040000 => FileMode::Tree,
        0o100755 => FileMode::BlobExecutable,
        0o120000 => FileMode::Link,
        0o160000 => FileMode::Commit,
        0o100664 => FileMode::BlobGroupWritable,
        _ => FileMode::Blob,
    }
}

/// Git's order of tree entries: by name, a tree's name compared as if it ended in `/`.
fn git_order(a: &[u8], a_tree: bool, b: &[u8], b_tree: bool) -> std::cmp::Ordering {
    let n = a.len().min(b.len());
    a[..n].cmp(&b[..n]).then_with(|| {
        let end =
            |name: &[u8], tree: bool| name.get(n).copied().unwrap_or(if tree { b'/' } else { 0 });
        end(a, a_tree).cmp(&end(b, b_tree))
    })
}

fn side(e: &TreeEntryRef<'_>) -> Side {
    Side {
        id: e.id(),
        mode: file_mode(e.filemode()),
    }
}

/// The deepest directory nesting a diff descends into: git's own default limit
/// (`core.maxTreeDepth`), past which git refuses a tree too. A repository can hold a tree
/// nested a hundred thousand levels deep, and each level's path holds every name above it:
/// unbounded, reading such a change took gigabytes (libgit2's diff 5.3 GB at 50,000 levels)
/// and a recursion that deep overflows a thread's stack.
pub(super) const MAX_TREE_DEPTH: usize = 2048;

/// The error for a directory nested past [`MAX_TREE_DEPTH`]: it names the start of its path.
/// It travels as a `git2::Error` through the diffs, marked so that [`is_too_deep`] tells it
/// from libgit2's own (riskgate refuses the tree, not git).
fn too_deep(path: &str) -> git2::Error {
    let start: String = path.chars().take(60).collect();
    git2::Error::new(
        git2::ErrorCode::User,
        git2::ErrorClass::Tree,
        format!(
            "the trees nest directories more than {MAX_TREE_DEPTH} levels deep (under \
             `{start}…`): riskgate reads trees to that depth, as git does (core.maxTreeDepth)"
        ),
    )
}

/// Whether `error` is [`too_deep`]'s.
pub(super) fn is_too_deep(error: &git2::Error) -> bool {
    error.code() == git2::ErrorCode::User && error.class() == git2::ErrorClass::Tree
}

/// Fails as [`tree_changes`] would, on trees nested past [`MAX_TREE_DEPTH`] where they differ,
/// and reads nothing else: what guards a diff made by libgit2, which has no such limit.
pub(super) fn check_tree_depth(
    repo: &Repository,
    old: Option<Oid>,
    new: Oid,
) -> Result<(), git2::Error> {
    let mut cache = ObjectCache::new(repo);
    let old = old.map(|t| cache.tree(repo, t)).transpose()?;
    let new = cache.tree(repo, new)?;
    tree_changes(
        repo,
        &mut cache,
        old.as_deref(),
        Some(&new),
        "",
        0,
        &mut Vec::new(),
    )
}

/// Changed blob entries between two trees, in path order, descending only into subtrees
/// whose ids differ (what makes it fast: an unchanged directory costs one comparison). The old
/// side's subtrees it descends into are noted in `cache` as replaced. `depth` is the nesting
/// of `prefix`, bounded by [`MAX_TREE_DEPTH`].
fn tree_changes(
    repo: &Repository,
    cache: &mut ObjectCache,
    old: Option<&TreeData>,
    new: Option<&TreeData>,
    prefix: &str,
    depth: usize,
    out: &mut Vec<(String, Option<Side>, Option<Side>)>,
) -> Result<(), git2::Error> {
    let a: Vec<TreeEntryRef<'_>> = old.map(|t| t.iter().collect()).unwrap_or_default();
    let b: Vec<TreeEntryRef<'_>> = new.map(|t| t.iter().collect()).unwrap_or_default();
    let is_tree = |e: &TreeEntryRef<'_>| e.filemode() == 0o040000;
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        let order = match (a.get(i), b.get(j)) {
            (Some(x), Some(y)) => git_order(x.name_bytes(), is_tree(x), y.name_bytes(), is_tree(y)),
            (Some(_), None) => std::cmp::Ordering::Less,
            _ => std::cmp::Ordering::Greater,
        };
        let (x, y) = match order {
            std::cmp::Ordering::Less => {
                i += 1;
                (Some(&a[i - 1]), None)
            }
            std::cmp::Ordering::Greater => {
                j += 1;
                (None, Some(&b[j - 1]))
            }
            std::cmp::Ordering::Equal => {
                i += 1;
                j += 1;
                (Some(&a[i - 1]), Some(&b[j - 1]))
            }
        };
        if let (Some(x), Some(y)) = (x, y) {
            if x.id() == y.id() && x.filemode() == y.filemode() {
                continue;
            }
        }
        let entry = x.or(y).expect("one side");
        let name = git_path::from_bytes(entry.name_bytes());
        let path = if prefix.is_empty() {
            name
        } else {
            format!("{prefix}/{name}")
        };
        if is_tree(entry) {
            if depth >= MAX_TREE_DEPTH {
                return Err(too_deep(&path));
            }
            let ot = match x {
                Some(x) => {
                    cache.replaced_trees.push(x.id());
                    Some(cache.tree(repo, x.id())?)
                }
                None => None,
            };
            let nt = y.map(|y| cache.tree(repo, y.id())).transpose()?;
            tree_changes(
                repo,
                cache,
                ot.as_deref(),
                nt.as_deref(),
                &path,
                depth + 1,
                out,
            )?;
        } else {
            out.push((path, x.map(side), y.map(side)));
        }
    }
    Ok(())
}

fn is_blob_mode(mode: FileMode) -> bool {
    matches!(
        mode,
        FileMode::Blob | FileMode::BlobExecutable | FileMode::BlobGroupWritable
    )
}

/// What a merge's tree holds against its parents' trees ([`merge_files`]).
#[derive(Debug, Default)]
pub struct MergeFiles {
    /// The regular files whose version no parent has, with their blobs: what the merge
    /// resolved.
    pub resolved: Vec<(String, Oid)>,
    /// Every path whose entry differs from the first parent's, the resolved ones included: for
    /// any other path the merge has the first parent's version, and git blame's way through
    /// the merge keeps to the first parent.
    pub unlike_first_parent: Vec<String>,
    /// (old path, new path): where a parent that lacks a resolved file has it under another
    /// name, as git blame finds it.
    pub renames: Vec<(String, String)>,
}

/// The files of `merge` that differ from its first parent's, of those the ones whose version
/// no parent has, and the renames into those (looked for within `deadline`). Only the
/// subtrees that differ from the first parent's are read.
pub fn merge_files(
    repo: &Repository,
    cache: &mut ObjectCache,
    merge: &git2::Commit<'_>,
    parent_trees: &[Oid],
    deadline: Option<std::time::Instant>,
) -> Result<MergeFiles, git2::Error> {
    let mut files = merge_files_but_renames(repo, cache, merge.tree_id(), parent_trees)?;
    files.renames = merge_renames(repo, cache, merge, parent_trees, &files.resolved, deadline)?;
    Ok(files)
}

/// [`merge_files`] without the renames, for a caller that asks for them itself
/// ([`parents_lacking`] says which parents to diff).
pub(crate) fn merge_files_but_renames(
    repo: &Repository,
    cache: &mut ObjectCache,
    tree: Oid,
    parent_trees: &[Oid],
) -> Result<MergeFiles, git2::Error> {
    let Some((&first, others)) = parent_trees.split_first() else {
        return Ok(MergeFiles::default());
    };
    // Reading these trees replaces nothing: the merge's children diff against it later.
    let replaced = std::mem::take(&mut cache.replaced_trees);
    let old = cache.tree(repo, first);
    let new = cache.tree(repo, tree);
    let mut changes = Vec::new();
    let walked = match (old, new) {
        (Ok(old), Ok(new)) => {
            tree_changes(repo, cache, Some(&old), Some(&new), "", 0, &mut changes)
        }
        (Err(e), _) | (_, Err(e)) => Err(e),
    };
    cache.replaced_trees = replaced;
    walked?;
    let mut files = MergeFiles::default();
    for (path, first_parents, new) in changes {
        if let Some(new) = new.filter(|n| is_blob_mode(n.mode)) {
            // A version is its content: a first parent with the same blob under another mode
            // has it, and git blame passes the file's lines to it whole.
            let in_first = first_parents.is_some_and(|o| o.id == new.id);
            if !in_first
                && !others
                    .iter()
                    .any(|&t| cache.entry_at(repo, t, &path) == Some(new.id))
            {
                files.resolved.push((path.clone(), new.id));
            }
        }
        files.unlike_first_parent.push(path);
    }
    Ok(files)
}

/// The parents (by tree) that lack one of a merge's `resolved` files, with the paths they
/// lack: `git blame` looks for those among the renames from each such parent to the merge.
pub(crate) fn parents_lacking(
    repo: &Repository,
    cache: &mut ObjectCache,
    parent_trees: &[Oid],
    resolved: &[(String, Oid)],
) -> Vec<(Oid, Vec<String>)> {
    parent_trees
        .iter()
        .filter_map(|&parent| {
            let lacking: Vec<String> = resolved
                .iter()
                .map(|(path, _)| path)
                .filter(|path| cache.entry_at(repo, parent, path).is_none())
                .cloned()
                .collect();
            (!lacking.is_empty()).then_some((parent, lacking))
        })
        .collect()
}

/// Where `git blame` finds a merge's resolved files (`resolved`) in a
/// parent that lacks them at their path: the renames into them that the diff from that parent
/// to the merge shows, as (old path, new path). A subtree merge moves a whole project under a
/// folder this way; a file renamed on one branch and changed on the other is another. Only
/// parents that lack one of `resolved` are diffed, by git itself where it can (within
/// `deadline`) (libgit2's
/// similarity differs from git's: a changelog rewritten as reStructuredText is 71% like its
/// old self to git and under 50% to libgit2), else by libgit2.
fn merge_renames(
    repo: &Repository,
    cache: &mut ObjectCache,
    merge: &git2::Commit<'_>,
    parent_trees: &[Oid],
    resolved: &[(String, Oid)],
    deadline: Option<std::time::Instant>,
) -> Result<Vec<(String, String)>, git2::Error> {
    let tree = merge.tree_id();
    let lacking = parents_lacking(repo, cache, parent_trees, resolved);
    if lacking.is_empty() {
        return Ok(Vec::new());
    }
    let partial_clone = *cache
        .partial_clone
        .get_or_insert_with(|| super::repo::is_partial_clone(repo.path()));
    if partial_clone {
        // git would stop at each version a partial clone lacks.
        return merge_renames_by_libgit2(repo, tree, &lacking);
    }
    let mut renames = Vec::new();
    for (parent, paths) in &lacking {
        let found = if cache.tree_renames_failed >= super::renames::MAX_UNREAD_COMMITS {
            // git failed on this many merges already: libgit2 for the rest of the walk, as
            // for commits' renames.
            renames_by_libgit2(repo, *parent, tree)?
        } else {
            renames_by_git(repo, cache, merge.id(), *parent, tree, deadline)?
        };
        renames.extend(keep_renames_into(found, paths));
    }
    renames.sort_unstable();
    renames.dedup();
    Ok(renames)
}

/// A merge's renames (the merge's tree is `tree`) into the paths each parent (by tree) in
/// `lacking` lacks, found by libgit2; sorted, each once.
pub(crate) fn merge_renames_by_libgit2(
    repo: &Repository,
    tree: Oid,
    lacking: &[(Oid, Vec<String>)],
) -> Result<Vec<(String, String)>, git2::Error> {
    let mut renames = Vec::new();
    for (parent, paths) in lacking {
        renames.extend(keep_renames_into(
            renames_by_libgit2(repo, *parent, tree)?,
            paths,
        ));
    }
    renames.sort_unstable();
    renames.dedup();
    Ok(renames)
}

/// The renames of `found` into one of the paths a parent lacks.
pub(crate) fn keep_renames_into(
    found: Vec<(String, String)>,
    lacking: &[String],
) -> impl Iterator<Item = (String, String)> + '_ {
    found
        .into_iter()
        .filter(move |(_, new)| lacking.contains(new))
}

/// The renames git finds between two trees, through the walk's `git diff-tree` (started if
/// none runs; `commit` ends the answer), else libgit2's.
fn renames_by_git(
    repo: &Repository,
    cache: &mut ObjectCache,
    commit: Oid,
    old: Oid,
    new: Oid,
    deadline: Option<std::time::Instant>,
) -> Result<Vec<(String, String)>, git2::Error> {
    let asked = match cache.tree_renames.as_mut() {
        Some(git) => Ok(git),
        None => super::renames::TreeRenames::start(repo.path())
            .map(|git| cache.tree_renames.insert(git)),
    };
    match asked.and_then(|git| git.between(old, new, commit, deadline)) {
        Ok(pairs) => Ok(pairs),
        Err(e) => {
            // git is gone: the next merge starts another.
            cache.tree_renames = None;
            match e {
                // Past the deadline the caller stops anyway; no rename is found.
                super::renames::RenameError::TimedOut => Ok(Vec::new()),
                e => {
                    cache.tree_renames_failed += 1;
                    tracing::debug!(
                        error = %e,
                        "a merge's renames from libgit2's detection instead of git's"
                    );
                    renames_by_libgit2(repo, old, new)
                }
            }
        }
    }
}

/// The renames libgit2 finds between two trees, looking as far as [`diff_with_renames`] does.
///
/// [`diff_with_renames`]: super::libgit2_renames::diff_with_renames
pub(crate) fn renames_by_libgit2(
    repo: &Repository,
    old: Oid,
    new: Oid,
) -> Result<Vec<(String, String)>, git2::Error> {
    let found = super::libgit2_renames::diff_with_renames(
        repo,
        Some(&repo.find_tree(old)?),
        &repo.find_tree(new)?,
        &mut git2::DiffOptions::new(),
    )?;
    Ok(found
        .iter()
        .filter(|f| f.status == git2::Delta::Renamed)
        .filter_map(|f| Some((f.old_name()?, f.new_name()?)))
        .collect())
}

/// The same result as [`diff_change_detailed`] for one commit against its parent, faster:
/// subtrees with equal ids are skipped and blobs are diffed directly. Commits that could hold
/// a rename or a type change (both additions and deletions, a file becoming a symlink…) are
/// left to libgit2's diff with rename detection, so their result is the same by construction.
///
/// [`diff_change_detailed`]: super::diff_change_detailed
pub fn diff_commit(
    repo: &Repository,
    parent: Option<&git2::Tree<'_>>,
    tree: &git2::Tree<'_>,
) -> Result<Vec<DiffedFile>, MiningError> {
    let mut line_diffs = LineDiffs::new(repo);
    let mut cache = ObjectCache::new(repo);
    diff_commit_cached(
        repo,
        &mut cache,
        parent.map(|p| p.id()),
        tree.id(),
        RenameSource::Libgit2,
    )?
    .into_iter()
    .map(|f| f.finish(&mut line_diffs))
    .collect()
}

/// Where the renames of a diff come from.
#[derive(Clone, Copy)]
pub enum RenameSource<'a> {
    /// git's own detection, asked beforehand ([`renames`]): these pairs, (old, new).
    ///
    /// [`renames`]: super::renames
    Git(&'a [(String, String)]),
    /// libgit2's, when git could not be asked.
    Libgit2,
}

/// [`diff_commit`] reading trees and blobs through `cache`, the line diffs of modified files
/// left to [`PendingFile::finish`]; the parent's trees it replaced are noted in `cache` for
/// [`ObjectCache::forget`]. Only subtrees whose ids differ are read. With renames from git the
/// deletions and additions they pair become one renamed file each; with libgit2's detection,
/// commits that could hold a rename or a type change are left to libgit2's diff.
pub fn diff_commit_cached(
    repo: &Repository,
    cache: &mut ObjectCache,
    parent: Option<Oid>,
    tree: Oid,
    renames: RenameSource<'_>,
) -> Result<Vec<PendingFile>, MiningError> {
    if let Some(p) = parent.filter(|&p| p != tree) {
        cache.replaced_trees.push(p);
    }
    let old = parent.map(|p| cache.tree(repo, p)).transpose()?;
    let new = cache.tree(repo, tree)?;
    let mut changes = Vec::new();
    tree_changes(repo, cache, old.as_deref(), Some(&new), "", 0, &mut changes)?;
    let pairs = match renames {
        RenameSource::Git(pairs) => pairs,
        RenameSource::Libgit2 if needs_libgit2_detection(&changes) => {
            let parent = parent.map(|p| repo.find_tree(p)).transpose()?;
            return diff_change_cached(repo, cache, parent.as_ref(), &repo.find_tree(tree)?);
        }
        RenameSource::Libgit2 => &[][..],
    };
    Ok(files_of_changes(repo, cache, changes, pairs))
}

/// Whether a tree diff could hold a rename or a type change as libgit2's detection finds
/// them (both additions and deletions, a file becoming a symlink…): such a commit is left to
/// libgit2's diff, so that its result is libgit2's by construction; any other has none.
fn needs_libgit2_detection(changes: &[(String, Option<Side>, Option<Side>)]) -> bool {
    let added = changes.iter().any(|c| c.1.is_none());
    let deleted = changes.iter().any(|c| c.2.is_none());
    let typechange = changes.iter().any(|c| match (c.1, c.2) {
        (Some(o), Some(n)) => o.mode != n.mode && !(is_blob_mode(o.mode) && is_blob_mode(n.mode)),
        _ => false,
    });
    (added && deleted) || typechange
}

/// The renames of `renames` that a tree diff holds (a deletion of the old path and an addition
/// of the new one): new path → old path.
fn paired_renames(
    changes: &[(String, Option<Side>, Option<Side>)],
    renames: &[(String, String)],
) -> HashMap<String, String> {
    let mut rename_from: HashMap<String, String> = HashMap::new();
    if !renames.is_empty() {
        let deleted: HashMap<&str, Side> = changes
            .iter()
            .filter_map(|(p, o, n)| match (o, n) {
                (Some(o), None) => Some((p.as_str(), *o)),
                _ => None,
            })
            .collect();
        let added: std::collections::HashSet<&str> = changes
            .iter()
            .filter(|(_, o, n)| o.is_none() && n.is_some())
            .map(|(p, _, _)| p.as_str())
            .collect();
        for (old, new) in renames {
            if deleted.contains_key(old.as_str()) && added.contains(new.as_str()) {
                rename_from.insert(new.clone(), old.clone());
            }
        }
    }
    rename_from
}

/// The paths of a commit as the history index records them ([`index::NewCommit`]): each
/// changed path (a rename's new path, a deletion's old one) and the renames, from the tree
/// diff of `tree` against `parent` (None: every file added) and the rename pairs of
/// `renames`. Reads trees only. With libgit2's detection, None for a commit that could hold a
/// rename or a type change: the caller leaves it to libgit2's diff, which reads more.
///
/// [`index::NewCommit`]: super::index::NewCommit
pub(crate) fn commit_paths(
    repo: &Repository,
    cache: &mut ObjectCache,
    parent: Option<Oid>,
    tree: Oid,
    renames: RenameSource<'_>,
) -> Result<Option<CommitPaths>, git2::Error> {
    let replaced = std::mem::take(&mut cache.replaced_trees);
    let old = parent.map(|p| cache.tree(repo, p)).transpose();
    let new = cache.tree(repo, tree);
    let mut changes = Vec::new();
    let walked = match (old, new) {
        (Ok(old), Ok(new)) => {
            tree_changes(repo, cache, old.as_deref(), Some(&new), "", 0, &mut changes)
        }
        (Err(e), _) | (_, Err(e)) => Err(e),
    };
    cache.replaced_trees = replaced;
    walked?;
    let renames = match renames {
        RenameSource::Git(pairs) => pairs,
        RenameSource::Libgit2 if needs_libgit2_detection(&changes) => return Ok(None),
        RenameSource::Libgit2 => &[][..],
    };
    let pairs = paired_renames(&changes, renames);
    let moved: std::collections::HashSet<&String> = pairs.values().collect();
    let touched = changes
        .iter()
        .filter(|(p, _, n)| !(n.is_none() && moved.contains(p)))
        .map(|(p, _, _)| p.clone())
        .collect();
    let mut renames: Vec<(String, String)> =
        pairs.into_iter().map(|(new, old)| (old, new)).collect();
    renames.sort();
    Ok(Some(CommitPaths { touched, renames }))
}

/// What [`commit_paths`] finds.
#[derive(Default)]
pub(crate) struct CommitPaths {
    pub touched: Vec<String>,
    /// (old, new)
    pub renames: Vec<(String, String)>,
}

/// The files of a tree diff, the deletions and additions that `renames` pairs made one renamed
/// file each (at the new path's place). A pair the diff does not hold is ignored.
fn files_of_changes(
    repo: &Repository,
    cache: &mut ObjectCache,
    changes: Vec<(String, Option<Side>, Option<Side>)>,
    renames: &[(String, String)],
) -> Vec<PendingFile> {
    let rename_from = paired_renames(&changes, renames);
    let renamed_away: std::collections::HashSet<String> = rename_from.values().cloned().collect();
    let old_side: HashMap<String, Side> = changes
        .iter()
        .filter(|(p, _, _)| renamed_away.contains(p))
        .filter_map(|(p, o, _)| o.map(|o| (p.clone(), o)))
        .collect();
    let none = Side {
        id: Oid::zero(),
        mode: FileMode::Unreadable,
    };
    let mut files = Vec::with_capacity(changes.len());
    for (path, old, new) in changes {
        if renamed_away.contains(&path) && new.is_none() {
            continue; // the deletion half of a rename
        }
        let (change, old_path, old) = match (old, new, rename_from.get(&path)) {
            (None, Some(_), Some(from)) => (
                ChangeKind::Renamed,
                Some(from.clone()),
                old_side.get(from).copied(),
            ),
            (None, _, _) => (ChangeKind::Added, None, None),
            (_, None, _) => (ChangeKind::Deleted, None, old),
            (Some(o), Some(n), _)
                if o.mode != n.mode && !(is_blob_mode(o.mode) && is_blob_mode(n.mode)) =>
            {
                (ChangeKind::Other, None, old)
            }
            _ => (ChangeKind::Modified, None, old),
        };
        let (o, n) = (old.unwrap_or(none), new.unwrap_or(none));
        files.push(diffed_file(
            repo,
            cache,
            change,
            path,
            old_path,
            (o.id, o.mode),
            (n.id, n.mode),
        ));
    }
    files
}

/// The squashed diff between two trees, read through `cache`, renames as `renames` gives
/// them, the line diffs of modified files left to [`PendingFile::finish`].
pub fn diff_trees_cached(
    repo: &Repository,
    cache: &mut ObjectCache,
    base: Oid,
    head: Oid,
    renames: RenameSource<'_>,
) -> Result<Vec<PendingFile>, MiningError> {
    let replaced = std::mem::take(&mut cache.replaced_trees);
    let files = diff_commit_cached(repo, cache, Some(base), head, renames);
    cache.replaced_trees = replaced;
    files
}

//! Renames found without git, by libgit2's detection asked as riskgate asks git
//! ([`CHANGE_RENAME_LIMIT`]). Files of identical content are paired first, as git pairs them,
//! and only the files left are compared for similarity: libgit2 compares every added file with
//! every deleted one, identical or not, and starts over each time a better pair displaces
//! another (svelte's move of 4,800 files took 54 s to score that way, 10 s now).

use std::collections::{HashMap, HashSet, VecDeque};

use git2::{Delta, DiffFindOptions, DiffOptions, FileMode, Oid, Repository};

use super::renames::CHANGE_RENAME_LIMIT;
use crate::features::git_path;

/// Most pairs of a deleted and an added file compared for similarity, as git's `-l`: 7,000
/// squared. libgit2 compares by content a few times slower than git.
const MAX_RENAME_PAIRS: usize = CHANGE_RENAME_LIMIT * CHANGE_RENAME_LIMIT;

/// One file of a tree diff with its renames found; a renamed file is one entry, its old side
/// the deleted file's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct FoundFile {
    pub status: Delta,
    pub old_path: Option<Vec<u8>>,
    pub new_path: Option<Vec<u8>>,
    pub old: (Oid, FileMode),
    pub new: (Oid, FileMode),
}

impl FoundFile {
    fn of(delta: git2::DiffDelta<'_>) -> Self {
        let (old, new) = (delta.old_file(), delta.new_file());
        FoundFile {
            status: delta.status(),
            old_path: old.path_bytes().map(<[u8]>::to_vec),
            new_path: new.path_bytes().map(<[u8]>::to_vec),
            old: (old.id(), old.mode()),
            new: (new.id(), new.mode()),
        }
    }

    /// The old path as riskgate names paths ([`git_path`]).
    pub fn old_name(&self) -> Option<String> {
        self.old_path.as_deref().map(git_path::from_bytes)
    }

    /// The new path as riskgate names paths ([`git_path`]).
    pub fn new_name(&self) -> Option<String> {
        self.new_path.as_deref().map(git_path::from_bytes)
    }

    /// The path libgit2 orders a diff's files by: the new one of an added or renamed file.
    fn order_path(&self) -> &[u8] {
        let new_first = matches!(self.status, Delta::Added | Delta::Renamed);
        let (first, second) = if new_first {
            (&self.new_path, &self.old_path)
        } else {
            (&self.old_path, &self.new_path)
        };
        first.as_deref().or(second.as_deref()).unwrap_or_default()
    }

    /// A deleted regular file: what libgit2 takes a rename from.
    fn is_source(&self) -> bool {
        self.status == Delta::Deleted && is_regular(self.old.1)
    }

    /// An added regular file: what libgit2 takes a rename to.
    fn is_target(&self) -> bool {
        self.status == Delta::Added && is_regular(self.new.1)
    }
}

/// libgit2's test for a file its detection compares (`GIT_MODE_ISBLOB`): not a symlink or a
/// submodule.
fn is_regular(mode: FileMode) -> bool {
    matches!(
        mode,
        FileMode::Blob | FileMode::BlobExecutable | FileMode::BlobGroupWritable
    )
}

/// The diff of two trees with its renames. Files of identical content are paired first: each
/// added file, in path order, with the first deleted one of its content not yet paired, which
/// is the pair libgit2 would make. The files left are compared for similarity while there are
/// at most [`MAX_RENAME_PAIRS`] such pairs, every one with every one, so that which files are
/// paired does not hang on their names; past that, git too pairs none of them by content.
/// Similarity reads both blobs of each pair, so a blob the repository lacks (a partial clone
/// filtered by blob size, a damaged one) fails it; the files left then keep no rename rather
/// than failing the diff.
pub(super) fn diff_with_renames(
    repo: &Repository,
    old: Option<&git2::Tree<'_>>,
    new: &git2::Tree<'_>,
    opts: &mut DiffOptions,
) -> Result<Vec<FoundFile>, git2::Error> {
    super::tree_diff::check_tree_depth(repo, old.map(|t| t.id()), new.id())?;
    let mut diff = repo.diff_tree_to_tree(old, Some(new), Some(opts))?;
    let files = found_files(&diff);
    if files.iter().any(|f| f.status == Delta::Typechange) {
        // libgit2 also takes renames from a file whose type changed: its detection is left
        // the whole diff, by id alone where a blob is absent.
        if !absent_blob(find_similar(&mut diff, &files))? {
            return Ok(found_files(&diff));
        }
        let mut exact = repo.diff_tree_to_tree(old, Some(new), Some(opts))?;
        exact.find_similar(Some(&mut find_options(&files, true)))?;
        return Ok(found_files(&exact));
    }
    let mut pairs = identical_pairs(&files);
    let paired: HashSet<usize> = pairs.iter().flat_map(|&(s, t)| [s, t]).collect();
    let left: Vec<usize> = (0..files.len())
        .filter(|i| !paired.contains(i) && (files[*i].is_source() || files[*i].is_target()))
        .collect();
    let (sources, targets) = candidates(&files, left.iter().copied());
    if sources > 0 && targets > 0 && sources.saturating_mul(targets) <= MAX_RENAME_PAIRS {
        let apart = if paired.is_empty() {
            None
        } else {
            similar_pairs(repo, old, new, opts, &files, &left)?
        };
        match apart {
            Some(similar) => pairs.extend(similar),
            // Nothing paired by id, or the files left cannot be diffed apart from the others
            // (see `similar_pairs`): libgit2's detection over the whole diff.
            None => {
                if !absent_blob(find_similar(&mut diff, &files))? {
                    return Ok(found_files(&diff));
                }
            }
        }
    }
    Ok(with_pairs(files, &pairs))
}

/// The files of `diff` as it stands.
fn found_files(diff: &git2::Diff<'_>) -> Vec<FoundFile> {
    diff.deltas().map(FoundFile::of).collect()
}

/// Whether libgit2's detection failed for a blob the repository lacks; any other error is
/// returned.
fn absent_blob(found: Result<(), git2::Error>) -> Result<bool, git2::Error> {
    match found {
        Ok(()) => Ok(false),
        Err(e) if e.code() == git2::ErrorCode::NotFound => {
            tracing::debug!(error = %e, "a blob is absent: renames of identical content only");
            Ok(true)
        }
        Err(e) => Err(e),
    }
}

/// libgit2's detection over `diff`, whose files are `files`.
fn find_similar(diff: &mut git2::Diff<'_>, files: &[FoundFile]) -> Result<(), git2::Error> {
    diff.find_similar(Some(&mut find_options(files, false)))
}

/// libgit2's options for renames among `files`: by content (unless `by_id_only`) while the
/// pairs are at most [`MAX_RENAME_PAIRS`], by id past it. libgit2 compares each added file with
/// the deleted ones in path order, up to its `rename_limit` of them: the limit is set so that
/// every pair is compared, or, past [`MAX_RENAME_PAIRS`], so that no more pairs than that are.
fn find_options(files: &[FoundFile], by_id_only: bool) -> DiffFindOptions {
    let (sources, added) = candidates(files, 0..files.len());
    let within = sources.saturating_mul(added) <= MAX_RENAME_PAIRS;
    let mut find = DiffFindOptions::new();
    find.renames(true)
        .exact_match_only(by_id_only || !within)
        .rename_limit(if within {
            files.len().max(1)
        } else {
            MAX_RENAME_PAIRS / added.max(1)
        });
    find
}

/// How many of `files` at `indexes` libgit2 would take a rename from, and to.
fn candidates(files: &[FoundFile], indexes: impl Iterator<Item = usize>) -> (usize, usize) {
    indexes.fold((0, 0), |(sources, targets), i| {
        (
            sources + usize::from(files[i].is_source()),
            targets + usize::from(files[i].is_target()),
        )
    })
}

/// The (deleted, added) files, by index in `files`, of identical content that libgit2 pairs:
/// each added file in order takes the first deleted one of its content not yet taken.
fn identical_pairs(files: &[FoundFile]) -> Vec<(usize, usize)> {
    let mut sources: HashMap<Oid, VecDeque<usize>> = HashMap::new();
    for (i, f) in files.iter().enumerate().filter(|(_, f)| f.is_source()) {
        sources.entry(f.old.0).or_default().push_back(i);
    }
    let mut pairs = Vec::new();
    for (t, f) in files.iter().enumerate().filter(|(_, f)| f.is_target()) {
        if let Some(s) = sources.get_mut(&f.new.0).and_then(VecDeque::pop_front) {
            pairs.push((s, t));
        }
    }
    pairs
}

/// libgit2's pairs by similarity among the files `left` (indexes in `files`), from a diff of
/// those paths alone. None when that diff would hold more than them: libgit2 limits a diff to a
/// path and everything under it, so a file left at `a` would bring in a file `a/b` paired
/// already. An absent blob leaves no pair.
fn similar_pairs(
    repo: &Repository,
    old: Option<&git2::Tree<'_>>,
    new: &git2::Tree<'_>,
    opts: &mut DiffOptions,
    files: &[FoundFile],
    left: &[usize],
) -> Result<Option<Vec<(usize, usize)>>, git2::Error> {
    let path_of = |i: usize| files[i].order_path();
    let wanted: HashSet<&[u8]> = left.iter().map(|&i| path_of(i)).collect();
    let under_wanted = |path: &[u8]| {
        path.iter()
            .enumerate()
            .any(|(at, &b)| b == b'/' && wanted.contains(&path[..at]))
    };
    if files
        .iter()
        .any(|f| !wanted.contains(f.order_path()) && under_wanted(f.order_path()))
    {
        return Ok(None);
    }
    for &i in left {
        opts.pathspec(path_of(i));
    }
    opts.disable_pathspec_match(true);
    let mut diff = repo.diff_tree_to_tree(old, Some(new), Some(opts))?;
    let found = found_files(&diff);
    if absent_blob(find_similar(&mut diff, &found))? {
        return Ok(Some(Vec::new()));
    }
    let by_path = |status: Delta| -> HashMap<&[u8], usize> {
        left.iter()
            .filter(|&&i| files[i].status == status)
            .map(|&i| (path_of(i), i))
            .collect()
    };
    let (sources, targets) = (by_path(Delta::Deleted), by_path(Delta::Added));
    let mut pairs = Vec::new();
    for delta in diff.deltas().filter(|d| d.status() == Delta::Renamed) {
        let from = delta.old_file().path_bytes().and_then(|p| sources.get(p));
        let to = delta.new_file().path_bytes().and_then(|p| targets.get(p));
        if let (Some(&s), Some(&t)) = (from, to) {
            pairs.push((s, t));
        }
    }
    Ok(Some(pairs))
}

/// `files` with each (deleted, added) pair of `pairs` made one renamed file, ordered as
/// libgit2 orders a diff's files.
fn with_pairs(files: Vec<FoundFile>, pairs: &[(usize, usize)]) -> Vec<FoundFile> {
    let mut files: Vec<Option<FoundFile>> = files.into_iter().map(Some).collect();
    for &(s, t) in pairs {
        let (Some(source), Some(target)) = (files[s].take(), files[t].as_mut()) else {
            continue;
        };
        target.status = Delta::Renamed;
        target.old_path = source.old_path;
        target.old = source.old;
    }
    let mut files: Vec<FoundFile> = files.into_iter().flatten().collect();
    files.sort_by(|a, b| a.order_path().cmp(b.order_path()));
    files
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tree of `files` (path, content) written into `repo`.
    fn tree_of<'r>(repo: &'r Repository, files: &[(&str, String)]) -> git2::Tree<'r> {
        let mut index = git2::Index::new().unwrap();
        for (path, body) in files {
            let id = repo.blob(body.as_bytes()).unwrap();
            let entry = super::super::attributes::regular_file_entry(path.as_bytes(), id);
            index.add(&entry).unwrap();
        }
        repo.find_tree(index.write_tree_to(repo).unwrap()).unwrap()
    }

    /// Twenty lines named after `name`, the ones at `edited` changed.
    fn body(name: &str, edited: &[usize]) -> String {
        (0..20)
            .map(|i| {
                let mark = if edited.contains(&i) {
                    "edited"
                } else {
                    "line"
                };
                format!("{name} {mark} {i} of a file long enough to compare\n")
            })
            .collect()
    }

    /// libgit2's detection over the whole diff, every pair compared: what
    /// [`diff_with_renames`] must find.
    fn whole_diff_renames(
        repo: &Repository,
        old: &git2::Tree<'_>,
        new: &git2::Tree<'_>,
    ) -> Vec<FoundFile> {
        let mut diff = repo.diff_tree_to_tree(Some(old), Some(new), None).unwrap();
        let files = found_files(&diff);
        find_similar(&mut diff, &files).unwrap();
        found_files(&diff)
    }

    fn renames(found: &[FoundFile]) -> Vec<(String, String)> {
        let text = |p: &Option<Vec<u8>>| String::from_utf8(p.clone().unwrap()).unwrap();
        found
            .iter()
            .filter(|f| f.status == Delta::Renamed)
            .map(|f| (text(&f.old_path), text(&f.new_path)))
            .collect()
    }

    fn pairs(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(old, new)| (old.to_string(), new.to_string()))
            .collect()
    }

    #[test]
    fn identical_files_paired_first_give_the_pairs_of_the_whole_comparison() {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repository::init_bare(dir.path()).unwrap();
        let old = tree_of(
            &repo,
            &[
                ("keep.rs", body("keep", &[])),
                ("src/a.rs", body("a", &[])),
                ("src/b.rs", body("b", &[])),
                ("src/c.rs", body("c", &[])),
                ("x/one.txt", body("e", &[])),
                ("x/two.txt", body("e", &[])),
            ],
        );
        let new = tree_of(
            &repo,
            &[
                ("keep.rs", body("keep", &[3])),
                // Sorts before the identical move of src/a.rs and is near it: it takes
                // src/a.rs first and loses it to the identical file.
                ("lib/0a.rs", body("a", &[7])),
                ("lib/a.rs", body("a", &[])),
                ("lib/b.rs", body("b", &[2])),
                // Two identical copies of one deleted file: the first in path order is the
                // rename.
                ("lib/c.rs", body("c", &[])),
                ("lib/c2.rs", body("c", &[])),
                ("new.rs", body("f", &[])),
                // Two deleted files of this content: the first in path order is renamed.
                ("y/one.txt", body("e", &[])),
            ],
        );
        let found = diff_with_renames(&repo, Some(&old), &new, &mut DiffOptions::new()).unwrap();
        assert_eq!(
            renames(&found),
            pairs(&[
                ("src/a.rs", "lib/a.rs"),
                ("src/b.rs", "lib/b.rs"),
                ("src/c.rs", "lib/c.rs"),
                ("x/one.txt", "y/one.txt"),
            ])
        );
        assert_eq!(found, whole_diff_renames(&repo, &old, &new));
    }

    #[test]
    fn a_file_left_where_a_paired_file_has_its_directory_is_compared_in_the_whole_diff() {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repository::init_bare(dir.path()).unwrap();
        let old = tree_of(
            &repo,
            &[("lib", body("h", &[1])), ("old/x.rs", body("h", &[]))],
        );
        // A diff limited to the path `lib` would hold `lib/x.rs` too, nearer `lib` than
        // `lib2` is, and pair them.
        let new = tree_of(
            &repo,
            &[("lib/x.rs", body("h", &[])), ("lib2", body("h", &[5, 9]))],
        );
        let found = diff_with_renames(&repo, Some(&old), &new, &mut DiffOptions::new()).unwrap();
        assert_eq!(
            renames(&found),
            pairs(&[("old/x.rs", "lib/x.rs"), ("lib", "lib2")])
        );
        assert_eq!(found, whole_diff_renames(&repo, &old, &new));
    }
}

//! Growing the index: the walk over commits not indexed yet (with renames as git detects
//! them), and the commits the miner pushes as it goes.

use std::collections::HashSet;
use std::io::IsTerminal;

use git2::{Delta, DiffOptions, Oid, Repository, Sort};

use crate::mining::libgit2_renames::diff_with_renames;
use crate::mining::tree_diff::{merge_files_but_renames, parents_lacking};
use crate::mining::{CommitPaths, MergeFiles, RenameSource};

use super::git_ahead::{CommitRenamesAhead, MergeRenamesAhead, PastDeadline};

use super::{raw_id, Extended, HistoryIndex, Identities, IndexedCommit, NewCommit};

impl HistoryIndex {
    /// Make sure every commit reachable from `tip` is indexed, walking only the new ones.
    /// Past `deadline` it stops between two commits with [`Extended::Stopped`]: what was added
    /// is whole (every commit's parents are in), so the next run goes on from there. A commit
    /// libgit2 cannot parse is left out, as at a shallow cut
    /// ([`HistoryIndex::unreadable_behind`] finds it again).
    pub fn extend_to(
        &mut self,
        repo: &Repository,
        tip: Oid,
        deadline: Option<std::time::Instant>,
    ) -> Result<Extended, git2::Error> {
        if self.by_oid.contains_key(&tip) {
            return Ok(Extended::Done(0));
        }
        let mut walk = repo.revwalk()?;
        walk.set_sorting(Sort::TOPOLOGICAL | Sort::REVERSE)?;
        walk.push(tip)?;
        // Hiding the commits without indexed children is enough: everything below them is indexed.
        for oid in self.frontier() {
            // A commit gone from the repository (history rewritten, then collected) hides nothing.
            let _ = walk.hide(oid);
        }
        let new: Vec<Oid> = walk.collect::<Result<_, _>>()?;
        // Renames as git detects them (what `mine` and `git log --numstat` see), found by git
        // beside the walk.
        let mut git_renames = CommitRenamesAhead::start(repo, &new);
        let mut merges = MergeRenamesAhead::new(&git_renames);
        let progress = progress_bar(new.len());
        let mut objects = crate::mining::ObjectCache::reading_packs(repo);
        let identities = self.identities();
        let start = self.stored.commits.len();
        let stop = |index: &mut HistoryIndex, merges: &MergeRenamesAhead, n: usize| {
            if let Some(bar) = &progress {
                bar.finish_and_clear();
            }
            // What was added stays whole: a merge still waiting for git goes, with what
            // followed it.
            if let Some(first) = merges.oldest_waiting() {
                index.forget_from(first);
            }
            index.dirty |= index.stored.commits.len() > start;
            Ok(Extended::Stopped(n))
        };
        for (n, oid) in new.iter().enumerate() {
            if n % 64 == 0 && crate::mining::past(deadline) {
                return stop(self, &merges, n);
            }
            let commit = match repo.find_commit(*oid) {
                Ok(commit) => commit,
                // Left out: its children find no indexed parent, as at a shallow cut.
                Err(_) if crate::mining::holds(repo, *oid) => continue,
                Err(e) => return Err(e),
            };
            let walk = Walk {
                objects: &mut objects,
                git_renames: &mut git_renames,
                merges: &mut merges,
                identities: &identities,
                deadline,
            };
            if self.add_commit(repo, &commit, walk)? == Added::StoppedAtDeadline {
                return stop(self, &merges, n);
            }
            if let Some(bar) = &progress {
                if n % 256 == 0 {
                    bar.set_position(n as u64);
                }
            }
        }
        if merges.finish(self, repo, deadline).is_err() {
            return stop(self, &merges, new.len());
        }
        if let Some(bar) = &progress {
            bar.finish_and_clear();
        }
        if let Some(e) = git_renames.refused {
            tracing::warn!(error = %e, "renames from libgit2's detection instead of git's");
        }
        if !new.is_empty() {
            self.dirty = true;
        }
        Ok(Extended::Done(new.len()))
    }

    /// Add a commit whose diff the caller already has (the miner's single pass). Returns its
    /// index.
    pub fn push_commit(&mut self, new: NewCommit<'_>) -> u32 {
        let parents = self.indexed_parents(new.parents.iter().copied());
        let author = self.intern_author(new.author_key);
        let mut seen = HashSet::new();
        let mut ids = Vec::with_capacity(new.touched.len());
        for p in new.touched {
            let id = self.intern_path((*p).to_string());
            if seen.insert(id) {
                ids.push(id);
            }
        }
        let merged = match new.merge_files {
            Some(files) => self.intern_merge(files, parents.len() == new.parents.len()),
            None => MergePaths {
                renames: new
                    .renames
                    .iter()
                    .map(|(o, n)| {
                        (
                            self.intern_path((*o).to_string()),
                            self.intern_path((*n).to_string()),
                        )
                    })
                    .collect(),
                ..MergePaths::default()
            },
        };
        self.stored.commits.push(IndexedCommit {
            oid: raw_id(new.oid),
            parents,
            author,
            time: new.time,
            merge: new.merge,
            touched: if new.merge { Vec::new() } else { ids },
            renames: merged.renames,
            resolved: merged.resolved,
            unlike_first_parent: merged.unlike_first_parent,
        });
        let i = (self.stored.commits.len() - 1) as u32;
        self.link(i);
        i
    }

    /// A merge's renames, resolutions and paths unlike its first parent's, as path ids; the
    /// last only when `all_parents_indexed`, since the way back through the merge needs them.
    fn intern_merge(&mut self, files: &MergeFiles, all_parents_indexed: bool) -> MergePaths {
        let mut intern = |path: &String| self.intern_path(path.clone());
        MergePaths {
            renames: files
                .renames
                .iter()
                .map(|(old, new)| (intern(old), intern(new)))
                .collect(),
            resolved: files
                .resolved
                .iter()
                .map(|(path, _)| intern(path))
                .collect(),
            unlike_first_parent: all_parents_indexed
                .then(|| files.unlike_first_parent.iter().map(intern).collect()),
        }
    }

    /// Indexed commits that no indexed commit has as a parent.
    fn frontier(&self) -> Vec<Oid> {
        let mut has_child = vec![false; self.stored.commits.len()];
        for c in &self.stored.commits {
            for &p in &c.parents {
                has_child[p as usize] = true;
            }
        }
        self.stored
            .commits
            .iter()
            .zip(has_child)
            .filter(|(_, child)| !child)
            .map(|(c, _)| Oid::from_bytes(&c.oid).expect("20-byte oid"))
            .collect()
    }

    fn add_commit(
        &mut self,
        repo: &Repository,
        commit: &git2::Commit<'_>,
        walk: Walk<'_>,
    ) -> Result<Added, git2::Error> {
        let Walk {
            objects,
            git_renames,
            merges,
            identities,
            deadline,
        } = walk;
        let parents = self.indexed_parents(commit.parent_ids());
        let merge = commit.parent_count() > 1;
        let author = self.intern_author(identities.author(commit).key);
        let mut touched = Vec::new();
        let mut renames = Vec::new();
        let mut resolved = Vec::new();
        let mut unlike_first_parent = None;
        // A merge's parents lacking one of its files, whose renames git is asked for once the
        // merge is indexed.
        let mut ask_git = Vec::new();
        if merge {
            let trees: Option<Vec<Oid>> = commit
                .parent_ids()
                .map(|p| repo.find_commit(p).ok().map(|c| c.tree_id()))
                .collect();
            // A parent outside a shallow clone: what the merge resolved cannot be told.
            if let Some(trees) = trees {
                let tree = commit.tree_id();
                let mut files = merge_files_but_renames(repo, objects, tree, &trees)?;
                let lacking = parents_lacking(repo, objects, &trees, &files.resolved);
                match merges.found_now(repo, tree, &lacking)? {
                    Some(found) => files.renames = found,
                    None => ask_git = lacking,
                }
                let merged = self.intern_merge(&files, parents.len() == trees.len());
                renames = merged.renames;
                resolved = merged.resolved;
                unlike_first_parent = merged.unlike_first_parent;
            }
        } else {
            // A shallow clone's boundary commit has no parent here: every file looks added.
            let parent = commit
                .parent_ids()
                .next()
                .and_then(|p| repo.find_commit(p).ok())
                .map(|p| p.tree_id());
            let tree = commit.tree_id();
            // Only a commit that both adds and deletes can hold a rename: the others need no
            // pairs, and do not wait for git's.
            let paths = match crate::mining::commit_paths(
                repo,
                objects,
                parent,
                tree,
                RenameSource::Libgit2,
            )? {
                Some(paths) => paths,
                None => match git_renames.of(commit.id(), deadline) {
                    Err(PastDeadline) => return Ok(Added::StoppedAtDeadline),
                    // With git's pairs the tree diff always answers.
                    Ok(Some(pairs)) => crate::mining::commit_paths(
                        repo,
                        objects,
                        parent,
                        tree,
                        RenameSource::Git(&pairs),
                    )?
                    .unwrap_or_default(),
                    Ok(None) => paths_by_libgit2(repo, parent, tree)?,
                },
            };
            let mut seen = HashSet::new();
            for p in paths.touched {
                let id = self.intern_path(p);
                if seen.insert(id) {
                    touched.push(id);
                }
            }
            for (old, new) in paths.renames {
                renames.push((self.intern_path(old), self.intern_path(new)));
            }
        }
        self.stored.commits.push(IndexedCommit {
            oid: raw_id(commit.id()),
            parents,
            author,
            time: commit.author().when().seconds(),
            merge,
            touched,
            renames,
            resolved,
            unlike_first_parent,
        });
        let i = (self.stored.commits.len() - 1) as u32;
        self.link(i);
        if !ask_git.is_empty() {
            let ids = (commit.id(), commit.tree_id());
            if merges.ask(self, repo, i, ids, ask_git, deadline).is_err() {
                return Ok(Added::StoppedAtDeadline);
            }
        }
        Ok(Added::Indexed)
    }
}

/// What the walk carries from commit to commit.
struct Walk<'a> {
    objects: &'a mut crate::mining::ObjectCache,
    git_renames: &'a mut CommitRenamesAhead,
    merges: &'a mut MergeRenamesAhead,
    identities: &'a Identities,
    deadline: Option<std::time::Instant>,
}

/// Whether [`HistoryIndex::add_commit`] added the commit.
#[derive(PartialEq)]
enum Added {
    Indexed,
    /// git's renames were not there by the deadline.
    StoppedAtDeadline,
}

/// A commit's paths as [`commit_paths`] gives them, from libgit2's diff with its rename
/// detection: for a commit whose renames git did not give that could hold one.
///
/// [`commit_paths`]: crate::mining::commit_paths
fn paths_by_libgit2(
    repo: &Repository,
    parent: Option<Oid>,
    tree: Oid,
) -> Result<CommitPaths, git2::Error> {
    let parent = parent.map(|p| repo.find_tree(p)).transpose()?;
    let mut opts = DiffOptions::new();
    opts.ignore_submodules(false).include_typechange(true);
    let found = diff_with_renames(repo, parent.as_ref(), &repo.find_tree(tree)?, &mut opts)?;
    let mut paths = CommitPaths::default();
    for file in found {
        let (old_path, new_path) = (file.old_name(), file.new_name());
        match file.status {
            Delta::Renamed => {
                if let (Some(old), Some(new)) = (old_path, new_path) {
                    paths.touched.push(new.clone());
                    paths.renames.push((old, new));
                }
            }
            Delta::Deleted => paths.touched.extend(old_path),
            _ => paths.touched.extend(new_path.or(old_path)),
        }
    }
    Ok(paths)
}

/// A progress bar on an interactive stderr for walks long enough to notice; nothing otherwise.
fn progress_bar(len: usize) -> Option<indicatif::ProgressBar> {
    if len < 2_000 || !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::new(len as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "indexing history {bar:40} {pos}/{len} commits ({eta})",
        )
        .expect("valid template"),
    );
    Some(bar)
}

/// What a merge adds to its [`IndexedCommit`], as path ids ([`HistoryIndex::intern_merge`]).
#[derive(Default)]
struct MergePaths {
    renames: Vec<(u32, u32)>,
    resolved: Vec<u32>,
    unlike_first_parent: Option<Vec<u32>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Commit the work tree of `repo` as it stands (every file, deletions included).
    fn commit_all(repo: &Repository, message: &str) -> Oid {
        let mut index = repo.index().unwrap();
        index
            .add_all(["*"], git2::IndexAddOption::DEFAULT, None)
            .unwrap();
        index.update_all(["*"], None).unwrap();
        index.write().unwrap();
        let tree = repo.find_tree(index.write_tree().unwrap()).unwrap();
        let sig = git2::Signature::new("a", "a@example.com", &git2::Time::new(1, 0)).unwrap();
        let parent = repo.head().ok().and_then(|h| h.peel_to_commit().ok());
        let parents: Vec<&git2::Commit<'_>> = parent.iter().collect();
        repo.commit(Some("HEAD"), &sig, &sig, message, &tree, &parents)
            .unwrap()
    }

    /// Without git's renames, the tree diff answers only for commits that cannot hold a rename
    /// or a type change, and then as libgit2's diff would; the others are left to libgit2.
    #[test]
    fn the_fast_paths_of_a_commit_are_libgit2s_or_none() {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repository::init(dir.path()).unwrap();
        let write = |path: &str, text: &str| {
            let path = dir.path().join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        };
        let body: String = (0..40).map(|i| format!("line {i}\n")).collect();
        write("src/a.rs", &body);
        write("src/b.rs", "b\n");
        write("doc/c.md", "c\n");
        let mut commits = vec![(commit_all(&repo, "import"), true)];
        write("src/a.rs", &format!("{body}more\n"));
        commits.push((commit_all(&repo, "edit"), true));
        write("src/d/e.rs", "e\n");
        commits.push((commit_all(&repo, "add"), true));
        std::fs::create_dir_all(dir.path().join("lib")).unwrap();
        std::fs::rename(dir.path().join("src/a.rs"), dir.path().join("lib/a.rs")).unwrap();
        commits.push((commit_all(&repo, "move"), false));
        std::fs::remove_file(dir.path().join("doc/c.md")).unwrap();
        commits.push((commit_all(&repo, "delete"), true));
        std::fs::remove_file(dir.path().join("src/b.rs")).unwrap();
        std::os::unix::fs::symlink("d/e.rs", dir.path().join("src/b.rs")).unwrap();
        commits.push((commit_all(&repo, "typechange"), false));

        let mut objects = crate::mining::ObjectCache::reading_packs(&repo);
        for (oid, fast) in commits {
            let commit = repo.find_commit(oid).unwrap();
            let parent = commit.parent_ids().next().map(|p| {
                let p = repo.find_commit(p).unwrap();
                p.tree_id()
            });
            let found = crate::mining::commit_paths(
                &repo,
                &mut objects,
                parent,
                commit.tree_id(),
                RenameSource::Libgit2,
            )
            .unwrap();
            let libgit2 = paths_by_libgit2(&repo, parent, commit.tree_id()).unwrap();
            let message = commit.summary().unwrap_or_default().to_string();
            match found {
                Some(mut paths) => {
                    assert!(fast, "{message}: answered by the tree diff");
                    let mut expected = libgit2.touched.clone();
                    paths.touched.sort();
                    expected.sort();
                    assert_eq!(paths.touched, expected, "{message}");
                    assert!(paths.renames.is_empty() && libgit2.renames.is_empty());
                }
                None => {
                    assert!(!fast, "{message}: left to libgit2");
                    if message == "move" {
                        let pair = ("src/a.rs".to_string(), "lib/a.rs".to_string());
                        assert_eq!(libgit2.renames, [pair]);
                    }
                }
            }
        }
    }

    /// Merges one after another, each resolving a file its first parent has under its old
    /// name: the gits are asked for them while the walk goes on, each diff by the git with the
    /// fewest outstanding, and each merge gets its own rename.
    #[test]
    fn each_merge_gets_its_own_renames() {
        const MOVES: usize = 6;
        let dir = crate::mining::test_repo::TestRepo::new();
        let body = |n: usize| -> String { (0..40).map(|i| format!("{n}: line {i}\n")).collect() };
        for n in 0..MOVES {
            dir.write(&format!("f{n}.txt"), &body(n));
        }
        dir.git(&["add", "."]);
        dir.git(&["commit", "-qm", "import"]);
        for n in 0..MOVES {
            let (from, to) = (format!("f{n}.txt"), format!("moved{n}.txt"));
            dir.merge_a_move_of_a_grown_file(&format!("move{n}"), (&from, &to), &body(n));
        }

        let repo = Repository::open(dir.path()).unwrap();
        let mut walk = repo.revwalk().unwrap();
        walk.push_head().unwrap();
        walk.set_sorting(Sort::TOPOLOGICAL | Sort::REVERSE).unwrap();
        let merges: Vec<Oid> = walk
            .map(Result::unwrap)
            .filter(|&c| repo.find_commit(c).unwrap().parent_count() > 1)
            .collect();
        assert_eq!(merges.len(), MOVES);
        let tip = repo.head().unwrap().target().unwrap();
        let mut index = HistoryIndex::in_memory();
        assert!(matches!(
            index.extend_to(&repo, tip, None),
            Ok(Extended::Done(n)) if n == 1 + 3 * MOVES
        ));
        for (n, merge) in merges.iter().enumerate() {
            let at = index.by_oid[merge];
            let moved = format!("moved{n}.txt");
            assert_eq!(
                index.name_before(&moved, at),
                format!("f{n}.txt"),
                "merge {n}"
            );
            // Not the commit it merged into: only the merge renames on that line.
            let grown = index.by_oid[&repo.find_commit(*merge).unwrap().parent_id(0).unwrap()];
            assert_eq!(
                index.name_before(&moved, grown),
                moved,
                "merge {n}'s first parent"
            );
        }
    }

    /// A merge whose resolved file one parent has under another name: git is asked for the
    /// rename while the walk goes on, and the merge gets it. An index cut short before that
    /// merge (as at a deadline) and extended again is the index built in one go.
    #[test]
    fn a_merge_gets_its_renames_from_git_and_a_cut_index_grows_back_whole() {
        let dir = crate::mining::test_repo::TestRepo::new();
        let body = dir.import();
        dir.merge_a_move_of_a_grown_file("side", ("a.txt", "lib/a.txt"), &body);
        dir.write("b.txt", "b\nb\n");
        dir.git(&["commit", "-qam", "grow b"]);

        let repo = Repository::open(dir.path()).unwrap();
        let tip = repo.head().unwrap().peel_to_commit().unwrap();
        let merge = tip.parent_id(0).unwrap();
        let mut whole = HistoryIndex::in_memory();
        assert!(matches!(
            whole.extend_to(&repo, tip.id(), None),
            Ok(Extended::Done(5))
        ));
        let at = whole.by_oid[&merge];
        assert_eq!(whole.name_before("lib/a.txt", at), "a.txt");
        let bytes = |index: &HistoryIndex| postcard::to_stdvec(&index.stored).unwrap();

        let mut cut = HistoryIndex::in_memory();
        cut.extend_to(&repo, tip.id(), None).unwrap();
        cut.forget_from(at);
        assert_eq!(cut.len(), at as usize);
        assert!(!cut.by_oid.contains_key(&merge));
        assert_eq!(cut.name_before("lib/a.txt", at), "lib/a.txt");
        assert!(matches!(
            cut.extend_to(&repo, tip.id(), None),
            Ok(Extended::Done(2))
        ));
        assert_eq!(bytes(&cut), bytes(&whole));
    }
}

//! Growing the index: the walk over commits not indexed yet (with renames as git detects
//! them), and the commits the miner pushes as it goes.

use std::collections::HashSet;
use std::io::IsTerminal;

use git2::{Delta, DiffOptions, Oid, Repository, Sort};

use crate::features::git_path;
use crate::mining::diff::diff_with_renames;
use crate::mining::{CommitPaths, MergeFiles, RenameSource};

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
        // Renames as git detects them (what `mine` and `git log --numstat` see), asked once.
        let hide: Vec<Oid> = self
            .frontier()
            .into_iter()
            .filter(|&o| repo.find_commit(o).is_ok())
            .collect();
        // Why git gave no renames, said once libgit2's have served: when the walk fails
        // instead (a tree git refused, say), its error says what went wrong.
        let mut git_refused = None;
        let git_renames = if new.is_empty() {
            None
        } else {
            match crate::mining::renames::of_history(repo.path(), &[tip], &hide, deadline) {
                Ok(by_commit) => Some(by_commit),
                Err(crate::mining::renames::RenameError::TimedOut) => {
                    return Ok(Extended::Stopped(0))
                }
                Err(e) => {
                    git_refused = Some(e);
                    None
                }
            }
        };
        let progress = progress_bar(new.len());
        let mut objects = crate::mining::ObjectCache::reading_packs(repo);
        let identities = self.identities();
        for (n, oid) in new.iter().enumerate() {
            if n % 64 == 0 && deadline.is_some_and(|d| std::time::Instant::now() >= d) {
                if let Some(bar) = progress {
                    bar.finish_and_clear();
                }
                self.dirty |= n > 0;
                return Ok(Extended::Stopped(n));
            }
            let commit = match repo.find_commit(*oid) {
                Ok(commit) => commit,
                // Left out: its children find no indexed parent, as at a shallow cut.
                Err(_) if crate::mining::holds(repo, *oid) => continue,
                Err(e) => return Err(e),
            };
            self.add_commit(
                repo,
                &commit,
                &mut objects,
                git_renames.as_ref(),
                &identities,
                deadline,
            )?;
            if let Some(bar) = &progress {
                if n % 256 == 0 {
                    bar.set_position(n as u64);
                }
            }
        }
        if let Some(bar) = progress {
            bar.finish_and_clear();
        }
        if let Some(e) = git_refused {
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
        objects: &mut crate::mining::ObjectCache,
        git_renames: Option<&crate::mining::renames::HistoryRenames>,
        identities: &Identities,
        deadline: Option<std::time::Instant>,
    ) -> Result<(), git2::Error> {
        let parents = self.indexed_parents(commit.parent_ids());
        let merge = commit.parent_count() > 1;
        let author = self.intern_author(identities.key(&commit.author()));
        let mut touched = Vec::new();
        let mut renames = Vec::new();
        let mut resolved = Vec::new();
        let mut unlike_first_parent = None;
        if merge {
            let trees: Option<Vec<Oid>> = commit
                .parent_ids()
                .map(|p| repo.find_commit(p).ok().map(|c| c.tree_id()))
                .collect();
            // A parent outside a shallow clone: what the merge resolved cannot be told.
            if let Some(trees) = trees {
                let files = crate::mining::merge_files(repo, objects, commit, &trees, deadline)?;
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
            let source = match git_renames.and_then(|r| r.of(commit.id())) {
                Some(pairs) => RenameSource::Git(pairs),
                None => RenameSource::Libgit2,
            };
            let paths =
                match crate::mining::commit_paths(repo, objects, parent, commit.tree_id(), source)?
                {
                    Some(paths) => paths,
                    None => paths_by_libgit2(repo, parent, commit.tree_id())?,
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
        Ok(())
    }
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
    let diff = diff_with_renames(repo, parent.as_ref(), &repo.find_tree(tree)?, &mut opts)?;
    let mut paths = CommitPaths::default();
    for delta in diff.deltas() {
        let new_path = delta.new_file().path_bytes().map(git_path::from_bytes);
        let old_path = delta.old_file().path_bytes().map(git_path::from_bytes);
        match delta.status() {
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
}

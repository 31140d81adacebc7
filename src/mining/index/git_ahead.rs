//! git's renames for the index walk, asked ahead of it: git diffs the walk's commits, and each
//! merge against the parents that lack one of its files, while the walk reads the next
//! commits. A merge's answer is put into the index when it comes.

use std::collections::{BTreeMap, VecDeque};

use git2::{Oid, Repository};

use crate::mining::renames::{RenameError, RenamesAhead, TreeRenames, MAX_UNREAD_COMMITS};
use crate::mining::tree_diff::{keep_renames_into, merge_renames_by_libgit2, renames_by_libgit2};
use crate::mining::MERGE_GITS;

use super::HistoryIndex;

/// git's renames for the walk, asked as it reaches each commit that could hold one, or why git
/// gave none (libgit2's detection then serves).
pub(super) struct CommitRenamesAhead {
    ahead: Option<RenamesAhead>,
    /// Why git gave no renames, said once libgit2's have served.
    pub(super) refused: Option<RenameError>,
}

impl CommitRenamesAhead {
    pub(super) fn start(repo: &Repository, walk: &[Oid]) -> CommitRenamesAhead {
        if walk.is_empty() {
            return CommitRenamesAhead {
                ahead: None,
                refused: None,
            };
        }
        match RenamesAhead::start(repo.path(), walk.to_vec()) {
            Ok(ahead) => CommitRenamesAhead {
                ahead: Some(ahead),
                refused: None,
            },
            Err(e) => CommitRenamesAhead {
                ahead: None,
                refused: Some(e),
            },
        }
    }

    /// git's pairs for `commit`; None when git cannot give them.
    pub(super) fn of(
        &mut self,
        commit: Oid,
        deadline: Option<std::time::Instant>,
    ) -> Result<Option<Vec<(String, String)>>, PastDeadline> {
        let Some(ahead) = self.ahead.as_mut() else {
            return Ok(None);
        };
        match ahead.of(commit, deadline) {
            Ok(pairs) => Ok(pairs),
            Err(RenameError::TimedOut) => Err(PastDeadline),
            Err(e) => {
                // Why is said once libgit2's detection has served the rest of the walk.
                self.ahead = None;
                self.refused = Some(e);
                Ok(None)
            }
        }
    }
}

/// Most diffs asked of one git ahead of its answers (each request is under 200 bytes, so git's
/// input pipe never fills).
const MAX_ASKED: usize = 64;

/// The deadline passed while waiting for git.
pub(super) struct PastDeadline;

/// One diff asked of git: merge `commit` (its index) against the parent whose tree is `parent`.
struct Asked {
    commit: u32,
    merge: Oid,
    parent: Oid,
    tree: Oid,
    lacking: Vec<String>,
}

/// One git and the diffs asked of it, oldest first (it answers in that order).
#[derive(Default)]
struct Git {
    git: Option<TreeRenames>,
    asked: VecDeque<Asked>,
}

/// The renames of the walk's merges, from [`MERGE_GITS`] `git diff-tree`s asked without waiting
/// (libgit2's where git cannot serve).
pub(super) struct MergeRenamesAhead {
    gits: [Git; MERGE_GITS],
    /// Merges with diffs outstanding: index → (diffs left, renames found so far).
    waiting: BTreeMap<u32, (usize, Vec<(String, String)>)>,
    /// Times git failed (then that merge's renames are libgit2's, as for commits git cannot
    /// read); past [`MAX_UNREAD_COMMITS`] libgit2 serves the rest of the walk.
    failed: usize,
    /// In a partial clone git would stop at each version the clone lacks: libgit2 throughout.
    partial_clone: bool,
}

impl MergeRenamesAhead {
    /// For a walk whose commits' renames `commits` finds: a partial clone it was refused for is
    /// one for the merges too.
    pub(super) fn new(commits: &CommitRenamesAhead) -> MergeRenamesAhead {
        MergeRenamesAhead {
            gits: Default::default(),
            waiting: BTreeMap::new(),
            failed: 0,
            partial_clone: matches!(commits.refused, Some(RenameError::PartialClone)),
        }
    }

    /// The renames into the paths each parent (by tree) lacks, found now by libgit2 when git
    /// is not to be asked; None when they are to be asked of git ([`MergeRenamesAhead::ask`]).
    pub(super) fn found_now(
        &self,
        repo: &Repository,
        tree: Oid,
        lacking: &[(Oid, Vec<String>)],
    ) -> Result<Option<Vec<(String, String)>>, git2::Error> {
        if !lacking.is_empty() && !self.partial_clone && self.failed < MAX_UNREAD_COMMITS {
            return Ok(None);
        }
        merge_renames_by_libgit2(repo, tree, lacking).map(Some)
    }

    /// Ask git for the renames of merge `commit` (already indexed, as `merge` with `tree`)
    /// from each parent in `lacking`, then take in the answers git has given, waiting for the
    /// oldest of a git while too many are outstanding there.
    pub(super) fn ask(
        &mut self,
        index: &mut HistoryIndex,
        repo: &Repository,
        commit: u32,
        (merge, tree): (Oid, Oid),
        lacking: Vec<(Oid, Vec<String>)>,
        deadline: Option<std::time::Instant>,
    ) -> Result<(), PastDeadline> {
        self.waiting.insert(commit, (lacking.len(), Vec::new()));
        for (parent, paths) in lacking {
            let asked = Asked {
                commit,
                merge,
                parent,
                tree,
                lacking: paths,
            };
            self.send(index, repo, asked);
        }
        for n in 0..MERGE_GITS {
            while let Some(answer) = self.gits[n]
                .git
                .as_mut()
                .and_then(TreeRenames::answer_ready)
            {
                self.take(index, repo, n, answer);
            }
            while self.gits[n].asked.len() > MAX_ASKED {
                self.wait_for_oldest(index, repo, n, deadline)?;
            }
        }
        Ok(())
    }

    /// Wait for every answer; past `deadline`, the index of the oldest merge still waiting.
    pub(super) fn finish(
        &mut self,
        index: &mut HistoryIndex,
        repo: &Repository,
        deadline: Option<std::time::Instant>,
    ) -> Result<(), PastDeadline> {
        // A git that fails hands what it was asked to the others: look again until all are done.
        while let Some(n) = (0..MERGE_GITS).find(|&n| !self.gits[n].asked.is_empty()) {
            self.wait_for_oldest(index, repo, n, deadline)?;
        }
        Ok(())
    }

    /// The oldest merge still waiting for its renames: the walk is whole before it.
    pub(super) fn oldest_waiting(&self) -> Option<u32> {
        self.waiting.keys().next().copied()
    }

    fn wait_for_oldest(
        &mut self,
        index: &mut HistoryIndex,
        repo: &Repository,
        n: usize,
        deadline: Option<std::time::Instant>,
    ) -> Result<(), PastDeadline> {
        let answer = match self.gits[n].git.as_mut() {
            Some(git) => git.answer(deadline),
            None => Err(RenameError::Failed("git diff-tree has ended".into())),
        };
        if matches!(answer, Err(RenameError::TimedOut)) {
            self.gits[n].git = None;
            return Err(PastDeadline);
        }
        self.take(index, repo, n, answer);
        Ok(())
    }

    /// Send `asked` to the git with the fewest diffs outstanding, started if none runs there;
    /// if git cannot be asked, found by libgit2.
    fn send(&mut self, index: &mut HistoryIndex, repo: &Repository, asked: Asked) {
        if self.failed >= MAX_UNREAD_COMMITS {
            return self.by_libgit2(index, repo, asked);
        }
        let n = (0..MERGE_GITS)
            .min_by_key(|&n| self.gits[n].asked.len())
            .unwrap_or(0);
        let slot = &mut self.gits[n];
        let git = match slot.git.as_mut() {
            Some(git) => Ok(git),
            None => TreeRenames::start(repo.path()).map(|git| slot.git.insert(git)),
        };
        let sent = git.and_then(|git| git.ask(asked.parent, asked.tree, asked.merge));
        slot.asked.push_back(asked);
        if let Err(e) = sent {
            self.take(index, repo, n, Err(e));
        }
    }

    /// Git `n`'s answer to the oldest diff asked of it. When git failed instead, that diff is
    /// made by libgit2 and the others asked of it are sent again.
    fn take(
        &mut self,
        index: &mut HistoryIndex,
        repo: &Repository,
        n: usize,
        answer: Result<Vec<(String, String)>, RenameError>,
    ) {
        let Some(asked) = self.gits[n].asked.pop_front() else {
            return;
        };
        match answer {
            Ok(found) => self.found(index, &asked, found),
            Err(e) => {
                tracing::debug!(error = %e, "a merge's renames from libgit2's detection instead of git's");
                self.gits[n].git = None;
                self.failed += 1;
                self.by_libgit2(index, repo, asked);
                for again in std::mem::take(&mut self.gits[n].asked) {
                    self.send(index, repo, again);
                }
            }
        }
    }

    fn by_libgit2(&mut self, index: &mut HistoryIndex, repo: &Repository, asked: Asked) {
        // A tree libgit2 cannot read either gives no renames: the walk has read both already.
        let found = renames_by_libgit2(repo, asked.parent, asked.tree).unwrap_or_default();
        self.found(index, &asked, found);
    }

    fn found(&mut self, index: &mut HistoryIndex, asked: &Asked, found: Vec<(String, String)>) {
        let Some((left, renames)) = self.waiting.get_mut(&asked.commit) else {
            return;
        };
        renames.extend(keep_renames_into(found, &asked.lacking));
        *left -= 1;
        if *left == 0 {
            let (_, mut renames) = self.waiting.remove(&asked.commit).unwrap_or_default();
            renames.sort_unstable();
            renames.dedup();
            index.set_merge_renames(asked.commit, renames);
        }
    }
}

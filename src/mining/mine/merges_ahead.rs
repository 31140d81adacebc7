//! The files of the walk's merges, worked out on threads of their own ahead of the pass.
//!
//! A merge's renames come from `git diff-tree` against each parent that lacks one of its
//! files. Between long-lived branches (a release line merged into the next) that diff spans
//! thousands of files, and git takes up to half a second on one. Asked in the pass, the pass
//! waited for each answer; here git diffs while the pass mines the commits before the merge.
//! [`MERGE_GITS`] threads take the merges in turn, each with a git of its own.

use std::sync::mpsc::{channel, Receiver};
use std::sync::{Arc, Condvar, Mutex};

use git2::{Oid, Repository};

use crate::mining::{merge_files, MergeFiles, ObjectCache, MERGE_GITS};

/// How many paths the merges one thread worked out ahead may hold before it waits for the
/// pass: a few hundred ordinary merges, or one that differs from its first parent in every
/// file of a large tree; tens of megabytes at most.
const MOST_PATHS_AHEAD: usize = 500_000;

/// A merge's files as [`merge_files`] gives them; None when the repository lacks a parent
/// (a shallow clone's boundary), where the pass reads no files of the merge.
type Worked = Result<Option<MergeFiles>, git2::Error>;

/// The merges of a walk in its order, each with its files, from threads started on the walk.
pub(super) struct MergesAhead {
    threads: Vec<Ahead>,
    /// The thread that works out the next merge the pass takes.
    turn: usize,
}

/// What one thread has sent.
struct Ahead {
    worked: Option<Receiver<(Oid, Worked)>>,
    /// The next merge the thread has sent, not yet taken by the pass.
    next: Option<(Oid, Worked)>,
    room: Arc<Room>,
}

/// Paths sent ahead and not yet taken, and whether the pass has stopped taking them.
#[derive(Default)]
struct Room {
    state: Mutex<(usize, bool)>,
    changed: Condvar,
}

impl Room {
    /// Wait until `paths` more fit (or nothing is ahead), then count them; false once the pass
    /// has stopped.
    fn take_up(&self, paths: usize) -> bool {
        let Ok(mut state) = self.state.lock() else {
            return false;
        };
        while state.0 > 0 && state.0 + paths > MOST_PATHS_AHEAD && !state.1 {
            state = match self.changed.wait(state) {
                Ok(state) => state,
                Err(_) => return false,
            };
        }
        state.0 += paths;
        !state.1
    }

    fn free(&self, paths: usize) {
        if let Ok(mut state) = self.state.lock() {
            state.0 = state.0.saturating_sub(paths);
        }
        self.changed.notify_one();
    }

    fn stop(&self) {
        if let Ok(mut state) = self.state.lock() {
            state.1 = true;
        }
        self.changed.notify_one();
    }
}

/// The paths a merge's files hold, counted against [`MOST_PATHS_AHEAD`] (an error or a merge
/// with none counts one).
fn paths_in(worked: &Worked) -> usize {
    let files = worked.as_ref().ok().and_then(Option::as_ref);
    1 + files.map_or(0, |f| {
        f.resolved.len() + f.unlike_first_parent.len() + f.renames.len()
    })
}

impl MergesAhead {
    /// Start working out the files of `merges` (merges of the repository at `git_dir`, in
    /// the order the pass visits them). Without threads, the pass works out each merge itself.
    pub(super) fn start(git_dir: &std::path::Path, merges: Vec<Oid>) -> MergesAhead {
        let merges = Arc::new(merges);
        let threads = (0..MERGE_GITS)
            .map(|nth| Ahead::start(git_dir, Arc::clone(&merges), nth))
            .collect();
        MergesAhead { threads, turn: 0 }
    }

    /// The files of merge `merge`, as worked out ahead; None when no thread has worked it
    /// out (it could not read the merge, or it has ended), and the pass then does.
    pub(super) fn take(&mut self, merge: Oid) -> Option<Worked> {
        let ahead = self.threads.get_mut(self.turn)?;
        if ahead.next.is_none() {
            ahead.next = ahead.worked.as_ref()?.recv().ok();
        }
        // Each thread sends its merges in the pass's order; a merge asked out of turn (not
        // the next of the walk's merges) gets nothing, and what was sent waits for its own.
        if ahead.next.as_ref()?.0 != merge {
            return None;
        }
        let (_, files) = ahead.next.take()?;
        ahead.room.free(paths_in(&files));
        self.turn = (self.turn + 1) % self.threads.len();
        Some(files)
    }
}

impl Ahead {
    /// A thread working out the `nth` of every [`MERGE_GITS`] of `merges`.
    fn start(git_dir: &std::path::Path, merges: Arc<Vec<Oid>>, nth: usize) -> Ahead {
        let (send, worked) = channel();
        let room = Arc::new(Room::default());
        let thread_room = Arc::clone(&room);
        let git_dir = git_dir.to_path_buf();
        let started = std::thread::Builder::new()
            .name(format!("riskgate-merges-{nth}"))
            .spawn(move || {
                let Ok(repo) = Repository::open_bare(&git_dir) else {
                    return;
                };
                // Merges read few trees beside the pass's own: its caches hold the rest.
                let mut objects = ObjectCache::reading_packs(&repo).with_smaller_caches(16 << 20);
                for &oid in merges.iter().skip(nth).step_by(MERGE_GITS) {
                    // The plan has read every merge; one unread here ends the thread, whose
                    // turns the pass then works out itself.
                    let Ok(commit) = repo.find_commit(oid) else {
                        return;
                    };
                    let files = files_of(&repo, &mut objects, &commit);
                    // The pass has stopped (an error ended it): nothing more is wanted.
                    if !thread_room.take_up(paths_in(&files)) || send.send((oid, files)).is_err() {
                        return;
                    }
                }
            });
        Ahead {
            worked: started.ok().map(|_| worked),
            next: None,
            room,
        }
    }
}

impl Drop for MergesAhead {
    fn drop(&mut self) {
        for ahead in &self.threads {
            ahead.room.stop();
        }
    }
}

/// The files of `merge`, as the pass reads them: only when the repository has every parent.
pub(super) fn files_of(
    repo: &Repository,
    objects: &mut ObjectCache,
    merge: &git2::Commit<'_>,
) -> Worked {
    let mut trees = Vec::with_capacity(merge.parent_count());
    for p in merge.parent_ids() {
        match repo.find_commit(p) {
            Ok(parent) => trees.push(parent.tree_id()),
            Err(_) => return Ok(None),
        }
    }
    merge_files(repo, objects, merge, &trees, None).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Merges worked out ahead, one of them resolving a file that a parent has under another
    /// name, are what the pass would work out itself, in the pass's order; a commit asked out
    /// of turn gets nothing and takes nothing from the ones after it.
    #[test]
    fn merges_ahead_are_the_pass_s_own() {
        let dir = crate::mining::test_repo::TestRepo::new();
        let body = dir.import();
        for round in 0..3 {
            dir.git(&["checkout", "-qb", &format!("side{round}")]);
            dir.write(&format!("side{round}.txt"), "side\n");
            dir.git(&["add", "."]);
            dir.git(&["commit", "-qm", "side"]);
            dir.git(&["checkout", "-q", "main"]);
            dir.write("b.txt", &format!("b {round}\n"));
            dir.git(&["commit", "-qam", "main"]);
            dir.git(&["merge", "-q", "--no-edit", &format!("side{round}")]);
        }
        dir.merge_a_move_of_a_grown_file("move", ("a.txt", "lib-a.txt"), &body);

        let repo = Repository::open(dir.path()).unwrap();
        let mut walk = repo.revwalk().unwrap();
        walk.push_head().unwrap();
        walk.set_sorting(git2::Sort::TOPOLOGICAL | git2::Sort::REVERSE)
            .unwrap();
        let order: Vec<Oid> = walk.map(Result::unwrap).collect();
        let merges: Vec<Oid> = order
            .iter()
            .copied()
            .filter(|&c| repo.find_commit(c).unwrap().parent_count() > 1)
            .collect();
        assert_eq!(merges.len(), 4);

        let root = order[0];
        let mut ahead = MergesAhead::start(repo.path(), merges.clone());
        let mut objects = ObjectCache::reading_packs(&repo);
        for (n, &merge) in merges.iter().enumerate() {
            // Asked of a commit that is not the next merge: none, and the next is kept.
            assert!(ahead.take(root).is_none());
            let commit = repo.find_commit(merge).unwrap();
            let own = files_of(&repo, &mut objects, &commit).unwrap();
            let worked = ahead.take(merge).expect("worked out ahead").unwrap();
            assert_eq!(format!("{worked:?}"), format!("{own:?}"), "merge {n}");
            let worked = worked.expect("every parent is there");
            if n == 3 {
                // a.txt grew on main and moved on the other side: resolved, and found there.
                assert_eq!(worked.resolved.len(), 1);
                let moved = ("a.txt".to_string(), "lib-a.txt".to_string());
                assert_eq!(worked.renames, [moved]);
            }
        }
        assert!(ahead.take(merges[0]).is_none(), "every merge taken once");
    }

    /// The thread waits while what it sent fills the room, and the pass stopping wakes it.
    #[test]
    fn a_full_room_waits_until_the_pass_takes_or_stops() {
        let room = Arc::new(Room::default());
        assert!(
            room.take_up(MOST_PATHS_AHEAD + 5),
            "nothing ahead: one merge always fits"
        );
        let waiting = {
            let room = Arc::clone(&room);
            std::thread::spawn(move || room.take_up(1))
        };
        room.free(MOST_PATHS_AHEAD + 5);
        assert!(waiting.join().unwrap(), "room freed");
        assert!(room.take_up(MOST_PATHS_AHEAD - 1));
        let stopped = {
            let room = Arc::clone(&room);
            std::thread::spawn(move || room.take_up(10))
        };
        room.stop();
        assert!(!stopped.join().unwrap(), "the pass stopped");
    }
}

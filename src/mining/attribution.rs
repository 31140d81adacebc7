//! Who last wrote each line of the touched files at base (`author_blame_share`), replayed
//! along each file's own history, on up to two threads, reusing stored owners where it can.

use git2::{Oid, Repository};

use super::ignored_revisions::IgnoredRevisions;
use super::index::{self, HistoryIndex};
use super::{owner_store, owners, LineDiffs, MiningError, ObjectCache, ATTRIBUTION_BUDGET};
use crate::features::{BlameTally, FileChange};

/// Who last wrote each line of the touched files at base ([`owners`]), replayed along each
/// file's own history from the index, so it costs the history of the touched files, never a
/// walk of the whole repository as `git blame` does. At most [`ATTRIBUTION_BUDGET`] history
/// steps are replayed; files past it are left out (and the tally says how many were used).
/// A change whose files have a long history between them is replayed on two threads, each
/// reading the repository through its own handle; every file's answer is its own, so the
/// split changes nothing but the time.
#[allow(clippy::too_many_arguments)]
pub(super) fn attribute_lines(
    repo: &Repository,
    index: &HistoryIndex,
    objects: &mut ObjectCache,
    files: &[FileChange],
    history: &index::ReachableFrom<'_>,
    steps: &[Vec<(u32, u32)>],
    base_tree: Oid,
    author: Option<u32>,
    ignored: &IgnoredRevisions,
    deadline: Option<std::time::Instant>,
) -> Result<BlameTally, MiningError> {
    let mut tally = BlameTally::default();
    // Biggest edits first: their files matter most when the budget runs out.
    let mut order: Vec<usize> = (0..files.len()).filter(|&i| files[i].text_before).collect();
    tally.files_existing = order.len() as u32;
    order.sort_by_key(|&i| std::cmp::Reverse(files[i].added + files[i].deleted));
    let mut budget = ATTRIBUTION_BUDGET;
    let mut jobs = Vec::new();
    for i in order {
        // The budget counts the whole history, whatever is stored: the same files are
        // attributed on a cold store as on a warm one.
        if steps[i].len() + 1 > budget {
            continue;
        }
        let base_blob = objects
            .entry_at(repo, base_tree, files[i].base_path())
            .and_then(|id| Some((id, objects.blob(repo, id)?)));
        let Some((base_id, base_blob)) = base_blob else {
            tally.files_unreadable += 1;
            continue;
        };
        budget -= steps[i].len() + 1;
        jobs.push(AttributionJob {
            steps: &steps[i],
            base_id,
            lines: base_blob.lines,
        });
    }
    let store = owner_store::OwnerStore::beside(index);
    let work = AttributionWork {
        index,
        store: store.as_ref(),
        author,
        ignored,
        deadline,
    };
    let (ours, theirs) = split_for_two_threads(jobs);
    let reads_packs = objects.packs.is_some();
    let (ours_done, theirs_done) = std::thread::scope(|scope| {
        let theirs_done = (!theirs.is_empty()).then(|| {
            let history = history.fork();
            let work = &work;
            let theirs = &theirs;
            let git_dir = repo.path().to_path_buf();
            let attributes = objects.committed_attributes.clone();
            scope.spawn(move || {
                // libgit2's blob diffs read the handle's attributes: both handles read the same.
                let repo = match &attributes {
                    Some(attributes) => attributes.reading(&git_dir)?,
                    None => Repository::open(&git_dir)?,
                };
                let mut objects = if reads_packs {
                    ObjectCache::reading_packs(&repo)
                } else {
                    ObjectCache::new(&repo)
                };
                work.run(&repo, &mut objects, &history, theirs)
            })
        });
        let ours_done = work.run(repo, objects, history, &ours);
        let theirs_done = theirs_done.map(|handle| {
            handle
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        });
        (ours_done, theirs_done)
    });
    let mut cost = owners::ReplayCost::default();
    for done in std::iter::once(ours_done).chain(theirs_done) {
        let (done, spent) = done?;
        tally.author_lines += done.author_lines;
        tally.total_lines += done.lines;
        tally.files_attributed += done.files;
        tally.files_unreadable += done.unreadable;
        cost.steps += spent.steps;
        cost.diffs += spent.diffs;
    }
    tracing::debug!(
        steps = cost.steps,
        diffs = cost.diffs,
        threads = 1 + usize::from(!theirs.is_empty()),
        "line owners replayed"
    );
    Ok(tally)
}

/// One touched file whose lines at base are to be attributed.
struct AttributionJob<'s> {
    steps: &'s [(u32, u32)],
    base_id: Oid,
    lines: u64,
}

/// Fewer history steps than this in a whole change are replayed on one thread: a second
/// repository handle and pack index cost more than they would save.
const STEPS_WORTH_A_THREAD: usize = 64;

/// The jobs split in two of about equal history, longest first, the second empty when a
/// second thread would not pay.
fn split_for_two_threads(
    mut jobs: Vec<AttributionJob<'_>>,
) -> (Vec<AttributionJob<'_>>, Vec<AttributionJob<'_>>) {
    let total: usize = jobs.iter().map(|j| j.steps.len()).sum();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    if jobs.len() < 2 || total < STEPS_WORTH_A_THREAD || cores < 2 {
        return (jobs, Vec::new());
    }
    jobs.sort_by_key(|j| std::cmp::Reverse(j.steps.len()));
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    let (mut our_steps, mut their_steps) = (0usize, 0usize);
    for job in jobs {
        if our_steps <= their_steps {
            our_steps += job.steps.len() + 1;
            ours.push(job);
        } else {
            their_steps += job.steps.len() + 1;
            theirs.push(job);
        }
    }
    (ours, theirs)
}

/// What every attribution thread shares: the index, the owner store, whose lines to count,
/// the commits blame looks past and the deadline.
struct AttributionWork<'a> {
    index: &'a HistoryIndex,
    store: Option<&'a owner_store::OwnerStore>,
    author: Option<u32>,
    ignored: &'a IgnoredRevisions,
    deadline: Option<std::time::Instant>,
}

/// What one thread's replays found.
#[derive(Debug, Default)]
struct JobsDone {
    /// Lines the author owns, and all lines, of the files attributed.
    author_lines: u64,
    lines: u64,
    files: u32,
    /// Files left out because a version in their history is not in the repository.
    unreadable: u32,
}

impl AttributionWork<'_> {
    /// Replays `jobs` on this thread: what they found, and the cost.
    fn run(
        &self,
        repo: &Repository,
        objects: &mut ObjectCache,
        history: &index::ReachableFrom<'_>,
        jobs: &[AttributionJob<'_>],
    ) -> Result<(JobsDone, owners::ReplayCost), MiningError> {
        let mut line_diffs = LineDiffs::new(repo);
        let mut cost = owners::ReplayCost::default();
        let mut done = JobsDone::default();
        for job in jobs {
            if crate::mining::past(self.deadline) {
                return Err(MiningError::TimedOut);
            }
            let replayed = replay_from_store(
                repo,
                self.index,
                objects,
                &mut line_diffs,
                history,
                job.steps,
                job.base_id,
                self.store,
                &mut cost,
                self.ignored,
                self.deadline,
            )?;
            if replayed.lacked {
                done.unreadable += 1;
                continue;
            }
            done.files += 1;
            done.lines += job.lines;
            if let (Some(a), Some((_, owners))) = (self.author, replayed.target) {
                done.author_lines += owners
                    .iter()
                    .filter(|&&o| o != owners::NOBODY && self.index.commit(o).author == a)
                    .count() as u64;
            }
        }
        Ok((done, cost))
    }
}

/// [`owners::replay_owners`] of `steps`, from the longest first steps `store` holds the end
/// of (so only what the file's history gained since is replayed), else from the start; what
/// it ends with is stored for the next change.
#[allow(clippy::too_many_arguments)]
fn replay_from_store(
    repo: &Repository,
    index: &HistoryIndex,
    objects: &mut ObjectCache,
    line_diffs: &mut LineDiffs<'_>,
    history: &index::ReachableFrom<'_>,
    steps: &[(u32, u32)],
    target: Oid,
    store: Option<&owner_store::OwnerStore>,
    cost: &mut owners::ReplayCost,
    ignored: &IgnoredRevisions,
    deadline: Option<std::time::Instant>,
) -> Result<owners::Replayed, MiningError> {
    let keys = match store {
        Some(_) if !steps.is_empty() => {
            owner_store::OwnerStore::prefix_keys(index, steps, line_diffs.kind(), ignored)
        }
        _ => Vec::new(),
    };
    // The last score saw these steps but the latest few, in the usual case; a file changed
    // more often since is replayed from the start.
    let seeded = store.and_then(|store| {
        (0..keys.len())
            .rev()
            .take(owner_store::MAX_PROBES)
            .find_map(|k| store.load(&keys[k], index).map(|seed| (k, seed)))
    });
    let mut from = 0;
    let mut replayed = None;
    if let Some((k, seed)) = seeded {
        replayed = owners::replay_owners(
            repo,
            index,
            objects,
            line_diffs,
            history,
            &steps[k + 1..],
            target,
            Some(&seed),
            cost,
            ignored,
            deadline,
        )?;
        from = k + 1;
    }
    let replayed = match replayed {
        Some(r) => r,
        None => {
            from = 0;
            owners::replay_owners(
                repo, index, objects, line_diffs, history, steps, target, None, cost, ignored,
                deadline,
            )?
            .expect("a replay from the start needs no seed")
        }
    };
    if let (Some(store), Some(last)) = (store, keys.last()) {
        if from < steps.len() && steps.len() >= owner_store::MIN_STEPS_STORED && !replayed.lacked {
            store.save(last, &replayed, index);
        }
    }
    Ok(replayed)
}

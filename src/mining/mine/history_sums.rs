//! Running sums of each file's earlier commits, and of the files changed together, kept as the
//! pass goes: a file changed by every commit (a bot's status or version file, or the two files
//! of a release bump) would otherwise have its whole history listed again for each change to
//! it, and the walk would take time in the square of its commits.

use std::collections::HashMap;

use crate::features::HistorySum;
use crate::mining::ancestry::Ancestry;
use crate::mining::index::HistoryIndex;

/// Past this many commits of a file none of which is an ancestor of another (branches that
/// each changed it and were never merged), its sum is given up and its history listed.
const MOST_TIPS: usize = 32;

/// Commits counted so far: how many, by whom, the latest author time.
#[derive(Default)]
struct Tally {
    commits: u64,
    commits_by_author: HashMap<u32, u64>,
    last_time: i64,
}

impl Tally {
    fn add(&mut self, index: &HistoryIndex, c: u32) {
        let commit = index.commit(c);
        *self.commits_by_author.entry(commit.author).or_default() += 1;
        self.last_time = if self.commits == 0 {
            commit.time
        } else {
            self.last_time.max(commit.time)
        };
        self.commits += 1;
    }

    /// The sum as a change by `author` reads it.
    fn seen_by(&self, author: Option<u32>) -> HistorySum {
        HistorySum {
            commits: self.commits,
            authors: self.commits_by_author.len() as u64,
            author_commits: author
                .and_then(|a| self.commits_by_author.get(&a))
                .copied()
                .unwrap_or(0),
            last_time: self.last_time,
        }
    }
}

/// The sum of one name's commits taken so far.
#[derive(Default)]
struct RunningSum {
    /// How many of the name's commits (in index order) are in the sum.
    taken: usize,
    /// The commits taken that are no ancestor of another taken: every commit taken is one of
    /// them or an ancestor of one.
    tips: Vec<u32>,
    given_up: bool,
    tally: Tally,
}

/// The commits of several names taken together so far, each counted once however many of
/// the names it touched.
struct SharedSum {
    /// Parallel to the names: how many of each name's commits are in the sum.
    taken: Vec<usize>,
    tally: Tally,
}

/// Past this many sets of names summed together, the sums are dropped and begun again: the
/// sets that come back (a bot's files) are summed afresh once, the rest were each needed once.
const MOST_SHARED_SUMS: usize = 4096;

/// A set of more names than this is summed without being kept: a change to that many files
/// with history is rarely made twice, and each kept sum holds its names.
const MOST_NAMES_KEPT: usize = 64;

impl SharedSum {
    fn new(names: usize) -> SharedSum {
        SharedSum {
            taken: vec![0; names],
            tally: Tally::default(),
        }
    }
}

#[derive(Default)]
pub(super) struct HistorySums {
    by_name: HashMap<u32, RunningSum>,
    /// Keyed by the names, sorted.
    by_names: HashMap<Vec<u32>, SharedSum>,
}

impl HistorySums {
    /// The sum of the commits that touched a file under name `p` when every one of them is
    /// history of commit `at`, as for a file that only one line of history changed; None when
    /// some are not (a branch not merged into `at`), and the history must be listed.
    pub(super) fn seen_from(
        &mut self,
        index: &HistoryIndex,
        chains: &Ancestry,
        p: u32,
        at: u32,
        author: Option<u32>,
    ) -> Option<HistorySum> {
        let sum = self.by_name.entry(p).or_default();
        let touches = index.touches_under(p);
        for &c in &touches[sum.taken.min(touches.len())..] {
            sum.taken += 1;
            if sum.given_up {
                continue;
            }
            sum.tips.retain(|&tip| !chains.is_ancestor(tip, c));
            sum.tips.push(c);
            if sum.tips.len() > MOST_TIPS {
                sum.given_up = true;
                sum.tips = Vec::new();
                sum.tally = Tally::default();
                continue;
            }
            sum.tally.add(index, c);
        }
        if sum.given_up || !sum.tips.iter().all(|&tip| chains.is_ancestor(tip, at)) {
            return None;
        }
        Some(sum.tally.seen_by(author))
    }

    /// The commits of the names `names` taken together, each counted once, for a change by
    /// `author`. Only for names whose every commit [`Self::seen_from`] found to be history of
    /// the change: the sum takes all of them.
    pub(super) fn together(
        &mut self,
        index: &HistoryIndex,
        names: &[u32],
        author: Option<u32>,
    ) -> HistorySum {
        let mut key = names.to_vec();
        key.sort_unstable();
        key.dedup();
        let mut unkept;
        let sum = if key.len() > MOST_NAMES_KEPT {
            unkept = SharedSum::new(key.len());
            &mut unkept
        } else {
            if self.by_names.len() >= MOST_SHARED_SUMS && !self.by_names.contains_key(&key) {
                self.by_names.clear();
            }
            self.by_names
                .entry(key.clone())
                .or_insert_with(|| SharedSum::new(key.len()))
        };
        // A commit enters the index's lists of all the names it touched at once, so the
        // commits new to the sum since it was last taken are the same in every list: counting
        // each once needs only the new ones.
        let mut fresh: Vec<u32> = Vec::new();
        for (taken, &p) in sum.taken.iter_mut().zip(&key) {
            let touches = index.touches_under(p);
            fresh.extend_from_slice(&touches[(*taken).min(touches.len())..]);
            *taken = touches.len();
        }
        fresh.sort_unstable();
        fresh.dedup();
        for c in fresh {
            sum.tally.add(index, c);
        }
        sum.tally.seen_by(author)
    }
}

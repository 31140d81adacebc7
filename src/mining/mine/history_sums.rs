//! Running sums of each file's earlier commits, kept as the pass goes: a file changed by every
//! commit (a bot's status or version file) would otherwise have its whole history listed again
//! for each change to it, and the walk would take time in the square of its commits.

use std::collections::HashMap;

use crate::features::HistorySum;
use crate::mining::ancestry::Ancestry;
use crate::mining::index::HistoryIndex;

/// Past this many commits of a file none of which is an ancestor of another (branches that
/// each changed it and were never merged), its sum is given up and its history listed.
const MOST_TIPS: usize = 32;

/// The sum of one name's commits taken so far.
#[derive(Default)]
struct RunningSum {
    /// How many of the name's commits (in index order) are in the sum.
    taken: usize,
    /// The commits taken that are no ancestor of another taken: every commit taken is one of
    /// them or an ancestor of one.
    tips: Vec<u32>,
    given_up: bool,
    commits_by_author: HashMap<u32, u64>,
    last_time: i64,
}

#[derive(Default)]
pub(super) struct HistorySums {
    by_name: HashMap<u32, RunningSum>,
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
                sum.commits_by_author = HashMap::new();
                continue;
            }
            let commit = index.commit(c);
            *sum.commits_by_author.entry(commit.author).or_default() += 1;
            sum.last_time = if sum.taken == 1 {
                commit.time
            } else {
                sum.last_time.max(commit.time)
            };
        }
        if sum.given_up || !sum.tips.iter().all(|&tip| chains.is_ancestor(tip, at)) {
            return None;
        }
        Some(HistorySum {
            commits: sum.taken as u64,
            authors: sum.commits_by_author.len() as u64,
            author_commits: author
                .and_then(|a| sum.commits_by_author.get(&a))
                .copied()
                .unwrap_or(0),
            last_time: sum.last_time,
        })
    }
}

//! The order commits are mined in, and what the pass needs to know about it beforehand: each
//! commit's place, its number of children and whether it continues its first parent's line.

use std::collections::{BinaryHeap, HashMap, HashSet};
use std::io::IsTerminal;

use git2::{Oid, Repository};

use crate::mining::{MiningError, UnreadableCommits};

/// The commits reachable from HEAD in mining order, with what the pass reads about them.
pub(super) struct Plan {
    pub(super) order: Vec<Oid>,
    /// The merges among `order` (commits of more than one parent), in its order.
    pub(super) merges: Vec<Oid>,
    /// Each commit's place in `order`.
    pub(super) position: HashMap<Oid, u32>,
    /// Children per commit, to know when a parent's blobs are no longer needed by its children.
    pub(super) children: Vec<u32>,
    /// Whether each commit continues its first parent's line ([`first_parent_lines`]).
    pub(super) continues: Vec<bool>,
    /// Commits libgit2 could not parse: left out, each ending its line of history.
    pub(super) unreadable: UnreadableCommits,
}

impl Plan {
    pub(super) fn of(repo: &Repository, head: Oid) -> Result<Plan, MiningError> {
        let (order, unreadable) = commit_order(repo, head)?;
        let position: HashMap<Oid, u32> = order
            .iter()
            .enumerate()
            .map(|(i, o)| (*o, i as u32))
            .collect();
        let mut children = vec![0u32; order.len()];
        let mut parents_at: Vec<Vec<u32>> = Vec::with_capacity(order.len());
        let mut merges = Vec::new();
        for oid in &order {
            let commit = repo.find_commit(*oid)?;
            if commit.parent_count() > 1 {
                merges.push(*oid);
            }
            let ps: Vec<u32> = commit
                .parent_ids()
                .filter_map(|p| position.get(&p).copied())
                .collect();
            for &j in &ps {
                children[j as usize] += 1;
            }
            parents_at.push(ps);
        }
        let continues = first_parent_lines(&parents_at, position[&head]);
        Ok(Plan {
            order,
            merges,
            position,
            children,
            continues,
            unreadable,
        })
    }
}

/// Which commits (by position) continue their first parent's line: walking first parents from
/// HEAD, then from the other parents of the merges met, each walk stopping where it meets a
/// line already walked (where its branch forked). The ancestry's chains then follow branches.
fn first_parent_lines(parents: &[Vec<u32>], head: u32) -> Vec<bool> {
    let mut walked = vec![false; parents.len()];
    let mut continues = vec![false; parents.len()];
    let mut tips = vec![head];
    while let Some(tip) = tips.pop() {
        let mut at = tip;
        loop {
            if std::mem::replace(&mut walked[at as usize], true) {
                break;
            }
            let ps = &parents[at as usize];
            tips.extend(ps.iter().skip(1).copied());
            match ps.first() {
                Some(&p) if !walked[p as usize] => {
                    continues[at as usize] = true;
                    at = p;
                }
                _ => break,
            }
        }
    }
    continues
}

/// Commits reachable from HEAD, oldest first: parents before children, ties by author time.
/// The walk is our own, over the commits the repository has: a parent it lacks (a shallow
/// clone's cut, or a damaged repository) or one libgit2 cannot parse (noted) ends that line of
/// history instead of failing.
fn commit_order(
    repo: &Repository,
    head: Oid,
) -> Result<(Vec<Oid>, UnreadableCommits), MiningError> {
    let mut oids: Vec<Oid> = Vec::new();
    let mut seen: HashSet<Oid> = HashSet::new();
    let mut unreadable = UnreadableCommits::default();
    let mut stack = vec![head];
    while let Some(oid) = stack.pop() {
        if !seen.insert(oid) {
            continue;
        }
        let commit = match repo.find_commit(oid) {
            Ok(commit) => commit,
            Err(e) if oid == head => return Err(crate::mining::commit_error(repo, oid, e)),
            Err(e) => {
                unreadable.note(repo, oid, &e);
                continue;
            }
        };
        oids.push(oid);
        stack.extend(commit.parent_ids());
    }
    let at: HashMap<Oid, usize> = oids.iter().enumerate().map(|(i, o)| (*o, i)).collect();
    let mut times = Vec::with_capacity(oids.len());
    let mut pending = vec![0usize; oids.len()];
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); oids.len()];
    for (i, oid) in oids.iter().enumerate() {
        let c = repo.find_commit(*oid)?;
        times.push(c.author().when().seconds());
        let mut seen = HashSet::new();
        for p in c.parent_ids() {
            if let Some(&j) = at.get(&p) {
                if seen.insert(j) {
                    pending[i] += 1;
                    children[j].push(i);
                }
            }
        }
    }
    let mut ready: BinaryHeap<std::cmp::Reverse<(i64, usize)>> = (0..oids.len())
        .filter(|&i| pending[i] == 0)
        .map(|i| std::cmp::Reverse((times[i], i)))
        .collect();
    let mut order = Vec::with_capacity(oids.len());
    while let Some(std::cmp::Reverse((_, i))) = ready.pop() {
        order.push(oids[i]);
        for &c in &children[i] {
            pending[c] -= 1;
            if pending[c] == 0 {
                ready.push(std::cmp::Reverse((times[c], c)));
            }
        }
    }
    Ok((order, unreadable))
}

pub(super) fn progress_bar(len: usize, wanted: bool) -> Option<indicatif::ProgressBar> {
    if !wanted || !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::new(len as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "mining history {bar:40} {pos}/{len} commits ({eta})",
        )
        .expect("valid template"),
    );
    Some(bar)
}

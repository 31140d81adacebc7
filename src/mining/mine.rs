//! `riskgate mine`: one dataset row per non-merge commit, mined in one pass over history.
//!
//! Commits are visited oldest first (parents before children, ties by author time). Each is
//! taken as a change against its first parent, with history = the commits reachable from that
//! parent, exactly as `riskgate score --base C^ --head C` would see it. The state kept along
//! the way is bounded by files, authors and commits, never by lines of history:
//!
//! - an in-memory [`HistoryIndex`] (per path the commits that touched it, renames, authors);
//! - the ancestry of every commit ([`Ancestry`]: chains and what merges brought), so
//!   "is this earlier commit an ancestor of the parent?" is answered without a walk;
//! - per author their commits with time and subsystems (EXP, REXP, SEXP);
//! - line ownership: for each blob still present in some tree being extended, the commit
//!   that last wrote each of its lines, updated from every diff's hunks. It gives
//!   `author_blame_share` and the lines a fix removed (SZZ). A blob whose owners were
//!   dropped (or that a merge produced) is rebuilt by replaying its file's own history;
//! - the trees and blobs of the trees being extended ([`ObjectCache`]), dropped on the same
//!   rule as line owners, so each is read from the object store about once.

use std::collections::{BTreeMap, BinaryHeap, HashMap, HashSet};
use std::io::{IsTerminal, Write};
use std::rc::Rc;

use git2::{Oid, Repository};

use super::ancestry::Ancestry;
use super::index::{author_key, HistoryIndex, Lineage, NewCommit};
use super::owners::{self, apply_hunks, MergeParent, OwnerCache, ReplayCost, NOBODY};
use super::{
    diff_commit_cached, merge_resolved, renames, DiffedFile, LineDiffs, MiningError, ObjectCache,
    RenameSource, CONFIG_PATH,
};
use crate::config::RepoConfig;
use crate::features::catalogue;
use crate::features::sensitive::SensitivePaths;
use crate::features::{
    self, recency_weight, subsystem, whole_years, AuthorExperience, BlameTally, ChangeKind,
    Experience, FileKind, Signals, Snapshot,
};
use crate::labels::revert::RevertFinder;
use crate::labels::szz::{self, IssueDates, RemovedLine};
use crate::labels::{label_source, LabelKind, Provenance};

/// Columns of the dataset `mine` writes, in order ([`catalogue::dataset_columns`]).
pub static COLUMNS: std::sync::LazyLock<Vec<&'static str>> =
    std::sync::LazyLock::new(catalogue::dataset_columns);

/// What to mine.
#[derive(Debug, Clone)]
pub struct MineOptions {
    /// Label kinds to produce (at least one for a useful dataset).
    pub labels: Vec<LabelKind>,
    /// Issue creation dates for SZZ (empty offline: no candidate is dropped).
    pub issue_dates: IssueDates,
    /// Show a progress bar when stderr is a terminal.
    pub progress: bool,
}

impl Default for MineOptions {
    fn default() -> Self {
        MineOptions {
            labels: LabelKind::ALL.to_vec(),
            issue_dates: IssueDates::default(),
            progress: false,
        }
    }
}

/// One row of the dataset.
#[derive(Debug, Clone, PartialEq)]
pub struct MinedRow {
    pub commit_id: String,
    pub author_date: i64,
    pub signals: Signals,
    /// Why the row is labelled buggy (empty: clean), sorted.
    pub provenance: Vec<Provenance>,
}

impl MinedRow {
    pub fn buggy(&self) -> bool {
        !self.provenance.is_empty()
    }
}

/// The mined dataset and facts about the run.
#[derive(Debug, Default)]
pub struct MinedHistory {
    pub rows: Vec<MinedRow>,
    /// Rows with at least one label of each kind requested.
    pub positives: BTreeMap<LabelKind, usize>,
    /// Merge commits seen (they give no row).
    pub merges: usize,
    /// Files whose line owners had to be rebuilt by replaying their history.
    pub owner_rebuilds: usize,
    /// Commits whose parents the repository does not have (a shallow clone's boundary): their
    /// changes look like whole files added, and history before them is not counted.
    pub cut_at: usize,
    /// What the user should know about how the rows were made.
    pub warnings: Vec<String>,
}

/// The history a commit on top of `at` sees, answered from the chains.
struct SeenFrom<'a> {
    chains: &'a Ancestry,
    at: u32,
}

impl Lineage for SeenFrom<'_> {
    fn visible(&self, c: u32) -> bool {
        self.chains.is_ancestor(c, self.at)
    }

    fn is_ancestor(&self, a: u32, b: u32) -> bool {
        self.chains.is_ancestor(a, b)
    }
}

/// What the owner lookups read besides their own state.
#[derive(Clone, Copy)]
struct Ctx<'a, 'r> {
    repo: &'r Repository,
    index: &'a HistoryIndex,
    chains: &'a Ancestry,
}

/// Line owners per blob along the pass ([`owners`]): kept in a bounded cache, and replayed from
/// the file's own history when a version's owners were dropped.
struct OwnerSource {
    cache: OwnerCache,
    replayed: ReplayCost,
    rebuilds: usize,
}

impl OwnerSource {
    /// Owners of `blob`, the version of the file called `path` at commit `at` (index id; None:
    /// not in the history, as at a shallow boundary), which has `lines` lines.
    #[allow(clippy::too_many_arguments)]
    fn of(
        &mut self,
        ctx: Ctx<'_, '_>,
        objects: &mut ObjectCache,
        line_diffs: &mut LineDiffs<'_>,
        blob: Oid,
        path: &str,
        at: Option<u32>,
        lines: usize,
    ) -> Result<Rc<[u32]>, MiningError> {
        let known = at.and_then(|p| {
            let history = SeenFrom {
                chains: ctx.chains,
                at: p,
            };
            self.cache.get(path, blob, ctx.index, &history)
        });
        if let Some(o) = known.filter(|o| o.len() == lines) {
            return Ok(o);
        }
        self.rebuilds += 1;
        let history = SeenFrom {
            chains: ctx.chains,
            at: at.unwrap_or(0),
        };
        let steps = match at {
            Some(_) => ctx.index.file_steps(path, &history),
            None => Vec::new(),
        };
        let replayed = owners::replay_owners(
            ctx.repo,
            ctx.index,
            objects,
            line_diffs,
            &history,
            &steps,
            blob,
            None,
            &mut self.replayed,
        )?
        .and_then(|r| r.target)
        .filter(|(_, o)| o.len() == lines);
        match (replayed, at) {
            (Some((producer, o)), _) => {
                self.cache.insert(path, blob, producer, o.clone());
                Ok(o)
            }
            // Nothing in the history explains it: nobody's, for this commit's descendants too.
            (None, Some(p)) => {
                let o: Rc<[u32]> = Rc::from(vec![NOBODY; lines]);
                self.cache.insert(path, blob, p, o.clone());
                Ok(o)
            }
            (None, None) => Ok(Rc::from(vec![NOBODY; lines])),
        }
    }

    /// Owners of `blob`, a merge's resolution of the file at `path` ([`owners::merge_owners`]).
    #[allow(clippy::too_many_arguments)]
    fn merge(
        &mut self,
        ctx: Ctx<'_, '_>,
        objects: &mut ObjectCache,
        line_diffs: &mut LineDiffs<'_>,
        path: &str,
        blob: Oid,
        parent_trees: &[Oid],
        parent_ids: &[Oid],
        merge: u32,
    ) -> Result<(), MiningError> {
        let Some(new) = objects.blob(ctx.repo, blob).filter(|b| !b.binary) else {
            return Ok(());
        };
        let mut parents = Vec::new();
        for (&tree, &parent) in parent_trees.iter().zip(parent_ids) {
            let Some((id, mode)) = objects.entry_at_with_mode(ctx.repo, tree, path) else {
                continue;
            };
            if !matches!(mode, 0o100644 | 0o100755 | 0o100664) {
                continue;
            }
            let Some(old) = objects.blob(ctx.repo, id).filter(|b| !b.binary) else {
                continue;
            };
            let stats = line_diffs.stats(id, old.content(), blob, new.content())?;
            let at = ctx.index.lookup(parent);
            let o = self.of(ctx, objects, line_diffs, id, path, at, old.lines as usize)?;
            parents.push((o, stats.hunks));
        }
        if parents.is_empty() {
            return Ok(());
        }
        let parents: Vec<MergeParent<'_>> = parents
            .iter()
            .map(|(o, h)| MergeParent {
                owners: o,
                hunks: h,
            })
            .collect();
        let merged = owners::merge_owners(&parents, new.lines as usize, merge);
        self.cache.insert(path, blob, merge, Rc::from(merged));
        Ok(())
    }
}

/// One earlier commit of an author, for the exact EXP/REXP/SEXP loop (taken when the fast
/// path of [`AuthorHistory::experience`] does not apply): the commit, its author time, and the
/// subsystems it touched as a bit mask (ids below 64) plus any higher ids.
struct AuthorEntry {
    commit: u32,
    time: i64,
    mask: u64,
    more: Box<[u32]>,
}

/// One author's earlier commits, kept so that EXP, REXP and SEXP cost about the same for an
/// author's ten-thousandth commit as for their first.
#[derive(Default)]
struct AuthorHistory {
    /// Every earlier commit, in mining order (the order the REXP sum runs in).
    entries: Vec<AuthorEntry>,
    /// Their author times, in the same order.
    times: Vec<i64>,
    /// Whether some author time is earlier than the one before it.
    unsorted: bool,
    /// The author's commits (index ids) that are not ancestors of a later one of theirs: every
    /// earlier commit is history of a commit exactly when these are.
    tips: Vec<u32>,
    /// The distinct subsystem sets (mask, higher ids) of the commits, with how many had each.
    subsystem_sets: Vec<(u64, Box<[u32]>, u32)>,
}

impl AuthorHistory {
    /// Add the author's commit `this` (already in `chains`), touching subsystems `subs`
    /// (sorted, distinct).
    fn push(&mut self, chains: &Ancestry, this: u32, time: i64, subs: &[u32]) {
        let mask = subs.iter().filter(|&&s| s < 64).fold(0, |m, &s| m | 1 << s);
        let more: Box<[u32]> = subs.iter().copied().filter(|&s| s >= 64).collect();
        match self
            .subsystem_sets
            .iter_mut()
            .find(|(m, o, _)| *m == mask && **o == *more)
        {
            Some(set) => set.2 += 1,
            None => self.subsystem_sets.push((mask, more.clone(), 1)),
        }
        self.tips.retain(|&t| !chains.is_ancestor(t, this));
        self.tips.push(this);
        if self.times.last().is_some_and(|&t| t > time) {
            self.unsorted = true;
        }
        self.times.push(time);
        self.entries.push(AuthorEntry {
            commit: this,
            time,
            mask,
            more,
        });
    }

    /// (EXP, REXP, SEXP) of a change made at `time` on top of commit `parent`, touching the
    /// subsystems in `change_mask` / `change_subsystems`: over the author's earlier commits
    /// that are history of `parent`, their number, the sum in mining order of
    /// 1 / (whole years before `time` + 1), and how many share a subsystem with the change.
    ///
    /// When all of them are history of `parent` and their times never decrease (a linear
    /// history, or branches merged back), the years split them into at most one run per year
    /// and the sum is taken run by run ([`add_repeated`]): the same f64 as the loop, without
    /// visiting every commit. Otherwise every commit is visited.
    fn experience(
        &self,
        chains: &Ancestry,
        parent: u32,
        time: i64,
        change_mask: u64,
        change_subsystems: &[bool],
    ) -> (u64, f64, u64) {
        let shares = |mask: u64, more: &[u32]| {
            mask & change_mask != 0 || more.iter().any(|&s| change_subsystems[s as usize])
        };
        let years = |t: i64| whole_years(time, t);
        if !self.unsorted && self.tips.iter().all(|&t| chains.is_ancestor(t, parent)) {
            let exp = self.times.len() as u64;
            let mut rexp = 0.0f64;
            let mut i = 0;
            while i < self.times.len() {
                // Times never decrease, so whole years before `time` never increase.
                let y = years(self.times[i]);
                let run = self.times[i..].partition_point(|&t| years(t) >= y);
                rexp = add_repeated(rexp, recency_weight(y), run as u64);
                i += run;
            }
            let sexp = self
                .subsystem_sets
                .iter()
                .filter(|(mask, more, _)| shares(*mask, more))
                .map(|&(_, _, n)| u64::from(n))
                .sum();
            return (exp, rexp, sexp);
        }
        let (mut exp, mut rexp, mut sexp) = (0u64, 0.0f64, 0u64);
        for e in &self.entries {
            let seen = chains.is_ancestor(e.commit, parent);
            if !seen {
                continue;
            }
            exp += 1;
            rexp += recency_weight(years(e.time));
            if shares(e.mask, &e.more) {
                sexp += 1;
            }
        }
        (exp, rexp, sexp)
    }
}

/// `s + v + v + … + v` (`n` times), each addition rounded in f64 as a loop would do it, in
/// about one step per binade of the result instead of `n`. Within a binade every addition of
/// `v` adds the same whole number of ulps (round to nearest), except when `v`'s remainder is
/// exactly half an ulp, where ties-to-even decides step by step.
fn add_repeated(mut s: f64, v: f64, mut n: u64) -> f64 {
    debug_assert!(v.is_normal() && v > 0.0 && s >= 0.0 && s.is_finite());
    const FRAC: u64 = (1 << 52) - 1;
    const TOP: u64 = 1 << 53;
    while n > 0 {
        let (sb, vb) = (s.to_bits(), v.to_bits());
        let (se, ve) = (sb >> 52, vb >> 52);
        // Below v (or too small to write its ulp as a normal f64): one plain step.
        if s < v || se <= 53 {
            s += v;
            n -= 1;
            continue;
        }
        let shift = se - ve;
        if shift >= 54 {
            return s; // v is below half an ulp of s: adding it changes nothing
        }
        let m = (sb & FRAC) | (1 << 52);
        let mv = (vb & FRAC) | (1 << 52);
        let q = mv >> shift;
        let step = if shift == 0 {
            q
        } else {
            let rem = mv & ((1 << shift) - 1);
            let half = 1u64 << (shift - 1);
            match rem.cmp(&half) {
                std::cmp::Ordering::Less => q,
                std::cmp::Ordering::Greater => q + 1,
                std::cmp::Ordering::Equal => {
                    let next = s + v;
                    if next == s {
                        return s; // rounded to even, and will be again every time
                    }
                    s = next;
                    n -= 1;
                    continue;
                }
            }
        };
        if step == 0 {
            return s;
        }
        // s = m ulps; an addition stays in this binade while m + q <= TOP - 1 before it.
        if m + q > TOP - 1 {
            s += v;
            n -= 1;
            continue;
        }
        let k = ((TOP - 1 - q - m) / step + 1).min(n);
        let ulp = f64::from_bits((se - 52) << 52);
        s = (m + k * step) as f64 * ulp;
        n -= k;
    }
    s
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
/// clone's cut, or a damaged repository) ends that line of history instead of failing.
fn commit_order(repo: &Repository, head: Oid) -> Result<Vec<Oid>, MiningError> {
    let mut oids: Vec<Oid> = Vec::new();
    let mut seen: HashSet<Oid> = HashSet::new();
    let mut stack = vec![head];
    while let Some(oid) = stack.pop() {
        if !seen.insert(oid) {
            continue;
        }
        let Ok(commit) = repo.find_commit(oid) else {
            if oid == head {
                repo.find_commit(oid)?;
            }
            continue;
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
    Ok(order)
}

fn progress_bar(len: usize, wanted: bool) -> Option<indicatif::ProgressBar> {
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

/// Lines of a blob, without their line ends.
fn blob_lines(content: &[u8]) -> Vec<&[u8]> {
    if content.is_empty() {
        return Vec::new();
    }
    let body = content.strip_suffix(b"\n").unwrap_or(content);
    body.split(|&b| b == b'\n').collect()
}

/// Mine every non-merge commit reachable from HEAD.
pub fn mine_history(repo: &Repository, options: &MineOptions) -> Result<MinedHistory, MiningError> {
    if repo.is_empty().unwrap_or(false)
        || matches!(repo.head(), Err(e) if e.code() == git2::ErrorCode::UnbornBranch)
    {
        return Err(MiningError::NoCommits);
    }
    let head = repo.head()?.peel_to_commit()?.id();
    // Renames as git detects them, asked once for the whole walk, while the walk is planned.
    let asked_renames = {
        let git_dir = repo.path().to_path_buf();
        std::thread::spawn(move || renames::of_history(&git_dir, &[head], &[], None))
    };
    // Objects come from the repository's own store: re-hashing every one read is wasted work.
    git2::opts::strict_hash_verification(false);
    // History only: opened without its work tree, libgit2 does not stat `.gitattributes`
    // files in it for every blob it diffs.
    let bare = Repository::open_bare(repo.path());
    let repo = bare.as_ref().unwrap_or(repo);
    let order = commit_order(repo, head)?;
    let want_revert = options.labels.contains(&LabelKind::Revert);
    let want_szz = options.labels.contains(&LabelKind::Szz);

    // Children per commit, to know when a parent's blobs are no longer needed by its children.
    let position: HashMap<Oid, u32> = order
        .iter()
        .enumerate()
        .map(|(i, o)| (*o, i as u32))
        .collect();
    let mut children = vec![0u32; order.len()];
    let mut parents_at: Vec<Vec<u32>> = Vec::with_capacity(order.len());
    for oid in &order {
        let ps: Vec<u32> = repo
            .find_commit(*oid)?
            .parent_ids()
            .filter_map(|p| position.get(&p).copied())
            .collect();
        for &j in &ps {
            children[j as usize] += 1;
        }
        parents_at.push(ps);
    }
    let continues = first_parent_lines(&parents_at, position[&head]);

    let mut out = MinedHistory::default();
    let git_renames = match asked_renames.join() {
        Ok(Ok(by_commit)) => Some(by_commit),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "renames from libgit2's detection instead of git's");
            out.warnings.push(format!(
                "renames were detected by libgit2, not git ({e}): a few renamed files may be counted as added and deleted"
            ));
            None
        }
        Err(_) => None,
    };
    let mut index = HistoryIndex::in_memory();
    let mut chains = Ancestry::default();
    let mut authors: Vec<AuthorHistory> = Vec::new();
    let mut subsystem_ids: HashMap<String, u32> = HashMap::new();
    let mut objects = ObjectCache::reading_packs(repo);
    let mut line_diffs = LineDiffs::new(repo);
    let mut owners = OwnerSource {
        cache: OwnerCache::default(),
        replayed: ReplayCost::default(),
        rebuilds: 0,
    };
    let mut sensitive_cache: HashMap<Option<Oid>, Rc<SensitivePaths>> = HashMap::new();
    let mut reverts = RevertFinder::new();
    // The row of each commit given to `reverts`, in order (none past a shallow cut).
    let mut revert_rows: Vec<u32> = Vec::new();
    let mut row_of: Vec<u32> = Vec::with_capacity(order.len());
    let progress = progress_bar(order.len(), options.progress);

    for (n, oid) in order.iter().enumerate() {
        if let Some(bar) = &progress {
            if n % 64 == 0 {
                bar.set_position(n as u64);
            }
        }
        let commit = repo.find_commit(*oid)?;
        let parent_ids: Vec<Oid> = commit.parent_ids().collect();
        let parent_idx: Vec<u32> = parent_ids.iter().filter_map(|p| index.lookup(*p)).collect();
        // Parents the repository has (a shallow clone's boundary commits have none).
        let parents: Vec<git2::Commit<'_>> = parent_ids
            .iter()
            .filter_map(|p| repo.find_commit(*p).ok())
            .collect();
        if parents.len() < parent_ids.len() {
            out.cut_at += 1;
        }

        let sig = commit.author();
        let key = author_key(&sig);
        let time = sig.when().seconds();
        let this = index.len() as u32;
        if commit.parent_count() > 1 {
            let resolved = if parents.len() == parent_ids.len() {
                let trees: Vec<Oid> = parents.iter().map(|p| p.tree_id()).collect();
                let resolved = merge_resolved(repo, &mut objects, &trees, commit.tree_id())?;
                for (path, blob) in &resolved {
                    let ctx = Ctx {
                        repo,
                        index: &index,
                        chains: &chains,
                    };
                    owners.merge(
                        ctx,
                        &mut objects,
                        &mut line_diffs,
                        path,
                        *blob,
                        &trees,
                        &parent_ids,
                        this,
                    )?;
                }
                resolved.into_iter().map(|(p, _)| p).collect()
            } else {
                Vec::new()
            };
            let resolved: Vec<&str> = resolved.iter().map(String::as_str).collect();
            index.push_commit(NewCommit {
                oid: *oid,
                parents: &parent_ids,
                author_key: key,
                time,
                merge: true,
                touched: &[],
                renames: &[],
                resolved: &resolved,
            });
            chains.push_continuing(&parent_idx, continues[this as usize]);
            row_of.push(u32::MAX);
            out.merges += 1;
            continue;
        }
        // The first parent, when the repository has it (a shallow boundary does not).
        let cut = !parent_ids.is_empty() && parents.is_empty();
        let parent = parents.into_iter().next();
        let parent_at = parent.as_ref().and_then(|p| index.lookup(p.id()));
        let parent_tree = parent.as_ref().map(|p| p.tree_id());
        let source = match &git_renames {
            Some(by_commit) => RenameSource::Git(by_commit.get(oid).map_or(&[][..], |p| p)),
            None => RenameSource::Libgit2,
        };
        let diffed = diff_commit_cached(repo, &mut objects, parent_tree, commit.tree_id(), source)?
            .into_iter()
            .map(|f| f.finish(&mut line_diffs))
            .collect::<Result<Vec<_>, _>>()?;

        let author = index.author_id(&key);
        let files: Vec<_> = diffed.iter().map(|d| d.file.clone()).collect();
        let histories: Vec<Vec<u32>> = files
            .iter()
            .map(|f| match parent_at {
                Some(p) => index.file_history(
                    f.base_path(),
                    &SeenFrom {
                        chains: &chains,
                        at: p,
                    },
                ),
                None => Vec::new(),
            })
            .collect();
        let file_history = histories.iter().map(|ids| index.touches(ids)).collect();

        // Line owners of each touched text file in the parent.
        let mut old_owners: Vec<Option<Rc<[u32]>>> = Vec::with_capacity(diffed.len());
        for d in &diffed {
            if d.file.kind != FileKind::Text || d.old_id.is_zero() {
                old_owners.push(None);
                continue;
            }
            let ctx = Ctx {
                repo,
                index: &index,
                chains: &chains,
            };
            let o = owners.of(
                ctx,
                &mut objects,
                &mut line_diffs,
                d.old_id,
                d.file.base_path(),
                parent_at,
                d.file.lines_before as usize,
            )?;
            old_owners.push(Some(o));
        }

        let mut blame = BlameTally::default();
        for (d, o) in diffed.iter().zip(&old_owners) {
            if d.file.kind == FileKind::Text && d.file.change != ChangeKind::Added {
                blame.files_existing += 1;
                if let Some(o) = o {
                    blame.files_attributed += 1;
                    blame.total_lines += o.len() as u64;
                    if let Some(a) = author {
                        blame.author_lines += o
                            .iter()
                            .filter(|&&c| c != NOBODY && index.commit(c).author == a)
                            .count() as u64;
                    }
                }
            }
        }

        let config_id = parent_tree.and_then(|t| objects.entry_at(repo, t, CONFIG_PATH));
        let sensitive = match sensitive_cache.get(&config_id) {
            Some(s) => s.clone(),
            None => {
                let configured = config_id
                    .and_then(|id| repo.find_blob(id).ok())
                    .and_then(|b| {
                        RepoConfig::parse(CONFIG_PATH, &String::from_utf8_lossy(b.content())).ok()
                    })
                    .map(|c| c.sensitive_paths)
                    .unwrap_or_default();
                let s = Rc::new(
                    SensitivePaths::new(&configured)
                        .or_else(|_| SensitivePaths::new(&[]))
                        .expect("built-in patterns are valid"),
                );
                sensitive_cache.insert(config_id, s.clone());
                s
            }
        };
        let hits = sensitive.hits(files.iter().map(|f| f.path.as_str()));

        // EXP, REXP and SEXP from the per-author state, without listing the author's commits.
        let mut change_subsystems = vec![false; subsystem_ids.len()];
        let mut change_mask = 0u64;
        for f in &files {
            if let Some(&s) = subsystem_ids.get(subsystem(&f.path)) {
                change_subsystems[s as usize] = true;
                if s < 64 {
                    change_mask |= 1 << s;
                }
            }
        }
        let (exp, rexp, sexp) = match (author, parent_at) {
            (Some(a), Some(p)) => authors.get(a as usize).map_or((0, 0.0, 0), |h| {
                h.experience(&chains, p, time, change_mask, &change_subsystems)
            }),
            _ => (0, 0.0, 0),
        };

        let message = String::from_utf8_lossy(commit.message_bytes()).into_owned();
        let snapshot = Snapshot {
            files,
            messages: vec![message.clone()],
            author_name: String::from_utf8_lossy(sig.name_bytes()).into_owned(),
            author,
            change_time: time,
            file_history,
            author_experience: AuthorExperience::Counted(Experience::new(exp, rexp, sexp)),
            author_known_dirs: Default::default(),
            blame: Some(blame),
        };
        let (signals, _) = features::compute(&snapshot, hits, None);

        // Labels this commit gives earlier ones.
        let sha = oid.to_string();
        let row_index = out.rows.len();
        let mut labelled: Vec<(u32, Provenance)> = Vec::new();
        if want_revert {
            let target = reverts.push(&sha, &message);
            revert_rows.push(if cut { u32::MAX } else { row_index as u32 });
            if let Some(&r) = target
                .and_then(|t| revert_rows.get(t))
                .filter(|&&r| r != u32::MAX)
            {
                labelled.push((
                    r,
                    Provenance {
                        kind: LabelKind::Revert,
                        by: sha.clone(),
                    },
                ));
            }
        }
        if want_szz && szz::is_fix_commit(&message) {
            let reported = options.issue_dates.reported(&message);
            for c in szz_candidates(repo, &mut objects, &index, &diffed, &old_owners, reported)? {
                if let Some(&r) = row_of.get(c as usize).filter(|&&r| r != u32::MAX) {
                    labelled.push((
                        r,
                        Provenance {
                            kind: LabelKind::Szz,
                            by: sha.clone(),
                        },
                    ));
                }
            }
        }
        for (r, p) in labelled {
            let row: &mut MinedRow = &mut out.rows[r as usize];
            if !row.provenance.contains(&p) {
                row.provenance.push(p);
                row.provenance.sort();
            }
        }

        // New line owners (the latest producer of a blob stands), and drop the parent's
        // objects once no other child can need them.
        for (d, o) in diffed.iter().zip(&old_owners) {
            if d.file.kind != FileKind::Text
                || d.new_id.is_zero()
                || d.file.change == ChangeKind::Deleted
            {
                continue;
            }
            let before = o.as_deref().unwrap_or(&[]);
            let new_len = (d.file.lines_before + d.file.added).saturating_sub(d.file.deleted);
            // Past a shallow cut nobody can be named for the lines.
            let owner = if cut { NOBODY } else { this };
            let new = apply_hunks(before, &d.hunks, new_len as usize, owner);
            owners
                .cache
                .insert(&d.file.path, d.new_id, this, Rc::from(new));
        }
        let single_child = parent
            .as_ref()
            .and_then(|p| position.get(&p.id()))
            .is_some_and(|&j| children[j as usize] <= 1);
        objects.forget(&diffed, !single_child);

        // Into the history the later commits see.
        let touched: Vec<&str> = snapshot.files.iter().map(|f| f.path.as_str()).collect();
        let renames: Vec<(&str, &str)> = snapshot
            .files
            .iter()
            .filter_map(|f| f.old_path.as_deref().map(|o| (o, f.path.as_str())))
            .collect();
        let pushed = index.push_commit(NewCommit {
            oid: *oid,
            parents: &parent_ids,
            author_key: key,
            time,
            merge: false,
            touched: &touched,
            renames: &renames,
            resolved: &[],
        });
        debug_assert_eq!(pushed, this);
        chains.push_continuing(&parent_idx, continues[this as usize]);
        let a = index.commit(this).author as usize;
        if authors.len() <= a {
            authors.resize_with(a + 1, AuthorHistory::default);
        }
        let mut subs: Vec<u32> = touched
            .iter()
            .map(|p| {
                let s = subsystem(p);
                let next = subsystem_ids.len() as u32;
                *subsystem_ids.entry(s.to_string()).or_insert(next)
            })
            .collect();
        subs.sort_unstable();
        subs.dedup();
        authors[a].push(&chains, this, time, &subs);
        if cut {
            // Its parent is beyond a shallow clone's cut: what it changed is unknown (every
            // file looks added), so it gives no row; it stays history for later commits.
            row_of.push(u32::MAX);
            continue;
        }
        row_of.push(row_index as u32);
        out.rows.push(MinedRow {
            commit_id: sha,
            author_date: time,
            signals,
            provenance: Vec::new(),
        });
    }
    if let Some(bar) = progress {
        bar.finish_and_clear();
    }
    out.owner_rebuilds = owners.rebuilds;
    tracing::debug!(
        blobs = owners.cache.len(),
        owned_lines = owners.cache.lines(),
        rebuilds = owners.rebuilds,
        replayed_steps = owners.replayed.steps,
        replayed_diffs = owners.replayed.diffs,
        chains = chains.chains(),
        ancestry_log = chains.log_entries(),
        "mined"
    );
    for kind in &options.labels {
        let n = out
            .rows
            .iter()
            .filter(|r| r.provenance.iter().any(|p| p.kind == *kind))
            .count();
        out.positives.insert(*kind, n);
    }
    Ok(out)
}

/// The commits (index ids) that last wrote the meaningful lines a fix removed or changed.
/// Files the fix added or deleted whole, and binary files, give none.
fn szz_candidates(
    repo: &Repository,
    objects: &mut ObjectCache,
    index: &HistoryIndex,
    diffed: &[DiffedFile],
    old_owners: &[Option<Rc<[u32]>>],
    reported: Option<i64>,
) -> Result<Vec<u32>, MiningError> {
    let mut all = Vec::new();
    for (d, o) in diffed.iter().zip(old_owners) {
        let Some(o) = o else { continue };
        if !matches!(d.file.change, ChangeKind::Modified | ChangeKind::Renamed)
            || d.hunks.iter().all(|h| h.old_lines == 0)
        {
            continue;
        }
        let Some(blob) = objects.blob(repo, d.old_id) else {
            continue;
        };
        let lines = blob_lines(blob.content());
        let removed = d.hunks.iter().flat_map(|h| {
            let start = h.old_start.saturating_sub(1) as usize;
            let end = if h.old_lines == 0 {
                start
            } else {
                start + h.old_lines as usize
            };
            start..end
        });
        let removed = removed.filter_map(|i| {
            let text = lines.get(i)?;
            let owner = o.get(i).copied().filter(|&c| c != NOBODY);
            Some(RemovedLine {
                owner,
                owner_time: owner.map_or(0, |c| index.commit(c).time),
                text,
            })
        });
        all.extend(szz::candidates(d.file.base_path(), removed, reported));
    }
    all.sort_unstable();
    all.dedup();
    Ok(all)
}

fn cell(v: Option<f64>) -> String {
    v.map(|x| x.to_string()).unwrap_or_default()
}

/// Write the rows as the dataset CSV ([`COLUMNS`]).
pub fn write_csv<W: Write>(rows: &[MinedRow], out: W) -> Result<(), csv::Error> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record(COLUMNS.iter())?;
    for r in rows {
        let mut record = vec![r.commit_id.clone(), r.author_date.to_string()];
        record.extend(catalogue::mined_signals().map(|(_, c)| cell(r.signals.value(c))));
        record.push(if r.buggy() { "1" } else { "0" }.to_string());
        record.push(label_source(&r.provenance));
        w.write_record(&record)?;
    }
    w.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn add_one_by_one(mut s: f64, v: f64, n: u64) -> f64 {
        for _ in 0..n {
            s += v;
        }
        s
    }

    #[test]
    fn add_repeated_is_the_loop() {
        let mut values: Vec<f64> = (0..80).map(|y| 1.0 / (y as f64 + 1.0)).collect();
        values.extend([
            0.1,
            0.3,
            0.7,
            1e-3,
            3.0,
            1e-9,
            2.0f64.powi(-30),
            1.0 + f64::EPSILON,
        ]);
        // A value whose remainder is exactly half an ulp in some binade: ties to even.
        values.push(f64::from_bits(0x3FF0_0000_0000_0001));
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for &v in &values {
            // From zero, at every length up to 5,000, then from sums met along the way.
            let mut looped = 0.0f64;
            for n in 0..5_000u64 {
                assert_eq!(
                    add_repeated(0.0, v, n).to_bits(),
                    looped.to_bits(),
                    "v={v} n={n}"
                );
                looped += v;
            }
            for _ in 0..200 {
                let start = add_one_by_one(0.0, v, next() % 3_000) + (next() % 7) as f64 / 3.0;
                let n = next() % 20_000;
                assert_eq!(
                    add_repeated(start, v, n).to_bits(),
                    add_one_by_one(start, v, n).to_bits(),
                    "v={v} start={start} n={n}"
                );
            }
        }
        // Long runs: the shortcut against the loop at sizes a long history reaches.
        for v in [1.0 / 3.0, 1.0 / 6.0, 1.0 / 7.0, 0.2] {
            for n in [65_536u64, 123_457, 1_000_003] {
                assert_eq!(
                    add_repeated(0.0, v, n).to_bits(),
                    add_one_by_one(0.0, v, n).to_bits()
                );
                assert_eq!(
                    add_repeated(12_345.678, v, n).to_bits(),
                    add_one_by_one(12_345.678, v, n).to_bits()
                );
            }
        }
    }

    #[test]
    fn author_experience_fast_path_matches_the_loop() {
        // One author on a main line that forks a side branch every 50 commits and merges it
        // back 10 commits later (the side branch's commits are not history of main's until
        // then): every commit's (EXP, REXP, SEXP) against the loop over each earlier commit.
        let mut chains = Ancestry::default();
        let mut history = AuthorHistory::default();
        let mut looped = AuthorHistory {
            unsorted: true,
            ..AuthorHistory::default()
        };
        let (mut time, mut fast_paths) = (1_500_000_000i64, 0);
        let (mut main, mut side) = (None::<u32>, None::<u32>);
        let mut change = vec![false; 70];
        for n in 0..4_000u32 {
            let on_side = n % 50 >= 40;
            let first = if on_side { side.or(main) } else { main };
            if !on_side && side.is_some() {
                // The merge of the side branch (no row, not the author's).
                let merge = chains.len() as u32;
                chains.push(&[main.unwrap(), side.take().unwrap()]);
                main = Some(merge);
                continue;
            }
            let id = chains.len() as u32;
            chains.push(&first.into_iter().collect::<Vec<_>>());
            time += 8 * 3_600 + i64::from(n % 5) * 3_600;
            let mask = 1u64 << (n % 4);
            change[65] = n % 7 == 0;
            if let Some(p) = first {
                let got = history.experience(&chains, p, time, mask, &change);
                let want = looped.experience(&chains, p, time, mask, &change);
                assert_eq!(
                    (got.0, got.1.to_bits(), got.2),
                    (want.0, want.1.to_bits(), want.2),
                    "commit {n}"
                );
                fast_paths += usize::from(history.tips.iter().all(|&t| chains.is_ancestor(t, p)));
            }
            let subs = [n % 3, 64 + n % 2];
            history.push(&chains, id, time, &subs);
            looped.push(&chains, id, time, &subs);
            if on_side {
                side = Some(id);
            } else {
                main = Some(id);
            }
        }
        assert!(fast_paths > 3_000, "{fast_paths}");
        assert!(history.tips.len() == 1);
    }

    #[test]
    fn every_column_is_a_key_column_or_a_mined_signal() {
        let (first, rest) = COLUMNS.split_at(2);
        assert_eq!(first, ["commit_id", "author_date"]);
        let (signals, last) = rest.split_at(rest.len() - 2);
        assert_eq!(last, ["buggy", "label_source"]);
        for column in signals {
            let s = catalogue::by_name(column).unwrap_or_else(|| panic!("{column}"));
            assert_eq!(s.column, Some(*column));
            assert!(matches!(s.source, catalogue::Source::Change(_)));
        }
        // The record of a row has a cell for each column.
        let row = MinedRow {
            commit_id: "c".into(),
            author_date: 1,
            signals: features::compute(&Snapshot::default(), vec![], None).0,
            provenance: Vec::new(),
        };
        let mut out = Vec::new();
        write_csv(&[row], &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], COLUMNS.join(","));
        assert_eq!(lines[1], "c,1,0,0,0,0,0,0,0,0,0,0,0,0,0,0,,,0,0,0,");
    }

    #[test]
    fn blob_lines_split() {
        assert_eq!(blob_lines(b"a\nb\n"), vec![&b"a"[..], b"b"]);
        assert_eq!(blob_lines(b"a\nb"), vec![&b"a"[..], b"b"]);
        assert!(blob_lines(b"").is_empty());
    }
}

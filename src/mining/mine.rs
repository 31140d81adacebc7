//! `riskgate mine`: one dataset row per non-merge commit, mined in one pass over history.
//!
//! Commits are visited oldest first (parents before children, ties by author time). Each is
//! taken as a change against its first parent, with history = the commits reachable from that
//! parent, exactly as `riskgate score --base C^ --head C` would see it. The state kept along
//! the way is bounded by files, authors and commits, never by lines of history:
//!
//! - an in-memory [`HistoryIndex`] (per path the commits that touched it, renames, authors);
//! - per commit its chain position and the furthest position it reaches on other chains, so
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

use super::index::{author_key, HistoryIndex};
use super::{
    apply_hunks, diff_commit_cached, replay_file_owners, DiffedFile, LineDiffs, MiningError,
    ObjectCache, CONFIG_PATH,
};
use crate::config::RepoConfig;
use crate::features::sensitive::SensitivePaths;
use crate::features::{
    self, subsystem, BlameTally, ChangeKind, FileKind, Signals, Snapshot, YEAR_SECONDS,
};
use crate::labels::revert::RevertFinder;
use crate::labels::szz::{self, IssueDates, RemovedLine};
use crate::labels::{label_source, LabelKind, Provenance};

/// Columns of the dataset `mine` writes, in order.
pub const COLUMNS: &[&str] = &[
    "commit_id",
    "author_date",
    "ns",
    "nd",
    "nf",
    "entropy",
    "la",
    "ld",
    "lt",
    "fix",
    "ndev",
    "age",
    "nuc",
    "exp",
    "rexp",
    "sexp",
    "author_commit_share",
    "author_blame_share",
    "files_new_to_author",
    "sensitive_files",
    "buggy",
    "label_source",
];

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
}

/// Position of a commit in the chain decomposition of the history seen so far.
#[derive(Debug, Clone)]
struct ChainPos {
    chain: u32,
    pos: u32,
    /// For other chains, the furthest position reachable (sorted by chain).
    reach: Rc<Vec<(u32, u32)>>,
}

#[derive(Debug, Default)]
struct Chains {
    commits: Vec<ChainPos>,
    /// Whether a commit already has a child continuing its chain.
    continued: Vec<bool>,
    next_chain: u32,
}

fn merge_reach(into: &mut Vec<(u32, u32)>, chain: u32, pos: u32) {
    match into.binary_search_by_key(&chain, |&(c, _)| c) {
        Ok(i) => into[i].1 = into[i].1.max(pos),
        Err(i) => into.insert(i, (chain, pos)),
    }
}

impl Chains {
    /// Add the next commit (all its parents already added); returns nothing, it is `len()-1`.
    fn push(&mut self, parents: &[u32]) {
        let continues = parents
            .first()
            .copied()
            .filter(|&p| !self.continued[p as usize]);
        let (chain, pos, mut reach) = match continues {
            Some(p) => {
                self.continued[p as usize] = true;
                let pc = &self.commits[p as usize];
                (pc.chain, pc.pos + 1, pc.reach.clone())
            }
            None => {
                self.next_chain += 1;
                (self.next_chain - 1, 0, Rc::new(Vec::new()))
            }
        };
        let others: Vec<u32> = parents
            .iter()
            .copied()
            .filter(|&p| Some(p) != continues)
            .collect();
        if !others.is_empty() {
            let mut r = (*reach).clone();
            for p in others {
                let pc = &self.commits[p as usize];
                merge_reach(&mut r, pc.chain, pc.pos);
                for &(c, q) in pc.reach.iter() {
                    merge_reach(&mut r, c, q);
                }
            }
            r.retain(|&(c, _)| c != chain);
            reach = Rc::new(r);
        }
        self.commits.push(ChainPos { chain, pos, reach });
        self.continued.push(false);
    }

    /// Whether commit `a` is `b` or one of its ancestors.
    fn is_ancestor(&self, a: u32, b: u32) -> bool {
        let (ca, cb) = (&self.commits[a as usize], &self.commits[b as usize]);
        if ca.chain == cb.chain {
            return ca.pos <= cb.pos;
        }
        match cb.reach.binary_search_by_key(&ca.chain, |&(c, _)| c) {
            Ok(i) => ca.pos <= cb.reach[i].1,
            Err(_) => false,
        }
    }
}

/// One earlier commit of an author, for the exact EXP/REXP/SEXP loop (taken when the fast
/// path of [`AuthorHistory::experience`] does not apply): its chain position, author time, and
/// the subsystems it touched as a bit mask (ids below 64) plus any higher ids.
struct AuthorEntry {
    chain: u32,
    pos: u32,
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
    fn push(&mut self, chains: &Chains, this: u32, time: i64, subs: &[u32]) {
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
        let place = &chains.commits[this as usize];
        self.entries.push(AuthorEntry {
            chain: place.chain,
            pos: place.pos,
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
        chains: &Chains,
        parent: u32,
        time: i64,
        change_mask: u64,
        change_subsystems: &[bool],
    ) -> (u64, f64, u64) {
        let shares = |mask: u64, more: &[u32]| {
            mask & change_mask != 0 || more.iter().any(|&s| change_subsystems[s as usize])
        };
        let years = |t: i64| ((time - t).max(0) as f64 / YEAR_SECONDS).floor();
        if !self.unsorted && self.tips.iter().all(|&t| chains.is_ancestor(t, parent)) {
            let exp = self.times.len() as u64;
            let mut rexp = 0.0f64;
            let mut i = 0;
            while i < self.times.len() {
                // Times never decrease, so whole years before `time` never increase.
                let y = years(self.times[i]);
                let run = self.times[i..].partition_point(|&t| years(t) >= y);
                rexp = add_repeated(rexp, 1.0 / (y + 1.0), run as u64);
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
        let at = &chains.commits[parent as usize];
        let (mut exp, mut rexp, mut sexp) = (0u64, 0.0f64, 0u64);
        for e in &self.entries {
            let seen = if e.chain == at.chain {
                e.pos <= at.pos
            } else {
                match at.reach.binary_search_by_key(&e.chain, |&(c, _)| c) {
                    Ok(i) => e.pos <= at.reach[i].1,
                    Err(_) => false,
                }
            };
            if !seen {
                continue;
            }
            exp += 1;
            rexp += 1.0 / (years(e.time) + 1.0);
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

/// Commits reachable from HEAD, oldest first: parents before children, ties by author time.
fn commit_order(repo: &Repository, head: Oid) -> Result<Vec<Oid>, MiningError> {
    let mut walk = repo.revwalk()?;
    walk.push(head)?;
    let oids: Vec<Oid> = walk.collect::<Result<_, _>>()?;
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
    for oid in &order {
        for p in repo.find_commit(*oid)?.parent_ids() {
            if let Some(&j) = position.get(&p) {
                children[j as usize] += 1;
            }
        }
    }

    let mut index = HistoryIndex::in_memory();
    let mut chains = Chains::default();
    let mut authors: Vec<AuthorHistory> = Vec::new();
    let mut subsystem_ids: HashMap<String, u32> = HashMap::new();
    let mut owners: HashMap<Oid, Rc<Vec<u32>>> = HashMap::new();
    let mut objects = ObjectCache::reading_packs(repo);
    let mut line_diffs = LineDiffs::new(repo);
    let mut sensitive_cache: HashMap<Option<Oid>, Rc<SensitivePaths>> = HashMap::new();
    let mut reverts = RevertFinder::new();
    let mut row_of: Vec<u32> = Vec::with_capacity(order.len());
    let mut out = MinedHistory::default();
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
        let sig = commit.author();
        let key = author_key(&sig);
        let time = sig.when().seconds();
        let this = index.len() as u32;
        if commit.parent_count() > 1 {
            index.push_commit(*oid, &parent_ids, key, time, true, &[], &[]);
            chains.push(&parent_idx);
            row_of.push(u32::MAX);
            out.merges += 1;
            continue;
        }
        // The first parent, when the repository has it (a shallow boundary does not).
        let parent = commit.parent(0).ok();
        let parent_at = parent.as_ref().and_then(|p| index.lookup(p.id()));
        let parent_tree = parent.as_ref().map(|p| p.tree_id());
        let diffed = diff_commit_cached(repo, &mut objects, parent_tree, commit.tree_id())?
            .into_iter()
            .map(|f| f.finish(&mut line_diffs))
            .collect::<Result<Vec<_>, _>>()?;
        let visible = |c: u32| parent_at.is_some_and(|p| chains.is_ancestor(c, p));

        let author = index.author_id(&key);
        let files: Vec<_> = diffed.iter().map(|d| d.file.clone()).collect();
        let histories: Vec<Vec<u32>> = files
            .iter()
            .map(|f| {
                if parent_at.is_some() {
                    index.file_history_where(f.base_path(), visible)
                } else {
                    Vec::new()
                }
            })
            .collect();
        let file_history = histories.iter().map(|ids| index.touches(ids)).collect();

        // Line owners of each touched text file in the parent.
        let mut old_owners: Vec<Option<Rc<Vec<u32>>>> = Vec::with_capacity(diffed.len());
        for (d, history) in diffed.iter().zip(&histories) {
            if d.file.kind != FileKind::Text || d.old_id.is_zero() {
                old_owners.push(None);
                continue;
            }
            let known = owners
                .get(&d.old_id)
                .filter(|o| o.len() as u64 == d.file.lines_before)
                .cloned();
            let o = match known {
                Some(o) => o,
                None => {
                    out.owner_rebuilds += 1;
                    let content = repo.find_blob(d.old_id)?;
                    let rebuilt = replay_file_owners(
                        repo,
                        &index,
                        d.file.base_path(),
                        history,
                        content.content(),
                    );
                    let rebuilt = Rc::new(rebuilt);
                    owners.insert(d.old_id, rebuilt.clone());
                    rebuilt
                }
            };
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
                            .filter(|&&c| c != u32::MAX && index.commit(c).author == a)
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

        let message = String::from_utf8_lossy(commit.message_bytes()).into_owned();
        let snapshot = Snapshot {
            files,
            messages: vec![message.clone()],
            author_name: String::from_utf8_lossy(sig.name_bytes()).into_owned(),
            author,
            change_time: time,
            file_history,
            // EXP, REXP and SEXP are computed below from the per-author state.
            author_commits: Vec::new(),
            author_known_dirs: Default::default(),
            blame: Some(blame),
        };
        let (mut signals, _) = features::compute(&snapshot, hits, None);

        let mut change_subsystems = vec![false; subsystem_ids.len()];
        let mut change_mask = 0u64;
        for f in &snapshot.files {
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
        signals.exp = exp as f64;
        signals.rexp = rexp + 0.0;
        signals.sexp = sexp as f64;

        // Labels this commit gives earlier ones.
        let sha = oid.to_string();
        let row_index = out.rows.len();
        let mut labelled: Vec<(u32, Provenance)> = Vec::new();
        if want_revert {
            if let Some(target) = reverts.push(&sha, &message) {
                labelled.push((
                    target as u32,
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

        // New line owners, and drop the parent's blobs once no other child can need them.
        let single_child = parent
            .as_ref()
            .and_then(|p| position.get(&p.id()))
            .is_some_and(|&j| children[j as usize] <= 1);
        for (d, o) in diffed.iter().zip(&old_owners) {
            if d.file.kind != FileKind::Text {
                continue;
            }
            if !d.new_id.is_zero() && d.file.change != ChangeKind::Deleted {
                let before = o.as_ref().map_or(&[][..], |o| o.as_slice());
                let new_len = (before.len() as u64 + d.file.added).saturating_sub(d.file.deleted);
                let new = apply_hunks(before, &d.hunks, new_len as usize, this);
                owners.insert(d.new_id, Rc::new(new));
            }
            if single_child && !d.old_id.is_zero() && d.old_id != d.new_id {
                owners.remove(&d.old_id);
            }
        }
        objects.forget(&diffed, !single_child);

        // Into the history the later commits see.
        let touched: Vec<&str> = snapshot.files.iter().map(|f| f.path.as_str()).collect();
        let renames: Vec<(&str, &str)> = snapshot
            .files
            .iter()
            .filter_map(|f| f.old_path.as_deref().map(|o| (o, f.path.as_str())))
            .collect();
        let pushed = index.push_commit(*oid, &parent_ids, key, time, false, &touched, &renames);
        debug_assert_eq!(pushed, this);
        chains.push(&parent_idx);
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
    tracing::debug!(
        blobs = owners.len(),
        owned_lines = owners.values().map(|o| o.len()).sum::<usize>(),
        rebuilds = out.owner_rebuilds,
        chains = chains.next_chain,
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
    old_owners: &[Option<Rc<Vec<u32>>>],
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
            // Unreadable: the error reading it says why.
            repo.find_blob(d.old_id)?;
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
            let owner = o.get(i).copied().filter(|&c| c != u32::MAX);
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
    w.write_record(COLUMNS)?;
    for r in rows {
        let s = &r.signals;
        let mut record = vec![r.commit_id.clone(), r.author_date.to_string()];
        for v in [
            s.ns, s.nd, s.nf, s.entropy, s.la, s.ld, s.lt, s.fix, s.ndev, s.age, s.nuc, s.exp,
            s.rexp, s.sexp,
        ] {
            record.push(v.to_string());
        }
        record.push(cell(s.author_commit_share));
        record.push(cell(s.author_blame_share));
        record.push(s.files_new_to_author.to_string());
        record.push(s.sensitive_files.to_string());
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

    #[test]
    fn chains_answer_ancestry() {
        // 0 ← 1 ← 2 ← 4(merge 2,3) ← 5 ; 1 ← 3
        let mut c = Chains::default();
        c.push(&[]);
        c.push(&[0]);
        c.push(&[1]);
        c.push(&[1]);
        c.push(&[2, 3]);
        c.push(&[4]);
        assert!(c.is_ancestor(0, 5) && c.is_ancestor(3, 5) && c.is_ancestor(3, 4));
        assert!(!c.is_ancestor(3, 2), "a side branch is not history of main");
        assert!(!c.is_ancestor(2, 3));
        assert!(c.is_ancestor(1, 3));
        assert!(!c.is_ancestor(5, 4));
    }

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
        let mut chains = Chains::default();
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
                let merge = chains.commits.len() as u32;
                chains.push(&[main.unwrap(), side.take().unwrap()]);
                main = Some(merge);
                continue;
            }
            let id = chains.commits.len() as u32;
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
    fn blob_lines_split() {
        assert_eq!(blob_lines(b"a\nb\n"), vec![&b"a"[..], b"b"]);
        assert_eq!(blob_lines(b"a\nb"), vec![&b"a"[..], b"b"]);
        assert!(blob_lines(b"").is_empty());
    }
}

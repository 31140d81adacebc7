//! The history index: which commit touched which paths, by whom and when, for every commit
//! reachable from the revisions scored so far.
//!
//! It is built by one walk over history and kept in `<git-dir>/riskgate/history-v2.idx`.
//! Later runs load it and walk only the commits it does not have yet, so the cost of scoring a
//! change grows with the change and the history of its files, not with the whole history.

use std::collections::{HashMap, HashSet};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use git2::{Delta, DiffFindOptions, DiffOptions, Oid, Repository, Sort};
use serde::{Deserialize, Serialize};

const FORMAT: u32 = 2;
const FILE_NAME: &str = "history-v2.idx";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IndexedCommit {
    pub oid: [u8; 20],
    /// Indexes of the parents that are in the index (a shallow clone's boundary has none).
    pub parents: Vec<u32>,
    pub author: u32,
    /// Author time, unix seconds.
    pub time: i64,
    pub merge: bool,
    /// Path ids the commit added, changed or deleted (empty for merges: their changes are the
    /// merged commits' own).
    pub touched: Vec<u32>,
    /// (old path id, new path id) for each rename the commit made.
    pub renames: Vec<(u32, u32)>,
    /// For a merge, the regular files whose version in it no parent has (its resolutions):
    /// where line ownership passes through the merge itself.
    pub resolved: Vec<u32>,
}

/// How far [`HistoryIndex::extend_to`] got: every commit (and how many it added), or it stopped
/// at its deadline after adding some.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Extended {
    Done(usize),
    Stopped(usize),
}

/// Which indexed commits a change may see, and their ancestry: what following a file's
/// history back through renames asks.
pub trait Lineage {
    /// Whether commit `c` is history of the change (an ancestor of its base, or the base).
    fn visible(&self, c: u32) -> bool;
    /// Whether commit `a` is `b` or an ancestor of it (both visible).
    fn is_ancestor(&self, a: u32, b: u32) -> bool;
}

/// The history of one commit of the index: what is reachable from it, and from the few rename
/// commits a file's history goes through (each worked out once, when first asked).
pub struct ReachableFrom<'i> {
    index: &'i HistoryIndex,
    visible: Vec<bool>,
    from_renames: std::cell::RefCell<HashMap<u32, Vec<bool>>>,
}

impl<'i> ReachableFrom<'i> {
    pub fn new(index: &'i HistoryIndex, tip: u32) -> ReachableFrom<'i> {
        ReachableFrom {
            index,
            visible: index.reachable_from(tip),
            from_renames: Default::default(),
        }
    }

    /// The same view for another thread (what it learns of renames is its own).
    pub fn fork(&self) -> ReachableFrom<'i> {
        ReachableFrom {
            index: self.index,
            visible: self.visible.clone(),
            from_renames: Default::default(),
        }
    }
}

impl Lineage for ReachableFrom<'_> {
    fn visible(&self, c: u32) -> bool {
        self.visible.get(c as usize).copied().unwrap_or(false)
    }

    fn is_ancestor(&self, a: u32, b: u32) -> bool {
        if a == b {
            return true;
        }
        if a > b {
            return false; // parents are indexed before their children
        }
        let mut cache = self.from_renames.borrow_mut();
        let reach = cache
            .entry(b)
            .or_insert_with(|| self.index.reachable_from(b));
        reach.get(a as usize).copied().unwrap_or(false)
    }
}

/// A commit to add to the index whose diff the caller already has ([`HistoryIndex::push_commit`]).
pub struct NewCommit<'a> {
    pub oid: Oid,
    /// Parent oids; those not indexed are left out.
    pub parents: &'a [Oid],
    pub author_key: String,
    pub time: i64,
    pub merge: bool,
    /// Paths as `add_commit` records them: a rename's new path, a deletion's old one.
    pub touched: &'a [&'a str],
    /// (old, new) of each rename.
    pub renames: &'a [(&'a str, &'a str)],
    /// A merge's resolutions.
    pub resolved: &'a [&'a str],
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Stored {
    format: u32,
    /// Content of `<git-dir>/shallow` when built: if the clone is deepened, parents change.
    shallow: String,
    commits: Vec<IndexedCommit>,
    /// Author identities: lower-cased e-mail.
    authors: Vec<String>,
    paths: Vec<String>,
}

/// The index in memory, with the lookups scoring needs.
#[derive(Debug, Default)]
pub struct HistoryIndex {
    stored: Stored,
    by_oid: HashMap<Oid, u32>,
    by_path: HashMap<String, u32>,
    by_author: HashMap<String, u32>,
    /// Path id → commits that touched it, in index order (parents before children).
    touches: Vec<Vec<u32>>,
    /// Path id → merges that resolved it, in index order.
    resolutions: Vec<Vec<u32>>,
    /// Author id → their non-merge commits.
    author_commits: Vec<Vec<u32>>,
    /// New path id → (commit, old path id) of renames into it.
    renamed_into: HashMap<u32, Vec<(u32, u32)>>,
    location: Option<PathBuf>,
    dirty: bool,
}

/// Lower-cased e-mail, or the name when a commit has no e-mail: how authors are told apart.
pub fn author_key(sig: &git2::Signature<'_>) -> String {
    let email = String::from_utf8_lossy(sig.email_bytes())
        .trim()
        .to_lowercase();
    if email.is_empty() {
        String::from_utf8_lossy(sig.name_bytes()).trim().to_string()
    } else {
        email
    }
}

pub fn path_string(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn shallow_marker(repo: &Repository) -> String {
    std::fs::read_to_string(repo.path().join("shallow")).unwrap_or_default()
}

impl HistoryIndex {
    /// Load the index of `repo` (an empty one when there is none, or it is stale or unreadable).
    pub fn open(repo: &Repository) -> HistoryIndex {
        let location = repo.path().join("riskgate").join(FILE_NAME);
        let shallow = shallow_marker(repo);
        let stored = match std::fs::read(&location) {
            Ok(bytes) => match postcard::from_bytes::<Stored>(&bytes) {
                Ok(s) if s.format == FORMAT && s.shallow == shallow => Some(s),
                Ok(_) => {
                    tracing::info!(path = %location.display(), "history index is stale; rebuilding");
                    None
                }
                Err(e) => {
                    tracing::warn!(path = %location.display(), error = %e, "history index unreadable; rebuilding");
                    None
                }
            },
            Err(_) => None,
        };
        let mut index = HistoryIndex::from_stored(stored.unwrap_or(Stored {
            format: FORMAT,
            shallow,
            ..Stored::default()
        }));
        index.location = Some(location);
        index
    }

    /// An index kept only in memory (nothing is read or written).
    pub fn in_memory() -> HistoryIndex {
        HistoryIndex::from_stored(Stored {
            format: FORMAT,
            ..Stored::default()
        })
    }

    fn from_stored(stored: Stored) -> HistoryIndex {
        let by_path = stored
            .paths
            .iter()
            .enumerate()
            .map(|(i, p)| (p.clone(), i as u32))
            .collect();
        let by_author = stored
            .authors
            .iter()
            .enumerate()
            .map(|(i, a)| (a.clone(), i as u32))
            .collect();
        let mut index = HistoryIndex {
            by_path,
            by_author,
            touches: vec![Vec::new(); stored.paths.len()],
            resolutions: vec![Vec::new(); stored.paths.len()],
            author_commits: vec![Vec::new(); stored.authors.len()],
            stored,
            ..HistoryIndex::default()
        };
        for i in 0..index.stored.commits.len() {
            index.link(i as u32);
        }
        index
    }

    /// Add the lookups for commit `i` (already in `stored.commits`).
    fn link(&mut self, i: u32) {
        let c = &self.stored.commits[i as usize];
        self.by_oid
            .insert(Oid::from_bytes(&c.oid).expect("20-byte oid"), i);
        if !c.merge {
            self.author_commits[c.author as usize].push(i);
        }
        for &p in &c.touched {
            self.touches[p as usize].push(i);
        }
        for &p in &c.resolved {
            self.resolutions[p as usize].push(i);
        }
        for &(old, new) in &c.renames {
            self.renamed_into.entry(new).or_default().push((i, old));
        }
    }

    fn intern_path(&mut self, path: String) -> u32 {
        if let Some(&id) = self.by_path.get(&path) {
            return id;
        }
        let id = self.stored.paths.len() as u32;
        self.by_path.insert(path.clone(), id);
        self.stored.paths.push(path);
        self.touches.push(Vec::new());
        self.resolutions.push(Vec::new());
        id
    }

    fn intern_author(&mut self, key: String) -> u32 {
        if let Some(&id) = self.by_author.get(&key) {
            return id;
        }
        let id = self.stored.authors.len() as u32;
        self.by_author.insert(key.clone(), id);
        self.stored.authors.push(key);
        self.author_commits.push(Vec::new());
        id
    }

    pub fn len(&self) -> usize {
        self.stored.commits.len()
    }

    /// Where the index is kept; `None` for one kept only in memory.
    pub fn location(&self) -> Option<&Path> {
        self.location.as_deref()
    }

    /// The shallow clone's boundary the index was built on (empty for a whole clone).
    pub fn shallow_boundary(&self) -> &str {
        &self.stored.shallow
    }

    pub fn is_empty(&self) -> bool {
        self.stored.commits.is_empty()
    }

    pub fn commit(&self, i: u32) -> &IndexedCommit {
        &self.stored.commits[i as usize]
    }

    pub fn lookup(&self, oid: Oid) -> Option<u32> {
        self.by_oid.get(&oid).copied()
    }

    pub fn author_id(&self, key: &str) -> Option<u32> {
        self.by_author.get(key).copied()
    }

    /// The commits `ids` as the pure signals see them: who and when.
    pub fn touches(&self, ids: &[u32]) -> Vec<crate::features::Touch> {
        ids.iter()
            .map(|&c| {
                let ic = self.commit(c);
                crate::features::Touch {
                    commit: c,
                    author: ic.author,
                    time: ic.time,
                }
            })
            .collect()
    }

    /// The identity (lower-cased e-mail, or name) of author `id`.
    pub fn author_key_of(&self, id: u32) -> &str {
        &self.stored.authors[id as usize]
    }

    pub fn path(&self, id: u32) -> &str {
        &self.stored.paths[id as usize]
    }

    pub fn commits_of_author(&self, author: u32) -> &[u32] {
        &self.author_commits[author as usize]
    }

    /// Make sure every commit reachable from `tip` is indexed, walking only the new ones.
    /// Past `deadline` it stops between two commits with [`Extended::Stopped`]: what was added
    /// is whole (every commit's parents are in), so the next run goes on from there.
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
        let git_renames = if new.is_empty() {
            None
        } else {
            match super::renames::of_history(repo.path(), &[tip], &hide, deadline) {
                Ok(by_commit) => Some(by_commit),
                Err(super::renames::RenameError::TimedOut) => return Ok(Extended::Stopped(0)),
                Err(e) => {
                    tracing::warn!(error = %e, "renames from libgit2's detection instead of git's");
                    None
                }
            }
        };
        let progress = progress_bar(new.len());
        let mut diff_opts = DiffOptions::new();
        diff_opts.ignore_submodules(false).include_typechange(true);
        let mut objects = super::ObjectCache::default();
        for (n, oid) in new.iter().enumerate() {
            if n % 64 == 0 && deadline.is_some_and(|d| std::time::Instant::now() >= d) {
                if let Some(bar) = progress {
                    bar.finish_and_clear();
                }
                self.dirty |= n > 0;
                return Ok(Extended::Stopped(n));
            }
            let commit = repo.find_commit(*oid)?;
            self.add_commit(
                repo,
                &commit,
                &mut diff_opts,
                &mut objects,
                git_renames.as_ref(),
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
        if !new.is_empty() {
            self.dirty = true;
        }
        Ok(Extended::Done(new.len()))
    }

    /// Add a commit whose diff the caller already has (the miner's single pass). Returns its
    /// index.
    pub fn push_commit(&mut self, new: NewCommit<'_>) -> u32 {
        let parents = new
            .parents
            .iter()
            .filter_map(|p| self.by_oid.get(p).copied())
            .collect();
        let author = self.intern_author(new.author_key);
        let mut seen = HashSet::new();
        let mut ids = Vec::with_capacity(new.touched.len());
        for p in new.touched {
            let id = self.intern_path((*p).to_string());
            if seen.insert(id) {
                ids.push(id);
            }
        }
        let renames = new
            .renames
            .iter()
            .map(|(o, n)| {
                (
                    self.intern_path((*o).to_string()),
                    self.intern_path((*n).to_string()),
                )
            })
            .collect();
        let resolved = new
            .resolved
            .iter()
            .map(|p| self.intern_path((*p).to_string()))
            .collect();
        let mut raw = [0u8; 20];
        raw.copy_from_slice(&new.oid.as_bytes()[..20]);
        self.stored.commits.push(IndexedCommit {
            oid: raw,
            parents,
            author,
            time: new.time,
            merge: new.merge,
            touched: if new.merge { Vec::new() } else { ids },
            renames,
            resolved,
        });
        let i = (self.stored.commits.len() - 1) as u32;
        self.link(i);
        i
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
        diff_opts: &mut DiffOptions,
        objects: &mut super::ObjectCache,
        git_renames: Option<&HashMap<Oid, super::renames::RenamePairs>>,
    ) -> Result<(), git2::Error> {
        let parents: Vec<u32> = commit
            .parent_ids()
            .filter_map(|p| self.by_oid.get(&p).copied())
            .collect();
        let merge = commit.parent_count() > 1;
        let author = self.intern_author(author_key(&commit.author()));
        let mut touched = Vec::new();
        let mut renames = Vec::new();
        let mut resolved = Vec::new();
        if merge {
            let trees: Option<Vec<Oid>> = commit
                .parent_ids()
                .map(|p| repo.find_commit(p).ok().map(|c| c.tree_id()))
                .collect();
            // A parent outside a shallow clone: what the merge resolved cannot be told.
            if let Some(trees) = trees {
                for (path, _) in super::merge_resolved(repo, objects, &trees, commit.tree_id())? {
                    resolved.push(self.intern_path(path));
                }
            }
        } else if let Some(by_commit) = git_renames {
            // A shallow clone's boundary commit has no parent here: every file looks added.
            let parent = commit
                .parent_ids()
                .next()
                .and_then(|p| repo.find_commit(p).ok())
                .map(|p| p.tree_id());
            let pairs = by_commit.get(&commit.id()).map_or(&[][..], |p| p);
            let paths = super::commit_paths(repo, objects, parent, commit.tree_id(), pairs)?;
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
        } else {
            let parent_tree = match commit.parent_count() {
                0 => None,
                _ => match commit.parent(0) {
                    Ok(p) => Some(p.tree()?),
                    // A shallow clone's boundary commit: its parent is absent, so every file
                    // in it looks added. That is what history can tell us there.
                    Err(_) => None,
                },
            };
            let tree = commit.tree()?;
            let mut diff =
                repo.diff_tree_to_tree(parent_tree.as_ref(), Some(&tree), Some(diff_opts))?;
            diff.find_similar(Some(DiffFindOptions::new().renames(true)))?;
            let mut seen = HashSet::new();
            for delta in diff.deltas() {
                let new_path = delta.new_file().path_bytes().map(path_string);
                let old_path = delta.old_file().path_bytes().map(path_string);
                match delta.status() {
                    Delta::Renamed => {
                        if let (Some(old), Some(new)) = (old_path, new_path) {
                            let (o, n) = (self.intern_path(old), self.intern_path(new));
                            renames.push((o, n));
                            if seen.insert(n) {
                                touched.push(n);
                            }
                        }
                    }
                    Delta::Deleted => {
                        if let Some(old) = old_path {
                            let id = self.intern_path(old);
                            if seen.insert(id) {
                                touched.push(id);
                            }
                        }
                    }
                    _ => {
                        if let Some(new) = new_path.or(old_path) {
                            let id = self.intern_path(new);
                            if seen.insert(id) {
                                touched.push(id);
                            }
                        }
                    }
                }
            }
        }
        let mut oid = [0u8; 20];
        oid.copy_from_slice(&commit.id().as_bytes()[..20]);
        self.stored.commits.push(IndexedCommit {
            oid,
            parents,
            author,
            time: commit.author().when().seconds(),
            merge,
            touched,
            renames,
            resolved,
        });
        let i = (self.stored.commits.len() - 1) as u32;
        self.link(i);
        Ok(())
    }

    /// Write the index back if it grew. Failure to write (a read-only repository) only costs
    /// the next run a rebuild, so it is reported, not fatal.
    pub fn save(&mut self) {
        if !self.dirty {
            return;
        }
        let Some(location) = self.location.clone() else {
            return;
        };
        match write_atomically(&location, &self.stored) {
            Ok(()) => self.dirty = false,
            Err(e) => {
                tracing::warn!(path = %location.display(), error = %e, "could not save the history index")
            }
        }
    }

    /// Which indexed commits are reachable from `tip` (inclusive): the history a change may see.
    pub fn reachable_from(&self, tip: u32) -> Vec<bool> {
        let mut seen = vec![false; self.stored.commits.len()];
        let mut stack = vec![tip];
        while let Some(i) = stack.pop() {
            if std::mem::replace(&mut seen[i as usize], true) {
                continue;
            }
            stack.extend(self.stored.commits[i as usize].parents.iter().copied());
        }
        seen
    }

    /// The names a file called `path` had, following renames back in time: (path id, the
    /// rename into a later name that this name's commits must be ancestors of; None for
    /// `path` itself). A rename is followed only into its own ancestors, so the walk goes
    /// strictly back through history and ends, however the renames go round (A→B→A, one
    /// rename on two branches); the result does not depend on the order commits were indexed.
    fn names(&self, path: &str, history: &impl Lineage) -> Vec<(u32, Option<u32>)> {
        let Some(&start) = self.by_path.get(path) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        let mut seen = HashSet::new();
        let mut pending = vec![(start, None)];
        while let Some((p, bound)) = pending.pop() {
            if !seen.insert((p, bound)) {
                continue;
            }
            out.push((p, bound));
            if let Some(renames) = self.renamed_into.get(&p) {
                for &(c, old) in renames {
                    let follows = match bound {
                        None => history.visible(c),
                        Some(r) => c != r && history.is_ancestor(c, r),
                    };
                    if follows {
                        pending.push((old, Some(c)));
                    }
                }
            }
        }
        out
    }

    /// Commits of `table` (per path) under the names `path` had, with the name each was
    /// found under, oldest first (a commit found under two names keeps the newer name).
    fn under_names(
        &self,
        path: &str,
        table: &[Vec<u32>],
        history: &impl Lineage,
    ) -> Vec<(u32, u32)> {
        let names = self.names(path, history);
        let mut out: Vec<(u32, u32)> = Vec::new();
        for &(p, bound) in &names {
            out.extend(
                table[p as usize]
                    .iter()
                    .copied()
                    .filter(|&c| match bound {
                        None => history.visible(c),
                        Some(r) => c != r && history.is_ancestor(c, r),
                    })
                    .map(|c| (c, p)),
            );
        }
        if names.len() > 1 {
            // One commit can change the file under two of its names (two files then, that a
            // later rename made one lineage): both changes are steps of its history.
            out.sort_unstable();
            out.dedup();
        }
        out
    }

    /// The commits (per `history`) that touched the file at `path`, renames followed back to
    /// earlier names, oldest first.
    pub fn file_history(&self, path: &str, history: &impl Lineage) -> Vec<u32> {
        let mut commits: Vec<u32> = self
            .under_names(path, &self.touches, history)
            .into_iter()
            .map(|(c, _)| c)
            .collect();
        commits.dedup();
        commits
    }

    /// What line ownership replays for the file at `path`: the commits of its history and the
    /// merges that resolved it, each with the file's name there, oldest first.
    pub fn file_steps(&self, path: &str, history: &impl Lineage) -> Vec<(u32, u32)> {
        let mut steps = self.under_names(path, &self.touches, history);
        let resolved = self.under_names(path, &self.resolutions, history);
        if !resolved.is_empty() {
            steps.extend(resolved);
            steps.sort_unstable();
            steps.dedup();
        }
        steps
    }

    /// The path the file called `name` right after commit `c` had in c's parent: the source
    /// of a rename `c` made into it, else the same.
    pub fn name_before(&self, name: &str, commit: u32) -> String {
        self.by_path
            .get(name)
            .and_then(|id| self.renamed_into.get(id))
            .and_then(|r| r.iter().find(|(c, _)| *c == commit))
            .map_or_else(|| name.to_string(), |&(_, old)| self.path(old).to_string())
    }
}

fn write_atomically(location: &Path, stored: &Stored) -> std::io::Result<()> {
    let dir = location.parent().expect("index path has a parent");
    std::fs::create_dir_all(dir)?;
    let bytes = postcard::to_stdvec(stored).map_err(std::io::Error::other)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    std::io::Write::write_all(&mut tmp, &bytes)?;
    tmp.persist(location).map_err(|e| e.error)?;
    Ok(())
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

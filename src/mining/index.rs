//! The history index: which commit touched which paths, by whom and when, for every commit
//! reachable from the revisions scored so far.
//!
//! It is built by one walk over history and kept in `<git-dir>/riskgate/history-v1.idx`.
//! Later runs load it and walk only the commits it does not have yet, so the cost of scoring a
//! change grows with the change and the history of its files, not with the whole history.

use std::collections::{HashMap, HashSet};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use git2::{Delta, DiffFindOptions, DiffOptions, Oid, Repository, Sort};
use serde::{Deserialize, Serialize};

const FORMAT: u32 = 1;
const FILE_NAME: &str = "history-v1.idx";

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
    pub fn extend_to(&mut self, repo: &Repository, tip: Oid) -> Result<usize, git2::Error> {
        if self.by_oid.contains_key(&tip) {
            return Ok(0);
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
        let progress = progress_bar(new.len());
        let mut diff_opts = DiffOptions::new();
        diff_opts.ignore_submodules(false).include_typechange(true);
        for (n, oid) in new.iter().enumerate() {
            let commit = repo.find_commit(*oid)?;
            self.add_commit(repo, &commit, &mut diff_opts)?;
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
        Ok(new.len())
    }

    /// Add a commit whose diff the caller already has (the miner's single pass): `touched`
    /// paths as `add_commit` records them (a rename's new path, a deletion's old one) and
    /// `(old, new)` renames. Parents are oids; those not indexed are left out. Returns its index.
    pub fn push_commit(
        &mut self,
        oid: Oid,
        parents: &[Oid],
        author_key: String,
        time: i64,
        merge: bool,
        touched: &[&str],
        renames: &[(&str, &str)],
    ) -> u32 {
        let parents = parents
            .iter()
            .filter_map(|p| self.by_oid.get(p).copied())
            .collect();
        let author = self.intern_author(author_key);
        let mut seen = HashSet::new();
        let mut ids = Vec::with_capacity(touched.len());
        for p in touched {
            let id = self.intern_path((*p).to_string());
            if seen.insert(id) {
                ids.push(id);
            }
        }
        let renames = renames
            .iter()
            .map(|(o, n)| {
                (
                    self.intern_path((*o).to_string()),
                    self.intern_path((*n).to_string()),
                )
            })
            .collect();
        let mut raw = [0u8; 20];
        raw.copy_from_slice(&oid.as_bytes()[..20]);
        self.stored.commits.push(IndexedCommit {
            oid: raw,
            parents,
            author,
            time,
            merge,
            touched: if merge { Vec::new() } else { ids },
            renames,
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
    ) -> Result<(), git2::Error> {
        let parents: Vec<u32> = commit
            .parent_ids()
            .filter_map(|p| self.by_oid.get(&p).copied())
            .collect();
        let merge = commit.parent_count() > 1;
        let author = self.intern_author(author_key(&commit.author()));
        let mut touched = Vec::new();
        let mut renames = Vec::new();
        if !merge {
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

    /// The commits (reachable per `visible`) that touched the file at `path`, following renames
    /// back to earlier names. Each rename is followed only into commits older than it.
    pub fn file_history(&self, path: &str, visible: &[bool]) -> Vec<u32> {
        self.file_history_where(path, |c| visible[c as usize])
    }

    /// `file_history` with visibility given by a predicate on commit indexes (the miner asks
    /// "is it an ancestor of the parent?" without a table per commit).
    pub fn file_history_where(&self, path: &str, visible: impl Fn(u32) -> bool) -> Vec<u32> {
        let Some(&start) = self.by_path.get(path) else {
            return Vec::new();
        };
        if !self.renamed_into.contains_key(&start) {
            // No rename to follow: the path's own commits, already in order and distinct.
            return self.touches[start as usize]
                .iter()
                .copied()
                .filter(|&c| visible(c))
                .collect();
        }
        let mut out = Vec::new();
        let mut seen_commits = HashSet::new();
        // (path id, only commits before this index)
        let mut pending = vec![(start, u32::MAX)];
        let mut seen_paths = HashSet::new();
        while let Some((p, before)) = pending.pop() {
            if !seen_paths.insert((p, before)) || seen_paths.len() > 64 {
                continue;
            }
            for &c in &self.touches[p as usize] {
                if c < before && visible(c) && seen_commits.insert(c) {
                    out.push(c);
                }
            }
            if let Some(renames) = self.renamed_into.get(&p) {
                for &(c, old) in renames {
                    if c < before && visible(c) {
                        pending.push((old, c));
                    }
                }
            }
        }
        out.sort_unstable();
        out
    }

    /// The path a file had at commit `c`, following the renames `file_history` followed.
    pub fn path_at(&self, path: &str, commit: u32) -> String {
        let Some(&start) = self.by_path.get(path) else {
            return path.to_string();
        };
        let mut current = start;
        loop {
            // The newest rename into `current` that happened after `commit`.
            let next = self
                .renamed_into
                .get(&current)
                .into_iter()
                .flatten()
                .filter(|(c, _)| *c > commit)
                .max_by_key(|(c, _)| *c);
            match next {
                Some(&(_, old)) if old != current => current = old,
                _ => return self.path(current).to_string(),
            }
        }
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

//! The history index: which commit touched which paths, by whom and when, for every commit
//! reachable from the revisions scored so far.
//!
//! It is built by one walk over history and kept in `<git-dir>/riskgate/history-v<FORMAT>.idx`.
//! Later runs load it and walk only the commits it does not have yet, so the cost of scoring a
//! change grows with the change and the history of its files, not with the whole history.

mod extend;
mod git_ahead;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use git2::{Oid, Repository};
use serde::{Deserialize, Serialize};

use super::identity::{committed_mailmap, Identities};

/// The index is kept in `history-v<FORMAT>.idx`; files of older formats are removed when the
/// index is opened, since nothing reads them again. (v7: a checksum follows the index; v8: the
/// parents left out are kept; v9: whether the clone was partial; v10: renames found among up
/// to 7,000 files of a commit, where v9's were among git's default 1,000; v11: without git,
/// libgit2 compares every pair of files as git does, where it stopped at the 201st; v12: a
/// merge that changes only a file's mode resolves nothing, and without git files of identical
/// content are paired past the limit of pairs; v13: authors and the `.mailmap` read as git reads
/// them.)
const FORMAT: u32 = 13;

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
    /// (old path id, new path id) for each rename the commit made; for a merge, the renames
    /// into its resolutions from a parent that lacks them ([`crate::mining::MergeFiles::renames`]).
    pub renames: Vec<(u32, u32)>,
    /// For a merge, the regular files whose version in it no parent has (its resolutions):
    /// where line ownership passes through the merge itself.
    pub resolved: Vec<u32>,
    /// For a merge whose parents are all indexed, every path whose version in it is not the
    /// first parent's (what the other branches brought, and its resolutions): git blame's
    /// way through the merge keeps to the first parent for any other path, with no tree read.
    /// `None` for other commits, and for a merge with a parent beyond a shallow cut.
    pub unlike_first_parent: Option<Vec<u32>>,
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
    /// The commit whose history this is, when it is one commit's.
    fn tip(&self) -> Option<u32>;
}

/// Most rename commits whose ancestors a [`ReachableFrom`] keeps at once.
const MOST_RENAME_REACHES: usize = 256;

/// Most names (a path, and the rename it must precede) a file's history follows. A file has a
/// handful; one renamed back and forth through 20,000 commits had one per rename, and each
/// name's commits were gathered again for every later rename: 8 s and gigabytes for one file.
const MOST_NAMES: usize = 256;

/// The history of one commit of the index: what is reachable from it, and from the few rename
/// commits a file's history goes through (each worked out once, when first asked).
pub struct ReachableFrom<'i> {
    index: &'i HistoryIndex,
    tip: u32,
    visible: Vec<bool>,
    from_renames: std::cell::RefCell<HashMap<u32, Vec<bool>>>,
}

impl<'i> ReachableFrom<'i> {
    pub fn new(index: &'i HistoryIndex, tip: u32) -> ReachableFrom<'i> {
        ReachableFrom {
            index,
            tip,
            visible: index.reachable_from(tip),
            from_renames: Default::default(),
        }
    }

    /// The same view for another thread (what it learns of renames is its own).
    pub fn fork(&self) -> ReachableFrom<'i> {
        ReachableFrom {
            index: self.index,
            tip: self.tip,
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
        // Each answer holds a flag per commit of the index: a file renamed back and forth
        // through 20,000 commits would hold 3 GB of them. Past a few hundred they are dropped
        // and worked out again as asked.
        if cache.len() >= MOST_RENAME_REACHES && !cache.contains_key(&b) {
            cache.clear();
        }
        let reach = cache
            .entry(b)
            .or_insert_with(|| self.index.reachable_from(b));
        reach.get(a as usize).copied().unwrap_or(false)
    }

    fn tip(&self) -> Option<u32> {
        Some(self.tip)
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
    /// (old, new) of each rename of a commit that is not a merge.
    pub renames: &'a [(&'a str, &'a str)],
    /// A merge's renames, resolutions and paths unlike its first parent's, when all its
    /// parents could be read.
    pub merge_files: Option<&'a crate::mining::MergeFiles>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Stored {
    format: u32,
    /// Content of `<git-dir>/shallow` when built: if the clone is deepened, parents change.
    shallow: String,
    /// The `.mailmap` authors were told apart by ([`Identities::fingerprint`]): if it
    /// changes, so do the authors.
    mailmap: String,
    /// Built in a partial clone, whose renames were paired without git ([`renames::of_history`]
    /// is not asked there): once the clone has every object, the index is built again.
    ///
    /// [`renames::of_history`]: crate::mining::renames::of_history
    partial: bool,
    commits: Vec<IndexedCommit>,
    /// Author identities: lower-cased e-mail.
    authors: Vec<String>,
    paths: Vec<String>,
    /// (commit, parent id) for each parent a commit has outside the index: past a shallow
    /// clone's cut, or a commit libgit2 could not parse. Kept so that every score whose history
    /// ends there can say so, not only the one that indexed it.
    missing_parents: Vec<(u32, [u8; 20])>,
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
    /// The `.mailmap` that tells this index's authors apart (empty: none). Kept as text, as
    /// libgit2's parsed form cannot be shared between threads.
    mailmap: Vec<u8>,
    /// The blob id of a committed `.mailmap` the repository lacks (a partial clone).
    absent_mailmap: Option<Oid>,
    location: Option<PathBuf>,
    dirty: bool,
}

/// A commit id as the index stores it.
fn raw_id(oid: Oid) -> [u8; 20] {
    let mut raw = [0u8; 20];
    raw.copy_from_slice(&oid.as_bytes()[..20]);
    raw
}

/// What an index built with this `.mailmap` records of it ([`Identities::fingerprint`]).
fn mailmap_fingerprint(mailmap: &[u8]) -> String {
    Identities::from_mailmap(mailmap).fingerprint().to_string()
}

fn shallow_marker(repo: &Repository) -> String {
    std::fs::read_to_string(repo.path().join("shallow")).unwrap_or_default()
}

impl HistoryIndex {
    /// Load the index of `repo` (an empty one when there is none, or it is stale or unreadable).
    pub fn open(repo: &Repository) -> HistoryIndex {
        let folder = repo.path().join("riskgate");
        for older in 1..FORMAT {
            // Only disk space is at stake: if it cannot go now, it is tried again next time.
            let _ = std::fs::remove_file(folder.join(format!("history-v{older}.idx")));
        }
        let location = folder.join(format!("history-v{FORMAT}.idx"));
        let shallow = shallow_marker(repo);
        let committed = committed_mailmap(repo);
        let absent_mailmap = committed.absent();
        let mailmap = committed.into_content();
        let fingerprint = mailmap_fingerprint(&mailmap);
        let partial = super::repo::is_partial_clone(repo.path());
        let stored = match std::fs::read(&location) {
            Ok(bytes) => match read_checked(&bytes) {
                Ok(s)
                    if s.format == FORMAT
                        && s.shallow == shallow
                        && s.mailmap == fingerprint
                        && s.partial == partial =>
                {
                    Some(s)
                }
                Ok(_) => {
                    tracing::info!(path = %location.display(), "history index is stale; rebuilding");
                    None
                }
                Err(why) => {
                    tracing::warn!(path = %location.display(), why, "history index damaged; rebuilding");
                    None
                }
            },
            Err(_) => None,
        };
        let mut index = HistoryIndex::from_stored(stored.unwrap_or(Stored {
            format: FORMAT,
            shallow,
            mailmap: fingerprint,
            partial,
            ..Stored::default()
        }));
        index.mailmap = mailmap;
        index.absent_mailmap = absent_mailmap;
        index.location = Some(location);
        index
    }

    /// An index kept only in memory (nothing is read or written), its authors told apart by
    /// e-mail alone.
    pub fn in_memory() -> HistoryIndex {
        HistoryIndex::in_memory_with(Vec::new())
    }

    /// An index kept only in memory whose authors a `.mailmap` of this content tells apart.
    pub fn in_memory_with(mailmap: Vec<u8>) -> HistoryIndex {
        let mut index = HistoryIndex::from_stored(Stored {
            format: FORMAT,
            mailmap: mailmap_fingerprint(&mailmap),
            ..Stored::default()
        });
        index.mailmap = mailmap;
        index
    }

    /// Whether the index was built in a partial clone (it is rebuilt when that changes, so this
    /// is whether the clone is partial now).
    pub fn built_in_partial_clone(&self) -> bool {
        self.stored.partial
    }

    /// The blob id of the committed `.mailmap`, when the repository lacks its content: authors
    /// are then told apart by e-mail alone.
    pub fn absent_mailmap(&self) -> Option<Oid> {
        self.absent_mailmap
    }

    /// How this index tells commit authors apart: every author key given to it must come
    /// from these.
    pub fn identities(&self) -> Identities {
        Identities::from_mailmap(&self.mailmap)
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

    /// Give merge `i`, indexed before git had answered for it, its renames (as
    /// [`HistoryIndex::link`] would have taken them in).
    fn set_merge_renames(&mut self, i: u32, renames: Vec<(String, String)>) {
        let ids: Vec<(u32, u32)> = renames
            .into_iter()
            .map(|(old, new)| (self.intern_path(old), self.intern_path(new)))
            .collect();
        for &(old, new) in &ids {
            // In index order, as linking each commit in turn leaves them.
            let into = self.renamed_into.entry(new).or_default();
            let at = into.partition_point(|&(c, _)| c <= i);
            into.insert(at, (i, old));
        }
        self.stored.commits[i as usize].renames = ids;
    }

    /// Forget commit `first` and every commit indexed after it.
    fn forget_from(&mut self, first: u32) {
        let mut kept = std::mem::take(self);
        kept.stored.commits.truncate(first as usize);
        kept.stored.missing_parents.retain(|&(c, _)| c < first);
        *self = HistoryIndex {
            mailmap: kept.mailmap,
            absent_mailmap: kept.absent_mailmap,
            location: kept.location,
            dirty: kept.dirty,
            ..HistoryIndex::from_stored(kept.stored)
        };
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

    /// The indexes of `parents` that are in the index; the others are kept as the parents
    /// left out of the commit about to be added.
    fn indexed_parents(&mut self, parents: impl IntoIterator<Item = Oid>) -> Vec<u32> {
        let child = self.stored.commits.len() as u32;
        let mut indexed = Vec::new();
        for p in parents {
            match self.by_oid.get(&p) {
                Some(&i) => indexed.push(i),
                None => self.stored.missing_parents.push((child, raw_id(p))),
            }
        }
        indexed
    }

    /// The commits `repo` holds but libgit2 cannot parse that `history` ends at: parents left
    /// out of its commits that are not past a shallow cut.
    pub fn unreadable_behind(
        &self,
        repo: &Repository,
        history: &impl Lineage,
    ) -> crate::mining::UnreadableCommits {
        let mut unreadable = crate::mining::UnreadableCommits::default();
        let mut seen = std::collections::HashSet::new();
        for (child, parent) in &self.stored.missing_parents {
            if !history.visible(*child) || !seen.insert(*parent) {
                continue;
            }
            let Ok(id) = Oid::from_bytes(parent) else {
                continue;
            };
            if let Err(e) = repo.find_commit(id) {
                unreadable.note(repo, id, &e);
            }
        }
        unreadable
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

    pub fn path_id(&self, path: &str) -> Option<u32> {
        self.by_path.get(path).copied()
    }

    pub fn path(&self, id: u32) -> &str {
        &self.stored.paths[id as usize]
    }

    pub fn commits_of_author(&self, author: u32) -> &[u32] {
        &self.author_commits[author as usize]
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
    /// At most [`MOST_NAMES`] are followed.
    fn names(&self, path: &str, history: &impl Lineage) -> Vec<(u32, Option<u32>)> {
        let Some(&start) = self.by_path.get(path) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        let mut seen = HashSet::new();
        let mut pending = vec![(start, None)];
        while let Some((p, bound)) = pending.pop() {
            if out.len() == MOST_NAMES {
                break;
            }
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

    /// The name `path` has had in all of `history`, when no rename into it is history: all
    /// the file's commits are then those of [`HistoryIndex::touches_under`] that `history` sees.
    pub fn only_name(&self, path: &str, history: &impl Lineage) -> Option<u32> {
        match self.names(path, history).as_slice() {
            [(p, None)] => Some(*p),
            _ => None,
        }
    }

    /// Every commit indexed so far that touched a file under the name `p`, oldest first.
    pub fn touches_under(&self, p: u32) -> &[u32] {
        &self.touches[p as usize]
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

/// The index a file holds, if it is whole and sound. The file is the index and the CRC-32 of
/// it (4 bytes, little-endian): a file damaged on disk or cut short is rebuilt, not read.
/// One whose checksum holds is still checked for ids that point nowhere, which would otherwise
/// panic or loop.
fn read_checked(bytes: &[u8]) -> Result<Stored, String> {
    let split = bytes
        .len()
        .checked_sub(4)
        .ok_or("shorter than its checksum")?;
    let (body, sum) = bytes.split_at(split);
    if crc32fast::hash(body).to_le_bytes() != sum {
        return Err("its checksum does not match".into());
    }
    let stored: Stored = postcard::from_bytes(body).map_err(|e| e.to_string())?;
    stored.check()?;
    Ok(stored)
}

impl Stored {
    /// Every id names a path, author or earlier commit of the index (a commit's parents come
    /// before it, so following parents always ends).
    fn check(&self) -> Result<(), String> {
        let paths = self.paths.len() as u32;
        for (at, c) in self.commits.iter().enumerate() {
            let path_ids = c
                .touched
                .iter()
                .chain(&c.resolved)
                .chain(c.unlike_first_parent.iter().flatten())
                .chain(c.renames.iter().flat_map(|(old, new)| [old, new]));
            if c.author as usize >= self.authors.len()
                || c.parents.iter().any(|&p| p as usize >= at)
                || path_ids.into_iter().any(|&p| p >= paths)
            {
                return Err(format!(
                    "commit {at} names a path, author or parent it does not hold"
                ));
            }
        }
        if let Some((c, _)) = self
            .missing_parents
            .iter()
            .find(|(c, _)| *c as usize >= self.commits.len())
        {
            return Err(format!(
                "a parent left out is of commit {c}, which it does not hold"
            ));
        }
        Ok(())
    }
}

fn write_atomically(location: &Path, stored: &Stored) -> std::io::Result<()> {
    let dir = location.parent().expect("index path has a parent");
    std::fs::create_dir_all(dir)?;
    let mut bytes = postcard::to_stdvec(stored).map_err(std::io::Error::other)?;
    bytes.extend_from_slice(&crc32fast::hash(&bytes).to_le_bytes());
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    std::io::Write::write_all(&mut tmp, &bytes)?;
    tmp.persist(location).map_err(|e| e.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The index of the history `stream` (for `git fast-import`) makes on main, and its tip;
    /// the repository lives as long as the first.
    fn indexed(stream: &str) -> (crate::mining::test_repo::TestRepo, HistoryIndex, u32) {
        let dir = crate::mining::test_repo::TestRepo::new();
        dir.fast_import(stream);
        let repo = Repository::open(dir.path()).unwrap();
        let tip = repo.refname_to_id("refs/heads/main").unwrap();
        let mut index = HistoryIndex::in_memory();
        index.extend_to(&repo, tip, None).unwrap();
        let tip = index.lookup(tip).unwrap();
        (dir, index, tip)
    }

    /// Asked of more rename commits than it keeps, the view drops what it kept and works it
    /// out again: it never holds more than its bound, and every answer stays right.
    #[test]
    fn the_reaches_kept_are_bounded_and_answers_stay_right() {
        const COMMITS: usize = MOST_RENAME_REACHES * 2 + 10;
        let mut stream = String::new();
        for i in 1..=COMMITS {
            let text = format!("{i}\n");
            stream.push_str(&format!(
                "commit refs/heads/main\ncommitter a <a@example.com> {i} +0000\ndata 1\nc\n\
                 M 100644 inline f.txt\ndata {}\n{text}\n",
                text.len()
            ));
        }
        let (_dir, index, tip) = indexed(&stream);
        let view = ReachableFrom::new(&index, tip);
        let last = (COMMITS - 1) as u32;
        for b in 1..=last {
            assert!(view.is_ancestor(b - 1, b) && view.is_ancestor(0, b));
            assert!(!view.is_ancestor(b, b - 1));
            assert!(view.from_renames.borrow().len() <= MOST_RENAME_REACHES);
        }
        assert!(view.is_ancestor(0, last) && view.is_ancestor(1, 2));
    }

    /// A file renamed back and forth through more commits than the names a history follows:
    /// its history stops at the last name followed, and holds no commit twice.
    #[test]
    fn a_file_s_history_follows_at_most_its_bound_of_names() {
        const RENAMES: usize = MOST_NAMES * 2;
        let mut stream = String::from(
            "commit refs/heads/main\ncommitter a <a@example.com> 1 +0000\ndata 1\nc\n\
             M 100644 inline A.txt\ndata 2\na\n\n",
        );
        for i in 0..RENAMES {
            let (from, to) = if i % 2 == 0 { ("A", "B") } else { ("B", "A") };
            stream.push_str(&format!(
                "commit refs/heads/main\ncommitter a <a@example.com> {} +0000\ndata 1\nc\n\
                 R {from}.txt {to}.txt\n",
                i + 2
            ));
        }
        let (_dir, index, tip) = indexed(&stream);
        let view = ReachableFrom::new(&index, tip);
        assert_eq!(index.names("A.txt", &view).len(), MOST_NAMES);
        let history = index.file_history("A.txt", &view);
        assert!(history.windows(2).all(|w| w[0] < w[1]), "{history:?}");
        assert!(
            history.len() > MOST_NAMES / 2 && history.len() <= RENAMES + 1,
            "{}",
            history.len()
        );
    }
}

//! git2: resolve the change, diff it, and gather the history its signals need (blocking).

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::rc::Rc;
use std::sync::Arc;

use git2::{
    AttrCheckFlags, Delta, DiffFindOptions, DiffOptions, ErrorCode, FileMode, ObjectType, Oid,
    Patch, Repository,
};
use gix_imara_diff as imara;

use crate::features::{
    directory, subsystem, AuthorCommit, AuthorExperience, BlameTally, ChangeKind, FileChange,
    FileKind, Snapshot,
};

pub mod ancestry;
pub mod index;
pub mod mine;
pub mod mirror;
pub mod owner_store;
pub mod owners;
pub mod pack;
pub mod renames;

use index::{author_key, path_string, HistoryIndex};
use pack::{TreeData, TreeEntryRef};

/// Where a repository keeps its own riskgate settings, read at the base revision.
pub const CONFIG_PATH: &str = ".github/riskgate.yml";

/// Most line diffs spent attributing the touched files' lines to their authors; past it the
/// remaining files are left out of `author_blame_share` (and the tally says how many were used).
pub const ATTRIBUTION_BUDGET: usize = 20_000;

#[derive(Debug, thiserror::Error)]
pub enum MiningError {
    #[error("{path} is not a git repository ({reason})")]
    NotARepository { path: String, reason: String },
    #[error("unknown revision `{rev}`{hint}")]
    UnknownRevision { rev: String, hint: &'static str },
    #[error("the repository has no commits yet")]
    NoCommits,
    #[error("no base given and no default branch found (tried origin/HEAD, main, master, origin/main, origin/master); pass --base")]
    NoDefaultBranch,
    #[error("`{base}` and `{head}` have no common ancestor{hint}")]
    NoMergeBase {
        base: String,
        head: String,
        hint: String,
    },
    #[error("git: {0}")]
    Git(#[from] git2::Error),
    #[error("the change could not be mined within the time allowed")]
    TimedOut,
}

pub fn open_repository(path: &Path) -> Result<Repository, MiningError> {
    Repository::discover(path).map_err(|e| MiningError::NotARepository {
        path: path.display().to_string(),
        reason: e.message().to_string(),
    })
}

fn resolve(repo: &Repository, rev: &str) -> Result<Oid, MiningError> {
    let object = repo.revparse_single(rev).map_err(|e| match e.code() {
        ErrorCode::UnbornBranch if rev == "HEAD" => MiningError::NoCommits,
        ErrorCode::NotFound
        | ErrorCode::Ambiguous
        | ErrorCode::InvalidSpec
        | ErrorCode::UnbornBranch => {
            if rev == "HEAD" && repo.is_empty().unwrap_or(false) {
                MiningError::NoCommits
            } else {
                let hint = if repo.is_shallow() {
                    " (this clone is shallow: its history is cut)"
                } else {
                    ""
                };
                MiningError::UnknownRevision {
                    rev: rev.to_string(),
                    hint,
                }
            }
        }
        _ => MiningError::Git(e),
    })?;
    let commit = object
        .peel_to_commit()
        .map_err(|_| MiningError::UnknownRevision {
            rev: rev.to_string(),
            hint: " (not a commit)",
        })?;
    Ok(commit.id())
}

/// The default branch: origin/HEAD's target, else main or master, local or on origin.
pub fn default_branch(repo: &Repository) -> Option<String> {
    if let Ok(r) = repo.find_reference("refs/remotes/origin/HEAD") {
        if let Some(target) = r.symbolic_target() {
            if repo.find_reference(target).is_ok() {
                return Some(target.trim_start_matches("refs/remotes/").to_string());
            }
        }
    }
    ["main", "master", "origin/main", "origin/master"]
        .into_iter()
        .find(|name| repo.revparse_single(name).is_ok())
        .map(str::to_string)
}

/// The change to mine: `None` picks the defaults (HEAD; merge-base with the default branch).
#[derive(Debug, Clone, Default)]
pub struct ChangeSpec {
    pub base: Option<String>,
    pub head: Option<String>,
    /// Give up with [`MiningError::TimedOut`] once this instant has passed (the App's limit on
    /// one scoring); `None` runs to the end.
    pub deadline: Option<std::time::Instant>,
}

/// A mined change: the snapshot the pure signals are computed from, and facts about it.
#[derive(Debug)]
pub struct MinedChange {
    pub snapshot: Snapshot,
    pub base: Oid,
    pub head: Oid,
    /// The revision the base was taken from (the merge-base of it and head is `base`).
    pub base_from: String,
    /// Text of `.github/riskgate.yml` at the base revision's tip, if there is one.
    pub config: Option<String>,
    pub shallow: bool,
    /// Commits in base..head (merges included).
    pub commits: usize,
    /// Identities (lower-cased e-mail, or name) of everyone who changed the touched files before.
    pub file_authors: Vec<String>,
    /// Commits the history index had to add for this run, and its size after.
    pub indexed_now: usize,
    pub indexed_total: usize,
}

pub fn mine_change(repo: &Repository, spec: &ChangeSpec) -> Result<MinedChange, MiningError> {
    let unborn = repo.is_empty().unwrap_or(false)
        || matches!(repo.head(), Err(e) if e.code() == ErrorCode::UnbornBranch);
    if unborn && spec.head.is_none() {
        return Err(MiningError::NoCommits);
    }
    let head_rev = spec.head.clone().unwrap_or_else(|| "HEAD".to_string());
    let head = resolve(repo, &head_rev)?;
    let base_rev = match &spec.base {
        Some(b) => b.clone(),
        None => default_branch(repo).ok_or(MiningError::NoDefaultBranch)?,
    };
    let base_tip = resolve(repo, &base_rev)?;
    let shallow = repo.is_shallow();
    let base = repo.merge_base(base_tip, head).map_err(|e| {
        if e.code() == ErrorCode::NotFound {
            MiningError::NoMergeBase {
                base: base_rev.clone(),
                head: head_rev.clone(),
                hint: if shallow {
                    ": this clone is shallow and its history is cut; fetch more (git fetch --unshallow)".into()
                } else {
                    String::new()
                },
            }
        } else {
            MiningError::Git(e)
        }
    })?;

    let past_deadline = || {
        spec.deadline
            .is_some_and(|d| std::time::Instant::now() >= d)
    };
    let started = std::time::Instant::now();
    let mut index = HistoryIndex::open(repo);
    let loaded = started.elapsed();
    let indexed_now = match index.extend_to(repo, base, spec.deadline)? {
        index::Extended::Done(n) => n,
        index::Extended::Stopped(_) => {
            // What was indexed is kept: the next attempt goes on from there.
            index.save();
            return Err(MiningError::TimedOut);
        }
    };
    index.save();
    tracing::debug!(?loaded, extended = ?started.elapsed(), indexed_now, total = index.len(), "history index ready");
    let base_idx = index.lookup(base).expect("base was just indexed");
    let history = index::ReachableFrom::new(&index, base_idx);

    let base_commit = repo.find_commit(base)?;
    let head_commit = repo.find_commit(head)?;
    let base_tree = base_commit.tree()?;
    let mut objects = ObjectCache::reading_packs(repo);
    let git_renames = match renames::between(repo.path(), base, head, spec.deadline) {
        Ok(pairs) => Some(pairs),
        Err(renames::RenameError::TimedOut) => return Err(MiningError::TimedOut),
        Err(e) => {
            tracing::warn!(error = %e, "renames from libgit2's detection instead of git's");
            None
        }
    };
    let source = git_renames
        .as_deref()
        .map_or(RenameSource::Libgit2, RenameSource::Git);
    let mut line_diffs = LineDiffs::new(repo);
    let files = diff_trees_cached(
        repo,
        &mut objects,
        base_tree.id(),
        head_commit.tree_id(),
        source,
    )?
    .into_iter()
    .map(|f| f.finish(&mut line_diffs).map(|d| d.file))
    .collect::<Result<Vec<_>, _>>()?;
    tracing::debug!(files = files.len(), elapsed = ?started.elapsed(), "change diffed");

    // The commits of the change itself: messages for FIX, and who wrote it.
    let mut walk = repo.revwalk()?;
    walk.push(head)?;
    walk.hide(base)?;
    let mut commits = 0;
    let mut messages = Vec::new();
    let mut authored: HashMap<String, (usize, String)> = HashMap::new();
    for oid in walk {
        let c = repo.find_commit(oid?)?;
        commits += 1;
        if c.parent_count() > 1 {
            continue;
        }
        messages.push(String::from_utf8_lossy(c.message_bytes()).into_owned());
        let a = c.author();
        let name = String::from_utf8_lossy(a.name_bytes()).into_owned();
        authored.entry(author_key(&a)).or_insert((0, name)).0 += 1;
    }
    // The author is whoever made most of the change's commits; ties go to head's author.
    let head_author = head_commit.author();
    let head_key = author_key(&head_author);
    let (author_key_chosen, author_name) = authored
        .iter()
        .max_by_key(|(k, (n, _))| (*n, **k == head_key))
        .map(|(k, (_, name))| (k.clone(), name.clone()))
        .unwrap_or_else(|| {
            (
                head_key.clone(),
                String::from_utf8_lossy(head_author.name_bytes()).into_owned(),
            )
        });
    let author = index.author_id(&author_key_chosen);

    let file_history_ids: Vec<Vec<u32>> = files
        .iter()
        .map(|f| index.file_history(f.base_path(), &history))
        .collect();
    let file_history = file_history_ids
        .iter()
        .map(|ids| index.touches(ids))
        .collect();

    let mut author_commits = Vec::new();
    let mut author_known_dirs = BTreeSet::new();
    if let Some(a) = author {
        let mut author_paths: BTreeSet<&str> = BTreeSet::new();
        for &c in index.commits_of_author(a) {
            if !index::Lineage::visible(&history, c) {
                continue;
            }
            let ic = index.commit(c);
            author_paths.extend(ic.touched.iter().map(|&p| index.path(p)));
            let subsystems = ic
                .touched
                .iter()
                .map(|&p| subsystem(index.path(p)).to_string())
                .collect();
            author_commits.push(AuthorCommit {
                time: ic.time,
                subsystems,
            });
        }
        let dirs: BTreeSet<&str> = files.iter().map(|f| directory(f.base_path())).collect();
        for dir in dirs {
            let known = if dir.is_empty() {
                author_paths.iter().any(|p| !p.contains('/'))
            } else {
                let prefix = format!("{dir}/");
                author_paths
                    .range(prefix.as_str()..)
                    .next()
                    .is_some_and(|p| p.starts_with(&prefix))
            };
            if known {
                author_known_dirs.insert(dir.to_string());
            }
        }
    }

    let file_authors: Vec<String> = {
        let ids: BTreeSet<u32> = file_history_ids
            .iter()
            .flatten()
            .map(|&c| index.commit(c).author)
            .collect();
        ids.into_iter()
            .map(|a| index.author_key_of(a).to_string())
            .collect()
    };
    tracing::debug!(elapsed = ?started.elapsed(), "history of the touched files gathered");
    if past_deadline() {
        return Err(MiningError::TimedOut);
    }
    let steps: Vec<Vec<(u32, u32)>> = files
        .iter()
        .map(|f| index.file_steps(f.base_path(), &history))
        .collect();
    let blame = attribute_lines(
        repo,
        &index,
        &mut objects,
        &files,
        &history,
        &steps,
        base_tree.id(),
        author,
        spec.deadline,
    )?;
    tracing::debug!(elapsed = ?started.elapsed(), ?blame, "lines attributed");
    if past_deadline() {
        return Err(MiningError::TimedOut);
    }
    let blame = Some(blame);
    // The base branch's own settings, not the merge-base's: the bar in force now.
    let config = read_blob_text(repo, &repo.find_commit(base_tip)?.tree()?, CONFIG_PATH);

    Ok(MinedChange {
        snapshot: Snapshot {
            files,
            messages,
            author_name,
            author,
            change_time: head_author.when().seconds(),
            file_history,
            author_experience: AuthorExperience::Commits(author_commits),
            author_known_dirs,
            blame,
        },
        base,
        head,
        base_from: base_rev,
        config,
        shallow,
        commits,
        file_authors,
        indexed_now,
        indexed_total: index.len(),
    })
}

/// Text of `.github/riskgate.yml` at revision `rev`, if the file exists there.
pub fn config_at(repo: &Repository, rev: &str) -> Result<Option<String>, MiningError> {
    let commit = repo.find_commit(resolve(repo, rev)?)?;
    Ok(read_blob_text(repo, &commit.tree()?, CONFIG_PATH))
}

fn read_blob_text(repo: &Repository, tree: &git2::Tree<'_>, path: &str) -> Option<String> {
    let entry = tree.get_path(Path::new(path)).ok()?;
    let blob = repo.find_blob(entry.id()).ok()?;
    Some(String::from_utf8_lossy(blob.content()).into_owned())
}

pub fn count_lines(content: &[u8]) -> u64 {
    if content.is_empty() {
        return 0;
    }
    let newlines = memchr::memchr_iter(b'\n', content).count() as u64;
    newlines + u64::from(*content.last().expect("non-empty") != b'\n')
}

fn kind_of(mode: FileMode) -> Option<FileKind> {
    match mode {
        FileMode::Link => Some(FileKind::Symlink),
        FileMode::Commit => Some(FileKind::Submodule),
        _ => None,
    }
}

/// A blob as the diffs need it: binary or not, its line count, and (text only) its content.
pub struct CachedBlob {
    /// Binary blobs are never line-diffed: their content is not kept.
    text: Option<Arc<[u8]>>,
    pub binary: bool,
    pub lines: u64,
}

impl CachedBlob {
    /// Content of a text blob (a binary one's is not kept: empty).
    pub fn content(&self) -> &[u8] {
        self.text.as_deref().unwrap_or_default()
    }

    /// Content of a text blob, shared.
    pub fn text(&self) -> Arc<[u8]> {
        self.text.clone().unwrap_or_else(|| Arc::from(&[][..]))
    }
}

/// Most bytes of blob content an [`ObjectCache`] keeps; past it, blobs are read again.
pub const BLOB_CACHE_BYTES: usize = 128 << 20;

/// Most bytes of parsed trees an [`ObjectCache`] keeps; past it they are all dropped and read
/// again as needed (trees read for merges and other branches are otherwise never let go).
pub const TREE_CACHE_BYTES: usize = 96 << 20;

/// Trees and blobs of the trees being mined forward, kept from a commit to its children, so
/// that the miner reads each from the object store about once: libgit2 keeps no blobs in its
/// cache (a modified file's old blob is the new blob of an earlier commit), and reading a blob
/// means inflating it and applying its delta chain. The caller drops what a commit replaced
/// once no other child of its parent can need it ([`ObjectCache::forget`]), so what is kept is
/// bounded by the files and directories of the trees being extended (and, for blob content,
/// by [`BLOB_CACHE_BYTES`]). Made with [`ObjectCache::reading_packs`], it reads objects from
/// the pack files itself ([`pack::Packs`]), and through libgit2 only what they do not give.
#[derive(Default)]
pub struct ObjectCache {
    packs: Option<pack::Packs>,
    trees: HashMap<Oid, Rc<TreeData>>,
    tree_bytes: usize,
    blobs: HashMap<Oid, Rc<CachedBlob>>,
    blob_bytes: usize,
    /// Trees of the parent side the last diff replaced.
    replaced_trees: Vec<Oid>,
}

impl ObjectCache {
    /// A cache reading objects from `repo`'s pack files where it can.
    pub fn reading_packs(repo: &Repository) -> ObjectCache {
        ObjectCache {
            packs: Some(pack::Packs::open(repo.commondir())),
            ..ObjectCache::default()
        }
    }

    fn read_packed(&mut self, id: Oid, kind: ObjectType) -> Option<Arc<[u8]>> {
        match self.packs.as_mut()?.read(id)? {
            (k, data) if k == kind => Some(data),
            _ => None,
        }
    }

    pub fn tree(&mut self, repo: &Repository, id: Oid) -> Result<Rc<TreeData>, git2::Error> {
        if let Some(t) = self.trees.get(&id) {
            return Ok(t.clone());
        }
        let parsed = self
            .read_packed(id, ObjectType::Tree)
            .and_then(|raw| TreeData::parse(id, &raw));
        let t = Rc::new(match parsed {
            Some(t) => t,
            None => TreeData::from_git(&repo.find_tree(id)?),
        });
        if self.tree_bytes + t.bytes() > TREE_CACHE_BYTES {
            self.trees.clear();
            self.tree_bytes = 0;
        }
        self.tree_bytes += t.bytes();
        self.trees.insert(id, t.clone());
        Ok(t)
    }

    /// The blob `id` (None for the zero id, or a blob the repository does not have).
    pub fn blob(&mut self, repo: &Repository, id: Oid) -> Option<Rc<CachedBlob>> {
        if id.is_zero() {
            return None;
        }
        if let Some(b) = self.blobs.get(&id) {
            return Some(b.clone());
        }
        let content = match self.read_packed(id, ObjectType::Blob) {
            Some(c) => c,
            None => Arc::from(repo.find_blob(id).ok()?.content()),
        };
        let binary = pack::is_binary(&content);
        let lines = count_lines(&content);
        let size = if binary { 0 } else { content.len() };
        let cached = Rc::new(CachedBlob {
            text: (!binary).then_some(content),
            binary,
            lines,
        });
        if self.blob_bytes + size <= BLOB_CACHE_BYTES {
            self.blob_bytes += size;
            self.blobs.insert(id, cached.clone());
        }
        Some(cached)
    }

    /// The blob `id` if it is cached (nothing is read).
    pub fn cached_blob(&self, id: Oid) -> Option<Rc<CachedBlob>> {
        self.blobs.get(&id).cloned()
    }

    /// The id of the entry at `path` (components separated by `/`) under tree `root`.
    pub fn entry_at(&mut self, repo: &Repository, root: Oid, path: &str) -> Option<Oid> {
        self.entry_at_with_mode(repo, root, path).map(|(id, _)| id)
    }

    /// The id and file mode of the entry at `path` under tree `root`.
    pub fn entry_at_with_mode(
        &mut self,
        repo: &Repository,
        root: Oid,
        path: &str,
    ) -> Option<(Oid, i32)> {
        let mut tree = self.tree(repo, root).ok()?;
        let mut parts = path.split('/').peekable();
        while let Some(name) = parts.next() {
            let e = tree.get(name.as_bytes())?;
            if parts.peek().is_none() {
                return Some((e.id(), e.filemode()));
            }
            if e.filemode() != 0o040000 {
                return None;
            }
            let id = e.id();
            tree = self.tree(repo, id).ok()?;
        }
        None
    }

    /// After a commit's diff: drop the blobs and trees of its parent that it replaced (when no
    /// other child of the parent is still to come), or keep them (`keep`).
    pub fn forget<'d>(&mut self, diffed: impl IntoIterator<Item = &'d DiffedFile>, keep: bool) {
        let replaced = std::mem::take(&mut self.replaced_trees);
        if keep {
            return;
        }
        for id in replaced {
            if let Some(t) = self.trees.remove(&id) {
                self.tree_bytes -= t.bytes();
            }
        }
        for d in diffed {
            if !d.old_id.is_zero() && d.old_id != d.new_id {
                if let Some(b) = self.blobs.remove(&d.old_id) {
                    self.blob_bytes -= b.text.as_ref().map_or(0, |t| t.len());
                }
            }
        }
    }
}

/// The squashed diff of the change, renames followed, one entry per file.
pub fn diff_change(
    repo: &Repository,
    base: &git2::Tree<'_>,
    head: &git2::Tree<'_>,
) -> Result<Vec<FileChange>, MiningError> {
    Ok(diff_change_detailed(repo, Some(base), head)?
        .into_iter()
        .map(|d| d.file)
        .collect())
}

/// One hunk of a zero-context line diff, as in its `@@ -old_start,old_lines +new_start,new_lines @@`
/// header (a pure insertion's `old_start` is the line before it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hunk {
    pub old_start: u32,
    pub old_lines: u32,
    pub new_start: u32,
    pub new_lines: u32,
}

/// A file of a diff with what line ownership needs: blob ids (zero when absent) and hunks.
#[derive(Debug, Clone)]
pub struct DiffedFile {
    pub file: FileChange,
    pub old_id: Oid,
    pub new_id: Oid,
    pub hunks: Vec<Hunk>,
}

/// `diff_change` keeping blob ids and hunks; `base` None diffs against the empty tree.
pub fn diff_change_detailed(
    repo: &Repository,
    base: Option<&git2::Tree<'_>>,
    head: &git2::Tree<'_>,
) -> Result<Vec<DiffedFile>, MiningError> {
    let mut line_diffs = LineDiffs::new(repo);
    diff_change_cached(repo, &mut ObjectCache::default(), base, head)?
        .into_iter()
        .map(|f| f.finish(&mut line_diffs))
        .collect()
}

/// The tree diff with libgit2's rename detection, the line diffs of modified text files left
/// to [`PendingFile::finish`].
fn diff_change_cached(
    repo: &Repository,
    cache: &mut ObjectCache,
    base: Option<&git2::Tree<'_>>,
    head: &git2::Tree<'_>,
) -> Result<Vec<PendingFile>, MiningError> {
    let mut opts = DiffOptions::new();
    opts.ignore_submodules(false)
        .include_typechange(true)
        .context_lines(0);
    let mut diff = repo.diff_tree_to_tree(base, Some(head), Some(&mut opts))?;
    diff.find_similar(Some(DiffFindOptions::new().renames(true)))?;
    let mut files = Vec::with_capacity(diff.deltas().len());
    for delta in diff.deltas() {
        let old = delta.old_file();
        let new = delta.new_file();
        let change = match delta.status() {
            Delta::Added => ChangeKind::Added,
            Delta::Deleted => ChangeKind::Deleted,
            Delta::Modified => ChangeKind::Modified,
            Delta::Renamed => ChangeKind::Renamed,
            _ => ChangeKind::Other,
        };
        let old_path = old.path_bytes().map(path_string);
        let new_path = new.path_bytes().map(path_string);
        let path = match change {
            ChangeKind::Deleted => old_path.clone().or(new_path.clone()),
            _ => new_path.clone().or(old_path.clone()),
        }
        .unwrap_or_default();
        let old_path = match (change, old_path) {
            (ChangeKind::Renamed, Some(o)) if o != path => Some(o),
            _ => None,
        };
        files.push(diffed_file(
            repo,
            cache,
            change,
            path,
            old_path,
            (old.id(), old.mode()),
            (new.id(), new.mode()),
        ));
    }
    Ok(files)
}

/// One side of a changed file as the line diff reads it.
fn side_content(repo: &Repository, cache: &mut ObjectCache, id: Oid, mode: FileMode) -> Side2 {
    if id.is_zero() {
        return Side2::Absent;
    }
    if mode == FileMode::Commit {
        // A submodule reads as git shows it: one line naming the commit.
        let text: Arc<[u8]> = Arc::from(format!("Subproject commit {id}\n").into_bytes());
        return Side2::Content(Rc::new(CachedBlob {
            text: Some(text),
            binary: false,
            lines: 1,
        }));
    }
    match cache.blob(repo, id) {
        Some(b) => Side2::Content(b),
        None => Side2::Missing,
    }
}

enum Side2 {
    Absent,
    /// In the tree but not in the object store.
    Missing,
    Content(Rc<CachedBlob>),
}

/// One file of a diff: its kind, and the line counts and hunks of a file added or deleted
/// whole; a modified file keeps both contents for its line diff ([`PendingFile::finish`]).
/// Lines are counted as `git diff --numstat` counts them: a symlink's target and a submodule's
/// "Subproject commit" line are lines too (only text files are attributed to authors and
/// counted in LT). A blob the repository does not have (a partial or damaged clone) makes the
/// file [`FileKind::Missing`]: no line counts rather than wrong ones.
fn diffed_file(
    repo: &Repository,
    cache: &mut ObjectCache,
    change: ChangeKind,
    path: String,
    old_path: Option<String>,
    old: (Oid, FileMode),
    new: (Oid, FileMode),
) -> PendingFile {
    let (old_side, new_side) = (
        side_content(repo, cache, old.0, old.1),
        side_content(repo, cache, new.0, new.1),
    );
    let missing = matches!(old_side, Side2::Missing) || matches!(new_side, Side2::Missing);
    let content = |s: &Side2| match s {
        Side2::Content(b) => Some(b.clone()),
        _ => None,
    };
    let (old_blob, new_blob) = (content(&old_side), content(&new_side));
    let binary =
        old_blob.as_ref().is_some_and(|b| b.binary) || new_blob.as_ref().is_some_and(|b| b.binary);
    let kind = kind_of(new.1)
        .filter(|k| *k == FileKind::Submodule)
        .or_else(|| kind_of(old.1).filter(|k| *k == FileKind::Submodule))
        .or_else(|| kind_of(new.1).or_else(|| kind_of(old.1)))
        .unwrap_or(if missing {
            FileKind::Missing
        } else if binary {
            FileKind::Binary
        } else {
            FileKind::Text
        });
    let mut file = FileChange {
        path,
        old_path,
        change,
        kind,
        added: 0,
        deleted: 0,
        lines_before: 0,
        added_lines: Vec::new(),
    };
    let mut hunks = Vec::new();
    let mut texts = None;
    if !missing && !binary {
        if kind == FileKind::Text {
            file.lines_before = old_blob.as_ref().map_or(0, |b| b.lines);
        }
        // A whole file added or deleted is one hunk of all its lines.
        let whole = match (&old_blob, &new_blob) {
            (Some(ob), Some(nb)) => {
                texts = Some([ob.text(), nb.text()]);
                None
            }
            (None, Some(nb)) => Some(whole_file(nb.lines, true)),
            (Some(ob), None) => Some(whole_file(ob.lines, false)),
            (None, None) => None,
        };
        if let Some(stats) = whole {
            file.added = stats.added;
            file.deleted = stats.deleted;
            file.added_lines = stats.added_lines;
            hunks = stats.hunks;
        }
    }
    PendingFile {
        diffed: DiffedFile {
            file,
            old_id: old.0,
            new_id: new.0,
            hunks,
        },
        texts,
    }
}

/// What a zero-context line diff of one file says.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct LineStats {
    added: u64,
    deleted: u64,
    added_lines: Vec<u32>,
    hunks: Vec<Hunk>,
}

fn line_stats(patch: &Patch<'_>) -> Result<LineStats, git2::Error> {
    // With no context lines a hunk is its header: `old_lines` removed lines and `new_lines`
    // added ones, numbered from `new_start` (the "no newline at end of file" markers are
    // neither).
    let mut stats = LineStats::default();
    for h in 0..patch.num_hunks() {
        let (hunk, _) = patch.hunk(h)?;
        stats.added += u64::from(hunk.new_lines());
        stats.deleted += u64::from(hunk.old_lines());
        stats
            .added_lines
            .extend(hunk.new_start()..hunk.new_start() + hunk.new_lines());
        stats.hunks.push(Hunk {
            old_start: hunk.old_start(),
            old_lines: hunk.old_lines(),
            new_start: hunk.new_start(),
            new_lines: hunk.new_lines(),
        });
    }
    Ok(stats)
}

/// The line diff of a file of `lines` lines added (or deleted) whole.
fn whole_file(lines: u64, added: bool) -> LineStats {
    if lines == 0 {
        return LineStats::default();
    }
    let n = lines as u32;
    if added {
        LineStats {
            added: lines,
            deleted: 0,
            added_lines: (1..=n).collect(),
            hunks: vec![Hunk {
                old_start: 0,
                old_lines: 0,
                new_start: 1,
                new_lines: n,
            }],
        }
    } else {
        LineStats {
            added: 0,
            deleted: lines,
            added_lines: Vec::new(),
            hunks: vec![Hunk {
                old_start: 1,
                old_lines: n,
                new_start: 0,
                new_lines: 0,
            }],
        }
    }
}

/// A tree entry as the fast diff compares it.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Side {
    id: Oid,
    mode: FileMode,
}

fn file_mode(raw: i32) -> FileMode {
    match raw {
        0o040000 => FileMode::Tree,
        0o100755 => FileMode::BlobExecutable,
        0o120000 => FileMode::Link,
        0o160000 => FileMode::Commit,
        0o100664 => FileMode::BlobGroupWritable,
        _ => FileMode::Blob,
    }
}

/// Git's order of tree entries: by name, a tree's name compared as if it ended in `/`.
fn git_order(a: &[u8], a_tree: bool, b: &[u8], b_tree: bool) -> std::cmp::Ordering {
    let n = a.len().min(b.len());
    a[..n].cmp(&b[..n]).then_with(|| {
        let end =
            |name: &[u8], tree: bool| name.get(n).copied().unwrap_or(if tree { b'/' } else { 0 });
        end(a, a_tree).cmp(&end(b, b_tree))
    })
}

fn side(e: &TreeEntryRef<'_>) -> Side {
    Side {
        id: e.id(),
        mode: file_mode(e.filemode()),
    }
}

/// Changed blob entries between two trees, in path order, descending only into subtrees
/// whose ids differ (what makes it fast: an unchanged directory costs one comparison). The old
/// side's subtrees it descends into are noted in `cache` as replaced.
fn tree_changes(
    repo: &Repository,
    cache: &mut ObjectCache,
    old: Option<&TreeData>,
    new: Option<&TreeData>,
    prefix: &str,
    out: &mut Vec<(String, Option<Side>, Option<Side>)>,
) -> Result<(), git2::Error> {
    let a: Vec<TreeEntryRef<'_>> = old.map(|t| t.iter().collect()).unwrap_or_default();
    let b: Vec<TreeEntryRef<'_>> = new.map(|t| t.iter().collect()).unwrap_or_default();
    let is_tree = |e: &TreeEntryRef<'_>| e.filemode() == 0o040000;
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        let order = match (a.get(i), b.get(j)) {
            (Some(x), Some(y)) => git_order(x.name_bytes(), is_tree(x), y.name_bytes(), is_tree(y)),
            (Some(_), None) => std::cmp::Ordering::Less,
            _ => std::cmp::Ordering::Greater,
        };
        let (x, y) = match order {
            std::cmp::Ordering::Less => {
                i += 1;
                (Some(&a[i - 1]), None)
            }
            std::cmp::Ordering::Greater => {
                j += 1;
                (None, Some(&b[j - 1]))
            }
            std::cmp::Ordering::Equal => {
                i += 1;
                j += 1;
                (Some(&a[i - 1]), Some(&b[j - 1]))
            }
        };
        if let (Some(x), Some(y)) = (x, y) {
            if x.id() == y.id() && x.filemode() == y.filemode() {
                continue;
            }
        }
        let entry = x.or(y).expect("one side");
        let name = String::from_utf8_lossy(entry.name_bytes());
        let path = if prefix.is_empty() {
            name.into_owned()
        } else {
            format!("{prefix}/{name}")
        };
        if is_tree(entry) {
            let ot = match x {
                Some(x) => {
                    cache.replaced_trees.push(x.id());
                    Some(cache.tree(repo, x.id())?)
                }
                None => None,
            };
            let nt = y.map(|y| cache.tree(repo, y.id())).transpose()?;
            tree_changes(repo, cache, ot.as_deref(), nt.as_deref(), &path, out)?;
        } else {
            out.push((path, x.map(side), y.map(side)));
        }
    }
    Ok(())
}

fn is_blob_mode(mode: FileMode) -> bool {
    matches!(
        mode,
        FileMode::Blob | FileMode::BlobExecutable | FileMode::BlobGroupWritable
    )
}

/// The regular files whose version in a merge's tree no parent's tree has, with their blobs:
/// what the merge resolved. Only the subtrees that differ from the first parent's are read.
pub fn merge_resolved(
    repo: &Repository,
    cache: &mut ObjectCache,
    parent_trees: &[Oid],
    tree: Oid,
) -> Result<Vec<(String, Oid)>, git2::Error> {
    let Some((&first, others)) = parent_trees.split_first() else {
        return Ok(Vec::new());
    };
    // Reading these trees replaces nothing: the merge's children diff against it later.
    let replaced = std::mem::take(&mut cache.replaced_trees);
    let old = cache.tree(repo, first);
    let new = cache.tree(repo, tree);
    let mut changes = Vec::new();
    let walked = match (old, new) {
        (Ok(old), Ok(new)) => tree_changes(repo, cache, Some(&old), Some(&new), "", &mut changes),
        (Err(e), _) | (_, Err(e)) => Err(e),
    };
    cache.replaced_trees = replaced;
    walked?;
    let mut resolved = Vec::new();
    for (path, _, new) in changes {
        let Some(new) = new.filter(|n| is_blob_mode(n.mode)) else {
            continue;
        };
        if !others
            .iter()
            .any(|&t| cache.entry_at(repo, t, &path) == Some(new.id))
        {
            resolved.push((path, new.id));
        }
    }
    Ok(resolved)
}

/// The same result as [`diff_change_detailed`] for one commit against its parent, faster:
/// subtrees with equal ids are skipped and blobs are diffed directly. Commits that could hold
/// a rename or a type change (both additions and deletions, a file becoming a symlink…) are
/// left to libgit2's diff with rename detection, so their result is the same by construction.
pub fn diff_commit(
    repo: &Repository,
    parent: Option<&git2::Tree<'_>>,
    tree: &git2::Tree<'_>,
) -> Result<Vec<DiffedFile>, MiningError> {
    let mut line_diffs = LineDiffs::new(repo);
    let mut cache = ObjectCache::default();
    diff_commit_cached(
        repo,
        &mut cache,
        parent.map(|p| p.id()),
        tree.id(),
        RenameSource::Libgit2,
    )?
    .into_iter()
    .map(|f| f.finish(&mut line_diffs))
    .collect()
}

/// A file of [`diff_commit_cached`]'s diff, its line diff possibly still to make
/// ([`PendingFile::finish`]): it can be made on another thread than the one reading the blobs.
pub struct PendingFile {
    diffed: DiffedFile,
    /// Old and new content of a modified text file, to line-diff.
    texts: Option<[Arc<[u8]>; 2]>,
}

impl PendingFile {
    pub fn finish(self, line_diffs: &mut LineDiffs<'_>) -> Result<DiffedFile, MiningError> {
        let mut d = self.diffed;
        if let Some([old, new]) = self.texts {
            let stats = line_diffs.stats(d.old_id, &old, d.new_id, &new)?;
            d.file.added = stats.added;
            d.file.deleted = stats.deleted;
            d.file.added_lines = stats.added_lines;
            d.hunks = stats.hunks;
        }
        Ok(d)
    }

    /// The file as diffed so far (counts and hunks of a modified text file not yet made).
    pub fn diffed(&self) -> &DiffedFile {
        &self.diffed
    }
}

/// Zero-context line diffs of two blobs' contents, made with git's default algorithm (Myers
/// with its heuristics, sliders placed by the indent heuristic) straight from the bytes: one
/// function for every line diff the miner and the scorer make, so line counts, hunks and line
/// owners agree wherever they are computed. libgit2 looks up the `diff` attribute of a blob
/// diffed without a path as if its path were `file`: when the repository's attributes (system,
/// global, `info/attributes`) set it, as they almost never do, the diff is left to libgit2's
/// blob diff so the attribute applies.
pub struct LineDiffs<'r> {
    blobs_from: Option<&'r Repository>,
    lines: LineTokens,
}

/// The lines of the blobs a file's history is replayed through, each distinct line numbered
/// once: the version one step makes is the version the next step changes, so reading its lines
/// once instead of once per diff saves about half the work of a replay's diffs. Numbering does
/// not change a diff (only which lines are equal counts), and each line's indent is kept for
/// git's slider heuristic.
#[derive(Default)]
struct LineTokens {
    ids: HashMap<Box<[u8]>, u32, foldhash::fast::RandomState>,
    indents: Vec<imara::IndentLevel>,
    blobs: HashMap<Oid, Rc<[imara::Token]>>,
}

/// Blobs whose numbered lines a [`LineTokens`] keeps; a merge's parents are usually among
/// the last few versions.
const TOKENISED_BLOBS: usize = 64;

impl LineTokens {
    fn tokens(&mut self, id: Oid, content: &[u8]) -> Rc<[imara::Token]> {
        if let Some(tokens) = self.blobs.get(&id) {
            return tokens.clone();
        }
        let tokens: Rc<[imara::Token]> = imara::sources::byte_lines(content)
            .map(|line| {
                if let Some(&t) = self.ids.get(line) {
                    return imara::Token(t);
                }
                let t = self.indents.len() as u32;
                self.indents
                    .push(imara::IndentLevel::for_ascii_line(line.iter().copied(), 8));
                self.ids.insert(line.into(), t);
                imara::Token(t)
            })
            .collect();
        if self.blobs.len() >= TOKENISED_BLOBS {
            self.blobs.clear();
        }
        self.blobs.insert(id, tokens.clone());
        tokens
    }

    /// Forgets everything once far more lines are numbered than one diff needs: the
    /// diff's per-token tables are as long as the numbering.
    fn bound(&mut self, lines_in_use: usize) {
        if self.indents.len() > 4 * lines_in_use + 4096 {
            *self = LineTokens::default();
        }
    }
}

impl<'r> LineDiffs<'r> {
    pub fn new(repo: &'r Repository) -> LineDiffs<'r> {
        let unspecified = matches!(
            repo.get_attr_bytes(Path::new("file"), "diff", AttrCheckFlags::FILE_THEN_INDEX),
            Ok(None)
        );
        LineDiffs {
            blobs_from: (!unspecified).then_some(repo),
            lines: LineTokens::default(),
        }
    }

    pub(crate) fn stats(
        &mut self,
        old_id: Oid,
        old: &[u8],
        new_id: Oid,
        new: &[u8],
    ) -> Result<LineStats, git2::Error> {
        if let Some(repo) = self.blobs_from {
            let mut opts = DiffOptions::new();
            opts.context_lines(0);
            let (old, new) = (repo.find_blob(old_id)?, repo.find_blob(new_id)?);
            return line_stats(&Patch::from_blobs(&old, None, &new, None, Some(&mut opts))?);
        }
        Ok(self.imara_stats(old, new))
    }

    /// How lines are diffed: 0 by riskgate itself, 1 by libgit2 with the repository's diff
    /// attributes.
    pub(crate) fn kind(&self) -> u8 {
        u8::from(self.blobs_from.is_some())
    }

    /// As [`stats`](Self::stats), for the diffs of a replay along one file's history, where
    /// each version is diffed twice (as the new side, then as the old): each blob's lines are
    /// numbered once ([`LineTokens`]). Gives what `stats` gives.
    pub(crate) fn stats_in_history(
        &mut self,
        old_id: Oid,
        old: &[u8],
        new_id: Oid,
        new: &[u8],
    ) -> Result<LineStats, git2::Error> {
        if self.blobs_from.is_some() {
            return self.stats(old_id, old, new_id, new);
        }
        if old == new {
            return Ok(LineStats::default());
        }
        let before = self.lines.tokens(old_id, old);
        let after = self.lines.tokens(new_id, new);
        let mut diff = imara::Diff::default();
        let numbered = self.lines.indents.len() as u32;
        diff.compute_with(imara::Algorithm::Myers, &before, &after, numbered);
        let indents = &self.lines.indents;
        diff.postprocess_with(
            &before,
            &after,
            imara::IndentHeuristic::new(|t: imara::Token| indents[t.0 as usize]),
        );
        self.lines.bound(before.len() + after.len());
        Ok(stats_of_diff(&diff))
    }

    fn imara_stats(&mut self, old: &[u8], new: &[u8]) -> LineStats {
        if old == new {
            return LineStats::default();
        }
        let input = imara::InternedInput::new(old, new);
        let mut diff = imara::Diff::compute(imara::Algorithm::Myers, &input);
        diff.postprocess_lines(&input);
        stats_of_diff(&diff)
    }
}

/// Line counts and git's zero-context hunks of an imara diff.
fn stats_of_diff(diff: &imara::Diff) -> LineStats {
    let mut stats = LineStats::default();
    for h in diff.hunks() {
        let (old_lines, new_lines) = (h.before.len() as u32, h.after.len() as u32);
        // git's hunk header numbers: 1-based, and for an empty side the line before it.
        let hunk = Hunk {
            old_start: h.before.start + u32::from(old_lines > 0),
            old_lines,
            new_start: h.after.start + u32::from(new_lines > 0),
            new_lines,
        };
        stats.added += u64::from(new_lines);
        stats.deleted += u64::from(old_lines);
        stats.added_lines.extend(h.after.start + 1..=h.after.end);
        stats.hunks.push(hunk);
    }
    stats
}

/// Where the renames of a diff come from.
#[derive(Clone, Copy)]
pub enum RenameSource<'a> {
    /// git's own detection, asked beforehand ([`renames`]): these pairs, (old, new).
    Git(&'a [(String, String)]),
    /// libgit2's, when git could not be asked.
    Libgit2,
}

/// [`diff_commit`] reading trees and blobs through `cache`, the line diffs of modified files
/// left to [`PendingFile::finish`]; the parent's trees it replaced are noted in `cache` for
/// [`ObjectCache::forget`]. Only subtrees whose ids differ are read. With renames from git the
/// deletions and additions they pair become one renamed file each; with libgit2's detection,
/// commits that could hold a rename or a type change are left to libgit2's diff.
pub fn diff_commit_cached(
    repo: &Repository,
    cache: &mut ObjectCache,
    parent: Option<Oid>,
    tree: Oid,
    renames: RenameSource<'_>,
) -> Result<Vec<PendingFile>, MiningError> {
    if let Some(p) = parent.filter(|&p| p != tree) {
        cache.replaced_trees.push(p);
    }
    let old = parent.map(|p| cache.tree(repo, p)).transpose()?;
    let new = cache.tree(repo, tree)?;
    let mut changes = Vec::new();
    tree_changes(repo, cache, old.as_deref(), Some(&new), "", &mut changes)?;
    let pairs = match renames {
        RenameSource::Git(pairs) => pairs,
        RenameSource::Libgit2 => {
            let added = changes.iter().any(|c| c.1.is_none());
            let deleted = changes.iter().any(|c| c.2.is_none());
            let typechange = changes.iter().any(|c| match (c.1, c.2) {
                (Some(o), Some(n)) => {
                    o.mode != n.mode && !(is_blob_mode(o.mode) && is_blob_mode(n.mode))
                }
                _ => false,
            });
            if (added && deleted) || typechange {
                let parent = parent.map(|p| repo.find_tree(p)).transpose()?;
                return diff_change_cached(repo, cache, parent.as_ref(), &repo.find_tree(tree)?);
            }
            &[][..]
        }
    };
    Ok(files_of_changes(repo, cache, changes, pairs))
}

/// The renames of `renames` that a tree diff holds (a deletion of the old path and an addition
/// of the new one): new path → old path.
fn paired_renames(
    changes: &[(String, Option<Side>, Option<Side>)],
    renames: &[(String, String)],
) -> HashMap<String, String> {
    let mut rename_from: HashMap<String, String> = HashMap::new();
    if !renames.is_empty() {
        let deleted: HashMap<&str, Side> = changes
            .iter()
            .filter_map(|(p, o, n)| match (o, n) {
                (Some(o), None) => Some((p.as_str(), *o)),
                _ => None,
            })
            .collect();
        let added: std::collections::HashSet<&str> = changes
            .iter()
            .filter(|(_, o, n)| o.is_none() && n.is_some())
            .map(|(p, _, _)| p.as_str())
            .collect();
        for (old, new) in renames {
            if deleted.contains_key(old.as_str()) && added.contains(new.as_str()) {
                rename_from.insert(new.clone(), old.clone());
            }
        }
    }
    rename_from
}

/// The paths of a commit as the history index records them ([`index::NewCommit`]): each
/// changed path (a rename's new path, a deletion's old one) and the renames, from the tree
/// diff of `tree` against `parent` (None: every file added) and git's rename pairs. Reads
/// trees only.
pub(crate) fn commit_paths(
    repo: &Repository,
    cache: &mut ObjectCache,
    parent: Option<Oid>,
    tree: Oid,
    renames: &[(String, String)],
) -> Result<CommitPaths, git2::Error> {
    let replaced = std::mem::take(&mut cache.replaced_trees);
    let old = parent.map(|p| cache.tree(repo, p)).transpose();
    let new = cache.tree(repo, tree);
    let mut changes = Vec::new();
    let walked = match (old, new) {
        (Ok(old), Ok(new)) => {
            tree_changes(repo, cache, old.as_deref(), Some(&new), "", &mut changes)
        }
        (Err(e), _) | (_, Err(e)) => Err(e),
    };
    cache.replaced_trees = replaced;
    walked?;
    let pairs = paired_renames(&changes, renames);
    let moved: std::collections::HashSet<&String> = pairs.values().collect();
    let touched = changes
        .iter()
        .filter(|(p, _, n)| !(n.is_none() && moved.contains(p)))
        .map(|(p, _, _)| p.clone())
        .collect();
    let mut renames: Vec<(String, String)> =
        pairs.into_iter().map(|(new, old)| (old, new)).collect();
    renames.sort();
    Ok(CommitPaths { touched, renames })
}

/// What [`commit_paths`] finds.
pub(crate) struct CommitPaths {
    pub touched: Vec<String>,
    /// (old, new)
    pub renames: Vec<(String, String)>,
}

/// The files of a tree diff, the deletions and additions that `renames` pairs made one renamed
/// file each (at the new path's place). A pair the diff does not hold is ignored.
fn files_of_changes(
    repo: &Repository,
    cache: &mut ObjectCache,
    changes: Vec<(String, Option<Side>, Option<Side>)>,
    renames: &[(String, String)],
) -> Vec<PendingFile> {
    let rename_from = paired_renames(&changes, renames);
    let renamed_away: std::collections::HashSet<String> = rename_from.values().cloned().collect();
    let old_side: HashMap<String, Side> = changes
        .iter()
        .filter(|(p, _, _)| renamed_away.contains(p))
        .filter_map(|(p, o, _)| o.map(|o| (p.clone(), o)))
        .collect();
    let none = Side {
        id: Oid::zero(),
        mode: FileMode::Unreadable,
    };
    let mut files = Vec::with_capacity(changes.len());
    for (path, old, new) in changes {
        if renamed_away.contains(&path) && new.is_none() {
            continue; // the deletion half of a rename
        }
        let (change, old_path, old) = match (old, new, rename_from.get(&path)) {
            (None, Some(_), Some(from)) => (
                ChangeKind::Renamed,
                Some(from.clone()),
                old_side.get(from).copied(),
            ),
            (None, _, _) => (ChangeKind::Added, None, None),
            (_, None, _) => (ChangeKind::Deleted, None, old),
            (Some(o), Some(n), _)
                if o.mode != n.mode && !(is_blob_mode(o.mode) && is_blob_mode(n.mode)) =>
            {
                (ChangeKind::Other, None, old)
            }
            _ => (ChangeKind::Modified, None, old),
        };
        let (o, n) = (old.unwrap_or(none), new.unwrap_or(none));
        files.push(diffed_file(
            repo,
            cache,
            change,
            path,
            old_path,
            (o.id, o.mode),
            (n.id, n.mode),
        ));
    }
    files
}

/// The squashed diff between two trees, read through `cache`, renames as `renames` gives
/// them, the line diffs of modified files left to [`PendingFile::finish`].
pub fn diff_trees_cached(
    repo: &Repository,
    cache: &mut ObjectCache,
    base: Oid,
    head: Oid,
    renames: RenameSource<'_>,
) -> Result<Vec<PendingFile>, MiningError> {
    let replaced = std::mem::take(&mut cache.replaced_trees);
    let files = diff_commit_cached(repo, cache, Some(base), head, renames);
    cache.replaced_trees = replaced;
    files
}

/// Who last wrote each line of the touched files at base ([`owners`]), replayed along each
/// file's own history from the index, so it costs the history of the touched files, never a
/// walk of the whole repository as `git blame` does. At most [`ATTRIBUTION_BUDGET`] history
/// steps are replayed; files past it are left out (and the tally says how many were used).
/// A change whose files have a long history between them is replayed on two threads, each
/// reading the repository through its own handle; every file's answer is its own, so the
/// split changes nothing but the time.
#[allow(clippy::too_many_arguments)]
fn attribute_lines(
    repo: &Repository,
    index: &HistoryIndex,
    objects: &mut ObjectCache,
    files: &[FileChange],
    history: &index::ReachableFrom<'_>,
    steps: &[Vec<(u32, u32)>],
    base_tree: Oid,
    author: Option<u32>,
    deadline: Option<std::time::Instant>,
) -> Result<BlameTally, MiningError> {
    let mut tally = BlameTally::default();
    // Biggest edits first: their files matter most when the budget runs out.
    let mut order: Vec<usize> = (0..files.len())
        .filter(|&i| files[i].kind == FileKind::Text && files[i].change != ChangeKind::Added)
        .collect();
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
        let Some(base_id) = objects.entry_at(repo, base_tree, files[i].base_path()) else {
            continue;
        };
        let Some(base_blob) = objects.blob(repo, base_id) else {
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
            scope.spawn(move || {
                let repo = Repository::open(&git_dir)?;
                let mut objects = if reads_packs {
                    ObjectCache::reading_packs(&repo)
                } else {
                    ObjectCache::default()
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
        let (author_lines, spent) = done?;
        tally.author_lines += author_lines;
        cost.steps += spent.steps;
        cost.diffs += spent.diffs;
    }
    for job in ours.iter().chain(&theirs) {
        tally.files_attributed += 1;
        tally.total_lines += job.lines;
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

/// What every attribution thread shares: the index, the owner store, whose lines to count
/// and the deadline.
struct AttributionWork<'a> {
    index: &'a HistoryIndex,
    store: Option<&'a owner_store::OwnerStore>,
    author: Option<u32>,
    deadline: Option<std::time::Instant>,
}

impl AttributionWork<'_> {
    /// Replays `jobs` on this thread: the lines the author owns among them, and the cost.
    fn run(
        &self,
        repo: &Repository,
        objects: &mut ObjectCache,
        history: &index::ReachableFrom<'_>,
        jobs: &[AttributionJob<'_>],
    ) -> Result<(u64, owners::ReplayCost), MiningError> {
        let mut line_diffs = LineDiffs::new(repo);
        let mut cost = owners::ReplayCost::default();
        let mut author_lines = 0u64;
        for job in jobs {
            if self
                .deadline
                .is_some_and(|d| std::time::Instant::now() >= d)
            {
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
            )?;
            if let (Some(a), Some((_, owners))) = (self.author, replayed.target) {
                author_lines += owners
                    .iter()
                    .filter(|&&o| o != owners::NOBODY && self.index.commit(o).author == a)
                    .count() as u64;
            }
        }
        Ok((author_lines, cost))
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
) -> Result<owners::Replayed, MiningError> {
    let keys = match store {
        Some(_) if !steps.is_empty() => {
            owner_store::OwnerStore::prefix_keys(index, steps, line_diffs.kind())
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
        )?;
        from = k + 1;
    }
    let replayed = match replayed {
        Some(r) => r,
        None => {
            from = 0;
            owners::replay_owners(
                repo, index, objects, line_diffs, history, steps, target, None, cost,
            )?
            .expect("a replay from the start needs no seed")
        }
    };
    if let (Some(store), Some(last)) = (store, keys.last()) {
        if from < steps.len() && steps.len() >= owner_store::MIN_STEPS_STORED {
            store.save(last, &replayed, index);
        }
    }
    Ok(replayed)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Versions of a file as a history makes them: lines replaced, moved, added and removed,
    /// indented blocks and repeated lines (where sliders and the slider heuristic matter).
    fn file_versions(n: usize) -> Vec<Vec<u8>> {
        let mut seed = 0x2545_f491_u64;
        let mut next = move |m: usize| {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            (seed >> 33) as usize % m
        };
        let mut lines: Vec<String> = (0..60)
            .map(|i| match i % 5 {
                0 => "}".to_string(),
                1 => String::new(),
                _ => format!("    line {i}"),
            })
            .collect();
        let mut versions = Vec::new();
        for v in 0..n {
            for _ in 0..1 + next(4) {
                let at = next(lines.len() + 1);
                match next(4) {
                    0 if !lines.is_empty() && at < lines.len() => {
                        lines.remove(at);
                    }
                    1 => lines.insert(at, "}".to_string()),
                    2 => lines.insert(at, format!("        v{v}")),
                    _ => {
                        let block = ["", "    if x {", "        y", "    }"];
                        for (k, l) in block.iter().enumerate() {
                            lines.insert((at + k).min(lines.len()), l.to_string());
                        }
                    }
                }
            }
            let mut text = lines.join("\n").into_bytes();
            if v % 3 != 0 {
                text.push(b'\n');
            }
            versions.push(text);
        }
        versions
    }

    /// The diffs of a replay, each blob's lines numbered once, are the diffs made pair by
    /// pair: along the history, against older versions (a merge's parents), and after the
    /// numbering was forgotten.
    #[test]
    fn diffs_along_a_history_equal_diffs_made_pair_by_pair() {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repository::init(dir.path()).unwrap();
        let versions = file_versions(120);
        let id = |v: &[u8]| Oid::hash_object(ObjectType::Blob, v).unwrap();
        let mut along = LineDiffs::new(&repo);
        let mut pairwise = LineDiffs::new(&repo);
        let mut pairs: Vec<(usize, usize)> = (1..versions.len()).map(|i| (i - 1, i)).collect();
        pairs.extend((10..versions.len()).step_by(7).map(|i| (i - 10, i)));
        for (a, b) in pairs {
            let (old, new) = (&versions[a], &versions[b]);
            let got = along.stats_in_history(id(old), old, id(new), new).unwrap();
            let want = pairwise.stats(id(old), old, id(new), new).unwrap();
            assert_eq!(got, want, "versions {a} and {b}");
        }
        // A file with few lines after one with many: the numbering is forgotten and begun
        // again, and the diffs stay the same.
        let big: Vec<u8> = (0..20_000)
            .flat_map(|i| format!("{i}\n").into_bytes())
            .collect();
        let bigger = [&big[..], b"end\n"].concat();
        let got = along
            .stats_in_history(id(&big), &big, id(&bigger), &bigger)
            .unwrap();
        assert_eq!(got.added, 1);
        assert!(along.lines.indents.len() > 20_000);
        for (a, b) in [(3, 4), (4, 5)] {
            let (old, new) = (&versions[a], &versions[b]);
            assert_eq!(
                along.stats_in_history(id(old), old, id(new), new).unwrap(),
                pairwise.stats(id(old), old, id(new), new).unwrap()
            );
            assert!(
                along.lines.indents.len() < 1_000,
                "the numbering was begun again"
            );
        }
    }

    #[test]
    fn line_counts() {
        assert_eq!(count_lines(b""), 0);
        assert_eq!(count_lines(b"a"), 1);
        assert_eq!(count_lines(b"a\nb\n"), 2);
        assert_eq!(count_lines(b"a\nb"), 2);
    }
}

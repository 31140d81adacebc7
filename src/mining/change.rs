//! The change a score is about: base and head resolved, the squashed diff, and the history of
//! the touched files and of the author, gathered into the [`Snapshot`] the signals read.

use std::cmp::Reverse;
use std::collections::{BTreeSet, HashMap};

use git2::{ErrorCode, Oid, Repository};

use super::attributes::{AttributeSource, CommittedAttributes};
use super::attribution::attribute_lines;
use super::identity::Identities;
use super::ignored_revisions::IgnoredRevisions;
use super::index::{self, HistoryIndex};
use super::repo::{default_branch, resolve, settings_in, SettingsFile};
use super::{
    diff_trees_cached, renames, LineDiffs, MiningError, ObjectCache, RenameSource,
    UnreadableCommits,
};
use crate::features::{
    directory, git_path, subsystem, AuthorCommit, AuthorExperience, FileChange, FileHistory,
    FileKind, Snapshot,
};

/// The change to mine: `None` picks the defaults (HEAD; merge-base with the default branch).
#[derive(Debug, Clone, Default)]
pub struct ChangeSpec {
    pub base: Option<String>,
    pub head: Option<String>,
    /// Give up with [`MiningError::TimedOut`] once this instant has passed (the App's limit on
    /// one scoring); `None` runs to the end.
    pub deadline: Option<std::time::Instant>,
    /// Where the attributes that make a file binary or text come from (the App: the base
    /// branch's).
    pub attributes: AttributeSource,
}

/// A mined change: the snapshot the pure signals are computed from, and facts about it.
#[derive(Debug)]
pub struct MinedChange {
    pub snapshot: Snapshot,
    pub base: Oid,
    pub head: Oid,
    /// The revision the base was taken from (the merge-base of it and head is `base`).
    pub base_from: String,
    /// `.github/riskgate.yml` at the base revision's tip, if there is one.
    pub config: Option<SettingsFile>,
    pub shallow: bool,
    /// The clone is partial: it lacks file versions git has not fetched, which rename
    /// detection compares. As the history index read it
    /// ([`HistoryIndex::built_in_partial_clone`]).
    pub partial: bool,
    /// The blob id of the committed `.mailmap` when the repository lacks its content (a
    /// partial clone): authors were told apart by e-mail alone.
    pub absent_mailmap: Option<Oid>,
    /// Commits in base..head (merges included).
    pub commits: usize,
    /// Identities (lower-cased e-mail, or name) of everyone who changed the touched files before.
    pub file_authors: Vec<String>,
    /// Commits of the history and of the change that libgit2 could not parse.
    pub unreadable: UnreadableCommits,
    /// Commits the history index had to add for this run, and its size after.
    pub indexed_now: usize,
    pub indexed_total: usize,
}

pub fn mine_change(repo: &Repository, spec: &ChangeSpec) -> Result<MinedChange, MiningError> {
    let revs = Revisions::resolve(repo, spec)?;
    let (base, head) = (revs.base, revs.head);
    let past_deadline = || super::past(spec.deadline);
    let started = std::time::Instant::now();
    // Read first: the index leaves out a commit libgit2 cannot parse, and these two must be in.
    let base_commit = super::find_commit(repo, base)?;
    let head_commit = super::find_commit(repo, head)?;
    // The repository as opened, which the index reads; `repo` below reads the base branch's
    // attributes.
    let opened = repo;

    let base_tree = base_commit.tree()?;
    // The base branch's own tip, not the merge-base: its settings and attributes are the
    // ones in force now.
    let base_tip_tree = repo.find_commit(revs.base_tip)?.tree()?;
    let mut objects = ObjectCache::reading_packs(repo);
    let with_base_attributes = match spec.attributes {
        AttributeSource::Repository => None,
        AttributeSource::BaseBranch => {
            let attributes = CommittedAttributes::for_diff(
                repo,
                &mut objects,
                base_tip_tree.id(),
                base_tree.id(),
                head_commit.tree_id(),
            )?;
            let handle = attributes.reading(repo.path())?;
            objects.committed_attributes = Some(std::sync::Arc::new(attributes));
            Some(handle)
        }
    };
    let repo = with_base_attributes.as_ref().unwrap_or(repo);
    let files = diff_of_change(
        repo,
        &mut objects,
        spec,
        &revs,
        base_tree.id(),
        &head_commit,
    )?;
    tracing::debug!(files = files.len(), elapsed = ?started.elapsed(), "change diffed");
    let lacking: Vec<&FileChange> = files
        .iter()
        .filter(|f| f.kind == FileKind::Missing)
        .collect();
    if let Some(first) = lacking.first() {
        return Err(MiningError::ContentMissing {
            count: lacking.len(),
            first: git_path::display(&first.path).into_owned(),
            base: base.to_string(),
            head: head.to_string(),
        });
    }
    // Indexed once the change is known to be readable: a partial clone that lacks its content
    // is told so before the whole history is walked.
    let (index, indexed_now) = index_to(opened, base, spec.deadline)?;
    let base_idx = index.lookup(base).expect("base was just indexed");
    let history = index::ReachableFrom::new(&index, base_idx);
    let mut unreadable = index.unreadable_behind(opened, &history);

    let made = ChangeCommits::walk(
        repo,
        &revs,
        &head_commit,
        &index.identities(),
        &mut unreadable,
    )?;
    let author = index.author_id(&made.author_key);

    let file_history_ids: Vec<Vec<u32>> = files
        .iter()
        .map(|f| index.file_history(f.base_path(), &history))
        .collect();
    let file_history = FileHistory::PerFile(
        file_history_ids
            .iter()
            .map(|ids| index.touches(ids))
            .collect(),
    );
    let (author_commits, author_known_dirs) = match author {
        Some(a) => author_history(&index, &history, a, &files),
        None => (Vec::new(), BTreeSet::new()),
    };
    let file_authors = file_authors(&index, &file_history_ids);
    tracing::debug!(elapsed = ?started.elapsed(), "history of the touched files gathered");
    if past_deadline() {
        return Err(MiningError::TimedOut);
    }
    let steps: Vec<Vec<(u32, u32)>> = files
        .iter()
        .map(|f| index.file_steps(f.base_path(), &history))
        .collect();
    // The base branch's list, as its attributes: a change cannot have its own commits looked past.
    let ignore_revs = IgnoredRevisions::read_at(opened, revs.base_tip)?;
    // Counting the listed commits the index holds is for this log line only.
    if tracing::enabled!(tracing::Level::DEBUG) {
        for note in ignore_revs.notes(ignore_revs.revisions.in_index(&index)) {
            tracing::debug!("{note}");
        }
    }
    let blame = attribute_lines(
        repo,
        &index,
        &mut objects,
        &files,
        &history,
        &steps,
        base_tree.id(),
        author,
        &ignore_revs.revisions,
        spec.deadline,
    )?;
    tracing::debug!(elapsed = ?started.elapsed(), ?blame, "lines attributed");
    if past_deadline() {
        return Err(MiningError::TimedOut);
    }
    let blame = Some(blame);
    let change_time = super::change_time(
        head_commit.author().when().seconds(),
        crate::time::now_secs(),
    );
    let config = settings_in(repo, &base_tip_tree)?;

    Ok(MinedChange {
        snapshot: Snapshot {
            files,
            messages: made.messages,
            author_name: made.author_name,
            author,
            change_time,
            file_history,
            author_experience: AuthorExperience::Commits(author_commits),
            author_known_dirs,
            blame,
        },
        base,
        head,
        base_from: revs.base_rev,
        config,
        shallow: revs.shallow,
        partial: index.built_in_partial_clone(),
        absent_mailmap: index.absent_mailmap(),
        commits: made.commits,
        file_authors,
        unreadable,
        indexed_now,
        indexed_total: index.len(),
    })
}

/// The revisions of a change: head, the base branch's tip, and their merge-base.
struct Revisions {
    head: Oid,
    base_rev: String,
    base_tip: Oid,
    base: Oid,
    shallow: bool,
}

impl Revisions {
    fn resolve(repo: &Repository, spec: &ChangeSpec) -> Result<Revisions, MiningError> {
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
        Ok(Revisions {
            head,
            base_rev,
            base_tip,
            base,
            shallow,
        })
    }
}

/// The repository's history index, extended to `base` and saved: it and the commits added.
fn index_to(
    repo: &Repository,
    base: Oid,
    deadline: Option<std::time::Instant>,
) -> Result<(HistoryIndex, usize), MiningError> {
    let started = std::time::Instant::now();
    let mut index = HistoryIndex::open(repo);
    let loaded = started.elapsed();
    let indexed_now = match index.extend_to(repo, base, deadline)? {
        index::Extended::Done(n) => n,
        index::Extended::Stopped(_) => {
            // What was indexed is kept: the next attempt goes on from there.
            index.save();
            return Err(MiningError::TimedOut);
        }
    };
    index.save();
    tracing::debug!(?loaded, extended = ?started.elapsed(), indexed_now, total = index.len(), "history index ready");
    Ok((index, indexed_now))
}

/// The squashed diff of base..head, renames as git finds them (libgit2's when git cannot be
/// asked), line diffs made.
fn diff_of_change(
    repo: &Repository,
    objects: &mut ObjectCache,
    spec: &ChangeSpec,
    revs: &Revisions,
    base_tree: Oid,
    head_commit: &git2::Commit<'_>,
) -> Result<Vec<FileChange>, MiningError> {
    // Refused here, before git is asked for renames and fails on the same trees.
    super::tree_diff::check_tree_depth(repo, Some(base_tree), head_commit.tree_id())?;
    let git_renames = match renames::between(repo.path(), revs.base, revs.head, spec.deadline) {
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
    // A line diff of a large rewritten file takes seconds (a shuffled file of two million
    // lines, 49 s): the deadline is looked at before each file.
    diff_trees_cached(repo, objects, base_tree, head_commit.tree_id(), source)?
        .into_iter()
        .map(|f| {
            if super::past(spec.deadline) {
                return Err(MiningError::TimedOut);
            }
            Ok(f.finish(&mut line_diffs)?.file)
        })
        .collect()
}

/// The commits of the change itself: messages for FIX, and who wrote it.
struct ChangeCommits {
    /// Commits in base..head (merges included).
    commits: usize,
    messages: Vec<String>,
    author_key: String,
    author_name: String,
}

impl ChangeCommits {
    fn walk(
        repo: &Repository,
        revs: &Revisions,
        head_commit: &git2::Commit<'_>,
        identities: &Identities,
        unreadable: &mut UnreadableCommits,
    ) -> Result<ChangeCommits, MiningError> {
        let mut walk = repo.revwalk()?;
        walk.push(revs.head)?;
        walk.hide(revs.base)?;
        let mut commits = 0;
        let mut messages = Vec::new();
        // Per author: commits made, the name, and how near head the latest one is (the walk
        // meets head first).
        let mut authored: HashMap<String, (usize, String, usize)> = HashMap::new();
        for oid in walk {
            let oid = oid?;
            commits += 1;
            let c = match repo.find_commit(oid) {
                Ok(c) => c,
                // Counted, but neither its message nor its author can be known.
                Err(e) if unreadable.note(repo, oid, &e) => continue,
                Err(e) => return Err(e.into()),
            };
            if c.parent_count() > 1 {
                continue;
            }
            messages.push(String::from_utf8_lossy(c.message_bytes()).into_owned());
            let author = identities.author(&c);
            authored
                .entry(author.key)
                .or_insert((0, author.name, commits))
                .0 += 1;
        }
        // The author is whoever made most of the change's commits; ties go to head's author,
        // then to whoever committed nearest head, so that the same change always has the
        // same author.
        let head = identities.author(head_commit);
        let (author_key, author_name) = authored
            .iter()
            .max_by_key(|(k, (n, _, nearest))| (*n, **k == head.key, Reverse(*nearest)))
            .map(|(k, (_, name, _))| (k.clone(), name.clone()))
            .unwrap_or_else(|| (head.key.clone(), head.name.clone()));
        Ok(ChangeCommits {
            commits,
            messages,
            author_key,
            author_name,
        })
    }
}

/// The author's earlier commits in the history (for EXP, REXP, SEXP), and which directories
/// of the change they touched before.
fn author_history(
    index: &HistoryIndex,
    history: &index::ReachableFrom<'_>,
    a: u32,
    files: &[FileChange],
) -> (Vec<AuthorCommit>, BTreeSet<String>) {
    let mut author_commits = Vec::new();
    let mut author_known_dirs = BTreeSet::new();
    let mut author_paths: BTreeSet<&str> = BTreeSet::new();
    for &c in index.commits_of_author(a) {
        if !index::Lineage::visible(history, c) {
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
    (author_commits, author_known_dirs)
}

/// Identities of everyone who changed the touched files before, sorted by author id.
fn file_authors(index: &HistoryIndex, file_history_ids: &[Vec<u32>]) -> Vec<String> {
    let ids: BTreeSet<u32> = file_history_ids
        .iter()
        .flatten()
        .map(|&c| index.commit(c).author)
        .collect();
    ids.into_iter()
        .map(|a| index.author_key_of(a).to_string())
        .collect()
}

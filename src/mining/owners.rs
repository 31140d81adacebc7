//! Line ownership: for a blob, the commit (index id) that last wrote each of its lines, as
//! `git blame` would follow it through the history graph.
//!
//! One rule defines it, and both ways of computing it follow that rule, so `mine` (which keeps
//! owners along its single pass) and `score` (which replays the touched files' own history)
//! agree:
//!
//! - a non-merge commit that adds or changes a text file owns the lines its line diff against
//!   its first parent adds; the other lines keep the owners they had in the parent's version.
//!   The line diff is the zero-context one `git blame` makes, which can line up differently
//!   from `git diff`'s ([`LineDiffs::blame_hunks`]);
//! - a merge whose version of a file differs from every parent's ("resolved", by hand or by
//!   the merge machinery) takes each line from the first parent whose version has it
//!   unchanged, and owns the lines no parent has: all of them when no parent has the file. A
//!   parent that lacks the file at its path is read under the name a rename into the merge
//!   gives it there ([`crate::mining::MergeFiles::renames`]), as git blame reads it; when that
//!   version is the merge's very one, the whole file is that parent's;
//! - owners are kept per file, blob and producer: the same content reached again in a file (a
//!   revert, a cherry-pick, a merge taking the other side) has the owners of the producer git
//!   blame reaches from the commit asking: back along first parents and, at a merge, into the
//!   first parent with the same version ([`producer_on_blames_way`]). Two files with the same
//!   content keep their own owners;
//! - a commit the repository asks blame to look past (`.git-blame-ignore-revs`,
//!   [`IgnoredRevisions`]), a mass reformat, owns only the lines it adds without replacing any;
//!   a line it changed keeps the owner of the line it replaced ([`apply_hunks_looking_past`]);
//! - what the history cannot explain (a version whose producer is outside the replayed
//!   history: a shallow cut, a rename the index did not follow) is nobody's ([`NOBODY`]).

use std::collections::{HashMap, HashSet};
use std::rc::Rc;

use git2::{Oid, Repository};

use super::ignored_revisions::IgnoredRevisions;
use super::index::{HistoryIndex, Lineage};
use super::line_match;
use super::{CachedBlob, Hunk, LineDiffs, MiningError, ObjectCache};

/// The owner of a line no commit can be named for.
pub const NOBODY: u32 = u32::MAX;

/// Marks a line of a merge's version that a parent's version does not have unchanged.
const CHANGED: u32 = u32::MAX - 1;

/// Owners of the lines of a file after a zero-context diff, from the owners before it and the
/// diff's hunks: unchanged lines keep theirs, added or changed lines go to `owner`. Owners
/// missing before (an unknown version) are [`NOBODY`].
pub fn apply_hunks(old_owners: &[u32], hunks: &[Hunk], new_len: usize, owner: u32) -> Vec<u32> {
    let mut owners = Vec::with_capacity(new_len);
    let mut old_pos = 0usize;
    for hunk in hunks {
        // With no context, a pure insertion's old_start is the line *before* it.
        let old_start = if hunk.old_lines == 0 {
            hunk.old_start as usize
        } else {
            (hunk.old_start as usize).saturating_sub(1)
        };
        while old_pos < old_start && owners.len() < new_len {
            owners.push(old_owners.get(old_pos).copied().unwrap_or(NOBODY));
            old_pos += 1;
        }
        old_pos = old_start + hunk.old_lines as usize;
        for _ in 0..hunk.new_lines {
            owners.push(owner);
        }
    }
    while owners.len() < new_len {
        owners.push(old_owners.get(old_pos).copied().unwrap_or(NOBODY));
        old_pos += 1;
    }
    owners.truncate(new_len);
    owners
}

/// Owners after a commit blame looks past ([`IgnoredRevisions`]): an added or changed line
/// keeps the owner of the line of the old version it came from, as git blame guesses it
/// ([`line_match::origins`]); a line nothing in the old version resembles is `owner`'s. `old`
/// and `new` are the two versions' content.
///
/// [`IgnoredRevisions`]: super::ignored_revisions::IgnoredRevisions
pub fn apply_hunks_looking_past(
    old_owners: &[u32],
    hunks: &[Hunk],
    new_len: usize,
    owner: u32,
    (old, new): (&[u8], &[u8]),
) -> Vec<u32> {
    let origins = line_match::origins(&line_match::lines(old), &line_match::lines(new), hunks);
    let mut owners = apply_hunks(old_owners, hunks, new_len, owner);
    for (o, origin) in owners.iter_mut().zip(origins) {
        if let Some(line) = origin {
            *o = old_owners.get(line).copied().unwrap_or(NOBODY);
        }
    }
    owners
}

/// One parent of a merge as [`merge_owners`] reads it: the owners of its version of the file,
/// the hunks of the line diff from that version to the merge's, and its content.
pub struct MergeParent<'a> {
    pub owners: &'a [u32],
    pub hunks: &'a [Hunk],
    pub text: &'a [u8],
}

/// Owners of a merge's resolved version of a file: each line from the first parent that has
/// it unchanged, else the merge's own. For a merge blame looks past (`looked_past`: the merge's
/// content), a line no parent has unchanged takes the owner of the line it came from in the
/// first parent where one is found ([`line_match::origins`]), as git blame tries each parent in
/// turn.
pub fn merge_owners(
    parents: &[MergeParent<'_>],
    new_len: usize,
    merge: u32,
    looked_past: Option<&[u8]>,
) -> Vec<u32> {
    let mut owners = vec![CHANGED; new_len];
    for p in parents {
        let from_parent = apply_hunks(p.owners, p.hunks, new_len, CHANGED);
        for (o, f) in owners.iter_mut().zip(from_parent) {
            if *o == CHANGED {
                *o = f;
            }
        }
    }
    if let Some(text) = looked_past {
        let lines = line_match::lines(text);
        for p in parents {
            if !owners.contains(&CHANGED) {
                break;
            }
            let origins = line_match::origins(&line_match::lines(p.text), &lines, p.hunks);
            for (o, origin) in owners.iter_mut().zip(origins) {
                if let (CHANGED, Some(line)) = (*o, origin) {
                    *o = p.owners.get(line).copied().unwrap_or(NOBODY);
                }
            }
        }
    }
    for o in owners.iter_mut() {
        if *o == CHANGED {
            *o = merge;
        }
    }
    owners
}

/// The name a merge's file at `path` has in one of its parents, and what `entry` finds there:
/// the same path, else the old path of one of the merge's `renames` into it (how `git blame`
/// follows a file a parent has under another name). `None` when the parent has neither.
pub fn name_in_parent<'n, S: AsRef<str>, E>(
    path: &'n str,
    renames: &'n [(S, S)],
    mut entry: impl FnMut(&str) -> Option<E>,
) -> Option<(&'n str, E)> {
    if let Some(e) = entry(path) {
        return Some((path, e));
    }
    renames
        .iter()
        .filter(|(_, new)| new.as_ref() == path)
        .find_map(|(old, _)| entry(old.as_ref()).map(|e| (old.as_ref(), e)))
}

/// Most bytes of owner lists an [`OwnerCache`] keeps (4 bytes a line); past it the least
/// recently used lists go, and are replayed from history if they are needed again.
pub const OWNER_CACHE_BYTES: usize = 256 << 20;

/// Owners as one producer (index id) gave them.
pub type Produced = (u32, Rc<[u32]>);

/// Of `producers` of version `blob` of the file called `path`, the one whose owners git blame
/// gives that version when it meets it at commit `at`: it goes back from `at` along first
/// parents and, at a merge, into the first parent that has the same version, to the first
/// commit that made it. `None` when that way reaches a commit that changed the file but is not
/// among `producers` (one left out, or a step that kept no owners), or leaves the index.
pub fn producer_on_blames_way(
    repo: &Repository,
    index: &HistoryIndex,
    objects: &mut ObjectCache,
    path: &str,
    blob: Oid,
    at: u32,
    producers: &[u32],
) -> Option<u32> {
    let path_id = index.path_id(path);
    let changes_the_file = |ids: &[u32]| path_id.is_some_and(|p| ids.contains(&p));
    let mut at = at;
    // Every step goes to a parent, which the index holds before its child: the way ends.
    loop {
        if producers.contains(&at) {
            return Some(at);
        }
        let ic = index.commit(at);
        if !ic.merge {
            if changes_the_file(&ic.touched) {
                return None;
            }
            at = *ic.parents.first()?;
            continue;
        }
        if changes_the_file(&ic.resolved) {
            return None;
        }
        // The merge has `blob` here; where the first parent has the same, it goes there.
        if let Some(unlike) = &ic.unlike_first_parent {
            if !changes_the_file(unlike) {
                at = *ic.parents.first()?;
                continue;
            }
        }
        let merge = repo.find_commit(Oid::from_bytes(&ic.oid).ok()?).ok()?;
        let same = merge.parent_ids().find(|&p| {
            repo.find_commit(p)
                .ok()
                .and_then(|p| objects.entry_at(repo, p.tree_id(), path))
                == Some(blob)
        })?;
        at = index.lookup(same)?;
    }
}

/// Of `producers` of one version, the one whose owners stand for a history that has no one
/// commit to start git blame's way from ([`producer_on_blames_way`]), or where that way finds
/// none of them: the descendant, or for two on separate branches the later by author time,
/// then by commit id. It does not depend on the order the commits were indexed in.
fn standing_producer(index: &HistoryIndex, history: &impl Lineage, a: u32, b: u32) -> u32 {
    if a == b || history.is_ancestor(b, a) {
        return a;
    }
    if history.is_ancestor(a, b) {
        return b;
    }
    let key = |c: u32| {
        let ic = index.commit(c);
        (ic.time, ic.oid)
    };
    if key(a) >= key(b) {
        a
    } else {
        b
    }
}

/// Of `producers` (of one version), the one whose owners stand ([`standing_producer`]).
fn standing_among<'p>(
    producers: impl Iterator<Item = &'p Produced>,
    index: &HistoryIndex,
    history: &impl Lineage,
) -> Option<&'p Produced> {
    producers.reduce(|s, p| {
        if standing_producer(index, history, s.0, p.0) == s.0 {
            s
        } else {
            p
        }
    })
}

/// Producers of one blob kept at most: the content reached on many branches at once is rare;
/// past this the oldest go (and are replayed if asked for). A stored replay leaves out a
/// version with more (see [`Replayed::kept`]).
const PRODUCERS_KEPT: usize = 8;

/// Owners per file (its path there), blob and producer (the commit, index id, whose change
/// gave that version those owners), bounded by [`OWNER_CACHE_BYTES`], least recently used
/// versions dropped first.
pub struct OwnerCache {
    /// (blob, path) → (producers with their owners, oldest first; when last used).
    entries: HashMap<(Oid, Box<str>), (Vec<Produced>, u64)>,
    bytes: usize,
    limit: usize,
    clock: u64,
}

impl Default for OwnerCache {
    fn default() -> Self {
        OwnerCache::with_limit(OWNER_CACHE_BYTES)
    }
}

impl OwnerCache {
    pub fn with_limit(limit: usize) -> OwnerCache {
        OwnerCache {
            entries: HashMap::new(),
            bytes: 0,
            limit,
            clock: 0,
        }
    }

    /// Owners of `blob` at `path` from its producer in `history` (ancestors of the commit
    /// asking): the only one there, or the one `pick` chooses of several (`None`: it cannot
    /// tell, as when the producer it looks for was let go).
    pub fn get(
        &mut self,
        path: &str,
        blob: Oid,
        history: &impl Lineage,
        pick: impl FnOnce(&[u32]) -> Option<u32>,
    ) -> Option<Rc<[u32]>> {
        self.clock += 1;
        let clock = self.clock;
        let (producers, used) = self.entries.get_mut(&(blob, Box::from(path)))?;
        *used = clock;
        let visible: Vec<&Produced> = producers
            .iter()
            .filter(|(p, _)| history.visible(*p))
            .collect();
        let chosen = match visible.as_slice() {
            [] => return None,
            [(_, owners)] => return Some(owners.clone()),
            several => pick(&several.iter().map(|(p, _)| *p).collect::<Vec<_>>())?,
        };
        visible
            .into_iter()
            .find(|(p, _)| *p == chosen)
            .map(|(_, o)| o.clone())
    }

    /// Keep `owners` for `blob` at `path` as `producer` gave them.
    pub fn insert(&mut self, path: &str, blob: Oid, producer: u32, owners: Rc<[u32]>) {
        self.clock += 1;
        self.bytes += owners.len() * 4;
        let (producers, used) = self.entries.entry((blob, Box::from(path))).or_default();
        *used = self.clock;
        producers.retain(|(p, old)| {
            let keep = *p != producer;
            if !keep {
                self.bytes -= old.len() * 4;
            }
            keep
        });
        let at = producers.partition_point(|(p, _)| *p < producer);
        producers.insert(at, (producer, owners));
        if producers.len() > PRODUCERS_KEPT {
            let (_, old) = producers.remove(0);
            self.bytes -= old.len() * 4;
        }
        if self.bytes > self.limit {
            self.shrink();
        }
    }

    /// Drop the least recently used blobs until a quarter of the budget is free.
    fn shrink(&mut self) {
        let mut by_use: Vec<(u64, (Oid, Box<str>))> = self
            .entries
            .iter()
            .map(|(k, (_, u))| (*u, k.clone()))
            .collect();
        by_use.sort_unstable();
        let target = self.limit / 4 * 3;
        for (_, id) in by_use {
            if self.bytes <= target {
                break;
            }
            if let Some((producers, _)) = self.entries.remove(&id) {
                self.bytes -= producers.iter().map(|(_, o)| o.len() * 4).sum::<usize>();
            }
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Lines whose owners are kept.
    pub fn lines(&self) -> usize {
        self.bytes / 4
    }
}

/// Whether a tree entry's mode is a regular file's, the only kind whose lines have owners
/// (not a tree, a symlink or a submodule).
pub fn is_regular_file(mode: i32) -> bool {
    matches!(mode, 0o100644 | 0o100755 | 0o100664)
}

/// The tree entries a replay looks up, each read once: [`versions_read`] looks up the steps'
/// versions before the replay does, and reading large trees twice made git-for-windows' pull
/// requests a fifth slower.
#[derive(Default)]
struct Entries(HashMap<(Oid, Box<str>), Option<TreeEntry>>);

/// A tree entry's id and file mode.
type TreeEntry = (Oid, i32);

impl Entries {
    /// [`ObjectCache::entry_at_with_mode`].
    fn at(
        &mut self,
        objects: &mut ObjectCache,
        repo: &Repository,
        tree: Oid,
        path: &str,
    ) -> Option<TreeEntry> {
        let key = (tree, Box::from(path));
        if let Some(&found) = self.0.get(&key) {
            return found;
        }
        let found = objects.entry_at_with_mode(repo, tree, path);
        self.0.insert(key, found);
        found
    }

    /// The blob of the regular file at `path` under tree `tree` (None: absent, or a tree,
    /// symlink or submodule there).
    fn regular_blob(
        &mut self,
        objects: &mut ObjectCache,
        repo: &Repository,
        tree: Oid,
        path: &str,
    ) -> Option<Oid> {
        let (id, mode) = self.at(objects, repo, tree, path)?;
        is_regular_file(mode).then_some(id)
    }
}

/// [`ObjectCache::blame_blob`] of a replay step, noting in `lacked` when there is none because
/// the repository lacks the blob (a partial or damaged clone), not because it is binary.
fn blame_blob_noting_absence(
    objects: &mut ObjectCache,
    repo: &Repository,
    id: Oid,
    path: &str,
    lacked: &mut bool,
) -> Option<Rc<CachedBlob>> {
    let blob = objects.blame_blob(repo, id, path);
    *lacked |= blob.is_none() && !id.is_zero() && objects.blob(repo, id).is_none();
    blob
}

/// What replaying a file's history cost: the steps replayed and the line diffs made.
#[derive(Debug, Default, Clone, Copy)]
pub struct ReplayCost {
    pub steps: usize,
    pub diffs: usize,
}

/// Where a replay starts when the first steps of a file's history were replayed before
/// ([`super::owner_store`]): the owners of the versions it kept, and which other versions
/// those steps produced (their owners are not kept: a later step that needs one sends the
/// replay back to the start).
#[derive(Debug, Default)]
pub struct ReplaySeed {
    pub kept: Vec<(Oid, Vec<Produced>)>,
    pub others: HashSet<Oid>,
}

/// What a replay ended with: the target's owners, and the state to start from next time.
#[derive(Debug)]
pub struct Replayed {
    /// The step that last produced `target`, with its owners; `None` when the history never
    /// produced it (its lines are then nobody's).
    pub target: Option<Produced>,
    /// Versions kept for the next replay, each with every producer the steps had for it and
    /// their owners: the file's version after the last step and the target. In a history
    /// merged "ours"-wise (a merging rebase) the last step is often on a line the target
    /// dropped, and rebased copies of one commit produce the same version, so the last
    /// version alone, or one producer, would leave the next score nothing to start from.
    pub kept: Vec<(Oid, Vec<Produced>)>,
    /// Every other version the steps produced.
    pub others: Vec<Oid>,
    /// A version on the way is not in the repository (a partial or damaged clone): the
    /// owners are not known, only guessed past it.
    pub lacked: bool,
}

/// Owners of the lines of `target`, the blob of the file called `path` at some commit,
/// replayed along `steps`: the file's history as the index gives it ([`HistoryIndex::file_steps`]:
/// the commits that changed it and the merges that resolved it, renames followed, oldest first,
/// each with the file's name there), from the start or, with `seed`, from where an earlier
/// replay of the steps before these ended.
/// Past `deadline` it stops with [`MiningError::TimedOut`].
/// The cost is that history's, one line diff a step, never a walk of the repository. The
/// result depends only on the steps, which of them blame looks past (`ignored`) and the
/// repository's content, so a seeded replay gives
/// what the whole replay gives; when the seed lacks a version a step needs, the answer is
/// `None` and the caller replays from the start.
#[allow(clippy::too_many_arguments)]
pub fn replay_owners(
    repo: &Repository,
    index: &HistoryIndex,
    objects: &mut ObjectCache,
    line_diffs: &mut LineDiffs<'_>,
    history: &impl Lineage,
    steps: &[(u32, u32)],
    target: Oid,
    seed: Option<&ReplaySeed>,
    cost: &mut ReplayCost,
    ignored: &IgnoredRevisions,
    deadline: Option<std::time::Instant>,
) -> Result<Option<Replayed>, MiningError> {
    // What finding a producer on git blame's way reads; its object cache serves the whole replay.
    let mut way = Way {
        repo,
        index,
        objects,
        history,
    };
    let unseeded = HashSet::new();
    let (seeded, not_kept): (HashMap<Oid, Vec<Produced>>, &HashSet<Oid>) = match seed {
        Some(seed) => (seed.kept.iter().cloned().collect(), &seed.others),
        None => (HashMap::new(), &unseeded),
    };
    let mut entries = Entries::default();
    let (last_read, last_made) = versions_read(repo, (way.objects, &mut entries), index, steps);
    let mut local = Versions {
        produced: seeded.keys().copied().collect(),
        owners: seeded,
        may_go: Vec::new(),
    };
    // A version the seed's steps produced but did not keep: only a whole replay knows all of
    // its producers. Every other version's producers are all in `local`, the seed's kept
    // with those of the steps since, as in a whole replay, so the choices below are its own.
    macro_rules! needs_whole_replay {
        ($id:expr) => {
            if not_kept.contains(&$id) {
                return Ok(None);
            }
        };
    }
    let empty: Rc<[u32]> = Rc::from(Vec::new());
    let mut last: Option<Oid> = None;
    let mut lacked = false;
    for (i, &(c, name)) in steps.iter().enumerate() {
        // One file's replay can run for minutes (thousands of versions of a large file, or
        // merges of hundreds of parents, each a line diff): the deadline is looked at each step.
        if super::past(deadline) {
            return Err(MiningError::TimedOut);
        }
        local.forget_unread(&last_read, i, [Some(target), last_made]);
        cost.steps += 1;
        last = None;
        let ic = index.commit(c);
        let oid = Oid::from_bytes(&ic.oid).expect("20-byte oid");
        let Ok(commit) = repo.find_commit(oid) else {
            continue;
        };
        let name = index.path(name).to_string();
        let Some(new_id) = entries.regular_blob(way.objects, repo, commit.tree_id(), &name) else {
            continue; // deleted here, or not a regular file
        };
        let Some(new) = blame_blob_noting_absence(way.objects, repo, new_id, &name, &mut lacked)
        else {
            continue;
        };
        last = Some(new_id);
        needs_whole_replay!(new_id);
        let new_len = new.lines as usize;
        let owners = if ic.merge {
            let mut parents = Vec::new();
            // Whether a parent has the file, or may have it past a shallow clone's cut.
            let mut in_a_parent = false;
            let renames: Vec<(&str, &str)> = ic
                .renames
                .iter()
                .map(|&(o, n)| (index.path(o), index.path(n)))
                .collect();
            for parent in commit.parent_ids() {
                let Some(tree) = repo.find_commit(parent).ok().map(|p| p.tree_id()) else {
                    in_a_parent = true;
                    continue;
                };
                let Some((name_there, (id, mode))) =
                    name_in_parent(&name, &renames, |n| entries.at(way.objects, repo, tree, n))
                else {
                    continue;
                };
                if !is_regular_file(mode) {
                    continue;
                }
                in_a_parent = true;
                if id == new_id {
                    // Not resolved after all: this version is the parent's.
                    parents.clear();
                    break;
                }
                let Some(old) =
                    blame_blob_noting_absence(way.objects, repo, id, name_there, &mut lacked)
                else {
                    continue;
                };
                needs_whole_replay!(id);
                cost.diffs += 1;
                let hunks =
                    line_diffs.blame_hunks_in_history(id, old.content(), new_id, new.content())?;
                let owners = local.read(&mut way, (name_there, id), index.lookup(parent));
                parents.push((owners.unwrap_or_else(|| empty.clone()), hunks, old));
            }
            if !in_a_parent {
                // The merge made the file: its lines are the merge's, as a commit's that adds it.
                local.produce(new_id, c, vec![c; new_len]);
                continue;
            }
            if parents.is_empty() {
                continue;
            }
            let parents: Vec<MergeParent<'_>> = parents
                .iter()
                .map(|(o, h, old)| MergeParent {
                    owners: o,
                    hunks: h,
                    text: old.content(),
                })
                .collect();
            let looked_past = ignored.holds(index, c).then(|| new.content());
            merge_owners(&parents, new_len, c, looked_past)
        } else {
            let first_parent = commit.parent_ids().next();
            let parent = first_parent.and_then(|p| repo.find_commit(p).ok());
            if first_parent.is_some() && parent.is_none() {
                // Beyond a shallow clone's cut: nobody can be named for the lines.
                local.produce(new_id, c, vec![NOBODY; new_len]);
                continue;
            }
            let old_name = index.name_before(&name, c);
            // The commit moved the old file of this name elsewhere and made a new one here:
            // its diff shows this one added.
            let moved_away = old_name == name
                && ic
                    .renames
                    .iter()
                    .any(|&(o, n)| o != n && index.path(o) == name);
            let old_id = parent.and_then(|p| entries.at(way.objects, repo, p.tree_id(), &old_name));
            match old_id.filter(|_| !moved_away) {
                None => vec![c; new_len],
                // It was a symlink or a submodule: every line is the commit's, as when a file
                // is added.
                Some((_, mode)) if !is_regular_file(mode) => vec![c; new_len],
                Some((id, _)) => {
                    let Some(old) =
                        blame_blob_noting_absence(way.objects, repo, id, &old_name, &mut lacked)
                    else {
                        continue;
                    };
                    needs_whole_replay!(id);
                    cost.diffs += 1;
                    let hunks = line_diffs.blame_hunks_in_history(
                        id,
                        old.content(),
                        new_id,
                        new.content(),
                    )?;
                    let before = local.read(
                        &mut way,
                        (&old_name, id),
                        first_parent.and_then(|p| index.lookup(p)),
                    );
                    let before = before.unwrap_or_else(|| empty.clone());
                    if ignored.holds(index, c) {
                        let texts = (old.content(), new.content());
                        apply_hunks_looking_past(&before, &hunks, new_len, c, texts)
                    } else {
                        apply_hunks(&before, &hunks, new_len, c)
                    }
                }
            }
        };
        local.produce(new_id, c, owners);
    }
    needs_whole_replay!(target);
    // The target is the version at the history's tip, under the name of the file's last step.
    let target_produced = match (local.owners.get(&target).map(Vec::as_slice), steps.last()) {
        (None | Some([]), _) => None,
        (Some([one]), _) => Some(one.clone()),
        (Some(several), last_step) => {
            let reached = history
                .tip()
                .zip(last_step)
                .and_then(|(tip, &(_, name))| way.reach(several, (index.path(name), target), tip));
            match reached {
                Some(p) => Some(p.clone()),
                None => standing_among(several.iter(), index, history).cloned(),
            }
        }
    };
    // A seed keeps every producer of a version, as the whole replay has them, or leaves the
    // version out: a version of more than a few producers is left for a whole replay.
    // The last version is often the target itself: then it is kept once.
    let versions = match last {
        Some(last) if last != target => vec![last, target],
        _ => vec![target],
    };
    let kept: Vec<(Oid, Vec<Produced>)> = versions
        .into_iter()
        .filter_map(|blob| Some((blob, local.owners.get(&blob)?.clone())))
        .filter(|(_, producers)| producers.len() <= PRODUCERS_KEPT)
        .collect();
    let mut others: Vec<Oid> = local
        .produced
        .iter()
        .chain(not_kept.iter())
        .filter(|&&b| kept.iter().all(|(k, _)| *k != b))
        .copied()
        .collect();
    others.sort_unstable();
    others.dedup();
    Ok(Some(Replayed {
        target: target_produced,
        kept,
        others,
        lacked,
    }))
}

/// The versions of a file a replay has met.
struct Versions {
    /// Every producer of each version met and still to be read, with its owners, oldest
    /// first: which one's owners a step reads depends on that step's own history, as in the
    /// miner's cache.
    owners: HashMap<Oid, Vec<Produced>>,
    /// Every version the steps (and the seed's) produced, its owners kept or not.
    produced: HashSet<Oid>,
    /// Versions the step just replayed made or read: their owners go before the next step
    /// unless a later one may read them.
    may_go: Vec<Oid>,
}

impl Versions {
    fn produce(&mut self, blob: Oid, c: u32, owners: Vec<u32>) {
        let producers = self.owners.entry(blob).or_default();
        producers.retain(|(p, _)| *p != c);
        producers.push((c, Rc::from(owners)));
        self.produced.insert(blob);
        self.may_go.push(blob);
    }

    /// [`seen_from`] of these versions.
    fn read<L: Lineage>(
        &mut self,
        way: &mut Way<'_, '_, L>,
        (name, blob): (&str, Oid),
        at: Option<u32>,
    ) -> Option<Rc<[u32]>> {
        self.may_go.push(blob);
        seen_from(way, &self.owners, (name, blob), at)
    }

    /// Before step `step`: let go of the owners of versions no step from it on reads
    /// (`last_read`), but those of `kept`. Only the versions the last step made or read can
    /// have become unread, so only they are looked at.
    fn forget_unread(
        &mut self,
        last_read: &HashMap<Oid, usize>,
        step: usize,
        kept: [Option<Oid>; 2],
    ) {
        for blob in self.may_go.drain(..) {
            let read_later = last_read.get(&blob).is_some_and(|&k| k >= step);
            if !read_later && !kept.contains(&Some(blob)) {
                self.owners.remove(&blob);
            }
        }
    }
}

/// For each version of the file a step of `steps` may read as one of its parents' (under its
/// name there, its name before the step, or the old name of a merge's rename into it), the
/// last step that may; and the version the last step makes. It may name more than a step
/// reads, never fewer: a version it leaves out would lose its owners too soon.
fn versions_read(
    repo: &Repository,
    (objects, entries): (&mut ObjectCache, &mut Entries),
    index: &HistoryIndex,
    steps: &[(u32, u32)],
) -> (HashMap<Oid, usize>, Option<Oid>) {
    let mut last_read = HashMap::new();
    let mut last_made = None;
    for (i, &(c, name)) in steps.iter().enumerate() {
        let ic = index.commit(c);
        let Ok(commit) = repo.find_commit(Oid::from_bytes(&ic.oid).expect("20-byte oid")) else {
            last_made = None;
            continue;
        };
        let name = index.path(name);
        let before = index.name_before(name, c);
        let renamed_from = ic
            .renames
            .iter()
            .filter(|&&(_, n)| index.path(n) == name)
            .map(|&(o, _)| index.path(o));
        let names: Vec<&str> = [name, before.as_str()]
            .into_iter()
            .chain(renamed_from)
            .collect();
        let parents = commit
            .parent_ids()
            .take(if ic.merge { usize::MAX } else { 1 });
        for parent in parents {
            let Some(tree) = repo.find_commit(parent).ok().map(|p| p.tree_id()) else {
                continue;
            };
            for &n in &names {
                if let Some((id, _)) = entries.at(objects, repo, tree, n) {
                    last_read.insert(id, i);
                }
            }
        }
        last_made = entries
            .at(objects, repo, commit.tree_id(), name)
            .map(|(id, _)| id);
    }
    (last_read, last_made)
}

/// What finding a version's producer on git blame's way reads ([`producer_on_blames_way`]).
struct Way<'a, 'r, L: Lineage> {
    repo: &'r Repository,
    index: &'a HistoryIndex,
    objects: &'a mut ObjectCache,
    history: &'a L,
}

impl<L: Lineage> Way<'_, '_, L> {
    /// Of `produced` (version `blob` of the file called `name`), the one git blame reaches from
    /// commit `at`.
    fn reach<'p>(
        &mut self,
        produced: &'p [Produced],
        (name, blob): (&str, Oid),
        at: u32,
    ) -> Option<&'p Produced> {
        let ids: Vec<u32> = produced.iter().map(|(p, _)| *p).collect();
        let c = producer_on_blames_way(self.repo, self.index, self.objects, name, blob, at, &ids)?;
        produced.iter().find(|(p, _)| *p == c)
    }
}

/// The owners of version `blob` of the file called `name` as the history of commit `at`
/// (index id) gave them: from the producer git blame reaches from `at`, or, when its way finds
/// none of those met, the standing one ([`standing_producer`]) among those that are `at` or
/// its ancestors. `None` when no producer met explains it (its lines are nobody's).
fn seen_from<L: Lineage>(
    way: &mut Way<'_, '_, L>,
    local: &HashMap<Oid, Vec<Produced>>,
    (name, blob): (&str, Oid),
    at: Option<u32>,
) -> Option<Rc<[u32]>> {
    let producers = local.get(&blob)?;
    // Steps run parents first, so the producer on `at`'s own line is among those met: one
    // alone is it (the common case, and no ancestry is asked).
    if let [(_, owners)] = producers.as_slice() {
        return Some(owners.clone());
    }
    if let Some((_, owners)) = at.and_then(|a| way.reach(producers, (name, blob), a)) {
        return Some(owners.clone());
    }
    let seen = producers
        .iter()
        .filter(|(p, _)| at.is_none_or(|a| way.history.is_ancestor(*p, a)));
    standing_among(seen, way.index, way.history).map(|(_, owners)| owners.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mining::diff::hunk;

    /// The index of `repo`'s history up to HEAD, and HEAD's place in it.
    fn indexed_head(repo: &Repository) -> (HistoryIndex, u32) {
        let head = repo.head().unwrap().target().unwrap();
        let mut index = HistoryIndex::in_memory();
        index.extend_to(repo, head, None).unwrap();
        let at = index.lookup(head).unwrap();
        (index, at)
    }

    /// Each version of a file is read until the last step whose parent has it: a revert
    /// brings an earlier version back to be read again, after a move under the new name.
    #[test]
    fn versions_are_read_until_their_last_step() {
        let dir = crate::mining::test_repo::TestRepo::new();
        let commit = |path: &str, text: &str| {
            dir.write(path, text);
            dir.git(&["add", "."]);
            dir.git(&["commit", "-qm", "change"]);
        };
        commit("f.txt", "1\n");
        commit("f.txt", "1\n2\n");
        commit("f.txt", "1\n2\n3\n");
        commit("f.txt", "1\n2\n");
        dir.git(&["mv", "f.txt", "g.txt"]);
        commit("g.txt", "1\n2\n4\n");
        commit("g.txt", "1\n2\n4\n5\n");

        let repo = Repository::open(dir.path()).unwrap();
        let (index, tip) = indexed_head(&repo);
        let history = crate::mining::index::ReachableFrom::new(&index, tip);
        let steps = index.file_steps("g.txt", &history);
        assert_eq!(
            steps.len(),
            6,
            "four changes of f.txt, two of g.txt; the move changes no line"
        );
        let blob = |text: &str| Oid::hash_object(git2::ObjectType::Blob, text.as_bytes()).unwrap();
        let mut objects = ObjectCache::reading_packs(&repo);
        let (last_read, last_made) = versions_read(
            &repo,
            (&mut objects, &mut Entries::default()),
            &index,
            &steps,
        );
        let read = |text: &str| last_read.get(&blob(text)).copied();
        assert_eq!(read("1\n"), Some(1));
        assert_eq!(read("1\n2\n3\n"), Some(3));
        // Made at step 1 and again by the revert (step 3); read at step 2, and at step 4, the
        // first change after the move, whose parent has it as g.txt.
        assert_eq!(read("1\n2\n"), Some(4));
        assert_eq!(read("1\n2\n4\n"), Some(5));
        assert_eq!(
            read("1\n2\n4\n5\n"),
            None,
            "the last version: no step reads it"
        );
        assert_eq!(last_made, Some(blob("1\n2\n4\n5\n")));
    }

    /// A replay looks at its deadline before each step: one already past stops it with
    /// `TimedOut` before any line diff; without one the same replay ends.
    #[test]
    fn a_replay_stops_at_its_deadline() {
        let dir = crate::mining::test_repo::TestRepo::new();
        for text in ["1\n", "1\n2\n", "1\n2\n3\n"] {
            dir.write("f.txt", text);
            dir.git(&["add", "."]);
            dir.git(&["commit", "-qm", "change"]);
        }
        let repo = Repository::open(dir.path()).unwrap();
        let (index, tip) = indexed_head(&repo);
        let history = crate::mining::index::ReachableFrom::new(&index, tip);
        let steps = index.file_steps("f.txt", &history);
        let target = Oid::hash_object(git2::ObjectType::Blob, b"1\n2\n3\n").unwrap();
        let replay = |deadline| {
            let mut objects = ObjectCache::reading_packs(&repo);
            let mut line_diffs = LineDiffs::new(&repo);
            let mut cost = ReplayCost::default();
            let replayed = replay_owners(
                &repo,
                &index,
                &mut objects,
                &mut line_diffs,
                &history,
                &steps,
                target,
                None,
                &mut cost,
                &IgnoredRevisions::default(),
                deadline,
            );
            (replayed, cost)
        };
        let (stopped, cost) = replay(Some(std::time::Instant::now()));
        assert!(matches!(stopped, Err(MiningError::TimedOut)), "{stopped:?}");
        assert_eq!((cost.steps, cost.diffs), (0, 0));
        let (done, cost) = replay(None);
        assert!(done.unwrap().is_some());
        assert_eq!(cost.steps, 3);
    }

    #[test]
    fn hunks_keep_unchanged_owners() {
        // a b c → a B c x : line 2 changed, x added after line 3
        let owners = apply_hunks(&[1, 1, 1], &[hunk(2, 1, 2, 1), hunk(3, 0, 4, 1)], 4, 2);
        assert_eq!(owners, vec![1, 2, 1, 2]);
        // insert at the top, delete the third line
        let owners = apply_hunks(&owners, &[hunk(0, 0, 1, 1), hunk(3, 1, 3, 0)], 4, 3);
        assert_eq!(owners, vec![3, 1, 2, 2]);
        // unknown before: untouched lines are nobody's
        assert_eq!(
            apply_hunks(&[], &[hunk(1, 1, 1, 1)], 3, 5),
            vec![5, NOBODY, NOBODY]
        );
    }

    #[test]
    fn merge_takes_lines_from_the_first_parent_that_has_them() {
        // The merge has 4 lines. Parent 1 has lines 1 and 3 unchanged, parent 2 lines 2 and
        // 3; line 4 is in neither.
        let p1 = [10, 11, 12];
        let p2 = [20, NOBODY, 22];
        let owners = merge_owners(
            &[
                MergeParent {
                    owners: &p1,
                    hunks: &[hunk(2, 1, 2, 1), hunk(3, 0, 4, 1)],
                    text: b"",
                },
                MergeParent {
                    owners: &p2,
                    hunks: &[hunk(1, 1, 1, 1), hunk(3, 0, 4, 1)],
                    text: b"",
                },
            ],
            4,
            99,
            None,
        );
        // Line 2 is parent 2's, whose owner is unknown: it stays unknown.
        assert_eq!(owners, vec![10, NOBODY, 12, 99]);
    }

    #[test]
    fn a_commit_looked_past_leaves_the_owners_of_the_lines_changed_lines_came_from() {
        // Lines 2-3 of 4 rewritten as three lines (re-indented, the second split), and a line
        // like none before added at the end.
        let old = b"fn main() {\n    let total = price * count;\n    print(total, currency)\n}\n";
        let new =
            b"fn main() {\n  let total = price * count;\n  print(total,\n        currency)\n}\n#\n";
        let hunks = [hunk(2, 2, 2, 3), hunk(4, 0, 6, 1)];
        let owners = apply_hunks_looking_past(&[1, 2, 3, 4], &hunks, 6, 9, (old, new));
        assert_eq!(owners, vec![1, 2, 3, 3, 4, 9]);
        assert_eq!(
            apply_hunks(&[1, 2, 3, 4], &hunks, 6, 9),
            vec![1, 9, 9, 9, 4, 9]
        );

        // A merge looked past: a line no parent has keeps the owner of the line it came from
        // in the first parent that has one.
        let first = b"a\nkeep\nz\n";
        let second = b"a\nchanged in the second parent\nz\n";
        let merged = b"a\n  changed in the second parent!\nz\n";
        let parents = [
            MergeParent {
                owners: &[10, 11, 12],
                hunks: &[hunk(2, 1, 2, 1)],
                text: first,
            },
            MergeParent {
                owners: &[20, 21, 22],
                hunks: &[hunk(2, 1, 2, 1)],
                text: second,
            },
        ];
        // "keep" shares nothing with the new line, the second parent's line most of it.
        assert_eq!(
            merge_owners(&parents, 3, 99, Some(merged)),
            vec![10, 21, 12]
        );
        assert_eq!(merge_owners(&parents, 3, 99, None), vec![10, 99, 12]);
    }

    /// A linear history of commits 0, 1, 2…, of which those `visible` accepts are seen.
    struct Linear<F: Fn(u32) -> bool>(F);

    impl<F: Fn(u32) -> bool> Lineage for Linear<F> {
        fn visible(&self, c: u32) -> bool {
            (self.0)(c)
        }
        fn is_ancestor(&self, a: u32, b: u32) -> bool {
            a <= b
        }
        fn tip(&self) -> Option<u32> {
            None
        }
    }

    #[test]
    fn owner_cache_drops_the_least_recently_used() {
        let all = Linear(|_| true);
        let mut cache = OwnerCache::with_limit(4 * 110);
        let id = |n: u8| Oid::from_bytes(&[n; 20]).unwrap();
        cache.insert("a", id(1), 1, Rc::from(vec![1; 40]));
        cache.insert("a", id(2), 2, Rc::from(vec![2; 40]));
        assert!(cache.get("a", id(1), &all, |_| None).is_some());
        cache.insert("a", id(3), 3, Rc::from(vec![3; 40]));
        assert!(cache.lines() <= 110);
        assert!(
            cache.get("a", id(2), &all, |_| None).is_none(),
            "the least recently used went first"
        );
        assert!(cache.get("a", id(1), &all, |_| None).is_some());
        assert!(cache.get("a", id(3), &all, |_| None).is_some());
    }

    #[test]
    fn owner_cache_asks_which_producer_only_among_those_the_history_sees() {
        let mut cache = OwnerCache::default();
        let blob = Oid::from_bytes(&[7; 20]).unwrap();
        cache.insert("f", blob, 10, Rc::from(vec![10, 10]));
        cache.insert("f", blob, 30, Rc::from(vec![30, 30]));
        cache.insert("f", blob, 20, Rc::from(vec![20, 20]));
        let asked = std::cell::RefCell::new(Vec::new());
        let mut got = |seen: &dyn Fn(u32) -> bool, choice: Option<u32>| {
            cache
                .get("f", blob, &Linear(seen), |producers: &[u32]| {
                    asked.borrow_mut().push(producers.to_vec());
                    choice
                })
                .map(|o| o.to_vec())
        };
        assert_eq!(got(&|_| true, Some(20)), Some(vec![20, 20]));
        // A history that has not merged producer 30 chooses among the other two.
        assert_eq!(got(&|p| p != 30, Some(10)), Some(vec![10, 10]));
        // One seen is the answer, without asking; none seen, or no choice, is no answer.
        assert_eq!(got(&|p| p == 30, None), Some(vec![30, 30]));
        assert_eq!(got(&|p| p > 40, Some(30)), None);
        assert_eq!(got(&|_| true, None), None);
        assert_eq!(
            asked.into_inner(),
            vec![vec![10, 20, 30], vec![10, 20], vec![10, 20, 30]]
        );
        // The same producer again replaces its own entry.
        cache.insert("f", blob, 20, Rc::from(vec![21]));
        let only_20 = Linear(|p| p == 20);
        assert_eq!(
            cache.get("f", blob, &only_20, |_| None).map(|o| o.to_vec()),
            Some(vec![21])
        );
        assert_eq!(cache.lines(), 5);
        // Another file with the same content keeps its own owners.
        assert!(cache
            .get("g", blob, &Linear(|_| true), |_| Some(10))
            .is_none());
    }
}

//! Line owners of the blobs the pass meets: from the bounded cache when kept, else replayed
//! from the file's own history, or merged from a merge's parents.

use std::rc::Rc;

use git2::{Oid, Repository};

use crate::mining::ancestry::Ancestry;
use crate::mining::ignored_revisions::IgnoredRevisions;
use crate::mining::index::{HistoryIndex, Lineage};
use crate::mining::owners::{self, MergeParent, OwnerCache, ReplayCost, NOBODY};
use crate::mining::{LineDiffs, MiningError, ObjectCache};

/// The history a commit on top of `at` sees, answered from the chains.
pub(super) struct SeenFrom<'a> {
    pub(super) chains: &'a Ancestry,
    pub(super) at: u32,
}

impl Lineage for SeenFrom<'_> {
    fn visible(&self, c: u32) -> bool {
        self.chains.is_ancestor(c, self.at)
    }

    fn is_ancestor(&self, a: u32, b: u32) -> bool {
        self.chains.is_ancestor(a, b)
    }

    fn tip(&self) -> Option<u32> {
        Some(self.at)
    }
}

/// What the owner lookups read besides their own state.
#[derive(Clone, Copy)]
pub(super) struct Ctx<'a, 'r> {
    pub(super) repo: &'r Repository,
    pub(super) index: &'a HistoryIndex,
    pub(super) chains: &'a Ancestry,
    pub(super) ignored: &'a IgnoredRevisions,
}

/// Line owners per blob along the pass ([`owners`]): kept in a bounded cache, and replayed from
/// the file's own history when a version's owners were dropped.
pub(super) struct OwnerSource {
    pub(super) cache: OwnerCache,
    /// Trees read going back along git blame's way to a version's producer, kept apart from
    /// the pass's own so that old trees do not crowd out the ones it extends.
    pub(super) way_objects: ObjectCache,
    pub(super) replayed: ReplayCost,
    pub(super) rebuilds: usize,
}

impl OwnerSource {
    /// Owners of `blob`, the version of the file called `path` at commit `at` (index id; None:
    /// not in the history, as at a shallow boundary), which has `lines` lines.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn of(
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
            let way_objects = &mut self.way_objects;
            self.cache.get(path, blob, &history, |producers| {
                owners::producer_on_blames_way(
                    ctx.repo,
                    ctx.index,
                    way_objects,
                    path,
                    blob,
                    p,
                    producers,
                )
            })
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
            ctx.ignored,
            None,
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

    /// Owners of `blob`, a merge's resolution of the file at `path` ([`owners::merge_owners`]),
    /// followed into a parent that lacks it there by the merge's `renames`; `looking_past`: the
    /// merge is one blame looks past.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn merge(
        &mut self,
        ctx: Ctx<'_, '_>,
        objects: &mut ObjectCache,
        line_diffs: &mut LineDiffs<'_>,
        (path, blob): (&str, Oid),
        renames: &[(String, String)],
        parent_trees: &[Oid],
        parent_ids: &[Oid],
        merge: u32,
        looking_past: bool,
    ) -> Result<(), MiningError> {
        // A file the attributes make binary has no lines for `git diff`, so no later change
        // reads the owners of its versions and none are kept for them: following them through
        // the merge would replay the file's whole history at each merge, for nothing.
        if objects.binary_by_attributes(ctx.repo, path) == Some(true) {
            return Ok(());
        }
        let Some(new) = objects.blame_blob(ctx.repo, blob, path) else {
            return Ok(());
        };
        let mut parents = Vec::new();
        let mut in_a_parent = false;
        for (&tree, &parent) in parent_trees.iter().zip(parent_ids) {
            let Some((name, (id, mode))) = owners::name_in_parent(path, renames, |name| {
                objects.entry_at_with_mode(ctx.repo, tree, name)
            }) else {
                continue;
            };
            if !owners::is_regular_file(mode) {
                continue;
            }
            in_a_parent = true;
            let Some(old) = objects.blame_blob(ctx.repo, id, name) else {
                continue;
            };
            let hunks = line_diffs.blame_hunks(id, old.content(), blob, new.content())?;
            let at = ctx.index.lookup(parent);
            let o = self.of(ctx, objects, line_diffs, id, name, at, old.lines as usize)?;
            if id == blob {
                // This parent has the very version under its old name: git blame passes the
                // whole file to it.
                parents = vec![(o, hunks, old)];
                break;
            }
            parents.push((o, hunks, old));
        }
        if !in_a_parent {
            // The merge made the file: its lines are the merge's, as a commit's that adds it.
            let made = vec![merge; new.lines as usize];
            self.cache.insert(path, blob, merge, Rc::from(made));
            return Ok(());
        }
        if parents.is_empty() {
            return Ok(());
        }
        let parents: Vec<MergeParent<'_>> = parents
            .iter()
            .map(|(o, h, old)| MergeParent {
                owners: o,
                hunks: h,
                text: old.content(),
            })
            .collect();
        let looked_past = looking_past.then(|| new.content());
        let merged = owners::merge_owners(&parents, new.lines as usize, merge, looked_past);
        self.cache.insert(path, blob, merge, Rc::from(merged));
        Ok(())
    }
}

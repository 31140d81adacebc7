//! The labels a commit gives earlier ones: the commit it reverts, and (a fix) the commits
//! that last wrote the lines it removed or changed (SZZ).

use std::collections::HashMap;
use std::rc::Rc;

use git2::Repository;

use super::{MineOptions, MinedRow};
use crate::features::{fix_words, ChangeKind};
use crate::labels::revert::RevertFinder;
use crate::labels::szz::{self, FixWordCounts, RemovedLine};
use crate::labels::{LabelKind, Provenance};
use crate::mining::ignored_revisions::IgnoredRevisions;
use crate::mining::index::HistoryIndex;
use crate::mining::owners::NOBODY;
use crate::mining::{line_match, DiffedFile, MiningError, ObjectCache};

/// What labelling keeps from commit to commit.
pub(super) struct Labeller<'o> {
    options: &'o MineOptions,
    want_revert: bool,
    want_szz: bool,
    reverts: RevertFinder,
    /// The row of each commit given to `reverts`, in order (none past a shallow cut).
    revert_rows: Vec<u32>,
    /// The fix words of every commit message seen.
    word_counts: FixWordCounts,
    /// The fix words of each SZZ fix that names no issue it fixes, by commit.
    fixed_by_words: HashMap<String, u16>,
}

impl<'o> Labeller<'o> {
    pub(super) fn new(options: &'o MineOptions) -> Labeller<'o> {
        Labeller {
            options,
            want_revert: options.labels.contains(&LabelKind::Revert),
            want_szz: options.labels.contains(&LabelKind::Szz),
            reverts: RevertFinder::new(),
            revert_rows: Vec::new(),
            word_counts: FixWordCounts::default(),
            fixed_by_words: HashMap::new(),
        }
    }

    /// The rows the commit `sha` (to be row `row`; `None` past a shallow cut) labels, with why.
    /// `row_of` gives each earlier commit's row (`u32::MAX`: none); `szz_candidates` the
    /// commits (index ids) a fix reported at the given time points at.
    pub(super) fn labels_of(
        &mut self,
        sha: &str,
        message: &str,
        changes_patch_files: bool,
        row: Option<usize>,
        row_of: &[u32],
        szz_candidates: impl FnOnce(Option<i64>) -> Result<Vec<u32>, MiningError>,
    ) -> Result<Vec<(u32, Provenance)>, MiningError> {
        let mut labelled: Vec<(u32, Provenance)> = Vec::new();
        if self.want_revert {
            let target = self.reverts.push(sha, message);
            self.revert_rows.push(row.map_or(u32::MAX, |r| r as u32));
            if let Some(&r) = target
                .and_then(|t| self.revert_rows.get(t))
                .filter(|&&r| r != u32::MAX)
            {
                labelled.push((
                    r,
                    Provenance {
                        kind: LabelKind::Revert,
                        by: sha.to_string(),
                    },
                ));
            }
        }
        let words = fix_words(message);
        self.word_counts.add(words, changes_patch_files);
        if self.want_szz && szz::is_fix_commit(message) {
            if szz::fixed_issues(message).is_empty() {
                self.fixed_by_words.insert(sha.to_string(), words);
            }
            let reported = self.options.issue_dates.reported(message);
            for c in szz_candidates(reported)? {
                if let Some(&r) = row_of.get(c as usize).filter(|&&r| r != u32::MAX) {
                    labelled.push((
                        r,
                        Provenance {
                            kind: LabelKind::Szz,
                            by: sha.to_string(),
                        },
                    ));
                }
            }
        }
        Ok(labelled)
    }

    /// Leaves out of `rows` the SZZ labels of fixes whose only fix words are the history's
    /// conventions ([`FixWordCounts`]); a warning says which words and what was left out.
    pub(super) fn set_aside_conventions(&self, rows: &mut [MinedRow]) -> Option<String> {
        let conventions = self.word_counts.conventions();
        if conventions == 0 {
            return None;
        }
        let not_a_fix =
            |by: &str| matches!(self.fixed_by_words.get(by), Some(w) if w & !conventions == 0);
        let commits = self
            .fixed_by_words
            .values()
            .filter(|&&w| w & !conventions == 0)
            .count();
        let mut left_out = 0;
        for row in rows {
            row.provenance.retain(|p| {
                let keep = p.kind != LabelKind::Szz || !not_a_fix(&p.by);
                left_out += usize::from(!keep);
                keep
            });
        }
        Some(format!(
            "{}: a convention of this repository, not a fix word; \
             the {commits} commits with no other fix word or fixed issue are not fixes for SZZ ({left_out} labels left out)",
            self.word_counts.describe(conventions).join(" and ")
        ))
    }
}

/// The commits (index ids) that last wrote the meaningful lines a fix removed or changed.
/// Files the fix added or deleted whole, and binary files, give none; nor does a commit blame
/// looks past (a reformat), for the lines it made like nothing before.
pub(super) fn szz_candidates(
    repo: &Repository,
    objects: &mut ObjectCache,
    index: &HistoryIndex,
    ignored: &IgnoredRevisions,
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
        let lines = line_match::lines(blob.content());
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
            let owner = o
                .get(i)
                .copied()
                .filter(|&c| c != NOBODY && !ignored.holds(index, c));
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

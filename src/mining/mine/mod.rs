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
//!
//! The pass itself is in `pass`; the order it takes commits in `order`, the author state in
//! `experience`, line owners in `owner_source`, the labels in `labels`, and the merges' files,
//! worked out on a thread ahead of the pass, in `merges_ahead`.
//!
//! [`HistoryIndex`]: crate::mining::index::HistoryIndex
//! [`Ancestry`]: crate::mining::ancestry::Ancestry
//! [`ObjectCache`]: crate::mining::ObjectCache

mod experience;
mod history_sums;
mod labels;
mod merges_ahead;
mod order;
mod owner_source;
mod pass;

use std::collections::BTreeMap;
use std::io::Write;

use git2::Repository;

use super::ignored_revisions::IgnoredRevisions;
use super::{renames, MiningError};
use crate::features::{catalogue, Signals};
use crate::labels::szz::IssueDates;
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
    // files in it for every diff. A path's attributes are still read as git reads them in
    // `work_tree`, its `.gitattributes` before the index's (`WorkTreeAttributes`).
    let work_tree = repo;
    let bare = Repository::open_bare(repo.path());
    let repo = bare.as_ref().unwrap_or(repo);
    let plan = order::Plan::of(repo, head)?;

    let mut out = MinedHistory::default();
    out.warnings.extend(plan.unreadable.warning());
    let git_renames = match asked_renames.join() {
        Ok(Ok(renames)) => {
            if !renames.unread.is_empty() {
                out.warnings.push(format!(
                    "git could not read {} of the commits (blobs the clone lacks): their renames were detected by libgit2",
                    renames.unread.len()
                ));
            }
            Some(renames)
        }
        Ok(Err(e)) => {
            // Said once, with the other warnings when the walk is done: a log line here said
            // it twice, and before the error of a walk that then failed.
            out.warnings.push(format!(
                "renames were detected by libgit2, not git ({e}): a few renamed files may be counted as added and deleted"
            ));
            None
        }
        Err(_) => None,
    };
    // The tip's list: the reformats the project knows of now, older ones included.
    let ignore_revs = IgnoredRevisions::read_at(repo, head)?;
    let mut pass = pass::Pass::new(
        repo,
        work_tree,
        options,
        &plan,
        git_renames,
        ignore_revs,
        out,
    );
    let progress = order::progress_bar(plan.order.len(), options.progress);
    for (n, oid) in plan.order.iter().enumerate() {
        if let Some(bar) = &progress {
            if n % 64 == 0 {
                bar.set_position(n as u64);
            }
        }
        pass.visit(*oid)?;
    }
    if let Some(bar) = progress {
        bar.finish_and_clear();
    }
    Ok(pass.finish())
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
    use crate::features::{self, Snapshot};

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
}

//! The one pass over history: each commit taken as a change against its first parent, its
//! signals computed from the state kept so far, then its effects added to that state (line
//! owners, the history index, the ancestry, the author's commits).

use std::collections::HashMap;
use std::rc::Rc;

use git2::{Oid, Repository};

use super::experience::AuthorHistory;
use super::history_sums::HistorySums;
use super::labels::{szz_candidates, Labeller};
use super::merges_ahead::{files_of, MergesAhead};
use super::order::Plan;
use super::owner_source::{Ctx, OwnerSource, SeenFrom};
use super::{MineOptions, MinedHistory, MinedRow};
use crate::config::RepoConfig;
use crate::features::sensitive::SensitivePaths;
use crate::features::{
    self, git_path, subsystem, AuthorExperience, BlameTally, Experience, FileChange, FileHistory,
    FileKind, HistorySum, Snapshot, Touch,
};
use crate::labels::szz;
use crate::mining::ancestry::Ancestry;
use crate::mining::identity::{absent_mailmap_warning, committed_mailmap, Author, Identities};
use crate::mining::ignored_revisions::IgnoreRevsRead;
use crate::mining::index::{HistoryIndex, NewCommit};
use crate::mining::owners::{
    apply_hunks, apply_hunks_looking_past, OwnerCache, ReplayCost, NOBODY,
};
use crate::mining::renames::HistoryRenames;
use crate::mining::repo::settings_blob;
use crate::mining::{
    diff_commit_cached, CachedBlob, DiffedFile, LineDiffs, MiningError, ObjectCache, RenameSource,
    WorkTreeAttributes, CONFIG_PATH,
};

/// Everything the pass keeps from commit to commit.
pub(super) struct Pass<'r, 'p> {
    repo: &'r Repository,
    options: &'p MineOptions,
    plan: &'p Plan,
    /// Renames as git detected them, per commit (None: libgit2's detection is used).
    git_renames: Option<HistoryRenames>,
    /// The merges' files, worked out ahead of the pass.
    merges_ahead: MergesAhead,
    index: HistoryIndex,
    /// How commit authors are told apart (the repository's `.mailmap`).
    identities: Identities,
    chains: Ancestry,
    authors: Vec<AuthorHistory>,
    subsystem_ids: HashMap<String, u32>,
    objects: ObjectCache,
    line_diffs: LineDiffs<'r>,
    owners: OwnerSource,
    history_sums: HistorySums,
    sensitive_cache: HashMap<Option<Oid>, Rc<SensitivePaths>>,
    labeller: Labeller<'p>,
    /// The row of each commit visited so far (`u32::MAX`: none).
    row_of: Vec<u32>,
    lacking: LackingContent,
    /// The commits blame looks past, and what reading them found.
    ignore_revs: IgnoreRevsRead,
    out: MinedHistory,
    /// When the pass began (unix seconds): no change was made later, whatever its date says.
    now: i64,
}

/// Commits that touch a file whose content the repository lacks (a partial or damaged clone):
/// their rows count no lines of it.
#[derive(Default)]
struct LackingContent {
    commits: usize,
    /// The first one met, and the file.
    first: Option<(Oid, String)>,
}

impl LackingContent {
    fn note(&mut self, commit: Oid, files: &[FileChange]) {
        if let Some(f) = files.iter().find(|f| f.kind == FileKind::Missing) {
            self.commits += 1;
            self.first
                .get_or_insert_with(|| (commit, git_path::display(&f.path).into_owned()));
        }
    }

    fn warning(&self) -> Option<String> {
        let (commit, path) = self.first.as_ref()?;
        Some(format!(
            "{} touch files whose content the repository lacks (the first: {}, `{path}`), as a \
             partial or damaged clone does: their rows count no lines of those files",
            match self.commits {
                1 => "1 commit".to_string(),
                n => format!("{n} commits"),
            },
            &commit.to_string()[..10]
        ))
    }
}

/// A commit being visited, as read before it is taken apart.
struct Visit {
    oid: Oid,
    parent_ids: Vec<Oid>,
    /// Index ids of the parents already indexed.
    parent_idx: Vec<u32>,
    author: Author,
    time: i64,
    /// Its index id once pushed.
    this: u32,
}

impl<'r, 'p> Pass<'r, 'p> {
    /// A pass over the history read through `repo`, with the attributes of `work_tree`'s.
    pub(super) fn new(
        repo: &'r Repository,
        work_tree: &Repository,
        options: &'p MineOptions,
        plan: &'p Plan,
        git_renames: Option<HistoryRenames>,
        ignore_revs: IgnoreRevsRead,
        mut out: MinedHistory,
    ) -> Pass<'r, 'p> {
        let mailmap = committed_mailmap(repo);
        if let Some(id) = mailmap.absent() {
            out.warnings.push(absent_mailmap_warning(id));
        }
        let index = HistoryIndex::in_memory_with(mailmap.into_content());
        let identities = index.identities();
        let work_tree_attributes = WorkTreeAttributes::of(work_tree);
        Pass {
            repo,
            options,
            plan,
            git_renames,
            merges_ahead: MergesAhead::start(repo.path(), plan.merges.clone()),
            index,
            identities,
            chains: Ancestry::default(),
            authors: Vec::new(),
            subsystem_ids: HashMap::new(),
            objects: ObjectCache::reading_packs(repo)
                .with_work_tree_attributes(work_tree_attributes.clone()),
            line_diffs: LineDiffs::new(repo),
            owners: OwnerSource {
                cache: OwnerCache::default(),
                way_objects: ObjectCache::reading_packs(repo)
                    .with_work_tree_attributes(work_tree_attributes),
                replayed: ReplayCost::default(),
                rebuilds: 0,
            },
            history_sums: HistorySums::default(),
            sensitive_cache: HashMap::new(),
            labeller: Labeller::new(options),
            row_of: Vec::with_capacity(plan.order.len()),
            lacking: LackingContent::default(),
            ignore_revs,
            out,
            now: crate::time::now_secs(),
        }
    }

    /// Mine one commit: a merge only joins histories, any other commit gives a row.
    pub(super) fn visit(&mut self, oid: Oid) -> Result<(), MiningError> {
        let repo = self.repo;
        let commit = repo.find_commit(oid)?;
        let parent_ids: Vec<Oid> = commit.parent_ids().collect();
        let parent_idx: Vec<u32> = parent_ids
            .iter()
            .filter_map(|p| self.index.lookup(*p))
            .collect();
        // Parents the repository has (a shallow clone's boundary commits have none). A parent
        // it holds but libgit2 cannot parse was counted when the walk was planned.
        let mut parents: Vec<git2::Commit<'_>> = Vec::with_capacity(parent_ids.len());
        let mut beyond_cut = false;
        for p in &parent_ids {
            match repo.find_commit(*p) {
                Ok(parent) => parents.push(parent),
                Err(_) => beyond_cut |= !crate::mining::holds(repo, *p),
            }
        }
        if beyond_cut {
            self.out.cut_at += 1;
        }
        let sig = commit.author();
        let visit = Visit {
            oid,
            parent_ids,
            parent_idx,
            author: self.identities.author(&commit),
            time: sig.when().seconds(),
            this: self.index.len() as u32,
        };
        if commit.parent_count() > 1 {
            return self.merge(&commit, &parents, visit);
        }
        self.change(&commit, parents, visit)
    }

    /// A merge: the owners of the lines it resolved, and its place in the history.
    fn merge(
        &mut self,
        commit: &git2::Commit<'_>,
        parents: &[git2::Commit<'_>],
        v: Visit,
    ) -> Result<(), MiningError> {
        let worked = match self.merges_ahead.take(v.oid) {
            Some(worked) => worked,
            None => files_of(self.repo, &mut self.objects, commit),
        };
        let files = if let Some(files) = worked? {
            let trees: Vec<Oid> = parents.iter().map(|p| p.tree_id()).collect();
            for (path, blob) in &files.resolved {
                let ctx = Ctx {
                    repo: self.repo,
                    index: &self.index,
                    chains: &self.chains,
                    ignored: &self.ignore_revs.revisions,
                };
                self.owners.merge(
                    ctx,
                    &mut self.objects,
                    &mut self.line_diffs,
                    (path, *blob),
                    &files.renames,
                    &trees,
                    &v.parent_ids,
                    v.this,
                    // Not yet in the index: asked for by its id.
                    self.ignore_revs.revisions.holds_oid(v.oid),
                )?;
            }
            Some(files)
        } else {
            None
        };
        self.index.push_commit(NewCommit {
            oid: v.oid,
            parents: &v.parent_ids,
            author_key: v.author.key,
            time: v.time,
            merge: true,
            touched: &[],
            renames: &[],
            merge_files: files.as_ref(),
        });
        self.chains
            .push_continuing(&v.parent_idx, self.plan.continues[v.this as usize]);
        self.row_of.push(u32::MAX);
        self.out.merges += 1;
        Ok(())
    }

    /// A commit with one parent (or none): its row, the labels it gives earlier rows, and
    /// what it changes in the state.
    fn change(
        &mut self,
        commit: &git2::Commit<'_>,
        parents: Vec<git2::Commit<'_>>,
        v: Visit,
    ) -> Result<(), MiningError> {
        // The first parent, when the repository has it (a shallow boundary does not).
        let cut = !v.parent_ids.is_empty() && parents.is_empty();
        let parent = parents.into_iter().next();
        let parent_at = parent.as_ref().and_then(|p| self.index.lookup(p.id()));
        let parent_tree = parent.as_ref().map(|p| p.tree_id());
        let diffed = self.diff(v.oid, parent_tree, commit.tree_id())?;

        let author = self.index.author_id(&v.author.key);
        let files: Vec<_> = diffed.iter().map(|d| d.file.clone()).collect();
        if !cut {
            self.lacking.note(v.oid, &files);
        }
        let file_history = self.file_history(&files, parent_at, author);
        let old_owners = self.parent_owners(&diffed, parent_at)?;
        let blame = blame_tally(&self.index, &diffed, &old_owners, author);
        let hits = self
            .sensitive_paths(parent_tree)
            .hits(files.iter().map(|f| f.path.as_str()));
        let time = crate::mining::change_time(v.time, self.now);
        let (exp, rexp, sexp) = self.experience(&files, author, parent_at, time);

        let message = String::from_utf8_lossy(commit.message_bytes()).into_owned();
        let snapshot = Snapshot {
            files,
            messages: vec![message.clone()],
            author_name: v.author.name.clone(),
            author,
            change_time: time,
            file_history,
            author_experience: AuthorExperience::Counted(Experience::new(exp, rexp, sexp)),
            author_known_dirs: Default::default(),
            blame: Some(blame),
        };
        let (signals, _) = features::compute(&snapshot, hits, None);

        let sha = v.oid.to_string();
        let row_index = self.out.rows.len();
        self.label_earlier(&sha, &message, cut, row_index, &diffed, &old_owners)?;
        // Not yet in the index: the commit is asked for by its id.
        let looking_past = !cut && self.ignore_revs.revisions.holds_oid(v.oid);
        self.carry_owners(&diffed, &old_owners, v.this, cut, looking_past);
        let single_child = parent
            .as_ref()
            .and_then(|p| self.plan.position.get(&p.id()))
            .is_some_and(|&j| self.plan.children[j as usize] <= 1);
        self.objects.forget(&diffed, !single_child);
        self.record(v, &snapshot.files);
        if cut {
            // Its parent is beyond a shallow clone's cut: what it changed is unknown (every
            // file looks added), so it gives no row; it stays history for later commits.
            self.row_of.push(u32::MAX);
            return Ok(());
        }
        self.row_of.push(row_index as u32);
        self.out.rows.push(MinedRow {
            commit_id: sha,
            author_date: time,
            signals,
            provenance: Vec::new(),
        });
        Ok(())
    }

    /// The commit's diff against its parent's tree (None: every file added), line diffs made.
    fn diff(
        &mut self,
        oid: Oid,
        parent_tree: Option<Oid>,
        tree: Oid,
    ) -> Result<Vec<DiffedFile>, MiningError> {
        let source = match self.git_renames.as_ref().and_then(|r| r.of(oid)) {
            Some(pairs) => RenameSource::Git(pairs),
            None => RenameSource::Libgit2,
        };
        diff_commit_cached(self.repo, &mut self.objects, parent_tree, tree, source)?
            .into_iter()
            .map(|f| f.finish_with_owner_hunks(&mut self.line_diffs))
            .collect()
    }

    /// The earlier commits that touched each file, as seen from the parent: summed up when
    /// every file with any has one name and all of its commits are seen, else listed.
    fn file_history(
        &mut self,
        files: &[FileChange],
        parent_at: Option<u32>,
        author: Option<u32>,
    ) -> FileHistory {
        let Some(at) = parent_at else {
            return FileHistory::PerFile(vec![Vec::new(); files.len()]);
        };
        let seen = SeenFrom {
            chains: &self.chains,
            at,
        };
        // Each file's name and sum, where it has one name and all its commits are seen.
        let sums: Vec<Option<(u32, HistorySum)>> = files
            .iter()
            .map(|f| {
                let p = self.index.only_name(f.base_path(), &seen)?;
                let sum = self
                    .history_sums
                    .seen_from(&self.index, &self.chains, p, at, author)?;
                Some((p, sum))
            })
            .collect();
        let listed = |i: usize| {
            self.index
                .touches(&self.index.file_history(files[i].base_path(), &seen))
        };
        let histories: Vec<Option<Vec<Touch>>> = (0..files.len())
            .map(|i| sums[i].is_none().then(|| listed(i)))
            .collect();
        // Every file with history was summed: none of the listed ones has any.
        let only_summed_history = histories
            .iter()
            .all(|h| h.as_ref().is_none_or(Vec::is_empty));
        if only_summed_history {
            let summed: Vec<(usize, u32, HistorySum)> = sums
                .iter()
                .enumerate()
                .filter_map(|(i, s)| {
                    s.filter(|(_, sum)| sum.commits > 0)
                        .map(|(p, sum)| (i, p, sum))
                })
                .collect();
            let together = match summed[..] {
                [] => None,
                [(_, _, sum)] => Some(sum),
                _ => {
                    let names: Vec<u32> = summed.iter().map(|&(_, p, _)| p).collect();
                    Some(self.history_sums.together(&self.index, &names, author))
                }
            };
            if let Some(together) = together {
                return FileHistory::Summed {
                    files: summed.into_iter().map(|(i, _, sum)| (i, sum)).collect(),
                    together,
                };
            }
        }
        // Some file with history could not be summed: the commits the files share are counted
        // once, which needs every list.
        FileHistory::PerFile(
            histories
                .into_iter()
                .zip(&sums)
                .enumerate()
                .map(|(i, (h, s))| match (h, s) {
                    (Some(h), _) => h,
                    (None, Some((_, sum))) if sum.commits > 0 => listed(i),
                    (None, _) => Vec::new(),
                })
                .collect(),
        )
    }

    /// Line owners of each touched text file in the parent.
    fn parent_owners(
        &mut self,
        diffed: &[DiffedFile],
        parent_at: Option<u32>,
    ) -> Result<Vec<Option<Rc<[u32]>>>, MiningError> {
        let mut old_owners: Vec<Option<Rc<[u32]>>> = Vec::with_capacity(diffed.len());
        for d in diffed {
            if !d.file.text_before {
                old_owners.push(None);
                continue;
            }
            let ctx = Ctx {
                repo: self.repo,
                index: &self.index,
                chains: &self.chains,
                ignored: &self.ignore_revs.revisions,
            };
            let o = self.owners.of(
                ctx,
                &mut self.objects,
                &mut self.line_diffs,
                d.old_id,
                d.file.base_path(),
                parent_at,
                d.file.lines_before as usize,
            )?;
            old_owners.push(Some(o));
        }
        Ok(old_owners)
    }

    /// The sensitive paths the repository configured at the parent (its riskgate.yml),
    /// parsed once per version of that file.
    fn sensitive_paths(&mut self, parent_tree: Option<Oid>) -> Rc<SensitivePaths> {
        let repo = self.repo;
        let config_id = parent_tree.and_then(|t| self.objects.entry_at(repo, t, CONFIG_PATH));
        if let Some(s) = self.sensitive_cache.get(&config_id) {
            return s.clone();
        }
        // An old version of the file may be wrong for good: its commits are mined with the
        // built-in sensitive paths, and the log says which version and why.
        let unreadable = |error: String| {
            tracing::warn!(
                version = %config_id.map(|id| id.to_string()).unwrap_or_default(),
                error = %crate::report::printable(&error),
                "{CONFIG_PATH} is not valid here; mining with the built-in sensitive paths"
            );
        };
        let configured = config_id
            .and_then(|id| settings_blob(repo, id).ok()??.ok())
            .and_then(|text| {
                RepoConfig::parse(CONFIG_PATH, &text)
                    .map_err(|e| unreadable(e.to_string()))
                    .ok()
            })
            .map(|c| c.sensitive_paths)
            .unwrap_or_default();
        let s = Rc::new(
            SensitivePaths::new(&configured)
                .map_err(|e| unreadable(e.to_string()))
                .or_else(|()| SensitivePaths::new(&[]))
                .expect("built-in patterns are valid"),
        );
        self.sensitive_cache.insert(config_id, s.clone());
        s
    }

    /// EXP, REXP and SEXP from the per-author state, without listing the author's commits.
    fn experience(
        &mut self,
        files: &[FileChange],
        author: Option<u32>,
        parent_at: Option<u32>,
        time: i64,
    ) -> (u64, f64, u64) {
        let mut change_subsystems = vec![false; self.subsystem_ids.len()];
        let mut change_mask = 0u64;
        for f in files {
            if let Some(&s) = self.subsystem_ids.get(subsystem(&f.path)) {
                change_subsystems[s as usize] = true;
                if s < 64 {
                    change_mask |= 1 << s;
                }
            }
        }
        match (author, parent_at) {
            (Some(a), Some(p)) => self.authors.get_mut(a as usize).map_or((0, 0.0, 0), |h| {
                h.experience(&self.chains, p, time, change_mask, &change_subsystems)
            }),
            _ => (0, 0.0, 0),
        }
    }

    /// Labels this commit gives earlier ones, added to their rows.
    fn label_earlier(
        &mut self,
        sha: &str,
        message: &str,
        cut: bool,
        row_index: usize,
        diffed: &[DiffedFile],
        old_owners: &[Option<Rc<[u32]>>],
    ) -> Result<(), MiningError> {
        let (repo, objects, index) = (self.repo, &mut self.objects, &self.index);
        let ignored = &self.ignore_revs.revisions;
        let changes_patch_files = diffed.iter().any(|d| {
            szz::is_patch_file(&d.file.path)
                || d.file.old_path.as_deref().is_some_and(szz::is_patch_file)
        });
        let labelled = self.labeller.labels_of(
            sha,
            message,
            changes_patch_files,
            (!cut).then_some(row_index),
            &self.row_of,
            |reported| szz_candidates(repo, objects, index, ignored, diffed, old_owners, reported),
        )?;
        for (r, p) in labelled {
            let row: &mut MinedRow = &mut self.out.rows[r as usize];
            if !row.provenance.contains(&p) {
                row.provenance.push(p);
                row.provenance.sort();
            }
        }
        Ok(())
    }

    /// New line owners of the blobs the commit made (the latest producer of a blob stands);
    /// `looking_past`: the commit is one blame looks past.
    fn carry_owners(
        &mut self,
        diffed: &[DiffedFile],
        old_owners: &[Option<Rc<[u32]>>],
        this: u32,
        cut: bool,
        looking_past: bool,
    ) {
        for (d, o) in diffed.iter().zip(old_owners) {
            if !d.text_after {
                continue;
            }
            let new_len = (d.file.lines_before + d.file.added).saturating_sub(d.file.deleted);
            // Past a shallow cut nobody can be named for the lines.
            let owner = if cut { NOBODY } else { this };
            let new = if d.old_id.is_zero() || d.file.text_before {
                let before = o.as_deref().unwrap_or(&[]);
                // A file the commit added has no earlier lines to come from.
                let versions = (looking_past && !d.old_id.is_zero())
                    .then(|| self.versions(d))
                    .flatten();
                match versions {
                    Some((old, new)) => apply_hunks_looking_past(
                        before,
                        d.owner_hunks(),
                        new_len as usize,
                        owner,
                        (old.content(), new.content()),
                    ),
                    None => apply_hunks(before, d.owner_hunks(), new_len as usize, owner),
                }
            } else {
                // It was a symlink or a submodule, one line to the diff: every line is the
                // commit's, as when a file is added.
                vec![owner; (1 + d.file.added).saturating_sub(d.file.deleted) as usize]
            };
            self.owners
                .cache
                .insert(&d.file.path, d.new_id, this, Rc::from(new));
        }
    }

    /// The content of a changed file before and after, as its lines were diffed; `None` when
    /// either cannot be read.
    fn versions(&mut self, d: &DiffedFile) -> Option<(Rc<CachedBlob>, Rc<CachedBlob>)> {
        let old = self
            .objects
            .blame_blob(self.repo, d.old_id, d.file.base_path())?;
        let new = self.objects.blame_blob(self.repo, d.new_id, &d.file.path)?;
        Some((old, new))
    }

    /// Into the history the later commits see: the index, the ancestry and the author's
    /// commits.
    fn record(&mut self, v: Visit, files: &[FileChange]) {
        let touched: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
        let renames: Vec<(&str, &str)> = files
            .iter()
            .filter_map(|f| f.old_path.as_deref().map(|o| (o, f.path.as_str())))
            .collect();
        let this = v.this;
        let pushed = self.index.push_commit(NewCommit {
            oid: v.oid,
            parents: &v.parent_ids,
            author_key: v.author.key,
            time: v.time,
            merge: false,
            touched: &touched,
            renames: &renames,
            merge_files: None,
        });
        debug_assert_eq!(pushed, this);
        self.chains
            .push_continuing(&v.parent_idx, self.plan.continues[this as usize]);
        let a = self.index.commit(this).author as usize;
        if self.authors.len() <= a {
            self.authors.resize_with(a + 1, AuthorHistory::default);
        }
        let mut subs: Vec<u32> = touched
            .iter()
            .map(|p| {
                let s = subsystem(p);
                let next = self.subsystem_ids.len() as u32;
                *self.subsystem_ids.entry(s.to_string()).or_insert(next)
            })
            .collect();
        subs.sort_unstable();
        subs.dedup();
        self.authors[a].push(&self.chains, this, v.time, &subs);
    }

    /// The mined history, its labels counted.
    pub(super) fn finish(self) -> MinedHistory {
        let mut out = self.out;
        out.warnings.extend(self.lacking.warning());
        let in_history = self.ignore_revs.revisions.in_index(&self.index);
        out.warnings.extend(self.ignore_revs.notes(in_history));
        out.warnings
            .extend(self.labeller.set_aside_conventions(&mut out.rows));
        out.owner_rebuilds = self.owners.rebuilds;
        tracing::debug!(
            blobs = self.owners.cache.len(),
            owned_lines = self.owners.cache.lines(),
            rebuilds = self.owners.rebuilds,
            replayed_steps = self.owners.replayed.steps,
            replayed_diffs = self.owners.replayed.diffs,
            chains = self.chains.chains(),
            ancestry_log = self.chains.log_entries(),
            "mined"
        );
        for kind in &self.options.labels {
            let n = out
                .rows
                .iter()
                .filter(|r| r.provenance.iter().any(|p| p.kind == *kind))
                .count();
            out.positives.insert(*kind, n);
        }
        out
    }
}

/// How many of the lines the commit's text files had before it (files it did not add) are
/// attributed, and how many of those its author wrote.
fn blame_tally(
    index: &HistoryIndex,
    diffed: &[DiffedFile],
    old_owners: &[Option<Rc<[u32]>>],
    author: Option<u32>,
) -> BlameTally {
    let mut blame = BlameTally::default();
    for (d, o) in diffed.iter().zip(old_owners) {
        if d.file.text_before {
            blame.files_existing += 1;
            if let Some(o) = o {
                blame.files_attributed += 1;
                blame.total_lines += o.len() as u64;
                if let Some(a) = author {
                    blame.author_lines += o
                        .iter()
                        .filter(|&&c| c != NOBODY && index.commit(c).author == a)
                        .count() as u64;
                }
            }
        }
    }
    blame
}

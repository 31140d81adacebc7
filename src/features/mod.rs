//! Pure change metrics: from a snapshot of a change and its history to named signals.
//!
//! The snapshot is gathered by `mining` (git2); everything here is arithmetic on it, so each
//! signal can be checked against hand-computed values without a repository.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use serde::Serialize;

use catalogue::{Computed, Source};

pub mod catalogue;
pub mod coverage;
pub mod git_path;
pub mod review;
pub mod sensitive;

/// Seconds in a (Julian) year, for REXP's "years ago".
pub const YEAR_SECONDS: f64 = 365.25 * 86_400.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    Added,
    Deleted,
    Modified,
    Renamed,
    /// Changed type (file ↔ symlink ↔ submodule) or copied.
    Other,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FileKind {
    Text,
    Binary,
    Symlink,
    Submodule,
    /// Its content is not in the repository (a partial or damaged clone): no line counts.
    Missing,
}

/// One file of the change (the squashed diff merge-base..head).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FileChange {
    /// Path after the change (for a deleted file, the path it had).
    pub path: String,
    /// Path at base when it differs (renames).
    pub old_path: Option<String>,
    pub change: ChangeKind,
    pub kind: FileKind,
    pub added: u64,
    pub deleted: u64,
    /// Lines of the file at base (0 when it was not a text file there: new, binary, a symlink
    /// or a submodule).
    pub lines_before: u64,
    /// The file was a text file at base, whatever it becomes: its lines there count in LT and
    /// have owners for `author_blame_share`.
    pub text_before: bool,
    /// Line numbers, in the head version, of the lines the change added.
    pub added_lines: Vec<u32>,
}

impl FileChange {
    /// The path this file had at base: where its history lives.
    pub fn base_path(&self) -> &str {
        self.old_path.as_deref().unwrap_or(&self.path)
    }
}

/// One earlier commit that touched a file of the change (reachable from base).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Touch {
    /// Identifies the commit within one snapshot (an index, not a hash).
    pub commit: u32,
    /// Identifies the author within one snapshot.
    pub author: u32,
    /// Author time, unix seconds.
    pub time: i64,
}

/// The earlier commits that touched the files of a change, renames followed.
#[derive(Debug, Clone, PartialEq)]
pub enum FileHistory {
    /// Parallel to the change's files: each file's earlier commits.
    PerFile(Vec<Vec<Touch>>),
    /// The files with earlier commits, summed up rather than listed: each at its index among
    /// the change's files with its own sum, and `together`, their commits counted once however
    /// many of the files each touched. A walk of the whole history keeps such sums as it goes,
    /// where files changed by every commit would otherwise be listed whole again for each
    /// change to them.
    Summed {
        files: Vec<(usize, HistorySum)>,
        together: HistorySum,
    },
}

impl Default for FileHistory {
    fn default() -> FileHistory {
        FileHistory::PerFile(Vec::new())
    }
}

/// Earlier commits of one file, or of several taken together, summed up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistorySum {
    pub commits: u64,
    /// Their distinct authors.
    pub authors: u64,
    /// Those of them made by the change's author.
    pub author_commits: u64,
    /// The latest author time among them, unix seconds.
    pub last_time: i64,
}

/// One earlier commit of the change's author (reachable from base).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuthorCommit {
    pub time: i64,
    /// Subsystems (top-level directories) the commit touched.
    pub subsystems: BTreeSet<String>,
}

/// Kamei's experience signals of the change's author: EXP, REXP, SEXP.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct Experience {
    /// The author's earlier commits.
    pub exp: f64,
    /// The same, each weighted [`recency_weight`].
    pub rexp: f64,
    /// Those that touched a subsystem the change touches.
    pub sexp: f64,
}

impl Experience {
    /// From the counts and the weighted sum.
    pub fn new(exp: u64, rexp: f64, sexp: u64) -> Experience {
        Experience {
            exp: exp as f64,
            rexp: rexp + 0.0, // an empty sum is -0.0, which prints as such
            sexp: sexp as f64,
        }
    }

    /// Of a change made at `change_time` touching `subsystems`, from the author's earlier
    /// commits, the REXP sum taken in their order.
    pub fn of(
        commits: &[AuthorCommit],
        change_time: i64,
        subsystems: &BTreeSet<&str>,
    ) -> Experience {
        let rexp = commits
            .iter()
            .map(|c| recency_weight(whole_years(change_time, c.time)))
            .sum::<f64>();
        let sexp = commits
            .iter()
            .filter(|c| c.subsystems.iter().any(|s| subsystems.contains(s.as_str())))
            .count();
        Experience::new(commits.len() as u64, rexp, sexp as u64)
    }
}

/// Where a change's EXP, REXP and SEXP come from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum AuthorExperience {
    /// The author's earlier commits: [`compute`] counts the signals from them.
    Commits(Vec<AuthorCommit>),
    /// Counted by the caller, from state it keeps per author over a whole history (`mine`).
    Counted(Experience),
}

impl Default for AuthorExperience {
    fn default() -> Self {
        AuthorExperience::Commits(Vec::new())
    }
}

/// Whole (Julian) years from an earlier commit's time `then` to the change's: REXP's "years
/// ago" (0 for a commit dated after the change).
pub fn whole_years(change_time: i64, then: i64) -> f64 {
    (change_time.saturating_sub(then).max(0) as f64 / YEAR_SECONDS).floor()
}

/// REXP's weight of an earlier commit made `years` whole years before the change.
pub fn recency_weight(years: f64) -> f64 {
    1.0 / (years + 1.0)
}

/// Lines at base in the touched files, by whether the change's author wrote them last.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
pub struct BlameTally {
    pub author_lines: u64,
    pub total_lines: u64,
    /// Files whose lines were attributed, out of the touched files that existed at base.
    pub files_attributed: u32,
    pub files_existing: u32,
    /// Of the files left out, those with a version in their history (at base or before) that
    /// the repository lacks; the others were past the budget of line diffs.
    pub files_unreadable: u32,
}

/// Everything the signals are computed from.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Snapshot {
    pub files: Vec<FileChange>,
    /// Messages of the non-merge commits in the change.
    pub messages: Vec<String>,
    pub author_name: String,
    /// The author's id in `Touch::author`, if they appear in the history at all.
    pub author: Option<u32>,
    /// When the change was made (author time of its head), unix seconds.
    pub change_time: i64,
    /// The earlier commits that touched each file, renames followed.
    pub file_history: FileHistory,
    /// The author's earlier commits, or EXP, REXP and SEXP already counted from them.
    pub author_experience: AuthorExperience,
    /// Directories of the change's files in which the author made earlier commits
    /// (to any file at or below the directory).
    pub author_known_dirs: BTreeSet<String>,
    pub blame: Option<BlameTally>,
}

/// Top-level directory of a path (Kamei's subsystem); files at the root belong to "".
pub fn subsystem(path: &str) -> &str {
    path.split_once('/').map_or("", |(top, _)| top)
}

/// Parent directory of a path; "" for the root.
pub fn directory(path: &str) -> &str {
    path.rsplit_once('/').map_or("", |(dir, _)| dir)
}

/// The words of Kamei's FIX wording, each standing for its forms (`fixes`, `bugfix`, …), in
/// the order of [`fix_words`]' bits.
pub const FIX_WORDS: [&str; 8] = [
    "fix",
    "bug",
    "defect",
    "hotfix",
    "patch",
    "regression",
    "crash",
    "resolve #",
];

/// One group per word of [`FIX_WORDS`].
fn fix_pattern() -> &'static regex::Regex {
    static PATTERN: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    PATTERN.get_or_init(|| {
        regex::Regex::new(
            r"(?i)\b(?:(fix(?:e[sd]|ing)?)|(bug(?:s|fix(?:es)?)?)|(defects?)|(hotfix(?:es)?)|(patch(?:es|ed)?)|(regressions?)|(crash(?:es|ed)?)|(resolve[sd]?\s+#\d+))\b",
        )
        .expect("valid pattern")
    })
}

/// Kamei's FIX: the change says it fixes something.
pub fn is_fix_message(message: &str) -> bool {
    fix_pattern().is_match(message)
}

/// Which of [`FIX_WORDS`] `message` holds, bit `i` for word `i`; 0 for a message that is not a
/// fix by [`is_fix_message`].
pub fn fix_words(message: &str) -> u16 {
    let mut words = 0;
    for found in fix_pattern().captures_iter(message) {
        if let Some(i) = (1..=FIX_WORDS.len()).find(|&i| found.get(i).is_some()) {
            words |= 1 << (i - 1);
        }
    }
    words
}

/// Normalised entropy of the distribution of modified lines over the files (0..1).
pub fn normalised_entropy(modified_per_file: &[u64]) -> f64 {
    let n = modified_per_file.len();
    let total: u64 = modified_per_file.iter().sum();
    if n < 2 || total == 0 {
        return 0.0;
    }
    let h: f64 = modified_per_file
        .iter()
        .filter(|&&m| m > 0)
        .map(|&m| {
            let p = m as f64 / total as f64;
            -p * p.log2()
        })
        .sum();
    if h == 0.0 {
        // All lines in one file: -1 × log2(1) is -0, which prints with its sign.
        return 0.0;
    }
    // Rounding can put an even spread a hair above 1.
    (h / (n as f64).log2()).min(1.0)
}

/// The signals of one change, named in the [`catalogue`]; `None` means unknown.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Signals {
    pub ns: f64,
    pub nd: f64,
    pub nf: f64,
    pub entropy: f64,
    pub la: f64,
    pub ld: f64,
    pub lt: f64,
    pub fix: f64,
    pub ndev: f64,
    pub age: f64,
    pub nuc: f64,
    pub exp: f64,
    pub rexp: f64,
    pub sexp: f64,
    /// Share of the earlier commits to the touched files made by the author (None: no history).
    pub author_commit_share: Option<f64>,
    /// Share of the touched files' lines at base last written by the author.
    pub author_blame_share: Option<f64>,
    /// Touched files the author has never changed before (that have history).
    pub files_new_to_author: f64,
    pub sensitive_files: f64,
    /// Project line coverage change in points, and patch coverage of the added lines (0..100).
    pub coverage_delta: Option<f64>,
    pub patch_coverage: Option<f64>,
}

impl Signals {
    /// The value of one of them (`None`: unknown).
    pub fn value(&self, signal: Computed) -> Option<f64> {
        match signal {
            Computed::Ns => Some(self.ns),
            Computed::Nd => Some(self.nd),
            Computed::Nf => Some(self.nf),
            Computed::Entropy => Some(self.entropy),
            Computed::La => Some(self.la),
            Computed::Ld => Some(self.ld),
            Computed::Lt => Some(self.lt),
            Computed::Fix => Some(self.fix),
            Computed::Ndev => Some(self.ndev),
            Computed::Age => Some(self.age),
            Computed::Nuc => Some(self.nuc),
            Computed::Exp => Some(self.exp),
            Computed::Rexp => Some(self.rexp),
            Computed::Sexp => Some(self.sexp),
            Computed::AuthorCommitShare => self.author_commit_share,
            Computed::AuthorBlameShare => self.author_blame_share,
            Computed::FilesNewToAuthor => Some(self.files_new_to_author),
            Computed::SensitiveFiles => Some(self.sensitive_files),
            Computed::CoverageDelta => self.coverage_delta,
            Computed::PatchCoverage => self.patch_coverage,
        }
    }

    /// Name → value under the catalogue's names, the `features` object of the JSON output and
    /// the model's input.
    pub fn to_map(&self) -> BTreeMap<String, Option<f64>> {
        catalogue::SIGNALS
            .iter()
            .filter_map(|s| match s.source {
                Source::Change(c) => Some((s.name.to_string(), self.value(c))),
                _ => None,
            })
            .collect()
    }
}

/// Facts behind the signals that an explanation names (directories, files, subsystems).
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Context {
    pub author_name: String,
    pub subsystems: Vec<String>,
    pub directories: Vec<String>,
    /// Directories of the change the author has never changed anything in (that existed before).
    pub dirs_new_to_author: Vec<String>,
    /// Files with history the author has never changed.
    pub files_new_to_author: Vec<String>,
    pub sensitive: Vec<sensitive::SensitiveHit>,
    pub coverage: Option<coverage::CoverageDelta>,
    pub empty: bool,
    /// How many of the touched files `author_blame_share` covers (a budget bounds the work).
    pub blame: Option<BlameTally>,
}

impl BlameTally {
    /// Some touched files that existed at base were left out: the budget ran out first, or
    /// their version at base could not be read.
    pub fn is_partial(&self) -> bool {
        self.files_attributed < self.files_existing
    }
}

type TouchSet = HashSet<u32, foldhash::fast::RandomState>;

/// What the history signals read of the change's files' earlier commits.
struct HistoryNumbers {
    /// Distinct earlier commits and authors over all the files, and those commits made by the
    /// change's author.
    commits: u64,
    authors: u64,
    author_commits: u64,
    /// Of each file with history: the time since its last change, in seconds.
    ages: Vec<f64>,
    /// The files with history of which the author changed none.
    files_new_to_author: Vec<String>,
    /// Parallel to the change's files.
    has_history: Vec<bool>,
}

fn history_numbers(snapshot: &Snapshot) -> HistoryNumbers {
    let files = &snapshot.files;
    let age_since = |last: i64| snapshot.change_time.saturating_sub(last).max(0) as f64;
    match &snapshot.file_history {
        FileHistory::Summed {
            files: summed,
            together,
        } => {
            let summed: Vec<(usize, &HistorySum)> = summed
                .iter()
                .filter(|(i, sum)| *i < files.len() && sum.commits > 0)
                .map(|(i, sum)| (*i, sum))
                .collect();
            let mut has_history = vec![false; files.len()];
            for (i, _) in &summed {
                has_history[*i] = true;
            }
            HistoryNumbers {
                commits: together.commits,
                authors: together.authors,
                author_commits: together.author_commits,
                ages: summed
                    .iter()
                    .map(|(_, sum)| age_since(sum.last_time))
                    .collect(),
                files_new_to_author: summed
                    .iter()
                    .filter(|(_, sum)| sum.author_commits == 0)
                    .map(|(i, _)| files[*i].path.clone())
                    .collect(),
                has_history,
            }
        }
        FileHistory::PerFile(histories) => {
            // A busy file's history holds tens of thousands of touches: a fast hash and room
            // reserved up front keep this pass cheap.
            let touches: usize = histories.iter().map(Vec::len).sum();
            let mut devs: TouchSet = HashSet::with_hasher(Default::default());
            let mut commits: TouchSet =
                HashSet::with_capacity_and_hasher(touches, Default::default());
            let mut author_commits: TouchSet = HashSet::with_hasher(Default::default());
            let mut ages = Vec::new();
            let mut files_new_to_author = Vec::new();
            let mut has_history = vec![false; files.len()];
            for (i, (file, history)) in files.iter().zip(histories).enumerate() {
                if history.is_empty() {
                    continue;
                }
                has_history[i] = true;
                for t in history {
                    devs.insert(t.author);
                    commits.insert(t.commit);
                    if Some(t.author) == snapshot.author {
                        author_commits.insert(t.commit);
                    }
                }
                let last = history.iter().map(|t| t.time).max();
                ages.push(age_since(last.unwrap_or(snapshot.change_time)));
                if !history.iter().any(|t| Some(t.author) == snapshot.author) {
                    files_new_to_author.push(file.path.clone());
                }
            }
            HistoryNumbers {
                commits: commits.len() as u64,
                authors: devs.len() as u64,
                author_commits: author_commits.len() as u64,
                ages,
                files_new_to_author,
                has_history,
            }
        }
    }
}

/// Compute every signal of a change.
pub fn compute(
    snapshot: &Snapshot,
    sensitive_hits: Vec<sensitive::SensitiveHit>,
    coverage: Option<coverage::CoverageDelta>,
) -> (Signals, Context) {
    let files = &snapshot.files;
    let subsystems: BTreeSet<&str> = files.iter().map(|f| subsystem(&f.path)).collect();
    let directories: BTreeSet<&str> = files.iter().map(|f| directory(&f.path)).collect();
    let la: u64 = files.iter().map(|f| f.added).sum();
    let ld: u64 = files.iter().map(|f| f.deleted).sum();
    let lt: u64 = files.iter().map(|f| f.lines_before).sum();
    let modified: Vec<u64> = files.iter().map(|f| f.added + f.deleted).collect();

    let history = history_numbers(snapshot);
    let age = if history.ages.is_empty() {
        0.0
    } else {
        history.ages.iter().sum::<f64>() / history.ages.len() as f64
    };

    let experience = match &snapshot.author_experience {
        AuthorExperience::Commits(commits) => {
            Experience::of(commits, snapshot.change_time, &subsystems)
        }
        AuthorExperience::Counted(counted) => *counted,
    };

    let author_commit_share = if history.commits == 0 {
        None
    } else {
        Some(history.author_commits as f64 / history.commits as f64)
    };
    let author_blame_share = snapshot
        .blame
        .filter(|b| b.total_lines > 0)
        .map(|b| b.author_lines as f64 / b.total_lines as f64);

    // A directory is new to the author when it had history before but none of it is theirs.
    let dirs_with_history: BTreeSet<&str> = files
        .iter()
        .zip(&history.has_history)
        .filter(|(_, &has)| has)
        .map(|(f, _)| directory(f.base_path()))
        .collect();
    let dirs_new_to_author: Vec<String> = dirs_with_history
        .iter()
        .filter(|d| !snapshot.author_known_dirs.contains(**d))
        .map(|d| d.to_string())
        .collect();

    let fix = snapshot.messages.iter().any(|m| is_fix_message(m));
    let signals = Signals {
        ns: subsystems.len() as f64,
        nd: directories.len() as f64,
        nf: files.len() as f64,
        entropy: normalised_entropy(&modified),
        la: la as f64,
        ld: ld as f64,
        lt: lt as f64,
        fix: if fix { 1.0 } else { 0.0 },
        ndev: history.authors as f64,
        age,
        nuc: history.commits as f64,
        exp: experience.exp,
        rexp: experience.rexp,
        sexp: experience.sexp,
        author_commit_share,
        author_blame_share,
        files_new_to_author: history.files_new_to_author.len() as f64,
        sensitive_files: sensitive_hits.len() as f64,
        coverage_delta: coverage.as_ref().and_then(|c| c.delta_points),
        patch_coverage: coverage.as_ref().and_then(|c| c.patch_percent),
    };
    let context = Context {
        author_name: snapshot.author_name.clone(),
        subsystems: subsystems.iter().map(|s| s.to_string()).collect(),
        directories: directories.iter().map(|s| s.to_string()).collect(),
        dirs_new_to_author,
        files_new_to_author: history.files_new_to_author,
        sensitive: sensitive_hits,
        coverage,
        empty: files.is_empty(),
        blame: snapshot.blame,
    };
    (signals, context)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(path: &str, added: u64, deleted: u64, before: u64) -> FileChange {
        FileChange {
            path: path.into(),
            old_path: None,
            change: ChangeKind::Modified,
            kind: FileKind::Text,
            added,
            deleted,
            lines_before: before,
            text_before: true,
            added_lines: (1..=added as u32).collect(),
        }
    }

    #[test]
    fn entropy_is_normalised() {
        assert_eq!(normalised_entropy(&[10]), 0.0);
        assert!((normalised_entropy(&[5, 5]) - 1.0).abs() < 1e-12);
        // p = 0.5, 0.25, 0.25 → H = 1.5 bits, max log2(3)
        let e = normalised_entropy(&[2, 1, 1]);
        assert!((e - 1.5 / 3f64.log2()).abs() < 1e-12, "{e}");
        assert_eq!(normalised_entropy(&[0, 0]), 0.0);
        // All the lines in one of several files (the others binary, say): 0, not -0, which a
        // dataset or report would print with its sign.
        assert!(normalised_entropy(&[7, 0]).is_sign_positive());
        assert_eq!(normalised_entropy(&[7, 0]).to_string(), "0");
        // An even spread is 1 or a hair below, never a rounding past it (11 files would be).
        for n in 2..200 {
            let e = normalised_entropy(&vec![3; n]);
            assert!(e <= 1.0 && e > 1.0 - 1e-12, "{n} files: {e}");
        }
    }

    #[test]
    fn fix_keywords() {
        assert!(is_fix_message("Fix crash on empty input"));
        assert!(is_fix_message("parser: fixes off-by-one"));
        assert!(is_fix_message("Resolve #42"));
        assert!(!is_fix_message("Add prefix support"));
        assert!(!is_fix_message("Refactor the debugger"));
        for message in [
            "Fix crash on empty input",
            "patch 9.1.0001: hotfixes for regressions",
            "Add prefix support",
            "Resolve #42 and a bugfix",
        ] {
            assert_eq!(
                fix_words(message) != 0,
                is_fix_message(message),
                "{message}"
            );
        }
        let words = |message| {
            let bits = fix_words(message);
            (0..FIX_WORDS.len())
                .filter(|i| bits & (1 << i) != 0)
                .map(|i| FIX_WORDS[i])
                .collect::<Vec<_>>()
        };
        assert_eq!(words("Fix crash on empty input"), ["fix", "crash"]);
        assert_eq!(
            words("patch 9.1.0001: hotfixes for regressions"),
            ["hotfix", "patch", "regression"]
        );
        assert_eq!(words("Resolve #42 and a bugfix"), ["bug", "resolve #"]);
    }

    #[test]
    fn subsystems_and_directories() {
        assert_eq!(subsystem("src/a/b.rs"), "src");
        assert_eq!(subsystem("README.md"), "");
        assert_eq!(directory("src/a/b.rs"), "src/a");
        assert_eq!(directory("README.md"), "");
    }

    /// Files' earlier commits summed up give the signals their lists give, with or without
    /// the author among them and with commits two files share counted once, and a file with
    /// none is no file with history.
    #[test]
    fn a_summed_history_gives_what_its_list_gives() {
        let day = 86_400;
        let now = 1_000 * day;
        let touch = |commit, author, days_ago| Touch {
            commit,
            author,
            time: now - days_ago * day,
        };
        let sum_of = |list: &[Touch], author: Option<u32>| {
            let commits: BTreeSet<u32> = list.iter().map(|t| t.commit).collect();
            let authors: BTreeSet<u32> = list.iter().map(|t| t.author).collect();
            let by_author: BTreeSet<u32> = list
                .iter()
                .filter(|t| Some(t.author) == author)
                .map(|t| t.commit)
                .collect();
            HistorySum {
                commits: commits.len() as u64,
                authors: authors.len() as u64,
                author_commits: by_author.len() as u64,
                last_time: list.iter().map(|t| t.time).max().unwrap_or(0),
            }
        };
        let b = vec![
            touch(1, 7, 30),
            touch(2, 8, 12),
            touch(3, 8, 5),
            touch(4, 9, 20),
        ];
        let c = vec![touch(2, 8, 12), touch(4, 9, 20), touch(5, 10, 2)];
        let files = vec![
            text("docs/a.md", 1, 0, 3),
            text("src/b.rs", 4, 2, 10),
            text("lib/c.rs", 2, 2, 8),
        ];
        for author in [Some(7), Some(8), Some(10), Some(1), None] {
            let snapshot = |file_history| Snapshot {
                files: files.clone(),
                author,
                change_time: now,
                file_history,
                ..Snapshot::default()
            };
            let cases = [
                (vec![Vec::new(), b.clone(), Vec::new()], vec![1]),
                (vec![Vec::new(), b.clone(), c.clone()], vec![1, 2]),
            ];
            for (lists, with_history) in cases {
                let together: Vec<Touch> = lists.concat();
                let as_sum = snapshot(FileHistory::Summed {
                    files: with_history
                        .iter()
                        .map(|&i| (i, sum_of(&lists[i], author)))
                        .collect(),
                    together: sum_of(&together, author),
                });
                let as_list = snapshot(FileHistory::PerFile(lists));
                let (want, want_context) = compute(&as_list, vec![], None);
                let (got, got_context) = compute(&as_sum, vec![], None);
                assert_eq!(got.to_map(), want.to_map(), "author {author:?}");
                assert_eq!(
                    got_context.files_new_to_author,
                    want_context.files_new_to_author
                );
                assert_eq!(
                    got_context.dirs_new_to_author,
                    want_context.dirs_new_to_author
                );
            }
        }
        let nothing = HistorySum {
            commits: 0,
            authors: 0,
            author_commits: 0,
            last_time: 0,
        };
        let none = Snapshot {
            files,
            file_history: FileHistory::Summed {
                files: vec![(1, nothing)],
                together: nothing,
            },
            ..Snapshot::default()
        };
        let (signals, context) = compute(&none, vec![], None);
        assert_eq!((signals.nuc, signals.age), (0.0, 0.0));
        assert_eq!(signals.author_commit_share, None);
        assert!(context.files_new_to_author.is_empty() && context.dirs_new_to_author.is_empty());
    }

    #[test]
    fn history_signals_by_hand() {
        let day = 86_400;
        let now = 1_000 * day;
        let snapshot = Snapshot {
            files: vec![text("src/a.rs", 3, 1, 10), text("docs/b.md", 0, 4, 20)],
            messages: vec!["Add things".into()],
            author_name: "carol".into(),
            author: Some(7),
            change_time: now,
            file_history: FileHistory::PerFile(vec![
                vec![
                    Touch {
                        commit: 1,
                        author: 7,
                        time: now - 10 * day,
                    },
                    Touch {
                        commit: 2,
                        author: 8,
                        time: now - 4 * day,
                    },
                ],
                vec![
                    Touch {
                        commit: 2,
                        author: 8,
                        time: now - 4 * day,
                    },
                    Touch {
                        commit: 3,
                        author: 9,
                        time: now - 2 * day,
                    },
                ],
            ]),
            author_experience: AuthorExperience::Commits(vec![
                AuthorCommit {
                    time: now - 10 * day,
                    subsystems: ["src".to_string()].into(),
                },
                AuthorCommit {
                    time: now - 400 * day,
                    subsystems: ["lib".to_string()].into(),
                },
                AuthorCommit {
                    time: now - 800 * day,
                    subsystems: ["docs".to_string()].into(),
                },
            ]),
            author_known_dirs: ["src".to_string()].into(),
            blame: Some(BlameTally {
                author_lines: 6,
                total_lines: 30,
                files_attributed: 2,
                files_existing: 2,
                files_unreadable: 0,
            }),
        };
        let (s, ctx) = compute(&snapshot, vec![], None);
        assert_eq!((s.ns, s.nd, s.nf), (2.0, 2.0, 2.0));
        assert_eq!((s.la, s.ld, s.lt), (3.0, 5.0, 30.0));
        assert_eq!(s.ndev, 3.0);
        assert_eq!(s.nuc, 3.0);
        assert_eq!(s.age, (4.0 * day as f64 + 2.0 * day as f64) / 2.0);
        assert_eq!(s.exp, 3.0);
        // 10 days → 0 whole years (1); 400 days → 1 year (1/2); 800 days → 2 years (1/3)
        assert!((s.rexp - (1.0 + 0.5 + 1.0 / 3.0)).abs() < 1e-12);
        assert_eq!(s.sexp, 2.0);
        assert_eq!(s.author_commit_share, Some(1.0 / 3.0));
        assert_eq!(s.author_blame_share, Some(0.2));
        assert_eq!(s.files_new_to_author, 1.0);
        assert_eq!(ctx.dirs_new_to_author, vec!["docs".to_string()]);
        assert_eq!(s.fix, 0.0);
        assert_eq!(s.coverage_delta, None);
        assert!(!ctx.empty);
    }

    #[test]
    fn every_computed_signal_is_in_the_map_under_its_catalogue_name() {
        let (s, _) = compute(&Snapshot::default(), vec![], None);
        let map = s.to_map();
        let names: Vec<&str> = catalogue::SIGNALS
            .iter()
            .filter(|c| matches!(c.source, Source::Change(_)))
            .map(|c| c.name)
            .collect();
        assert_eq!(map.len(), names.len());
        for name in names {
            assert!(map.contains_key(name), "{name}");
        }
        assert_eq!(map["la"], Some(0.0));
        assert_eq!(map["patch_coverage"], None);
    }

    /// A commit's time is whatever its header says, `i64::MIN` and `i64::MAX` included (git
    /// writes such commits with `hash-object --literally`): differences of two saturate
    /// rather than wrap round to the other sign.
    #[test]
    fn times_at_the_ends_of_the_range_give_ages_of_their_sign() {
        assert_eq!(whole_years(i64::MIN, i64::MAX), 0.0);
        assert_eq!(
            whole_years(i64::MAX, i64::MIN),
            (i64::MAX as f64 / YEAR_SECONDS).floor()
        );
        let earlier = |time| Snapshot {
            files: vec![text("a.rs", 1, 0, 1)],
            file_history: FileHistory::PerFile(vec![vec![Touch {
                commit: 1,
                author: 1,
                time,
            }]]),
            change_time: i64::MIN,
            ..Snapshot::default()
        };
        // A file last changed "after" the change: no age, whichever way the difference wraps.
        assert_eq!(compute(&earlier(i64::MAX), vec![], None).0.age, 0.0);
        let later = Snapshot {
            change_time: i64::MAX,
            ..earlier(i64::MIN)
        };
        assert_eq!(compute(&later, vec![], None).0.age, i64::MAX as f64);
    }

    #[test]
    fn counted_experience_is_taken_as_given() {
        let counted = Experience::new(4, 1.5, 2);
        let snapshot = Snapshot {
            author_experience: AuthorExperience::Counted(counted),
            ..Snapshot::default()
        };
        let (s, _) = compute(&snapshot, vec![], None);
        assert_eq!((s.exp, s.rexp, s.sexp), (4.0, 1.5, 2.0));
        // No earlier commit: REXP is 0, not the -0.0 of an empty sum.
        let none = Experience::of(&[], 0, &BTreeSet::new());
        assert_eq!(none.rexp.to_bits(), 0.0f64.to_bits());
    }

    #[test]
    fn empty_change_has_zero_signals() {
        let (s, ctx) = compute(&Snapshot::default(), vec![], None);
        assert_eq!((s.nf, s.la, s.entropy, s.age), (0.0, 0.0, 0.0, 0.0));
        assert_eq!(s.author_commit_share, None);
        assert!(ctx.empty);
    }
}

//! The signal catalogue: every signal riskgate computes or reads, in one table.
//!
//! Each row says what a signal is called, the column `riskgate mine` writes it in, the other
//! column names datasets use for it, its unit, the direction in which it is expected to move
//! risk, how training scales it and the sentence an explanation says about it. `features`
//! computes the signals under these names, `mine` writes its dataset columns from the table,
//! dataset reading maps column names through it, training takes its default scales from it,
//! and explanations take their sentences from it.
//!
//! Pure data: no I/O, and nothing here depends on the rest of the crate.
//!
//! The table itself is in `table`; this file holds what a row is made of and the lookups.

mod sentences;
mod table;

pub use sentences::{compare, count, duration, list, thousands, Said};
pub use table::SIGNALS;

/// A signal [`super::compute`] gives for one change: a field of [`super::Signals`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Computed {
    Ns,
    Nd,
    Nf,
    Entropy,
    La,
    Ld,
    Lt,
    Fix,
    Ndev,
    Age,
    Nuc,
    Exp,
    Rexp,
    Sexp,
    AuthorCommitShare,
    AuthorBlameShare,
    FilesNewToAuthor,
    SensitiveFiles,
    CoverageDelta,
    PatchCoverage,
}

/// A signal of a pull request's reviews: a field of [`super::review::ReviewSignals`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reviewed {
    Approvals,
    Reviewers,
    CommentsPer100Lines,
    Hours,
    Unapproved,
    ReviewersWithHistory,
}

/// Where a signal's value comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Computed from the change, its history and any coverage reports ([`super::compute`]).
    Change(Computed),
    /// Computed from a pull request's reviews (the App; [`super::review::review_signals`]).
    Review(Reviewed),
    /// Only read from datasets (the public just-in-time datasets): riskgate does not compute it.
    Dataset,
}

/// What a signal's number counts or measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// A count of the things named ("lines", "files").
    Count(&'static str),
    /// A count of the things named, each weighted 1 / (whole years ago + 1).
    Weighted(&'static str),
    /// A number from 0 to 1: a share, or a normalised entropy.
    Fraction,
    /// A percentage, 0 to 100.
    Percent,
    /// A difference of two percentages, in points.
    Points,
    Seconds,
    Hours,
    /// 1 or 0.
    Flag,
    /// The things named per 100 changed lines.
    Per100Lines(&'static str),
    /// As the dataset gives it: riskgate does not compute it, and the dataset does not say.
    AsGiven,
}

impl Unit {
    /// Whether a (finite) number can be a value of this unit; if not, what the unit's values
    /// are. Any number can be a difference, a time (clocks run backwards) or a value as given.
    pub fn admits(self, value: f64) -> Result<(), &'static str> {
        let (fits, values) = match self {
            Unit::Count(_) | Unit::Weighted(_) | Unit::Per100Lines(_) => {
                (value >= 0.0, "a count, never negative")
            }
            // Other tools' rounding may put an even spread or a full share a hair past the top.
            Unit::Fraction => (
                (0.0..=1.0 + 1e-9).contains(&value),
                "a share or entropy, from 0 to 1",
            ),
            Unit::Percent => (
                (0.0..=100.0 + 1e-7).contains(&value),
                "a percentage, from 0 to 100",
            ),
            Unit::Flag => (value == 0.0 || value == 1.0, "a flag, 0 or 1"),
            Unit::Points | Unit::Seconds | Unit::Hours | Unit::AsGiven => (true, ""),
        };
        if fits {
            Ok(())
        } else {
            Err(values)
        }
    }
}

/// The direction in which a signal is expected to move the risk of a change as its value grows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// More of it, more risk.
    Raises,
    /// More of it, less risk.
    Lowers,
    /// No expectation: the evidence goes both ways, or the effect is not monotone.
    Unknown,
}

/// What part of a change's story a signal tells; an explanation says one line per group, so
/// signals that overlap (lines and lines per file; directories and subsystems) are not listed
/// twice, once raising the risk and once lowering it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Group {
    /// Lines and files.
    Size,
    /// Directories, subsystems, entropy.
    Spread,
    /// The touched files' past: authors, earlier changes, age; whether the change is a fix.
    History,
    /// The author's experience with the repository and the files.
    Experience,
    /// Reviewers, approvals, review comments.
    Review,
    /// Coverage of the change by tests.
    Coverage,
    /// Sensitive paths.
    Sensitive,
    /// A column riskgate does not know.
    Other,
}

impl Group {
    /// The group a model feature's signals fall in: a derived feature takes the group of its
    /// first input the catalogue knows (`ratio(nuc,nf)`: history).
    pub fn of_feature(inputs: &[&str]) -> Group {
        inputs
            .iter()
            .filter_map(|i| by_name(i))
            .map(Signal::group)
            .next()
            .unwrap_or(Group::Other)
    }
}

/// How training scales a signal before standardising it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scale {
    /// `log1p`: a non-negative count or duration with a long right tail.
    Log,
    /// As it is: a share, a normalised value, a 0/1 flag.
    Linear,
    /// Decided from the training data: `log1p` when non-negative and strongly right-skewed.
    FromData,
}

/// Another column name a dataset may use for a signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Alias {
    /// The column name (lower case).
    pub column: &'static str,
    /// The alias holds only in a file that also has this column; `None`: in any file.
    pub beside: Option<&'static str>,
}

/// One signal.
#[derive(Debug, Clone, Copy)]
pub struct Signal {
    /// The name model inputs, `score --format json` and the dataset columns use.
    pub name: &'static str,
    /// The column of the dataset `riskgate mine` writes; `None`: `mine` does not give it.
    pub column: Option<&'static str>,
    /// Other column names datasets use for it (the public just-in-time datasets).
    pub aliases: &'static [Alias],
    /// A column of the public just-in-time datasets (Kamei et al. 2013; McIntosh & Kamei 2018),
    /// always numeric there: a text cell in it is an error in the file, not a text column.
    pub public: bool,
    pub source: Source,
    pub unit: Unit,
    pub direction: Direction,
    pub scale: Scale,
    /// What it measures, in a line.
    pub about: &'static str,
    /// What an explanation says about a change's value; `None`: the plain
    /// "`name` is `value` — higher than …".
    pub sentence: Option<fn(&Said<'_>) -> String>,
}

impl Signal {
    /// The sentence an explanation says about this signal's value.
    pub fn say(&self, said: &Said<'_>) -> String {
        match self.sentence {
            Some(say) => say(said),
            None => sentences::plain(self.name, said),
        }
    }

    /// The part of a change's story it tells.
    pub fn group(&self) -> Group {
        match self.source {
            Source::Change(c) => match c {
                Computed::La | Computed::Ld | Computed::Nf | Computed::Lt => Group::Size,
                Computed::Ns | Computed::Nd | Computed::Entropy => Group::Spread,
                Computed::Fix | Computed::Ndev | Computed::Age | Computed::Nuc => Group::History,
                Computed::Exp
                | Computed::Rexp
                | Computed::Sexp
                | Computed::AuthorCommitShare
                | Computed::AuthorBlameShare
                | Computed::FilesNewToAuthor => Group::Experience,
                Computed::SensitiveFiles => Group::Sensitive,
                Computed::CoverageDelta | Computed::PatchCoverage => Group::Coverage,
            },
            Source::Review(_) => Group::Review,
            Source::Dataset => match self.name {
                "churn" => Group::Size,
                n if n.starts_with("other_") || n == "osawr" => Group::Experience,
                _ => Group::Review,
            },
        }
    }

    /// Whether dataset column `column` holds this signal, in a file whose columns are
    /// `present` (names and aliases are lower case).
    fn read_from(&self, column: &str, present: &dyn Fn(&str) -> bool) -> bool {
        self.aliases
            .iter()
            .any(|a| a.column == column && a.beside.is_none_or(present))
    }
}

/// A column of every dataset that is not a signal: the change, its time, its label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyColumn {
    /// The name `mine` writes and dataset reading knows it by.
    pub name: &'static str,
    /// Other names datasets use for it.
    pub aliases: &'static [&'static str],
}

impl KeyColumn {
    pub fn is(&self, column: &str) -> bool {
        self.name == column || self.aliases.contains(&column)
    }

    /// "`buggy`, `bug` or `contains_bug`": the names, for messages.
    pub fn one_of(&self) -> String {
        let names: Vec<String> = std::iter::once(self.name)
            .chain(self.aliases.iter().copied())
            .map(|n| format!("`{n}`"))
            .collect();
        match names.split_last() {
            Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
            _ => names.join(""),
        }
    }
}

/// The commit's id.
pub const COMMIT_ID: KeyColumn = KeyColumn {
    name: "commit_id",
    aliases: &["_id", "transactionid"],
};

/// The commit's author time, unix seconds.
pub const AUTHOR_DATE: KeyColumn = KeyColumn {
    name: "author_date",
    aliases: &["date", "commitdate"],
};

/// The label: 1 when the change was later found to induce a defect or an incident.
pub const BUGGY: KeyColumn = KeyColumn {
    name: "buggy",
    aliases: &["bug", "contains_bug"],
};

/// Why `mine` labelled a row buggy (text: not a signal).
pub const LABEL_SOURCE: KeyColumn = KeyColumn {
    name: "label_source",
    aliases: &[],
};

/// The signal called `name` (its own name, not an alias).
pub fn by_name(name: &str) -> Option<&'static Signal> {
    SIGNALS.iter().find(|s| s.name == name)
}

/// The signals `mine` writes, in the order of their columns.
pub fn mined_signals() -> impl Iterator<Item = (&'static str, Computed)> {
    SIGNALS.iter().filter_map(|s| match (s.column, s.source) {
        (Some(column), Source::Change(c)) => Some((column, c)),
        _ => None,
    })
}

/// The columns of the dataset `mine` writes, in order: the commit, its date, the mined
/// signals, the label and why it was given.
pub fn dataset_columns() -> Vec<&'static str> {
    let mut columns = vec![COMMIT_ID.name, AUTHOR_DATE.name];
    columns.extend(mined_signals().map(|(column, _)| column));
    columns.extend([BUGGY.name, LABEL_SOURCE.name]);
    columns
}

/// The signal name of dataset column `column` (lower case), in a file whose columns are
/// `present`: an alias becomes its signal's name, a mined column its signal's, and any other
/// column keeps its own name (every numeric column is a usable signal).
pub fn signal_name_of_column<'a>(column: &'a str, present: &dyn Fn(&str) -> bool) -> &'a str {
    if let Some(s) = SIGNALS.iter().find(|s| s.read_from(column, present)) {
        return s.name;
    }
    if let Some(s) = SIGNALS.iter().find(|s| s.column == Some(column)) {
        return s.name;
    }
    column
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::table::always;
    use super::*;

    #[test]
    fn names_columns_and_aliases_are_unique() {
        let mut names = BTreeSet::new();
        for s in SIGNALS {
            assert!(names.insert(s.name), "{} twice", s.name);
            assert_eq!(s.name, s.name.to_ascii_lowercase());
        }
        let keys = [COMMIT_ID, AUTHOR_DATE, BUGGY, LABEL_SOURCE];
        let mut columns = BTreeSet::new();
        for column in dataset_columns() {
            assert!(columns.insert(column), "column {column} twice");
        }
        // An alias that holds in any file names nothing else: no signal, column or key column.
        let mut unconditional = BTreeSet::new();
        for s in SIGNALS {
            for a in s.aliases {
                assert_eq!(a.column, a.column.to_ascii_lowercase());
                assert_ne!(a.column, s.name);
                if a.beside.is_none() {
                    assert!(unconditional.insert(a.column), "alias {} twice", a.column);
                    assert!(by_name(a.column).is_none(), "alias {} is a name", a.column);
                    assert!(
                        !columns.contains(a.column),
                        "alias {} is a column",
                        a.column
                    );
                }
                if let Some(b) = a.beside {
                    assert!(
                        SIGNALS.iter().any(|t| t.aliases.contains(&always(b))),
                        "{b} is no alias"
                    );
                }
            }
        }
        for k in keys {
            for column in std::iter::once(k.name).chain(k.aliases.iter().copied()) {
                assert!(by_name(column).is_none(), "{column}");
                assert!(
                    SIGNALS
                        .iter()
                        .all(|s| s.aliases.iter().all(|a| a.column != column)),
                    "{column}"
                );
            }
        }
    }

    #[test]
    fn every_computed_and_reviewed_signal_is_listed_once() {
        let computed: Vec<Computed> = SIGNALS
            .iter()
            .filter_map(|s| match s.source {
                Source::Change(c) => Some(c),
                _ => None,
            })
            .collect();
        let reviewed: Vec<Reviewed> = SIGNALS
            .iter()
            .filter_map(|s| match s.source {
                Source::Review(r) => Some(r),
                _ => None,
            })
            .collect();
        for (i, c) in computed.iter().enumerate() {
            assert!(!computed[..i].contains(c), "{c:?} twice");
        }
        for (i, r) in reviewed.iter().enumerate() {
            assert!(!reviewed[..i].contains(r), "{r:?} twice");
        }
        assert_eq!(computed.len(), 20);
        assert_eq!(reviewed.len(), 6);
    }

    #[test]
    fn mined_columns_come_from_the_catalogue() {
        assert_eq!(
            dataset_columns(),
            [
                "commit_id",
                "author_date",
                "ns",
                "nd",
                "nf",
                "entropy",
                "la",
                "ld",
                "lt",
                "fix",
                "ndev",
                "age",
                "nuc",
                "exp",
                "rexp",
                "sexp",
                "author_commit_share",
                "author_blame_share",
                "files_new_to_author",
                "sensitive_files",
                "buggy",
                "label_source",
            ]
        );
        // Read back, every column `mine` writes is its own signal: `mine` writes no `aexp`.
        let mined: Vec<&str> = dataset_columns();
        let present = |c: &str| mined.contains(&c);
        for (column, _) in mined_signals() {
            assert_eq!(signal_name_of_column(column, &present), column);
            assert_eq!(by_name(column).unwrap().column, Some(column));
        }
    }

    #[test]
    fn public_dataset_columns_are_read_by_their_riskgate_names() {
        let mcintosh = |c: &str| c == "aexp";
        let kamei = |_: &str| false;
        for (column, want) in [
            ("ent", "entropy"),
            ("entrophy", "entropy"),
            ("aexp", "exp"),
            ("arexp", "rexp"),
            ("asexp", "sexp"),
            ("rexp", "reviewer_exp"),
            ("rrexp", "reviewer_rexp"),
            ("rsexp", "reviewer_sexp"),
            ("oexp", "other_exp"),
            ("orexp", "other_rexp"),
            ("osexp", "other_sexp"),
            ("la", "la"),
            ("bugcount", "bugcount"),
        ] {
            assert_eq!(signal_name_of_column(column, &mcintosh), want, "{column}");
        }
        // Without `aexp`, `rexp` is Kamei's REXP and `oexp` nothing riskgate knows.
        assert_eq!(signal_name_of_column("rexp", &kamei), "rexp");
        assert_eq!(signal_name_of_column("oexp", &kamei), "oexp");
        assert_eq!(signal_name_of_column("ent", &kamei), "entropy");
    }

    #[test]
    fn units_directions_and_scales_agree() {
        for s in SIGNALS {
            match s.unit {
                Unit::Flag | Unit::Fraction => {
                    assert_ne!(s.scale, Scale::Log, "{}: a log of a 0..1 value", s.name)
                }
                Unit::Count(_) | Unit::Weighted(_) if s.public => {
                    assert_eq!(s.scale, Scale::Log, "{}: a public count", s.name)
                }
                _ => {}
            }
            assert!(!s.about.is_empty(), "{}", s.name);
        }
        let direction = |n: &str| by_name(n).unwrap().direction;
        for n in [
            "la",
            "ld",
            "nf",
            "nd",
            "ns",
            "entropy",
            "files_new_to_author",
        ] {
            assert_eq!(direction(n), Direction::Raises, "{n}");
        }
        for n in ["exp", "rexp", "sexp", "patch_coverage", "review_approvals"] {
            assert_eq!(direction(n), Direction::Lowers, "{n}");
        }
    }

    #[test]
    fn key_columns_name_their_aliases() {
        assert_eq!(BUGGY.one_of(), "`buggy`, `bug` or `contains_bug`");
        assert_eq!(LABEL_SOURCE.one_of(), "`label_source`");
        assert!(COMMIT_ID.is("transactionid") && !COMMIT_ID.is("id"));
    }
}

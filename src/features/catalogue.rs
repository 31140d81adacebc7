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

mod sentences;

pub use sentences::{compare, count, duration, list, Said};

use Direction::{Lowers, Raises, Unknown};

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

const fn always(column: &'static str) -> Alias {
    Alias {
        column,
        beside: None,
    }
}

/// In the McIntosh & Kamei datasets, which name the author's experience `aexp`, `arexp` and
/// `asexp`, the `r…` and `o…` columns are reviewers' and others' experience.
const fn beside_aexp(column: &'static str) -> Alias {
    Alias {
        column,
        beside: Some("aexp"),
    }
}

/// A signal computed from the change, written by `mine` under its own name.
const fn computed(
    name: &'static str,
    field: Computed,
    unit: Unit,
    direction: Direction,
    scale: Scale,
    about: &'static str,
) -> Signal {
    Signal {
        name,
        column: Some(name),
        aliases: &[],
        public: false,
        source: Source::Change(field),
        unit,
        direction,
        scale,
        about,
        sentence: None,
    }
}

/// A signal only the public datasets have.
const fn from_datasets(
    name: &'static str,
    unit: Unit,
    direction: Direction,
    scale: Scale,
    about: &'static str,
) -> Signal {
    Signal {
        name,
        column: None,
        aliases: &[],
        public: true,
        source: Source::Dataset,
        unit,
        direction,
        scale,
        about,
        sentence: None,
    }
}

/// A signal of a pull request's reviews (not mined: a history walk has no reviews).
const fn reviewed(
    name: &'static str,
    field: Reviewed,
    unit: Unit,
    direction: Direction,
    about: &'static str,
) -> Signal {
    Signal {
        name,
        column: None,
        aliases: &[],
        public: false,
        source: Source::Review(field),
        unit,
        direction,
        scale: Scale::FromData,
        about,
        sentence: None,
    }
}

/// Kamei's change metrics: mined, and columns of the public datasets.
const fn kamei(
    name: &'static str,
    field: Computed,
    unit: Unit,
    direction: Direction,
    scale: Scale,
    about: &'static str,
    sentence: fn(&Said<'_>) -> String,
) -> Signal {
    Signal {
        public: true,
        sentence: Some(sentence),
        ..computed(name, field, unit, direction, scale, about)
    }
}

/// Every signal. The mined ones come first, in the order of the dataset's columns.
///
/// Directions, briefly: a larger or more scattered change raises risk (lines, files,
/// directories, subsystems, entropy, the size of the touched files, their earlier changes);
/// author experience and expertise lower it; covered added lines and a rising coverage lower
/// it; a more thorough review (approvals, reviewers, their comments and their own history with
/// the files) lowers it, a self-approved or unapproved one raises it. No expectation is
/// recorded where either direction is plausible or the effect is not monotone:
/// - `fix`: a fix works in code already known to break (riskier) but is often small and
///   focused (safer), and the training labels themselves come from later fixes;
/// - `ndev`: many earlier authors can mean diffused ownership (riskier) or a well-known,
///   much-reviewed file (safer);
/// - `age`: the default model bends its effect at the median (`hinge(age,q50)`): not monotone;
/// - time in review (`review_hours`, `rtime`): long can mean careful or troubled;
/// - `hcmt`, `app`, others' experience and awareness (`other_*`, `osawr`): the public data
///   does not say enough of what they count to expect a direction.
pub static SIGNALS: &[Signal] = &[
    kamei(
        "ns",
        Computed::Ns,
        Unit::Count("subsystems"),
        Raises,
        Scale::Log,
        "subsystems (top-level directories) touched",
        sentences::ns,
    ),
    kamei(
        "nd",
        Computed::Nd,
        Unit::Count("directories"),
        Raises,
        Scale::Log,
        "directories touched",
        sentences::nd,
    ),
    kamei(
        "nf",
        Computed::Nf,
        Unit::Count("files"),
        Raises,
        Scale::Log,
        "files touched",
        sentences::nf,
    ),
    Signal {
        aliases: &[always("ent"), always("entrophy")],
        ..kamei(
            "entropy",
            Computed::Entropy,
            Unit::Fraction,
            Raises,
            Scale::Linear,
            "spread of the modified lines over the files, normalised to 0..1",
            sentences::entropy,
        )
    },
    kamei(
        "la",
        Computed::La,
        Unit::Count("lines"),
        Raises,
        Scale::Log,
        "lines added",
        sentences::la,
    ),
    kamei(
        "ld",
        Computed::Ld,
        Unit::Count("lines"),
        Raises,
        Scale::Log,
        "lines deleted",
        sentences::ld,
    ),
    kamei(
        "lt",
        Computed::Lt,
        Unit::Count("lines"),
        Raises,
        Scale::Log,
        "lines the touched files had before the change",
        sentences::lt,
    ),
    kamei(
        "fix",
        Computed::Fix,
        Unit::Flag,
        Unknown,
        Scale::Linear,
        "a commit message of the change says it fixes something",
        sentences::fix,
    ),
    kamei(
        "ndev",
        Computed::Ndev,
        Unit::Count("developers"),
        Unknown,
        Scale::Log,
        "distinct earlier authors of the touched files",
        sentences::ndev,
    ),
    kamei(
        "age",
        Computed::Age,
        Unit::Seconds,
        Unknown,
        Scale::Log,
        "mean time since each touched file last changed (days in the public datasets)",
        sentences::age,
    ),
    kamei(
        "nuc",
        Computed::Nuc,
        Unit::Count("earlier changes"),
        Raises,
        Scale::Log,
        "distinct earlier commits to the touched files",
        sentences::nuc,
    ),
    Signal {
        aliases: &[always("aexp")],
        ..kamei(
            "exp",
            Computed::Exp,
            Unit::Count("earlier changes"),
            Lowers,
            Scale::Log,
            "the author's earlier commits",
            sentences::exp,
        )
    },
    Signal {
        aliases: &[always("arexp")],
        ..kamei(
            "rexp",
            Computed::Rexp,
            Unit::Weighted("earlier changes"),
            Lowers,
            Scale::Log,
            "the author's earlier commits, each weighted 1/(whole years ago + 1)",
            sentences::rexp,
        )
    },
    Signal {
        aliases: &[always("asexp")],
        ..kamei(
            "sexp",
            Computed::Sexp,
            Unit::Count("earlier changes"),
            Lowers,
            Scale::Log,
            "the author's earlier commits to the subsystems the change touches",
            sentences::sexp,
        )
    },
    computed(
        "author_commit_share",
        Computed::AuthorCommitShare,
        Unit::Fraction,
        Lowers,
        Scale::FromData,
        "the author's share of the earlier commits to the touched files",
    ),
    computed(
        "author_blame_share",
        Computed::AuthorBlameShare,
        Unit::Fraction,
        Lowers,
        Scale::FromData,
        "the author's share of the touched files' lines at base",
    ),
    computed(
        "files_new_to_author",
        Computed::FilesNewToAuthor,
        Unit::Count("files"),
        Raises,
        Scale::FromData,
        "touched files with history that the author never changed",
    ),
    computed(
        "sensitive_files",
        Computed::SensitiveFiles,
        Unit::Count("files"),
        Raises,
        Scale::FromData,
        "touched migrations, dependency manifests and lockfiles, configured paths",
    ),
    // Coverage needs reports of the revisions, which a history walk does not have.
    Signal {
        column: None,
        ..computed(
            "coverage_delta",
            Computed::CoverageDelta,
            Unit::Points,
            Lowers,
            Scale::FromData,
            "project line coverage at head minus at base",
        )
    },
    Signal {
        column: None,
        ..computed(
            "patch_coverage",
            Computed::PatchCoverage,
            Unit::Percent,
            Lowers,
            Scale::FromData,
            "share of the instrumented added lines that tests run",
        )
    },
    reviewed(
        "review_approvals",
        Reviewed::Approvals,
        Unit::Count("approvals"),
        Lowers,
        "distinct reviewers other than the author whose latest review approves",
    ),
    reviewed(
        "review_reviewers",
        Reviewed::Reviewers,
        Unit::Count("reviewers"),
        Lowers,
        "distinct reviewers other than the author",
    ),
    reviewed(
        "review_comments_per_100_lines",
        Reviewed::CommentsPer100Lines,
        Unit::Per100Lines("review comments"),
        Lowers,
        "review comments per 100 changed lines",
    ),
    reviewed(
        "review_hours",
        Reviewed::Hours,
        Unit::Hours,
        Unknown,
        "hours from the pull request's opening to its latest review",
    ),
    reviewed(
        "review_unapproved",
        Reviewed::Unapproved,
        Unit::Flag,
        Raises,
        "no one but the author has approved",
    ),
    reviewed(
        "review_reviewers_with_history",
        Reviewed::ReviewersWithHistory,
        Unit::Count("reviewers"),
        Lowers,
        "reviewers who changed any of the touched files before",
    ),
    from_datasets(
        "churn",
        Unit::Count("lines"),
        Raises,
        Scale::Log,
        "lines added and deleted",
    ),
    from_datasets(
        "revd",
        Unit::Flag,
        Lowers,
        Scale::Linear,
        "the change was reviewed",
    ),
    from_datasets(
        "nrev",
        Unit::Count("reviewers"),
        Lowers,
        Scale::Log,
        "reviewers of the change",
    ),
    from_datasets(
        "rtime",
        Unit::AsGiven,
        Unknown,
        Scale::Log,
        "time in review",
    ),
    from_datasets(
        "hcmt",
        Unit::AsGiven,
        Unknown,
        Scale::Log,
        "review activity (comments)",
    ),
    from_datasets(
        "self",
        Unit::Flag,
        Raises,
        Scale::Linear,
        "the author approved their own change",
    ),
    from_datasets(
        "app",
        Unit::AsGiven,
        Unknown,
        Scale::Log,
        "review activity (approvals)",
    ),
    Signal {
        aliases: &[beside_aexp("rexp")],
        ..from_datasets(
            "reviewer_exp",
            Unit::Count("earlier changes"),
            Lowers,
            Scale::Log,
            "the reviewers' earlier changes",
        )
    },
    Signal {
        aliases: &[beside_aexp("rrexp")],
        ..from_datasets(
            "reviewer_rexp",
            Unit::Weighted("earlier changes"),
            Lowers,
            Scale::Log,
            "the reviewers' earlier changes, weighted by recency",
        )
    },
    Signal {
        aliases: &[beside_aexp("rsexp")],
        ..from_datasets(
            "reviewer_sexp",
            Unit::Count("earlier changes"),
            Lowers,
            Scale::Log,
            "the reviewers' earlier changes to the touched subsystems",
        )
    },
    Signal {
        aliases: &[beside_aexp("oexp")],
        ..from_datasets(
            "other_exp",
            Unit::Count("earlier changes"),
            Unknown,
            Scale::Log,
            "others' earlier changes",
        )
    },
    Signal {
        aliases: &[beside_aexp("orexp")],
        ..from_datasets(
            "other_rexp",
            Unit::Weighted("earlier changes"),
            Unknown,
            Scale::Log,
            "others' earlier changes, weighted by recency",
        )
    },
    Signal {
        aliases: &[beside_aexp("osexp")],
        ..from_datasets(
            "other_sexp",
            Unit::Count("earlier changes"),
            Unknown,
            Scale::Log,
            "others' earlier changes to the touched subsystems",
        )
    },
    from_datasets(
        "asawr",
        Unit::Fraction,
        Lowers,
        Scale::Linear,
        "the author's awareness of the touched subsystems",
    ),
    from_datasets(
        "rsawr",
        Unit::Fraction,
        Lowers,
        Scale::Linear,
        "the reviewers' awareness of the touched subsystems",
    ),
    from_datasets(
        "osawr",
        Unit::Fraction,
        Unknown,
        Scale::Linear,
        "others' awareness of the touched subsystems",
    ),
];

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

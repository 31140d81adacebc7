//! The catalogue's table: one row per signal, and the constructors that keep the rows short.

use super::sentences::{self, Said};
use super::{Alias, Computed, Direction, Reviewed, Scale, Signal, Source, Unit};
use Direction::{Lowers, Raises, Unknown};

pub(super) const fn always(column: &'static str) -> Alias {
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
/// directories, subsystems, entropy, the size of the touched files);
/// author experience and expertise lower it; covered added lines and a rising coverage lower
/// it; a more thorough review (approvals, reviewers, their comments and their own history with
/// the files) lowers it, a self-approved or unapproved one raises it. No expectation is
/// recorded where either direction is plausible or the effect is not monotone:
/// - `fix`: a fix works in code already known to break (riskier) but is often small and
///   focused (safer), and the training labels themselves come from later fixes;
/// - `ndev`: many earlier authors can mean diffused ownership (riskier) or a well-known,
///   much-reviewed file (safer);
/// - `nuc`: many earlier changes can mark churning code (riskier) or well-trodden code
///   (safer); beside `ndev` the public data finds the second;
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
        "mean time since each touched file last changed (seconds, as in the public datasets)",
        sentences::age,
    ),
    kamei(
        "nuc",
        Computed::Nuc,
        Unit::Count("earlier changes"),
        Unknown,
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
    // The Gerrit datasets' `self` (the author approved their own change) is the nearest they
    // have: the App's review model learns this signal from it.
    Signal {
        aliases: &[always("self")],
        public: true,
        scale: Scale::Linear,
        sentence: Some(sentences::unapproved),
        ..reviewed(
            "review_unapproved",
            Reviewed::Unapproved,
            Unit::Flag,
            Raises,
            "no one but the author has approved (in the public datasets: the author approved their own change)",
        )
    },
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

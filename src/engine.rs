//! From a mined change to its score report: signals, model, explanation. Shared by the
//! command line and the App's worker; pure apart from what the caller already gathered.

use anyhow::Context as _;

use crate::config::{Layer, RepoConfig, ThresholdConfig};
use crate::features::coverage::{coverage_delta, CoverageReport};
use crate::features::review::ReviewSignals;
use crate::features::sensitive::SensitivePaths;
use crate::features::{self, git_path, ChangeKind};
use crate::mining::{self, MinedChange};
use crate::model::{explain, Model, Thresholds};
use crate::report::{ChangeSummary, ScoreReport};

const HISTORY_SIGNALS: &str = "ndev, age, nuc, exp, rexp, sexp and author expertise";

/// Coverage reports of the base and head revisions (an empty base report: head only).
#[derive(Debug, Clone, Default)]
pub struct CoverageInputs {
    pub base: CoverageReport,
    pub head: CoverageReport,
}

/// The repository's own settings file at the base revision, read once, or a clear error
/// naming the file.
fn own_layer(mined: &MinedChange) -> anyhow::Result<Option<Layer>> {
    Ok(match &mined.config {
        None => None,
        Some(Ok(text)) => Some(Layer::parse(mining::CONFIG_PATH, text)?),
        Some(Err(too_large)) => return Err(too_large.clone().into()),
    })
}

/// Signals, score and explanation of a mined change, under the repository's own settings (the
/// command line's path: another repository's file is not read, and a file that extends one
/// says so in a warning).
pub fn score_mined(
    model: &Model,
    mined: &MinedChange,
    coverage: Option<&CoverageInputs>,
    review: Option<&ReviewSignals>,
) -> anyhow::Result<ScoreReport> {
    let own = own_layer(mined)?;
    let config = RepoConfig::from_layers(None, own.as_ref())?;
    let mut report = score_with_config(model, mined, &config, coverage, review)?;
    if let Some(target) = own.as_ref().and_then(Layer::extends) {
        report.warnings.push(format!(
            "{} extends `{}:{}`, which the command line does not read: only this repository's own settings apply",
            mining::CONFIG_PATH,
            target.full_name("<owner>"),
            target.path
        ));
    }
    Ok(report)
}

/// Signals, score and explanation of a mined change under `config`, the settings already
/// resolved (the App lays a repository's file over its organisation's).
pub fn score_with_config(
    model: &Model,
    mined: &MinedChange,
    config: &RepoConfig,
    coverage: Option<&CoverageInputs>,
    review: Option<&ReviewSignals>,
) -> anyhow::Result<ScoreReport> {
    let sensitive = SensitivePaths::new(&config.all_sensitive_paths())
        .with_context(|| mining::CONFIG_PATH.to_string())?;
    let snapshot = &mined.snapshot;
    // Paths as people and settings write them: a byte that is not UTF-8 as U+FFFD.
    let paths: Vec<std::borrow::Cow<'_, str>> = snapshot
        .files
        .iter()
        .map(|f| git_path::display(&f.path))
        .collect();
    let hits = sensitive.hits(paths.iter().map(|p| p.as_ref()));

    let coverage = coverage.map(|c| {
        let added: Vec<(String, Vec<u32>)> = snapshot
            .files
            .iter()
            .zip(&paths)
            .filter(|(f, _)| f.change != ChangeKind::Deleted && !f.added_lines.is_empty())
            .map(|(f, path)| (path.to_string(), f.added_lines.clone()))
            .collect();
        coverage_delta(&c.base, &c.head, &added)
    });

    let (signals, context) = features::compute(snapshot, hits.clone(), coverage.clone());
    let mut values = signals.to_map();
    if let Some(r) = review {
        values.extend(r.to_map());
    }
    let mut model = model.clone();
    if let Some(t) = config.thresholds {
        model.thresholds = Thresholds {
            elevated: t.elevated,
            high: t.high,
        };
    }
    let path_rule = config.strictest_path_rule(
        paths.iter().map(|p| p.as_ref()),
        ThresholdConfig {
            elevated: model.thresholds.elevated,
            high: model.thresholds.high,
        },
    );
    if let Some(rule) = &path_rule {
        model.thresholds = Thresholds {
            elevated: rule.elevated,
            high: rule.high,
        };
    }
    let scored = model.score(&values);
    let mut explanation = explain::explain(&scored, &signals, &context);
    if let Some(r) = review {
        explanation.notes.push(review_note(r));
        if r.reviewers == 0.0 {
            explanation
                .advice
                .push("request a review: no one but the author has looked at it yet".to_string());
        }
    }

    let mut warnings = Vec::new();
    if let Some(blame) = context.blame.filter(|b| b.is_partial()) {
        warnings.push(partial_attribution_warning(blame));
    }
    if mined.shallow {
        warnings.push(format!(
            "this clone is shallow: history before its cut is missing, so {HISTORY_SIGNALS} count only the commits present (git fetch --unshallow gives the full signals)"
        ));
    }
    if mined.partial {
        warnings.push(
            "this clone is partial: git cannot compare file versions it has not fetched, so \
             renames in history may be paired only where the content is identical, and ndev, \
             nuc and age of a file renamed with edits count only since its rename"
                .to_string(),
        );
    }
    warnings.extend(
        mined
            .absent_mailmap
            .map(mining::identity::absent_mailmap_warning),
    );
    warnings.extend(mined.unreadable.warning());
    let files = &snapshot.files;
    let mut report = ScoreReport::new(
        scored.probability,
        scored.band,
        values,
        explanation,
        &model.version,
        mined.base.to_string(),
        mined.head.to_string(),
        ChangeSummary {
            commits: mined.commits,
            files: files.len(),
            lines_added: files.iter().map(|f| f.added).sum(),
            lines_deleted: files.iter().map(|f| f.deleted).sum(),
            empty: files.is_empty(),
        },
        warnings,
        hits,
        coverage,
    );
    report.path_rule = path_rule;
    report.standing = model
        .reference
        .as_ref()
        .and_then(|r| r.standing(scored.probability));
    Ok(report)
}

fn review_note(r: &ReviewSignals) -> String {
    if r.reviewers == 0.0 {
        return "no one but the author has reviewed it yet".to_string();
    }
    let approvals = match r.approvals as i64 {
        0 => "no approval".to_string(),
        1 => "1 approval".to_string(),
        n => format!("{n} approvals"),
    };
    let know = match r.reviewers_with_history as i64 {
        0 => "none of whom has changed these files before".to_string(),
        n if n as f64 == r.reviewers => "all of whom have changed these files before".to_string(),
        n => format!("{n} of whom have changed these files before"),
    };
    let comments = if r.review_comments_per_100_lines <= 0.0 {
        "no review comments".to_string()
    } else {
        format!(
            "{:.1} review comments per 100 changed lines",
            r.review_comments_per_100_lines
        )
    };
    format!(
        "review: {approvals} from {} reviewer{} ({know}), {comments}; the latest review {}",
        r.reviewers,
        if r.reviewers == 1.0 { "" } else { "s" },
        time_in_review(r.hours_in_review)
    )
}

/// Says that `author_blame_share` covers only some of the touched files, and why.
fn partial_attribution_warning(blame: features::BlameTally) -> String {
    use crate::features::catalogue::thousands;
    let left_out = blame.files_existing - blame.files_attributed;
    let unreadable = blame.files_unreadable.min(left_out);
    let mut why = Vec::new();
    if left_out > unreadable {
        why.push(format!(
            "{} past the budget of {} line diffs",
            thousands((left_out - unreadable) as i64),
            thousands(mining::ATTRIBUTION_BUDGET as i64)
        ));
    }
    if unreadable > 0 {
        why.push(format!(
            "{} with a version in their history that the repository lacks (a partial or \
             damaged clone)",
            thousands(unreadable as i64)
        ));
    }
    let covers = match blame.files_attributed {
        0 => "so author_blame_share is unknown".to_string(),
        n => format!(
            "so author_blame_share covers those {} only",
            thousands(n as i64)
        ),
    };
    format!(
        "line ownership was worked out for {} of the {} touched files that existed before; \
         left out: {}; {covers}",
        thousands(blame.files_attributed as i64),
        thousands(blame.files_existing as i64),
        why.join(", "),
    )
}

/// When the latest review came: "within an hour of opening", "5 hours after opening".
fn time_in_review(hours: f64) -> String {
    if hours < 1.0 {
        "within an hour of opening".to_string()
    } else {
        format!(
            "{} after opening",
            crate::features::catalogue::duration(hours * 3_600.0)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_partial_attribution_is_said_with_its_counts() {
        let blame = features::BlameTally {
            author_lines: 10,
            total_lines: 100,
            files_attributed: 229,
            files_existing: 230,
            files_unreadable: 0,
        };
        assert!(blame.is_partial());
        let warning = partial_attribution_warning(blame);
        assert!(
            warning.contains("229 of the 230 touched files"),
            "{warning}"
        );
        assert!(
            warning.contains("left out: 1 past the budget of 20,000 line diffs;"),
            "{warning}"
        );
        let unreadable = features::BlameTally {
            files_attributed: 227,
            files_unreadable: 2,
            ..blame
        };
        let warning = partial_attribution_warning(unreadable);
        assert!(
            warning.contains(
                "left out: 1 past the budget of 20,000 line diffs, 2 with a version in their \
                 history that the repository lacks (a partial or damaged clone);"
            ),
            "{warning}"
        );
        let none_over_budget = features::BlameTally {
            files_unreadable: 3,
            ..unreadable
        };
        let warning = partial_attribution_warning(none_over_budget);
        assert!(!warning.contains("budget"), "{warning}");
        assert!(warning.contains("left out: 3 with a version"), "{warning}");
        let none_attributed = features::BlameTally {
            files_attributed: 0,
            files_existing: 3,
            files_unreadable: 3,
            ..blame
        };
        let warning = partial_attribution_warning(none_attributed);
        assert!(
            warning.contains("worked out for 0 of the 3") && warning.ends_with("is unknown"),
            "{warning}"
        );
        let whole = features::BlameTally {
            files_attributed: 230,
            ..blame
        };
        assert!(!whole.is_partial());
    }
}

//! A score as GitHub shows it: the check run's title, conclusion, summary and annotations, and
//! the sticky PR comment. Pure; the markdown itself comes from `ScoreReport::to_markdown`.

use std::collections::BTreeMap;

use crate::github::client::{Annotation, IssueComment};
use crate::model::Band;
use crate::report::ScoreReport;

/// How the sticky comment's first line starts: a hidden marker by which riskgate finds its own
/// comment, and which records the band the comment advised, `<!-- riskgate:sticky-comment
/// band=elevated -->` (see [`marker`]). Comments written before the band was recorded carry
/// the bare `<!-- riskgate:sticky-comment -->`.
pub const MARKER: &str = "<!-- riskgate:sticky-comment";

/// GitHub's limit on a check run's `output.summary` (and `output.text`), in characters.
pub const CHECK_SUMMARY_LIMIT: usize = 65_535;
/// GitHub's limit on an issue comment body, in characters.
pub const COMMENT_LIMIT: usize = 65_536;

const CUT_NOTE: &str = "\n\n*… cut here: the full report is longer than GitHub allows.*\n";

/// "riskgate: 31% risk — elevated"
pub fn check_title(probability: f64, band: Band) -> String {
    format!(
        "riskgate: {:.0}% risk — {}",
        (probability * 100.0).clamp(0.0, 100.0),
        band.as_str()
    )
}

/// The title of a check whose head's risk was accepted: the score, and who accepted it.
/// "riskgate: 41% risk — high, accepted by @alice"
pub fn accepted_title(probability: f64, band: Band, accepted_by: &str) -> String {
    format!(
        "{}, accepted by @{accepted_by}",
        check_title(probability, band)
    )
}

/// The summary of such a check: who accepted, for how long, then the report.
pub fn accepted_summary(accepted_by: &str, markdown: &str) -> String {
    format!(
        "**@{accepted_by} accepted the risk of this commit.** The acceptance stands until a new \
         commit is pushed; the score below is the latest one.\n\n{markdown}"
    )
}

/// The check run conclusion: only a high score can block, and only when configured to.
pub fn conclusion_for(band: Band, high_blocks: bool) -> &'static str {
    match band {
        Band::Low => "success",
        Band::Elevated => "neutral",
        Band::High if high_blocks => "failure",
        Band::High => "neutral",
    }
}

/// `text` if it has at most `limit` characters; otherwise as much of it as fits before a note
/// saying it was cut. Counts characters, never splits one.
fn fit(text: &str, limit: usize) -> String {
    if text.chars().count() <= limit {
        return text.to_string();
    }
    let keep = limit.saturating_sub(CUT_NOTE.chars().count());
    let end = text
        .char_indices()
        .nth(keep)
        .map(|(i, _)| i)
        .unwrap_or(text.len());
    let mut out = String::with_capacity(end + CUT_NOTE.len());
    out.push_str(&text[..end]);
    out.push_str(CUT_NOTE);
    out
}

/// The check run summary: the report's markdown, at most [`CHECK_SUMMARY_LIMIT`] characters.
pub fn check_summary(markdown: &str) -> String {
    fit(markdown, CHECK_SUMMARY_LIMIT)
}

/// Why a check run ends without a score.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotScored<'a> {
    /// Scoring ran past its time limit and was stopped.
    TimedOut,
    /// Scoring failed for good; `error` says how (it is shown, cleaned and shortened).
    Failed { error: &'a str },
}

/// How to try again, said on every check that carries no score.
const RERUN_HINT: &str =
    "To try again, press **Re-run** on this check, or push a new commit to the pull request.";

/// The longest error text a check shows, in characters.
const ERROR_SHOWN_LIMIT: usize = 400;

/// An error as one line of plain text: control characters and backticks out, runs of
/// whitespace as one space, at most [`ERROR_SHOWN_LIMIT`] characters.
fn one_line(error: &str) -> String {
    let cleaned: String = error
        .chars()
        .map(|c| if c.is_control() || c == '`' { ' ' } else { c })
        .collect();
    let words: Vec<&str> = cleaned.split_whitespace().collect();
    let line = words.join(" ");
    if line.chars().count() <= ERROR_SHOWN_LIMIT {
        return line;
    }
    let mut cut: String = line.chars().take(ERROR_SHOWN_LIMIT - 1).collect();
    cut.push('…');
    cut
}

/// The conclusion, title and summary of a check run whose change riskgate could not score.
/// Running out of time is advisory (`neutral`); another failure fails the check where the
/// repository has high risk fail (`high_blocks`), since the change's risk is unknown.
pub fn not_scored_check(why: NotScored<'_>, high_blocks: bool) -> (&'static str, String, String) {
    match why {
        NotScored::TimedOut => (
            "neutral",
            "riskgate: not scored in time".to_string(),
            format!(
                "riskgate could not score this change in time: scoring ran past its time limit \
                 and was stopped, so this check says nothing about the change's risk.\n\n\
                 {RERUN_HINT}"
            ),
        ),
        NotScored::Failed { error } => {
            let conclusion = if high_blocks { "failure" } else { "neutral" };
            let blocking = if high_blocks {
                "\n\nThe check fails because this repository has high risk fail the check \
                 (`high_risk: failure`, the default), and the risk of this change is unknown."
            } else {
                ""
            };
            (
                conclusion,
                "riskgate: could not score this change".to_string(),
                format!(
                    "riskgate could not score this change, so this check says nothing about its \
                     risk.\n\nWhat went wrong: `{}`{blocking}\n\n{RERUN_HINT}",
                    one_line(error)
                ),
            )
        }
    }
}

/// The sticky comment's first line: [`MARKER`] with the band it advises.
pub fn marker(band: Band) -> String {
    format!("{MARKER} band={} -->", band.as_str())
}

/// The sticky comment: its [`marker`], then the report's markdown; at most [`COMMENT_LIMIT`]
/// characters in all.
pub fn comment_body(markdown: &str, band: Band) -> String {
    let head = format!("{}\n", marker(band));
    let room = COMMENT_LIMIT - head.chars().count();
    format!("{head}{}", fit(markdown, room))
}

/// What a comment's first line says if it is riskgate's marker: `None` when it is not one,
/// `Some(None)` for a marker without a band (or with one riskgate does not know), else the band.
fn read_marker(body: &str) -> Option<Option<Band>> {
    let first = body.trim_start().lines().next()?.trim_end();
    let inner = first.strip_prefix(MARKER)?.strip_suffix("-->")?;
    if !inner.is_empty() && !inner.starts_with(char::is_whitespace) {
        return None;
    }
    Some(
        inner
            .split_whitespace()
            .find_map(|attr| attr.strip_prefix("band="))
            .and_then(Band::parse),
    )
}

/// The band a sticky comment recorded in its marker: the advice it gave. `None` for a comment
/// that is not riskgate's or was written before the band was recorded.
pub fn comment_band(body: &str) -> Option<Band> {
    read_marker(body).flatten()
}

/// riskgate's sticky comment among a PR's comments, oldest first: the first written by the
/// App's own bot account (`bot_login`, e.g. `riskgate[bot]`) whose first line is the marker.
/// Anyone can paste the marker; only the App can write as its bot, whose login, ending in
/// `[bot]`, no user account can take.
pub fn find_sticky<'c>(comments: &'c [IssueComment], bot_login: &str) -> Option<&'c IssueComment> {
    comments.iter().find(|c| is_sticky(c, bot_login))
}

fn is_sticky(comment: &IssueComment, bot_login: &str) -> bool {
    comment.author.eq_ignore_ascii_case(bot_login) && read_marker(&comment.body).is_some()
}

/// The latest of riskgate's comments (with `behavior: new` there may be several).
pub fn find_latest_sticky<'c>(
    comments: &'c [IssueComment],
    bot_login: &str,
) -> Option<&'c IssueComment> {
    comments.iter().rev().find(|c| is_sticky(c, bot_login))
}

/// The first run of consecutive line numbers in an ascending list.
fn first_run(lines: &[u32]) -> Option<(u32, u32)> {
    let start = *lines.first()?;
    let mut end = start;
    for &l in &lines[1..] {
        if l == end + 1 {
            end = l;
        } else if l > end + 1 {
            break;
        }
    }
    Some((start, end))
}

/// One annotation per file that drives the risk: sensitive paths, and files whose added lines
/// the coverage reports show unexecuted. A file that is both gets one annotation saying both.
/// Sorted by path.
pub fn annotations_for(report: &ScoreReport) -> Vec<Annotation> {
    #[derive(Default)]
    struct Why {
        sensitive: Option<&'static str>,
        uncovered: Option<(usize, (u32, u32))>,
    }
    let mut files: BTreeMap<&str, Why> = BTreeMap::new();
    for hit in &report.sensitive_paths {
        files.entry(hit.path.as_str()).or_default().sensitive = Some(hit.reason.describe());
    }
    if let Some(cov) = &report.coverage {
        for (path, lines) in &cov.uncovered_added {
            if let Some(run) = first_run(lines) {
                files.entry(path.as_str()).or_default().uncovered = Some((lines.len(), run));
            }
        }
    }
    files
        .into_iter()
        .map(|(path, why)| {
            let mut titles = Vec::new();
            let mut messages = Vec::new();
            if let Some(reason) = why.sensitive {
                titles.push(format!("Sensitive path ({reason})"));
                messages.push(format!(
                    "This file is a {reason}; a mistake here tends to surface only after deploy. \
                     Review it with that in mind."
                ));
            }
            let (start_line, end_line) = match why.uncovered {
                Some((count, (start, end))) => {
                    titles.push("Added lines without test coverage".to_string());
                    let lines = if count == 1 { "line" } else { "lines" };
                    let first = if start == end {
                        format!("line {start}")
                    } else {
                        format!("lines {start}–{end}")
                    };
                    messages.push(format!(
                        "{count} added {lines} instrumented but not executed by the tests \
                         (first: {first})."
                    ));
                    (start, end)
                }
                None => (1, 1),
            };
            Annotation {
                path: path.to_string(),
                start_line,
                end_line,
                annotation_level: "warning".to_string(),
                title: Some(titles.join("; ")),
                message: messages.join(" "),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_check_without_a_score_says_why_and_how_to_rerun() {
        let (conclusion, title, summary) = not_scored_check(NotScored::TimedOut, true);
        assert_eq!(conclusion, "neutral", "running out of time never blocks");
        assert!(title.contains("not scored in time"), "{title}");
        assert!(
            summary.contains("time limit") && summary.contains("Re-run"),
            "{summary}"
        );

        let error = "GitHub: 404 `Not Found`\n\u{1b}[31mred\u{1b}[0m";
        let (conclusion, title, summary) = not_scored_check(NotScored::Failed { error }, true);
        assert_eq!(conclusion, "failure");
        assert!(title.contains("could not score"), "{title}");
        assert!(
            summary.contains("`GitHub: 404 Not Found [31mred [0m`"),
            "{summary}"
        );
        assert!(summary.contains("high_risk: failure") && summary.contains("push a new commit"));
        let (conclusion, _, summary) = not_scored_check(NotScored::Failed { error }, false);
        assert_eq!(conclusion, "neutral");
        assert!(!summary.contains("high_risk"), "{summary}");

        let long = "x".repeat(5_000);
        let (_, _, summary) = not_scored_check(NotScored::Failed { error: &long }, false);
        assert!(summary.len() < 1_000, "a long error is shortened");
        assert!(summary.contains('…'));
    }

    #[test]
    fn title_matches_the_report_headline() {
        assert_eq!(
            check_title(0.31, Band::Elevated),
            "riskgate: 31% risk — elevated"
        );
        assert_eq!(check_title(0.004, Band::Low), "riskgate: 0% risk — low");
        assert_eq!(
            accepted_title(0.41, Band::High, "alice"),
            "riskgate: 41% risk — high, accepted by @alice"
        );
        let summary = accepted_summary("alice", "### report\n");
        assert!(summary.starts_with("**@alice accepted"), "{summary}");
        assert!(summary.ends_with("### report\n"), "{summary}");
    }

    #[test]
    fn conclusions() {
        assert_eq!(conclusion_for(Band::Low, true), "success");
        assert_eq!(conclusion_for(Band::Elevated, true), "neutral");
        assert_eq!(conclusion_for(Band::High, true), "failure");
        assert_eq!(conclusion_for(Band::High, false), "neutral");
    }

    #[test]
    fn short_text_is_untouched() {
        assert_eq!(check_summary("### hi\n"), "### hi\n");
        let c = comment_body("### hi\n", Band::Elevated);
        assert!(c.starts_with("<!-- riskgate:sticky-comment band=elevated -->\n"));
        assert!(c.ends_with("### hi\n"));
    }

    #[test]
    fn summary_at_the_limit_is_untouched_and_one_over_is_cut() {
        let exact = "é".repeat(CHECK_SUMMARY_LIMIT);
        assert_eq!(check_summary(&exact), exact);
        let over = "é".repeat(CHECK_SUMMARY_LIMIT + 1);
        let cut = check_summary(&over);
        assert_eq!(cut.chars().count(), CHECK_SUMMARY_LIMIT);
        assert!(cut.ends_with(CUT_NOTE));
        assert!(
            cut.len() > CHECK_SUMMARY_LIMIT,
            "counted in characters, not bytes"
        );
    }

    #[test]
    fn cutting_never_splits_a_character() {
        // Four-byte characters: a byte-based cut would land inside one and panic.
        let text = "🦀".repeat(70_000);
        let cut = check_summary(&text);
        assert!(cut.chars().count() <= CHECK_SUMMARY_LIMIT);
        assert!(cut.starts_with("🦀🦀"));
        let body = comment_body(&text, Band::High);
        assert_eq!(body.chars().count(), COMMENT_LIMIT);
        assert!(body.starts_with(MARKER));
        assert!(body.ends_with(CUT_NOTE));
    }

    #[test]
    fn comment_at_the_limit() {
        let room = COMMENT_LIMIT - marker(Band::Elevated).chars().count() - 1;
        let exact = "ü".repeat(room);
        let body = comment_body(&exact, Band::Elevated);
        assert_eq!(body.chars().count(), COMMENT_LIMIT);
        assert!(body.ends_with('ü'));
        let over = comment_body(&"ü".repeat(room + 1), Band::Elevated);
        assert_eq!(over.chars().count(), COMMENT_LIMIT);
        assert!(over.ends_with(CUT_NOTE));
    }

    #[test]
    fn sticky_comment_is_found_by_its_marker_and_its_author() {
        let comment = |id: u64, body: String, author: &str, kind: &str| IssueComment {
            id,
            body,
            author: author.to_string(),
            author_type: kind.to_string(),
        };
        let comments = vec![
            comment(1, "LGTM".into(), "alice", "User"),
            comment(2, format!("quoting: {MARKER} -->"), "riskgate[bot]", "Bot"),
            comment(3, comment_body("planted", Band::Low), "mallory", "User"),
            comment(
                4,
                comment_body("another app's", Band::Low),
                "other-app[bot]",
                "Bot",
            ),
            comment(5, comment_body("ours", Band::Low), "riskgate[bot]", "Bot"),
            comment(
                6,
                comment_body("ours, later", Band::Low),
                "riskgate[bot]",
                "Bot",
            ),
        ];
        let found = |cs: &[IssueComment]| find_sticky(cs, "riskgate[bot]").map(|c| c.id);
        assert_eq!(found(&comments), Some(5));
        assert_eq!(
            find_sticky(&comments, "RiskGate[bot]").map(|c| c.id),
            Some(5),
            "logins compare without case"
        );
        assert_eq!(found(&comments[..4]), None, "a planted marker is not ours");
        assert_eq!(found(&[]), None);
        let old = comment(
            7,
            format!("{MARKER} -->\n### riskgate"),
            "riskgate[bot]",
            "Bot",
        );
        assert_eq!(
            found(std::slice::from_ref(&old)),
            Some(7),
            "a comment from before the band was recorded is still ours"
        );
    }

    #[test]
    fn the_marker_records_the_band_and_reads_it_back() {
        for band in [Band::Low, Band::Elevated, Band::High] {
            assert_eq!(
                comment_band(&comment_body("### riskgate", band)),
                Some(band)
            );
        }
        assert_eq!(
            comment_band("<!-- riskgate:sticky-comment -->\n### x"),
            None
        );
        assert_eq!(
            comment_band("<!-- riskgate:sticky-comment band=dire -->"),
            None
        );
        assert_eq!(
            comment_band("  <!-- riskgate:sticky-comment band=high -->"),
            Some(Band::High)
        );
        assert_eq!(
            comment_band("text\n<!-- riskgate:sticky-comment band=high -->"),
            None
        );
        assert_eq!(
            comment_band("<!-- riskgate:sticky-commentary band=high -->"),
            None
        );
        assert_eq!(read_marker("<!-- riskgate:sticky-comment -->"), Some(None));
        assert_eq!(read_marker("<!-- riskgate:sticky-comment band=high"), None);
    }

    fn report_with(
        sensitive: Vec<crate::features::sensitive::SensitiveHit>,
        uncovered: Vec<(String, Vec<u32>)>,
    ) -> ScoreReport {
        use crate::features::coverage::CoverageDelta;
        use crate::model::explain::Explanation;
        use crate::report::ChangeSummary;
        ScoreReport::new(
            0.5,
            Band::High,
            BTreeMap::new(),
            Explanation {
                factors: vec![],
                reasons: vec![],
                advice: vec![],
                notes: vec![],
            },
            "v1",
            "a".repeat(40),
            "b".repeat(40),
            ChangeSummary {
                commits: 1,
                files: 3,
                lines_added: 10,
                lines_deleted: 0,
                empty: false,
            },
            vec![],
            sensitive,
            Some(CoverageDelta {
                base_percent: Some(80.0),
                head_percent: Some(78.0),
                delta_points: Some(-2.0),
                patch_instrumented: 10,
                patch_covered: 5,
                patch_percent: Some(50.0),
                uncovered_added: uncovered,
            }),
        )
    }

    #[test]
    fn annotations_name_sensitive_and_uncovered_files() {
        use crate::features::sensitive::{SensitiveHit, SensitiveReason};
        let report = report_with(
            vec![
                SensitiveHit {
                    path: "migrations/001.sql".into(),
                    reason: SensitiveReason::Migration,
                },
                SensitiveHit {
                    path: "src/db.rs".into(),
                    reason: SensitiveReason::Configured,
                },
            ],
            vec![
                ("src/db.rs".into(), vec![12, 13, 14, 40]),
                ("src/api.rs".into(), vec![7]),
                ("src/empty.rs".into(), vec![]),
            ],
        );
        let a = annotations_for(&report);
        let paths: Vec<&str> = a.iter().map(|a| a.path.as_str()).collect();
        assert_eq!(paths, vec!["migrations/001.sql", "src/api.rs", "src/db.rs"]);
        assert!(a.iter().all(|a| a.annotation_level == "warning"));

        let migration = &a[0];
        assert_eq!((migration.start_line, migration.end_line), (1, 1));
        assert!(migration.message.contains("database migration"));

        let api = &a[1];
        assert_eq!((api.start_line, api.end_line), (7, 7));
        assert!(api.message.contains("1 added line "), "{}", api.message);

        let db = &a[2];
        assert_eq!((db.start_line, db.end_line), (12, 14));
        let title = db.title.as_deref().unwrap();
        assert!(
            title.contains("Sensitive path") && title.contains("coverage"),
            "{title}"
        );
        assert!(db.message.contains("4 added lines"), "{}", db.message);
    }

    #[test]
    fn no_signals_no_annotations() {
        let mut report = report_with(vec![], vec![]);
        assert!(annotations_for(&report).is_empty());
        report.coverage = None;
        assert!(annotations_for(&report).is_empty());
    }

    #[test]
    fn first_run_of_lines() {
        assert_eq!(first_run(&[]), None);
        assert_eq!(first_run(&[7]), Some((7, 7)));
        assert_eq!(first_run(&[3, 4, 5, 9, 10]), Some((3, 5)));
        assert_eq!(first_run(&[3, 3, 4]), Some((3, 4)));
    }
}

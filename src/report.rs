//! The score of one change as a reviewer reads it: text for a terminal, markdown for a PR, JSON
//! for machines. All three carry the same content. Pure.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde::Serialize;

use crate::config::AppliedPathRule;
use crate::features::coverage::CoverageDelta;
use crate::features::sensitive::SensitiveHit;
use crate::model::explain::{Explanation, Reason};
use crate::model::{Band, Standing};

#[derive(Debug, Clone, Serialize)]
pub struct ModelRef {
    pub version: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ChangeSummary {
    pub commits: usize,
    pub files: usize,
    pub lines_added: u64,
    pub lines_deleted: u64,
    pub empty: bool,
}

/// The `score --format json` object (DESIGN.md), plus notes and warnings.
#[derive(Debug, Clone, Serialize)]
pub struct ScoreReport {
    pub probability: f64,
    pub band: Band,
    pub features: BTreeMap<String, Option<f64>>,
    pub contributions: Vec<crate::model::explain::Factor>,
    /// The contributions by group (size, spread, history, …), most risk-raising first: what
    /// the text and markdown say.
    pub reasons: Vec<Reason>,
    /// Concrete steps for the author or a reviewer.
    pub advice: Vec<String>,
    pub model: ModelRef,
    pub base: String,
    pub head: String,
    pub change: ChangeSummary,
    pub notes: Vec<String>,
    pub warnings: Vec<String>,
    pub sensitive_paths: Vec<SensitiveHit>,
    pub coverage: Option<CoverageDelta>,
    /// Where the probability stands among the model's training changes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub standing: Option<Standing>,
    /// The `paths:` rule of `.github/riskgate.yml` whose thresholds the change was held to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path_rule: Option<AppliedPathRule>,
    /// How the score moved since the pull request's previous score (the App only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since: Option<Since>,
}

/// The pull request's previous score, and what moved the score since.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Since {
    pub probability: f64,
    pub head: String,
    /// The sentences of the factors whose contributions moved most, strongest first.
    pub changed: Vec<String>,
}

/// The previous score of the same pull request, by the same model, as the App recorded it.
pub struct PreviousScore<'a> {
    pub probability: f64,
    pub head: &'a str,
    /// Model feature → its contribution to the logit then.
    pub contributions: &'a BTreeMap<String, f64>,
}

impl ScoreReport {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        probability: f64,
        band: Band,
        features: BTreeMap<String, Option<f64>>,
        explanation: Explanation,
        model_version: &str,
        base: String,
        head: String,
        change: ChangeSummary,
        warnings: Vec<String>,
        sensitive_paths: Vec<SensitiveHit>,
        coverage: Option<CoverageDelta>,
    ) -> ScoreReport {
        ScoreReport {
            probability,
            band,
            features,
            contributions: explanation.factors,
            reasons: explanation.reasons,
            advice: explanation.advice,
            model: ModelRef {
                version: model_version.to_string(),
            },
            base,
            head,
            change,
            notes: explanation.notes,
            warnings,
            sensitive_paths,
            coverage,
            standing: None,
            path_rule: None,
            since: None,
        }
    }

    /// The most factors the line on what changed names.
    const CHANGES_SAID: usize = 3;

    /// Notes how the score moved since `previous`: the factors whose contribution moved most
    /// the way the score did (an approval, a coverage report, a push), by their sentences now,
    /// so that a factor which pulled the other way is never given as the reason. Nothing when
    /// nothing moved.
    pub fn compare_with(&mut self, previous: &PreviousScore<'_>) {
        let direction = (self.probability - previous.probability).signum();
        let mut moved: Vec<(f64, &str)> = self
            .contributions
            .iter()
            .map(|f| {
                let before = previous.contributions.get(&f.feature).copied();
                (
                    f.contribution - before.unwrap_or(0.0),
                    f.explanation.as_str(),
                )
            })
            .filter(|(delta, _)| delta.abs() >= Self::NOTABLE && delta.signum() == direction)
            .collect();
        moved.sort_by(|a, b| b.0.abs().total_cmp(&a.0.abs()));
        let mut said: Vec<String> = Vec::new();
        for (_, explanation) in moved {
            if said.len() == Self::CHANGES_SAID {
                break;
            }
            if !said.iter().any(|s| s == explanation) {
                said.push(explanation.to_string());
            }
        }
        if said.is_empty() && (previous.probability - self.probability).abs() < 0.005 {
            return;
        }
        self.since = Some(Since {
            probability: previous.probability,
            head: previous.head.to_string(),
            changed: said,
        });
    }

    /// "Down from 18% at the last score of this commit: a reviewer other than the author has
    /// approved it".
    pub fn since_line(&self) -> Option<String> {
        let s = self.since.as_ref()?;
        let (before, now) = (percent(s.probability), percent(self.probability));
        let moved = if before == now {
            format!("Unchanged at {now}")
        } else if s.probability > self.probability {
            format!("Down from {before}")
        } else {
            format!("Up from {before}")
        };
        let at = if s.head == self.head {
            "at the last score of this commit"
        } else {
            "before the latest push"
        };
        if s.changed.is_empty() {
            Some(format!("{moved} {at}"))
        } else {
            Some(format!("{moved} {at}: {}", s.changed.join("; ")))
        }
    }

    /// The sentence that says which path rule set the thresholds, if one did; in markdown the
    /// glob is code and the paths are escaped (both come from the repository).
    pub fn path_rule_line(&self, markdown: bool) -> Option<String> {
        let rule = self.path_rule.as_ref()?;
        let more = rule.paths_touched.saturating_sub(rule.paths.len());
        let paths: Vec<String> = rule
            .paths
            .iter()
            .map(|p| if markdown { escape(p) } else { p.clone() })
            .collect();
        let mut named = paths.join(", ");
        if more > 0 {
            named.push_str(&format!(" and {more} more"));
        }
        let glob = if markdown {
            // In a code span only a backtick or a line break ends it: a glob with a newline
            // would write markdown of its own (headings, links, mentions).
            let glob: String = rule
                .glob
                .chars()
                .map(|c| match c {
                    '`' => '\'',
                    c if acts_rather_than_reads(c) => ' ',
                    c => c,
                })
                .collect();
            format!("`` {glob} ``")
        } else {
            format!("`{}`", rule.glob)
        };
        Some(format!(
            "held to the thresholds of {glob} (elevated from {}, high from {}), which it touches: {named}",
            percent(rule.elevated),
            percent(rule.high)
        ))
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("report serialises")
    }

    fn headline(&self) -> String {
        format!(
            "{:.0}% risk — {}",
            self.probability * 100.0,
            self.band.as_str()
        )
    }

    /// "2.1× the base rate of trouble (9%): among the riskiest 8% of changes".
    pub fn standing_line(&self) -> Option<String> {
        let s = self.standing?;
        // Rounded down, so that a change just below a band's cut (1.5× or 3× the base rate)
        // never reads as at it.
        // (The epsilon keeps a probability exactly at a cut from reading as below it.)
        let times = s.times_base_rate + 1e-9;
        let times = if times >= 10.0 {
            format!("{:.0}×", times.floor())
        } else if times >= 0.1 {
            format!("{:.1}×", (times * 10.0).floor() / 10.0)
        } else {
            "under 0.1×".to_string()
        };
        let rank = if s.riskiest_share <= 0.5 {
            format!(
                "among the riskiest {} of changes",
                percent(s.riskiest_share.max(0.01))
            )
        } else {
            format!(
                "less risky than {} of changes",
                percent(s.riskiest_share.min(0.99))
            )
        };
        Some(format!(
            "{times} the base rate of trouble ({}): {rank}",
            percent(s.base_rate)
        ))
    }

    fn change_line(&self) -> String {
        let c = &self.change;
        format!(
            "{}..{}: {} {}, {} {}, +{} −{}",
            short(&self.base),
            short(&self.head),
            c.commits,
            if c.commits == 1 { "commit" } else { "commits" },
            c.files,
            if c.files == 1 { "file" } else { "files" },
            c.lines_added,
            c.lines_deleted
        )
    }

    /// Factors that move the score by less than this are left out of the prose lists.
    const NOTABLE: f64 = 0.05;
    /// The most factors the prose shows before folding the rest.
    const SHOWN: usize = 4;

    /// The notable reasons the prose shows and those it folds, each in the report's order
    /// (most risk-raising first); the shown are the strongest either way.
    fn notable_reasons(&self) -> (Vec<&Reason>, Vec<&Reason>) {
        let mut notable: Vec<&Reason> = self
            .reasons
            .iter()
            .filter(|r| r.contribution.abs() >= Self::NOTABLE)
            .collect();
        notable.sort_by(|a, b| b.contribution.abs().total_cmp(&a.contribution.abs()));
        let mut folded = notable.split_off(Self::SHOWN.min(notable.len()));
        notable.sort_by(|a, b| b.contribution.total_cmp(&a.contribution));
        folded.sort_by(|a, b| b.contribution.total_cmp(&a.contribution));
        (notable, folded)
    }

    /// The report for a terminal. Names, paths and messages from the repository are shown
    /// through [`printable`], so none of them can send the terminal a command or forge a line.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "riskgate: {}  (model {})",
            self.headline(),
            printable(&self.model.version)
        );
        let _ = writeln!(out, "change {}", self.change_line());
        if let Some(line) = self.standing_line() {
            let _ = writeln!(out, "{line}");
        }
        if let Some(line) = self.since_line() {
            let _ = writeln!(out, "{}", printable(&line));
        }
        if let Some(line) = self.path_rule_line(false) {
            let _ = writeln!(out, "{}", printable(&line));
        }
        for w in &self.warnings {
            let _ = writeln!(out, "warning: {}", printable(w));
        }
        let (shown, folded) = self.notable_reasons();
        let raising: Vec<_> = shown.iter().filter(|r| r.contribution > 0.0).collect();
        let lowering: Vec<_> = shown
            .iter()
            .rev()
            .filter(|r| r.contribution < 0.0)
            .collect();
        if !raising.is_empty() {
            let _ = writeln!(out, "\nRaises the risk:");
            for r in raising {
                let _ = writeln!(
                    out,
                    "  {:+.2}  {}",
                    r.contribution,
                    printable(&r.explanation)
                );
            }
        }
        if !lowering.is_empty() {
            let _ = writeln!(out, "\nLowers the risk:");
            for r in lowering {
                let _ = writeln!(
                    out,
                    "  {:+.2}  {}",
                    r.contribution,
                    printable(&r.explanation)
                );
            }
        }
        if !folded.is_empty() {
            let _ = writeln!(
                out,
                "  … and {} smaller {} (--format json lists every signal)",
                folded.len(),
                if folded.len() == 1 {
                    "factor"
                } else {
                    "factors"
                }
            );
        }
        if !self.advice.is_empty() {
            let _ = writeln!(out, "\nWhat would help:");
            for a in &self.advice {
                let _ = writeln!(out, "  - {}", printable(a));
            }
        }
        if !self.notes.is_empty() {
            let _ = writeln!(out, "\nAlso worth knowing:");
            for n in &self.notes {
                let _ = writeln!(out, "  - {}", printable(n));
            }
        }
        out
    }

    pub fn to_markdown(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "### riskgate: {}\n", self.headline());
        let _ = writeln!(
            out,
            "`{}` · model `{}`\n",
            self.change_line(),
            self.model.version
        );
        if let Some(line) = self.standing_line() {
            let _ = writeln!(out, "{line}\n");
        }
        if let Some(line) = self.since_line() {
            let _ = writeln!(out, "{}\n", escape(&line));
        }
        if let Some(line) = self.path_rule_line(true) {
            let _ = writeln!(out, "{line}\n");
        }
        for w in &self.warnings {
            let _ = writeln!(out, "> **Warning:** {}\n", escape(w));
        }
        let (shown, folded) = self.notable_reasons();
        let (shown, folded) = (strongest_first(&shown), strongest_first(&folded));
        let row = |r: &Reason| format!("| {:+.2} | {} |", r.contribution, escape(&r.explanation));
        if !shown.is_empty() {
            let _ = writeln!(out, "| effect | factor |\n|---:|---|");
            for r in shown {
                let _ = writeln!(out, "{}", row(r));
            }
            out.push('\n');
        }
        if !folded.is_empty() {
            let _ = writeln!(
                out,
                "<details><summary>{} smaller {}</summary>\n\n| effect | factor |\n|---:|---|",
                folded.len(),
                if folded.len() == 1 {
                    "factor"
                } else {
                    "factors"
                }
            );
            for r in folded {
                let _ = writeln!(out, "{}", row(r));
            }
            out.push_str("\n</details>\n\n");
        }
        if !self.advice.is_empty() {
            let _ = writeln!(out, "**What would help**\n");
            for a in &self.advice {
                let _ = writeln!(out, "- {}", escape(a));
            }
            out.push('\n');
        }
        if !self.notes.is_empty() {
            let _ = writeln!(out, "**Also worth knowing**\n");
            for n in &self.notes {
                let _ = writeln!(out, "- {}", escape(n));
            }
        }
        out
    }
}

/// Reasons sorted by contribution (largest first) in the order a reader wants them: what
/// raises the risk most first, then what lowers it most, as the text report lists them.
fn strongest_first<'r>(by_contribution: &[&'r Reason]) -> Vec<&'r Reason> {
    let raising = by_contribution.iter().filter(|r| r.contribution >= 0.0);
    let lowering = by_contribution
        .iter()
        .rev()
        .filter(|r| r.contribution < 0.0);
    raising.chain(lowering).copied().collect()
}

fn short(sha: &str) -> &str {
    sha.get(..10).unwrap_or(sha)
}

/// A probability as people read it: whole percents, or one significant digit below 1%.
fn percent(p: f64) -> String {
    let pct = p * 100.0;
    if pct >= 1.0 || pct == 0.0 {
        format!("{pct:.0}%")
    } else {
        let decimals = (-pct.log10()).ceil().max(1.0) as usize;
        format!("{pct:.decimals$}%")
    }
}

/// Whether `ch` would act on a terminal or a page rather than be read, if a name or path from a
/// repository or a delivery held it: control characters (escape sequences that recolour,
/// retitle or clear a terminal, line breaks that would forge a line of output) and the
/// bidirectional controls that make text display in another order than it is stored.
fn acts_rather_than_reads(ch: char) -> bool {
    ch.is_control() || matches!(ch, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// `s` as text for a terminal: each character that would act rather than be read (see
/// [`acts_rather_than_reads`]) shown as U+FFFD, so that it is seen and does nothing.
pub fn printable(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.chars().any(acts_rather_than_reads) {
        return std::borrow::Cow::Borrowed(s);
    }
    s.chars()
        .map(|ch| {
            if acts_rather_than_reads(ch) {
                '\u{FFFD}'
            } else {
                ch
            }
        })
        .collect()
}

/// Keeps paths and names from breaking a markdown table or starting markup, a line break in a
/// path from starting a new block, and an `@name` or `#123` in one from pinging a user or
/// linking an issue.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        if acts_rather_than_reads(ch) {
            out.push(' ');
            continue;
        }
        if matches!(
            ch,
            '|' | '*' | '_' | '`' | '<' | '>' | '[' | ']' | '\\' | '#' | '&'
        ) {
            out.push('\\');
        }
        out.push(ch);
        if ch == '@' {
            // A zero-width joiner: GitHub links no mention across it.
            out.push('\u{2060}');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::explain::Factor;

    #[test]
    fn printable_shows_what_would_act_on_a_terminal() {
        assert!(matches!(
            printable("src/main.rs"),
            std::borrow::Cow::Borrowed(_)
        ));
        // C0 escape, C1 control sequence introducer, a line break, a right-to-left override.
        assert_eq!(
            printable("a\u{1b}[2Jb\u{9b}31mc\nd\u{202e}e\u{2067}f"),
            "a\u{fffd}[2Jb\u{fffd}31mc\u{fffd}d\u{fffd}e\u{fffd}f"
        );
        assert_eq!(escape("x\u{202e}y"), "x y");
    }

    /// A path rule's glob comes from the repository: in markdown, a line break in it cannot
    /// end its code span and write a heading, a mention or a link of its own.
    #[test]
    fn a_path_rule_s_glob_stays_in_its_code_span() {
        let mut r = report();
        r.path_rule = Some(AppliedPathRule {
            glob: "{**,\n\n# Owned @octocat [x](https://evil.example) `<img src=x>`\n}".into(),
            elevated: 0.01,
            high: 0.02,
            paths: vec!["src/a.rs".into()],
            paths_touched: 1,
        });
        let line = r.path_rule_line(true).unwrap();
        assert!(!line.contains('\n'), "{line}");
        let span = line.split("``").nth(1).unwrap();
        assert!(
            span.contains("# Owned @octocat") && !span.contains('`'),
            "{line}"
        );
        assert!(r.to_markdown().lines().all(|l| !l.starts_with("# Owned")));
    }

    fn report() -> ScoreReport {
        let factors = vec![
            Factor {
                feature: "la".into(),
                value: 340.0,
                contribution: 0.8,
                explanation: "adds 340 lines".into(),
            },
            Factor {
                feature: "exp".into(),
                value: 900.0,
                contribution: -0.4,
                explanation: "carol has made 900 earlier changes".into(),
            },
        ];
        let explanation = Explanation {
            reasons: crate::model::explain::reasons(&factors),
            factors,
            advice: vec!["add tests".into()],
            notes: vec!["touches src/a|b.rs".into()],
        };
        ScoreReport::new(
            0.31,
            Band::Elevated,
            BTreeMap::from([
                ("la".to_string(), Some(340.0)),
                ("coverage_delta".to_string(), None),
            ]),
            explanation,
            "v1",
            "a".repeat(40),
            "b".repeat(40),
            ChangeSummary {
                commits: 2,
                files: 3,
                lines_added: 340,
                lines_deleted: 12,
                empty: false,
            },
            vec![],
            vec![],
            None,
        )
    }

    #[test]
    fn json_has_the_designed_shape() {
        let v: serde_json::Value = serde_json::from_str(&report().to_json()).unwrap();
        assert_eq!(v["band"], "elevated");
        assert_eq!(v["model"]["version"], "v1");
        assert_eq!(v["features"]["coverage_delta"], serde_json::Value::Null);
        assert_eq!(v["contributions"][0]["feature"], "la");
        assert_eq!(v["contributions"][0]["explanation"], "adds 340 lines");
        assert_eq!(v["base"].as_str().unwrap().len(), 40);
    }

    #[test]
    fn text_and_markdown_carry_the_same_factors() {
        let r = report();
        let text = r.to_text();
        let md = r.to_markdown();
        assert!(text.contains("31% risk — elevated"));
        assert!(
            text.contains("Raises the risk:\n  +0.80  adds 340 lines"),
            "{text}"
        );
        assert!(
            text.contains("Lowers the risk:\n  -0.40  carol has made 900"),
            "{text}"
        );
        assert!(md.contains("| +0.80 | adds 340 lines |"), "{md}");
        assert!(md.contains("- touches src/a\\|b.rs"), "{md}");
    }

    /// Both formats list what raises the risk most first, then what lowers it most.
    #[test]
    fn the_strongest_factors_come_first_both_ways() {
        let mut r = report();
        let factor = |feature: &str, contribution: f64| Factor {
            feature: feature.into(),
            value: 1.0,
            contribution,
            explanation: format!("{feature} moves it by {contribution}"),
        };
        let factors = vec![
            factor("la", 0.8),
            factor("ns", 0.3),
            factor("exp", -0.2),
            factor("age", -0.5),
        ];
        r.reasons = crate::model::explain::reasons(&factors);
        let order = |out: &str| {
            ["la", "ns", "age", "exp"]
                .map(|f| out.find(&format!("{f} moves")).unwrap_or(usize::MAX))
        };
        for out in [r.to_text(), r.to_markdown()] {
            let at = order(&out);
            assert!(at.windows(2).all(|w| w[0] < w[1]), "{at:?}\n{out}");
        }
    }

    fn previous<'a>(
        probability: f64,
        head: &'a str,
        contributions: &'a BTreeMap<String, f64>,
    ) -> PreviousScore<'a> {
        PreviousScore {
            probability,
            head,
            contributions,
        }
    }

    #[test]
    fn a_rescore_names_what_moved_the_score() {
        let mut r = report();
        let head = r.head.clone();
        // The lines added moved the score; the author's experience did not.
        let before = BTreeMap::from([("la".to_string(), 0.3), ("exp".to_string(), -0.4)]);
        r.compare_with(&previous(0.18, &head, &before));
        let line = r.since_line().unwrap();
        assert_eq!(
            line,
            "Up from 18% at the last score of this commit: adds 340 lines"
        );
        assert!(r.to_markdown().contains(&line), "{}", r.to_markdown());
        assert!(r.to_text().contains(&line));
        let v: serde_json::Value = serde_json::from_str(&r.to_json()).unwrap();
        assert_eq!(v["since"]["probability"], 0.18);
    }

    #[test]
    fn nothing_is_said_when_nothing_moved() {
        let mut same = report();
        let head = same.head.clone();
        let now = BTreeMap::from([("la".to_string(), 0.8), ("exp".to_string(), -0.4)]);
        same.compare_with(&previous(0.31, &head, &now));
        assert!(same.since.is_none());

        let mut pushed = report();
        pushed.compare_with(&previous(0.5, "c0ffee1234567", &now));
        assert_eq!(
            pushed.since_line().unwrap(),
            "Down from 50% before the latest push"
        );
    }

    #[test]
    fn the_multiple_of_the_base_rate_is_rounded_down_to_the_band_cut() {
        let mut r = report();
        r.standing = Some(Standing {
            riskiest_share: 0.21,
            times_base_rate: 1.49,
            base_rate: 0.096,
        });
        let line = r.standing_line().unwrap();
        assert!(
            line.starts_with("1.4× the base rate of trouble (10%)"),
            "{line}"
        );
    }

    fn reason(contribution: f64, explanation: &str) -> Reason {
        Reason {
            group: crate::features::catalogue::Group::Other,
            contribution,
            explanation: explanation.into(),
            features: vec![],
        }
    }

    #[test]
    fn the_folded_factors_are_the_ones_not_shown() {
        let mut r = report();
        r.reasons = vec![
            reason(1.0, "one"),
            reason(0.5, "half"),
            reason(0.3, "third"),
            reason(0.1, "tenth"),
            reason(0.06, "small"),
            reason(-2.0, "strongest"),
        ];
        let md = r.to_markdown();
        let (shown, folded) = md.split_once("<details>").unwrap();
        for s in ["strongest", "one", "half", "third"] {
            assert!(shown.contains(&format!("| {s} |")), "{md}");
            assert!(!folded.contains(&format!("| {s} |")), "{md}");
        }
        assert!(folded.contains("2 smaller factors"), "{md}");
        assert!(
            folded.contains("| tenth |") && folded.contains("| small |"),
            "{md}"
        );
    }

    #[test]
    fn a_factor_that_pulled_the_other_way_is_not_the_reason_given() {
        let mut r = report();
        let head = r.head.clone();
        // Since then the lines (+0.8 now, 0.3 then) raised it and the author's experience
        // (-0.4 now, 0 then) lowered it; the score went up.
        let before = BTreeMap::from([("la".to_string(), 0.3), ("exp".to_string(), 0.0)]);
        r.compare_with(&previous(0.18, &head, &before));
        let line = r.since_line().unwrap();
        assert!(line.ends_with(": adds 340 lines"), "{line}");
    }

    #[test]
    fn the_standing_says_how_many_changes_scored_higher() {
        let mut r = report();
        r.standing = Some(Standing {
            riskiest_share: 0.8,
            times_base_rate: 0.4,
            base_rate: 0.1,
        });
        let line = r.standing_line().unwrap();
        assert!(line.ends_with("less risky than 80% of changes"), "{line}");
        r.standing = Some(Standing {
            riskiest_share: 1.0,
            times_base_rate: 0.01,
            base_rate: 0.1,
        });
        let line = r.standing_line().unwrap();
        assert_eq!(
            line,
            "under 0.1× the base rate of trouble (10%): less risky than 99% of changes"
        );
    }

    #[test]
    fn markdown_text_from_a_repository_cannot_ping_or_break_lines() {
        let escaped = escape("docs/@octocat\n# Title #12");
        assert!(!escaped.contains('\n'), "{escaped}");
        assert!(!escaped.contains("@octocat"), "{escaped}");
        assert!(escaped.contains("\\# Title \\#12"), "{escaped}");
    }
}

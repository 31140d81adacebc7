//! Plain-language explanation of a score: one sentence per model factor, ranked by how much
//! it moves the score, and notes on the signals the model does not weigh. Pure.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{Contribution, Derived, Scored, Transform};
use crate::features::catalogue::{self, compare, count, duration, list, thousands, Group, Said};
use crate::features::{git_path, Context, Signals};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Factor {
    pub feature: String,
    pub value: f64,
    pub contribution: f64,
    pub explanation: String,
}

/// One line of an explanation: the model's factors of one group taken together, so that
/// overlapping signals (lines added and lines per file) are neither listed twice nor set
/// against each other.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Reason {
    pub group: Group,
    /// The sum of the group's contributions to the logit.
    pub contribution: f64,
    /// The sentence of the factor that moves the score most in the group's direction.
    pub explanation: String,
    /// The model features summed, largest share first.
    pub features: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Explanation {
    /// Largest contribution (most risk-raising) first.
    pub factors: Vec<Factor>,
    /// The factors by group, most risk-raising first; groups that do not move the score left
    /// out.
    pub reasons: Vec<Reason>,
    /// What the author or a reviewer can do about it: concrete steps, where there are some.
    pub advice: Vec<String>,
    /// What the model does not weigh but a reviewer should know: expertise, sensitive paths,
    /// coverage, an empty change.
    pub notes: Vec<String>,
}

/// Lines per file as people say it: "0.4", "2.5", "94", "1,250".
fn per_file(v: f64) -> String {
    if v < 10.0 && (v - v.round()).abs() >= 0.05 {
        format!("{v:.1}")
    } else {
        thousands(v.round() as i64)
    }
}

/// The raw signals a model feature reads, from its name.
fn inputs_of(feature: &str) -> Vec<String> {
    match Derived::parse(feature, &|_| Transform::None, &|_, _, _| Some(0.0)) {
        Ok(Some(d)) => d.inputs().into_iter().map(str::to_string).collect(),
        _ => vec![feature.to_string()],
    }
}

/// The factors summed by group, each said by its strongest factor in the group's direction.
pub fn reasons(factors: &[Factor]) -> Vec<Reason> {
    let mut groups: BTreeMap<Group, Vec<&Factor>> = BTreeMap::new();
    for f in factors {
        let inputs = inputs_of(&f.feature);
        let names: Vec<&str> = inputs.iter().map(String::as_str).collect();
        groups.entry(Group::of_feature(&names)).or_default().push(f);
    }
    let mut reasons: Vec<Reason> = groups
        .into_iter()
        .filter_map(|(group, mut members)| {
            let total: f64 = members.iter().map(|f| f.contribution).sum();
            if total == 0.0 {
                return None;
            }
            // Strongest in the group's direction first.
            members.sort_by(|a, b| {
                (b.contribution * total.signum()).total_cmp(&(a.contribution * total.signum()))
            });
            Some(Reason {
                group,
                contribution: total,
                explanation: members[0].explanation.clone(),
                features: members.iter().map(|f| f.feature.clone()).collect(),
            })
        })
        .collect();
    reasons.sort_by(|a, b| b.contribution.total_cmp(&a.contribution));
    reasons
}

/// Concrete steps for the author or a reviewer: someone who knows the directories the author
/// is new to, tests for the untested added lines, an owner's eye on sensitive files.
fn advice(ctx: &Context) -> Vec<String> {
    let who = who(ctx);
    let mut advice = Vec::new();
    if !ctx.dirs_new_to_author.is_empty() {
        let dirs: Vec<String> = ctx
            .dirs_new_to_author
            .iter()
            .map(|d| display_dir(d))
            .collect();
        advice.push(format!(
            "ask for a review from someone who has changed {} before: {who} has not",
            list(&dirs, 3)
        ));
    }
    if let Some(cov) = &ctx.coverage {
        let untested: Vec<String> = cov
            .uncovered_added
            .iter()
            .filter(|(_, lines)| !lines.is_empty())
            .map(|(f, lines)| format!("{f} ({})", count(lines.len() as f64, "line", "lines")))
            .collect();
        if !untested.is_empty() {
            advice.push(format!(
                "add tests that run the untested added lines in {}",
                list(&untested, 3)
            ));
        }
    }
    if !ctx.sensitive.is_empty() {
        let paths: Vec<String> = ctx.sensitive.iter().map(|h| h.path.clone()).collect();
        advice.push(format!(
            "have an owner of {} look at it before it merges",
            list(&paths, 3)
        ));
    }
    advice
}

fn display_dir(dir: &str) -> String {
    if dir.is_empty() {
        "the repository root".to_string()
    } else {
        format!("{}/", git_path::display(dir))
    }
}

/// The author, as sentences name them.
fn who(ctx: &Context) -> &str {
    if ctx.author_name.trim().is_empty() {
        "the author"
    } else {
        ctx.author_name.as_str()
    }
}

fn sentence(c: &Contribution, signals: &Signals, ctx: &Context) -> String {
    let said = Said {
        value: c.value,
        share_below: c.share_below,
        share_above: c.share_above,
        who: who(ctx),
        subsystems: &ctx.subsystems,
        signal: &|s| signals.value(s),
    };
    if let Some(signal) = catalogue::by_name(&c.feature) {
        return signal.say(&said);
    }
    let v = c.value;
    match c.feature.as_str() {
        // Said as how concentrated the change is, which reads right whichever way it moves
        // the score: more lines per file means fewer files for the same lines.
        "ratio(la,nf)" => format!(
            "adds {} over {} ({} per file){}",
            count(signals.la, "line", "lines"),
            count(signals.nf, "file", "files"),
            per_file(v),
            compare(&said, "more concentrated", "more thinly spread", "changes")
        ),
        "ratio(nuc,nf)" if v < 0.5 => format!(
            "its files have had almost no earlier changes{}",
            compare(&said, "more", "fewer", "changes")
        ),
        "ratio(nuc,nf)" => format!(
            "its files have had {} each on average{}",
            count(v, "earlier change", "earlier changes"),
            compare(&said, "more", "fewer", "changes")
        ),
        "share(ld,la)" => format!(
            "{}% of its added and deleted lines are deletions{}",
            (v * 100.0).round().clamp(0.0, 100.0),
            compare(&said, "more", "fewer", "changes")
        ),
        other if other.starts_with("hinge(age,") => {
            let knot = Derived::parse(other, &|_| Transform::Log1p, &|_, _, k| k.parse().ok())
                .ok()
                .flatten()
                .and_then(|d| match d {
                    Derived::Hinge { knot, .. } => Some(knot.exp_m1()),
                    _ => None,
                })
                .unwrap_or(0.0);
            if v > 0.0 {
                format!(
                    "its files have rested {} on average since their last change, longer than {} (past that, file age weighs differently)",
                    duration(signals.age),
                    duration(knot)
                )
            } else {
                format!(
                    "its files last changed {} ago on average, within {} (past that, file age weighs differently)",
                    duration(signals.age),
                    duration(knot)
                )
            }
        }
        other => derived_sentence(other, &said).unwrap_or_else(|| {
            format!(
                "{other} is {v}{}",
                compare(&said, "higher", "lower", "changes")
            )
        }),
    }
}

/// A sentence for a derived feature the arms above do not name, from its definition.
fn derived_sentence(name: &str, c: &Said<'_>) -> Option<String> {
    let d = Derived::parse(name, &|_| Transform::None, &|_, _, k| k.parse().ok())
        .ok()
        .flatten()?;
    let v = c.value;
    Some(match d {
        Derived::Ratio {
            numerator,
            denominator,
        } => format!(
            "has {v:.1} {numerator} per {denominator}{}",
            compare(c, "more", "less", "changes")
        ),
        Derived::Share { part, other } => format!(
            "{}% of {part} + {other} is {part}{}",
            (v * 100.0).round(),
            compare(c, "more", "less", "changes")
        ),
        Derived::Hinge { input, knot, .. } if v > 0.0 => format!(
            "its {input} is past the point (about {:.0}) beyond which each doubling weighs differently",
            knot.exp_m1()
        ),
        Derived::Hinge { input, knot, .. } => format!(
            "its {input} is below about {:.0}, where the extra slope does not apply",
            knot.exp_m1()
        ),
        Derived::Product { left, right } => format!(
            "{} and {} together (their product {v:.2}){}",
            left.name,
            right.name,
            compare(c, "higher", "lower", "changes")
        ),
        Derived::Above { input, threshold } if v >= 0.5 => {
            format!("its {input} is above {threshold}")
        }
        Derived::Above { input, threshold } => format!("its {input} is at most {threshold}"),
    })
}

fn pct1(x: f64) -> String {
    format!("{x:.1}%")
}

/// A share of a whole (0..=1) as a person says it: "none", "all", "less than 0.1%" rather
/// than a "0.0%" that may hide a few lines.
fn share_of(share: f64) -> String {
    if share <= 0.0 {
        "none".to_string()
    } else if share >= 1.0 {
        "all".to_string()
    } else if share < 0.0005 {
        "less than 0.1%".to_string()
    } else if share > 0.9995 {
        "more than 99.9%".to_string()
    } else {
        pct1(share * 100.0)
    }
}

fn notes(signals: &Signals, ctx: &Context, scored: &Scored) -> Vec<String> {
    let who = who(ctx);
    let mut notes = Vec::new();
    if ctx.empty {
        notes.push("the change is empty: base and head have the same files".to_string());
    }
    let these_files = if signals.nf == 1.0 {
        "this file"
    } else {
        "these files"
    };
    if let Some(share) = signals.author_commit_share {
        notes.push(format!(
            "{who} made {} of the earlier commits to {these_files}",
            share_of(share)
        ));
    }
    if let Some(share) = signals.author_blame_share {
        let counted_in = match ctx.blame {
            Some(b) if b.is_partial() => format!(
                " (counted in {} of the {} files)",
                thousands(b.files_attributed as i64),
                thousands(b.files_existing as i64)
            ),
            _ => String::new(),
        };
        notes.push(format!(
            "{who} last wrote {} of the lines {these_files} had before{counted_in}",
            share_of(share)
        ));
    }
    if !ctx.sensitive.is_empty() {
        let hits: Vec<String> = ctx
            .sensitive
            .iter()
            .map(|h| format!("{} ({})", h.path, h.reason.describe()))
            .collect();
        notes.push(format!(
            "touches {}: {}",
            count(hits.len() as f64, "sensitive file", "sensitive files"),
            list(&hits, 5)
        ));
    }
    match &ctx.coverage {
        None => notes.push("coverage unknown: no coverage reports were given".to_string()),
        Some(cov) => {
            match (cov.base_percent, cov.head_percent, cov.delta_points) {
                (Some(b), Some(h), Some(d)) => {
                    let verdict = if d < -2.0 {
                        " — a drop of more than 2 points"
                    } else {
                        ""
                    };
                    notes.push(format!(
                        "project coverage {} → {} ({d:+.1} points){verdict}",
                        pct1(b),
                        pct1(h)
                    ));
                }
                (_, Some(h), _) => notes.push(format!(
                    "project coverage at head {} (no base report to compare)",
                    pct1(h)
                )),
                _ => notes
                    .push("project coverage unknown: the reports instrument no lines".to_string()),
            }
            match cov.patch_percent {
                Some(p) => {
                    let mut s = format!(
                        "patch coverage {}: {} of {} instrumented added lines run by tests",
                        pct1(p),
                        cov.patch_covered,
                        cov.patch_instrumented
                    );
                    let uncovered: Vec<String> = cov
                        .uncovered_added
                        .iter()
                        .filter(|(_, lines)| !lines.is_empty())
                        .map(|(f, lines)| {
                            format!("{f} ({})", count(lines.len() as f64, "line", "lines"))
                        })
                        .collect();
                    if !uncovered.is_empty() {
                        s.push_str(&format!("; untested: {}", list(&uncovered, 3)));
                    }
                    notes.push(s);
                }
                None => notes.push(
                    "patch coverage unknown: no added line is instrumented in the head report"
                        .to_string(),
                ),
            }
        }
    }
    if !scored.missing.is_empty() {
        notes.push(format!(
            "scored as an average change on: {} (no value)",
            scored.missing.join(", ")
        ));
    }
    notes
}

pub fn explain(scored: &Scored, signals: &Signals, ctx: &Context) -> Explanation {
    let factors: Vec<Factor> = scored
        .contributions
        .iter()
        .map(|c| Factor {
            feature: c.feature.clone(),
            value: c.value,
            contribution: c.contribution,
            explanation: sentence(c, signals, ctx),
        })
        .collect();
    Explanation {
        reasons: reasons(&factors),
        factors,
        advice: advice(ctx),
        notes: notes(signals, ctx, scored),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contribution(feature: &str, value: f64, below: f64, above: f64) -> Contribution {
        Contribution {
            feature: feature.into(),
            value,
            contribution: 0.5,
            share_below: below,
            share_above: above,
        }
    }

    fn signals() -> Signals {
        Signals {
            ns: 2.0,
            nd: 6.0,
            nf: 14.0,
            entropy: 0.8,
            la: 340.0,
            ld: 12.0,
            lt: 900.0,
            fix: 0.0,
            ndev: 3.0,
            age: 86_400.0 * 3.0,
            nuc: 9.0,
            exp: 2.0,
            rexp: 2.0,
            sexp: 1.0,
            author_commit_share: Some(0.25),
            author_blame_share: None,
            files_new_to_author: 1.0,
            sensitive_files: 0.0,
            coverage_delta: None,
            patch_coverage: None,
        }
    }

    #[test]
    fn sentences_read_like_a_reviewer_would_say_them() {
        let ctx = Context {
            author_name: "carol".into(),
            subsystems: vec!["src".into(), "db".into()],
            dirs_new_to_author: vec!["src/payments".into()],
            ..Context::default()
        };
        let s = signals();
        assert_eq!(
            sentence(&contribution("nd", 6.0, 0.934, 0.03), &s, &ctx),
            "touches 14 files in 6 directories — more spread out than 93% of changes"
        );
        assert_eq!(
            sentence(&contribution("exp", 2.0, 0.05, 0.9), &s, &ctx),
            "carol has made 2 earlier changes in this repository — fewer than 90% of authors at the time of a change"
        );
        assert_eq!(
            sentence(&contribution("age", s.age, 0.2, 0.7), &s, &ctx),
            "its files last changed 3 days ago on average — more recently than 70% of changes"
        );
        let scored = Scored {
            probability: 0.3,
            band: super::super::Band::Elevated,
            contributions: vec![],
            missing: vec![],
        };
        let notes = notes(&s, &ctx, &scored);
        assert_eq!(
            advice(&ctx),
            vec![
                "ask for a review from someone who has changed src/payments/ before: carol has not"
            ]
        );
        assert!(
            notes.iter().any(|n| n.starts_with("coverage unknown")),
            "{notes:?}"
        );
        assert!(
            notes.contains(&"carol made 25.0% of the earlier commits to these files".to_string())
        );
    }

    /// A change of one file has no spread, and one of no files has no file history: neither
    /// is said as if it had.
    #[test]
    fn one_file_and_no_files_are_said_as_they_are() {
        let ctx = Context::default();
        let one = Signals {
            nf: 1.0,
            entropy: 0.0,
            ..signals()
        };
        assert_eq!(
            sentence(&contribution("entropy", 0.0, 0.0, 0.6), &one, &ctx),
            "keeps its edits in one file"
        );
        assert!(
            sentence(&contribution("entropy", 0.3, 0.3, 0.6), &signals(), &ctx)
                .starts_with("spreads its edits unevenly across its files")
        );
        let none = Signals {
            nf: 0.0,
            nuc: 0.0,
            age: 0.0,
            ..signals()
        };
        assert_eq!(
            sentence(&contribution("age", 0.0, 0.0, 0.9), &none, &ctx),
            "changes no files, so no file history"
        );
        let new_files = Signals {
            nuc: 0.0,
            ..signals()
        };
        assert_eq!(
            sentence(&contribution("age", 0.0, 0.0, 0.9), &new_files, &ctx),
            "its files are all new, with no earlier changes"
        );
    }

    #[test]
    fn the_line_ownership_note_names_the_files_it_covers() {
        let s = Signals {
            author_blame_share: Some(0.153),
            ..signals()
        };
        let scored = Scored {
            probability: 0.3,
            band: super::super::Band::Elevated,
            contributions: vec![],
            missing: vec![],
        };
        let tally = crate::features::BlameTally {
            author_lines: 153,
            total_lines: 1_000,
            files_attributed: 1_229,
            files_existing: 1_230,
            files_unreadable: 0,
        };
        let note = |blame| {
            let ctx = Context {
                author_name: "carol".into(),
                blame,
                ..Context::default()
            };
            notes(&s, &ctx, &scored)
                .into_iter()
                .find(|n| n.contains("last wrote"))
                .unwrap()
        };
        assert_eq!(
            note(Some(tally)),
            "carol last wrote 15.3% of the lines these files had before (counted in 1,229 of the 1,230 files)"
        );
        let whole = crate::features::BlameTally {
            files_attributed: 1_230,
            ..tally
        };
        assert_eq!(
            note(Some(whole)),
            "carol last wrote 15.3% of the lines these files had before"
        );
    }

    #[test]
    fn shares_are_said_in_words_at_their_ends_for_one_file_or_many() {
        assert_eq!(share_of(0.0), "none");
        assert_eq!(share_of(1.0), "all");
        assert_eq!(share_of(0.0002), "less than 0.1%");
        assert_eq!(share_of(0.9998), "more than 99.9%");
        assert_eq!(share_of(0.153), "15.3%");
        let ctx = Context {
            author_name: "dave".into(),
            ..Context::default()
        };
        let s = Signals {
            author_commit_share: Some(0.0),
            author_blame_share: Some(0.0),
            ..signals()
        };
        let scored = Scored {
            probability: 0.1,
            band: super::super::Band::Low,
            contributions: vec![],
            missing: vec![],
        };
        for (nf, files) in [(3.0, "these files"), (1.0, "this file")] {
            let said = notes(&Signals { nf, ..s.clone() }, &ctx, &scored);
            for note in [
                format!("dave made none of the earlier commits to {files}"),
                format!("dave last wrote none of the lines {files} had before"),
            ] {
                assert!(said.contains(&note), "{note:?} not in {said:?}");
            }
        }
    }

    #[test]
    fn durations() {
        assert_eq!(duration(90.0), "2 minutes");
        assert_eq!(duration(3.0 * 3_600.0), "3 hours");
        assert_eq!(duration(86_400.0 * 3.0), "3 days");
        assert_eq!(duration(86_400.0 * 365.0), "12 months");
        assert_eq!(duration(86_400.0 * 365.25 * 3.0), "3 years");
    }

    #[test]
    fn derived_features_have_sentences() {
        let ctx = Context::default();
        let s = signals();
        let say = |c: Contribution| sentence(&c, &s, &ctx);
        assert_eq!(
            say(contribution("ratio(la,nf)", 24.3, 0.9, 0.1)),
            "adds 340 lines over 14 files (24 per file) — more concentrated than 90% of changes"
        );
        assert_eq!(
            say(contribution("share(ld,la)", 0.034, 0.2, 0.75)),
            "3% of its added and deleted lines are deletions — fewer than 75% of changes"
        );
        let hinge = say(contribution("hinge(la,3.5)", 2.0, 0.9, 0.1));
        assert!(
            hinge.starts_with("its la is past the point (about 32)"),
            "{hinge}"
        );
        let product = say(contribution("mul(fix,la)", 4.2, 0.9, 0.05));
        assert!(product.starts_with("fix and la together"), "{product}");
        assert_eq!(
            say(contribution("gt(ns,1)", 1.0, 0.8, 0.0)),
            "its ns is above 1"
        );
        // log1p(age) knot 12.73 is about 3.9 days; the signals' age is 3 days.
        assert_eq!(
            say(contribution("hinge(age,12.73)", 0.0, 0.0, 0.5)),
            "its files last changed 3 days ago on average, within 4 days (past that, file age weighs differently)"
        );
        let mut old = s.clone();
        old.age = 86_400.0 * 90.0;
        let c = contribution("hinge(age,12.73)", 2.3, 0.8, 0.2);
        assert!(sentence(&c, &old, &ctx).starts_with("its files have rested 3 months on average"));
    }
}

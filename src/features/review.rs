//! Review thoroughness from a pull request's reviews and review comments. Pure.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::catalogue::{self, Reviewed, Source};

/// One submitted review, as the GitHub API lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct Review {
    pub reviewer: String,
    /// `APPROVED`, `CHANGES_REQUESTED`, `COMMENTED`, `DISMISSED`, …
    pub state: String,
    /// Unix seconds.
    pub submitted_at: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReviewSignals {
    /// Distinct reviewers other than the author whose latest review approves.
    pub approvals: f64,
    /// Distinct reviewers other than the author.
    pub reviewers: f64,
    /// Review comments per 100 changed lines.
    pub review_comments_per_100_lines: f64,
    /// Hours from the PR's opening to its latest review (0 without reviews).
    pub hours_in_review: f64,
    /// No one but the author has approved.
    pub unapproved: f64,
    /// Reviewers (other than the author) who changed any of the touched files before.
    pub reviewers_with_history: f64,
}

impl ReviewSignals {
    /// The value of one of them.
    pub fn value(&self, signal: Reviewed) -> f64 {
        match signal {
            Reviewed::Approvals => self.approvals,
            Reviewed::Reviewers => self.reviewers,
            Reviewed::CommentsPer100Lines => self.review_comments_per_100_lines,
            Reviewed::Hours => self.hours_in_review,
            Reviewed::Unapproved => self.unapproved,
            Reviewed::ReviewersWithHistory => self.reviewers_with_history,
        }
    }

    /// Name → value under the catalogue's names, beside [`super::Signals::to_map`]'s.
    pub fn to_map(&self) -> BTreeMap<String, Option<f64>> {
        catalogue::SIGNALS
            .iter()
            .filter_map(|s| match s.source {
                Source::Review(r) => Some((s.name.to_string(), Some(self.value(r)))),
                _ => None,
            })
            .collect()
    }
}

/// Whether git author identity `key` (a lower-cased e-mail, or a name) looks like GitHub login
/// `login`: the e-mail's local part, or GitHub's `12345+login@users.noreply.github.com`.
/// A heuristic: git history knows e-mails, reviews know logins.
pub fn identity_matches_login(key: &str, login: &str) -> bool {
    let login = login.to_lowercase();
    let local = key.split('@').next().unwrap_or(key).to_lowercase();
    local == login
        || local.rsplit_once('+').is_some_and(|(_, l)| l == login)
        || key.eq_ignore_ascii_case(&login)
}

/// `file_authors`: identities of everyone who changed the touched files before (from git).
pub fn review_signals(
    author: &str,
    reviews: &[Review],
    review_comments: usize,
    changed_lines: u64,
    opened_at: Option<i64>,
    file_authors: &[String],
) -> ReviewSignals {
    let others: Vec<&Review> = reviews
        .iter()
        .filter(|r| !r.reviewer.eq_ignore_ascii_case(author))
        .collect();
    let reviewers: BTreeSet<&str> = others.iter().map(|r| r.reviewer.as_str()).collect();
    // A reviewer's latest decisive review counts; a later comment does not undo an approval.
    let mut approvals = 0;
    for who in &reviewers {
        let latest = others
            .iter()
            .filter(|r| {
                r.reviewer == *who
                    && matches!(
                        r.state.as_str(),
                        "APPROVED" | "CHANGES_REQUESTED" | "DISMISSED"
                    )
            })
            .max_by_key(|r| r.submitted_at.unwrap_or(i64::MIN));
        if latest.is_some_and(|r| r.state == "APPROVED") {
            approvals += 1;
        }
    }
    let last_review = others.iter().filter_map(|r| r.submitted_at).max();
    let hours_in_review = match (opened_at, last_review) {
        (Some(open), Some(last)) if last > open => (last - open) as f64 / 3_600.0,
        _ => 0.0,
    };
    ReviewSignals {
        approvals: approvals as f64,
        reviewers: reviewers.len() as f64,
        review_comments_per_100_lines: if changed_lines == 0 {
            0.0
        } else {
            review_comments as f64 * 100.0 / changed_lines as f64
        },
        hours_in_review,
        unapproved: if approvals == 0 { 1.0 } else { 0.0 },
        reviewers_with_history: reviewers
            .iter()
            .filter(|login| {
                file_authors
                    .iter()
                    .any(|k| identity_matches_login(k, login))
            })
            .count() as f64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logins_match_emails_heuristically() {
        assert!(identity_matches_login("bob@example.com", "Bob"));
        assert!(identity_matches_login(
            "9+bob@users.noreply.github.com",
            "bob"
        ));
        assert!(!identity_matches_login("bobby@example.com", "bob"));
    }

    fn review(who: &str, state: &str, at: i64) -> Review {
        Review {
            reviewer: who.into(),
            state: state.into(),
            submitted_at: Some(at),
        }
    }

    #[test]
    fn latest_decision_counts_and_the_author_does_not() {
        let reviews = [
            review("bob", "CHANGES_REQUESTED", 100),
            review("bob", "APPROVED", 7_300),
            review("bob", "COMMENTED", 7_400),
            review("dave", "APPROVED", 200),
            review("dave", "DISMISSED", 300),
            review("carol", "APPROVED", 50),
        ];
        let history = vec![
            "123+bob@users.noreply.github.com".to_string(),
            "erin@example.com".to_string(),
        ];
        let s = review_signals("carol", &reviews, 4, 200, Some(100), &history);
        assert_eq!(
            s.reviewers_with_history, 1.0,
            "bob changed these files before; dave did not"
        );
        assert_eq!(s.reviewers, 2.0);
        assert_eq!(
            s.approvals, 1.0,
            "bob approved last; dave's approval was dismissed"
        );
        assert_eq!(s.review_comments_per_100_lines, 2.0);
        assert_eq!(
            s.hours_in_review,
            (7_400.0 - 100.0) / 3_600.0,
            "to the latest review"
        );
        assert_eq!(s.unapproved, 0.0);
        let none = review_signals("carol", &[review("carol", "APPROVED", 1)], 0, 0, None, &[]);
        assert_eq!(
            (
                none.approvals,
                none.unapproved,
                none.review_comments_per_100_lines
            ),
            (0.0, 1.0, 0.0)
        );
    }

    #[test]
    fn values_are_named_as_before() {
        let s = review_signals(
            "carol",
            &[review("bob", "APPROVED", 10)],
            3,
            300,
            Some(0),
            &[],
        );
        let names: Vec<String> = s.to_map().into_keys().collect();
        assert_eq!(
            names,
            [
                "review_approvals",
                "review_comments_per_100_lines",
                "review_hours",
                "review_reviewers",
                "review_reviewers_with_history",
                "review_unapproved",
            ]
        );
        assert_eq!(s.to_map()["review_comments_per_100_lines"], Some(1.0));
    }
}

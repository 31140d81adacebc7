//! Reverts: `This reverts commit <sha>` (git revert) and GitHub's `Revert "<subject>"`.
//!
//! A revert of a revert re-applies the original change: it says nothing bad about the revert
//! it undoes, so it labels nothing.

use std::collections::{BTreeMap, HashMap};

use super::subject;

/// What a commit message says it reverts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reverts {
    /// `This reverts commit <sha>` (full or abbreviated, lower-cased).
    Sha(String),
    /// `Revert "<subject>"` with no sha: the subject of the reverted commit.
    Subject(String),
}

fn sha_pattern() -> &'static regex::Regex {
    static P: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    P.get_or_init(|| {
        regex::Regex::new(r"(?i)This reverts commit ([0-9a-f]{7,40})\b").expect("valid pattern")
    })
}

/// What `message` reverts, if it is a revert.
pub fn reverts(message: &str) -> Option<Reverts> {
    if let Some(c) = sha_pattern().captures(message) {
        return Some(Reverts::Sha(c[1].to_ascii_lowercase()));
    }
    // GitHub's revert PRs: `Revert "<subject>"`, and squash-merged ` (#123)` after it.
    static PR: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    let pr = PR.get_or_init(|| regex::Regex::new(r"\s*\(#\d+\)$").expect("valid pattern"));
    let s = subject(message);
    let s = pr.replace(s, "");
    let inner = s.strip_prefix("Revert \"")?.strip_suffix('"')?;
    Some(Reverts::Subject(inner.to_string()))
}

/// Whether `message` is itself a revert.
pub fn is_revert(message: &str) -> bool {
    reverts(message).is_some()
}

/// Finds reverted commits among commits seen oldest first. Feed each commit with
/// [`RevertFinder::push`]; it returns the index (in push order) of the commit the new one
/// reverts, if any, and that commit is not itself a revert.
#[derive(Debug, Default)]
pub struct RevertFinder {
    /// Full sha → push index.
    by_sha: BTreeMap<String, usize>,
    /// Subject → the latest push index with it.
    by_subject: HashMap<String, usize>,
    is_revert: Vec<bool>,
}

impl RevertFinder {
    pub fn new() -> RevertFinder {
        RevertFinder::default()
    }

    /// Add the next commit (oldest first); returns the index of the commit it reverts.
    pub fn push(&mut self, sha: &str, message: &str) -> Option<usize> {
        let what = reverts(message);
        let target = match &what {
            Some(Reverts::Sha(short)) => self.find_sha(short),
            Some(Reverts::Subject(s)) if !s.starts_with("Revert \"") => {
                self.by_subject.get(s.as_str()).copied()
            }
            _ => None,
        };
        let index = self.is_revert.len();
        self.is_revert.push(what.is_some());
        self.by_sha.insert(sha.to_ascii_lowercase(), index);
        self.by_subject.insert(subject(message).to_string(), index);
        target.filter(|&t| !self.is_revert[t])
    }

    /// An earlier commit whose sha starts with `short`, when exactly one does.
    fn find_sha(&self, short: &str) -> Option<usize> {
        let mut range = self
            .by_sha
            .range(short.to_string()..)
            .take_while(|(k, _)| k.starts_with(short));
        let first = range.next()?;
        if range.next().is_some() {
            return None;
        }
        Some(*first.1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "1111111111111111111111111111111111111111";
    const B: &str = "2222222222222222222222222222222222222222";
    const C: &str = "3333333333333333333333333333333333333333";

    #[test]
    fn parses_both_forms() {
        assert_eq!(
            reverts("Revert \"Add x\"\n\nThis reverts commit ABCDEF1234567.\n"),
            Some(Reverts::Sha("abcdef1234567".into()))
        );
        assert_eq!(
            reverts("Revert \"Add x (#7)\" (#12)"),
            Some(Reverts::Subject("Add x (#7)".into())),
            "a squash-merged revert PR"
        );
        assert_eq!(
            reverts("Revert \"Add x\""),
            Some(Reverts::Subject("Add x".into()))
        );
        assert_eq!(reverts("Add x"), None);
    }

    #[test]
    fn finds_by_sha_and_by_subject() {
        let mut f = RevertFinder::new();
        assert_eq!(f.push(A, "Add x"), None);
        assert_eq!(f.push(B, "Add y"), None);
        assert_eq!(
            f.push(
                C,
                &format!("Revert \"Add x\"\n\nThis reverts commit {}.", &A[..10])
            ),
            Some(0)
        );
        let mut f = RevertFinder::new();
        f.push(A, "Add x");
        f.push(B, "Add x");
        assert_eq!(
            f.push(C, "Revert \"Add x\""),
            Some(1),
            "the most recent one"
        );
    }

    #[test]
    fn revert_of_a_revert_labels_nothing() {
        let mut f = RevertFinder::new();
        f.push(A, "Add x");
        assert_eq!(
            f.push(B, &format!("Revert \"Add x\"\n\nThis reverts commit {A}.")),
            Some(0)
        );
        assert_eq!(
            f.push(
                C,
                &format!("Revert \"Revert \"Add x\"\"\n\nThis reverts commit {B}.")
            ),
            None
        );
        let mut f = RevertFinder::new();
        f.push(A, "Add x");
        f.push(B, "Revert \"Add x\"");
        assert_eq!(f.push(C, "Revert \"Revert \"Add x\"\""), None);
    }
}

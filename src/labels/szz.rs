//! SZZ: the lines a fix deleted or changed were last written by the commits that introduced
//! the bug. The pure part: which commits are fixes, which removed lines count (not blank,
//! not comments), and dropping candidates newer than the issue the fix closes.
//!
//! Who last wrote each line is worked out by `mining::mine` as it walks history.

use std::collections::{BTreeSet, HashMap};

use crate::features::{is_fix_message, FIX_WORDS};

fn issue_pattern() -> &'static regex::Regex {
    static P: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    P.get_or_init(|| {
        regex::Regex::new(
            r"(?i)\b(?:fix(?:e[sd]|ing)?|close[sd]?|closing|resolve[sd]?|resolving)\b[:\s]+(?:issue\s+)?(?:[\w.-]+/[\w.-]+)?#(\d+)\b",
        )
        .expect("valid pattern")
    })
}

/// Issue numbers a message says it fixes, closes or resolves (`Fixes #12`, `closes org/repo#3`).
pub fn fixed_issues(message: &str) -> Vec<String> {
    issue_pattern()
        .captures_iter(message)
        .map(|c| c[1].to_string())
        .collect()
}

/// A fix for SZZ: Kamei's FIX wording, or a reference to an issue it fixes, closes or resolves.
pub fn is_fix_commit(message: &str) -> bool {
    is_fix_message(message) || !fixed_issues(message).is_empty()
}

/// Histories with fewer commits than this keep every fix word ([`FixWordCounts`]).
const CONVENTION_MIN_MESSAGES: usize = 200;

/// Fix words that also name a change itself, whatever it does: "patch" (vim titles every
/// commit "patch 9.x.y: …"; mailing-list projects send "[PATCH]"). Only these can be a
/// convention: a history where most messages say "fix" or "bug" is one of mostly fixes.
const NAMES_A_CHANGE: u16 = 1 << 4;

/// How many of a history's commit messages hold each of the fix words ([`FIX_WORDS`]). A word
/// that names a change itself ([`NAMES_A_CHANGE`]) and that more than half of at least
/// [`CONVENTION_MIN_MESSAGES`] messages hold is the repository's convention, not news of a
/// fix: in vim, with "patch" taken for a fix word, four commits in five came out buggy.
#[derive(Debug, Default)]
pub struct FixWordCounts {
    messages: usize,
    held: [usize; FIX_WORDS.len()],
}

impl FixWordCounts {
    /// One more message, holding `words` ([`crate::features::fix_words`]).
    pub fn add(&mut self, words: u16) {
        self.messages += 1;
        for (i, held) in self.held.iter_mut().enumerate() {
            *held += usize::from(words & (1 << i) != 0);
        }
    }

    /// The words that are the history's convention, as bits of [`FIX_WORDS`].
    pub fn conventions(&self) -> u16 {
        if self.messages < CONVENTION_MIN_MESSAGES {
            return 0;
        }
        (0..FIX_WORDS.len())
            .filter(|&i| NAMES_A_CHANGE & (1 << i) != 0 && 2 * self.held[i] > self.messages)
            .fold(0, |bits, i| bits | 1 << i)
    }

    /// Each convention word with the share of messages holding it: "\"patch\" (98%)".
    pub fn describe(&self, conventions: u16) -> Vec<String> {
        (0..FIX_WORDS.len())
            .filter(|&i| conventions & (1 << i) != 0)
            .map(|i| {
                let share = 100.0 * self.held[i] as f64 / self.messages.max(1) as f64;
                format!("\"{}\" ({share:.0}%)", FIX_WORDS[i])
            })
            .collect()
    }
}

/// Line comment markers by file extension (lower-case, without the dot), and whether the
/// language has C-style `/* … */` blocks.
fn comment_style(path: &str) -> (&'static [&'static str], bool) {
    let name = path.rsplit('/').next().unwrap_or(path);
    let ext = name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "rs" | "c" | "h" | "cc" | "cpp" | "cxx" | "hpp" | "hh" | "java" | "js" | "mjs" | "cjs"
        | "jsx" | "ts" | "tsx" | "go" | "kt" | "kts" | "swift" | "scala" | "cs" | "dart"
        | "groovy" | "gradle" | "proto" | "m" | "mm" | "zig" => (&["//"], true),
        "php" => (&["//", "#"], true),
        "css" | "scss" | "less" => (&["//"], true),
        "py" | "pyi" | "sh" | "bash" | "zsh" | "rb" | "pl" | "pm" | "r" | "yml" | "yaml"
        | "toml" | "cfg" | "conf" | "mk" | "cmake" | "tf" | "nix" | "ps1" | "jl" | "ex" | "exs"
        | "cr" | "coffee" => (&["#"], false),
        "sql" | "lua" | "hs" | "elm" | "ada" | "adb" | "ads" | "vhd" | "vhdl" => (&["--"], false),
        "lisp" | "el" | "clj" | "cljs" | "scm" | "rkt" | "asm" | "s" | "ini" => (&[";"], false),
        "tex" | "erl" | "hrl" | "sty" => (&["%"], false),
        "vim" => (&["\""], false),
        "bat" | "cmd" => (&["rem ", "::"], false),
        "html" | "htm" | "xml" | "svg" | "vue" => (&["<!--"], false),
        _ => match name {
            "Makefile" | "makefile" | "Dockerfile" | "CMakeLists.txt" | "Gemfile" | "Rakefile" => {
                (&["#"], false)
            }
            _ => (&[], false),
        },
    }
}

/// Whether a removed line counts for SZZ: not blank, and not a comment in the language its
/// path says (a line judged alone, so a line inside a block comment that does not start with
/// `*` is not recognised as a comment).
pub fn is_meaningful_line(path: &str, line: &[u8]) -> bool {
    let text = String::from_utf8_lossy(line);
    let t = text.trim();
    if t.is_empty() {
        return false;
    }
    let (markers, blocks) = comment_style(path);
    if markers.iter().any(|m| t.starts_with(m)) {
        return false;
    }
    if blocks && (t.starts_with("/*") || t.starts_with('*') || t.ends_with("*/")) {
        // `*p = 1;` starts with `*` too; a comment line ends in `*/` or holds no `;`/`{`/`}`.
        let code_like = t.starts_with('*')
            && !t.starts_with("*/")
            && !t.starts_with("* ")
            && t != "*"
            && (t.ends_with(';') || t.ends_with('{') || t.ends_with('}'));
        return code_like;
    }
    true
}

/// Optional facts from an issue tracker. Offline nothing is known, so it is empty by default
/// and no candidate is dropped; a caller with tracker data fills `issue_created`.
#[derive(Debug, Clone, Default)]
pub struct IssueDates {
    /// Issue number (as in `#123`) → creation time, unix seconds.
    pub issue_created: HashMap<String, i64>,
}

impl IssueDates {
    /// The earliest creation time of the issues the fix says it fixes, if any is known.
    pub fn reported(&self, fix_message: &str) -> Option<i64> {
        fixed_issues(fix_message)
            .iter()
            .filter_map(|n| self.issue_created.get(n).copied())
            .min()
    }
}

/// One line a fix removed or changed, with the commit that last wrote it (`None`: unknown).
#[derive(Debug, Clone, Copy)]
pub struct RemovedLine<'a, C> {
    pub owner: Option<C>,
    /// Author time of the owner, unix seconds.
    pub owner_time: i64,
    pub text: &'a [u8],
}

/// The bug-introducing candidates of a fix's removed lines in one file: owners of the
/// meaningful lines, minus those written after the issue was reported (when known).
pub fn candidates<'a, C: Ord + Copy + 'a>(
    path: &str,
    lines: impl IntoIterator<Item = RemovedLine<'a, C>>,
    reported: Option<i64>,
) -> BTreeSet<C> {
    lines
        .into_iter()
        .filter(|l| is_meaningful_line(path, l.text))
        .filter(|l| reported.is_none_or(|r| l.owner_time <= r))
        .filter_map(|l| l.owner)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixes_and_issue_references() {
        assert!(is_fix_commit("Fix overflow in parser"));
        assert!(is_fix_commit("Handle empty input\n\nCloses #42"));
        assert!(is_fix_commit("parser: resolve org/repo#7"));
        assert!(!is_fix_commit("Add #42 to the changelog"));
        assert!(!is_fix_commit("Add a parser"));
        assert_eq!(fixed_issues("Closes #3, fixes #4"), vec!["3", "4"]);
    }

    #[test]
    fn a_fix_word_most_messages_hold_is_a_convention() {
        let patch = crate::features::fix_words("patch 9.1.0001: typo in a comment");
        let fix = crate::features::fix_words("patch 9.1.0002: crash on start");
        let mut counts = FixWordCounts::default();
        for i in 0..300 {
            counts.add(if i % 3 == 0 { fix } else { patch });
        }
        let conventions = counts.conventions();
        assert_eq!(counts.describe(conventions), ["\"patch\" (100%)"]);
        // The crash fixes stay fixes; the others say nothing else.
        assert_ne!(fix & !conventions, 0);
        assert_eq!(patch & !conventions, 0);
        // "fix" in most messages is a history of mostly fixes, not a convention.
        let mut fixes = FixWordCounts::default();
        for _ in 0..300 {
            fixes.add(crate::features::fix_words("Fix a crash"));
        }
        assert_eq!(fixes.conventions(), 0);
        // Half the messages, or too few of them, is no convention.
        let mut half = FixWordCounts::default();
        for i in 0..300 {
            half.add(if i % 2 == 0 { patch } else { 0 });
        }
        assert_eq!(half.conventions(), 0);
        let mut few = FixWordCounts::default();
        for _ in 0..CONVENTION_MIN_MESSAGES - 1 {
            few.add(patch);
        }
        assert_eq!(few.conventions(), 0);
    }

    #[test]
    fn blank_and_comment_lines_do_not_count() {
        assert!(!is_meaningful_line("a.rs", b"   \t"));
        assert!(!is_meaningful_line("a.rs", b"    // note"));
        assert!(!is_meaningful_line("a.rs", b"/* block */"));
        assert!(!is_meaningful_line("a.rs", b" * continued"));
        assert!(!is_meaningful_line("a.rs", b" */"));
        assert!(is_meaningful_line("a.rs", b"let x = 1; // note"));
        assert!(is_meaningful_line("a.c", b"*p = 1;"));
        assert!(!is_meaningful_line("run.py", b"# comment"));
        assert!(is_meaningful_line("run.py", b"x = 1  # comment"));
        assert!(!is_meaningful_line("q.sql", b"-- why"));
        assert!(!is_meaningful_line("Makefile", b"# rule"));
        assert!(
            is_meaningful_line("notes.txt", b"# heading"),
            "unknown languages have no comments"
        );
    }

    #[test]
    fn candidates_skip_noise_and_later_owners() {
        let lines = [
            RemovedLine {
                owner: Some(1u32),
                owner_time: 100,
                text: b"x = 1".as_slice(),
            },
            RemovedLine {
                owner: Some(2),
                owner_time: 100,
                text: b"# only a comment",
            },
            RemovedLine {
                owner: Some(3),
                owner_time: 500,
                text: b"y = 2",
            },
            RemovedLine {
                owner: None,
                owner_time: 0,
                text: b"z = 3",
            },
        ];
        assert_eq!(
            candidates("a.py", lines, None),
            [1, 3].into_iter().collect::<BTreeSet<_>>()
        );
        assert_eq!(
            candidates("a.py", lines, Some(200)),
            [1].into_iter().collect::<BTreeSet<_>>(),
            "written after the issue was reported"
        );
        let dates = IssueDates {
            issue_created: [("9".to_string(), 50)].into(),
        };
        assert_eq!(dates.reported("Fixes #9 and #10"), Some(50));
        assert_eq!(dates.reported("Fix it"), None);
    }
}

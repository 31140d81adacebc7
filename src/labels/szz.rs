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

/// The bit of "patch" among [`FIX_WORDS`].
const PATCH: u16 = 1 << 4;

/// Fix words that also name a change itself, whatever it does: "patch" (vim titles every
/// commit "patch 9.x.y: …"; mailing-list projects send "[PATCH]"). Only these can be a
/// convention: a history where most messages say "fix" or "bug" is one of mostly fixes.
const NAMES_A_CHANGE: u16 = PATCH;

/// Commits saying "patch" that a history needs before what their files say counts
/// ([`FixWordCounts`]).
const PATCH_FILES_MIN_MESSAGES: usize = 20;

/// Whether `path` is a patch a repository ships (`ports/zlib/fix-build.patch`, a `.diff`):
/// packaging repositories (vcpkg, Homebrew, Debian's) carry thousands.
pub fn is_patch_file(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    name.rsplit_once('.').is_some_and(|(stem, ext)| {
        !stem.is_empty() && (ext.eq_ignore_ascii_case("patch") || ext.eq_ignore_ascii_case("diff"))
    })
}

/// How many of a history's commit messages hold each of the fix words ([`FIX_WORDS`]). A word
/// that names a change itself ([`NAMES_A_CHANGE`]) is the repository's convention, not news of
/// a fix, when more than half of at least [`CONVENTION_MIN_MESSAGES`] messages hold it: in vim,
/// with "patch" taken for a fix word, four commits in five came out buggy. "patch" is one too
/// when more than half of the (at least [`PATCH_FILES_MIN_MESSAGES`]) commits saying it change
/// patch files ([`is_patch_file`]): there it names the files ("Remove patches", "Patch
/// Tuesday" port updates in vcpkg), not a fix.
#[derive(Debug, Default)]
pub struct FixWordCounts {
    messages: usize,
    held: [usize; FIX_WORDS.len()],
    /// Of the messages saying "patch", those of commits that change patch files.
    patch_naming_files: usize,
}

impl FixWordCounts {
    /// One more message, holding `words` ([`crate::features::fix_words`]), of a commit that
    /// changes (adds, edits, deletes or renames) a patch file or not.
    pub fn add(&mut self, words: u16, changes_patch_files: bool) {
        self.messages += 1;
        for (i, held) in self.held.iter_mut().enumerate() {
            *held += usize::from(words & (1 << i) != 0);
        }
        self.patch_naming_files += usize::from(words & PATCH != 0 && changes_patch_files);
    }

    fn patch_held(&self) -> usize {
        self.held[PATCH.trailing_zeros() as usize]
    }

    /// Whether "patch" mostly comes with changes to patch files.
    fn patch_names_files(&self) -> bool {
        let held = self.patch_held();
        held >= PATCH_FILES_MIN_MESSAGES && 2 * self.patch_naming_files > held
    }

    /// The words that are the history's convention, as bits of [`FIX_WORDS`].
    pub fn conventions(&self) -> u16 {
        let by_files = if self.patch_names_files() { PATCH } else { 0 };
        if self.messages < CONVENTION_MIN_MESSAGES {
            return by_files;
        }
        (0..FIX_WORDS.len())
            .filter(|&i| NAMES_A_CHANGE & (1 << i) != 0 && 2 * self.held[i] > self.messages)
            .fold(by_files, |bits, i| bits | 1 << i)
    }

    /// Each convention word with why: "\"patch\" (in 98% of the messages)", "\"patch\" (82%
    /// of the 700 commits saying it change .patch or .diff files)".
    pub fn describe(&self, conventions: u16) -> Vec<String> {
        let share = |part: usize, whole: usize| 100.0 * part as f64 / whole.max(1) as f64;
        (0..FIX_WORDS.len())
            .filter(|&i| conventions & (1 << i) != 0)
            .map(|i| {
                let held = self.held[i];
                let by_share = self.messages >= CONVENTION_MIN_MESSAGES && 2 * held > self.messages;
                if 1 << i == PATCH && !by_share {
                    format!(
                        "\"{}\" ({:.0}% of the {held} commits saying it change .patch or .diff files)",
                        FIX_WORDS[i],
                        share(self.patch_naming_files, held)
                    )
                } else {
                    format!(
                        "\"{}\" (in {:.0}% of the messages)",
                        FIX_WORDS[i],
                        share(held, self.messages)
                    )
                }
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
            counts.add(if i % 3 == 0 { fix } else { patch }, false);
        }
        let conventions = counts.conventions();
        assert_eq!(
            counts.describe(conventions),
            ["\"patch\" (in 100% of the messages)"]
        );
        // The crash fixes stay fixes; the others say nothing else.
        assert_ne!(fix & !conventions, 0);
        assert_eq!(patch & !conventions, 0);
        // "fix" in most messages is a history of mostly fixes, not a convention.
        let mut fixes = FixWordCounts::default();
        for _ in 0..300 {
            fixes.add(crate::features::fix_words("Fix a crash"), false);
        }
        assert_eq!(fixes.conventions(), 0);
        // Half the messages, or too few of them, is no convention.
        let mut half = FixWordCounts::default();
        for i in 0..300 {
            half.add(if i % 2 == 0 { patch } else { 0 }, false);
        }
        assert_eq!(half.conventions(), 0);
        let mut few = FixWordCounts::default();
        for _ in 0..CONVENTION_MIN_MESSAGES - 1 {
            few.add(patch, false);
        }
        assert_eq!(few.conventions(), 0);
    }

    /// Where most commits saying "patch" change patch files, the word names them: a
    /// convention, however few messages hold it; where they do not, it stays a fix word.
    #[test]
    fn patch_naming_patch_files_is_a_convention() {
        let patch = crate::features::fix_words("zlib: remove patches that landed upstream");
        let with_files = |naming: usize, saying: usize| {
            let mut counts = FixWordCounts::default();
            for i in 0..1_000 {
                let says = i < saying;
                counts.add(if says { patch } else { 0 }, says && i < naming);
            }
            counts
        };
        let counts = with_files(60, 100);
        assert_eq!(counts.conventions(), PATCH);
        assert_eq!(
            counts.describe(PATCH),
            ["\"patch\" (60% of the 100 commits saying it change .patch or .diff files)"]
        );
        assert_eq!(with_files(50, 100).conventions(), 0);
        assert_eq!(
            with_files(PATCH_FILES_MIN_MESSAGES - 1, PATCH_FILES_MIN_MESSAGES - 1).conventions(),
            0
        );
        assert!(is_patch_file("ports/zlib/0001-fix-build.patch"));
        assert!(is_patch_file("debian/patches/CVE.DIFF"));
        assert!(!is_patch_file("src/patch.rs"));
        assert!(!is_patch_file("docs/.patch"));
        assert!(!is_patch_file("scripts/apply-patch"));
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

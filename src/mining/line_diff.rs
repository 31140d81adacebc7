//! Line diffs of two blobs' contents, made the ways git makes them (`git diff`'s for counts,
//! `git blame`'s for line owners), so every count and hunk agrees wherever it is computed.

use std::collections::HashMap;
use std::path::Path;
use std::rc::Rc;

use git2::{AttrCheckFlags, DiffOptions, Oid, Patch, Repository};
use gix_imara_diff as imara;

use super::objects::count_lines;
use super::Hunk;

/// What a zero-context line diff of one file says.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct LineStats {
    pub(super) added: u64,
    pub(super) deleted: u64,
    pub(super) added_lines: Vec<u32>,
    pub(super) hunks: Vec<Hunk>,
}

fn line_stats(patch: &Patch<'_>) -> Result<LineStats, git2::Error> {
    // With no context lines a hunk is its header: `old_lines` removed lines and `new_lines`
    // added ones, numbered from `new_start` (the "no newline at end of file" markers are
    // neither).
    let mut stats = LineStats::default();
    for h in 0..patch.num_hunks() {
        let (hunk, _) = patch.hunk(h)?;
        stats.added += u64::from(hunk.new_lines());
        stats.deleted += u64::from(hunk.old_lines());
        stats
            .added_lines
            .extend(hunk.new_start()..hunk.new_start() + hunk.new_lines());
        stats.hunks.push(Hunk {
            old_start: hunk.old_start(),
            old_lines: hunk.old_lines(),
            new_start: hunk.new_start(),
            new_lines: hunk.new_lines(),
        });
    }
    Ok(stats)
}

/// The line diff of a file of `lines` lines added (or deleted) whole.
pub(super) fn whole_file(lines: u64, added: bool) -> LineStats {
    if lines == 0 {
        return LineStats::default();
    }
    let n = lines as u32;
    if added {
        LineStats {
            added: lines,
            deleted: 0,
            added_lines: (1..=n).collect(),
            hunks: vec![Hunk {
                old_start: 0,
                old_lines: 0,
                new_start: 1,
                new_lines: n,
            }],
        }
    } else {
        LineStats {
            added: 0,
            deleted: lines,
            added_lines: Vec::new(),
            hunks: vec![Hunk {
                old_start: 1,
                old_lines: n,
                new_start: 0,
                new_lines: 0,
            }],
        }
    }
}

/// Zero-context line diffs of two blobs' contents, made with git's default algorithm (Myers
/// with its heuristics, sliders placed by the indent heuristic) straight from the bytes: one
/// function for every line diff the miner and the scorer make, so line counts, hunks and line
/// owners agree wherever they are computed. Counts follow `git diff`; owners follow
/// `git blame`, whose diffs leave out the versions' common tail ([`tail_git_leaves_out`]).
/// libgit2 looks up the `diff` attribute of a blob diffed without a path as if its path were
/// `file`: when the repository's attributes (system, global, `info/attributes`) set it, as they
/// almost never do, the diff is left to libgit2's blob diff so the attribute applies.
pub struct LineDiffs<'r> {
    blobs_from: Option<&'r Repository>,
    lines: LineTokens,
}

/// The lines of the blobs a file's history is replayed through, each distinct line numbered
/// once: the version one step makes is the version the next step changes, so reading its lines
/// once instead of once per diff saves about half the work of a replay's diffs. Numbering does
/// not change a diff (only which lines are equal counts), and each line's indent is kept for
/// git's slider heuristic.
#[derive(Default)]
struct LineTokens {
    ids: HashMap<Box<[u8]>, u32, foldhash::fast::RandomState>,
    indents: Vec<imara::IndentLevel>,
    blobs: HashMap<Oid, Rc<[imara::Token]>>,
}

/// Blobs whose numbered lines a [`LineTokens`] keeps; a merge's parents are usually among
/// the last few versions.
const TOKENISED_BLOBS: usize = 64;

impl LineTokens {
    fn tokens(&mut self, id: Oid, content: &[u8]) -> Rc<[imara::Token]> {
        if let Some(tokens) = self.blobs.get(&id) {
            return tokens.clone();
        }
        let tokens: Rc<[imara::Token]> = imara::sources::byte_lines(content)
            .map(|line| {
                if let Some(&t) = self.ids.get(line) {
                    return imara::Token(t);
                }
                let t = self.indents.len() as u32;
                self.indents
                    .push(imara::IndentLevel::for_ascii_line(line.iter().copied(), 8));
                self.ids.insert(line.into(), t);
                imara::Token(t)
            })
            .collect();
        if self.blobs.len() >= TOKENISED_BLOBS {
            self.blobs.clear();
        }
        self.blobs.insert(id, tokens.clone());
        tokens
    }

    /// Forgets everything once far more lines are numbered than one diff needs: the
    /// diff's per-token tables are as long as the numbering.
    fn bound(&mut self, lines_in_use: usize) {
        if self.indents.len() > 4 * lines_in_use + 4096 {
            *self = LineTokens::default();
        }
    }
}

impl<'r> LineDiffs<'r> {
    pub fn new(repo: &'r Repository) -> LineDiffs<'r> {
        let unspecified = matches!(
            repo.get_attr_bytes(Path::new("file"), "diff", AttrCheckFlags::FILE_THEN_INDEX),
            Ok(None)
        );
        LineDiffs {
            blobs_from: (!unspecified).then_some(repo),
            lines: LineTokens::default(),
        }
    }

    pub(crate) fn stats(
        &mut self,
        old_id: Oid,
        old: &[u8],
        new_id: Oid,
        new: &[u8],
    ) -> Result<LineStats, git2::Error> {
        if let Some(repo) = self.blobs_from {
            let mut opts = DiffOptions::new();
            opts.context_lines(0);
            let (old, new) = (repo.find_blob(old_id)?, repo.find_blob(new_id)?);
            return line_stats(&Patch::from_blobs(&old, None, &new, None, Some(&mut opts))?);
        }
        Ok(self.imara_stats(old, new))
    }

    /// How lines are diffed: 0 by riskgate itself, 1 by libgit2 with the repository's diff
    /// attributes.
    pub(crate) fn kind(&self) -> u8 {
        u8::from(self.blobs_from.is_some())
    }

    /// [`stats`](Self::stats), and the hunks of the zero-context diff `git blame` passes lines
    /// to an older version by when they are not the full diff's ([`tail_git_leaves_out`]):
    /// `None` when git leaves no line out, or when libgit2 makes the diff (under the
    /// repository's diff attributes). Both diffs read the lines once.
    pub(crate) fn stats_and_blame_hunks(
        &mut self,
        old_id: Oid,
        old: &[u8],
        new_id: Oid,
        new: &[u8],
    ) -> Result<(LineStats, Option<Vec<Hunk>>), git2::Error> {
        if self.blobs_from.is_some() || old == new {
            return Ok((self.stats(old_id, old, new_id, new)?, None));
        }
        let input = imara::InternedInput::new(old, new);
        let full = interned_diff(&input, (old, new), &TailCut::NONE);
        let cut = tail_git_leaves_out(old, new);
        let blame = (cut.lines > 0).then(|| interned_diff(&input, (old, new), &cut).hunks);
        Ok((full, blame))
    }

    /// The hunks `git blame` passes lines to an older version by
    /// ([`stats_and_blame_hunks`](Self::stats_and_blame_hunks)).
    pub(crate) fn blame_hunks(
        &mut self,
        old_id: Oid,
        old: &[u8],
        new_id: Oid,
        new: &[u8],
    ) -> Result<Vec<Hunk>, git2::Error> {
        if self.blobs_from.is_some() || old == new {
            return Ok(self.stats(old_id, old, new_id, new)?.hunks);
        }
        let cut = tail_git_leaves_out(old, new).bytes;
        Ok(self
            .imara_stats(&old[..old.len() - cut], &new[..new.len() - cut])
            .hunks)
    }

    /// [`blame_hunks`](Self::blame_hunks), for the diffs of a replay along one file's history,
    /// where each version is diffed twice (as the new side, then as the old): each blob's lines
    /// are numbered once ([`LineTokens`]).
    pub(crate) fn blame_hunks_in_history(
        &mut self,
        old_id: Oid,
        old: &[u8],
        new_id: Oid,
        new: &[u8],
    ) -> Result<Vec<Hunk>, git2::Error> {
        if self.blobs_from.is_some() {
            return Ok(self.stats(old_id, old, new_id, new)?.hunks);
        }
        if old == new {
            return Ok(Vec::new());
        }
        let cut = tail_git_leaves_out(old, new);
        let before = self.lines.tokens(old_id, old);
        let after = self.lines.tokens(new_id, new);
        // The cut starts at a line start on both sides, so its lines are the last tokens.
        let (before_kept, after_kept) = (
            &before[..before.len() - cut.lines],
            &after[..after.len() - cut.lines],
        );
        let indents = &self.lines.indents;
        let numbered = indents.len() as u32;
        let bytes = (&old[..old.len() - cut.bytes], &new[..new.len() - cut.bytes]);
        let hunks = myers(before_kept, after_kept, bytes, numbered, |t| {
            indents[t.0 as usize]
        })
        .hunks;
        self.lines.bound(before.len() + after.len());
        Ok(hunks)
    }

    fn imara_stats(&mut self, old: &[u8], new: &[u8]) -> LineStats {
        if old == new {
            return LineStats::default();
        }
        let input = imara::InternedInput::new(old, new);
        interned_diff(&input, (old, new), &TailCut::NONE)
    }
}

/// The diff of an interned pair of versions `(old, new)` without their common tail `cut`
/// ([`tail_git_leaves_out`]).
fn interned_diff(
    input: &imara::InternedInput<&[u8]>,
    (old, new): (&[u8], &[u8]),
    cut: &TailCut,
) -> LineStats {
    myers(
        &input.before[..input.before.len() - cut.lines],
        &input.after[..input.after.len() - cut.lines],
        (&old[..old.len() - cut.bytes], &new[..new.len() - cut.bytes]),
        input.interner.num_tokens(),
        |t| imara::IndentLevel::for_ascii_line(input.interner[t].iter().copied(), 8),
    )
}

/// Below this many changed lines a diff is made exactly as git makes it by gix-imara-diff.
/// git's Myers takes shortcuts once the search of a box passes an edit cost of 256, searched
/// from both ends, so about 512 changed lines. gix-imara-diff 0.3.4 scores the candidate
/// points of that shortcut otherwise than git (it adds the distance from the middle diagonal
/// where git subtracts it), and can cut a large diff elsewhere: 423 lines added and 2,320
/// deleted in a `package-lock.json` where git counts 528 and 2,425.
const CHANGES_BELOW_SHORTCUTS: u32 = 500;

/// git's default diff of two numbered line sequences (`bytes`, the same lines unnumbered):
/// Myers with its heuristics, sliders placed by the indent heuristic (`indent` gives a
/// numbered line's indent). A diff past [`CHANGES_BELOW_SHORTCUTS`] is made again by
/// libgit2's xdiff, git's own code, with git's defaults, unless git's search could not have
/// reached the shortcuts ([`searched_changes`]).
fn myers(
    before: &[imara::Token],
    after: &[imara::Token],
    bytes: (&[u8], &[u8]),
    numbered: u32,
    indent: impl Fn(imara::Token) -> imara::IndentLevel,
) -> LineStats {
    let mut diff = imara::Diff::default();
    diff.compute_with(imara::Algorithm::Myers, before, after, numbered);
    if diff.count_additions() + diff.count_removals() >= CHANGES_BELOW_SHORTCUTS
        && searched_changes(&diff, before, after, numbered) >= CHANGES_BELOW_SHORTCUTS
    {
        if let Ok(stats) = xdiff_stats(bytes.0, bytes.1) {
            return stats;
        }
    }
    diff.postprocess_with(before, after, imara::IndentHeuristic::new(indent));
    stats_of_diff(&diff)
}

/// The changed lines of `diff` that occur in the other version too. git sets the others aside
/// as changed before its search, so the search's edit cost is at most this many.
fn searched_changes(
    diff: &imara::Diff,
    before: &[imara::Token],
    after: &[imara::Token],
    numbered: u32,
) -> u32 {
    let occurs = |lines: &[imara::Token]| {
        let mut seen = vec![false; numbered as usize];
        for t in lines {
            seen[t.0 as usize] = true;
        }
        seen
    };
    let (in_before, in_after) = (occurs(before), occurs(after));
    let mut searched = 0;
    for h in diff.hunks() {
        let removed = &before[h.before.start as usize..h.before.end as usize];
        let added = &after[h.after.start as usize..h.after.end as usize];
        searched += removed.iter().filter(|t| in_after[t.0 as usize]).count()
            + added.iter().filter(|t| in_before[t.0 as usize]).count();
    }
    searched as u32
}

/// The zero-context diff libgit2's xdiff makes of two versions read as text, sliders placed
/// by the indent heuristic as `git diff` places them.
fn xdiff_stats(old: &[u8], new: &[u8]) -> Result<LineStats, git2::Error> {
    let mut opts = DiffOptions::new();
    opts.context_lines(0)
        .force_text(true)
        .indent_heuristic(true);
    line_stats(&Patch::from_buffers(old, None, new, None, Some(&mut opts))?)
}

/// The end of two versions git leaves out of its zero-context diffs (the diffs `git blame`
/// makes), the same bytes and lines on both sides.
#[derive(Debug, PartialEq)]
struct TailCut {
    bytes: usize,
    lines: usize,
}

impl TailCut {
    const NONE: TailCut = TailCut { bytes: 0, lines: 0 };
}

/// Before a zero-context diff git drops the two versions' common tail in whole KiB blocks,
/// keeping the part of the last block up to its first line end. The diff's view of how often
/// each line occurs changes with it, and with that where an ambiguous diff lines up: a line
/// the full diff (`git diff`, `--numstat`) shows removed and added again can be unchanged to
/// `git blame`, which keeps its older owner.
fn tail_git_leaves_out(old: &[u8], new: &[u8]) -> TailCut {
    const BLOCK: usize = 1024;
    let shorter = old.len().min(new.len());
    let mut common = 0;
    while common + BLOCK <= shorter
        && old[old.len() - common - BLOCK..old.len() - common]
            == new[new.len() - common - BLOCK..new.len() - common]
    {
        common += BLOCK;
    }
    let tail = &old[old.len() - common..];
    let Some(first_end) = tail.iter().position(|&b| b == b'\n') else {
        return TailCut { bytes: 0, lines: 0 };
    };
    let cut = &tail[first_end + 1..];
    TailCut {
        bytes: cut.len(),
        lines: count_lines(cut) as usize,
    }
}

/// Line counts and git's zero-context hunks of an imara diff.
fn stats_of_diff(diff: &imara::Diff) -> LineStats {
    let mut stats = LineStats::default();
    for h in diff.hunks() {
        let (old_lines, new_lines) = (h.before.len() as u32, h.after.len() as u32);
        // git's hunk header numbers: 1-based, and for an empty side the line before it.
        let hunk = Hunk {
            old_start: h.before.start + u32::from(old_lines > 0),
            old_lines,
            new_start: h.after.start + u32::from(new_lines > 0),
            new_lines,
        };
        stats.added += u64::from(new_lines);
        stats.deleted += u64::from(old_lines);
        stats.added_lines.extend(h.after.start + 1..=h.after.end);
        stats.hunks.push(hunk);
    }
    stats
}

#[cfg(test)]
mod tests {
    use git2::ObjectType;

    use super::*;

    /// Versions of a file as a history makes them: lines replaced, moved, added and removed,
    /// indented blocks and repeated lines (where sliders and the slider heuristic matter).
    fn file_versions(n: usize) -> Vec<Vec<u8>> {
        let mut seed = 0x2545_f491_u64;
        let mut next = move |m: usize| {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            (seed >> 33) as usize % m
        };
        let mut lines: Vec<String> = (0..60)
            .map(|i| match i % 5 {
                0 => "}".to_string(),
                1 => String::new(),
                _ => format!("    line {i}"),
            })
            .collect();
        let mut versions = Vec::new();
        for v in 0..n {
            for _ in 0..1 + next(4) {
                let at = next(lines.len() + 1);
                match next(4) {
                    0 if !lines.is_empty() && at < lines.len() => {
                        lines.remove(at);
                    }
                    1 => lines.insert(at, "}".to_string()),
                    2 => lines.insert(at, format!("        v{v}")),
                    _ => {
                        let block = ["", "    if x {", "        y", "    }"];
                        for (k, l) in block.iter().enumerate() {
                            lines.insert((at + k).min(lines.len()), l.to_string());
                        }
                    }
                }
            }
            let mut text = lines.join("\n").into_bytes();
            if v % 3 != 0 {
                text.push(b'\n');
            }
            versions.push(text);
        }
        versions
    }

    /// What `blame_hunks_in_history` should give: the pairwise diffs' blame hunks.
    fn pairwise_blame_hunks(diffs: &mut LineDiffs<'_>, old: &[u8], new: &[u8]) -> Vec<Hunk> {
        let id = |v: &[u8]| Oid::hash_object(ObjectType::Blob, v).unwrap();
        diffs.blame_hunks(id(old), old, id(new), new).unwrap()
    }

    /// The diffs of a replay, each blob's lines numbered once, are the diffs made pair by
    /// pair: along the history, against older versions (a merge's parents), and after the
    /// numbering was forgotten; with and without a common tail git leaves out.
    #[test]
    fn diffs_along_a_history_equal_diffs_made_pair_by_pair() {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repository::init(dir.path()).unwrap();
        let id = |v: &[u8]| Oid::hash_object(ObjectType::Blob, v).unwrap();
        let mut along = LineDiffs::new(&repo);
        let mut pairwise = LineDiffs::new(&repo);
        let trailer: Vec<u8> = (0..200)
            .flat_map(|i| format!("}}\n\n    tail {i}\n").into_bytes())
            .collect();
        let mut cuts = 0;
        for with_trailer in [false, true] {
            let mut versions = file_versions(120);
            if with_trailer {
                for v in &mut versions {
                    if !v.ends_with(b"\n") {
                        v.push(b'\n');
                    }
                    v.extend_from_slice(&trailer);
                }
            }
            let mut pairs: Vec<(usize, usize)> = (1..versions.len()).map(|i| (i - 1, i)).collect();
            pairs.extend((10..versions.len()).step_by(7).map(|i| (i - 10, i)));
            for (a, b) in pairs {
                let (old, new) = (&versions[a], &versions[b]);
                cuts += usize::from(tail_git_leaves_out(old, new).lines > 0);
                let got = along
                    .blame_hunks_in_history(id(old), old, id(new), new)
                    .unwrap();
                let want = pairwise_blame_hunks(&mut pairwise, old, new);
                assert_eq!(got, want, "versions {a} and {b}, trailer {with_trailer}");
            }
        }
        assert!(cuts > 100, "git leaves a tail out of most diffs: {cuts}");
        // A file with few lines after one with many: the numbering is forgotten and begun
        // again, and the diffs stay the same.
        let big: Vec<u8> = (0..20_000)
            .flat_map(|i| format!("{i}\n").into_bytes())
            .collect();
        let bigger = [&big[..], b"end\n"].concat();
        let got = along
            .blame_hunks_in_history(id(&big), &big, id(&bigger), &bigger)
            .unwrap();
        assert_eq!(got.iter().map(|h| h.new_lines).sum::<u32>(), 1);
        assert!(along.lines.indents.len() > 20_000);
        let versions = file_versions(6);
        for (a, b) in [(3, 4), (4, 5)] {
            let (old, new) = (&versions[a], &versions[b]);
            assert_eq!(
                along
                    .blame_hunks_in_history(id(old), old, id(new), new)
                    .unwrap(),
                pairwise_blame_hunks(&mut pairwise, old, new)
            );
            assert!(
                along.lines.indents.len() < 1_000,
                "the numbering was begun again"
            );
        }
    }

    /// git cuts the common tail in whole KiB blocks and keeps the last block up to its first
    /// line end; nothing when no block is common or the blocks hold no line end.
    #[test]
    fn the_tail_git_leaves_out_is_whole_blocks_back_to_a_line_end() {
        let cut = |old: &[u8], new: &[u8]| tail_git_leaves_out(old, new);
        let none = TailCut { bytes: 0, lines: 0 };
        let tail: Vec<u8> = (0..300)
            .flat_map(|i| format!("t{i:03}\n").into_bytes())
            .collect();
        assert_eq!(cut(b"a\n", b"b\n"), none);
        // 1,500 common bytes: one block of 1,024, less the part before its first line end.
        let (old, new) = (
            [b"old\n", &tail[..]].concat(),
            [b"new!\n", &tail[..]].concat(),
        );
        let common = tail.len().min(1_500) / 1024 * 1024;
        let kept = &tail[tail.len() - common..];
        let first_end = kept.iter().position(|&b| b == b'\n').unwrap();
        let want_bytes = common - first_end - 1;
        assert_eq!(
            cut(&old, &new),
            TailCut {
                bytes: want_bytes,
                lines: want_bytes / 5,
            }
        );
        // A tail with no line end in it, and one whose last line has none.
        let long_line = vec![b'x'; 3_000];
        assert_eq!(
            cut(
                &[b"a\n", &long_line[..]].concat(),
                &[b"b\n", &long_line[..]].concat()
            ),
            none
        );
        let unended = [&tail[..], b"last"].concat();
        let got = cut(
            &[b"a\n", &unended[..]].concat(),
            &[b"b\n", &unended[..]].concat(),
        );
        assert_eq!(got.lines, got.bytes / 5 + 1);
    }

    /// The case git blame and git diff disagree on: a line kept in the middle of rewritten
    /// ones, beside blank lines that the whole file has many of and the part git diffs has few.
    /// The full diff removes and adds it again; the diff without the common tail keeps it.
    #[test]
    fn a_line_the_full_diff_rewrites_can_be_kept_by_git_blames_diff() {
        let head_old = ["void init()", "{", "\tsetup();", "", "\tself = Create(0,"]
            .map(String::from)
            .into_iter()
            .chain((0..9).map(|i| format!("            arg{i},")))
            .chain(["", "\ttooltips(self);"].map(String::from));
        let head_new = [
            "void init()",
            "{",
            "\tsetup();",
            "",
            "\tauto s = A\\",
            "\t\t| B\\",
        ]
        .map(String::from)
        .into_iter()
        .chain(["\t\t| C;", "", "\tself = Create(0,"].map(String::from))
        .chain((0..11).map(|i| format!("\t\t\targ{i},")))
        .chain(["", "\ttheme(self);", "\ttooltips(self);"].map(String::from));
        let tail: Vec<String> = (0..60)
            .map(|i| format!("\tstatement_{i}();"))
            .chain(std::iter::once("}".to_string()))
            .chain((0..100).flat_map(|i| {
                [
                    String::new(),
                    format!("int f{i}()"),
                    "{".into(),
                    format!("\treturn {i};"),
                    "}".into(),
                ]
            }))
            .collect();
        let text = |head: Vec<String>| {
            (head
                .into_iter()
                .chain(tail.iter().cloned())
                .collect::<Vec<_>>()
                .join("\n")
                + "\n")
                .into_bytes()
        };
        let (old, new) = (text(head_old.collect()), text(head_new.collect()));
        let dir = tempfile::tempdir().unwrap();
        let repo = Repository::init(dir.path()).unwrap();
        let id = |v: &[u8]| Oid::hash_object(ObjectType::Blob, v).unwrap();
        let mut diffs = LineDiffs::new(&repo);
        let (full, blamed) = diffs
            .stats_and_blame_hunks(id(&old), &old, id(&new), &new)
            .unwrap();
        assert_eq!(full, diffs.stats(id(&old), &old, id(&new), &new).unwrap());
        assert_eq!((full.added, full.deleted), (17, 10), "git diff --numstat");
        let blamed = blamed.expect("a tail is left out");
        let added: u32 = blamed.iter().map(|h| h.new_lines).sum();
        let removed: u32 = blamed.iter().map(|h| h.old_lines).sum();
        assert_eq!((added, removed), (16, 9), "git diff -U0");
        // Line 5 of the old version (the call) is line 9 of the new one, unchanged.
        let owners = crate::mining::owners::apply_hunks(&[1; 200], &blamed, 300, 2);
        assert_eq!(owners[8], 1);
        // The three ways of making it agree.
        let alone = diffs.blame_hunks(id(&old), &old, id(&new), &new).unwrap();
        let along = diffs.blame_hunks_in_history(id(&old), &old, id(&new), &new);
        assert_eq!(alone, blamed);
        assert_eq!(along.unwrap(), blamed);
    }

    /// A rewrite large enough for git's Myers to take its shortcuts, where gix-imara-diff
    /// takes them elsewhere (fixtures/diffs/README.md): every way of diffing counts and cuts
    /// it as `git diff` does.
    #[test]
    fn a_diff_past_git_s_shortcuts_is_git_s() {
        let read = |name: &str| {
            let path = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("fixtures/diffs")
                .join(name);
            let mut text = Vec::new();
            std::io::Read::read_to_end(
                &mut flate2::read::GzDecoder::new(std::fs::File::open(path).unwrap()),
                &mut text,
            )
            .unwrap();
            text
        };
        let (old, new) = (
            read("lockfile-rewrite.old.gz"),
            read("lockfile-rewrite.new.gz"),
        );
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("old"), &old).unwrap();
        std::fs::write(dir.path().join("new"), &new).unwrap();
        let numstat = std::process::Command::new("git")
            .args(["diff", "--no-index", "--numstat", "old", "new"])
            .current_dir(dir.path())
            .output()
            .unwrap();
        let numstat = String::from_utf8(numstat.stdout).unwrap();
        let counts: Vec<u64> = numstat
            .split_whitespace()
            .take(2)
            .map(|n| n.parse().unwrap())
            .collect();
        // The library alone cuts it elsewhere, so the test passes only by git's own diff.
        let input = imara::InternedInput::new(&old[..], &new[..]);
        let alone = imara::Diff::compute(imara::Algorithm::Myers, &input);
        assert_ne!(
            [alone.count_additions(), alone.count_removals()].map(u64::from),
            counts[..]
        );

        let repo = Repository::init(dir.path()).unwrap();
        let id = |v: &[u8]| Oid::hash_object(ObjectType::Blob, v).unwrap();
        let mut diffs = LineDiffs::new(&repo);
        let full = diffs.stats(id(&old), &old, id(&new), &new).unwrap();
        assert_eq!([full.added, full.deleted], counts[..], "git diff --numstat");
        let (again, blamed) = diffs
            .stats_and_blame_hunks(id(&old), &old, id(&new), &new)
            .unwrap();
        assert_eq!(again, full);
        // The blame diffs, made three ways, agree.
        let blamed = blamed.unwrap_or(full.hunks);
        let alone = diffs.blame_hunks(id(&old), &old, id(&new), &new).unwrap();
        let along = diffs.blame_hunks_in_history(id(&old), &old, id(&new), &new);
        assert_eq!(alone, blamed);
        assert_eq!(along.unwrap(), blamed);
    }
}

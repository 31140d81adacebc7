//! Where the lines a looked-past commit changed came from in its parent's version, guessed as
//! `git blame --ignore-rev` guesses it, so that the owners riskgate gives such lines are the
//! ones git blame gives them.
//!
//! A line is reduced to a fingerprint: the multiset of its byte pairs, lower-cased, with
//! whitespace as a zero byte and a zero at each end (pairs of two zeros left out). Two lines are
//! as similar as the pairs they share. For each hunk of the line diff, each new line is matched
//! to a replaced line near its proportional place (ten lines either way), the most certain
//! match first: it splits the hunk in two, so matches keep the lines' order, and the pairs it
//! used are taken from the replaced line's fingerprint so that no other line matches on them.
//! A new line that matches nothing in its hunk (a hunk that replaces no line included) takes
//! the line of the whole old version that shares at least ten pairs with it, the nearest of
//! equals; failing that, it is the commit's own.
//!
//! Input can be hostile, so the work is bounded: git's matching is quadratic on a pathological
//! hunk, so past [`MATCH_BUDGET`] steps for one diff the lines not yet matched are left to the
//! whole-file search; past [`SCAN_BUDGET`] line comparisons for one diff, a line that matched
//! nothing in its hunk stays the commit's; and versions of more than
//! [`MAX_MATCHED_LINES`] lines or [`MAX_MATCHED_BYTES`] bytes are not matched at all (the
//! commit keeps every line it changed there).

use super::Hunk;

/// Most steps spent matching one diff's hunks: a new line looked at, or a match checked again
/// after another line's.
pub const MATCH_BUDGET: usize = 50_000_000;

/// Most line comparisons spent searching whole old versions for one diff's unmatched lines.
pub const SCAN_BUDGET: usize = 4_000_000;

/// Versions with more lines than this are not matched.
pub const MAX_MATCHED_LINES: usize = 1 << 20;

/// Versions with more bytes than this are not matched.
pub const MAX_MATCHED_BYTES: usize = 16 << 20;

/// Pairs a line must share with a line elsewhere in the old version to be taken from it.
const SCAN_THRESHOLD: u32 = 10;

/// Lines either side of a new line's proportional place it is compared with in its hunk.
const WINDOW: usize = 10;

/// A line's byte pairs as (pair, count), sorted by pair.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Fingerprint(Vec<(u32, u32)>);

impl Fingerprint {
    fn of(line: &[u8]) -> Fingerprint {
        // As C's `tolower` and `isspace` see a `char`: bytes past ASCII are negative there, and
        // a pair is `first | second << 8` in 32 bits, so such a byte's pairs are told apart by
        // that byte alone.
        let normal = |b: u8| -> u32 {
            if matches!(b, b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r') {
                0
            } else {
                b.to_ascii_lowercase() as i8 as i32 as u32
            }
        };
        let mut pairs: Vec<u32> = Vec::with_capacity(line.len() + 1);
        let mut previous = 0u32;
        for next in line.iter().map(|&b| normal(b)).chain(std::iter::once(0)) {
            let pair = previous | next.wrapping_shl(8);
            if pair != 0 {
                pairs.push(pair);
            }
            previous = next;
        }
        pairs.sort_unstable();
        let mut counted: Vec<(u32, u32)> = Vec::new();
        for pair in pairs {
            match counted.last_mut() {
                Some((p, n)) if *p == pair => *n += 1,
                _ => counted.push((pair, 1)),
            }
        }
        Fingerprint(counted)
    }

    /// The pairs the two share, each counted as often as the rarer of the two has it.
    fn similarity(&self, other: &Fingerprint) -> u32 {
        let (mut i, mut j, mut shared) = (0, 0, 0);
        while i < self.0.len() && j < other.0.len() {
            let (a, b) = (self.0[i], other.0[j]);
            match a.0.cmp(&b.0) {
                std::cmp::Ordering::Less => i += 1,
                std::cmp::Ordering::Greater => j += 1,
                std::cmp::Ordering::Equal => {
                    shared += a.1.min(b.1);
                    i += 1;
                    j += 1;
                }
            }
        }
        shared
    }

    /// Takes `other`'s pairs out of this one.
    fn subtract(&mut self, other: &Fingerprint) {
        self.0.retain_mut(
            |(pair, n)| match other.0.binary_search_by_key(pair, |&(p, _)| p) {
                Ok(k) => {
                    let taken = other.0[k].1;
                    if *n <= taken {
                        return false;
                    }
                    *n -= taken;
                    true
                }
                Err(_) => true,
            },
        );
    }
}

/// The lines of a blob, without their line ends, as [`crate::mining::count_lines`] counts them.
pub fn lines(content: &[u8]) -> Vec<&[u8]> {
    if content.is_empty() {
        return Vec::new();
    }
    let body = content.strip_suffix(b"\n").unwrap_or(content);
    body.split(|&b| b == b'\n').collect()
}

/// For each line of `new`, the line of `old` it came from when the change from `old` to `new`
/// (its zero-context line diff `hunks`) is looked past: `None` for a line the change made,
/// for a line outside the hunks its place in `old` (past its end when the hunks do not fit).
pub fn origins(old: &[&[u8]], new: &[&[u8]], hunks: &[Hunk]) -> Vec<Option<usize>> {
    let bytes = |lines: &[&[u8]]| lines.iter().map(|l| l.len() + 1).sum::<usize>();
    let matching = old.len().max(new.len()) <= MAX_MATCHED_LINES
        && bytes(old).max(bytes(new)) <= MAX_MATCHED_BYTES;
    let mut old_prints: Vec<Fingerprint> = match matching {
        true => old.iter().map(|l| Fingerprint::of(l)).collect(),
        false => Vec::new(),
    };
    let mut origin: Vec<Option<usize>> = Vec::with_capacity(new.len());
    let mut old_pos = 0usize;
    let (mut match_budget, mut scan_budget) = (MATCH_BUDGET, SCAN_BUDGET);
    for hunk in hunks {
        let old_start = if hunk.old_lines == 0 {
            hunk.old_start as usize
        } else {
            (hunk.old_start as usize).saturating_sub(1)
        };
        while old_pos < old_start && origin.len() < new.len() {
            origin.push(Some(old_pos));
            old_pos += 1;
        }
        let new_start = origin.len();
        let added = (hunk.new_lines as usize).min(new.len().saturating_sub(new_start));
        let replaced = (hunk.old_lines as usize).min(old.len().saturating_sub(old_start));
        old_pos = old_start + hunk.old_lines as usize;
        if added == 0 {
            continue;
        }
        if !matching {
            origin.extend(std::iter::repeat_n(None, added));
            continue;
        }
        let new_prints: Vec<Fingerprint> = new[new_start..new_start + added]
            .iter()
            .map(|l| Fingerprint::of(l))
            .collect();
        let mut matched = if replaced > 0 {
            Matcher::new(
                &mut old_prints[old_start..old_start + replaced],
                &new_prints,
            )
            .run(&mut match_budget)
            .into_iter()
            .map(|m| m.map(|a| old_start + a))
            .collect()
        } else {
            vec![None; added]
        };
        for (i, m) in matched.iter_mut().enumerate() {
            if m.is_some() {
                continue;
            }
            if scan_budget < old_prints.len() {
                break;
            }
            scan_budget -= old_prints.len();
            *m = nearest_alike(&old_prints, &new_prints[i], new_start + i);
        }
        origin.extend(matched);
    }
    while origin.len() < new.len() {
        origin.push(Some(old_pos));
        old_pos += 1;
    }
    origin
}

/// The line of the whole old version sharing the most pairs (at least [`SCAN_THRESHOLD`]) with
/// `line`, the one nearest `at` of equals (the later of two as near).
fn nearest_alike(old: &[Fingerprint], line: &Fingerprint, at: usize) -> Option<usize> {
    let mut best: Option<(u32, usize)> = None;
    for (i, candidate) in old.iter().enumerate() {
        let shared = candidate.similarity(line);
        let floor = best.map_or(SCAN_THRESHOLD, |(s, _)| s);
        if shared < floor {
            continue;
        }
        if let Some((s, b)) = best {
            if shared == s && b.abs_diff(at) < i.abs_diff(at) {
                continue;
            }
        }
        best = Some((shared, i));
    }
    best.map(|(_, i)| i)
}

/// A line's match: not yet worked out, nothing in reach, or a replaced line with how certain
/// the match is and the runner-up.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Match {
    Unknown,
    Nothing,
    Found {
        certainty: i64,
        best: usize,
        second: usize,
    },
}

/// Matches one hunk's new lines with its replaced lines, most certain first, keeping order.
struct Matcher<'a> {
    /// The replaced lines' fingerprints, worn down as matches use their pairs.
    old: &'a mut [Fingerprint],
    new: &'a [Fingerprint],
    window: usize,
    /// New lines within which one match can change another's.
    reach: usize,
    /// Similarities by (new line, distance from its proportional place + window), scaled to
    /// favour the nearer; -1 while not worked out.
    similarities: Vec<i32>,
    matches: Vec<Match>,
    /// The new lines matched for good (each the most certain of its range once).
    settled: Vec<bool>,
}

impl<'a> Matcher<'a> {
    fn new(old: &'a mut [Fingerprint], new: &'a [Fingerprint]) -> Self {
        let window = WINDOW.min(old.len() - 1);
        let reach = ((2 * window + 1) * new.len() - 1) / old.len();
        Matcher {
            similarities: vec![-1; new.len() * (2 * window + 1)],
            matches: vec![Match::Unknown; new.len()],
            settled: vec![false; new.len()],
            old,
            new,
            window,
            reach,
        }
    }

    /// The replaced line (index within the hunk) at new line `b`'s proportional place: the
    /// middle one of those its share of the hunk spans.
    fn proportional(&self, b: usize) -> usize {
        ((b * 2 + 1) * self.old.len()) / (self.new.len() * 2)
    }

    fn cell(&self, a: usize, b: usize) -> Option<usize> {
        let place = self.proportional(b);
        let offset = (a + self.window).checked_sub(place)?;
        (offset <= 2 * self.window).then(|| b * (2 * self.window + 1) + offset)
    }

    /// Works out new line `b`'s best match among replaced lines `a_range`, if not known.
    fn best_for(&mut self, b: usize, a_range: (usize, usize)) {
        if self.matches[b] != Match::Unknown {
            return;
        }
        let place = self.proportional(b) as i64;
        let from = (place - self.window as i64).max(a_range.0 as i64).max(0) as usize;
        let to = ((place + self.window as i64 + 1).max(0) as usize).min(a_range.1);
        // With nothing better, the runner-up is the range's first line, as it is for git.
        let (mut best, mut second) = ((0i64, a_range.0), (0i64, a_range.0));
        for a in from..to {
            let Some(cell) = self.cell(a, b) else {
                continue;
            };
            let value = match self.similarities[cell] {
                -1 => {
                    let distance = (a as i64 - place).abs();
                    // Lines share at most a million pairs here (16 MiB versions), so the
                    // scaled value fits.
                    let shared = i64::from(self.new[b].similarity(&self.old[a]).min(1 << 20));
                    let v = (shared * (1000 - distance)) as i32;
                    self.similarities[cell] = v;
                    i64::from(v)
                }
                v => i64::from(v),
            };
            if value > best.0 {
                second = best;
                best = (value, a);
            } else if value > second.0 {
                second = (value, a);
            }
        }
        self.matches[b] = if best.0 == 0 {
            Match::Nothing
        } else {
            Match::Found {
                certainty: best.0 * 2 - second.0,
                best: best.1,
                second: second.1,
            }
        };
    }

    /// The replaced line (index within the hunk) each new line is matched with, spending at
    /// most `budget` steps; a line not settled when it runs out has none.
    fn run(mut self, budget: &mut usize) -> Vec<Option<usize>> {
        // (replaced lines [a0, a1), new lines [b0, b1)) still to match; a stack, not recursion:
        // a hunk of a hostile file may have a million lines.
        let mut todo = vec![((0, self.old.len()), (0, self.new.len()))];
        while let Some(((a0, a1), (b0, b1))) = todo.pop() {
            let Some(left) = budget.checked_sub(b1 - b0) else {
                break;
            };
            *budget = left;
            let mut most: Option<(i64, usize)> = None;
            for b in b0..b1 {
                self.best_for(b, (a0, a1));
                if let Match::Found { certainty, .. } = self.matches[b] {
                    if most.is_none_or(|(c, _)| certainty > c) {
                        most = Some((certainty, b));
                    }
                }
            }
            let Some((_, b)) = most else { continue };
            let Match::Found { best: a, .. } = self.matches[b] else {
                continue;
            };
            let low = b.saturating_sub(self.reach).max(b0);
            let high = (b + self.reach + 1).min(b1);
            let Some(left) = budget.checked_sub(high - low) else {
                break;
            };
            *budget = left;
            self.settled[b] = true;
            let used = self.new[b].clone();
            self.old[a].subtract(&used);
            // The worn line's similarities are worked out again.
            for other in low..high {
                if let Some(cell) = self.cell(a, other) {
                    self.similarities[cell] = -1;
                }
            }
            // Matches that would cross this one are worked out again.
            for other in low..b {
                if let Match::Found { best, second, .. } = self.matches[other] {
                    if best >= a || second >= a {
                        self.matches[other] = Match::Unknown;
                    }
                }
            }
            for other in b + 1..high {
                if let Match::Found { best, second, .. } = self.matches[other] {
                    if best <= a || second <= a {
                        self.matches[other] = Match::Unknown;
                    }
                }
            }
            if b + 1 < b1 {
                todo.push(((a, a1), (b + 1, b1)));
            }
            if b > b0 {
                todo.push(((a0, a + 1), (b0, b)));
            }
        }
        self.matches
            .iter()
            .zip(&self.settled)
            .map(|(m, &settled)| match m {
                Match::Found { best, .. } if settled => Some(*best),
                _ => None,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mining::diff::hunk;

    #[test]
    fn lines_leave_out_their_ends() {
        assert_eq!(lines(b"a\nb\n"), vec![&b"a"[..], b"b"]);
        assert_eq!(lines(b"a\nb"), vec![&b"a"[..], b"b"]);
        assert!(lines(b"").is_empty());
    }

    #[test]
    fn changed_lines_come_from_the_lines_they_resemble() {
        let old = lines(b"import os\nvalue = compute(first, second)\nprint(value)\nreturn value\n");
        // The second line split in two and indented; the import moved to the end, where a
        // hunk that replaces nothing finds it in the whole old version.
        let new = lines(
            b"value = compute(\n    first, second)\n  print(value)\nreturn value\nimport os\n",
        );
        let hunks = [hunk(1, 3, 1, 3), hunk(4, 0, 5, 1)];
        let found = origins(&old, &new, &hunks);
        assert_eq!(found, vec![Some(1), Some(1), Some(2), Some(3), Some(0)]);
        // Alike in case and whitespace only: the same pairs.
        assert_eq!(
            Fingerprint::of(b"  Let  X = 1").similarity(&Fingerprint::of(b"let x = 1")),
            Fingerprint::of(b"let x = 1")
                .0
                .iter()
                .map(|p| p.1)
                .sum::<u32>()
        );
        // A line like nothing before stays the commit's.
        let mut closed = old.clone();
        closed.push(b"}");
        let found = origins(&old, &closed, &[hunk(4, 0, 5, 1)]);
        assert_eq!(found, vec![Some(0), Some(1), Some(2), Some(3), None]);
    }

    #[test]
    fn matching_stops_when_its_budget_runs_out() {
        let old: Vec<Fingerprint> = (0..50)
            .map(|i| Fingerprint::of(format!("let value_{i} = compute({i});").as_bytes()))
            .collect();
        let new: Vec<Fingerprint> = (0..50)
            .map(|i| Fingerprint::of(format!("  let value_{i} = compute({i});").as_bytes()))
            .collect();
        let mut plenty = MATCH_BUDGET;
        let all = Matcher::new(&mut old.clone(), &new).run(&mut plenty);
        assert_eq!(all, (0..50).map(Some).collect::<Vec<_>>());
        assert!(plenty < MATCH_BUDGET);
        let mut some = 200;
        let part = Matcher::new(&mut old.clone(), &new).run(&mut some);
        let settled = part.iter().flatten().count();
        assert!(settled > 0 && settled < 50, "{part:?}");
        // What was settled is right.
        assert!(part
            .iter()
            .enumerate()
            .all(|(i, m)| m.is_none_or(|a| a == i)));
        assert_eq!(
            Matcher::new(&mut old.clone(), &new).run(&mut 0),
            vec![None; 50]
        );
    }

    #[test]
    fn versions_past_the_limits_are_not_matched() {
        let big = vec![&b"x = 1"[..]; MAX_MATCHED_LINES + 1];
        let mut new = big.clone();
        new[0] = b"x = 2";
        let found = origins(&big, &new, &[hunk(1, 1, 1, 1)]);
        assert_eq!(found[0], None, "the changed line is the commit's");
        assert_eq!(found[1], Some(1));
        assert_eq!(found.len(), new.len());
    }
}

//! EXP, REXP and SEXP of each change from a per-author state kept along the pass, at about
//! the same cost for an author's ten-thousandth commit as for their first.

use crate::features::{recency_weight, whole_years};
use crate::mining::ancestry::Ancestry;

/// One earlier commit of an author, for the exact EXP/REXP/SEXP loop (taken when the fast
/// path of [`AuthorHistory::experience`] does not apply): the commit, its author time, and the
/// subsystems it touched as a bit mask (ids below 64) plus any higher ids.
struct AuthorEntry {
    commit: u32,
    time: i64,
    mask: u64,
    more: Box<[u32]>,
}

/// One author's earlier commits, kept so that EXP, REXP and SEXP cost about the same for an
/// author's ten-thousandth commit as for their first.
#[derive(Default)]
pub(super) struct AuthorHistory {
    /// Every earlier commit, in mining order (the order the REXP sum runs in).
    entries: Vec<AuthorEntry>,
    /// Their author times, in the same order.
    times: Vec<i64>,
    /// Whether some author time is earlier than the one before it.
    unsorted: bool,
    /// The author's commits (index ids) that are not ancestors of a later one of theirs: every
    /// earlier commit is history of a commit exactly when these are.
    tips: Vec<u32>,
    /// The distinct subsystem sets (mask, higher ids) of the commits, with how many had each.
    subsystem_sets: Vec<(u64, Box<[u32]>, u32)>,
}

impl AuthorHistory {
    /// Add the author's commit `this` (already in `chains`), touching subsystems `subs`
    /// (sorted, distinct).
    pub(super) fn push(&mut self, chains: &Ancestry, this: u32, time: i64, subs: &[u32]) {
        let mask = subs.iter().filter(|&&s| s < 64).fold(0, |m, &s| m | 1 << s);
        let more: Box<[u32]> = subs.iter().copied().filter(|&s| s >= 64).collect();
        match self
            .subsystem_sets
            .iter_mut()
            .find(|(m, o, _)| *m == mask && **o == *more)
        {
            Some(set) => set.2 += 1,
            None => self.subsystem_sets.push((mask, more.clone(), 1)),
        }
        self.tips.retain(|&t| !chains.is_ancestor(t, this));
        self.tips.push(this);
        if self.times.last().is_some_and(|&t| t > time) {
            self.unsorted = true;
        }
        self.times.push(time);
        self.entries.push(AuthorEntry {
            commit: this,
            time,
            mask,
            more,
        });
    }

    /// (EXP, REXP, SEXP) of a change made at `time` on top of commit `parent`, touching the
    /// subsystems in `change_mask` / `change_subsystems`: over the author's earlier commits
    /// that are history of `parent`, their number, the sum in mining order of
    /// 1 / (whole years before `time` + 1), and how many share a subsystem with the change.
    ///
    /// When all of them are history of `parent` and their times never decrease (a linear
    /// history, or branches merged back), the years split them into at most one run per year
    /// and the sum is taken run by run ([`add_repeated`]): the same f64 as the loop, without
    /// visiting every commit. When all are history but their times go back and forth (rebased
    /// commits keep their author dates), the sum visits every commit but asks no ancestry.
    /// Otherwise every commit is visited and asked.
    pub(super) fn experience(
        &self,
        chains: &Ancestry,
        parent: u32,
        time: i64,
        change_mask: u64,
        change_subsystems: &[bool],
    ) -> (u64, f64, u64) {
        if !self.tips.iter().all(|&t| chains.is_ancestor(t, parent)) {
            return self.experience_asking(chains, parent, time, change_mask, change_subsystems);
        }
        let years = |t: i64| whole_years(time, t);
        let exp = self.times.len() as u64;
        let mut rexp = 0.0f64;
        if self.unsorted {
            for &t in &self.times {
                rexp += recency_weight(years(t));
            }
        } else {
            let mut i = 0;
            while i < self.times.len() {
                // Times never decrease, so whole years before `time` never increase.
                let y = years(self.times[i]);
                let run = self.times[i..].partition_point(|&t| years(t) >= y);
                rexp = add_repeated(rexp, recency_weight(y), run as u64);
                i += run;
            }
        }
        let sexp = self
            .subsystem_sets
            .iter()
            .filter(|(mask, more, _)| shares(*mask, more, change_mask, change_subsystems))
            .map(|&(_, _, n)| u64::from(n))
            .sum();
        (exp, rexp, sexp)
    }

    /// [`Self::experience`] by visiting every earlier commit and asking whether it is history
    /// of `parent`.
    fn experience_asking(
        &self,
        chains: &Ancestry,
        parent: u32,
        time: i64,
        change_mask: u64,
        change_subsystems: &[bool],
    ) -> (u64, f64, u64) {
        let (mut exp, mut rexp, mut sexp) = (0u64, 0.0f64, 0u64);
        for e in &self.entries {
            if !chains.is_ancestor(e.commit, parent) {
                continue;
            }
            exp += 1;
            rexp += recency_weight(whole_years(time, e.time));
            if shares(e.mask, &e.more, change_mask, change_subsystems) {
                sexp += 1;
            }
        }
        (exp, rexp, sexp)
    }
}

/// Whether a commit that touched subsystems `mask` / `more` shares one with the change.
fn shares(mask: u64, more: &[u32], change_mask: u64, change_subsystems: &[bool]) -> bool {
    mask & change_mask != 0 || more.iter().any(|&s| change_subsystems[s as usize])
}

/// `s + v + v + … + v` (`n` times), each addition rounded in f64 as a loop would do it, in
/// about one step per binade of the result instead of `n`. Within a binade every addition of
/// `v` adds the same whole number of ulps (round to nearest), except when `v`'s remainder is
/// exactly half an ulp, where ties-to-even decides step by step.
fn add_repeated(mut s: f64, v: f64, mut n: u64) -> f64 {
    debug_assert!(v.is_normal() && v > 0.0 && s >= 0.0 && s.is_finite());
    const FRAC: u64 = (1 << 52) - 1;
    const TOP: u64 = 1 << 53;
    while n > 0 {
        let (sb, vb) = (s.to_bits(), v.to_bits());
        let (se, ve) = (sb >> 52, vb >> 52);
        // Below v (or too small to write its ulp as a normal f64): one plain step.
        if s < v || se <= 53 {
            s += v;
            n -= 1;
            continue;
        }
        let shift = se - ve;
        if shift >= 54 {
            return s; // v is below half an ulp of s: adding it changes nothing
        }
        let m = (sb & FRAC) | (1 << 52);
        let mv = (vb & FRAC) | (1 << 52);
        let q = mv >> shift;
        let step = if shift == 0 {
            q
        } else {
            let rem = mv & ((1 << shift) - 1);
            let half = 1u64 << (shift - 1);
            match rem.cmp(&half) {
                std::cmp::Ordering::Less => q,
                std::cmp::Ordering::Greater => q + 1,
                std::cmp::Ordering::Equal => {
                    let next = s + v;
                    if next == s {
                        return s; // rounded to even, and will be again every time
                    }
                    s = next;
                    n -= 1;
                    continue;
                }
            }
        };
        if step == 0 {
            return s;
        }
        // s = m ulps; an addition stays in this binade while m + q <= TOP - 1 before it.
        if m + q > TOP - 1 {
            s += v;
            n -= 1;
            continue;
        }
        let k = ((TOP - 1 - q - m) / step + 1).min(n);
        let ulp = f64::from_bits((se - 52) << 52);
        s = (m + k * step) as f64 * ulp;
        n -= k;
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn add_one_by_one(mut s: f64, v: f64, n: u64) -> f64 {
        for _ in 0..n {
            s += v;
        }
        s
    }

    #[test]
    fn add_repeated_is_the_loop() {
        let mut values: Vec<f64> = (0..80).map(|y| 1.0 / (y as f64 + 1.0)).collect();
        values.extend([
            0.1,
            0.3,
            0.7,
            1e-3,
            3.0,
            1e-9,
            2.0f64.powi(-30),
            1.0 + f64::EPSILON,
        ]);
        // A value whose remainder is exactly half an ulp in some binade: ties to even.
        values.push(f64::from_bits(0x3FF0_0000_0000_0001));
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for &v in &values {
            // From zero, at every length up to 5,000, then from sums met along the way.
            let mut looped = 0.0f64;
            for n in 0..5_000u64 {
                assert_eq!(
                    add_repeated(0.0, v, n).to_bits(),
                    looped.to_bits(),
                    "v={v} n={n}"
                );
                looped += v;
            }
            for _ in 0..200 {
                let start = add_one_by_one(0.0, v, next() % 3_000) + (next() % 7) as f64 / 3.0;
                let n = next() % 20_000;
                assert_eq!(
                    add_repeated(start, v, n).to_bits(),
                    add_one_by_one(start, v, n).to_bits(),
                    "v={v} start={start} n={n}"
                );
            }
        }
        // Long runs: the shortcut against the loop at sizes a long history reaches.
        for v in [1.0 / 3.0, 1.0 / 6.0, 1.0 / 7.0, 0.2] {
            for n in [65_536u64, 123_457, 1_000_003] {
                assert_eq!(
                    add_repeated(0.0, v, n).to_bits(),
                    add_one_by_one(0.0, v, n).to_bits()
                );
                assert_eq!(
                    add_repeated(12_345.678, v, n).to_bits(),
                    add_one_by_one(12_345.678, v, n).to_bits()
                );
            }
        }
    }

    #[test]
    fn author_experience_fast_path_matches_the_loop() {
        // One author on a main line that forks a side branch every 50 commits and merges it
        // back 10 commits later (the side branch's commits are not history of main's until
        // then): every commit's (EXP, REXP, SEXP) against the loop over each earlier commit.
        let mut chains = Ancestry::default();
        let mut history = AuthorHistory::default();
        // The same commits taken as if their times went back and forth.
        let mut unsorted = AuthorHistory {
            unsorted: true,
            ..AuthorHistory::default()
        };
        let (mut time, mut fast_paths) = (1_500_000_000i64, 0);
        let (mut main, mut side) = (None::<u32>, None::<u32>);
        let mut change = vec![false; 70];
        for n in 0..4_000u32 {
            let on_side = n % 50 >= 40;
            let first = if on_side { side.or(main) } else { main };
            if !on_side && side.is_some() {
                // The merge of the side branch (no row, not the author's).
                let merge = chains.len() as u32;
                chains.push(&[main.unwrap(), side.take().unwrap()]);
                main = Some(merge);
                continue;
            }
            let id = chains.len() as u32;
            chains.push(&first.into_iter().collect::<Vec<_>>());
            time += 8 * 3_600 + i64::from(n % 5) * 3_600;
            let mask = 1u64 << (n % 4);
            change[65] = n % 7 == 0;
            if let Some(p) = first {
                let want = history.experience_asking(&chains, p, time, mask, &change);
                for got in [
                    history.experience(&chains, p, time, mask, &change),
                    unsorted.experience(&chains, p, time, mask, &change),
                ] {
                    assert_eq!(
                        (got.0, got.1.to_bits(), got.2),
                        (want.0, want.1.to_bits(), want.2),
                        "commit {n}"
                    );
                }
                fast_paths += usize::from(history.tips.iter().all(|&t| chains.is_ancestor(t, p)));
            }
            let subs = [n % 3, 64 + n % 2];
            history.push(&chains, id, time, &subs);
            unsorted.push(&chains, id, time, &subs);
            if on_side {
                side = Some(id);
            } else {
                main = Some(id);
            }
        }
        assert!(fast_paths > 3_000, "{fast_paths}");
        assert!(history.tips.len() == 1);
    }
}

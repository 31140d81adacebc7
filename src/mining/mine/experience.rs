//! EXP, REXP and SEXP of each change from a per-author state kept along the pass, at about
//! the same cost for an author's ten-thousandth commit as for their first.

use std::collections::HashMap;

use crate::features::{recency_weight, whole_years};
use crate::mining::ancestry::Ancestry;

/// One earlier commit of an author: where it sits in the ancestry, the author's chain (an
/// index into [`AuthorHistory::chains`]) and its position on that chain, and the subsystems
/// it touched as a bit mask (ids below 64) plus any higher ids.
struct AuthorEntry {
    chain: u32,
    pos: u32,
    mask: u64,
    more: Box<[u32]>,
}

/// An ancestry chain an author's commits are on, with what the parent of a change reaches on it
/// once worked out for that change.
struct AuthorChain {
    chain: u32,
    /// The change (by [`AuthorHistory::queries`]) that `reached` was worked out for.
    asked_by: u64,
    /// The furthest position on the chain that the change's parent reaches.
    reached: Option<u32>,
}

/// Commits remembered per author as having a known number of the author's first commits all
/// in their history. A few suffice: a change usually sits on top of one that came shortly before.
const MOST_WITNESSES: usize = 4;

/// One author's earlier commits, kept so that EXP, REXP and SEXP cost about the same for an
/// author's ten-thousandth commit as for their first.
#[derive(Default)]
pub(super) struct AuthorHistory {
    /// Every earlier commit, in mining order (the order the REXP sum runs in).
    entries: Vec<AuthorEntry>,
    /// Their author times, in the same order.
    times: Vec<i64>,
    /// How many of the first times never decrease.
    sorted_times: usize,
    /// The author's commits (index ids) that are not ancestors of a later one of theirs: every
    /// earlier commit is history of a commit exactly when these are.
    tips: Vec<u32>,
    /// The ancestry chains the commits are on, each once.
    chains: Vec<AuthorChain>,
    /// Ancestry chain → its index in `chains`.
    chain_index: HashMap<u32, u32, foldhash::fast::RandomState>,
    /// Changes asked about so far: tells what `chains` worked out for this change from older.
    queries: u64,
    /// The distinct subsystem sets (mask, higher ids) of the commits, with how many had each.
    subsystem_sets: Vec<(u64, Box<[u32]>, u32)>,
    /// (commit, n): the first n entries are all history of the commit, so of every commit that
    /// has it in its history. Most recently useful first.
    witnesses: Vec<(u32, usize)>,
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
        if self.tips.is_empty() {
            // Every earlier commit is history of this one, and this one is its own.
            self.remember_witness(this, self.entries.len() + 1);
        }
        self.tips.push(this);
        if self.sorted_times == self.times.len() && self.times.last().is_none_or(|&t| t <= time) {
            self.sorted_times += 1;
        }
        self.times.push(time);
        let (on, pos) = chains.chain_of(this);
        let chain = *self.chain_index.entry(on).or_insert_with(|| {
            self.chains.push(AuthorChain {
                chain: on,
                asked_by: 0,
                reached: None,
            });
            self.chains.len() as u32 - 1
        });
        self.entries.push(AuthorEntry {
            chain,
            pos,
            mask,
            more,
        });
    }

    /// (EXP, REXP, SEXP) of a change made at `time` on top of commit `parent`, touching the
    /// subsystems in `change_mask` / `change_subsystems`: over the author's earlier commits
    /// that are history of `parent`, their number, the sum in mining order of
    /// 1 / (whole years before `time` + 1), and how many share a subsystem with the change.
    ///
    /// When all of them are history of `parent` (a linear history, or branches merged back),
    /// none is asked. Otherwise a witness in `parent`'s history vouches for the first commits,
    /// and only those after them are asked. The sums then need only the commits left out.
    pub(super) fn experience(
        &mut self,
        chains: &Ancestry,
        parent: u32,
        time: i64,
        change_mask: u64,
        change_subsystems: &[bool],
    ) -> (u64, f64, u64) {
        let n = self.entries.len();
        let settled = if self.tips.iter().all(|&t| chains.is_ancestor(t, parent)) {
            n
        } else {
            self.vouched_for(chains, parent)
        };
        // What `parent` reaches on each of the author's chains is looked up once per chain.
        self.queries += 1;
        let query = self.queries;
        let left_out: Vec<usize> = (settled..n)
            .filter(|&i| {
                let e = &self.entries[i];
                let on = &mut self.chains[e.chain as usize];
                if on.asked_by != query {
                    (on.asked_by, on.reached) = (query, chains.reach_on(parent, on.chain));
                }
                on.reached.is_none_or(|p| p < e.pos)
            })
            .collect();
        if let Some(&k) = left_out.first().filter(|&&k| k > settled) {
            self.remember_witness(parent, k);
        }
        let sharing = |mask: u64, more: &[u32]| shares(mask, more, change_mask, change_subsystems);
        let sexp_of_all: u64 = self
            .subsystem_sets
            .iter()
            .filter(|(mask, more, _)| sharing(*mask, more))
            .map(|&(_, _, n)| u64::from(n))
            .sum();
        let left_out_sharing = left_out
            .iter()
            .filter(|&&i| sharing(self.entries[i].mask, &self.entries[i].more))
            .count();
        (
            (n - left_out.len()) as u64,
            self.rexp_without(&left_out, time),
            sexp_of_all - left_out_sharing as u64,
        )
    }

    /// How many of the first entries a remembered witness in `parent`'s history vouches for.
    fn vouched_for(&mut self, chains: &Ancestry, parent: u32) -> usize {
        let found = self
            .witnesses
            .iter()
            .enumerate()
            .filter(|&(_, &(w, _))| chains.is_ancestor(w, parent))
            .max_by_key(|&(_, &(_, n))| n)
            .map(|(i, _)| i);
        found.map_or(0, |i| {
            let used = self.witnesses.remove(i);
            self.witnesses.insert(0, used);
            used.1
        })
    }

    /// Remember that the first `n` entries are all history of `commit`, forgetting the
    /// witness least recently useful when there are too many.
    fn remember_witness(&mut self, commit: u32, n: usize) {
        self.witnesses.truncate(MOST_WITNESSES - 1);
        self.witnesses.insert(0, (commit, n));
    }

    /// The REXP sum over every entry but those at the indices `left_out` (ascending), in
    /// mining order. When the times never decrease, the years split the entries into at most
    /// one run per year, and each run's entries add the same weight one after another: the
    /// sum is taken run by run ([`add_repeated`]), the same f64 as the loop, without visiting
    /// every entry.
    fn rexp_without(&self, left_out: &[usize], time: i64) -> f64 {
        let years = |t: i64| whole_years(time, t);
        let times = &self.times;
        if self.sorted_times < times.len() {
            // Rebased commits keep their author dates: times go back and forth.
            let mut skip = left_out.iter().peekable();
            let mut rexp = 0.0;
            for (i, &t) in times.iter().enumerate() {
                if skip.next_if_eq(&&i).is_none() {
                    rexp += recency_weight(years(t));
                }
            }
            return rexp;
        }
        let (mut rexp, mut i) = (0.0f64, 0);
        while i < times.len() {
            // Times never decrease, so whole years before `time` never increase.
            let y = years(times[i]);
            let end = i + times[i..].partition_point(|&t| years(t) >= y);
            let skipped =
                left_out.partition_point(|&k| k < end) - left_out.partition_point(|&k| k < i);
            rexp = add_repeated(rexp, recency_weight(y), (end - i - skipped) as u64);
            i = end;
        }
        rexp
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
    use crate::features::YEAR_SECONDS;
    use crate::mining::ancestry::tests::xorshift;

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
        let mut next = xorshift(0x9e37_79b9_7f4a_7c15);
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

    /// One of an author's earlier commits as the tests record them: the commit, its author
    /// time and the subsystems it touched.
    type Earlier = (u32, i64, Vec<u32>);

    /// Check `history`'s (EXP, REXP, SEXP) of a change against the loop that visits every
    /// earlier commit and asks whether it is history of `parent`.
    fn assert_experience(
        history: &mut AuthorHistory,
        earlier: &[Earlier],
        (chains, parent, time): (&Ancestry, u32, i64),
        (mask, change): (u64, &[bool]),
        what: &str,
    ) {
        let (mut exp, mut rexp, mut sexp) = (0u64, 0.0f64, 0u64);
        for (commit, at, subs) in earlier {
            if chains.is_ancestor(*commit, parent) {
                exp += 1;
                rexp +=
                    1.0 / ((time.saturating_sub(*at).max(0) as f64 / YEAR_SECONDS).floor() + 1.0);
                let shared = |&s: &u32| {
                    if s < 64 {
                        mask & 1 << s != 0
                    } else {
                        change[s as usize]
                    }
                };
                sexp += u64::from(subs.iter().any(shared));
            }
        }
        let got = history.experience(chains, parent, time, mask, change);
        assert_eq!(
            (got.0, got.1.to_bits(), got.2),
            (exp, rexp.to_bits(), sexp),
            "{what}"
        );
    }

    #[test]
    fn author_experience_fast_path_matches_the_loop() {
        // One author on a main line that forks a side branch every 50 commits and merges it
        // back 10 commits later: every commit's (EXP, REXP, SEXP) against the loop over each
        // earlier commit.
        let mut chains = Ancestry::default();
        let mut history = AuthorHistory::default();
        // The same commits taken as if their times went back and forth.
        let mut unsorted = AuthorHistory::default();
        let mut earlier: Vec<Earlier> = Vec::new();
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
                fast_paths += usize::from(history.tips.iter().all(|&t| chains.is_ancestor(t, p)));
                for h in [&mut history, &mut unsorted] {
                    let at = (&chains, p, time);
                    assert_experience(h, &earlier, at, (mask, &change), &format!("commit {n}"));
                }
            }
            let subs = vec![n % 3, 64 + n % 2];
            history.push(&chains, id, time, &subs);
            unsorted.push(&chains, id, time, &subs);
            unsorted.sorted_times = 0;
            earlier.push((id, time, subs));
            if on_side {
                side = Some(id);
            } else {
                main = Some(id);
            }
        }
        assert!(fast_paths > 3_000, "{fast_paths}");
        assert!(history.tips.len() == 1);
    }

    #[test]
    fn author_experience_matches_the_loop_on_random_histories() {
        // Three authors on up to six branches at once that fork, merge and go on in parallel
        // (the case that asks ancestry), one of them with author times that go back and forth:
        // every commit's (EXP, REXP, SEXP) against the loop over each earlier commit.
        for round in 0..20u64 {
            let mut next = xorshift(0x2545_f491_4f6c_dd1d ^ (round + 1));
            let mut chains = Ancestry::default();
            let mut authors: Vec<(AuthorHistory, Vec<Earlier>)> =
                (0..3).map(|_| Default::default()).collect();
            chains.push(&[]);
            let mut branches = vec![0u32];
            let mut time = 1_400_000_000i64;
            let mut change = vec![false; 70];
            let (mut asked, mut vouched) = (0, 0);
            for n in 0..1_500u32 {
                let b = (next() % branches.len() as u64) as usize;
                match next() % 10 {
                    // A merge of another branch (no row, as mining skips merges).
                    0 if branches.len() > 1 => {
                        let other = (b + 1 + (next() % (branches.len() as u64 - 1)) as usize)
                            % branches.len();
                        let merge = chains.len() as u32;
                        chains.push(&[branches[b], branches[other]]);
                        branches[b] = merge;
                        if next().is_multiple_of(2) {
                            branches.swap_remove(other);
                        }
                        continue;
                    }
                    // A new branch from this one.
                    1 if branches.len() < 6 => branches.push(branches[b]),
                    _ => {}
                }
                let (id, parent) = (chains.len() as u32, branches[b]);
                chains.push(&[parent]);
                branches[b] = id;
                let who = (next() % 3) as usize;
                // The third author's times go back and forth by up to two years, as rebased
                // commits' do.
                time += (next() % 20_000_000) as i64;
                let at = if who == 2 {
                    time - (next() % 63_000_000) as i64
                } else {
                    time
                };
                let (history, earlier) = &mut authors[who];
                let mask = 1u64 << (next() % 5);
                change[64 + (n % 6) as usize] = next().is_multiple_of(3);
                asked += usize::from(!history.tips.iter().all(|&t| chains.is_ancestor(t, parent)));
                vouched += usize::from(
                    history
                        .witnesses
                        .iter()
                        .any(|&(w, k)| k > 0 && chains.is_ancestor(w, parent)),
                );
                let what = format!("round {round}, commit {n}");
                assert_experience(
                    history,
                    earlier,
                    (&chains, parent, at),
                    (mask, &change),
                    &what,
                );
                let subs = vec![(next() % 5) as u32, 64 + (next() % 4) as u32];
                history.push(&chains, id, at, &subs);
                earlier.push((id, at, subs));
            }
            assert!(
                asked > 100 && vouched > 100,
                "round {round}: {asked} asked, {vouched} vouched"
            );
        }
    }
}

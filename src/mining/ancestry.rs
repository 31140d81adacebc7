//! "Is this commit an ancestor of that one?" in about constant time, for a history added
//! parents first, in memory that grows with the merges' news rather than with commits × branches.
//!
//! The history is cut into chains: a commit continues its first parent's chain when the caller
//! says it should (the first-parent line of a branch, merges included, so a main line stays one
//! chain however many branches merge into it) and no other child already did; otherwise it
//! starts a chain whose base is that parent. What a commit
//! reaches on another chain only grows along its own chain, so each chain keeps a log of the
//! points where that grew (a merge brought news) and inherits the rest from its base. A fork
//! costs nothing; a merge costs what the merged side knew that this side did not. Bases nest at
//! most [`MAX_BASE_DEPTH`] deep: a chain that deep is based on a copy of what its nearest bases
//! know before another forks from it, which bounds a query.

use std::collections::HashMap;

/// Nesting of chain bases before a chain forked from is based on a copy of what its bases know.
const MAX_BASE_DEPTH: u32 = 16;

/// How many levels of bases a copy stands for (it is based on the place past them).
const COPIED_LEVELS: u32 = MAX_BASE_DEPTH / 2;

#[derive(Debug, Clone, Copy)]
struct Place {
    chain: u32,
    pos: u32,
}

#[derive(Debug, Default)]
struct Chain {
    /// The commit this chain forked from (its first commit's first parent).
    base: Option<Place>,
    depth: u32,
    /// Other chain → (position on this chain, furthest position reached there from then on),
    /// positions increasing. Read on every ancestry question: a fast hash.
    log: HashMap<u32, Vec<(u32, u32)>, foldhash::fast::RandomState>,
    /// The log's entries as (position on this chain, other chain), in the order added, which
    /// is by position: what the chain learnt between two of its positions.
    learnt: Vec<(u32, u32)>,
}

/// Ancestry of the commits added so far, by their number in the order added.
#[derive(Debug, Default)]
pub struct Ancestry {
    places: Vec<Place>,
    /// Whether a commit already has a child continuing its chain.
    continued: Vec<bool>,
    chains: Vec<Chain>,
}

impl Ancestry {
    pub fn len(&self) -> usize {
        self.places.len()
    }

    pub fn is_empty(&self) -> bool {
        self.places.is_empty()
    }

    pub fn chains(&self) -> usize {
        self.chains.len()
    }

    /// Entries kept in the chains' logs (what the memory grows with).
    pub fn log_entries(&self) -> usize {
        self.chains
            .iter()
            .map(|c| c.log.values().map(Vec::len).sum::<usize>())
            .sum()
    }

    /// The furthest position on chain `on` that commit `at` reaches (itself included).
    fn reach(&self, at: Place, on: u32) -> Option<u32> {
        let mut at = at;
        loop {
            if at.chain == on {
                return Some(at.pos);
            }
            let chain = &self.chains[at.chain as usize];
            if let Some(entries) = chain.log.get(&on) {
                let i = entries.partition_point(|&(p, _)| p <= at.pos);
                if i > 0 {
                    // An entry is recorded only when it beats what the base gave.
                    return Some(entries[i - 1].1);
                }
            }
            at = chain.base?;
        }
    }

    /// Whether commit `a` is `b` or one of its ancestors.
    pub fn is_ancestor(&self, a: u32, b: u32) -> bool {
        let (on, pos) = self.chain_of(a);
        self.reach_on(b, on).is_some_and(|p| p >= pos)
    }

    /// Commit `a`'s chain and position on it.
    pub fn chain_of(&self, a: u32) -> (u32, u32) {
        let place = self.places[a as usize];
        (place.chain, place.pos)
    }

    /// The furthest position on chain `on` that commit `b` reaches: a commit on that chain is
    /// `b` or one of its ancestors exactly when its position is at most this. For asking of
    /// many commits on few chains.
    pub fn reach_on(&self, b: u32, on: u32) -> Option<u32> {
        self.reach(self.places[b as usize], on)
    }

    /// Record that `at` (the commit being added) reaches `from` and everything `from`
    /// reaches. Every entry of a log stands for all its place reaches (each is recorded with
    /// what it brings), so a place `at` already reaches brings nothing new and is not walked.
    /// And a chain's log, with its base, names every place the chain reaches: the places a
    /// walked log names are recorded without walking their own logs. They are recorded last,
    /// once the walk is done: what they reach through the bases is then known, and a walk is
    /// never cut short by a place whose own reach rests on that walk.
    fn learn_all(&mut self, at: Place, from: Place) {
        let mut walk = vec![from];
        let mut named: Vec<Place> = Vec::new();
        while let Some(f) = walk.pop() {
            let known = self.reach(at, f.chain);
            if !self.record(at, f, known) {
                continue;
            }
            let chain = &self.chains[f.chain as usize];
            let reached_on = |on: u32| {
                let entries = &chain.log[&on];
                let i = entries.partition_point(|&(p, _)| p <= f.pos);
                (i > 0).then(|| Place {
                    chain: on,
                    pos: entries[i - 1].1,
                })
            };
            match known {
                // `at` reaches an earlier place of f's chain, and with it the base and all the
                // chain had learnt by then: only what it learnt since is news.
                Some(r) => {
                    let since = chain.learnt.partition_point(|&(p, _)| p <= r);
                    let until = chain.learnt.partition_point(|&(p, _)| p <= f.pos);
                    named.extend(
                        chain.learnt[since..until]
                            .iter()
                            .filter_map(|&(_, on)| reached_on(on)),
                    );
                }
                None => {
                    walk.extend(chain.base);
                    named.extend(chain.log.keys().filter_map(|&on| reached_on(on)));
                }
            }
        }
        for f in named {
            let known = self.reach(at, f.chain);
            self.record(at, f, known);
        }
    }

    /// Record in `at`'s log that it reaches `f`, unless `known` (the furthest place on f's
    /// chain it reaches) is as far; whether it was recorded.
    fn record(&mut self, at: Place, f: Place, known: Option<u32>) -> bool {
        if known.is_some_and(|p| p >= f.pos) {
            return false;
        }
        let chain = &mut self.chains[at.chain as usize];
        let entries = chain.log.entry(f.chain).or_default();
        match entries.last_mut() {
            Some(last) if last.0 == at.pos => last.1 = last.1.max(f.pos),
            _ => {
                entries.push((at.pos, f.pos));
                chain.learnt.push((at.pos, f.chain));
            }
        }
        true
    }

    /// Shorten the nesting of chain `chain`, nested [`MAX_BASE_DEPTH`] deep, before a chain
    /// forks from it: its base becomes a copy (a chain of no commits) of what the nearest
    /// [`COPIED_LEVELS`] chains of its bases tell, based on the place past them. What the
    /// chain reaches is unchanged, its own log is not copied, and each chain is shortened at
    /// most once: the chains forking from it later cost nothing more.
    fn shorten_nesting(&mut self, chain: u32) {
        let Some(base) = self.chains[chain as usize].base else {
            return;
        };
        let (known, past) = self.chains_known_above(base, COPIED_LEVELS);
        let copy = self.chains.len() as u32;
        self.chains.push(Chain {
            base: past,
            depth: past.map_or(0, |p| self.chains[p.chain as usize].depth + 1),
            ..Chain::default()
        });
        for on in known {
            if let Some(pos) = self.reach(base, on) {
                let copied = &mut self.chains[copy as usize];
                copied.log.insert(on, vec![(0, pos)]);
                copied.learnt.push((0, on));
            }
        }
        let depth = self.chains[copy as usize].depth + 1;
        let shortened = &mut self.chains[chain as usize];
        shortened.base = Some(Place {
            chain: copy,
            pos: 0,
        });
        shortened.depth = depth;
    }

    /// The chains the first `levels` chains of `at`'s bases (its own first) name, themselves
    /// included, and the place past them.
    fn chains_known_above(&self, at: Place, levels: u32) -> (Vec<u32>, Option<Place>) {
        let mut known = Vec::new();
        let mut on = Some(at);
        for _ in 0..levels {
            let Some(p) = on else { break };
            let chain = &self.chains[p.chain as usize];
            known.push(p.chain);
            known.extend(chain.log.keys());
            on = chain.base;
        }
        known.sort_unstable();
        known.dedup();
        (known, on)
    }

    /// Add the next commit; its parents (numbers of commits already added) in order. It
    /// continues its first parent's chain if no other child did.
    pub fn push(&mut self, parents: &[u32]) {
        self.push_continuing(parents, true);
    }

    /// [`Self::push`], continuing the first parent's chain only if `continues` (and no other
    /// child did): the first-parent line of a branch, so that the chains follow branches.
    pub fn push_continuing(&mut self, parents: &[u32], continues: bool) {
        let first = parents.first().copied();
        let place = match first.filter(|&p| continues && !self.continued[p as usize]) {
            Some(p) => {
                self.continued[p as usize] = true;
                let pp = self.places[p as usize];
                Place {
                    chain: pp.chain,
                    pos: pp.pos + 1,
                }
            }
            None => {
                let base = first.map(|p| self.places[p as usize]);
                if let Some(b) = base {
                    if self.chains[b.chain as usize].depth >= MAX_BASE_DEPTH {
                        self.shorten_nesting(b.chain);
                    }
                }
                let depth = base.map_or(0, |b| self.chains[b.chain as usize].depth + 1);
                let chain = self.chains.len() as u32;
                self.chains.push(Chain {
                    base,
                    depth,
                    ..Chain::default()
                });
                Place { chain, pos: 0 }
            }
        };
        self.places.push(place);
        self.continued.push(false);
        for &p in parents.iter().skip(1) {
            let from = self.places[p as usize];
            self.learn_all(place, from);
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn answers_ancestry() {
        // 0 ← 1 ← 2 ← 4(merge 2,3) ← 5 ; 1 ← 3
        let mut a = Ancestry::default();
        a.push(&[]);
        a.push(&[0]);
        a.push(&[1]);
        a.push(&[1]);
        a.push(&[2, 3]);
        a.push(&[4]);
        assert!(a.is_ancestor(0, 5) && a.is_ancestor(3, 5) && a.is_ancestor(3, 4));
        assert!(!a.is_ancestor(3, 2), "a side branch is not history of main");
        assert!(!a.is_ancestor(2, 3));
        assert!(a.is_ancestor(1, 3));
        assert!(!a.is_ancestor(5, 4));
        assert!(a.is_ancestor(4, 4));
    }

    /// Every pair against a walk of the parents, on random histories: branches off any
    /// commit, merges of any commits (octopus and criss-cross included), several roots.
    #[test]
    fn matches_a_walk_on_random_histories() {
        let mut next = xorshift(0x853c_49e6_748f_ea9bu64);
        for round in 0..40 {
            let n = 30 + (next() % 250) as usize;
            let mut parents: Vec<Vec<u32>> = Vec::new();
            let mut a = Ancestry::default();
            for i in 0..n {
                let mut ps: Vec<u32> = Vec::new();
                if i > 0 && !next().is_multiple_of(40) {
                    // Mostly the previous commit or a recent one; now and then an old one.
                    let back = if next().is_multiple_of(3) {
                        next() % (i as u64)
                    } else {
                        next() % 4
                    };
                    ps.push((i as u64 - 1 - back.min(i as u64 - 1)) as u32);
                    let extra = match next() % 10 {
                        0..=5 => 0,
                        6..=8 => 1,
                        _ => 2,
                    };
                    for _ in 0..extra {
                        let p = (next() % i as u64) as u32;
                        if !ps.contains(&p) {
                            ps.push(p);
                        }
                    }
                }
                a.push_continuing(&ps, !next().is_multiple_of(4));
                parents.push(ps);
            }
            assert_matches_a_walk(&a, &parents, round);
        }
    }

    /// Branches off branches, far deeper than chains nest before one copies what its base
    /// knows, with merges into every level: what the copies take from their bases' logs.
    #[test]
    fn matches_a_walk_on_deeply_nested_branches() {
        let mut next = xorshift(0x2545_f491_4f6c_dd1du64);
        for round in 0..20 {
            let n = 200 + (next() % 200) as usize;
            let mut parents: Vec<Vec<u32>> = vec![Vec::new()];
            let mut a = Ancestry::default();
            a.push(&[]);
            for i in 1..n {
                let mut ps = vec![i as u32 - 1];
                if next().is_multiple_of(3) {
                    let p = (next() % (i as u64 - 1).max(1)) as u32;
                    if !ps.contains(&p) {
                        ps.push(p);
                    }
                }
                // Half the commits branch off the one before: a chain nested in the last.
                a.push_continuing(&ps, next().is_multiple_of(2));
                parents.push(ps);
            }
            assert_matches_a_walk(&a, &parents, round);
        }
    }

    /// Branches forking again and again off one branch nested as deep as chains go, from its
    /// tip and from older commits of it, each merged back: what the nested branches know is
    /// copied once, not on every fork, and every answer matches a walk.
    #[test]
    fn forks_off_a_deeply_nested_branch_copy_its_bases_once() {
        let mut next = xorshift(0x9e37_79b9_7f4a_7c15);
        let mut parents: Vec<Vec<u32>> = vec![Vec::new()];
        let mut a = Ancestry::default();
        a.push(&[]);
        let add = |a: &mut Ancestry, parents: &mut Vec<Vec<u32>>, ps: Vec<u32>, on: bool| {
            a.push_continuing(&ps, on);
            parents.push(ps);
            parents.len() as u32 - 1
        };
        // A main line that 150 one-commit branches merge into: 150 chains to know.
        let mut main = 0;
        for _ in 0..150 {
            let side = add(&mut a, &mut parents, vec![main], false);
            main = add(&mut a, &mut parents, vec![main, side], true);
        }
        // Branches off branches, each two commits long, until the last is MAX_BASE_DEPTH deep.
        let mut deep = main;
        for _ in 0..MAX_BASE_DEPTH {
            deep = add(&mut a, &mut parents, vec![deep], false);
            deep = add(&mut a, &mut parents, vec![deep], true);
        }
        let mut line = vec![deep];
        for round in 0..600 {
            // Mostly from the tip, now and then from an older commit of the deep branch.
            let from = if next().is_multiple_of(5) {
                line[(next() % line.len() as u64) as usize]
            } else {
                deep
            };
            let fork = add(&mut a, &mut parents, vec![from], false);
            let fork = add(&mut a, &mut parents, vec![fork], true);
            deep = add(&mut a, &mut parents, vec![deep, fork], true);
            line.push(deep);
            if round % 100 == 99 {
                // The main line moves on and is merged into the deep branch.
                main = add(&mut a, &mut parents, vec![main], true);
                deep = add(&mut a, &mut parents, vec![deep, main], true);
                line.push(deep);
            }
        }
        // A copy of what the deep branch knew on each fork would hold the 150 branches and the
        // forks merged so far each time: 90,000 entries and up. Once, and a log entry per
        // merge, is about 1,000.
        assert!(a.log_entries() < 2_000, "{}", a.log_entries());
        assert_matches_a_walk(&a, &parents, 0);
    }

    /// A reproducible stream of pseudo-random numbers from `seed` (not zero).
    pub(crate) fn xorshift(mut seed: u64) -> impl FnMut() -> u64 {
        move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        }
    }

    /// Every pair of commits asked of `a` against a walk of their parents.
    fn assert_matches_a_walk(a: &Ancestry, parents: &[Vec<u32>], round: usize) {
        let n = parents.len();
        let mut reach: Vec<Vec<bool>> = Vec::new();
        for i in 0..n {
            let mut r = vec![false; n];
            r[i] = true;
            for &p in &parents[i] {
                for (j, &x) in reach[p as usize].iter().enumerate() {
                    r[j] |= x;
                }
            }
            reach.push(r);
        }
        for (b, reach_b) in reach.iter().enumerate() {
            for (x, &want) in reach_b.iter().enumerate() {
                assert_eq!(
                    a.is_ancestor(x as u32, b as u32),
                    want,
                    "round {round}: is {x} an ancestor of {b}?"
                );
            }
        }
    }

    /// A bors-style history: every change on a branch of its own, merged into main. The logs
    /// grow by about one entry a merge, not by the number of branches at each merge.
    #[test]
    fn merges_cost_their_news() {
        let mut a = Ancestry::default();
        a.push(&[]);
        let mut main = 0u32;
        for _ in 0..2_000 {
            // The branch's first commit comes before the merge, but the main line continues
            // through the merge.
            let fork = main;
            a.push_continuing(&[fork], false);
            let side = a.len() as u32 - 1;
            a.push(&[side]);
            let side = a.len() as u32 - 1;
            a.push(&[main, side]);
            main = a.len() as u32 - 1;
        }
        assert_eq!(a.chains(), 2_001, "one for the main line, one a branch");
        assert!(a.log_entries() <= 2_001, "{}", a.log_entries());
        assert!(a.is_ancestor(1, main) && !a.is_ancestor(main, 1));
    }
}

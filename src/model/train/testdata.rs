//! Datasets the training tests share: the planted fixture and a synthetic generator.

use super::super::dataset::Dataset;
use super::TrainOptions;

const FIXTURE: &str = include_str!("../../../fixtures/datasets/planted.csv");

pub(super) fn fixture() -> Dataset {
    Dataset::parse_str(FIXTURE, "fixtures/datasets/planted.csv").unwrap()
}

/// A tiny deterministic generator so tests need no random-number crate.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// `n` rows where `risky` raises the odds of a bug and `safe` lowers them; `noise` is unrelated.
/// The label is mostly clean, so linfa's "positive" class is the clean one.
pub(super) fn synthetic(n: usize, seed: u64) -> Dataset {
    synthetic_at(n, seed, -2.0)
}

/// [`synthetic`] with another intercept: the higher, the commoner the bugs.
pub(super) fn synthetic_at(n: usize, seed: u64, intercept: f64) -> Dataset {
    let mut rng = Lcg(seed);
    let mut text = String::from("commit_id,author_date,risky,safe,noise,buggy\n");
    for i in 0..n {
        let risky = rng.next() * 4.0 - 2.0;
        let safe = rng.next() * 4.0 - 2.0;
        let noise = rng.next() * 4.0 - 2.0;
        let p = super::super::sigmoid(intercept + 1.5 * risky - 1.0 * safe);
        let buggy = rng.next() < p;
        // Dates run backwards through the file, so the file order is not the time order.
        text.push_str(&format!(
            "c{i},{},{risky},{safe},{noise},{}\n",
            1_000_000 - i as i64 * 60,
            buggy as u8
        ));
    }
    Dataset::parse_str(&text, "synthetic.csv").unwrap()
}

pub(super) fn options(features: &[&str]) -> TrainOptions {
    TrainOptions {
        features: Some(features.iter().map(|s| s.to_string()).collect()),
        ..TrainOptions::default()
    }
}

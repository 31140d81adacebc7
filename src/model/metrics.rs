//! Ranking and calibration metrics of risk scores against labels.
//!
//! Pure. Every metric that is undefined for its input (no rows, or only one class) is `None`,
//! never NaN, so it serialises as `null`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::effort::EffortAware;

/// The fractions `recall_at` is reported at, with their JSON keys.
pub const RECALL_FRACTIONS: [(f64, &str); 3] = [(0.05, "0.05"), (0.1, "0.1"), (0.2, "0.2")];

/// The metrics object of `riskgate eval` and of a model's hold-out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    pub rows: usize,
    pub positives: usize,
    /// ROC-AUC.
    pub auc: Option<f64>,
    /// Average precision.
    pub pr_auc: Option<f64>,
    pub brier: Option<f64>,
    /// Share of all positives among the riskiest 5%, 10% and 20% of rows.
    pub recall_at: BTreeMap<String, Option<f64>>,
    /// ROC-AUC of ranking by raw `la` (lines added) alone; `None` without an `la` column.
    pub baseline_la_auc: Option<f64>,
    /// Recall at 20% of changed lines and Popt; absent without `la` and `ld` columns (and in
    /// model files written before they were measured).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effort_aware: Option<EffortAware>,
}

/// One bin of a reliability (calibration) curve.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReliabilityBin {
    pub lower: f64,
    pub upper: f64,
    /// Mean predicted probability of the rows in the bin; `None` for an empty bin.
    pub mean_predicted: Option<f64>,
    /// Share of positives among them; `None` for an empty bin.
    pub observed_rate: Option<f64>,
    pub count: usize,
}

/// Ascending ranks (1-based), tied values sharing the average of the ranks they span.
fn average_ranks(scores: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    let mut ranks = vec![0.0; scores.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && scores[order[j + 1]] == scores[order[i]] {
            j += 1;
        }
        // Positions i..=j (0-based) hold ranks i+1..=j+1.
        let rank = (i + j) as f64 / 2.0 + 1.0;
        for &k in &order[i..=j] {
            ranks[k] = rank;
        }
        i = j + 1;
    }
    ranks
}

fn counts(labels: &[bool]) -> (usize, usize) {
    let p = labels.iter().filter(|&&l| l).count();
    (p, labels.len() - p)
}

/// ROC-AUC as the Mann-Whitney statistic: the probability that a random positive scores above
/// a random negative, ties counting one half. `None` unless both classes are present.
pub fn roc_auc(scores: &[f64], labels: &[bool]) -> Option<f64> {
    assert_eq!(scores.len(), labels.len(), "one label per score");
    let (p, n) = counts(labels);
    if p == 0 || n == 0 {
        return None;
    }
    let ranks = average_ranks(scores);
    let rank_sum: f64 = ranks
        .iter()
        .zip(labels)
        .filter(|(_, &l)| l)
        .map(|(r, _)| r)
        .sum();
    let p = p as f64;
    Some((rank_sum - p * (p + 1.0) / 2.0) / (p * n as f64))
}

/// Groups of tied scores from the highest down: (rows, positives) per group.
fn groups_descending(scores: &[f64], labels: &[bool]) -> Vec<(usize, usize)> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let mut groups: Vec<(usize, usize)> = Vec::new();
    let mut last: Option<f64> = None;
    for &i in &order {
        if last != Some(scores[i]) {
            groups.push((0, 0));
            last = Some(scores[i]);
        }
        let g = groups.last_mut().expect("a group was pushed");
        g.0 += 1;
        g.1 += labels[i] as usize;
    }
    groups
}

/// Average precision: Σ over score thresholds of precision × gain in recall, tied scores
/// taken together. `None` without positives.
pub fn pr_auc(scores: &[f64], labels: &[bool]) -> Option<f64> {
    assert_eq!(scores.len(), labels.len(), "one label per score");
    let (p, _) = counts(labels);
    if p == 0 {
        return None;
    }
    let (mut seen, mut hits, mut ap) = (0usize, 0usize, 0.0);
    for (rows, positives) in groups_descending(scores, labels) {
        seen += rows;
        hits += positives;
        if positives > 0 {
            ap += (hits as f64 / seen as f64) * (positives as f64 / p as f64);
        }
    }
    Some(ap)
}

/// ROC curve points (false positive rate, true positive rate) from (0, 0) to (1, 1), one per
/// group of tied scores from the highest down. Empty unless both classes are present.
pub fn roc_curve(scores: &[f64], labels: &[bool]) -> Vec<(f64, f64)> {
    assert_eq!(scores.len(), labels.len(), "one label per score");
    let (p, n) = counts(labels);
    if p == 0 || n == 0 {
        return Vec::new();
    }
    let mut points = vec![(0.0, 0.0)];
    let (mut tp, mut fp) = (0usize, 0usize);
    for (rows, positives) in groups_descending(scores, labels) {
        tp += positives;
        fp += rows - positives;
        points.push((fp as f64 / n as f64, tp as f64 / p as f64));
    }
    points
}

/// Mean squared difference between probability and outcome. `None` for no rows.
pub fn brier(probabilities: &[f64], labels: &[bool]) -> Option<f64> {
    assert_eq!(probabilities.len(), labels.len(), "one label per score");
    if labels.is_empty() {
        return None;
    }
    let sum: f64 = probabilities
        .iter()
        .zip(labels)
        .map(|(p, &y)| (p - y as u8 as f64).powi(2))
        .sum();
    Some(sum / labels.len() as f64)
}

/// Share of all positives found among the riskiest `ceil(fraction × n)` rows. Rows tied with
/// the last one taken count in proportion (their expected share), so the order of tied rows
/// does not matter. `None` without positives.
pub fn recall_at(scores: &[f64], labels: &[bool], fraction: f64) -> Option<f64> {
    assert_eq!(scores.len(), labels.len(), "one label per score");
    let (p, _) = counts(labels);
    if p == 0 {
        return None;
    }
    // The small allowance keeps 0.1 × 25150 = 2515.0000000000005 from rounding up to 2516.
    let k = ((fraction.clamp(0.0, 1.0) * labels.len() as f64) - 1e-9)
        .ceil()
        .max(0.0) as usize;
    let mut left = k;
    let mut found = 0.0;
    for (rows, positives) in groups_descending(scores, labels) {
        if left == 0 {
            break;
        }
        let take = rows.min(left);
        found += positives as f64 * take as f64 / rows as f64;
        left -= take;
    }
    Some(found / p as f64)
}

/// Reliability curve over `bins` equal-width bins of [0, 1]; a probability of exactly 1 falls
/// in the last bin.
pub fn reliability(probabilities: &[f64], labels: &[bool], bins: usize) -> Vec<ReliabilityBin> {
    assert_eq!(probabilities.len(), labels.len(), "one label per score");
    let bins = bins.max(1);
    let mut sum_p = vec![0.0; bins];
    let mut sum_y = vec![0usize; bins];
    let mut count = vec![0usize; bins];
    for (&p, &y) in probabilities.iter().zip(labels) {
        let b = ((p.clamp(0.0, 1.0) * bins as f64) as usize).min(bins - 1);
        sum_p[b] += p;
        sum_y[b] += y as usize;
        count[b] += 1;
    }
    (0..bins)
        .map(|b| ReliabilityBin {
            lower: b as f64 / bins as f64,
            upper: (b + 1) as f64 / bins as f64,
            mean_predicted: (count[b] > 0).then(|| sum_p[b] / count[b] as f64),
            observed_rate: (count[b] > 0).then(|| sum_y[b] as f64 / count[b] as f64),
            count: count[b],
        })
        .collect()
}

impl Metrics {
    /// Metrics of predicted probabilities. `la` holds the raw lines-added value per row, when
    /// the data has that column; rows without a value are left out of the baseline.
    pub fn compute(probabilities: &[f64], labels: &[bool], la: Option<&[Option<f64>]>) -> Metrics {
        let baseline_la_auc = la.and_then(|la| {
            assert_eq!(la.len(), labels.len(), "one la value per row");
            let (scores, ys): (Vec<f64>, Vec<bool>) = la
                .iter()
                .zip(labels)
                .filter_map(|(v, &y)| v.filter(|v| v.is_finite()).map(|v| (v, y)))
                .unzip();
            roc_auc(&scores, &ys)
        });
        Metrics {
            rows: labels.len(),
            positives: counts(labels).0,
            auc: roc_auc(probabilities, labels),
            pr_auc: pr_auc(probabilities, labels),
            brier: brier(probabilities, labels),
            recall_at: RECALL_FRACTIONS
                .iter()
                .map(|&(f, key)| (key.to_string(), recall_at(probabilities, labels, f)))
                .collect(),
            baseline_la_auc,
            effort_aware: None,
        }
    }

    /// These metrics with the effort-aware figures, given each row's changed lines.
    pub fn with_effort(
        mut self,
        probabilities: &[f64],
        labels: &[bool],
        changed_lines: &[f64],
    ) -> Metrics {
        self.effort_aware = Some(EffortAware::compute(probabilities, labels, changed_lines));
        self
    }

    /// Recall among the riskiest 10%, as reported in tables.
    pub fn recall_at_10(&self) -> Option<f64> {
        self.recall_at.get("0.1").copied().flatten()
    }
}

/// At most `max` (at least 2) points of a curve, spread evenly along it; the first and last
/// are always kept. Charts and model files stay small; the shape at that resolution is kept.
pub fn thin_curve(points: &[(f64, f64)], max: usize) -> Vec<(f64, f64)> {
    let max = max.max(2);
    if points.len() <= max {
        return points.to_vec();
    }
    let last = points.len() - 1;
    (0..max)
        .map(|i| points[(i * last + (max - 1) / 2) / (max - 1)])
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: Option<f64>, b: f64) -> bool {
        a.is_some_and(|a| (a - b).abs() < 1e-12)
    }

    #[test]
    fn auc_of_a_hand_computed_case() {
        // Positives 0.35 and 0.8 against negatives 0.1 and 0.4: of the four pairs only
        // (0.35, 0.4) is out of order.
        let auc = roc_auc(&[0.1, 0.4, 0.35, 0.8], &[false, false, true, true]);
        assert!(close(auc, 0.75), "{auc:?}");
    }

    #[test]
    fn auc_counts_ties_as_half() {
        // Pairs: (0.5 vs 0.5) tie = 0.5, (0.5 vs 0.2) = 1, (0.9 vs 0.5) = 1, (0.9 vs 0.2) = 1.
        let auc = roc_auc(&[0.5, 0.5, 0.2, 0.9], &[true, false, false, true]);
        assert!(close(auc, 3.5 / 4.0), "{auc:?}");
        // All scores equal: no information.
        let auc = roc_auc(&[1.0, 1.0, 1.0], &[true, false, false]);
        assert!(close(auc, 0.5), "{auc:?}");
    }

    #[test]
    fn perfect_and_reversed_ranking() {
        assert!(close(roc_auc(&[0.1, 0.2, 0.9], &[false, false, true]), 1.0));
        assert!(close(roc_auc(&[0.9, 0.8, 0.1], &[false, false, true]), 0.0));
    }

    #[test]
    fn one_class_gives_none_not_nan() {
        let scores = [0.1, 0.5, 0.9];
        assert_eq!(roc_auc(&scores, &[true, true, true]), None);
        assert_eq!(roc_auc(&scores, &[false, false, false]), None);
        assert_eq!(pr_auc(&scores, &[false, false, false]), None);
        assert_eq!(recall_at(&scores, &[false, false, false], 0.1), None);
        assert_eq!(brier(&[], &[]), None);
        let m = Metrics::compute(&scores, &[false, false, false], None);
        let json = serde_json::to_value(&m).unwrap();
        assert!(json["auc"].is_null());
        assert!(json["recall_at"]["0.1"].is_null());
        assert!(close(m.brier, (0.01 + 0.25 + 0.81) / 3.0));
    }

    #[test]
    fn average_precision_by_hand() {
        // Ranked: 0.8 (pos), 0.4 (neg), 0.35 (pos), 0.1 (neg).
        // Precision at each positive: 1/1 and 2/3; AP = (1 + 2/3) / 2.
        let ap = pr_auc(&[0.1, 0.4, 0.35, 0.8], &[false, false, true, true]);
        assert!(close(ap, (1.0 + 2.0 / 3.0) / 2.0), "{ap:?}");
        // A tie between a positive and a negative at the top: precision 1/2 for that recall.
        let ap = pr_auc(&[0.9, 0.9, 0.1], &[true, false, false]);
        assert!(close(ap, 0.5), "{ap:?}");
    }

    #[test]
    fn brier_by_hand() {
        let b = brier(&[0.9, 0.2, 0.5], &[true, false, true]);
        assert!(close(b, (0.01 + 0.04 + 0.25) / 3.0), "{b:?}");
    }

    #[test]
    fn recall_at_by_hand() {
        // 10 rows, positives at scores 0.95, 0.6, 0.3. ceil(0.2 × 10) = 2 riskiest: 0.95 (pos),
        // 0.9 (neg) → 1 of 3. ceil(0.05 × 10) = 1 → 1 of 3. 50%: five riskiest hold 0.95, 0.6.
        let scores = [0.95, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1];
        let labels = [
            true, false, false, false, true, false, false, true, false, false,
        ];
        assert!(close(recall_at(&scores, &labels, 0.2), 1.0 / 3.0));
        assert!(close(recall_at(&scores, &labels, 0.05), 1.0 / 3.0));
        assert!(close(recall_at(&scores, &labels, 0.5), 2.0 / 3.0));
        assert!(close(recall_at(&scores, &labels, 1.0), 1.0));
        // ceil(0.21 × 10) = 3 rows.
        assert!(close(recall_at(&scores, &labels, 0.21), 1.0 / 3.0));
    }

    #[test]
    fn recall_at_shares_a_tie_at_the_cut() {
        // One row is taken from a tie of two rows, one of them positive: half a positive.
        let r = recall_at(&[0.5, 0.5, 0.1, 0.1], &[true, false, true, false], 0.25);
        assert!(close(r, 0.25), "{r:?}");
    }

    #[test]
    fn reliability_bins() {
        let bins = reliability(
            &[0.05, 0.15, 0.12, 1.0, 0.95],
            &[false, true, false, true, false],
            10,
        );
        assert_eq!(bins.len(), 10);
        assert_eq!(bins[0].count, 1);
        assert_eq!(bins[1].count, 2);
        assert!(close(bins[1].mean_predicted, 0.135));
        assert!(close(bins[1].observed_rate, 0.5));
        assert_eq!(bins[5].count, 0);
        assert_eq!(bins[5].mean_predicted, None);
        assert_eq!(bins[9].count, 2);
        assert!((bins[9].upper - 1.0).abs() < 1e-12);
    }

    #[test]
    fn metrics_serialise_to_the_eval_format() {
        let la = [Some(1.0), Some(10.0), None, Some(30.0)];
        let m = Metrics::compute(
            &[0.1, 0.4, 0.35, 0.8],
            &[false, false, true, true],
            Some(&la),
        );
        let json = serde_json::to_value(&m).unwrap();
        let keys: Vec<&str> = json
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let mut expected = vec![
            "rows",
            "positives",
            "auc",
            "pr_auc",
            "brier",
            "recall_at",
            "baseline_la_auc",
        ];
        expected.sort();
        let mut keys_sorted = keys.clone();
        keys_sorted.sort();
        assert_eq!(keys_sorted, expected);
        assert_eq!(json["rows"], 4);
        assert_eq!(json["positives"], 2);
        let recall_keys: Vec<&str> = json["recall_at"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(recall_keys, ["0.05", "0.1", "0.2"]);
        // Baseline on the three rows with `la`: positive 30 against negatives 1 and 10.
        assert!(close(m.baseline_la_auc, 1.0));
        assert_eq!(
            Metrics::compute(&[0.5], &[true], None).baseline_la_auc,
            None
        );
    }

    #[test]
    fn roc_curve_runs_corner_to_corner_and_its_area_is_the_auc() {
        let scores = [0.9, 0.8, 0.8, 0.3, 0.1];
        let labels = [true, false, true, false, false];
        let c = roc_curve(&scores, &labels);
        assert_eq!(c.first(), Some(&(0.0, 0.0)));
        assert_eq!(c.last(), Some(&(1.0, 1.0)));
        let area: f64 = c
            .windows(2)
            .map(|w| (w[1].0 - w[0].0) * (w[0].1 + w[1].1) / 2.0)
            .sum();
        assert!((area - roc_auc(&scores, &labels).unwrap()).abs() < 1e-12);
        assert!(roc_curve(&[0.5], &[true]).is_empty());
    }
}

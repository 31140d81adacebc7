//! Effort-aware ranking metrics: how much trouble a reviewer finds per line read.
//!
//! Pure. AUC treats a 2,000-line change and a 2-line one alike, but reviewing the first costs a
//! thousand times more. These metrics follow Kamei et al. (2013) and Mende & Koschke (2010):
//! changes are read in order of predicted risk per changed line, and the curve plots the share
//! of troubled changes found (y) against the share of all changed lines read (x).
//!
//! - `recall_at_effort(f)`: the curve's height at x = f (20% is the figure usually reported).
//! - `popt`: the area under the curve, placed between the worst order (clean changes first,
//!   then troubled ones largest first) as 0 and the best (troubled changes first, smallest
//!   first) as 1.
//!
//! A change's effort is its changed lines (added + deleted), at least 1, so a change that only
//! renames or changes modes still costs a look. Changes tied in risk per line are read
//! together: their stretch of the curve is a straight line, the expected curve of reading them
//! in any order, so the figures do not depend on the order of tied rows. Every metric is `None`
//! when it is undefined (no rows, no troubled change).

use serde::{Deserialize, Serialize};

/// The share of changed lines at which `recall_at_effort` is reported.
pub const EFFORT_FRACTION: f64 = 0.2;

/// Effort-aware figures of one set of predictions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EffortAware {
    /// Share of troubled changes found after reading the riskiest-per-line changes that make up
    /// 20% of all changed lines.
    pub recall_at_20_percent_of_lines: Option<f64>,
    /// Normalised area under the effort curve: 1 for the best possible order, 0 for the worst.
    pub popt: Option<f64>,
    /// The same two figures with no model at all, reading the smallest changes first (what
    /// any constant score does once divided by lines): the bar a model must clear. Small
    /// changes are many, and many of them are troubled, so it is often high.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smallest_first: Option<EffortBaseline>,
}

/// The effort-aware figures of reading the smallest changes first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EffortBaseline {
    pub recall_at_20_percent_of_lines: Option<f64>,
    pub popt: Option<f64>,
}

impl EffortAware {
    /// The figures of `probabilities` against `labels`, with `changed_lines` per row.
    pub fn compute(probabilities: &[f64], labels: &[bool], changed_lines: &[f64]) -> EffortAware {
        EffortAware {
            recall_at_20_percent_of_lines: recall_at_effort(
                probabilities,
                labels,
                changed_lines,
                EFFORT_FRACTION,
            ),
            popt: popt(probabilities, labels, changed_lines),
            smallest_first: {
                let constant = vec![1.0; labels.len()];
                Some(EffortBaseline {
                    recall_at_20_percent_of_lines: recall_at_effort(
                        &constant,
                        labels,
                        changed_lines,
                        EFFORT_FRACTION,
                    ),
                    popt: popt(&constant, labels, changed_lines),
                })
            },
        }
    }
}

/// The cost of reading a change: its changed lines, at least one; a missing or nonsensical
/// count costs one line too.
fn effort_of(changed_lines: f64) -> f64 {
    if changed_lines.is_finite() {
        changed_lines.max(1.0)
    } else {
        1.0
    }
}

/// The effort curve of reading rows in descending order of `key`, rows with equal keys read
/// together: points (share of effort, share of positives) from (0, 0) to (1, 1). `None` without
/// rows or without positives.
fn curve(keys: &[f64], labels: &[bool], effort: &[f64]) -> Option<Vec<(f64, f64)>> {
    let total_effort: f64 = effort.iter().sum();
    let positives = labels.iter().filter(|&&l| l).count();
    if labels.is_empty() || positives == 0 || total_effort <= 0.0 {
        return None;
    }
    let mut order: Vec<usize> = (0..keys.len()).collect();
    order.sort_by(|&a, &b| keys[b].total_cmp(&keys[a]));
    let mut points = vec![(0.0, 0.0)];
    let (mut read, mut found) = (0.0, 0usize);
    let mut i = 0;
    while i < order.len() {
        let key = keys[order[i]];
        while i < order.len() && keys[order[i]].total_cmp(&key).is_eq() {
            read += effort[order[i]];
            found += labels[order[i]] as usize;
            i += 1;
        }
        points.push((read / total_effort, found as f64 / positives as f64));
    }
    Some(points)
}

fn area(points: &[(f64, f64)]) -> f64 {
    points
        .windows(2)
        .map(|w| (w[1].0 - w[0].0) * (w[0].1 + w[1].1) / 2.0)
        .sum()
}

/// The height of a curve at `x`, along the straight stretch that spans it.
fn height_at(points: &[(f64, f64)], x: f64) -> f64 {
    for w in points.windows(2) {
        let ((x0, y0), (x1, y1)) = (w[0], w[1]);
        if x <= x1 {
            if x1 <= x0 {
                return y1;
            }
            return y0 + (y1 - y0) * (x - x0) / (x1 - x0);
        }
    }
    points.last().map_or(0.0, |p| p.1)
}

/// Rows in the model's reading order: risk per changed line.
fn model_keys(scores: &[f64], effort: &[f64]) -> Vec<f64> {
    scores.iter().zip(effort).map(|(s, e)| s / e).collect()
}

fn efforts(changed_lines: &[f64]) -> Vec<f64> {
    changed_lines.iter().copied().map(effort_of).collect()
}

/// Share of positives found after reading `fraction` of all changed lines, riskiest per line
/// first. `None` without positives.
pub fn recall_at_effort(
    scores: &[f64],
    labels: &[bool],
    changed_lines: &[f64],
    fraction: f64,
) -> Option<f64> {
    assert_eq!(scores.len(), labels.len(), "one label per score");
    assert_eq!(scores.len(), changed_lines.len(), "one effort per score");
    let effort = efforts(changed_lines);
    let points = curve(&model_keys(scores, &effort), labels, &effort)?;
    Some(height_at(&points, fraction.clamp(0.0, 1.0)))
}

/// Popt: `1 - (A_best - A_model) / (A_best - A_worst)` over the areas under the effort curves.
/// `None` without positives, or when every order reads the same curve (only positives, say).
pub fn popt(scores: &[f64], labels: &[bool], changed_lines: &[f64]) -> Option<f64> {
    assert_eq!(scores.len(), labels.len(), "one label per score");
    assert_eq!(scores.len(), changed_lines.len(), "one effort per score");
    let effort = efforts(changed_lines);
    let density: Vec<f64> = labels
        .iter()
        .zip(&effort)
        .map(|(&y, e)| y as u8 as f64 / e)
        .collect();
    let worst_keys: Vec<f64> = density.iter().map(|d| -d).collect();
    let model = area(&curve(&model_keys(scores, &effort), labels, &effort)?);
    let best = area(&curve(&density, labels, &effort)?);
    let worst = area(&curve(&worst_keys, labels, &effort)?);
    let span = best - worst;
    (span > 1e-12).then(|| (1.0 - (best - model) / span).clamp(0.0, 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: Option<f64>, b: f64) -> bool {
        a.is_some_and(|a| (a - b).abs() < 1e-9)
    }

    // Four changes: a small and a large one troubled, a small and a large one clean.
    const LINES: [f64; 4] = [10.0, 10.0, 40.0, 40.0];
    const TROUBLED: [bool; 4] = [true, false, true, false];

    #[test]
    fn popt_of_a_hand_computed_case() {
        // Best order: 10 T, 40 T, then the clean: area 0.025 + 0.3 + 0.5 = 0.825.
        // Worst: the clean (50 lines), 40 T, 10 T: area 0.1 + 0.075 = 0.175.
        // These scores read 10 T, 10 F, 40 T, 40 F: area 0.025 + 0.05 + 0.3 + 0.4 = 0.775.
        let scores = [0.9, 0.8, 0.1, 0.05];
        let expected = 1.0 - (0.825 - 0.775) / (0.825 - 0.175);
        assert!(close(popt(&scores, &TROUBLED, &LINES), expected));
        // After 20% of the lines (the two small changes) one of the two troubled is found.
        assert!(close(
            recall_at_effort(&scores, &TROUBLED, &LINES, 0.2),
            0.5
        ));
        // Halfway through the next (40-line) change, a quarter of the way up to it.
        assert!(close(
            recall_at_effort(&scores, &TROUBLED, &LINES, 0.4),
            0.75
        ));
    }

    /// The baseline reads the smallest changes first: here both 10-line changes, one of the
    /// two troubled, make up 20% of the lines.
    #[test]
    fn the_baseline_reads_the_smallest_changes_first() {
        let model = EffortAware::compute(&[0.1, 0.9, 0.2, 0.8], &TROUBLED, &LINES);
        let baseline = model.smallest_first.unwrap();
        assert!(close(baseline.recall_at_20_percent_of_lines, 0.5));
        // A constant score reads the same curve as any score that ranks by size alone.
        assert!(close(
            baseline.popt,
            popt(&[1.0; 4], &TROUBLED, &LINES).unwrap()
        ));
        assert_ne!(model.popt, baseline.popt);
    }

    #[test]
    fn the_best_and_worst_orders_score_one_and_zero() {
        let best = [0.9, 0.0, 0.5, 0.0];
        assert!(close(popt(&best, &TROUBLED, &LINES), 1.0));
        let worst = [0.01, 0.5, 0.4, 0.9];
        assert!(close(popt(&worst, &TROUBLED, &LINES), 0.0));
    }

    #[test]
    fn risk_is_read_per_line_not_per_change() {
        // The large troubled change has the highest probability, but per line the small one
        // is riskier: it is read first.
        let scores = [0.3, 0.0, 0.4, 0.0];
        assert!(close(
            recall_at_effort(&scores, &TROUBLED, &LINES, 0.1),
            0.5
        ));
    }

    #[test]
    fn tied_rows_do_not_depend_on_their_order() {
        let scores = [0.5, 0.5, 0.5, 0.5];
        let lines = [10.0, 10.0, 10.0, 10.0];
        let a = popt(&scores, &[true, false, false, false], &lines);
        let b = popt(&scores, &[false, false, false, true], &lines);
        assert_eq!(a, b);
        // Reading all four together, 20% of the lines finds 20% of the trouble.
        assert!(close(
            recall_at_effort(&scores, &[true, false, false, false], &lines, 0.2),
            0.2
        ));
    }

    #[test]
    fn undefined_cases_are_none() {
        assert_eq!(popt(&[], &[], &[]), None);
        assert_eq!(popt(&[0.5, 0.1], &[false, false], &[3.0, 4.0]), None);
        assert_eq!(
            recall_at_effort(&[0.5], &[false], &[3.0], EFFORT_FRACTION),
            None
        );
        // Only troubled changes: every order reads the same curve.
        assert_eq!(popt(&[0.5, 0.1], &[true, true], &[3.0, 3.0]), None);
    }

    #[test]
    fn zero_and_nonsense_line_counts_cost_one_line() {
        let scores = [0.9, 0.1];
        let labels = [true, false];
        let a = EffortAware::compute(&scores, &labels, &[0.0, f64::NAN]);
        let b = EffortAware::compute(&scores, &labels, &[1.0, 1.0]);
        assert_eq!(a, b);
        assert!(close(a.recall_at_20_percent_of_lines, 0.4));
    }
}

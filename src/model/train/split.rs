//! The chronological split of one dataset into fit, validation and test rows.

use super::super::dataset::Dataset;

/// Share of each dataset (by date) held out for testing, and share of the training part used
/// to choose the regularisation.
pub const TEST_FRACTION: f64 = 0.2;
pub const VALIDATION_FRACTION: f64 = 0.2;

/// Rows of one dataset in the three chronological parts, as indices into `Dataset::rows`.
#[derive(Debug, Clone, PartialEq)]
pub struct Split {
    /// The earliest part of training: the fit while alpha is chosen.
    pub fit: Vec<usize>,
    /// The rest of training: where alpha is chosen.
    pub validation: Vec<usize>,
    /// The latest 20%: the hold-out.
    pub test: Vec<usize>,
}

impl Split {
    /// All training rows, oldest first.
    pub fn train(&self) -> Vec<usize> {
        self.fit.iter().chain(&self.validation).copied().collect()
    }
}

/// Smallest dataset that can be split into non-empty fit, validation and test parts.
pub const MIN_ROWS: usize = 10;

/// Sorts rows by author date (file order among equal dates) and splits them chronologically.
pub fn chronological_split(dataset: &Dataset) -> Split {
    let mut order: Vec<usize> = (0..dataset.rows.len()).collect();
    order.sort_by_key(|&i| (dataset.rows[i].author_date, i));
    let n = order.len();
    let n_train = ((n as f64) * (1.0 - TEST_FRACTION)).round() as usize;
    let n_fit = ((n_train as f64) * (1.0 - VALIDATION_FRACTION)).round() as usize;
    Split {
        fit: order[..n_fit].to_vec(),
        validation: order[n_fit..n_train].to_vec(),
        test: order[n_train..].to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::super::testdata::fixture;
    use super::*;

    #[test]
    fn split_is_chronological() {
        let d = fixture();
        let s = chronological_split(&d);
        assert_eq!(
            s.fit.len() + s.validation.len() + s.test.len(),
            d.rows.len()
        );
        assert_eq!(s.test.len(), 40);
        assert_eq!(s.validation.len(), 32);
        let date = |r: &usize| d.rows[*r].author_date;
        let fit_max = s.fit.iter().map(date).max().unwrap();
        let val_min = s.validation.iter().map(date).min().unwrap();
        let val_max = s.validation.iter().map(date).max().unwrap();
        let test_min = s.test.iter().map(date).min().unwrap();
        assert!(fit_max <= val_min && val_max <= test_min);
        // The test rows are exactly the 40 latest dates.
        let mut dates: Vec<i64> = d.rows.iter().map(|r| r.author_date).collect();
        dates.sort();
        let mut test_dates: Vec<i64> = s.test.iter().map(date).collect();
        test_dates.sort();
        assert_eq!(test_dates, dates[160..]);
        // The fixture is not in date order, so sorting mattered.
        assert_ne!(s.test, (160..200).collect::<Vec<_>>());
    }
}

//! Regression metrics: how far predicted values are from the true ones (RMSE, MAE),
//! how much of the truth's variance they explain (R²), and how well they order the
//! examples (Pearson's and Spearman's correlations). Each follows scikit-learn's or
//! SciPy's definition at its default settings.

use serde::{Deserialize, Serialize};

/// Every metric this project reports for a regression model on one data split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegressionReport {
    /// How many examples were scored.
    pub examples: usize,
    /// Root mean squared error, in the target's units.
    pub rmse: f64,
    /// Mean absolute error, in the target's units.
    pub mae: f64,
    /// Coefficient of determination: 1 − residual / total sum of squares. With a
    /// constant truth it is 1 for exact predictions and 0 otherwise (scikit-learn's
    /// `force_finite`).
    pub r2: f64,
    /// Pearson's correlation of predicted with true values; `None` where either is
    /// constant (undefined: SciPy's NaN).
    pub pearson: Option<f64>,
    /// Spearman's rank correlation (ties share their average rank); `None` where
    /// either side is constant.
    pub spearman: Option<f64>,
}

impl RegressionReport {
    /// The report of `predicted` against `truth`, one value per example.
    pub fn new(truth: &[f64], predicted: &[f64]) -> Self {
        assert_eq!(truth.len(), predicted.len(), "one prediction per example");
        let examples = truth.len();
        let n = examples.max(1) as f64;
        let residuals = || truth.iter().zip(predicted).map(|(t, p)| t - p);
        let squared_error: f64 = residuals().map(|r| r * r).sum();
        let mean_truth = truth.iter().sum::<f64>() / n;
        let total: f64 = truth.iter().map(|t| (t - mean_truth).powi(2)).sum();
        let r2 = match (total == 0.0, squared_error == 0.0) {
            (false, _) => 1.0 - squared_error / total,
            (true, true) => 1.0,
            (true, false) => 0.0,
        };
        Self {
            examples,
            rmse: (squared_error / n).sqrt(),
            mae: residuals().map(f64::abs).sum::<f64>() / n,
            r2,
            pearson: pearson(truth, predicted),
            spearman: pearson(&average_ranks(truth), &average_ranks(predicted)),
        }
    }
}

/// Pearson's correlation, `None` where either side has no variance.
fn pearson(a: &[f64], b: &[f64]) -> Option<f64> {
    assert_eq!(a.len(), b.len(), "paired values");
    let n = a.len() as f64;
    let (mean_a, mean_b) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
    let (mut ab, mut aa, mut bb) = (0.0, 0.0, 0.0);
    for (x, y) in a.iter().zip(b) {
        let (dx, dy) = (x - mean_a, y - mean_b);
        ab += dx * dy;
        aa += dx * dx;
        bb += dy * dy;
    }
    (aa > 0.0 && bb > 0.0).then(|| (ab / (aa * bb).sqrt()).clamp(-1.0, 1.0))
}

/// Each value's rank from 1, ties sharing the mean of the ranks they span.
fn average_ranks(values: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&i, &j| values[i].total_cmp(&values[j]));
    let mut ranks = vec![0.0; values.len()];
    let mut start = 0;
    while start < order.len() {
        let tied = order[start..]
            .iter()
            .take_while(|&&i| values[i] == values[order[start]])
            .count();
        // Ranks start..start+tied (0-based) → their mean, 1-based.
        let rank = start as f64 + (tied as f64 + 1.0) / 2.0;
        for &i in &order[start..start + tied] {
            ranks[i] = rank;
        }
        start += tied;
    }
    ranks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tied_values_share_their_average_rank() {
        assert_eq!(
            average_ranks(&[3.0, 1.0, 3.0, 2.0, 3.0]),
            [4.0, 1.0, 4.0, 2.0, 4.0]
        );
    }

    /// A perfect prediction and one that is off by a constant: the same order.
    #[test]
    fn a_shift_keeps_the_correlations_and_costs_its_size() {
        let truth = [1.0, 2.0, 4.0, 8.0];
        let shifted: Vec<f64> = truth.iter().map(|t| t + 0.5).collect();
        let report = RegressionReport::new(&truth, &shifted);
        assert!((report.rmse - 0.5).abs() < 1e-12 && (report.mae - 0.5).abs() < 1e-12);
        assert!((report.pearson.unwrap() - 1.0).abs() < 1e-12);
        assert_eq!(report.spearman, Some(1.0));
    }
}

//! Mean and spread over seeds.

use serde::{Deserialize, Serialize};

/// Mean and sample standard deviation of a number over `n` runs (std 0 for one run).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Stat {
    /// The mean.
    pub mean: f64,
    /// The sample standard deviation (0 for one value).
    pub std: f64,
    /// How many values.
    pub n: usize,
}

impl Stat {
    /// The mean and spread of `values`.
    pub fn of(values: impl IntoIterator<Item = f64>) -> Self {
        let values: Vec<f64> = values.into_iter().collect();
        let n = values.len();
        if n == 0 {
            return Self {
                mean: f64::NAN,
                std: f64::NAN,
                n,
            };
        }
        let mean = values.iter().sum::<f64>() / n as f64;
        let std = if n > 1 {
            let squares: f64 = values.iter().map(|v| (v - mean).powi(2)).sum();
            (squares / (n - 1) as f64).sqrt()
        } else {
            0.0
        };
        Self { mean, std, n }
    }

    /// `0.9685`, or `0.9685 ± 0.0012` over several runs, with `decimals` digits.
    pub fn show(&self, decimals: usize) -> String {
        if self.n > 1 {
            format!("{:.*} ± {:.*}", decimals, self.mean, decimals, self.std)
        } else {
            format!("{:.*}", decimals, self.mean)
        }
    }
}

/// Below this macro-F1 difference a single-seed comparison calls the modes even: the
/// size of run-to-run differences seen on small validation sets.
pub(crate) const SINGLE_SEED_NOISE: f64 = 0.01;

/// The smallest macro-F1 difference between models worth calling real: the largest
/// spread over seeds among `f1`, or [`SINGLE_SEED_NOISE`] when any has one run.
pub(crate) fn noise(f1: &[Stat]) -> f64 {
    if f1.iter().all(|s| s.n > 1) {
        f1.iter().map(|s| s.std).fold(0.0, f64::max)
    } else {
        SINGLE_SEED_NOISE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sample_standard_deviation() {
        // 2, 4, 4, 4, 5, 5, 7, 9: mean 5, squared deviations sum to 32, /7.
        let s = Stat::of([2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]);
        assert_eq!(s.mean, 5.0);
        assert!((s.std - (32.0f64 / 7.0).sqrt()).abs() < 1e-12);
        assert_eq!(Stat::of([0.5]).std, 0.0);
        assert_eq!(Stat::of([0.5]).show(2), "0.50");
        assert_eq!(Stat::of([1.0, 3.0]).show(1), "2.0 ± 1.4");
    }
}

//! How the learning rate moves over training, in both modes.

use serde::{Deserialize, Serialize};

/// How the learning rate moves over training.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Schedule {
    /// The base rate throughout.
    Constant,
    /// From the base rate down to zero along a half cosine.
    #[default]
    Cosine,
    /// From the base rate down to zero along a line.
    Linear,
}

settings::serde_names!(Schedule);

impl Schedule {
    /// The learning rate at `step` of `total`.
    pub fn rate(self, base: f64, step: usize, total: usize) -> f64 {
        let progress = step as f64 / total.max(1) as f64;
        match self {
            Schedule::Constant => base,
            Schedule::Cosine => base * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos()),
            Schedule::Linear => base * (1.0 - progress),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_read_back_and_rates_fall_to_zero() {
        for schedule in [Schedule::Constant, Schedule::Cosine, Schedule::Linear] {
            assert_eq!(schedule.to_string().parse::<Schedule>(), Ok(schedule));
        }
        assert_eq!(Schedule::Cosine.rate(1.0, 5, 10), 0.5);
        assert_eq!(Schedule::Linear.rate(2.0, 10, 10), 0.0);
        assert!(
            "cosinus"
                .parse::<Schedule>()
                .unwrap_err()
                .contains("expected one of")
        );
    }
}

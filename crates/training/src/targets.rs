//! What a head learns for each row: a class, a set of labels or a value.

use data::Task;
use serde::{Deserialize, Serialize};

/// Each row's target, in the form its task learns it.
#[derive(Debug, Clone, PartialEq)]
pub enum Targets {
    /// One class index per row.
    Classes(Vec<usize>),
    /// `rows × labels` marks, row-major: true where label `j` applies to the row.
    /// A row may have none.
    Tags {
        /// How many labels.
        labels: usize,
        /// The marks.
        marks: Vec<bool>,
    },
    /// One value per row, in the data's own units.
    Values(Vec<f32>),
}

impl Targets {
    /// The task these targets are of.
    pub fn task(&self) -> Task {
        match self {
            Self::Classes(_) => Task::SingleLabel,
            Self::Tags { .. } => Task::MultiLabel,
            Self::Values(_) => Task::Regression,
        }
    }

    /// How many rows.
    pub fn rows(&self) -> usize {
        match self {
            Self::Classes(classes) => classes.len(),
            Self::Tags { labels, marks } => marks.len() / (*labels).max(1),
            Self::Values(values) => values.len(),
        }
    }

    /// The rows at `indices`, in that order.
    pub fn subset(&self, indices: &[usize]) -> Self {
        match self {
            Self::Classes(classes) => Self::Classes(indices.iter().map(|&i| classes[i]).collect()),
            Self::Tags { labels, marks } => Self::Tags {
                labels: *labels,
                marks: indices
                    .iter()
                    .flat_map(|&i| &marks[i * labels..(i + 1) * labels])
                    .copied()
                    .collect(),
            },
            Self::Values(values) => Self::Values(indices.iter().map(|&i| values[i]).collect()),
        }
    }

    /// These rows followed by `more`'s; `None` when the two are of different tasks
    /// or label sets.
    pub fn extended(mut self, more: &Targets) -> Option<Self> {
        match (&mut self, more) {
            (Self::Classes(a), Self::Classes(b)) => a.extend_from_slice(b),
            (Self::Values(a), Self::Values(b)) => a.extend_from_slice(b),
            (
                Self::Tags { labels, marks },
                Self::Tags {
                    labels: theirs,
                    marks: more,
                },
            ) if labels == theirs => marks.extend_from_slice(more),
            _ => return None,
        }
        Some(self)
    }
}

/// Regression targets centred and scaled by their training mean and standard
/// deviation: a head learns values of unit spread whatever the data's units (a
/// [−4, 4] sentiment or a 0–100 score alike, so one learning rate fits both), and
/// its outputs are mapped back before anyone sees them.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ValueScale {
    /// The training targets' mean.
    pub mean: f64,
    /// The training targets' standard deviation (1 where they do not vary).
    pub std: f64,
}

impl ValueScale {
    /// Fitted on `values` (the training split's).
    pub fn fit(values: &[f32]) -> Self {
        let n = values.len().max(1) as f64;
        let mean = values.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
        let variance = values
            .iter()
            .map(|&v| (f64::from(v) - mean).powi(2))
            .sum::<f64>()
            / n;
        let std = variance.sqrt();
        Self {
            mean,
            std: if std > 0.0 && std.is_finite() {
                std
            } else {
                1.0
            },
        }
    }

    /// `value` in standard units.
    pub fn standardise(&self, value: f32) -> f32 {
        ((f64::from(value) - self.mean) / self.std) as f32
    }

    /// A standardised `output` back in the data's units.
    pub fn restore(&self, output: f32) -> f32 {
        (f64::from(output) * self.std + self.mean) as f32
    }

    /// Checks that the scale can restore values: a finite mean, a finite positive spread.
    pub fn check(&self) -> Result<(), String> {
        if self.mean.is_finite() && self.std.is_finite() && self.std > 0.0 {
            Ok(())
        } else {
            Err(format!(
                "its value scale (mean {}, std {}) is not finite and positive",
                self.mean, self.std
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standardised_training_values_have_mean_0_and_spread_1_and_come_back() {
        // Mean 2.5, population variance ((1.5² + 0.5²) · 2) / 4 = 1.25.
        let values = [1.0f32, 2.0, 3.0, 4.0];
        let scale = ValueScale::fit(&values);
        assert_eq!(scale.mean, 2.5);
        assert_eq!(scale.std, 1.25f64.sqrt());
        let z: Vec<f32> = values.iter().map(|&v| scale.standardise(v)).collect();
        assert!(z.iter().sum::<f32>().abs() < 1e-6);
        for (&v, &z) in values.iter().zip(&z) {
            assert!((scale.restore(z) - v).abs() < 1e-6);
        }
    }

    #[test]
    fn constant_values_keep_unit_scale() {
        assert_eq!(ValueScale::fit(&[3.0, 3.0]).std, 1.0);
    }

    #[test]
    fn tags_subset_and_extend_by_row() {
        let tags = Targets::Tags {
            labels: 2,
            marks: vec![true, false, false, false, true, true],
        };
        assert_eq!(tags.rows(), 3);
        let picked = tags.subset(&[2, 0]);
        assert_eq!(
            picked,
            Targets::Tags {
                labels: 2,
                marks: vec![true, true, true, false]
            }
        );
        assert_eq!(picked.clone().extended(&Targets::Values(vec![1.0])), None);
        assert_eq!(picked.extended(&tags).map(|t| t.rows()), Some(5));
    }
}

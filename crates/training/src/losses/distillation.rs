//! Knowledge distillation (Hinton et al., 2015): a student learns from a teacher's
//! softened probabilities as well as from the labels.

use burn::tensor::activation::{log_softmax, softmax};
use burn::tensor::{Device, Int, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use crate::losses::ClassificationLoss;

/// `α · T² · KL(q ‖ softmax(s / T)) + (1 − α) · hard(s, y)`, averaged over the batch:
/// `s` the student's logits, `q` the teacher's soft targets at temperature `T`
/// ([`soft_targets`], or the mean of several teachers' for an ensemble), `hard` any
/// label loss. The T² keeps the soft term's gradient, which shrinks as 1/T², on the
/// scale of the hard term's whatever the temperature.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DistillationLoss {
    /// T: both the teacher's and the student's logits are divided by it.
    pub temperature: f64,
    /// Weight of the soft term; 1 − α goes to the labels.
    pub alpha: f64,
}

impl Default for DistillationLoss {
    /// T = 2 and an even mix of teacher and labels: Hinton et al.'s range (T 2–4,
    /// soft term weighted at least as much as the labels when the teacher is good).
    fn default() -> Self {
        Self {
            temperature: 2.0,
            alpha: 0.5,
        }
    }
}

/// A teacher's soft targets for each training example: `rows × classes`, row-major,
/// each row summing to 1, at the temperature they were softened at.
#[derive(Debug, Clone, PartialEq)]
pub struct SoftTargets {
    /// The targets, `rows × classes`, row-major.
    pub values: Vec<f32>,
    /// Classes per row.
    pub classes: usize,
}

impl SoftTargets {
    /// Soft targets from each teacher's probabilities (`rows × classes`): each
    /// softened at `temperature` — `softmax(log p / T)`, the same as
    /// `softmax(logits / T)` since log p and the logits differ by a constant per row —
    /// then averaged over the teachers (an ensemble teacher).
    pub fn from_probabilities(teachers: &[Vec<f32>], classes: usize, temperature: f64) -> Self {
        assert!(!teachers.is_empty(), "at least one teacher");
        let rows = teachers[0].len() / classes;
        let mut values = vec![0.0f64; rows * classes];
        for probabilities in teachers {
            assert_eq!(
                probabilities.len(),
                rows * classes,
                "teachers disagree on rows"
            );
            for (row, out) in probabilities
                .chunks(classes)
                .zip(values.chunks_mut(classes))
            {
                // p^(1/T) computed from log p, shifted by the row's largest for range.
                let logs: Vec<f64> = row
                    .iter()
                    .map(|&p| f64::from(p).max(1e-30).ln() / temperature)
                    .collect();
                let top = logs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let total: f64 = logs.iter().map(|l| (l - top).exp()).sum();
                for (o, l) in out.iter_mut().zip(&logs) {
                    *o += (l - top).exp() / total / teachers.len() as f64;
                }
            }
        }
        Self {
            values: values.into_iter().map(|v| v as f32).collect(),
            classes,
        }
    }

    /// How many examples have targets.
    pub fn rows(&self) -> usize {
        self.values.len() / self.classes
    }

    /// The rows at `indices`, in that order, as a `[indices, classes]` tensor.
    pub fn batch(&self, indices: &[usize], device: &Device) -> Tensor<2> {
        let rows = self.subset(indices);
        Tensor::from_data(
            TensorData::new(rows.values, [indices.len(), self.classes]),
            device,
        )
    }

    /// The rows at `indices`, in that order.
    pub fn subset(&self, indices: &[usize]) -> Self {
        Self {
            values: indices
                .iter()
                .flat_map(|&i| &self.values[i * self.classes..(i + 1) * self.classes])
                .copied()
                .collect(),
            classes: self.classes,
        }
    }
}

/// A teacher's probabilities softened at `temperature`: `softmax(logits / T)`.
pub fn soft_targets(teacher_logits: Tensor<2>, temperature: f64) -> Tensor<2> {
    softmax(teacher_logits.div_scalar(temperature), 1)
}

impl DistillationLoss {
    /// Checks T > 0 and α in [0, 1].
    pub fn validate(&self) -> Result<(), settings::SettingError> {
        settings::positive("temperature", self.temperature)?;
        if !(0.0..=1.0).contains(&self.alpha) {
            return Err(settings::SettingError::new(
                "alpha",
                self.alpha,
                "must be in [0, 1]",
            ));
        }
        Ok(())
    }

    /// The loss of `student` logits `[batch, classes]` against the teacher's
    /// `soft` targets (same shape, rows summing to 1; no gradient flows into them)
    /// and the `targets` labels under `hard`.
    pub fn forward(
        &self,
        student: Tensor<2>,
        soft: Tensor<2>,
        targets: Tensor<1, Int>,
        hard: &dyn ClassificationLoss,
    ) -> Tensor<1> {
        let [batch, _] = student.dims();
        let soft = soft.detach();
        let log_student = log_softmax(student.clone().div_scalar(self.temperature), 1);
        // q · log q is constant for the student; kept so the value is the KL itself
        // (0 when the student matches), with 0 · log 0 taken as 0.
        let log_soft = soft.clone().clamp_min(1e-30).log();
        let kl = (soft * (log_soft - log_student))
            .sum()
            .div_scalar(batch as f64)
            .mul_scalar(self.temperature * self.temperature);
        let hard = hard.forward(student, targets);
        kl.mul_scalar(self.alpha) + hard.mul_scalar(1.0 - self.alpha)
    }
}

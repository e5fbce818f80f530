//! Knowledge distillation (Hinton et al., 2015): a student learns from a teacher's
//! softened probabilities as well as from the labels.

use bert::burn::tensor::activation::{log_softmax, softmax};
use bert::burn::tensor::{Int, Tensor};

use crate::ClassificationLoss;

/// `α · T² · KL(q ‖ softmax(s / T)) + (1 − α) · hard(s, y)`, averaged over the batch:
/// `s` the student's logits, `q` the teacher's soft targets at temperature `T`
/// ([`soft_targets`], or the mean of several teachers' for an ensemble), `hard` any
/// label loss. The T² keeps the soft term's gradient, which shrinks as 1/T², on the
/// scale of the hard term's whatever the temperature.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DistillationLoss {
    pub temperature: f64,
    /// Weight of the soft term; 1 − α goes to the labels.
    pub alpha: f64,
}

/// A teacher's probabilities softened at `temperature`: `softmax(logits / T)`.
pub fn soft_targets(teacher_logits: Tensor<2>, temperature: f64) -> Tensor<2> {
    softmax(teacher_logits.div_scalar(temperature), 1)
}

impl DistillationLoss {
    /// Checks T > 0 and α in [0, 1].
    pub fn validate(&self) -> Result<(), String> {
        if !(self.temperature > 0.0 && self.temperature.is_finite()) {
            return Err(format!("temperature {} must be > 0", self.temperature));
        }
        if !(0.0..=1.0).contains(&self.alpha) {
            return Err(format!("α {} must be in [0, 1]", self.alpha));
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

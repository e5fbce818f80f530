use burn::tensor::activation::log_softmax;
use burn::tensor::{Int, Tensor, TensorData};

use crate::losses::ClassificationLoss;

/// Focal loss (Lin et al., 2017), multi-class: `−α_t (1 − p_t)^γ log p_t` averaged
/// over the batch, `p_t` the probability of the true class. `(1 − p_t)^γ` shrinks the
/// loss of examples already classified well, so the rare and hard ones weigh more.
/// γ = 0 with α = 1 is cross-entropy.
#[derive(Debug, Clone, PartialEq)]
pub struct FocalLoss {
    /// γ: how strongly well-classified examples are down-weighted (0 is cross-entropy).
    pub gamma: f64,
    /// α per class; `None` is 1 for all.
    pub alpha: Option<Vec<f32>>,
}

impl ClassificationLoss for FocalLoss {
    fn forward(&self, logits: Tensor<2>, targets: Tensor<1, Int>) -> Tensor<1> {
        let [batch, classes] = logits.dims();
        let device = logits.device();
        let log_p = log_softmax(logits, 1)
            .gather(1, targets.clone().unsqueeze_dim::<2>(1))
            .reshape([batch]);
        // (1 − p)^γ through exp(γ·log(1 − p)) would fail at p = 1; powf of the clamped
        // base is exact there (0^γ = 0 for γ > 0, and 1 for γ = 0).
        let modulator = log_p
            .clone()
            .exp()
            .neg()
            .add_scalar(1.0)
            .clamp_min(0.0)
            .powf_scalar(self.gamma);
        let mut loss = modulator * log_p.neg();
        if let Some(alpha) = &self.alpha {
            let alpha = Tensor::<1>::from_data(TensorData::new(alpha.clone(), [classes]), &device);
            loss = loss * alpha.select(0, targets);
        }
        loss.mean()
    }
}

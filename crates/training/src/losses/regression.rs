//! Losses of regression: one value per example, compared with its target.

use burn::tensor::Tensor;

/// A loss over predicted values.
pub trait RegressionLoss: Send + Sync {
    /// `predicted` and `targets`: `[batch]`. Returns the mean loss over the batch, a
    /// one-element tensor.
    fn forward(&self, predicted: Tensor<1>, targets: Tensor<1>) -> Tensor<1>;
}

/// The mean squared error, as PyTorch's `MSELoss` (what transformers trains
/// `problem_type="regression"` with).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SquaredError;

impl RegressionLoss for SquaredError {
    fn forward(&self, predicted: Tensor<1>, targets: Tensor<1>) -> Tensor<1> {
        (predicted - targets).powf_scalar(2.0).mean()
    }
}

/// The Huber loss, as PyTorch's `HuberLoss`: `½r²` for a residual `|r| ≤ δ`, and
/// `δ(|r| − ½δ)` beyond, so an outlier pulls with a bounded force.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Huber {
    /// δ > 0: where the loss turns from quadratic to linear.
    pub delta: f64,
}

impl RegressionLoss for Huber {
    fn forward(&self, predicted: Tensor<1>, targets: Tensor<1>) -> Tensor<1> {
        let size = (predicted - targets).abs();
        // With q = min(|r|, δ): ½q² + δ(|r| − q) is ½r² inside δ and δ(|r| − ½δ)
        // beyond it, without a branch.
        let inside = size.clone().clamp_max(self.delta);
        let linear = (size - inside.clone()).mul_scalar(self.delta);
        (inside.powf_scalar(2.0).mul_scalar(0.5) + linear).mean()
    }
}

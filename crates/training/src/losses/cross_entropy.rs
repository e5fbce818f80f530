use burn::tensor::activation::log_softmax;
use burn::tensor::{Int, Tensor, TensorData};

use crate::losses::ClassificationLoss;

/// Cross-entropy of the softmax of the logits, as PyTorch's `cross_entropy`:
/// `−Σ_k w_k q_k log p_k` per example, where `q` is the one-hot target smoothed by
/// `label_smoothing` (`(1 − ε)·onehot + ε/K`) and `w` the class weights (all 1 by
/// default); the batch loss is the sum over examples divided by `Σ w_target`, the
/// weighted mean.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CrossEntropy {
    /// One weight per class; `None` weighs every class 1.
    pub class_weights: Option<Vec<f32>>,
    /// ε in `[0, 1)`.
    pub label_smoothing: f64,
}

impl CrossEntropy {
    /// Cross-entropy with these class weights.
    pub fn weighted(class_weights: Vec<f32>) -> Self {
        Self {
            class_weights: Some(class_weights),
            label_smoothing: 0.0,
        }
    }

    /// The same loss with label smoothing ε.
    pub fn with_label_smoothing(self, epsilon: f64) -> Self {
        Self {
            label_smoothing: epsilon,
            ..self
        }
    }
}

impl ClassificationLoss for CrossEntropy {
    fn forward(&self, logits: Tensor<2>, targets: Tensor<1, Int>) -> Tensor<1> {
        self.weighted_mean(logits, targets, None)
    }
}

impl CrossEntropy {
    /// The loss with a weight per example (`[batch]`, as boosting gives): each
    /// example's term times its weight, over the sum of the weights (times the target
    /// classes' weights) — the weighted mean, equal to `forward` for equal weights.
    pub fn forward_weighted(
        &self,
        logits: Tensor<2>,
        targets: Tensor<1, Int>,
        example_weights: Tensor<1>,
    ) -> Tensor<1> {
        self.weighted_mean(logits, targets, Some(example_weights))
    }

    fn weighted_mean(
        &self,
        logits: Tensor<2>,
        targets: Tensor<1, Int>,
        example_weights: Option<Tensor<1>>,
    ) -> Tensor<1> {
        let [batch, classes] = logits.dims();
        let device = logits.device();
        // log_softmax, not log(softmax): stable for large logits.
        let log_probs = log_softmax(logits, 1);
        let weights = Tensor::<2>::from_data(
            TensorData::new(
                self.class_weights
                    .clone()
                    .unwrap_or_else(|| vec![1.0; classes]),
                [1, classes],
            ),
            &device,
        );
        let onehot = targets.clone().one_hot::<2>(classes).float();
        let epsilon = self.label_smoothing;
        let smoothed = onehot
            .clone()
            .mul_scalar(1.0 - epsilon)
            .add_scalar(epsilon / classes as f64);
        let per_example = (log_probs * smoothed * weights.clone())
            .sum_dim(1)
            .reshape([batch])
            .neg();
        let target_weights = (onehot * weights).sum_dim(1).reshape([batch]);
        match example_weights {
            Some(w) => (per_example * w.clone()).sum() / (target_weights * w).sum(),
            None => per_example.sum() / target_weights.sum(),
        }
    }
}

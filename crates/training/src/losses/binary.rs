//! Losses of multi-label classification: each label is its own yes-or-no decision,
//! read from one logit through a sigmoid, so an example may have any number of
//! labels, none included.

use burn::tensor::activation::{log_sigmoid, sigmoid};
use burn::tensor::{Tensor, TensorData};

/// A loss over per-label logits.
pub trait MultiLabelLoss: Send + Sync {
    /// `logits`: `[batch, labels]`; `targets`: `[batch, labels]`, 1 where the label
    /// applies and 0 where it does not. Returns the mean over every (example, label)
    /// term, a one-element tensor.
    fn forward(&self, logits: Tensor<2>, targets: Tensor<2>) -> Tensor<1>;
}

/// Binary cross-entropy of each label's sigmoid, as PyTorch's `BCEWithLogitsLoss`:
/// `−[w_j·y·log σ(x) + (1 − y)·log(1 − σ(x))]` per term, `w_j` label `j`'s positive
/// weight (1 by default; `n_negative / n_positive` balances a rare label's two
/// kinds of error), averaged over all terms.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BinaryCrossEntropy {
    /// One weight per label on its positive terms; `None` weighs them 1.
    pub positive_weights: Option<Vec<f32>>,
}

impl BinaryCrossEntropy {
    /// The per-term losses, `[batch, labels]`, from log-sigmoids (burn's is
    /// computed stably and differentiated as `σ(−x)`), so no logarithm is taken of a
    /// probability that rounded to 0 and the gradient is `σ(x) − y` everywhere, at
    /// `x = 0` included.
    fn terms(&self, logits: Tensor<2>, targets: Tensor<2>) -> Tensor<2> {
        let [_, labels] = logits.dims();
        let positive = log_sigmoid(logits.clone());
        let negative = log_sigmoid(logits.clone().neg());
        let negatives = targets.clone().neg().add_scalar(1.0);
        let weighted_targets = match &self.positive_weights {
            Some(w) => {
                let w = TensorData::new(w.clone(), [1, labels]);
                targets * Tensor::<2>::from_data(w, &logits.device())
            }
            None => targets,
        };
        (weighted_targets * positive + negatives * negative).neg()
    }
}

impl MultiLabelLoss for BinaryCrossEntropy {
    fn forward(&self, logits: Tensor<2>, targets: Tensor<2>) -> Tensor<1> {
        self.terms(logits, targets).mean()
    }
}

/// The sigmoid focal loss (Lin et al., 2017; torchvision's `sigmoid_focal_loss`):
/// each binary cross-entropy term times `(1 − p_t)^γ`, `p_t` the probability given
/// to the term's truth, and by `α` for positive terms and `1 − α` for negative ones
/// when α is set. γ = 0 without α is binary cross-entropy.
#[derive(Debug, Clone, PartialEq)]
pub struct FocalBinaryCrossEntropy {
    /// γ: how strongly well-decided terms are down-weighted.
    pub gamma: f64,
    /// α in `[0, 1]`: the weight of positive terms (negative ones weigh `1 − α`).
    pub alpha: Option<f64>,
}

impl MultiLabelLoss for FocalBinaryCrossEntropy {
    fn forward(&self, logits: Tensor<2>, targets: Tensor<2>) -> Tensor<1> {
        let bce = BinaryCrossEntropy::default().terms(logits.clone(), targets.clone());
        let p = sigmoid(logits);
        let negatives = targets.clone().neg().add_scalar(1.0);
        // 1 − p_t = p where y = 0 and 1 − p where y = 1.
        let miss = p.clone() * negatives.clone() + p.neg().add_scalar(1.0) * targets.clone();
        let mut loss = bce * miss.clamp_min(0.0).powf_scalar(self.gamma);
        if let Some(alpha) = self.alpha {
            loss = loss * (targets.mul_scalar(alpha) + negatives.mul_scalar(1.0 - alpha));
        }
        loss.mean()
    }
}

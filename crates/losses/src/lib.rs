//! Classification losses, shared by the pipeline heads and end-to-end fine-tuning so
//! that both modes accept the same `--loss` and compute it the same way.

use std::fmt;
use std::str::FromStr;

use bert::burn::tensor::activation::log_softmax;
use bert::burn::tensor::{Int, Tensor};

/// A loss over the logits of a batch.
pub trait ClassificationLoss: Send + Sync {
    /// `logits`: `[batch, classes]`; `targets`: `[batch]` class indices.
    /// Returns the mean loss over the batch, a one-element tensor.
    fn forward(&self, logits: Tensor<2>, targets: Tensor<1, Int>) -> Tensor<1>;
}

/// Cross-entropy of the softmax of the logits: `−log p(target)`, averaged.
#[derive(Debug, Clone, Copy, Default)]
pub struct CrossEntropy;

impl ClassificationLoss for CrossEntropy {
    fn forward(&self, logits: Tensor<2>, targets: Tensor<1, Int>) -> Tensor<1> {
        // log_softmax, not log(softmax): stable for large logits.
        let log_probs = log_softmax(logits, 1);
        let picked = log_probs.gather(1, targets.unsqueeze_dim::<2>(1));
        picked.mean().neg()
    }
}

/// The losses `--loss` can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LossKind {
    #[default]
    CrossEntropy,
}

impl LossKind {
    pub fn build(self) -> Box<dyn ClassificationLoss> {
        match self {
            LossKind::CrossEntropy => Box::new(CrossEntropy),
        }
    }
}

impl fmt::Display for LossKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LossKind::CrossEntropy => "ce",
        })
    }
}

impl FromStr for LossKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "ce" | "cross-entropy" => Ok(LossKind::CrossEntropy),
            _ => Err(format!("unknown loss {s:?}: expected ce")),
        }
    }
}

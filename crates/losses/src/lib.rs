//! Classification losses, shared by the pipeline heads and end-to-end fine-tuning so
//! that both modes accept the same `--loss` and compute it the same way.

use std::fmt;
use std::str::FromStr;

use bert::burn::tensor::{Int, Tensor};

mod class_weights;
mod cross_entropy;
mod focal;
mod ghm;

pub use class_weights::ClassWeights;
pub use cross_entropy::CrossEntropy;
pub use focal::FocalLoss;
pub use ghm::GhmcLoss;

/// A loss over the logits of a batch.
pub trait ClassificationLoss: Send + Sync {
    /// `logits`: `[batch, classes]`; `targets`: `[batch]` class indices.
    /// Returns the mean loss over the batch, a one-element tensor.
    fn forward(&self, logits: Tensor<2>, targets: Tensor<1, Int>) -> Tensor<1>;
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
            LossKind::CrossEntropy => Box::new(CrossEntropy::default()),
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

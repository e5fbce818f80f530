//! The losses of every task, shared by the pipeline heads and end-to-end fine-tuning
//! so that both modes accept the same `--loss` and compute it the same way:
//! [`ClassificationLoss`] over one class per example, [`MultiLabelLoss`] over a
//! sigmoid per label, [`RegressionLoss`] over values.

use burn::tensor::{Int, Tensor};

mod binary;
mod class_weights;
mod cross_entropy;
mod distillation;
mod focal;
mod ghm;
mod regression;
mod spec;

pub use binary::{BinaryCrossEntropy, FocalBinaryCrossEntropy, MultiLabelLoss};
pub use class_weights::ClassWeights;
pub use cross_entropy::CrossEntropy;
pub use distillation::{DistillationLoss, SoftTargets, soft_targets};
pub use focal::FocalLoss;
pub use ghm::GhmcLoss;
pub use regression::{Huber, RegressionLoss, SquaredError};
pub use spec::{LossKind, LossSpec, spec_or_kind};

/// A loss over the logits of a batch.
pub trait ClassificationLoss: Send + Sync {
    /// `logits`: `[batch, classes]`; `targets`: `[batch]` class indices.
    /// Returns the mean loss over the batch, a one-element tensor.
    fn forward(&self, logits: Tensor<2>, targets: Tensor<1, Int>) -> Tensor<1>;
}

//! What both training modes share, so that a head trained over cached features and
//! a BERT fine-tuned end to end are told the same things in the same words: the
//! targets of every task and how outputs are read for each ([`Targets`],
//! [`Readout`]), the losses, the head modules (linear maps and MLPs), the
//! learning-rate schedules, the early-stopping monitors and the optimizer kinds.
//! `head` (pipeline mode) and `joint` (end-to-end mode) both depend on this crate,
//! and not on each other.

#![warn(missing_docs)]

mod head;
mod hidden_sizes;
pub mod losses;
mod monitor;
mod optimizer;
mod readout;
mod schedule;
mod targets;

pub use head::{Activation, Head, HeadConfig, HiddenLayer};
pub use hidden_sizes::HiddenSizes;
pub use losses::{
    BinaryCrossEntropy, ClassWeights, ClassificationLoss, CrossEntropy, DistillationLoss,
    FocalBinaryCrossEntropy, FocalLoss, GhmcLoss, Huber, LossKind, LossSpec, MultiLabelLoss,
    RegressionLoss, SoftTargets, SquaredError, soft_targets, spec_or_kind,
};
pub use monitor::Monitor;
pub use optimizer::OptimizerKind;
pub use readout::Readout;
pub use schedule::Schedule;
pub use targets::{Targets, ValueScale};

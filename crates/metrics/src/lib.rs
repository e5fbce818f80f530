//! Classification metrics, computed from true classes, predicted classes and (for the
//! ranking metrics) scores. Both modes report through [`ClassificationReport`], so the
//! pipeline and end-to-end numbers are the same computation.

#![warn(missing_docs)]

mod decision;
mod probabilities;
mod ranking;
mod report;

pub use decision::{DecisionRule, ThresholdTarget, choose_threshold};
pub use probabilities::{argmax_rows, mean_log_loss};
pub use ranking::{average_precision, roc_auc};
pub use report::{BinaryScores, ClassScores, ClassificationReport, ConfusionMatrix};

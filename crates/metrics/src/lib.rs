//! Metrics of every task, computed from true and predicted targets and (for the
//! ranking metrics) scores: [`ClassificationReport`] for one label per example,
//! [`MultiLabelReport`] for sets of labels, [`RegressionReport`] for values. Both
//! modes report through them, so the pipeline and end-to-end numbers are the same
//! computation.

#![warn(missing_docs)]

mod decision;
mod label_thresholds;
mod multi_label;
mod probabilities;
mod ranking;
mod regression;
mod report;
mod task_report;

pub use decision::{DecisionRule, ThresholdTarget, choose_threshold};
pub use label_thresholds::{DEFAULT_LABEL_THRESHOLD, LabelThresholds};
pub use multi_label::MultiLabelReport;
pub use probabilities::{argmax_rows, mean_binary_log_loss, mean_log_loss};
pub use ranking::{average_precision, roc_auc};
pub use regression::RegressionReport;
pub use report::{BinaryScores, ClassScores, ClassificationReport, ConfusionMatrix};
pub use task_report::{MainMetric, TaskReport};

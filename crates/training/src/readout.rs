//! The task's last step: how a head's raw outputs become scores (probabilities or
//! values) and the scores predictions.

use burn::tensor::Tensor;
use burn::tensor::activation::{sigmoid, softmax};
use data::Task;
use metrics::{DecisionRule, LabelThresholds, MultiLabelReport, RegressionReport, TaskReport};
use serde::{Deserialize, Serialize};

use crate::{Targets, ValueScale};

/// How a head's outputs are read, by task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "task", rename_all = "kebab-case")]
pub enum Readout {
    /// A softmax over the classes, then the decision rule picks one.
    SingleLabel {
        /// Argmax, or a rule fitted on validation.
        decision: DecisionRule,
    },
    /// One sigmoid per label, each cut at its threshold.
    MultiLabel {
        /// Where each label starts to apply.
        thresholds: LabelThresholds,
    },
    /// One output, a standardised value mapped back to the data's units.
    Regression {
        /// The training targets' scale.
        scale: ValueScale,
    },
}

impl Readout {
    /// The defaults of `task` before anything is tuned: argmax, or 0.5 for every one
    /// of `labels` labels; regression's scale is fitted on its training `targets`.
    pub fn default_for(targets: &Targets, labels: usize) -> Self {
        match targets {
            Targets::Classes(_) => Self::SingleLabel {
                decision: DecisionRule::Argmax,
            },
            Targets::Tags { .. } => Self::MultiLabel {
                thresholds: LabelThresholds::fixed(labels, metrics::DEFAULT_LABEL_THRESHOLD, false),
            },
            Targets::Values(values) => Self::Regression {
                scale: ValueScale::fit(values),
            },
        }
    }

    /// The task read.
    pub fn task(&self) -> Task {
        match self {
            Self::SingleLabel { .. } => Task::SingleLabel,
            Self::MultiLabel { .. } => Task::MultiLabel,
            Self::Regression { .. } => Task::Regression,
        }
    }

    /// How many outputs a head of this task has for `labels` label names: one per
    /// class or label, one value for regression.
    pub fn outputs(task: Task, labels: usize) -> usize {
        match task {
            Task::Regression => 1,
            Task::SingleLabel | Task::MultiLabel => labels,
        }
    }

    /// `rows × outputs` scores from raw outputs: class probabilities, label
    /// probabilities, or values in the data's units.
    pub fn scores(&self, outputs: Tensor<2>) -> Vec<f32> {
        let scores = match self {
            Self::SingleLabel { .. } => softmax(outputs, 1),
            Self::MultiLabel { .. } => sigmoid(outputs),
            Self::Regression { scale } => outputs.mul_scalar(scale.std).add_scalar(scale.mean),
        };
        scores
            .into_data()
            .try_into_vec_as::<f32>()
            .expect("a head's outputs are floats")
    }

    /// The predictions of [`scores`](Self::scores) of `outputs` outputs per row.
    pub fn decide(&self, scores: &[f32], outputs: usize) -> Targets {
        match self {
            Self::SingleLabel { decision } => Targets::Classes(decision.decide(scores, outputs)),
            Self::MultiLabel { thresholds } => Targets::Tags {
                labels: outputs,
                marks: thresholds.decide(scores),
            },
            Self::Regression { .. } => Targets::Values(scores.to_vec()),
        }
    }

    /// The report of `scores` against `truth`, `labels` naming the outputs.
    /// `truth` must be of this readout's task.
    pub fn report(&self, labels: &[String], truth: &Targets, scores: &[f32]) -> TaskReport {
        match (
            self.decide(scores, Self::outputs(self.task(), labels.len())),
            truth,
        ) {
            (Targets::Classes(predicted), Targets::Classes(truth)) => TaskReport::SingleLabel(
                metrics::ClassificationReport::new(labels, truth, &predicted, Some(scores)),
            ),
            (Targets::Tags { marks, .. }, Targets::Tags { marks: truth, .. }) => {
                TaskReport::MultiLabel(MultiLabelReport::new(labels, truth, &marks, Some(scores)))
            }
            (Targets::Values(predicted), Targets::Values(truth)) => {
                let wide = |v: &[f32]| v.iter().map(|&x| f64::from(x)).collect::<Vec<_>>();
                TaskReport::Regression(RegressionReport::new(&wide(truth), &wide(&predicted)))
            }
            (_, truth) => panic!(
                "a {} readout reports on {} targets: callers check the task first",
                self.task(),
                truth.task()
            ),
        }
    }

    /// Checks that this readout reads a head of `labels` labels.
    pub fn check(&self, labels: usize) -> Result<(), String> {
        match self {
            Self::SingleLabel { decision } => decision
                .check(labels)
                .map_err(|e| format!("its decision rule: {e}")),
            Self::MultiLabel { thresholds } => thresholds
                .check(labels)
                .map_err(|e| format!("its label thresholds: {e}")),
            Self::Regression { scale } => scale.check(),
        }
    }
}

//! One report type for every task, and the one metric each task is judged by: what
//! ranks a sweep, what a verdict compares, whatever the labels are.

use std::fmt;

use data::Task;
use serde::{Deserialize, Serialize};

use crate::{ClassificationReport, MultiLabelReport, RegressionReport};

/// The metric a task's models are chosen and compared by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MainMetric {
    /// Single-label: every class counts the same, however rare.
    MacroF1,
    /// Multi-label: every (example, label) decision counts the same. Macro-F1 over
    /// labels would let a label with three examples move the ranking as much as one
    /// with three thousand; scikit-learn's and transformers' examples rank by micro.
    MicroF1,
    /// Regression: the typical error, in the targets' own units.
    Rmse,
}

impl MainMetric {
    /// The metric `task` is judged by.
    pub fn of(task: Task) -> Self {
        match task {
            Task::SingleLabel => Self::MacroF1,
            Task::MultiLabel => Self::MicroF1,
            Task::Regression => Self::Rmse,
        }
    }

    /// Whether a larger value is better (F1) or worse (an error).
    pub fn higher_is_better(self) -> bool {
        !matches!(self, Self::Rmse)
    }

    /// `value` as a score where higher is better, for ranking.
    pub fn score(self, value: f64) -> f64 {
        if self.higher_is_better() {
            value
        } else {
            -value
        }
    }

    /// The metric's name as reports' JSON spells it: `macro_f1`, `micro_f1`, `rmse`.
    pub fn key(self) -> &'static str {
        match self {
            Self::MacroF1 => "macro_f1",
            Self::MicroF1 => "micro_f1",
            Self::Rmse => "rmse",
        }
    }

    /// The ranking rule in words, for the command line: `by validation micro-F1
    /// (higher is better)`.
    pub fn rule(self) -> String {
        let direction = if self.higher_is_better() {
            "higher"
        } else {
            "lower"
        };
        format!("by validation {self} ({direction} is better)")
    }
}

impl fmt::Display for MainMetric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::MacroF1 => "macro-F1",
            Self::MicroF1 => "micro-F1",
            Self::Rmse => "RMSE",
        })
    }
}

/// The report of one task's predictions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "task", rename_all = "kebab-case")]
pub enum TaskReport {
    /// One class per example.
    SingleLabel(ClassificationReport),
    /// A set of labels per example.
    MultiLabel(MultiLabelReport),
    /// A value per example.
    Regression(RegressionReport),
}

impl TaskReport {
    /// The task reported on.
    pub fn task(&self) -> Task {
        match self {
            Self::SingleLabel(_) => Task::SingleLabel,
            Self::MultiLabel(_) => Task::MultiLabel,
            Self::Regression(_) => Task::Regression,
        }
    }

    /// The task's main metric.
    pub fn metric(&self) -> MainMetric {
        MainMetric::of(self.task())
    }

    /// The main metric's value, in its own direction (RMSE: lower is better).
    pub fn main(&self) -> f64 {
        match self {
            Self::SingleLabel(r) => r.macro_f1,
            Self::MultiLabel(r) => r.micro_f1,
            Self::Regression(r) => r.rmse,
        }
    }

    /// The share of examples predicted exactly: accuracy, or the subset accuracy of
    /// label sets; none for values.
    pub fn accuracy(&self) -> Option<f64> {
        match self {
            Self::SingleLabel(r) => Some(r.accuracy),
            Self::MultiLabel(r) => Some(r.subset_accuracy),
            Self::Regression(_) => None,
        }
    }

    /// What orders two models, higher first: the main metric as a score, then
    /// [`accuracy`](Self::accuracy) to break its ties.
    pub fn ranking_key(&self) -> (f64, f64) {
        let metric = self.metric();
        (metric.score(self.main()), self.accuracy().unwrap_or(0.0))
    }

    /// The single-label report, where this is one.
    pub fn classes(&self) -> Option<&ClassificationReport> {
        match self {
            Self::SingleLabel(r) => Some(r),
            _ => None,
        }
    }

    /// The main numbers on one line: `macro-F1 0.9123, accuracy 0.9400`.
    pub fn summary(&self) -> String {
        match self {
            Self::SingleLabel(r) => {
                format!("macro-F1 {:.4}, accuracy {:.4}", r.macro_f1, r.accuracy)
            }
            Self::MultiLabel(r) => format!(
                "micro-F1 {:.4}, macro-F1 {:.4}, subset accuracy {:.4}",
                r.micro_f1, r.macro_f1, r.subset_accuracy
            ),
            Self::Regression(r) => {
                let pearson = r.pearson.map_or("undefined".into(), |p| format!("{p:.4}"));
                format!(
                    "RMSE {:.4}, MAE {:.4}, R² {:.4}, Pearson {pearson}",
                    r.rmse, r.mae, r.r2
                )
            }
        }
    }
}

//! k-fold cross-validation: each fold's held-out report, and every metric's mean and
//! spread over the folds.

use std::collections::BTreeMap;

use metrics::{ClassScores, TaskReport};
use serde::{Deserialize, Serialize};

use crate::Stat;

/// The held-out reports of the folds and their summary.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CrossValidation {
    /// Each fold's report on the examples it held out.
    pub folds: Vec<TaskReport>,
    /// Every metric over the folds, by the task's names: single-label `accuracy`,
    /// `macro_f1`, `weighted_f1`; multi-label `micro_f1`, `macro_f1`, `samples_f1`,
    /// `subset_accuracy`, `hamming_loss`, `ranking_average_precision`; both, per
    /// class or label, `f1/LABEL`, `precision/LABEL`, `recall/LABEL`; regression
    /// `rmse`, `mae`, `r2`, `pearson`, `spearman`.
    pub summary: BTreeMap<String, Stat>,
}

impl CrossValidation {
    /// The summary of `folds` (all of one task): every metric's mean ± std over them.
    pub fn of(folds: Vec<TaskReport>) -> Self {
        let mut values: BTreeMap<String, Vec<f64>> = BTreeMap::new();
        for report in &folds {
            let mut add = |name: &str, value: Option<f64>| {
                if let Some(value) = value {
                    values.entry(name.to_owned()).or_default().push(value);
                }
            };
            for (name, value) in headline(report) {
                add(name, value);
            }
            for scores in per_label(report) {
                add(&format!("f1/{}", scores.label), Some(scores.f1));
                add(
                    &format!("precision/{}", scores.label),
                    Some(scores.precision),
                );
                add(&format!("recall/{}", scores.label), Some(scores.recall));
            }
        }
        let summary = values
            .into_iter()
            .map(|(name, v)| (name, Stat::of(v)))
            .collect();
        Self { folds, summary }
    }

    /// The summary as aligned text lines: the headline metrics, then each class's
    /// or label's.
    pub fn render(&self) -> String {
        let mut text = format!(
            "{}-fold cross-validation (mean ± std over the held-out folds):\n",
            self.folds.len()
        );
        let Some(first) = self.folds.first() else {
            return text;
        };
        for (name, _) in headline(first) {
            if let Some(stat) = self.summary.get(name) {
                text.push_str(&format!("  {name:<25} {}\n", stat.show(4)));
            }
        }
        let labels: Vec<&str> = per_label(first).iter().map(|c| c.label.as_str()).collect();
        if labels.is_empty() {
            return text;
        }
        let kind = match first {
            TaskReport::MultiLabel(_) => "label",
            _ => "class",
        };
        text.push_str(&format!(
            "  {kind:<16} {:>17} {:>17} {:>17}\n",
            "precision", "recall", "f1"
        ));
        for label in labels {
            let show = |metric: &str| {
                self.summary
                    .get(&format!("{metric}/{label}"))
                    .map_or_else(String::new, |s| s.show(4))
            };
            text.push_str(&format!(
                "  {:<16} {:>17} {:>17} {:>17}\n",
                label,
                show("precision"),
                show("recall"),
                show("f1")
            ));
        }
        text
    }
}

/// A report's headline metrics, by name (`None`: undefined on this fold).
fn headline(report: &TaskReport) -> Vec<(&'static str, Option<f64>)> {
    match report {
        TaskReport::SingleLabel(r) => vec![
            ("accuracy", Some(r.accuracy)),
            ("macro_f1", Some(r.macro_f1)),
            ("weighted_f1", Some(r.weighted_f1)),
        ],
        TaskReport::MultiLabel(r) => vec![
            ("micro_f1", Some(r.micro_f1)),
            ("macro_f1", Some(r.macro_f1)),
            ("samples_f1", Some(r.samples_f1)),
            ("subset_accuracy", Some(r.subset_accuracy)),
            ("hamming_loss", Some(r.hamming_loss)),
            ("ranking_average_precision", r.ranking_average_precision),
        ],
        TaskReport::Regression(r) => vec![
            ("rmse", Some(r.rmse)),
            ("mae", Some(r.mae)),
            ("r2", Some(r.r2)),
            ("pearson", r.pearson),
            ("spearman", r.spearman),
        ],
    }
}

/// Each class's or label's scores; none for regression.
fn per_label(report: &TaskReport) -> &[ClassScores] {
    match report {
        TaskReport::SingleLabel(r) => &r.per_class,
        TaskReport::MultiLabel(r) => &r.per_label,
        TaskReport::Regression(_) => &[],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use metrics::{ClassificationReport, RegressionReport};

    #[test]
    fn every_metric_is_summarised_over_the_folds() {
        let labels = ["a".to_string(), "b".to_string()];
        // Fold 1 all right; fold 2 gets one of four wrong (a b-example called a).
        let folds = vec![
            ClassificationReport::new(&labels, &[0, 1, 0, 1], &[0, 1, 0, 1], None),
            ClassificationReport::new(&labels, &[0, 1, 0, 1], &[0, 0, 0, 1], None),
        ];
        let cv = CrossValidation::of(folds.into_iter().map(TaskReport::SingleLabel).collect());
        let accuracy = cv.summary["accuracy"];
        assert_eq!(accuracy.mean, 0.875);
        assert!((accuracy.std - (2.0 * 0.125f64.powi(2)).sqrt()).abs() < 1e-12);
        // Recall of b: 1 and 0.5; precision of a: 1 and 2/3.
        assert_eq!(cv.summary["recall/b"].mean, 0.75);
        assert!((cv.summary["precision/a"].mean - 5.0 / 6.0).abs() < 1e-12);
        assert!(cv.render().contains("2-fold cross-validation"));
    }

    #[test]
    fn values_are_summarised_by_their_errors() {
        // Fold 1 off by 1 everywhere (RMSE 1), fold 2 exact (RMSE 0).
        let folds = vec![
            RegressionReport::new(&[1.0, 2.0, 3.0], &[2.0, 3.0, 4.0]),
            RegressionReport::new(&[1.0, 2.0, 3.0], &[1.0, 2.0, 3.0]),
        ];
        let cv = CrossValidation::of(folds.into_iter().map(TaskReport::Regression).collect());
        assert_eq!(cv.summary["rmse"].mean, 0.5);
        assert_eq!(cv.summary["mae"].mean, 0.5);
        assert!(!cv.summary.contains_key("accuracy"));
        assert!(cv.render().contains("rmse"));
    }
}

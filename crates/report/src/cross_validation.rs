//! k-fold cross-validation: each fold's held-out report, and every metric's mean and
//! spread over the folds.

use std::collections::BTreeMap;

use metrics::ClassificationReport;
use serde::{Deserialize, Serialize};

use crate::Stat;

/// The held-out reports of the folds and their summary.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CrossValidation {
    /// Each fold's report on the examples it held out.
    pub folds: Vec<ClassificationReport>,
    /// Every metric over the folds: `accuracy`, `macro_f1`, `weighted_f1`, and per
    /// class `f1/LABEL`, `precision/LABEL`, `recall/LABEL`.
    pub summary: BTreeMap<String, Stat>,
}

impl CrossValidation {
    /// The summary of `folds`: every metric's mean ± std over them.
    pub fn of(folds: Vec<ClassificationReport>) -> Self {
        let mut values: BTreeMap<String, Vec<f64>> = BTreeMap::new();
        for report in &folds {
            let mut add = |name: String, value: f64| values.entry(name).or_default().push(value);
            add("accuracy".into(), report.accuracy);
            add("macro_f1".into(), report.macro_f1);
            add("weighted_f1".into(), report.weighted_f1);
            for class in &report.per_class {
                add(format!("f1/{}", class.label), class.f1);
                add(format!("precision/{}", class.label), class.precision);
                add(format!("recall/{}", class.label), class.recall);
            }
        }
        let summary = values
            .into_iter()
            .map(|(name, v)| (name, Stat::of(v)))
            .collect();
        Self { folds, summary }
    }

    /// The summary as aligned text lines: the headline metrics, then each class's.
    pub fn render(&self) -> String {
        let mut text = format!(
            "{}-fold cross-validation (mean ± std over the held-out folds):\n",
            self.folds.len()
        );
        let headline = ["accuracy", "macro_f1", "weighted_f1"];
        for name in headline {
            if let Some(stat) = self.summary.get(name) {
                text.push_str(&format!("  {name:<12} {}\n", stat.show(4)));
            }
        }
        let labels = self
            .folds
            .first()
            .map(|r| {
                r.per_class
                    .iter()
                    .map(|c| c.label.clone())
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default();
        text.push_str(&format!(
            "  {:<16} {:>17} {:>17} {:>17}\n",
            "class", "precision", "recall", "f1"
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_metric_is_summarised_over_the_folds() {
        let labels = ["a".to_string(), "b".to_string()];
        // Fold 1 all right; fold 2 gets one of four wrong (a b-example called a).
        let folds = vec![
            ClassificationReport::new(&labels, &[0, 1, 0, 1], &[0, 1, 0, 1], None),
            ClassificationReport::new(&labels, &[0, 1, 0, 1], &[0, 0, 0, 1], None),
        ];
        let cv = CrossValidation::of(folds);
        let accuracy = cv.summary["accuracy"];
        assert_eq!(accuracy.mean, 0.875);
        assert!((accuracy.std - (2.0 * 0.125f64.powi(2)).sqrt()).abs() < 1e-12);
        // Recall of b: 1 and 0.5; precision of a: 1 and 2/3.
        assert_eq!(cv.summary["recall/b"].mean, 0.75);
        assert!((cv.summary["precision/a"].mean - 5.0 / 6.0).abs() < 1e-12);
        assert!(cv.render().contains("2-fold cross-validation"));
    }
}

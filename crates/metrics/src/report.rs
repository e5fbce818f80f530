use serde::{Deserialize, Serialize};

use crate::{average_precision, roc_auc};

/// Counts of (true class, predicted class): row = truth, column = prediction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfusionMatrix {
    /// How many classes (rows and columns).
    pub classes: usize,
    /// Row-major `classes × classes`.
    pub counts: Vec<usize>,
}

impl ConfusionMatrix {
    /// Counts `(truth, predicted)` pairs; labels must be below `classes`.
    pub fn new(classes: usize, truth: &[usize], predicted: &[usize]) -> Self {
        assert_eq!(truth.len(), predicted.len(), "one prediction per example");
        let mut counts = vec![0; classes * classes];
        for (&t, &p) in truth.iter().zip(predicted) {
            assert!(t < classes && p < classes, "class index out of range");
            counts[t * classes + p] += 1;
        }
        Self { classes, counts }
    }

    /// How many examples of class `truth` were predicted as `predicted`.
    pub fn get(&self, truth: usize, predicted: usize) -> usize {
        self.counts[truth * self.classes + predicted]
    }

    fn row_sum(&self, class: usize) -> usize {
        (0..self.classes).map(|p| self.get(class, p)).sum()
    }

    fn column_sum(&self, class: usize) -> usize {
        (0..self.classes).map(|t| self.get(t, class)).sum()
    }
}

/// Precision, recall and F1 of one class, and how many true examples it has.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassScores {
    /// The class name.
    pub label: String,
    /// Of the examples predicted as this class, the share that are.
    pub precision: f64,
    /// Of the examples of this class, the share predicted as it.
    pub recall: f64,
    /// The harmonic mean of precision and recall.
    pub f1: f64,
    /// How many examples of this class there are.
    pub support: usize,
}

/// Ranking metrics of a binary task, for the positive class (index 1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BinaryScores {
    /// The class counted as positive.
    pub positive: String,
    /// Area under the ROC curve, when both classes occur.
    pub roc_auc: Option<f64>,
    /// Area under the precision-recall curve (average precision), when both classes occur.
    pub pr_auc: Option<f64>,
}

/// Every metric this project reports for a classifier on one data split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassificationReport {
    /// How many examples were scored.
    pub examples: usize,
    /// The share predicted correctly.
    pub accuracy: f64,
    /// Unweighted mean of per-class F1: each class counts the same, however rare.
    pub macro_f1: f64,
    /// Per-class F1 weighted by support.
    pub weighted_f1: f64,
    /// Each class's scores, in index order.
    pub per_class: Vec<ClassScores>,
    /// Truth against prediction.
    pub confusion: ConfusionMatrix,
    /// For two classes with scores given.
    pub binary: Option<BinaryScores>,
    /// True classes the model does not know (it can never predict them): listed in
    /// `per_class` with their support and F1 0, counted as misses everywhere.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unseen: Vec<String>,
}

impl ClassificationReport {
    /// `labels[i]` names class `i`. `probabilities`, when given, are `examples ×
    /// classes` row-major (for ROC-AUC and PR-AUC of binary tasks). Precision, recall
    /// or F1 with a zero denominator count as 0, as scikit-learn's default does.
    pub fn new(
        labels: &[String],
        truth: &[usize],
        predicted: &[usize],
        probabilities: Option<&[f32]>,
    ) -> Self {
        let classes = labels.len();
        let confusion = ConfusionMatrix::new(classes, truth, predicted);
        let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
        let per_class: Vec<ClassScores> = (0..classes)
            .map(|c| {
                let tp = confusion.get(c, c);
                let precision = ratio(tp, confusion.column_sum(c));
                let recall = ratio(tp, confusion.row_sum(c));
                let f1 = if precision + recall == 0.0 {
                    0.0
                } else {
                    2.0 * precision * recall / (precision + recall)
                };
                ClassScores {
                    label: labels[c].clone(),
                    precision,
                    recall,
                    f1,
                    support: confusion.row_sum(c),
                }
            })
            .collect();
        let examples = truth.len();
        let correct = (0..classes).map(|c| confusion.get(c, c)).sum();
        let macro_f1 = per_class.iter().map(|s| s.f1).sum::<f64>() / classes.max(1) as f64;
        let weighted_f1 = per_class
            .iter()
            .map(|s| s.f1 * s.support as f64)
            .sum::<f64>()
            / examples.max(1) as f64;
        let binary = match probabilities {
            Some(p) if classes == 2 => {
                assert_eq!(
                    p.len(),
                    examples * 2,
                    "probabilities must be examples × classes"
                );
                let scores: Vec<f64> = p.chunks_exact(2).map(|row| row[1] as f64).collect();
                let positive: Vec<bool> = truth.iter().map(|&t| t == 1).collect();
                Some(BinaryScores {
                    positive: labels[1].clone(),
                    roc_auc: roc_auc(&scores, &positive),
                    pr_auc: average_precision(&scores, &positive),
                })
            }
            _ => None,
        };
        Self {
            examples,
            accuracy: ratio(correct, examples),
            macro_f1,
            weighted_f1,
            per_class,
            confusion,
            binary,
            unseen: Vec::new(),
        }
    }

    /// The report of predictions among the model's `labels` against true labels by
    /// name. A true label the model does not know is a class it can never predict:
    /// its records count as misses, and the report lists the class with its support
    /// (and in [`unseen`](Self::unseen)) instead of failing. `probabilities`, when
    /// given, are over `labels`.
    pub fn by_name(
        labels: &[String],
        truth: &[&str],
        predicted: &[usize],
        probabilities: Option<&[f32]>,
    ) -> Self {
        let mut unseen: Vec<String> = truth
            .iter()
            .filter(|t| !labels.iter().any(|l| l == *t))
            .map(|t| t.to_string())
            .collect();
        unseen.sort();
        unseen.dedup();
        let all: Vec<String> = labels.iter().chain(&unseen).cloned().collect();
        let indices: Vec<usize> = truth
            .iter()
            .map(|t| {
                all.iter()
                    .position(|l| l == t)
                    .expect("every label is listed")
            })
            .collect();
        if unseen.is_empty() {
            return Self::new(labels, &indices, predicted, probabilities);
        }
        // Zero probability for the classes the model cannot predict.
        let widened: Option<Vec<f32>> = probabilities.map(|p| {
            p.chunks_exact(labels.len().max(1))
                .flat_map(|row| {
                    row.iter()
                        .copied()
                        .chain(std::iter::repeat_n(0.0, unseen.len()))
                })
                .collect()
        });
        Self {
            unseen,
            ..Self::new(&all, &indices, predicted, widened.as_deref())
        }
    }

    /// The class with the fewest true examples, and its scores.
    pub fn rarest_class(&self) -> Option<&ClassScores> {
        self.per_class
            .iter()
            .filter(|s| s.support > 0)
            .min_by_key(|s| s.support)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    /// scikit-learn's f1_score documentation example:
    /// y_true = [0, 1, 2, 0, 1, 2], y_pred = [0, 2, 1, 0, 0, 1]
    /// → macro 0.2666…, weighted 0.2666…, per class [0.8, 0, 0]; accuracy 1/3.
    #[test]
    fn matches_the_documented_multiclass_example() {
        let report = ClassificationReport::new(
            &labels(&["a", "b", "c"]),
            &[0, 1, 2, 0, 1, 2],
            &[0, 2, 1, 0, 0, 1],
            None,
        );
        assert!((report.accuracy - 1.0 / 3.0).abs() < 1e-12);
        assert!((report.macro_f1 - 0.8 / 3.0).abs() < 1e-12);
        assert!((report.weighted_f1 - 0.8 / 3.0).abs() < 1e-12);
        let f1: Vec<f64> = report.per_class.iter().map(|s| s.f1).collect();
        assert!((f1[0] - 0.8).abs() < 1e-12 && f1[1] == 0.0 && f1[2] == 0.0);
        // Class a: 2 true, predicted 3 times (precision 2/3, recall 1).
        assert!((report.per_class[0].precision - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(report.per_class[0].recall, 1.0);
        assert_eq!(report.confusion.get(1, 2), 1);
        assert_eq!(report.confusion.get(1, 0), 1);
        assert!(report.binary.is_none());
    }

    /// A hand-computed imbalanced binary case. Truth: 6 negatives, 2 positives.
    /// Predicted: one positive found, one negative called positive.
    /// Positive class: precision 1/2, recall 1/2, F1 1/2; negative: 5/6 each.
    #[test]
    fn weighted_and_macro_differ_under_imbalance() {
        let truth = [0, 0, 0, 0, 0, 0, 1, 1];
        let predicted = [0, 0, 0, 0, 0, 1, 1, 0];
        let probabilities: Vec<f32> = [0.1, 0.2, 0.3, 0.4, 0.45, 0.7, 0.9, 0.35]
            .iter()
            .flat_map(|&p| [1.0 - p, p])
            .collect();
        let report = ClassificationReport::new(
            &labels(&["ham", "spam"]),
            &truth,
            &predicted,
            Some(&probabilities),
        );
        assert!((report.macro_f1 - (0.5 + 5.0 / 6.0) / 2.0).abs() < 1e-12);
        assert!((report.weighted_f1 - (6.0 * 5.0 / 6.0 + 2.0 * 0.5) / 8.0).abs() < 1e-12);
        assert_eq!(report.rarest_class().unwrap().label, "spam");
        // Ranks: positives score 0.9 (above all 6 negatives) and 0.35 (above 0.1, 0.2, 0.3):
        // AUC = (6 + 3) / 12.
        let binary = report.binary.unwrap();
        assert!((binary.roc_auc.unwrap() - 9.0 / 12.0).abs() < 1e-12);
        // AP: thresholds 0.9 (R=1/2, P=1), …, 0.35 (R=1, P=2/5) → 1/2·1 + 1/2·2/5.
        assert!((binary.pr_auc.unwrap() - 0.7).abs() < 1e-12);
    }
}

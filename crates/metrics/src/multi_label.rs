//! Multi-label metrics: each example has a set of labels (possibly empty), and the
//! model decides for every label whether it applies. Each metric follows
//! scikit-learn's definition at its default settings: a ratio with a zero
//! denominator counts 0, so an example with no true and no predicted label scores
//! F1 0 in the samples average, as there.

use serde::{Deserialize, Serialize};

use crate::ClassScores;

/// Every metric this project reports for a multi-label model on one data split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MultiLabelReport {
    /// How many examples were scored.
    pub examples: usize,
    /// F1 of all (example, label) decisions pooled: frequent labels weigh more.
    pub micro_f1: f64,
    /// Unweighted mean of the per-label F1: each label counts the same, however rare.
    pub macro_f1: f64,
    /// Mean over examples of each example's F1 between its true and predicted sets.
    pub samples_f1: f64,
    /// The share of examples whose predicted set is exactly the true one.
    pub subset_accuracy: f64,
    /// The share of (example, label) decisions that are wrong.
    pub hamming_loss: f64,
    /// Label-ranking average precision, from the scores: for each true label, the
    /// share of the labels scored at least as high that are true, averaged (1 for an
    /// example whose labels are none or all).
    pub ranking_average_precision: Option<f64>,
    /// Each label's precision, recall, F1 and support, in index order.
    pub per_label: Vec<ClassScores>,
    /// `true_label_counts[k]`: how many examples have `k` true labels.
    pub true_label_counts: Vec<usize>,
    /// `predicted_label_counts[k]`: how many examples were given `k` labels.
    pub predicted_label_counts: Vec<usize>,
}

/// True positives, false positives and false negatives of some decisions.
#[derive(Debug, Clone, Copy, Default)]
struct Counts {
    tp: usize,
    fp: usize,
    fn_: usize,
}

impl Counts {
    fn add(&mut self, truth: bool, predicted: bool) {
        match (truth, predicted) {
            (true, true) => self.tp += 1,
            (false, true) => self.fp += 1,
            (true, false) => self.fn_ += 1,
            (false, false) => {}
        }
    }

    fn f1(self) -> f64 {
        ratio(2 * self.tp, 2 * self.tp + self.fp + self.fn_)
    }
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

impl MultiLabelReport {
    /// `labels[j]` names label `j`; `truth` and `predicted` are `examples × labels`
    /// row-major, true where the label applies; `scores`, when given, are the
    /// model's per-label probabilities in the same layout (for the ranking metric).
    pub fn new(
        labels: &[String],
        truth: &[bool],
        predicted: &[bool],
        scores: Option<&[f32]>,
    ) -> Self {
        let width = labels.len();
        assert!(width > 0, "at least one label");
        assert_eq!(
            truth.len(),
            predicted.len(),
            "one decision per label and example"
        );
        assert!(truth.len().is_multiple_of(width), "examples × labels");
        let examples = truth.len() / width;
        let rows = || truth.chunks_exact(width).zip(predicted.chunks_exact(width));

        let mut per_label = vec![Counts::default(); width];
        let mut pooled = Counts::default();
        let (mut samples_f1, mut exact, mut wrong) = (0.0, 0, 0);
        let mut true_label_counts = vec![0; width + 1];
        let mut predicted_label_counts = vec![0; width + 1];
        for (t, p) in rows() {
            let mut example = Counts::default();
            for j in 0..width {
                per_label[j].add(t[j], p[j]);
                example.add(t[j], p[j]);
            }
            pooled.tp += example.tp;
            pooled.fp += example.fp;
            pooled.fn_ += example.fn_;
            samples_f1 += example.f1();
            exact += usize::from(t == p);
            wrong += example.fp + example.fn_;
            true_label_counts[t.iter().filter(|&&x| x).count()] += 1;
            predicted_label_counts[p.iter().filter(|&&x| x).count()] += 1;
        }
        let per_label: Vec<ClassScores> = per_label
            .iter()
            .zip(labels)
            .map(|(c, label)| ClassScores {
                label: label.clone(),
                precision: ratio(c.tp, c.tp + c.fp),
                recall: ratio(c.tp, c.tp + c.fn_),
                f1: c.f1(),
                support: c.tp + c.fn_,
            })
            .collect();
        let ranking_average_precision = scores.map(|s| {
            assert_eq!(s.len(), truth.len(), "one score per label and example");
            let total: f64 = truth
                .chunks_exact(width)
                .zip(s.chunks_exact(width))
                .map(|(t, s)| ranking_precision(t, s))
                .sum();
            total / examples.max(1) as f64
        });
        Self {
            examples,
            micro_f1: pooled.f1(),
            macro_f1: per_label.iter().map(|s| s.f1).sum::<f64>() / width as f64,
            samples_f1: samples_f1 / examples.max(1) as f64,
            subset_accuracy: ratio(exact, examples),
            hamming_loss: ratio(wrong, examples * width),
            ranking_average_precision,
            per_label,
            true_label_counts: trim_zeros(true_label_counts),
            predicted_label_counts: trim_zeros(predicted_label_counts),
        }
    }
}

/// One example's label-ranking average precision. A label's rank counts every label
/// scored at least as high (ties rank low, as scikit-learn's do); an example whose
/// labels are none or all is ranked perfectly by any scores.
fn ranking_precision(truth: &[bool], scores: &[f32]) -> f64 {
    let relevant = truth.iter().filter(|&&t| t).count();
    if relevant == 0 || relevant == truth.len() {
        return 1.0;
    }
    let at_least = |score: f32, only_relevant: bool| {
        scores
            .iter()
            .zip(truth)
            .filter(|&(&s, &t)| s >= score && (t || !only_relevant))
            .count()
    };
    let sum: f64 = scores
        .iter()
        .zip(truth)
        .filter(|&(_, &t)| t)
        .map(|(&s, _)| at_least(s, true) as f64 / at_least(s, false) as f64)
        .sum();
    sum / relevant as f64
}

/// A distribution without the zero counts past its last non-zero one.
fn trim_zeros(mut counts: Vec<usize>) -> Vec<usize> {
    while counts.len() > 1 && counts.last() == Some(&0) {
        counts.pop();
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Truth {a, c}, {b}; predicted {a}, {b, c}: by hand, micro F1 = 2·2/(2·2+1+1).
    #[test]
    fn counts_decisions_by_hand() {
        let labels: Vec<String> = ["a", "b", "c"].map(String::from).to_vec();
        let truth = [true, false, true, false, true, false];
        let predicted = [true, false, false, false, true, true];
        let report = MultiLabelReport::new(&labels, &truth, &predicted, None);
        assert!((report.micro_f1 - 4.0 / 6.0).abs() < 1e-12);
        assert!((report.hamming_loss - 2.0 / 6.0).abs() < 1e-12);
        assert_eq!(report.subset_accuracy, 0.0);
        // Examples' F1: 2/3 and 2/3.
        assert!((report.samples_f1 - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(report.true_label_counts, [0, 1, 1]);
        assert_eq!(report.predicted_label_counts, [0, 1, 1]);
        assert_eq!(report.per_label[2].support, 1);
        assert_eq!(report.per_label[2].f1, 0.0);
    }
}

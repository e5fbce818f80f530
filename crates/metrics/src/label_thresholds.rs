//! How a multi-label model's per-label probabilities become a set of labels: a
//! threshold per label, fixed or tuned on validation, and optionally the most
//! probable label for an example that would otherwise get none.

use serde::{Deserialize, Serialize};

use crate::ThresholdTarget;
use crate::decision::cut_scores;

/// The default threshold: a label applies when its sigmoid says it is more likely
/// than not.
pub const DEFAULT_LABEL_THRESHOLD: f64 = 0.5;

/// Per-label thresholds, and whether every example gets at least one label.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabelThresholds {
    /// Label `j` applies when its probability is at least `at[j]`.
    pub at: Vec<f64>,
    /// An example with no label above its threshold gets its most probable one.
    pub at_least_one: bool,
}

impl LabelThresholds {
    /// The same threshold for each of `labels` labels.
    pub fn fixed(labels: usize, at: f64, at_least_one: bool) -> Self {
        Self {
            at: vec![at; labels],
            at_least_one,
        }
    }

    /// Each label's threshold chosen on validation `probabilities` against `truth`
    /// (both `examples × labels`, row-major) to meet `target` for that label alone,
    /// as [`choose_threshold`](crate::choose_threshold) does for a binary task. A
    /// label with no true example in validation keeps [`DEFAULT_LABEL_THRESHOLD`]:
    /// nothing there can say where it should be.
    pub fn tuned(
        probabilities: &[f32],
        truth: &[bool],
        labels: usize,
        target: ThresholdTarget,
        at_least_one: bool,
    ) -> Self {
        assert_eq!(
            probabilities.len(),
            truth.len(),
            "one probability per decision"
        );
        let at = (0..labels)
            .map(|j| {
                let scored: Vec<(f64, bool)> = probabilities
                    .chunks_exact(labels)
                    .zip(truth.chunks_exact(labels))
                    .map(|(p, t)| (p[j] as f64, t[j]))
                    .collect();
                if scored.iter().any(|&(_, positive)| positive) {
                    cut_scores(scored, target)
                } else {
                    DEFAULT_LABEL_THRESHOLD
                }
            })
            .collect();
        Self { at, at_least_one }
    }

    /// The labels of each row of `probabilities` (`examples × labels`, row-major).
    pub fn decide(&self, probabilities: &[f32]) -> Vec<bool> {
        let labels = self.at.len();
        let mut decided: Vec<bool> = probabilities
            .chunks_exact(labels)
            .flat_map(|row| row.iter().zip(&self.at).map(|(&p, &at)| p as f64 >= at))
            .collect();
        if self.at_least_one {
            for (row, decisions) in probabilities
                .chunks_exact(labels)
                .zip(decided.chunks_exact_mut(labels))
            {
                if !decisions.contains(&true) {
                    let top = crate::argmax_rows(row, labels)[0];
                    decisions[top] = true;
                }
            }
        }
        decided
    }

    /// Checks that these thresholds decide `labels` labels, each a number.
    pub fn check(&self, labels: usize) -> Result<(), String> {
        if self.at.len() != labels {
            return Err(format!("{} thresholds for {labels} labels", self.at.len()));
        }
        match self.at.iter().find(|at| !at.is_finite()) {
            Some(at) => Err(format!("threshold {at} is not a number")),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// F1 of one label's decisions `p ≥ at`, counted directly.
    fn f1_at(scores: &[(f64, bool)], at: f64) -> f64 {
        let tp = scores.iter().filter(|&&(p, t)| p >= at && t).count();
        let predicted = scores.iter().filter(|&&(p, _)| p >= at).count();
        let positives = scores.iter().filter(|&&(_, t)| t).count();
        2.0 * tp as f64 / (predicted + positives).max(1) as f64
    }

    /// Against exhaustive search: no observed probability, as a threshold, gives a
    /// label a higher validation F1 than the one chosen.
    #[test]
    fn each_tuned_threshold_is_the_best_f1_of_its_label() {
        let (rows, labels) = (60, 4);
        // A linear congruential generator: any fixed sequence of spread values will do.
        let mut state = 11u64;
        let mut unit = || {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        let probabilities: Vec<f32> = (0..rows * labels).map(|_| unit() as f32).collect();
        // Label j is true more often where its probability is high; label 3 never.
        let truth: Vec<bool> = probabilities
            .iter()
            .enumerate()
            .map(|(k, &p)| k % labels != 3 && (p as f64 + 0.6 * unit()) > 0.9)
            .collect();
        let tuned = LabelThresholds::tuned(
            &probabilities,
            &truth,
            labels,
            ThresholdTarget::BestF1,
            false,
        );
        for j in 0..labels {
            let scores: Vec<(f64, bool)> = (0..rows)
                .map(|i| (probabilities[i * labels + j] as f64, truth[i * labels + j]))
                .collect();
            if j == 3 {
                assert_eq!(tuned.at[j], DEFAULT_LABEL_THRESHOLD);
                continue;
            }
            let chosen = f1_at(&scores, tuned.at[j]);
            for &(candidate, _) in &scores {
                assert!(
                    chosen >= f1_at(&scores, candidate),
                    "label {j}: {candidate} beats {}",
                    tuned.at[j]
                );
            }
        }
    }

    #[test]
    fn an_example_below_every_threshold_gets_its_most_probable_label_when_asked() {
        let probabilities = [0.9, 0.2, 0.6, 0.1, 0.4, 0.3];
        let fixed = LabelThresholds::fixed(3, 0.5, false);
        assert_eq!(
            fixed.decide(&probabilities),
            [true, false, true, false, false, false]
        );
        let at_least_one = LabelThresholds::fixed(3, 0.5, true);
        assert_eq!(
            at_least_one.decide(&probabilities),
            [true, false, true, false, true, false]
        );
        assert!(fixed.check(3).is_ok() && fixed.check(2).is_err());
    }
}

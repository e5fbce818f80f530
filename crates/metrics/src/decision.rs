//! Decision-level remedies for class imbalance: how probabilities become a class.
//!
//! A model trained on skewed data leans towards the frequent classes. Two post-hoc
//! corrections, chosen after training and stored with the model, move the decision
//! without retraining: logit adjustment by the training priors (Menon et al., 2021,
//! "Long-tail learning via logit adjustment"), and for two classes a threshold on the
//! positive class chosen on validation data.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::{ClassificationReport, argmax_rows};

/// What a binary threshold is chosen to achieve on validation data.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ThresholdTarget {
    /// The largest F1 of the positive class.
    BestF1,
    /// The highest threshold whose recall of the positive class reaches this.
    Recall(f64),
}

/// How probabilities become a predicted class. The default is plain argmax.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DecisionRule {
    /// The most probable class.
    #[default]
    Argmax,
    /// argmax over `log p_c − τ · log π_c`, `π` the training class priors: divides
    /// each probability by its prior to the power τ (τ = 1 is the Bayes-optimal
    /// correction for a balanced test distribution).
    LogitAdjusted {
        /// How strongly the priors are subtracted.
        tau: f64,
        /// The training class frequencies.
        priors: Vec<f64>,
    },
    /// Two classes: the positive class (index 1, as in the report's ROC/PR-AUC) when
    /// its probability is at least `at`.
    Threshold {
        /// The positive-class probability from which a text is positive.
        at: f64,
        /// What the threshold was tuned for.
        target: ThresholdTarget,
    },
}

impl DecisionRule {
    /// Logit adjustment with the class frequencies of `train_labels`.
    pub fn logit_adjusted(tau: f64, train_labels: &[usize], classes: usize) -> Self {
        let mut counts = vec![0usize; classes];
        for &l in train_labels {
            counts[l] += 1;
        }
        let n = train_labels.len().max(1) as f64;
        // A class absent from training gets one pseudo-count: log 0 would be −∞.
        let priors = counts.iter().map(|&c| c.max(1) as f64 / n).collect();
        DecisionRule::LogitAdjusted { tau, priors }
    }

    /// The threshold on the positive class's probability that meets `target` on
    /// validation probabilities (`n × 2`, row-major) and their true classes.
    pub fn threshold(probabilities: &[f32], truth: &[usize], target: ThresholdTarget) -> Self {
        DecisionRule::Threshold {
            at: choose_threshold(probabilities, truth, target),
            target,
        }
    }

    /// The class of each row of `probabilities` (`n × classes`, row-major).
    pub fn decide(&self, probabilities: &[f32], classes: usize) -> Vec<usize> {
        match self {
            DecisionRule::Argmax => argmax_rows(probabilities, classes),
            DecisionRule::LogitAdjusted { tau, priors } => {
                let adjusted: Vec<f32> = probabilities
                    .chunks_exact(classes)
                    .flat_map(|row| {
                        row.iter().zip(priors).map(|(&p, &prior)| {
                            ((p as f64).max(1e-30).ln() - tau * prior.ln()) as f32
                        })
                    })
                    .collect();
                argmax_rows(&adjusted, classes)
            }
            DecisionRule::Threshold { at, .. } => probabilities
                .chunks_exact(classes)
                .map(|row| usize::from(row[1] as f64 >= *at))
                .collect(),
        }
    }
}

impl DecisionRule {
    /// The report of `probabilities` against `truth` when this rule picks the classes.
    pub fn report(
        &self,
        labels: &[String],
        truth: &[usize],
        probabilities: &[f32],
    ) -> ClassificationReport {
        let predicted = self.decide(probabilities, labels.len());
        ClassificationReport::new(labels, truth, &predicted, Some(probabilities))
    }

    /// The report of `probabilities` (over the model's `labels`) against the true
    /// labels by name, some of which the model may not know
    /// ([`ClassificationReport::by_name`]).
    pub fn report_names(
        &self,
        labels: &[String],
        truth: &[&str],
        probabilities: &[f32],
    ) -> ClassificationReport {
        let predicted = self.decide(probabilities, labels.len());
        ClassificationReport::by_name(labels, truth, &predicted, Some(probabilities))
    }

    /// Checks that this rule can decide among `classes` classes (a saved rule read
    /// back from a file must, or deciding would fail).
    pub fn check(&self, classes: usize) -> Result<(), String> {
        match self {
            DecisionRule::Argmax => Ok(()),
            DecisionRule::LogitAdjusted { tau, priors } => {
                if !(tau.is_finite() && *tau >= 0.0) {
                    return Err(format!("logit adjustment τ {tau} must be ≥ 0"));
                }
                if priors.len() != classes {
                    return Err(format!(
                        "logit adjustment has {} priors for {classes} classes",
                        priors.len()
                    ));
                }
                if priors.iter().any(|p| !(p.is_finite() && *p > 0.0)) {
                    return Err("logit adjustment priors must be positive".into());
                }
                Ok(())
            }
            DecisionRule::Threshold { at, .. } => {
                if classes != 2 {
                    return Err(format!(
                        "a threshold decides between 2 classes, not {classes}"
                    ));
                }
                if !at.is_finite() {
                    return Err(format!("threshold {at} is not a number"));
                }
                Ok(())
            }
        }
    }
}

impl fmt::Display for DecisionRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecisionRule::Argmax => f.write_str("argmax"),
            DecisionRule::LogitAdjusted { tau, .. } => write!(f, "logit adjustment, τ = {tau}"),
            DecisionRule::Threshold { at, target } => {
                write!(f, "positive class when p ≥ {at:.4} (chosen for {target})")
            }
        }
    }
}

impl fmt::Display for ThresholdTarget {
    /// The form [`FromStr`] reads back.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ThresholdTarget::BestF1 => f.write_str("f1"),
            ThresholdTarget::Recall(r) => write!(f, "recall:{r}"),
        }
    }
}

impl FromStr for ThresholdTarget {
    type Err = String;

    /// `f1` or `recall:R` with R in (0, 1].
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.strip_prefix("recall:") {
            None if s == "f1" => Ok(ThresholdTarget::BestF1),
            Some(r) => match r.parse::<f64>() {
                Ok(r) if r > 0.0 && r <= 1.0 => Ok(ThresholdTarget::Recall(r)),
                _ => Err(format!("{s:?}: the recall must be in (0, 1]")),
            },
            None => Err(format!("{s:?}: expected f1 or recall:R")),
        }
    }
}

/// The threshold on column 1 of `probabilities` (`n × 2`) meeting `target` against
/// `truth`. Candidates are the observed probabilities, so every distinct decision
/// is tried once; ties in F1 go to the higher threshold (fewer false alarms).
pub fn choose_threshold(probabilities: &[f32], truth: &[usize], target: ThresholdTarget) -> f64 {
    let scored = probabilities
        .chunks_exact(2)
        .zip(truth)
        .map(|(row, &t)| (row[1] as f64, t == 1))
        .collect();
    cut_scores(scored, target)
}

/// The threshold on `scored`'s scores (each with whether it is a positive) meeting
/// `target`: [`choose_threshold`] on scores of one kind of decision.
pub(crate) fn cut_scores(mut scored: Vec<(f64, bool)>, target: ThresholdTarget) -> f64 {
    // Descending: lowering the threshold past a group of equal scores admits them all.
    scored.sort_by(|a, b| b.0.total_cmp(&a.0));
    let positives = scored.iter().filter(|s| s.1).count();
    let (mut true_pos, mut predicted) = (0usize, 0usize);
    let mut best = (f64::NEG_INFINITY, 1.0);
    let mut i = 0;
    while i < scored.len() {
        let at = scored[i].0;
        while i < scored.len() && scored[i].0 == at {
            true_pos += usize::from(scored[i].1);
            predicted += 1;
            i += 1;
        }
        let recall = true_pos as f64 / positives.max(1) as f64;
        match target {
            ThresholdTarget::Recall(wanted) if recall >= wanted => return at,
            ThresholdTarget::Recall(_) => {}
            ThresholdTarget::BestF1 => {
                let f1 = 2.0 * true_pos as f64 / (predicted + positives) as f64;
                if f1 > best.0 {
                    best = (f1, at);
                }
            }
        }
    }
    match target {
        ThresholdTarget::BestF1 => best.1,
        // Unreachable recall (no positives): predict everything positive.
        ThresholdTarget::Recall(_) => scored.last().map_or(0.0, |s| s.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(p_positive: &[f32]) -> Vec<f32> {
        p_positive.iter().flat_map(|&p| [1.0 - p, p]).collect()
    }

    #[test]
    fn the_threshold_of_best_f1_by_hand() {
        // Scores of positives 0.9, 0.6, 0.3; negatives 0.7, 0.2, 0.1.
        let p = rows(&[0.9, 0.7, 0.6, 0.3, 0.2, 0.1]);
        let truth = [1, 0, 1, 1, 0, 0];
        // t=0.9: F1 2·1/(1+3)=0.5; t=0.7: 2/5=0.4; t=0.6: 4/6=0.667; t=0.3: 6/7=0.857;
        // t=0.2: 6/8=0.75; t=0.1: 6/9=0.667. Best: 0.3.
        let at = choose_threshold(&p, &truth, ThresholdTarget::BestF1) as f32;
        assert_eq!(at, 0.3);
        // Recall ≥ 0.6 first holds at 0.6 (2 of 3).
        let at = choose_threshold(&p, &truth, ThresholdTarget::Recall(0.6)) as f32;
        assert_eq!(at, 0.6);
        let rule = DecisionRule::threshold(&p, &truth, ThresholdTarget::BestF1);
        assert_eq!(rule.decide(&p, 2), vec![1, 1, 1, 1, 0, 0]);
    }

    #[test]
    fn logit_adjustment_divides_by_the_prior_to_the_power_tau() {
        // Priors 0.9 / 0.1. p = (0.7, 0.3): 0.7/0.9 = 0.78 < 0.3/0.1 = 3 → class 1 at
        // τ = 1; at τ = 0 plain argmax keeps class 0.
        let train: Vec<usize> = [vec![0; 9], vec![1; 1]].concat();
        let p = [0.7, 0.3, 0.98, 0.02];
        let rule = DecisionRule::logit_adjusted(1.0, &train, 2);
        assert_eq!(rule.decide(&p, 2), vec![1, 0]);
        assert_eq!(
            DecisionRule::logit_adjusted(0.0, &train, 2).decide(&p, 2),
            vec![0, 0]
        );
        assert_eq!(DecisionRule::Argmax.decide(&p, 2), vec![0, 0]);
    }

    #[test]
    fn labels_the_model_never_saw_are_scored_as_misses() {
        let labels = ["a".to_owned(), "b".to_owned()];
        // Three records of a and b, predicted right; two of c, which the model lacks.
        let p = [0.9, 0.1, 0.2, 0.8, 0.6, 0.4, 0.7, 0.3, 0.1, 0.9];
        let truth = ["a", "b", "a", "c", "c"];
        let report = DecisionRule::Argmax.report_names(&labels, &truth, &p);
        assert_eq!(report.unseen, ["c"]);
        assert_eq!(report.examples, 5);
        assert!((report.accuracy - 3.0 / 5.0).abs() < 1e-12);
        let c = &report.per_class[2];
        assert_eq!((c.label.as_str(), c.support, c.f1), ("c", 2, 0.0));
        // a: precision 2/3 (the c predicted a), recall 1 → F1 0.8; b: 1/2, 1 → 2/3.
        let expected = (0.8 + 2.0 / 3.0 + 0.0) / 3.0;
        assert!((report.macro_f1 - expected).abs() < 1e-12);
        assert_eq!(report.confusion.get(2, 0), 1);
        assert_eq!(report.confusion.get(2, 1), 1);
        let known = DecisionRule::Argmax.report_names(&labels, &["a", "b", "a", "a", "b"], &p);
        assert!(known.unseen.is_empty() && known.binary.is_some());
    }

    #[test]
    fn a_saved_rule_is_checked_against_the_class_count() {
        let rule = DecisionRule::logit_adjusted(1.0, &[0, 1, 1], 2);
        assert!(rule.check(2).is_ok() && rule.check(3).is_err());
        let threshold = DecisionRule::Threshold {
            at: 0.5,
            target: ThresholdTarget::BestF1,
        };
        assert!(threshold.check(2).is_ok() && threshold.check(3).is_err());
    }

    #[test]
    fn targets_read_back_what_they_print() {
        for text in ["f1", "recall:0.9"] {
            assert_eq!(text.parse::<ThresholdTarget>().unwrap().to_string(), text);
        }
        for bad in ["recall:0", "recall:1.5", "precision", "recall:x"] {
            assert!(bad.parse::<ThresholdTarget>().is_err(), "{bad}");
        }
    }
}

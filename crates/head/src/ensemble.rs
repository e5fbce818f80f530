//! Ensembles of heads: bagging (Breiman, 1996) trains members on bootstrap samples;
//! boosting (multi-class AdaBoost, SAMME: Zhu et al., 2009) trains them in turn, each
//! on the examples its predecessors got wrong weighted up. [`Combine`] is how any
//! members' probabilities — heads or fine-tuned models — become one prediction.

use burn::tensor::Device;
use data::bootstrap_sample;
use metrics::{ClassificationReport, DecisionRule, argmax_rows};
use serde::{Deserialize, Serialize};

use crate::{Features, HeadError, TrainConfig, TrainedHead, train_head};

/// How members' probabilities are combined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Combine {
    /// The (weighted) mean of the members' probabilities.
    #[default]
    Mean,
    /// Each member votes for its most probable class; the probabilities are the
    /// (weighted) shares of the votes.
    Vote,
}

settings::serde_names!(Combine);

impl Combine {
    /// The members' probabilities (each `rows × classes`) combined with `weights`
    /// (one per member, not necessarily summing to 1) into `rows × classes`.
    pub fn apply(self, members: &[Vec<f32>], weights: &[f64], classes: usize) -> Vec<f32> {
        assert_eq!(members.len(), weights.len(), "one weight per member");
        assert!(!members.is_empty(), "an ensemble has members");
        let total: f64 = weights.iter().sum();
        let mut combined = vec![0.0f64; members[0].len()];
        for (probabilities, &weight) in members.iter().zip(weights) {
            assert_eq!(
                probabilities.len(),
                combined.len(),
                "members disagree on rows"
            );
            match self {
                Combine::Mean => {
                    for (c, &p) in combined.iter_mut().zip(probabilities) {
                        *c += weight * f64::from(p);
                    }
                }
                Combine::Vote => {
                    for (row, class) in argmax_rows(probabilities, classes).into_iter().enumerate()
                    {
                        combined[row * classes + class] += weight;
                    }
                }
            }
        }
        combined.into_iter().map(|c| (c / total) as f32).collect()
    }
}

/// Heads whose combined probabilities make one classifier.
pub struct HeadEnsemble {
    /// The trained members.
    pub members: Vec<TrainedHead>,
    /// One per member: 1 for bagging, SAMME's α for boosting.
    pub weights: Vec<f64>,
    /// How the members' probabilities are combined.
    pub combine: Combine,
    /// The ensemble's validation metrics.
    pub valid_report: ClassificationReport,
}

impl HeadEnsemble {
    /// Combined probabilities for raw features: `rows × classes`.
    pub fn predict_proba(&self, features: &Features, device: &Device) -> Vec<f32> {
        combined_proba(&self.members, &self.weights, self.combine, features, device)
    }

    /// The member with the best validation macro-F1 (then accuracy): what the
    /// ensemble must beat.
    pub fn best_member(&self) -> &TrainedHead {
        self.members
            .iter()
            .max_by(|a, b| {
                let (a, b) = (a.valid_report.ranking_key(), b.valid_report.ranking_key());
                a.partial_cmp(&b).unwrap_or(std::cmp::Ordering::Equal)
            })
            .expect("an ensemble has members")
    }

    fn new(
        members: Vec<TrainedHead>,
        weights: Vec<f64>,
        combine: Combine,
        valid: &Features,
        labels: &[String],
        device: &Device,
    ) -> Self {
        let probabilities = combined_proba(&members, &weights, combine, valid, device);
        Self {
            valid_report: DecisionRule::Argmax.report(labels, valid.classes(), &probabilities),
            members,
            weights,
            combine,
        }
    }
}

fn combined_proba(
    members: &[TrainedHead],
    weights: &[f64],
    combine: Combine,
    features: &Features,
    device: &Device,
) -> Vec<f32> {
    let probabilities: Vec<Vec<f32>> = members
        .iter()
        .map(|m| m.predict_proba(features, device))
        .collect();
    combine.apply(&probabilities, weights, members[0].outputs)
}

/// Ensembles combine class probabilities and decide by class; ensembles of
/// multi-label and regression heads are not built yet.
fn single_label_only(train: &Features) -> Result<(), HeadError> {
    match train.targets.task() {
        data::Task::SingleLabel => Ok(()),
        task => Err(HeadError::Data(format!(
            "ensembles of {task} heads are not built yet: train one head"
        ))),
    }
}

/// Bagging: `members` heads, each trained as `config` says on its own bootstrap sample
/// of `train` (as many draws as rows, with replacement; member k's from `config.seed +
/// k`, which also seeds its weights), combined by `combine` with equal weights.
pub fn bag(
    train: &Features,
    valid: &Features,
    labels: &[String],
    config: &TrainConfig,
    members: usize,
    combine: Combine,
    device: &Device,
) -> Result<HeadEnsemble, HeadError> {
    settings::at_least_one("bag", members)?;
    single_label_only(train)?;
    let heads = (0..members as u64)
        .map(|k| {
            let seed = config.seed.wrapping_add(k);
            let sample = bootstrap_sample(train.originals(), seed);
            let member = TrainConfig {
                seed,
                ..config.clone()
            };
            train_head(&train.subset(&sample), valid, labels, &member, device)
        })
        .collect::<Result<_, _>>()?;
    Ok(HeadEnsemble::new(
        heads,
        vec![1.0; members],
        combine,
        valid,
        labels,
        device,
    ))
}

/// SAMME: up to `rounds` heads in turn, each trained with example weights (mean 1)
/// that grow by `exp(α)` on the examples its predecessor misclassified, where
/// `α = ln((1 − err) / err) + ln(K − 1)` and `err` is the weighted training error.
/// The ensemble votes with weights α. Stops early when a member is no better than
/// chance (`err ≥ 1 − 1/K`, kept out) or perfect on the training data (kept alone
/// would suffice: no later member could be weighted).
pub fn boost(
    train: &Features,
    valid: &Features,
    labels: &[String],
    config: &TrainConfig,
    rounds: usize,
    device: &Device,
) -> Result<HeadEnsemble, HeadError> {
    settings::at_least_one("boost", rounds)?;
    single_label_only(train)?;
    if config.loss.kind != training::LossKind::CrossEntropy || config.loss.class_weights.is_some() {
        return Err(settings::SettingError::new(
            "loss",
            config.loss.describe(),
            "boosting weights examples through plain cross-entropy: no other loss, no class weights",
        )
        .into());
    }
    if train.variants > 0 {
        return Err(HeadError::Data(
            "boosting weighs the training examples themselves: augmented variants have no place"
                .into(),
        ));
    }
    let (rows, classes) = (train.rows, labels.len());
    let chance = 1.0 - 1.0 / classes as f64;
    let mut weights = vec![1.0f64; rows];
    let (mut heads, mut alphas) = (Vec::new(), Vec::new());
    for round in 0..rounds as u64 {
        let weighted = train
            .clone()
            .with_example_weights(weights.iter().map(|&w| w as f32).collect());
        let member = TrainConfig {
            seed: config.seed.wrapping_add(round),
            ..config.clone()
        };
        let head = train_head(&weighted, valid, labels, &member, device)?;
        let predicted = argmax_rows(&head.predict_proba(train, device), classes);
        let wrong: Vec<bool> = predicted
            .iter()
            .zip(train.classes())
            .map(|(p, y)| p != y)
            .collect();
        let total: f64 = weights.iter().sum();
        let error = weights
            .iter()
            .zip(&wrong)
            .filter(|(_, w)| **w)
            .map(|(w, _)| w)
            .sum::<f64>()
            / total;
        if error >= chance && !heads.is_empty() {
            break;
        }
        let error = error.clamp(1e-10, chance - 1e-10);
        let alpha = ((1.0 - error) / error).ln() + (classes as f64 - 1.0).ln();
        heads.push(head);
        alphas.push(alpha);
        if error <= 1e-10 {
            break;
        }
        for (w, &is_wrong) in weights.iter_mut().zip(&wrong) {
            if is_wrong {
                *w *= alpha.exp();
            }
        }
        // Renormalised to mean 1, so the loss keeps its scale and the learning rate
        // means the same in every round.
        let mean = weights.iter().sum::<f64>() / rows as f64;
        weights.iter_mut().for_each(|w| *w /= mean);
    }
    Ok(HeadEnsemble::new(
        heads,
        alphas,
        Combine::Vote,
        valid,
        labels,
        device,
    ))
}

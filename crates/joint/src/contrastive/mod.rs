//! Contrastive tuning of the encoder for few labels (SetFit: Tunstall et al. 2022,
//! "Efficient Few-Shot Learning Without Prompts").
//!
//! Pairs of training examples ([`draw_pairs`]) pull the sentence embeddings of the
//! same label together and push different labels apart: the loss is the squared
//! difference between the pair's cosine similarity and 1 (same label) or 0
//! (sentence-transformers' `CosineSimilarityLoss`). With k examples per class there
//! are about k² pairs per class for k examples, which is why it trains where
//! classification on the k examples alone does not. A head is then fitted on the
//! tuned embeddings (the facade fits logistic regression, as SetFit does).

mod pairs;

use std::ops::ControlFlow;
use std::time::Instant;

use burn::module::Module;
use burn::optim::GradientsParams;
use burn::tensor::{Device, Tensor, TensorData};
use serde::{Deserialize, Serialize};

pub use pairs::{Pair, draw_pairs};

use crate::batches::{DROPOUT_STREAM, ORDER_STREAM, derived_seed};
use crate::optim::{WarmupSchedule, build_optimizer, clip_global_norm};
use crate::predict::batch_input;
use crate::rates::LayerRates;
use crate::{BertClassifier, Examples, JointError, Optimization, TrainEvent};

/// What contrastive tuning trains on. How it trains (epochs over the pairs, pairs per
/// step, rates, decay, clipping, what is frozen, the seed) is the run's
/// [`Optimization`] ([`setfit_recipe`] is SetFit's). Each setting one plain value, so
/// that a job can flatten it into its own settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ContrastiveConfig {
    /// Pairs of each kind per training example: `2 × this × examples` pairs, half of
    /// them of one label (SetFit's `num_iterations`).
    pub pair_iterations: usize,
}

impl Default for ContrastiveConfig {
    fn default() -> Self {
        // SetFit's examples and paper use 20.
        Self {
            pair_iterations: 20,
        }
    }
}

impl ContrastiveConfig {
    /// Checks every setting against its rule.
    pub fn validate(&self) -> Result<(), settings::SettingError> {
        settings::at_least_one("pair_iterations", self.pair_iterations)
    }
}

/// SetFit's optimization of contrastive tuning (`setfit.TrainingArguments` and the
/// sentence-transformers trainer under it): 1 epoch over the pairs, 16 pairs per
/// step, peak rate 2e-5 after a linear warm-up over 10% of the steps then a linear
/// decay, AdamW without weight decay, gradients clipped to norm 1.
pub fn setfit_recipe(seed: u64) -> Optimization {
    Optimization {
        epochs: 1,
        batch_size: 16,
        learning_rate: 2e-5,
        warmup_ratio: 0.1,
        schedule: training::Schedule::Linear,
        weight_decay: 0.0,
        max_grad_norm: 1.0,
        seed,
        ..Optimization::default()
    }
}

/// The result of [`tune_contrastively`].
pub struct ContrastiveTuned {
    /// The tuned classifier on the inference device (its head untouched).
    pub model: BertClassifier,
    /// Optimizer steps taken.
    pub steps: usize,
    /// Pairs trained on, over all epochs.
    pub pairs_trained: usize,
    /// The mean loss of each epoch.
    pub epoch_losses: Vec<f64>,
    /// Training wall time.
    pub train_seconds: f64,
    /// Whether the caller stopped it before its last step.
    pub interrupted: bool,
}

/// Tunes `model`'s encoder on `pairs` of `train`'s examples for
/// `optimization.epochs` epochs (pairs reshuffled each epoch), `batch_size` pairs
/// per optimizer step, the embeddings pooled as the classifier pools them. Every
/// step is told to `on_event` as a [`TrainEvent::Step`] whose examples are pairs;
/// [`ControlFlow::Break`] stops after the step.
pub fn tune_contrastively(
    model: BertClassifier,
    train: &Examples,
    pairs: &[Pair],
    optimization: &Optimization,
    pad_id: u32,
    device: &Device,
    on_event: &mut dyn FnMut(&TrainEvent<'_>) -> ControlFlow<()>,
) -> Result<ContrastiveTuned, JointError> {
    optimization.validate()?;
    if model.verbalizer.is_some() {
        return Err(JointError::Data(
            "contrastive tuning compares pooled sentence embeddings: a prompt classifier \
             has none"
                .into(),
        ));
    }
    if let Some(pair) = pairs.iter().find(|p| p.first.max(p.second) >= train.len()) {
        return Err(JointError::Data(format!(
            "a pair names example {} of {} training examples",
            pair.first.max(pair.second),
            train.len()
        )));
    }
    let started = Instant::now();
    let autodiff = device.clone().autodiff();
    let mut model = model.ready_for(optimization);
    let rates = LayerRates::of(&model, optimization);
    let mut optimizer = build_optimizer(optimization.weight_decay);
    let steps_per_epoch = pairs.len().div_ceil(optimization.batch_size);
    let total_steps = steps_per_epoch * optimization.epochs;
    let schedule = WarmupSchedule {
        peak: optimization.learning_rate,
        warmup_steps: (optimization.warmup_ratio * total_steps as f64).round() as usize,
        total_steps,
        decay: optimization.schedule,
    };
    let mut stopped = on_event(&TrainEvent::Started {
        total_steps,
        steps_done: 0,
        total_examples: pairs.len() * optimization.epochs,
        examples_done: 0,
    })
    .is_break();
    let (mut steps, mut pairs_trained, mut epoch_losses) = (0, 0, Vec::new());
    for epoch in 0..optimization.epochs {
        if stopped {
            break;
        }
        let mut order: Vec<usize> = (0..pairs.len()).collect();
        data::SplitMix64::new(derived_seed(optimization.seed, ORDER_STREAM, epoch as u64))
            .shuffle(&mut order);
        let mut loss_sum = 0.0;
        for batch in order.chunks(optimization.batch_size) {
            let batch: Vec<Pair> = batch.iter().map(|&i| pairs[i]).collect();
            autodiff.seed(derived_seed(
                optimization.seed,
                DROPOUT_STREAM,
                steps as u64,
            ));
            let loss = pair_loss(&model, train, &batch, pad_id, &autodiff);
            let value = loss.clone().into_scalar::<f32>();
            if !value.is_finite() {
                return Err(JointError::NonFiniteLoss {
                    step: steps + 1,
                    loss: value,
                    checkpoint: String::new(),
                });
            }
            let mut grads = GradientsParams::from_grads(loss.backward(), &model);
            let grad_norm = clip_global_norm(&model, &mut grads, optimization.max_grad_norm);
            let learning_rate = schedule.rate(steps);
            model = optimizer.step(rates.at(learning_rate), model, grads);
            steps += 1;
            pairs_trained += batch.len();
            loss_sum += f64::from(value) * batch.len() as f64;
            let event = TrainEvent::Step {
                step: steps,
                total_steps,
                epoch,
                loss: f64::from(value),
                learning_rate,
                grad_norm,
                examples: batch.len(),
                examples_done: pairs_trained,
            };
            if on_event(&event).is_break() {
                stopped = true;
                break;
            }
        }
        epoch_losses.push(loss_sum / pairs.len() as f64);
    }
    Ok(ContrastiveTuned {
        model: model.valid(),
        steps,
        pairs_trained,
        epoch_losses,
        train_seconds: started.elapsed().as_secs_f64(),
        interrupted: stopped,
    })
}

/// The mean over `batch` of `(cos(u, v) − y)²`, `u` and `v` the pair's pooled
/// embeddings and `y` 1 for a similar pair, 0 otherwise: both sides of every pair in
/// one forward pass.
fn pair_loss(
    model: &BertClassifier,
    train: &Examples,
    batch: &[Pair],
    pad_id: u32,
    device: &Device,
) -> Tensor<1> {
    let sides: Vec<usize> = batch
        .iter()
        .map(|p| p.first)
        .chain(batch.iter().map(|p| p.second))
        .collect();
    let input = batch_input(
        &train.encodings,
        train.states.as_deref(),
        &sides,
        pad_id,
        device,
    );
    let embeddings = model.embed(&input);
    let n = batch.len();
    let first = embeddings.clone().slice(0..n);
    let second = embeddings.slice(n..2 * n);
    let targets: Vec<f32> = batch
        .iter()
        .map(|p| f32::from(u8::from(p.similar)))
        .collect();
    let targets = Tensor::<1>::from_data(TensorData::new(targets, [n]), device);
    (cosine_similarity(first, second) - targets).square().mean()
}

/// Row-wise cosine similarity, `[rows]`: `u·v / max(‖u‖ ‖v‖, 1e-8)`, as
/// `torch.cosine_similarity`.
pub fn cosine_similarity(u: Tensor<2>, v: Tensor<2>) -> Tensor<1> {
    let dot = (u.clone() * v.clone()).sum_dim(1);
    let norms = (u.square().sum_dim(1) * v.square().sum_dim(1))
        .sqrt()
        .clamp_min(1e-8);
    (dot / norms).squeeze_dim::<1>(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cosine_similarity_in_closed_form() {
        let device = Device::flex();
        let rows =
            |values: Vec<f32>| Tensor::<2>::from_data(TensorData::new(values, [3, 2]), &device);
        let u = rows(vec![1.0, 0.0, 3.0, 4.0, 0.0, 0.0]);
        let v = rows(vec![1.0, 1.0, -6.0, -8.0, 1.0, 2.0]);
        let cos = cosine_similarity(u, v)
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        // 1/√2; opposite directions; a zero vector scores 0 instead of NaN.
        let expected = [std::f32::consts::FRAC_1_SQRT_2, -1.0, 0.0];
        for (c, e) in cos.iter().zip(expected) {
            assert!((c - e).abs() < 1e-6, "{cos:?}");
        }
    }
}

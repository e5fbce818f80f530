//! Single optimizer steps on batches the caller chooses, for benchmarks.

use burn::tensor::Device;

use super::evaluation::Validation;
use super::trainer::Trainer;
use crate::{BertClassifier, Examples, FineTuneConfig, JointError};

/// Optimizer steps one at a time, each the step [`fine_tune`](super::fine_tune) takes (its dropout
/// masks, loss, adversarial passes, gradient clipping, learning-rate schedule and
/// AdamW update), on batches the caller chooses: what a benchmark times. Nothing is
/// evaluated, kept or checkpointed.
pub struct Steps<'a> {
    trainer: Trainer<'a>,
}

impl<'a> Steps<'a> {
    /// Checks the settings as [`fine_tune`](super::fine_tune) does, then prepares `model` (on
    /// `device.clone().autodiff()`) for training: frozen layers, dropout rates. Returns
    /// the model to pass to [`step`](Self::step).
    pub fn new(
        model: BertClassifier,
        train: &'a Examples,
        labels: &'a [String],
        config: &'a FineTuneConfig,
        pad_id: u32,
        device: &'a Device,
    ) -> Result<(Self, BertClassifier), JointError> {
        let validation = Validation {
            examples: train,
            labels,
            pad_id,
            batch_size: config.eval_batch_size,
            device,
        };
        let (trainer, model) = Trainer::new(model, train, validation, config, None)?;
        Ok((Self { trainer }, model))
    }

    /// One optimizer step over the training examples `batch` (their indices); the
    /// updated model and the batch's loss.
    pub fn step(
        &mut self,
        model: BertClassifier,
        batch: &[usize],
    ) -> Result<(BertClassifier, f64), JointError> {
        let (model, outcome) = self.trainer.step(model, &[batch.to_vec()])?;
        Ok((model, outcome.loss))
    }
}

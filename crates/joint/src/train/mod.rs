//! The fine-tuning loop: length-bucketed batches, gradient accumulation, global-norm
//! clipping, AdamW with warm-up, evaluation with early stopping, checkpoints.
//!
//! [`fine_tune`] runs the loop; `trainer` takes one optimizer step and keeps the
//! run's state, `epochs` plans each epoch's batches, `evaluation` measures a model on
//! labelled examples, and [`Steps`] lends single steps to a benchmark.

mod epochs;
mod evaluation;
mod steps;
mod trainer;

use std::ops::ControlFlow;
use std::path::Path;

use burn::tensor::Device;
use epochs::{epoch_plan, epoch_size};
use evaluation::Validation;
use metrics::ClassificationReport;
use serde::{Deserialize, Serialize};
use trainer::Trainer;

use crate::{BertClassifier, Examples, FineTuneConfig, JointError};

pub use epochs::steps_per_epoch;
pub use evaluation::{Evaluation, evaluate_examples};
pub use steps::Steps;

/// One evaluation on the validation set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalRecord {
    /// Optimizer steps done.
    pub step: usize,
    /// Epochs done, fractional between epoch ends.
    pub epoch: f64,
    /// Mean training loss since the previous evaluation.
    pub train_loss: f64,
    /// Validation loss.
    pub valid_loss: f64,
    /// Validation macro-F1.
    pub valid_macro_f1: f64,
    /// Validation accuracy.
    pub valid_accuracy: f64,
    /// The learning rate at this step.
    pub learning_rate: f64,
}

/// What the loop tells its caller, for progress bars and logs.
#[derive(Debug)]
pub enum TrainEvent<'a> {
    /// Before the first step; `steps_done` is non-zero when resuming.
    Started {
        /// Optimizer steps in the whole run.
        total_steps: usize,
        /// Steps already done (non-zero when resuming).
        steps_done: usize,
        /// Training examples over all epochs, and those already trained on.
        total_examples: usize,
        /// Training examples already trained on.
        examples_done: usize,
    },
    /// After each optimizer step.
    Step {
        /// The step just taken, from 1.
        step: usize,
        /// Optimizer steps in the whole run.
        total_steps: usize,
        /// The epoch it belongs to.
        epoch: usize,
        /// The step's training loss.
        loss: f64,
        /// The learning rate it used.
        learning_rate: f64,
        /// The global gradient norm before clipping.
        grad_norm: f64,
        /// Examples in this step, and trained on so far.
        examples: usize,
        /// Examples trained on so far.
        examples_done: usize,
    },
    /// Before evaluating `examples` validation examples.
    Evaluating {
        /// How many validation examples.
        examples: usize,
    },
    /// After an evaluation (and its checkpoint, when the run has a folder).
    Evaluated {
        /// The evaluation.
        record: &'a EvalRecord,
        /// Whether it beat the best so far (and its weights are now kept).
        improved: bool,
    },
}

/// Why training ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StopReason {
    /// Every epoch ran.
    Completed,
    /// Patience ran out.
    EarlyStopped,
    /// The caller asked to stop (the event callback returned `Break`).
    Interrupted,
}

/// The outcome of [`fine_tune`].
pub struct FineTuned {
    /// The weights of the best evaluation (the last weights if none was made), on the
    /// device without autodiff.
    pub model: BertClassifier,
    /// Index into `history` of the best evaluation.
    pub best: Option<usize>,
    /// Every evaluation, in order.
    pub history: Vec<EvalRecord>,
    /// Validation metrics of `model`, when it was evaluated.
    pub valid_report: Option<ClassificationReport>,
    /// Why training ended.
    pub stop: StopReason,
    /// Optimizer steps taken.
    pub steps: usize,
    /// Example visits over all epochs (what sampling changes).
    pub examples_trained: usize,
    /// Forward/backward passes run: one per batch, plus the adversarial ones.
    pub passes: usize,
    /// Batches (micro-batches) trained on.
    pub batches: usize,
    /// Time in training steps, evaluation excluded (summed over resumed sessions).
    pub train_seconds: f64,
}

impl FineTuned {
    /// The best evaluation.
    pub fn best_record(&self) -> Option<&EvalRecord> {
        self.best.map(|i| &self.history[i])
    }

    /// Training examples per second of training time.
    pub fn examples_per_second(&self) -> f64 {
        self.examples_trained as f64 / self.train_seconds.max(1e-9)
    }
}

/// Where a run keeps its checkpoints, and whether it continues from one.
#[derive(Debug, Clone, Copy)]
pub struct RunDir<'a> {
    /// The folder.
    pub path: &'a Path,
    /// Continue from its checkpoint rather than start afresh.
    pub resume: bool,
}

/// Fine-tunes `model`, which must live on `device.clone().autodiff()` (see
/// [`load_for_training`](crate::load_for_training)), on `train`, evaluating on
/// `valid`. Deterministic for a given `config.optimization.seed` on CPU backends: the data order
/// and every dropout mask derive from it, step by step, which is also what lets a
/// resumed run reproduce an uninterrupted one.
#[allow(clippy::too_many_arguments)]
pub fn fine_tune(
    model: BertClassifier,
    train: &Examples,
    valid: &Examples,
    labels: &[String],
    config: &FineTuneConfig,
    pad_id: u32,
    device: &Device,
    run_dir: Option<RunDir<'_>>,
    on_event: &mut dyn FnMut(&TrainEvent<'_>) -> ControlFlow<()>,
) -> Result<FineTuned, JointError> {
    let validation = Validation {
        examples: valid,
        labels,
        pad_id,
        batch_size: config.eval_batch_size,
        device,
    };
    let (mut trainer, mut model) = Trainer::new(model, train, validation, config, run_dir)?;
    let total_steps = trainer.steps_per_epoch * trainer.epochs;
    let lengths = train.lengths();
    let mut stop = StopReason::Completed;
    signal(
        on_event(&TrainEvent::Started {
            total_steps,
            steps_done: trainer.state.step,
            total_examples: epoch_size(config, train, labels.len()) * trainer.epochs,
            examples_done: trainer.state.examples_trained,
        }),
        &mut stop,
    );

    if config.evaluate_start && trainer.state.step == 0 && trainer.state.history.is_empty() {
        trainer.evaluate_and_tell(&model, 0.0, on_event, &mut stop)?;
    }
    while trainer.state.epoch < trainer.epochs && stop == StopReason::Completed {
        let batches = epoch_plan(config, train, &lengths, labels.len(), trainer.state.epoch);
        let steps: Vec<&[Vec<usize>]> = batches
            .chunks(config.optimization.grad_accumulation)
            .collect();
        for (index, step_batches) in steps.iter().enumerate().skip(trainer.state.step_in_epoch) {
            let (updated, step) = trainer.step(model, step_batches)?;
            model = updated;
            let epoch_done = index + 1 == steps.len();
            trainer.state.step_in_epoch = index + 1;
            if epoch_done {
                trainer.state.epoch += 1;
                trainer.state.step_in_epoch = 0;
            }
            let state = &trainer.state;
            signal(
                on_event(&TrainEvent::Step {
                    step: state.step,
                    total_steps,
                    epoch: state.epoch,
                    loss: step.loss,
                    learning_rate: step.learning_rate,
                    grad_norm: step.grad_norm,
                    examples: step.examples,
                    examples_done: state.examples_trained,
                }),
                &mut stop,
            );
            let eval_due = config.optimization.eval_every.map_or(epoch_done, |n| {
                state.step % n == 0 || state.step == total_steps
            });
            if eval_due {
                trainer.evaluate_and_tell(&model, step.learning_rate, on_event, &mut stop)?;
            }
            if stop != StopReason::Completed {
                break;
            }
        }
    }
    Ok(trainer.finish(model, stop))
}

/// The caller's `Break` interrupts the run (after the evaluation due, if any).
pub(super) fn signal(flow: ControlFlow<()>, stop: &mut StopReason) {
    if flow.is_break() {
        *stop = StopReason::Interrupted;
    }
}

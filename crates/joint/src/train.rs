//! The fine-tuning loop: length-bucketed batches, gradient accumulation, global-norm
//! clipping, AdamW with warm-up, evaluation with early stopping, checkpoints.

use std::ops::ControlFlow;
use std::path::Path;
use std::time::Instant;

use bert::BertInput;
use burn::module::Module;
use burn::optim::{GradientsAccumulator, ModuleOptimizer};
use burn::tensor::{Device, Int, Tensor, TensorData};
use data::SplitMix64;
use metrics::{ClassificationReport, DecisionRule, mean_log_loss};
use serde::{Deserialize, Serialize};
use training::ClassificationLoss;

use crate::batches::{DROPOUT_STREAM, derived_seed, epoch_batches};
use crate::checkpoint::{self, RunInputs, TrainState, checkpoint_dir};
use crate::optim::{WarmupSchedule, build_optimizer, clip_global_norm};
use crate::{BertClassifier, Examples, FineTuneConfig, JointError};
use data::Sampling;

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
/// `valid`. Deterministic for a given `config.seed` on CPU backends: the data order
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
    let total_steps = trainer.steps_per_epoch * config.epochs;
    let lengths = train.lengths();
    let mut stop = StopReason::Completed;
    signal(
        on_event(&TrainEvent::Started {
            total_steps,
            steps_done: trainer.state.step,
            total_examples: epoch_size(config, train, labels.len()) * config.epochs,
            examples_done: trainer.state.examples_trained,
        }),
        &mut stop,
    );

    while trainer.state.epoch < config.epochs && stop == StopReason::Completed {
        let batches = epoch_plan(config, train, &lengths, labels.len(), trainer.state.epoch);
        let steps: Vec<&[Vec<usize>]> = batches.chunks(config.grad_accumulation).collect();
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
            let eval_due = config.eval_every.map_or(epoch_done, |n| {
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

/// Optimizer steps one at a time, each the step [`fine_tune`] takes (its dropout
/// masks, loss, adversarial passes, gradient clipping, learning-rate schedule and
/// AdamW update), on batches the caller chooses: what a benchmark times. Nothing is
/// evaluated, kept or checkpointed.
pub struct Steps<'a> {
    trainer: Trainer<'a>,
}

impl<'a> Steps<'a> {
    /// Checks the settings as [`fine_tune`] does, then prepares `model` (on
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

/// The caller's `Break` interrupts the run (after the evaluation due, if any).
fn signal(flow: ControlFlow<()>, stop: &mut StopReason) {
    if flow.is_break() {
        *stop = StopReason::Interrupted;
    }
}

/// The batches of one epoch: over every example, or over those `config.sampling`
/// picks for this epoch (bucketed by length the same way).
fn epoch_plan(
    config: &FineTuneConfig,
    train: &Examples,
    lengths: &[usize],
    classes: usize,
    epoch: usize,
) -> Vec<Vec<usize>> {
    let batches = |lengths: &[usize]| {
        epoch_batches(
            lengths,
            config.batch_size,
            config.bucket_batches,
            config.seed,
            epoch,
        )
    };
    let originals = train.originals();
    if config.sampling == Sampling::None {
        return batches(&lengths[..originals]);
    }
    let (labels, variants) = train.labels.split_at(originals);
    let picked = config
        .sampling
        .epoch_with_variants(labels, variants, classes, config.seed, epoch);
    let picked_lengths: Vec<usize> = picked.iter().map(|&i| lengths[i]).collect();
    batches(&picked_lengths)
        .into_iter()
        .map(|batch| batch.into_iter().map(|j| picked[j]).collect())
        .collect()
}

/// Examples per epoch: the same every epoch for every [`Sampling`].
fn epoch_size(config: &FineTuneConfig, train: &Examples, classes: usize) -> usize {
    let (labels, variants) = train.labels.split_at(train.originals());
    match config.sampling {
        Sampling::None => labels.len(),
        sampling => sampling
            .epoch_with_variants(labels, variants, classes, config.seed, 0)
            .len(),
    }
}

fn check_settings(
    config: &FineTuneConfig,
    model: &BertClassifier,
    train: &Examples,
    valid: &Examples,
    labels: &[String],
) -> Result<(), JointError> {
    config.validate_for(labels, model.bert.num_layers())?;
    if config.distillation.is_some() && train.soft_targets.is_none() {
        return Err(JointError::Data(
            "distillation needs the teacher's soft targets on the training examples".into(),
        ));
    }
    if train.is_empty() {
        return Err(JointError::NoExamples {
            what: "the training set",
        });
    }
    if train.variants > 0 && !matches!(config.sampling, Sampling::Oversample { .. }) {
        return Err(JointError::Data(
            "augmented variants are drawn by over-sampling only: choose over-sampling, or \
             leave the variants out"
                .into(),
        ));
    }
    if valid.is_empty() {
        return Err(JointError::NoExamples {
            what: "the validation set",
        });
    }
    let frozen = config.frozen_bottom(model.bert.num_layers());
    for (examples, what) in [(train, "training"), (valid, "validation")] {
        match (&examples.states, frozen) {
            (None, _) => {}
            (Some(states), Some(bottom)) if states.after_layer() == bottom => {}
            (Some(states), _) => {
                return Err(JointError::Data(format!(
                    "the {what} examples carry the states after layer {}, but {}",
                    states.after_layer(),
                    match frozen {
                        Some(bottom) => format!("training starts above layer {bottom}"),
                        None => "every layer trains".to_owned(),
                    }
                )));
            }
        }
    }
    if train
        .labels
        .iter()
        .chain(&valid.labels)
        .any(|&l| l >= labels.len())
    {
        return Err(JointError::Data(format!(
            "a class index is out of range for {} classes",
            labels.len()
        )));
    }
    Ok(())
}

/// What one optimizer step did.
struct StepOutcome {
    loss: f64,
    learning_rate: f64,
    grad_norm: f64,
    examples: usize,
}

/// Everything of a run but the model: the optimizer, where training stands, the best
/// weights so far, and the fixed pieces every step uses.
struct Trainer<'a> {
    config: &'a FineTuneConfig,
    train: &'a Examples,
    validation: Validation<'a>,
    run_dir: Option<RunDir<'a>>,
    loss_fn: Box<dyn ClassificationLoss>,
    optimizer: ModuleOptimizer,
    schedule: WarmupSchedule,
    steps_per_epoch: usize,
    autodiff: Device,
    state: TrainState,
    /// The best evaluation's weights, and its report (recomputed at the end after a
    /// resume).
    best: Option<(BertClassifier, Option<ClassificationReport>)>,
}

impl<'a> Trainer<'a> {
    /// A fresh run, or the one the checkpoint of `run_dir` continues, once the
    /// settings are checked; the model comes back readied for training (the bottom
    /// layers frozen, the dropout rates set).
    fn new(
        model: BertClassifier,
        train: &'a Examples,
        validation: Validation<'a>,
        config: &'a FineTuneConfig,
        run_dir: Option<RunDir<'a>>,
    ) -> Result<(Self, BertClassifier), JointError> {
        check_settings(
            config,
            &model,
            train,
            validation.examples,
            validation.labels,
        )?;
        let steps_per_epoch = epoch_size(config, train, validation.labels.len())
            .div_ceil(config.batch_size)
            .div_ceil(config.grad_accumulation);
        let total_steps = steps_per_epoch * config.epochs;
        let optimizer = build_optimizer(config.weight_decay);
        // Computed on the fresh model, before a checkpoint replaces its weights.
        let inputs =
            run_dir.map(|_| RunInputs::of(&model, train, validation.examples, validation.labels));
        let (model, optimizer, state, best) = match (run_dir, inputs) {
            (Some(RunDir { path, resume: true }), Some(inputs)) => {
                let restored = checkpoint::load(path, model, optimizer, config, &inputs)?;
                let best = restored.best.map(|weights| (weights, None));
                (restored.model, restored.optimizer, restored.state, best)
            }
            (_, inputs) => (model, optimizer, TrainState::new(config, inputs), None),
        };
        let loss_fn = config.loss.build(validation.labels, &train.labels);
        let trainer = Self {
            config,
            loss_fn,
            train,
            autodiff: validation.device.clone().autodiff(),
            validation,
            run_dir,
            optimizer,
            schedule: WarmupSchedule {
                peak: config.learning_rate,
                warmup_steps: (config.warmup_ratio * total_steps as f64).round() as usize,
                total_steps,
                decay: config.schedule,
            },
            steps_per_epoch,
            state,
            best,
        };
        let mut model = model.freeze_bottom(config.freeze_embeddings, config.freeze_layers);
        model
            .bert
            .set_dropout(config.hidden_dropout, config.attention_dropout);
        if let Some(bottom) = config.frozen_bottom(model.bert.num_layers()) {
            model.bert = model.bert.freeze_bottom_as_inference(bottom);
        }
        Ok((trainer, model))
    }

    /// One optimizer step: the gradients of `batches` (micro-batches) summed, clipped
    /// by their global norm, and applied with the scheduled learning rate.
    fn step(
        &mut self,
        mut model: BertClassifier,
        batches: &[Vec<usize>],
    ) -> Result<(BertClassifier, StepOutcome), JointError> {
        let started = Instant::now();
        let (config, state) = (self.config, &mut self.state);
        let examples: usize = batches.iter().map(Vec::len).sum();
        let mut accumulator = GradientsAccumulator::new();
        let mut loss_value = 0.0;
        for (micro, batch) in batches.iter().enumerate() {
            // Dropout masks are a function of (seed, step, micro-batch), so a resumed
            // run draws exactly the masks the uninterrupted run would have.
            let seed = derived_seed(
                config.seed,
                DROPOUT_STREAM,
                (state.step * config.grad_accumulation + micro) as u64,
            );
            self.autodiff.seed(seed);
            let mut rng = SplitMix64::new(seed);
            let (input, targets) =
                batch_tensors(self.train, batch, self.validation.pad_id, &self.autodiff);
            // Weighted by its share of the step's examples: the accumulated gradient is
            // that of the mean loss over all of them, as one large batch gives.
            let share = batch.len() as f64 / examples as f64;
            let soft = config.distillation.zip(self.train.soft_targets.as_ref());
            let soft = soft.map(|(loss, targets)| (loss, targets.batch(batch, &self.autodiff)));
            let objective = |logits: Tensor<2>| {
                let loss = match &soft {
                    Some((distillation, soft)) => distillation.forward(
                        logits,
                        soft.clone(),
                        targets.clone(),
                        self.loss_fn.as_ref(),
                    ),
                    None => self.loss_fn.forward(logits, targets.clone()),
                };
                match &model.classifier {
                    Some(head) if config.l1 > 0.0 => loss + head.l1_norm().mul_scalar(config.l1),
                    _ => loss,
                }
            };
            let (value, passes) = config.adversary.accumulate_gradients(
                &model,
                &input,
                &objective,
                share,
                &mut rng,
                &mut accumulator,
            );
            if !value.is_finite() {
                return Err(non_finite(value, state.step + 1, self.run_dir));
            }
            loss_value += value as f64 * share;
            state.passes += passes;
            state.batches += 1;
        }
        let mut grads = accumulator.grads();
        let grad_norm = clip_global_norm(&model, &mut grads, config.max_grad_norm);
        let learning_rate = self.schedule.rate(state.step);
        model = self.optimizer.step(learning_rate, model, grads);

        state.step += 1;
        state.loss_sum += loss_value * examples as f64;
        state.loss_count += examples;
        state.examples_trained += examples;
        state.train_seconds += started.elapsed().as_secs_f64();
        let outcome = StepOutcome {
            loss: loss_value,
            learning_rate,
            grad_norm,
            examples,
        };
        Ok((model, outcome))
    }

    /// Evaluates after a step, tells the caller before and after, and stops the run
    /// when `patience` evaluations have passed without a gain.
    fn evaluate_and_tell(
        &mut self,
        model: &BertClassifier,
        learning_rate: f64,
        on_event: &mut dyn FnMut(&TrainEvent<'_>) -> ControlFlow<()>,
        stop: &mut StopReason,
    ) -> Result<(), JointError> {
        let examples = self.validation.examples.len();
        signal(on_event(&TrainEvent::Evaluating { examples }), stop);
        let improved = self.evaluate(model, learning_rate)?;
        let record = self.state.history.last().expect("just evaluated");
        signal(on_event(&TrainEvent::Evaluated { record, improved }), stop);
        if self
            .config
            .patience
            .is_some_and(|patience| self.state.evals_since_best >= patience)
        {
            *stop = StopReason::EarlyStopped;
        }
        Ok(())
    }

    /// Evaluates `model` on validation, keeps it if it is the best so far, and writes
    /// the checkpoint. Returns whether it improved.
    fn evaluate(&mut self, model: &BertClassifier, learning_rate: f64) -> Result<bool, JointError> {
        let inference = model.valid();
        let (record, report) = self.validation.evaluate(
            &inference,
            &mut self.state,
            self.steps_per_epoch,
            learning_rate,
        );
        // Weights that predict NaN must not become the checkpoint to resume from.
        if !record.valid_loss.is_finite() {
            return Err(non_finite(
                record.valid_loss as f32,
                self.state.step,
                self.run_dir,
            ));
        }
        let monitor = self.config.monitor;
        let score =
            |r: &EvalRecord| monitor.score_of(r.valid_loss, r.valid_macro_f1, r.valid_accuracy);
        let state = &mut self.state;
        let improved = state
            .best
            .is_none_or(|b| score(&record) > score(&state.history[b]) + self.config.min_delta);
        state.history.push(record);
        if improved {
            state.best = Some(state.history.len() - 1);
            state.evals_since_best = 0;
        } else {
            state.evals_since_best += 1;
        }
        if let Some(RunDir { path, .. }) = self.run_dir {
            let best = improved.then_some(&inference);
            checkpoint::save(path, model, &self.optimizer, best, &self.state)?;
        }
        if improved {
            self.best = Some((inference, Some(report)));
        }
        Ok(improved)
    }

    /// The outcome: the best evaluated weights (the last ones if none was evaluated).
    fn finish(self, model: BertClassifier, stop: StopReason) -> FineTuned {
        let (model, valid_report) = match self.best {
            Some((best, Some(report))) => (best, Some(report)),
            Some((best, None)) => {
                let report = self.validation.pass(&best).report;
                (best, Some(report))
            }
            None => (model.valid(), None),
        };
        let state = self.state;
        FineTuned {
            model,
            best: state.best,
            history: state.history,
            valid_report,
            stop,
            steps: state.step,
            examples_trained: state.examples_trained,
            passes: state.passes,
            batches: state.batches,
            train_seconds: state.train_seconds,
        }
    }
}

/// The inputs and targets of one batch on `device` (entering above the frozen
/// layers when the examples carry their states).
fn batch_tensors(
    examples: &Examples,
    batch: &[usize],
    pad_id: u32,
    device: &Device,
) -> (BertInput, Tensor<1, Int>) {
    let targets: Vec<i64> = batch.iter().map(|&i| examples.labels[i] as i64).collect();
    (
        crate::predict::batch_input(
            &examples.encodings,
            examples.states.as_deref(),
            batch,
            pad_id,
            device,
        ),
        Tensor::<1, Int>::from_data(TensorData::new(targets, [batch.len()]), device),
    )
}

/// The validation set and how to run over it.
struct Validation<'a> {
    examples: &'a Examples,
    labels: &'a [String],
    pad_id: u32,
    batch_size: usize,
    device: &'a Device,
}

impl Validation<'_> {
    /// Metrics and mean cross-entropy of `model`.
    fn pass(&self, model: &BertClassifier) -> Evaluation {
        evaluate_examples(
            model,
            self.examples,
            self.labels,
            self.pad_id,
            self.batch_size,
            self.device,
            &mut |_| {},
        )
    }

    /// Evaluates `model` and closes the training-loss window of `state`.
    fn evaluate(
        &self,
        model: &BertClassifier,
        state: &mut TrainState,
        steps_per_epoch: usize,
        learning_rate: f64,
    ) -> (EvalRecord, ClassificationReport) {
        let Evaluation {
            report,
            loss: valid_loss,
            ..
        } = self.pass(model);
        let record = EvalRecord {
            step: state.step,
            epoch: state.step as f64 / steps_per_epoch as f64,
            train_loss: state.loss_sum / state.loss_count.max(1) as f64,
            valid_loss,
            valid_macro_f1: report.macro_f1,
            valid_accuracy: report.accuracy,
            learning_rate,
        };
        state.loss_sum = 0.0;
        state.loss_count = 0;
        (record, report)
    }
}

/// The error for a NaN or infinite loss at optimizer step `step` (1-based).
fn non_finite(loss: f32, step: usize, run_dir: Option<RunDir<'_>>) -> JointError {
    let checkpoint = run_dir
        .map(|r| checkpoint_dir(r.path))
        .filter(|dir| dir.join("state.json").exists())
        .map(|dir| {
            format!(
                "The last good checkpoint is in {} (resuming continues from it). ",
                dir.display()
            )
        })
        .unwrap_or_default();
    JointError::NonFiniteLoss {
        step,
        loss,
        checkpoint,
    }
}

/// A pass of a model over labelled examples.
pub struct Evaluation {
    /// `examples × classes`, row-major.
    pub probabilities: Vec<f32>,
    /// With argmax decisions.
    pub report: ClassificationReport,
    /// Mean cross-entropy.
    pub loss: f64,
}

/// Probabilities, the metric report and mean cross-entropy of `model` (on `device`
/// without autodiff) on labelled `examples`; `progress` hears of each batch done.
pub fn evaluate_examples(
    model: &BertClassifier,
    examples: &Examples,
    labels: &[String],
    pad_id: u32,
    batch_size: usize,
    device: &Device,
    progress: &mut dyn FnMut(usize),
) -> Evaluation {
    let probabilities = crate::predict::predict_rows(
        model,
        &examples.encodings,
        examples.states.as_deref(),
        pad_id,
        batch_size,
        device,
        progress,
    );
    let loss = mean_log_loss(&probabilities, labels.len(), &examples.labels);
    let report = DecisionRule::Argmax.report(labels, &examples.labels, &probabilities);
    Evaluation {
        probabilities,
        report,
        loss,
    }
}

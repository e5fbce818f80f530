//! One optimizer step at a time, and the state of a run between them: the optimizer,
//! the schedule, the best weights so far, checkpoints.

use std::ops::ControlFlow;
use std::time::Instant;

use bert::BertInput;
use burn::module::Module;
use burn::optim::{GradientsAccumulator, ModuleOptimizer};
use burn::tensor::{Device, Int, Tensor, TensorData};
use data::{Sampling, SplitMix64};
use metrics::ClassificationReport;
use training::ClassificationLoss;

use super::epochs::steps_per_epoch;
use super::evaluation::Validation;
use super::{EvalRecord, FineTuned, RunDir, StopReason, TrainEvent, signal};
use crate::batches::{DROPOUT_STREAM, derived_seed};
use crate::checkpoint::{self, RunInputs, TrainState, checkpoint_dir};
use crate::optim::{WarmupSchedule, build_optimizer, clip_global_norm};
use crate::rates::LayerRates;
use crate::{BertClassifier, Examples, FineTuneConfig, JointError};

/// What one optimizer step did.
pub(super) struct StepOutcome {
    pub(super) loss: f64,
    pub(super) learning_rate: f64,
    pub(super) grad_norm: f64,
    pub(super) examples: usize,
}

/// Everything of a run but the model: the optimizer, where training stands, the best
/// weights so far, and the fixed pieces every step uses.
pub(super) struct Trainer<'a> {
    pub(super) config: &'a FineTuneConfig,
    pub(super) train: &'a Examples,
    pub(super) validation: Validation<'a>,
    pub(super) run_dir: Option<RunDir<'a>>,
    pub(super) loss_fn: Box<dyn ClassificationLoss>,
    pub(super) optimizer: ModuleOptimizer,
    pub(super) schedule: WarmupSchedule,
    /// The schedule's rate shared out over the head and the layers.
    rates: LayerRates,
    pub(super) steps_per_epoch: usize,
    /// Epochs of the run: the recipe's, or more to reach its least number of steps.
    pub(super) epochs: usize,
    pub(super) autodiff: Device,
    pub(super) state: TrainState,
    /// The best evaluation's weights, and its report (recomputed at the end after a
    /// resume).
    pub(super) best: Option<(BertClassifier, Option<ClassificationReport>)>,
}

impl<'a> Trainer<'a> {
    /// A fresh run, or the one the checkpoint of `run_dir` continues, once the
    /// settings are checked; the model comes back readied for training (the bottom
    /// layers frozen, the dropout rates set).
    pub(super) fn new(
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
        let steps_per_epoch = steps_per_epoch(config, train, validation.labels.len());
        let epochs = config.optimization.epochs_for(steps_per_epoch);
        let total_steps = steps_per_epoch * epochs;
        let optimizer = build_optimizer(config.optimization.weight_decay);
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
        let model = model.ready_for(&config.optimization);
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
                peak: config.optimization.learning_rate,
                warmup_steps: (config.optimization.warmup_ratio * total_steps as f64).round()
                    as usize,
                total_steps,
                decay: config.optimization.schedule,
            },
            steps_per_epoch,
            epochs,
            state,
            best,
            // From the model as it trains (restored, frozen): its parameters' ids.
            rates: LayerRates::of(&model, &config.optimization),
        };
        Ok((trainer, model))
    }

    /// One optimizer step: the gradients of `batches` (micro-batches) summed, clipped
    /// by their global norm, and applied with the scheduled learning rate.
    pub(super) fn step(
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
                config.optimization.seed,
                DROPOUT_STREAM,
                (state.step * config.optimization.grad_accumulation + micro) as u64,
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
                    Some(head) if config.optimization.l1 > 0.0 => {
                        loss + head.l1_norm().mul_scalar(config.optimization.l1)
                    }
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
        let grad_norm = clip_global_norm(&model, &mut grads, config.optimization.max_grad_norm);
        let learning_rate = self.schedule.rate(state.step);
        model = self
            .optimizer
            .step(self.rates.at(learning_rate), model, grads);

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
    pub(super) fn evaluate_and_tell(
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
            .optimization
            .patience
            .is_some_and(|patience| self.state.evals_since_best >= patience)
        {
            *stop = StopReason::EarlyStopped;
        }
        Ok(())
    }

    /// Evaluates `model` on validation, keeps it if it is the best so far, and writes
    /// the checkpoint. Returns whether it improved.
    pub(super) fn evaluate(
        &mut self,
        model: &BertClassifier,
        learning_rate: f64,
    ) -> Result<bool, JointError> {
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
        let monitor = self.config.optimization.monitor;
        // One class per example: micro-F1 is accuracy.
        let score = |r: &EvalRecord| {
            let (f1, accuracy) = (r.valid_macro_f1, r.valid_accuracy);
            monitor.score_of(r.valid_loss, f1, accuracy, accuracy)
        };
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
    pub(super) fn finish(self, model: BertClassifier, stop: StopReason) -> FineTuned {
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
pub(super) fn batch_tensors(
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

/// The error for a NaN or infinite loss at optimizer step `step` (1-based).
pub(super) fn non_finite(loss: f32, step: usize, run_dir: Option<RunDir<'_>>) -> JointError {
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

/// The settings against the model, the data and the labels, before any work.
pub(super) fn check_settings(
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
    let frozen = config.optimization.frozen_bottom(model.bert.num_layers());
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

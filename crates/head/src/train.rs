use std::time::Instant;

use burn::module::Module;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{AdamConfig, AdamWConfig, GradientsParams, ModuleOptimizer, SgdConfig};
use burn::tensor::{Device, Int, Tensor, TensorData};
use data::{Sampling, SplitMix64, Task};
use metrics::{TaskReport, mean_binary_log_loss, mean_log_loss};
use serde::{Deserialize, Serialize};
use settings::SettingError;
use training::{
    ClassificationLoss, CrossEntropy, DistillationLoss, LossSpec, MultiLabelLoss, Readout,
    RegressionLoss, SoftTargets, SquaredError, Targets,
};

use crate::{Features, HeadError, Standardizer};
use training::{Head, HeadConfig, Monitor, OptimizerKind, Schedule};

/// Everything about how a head is trained.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainConfig {
    /// The architecture.
    pub head: HeadConfig,
    /// The loss on the labels.
    #[serde(deserialize_with = "training::spec_or_kind")]
    pub loss: LossSpec,
    /// Which examples each epoch trains on (over- or under-sampling).
    pub sampling: Sampling,
    /// The optimizer.
    pub optimizer: OptimizerKind,
    /// The constant or peak learning rate.
    pub learning_rate: f64,
    /// How the learning rate decays over the epochs.
    pub schedule: Schedule,
    /// L2 penalty (weight decay for AdamW).
    pub l2: f64,
    /// L1 penalty on weight matrices, added to the loss.
    pub l1: f64,
    /// Learn from a teacher's soft targets (carried by the training features) as well
    /// as from the labels, which `loss` scores.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distillation: Option<DistillationLoss>,
    /// The most epochs to run.
    pub epochs: usize,
    /// Examples per optimizer step.
    pub batch_size: usize,
    /// What early stopping watches on the validation set; unset, the task's own
    /// choice ([`Monitor::default_for`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub monitor: Option<Monitor>,
    /// Stop after this many epochs without a gain above `min_delta` in `monitor`;
    /// the best epoch's weights are kept.
    pub patience: usize,
    /// The least gain in `monitor` that counts as one.
    pub min_delta: f64,
    /// Seeds the initial weights, the batch order, sampling and dropout.
    pub seed: u64,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            head: HeadConfig::default(),
            loss: LossSpec::default(),
            sampling: Sampling::None,
            optimizer: OptimizerKind::AdamW,
            // Heads are small and features standardised: a high rate converges in tens of
            // epochs, where 1e-3 leaves softmax regression visibly underfit.
            learning_rate: 1e-2,
            schedule: Schedule::Cosine,
            l2: 1e-4,
            l1: 0.0,
            distillation: None,
            epochs: 50,
            batch_size: 64,
            monitor: None,
            patience: 8,
            min_delta: 1e-4,
            seed: 42,
        }
    }
}

impl TrainConfig {
    /// Logistic regression as scikit-learn fits it by default (and SetFit's head is):
    /// softmax regression with the penalty `½‖W‖²` against the *summed*
    /// cross-entropy of `examples` examples (C = 1), i.e. `‖W‖² / (2n)` against the
    /// mean, as Adam's coupled L2 of `1/n`; full batches, a constant rate, 500 epochs
    /// to near convergence. One setting, chosen by no validation score: with a few
    /// examples per class the validation split is too small to choose among heads.
    pub fn logistic_regression(examples: usize, seed: u64) -> Self {
        let examples = examples.max(1);
        Self {
            head: HeadConfig::default(),
            optimizer: OptimizerKind::Adam,
            learning_rate: 1e-2,
            schedule: Schedule::Constant,
            l2: 1.0 / examples as f64,
            epochs: 500,
            batch_size: examples,
            patience: 500,
            seed,
            ..Self::default()
        }
    }

    /// Checks every setting for a `task` over `labels` (the training data's classes
    /// or labels; class weights are checked against them): the same rules as
    /// fine-tuning's for the same settings. What draws or weighs examples by their
    /// class is refused for the tasks whose examples have no single class.
    pub fn validate_for(&self, task: Task, labels: &[String]) -> Result<(), SettingError> {
        self.validate()?;
        match task {
            Task::SingleLabel => return self.loss.validate_for(labels),
            Task::MultiLabel => self.loss.validate_for_multi_label(labels)?,
            Task::Regression => {
                if self.loss != LossSpec::default() {
                    return Err(SettingError::new(
                        "loss",
                        self.loss.describe(),
                        settings::message!(
                            "regression heads learn by squared error; the classification \
                             losses and their remedies do not apply (leave out " [loss] ")"
                        ),
                    ));
                }
                if let Some(monitor) = self.monitor.filter(|&m| m != Monitor::Loss) {
                    return Err(SettingError::new(
                        "monitor",
                        monitor,
                        "regression has no classes to score; watch loss (the \
                         validation squared error)",
                    ));
                }
            }
        }
        if self.sampling != Sampling::None {
            return Err(SettingError::new(
                "sampling",
                self.sampling,
                settings::message!(
                    "draws examples by their class, and {task} examples have no single \
                     class (leave out " [sampling] ")"
                ),
            ));
        }
        if let Some(distillation) = &self.distillation {
            return Err(SettingError::new(
                "distillation",
                distillation.alpha,
                settings::message!(
                    "distils a teacher's class probabilities; distilling {task} heads \
                     is not built yet"
                ),
            ));
        }
        Ok(())
    }

    /// Checks every setting that can be checked without the data.
    pub fn validate(&self) -> Result<(), settings::SettingError> {
        self.head.validate()?;
        self.loss.validate()?;
        self.sampling.validate()?;
        settings::positive("learning_rate", self.learning_rate)?;
        settings::non_negative("l2", self.l2)?;
        settings::non_negative("l1", self.l1)?;
        settings::at_least_one("epochs", self.epochs)?;
        settings::at_least_one("batch_size", self.batch_size)?;
        settings::at_least_one("patience", self.patience)?;
        settings::non_negative("min_delta", self.min_delta)?;
        if let Some(distillation) = &self.distillation {
            distillation.validate()?;
        }
        Ok(())
    }
}

/// Checks that `train` and `valid` can train a head over `labels` as `config`
/// says: rows in both, one width, targets of one task that fit `labels`, and the
/// soft targets or example weights the configuration reads.
fn check_data(
    train: &Features,
    valid: &Features,
    labels: &[String],
    config: &TrainConfig,
) -> Result<(), HeadError> {
    let data = |message: String| Err(HeadError::Data(message));
    let task = train.targets.task();
    if valid.targets.task() != task {
        return data(format!(
            "the training features are {task} data, the validation features {}",
            valid.targets.task()
        ));
    }
    if train.originals() == 0 || valid.rows == 0 {
        return data("training and validation need at least one example each".into());
    }
    if train.dim != valid.dim {
        return data(format!(
            "training features are {} wide, validation features {}",
            train.dim, valid.dim
        ));
    }
    for targets in [&train.targets, &valid.targets] {
        match targets {
            Targets::Classes(classes) => {
                let count = labels.len();
                if count < 2 {
                    return data(format!("a head needs at least 2 classes, not {count}"));
                }
                if classes.iter().any(|&c| c >= count) {
                    return data(format!("a class index is out of range for {count} classes"));
                }
            }
            Targets::Tags { labels: width, .. } => {
                if labels.is_empty() || *width != labels.len() {
                    return data(format!(
                        "the targets mark {width} labels, and {} are named",
                        labels.len()
                    ));
                }
            }
            Targets::Values(values) => {
                if let Some(value) = values.iter().find(|v| !v.is_finite()) {
                    return data(format!("a target value is {value}, not a finite number"));
                }
            }
        }
    }
    if config.distillation.is_some() && train.soft_targets.is_none() {
        return data(
            "distillation needs the teacher's soft targets on the training features".into(),
        );
    }
    if let Some(weights) = &train.example_weights {
        if task != Task::SingleLabel {
            return data(format!(
                "example weights (boosting's) weigh a class loss; {task} heads take none"
            ));
        }
        if weights.iter().any(|w| !(w.is_finite() && *w >= 0.0)) {
            return data("example weights must be finite and ≥ 0".into());
        }
    }
    Ok(())
}

/// One epoch of training, as the learning curves show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// The epoch, from 1.
    pub epoch: usize,
    /// Mean training loss over the epoch.
    pub train_loss: f64,
    /// Validation loss after the epoch.
    pub valid_loss: f64,
    /// The task's main metric on validation after the epoch
    /// ([`MainMetric`](metrics::MainMetric): macro-F1, micro-F1 or RMSE).
    pub valid_score: f64,
}

/// A trained head with what is needed to use it and to judge it.
pub struct TrainedHead {
    /// How it was trained.
    pub config: TrainConfig,
    /// On the inference device (no autodiff), best epoch's weights.
    pub model: Head,
    /// The scaling fitted on its training features, applied before the head.
    pub standardizer: Standardizer,
    /// Its outputs: one per class or label, one for a value.
    pub outputs: usize,
    /// The epoch whose weights were kept.
    pub best_epoch: usize,
    /// Every epoch run.
    pub history: Vec<EpochRecord>,
    /// Validation metrics of the kept weights, under `readout`.
    pub valid_report: TaskReport,
    /// Training wall time.
    pub seconds: f64,
    /// Example visits over all epochs run (what sampling changes).
    pub examples_trained: usize,
    /// How its outputs become predictions: the task's defaults (argmax, thresholds
    /// of 0.5, the training values' scale) unless [`TrainedHead::with_readout`].
    pub readout: Readout,
}

impl TrainedHead {
    /// The scores of raw (unstandardised) features, `rows × outputs`: class or
    /// label probabilities, or values in the data's units.
    pub fn predict_proba(&self, features: &Features, device: &Device) -> Vec<f32> {
        scores(
            &self.model,
            &self.readout,
            &self.standardizer.apply(features),
            device,
        )
    }

    /// The head reading its outputs by `readout` (a decision rule, tuned
    /// thresholds) instead, its validation report recomputed that way (`valid` the
    /// features it was trained against).
    pub fn with_readout(
        mut self,
        readout: Readout,
        valid: &Features,
        labels: &[String],
        device: &Device,
    ) -> Self {
        self.readout = readout;
        let scores = self.predict_proba(valid, device);
        self.valid_report = self.readout.report(labels, &valid.targets, &scores);
        self
    }
}

/// Trains a head on `train`, keeping the epoch that `config.monitor` rates best.
/// The task is the features' ([`Targets`]); `labels` names the classes or labels
/// (for the report; any names, or none, for regression). Every setting is checked
/// first ([`TrainConfig::validate_for`]), and the data against the settings.
pub fn train_head(
    train: &Features,
    valid: &Features,
    labels: &[String],
    config: &TrainConfig,
    device: &Device,
) -> Result<TrainedHead, HeadError> {
    let task = train.targets.task();
    config.validate_for(task, labels)?;
    check_data(train, valid, labels, config)?;
    let start = Instant::now();
    let outputs = Readout::outputs(task, labels.len());
    let readout = Readout::default_for(&train.targets, labels.len());
    let standardizer = Standardizer::fit(train);
    let valid_std = standardizer.apply(valid);

    // All randomness (initial weights, batch order, dropout) comes from this generator,
    // not burn's process-global one, so heads trained in parallel stay reproducible.
    let mut rng = SplitMix64::new(config.seed);
    let objective = Objective::new(train, &standardizer, &readout, labels, config, device);
    let mut model = Head::new(
        &config.head,
        train.dim,
        outputs,
        &mut rng,
        &objective.device,
    );
    let mut optimizer = build_optimizer(config);
    let mut epochs = EpochOrder::new(train, config, labels.len());
    let total_steps = epochs.batches_per_epoch() * config.epochs;

    let mut best = EarlyStopping::new(config);
    let mut history = Vec::new();
    let (mut step, mut examples_trained) = (0, 0);
    for epoch in 1..=config.epochs {
        let order = epochs.next(epoch, &mut rng);
        let mut loss_sum = 0.0;
        for batch in order.chunks(config.batch_size) {
            let loss = objective.batch_loss(&model, batch, &mut rng);
            loss_sum += loss.clone().into_scalar::<f32>() as f64 * batch.len() as f64;
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            let lr = config
                .schedule
                .rate(config.learning_rate, step, total_steps);
            model = optimizer.step(lr, model, grads);
            step += 1;
            examples_trained += batch.len();
        }
        let inference = model.valid();
        let (report, valid_loss) = evaluate(&inference, &readout, &valid_std, labels, device);
        let record = EpochRecord {
            epoch,
            train_loss: loss_sum / order.len() as f64,
            valid_loss,
            valid_score: report.main(),
        };
        let stop = best.observe(&record, inference, report);
        history.push(record);
        if stop {
            break;
        }
    }
    let (best_epoch, model, valid_report) = best.kept();
    Ok(TrainedHead {
        config: config.clone(),
        model,
        standardizer,
        outputs,
        best_epoch,
        history,
        valid_report,
        seconds: start.elapsed().as_secs_f64(),
        examples_trained,
        readout,
    })
}

/// The examples each epoch visits: with sampling (of classes: validated), the
/// epoch's own draw; without, all originals, the previous epoch's order shuffled
/// again.
struct EpochOrder<'a> {
    config: &'a TrainConfig,
    train: &'a Features,
    classes: usize,
    order: Vec<usize>,
}

impl<'a> EpochOrder<'a> {
    fn new(train: &'a Features, config: &'a TrainConfig, classes: usize) -> Self {
        Self {
            config,
            train,
            classes,
            order: (0..train.originals()).collect(),
        }
    }

    fn draw(&self, epoch: usize) -> Vec<usize> {
        let (originals, variants) = self.train.classes().split_at(self.train.originals());
        self.config.sampling.epoch_with_variants(
            originals,
            variants,
            self.classes,
            self.config.seed,
            epoch,
        )
    }

    fn batches_per_epoch(&self) -> usize {
        let examples = match self.config.sampling {
            Sampling::None => self.order.len(),
            _ => self.draw(0).len(),
        };
        examples.div_ceil(self.config.batch_size)
    }

    /// The order of epoch `epoch` (from 1).
    fn next(&mut self, epoch: usize, rng: &mut SplitMix64) -> &[usize] {
        if self.config.sampling != Sampling::None {
            self.order = self.draw(epoch - 1);
        }
        rng.shuffle(&mut self.order);
        &self.order
    }
}

/// The best epoch so far by `config.monitor`, and when to stop looking.
struct EarlyStopping<'a> {
    config: &'a TrainConfig,
    best: Option<(f64, usize, Head, TaskReport)>,
}

impl<'a> EarlyStopping<'a> {
    fn new(config: &'a TrainConfig) -> Self {
        Self { config, best: None }
    }

    /// Keeps `model` if `record` improves on the best by more than `min_delta`; true
    /// when `patience` epochs have passed without that.
    fn observe(&mut self, record: &EpochRecord, model: Head, report: TaskReport) -> bool {
        let config = self.config;
        // Multi-label: macro-F1 over labels, accuracy of whole label sets.
        // Regression watches its loss only (validated).
        let (macro_f1, micro_f1, accuracy) = match &report {
            TaskReport::SingleLabel(r) => (r.macro_f1, r.accuracy, r.accuracy),
            TaskReport::MultiLabel(r) => (r.macro_f1, r.micro_f1, r.subset_accuracy),
            TaskReport::Regression(_) => (f64::NAN, f64::NAN, f64::NAN),
        };
        let monitor = config
            .monitor
            .unwrap_or_else(|| Monitor::default_for(report.task()));
        let score = monitor.score_of(record.valid_loss, macro_f1, micro_f1, accuracy);
        let improved = self
            .best
            .as_ref()
            .is_none_or(|(best, ..)| score > best + config.min_delta);
        if improved {
            self.best = Some((score, record.epoch, model, report));
            return false;
        }
        self.best
            .as_ref()
            .is_some_and(|(_, epoch, ..)| record.epoch - epoch >= config.patience)
    }

    /// The kept epoch, its weights and its validation report.
    fn kept(self) -> (usize, Head, TaskReport) {
        let (_, epoch, model, report) = self
            .best
            .expect("epochs ≥ 1 (validated), and the first epoch always improves");
        (epoch, model, report)
    }
}

/// The standardised training data on the autodiff device, and what scores a batch
/// of it: the task's loss, distillation's soft targets, boosting's example weights.
struct Objective<'a> {
    config: &'a TrainConfig,
    device: Device,
    x: Tensor<2>,
    truth: Truth<'a>,
}

/// The training targets as tensors, with the loss that compares outputs to them.
#[expect(
    clippy::large_enum_variant,
    reason = "one value per training run, never moved in a loop"
)]
enum Truth<'a> {
    Classes {
        y: Tensor<1, Int>,
        loss: Box<dyn ClassificationLoss>,
        teacher: Option<(DistillationLoss, &'a SoftTargets)>,
        weighted: Option<(CrossEntropy, Tensor<1>)>,
    },
    Tags {
        y: Tensor<2>,
        loss: Box<dyn MultiLabelLoss>,
    },
    /// Standardised values ([`ValueScale`](training::ValueScale)).
    Values { y: Tensor<1> },
}

impl<'a> Objective<'a> {
    fn new(
        train: &'a Features,
        standardizer: &Standardizer,
        readout: &Readout,
        labels: &[String],
        config: &'a TrainConfig,
        device: &Device,
    ) -> Self {
        let device = device.clone().autodiff();
        let x = Tensor::<2>::from_data(
            TensorData::new(standardizer.apply(train).values, [train.rows, train.dim]),
            &device,
        );
        let rows = train.rows;
        let truth = match (&train.targets, readout) {
            (Targets::Classes(classes), _) => Truth::Classes {
                y: Tensor::<1, Int>::from_data(
                    TensorData::new(classes.iter().map(|&l| l as i64).collect(), [rows]),
                    &device,
                ),
                loss: config.loss.build(labels, classes),
                // `check_data` made sure distillation has its targets.
                teacher: config.distillation.zip(train.soft_targets.as_ref()),
                // Boosting's example weights go through cross-entropy (the loss
                // SAMME's derivation assumes); callers refuse other losses.
                weighted: train.example_weights.as_ref().map(|weights| {
                    let loss =
                        CrossEntropy::default().with_label_smoothing(config.loss.label_smoothing);
                    let weights = TensorData::new(weights.clone(), [weights.len()]);
                    (loss, Tensor::<1>::from_data(weights, &device))
                }),
            },
            (
                Targets::Tags {
                    labels: width,
                    marks,
                },
                _,
            ) => Truth::Tags {
                y: Tensor::<2>::from_data(
                    TensorData::new(
                        marks.iter().map(|&m| f32::from(u8::from(m))).collect(),
                        [rows, *width],
                    ),
                    &device,
                ),
                loss: config.loss.build_multi_label(labels, marks),
            },
            (Targets::Values(values), Readout::Regression { scale }) => Truth::Values {
                y: Tensor::<1>::from_data(
                    TensorData::new(
                        values.iter().map(|&v| scale.standardise(v)).collect(),
                        [rows],
                    ),
                    &device,
                ),
            },
            (Targets::Values(_), readout) => {
                unreachable!("values are read by a regression readout, not {readout:?}")
            }
        };
        Self {
            config,
            device,
            x,
            truth,
        }
    }

    /// The loss of `model` on the rows `batch`, L1 penalty included.
    fn batch_loss(&self, model: &Head, batch: &[usize], rng: &mut SplitMix64) -> Tensor<1> {
        let index = Tensor::<1, Int>::from_data(
            TensorData::new(
                batch.iter().map(|&i| i as i64).collect::<Vec<_>>(),
                [batch.len()],
            ),
            &self.device,
        );
        let outputs = model.forward_train(self.x.clone().select(0, index.clone()), rng);
        let loss = match &self.truth {
            Truth::Classes {
                y,
                loss,
                teacher,
                weighted,
            } => {
                let targets = y.clone().select(0, index.clone());
                match (teacher, weighted) {
                    (Some((distillation, soft)), _) => distillation.forward(
                        outputs,
                        soft.batch(batch, &self.device),
                        targets,
                        loss.as_ref(),
                    ),
                    (None, Some((loss, weights))) => {
                        loss.forward_weighted(outputs, targets, weights.clone().select(0, index))
                    }
                    (None, None) => loss.forward(outputs, targets),
                }
            }
            Truth::Tags { y, loss } => loss.forward(outputs, y.clone().select(0, index)),
            Truth::Values { y } => {
                SquaredError.forward(outputs.reshape([batch.len()]), y.clone().select(0, index))
            }
        };
        if self.config.l1 > 0.0 {
            loss + model.l1_norm().mul_scalar(self.config.l1)
        } else {
            loss
        }
    }
}

fn build_optimizer(config: &TrainConfig) -> ModuleOptimizer {
    let l2 = (config.l2 > 0.0).then(|| WeightDecayConfig::new(config.l2 as f32));
    match config.optimizer {
        OptimizerKind::Adam => AdamConfig::new().with_weight_decay(l2).init(),
        OptimizerKind::AdamW => AdamWConfig::new()
            .with_weight_decay(config.l2 as f32)
            .init(),
        OptimizerKind::Sgd => SgdConfig::new()
            .with_weight_decay(l2)
            .with_momentum(Some(MomentumConfig::new().with_dampening(0.0)))
            .init(),
    }
}

/// The scores of already-standardised features, read by `readout`.
pub(crate) fn scores(
    model: &Head,
    readout: &Readout,
    features: &Features,
    device: &Device,
) -> Vec<f32> {
    let x = Tensor::<2>::from_data(
        TensorData::new(features.values.clone(), [features.rows, features.dim]),
        device,
    );
    readout.scores(model.forward(x))
}

/// The metric report and the loss of a validation set: the training loss's
/// unweighted form (cross-entropy, binary cross-entropy, or the squared error of
/// standardised values), so the curves of both splits read alike.
fn evaluate(
    model: &Head,
    readout: &Readout,
    features: &Features,
    labels: &[String],
    device: &Device,
) -> (TaskReport, f64) {
    let scores = scores(model, readout, features, device);
    let loss = match (&features.targets, readout) {
        (Targets::Classes(truth), _) => mean_log_loss(&scores, labels.len(), truth),
        (Targets::Tags { marks, .. }, _) => mean_binary_log_loss(&scores, marks),
        (Targets::Values(truth), Readout::Regression { scale }) => {
            let squares: f64 = scores
                .iter()
                .zip(truth)
                .map(|(&p, &t)| ((f64::from(p) - f64::from(t)) / scale.std).powi(2))
                .sum();
            squares / truth.len().max(1) as f64
        }
        (Targets::Values(_), readout) => {
            unreachable!("values are read by a regression readout, not {readout:?}")
        }
    };
    (readout.report(labels, &features.targets, &scores), loss)
}

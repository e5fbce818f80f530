use std::time::Instant;

use burn::module::Module;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{AdamConfig, AdamWConfig, GradientsParams, ModuleOptimizer, SgdConfig};
use burn::tensor::{Device, Int, Tensor, TensorData};
use data::{Sampling, SplitMix64};
use metrics::{ClassificationReport, DecisionRule, argmax_rows, mean_log_loss};
use serde::{Deserialize, Serialize};
use training::{ClassificationLoss, CrossEntropy, DistillationLoss, LossSpec, SoftTargets};

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
    /// What early stopping watches on the validation set.
    pub monitor: Monitor,
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
            monitor: Monitor::Loss,
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

    /// Checks every setting, and the class weights against `labels` (the classes
    /// of the training data): the same rules as fine-tuning's for the same settings.
    pub fn validate_for(&self, labels: &[String]) -> Result<(), settings::SettingError> {
        self.validate()?;
        self.loss.validate_for(labels)
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

/// Checks that `train` and `valid` can train a head for `classes` classes as
/// `config` says: rows in both, one width, class indices in range, and the soft
/// targets or example weights the configuration reads.
fn check_data(
    train: &Features,
    valid: &Features,
    classes: usize,
    config: &TrainConfig,
) -> Result<(), HeadError> {
    let data = |message: String| Err(HeadError::Data(message));
    if classes < 2 {
        return data(format!("a head needs at least 2 classes, not {classes}"));
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
    if train
        .labels
        .iter()
        .chain(&valid.labels)
        .any(|&l| l >= classes)
    {
        return data(format!(
            "a class index is out of range for {classes} classes"
        ));
    }
    if config.distillation.is_some() && train.soft_targets.is_none() {
        return data(
            "distillation needs the teacher's soft targets on the training features".into(),
        );
    }
    if let Some(weights) = &train.example_weights
        && weights.iter().any(|w| !(w.is_finite() && *w >= 0.0))
    {
        return data("example weights must be finite and ≥ 0".into());
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
    /// Validation macro-F1 after the epoch.
    pub valid_macro_f1: f64,
    /// Validation accuracy after the epoch.
    pub valid_accuracy: f64,
}

/// A trained head with what is needed to use it and to judge it.
pub struct TrainedHead {
    /// How it was trained.
    pub config: TrainConfig,
    /// On the inference device (no autodiff), best epoch's weights.
    pub model: Head,
    /// The scaling fitted on its training features, applied before the head.
    pub standardizer: Standardizer,
    /// Classes it predicts.
    pub classes: usize,
    /// The epoch whose weights were kept.
    pub best_epoch: usize,
    /// Every epoch run.
    pub history: Vec<EpochRecord>,
    /// Validation metrics of the kept weights.
    pub valid_report: ClassificationReport,
    /// Training wall time.
    pub seconds: f64,
    /// Example visits over all epochs run (what sampling changes).
    pub examples_trained: usize,
    /// How probabilities become a class: argmax unless [`TrainedHead::with_decision`].
    pub decision: DecisionRule,
}

impl TrainedHead {
    /// Class probabilities for raw (unstandardised) features: `rows × classes`.
    pub fn predict_proba(&self, features: &Features, device: &Device) -> Vec<f32> {
        predict_proba(&self.model, &self.standardizer.apply(features), device)
    }

    /// The head deciding by `decision` instead of argmax, its validation report
    /// recomputed that way (`valid` the features it was trained against).
    pub fn with_decision(
        mut self,
        decision: DecisionRule,
        valid: &Features,
        labels: &[String],
        device: &Device,
    ) -> Self {
        let probabilities = self.predict_proba(valid, device);
        self.valid_report = decision.report(labels, &valid.labels, &probabilities);
        self.decision = decision;
        self
    }
}

/// Trains a head on `train`, keeping the epoch that `config.monitor` rates best.
/// `labels` names the classes (for the report); features carry class indices.
/// Every setting is checked first ([`TrainConfig::validate`]), and the data against
/// the settings.
pub fn train_head(
    train: &Features,
    valid: &Features,
    labels: &[String],
    config: &TrainConfig,
    device: &Device,
) -> Result<TrainedHead, HeadError> {
    config.validate_for(labels)?;
    check_data(train, valid, labels.len(), config)?;
    let start = Instant::now();
    let classes = labels.len();
    let standardizer = Standardizer::fit(train);
    let valid_std = standardizer.apply(valid);

    // All randomness (initial weights, batch order, dropout) comes from this generator,
    // not burn's process-global one, so heads trained in parallel stay reproducible.
    let mut rng = SplitMix64::new(config.seed);
    let objective = Objective::new(train, &standardizer, labels, config, device);
    let mut model = Head::new(
        &config.head,
        train.dim,
        classes,
        &mut rng,
        &objective.device,
    );
    let mut optimizer = build_optimizer(config);
    let mut epochs = EpochOrder::new(train, config, classes);
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
        let (report, valid_loss) = evaluate(&inference, &valid_std, labels, device);
        let record = EpochRecord {
            epoch,
            train_loss: loss_sum / order.len() as f64,
            valid_loss,
            valid_macro_f1: report.macro_f1,
            valid_accuracy: report.accuracy,
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
        classes,
        best_epoch,
        history,
        valid_report,
        seconds: start.elapsed().as_secs_f64(),
        examples_trained,
        decision: DecisionRule::Argmax,
    })
}

/// The examples each epoch visits: with sampling, the epoch's own draw; without, all
/// originals, the previous epoch's order shuffled again.
struct EpochOrder<'a> {
    config: &'a TrainConfig,
    originals: &'a [usize],
    variants: &'a [usize],
    classes: usize,
    order: Vec<usize>,
}

impl<'a> EpochOrder<'a> {
    fn new(train: &'a Features, config: &'a TrainConfig, classes: usize) -> Self {
        let (originals, variants) = train.labels.split_at(train.originals());
        Self {
            config,
            originals,
            variants,
            classes,
            order: (0..originals.len()).collect(),
        }
    }

    fn draw(&self, epoch: usize) -> Vec<usize> {
        self.config.sampling.epoch_with_variants(
            self.originals,
            self.variants,
            self.classes,
            self.config.seed,
            epoch,
        )
    }

    fn batches_per_epoch(&self) -> usize {
        let examples = match self.config.sampling {
            Sampling::None => self.originals.len(),
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
    best: Option<(f64, usize, Head, ClassificationReport)>,
}

impl<'a> EarlyStopping<'a> {
    fn new(config: &'a TrainConfig) -> Self {
        Self { config, best: None }
    }

    /// Keeps `model` if `record` improves on the best by more than `min_delta`; true
    /// when `patience` epochs have passed without that.
    fn observe(&mut self, record: &EpochRecord, model: Head, report: ClassificationReport) -> bool {
        let config = self.config;
        let score = config.monitor.score_of(
            record.valid_loss,
            record.valid_macro_f1,
            record.valid_accuracy,
        );
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
    fn kept(self) -> (usize, Head, ClassificationReport) {
        let (_, epoch, model, report) = self
            .best
            .expect("epochs ≥ 1 (validated), and the first epoch always improves");
        (epoch, model, report)
    }
}

/// The standardised training data on the autodiff device, and what scores a batch
/// of it: the label loss, distillation's soft targets, boosting's example weights.
struct Objective<'a> {
    config: &'a TrainConfig,
    device: Device,
    x: Tensor<2>,
    y: Tensor<1, Int>,
    loss: Box<dyn ClassificationLoss>,
    teacher: Option<(DistillationLoss, &'a SoftTargets)>,
    weighted: Option<(CrossEntropy, Tensor<1>)>,
}

impl<'a> Objective<'a> {
    fn new(
        train: &'a Features,
        standardizer: &Standardizer,
        labels: &[String],
        config: &'a TrainConfig,
        device: &Device,
    ) -> Self {
        let device = device.clone().autodiff();
        let x = Tensor::<2>::from_data(
            TensorData::new(standardizer.apply(train).values, [train.rows, train.dim]),
            &device,
        );
        let y = Tensor::<1, Int>::from_data(
            TensorData::new(
                train.labels.iter().map(|&l| l as i64).collect::<Vec<_>>(),
                [train.rows],
            ),
            &device,
        );
        // Boosting's example weights go through cross-entropy (the loss SAMME's
        // derivation assumes); callers refuse other losses.
        let weighted = train.example_weights.as_ref().map(|weights| {
            let loss = CrossEntropy::default().with_label_smoothing(config.loss.label_smoothing);
            let weights =
                Tensor::<1>::from_data(TensorData::new(weights.clone(), [weights.len()]), &device);
            (loss, weights)
        });
        Self {
            loss: config.loss.build(labels, &train.labels),
            // `check_data` made sure distillation has its targets.
            teacher: config.distillation.zip(train.soft_targets.as_ref()),
            weighted,
            config,
            device,
            x,
            y,
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
        let logits = model.forward_train(self.x.clone().select(0, index.clone()), rng);
        let targets = self.y.clone().select(0, index.clone());
        let loss = match (self.teacher, &self.weighted) {
            (Some((distillation, soft)), _) => distillation.forward(
                logits,
                soft.batch(batch, &self.device),
                targets,
                self.loss.as_ref(),
            ),
            (None, Some((loss, weights))) => {
                loss.forward_weighted(logits, targets, weights.clone().select(0, index))
            }
            (None, None) => self.loss.forward(logits, targets),
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

/// Probabilities of already-standardised features.
pub(crate) fn predict_proba(model: &Head, features: &Features, device: &Device) -> Vec<f32> {
    let x = Tensor::<2>::from_data(
        TensorData::new(features.values.clone(), [features.rows, features.dim]),
        device,
    );
    burn::tensor::activation::softmax(model.forward(x), 1)
        .into_data()
        .try_into_vec_as::<f32>()
        .expect("probabilities are floats")
}

/// The metric report and the mean cross-entropy of a validation set.
fn evaluate(
    model: &Head,
    features: &Features,
    labels: &[String],
    device: &Device,
) -> (ClassificationReport, f64) {
    let classes = labels.len();
    let probabilities = predict_proba(model, features, device);
    let predicted = argmax_rows(&probabilities, classes);
    let loss = mean_log_loss(&probabilities, classes, &features.labels);
    (
        ClassificationReport::new(labels, &features.labels, &predicted, Some(&probabilities)),
        loss,
    )
}

//! What every head job reads: the training and validation caches, loaded as features
//! with their labels in one index space, and the head settings a grid is made of.

use std::path::PathBuf;

use bert::BackendKind;
use bert::burn::tensor::Device;
use data::{Label, LabelMap, Sampling, Task};
use encoder::EmbeddingCache;
use head::{FeatureOrigin, Features, SweepGrid, TrainedHead};
use metrics::DecisionRule;
use serde::{Deserialize, Serialize};
use training::{Activation, HiddenSizes, Monitor, OptimizerKind, Schedule};
use training::{Readout, Targets};

use crate::Observer;
use crate::error::{Result, refuse};
use crate::options::{DecisionOptions, LossOptions};

/// Training and validation caches (several paths: the shards of one run).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct FeatureCaches {
    /// Embedding cache(s) of the training data (`bertcls embed` output; shards allowed).
    pub train: Vec<PathBuf>,
    /// Embedding cache(s) of the validation data, for early stopping and ranking.
    pub valid: Vec<PathBuf>,
    /// Embedding cache(s) of augmented variants of training examples (`bertcls
    /// augment`, then `bertcls embed`): --sampling oversample tops classes up from
    /// them instead of repeating examples.
    pub augmented: Vec<PathBuf>,
    /// Where heads train: flex (CPU, default) or ndarray; heads are too small for a GPU to pay.
    pub backend: BackendKind,
}

/// Head and training settings. Each takes a list in a sweep and one value for one
/// head; unset ones keep the defaults (or the grid file's values).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct GridOptions {
    /// Head shapes: `linear` (softmax regression) or hidden widths like 512x256.
    pub hidden: Option<Vec<HiddenSizes>>,
    /// Base learning rates.
    pub learning_rates: Option<Vec<f64>>,
    /// L2 penalties (AdamW: decoupled weight decay).
    pub l2: Option<Vec<f64>>,
    /// L1 penalties on weight matrices.
    pub l1: Option<Vec<f64>>,
    /// Dropout after hidden layers (MLPs only).
    pub dropout: Option<Vec<f64>>,
    /// Batch norm in hidden layers: true, false (MLPs only).
    pub batch_norm: Option<Vec<bool>>,
    /// adam, adamw or sgd.
    pub optimizer: Option<Vec<OptimizerKind>>,
    /// Hidden-layer activation: relu, gelu, tanh.
    pub activation: Option<Activation>,
    /// Learning-rate schedule: constant, cosine, linear.
    pub schedule: Option<Schedule>,
    /// The loss and its imbalance remedies.
    #[serde(flatten)]
    pub loss: LossOptions,
    /// Which examples each epoch trains on: none, `oversample[:R]`, `undersample[:R]`,
    /// `rotating[:R]` (a different majority subset every epoch) or class-balanced.
    #[serde(with = "settings::as_text::option")]
    pub sampling: Option<Sampling>,
    /// Passes over the training features.
    pub epochs: Option<usize>,
    /// Examples per step.
    pub batch_size: Option<usize>,
    /// What early stopping watches on validation: loss (smooth; the default, but
    /// micro-f1 for multi-label data), macro-f1, micro-f1, accuracy.
    pub monitor: Option<Monitor>,
    /// Epochs without improvement of `monitor` before stopping (best epoch kept).
    pub patience: Option<usize>,
    /// Decides the initial weights, the batch order and dropout.
    pub seed: Option<u64>,
}

impl GridOptions {
    /// `grid` with every setting given here replacing its values.
    pub fn apply(&self, mut grid: SweepGrid) -> Result<SweepGrid> {
        if let Some(hidden) = &self.hidden {
            grid.hidden = hidden.iter().map(|h| h.0.clone()).collect();
        }
        let replace = |target: &mut Vec<f64>, values: &Option<Vec<f64>>| {
            if let Some(v) = values {
                target.clone_from(v);
            }
        };
        replace(&mut grid.learning_rates, &self.learning_rates);
        replace(&mut grid.l2, &self.l2);
        replace(&mut grid.l1, &self.l1);
        replace(&mut grid.dropout, &self.dropout);
        if let Some(v) = &self.batch_norm {
            grid.batch_norm.clone_from(v);
        }
        if let Some(v) = &self.optimizer {
            grid.optimizers.clone_from(v);
        }
        let base = &mut grid.base;
        base.head.activation = self.activation.unwrap_or(base.head.activation);
        base.schedule = self.schedule.unwrap_or(base.schedule);
        base.loss = self.loss.apply(base.loss.clone())?;
        base.sampling = self.sampling.unwrap_or(base.sampling);
        base.epochs = self.epochs.unwrap_or(base.epochs);
        base.batch_size = self.batch_size.unwrap_or(base.batch_size);
        base.patience = self.patience.unwrap_or(base.patience);
        base.monitor = self.monitor.or(base.monitor);
        base.seed = self.seed.unwrap_or(base.seed);
        Ok(grid)
    }
}

/// Train and validation features with their labels mapped to one index space.
pub(crate) struct LoadedFeatures {
    pub(crate) train: Features,
    /// The record id of each training row.
    pub(crate) train_ids: Vec<String>,
    pub(crate) valid: Features,
    /// What the training labels pose.
    pub(crate) task: Task,
    /// The training data's classes or labels (none for regression).
    pub(crate) labels: LabelMap,
    pub(crate) origin: FeatureOrigin,
    pub(crate) device: Device,
}

impl FeatureCaches {
    /// One cache of each split, nothing augmented.
    pub fn of(train: impl Into<PathBuf>, valid: impl Into<PathBuf>) -> Self {
        Self {
            train: vec![train.into()],
            valid: vec![valid.into()],
            ..Self::default()
        }
    }

    /// Opens the caches (checked to share one encoder) as features over one label
    /// map: the training data's classes.
    pub(crate) fn prepare(&self, observer: &mut dyn Observer) -> Result<LoadedFeatures> {
        // The cache's errors name its path.
        let open = |paths: &[PathBuf]| EmbeddingCache::open_shards(paths);
        let (train, valid) = (open(&self.train)?, open(&self.valid)?);
        let augmented = (!self.augmented.is_empty())
            .then(|| open(&self.augmented))
            .transpose()?;
        let encoder = train.meta.spec.encoder_only();
        let others = std::iter::once(("validation", &valid))
            .chain(augmented.iter().map(|a| ("augmented", a)));
        for (what, other) in others {
            if other.meta.spec.encoder_only() != encoder {
                refuse!(
                    "train and {what} features come from different encoders:\n  train: {}\n  {what}: {}",
                    train.meta.spec.describe_encoder(),
                    other.meta.spec.describe_encoder()
                );
            }
        }
        let task = task_of(&train)?;
        let labels = label_names(&train, task)?;
        let mut train_features = features(&train, &labels, task)?;
        if let Some(augmented) = &augmented {
            let variants = features(augmented, &labels, task)?;
            train_features = train_features.with_variants(&variants);
        }
        Ok(LoadedFeatures {
            train: train_features,
            train_ids: train.meta.ids.clone(),
            valid: validation_features(&valid, &labels, task, observer)?,
            task,
            origin: FeatureOrigin {
                fingerprint: encoder.fingerprint(),
                description: encoder.describe_encoder(),
                spec: serde_json::to_value(&encoder)?,
            },
            labels,
            device: self.backend.device()?,
        })
    }
}

/// `head` deciding as `decision` asks (argmax, or 0.5 for each label, when it asks
/// nothing), its validation report recomputed under the rule. Values are not
/// decided: regression heads take no rule.
pub(super) fn with_decision(
    head: TrainedHead,
    decision: &DecisionOptions,
    data: &LoadedFeatures,
    observer: &mut dyn Observer,
) -> Result<TrainedHead> {
    let names = data.labels.names();
    let readout = match (data.task, &data.valid.targets) {
        _ if decision.is_empty() => return Ok(head),
        (Task::SingleLabel, Targets::Classes(valid)) => {
            let train_labels = &data.train.classes()[..data.train.originals()];
            let rule = decision.rule(names, train_labels, valid, || {
                head.predict_proba(&data.valid, &data.device)
            })?;
            if rule == DecisionRule::Argmax {
                return Ok(head);
            }
            Readout::SingleLabel { decision: rule }
        }
        (Task::MultiLabel, Targets::Tags { marks, .. }) => Readout::MultiLabel {
            thresholds: decision.label_thresholds(names.len(), marks, || {
                head.predict_proba(&data.valid, &data.device)
            })?,
        },
        (Task::Regression, _) => refuse!(
            [logit_adjust] ", " [threshold] " and " [at_least_one] " decide labels; a \
             regression head's value is its prediction"
        ),
        (task, other) => unreachable!("{task} features hold {other:?}"),
    };
    let head = head.with_readout(readout, &data.valid, names, &data.device);
    let rule = match &head.readout {
        Readout::MultiLabel { thresholds } => {
            let at: Vec<String> = names
                .iter()
                .zip(&thresholds.at)
                .map(|(name, at)| format!("{name} {at:.3}"))
                .collect();
            format!("label thresholds {}", at.join(", "))
        }
        Readout::SingleLabel { decision } => decision.to_string(),
        Readout::Regression { .. } => unreachable!("regression heads were refused a rule"),
    };
    observer.note(&format!(
        "decision: {rule}; validation {} under it",
        head.valid_report.summary()
    ));
    Ok(head)
}

/// Augmented variants are read by over-sampling only: anything else would silently
/// ignore the augmented caches.
pub(super) fn check_variants_are_drawn(data: &LoadedFeatures, sampling: Sampling) -> Result<()> {
    if data.train.variants > 0 && !matches!(sampling, Sampling::Oversample { .. }) {
        refuse!(
            [augmented] " variants are drawn by over-sampling: add " [sampling] " oversample"
        );
    }
    Ok(())
}

/// The one task a cache's labels pose (the reader made every label of a file the
/// same form); a cache mixing forms, as shards of different files can, is refused.
fn task_of(cache: &EmbeddingCache) -> Result<Task> {
    let mut labelled = cache
        .meta
        .labels
        .iter()
        .zip(&cache.meta.ids)
        .filter_map(|(l, id)| Some((l.as_ref()?, id)));
    let Some((first, _)) = labelled.next() else {
        refuse!("{}: no record has a label", cache.path.display());
    };
    let task = first.task();
    if let Some((other, id)) = labelled.find(|(l, _)| l.task() != task) {
        refuse!(
            "{}: record {id} is {} data, the records before it {task}",
            cache.path.display(),
            other.task()
        );
    }
    Ok(task)
}

/// The names a head of `task` learns from the training cache: its classes (at
/// least two), its labels (at least one), or none for regression.
fn label_names(cache: &EmbeddingCache, task: Task) -> Result<LabelMap> {
    let labels = cache.meta.labels.iter().flatten();
    let names = match task {
        Task::SingleLabel => LabelMap::from_labels(labels.filter_map(Label::class)),
        Task::MultiLabel => LabelMap::from_labels(
            labels
                .filter_map(Label::tag_list)
                .flatten()
                .map(String::as_str),
        ),
        Task::Regression => return Ok(LabelMap::from_labels(std::iter::empty())),
    };
    let least = if task == Task::SingleLabel { 2 } else { 1 };
    if names.len() < least {
        refuse!(
            "{}: {task} training data needs at least {least} labels, found {:?}",
            cache.path.display(),
            names.names()
        );
    }
    Ok(names)
}

/// The validation cache's rows as targets over the training data's `labels`. A
/// class the head cannot learn cannot guide its selection either: such rows are left
/// out, and labels the training data lacks are dropped from a row's set; a note
/// names what is left out. A row without a label is an error.
pub(super) fn validation_features(
    cache: &EmbeddingCache,
    labels: &LabelMap,
    task: Task,
    observer: &mut dyn Observer,
) -> Result<Features> {
    let mut unseen: std::collections::BTreeMap<&str, usize> = Default::default();
    let mut kept = Vec::new();
    let mut targets = Vec::new();
    for (row, (label, id)) in cache.meta.labels.iter().zip(&cache.meta.ids).enumerate() {
        let Some(label) = label else {
            refuse!("{}: record {id} has no label", cache.path.display());
        };
        let target = match (task, label) {
            (Task::SingleLabel, Label::Class(class)) => match labels.index(class) {
                Some(index) => Target::Class(index),
                None => {
                    *unseen.entry(class).or_default() += 1;
                    continue;
                }
            },
            (Task::MultiLabel, Label::Tags(tags)) => {
                for tag in tags.iter().filter(|t| labels.index(t).is_none()) {
                    *unseen.entry(tag).or_default() += 1;
                }
                Target::Tags(marks(tags, labels))
            }
            (Task::Regression, Label::Value(value)) => Target::Value(*value as f32),
            (task, label) => refuse!(
                "{}: record {id} is {} data, the training data {task}",
                cache.path.display(),
                label.task()
            ),
        };
        kept.push(row);
        targets.push(target);
    }
    if kept.is_empty() {
        refuse!(
            "{}: no validation record has a class of the training data ({})",
            cache.path.display(),
            labels.names().join(", ")
        );
    }
    if !unseen.is_empty() {
        let named: Vec<String> = unseen.iter().map(|(l, n)| format!("{l} ({n})")).collect();
        let what = match task {
            Task::MultiLabel => {
                "validation labels the training data lacks are left out of model selection"
            }
            _ => {
                "validation records of classes the training data lacks are left out of model selection"
            }
        };
        observer.note(&format!("note: {what}: {}", named.join(", ")));
    }
    let values = kept
        .iter()
        .flat_map(|&row| cache.row(row).iter().copied())
        .collect();
    Ok(Features::with_targets(
        values,
        cache.meta.dim,
        collect(targets, labels.len(), task),
    ))
}

/// One row's target, before the rows are gathered into [`Targets`].
enum Target {
    Class(usize),
    Tags(Vec<bool>),
    Value(f32),
}

/// `tags` as one mark per label of `labels`.
fn marks(tags: &[String], labels: &LabelMap) -> Vec<bool> {
    let mut marks = vec![false; labels.len()];
    for index in tags.iter().filter_map(|t| labels.index(t)) {
        marks[index] = true;
    }
    marks
}

/// Rows' targets, all of `task` (the callers match each to it), as one [`Targets`].
fn collect(targets: Vec<Target>, labels: usize, task: Task) -> Targets {
    let mut gathered = match task {
        Task::SingleLabel => Targets::Classes(Vec::with_capacity(targets.len())),
        Task::MultiLabel => Targets::Tags {
            labels,
            marks: Vec::with_capacity(targets.len() * labels),
        },
        Task::Regression => Targets::Values(Vec::with_capacity(targets.len())),
    };
    for target in targets {
        match (&mut gathered, target) {
            (Targets::Classes(classes), Target::Class(class)) => classes.push(class),
            (Targets::Tags { marks, .. }, Target::Tags(row)) => marks.extend(row),
            (Targets::Values(values), Target::Value(value)) => values.push(value),
            _ => unreachable!("each row's target was matched to the task"),
        }
    }
    gathered
}

/// A cache's vectors with their targets over `labels`; every row must carry a
/// label of `task` that `labels` knows.
pub(super) fn features(cache: &EmbeddingCache, labels: &LabelMap, task: Task) -> Result<Features> {
    let targets = cache
        .meta
        .labels
        .iter()
        .zip(&cache.meta.ids)
        .map(|(label, id)| {
            let path = cache.path.display();
            let unknown = |l: &str| -> Result<Target> {
                refuse!("{path}: record {id} has label {l:?}, unknown to the training data")
            };
            Ok(match (task, label) {
                (_, None) => refuse!("{path}: record {id} has no label"),
                (Task::SingleLabel, Some(Label::Class(class))) => match labels.index(class) {
                    Some(index) => Target::Class(index),
                    None => unknown(class)?,
                },
                (Task::MultiLabel, Some(Label::Tags(tags))) => {
                    if let Some(tag) = tags.iter().find(|t| labels.index(t).is_none()) {
                        unknown(tag)?;
                    }
                    Target::Tags(marks(tags, labels))
                }
                (Task::Regression, Some(Label::Value(value))) => Target::Value(*value as f32),
                (task, Some(label)) => refuse!(
                    "{path}: record {id} is {} data, the training data {task}",
                    label.task()
                ),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Features::with_targets(
        cache.vectors().to_vec(),
        cache.meta.dim,
        collect(targets, labels.len(), task),
    ))
}

//! What every head job reads: the training and validation caches, loaded as features
//! with their labels in one index space, and the head settings a grid is made of.

use std::path::PathBuf;

use bert::BackendKind;
use bert::burn::tensor::Device;
use data::{LabelMap, Sampling};
use encoder::EmbeddingCache;
use head::{FeatureOrigin, Features, SweepGrid, TrainedHead};
use metrics::DecisionRule;
use serde::{Deserialize, Serialize};
use training::{Activation, HiddenSizes, Monitor, OptimizerKind, Schedule};

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
    /// What early stopping watches on validation: loss (default; smooth), macro-f1, accuracy.
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
        base.monitor = self.monitor.unwrap_or(base.monitor);
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
        if let Some(label) = train
            .meta
            .labels
            .iter()
            .flatten()
            .find(|l| l.class().is_none())
        {
            let (path, task) = (train.path.display(), label.task());
            refuse!(
                "{path} holds {task} labels (embedded from {task} data); heads learn \
                 single-label data only so far"
            );
        }
        let labels = LabelMap::from_labels(
            train
                .meta
                .labels
                .iter()
                .flatten()
                .filter_map(data::Label::class),
        );
        if labels.len() < 2 {
            refuse!(
                "{}: training data needs at least two classes, found {:?}",
                train.path.display(),
                labels.names()
            );
        }
        let mut train_features = features(&train, &labels)?;
        if let Some(augmented) = &augmented {
            train_features = train_features.with_variants(&features(augmented, &labels)?);
        }
        Ok(LoadedFeatures {
            train: train_features,
            train_ids: train.meta.ids.clone(),
            valid: validation_features(&valid, &labels, observer)?,
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

/// `head` deciding by the rule `decision` asks for (argmax when none), its
/// validation report recomputed under the rule.
pub(super) fn with_decision(
    head: TrainedHead,
    decision: &DecisionOptions,
    data: &LoadedFeatures,
    observer: &mut dyn Observer,
) -> Result<TrainedHead> {
    let names = data.labels.names();
    let train_labels = &data.train.labels[..data.train.originals()];
    let rule = decision.rule(names, train_labels, &data.valid.labels, || {
        head.predict_proba(&data.valid, &data.device)
    })?;
    if rule == DecisionRule::Argmax {
        return Ok(head);
    }
    let head = head.with_decision(rule, &data.valid, names, &data.device);
    observer.note(&format!(
        "decision: {}; validation macro-F1 {:.4}, accuracy {:.4} under it",
        head.decision, head.valid_report.macro_f1, head.valid_report.accuracy
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

/// The validation cache's rows whose labels the training data has: a class the
/// head cannot learn cannot guide its selection either. A note names what is left
/// out; a row without a label is an error.
pub(super) fn validation_features(
    cache: &EmbeddingCache,
    labels: &LabelMap,
    observer: &mut dyn Observer,
) -> Result<Features> {
    let mut unseen: std::collections::BTreeMap<&str, usize> = Default::default();
    let mut kept = Vec::new();
    for (row, (label, id)) in cache.meta.labels.iter().zip(&cache.meta.ids).enumerate() {
        match label.as_ref().and_then(data::Label::class) {
            None => refuse!("{}: record {id} has no label", cache.path.display()),
            Some(l) => match labels.index(l) {
                Some(index) => kept.push((row, index)),
                None => *unseen.entry(l).or_default() += 1,
            },
        }
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
        observer.note(&format!(
            "note: validation records of classes the training data lacks are left out of model selection: {}",
            named.join(", ")
        ));
    }
    let values = kept
        .iter()
        .flat_map(|&(row, _)| cache.row(row).iter().copied())
        .collect();
    let indices = kept.into_iter().map(|(_, index)| index).collect();
    Ok(Features::new(values, cache.meta.dim, indices))
}

/// A cache's vectors with class indices; every row must carry a known label.
pub(super) fn features(cache: &EmbeddingCache, labels: &LabelMap) -> Result<Features> {
    let indices = cache
        .meta
        .labels
        .iter()
        .zip(&cache.meta.ids)
        .map(|(label, id)| {
            match label
                .as_ref()
                .and_then(data::Label::class)
                .map(|l| (l, labels.index(l)))
            {
                Some((_, Some(index))) => Ok(index),
                Some((l, None)) => refuse!(
                    "{}: record {id} has label {l:?}, unknown to the training data",
                    cache.path.display()
                ),
                None => refuse!("{}: record {id} has no label", cache.path.display()),
            }
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Features::new(
        cache.vectors().to_vec(),
        cache.meta.dim,
        indices,
    ))
}

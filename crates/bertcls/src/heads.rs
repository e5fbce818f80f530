//! Pipeline mode, stage 2, as jobs: train one head (or an ensemble of them, or a
//! cross-validation) over cached features, sweep a grid of heads, apply a saved head.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use bert::BackendKind;
use bert::burn::tensor::Device;
use clap::Args;
use data::{LabelMap, Record, Sampling};
use encoder::{EmbeddingCache, EmbeddingSpec};
use head::{
    Combine, FeatureOrigin, Features, HeadEnsemble, SavedHead, SweepEntry, SweepGrid, TrainConfig,
    TrainedHead, sweep,
};
use metrics::{ClassificationReport, DecisionRule};
use serde::{Deserialize, Serialize};
use training::{Activation, HeadConfig, Monitor, OptimizerKind, Schedule};

use crate::Job;
use crate::Observer;
use crate::classifier::{EnsembleMember, EnsembleSpec, head_encoder};
use crate::cross_validation::{CvData, cross_validate};
use crate::error::{Context, Result, refuse};
use crate::options::{Columns, DecisionOptions, Force, LossOptions};
use crate::predictions::{report_if_labelled, write_predictions};
use crate::teacher::{Teacher, records_in_order};

/// Training and validation caches (several paths: the shards of one run).
#[derive(Args, Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct FeatureCaches {
    /// Embedding cache(s) of the training data (`bertcls embed` output; shards allowed).
    #[arg(long, num_args = 1.., required = true)]
    pub train: Vec<PathBuf>,
    /// Embedding cache(s) of the validation data, for early stopping and ranking.
    #[arg(long, num_args = 1.., required = true)]
    pub valid: Vec<PathBuf>,
    /// Embedding cache(s) of augmented variants of training examples (`bertcls
    /// augment`, then `bertcls embed`): --sampling oversample tops classes up from
    /// them instead of repeating examples.
    #[arg(long, num_args = 1..)]
    pub augmented: Vec<PathBuf>,
    /// Where heads train: flex (CPU, default) or ndarray; heads are too small for a GPU to pay.
    #[arg(long, default_value_t = BackendKind::Flex)]
    pub backend: BackendKind,
}

/// Head and training settings. Each takes a list in a sweep and one value for one
/// head; unset ones keep the defaults (or the grid file's values).
#[derive(Args, Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct GridOptions {
    /// Head shapes: `linear` (softmax regression) or hidden widths like 512x256.
    #[arg(long, value_delimiter = ',')]
    pub hidden: Option<Vec<String>>,
    /// Base learning rates.
    #[arg(long = "lr", value_delimiter = ',')]
    pub learning_rates: Option<Vec<f64>>,
    /// L2 penalties (AdamW: decoupled weight decay).
    #[arg(long, value_delimiter = ',')]
    pub l2: Option<Vec<f64>>,
    /// L1 penalties on weight matrices.
    #[arg(long, value_delimiter = ',')]
    pub l1: Option<Vec<f64>>,
    /// Dropout after hidden layers (MLPs only).
    #[arg(long, value_delimiter = ',')]
    pub dropout: Option<Vec<f64>>,
    /// Batch norm in hidden layers: true, false (MLPs only).
    #[arg(long, value_delimiter = ',')]
    pub batch_norm: Option<Vec<bool>>,
    /// adam, adamw or sgd.
    #[arg(long, value_delimiter = ',')]
    pub optimizer: Option<Vec<OptimizerKind>>,
    /// Hidden-layer activation: relu, gelu, tanh.
    #[arg(long)]
    pub activation: Option<Activation>,
    /// Learning-rate schedule: constant, cosine, linear.
    #[arg(long)]
    pub schedule: Option<Schedule>,
    /// The loss and its imbalance remedies.
    #[command(flatten)]
    #[serde(flatten)]
    pub loss: LossOptions,
    /// Which examples each epoch trains on: none, `oversample[:R]`, `undersample[:R]`,
    /// `rotating[:R]` (a different majority subset every epoch) or class-balanced.
    #[arg(long)]
    #[serde(with = "settings::as_text::option")]
    pub sampling: Option<Sampling>,
    /// Passes over the training features.
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Examples per step.
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// What early stopping watches on validation: loss (default; smooth), macro-f1, accuracy.
    #[arg(long)]
    pub monitor: Option<Monitor>,
    /// Epochs without improvement of --monitor before stopping (best epoch kept).
    #[arg(long)]
    pub patience: Option<usize>,
    /// Decides the initial weights, the batch order and dropout.
    #[arg(long)]
    pub seed: Option<u64>,
}

impl GridOptions {
    /// `grid` with every setting given here replacing its values.
    pub fn apply(&self, mut grid: SweepGrid) -> Result<SweepGrid> {
        if let Some(hidden) = &self.hidden {
            grid.hidden = hidden
                .iter()
                .map(|h| HeadConfig::parse_hidden(h))
                .collect::<std::result::Result<_, _>>()
                .map_err(crate::JobError::Refused)?;
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

/// Train one head over cached features and save it; or bag or boost an ensemble of
/// heads; or cross-validate one (`bertcls head train`).
#[derive(Args, Debug, Clone, PartialEq, Serialize, Deserialize)]
#[command(
    after_help = "Example:\n  bertcls head train --train train.emb --valid valid.emb --hidden 256 --dropout 0.2 --out r8.head"
)]
pub struct TrainHeadJob {
    /// The training and validation features.
    #[command(flatten)]
    #[serde(flatten)]
    pub caches: FeatureCaches,
    /// The head's architecture and training settings.
    #[command(flatten)]
    #[serde(flatten)]
    pub grid: GridOptions,
    /// How probabilities become a class.
    #[command(flatten)]
    #[serde(flatten)]
    pub decision: DecisionOptions,
    /// Bagging: M heads, each trained on its own bootstrap sample of the training
    /// features, saved as one ensemble (OUT/ensemble.json; `bertcls predict --model
    /// OUT` uses it).
    #[arg(long, value_name = "M", conflicts_with = "boost")]
    pub bag: Option<usize>,
    /// How a bagged ensemble combines its heads: mean (of probabilities) or vote.
    #[arg(long, default_value_t = Combine::Mean, requires = "bag")]
    pub combine: Combine,
    /// Boosting (SAMME, multi-class AdaBoost): up to M heads in turn, each trained with
    /// the examples its predecessor misclassified weighted up; they vote, weighted by
    /// their training accuracy. Needs the cross-entropy loss.
    #[arg(long, value_name = "M")]
    pub boost: Option<usize>,
    /// Stratified K-fold cross-validation over the training cache instead of one
    /// head: each fold's head trains on the other folds (early stopping on --valid)
    /// and is scored on its own; OUT/cv.json gets every metric's mean ± std,
    /// OUT/cv-predictions.jsonl the out-of-fold predictions.
    #[arg(long, value_name = "K", conflicts_with_all = ["bag", "boost", "logit_adjust", "threshold"])]
    pub cv: Option<usize>,
    /// Where to save the head (a folder).
    #[arg(long)]
    pub out: PathBuf,
    /// Whether a bertcls artifact of another kind may be replaced.
    #[command(flatten)]
    #[serde(flatten)]
    pub force: Force,
}

/// What [`TrainHeadJob::run`] made.
pub enum TrainedHeads {
    /// One head, saved in `out`.
    Single {
        /// The folder it was saved in.
        out: PathBuf,
        /// The trained head, its validation report and curve.
        head: Box<TrainedHead>,
    },
    /// A bagged or boosted ensemble, its members in `out/members`.
    Ensemble {
        /// The ensemble's folder.
        out: PathBuf,
        /// "bagging" or "boosting".
        kind: &'static str,
        /// The members, their weights and the ensemble's validation report.
        ensemble: Box<HeadEnsemble>,
    },
    /// Cross-validation's folds and summary, written into `out`.
    CrossValidation {
        /// The folder of cv.json and cv-predictions.jsonl.
        out: PathBuf,
        /// Every fold's report and every metric's mean ± std.
        cv: report::CrossValidation,
    },
}

impl TrainedHeads {
    /// The folder written.
    pub fn out(&self) -> &Path {
        match self {
            TrainedHeads::Single { out, .. }
            | TrainedHeads::Ensemble { out, .. }
            | TrainedHeads::CrossValidation { out, .. } => out,
        }
    }

    /// What was trained, in words.
    pub fn summary(&self) -> String {
        match self {
            TrainedHeads::Single { head, .. } => format!(
                "{}: best epoch {} of {}, validation macro-F1 {:.4}, accuracy {:.4}, {:.1} s",
                head.config.head.shape_name(),
                head.best_epoch,
                head.history.len(),
                head.valid_report.macro_f1,
                head.valid_report.accuracy,
                head.seconds
            ),
            TrainedHeads::Ensemble { kind, ensemble, .. } => {
                let best = ensemble.best_member();
                format!(
                    "{kind}: {} heads ({}); validation macro-F1 {:.4}, accuracy {:.4}; best member {:.4}, {:.4}",
                    ensemble.members.len(),
                    ensemble.combine,
                    ensemble.valid_report.macro_f1,
                    ensemble.valid_report.accuracy,
                    best.valid_report.macro_f1,
                    best.valid_report.accuracy,
                )
            }
            TrainedHeads::CrossValidation { cv, .. } => format!(
                "cross-validation over {} folds: macro-F1 {}",
                cv.folds.len(),
                cv.summary.get("macro_f1").map_or("-".into(), |s| s.show(4))
            ),
        }
    }
}

/// Train and validation features with their labels mapped to one index space.
struct LoadedFeatures {
    train: Features,
    /// The record id of each training row.
    train_ids: Vec<String>,
    valid: Features,
    labels: LabelMap,
    origin: FeatureOrigin,
    device: Device,
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
    fn prepare(&self, observer: &mut dyn Observer) -> Result<LoadedFeatures> {
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
        let labels = LabelMap::from_labels(train.meta.labels.iter().flatten());
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
fn with_decision(
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
fn check_variants_are_drawn(data: &LoadedFeatures, sampling: Sampling) -> Result<()> {
    if data.train.variants > 0 && !matches!(sampling, Sampling::Oversample { .. }) {
        refuse!("--augmented variants are drawn by over-sampling: add --sampling oversample");
    }
    Ok(())
}

/// The validation cache's rows whose labels the training data has: a class the
/// head cannot learn cannot guide its selection either. A note names what is left
/// out; a row without a label is an error.
fn validation_features(
    cache: &EmbeddingCache,
    labels: &LabelMap,
    observer: &mut dyn Observer,
) -> Result<Features> {
    let mut unseen: std::collections::BTreeMap<&str, usize> = Default::default();
    let mut kept = Vec::new();
    for (row, (label, id)) in cache.meta.labels.iter().zip(&cache.meta.ids).enumerate() {
        match label.as_deref() {
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
fn features(cache: &EmbeddingCache, labels: &LabelMap) -> Result<Features> {
    let indices = cache
        .meta
        .labels
        .iter()
        .zip(&cache.meta.ids)
        .map(
            |(label, id)| match label.as_deref().map(|l| (l, labels.index(l))) {
                Some((_, Some(index))) => Ok(index),
                Some((l, None)) => refuse!(
                    "{}: record {id} has label {l:?}, unknown to the training data",
                    cache.path.display()
                ),
                None => refuse!("{}: record {id} has no label", cache.path.display()),
            },
        )
        .collect::<Result<Vec<_>>>()?;
    Ok(Features::new(
        cache.vectors().to_vec(),
        cache.meta.dim,
        indices,
    ))
}

impl TrainHeadJob {
    /// A job training the default head on the caches `train` and `valid` into `out`.
    pub fn new(
        train: impl Into<PathBuf>,
        valid: impl Into<PathBuf>,
        out: impl Into<PathBuf>,
    ) -> Self {
        Self {
            caches: FeatureCaches::of(train, valid),
            grid: GridOptions::default(),
            decision: DecisionOptions::default(),
            bag: None,
            combine: Combine::Mean,
            boost: None,
            cv: None,
            out: out.into(),
            force: Force::default(),
        }
    }

    /// The one configuration these settings describe: a single value for each.
    pub fn config(&self) -> Result<TrainConfig> {
        let single = SweepGrid {
            hidden: vec![vec![]],
            learning_rates: vec![SweepGrid::default().base.learning_rate],
            l2: vec![SweepGrid::default().base.l2],
            l1: vec![0.0],
            dropout: vec![0.0],
            batch_norm: vec![false],
            optimizers: vec![OptimizerKind::default()],
            ..SweepGrid::default()
        };
        let configs = self.grid.apply(single)?.configs();
        let [config] = configs.as_slice() else {
            refuse!(
                "head train takes one value per setting ({} combinations given); a sweep takes several",
                configs.len()
            );
        };
        config.validate()?;
        Ok(config.clone())
    }

    /// `--cv K`: a head per fold, each scored on the fold it held out.
    fn cross_validate(
        &self,
        k: usize,
        config: &TrainConfig,
        data: &LoadedFeatures,
        observer: &mut dyn Observer,
    ) -> Result<TrainedHeads> {
        if data.train.variants > 0 {
            refuse!("--cv folds the training examples themselves: leave out --augmented");
        }
        let names = data.labels.names();
        let cv_data = CvData {
            labels: names,
            truth: &data.train.labels,
            ids: &data.train_ids,
        };
        let out = artifacts::claim_dir(
            &self.out,
            artifacts::ArtifactKind::CrossValidation,
            self.force.overwrite(),
        )
        .context("--out")?;
        let cv = cross_validate(k, config.seed, &cv_data, &out, observer, &mut |fold, _| {
            let train = data.train.subset(&fold.train);
            let head = head::train_head(&train, &data.valid, names, config, &data.device)?;
            Ok(head.predict_proba(&data.train.subset(&fold.held_out), &data.device))
        })?;
        Ok(TrainedHeads::CrossValidation { out, cv })
    }

    /// `--bag` or `--boost`: the members and `ensemble.json` in OUT.
    fn train_ensemble(&self, config: &TrainConfig, data: &LoadedFeatures) -> Result<TrainedHeads> {
        if !self.decision.is_empty() {
            refuse!(
                "an ensemble decides by its combined probabilities: leave out --logit-adjust and --threshold"
            );
        }
        let names = data.labels.names();
        let (kind, ensemble) = match (self.bag, self.boost) {
            (Some(members), _) => (
                "bagging",
                head::bag(
                    &data.train,
                    &data.valid,
                    names,
                    config,
                    members,
                    self.combine,
                    &data.device,
                )?,
            ),
            (None, Some(rounds)) => (
                "boosting",
                head::boost(
                    &data.train,
                    &data.valid,
                    names,
                    config,
                    rounds,
                    &data.device,
                )?,
            ),
            (None, None) => unreachable!("called for --bag or --boost"),
        };
        let staged = artifacts::StagedDir::new(
            &self.out,
            artifacts::ArtifactKind::Ensemble,
            self.force.overwrite(),
        )
        .context("--out")?;
        let mut members = Vec::new();
        for (index, (member, &weight)) in ensemble.members.iter().zip(&ensemble.weights).enumerate()
        {
            let path = PathBuf::from(format!("members/{:02}.head", index + 1));
            let overwrite = artifacts::Overwrite::SameKind;
            SavedHead::save(
                member,
                names,
                &data.origin,
                &staged.path().join(&path),
                overwrite,
            )?;
            members.push(EnsembleMember { path, weight });
        }
        let spec = EnsembleSpec {
            combine: ensemble.combine,
            labels: names.to_vec(),
            members,
        };
        spec.write_into(staged.path())?;
        let out = staged.commit(true)?;
        Ok(TrainedHeads::Ensemble {
            out,
            kind,
            ensemble: Box::new(ensemble),
        })
    }
}

impl Job for TrainHeadJob {
    type Output = TrainedHeads;

    /// The one configuration the settings describe, against its rules.
    fn validate(&self) -> Result<()> {
        self.config().map(drop)
    }

    /// Trains as the settings say and saves what it trained in `out`.
    fn execute(&self, observer: &mut dyn Observer) -> Result<TrainedHeads> {
        let config = self.config()?;
        let data = self.caches.prepare(observer)?;
        check_variants_are_drawn(&data, config.sampling)?;
        // Before any folder is claimed or staged: a refused setting leaves nothing behind.
        config.validate_for(data.labels.names())?;
        if self.bag.is_some() || self.boost.is_some() {
            return self.train_ensemble(&config, &data);
        }
        if let Some(k) = self.cv {
            return self.cross_validate(k, &config, &data, observer);
        }
        let names = data.labels.names();
        let head = head::train_head(&data.train, &data.valid, names, &config, &data.device)?;
        let head = with_decision(head, &self.decision, &data, observer)?;
        SavedHead::save(
            &head,
            names,
            &data.origin,
            &self.out,
            self.force.overwrite(),
        )
        .context("--out")?;
        Ok(TrainedHeads::Single {
            out: self.out.clone(),
            head: Box::new(head),
        })
    }
}

/// Train a grid of heads over cached features, rank them on validation, save the
/// best (`bertcls head sweep`).
#[derive(Args, Debug, Clone, PartialEq, Serialize, Deserialize)]
#[command(after_help = "Examples:\n  \
    bertcls head sweep --train train.emb --valid valid.emb --out sweeps/r8\n  \
    bertcls head sweep --train train.emb --valid valid.emb --hidden linear,256 --lr 1e-3,1e-2 --l2 0,1e-4\n  \
    bertcls head sweep --train train.emb --valid valid.emb --grid-file sweep.toml\n\n\
    A grid file sets any of: hidden = [[], [256]], learning_rates, l2, l1, dropout, batch_norm, \
    optimizers, and [base] settings (epochs, batch_size, patience, seed, …); flags override it.")]
pub struct SweepJob {
    /// The training and validation features.
    #[command(flatten)]
    #[serde(flatten)]
    pub caches: FeatureCaches,
    /// The settings every head of the grid shares.
    #[command(flatten)]
    #[serde(flatten)]
    pub grid: GridOptions,
    /// A decision rule for the best head (applied after the ranking).
    #[command(flatten)]
    #[serde(flatten)]
    pub decision: DecisionOptions,
    /// A TOML file with the grid (see the example above).
    #[arg(long)]
    pub grid_file: Option<PathBuf>,
    /// Random search: train only N configurations drawn from the grid (seeded by --seed).
    #[arg(long)]
    pub random: Option<usize>,
    /// Heads trained at once (default: one per core). Results do not depend on it.
    #[arg(long)]
    pub jobs: Option<usize>,
    /// Folder for leaderboard.json, leaderboard.csv and best.head/.
    #[arg(long)]
    pub out: PathBuf,
    /// Whether a bertcls artifact of another kind may be replaced.
    #[command(flatten)]
    #[serde(flatten)]
    pub force: Force,
}

/// What a sweep did: every head ranked (best first), where the best was saved, and
/// the sweep's wall time.
pub struct Swept {
    /// The grid as resolved from the file and the settings.
    pub grid: SweepGrid,
    /// Every head, best first.
    pub entries: Vec<SweepEntry>,
    /// The folder of the best head.
    pub best_head: PathBuf,
    /// Wall time of the sweep.
    pub seconds: f64,
}

impl Swept {
    /// The leaderboard's top `top` rows and a closing line, as text.
    pub fn leaderboard(&self, top: usize) -> String {
        let mut lines = vec![format!(
            "{:>4}  {:>8}  {:>8}  {:>5}  {:>6}  configuration",
            "rank", "macro-F1", "accuracy", "epoch", "secs"
        )];
        for (rank, e) in self.entries.iter().take(top).enumerate() {
            lines.push(format!(
                "{:>4}  {:>8.4}  {:>8.4}  {:>5}  {:>6.2}  {}",
                rank + 1,
                e.valid_macro_f1,
                e.valid_accuracy,
                e.best_epoch,
                e.seconds,
                e.describe()
            ));
        }
        lines.push(format!(
            "{} heads in {:.1} s; leaderboard and best.head in {}",
            self.entries.len(),
            self.seconds,
            self.best_head.parent().unwrap_or(Path::new(".")).display()
        ));
        lines.join("\n")
    }
}

impl SweepJob {
    /// The default sweep of the caches `train` and `valid` into `out`.
    pub fn new(
        train: impl Into<PathBuf>,
        valid: impl Into<PathBuf>,
        out: impl Into<PathBuf>,
    ) -> Self {
        Self {
            caches: FeatureCaches::of(train, valid),
            grid: GridOptions::default(),
            decision: DecisionOptions::default(),
            grid_file: None,
            random: None,
            jobs: None,
            out: out.into(),
            force: Force::default(),
        }
    }

    /// The grid: the file's (or the default one) with the settings applied.
    pub fn grid(&self) -> Result<SweepGrid> {
        let base = match &self.grid_file {
            Some(path) => {
                let text = data::read_text_file(path)?;
                toml::from_str(&text)
                    .with_context(|| format!("{} is not a valid sweep grid", path.display()))?
            }
            None => SweepGrid::default(),
        };
        self.grid.apply(base)
    }

    /// [`run`](Self::run), every head also learning from `teacher`'s soft targets on
    /// the training texts `records` (matched to the cache's rows by id).
    pub(crate) fn run_with(
        &self,
        teacher: Option<(&Teacher, &[Record])>,
        observer: &mut dyn Observer,
    ) -> Result<Swept> {
        let mut grid = self.grid()?;
        let mut data = self.caches.prepare(observer)?;
        check_variants_are_drawn(&data, grid.base.sampling)?;
        if let Some((teacher, records)) = teacher {
            if data.train.variants > 0 {
                refuse!("augmented variants have no teacher targets: leave out --augmented");
            }
            let ordered = records_in_order(records, &data.train_ids)?;
            let targets = teacher.soft_targets(&ordered, data.labels.names(), observer)?;
            data.train = data.train.with_soft_targets(targets);
            grid.base.distillation = Some(teacher.loss);
        }
        let configs = match self.random {
            Some(n) => grid.sample(n, grid.base.seed),
            None => grid.configs(),
        };
        // Checked now, claimed once the heads are trained: a refused folder costs no
        // training, a refused setting leaves no folder behind.
        let overwrite = self.force.overwrite();
        artifacts::check_folder_target(&self.out, artifacts::ArtifactKind::HeadSweep, overwrite)
            .context("--out")?;
        let started = std::time::Instant::now();
        let (entries, best) = self.train_all(&data, &configs, observer)?;
        let best = with_decision(best, &self.decision, &data, observer)?;
        let out = artifacts::claim_dir(&self.out, artifacts::ArtifactKind::HeadSweep, overwrite)
            .context("--out")?;
        write_leaderboard(&out, &entries)?;
        let best_head = out.join("best.head");
        let names = data.labels.names();
        let same_kind = artifacts::Overwrite::SameKind;
        SavedHead::save(&best, names, &data.origin, &best_head, same_kind)?;
        Ok(Swept {
            grid,
            entries,
            best_head,
            seconds: started.elapsed().as_secs_f64(),
        })
    }

    /// Every configuration on every core, with progress.
    fn train_all(
        &self,
        data: &LoadedFeatures,
        configs: &[TrainConfig],
        observer: &mut dyn Observer,
    ) -> Result<(Vec<SweepEntry>, TrainedHead)> {
        observer.note(&format!(
            "sweeping {} heads over {} × {} features ({} classes)",
            configs.len(),
            data.train.rows,
            data.train.dim,
            data.labels.len()
        ));
        let jobs = self
            .jobs
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
        observer.begin("heads", configs.len());
        let progress = Mutex::new(&mut *observer);
        let result = sweep(
            &data.train,
            &data.valid,
            data.labels.names(),
            configs,
            &data.device,
            jobs,
            &|e: &SweepEntry| {
                let mut observer = progress.lock().unwrap_or_else(|p| p.into_inner());
                observer.status(&format!("last: macro-F1 {:.3}", e.valid_macro_f1));
                observer.advance(1);
            },
        );
        observer.end();
        Ok(result?)
    }
}

impl Job for SweepJob {
    type Output = Swept;

    /// The grid (the file's, with the settings applied), every configuration
    /// against its rules.
    fn validate(&self) -> Result<()> {
        self.grid().map(drop)
    }

    /// Trains the grid, writes the leaderboard and the best head.
    fn execute(&self, observer: &mut dyn Observer) -> Result<Swept> {
        self.run_with(None, observer)
    }
}

fn write_leaderboard(dir: &Path, entries: &[SweepEntry]) -> Result<()> {
    artifacts::write_json(&dir.join("leaderboard.json"), &entries)?;
    let mut csv = String::from(
        "rank,valid_macro_f1,valid_accuracy,best_epoch,epochs_run,seconds,hidden,optimizer,learning_rate,l2,l1,dropout,batch_norm\n",
    );
    for (rank, e) in entries.iter().enumerate() {
        let c = &e.config;
        csv.push_str(&format!(
            "{},{},{},{},{},{:.4},{},{},{},{},{},{},{}\n",
            rank + 1,
            e.valid_macro_f1,
            e.valid_accuracy,
            e.best_epoch,
            e.epochs_run,
            e.seconds,
            c.head.shape_name(),
            c.optimizer,
            c.learning_rate,
            c.l2,
            c.l1,
            c.head.dropout,
            c.head.batch_norm
        ));
    }
    artifacts::write_atomic(&dir.join("leaderboard.csv"), csv.as_bytes())?;
    Ok(())
}

/// Classify a cache, or a text file embedded on the fly as the head's features were
/// (`bertcls head predict`).
#[derive(Args, Debug, Clone, PartialEq, Serialize, Deserialize)]
#[command(after_help = "Examples:\n  \
    bertcls head predict --head sweeps/r8/best.head --cache test.emb --output predictions.jsonl\n  \
    bertcls head predict --head sweeps/r8/best.head --input new.csv --output predictions.jsonl\n\n\
    With labelled data, the metric report is printed too.")]
pub struct PredictHeadJob {
    /// A saved head folder (`head train --out`, or best.head of a sweep).
    #[arg(long)]
    pub head: PathBuf,
    /// Embedding cache(s) to classify (shards allowed). Or give --input.
    #[arg(long, num_args = 1.., conflicts_with = "input")]
    pub cache: Vec<PathBuf>,
    /// A data file (JSONL, CSV or TSV) to embed and classify. Or give --cache.
    #[arg(long)]
    pub input: Option<PathBuf>,
    /// How a text file is read.
    #[command(flatten)]
    #[serde(flatten)]
    pub columns: Columns,
    /// The model folder, when it moved since the head was trained (default: the one recorded).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Where to write one JSON line per record: id, predicted label, probabilities
    /// (`-`: standard output).
    #[arg(long)]
    pub output: PathBuf,
    /// Where the head (and the encoder, for --input) runs.
    #[arg(long, default_value_t = BackendKind::Flex)]
    pub backend: BackendKind,
}

impl PredictHeadJob {
    /// The head `head` applied to the cache `cache`, predictions into `output`.
    pub fn new(
        head: impl Into<PathBuf>,
        cache: impl Into<PathBuf>,
        output: impl Into<PathBuf>,
    ) -> Self {
        Self {
            head: head.into(),
            cache: vec![cache.into()],
            input: None,
            columns: Columns::default(),
            model: None,
            output: output.into(),
            backend: BackendKind::Flex,
        }
    }

    /// A data file's records as the head's features, embedded as its training
    /// features were.
    fn embedded(
        &self,
        head: &SavedHead,
        input: &Path,
        device: &Device,
        observer: &mut dyn Observer,
    ) -> Result<Rows> {
        let trained_spec: EmbeddingSpec = serde_json::from_value(head.features().spec.clone())
            .with_context(|| format!("{}: unreadable feature spec", self.head.display()))?;
        let records = self.columns.read(input, false, observer)?;
        let model_dir = self
            .model
            .clone()
            .unwrap_or_else(|| PathBuf::from(&trained_spec.model));
        let encoder = head_encoder(
            head,
            &model_dir,
            trained_spec.max_len,
            trained_spec.options(),
            device,
        )?;
        observer.begin("embedding", records.len());
        let embedded = encoder.embed(&records, &mut |n| observer.advance(n));
        observer.end();
        let (embeddings, _) = embedded?;
        let ids = records.iter().map(|r| r.id.clone()).collect();
        let labels = records.into_iter().map(|r| r.label).collect();
        Ok((embeddings.values, embeddings.dim, ids, labels))
    }
}

impl Job for PredictHeadJob {
    type Output = Option<ClassificationReport>;

    /// A cache or a data file, and no setting of a data file with a cache.
    fn validate(&self) -> Result<()> {
        if self.input.is_some() {
            return Ok(());
        }
        if self.cache.is_empty() {
            refuse!("give --cache or --input");
        }
        self.columns
            .refuse_where_unread(false, "a cache's texts were read when it was embedded")?;
        if let Some(model) = &self.model {
            return Err(settings::SettingError::new(
                "model",
                model.display(),
                "embeds a data file, and a cache was embedded already",
            )
            .into());
        }
        Ok(())
    }

    /// Writes the predictions; returns the metric report when the records are
    /// labelled (labels the head does not know scored as misses).
    fn execute(&self, observer: &mut dyn Observer) -> Result<Option<ClassificationReport>> {
        let device = self.backend.device()?;
        let head = SavedHead::load(&self.head, &device)?;
        let (vectors, dim, ids, labels) = match &self.input {
            None => from_cache(&head, &self.cache)?,
            Some(input) => self.embedded(&head, input, &device, observer)?,
        };
        let rows = ids.len();
        let features = Features::new(vectors, dim, vec![0; rows]);
        let (probabilities, predicted) = head.predict(&features, &device);
        write_predictions(
            &self.output,
            &head.labels,
            &ids,
            &labels,
            &probabilities,
            &predicted,
        )
        .context("--output")?;
        observer.note(&format!(
            "wrote {rows} predictions to {}",
            self.output.display()
        ));
        Ok(report_if_labelled(
            &head.labels,
            &labels,
            &predicted,
            &probabilities,
        ))
    }
}

/// Vectors, their width, record ids and labels.
type Rows = (Vec<f32>, usize, Vec<String>, Vec<Option<String>>);

/// The rows of caches made by the head's encoder.
fn from_cache(head: &SavedHead, paths: &[PathBuf]) -> Result<Rows> {
    let cache = EmbeddingCache::open_shards(paths)?;
    let spec = cache.meta.spec.encoder_only();
    head.check_features(&spec.fingerprint(), &spec.describe_encoder())?;
    Ok((
        cache.vectors().to_vec(),
        cache.meta.dim,
        cache.meta.ids.clone(),
        cache.meta.labels.clone(),
    ))
}

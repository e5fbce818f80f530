//! `bertcls head train|sweep|predict`: pipeline mode, stage 2.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use bert::BackendKind;
use bert::burn::tensor::Device;
use clap::{Args, Subcommand};
use data::{LabelMap, Record, Sampling};
use encoder::{EmbeddingCache, EmbeddingSpec};
use head::{
    Combine, FeatureOrigin, Features, SavedHead, SweepEntry, SweepGrid, TrainedHead, sweep,
};
use metrics::{ClassificationReport, DecisionRule};
use training::{Activation, HeadConfig, Monitor, OptimizerKind, Schedule};

use crate::args::{ColumnArgs, DecisionArgs, ForceArgs, LossArgs};
use crate::classifier::{EnsembleMember, EnsembleSpec, head_encoder};
use crate::commands::cross_validation::{CvData, cross_validate};
use crate::commands::distill::{Teacher, records_in_order};
use crate::output::{report_if_labelled, write_predictions};
use crate::progress;

#[derive(Subcommand, Debug)]
pub enum HeadCommand {
    /// Train one head over cached features and save it.
    Train(TrainArgs),
    /// Train a grid of heads over cached features, rank them on validation, save the best.
    Sweep(SweepArgs),
    /// Classify a cache, or a text file (embedded on the fly as the head's features were).
    Predict(PredictArgs),
}

/// Runs `command`; returns the folder a trained head (or ensemble, or
/// cross-validation) was saved in.
pub fn run(command: HeadCommand) -> Result<Option<PathBuf>> {
    match command {
        HeadCommand::Train(args) => train(args).map(Some),
        HeadCommand::Sweep(args) => sweep_heads(&args).map(|_| None),
        HeadCommand::Predict(args) => predict(&args).map(|_| None),
    }
}

/// Training and validation caches (several paths: the shards of one run).
#[derive(Args, Debug)]
pub struct CacheArgs {
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

/// Head and training settings. Each flag takes a comma-separated list in `sweep` and
/// one value in `train`; unset flags keep the defaults (or the --grid file's values).
#[derive(Args, Debug)]
pub struct GridArgs {
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
    #[command(flatten)]
    pub loss: LossArgs,
    /// Which examples each epoch trains on: none, oversample[:R], undersample[:R],
    /// rotating[:R] (a different majority subset every epoch) or class-balanced.
    #[arg(long)]
    pub sampling: Option<Sampling>,
    #[arg(long)]
    pub epochs: Option<usize>,
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// What early stopping watches on validation: loss (default; smooth), macro-f1, accuracy.
    #[arg(long)]
    pub monitor: Option<Monitor>,
    /// Epochs without improvement of --monitor before stopping (best epoch kept).
    #[arg(long)]
    pub patience: Option<usize>,
    #[arg(long)]
    pub seed: Option<u64>,
}

impl GridArgs {
    /// `grid` with every flag given here replacing its values.
    fn apply(&self, mut grid: SweepGrid) -> Result<SweepGrid> {
        if let Some(hidden) = &self.hidden {
            grid.hidden = hidden
                .iter()
                .map(|h| HeadConfig::parse_hidden(h))
                .collect::<Result<_, _>>()
                .map_err(anyhow::Error::msg)?;
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

#[derive(Args, Debug)]
#[command(
    after_help = "Example:\n  bertcls head train --train train.emb --valid valid.emb --hidden 256 --dropout 0.2 --out r8.head"
)]
pub struct TrainArgs {
    #[command(flatten)]
    pub caches: CacheArgs,
    #[command(flatten)]
    pub grid: GridArgs,
    #[command(flatten)]
    pub decision: DecisionArgs,
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
    #[command(flatten)]
    pub force: ForceArgs,
}

#[derive(Args, Debug)]
#[command(after_help = "Examples:\n  \
    bertcls head sweep --train train.emb --valid valid.emb --out sweeps/r8\n  \
    bertcls head sweep --train train.emb --valid valid.emb --hidden linear,256 --lr 1e-3,1e-2 --l2 0,1e-4\n  \
    bertcls head sweep --train train.emb --valid valid.emb --grid sweep.toml\n\n\
    A grid file sets any of: hidden = [[], [256]], learning_rates, l2, l1, dropout, batch_norm, \
    optimizers, and [base] settings (epochs, batch_size, patience, seed, …); flags override it.")]
pub struct SweepArgs {
    #[command(flatten)]
    pub caches: CacheArgs,
    #[command(flatten)]
    pub grid: GridArgs,
    /// A decision rule for the best head (applied after the ranking).
    #[command(flatten)]
    pub decision: DecisionArgs,
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
    #[command(flatten)]
    pub force: ForceArgs,
}

/// Train and validation features with their labels mapped to one index space.
struct Prepared {
    train: Features,
    /// The record id of each training row.
    train_ids: Vec<String>,
    valid: Features,
    labels: LabelMap,
    origin: FeatureOrigin,
    device: Device,
}

fn prepare(caches: &CacheArgs) -> Result<Prepared> {
    // The cache's errors name its path.
    let open = |paths: &[PathBuf]| EmbeddingCache::open_shards(paths);
    let (train, valid) = (open(&caches.train)?, open(&caches.valid)?);
    let augmented = (!caches.augmented.is_empty())
        .then(|| open(&caches.augmented))
        .transpose()?;
    let encoder = train.meta.spec.encoder_only();
    for (what, other) in
        std::iter::once(("validation", &valid)).chain(augmented.iter().map(|a| ("augmented", a)))
    {
        if other.meta.spec.encoder_only() != encoder {
            bail!(
                "train and {what} features come from different encoders:\n  train: {}\n  {what}: {}",
                train.meta.spec.describe_encoder(),
                other.meta.spec.describe_encoder()
            );
        }
    }
    let labels = LabelMap::from_labels(train.meta.labels.iter().flatten());
    if labels.len() < 2 {
        bail!(
            "{}: training data needs at least two classes, found {:?}",
            train.path.display(),
            labels.names()
        );
    }
    let mut train_features = features(&train, &labels)?;
    if let Some(augmented) = &augmented {
        train_features = train_features.with_variants(&features(augmented, &labels)?);
    }
    Ok(Prepared {
        train: train_features,
        train_ids: train.meta.ids.clone(),
        valid: validation_features(&valid, &labels)?,
        origin: FeatureOrigin {
            fingerprint: encoder.fingerprint(),
            description: encoder.describe_encoder(),
            spec: serde_json::to_value(&encoder)?,
        },
        labels,
        device: caches.backend.device()?,
    })
}

/// `head` deciding by the rule `decision` asks for (argmax when none), its
/// validation report recomputed under the rule.
fn with_decision(
    head: TrainedHead,
    decision: &DecisionArgs,
    data: &Prepared,
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
    eprintln!(
        "decision: {}; validation macro-F1 {:.4}, accuracy {:.4} under it",
        head.decision, head.valid_report.macro_f1, head.valid_report.accuracy
    );
    Ok(head)
}

/// Augmented variants are read by over-sampling only: anything else would silently
/// ignore the --augmented caches.
fn check_variants_are_drawn(data: &Prepared, sampling: Sampling) -> Result<()> {
    if data.train.variants > 0 && !matches!(sampling, Sampling::Oversample { .. }) {
        bail!("--augmented variants are drawn by over-sampling: add --sampling oversample");
    }
    Ok(())
}

/// The validation cache's rows whose labels the training data has: a class the
/// head cannot learn cannot guide its selection either. A line names what is left
/// out; a row without a label is an error.
fn validation_features(cache: &EmbeddingCache, labels: &LabelMap) -> Result<Features> {
    let mut unseen: std::collections::BTreeMap<&str, usize> = Default::default();
    let mut kept = Vec::new();
    for (row, (label, id)) in cache.meta.labels.iter().zip(&cache.meta.ids).enumerate() {
        match label.as_deref() {
            None => bail!("{}: record {id} has no label", cache.path.display()),
            Some(l) => match labels.index(l) {
                Some(index) => kept.push((row, index)),
                None => *unseen.entry(l).or_default() += 1,
            },
        }
    }
    if kept.is_empty() {
        bail!(
            "{}: no validation record has a class of the training data ({})",
            cache.path.display(),
            labels.names().join(", ")
        );
    }
    if !unseen.is_empty() {
        let named: Vec<String> = unseen.iter().map(|(l, n)| format!("{l} ({n})")).collect();
        eprintln!(
            "note: validation records of classes the training data lacks are left out of model selection: {}",
            named.join(", ")
        );
    }
    let dim = cache.meta.dim;
    let values = kept
        .iter()
        .flat_map(|&(row, _)| cache.row(row).iter().copied())
        .collect();
    Ok(Features::new(
        values,
        dim,
        kept.into_iter().map(|(_, index)| index).collect(),
    ))
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
                Some((l, None)) => bail!(
                    "{}: record {id} has label {l:?}, unknown to the training data",
                    cache.path.display()
                ),
                None => bail!("{}: record {id} has no label", cache.path.display()),
            },
        )
        .collect::<Result<Vec<_>>>()?;
    Ok(Features::new(
        cache.vectors().to_vec(),
        cache.meta.dim,
        indices,
    ))
}

fn train(args: TrainArgs) -> Result<PathBuf> {
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
    let configs = args.grid.apply(single)?.configs();
    let [config] = configs.as_slice() else {
        bail!(
            "head train takes one value per flag ({} combinations given); use head sweep for several",
            configs.len()
        );
    };
    let data = prepare(&args.caches)?;
    check_variants_are_drawn(&data, config.sampling)?;
    // Before any folder is claimed or staged: a refused setting leaves nothing behind.
    config.validate_for(data.labels.names())?;
    if args.bag.is_some() || args.boost.is_some() {
        return train_ensemble(&args, config, &data);
    }
    if let Some(k) = args.cv {
        if data.train.variants > 0 {
            bail!("--cv folds the training examples themselves: leave out --augmented");
        }
        let names = data.labels.names();
        let cv_data = CvData {
            labels: names,
            truth: &data.train.labels,
            ids: &data.train_ids,
        };
        let out = artifacts::claim_dir(
            &args.out,
            artifacts::ArtifactKind::CrossValidation,
            args.force.overwrite(),
        )
        .context("--out")?;
        cross_validate(k, config.seed, &cv_data, &out, &mut |fold| {
            let train = data.train.subset(&fold.train);
            let head = head::train_head(&train, &data.valid, names, config, &data.device)?;
            Ok(head.predict_proba(&data.train.subset(&fold.held_out), &data.device))
        })?;
        return Ok(args.out);
    }
    let head = head::train_head(
        &data.train,
        &data.valid,
        data.labels.names(),
        config,
        &data.device,
    )?;
    let head = with_decision(head, &args.decision, &data)?;
    SavedHead::save(
        &head,
        data.labels.names(),
        &data.origin,
        &args.out,
        args.force.overwrite(),
    )
    .context("--out")?;
    eprintln!(
        "{}: best epoch {} of {}, validation macro-F1 {:.4}, accuracy {:.4}, {:.1} s",
        config.head.shape_name(),
        head.best_epoch,
        head.history.len(),
        head.valid_report.macro_f1,
        head.valid_report.accuracy,
        head.seconds
    );
    Ok(args.out)
}

/// `head train --bag|--boost`: the members and `ensemble.json` in OUT, and the
/// ensemble set against its best member on validation.
fn train_ensemble(
    args: &TrainArgs,
    config: &head::TrainConfig,
    data: &Prepared,
) -> Result<PathBuf> {
    if !args.decision.to_flags().is_empty() {
        bail!(
            "an ensemble decides by its combined probabilities: leave out --logit-adjust and --threshold"
        );
    }
    let names = data.labels.names();
    let (kind, ensemble) = match (args.bag, args.boost) {
        (Some(members), _) => (
            "bagging",
            head::bag(
                &data.train,
                &data.valid,
                names,
                config,
                members,
                args.combine,
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
        &args.out,
        artifacts::ArtifactKind::Ensemble,
        args.force.overwrite(),
    )
    .context("--out")?;
    let mut members = Vec::new();
    for (index, (member, &weight)) in ensemble.members.iter().zip(&ensemble.weights).enumerate() {
        let path = PathBuf::from(format!("members/{:02}.head", index + 1));
        SavedHead::save(
            member,
            names,
            &data.origin,
            &staged.path().join(&path),
            artifacts::Overwrite::SameKind,
        )?;
        members.push(EnsembleMember { path, weight });
    }
    EnsembleSpec {
        combine: ensemble.combine,
        labels: names.to_vec(),
        members,
    }
    .write_into(staged.path())?;
    staged.commit(true)?;
    let best = ensemble.best_member();
    eprintln!(
        "{kind}: {} heads ({}); validation macro-F1 {:.4}, accuracy {:.4}; best member {:.4}, {:.4}",
        ensemble.members.len(),
        ensemble.combine,
        ensemble.valid_report.macro_f1,
        ensemble.valid_report.accuracy,
        best.valid_report.macro_f1,
        best.valid_report.accuracy,
    );
    Ok(args.out.clone())
}

/// What a sweep did: every head ranked (best first), where the best was saved, and
/// the sweep's wall time.
pub struct SweepOutcome {
    /// The grid as resolved from the file and the flags.
    pub grid: SweepGrid,
    pub entries: Vec<SweepEntry>,
    pub best_head: PathBuf,
    pub seconds: f64,
}

/// Trains the grid, writes the leaderboard and the best head, prints the top 10.
pub fn sweep_heads(args: &SweepArgs) -> Result<SweepOutcome> {
    sweep_heads_with(args, None)
}

/// [`sweep_heads`], every head also learning from `teacher`'s soft targets on the
/// training texts `records` (matched to the cache's rows by id).
pub fn sweep_heads_with(
    args: &SweepArgs,
    teacher: Option<(&Teacher, &[Record])>,
) -> Result<SweepOutcome> {
    let base = match &args.grid_file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            toml::from_str(&text)
                .with_context(|| format!("{} is not a valid sweep grid", path.display()))?
        }
        None => SweepGrid::default(),
    };
    let mut grid = args.grid.apply(base)?;
    let mut data = prepare(&args.caches)?;
    check_variants_are_drawn(&data, grid.base.sampling)?;
    if let Some((teacher, records)) = teacher {
        if data.train.variants > 0 {
            bail!("augmented variants have no teacher targets: leave out --augmented");
        }
        let ordered = records_in_order(records, &data.train_ids)?;
        let targets = teacher.soft_targets(&ordered, data.labels.names())?;
        data.train = data.train.with_soft_targets(targets);
        grid.base.distillation = Some(teacher.loss);
    }
    let configs = match args.random {
        Some(n) => grid.sample(n, grid.base.seed),
        None => grid.configs(),
    };
    eprintln!(
        "sweeping {} heads over {} × {} features ({} classes)",
        configs.len(),
        data.train.rows,
        data.train.dim,
        data.labels.len()
    );
    let bar = progress::counter(configs.len(), "heads");
    let started = std::time::Instant::now();
    let jobs = args
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    // Checked now, claimed once the heads are trained: a refused folder costs no
    // training, a refused setting leaves no folder behind.
    artifacts::check_folder_target(
        &args.out,
        artifacts::ArtifactKind::HeadSweep,
        args.force.overwrite(),
    )
    .context("--out")?;
    let (entries, best) = sweep(
        &data.train,
        &data.valid,
        data.labels.names(),
        &configs,
        &data.device,
        jobs,
        &|e: &SweepEntry| {
            bar.set_message(format!("last: macro-F1 {:.3}", e.valid_macro_f1));
            bar.inc(1);
        },
    )?;
    bar.finish_and_clear();
    let best = with_decision(best, &args.decision, &data)?;
    let out = artifacts::claim_dir(
        &args.out,
        artifacts::ArtifactKind::HeadSweep,
        args.force.overwrite(),
    )
    .context("--out")?;
    write_leaderboard(&out, &entries)?;
    let best_head = out.join("best.head");
    SavedHead::save(
        &best,
        data.labels.names(),
        &data.origin,
        &best_head,
        artifacts::Overwrite::SameKind,
    )?;
    print_leaderboard(&entries, 10);
    let seconds = started.elapsed().as_secs_f64();
    eprintln!(
        "{} heads in {seconds:.1} s; leaderboard and best.head in {}",
        entries.len(),
        args.out.display()
    );
    Ok(SweepOutcome {
        grid,
        entries,
        best_head,
        seconds,
    })
}

fn print_leaderboard(entries: &[SweepEntry], top: usize) {
    eprintln!(
        "{:>4}  {:>8}  {:>8}  {:>5}  {:>6}  configuration",
        "rank", "macro-F1", "accuracy", "epoch", "secs"
    );
    for (rank, e) in entries.iter().take(top).enumerate() {
        eprintln!(
            "{:>4}  {:>8.4}  {:>8.4}  {:>5}  {:>6.2}  {}",
            rank + 1,
            e.valid_macro_f1,
            e.valid_accuracy,
            e.best_epoch,
            e.seconds,
            e.describe()
        );
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
            "{},{},{},{},{},{:.4},{},{:?},{},{},{},{},{}\n",
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

#[derive(Args, Debug)]
#[command(after_help = "Examples:\n  \
    bertcls head predict --head sweeps/r8/best.head --cache test.emb --output predictions.jsonl\n  \
    bertcls head predict --head sweeps/r8/best.head --input new.csv --output predictions.jsonl\n\n\
    With labelled data, the metric report is printed too.")]
pub struct PredictArgs {
    /// A saved head folder (`head train --out`, or best.head of a sweep).
    #[arg(long)]
    pub head: PathBuf,
    /// Embedding cache(s) to classify (shards allowed). Or give --input.
    #[arg(long, num_args = 1.., conflicts_with = "input")]
    pub cache: Vec<PathBuf>,
    /// A data file (JSONL, CSV or TSV) to embed and classify. Or give --cache.
    #[arg(long)]
    pub input: Option<PathBuf>,
    #[command(flatten)]
    pub columns: ColumnArgs,
    /// The model folder, when it moved since the head was trained (default: the one recorded).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Where to write one JSON line per record: id, predicted label, probabilities.
    #[arg(long)]
    pub output: PathBuf,
    #[arg(long, default_value_t = BackendKind::Flex)]
    pub backend: BackendKind,
}

/// Writes the predictions; returns the metric report when the records are labelled.
pub fn predict(args: &PredictArgs) -> Result<Option<ClassificationReport>> {
    let device = args.backend.device()?;
    let head = SavedHead::load(&args.head, &device)?;
    let trained_spec: EmbeddingSpec = serde_json::from_value(head.features().spec.clone())
        .with_context(|| format!("{}: unreadable feature spec", args.head.display()))?;
    let (vectors, dim, ids, labels) = match &args.input {
        None if args.cache.is_empty() => bail!("give --cache or --input"),
        None => {
            let cache = EmbeddingCache::open_shards(&args.cache)?;
            let spec = cache.meta.spec.encoder_only();
            head.check_features(&spec.fingerprint(), &spec.describe_encoder())?;
            (
                cache.vectors().to_vec(),
                cache.meta.dim,
                cache.meta.ids.clone(),
                cache.meta.labels.clone(),
            )
        }
        Some(input) => {
            let records = args.columns.read(input, false)?;
            let model_dir = args
                .model
                .clone()
                .unwrap_or_else(|| PathBuf::from(&trained_spec.model));
            let encoder = head_encoder(
                &head,
                &model_dir,
                trained_spec.max_len,
                trained_spec.options(),
                &device,
            )?;
            let bar = progress::documents(records.len(), "embedding");
            let (embeddings, _) = encoder.embed(&records, &mut |n| bar.inc(n as u64))?;
            bar.finish_and_clear();
            let ids = records.iter().map(|r| r.id.clone()).collect();
            let labels = records.into_iter().map(|r| r.label).collect();
            (embeddings.values, embeddings.dim, ids, labels)
        }
    };
    let rows = ids.len();
    let features = Features::new(vectors, dim, vec![0; rows]);
    let (probabilities, predicted) = head.predict(&features, &device);
    write_predictions(
        &args.output,
        &head.labels,
        &ids,
        &labels,
        &probabilities,
        &predicted,
    )?;
    eprintln!("wrote {rows} predictions to {}", args.output.display());
    Ok(report_if_labelled(
        &head.labels,
        &labels,
        &predicted,
        &probabilities,
    ))
}

//! `bertcls compare`: both modes on the same data, one report.
//!
//! The pipeline (embed once, sweep heads, test the best) and end-to-end fine-tuning
//! run as the ordinary `bertcls` commands (see [`stages`]), on the same splits, and
//! their results become a [`report::Comparison`]: results.json, report.md and
//! report.html in `OUT/<data>-<timestamp>/`.

mod few_shot;
mod inputs;
mod machine;
mod robustness;
mod stages;
mod suite;

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use bert::BackendKind;
use clap::Args;
use data::{LabelMap, Sampling};
use report::{
    Comparison, CostPoint, CurvePoint, DataFile, DataInfo, LeaderboardEntry, ModeResult, RunResult,
    Settings,
};

use self::inputs::{ComparisonData, DataRequest, Subset};
use self::stages::CommandLine;
pub use self::suite::Suite;
use crate::args::{AdversaryArgs, DecisionArgs, LossArgs};
use crate::commands::{augment, embed, finetune, head};
use crate::progress;

#[derive(Args, Debug, Clone)]
#[command(after_help = "Examples:\n  \
    bertcls compare                          # R8 (cargo xtask fetch data r8), about 9 min on 2 cores\n  \
    bertcls compare --quick                  # a stratified subset, about 1 min: a first look\n  \
    bertcls compare --data spam --seeds 3    # mean ± std over three seeds\n  \
    bertcls compare --data my-folder         # train/validation/test .jsonl|.csv|.tsv inside\n  \
    bertcls compare --data reviews.csv --text-col review --label-col stars\n  \
    bertcls compare --suite imbalance        # every imbalance remedy, both modes, R8 and spam: ~55 min\n  \
    bertcls compare --suite few-shot --num-layers 2 --epochs 10   # k = 8-64 per class: ~35 min\n  \
    bertcls compare --suite robustness       # FGM, PGD, distillation, ensembles; perturbed tests: ~75 min\n\n\
    Stages are the ordinary commands (embed, head sweep, head predict, finetune); the report \
    lists them so each can be rerun by hand. Embeddings are cached: a second comparison on \
    the same data and model skips the encoder.")]
pub struct CompareArgs {
    /// A fetched data set (r8, spam), a folder holding train/validation/test files
    /// (.jsonl, .csv or .tsv; missing validation/test splits are held out of train),
    /// or one labelled file, split with --holdout [default: r8; a --suite has its own].
    #[arg(long)]
    pub data: Option<String>,
    #[command(flatten)]
    pub columns: crate::args::ColumnArgs,
    /// Make the task imbalanced: under-sample one class of the training and validation
    /// splits to this share of each (the test split is untouched), e.g. spam=0.05.
    #[arg(long, value_name = "LABEL=SHARE")]
    pub class_share: Option<data::ClassShare>,
    /// Few-shot: train and validate on at most K labelled records per class, drawn
    /// at random by --seed (the test split is untouched).
    #[arg(long, value_name = "K")]
    pub shots: Option<usize>,
    /// Fractions of the training data held out for validation and test when the data
    /// has no such split (stratified by class).
    #[arg(long, value_delimiter = ',', num_args = 2, default_values_t = [0.1, 0.2])]
    pub holdout: Vec<f64>,
    /// A Hugging Face BERT folder, used frozen by the pipeline and fine-tuned end to end.
    #[arg(long, default_value = "models/all-MiniLM-L6-v2")]
    pub model: PathBuf,
    /// Where the encoder and fine-tuning run: flex, ndarray or wgpu.
    #[arg(long, default_value_t = BackendKind::Flex)]
    pub backend: BackendKind,
    /// Tokens per text, for both modes [default: 64; R8 texts are longer, but 128
    /// takes the default R8 comparison past 20 minutes on 2 cores; a --suite: 32].
    #[arg(long)]
    pub max_len: Option<usize>,
    /// Fine-tune only the bottom K encoder layers: a cheaper end-to-end model (the
    /// pipeline still reads the whole encoder) [default: all; --suite imbalance: 1].
    #[arg(long, value_name = "K")]
    pub num_layers: Option<usize>,
    /// Do not train the word, position and token-type embeddings when fine-tuning:
    /// with few layers, their gradient and optimizer update cost more than the layers
    /// [default: false; --suite imbalance: true]. `--freeze-embeddings false` turns it off.
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub freeze_embeddings: Option<bool>,
    /// Fine-tuning epochs [default: 2; --quick: 3; --suite imbalance: 2; --suite
    /// robustness: 1].
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Fine-tuning peak learning rate [default: 5e-5; --quick: 1e-4, as few steps need
    /// larger ones; --suite imbalance: 3e-4, for its one-layer model; --suite
    /// robustness: 1e-4].
    #[arg(long = "lr")]
    pub learning_rate: Option<f64>,
    /// The head sweep's grid, a TOML file as for `bertcls head sweep --grid-file`
    /// [default: the 45-head grid; --quick: 8 heads drawn from it].
    #[arg(long, value_name = "FILE")]
    pub heads: Option<PathBuf>,
    /// The loss of both modes, with its imbalance remedies.
    #[command(flatten)]
    pub loss: LossArgs,
    /// Which examples each epoch trains on, in both modes: none, oversample[:R],
    /// undersample[:R], rotating[:R] or class-balanced.
    #[arg(long)]
    pub sampling: Option<Sampling>,
    /// With --sampling oversample: write N augmented copies (word swaps, deletions and
    /// insertions at 10%, typos at 5%) of each training record of the classes that
    /// over-sampling tops up, and draw the added examples from them, so that no added
    /// example is an identical copy.
    #[arg(long, value_name = "N")]
    pub augment: Option<usize>,
    /// A decision rule for both modes' models: --logit-adjust TAU or --threshold.
    #[command(flatten)]
    pub decision: DecisionArgs,
    /// Adversarial training of the end-to-end mode (the pipeline's frozen features
    /// have no embeddings to perturb).
    #[command(flatten)]
    pub adversary: AdversaryArgs,
    /// Repeat both modes over N seeds (the first is --seed) and report mean ± std
    /// [default: 1; a --suite: 3].
    #[arg(long)]
    pub seeds: Option<usize>,
    /// The first seed: decides splits held out here, head and classifier initialisation,
    /// data order and dropout.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// A first look in about 2 minutes: at most 400 / 150 / 300 records per split
    /// (stratified), 8 heads, 3 epochs at a higher learning rate.
    #[arg(long)]
    pub quick: bool,
    /// A study: many comparisons and one report across them. `imbalance`: every
    /// imbalance remedy against the plain baseline, in both modes, on R8 and on
    /// SpamAssassin with spam cut to 5% (or on --data alone). `few-shot`: k = 8, 16,
    /// 32, 64 examples per class, a pipeline head, [CLS] and prompt fine-tuning
    /// against zero-shot, on R8 and SpamAssassin (or on --data with --prompt and
    /// --verbalizer).
    #[arg(long)]
    pub suite: Option<Suite>,
    /// End-to-end as prompt-based fine-tuning: the template (see `bertcls finetune
    /// --prompt`), with --verbalizer.
    #[arg(long, value_name = "TEMPLATE", requires = "verbalizer")]
    pub prompt: Option<String>,
    /// With --prompt: each label's word, label=word,….
    #[arg(long, value_name = "LABEL=WORD,…", requires = "prompt")]
    pub verbalizer: Option<String>,
    /// Continue the --suite study in this folder (after a crash or an interruption,
    /// with the same flags): comparisons whose report is complete are read back, the
    /// rest run.
    #[arg(long, value_name = "STUDY_DIR", requires = "suite")]
    pub resume: Option<PathBuf>,
    /// Reports go to OUT/<data>-<timestamp>/.
    #[arg(long, default_value = "reports")]
    pub out: PathBuf,
    /// Where embedding caches live (shared with `bertcls embed`).
    #[arg(long, default_value = ".cache/embeddings")]
    pub cache_dir: PathBuf,
}

const QUICK: Subset = Subset {
    train: 400,
    valid: 150,
    test: 300,
};
const QUICK_HEADS: usize = 8;
const DEFAULT_DATA: &str = "r8";
const DEFAULT_MAX_LEN: usize = 64;
/// Two epochs at max_len 64 keep the default R8 comparison under 20 minutes on 2 cores.
const DEFAULT_EPOCHS: usize = 2;
const QUICK_EPOCHS: usize = 3;
const QUICK_LEARNING_RATE: f64 = 1e-4;

pub fn run(args: CompareArgs) -> Result<()> {
    let dir = match args.suite {
        Some(suite) => suite::run(suite, &args)?,
        None => compare(&args)?.dir,
    };
    println!("{}", dir.display());
    Ok(())
}

/// A finished comparison and the folder holding its report.
pub(crate) struct Compared {
    pub comparison: Comparison,
    pub dir: PathBuf,
}

/// One comparison of the two modes: runs every stage, writes the report, prints the
/// summary and the verdict.
pub(crate) fn compare(args: &CompareArgs) -> Result<Compared> {
    let started = Instant::now();
    let started_unix = machine::unix_now();
    let seeds = args.seeds.unwrap_or(1);
    if seeds == 0 {
        bail!("--seeds must be at least 1");
    }
    if let [valid, test] = args.holdout[..]
        && !(valid >= 0.0 && test >= 0.0 && valid + test < 0.9)
    {
        bail!("--holdout {valid},{test}: fractions must be ≥ 0 and leave most data for training");
    }
    let data = inputs::resolve(&DataRequest {
        spec: args.data.as_deref().unwrap_or(DEFAULT_DATA),
        columns: &args.columns,
        holdout: (args.holdout[0], args.holdout[1]),
        class_share: args.class_share.as_ref(),
        shots: args.shots,
        subset: args.quick.then_some(QUICK),
        seed: args.seed,
        work_dir: &args.cache_dir.join("compare-data"),
    })?;
    let dir = fresh_dir(
        &args.out,
        &format!("{}-{}", data.name, machine::timestamp(started_unix)),
        artifacts::ArtifactKind::Comparison,
    )?;
    let augmented = augmented_train(args, &data, &dir)?;
    let plan = Plan::new(args, &data, augmented, &dir);
    eprintln!(
        "comparing on {} ({} / {} / {} records), model {}, max_len {}, {} seed(s); report in {}",
        data.name,
        data.splits.train.len(),
        data.splits.validation.len(),
        data.splits.test.len(),
        args.model.display(),
        plan.max_len,
        seeds,
        dir.display()
    );

    let mut commands = Vec::new();
    let pipeline = plan.pipeline(&mut commands)?;
    let end_to_end = plan.end_to_end(&mut commands)?;

    let labels = LabelMap::from_records(&data.splits.train);
    let comparison = Comparison {
        version: env!("CARGO_PKG_VERSION").to_owned(),
        started_unix,
        wall_seconds: started.elapsed().as_secs_f64(),
        environment: machine::environment(&args.backend.to_string()),
        data: DataInfo {
            name: data.name.clone(),
            classes: labels.names().to_vec(),
            train_counts: labels.counts(&data.splits.train),
            train: data.splits.train.len(),
            validation: data.splits.validation.len(),
            test: data.splits.test.len(),
            files: data_files(&data)?,
            derivation: data.derivation.clone(),
            manifest: data.manifest.clone(),
        },
        settings: Settings {
            model: args.model.display().to_string(),
            max_len: plan.max_len,
            seeds: plan.seeds.clone(),
            quick: args.quick,
            embedding: pipeline.embedding,
            sweep: pipeline.grid,
            fine_tune: plan.fine_tune_settings()?,
        },
        pipeline: pipeline.mode,
        end_to_end,
        leaderboard: pipeline.leaderboard,
        commands,
    };
    report::write_report(&comparison, &dir)?;
    eprintln!("\n{}", report::terminal_table(&comparison));
    for line in report::verdict(&comparison) {
        eprintln!("- {line}");
    }
    eprintln!(
        "\ncompared in {:.0} s; report: {}",
        comparison.wall_seconds,
        dir.join(report::HTML_FILE).display()
    );
    Ok(Compared { comparison, dir })
}

/// Word swaps, deletions and insertions at this rate, for `--augment`.
const AUGMENT_WORD_RATE: f64 = 0.1;
/// Typos per word, for `--augment`.
const AUGMENT_TYPO_RATE: f64 = 0.05;

/// For `--augment N`: N augmented copies of each training record of the classes that
/// over-sampling will top up, written into the report folder (the texts depend only
/// on the data and the seed, so their embeddings are cache hits on a rerun).
fn augmented_train(
    args: &CompareArgs,
    data: &ComparisonData,
    dir: &Path,
) -> Result<Option<PathBuf>> {
    let Some(copies) = args.augment else {
        return Ok(None);
    };
    let Some(Sampling::Oversample { ratio }) = args.sampling else {
        bail!(
            "--augment {copies}: augmented copies are drawn by over-sampling; add --sampling oversample[:R]"
        );
    };
    if copies == 0 {
        bail!("--augment 0: give the number of augmented copies per record, e.g. --augment 3");
    }
    if !args.columns.are_standard() && !data.column_flags.is_empty() {
        bail!(
            "--augment writes its copies as JSONL with the standard fields (id, text, text_b, label), which --text-col/--label-col would not find: convert {} to JSONL first",
            data.train.display()
        );
    }
    let labels = LabelMap::from_records(&data.splits.train);
    let counts = labels.counts(&data.splits.train);
    let target = (ratio * counts.iter().copied().max().unwrap_or(0) as f64).ceil() as usize;
    let topped_up: Vec<&str> = labels
        .names()
        .iter()
        .zip(&counts)
        .filter(|&(_, &n)| n < target)
        .map(|(name, _)| name.as_str())
        .collect();
    if topped_up.is_empty() {
        return Ok(None);
    }
    let output = dir.join("augmented-train.jsonl");
    let line = CommandLine::new(&["augment"])
        .arg("--input", data.train.display())
        .args(data.column_flags.clone())
        .arg("--classes", topped_up.join(","))
        .arg("--copies", copies)
        .arg("--swap", AUGMENT_WORD_RATE)
        .arg("--delete", AUGMENT_WORD_RATE)
        .arg("--insert", AUGMENT_WORD_RATE)
        .arg("--typo", AUGMENT_TYPO_RATE)
        .arg("--seed", args.seed)
        .arg("--output", output.display());
    augment::run(line.parse()?)?;
    Ok(Some(output))
}

/// `parent/name`, or `parent/name-2`, … when a comparison started in the same second:
/// always a new folder, marked as a `kind` bertcls writes.
fn fresh_dir(parent: &Path, name: &str, kind: artifacts::ArtifactKind) -> Result<PathBuf> {
    std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    for n in 1.. {
        let dir = match n {
            1 => parent.join(name),
            n => parent.join(format!("{name}-{n}")),
        };
        match std::fs::create_dir(&dir) {
            Ok(()) => {
                artifacts::mark(&dir, kind)?;
                return Ok(dir);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e).with_context(|| format!("creating {}", dir.display())),
        }
    }
    unreachable!("some numbered folder is free")
}

fn data_files(data: &ComparisonData) -> Result<Vec<DataFile>> {
    [
        ("train", &data.train),
        ("validation", &data.valid),
        ("test", &data.test),
    ]
    .into_iter()
    .map(|(split, path)| {
        Ok(DataFile {
            split: split.to_owned(),
            path: path.display().to_string(),
            sha256: data::sha256_file(path)?,
        })
    })
    .collect()
}

/// The pipeline's runs, the first seed's leaderboard, and the settings it ran with.
struct PipelineOutcome {
    mode: ModeResult,
    leaderboard: Vec<LeaderboardEntry>,
    grid: serde_json::Value,
    embedding: serde_json::Value,
}

/// What every stage shares, and the stages themselves.
struct Plan<'a> {
    args: &'a CompareArgs,
    data: &'a ComparisonData,
    /// `--augment`'s copies of training records, embedded and handed to both modes.
    augmented: Option<PathBuf>,
    dir: &'a Path,
    max_len: usize,
    epochs: usize,
    learning_rate: f64,
    seeds: Vec<u64>,
    /// Stages started so far, for the "[k/n]" of the banners.
    stages_started: std::cell::Cell<usize>,
}

impl<'a> Plan<'a> {
    fn new(
        args: &'a CompareArgs,
        data: &'a ComparisonData,
        augmented: Option<PathBuf>,
        dir: &'a Path,
    ) -> Self {
        Self {
            args,
            data,
            augmented,
            dir,
            max_len: args.max_len.unwrap_or(DEFAULT_MAX_LEN),
            epochs: args.epochs.unwrap_or(if args.quick {
                QUICK_EPOCHS
            } else {
                DEFAULT_EPOCHS
            }),
            learning_rate: args.learning_rate.unwrap_or(if args.quick {
                QUICK_LEARNING_RATE
            } else {
                joint::FineTuneConfig::default().learning_rate
            }),
            seeds: (0..args.seeds.unwrap_or(1) as u64)
                .map(|i| args.seed + i)
                .collect(),
            stages_started: std::cell::Cell::new(0),
        }
    }

    /// Announces the next stage: three embeddings (four with augmented copies), then
    /// per seed a sweep, a test of the best head and a fine-tuning run.
    fn banner(&self, what: &str) {
        let k = self.stages_started.get() + 1;
        self.stages_started.set(k);
        let embeddings = 3 + usize::from(self.augmented.is_some());
        eprintln!("\n== [{k}/{}] {what}", embeddings + 3 * self.seeds.len());
    }

    /// Flags naming the model, backend and length, as every encoder stage takes them.
    fn model_flags(&self) -> Vec<String> {
        vec![
            "--model".into(),
            self.args.model.display().to_string(),
            "--backend".into(),
            self.args.backend.to_string(),
            "--max-len".into(),
            self.max_len.to_string(),
        ]
    }

    /// `--sampling S` when one was asked for (else the stages' defaults, or a grid
    /// file's, stand).
    fn sampling_flags(&self) -> Vec<String> {
        self.args
            .sampling
            .map_or_else(Vec::new, |s| vec!["--sampling".into(), s.to_string()])
    }

    fn embed_line(&self, input: &Path) -> CommandLine {
        CommandLine::new(&["embed"])
            .arg("--input", input.display())
            .args(self.data.column_flags.clone())
            .args(self.model_flags())
            .arg("--cache-dir", self.args.cache_dir.display())
    }

    /// Embeds the three splits (cache hits when unchanged), then per seed sweeps the
    /// heads and tests the best.
    fn pipeline(&self, commands: &mut Vec<String>) -> Result<PipelineOutcome> {
        progress::reset_peak_rss();
        let mut embedded = Vec::new();
        for (split, path) in [
            ("train", &self.data.train),
            ("validation", &self.data.valid),
            ("test", &self.data.test),
        ] {
            self.banner(&format!("pipeline: embedding the {split} split"));
            let line = self.embed_line(path);
            let cache = embed::embed(&line.parse()?)?;
            commands.push(line.display());
            embedded.push(cache);
        }
        let [train, valid, test] = <[_; 3]>::try_from(embedded)
            .map_err(|_| anyhow::anyhow!("three splits were embedded"))?;
        let augmented = match &self.augmented {
            Some(path) => {
                self.banner("pipeline: embedding the augmented training copies");
                let line = self.embed_line(path);
                let cache = embed::embed(&line.parse()?)?;
                commands.push(line.display());
                Some(cache)
            }
            None => None,
        };
        let embedding_peak = progress::peak_rss_mib();
        let build_seconds =
            |cache: &encoder::EmbeddingCache| cache.meta.build.map_or(0.0, |b| b.seconds);
        let embedding_seconds = build_seconds(&train)
            + build_seconds(&valid)
            + augmented.as_ref().map_or(0.0, build_seconds);
        let test_embedding_seconds = build_seconds(&test);

        let mut runs = Vec::new();
        let (mut leaderboard, mut grid) = (Vec::new(), serde_json::Value::Null);
        for &seed in &self.seeds {
            progress::reset_peak_rss();
            self.banner(&format!("pipeline: head sweep (seed {seed})"));
            let run_dir = self.dir.join(format!("pipeline/seed-{seed}"));
            let mut sweep_line = CommandLine::new(&["head", "sweep"])
                .arg("--train", train.path.display())
                .arg("--valid", valid.path.display())
                .args(self.args.loss.to_flags())
                .args(self.sampling_flags())
                .args(self.args.decision.to_flags())
                .arg("--seed", seed)
                .arg("--out", run_dir.join("sweep").display());
            if let Some(cache) = &augmented {
                sweep_line = sweep_line.arg("--augmented", cache.path.display());
            }
            if let Some(file) = &self.args.heads {
                sweep_line = sweep_line.arg("--grid-file", file.display());
            }
            if self.args.quick {
                sweep_line = sweep_line.arg("--random", QUICK_HEADS);
            }
            let sweep = head::sweep_heads(&sweep_line.parse()?)?;

            self.banner(&format!(
                "pipeline: best head on the test set (seed {seed})"
            ));
            let predict_line = CommandLine::new(&["head", "predict"])
                .arg("--head", sweep.best_head.display())
                .arg("--cache", test.path.display())
                .arg("--output", run_dir.join("test-predictions.jsonl").display());
            let predicted_at = Instant::now();
            let test_report = head::predict(&predict_line.parse()?)?
                .context("the test split has labels, so a report")?;
            let head_seconds = predicted_at.elapsed().as_secs_f64();
            if runs.is_empty() {
                commands.push(sweep_line.display());
                commands.push(predict_line.display());
                grid = serde_json::to_value(&sweep.grid)?;
                leaderboard = sweep
                    .entries
                    .iter()
                    .map(|e| LeaderboardEntry {
                        configuration: e.describe(),
                        valid_macro_f1: e.valid_macro_f1,
                        valid_accuracy: e.valid_accuracy,
                        seconds: e.seconds,
                    })
                    .collect();
            }
            let best = sweep.entries.first().context("the sweep trained no head")?;
            runs.push(RunResult {
                seed,
                valid_macro_f1: best.valid_macro_f1,
                train_seconds: embedding_seconds + sweep.seconds,
                cost_breakdown: vec![
                    ("embedding train + validation".into(), embedding_seconds),
                    (
                        format!("sweep of {} heads", sweep.entries.len()),
                        sweep.seconds,
                    ),
                ],
                inference_docs_per_second: test_report.examples as f64
                    / (test_embedding_seconds + head_seconds).max(1e-9),
                peak_rss_mib: max_option(embedding_peak, progress::peak_rss_mib()),
                model_bytes: encoder_bytes(&self.args.model)
                    + machine::size_on_disk(&sweep.best_head),
                curve: Vec::new(),
                cost_points: sweep
                    .entries
                    .iter()
                    .map(|e| CostPoint {
                        label: e.describe(),
                        seconds: e.seconds,
                        valid_macro_f1: e.valid_macro_f1,
                    })
                    .collect(),
                test: test_report,
            });
        }
        let best = leaderboard
            .first()
            .map_or("-".to_owned(), |e| e.configuration.clone());
        let description = format!(
            "the best head of the sweep on validation (seed {}: {best}) over frozen, cached encoder features",
            self.seeds[0]
        );
        Ok(PipelineOutcome {
            mode: ModeResult { description, runs },
            leaderboard,
            grid,
            embedding: serde_json::to_value(train.meta.spec.encoder_only())?,
        })
    }

    fn finetune_line(&self, seed: u64) -> CommandLine {
        let mut line = CommandLine::new(&["finetune"])
            .arg("--train", self.data.train.display())
            .arg("--valid", self.data.valid.display())
            .arg("--test", self.data.test.display())
            .args(self.data.column_flags.clone())
            .args(self.model_flags())
            .arg("--epochs", self.epochs)
            .arg("--lr", self.learning_rate)
            .args(self.args.loss.to_flags())
            .args(self.sampling_flags())
            .args(self.args.decision.to_flags())
            .args(self.args.adversary.to_flags())
            .arg("--seed", seed)
            .arg(
                "--out",
                self.dir.join(format!("end-to-end/seed-{seed}")).display(),
            );
        if let Some(layers) = self.args.num_layers {
            line = line.arg("--num-layers", layers);
        }
        if self.args.freeze_embeddings == Some(true) {
            line = line.args(["--freeze-embeddings".to_owned()]);
        }
        if let Some(path) = &self.augmented {
            line = line.arg("--augmented", path.display());
        }
        if let (Some(template), Some(words)) = (&self.args.prompt, &self.args.verbalizer) {
            line = line.arg("--prompt", template).arg("--verbalizer", words);
        }
        line
    }

    /// Fine-tunes once per seed and tests the kept model.
    fn end_to_end(&self, commands: &mut Vec<String>) -> Result<ModeResult> {
        let mut runs = Vec::new();
        for &seed in &self.seeds {
            progress::reset_peak_rss();
            self.banner(&format!("end-to-end: fine-tuning (seed {seed})"));
            let line = self.finetune_line(seed);
            let outcome = finetune::finetune(&line.parse()?)?;
            if runs.is_empty() {
                commands.push(line.display());
            }
            let (test, docs_per_second) = outcome.test.context("fine-tuning was given --test")?;
            let valid_macro_f1 = outcome.best.as_ref().map_or(f64::NAN, |b| b.valid_macro_f1);
            runs.push(RunResult {
                seed,
                test,
                valid_macro_f1,
                train_seconds: outcome.train_seconds,
                cost_breakdown: vec![(
                    format!("fine-tuning {} epochs, validation included", self.epochs),
                    outcome.train_seconds,
                )],
                inference_docs_per_second: docs_per_second,
                peak_rss_mib: progress::peak_rss_mib(),
                model_bytes: machine::size_on_disk(&outcome.model_dir),
                curve: outcome
                    .history
                    .iter()
                    .map(|r| CurvePoint {
                        epoch: r.epoch,
                        train_loss: r.train_loss,
                        valid_loss: r.valid_loss,
                        valid_macro_f1: r.valid_macro_f1,
                    })
                    .collect(),
                cost_points: vec![CostPoint {
                    label: format!("fine-tuning, seed {seed}"),
                    seconds: outcome.train_seconds,
                    valid_macro_f1,
                }],
            });
        }
        let layers = self
            .args
            .num_layers
            .map_or_else(String::new, |k| format!(" (its bottom {k} encoder layers)"));
        let frozen = if self.args.freeze_embeddings == Some(true) {
            ", embeddings frozen"
        } else {
            ""
        };
        let output = match &self.args.prompt {
            Some(template) => format!("the prompt {template:?} scored at its [MASK]"),
            None => "[CLS] through its pooler and a linear layer".to_owned(),
        };
        Ok(ModeResult {
            description: format!(
                "BERT{layers} with {output}, fine-tuned for {} epochs{frozen}, the best epoch on validation kept",
                self.epochs
            ),
            runs,
        })
    }

    /// The recipe exactly as `finetune` resolved it from the flags.
    fn fine_tune_settings(&self) -> Result<serde_json::Value> {
        let args: finetune::FinetuneArgs = self.finetune_line(self.seeds[0]).parse()?;
        let (classifier, config) = args.configs()?;
        Ok(serde_json::json!({ "classifier": classifier, "config": config }))
    }
}

/// The bytes of the model files the frozen encoder reads: config, weights, tokenizer.
fn encoder_bytes(model: &Path) -> u64 {
    let weights = bert::find_weights(model).map_or(0, |w| machine::size_on_disk(&w));
    let others: u64 = text::TOKENIZER_FILES
        .iter()
        .chain(&["config.json"])
        .map(|name| machine::size_on_disk(&model.join(name)))
        .sum();
    weights + others
}

fn max_option(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

//! The comparison as a job: both modes on the same data, one report.
//!
//! The pipeline (embed once, sweep heads, test the best) and end-to-end fine-tuning
//! run as the ordinary jobs ([`EmbedJob`], [`SweepJob`], [`PredictHeadJob`],
//! [`FineTuneJob`]), built here as typed configs on the same splits; their results
//! become a [`report::Comparison`]: results.json, report.md and report.html in
//! `OUT/<data>-<timestamp>/`. The report lists each stage's command line, generated
//! from its config, so any stage can be rerun by hand.

mod contrastive;
mod defaults;
mod end_to_end;
mod few_shot;
mod frontier;
mod head_start;
mod imbalance;
mod inputs;
mod pipeline;
mod plan;
mod robustness;
mod study;
mod suite;

use std::path::{Path, PathBuf};
use std::time::Instant;

use bert::{BackendKind, Precision};
use data::{ClassShare, LabelMap, LabelledText, Sampling};
use report::{Comparison, DataFile, DataInfo, Settings};
use serde::{Deserialize, Serialize};

pub use self::defaults::ComparisonDefaults;
pub use self::few_shot::FewShotDesign;
pub use self::head_start::HeadStart;
pub use self::imbalance::{ImbalanceArm, ImbalanceDesign};
use self::inputs::{ComparisonData, DataRequest};
use self::plan::Plan;
pub use self::robustness::{Mode, PerturbationSpec, Recipe, RobustArmSpec, RobustnessDesign};
pub use self::study::{DataSet, SettingsTable, Studied, SuiteCommon};
pub use self::suite::{Design, StudyJob, Suite, SuiteSource};
use crate::Job;
use crate::embed::DEFAULT_CACHE_DIR;
use crate::error::{Context, Result, refuse};
use crate::machine;
use crate::options::{
    AdversaryOptions, Columns, DEFAULT_MODEL, DecisionOptions, Input, LossOptions, ModelOptions,
};
use crate::states::DEFAULT_STATE_CACHE_DIR;
use crate::{AugmentJob, Observer};

/// Both modes on the same data, one report (`bertcls compare`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompareJob {
    /// A fetched data set (r8, spam), a folder holding train/validation/test files
    /// (.jsonl, .csv or .tsv; missing validation/test splits are held out of train),
    /// or one labelled file, split with `holdout` [default: r8; a study has its own].
    pub data: Option<String>,
    /// How the data files are read.
    #[serde(flatten)]
    pub columns: Columns,
    /// Make the task imbalanced: under-sample one class of the training and validation
    /// splits to this share of each (the test split is untouched), e.g. spam=0.05.
    #[serde(with = "settings::as_text::option")]
    pub class_share: Option<ClassShare>,
    /// Few-shot: train and validate on at most K labelled records per class, drawn
    /// at random by `seed` (the test split is untouched).
    pub shots: Option<usize>,
    /// Fractions of the training data held out for validation and test when the data
    /// has no such split (stratified by class).
    pub holdout: Vec<f64>,
    /// A Hugging Face BERT folder, used frozen by the pipeline and fine-tuned end to end.
    pub model: PathBuf,
    /// Where the encoder and fine-tuning run: flex, ndarray or wgpu.
    pub backend: BackendKind,
    /// What the pipeline's frozen encoder computes in: fp32, int8 or bf16 (CPU
    /// backends; see `bertcls embed --precision`). Fine-tuning, the frontier's and
    /// end-to-end, runs in fp32, and in another precision builds its own cached states,
    /// since a pass in int8 or bf16 cannot keep fp32 states for it.
    #[serde(default)]
    pub precision: Precision,
    /// Tokens per text, for both modes.
    pub max_len: Option<usize>,
    /// Fine-tune only the bottom K encoder layers: a cheaper end-to-end model (the
    /// pipeline still reads the whole encoder) [default: all; a study: its own].
    pub num_layers: Option<usize>,
    /// Do not train the word, position and token-type embeddings when fine-tuning:
    /// with few layers, their gradient and optimizer update cost more than the layers
    /// [default: false; a study: its own].
    pub freeze_embeddings: Option<bool>,
    /// The layer frontier: the numbers K of top encoder layers fine-tuned, one model
    /// each on the same splits with the same recipe. 0 is the pipeline and N (all
    /// layers) end-to-end fine-tuning, which always run; a K between trains the top K
    /// layers, the pooler and the head over cached states of the N − K frozen layers
    /// below (`bertcls finetune --train-layers K`) [default: 0,1,N; with an
    /// adversary: 0,N, as FGM and PGD perturb the frozen embeddings; a study: 0,N,
    /// as a frontier in each of its comparisons would multiply its cost].
    pub frontier: Option<Vec<usize>>,
    /// Fine-tuning epochs.
    pub epochs: Option<usize>,
    /// At least this many fine-tuning steps (more epochs on small data).
    pub min_steps: Option<usize>,
    /// What fine-tuning's classifier starts from.
    pub head_start: HeadStart,
    /// Fine-tuning's peak learning rate of the head; by default the body's.
    pub head_learning_rate: Option<f64>,
    /// Layer-wise decay of fine-tuning's body rate.
    pub layer_decay: Option<f64>,
    /// Fine-tuning's peak learning rate.
    pub learning_rate: Option<f64>,
    /// Contrastive tuning (SetFit) as one more model on the same splits
    /// [default: with `shots`].
    pub contrastive: Option<bool>,
    /// Contrastive tuning's pairs of each kind per training example
    /// [default: 20, SetFit's].
    pub pair_iterations: Option<usize>,
    /// The head sweep's grid, a TOML file as for `bertcls head sweep --grid-file`
    /// [default: the 45-head grid; `quick`: 8 heads drawn from it].
    pub heads: Option<PathBuf>,
    /// The loss of both modes, with its imbalance remedies.
    #[serde(flatten)]
    pub loss: LossOptions,
    /// Which examples each epoch trains on, in both modes: none, `oversample[:R]`,
    /// `undersample[:R]`, `rotating[:R]` or class-balanced.
    #[serde(with = "settings::as_text::option")]
    pub sampling: Option<Sampling>,
    /// With `sampling` oversample: write N augmented copies (word swaps, deletions and
    /// insertions at 10%, typos at 5%) of each training record of the classes that
    /// over-sampling tops up, and draw the added examples from them, so that no added
    /// example is an identical copy.
    pub augment: Option<usize>,
    /// A decision rule for both modes' models: `logit_adjust` TAU or `threshold`.
    #[serde(flatten)]
    pub decision: DecisionOptions,
    /// Adversarial training of the end-to-end mode (the pipeline's frozen features
    /// have no embeddings to perturb).
    #[serde(flatten)]
    pub adversary: AdversaryOptions,
    /// Repeat both modes over N seeds (the first is `seed`) and report mean ± std.
    pub seeds: Option<usize>,
    /// The first seed: decides splits held out here, head and classifier initialisation,
    /// data order and dropout.
    pub seed: u64,
    /// A first look in about 2 minutes: at most 400 / 150 / 300 records per split
    /// (stratified), 8 heads, 3 epochs at a higher learning rate.
    pub quick: bool,
    /// End-to-end as prompt-based fine-tuning: the template (as fine-tuning's
    /// `prompt`), with `verbalizer`.
    pub prompt: Option<String>,
    /// With `prompt`: each label's word, label=word,….
    pub verbalizer: Vec<LabelledText>,
    /// Reports go to `OUT/<data>-<timestamp>/`.
    pub out: PathBuf,
    /// Where embedding caches live (shared with `bertcls embed`).
    pub cache_dir: PathBuf,
    /// Where the frontier's state caches live (shared with fine-tuning's
    /// `train_layers`).
    pub state_cache_dir: PathBuf,
}

impl Default for CompareJob {
    fn default() -> Self {
        Self {
            data: None,
            columns: Columns::default(),
            class_share: None,
            shots: None,
            holdout: vec![0.1, 0.2],
            model: DEFAULT_MODEL.into(),
            backend: BackendKind::Flex,
            max_len: None,
            num_layers: None,
            freeze_embeddings: None,
            frontier: None,
            epochs: None,
            min_steps: None,
            head_start: HeadStart::default(),
            head_learning_rate: None,
            layer_decay: None,
            learning_rate: None,
            contrastive: None,
            pair_iterations: None,
            heads: None,
            loss: LossOptions::default(),
            sampling: None,
            augment: None,
            decision: DecisionOptions::default(),
            adversary: AdversaryOptions::default(),
            seeds: None,
            seed: 42,
            quick: false,
            prompt: None,
            verbalizer: Vec::new(),
            out: "reports".into(),
            cache_dir: DEFAULT_CACHE_DIR.into(),
            state_cache_dir: DEFAULT_STATE_CACHE_DIR.into(),
            precision: Precision::Fp32,
        }
    }
}

/// A finished comparison and the folder holding its report.
pub struct Compared {
    /// Everything the report shows (what results.json holds).
    pub comparison: Comparison,
    /// The report's folder.
    pub dir: PathBuf,
}

impl CompareJob {
    /// The default comparison on `data` (a fetched data set's name or a path).
    pub fn new(data: impl Into<String>) -> Self {
        Self {
            data: Some(data.into()),
            ..Self::default()
        }
    }

    /// What this comparison uses for the settings left unset: the quick recipe or
    /// the default one.
    pub fn defaults(&self) -> ComparisonDefaults {
        if self.quick {
            ComparisonDefaults::quick()
        } else {
            ComparisonDefaults::standard()
        }
    }

    /// Tokens per text.
    fn max_len(&self) -> usize {
        self.max_len.unwrap_or(self.defaults().max_len)
    }

    /// Fine-tuning epochs.
    fn epochs(&self) -> usize {
        self.epochs.unwrap_or(self.defaults().epochs)
    }

    /// Fine-tuning's peak learning rate.
    fn learning_rate(&self) -> f64 {
        self.learning_rate.unwrap_or(self.defaults().learning_rate)
    }

    /// At least this many fine-tuning steps.
    fn min_steps(&self) -> usize {
        self.min_steps.unwrap_or(self.defaults().min_steps)
    }

    /// Fine-tuning's peak learning rate of the head.
    fn head_learning_rate(&self) -> Option<f64> {
        self.head_learning_rate
            .or(self.defaults().head_learning_rate)
    }

    /// Layer-wise decay of fine-tuning's body rate.
    fn layer_decay(&self) -> f64 {
        self.layer_decay.unwrap_or(self.defaults().layer_decay)
    }

    /// Contrastive tuning's pairs of each kind per training example.
    fn pair_iterations(&self) -> usize {
        self.pair_iterations
            .unwrap_or(joint::ContrastiveConfig::default().pair_iterations)
    }

    fn model_options(&self) -> ModelOptions {
        ModelOptions {
            model: self.model.clone(),
            backend: self.backend,
            max_len: self.max_len(),
        }
    }

    /// The seeds of the repeated runs, the first one `seed`.
    fn seed_list(&self) -> Vec<u64> {
        (0..self.seeds.unwrap_or(self.defaults().seeds) as u64)
            .map(|i| self.seed + i)
            .collect()
    }
}

impl Job for CompareJob {
    type Output = Compared;

    /// Checks the settings that need no data.
    fn validate(&self) -> Result<()> {
        if let Some(seeds) = self.seeds {
            settings::at_least_one("seeds", seeds)?;
        }
        if let [valid, test] = self.holdout[..] {
            if !(valid >= 0.0 && test >= 0.0 && valid + test < 0.9) {
                refuse!(
                    [holdout] " {valid},{test}: fractions must be ≥ 0 and leave most data for \
                     training"
                );
            }
        } else {
            refuse!([holdout] " takes two fractions, validation and test");
        }
        if self.prompt.is_some() == self.verbalizer.is_empty() {
            refuse!("a " [prompt] " needs its " [verbalizer] ", and a verbalizer its prompt");
        }
        Ok(())
    }

    /// Runs the comparison and writes its report.
    fn execute(&self, observer: &mut dyn Observer) -> Result<Compared> {
        compare(self, observer)
    }
}

/// One comparison of the two modes: runs every stage, writes the report; its table
/// and verdict go to `observer`.
pub(crate) fn compare(args: &CompareJob, observer: &mut dyn Observer) -> Result<Compared> {
    args.validate()?;
    let started = Instant::now();
    let started_unix = machine::unix_now();
    let work_dir = args.cache_dir.join("compare-data");
    let data = inputs::resolve(&DataRequest::of(args, &work_dir), observer)?;
    // Checked before the report folder is claimed: a refused point costs nothing.
    let frontier = Plan::new(args, &data, None, &args.out).frontier_points()?;
    let dir = fresh_dir(
        &args.out,
        &format!("{}-{}", data.name, machine::timestamp(started_unix)),
        artifacts::ArtifactKind::Comparison,
    )?;
    let augmented = augmented_train(args, &data, &dir, observer)?;
    let plan = Plan {
        frontier,
        ..Plan::new(args, &data, augmented, &dir)
    };
    observer.note(&format!(
        "comparing on {} ({} / {} / {} records), model {}, max_len {}, {} seed(s); report in {}",
        data.name,
        data.splits.train.len(),
        data.splits.validation.len(),
        data.splits.test.len(),
        args.model.display(),
        plan.max_len,
        plan.seeds.len(),
        dir.display()
    ));

    let mut commands = Vec::new();
    let pipeline = plan.pipeline(&mut commands, observer)?;
    let frontier = plan.frontier(&pipeline.start_heads, &mut commands, observer)?;
    let end_to_end = plan.end_to_end(&pipeline.start_heads, &mut commands, observer)?;
    let contrastive = plan.contrastive(&mut commands, observer)?;

    let comparison = Comparison {
        version: env!("CARGO_PKG_VERSION").to_owned(),
        started_unix,
        wall_seconds: started.elapsed().as_secs_f64(),
        environment: machine::environment(&args.backend.to_string()),
        data: data_info(&data)?,
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
        frontier: Some(frontier),
        contrastive,
        leaderboard: pipeline.leaderboard,
        commands,
    };
    report::write_report(&comparison, &dir)?;
    announce(&comparison, &dir, observer);
    Ok(Compared { comparison, dir })
}

/// What the report says of the data: its classes, splits, files and where it came from.
fn data_info(data: &ComparisonData) -> Result<DataInfo> {
    let labels = LabelMap::from_records(&data.splits.train);
    Ok(DataInfo {
        name: data.name.clone(),
        classes: labels.names().to_vec(),
        train_counts: labels.counts(&data.splits.train),
        train: data.splits.train.len(),
        validation: data.splits.validation.len(),
        test: data.splits.test.len(),
        files: data_files(data)?,
        derivation: data.derivation.clone(),
        manifest: data.manifest.clone(),
    })
}

/// The comparison's table and verdict, and where its report is.
fn announce(comparison: &Comparison, dir: &Path, observer: &mut dyn Observer) {
    observer.note(&format!("\n{}", report::terminal_table(comparison)));
    for line in report::verdict(comparison) {
        observer.note(&format!("- {line}"));
    }
    observer.note(&format!(
        "\ncompared in {:.0} s; report: {}",
        comparison.wall_seconds,
        dir.join(report::HTML_FILE).display()
    ));
}

/// Word swaps, deletions and insertions at this rate, for `--augment`.
const AUGMENT_WORD_RATE: f64 = 0.1;
/// Typos per word, for `--augment`.
const AUGMENT_TYPO_RATE: f64 = 0.05;

/// For `--augment N`: N augmented copies of each training record of the classes that
/// over-sampling will top up, written into the report folder (the texts depend only
/// on the data and the seed, so their embeddings are cache hits on a rerun).
fn augmented_train(
    args: &CompareJob,
    data: &ComparisonData,
    dir: &Path,
    observer: &mut dyn Observer,
) -> Result<Option<PathBuf>> {
    let Some(copies) = args.augment else {
        return Ok(None);
    };
    let Some(Sampling::Oversample { ratio }) = args.sampling else {
        refuse!(
            [augment] " {copies}: augmented copies are drawn by over-sampling; add "
            [sampling] " oversample[:R]"
        );
    };
    settings::at_least_one("augment", copies)?;
    if !data.columns.are_standard() {
        let train = data.train.display();
        refuse!(
            [augment] " writes its copies as JSONL with the standard fields (id, text, text_b, \
             label), which other text or label columns would not find: convert {train} to \
             JSONL first"
        );
    }
    let labels = LabelMap::from_records(&data.splits.train);
    let counts = labels.counts(&data.splits.train);
    let target = (ratio * counts.iter().copied().max().unwrap_or(0) as f64).ceil() as usize;
    let topped_up: Vec<String> = labels
        .names()
        .iter()
        .zip(&counts)
        .filter(|&(_, &n)| n < target)
        .map(|(name, _)| name.clone())
        .collect();
    if topped_up.is_empty() {
        return Ok(None);
    }
    let output = dir.join("augmented-train.jsonl");
    let job = AugmentJob {
        input: Input {
            input: data.train.clone(),
            columns: data.columns.clone(),
        },
        classes: topped_up,
        copies,
        seed: args.seed,
        ..AugmentJob::new(
            &data.train,
            &output,
            augment::AugmentConfig {
                swap: AUGMENT_WORD_RATE,
                delete: AUGMENT_WORD_RATE,
                insert: AUGMENT_WORD_RATE,
                typo: AUGMENT_TYPO_RATE,
                neighbour: 0.0,
            },
        )
    };
    job.run(observer)?;
    Ok(Some(output))
}

/// `parent/name`, or `parent/name-2`, … when a comparison started in the same second:
/// always a new folder, marked as a `kind` bertcls writes.
fn fresh_dir(parent: &Path, name: &str, kind: artifacts::ArtifactKind) -> Result<PathBuf> {
    std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    let mut n = 1;
    loop {
        let dir = match n {
            1 => parent.join(name),
            n => parent.join(format!("{name}-{n}")),
        };
        match std::fs::create_dir(&dir) {
            Ok(()) => {
                artifacts::mark(&dir, kind)?;
                return Ok(dir);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => n += 1,
            Err(e) => return Err(e).with_context(|| format!("creating {}", dir.display())),
        }
    }
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

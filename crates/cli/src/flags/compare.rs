//! `bertcls compare`.

use std::path::PathBuf;

use bertcls::bert::{BackendKind, Precision};
use bertcls::data::{ClassShare, LabelledText, Sampling};
use bertcls::joint::ContrastiveConfig;
use bertcls::{
    CompareJob, ComparisonDefaults, DEFAULT_CACHE_DIR, DEFAULT_MODEL, DEFAULT_STATE_CACHE_DIR,
    HeadStart, StudyJob, SuiteSource, settings,
};
use clap::Args;
use serde::Serialize;

use super::IntoJob;
use super::options::{AdversaryFlags, ColumnsFlags, DecisionFlags, LossFlags};

/// The settings of one comparison: both modes on the same data, one report.
#[derive(Args, Serialize)]
pub(crate) struct ComparisonFlags {
    /// A fetched data set (r8, spam), a folder holding train/validation/test files
    /// (.jsonl, .csv or .tsv; missing validation/test splits are held out of train),
    /// or one labelled file, split with --holdout [default: r8; a --suite has its own].
    #[arg(long)]
    pub(crate) data: Option<String>,
    /// How the data files are read.
    #[command(flatten)]
    #[serde(flatten)]
    pub(crate) columns: ColumnsFlags,
    /// Make the task imbalanced: under-sample one class of the training and validation
    /// splits to this share of each (the test split is untouched), e.g. spam=0.05.
    #[arg(long, value_name = "LABEL=SHARE")]
    #[serde(with = "settings::as_text::option")]
    pub(crate) class_share: Option<ClassShare>,
    /// Few-shot: train and validate on at most K labelled records per class, drawn
    /// at random by --seed (the test split is untouched).
    #[arg(long, value_name = "K")]
    pub(crate) shots: Option<usize>,
    /// Fractions of the training data held out for validation and test when the data
    /// has no such split (stratified by class).
    #[arg(long, num_args = 2, default_values_t = [0.1, 0.2])]
    pub(crate) holdout: Vec<f64>,
    /// A Hugging Face BERT folder, used frozen by the pipeline and fine-tuned end to end.
    #[arg(long, default_value = DEFAULT_MODEL)]
    pub(crate) model: PathBuf,
    /// Where the encoder and fine-tuning run: flex, ndarray or wgpu.
    #[arg(long, default_value_t = BackendKind::Flex)]
    pub(crate) backend: BackendKind,
    /// What the pipeline's frozen encoder computes in: fp32, int8 or bf16 (CPU
    /// backends; see `bertcls embed --precision`). Fine-tuning, the frontier's and
    /// end-to-end, runs in fp32, and in another precision builds its own cached states,
    /// since a pass in int8 or bf16 cannot keep fp32 states for it.
    #[arg(long, default_value_t = Precision::Fp32)]
    #[serde(default)]
    pub(crate) precision: Precision,
    /// Tokens per text, for both modes.
    #[arg(long, help = defaults_help("Tokens per text, for both modes", |d| d.max_len))]
    pub(crate) max_len: Option<usize>,
    /// Fine-tune only the bottom K encoder layers: a cheaper end-to-end model (the
    /// pipeline still reads the whole encoder) [default: all; a --suite: its own].
    #[arg(long, value_name = "K")]
    pub(crate) num_layers: Option<usize>,
    /// Do not train the word, position and token-type embeddings when fine-tuning:
    /// with few layers, their gradient and optimizer update cost more than the layers
    /// [default: false; a --suite: its own]. `--freeze-embeddings false`
    /// turns it off.
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub(crate) freeze_embeddings: Option<bool>,
    /// The layer frontier: the numbers K of top encoder layers fine-tuned, one model
    /// each on the same splits with the same recipe. 0 is the pipeline and N (all
    /// layers) end-to-end fine-tuning, which always run; a K between trains the top K
    /// layers, the pooler and the head over cached states of the N − K frozen layers
    /// below (`bertcls finetune --train-layers K`) [default: 0,1,N; with an
    /// --adversary: 0,N, as FGM and PGD perturb the frozen embeddings; a --suite: 0,N,
    /// as a frontier in each of its comparisons would multiply its cost].
    #[arg(long, value_delimiter = ',', value_name = "K,…")]
    pub(crate) frontier: Option<Vec<usize>>,
    /// Fine-tuning epochs.
    #[arg(long, help = defaults_help("Fine-tuning epochs", |d| d.epochs))]
    pub(crate) epochs: Option<usize>,
    /// At least this many fine-tuning steps.
    #[arg(
        long,
        value_name = "N",
        help = defaults_help(
            "At least this many fine-tuning steps: on small data (--shots) as many more \
             epochs as reach it",
            |d| d.min_steps
        )
    )]
    pub(crate) min_steps: Option<usize>,
    /// Fine-tuning's peak learning rate.
    #[arg(
        long = "lr",
        help = defaults_help("Fine-tuning's peak learning rate", |d| d.learning_rate)
    )]
    pub(crate) learning_rate: Option<f64>,
    /// Contrastive tuning (SetFit, as `bertcls finetune --contrastive`) as one more
    /// model on the same splits, with SetFit's recipe: the encoder tuned on pairs of
    /// training examples, then a linear head on its embeddings. Meant for few labels:
    /// its pairs grow with the examples [default: on with --shots, else off;
    /// `--contrastive false` turns it off].
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub(crate) contrastive: Option<bool>,
    /// Contrastive tuning's pairs of each kind per training example (SetFit's
    /// num_iterations).
    #[arg(
        long,
        value_name = "N",
        help = format!(
            "Contrastive tuning's pairs of each kind per training example (SetFit's \
             num_iterations) [default: {}]",
            ContrastiveConfig::default().pair_iterations
        )
    )]
    pub(crate) pair_iterations: Option<usize>,
    /// Fine-tuning's peak learning rate of the head.
    #[arg(
        long = "head-lr",
        value_name = "RATE",
        help = defaults_help("Fine-tuning's peak learning rate of the head", |d| {
            d.head_learning_rate.map_or("--lr".to_owned(), |rate| rate.to_string())
        })
    )]
    pub(crate) head_learning_rate: Option<f64>,
    /// Layer-wise decay of fine-tuning's rate.
    #[arg(
        long,
        value_name = "FACTOR",
        help = defaults_help(
            "Layer-wise decay of fine-tuning's rate: each encoder layer trains at this \
             factor of the rate of the layer above",
            |d| d.layer_decay
        )
    )]
    pub(crate) layer_decay: Option<f64>,
    /// What fine-tuning's classifier starts from: `pipeline`, each seed's best linear
    /// head of the pipeline's sweep (LP-FT: the classifier pools the mean of the final
    /// states, as the pipeline's features do), or `random`, a new head on [CLS]
    /// through the pooler as in BertForSequenceClassification. A --prompt, or
    /// --num-layers, starts from a random head.
    #[arg(long, default_value_t = HeadStart::default(), value_name = "FROM")]
    pub(crate) head_start: HeadStart,
    /// The head sweep's grid, a TOML file as for `bertcls head sweep --grid-file`
    /// [default: the 45-head grid; --quick: 8 heads drawn from it].
    #[arg(long, value_name = "FILE")]
    pub(crate) heads: Option<PathBuf>,
    /// The loss of both modes, with its imbalance remedies.
    #[command(flatten)]
    #[serde(flatten)]
    pub(crate) loss: LossFlags,
    /// Which examples each epoch trains on, in both modes: none, `oversample[:R]`,
    /// `undersample[:R]`, `rotating[:R]` or class-balanced.
    #[arg(long)]
    #[serde(with = "settings::as_text::option")]
    pub(crate) sampling: Option<Sampling>,
    /// With --sampling oversample: write N augmented copies (word swaps, deletions and
    /// insertions at 10%, typos at 5%) of each training record of the classes that
    /// over-sampling tops up, and draw the added examples from them, so that no added
    /// example is an identical copy.
    #[arg(long, value_name = "N")]
    pub(crate) augment: Option<usize>,
    /// A decision rule for both modes' models: --logit-adjust TAU or --threshold.
    #[command(flatten)]
    #[serde(flatten)]
    pub(crate) decision: DecisionFlags,
    /// Adversarial training of the end-to-end mode (the pipeline's frozen features
    /// have no embeddings to perturb).
    #[command(flatten)]
    #[serde(flatten)]
    pub(crate) adversary: AdversaryFlags,
    /// Repeat both modes over N seeds (the first is --seed) and report mean ± std.
    #[arg(
        long,
        help = defaults_help(
            "Repeat both modes over N seeds (the first is --seed) and report mean ± std",
            |d| d.seeds
        )
    )]
    pub(crate) seeds: Option<usize>,
    /// The first seed: decides splits held out here, head and classifier initialisation,
    /// data order and dropout.
    #[arg(long, default_value_t = 42)]
    pub(crate) seed: u64,
    /// A first look in about 2 minutes: at most 400 / 150 / 300 records per split
    /// (stratified), 8 heads, 3 epochs at a higher learning rate.
    #[arg(long)]
    pub(crate) quick: bool,
    /// End-to-end as prompt-based fine-tuning: the template (see `bertcls finetune
    /// --prompt`), with --verbalizer.
    #[arg(long, value_name = "TEMPLATE", requires = "verbalizer")]
    pub(crate) prompt: Option<String>,
    /// With --prompt: each label's word, label=word,….
    #[arg(
        long,
        value_name = "LABEL=WORD,…",
        value_delimiter = ',',
        requires = "prompt"
    )]
    pub(crate) verbalizer: Vec<LabelledText>,
    /// Reports go to `OUT/<data>-<timestamp>/`.
    #[arg(long, default_value = "reports")]
    pub(crate) out: PathBuf,
    /// Where embedding caches live (shared with `bertcls embed`).
    #[arg(long, default_value = DEFAULT_CACHE_DIR)]
    pub(crate) cache_dir: PathBuf,
    /// Where the frontier's state caches live (shared with `bertcls finetune
    /// --train-layers`).
    #[arg(long, default_value = DEFAULT_STATE_CACHE_DIR)]
    pub(crate) state_cache_dir: PathBuf,
}

/// `bertcls compare`: one comparison, or with --suite a study of many.
#[derive(Args, Serialize)]
#[command(after_help = "Examples:\n  \
    bertcls compare                          # R8 (cargo xtask fetch data r8), about 9 min on 2 cores\n  \
    bertcls compare --quick                  # a stratified subset, about 1 min: a first look\n  \
    bertcls compare --data spam --seeds 3    # mean ± std over three seeds\n  \
    bertcls compare --data my-folder         # train/validation/test .jsonl|.csv|.tsv inside\n  \
    bertcls compare --data reviews.csv --text-col review --label-col stars\n  \
    bertcls compare --frontier 0,1,2,3,6     # the whole curve: the top K of 6 layers trained\n  \
    bertcls compare --suite imbalance        # every imbalance remedy, both modes, R8 and spam: ~55 min\n  \
    bertcls compare --suite few-shot --num-layers 2 --epochs 10   # k = 8-64 per class: ~35 min\n  \
    bertcls compare --suite robustness       # FGM, PGD, distillation, ensembles; perturbed tests: ~75 min\n  \
    bertcls compare --suite my-study.toml    # a study of your own (copy a built-in one)\n\n\
    Stages are the ordinary commands (embed, head sweep, head predict, finetune); the report \
    lists them so each can be rerun by hand. Embeddings are cached: a second comparison on \
    the same data and model skips the encoder. The built-in studies are TOML files \
    (crates/bertcls/suites/); `bertcls suite show imbalance` prints one to copy and edit.")]
pub(crate) struct CompareFlags {
    /// The comparison's settings (a study's, for every comparison it runs).
    #[command(flatten)]
    #[serde(flatten)]
    pub(crate) comparison: ComparisonFlags,
    /// A study: many comparisons and one report across them; a built-in one by name,
    /// or a TOML file of your own. `imbalance`: every imbalance remedy against the
    /// plain baseline, in both modes, on R8 and on SpamAssassin with spam cut to 5%
    /// (or on --data alone). `few-shot`: k = 8, 16, 32, 64 examples per class, a
    /// pipeline head, `[CLS]` and prompt fine-tuning against zero-shot, on R8 and
    /// SpamAssassin (or on --data with --prompt and --verbalizer). `robustness`:
    /// adversarial training, distillation and ensembles, on clean and perturbed tests.
    #[arg(long, value_name = "NAME|FILE")]
    #[serde(with = "settings::as_text::option")]
    pub(crate) suite: Option<SuiteSource>,
    /// Continue the --suite study in this folder (after a crash or an interruption,
    /// with the same flags): comparisons whose report is complete are read back, the
    /// rest run.
    #[arg(long, value_name = "STUDY_DIR", requires = "suite")]
    pub(crate) resume: Option<PathBuf>,
}

/// What `bertcls compare` runs.
pub(crate) enum Comparing {
    /// One comparison.
    One(CompareJob),
    /// A study of many.
    Study(StudyJob),
}

impl CompareFlags {
    /// The comparison, or with --suite the study, these flags describe.
    pub(crate) fn into_run(self) -> anyhow::Result<Comparing> {
        Ok(match self.suite {
            None => Comparing::One(self.comparison.into_job()?),
            Some(_) => Comparing::Study(self.into_job()?),
        })
    }
}

/// `what` with the value `value` reads off the default comparison and the quick one:
/// the help shows the defaults [`ComparisonDefaults`] declares, and no other copy.
fn defaults_help<T: std::fmt::Display>(
    what: &str,
    value: impl Fn(&ComparisonDefaults) -> T,
) -> String {
    format!(
        "{what} [default: {}; --quick: {}; a --suite: its own, see `bertcls suite \
         show NAME`]",
        value(&ComparisonDefaults::standard()),
        value(&ComparisonDefaults::quick())
    )
}

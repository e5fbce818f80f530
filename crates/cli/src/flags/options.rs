//! Flag groups that several commands share: the model, the input file and its columns, the loss, the decision rule, adversarial training, overwriting, a saved classifier, a teacher, and the pipeline heads' caches and grid.

use std::path::PathBuf;

use bertcls::bert::{BackendKind, Precision};
use bertcls::data::{Sampling, Task};
use bertcls::joint::AdversaryKind;
use bertcls::metrics::ThresholdTarget;
use bertcls::training::{
    Activation, ClassWeights, DistillationLoss, HiddenSizes, LossKind, Monitor, OptimizerKind,
    Schedule,
};
use bertcls::{DEFAULT_MODEL, DEFAULT_TEACHER_CACHE, settings};
use clap::Args;
use serde::Serialize;

/// Which BERT, on which device, reading how many tokens.
#[derive(Args, Serialize)]
pub(crate) struct ModelFlags {
    /// A Hugging Face BERT folder (config.json, weights, tokenizer).
    #[arg(long, default_value = DEFAULT_MODEL)]
    pub(crate) model: PathBuf,
    /// Where tensors run: flex (CPU, default), ndarray (CPU) or wgpu (GPU; needs the
    /// `wgpu` feature).
    #[arg(long, default_value_t = BackendKind::Flex)]
    pub(crate) backend: BackendKind,
    /// Tokens per sequence, `[CLS]` and `[SEP]` included; longer texts are truncated.
    #[arg(long, default_value_t = 128)]
    pub(crate) max_len: usize,
}

/// A data file and how to read it.
#[derive(Args, Serialize)]
pub(crate) struct InputFlags {
    /// JSONL, CSV or TSV (by extension), one record per line/row; `-` reads standard
    /// input (a path without an extension is read in the format of its first line).
    #[arg(long)]
    pub(crate) input: PathBuf,
    /// How it is read.
    #[command(flatten)]
    #[serde(flatten)]
    pub(crate) columns: ColumnsFlags,
}

/// Which columns (or JSON keys) of data files hold what.
#[derive(Args, Serialize)]
pub(crate) struct ColumnsFlags {
    /// Column (or JSON key) holding the text.
    #[arg(long, default_value = "text")]
    pub(crate) text_col: String,
    /// Column holding the second text of sentence pairs (`[CLS]` a `[SEP]` b `[SEP]`)
    /// [default: text_b, read wherever a record has it]. A record without one is a
    /// single text, so a file may mix pairs and single texts.
    #[arg(long)]
    pub(crate) text_b_col: Option<String>,
    /// Column holding the label.
    #[arg(long, default_value = "label")]
    pub(crate) label_col: String,
    /// Splits a label written as text into the labels of a multi-label record
    /// (`--label-sep '|'` reads `sports|politics` as two). A JSON list is a set of
    /// labels without it.
    #[arg(long, value_name = "SEP")]
    pub(crate) label_sep: Option<String>,
    /// single-label, multi-label or regression [default: what the labels' form says:
    /// lists are multi-label, numbers not all whole are regression, else single-label].
    #[arg(long)]
    pub(crate) task: Option<Task>,
    /// Column holding record ids; rows without one are named by their line number.
    #[arg(long, default_value = "id")]
    pub(crate) id_col: String,
    /// Drop rows that cannot be used (reported with their line numbers) instead of stopping.
    #[arg(long)]
    pub(crate) skip_bad_rows: bool,
}

/// The loss of either mode, and the remedies for class imbalance it carries. Unset
/// settings keep the base spec's values (the defaults, or a grid file's).
#[derive(Args, Serialize)]
pub(crate) struct LossFlags {
    /// ce (cross-entropy), focal (down-weights easy examples) or ghm (GHM-C:
    /// down-weights examples whose gradient norm is common, easy ones and outliers).
    #[arg(long)]
    pub(crate) loss: Option<LossKind>,
    /// Per-class weights (ce's class weights, focal's α): balanced (n / (k·n_c)),
    /// `effective[:BETA]` (effective number of samples, β 0.999), or label=weight,….
    #[arg(long, value_name = "WEIGHTS")]
    #[serde(with = "settings::as_text::option")]
    pub(crate) class_weights: Option<ClassWeights>,
    /// ce only: label smoothing ε in [0, 1).
    #[arg(long, value_name = "EPSILON")]
    pub(crate) label_smoothing: Option<f64>,
    /// focal only: γ, how strongly well-classified examples are down-weighted [default: 2].
    #[arg(long, value_name = "GAMMA")]
    pub(crate) focal_gamma: Option<f64>,
    /// ghm only: bins of the gradient-norm histogram [default: 10].
    #[arg(long, value_name = "N")]
    pub(crate) ghm_bins: Option<usize>,
    /// ghm only: EMA momentum of the bin counts across batches [default: 0.75].
    #[arg(long, value_name = "M")]
    pub(crate) ghm_momentum: Option<f64>,
}

/// Decision-level remedies: chosen once training is done, saved with the model, used
/// by every prediction.
#[derive(Args, Serialize)]
pub(crate) struct DecisionFlags {
    /// Logit adjustment: divide each class's probability by its training prior to the
    /// power TAU before taking the largest (1 suits a test set with balanced classes).
    #[arg(long, value_name = "TAU", conflicts_with = "threshold")]
    pub(crate) logit_adjust: Option<f64>,
    /// Two classes: predict the second class (in label order) above a threshold
    /// chosen on validation: f1 (its best F1) or recall:R (the highest threshold
    /// reaching recall R). Multi-label: each label's own threshold, chosen so.
    #[arg(long, value_name = "TARGET")]
    #[serde(with = "settings::as_text::option")]
    pub(crate) threshold: Option<ThresholdTarget>,
    /// Multi-label: an example with no label above its threshold gets its most
    /// probable one.
    #[arg(long)]
    pub(crate) at_least_one: bool,
}

/// Adversarial training on the word embeddings (end-to-end mode).
#[derive(Args, Serialize)]
pub(crate) struct AdversaryFlags {
    /// fgm: each batch also trains on its word embeddings moved by r = ε·g/‖g‖ (g the
    /// loss's gradient there): one extra forward/backward pass. pgd: --adv-steps
    /// ascent steps of --adv-alpha, each projected back onto the ε-ball: that many
    /// extra passes. none (the default).
    #[arg(long, value_name = "METHOD")]
    pub(crate) adv: Option<AdversaryKind>,
    /// Radius ε of the perturbation (L2 norm over the batch's word embeddings)
    /// [default: 1].
    #[arg(long, value_name = "EPSILON", requires = "adv")]
    pub(crate) adv_epsilon: Option<f64>,
    /// pgd only: size α of each ascent step [default: 2.5·ε/K].
    #[arg(long, value_name = "ALPHA", requires = "adv")]
    pub(crate) adv_alpha: Option<f64>,
    /// pgd only: ascent steps K [default: 3].
    #[arg(long, value_name = "K", requires = "adv")]
    pub(crate) adv_steps: Option<usize>,
}

/// Whether an output may replace a bertcls output of another kind.
#[derive(Args, Serialize)]
pub(crate) struct ForceFlags {
    /// Replace whatever bertcls wrote at the output path (a head where a cache was,
    /// say). Without it only an output of the same kind is replaced; with it too,
    /// files and folders bertcls did not write are never touched.
    #[arg(long)]
    pub(crate) force: bool,
}

/// Which classifier, where it runs, how it reads.
#[derive(Args, Serialize)]
pub(crate) struct ClassifierFlags {
    /// A fine-tuned model (`finetune`'s OUT/model or OUT, or any Hugging Face
    /// BertForSequenceClassification folder), a saved head (`head train --out`,
    /// a sweep's best.head; texts are embedded as its features were), or an ensemble
    /// (`bertcls ensemble --out`).
    #[arg(long)]
    pub(crate) model: PathBuf,
    /// flex (CPU, default), ndarray (CPU) or wgpu (GPU).
    #[arg(long, default_value_t = BackendKind::Flex)]
    pub(crate) backend: BackendKind,
    /// Tokens per text (default: what the model was trained with; 128 for foreign folders).
    #[arg(long)]
    pub(crate) max_len: Option<usize>,
    /// Texts per forward pass.
    #[arg(long, default_value_t = 32)]
    pub(crate) batch_size: usize,
    /// What the encoder layers' linear layers compute in: fp32, int8 or bf16 (CPU
    /// backends). A fine-tuned model's encoder is converted when loaded [default:
    /// fp32]; a head embeds texts in the precision of its features [default: that one]
    /// and refuses another, as it refuses another encoder.
    #[arg(long)]
    #[serde(default)]
    pub(crate) precision: Option<Precision>,
}

/// Who teaches, and how strongly.
#[derive(Args, Serialize)]
pub(crate) struct TeacherFlags {
    /// A fine-tuned model (`finetune`'s OUT or OUT/model). Several make an ensemble
    /// teacher: their softened probabilities averaged.
    #[arg(long, required = true, num_args = 1..)]
    pub(crate) teacher: Vec<PathBuf>,
    /// Temperature T softening teacher and student alike; higher shows more of the
    /// teacher's "dark knowledge" (how it ranks the wrong classes).
    #[arg(long, default_value_t = DistillationLoss::default().temperature)]
    pub(crate) temperature: f64,
    /// Weight α of the teacher's soft targets (scaled by T²); 1 − α goes to the labels.
    #[arg(long, default_value_t = DistillationLoss::default().alpha)]
    pub(crate) alpha: f64,
    /// Where the teachers' predictions are cached, named by teacher and data.
    #[arg(long, default_value = DEFAULT_TEACHER_CACHE)]
    pub(crate) teacher_cache: PathBuf,
}

/// Training and validation caches (several paths: the shards of one run).
#[derive(Args, Serialize)]
pub(crate) struct FeatureCachesFlags {
    /// Embedding cache(s) of the training data (`bertcls embed` output; shards allowed).
    #[arg(long, num_args = 1.., required = true)]
    pub(crate) train: Vec<PathBuf>,
    /// Embedding cache(s) of the validation data, for early stopping and ranking.
    #[arg(long, num_args = 1.., required = true)]
    pub(crate) valid: Vec<PathBuf>,
    /// Embedding cache(s) of augmented variants of training examples (`bertcls
    /// augment`, then `bertcls embed`): --sampling oversample tops classes up from
    /// them instead of repeating examples.
    #[arg(long, num_args = 1..)]
    pub(crate) augmented: Vec<PathBuf>,
    /// Where heads train: flex (CPU, default) or ndarray; heads are too small for a GPU to pay.
    #[arg(long, default_value_t = BackendKind::Flex)]
    pub(crate) backend: BackendKind,
}

/// Head and training settings. Each takes a list in a sweep and one value for one
/// head; unset ones keep the defaults (or the grid file's values).
#[derive(Args, Serialize)]
pub(crate) struct GridFlags {
    /// Head shapes: `linear` (softmax regression) or hidden widths like 512x256.
    #[arg(long, value_delimiter = ',')]
    pub(crate) hidden: Option<Vec<HiddenSizes>>,
    /// Base learning rates.
    #[arg(long = "lr", value_delimiter = ',')]
    pub(crate) learning_rates: Option<Vec<f64>>,
    /// L2 penalties (AdamW: decoupled weight decay).
    #[arg(long, value_delimiter = ',')]
    pub(crate) l2: Option<Vec<f64>>,
    /// L1 penalties on weight matrices.
    #[arg(long, value_delimiter = ',')]
    pub(crate) l1: Option<Vec<f64>>,
    /// Dropout after hidden layers (MLPs only).
    #[arg(long, value_delimiter = ',')]
    pub(crate) dropout: Option<Vec<f64>>,
    /// Batch norm in hidden layers: true, false (MLPs only).
    #[arg(long, value_delimiter = ',')]
    pub(crate) batch_norm: Option<Vec<bool>>,
    /// adam, adamw or sgd.
    #[arg(long, value_delimiter = ',')]
    pub(crate) optimizer: Option<Vec<OptimizerKind>>,
    /// Hidden-layer activation: relu, gelu, tanh.
    #[arg(long)]
    pub(crate) activation: Option<Activation>,
    /// Learning-rate schedule: constant, cosine, linear.
    #[arg(long)]
    pub(crate) schedule: Option<Schedule>,
    /// The loss and its imbalance remedies.
    #[command(flatten)]
    #[serde(flatten)]
    pub(crate) loss: LossFlags,
    /// Which examples each epoch trains on: none, `oversample[:R]`, `undersample[:R]`,
    /// `rotating[:R]` (a different majority subset every epoch) or class-balanced.
    #[arg(long)]
    #[serde(with = "settings::as_text::option")]
    pub(crate) sampling: Option<Sampling>,
    /// Passes over the training features.
    #[arg(long)]
    pub(crate) epochs: Option<usize>,
    /// Examples per step.
    #[arg(long)]
    pub(crate) batch_size: Option<usize>,
    /// What early stopping watches on validation: loss (smooth; the default, but
    /// micro-f1 for multi-label data), macro-f1, micro-f1, accuracy.
    #[arg(long)]
    pub(crate) monitor: Option<Monitor>,
    /// Epochs without improvement of --monitor before stopping (best epoch kept).
    #[arg(long)]
    pub(crate) patience: Option<usize>,
    /// Decides the initial weights, the batch order and dropout.
    #[arg(long)]
    pub(crate) seed: Option<u64>,
}

//! `bertcls finetune`.

use std::path::PathBuf;

use bertcls::data::{LabelledText, Sampling};
use bertcls::joint::{ClassifierPooling, ContrastiveConfig, Optimization};
use bertcls::training::{Activation, HiddenSizes, Monitor, Schedule};
use bertcls::{DEFAULT_OUT, DEFAULT_STATE_CACHE_DIR, settings};
use clap::Args;
use serde::Serialize;

use super::options::{
    AdversaryFlags, ColumnsFlags, DecisionFlags, ForceFlags, LossFlags, ModelFlags,
};

/// Fine-tune BERT and a classification head together (`bertcls finetune`).
#[derive(Args, Serialize)]
#[command(after_help = "Examples:\n  \
    bertcls finetune --train data/r8/train.jsonl --valid data/r8/validation.jsonl \\\n      \
    --test data/r8/test.jsonl --out runs/r8\n  \
    bertcls finetune --train pairs.csv --text-b-col hypothesis --epochs 2 --lr 3e-5 --out runs/nli\n  \
    bertcls finetune … --out runs/r8 --resume      # continue an interrupted run\n\n\
    The best model (by --monitor on validation) is saved in OUT/model as a Hugging Face \
    folder: `transformers.AutoModelForSequenceClassification.from_pretrained(\"OUT/model\")` \
    loads it. OUT/training.json holds the settings, the learning curves and the metrics; \
    with --test, OUT/test-predictions.jsonl holds the kept model's test predictions.")]
pub(crate) struct FineTuneFlags {
    /// The base model.
    #[command(flatten)]
    #[serde(flatten)]
    pub(crate) model: ModelFlags,
    /// Training data (JSONL, CSV or TSV; `-`: standard input).
    #[arg(long)]
    pub(crate) train: PathBuf,
    /// Validation data, for model selection and early stopping. Without it, a
    /// stratified --valid-fraction of the training data is held out.
    #[arg(long)]
    pub(crate) valid: Option<PathBuf>,
    /// Augmented variants of training examples (e.g. from `bertcls augment`):
    /// --sampling oversample tops classes up from them instead of repeating examples.
    #[arg(long)]
    pub(crate) augmented: Option<PathBuf>,
    /// Held-out share of the training data when no --valid file is given.
    #[arg(long, default_value_t = 0.1)]
    pub(crate) valid_fraction: f64,
    /// Test data, evaluated once with the best model at the end.
    #[arg(long)]
    pub(crate) test: Option<PathBuf>,
    /// How the data files are read.
    #[command(flatten)]
    #[serde(flatten)]
    pub(crate) columns: ColumnsFlags,
    /// Run folder: OUT/model (the best model), OUT/training.json, with --test
    /// OUT/test-predictions.jsonl, and OUT/checkpoint while training (removed when the
    /// run completes).
    #[arg(long, default_value = DEFAULT_OUT)]
    pub(crate) out: PathBuf,
    /// Continue the interrupted run in --out from its last checkpoint (same flags).
    #[arg(long)]
    pub(crate) resume: bool,
    /// Keep OUT/checkpoint after the run completes.
    #[arg(long)]
    pub(crate) keep_checkpoint: bool,
    /// Whether a bertcls artifact of another kind may be replaced.
    #[command(flatten)]
    #[serde(flatten)]
    pub(crate) force: ForceFlags,

    /// Keep only the bottom K encoder layers: a smaller, faster model.
    #[arg(long, value_name = "K")]
    pub(crate) num_layers: Option<usize>,
    /// What the head reads: cls (`[CLS]` through BERT's pooler, as
    /// BertForSequenceClassification) or mean (mean of the token states).
    #[arg(long, default_value_t = ClassifierPooling::Cls)]
    pub(crate) pooling: ClassifierPooling,
    /// Head: `linear` (BERT's usual single layer) or hidden widths like 256 or 512x256.
    #[arg(long, default_value_t = HiddenSizes::linear())]
    pub(crate) hidden: HiddenSizes,
    /// Activation of MLP heads: relu, gelu or tanh.
    #[arg(long, default_value_t = Activation::Relu)]
    pub(crate) activation: Activation,
    /// Batch normalisation in MLP heads.
    #[arg(long)]
    pub(crate) batch_norm: bool,
    /// Dropout before the head (default: the model's hidden_dropout_prob).
    #[arg(long)]
    pub(crate) dropout: Option<f64>,
    /// Start the classifier from a pipeline head instead of random weights (LP-FT):
    /// a linear head from `bertcls head sweep` (OUT/best.head) or `head train` over
    /// this model's mean-pooled embeddings. Needs --pooling mean.
    #[arg(long, value_name = "DIR")]
    pub(crate) start_head: Option<PathBuf>,
    /// Contrastive tuning for few labels (SetFit).
    #[command(flatten)]
    #[serde(flatten)]
    pub(crate) contrastive: ContrastiveFlags,
    /// Dropout after the embeddings and each sub-layer of BERT (default: the model's
    /// hidden_dropout_prob).
    #[arg(long, value_name = "P")]
    pub(crate) hidden_dropout: Option<f64>,
    /// Dropout on BERT's attention weights (default: the model's
    /// attention_probs_dropout_prob).
    #[arg(long, value_name = "P")]
    pub(crate) attention_dropout: Option<f64>,
    /// L1 penalty on the head's weight matrices, added to the loss.
    #[arg(long, default_value_t = Optimization::default().l1)]
    pub(crate) l1: f64,
    /// Prompt-based classification: the text goes into this template, with one
    /// `[MASK]` whose state is scored against each label's word (--verbalizer) instead
    /// of a new head over `[CLS]`; e.g. `"{text} [SEP] This is about [MASK]."`
    /// ({text_b} for pairs). With a checkpoint that has a masked-LM head the scores
    /// are its logits of the words (PET); without one (all-MiniLM-L6-v2), the `[MASK]`
    /// state through a projection initialised to the identity, against the words'
    /// embeddings.
    #[arg(long, value_name = "TEMPLATE", requires = "verbalizer")]
    pub(crate) prompt: Option<String>,
    /// With --prompt: each label's word, label=word,… (a word of several pieces
    /// scores as their mean).
    #[arg(
        long,
        value_name = "LABEL=WORD,…",
        value_delimiter = ',',
        requires = "prompt"
    )]
    pub(crate) verbalizer: Vec<LabelledText>,

    /// Passes over the training data.
    #[arg(long, default_value_t = Optimization::default().epochs)]
    pub(crate) epochs: usize,
    /// At least this many optimizer steps: on small data (--shots, a few hundred
    /// examples) as many more epochs as reach it. The run's first line says the
    /// epochs it trains.
    #[arg(long, default_value_t = Optimization::default().min_steps, value_name = "N")]
    pub(crate) min_steps: usize,
    /// Examples per forward/backward pass.
    #[arg(long, default_value_t = Optimization::default().batch_size)]
    pub(crate) batch_size: usize,
    /// Passes per optimizer step: effective batch = batch size × this.
    #[arg(long, default_value_t = Optimization::default().grad_accumulation)]
    pub(crate) grad_accumulation: usize,
    /// Peak learning rate of the encoder's top layer (and the pooler).
    #[arg(long = "lr", default_value_t = Optimization::default().learning_rate)]
    pub(crate) learning_rate: f64,
    /// Peak learning rate of the head [default: --lr]. A new head starts far from its
    /// optimum, the pretrained layers near theirs: a larger rate here lets the head
    /// catch up without moving the layers faster.
    #[arg(long = "head-lr", value_name = "RATE")]
    pub(crate) head_learning_rate: Option<f64>,
    /// Layer-wise decay: each encoder layer trains at this factor of the rate of the
    /// layer above (the embeddings below the bottom one). 1 trains every layer at --lr;
    /// 0.9 keeps the lower, more general layers closer to their pretrained weights.
    #[arg(long, default_value_t = Optimization::default().layer_decay, value_name = "FACTOR")]
    pub(crate) layer_decay: f64,
    /// Share of the steps spent warming the learning rate up from 0.
    #[arg(long, default_value_t = Optimization::default().warmup_ratio)]
    pub(crate) warmup_ratio: f64,
    /// Decay after warm-up: linear, cosine or constant.
    #[arg(long, default_value_t = Optimization::default().schedule)]
    pub(crate) schedule: Schedule,
    /// AdamW weight decay (not applied to biases and LayerNorm).
    #[arg(long, default_value_t = Optimization::default().weight_decay)]
    pub(crate) weight_decay: f64,
    /// Clip the global gradient norm to this; 0 disables clipping.
    #[arg(long, default_value_t = Optimization::default().max_grad_norm)]
    pub(crate) max_grad_norm: f64,
    /// Do not train the embedding layer.
    #[arg(long)]
    pub(crate) freeze_embeddings: bool,
    /// Do not train the bottom N encoder layers.
    #[arg(long, default_value_t = Optimization::default().freeze_layers, value_name = "N")]
    pub(crate) freeze_layers: usize,
    /// Train only the top K encoder layers, the pooler and the head. The embeddings and
    /// the layers below run once, frozen as in inference, and their output (the token
    /// states after layer N − K) is cached in --state-cache-dir, so each step runs K
    /// layers instead of N and never touches the word embeddings. K = N is ordinary
    /// fine-tuning. The saved model is the whole model, as with any fine-tuning.
    #[arg(long, value_name = "K", conflicts_with_all = ["freeze_layers", "freeze_embeddings"])]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) train_layers: Option<usize>,
    /// Where the state caches of --train-layers go (reused while the model, the data
    /// and max_len stay the same).
    #[arg(long, default_value = DEFAULT_STATE_CACHE_DIR)]
    pub(crate) state_cache_dir: PathBuf,
    /// Evaluate and checkpoint every N optimizer steps (default: every epoch).
    #[arg(long, value_name = "N")]
    pub(crate) eval_every: Option<usize>,
    /// What picks the best evaluation: loss, macro-f1, micro-f1 (accuracy, for one class
    /// per example) or accuracy.
    #[arg(long, default_value_t = Optimization::default().monitor)]
    pub(crate) monitor: Monitor,
    /// Stop after N evaluations without improvement (default: run every epoch).
    #[arg(long, value_name = "N")]
    pub(crate) patience: Option<usize>,
    /// The loss on the labels.
    #[command(flatten)]
    #[serde(flatten)]
    pub(crate) loss: LossFlags,
    /// Adversarial training.
    #[command(flatten)]
    #[serde(flatten)]
    pub(crate) adversary: AdversaryFlags,
    /// How probabilities become a class.
    #[command(flatten)]
    #[serde(flatten)]
    pub(crate) decision: DecisionFlags,
    /// Which examples each epoch trains on: none, `oversample[:R]`, `undersample[:R]`,
    /// `rotating[:R]` (a different majority subset every epoch) or class-balanced.
    #[arg(long, default_value_t = Sampling::None)]
    #[serde(with = "settings::as_text")]
    pub(crate) sampling: Sampling,
    /// Stratified K-fold cross-validation of the training data instead of one run:
    /// each fold's model (OUT/fold-N) trains on the other folds, selecting its
    /// weights on --valid (or a hold-out of its folds), and is scored on its own;
    /// OUT/cv.json gets every metric's mean ± std, OUT/cv-predictions.jsonl the
    /// out-of-fold predictions. Not with --augmented: a held-out example's variants
    /// would train the model that scores it.
    #[arg(long, value_name = "K", conflicts_with_all = ["resume", "test", "augmented", "logit_adjust", "threshold"])]
    pub(crate) cv: Option<usize>,
    /// Train on a bootstrap sample of the training data (as many records, drawn with
    /// replacement by --seed): one member of a bagged ensemble, which `bertcls
    /// ensemble` assembles from several such runs.
    #[arg(long)]
    pub(crate) bootstrap: bool,
    /// Decides the head's initial weights, the data order and the dropout masks.
    #[arg(long, default_value_t = Optimization::default().seed)]
    pub(crate) seed: u64,
}

/// `--contrastive` and its pairs.
#[derive(Args, Serialize)]
pub(crate) struct ContrastiveFlags {
    /// Tune the encoder on pairs of training examples instead of on the labels
    /// (SetFit, Tunstall et al. 2022): a label's examples are pulled together and
    /// different labels' pushed apart (cosine similarity towards 1 or 0), then
    /// logistic regression (SetFit's head) is fitted on the tuned embeddings and
    /// becomes the classifier's layer. For a few labelled examples
    /// per class, where fine-tuning on the labels has too little to learn from. Needs
    /// --pooling mean. The optimization flags apply to the pairs: SetFit's recipe is
    /// --epochs 1 --lr 2e-5 --batch-size 16 --weight-decay 0.
    #[arg(long)]
    pub(crate) contrastive: bool,
    /// With --contrastive: pairs of each kind per training example, so
    /// 2 × N × examples pairs, half of one label (SetFit's num_iterations).
    #[arg(
        long,
        value_name = "N",
        requires = "contrastive",
        default_value_t = ContrastiveConfig::default().pair_iterations
    )]
    pub(crate) pair_iterations: usize,
}

//! `bertcls bench encoder|step`.

use bertcls::bert::Precision;
use clap::Args;
use serde::Serialize;

use super::options::{InputFlags, ModelFlags};

/// Encoder inference speed: one full batch, and a whole data set in length-sorted
/// batches (`bertcls bench encoder`).
#[derive(Args, Serialize)]
#[command(after_help = "Example:\n  \
    bertcls bench encoder --input data/r8/test.jsonl\n\n\
    Prints one JSON object: the median time of a fixed batch (the first --batch-size texts \
    that fill --max-len tokens), one pass over every text in length-sorted batches (as \
    `bertcls embed` runs them), a [4096, 384] x [384, 1536] matmul for the machine's rate, \
    and peak memory. `cargo xtask bench encoder` runs it beside PyTorch on R8.")]
pub(crate) struct BenchEncoderFlags {
    /// The model to time.
    #[command(flatten)]
    #[serde(flatten)]
    pub(crate) model: ModelFlags,
    /// The texts to time it on.
    #[command(flatten)]
    #[serde(flatten)]
    pub(crate) input: InputFlags,
    /// Sequences per forward pass.
    #[arg(long, default_value_t = 32)]
    pub(crate) batch_size: usize,
    /// Timed runs of the fixed batch and the matmul, after one warm-up; the median is reported.
    #[arg(long, default_value_t = 10)]
    pub(crate) repeats: usize,
    /// What the encoder layers' linear layers compute in: fp32, int8 (CPU backends;
    /// weights quantised per output channel, activations per token) or bf16 (CPU
    /// backends; products summed in f32).
    #[arg(long, default_value_t = Precision::Fp32)]
    #[serde(default)]
    pub(crate) precision: Precision,
}

/// Fine-tuning speed: full training steps (forward, backward, clipping, AdamW) on full
/// batches (`bertcls bench step`).
#[derive(Args, Serialize)]
#[command(after_help = "Example:\n  \
    bertcls bench step --input data/r8/train.jsonl --batch-sizes 16,32\n\n\
    Prints one JSON object: for each batch size, the median time of a full fine-tuning step \
    (MiniLM + [CLS] pooler + dropout + linear layer, training mode, cross-entropy, global-norm \
    clipping at 1, AdamW at 5e-5 with weight decay 0.01) on the first texts that fill --max-len \
    tokens, and peak memory. `cargo xtask bench step` runs it beside PyTorch.\n\n  \
    bertcls bench step --input data/r8/train.jsonl --batch-sizes 16 --train-layers 6,2,1\n\n\
    times fine-tuning the top 6, 2 and 1 layers from stored states in one run: the \
    ratios are what `finetune --train-layers K` saves per epoch.")]
pub(crate) struct BenchStepFlags {
    /// The model to time.
    #[command(flatten)]
    #[serde(flatten)]
    pub(crate) model: ModelFlags,
    /// A labelled data file.
    #[command(flatten)]
    #[serde(flatten)]
    pub(crate) input: InputFlags,
    /// Batch sizes to time, smallest first (peak memory is that of the largest).
    #[arg(long, value_delimiter = ',', default_value = "16,32")]
    pub(crate) batch_sizes: Vec<usize>,
    /// Timed steps per batch size, after one warm-up step; the median is reported.
    #[arg(long, default_value_t = 5)]
    pub(crate) repeats: usize,
    /// Time fine-tuning only the top K layers, for each K given (e.g. 6,2,1), from
    /// their stored input states as `finetune --train-layers K` trains; by default
    /// every layer (ordinary fine-tuning). The states are computed before timing, in
    /// memory.
    #[arg(long, value_name = "K,…", value_delimiter = ',')]
    pub(crate) train_layers: Vec<usize>,
}

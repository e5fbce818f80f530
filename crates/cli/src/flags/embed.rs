//! `bertcls embed`.

use std::path::PathBuf;

use bertcls::bert::{Pooling, Precision};
use bertcls::encoder::{LayerSelection, Shard};
use bertcls::{DEFAULT_CACHE_DIR, DEFAULT_STATE_CACHE_DIR, settings};
use clap::Args;
use serde::Serialize;

use super::options::{ForceFlags, InputFlags, ModelFlags};

/// One vector per record, stored in a reusable embedding cache (`bertcls embed`).
#[derive(Args, Serialize)]
#[command(after_help = "Examples:\n  \
    bertcls embed --input data/r8/train.jsonl\n  \
    bertcls embed --input data/r8/test.jsonl --pooling cls --layers mean4 --export-npy r8-test.npy\n\n\
    The same command twice is a cache hit. An interrupted run resumes from its last complete \
    chunk. On a cluster, run `--shard i/N` for i = 0..N-1 as N independent jobs (Slurm array, \
    Kubernetes indexed Job, GNU parallel); `bertcls head` reads the N shard caches as one. \
    With --states-after, each job also writes its shard's states, which `bertcls finetune` \
    finds in --state-cache-dir and merges once into the whole input's state cache.")]
pub(crate) struct EmbedFlags {
    /// The encoder.
    #[command(flatten)]
    #[serde(flatten)]
    pub(crate) model: ModelFlags,
    /// The data file to embed.
    #[command(flatten)]
    #[serde(flatten)]
    pub(crate) input: InputFlags,
    /// The cache to write (a NAME.emb folder). Default: in --cache-dir, named after the
    /// input and the fingerprint of everything that decides the vectors.
    #[arg(long)]
    pub(crate) output: Option<PathBuf>,
    /// Where caches go when --output is not given.
    #[arg(long, default_value = DEFAULT_CACHE_DIR)]
    pub(crate) cache_dir: PathBuf,
    /// How token states become one vector: cls, mean (mask-aware) or max.
    #[arg(long, default_value_t = Pooling::Mean)]
    pub(crate) pooling: Pooling,
    /// Which layers: last, meanK (mean of the last K) or concatK (last K side by side).
    #[arg(long, default_value_t = LayerSelection::Last)]
    #[serde(with = "settings::as_text")]
    pub(crate) layers: LayerSelection,
    /// Scale each vector to unit length.
    #[arg(long)]
    pub(crate) normalize: bool,
    /// What the encoder layers' linear layers compute in: fp32; int8 (CPU backends:
    /// weights quantised per output channel, activations per token, about twice as
    /// fast); or bf16 (CPU backends: about 1.5 times as fast, within 1e-4 of fp32's
    /// vectors). Part of the cache's fingerprint: a head trained on fp32 features
    /// refuses int8 ones, as it refuses another encoder's.
    #[arg(long, default_value_t = Precision::Fp32)]
    #[serde(default)]
    pub(crate) precision: Precision,
    /// Sequences per forward pass (texts are sorted by length first, so padding is small).
    #[arg(long, default_value_t = 32)]
    pub(crate) batch_size: usize,
    /// Rows per checkpointed chunk: what an interrupted run can lose at most.
    #[arg(long, default_value_t = 1024)]
    pub(crate) chunk_size: usize,
    /// Embed only the i-th of N deterministic slices of the input (0-based), e.g. 2/8.
    #[arg(long)]
    #[serde(with = "settings::as_text::option")]
    pub(crate) shard: Option<Shard>,
    /// Also write the vectors as a float32 .npy matrix (records × width) for numpy.
    /// An existing file there is never replaced (an .npy carries no mark of who
    /// wrote it), unless it holds exactly these vectors already. `-`: standard output
    /// (the cache's path is then not printed).
    #[arg(long)]
    pub(crate) export_npy: Option<PathBuf>,
    /// Also cache the token states after each of these layers (0: the embeddings'
    /// output), kept from the same forward pass, in --state-cache-dir: the states that
    /// `bertcls finetune --train-layers K` reads (layer N − K) for the same file at the
    /// same --max-len, so that fine-tuning the top layers skips its own pass.
    #[arg(long, value_delimiter = ',', value_name = "L,…")]
    pub(crate) states_after: Vec<usize>,
    /// Where state caches go (shared with `bertcls finetune --train-layers`).
    #[arg(long, default_value = DEFAULT_STATE_CACHE_DIR)]
    pub(crate) state_cache_dir: PathBuf,
    /// Whether a bertcls artifact of another kind may be replaced.
    #[command(flatten)]
    #[serde(flatten)]
    pub(crate) force: ForceFlags,
}

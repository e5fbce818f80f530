//! `bertcls augment`.

use std::path::PathBuf;

use bertcls::DEFAULT_MODEL;
use clap::Args;
use serde::Serialize;

use super::options::InputFlags;

/// Augmented copies of a data file's records, written as JSONL (`bertcls augment`).
#[derive(Args, Serialize)]
#[command(after_help = "Examples:\n  \
    bertcls augment --input data/r8/train.jsonl --classes grain,ship --copies 3 --swap 0.1 \\\n      \
    --delete 0.1 --typo 0.05 --output grain-ship-augmented.jsonl\n  \
    bertcls augment --input train.csv --neighbour 0.15 --output neighbours.jsonl\n\n\
    Each copy is a function of --seed, the record's position and the copy number. \
    --neighbour replaces words by their nearest neighbour (cosine) in the model's \
    word-embedding table, never by a special token or a word piece.")]
pub(crate) struct AugmentFlags {
    /// The data file to augment.
    #[command(flatten)]
    #[serde(flatten)]
    pub(crate) input: InputFlags,
    /// Where to write the augmented records (JSONL; ids get #aug1, #aug2, …; `-`:
    /// standard output).
    #[arg(long)]
    pub(crate) output: PathBuf,
    /// Augmented copies per record.
    #[arg(long, default_value_t = 1)]
    pub(crate) copies: usize,
    /// Augment only the records of these classes (default: all).
    #[arg(long, value_delimiter = ',')]
    pub(crate) classes: Vec<String>,
    /// Also write every input record, unchanged, before its copies.
    #[arg(long)]
    pub(crate) keep_original: bool,
    /// Swaps of two random words, as a share of a text's words.
    #[arg(long, default_value_t = 0.0)]
    pub(crate) swap: f64,
    /// Probability of deleting each word (one always stays).
    #[arg(long, default_value_t = 0.0)]
    pub(crate) delete: f64,
    /// Insertions of one of the text's own words at a random place, as a share.
    #[arg(long, default_value_t = 0.0)]
    pub(crate) insert: f64,
    /// Probability of one typo in each word.
    #[arg(long, default_value_t = 0.0)]
    pub(crate) typo: f64,
    /// Probability of replacing each word by its nearest neighbour in --model's
    /// word embeddings.
    #[arg(long, default_value_t = 0.0)]
    pub(crate) neighbour: f64,
    /// The BERT folder whose word embeddings --neighbour uses.
    #[arg(long, default_value = DEFAULT_MODEL)]
    pub(crate) model: PathBuf,
    /// Seed of every random choice: the same seed writes the same copies.
    #[arg(long, default_value_t = 42)]
    pub(crate) seed: u64,
}

//! `bertcls zero-shot`.

use std::path::PathBuf;

use bertcls::bert::BackendKind;
use bertcls::data::LabelledText;
use bertcls::head::DEFAULT_TEMPLATE;
use clap::Args;
use serde::Serialize;

/// Classify cached texts with no training, by their similarity to descriptions of
/// the labels embedded by the same encoder (`bertcls zero-shot`).
#[derive(Args, Serialize)]
#[command(after_help = "Examples:\n  \
    bertcls zero-shot --cache r8/test.emb --output zero-shot.jsonl\n  \
    bertcls zero-shot --cache r8/test.emb --describe 'grain=Wheat, corn and grain harvests.' \\\n      \
    --calibrate --output zero-shot.jsonl\n  \
    bertcls zero-shot --cache r8/test.emb --descriptions labels.toml --calibrate r8/train.emb \\\n      \
    --output zero-shot.jsonl\n\n\
    labels.toml has one entry per label, a description or a list of them:\n  \
    grain = [\"Wheat, corn and grain harvests.\", \"Crop exports.\"]\n  \
    earn = \"A company reports its quarterly earnings.\"\n\n\
    The descriptions are embedded by the encoder that built the cache (its model, max_len, \
    pooling and layers), so texts and descriptions are vectors of one space. A text's class \
    is the label whose descriptions have the highest mean cosine similarity with it. \
    `probabilities` in the output are a softmax of the similarities at temperature 0.05: \
    they rank, they are not calibrated. --calibrate subtracts each label's mean similarity \
    over unlabeled texts, a prior correction for descriptions that sit close to every text; \
    with labelled texts both reports are printed, so its effect is measured.")]
pub(crate) struct ZeroShotFlags {
    /// Embedding cache(s) of the texts to classify (`bertcls embed`; shards allowed).
    #[arg(long, num_args = 1.., required = true)]
    pub(crate) cache: Vec<PathBuf>,
    /// The labels [default: those of the cache's records, else of --descriptions].
    #[arg(long, value_delimiter = ',')]
    pub(crate) labels: Vec<String>,
    /// A TOML file of descriptions: `label = "text"` or `label = ["text", …]`.
    #[arg(long, value_name = "FILE")]
    pub(crate) descriptions: Option<PathBuf>,
    /// A description on the command line, `LABEL=TEXT`; repeat for more.
    #[arg(long = "describe", value_name = "LABEL=TEXT")]
    pub(crate) describe: Vec<LabelledText>,
    /// The description of a label that has none: `{label}` is replaced by its name.
    #[arg(long, default_value = DEFAULT_TEMPLATE)]
    pub(crate) template: String,
    /// Subtract each label's mean similarity over unlabeled texts: those of the given
    /// caches, or with no value those of --cache itself (their labels are not used).
    #[arg(long, num_args = 0.., value_name = "CACHE")]
    pub(crate) calibrate: Option<Vec<PathBuf>>,
    /// The model folder, when it moved since the cache was built [default: the one
    /// recorded in the cache].
    #[arg(long)]
    pub(crate) model: Option<PathBuf>,
    /// Where to write one JSON line per record: id, predicted label, probabilities
    /// (`-`: standard output).
    #[arg(long)]
    pub(crate) output: PathBuf,
    /// Where the descriptions are embedded.
    #[arg(long, default_value_t = BackendKind::Flex)]
    pub(crate) backend: BackendKind,
}

//! `bertcls head train|sweep|predict`.

use std::path::PathBuf;

use bertcls::bert::BackendKind;
use bertcls::head::Combine;
use clap::Args;
use serde::Serialize;

use super::options::{ColumnsFlags, DecisionFlags, FeatureCachesFlags, ForceFlags, GridFlags};

/// Train one head over cached features and save it; or bag or boost an ensemble of
/// heads; or cross-validate one (`bertcls head train`).
#[derive(Args, Serialize)]
#[command(
    after_help = "Example:\n  bertcls head train --train train.emb --valid valid.emb --hidden 256 --dropout 0.2 --out r8.head"
)]
pub(crate) struct TrainHeadFlags {
    /// The training and validation features.
    #[command(flatten)]
    #[serde(flatten)]
    pub(crate) caches: FeatureCachesFlags,
    /// The head's architecture and training settings.
    #[command(flatten)]
    #[serde(flatten)]
    pub(crate) grid: GridFlags,
    /// How probabilities become a class.
    #[command(flatten)]
    #[serde(flatten)]
    pub(crate) decision: DecisionFlags,
    /// Bagging: M heads, each trained on its own bootstrap sample of the training
    /// features, saved as one ensemble (OUT/ensemble.json; `bertcls predict --model
    /// OUT` uses it).
    #[arg(long, value_name = "M", conflicts_with = "boost")]
    pub(crate) bag: Option<usize>,
    /// How a bagged ensemble combines its heads: mean (of probabilities) or vote.
    #[arg(long, default_value_t = Combine::Mean, requires = "bag")]
    pub(crate) combine: Combine,
    /// Boosting (SAMME, multi-class AdaBoost): up to M heads in turn, each trained with
    /// the examples its predecessor misclassified weighted up; they vote, weighted by
    /// their training accuracy. Needs the cross-entropy loss.
    #[arg(long, value_name = "M")]
    pub(crate) boost: Option<usize>,
    /// Stratified K-fold cross-validation over the training cache instead of one
    /// head: each fold's head trains on the other folds (early stopping on --valid)
    /// and is scored on its own; OUT/cv.json gets every metric's mean ± std,
    /// OUT/cv-predictions.jsonl the out-of-fold predictions.
    #[arg(long, value_name = "K", conflicts_with_all = ["bag", "boost", "logit_adjust", "threshold"])]
    pub(crate) cv: Option<usize>,
    /// Where to save the head (a folder).
    #[arg(long)]
    pub(crate) out: PathBuf,
    /// Whether a bertcls artifact of another kind may be replaced.
    #[command(flatten)]
    #[serde(flatten)]
    pub(crate) force: ForceFlags,
}

/// Train a grid of heads over cached features, rank them on validation, save the
/// best (`bertcls head sweep`).
#[derive(Args, Serialize)]
#[command(after_help = "Examples:\n  \
    bertcls head sweep --train train.emb --valid valid.emb --out sweeps/r8\n  \
    bertcls head sweep --train train.emb --valid valid.emb --hidden linear,256 --lr 1e-3,1e-2 --l2 0,1e-4\n  \
    bertcls head sweep --train train.emb --valid valid.emb --grid-file sweep.toml\n\n\
    A grid file sets any of: hidden = [[], [256]], learning_rates, l2, l1, dropout, batch_norm, \
    optimizers, and [base] settings (epochs, batch_size, patience, seed, …); flags override it.")]
pub(crate) struct SweepFlags {
    /// The training and validation features.
    #[command(flatten)]
    #[serde(flatten)]
    pub(crate) caches: FeatureCachesFlags,
    /// The settings every head of the grid shares.
    #[command(flatten)]
    #[serde(flatten)]
    pub(crate) grid: GridFlags,
    /// A decision rule for the best head (applied after the ranking).
    #[command(flatten)]
    #[serde(flatten)]
    pub(crate) decision: DecisionFlags,
    /// A TOML file with the grid (see the example above).
    #[arg(long)]
    pub(crate) grid_file: Option<PathBuf>,
    /// Random search: train only N configurations drawn from the grid (seeded by --seed).
    #[arg(long)]
    pub(crate) random: Option<usize>,
    /// Heads trained at once (default: one per core). Results do not depend on it.
    #[arg(long)]
    pub(crate) jobs: Option<usize>,
    /// Folder for leaderboard.json, leaderboard.csv and best.head/.
    #[arg(long)]
    pub(crate) out: PathBuf,
    /// Whether a bertcls artifact of another kind may be replaced.
    #[command(flatten)]
    #[serde(flatten)]
    pub(crate) force: ForceFlags,
}

/// Classify a cache, or a text file embedded on the fly as the head's features were
/// (`bertcls head predict`).
#[derive(Args, Serialize)]
#[command(after_help = "Examples:\n  \
    bertcls head predict --head sweeps/r8/best.head --cache test.emb --output predictions.jsonl\n  \
    bertcls head predict --head sweeps/r8/best.head --input new.csv --output predictions.jsonl\n\n\
    With labelled data, the metric report is printed too.")]
pub(crate) struct PredictHeadFlags {
    /// A saved head folder (`head train --out`, or best.head of a sweep).
    #[arg(long)]
    pub(crate) head: PathBuf,
    /// Embedding cache(s) to classify (shards allowed). Or give --input.
    #[arg(long, num_args = 1.., conflicts_with = "input")]
    pub(crate) cache: Vec<PathBuf>,
    /// A data file (JSONL, CSV or TSV) to embed and classify. Or give --cache.
    #[arg(long)]
    pub(crate) input: Option<PathBuf>,
    /// How a text file is read.
    #[command(flatten)]
    #[serde(flatten)]
    pub(crate) columns: ColumnsFlags,
    /// The model folder, when it moved since the head was trained (default: the one recorded).
    #[arg(long)]
    pub(crate) model: Option<PathBuf>,
    /// Where to write one JSON line per record: id, predicted label, probabilities
    /// (`-`: standard output).
    #[arg(long)]
    pub(crate) output: PathBuf,
    /// Where the head (and the encoder, for --input) runs.
    #[arg(long, default_value_t = BackendKind::Flex)]
    pub(crate) backend: BackendKind,
}

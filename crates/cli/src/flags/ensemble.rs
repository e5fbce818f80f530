//! `bertcls ensemble`.

use std::path::PathBuf;

use bertcls::bert::{BackendKind, Precision};
use bertcls::head::Combine;
use clap::Args;
use serde::Serialize;

use super::options::{ColumnsFlags, ForceFlags};

/// Combine saved classifiers into one, measured against its best member
/// (`bertcls ensemble`).
#[derive(Args, Serialize)]
#[command(after_help = "Examples:\n  \
    bertcls ensemble --member runs/r8-s42 runs/r8-s43 runs/r8-s44 --out runs/r8-seeds \\\n      \
    --evaluate data/r8/test.jsonl        # seed averaging, against the best seed\n  \
    bertcls ensemble --member runs/r8 sweeps/r8/best.head --combine vote --out runs/r8-mixed\n  \
    bertcls predict --model runs/r8-seeds --input new.jsonl\n\n\
    OUT/ensemble.json lists the members (absolute paths) and their weights; `predict` and \
    `evaluate` take OUT like any model. With --evaluate, OUT/evaluation.json holds every \
    member's report and the ensemble's.")]
pub(crate) struct EnsembleFlags {
    /// The members: fine-tuned models (`finetune`'s OUT), saved heads (texts are
    /// embedded as each head's features were) or other ensembles, in any mix. They
    /// must predict the same classes.
    #[arg(long, required = true, num_args = 1..)]
    pub(crate) member: Vec<PathBuf>,
    /// Each member's weight, in order (default: 1 each).
    #[arg(long, value_delimiter = ',')]
    pub(crate) weights: Vec<f64>,
    /// mean (of probabilities; the usual choice for calibrated members) or vote
    /// (each member's top class).
    #[arg(long, default_value_t = Combine::Mean)]
    pub(crate) combine: Combine,
    /// Labelled data to measure the ensemble and each member on (argmax decisions).
    #[arg(long)]
    pub(crate) evaluate: Option<PathBuf>,
    /// How `evaluate`'s file is read.
    #[command(flatten)]
    #[serde(flatten)]
    pub(crate) columns: ColumnsFlags,
    /// The ensemble's folder.
    #[arg(long)]
    pub(crate) out: PathBuf,
    /// Whether a bertcls artifact of another kind may be replaced.
    #[command(flatten)]
    #[serde(flatten)]
    pub(crate) force: ForceFlags,
    /// flex (CPU, default), ndarray (CPU) or wgpu (GPU).
    #[arg(long, default_value_t = BackendKind::Flex)]
    pub(crate) backend: BackendKind,
    /// Texts per forward pass.
    #[arg(long, default_value_t = 32)]
    pub(crate) batch_size: usize,
    /// What the members' encoders compute in when --evaluate measures them: fp32, int8
    /// or bf16 (CPU backends), as `bertcls evaluate --precision` [default: as saved].
    /// Not saved with the ensemble: `predict` and `evaluate` choose again.
    #[arg(long)]
    #[serde(default)]
    pub(crate) precision: Option<Precision>,
}

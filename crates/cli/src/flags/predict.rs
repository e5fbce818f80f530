//! `bertcls predict` and `bertcls evaluate`.

use std::path::PathBuf;

use clap::Args;
use serde::Serialize;

use super::options::{ClassifierFlags, ColumnsFlags, InputFlags};

/// Classify texts (a file, or a stream one per line) with a fine-tuned model, a
/// saved head or an ensemble (`bertcls predict`).
#[derive(Args, Serialize)]
#[command(after_help = "Examples:\n  \
    bertcls predict --model runs/r8 --input new.jsonl --output predictions.jsonl\n  \
    echo 'oil prices rose sharply' | bertcls predict --model runs/r8\n\n\
    Each prediction is a JSON line: id, label, true_label (when the input has one) and \
    the probability of every class. Labelled input also prints the metric report.")]
pub(crate) struct PredictFlags {
    /// The saved model.
    #[command(flatten)]
    #[serde(flatten)]
    pub(crate) classifier: ClassifierFlags,
    /// Data file (JSONL, CSV or TSV; `-`: standard input in one of those formats).
    /// Without it, texts are read from standard input as plain lines, one text each.
    #[arg(long)]
    pub(crate) input: Option<PathBuf>,
    /// How the input is read.
    #[command(flatten)]
    #[serde(flatten)]
    pub(crate) columns: ColumnsFlags,
    /// Where to write the JSON lines (`-` or default: standard output; a device or
    /// named pipe is written in place).
    #[arg(long)]
    pub(crate) output: Option<PathBuf>,
}

/// The full metric report of a saved classifier on labelled data (`bertcls
/// evaluate`).
#[derive(Args, Serialize)]
#[command(after_help = "Example:\n  \
    bertcls evaluate --model runs/r8 --input data/r8/test.jsonl --json runs/r8/test.json")]
pub(crate) struct EvaluateFlags {
    /// The saved model.
    #[command(flatten)]
    #[serde(flatten)]
    pub(crate) classifier: ClassifierFlags,
    /// The labelled data file.
    #[command(flatten)]
    #[serde(flatten)]
    pub(crate) input: InputFlags,
    /// Also write the report as JSON here (`-`: standard output).
    #[arg(long)]
    pub(crate) json: Option<PathBuf>,
}

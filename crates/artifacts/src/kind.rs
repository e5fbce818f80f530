//! The kinds of things bertcls writes, and how each is recognised.

use std::fmt;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use serde::{Deserialize, Serialize};

/// A folder bertcls writes. The kind is recorded in the folder's marker, so a later
/// run knows what it may replace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ArtifactKind {
    /// `bertcls embed`'s output: one vector per record.
    EmbeddingCache,
    /// The token states after a frozen bottom stack of layers, for fine-tuning the
    /// layers above them (`finetune --train-layers`).
    StateCache,
    /// A trained pipeline head.
    Head,
    /// Saved classifiers combined (`ensemble.json`).
    Ensemble,
    /// A fine-tuned classifier as a Hugging Face folder.
    FineTunedModel,
    /// `bertcls finetune --out`: the model, `training.json` and the checkpoint.
    FineTuneRun,
    /// What `--resume` continues from.
    Checkpoint,
    /// `bertcls head sweep --out`: leaderboards and the best head.
    HeadSweep,
    /// `--cv K` output: fold reports and out-of-fold predictions.
    CrossValidation,
    /// One comparison's report folder.
    Comparison,
    /// A study (`compare --suite`): its comparisons and summary.
    Study,
    /// Data splits a comparison derived from the user's files.
    DataSplits,
}

impl ArtifactKind {
    /// The kind in words, for messages.
    pub fn noun(self) -> &'static str {
        match self {
            ArtifactKind::EmbeddingCache => "embedding cache",
            ArtifactKind::StateCache => "state cache",
            ArtifactKind::Head => "head",
            ArtifactKind::Ensemble => "ensemble",
            ArtifactKind::FineTunedModel => "fine-tuned model",
            ArtifactKind::FineTuneRun => "fine-tuning run folder",
            ArtifactKind::Checkpoint => "checkpoint",
            ArtifactKind::HeadSweep => "head sweep",
            ArtifactKind::CrossValidation => "cross-validation",
            ArtifactKind::Comparison => "comparison report",
            ArtifactKind::Study => "study",
            ArtifactKind::DataSplits => "set of derived data splits",
        }
    }

    /// Files (relative paths) that together mark a folder as this kind of artifact
    /// written by a bertcls that predates markers; any one set is enough.
    pub(crate) fn legacy_signatures(self) -> &'static [&'static [&'static str]] {
        match self {
            ArtifactKind::EmbeddingCache => &[&["meta.json", "vectors.f32"]],
            // Newer than markers: every state cache carries one.
            ArtifactKind::StateCache => &[],
            ArtifactKind::Head => &[&["head.json", "weights.bpk"]],
            ArtifactKind::Ensemble => &[&["ensemble.json"]],
            ArtifactKind::FineTunedModel => &[&["bertcls.json", "config.json"]],
            ArtifactKind::FineTuneRun => &[
                &["training.json"],
                &["checkpoint/state.json"],
                &["model/bertcls.json"],
            ],
            ArtifactKind::Checkpoint => &[&["state.json", "model.bpk"]],
            ArtifactKind::HeadSweep => &[&["leaderboard.json"]],
            ArtifactKind::CrossValidation => &[&["cv.json"]],
            ArtifactKind::Comparison => &[&["results.json"]],
            ArtifactKind::Study => &[&["study.json"], &["few-shot.json"], &["robustness.json"]],
            ArtifactKind::DataSplits => &[
                &["manifest.json", "train.jsonl"],
                &["train.jsonl", "validation.jsonl", "test.jsonl"],
            ],
        }
    }

    /// Every kind, for recognising a folder's.
    pub(crate) const ALL: [ArtifactKind; 12] = [
        ArtifactKind::EmbeddingCache,
        ArtifactKind::StateCache,
        ArtifactKind::Head,
        ArtifactKind::Ensemble,
        ArtifactKind::FineTunedModel,
        ArtifactKind::FineTuneRun,
        ArtifactKind::Checkpoint,
        ArtifactKind::HeadSweep,
        ArtifactKind::CrossValidation,
        ArtifactKind::Comparison,
        ArtifactKind::Study,
        ArtifactKind::DataSplits,
    ];

    /// The kind an unmarked folder's files say it is, if any.
    pub(crate) fn of_legacy_folder(dir: &Path) -> Option<ArtifactKind> {
        Self::ALL.into_iter().find(|kind| {
            kind.legacy_signatures()
                .iter()
                .any(|files| files.iter().all(|f| dir.join(f).is_file()))
        })
    }
}

impl fmt::Display for ArtifactKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.noun())
    }
}

/// A single file bertcls writes at a path the user names. Files carry no marker, so
/// an existing one is recognised by its content: only a file bertcls would have
/// written is replaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// JSON lines with an id, a label and the probabilities of every class.
    Predictions,
    /// A metric report as JSON (`evaluate --json`).
    MetricReport,
    /// Augmented records as JSON lines (`bertcls augment`; ids end in `#augN`).
    AugmentedRecords,
    /// A float32 matrix as `.npy`. Its format has no room for a mark, so an existing
    /// one is never replaced (unless it holds exactly what would be written).
    NumpyMatrix,
}

/// How much of an existing file is read to recognise it.
const SNIFF_BYTES: u64 = 1 << 20;
/// Lines of JSON lines scanned for an augmented record's id.
const SNIFF_LINES: usize = 1000;

impl FileKind {
    /// The kind in words, for messages.
    pub fn noun(self) -> &'static str {
        match self {
            FileKind::Predictions => "predictions file",
            FileKind::MetricReport => "metric report",
            FileKind::AugmentedRecords => "file of augmented records",
            FileKind::NumpyMatrix => ".npy matrix",
        }
    }

    /// True when the file at `path` looks like one bertcls wrote as this kind.
    pub(crate) fn recognises(self, path: &Path) -> bool {
        let Ok(file) = std::fs::File::open(path) else {
            return false;
        };
        let mut reader = BufReader::new(file.take(SNIFF_BYTES));
        let object = |line: &str| {
            serde_json::from_str::<serde_json::Value>(line)
                .ok()
                .and_then(|v| v.as_object().cloned())
        };
        match self {
            FileKind::Predictions => {
                let first = reader
                    .lines()
                    .map_while(Result::ok)
                    .find(|l| !l.trim().is_empty());
                first.and_then(|l| object(&l)).is_some_and(|o| {
                    o.contains_key("id")
                        && o.contains_key("label")
                        && o.contains_key("probabilities")
                })
            }
            FileKind::MetricReport => {
                let mut text = String::new();
                reader.read_to_string(&mut text).is_ok()
                    && object(&text).is_some_and(|o| {
                        ["accuracy", "macro_f1", "per_class", "confusion"]
                            .iter()
                            .all(|k| o.contains_key(*k))
                    })
            }
            FileKind::AugmentedRecords => reader
                .lines()
                .map_while(Result::ok)
                .take(SNIFF_LINES)
                .filter_map(|l| object(&l))
                .any(|o| {
                    o.get("id")
                        .and_then(|id| id.as_str())
                        .is_some_and(|id| id.contains("#aug"))
                }),
            FileKind::NumpyMatrix => false,
        }
    }
}

impl fmt::Display for FileKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.noun())
    }
}

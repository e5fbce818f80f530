//! `results.json`: everything a comparison measured, with what it was measured on.

use metrics::{ClassScores, ClassificationReport};
use serde::{Deserialize, Serialize};

use crate::Stat;

/// One comparison of the two modes on one data set (the content of `results.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    /// `bertcls` version that produced it.
    pub version: String,
    /// Seconds since the Unix epoch when the run started.
    pub started_unix: u64,
    /// Wall time of the whole comparison, both modes, every seed.
    pub wall_seconds: f64,
    /// Where it ran.
    pub environment: Environment,
    /// The data set.
    pub data: DataInfo,
    /// Every setting that decides the numbers.
    pub settings: Settings,
    /// Frozen encoder, cached features, the best head of a sweep.
    pub pipeline: ModeResult,
    /// Encoder and head fine-tuned together.
    pub end_to_end: ModeResult,
    /// The points between the two modes: only the top encoder layers fine-tuned
    /// (absent from comparisons made before the frontier existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frontier: Option<Frontier>,
    /// Contrastive tuning of the encoder on pairs of examples, then a linear head
    /// (SetFit), when the comparison ran it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contrastive: Option<ModeResult>,
    /// The first seed's sweep, best first (validation macro-F1).
    pub leaderboard: Vec<LeaderboardEntry>,
    /// The `bertcls` commands that reproduce each stage, in order.
    pub commands: Vec<String>,
}

/// The layer frontier: how much of end-to-end's gain each trained layer buys. Its
/// ends are the comparison's two modes: 0 layers trained is the pipeline, all
/// `layers` is end-to-end fine-tuning.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Frontier {
    /// The fine-tuned model's encoder layers (N).
    pub layers: usize,
    /// The points strictly between the ends, fewest trained layers first.
    pub points: Vec<FrontierPoint>,
}

/// Fine-tuning the top `trained_layers` encoder layers (with the pooler and the head)
/// over the cached states of the frozen layers below.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FrontierPoint {
    /// K: the encoder layers trained.
    pub trained_layers: usize,
    /// Its runs, one per seed.
    pub mode: ModeResult,
}

/// Where it ran.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Environment {
    /// The burn backend (flex, ndarray, wgpu).
    pub backend: String,
    /// The operating system.
    pub os: String,
    /// The CPU's model name.
    pub cpu: String,
    /// Logical cores.
    pub cores: usize,
    /// Total memory, where it can be read.
    pub memory_gib: Option<f64>,
    /// The burn version bertcls was built with.
    pub burn_version: String,
}

/// The data set: sizes, classes, and the checksums that identify it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataInfo {
    /// The data set's name (`r8`, or the folder's name).
    pub name: String,
    /// Class names, in the models' index order.
    pub classes: Vec<String>,
    /// Training examples per class, same order as `classes`.
    pub train_counts: Vec<usize>,
    /// Training examples.
    pub train: usize,
    /// Validation examples.
    pub validation: usize,
    /// Test examples.
    pub test: usize,
    /// Each split file and its SHA-256.
    pub files: Vec<DataFile>,
    /// How the splits were made when they were not given (held out, subset for a quick run).
    pub derivation: Option<String>,
    /// The data folder's `manifest.json`, when it has one (source, checksums, notes).
    pub manifest: Option<serde_json::Value>,
}

/// A split file and its checksum.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataFile {
    /// `train`, `validation` or `test`.
    pub split: String,
    /// The file, as given.
    pub path: String,
    /// Its SHA-256.
    pub sha256: String,
}

impl DataInfo {
    /// The class with the fewest training examples (the first of ties).
    pub fn rarest_class(&self) -> Option<&str> {
        self.train_counts
            .iter()
            .enumerate()
            .min_by_key(|&(_, n)| *n)
            .map(|(i, _)| self.classes[i].as_str())
    }
}

/// Every setting that decides the numbers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    /// The model folder.
    pub model: String,
    /// Tokens per sequence.
    pub max_len: usize,
    /// The seeds every mode ran with.
    pub seeds: Vec<u64>,
    /// Whether this was a `quick` run (subsets, a short recipe).
    pub quick: bool,
    /// Embedding options of the pipeline (pooling, layers, …).
    pub embedding: serde_json::Value,
    /// The head sweep grid.
    pub sweep: serde_json::Value,
    /// The fine-tuning recipe and classifier.
    pub fine_tune: serde_json::Value,
}

/// One mode's runs, one per seed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModeResult {
    /// What the model is, in words.
    pub description: String,
    /// One run per seed.
    pub runs: Vec<RunResult>,
}

/// One mode, one seed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunResult {
    /// The seed.
    pub seed: u64,
    /// The selected model on the test set.
    pub test: ClassificationReport,
    /// Validation macro-F1 of the selected model (what selected it).
    pub valid_macro_f1: f64,
    /// What producing the model cost from scratch: for the pipeline, embedding the
    /// training and validation data plus the whole sweep; for end-to-end, fine-tuning
    /// with its validation passes.
    pub train_seconds: f64,
    /// The parts of `train_seconds`, named (embedding, sweep, …).
    pub cost_breakdown: Vec<(String, f64)>,
    /// Test documents per second from text to prediction.
    pub inference_docs_per_second: f64,
    /// Peak resident memory while this mode ran (the process baseline included).
    pub peak_rss_mib: Option<f64>,
    /// Bytes on disk needed to classify new text (for the pipeline: the frozen
    /// encoder's files plus the head).
    pub model_bytes: u64,
    /// Validation curve of the selected model, one point per evaluation.
    pub curve: Vec<CurvePoint>,
    /// Every model trained in this run: its cost and validation macro-F1.
    pub cost_points: Vec<CostPoint>,
}

/// One evaluation during training.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CurvePoint {
    /// Epochs done, fractional between epoch ends.
    pub epoch: f64,
    /// Mean training loss since the previous point.
    pub train_loss: f64,
    /// Validation loss.
    pub valid_loss: f64,
    /// Validation macro-F1.
    pub valid_macro_f1: f64,
}

/// A trained model's cost and quality, for the quality-against-cost chart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CostPoint {
    /// The model, in words.
    pub label: String,
    /// What training it cost.
    pub seconds: f64,
    /// Its validation macro-F1.
    pub valid_macro_f1: f64,
}

/// One head of the sweep.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LeaderboardEntry {
    /// The head's settings, in words.
    pub configuration: String,
    /// Validation macro-F1.
    pub valid_macro_f1: f64,
    /// Validation accuracy.
    pub valid_accuracy: f64,
    /// Training wall time.
    pub seconds: f64,
}

impl ModeResult {
    /// Mean and spread of one number over the seeds.
    pub fn stat(&self, value: impl Fn(&RunResult) -> f64) -> Stat {
        Stat::of(self.runs.iter().map(value))
    }

    /// Mean and spread of one class's test F1 over the seeds (0 where it is absent).
    pub fn class_f1(&self, label: &str) -> Stat {
        self.stat(|r| class_scores(&r.test, label).map_or(0.0, |s| s.f1))
    }

    /// Mean and spread of the peak memory, over the runs that could measure it.
    pub fn peak_rss(&self) -> Option<Stat> {
        let values: Vec<f64> = self.runs.iter().filter_map(|r| r.peak_rss_mib).collect();
        (!values.is_empty()).then(|| Stat::of(values))
    }
}

/// Contrastive tuning's name in the reports.
pub const CONTRASTIVE_NAME: &str = "contrastive (SetFit)";

/// A class's scores in a report, by name.
pub fn class_scores<'a>(report: &'a ClassificationReport, label: &str) -> Option<&'a ClassScores> {
    report.per_class.iter().find(|s| s.label == label)
}

impl Comparison {
    /// The two modes with their display names, pipeline first.
    pub fn modes(&self) -> [(&'static str, &ModeResult); 2] {
        [
            ("pipeline", &self.pipeline),
            ("end-to-end", &self.end_to_end),
        ]
    }

    /// Every model the comparison trained, with its display name: the pipeline, the
    /// frontier's points (`top K of N`), end-to-end, cheapest first; then
    /// contrastive tuning, when it ran.
    pub fn points(&self) -> Vec<(String, &ModeResult)> {
        let mut points = vec![("pipeline".to_owned(), &self.pipeline)];
        if let Some(frontier) = &self.frontier {
            points.extend(
                frontier
                    .points
                    .iter()
                    .map(|p| (p.name(frontier.layers), &p.mode)),
            );
        }
        points.push(("end-to-end".to_owned(), &self.end_to_end));
        if let Some(contrastive) = &self.contrastive {
            points.push((CONTRASTIVE_NAME.to_owned(), contrastive));
        }
        points
    }

    /// The frontier from end to end, `(layers trained, runs)`: (0, the pipeline), the
    /// points, (N, end-to-end); `None` when the comparison has no frontier.
    pub fn frontier_curve(&self) -> Option<Vec<(usize, &ModeResult)>> {
        let frontier = self.frontier.as_ref()?;
        let mut curve = vec![(0, &self.pipeline)];
        curve.extend(frontier.points.iter().map(|p| (p.trained_layers, &p.mode)));
        curve.push((frontier.layers, &self.end_to_end));
        Some(curve)
    }
}

impl FrontierPoint {
    /// `top 2 of 6`.
    pub fn name(&self, layers: usize) -> String {
        format!("top {} of {layers}", self.trained_layers)
    }
}

//! What a fine-tuning run leaves: the outcome, the run's files and `training.json`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use joint::{ClassifierConfig, EvalRecord, FineTuneConfig, StopReason};
use metrics::ClassificationReport;
use serde::{Deserialize, Serialize};

use crate::machine;

use super::FineTuneJob;
use super::prepare::{LoadedRun, StatesUsed};

/// The kept model's predictions on the test file, in the run folder.
pub const TEST_PREDICTIONS_FILE: &str = "test-predictions.jsonl";

/// What a [`FineTuneJob`](super::FineTuneJob) made.
#[derive(Debug)]
pub enum FineTuneOutcome {
    /// One run: its model, `training.json` and reports.
    Trained(Box<FineTuneRun>),
    /// A cross-validation: a run per fold in `out/fold-N`, the summary in `out`.
    CrossValidation {
        /// The folder of cv.json and the folds.
        out: PathBuf,
        /// Every fold's report and every metric's mean ± std.
        cv: report::CrossValidation,
    },
}

impl FineTuneOutcome {
    /// The one run (not a cross-validation).
    pub fn trained(&self) -> Option<&FineTuneRun> {
        match self {
            FineTuneOutcome::Trained(run) => Some(run),
            FineTuneOutcome::CrossValidation { .. } => None,
        }
    }

    /// The folder to hand on: the saved model, or the cross-validation's folder.
    pub fn path(&self) -> &Path {
        match self {
            FineTuneOutcome::Trained(run) => &run.model_dir,
            FineTuneOutcome::CrossValidation { out, .. } => out,
        }
    }
}

/// A finished fine-tuning run.
#[derive(Debug)]
pub struct FineTuneRun {
    /// The saved best model (a Hugging Face folder).
    pub model_dir: PathBuf,
    /// Where `summary` was written.
    pub summary_path: PathBuf,
    /// Time spent training, validation passes included.
    pub train_seconds: f64,
    /// Everything `training.json` holds.
    pub summary: TrainingSummary,
}

impl FineTuneRun {
    /// How the run ended, the kept evaluation and the reports, and where it was
    /// saved: lines for a terminal or a log.
    pub fn summary_lines(&self) -> Vec<String> {
        let summary = &self.summary;
        let mut lines = summary.ending();
        if let (Some(best), Some(report)) = (&summary.best, &summary.valid) {
            lines.push(format!(
                "best evaluation: step {} (epoch {:.2}); validation:",
                best.step, best.epoch
            ));
            lines.push(report::classification_text(report, false));
        }
        if let (Some(report), Some(docs_per_second)) = (&summary.test, summary.test_docs_per_second)
        {
            lines.push(format!("test ({docs_per_second:.1} docs/s):"));
            lines.push(report::classification_text(report, true));
        }
        lines.push(format!(
            "saved {} and {}",
            self.model_dir.display(),
            self.summary_path.display()
        ));
        lines
    }
}

/// `training.json`: the settings, the learning curves and the metrics of a run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrainingSummary {
    /// The base model folder.
    pub model: PathBuf,
    /// The backend it ran on.
    pub backend: bert::BackendKind,
    /// Tokens per sequence.
    pub max_len: usize,
    /// Encoder layers trained.
    pub num_layers: usize,
    /// The classifier as built.
    pub classifier: ClassifierConfig,
    /// The recipe.
    pub config: FineTuneConfig,
    /// The pairs of contrastive tuning, when the encoder was tuned on pairs (then
    /// the steps, the speed and the history's training loss are the pairs').
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contrastive: Option<joint::ContrastiveConfig>,
    /// The classes, in the order of the model's outputs.
    pub labels: Vec<String>,
    /// Training examples, and augmented variants among the rows.
    pub train_examples: usize,
    /// Augmented variants trained on besides the examples.
    pub augmented_variants: usize,
    /// Whether the training data was a bootstrap sample.
    pub bootstrap: bool,
    /// Validation examples.
    pub valid_examples: usize,
    /// Why training ended.
    pub stop: StopReason,
    /// Optimizer steps.
    pub steps: usize,
    /// The evaluation whose model was kept.
    pub best: Option<EvalRecord>,
    /// One record per evaluation.
    pub history: Vec<EvalRecord>,
    /// The kept model on validation.
    pub valid: Option<ClassificationReport>,
    /// The kept model on the test file.
    pub test: Option<ClassificationReport>,
    /// Inference speed on the test file.
    pub test_docs_per_second: Option<f64>,
    /// Time in training steps, evaluation excluded.
    pub train_seconds: f64,
    /// Training examples per second of training time.
    pub train_docs_per_second: f64,
    /// The adversary's passes per batch, as trained.
    pub adversary: joint::Adversary,
    /// Forward/backward passes, the adversarial ones included.
    pub passes: usize,
    /// Batches trained on.
    pub batches: usize,
    /// The whole run's wall time.
    pub wall_seconds: f64,
    /// Peak resident memory, where it can be read.
    pub peak_rss_mib: Option<f64>,
    /// The state caches read in place of the frozen bottom layers (`--train-layers`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub states: Vec<StatesUsed>,
}

impl TrainingSummary {
    pub(super) fn of(
        job: &FineTuneJob,
        run: &LoadedRun,
        outcome: &joint::FineTuned,
        test: Option<&(ClassificationReport, f64)>,
        started: Instant,
    ) -> Self {
        Self {
            model: job.model.model.clone(),
            backend: job.model.backend,
            max_len: job.model.max_len,
            num_layers: run.parts.config.num_hidden_layers,
            classifier: run.classifier.clone(),
            config: run.config.clone(),
            contrastive: job.contrastive.then(|| job.contrastive_pairs.clone()),
            labels: run.labels.names().to_vec(),
            train_examples: run.train.originals(),
            augmented_variants: run.train.variants,
            bootstrap: job.bootstrap,
            valid_examples: run.valid.len(),
            stop: outcome.stop,
            steps: outcome.steps,
            best: outcome.best_record().cloned(),
            history: outcome.history.clone(),
            valid: outcome.valid_report.clone(),
            test: test.map(|(r, _)| r.clone()),
            test_docs_per_second: test.map(|(_, d)| *d),
            train_seconds: outcome.train_seconds,
            train_docs_per_second: outcome.examples_per_second(),
            adversary: run.config.adversary,
            passes: outcome.passes,
            batches: outcome.batches,
            wall_seconds: started.elapsed().as_secs_f64(),
            peak_rss_mib: machine::peak_rss_mib(),
            states: run.states.clone(),
        }
    }

    /// The `training.json` of the run in `dir`, when it has a readable one.
    pub fn read(dir: &Path) -> Option<Self> {
        let text = std::fs::read_to_string(dir.join("training.json")).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// How the run ended, in words.
    pub fn stop_words(&self) -> &'static str {
        match self.stop {
            StopReason::Completed => "done",
            StopReason::EarlyStopped => "stopped early",
            StopReason::Interrupted => "interrupted",
        }
    }

    /// How the run ended, its speed and memory, the adversary's cost, in words.
    pub fn ending(&self) -> Vec<String> {
        let mut lines = vec![format!(
            "{} after {} steps: {:.1} training {} over {:.0} s; peak memory {}",
            self.stop_words(),
            self.steps,
            self.train_docs_per_second,
            if self.contrastive.is_some() {
                "pairs/s"
            } else {
                "docs/s"
            },
            self.train_seconds,
            self.peak_rss_mib
                .map_or("?".into(), |m| format!("{m:.0} MiB")),
        )];
        if self.adversary != joint::Adversary::None {
            lines.push(format!(
                "adversarial training, {}: {:.2} forward/backward passes per batch ({} in {} batches)",
                self.adversary,
                self.passes as f64 / self.batches.max(1) as f64,
                self.passes,
                self.batches,
            ));
        }
        lines
    }
}

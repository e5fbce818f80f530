//! What every stage of a comparison shares: the plan (the settings resolved, the
//! data, the report's folder), one fine-tuning run as the report shows it, and what
//! the pipeline's embedding pass cost.

use std::path::{Path, PathBuf};

use report::{CostPoint, CurvePoint, LeaderboardEntry, ModeResult, RunResult};

use super::CompareJob;
use super::inputs::ComparisonData;
use crate::Job;
use crate::error::{Context, Result};
use crate::machine;
use crate::stage::command_line;
use crate::{FineTuneJob, FineTuneOutcome, Observer};

/// The pipeline's runs, the first seed's leaderboard, and the settings it ran with.
pub(super) struct PipelineOutcome {
    pub(super) mode: ModeResult,
    pub(super) leaderboard: Vec<LeaderboardEntry>,
    pub(super) grid: serde_json::Value,
    pub(super) embedding: serde_json::Value,
    /// Per seed, the pipeline head fine-tuning starts from (none: a random head).
    pub(super) start_heads: StartHeads,
}

/// Per seed, the folder of the pipeline head that seed's fine-tuning starts from.
pub(super) type StartHeads = std::collections::BTreeMap<u64, PathBuf>;

/// The caches of the pipeline's splits.
pub(super) struct SplitCaches {
    pub(super) train: encoder::EmbeddingCache,
    pub(super) valid: encoder::EmbeddingCache,
    pub(super) test: encoder::EmbeddingCache,
    pub(super) augmented: Option<encoder::EmbeddingCache>,
}

/// What every stage shares, and the stages themselves.
pub(super) struct Plan<'a> {
    pub(super) args: &'a CompareJob,
    pub(super) data: &'a ComparisonData,
    /// `--augment`'s copies of training records, embedded and handed to both modes.
    pub(super) augmented: Option<PathBuf>,
    pub(super) dir: &'a Path,
    pub(super) max_len: usize,
    pub(super) epochs: usize,
    pub(super) learning_rate: f64,
    pub(super) seeds: Vec<u64>,
    /// The frontier's points between the modes, checked up front.
    pub(super) frontier: FrontierPlan,
    /// Stages started so far, for the "[k/n]" of the banners.
    pub(super) stages_started: std::cell::Cell<usize>,
}

/// The frontier a comparison runs: the fine-tuned model's encoder layers (N) and the
/// numbers K of top layers trained between the modes (0 < K < N), fewest first.
#[derive(Debug, Default)]
pub(super) struct FrontierPlan {
    pub(super) layers: usize,
    pub(super) points: Vec<usize>,
}

impl<'a> Plan<'a> {
    pub(super) fn new(
        args: &'a CompareJob,
        data: &'a ComparisonData,
        augmented: Option<PathBuf>,
        dir: &'a Path,
    ) -> Self {
        Self {
            args,
            data,
            augmented,
            dir,
            max_len: args.max_len(),
            epochs: args.epochs(),
            learning_rate: args.learning_rate(),
            seeds: args.seed_list(),
            frontier: FrontierPlan::default(),
            stages_started: std::cell::Cell::new(0),
        }
    }

    /// Announces the next stage: three embeddings (four with augmented copies), then
    /// per seed a sweep, a test of the best head, a fine-tuning run per point of the
    /// frontier and one end to end.
    pub(super) fn banner(&self, what: &str, observer: &mut dyn Observer) {
        let k = self.stages_started.get() + 1;
        self.stages_started.set(k);
        let embeddings = 3 + usize::from(self.augmented.is_some());
        observer.note(&format!(
            "\n== [{k}/{}] {what}",
            embeddings
                + (3 + self.frontier.points.len() + usize::from(self.runs_contrastive()))
                    * self.seeds.len()
        ));
    }

    /// What end-to-end and the frontier put on top of the encoder, in words.
    pub(super) fn output(&self) -> String {
        match &self.args.prompt {
            Some(template) => format!("the prompt {template:?} scored at its [MASK]"),
            None if self.starts_from_pipeline() => {
                "a linear layer on the mean of the final states, started from the pipeline's \
                 linear head"
                    .to_owned()
            }
            None => "a linear layer on [CLS] through the pooler".to_owned(),
        }
    }

    /// How long fine-tuning trains, in words.
    pub(super) fn length(&self) -> String {
        match self.args.min_steps() {
            0 => format!("{} epochs", self.epochs),
            steps => format!("{} epochs (at least {steps} steps)", self.epochs),
        }
    }

    /// The recipe exactly as fine-tuning resolves it from its settings.
    pub(super) fn fine_tune_settings(&self) -> Result<serde_json::Value> {
        let (classifier, config) = self.finetune_job(self.seeds[0], None).configs()?;
        Ok(serde_json::json!({ "classifier": classifier, "config": config }))
    }

    /// Runs one fine-tuning job (`what`, seed in its settings), notes its summary, and
    /// lists its command line when it is the first seed's.
    pub(super) fn fine_tune(
        &self,
        job: &FineTuneJob,
        what: &str,
        commands: &mut Vec<String>,
        observer: &mut dyn Observer,
    ) -> Result<crate::FineTuneRun> {
        machine::reset_peak_rss();
        self.banner(
            &format!("{what}: fine-tuning (seed {})", job.optimization.seed),
            observer,
        );
        let outcome = job.run(observer)?;
        let FineTuneOutcome::Trained(run) = outcome else {
            return Err(crate::error::refused!(
                "a comparison fine-tunes one model per seed"
            ));
        };
        for line in run.summary_lines() {
            observer.note(&line);
        }
        if job.optimization.seed == self.seeds[0] {
            commands.push(command_line(observer, job.into())?);
        }
        Ok(*run)
    }
}

/// One fine-tuning run (`what`: end-to-end's or a point of the frontier's) as the
/// report shows it; what it cost includes building the state caches it read.
pub(super) fn fine_tune_run(run: &crate::FineTuneRun, seed: u64, what: &str) -> Result<RunResult> {
    let summary = &run.summary;
    let test = summary
        .test
        .clone()
        .context("fine-tuning was given a test file")?;
    let valid_macro_f1 = summary.best.as_ref().map_or(f64::NAN, |b| b.valid_macro_f1);
    let mut cost_breakdown = Vec::new();
    if let Some(first) = summary.states.first() {
        cost_breakdown.push((
            format!(
                "states after layer {} of {}",
                first.after_layer,
                summary
                    .states
                    .iter()
                    .map(|s| s.data.as_str())
                    .collect::<Vec<_>>()
                    .join(" + ")
            ),
            summary.states.iter().filter_map(|s| s.build_seconds).sum(),
        ));
    }
    let training = match summary.contrastive {
        Some(_) => format!(
            "contrastive tuning {} steps, the head fitted",
            summary.steps
        ),
        None => format!("fine-tuning {} steps, validation included", summary.steps),
    };
    cost_breakdown.push((training, run.train_seconds));
    let train_seconds = cost_breakdown.iter().map(|(_, s)| s).sum();
    Ok(RunResult {
        seed,
        test,
        valid_macro_f1,
        train_seconds,
        cost_breakdown,
        inference_docs_per_second: summary.test_docs_per_second.unwrap_or(f64::NAN),
        peak_rss_mib: machine::peak_rss_mib(),
        model_bytes: machine::size_on_disk(&run.model_dir),
        curve: summary
            .history
            .iter()
            .map(|r| CurvePoint {
                epoch: r.epoch,
                train_loss: r.train_loss,
                valid_loss: r.valid_loss,
                valid_macro_f1: r.valid_macro_f1,
            })
            .collect(),
        cost_points: vec![CostPoint {
            label: format!("{what}, seed {seed}"),
            seconds: train_seconds,
            valid_macro_f1,
        }],
    })
}

/// What the pipeline's embedding pass cost, shared by every seed's run.
pub(super) struct EmbeddingCost {
    /// Building the train and validation caches (and augmented copies'); 0 on a hit.
    pub(super) train_seconds: f64,
    /// Building the test cache: part of the pipeline's inference cost.
    pub(super) test_seconds: f64,
    /// Peak memory while embedding.
    pub(super) peak_rss_mib: Option<f64>,
}

impl EmbeddingCost {
    /// Read off the caches just built or found, right after embedding.
    pub(super) fn of(caches: &SplitCaches) -> Self {
        let seconds = |cache: &encoder::EmbeddingCache| cache.meta.build.map_or(0.0, |b| b.seconds);
        Self {
            train_seconds: seconds(&caches.train)
                + seconds(&caches.valid)
                + caches.augmented.as_ref().map_or(0.0, seconds),
            test_seconds: seconds(&caches.test),
            peak_rss_mib: machine::peak_rss_mib(),
        }
    }
}

/// The bytes of the model files the frozen encoder reads: config, weights, tokenizer.
pub(super) fn encoder_bytes(model: &Path) -> u64 {
    let weights = bert::find_weights(model).map_or(0, |w| machine::size_on_disk(&w));
    let others: u64 = text::TOKENIZER_FILES
        .iter()
        .chain(&["config.json"])
        .map(|name| machine::size_on_disk(&model.join(name)))
        .sum();
    weights + others
}

pub(super) fn max_option(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

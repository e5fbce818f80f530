//! The pipeline's stages: the splits embedded once (their states kept for the
//! frontier), then per seed a head sweep and the best head on the test split.

use std::path::{Path, PathBuf};
use std::time::Instant;

use report::{CostPoint, LeaderboardEntry, ModeResult, RunResult};

use super::plan::{
    EmbeddingCost, PipelineOutcome, Plan, SplitCaches, StartHeads, encoder_bytes, max_option,
};
use crate::Job;
use crate::error::{Context, Result, refuse};
use crate::machine;
use crate::options::Input;
use crate::stage::command_line;
use crate::{EmbedJob, FeatureCaches, Observer, PredictHeadJob, SweepJob, Swept};

impl<'a> Plan<'a> {
    /// Embeds one file into the shared cache folder (a hit when unchanged), keeping the
    /// token states after each layer of `states_after` from the same pass.
    pub(super) fn embed(
        &self,
        input: &Path,
        states_after: Vec<usize>,
        commands: &mut Vec<String>,
        observer: &mut dyn Observer,
    ) -> Result<encoder::EmbeddingCache> {
        let job = EmbedJob {
            model: self.args.model_options(),
            input: Input {
                input: input.to_owned(),
                columns: self.data.columns.clone(),
            },
            cache_dir: self.args.cache_dir.clone(),
            states_after,
            state_cache_dir: self.args.state_cache_dir.clone(),
            precision: self.args.precision,
            ..EmbedJob::new(input)
        };
        let embedded = job.run(observer)?;
        for line in embedded.summary() {
            observer.note(&line);
        }
        commands.push(command_line(observer, (&job).into())?);
        Ok(embedded.cache)
    }

    /// Embeds the three splits and the augmented copies.
    pub(super) fn embed_splits(
        &self,
        commands: &mut Vec<String>,
        observer: &mut dyn Observer,
    ) -> Result<SplitCaches> {
        let mut caches = Vec::new();
        let shared = self.shared_states();
        // Fine-tuning adds the augmented copies to the training set: other sequences.
        let train_states = if self.augmented.is_some() {
            Vec::new()
        } else {
            shared.clone()
        };
        for (split, path, states_after) in [
            ("train", &self.data.train, train_states),
            ("validation", &self.data.valid, shared),
            ("test", &self.data.test, Vec::new()),
        ] {
            self.banner(&format!("pipeline: embedding the {split} split"), observer);
            caches.push(self.embed(path, states_after, commands, observer)?);
        }
        let augmented = match &self.augmented {
            Some(path) => {
                self.banner(
                    "pipeline: embedding the augmented training copies",
                    observer,
                );
                Some(self.embed(path, Vec::new(), commands, observer)?)
            }
            None => None,
        };
        let [train, valid, test] = <[_; 3]>::try_from(caches)
            .map_err(|_| crate::error::refused!("three splits were embedded"))?;
        Ok(SplitCaches {
            train,
            valid,
            test,
            augmented,
        })
    }

    /// The cached splits as a head's training and validation features.
    pub(super) fn feature_caches(&self, caches: &SplitCaches) -> FeatureCaches {
        FeatureCaches {
            augmented: caches.augmented.iter().map(|c| c.path.clone()).collect(),
            ..FeatureCaches::of(&caches.train.path, &caches.valid.path)
        }
    }

    /// The sweep of one seed over the cached splits.
    pub(super) fn sweep_job(&self, caches: &SplitCaches, seed: u64, out: PathBuf) -> SweepJob {
        let mut job = SweepJob::new(&caches.train.path, &caches.valid.path, out);
        job.caches = self.feature_caches(caches);
        job.grid.loss = self.args.loss.clone();
        job.grid.sampling = self.args.sampling;
        job.grid.seed = Some(seed);
        job.decision = self.args.decision.clone();
        job.grid_file = self.args.heads.clone();
        job.random = self.args.defaults().heads_drawn;
        job
    }

    /// Embeds the three splits (cache hits when unchanged), then per seed sweeps the
    /// heads and tests the best.
    pub(super) fn pipeline(
        &self,
        commands: &mut Vec<String>,
        observer: &mut dyn Observer,
    ) -> Result<PipelineOutcome> {
        machine::reset_peak_rss();
        let caches = self.embed_splits(commands, observer)?;
        let embedding = EmbeddingCost::of(&caches);

        let mut runs = Vec::new();
        let mut start_heads = StartHeads::new();
        let (mut leaderboard, mut grid) = (Vec::new(), serde_json::Value::Null);
        for &seed in &self.seeds {
            let (sweep_job, sweep, predict_job, run) =
                self.pipeline_seed(&caches, seed, &embedding, observer)?;
            if self.starts_from_pipeline() {
                start_heads.insert(seed, self.start_head(&caches, seed, &sweep, observer)?);
            }
            if runs.is_empty() {
                commands.push(command_line(observer, (&sweep_job).into())?);
                commands.push(command_line(observer, (&predict_job).into())?);
                grid = serde_json::to_value(&sweep.grid)?;
                leaderboard = sweep
                    .entries
                    .iter()
                    .map(|e| LeaderboardEntry {
                        configuration: e.describe(),
                        // The comparison reads single-label data: the score is macro-F1.
                        valid_macro_f1: e.valid_score,
                        valid_accuracy: e.valid_accuracy.unwrap_or_default(),
                        seconds: e.seconds,
                    })
                    .collect();
            }
            runs.push(run);
        }
        let best = leaderboard
            .first()
            .map_or("-".to_owned(), |e| e.configuration.clone());
        let description = format!(
            "the best head of the sweep on validation (seed {}: {best}) over frozen, cached encoder features",
            self.seeds[0]
        );
        Ok(PipelineOutcome {
            mode: ModeResult { description, runs },
            leaderboard,
            grid,
            embedding: serde_json::to_value(caches.train.meta.spec.encoder_only())?,
            start_heads,
        })
    }

    /// One seed of the pipeline: the head sweep over the cached features, then the
    /// best head on the test set.
    pub(super) fn pipeline_seed(
        &self,
        caches: &SplitCaches,
        seed: u64,
        embedding: &EmbeddingCost,
        observer: &mut dyn Observer,
    ) -> Result<(SweepJob, Swept, PredictHeadJob, RunResult)> {
        machine::reset_peak_rss();
        self.banner(&format!("pipeline: head sweep (seed {seed})"), observer);
        let run_dir = self.dir.join(format!("pipeline/seed-{seed}"));
        let sweep_job = self.sweep_job(caches, seed, run_dir.join("sweep"));
        let sweep = sweep_job.run(observer)?;
        observer.note(&sweep.leaderboard(10));

        self.banner(
            &format!("pipeline: best head on the test set (seed {seed})"),
            observer,
        );
        let predict_job = PredictHeadJob::new(
            &sweep.best_head,
            &caches.test.path,
            run_dir.join(crate::finetune::TEST_PREDICTIONS_FILE),
        );
        let predicted_at = Instant::now();
        let test_report = match predict_job.run(observer)? {
            Some(metrics::TaskReport::SingleLabel(report)) => report,
            _ => refuse!("the test split has single-label labels, so a report of classes"),
        };
        let head_seconds = predicted_at.elapsed().as_secs_f64();
        let best = sweep.entries.first().context("the sweep trained no head")?;
        let run = RunResult {
            seed,
            valid_macro_f1: best.valid_score,
            train_seconds: embedding.train_seconds + sweep.seconds,
            cost_breakdown: vec![
                (
                    "embedding train + validation".into(),
                    embedding.train_seconds,
                ),
                (
                    format!("sweep of {} heads", sweep.entries.len()),
                    sweep.seconds,
                ),
            ],
            inference_docs_per_second: test_report.examples as f64
                / (embedding.test_seconds + head_seconds).max(1e-9),
            peak_rss_mib: max_option(embedding.peak_rss_mib, machine::peak_rss_mib()),
            model_bytes: encoder_bytes(&self.args.model) + machine::size_on_disk(&sweep.best_head),
            curve: Vec::new(),
            cost_points: sweep
                .entries
                .iter()
                .map(|e| CostPoint {
                    label: e.describe(),
                    seconds: e.seconds,
                    valid_macro_f1: e.valid_score,
                })
                .collect(),
            test: test_report,
        };
        Ok((sweep_job, sweep, predict_job, run))
    }
}

//! A robustness study's arms on one data set: train each (arm, seed), score it on the
//! clean and perturbed tests, and average seeds where the arm is an ensemble.

use std::path::{Path, PathBuf};
use std::time::Instant;

use report::{RobustArm, RobustResult, RobustnessStudy, slug};
use serde::Serialize;

use super::{Recipe, RobustArmSpec, RobustnessDesign};
use crate::Job;
use crate::compare::CompareJob;
use crate::compare::inputs::ComparisonData;
use crate::compare::study::apply;
use crate::error::{Context, Result, refuse};
use crate::options::{Input, ModelOptions};
use crate::predict::ClassifierOptions;
use crate::stage::{Stage, command_line};
use crate::{
    DistillFineTuneJob, DistillHeadJob, EnsembleJob, EvaluateJob, FineTuneJob, Observer, SweepJob,
    TeacherOptions, TrainHeadJob,
};

/// The files and settings every step of one data set shares.
pub(super) struct Setting<'a> {
    pub(super) design: &'a RobustnessDesign,
    /// The study's settings on this data set.
    pub(super) args: CompareJob,
    pub(super) model: ModelOptions,
    pub(super) dir: PathBuf,
    pub(super) data: ComparisonData,
    /// The clean test set, then each perturbed copy.
    pub(super) tests: Vec<PathBuf>,
    pub(super) train_cache: PathBuf,
    pub(super) valid_cache: PathBuf,
    pub(super) epochs: usize,
    pub(super) learning_rate: f64,
}

/// Runs one stage, announcing its command line first: the line, and what it made.
pub(super) fn step<'a, J: Job>(
    job: &'a J,
    observer: &mut dyn Observer,
) -> Result<(String, J::Output)>
where
    Stage<'a>: From<&'a J>,
{
    let shown = command_line(observer, job.into())?;
    observer.note(&format!("\n$ {shown}"));
    let made = job
        .run(observer)
        .with_context(|| format!("running {shown}"))?;
    Ok((shown, made))
}

impl Setting<'_> {
    pub(super) fn arm_dir(&self, arm: &RobustArmSpec, seed: u64) -> PathBuf {
        self.dir
            .join(format!("{}-{}", slug(arm.mode.name()), slug(&arm.name)))
            .join(format!("seed-{seed}"))
    }

    /// The teacher of `seed`: the first fine-tune arm's run.
    pub(super) fn teacher(&self, seed: u64) -> Result<PathBuf> {
        let arm = self
            .design
            .teacher_arm()
            .context("the study has a fine-tune arm to teach")?;
        Ok(self.arm_dir(arm, seed).join("run"))
    }

    pub(super) fn teacher_options(&self, seed: u64) -> Result<TeacherOptions> {
        Ok(TeacherOptions {
            teacher_cache: self.dir.join("teachers"),
            ..TeacherOptions::new(vec![self.teacher(seed)?])
        })
    }

    /// The fine-tuning every end-to-end arm starts from.
    pub(super) fn fine_tune_job(
        &self,
        arm: &RobustArmSpec,
        seed: u64,
        out: &Path,
    ) -> Result<FineTuneJob> {
        let mut job = FineTuneJob::new(&self.data.train, out);
        job.model = self.model.clone();
        job.num_layers = self.args.num_layers;
        job.valid = Some(self.data.valid.clone());
        job.optimization.epochs = self.epochs;
        job.optimization.learning_rate = self.learning_rate;
        job.optimization.seed = seed;
        apply(&job, &arm.settings, &format!("arm {:?}", arm.name))
    }

    /// The head sweep (or single head) every pipeline arm starts from.
    pub(super) fn head_job<J: Serialize + serde::de::DeserializeOwned>(
        &self,
        mut job: J,
        arm: &RobustArmSpec,
        seed: u64,
        seed_of: impl FnOnce(&mut J) -> &mut Option<u64>,
    ) -> Result<J> {
        *seed_of(&mut job) = Some(seed);
        let job = apply(&job, &self.design.head, "[head]")?;
        apply(&job, &arm.settings, &format!("arm {:?}", arm.name))
    }

    /// Trains one arm at one seed (or reads its `result.json`), then scores it.
    pub(super) fn run_arm(
        &self,
        arm: &RobustArmSpec,
        seed: u64,
        observer: &mut dyn Observer,
    ) -> Result<RobustResult> {
        let dir = self.arm_dir(arm, seed);
        let result_path = dir.join("result.json");
        if let Ok(text) = std::fs::read_to_string(&result_path) {
            observer.note(&format!("already done: {}", dir.display()));
            return Ok(serde_json::from_str(&text)?);
        }
        observer.note(&format!(
            "\n## {} {} (seed {seed}): {}",
            arm.mode.name(),
            arm.name,
            arm.description
        ));
        let out = dir.join("run");
        let started = Instant::now();
        let (command, model) = self.train(arm, seed, &out, observer)?;
        let train_seconds = started.elapsed().as_secs_f64();
        let result = self.score(&model, &dir, command, train_seconds, observer)?;
        artifacts::write_json(&result_path, &result)?;
        Ok(result)
    }

    /// Trains the arm's model into `out`: the command line and the model's path.
    pub(super) fn train(
        &self,
        arm: &RobustArmSpec,
        seed: u64,
        out: &Path,
        observer: &mut dyn Observer,
    ) -> Result<(String, PathBuf)> {
        let distilled = |finetune: FineTuneJob, observer: &mut dyn Observer| {
            let job = DistillFineTuneJob {
                teacher: self.teacher_options(seed)?,
                finetune,
            };
            let (line, made) = step(&job, observer)?;
            Ok((line, made.path().to_owned()))
        };
        match arm.recipe {
            Recipe::FineTune => {
                let (line, made) = step(&self.fine_tune_job(arm, seed, out)?, observer)?;
                Ok((line, made.path().to_owned()))
            }
            Recipe::BornAgain => distilled(self.fine_tune_job(arm, seed, out)?, observer),
            Recipe::SmallerStudent => {
                let config = self.teacher(seed)?.join("model/config.json");
                let layers = bert::BertConfig::from_file(&config)?.num_hidden_layers;
                let mut job = self.fine_tune_job(arm, seed, out)?;
                job.num_layers = Some((layers / 2).max(1));
                distilled(job, observer)
            }
            Recipe::Heads => {
                let job = TrainHeadJob::new(&self.train_cache, &self.valid_cache, out);
                let job = self.head_job(job, arm, seed, |j| &mut j.grid.seed)?;
                let (line, made) = step(&job, observer)?;
                Ok((line, made.out().to_owned()))
            }
            Recipe::DistilledHeads => {
                let sweep = SweepJob::new(&self.train_cache, &self.valid_cache, out);
                let job = DistillHeadJob {
                    teacher: self.teacher_options(seed)?,
                    texts: self.data.train.clone(),
                    columns: Default::default(),
                    sweep: self.head_job(sweep, arm, seed, |j| &mut j.grid.seed)?,
                };
                let (line, made) = step(&job, observer)?;
                Ok((line, made.best_head))
            }
        }
    }

    /// Accuracy and macro-F1 of `model` on the clean test set, accuracy on each
    /// perturbed copy (reports kept in `dir`).
    pub(super) fn score(
        &self,
        model: &Path,
        dir: &Path,
        command: String,
        train_seconds: f64,
        observer: &mut dyn Observer,
    ) -> Result<RobustResult> {
        let names = std::iter::once("test")
            .chain(self.design.perturbations.iter().map(|p| p.name.as_str()));
        let mut reports = Vec::new();
        for (name, test) in names.zip(&self.tests) {
            let job = EvaluateJob {
                classifier: ClassifierOptions {
                    backend: self.model.backend,
                    ..ClassifierOptions::new(model)
                },
                input: Input::new(test),
                json: Some(dir.join(format!("{name}.json"))),
            };
            let (_, evaluated) = step(&job, observer)?;
            // The robustness study reads single-label data: its reports are of classes.
            let metrics::TaskReport::SingleLabel(report) = evaluated.report else {
                refuse!("the robustness study scores single-label classifiers");
            };
            reports.push(report);
        }
        let clean = reports.first().context("the clean test set is scored")?;
        Ok(RobustResult {
            accuracy: clean.accuracy,
            macro_f1: clean.macro_f1,
            perturbed_accuracy: reports[1..].iter().map(|r| r.accuracy).collect(),
            train_seconds,
            model: model.to_owned(),
            command,
        })
    }

    /// The teacher arm's models of all seeds averaged: one model, no training of its
    /// own.
    pub(super) fn seed_averaging(
        &self,
        teacher: &RobustArmSpec,
        seeds: &[u64],
        observer: &mut dyn Observer,
    ) -> Result<RobustArm> {
        let dir = self
            .dir
            .join(format!("{}-seed-averaging", slug(teacher.mode.name())));
        let result_path = dir.join("result.json");
        let result = match std::fs::read_to_string(&result_path) {
            Ok(text) => serde_json::from_str(&text)?,
            Err(_) => {
                let members = seeds
                    .iter()
                    .map(|&s| self.teacher(s))
                    .collect::<Result<Vec<_>>>()?;
                let job = EnsembleJob::new(members, dir.join("ensemble"));
                let (command, made) = step(&job, observer)?;
                let result = self.score(&made.out, &dir, command, 0.0, observer)?;
                artifacts::write_json(&result_path, &result)?;
                result
            }
        };
        Ok(RobustArm {
            name: "seed averaging".into(),
            mode: teacher.mode.name().into(),
            description: format!(
                "the {} {} {}s' probabilities averaged (one ensemble; no training)",
                seeds.len(),
                teacher.mode.name(),
                teacher.name
            ),
            runs: vec![result],
        })
    }
}

/// The wall time of a study already completed in `dir` (0 if none): a resumed study
/// that only re-reads its results keeps the time of the run that made them.
pub(super) fn earlier_wall_seconds(dir: &Path) -> f64 {
    std::fs::read_to_string(dir.join(report::ROBUSTNESS_RESULTS_FILE))
        .ok()
        .and_then(|text| serde_json::from_str::<RobustnessStudy>(&text).ok())
        .map_or(0.0, |study| study.wall_seconds)
}

//! The robustness study: adversarial training, distillation and ensembles against
//! plain training, each in the mode it belongs to, over several seeds; every model is
//! also scored on perturbed copies of the test set (typos, dropped words), which is
//! where adversarial training should show.
//!
//! Every step is an ordinary job (fine-tune, distill, head train, ensemble,
//! evaluate) built as a typed config; each (arm, seed) leaves a `result.json`, so
//! `--resume` redoes nothing that finished.

use std::path::{Path, PathBuf};
use std::time::Instant;

use report::{Perturbation, RobustArm, RobustData, RobustResult, RobustnessStudy, slug};
use serde::{Deserialize, Serialize};

use super::CompareJob;
use super::inputs::{self, ComparisonData, DataRequest, Subset};
use super::study::{DataSet, SettingsTable, Studied, Study, apply, recipe_line};
use crate::Job;
use crate::command_line::{command_line, flags_of};
use crate::error::{Context, Result, refuse};
use crate::options::{Input, ModelOptions};
use crate::predict::ClassifierOptions;
use crate::{
    AugmentJob, DistillFineTuneJob, DistillHeadJob, EmbedJob, EnsembleJob, EvaluateJob,
    FineTuneJob, Observer, SweepJob, TeacherOptions, TrainHeadJob,
};

/// A robustness study's arms, perturbations and head.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RobustnessDesign {
    /// Training examples per data set at most (a stratified sample; validation and
    /// test whole).
    pub train_cap: usize,
    /// Also average the end-to-end baselines of every seed into one ensemble.
    #[serde(default)]
    pub seed_averaging: bool,
    /// The head every pipeline arm trains (`head train` settings).
    #[serde(default)]
    pub head: SettingsTable,
    /// The perturbed copies of the test set (`augment` settings each).
    pub perturbations: Vec<PerturbationSpec>,
    /// Each mode's baseline first.
    pub arms: Vec<RobustArmSpec>,
}

/// A perturbed copy of the test set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PerturbationSpec {
    /// Its name in tables and file names.
    pub name: String,
    /// The `augment` settings that make it (rates of typos, deletions, …).
    pub settings: SettingsTable,
}

/// One arm of the study.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RobustArmSpec {
    /// A short name, for tables.
    pub name: String,
    /// The mode it belongs to.
    pub mode: Mode,
    /// What it does, in words.
    pub description: String,
    /// How it trains its model.
    pub recipe: Recipe,
    /// The recipe's job settings (`finetune`'s or `head train`'s).
    #[serde(default)]
    pub settings: SettingsTable,
}

/// The mode an arm belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Fine-tuned models.
    EndToEnd,
    /// Heads over frozen features.
    Pipeline,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::EndToEnd => "end-to-end",
            Mode::Pipeline => "pipeline",
        }
    }
}

/// How an arm trains its model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Recipe {
    /// Fine-tuning with the arm's settings. The first such arm is the teacher of
    /// the distillation arms.
    FineTune,
    /// The teacher's architecture distilled from the same seed's teacher (a
    /// born-again network).
    BornAgain,
    /// A student with half the teacher's layers, distilled.
    SmallerStudent,
    /// `head train` over the cached features with the arm's settings.
    Heads,
    /// The head taught by the same seed's teacher.
    DistilledHeads,
}

impl Recipe {
    fn needs_teacher(self) -> bool {
        matches!(
            self,
            Recipe::BornAgain | Recipe::SmallerStudent | Recipe::DistilledHeads
        )
    }
}

impl RobustnessDesign {
    pub(super) fn check(&self) -> Result<()> {
        settings::at_least_one("train_cap", self.train_cap)?;
        if self.arms.is_empty() {
            refuse!("a robustness study has at least one arm ([[arms]])");
        }
        let teacher = self.teacher_arm();
        for arm in &self.arms {
            let what = format!("arm {:?}", arm.name);
            match arm.recipe {
                Recipe::FineTune | Recipe::BornAgain | Recipe::SmallerStudent => {
                    apply(&FineTuneJob::new("train", "out"), &arm.settings, &what)?;
                }
                Recipe::Heads | Recipe::DistilledHeads => {
                    let job = apply(&TrainHeadJob::new("t", "v", "o"), &self.head, "[head]")?;
                    apply(&job, &arm.settings, &what)?;
                }
            }
            if arm.recipe.needs_teacher() && teacher.is_none() {
                refuse!("{what} is taught by the first fine-tune arm, and the study has none");
            }
        }
        apply(&SweepJob::new("t", "v", "o"), &self.head, "[head]")?;
        for perturbation in &self.perturbations {
            self.perturbation_job(perturbation, Path::new("in"), Path::new("out"))?;
        }
        Ok(())
    }

    /// The arm whose models teach: the first that fine-tunes.
    fn teacher_arm(&self) -> Option<&RobustArmSpec> {
        self.arms.iter().find(|a| a.recipe == Recipe::FineTune)
    }

    /// The `augment` job writing one perturbed copy of `test`.
    fn perturbation_job(
        &self,
        perturbation: &PerturbationSpec,
        test: &Path,
        output: &Path,
    ) -> Result<AugmentJob> {
        let job = apply(
            &AugmentJob::new(test, output, augment::AugmentConfig::default()),
            &perturbation.settings,
            &format!("perturbation {:?}", perturbation.name),
        )?;
        job.validate()
            .with_context(|| format!("perturbation {:?}", perturbation.name))?;
        Ok(job)
    }

    /// Runs the study and writes its report.
    pub(super) fn run(&self, study: &Study<'_>, observer: &mut dyn Observer) -> Result<Studied> {
        study.refuse_user_settings(
            &[
                "loss",
                "class_weights",
                "label_smoothing",
                "focal_gamma",
                "ghm_bins",
                "ghm_momentum",
                "sampling",
                "augment",
                "adv",
                "adv_epsilon",
                "adv_alpha",
                "adv_steps",
                "prompt",
                "verbalizer",
                "shots",
            ],
            "this study sets each arm's training itself",
        )?;
        let started = Instant::now();
        let mut data_sets = Vec::new();
        for set in study.data_sets() {
            observer.note(&format!("\n#### {}", set.name));
            let setting = self.prepare(study, &set, observer)?;
            data_sets.push(self.run_data_set(&setting, &set.name, observer)?);
        }
        let base = &study.base;
        let report = RobustnessStudy {
            recipe: self.recipe(base),
            perturbations: self
                .perturbations
                .iter()
                .map(|p| {
                    let job = self.perturbation_job(p, Path::new("in"), Path::new("out"))?;
                    let keys: Vec<&str> = p.settings.keys().map(String::as_str).collect();
                    Ok(Perturbation {
                        name: p.name.clone(),
                        flags: flags_of(&job, &keys)?.join(" "),
                    })
                })
                .collect::<Result<_>>()?,
            wall_seconds: started
                .elapsed()
                .as_secs_f64()
                .max(earlier_wall_seconds(study.dir)),
            data_sets,
        };
        report::write_robustness(&report, study.dir)?;
        Ok(Studied {
            dir: study.dir.to_owned(),
            tables: report.terminal_tables(),
            report: study.dir.join(report::ROBUSTNESS_HTML_FILE),
            wall_seconds: report.wall_seconds,
        })
    }

    /// The data's splits, the perturbed test copies and the cached features.
    fn prepare<'a>(
        &'a self,
        study: &Study<'_>,
        set: &DataSet,
        observer: &mut dyn Observer,
    ) -> Result<Setting<'a>> {
        let args = study.on(set)?;
        let dir = study.dir.join(slug(&set.name));
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let data = inputs::resolve(
            &DataRequest {
                spec: args.data.as_deref().unwrap_or(args.defaults().data),
                columns: &args.columns,
                holdout: (args.holdout[0], args.holdout[1]),
                class_share: args.class_share.as_ref(),
                shots: None,
                subset: Some(Subset {
                    train: self.train_cap,
                    valid: usize::MAX,
                    test: usize::MAX,
                }),
                seed: args.seed,
                work_dir: &dir.join("data"),
            },
            observer,
        )?;
        if !args.columns.are_standard() {
            refuse!(
                "the robustness study reads its data with the standard columns (text, label, id): convert {} to JSONL first",
                data.train.display()
            );
        }
        let model = ModelOptions {
            model: args.model.clone(),
            backend: args.backend,
            max_len: args.max_len(),
        };
        let mut tests = vec![data.test.clone()];
        for perturbation in &self.perturbations {
            let path = dir.join(format!("test-{}.jsonl", perturbation.name));
            if !path.exists() {
                let job = self.perturbation_job(perturbation, &data.test, &path)?;
                step(&["augment"], &job, observer)?;
            }
            tests.push(path);
        }
        let mut cache = |split: &Path, name: &str| -> Result<PathBuf> {
            let job = EmbedJob {
                model: model.clone(),
                input: Input::new(split),
                output: Some(dir.join(format!("{name}.emb"))),
                ..EmbedJob::new(split)
            };
            let (_, embedded) = step(&["embed"], &job, observer)?;
            Ok(embedded.cache.path)
        };
        let (train_cache, valid_cache) =
            (cache(&data.train, "train")?, cache(&data.valid, "valid")?);
        Ok(Setting {
            design: self,
            epochs: args.epochs(),
            learning_rate: args.learning_rate(),
            args,
            model,
            dir,
            data,
            tests,
            train_cache,
            valid_cache,
        })
    }

    fn run_data_set(
        &self,
        setting: &Setting<'_>,
        name: &str,
        observer: &mut dyn Observer,
    ) -> Result<RobustData> {
        let seeds = setting.args.seed_list();
        let mut arms = Vec::new();
        for arm in &self.arms {
            let runs = seeds
                .iter()
                .map(|&seed| setting.run_arm(arm, seed, observer))
                .collect::<Result<Vec<_>>>()?;
            arms.push(RobustArm {
                name: arm.name.clone(),
                mode: arm.mode.name().to_owned(),
                description: arm.description.clone(),
                runs,
            });
        }
        if self.seed_averaging
            && let Some(teacher) = self.teacher_arm()
        {
            arms.push(setting.seed_averaging(teacher, &seeds, observer)?);
        }
        Ok(RobustData {
            name: name.to_owned(),
            train: setting.data.splits.train.len(),
            test: setting.data.splits.test.len(),
            arms,
        })
    }

    fn recipe(&self, base: &CompareJob) -> Vec<String> {
        let head = apply(&TrainHeadJob::new("t", "v", "o"), &self.head, "[head]")
            .and_then(|job| {
                let keys: Vec<&str> = self.head.keys().map(String::as_str).collect();
                flags_of(&job, &keys)
            })
            .map(|flags| flags.join(" "))
            .unwrap_or_default();
        vec![
            format!(
                "training sets: a stratified sample of at most {} examples; validation and test whole",
                self.train_cap
            ),
            recipe_line(base),
            format!(
                "end-to-end: {} encoder layers, {} epoch(s), peak learning rate {}, batch 16; students and born-again networks the same",
                base.num_layers
                    .map_or_else(|| "all".to_owned(), |k| k.to_string()),
                base.epochs(),
                base.learning_rate()
            ),
            format!(
                "pipeline: `head train {head}` over the frozen encoder's mean-pooled features at the same max_len"
            ),
            "each model selected on validation; test and its perturbed copies seen only at the end"
                .into(),
        ]
    }
}

/// The files and settings every step of one data set shares.
struct Setting<'a> {
    design: &'a RobustnessDesign,
    /// The study's settings on this data set.
    args: CompareJob,
    model: ModelOptions,
    dir: PathBuf,
    data: ComparisonData,
    /// The clean test set, then each perturbed copy.
    tests: Vec<PathBuf>,
    train_cache: PathBuf,
    valid_cache: PathBuf,
    epochs: usize,
    learning_rate: f64,
}

/// Runs one stage, announcing its command line first: the line, and what it made.
fn step<J: Job + clap::Args + Serialize>(
    subcommand: &[&str],
    job: &J,
    observer: &mut dyn Observer,
) -> Result<(String, J::Output)> {
    let shown = command_line(subcommand, job)?;
    observer.note(&format!("\n$ {shown}"));
    let made = job
        .run(observer)
        .with_context(|| format!("running {shown}"))?;
    Ok((shown, made))
}

impl Setting<'_> {
    fn arm_dir(&self, arm: &RobustArmSpec, seed: u64) -> PathBuf {
        self.dir
            .join(format!("{}-{}", slug(arm.mode.name()), slug(&arm.name)))
            .join(format!("seed-{seed}"))
    }

    /// The teacher of `seed`: the first fine-tune arm's run.
    fn teacher(&self, seed: u64) -> Result<PathBuf> {
        let arm = self
            .design
            .teacher_arm()
            .context("the study has a fine-tune arm to teach")?;
        Ok(self.arm_dir(arm, seed).join("run"))
    }

    fn teacher_options(&self, seed: u64) -> Result<TeacherOptions> {
        Ok(TeacherOptions {
            teacher_cache: self.dir.join("teachers"),
            ..TeacherOptions::new(vec![self.teacher(seed)?])
        })
    }

    /// The fine-tuning every end-to-end arm starts from.
    fn fine_tune_job(&self, arm: &RobustArmSpec, seed: u64, out: &Path) -> Result<FineTuneJob> {
        let mut job = FineTuneJob::new(&self.data.train, out);
        job.model = self.model.clone();
        job.num_layers = self.args.num_layers;
        job.valid = Some(self.data.valid.clone());
        job.epochs = self.epochs;
        job.learning_rate = self.learning_rate;
        job.seed = seed;
        apply(&job, &arm.settings, &format!("arm {:?}", arm.name))
    }

    /// The head sweep (or single head) every pipeline arm starts from.
    fn head_job<J: Serialize + serde::de::DeserializeOwned>(
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
    fn run_arm(
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
    fn train(
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
            let (line, made) = step(&["distill", "finetune"], &job, observer)?;
            Ok((line, made.path().to_owned()))
        };
        match arm.recipe {
            Recipe::FineTune => {
                let (line, made) = step(
                    &["finetune"],
                    &self.fine_tune_job(arm, seed, out)?,
                    observer,
                )?;
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
                let (line, made) = step(&["head", "train"], &job, observer)?;
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
                let (line, made) = step(&["distill", "head"], &job, observer)?;
                Ok((line, made.best_head))
            }
        }
    }

    /// Accuracy and macro-F1 of `model` on the clean test set, accuracy on each
    /// perturbed copy (reports kept in `dir`).
    fn score(
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
            let (_, evaluated) = step(&["evaluate"], &job, observer)?;
            reports.push(evaluated.report);
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
    fn seed_averaging(
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
                let (command, made) = step(&["ensemble"], &job, observer)?;
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
fn earlier_wall_seconds(dir: &Path) -> f64 {
    std::fs::read_to_string(dir.join(report::ROBUSTNESS_RESULTS_FILE))
        .ok()
        .and_then(|text| serde_json::from_str::<RobustnessStudy>(&text).ok())
        .map_or(0.0, |study| study.wall_seconds)
}

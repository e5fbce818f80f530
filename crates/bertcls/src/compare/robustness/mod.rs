//! The robustness study: adversarial training, distillation and ensembles against
//! plain training, each in the mode it belongs to, over several seeds; every model is
//! also scored on perturbed copies of the test set (typos, dropped words), which is
//! where adversarial training should show.
//!
//! Every step is an ordinary job (fine-tune, distill, head train, ensemble,
//! evaluate) built as a typed config; each (arm, seed) leaves a `result.json`, so
//! `--resume` redoes nothing that finished.
//!
//! `mod.rs` reads the study and prepares each data set; [`arms`] trains and scores
//! each arm.

mod arms;

use std::path::{Path, PathBuf};
use std::time::Instant;

use report::{Perturbation, RobustArm, RobustData, RobustnessStudy, slug};
use serde::{Deserialize, Serialize};

use self::arms::{Setting, earlier_wall_seconds, step};
use super::CompareJob;
use super::inputs::{self, DataRequest, Subset};
use super::study::{DataSet, SettingsTable, Studied, Study, apply, recipe_line};
use crate::Job;
use crate::error::{Context, Result, refuse};
use crate::options::{Input, ModelOptions};
use crate::stage::settings_line;
use crate::{AugmentJob, EmbedJob, FineTuneJob, Observer, SweepJob, TrainHeadJob};

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
            recipe: self.recipe(base, observer),
            perturbations: self
                .perturbations
                .iter()
                .map(|p| {
                    let job = self.perturbation_job(p, Path::new("in"), Path::new("out"))?;
                    let keys: Vec<&str> = p.settings.keys().map(String::as_str).collect();
                    Ok(Perturbation {
                        name: p.name.clone(),
                        flags: settings_line(observer, (&job).into(), &keys)?,
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
        let work_dir = dir.join("data");
        let request = DataRequest {
            shots: None,
            subset: Some(Subset {
                train: self.train_cap,
                valid: usize::MAX,
                test: usize::MAX,
            }),
            ..DataRequest::of(&args, &work_dir)
        };
        let data = inputs::resolve(&request, observer)?;
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
                step(&job, observer)?;
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
            let (_, embedded) = step(&job, observer)?;
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

    fn recipe(&self, base: &CompareJob, observer: &dyn Observer) -> Vec<String> {
        let head = apply(&TrainHeadJob::new("t", "v", "o"), &self.head, "[head]")
            .and_then(|job| {
                let keys: Vec<&str> = self.head.keys().map(String::as_str).collect();
                settings_line(observer, (&job).into(), &keys)
            })
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

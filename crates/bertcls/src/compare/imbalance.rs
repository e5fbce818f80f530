//! The imbalance study: every arm (the baseline and each remedy) is an ordinary
//! comparison of both modes over several seeds, run with the study's settings plus
//! the arm's; the arms are then set side by side against the baseline in one report
//! (`report::Study`).

use std::time::Instant;

use report::{Arm, Study as StudyReport, StudyData};
use serde::{Deserialize, Serialize};

use super::CompareJob;
use super::study::{DataSet, SettingsTable, Studied, Study, apply, recipe_line};
use crate::Observer;
use crate::error::{Context, Result, refuse};
use crate::machine;
use crate::stage::settings_line;

/// The arms of an imbalance study.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImbalanceDesign {
    /// The baseline first: every other arm is measured against it.
    pub arms: Vec<ImbalanceArm>,
}

/// One arm: what it changes, as comparison settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImbalanceArm {
    /// A short name, for tables and chart axes.
    pub name: String,
    /// What it does, in words.
    pub description: String,
    /// The comparison settings that make it (none for the baseline).
    #[serde(default)]
    pub settings: SettingsTable,
    /// Only for two-class data (a decision threshold).
    #[serde(default)]
    pub binary_only: bool,
}

impl ImbalanceDesign {
    /// Every arm's settings exist and take their values.
    pub(super) fn check(&self, base: &CompareJob) -> Result<()> {
        if self.arms.is_empty() {
            refuse!("an imbalance study has at least a baseline arm ([[arms]])");
        }
        for arm in &self.arms {
            apply(base, &arm.settings, &format!("arm {:?}", arm.name))?;
        }
        Ok(())
    }

    /// The settings some arm sets, which the user may not set too.
    fn arm_settings(&self) -> Vec<&str> {
        let mut keys: Vec<&str> = self
            .arms
            .iter()
            .flat_map(|arm| arm.settings.keys().map(String::as_str))
            .collect();
        keys.sort_unstable();
        keys.dedup();
        keys
    }

    /// Runs every arm on every data set and writes the study's report.
    pub(super) fn run(&self, study: &Study<'_>, observer: &mut dyn Observer) -> Result<Studied> {
        study.refuse_user_settings(
            &self.arm_settings(),
            "this study sets each arm's loss, sampling, augmentation and decision rule itself",
        )?;
        study.refuse_user_settings(
            &["shots", "prompt", "verbalizer"],
            "this study trains on all the data with a [CLS] head",
        )?;
        let started = Instant::now();
        let started_unix = machine::unix_now();
        let data_sets = study
            .data_sets()
            .iter()
            .map(|set| self.run_data_set(study, set, observer))
            .collect::<Result<Vec<_>>>()?;
        let report = StudyReport {
            suite: study.common.name.clone(),
            question: study.common.question.clone(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            started_unix,
            wall_seconds: started.elapsed().as_secs_f64(),
            recipe: recipe(&study.base),
            data_sets,
        };
        report::write_study(&report, study.dir)?;
        Ok(Studied {
            dir: study.dir.to_owned(),
            tables: report.terminal_tables(),
            report: study.dir.join(report::STUDY_HTML_FILE),
            wall_seconds: report.wall_seconds,
        })
    }

    /// Every arm on one data set, the baseline first; the rare class watched is the
    /// baseline's rarest.
    fn run_data_set(
        &self,
        study: &Study<'_>,
        set: &DataSet,
        observer: &mut dyn Observer,
    ) -> Result<StudyData> {
        let on_set = study.on(set)?;
        let mut arms = Vec::new();
        // The baseline's data summary and rarest class, once it has run.
        let mut baseline: Option<(report::DataInfo, String)> = None;
        for spec in &self.arms {
            if spec.binary_only && baseline.as_ref().is_some_and(|(d, _)| d.classes.len() != 2) {
                continue;
            }
            let mut args = apply(&on_set, &spec.settings, &format!("arm {:?}", spec.name))?;
            let folder = format!("{}/{}", report::slug(&set.name), report::slug(&spec.name));
            args.out = study.dir.join(&folder);
            observer.note(&format!(
                "\n#### {}: {} ({})",
                set.name, spec.name, spec.description
            ));
            let compared = study.compare_or_reuse(&args, observer)?;
            let (_, focus) = baseline.get_or_insert_with(|| {
                let data = compared.comparison.data.clone();
                let focus = data.rarest_class().unwrap_or_default().to_owned();
                (data, focus)
            });
            let keys: Vec<&str> = spec.settings.keys().map(String::as_str).collect();
            arms.push(Arm::from_comparison(
                &spec.name,
                &spec.description,
                &settings_line(observer, (&args).into(), &keys)?,
                &study.relative(&compared.dir),
                &compared.comparison,
                focus,
            ));
        }
        let (data, focus) = baseline.context("a study runs at least its baseline")?;
        let focus_train = data
            .classes
            .iter()
            .position(|c| *c == focus)
            .map_or(0, |i| data.train_counts[i]);
        Ok(StudyData {
            name: set.name.clone(),
            classes: data.classes.len(),
            train: data.train,
            test: data.test,
            derivation: data.derivation,
            focus_class: focus,
            focus_train,
            arms,
        })
    }
}

/// The shared settings, in words.
fn recipe(base: &CompareJob) -> Vec<String> {
    let layers = base
        .num_layers
        .map_or_else(|| "all".to_owned(), |k| k.to_string());
    vec![
        recipe_line(base),
        format!(
            "pipeline: the whole frozen encoder, features cached; heads from {}",
            base.heads
                .as_ref()
                .map_or_else(|| "the default grid".to_owned(), |h| h.display().to_string())
        ),
        format!(
            "end-to-end: {layers} encoder layer(s) fine-tuned{}, {} epochs, peak learning rate {}",
            if base.freeze_embeddings == Some(true) {
                " with the embeddings frozen"
            } else {
                ""
            },
            base.epochs(),
            base.learning_rate()
        ),
        "both modes select their model on validation macro-F1 or loss as a plain comparison does; the test split is never seen before the end".into(),
    ]
}

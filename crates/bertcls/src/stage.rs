//! A job run inside another (a comparison runs embed, head sweep, head predict and
//! finetune; a study runs comparisons, distillation, ensembles…), named by kind so
//! that a report can show how to rerun it by hand.
//!
//! The library does not know how its caller spells a job: the `bertcls` binary
//! spells it as a command line, a program may spell it as code. A job asks its
//! [`Observer`](crate::Observer) ([`command_line`](crate::Observer::command_line),
//! [`settings_line`](crate::Observer::settings_line)); an observer that cannot spell
//! it gets the stage in the library's own terms ([`Stage::describe`]).

use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::{Result, refused};
use crate::{
    AugmentJob, CompareJob, DistillFineTuneJob, DistillHeadJob, EmbedJob, EnsembleJob, EvaluateJob,
    FineTuneJob, Observer, PredictHeadJob, SweepJob, TrainHeadJob, ZeroShotJob,
};

/// Declares [`Stage`] from one list of (variant, job, the library's name for it):
/// the enum, a `From` per job, and the methods that match on every variant.
macro_rules! stages {
    ($($(#[doc = $doc:literal])* $kind:ident($job:ty) = $name:literal),* $(,)?) => {
        /// One job that a comparison or a study runs, by kind.
        #[derive(Debug, Clone, Copy)]
        pub enum Stage<'a> {
            $($(#[doc = $doc])* $kind(&'a $job),)*
        }

        $(impl<'a> From<&'a $job> for Stage<'a> {
            fn from(job: &'a $job) -> Self {
                Stage::$kind(job)
            }
        })*

        impl Stage<'_> {
            /// The job's settings in its serde form: each setting under its library
            /// name, groups of settings flattened.
            pub fn settings(&self) -> Result<Map<String, Value>> {
                match self {
                    $(Stage::$kind(job) => settings_of(*job),)*
                }
            }

            /// The job's kind, as the library names it (`fine-tune`, `sweep`).
            pub fn kind(&self) -> &'static str {
                match self {
                    $(Stage::$kind(_) => $name,)*
                }
            }
        }
    };
}

stages!(
    /// Embedding a data file.
    Embed(EmbedJob) = "embed",
    /// Training one head.
    TrainHead(TrainHeadJob) = "train-head",
    /// Sweeping heads.
    Sweep(SweepJob) = "sweep",
    /// Applying a saved head.
    PredictHead(PredictHeadJob) = "predict-head",
    /// Fine-tuning.
    FineTune(FineTuneJob) = "fine-tune",
    /// Fine-tuning a student from a teacher.
    DistillFineTune(DistillFineTuneJob) = "distill-fine-tune",
    /// Sweeping heads taught by a teacher.
    DistillHead(DistillHeadJob) = "distill-head",
    /// Scoring a saved classifier.
    Evaluate(EvaluateJob) = "evaluate",
    /// Combining saved classifiers.
    Ensemble(EnsembleJob) = "ensemble",
    /// Writing augmented copies of a data file.
    Augment(AugmentJob) = "augment",
    /// Classifying cached texts by label descriptions.
    ZeroShot(ZeroShotJob) = "zero-shot",
    /// A comparison (one arm of a study).
    Compare(CompareJob) = "compare",
);

fn settings_of(job: &impl Serialize) -> Result<Map<String, Value>> {
    match serde_json::to_value(job)? {
        Value::Object(settings) => Ok(settings),
        _ => Err(refused!("a job serializes to a table of settings")),
    }
}

impl Stage<'_> {
    /// `name=value` for each setting named in `only` (every setting that is set, when
    /// `only` is `None`), by name: the stage in the library's terms.
    pub fn describe(&self, only: Option<&[&str]>) -> Result<String> {
        let words: Vec<String> = self
            .settings()?
            .into_iter()
            .filter(|(name, value)| {
                only.map_or(!value.is_null(), |only| only.contains(&name.as_str()))
            })
            .map(|(name, value)| match value {
                Value::String(text) => format!("{name}={text}"),
                other => format!("{name}={other}"),
            })
            .collect();
        Ok(words.join(" "))
    }
}

/// How `observer`'s caller runs `stage`, or the stage in the library's terms.
pub(crate) fn command_line(observer: &dyn Observer, stage: Stage<'_>) -> Result<String> {
    match observer.command_line(stage) {
        Some(line) => Ok(line),
        None => Ok(format!("{} {}", stage.kind(), stage.describe(None)?)),
    }
}

/// How `observer`'s caller sets the settings `only` of `stage`, or those settings in
/// the library's terms.
pub(crate) fn settings_line(
    observer: &dyn Observer,
    stage: Stage<'_>,
    only: &[&str],
) -> Result<String> {
    match observer.settings_line(stage, only) {
        Some(line) => Ok(line),
        None => stage.describe(Some(only)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Quiet;

    /// An observer that spells nothing gets the stage in the library's names: every
    /// setting that is set, by name, or only those asked for.
    #[test]
    fn a_stage_no_one_spells_is_described_by_its_settings() {
        let mut job = EmbedJob::new("train.jsonl");
        job.model.max_len = 64;
        let line = command_line(&Quiet, (&job).into()).unwrap();
        assert!(line.starts_with("embed "), "{line}");
        assert!(line.contains(" input=train.jsonl "), "{line}");
        assert!(line.contains(" max_len=64 "), "{line}");
        assert!(
            !line.contains("output="),
            "unset settings are left out: {line}"
        );

        let mut compare = CompareJob {
            seeds: Some(3),
            ..CompareJob::default()
        };
        compare.loss.class_weights = Some("balanced".parse().unwrap());
        assert_eq!(
            settings_line(&Quiet, (&compare).into(), &["seeds", "class_weights"]).unwrap(),
            "class_weights=balanced seeds=3"
        );
    }
}

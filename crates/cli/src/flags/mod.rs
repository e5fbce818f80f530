//! Every flag of `bertcls`, and nowhere else: one clap struct per command, whose
//! defaults are the library's, and which turns into the command's job.
//!
//! A flag's clap id is the name of the job setting it sets (`--lr` sets
//! `learning_rate`), and a group of flags flattens as the job's group of settings
//! does. So a command's flags and its job have one serde form, and the flags become
//! the job through it ([`IntoJob`]); the same agreement lets errors name a setting
//! by its flag (`errors::Flags`) and reports spell a job as a command line
//! (`command_line`). The tests hold the two sides to it.

mod augment;
mod bench;
mod compare;
mod distill;
mod embed;
mod ensemble;
mod finetune;
mod heads;
mod options;
mod predict;
mod zero_shot;

use anyhow::Context;
use bertcls::SuiteSource;
use clap::{Parser, Subcommand};
use serde::Serialize;
use serde::de::DeserializeOwned;

pub(crate) use self::augment::AugmentFlags;
pub(crate) use self::bench::{BenchEncoderFlags, BenchStepFlags};
pub(crate) use self::compare::{CompareFlags, Comparing, ComparisonFlags};
pub(crate) use self::distill::{DistillFineTuneFlags, DistillHeadFlags};
pub(crate) use self::embed::EmbedFlags;
pub(crate) use self::ensemble::EnsembleFlags;
pub(crate) use self::finetune::FineTuneFlags;
pub(crate) use self::heads::{PredictHeadFlags, SweepFlags, TrainHeadFlags};
pub(crate) use self::predict::{EvaluateFlags, PredictFlags};
pub(crate) use self::zero_shot::ZeroShotFlags;

/// A command's flags, as the job they describe.
pub(crate) trait IntoJob: Serialize + Sized {
    /// The job the command runs.
    type Job: DeserializeOwned;

    /// The job these flags describe: their serde form read back as the job's, which
    /// is the same table of settings under the same names.
    fn into_job(self) -> anyhow::Result<Self::Job> {
        let settings = serde_json::to_value(&self)?;
        serde_json::from_value(settings)
            .context("the flags do not describe their job (a bug in bertcls)")
    }
}

/// Each command's flags and the job they turn into.
macro_rules! jobs {
    ($($flags:ty => $job:ty),* $(,)?) => {
        $(impl IntoJob for $flags {
            type Job = $job;
        })*
    };
}

jobs!(
    EmbedFlags => bertcls::EmbedJob,
    TrainHeadFlags => bertcls::TrainHeadJob,
    SweepFlags => bertcls::SweepJob,
    PredictHeadFlags => bertcls::PredictHeadJob,
    FineTuneFlags => bertcls::FineTuneJob,
    DistillFineTuneFlags => bertcls::DistillFineTuneJob,
    DistillHeadFlags => bertcls::DistillHeadJob,
    ZeroShotFlags => bertcls::ZeroShotJob,
    EnsembleFlags => bertcls::EnsembleJob,
    PredictFlags => bertcls::PredictJob,
    EvaluateFlags => bertcls::EvaluateJob,
    AugmentFlags => bertcls::AugmentJob,
    BenchEncoderFlags => bertcls::BenchEncoderJob,
    BenchStepFlags => bertcls::BenchStepJob,
    ComparisonFlags => bertcls::CompareJob,
    CompareFlags => bertcls::StudyJob,
);

#[derive(Parser)]
#[command(
    name = "bertcls",
    version,
    about = "BERT text classifiers: a frozen-encoder pipeline or end-to-end fine-tuning, measured side by side",
    long_about = "BERT text classifiers, two ways, measured side by side.\n\n\
        Pipeline mode runs a pretrained BERT once, frozen, and trains cheap classifiers over \
        the stored features. End-to-end mode fine-tunes BERT and the classifier together.\n\n\
        Models are Hugging Face BERT folders (config.json, model.safetensors or \
        pytorch_model.bin, tokenizer.json or vocab.txt). `cargo xtask fetch model` puts \
        all-MiniLM-L6-v2 in models/all-MiniLM-L6-v2, the default."
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// The commands.
#[derive(Subcommand)]
pub(crate) enum Command {
    /// Pipeline stage 1: embed a data file with a frozen BERT into a reusable cache.
    Embed(EmbedFlags),
    /// Pipeline stage 2: train, sweep and apply classifiers over cached features.
    #[command(subcommand)]
    Head(HeadCommand),
    /// End-to-end mode: fine-tune BERT and a classification head together.
    Finetune(Box<FineTuneFlags>),
    /// Knowledge distillation: a student (a smaller or same-size fine-tuned BERT, or
    /// pipeline heads) learns from a fine-tuned teacher's soft targets.
    #[command(subcommand)]
    Distill(DistillCommand),
    /// Classify cached texts with no training: by their similarity to descriptions of
    /// the labels, embedded by the same encoder.
    ZeroShot(ZeroShotFlags),
    /// Combine saved classifiers (seeds, heads, modes) into one, measured against its
    /// best member.
    Ensemble(EnsembleFlags),
    /// Classify texts (a file, or stdin one per line) with a fine-tuned model, a
    /// saved head or an ensemble.
    Predict(PredictFlags),
    /// The full metric report of a saved classifier (fine-tuned model, head or
    /// ensemble) on labelled data.
    Evaluate(EvaluateFlags),
    /// Write augmented copies of a data file (word swap, deletion, insertion, typos,
    /// embedding neighbours), to inspect what augmentation does.
    Augment(AugmentFlags),
    /// Measure this machine's throughput (what `cargo xtask bench` compares with PyTorch).
    #[command(subcommand)]
    Bench(BenchCommand),
    /// Both modes on the same data: pipeline (best head of a sweep) against
    /// end-to-end fine-tuning, with a report (Markdown, HTML, JSON).
    Compare(Box<CompareFlags>),
    /// The studies `compare --suite` runs: list them, or print one to copy and edit.
    #[command(subcommand)]
    Suite(SuiteCommand),
}

/// `bertcls head …`.
#[derive(Subcommand)]
pub(crate) enum HeadCommand {
    /// Train one head (or a bagged/boosted ensemble of heads) and save it.
    Train(Box<TrainHeadFlags>),
    /// Train a grid of heads, rank them on validation, save the best.
    Sweep(Box<SweepFlags>),
    /// Apply a saved head to cached features (or to texts, embedded as its features were).
    Predict(Box<PredictHeadFlags>),
}

/// `bertcls distill …`.
#[derive(Subcommand)]
pub(crate) enum DistillCommand {
    /// Fine-tune a student BERT from a teacher.
    Finetune(Box<DistillFineTuneFlags>),
    /// Sweep pipeline heads taught by a fine-tuned teacher.
    Head(Box<DistillHeadFlags>),
}

/// `bertcls bench …`.
#[derive(Subcommand)]
pub(crate) enum BenchCommand {
    /// Encoder inference: one full batch, and a whole data set in length-sorted batches.
    Encoder(BenchEncoderFlags),
    /// Fine-tuning: full training steps (forward, backward, clipping, AdamW) on full batches.
    Step(BenchStepFlags),
}

/// `bertcls suite …`.
#[derive(Subcommand)]
pub(crate) enum SuiteCommand {
    /// The built-in studies.
    List,
    /// Print a study's TOML (a built-in one by name, or a file, checked): copy it,
    /// edit it, run it with `bertcls compare --suite FILE`.
    Show {
        /// A built-in study's name, or a suite file.
        suite: SuiteSource,
    },
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use bertcls::*;
    use clap::{CommandFactory, FromArgMatches};
    use serde_json::Value;

    /// `args` parsed as `bertcls` parses them, turned into the job of the command they
    /// name; the flags and the job must name the same settings.
    pub(crate) fn job_of<F: FromArgMatches + IntoJob>(args: &[&str]) -> F::Job
    where
        F::Job: Serialize,
    {
        let matches = Cli::command()
            .try_get_matches_from(std::iter::once("bertcls").chain(args.iter().copied()))
            .unwrap_or_else(|e| panic!("{args:?}: {e}"));
        let mut matches = &matches;
        while let Some((_, inner)) = matches.subcommand() {
            matches = inner;
        }
        let flags = F::from_arg_matches(matches).unwrap();
        let names = |value: Value| -> Vec<String> {
            let Value::Object(settings) = value else {
                panic!("a job serializes to a table of settings")
            };
            settings.keys().cloned().collect()
        };
        let flag_names = names(serde_json::to_value(&flags).unwrap());
        let job = flags.into_job().unwrap();
        assert_eq!(
            flag_names,
            names(serde_json::to_value(&job).unwrap()),
            "{args:?}: each flag sets the job's setting of its name"
        );
        job
    }

    /// Each command left to its defaults is the job the library builds by default:
    /// the flags' defaults are the library's, and every flag reaches its setting.
    #[test]
    fn a_command_left_to_its_defaults_is_the_librarys_default_job() {
        assert_eq!(
            job_of::<EmbedFlags>(&["embed", "--input", "t.jsonl"]),
            EmbedJob::new("t.jsonl")
        );
        let heads = ["--train", "a.emb", "--valid", "b.emb", "--out", "h"];
        assert_eq!(
            job_of::<TrainHeadFlags>(&[&["head", "train"][..], &heads].concat()),
            TrainHeadJob::new("a.emb", "b.emb", "h")
        );
        assert_eq!(
            job_of::<SweepFlags>(&[&["head", "sweep"][..], &heads].concat()),
            SweepJob::new("a.emb", "b.emb", "h")
        );
        assert_eq!(
            job_of::<PredictHeadFlags>(&[
                "head", "predict", "--head", "h", "--cache", "t.emb", "--output", "p.jsonl"
            ]),
            PredictHeadJob::new("h", "t.emb", "p.jsonl")
        );
        assert_eq!(
            job_of::<FineTuneFlags>(&["finetune", "--train", "t.jsonl", "--out", "r"]),
            FineTuneJob::new("t.jsonl", "r")
        );
        assert_eq!(
            job_of::<ZeroShotFlags>(&["zero-shot", "--cache", "t.emb", "--output", "z.jsonl"]),
            ZeroShotJob::new("t.emb", "z.jsonl")
        );
        assert_eq!(
            job_of::<EnsembleFlags>(&["ensemble", "--member", "a", "--member", "b", "--out", "e"]),
            EnsembleJob::new(vec!["a".into(), "b".into()], "e")
        );
        assert_eq!(
            job_of::<PredictFlags>(&["predict", "--model", "m", "--input", "t.jsonl"]),
            PredictJob::new("m", "t.jsonl")
        );
        assert_eq!(
            job_of::<EvaluateFlags>(&["evaluate", "--model", "m", "--input", "t.jsonl"]),
            EvaluateJob::new("m", "t.jsonl")
        );
        assert_eq!(
            job_of::<AugmentFlags>(&["augment", "--input", "in.jsonl", "--output", "o.jsonl"]),
            AugmentJob::new("in.jsonl", "o.jsonl", Default::default())
        );
        assert_eq!(
            job_of::<ComparisonFlags>(&["compare"]),
            CompareJob::default()
        );
        assert_eq!(
            job_of::<CompareFlags>(&["compare", "--suite", "imbalance"]),
            StudyJob::new("imbalance".parse().unwrap())
        );
    }
}

//! `bertcls`: BERT text classification from the command line. Every command is a job
//! of the `bertcls` library: its flags are the job's fields, parsed by clap into the
//! job's config; this binary runs it with progress bars and prints what it made.

mod errors;
mod print;
mod progress;

use std::io::IsTerminal;
use std::process::ExitCode;

use bertcls::{
    AugmentJob, BenchEncoderJob, BenchStepJob, CompareJob, CompareOutcome, DistillFineTuneJob,
    DistillHeadJob, EmbedJob, EnsembleJob, EvaluateJob, FineTuneJob, Job, PredictHeadJob,
    PredictJob, SuiteSource, SweepJob, TrainHeadJob, ZeroShotJob,
};
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::progress::Bars;

/// burn allocates a fresh buffer for nearly every tensor operation. glibc serves buffers
/// over 128 KiB with `mmap` and unmaps them on free, so every activation of every layer
/// page-faults in anew; mimalloc keeps and reuses them. Measured on MiniLM (32 × 128
/// tokens, flex, 2 cores): 1.61 s → 1.09 s per forward pass, the matmuls from ~90 to
/// ~190 GFLOP/s.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc returns freed memory to the OS 10 ms after it is freed, and the next
/// training step's activations and gradients then fault in freshly zeroed pages: a
/// quarter of a MiniLM fine-tuning step went to the kernel clearing pages. Keeping
/// freed memory costs nothing extra at the peak, which is what a step reaches anyway.
fn keep_freed_memory() {
    /// `mi_option_purge_delay` in mimalloc v3's `mimalloc.h` (libmimalloc-sys 0.1.49,
    /// pinned for this reason); -1 means never purge.
    const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
    // SAFETY: setting an option is allowed at any time; it only changes when mimalloc
    // purges, not which memory is valid.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) };
}

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
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Pipeline stage 1: embed a data file with a frozen BERT into a reusable cache.
    Embed(EmbedJob),
    /// Pipeline stage 2: train, sweep and apply classifiers over cached features.
    #[command(subcommand)]
    Head(HeadCommand),
    /// End-to-end mode: fine-tune BERT and a classification head together.
    Finetune(Box<FineTuneJob>),
    /// Knowledge distillation: a student (a smaller or same-size fine-tuned BERT, or
    /// pipeline heads) learns from a fine-tuned teacher's soft targets.
    #[command(subcommand)]
    Distill(DistillCommand),
    /// Classify cached texts with no training: by their similarity to descriptions of
    /// the labels, embedded by the same encoder.
    ZeroShot(ZeroShotJob),
    /// Combine saved classifiers (seeds, heads, modes) into one, measured against its
    /// best member.
    Ensemble(EnsembleJob),
    /// Classify texts (a file, or stdin one per line) with a fine-tuned model, a
    /// saved head or an ensemble.
    Predict(PredictJob),
    /// The full metric report of a saved classifier (fine-tuned model, head or
    /// ensemble) on labelled data.
    Evaluate(EvaluateJob),
    /// Write augmented copies of a data file (word swap, deletion, insertion, typos,
    /// embedding neighbours), to inspect what augmentation does.
    Augment(AugmentJob),
    /// Measure this machine's throughput (what `cargo xtask bench` compares with PyTorch).
    #[command(subcommand)]
    Bench(BenchCommand),
    /// Both modes on the same data: pipeline (best head of a sweep) against
    /// end-to-end fine-tuning, with a report (Markdown, HTML, JSON).
    Compare(Box<CompareJob>),
    /// The studies `compare --suite` runs: list them, or print one to copy and edit.
    #[command(subcommand)]
    Suite(SuiteCommand),
}

/// `bertcls head …`.
#[derive(Subcommand)]
enum HeadCommand {
    /// Train one head (or a bagged/boosted ensemble of heads) and save it.
    Train(Box<TrainHeadJob>),
    /// Train a grid of heads, rank them on validation, save the best.
    Sweep(Box<SweepJob>),
    /// Apply a saved head to cached features (or to texts, embedded as its features were).
    Predict(Box<PredictHeadJob>),
}

/// `bertcls distill …`.
#[derive(Subcommand)]
enum DistillCommand {
    /// Fine-tune a student BERT from a teacher.
    Finetune(Box<DistillFineTuneJob>),
    /// Sweep pipeline heads taught by a fine-tuned teacher.
    Head(Box<DistillHeadJob>),
}

/// `bertcls bench …`.
#[derive(Subcommand)]
enum BenchCommand {
    /// Encoder inference: one full batch, and a whole data set in length-sorted batches.
    Encoder(BenchEncoderJob),
    /// Fine-tuning: full training steps (forward, backward, clipping, AdamW) on full batches.
    Step(BenchStepJob),
}

/// `bertcls suite …`.
#[derive(Subcommand)]
enum SuiteCommand {
    /// The built-in studies.
    List,
    /// Print a study's TOML (a built-in one by name, or a file, checked): copy it,
    /// edit it, run it with `bertcls compare --suite FILE`.
    Show {
        /// A built-in study's name, or a suite file.
        suite: SuiteSource,
    },
}

/// A user's mistake (a bad flag, a missing file) is one `error:` line on stderr and
/// exit status 1, never a panic or a backtrace, whatever `RUST_BACKTRACE` says.
fn main() -> ExitCode {
    keep_freed_memory();
    let matches = Cli::command().get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    match run(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            let flags = errors::Flags::of(&Cli::command(), &subcommand_path(&matches));
            eprintln!("error: {}", errors::describe(&error, &flags));
            ExitCode::FAILURE
        }
    }
}

/// The names of the subcommands `matches` went through (`["head", "sweep"]`).
fn subcommand_path(matches: &clap::ArgMatches) -> Vec<&str> {
    std::iter::successors(matches.subcommand(), |(_, inner)| inner.subcommand())
        .map(|(name, _)| name)
        .collect()
}

/// Runs the command's job. What it made (a cache, a model folder) goes to stdout for
/// scripts; everything else to stderr.
fn run(command: Command) -> anyhow::Result<()> {
    let bars = &mut Bars::default();
    match command {
        Command::Embed(job) => {
            let embedded = job.run(bars)?;
            let vectors_on_stdout = job
                .export_npy
                .as_deref()
                .is_some_and(|p| p.as_os_str() == bertcls::artifacts::STDOUT);
            print::embedded(&embedded, vectors_on_stdout)?;
        }
        Command::Head(HeadCommand::Train(job)) => print::trained_heads(&job.run(bars)?)?,
        Command::Head(HeadCommand::Sweep(job)) => print::swept(&job.run(bars)?),
        Command::Head(HeadCommand::Predict(job)) => print::report(job.run(bars)?.as_ref()),
        Command::Finetune(job) => print::fine_tuned(&job.run(bars)?)?,
        Command::Distill(DistillCommand::Finetune(job)) => print::fine_tuned(&job.run(bars)?)?,
        Command::Distill(DistillCommand::Head(job)) => {
            let swept = job.run(bars)?;
            print::swept(&swept);
            print::path(&swept.best_head)?;
        }
        Command::ZeroShot(job) => print::zero_shot(&job.run(bars)?),
        Command::Ensemble(job) => print::ensemble(&job.run(bars)?, job.combine)?,
        Command::Predict(job) => predict(&job, bars)?,
        Command::Evaluate(job) => print::evaluated(&job.run(bars)?, &job.input.input),
        Command::Augment(job) => {
            job.run(bars)?;
        }
        Command::Bench(BenchCommand::Encoder(job)) => print::json(&job.run(bars)?)?,
        Command::Bench(BenchCommand::Step(job)) => print::json(&job.run(bars)?)?,
        Command::Compare(job) => match job.run(bars)? {
            CompareOutcome::Comparison(compared) => print::path(&compared.dir)?,
            CompareOutcome::Study(studied) => print::path(&studied.dir)?,
        },
        Command::Suite(SuiteCommand::List) => {
            let names: String = SuiteSource::built_in()
                .map(|name| format!("{name}\n"))
                .collect();
            print::stdout(&names)?;
        }
        Command::Suite(SuiteCommand::Show { suite }) => {
            suite.load()?;
            print::stdout(&suite.text()?)?;
        }
    }
    Ok(())
}

/// `bertcls predict`: a file, or stdin one text per line (answered line by line at a
/// terminal, in batches from a pipe).
fn predict(job: &PredictJob, bars: &mut Bars) -> anyhow::Result<()> {
    if job.input.is_some() {
        let predicted = job.run(bars)?;
        if let Some(lines) = &predicted.lines {
            print::stdout(lines)?;
        }
        print::report(predicted.report.as_ref());
        return Ok(());
    }
    let stdin = std::io::stdin();
    let interactive = stdin.is_terminal();
    if interactive {
        eprintln!("type a text per line (Ctrl-D ends):");
    }
    let classified = job.run_stream(stdin.lock(), interactive, bars)?;
    if let Some(output) = &job.output {
        eprintln!(
            "wrote {classified} predictions to {}",
            bertcls::artifacts::output_name(output).display()
        );
    }
    Ok(())
}

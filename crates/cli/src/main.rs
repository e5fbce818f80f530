//! `bertcls`: BERT text classification from the command line.

mod args;
mod classifier;
mod commands;
mod errors;
mod output;
mod progress;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

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
    Embed(commands::embed::EmbedArgs),
    /// Pipeline stage 2: train, sweep and apply classifiers over cached features.
    #[command(subcommand)]
    Head(Box<commands::head::HeadCommand>),
    /// End-to-end mode: fine-tune BERT and a classification head together.
    Finetune(Box<commands::finetune::FinetuneArgs>),
    /// Knowledge distillation: a student (a smaller or same-size fine-tuned BERT, or
    /// pipeline heads) learns from a fine-tuned teacher's soft targets.
    #[command(subcommand)]
    Distill(commands::distill::DistillCommand),
    /// Classify cached texts with no training: by their similarity to descriptions of
    /// the labels, embedded by the same encoder.
    ZeroShot(commands::zero_shot::ZeroShotArgs),
    /// Combine saved classifiers (seeds, heads, modes) into one, measured against its
    /// best member.
    Ensemble(commands::ensemble::EnsembleArgs),
    /// Classify texts (a file, or stdin one per line) with a fine-tuned model, a
    /// saved head or an ensemble.
    Predict(commands::predict::PredictArgs),
    /// The full metric report of a saved classifier (fine-tuned model, head or
    /// ensemble) on labelled data.
    Evaluate(commands::predict::EvaluateArgs),
    /// Write augmented copies of a data file (word swap, deletion, insertion, typos,
    /// embedding neighbours), to inspect what augmentation does.
    Augment(commands::augment::AugmentArgs),
    /// Measure this machine's throughput (what `cargo xtask bench` compares with PyTorch).
    #[command(subcommand)]
    Bench(commands::bench::BenchCommand),
    /// Both modes on the same data: pipeline (best head of a sweep) against
    /// end-to-end fine-tuning, with a report (Markdown, HTML, JSON).
    Compare(Box<commands::compare::CompareArgs>),
}

/// What a command made (a cache, a model folder), on stdout for scripts: everything
/// else goes to stderr.
fn print_path(path: std::path::PathBuf) {
    println!("{}", path.display());
}

/// A user's mistake (a bad flag, a missing file) is one `error:` line on stderr and
/// exit status 1, never a panic or a backtrace, whatever `RUST_BACKTRACE` says.
fn main() -> ExitCode {
    keep_freed_memory();
    match run(Cli::parse().command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {}", errors::describe(&error));
            ExitCode::FAILURE
        }
    }
}

fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Embed(args) => commands::embed::run(args).map(print_path),
        Command::Head(command) => {
            commands::head::run(*command).map(|made| made.into_iter().for_each(print_path))
        }
        Command::Finetune(args) => commands::finetune::run(*args).map(print_path),
        Command::Distill(command) => commands::distill::run(command).map(print_path),
        Command::Ensemble(args) => commands::ensemble::run(args).map(print_path),
        Command::ZeroShot(args) => commands::zero_shot::run(args),
        Command::Predict(args) => commands::predict::predict(args),
        Command::Evaluate(args) => commands::predict::evaluate(args),
        Command::Compare(args) => commands::compare::run(*args),
        Command::Augment(args) => commands::augment::run(args),
        Command::Bench(command) => commands::bench::run(command),
    }
}

//! `bertcls`: BERT text classification from the command line. Every command is a job
//! of the `bertcls` library: this binary declares the flags ([`flags`]), turns them
//! into the job, runs it with progress bars and prints what it made.

mod command_line;
mod errors;
mod flags;
mod print;
mod progress;

use std::io::IsTerminal;
use std::process::ExitCode;

use bertcls::{Job, PredictJob, SuiteSource};
use clap::{CommandFactory, FromArgMatches};

use crate::flags::{
    BenchCommand, Cli, Command, Comparing, DistillCommand, HeadCommand, IntoJob, SuiteCommand,
};
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
        Command::Embed(flags) => {
            let job = flags.into_job()?;
            let embedded = job.run(bars)?;
            let vectors_on_stdout = job
                .export_npy
                .as_deref()
                .is_some_and(|p| p.as_os_str() == bertcls::artifacts::STDOUT);
            print::embedded(&embedded, vectors_on_stdout)?;
        }
        Command::Head(HeadCommand::Train(flags)) => {
            print::trained_heads(&flags.into_job()?.run(bars)?)?;
        }
        Command::Head(HeadCommand::Sweep(flags)) => print::swept(&flags.into_job()?.run(bars)?),
        Command::Head(HeadCommand::Predict(flags)) => {
            print::task_report(flags.into_job()?.run(bars)?.as_ref());
        }
        Command::Finetune(flags) => print::fine_tuned(&flags.into_job()?.run(bars)?)?,
        Command::Distill(DistillCommand::Finetune(flags)) => {
            print::fine_tuned(&flags.into_job()?.run(bars)?)?;
        }
        Command::Distill(DistillCommand::Head(flags)) => {
            let swept = flags.into_job()?.run(bars)?;
            print::swept(&swept);
            print::path(&swept.best_head)?;
        }
        Command::ZeroShot(flags) => print::zero_shot(&flags.into_job()?.run(bars)?),
        Command::Ensemble(flags) => {
            let job = flags.into_job()?;
            print::ensemble(&job.run(bars)?, job.combine)?;
        }
        Command::Predict(flags) => predict(&flags.into_job()?, bars)?,
        Command::Evaluate(flags) => {
            let job = flags.into_job()?;
            print::evaluated(&job.run(bars)?, &job.input.input);
        }
        Command::Augment(flags) => {
            flags.into_job()?.run(bars)?;
        }
        Command::Bench(BenchCommand::Encoder(flags)) => {
            print::json(&flags.into_job()?.run(bars)?)?;
        }
        Command::Bench(BenchCommand::Step(flags)) => print::json(&flags.into_job()?.run(bars)?)?,
        Command::Compare(flags) => match flags.into_run()? {
            Comparing::One(job) => print::path(&job.run(bars)?.dir)?,
            Comparing::Study(job) => print::path(&job.run(bars)?.dir)?,
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
        print::task_report(predicted.report.as_ref());
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

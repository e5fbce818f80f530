//! `cargo xtask`: the project's automation, in Rust so it runs wherever cargo does.
//!
//! - `cargo xtask fetch model`        the real MiniLM weights and tokenizer
//! - `cargo xtask fetch data r8|spam|all`  the real data sets, converted and split
//! - `cargo xtask test`               everything the tests need, then the tests
//! - `cargo xtask reference`          regenerate the PyTorch parity fixtures

mod archive;
mod fetch;
mod system;

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "cargo xtask", about = "Project automation for bertcls")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Download (pinned, checksummed) and unpack the real model or data sets.
    Fetch {
        #[command(subcommand)]
        what: FetchWhat,
    },
    /// Fetch what the tests need, then run the whole test suite in release mode.
    ///
    /// The wgpu backend is built and tested too; where no Vulkan driver is installed
    /// and apt-get can be used, Debian's mesa-vulkan-drivers (lavapipe, a software
    /// Vulkan device) is installed first.
    Test {
        /// Skip the wgpu backend: a faster build for CPU-only work.
        #[arg(long)]
        no_wgpu: bool,
        /// Extra arguments for `cargo test` (after `--`), e.g. a test name filter.
        #[arg(last = true)]
        cargo_args: Vec<String>,
    },
    /// Regenerate tests/fixtures with PyTorch + transformers (creates .venv, ~3 GB).
    Reference,
}

#[derive(Subcommand)]
enum FetchWhat {
    /// all-MiniLM-L6-v2 into models/all-MiniLM-L6-v2/.
    Model {
        /// Re-download and re-unpack even if present and verified.
        #[arg(long)]
        force: bool,
    },
    /// A data set into data/NAME/ (train/validation/test JSONL + manifest.json).
    Data {
        /// r8, spam, or all.
        name: String,
        #[arg(long)]
        force: bool,
    },
}

fn main() -> Result<()> {
    let root = workspace_root();
    match Cli::parse().task {
        Task::Fetch {
            what: FetchWhat::Model { force },
        } => fetch::model(&root, force).map(drop),
        Task::Fetch {
            what: FetchWhat::Data { name, force },
        } => fetch_data(&root, &name, force),
        Task::Test {
            no_wgpu,
            cargo_args,
        } => test(&root, !no_wgpu, &cargo_args),
        Task::Reference => reference(&root),
    }
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace root")
        .to_owned()
}

fn fetch_data(root: &Path, name: &str, force: bool) -> Result<()> {
    let names: Vec<&str> = if name == "all" {
        data::sources::DATASETS.iter().map(|d| d.name).collect()
    } else {
        vec![name]
    };
    for name in names {
        let source = data::sources::dataset(name).with_context(|| {
            let known: Vec<_> = data::sources::DATASETS.iter().map(|d| d.name).collect();
            format!(
                "unknown data set {name:?}: known are {}, or all",
                known.join(", ")
            )
        })?;
        fetch::dataset(root, source, force)?;
    }
    Ok(())
}

fn test(root: &Path, wgpu: bool, cargo_args: &[String]) -> Result<()> {
    fetch::model(root, false)?;
    fetch_data(root, "all", false)?;
    if wgpu {
        system::ensure_vulkan_driver()?;
    }
    let mut command = Command::new(env!("CARGO"));
    command
        .current_dir(root)
        .args(["test", "--release", "--workspace"]);
    if wgpu {
        command.args(["--features", "bertcls/wgpu,bert/wgpu"]);
    }
    command.args(cargo_args);
    run(&mut command)
}

fn reference(root: &Path) -> Result<()> {
    fetch::model(root, false)?;
    let venv = root.join("scripts/reference/venv.sh");
    let output = Command::new("bash")
        .arg(&venv)
        .output()
        .with_context(|| format!("cannot run {}", venv.display()))?;
    if !output.status.success() {
        bail!(
            "{} failed:\n{}",
            venv.display(),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let python = String::from_utf8(output.stdout)?.trim().to_owned();
    run(Command::new(python)
        .current_dir(root)
        .arg("scripts/reference/make_fixtures.py"))
}

/// Runs a command with inherited output; a failure names the command.
pub(crate) fn run(command: &mut Command) -> Result<()> {
    let status = command
        .status()
        .with_context(|| format!("cannot start {:?}", command.get_program()))?;
    if !status.success() {
        bail!("{command:?} failed ({status})");
    }
    Ok(())
}

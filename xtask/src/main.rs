//! `cargo xtask`: the project's automation, in Rust so it runs wherever cargo does.
//!
//! - `cargo xtask fetch model`        the real MiniLM weights and tokenizer
//! - `cargo xtask fetch data r8|spam|all`  the real data sets, converted and split
//! - `cargo xtask test`               everything the tests need, then the tests
//! - `cargo xtask reference`          regenerate the PyTorch parity fixtures
//! - `cargo xtask compare [ARGS]`     the main job: both modes on one data set, a report
//! - `cargo xtask pipeline`           embed, sweep heads, test the best (pipeline mode)
//! - `cargo xtask bench heads|finetune|encoder|step`  ours against the PyTorch reference, same run
//! - `cargo xtask bench layers`  the top K layers' step and the shared pass, against the targets

mod archive;
mod bench;
mod fetch;
mod layers;
mod speed;
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
    /// The checks CI runs before the tests: formatting, clippy (warnings are errors)
    /// and the API docs (broken intra-doc links are errors).
    Lint,
    /// Regenerate tests/fixtures with PyTorch + transformers (creates .venv, ~3 GB).
    Reference,
    /// Benchmarks against the PyTorch / scikit-learn reference, measured in the same run.
    Bench {
        #[command(subcommand)]
        what: BenchWhat,
    },
    /// The main job: the frozen-encoder pipeline against end-to-end fine-tuning on one
    /// data set (R8 by default), with a report. Fetches the model and a named data set
    /// when missing, builds bertcls, then runs `bertcls compare ARGS`: every flag is
    /// passed on (`cargo xtask compare --help` lists them). Paths are relative to the
    /// workspace root.
    #[command(disable_help_flag = true)]
    Compare {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// The pipeline on a fetched data set: embed each split once (cached), sweep heads
    /// on train/validation, and report the best head on test.
    Pipeline {
        /// A fetched data set: r8 or spam (single-label).
        #[arg(long, default_value = "r8")]
        data: String,
        /// Where caches, the sweep and predictions go.
        #[arg(long, default_value = "runs")]
        out: PathBuf,
    },
}

#[derive(Subcommand)]
enum BenchWhat {
    /// Heads over cached R8 features: our linear head and default sweep against
    /// scikit-learn's LogisticRegression and a PyTorch MLP on the same features.
    Heads,
    /// End-to-end fine-tuning of MiniLM on R8 (max_len 128, batch 16, the default
    /// recipe), ours and PyTorch's on the same batches: test accuracy and macro-F1,
    /// training docs/s, peak memory. About 45 minutes on 2 cores with 3 epochs.
    Finetune {
        #[arg(long, default_value_t = 3)]
        epochs: usize,
    },
    /// Encoder inference on R8's test set, ours (in --precision), PyTorch's and ONNX
    /// Runtime's (fp32, and int8 by its quantize_dynamic) on the same batches: a fixed
    /// full batch (median of --repeats) and one pass in length-sorted batches;
    /// sentences/s, GFLOP/s against the matmul rate measured in the same run, peak
    /// memory. About 4 minutes per round (the first also exports the ONNX models).
    Encoder {
        #[arg(long, default_value_t = 128)]
        max_len: usize,
        #[arg(long, default_value_t = 32)]
        batch_size: usize,
        #[arg(long, default_value_t = 10)]
        repeats: usize,
        /// Runs of each side, alternating; every number is the median over them.
        #[arg(long, default_value_t = 3)]
        rounds: usize,
        /// What our encoder's linear layers compute in: fp32, int8 or bf16.
        #[arg(long, default_value = "fp32")]
        precision: String,
    },
    /// Full fine-tuning steps (forward, backward, clipping, AdamW) on full R8 batches,
    /// ours and PyTorch's: steps/s per batch size, peak memory. About a minute per round.
    Step {
        #[arg(long, default_value_t = 128)]
        max_len: usize,
        #[arg(long, value_delimiter = ',', default_value = "16,32")]
        batch_sizes: Vec<usize>,
        #[arg(long, default_value_t = 5)]
        repeats: usize,
        /// Runs of each side, alternating; every number is the median over them.
        #[arg(long, default_value_t = 3)]
        rounds: usize,
    },
    /// Fine-tuning only the top layers: a step of the top 2 and of the top 1 layer
    /// against a full step on the same R8 batches, and the embedding pass of R8 train
    /// (max_len 64) that keeps the states for it against the same pass without them;
    /// ratios against the targets, the state cache's bytes per value. About 6 minutes.
    Layers {
        #[arg(long, default_value_t = 128)]
        max_len: usize,
        #[arg(long, default_value_t = 16)]
        batch_size: usize,
        #[arg(long, default_value_t = 5)]
        repeats: usize,
    },
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
        /// r8, r8-tags, spam, vader-tweets, vader-nyt, or all.
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
        Task::Lint => lint(&root),
        Task::Reference => reference(&root),
        Task::Bench {
            what: BenchWhat::Heads,
        } => bench::heads(&root),
        Task::Bench {
            what: BenchWhat::Finetune { epochs },
        } => bench::finetune(&root, epochs),
        Task::Bench {
            what:
                BenchWhat::Encoder {
                    max_len,
                    batch_size,
                    repeats,
                    rounds,
                    precision,
                },
        } => speed::encoder(
            &root,
            &speed::Workload {
                max_len,
                batch_sizes: vec![batch_size],
                repeats,
                rounds,
            },
            &precision,
        ),
        Task::Bench {
            what:
                BenchWhat::Step {
                    max_len,
                    batch_sizes,
                    repeats,
                    rounds,
                },
        } => speed::step(
            &root,
            &speed::Workload {
                max_len,
                batch_sizes,
                repeats,
                rounds,
            },
        ),
        Task::Bench {
            what:
                BenchWhat::Layers {
                    max_len,
                    batch_size,
                    repeats,
                },
        } => layers::layers(&root, max_len, batch_size, repeats),
        Task::Compare { args } => compare(&root, &args),
        Task::Pipeline { data, out } => pipeline(&root, &data, &out),
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

/// The cargo features of the default build, tests and tools alike.
const FEATURES: &str = "bertcls-cli/wgpu,bertcls/wgpu,bertcls-bert/wgpu";

/// `cargo test --release --workspace [--features …]`: the one invocation that builds
/// both the tests and the `bertcls` binary. Tools build through it too, because any
/// other package selection resolves features differently and rebuilds burn (minutes).
fn cargo_test(root: &Path, wgpu: bool) -> Command {
    let mut command = Command::new(env!("CARGO"));
    command
        .current_dir(root)
        .args(["test", "--release", "--workspace"]);
    if wgpu {
        command.args(["--features", FEATURES]);
    }
    command
}

/// Builds `bertcls` (as the tests build it) and returns its path.
pub(crate) fn build_bertcls(root: &Path) -> Result<PathBuf> {
    eprintln!("building bertcls (the first build compiles burn: about 15 minutes on 2 cores)…");
    run(cargo_test(root, true).args(["--no-run", "--quiet"]))?;
    Ok(root.join("target/release/bertcls"))
}

fn test(root: &Path, wgpu: bool, cargo_args: &[String]) -> Result<()> {
    // A filtered run is someone iterating on a test: the lints wait for the full run.
    if cargo_args.is_empty() {
        lint(root)?;
    }
    fetch::model(root, false)?;
    fetch_data(root, "all", false)?;
    if wgpu {
        system::ensure_vulkan_driver()?;
    }
    run(cargo_test(root, wgpu).args(cargo_args))?;
    check_export_with_transformers(root)
}

/// `cargo fmt --check`, clippy on every target with warnings as errors, and rustdoc
/// with every warning (a broken intra-doc link, an unclosed tag) as an error.
fn lint(root: &Path) -> Result<()> {
    let cargo = || {
        let mut command = Command::new(env!("CARGO"));
        command.current_dir(root);
        command
    };
    eprintln!("lint: rustfmt, clippy, rustdoc");
    run(cargo().args(["fmt", "--all", "--check"]))?;
    run(cargo().args([
        "clippy",
        "--release",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]))?;
    run(cargo().env("RUSTDOCFLAGS", "-D warnings").args([
        "doc",
        "--release",
        "--workspace",
        "--no-deps",
    ]))
}

/// Where the PyTorch reference venv exists (`cargo xtask reference` made it), asks
/// transformers itself to load the fine-tuned folder our exporter wrote and to compute
/// the probabilities the Rust fixture test holds. Without the venv (3 GB) the Rust test
/// alone checks the export against the recorded transformers output.
fn check_export_with_transformers(root: &Path) -> Result<()> {
    let venv = std::env::var_os("BERTCLS_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join(".venv"));
    if !venv.join(".bertcls-reference-ok").exists() {
        eprintln!("(no reference venv: transformers' own check of our export is skipped)");
        return Ok(());
    }
    run(Command::new(venv.join("bin/python"))
        .current_dir(root)
        .arg("scripts/reference/check_export.py")
        .arg("crates/joint/tests/fixtures/tiny-classifier"))
}

fn compare(root: &Path, args: &[String]) -> Result<()> {
    let value_of = |flag: &str| {
        let prefix = format!("{flag}=");
        args.iter()
            .enumerate()
            .find_map(|(i, a)| match a.strip_prefix(&prefix) {
                Some(value) => Some(value.to_owned()),
                None if a == flag => args.get(i + 1).cloned(),
                None => None,
            })
    };
    let help = args.iter().any(|a| a == "--help" || a == "-h");
    if !help {
        if value_of("--model").is_none() {
            fetch::model(root, false)?;
        }
        // A suite without --data runs on every fetched data set (R8 and SpamAssassin).
        let data = match value_of("--data") {
            Some(data) => data,
            None if value_of("--suite").is_some() => "all".into(),
            None => "r8".into(),
        };
        if data == "all" || data::sources::dataset(&data).is_some() {
            fetch_data(root, &data, false)?;
        }
    }
    let bertcls = build_bertcls(root)?;
    run(Command::new(bertcls)
        .current_dir(root)
        .arg("compare")
        .args(args))
}

fn pipeline(root: &Path, name: &str, out: &Path) -> Result<()> {
    fetch::model(root, false)?;
    fetch_data(root, name, false)?;
    let bertcls = build_bertcls(root)?;
    let data = root.join("data").join(name);
    let runs = root.join(out).join(name);
    let cache = |split: &str| runs.join(format!("{split}.emb"));
    for (split, file) in [
        ("train", "train.jsonl"),
        ("valid", "validation.jsonl"),
        ("test", "test.jsonl"),
    ] {
        eprintln!("== embed {name}/{file}");
        run(Command::new(&bertcls)
            .arg("embed")
            .arg("--input")
            .arg(data.join(file))
            .arg("--output")
            .arg(cache(split)))?;
    }
    eprintln!("== head sweep");
    run(Command::new(&bertcls)
        .args(["head", "sweep", "--train"])
        .arg(cache("train"))
        .arg("--valid")
        .arg(cache("valid"))
        .arg("--out")
        .arg(runs.join("sweep")))?;
    eprintln!("== best head on the test set");
    run(Command::new(&bertcls)
        .args(["head", "predict", "--head"])
        .arg(runs.join("sweep/best.head"))
        .arg("--cache")
        .arg(cache("test"))
        .arg("--output")
        .arg(runs.join("test-predictions.jsonl")))
}

/// The python of the reference venv, created on first use.
pub(crate) fn reference_python(root: &Path) -> Result<String> {
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
    Ok(String::from_utf8(output.stdout)?.trim().to_owned())
}

fn reference(root: &Path) -> Result<()> {
    fetch::model(root, false)?;
    let python = reference_python(root)?;
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

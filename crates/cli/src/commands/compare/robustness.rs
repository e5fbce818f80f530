//! `bertcls compare --suite robustness`: adversarial training, distillation and
//! ensembles against plain training, each in the mode it belongs to, over several
//! seeds; every model is also scored on two perturbed copies of the test set (typos,
//! dropped words), which is where adversarial training should show.
//!
//! Every step is an ordinary `bertcls` command (`finetune --adv`, `distill`, `head
//! train --bag|--boost`, `ensemble`, `evaluate`), parsed by its own parser and run
//! in-process; each (arm, seed) leaves a `result.json`, so `--resume` redoes nothing
//! that finished.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use report::{Perturbation, RobustArm, RobustData, RobustResult, RobustnessStudy, slug};

use super::CompareArgs;
use super::inputs::{self, DataRequest, Subset};
use super::stages::CommandLine;
use crate::commands::{augment, distill, embed, ensemble, finetune, head, predict};

/// The data sets of the study: R8 (8 topics) and SpamAssassin (ham/spam e-mail).
const ROBUSTNESS_DATA: &[(&str, &str)] = &[("R8", "r8"), ("SpamAssassin", "spam")];

/// Defaults of this study, each overridable by the matching `compare` flag: the
/// whole MiniLM fine-tuned for one epoch at 32 tokens (the teacher every student
/// learns from), 3 seeds.
const ROBUST_SEEDS: usize = 3;
const ROBUST_MAX_LEN: usize = 32;
const ROBUST_EPOCHS: usize = 1;
const ROBUST_LEARNING_RATE: f64 = 1e-4;
/// Training examples per data set (a stratified sample; validation and test whole):
/// the 9 arms × 3 seeds × 2 data sets fine-tune the whole MiniLM about 30 times, PGD
/// at 3 passes per batch, which on all of R8 and SpamAssassin would take over two
/// hours on 2 cores.
const ROBUST_TRAIN_CAP: usize = 2000;
/// Members of the bagged and boosted head ensembles.
const ENSEMBLE_MEMBERS: &str = "5";
/// The one head every pipeline arm trains: softmax regression.
const HEAD_FLAGS: &[&str] = &["--hidden", "linear", "--lr", "0.01"];

/// The test-time perturbations: `bertcls augment` operations at fixed rates.
const PERTURBATIONS: &[(&str, &[&str])] = &[
    ("typos", &["--typo", "0.1"]),
    ("drops", &["--delete", "0.1"]),
];

/// How an arm trains its model.
#[derive(Clone, Copy)]
enum Recipe {
    /// `finetune` with these flags.
    FineTune(&'static [&'static str]),
    /// `distill finetune` of the teacher's own architecture (a born-again network),
    /// taught by the same seed's end-to-end baseline.
    BornAgain,
    /// `distill finetune` of a student with half the teacher's layers.
    SmallerStudent,
    /// `head train` over the cached features with these flags.
    Heads(&'static [&'static str]),
    /// `distill head`, taught by the same seed's end-to-end baseline.
    DistilledHeads,
}

struct ArmSpec {
    name: &'static str,
    mode: &'static str,
    description: &'static str,
    recipe: Recipe,
}

const END_TO_END: &str = "end-to-end";
const PIPELINE: &str = "pipeline";

/// Each mode's baseline first.
const ROBUST_ARMS: &[ArmSpec] = &[
    ArmSpec {
        name: "baseline",
        mode: END_TO_END,
        description: "plain fine-tuning (the teacher of the distillation arms)",
        recipe: Recipe::FineTune(&[]),
    },
    ArmSpec {
        name: "FGM",
        mode: END_TO_END,
        description: "adversarial training, FGM on the word embeddings, ε = 1",
        recipe: Recipe::FineTune(&["--adv", "fgm"]),
    },
    ArmSpec {
        name: "PGD",
        mode: END_TO_END,
        description: "adversarial training, PGD, ε = 1, 2 steps of α = 1.25",
        recipe: Recipe::FineTune(&["--adv", "pgd", "--adv-steps", "2"]),
    },
    ArmSpec {
        name: "half-depth student",
        mode: END_TO_END,
        description: "the bottom half of the teacher's layers (3 of MiniLM's 6) distilled from the baseline (T = 2, α = 0.5)",
        recipe: Recipe::SmallerStudent,
    },
    ArmSpec {
        name: "born-again",
        mode: END_TO_END,
        description: "the baseline's architecture distilled from the baseline (T = 2, α = 0.5)",
        recipe: Recipe::BornAgain,
    },
    ArmSpec {
        name: "baseline",
        mode: PIPELINE,
        description: "softmax regression over the frozen encoder's mean-pooled features",
        recipe: Recipe::Heads(&[]),
    },
    ArmSpec {
        name: "distilled head",
        mode: PIPELINE,
        description: "the same head taught by the end-to-end baseline (T = 2, α = 0.5)",
        recipe: Recipe::DistilledHeads,
    },
    ArmSpec {
        name: "bagging",
        mode: PIPELINE,
        description: "5 heads on bootstrap samples, probabilities averaged",
        recipe: Recipe::Heads(&["--bag", ENSEMBLE_MEMBERS]),
    },
    ArmSpec {
        name: "boosting",
        mode: PIPELINE,
        description: "SAMME, up to 5 heads, weighted vote",
        recipe: Recipe::Heads(&["--boost", ENSEMBLE_MEMBERS]),
    },
];

/// The files and settings every step of one data set shares.
struct Setting<'a> {
    args: &'a CompareArgs,
    dir: PathBuf,
    train: PathBuf,
    valid: PathBuf,
    /// The clean test set, then each perturbed copy.
    tests: Vec<PathBuf>,
    train_cache: PathBuf,
    valid_cache: PathBuf,
    max_len: usize,
    epochs: usize,
    learning_rate: f64,
}

/// Runs the study into `dir`.
pub(super) fn run(args: &CompareArgs, dir: &Path) -> Result<()> {
    if !args.loss.to_flags().is_empty()
        || args.sampling.is_some()
        || args.augment.is_some()
        || !args.adversary.to_flags().is_empty()
        || args.prompt.is_some()
        || args.shots.is_some()
    {
        bail!(
            "--suite robustness sets each arm's training itself; leave out --loss, --sampling, --augment, --adv, --prompt and --shots"
        );
    }
    let started = Instant::now();
    let seeds: Vec<u64> = (0..args.seeds.unwrap_or(ROBUST_SEEDS) as u64)
        .map(|i| args.seed + i)
        .collect();
    let sets: Vec<(String, String)> = match &args.data {
        Some(data) => {
            let name = Path::new(data)
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or(data);
            vec![(name.to_owned(), data.clone())]
        }
        None => ROBUSTNESS_DATA
            .iter()
            .map(|(name, data)| (name.to_string(), data.to_string()))
            .collect(),
    };
    let mut data_sets = Vec::new();
    for (name, data) in &sets {
        eprintln!("\n#### {name}");
        let setting = prepare(args, &dir.join(slug(name)), data)?;
        data_sets.push(run_data_set(&setting, name, &seeds)?);
    }
    let study = RobustnessStudy {
        recipe: recipe(args),
        perturbations: PERTURBATIONS
            .iter()
            .map(|(name, flags)| Perturbation {
                name: name.to_string(),
                flags: flags.join(" "),
            })
            .collect(),
        wall_seconds: started
            .elapsed()
            .as_secs_f64()
            .max(earlier_wall_seconds(dir)),
        data_sets,
    };
    report::write_robustness(&study, dir)?;
    super::suite::announce_finished(
        &study.terminal_tables(),
        study.wall_seconds,
        &dir.join(report::ROBUSTNESS_HTML_FILE),
    );
    Ok(())
}

/// The wall time of a study already completed in `dir` (0 if none): a resumed study
/// that only re-reads its results keeps the time of the run that made them.
fn earlier_wall_seconds(dir: &Path) -> f64 {
    std::fs::read_to_string(dir.join(report::ROBUSTNESS_RESULTS_FILE))
        .ok()
        .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
        .and_then(|study| study["wall_seconds"].as_f64())
        .unwrap_or(0.0)
}

/// The data's splits, the perturbed test copies and the cached features.
fn prepare<'a>(args: &'a CompareArgs, dir: &Path, data: &str) -> Result<Setting<'a>> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let resolved = inputs::resolve(&DataRequest {
        spec: data,
        columns: &args.columns,
        holdout: (args.holdout[0], args.holdout[1]),
        class_share: args.class_share.as_ref(),
        shots: None,
        subset: Some(Subset {
            train: ROBUST_TRAIN_CAP,
            valid: usize::MAX,
            test: usize::MAX,
        }),
        seed: args.seed,
        work_dir: &dir.join("data"),
    })?;
    if !args.columns.are_standard() {
        bail!(
            "--suite robustness reads its data with the standard columns (text, label, id): convert {} to JSONL first",
            resolved.train.display()
        );
    }
    let max_len = args.max_len.unwrap_or(ROBUST_MAX_LEN);
    let mut tests = vec![resolved.test.clone()];
    for (name, flags) in PERTURBATIONS {
        let path = dir.join(format!("test-{name}.jsonl"));
        if !path.exists() {
            run_step(
                CommandLine::new(&["augment"])
                    .arg("--input", resolved.test.display())
                    .arg("--output", path.display())
                    .args(flags.iter().map(|f| f.to_string())),
                augment::run,
            )?;
        }
        tests.push(path);
    }
    let cache = |split: &Path, name: &str| -> Result<PathBuf> {
        let output = dir.join(format!("{name}.emb"));
        run_step(
            CommandLine::new(&["embed"])
                .arg("--model", args.model.display())
                .arg("--backend", args.backend)
                .arg("--max-len", max_len)
                .arg("--input", split.display())
                .arg("--output", output.display()),
            embed::run,
        )
        .map(|(_, made)| made)
    };
    Ok(Setting {
        args,
        dir: dir.to_owned(),
        train_cache: cache(&resolved.train, "train")?,
        valid_cache: cache(&resolved.valid, "valid")?,
        train: resolved.train,
        valid: resolved.valid,
        tests,
        max_len,
        epochs: args.epochs.unwrap_or(ROBUST_EPOCHS),
        learning_rate: args.learning_rate.unwrap_or(ROBUST_LEARNING_RATE),
    })
}

/// Parses `line` with `T`'s own parser and runs it: the line as typed, and what the
/// command returned (the path of what it made).
fn run_step<T: clap::Args + clap::FromArgMatches, R>(
    line: CommandLine,
    run: impl FnOnce(T) -> Result<R>,
) -> Result<(String, R)> {
    let shown = line.display();
    eprintln!("\n$ {shown}");
    let made = run(line.parse::<T>()?).with_context(|| format!("running {shown}"))?;
    Ok((shown, made))
}

fn run_data_set(setting: &Setting<'_>, name: &str, seeds: &[u64]) -> Result<RobustData> {
    let mut arms = Vec::new();
    for arm in ROBUST_ARMS {
        let runs = seeds
            .iter()
            .map(|&seed| run_arm(setting, arm, seed))
            .collect::<Result<Vec<_>>>()?;
        arms.push(RobustArm {
            name: arm.name.to_owned(),
            mode: arm.mode.to_owned(),
            description: arm.description.to_owned(),
            runs,
        });
    }
    arms.push(seed_averaging(setting, seeds)?);
    let count = |path: &Path| -> Result<usize> {
        Ok(std::fs::read_to_string(path)?
            .lines()
            .filter(|l| !l.trim().is_empty())
            .count())
    };
    Ok(RobustData {
        name: name.to_owned(),
        train: count(&setting.train)?,
        test: count(&setting.tests[0])?,
        arms,
    })
}

/// The end-to-end baseline of `seed`: the teacher of the distillation arms.
fn teacher(setting: &Setting<'_>, seed: u64) -> PathBuf {
    arm_dir(setting, &ROBUST_ARMS[0], seed).join("run")
}

/// The encoder layers of the teacher of `seed`.
fn teacher_layers(setting: &Setting<'_>, seed: u64) -> Result<usize> {
    let config = teacher(setting, seed).join("model/config.json");
    Ok(bert::BertConfig::from_file(&config)?.num_hidden_layers)
}

fn arm_dir(setting: &Setting<'_>, arm: &ArmSpec, seed: u64) -> PathBuf {
    setting
        .dir
        .join(format!("{}-{}", slug(arm.mode), slug(arm.name)))
        .join(format!("seed-{seed}"))
}

/// Trains one arm at one seed (or reads its `result.json`), then scores it.
fn run_arm(setting: &Setting<'_>, arm: &ArmSpec, seed: u64) -> Result<RobustResult> {
    let dir = arm_dir(setting, arm, seed);
    let result_path = dir.join("result.json");
    if let Ok(text) = std::fs::read_to_string(&result_path) {
        eprintln!("already done: {}", dir.display());
        return Ok(serde_json::from_str(&text)?);
    }
    eprintln!(
        "\n## {} {} (seed {seed}): {}",
        arm.mode, arm.name, arm.description
    );
    let out = dir.join("run");
    let args = setting.args;
    let fine_tuning = |line: CommandLine, flags: &[&str]| {
        // A student's own --num-layers replaces the user's, which sets the teacher's.
        let layers = args.num_layers.filter(|_| !flags.contains(&"--num-layers"));
        let line = match layers {
            Some(k) => line.arg("--num-layers", k),
            None => line,
        };
        line.arg("--model", args.model.display())
            .arg("--backend", args.backend)
            .arg("--max-len", setting.max_len)
            .arg("--train", setting.train.display())
            .arg("--valid", setting.valid.display())
            .arg("--epochs", setting.epochs)
            .arg("--lr", setting.learning_rate)
            .arg("--seed", seed)
            .arg("--out", out.display())
            .args(flags.iter().map(|f| f.to_string()))
    };
    let heads = |line: CommandLine, flags: &[&str]| {
        line.arg("--train", setting.train_cache.display())
            .arg("--valid", setting.valid_cache.display())
            .arg("--seed", seed)
            .args(HEAD_FLAGS.iter().chain(flags).map(|f| f.to_string()))
    };
    let teaching = |line: CommandLine| {
        line.arg("--teacher", teacher(setting, seed).display())
            .arg("--teacher-cache", setting.dir.join("teachers").display())
    };
    let distill_finetune = |flags: &[&str]| {
        run_step(
            fine_tuning(teaching(CommandLine::new(&["distill", "finetune"])), flags),
            |a| distill::run(distill::DistillCommand::Finetune(Box::new(a))),
        )
    };
    let started = Instant::now();
    let (command, model) = match arm.recipe {
        Recipe::FineTune(flags) => run_step(
            fine_tuning(CommandLine::new(&["finetune"]), flags),
            finetune::run,
        )?,
        Recipe::BornAgain => distill_finetune(&[])?,
        Recipe::SmallerStudent => {
            let half = (teacher_layers(setting, seed)? / 2).max(1).to_string();
            distill_finetune(&["--num-layers", &half])?
        }
        Recipe::Heads(flags) => run_step(
            heads(CommandLine::new(&["head", "train"]), flags).arg("--out", out.display()),
            |a| {
                head::run(head::HeadCommand::Train(a))?
                    .context("head train names the folder it saved")
            },
        )?,
        Recipe::DistilledHeads => run_step(
            heads(teaching(CommandLine::new(&["distill", "head"])), &[])
                .arg("--texts", setting.train.display())
                .arg("--out", out.display()),
            |a| distill::run(distill::DistillCommand::Head(Box::new(a))),
        )?,
    };
    let train_seconds = started.elapsed().as_secs_f64();
    let result = score(setting, &model, &dir, command, train_seconds)?;
    artifacts::write_json(&result_path, &result)?;
    Ok(result)
}

/// Accuracy and macro-F1 of `model` on the clean test set, accuracy on each
/// perturbed copy (`bertcls evaluate`, reports kept in `dir`).
fn score(
    setting: &Setting<'_>,
    model: &Path,
    dir: &Path,
    command: String,
    train_seconds: f64,
) -> Result<RobustResult> {
    let names = std::iter::once("test").chain(PERTURBATIONS.iter().map(|(n, _)| *n));
    let mut reports = Vec::new();
    for (name, test) in names.zip(&setting.tests) {
        let json = dir.join(format!("{name}.json"));
        run_step(
            CommandLine::new(&["evaluate"])
                .arg("--model", model.display())
                .arg("--backend", setting.args.backend)
                .arg("--input", test.display())
                .arg("--json", json.display()),
            predict::evaluate,
        )?;
        let report: metrics::ClassificationReport =
            serde_json::from_str(&std::fs::read_to_string(&json)?)?;
        reports.push(report);
    }
    Ok(RobustResult {
        accuracy: reports[0].accuracy,
        macro_f1: reports[0].macro_f1,
        perturbed_accuracy: reports[1..].iter().map(|r| r.accuracy).collect(),
        train_seconds,
        model: model.to_owned(),
        command,
    })
}

/// The end-to-end baselines of all seeds averaged (`bertcls ensemble`): one model,
/// no training of its own.
fn seed_averaging(setting: &Setting<'_>, seeds: &[u64]) -> Result<RobustArm> {
    let dir = setting.dir.join("end-to-end-seed-averaging");
    let result_path = dir.join("result.json");
    let result = match std::fs::read_to_string(&result_path) {
        Ok(text) => serde_json::from_str(&text)?,
        Err(_) => {
            let out = dir.join("ensemble");
            let mut line = CommandLine::new(&["ensemble"]).args(["--member".to_owned()]);
            line = line.args(
                seeds
                    .iter()
                    .map(|&s| teacher(setting, s).display().to_string()),
            );
            let (command, made) = run_step(line.arg("--out", out.display()), ensemble::run)?;
            let result = score(setting, &made, &dir, command, 0.0)?;
            artifacts::write_json(&result_path, &result)?;
            result
        }
    };
    Ok(RobustArm {
        name: "seed averaging".into(),
        mode: END_TO_END.into(),
        description: format!(
            "the {} end-to-end baselines' probabilities averaged (one ensemble; no training)",
            seeds.len()
        ),
        runs: vec![result],
    })
}

fn recipe(args: &CompareArgs) -> Vec<String> {
    vec![
        format!(
            "training sets: a stratified sample of at most {ROBUST_TRAIN_CAP} examples; validation and test whole"
        ),
        format!(
            "model {}, max_len {}, backend {}, seeds {} from {}",
            args.model.display(),
            args.max_len.unwrap_or(ROBUST_MAX_LEN),
            args.backend,
            args.seeds.unwrap_or(ROBUST_SEEDS),
            args.seed
        ),
        format!(
            "end-to-end: {} encoder layers, {} epoch(s), peak learning rate {}, batch 16; students and born-again networks the same",
            args.num_layers
                .map_or_else(|| "all".to_owned(), |k| k.to_string()),
            args.epochs.unwrap_or(ROBUST_EPOCHS),
            args.learning_rate.unwrap_or(ROBUST_LEARNING_RATE)
        ),
        format!(
            "pipeline: `head train {}` over the frozen encoder's mean-pooled features at the same max_len",
            HEAD_FLAGS.join(" ")
        ),
        "each model selected on validation; test and its perturbed copies seen only at the end"
            .into(),
    ]
}

//! Long commands killed (SIGKILL: no chance to clean up) at random points: no file
//! under its final name is ever torn, and the rerun (`--resume` where there is a
//! checkpoint) completes to the result of a run that was never killed.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use artifacts::Marker;
use common::{read_jsonl, tiny_model, topic_file};
use data::SplitMix64;

/// Kills per command, at seeded random points of its uninterrupted duration.
const KILLS: usize = 4;

fn bertcls(args: &[String]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_bertcls"));
    command
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    command
}

/// Runs `args` to completion; returns its stderr.
fn run(args: &[String]) -> String {
    let output = bertcls(args).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "bertcls {args:?}:\n{stderr}");
    stderr
}

/// Runs `args` and kills it after `delay`; returns whether it was still running.
fn run_and_kill(args: &[String], delay: Duration) -> bool {
    let mut child = bertcls(args).stderr(Stdio::null()).spawn().unwrap();
    std::thread::sleep(delay);
    let running = child.try_wait().unwrap().is_none();
    child.kill().unwrap();
    child.wait().unwrap();
    running
}

/// Every file under `path` with a final name is whole: a marked folder verifies
/// against its marker, JSON parses, every JSON line parses. Hidden temporaries and
/// staging folders (`.NAME.bertcls-…`) are not final names and are skipped.
fn assert_nothing_torn(path: &Path) {
    let Ok(metadata) = std::fs::metadata(path) else {
        return;
    };
    let name = path.file_name().unwrap().to_string_lossy();
    if name.starts_with('.') && name.contains(".bertcls-") {
        return;
    }
    if metadata.is_dir() {
        if let Some(marker) = Marker::read(path).unwrap() {
            artifacts::verify(path, marker.kind)
                .unwrap_or_else(|e| panic!("{} is torn: {e}", path.display()));
        }
        for entry in std::fs::read_dir(path).unwrap() {
            assert_nothing_torn(&entry.unwrap().path());
        }
        return;
    }
    let text = || std::fs::read_to_string(path).unwrap();
    match path.extension().and_then(|e| e.to_str()) {
        Some("json") => {
            serde_json::from_str::<serde_json::Value>(&text())
                .unwrap_or_else(|e| panic!("{} is torn: {e}", path.display()));
        }
        Some("jsonl") => {
            for line in text().lines() {
                serde_json::from_str::<serde_json::Value>(line)
                    .unwrap_or_else(|e| panic!("{} is torn: {e}", path.display()));
            }
        }
        _ => {}
    }
}

/// The command `make(out)` run once whole, then killed [`KILLS`] times at random
/// points, each killed run checked and rerun (`resume(out)` says with which extra
/// flags); `same(reference, rerun)` compares the outputs.
fn killed_and_rerun(
    what: &str,
    dir: &Path,
    make: &dyn Fn(&Path) -> Vec<String>,
    resume: &dyn Fn(&Path) -> Vec<String>,
    same: &dyn Fn(&Path, &Path),
) {
    let reference = dir.join(format!("{what}-whole"));
    let started = Instant::now();
    run(&make(&reference));
    let whole = started.elapsed();
    let mut rng = SplitMix64::new(7);
    let mut interrupted = 0;
    for kill in 0..KILLS {
        let out = dir.join(format!("{what}-killed-{kill}"));
        let delay = whole.mul_f64(0.1 + 0.8 * rng.unit());
        interrupted += usize::from(run_and_kill(&make(&out), delay));
        assert_nothing_torn(&out);
        let flags = resume(&out);
        let mut again = make(&out);
        again.extend(flags.iter().cloned());
        let stderr = run(&again);
        if !flags.is_empty() {
            // Work was resumed, not redone: some steps came from the checkpoint.
            let done: usize = stderr
                .split("resuming from the checkpoint: ")
                .nth(1)
                .and_then(|rest| rest.split(' ').next())
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("{what}: the rerun did not resume:\n{stderr}"));
            assert!(done > 0, "{what}: resumed from step 0");
        }
        assert_nothing_torn(&out);
        same(&reference, &out);
    }
    assert!(
        interrupted > 0,
        "{what}: every run finished before its kill ({whole:?} whole)"
    );
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

fn path(p: &Path) -> String {
    p.to_str().unwrap().to_owned()
}

/// The probabilities a model gives `input`, one row per record.
fn probabilities(model: &Path, input: &Path) -> Vec<Vec<f64>> {
    let predictions = model.with_extension("predictions.jsonl");
    run(&strings(&[
        "predict",
        "--model",
        &path(model),
        "--input",
        &path(input),
        "--output",
        &path(&predictions),
    ]));
    read_jsonl(&predictions)
        .iter()
        .map(|line| {
            let row = line["probabilities"].as_object().unwrap();
            row.values().map(|p| p.as_f64().unwrap()).collect()
        })
        .collect()
}

fn assert_close(a: &[Vec<f64>], b: &[Vec<f64>]) {
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().flatten().zip(b.iter().flatten()) {
        assert!((x - y).abs() < 1e-5, "{x} vs {y}");
    }
}

#[test]
fn killed_commands_leave_nothing_torn_and_rerun_to_the_same_result() {
    let root = tempfile::tempdir().unwrap();
    let d = root.path();
    let model = path(&tiny_model());
    let train = topic_file(d, "train", 3000, 0);
    let valid = topic_file(d, "valid", 200, 1);
    let no_flags = |_: &Path| Vec::new();

    // embed: chunks of 128 rows; a killed run resumes from its finished chunks.
    let embed = |out: &Path| {
        strings(&[
            "embed",
            "--model",
            &model,
            "--max-len",
            "16",
            "--chunk-size",
            "128",
            "--input",
        ])
        .into_iter()
        .chain([path(&train), "--output".into(), path(out)])
        .collect()
    };
    killed_and_rerun("embed", d, &embed, &no_flags, &|a, b| {
        assert_eq!(
            std::fs::read(a.join("vectors.f32")).unwrap(),
            std::fs::read(b.join("vectors.f32")).unwrap()
        );
    });

    // head sweep over the caches of the first run.
    let valid_cache = d.join("valid.emb");
    run(&strings(&[
        "embed",
        "--model",
        &model,
        "--max-len",
        "16",
        "--input",
        &path(&valid),
        "--output",
        &path(&valid_cache),
    ]));
    let train_cache = path(&d.join("embed-whole"));
    let sweep = |out: &Path| {
        strings(&[
            "head",
            "sweep",
            "--train",
            &train_cache,
            "--valid",
            &path(&valid_cache),
            "--hidden",
            "linear,16",
            "--lr",
            "1e-2,3e-2",
            "--l2",
            "0,1e-4",
            "--epochs",
            "8",
            "--jobs",
            "1",
            "--out",
        ])
        .into_iter()
        .chain([path(out)])
        .collect()
    };
    killed_and_rerun("sweep", d, &sweep, &no_flags, &|a, b| {
        let scores = |dir: &Path| -> Vec<(String, String)> {
            let board: Vec<serde_json::Value> = serde_json::from_str(
                &std::fs::read_to_string(dir.join("leaderboard.json")).unwrap(),
            )
            .unwrap();
            let mut scores: Vec<(String, String)> = board
                .iter()
                .map(|e| (e["config"].to_string(), e["valid_score"].to_string()))
                .collect();
            scores.sort();
            scores
        };
        assert_eq!(scores(a), scores(b));
        assert_close(
            &probabilities(&a.join("best.head"), &valid),
            &probabilities(&b.join("best.head"), &valid),
        );
    });

    // finetune: a checkpoint every 4 steps; a killed run resumes from the last one.
    let finetune = |out: &Path| {
        strings(&[
            "finetune",
            "--model",
            &model,
            "--max-len",
            "16",
            "--epochs",
            "6",
            "--batch-size",
            "16",
            "--eval-every",
            "4",
            "--train",
            &path(&valid),
            "--valid",
            &path(&valid),
            "--out",
        ])
        .into_iter()
        .chain([path(out)])
        .collect()
    };
    let resume_if_checkpointed = |out: &Path| {
        if joint::has_checkpoint(out) {
            vec!["--resume".to_owned()]
        } else {
            Vec::new()
        }
    };
    killed_and_rerun(
        "finetune",
        d,
        &finetune,
        &resume_if_checkpointed,
        &|a, b| {
            assert_close(
                &probabilities(&a.join("model"), &valid),
                &probabilities(&b.join("model"), &valid),
            );
        },
    );

    // compare: a killed comparison leaves a partial report folder, never a torn file;
    // the rerun makes a new one with the same numbers.
    let data = d.join("data");
    std::fs::create_dir(&data).unwrap();
    topic_file(&data, "train", 120, 0);
    topic_file(&data, "validation", 40, 1);
    topic_file(&data, "test", 40, 2);
    let compare = |out: &Path| {
        strings(&[
            "compare",
            "--quick",
            "--model",
            &model,
            "--max-len",
            "16",
            "--epochs",
            "2",
            "--data",
            &path(&data),
            "--cache-dir",
        ])
        .into_iter()
        .chain([
            path(&out.join("cache")),
            "--state-cache-dir".into(),
            path(&out.join("states")),
            "--out".into(),
            path(out),
        ])
        .collect()
    };
    killed_and_rerun("compare", d, &compare, &no_flags, &|a, b| {
        let results = |dir: &Path| -> serde_json::Value {
            let report: PathBuf = std::fs::read_dir(dir)
                .unwrap()
                .flatten()
                .map(|e| e.path().join(report::RESULTS_FILE))
                .find(|p| p.is_file())
                .unwrap();
            serde_json::from_str(&std::fs::read_to_string(report).unwrap()).unwrap()
        };
        let (a, b) = (results(a), results(b));
        let top_1 = |v: &serde_json::Value| v["frontier"]["points"][0]["mode"].clone();
        for (mode, x, y) in [
            ("pipeline", a["pipeline"].clone(), b["pipeline"].clone()),
            ("top 1", top_1(&a), top_1(&b)),
            (
                "end-to-end",
                a["end_to_end"].clone(),
                b["end_to_end"].clone(),
            ),
        ] {
            let (x, y) = (x["runs"].as_array().unwrap(), y["runs"].as_array().unwrap());
            assert_eq!(x.len(), y.len(), "{mode}");
            for (x, y) in x.iter().zip(y) {
                assert_eq!(x["test"]["confusion"], y["test"]["confusion"], "{mode}");
            }
        }
    });
}

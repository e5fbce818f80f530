//! Helpers of the command-line tests: the tiny model, toy data, running bertcls.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub use testkit::{tiny_model, topic_file};

pub fn bertcls(args: &[&str], paths: &[(&str, &Path)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_bertcls"));
    command.args(args);
    for (flag, path) in paths {
        command.arg(flag).arg(path);
    }
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "bertcls {args:?} failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// Toy topic files (train: 30 records) and their caches embedded by the tiny model.
pub struct EmbeddedTopics {
    pub train: PathBuf,
    pub valid: PathBuf,
    pub train_cache: PathBuf,
    pub valid_cache: PathBuf,
}

/// Writes train (30) and validation (`valid` records) topic files into `dir` and
/// embeds both with the tiny model at max_len 16.
pub fn embedded_topics(dir: &Path, valid: usize) -> EmbeddedTopics {
    let topics = EmbeddedTopics {
        train: topic_file(dir, "train", 30, 0),
        valid: topic_file(dir, "valid", valid, 1),
        train_cache: dir.join("train.emb"),
        valid_cache: dir.join("valid.emb"),
    };
    for (input, cache) in [
        (&topics.train, &topics.train_cache),
        (&topics.valid, &topics.valid_cache),
    ] {
        bertcls(
            &["embed", "--max-len", "16"],
            &[
                ("--model", &tiny_model()),
                ("--input", input),
                ("--output", cache),
            ],
        );
    }
    topics
}

/// Runs bertcls expecting it to fail; returns its stderr.
pub fn bertcls_fails(args: &[&str], paths: &[(&str, &Path)]) -> String {
    let mut command = Command::new(env!("CARGO_BIN_EXE_bertcls"));
    command.args(args);
    for (flag, path) in paths {
        command.arg(flag).arg(path);
    }
    let output = command.output().unwrap();
    assert!(!output.status.success(), "bertcls {args:?} should fail");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// `bertcls finetune --max-len 16 --epochs 1` plus `extra`: a run of the tiny model
/// that takes a fraction of a second.
pub fn finetune_briefly(extra: &[&str], paths: &[(&str, &Path)]) -> Output {
    let mut args = vec!["finetune", "--max-len", "16", "--epochs", "1"];
    args.extend_from_slice(extra);
    bertcls(&args, paths)
}

/// The JSON lines of a file bertcls wrote.
pub fn read_jsonl(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// `bertcls compare ARGS` with the tiny model on `data`, reports in `out`, caches
/// in `cache`: the report folder it printed, and its stderr.
pub fn compare_tiny(args: &[&str], data: &Path, out: &Path, cache: &Path) -> (PathBuf, String) {
    let mut all = vec!["compare"];
    all.extend_from_slice(args);
    let output = bertcls(
        &all,
        &[
            ("--data", data),
            ("--model", &tiny_model()),
            ("--out", out),
            ("--cache-dir", cache),
            ("--state-cache-dir", &cache.join("states")),
        ],
    );
    let dir = PathBuf::from(String::from_utf8(output.stdout).unwrap().trim());
    (dir, String::from_utf8_lossy(&output.stderr).into_owned())
}

//! `--loss` and the imbalance flags, the same in both modes: recorded with the model,
//! and combinations that would not do what they say refused by name.

mod common;

use std::path::Path;
use std::process::Command;

use common::{bertcls, tiny_model, topic_file};

fn fails_with(args: &[&str], paths: &[(&str, &Path)], message: &str) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_bertcls"));
    command.args(args);
    for (flag, path) in paths {
        command.arg(flag).arg(path);
    }
    let output = command.output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{args:?} should fail");
    assert!(stderr.contains(message), "{args:?}: {stderr}");
}

#[test]
fn loss_settings_are_recorded_and_misfits_refused_in_both_modes() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let model = tiny_model();
    let (train, valid) = (topic_file(d, "train", 30, 0), topic_file(d, "valid", 10, 1));
    for (input, cache) in [(&train, "train.emb"), (&valid, "valid.emb")] {
        bertcls(
            &["embed", "--max-len", "16"],
            &[
                ("--model", &model),
                ("--input", input),
                ("--output", &d.join(cache)),
            ],
        );
    }
    let caches = [
        ("--train", d.join("train.emb")),
        ("--valid", d.join("valid.emb")),
    ];
    let caches: Vec<(&str, &Path)> = caches.iter().map(|(f, p)| (*f, p.as_path())).collect();

    let head = d.join("focal.head");
    let mut paths = caches.clone();
    paths.push(("--out", &head));
    bertcls(
        &[
            "head",
            "train",
            "--loss",
            "focal",
            "--focal-gamma",
            "1",
            "--class-weights",
            "animals=2,markets=1",
            "--epochs",
            "3",
        ],
        &paths,
    );
    let saved = std::fs::read_to_string(head.join("head.json")).unwrap();
    let saved: serde_json::Value = serde_json::from_str(&saved).unwrap();
    let loss = &saved["config"]["loss"];
    assert_eq!(loss["kind"], "focal", "{saved}");
    assert_eq!(loss["focal_gamma"], 1.0);
    assert_eq!(loss["class_weights"]["explicit"]["animals"], 2.0);

    fails_with(
        &[
            "head",
            "train",
            "--loss",
            "focal",
            "--label-smoothing",
            "0.1",
        ],
        &paths,
        "label smoothing is a setting of ce",
    );
    fails_with(
        &["finetune", "--loss", "ghm", "--class-weights", "balanced"],
        &[
            ("--model", &model),
            ("--train", &train),
            ("--valid", &valid),
            ("--out", &d.join("run")),
        ],
        "no class weights",
    );
    fails_with(
        &["finetune", "--class-weights", "balance"],
        &[("--model", &model), ("--train", &train)],
        "expected balanced, effective",
    );
}

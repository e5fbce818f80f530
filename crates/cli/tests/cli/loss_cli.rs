//! `--loss` and the imbalance flags, the same in both modes: recorded with the model,
//! and combinations that would not do what they say refused by name.

use crate::common;

use std::path::Path;

use common::{bertcls, bertcls_fails, embedded_topics, tiny_model};

fn fails_with(args: &[&str], paths: &[(&str, &Path)], message: &str) {
    let stderr = bertcls_fails(args, paths);
    assert!(stderr.contains(message), "{args:?}: {stderr}");
}

#[test]
fn loss_settings_are_recorded_and_misfits_refused_in_both_modes() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let model = tiny_model();
    let topics = embedded_topics(d, 10);
    let (train, valid) = (&topics.train, &topics.valid);
    let caches = vec![
        ("--train", topics.train_cache.as_path()),
        ("--valid", topics.valid_cache.as_path()),
    ];

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
        "--label-smoothing 0.1: is a setting of ce",
    );
    fails_with(
        &["finetune", "--loss", "ghm", "--class-weights", "balanced"],
        &[
            ("--model", &model),
            ("--train", train),
            ("--valid", valid),
            ("--out", &d.join("run")),
        ],
        "no class weights",
    );
    fails_with(
        &["finetune", "--class-weights", "balance"],
        &[("--model", &model), ("--train", train)],
        "expected balanced, effective",
    );
}

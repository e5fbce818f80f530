//! `bertcls distill`: a fine-tuned teacher teaches a fine-tuned student and pipeline
//! heads; its predictions are computed once and cached.

use crate::common;

use std::path::Path;

use common::{bertcls, bertcls_fails, embedded_topics, tiny_model};

#[test]
fn a_teacher_teaches_a_smaller_model_and_heads_from_one_cached_prediction() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let topics = embedded_topics(d, 10);
    let (teacher, cache) = (d.join("teacher"), d.join("teachers"));
    let model = tiny_model();
    let run = |args: &[&str], extra: &[(&str, &Path)]| {
        let mut paths: Vec<(&str, &Path)> = vec![
            ("--model", &model),
            ("--train", &topics.train),
            ("--valid", &topics.valid),
            ("--test", &topics.valid),
        ];
        paths.extend_from_slice(extra);
        bertcls(args, &paths)
    };
    run(
        &[
            "finetune",
            "--max-len",
            "16",
            "--epochs",
            "3",
            "--lr",
            "1e-3",
        ],
        &[("--out", &teacher)],
    );

    let student = d.join("student");
    let distill = [
        "distill",
        "finetune",
        "--max-len",
        "16",
        "--epochs",
        "1",
        "--num-layers",
        "1",
        "--temperature",
        "3",
        "--alpha",
        "0.7",
    ];
    let output = run(
        &distill,
        &[
            ("--teacher", &teacher),
            ("--teacher-cache", &cache),
            ("--out", &student),
        ],
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("predictions on 30 records cached in"),
        "{stderr}"
    );
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(student.join("training.json")).unwrap())
            .unwrap();
    assert_eq!(summary["num_layers"], 1);
    assert_eq!(summary["config"]["distillation"]["temperature"], 3.0);
    assert_eq!(summary["config"]["distillation"]["alpha"], 0.7);
    assert_eq!(std::fs::read_dir(&cache).unwrap().count(), 1);

    // Heads over the cached embeddings of the same texts: the teacher is not run again.
    let heads = d.join("heads");
    let output = bertcls(
        &["distill", "head", "--hidden", "linear", "--lr", "0.01"],
        &[
            ("--teacher", &teacher),
            ("--teacher-cache", &cache),
            ("--texts", &topics.train),
            ("--train", &topics.train_cache),
            ("--valid", &topics.valid_cache),
            ("--out", &heads),
        ],
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("predictions read from"), "{stderr}");
    assert!(heads.join("best.head").exists());
    assert_eq!(std::fs::read_dir(&cache).unwrap().count(), 1);

    // The texts must be those the cache was embedded from.
    let refused = bertcls_fails(
        &["distill", "head"],
        &[
            ("--teacher", &teacher),
            ("--teacher-cache", &cache),
            ("--texts", &topics.valid),
            ("--train", &topics.train_cache),
            ("--valid", &topics.valid_cache),
            ("--out", &heads),
        ],
    );
    assert!(
        refused.contains("record train-0, which the --texts file lacks"),
        "{refused}"
    );
    let refused = bertcls_fails(
        &["distill", "finetune", "--alpha", "1.5"],
        &[("--teacher", &teacher), ("--train", &topics.train)],
    );
    assert!(refused.contains("must be in [0, 1]"), "{refused}");
}

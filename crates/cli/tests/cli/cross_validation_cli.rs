//! `--cv K` in both modes: per-fold reports, their summary, out-of-fold predictions.

use crate::common;

use std::collections::BTreeSet;
use std::path::Path;

use common::{bertcls, embedded_topics, read_jsonl, tiny_model};

/// The summary's mean accuracy must be the mean over folds of the accuracy of the
/// out-of-fold predictions of that fold, recomputed here from the predictions file.
fn check_cv_files(out: &Path, folds: usize, examples: usize) {
    let cv: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("cv.json")).unwrap()).unwrap();
    assert_eq!(cv["folds"].as_array().unwrap().len(), folds);
    let lines = read_jsonl(&out.join("cv-predictions.jsonl"));
    assert_eq!(lines.len(), examples);
    let ids: BTreeSet<&str> = lines.iter().map(|l| l["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), examples, "every example predicted once");
    let mut per_fold = vec![(0usize, 0usize); folds];
    for line in &lines {
        let fold = line["fold"].as_u64().unwrap() as usize;
        per_fold[fold].0 += usize::from(line["label"] == line["true_label"]);
        per_fold[fold].1 += 1;
    }
    let mean = per_fold
        .iter()
        .map(|&(right, n)| right as f64 / n as f64)
        .sum::<f64>()
        / folds as f64;
    let reported = cv["summary"]["accuracy"]["mean"].as_f64().unwrap();
    assert!((reported - mean).abs() < 1e-9, "{reported} vs {mean}");
    assert_eq!(cv["summary"]["macro_f1"]["n"], folds);
}

#[test]
fn head_cross_validation_folds_one_cache() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let topics = embedded_topics(d, 10);
    let out = d.join("cv");
    let output = bertcls(
        &["head", "train", "--cv", "3", "--epochs", "10"],
        &[
            ("--train", &topics.train_cache),
            ("--valid", &topics.valid_cache),
            ("--out", &out),
        ],
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("3-fold cross-validation"), "{stderr}");
    check_cv_files(&out, 3, 30);
}

#[test]
fn fine_tuning_cross_validation_trains_a_model_per_fold() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let topics = embedded_topics(d, 10);
    let out = d.join("cv");
    common::finetune_briefly(
        &["--cv", "2", "--lr", "1e-3"],
        &[
            ("--model", &tiny_model()),
            ("--train", &topics.train),
            ("--valid", &topics.valid),
            ("--out", &out),
        ],
    );
    check_cv_files(&out, 2, 30);
    assert!(out.join("fold-1/model/config.json").exists());
    assert!(out.join("fold-2/training.json").exists());
}

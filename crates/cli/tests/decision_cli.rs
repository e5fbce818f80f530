//! Decision rules (`--threshold`, `--logit-adjust`): chosen after training, saved with
//! the model, and what `predict` then does, in both modes.

mod common;

use std::path::Path;
use std::process::Command;

use common::{bertcls, tiny_model, topic_file};

fn lines(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn saved_rules_decide_every_prediction() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let model = tiny_model();
    let (train, valid) = (topic_file(d, "train", 30, 0), topic_file(d, "valid", 12, 1));
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

    // Pipeline: a threshold on "markets" (the second class) for recall 1.
    let head = d.join("t.head");
    bertcls(
        &["head", "train", "--epochs", "2", "--threshold", "recall:1"],
        &[
            ("--train", &d.join("train.emb")),
            ("--valid", &d.join("valid.emb")),
            ("--out", &head),
        ],
    );
    let rule = &json(&head.join("head.json"))["decision"]["threshold"];
    let at = rule["at"].as_f64().unwrap();
    assert_eq!(rule["target"]["recall"], 1.0);
    let predictions = d.join("head.jsonl");
    bertcls(
        &["head", "predict"],
        &[
            ("--head", &head),
            ("--cache", &d.join("valid.emb")),
            ("--output", &predictions),
        ],
    );
    let mut markets = 0;
    for p in lines(&predictions) {
        let p_markets = p["probabilities"]["markets"].as_f64().unwrap();
        let expected = if p_markets >= at - 1e-7 {
            "markets"
        } else {
            "animals"
        };
        assert_eq!(p["label"], expected, "{p}");
        markets += usize::from(p["true_label"] == "markets" && p["label"] == "markets");
    }
    assert_eq!(
        markets, 6,
        "recall 1 on the validation data it was chosen on"
    );

    // End to end: the same rule, saved in bertcls.json, used by `bertcls predict`.
    let run = d.join("run");
    bertcls(
        &[
            "finetune",
            "--max-len",
            "16",
            "--epochs",
            "1",
            "--threshold",
            "recall:1",
        ],
        &[
            ("--model", &model),
            ("--train", &train),
            ("--valid", &valid),
            ("--out", &run),
        ],
    );
    let at = json(&run.join("model/bertcls.json"))["decision"]["threshold"]["at"]
        .as_f64()
        .unwrap();
    let predictions = d.join("finetuned.jsonl");
    bertcls(
        &["predict"],
        &[
            ("--model", &run),
            ("--input", &valid),
            ("--output", &predictions),
        ],
    );
    for p in lines(&predictions) {
        let p_markets = p["probabilities"]["markets"].as_f64().unwrap();
        let expected = if p_markets >= at - 1e-7 {
            "markets"
        } else {
            "animals"
        };
        assert_eq!(p["label"], expected, "{p}");
    }

    // Logit adjustment keeps the training priors with the model.
    let adjusted = d.join("a.head");
    bertcls(
        &["head", "train", "--epochs", "2", "--logit-adjust", "0.5"],
        &[
            ("--train", &d.join("train.emb")),
            ("--valid", &d.join("valid.emb")),
            ("--out", &adjusted),
        ],
    );
    let rule = &json(&adjusted.join("head.json"))["decision"]["logit-adjusted"];
    assert_eq!(rule["tau"], 0.5);
    assert_eq!(
        rule["priors"],
        serde_json::json!([0.5, 0.5]),
        "15 of each in train"
    );

    let output = Command::new(env!("CARGO_BIN_EXE_bertcls"))
        .args([
            "head",
            "train",
            "--logit-adjust",
            "1",
            "--threshold",
            "f1",
            "--out",
        ])
        .arg(d.join("x.head"))
        .arg("--train")
        .arg(d.join("train.emb"))
        .arg("--valid")
        .arg(d.join("valid.emb"))
        .output()
        .unwrap();
    assert!(!output.status.success(), "one rule at a time");
    assert!(String::from_utf8_lossy(&output.stderr).contains("cannot be used with"));
}

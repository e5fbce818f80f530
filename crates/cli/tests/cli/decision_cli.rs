//! Decision rules (`--threshold`, `--logit-adjust`): chosen after training, saved with
//! the model, and what `predict` then does, in both modes.

use crate::common;

use std::path::Path;

use common::{bertcls, bertcls_fails, embedded_topics, finetune_briefly, tiny_model};

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

/// A prediction line decided by "markets when its probability reaches `at`".
fn assert_thresholded(prediction: &serde_json::Value, at: f64) {
    let p_markets = prediction["probabilities"]["markets"].as_f64().unwrap();
    // The probabilities are written as f32: compare with that much slack.
    let expected = if p_markets >= at - 1e-7 {
        "markets"
    } else {
        "animals"
    };
    assert_eq!(prediction["label"], expected, "{prediction}");
}

#[test]
fn saved_rules_decide_every_prediction() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let model = tiny_model();
    let topics = embedded_topics(d, 12);
    let (train, valid) = (&topics.train, &topics.valid);
    let train_head = |rule: &[&str], out: &Path| {
        let mut args = vec!["head", "train", "--epochs", "2"];
        args.extend_from_slice(rule);
        bertcls(
            &args,
            &[
                ("--train", &topics.train_cache),
                ("--valid", &topics.valid_cache),
                ("--out", out),
            ],
        )
    };

    // Pipeline: a threshold on "markets" (the second class) for recall 1.
    let head = d.join("t.head");
    train_head(&["--threshold", "recall:1"], &head);
    let rule = &json(&head.join("head.json"))["decision"]["threshold"];
    let at = rule["at"].as_f64().unwrap();
    assert_eq!(rule["target"]["recall"], 1.0);
    let predictions = d.join("head.jsonl");
    bertcls(
        &["head", "predict"],
        &[
            ("--head", &head),
            ("--cache", &topics.valid_cache),
            ("--output", &predictions),
        ],
    );
    let mut markets = 0;
    for p in lines(&predictions) {
        assert_thresholded(&p, at);
        markets += usize::from(p["true_label"] == "markets" && p["label"] == "markets");
    }
    assert_eq!(
        markets, 6,
        "recall 1 on the validation data it was chosen on"
    );

    // End to end: the same rule, saved in bertcls.json, used by `bertcls predict`.
    let run = d.join("run");
    finetune_briefly(
        &["--threshold", "recall:1"],
        &[
            ("--model", &model),
            ("--train", train),
            ("--valid", valid),
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
            ("--input", valid),
            ("--output", &predictions),
        ],
    );
    for p in lines(&predictions) {
        assert_thresholded(&p, at);
    }

    // Logit adjustment keeps the training priors with the model, and every
    // prediction is argmax(log p − τ log π): on skewed data (24 animals, 6 markets)
    // it moves decisions towards the rare class.
    let skewed = d.join("skewed.jsonl");
    let skewed_lines: Vec<String> = std::fs::read_to_string(common::topic_file(d, "all", 48, 0))
        .unwrap()
        .lines()
        .enumerate()
        .filter(|(i, _)| i % 2 == 0 || i % 8 == 1)
        .map(|(_, line)| line.to_owned())
        .collect();
    std::fs::write(&skewed, skewed_lines.join("\n") + "\n").unwrap();
    let skewed_cache = d.join("skewed.emb");
    bertcls(
        &["embed", "--max-len", "16"],
        &[
            ("--model", &model),
            ("--input", &skewed),
            ("--output", &skewed_cache),
        ],
    );
    let adjusted = d.join("a.head");
    bertcls(
        &["head", "train", "--epochs", "2", "--logit-adjust", "1"],
        &[
            ("--train", &skewed_cache),
            ("--valid", &topics.valid_cache),
            ("--out", &adjusted),
        ],
    );
    let rule = &json(&adjusted.join("head.json"))["decision"]["logit-adjusted"];
    assert_eq!(rule["tau"], 1.0);
    assert_eq!(
        rule["priors"],
        serde_json::json!([0.8, 0.2]),
        "24 and 6 of 30"
    );
    let predictions = d.join("adjusted.jsonl");
    bertcls(
        &["head", "predict"],
        &[
            ("--head", &adjusted),
            ("--cache", &topics.valid_cache),
            ("--output", &predictions),
        ],
    );
    let mut moved = 0;
    for p in lines(&predictions) {
        let probability = |label: &str| p["probabilities"][label].as_f64().unwrap();
        let (animals, markets) = (probability("animals"), probability("markets"));
        let adjusted_choice = if markets.ln() - 0.2f64.ln() > animals.ln() - 0.8f64.ln() {
            "markets"
        } else {
            "animals"
        };
        assert_eq!(p["label"], adjusted_choice, "{p}");
        moved += usize::from((markets > animals) != (adjusted_choice == "markets"));
    }
    assert!(
        moved > 0,
        "the rule changed no decision: the test shows nothing"
    );

    let stderr = bertcls_fails(
        &["head", "train", "--logit-adjust", "1", "--threshold", "f1"],
        &[
            ("--train", &topics.train_cache),
            ("--valid", &topics.valid_cache),
            ("--out", &d.join("x.head")),
        ],
    );
    assert!(
        stderr.contains("cannot be used with"),
        "one rule at a time: {stderr}"
    );
}

//! `bertcls augment`: augmented copies of chosen classes, reproducible, with
//! neighbours taken from the model's vocabulary.

use crate::common;

use std::collections::BTreeSet;
use std::process::Command;

use common::{bertcls, bertcls_fails, embedded_topics, finetune_briefly, tiny_model, topic_file};

use common::read_jsonl as records;

#[test]
fn augmented_copies_of_chosen_classes_reproducibly() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let input = topic_file(d, "topics", 20, 0);
    let run = |output: &str, extra: &[&str]| {
        let path = d.join(output);
        let mut args = vec![
            "augment",
            "--classes",
            "markets",
            "--copies",
            "2",
            "--seed",
            "7",
        ];
        args.extend_from_slice(extra);
        bertcls(&args, &[("--input", &input), ("--output", &path)]);
        records(&path)
    };
    let out = run(
        "a.jsonl",
        &["--swap", "0.3", "--typo", "0.3", "--keep-original"],
    );
    assert_eq!(
        out.len(),
        20 + 2 * 10,
        "originals plus two copies of each markets record"
    );
    let copies: Vec<_> = out
        .iter()
        .filter(|r| r["id"].as_str().unwrap().contains("#aug"))
        .collect();
    assert_eq!(copies.len(), 20);
    assert!(copies.iter().all(|r| r["label"] == "markets"));
    let originals: BTreeSet<&str> = out
        .iter()
        .filter(|r| !r["id"].as_str().unwrap().contains("#aug"))
        .map(|r| r["text"].as_str().unwrap())
        .collect();
    assert!(
        copies
            .iter()
            .any(|r| !originals.contains(r["text"].as_str().unwrap())),
        "copies differ from their originals"
    );
    assert_eq!(
        out,
        run(
            "b.jsonl",
            &["--swap", "0.3", "--typo", "0.3", "--keep-original"]
        ),
        "same seed, same file"
    );

    // Neighbours come from the model's vocabulary: whole words, never [CLS] or the like.
    let vocab: BTreeSet<String> = std::fs::read_to_string(tiny_model().join("vocab.txt"))
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    let model = tiny_model();
    let path = d.join("n.jsonl");
    bertcls(
        &["augment", "--neighbour", "1", "--seed", "7"],
        &[
            ("--input", &input),
            ("--output", &path),
            ("--model", &model),
        ],
    );
    let replaced = records(&path);
    assert_eq!(replaced.len(), 20);
    for (new, old) in replaced.iter().zip(records(&input)) {
        let (new, old) = (new["text"].as_str().unwrap(), old["text"].as_str().unwrap());
        assert_eq!(new.split(' ').count(), old.split(' ').count());
        for (n, o) in new.split(' ').zip(old.split(' ')) {
            assert!(vocab.contains(n) && !n.starts_with('['), "{o} → {n}");
            assert_ne!(n, o, "at rate 1 every vocabulary word is replaced");
        }
    }

    let output = Command::new(env!("CARGO_BIN_EXE_bertcls"))
        .args(["augment", "--output", "x.jsonl", "--input"])
        .arg(&input)
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("no operation chosen"));
}

#[test]
fn augmented_variants_feed_over_sampling_in_both_modes() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let model = tiny_model();
    let topics = embedded_topics(d, 10);
    let variants = d.join("variants.jsonl");
    bertcls(
        &[
            "augment",
            "--classes",
            "markets",
            "--copies",
            "2",
            "--swap",
            "0.3",
        ],
        &[("--input", &topics.train), ("--output", &variants)],
    );
    let variants_cache = d.join("variants.emb");
    bertcls(
        &["embed", "--max-len", "16"],
        &[
            ("--model", &model),
            ("--input", &variants),
            ("--output", &variants_cache),
        ],
    );
    let caches = [
        ("--train", topics.train_cache.as_path()),
        ("--valid", topics.valid_cache.as_path()),
        ("--augmented", variants_cache.as_path()),
        ("--out", &d.join("h.head")),
    ];
    bertcls(
        &["head", "train", "--sampling", "oversample", "--epochs", "2"],
        &caches,
    );
    let refused = bertcls_fails(&["head", "train", "--epochs", "2"], &caches);
    assert!(refused.contains("add --sampling oversample"), "{refused}");

    let run = d.join("run");
    let finetune = [
        ("--model", model.as_path()),
        ("--train", topics.train.as_path()),
        ("--valid", topics.valid.as_path()),
        ("--augmented", variants.as_path()),
        ("--out", run.as_path()),
    ];
    finetune_briefly(&["--sampling", "oversample"], &finetune);
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("training.json")).unwrap()).unwrap();
    assert_eq!(summary["train_examples"], 30);
    assert_eq!(
        summary["augmented_variants"], 30,
        "two copies of the 15 markets records"
    );
    let refused = bertcls_fails(&["finetune", "--max-len", "16", "--epochs", "1"], &finetune);
    assert!(refused.contains("over-sampling"), "{refused}");
}

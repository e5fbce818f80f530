//! The pipeline end to end through `bertcls`: embed, sweep heads, predict from a cache
//! and from raw text, and refuse features of another encoder.

use std::path::Path;
use std::process::Command;

use crate::common;

use common::{bertcls, tiny_model, topic_file};

#[test]
fn embed_sweep_predict() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let model = tiny_model();
    for (name, n, offset) in [("train", 60, 0), ("valid", 20, 1)] {
        let input = topic_file(d, name, n, offset);
        bertcls(
            &["embed", "--max-len", "32"],
            &[
                ("--model", &model),
                ("--input", &input),
                ("--output", &d.join(format!("{name}.emb"))),
            ],
        );
    }
    let out = d.join("sweep");
    bertcls(
        &[
            "head",
            "sweep",
            "--hidden",
            "linear,16",
            "--lr",
            "1e-2,3e-2",
            "--l2",
            "0",
            "--dropout",
            "0",
            "--epochs",
            "20",
        ],
        &[
            ("--train", &d.join("train.emb")),
            ("--valid", &d.join("valid.emb")),
            ("--out", &out),
        ],
    );
    let leaderboard: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(out.join("leaderboard.json")).unwrap())
            .unwrap();
    assert_eq!(leaderboard.len(), 4);
    assert_eq!(leaderboard[0]["metric"], "macro-f1");
    let best_f1 = leaderboard[0]["valid_score"].as_f64().unwrap();
    assert!(
        best_f1 > 0.9,
        "the topics use disjoint words; best macro-F1 {best_f1}"
    );
    let csv = std::fs::read_to_string(out.join("leaderboard.csv")).unwrap();
    assert_eq!(csv.lines().count(), 5);

    // A grid file, with a flag overriding one of its lists.
    let grid = d.join("grid.toml");
    std::fs::write(&grid, "hidden = [[], [8]]\nlearning_rates = [0.01]\nl2 = [0.0]\ndropout = [0.0]\n\n[base]\nepochs = 5\n").unwrap();
    let from_file = d.join("sweep-file");
    bertcls(
        &["head", "sweep", "--l2", "0,0.001"],
        &[
            ("--train", &d.join("train.emb")),
            ("--valid", &d.join("valid.emb")),
            ("--grid-file", &grid),
            ("--out", &from_file),
        ],
    );
    let entries: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(from_file.join("leaderboard.json")).unwrap())
            .unwrap();
    assert_eq!(entries.len(), 4, "2 shapes × 2 L2 values");
    assert!(entries.iter().all(|e| e["config"]["epochs"] == 5));
    std::fs::write(&grid, "hiden = [[]]\n").unwrap();
    let typo = Command::new(env!("CARGO_BIN_EXE_bertcls"))
        .args(["head", "sweep"])
        .arg("--train")
        .arg(d.join("train.emb"))
        .arg("--valid")
        .arg(d.join("valid.emb"))
        .arg("--grid-file")
        .arg(&grid)
        .arg("--out")
        .arg(&from_file)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&typo.stderr);
    assert!(
        !typo.status.success() && stderr.contains("hiden"),
        "a misspelt key must be an error: {stderr}"
    );

    // From the cache, and from the raw text: the same predictions.
    let head = out.join("best.head");
    let from_cache = d.join("p1.jsonl");
    let from_text = d.join("p2.jsonl");
    let report = bertcls(
        &["head", "predict"],
        &[
            ("--head", &head),
            ("--cache", &d.join("valid.emb")),
            ("--output", &from_cache),
        ],
    );
    assert!(String::from_utf8_lossy(&report.stderr).contains("macro-F1"));
    bertcls(
        &["head", "predict"],
        &[
            ("--head", &head),
            ("--input", &d.join("valid.jsonl")),
            ("--output", &from_text),
        ],
    );
    let labels = |path: &Path| -> Vec<String> {
        std::fs::read_to_string(path)
            .unwrap()
            .lines()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).unwrap()["label"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect()
    };
    assert_eq!(labels(&from_cache).len(), 20);
    assert_eq!(labels(&from_cache), labels(&from_text));

    // Features made with another pooling, or in another precision, are refused,
    // naming both encoders.
    for (flags, head_side, features_side) in [
        (["--pooling", "cls"], "mean pooling", "cls pooling"),
        (["--precision", "int8"], "layers last\n", "int8 products"),
    ] {
        let other = d.join(format!("valid-{}.emb", flags[1]));
        let mut args = vec!["embed", "--max-len", "32"];
        args.extend(flags);
        bertcls(
            &args,
            &[
                ("--model", &model),
                ("--input", &d.join("valid.jsonl")),
                ("--output", &other),
            ],
        );
        let refused = Command::new(env!("CARGO_BIN_EXE_bertcls"))
            .args(["head", "predict"])
            .arg("--head")
            .arg(&head)
            .arg("--cache")
            .arg(&other)
            .arg("--output")
            .arg(d.join("p3.jsonl"))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&refused.stderr);
        assert!(!refused.status.success(), "{flags:?}");
        let line = |side: &str| {
            stderr
                .lines()
                .find(|l| l.trim_start().starts_with(side))
                .map(|l| format!("{l}\n"))
                .unwrap_or_default()
        };
        assert!(
            line("head:").contains(head_side) && line("features:").contains(features_side),
            "{flags:?}: {stderr}"
        );
    }
}

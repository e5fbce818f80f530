//! `bertcls bench`: the workloads it times are the ones it says, counted independently.

use crate::common;

use common::{bertcls, bertcls_fails, tiny_model, topic_file};
use serde_json::Value;

/// Tokens of topic record `i` with the tiny model's whole-word vocabulary: [CLS], its
/// 3 + (i mod 4) words joined by "the", [SEP]; truncated at `max_len`.
fn topic_tokens(records: usize, max_len: usize) -> Vec<usize> {
    (0..records)
        .map(|i| (2 * (3 + i % 4) + 1).min(max_len))
        .collect()
}

fn json(output: &std::process::Output) -> Value {
    serde_json::from_slice(&output.stdout).expect("bench prints one JSON object")
}

#[test]
fn encoder_bench_times_the_batches_it_describes() {
    let dir = tempfile::tempdir().unwrap();
    let topics = topic_file(dir.path(), "topics", 40, 0);
    let output = bertcls(
        &[
            "bench",
            "encoder",
            "--max-len",
            "8",
            "--batch-size",
            "4",
            "--repeats",
            "2",
        ],
        &[("--model", &tiny_model()), ("--input", &topics)],
    );
    let result = json(&output);

    let lengths = topic_tokens(40, 8);
    let mut sorted = lengths.clone();
    sorted.sort();
    let padded: usize = sorted
        .chunks(4)
        .map(|b| b.len() * b.iter().max().unwrap())
        .sum();
    assert_eq!(result["sorted"]["sequences"], 40);
    assert_eq!(result["sorted"]["tokens"], lengths.iter().sum::<usize>());
    assert_eq!(result["sorted"]["padded_tokens"], padded);
    assert_eq!(
        result["fixed"]["tokens"],
        4 * 8,
        "a full batch: 4 texts of 8 tokens"
    );
    for timing in [
        &result["fixed"]["seconds"],
        &result["sorted"]["seconds"],
        &result["matmul_4096x384x1536_seconds"],
    ] {
        let seconds = timing.as_f64().unwrap();
        assert!(seconds > 0.0 && seconds.is_finite(), "{result}");
    }
}

#[test]
fn encoder_bench_refuses_a_fixed_batch_the_data_cannot_fill() {
    let dir = tempfile::tempdir().unwrap();
    let topics = topic_file(dir.path(), "topics", 12, 0);
    let stderr = bertcls_fails(
        &["bench", "encoder", "--max-len", "8", "--batch-size", "32"],
        &[("--model", &tiny_model()), ("--input", &topics)],
    );
    assert!(
        stderr.contains("--max-len 8: only 9 texts") && stderr.contains("lower it"),
        "the error says why and what to do:\n{stderr}"
    );
}

#[test]
fn step_bench_times_each_batch_size() {
    let dir = tempfile::tempdir().unwrap();
    let topics = topic_file(dir.path(), "topics", 40, 0);
    let output = bertcls(
        &[
            "bench",
            "step",
            "--max-len",
            "8",
            "--batch-sizes",
            "2,4",
            "--repeats",
            "1",
        ],
        &[("--model", &tiny_model()), ("--input", &topics)],
    );
    let result = json(&output);
    let steps = result["steps"].as_array().unwrap();
    let sizes: Vec<u64> = steps
        .iter()
        .map(|s| s["batch_size"].as_u64().unwrap())
        .collect();
    assert_eq!(sizes, [2, 4]);
    for step in steps {
        assert_eq!(
            step["tokens"].as_u64(),
            step["batch_size"].as_u64().map(|b| b * 8)
        );
        let seconds = step["seconds"].as_f64().unwrap();
        assert!(seconds > 0.0 && seconds.is_finite(), "{result}");
    }
    assert!(result["peak_rss_mib"].as_f64().unwrap() > 0.0);
}

#[test]
fn step_bench_refuses_an_empty_batch() {
    let dir = tempfile::tempdir().unwrap();
    let topics = topic_file(dir.path(), "topics", 8, 0);
    let stderr = bertcls_fails(
        &["bench", "step", "--max-len", "8", "--batch-sizes", "2,0"],
        &[("--model", &tiny_model()), ("--input", &topics)],
    );
    assert!(
        stderr.contains("--batch-sizes 2,0: needs sizes of at least 1"),
        "{stderr}"
    );
}

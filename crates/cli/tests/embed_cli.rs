//! `bertcls embed` end to end: the .npy rows against PyTorch's outputs for the same
//! texts (mean of the last hidden states, from the tiny model's reference.json).

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

fn tiny_model() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../bert/tests/fixtures/tiny-safetensors-gelu")
}

fn bertcls() -> Command {
    Command::new(env!("CARGO_BIN_EXE_bertcls"))
}

#[test]
fn embed_writes_mean_pooled_vectors_that_match_pytorch() {
    let reference: Value = serde_json::from_str(
        &std::fs::read_to_string(tiny_model().join("reference.json")).unwrap(),
    )
    .unwrap();
    let singles: Vec<&Value> = reference["cases"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["text_b"].is_null())
        .collect();
    assert!(singles.len() >= 2);

    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.csv");
    let mut csv = String::from("sentence,label\n");
    for case in &singles {
        csv.push_str(&format!("{},x\n", case["text"].as_str().unwrap()));
    }
    std::fs::write(&input, csv).unwrap();
    let output = dir.path().join("out.npy");
    let status = bertcls()
        .args([
            "embed",
            "--text-col",
            "sentence",
            "--pooling",
            "mean",
            "--max-len",
            "32",
        ])
        .arg("--model")
        .arg(tiny_model())
        .arg("--input")
        .arg(&input)
        .arg("--output")
        .arg(&output)
        .status()
        .unwrap();
    assert!(status.success());

    let (values, (rows, cols)) = encoder::read_npy(&output).unwrap();
    assert_eq!((rows, cols), (singles.len(), 32));
    for (i, case) in singles.iter().enumerate() {
        let states: Vec<Vec<f64>> =
            serde_json::from_value(case["last_hidden_state"].clone()).unwrap();
        let mean: Vec<f64> = (0..cols)
            .map(|j| states.iter().map(|s| s[j]).sum::<f64>() / states.len() as f64)
            .collect();
        let diff = mean
            .iter()
            .zip(&values[i * cols..(i + 1) * cols])
            .map(|(a, b)| (a - *b as f64).abs())
            .fold(0.0, f64::max);
        assert!(diff < 1e-5, "row {i} differs from PyTorch by {diff}");
    }
}

#[test]
fn bad_input_rows_are_reported_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.jsonl");
    std::fs::write(&input, "{\"text\":\"cat\"}\n{\"text\":\"\"}\n").unwrap();
    let run = |extra: &[&str]| {
        bertcls()
            .args(["embed", "--max-len", "32"])
            .arg("--model")
            .arg(tiny_model())
            .arg("--input")
            .arg(&input)
            .arg("--output")
            .arg(dir.path().join("out.npy"))
            .args(extra)
            .output()
            .unwrap()
    };
    let failed = run(&[]);
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert!(!failed.status.success());
    assert!(
        stderr.contains("in.jsonl:2") && stderr.contains("empty text"),
        "{stderr}"
    );

    let skipped = run(&["--skip-bad-rows"]);
    let stderr = String::from_utf8_lossy(&skipped.stderr);
    assert!(skipped.status.success(), "{stderr}");
    assert!(
        stderr.contains("skipped 1 bad rows") && stderr.contains("line 2"),
        "{stderr}"
    );
}

#[test]
fn an_unknown_backend_is_refused_with_the_choices() {
    let out = bertcls()
        .args([
            "embed",
            "--input",
            "x.jsonl",
            "--output",
            "y.npy",
            "--backend",
            "tpu",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("flex, ndarray or wgpu"),
        "{stderr}"
    );
}

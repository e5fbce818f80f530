//! `bertcls embed` end to end: the .npy rows against PyTorch's outputs for the same
//! texts (mean of the last hidden states, from the tiny model's reference.json).

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use testkit::tiny_model;

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
        .arg(dir.path().join("in.emb"))
        .arg("--export-npy")
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
    numpy_reads_the_same_matrix(&output, &values, (rows, cols));
}

/// Where the PyTorch reference venv exists (`cargo xtask reference` makes it, or
/// `BERTCLS_VENV` names one), numpy itself loads the `.npy` and must see our matrix.
fn numpy_reads_the_same_matrix(path: &std::path::Path, values: &[f32], shape: (usize, usize)) {
    let venv = std::env::var_os("BERTCLS_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.venv"));
    if !venv.join(".bertcls-reference-ok").exists() {
        eprintln!("(no reference venv: numpy's own reading of the .npy is not checked)");
        return;
    }
    let script = "import sys, numpy\n\
        a = numpy.load(sys.argv[1])\n\
        assert a.dtype == numpy.float32 and a.flags.c_contiguous, a.dtype\n\
        print(a.shape[0], a.shape[1], ' '.join(repr(float(x)) for x in a.ravel()))";
    let output = Command::new(venv.join("bin/python"))
        .args(["-c", script])
        .arg(path)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8(output.stdout).unwrap();
    let numbers: Vec<f64> = stdout
        .split_whitespace()
        .map(|x| x.parse().unwrap())
        .collect();
    assert_eq!((numbers[0] as usize, numbers[1] as usize), shape);
    let read: Vec<f32> = numbers[2..].iter().map(|&x| x as f32).collect();
    assert_eq!(read, values, "numpy reads other values than we wrote");
}

/// `bertcls embed` of `input` with the tiny model into `output`, and `extra` flags.
fn embed_tiny(input: &Path, output: &Path, extra: &[&str]) -> std::process::Output {
    bertcls()
        .args(["embed", "--max-len", "32"])
        .arg("--model")
        .arg(tiny_model())
        .arg("--input")
        .arg(input)
        .arg("--output")
        .arg(output)
        .args(extra)
        .output()
        .unwrap()
}

#[test]
fn bad_input_rows_are_reported_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.jsonl");
    std::fs::write(&input, "{\"text\":\"cat\"}\n{\"text\":\"\"}\n").unwrap();
    let run = |extra: &[&str]| embed_tiny(&input, &dir.path().join("out.emb"), extra);
    let failed = run(&[]);
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert!(!failed.status.success());
    assert!(
        stderr.contains("in.jsonl:2") && stderr.contains("nothing BERT reads"),
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

/// Tags and values are embedded, the task found said with its reason (the setting
/// that asks for another named as its flag); a label that does not fit the task
/// asked for is a bad row, and what cannot learn the task yet refuses it by name.
#[test]
fn the_task_a_file_poses_is_said_and_what_cannot_learn_it_refuses() {
    let dir = tempfile::tempdir().unwrap();
    let embed = |name: &str, content: &str, extra: &[&str]| {
        let input = dir.path().join(name);
        std::fs::write(&input, content).unwrap();
        embed_tiny(&input, &dir.path().join(format!("{name}.emb")), extra)
    };
    // Embedding reads every task (the cache keeps the labels as they are) and says
    // which it found when the labels' form chose it.
    let whole = embed(
        "grades.jsonl",
        "{\"text\":\"a\",\"label\":1}\n{\"text\":\"b\",\"label\":3}\n",
        &[],
    );
    let stderr = String::from_utf8_lossy(&whole.stderr);
    assert!(whole.status.success(), "{stderr}");
    assert!(
        stderr.contains("grades.jsonl: read as single-label data (the labels are whole numbers")
            && stderr.contains("set --task to regression"),
        "{stderr}"
    );
    let read_as = |name: &str, content: &str, extra: &[&str]| {
        let out = embed(name, content, extra);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "{stderr}");
        stderr
    };
    let values = "{\"text\":\"good\",\"label\":0.5}\n{\"text\":\"bad\",\"label\":-2}\n";
    let stderr = read_as("scores.jsonl", values, &[]);
    assert!(
        stderr.contains(
            "scores.jsonl: read as regression data (the labels are numbers, not all whole)"
        ),
        "{stderr}"
    );
    let tags = "text,label\nsports and politics,sports|politics\n";
    let stderr = read_as("tags.csv", tags, &["--label-sep", "|"]);
    assert!(
        stderr.contains("tags.csv: read as multi-label data (the labels are lists)"),
        "{stderr}"
    );
    let refused = embed("tags.csv", tags, &["--task", "regression"]);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        !refused.status.success()
            && stderr.contains("tags.csv:2: the label \"sports|politics\" is not a finite number"),
        "{stderr}"
    );
    // Heads learn values, ranked by RMSE; what draws examples by class is refused
    // by its flag.
    let cache = dir.path().join("scores.jsonl.emb");
    let sweep = |extra: &[&str]| {
        bertcls()
            .args([
                "head", "sweep", "--hidden", "linear", "--epochs", "2", "--train",
            ])
            .arg(&cache)
            .arg("--valid")
            .arg(&cache)
            .arg("--out")
            .arg(dir.path().join("sweep"))
            .args(extra)
            .output()
            .unwrap()
    };
    let swept = sweep(&[]);
    let stderr = String::from_utf8_lossy(&swept.stderr);
    assert!(
        swept.status.success()
            && stderr.contains("regression heads ranked by validation RMSE (lower is better)"),
        "{stderr}"
    );
    let refused = sweep(&["--sampling", "oversample"]);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        !refused.status.success()
            && stderr.contains("regression examples have no single class (leave out --sampling)"),
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
            "y.emb",
            "--backend",
            "tpu",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("`flex`, `ndarray`, `wgpu`"),
        "{stderr}"
    );
}

fn minilm() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models/all-MiniLM-L6-v2");
    assert!(
        dir.exists(),
        "run `cargo xtask fetch model` (the README's test command does)"
    );
    dir
}

fn r8_sample(dir: &std::path::Path, n: usize) -> PathBuf {
    let r8 = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../data/r8/test.jsonl");
    let lines: Vec<String> = std::fs::read_to_string(&r8)
        .expect("run `cargo xtask fetch data r8` (the README's test command does)")
        .lines()
        .take(n)
        .map(str::to_owned)
        .collect();
    let path = dir.join("sample.jsonl");
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    path
}

/// Kills `bertcls embed` on the real MiniLM once two chunks are on disk, resumes it,
/// and checks the result against an uninterrupted run, and that a second run is a hit.
#[test]
fn a_killed_embed_resumes_and_a_repeated_embed_is_a_hit() {
    let dir = tempfile::tempdir().unwrap();
    let input = r8_sample(dir.path(), 192);
    let embed = |output: &str| {
        let mut command = bertcls();
        command
            .args([
                "embed",
                "--chunk-size",
                "32",
                "--batch-size",
                "16",
                "--max-len",
                "64",
            ])
            .arg("--model")
            .arg(minilm())
            .arg("--input")
            .arg(&input)
            .arg("--output")
            .arg(dir.path().join(output));
        command
    };
    let partial = encoder::partial_dir(&dir.path().join("killed.emb"));
    let chunks_on_disk = || {
        std::fs::read_dir(&partial)
            .map(|entries| {
                entries
                    .flatten()
                    .filter(|e| e.path().extension().is_some_and(|x| x == "bin"))
                    .count()
            })
            .unwrap_or(0)
    };
    let mut child = embed("killed.emb")
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    while chunks_on_disk() < 2 {
        assert!(
            child.try_wait().unwrap().is_none(),
            "finished before it could be killed"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL: no chance to clean up
    child.wait().unwrap();
    assert!(!dir.path().join("killed.emb").exists());

    let resumed = embed("killed.emb").output().unwrap();
    let stderr = String::from_utf8_lossy(&resumed.stderr);
    assert!(resumed.status.success(), "{stderr}");
    assert!(
        stderr.contains("resumed:") && stderr.contains("of 6 chunks"),
        "{stderr}"
    );

    assert!(embed("straight.emb").status().unwrap().success());
    let killed = encoder::EmbeddingCache::open(&dir.path().join("killed.emb")).unwrap();
    let straight = encoder::EmbeddingCache::open(&dir.path().join("straight.emb")).unwrap();
    assert_eq!(killed.vectors(), straight.vectors());

    let started = std::time::Instant::now();
    let again = embed("straight.emb").output().unwrap();
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(stderr.contains("cache hit"), "{stderr}");
    eprintln!("cache hit in {:?}", started.elapsed());
}

//! End-to-end mode through `bertcls`: fine-tune, then predict (file and stdin) and
//! evaluate with the saved model.

use crate::common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::{bertcls, bertcls_fails, tiny_model, topic_file};

/// Fine-tunes the tiny model on toy topics (validation and test the same file), with
/// `extra` flags.
fn finetune_toy(extra: &[&str], train: &Path, valid: &Path, run: &Path) -> std::process::Output {
    let mut args = vec![
        "finetune",
        "--max-len",
        "32",
        "--epochs",
        "8",
        // At 3e-3 this toy task overfits on some dropout draws (validation at chance
        // with the training loss near 0); 1e-3 learns it on every seed tried (5 of 5).
        "--lr",
        "1e-3",
        "--batch-size",
        "8",
    ];
    args.extend_from_slice(extra);
    bertcls(
        &args,
        &[
            ("--model", &tiny_model()),
            ("--train", train),
            ("--valid", valid),
            ("--test", valid),
            ("--out", run),
        ],
    )
}

#[test]
fn finetune_predict_evaluate() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let train = topic_file(d, "train", 80, 0);
    let valid = topic_file(d, "valid", 20, 1);
    let run = d.join("run");
    let output = finetune_toy(&[], &train, &valid, &run);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("*best"),
        "one line per evaluation:\n{stderr}"
    );
    assert!(run.join("model/config.json").exists());
    assert!(
        !run.join("checkpoint").exists(),
        "a completed run cleans up its checkpoint"
    );
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("training.json")).unwrap()).unwrap();
    assert_eq!(summary["history"].as_array().unwrap().len(), 8);
    let test_accuracy = summary["test"]["accuracy"].as_f64().unwrap();
    assert!(test_accuracy >= 0.9, "test accuracy {test_accuracy}");

    // From a file: one JSON line per record, and the report for labelled data.
    let predictions = d.join("predictions.jsonl");
    let output = bertcls(
        &["predict"],
        &[
            ("--model", &run),
            ("--input", &valid),
            ("--output", &predictions),
        ],
    );
    assert!(String::from_utf8_lossy(&output.stderr).contains("macro-F1"));
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&predictions)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 20);
    let correct = lines
        .iter()
        .filter(|l| l["label"] == l["true_label"])
        .count();
    assert_eq!(
        correct as f64 / 20.0,
        test_accuracy,
        "predict agrees with the test score of finetune"
    );

    // In a reduced precision: the encoder converted at load, so probabilities move a
    // little (int8 more than bf16) and the decisions stay.
    let probabilities = |lines: &[serde_json::Value]| -> Vec<f64> {
        lines
            .iter()
            .flat_map(|l| l["probabilities"].as_object().unwrap().values())
            .map(|p| p.as_f64().unwrap())
            .collect()
    };
    let fp32 = probabilities(&lines);
    for (precision, bound) in [("int8", 0.05), ("bf16", 0.01)] {
        let reduced = d.join(format!("predictions-{precision}.jsonl"));
        bertcls(
            &["predict", "--precision", precision],
            &[
                ("--model", &run),
                ("--input", &valid),
                ("--output", &reduced),
            ],
        );
        let reduced: Vec<serde_json::Value> = std::fs::read_to_string(&reduced)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let moved = fp32
            .iter()
            .zip(probabilities(&reduced))
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        assert!(moved > 0.0, "{precision}: the encoder was not converted");
        assert!(
            moved <= bound,
            "{precision}: probabilities moved by {moved}"
        );
        let labels = |lines: &[serde_json::Value]| -> Vec<String> {
            lines.iter().map(|l| l["label"].to_string()).collect()
        };
        assert_eq!(labels(&reduced), labels(&lines), "{precision}");
    }

    // From stdin, one text per line.
    let mut child = Command::new(env!("CARGO_BIN_EXE_bertcls"))
        .args(["predict", "--model"])
        .arg(run.join("model"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"the cat the dog the bird\n\noil the price the bank\n")
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let answers: Vec<serde_json::Value> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let labels: Vec<&str> = answers
        .iter()
        .map(|a| a["label"].as_str().unwrap())
        .collect();
    assert_eq!(labels, ["animals", "markets"], "blank lines are skipped");
    assert_eq!(answers[1]["id"], "line-3");

    // evaluate: the full report, and as JSON.
    let report = d.join("report.json");
    let output = bertcls(
        &["evaluate"],
        &[("--model", &run), ("--input", &valid), ("--json", &report)],
    );
    assert!(String::from_utf8_lossy(&output.stderr).contains("confusion"));
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(report).unwrap()).unwrap();
    assert_eq!(report["accuracy"].as_f64().unwrap(), test_accuracy);

    // A label the model was not trained on is scored as a miss of a class it cannot
    // predict, listed with its support, and said so in one line.
    let odd = d.join("odd.jsonl");
    std::fs::write(
        &odd,
        "{\"id\": \"x1\", \"text\": \"cat\", \"label\": \"weather\"}\n\
         {\"id\": \"x2\", \"text\": \"cat dog\", \"label\": \"animals\"}\n",
    )
    .unwrap();
    let report_path = d.join("odd-report.json");
    let output = Command::new(env!("CARGO_BIN_EXE_bertcls"))
        .args(["evaluate", "--model"])
        .arg(&run)
        .arg("--input")
        .arg(&odd)
        .arg("--json")
        .arg(&report_path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains("not trained on weather (1 records)"),
        "{stderr}"
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report_path).unwrap()).unwrap();
    assert_eq!(report["unseen"], serde_json::json!(["weather"]));
    let weather = report["per_class"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["label"] == "weather")
        .unwrap();
    assert_eq!(
        (weather["support"].as_u64(), weather["f1"].as_f64()),
        (Some(1), Some(0.0))
    );
    assert!(report["accuracy"].as_f64().unwrap() <= 0.5);
}

/// Topic texts whose length says nothing of the label: `topic_file`'s lengths follow
/// the label's parity, which a prompt's [MASK] (placed after the text, so its
/// position is the text's length) would learn instead of the words.
fn length_balanced_topics(
    dir: &std::path::Path,
    name: &str,
    n: usize,
    offset: usize,
) -> std::path::PathBuf {
    const WORDS: [[&str; 5]; 2] = [
        ["cat", "dog", "bird", "fish", "fox"],
        ["oil", "price", "market", "bank", "rate"],
    ];
    let lines: String = (0..n)
        .map(|i| {
            let (label, words) = (["animals", "markets"][i % 2], WORDS[i % 2]);
            let len = 2 + (i / 2 + offset) % 4;
            let text: Vec<&str> = (0..len).map(|j| words[(i + j + offset) % 5]).collect();
            format!(
                "{}\n",
                serde_json::json!({"id": format!("{name}-{i}"), "text": text.join(" the "), "label": label})
            )
        })
        .collect();
    let path = dir.join(format!("{name}.jsonl"));
    std::fs::write(&path, lines).unwrap();
    path
}

#[test]
fn prompt_finetune_then_predict_reads_texts_through_the_template() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let train = length_balanced_topics(d, "train", 80, 0);
    let valid = length_balanced_topics(d, "valid", 20, 1);
    let run = d.join("run");
    let template = "{text} [SEP] the news is [MASK]";
    finetune_toy(
        &[
            "--prompt",
            template,
            "--verbalizer",
            "animals=cat,markets=market",
        ],
        &train,
        &valid,
        &run,
    );
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("model/bertcls.json")).unwrap())
            .unwrap();
    let prompt = &meta["classifier"]["prompt"];
    assert_eq!(prompt["template"], template);
    assert_eq!(prompt["verbalizer"]["markets"], "market");
    assert_eq!(prompt["mlm_head"], false, "the tiny model has no MLM head");
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("training.json")).unwrap()).unwrap();
    let test_accuracy = summary["test"]["accuracy"].as_f64().unwrap();
    assert!(test_accuracy >= 0.9, "test accuracy {test_accuracy}");

    // predict places each text in the saved template: the same score as the test.
    let predictions = d.join("predictions.jsonl");
    bertcls(
        &["predict"],
        &[
            ("--model", &run),
            ("--input", &valid),
            ("--output", &predictions),
        ],
    );
    let text = std::fs::read_to_string(&predictions).unwrap();
    let correct = text
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|l| l["label"] == l["true_label"])
        .count();
    assert_eq!(correct as f64 / 20.0, test_accuracy);
}

#[test]
fn a_prompt_needs_a_verbalizer_and_no_head_of_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let train = topic_file(dir.path(), "train", 20, 0);
    let paths = [("--model", tiny_model()), ("--train", train)];
    let paths: Vec<(&str, &std::path::Path)> =
        paths.iter().map(|(f, p)| (*f, p.as_path())).collect();
    let err = common::bertcls_fails(&["finetune", "--prompt", "{text} [MASK]"], &paths);
    assert!(err.contains("--verbalizer"), "{err}");
    let err = common::bertcls_fails(
        &[
            "finetune",
            "--prompt",
            "{text} [MASK]",
            "--verbalizer",
            "animals=cat,markets=oil",
            "--pooling",
            "mean",
        ],
        &paths,
    );
    assert!(err.contains("replaces pooling and head"), "{err}");
    let err = common::bertcls_fails(
        &[
            "finetune",
            "--prompt",
            "{text} no slot",
            "--verbalizer",
            "animals=cat",
        ],
        &paths,
    );
    assert!(err.contains("exactly one [MASK]"), "{err}");
}

#[test]
fn adversarial_training_and_regularisation_flags_reach_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let train = topic_file(d, "train", 40, 0);
    let valid = topic_file(d, "valid", 10, 1);
    let run = d.join("run");
    let flags = [
        "--adv",
        "pgd",
        "--adv-steps",
        "2",
        "--hidden-dropout",
        "0.2",
        "--attention-dropout",
        "0",
        "--l1",
        "1e-4",
    ];
    let output = finetune_toy(&flags, &train, &valid, &run);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("PGD (ε 1, α 1.25, 2 steps): 3.00 forward/backward passes per batch"),
        "the summary names the cost:\n{stderr}"
    );
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("training.json")).unwrap()).unwrap();
    let (passes, batches) = (
        summary["passes"].as_u64().unwrap(),
        summary["batches"].as_u64().unwrap(),
    );
    assert_eq!(batches, 8 * 5, "8 epochs of 40 examples in batches of 8");
    assert_eq!(passes, 3 * batches);
    let config = &summary["config"];
    assert_eq!(config["adversary"]["method"], "pgd");
    assert_eq!(config["hidden_dropout"], 0.2);
    assert_eq!(config["attention_dropout"], 0.0);
    assert_eq!(config["l1"], 1e-4);

    let refused = common::bertcls_fails(
        &["finetune", "--adv", "fgm", "--adv-steps", "2"],
        &[("--model", &tiny_model()), ("--train", &train)],
    );
    assert!(
        refused.contains("--adv fgm: takes no step size or step count"),
        "{refused}"
    );
    let refused = common::bertcls_fails(
        &["finetune", "--hidden-dropout", "1.5"],
        &[("--model", &tiny_model()), ("--train", &train)],
    );
    assert!(
        refused.contains("--hidden-dropout 1.5: must be in [0, 1)"),
        "{refused}"
    );
}

#[test]
fn training_the_top_layer_reads_cached_states_and_saves_the_whole_model() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let train = topic_file(d, "train", 80, 0);
    let valid = topic_file(d, "valid", 20, 1);
    let states = d.join("states");
    let cache_flags = [
        "--train-layers",
        "1",
        "--state-cache-dir",
        states.to_str().unwrap(),
    ];
    let output = finetune_toy(&cache_flags, &train, &valid, &d.join("run"));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("states after layer 1 from"), "{stderr}");
    let caches: Vec<_> = std::fs::read_dir(&states)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "states"))
        .collect();
    assert_eq!(caches.len(), 2, "train and validation: {caches:?}");
    let written = |p: &Path| {
        std::fs::metadata(p.join("states.f16"))
            .unwrap()
            .modified()
            .unwrap()
    };
    let before: Vec<_> = caches.iter().map(|p| written(p)).collect();

    // The saved model is the whole model: it classifies from text alone.
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("run/training.json")).unwrap())
            .unwrap();
    // One layer at the toy recipe's rate learns slowly: the ranking shows it has.
    let roc_auc = summary["test"]["binary"]["roc_auc"].as_f64().unwrap();
    assert!(roc_auc >= 0.9, "{summary}");
    assert_eq!(summary["config"]["train_layers"], 1);
    bertcls(
        &["evaluate"],
        &[("--model", &d.join("run")), ("--input", &valid)],
    );

    // A second run reads the same caches instead of writing them again.
    finetune_toy(&cache_flags, &train, &valid, &d.join("run2"));
    let after: Vec<_> = caches.iter().map(|p| written(p)).collect();
    assert_eq!(before, after, "the caches were rebuilt");

    // Adversarial training perturbs the embeddings, below the frozen layer.
    let message = bertcls_fails(
        &[
            "finetune",
            "--max-len",
            "32",
            "--train-layers",
            "1",
            "--adv",
            "fgm",
        ],
        &[
            ("--model", &tiny_model()),
            ("--train", &train),
            ("--valid", &valid),
            ("--out", &d.join("run3")),
        ],
    );
    assert!(
        message.contains("--train-layers") && message.contains("word embeddings"),
        "{message}"
    );
}

#[test]
fn fine_tuning_the_top_layer_reads_the_states_an_embedding_pass_kept() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let train = topic_file(d, "train", 40, 0);
    let valid = topic_file(d, "valid", 12, 1);
    let states = d.join("states");
    let mut kept = Vec::new();
    for input in [&train, &valid] {
        let output = bertcls(
            &["embed", "--max-len", "32", "--states-after", "1"],
            &[
                ("--model", &tiny_model()),
                ("--input", input),
                ("--output", &input.with_extension("emb")),
                ("--state-cache-dir", &states),
            ],
        );
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        let line = stderr
            .lines()
            .find_map(|l| l.strip_prefix("states after layer 1: "))
            .unwrap_or_else(|| panic!("no state cache named in {stderr}"));
        let path = PathBuf::from(line.split(" (").next().unwrap());
        assert!(path.join("states.f16").is_file(), "{path:?}");
        kept.push(path);
    }
    let written = |p: &Path| {
        std::fs::metadata(p.join("states.f16"))
            .unwrap()
            .modified()
            .unwrap()
    };
    let before: Vec<_> = kept.iter().map(|p| written(p)).collect();

    finetune_toy(
        &[
            "--train-layers",
            "1",
            "--state-cache-dir",
            states.to_str().unwrap(),
        ],
        &train,
        &valid,
        &d.join("run"),
    );
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("run/training.json")).unwrap())
            .unwrap();
    let read: Vec<PathBuf> = summary["states"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| PathBuf::from(s["path"].as_str().unwrap()))
        .collect();
    assert_eq!(read, kept, "fine-tuning read the embedding pass's caches");
    let after: Vec<_> = kept.iter().map(|p| written(p)).collect();
    assert_eq!(before, after, "and did not rebuild them");

    // A sharded run: `embed --shard i/2 --states-after 1` as two jobs; fine-tuning
    // finds both shards, merges them once into the cache one run writes, and reads it.
    let sharded = d.join("sharded-states");
    for i in 0..2 {
        bertcls(
            &["embed", "--max-len", "32", "--states-after", "1"],
            &[
                ("--model", &tiny_model()),
                ("--input", &train),
                ("--shard", Path::new(&format!("{i}/2"))),
                ("--output", &d.join(format!("train-{i}.emb"))),
                ("--state-cache-dir", &sharded),
            ],
        );
    }
    std::fs::create_dir_all(&sharded).unwrap();
    let valid_name = kept[1].file_name().unwrap();
    copy_dir(&kept[1], &sharded.join(valid_name));
    let output = finetune_toy(
        &[
            "--train-layers",
            "1",
            "--state-cache-dir",
            sharded.to_str().unwrap(),
        ],
        &train,
        &valid,
        &d.join("run-sharded"),
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    let merged = sharded.join(kept[0].file_name().unwrap());
    assert!(
        stderr.contains(&format!("merged 2 shards into {}", merged.display())),
        "{stderr}"
    );
    let (one_run, merged) = (
        encoder::StateCache::open(&kept[0]).unwrap(),
        encoder::StateCache::open(&merged).unwrap(),
    );
    assert_eq!(merged.meta.fingerprint, one_run.meta.fingerprint);
    for row in 0..one_run.meta.lengths.len() {
        assert_eq!(merged.row_f16(row), one_run.row_f16(row), "row {row}");
    }
    let history = |run: &str| -> serde_json::Value {
        serde_json::from_str::<serde_json::Value>(
            &std::fs::read_to_string(d.join(run).join("training.json")).unwrap(),
        )
        .unwrap()["history"]
            .clone()
    };
    assert!(
        history("run").as_array().is_some_and(|h| !h.is_empty()),
        "training.json has its evaluations"
    );
    assert_eq!(
        history("run-sharded"),
        history("run"),
        "the same states train the same model"
    );
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

//! `bertcls compare --quick` on toy data with the tiny model (2 layers): the report's
//! files exist and parse, and what they say agrees with itself and with the stages'
//! own outputs, for the pipeline, the frontier's top-1 point and end-to-end.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{bertcls, tiny_model, topic_file};
use report::{Comparison, ModeResult};

fn compare(data: &Path, out: &Path, cache: &Path) -> (PathBuf, String) {
    let args = [
        "--quick",
        "--max-len",
        "24",
        "--epochs",
        "16",
        "--lr",
        "3e-3",
        "--seeds",
        "2",
    ];
    common::compare_tiny(&args, data, out, cache)
}

/// `0.9500`, or `0.9500 ± 0.0071` over several values: mean and sample standard
/// deviation, computed here independently of the report crate.
fn mean_std(values: &[f64], decimals: usize) -> String {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    if values.len() == 1 {
        return format!("{mean:.decimals$}");
    }
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
    format!("{mean:.decimals$} ± {:.decimals$}", var.sqrt())
}

fn cells(mode: &ModeResult, rarest: &str) -> Vec<String> {
    let of = |f: &dyn Fn(&report::RunResult) -> f64, d| {
        mean_std(&mode.runs.iter().map(f).collect::<Vec<_>>(), d)
    };
    vec![
        of(&|r| r.test.accuracy, 4),
        of(&|r| r.test.macro_f1, 4),
        of(&|r| r.test.weighted_f1, 4),
        of(
            &|r| {
                r.test
                    .per_class
                    .iter()
                    .find(|s| s.label == rarest)
                    .map_or(0.0, |s| s.f1)
            },
            4,
        ),
        of(&|r| r.train_seconds, 1),
    ]
}

#[test]
fn quick_comparison_writes_a_consistent_report_and_reuses_the_cache() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let data = d.join("topics");
    std::fs::create_dir(&data).unwrap();
    topic_file(&data, "train", 60, 0);
    topic_file(&data, "validation", 20, 1);
    topic_file(&data, "test", 24, 2);
    let (out, cache) = (d.join("reports"), d.join("cache"));

    let (dir, stderr) = compare(&data, &out, &cache);
    assert!(dir.starts_with(&out), "report folder printed: {dir:?}");
    for file in [
        "results.json",
        "report.md",
        "report.html",
        "quality-vs-cost.svg",
        "per-class-f1.svg",
        "confusion-pipeline.svg",
        "confusion-end-to-end.svg",
        "fine-tuning-curves.svg",
        "frontier.svg",
    ] {
        assert!(dir.join(file).is_file(), "{file} missing in {dir:?}");
    }
    let c: Comparison = report::read_results(&dir.join("results.json")).unwrap();
    assert_eq!((c.data.train, c.data.validation, c.data.test), (60, 20, 24));
    assert_eq!(c.settings.seeds, vec![42, 43]);
    assert_eq!(c.pipeline.runs.len(), 2);
    assert_eq!(c.end_to_end.runs.len(), 2);
    assert_eq!(c.leaderboard.len(), 8, "--quick sweeps 8 heads");
    let frontier = c.frontier.as_ref().expect("a frontier by default");
    let trained: Vec<usize> = frontier.points.iter().map(|p| p.trained_layers).collect();
    assert_eq!((frontier.layers, trained), (2, vec![1]), "0, 1 and N = 2");
    assert_eq!(frontier.points[0].mode.runs.len(), 2);

    // Every test report is a report of the 24 test records, internally consistent.
    for (_, mode) in c.points() {
        for run in &mode.runs {
            let t = &run.test;
            assert_eq!(t.examples, 24);
            let diagonal: usize = (0..t.confusion.classes)
                .map(|i| t.confusion.get(i, i))
                .sum();
            assert!((t.accuracy - diagonal as f64 / 24.0).abs() < 1e-12);
            let mean_f1 = t.per_class.iter().map(|s| s.f1).sum::<f64>() / t.per_class.len() as f64;
            assert!((t.macro_f1 - mean_f1).abs() < 1e-12);
            assert!(run.train_seconds > 0.0 && run.inference_docs_per_second > 0.0);
            assert!(run.model_bytes > 0);
        }
    }
    // The toy topics use disjoint words: both modes learn them.
    assert!(
        c.pipeline.runs[0].test.accuracy >= 0.9,
        "{:?}",
        c.pipeline.runs[0].test
    );
    assert!(
        c.end_to_end.runs[0].test.accuracy >= 0.9,
        "{:?}",
        c.end_to_end.runs[0].test
    );

    // Each model's accuracy and macro-F1 are what its predictions file says.
    let runs = [
        ("pipeline", &c.pipeline),
        ("top-1", &frontier.points[0].mode),
        ("end-to-end", &c.end_to_end),
    ];
    for (folder, mode) in runs {
        for run in &mode.runs {
            let path = dir.join(format!("{folder}/seed-{}/test-predictions.jsonl", run.seed));
            let (accuracy, macro_f1) = scores_of(&path, &c.data.classes);
            assert!((run.test.accuracy - accuracy).abs() < 1e-12, "{path:?}");
            assert!((run.test.macro_f1 - macro_f1).abs() < 1e-12, "{path:?}");
        }
    }
    // The top-1 point read the states after layer 1, and its cost says so.
    let top = &frontier.points[0].mode.runs[0];
    assert!(
        top.cost_breakdown[0].0 == "states after layer 1 of train + validation",
        "{:?}",
        top.cost_breakdown
    );
    let parts: f64 = top.cost_breakdown.iter().map(|(_, s)| s).sum();
    assert!((top.train_seconds - parts).abs() < 1e-9);
    // The pipeline's embedding pass kept those states: fine-tuning read its caches.
    let training: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("top-1/seed-42/training.json")).unwrap(),
    )
    .unwrap();
    let read = training["states"].as_array().unwrap();
    assert_eq!(read.len(), 2, "train and validation");
    for states in read {
        let kept = format!("states after layer 1: {}", states["path"].as_str().unwrap());
        assert!(stderr.contains(&kept), "{kept} not from the embedding pass");
    }
    // The end-to-end numbers are those the finetune stage recorded.
    let training: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("end-to-end/seed-43/training.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        training["test"]["macro_f1"].as_f64(),
        Some(c.end_to_end.runs[1].test.macro_f1)
    );
    // Fine-tuning starts from the pipeline's head, evaluated before the first step.
    assert_eq!(
        c.end_to_end.runs[1].curve.len(),
        17,
        "the start, then one point per epoch"
    );

    // The tables (Markdown, HTML, terminal) show the JSON's numbers.
    let markdown = std::fs::read_to_string(dir.join("report.md")).unwrap();
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    let rarest = c.data.rarest_class().unwrap().to_owned();
    for (name, mode) in c.points() {
        let expected = cells(mode, &rarest);
        let row = markdown
            .lines()
            .find(|l| l.starts_with(&format!("| {name} |")))
            .unwrap_or_else(|| panic!("no {name} row in report.md"));
        let shown: Vec<&str> = row.split('|').map(str::trim).collect();
        assert_eq!(shown[2..7], expected[..], "report.md row {row}");
        for cell in &expected {
            assert!(
                html.contains(&format!("<td>{cell}</td>")),
                "{cell} not in report.html"
            );
            assert!(
                stderr.contains(cell.as_str()),
                "{cell} not in the terminal table"
            );
        }
    }
    assert_eq!(html.matches("<svg").count(), 6, "six inline charts");
    assert!(
        markdown.contains("Training the top 1 of 2 layers"),
        "the verdict tells the frontier"
    );
    assert!(
        !html.contains("src=\""),
        "self-contained: nothing loaded from elsewhere"
    );
    assert!(
        markdown.contains("bertcls finetune"),
        "the stages are listed to rerun"
    );

    // A second comparison reuses the three embedding caches.
    let (second, stderr) = compare(&data, &out, &cache);
    assert_eq!(stderr.matches("cache hit").count(), 3, "{stderr}");
    let again = report::read_results(&second.join("results.json")).unwrap();
    assert_eq!(
        again.pipeline.runs[0].test, c.pipeline.runs[0].test,
        "same data, same seed: the same pipeline result"
    );
}

/// `bertcls compare` of the tiny model on `data` for one epoch at max_len 16, with
/// `flags`, everything written under `d`: the report's folder.
fn one_epoch_comparison(data: &Path, d: &Path, flags: &[&str]) -> PathBuf {
    let mut args = vec!["compare", "--max-len", "16", "--epochs", "1"];
    args.extend(flags);
    let output = bertcls(
        &args,
        &[
            ("--data", data),
            ("--model", &tiny_model()),
            ("--out", &d.join("reports")),
            ("--cache-dir", &d.join("cache")),
            ("--state-cache-dir", &d.join("states")),
        ],
    );
    PathBuf::from(String::from_utf8(output.stdout).unwrap().trim())
}

#[test]
fn augmented_copies_top_up_the_rare_class_of_a_folder_read_as_is() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let data = d.join("topics");
    std::fs::create_dir(&data).unwrap();
    // Markets cut to one in four in training: over-sampling tops them up.
    let train = topic_file(&data, "train", 80, 0);
    let kept: String = std::fs::read_to_string(&train)
        .unwrap()
        .lines()
        .enumerate()
        .filter(|(i, line)| line.contains("animals") || i % 8 == 1)
        .map(|(_, line)| format!("{line}\n"))
        .collect();
    std::fs::write(&train, kept).unwrap();
    topic_file(&data, "validation", 20, 1);
    topic_file(&data, "test", 24, 2);
    let dir = one_epoch_comparison(&data, d, &["--sampling", "oversample:1", "--augment", "2"]);
    let augmented = std::fs::read_to_string(dir.join("augmented-train.jsonl")).unwrap();
    let copies: Vec<&str> = augmented.lines().collect();
    assert_eq!(
        copies.len(),
        2 * 10,
        "two copies of each of the 10 markets records"
    );
    assert!(
        copies
            .iter()
            .all(|l| l.contains("\"markets\"") && l.contains("#aug"))
    );
    let c = report::read_results(&dir.join("results.json")).unwrap();
    assert!(
        c.commands.iter().any(|line| line.contains("--augmented")),
        "both modes are handed the copies: {:?}",
        c.commands
    );
}

#[test]
fn a_pipeline_in_reduced_precision_leaves_fine_tuning_in_fp32() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let data = d.join("topics");
    std::fs::create_dir(&data).unwrap();
    topic_file(&data, "train", 40, 0);
    topic_file(&data, "validation", 12, 1);
    topic_file(&data, "test", 12, 2);
    let dir = one_epoch_comparison(&data, d, &["--precision", "bf16"]);
    let c = report::read_results(&dir.join("results.json")).unwrap();
    let embeds: Vec<&String> = c
        .commands
        .iter()
        .filter(|l| l.contains(" embed "))
        .collect();
    assert_eq!(embeds.len(), 3, "{:?}", c.commands);
    assert!(
        embeds
            .iter()
            .all(|l| l.contains("--precision bf16") && !l.contains("--states-after")),
        "the pipeline embeds in bf16 and keeps no states: {embeds:?}"
    );
    let finetunes: Vec<&String> = c
        .commands
        .iter()
        .filter(|l| l.contains(" finetune "))
        .collect();
    assert!(!finetunes.is_empty() && finetunes.iter().all(|l| !l.contains("--precision")));
    assert!(
        finetunes.iter().any(|l| l.contains("--train-layers")),
        "the frontier's point still runs, over states it builds in fp32: {finetunes:?}"
    );
}

#[test]
fn unknown_data_is_refused_by_name() {
    let output = Command::new(env!("CARGO_BIN_EXE_bertcls"))
        .args(["compare", "--data", "no-such-set"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("no-such-set") && stderr.contains("r8"),
        "names the input and the known sets: {stderr}"
    );
}

/// Accuracy and macro-F1 of a predictions file, computed here from its lines: per
/// class F1 = 2·TP / (2·TP + FP + FN), averaged over `classes`.
fn scores_of(path: &Path, classes: &[String]) -> (f64, f64) {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    let pairs: Vec<(String, String)> = text
        .lines()
        .map(|line| {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            let field = |k: &str| v[k].as_str().unwrap().to_owned();
            (field("label"), field("true_label"))
        })
        .collect();
    assert_eq!(pairs.len(), 24, "{path:?}");
    let right = pairs.iter().filter(|(p, t)| p == t).count();
    let f1 = |class: &String| {
        let tp = pairs
            .iter()
            .filter(|(p, t)| p == class && t == class)
            .count();
        let predicted = pairs.iter().filter(|(p, _)| p == class).count();
        let actual = pairs.iter().filter(|(_, t)| t == class).count();
        let denominator = predicted + actual;
        if denominator == 0 {
            0.0
        } else {
            2.0 * tp as f64 / denominator as f64
        }
    };
    let macro_f1 = classes.iter().map(f1).sum::<f64>() / classes.len() as f64;
    (right as f64 / 24.0, macro_f1)
}

/// `n` records of `label` with the given words, as JSON lines.
fn lines_of(label: &str, words: &str, n: usize, tag: &str) -> String {
    (0..n)
        .map(|i| {
            let line = serde_json::json!({"id": format!("{tag}-{label}-{i}"), "text": words, "label": label});
            format!("{line}\n")
        })
        .collect()
}

#[test]
fn quick_keeps_every_class_and_scores_test_classes_the_model_never_saw() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("rare");
    std::fs::create_dir(&data).unwrap();
    // Training data larger than --quick's 400, with a class of one record that a
    // proportional subset (400 of 901) would round away; the test split has it too,
    // and a class no training record has.
    let common_classes = std::fs::read_to_string(topic_file(tmp.path(), "big", 900, 0)).unwrap();
    std::fs::write(
        data.join("train.jsonl"),
        common_classes + &lines_of("weather", "rain cat", 1, "train"),
    )
    .unwrap();
    let validation = std::fs::read_to_string(topic_file(tmp.path(), "v", 60, 1)).unwrap();
    std::fs::write(data.join("validation.jsonl"), validation).unwrap();
    let test = std::fs::read_to_string(topic_file(tmp.path(), "t", 60, 2)).unwrap()
        + &lines_of("weather", "rain cat", 2, "test")
        + &lines_of("sports", "oil cat", 3, "test");
    std::fs::write(data.join("test.jsonl"), test).unwrap();

    let (report_dir, stderr) = common::compare_tiny(
        &["--quick", "--max-len", "16", "--epochs", "1"],
        &data,
        &tmp.path().join("reports"),
        &tmp.path().join("cache"),
    );
    assert!(
        stderr.contains("not trained on sports (3 records)"),
        "one line says so: {stderr}"
    );
    let comparison: Comparison =
        serde_json::from_str(&std::fs::read_to_string(report_dir.join("results.json")).unwrap())
            .unwrap();
    let weather = comparison.data.classes.iter().position(|c| c == "weather");
    let weather = weather.expect("the rare class is kept in the quick training subset");
    assert!(comparison.data.train_counts[weather] >= 1);
    for mode in [&comparison.pipeline, &comparison.end_to_end] {
        let test = &mode.runs[0].test;
        assert_eq!(test.examples, 65);
        assert_eq!(test.unseen, ["sports"]);
        let sports = test.per_class.iter().find(|s| s.label == "sports").unwrap();
        assert_eq!((sports.support, sports.f1), (3, 0.0));
        // Scored as misses: accuracy counts them in the denominator.
        let right: usize = (0..test.confusion.classes)
            .map(|c| test.confusion.get(c, c))
            .sum();
        assert!((test.accuracy - right as f64 / 65.0).abs() < 1e-12);
    }
}

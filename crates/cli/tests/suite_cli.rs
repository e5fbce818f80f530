//! `bertcls compare --suite imbalance` on toy data with the tiny model: every arm runs
//! as its own comparison, and the study's table and judgements are what those
//! comparisons' own results say.

mod common;

use std::path::{Path, PathBuf};

use common::{bertcls, bertcls_fails, tiny_model, topic_file};
use report::{Comparison, Study};

fn count(path: &Path, label: &str) -> usize {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|l| l.contains(&format!("\"label\":\"{label}\"")))
        .count()
}

/// Mean and sample standard deviation, computed here, not by the report crate.
fn mean_std(values: &[f64]) -> (f64, f64) {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, var.sqrt())
}

#[test]
fn imbalance_suite_runs_every_arm_and_judges_them_by_the_spread() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let data = d.join("topics");
    std::fs::create_dir(&data).unwrap();
    topic_file(&data, "train", 60, 0);
    topic_file(&data, "validation", 20, 1);
    let test = topic_file(&data, "test", 24, 2);
    let (out, cache) = (d.join("reports"), d.join("cache"));
    let output = bertcls(
        &[
            "compare",
            "--suite",
            "imbalance",
            "--class-share",
            "markets=0.2",
            "--max-len",
            "16",
            "--epochs",
            "2",
            "--lr",
            "3e-3",
            "--seeds",
            "2",
        ],
        &[
            ("--data", &data),
            ("--model", &tiny_model()),
            ("--out", &out),
            ("--cache-dir", &cache),
        ],
    );
    let dir = PathBuf::from(String::from_utf8(output.stdout).unwrap().trim());
    let stderr = String::from_utf8_lossy(&output.stderr);
    for file in ["study.json", "study.md", "study.html", "heads.toml"] {
        assert!(dir.join(file).is_file(), "{file} missing in {dir:?}");
    }
    let study: Study =
        serde_json::from_str(&std::fs::read_to_string(dir.join("study.json")).unwrap()).unwrap();
    assert_eq!(
        study.data_sets.len(),
        1,
        "--data replaces the suite's data sets"
    );
    let set = &study.data_sets[0];
    // Two classes: every arm, the decision threshold included, baseline first.
    let names: Vec<&str> = set.arms.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names[0], "baseline");
    assert_eq!(names.len(), 11, "{names:?}");
    assert!(names.contains(&"threshold") && names.contains(&"rotating"));

    // --class-share: 30 animals in training, so 0.2 · 30 / 0.8 = 7.5 → 8 markets;
    // validation 10 animals → 2.5 → 3; the test split untouched.
    assert_eq!(set.focus_class, "markets");
    assert_eq!(set.focus_train, 8);
    assert_eq!((set.train, set.test), (38, 24));
    assert_eq!(count(&test, "markets"), 12);

    let md = std::fs::read_to_string(dir.join("study.md")).unwrap();
    for arm in &set.arms {
        let comparison: Comparison =
            report::read_results(&dir.join(&arm.report).join("results.json")).unwrap();
        assert_eq!(comparison.data.validation, 13);
        assert_eq!(comparison.settings.seeds, vec![42, 43]);
        let baseline: Comparison =
            report::read_results(&dir.join(&set.arms[0].report).join("results.json")).unwrap();
        for ((mode, scores), ((_, runs), (_, base_runs))) in arm
            .modes()
            .into_iter()
            .zip(comparison.modes().into_iter().zip(baseline.modes()))
        {
            let f1: Vec<f64> = runs.runs.iter().map(|r| r.test.macro_f1).collect();
            let base_f1: Vec<f64> = base_runs.runs.iter().map(|r| r.test.macro_f1).collect();
            let ((mean, std), (base_mean, base_std)) = (mean_std(&f1), mean_std(&base_f1));
            assert!(
                (scores.macro_f1.mean - mean).abs() < 1e-12,
                "{} {mode}",
                arm.name
            );
            assert!(
                (scores.macro_f1.std - std).abs() < 1e-12,
                "{} {mode}",
                arm.name
            );
            let recall: Vec<f64> = runs
                .runs
                .iter()
                .map(|r| {
                    r.test
                        .per_class
                        .iter()
                        .find(|s| s.label == "markets")
                        .unwrap()
                        .recall
                })
                .collect();
            assert!((scores.focus_recall.mean - mean_std(&recall).0).abs() < 1e-12);
            // The judgement the table shows, recomputed from the raw runs.
            let spread = std.max(base_std);
            let expected = if arm.name == "baseline" {
                "baseline"
            } else if mean - base_mean > spread {
                "better"
            } else if base_mean - mean > spread {
                "worse"
            } else {
                "within spread"
            };
            let row = md
                .lines()
                .find(|l| l.starts_with(&format!("| {} | {mode} |", arm.name)))
                .unwrap_or_else(|| panic!("no row for {} {mode}", arm.name));
            let cells: Vec<&str> = row.split('|').map(str::trim).collect();
            assert_eq!(cells[3], format!("{mean:.4} ± {std:.4}"), "{row}");
            assert_eq!(cells[9], expected, "{row}");
        }
    }
    // The arms really differ: augmented copies exist, the threshold was chosen.
    let over_aug = set.arms.iter().find(|a| a.name == "over+aug").unwrap();
    let augmented = dir.join(&over_aug.report).join("augmented-train.jsonl");
    assert_eq!(
        count(&augmented, "markets"),
        3 * 8,
        "3 copies of each topped-up record"
    );
    assert_eq!(
        count(&augmented, "animals"),
        0,
        "the largest class is not topped up"
    );
    assert_eq!(study.recipe.len(), 4);
    assert!(stderr.contains("study finished"), "{stderr}");
    assert_eq!(
        std::fs::read_to_string(dir.join("study.html"))
            .unwrap()
            .matches("<svg")
            .count(),
        2,
        "macro-F1 and rare-class F1 charts"
    );
}

#[test]
fn a_suite_refuses_the_flags_it_sets_itself() {
    let tmp = tempfile::tempdir().unwrap();
    let err = bertcls_fails(
        &["compare", "--suite", "imbalance", "--loss", "focal"],
        &[("--out", tmp.path())],
    );
    assert!(err.contains("sets the loss"), "{err}");
    let err = bertcls_fails(
        &["compare", "--data", "spam", "--class-share", "spam=2"],
        &[("--out", tmp.path())],
    );
    assert!(err.contains("between 0 and 1"), "{err}");
}

//! `bertcls compare --suite imbalance` on toy data with the tiny model: every arm runs
//! as its own comparison, and the study's table and judgements are what those
//! comparisons' own results say.

use crate::common;

use std::path::{Path, PathBuf};

use common::{bertcls_fails, topic_file};
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

/// `d/topics` with train, validation and test files of these sizes.
fn topics_folder(d: &Path, [train, valid, test]: [usize; 3]) -> PathBuf {
    let data = d.join("topics");
    std::fs::create_dir(&data).unwrap();
    topic_file(&data, "train", train, 0);
    topic_file(&data, "validation", valid, 1);
    topic_file(&data, "test", test, 2);
    data
}

/// `bertcls compare --suite SUITE…` with the tiny model on `d/topics`, 2 seeds and a
/// short recipe; the study's folder and stderr.
fn run_suite(suite: &[&str], d: &Path) -> (PathBuf, String) {
    let mut args = vec!["--suite"];
    args.extend_from_slice(suite);
    args.extend_from_slice(&[
        "--max-len",
        "16",
        "--epochs",
        "2",
        "--lr",
        "3e-3",
        "--seeds",
        "2",
    ]);
    common::compare_tiny(
        &args,
        &d.join("topics"),
        &d.join("reports"),
        &d.join("cache"),
    )
}

#[test]
fn imbalance_suite_runs_every_arm_and_judges_them_by_the_spread() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let data = topics_folder(d, [60, 20, 24]);
    let test = data.join("test.jsonl");
    let (dir, stderr) = run_suite(&["imbalance", "--class-share", "markets=0.2"], d);
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

    // A resumed study reads every finished arm back instead of running it again (the
    // tables the same to the digits shown; JSON floats may differ in the last bit).
    let tables = |md: &str| -> Vec<String> {
        md.lines()
            .filter(|l| l.starts_with('|'))
            .map(str::to_owned)
            .collect()
    };
    let (again, stderr) = run_suite(
        &[
            "imbalance",
            "--class-share",
            "markets=0.2",
            "--resume",
            dir.to_str().unwrap(),
        ],
        d,
    );
    assert_eq!(again, dir);
    assert_eq!(stderr.matches("already done").count(), 11, "{stderr}");
    let resumed = std::fs::read_to_string(dir.join("study.md")).unwrap();
    assert_eq!(tables(&resumed), tables(&md));
}

#[test]
fn a_suite_refuses_the_flags_it_sets_itself() {
    let tmp = tempfile::tempdir().unwrap();
    let err = bertcls_fails(
        &["compare", "--suite", "imbalance", "--loss", "focal"],
        &[("--out", tmp.path())],
    );
    assert!(
        err.contains("--loss focal: this study sets each arm's loss")
            && err.contains("leave it out"),
        "{err}"
    );
    let err = bertcls_fails(
        &["compare", "--data", "spam", "--class-share", "spam=2"],
        &[("--out", tmp.path())],
    );
    assert!(err.contains("between 0 and 1"), "{err}");
}

#[test]
fn few_shot_suite_draws_k_per_class_and_reports_every_method_against_zero_shot() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    topics_folder(d, [120, 40, 24]);
    let (dir, _) = run_suite(
        &[
            "few-shot",
            "--prompt",
            "{text} [SEP] the news is [MASK]",
            "--verbalizer",
            "animals=cat,markets=market",
        ],
        d,
    );
    for file in [
        "few-shot.json",
        "few-shot.md",
        "few-shot.html",
        "topics-few-shot.svg",
    ] {
        assert!(dir.join(file).is_file(), "{file} missing in {dir:?}");
    }
    let study: report::FewShotStudy =
        serde_json::from_str(&std::fs::read_to_string(dir.join("few-shot.json")).unwrap()).unwrap();
    assert_eq!(study.shots, vec![8, 16, 32, 64]);
    let set = &study.data_sets[0];
    let zero = set.zero_shot.expect("zero-shot ran");
    assert!((0.0..=1.0).contains(&zero.macro_f1));
    let names: Vec<&str> = set.methods.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "pipeline head",
            "fine-tuning",
            "prompt fine-tuning",
            report::CONTRASTIVE_NAME
        ]
    );
    for (m, method) in set.methods.iter().enumerate() {
        assert_eq!(method.points.len(), 4);
        for point in &method.points {
            assert_eq!(point.reports.len(), 2, "one comparison per draw");
            // Each draw is a comparison of k per class (60 per class exist), and the
            // point's mean is the mean of those comparisons' test scores.
            let mut f1 = Vec::new();
            for report in &point.reports {
                let c: Comparison =
                    report::read_results(&dir.join(report).join("results.json")).unwrap();
                assert_eq!(c.data.train, 2 * point.shots.min(60), "{report}");
                assert_eq!(c.data.test, 24, "the test split is untouched");
                let mode = match m {
                    0 => &c.pipeline,
                    3 => c
                        .contrastive
                        .as_ref()
                        .expect("the first comparison tunes on pairs"),
                    _ => &c.end_to_end,
                };
                f1.push(mode.runs[0].test.macro_f1);
                let prompted = c.settings.fine_tune["classifier"]["prompt"].is_object();
                assert_eq!(
                    prompted,
                    m == 2,
                    "{report}: the prompt runs are the prompt's"
                );
            }
            let (mean, std) = mean_std(&f1);
            assert!((point.macro_f1.mean - mean).abs() < 1e-12);
            assert!((point.macro_f1.std - std).abs() < 1e-12);
        }
    }
    // Two draws of the same k differ; a larger k of the same seed contains the smaller.
    let train_ids = |point: usize, draw: usize| -> Vec<String> {
        let report = &set.methods[0].points[point].reports[draw];
        let c = report::read_results(&dir.join(report).join("results.json")).unwrap();
        let train = c.data.files.iter().find(|f| f.split == "train").unwrap();
        std::fs::read_to_string(&train.path)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["id"].to_string())
            .collect()
    };
    assert_ne!(
        train_ids(0, 0),
        train_ids(0, 1),
        "each seed draws its own k"
    );
    let (k8, k16) = (train_ids(0, 0), train_ids(1, 0));
    assert!(k8.iter().all(|id| k16.contains(id)), "k = 16 extends k = 8");
}

#[test]
fn robustness_suite_trains_every_arm_scores_it_on_perturbed_tests_and_resumes() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let data = topics_folder(d, [40, 12, 16]);
    let (dir, stderr) = run_suite(&["robustness"], d);
    assert!(dir.join("robustness.md").is_file(), "{stderr}");
    let study: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("robustness.json")).unwrap())
            .unwrap();
    let set = &study["data_sets"][0];
    let arms = set["arms"].as_array().unwrap();
    let names: Vec<&str> = arms.iter().map(|a| a["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "baseline",
            "FGM",
            "PGD",
            "half-depth student",
            "born-again",
            "baseline",
            "distilled head",
            "bagging",
            "boosting",
            "seed averaging"
        ]
    );
    for arm in &arms[..9] {
        let runs = arm["runs"].as_array().unwrap();
        assert_eq!(runs.len(), 2, "two seeds");
        for run in runs {
            assert_eq!(run["perturbed_accuracy"].as_array().unwrap().len(), 2);
        }
    }
    // The perturbed test copies differ from the clean one, record by record.
    let folder = dir.join("topics");
    let clean = std::fs::read_to_string(data.join("test.jsonl")).unwrap();
    for name in ["typos", "drops"] {
        let perturbed = std::fs::read_to_string(folder.join(format!("test-{name}.jsonl"))).unwrap();
        assert_eq!(perturbed.lines().count(), 16);
        assert_ne!(perturbed, clean);
    }
    // PGD really ran its ascent steps: 3 passes per batch.
    let pgd: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(folder.join("end-to-end-pgd/seed-42/run/training.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(pgd["passes"], pgd["batches"].as_u64().unwrap() * 3);
    // The student has half the teacher's layers; the born-again network all of them.
    let layers = |arm: &str| -> u64 {
        let path = folder.join(format!("end-to-end-{arm}/seed-43/run/training.json"));
        let summary: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        summary["num_layers"].as_u64().unwrap()
    };
    assert_eq!(layers("half-depth-student") * 2, layers("born-again"));
    // The table's FGM macro-F1 cell is the mean ± std of its runs, computed here.
    let f1: Vec<f64> = arms[1]["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["macro_f1"].as_f64().unwrap())
        .collect();
    let (mean, std) = mean_std(&f1);
    let markdown = std::fs::read_to_string(dir.join("robustness.md")).unwrap();
    let row = markdown
        .lines()
        .find(|l| l.starts_with("| FGM |"))
        .expect("an FGM row");
    assert!(row.contains(&format!("{mean:.3} ± {std:.3}")), "{row}");

    // Resumed, nothing is trained again and the numbers stay.
    let resumed = dir.to_str().unwrap();
    let (again_dir, stderr) = run_suite(&["robustness", "--resume", resumed], d);
    assert_eq!(again_dir, dir);
    assert_eq!(stderr.matches("already done").count(), 9 * 2, "{stderr}");
    let again: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("robustness.json")).unwrap())
            .unwrap();
    assert_eq!(again["data_sets"], study["data_sets"]);
}

//! The multi-label and regression metrics against scikit-learn's and SciPy's values
//! on the same inputs (`scripts/reference/metric_fixtures.py` wrote them).

use metrics::{MultiLabelReport, RegressionReport};
use serde::Deserialize;

#[derive(Deserialize)]
struct Fixtures {
    regression: Vec<RegressionCase>,
    multi_label: Vec<MultiLabelCase>,
}

#[derive(Deserialize)]
struct RegressionCase {
    name: String,
    truth: Vec<f64>,
    predicted: Vec<f64>,
    rmse: f64,
    mae: f64,
    r2: f64,
    pearson: Option<f64>,
    spearman: Option<f64>,
}

#[derive(Deserialize)]
struct MultiLabelCase {
    name: String,
    labels: usize,
    truth: Vec<Vec<u8>>,
    predicted: Vec<Vec<u8>>,
    scores: Vec<Vec<f32>>,
    micro_f1: f64,
    macro_f1: f64,
    samples_f1: f64,
    subset_accuracy: f64,
    hamming_loss: f64,
    ranking_average_precision: f64,
    per_label_precision: Vec<f64>,
    per_label_recall: Vec<f64>,
    per_label_f1: Vec<f64>,
    support: Vec<usize>,
}

fn fixtures() -> Fixtures {
    serde_json::from_str(include_str!("fixtures/sklearn.json")).expect("the fixture parses")
}

fn close(ours: f64, theirs: f64, what: &str, case: &str) {
    assert!(
        (ours - theirs).abs() <= 1e-9 * theirs.abs().max(1.0),
        "{case}: {what} {ours} against scikit-learn's {theirs}"
    );
}

#[test]
fn regression_metrics_equal_scikit_learn_and_scipy() {
    for case in fixtures().regression {
        let report = RegressionReport::new(&case.truth, &case.predicted);
        let name = case.name.as_str();
        assert_eq!(report.examples, case.truth.len());
        close(report.rmse, case.rmse, "RMSE", name);
        close(report.mae, case.mae, "MAE", name);
        close(report.r2, case.r2, "R²", name);
        for (ours, theirs, what) in [
            (report.pearson, case.pearson, "Pearson"),
            (report.spearman, case.spearman, "Spearman"),
        ] {
            match (ours, theirs) {
                (Some(ours), Some(theirs)) => close(ours, theirs, what, name),
                (None, None) => {}
                _ => panic!("{name}: {what} {ours:?} against SciPy's {theirs:?}"),
            }
        }
    }
}

#[test]
fn multi_label_metrics_equal_scikit_learn() {
    let flat = |rows: &[Vec<u8>]| -> Vec<bool> { rows.iter().flatten().map(|&x| x == 1).collect() };
    for case in fixtures().multi_label {
        let labels: Vec<String> = (0..case.labels).map(|j| format!("label {j}")).collect();
        let scores: Vec<f32> = case.scores.concat();
        let report = MultiLabelReport::new(
            &labels,
            &flat(&case.truth),
            &flat(&case.predicted),
            Some(&scores),
        );
        let name = case.name.as_str();
        close(report.micro_f1, case.micro_f1, "micro-F1", name);
        close(report.macro_f1, case.macro_f1, "macro-F1", name);
        close(report.samples_f1, case.samples_f1, "samples-F1", name);
        close(
            report.subset_accuracy,
            case.subset_accuracy,
            "subset accuracy",
            name,
        );
        close(report.hamming_loss, case.hamming_loss, "Hamming loss", name);
        close(
            report.ranking_average_precision.unwrap(),
            case.ranking_average_precision,
            "label-ranking average precision",
            name,
        );
        for (j, scores) in report.per_label.iter().enumerate() {
            close(
                scores.precision,
                case.per_label_precision[j],
                "precision",
                name,
            );
            close(scores.recall, case.per_label_recall[j], "recall", name);
            close(scores.f1, case.per_label_f1[j], "F1", name);
            assert_eq!(
                scores.support, case.support[j],
                "{name}: support of label {j}"
            );
        }
        let counts: usize = report.true_label_counts.iter().sum();
        assert_eq!(
            counts,
            case.truth.len(),
            "{name}: every example counted once"
        );
    }
}

//! A report of any task as lines of plain text, for a terminal or a log.

use metrics::{ClassificationReport, MultiLabelReport, RegressionReport, TaskReport};

/// The report of any task, as [`classification_text`], [`multi_label_text`] or
/// [`regression_text`] writes it.
pub fn task_text(report: &TaskReport, confusion: bool) -> String {
    match report {
        TaskReport::SingleLabel(r) => classification_text(r, confusion),
        TaskReport::MultiLabel(r) => multi_label_text(r),
        TaskReport::Regression(r) => regression_text(r),
    }
}

/// Micro-, macro- and samples-F1, subset accuracy, Hamming loss and ranking
/// precision; each label's scores; how many labels examples have and were given.
pub fn multi_label_text(report: &MultiLabelReport) -> String {
    let ranking = report
        .ranking_average_precision
        .map_or("-".to_owned(), |v| format!("{v:.4}"));
    let mut lines = vec![
        format!(
            "micro-F1 {:.4}  macro-F1 {:.4}  samples-F1 {:.4}  ({} examples)",
            report.micro_f1, report.macro_f1, report.samples_f1, report.examples
        ),
        format!(
            "subset accuracy {:.4}  Hamming loss {:.4}  label-ranking average precision {ranking}",
            report.subset_accuracy, report.hamming_loss
        ),
    ];
    for s in &report.per_label {
        lines.push(format!(
            "  {:<12} precision {:.3}  recall {:.3}  F1 {:.3}  support {}",
            s.label, s.precision, s.recall, s.f1, s.support
        ));
    }
    let counts = |counts: &[usize]| {
        let shown: Vec<String> = counts
            .iter()
            .enumerate()
            .filter(|(_, n)| **n > 0)
            .map(|(k, n)| format!("{k}: {n}"))
            .collect();
        shown.join(", ")
    };
    lines.push(format!(
        "labels per example, true: {}; predicted: {}",
        counts(&report.true_label_counts),
        counts(&report.predicted_label_counts)
    ));
    lines.join("\n")
}

/// RMSE, MAE and R², Pearson and Spearman.
pub fn regression_text(report: &RegressionReport) -> String {
    let show = |v: Option<f64>| v.map_or("undefined".to_owned(), |v| format!("{v:.4}"));
    format!(
        "RMSE {:.4}  MAE {:.4}  R² {:.4}  Pearson {}  Spearman {}  ({} examples)",
        report.rmse,
        report.mae,
        report.r2,
        show(report.pearson),
        show(report.spearman),
        report.examples
    )
}

/// Accuracy, F1s and per-class scores; with `confusion`, the confusion matrix too
/// (rows: true class, columns: predicted). Classes the model cannot predict are
/// named first.
pub fn classification_text(report: &ClassificationReport, confusion: bool) -> String {
    let mut lines = Vec::new();
    lines.extend(unseen_note(report));
    lines.push(format!(
        "accuracy {:.4}  macro-F1 {:.4}  weighted-F1 {:.4}  ({} examples)",
        report.accuracy, report.macro_f1, report.weighted_f1, report.examples
    ));
    if let Some(binary) = &report.binary {
        let show = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.4}"));
        lines.push(format!(
            "positive class {:?}: ROC-AUC {}  PR-AUC {}",
            binary.positive,
            show(binary.roc_auc),
            show(binary.pr_auc)
        ));
    }
    for s in &report.per_class {
        lines.push(format!(
            "  {:<12} precision {:.3}  recall {:.3}  F1 {:.3}  support {}",
            s.label, s.precision, s.recall, s.f1, s.support
        ));
    }
    if confusion {
        let m = &report.confusion;
        lines.push("confusion (rows true, columns predicted, in the order above):".into());
        for row in m.counts.chunks(m.classes.max(1)) {
            let cells: Vec<String> = row.iter().map(|c| format!("{c:>6}")).collect();
            lines.push(format!("  {}", cells.join("")));
        }
    }
    lines.join("\n")
}

/// One line naming the true classes the model cannot predict, when there are any.
pub fn unseen_note(report: &ClassificationReport) -> Option<String> {
    if report.unseen.is_empty() {
        return None;
    }
    let classes: Vec<String> = report
        .per_class
        .iter()
        .filter(|s| report.unseen.contains(&s.label))
        .map(|s| format!("{} ({} records)", s.label, s.support))
        .collect();
    Some(format!(
        "note: the model was not trained on {}; those records are scored as misses",
        classes.join(", ")
    ))
}

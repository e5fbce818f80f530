//! What prediction commands write and print, the same for both modes.

use std::path::Path;

use anyhow::{Context, Result};
use artifacts::FileKind;
use metrics::ClassificationReport;

/// Writes one JSON line per record (see [`prediction_lines`]) to `path`, atomically;
/// an existing file there is replaced only when it is a predictions file.
pub fn write_predictions(
    path: &Path,
    names: &[String],
    ids: &[String],
    truth: &[Option<String>],
    probabilities: &[f32],
    predicted: &[usize],
) -> Result<()> {
    let out = prediction_lines(names, ids, truth, probabilities, predicted);
    artifacts::write_output_file(path, FileKind::Predictions, out.as_bytes()).context("--output")
}

/// One JSON line per record: id, predicted label, true label (if any) and the
/// probability of every class.
pub fn prediction_lines(
    names: &[String],
    ids: &[String],
    truth: &[Option<String>],
    probabilities: &[f32],
    predicted: &[usize],
) -> String {
    let mut out = String::new();
    for (i, id) in ids.iter().enumerate() {
        let row = &probabilities[i * names.len()..(i + 1) * names.len()];
        let line = prediction_line(names, id, truth[i].as_deref(), row, predicted[i]);
        out.push_str(&line.to_string());
        out.push('\n');
    }
    out
}

/// One record's prediction: id, predicted label, true label and every class's
/// probability (`row`).
pub fn prediction_line(
    names: &[String],
    id: &str,
    truth: Option<&str>,
    row: &[f32],
    predicted: usize,
) -> serde_json::Value {
    let probabilities: serde_json::Map<String, serde_json::Value> = names
        .iter()
        .zip(row)
        .map(|(n, &p)| (n.clone(), serde_json::json!(p)))
        .collect();
    serde_json::json!({"id": id, "label": names[predicted], "true_label": truth, "probabilities": probabilities})
}

/// Prints the metric report when every record has a label (labels the model does
/// not know count as misses, and a line says so); `None` when some record has none.
pub fn report_if_labelled(
    names: &[String],
    truth: &[Option<String>],
    predicted: &[usize],
    probabilities: &[f32],
) -> Option<ClassificationReport> {
    let truth: Option<Vec<&str>> = truth.iter().map(Option::as_deref).collect();
    let report = ClassificationReport::by_name(names, &truth?, predicted, Some(probabilities));
    print_report(&report, false);
    Some(report)
}

/// One line naming the true classes the model cannot predict, when there are any.
pub fn note_unseen(report: &ClassificationReport) {
    if report.unseen.is_empty() {
        return;
    }
    let classes: Vec<String> = report
        .per_class
        .iter()
        .filter(|s| report.unseen.contains(&s.label))
        .map(|s| format!("{} ({} records)", s.label, s.support))
        .collect();
    eprintln!(
        "note: the model was not trained on {}; those records are scored as misses",
        classes.join(", ")
    );
}

/// Accuracy, F1s and per-class scores on stderr; with `confusion`, the confusion
/// matrix too (rows: true class, columns: predicted).
pub fn print_report(report: &ClassificationReport, confusion: bool) {
    note_unseen(report);
    eprintln!(
        "accuracy {:.4}  macro-F1 {:.4}  weighted-F1 {:.4}  ({} examples)",
        report.accuracy, report.macro_f1, report.weighted_f1, report.examples
    );
    if let Some(binary) = &report.binary {
        let show = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.4}"));
        eprintln!(
            "positive class {:?}: ROC-AUC {}  PR-AUC {}",
            binary.positive,
            show(binary.roc_auc),
            show(binary.pr_auc)
        );
    }
    for s in &report.per_class {
        eprintln!(
            "  {:<12} precision {:.3}  recall {:.3}  F1 {:.3}  support {}",
            s.label, s.precision, s.recall, s.f1, s.support
        );
    }
    if confusion {
        let m = &report.confusion;
        eprintln!("confusion (rows true, columns predicted, in the order above):");
        for row in m.counts.chunks(m.classes.max(1)) {
            let cells: Vec<String> = row.iter().map(|c| format!("{c:>6}")).collect();
            eprintln!("  {}", cells.join(""));
        }
    }
}

//! What prediction jobs write: one JSON line per record, the same for both modes.

use std::path::Path;

use artifacts::FileKind;
use data::Label;

use crate::error::Result;

/// Writes one JSON line per record (see [`prediction_lines`]) to `path`, atomically;
/// an existing file there is replaced only when it is a predictions file. The caller
/// names, in its error's context, the flag that chose `path`.
pub fn write_predictions(
    path: &Path,
    names: &[String],
    ids: &[String],
    truth: &[Option<Label>],
    probabilities: &[f32],
    predicted: &[usize],
) -> Result<()> {
    let out = prediction_lines(names, ids, truth, probabilities, predicted);
    Ok(artifacts::write_output_file(
        path,
        FileKind::Predictions,
        out.as_bytes(),
    )?)
}

/// One JSON line per record: id, predicted label, true label (if any) and the
/// probability of every class.
pub fn prediction_lines(
    names: &[String],
    ids: &[String],
    truth: &[Option<Label>],
    probabilities: &[f32],
    predicted: &[usize],
) -> String {
    let mut out = String::new();
    for (i, id) in ids.iter().enumerate() {
        let row = &probabilities[i * names.len()..(i + 1) * names.len()];
        let line = prediction_line(names, id, truth[i].as_ref(), row, predicted[i]);
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
    truth: Option<&Label>,
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

/// The metric report when every record has a label (labels the model does not
/// know count as misses); `None` when some record has none.
pub(crate) fn report_if_labelled(
    names: &[String],
    truth: &[Option<Label>],
    predicted: &[usize],
    probabilities: &[f32],
) -> Option<metrics::ClassificationReport> {
    let truth: Option<Vec<&str>> = truth
        .iter()
        .map(|t| t.as_ref().and_then(Label::class))
        .collect();
    Some(metrics::ClassificationReport::by_name(
        names,
        &truth?,
        predicted,
        Some(probabilities),
    ))
}

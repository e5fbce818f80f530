//! What prediction jobs write: one JSON line per record, the same for both modes.

use std::path::Path;

use artifacts::FileKind;
use data::Label;
use metrics::TaskReport;
use training::Targets;

use crate::error::{Result, refuse};

/// One record's prediction of a class: id, predicted label, true label and every
/// class's probability (`row`).
fn class_line(
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

/// Writes one JSON line per record (see [`prediction_lines`]) to `path`, atomically;
/// an existing file there is replaced only when it is a predictions file. The caller
/// names, in its error's context, the flag that chose `path`.
pub fn write_predictions(
    path: &Path,
    names: &[String],
    ids: &[String],
    truth: &[Option<Label>],
    scores: &[f32],
    predicted: &Targets,
) -> Result<()> {
    let out = prediction_lines(names, ids, truth, scores, predicted);
    Ok(artifacts::write_output_file(
        path,
        FileKind::Predictions,
        out.as_bytes(),
    )?)
}

/// One JSON line per record of a prediction of any task (see [`prediction_line`]).
pub fn prediction_lines(
    names: &[String],
    ids: &[String],
    truth: &[Option<Label>],
    scores: &[f32],
    predicted: &Targets,
) -> String {
    let mut out = String::new();
    for (i, id) in ids.iter().enumerate() {
        let line = prediction_line(names, id, truth[i].as_ref(), scores, predicted, i);
        out.push_str(&line.to_string());
        out.push('\n');
    }
    out
}

/// Row `row`'s prediction of any task, in its labels' own JSON form: `label` the
/// predicted class, list (both with every output's `probabilities`) or value,
/// beside `true_label`. `scores` and `predicted` hold every row.
pub fn prediction_line(
    names: &[String],
    id: &str,
    truth: Option<&Label>,
    scores: &[f32],
    predicted: &Targets,
    row: usize,
) -> serde_json::Value {
    let probabilities = |width: usize| -> serde_json::Map<String, serde_json::Value> {
        names
            .iter()
            .zip(&scores[row * width..(row + 1) * width])
            .map(|(n, &p)| (n.clone(), serde_json::json!(p)))
            .collect()
    };
    match predicted {
        Targets::Classes(classes) => {
            let width = names.len();
            class_line(
                names,
                id,
                truth,
                &scores[row * width..(row + 1) * width],
                classes[row],
            )
        }
        Targets::Tags { labels, marks } => {
            let chosen: Vec<&String> = names
                .iter()
                .zip(&marks[row * labels..(row + 1) * labels])
                .filter(|(_, m)| **m)
                .map(|(n, _)| n)
                .collect();
            serde_json::json!({"id": id, "label": chosen, "true_label": truth, "probabilities": probabilities(*labels)})
        }
        Targets::Values(values) => {
            serde_json::json!({"id": id, "label": values[row], "true_label": truth})
        }
    }
}

/// The report of predictions of any task when every record has a label of that
/// task; `None` otherwise. True labels the head does not know count as misses, as
/// [`report_if_labelled`] counts unknown classes.
pub(crate) fn task_report_if_labelled(
    names: &[String],
    truth: &[Option<Label>],
    scores: &[f32],
    predicted: &Targets,
) -> Option<TaskReport> {
    match predicted {
        Targets::Classes(classes) => {
            report_if_labelled(names, truth, classes, scores).map(TaskReport::SingleLabel)
        }
        Targets::Tags { labels, marks } => {
            let truth: Vec<&[String]> = truth
                .iter()
                .map(|t| t.as_ref().and_then(Label::tag_list))
                .collect::<Option<_>>()?;
            // Labels only the truth names: a column the head never predicts.
            let mut all = names.to_vec();
            for tag in truth.iter().copied().flatten() {
                if !all.contains(tag) {
                    all.push(tag.clone());
                }
            }
            let width = all.len();
            let mut true_marks = vec![false; truth.len() * width];
            let mut predicted_marks = vec![false; truth.len() * width];
            let mut padded_scores = vec![0.0f32; truth.len() * width];
            for (i, tags) in truth.iter().enumerate() {
                for tag in *tags {
                    let j = all.iter().position(|n| n == tag).expect("added above");
                    true_marks[i * width + j] = true;
                }
                let row = i * width..i * width + labels;
                predicted_marks[row.clone()].copy_from_slice(&marks[i * labels..(i + 1) * labels]);
                padded_scores[row].copy_from_slice(&scores[i * labels..(i + 1) * labels]);
            }
            Some(TaskReport::MultiLabel(metrics::MultiLabelReport::new(
                &all,
                &true_marks,
                &predicted_marks,
                Some(&padded_scores),
            )))
        }
        Targets::Values(values) => {
            let truth: Vec<f64> = truth
                .iter()
                .map(|t| t.as_ref().and_then(Label::value))
                .collect::<Option<_>>()?;
            let predicted: Vec<f64> = values.iter().map(|&v| f64::from(v)).collect();
            Some(TaskReport::Regression(metrics::RegressionReport::new(
                &truth, &predicted,
            )))
        }
    }
}

/// Refuses labelled data of another task than the model in `model` learnt, naming
/// both: its report would score a set of labels against values, or classes against
/// a set. `source` names the data.
pub(crate) fn check_task(
    learnt: data::Task,
    model: &Path,
    labels: &[Option<Label>],
    source: &str,
) -> Result<()> {
    match labels.iter().flatten().find(|l| l.task() != learnt) {
        None => Ok(()),
        Some(label) => refuse!(
            "{source} holds {} data (label {label}), and the model in {} learnt {learnt} \
             data: use a model trained on data of this task",
            label.task(),
            model.display()
        ),
    }
}

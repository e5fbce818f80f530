//! `--cv K` of `head train` and `finetune`: stratified K-fold cross-validation. Each
//! fold's model is trained on the other folds and scored on the one it never saw; the
//! out-of-fold predictions of every example are kept. Folds are stratified by the
//! task's targets: by class, by label (iterative stratification), or by tenths of
//! the values.

use std::path::Path;

use data::{Label, VALUE_STRATA, multi_label_folds, stratified_folds, value_bins};
use report::CrossValidation;
use settings::SettingError;
use training::{Readout, Targets};

use crate::Observer;
use crate::error::Result;
use crate::predictions::prediction_line;

/// One fold: the examples it trains on and those it holds out (indices).
pub struct Fold {
    /// 0-based.
    pub index: usize,
    /// The examples the fold's model trains on.
    pub train: Vec<usize>,
    /// The examples it is scored on.
    pub held_out: Vec<usize>,
}

/// The examples to cross-validate over, by index.
pub struct CvData<'a> {
    /// The class or label names (none for regression).
    pub labels: &'a [String],
    /// Each example's target.
    pub truth: &'a Targets,
    /// Record id of each example.
    pub ids: &'a [String],
}

/// Trains on a fold's training part and returns its held-out examples' scores
/// (`held_out × outputs`, row-major: probabilities, or values).
pub type FitPredict<'a> = dyn FnMut(&Fold, &mut dyn Observer) -> Result<Vec<f32>> + 'a;

/// Runs `fit_predict` (train on `fold.train`, return the held-out scores) on each of
/// `k` stratified folds, notes each fold and the summary to `observer`, and writes
/// into `out` (a folder claimed for the cross-validation) `cv.json` (every fold's
/// report and every metric's mean ± std) and `cv-predictions.jsonl` (each example's
/// out-of-fold prediction and its fold). Held-out scores are read by the task's
/// defaults (argmax; 0.5 per label; values as they are).
pub fn cross_validate(
    k: usize,
    seed: u64,
    data: &CvData<'_>,
    out: &Path,
    observer: &mut dyn Observer,
    fit_predict: &mut FitPredict<'_>,
) -> Result<CrossValidation> {
    check_folds(k, data, observer)?;
    let rows = data.truth.rows();
    let outputs = Readout::outputs(data.truth.task(), data.labels.len());
    let readout = Readout::default_for(data.truth, data.labels.len());
    let assignment = folds(data.truth, k, seed);
    let mut out_of_fold = vec![0.0f32; rows * outputs];
    let mut reports = Vec::with_capacity(k);
    for index in 0..k {
        let (held_out, train): (Vec<usize>, Vec<usize>) =
            (0..rows).partition(|&i| assignment[i] == index);
        observer.note(&format!(
            "fold {}/{k}: training on {}, holding out {}",
            index + 1,
            train.len(),
            held_out.len()
        ));
        let fold = Fold {
            index,
            train,
            held_out,
        };
        let scores = fit_predict(&fold, observer)?;
        let truth = data.truth.subset(&fold.held_out);
        let report = readout.report(data.labels, &truth, &scores);
        observer.note(&format!(
            "fold {}/{k}: held-out {}",
            index + 1,
            report.summary()
        ));
        reports.push(report);
        for (row, &i) in scores.chunks(outputs).zip(&fold.held_out) {
            out_of_fold[i * outputs..(i + 1) * outputs].copy_from_slice(row);
        }
    }
    let cv = CrossValidation::of(reports);
    for line in cv.render().lines() {
        observer.note(line);
    }
    let predicted = readout.decide(&out_of_fold, outputs);
    write_out_of_fold(out, data, &assignment, &out_of_fold, &predicted)?;
    artifacts::write_json(&out.join("cv.json"), &cv)?;
    observer.note(&format!(
        "per-fold reports and the summary in {}, out-of-fold predictions in {}",
        out.join("cv.json").display(),
        out.join("cv-predictions.jsonl").display()
    ));
    Ok(cv)
}

/// The fold of each example: stratified by class, by label (Sechidis et al.'s
/// iterative stratification: a set of labels is rarely shared), or by value
/// (tenths of the sorted values, so every fold spans the range).
fn folds(truth: &Targets, k: usize, seed: u64) -> Vec<usize> {
    match truth {
        Targets::Classes(classes) => stratified_folds(classes, k, seed),
        Targets::Tags { labels, marks } => {
            let sets: Vec<Vec<usize>> = marks
                .chunks(*labels)
                .map(|row| (0..*labels).filter(|&j| row[j]).collect())
                .collect();
            multi_label_folds(&sets, *labels, k, seed)
        }
        Targets::Values(values) => {
            let values: Vec<f64> = values.iter().map(|&v| f64::from(v)).collect();
            stratified_folds(&value_bins(&values, VALUE_STRATA), k, seed)
        }
    }
}

/// At least two folds, no more than examples; a class or label rarer than the
/// folds is noted.
fn check_folds(k: usize, data: &CvData<'_>, observer: &mut dyn Observer) -> Result<()> {
    let examples = data.truth.rows();
    if k < 2 {
        return Err(SettingError::new("cv", k, "needs at least 2 folds").into());
    }
    if k > examples {
        let requirement = format!("more folds than the {examples} training examples");
        return Err(SettingError::new("cv", k, requirement).into());
    }
    let counts: Vec<usize> = match data.truth {
        Targets::Classes(classes) => (0..data.labels.len())
            .map(|c| classes.iter().filter(|&&t| t == c).count())
            .collect(),
        Targets::Tags { labels, marks } => (0..*labels)
            .map(|j| marks.chunks(*labels).filter(|row| row[j]).count())
            .collect(),
        Targets::Values(_) => Vec::new(),
    };
    if let Some(smallest) = counts.into_iter().min().filter(|&n| n < k) {
        let kind = match data.truth {
            Targets::Tags { .. } => "label",
            _ => "class",
        };
        observer.note(&format!(
            "note: the rarest {kind} has {smallest} examples, fewer than {k} folds: some folds hold none of it"
        ));
    }
    Ok(())
}

/// `cv-predictions.jsonl`: each example's out-of-fold prediction and its fold.
fn write_out_of_fold(
    out: &Path,
    data: &CvData<'_>,
    assignment: &[usize],
    scores: &[f32],
    predicted: &Targets,
) -> Result<()> {
    let mut lines = String::new();
    for (i, id) in data.ids.iter().enumerate() {
        let truth = true_label(data, i);
        let mut line = prediction_line(data.labels, id, Some(&truth), scores, predicted, i);
        line["fold"] = serde_json::json!(assignment[i]);
        lines.push_str(&line.to_string());
        lines.push('\n');
    }
    Ok(artifacts::write_atomic(
        &out.join("cv-predictions.jsonl"),
        lines.as_bytes(),
    )?)
}

/// Example `i`'s target as the label its data gave.
fn true_label(data: &CvData<'_>, i: usize) -> Label {
    match data.truth {
        Targets::Classes(classes) => data.labels[classes[i]].as_str().into(),
        Targets::Tags { labels, marks } => Label::tags(
            data.labels
                .iter()
                .zip(&marks[i * labels..(i + 1) * labels])
                .filter(|(_, m)| **m)
                .map(|(name, _)| name.clone()),
        ),
        Targets::Values(values) => Label::Value(f64::from(values[i])),
    }
}

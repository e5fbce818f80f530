//! `--cv K` of `head train` and `finetune`: stratified K-fold cross-validation. Each
//! fold's model is trained on the other folds and scored on the one it never saw; the
//! out-of-fold predictions of every example are kept.

use std::path::Path;

use data::stratified_folds;
use metrics::DecisionRule;
use report::CrossValidation;
use settings::SettingError;

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
    /// The class names.
    pub labels: &'a [String],
    /// Class index of each example.
    pub truth: &'a [usize],
    /// Record id of each example.
    pub ids: &'a [String],
}

/// Trains on a fold's training part and returns its held-out examples' probabilities
/// (`held_out × classes`, row-major).
pub type FitPredict<'a> = dyn FnMut(&Fold, &mut dyn Observer) -> Result<Vec<f32>> + 'a;

/// Runs `fit_predict` (train on `fold.train`, return `held_out × classes`
/// probabilities) on each of `k` stratified folds, notes each fold and the summary
/// to `observer`, and writes into `out` (a folder claimed for the cross-validation)
/// `cv.json` (every fold's report and every metric's mean ± std) and
/// `cv-predictions.jsonl` (each example's out-of-fold prediction and its fold).
pub fn cross_validate(
    k: usize,
    seed: u64,
    data: &CvData<'_>,
    out: &Path,
    observer: &mut dyn Observer,
    fit_predict: &mut FitPredict<'_>,
) -> Result<CrossValidation> {
    check_folds(k, data, observer)?;
    let classes = data.labels.len();
    let assignment = stratified_folds(data.truth, k, seed);
    let mut out_of_fold = vec![0.0f32; data.truth.len() * classes];
    let mut reports = Vec::with_capacity(k);
    for index in 0..k {
        let (held_out, train): (Vec<usize>, Vec<usize>) =
            (0..data.truth.len()).partition(|&i| assignment[i] == index);
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
        let probabilities = fit_predict(&fold, observer)?;
        let truth: Vec<usize> = fold.held_out.iter().map(|&i| data.truth[i]).collect();
        let report = DecisionRule::Argmax.report(data.labels, &truth, &probabilities);
        observer.note(&format!(
            "fold {}/{k}: held-out macro-F1 {:.4}, accuracy {:.4}",
            index + 1,
            report.macro_f1,
            report.accuracy
        ));
        reports.push(report);
        for (row, &i) in probabilities.chunks(classes).zip(&fold.held_out) {
            out_of_fold[i * classes..(i + 1) * classes].copy_from_slice(row);
        }
    }
    let cv = CrossValidation::of(reports);
    for line in cv.render().lines() {
        observer.note(line);
    }
    write_out_of_fold(out, data, &assignment, &out_of_fold)?;
    artifacts::write_json(&out.join("cv.json"), &cv)?;
    observer.note(&format!(
        "per-fold reports and the summary in {}, out-of-fold predictions in {}",
        out.join("cv.json").display(),
        out.join("cv-predictions.jsonl").display()
    ));
    Ok(cv)
}

/// At least two folds, no more than examples; a class rarer than the folds is noted.
fn check_folds(k: usize, data: &CvData<'_>, observer: &mut dyn Observer) -> Result<()> {
    if k < 2 {
        return Err(SettingError::new("cv", k, "needs at least 2 folds").into());
    }
    if k > data.truth.len() {
        let examples = data.truth.len();
        let requirement = format!("more folds than the {examples} training examples");
        return Err(SettingError::new("cv", k, requirement).into());
    }
    let smallest = (0..data.labels.len())
        .map(|c| data.truth.iter().filter(|&&t| t == c).count())
        .min()
        .unwrap_or(0);
    if smallest < k {
        observer.note(&format!(
            "note: the rarest class has {smallest} examples, fewer than {k} folds: some folds hold none of it"
        ));
    }
    Ok(())
}

/// `cv-predictions.jsonl`: each example's out-of-fold prediction and its fold.
fn write_out_of_fold(
    out: &Path,
    data: &CvData<'_>,
    assignment: &[usize],
    out_of_fold: &[f32],
) -> Result<()> {
    let classes = data.labels.len();
    let predicted = DecisionRule::Argmax.decide(out_of_fold, classes);
    let mut lines = String::new();
    for (i, id) in data.ids.iter().enumerate() {
        let row = &out_of_fold[i * classes..(i + 1) * classes];
        let mut line = prediction_line(
            data.labels,
            id,
            Some(&data.labels[data.truth[i]].as_str().into()),
            row,
            predicted[i],
        );
        line["fold"] = serde_json::json!(assignment[i]);
        lines.push_str(&line.to_string());
        lines.push('\n');
    }
    Ok(artifacts::write_atomic(
        &out.join("cv-predictions.jsonl"),
        lines.as_bytes(),
    )?)
}

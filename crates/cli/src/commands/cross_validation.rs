//! `--cv K` of `head train` and `finetune`: stratified K-fold cross-validation. Each
//! fold's model is trained on the other folds and scored on the one it never saw; the
//! out-of-fold predictions of every example are kept.

use std::path::Path;

use anyhow::{Result, bail};
use data::stratified_folds;
use metrics::DecisionRule;
use report::CrossValidation;

use crate::output::prediction_line;

/// One fold: the examples it trains on and those it holds out (indices).
pub struct Fold {
    /// 0-based.
    pub index: usize,
    pub train: Vec<usize>,
    pub held_out: Vec<usize>,
}

/// The examples to cross-validate over, by index.
pub struct CvData<'a> {
    pub labels: &'a [String],
    /// Class index of each example.
    pub truth: &'a [usize],
    pub ids: &'a [String],
}

/// Runs `fit_predict` (train on `fold.train`, return `held_out × classes`
/// probabilities) on each of `k` stratified folds, prints the summary and writes
/// into `out` (a folder claimed for the cross-validation) `OUT/cv.json` (every fold's report and every metric's mean ± std) and
/// `OUT/cv-predictions.jsonl` (each example's out-of-fold prediction and its fold).
pub fn cross_validate(
    k: usize,
    seed: u64,
    data: &CvData<'_>,
    out: &Path,
    fit_predict: &mut dyn FnMut(&Fold) -> Result<Vec<f32>>,
) -> Result<CrossValidation> {
    let classes = data.labels.len();
    let smallest = (0..classes)
        .map(|c| data.truth.iter().filter(|&&t| t == c).count())
        .min()
        .unwrap_or(0);
    if k < 2 {
        bail!("--cv needs at least 2 folds");
    }
    if k > data.truth.len() {
        bail!(
            "--cv {k}: more folds than the {} training examples",
            data.truth.len()
        );
    }
    if smallest < k {
        eprintln!(
            "note: the rarest class has {smallest} examples, fewer than {k} folds: some folds hold none of it"
        );
    }
    let assignment = stratified_folds(data.truth, k, seed);
    let mut out_of_fold = vec![0.0f32; data.truth.len() * classes];
    let mut reports = Vec::with_capacity(k);
    for index in 0..k {
        let (held_out, train): (Vec<usize>, Vec<usize>) =
            (0..data.truth.len()).partition(|&i| assignment[i] == index);
        eprintln!(
            "fold {}/{k}: training on {}, holding out {}",
            index + 1,
            train.len(),
            held_out.len()
        );
        let fold = Fold {
            index,
            train,
            held_out,
        };
        let probabilities = fit_predict(&fold)?;
        let truth: Vec<usize> = fold.held_out.iter().map(|&i| data.truth[i]).collect();
        let report = DecisionRule::Argmax.report(data.labels, &truth, &probabilities);
        eprintln!(
            "fold {}/{k}: held-out macro-F1 {:.4}, accuracy {:.4}",
            index + 1,
            report.macro_f1,
            report.accuracy
        );
        reports.push(report);
        for (row, &i) in probabilities.chunks(classes).zip(&fold.held_out) {
            out_of_fold[i * classes..(i + 1) * classes].copy_from_slice(row);
        }
    }
    let cv = CrossValidation::of(reports);
    eprint!("{}", cv.render());
    let predicted = DecisionRule::Argmax.decide(&out_of_fold, classes);
    let mut lines = String::new();
    for (i, id) in data.ids.iter().enumerate() {
        let row = &out_of_fold[i * classes..(i + 1) * classes];
        let mut line = prediction_line(
            data.labels,
            id,
            Some(data.labels[data.truth[i]].as_str()),
            row,
            predicted[i],
        );
        line["fold"] = serde_json::json!(assignment[i]);
        lines.push_str(&line.to_string());
        lines.push('\n');
    }
    artifacts::write_atomic(&out.join("cv-predictions.jsonl"), lines.as_bytes())?;
    artifacts::write_json(&out.join("cv.json"), &cv)?;
    eprintln!(
        "per-fold reports and the summary in {}, out-of-fold predictions in {}",
        out.join("cv.json").display(),
        out.join("cv-predictions.jsonl").display()
    );
    Ok(cv)
}

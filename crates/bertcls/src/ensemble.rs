//! Saved classifiers (different seeds, heads, modes) combined into one, as a job,
//! and measured against the best of its members.

use std::path::PathBuf;

use bert::burn::tensor::Device;
use bert::{BackendKind, Precision};
use head::Combine;
use metrics::{ClassificationReport, DecisionRule};
use serde::{Deserialize, Serialize};

use crate::Job;
use crate::Observer;
use crate::classifier::{
    Classifier, EnsembleMember, EnsembleSpec, label_columns, reorder_columns, true_labels,
};
use crate::error::{Context, Result, refuse};
use crate::options::{Columns, Force};

/// Combine saved classifiers into one, measured against its best member
/// (`bertcls ensemble`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnsembleJob {
    /// The members: fine-tuned models (`finetune`'s OUT), saved heads (texts are
    /// embedded as each head's features were) or other ensembles, in any mix. They
    /// must predict the same classes.
    pub member: Vec<PathBuf>,
    /// Each member's weight, in order (default: 1 each).
    pub weights: Vec<f64>,
    /// mean (of probabilities; the usual choice for calibrated members) or vote
    /// (each member's top class).
    pub combine: Combine,
    /// Labelled data to measure the ensemble and each member on (argmax decisions).
    pub evaluate: Option<PathBuf>,
    /// How `evaluate`'s file is read.
    #[serde(flatten)]
    pub columns: Columns,
    /// The ensemble's folder.
    pub out: PathBuf,
    /// Whether a bertcls artifact of another kind may be replaced.
    #[serde(flatten)]
    pub force: Force,
    /// flex (CPU, default), ndarray (CPU) or wgpu (GPU).
    pub backend: BackendKind,
    /// Texts per forward pass.
    pub batch_size: usize,
    /// What the members' encoders compute in when `evaluate` measures them: fp32, int8
    /// or bf16 (CPU backends), as `bertcls evaluate --precision` [default: as saved].
    /// Not saved with the ensemble: `predict` and `evaluate` choose again.
    #[serde(default)]
    pub precision: Option<Precision>,
}

/// What [`EnsembleJob::run`] made: the saved ensemble, and its evaluation if asked.
pub struct EnsembleMade {
    /// The ensemble's folder.
    pub out: PathBuf,
    /// How many members it has.
    pub members: usize,
    /// Every member's report and the ensemble's, with `evaluate`.
    pub evaluation: Option<EnsembleEvaluation>,
}

/// An ensemble set against its members on labelled data.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EnsembleEvaluation {
    /// The labelled file.
    pub data: PathBuf,
    /// Each member's folder and report, in order.
    pub members: Vec<MemberReport>,
    /// The member with the best macro-F1.
    pub best_member: PathBuf,
    /// The ensemble's report.
    pub ensemble: ClassificationReport,
    /// The ensemble's macro-F1 less the best member's.
    pub gain_over_best_member: f64,
}

/// One member's report.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MemberReport {
    /// The member's folder.
    pub path: PathBuf,
    /// Its report on the labelled file.
    pub report: ClassificationReport,
}

impl EnsembleEvaluation {
    /// Every member's and the ensemble's scores, as text lines.
    pub fn table(&self, combine: Combine) -> String {
        let mut lines = vec![format!(
            "on {}:\n{:>10}  {:>8}  classifier",
            self.data.display(),
            "macro-F1",
            "accuracy"
        )];
        for member in &self.members {
            let r = &member.report;
            lines.push(format!(
                "{:>10.4}  {:>8.4}  {}",
                r.macro_f1,
                r.accuracy,
                member.path.display()
            ));
        }
        lines.push(format!(
            "{:>10.4}  {:>8.4}  ensemble ({combine} of {}): {:+.4} macro-F1 over the best member",
            self.ensemble.macro_f1,
            self.ensemble.accuracy,
            self.members.len(),
            self.gain_over_best_member
        ));
        lines.join("\n")
    }
}

impl EnsembleJob {
    /// The ensemble of `members` (equal weights, mean of probabilities) in `out`.
    pub fn new(members: Vec<PathBuf>, out: impl Into<PathBuf>) -> Self {
        Self {
            member: members,
            weights: Vec::new(),
            combine: Combine::Mean,
            evaluate: None,
            columns: Columns::default(),
            out: out.into(),
            force: Force::default(),
            backend: BackendKind::Flex,
            batch_size: 32,
            precision: None,
        }
    }

    /// The members' weights: as given (checked), or 1 each.
    fn weights(&self) -> Result<Vec<f64>> {
        if !self.weights.is_empty() && self.weights.len() != self.member.len() {
            let (values, members) = (self.weights.len(), self.member.len());
            refuse!([weights] " has {values} values for {members} members");
        }
        let valid_weight = |w: &f64| w.is_finite() && *w >= 0.0;
        if !self.weights.iter().all(valid_weight)
            || (!self.weights.is_empty() && self.weights.iter().all(|&w| w == 0.0))
        {
            refuse!([weights] " must be ≥ 0 and not all 0");
        }
        Ok(match self.weights.as_slice() {
            [] => vec![1.0; self.member.len()],
            given => given.to_vec(),
        })
    }
}

impl Job for EnsembleJob {
    type Output = EnsembleMade;

    fn validate(&self) -> Result<()> {
        settings::at_least_one("batch_size", self.batch_size)?;
        if let (Some(precision), None) = (self.precision, &self.evaluate) {
            refuse!(
                [precision] " {precision} chooses how " [evaluate] " measures the members, and \
                 there is none: add one, or leave " [precision] " out (predicting and \
                 evaluating with the saved ensemble take a precision of their own)"
            );
        }
        if self.evaluate.is_none() {
            self.columns.refuse_where_unread(
                false,
                "no data file is evaluated (without one the ensemble is only saved)",
            )?;
        }
        self.weights().map(drop)
    }

    /// Saves the ensemble (and measures it, with `evaluate`).
    fn execute(&self, observer: &mut dyn Observer) -> Result<EnsembleMade> {
        if let Some(precision) = self.precision {
            crate::observe::note_missing_instructions(observer, precision);
        }
        let weights = self.weights()?;
        let device = self.backend.device()?;
        let members = self
            .member
            .iter()
            .map(|path| {
                Classifier::load(path, None, &device)
                    .and_then(|member| member.with_precision(self.precision))
                    .with_context(|| format!("member {}", path.display()))
            })
            .collect::<Result<Vec<_>>>()?;
        let labels = members[0].labels().to_vec();
        let spec = EnsembleSpec {
            combine: self.combine,
            labels: labels.clone(),
            members: self
                .member
                .iter()
                .zip(&weights)
                .map(|(path, &weight)| {
                    let path = std::path::absolute(path)
                        .with_context(|| format!("resolving {}", path.display()))?;
                    Ok(EnsembleMember { path, weight })
                })
                .collect::<Result<_>>()?,
        };
        if let Ok(out) = std::fs::canonicalize(&self.out)
            && spec
                .members
                .iter()
                .any(|m| std::fs::canonicalize(&m.path).is_ok_and(|p| p == out))
        {
            let out = self.out.display();
            refuse!(
                [out] " {out} is one of the members: an ensemble cannot replace its own member"
            );
        }
        let kind = artifacts::ArtifactKind::Ensemble;
        let staged = artifacts::StagedDir::new(&self.out, kind, self.force.overwrite())
            .for_setting("out")?;
        spec.write_into(staged.path())?;
        let evaluation = match &self.evaluate {
            Some(path) => {
                let evaluation =
                    self.measure(path, &members, &labels, &weights, &device, observer)?;
                artifacts::write_json(&staged.path().join("evaluation.json"), &evaluation)?;
                Some(evaluation)
            }
            None => None,
        };
        let out = staged.commit(true)?;
        Ok(EnsembleMade {
            out,
            members: members.len(),
            evaluation,
        })
    }
}

impl EnsembleJob {
    /// Every member and the ensemble on the labelled file `path`.
    fn measure(
        &self,
        path: &std::path::Path,
        members: &[Classifier],
        labels: &[String],
        weights: &[f64],
        device: &Device,
        observer: &mut dyn Observer,
    ) -> Result<EnsembleEvaluation> {
        let records = self.columns.read(path, true, observer)?;
        let truth = true_labels(&records, path)?;
        let classes = labels.len();
        let mut probabilities = Vec::new();
        for member in members {
            let columns = label_columns(member.labels(), labels)
                .with_context(|| format!("member {}", member.path().display()))?;
            observer.begin("member", records.len());
            let p = member.predict_proba(&records, self.batch_size, device, &mut |n| {
                observer.advance(n)
            });
            observer.end();
            probabilities.push(reorder_columns(&p?, &columns, classes));
        }
        let report = |p: &[f32]| DecisionRule::Argmax.report_names(labels, &truth, p);
        let member_reports: Vec<ClassificationReport> =
            probabilities.iter().map(|p| report(p)).collect();
        let ensemble = report(&self.combine.apply(&probabilities, weights, classes));
        let best = member_reports
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.macro_f1.total_cmp(&b.1.macro_f1))
            .map_or(0, |(i, _)| i);
        Ok(EnsembleEvaluation {
            data: path.to_owned(),
            gain_over_best_member: ensemble.macro_f1 - member_reports[best].macro_f1,
            best_member: self.member[best].clone(),
            members: self
                .member
                .iter()
                .zip(member_reports)
                .map(|(path, report)| MemberReport {
                    path: path.clone(),
                    report,
                })
                .collect(),
            ensemble,
        })
    }
}

//! `bertcls ensemble`: combine saved classifiers (different seeds, heads, modes) into
//! one, and measure it against its best member.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use bert::BackendKind;
use clap::Args;
use head::Combine;
use metrics::{ClassificationReport, DecisionRule};
use serde_json::json;

use crate::args::{ColumnArgs, ForceArgs};
use crate::classifier::{
    Classifier, EnsembleMember, EnsembleSpec, label_columns, reorder_columns, true_labels,
};
use crate::progress;

#[derive(Args, Debug)]
#[command(after_help = "Examples:\n  \
    bertcls ensemble --member runs/r8-s42 runs/r8-s43 runs/r8-s44 --out runs/r8-seeds \\\n      \
    --evaluate data/r8/test.jsonl        # seed averaging, against the best seed\n  \
    bertcls ensemble --member runs/r8 sweeps/r8/best.head --combine vote --out runs/r8-mixed\n  \
    bertcls predict --model runs/r8-seeds --input new.jsonl\n\n\
    OUT/ensemble.json lists the members (absolute paths) and their weights; `predict` and \
    `evaluate` take OUT like any model. With --evaluate, OUT/evaluation.json holds every \
    member's report and the ensemble's.")]
pub struct EnsembleArgs {
    /// The members: fine-tuned models (`finetune`'s OUT), saved heads (texts are
    /// embedded as each head's features were) or other ensembles, in any mix. They
    /// must predict the same classes.
    #[arg(long, required = true, num_args = 1..)]
    pub member: Vec<PathBuf>,
    /// Each member's weight, in order (default: 1 each).
    #[arg(long, value_delimiter = ',')]
    pub weights: Vec<f64>,
    /// mean (of probabilities; the usual choice for calibrated members) or vote
    /// (each member's top class).
    #[arg(long, default_value_t = Combine::Mean)]
    pub combine: Combine,
    /// Labelled data to measure the ensemble and each member on (argmax decisions).
    #[arg(long)]
    pub evaluate: Option<PathBuf>,
    #[command(flatten)]
    pub columns: ColumnArgs,
    /// The ensemble's folder.
    #[arg(long)]
    pub out: PathBuf,
    #[command(flatten)]
    pub force: ForceArgs,
    /// flex (CPU, default), ndarray (CPU) or wgpu (GPU).
    #[arg(long, default_value_t = BackendKind::Flex)]
    pub backend: BackendKind,
    /// Texts per forward pass.
    #[arg(long, default_value_t = 32)]
    pub batch_size: usize,
}

/// Saves the ensemble (and measures it, with --evaluate); returns its folder.
pub fn run(args: EnsembleArgs) -> Result<PathBuf> {
    if !args.weights.is_empty() && args.weights.len() != args.member.len() {
        bail!(
            "--weights has {} values for {} members",
            args.weights.len(),
            args.member.len()
        );
    }
    let valid_weight = |w: &f64| w.is_finite() && *w >= 0.0;
    if !args.weights.iter().all(valid_weight)
        || (!args.weights.is_empty() && args.weights.iter().all(|&w| w == 0.0))
    {
        bail!("--weights must be ≥ 0 and not all 0");
    }
    let device = args.backend.device()?;
    let members = args
        .member
        .iter()
        .map(|path| {
            Classifier::load(path, None, &device)
                .with_context(|| format!("member {}", path.display()))
        })
        .collect::<Result<Vec<_>>>()?;
    let labels = members[0].labels().to_vec();
    let columns = members
        .iter()
        .map(|m| {
            label_columns(m.labels(), &labels)
                .with_context(|| format!("member {}", m.path().display()))
        })
        .collect::<Result<Vec<_>>>()?;
    let weights = match args.weights.as_slice() {
        [] => vec![1.0; members.len()],
        given => given.to_vec(),
    };
    let spec = EnsembleSpec {
        combine: args.combine,
        labels: labels.clone(),
        members: args
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
    if let Ok(out) = std::fs::canonicalize(&args.out)
        && spec
            .members
            .iter()
            .any(|m| std::fs::canonicalize(&m.path).is_ok_and(|p| p == out))
    {
        bail!(
            "--out {} is one of the members: an ensemble cannot replace its own member",
            args.out.display()
        );
    }
    let staged = artifacts::StagedDir::new(
        &args.out,
        artifacts::ArtifactKind::Ensemble,
        args.force.overwrite(),
    )
    .context("--out")?;
    spec.write_into(staged.path())?;

    if let Some(path) = &args.evaluate {
        let records = args.columns.read(path, true)?;
        let truth = true_labels(&records, path)?;
        let classes = labels.len();
        let mut probabilities = Vec::new();
        for (member, columns) in members.iter().zip(&columns) {
            let bar = progress::documents(records.len(), "member");
            let p = member.predict_proba(&records, args.batch_size, &device, &mut |n| {
                bar.inc(n as u64)
            })?;
            bar.finish_and_clear();
            probabilities.push(reorder_columns(&p, columns, classes));
        }
        let report = |p: &[f32]| DecisionRule::Argmax.report_names(&labels, &truth, p);
        let member_reports: Vec<ClassificationReport> =
            probabilities.iter().map(|p| report(p)).collect();
        let combined = report(&args.combine.apply(&probabilities, &weights, classes));
        let best = member_reports
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.macro_f1.total_cmp(&b.1.macro_f1))
            .map(|(i, _)| i)
            .unwrap_or(0);
        eprintln!(
            "on {}:\n{:>10}  {:>8}  classifier",
            path.display(),
            "macro-F1",
            "accuracy"
        );
        for (member, r) in args.member.iter().zip(&member_reports) {
            eprintln!(
                "{:>10.4}  {:>8.4}  {}",
                r.macro_f1,
                r.accuracy,
                member.display()
            );
        }
        eprintln!(
            "{:>10.4}  {:>8.4}  ensemble ({} of {}): {:+.4} macro-F1 over the best member",
            combined.macro_f1,
            combined.accuracy,
            args.combine,
            members.len(),
            combined.macro_f1 - member_reports[best].macro_f1
        );
        let evaluation = json!({
            "data": path,
            "members": args.member.iter().zip(&member_reports).map(|(p, r)| json!({"path": p, "report": r})).collect::<Vec<_>>(),
            "best_member": args.member[best],
            "ensemble": combined,
            "gain_over_best_member": combined.macro_f1 - member_reports[best].macro_f1,
        });
        artifacts::write_json(&staged.path().join("evaluation.json"), &evaluation)?;
    }
    staged.commit(true)?;
    eprintln!(
        "ensemble of {} members ({}) saved in {}",
        members.len(),
        args.combine,
        args.out.display()
    );
    Ok(args.out)
}

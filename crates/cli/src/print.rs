//! What each command prints when its job is done: the paths it made on stdout (for
//! scripts), reports and summaries on stderr.

use std::path::Path;

use bertcls::head::Combine;
use bertcls::metrics::ClassificationReport;
use bertcls::{
    Embedded, EnsembleMade, Evaluated, FineTuneOutcome, Swept, TrainedHeads, ZeroShotReports,
};

/// A path a command made, on stdout.
pub fn path(path: &Path) {
    println!("{}", path.display());
}

/// A metric report, when there is one.
pub fn report(report: Option<&ClassificationReport>) {
    if let Some(report) = report {
        eprintln!("{}", bertcls::report::classification_text(report, false));
    }
}

pub fn embedded(embedded: &Embedded) {
    for line in embedded.summary() {
        eprintln!("{line}");
    }
    path(&embedded.cache.path);
}

pub fn trained_heads(trained: &TrainedHeads) {
    eprintln!("{}", trained.summary());
    path(trained.out());
}

pub fn swept(swept: &Swept) {
    eprintln!("{}", swept.leaderboard(10));
}

pub fn fine_tuned(outcome: &FineTuneOutcome) {
    if let Some(run) = outcome.trained() {
        for line in run.summary_lines() {
            eprintln!("{line}");
        }
    }
    path(outcome.path());
}

pub fn zero_shot(reports: &ZeroShotReports) {
    match (&reports.raw, &reports.calibrated) {
        (Some(raw), Some(calibrated)) => {
            eprintln!("without calibration:");
            report(Some(raw));
            eprintln!("with calibration:");
            report(Some(calibrated));
            eprintln!(
                "calibration: macro-F1 {:.4} → {:.4}, accuracy {:.4} → {:.4}",
                raw.macro_f1, calibrated.macro_f1, raw.accuracy, calibrated.accuracy
            );
        }
        (raw, calibrated) => report(calibrated.as_ref().or(raw.as_ref())),
    }
}

pub fn ensemble(made: &EnsembleMade, combine: Combine) {
    if let Some(evaluation) = &made.evaluation {
        eprintln!("{}", evaluation.table(combine));
    }
    eprintln!(
        "ensemble of {} members ({combine}) saved in {}",
        made.members,
        made.out.display()
    );
    path(&made.out);
}

pub fn evaluated(evaluated: &Evaluated, input: &Path) {
    eprintln!(
        "{} on {} ({:.1} docs/s):",
        evaluated.model.display(),
        input.display(),
        evaluated.docs_per_second
    );
    eprintln!(
        "{}",
        bertcls::report::classification_text(&evaluated.report, true)
    );
}

/// A benchmark's measurements, one JSON object on stdout.
pub fn json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string(value)?);
    Ok(())
}

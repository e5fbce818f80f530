//! What each command prints when its job is done: the paths it made on stdout (for
//! scripts), reports and summaries on stderr. Every write to stdout is checked: a
//! closed pipe or a full device is an error, not a panic or lost output.

use std::io::Write;
use std::path::Path;

use bertcls::head::Combine;
use bertcls::metrics::ClassificationReport;
use bertcls::{
    Embedded, EnsembleMade, Evaluated, FineTuneOutcome, Swept, TrainedHeads, ZeroShotReports,
};

/// Writes `text` to stdout and flushes it; a failure names standard output.
pub fn stdout(text: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|e| bertcls::artifacts::ArtifactError::io("write", "standard output", e))?;
    Ok(())
}

/// A path a command made, on stdout.
pub fn path(path: &Path) -> anyhow::Result<()> {
    stdout(&format!("{}\n", path.display()))
}

/// A metric report, when there is one.
pub fn report(report: Option<&ClassificationReport>) {
    if let Some(report) = report {
        eprintln!("{}", bertcls::report::classification_text(report, false));
    }
}

/// The report of a head's predictions, of any task.
pub fn task_report(report: Option<&bertcls::metrics::TaskReport>) {
    if let Some(report) = report {
        eprintln!("{}", bertcls::report::task_text(report, false));
    }
}

/// The cache's summary; its path on stdout unless the vectors went there.
pub fn embedded(embedded: &Embedded, vectors_on_stdout: bool) -> anyhow::Result<()> {
    for line in embedded.summary() {
        eprintln!("{line}");
    }
    if vectors_on_stdout {
        return Ok(());
    }
    path(&embedded.cache.path)
}

pub fn trained_heads(trained: &TrainedHeads) -> anyhow::Result<()> {
    eprintln!("{}", trained.summary());
    path(trained.out())
}

pub fn swept(swept: &Swept) {
    eprintln!("{}", swept.leaderboard(10));
}

pub fn fine_tuned(outcome: &FineTuneOutcome) -> anyhow::Result<()> {
    if let Some(run) = outcome.trained() {
        for line in run.summary_lines() {
            eprintln!("{line}");
        }
    }
    path(outcome.path())
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

pub fn ensemble(made: &EnsembleMade, combine: Combine) -> anyhow::Result<()> {
    if let Some(evaluation) = &made.evaluation {
        eprintln!("{}", evaluation.table(combine));
    }
    eprintln!(
        "ensemble of {} members ({combine}) saved in {}",
        made.members,
        made.out.display()
    );
    path(&made.out)
}

pub fn evaluated(evaluated: &Evaluated, input: &Path) {
    eprintln!(
        "{} on {} ({:.1} docs/s):",
        evaluated.model.display(),
        bertcls::data::source_name(input).display(),
        evaluated.docs_per_second
    );
    eprintln!("{}", bertcls::report::task_text(&evaluated.report, true));
}

/// A benchmark's measurements, one JSON object on stdout.
pub fn json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    stdout(&format!("{}\n", serde_json::to_string(value)?))
}

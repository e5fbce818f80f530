//! The comparison report: what `bertcls compare` measured, and how it is shown.
//!
//! [`Comparison`] is the whole result (it is `results.json`); [`write_report`] renders
//! it as `report.md`, a self-contained `report.html` with SVG charts, and the charts
//! as `.svg` files. Everything shown is computed from the [`Comparison`] alone, so the
//! JSON, the tables and the verdict cannot disagree. No burn here: a report can be
//! re-rendered, or read by other tools, without the model code.

mod charts;
mod document;
mod html;
mod markdown;
mod results;
mod stats;
mod study;
mod svg;
mod tables;
mod verdict;

pub use results::{
    Comparison, CostPoint, CurvePoint, DataFile, DataInfo, Environment, LeaderboardEntry,
    ModeResult, RunResult, Settings,
};
pub use stats::Stat;
pub use study::{Arm, ArmScores, Finding, Study, StudyData, slug};
pub use verdict::verdict;

use std::path::{Path, PathBuf};

/// Errors from writing or reading a report.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: not a bertcls results file: {source}")]
    Json {
        path: PathBuf,
        source: serde_json::Error,
    },
}

/// The files of a report folder.
pub const RESULTS_FILE: &str = "results.json";
pub const MARKDOWN_FILE: &str = "report.md";
pub const HTML_FILE: &str = "report.html";

/// Writes `results.json`, `report.md`, `report.html` and one `.svg` per chart into `dir`.
pub fn write_report(comparison: &Comparison, dir: &Path) -> Result<(), ReportError> {
    let charts = charts::all(comparison);
    let json = serde_json::to_string_pretty(comparison).expect("results always serialise");
    let (title, blocks) = document::build(comparison, &charts);
    let (markdown, html) = (
        markdown::render(&title, &blocks),
        html::render(&title, &blocks),
    );
    write_files(
        dir,
        [
            (RESULTS_FILE, json),
            (MARKDOWN_FILE, markdown),
            (HTML_FILE, html),
        ],
        &charts,
    )
}

/// The files of a study's folder (each arm's comparison has its own subfolder).
pub const STUDY_RESULTS_FILE: &str = "study.json";
pub const STUDY_MARKDOWN_FILE: &str = "study.md";
pub const STUDY_HTML_FILE: &str = "study.html";

/// Writes `study.json`, `study.md`, `study.html` and the study's charts into `dir`.
pub fn write_study(study: &Study, dir: &Path) -> Result<(), ReportError> {
    let charts = study.charts();
    let json = serde_json::to_string_pretty(study).expect("a study always serialises");
    let (title, blocks) = study.blocks(&charts);
    let (markdown, html) = (
        markdown::render(&title, &blocks),
        html::render(&title, &blocks),
    );
    write_files(
        dir,
        [
            (STUDY_RESULTS_FILE, json),
            (STUDY_MARKDOWN_FILE, markdown),
            (STUDY_HTML_FILE, html),
        ],
        &charts,
    )
}

/// Creates `dir` and writes the documents and one `.svg` per chart into it.
fn write_files(
    dir: &Path,
    documents: [(&str, String); 3],
    charts: &[charts::Chart],
) -> Result<(), ReportError> {
    let write = |name: &str, text: &str| {
        let path = dir.join(name);
        std::fs::write(&path, text).map_err(|source| ReportError::Io { path, source })
    };
    std::fs::create_dir_all(dir).map_err(|source| ReportError::Io {
        path: dir.to_owned(),
        source,
    })?;
    for chart in charts {
        write(&chart.file, &chart.svg)?;
    }
    for (name, text) in &documents {
        write(name, text)?;
    }
    Ok(())
}

/// Reads a `results.json` back.
pub fn read_results(path: &Path) -> Result<Comparison, ReportError> {
    let text = std::fs::read_to_string(path).map_err(|source| ReportError::Io {
        path: path.to_owned(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|source| ReportError::Json {
        path: path.to_owned(),
        source,
    })
}

/// The side-by-side table and the sweep's top 5 as plain text, for the terminal.
pub fn terminal_table(comparison: &Comparison) -> String {
    format!(
        "{}\nbest heads of the sweep (validation):\n{}",
        tables::summary(comparison).render_plain(),
        tables::leaderboard(comparison, 5).render_plain()
    )
}

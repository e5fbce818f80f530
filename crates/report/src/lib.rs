//! The comparison report: what `bertcls compare` measured, and how it is shown.
//!
//! [`Comparison`] is the whole result (it is `results.json`); [`write_report`] renders
//! it as `report.md`, a self-contained `report.html` with SVG charts, and the charts
//! as `.svg` files. Everything shown is computed from the [`Comparison`] alone, so the
//! JSON, the tables and the verdict cannot disagree. No burn here: a report can be
//! re-rendered, or read by other tools, without the model code.

#![warn(missing_docs)]

mod charts;
mod cross_validation;
mod document;
mod few_shot;
mod frontier;
mod html;
mod markdown;
mod results;
mod robustness;
mod stats;
mod study;
mod svg;
mod tables;
mod text;
mod verdict;

pub use cross_validation::CrossValidation;
pub use few_shot::{FewShotData, FewShotMethod, FewShotPoint, FewShotStudy, ZeroShotScores};
pub use results::{
    CONTRASTIVE_NAME, Comparison, CostPoint, CurvePoint, DataFile, DataInfo, Environment, Frontier,
    FrontierPoint, LeaderboardEntry, ModeResult, RunResult, Settings,
};
pub use robustness::{Perturbation, RobustArm, RobustData, RobustResult, RobustnessStudy};
pub use stats::Stat;
pub use study::{Arm, ArmScores, Finding, Study, StudyData, slug};
pub use text::{classification_text, multi_label_text, regression_text, task_text, unseen_note};
pub use verdict::verdict;

use std::path::{Path, PathBuf};

/// Errors from writing or reading a report.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// A report file could not be read or written.
    #[error("cannot read or write {path}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// A results file that cannot be parsed.
    #[error("{path} is not a bertcls results file")]
    Json {
        /// The file.
        path: PathBuf,
        /// The parser's error.
        source: serde_json::Error,
    },
    /// A report may not be written where asked.
    #[error("{0}")]
    Artifact(#[from] artifacts::ArtifactError),
}

/// The files of a report folder.
pub const RESULTS_FILE: &str = "results.json";
/// The comparison's report for people.
pub const MARKDOWN_FILE: &str = "report.md";
/// The same report as one self-contained web page.
pub const HTML_FILE: &str = "report.html";

/// Writes `results.json`, `report.md`, `report.html` and one `.svg` per chart into `dir`.
pub fn write_report(comparison: &Comparison, dir: &Path) -> Result<(), ReportError> {
    write_rendered(comparison, dir, [RESULTS_FILE, MARKDOWN_FILE, HTML_FILE])
}

/// The files of a study's folder (each arm's comparison has its own subfolder).
pub const STUDY_RESULTS_FILE: &str = "study.json";
/// A study's report for people.
pub const STUDY_MARKDOWN_FILE: &str = "study.md";
/// The same study as one self-contained web page.
pub const STUDY_HTML_FILE: &str = "study.html";

/// Writes `study.json`, `study.md`, `study.html` and the study's charts into `dir`.
pub fn write_study(study: &Study, dir: &Path) -> Result<(), ReportError> {
    write_rendered(
        study,
        dir,
        [STUDY_RESULTS_FILE, STUDY_MARKDOWN_FILE, STUDY_HTML_FILE],
    )
}

/// The files of a few-shot study's folder.
pub const FEW_SHOT_RESULTS_FILE: &str = "few-shot.json";
/// A few-shot study's report for people.
pub const FEW_SHOT_MARKDOWN_FILE: &str = "few-shot.md";
/// The same study as one self-contained web page.
pub const FEW_SHOT_HTML_FILE: &str = "few-shot.html";

/// Writes `few-shot.json`, `few-shot.md`, `few-shot.html` and the charts into `dir`.
pub fn write_few_shot(study: &FewShotStudy, dir: &Path) -> Result<(), ReportError> {
    write_rendered(
        study,
        dir,
        [
            FEW_SHOT_RESULTS_FILE,
            FEW_SHOT_MARKDOWN_FILE,
            FEW_SHOT_HTML_FILE,
        ],
    )
}

/// The files of a robustness study's folder.
pub const ROBUSTNESS_RESULTS_FILE: &str = "robustness.json";
/// A robustness study's report for people.
pub const ROBUSTNESS_MARKDOWN_FILE: &str = "robustness.md";
/// The same study as one self-contained web page.
pub const ROBUSTNESS_HTML_FILE: &str = "robustness.html";

/// Writes `robustness.json`, `robustness.md` and `robustness.html` into `dir`.
pub fn write_robustness(study: &RobustnessStudy, dir: &Path) -> Result<(), ReportError> {
    write_rendered(
        study,
        dir,
        [
            ROBUSTNESS_RESULTS_FILE,
            ROBUSTNESS_MARKDOWN_FILE,
            ROBUSTNESS_HTML_FILE,
        ],
    )
}

/// A result that is written as JSON (itself), Markdown and HTML (its blocks) and
/// `.svg` charts.
trait Rendered: serde::Serialize {
    fn charts(&self) -> Vec<svg::Chart>;
    fn blocks<'a>(&self, charts: &'a [svg::Chart]) -> (String, Vec<document::Block<'a>>);
}

impl Rendered for Comparison {
    fn charts(&self) -> Vec<svg::Chart> {
        charts::all(self)
    }
    fn blocks<'a>(&self, charts: &'a [svg::Chart]) -> (String, Vec<document::Block<'a>>) {
        document::build(self, charts)
    }
}

impl Rendered for Study {
    fn charts(&self) -> Vec<svg::Chart> {
        Study::charts(self)
    }
    fn blocks<'a>(&self, charts: &'a [svg::Chart]) -> (String, Vec<document::Block<'a>>) {
        Study::blocks(self, charts)
    }
}

impl Rendered for FewShotStudy {
    fn charts(&self) -> Vec<svg::Chart> {
        FewShotStudy::charts(self)
    }
    fn blocks<'a>(&self, charts: &'a [svg::Chart]) -> (String, Vec<document::Block<'a>>) {
        FewShotStudy::blocks(self, charts)
    }
}

impl Rendered for RobustnessStudy {
    fn charts(&self) -> Vec<svg::Chart> {
        Vec::new()
    }
    fn blocks<'a>(&self, _: &'a [svg::Chart]) -> (String, Vec<document::Block<'a>>) {
        RobustnessStudy::blocks(self)
    }
}

/// Creates `dir` and writes `[json, markdown, html]` and one `.svg` per chart into it,
/// each file atomically.
fn write_rendered(doc: &impl Rendered, dir: &Path, names: [&str; 3]) -> Result<(), ReportError> {
    let write = |name: &str, text: &str| {
        artifacts::write_atomic(&dir.join(name), text.as_bytes()).map_err(ReportError::from)
    };
    std::fs::create_dir_all(dir).map_err(|source| ReportError::Io {
        path: dir.to_owned(),
        source,
    })?;
    let charts = doc.charts();
    for chart in &charts {
        write(&chart.file, &chart.svg)?;
    }
    let (title, blocks) = doc.blocks(&charts);
    let [json, markdown, html] = names;
    write(markdown, &markdown::render(&title, &blocks))?;
    write(html, &html::render(&title, &blocks))?;
    // The JSON last: its presence means the report is complete, which a resumed
    // study relies on.
    write(
        json,
        &serde_json::to_string_pretty(doc).expect("reports always serialise"),
    )
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

//! A few-shot study: methods trained on k labelled examples per class, each k drawn
//! several times, against zero-shot classification (no labelled example at all).
//!
//! [`FewShotStudy`] is `few-shot.json`; [`write_few_shot`](crate::write_few_shot)
//! renders `few-shot.md`, `few-shot.html` and one chart per data set.

use serde::{Deserialize, Serialize};

use crate::document::Block;
use crate::svg::Chart;
use crate::svg::{END_TO_END, Frame, MUTED, PIPELINE};
use crate::tables::{Table, plain_sections};
use crate::{RunResult, Stat, slug};

/// What a few-shot study measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FewShotStudy {
    /// The bertcls version that ran it.
    pub version: String,
    /// Seconds since the Unix epoch when it started.
    pub started_unix: u64,
    /// Wall time of the whole study.
    pub wall_seconds: f64,
    /// The settings every run shares, in words.
    pub recipe: Vec<String>,
    /// The k values, ascending.
    pub shots: Vec<usize>,
    /// Each data set's curves.
    pub data_sets: Vec<FewShotData>,
}

/// One data set's curves.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FewShotData {
    /// The data set.
    pub name: String,
    /// How many classes.
    pub classes: usize,
    /// Test examples.
    pub test: usize,
    /// Zero-shot on the test set (descriptions from the verbalizer's words).
    pub zero_shot: Option<ZeroShotScores>,
    /// Each method's curve over k.
    pub methods: Vec<FewShotMethod>,
}

/// Zero-shot's test scores: no training, so no spread.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ZeroShotScores {
    /// Test macro-F1.
    pub macro_f1: f64,
    /// Test accuracy.
    pub accuracy: f64,
}

/// One method over every k.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FewShotMethod {
    /// A short name, for tables and charts.
    pub name: String,
    /// What it does, in words.
    pub description: String,
    /// One point per k, ascending.
    pub points: Vec<FewShotPoint>,
}

/// One method at one k, over the draws of the k examples.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FewShotPoint {
    /// k: training examples per class.
    pub shots: usize,
    /// Test macro-F1 over the seeds.
    pub macro_f1: Stat,
    /// Test accuracy over the seeds.
    pub accuracy: Stat,
    /// Training wall time over the seeds.
    pub train_seconds: Stat,
    /// The comparison reports the runs come from, relative to the study's folder.
    pub reports: Vec<String>,
}

impl FewShotPoint {
    /// The test scores of `runs` (one per draw).
    pub fn of(shots: usize, runs: &[&RunResult], reports: Vec<String>) -> Self {
        let stat = |f: fn(&RunResult) -> f64| Stat::of(runs.iter().map(|r| f(r)));
        Self {
            shots,
            macro_f1: stat(|r| r.test.macro_f1),
            accuracy: stat(|r| r.test.accuracy),
            train_seconds: stat(|r| r.train_seconds),
            reports,
        }
    }
}

/// Line colours of the methods, in order, then of zero-shot.
const METHOD_COLORS: [&str; 4] = [PIPELINE, END_TO_END, "#2ca02c", "#9467bd"];

impl FewShotData {
    /// Rows: zero-shot, then each method; columns: one per k.
    fn table(&self, shots: &[usize], what: &str, metric: fn(&FewShotPoint) -> Stat) -> Table {
        let mut header = vec!["method".to_owned()];
        header.extend(shots.iter().map(|k| format!("{what} k={k}")));
        let mut rows = Vec::new();
        if let Some(zero) = self.zero_shot {
            // Zero-shot trains nothing: the same number at every k, no time.
            let cell = match what {
                "accuracy" => format!("{:.4}", zero.accuracy),
                "macro-F1" => format!("{:.4}", zero.macro_f1),
                _ => "0".to_owned(),
            };
            let mut row = vec!["zero-shot (k=0)".to_owned()];
            row.extend(shots.iter().map(|_| cell.clone()));
            rows.push(row);
        }
        for method in &self.methods {
            let mut row = vec![method.name.clone()];
            row.extend(shots.iter().map(|k| {
                method
                    .points
                    .iter()
                    .find(|p| p.shots == *k)
                    .map_or_else(|| "-".to_owned(), |p| metric(p).show(4))
            }));
            rows.push(row);
        }
        Table { header, rows }
    }

    /// Macro-F1 against k (log scale), a line per method with ±1 std whiskers,
    /// zero-shot dashed.
    fn chart(&self, shots: &[usize]) -> Chart {
        let (lo, hi) = (
            shots.first().copied().unwrap_or(1) as f64,
            shots.last().copied().unwrap_or(2) as f64,
        );
        let mut frame = Frame::new(640.0, 360.0, (lo / 1.3, hi * 1.3, true), (0.0, 1.0, false));
        frame.axes(
            "labelled examples per class (log scale)",
            "test macro-F1",
            None,
        );
        if let Some(zero) = self.zero_shot {
            frame.line(
                &[(lo / 1.3, zero.macro_f1), (hi * 1.3, zero.macro_f1)],
                MUTED,
                true,
            );
            frame.legend("zero-shot", MUTED);
        }
        for (method, color) in self.methods.iter().zip(METHOD_COLORS) {
            let points: Vec<(f64, f64)> = method
                .points
                .iter()
                .map(|p| (p.shots as f64, p.macro_f1.mean))
                .collect();
            frame.line(&points, color, false);
            for p in &method.points {
                if p.macro_f1.n > 1 {
                    frame.whisker(
                        p.shots as f64,
                        p.macro_f1.mean - p.macro_f1.std,
                        p.macro_f1.mean + p.macro_f1.std,
                    );
                }
            }
            frame.legend(&method.name, color);
        }
        let title = format!(
            "{}: macro-F1 against labelled examples per class",
            self.name
        );
        Chart {
            file: format!("{}-few-shot.svg", slug(&self.name)),
            caption: "Test macro-F1, mean over the draws of the k examples; whiskers ±1 standard deviation; zero-shot dashed.".into(),
            svg: frame.finish(&title),
            title,
        }
    }
}

impl FewShotStudy {
    /// One chart per data set.
    pub fn charts(&self) -> Vec<Chart> {
        self.data_sets
            .iter()
            .map(|d| d.chart(&self.shots))
            .collect()
    }

    pub(crate) fn blocks<'a>(&self, charts: &'a [Chart]) -> (String, Vec<Block<'a>>) {
        let mut blocks = vec![
            Block::Paragraph(format!(
                "Each method trained on k labelled examples per class (k = {}), each k drawn anew per seed, against zero-shot classification from the verbalizer's words. The study took {:.0} s.",
                self.shots
                    .iter()
                    .map(usize::to_string)
                    .collect::<Vec<_>>()
                    .join(", "),
                self.wall_seconds
            )),
            Block::Heading("Recipe".into()),
            Block::Bullets(self.recipe.clone()),
        ];
        for (data, chart) in self.data_sets.iter().zip(charts) {
            blocks.push(Block::Heading(data.name.clone()));
            blocks.push(Block::Paragraph(format!(
                "{} classes, {} test examples.",
                data.classes, data.test
            )));
            blocks.push(Block::Table(
                data.table(&self.shots, "macro-F1", |p| p.macro_f1),
            ));
            blocks.push(Block::Table(
                data.table(&self.shots, "accuracy", |p| p.accuracy),
            ));
            blocks.push(Block::Table(
                data.table(&self.shots, "training s", |p| p.train_seconds),
            ));
            blocks.push(Block::Chart(chart));
            blocks.push(Block::Bullets(
                data.methods
                    .iter()
                    .map(|m| format!("{}: {}.", m.name, m.description))
                    .collect(),
            ));
        }
        ("Study: few-shot".to_owned(), blocks)
    }

    /// Each data set's macro-F1 table as plain text, for the terminal.
    pub fn terminal_tables(&self) -> String {
        plain_sections(self.data_sets.iter().map(|d| {
            let table = d.table(&self.shots, "macro-F1", |p| p.macro_f1);
            (d.name.as_str(), table)
        }))
    }
}

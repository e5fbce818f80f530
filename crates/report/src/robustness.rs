//! The robustness study (`compare --suite robustness`): each arm's models, one per
//! seed, scored on the test set and on perturbed copies of it, against the baseline of
//! the arm's mode.

use serde::{Deserialize, Serialize};

use crate::document::Block;
use crate::tables::{Table, plain_sections};
use crate::{Finding, Stat};

/// What one model (an arm at one seed) measured: an arm folder's `result.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RobustResult {
    /// Test accuracy on the clean test set.
    pub accuracy: f64,
    /// Test macro-F1 on the clean test set.
    pub macro_f1: f64,
    /// Accuracy on each perturbed copy of the test set, in the study's
    /// `perturbations` order.
    pub perturbed_accuracy: Vec<f64>,
    /// Wall time of training (loading, a teacher's predictions and validation
    /// included); 0 for what trains nothing.
    pub train_seconds: f64,
    /// The trained model's folder.
    pub model: std::path::PathBuf,
    /// The command line that trained it.
    pub command: String,
}

/// One arm: its models over the seeds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RobustArm {
    /// A short name, for tables and charts.
    pub name: String,
    /// `end-to-end` or `pipeline`; the first arm of each mode is its baseline.
    pub mode: String,
    /// What it does, in words.
    pub description: String,
    /// One model per seed.
    pub runs: Vec<RobustResult>,
}

/// One data set of the study.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RobustData {
    /// The data set.
    pub name: String,
    /// Training examples.
    pub train: usize,
    /// Test examples.
    pub test: usize,
    /// Every arm, each mode's baseline first.
    pub arms: Vec<RobustArm>,
}

/// A test-time perturbation: its name and the `bertcls augment` flags that make it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Perturbation {
    /// A short name (`typos 10%`).
    pub name: String,
    /// The `bertcls augment` flags that make it.
    pub flags: String,
}

/// The study: `robustness.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RobustnessStudy {
    /// The settings every arm shares, in words.
    pub recipe: Vec<String>,
    /// The perturbed copies of the test set.
    pub perturbations: Vec<Perturbation>,
    /// Wall time of the whole study.
    pub wall_seconds: f64,
    /// Each data set's arms.
    pub data_sets: Vec<RobustData>,
}

impl RobustArm {
    /// One metric over the arm's runs.
    pub fn stat(&self, metric: impl Fn(&RobustResult) -> f64) -> Stat {
        Stat::of(self.runs.iter().map(metric))
    }
}

fn mark(finding: Finding) -> &'static str {
    match finding {
        Finding::Better => " ▲",
        Finding::Worse => " ▼",
        Finding::WithinSpread | Finding::OneSeed => "",
    }
}

impl RobustData {
    /// The first arm of `mode`: its baseline.
    fn baseline(&self, mode: &str) -> Option<&RobustArm> {
        self.arms.iter().find(|a| a.mode == mode)
    }

    /// Every arm: accuracy, macro-F1, each perturbed accuracy (mean ± std, marked ▲/▼
    /// when beyond the spread of its mode's baseline) and training time.
    pub fn table(&self, perturbations: &[Perturbation]) -> Table {
        let mut header = vec![
            "arm".to_owned(),
            "mode".into(),
            "accuracy".into(),
            "macro-F1".into(),
        ];
        header.extend(perturbations.iter().map(|p| format!("{} accuracy", p.name)));
        header.push("training s".into());
        let rows = self
            .arms
            .iter()
            .map(|arm| {
                let baseline = self.baseline(&arm.mode).filter(|b| !std::ptr::eq(*b, arm));
                let cell = |metric: &dyn Fn(&RobustResult) -> f64| {
                    let ours = arm.stat(metric);
                    let judged =
                        baseline.map_or("", |b| mark(Finding::judge(ours, b.stat(metric))));
                    format!("{}{judged}", ours.show(3))
                };
                let mut row = vec![
                    arm.name.clone(),
                    arm.mode.clone(),
                    cell(&|r| r.accuracy),
                    cell(&|r| r.macro_f1),
                ];
                row.extend((0..perturbations.len()).map(|i| cell(&|r| r.perturbed_accuracy[i])));
                row.push(format!("{:.0}", arm.stat(|r| r.train_seconds).mean));
                row
            })
            .collect();
        Table { header, rows }
    }
}

impl RobustData {
    /// The seed-averaging ensemble (an arm of that name, one run) against the best
    /// single run of its mode's baseline, its members.
    fn averaging_against_best_member(&self) -> Option<String> {
        let averaged = self.arms.iter().find(|a| a.name == "seed averaging")?;
        let ensemble = averaged.runs.first()?;
        let best = self
            .baseline(&averaged.mode)?
            .runs
            .iter()
            .max_by(|a, b| a.macro_f1.total_cmp(&b.macro_f1))?;
        Some(format!(
            "Seed averaging against its best member: macro-F1 {:.3} vs {:.3} ({:+.3}), accuracy {:.3} vs {:.3}.",
            ensemble.macro_f1,
            best.macro_f1,
            ensemble.macro_f1 - best.macro_f1,
            ensemble.accuracy,
            best.accuracy
        ))
    }
}

impl RobustnessStudy {
    pub(crate) fn blocks<'a>(&self) -> (String, Vec<Block<'a>>) {
        let mut recipe = self.recipe.clone();
        recipe.push(format!(
            "test-time perturbations: {}",
            self.perturbations
                .iter()
                .map(|p| format!("{} (`bertcls augment {}`)", p.name, p.flags))
                .collect::<Vec<_>>()
                .join("; ")
        ));
        let mut blocks = vec![
            Block::Paragraph(
                "Which training holds up: adversarial training, distillation and ensembles against plain training, in the mode each belongs to, on the test set and on perturbed copies of it.".into(),
            ),
            Block::Paragraph(format!(
                "Mean ± std over seeds. ▲ / ▼: better / worse than the mode's baseline by more than the larger of the two standard deviations; no mark: within the spread (or one run). The whole study took {:.0} s.",
                self.wall_seconds
            )),
            Block::Heading("Recipe".into()),
            Block::Bullets(recipe),
        ];
        for data in &self.data_sets {
            blocks.push(Block::Heading(format!(
                "{} ({} training, {} test examples)",
                data.name, data.train, data.test
            )));
            blocks.push(Block::Table(data.table(&self.perturbations)));
            if let Some(line) = data.averaging_against_best_member() {
                blocks.push(Block::Paragraph(line));
            }
            blocks.push(Block::Bullets(
                data.arms
                    .iter()
                    .map(|a| format!("{} ({}): {}", a.name, a.mode, a.description))
                    .collect(),
            ));
        }
        ("Study: robustness".into(), blocks)
    }

    /// Every data set's table as plain text, for the terminal.
    pub fn terminal_tables(&self) -> String {
        plain_sections(
            self.data_sets
                .iter()
                .map(|d| (d.name.as_str(), d.table(&self.perturbations))),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(macro_f1: f64, typos: f64) -> RobustResult {
        RobustResult {
            accuracy: macro_f1,
            macro_f1,
            perturbed_accuracy: vec![typos],
            train_seconds: 10.0,
            model: "m".into(),
            command: "c".into(),
        }
    }

    fn arm(name: &str, mode: &str, runs: Vec<RobustResult>) -> RobustArm {
        RobustArm {
            name: name.into(),
            mode: mode.into(),
            description: String::new(),
            runs,
        }
    }

    #[test]
    fn arms_are_judged_against_their_own_modes_baseline() {
        let data = RobustData {
            name: "d".into(),
            train: 10,
            test: 5,
            arms: vec![
                arm(
                    "baseline",
                    "end-to-end",
                    vec![run(0.50, 0.4), run(0.52, 0.42)],
                ),
                arm("FGM", "end-to-end", vec![run(0.60, 0.41), run(0.62, 0.40)]),
                arm("baseline", "pipeline", vec![run(0.70, 0.6), run(0.72, 0.6)]),
                arm("bagging", "pipeline", vec![run(0.60, 0.6), run(0.62, 0.6)]),
            ],
        };
        let perturbations = [Perturbation {
            name: "typos".into(),
            flags: "typo=0.1".into(),
        }];
        let table = data.table(&perturbations);
        // FGM: macro-F1 0.61 against 0.51 (spread 0.014): better; typos within spread.
        assert_eq!(table.rows[1][3], "0.610 ± 0.014 ▲");
        assert_eq!(table.rows[1][4], "0.405 ± 0.007");
        // Bagging is judged against the pipeline's baseline (0.71), not end-to-end's.
        assert_eq!(table.rows[3][3], "0.610 ± 0.014 ▼");
        // A baseline carries no mark.
        assert_eq!(table.rows[2][3], "0.710 ± 0.014");
        assert_eq!(table.header[4], "typos accuracy");
        // Marked numbers are still numbers: their columns align right.
        let rule = table.render_markdown().lines().nth(1).unwrap().to_owned();
        assert_eq!(rule, "| --- | --- | ---: | ---: | ---: | ---: |");
    }
}

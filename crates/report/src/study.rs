//! A study: one baseline and its variants ("arms"), each a whole comparison of the
//! two modes over several seeds, on one or more data sets; summarised against the
//! baseline with the seeds' spread as the yardstick.
//!
//! [`Study`] is `study.json`; [`write_study`] renders it as `study.md`, `study.html`
//! and two charts per data set. Each arm's own comparison report stays in its folder.

use std::fmt::Write;

use serde::{Deserialize, Serialize};

use crate::document::Block;
use crate::results::class_scores;
use crate::svg::Chart;
use crate::svg::{END_TO_END, Frame, PIPELINE};
use crate::tables::Table;
use crate::{Comparison, ModeResult, Stat};

/// What a study measured (the content of `study.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Study {
    /// The suite's name, e.g. `imbalance`.
    pub suite: String,
    /// What the study asks, in a sentence.
    pub question: String,
    /// The bertcls version that ran it.
    pub version: String,
    /// Seconds since the Unix epoch when it started.
    pub started_unix: u64,
    /// Wall time of the whole study.
    pub wall_seconds: f64,
    /// The settings every arm shares, in words.
    pub recipe: Vec<String>,
    /// Each data set's arms.
    pub data_sets: Vec<StudyData>,
}

/// One data set's arms, the baseline first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StudyData {
    /// The data set.
    pub name: String,
    /// How many classes.
    pub classes: usize,
    /// Training examples.
    pub train: usize,
    /// Test examples.
    pub test: usize,
    /// How the data was derived (held out, a class cut to a share, …).
    pub derivation: Option<String>,
    /// The class the study watches: the rarest in the baseline's training data.
    pub focus_class: String,
    /// Training examples of the focus class.
    pub focus_train: usize,
    /// Every arm, the baseline first.
    pub arms: Vec<Arm>,
}

/// One variant: what it changed and what both modes scored with it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Arm {
    /// A short name, used in tables and on chart axes.
    pub name: String,
    /// What it does, in words.
    pub description: String,
    /// The `bertcls compare` flags that make it (empty for the baseline).
    pub flags: String,
    /// Its comparison report folder, relative to the study's.
    pub report: String,
    /// What the pipeline scored with it.
    pub pipeline: ArmScores,
    /// What end-to-end fine-tuning scored with it.
    pub end_to_end: ArmScores,
}

/// Test scores of one mode of one arm over the seeds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ArmScores {
    /// Test macro-F1 over the seeds.
    pub macro_f1: Stat,
    /// Test accuracy over the seeds.
    pub accuracy: Stat,
    /// Recall of the focus class over the seeds.
    pub focus_recall: Stat,
    /// F1 of the focus class over the seeds.
    pub focus_f1: Stat,
    /// Training wall time over the seeds.
    pub train_seconds: Stat,
}

impl ArmScores {
    /// A mode's scores, the focus class's read by name (0 where a run never saw it).
    pub fn of(mode: &ModeResult, focus: &str) -> Self {
        let focus_score = |f: fn(&metrics::ClassScores) -> f64| {
            mode.stat(|r| class_scores(&r.test, focus).map_or(0.0, f))
        };
        Self {
            macro_f1: mode.stat(|r| r.test.macro_f1),
            accuracy: mode.stat(|r| r.test.accuracy),
            focus_recall: focus_score(|s| s.recall),
            focus_f1: focus_score(|s| s.f1),
            train_seconds: mode.stat(|r| r.train_seconds),
        }
    }
}

impl Arm {
    /// An arm from its finished comparison.
    pub fn from_comparison(
        name: &str,
        description: &str,
        flags: &str,
        report: &str,
        comparison: &Comparison,
        focus: &str,
    ) -> Self {
        Self {
            name: name.to_owned(),
            description: description.to_owned(),
            flags: flags.to_owned(),
            report: report.to_owned(),
            pipeline: ArmScores::of(&comparison.pipeline, focus),
            end_to_end: ArmScores::of(&comparison.end_to_end, focus),
        }
    }

    /// The two modes with their display names, pipeline first.
    pub fn modes(&self) -> [(&'static str, &ArmScores); 2] {
        [
            ("pipeline", &self.pipeline),
            ("end-to-end", &self.end_to_end),
        ]
    }
}

/// How an arm's mean compares with the baseline's, the seeds' spread the yardstick.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finding {
    /// The mean beats the baseline's by more than the larger of the two standard
    /// deviations.
    Better,
    /// The mean falls short of the baseline's by more than that.
    Worse,
    /// The difference is within the spread: no claim.
    WithinSpread,
    /// One seed: there is no spread to judge a difference by.
    OneSeed,
}

impl Finding {
    /// Whether `arm` differs from `baseline` by more than their spread.
    pub fn judge(arm: Stat, baseline: Stat) -> Self {
        if arm.n < 2 || baseline.n < 2 {
            return Finding::OneSeed;
        }
        let difference = arm.mean - baseline.mean;
        let spread = arm.std.max(baseline.std);
        if difference > spread {
            Finding::Better
        } else if difference < -spread {
            Finding::Worse
        } else {
            Finding::WithinSpread
        }
    }

    fn word(self) -> &'static str {
        match self {
            Finding::Better => "better",
            Finding::Worse => "worse",
            Finding::WithinSpread => "within spread",
            Finding::OneSeed => "one seed",
        }
    }
}

impl StudyData {
    fn baseline(&self) -> Option<&Arm> {
        self.arms.first()
    }

    /// Every arm and mode against the baseline: mean ± std, the change in macro-F1,
    /// and what the spread allows to say about macro-F1 and the focus class's F1.
    pub fn table(&self) -> Table {
        let focus = &self.focus_class;
        let header = [
            "remedy".to_owned(),
            "mode".into(),
            "macro-F1".into(),
            "Δ macro-F1".into(),
            format!("{focus} recall"),
            format!("{focus} F1"),
            "accuracy".into(),
            "training s".into(),
            "macro-F1 vs baseline".into(),
            format!("{focus} F1 vs baseline"),
        ];
        let mut rows = Vec::new();
        let Some(baseline) = self.baseline() else {
            return Table {
                header: header.to_vec(),
                rows,
            };
        };
        for (i, arm) in self.arms.iter().enumerate() {
            for ((mode, scores), (_, base)) in arm.modes().into_iter().zip(baseline.modes()) {
                let judged = |f: fn(&ArmScores) -> Stat| {
                    if i == 0 {
                        "baseline".to_owned()
                    } else {
                        Finding::judge(f(scores), f(base)).word().to_owned()
                    }
                };
                rows.push(vec![
                    arm.name.clone(),
                    mode.to_owned(),
                    scores.macro_f1.show(4),
                    format!("{:+.4}", scores.macro_f1.mean - base.macro_f1.mean),
                    scores.focus_recall.show(3),
                    scores.focus_f1.show(3),
                    scores.accuracy.show(4),
                    scores.train_seconds.show(1),
                    judged(|s| s.macro_f1),
                    judged(|s| s.focus_f1),
                ]);
            }
        }
        Table {
            header: header.to_vec(),
            rows,
        }
    }

    /// Which arms beat (or fell behind) the baseline beyond the spread, per mode.
    pub fn findings(&self) -> Vec<String> {
        let Some(baseline) = self.baseline() else {
            return vec!["No arm ran.".into()];
        };
        let focus = format!("{} F1", self.focus_class);
        type Metric = fn(&ArmScores) -> Stat;
        let metrics: [(&str, Metric); 2] = [("macro-F1", |s| s.macro_f1), (&focus, |s| s.focus_f1)];
        let mut lines = Vec::new();
        for (m, (mode, base)) in baseline.modes().into_iter().enumerate() {
            for (what, metric) in metrics {
                let of = |wanted: Finding| -> Vec<String> {
                    self.arms[1..]
                        .iter()
                        .filter(|a| Finding::judge(metric(a.modes()[m].1), metric(base)) == wanted)
                        .map(|a| {
                            format!(
                                "{} ({:+.1})",
                                a.name,
                                100.0 * (metric(a.modes()[m].1).mean - metric(base).mean)
                            )
                        })
                        .collect()
                };
                let (better, worse) = (of(Finding::Better), of(Finding::Worse));
                let mut line = format!("{mode}, {what}: ");
                if base.macro_f1.n < 2 {
                    line.push_str("one seed, so no remedy is judged (use several seeds)");
                } else if better.is_empty() && worse.is_empty() {
                    line.push_str(
                        "no remedy differs from the baseline by more than the seeds' spread",
                    );
                } else {
                    let list = |v: &[String]| {
                        if v.is_empty() {
                            "none".to_owned()
                        } else {
                            v.join(", ")
                        }
                    };
                    let _ = write!(
                        line,
                        "better than the baseline beyond the spread: {}; worse: {} (points)",
                        list(&better),
                        list(&worse)
                    );
                }
                lines.push(line);
            }
        }
        lines
    }

    /// A grouped bar chart of one score per arm, both modes, with ±1 std whiskers.
    fn chart(&self, kind: &str, what: &str, metric: fn(&ArmScores) -> Stat) -> Chart {
        let n = self.arms.len().max(1);
        let mut frame = Frame::new(
            (140.0 + 80.0 * n as f64).max(520.0),
            340.0,
            (-0.5, n as f64 - 0.5, false),
            (0.0, 1.0, false),
        );
        let names: Vec<String> = self.arms.iter().map(|a| a.name.clone()).collect();
        frame.axes("remedy", &format!("test {what}"), Some(&names));
        for (m, (offset, color)) in [(-0.18, PIPELINE), (0.18, END_TO_END)]
            .into_iter()
            .enumerate()
        {
            for (i, arm) in self.arms.iter().enumerate() {
                let (mode, scores) = arm.modes()[m];
                let stat = metric(scores);
                let x = i as f64 + offset;
                frame.bar(
                    x,
                    0.34,
                    stat.mean,
                    color,
                    &format!("{}, {mode}: {what} {}", arm.name, stat.show(3)),
                );
                if stat.n > 1 {
                    frame.whisker(x, stat.mean - stat.std, stat.mean + stat.std);
                }
            }
            frame.legend(["pipeline", "end-to-end"][m], color);
        }
        let title = format!("{}: {what} by remedy", self.name);
        Chart {
            file: format!("{}-{kind}.svg", slug(&self.name)),
            caption: format!(
                "Test {what} of every remedy in both modes, mean over seeds; whiskers ±1 standard deviation."
            ),
            svg: frame.finish(&title),
            title,
        }
    }

    fn charts(&self) -> Vec<Chart> {
        vec![
            self.chart("macro-f1", "macro-F1", |s| s.macro_f1),
            self.chart("focus-f1", &format!("{} F1", self.focus_class), |s| {
                s.focus_f1
            }),
        ]
    }
}

/// A file-name-safe version of a display name: lower-case ASCII letters and digits,
/// runs of anything else one hyphen.
pub fn slug(name: &str) -> String {
    let stem: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    stem.split('-')
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join("-")
}

impl Study {
    /// Every data set's charts, in reading order.
    pub fn charts(&self) -> Vec<Chart> {
        self.data_sets.iter().flat_map(StudyData::charts).collect()
    }

    /// The document: question, recipe, then per data set its findings, table, charts.
    pub(crate) fn blocks<'a>(&self, charts: &'a [Chart]) -> (String, Vec<Block<'a>>) {
        let title = format!("Study: {}", self.suite);
        let mut blocks = vec![
            Block::Paragraph(self.question.clone()),
            Block::Paragraph(format!(
                "A remedy is called better or worse than the baseline only when the difference of the means exceeds the larger of the two standard deviations over seeds; everything else is within the spread, and the study makes no claim about it. The whole study took {:.0} s.",
                self.wall_seconds
            )),
            Block::Heading("Recipe".into()),
            Block::Bullets(self.recipe.clone()),
        ];
        let mut charts = charts.iter();
        for data in &self.data_sets {
            blocks.push(Block::Heading(data.name.clone()));
            blocks.push(Block::Paragraph(format!(
                "{} classes, {} training and {} test examples; the rare class watched is {} ({} training examples).{}",
                data.classes,
                data.train,
                data.test,
                data.focus_class,
                data.focus_train,
                data.derivation
                    .as_ref()
                    .map_or_else(String::new, |d| format!(" Data: {d}."))
            )));
            blocks.push(Block::Bullets(data.findings()));
            blocks.push(Block::Table(data.table()));
            blocks.extend(charts.by_ref().take(2).map(Block::Chart));
            blocks.push(Block::Bullets(
                data.arms
                    .iter()
                    .map(|a| {
                        let flags = if a.flags.is_empty() {
                            String::new()
                        } else {
                            format!(" (`{}`)", a.flags)
                        };
                        format!(
                            "{}: {}{flags}. Report: `{}`.",
                            a.name, a.description, a.report
                        )
                    })
                    .collect(),
            ));
        }
        (title, blocks)
    }

    /// Each data set's table as plain text, for the terminal.
    pub fn terminal_tables(&self) -> String {
        self.data_sets
            .iter()
            .map(|d| {
                format!(
                    "{}\n{}{}\n",
                    d.name,
                    d.table().render_plain(),
                    d.findings()
                        .iter()
                        .map(|l| format!("- {l}\n"))
                        .collect::<String>()
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stat(mean: f64, std: f64) -> Stat {
        Stat { mean, std, n: 3 }
    }

    #[test]
    fn a_difference_counts_only_beyond_the_larger_spread() {
        assert_eq!(
            Finding::judge(stat(0.80, 0.01), stat(0.75, 0.02)),
            Finding::Better
        );
        assert_eq!(
            Finding::judge(stat(0.76, 0.01), stat(0.75, 0.02)),
            Finding::WithinSpread
        );
        // The arm's own spread counts too, not only the baseline's.
        assert_eq!(
            Finding::judge(stat(0.78, 0.04), stat(0.75, 0.0)),
            Finding::WithinSpread
        );
        assert_eq!(
            Finding::judge(stat(0.70, 0.01), stat(0.75, 0.02)),
            Finding::Worse
        );
        let one = Stat {
            mean: 0.9,
            std: 0.0,
            n: 1,
        };
        assert_eq!(Finding::judge(one, one), Finding::OneSeed);
    }

    #[test]
    fn slugs_are_safe_file_names() {
        assert_eq!(
            slug("SpamAssassin, spam cut to 5%"),
            "spamassassin-spam-cut-to-5"
        );
    }
}

//! The report's tables, built once and rendered as plain text, Markdown or HTML, so
//! the terminal, `report.md` and `report.html` show the same cells.

use crate::svg::escape;
use crate::{Comparison, ModeResult};

/// Rows of text cells under a header.
pub struct Table {
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

/// Titled tables as plain text, one after another: a study's data sets in a terminal.
pub fn plain_sections<'a>(sections: impl Iterator<Item = (&'a str, Table)>) -> String {
    sections
        .map(|(title, table)| format!("{title}\n{}", table.render_plain()))
        .collect::<Vec<_>>()
        .join("\n")
}

impl Table {
    /// Columns padded to their widest cell, for a terminal.
    pub fn render_plain(&self) -> String {
        let widths: Vec<usize> = (0..self.header.len())
            .map(|i| {
                std::iter::once(&self.header)
                    .chain(&self.rows)
                    .map(|row| row[i].chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let numeric = self.numeric_columns();
        let line = |row: &[String]| {
            let cells: Vec<String> = row
                .iter()
                .zip(&widths)
                .enumerate()
                .map(|(i, (cell, &w))| {
                    if numeric[i] {
                        format!("{cell:>w$}")
                    } else {
                        format!("{cell:<w$}")
                    }
                })
                .collect();
            cells.join("  ").trim_end().to_owned()
        };
        let mut out = line(&self.header);
        out.push('\n');
        for row in &self.rows {
            out.push_str(&line(row));
            out.push('\n');
        }
        out
    }

    /// Columns whose every cell is a number (or `mean ± std`, or `-`): right-aligned.
    fn numeric_columns(&self) -> Vec<bool> {
        // A number may carry a verdict mark (▲/▼) after it.
        let is_number = |cell: &str| {
            let cell = cell.trim_end_matches(['▲', '▼']).trim_end();
            cell == "-"
                || cell
                    .split(" ± ")
                    .all(|part| part.trim_start_matches('+').parse::<f64>().is_ok())
        };
        (0..self.header.len())
            .map(|i| !self.rows.is_empty() && self.rows.iter().all(|row| is_number(&row[i])))
            .collect()
    }

    pub fn render_markdown(&self) -> String {
        let line = |row: &[String]| format!("| {} |\n", row.join(" | "));
        let mut out = line(&self.header);
        let rule: Vec<String> = self
            .numeric_columns()
            .into_iter()
            .map(|numeric| if numeric { "---:" } else { "---" }.to_owned())
            .collect();
        out.push_str(&line(&rule));
        for row in &self.rows {
            out.push_str(&line(row));
        }
        out
    }

    pub fn render_html(&self) -> String {
        let cells = |row: &[String], tag: &str| {
            row.iter()
                .map(|c| format!("<{tag}>{}</{tag}>", escape(c)))
                .collect::<String>()
        };
        let mut out = format!(
            "<table><thead><tr>{}</tr></thead><tbody>",
            cells(&self.header, "th")
        );
        for row in &self.rows {
            out.push_str(&format!("<tr>{}</tr>", cells(row, "td")));
        }
        out.push_str("</tbody></table>");
        out
    }
}

/// The side-by-side table: one row per mode, and per point of the layer frontier.
pub fn summary(c: &Comparison) -> Table {
    let rarest = c.data.rarest_class().unwrap_or("-");
    let header = [
        "mode",
        "accuracy",
        "macro-F1",
        "weighted-F1",
        &format!("F1 {rarest} (rarest)"),
        "training s",
        "inference docs/s",
        "peak MiB",
        "size MB",
    ];
    let rows = c
        .points()
        .into_iter()
        .map(|(name, mode)| summary_row(&name, mode, rarest))
        .collect();
    Table {
        header: header.iter().map(|h| h.to_string()).collect(),
        rows,
    }
}

fn summary_row(name: &str, mode: &ModeResult, rarest: &str) -> Vec<String> {
    vec![
        name.to_owned(),
        mode.stat(|r| r.test.accuracy).show(4),
        mode.stat(|r| r.test.macro_f1).show(4),
        mode.stat(|r| r.test.weighted_f1).show(4),
        mode.class_f1(rarest).show(4),
        mode.stat(|r| r.train_seconds).show(1),
        mode.stat(|r| r.inference_docs_per_second).show(1),
        mode.peak_rss().map_or("-".into(), |s| s.show(0)),
        mode.stat(|r| r.model_bytes as f64 / 1e6).show(1),
    ]
}

/// The sweep's best `top` heads.
pub fn leaderboard(c: &Comparison, top: usize) -> Table {
    Table {
        header: [
            "rank",
            "validation macro-F1",
            "validation accuracy",
            "seconds",
            "head",
        ]
        .map(String::from)
        .to_vec(),
        rows: c
            .leaderboard
            .iter()
            .take(top)
            .enumerate()
            .map(|(i, e)| {
                vec![
                    (i + 1).to_string(),
                    format!("{:.4}", e.valid_macro_f1),
                    format!("{:.4}", e.valid_accuracy),
                    format!("{:.2}", e.seconds),
                    e.configuration.clone(),
                ]
            })
            .collect(),
    }
}

/// Test precision, recall and F1 of every class in both modes.
pub fn per_class(c: &Comparison) -> Table {
    let rows = c
        .data
        .classes
        .iter()
        .zip(&c.data.train_counts)
        .map(|(label, count)| {
            let support = c
                .pipeline
                .runs
                .first()
                .and_then(|r| r.test.per_class.iter().find(|s| &s.label == label))
                .map_or(0, |s| s.support);
            vec![
                label.clone(),
                count.to_string(),
                support.to_string(),
                c.pipeline.class_f1(label).show(3),
                c.end_to_end.class_f1(label).show(3),
                format!(
                    "{:+.1}",
                    100.0 * (c.end_to_end.class_f1(label).mean - c.pipeline.class_f1(label).mean)
                ),
            ]
        })
        .collect();
    Table {
        header: [
            "class",
            "training examples",
            "test examples",
            "pipeline F1",
            "end-to-end F1",
            "change (points)",
        ]
        .map(String::from)
        .to_vec(),
        rows,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_align_right_and_text_left() {
        let table = Table {
            header: vec!["name".into(), "score".into()],
            rows: vec![
                vec!["a".into(), "0.5 ± 0.1".into()],
                vec!["bb".into(), "12".into()],
            ],
        };
        assert_eq!(
            table.render_markdown().lines().nth(1),
            Some("| --- | ---: |")
        );
        assert_eq!(
            table.render_plain(),
            "name      score\na     0.5 ± 0.1\nbb           12\n"
        );
        assert!(table.render_html().contains("<td>0.5 ± 0.1</td>"));
    }
}

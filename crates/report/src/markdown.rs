//! `report.md`: the document with charts as linked `.svg` files.

use crate::Comparison;
use crate::charts::Chart;
use crate::document::{Block, build};

pub fn render(c: &Comparison, charts: &[Chart]) -> String {
    let (title, blocks) = build(c, charts);
    let mut out = format!("# {title}\n\n");
    for block in blocks {
        match block {
            Block::Heading(text) => out.push_str(&format!("## {text}\n\n")),
            Block::Paragraph(text) => out.push_str(&format!("{text}\n\n")),
            Block::Bullets(items) => {
                for item in items {
                    out.push_str(&format!("- {item}\n"));
                }
                out.push('\n');
            }
            Block::Table(table) => out.push_str(&format!("{}\n", table.render_markdown())),
            Block::Chart(chart) => out.push_str(&format!(
                "![{}]({})\n\n{}\n\n",
                chart.title, chart.file, chart.caption
            )),
            Block::Code(text) => out.push_str(&format!("```\n{text}\n```\n\n")),
        }
    }
    out
}

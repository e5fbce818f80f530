//! `report.md` (and a study's `study.md`): the document with charts as linked `.svg`
//! files.

use crate::document::Block;

pub fn render(title: &str, blocks: &[Block<'_>]) -> String {
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

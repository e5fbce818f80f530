//! `report.html` (and a study's `study.html`): one self-contained page, charts
//! inline, no scripts, no external files.

use crate::document::Block;
use crate::svg::escape;

const STYLE: &str = "body{font-family:sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222;line-height:1.45}\
table{border-collapse:collapse;margin:1rem 0}th,td{padding:.3rem .6rem;border-bottom:1px solid #ddd;text-align:right}\
th:first-child,td:first-child{text-align:left}figure{margin:1.5rem 0}figcaption{color:#555;font-size:.9rem}\
pre{background:#f6f6f6;padding:.8rem;overflow-x:auto;font-size:.85rem}code{background:#f6f6f6}";

pub fn render(title: &str, blocks: &[Block<'_>]) -> String {
    let mut body = format!("<h1>{}</h1>\n", escape(title));
    for block in blocks {
        body.push_str(&match block {
            Block::Heading(text) => format!("<h2>{}</h2>\n", escape(text)),
            Block::Paragraph(text) => format!("<p>{}</p>\n", inline_code(text)),
            Block::Bullets(items) => format!(
                "<ul>{}</ul>\n",
                items
                    .iter()
                    .map(|i| format!("<li>{}</li>", inline_code(i)))
                    .collect::<String>()
            ),
            Block::Table(table) => format!("{}\n", table.render_html()),
            Block::Chart(chart) => format!(
                "<figure>{}<figcaption>{}</figcaption></figure>\n",
                chart.svg,
                escape(&chart.caption)
            ),
            Block::Code(text) => format!("<pre>{}</pre>\n", escape(text)),
        });
    }
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title><style>{STYLE}</style></head><body>\n{body}</body></html>\n",
        escape(title)
    )
}

/// Escapes text and turns `backquoted` spans into `<code>`.
fn inline_code(text: &str) -> String {
    escape(text)
        .split('`')
        .enumerate()
        .map(|(i, part)| {
            if i % 2 == 1 {
                format!("<code>{part}</code>")
            } else {
                part.to_owned()
            }
        })
        .collect()
}

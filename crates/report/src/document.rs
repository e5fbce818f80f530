//! The report's content as a list of blocks, built once; `markdown` and `html` only
//! decide how each block looks, so the two files always say the same thing.

use crate::svg::Chart;
use crate::tables::{self, Table};
use crate::{Comparison, verdict};

/// One piece of the report.
pub enum Block<'a> {
    Heading(String),
    Paragraph(String),
    Bullets(Vec<String>),
    Table(Table),
    Chart(&'a Chart),
    Code(String),
}

pub fn build<'a>(c: &Comparison, charts: &'a [Chart]) -> (String, Vec<Block<'a>>) {
    let title = format!(
        "{}: frozen-encoder pipeline against end-to-end fine-tuning",
        c.data.name
    );
    let mut blocks = vec![
        Block::Paragraph(format!(
            "{} on {} ({} training, {} validation, {} test examples, {} classes); model {}, max_len {}, backend {}, {} seed(s). The whole comparison took {:.0} s.",
            if c.settings.quick {
                "Quick run (a stratified subset, fewer epochs)"
            } else {
                "Full run"
            },
            c.data.name,
            c.data.train,
            c.data.validation,
            c.data.test,
            c.data.classes.len(),
            c.settings.model,
            c.settings.max_len,
            c.environment.backend,
            c.settings.seeds.len(),
            c.wall_seconds,
        )),
        Block::Heading("Verdict".into()),
        Block::Bullets(verdict(c)),
        Block::Heading("Results on the test set".into()),
        Block::Table(tables::summary(c)),
        Block::Paragraph(format!(
            "{} Training s: what producing the model cost from scratch (pipeline: embedding train and validation once, plus the whole head sweep; top K: what caching the states below the trained layers added, little when the pipeline's embedding pass kept them, plus fine-tuning). Inference: test documents per second from text to prediction. Peak MiB: resident memory while the mode ran (a pipeline whose embeddings are all cache hits never loads the encoder). Size: the files needed to classify new text. With several seeds, mean ± standard deviation.",
            c.points()
                .iter()
                .map(|(name, mode)| format!("{}: {}.", sentence_case(name), mode.description))
                .collect::<Vec<_>>()
                .join(" ")
        )),
    ];
    if let Some(costs) = cost_lines(c) {
        blocks.push(Block::Bullets(costs));
    }
    blocks.push(Block::Heading("Best heads of the sweep".into()));
    blocks.push(Block::Table(tables::leaderboard(c, 5)));
    blocks.push(Block::Heading("Per class".into()));
    blocks.push(Block::Table(tables::per_class(c)));
    blocks.push(Block::Heading("Charts".into()));
    blocks.extend(charts.iter().map(Block::Chart));
    blocks.push(Block::Heading("Reproduce".into()));
    blocks.push(Block::Paragraph(
        "The same stages as separate `bertcls` commands (first seed):".into(),
    ));
    blocks.push(Block::Code(c.commands.join("\n")));
    blocks.push(Block::Heading("Settings, data and machine".into()));
    let details = serde_json::json!({
        "settings": c.settings,
        "data": {
            "files": c.data.files,
            "derivation": c.data.derivation,
            "source": c.data.manifest.as_ref().and_then(|m| m.get("source")),
        },
        "environment": c.environment,
        "version": c.version,
    });
    blocks.push(Block::Code(
        serde_json::to_string_pretty(&details).expect("plain JSON values"),
    ));
    (title, blocks)
}

/// `name` with a capital first letter.
fn sentence_case(name: &str) -> String {
    let mut chars = name.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_uppercase().chain(chars).collect()
    })
}

/// Where each mode's training time went (first seed).
fn cost_lines(c: &Comparison) -> Option<Vec<String>> {
    let lines: Vec<String> = c
        .points()
        .into_iter()
        .filter_map(|(name, mode)| {
            let run = mode.runs.first()?;
            let parts: Vec<String> = run
                .cost_breakdown
                .iter()
                .map(|(what, s)| format!("{what} {s:.1} s"))
                .collect();
            Some(format!("{name}: {}", parts.join(", ")))
        })
        .collect();
    (!lines.is_empty()).then_some(lines)
}

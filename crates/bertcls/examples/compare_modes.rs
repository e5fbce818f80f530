//! Both modes on the same data, one report: the comparison `bertcls compare` runs,
//! from Rust, with its progress printed as it goes.
//!
//! ```text
//! cargo run --release -p bertcls --example compare_modes -- data/r8 reports
//! ```
//! Two more arguments name another model folder than models/all-MiniLM-L6-v2 and its
//! tokens per text.

use bertcls::{CompareJob, Context, Job, Observer, Result};

/// Prints the comparison's notes (stage banners, tables, the verdict).
struct Notes;

impl Observer for Notes {
    fn note(&mut self, line: &str) {
        eprintln!("{line}");
    }
}

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let mut job = CompareJob::new(args.next().unwrap_or_else(|| "r8".into()));
    if let Some(out) = args.next() {
        job.out = out.into();
    }
    if let (Some(model), Some(max_len)) = (args.next(), args.next()) {
        job.model = model.into();
        job.max_len = Some(max_len.parse().ok().context("MAX_LEN is a whole number")?);
    }
    job.quick = true;
    let compared = job.run(&mut Notes)?;
    let [pipeline, end_to_end] = [
        &compared.comparison.pipeline,
        &compared.comparison.end_to_end,
    ]
    .map(|mode| mode.runs[0].test.macro_f1);
    println!("test macro-F1: pipeline {pipeline:.4}, end-to-end {end_to_end:.4}");
    println!("report: {}", compared.dir.display());
    Ok(())
}

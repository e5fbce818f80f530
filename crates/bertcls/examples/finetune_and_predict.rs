//! End-to-end mode from Rust: fine-tune BERT and its head together, then classify new
//! texts with the saved model.
//!
//! ```text
//! cargo run --release -p bertcls --example finetune_and_predict -- data/r8 runs/example-ft
//! ```
//! DATA holds train.jsonl, validation.jsonl and test.jsonl; two more arguments name
//! another model folder than models/all-MiniLM-L6-v2 and its tokens per text.

use std::path::PathBuf;

use bertcls::{Context, FineTuneJob, Job, PredictJob, Quiet, Result};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let data = PathBuf::from(args.first().map_or("data/r8", String::as_str));
    let out = PathBuf::from(args.get(1).map_or("runs/example-ft", String::as_str));

    let mut job = FineTuneJob::new(data.join("train.jsonl"), &out);
    job.valid = Some(data.join("validation.jsonl"));
    job.optimization.epochs = 1;
    if let (Some(model), Some(max_len)) = (args.get(2), args.get(3)) {
        job.model.model = model.into();
        job.model.max_len = max_len.parse().ok().context("MAX_LEN is a whole number")?;
    }
    let outcome = job.run(&mut Quiet)?;
    let run = outcome.trained().context("one run, no cross-validation")?;
    let best = run
        .summary
        .best
        .as_ref()
        .map_or(f64::NAN, |b| b.valid_macro_f1);
    println!(
        "validation macro-F1 {best:.4}; model in {}",
        run.model_dir.display()
    );

    // Any saved classifier predicts the same way: here the model just trained.
    let predict = PredictJob::new(&run.model_dir, data.join("test.jsonl"));
    let predicted = predict.run(&mut Quiet)?;
    // The topics are one class per text: the report is a classification report.
    if let Some(report) = predicted.report.as_ref().and_then(|r| r.classes()) {
        println!(
            "test accuracy {:.4}, macro-F1 {:.4}",
            report.accuracy, report.macro_f1
        );
    }
    Ok(())
}

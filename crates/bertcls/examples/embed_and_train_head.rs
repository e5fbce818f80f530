//! Pipeline mode from Rust: embed a data set with a frozen BERT (cached on disk), then
//! train a head over the features and score it on the test split.
//!
//! ```text
//! cargo run --release -p bertcls --example embed_and_train_head -- data/r8 runs/example
//! ```
//! DATA holds train.jsonl, validation.jsonl and test.jsonl; two more arguments name
//! another model folder than models/all-MiniLM-L6-v2 and its tokens per text.

use std::path::PathBuf;

use bertcls::training::HiddenSizes;
use bertcls::{Context, EmbedJob, Job, ModelOptions, PredictHeadJob, Quiet, Result, TrainHeadJob};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let data = PathBuf::from(args.first().map_or("data/r8", String::as_str));
    let out = PathBuf::from(args.get(1).map_or("runs/example", String::as_str));
    let model = match (args.get(2), args.get(3)) {
        (Some(model), Some(max_len)) => ModelOptions {
            model: model.into(),
            max_len: max_len.parse().ok().context("MAX_LEN is a whole number")?,
            ..ModelOptions::default()
        },
        _ => ModelOptions::default(),
    };

    // Stage 1: one vector per record, cached (a second run is a cache hit).
    let mut caches = Vec::new();
    for split in ["train", "validation", "test"] {
        let mut job = EmbedJob::new(data.join(format!("{split}.jsonl")));
        job.cache_dir = out.join("embeddings");
        job.model = model.clone();
        caches.push(job.run(&mut Quiet)?.cache.path);
    }

    // Stage 2: a softmax-regression head over the cached features.
    let mut train = TrainHeadJob::new(&caches[0], &caches[1], out.join("linear.head"));
    train.grid.hidden = Some(vec![HiddenSizes::linear()]);
    let trained = train.run(&mut Quiet)?;
    println!("{}", trained.summary());

    let predict = PredictHeadJob::new(
        trained.out(),
        &caches[2],
        out.join("test-predictions.jsonl"),
    );
    // The topics are one class per text: the report is a classification report.
    if let Some(report) = predict.run(&mut Quiet)?.as_ref().and_then(|r| r.classes()) {
        println!(
            "test accuracy {:.4}, macro-F1 {:.4}",
            report.accuracy, report.macro_f1
        );
    }
    Ok(())
}

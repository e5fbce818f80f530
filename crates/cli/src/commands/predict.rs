//! `bertcls predict` and `bertcls evaluate`: use a saved classifier (a fine-tuned
//! model, a pipeline head or an ensemble).

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use bert::BackendKind;
use bert::burn::tensor::Device;
use clap::Args;
use data::Record;

use crate::args::{ColumnArgs, InputArgs};
use crate::classifier::{Classifier, true_labels};
use crate::output::{prediction_lines, print_report, report_if_labelled, write_predictions};
use crate::progress;

/// Which classifier, where it runs, how it reads.
#[derive(Args, Debug)]
pub struct ClassifierArgs {
    /// A fine-tuned model (`finetune`'s OUT/model or OUT, or any Hugging Face
    /// BertForSequenceClassification folder), a saved head (`head train --out`,
    /// a sweep's best.head; texts are embedded as its features were), or an ensemble
    /// (`bertcls ensemble --out`).
    #[arg(long)]
    pub model: PathBuf,
    /// flex (CPU, default), ndarray (CPU) or wgpu (GPU).
    #[arg(long, default_value_t = BackendKind::Flex)]
    pub backend: BackendKind,
    /// Tokens per text (default: what the model was trained with; 128 for foreign folders).
    #[arg(long)]
    pub max_len: Option<usize>,
    /// Texts per forward pass.
    #[arg(long, default_value_t = 32)]
    pub batch_size: usize,
}

impl ClassifierArgs {
    fn load(&self) -> Result<(Classifier, Device)> {
        settings::at_least_one("batch_size", self.batch_size)?;
        let device = self.backend.device()?;
        let classifier = Classifier::load(&self.model, self.max_len, &device)?;
        Ok((classifier, device))
    }
}

#[derive(Args, Debug)]
#[command(after_help = "Examples:\n  \
    bertcls predict --model runs/r8 --input new.jsonl --output predictions.jsonl\n  \
    echo 'oil prices rose sharply' | bertcls predict --model runs/r8\n\n\
    Each prediction is a JSON line: id, label, true_label (when the input has one) and \
    the probability of every class. Labelled input also prints the metric report.")]
pub struct PredictArgs {
    #[command(flatten)]
    pub classifier: ClassifierArgs,
    /// Data file (JSONL, CSV or TSV). Without it, texts are read from stdin, one per line.
    #[arg(long)]
    pub input: Option<PathBuf>,
    #[command(flatten)]
    pub columns: ColumnArgs,
    /// Where to write the JSON lines (default: stdout).
    #[arg(long)]
    pub output: Option<PathBuf>,
}

pub fn predict(args: PredictArgs) -> Result<()> {
    let (classifier, device) = args.classifier.load()?;
    let Some(input) = &args.input else {
        return predict_stdin(&classifier, &device, args.classifier.batch_size);
    };
    let records = args.columns.read(input, false)?;
    let probabilities = classify(&classifier, &records, &device, args.classifier.batch_size)?;
    let labels = classifier.labels();
    let predicted = classifier.decision().decide(&probabilities, labels.len());
    let ids: Vec<String> = records.iter().map(|r| r.id.clone()).collect();
    let truth: Vec<Option<String>> = records.iter().map(|r| r.label.clone()).collect();
    match &args.output {
        Some(path) => {
            write_predictions(path, labels, &ids, &truth, &probabilities, &predicted)?;
            eprintln!("wrote {} predictions to {}", ids.len(), path.display());
        }
        None => print!(
            "{}",
            prediction_lines(labels, &ids, &truth, &probabilities, &predicted)
        ),
    }
    report_if_labelled(labels, &truth, &predicted, &probabilities);
    Ok(())
}

/// One text per line: answered line by line at a terminal, in batches from a pipe.
fn predict_stdin(classifier: &Classifier, device: &Device, batch_size: usize) -> Result<()> {
    let stdin = std::io::stdin();
    let interactive = stdin.is_terminal();
    if interactive {
        eprintln!("type a text per line (Ctrl-D ends):");
    }
    let batch_size = if interactive { 1 } else { batch_size };
    let mut lines = stdin
        .lock()
        .lines()
        .enumerate()
        .filter_map(|(i, line)| match line {
            Ok(text) if text.trim().is_empty() => None,
            other => Some(other.map(|text| Record {
                id: format!("line-{}", i + 1),
                text,
                text_b: None,
                label: None,
            })),
        });
    let labels = classifier.labels();
    let decision = classifier.decision();
    let mut out = std::io::stdout().lock();
    loop {
        let batch: Vec<Record> = lines
            .by_ref()
            .take(batch_size)
            .collect::<std::io::Result<_>>()
            .context("reading stdin")?;
        if batch.is_empty() {
            return Ok(());
        }
        let probabilities = classifier.predict_proba(&batch, batch_size, device, &mut |_| {})?;
        let predicted = decision.decide(&probabilities, labels.len());
        let ids: Vec<String> = batch.iter().map(|r| r.id.clone()).collect();
        let truth = vec![None; batch.len()];
        write!(
            out,
            "{}",
            prediction_lines(labels, &ids, &truth, &probabilities, &predicted)
        )?;
        out.flush()?;
    }
}

fn classify(
    classifier: &Classifier,
    records: &[Record],
    device: &Device,
    batch_size: usize,
) -> Result<Vec<f32>> {
    let bar = progress::documents(records.len(), "classifying");
    let probabilities =
        classifier.predict_proba(records, batch_size, device, &mut |n| bar.inc(n as u64))?;
    bar.finish_and_clear();
    Ok(probabilities)
}

#[derive(Args, Debug)]
#[command(after_help = "Example:\n  \
    bertcls evaluate --model runs/r8 --input data/r8/test.jsonl --json runs/r8/test.json")]
pub struct EvaluateArgs {
    #[command(flatten)]
    pub classifier: ClassifierArgs,
    #[command(flatten)]
    pub input: InputArgs,
    /// Also write the report as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

pub fn evaluate(args: EvaluateArgs) -> Result<()> {
    let (classifier, device) = args.classifier.load()?;
    let records = args.input.read(true)?;
    let labels = classifier.labels();
    let truth = true_labels(&records, &args.input.input)?;
    if records.is_empty() {
        bail!("{} has no records", args.input.input.display());
    }
    let started = std::time::Instant::now();
    let probabilities = classify(&classifier, &records, &device, args.classifier.batch_size)?;
    let seconds = started.elapsed().as_secs_f64();
    let report = classifier
        .decision()
        .report_names(labels, &truth, &probabilities);
    eprintln!(
        "{} on {} ({:.1} docs/s):",
        classifier.path().display(),
        args.input.input.display(),
        records.len() as f64 / seconds
    );
    print_report(&report, true);
    if let Some(path) = &args.json {
        let json = serde_json::to_string_pretty(&report)? + "\n";
        artifacts::write_output_file(path, artifacts::FileKind::MetricReport, json.as_bytes())
            .context("--json")?;
    }
    Ok(())
}

//! Using any saved classifier (a fine-tuned model, a pipeline head or an ensemble)
//! as jobs: predict a file or a stream of texts, evaluate on labelled data.

use std::io::BufRead;
use std::path::{Path, PathBuf};

use artifacts::FileKind;

use bert::burn::tensor::Device;
use bert::{BackendKind, Precision};
use data::{Label, Record};
use metrics::TaskReport;
use serde::{Deserialize, Serialize};
use training::Readout;

use crate::Job;
use crate::Observer;
use crate::classifier::{Classifier, true_labels};
use crate::error::{Context, Result, refuse};
use crate::options::{Columns, Input};
use crate::predictions::{
    check_task, prediction_lines, task_report_if_labelled, write_predictions,
};

/// Which classifier, where it runs, how it reads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassifierOptions {
    /// A fine-tuned model (`finetune`'s OUT/model or OUT, or any Hugging Face
    /// BertForSequenceClassification folder), a saved head (`head train --out`,
    /// a sweep's best.head; texts are embedded as its features were), or an ensemble
    /// (`bertcls ensemble --out`).
    pub model: PathBuf,
    /// flex (CPU, default), ndarray (CPU) or wgpu (GPU).
    pub backend: BackendKind,
    /// Tokens per text (default: what the model was trained with; 128 for foreign folders).
    pub max_len: Option<usize>,
    /// Texts per forward pass.
    pub batch_size: usize,
    /// What the encoder layers' linear layers compute in: fp32, int8 or bf16 (CPU
    /// backends). A fine-tuned model's encoder is converted when loaded [default:
    /// fp32]; a head embeds texts in the precision of its features [default: that one]
    /// and refuses another, as it refuses another encoder.
    #[serde(default)]
    pub precision: Option<Precision>,
}

impl ClassifierOptions {
    /// The classifier in `model`, with the default settings.
    pub fn new(model: impl Into<PathBuf>) -> Self {
        Self {
            model: model.into(),
            backend: BackendKind::Flex,
            max_len: None,
            batch_size: 32,
            precision: None,
        }
    }

    /// Checks the settings that need no model.
    pub fn validate(&self) -> Result<()> {
        Ok(settings::at_least_one("batch_size", self.batch_size)?)
    }

    /// Loads the classifier onto its device; `observer` hears when this CPU lacks the
    /// instructions of the precision asked for.
    pub fn load(&self, observer: &mut dyn Observer) -> Result<(Classifier, Device)> {
        self.validate()?;
        if let Some(precision) = self.precision {
            crate::observe::note_missing_instructions(observer, precision);
        }
        let device = self.backend.device()?;
        let classifier =
            Classifier::load(&self.model, self.max_len, &device)?.with_precision(self.precision)?;
        Ok((classifier, device))
    }
}

/// Classify texts (a file, or a stream one per line) with a fine-tuned model, a
/// saved head or an ensemble (`bertcls predict`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PredictJob {
    /// The saved model.
    #[serde(flatten)]
    pub classifier: ClassifierOptions,
    /// Data file (JSONL, CSV or TSV; `-`: standard input in one of those formats).
    /// Without it, texts are read from standard input as plain lines, one text each.
    pub input: Option<PathBuf>,
    /// How the input is read.
    #[serde(flatten)]
    pub columns: Columns,
    /// Where to write the JSON lines (`-` or default: standard output; a device or
    /// named pipe is written in place).
    pub output: Option<PathBuf>,
}

/// What [`PredictJob::run`] made.
pub struct Predicted {
    /// How many records were classified.
    pub rows: usize,
    /// The JSON lines, when no output file was named (to print).
    pub lines: Option<String>,
    /// The metric report, when every record was labelled.
    pub report: Option<TaskReport>,
}

impl PredictJob {
    /// Classifies the records of `input` with the classifier in `model`.
    pub fn new(model: impl Into<PathBuf>, input: impl Into<PathBuf>) -> Self {
        Self {
            classifier: ClassifierOptions::new(model),
            input: Some(input.into()),
            columns: Columns::default(),
            output: None,
        }
    }

    /// Classifies one text per line of `input` (standard input, say), writing a JSON
    /// line per text to the output (standard output by default) as soon as its batch
    /// is done; `interactive` answers line by line. Lines are read in bounded memory:
    /// one over the text limit, or with nothing BERT reads, is an error naming its
    /// line (dropped when bad rows are skipped). Column settings are refused: plain
    /// lines have no columns. Returns how many texts were classified; `observer`
    /// hears what loading the classifier has to say.
    pub fn run_stream(
        &self,
        input: impl BufRead,
        interactive: bool,
        observer: &mut dyn Observer,
    ) -> Result<usize> {
        self.validate()?;
        let (classifier, device) = self.classifier.load(observer)?;
        let output_path = self
            .output
            .clone()
            .unwrap_or_else(|| PathBuf::from(artifacts::STDOUT));
        // A failed write names the flag only where the user gave one.
        let writing = match self.output {
            Some(_) => settings::message!([output]),
            None => "writing the predictions".into(),
        };
        let mut output =
            artifacts::OutputFile::create(&output_path, FileKind::Predictions).context(&writing)?;
        let batch_size = if interactive {
            1
        } else {
            self.classifier.batch_size
        };
        let mut lines = data::text_lines(
            input,
            data::source_name(Path::new(data::STDIN)),
            self.columns.skip_bad_rows,
        );
        let (labels, readout, outputs) = (
            classifier.labels(),
            classifier.readout(),
            classifier.outputs(),
        );
        let mut classified = 0;
        loop {
            let batch: Vec<Record> = lines
                .by_ref()
                .take(batch_size)
                .collect::<std::result::Result<_, _>>()?;
            if batch.is_empty() {
                output.finish().context(&writing)?;
                return Ok(classified);
            }
            let scores = classifier.predict_proba(&batch, batch_size, &device, &mut |_| {})?;
            let predicted = readout.decide(&scores, outputs);
            let ids: Vec<String> = batch.iter().map(|r| r.id.clone()).collect();
            let truth = vec![None; batch.len()];
            let text = prediction_lines(labels, &ids, &truth, &scores, &predicted);
            output.write_all(text.as_bytes()).context(&writing)?;
            output.flush().context(&writing)?;
            classified += batch.len();
        }
    }
}

impl Job for PredictJob {
    type Output = Predicted;

    /// The classifier's settings; without an input file (texts streamed as plain
    /// lines), no column settings.
    fn validate(&self) -> Result<()> {
        self.classifier.validate()?;
        if self.input.is_none() {
            self.columns.refuse_where_unread(
                true,
                "texts on standard input are plain lines, one text each, with no columns (to \
                 read JSONL, CSV or TSV from standard input, name - as the input file)",
            )?;
        }
        Ok(())
    }

    /// Classifies the input file; writes the predictions to the output file, or
    /// returns them as lines.
    fn execute(&self, observer: &mut dyn Observer) -> Result<Predicted> {
        let Some(input) = &self.input else {
            refuse!("no input file: stream the texts with `run_stream` instead");
        };
        let (classifier, device) = self.classifier.load(observer)?;
        let records = self.columns.read_outcome(input, false, observer)?.records;
        let truth: Vec<Option<Label>> = records.iter().map(|r| r.label.clone()).collect();
        let source = data::source_name(input).display().to_string();
        check_task(classifier.task(), classifier.path(), &truth, &source)?;
        let scores = classify(&classifier, &records, &device, &self.classifier, observer)?;
        let labels = classifier.labels();
        let predicted = classifier.readout().decide(&scores, classifier.outputs());
        let ids: Vec<String> = records.iter().map(|r| r.id.clone()).collect();
        let lines = match &self.output {
            Some(path) => {
                write_predictions(path, labels, &ids, &truth, &scores, &predicted)
                    .for_setting("output")?;
                observer.note(&format!(
                    "wrote {} predictions to {}",
                    ids.len(),
                    artifacts::output_name(path).display()
                ));
                None
            }
            None => Some(prediction_lines(labels, &ids, &truth, &scores, &predicted)),
        };
        Ok(Predicted {
            rows: ids.len(),
            lines,
            report: task_report_if_labelled(labels, &truth, &scores, &predicted),
        })
    }
}

/// Every record's probabilities, with progress.
fn classify(
    classifier: &Classifier,
    records: &[Record],
    device: &Device,
    options: &ClassifierOptions,
    observer: &mut dyn Observer,
) -> Result<Vec<f32>> {
    observer.begin("classifying", records.len());
    let probabilities = classifier.predict_proba(records, options.batch_size, device, &mut |n| {
        observer.advance(n)
    });
    observer.end();
    probabilities
}

/// The full metric report of a saved classifier on labelled data (`bertcls
/// evaluate`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvaluateJob {
    /// The saved model.
    #[serde(flatten)]
    pub classifier: ClassifierOptions,
    /// The labelled data file.
    #[serde(flatten)]
    pub input: Input,
    /// Also write the report as JSON here (`-`: standard output).
    pub json: Option<PathBuf>,
}

/// What [`EvaluateJob::run`] measured.
pub struct Evaluated {
    /// The report (labels the classifier does not know scored as misses).
    pub report: TaskReport,
    /// Inference speed.
    pub docs_per_second: f64,
    /// The classifier's folder.
    pub model: PathBuf,
}

impl EvaluateJob {
    /// Evaluates the classifier in `model` on the labelled file `input`.
    pub fn new(model: impl Into<PathBuf>, input: impl Into<PathBuf>) -> Self {
        Self {
            classifier: ClassifierOptions::new(model),
            input: Input::new(input),
            json: None,
        }
    }
}

impl Job for EvaluateJob {
    type Output = Evaluated;

    fn validate(&self) -> Result<()> {
        self.classifier.validate()
    }

    /// Scores the classifier on the input; writes the report as JSON when asked.
    fn execute(&self, observer: &mut dyn Observer) -> Result<Evaluated> {
        let (classifier, device) = self.classifier.load(observer)?;
        let input = &self.input.input;
        let records = self
            .input
            .columns
            .read_outcome(input, true, observer)?
            .records;
        let truth: Vec<Option<Label>> = records.iter().map(|r| r.label.clone()).collect();
        let source = data::source_name(input).display().to_string();
        check_task(classifier.task(), classifier.path(), &truth, &source)?;
        let started = std::time::Instant::now();
        let scores = classify(&classifier, &records, &device, &self.classifier, observer)?;
        let seconds = started.elapsed().as_secs_f64();
        let labels = classifier.labels();
        let report =
            match classifier.readout() {
                // By name: classes the classifier does not know count as misses.
                Readout::SingleLabel { decision } => TaskReport::SingleLabel(
                    decision.report_names(labels, &true_labels(&records, input)?, &scores),
                ),
                readout => {
                    let predicted = readout.decide(&scores, classifier.outputs());
                    task_report_if_labelled(labels, &truth, &scores, &predicted)
                        .context("every record was read with a label of the model's task")?
                }
            };
        if let Some(path) = &self.json {
            let json = serde_json::to_string_pretty(&report)? + "\n";
            artifacts::write_output_file(path, artifacts::FileKind::MetricReport, json.as_bytes())
                .for_setting("json")?;
        }
        Ok(Evaluated {
            report,
            docs_per_second: records.len() as f64 / seconds.max(1e-9),
            model: classifier.path().to_owned(),
        })
    }
}

//! Benchmarks as jobs: this machine's throughput, as `cargo xtask bench` compares it
//! with PyTorch (`scripts/reference/bench_*.py` run the same workloads).

use std::time::Instant;

use crate::Job;
use crate::error::{Context, Result};
use bert::Precision;
use bert::burn::tensor::{Distribution, Tensor};
use data::LabelMap;
use encoder::{EmbedOptions, FrozenEncoder};
use joint::{ClassifierConfig, Examples, FineTuneConfig, Optimization};
use serde::{Deserialize, Serialize};
use text::{Encoding, length_order};

use crate::Observer;
use crate::machine::peak_rss_mib;
use crate::options::{Input, ModelOptions};

/// The fine-tuning recipe the step benchmark times (Hugging Face's defaults).
const LEARNING_RATE: f64 = 5e-5;
const WEIGHT_DECAY: f64 = 0.01;
const MAX_GRAD_NORM: f64 = 1.0;
const SEED: u64 = 42;

/// Encoder inference speed: one full batch, and a whole data set in length-sorted
/// batches (`bertcls bench encoder`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchEncoderJob {
    /// The model to time.
    #[serde(flatten)]
    pub model: ModelOptions,
    /// The texts to time it on.
    #[serde(flatten)]
    pub input: Input,
    /// Sequences per forward pass.
    pub batch_size: usize,
    /// Timed runs of the fixed batch and the matmul, after one warm-up; the median is reported.
    pub repeats: usize,
    /// What the encoder layers' linear layers compute in: fp32, int8 (CPU backends;
    /// weights quantised per output channel, activations per token) or bf16 (CPU
    /// backends; products summed in f32).
    #[serde(default)]
    pub precision: Precision,
}

/// Fine-tuning speed: full training steps (forward, backward, clipping, AdamW) on full
/// batches (`bertcls bench step`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchStepJob {
    /// The model to time.
    #[serde(flatten)]
    pub model: ModelOptions,
    /// A labelled data file.
    #[serde(flatten)]
    pub input: Input,
    /// Batch sizes to time, smallest first (peak memory is that of the largest).
    pub batch_sizes: Vec<usize>,
    /// Timed steps per batch size, after one warm-up step; the median is reported.
    pub repeats: usize,
    /// Time fine-tuning only the top K layers, for each K given (e.g. 6,2,1), from
    /// their stored input states as `finetune --train-layers K` trains; by default
    /// every layer (ordinary fine-tuning). The states are computed before timing, in
    /// memory.
    pub train_layers: Vec<usize>,
}

/// What [`BenchEncoderJob`] measured, in the shape the PyTorch script writes too.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EncoderTimings {
    /// What ran: this crate's version and the backend.
    pub implementation: String,
    /// What the encoder's linear layers computed in.
    #[serde(default)]
    pub precision: Precision,
    /// Threads the machine offers.
    pub threads: usize,
    /// Median seconds of a [4096, 384] × [384, 1536] product: the machine's rate.
    #[serde(rename = "matmul_4096x384x1536_seconds")]
    pub matmul_seconds: f64,
    /// The fixed full batch.
    pub fixed: Pass,
    /// The pass over every text in length-sorted batches.
    pub sorted: Pass,
    /// The process's peak resident memory.
    pub peak_rss_mib: Option<f64>,
}

/// One timed pass of the encoder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pass {
    /// Sequences encoded.
    pub sequences: usize,
    /// Real tokens among them.
    pub tokens: usize,
    /// Tokens with padding (the sorted pass only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub padded_tokens: Option<usize>,
    /// Wall seconds (the median, for the fixed batch).
    pub seconds: f64,
}

/// What [`BenchStepJob`] measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepTimings {
    /// What ran: this crate's version and the backend.
    pub implementation: String,
    /// Threads the machine offers.
    pub threads: usize,
    /// One entry per batch size.
    pub steps: Vec<StepTiming>,
    /// The process's peak resident memory.
    pub peak_rss_mib: Option<f64>,
}

/// The median time of one training step at one batch size.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepTiming {
    /// The top layers trained (from stored states below them); `None`: all of them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train_layers: Option<usize>,
    /// Sequences per step.
    pub batch_size: usize,
    /// Tokens per step (every sequence is full).
    pub tokens: usize,
    /// Median wall seconds of a step.
    pub seconds: f64,
}

fn implementation(model: &ModelOptions) -> String {
    format!(
        "bertcls {} (burn, {})",
        env!("CARGO_PKG_VERSION"),
        model.backend
    )
}

fn threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

impl Job for BenchEncoderJob {
    type Output = EncoderTimings;

    fn validate(&self) -> Result<()> {
        settings::at_least_one("batch_size", self.batch_size)?;
        settings::at_least_one("repeats", self.repeats)?;
        Ok(())
    }

    /// Times the encoder on the input's texts.
    fn execute(&self, observer: &mut dyn Observer) -> Result<EncoderTimings> {
        time_encoder(self, observer)
    }
}

impl Job for BenchStepJob {
    type Output = StepTimings;

    fn validate(&self) -> Result<()> {
        if self.batch_sizes.is_empty() || self.batch_sizes.contains(&0) {
            let sizes: Vec<String> = self.batch_sizes.iter().map(usize::to_string).collect();
            return Err(settings::SettingError::new(
                "batch_sizes",
                sizes.join(","),
                "needs sizes of at least 1, e.g. 16,32",
            )
            .into());
        }
        settings::at_least_one("repeats", self.repeats)?;
        Ok(())
    }

    /// Times training steps on the input's first full-length texts.
    fn execute(&self, observer: &mut dyn Observer) -> Result<StepTimings> {
        time_steps(self, observer)
    }
}

fn time_encoder(args: &BenchEncoderJob, observer: &mut dyn Observer) -> Result<EncoderTimings> {
    crate::observe::note_missing_instructions(observer, args.precision);
    let records = args.input.read(false, observer)?;
    let (bert, device) = args.model.load()?;
    let options = EmbedOptions {
        batch_size: args.batch_size,
        precision: args.precision,
        ..EmbedOptions::default()
    };
    let encoder = FrozenEncoder::new(bert, device.clone(), options)?;
    let encodings = encoder.tokenize(&records)?;
    let max_len = args.model.max_len;

    let matrix = Tensor::<2>::random([4096, 384], Distribution::Normal(0.0, 1.0), &device);
    let weight = Tensor::<2>::random([384, 1536], Distribution::Normal(0.0, 1.0), &device);
    // The product the model's layers run (`bert::kernels`), not burn's own, which
    // spends a tenth of its time allocating and copying its output.
    let matmul_seconds = median_seconds(args.repeats, || {
        bert::kernels::matmul(matrix.clone(), weight.clone()).into_data();
        Ok(())
    })?;

    let full = full_rows(&encodings, max_len, args.batch_size, &args.input)?;
    let full: Vec<&Encoding> = full.iter().map(|&i| &encodings[i]).collect();
    let fixed_seconds = median_seconds(args.repeats, || {
        encoder.embed_batch(&full);
        Ok(())
    })?;

    let order = length_order(&encodings);
    let longest: Vec<&Encoding> = order
        .iter()
        .rev()
        .take(args.batch_size)
        .map(|&i| &encodings[i])
        .collect();
    encoder.embed_batch(&longest);
    observer.begin("timing the sorted pass", records.len());
    let start = Instant::now();
    let (_, padded_tokens) = encoder.embed_rows(&encodings, &order, &mut |n| observer.advance(n));
    let sorted_seconds = start.elapsed().as_secs_f64();
    observer.end();

    Ok(EncoderTimings {
        implementation: implementation(&args.model),
        precision: args.precision,
        threads: threads(),
        matmul_seconds,
        fixed: Pass {
            sequences: args.batch_size,
            tokens: args.batch_size * max_len,
            padded_tokens: None,
            seconds: fixed_seconds,
        },
        sorted: Pass {
            sequences: encodings.len(),
            tokens: encodings.iter().map(Encoding::len).sum(),
            padded_tokens: Some(padded_tokens),
            seconds: sorted_seconds,
        },
        peak_rss_mib: peak_rss_mib(),
    })
}

fn time_steps(args: &BenchStepJob, observer: &mut dyn Observer) -> Result<StepTimings> {
    let records = args.input.read(true, observer)?;
    let labels = LabelMap::from_records(&records);
    let device = args.model.backend.device()?;
    // The tokenizer and the layer count alone: the weights are loaded per timed
    // recipe, and once more only when states must be computed, so that a plain run
    // holds one model (its peak memory is compared with PyTorch's).
    let encodings = args.model.tokenize(&records)?;
    let config = bert::BertConfig::from_file(args.model.model.join("config.json"))
        .with_context(|| format!("loading the model in {}", args.model.model.display()))?;
    let largest = args.batch_sizes.iter().copied().max().unwrap_or(0);
    let rows = full_rows(&encodings, args.model.max_len, largest, &args.input)?;
    let targets: Vec<usize> = rows
        .iter()
        .map(|&i| records[i].class().and_then(|l| labels.index(l)))
        .collect::<Option<_>>()
        .context("every record read with labels has a known label")?;
    let examples = Examples {
        encodings: rows.iter().map(|&i| encodings[i].clone()).collect(),
        labels: targets,
        variants: 0,
        soft_targets: None,
        states: None,
    };
    let num_layers = config.num_hidden_layers;
    let encoder = if args.train_layers.iter().any(|&k| k < num_layers) {
        let (bert, device) = args.model.load()?;
        Some(FrozenEncoder::new(bert, device, EmbedOptions::default())?)
    } else {
        None
    };
    let tops: Vec<Option<usize>> = match args.train_layers.as_slice() {
        [] => vec![None],
        tops => tops.iter().map(|&k| Some(k)).collect(),
    };
    let mut timings = Vec::new();
    for top in tops {
        let config = FineTuneConfig {
            optimization: Optimization {
                learning_rate: LEARNING_RATE,
                weight_decay: WEIGHT_DECAY,
                max_grad_norm: MAX_GRAD_NORM,
                batch_size: largest,
                seed: SEED,
                train_layers: top,
                ..Optimization::default()
            },
            ..FineTuneConfig::default()
        };
        config.validate_for(labels.names(), num_layers)?;
        let examples = match (config.optimization.frozen_bottom(num_layers), &encoder) {
            (Some(bottom), Some(encoder)) => {
                with_states_computed(examples.clone(), encoder, bottom)?
            }
            _ => examples.clone(),
        };
        let timed = time_steps_of(args, &examples, &labels, &config, &device)?;
        timings.extend(timed.into_iter().map(|t| StepTiming {
            train_layers: top,
            ..t
        }));
    }
    Ok(StepTimings {
        implementation: implementation(&args.model),
        threads: threads(),
        steps: timings,
        peak_rss_mib: peak_rss_mib(),
    })
}

/// `examples` carrying their states after layer `bottom`, computed by `encoder`.
fn with_states_computed(
    examples: Examples,
    encoder: &FrozenEncoder,
    bottom: usize,
) -> Result<Examples> {
    let rows: Vec<usize> = (0..examples.len()).collect();
    let (mut states, _) = encoder.states_rows(&examples.encodings, &rows, &[bottom], &mut |_| {});
    let states = bert::InMemoryStates::new(
        bottom,
        encoder.bert().config.hidden_size,
        examples.lengths(),
        states.remove(0),
    );
    Ok(examples.with_states(std::sync::Arc::new(states))?)
}

/// The median step time of `config`'s training at each batch size.
fn time_steps_of(
    args: &BenchStepJob,
    examples: &Examples,
    labels: &LabelMap,
    config: &FineTuneConfig,
    device: &bert::burn::tensor::Device,
) -> Result<Vec<StepTiming>> {
    let (model, parts) = joint::load_for_training(
        &args.model.model,
        args.model.max_len,
        None,
        &ClassifierConfig::default(),
        labels.names(),
        SEED,
        device,
    )?;
    // Exactly the step `bertcls finetune` takes, at the recipe PyTorch's side uses.
    let pad_id = parts.tokenizer.special_tokens().pad;
    let (mut steps, model) =
        joint::Steps::new(model, examples, labels.names(), config, pad_id, device)?;
    // A step consumes the model and returns the updated one.
    let mut model = Some(model);
    let mut timings = Vec::new();
    for &batch_size in &args.batch_sizes {
        let batch: Vec<usize> = (0..batch_size).collect();
        let seconds = median_seconds(args.repeats, || {
            // A failed step ends the timing, so no step runs without the model back.
            let taken = model.take().expect("every step puts the model back");
            let (updated, _loss) = steps.step(taken, &batch)?;
            model = Some(updated);
            Ok(())
        })?;
        timings.push(StepTiming {
            train_layers: None,
            batch_size,
            tokens: batch_size * args.model.max_len,
            seconds,
        });
    }
    Ok(timings)
}

/// The first `count` records whose encodings fill `max_len` tokens: batches with no
/// padding, the same in this benchmark and the PyTorch one.
fn full_rows(
    encodings: &[Encoding],
    max_len: usize,
    count: usize,
    input: &Input,
) -> Result<Vec<usize>> {
    let rows: Vec<usize> = (0..encodings.len())
        .filter(|&i| encodings[i].len() == max_len)
        .take(count)
        .collect();
    if rows.len() < count {
        let requirement = format!(
            "only {} texts of {} fill {max_len} tokens, and a full batch needs {count}: \
             lower it or the batch size",
            rows.len(),
            input.input.display(),
        );
        return Err(settings::SettingError::new("max_len", max_len, requirement).into());
    }
    Ok(rows)
}

/// The median wall time of `repeats` runs of `work`, after one untimed warm-up run;
/// the first error `work` returns ends the timing.
fn median_seconds(repeats: usize, mut work: impl FnMut() -> Result<()>) -> Result<f64> {
    work()?;
    let mut times = (0..repeats.max(1))
        .map(|_| {
            let start = Instant::now();
            work()?;
            Ok(start.elapsed().as_secs_f64())
        })
        .collect::<Result<Vec<f64>>>()?;
    times.sort_by(f64::total_cmp);
    Ok(times[times.len() / 2])
}

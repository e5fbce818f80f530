//! `bertcls bench`: this machine's throughput, as `cargo xtask bench` compares it with
//! PyTorch (`scripts/reference/bench_*.py` run the same workloads).

use std::time::Instant;

use anyhow::{Context, Result, bail};
use bert::BertInput;
use bert::burn::optim::GradientsParams;
use bert::burn::tensor::{Distribution, Int, Tensor, TensorData};
use clap::{Args, Subcommand};
use data::{LabelMap, SplitMix64};
use encoder::{EmbedOptions, FrozenEncoder};
use joint::ClassifierConfig;
use serde_json::json;
use text::{Encoding, length_order};
use training::LossSpec;

use crate::args::{InputArgs, ModelArgs};
use crate::progress;

/// The fine-tuning recipe the step benchmark times (Hugging Face's defaults).
const LEARNING_RATE: f64 = 5e-5;
const WEIGHT_DECAY: f64 = 0.01;
const MAX_GRAD_NORM: f64 = 1.0;
const SEED: u64 = 42;

/// What to measure.
#[derive(Subcommand, Debug)]
pub enum BenchCommand {
    /// Encoder inference: one full batch, and a whole data set in length-sorted batches.
    Encoder(EncoderBenchArgs),
    /// Fine-tuning: full training steps (forward, backward, clipping, AdamW) on full batches.
    Step(StepBenchArgs),
}

/// `bertcls bench encoder`.
#[derive(Args, Debug)]
#[command(after_help = "Example:\n  \
    bertcls bench encoder --input data/r8/test.jsonl\n\n\
    Prints one JSON object: the median time of a fixed batch (the first --batch-size texts \
    that fill --max-len tokens), one pass over every text in length-sorted batches (as \
    `bertcls embed` runs them), a [4096, 384] x [384, 1536] matmul for the machine's rate, \
    and peak memory. `cargo xtask bench encoder` runs it beside PyTorch on R8.")]
pub struct EncoderBenchArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub input: InputArgs,
    /// Sequences per forward pass.
    #[arg(long, default_value_t = 32)]
    pub batch_size: usize,
    /// Timed runs of the fixed batch and the matmul, after one warm-up; the median is reported.
    #[arg(long, default_value_t = 10)]
    pub repeats: usize,
}

/// `bertcls bench step`.
#[derive(Args, Debug)]
#[command(after_help = "Example:\n  \
    bertcls bench step --input data/r8/train.jsonl --batch-sizes 16,32\n\n\
    Prints one JSON object: for each batch size, the median time of a full fine-tuning step \
    (MiniLM + [CLS] pooler + dropout + linear layer, training mode, cross-entropy, global-norm \
    clipping at 1, AdamW at 5e-5 with weight decay 0.01) on the first texts that fill --max-len \
    tokens, and peak memory. `cargo xtask bench step` runs it beside PyTorch.")]
pub struct StepBenchArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// A labelled data file.
    #[command(flatten)]
    pub input: InputArgs,
    /// Batch sizes to time, smallest first (peak memory is that of the largest).
    #[arg(long, value_delimiter = ',', default_value = "16,32")]
    pub batch_sizes: Vec<usize>,
    /// Timed steps per batch size, after one warm-up step; the median is reported.
    #[arg(long, default_value_t = 5)]
    pub repeats: usize,
}

pub fn run(command: BenchCommand) -> Result<()> {
    let results = match command {
        BenchCommand::Encoder(args) => encoder(&args)?,
        BenchCommand::Step(args) => step(&args)?,
    };
    println!("{results}");
    Ok(())
}

fn encoder(args: &EncoderBenchArgs) -> Result<serde_json::Value> {
    let records = args.input.read(false)?;
    let (bert, device) = args.model.load()?;
    let options = EmbedOptions {
        batch_size: args.batch_size,
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
    });

    let full = full_rows(&encodings, max_len, args.batch_size, &args.input)?;
    let full: Vec<&Encoding> = full.iter().map(|&i| &encodings[i]).collect();
    let fixed_seconds = median_seconds(args.repeats, || {
        encoder.embed_batch(&full);
    });

    let order = length_order(&encodings);
    let longest: Vec<&Encoding> = order
        .iter()
        .rev()
        .take(args.batch_size)
        .map(|&i| &encodings[i])
        .collect();
    encoder.embed_batch(&longest);
    let bar = progress::documents(records.len(), "timing the sorted pass");
    let start = Instant::now();
    let (_, padded_tokens) = encoder.embed_rows(&encodings, &order, &mut |n| bar.inc(n as u64));
    let sorted_seconds = start.elapsed().as_secs_f64();
    bar.finish_and_clear();

    Ok(json!({
        "implementation": format!("bertcls {} (burn, {})", env!("CARGO_PKG_VERSION"), args.model.backend),
        "threads": std::thread::available_parallelism().map_or(1, |n| n.get()),
        "matmul_4096x384x1536_seconds": matmul_seconds,
        "fixed": {"sequences": args.batch_size, "tokens": args.batch_size * max_len, "seconds": fixed_seconds},
        "sorted": {
            "sequences": encodings.len(),
            "tokens": encodings.iter().map(Encoding::len).sum::<usize>(),
            "padded_tokens": padded_tokens,
            "seconds": sorted_seconds,
        },
        "peak_rss_mib": progress::peak_rss_mib(),
    }))
}

fn step(args: &StepBenchArgs) -> Result<serde_json::Value> {
    if args.batch_sizes.is_empty() || args.batch_sizes.contains(&0) {
        bail!("--batch-sizes needs sizes of at least 1, e.g. 16,32");
    }
    let records = args.input.read(true)?;
    let labels = LabelMap::from_records(&records);
    let device = args.model.backend.device()?;
    let (model, parts) = joint::load_for_training(
        &args.model.model,
        args.model.max_len,
        None,
        &ClassifierConfig::default(),
        labels.names(),
        SEED,
        &device,
    )?;
    let autodiff = device.autodiff();
    let encodings = parts.tokenizer.encode_all(
        records
            .iter()
            .map(|r| (r.id.as_str(), r.text.as_str(), r.text_b.as_deref())),
    )?;
    let largest = args.batch_sizes.iter().copied().max().unwrap_or(0);
    let rows = full_rows(&encodings, args.model.max_len, largest, &args.input)?;
    let targets: Vec<usize> = rows
        .iter()
        .map(|&i| records[i].label.as_deref().and_then(|l| labels.index(l)))
        .collect::<Option<_>>()
        .context("every record read with labels has a known label")?;
    let loss_fn = LossSpec::default().build(labels.names(), &targets);
    let mut optimizer = joint::build_optimizer(WEIGHT_DECAY);
    let mut rng = SplitMix64::new(SEED);
    // An optimizer step consumes the model and returns the updated one.
    let mut model = Some(model);

    let mut timings = Vec::new();
    for &batch_size in &args.batch_sizes {
        let batch: Vec<&Encoding> = rows[..batch_size].iter().map(|&i| &encodings[i]).collect();
        let input =
            BertInput::from_encodings(&batch, parts.tokenizer.special_tokens().pad, &autodiff);
        let batch_targets: Vec<i64> = targets[..batch_size].iter().map(|&t| t as i64).collect();
        let batch_targets =
            Tensor::<1, Int>::from_data(TensorData::new(batch_targets, [batch_size]), &autodiff);
        let seconds = median_seconds(args.repeats, || {
            let taken = model.take().expect("every step puts the model back");
            let logits = taken.forward_train(&input, &mut rng);
            let loss = loss_fn.forward(logits, batch_targets.clone());
            let mut grads = GradientsParams::from_grads(loss.backward(), &taken);
            joint::clip_global_norm(&taken, &mut grads, MAX_GRAD_NORM);
            model = Some(optimizer.step(LEARNING_RATE, taken, grads));
        });
        timings.push(json!({"batch_size": batch_size, "tokens": batch_size * args.model.max_len, "seconds": seconds}));
    }
    Ok(json!({
        "implementation": format!("bertcls {} (burn, {})", env!("CARGO_PKG_VERSION"), args.model.backend),
        "threads": std::thread::available_parallelism().map_or(1, |n| n.get()),
        "steps": timings,
        "peak_rss_mib": progress::peak_rss_mib(),
    }))
}

/// The first `count` records whose encodings fill `max_len` tokens: batches with no
/// padding, the same in this benchmark and the PyTorch one.
fn full_rows(
    encodings: &[Encoding],
    max_len: usize,
    count: usize,
    input: &InputArgs,
) -> Result<Vec<usize>> {
    let rows: Vec<usize> = (0..encodings.len())
        .filter(|&i| encodings[i].len() == max_len)
        .take(count)
        .collect();
    if rows.len() < count {
        bail!(
            "only {} texts of {} fill {max_len} tokens; a full batch needs {count}: lower --max-len or the batch size",
            rows.len(),
            input.input.display(),
        );
    }
    Ok(rows)
}

/// The median wall time of `repeats` runs of `work`, after one untimed warm-up run.
fn median_seconds(repeats: usize, mut work: impl FnMut()) -> f64 {
    work();
    let mut times: Vec<f64> = (0..repeats.max(1))
        .map(|_| {
            let start = Instant::now();
            work();
            start.elapsed().as_secs_f64()
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

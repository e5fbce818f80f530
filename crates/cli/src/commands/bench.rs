//! `bertcls bench`: this machine's throughput, as `cargo xtask bench` compares it with
//! PyTorch (`scripts/reference/bench_*.py` run the same workloads).

use std::time::Instant;

use anyhow::{Result, bail};
use bert::burn::tensor::{Distribution, Tensor};
use clap::{Args, Subcommand};
use encoder::{EmbedOptions, FrozenEncoder};
use serde_json::json;
use text::{Encoding, length_order};

use crate::args::{InputArgs, ModelArgs};
use crate::progress;

/// What to measure.
#[derive(Subcommand, Debug)]
pub enum BenchCommand {
    /// Encoder inference: one full batch, and a whole data set in length-sorted batches.
    Encoder(EncoderBenchArgs),
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

pub fn run(command: BenchCommand) -> Result<()> {
    let results = match command {
        BenchCommand::Encoder(args) => encoder(&args)?,
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
    let matmul_seconds = median_seconds(args.repeats, || {
        matrix.clone().matmul(weight.clone()).into_data();
    });

    let full: Vec<&Encoding> = encodings
        .iter()
        .filter(|e| e.len() == max_len)
        .take(args.batch_size)
        .collect();
    if full.len() < args.batch_size {
        bail!(
            "only {} texts of {} fill {max_len} tokens; the fixed batch needs {}: lower --max-len or --batch-size",
            full.len(),
            args.input.input.display(),
            args.batch_size
        );
    }
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

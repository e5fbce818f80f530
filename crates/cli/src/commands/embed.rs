use std::path::PathBuf;

use anyhow::{Context, Result};
use bert::Pooling;
use clap::Args;
use encoder::{EmbedOptions, FrozenEncoder, write_npy};

use crate::args::{InputArgs, ModelArgs};
use crate::progress;

/// `bertcls embed`: one vector per record, in input order, as a float32 .npy matrix.
#[derive(Args, Debug)]
#[command(
    after_help = "Example:\n  bertcls embed --input data/r8/test.jsonl --output r8-test.npy --pooling mean\n\n\
    In Python: numpy.load(\"r8-test.npy\").shape == (records, hidden_size)"
)]
pub struct EmbedArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub input: InputArgs,
    /// Where to write the vectors (.npy, float32, records × hidden_size).
    #[arg(long)]
    pub output: PathBuf,
    /// How token states become one vector: cls, mean (mask-aware) or max.
    #[arg(long, default_value_t = Pooling::Mean)]
    pub pooling: Pooling,
    /// Scale each vector to unit length.
    #[arg(long)]
    pub normalize: bool,
    /// Sequences per forward pass (texts are sorted by length first, so padding is small).
    #[arg(long, default_value_t = 32)]
    pub batch_size: usize,
}

pub fn run(args: EmbedArgs) -> Result<()> {
    let records = args.input.read(false)?;
    let (bert, device) = args.model.load()?;
    eprintln!("{}", bert.report);
    let options = EmbedOptions {
        batch_size: args.batch_size,
        pooling: args.pooling,
        normalize: args.normalize,
    };
    let encoder = FrozenEncoder::new(bert, device, options)?;
    let bar = progress::documents(records.len(), "embedding");
    let (embeddings, summary) = encoder
        .embed(&records, &bar)
        .with_context(|| format!("embedding {}", args.input.input.display()))?;
    bar.finish_and_clear();
    write_npy(
        &args.output,
        &embeddings.values,
        embeddings.rows,
        embeddings.dim,
    )?;
    let peak = progress::peak_rss_mib().map_or("?".into(), |m| format!("{m:.0} MiB"));
    eprintln!(
        "embedded {} documents ({} tokens, {:.1}% padding) in {:.1} s: {:.1} docs/s, peak memory {peak}",
        summary.documents,
        summary.tokens,
        100.0 * (1.0 - summary.tokens as f64 / summary.padded_tokens.max(1) as f64),
        summary.seconds,
        summary.docs_per_second(),
    );
    println!("{}", args.output.display());
    Ok(())
}

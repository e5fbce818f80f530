use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use bert::Pooling;
use clap::Args;
use encoder::{
    BuildOutcome, EmbedOptions, EmbeddingSpec, FrozenEncoder, LayerSelection, Shard, build_cache,
    write_npy,
};

use crate::args::{ForceArgs, InputArgs, ModelArgs};
use crate::progress;

/// `bertcls embed`: one vector per record, stored in a reusable embedding cache.
#[derive(Args, Debug)]
#[command(after_help = "Examples:\n  \
    bertcls embed --input data/r8/train.jsonl\n  \
    bertcls embed --input data/r8/test.jsonl --pooling cls --layers mean4 --export-npy r8-test.npy\n\n\
    The same command twice is a cache hit. An interrupted run resumes from its last complete \
    chunk. On a cluster, run `--shard i/N` for i = 0..N-1 as N independent jobs (Slurm array, \
    Kubernetes indexed Job, GNU parallel); `bertcls head` reads the N shard caches as one.")]
pub struct EmbedArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub input: InputArgs,
    /// The cache to write (a NAME.emb folder). Default: in --cache-dir, named after the
    /// input and the fingerprint of everything that decides the vectors.
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// Where caches go when --output is not given.
    #[arg(long, default_value = ".cache/embeddings")]
    pub cache_dir: PathBuf,
    /// How token states become one vector: cls, mean (mask-aware) or max.
    #[arg(long, default_value_t = Pooling::Mean)]
    pub pooling: Pooling,
    /// Which layers: last, meanK (mean of the last K) or concatK (last K side by side).
    #[arg(long, default_value_t = LayerSelection::Last)]
    pub layers: LayerSelection,
    /// Scale each vector to unit length.
    #[arg(long)]
    pub normalize: bool,
    /// Sequences per forward pass (texts are sorted by length first, so padding is small).
    #[arg(long, default_value_t = 32)]
    pub batch_size: usize,
    /// Rows per checkpointed chunk: what an interrupted run can lose at most.
    #[arg(long, default_value_t = 1024)]
    pub chunk_size: usize,
    /// Embed only the i-th of N deterministic slices of the input (0-based), e.g. 2/8.
    #[arg(long)]
    pub shard: Option<Shard>,
    /// Also write the vectors as a float32 .npy matrix (records × width) for numpy.
    /// An existing file there is never replaced (an .npy carries no mark of who
    /// wrote it), unless it holds exactly these vectors already.
    #[arg(long)]
    pub export_npy: Option<PathBuf>,
    #[command(flatten)]
    pub force: ForceArgs,
}

/// Embeds as `args` say; returns the cache's path.
pub fn run(args: EmbedArgs) -> Result<PathBuf> {
    let cache = embed(&args)?;
    if let Some(npy) = &args.export_npy {
        write_npy(npy, cache.vectors(), cache.meta.rows, cache.meta.dim).context("--export-npy")?;
        eprintln!("exported {}", npy.display());
    }
    Ok(cache.path)
}

/// Opens the cache `args` describe when it is up to date, else embeds the input into
/// it; says on stderr which, and what it cost.
pub fn embed(args: &EmbedArgs) -> Result<encoder::EmbeddingCache> {
    let records = args.input.read(false)?;
    let options = EmbedOptions {
        batch_size: args.batch_size,
        pooling: args.pooling,
        layers: args.layers,
        normalize: args.normalize,
    };
    let shard = args
        .shard
        .map(|s| Shard::new(s.index, s.count, records.len()))
        .transpose()
        .with_context(|| format!("--shard in {}", args.input.input.display()))?;
    let spec = EmbeddingSpec::for_run(
        &args.model.model,
        args.model.max_len,
        &options,
        &args.input.input,
        args.input.describe_columns(),
        shard,
    )
    .context("--model")?;
    let path = args
        .output
        .clone()
        .unwrap_or_else(|| default_cache_path(args, &spec));

    // A hit needs no model: only checksums were computed so far.
    let (cache, outcome) = match encoder::EmbeddingCache::open(&path) {
        Ok(cache) if cache.meta.spec.fingerprint() == spec.fingerprint() => {
            (cache, BuildOutcome::Hit)
        }
        _ => {
            let (bert, device) = args.model.load()?;
            eprintln!("{}", bert.report);
            let encoder = FrozenEncoder::new(bert, device, options)?;
            let bar = progress::documents(records.len(), "embedding");
            let rows = spec.shard.map_or(records.len(), |s| s.end - s.start);
            bar.set_length(rows as u64);
            let mut log = progress::LogLines::every(std::time::Duration::from_secs(30));
            let built = build_cache(
                &encoder,
                &records,
                &spec,
                &path,
                args.chunk_size,
                args.force.overwrite(),
                &mut |n| {
                    bar.inc(n as u64);
                    log.maybe(&bar, "embedding");
                },
            )
            .with_context(|| format!("embedding {}", args.input.input.display()))?;
            bar.finish_and_clear();
            built
        }
    };
    report(&outcome, &path, cache.meta.rows, cache.meta.dim);
    Ok(cache)
}

fn default_cache_path(args: &EmbedArgs, spec: &EmbeddingSpec) -> PathBuf {
    let stem = args
        .input
        .input
        .file_stem()
        .map_or("input".into(), |s| s.to_string_lossy().into_owned());
    let shard = spec
        .shard
        .map_or(String::new(), |s| format!("-shard{}of{}", s.index, s.count));
    args.cache_dir
        .join(format!("{stem}-{}{shard}.emb", &spec.fingerprint()[..12]))
}

fn report(outcome: &BuildOutcome, path: &Path, rows: usize, dim: usize) {
    match outcome {
        BuildOutcome::Hit => eprintln!("cache hit: {} ({rows} × {dim})", path.display()),
        BuildOutcome::Built {
            chunks,
            resumed_chunks,
            summary,
        } => {
            if *resumed_chunks > 0 {
                eprintln!("resumed: {resumed_chunks} of {chunks} chunks were already done");
            }
            let peak = progress::peak_rss_mib().map_or("?".into(), |m| format!("{m:.0} MiB"));
            eprintln!(
                "embedded {} documents ({} tokens, {:.1}% padding) in {:.1} s: {:.1} docs/s, peak memory {peak}",
                summary.documents,
                summary.tokens,
                100.0 * (1.0 - summary.tokens as f64 / summary.padded_tokens.max(1) as f64),
                summary.seconds,
                summary.docs_per_second(),
            );
            eprintln!(
                "cache: {} ({rows} × {dim}, {:.1} MiB)",
                path.display(),
                (rows * dim * 4) as f64 / (1 << 20) as f64
            );
        }
    }
}

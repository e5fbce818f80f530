//! Building a cache in chunks, so that an interrupted run (Ctrl-C, a killed job)
//! resumes from the last complete chunk instead of starting over.
//!
//! Records are tokenized and sorted by length; chunk `k` holds sorted positions
//! `k·C .. (k+1)·C`. The order is a function of the records and the tokenizer alone,
//! so a resumed run cuts the same chunks. Each chunk file carries its rows' original
//! indices and a checksum, and is written under a temporary name and renamed: a
//! chunk on disk is complete or absent. Chunks live in the cache's resumable staging
//! folder, stamped with the fingerprint they were computed for.

use std::path::{Path, PathBuf};
use std::time::Instant;

use artifacts::{ArtifactKind, Overwrite, StagedDir};
use data::Record;

use crate::cache::{CacheMeta, FORMAT_VERSION, io_error, write_cache};
use crate::chunks::{chunk_path, read_vectors_chunk, write_chunk};
use crate::embed::scatter_rows;
use crate::state_build::{StateBuild, fill, open_targets};
use crate::{
    CacheError, EmbedSummary, EmbeddingCache, EmbeddingSpec, EncodeError, FrozenEncoder, Shard,
    StateCache, StateTarget, build_state_caches,
};
use text::length_order;

/// Errors from building a cache.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The cache could not be read or written.
    #[error(transparent)]
    Cache(#[from] CacheError),
    /// Encoding the records failed.
    #[error(transparent)]
    Encode(#[from] EncodeError),
    /// A state too large for the state cache's 16-bit floats.
    #[error(
        "a token state after layer {layer} is {value}, which 16-bit floats cannot hold \
         (their range is ±65504): this model's states cannot be cached"
    )]
    StateOutOfRange {
        /// The layer whose output it is.
        layer: usize,
        /// The value.
        value: f32,
    },
    /// A state cache's spec names other sequences than those being encoded.
    #[error(
        "the state cache {} is meant for other token ids than the sequences encoded \
         here: its spec must be made from these sequences",
        path.display()
    )]
    OtherTokens {
        /// The state cache.
        path: PathBuf,
    },
    /// State caches of other rows than the pass that is to fill them.
    #[error(
        "state caches of {} asked of a pass over {}: one pass fills the states of \
         its own rows only",
        rows_in_words(*found),
        rows_in_words(*expected)
    )]
    OtherShard {
        /// The rows of the pass: a shard, or `None` for the whole input.
        expected: Option<Shard>,
        /// The rows of a state cache asked of it.
        found: Option<Shard>,
    },
    /// States asked of an encoder in reduced precision: they feed fine-tuning, which
    /// runs in fp32 and must see the states the fp32 model computes.
    #[error("states are computed in fp32 only (they feed fine-tuning): this encoder runs in {0}")]
    StatesNeedFp32(bert::Precision),
    /// A build setting breaks its rule.
    #[error("{0}")]
    Setting(#[from] settings::SettingError),
}

fn rows_in_words(shard: Option<Shard>) -> String {
    shard.map_or("the whole input".into(), |s| format!("shard {s}"))
}

/// How a cache came to be.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum BuildOutcome {
    /// A verified cache with the same fingerprint was already there.
    Hit,
    /// Computed; `resumed_chunks` of `chunks` came from an interrupted run.
    Built {
        /// Chunks in the cache.
        chunks: usize,
        /// Chunks that came from an interrupted build.
        resumed_chunks: usize,
        /// What this build computed.
        summary: EmbedSummary,
    },
}

/// Returns the cache at `path` for `records` embedded as `spec` says: the existing
/// one when its fingerprint matches, else a new one, resuming an interrupted build.
/// With `spec.shard`, only that shard's rows are embedded. `progress` is told how
/// many more rows are done, resumed ones included. What `path` may hold already is
/// decided by `overwrite` (a cache, or with [`Overwrite::AnyOwn`] any artifact of
/// bertcls; never anything else).
pub fn build_cache(
    encoder: &FrozenEncoder,
    records: &[Record],
    spec: &EmbeddingSpec,
    path: &Path,
    chunk_rows: usize,
    overwrite: Overwrite,
    progress: &mut dyn FnMut(usize),
) -> Result<(EmbeddingCache, BuildOutcome), BuildError> {
    let (cache, outcome, _) = build_cache_with_states(
        encoder,
        records,
        spec,
        path,
        &[],
        chunk_rows,
        overwrite,
        progress,
    )?;
    Ok((cache, outcome))
}

/// [`build_cache`], also returning the state caches `states` (the token states of
/// these records, tokenized as `encoder` tokenizes them, after each target's layer;
/// in that order), filled from the same forward passes: the frozen bottom layers run
/// once for the pipeline and for fine-tuning the layers above. Each state cache
/// already built is opened; when only the embedding cache is, the states missing get
/// their own pass through the bottom layers ([`build_state_caches`]). A state cache
/// built alongside the vectors records as its build time only what the states added
/// (keeping, rounding and writing them), and the embedding cache the rest. With a
/// shard, the state targets must be of the same shard ([`StateSpec::sharded`](crate::StateSpec::sharded)).
#[allow(clippy::too_many_arguments)]
pub fn build_cache_with_states(
    encoder: &FrozenEncoder,
    records: &[Record],
    spec: &EmbeddingSpec,
    path: &Path,
    states: &[StateTarget],
    chunk_rows: usize,
    overwrite: Overwrite,
    progress: &mut dyn FnMut(usize),
) -> Result<(EmbeddingCache, BuildOutcome, Vec<StateCache>), BuildError> {
    settings::at_least_one("chunk_size", chunk_rows)?;
    let fingerprint = spec.fingerprint();
    let existing = EmbeddingCache::open(path)
        .ok()
        .filter(|cache| cache.meta.spec.fingerprint() == fingerprint);
    if states.is_empty()
        && let Some(existing) = existing
    {
        return Ok((existing, BuildOutcome::Hit, Vec::new()));
    }
    if let Some(target) = states.iter().find(|t| t.spec.shard != spec.shard) {
        return Err(BuildError::OtherShard {
            expected: spec.shard,
            found: target.spec.shard,
        });
    }
    let start = Instant::now();
    if let Some(existing) = existing {
        let all = encoder.tokenize(records)?;
        let built = build_state_caches(encoder, &all, states, chunk_rows, overwrite, progress)?;
        let caches = built.into_iter().map(|(cache, _)| cache).collect();
        return Ok((existing, BuildOutcome::Hit, caches));
    }
    let rows = spec.shard.map_or(0..records.len(), |s| s.start..s.end);
    let (encodings, found, pending) = if states.is_empty() {
        (
            encoder.tokenize(&records[rows.clone()])?,
            Vec::new(),
            Vec::new(),
        )
    } else {
        // The state targets are checked against the whole input's sequences, which
        // all shards of one run share.
        let all = encoder.tokenize(records)?;
        let (found, pending, _) = open_targets(encoder, &all, states)?;
        (all[rows.clone()].to_vec(), found, pending)
    };
    let records = &records[rows];
    let mut state_build =
        StateBuild::start(&pending, encoder.bert().config.hidden_size, overwrite)?;
    let (staged, _) =
        StagedDir::resumable(path, ArtifactKind::EmbeddingCache, overwrite, &fingerprint)
            .map_err(CacheError::from)?;
    let partial = staged.path();

    let order = length_order(&encodings);
    let dim = encoder.dim();
    let mut values = vec![0f32; records.len() * dim];

    let chunks: Vec<&[usize]> = order.chunks(chunk_rows).collect();
    let (mut resumed, mut padded_tokens) = (0, 0);
    for (k, chunk) in chunks.iter().enumerate() {
        let chunk_path = chunk_path(partial, k);
        let layers = state_build.missing_layers(k, chunk, &encodings);
        let rows = match read_vectors_chunk(&chunk_path, chunk, dim) {
            Some(rows) if layers.is_empty() => {
                resumed += 1;
                progress(chunk.len());
                rows
            }
            Some(rows) => {
                // The vectors survived an interruption that the states did not.
                let states_started = Instant::now();
                let (states, _) = encoder.states_rows(&encodings, chunk, &layers, progress);
                state_build.charge(states_started.elapsed().as_secs_f64());
                state_build.write(k, chunk, &layers, &states)?;
                resumed += 1;
                rows
            }
            None => {
                let (rows, states, padded) =
                    encoder.embed_rows_with_states(&encodings, chunk, &layers, progress);
                padded_tokens += padded;
                write_chunk(&chunk_path, chunk, bytemuck::cast_slice(&rows))?;
                state_build.write(k, chunk, &layers, &states)?;
                rows
            }
        };
        scatter_rows(&mut values, &rows, chunk, dim);
    }
    let summary = EmbedSummary {
        documents: records.len(),
        tokens: encodings.iter().map(|e| e.len()).sum(),
        padded_tokens,
        seconds: start.elapsed().as_secs_f64() - state_build.seconds(),
    };
    let meta = CacheMeta {
        format_version: FORMAT_VERSION,
        spec: spec.clone(),
        fingerprint,
        rows: records.len(),
        dim,
        ids: records.iter().map(|r| r.id.clone()).collect(),
        labels: records.iter().map(|r| r.label.clone()).collect(),
        build: Some(summary),
    };
    // Chunks are no longer needed once the assembled cache is in place.
    for k in 0..chunks.len() {
        let chunk_path = chunk_path(partial, k);
        std::fs::remove_file(&chunk_path).map_err(io_error("remove", &chunk_path))?;
    }
    write_cache(partial, &meta, &values)?;
    staged.commit(true).map_err(CacheError::from)?;
    let built = if state_build.is_empty() {
        Vec::new()
    } else {
        state_build.finish(&encodings, &chunks, summary)?
    };
    let outcome = BuildOutcome::Built {
        chunks: chunks.len(),
        resumed_chunks: resumed,
        summary,
    };
    Ok((EmbeddingCache::open(path)?, outcome, fill(found, built)))
}

/// Where an interrupted build of the cache `path` keeps its finished chunks.
pub fn partial_dir(path: &Path) -> PathBuf {
    StagedDir::resumable_path(path)
}

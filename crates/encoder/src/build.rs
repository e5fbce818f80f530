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
use crate::{CacheError, EmbedSummary, EmbeddingCache, EmbeddingSpec, EncodeError, FrozenEncoder};
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
    /// A build setting breaks its rule.
    #[error("{0}")]
    Setting(#[from] settings::SettingError),
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
    settings::at_least_one("chunk_size", chunk_rows)?;
    let fingerprint = spec.fingerprint();
    if let Ok(existing) = EmbeddingCache::open(path)
        && existing.meta.spec.fingerprint() == fingerprint
    {
        return Ok((existing, BuildOutcome::Hit));
    }
    let records = match spec.shard {
        Some(shard) => &records[shard.start..shard.end],
        None => records,
    };
    let start = Instant::now();
    let (staged, _) =
        StagedDir::resumable(path, ArtifactKind::EmbeddingCache, overwrite, &fingerprint)
            .map_err(CacheError::from)?;
    let partial = staged.path();

    let encodings = encoder.tokenize(records)?;
    let order = length_order(&encodings);
    let dim = encoder.dim();
    let mut values = vec![0f32; records.len() * dim];

    let chunks: Vec<&[usize]> = order.chunks(chunk_rows).collect();
    let (mut resumed, mut padded_tokens) = (0, 0);
    for (k, chunk) in chunks.iter().enumerate() {
        let chunk_path = chunk_path(partial, k);
        let rows = match read_vectors_chunk(&chunk_path, chunk, dim) {
            Some(rows) => {
                resumed += 1;
                progress(chunk.len());
                rows
            }
            None => {
                let (rows, padded) = encoder.embed_rows(&encodings, chunk, progress);
                padded_tokens += padded;
                write_chunk(&chunk_path, chunk, bytemuck::cast_slice(&rows))?;
                rows
            }
        };
        scatter_rows(&mut values, &rows, chunk, dim);
    }
    let summary = EmbedSummary {
        documents: records.len(),
        tokens: encodings.iter().map(|e| e.len()).sum(),
        padded_tokens,
        seconds: start.elapsed().as_secs_f64(),
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
    let outcome = BuildOutcome::Built {
        chunks: chunks.len(),
        resumed_chunks: resumed,
        summary,
    };
    Ok((EmbeddingCache::open(path)?, outcome))
}

/// Where an interrupted build of the cache `path` keeps its finished chunks.
pub fn partial_dir(path: &Path) -> PathBuf {
    StagedDir::resumable_path(path)
}

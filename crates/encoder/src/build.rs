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
use sha2::{Digest, Sha256};

use crate::cache::{CacheMeta, FORMAT_VERSION, io_error, write_cache};
use crate::embed::scatter_rows;
use crate::{CacheError, EmbedSummary, EmbeddingCache, EmbeddingSpec, EncodeError, FrozenEncoder};
use text::length_order;

const CHUNK_MAGIC: &[u8; 8] = b"BCLSCHK\x01";

/// Errors from building a cache.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The cache could not be read or written.
    #[error(transparent)]
    Cache(#[from] CacheError),
    /// Encoding the records failed.
    #[error(transparent)]
    Encode(#[from] EncodeError),
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
        let chunk_path = partial.join(format!("chunk-{k:06}.bin"));
        let rows = match read_chunk(&chunk_path, chunk, dim) {
            Some(rows) => {
                resumed += 1;
                progress(chunk.len());
                rows
            }
            None => {
                let (rows, padded) = encoder.embed_rows(&encodings, chunk, progress);
                padded_tokens += padded;
                write_chunk(&chunk_path, chunk, &rows)?;
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
        let chunk_path = partial.join(format!("chunk-{k:06}.bin"));
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

fn write_chunk(path: &Path, indices: &[usize], rows: &[f32]) -> Result<(), CacheError> {
    let mut bytes = Vec::with_capacity(24 + indices.len() * 8 + rows.len() * 4 + 32);
    bytes.extend_from_slice(CHUNK_MAGIC);
    bytes.extend_from_slice(&(indices.len() as u64).to_le_bytes());
    bytes.extend_from_slice(&(rows.len() as u64).to_le_bytes());
    for &i in indices {
        bytes.extend_from_slice(&(i as u64).to_le_bytes());
    }
    bytes.extend_from_slice(bytemuck::cast_slice(rows));
    let checksum = Sha256::digest(&bytes);
    bytes.extend_from_slice(&checksum);
    Ok(artifacts::write_atomic(path, &bytes)?)
}

/// The rows of a complete, intact chunk holding exactly `indices`; `None` otherwise
/// (absent, torn, or cut differently), and the chunk is then recomputed.
fn read_chunk(path: &Path, indices: &[usize], dim: usize) -> Option<Vec<f32>> {
    let bytes = std::fs::read(path).ok()?;
    let (body, checksum) = bytes.split_at_checked(bytes.len().checked_sub(32)?)?;
    if Sha256::digest(body).as_slice() != checksum || !body.starts_with(CHUNK_MAGIC) {
        return None;
    }
    let u64_at =
        |i: usize| u64::from_le_bytes(body[i..i + 8].try_into().expect("8 bytes")) as usize;
    let (count, values) = (u64_at(8), u64_at(16));
    if count != indices.len() || values != count * dim || body.len() != 24 + count * 8 + values * 4
    {
        return None;
    }
    let stored: Vec<usize> = (0..count).map(|j| u64_at(24 + j * 8)).collect();
    if stored != indices {
        return None;
    }
    let payload = &body[24 + count * 8..];
    Some(
        payload
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().expect("4 bytes")))
            .collect(),
    )
}

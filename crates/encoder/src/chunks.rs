//! Chunk files: a resumable build's finished pieces. Each holds its rows' original
//! indices, their payload (the rows, in any element type) and a checksum over both,
//! and is written under a temporary name and renamed: a chunk on disk is complete or
//! absent, and one cut differently or damaged reads as absent and is recomputed.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::CacheError;

/// Version 2: the payload's length in bytes (any row type), not a count of f32s.
const CHUNK_MAGIC: &[u8; 8] = b"BCLSCHK\x02";

/// Where chunk `k` of a build staged in `partial` lives.
pub(crate) fn chunk_path(partial: &Path, k: usize) -> PathBuf {
    partial.join(format!("chunk-{k:06}.bin"))
}

/// Writes a chunk: the rows' original `indices` and their `payload`, with a
/// checksum over both, under a temporary name and renamed.
pub(crate) fn write_chunk(
    path: &Path,
    indices: &[usize],
    payload: &[u8],
) -> Result<(), CacheError> {
    let mut bytes = Vec::with_capacity(24 + indices.len() * 8 + payload.len() + 32);
    bytes.extend_from_slice(CHUNK_MAGIC);
    bytes.extend_from_slice(&(indices.len() as u64).to_le_bytes());
    bytes.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    for &i in indices {
        bytes.extend_from_slice(&(i as u64).to_le_bytes());
    }
    bytes.extend_from_slice(payload);
    let checksum = Sha256::digest(&bytes);
    bytes.extend_from_slice(&checksum);
    Ok(artifacts::write_atomic(path, &bytes)?)
}

/// The payload of a complete, intact chunk holding exactly `indices` in
/// `payload_len` bytes; `None` otherwise (absent, torn, or cut differently), and the
/// chunk is then recomputed.
pub(crate) fn read_chunk(path: &Path, indices: &[usize], payload_len: usize) -> Option<Vec<u8>> {
    let mut bytes = std::fs::read(path).ok()?;
    let body_len = bytes.len().checked_sub(32)?;
    let (body, checksum) = bytes.split_at(body_len);
    if Sha256::digest(body).as_slice() != checksum || !body.starts_with(CHUNK_MAGIC) {
        return None;
    }
    let u64_at = |i: usize| {
        body.get(i..i + 8)
            .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")) as usize)
    };
    let (count, stored_len) = (u64_at(8)?, u64_at(16)?);
    let header = 24 + count.checked_mul(8)?;
    if count != indices.len() || stored_len != payload_len || body.len() != header + payload_len {
        return None;
    }
    if (0..count).any(|j| u64_at(24 + j * 8) != Some(indices[j])) {
        return None;
    }
    bytes.truncate(body_len);
    Some(bytes.split_off(header))
}

/// The f32 rows of an embedding chunk.
pub(crate) fn read_vectors_chunk(path: &Path, indices: &[usize], dim: usize) -> Option<Vec<f32>> {
    let payload = read_chunk(path, indices, indices.len() * dim * 4)?;
    Some(
        payload
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().expect("4 bytes")))
            .collect(),
    )
}

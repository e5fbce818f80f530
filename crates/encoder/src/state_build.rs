//! Building state caches in chunks, several layers in one pass.
//!
//! As with embeddings ([`build_cache`](crate::build_cache)), sequences are sorted by
//! length and cut into chunks of sorted positions; each finished chunk is a file in
//! the cache's resumable staging folder, so an interrupted build resumes from the last
//! complete chunk. One forward pass up to the highest layer asked for serves every
//! cache: the states after layers 3, 4 and 5 cost one pass through five layers, not
//! three passes. [`partial_dir`](crate::partial_dir) names the staging folder. The
//! assembled file stores the sequences in that sorted order, each found through its
//! offset, so it is written chunk after chunk without holding all states in memory.

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use artifacts::{ArtifactKind, Overwrite, StagedDir};
use text::{Encoding, length_order};

use crate::cache::io_error;
use crate::chunks::{chunk_path, read_chunk, write_chunk};
use crate::states::{STATES_FORMAT_VERSION, StateMeta, states_header, to_f16};
use crate::{
    BuildError, BuildOutcome, CacheError, EmbedSummary, EncodeError, FrozenEncoder, StateCache,
    StateSpec,
};

/// One state cache to build: what it holds and where it goes.
#[derive(Debug, Clone)]
pub struct StateTarget {
    /// The states it holds (its `after_layer` says which).
    pub spec: StateSpec,
    /// The `NAME.states` folder.
    pub path: PathBuf,
}

impl StateTarget {
    /// The cache at `path` when it is intact and holds exactly these states: a hit,
    /// decided from checksums alone, without the model.
    pub fn open_current(&self) -> Option<StateCache> {
        StateCache::open(&self.path)
            .ok()
            .filter(|cache| cache.meta.fingerprint == self.spec.fingerprint())
    }
}

/// Returns the state cache of every target: the existing one when its fingerprint
/// matches, else a new one, resuming an interrupted build; all new ones from one
/// forward pass. `progress` is told how many more sequences are done, resumed ones
/// included (once per pass, not per cache). What a target path may hold already is
/// decided by `overwrite`, as for embedding caches.
pub fn build_state_caches(
    encoder: &FrozenEncoder,
    encodings: &[Encoding],
    targets: &[StateTarget],
    chunk_rows: usize,
    overwrite: Overwrite,
    progress: &mut dyn FnMut(usize),
) -> Result<Vec<(StateCache, BuildOutcome)>, BuildError> {
    settings::at_least_one("chunk_size", chunk_rows)?;
    if encodings.is_empty() {
        return Err(EncodeError::NoRecords.into());
    }
    if let Some(target) = targets
        .iter()
        .find(|t| t.spec.after_layer > encoder.num_layers())
    {
        return Err(EncodeError::Layers(format!(
            "states after layer {} asked of a model of {} layers",
            target.spec.after_layer,
            encoder.num_layers()
        ))
        .into());
    }
    let mut results: Vec<Option<(StateCache, BuildOutcome)>> = targets
        .iter()
        .map(|t| t.open_current().map(|cache| (cache, BuildOutcome::Hit)))
        .collect();
    let pending: Vec<&StateTarget> = targets
        .iter()
        .zip(&results)
        .filter(|(_, hit)| hit.is_none())
        .map(|(t, _)| t)
        .collect();
    if !pending.is_empty() {
        let mut built = build_pending(
            encoder, encodings, &pending, chunk_rows, overwrite, progress,
        )?
        .into_iter();
        for slot in results.iter_mut().filter(|r| r.is_none()) {
            *slot = built.next();
        }
    }
    Ok(results
        .into_iter()
        .map(|r| r.expect("every target is a hit or built"))
        .collect())
}

/// One cache being built: its staging folder and the target it becomes.
struct Staged<'a> {
    target: &'a StateTarget,
    dir: StagedDir,
}

fn build_pending(
    encoder: &FrozenEncoder,
    encodings: &[Encoding],
    pending: &[&StateTarget],
    chunk_rows: usize,
    overwrite: Overwrite,
    progress: &mut dyn FnMut(usize),
) -> Result<Vec<(StateCache, BuildOutcome)>, BuildError> {
    let start = Instant::now();
    let staged = pending
        .iter()
        .map(|target| {
            let fingerprint = target.spec.fingerprint();
            StagedDir::resumable(
                &target.path,
                ArtifactKind::StateCache,
                overwrite,
                &fingerprint,
            )
            .map(|(dir, _)| Staged { target, dir })
            .map_err(CacheError::from)
        })
        .collect::<Result<Vec<_>, _>>()?;
    let width = encoder.bert().config.hidden_size;
    let order = length_order(encodings);
    let chunks: Vec<&[usize]> = order.chunks(chunk_rows).collect();
    let (mut resumed, mut padded_tokens) = (0, 0);
    for (k, chunk) in chunks.iter().enumerate() {
        let bytes = chunk.iter().map(|&i| encodings[i].len()).sum::<usize>() * width * 2;
        let missing: Vec<&Staged<'_>> = staged
            .iter()
            .filter(|s| read_chunk(&chunk_path(s.dir.path(), k), chunk, bytes).is_none())
            .collect();
        if missing.is_empty() {
            resumed += 1;
            progress(chunk.len());
            continue;
        }
        let layers: Vec<usize> = missing.iter().map(|s| s.target.spec.after_layer).collect();
        let (states, padded) = encoder.states_rows(encodings, chunk, &layers, progress);
        padded_tokens += padded;
        for (s, values) in missing.iter().zip(&states) {
            let rounded = to_f16(values).map_err(|value| BuildError::StateOutOfRange {
                layer: s.target.spec.after_layer,
                value,
            })?;
            write_chunk(
                &chunk_path(s.dir.path(), k),
                chunk,
                bytemuck::cast_slice(&rounded),
            )?;
        }
    }
    let summary = EmbedSummary {
        documents: encodings.len(),
        tokens: encodings.iter().map(Encoding::len).sum(),
        padded_tokens,
        seconds: start.elapsed().as_secs_f64(),
    };
    let outcome = BuildOutcome::Built {
        chunks: chunks.len(),
        resumed_chunks: resumed,
        summary,
    };
    staged
        .into_iter()
        .map(|s| {
            let meta = assemble(&s, encodings, &chunks, width, summary)?;
            debug_assert_eq!(meta.tokens(), summary.tokens);
            s.dir.commit(true).map_err(CacheError::from)?;
            Ok((StateCache::open(&s.target.path)?, outcome))
        })
        .collect()
}

/// Writes `states.f16` (the chunks' payloads one after another) and `meta.json` into
/// the staging folder, removing the chunks.
fn assemble(
    staged: &Staged<'_>,
    encodings: &[Encoding],
    chunks: &[&[usize]],
    width: usize,
    summary: EmbedSummary,
) -> Result<StateMeta, CacheError> {
    let partial = staged.dir.path();
    let lengths: Vec<usize> = encodings.iter().map(Encoding::len).collect();
    let mut offsets = vec![0; encodings.len()];
    let mut next = 0;
    for &row in chunks.iter().flat_map(|c| c.iter()) {
        offsets[row] = next;
        next += lengths[row];
    }
    let states_path = partial.join("states.f16");
    let mut file = artifacts::AtomicFile::create(&states_path)?;
    file.write_all(&states_header(next, width))
        .map_err(io_error("write", &states_path))?;
    for (k, chunk) in chunks.iter().enumerate() {
        let path = chunk_path(partial, k);
        let bytes = chunk.iter().map(|&i| lengths[i]).sum::<usize>() * width * 2;
        // Verified again: a chunk damaged since it was written must not be sealed in.
        let payload = read_chunk(&path, chunk, bytes).ok_or_else(|| CacheError::Corrupt {
            path: path.clone(),
            reason: "a finished chunk changed before the cache was assembled".into(),
        })?;
        file.write_all(&payload)
            .map_err(io_error("write", &states_path))?;
    }
    file.commit()?;
    for k in 0..chunks.len() {
        let path = chunk_path(partial, k);
        std::fs::remove_file(&path).map_err(io_error("remove", &path))?;
    }
    let spec = staged.target.spec.clone();
    let meta = StateMeta {
        format_version: STATES_FORMAT_VERSION,
        fingerprint: spec.fingerprint(),
        spec,
        width,
        lengths,
        offsets,
        build: Some(summary),
    };
    artifacts::write_json(&partial.join("meta.json"), &meta)?;
    Ok(meta)
}

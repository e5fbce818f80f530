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
use crate::states::{STATES_FORMAT_VERSION, StateMeta, states_header, to_f16, tokens_sha256};
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
/// forward pass. `encodings` are the whole input's sequences; targets of a shard
/// (all of the same one) hold only its rows. `progress` is told how many more sequences are done, resumed ones
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
    let (found, pending, rows) = open_targets(encoder, encodings, targets)?;
    let found = found
        .into_iter()
        .map(|hit| hit.map(|cache| (cache, BuildOutcome::Hit)))
        .collect();
    let built = if pending.is_empty() {
        Vec::new()
    } else {
        build_pending(
            encoder,
            &encodings[rows],
            &pending,
            chunk_rows,
            overwrite,
            progress,
        )?
    };
    Ok(fill(found, built))
}

/// What [`open_targets`] finds: every target's cache or `None`, in order; the
/// targets still to build; the rows of the input they hold.
pub(crate) type OpenedTargets<'a> = (
    Vec<Option<StateCache>>,
    Vec<&'a StateTarget>,
    std::ops::Range<usize>,
);

/// Checks `targets` against the encoder and the sequences (`encodings`, the whole
/// input's) whose states they are to hold, and opens those already built.
pub(crate) fn open_targets<'a>(
    encoder: &FrozenEncoder,
    encodings: &[Encoding],
    targets: &'a [StateTarget],
) -> Result<OpenedTargets<'a>, BuildError> {
    if encodings.is_empty() {
        return Err(EncodeError::NoRecords.into());
    }
    let precision = encoder.options().precision;
    if !targets.is_empty() && precision != bert::Precision::Fp32 {
        return Err(BuildError::StatesNeedFp32(precision));
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
    let tokens = tokens_sha256(encodings);
    if let Some(target) = targets.iter().find(|t| t.spec.tokens_sha256 != tokens) {
        return Err(BuildError::OtherTokens {
            path: target.path.clone(),
        });
    }
    let shard = targets.first().and_then(|t| t.spec.shard);
    if let Some(other) = targets.iter().find(|t| t.spec.shard != shard) {
        return Err(BuildError::OtherShard {
            expected: shard,
            found: other.spec.shard,
        });
    }
    if let Some(target) = targets.iter().find(|t| {
        t.spec
            .shard
            .is_some_and(|s| s.total != encodings.len() || s.end > s.total)
    }) {
        return Err(BuildError::OtherTokens {
            path: target.path.clone(),
        });
    }
    let found: Vec<Option<StateCache>> = targets.iter().map(StateTarget::open_current).collect();
    let pending = targets
        .iter()
        .zip(&found)
        .filter(|(_, hit)| hit.is_none())
        .map(|(t, _)| t)
        .collect();
    let rows = shard.map_or(0..encodings.len(), |s| s.start..s.end);
    Ok((found, pending, rows))
}

/// `found` with each empty slot filled, in order, from `built`.
pub(crate) fn fill<T>(found: Vec<Option<T>>, built: Vec<T>) -> Vec<T> {
    let mut built = built.into_iter();
    found
        .into_iter()
        .map(|slot| {
            slot.or_else(|| built.next())
                .expect("one built per missing cache")
        })
        .collect()
}

/// One cache being built: its staging folder and the target it becomes.
struct Staged<'a> {
    target: &'a StateTarget,
    dir: StagedDir,
}

/// State caches under construction, chunk by chunk: the staging folders, which chunks
/// each still lacks, and the assembly at the end. Both builders use it: the state
/// builder's own pass through the bottom layers, and an embedding pass that keeps the
/// states on its way up ([`build_cache_with_states`](crate::build_cache_with_states)).
pub(crate) struct StateBuild<'a> {
    staged: Vec<Staged<'a>>,
    width: usize,
    /// Seconds spent on the states alone: rounding, writing and assembling them, and
    /// any forward pass run only for them ([`StateBuild::charge`]).
    seconds: f64,
}

impl<'a> StateBuild<'a> {
    /// Stages every target of `pending` (resuming the chunks an interrupted build
    /// left), for states `width` floats per token; `overwrite` decides what a target
    /// path may hold already.
    pub(crate) fn start(
        pending: &[&'a StateTarget],
        width: usize,
        overwrite: Overwrite,
    ) -> Result<Self, BuildError> {
        let staged = pending
            .iter()
            .map(|&target| {
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
        Ok(Self {
            staged,
            width,
            seconds: 0.0,
        })
    }

    /// Nothing to build.
    pub(crate) fn is_empty(&self) -> bool {
        self.staged.is_empty()
    }

    /// The layers whose chunk `k` (the sorted positions `chunk`) is not on disk yet.
    pub(crate) fn missing_layers(
        &self,
        k: usize,
        chunk: &[usize],
        encodings: &[Encoding],
    ) -> Vec<usize> {
        let bytes = chunk.iter().map(|&i| encodings[i].len()).sum::<usize>() * self.width * 2;
        self.staged
            .iter()
            .filter(|s| read_chunk(&chunk_path(s.dir.path(), k), chunk, bytes).is_none())
            .map(|s| s.target.spec.after_layer)
            .collect()
    }

    /// Rounds and writes chunk `k` of each cache of `layers`, whose states (as
    /// [`FrozenEncoder::states_rows`] returns them) are `states`, in that order.
    pub(crate) fn write(
        &mut self,
        k: usize,
        chunk: &[usize],
        layers: &[usize],
        states: &[Vec<f32>],
    ) -> Result<(), BuildError> {
        let start = Instant::now();
        for (&layer, values) in layers.iter().zip(states) {
            let rounded =
                to_f16(values).map_err(|value| BuildError::StateOutOfRange { layer, value })?;
            for s in self
                .staged
                .iter()
                .filter(|s| s.target.spec.after_layer == layer)
            {
                write_chunk(
                    &chunk_path(s.dir.path(), k),
                    chunk,
                    bytemuck::cast_slice(&rounded),
                )?;
            }
        }
        self.charge(start.elapsed().as_secs_f64());
        Ok(())
    }

    /// Adds `seconds` of work done for the states alone to what they cost.
    pub(crate) fn charge(&mut self, seconds: f64) {
        self.seconds += seconds;
    }

    /// Seconds charged so far.
    pub(crate) fn seconds(&self) -> f64 {
        self.seconds
    }

    /// Assembles and seals every cache, recording `summary` as what building them
    /// computed, its seconds those charged to the states (assembly included).
    pub(crate) fn finish(
        mut self,
        encodings: &[Encoding],
        chunks: &[&[usize]],
        summary: EmbedSummary,
    ) -> Result<Vec<StateCache>, BuildError> {
        let start = Instant::now();
        let staged = std::mem::take(&mut self.staged);
        let mut built = Vec::with_capacity(staged.len());
        for s in staged {
            let record = EmbedSummary {
                seconds: self.seconds + start.elapsed().as_secs_f64(),
                ..summary
            };
            let meta = assemble(&s, encodings, chunks, self.width, record)?;
            debug_assert_eq!(meta.tokens(), summary.tokens);
            s.dir.commit(true).map_err(CacheError::from)?;
            built.push(StateCache::open(&s.target.path)?);
        }
        Ok(built)
    }
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
    let mut build = StateBuild::start(pending, encoder.bert().config.hidden_size, overwrite)?;
    let order = length_order(encodings);
    let chunks: Vec<&[usize]> = order.chunks(chunk_rows).collect();
    let (mut resumed, mut padded_tokens) = (0, 0);
    for (k, chunk) in chunks.iter().enumerate() {
        let layers = build.missing_layers(k, chunk, encodings);
        if layers.is_empty() {
            resumed += 1;
            progress(chunk.len());
            continue;
        }
        let pass = Instant::now();
        let (states, padded) = encoder.states_rows(encodings, chunk, &layers, progress);
        build.charge(pass.elapsed().as_secs_f64());
        padded_tokens += padded;
        build.write(k, chunk, &layers, &states)?;
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
    let caches = build.finish(encodings, &chunks, summary)?;
    Ok(caches.into_iter().map(|cache| (cache, outcome)).collect())
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

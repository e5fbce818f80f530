//! The state caches that fine-tuning the top layers reads (`finetune --train-layers K`):
//! found by their fingerprint, built in one frozen pass where missing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use artifacts::Overwrite;
use encoder::{
    EmbedOptions, FrozenEncoder, Shard, StateCache, StateSpec, StateTarget, build_state_caches,
};

use crate::Observer;
use crate::error::{Context, Result};
use crate::options::ModelOptions;

/// The folder state caches go to when none is named.
pub const DEFAULT_STATE_CACHE_DIR: &str = ".cache/states";

/// Sequences per checkpointed chunk (about 25 MB of states at max_len 64 on MiniLM):
/// what an interrupted build can lose at most.
const CHUNK_ROWS: usize = 512;

/// The caches of the states of `encodings` (the sequences as the classifier reads
/// them, from the data called `name`) after each layer of `layers`, in that order:
/// those already in `cache_dir` (same fingerprint), the others built in one forward
/// pass through the model's bottom layers.
pub(crate) fn state_caches(
    model: &ModelOptions,
    cache_dir: &Path,
    overwrite: Overwrite,
    encodings: &[text::Encoding],
    name: &str,
    layers: &[usize],
    observer: &mut dyn Observer,
) -> Result<Vec<Arc<StateCache>>> {
    let targets = state_targets(model, cache_dir, encodings, name, layers, None)?;
    // A hit needs no model: only checksums were computed so far. So does a cache
    // whose shards are all there (`embed --shard i/N --states-after L`): merged once.
    let hits = targets
        .iter()
        .map(|target| match target.open_current() {
            Some(hit) => Ok(Some(hit)),
            None => merge_shards_found(target, overwrite, observer),
        })
        .collect::<Result<Vec<_>>>()?;
    if hits.iter().all(Option::is_some) {
        return Ok(hits.into_iter().flatten().map(Arc::new).collect());
    }
    let (bert, device) = model.load()?;
    let encoder = FrozenEncoder::new(bert, device, EmbedOptions::default())?;
    let deepest = layers.iter().max().copied().unwrap_or(0);
    observer.begin(
        &format!(
            "{}: states after layer{} {} (bottom {deepest} layers)",
            name,
            if layers.len() > 1 { "s" } else { "" },
            layer_list(layers)
        ),
        encodings.len(),
    );
    let built = build_state_caches(
        &encoder,
        encodings,
        &targets,
        CHUNK_ROWS,
        overwrite,
        &mut |n| observer.advance(n),
    )
    .with_context(|| format!("caching the states of {}", name));
    observer.end();
    Ok(built?
        .into_iter()
        .map(|(cache, _)| Arc::new(cache))
        .collect())
}

/// Where the states of `encodings` (of the data called `name`; with `shard`, of its
/// rows only) after each layer of `layers` are cached in `cache_dir`, and what they
/// must hold: checksums only, no model loaded.
pub(crate) fn state_targets(
    model: &ModelOptions,
    cache_dir: &Path,
    encodings: &[text::Encoding],
    name: &str,
    layers: &[usize],
    shard: Option<Shard>,
) -> Result<Vec<StateTarget>> {
    layers
        .iter()
        .map(|&layer| {
            let spec = StateSpec::for_run(&model.model, model.max_len, layer, encodings, name)
                .for_setting("model")?;
            let path = cache_path(cache_dir, name, &spec, shard);
            let spec = match shard {
                Some(shard) => spec.sharded(shard),
                None => spec,
            };
            Ok(StateTarget { spec, path })
        })
        .collect()
}

/// The cache of `target` merged from its shards, when `embed --shard i/N` left all N
/// of them in its folder (the smallest such N, if there are several); `None` when
/// no complete set is there.
fn merge_shards_found(
    target: &StateTarget,
    overwrite: Overwrite,
    observer: &mut dyn Observer,
) -> Result<Option<StateCache>> {
    let (Some(dir), Some(stem)) = (target.path.parent(), target.path.file_stem()) else {
        return Ok(None);
    };
    let prefix = format!("{}-shard", stem.to_string_lossy());
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(None);
    };
    // shards[N] = the indices found of a run cut into N shards, and their folders.
    let mut runs: BTreeMap<usize, BTreeMap<usize, PathBuf>> = BTreeMap::new();
    for entry in entries.flatten() {
        let file_name = entry.file_name().to_string_lossy().into_owned();
        let parsed = file_name
            .strip_prefix(&prefix)
            .and_then(|rest| rest.strip_suffix(".states"))
            .and_then(|rest| rest.split_once("of"))
            .and_then(|(i, n)| Some((i.parse::<usize>().ok()?, n.parse::<usize>().ok()?)));
        if let Some((index, count)) = parsed {
            runs.entry(count).or_default().insert(index, entry.path());
        }
    }
    let Some(paths) = runs
        .into_iter()
        .find(|(count, found)| found.len() == *count)
        .map(|(_, found)| found.into_values().collect::<Vec<_>>())
    else {
        return Ok(None);
    };
    let merged = StateCache::merge_shards(&paths, &target.path, overwrite)
        .with_context(|| format!("merging the shards of {}", target.path.display()))?;
    merged
        .check_spec(&target.spec)
        .with_context(|| format!("merging the shards of {}", target.path.display()))?;
    observer.note(&format!(
        "merged {} shards into {}",
        paths.len(),
        target.path.display()
    ));
    Ok(Some(merged))
}

/// The name a data file's caches go by: its file name without the extension.
pub(crate) fn data_name(path: &Path) -> String {
    if data::is_stdin(path) {
        return "stdin".into();
    }
    path.file_stem()
        .map_or("input".into(), |s| s.to_string_lossy().into_owned())
}

/// `NAME-after4-<fingerprint>.states` in `cache_dir`, or for a shard
/// `NAME-after4-<fingerprint>-shard1of3.states`, where the fingerprint is always that
/// of the whole input's states (`spec`, unsharded): the cache its shards merge into.
fn cache_path(cache_dir: &Path, name: &str, spec: &StateSpec, shard: Option<Shard>) -> PathBuf {
    let stem: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let shard = shard.map_or(String::new(), |s| format!("-shard{}of{}", s.index, s.count));
    cache_dir.join(format!(
        "{stem}-after{}-{}{shard}.states",
        spec.after_layer,
        &spec.fingerprint()[..12]
    ))
}

fn layer_list(layers: &[usize]) -> String {
    let names: Vec<String> = layers.iter().map(usize::to_string).collect();
    names.join(", ")
}

//! The state caches that fine-tuning the top layers reads (`finetune --train-layers K`):
//! found by their fingerprint, built in one frozen pass where missing.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use artifacts::Overwrite;
use encoder::{
    EmbedOptions, FrozenEncoder, StateCache, StateSpec, StateTarget, build_state_caches,
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
    let targets = state_targets(model, cache_dir, encodings, name, layers)?;
    // A hit needs no model: only checksums were computed so far.
    let hits: Vec<Option<StateCache>> = targets.iter().map(StateTarget::open_current).collect();
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

/// Where the states of `encodings` (of the data called `name`) after each layer of
/// `layers` are cached in `cache_dir`, and what they must hold: checksums only, no
/// model loaded.
pub(crate) fn state_targets(
    model: &ModelOptions,
    cache_dir: &Path,
    encodings: &[text::Encoding],
    name: &str,
    layers: &[usize],
) -> Result<Vec<StateTarget>> {
    layers
        .iter()
        .map(|&layer| {
            let spec = StateSpec::for_run(&model.model, model.max_len, layer, encodings, name)
                .context("--model")?;
            let path = cache_path(cache_dir, name, &spec);
            Ok(StateTarget { spec, path })
        })
        .collect()
}

/// The name a data file's caches go by: its file name without the extension.
pub(crate) fn data_name(path: &Path) -> String {
    path.file_stem()
        .map_or("input".into(), |s| s.to_string_lossy().into_owned())
}

/// `NAME-after4-<fingerprint>.states` in `cache_dir`.
fn cache_path(cache_dir: &Path, name: &str, spec: &StateSpec) -> PathBuf {
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
    cache_dir.join(format!(
        "{stem}-after{}-{}.states",
        spec.after_layer,
        &spec.fingerprint()[..12]
    ))
}

fn layer_list(layers: &[usize]) -> String {
    let names: Vec<String> = layers.iter().map(usize::to_string).collect();
    names.join(", ")
}

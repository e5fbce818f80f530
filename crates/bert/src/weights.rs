//! Loading Hugging Face checkpoints (`model.safetensors` or `pytorch_model.bin`) into
//! a [`BertModel`], with a report of what matched.

use std::fmt;
use std::path::{Path, PathBuf};

use burn::store::{
    ApplyResult, KeyRemapper, ModuleSnapshot, PyTorchToBurnAdapter, PytorchStore, SafetensorsStore,
};

use crate::{BertError, BertModel};

/// Checkpoint files a Hugging Face BERT folder may hold, in order of preference.
pub const WEIGHT_FILES: [&str; 2] = ["model.safetensors", "pytorch_model.bin"];

/// What loading a checkpoint did.
#[derive(Debug, Clone, Default)]
pub struct LoadReport {
    /// The file the weights came from.
    pub path: PathBuf,
    /// Tensors loaded into the model.
    pub loaded: usize,
    /// Checkpoint tensors the model has no place for (a task head such as
    /// `classifier.*` or `cls.predictions.*`, or layers beyond `--num-layers`).
    pub unexpected: Vec<String>,
    /// True when the checkpoint has no pooler and the model was built without one.
    pub pooler_dropped: bool,
}

impl fmt::Display for LoadReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "loaded {} tensors from {}",
            self.loaded,
            self.path.display()
        )?;
        if self.pooler_dropped {
            write!(f, "; no pooler in the checkpoint")?;
        }
        if !self.unexpected.is_empty() {
            write!(
                f,
                "; ignored {} unused: {}",
                self.unexpected.len(),
                self.unexpected.join(", ")
            )?;
        }
        Ok(())
    }
}

/// The weight file of a model folder.
pub fn find_weights(dir: &Path) -> Result<PathBuf, BertError> {
    WEIGHT_FILES
        .iter()
        .map(|name| dir.join(name))
        .find(|path| path.exists())
        .ok_or_else(|| BertError::NoWeights {
            dir: dir.to_owned(),
        })
}

/// Checkpoint key → field path of [`BertModel`] (with `strip_bert_prefix`) or of a model
/// that holds it in a field named `bert`, as Hugging Face's `BertFor*` classes do.
/// Everything else the adapter handles: it transposes Linear weights and reads
/// `LayerNorm.weight/bias` (or the older `gamma/beta`) into burn's `gamma/beta`.
pub fn hf_key_remapper(strip_bert_prefix: bool) -> KeyRemapper {
    // BertFor* checkpoints nest the encoder under `bert.`.
    let prefix = strip_bert_prefix.then_some((r"^bert\.", ""));
    prefix
        .into_iter()
        .chain([
            // `self` cannot name a Rust field.
            (r"\.attention\.self\.", ".attention.self_attention."),
            (r"\.LayerNorm\.", ".layer_norm."),
        ])
        .fold(KeyRemapper::new(), |remapper, (from, to)| {
            remapper
                .add_pattern(from, to)
                .expect("the remapping patterns are valid regexes")
        })
}

/// Loads `path` (safetensors, or a PyTorch pickle by extension) into `model`.
///
/// Tensors the model lacks are an error naming each one, except the pooler, which is
/// optional: without it in the checkpoint the model's pooler is removed. Unused
/// checkpoint tensors are listed in the report.
pub fn load_weights(model: BertModel, path: &Path) -> Result<(BertModel, LoadReport), BertError> {
    let mut model = model;
    let result = apply_checkpoint(&mut model, path, hf_key_remapper(true))?;
    check(model, result, path)
}

/// Reads the tensors of `path` (safetensors, or a PyTorch pickle by extension) into
/// any module whose field paths the `remapper` turns checkpoint keys into. Partial:
/// the result says what was applied, missing, unused and in error.
pub fn apply_checkpoint<M: ModuleSnapshot>(
    module: &mut M,
    path: &Path,
    remapper: KeyRemapper,
) -> Result<ApplyResult, BertError> {
    let is_pickle = path
        .extension()
        .is_some_and(|e| e == "bin" || e == "pt" || e == "pth");
    let result = if is_pickle {
        let mut store = PytorchStore::from_file(path)
            .remap(remapper)
            .allow_partial(true);
        module.load_from(&mut store).map_err(|e| e.to_string())
    } else {
        let mut store = SafetensorsStore::from_file(path)
            .with_from_adapter(PyTorchToBurnAdapter)
            .remap(remapper)
            .allow_partial(true);
        module.load_from(&mut store).map_err(|e| e.to_string())
    };
    result.map_err(|message| BertError::Weights {
        path: path.to_owned(),
        message,
    })
}

fn check(
    mut model: BertModel,
    result: ApplyResult,
    path: &Path,
) -> Result<(BertModel, LoadReport), BertError> {
    let (pooler_missing, missing): (Vec<_>, Vec<_>) = result
        .missing
        .iter()
        .map(|(name, _)| name.as_str())
        .partition(|name| name.starts_with("pooler."));

    let mut problems: Vec<String> = result.errors.iter().map(|e| e.to_string()).collect();
    problems.extend(missing.iter().map(|name| format!("missing tensor {name}")));
    if !problems.is_empty() {
        return Err(BertError::WeightsMismatch {
            path: path.to_owned(),
            details: format!(
                "  {}\n(is this a BERT checkpoint matching its config.json?)",
                problems.join("\n  ")
            ),
        });
    }

    let pooler_dropped = !pooler_missing.is_empty();
    if pooler_dropped {
        model.pooler = None;
    }
    let unexpected = result
        .unused
        .into_iter()
        // A buffer of constant position indices, not a weight.
        .filter(|name| !name.ends_with("position_ids"))
        .collect();
    let report = LoadReport {
        path: path.to_owned(),
        loaded: result.applied.len(),
        unexpected,
        pooler_dropped,
    };
    Ok((model, report))
}

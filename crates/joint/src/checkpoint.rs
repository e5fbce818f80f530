//! What `--resume` needs, written atomically at every evaluation: the model, the
//! optimizer's moments, the best weights so far and where training stood.
//!
//! Layout of `DIR/checkpoint/`: `model.bpk`, `optimizer.bpk`, `best.bpk`,
//! `state.json`. A new checkpoint is written to `checkpoint.partial/` and swapped in
//! by renames ([`install_dir`]), so a crash at any moment leaves one complete
//! checkpoint.

use std::fs;
use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::optim::ModuleOptimizer;
use burn::store::{BurnpackStore, ModuleSnapshot};
use serde::{Deserialize, Serialize};

use crate::fsutil::{install_dir, partial_dir, sibling};
use crate::{BertClassifier, EvalRecord, FineTuneConfig, JointError};

/// Where a run stood when its checkpoint was written.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct TrainState {
    pub config: FineTuneConfig,
    /// Optimizer steps done.
    pub step: usize,
    /// The epoch in progress (0-based) and the optimizer steps done in it.
    pub epoch: usize,
    pub step_in_epoch: usize,
    /// Training loss since the last evaluation: sum over examples, and their count.
    pub loss_sum: f64,
    pub loss_count: usize,
    pub examples_trained: usize,
    /// Forward/backward passes (adversarial ones included).
    #[serde(default)]
    pub passes: usize,
    #[serde(default)]
    pub batches: usize,
    pub train_seconds: f64,
    pub history: Vec<EvalRecord>,
    /// Index into `history` of the best evaluation.
    pub best: Option<usize>,
    pub evals_since_best: usize,
}

impl TrainState {
    pub fn new(config: &FineTuneConfig) -> Self {
        Self {
            config: config.clone(),
            step: 0,
            epoch: 0,
            step_in_epoch: 0,
            loss_sum: 0.0,
            loss_count: 0,
            examples_trained: 0,
            passes: 0,
            batches: 0,
            train_seconds: 0.0,
            history: Vec::new(),
            best: None,
            evals_since_best: 0,
        }
    }
}

/// The checkpoint folder of a run folder.
pub fn checkpoint_dir(run_dir: &Path) -> PathBuf {
    run_dir.join("checkpoint")
}

/// Writes a checkpoint. `best` is the model to keep as the best when this evaluation
/// improved; otherwise the previous checkpoint's best weights are carried over.
pub(crate) fn save(
    run_dir: &Path,
    model: &BertClassifier,
    optimizer: &ModuleOptimizer,
    best: Option<&BertClassifier>,
    state: &TrainState,
) -> Result<(), JointError> {
    let dir = checkpoint_dir(run_dir);
    let partial = partial_dir(&dir)?;

    save_module(model, &partial.join("model.bpk"))?;
    let optimizer_path = partial.join("optimizer.bpk");
    optimizer
        .save(&optimizer_path)
        .map_err(|e| JointError::file("write", &optimizer_path, e))?;
    match best {
        Some(best) => save_module(best, &partial.join("best.bpk"))?,
        None => {
            // The best weights did not change: link the previous file, no copy.
            let previous = dir.join("best.bpk");
            fs::hard_link(&previous, partial.join("best.bpk"))
                .or_else(|_| fs::copy(&previous, partial.join("best.bpk")).map(|_| ()))
                .map_err(|e| JointError::file("keep", &previous, e))?;
        }
    }
    let state_path = partial.join("state.json");
    let json = serde_json::to_string_pretty(state).expect("the state serialises");
    fs::write(&state_path, json).map_err(|e| JointError::file("write", &state_path, e))?;

    install_dir(&partial, &dir)
}

/// What a checkpoint restores.
pub(crate) struct Restored {
    pub model: BertClassifier,
    pub optimizer: ModuleOptimizer,
    pub best: Option<BertClassifier>,
    pub state: TrainState,
}

/// Reads the checkpoint of `run_dir` into `model` (built as for a fresh run) and
/// `optimizer`, refusing one written with other settings than `config`.
pub(crate) fn load(
    run_dir: &Path,
    model: BertClassifier,
    optimizer: ModuleOptimizer,
    config: &FineTuneConfig,
) -> Result<Restored, JointError> {
    let mut dir = checkpoint_dir(run_dir);
    if !dir.exists() && sibling(&dir, ".old").exists() {
        // Interrupted between the two renames of `save`: the old one is complete.
        dir = sibling(&dir, ".old");
    }
    if !dir.join("state.json").exists() {
        return Err(JointError::NoCheckpoint {
            dir: run_dir.to_owned(),
        });
    }
    let state_path = dir.join("state.json");
    let text =
        fs::read_to_string(&state_path).map_err(|e| JointError::file("read", &state_path, e))?;
    let state: TrainState =
        serde_json::from_str(&text).map_err(|e| JointError::file("parse", &state_path, e))?;
    let differences = config.differences(&state.config);
    if !differences.is_empty() {
        return Err(JointError::ResumeMismatch {
            dir: dir.clone(),
            details: differences.join(", "),
        });
    }
    let best = match state.best {
        Some(_) => Some(load_module(model.valid(), &dir.join("best.bpk"))?),
        None => None,
    };
    let model = load_module(model, &dir.join("model.bpk"))?;
    let optimizer_path = dir.join("optimizer.bpk");
    let optimizer = optimizer
        .load(&optimizer_path)
        .map_err(|e| JointError::file("read", &optimizer_path, e))?;
    Ok(Restored {
        model,
        optimizer,
        best,
        state,
    })
}

/// Removes a finished run's checkpoint (hundreds of MB for a real BERT).
pub fn remove_checkpoint(run_dir: &Path) -> Result<(), JointError> {
    let dir = checkpoint_dir(run_dir);
    if dir.exists() {
        fs::remove_dir_all(&dir).map_err(|e| JointError::file("remove", &dir, e))?;
    }
    Ok(())
}

fn save_module(model: &BertClassifier, path: &Path) -> Result<(), JointError> {
    let mut store = BurnpackStore::from_file(path).overwrite(true);
    model
        .save_into(&mut store)
        .map_err(|e| JointError::file("write", path, e))
}

fn load_module(mut model: BertClassifier, path: &Path) -> Result<BertClassifier, JointError> {
    let mut store = BurnpackStore::from_file(path);
    model
        .load_from(&mut store)
        .map_err(|e| JointError::file("read", path, e))?;
    Ok(model)
}

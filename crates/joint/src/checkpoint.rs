//! What `--resume` needs, written atomically at every evaluation: the model, the
//! optimizer's moments, the best weights so far and where training stood.
//!
//! Layout of `DIR/checkpoint/`: `model.bpk`, `optimizer.bpk`, `best.bpk`,
//! `state.json`, sealed. A new checkpoint is built in a staging folder and swapped in
//! ([`StagedDir`]), so a crash at any moment leaves one complete checkpoint, and a
//! damaged one is refused rather than resumed from.

use std::fs;
use std::path::{Path, PathBuf};

use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::ModuleOptimizer;
use burn::store::{BurnpackStore, ModuleSnapshot};
use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use artifacts::{ArtifactKind, Overwrite, StagedDir};

use crate::{BertClassifier, EvalRecord, Examples, FineTuneConfig, JointError};

/// What a run trains on and starts from, besides its settings: a resumed run must
/// have the same, or it would continue into a model of two data sets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct RunInputs {
    /// [`Examples::fingerprint`] of the training and validation sets: the records,
    /// as tokenized (so the data files, the columns read, max_len and a prompt).
    pub train_examples: String,
    pub valid_examples: String,
    pub classes: Vec<String>,
    /// SHA-256 of every parameter before the first step: the model folder, the
    /// layers kept, the head and its initialisation.
    pub initial_weights: String,
}

impl RunInputs {
    pub fn of(
        model: &BertClassifier,
        train: &Examples,
        valid: &Examples,
        classes: &[String],
    ) -> Self {
        Self {
            train_examples: train.fingerprint(),
            valid_examples: valid.fingerprint(),
            classes: classes.to_vec(),
            initial_weights: weights_fingerprint(model),
        }
    }

    /// What differs from `other`, in words.
    fn differences(&self, other: &Self) -> Vec<String> {
        [
            (
                self.train_examples != other.train_examples,
                "the training examples (data, columns, max_len or prompt)",
            ),
            (
                self.valid_examples != other.valid_examples,
                "the validation examples",
            ),
            (self.classes != other.classes, "the classes"),
            (
                self.initial_weights != other.initial_weights,
                "the starting weights (model folder, layers kept, head or its seed)",
            ),
        ]
        .into_iter()
        .filter(|(differs, _)| *differs)
        .map(|(_, what)| format!("{what} differ"))
        .collect()
    }
}

/// SHA-256 of every parameter's shape and values, in the module's order.
pub(crate) fn weights_fingerprint(model: &BertClassifier) -> String {
    struct Hasher(Sha256);
    impl ModuleVisitor for Hasher {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let dims = param.val().dims();
            for dim in dims {
                self.0.update((dim as u64).to_le_bytes());
            }
            let data = param.val().into_data();
            self.0.update(data.as_bytes());
        }
    }
    let mut hasher = Hasher(Sha256::new());
    model.visit(&mut hasher);
    format!("{:x}", hasher.0.finalize())
}

/// Where a run stood when its checkpoint was written.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct TrainState {
    pub config: FineTuneConfig,
    /// What the run trains on and starts from (absent in checkpoints of versions
    /// that did not record it: those cannot be resumed safely).
    #[serde(default)]
    pub inputs: Option<RunInputs>,
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
    pub fn new(config: &FineTuneConfig, inputs: Option<RunInputs>) -> Self {
        Self {
            config: config.clone(),
            inputs,
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

/// True when `run_dir` holds a checkpoint to resume from.
pub fn has_checkpoint(run_dir: &Path) -> bool {
    checkpoint_dir(run_dir).join("state.json").is_file()
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
    let staged = StagedDir::new(&dir, ArtifactKind::Checkpoint, Overwrite::SameKind)?;
    let partial = staged.path();

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
    artifacts::write_json(&partial.join("state.json"), state)?;
    staged.commit(true)?;
    Ok(())
}

/// What a checkpoint restores.
pub(crate) struct Restored {
    pub model: BertClassifier,
    pub optimizer: ModuleOptimizer,
    pub best: Option<BertClassifier>,
    pub state: TrainState,
}

/// Reads the checkpoint of `run_dir` into `model` (built as for a fresh run) and
/// `optimizer`, refusing one written with other settings than `config` or for
/// other `inputs`, naming each difference.
pub(crate) fn load(
    run_dir: &Path,
    model: BertClassifier,
    optimizer: ModuleOptimizer,
    config: &FineTuneConfig,
    inputs: &RunInputs,
) -> Result<Restored, JointError> {
    let dir = checkpoint_dir(run_dir);
    if !has_checkpoint(run_dir) {
        return Err(JointError::NoCheckpoint {
            dir: run_dir.to_owned(),
        });
    }
    artifacts::verify(&dir, ArtifactKind::Checkpoint)?;
    let state_path = dir.join("state.json");
    let text =
        fs::read_to_string(&state_path).map_err(|e| JointError::file("read", &state_path, e))?;
    let state: TrainState =
        serde_json::from_str(&text).map_err(|e| JointError::file("parse", &state_path, e))?;
    let mut differences = config.differences(&state.config);
    match &state.inputs {
        Some(recorded) => differences.extend(inputs.differences(recorded)),
        None => differences
            .push("it was written by a version that did not record its data and weights".into()),
    }
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

/// Removes a finished run's checkpoint (hundreds of MB for a real BERT); a folder
/// there that is not a bertcls checkpoint is left alone.
pub fn remove_checkpoint(run_dir: &Path) -> Result<(), JointError> {
    Ok(artifacts::remove_own_dir(
        &checkpoint_dir(run_dir),
        ArtifactKind::Checkpoint,
    )?)
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

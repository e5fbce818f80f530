//! A trained head on disk: `head.json` (configuration, class names, standardiser, the
//! fingerprint of the features it was trained on) and `weights.bpk` (burnpack).

use std::path::{Path, PathBuf};

use artifacts::{ArtifactError, ArtifactKind, Overwrite, StagedDir};
use burn::module::Module;
use burn::store::{BurnpackStore, ModuleSnapshot};
use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use crate::train::scores;
use crate::{Affine, Features, Standardizer, TrainConfig, TrainedHead};
use data::Task;
use metrics::{DecisionRule, LabelThresholds};
use training::{Head, Readout, Targets, ValueScale};

/// Errors from saving, loading or applying a head.
#[derive(Debug, thiserror::Error)]
pub enum HeadError {
    /// A head file could not be read.
    #[error("cannot read {path}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// A head file that cannot be parsed, or does not fit its data.
    #[error("{path} is not a usable head: {message}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What does not fit.
        message: String,
    },
    // Not transparent: the inner error stays in the source chain, where the command
    // line finds it to name its flag.
    /// A head could not be saved where asked.
    #[error("{0}")]
    Artifact(#[from] ArtifactError),
    /// A training setting breaks its rule.
    #[error("{0}")]
    Setting(#[from] settings::SettingError),
    /// Training or applying a head to data that does not fit it.
    #[error("{0}")]
    Data(String),
    /// Features from another encoder than the head was trained on.
    #[error(
        "the head in {path} was trained on other features:\n  head:     {trained_on}\n  features: {given}\n\
         embed the data with the head's settings, or train a head on these features"
    )]
    OtherFeatures {
        /// The head.
        path: PathBuf,
        /// The encoder the head was trained on, in words.
        trained_on: String,
        /// The encoder the given features come from, in words.
        given: String,
    },
}

/// Where a head's features come from: the encoder (model and embedding settings, not
/// the data) that any features given to the head must share.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureOrigin {
    /// What identifies the encoder: the checksums of the model and the embedding settings.
    pub fingerprint: String,
    /// For people: model, pooling, layers, ….
    pub description: String,
    /// The full embedding spec, so text can be embedded the same way at prediction.
    pub spec: serde_json::Value,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct HeadMeta {
    config: TrainConfig,
    labels: Vec<String>,
    dim: usize,
    standardizer: Standardizer,
    features: FeatureOrigin,
    best_epoch: usize,
    /// The task's main metric on validation (heads saved before other tasks: macro-F1).
    #[serde(alias = "valid_macro_f1")]
    valid_score: f64,
    /// What the head learnt (heads saved before other tasks: single-label).
    #[serde(default)]
    task: Task,
    /// How probabilities become a class (heads saved before rules existed: argmax).
    #[serde(default)]
    decision: DecisionRule,
    /// Multi-label heads: where each label starts to apply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    thresholds: Option<LabelThresholds>,
    /// Regression heads: the scale their values are restored by.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    value_scale: Option<ValueScale>,
}

impl HeadMeta {
    /// How the head's outputs are read: its task's part of the file.
    fn readout(&self) -> Result<Readout, String> {
        let missing = |what: &str| format!("it is a {} head without {what}", self.task);
        Ok(match self.task {
            Task::SingleLabel => Readout::SingleLabel {
                decision: self.decision.clone(),
            },
            Task::MultiLabel => Readout::MultiLabel {
                thresholds: self
                    .thresholds
                    .clone()
                    .ok_or_else(|| missing("thresholds"))?,
            },
            Task::Regression => Readout::Regression {
                scale: self.value_scale.ok_or_else(|| missing("a value scale"))?,
            },
        })
    }

    /// What must hold for the head to be applied without failing: a width, classes
    /// or labels, a standardizer of that width, a readout of its task for them.
    fn check(&self) -> Result<Readout, String> {
        if self.dim == 0 {
            return Err("its feature width is 0".into());
        }
        let least = match self.task {
            Task::SingleLabel => 2,
            Task::MultiLabel => 1,
            Task::Regression => 0,
        };
        if self.labels.len() < least {
            return Err(format!(
                "it has {} label name(s); a {} head needs {least}",
                self.labels.len(),
                self.task
            ));
        }
        let distinct: std::collections::BTreeSet<&String> = self.labels.iter().collect();
        if distinct.len() != self.labels.len() {
            return Err("its label names repeat".into());
        }
        if self.standardizer.mean.len() != self.dim || self.standardizer.std.len() != self.dim {
            return Err(format!(
                "its standardizer has width {}/{}, its features {}",
                self.standardizer.mean.len(),
                self.standardizer.std.len(),
                self.dim
            ));
        }
        if self
            .standardizer
            .std
            .iter()
            .any(|s| !(s.is_finite() && *s > 0.0))
            || self.standardizer.mean.iter().any(|m| !m.is_finite())
        {
            return Err("its standardizer holds values that are not finite and positive".into());
        }
        self.config.head.validate().map_err(|e| e.to_string())?;
        let readout = self.readout()?;
        readout.check(self.labels.len())?;
        Ok(readout)
    }
}

/// A head loaded for prediction.
pub struct SavedHead {
    /// The head's folder.
    pub path: PathBuf,
    /// Class or label names, in the order of the head's outputs (regression: the
    /// value's name, or none).
    pub labels: Vec<String>,
    /// How it was trained.
    pub config: TrainConfig,
    meta: HeadMeta,
    readout: Readout,
    model: Head,
}

impl SavedHead {
    /// Writes `head` into the folder `path`, sealed (built beside it, then swapped
    /// in). What `path` may already hold is decided by `overwrite`.
    pub fn save(
        head: &TrainedHead,
        labels: &[String],
        features: &FeatureOrigin,
        path: &Path,
        overwrite: Overwrite,
    ) -> Result<(), HeadError> {
        let staged = StagedDir::new(path, ArtifactKind::Head, overwrite)?;
        let meta = HeadMeta {
            config: head.config.clone(),
            labels: labels.to_vec(),
            dim: head.standardizer.mean.len(),
            standardizer: head.standardizer.clone(),
            features: features.clone(),
            best_epoch: head.best_epoch,
            valid_score: head.valid_report.main(),
            task: head.readout.task(),
            decision: match &head.readout {
                Readout::SingleLabel { decision } => decision.clone(),
                _ => DecisionRule::Argmax,
            },
            thresholds: match &head.readout {
                Readout::MultiLabel { thresholds } => Some(thresholds.clone()),
                _ => None,
            },
            value_scale: match &head.readout {
                Readout::Regression { scale } => Some(*scale),
                _ => None,
            },
        };
        artifacts::write_json(&staged.path().join("head.json"), &meta)?;
        let weights = staged.path().join("weights.bpk");
        let mut store = BurnpackStore::from_file(&weights).overwrite(true);
        head.model
            .save_into(&mut store)
            .map_err(|e| HeadError::Format {
                path: weights.clone(),
                message: e.to_string(),
            })?;
        staged.commit(true)?;
        Ok(())
    }

    /// Loads the head saved in `path`, verified against the checksums sealed when it
    /// was written and checked for consistency (labels, widths, decision rule).
    pub fn load(path: &Path, device: &Device) -> Result<Self, HeadError> {
        artifacts::verify(path, ArtifactKind::Head)?;
        let meta_path = path.join("head.json");
        let text = std::fs::read_to_string(&meta_path).map_err(|source| HeadError::Io {
            path: meta_path.clone(),
            source,
        })?;
        let meta: HeadMeta = serde_json::from_str(&text).map_err(|e| HeadError::Format {
            path: path.to_owned(),
            message: format!("head.json: {e}"),
        })?;
        let readout = meta.check().map_err(|message| HeadError::Format {
            path: path.to_owned(),
            message,
        })?;
        let weights = path.join("weights.bpk");
        // The initial values are overwritten by the stored weights.
        let mut rng = data::SplitMix64::new(0);
        let mut model = Head::new(
            &meta.config.head,
            meta.dim,
            Readout::outputs(meta.task, meta.labels.len()),
            &mut rng,
            device,
        );
        let mut store = BurnpackStore::from_file(&weights);
        let result = model.load_from(&mut store).map_err(|e| HeadError::Format {
            path: weights.clone(),
            message: e.to_string(),
        })?;
        if !result.missing.is_empty() || !result.errors.is_empty() {
            return Err(HeadError::Format {
                path: weights,
                message: format!("does not match head.json: {result}"),
            });
        }
        Ok(Self {
            path: path.to_owned(),
            labels: meta.labels.clone(),
            config: meta.config.clone(),
            model: model.valid(),
            readout,
            meta,
        })
    }

    /// Refuses features made by another encoder than the training features.
    pub fn check_features(&self, fingerprint: &str, description: &str) -> Result<(), HeadError> {
        if fingerprint == self.meta.features.fingerprint {
            return Ok(());
        }
        Err(HeadError::OtherFeatures {
            path: self.path.clone(),
            trained_on: self.meta.features.description.clone(),
            given: description.into(),
        })
    }

    /// Where the training features came from.
    pub fn features(&self) -> &FeatureOrigin {
        &self.meta.features
    }

    /// Width of the features this head reads.
    pub fn dim(&self) -> usize {
        self.meta.dim
    }

    /// How this head turns its outputs into predictions.
    pub fn readout(&self) -> &Readout {
        &self.readout
    }

    /// What this head learnt.
    pub fn task(&self) -> Task {
        self.meta.task
    }

    /// The head as one affine map of the raw features its encoder makes, the
    /// standardizer folded in: what fine-tuning starts its linear classifier from.
    /// `None` for a head with hidden layers, which no affine map computes.
    pub fn affine(&self) -> Option<Affine> {
        self.meta.standardizer.fold_head(&self.model)
    }

    /// `rows × outputs` scores (class or label probabilities, or values) and each
    /// row's prediction.
    pub fn predict(&self, features: &Features, device: &Device) -> (Vec<f32>, Targets) {
        let standardised = self.meta.standardizer.apply(features);
        let scores = scores(&self.model, &self.readout, &standardised, device);
        let outputs = Readout::outputs(self.meta.task, self.labels.len());
        let predicted = self.readout.decide(&scores, outputs);
        (scores, predicted)
    }
}

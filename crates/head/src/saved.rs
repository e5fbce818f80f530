//! A trained head on disk: `head.json` (configuration, class names, standardiser, the
//! fingerprint of the features it was trained on) and `weights.bpk` (burnpack).

use std::path::{Path, PathBuf};

use artifacts::{ArtifactError, ArtifactKind, Overwrite, StagedDir};
use burn::module::Module;
use burn::store::{BurnpackStore, ModuleSnapshot};
use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use crate::train::predict_proba;
use crate::{Affine, Features, Standardizer, TrainConfig, TrainedHead};
use metrics::DecisionRule;
use training::Head;

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
    valid_macro_f1: f64,
    /// How probabilities become a class (heads saved before rules existed: argmax).
    #[serde(default)]
    decision: DecisionRule,
}

impl HeadMeta {
    /// What must hold for the head to be applied without failing: a width, classes,
    /// a standardizer of that width, a decision rule for that many classes.
    fn check(&self) -> Result<(), String> {
        if self.dim == 0 {
            return Err("its feature width is 0".into());
        }
        if self.labels.len() < 2 {
            return Err(format!(
                "it has {} class(es); a head needs 2",
                self.labels.len()
            ));
        }
        let distinct: std::collections::BTreeSet<&String> = self.labels.iter().collect();
        if distinct.len() != self.labels.len() {
            return Err("its class names repeat".into());
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
        self.decision
            .check(self.labels.len())
            .map_err(|e| format!("its decision rule: {e}"))
    }
}

/// A head loaded for prediction.
pub struct SavedHead {
    /// The head's folder.
    pub path: PathBuf,
    /// Class names, in the order of the head's outputs.
    pub labels: Vec<String>,
    /// How it was trained.
    pub config: TrainConfig,
    meta: HeadMeta,
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
            valid_macro_f1: head.valid_report.macro_f1,
            decision: head.decision.clone(),
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
        meta.check().map_err(|message| HeadError::Format {
            path: path.to_owned(),
            message,
        })?;
        let weights = path.join("weights.bpk");
        // The initial values are overwritten by the stored weights.
        let mut rng = data::SplitMix64::new(0);
        let mut model = Head::new(
            &meta.config.head,
            meta.dim,
            meta.labels.len(),
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

    /// How this head turns probabilities into classes.
    pub fn decision(&self) -> &DecisionRule {
        &self.meta.decision
    }

    /// The head as one affine map of the raw features its encoder makes, the
    /// standardizer folded in: what fine-tuning starts its linear classifier from.
    /// `None` for a head with hidden layers, which no affine map computes.
    pub fn affine(&self) -> Option<Affine> {
        self.meta.standardizer.fold_head(&self.model)
    }

    /// `rows × classes` probabilities and the predicted class of each row.
    pub fn predict(&self, features: &Features, device: &Device) -> (Vec<f32>, Vec<usize>) {
        let probabilities =
            predict_proba(&self.model, &self.meta.standardizer.apply(features), device);
        let predicted = self.meta.decision.decide(&probabilities, self.labels.len());
        (probabilities, predicted)
    }
}

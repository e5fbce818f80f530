//! Pipeline mode, stage 2: classifiers ("heads") trained over cached features.
//!
//! A head is a linear map (no hidden layer) or an MLP, trained with burn on
//! standardised features, for any task: a softmax over classes, a sigmoid per
//! label, or one value ([`training::Readout`]). Heads are small, so a sweep of many configurations over
//! the same cached features costs seconds, not the hours of re-embedding.
//! [`ZeroShot`] classifies the same features with no training at all, from label
//! descriptions embedded by the same encoder.

#![warn(missing_docs)]

mod ensemble;
mod features;
mod saved;
mod sweep;
mod train;
mod zero_shot;

pub use ensemble::{Combine, HeadEnsemble, bag, boost};
pub use features::{Affine, Features, Standardizer};
pub use saved::{FeatureOrigin, HeadError, SavedHead};
pub use sweep::{SweepEntry, SweepGrid, sweep};
pub use train::{EpochRecord, TrainConfig, TrainedHead, train_head};
pub use zero_shot::{DEFAULT_TEMPLATE, LabelDescriptions, SIMILARITY_TEMPERATURE, ZeroShot};

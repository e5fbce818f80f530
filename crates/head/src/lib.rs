//! Pipeline mode, stage 2: classifiers ("heads") trained over cached features.
//!
//! A head is softmax regression (no hidden layer) or an MLP, trained with burn on
//! standardised features. Heads are small, so a sweep of many configurations over
//! the same cached features costs seconds, not the hours of re-embedding.

mod features;
mod model;
mod saved;
mod sweep;
mod train;

pub use features::{Features, Standardizer};
pub use model::{Activation, Head, HeadConfig};
pub use saved::{FeatureOrigin, HeadError, SavedHead};
pub use sweep::{SweepEntry, SweepGrid, sweep};
pub use train::{
    EpochRecord, Monitor, OptimizerKind, Schedule, TrainConfig, TrainedHead, train_head,
};

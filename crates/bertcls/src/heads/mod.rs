//! Pipeline mode, stage 2, as jobs: train one head (or an ensemble of them, or a
//! cross-validation) over cached features, sweep a grid of heads, apply a saved head.

mod features;
mod predict;
mod sweep;
mod train;

pub use features::{FeatureCaches, GridOptions};
pub use predict::PredictHeadJob;
pub use sweep::{SweepJob, Swept};
pub use train::{TrainHeadJob, TrainedHeads};

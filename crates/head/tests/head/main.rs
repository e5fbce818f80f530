//! Classifier heads over cached features: training, ensembles, saved heads.
//!
//! One test binary for the crate's integration tests, each file a module: a file per
//! binary linked burn and the wgpu stack into every one of them, which multiplied the
//! disk and the link time of a CI build.

mod ensembles;
mod heads;
mod saved_properties;
mod tasks;

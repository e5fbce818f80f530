//! The training toolbox: losses, distillation and the imbalance remedies against
//! closed forms and finite differences.
//!
//! One test binary for the crate's integration tests, each file a module: a file per
//! binary linked burn and the wgpu stack into every one of them, which multiplied the
//! disk and the link time of a CI build.

mod cross_entropy;
mod distillation;
mod remedies;
mod task_losses;

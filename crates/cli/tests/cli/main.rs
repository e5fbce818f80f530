//! `bertcls` through its binary: the commands as a user runs them, and what they wrote
//! read back with the crates that read it.
//!
//! One test binary for the crate's integration tests, each file a module: a file per
//! binary linked burn and the wgpu stack into every one of them, which multiplied the
//! disk and the link time of a CI build.

mod augment_cli;
mod bad_input;
mod bench_cli;
mod common;
mod compare_cli;
mod cross_validation_cli;
mod decision_cli;
mod distill_cli;
mod embed_cli;
mod ensemble_cli;
mod finetune_cli;
mod killed_cli;
mod loss_cli;
mod pipeline_cli;
mod special_files;
mod suite_cli;
mod zero_shot_cli;

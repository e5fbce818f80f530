//! Helpers shared by the integration tests of this crate.
#![allow(dead_code)]

use std::path::PathBuf;

use bert::BackendKind;
use bert::burn::tensor::{Device, Tensor};

/// The real model, fetched by `cargo xtask fetch model` (the test command does it).
pub fn minilm_dir() -> PathBuf {
    let dir = workspace_root().join("models/all-MiniLM-L6-v2");
    assert!(
        dir.join("model.safetensors").exists(),
        "{} is missing: run `cargo xtask fetch model` (or the README's test command)",
        dir.display()
    );
    dir
}

pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Every backend to check numerics on (see [`bert::testing::backends_to_check`]); CI sets
/// BERTCLS_REQUIRE_WGPU=1 so that a missing wgpu fails instead of being skipped.
pub fn backends() -> Vec<(BackendKind, Device)> {
    let required = std::env::var("BERTCLS_REQUIRE_WGPU").is_ok_and(|v| v == "1");
    bert::testing::backends_to_check(required).expect("BERTCLS_REQUIRE_WGPU=1: wgpu must run")
}

pub fn to_vec<const D: usize>(tensor: Tensor<D>) -> Vec<f32> {
    tensor.into_data().try_into_vec_as::<f32>().unwrap()
}

pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "length mismatch");
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

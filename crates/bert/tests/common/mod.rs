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

/// Every backend to check numerics on: the CPU backends always; wgpu when compiled
/// in and an adapter answers. With BERTCLS_REQUIRE_WGPU=1 (CI), a missing adapter
/// fails the test instead of skipping it.
pub fn backends() -> Vec<(BackendKind, Device)> {
    let mut backends = vec![
        (BackendKind::Flex, BackendKind::Flex.device().unwrap()),
        (BackendKind::Ndarray, BackendKind::Ndarray.device().unwrap()),
    ];
    if let Some(device) = wgpu_device() {
        backends.push((BackendKind::Wgpu, device));
    }
    backends
}

fn wgpu_device() -> Option<Device> {
    let required = std::env::var("BERTCLS_REQUIRE_WGPU").is_ok_and(|v| v == "1");
    let Ok(device) = BackendKind::Wgpu.device() else {
        assert!(
            !required,
            "BERTCLS_REQUIRE_WGPU=1 but the wgpu feature is not compiled in"
        );
        eprintln!("wgpu tests skipped: built without the `wgpu` feature");
        return None;
    };
    // Device creation is lazy; the first operation finds out whether an adapter exists.
    let probe = device.clone();
    let works = std::panic::catch_unwind(move || {
        Tensor::<1>::from_floats([1.0, 2.0], &probe)
            .sum()
            .into_scalar::<f32>()
            == 3.0
    })
    .unwrap_or(false);
    if !works {
        assert!(
            !required,
            "BERTCLS_REQUIRE_WGPU=1 but no wgpu adapter is available"
        );
        eprintln!("wgpu tests skipped: no wgpu adapter (install mesa-vulkan-drivers for lavapipe)");
        return None;
    }
    Some(device)
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

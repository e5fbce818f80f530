//! Support for the workspace's tests, behind the `testing` feature (the crates'
//! dev-dependencies turn it on): not part of the model's API.

use burn::tensor::Device;

use crate::{BackendKind, BertError};

/// The backends to check numerics on: flex and ndarray, and wgpu when it is compiled in
/// and an adapter answers a first operation (creating the device alone proves
/// nothing: it is lazy). With `require_wgpu` (CI sets BERTCLS_REQUIRE_WGPU=1), a
/// wgpu that cannot run is the error, instead of being left out.
pub fn backends_to_check(require_wgpu: bool) -> Result<Vec<(BackendKind, Device)>, BertError> {
    let mut backends = vec![
        (BackendKind::Flex, BackendKind::Flex.device()?),
        (BackendKind::Ndarray, BackendKind::Ndarray.device()?),
    ];
    match usable_wgpu() {
        Ok(device) => backends.push((BackendKind::Wgpu, device)),
        Err(why) if require_wgpu => return Err(why),
        Err(why) => eprintln!("wgpu left out of the checks: {why}"),
    }
    Ok(backends)
}

fn usable_wgpu() -> Result<Device, BertError> {
    let device = BackendKind::Wgpu.device()?;
    let probe = device.clone();
    // Without an adapter wgpu panics on first use; that answer is what is wanted here.
    let answers = std::panic::catch_unwind(move || {
        burn::tensor::Tensor::<1>::from_floats([1.0, 2.0], &probe)
            .sum()
            .into_scalar::<f32>()
            == 3.0
    });
    match answers {
        Ok(true) => Ok(device),
        _ => Err(BertError::NoWgpuAdapter),
    }
}

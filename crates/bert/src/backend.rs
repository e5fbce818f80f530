use burn::tensor::Device;

use crate::BertError;

/// Where tensors live and run. burn picks the implementation from the device at run
/// time, so every model has one code path whichever is chosen here.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// burn's pure-Rust CPU backend; the fastest CPU backend measured here.
    #[default]
    Flex,
    /// burn-ndarray, the older CPU backend (deprecated by burn in favour of flex).
    Ndarray,
    /// A GPU through wgpu (Vulkan, Metal, DX12); needs the `wgpu` cargo feature.
    Wgpu,
}

settings::serde_names!(BackendKind);

impl BackendKind {
    /// Every backend, compiled in or not.
    pub const ALL: [BackendKind; 3] = [BackendKind::Flex, BackendKind::Ndarray, BackendKind::Wgpu];

    /// The device for inference. Call `.autodiff()` on it to train.
    pub fn device(self) -> Result<Device, BertError> {
        match self {
            BackendKind::Flex => Ok(Device::flex()),
            #[allow(deprecated)] // still offered: users compare it against flex
            BackendKind::Ndarray => Ok(Device::ndarray()),
            BackendKind::Wgpu => wgpu_device(),
        }
    }
}

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

#[cfg(feature = "wgpu")]
fn wgpu_device() -> Result<Device, BertError> {
    Ok(Device::wgpu(burn::tensor::DeviceKind::DefaultDevice))
}

#[cfg(not(feature = "wgpu"))]
fn wgpu_device() -> Result<Device, BertError> {
    Err(BertError::WgpuNotCompiled)
}

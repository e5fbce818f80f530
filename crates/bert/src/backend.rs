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

#[cfg(feature = "wgpu")]
fn wgpu_device() -> Result<Device, BertError> {
    Ok(Device::wgpu(burn::tensor::DeviceKind::DefaultDevice))
}

#[cfg(not(feature = "wgpu"))]
fn wgpu_device() -> Result<Device, BertError> {
    Err(BertError::WgpuNotCompiled)
}

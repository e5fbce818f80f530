use std::fmt;
use std::str::FromStr;

use burn::tensor::Device;

use crate::BertError;

/// Where tensors live and run. burn picks the implementation from the device at run
/// time, so every model has one code path whichever is chosen here.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum BackendKind {
    /// burn's pure-Rust CPU backend; the fastest CPU backend measured here.
    #[default]
    Flex,
    /// burn-ndarray, the older CPU backend (deprecated by burn in favour of flex).
    Ndarray,
    /// A GPU through wgpu (Vulkan, Metal, DX12); needs the `wgpu` cargo feature.
    Wgpu,
}

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

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BackendKind::Flex => "flex",
            BackendKind::Ndarray => "ndarray",
            BackendKind::Wgpu => "wgpu",
        })
    }
}

impl FromStr for BackendKind {
    type Err = BertError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        BackendKind::ALL
            .into_iter()
            .find(|b| b.to_string() == s)
            .ok_or_else(|| BertError::UnknownBackend(s.to_owned()))
    }
}

//! Which device a command computes on: the CPU (Burn's flex backend) always, GPUs when this
//! binary was built with their cargo feature.

use burn::prelude::*;

/// `--device cpu|wgpu|cuda`.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    clap::ValueEnum,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum DeviceChoice {
    #[default]
    Cpu,
    Wgpu,
    Cuda,
}

#[derive(Debug, thiserror::Error)]
#[error(
    "this proard was built without {0} support: rebuild with `cargo build --release --features {0}`"
)]
pub struct DeviceUnavailable(&'static str);

impl DeviceChoice {
    /// The Burn device (without autodiff; call `.autodiff()` to train on it).
    pub fn device(self) -> Result<Device, DeviceUnavailable> {
        match self {
            DeviceChoice::Cpu => Ok(Device::flex()),
            #[cfg(feature = "wgpu")]
            DeviceChoice::Wgpu => Ok(Device::wgpu(burn::prelude::DeviceKind::DefaultDevice)),
            #[cfg(not(feature = "wgpu"))]
            DeviceChoice::Wgpu => Err(DeviceUnavailable("wgpu")),
            #[cfg(feature = "cuda")]
            DeviceChoice::Cuda => Ok(Device::cuda(0)),
            #[cfg(not(feature = "cuda"))]
            DeviceChoice::Cuda => Err(DeviceUnavailable("cuda")),
        }
    }
}

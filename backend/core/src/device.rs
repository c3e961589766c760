//! Which device a command computes on: the CPU (Burn's flex backend) always, GPUs when this
//! binary was built with their cargo feature.

use burn::prelude::*;

/// `--device cpu|wgpu|cuda`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
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

impl std::str::FromStr for DeviceChoice {
    type Err = String;

    fn from_str(text: &str) -> Result<DeviceChoice, String> {
        match text {
            "cpu" => Ok(DeviceChoice::Cpu),
            "wgpu" => Ok(DeviceChoice::Wgpu),
            "cuda" => Ok(DeviceChoice::Cuda),
            _ => Err(format!("`{text}` is not a device: use cpu, wgpu or cuda")),
        }
    }
}

impl std::fmt::Display for DeviceChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str(match self {
            DeviceChoice::Cpu => "cpu",
            DeviceChoice::Wgpu => "wgpu",
            DeviceChoice::Cuda => "cuda",
        })
    }
}

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

//! Where the predictor runs: Burn's wgpu backend on the browser's WebGPU when it offers an
//! adapter, Burn's flex backend on the CPU otherwise (or when the page asks for the CPU).

use std::cell::RefCell;

use burn::prelude::Device;
use proard_shared::search_worker::{Backend, BackendChoice};

use crate::browser;

/// WebGPU is brought up once per worker (Burn's runtime cannot be initialised twice).
#[derive(Default)]
pub struct Devices {
    webgpu: RefCell<WebGpu>,
}

#[derive(Default)]
enum WebGpu {
    #[default]
    Untried,
    Starting,
    /// The device and the adapter's name.
    Ready(Device, String),
    /// Why there is none.
    Unavailable(String),
}

fn cpu(detail: String) -> (Device, Backend) {
    (Device::flex(), Backend { kind: "cpu".into(), detail })
}

impl Devices {
    pub async fn choose(&self, choice: BackendChoice) -> (Device, Backend) {
        if choice == BackendChoice::Cpu {
            return cpu("Burn flex, as asked".into());
        }
        loop {
            let state = std::mem::replace(&mut *self.webgpu.borrow_mut(), WebGpu::Starting);
            match state {
                WebGpu::Untried => break,
                // Another request is bringing it up: wait for that.
                WebGpu::Starting => browser::yield_now().await,
                WebGpu::Ready(device, adapter) => {
                    *self.webgpu.borrow_mut() = WebGpu::Ready(device.clone(), adapter.clone());
                    return (device, Backend { kind: "webgpu".into(), detail: adapter });
                }
                WebGpu::Unavailable(why) => {
                    *self.webgpu.borrow_mut() = WebGpu::Unavailable(why.clone());
                    return cpu(why);
                }
            }
        }
        let started = start_webgpu().await;
        let chosen = match &started {
            WebGpu::Ready(device, adapter) => {
                (device.clone(), Backend { kind: "webgpu".into(), detail: adapter.clone() })
            }
            WebGpu::Unavailable(why) => cpu(why.clone()),
            WebGpu::Untried | WebGpu::Starting => unreachable!("start_webgpu settles"),
        };
        *self.webgpu.borrow_mut() = started;
        chosen
    }
}

async fn start_webgpu() -> WebGpu {
    if !browser::has_webgpu() {
        return WebGpu::Unavailable("this browser offers no WebGPU to workers".into());
    }
    match Device::wgpu_options().init_with_setup_async().await {
        Ok((device, setup)) => {
            let info = setup.adapter.get_info();
            let name = if info.name.is_empty() { format!("{:?}", info.backend) } else { info.name };
            WebGpu::Ready(device, name)
        }
        Err(error) => WebGpu::Unavailable(format!("no WebGPU adapter: {error}")),
    }
}

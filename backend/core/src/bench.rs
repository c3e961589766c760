//! Throughput measurements (`proard model bench`): forward, SGD training step and PGD-10 on one
//! subnet, in images per second. Benchmarks report numbers; no test depends on timings.

use std::time::{Duration, Instant};

use burn::optim::momentum::MomentumConfig;
use burn::optim::{GradientsParams, SgdConfig};
use burn::prelude::*;
use burn::tensor::{Distribution, ExecutionError};
use proard_shared::{Arch, Space};
use serde::Serialize;

use crate::attack::{PgdConfig, cross_entropy, pgd};
use crate::model::{NetConfig, Pass, Supernet};
use crate::noise;

#[derive(Debug, Serialize)]
pub struct ModelBench {
    pub space: String,
    pub arch: Arch,
    pub batch: usize,
    pub device: String,
    pub macs: u64,
    pub forward_img_s: f64,
    pub train_step_img_s: f64,
    pub pgd10_img_s: f64,
    /// Timed iterations per measurement (after one warm-up).
    pub iterations: usize,
}

/// Runs `step` once to warm up, then `iterations` times; images per second.
fn images_per_second(
    batch: usize,
    iterations: usize,
    device: &Device,
    mut step: impl FnMut(),
) -> Result<f64, ExecutionError> {
    step();
    device.sync()?;
    let start = Instant::now();
    for _ in 0..iterations {
        step();
    }
    device.sync()?;
    let elapsed = start.elapsed().max(Duration::from_nanos(1));
    Ok((batch * iterations) as f64 / elapsed.as_secs_f64())
}

/// Measures `arch` of a freshly initialised supernet of `space` on `device`.
pub fn model_bench(
    space: Space,
    arch: Arch,
    batch: usize,
    iterations: usize,
    device: &Device,
) -> Result<ModelBench, ExecutionError> {
    noise::seed(0);
    let train_device = device.clone().autodiff();
    let supernet = Supernet::new(space, NetConfig::new(), &train_device);
    let subnet = supernet.subnet(&arch).expect("the caller validated the arch");
    let n_classes = supernet.space.io().n_classes as usize;
    let io = supernet.space.io();
    let shape = [batch, io.in_channels as usize, io.image_size as usize, io.image_size as usize];
    let x = noise::random(shape, Distribution::Uniform(0.0, 1.0), device);
    let labels = Tensor::<1, Int>::from_data(
        TensorData::new((0..batch).map(|i| (i % n_classes) as i32).collect(), [batch]),
        device,
    );

    let frozen = supernet.network.valid();
    let forward_img_s = images_per_second(batch, iterations, device, || {
        let _ = frozen.forward(x.clone(), &subnet, &mut Pass::eval()).into_data();
    })?;

    let momentum = MomentumConfig::new().with_momentum(0.9).with_dampening(0.0).with_nesterov(true);
    let mut optimizer = SgdConfig::new().with_momentum(Some(momentum)).init();
    let mut network = Some(supernet.network.clone());
    let train_step_img_s = images_per_second(batch, iterations, device, || {
        let net = network.take().expect("put back after every step");
        let loss =
            cross_entropy(net.forward(x.clone(), &subnet, &mut Pass::train()), labels.clone());
        let grads = GradientsParams::from_grads(loss.backward(), &net);
        network = Some(optimizer.step(0.01, net, grads));
    })?;

    let attack = PgdConfig { steps: 10, ..PgdConfig::default() };
    let network = network.expect("trained network");
    let pgd10_img_s = images_per_second(batch, iterations, device, || {
        let _ = pgd(&network, &subnet, x.clone(), labels.clone(), &attack).into_data();
    })?;

    Ok(ModelBench {
        space: supernet.space.name().to_owned(),
        macs: subnet.cost().macs,
        arch,
        batch,
        device: format!("{device:?}"),
        forward_img_s,
        train_step_img_s,
        pgd10_img_s,
        iterations,
    })
}

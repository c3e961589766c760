//! `proard model check`: does the exported student compute what the supernet computes, and
//! do the executed MACs equal the analytic count?

use burn::prelude::*;
use burn::tensor::Distribution;
use proard_shared::{Arch, ArchError, Space};
use serde::Serialize;

use super::{NetConfig, Pass, Supernet};
use crate::noise;

#[derive(Debug, Serialize)]
pub struct ExportCheck {
    pub space: String,
    pub arch: Arch,
    pub seed: u64,
    pub batch: usize,
    /// Largest |supernet − student| logit difference, eval-mode BatchNorm.
    pub max_abs_diff: f32,
    pub macs_executed: u64,
    pub macs_analytic: u64,
    /// Parameters of the exported student (tensors other than running statistics).
    pub params: u64,
    pub params_analytic: u64,
}

/// Builds the supernet with seed `seed`, runs one random batch through it and through the
/// exported student of `arch`.
pub fn check_export(
    space: Space,
    arch: &Arch,
    seed: u64,
    batch: usize,
    device: &Device,
) -> Result<ExportCheck, ArchError> {
    noise::seed(seed);
    let supernet = Supernet::new(space, NetConfig::new(), device);
    let subnet = supernet.subnet(arch)?;
    let student = supernet.export(arch)?;
    let io = supernet.space.io();
    let shape = [batch, io.in_channels as usize, io.image_size as usize, io.image_size as usize];
    let x = noise::random(shape, Distribution::Uniform(0.0, 1.0), device);
    let mut pass = Pass::eval();
    let from_supernet = supernet.forward(x.clone(), &subnet, &mut pass);
    let from_student = student.forward(x, &mut Pass::eval());
    let max_abs_diff = (from_supernet - from_student).abs().max().into_scalar::<f32>();
    let params = student.network.parameter_count();
    let cost = subnet.cost();
    Ok(ExportCheck {
        space: supernet.space.name().to_owned(),
        arch: arch.clone(),
        seed,
        batch,
        max_abs_diff,
        macs_executed: pass.macs,
        macs_analytic: cost.macs,
        params,
        params_analytic: cost.params,
    })
}

//! One forward pass: which BatchNorm mode it runs in, and what it records on the way.
//!
//! The mode is explicit because Burn's own BatchNorm picks batch statistics whenever the input
//! records gradients — an attack on an autodiff device would then use batch statistics and
//! overwrite running statistics. Here an attack states `BnMode::Eval` and gets exactly that.

use std::collections::BTreeMap;

use burn::prelude::*;
use serde::{Deserialize, Serialize};

/// How every BatchNorm of a pass normalises.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BnMode {
    /// Batch statistics; running statistics updated with momentum (training).
    Train,
    /// Running statistics; nothing is written (evaluation, attacks).
    Eval,
    /// Batch statistics; the exact per-channel moments of the batch are recorded in the pass,
    /// to be merged over a calibration set and written as running statistics.
    Calibrate,
}

/// The state of one forward pass.
#[derive(Debug)]
pub struct Pass {
    pub mode: BnMode,
    /// Multiply-accumulates per image of the convolutions and linear layers that ran, counted
    /// from the shapes of the tensors they ran on.
    pub macs: u64,
    /// In `Calibrate` mode: per BatchNorm (by key), the moments of this pass's batch.
    pub moments: BTreeMap<usize, Moments>,
}

impl Pass {
    pub fn new(mode: BnMode) -> Pass {
        Pass { mode, macs: 0, moments: BTreeMap::new() }
    }

    pub fn train() -> Pass {
        Pass::new(BnMode::Train)
    }

    pub fn eval() -> Pass {
        Pass::new(BnMode::Eval)
    }

    pub fn calibrate() -> Pass {
        Pass::new(BnMode::Calibrate)
    }

    /// Counts a convolution that produced `output` [N, C_out, H, W] from `c_in` channels.
    pub fn count_conv(&mut self, c_in: usize, groups: usize, kernel: usize, output: &Tensor<4>) {
        let [_, c_out, h, w] = output.dims();
        self.macs += (c_in / groups * c_out * kernel * kernel * h * w) as u64;
    }

    /// Counts a linear layer with `inputs` → `outputs` features.
    pub fn count_linear(&mut self, inputs: usize, outputs: usize) {
        self.macs += (inputs * outputs) as u64;
    }
}

/// Per-channel count, mean and sum of squared deviations, merged exactly (Chan et al.) in f64.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Moments {
    pub count: f64,
    pub mean: Vec<f64>,
    pub m2: Vec<f64>,
}

impl Moments {
    /// Merges another set of moments over the same channels (or a prefix of them).
    pub fn merge(&mut self, other: &Moments) {
        if self.count == 0.0 {
            *self = other.clone();
            return;
        }
        assert_eq!(self.mean.len(), other.mean.len(), "one BatchNorm runs on one width per arch");
        let total = self.count + other.count;
        for c in 0..self.mean.len() {
            let delta = other.mean[c] - self.mean[c];
            self.mean[c] += delta * other.count / total;
            self.m2[c] += other.m2[c] + delta * delta * self.count * other.count / total;
        }
        self.count = total;
    }

    /// Biased variance (divided by the count), as BatchNorm normalises with.
    pub fn variance(&self) -> Vec<f64> {
        self.m2.iter().map(|m2| m2 / self.count).collect()
    }
}

/// Moments accumulated over the batches of a calibration set, per BatchNorm key.
#[derive(Clone, Debug, Default)]
pub struct Calibration {
    pub layers: BTreeMap<usize, Moments>,
    pub images: usize,
}

impl Calibration {
    /// Adds the moments a `Calibrate` pass over `batch` images recorded.
    pub fn add(&mut self, pass: Pass, batch: usize) {
        for (key, moments) in pass.moments {
            self.layers.entry(key).or_default().merge(&moments);
        }
        self.images += batch;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merged_moments_equal_moments_of_the_union() {
        let data: Vec<f64> = (0..20).map(|i| ((i * 7919) % 31) as f64 / 3.0).collect();
        let moments = |xs: &[f64]| {
            let n = xs.len() as f64;
            let mean = xs.iter().sum::<f64>() / n;
            Moments {
                count: n,
                mean: vec![mean],
                m2: vec![xs.iter().map(|x| (x - mean).powi(2)).sum()],
            }
        };
        let mut merged = moments(&data[..7]);
        merged.merge(&moments(&data[7..12]));
        merged.merge(&moments(&data[12..]));
        let whole = moments(&data);
        assert!((merged.mean[0] - whole.mean[0]).abs() < 1e-12);
        assert!((merged.variance()[0] - whole.variance()[0]).abs() < 1e-12);
    }
}

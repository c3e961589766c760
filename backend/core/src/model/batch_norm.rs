//! BatchNorm over the first C channels of a shared layer, with an explicit mode.

use burn::module::{Param, RunningState};
use burn::prelude::*;
use burn::tensor::module as F;

use super::pass::{BnMode, Moments, Pass};
use crate::kernel;

/// Replaces a running statistic at once. `RunningState::update` alone leaves the value pending
/// per thread, invisible to saving and visiting until something syncs it.
fn commit(state: &RunningState<Tensor<1>>, value: Tensor<1>) {
    state.update(value);
    state.value_sync();
}

/// BatchNorm2d whose parameters and running statistics are shared by every width: a subnet
/// with C channels uses (and, in training, updates) the first C entries.
///
/// Tensor names follow PyTorch: `weight` (γ), `bias` (β), `running_mean`, `running_var`.
#[derive(Module, Debug)]
pub struct DynBatchNorm {
    pub weight: Param<Tensor<1>>,
    pub bias: Param<Tensor<1>>,
    pub running_mean: RunningState<Tensor<1>>,
    pub running_var: RunningState<Tensor<1>>,
    /// Identifies this layer in a calibration (unique within its network).
    pub key: usize,
    pub momentum: f64,
    pub epsilon: f64,
}

impl DynBatchNorm {
    /// γ = 1, β = 0, running mean 0 and variance 1.
    pub fn new(channels: usize, key: usize, momentum: f64, epsilon: f64, device: &Device) -> Self {
        DynBatchNorm {
            weight: Param::from_tensor(Tensor::ones([channels], device)),
            bias: Param::from_tensor(Tensor::zeros([channels], device)),
            running_mean: RunningState::new(Tensor::zeros([channels], device)),
            running_var: RunningState::new(Tensor::ones([channels], device)),
            key,
            momentum,
            epsilon,
        }
    }

    /// Normalises `x` [N, C, H, W] with the first C entries, as `pass.mode` says.
    pub fn forward(&self, x: Tensor<4>, pass: &mut Pass) -> Tensor<4> {
        let c = x.dims()[1];
        let gamma = self.weight.val().narrow(0, 0, c);
        let beta = self.bias.val().narrow(0, 0, c);
        match pass.mode {
            BnMode::Eval => {
                let mean = self.running_mean.value_sync().narrow(0, 0, c);
                let var = self.running_var.value_sync().narrow(0, 0, c);
                F::batch_norm(x, gamma, beta, mean, var, self.epsilon)
            }
            BnMode::Train => {
                let [n, _, h, w] = x.dims();
                let (output, mean, variance) =
                    kernel::batch_norm_train(x, gamma, beta, self.epsilon);
                // Running variance is updated with the unbiased batch variance, as PyTorch does.
                let count = (n * h * w) as f64;
                let unbiased = variance.detach() * (count / (count - 1.0).max(1.0));
                let m = self.momentum;
                let update = |state: &RunningState<Tensor<1>>, batch: Tensor<1>| {
                    let full = state.value_sync();
                    let old = full.clone().narrow(0, 0, c);
                    commit(state, full.slice_assign(s![0..c], old * (1.0 - m) + batch * m));
                };
                update(&self.running_mean, mean.detach());
                update(&self.running_var, unbiased);
                output
            }
            BnMode::Calibrate => {
                let [n, _, h, w] = x.dims();
                let (output, mean, variance) =
                    kernel::batch_norm_train(x, gamma, beta, self.epsilon);
                let count = (n * h * w) as f64;
                let mean: Vec<f64> = mean.detach().try_into_vec_as::<f64>().expect("f32 mean");
                let var: Vec<f64> =
                    variance.detach().try_into_vec_as::<f64>().expect("f32 variance");
                let moments = Moments { count, mean, m2: var.iter().map(|v| v * count).collect() };
                pass.moments.entry(self.key).or_default().merge(&moments);
                output
            }
        }
    }

    /// In `Eval` mode, what this layer does to its first `c` channels as a per-channel affine map,
    /// (scale, shift) = (γ / √(var + ε), β − mean · scale), for the convolution before it to
    /// absorb; `None` in the modes that normalise with the batch's own statistics.
    pub fn folded(&self, c: usize, mode: BnMode) -> Option<(Tensor<1>, Tensor<1>)> {
        if mode != BnMode::Eval {
            return None;
        }
        let gamma = self.weight.val().narrow(0, 0, c);
        let beta = self.bias.val().narrow(0, 0, c);
        let mean = self.running_mean.value_sync().narrow(0, 0, c);
        let var = self.running_var.value_sync().narrow(0, 0, c);
        let scale = gamma / (var + self.epsilon).sqrt();
        let shift = beta - mean * scale.clone();
        Some((scale, shift))
    }

    /// Writes calibrated statistics into the first `moments.mean.len()` channels.
    pub fn write_statistics(&self, moments: &Moments) {
        let c = moments.mean.len();
        let device = self.weight.device();
        let to_tensor = |values: Vec<f64>| {
            Tensor::<1>::from_data(
                TensorData::new(values.iter().map(|v| *v as f32).collect(), [c]),
                &device,
            )
        };
        let write = |state: &RunningState<Tensor<1>>, values: Vec<f64>| {
            commit(state, state.value_sync().slice_assign(s![0..c], to_tensor(values)));
        };
        write(&self.running_mean, moments.mean.clone());
        write(&self.running_var, moments.variance());
    }

    /// A copy holding only the first `channels` entries (for an exported student).
    pub fn narrowed(&self, channels: usize) -> DynBatchNorm {
        DynBatchNorm {
            weight: Param::from_tensor(self.weight.val().narrow(0, 0, channels)),
            bias: Param::from_tensor(self.bias.val().narrow(0, 0, channels)),
            running_mean: RunningState::new(self.running_mean.value_sync().narrow(0, 0, channels)),
            running_var: RunningState::new(self.running_var.value_sync().narrow(0, 0, channels)),
            key: self.key,
            momentum: self.momentum,
            epsilon: self.epsilon,
        }
    }

    /// Reorders channels: entry i of the result is entry `order[i]` of this layer.
    pub fn permuted(self, order: &Tensor<1, Int>) -> DynBatchNorm {
        let permute = |t: Tensor<1>| t.select(0, order.clone());
        let mean = RunningState::new(permute(self.running_mean.value_sync()));
        let var = RunningState::new(permute(self.running_var.value_sync()));
        DynBatchNorm {
            weight: self.weight.map(permute),
            bias: self.bias.map(permute),
            running_mean: mean,
            running_var: var,
            ..self
        }
    }
}

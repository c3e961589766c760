//! Dynamic layers: one shared weight each, from which a subnet takes the leading slice.
//!
//! Weights keep PyTorch's layouts (`[out, in/groups, k, k]` for convs, `[out, in]` for linear
//! layers) so that exported students load elsewhere without transposes.

use burn::module::Param;
use burn::prelude::*;
use burn::tensor::Distribution;
use burn::tensor::activation;

use super::batch_norm::DynBatchNorm;
use super::pass::Pass;
use crate::kernel;
use crate::noise;

/// "he_fout" initialisation of the reference: N(0, √(2 / (k²·C_out))).
fn he_fout(shape: [usize; 4], device: &Device) -> Param<Tensor<4>> {
    let [c_out, _, k, _] = shape;
    let std = (2.0 / (k * k * c_out) as f64).sqrt();
    Param::from_tensor(noise::random(shape, Distribution::Normal(0.0, std), device))
}

/// A convolution (`conv(x, filters, bias)`) with `filters`, then `bn`. In `Eval` mode (attacks,
/// evaluation, calibrated students) the BatchNorm is folded into the filters and a bias: one
/// convolution and no normalisation passes over the activations, forward or backward (Burn's
/// BatchNorm with given statistics is four broadcast passes). Equal to the two layers up to f32
/// rounding.
fn conv_then_bn(
    x: Tensor<4>,
    filters: Tensor<4>,
    conv: impl FnOnce(Tensor<4>, Tensor<4>, Option<Tensor<1>>) -> Tensor<4>,
    bn: &DynBatchNorm,
    pass: &mut Pass,
) -> Tensor<4> {
    let out = filters.dims()[0];
    match bn.folded(out, pass.mode) {
        Some((scale, shift)) => conv(x, filters * scale.reshape([out, 1, 1, 1]), Some(shift)),
        None => bn.forward(conv(x, filters, None), pass),
    }
}

/// k×k convolution without bias; a subnet uses the first `out` filters over the input's channels.
#[derive(Module, Debug)]
pub struct DynConv2d {
    pub weight: Param<Tensor<4>>,
    pub stride: usize,
}

impl DynConv2d {
    pub fn new(c_in: usize, c_out: usize, kernel: usize, stride: usize, device: &Device) -> Self {
        DynConv2d { weight: he_fout([c_out, c_in, kernel, kernel], device), stride }
    }

    /// x [N, C_in, H, W] → [N, out, H/stride, W/stride].
    pub fn forward(&self, x: Tensor<4>, out: usize, pass: &mut Pass) -> Tensor<4> {
        let c_in = x.dims()[1];
        let [_, _, k, _] = self.weight.dims();
        let weight = self.weight.val().slice([0..out, 0..c_in]);
        let y = kernel::conv2d(x, weight, None, self.stride, k / 2);
        pass.count_conv(c_in, 1, k, &y);
        y
    }

    /// `bn.forward(self.forward(x, out, pass), pass)`, folded in `Eval` mode.
    pub fn forward_bn(
        &self,
        x: Tensor<4>,
        out: usize,
        bn: &DynBatchNorm,
        pass: &mut Pass,
    ) -> Tensor<4> {
        let c_in = x.dims()[1];
        let [_, _, k, _] = self.weight.dims();
        let weight = self.weight.val().slice([0..out, 0..c_in]);
        let stride = self.stride;
        let y = conv_then_bn(x, weight, |x, w, b| kernel::conv2d(x, w, b, stride, k / 2), bn, pass);
        pass.count_conv(c_in, 1, k, &y);
        y
    }

    /// The first `out` × `c_in` filters as a static layer.
    pub fn narrowed(&self, c_in: usize, out: usize) -> DynConv2d {
        DynConv2d {
            weight: Param::from_tensor(self.weight.val().slice([0..out, 0..c_in])),
            stride: self.stride,
        }
    }
}

/// Depthwise convolution storing the largest kernel; a smaller kernel is the centre crop of the
/// next larger one passed through a learned (k²×k²) transform, from the largest down
/// (`transforms[i]` maps `kernel_sizes[n-1-i]` to `kernel_sizes[n-2-i]`; identity at init).
/// With `transform` off, smaller kernels are plain centre crops.
#[derive(Module, Debug)]
pub struct DynDepthwise {
    pub weight: Param<Tensor<4>>,
    pub transforms: Vec<Param<Tensor<2>>>,
    /// Kernel sizes, ascending (the last one is stored).
    pub kernel_sizes: Vec<usize>,
    pub stride: usize,
    pub transform: bool,
}

impl DynDepthwise {
    pub fn new(
        channels: usize,
        kernel_sizes: &[usize],
        stride: usize,
        transform: bool,
        device: &Device,
    ) -> Self {
        let largest = *kernel_sizes.last().expect("a depthwise layer has a kernel size");
        let transforms = if transform {
            kernel_sizes[..kernel_sizes.len() - 1]
                .iter()
                .rev()
                .map(|k| Param::from_tensor(Tensor::eye(k * k, device)))
                .collect()
        } else {
            Vec::new()
        };
        DynDepthwise {
            weight: he_fout([channels, 1, largest, largest], device),
            transforms,
            kernel_sizes: kernel_sizes.to_vec(),
            stride,
            transform,
        }
    }

    /// The `kernel`×`kernel` filters of the first `channels` channels: [channels, 1, k, k].
    pub fn kernel(&self, channels: usize, kernel: usize) -> Tensor<4> {
        let mut filters = self.weight.val().narrow(0, 0, channels);
        let mut size = filters.dims()[3];
        // Walk down the kernel list: crop to the next smaller size, then transform.
        for (step, next) in self.kernel_sizes.iter().rev().skip(1).enumerate() {
            if size <= kernel {
                break;
            }
            let start = (size - next) / 2;
            filters = filters.slice([0..channels, 0..1, start..start + next, start..start + next]);
            if self.transform {
                // Reference semantics: F.linear(crop, M) = crop · Mᵀ, per channel.
                let flat = filters.reshape([channels, next * next]);
                filters = flat
                    .matmul(self.transforms[step].val().transpose())
                    .reshape([channels, 1, *next, *next]);
            }
            size = *next;
        }
        assert_eq!(size, kernel, "kernel {kernel} is not one of {:?}", self.kernel_sizes);
        filters
    }

    /// x [N, C, H, W] → [N, C, H/stride, W/stride] with a `kernel`×`kernel` filter per channel,
    /// then `bn` (folded into the filters in `Eval` mode). Every depthwise conv has its BatchNorm.
    pub fn forward_bn(
        &self,
        x: Tensor<4>,
        kernel: usize,
        bn: &DynBatchNorm,
        pass: &mut Pass,
    ) -> Tensor<4> {
        let channels = x.dims()[1];
        let filters = self.kernel(channels, kernel);
        let stride = self.stride;
        let conv = |x, w, b| kernel::depthwise_conv2d(x, w, b, stride, kernel / 2);
        let y = conv_then_bn(x, filters, conv, bn, pass);
        pass.count_conv(channels, channels, kernel, &y);
        y
    }

    /// The effective filters of `channels` channels at `kernel` as a static layer.
    pub fn narrowed(&self, channels: usize, kernel: usize) -> DynDepthwise {
        DynDepthwise {
            weight: Param::from_tensor(self.kernel(channels, kernel)),
            transforms: Vec::new(),
            kernel_sizes: vec![kernel],
            stride: self.stride,
            transform: false,
        }
    }
}

/// Fully connected layer `[out, in]` with bias; a subnet uses the first `in` inputs (and all
/// outputs, which are the classes).
#[derive(Module, Debug)]
pub struct DynLinear {
    pub weight: Param<Tensor<2>>,
    pub bias: Param<Tensor<1>>,
}

impl DynLinear {
    /// Reference init: W ~ U(±1/√in), bias 0.
    pub fn new(inputs: usize, outputs: usize, device: &Device) -> Self {
        let bound = 1.0 / (inputs as f64).sqrt();
        DynLinear {
            weight: Param::from_tensor(noise::random(
                [outputs, inputs],
                Distribution::Uniform(-bound, bound),
                device,
            )),
            bias: Param::from_tensor(Tensor::zeros([outputs], device)),
        }
    }

    /// x [N, in] → [N, out].
    pub fn forward(&self, x: Tensor<2>, pass: &mut Pass) -> Tensor<2> {
        let inputs = x.dims()[1];
        let [outputs, _] = self.weight.dims();
        let weight = self.weight.val().slice([0..outputs, 0..inputs]);
        pass.count_linear(inputs, outputs);
        x.matmul(weight.transpose()) + self.bias.val().unsqueeze_dim(0)
    }

    pub fn narrowed(&self, inputs: usize) -> DynLinear {
        let [outputs, _] = self.weight.dims();
        DynLinear {
            weight: Param::from_tensor(self.weight.val().slice([0..outputs, 0..inputs])),
            bias: Param::from_tensor(self.bias.val()),
        }
    }
}

/// 1×1 convolution with bias (squeeze-and-excitation), first `out` × `in` entries.
#[derive(Module, Debug)]
pub struct DynPointwiseBias {
    pub weight: Param<Tensor<4>>,
    pub bias: Param<Tensor<1>>,
}

impl DynPointwiseBias {
    fn new(c_in: usize, c_out: usize, device: &Device) -> Self {
        DynPointwiseBias {
            weight: he_fout([c_out, c_in, 1, 1], device),
            bias: Param::from_tensor(Tensor::zeros([c_out], device)),
        }
    }

    fn forward(&self, x: Tensor<4>, out: usize, pass: &mut Pass) -> Tensor<4> {
        let c_in = x.dims()[1];
        let weight = self.weight.val().slice([0..out, 0..c_in]);
        let y = kernel::conv2d(x, weight, Some(self.bias.val().narrow(0, 0, out)), 1, 0);
        pass.count_conv(c_in, 1, 1, &y);
        y
    }

    fn narrowed(&self, c_in: usize, out: usize) -> DynPointwiseBias {
        DynPointwiseBias {
            weight: Param::from_tensor(self.weight.val().slice([0..out, 0..c_in])),
            bias: Param::from_tensor(self.bias.val().narrow(0, 0, out)),
        }
    }
}

/// Squeeze-and-excitation: pool → 1×1 (C → hidden) → ReLU → 1×1 (hidden → C) → h-sigmoid → scale,
/// with `hidden = make_divisible(C // 4)` for the active C.
#[derive(Module, Debug)]
pub struct DynSe {
    pub reduce: DynPointwiseBias,
    pub expand: DynPointwiseBias,
}

impl DynSe {
    pub fn new(channels: usize, hidden: usize, device: &Device) -> Self {
        DynSe {
            reduce: DynPointwiseBias::new(channels, hidden, device),
            expand: DynPointwiseBias::new(hidden, channels, device),
        }
    }

    pub fn forward(&self, x: Tensor<4>, hidden: usize, pass: &mut Pass) -> Tensor<4> {
        let channels = x.dims()[1];
        let squeezed = x.clone().mean_dim(3).mean_dim(2); // [N, C, 1, 1]
        let s = activation::relu(self.reduce.forward(squeezed, hidden, pass));
        let s = activation::hard_sigmoid(self.expand.forward(s, channels, pass), 1.0 / 6.0, 0.5);
        x * s
    }

    pub fn narrowed(&self, channels: usize, hidden: usize) -> DynSe {
        DynSe {
            reduce: self.reduce.narrowed(channels, hidden),
            expand: self.expand.narrowed(hidden, channels),
        }
    }
}

#[cfg(test)]
mod tests {
    use burn::module::RunningState;
    use burn::tensor::module as F;
    use burn::tensor::ops::ConvOptions;

    use super::*;
    use crate::model::pass::BnMode;

    /// Values spread over [-1, 1] without any randomness (flex's RNG is global).
    fn spread<const D: usize>(shape: [usize; D], seed: usize, device: &Device) -> Tensor<D> {
        let n: usize = shape.iter().product();
        let values = (0..n).map(|i| (((i * 7919 + seed * 104_729) % 1000) as f32 / 500.0) - 1.0);
        Tensor::from_data(TensorData::new(values.collect::<Vec<_>>(), shape), device)
    }

    /// A BatchNorm of `channels` whose γ, β and running statistics are far from the identity.
    fn trained_bn(channels: usize, device: &Device) -> DynBatchNorm {
        let ramp = |a: f32, b: f32| {
            let values = (0..channels).map(|i| a + b * i as f32).collect::<Vec<_>>();
            Tensor::<1>::from_data(TensorData::new(values, [channels]), device)
        };
        DynBatchNorm {
            weight: Param::from_tensor(ramp(0.5, 0.15)),
            bias: Param::from_tensor(ramp(-0.2, 0.05)),
            running_mean: RunningState::new(ramp(0.3, -0.07)),
            running_var: RunningState::new(ramp(0.05, 0.4)),
            ..DynBatchNorm::new(channels, 0, 0.1, 1e-5, device)
        }
    }

    /// Output and input gradient (of a fixed weighting of the output) of `layer` on `x`, with
    /// the MACs the pass counted.
    fn run(
        x: &Tensor<4>,
        layer: impl Fn(Tensor<4>, &mut Pass) -> Tensor<4>,
    ) -> (Vec<f32>, Vec<f32>, u64) {
        let attached = x.clone().autodiff().require_grad();
        let mut pass = Pass::eval();
        let y = layer(attached.clone(), &mut pass);
        let weights = spread(y.dims(), 3, &y.device());
        let gradient = attached.grad(&(y.clone() * weights).sum().backward()).unwrap();
        let values = |t: Tensor<4>| t.detach().inner().into_data().try_to_vec::<f32>().unwrap();
        (values(y), values(gradient), pass.macs)
    }

    fn assert_close(a: &[f32], b: &[f32], what: &str) {
        assert_eq!(a.len(), b.len());
        let scale = b.iter().fold(1.0f32, |m, v| m.max(v.abs()));
        for (i, (a, b)) in a.iter().zip(b).enumerate() {
            assert!((a - b).abs() <= 1e-5 * scale, "{what} {i}: folded {a} vs plain {b}");
        }
    }

    /// The folded run gives the plain run's output and input gradient, and counts its MACs.
    fn assert_same_run(folded: (Vec<f32>, Vec<f32>, u64), plain: (Vec<f32>, Vec<f32>, u64)) {
        assert_close(&folded.0, &plain.0, "output");
        assert_close(&folded.1, &plain.1, "input gradient");
        assert_eq!(folded.2, plain.2, "MACs");
    }

    #[test]
    fn a_convolution_with_batch_norm_folded_equals_the_two_layers_in_eval_mode() {
        let device = Device::flex();
        let conv =
            DynConv2d { weight: Param::from_tensor(spread([8, 6, 3, 3], 1, &device)), stride: 2 };
        let bn = trained_bn(8, &device);
        let x = spread([2, 5, 9, 9], 2, &device);
        let folded = run(&x, |x, pass| conv.forward_bn(x, 7, &bn, pass));
        let plain = run(&x, |x, pass| {
            let y = conv.forward(x, 7, pass);
            bn.forward(y, pass)
        });
        assert_same_run(folded, plain);
    }

    #[test]
    fn a_depthwise_convolution_with_batch_norm_folded_equals_the_two_layers_in_eval_mode() {
        let device = Device::flex();
        let mut depthwise = DynDepthwise::new(8, &[3, 5, 7], 1, true, &device);
        depthwise.weight = Param::from_tensor(spread([8, 1, 7, 7], 4, &device));
        depthwise.transforms = vec![
            Param::from_tensor(spread([25, 25], 5, &device) * 0.2),
            Param::from_tensor(spread([9, 9], 6, &device) * 0.3),
        ];
        let bn = trained_bn(8, &device);
        let x = spread([2, 6, 8, 8], 7, &device);
        let folded = run(&x, |x, pass| depthwise.forward_bn(x, 5, &bn, pass));
        let plain = run(&x, |x, pass| {
            let options = ConvOptions::new([1, 1], [2, 2], [1, 1], 6);
            let y = F::conv2d(x, depthwise.kernel(6, 5), None, options);
            pass.count_conv(6, 6, 5, &y);
            bn.forward(y, pass)
        });
        assert_same_run(folded, plain);
    }

    #[test]
    fn batch_norm_folds_only_in_eval_mode() {
        let bn = trained_bn(4, &Device::flex());
        assert!(bn.folded(3, BnMode::Eval).is_some());
        assert!(bn.folded(3, BnMode::Train).is_none());
        assert!(bn.folded(3, BnMode::Calibrate).is_none());
    }
}

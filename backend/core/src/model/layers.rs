//! Dynamic layers: one shared weight each, from which a subnet takes the leading slice.
//!
//! Weights keep PyTorch's layouts (`[out, in/groups, k, k]` for convs, `[out, in]` for linear
//! layers) so that exported students load elsewhere without transposes.

use burn::module::Param;
use burn::prelude::*;
use burn::tensor::Distribution;
use burn::tensor::activation;
use burn::tensor::module as F;
use burn::tensor::ops::ConvOptions;

use super::pass::Pass;

/// "he_fout" initialisation of the reference: N(0, √(2 / (k²·C_out))).
fn he_fout(shape: [usize; 4], device: &Device) -> Param<Tensor<4>> {
    let [c_out, _, k, _] = shape;
    let std = (2.0 / (k * k * c_out) as f64).sqrt();
    Param::from_tensor(Tensor::random(shape, Distribution::Normal(0.0, std), device))
}

fn same_padding(kernel: usize, stride: usize) -> ConvOptions<2> {
    ConvOptions::new([stride, stride], [kernel / 2, kernel / 2], [1, 1], 1)
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
        let y = F::conv2d(x, weight, None, same_padding(k, self.stride));
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

    /// x [N, C, H, W] → [N, C, H/stride, W/stride] with a `kernel`×`kernel` filter per channel.
    pub fn forward(&self, x: Tensor<4>, kernel: usize, pass: &mut Pass) -> Tensor<4> {
        let channels = x.dims()[1];
        let filters = self.kernel(channels, kernel);
        let options = ConvOptions::new([self.stride; 2], [kernel / 2; 2], [1, 1], channels);
        let y = F::conv2d(x, filters, None, options);
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
            weight: Param::from_tensor(Tensor::random(
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
        let y = F::conv2d(
            x,
            weight,
            Some(self.bias.val().narrow(0, 0, out)),
            ConvOptions::new([1, 1], [0, 0], [1, 1], 1),
        );
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

//! Our own compute kernels, plugged into Burn through its backend extension (`burn::backend::
//! backend_extension`): a trait of operations with a default body composed of Burn's own ops
//! (what every backend runs), a faster body for the backends where we have one, and a
//! handwritten backward for `Autodiff`, whose gradients call the trait's gradient operations in
//! turn. Layers call the `Tensor` functions here, never the trait.
//!
//! * [`conv`] — dense convolution on the CPU (flex): im2col and one GEMM per image, the images
//!   shared among the cores, for the forward, input and filter gradients.
//! * [`depthwise`] — depthwise convolution on the CPU (flex): forward, input and filter
//!   gradients as direct loops over each channel's plane.
//! * [`batch_norm`] — BatchNorm with the batch's statistics on the CPU (flex), forward and
//!   backward, each a pass for per-channel sums and one writing pass.
//!
//! Invariant: every kernel equals the default body within f32 rounding (tests here and in
//! `model::layers`); a dtype other than f32, or a grouping other than one group or one channel
//! per group, takes the default body.

pub mod batch_norm;
pub mod conv;
pub mod depthwise;

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::autodiff::{Autodiff, NodeId};
use burn::backend::flex::{Flex, FlexTensor, Layout};
use burn::backend::ops::{ConvOptions, ModuleOps};
use burn::backend::tensor::FloatTensor;
use burn::backend::{
    AutodiffBackend, Backend, Bytes, DType, Dispatch, Shape, TensorMetadata, backend_extension,
};
use burn::prelude::*;

/// The shape of one convolution: x `[batch, channels, height, width]`, square kernels, equal
/// stride and symmetric padding along both axes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geometry {
    pub batch: usize,
    pub channels: usize,
    /// Equal to `channels` for a depthwise convolution.
    pub out_channels: usize,
    pub height: usize,
    pub width: usize,
    pub kernel: usize,
    pub stride: usize,
    pub padding: usize,
}

impl Geometry {
    pub fn out_height(&self) -> usize {
        (self.height + 2 * self.padding - self.kernel) / self.stride + 1
    }

    pub fn out_width(&self) -> usize {
        (self.width + 2 * self.padding - self.kernel) / self.stride + 1
    }

    fn in_plane(&self) -> usize {
        self.height * self.width
    }

    fn out_plane(&self) -> usize {
        self.out_height() * self.out_width()
    }
}

/// `Σ term(a[i], b[i])` in 16 independent lanes (which vectorise; a single running sum would
/// not). Call it inside `pulp`'s dispatch.
#[inline(always)]
fn lane_sum(a: &[f32], b: &[f32], term: impl Fn(f32, f32) -> f32) -> f32 {
    let mut lanes = [0.0f32; 16];
    let (a_chunks, b_chunks) = (a.chunks_exact(16), b.chunks_exact(16));
    let tail: f32 =
        a_chunks.remainder().iter().zip(b_chunks.remainder()).map(|(a, b)| term(*a, *b)).sum();
    for (a, b) in a_chunks.zip(b_chunks) {
        for ((lane, a), b) in lanes.iter_mut().zip(a).zip(b) {
            *lane += term(*a, *b);
        }
    }
    lanes.iter().sum::<f32>() + tail
}

fn options(groups: usize, stride: usize, padding: usize) -> ConvOptions<2> {
    ConvOptions::new([stride; 2], [padding; 2], [1, 1], groups)
}

/// 2-D convolution with square kernels, equal strides and symmetric padding: x `[N, C, H, W]`,
/// filters `[O, C / groups, K, K]`, bias `[O]`.
#[backend_extension(Flex, Cube: cfg(any(feature = "wgpu", feature = "cuda")), Autodiff)]
pub trait ConvOps: Backend {
    /// y `[N, O, Ho, Wo]` = conv(x, filters) + bias.
    fn conv2d_square(
        x: FloatTensor<Self>,
        filters: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        stride: usize,
        padding: usize,
        groups: usize,
    ) -> FloatTensor<Self> {
        Self::conv2d(x, filters, Some(bias), options(groups, stride, padding))
    }

    /// ∂L/∂x from ∂L/∂y (`x` only gives the shape).
    fn conv2d_square_input_gradient(
        x: FloatTensor<Self>,
        filters: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        stride: usize,
        padding: usize,
        groups: usize,
    ) -> FloatTensor<Self> {
        Self::conv2d_x_backward(x, filters, grad, options(groups, stride, padding))
    }

    /// ∂L/∂filters from ∂L/∂y and x.
    fn conv2d_square_filter_gradient(
        x: FloatTensor<Self>,
        filters: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        stride: usize,
        padding: usize,
        groups: usize,
    ) -> FloatTensor<Self> {
        Self::conv2d_weight_backward(x, filters, grad, options(groups, stride, padding))
    }
}

fn convolve(
    x: Tensor<4>,
    filters: Tensor<4>,
    bias: Option<Tensor<1>>,
    stride: usize,
    padding: usize,
    groups: usize,
) -> Tensor<4> {
    let out = filters.dims()[0];
    let bias = bias.unwrap_or_else(|| Tensor::zeros([out], &filters.device()));
    Tensor::from_dispatch(<Dispatch as ConvOps>::conv2d_square(
        x.into_dispatch(),
        filters.into_dispatch(),
        bias.into_dispatch(),
        stride,
        padding,
        groups,
    ))
}

/// y = conv(x, filters) + bias, with `filters` `[O, C, K, K]` and symmetric `padding`;
/// differentiable in all three.
pub fn conv2d(
    x: Tensor<4>,
    filters: Tensor<4>,
    bias: Option<Tensor<1>>,
    stride: usize,
    padding: usize,
) -> Tensor<4> {
    convolve(x, filters, bias, stride, padding, 1)
}

/// y = depthwise(x, filters) + bias, with `filters` `[C, 1, K, K]` and symmetric `padding`;
/// differentiable in all three.
pub fn depthwise_conv2d(
    x: Tensor<4>,
    filters: Tensor<4>,
    bias: Option<Tensor<1>>,
    stride: usize,
    padding: usize,
) -> Tensor<4> {
    let channels = filters.dims()[0];
    convolve(x, filters, bias, stride, padding, channels)
}

// ---- flex: the kernels of `conv` and `depthwise` ------------------------------------------------

/// Which of our kernels computes this convolution, if one does.
#[derive(Clone, Copy)]
enum Kernel {
    Dense,
    Depthwise,
}

/// The kernel and geometry for these shapes, or `None` where Burn's body runs (non-square
/// kernels, other groupings).
fn plan(
    x: &Shape,
    filters: &Shape,
    stride: usize,
    padding: usize,
    groups: usize,
) -> Option<(Kernel, Geometry)> {
    let kernel = match (groups, filters[1]) {
        (1, c) if c == x[1] => Kernel::Dense,
        (g, 1) if g == x[1] && filters[0] == g => Kernel::Depthwise,
        _ => return None,
    };
    (filters[2] == filters[3]).then_some(())?;
    let g = Geometry {
        batch: x[0],
        channels: x[1],
        out_channels: filters[0],
        height: x[2],
        width: x[3],
        kernel: filters[2],
        stride,
        padding,
    };
    Some((kernel, g))
}

/// The tensors as contiguous f32 (a reference count when they already are), or `None` for
/// another dtype.
fn f32_operands<const N: usize>(tensors: [&FlexTensor; N]) -> Option<[FlexTensor; N]> {
    tensors.iter().all(|t| t.dtype() == DType::F32).then(|| tensors.map(|t| t.to_contiguous()))
}

fn slice(t: &FlexTensor) -> &[f32] {
    t.as_slice::<f32>().expect("contiguous f32 (f32_operands)")
}

fn flex_tensor(values: Vec<f32>, shape: [usize; 4]) -> FlexTensor {
    FlexTensor::new(Bytes::from_elems(values), Layout::contiguous(Shape::from(shape)), DType::F32)
}

impl ConvOps for Flex {
    fn conv2d_square(
        x: FlexTensor,
        filters: FlexTensor,
        bias: FlexTensor,
        stride: usize,
        padding: usize,
        groups: usize,
    ) -> FlexTensor {
        let planned = plan(&x.shape(), &filters.shape(), stride, padding, groups);
        let (Some((kernel, g)), Some([xs, fs, bs])) =
            (planned, f32_operands([&x, &filters, &bias]))
        else {
            return Flex::conv2d(x, filters, Some(bias), options(groups, stride, padding));
        };
        let (x, filters, bias) = (slice(&xs), slice(&fs), Some(slice(&bs)));
        let y = match kernel {
            Kernel::Dense => conv::forward(x, filters, bias, &g),
            Kernel::Depthwise => depthwise::forward(x, filters, bias, &g),
        };
        flex_tensor(y, [g.batch, g.out_channels, g.out_height(), g.out_width()])
    }

    fn conv2d_square_input_gradient(
        x: FlexTensor,
        filters: FlexTensor,
        grad: FlexTensor,
        stride: usize,
        padding: usize,
        groups: usize,
    ) -> FlexTensor {
        let planned = plan(&x.shape(), &filters.shape(), stride, padding, groups);
        let (Some((kernel, g)), Some([fs, gs])) = (planned, f32_operands([&filters, &grad])) else {
            return Flex::conv2d_x_backward(x, filters, grad, options(groups, stride, padding));
        };
        let (filters, grad) = (slice(&fs), slice(&gs));
        let gx = match kernel {
            Kernel::Dense => conv::input_gradient(grad, filters, &g),
            Kernel::Depthwise => depthwise::input_gradient(grad, filters, &g),
        };
        flex_tensor(gx, [g.batch, g.channels, g.height, g.width])
    }

    fn conv2d_square_filter_gradient(
        x: FlexTensor,
        filters: FlexTensor,
        grad: FlexTensor,
        stride: usize,
        padding: usize,
        groups: usize,
    ) -> FlexTensor {
        let planned = plan(&x.shape(), &filters.shape(), stride, padding, groups);
        let (Some((kernel, g)), Some([xs, gs])) = (planned, f32_operands([&x, &grad])) else {
            return Flex::conv2d_weight_backward(
                x,
                filters,
                grad,
                options(groups, stride, padding),
            );
        };
        let (x, grad) = (slice(&xs), slice(&gs));
        let gw = match kernel {
            Kernel::Dense => conv::filter_gradient(grad, x, &g),
            Kernel::Depthwise => depthwise::filter_gradient(grad, x, &g),
        };
        flex_tensor(gw, [g.out_channels, filters.shape()[1], g.kernel, g.kernel])
    }
}

// GPU backends run the default bodies (Burn's convolution).
#[cfg(any(feature = "wgpu", feature = "cuda"))]
impl ConvOps for burn::backend::Cube {}

// ---- autodiff: the backward of `conv2d_square` --------------------------------------------------

#[derive(Debug)]
struct ConvBackward;

impl<B: ConvOps> Backward<B, 3> for ConvBackward {
    /// x, filters (checkpointed), stride, padding, groups.
    type State = (NodeId, NodeId, usize, usize, usize);

    fn backward(
        self,
        ops: Ops<Self::State, 3>,
        grads: &mut Gradients,
        checkpointer: &mut Checkpointer,
    ) {
        // A parent is `None` when that input needs no gradient (attacks: the filters).
        let [x_node, filters_node, bias_node] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        let (x_id, filters_id, stride, padding, groups) = ops.state;
        let x: FloatTensor<B> = checkpointer.retrieve_node_output(x_id);
        let filters: FloatTensor<B> = checkpointer.retrieve_node_output(filters_id);
        if let Some(node) = bias_node {
            let channels = grad.shape()[1];
            let sums = B::float_sum_dim(B::float_sum_dim(B::float_sum_dim(grad.clone(), 3), 2), 0);
            grads.register::<B>(node.id, B::float_reshape(sums, Shape::from([channels])));
        }
        if let Some(node) = filters_node {
            let gw = B::conv2d_square_filter_gradient(
                x.clone(),
                filters.clone(),
                grad.clone(),
                stride,
                padding,
                groups,
            );
            grads.register::<B>(node.id, gw);
        }
        if let Some(node) = x_node {
            let gx = B::conv2d_square_input_gradient(x, filters, grad, stride, padding, groups);
            grads.register::<B>(node.id, gx);
        }
    }
}

impl<B: ConvOps, C: CheckpointStrategy> ConvOps for Autodiff<B, C> {
    fn conv2d_square(
        x: FloatTensor<Self>,
        filters: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        stride: usize,
        padding: usize,
        groups: usize,
    ) -> FloatTensor<Self> {
        let nodes = [x.node(), filters.node(), bias.node()];
        let forward =
            |x: FloatTensor<Self>, filters: FloatTensor<Self>, bias: FloatTensor<Self>| {
                B::conv2d_square(
                    x.into_primitive(),
                    filters.into_primitive(),
                    bias.into_primitive(),
                    stride,
                    padding,
                    groups,
                )
            };
        match ConvBackward.prepare::<C>(nodes).compute_bound().stateful() {
            OpsKind::Tracked(mut prep) => {
                let state =
                    (prep.checkpoint(&x), prep.checkpoint(&filters), stride, padding, groups);
                prep.finish(state, forward(x, filters, bias))
            }
            OpsKind::UnTracked(prep) => prep.finish(forward(x, filters, bias)),
        }
    }
    // The gradient operations keep their default bodies here: `ConvBackward` calls the inner
    // backend's.
}

// ---- BatchNorm with the batch's statistics --------------------------------------------------------

/// BatchNorm of x `[N, C, H, W]` over the batch's own statistics.
#[backend_extension(Flex, Cube: cfg(any(feature = "wgpu", feature = "cuda")), Autodiff)]
pub trait BatchNormOps: Backend {
    /// (y, mean `[C]`, biased variance `[C]`), y = γ · (x − mean) / √(variance + ε) + β.
    fn batch_norm_batch_statistics(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        let out = Self::batch_norm_train(x, gamma, beta, epsilon);
        (out.output, out.mean, out.variance)
    }

    /// (∂x, ∂γ, ∂β) from ∂L/∂y and the statistics the forward returned.
    fn batch_norm_batch_statistics_backward(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        mean: FloatTensor<Self>,
        variance: FloatTensor<Self>,
        epsilon: f64,
        grad: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        let out = Self::batch_norm_train_backward(x, gamma, mean, variance, epsilon, grad);
        (out.x_grad, out.gamma_grad, out.beta_grad)
    }
}

/// BatchNorm of x `[N, C, H, W]` with the batch's statistics: (y, mean, biased variance); y is
/// differentiable in x, γ and β, the statistics are not.
pub fn batch_norm_train(
    x: Tensor<4>,
    gamma: Tensor<1>,
    beta: Tensor<1>,
    epsilon: f64,
) -> (Tensor<4>, Tensor<1>, Tensor<1>) {
    let (y, mean, variance) = <Dispatch as BatchNormOps>::batch_norm_batch_statistics(
        x.into_dispatch(),
        gamma.into_dispatch(),
        beta.into_dispatch(),
        epsilon,
    );
    (Tensor::from_dispatch(y), Tensor::from_dispatch(mean), Tensor::from_dispatch(variance))
}

fn planes(x: &Shape) -> batch_norm::Planes {
    batch_norm::Planes {
        batch: x[0],
        channels: x[1],
        plane: x.num_elements() / (x[0] * x[1]).max(1),
    }
}

fn flex_vector(values: Vec<f32>) -> FlexTensor {
    let len = values.len();
    FlexTensor::new(Bytes::from_elems(values), Layout::contiguous(Shape::from([len])), DType::F32)
}

impl BatchNormOps for Flex {
    fn batch_norm_batch_statistics(
        x: FlexTensor,
        gamma: FlexTensor,
        beta: FlexTensor,
        epsilon: f64,
    ) -> (FlexTensor, FlexTensor, FlexTensor) {
        let Some([xs, gs, bs]) = f32_operands([&x, &gamma, &beta]) else {
            let out = Flex::batch_norm_train(x, gamma, beta, epsilon);
            return (out.output, out.mean, out.variance);
        };
        let shape = x.shape();
        let (y, mean, variance) =
            batch_norm::forward(slice(&xs), slice(&gs), slice(&bs), epsilon, &planes(&shape));
        let y = FlexTensor::new(Bytes::from_elems(y), Layout::contiguous(shape), DType::F32);
        (y, flex_vector(mean), flex_vector(variance))
    }

    fn batch_norm_batch_statistics_backward(
        x: FlexTensor,
        gamma: FlexTensor,
        mean: FlexTensor,
        variance: FlexTensor,
        epsilon: f64,
        grad: FlexTensor,
    ) -> (FlexTensor, FlexTensor, FlexTensor) {
        let operands = f32_operands([&x, &gamma, &mean, &variance, &grad]);
        let Some([xs, gs, ms, vs, grads]) = operands else {
            let out = Flex::batch_norm_train_backward(x, gamma, mean, variance, epsilon, grad);
            return (out.x_grad, out.gamma_grad, out.beta_grad);
        };
        let shape = x.shape();
        let (gx, ggamma, gbeta) = batch_norm::backward(
            slice(&xs),
            slice(&gs),
            slice(&ms),
            slice(&vs),
            epsilon,
            slice(&grads),
            &planes(&shape),
        );
        let gx = FlexTensor::new(Bytes::from_elems(gx), Layout::contiguous(shape), DType::F32);
        (gx, flex_vector(ggamma), flex_vector(gbeta))
    }
}

#[cfg(any(feature = "wgpu", feature = "cuda"))]
impl BatchNormOps for burn::backend::Cube {}

#[derive(Debug)]
struct BatchNormBackward;

impl<B: BatchNormOps> Backward<B, 3> for BatchNormBackward {
    /// x, γ (checkpointed), the batch's mean and variance, ε.
    type State = (NodeId, NodeId, FloatTensor<B>, FloatTensor<B>, f64);

    fn backward(
        self,
        ops: Ops<Self::State, 3>,
        grads: &mut Gradients,
        checkpointer: &mut Checkpointer,
    ) {
        let [x_node, gamma_node, beta_node] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        let (x_id, gamma_id, mean, variance, epsilon) = ops.state;
        let x: FloatTensor<B> = checkpointer.retrieve_node_output(x_id);
        let gamma: FloatTensor<B> = checkpointer.retrieve_node_output(gamma_id);
        let (gx, ggamma, gbeta) =
            B::batch_norm_batch_statistics_backward(x, gamma, mean, variance, epsilon, grad);
        for (node, grad) in [(x_node, gx), (gamma_node, ggamma), (beta_node, gbeta)] {
            if let Some(node) = node {
                grads.register::<B>(node.id, grad);
            }
        }
    }
}

impl<B: BatchNormOps, C: CheckpointStrategy> BatchNormOps for Autodiff<B, C> {
    fn batch_norm_batch_statistics(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        let nodes = [x.node(), gamma.node(), beta.node()];
        let prepared = BatchNormBackward.prepare::<C>(nodes).compute_bound().stateful();
        let statistics =
            |x: FloatTensor<Self>, gamma: FloatTensor<Self>, beta: FloatTensor<Self>| {
                B::batch_norm_batch_statistics(
                    x.into_primitive(),
                    gamma.into_primitive(),
                    beta.into_primitive(),
                    epsilon,
                )
            };
        let (y, mean, variance) = match prepared {
            OpsKind::Tracked(mut prep) => {
                let (x_id, gamma_id) = (prep.checkpoint(&x), prep.checkpoint(&gamma));
                let (y, mean, variance) = statistics(x, gamma, beta);
                let state = (x_id, gamma_id, mean.clone(), variance.clone(), epsilon);
                (prep.finish(state, y), mean, variance)
            }
            OpsKind::UnTracked(prep) => {
                let (y, mean, variance) = statistics(x, gamma, beta);
                (prep.finish(y), mean, variance)
            }
        };
        // The statistics are constants to the graph, as in Burn's own `batch_norm_train`.
        (y, Self::from_inner(mean), Self::from_inner(variance))
    }
    // The backward keeps its default body here: `BatchNormBackward` calls the inner backend's.
}

#[cfg(test)]
pub(crate) mod tests {
    use burn::tensor::Distribution;
    use burn::tensor::module as F;

    use super::*;

    /// Deterministic values in [-1, 1) (a small LCG), for the kernels' own tests.
    pub(crate) fn values(len: usize, seed: u32) -> Vec<f32> {
        let mut state = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
        (0..len)
            .map(|_| {
                state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (state >> 8) as f32 / (1u32 << 23) as f32 - 1.0
            })
            .collect()
    }

    fn close(a: &[f32], b: &[f32], what: &str, g: &Geometry) {
        assert_eq!(a.len(), b.len(), "{what} {g:?}");
        for (i, (a, b)) in a.iter().zip(b).enumerate() {
            assert!((a - b).abs() <= 1e-4 * (1.0 + b.abs()), "{what} {g:?} [{i}]: {a} vs {b}");
        }
    }

    /// The convolution by its definition, one product at a time: dense (every input channel to
    /// every output channel) or depthwise (output channel c from input channel c alone).
    fn naive(x: &[f32], w: &[f32], b: &[f32], g: &Geometry, depthwise: bool) -> Vec<f32> {
        let (ho, wo, k) = (g.out_height(), g.out_width(), g.kernel);
        let per_group = if depthwise { 1 } else { g.channels };
        let mut y = vec![0.0; g.batch * g.out_channels * ho * wo];
        for n in 0..g.batch {
            for o in 0..g.out_channels {
                let inputs = if depthwise { o..o + 1 } else { 0..g.channels };
                for oy in 0..ho {
                    for ox in 0..wo {
                        let mut acc = b[o];
                        for (j, c) in inputs.clone().enumerate() {
                            for ky in 0..k {
                                for kx in 0..k {
                                    let iy = (oy * g.stride + ky).checked_sub(g.padding);
                                    let ix = (ox * g.stride + kx).checked_sub(g.padding);
                                    let (Some(iy), Some(ix)) = (iy, ix) else { continue };
                                    if iy < g.height && ix < g.width {
                                        let xi =
                                            ((n * g.channels + c) * g.height + iy) * g.width + ix;
                                        acc += w[((o * per_group + j) * k + ky) * k + kx] * x[xi];
                                    }
                                }
                            }
                        }
                        y[((n * g.out_channels + o) * ho + oy) * wo + ox] = acc;
                    }
                }
            }
        }
        y
    }

    /// Square and oblong images, 1×1 and shorter than the kernel; kernels 1–7, strides 1 and 2,
    /// "same" and no padding: every such geometry that has an output.
    fn geometries(depthwise: bool) -> Vec<Geometry> {
        let (batch, channels, out_channels) = if depthwise { (2, 3, 3) } else { (3, 4, 5) };
        let mut all = Vec::new();
        for (height, width) in [(7, 7), (8, 5), (1, 1), (2, 9)] {
            for kernel in [1, 3, 5, 7] {
                for stride in [1, 2] {
                    for padding in [kernel / 2, 0] {
                        let g = Geometry {
                            batch,
                            channels,
                            out_channels,
                            height,
                            width,
                            kernel,
                            stride,
                            padding,
                        };
                        all.push(g);
                    }
                }
            }
        }
        all.retain(|g| g.height + 2 * g.padding >= g.kernel && g.width + 2 * g.padding >= g.kernel);
        all
    }

    type Forward = fn(&[f32], &[f32], Option<&[f32]>, &Geometry) -> Vec<f32>;
    type Gradient = fn(&[f32], &[f32], &Geometry) -> Vec<f32>;

    /// A kernel's forward is the definition (with and without bias), and its gradients are the
    /// forward's transposes: the convolution is linear in x and in the filters, so
    /// ⟨∂L/∂y, conv(x, w)⟩ equals ⟨∂L/∂x, x⟩ and ⟨∂L/∂w, w⟩ exactly when they are.
    pub(crate) fn check_kernel(
        depthwise: bool,
        forward: Forward,
        input_gradient: Gradient,
        filter_gradient: Gradient,
    ) {
        let dot = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(a, b)| (a * b) as f64).sum::<f64>();
        for g in geometries(depthwise) {
            let per_group = if depthwise { 1 } else { g.channels };
            let x = values(g.batch * g.channels * g.in_plane(), 1);
            let w = values(g.out_channels * per_group * g.kernel * g.kernel, 2);
            let b = values(g.out_channels, 3);
            let y = forward(&x, &w, Some(&b), &g);
            close(&y, &naive(&x, &w, &b, &g, depthwise), "forward", &g);
            let zero = vec![0.0; g.out_channels];
            let y = forward(&x, &w, None, &g);
            close(&y, &naive(&x, &w, &zero, &g, depthwise), "no bias", &g);

            let grad = values(g.batch * g.out_channels * g.out_plane(), 7);
            let lhs = dot(&grad, &y);
            let rhs_x = dot(&input_gradient(&grad, &w, &g), &x);
            let rhs_w = dot(&filter_gradient(&grad, &x, &g), &w);
            assert!((lhs - rhs_x).abs() < 1e-4 * (1.0 + lhs.abs()), "x: {g:?} {lhs} {rhs_x}");
            assert!((lhs - rhs_w).abs() < 1e-4 * (1.0 + lhs.abs()), "w: {g:?} {lhs} {rhs_w}");
        }
    }

    fn assert_close(a: Tensor<4>, b: Tensor<4>, what: &str) {
        let scale = b.clone().abs().max().into_scalar::<f32>().max(1.0);
        let diff = (a - b).abs().max().into_scalar::<f32>();
        assert!(diff <= 1e-5 * scale, "{what}: max |Δ| {diff} (scale {scale})");
    }

    /// Burn's convolution and our kernels, dense and depthwise: same output, same gradients of
    /// x, filters and bias, for every kernel size and stride the spaces use.
    #[test]
    fn kernels_equal_burns_convolution_forward_and_backward() {
        let device = Device::flex();
        device.seed(3);
        for depthwise in [false, true] {
            for kernel in [1, 3, 5, 7] {
                for stride in [1, 2] {
                    let (n, c, h, w) = (3, 5, 9, 8);
                    let (out, per_group, groups) = if depthwise { (c, 1, c) } else { (6, c, 1) };
                    let x = Tensor::<4>::random([n, c, h, w], Distribution::Default, &device);
                    let filters = Tensor::<4>::random(
                        [out, per_group, kernel, kernel],
                        Distribution::Default,
                        &device,
                    );
                    let bias = Tensor::<1>::random([out], Distribution::Default, &device);
                    let upstream = |y: Tensor<4>| {
                        let weights = Tensor::<4>::random(y.dims(), Distribution::Default, &device);
                        (y * weights.autodiff()).sum()
                    };
                    let run = |ours: bool| {
                        let (x, filters, bias) = (
                            x.clone().autodiff().require_grad(),
                            filters.clone().autodiff().require_grad(),
                            bias.clone().autodiff().require_grad(),
                        );
                        let (f, b, padding) = (filters.clone(), Some(bias.clone()), kernel / 2);
                        let y = match (ours, depthwise) {
                            (true, true) => depthwise_conv2d(x.clone(), f, b, stride, padding),
                            (true, false) => conv2d(x.clone(), f, b, stride, padding),
                            (false, _) => {
                                F::conv2d(x.clone(), f, b, options(groups, stride, padding))
                            }
                        };
                        device.seed(9);
                        let grads = upstream(y.clone()).backward();
                        (
                            y.inner(),
                            x.grad(&grads).unwrap(),
                            filters.grad(&grads).unwrap(),
                            bias.grad(&grads).unwrap(),
                        )
                    };
                    let (y, gx, gw, gb) = run(true);
                    let (y0, gx0, gw0, gb0) = run(false);
                    let what = format!("depthwise {depthwise} k{kernel} s{stride}");
                    assert_close(y, y0, &format!("{what} output"));
                    assert_close(gx, gx0, &format!("{what} ∂x"));
                    assert_close(gw, gw0, &format!("{what} ∂filters"));
                    assert_close(
                        gb.reshape([1, 1, 1, out]),
                        gb0.reshape([1, 1, 1, out]),
                        &format!("{what} ∂bias"),
                    );
                }
            }
        }
    }

    /// Burn's `batch_norm_train` and ours: same output and statistics, same gradients of x, γ
    /// and β through autodiff; without autodiff, the same again.
    #[test]
    fn batch_norm_equals_burns_forward_and_backward() {
        let device = Device::flex();
        device.seed(5);
        let x = Tensor::<4>::random([4, 3, 5, 6], Distribution::Normal(2.0, 3.0), &device);
        let gamma = Tensor::<1>::random([3], Distribution::Default, &device);
        let beta = Tensor::<1>::random([3], Distribution::Default, &device);
        let weights = Tensor::<4>::random([4, 3, 5, 6], Distribution::Default, &device).autodiff();
        let as_4d = |t: Tensor<1>| t.reshape([1, 1, 1, 3]);
        let run = |ours: bool| {
            let (x, gamma, beta) = (
                x.clone().autodiff().require_grad(),
                gamma.clone().autodiff().require_grad(),
                beta.clone().autodiff().require_grad(),
            );
            let (y, mean, variance) = if ours {
                batch_norm_train(x.clone(), gamma.clone(), beta.clone(), 1e-5)
            } else {
                let out = F::batch_norm_train(x.clone(), gamma.clone(), beta.clone(), 1e-5);
                (out.output, out.mean, out.variance)
            };
            let grads = (y.clone() * weights.clone()).sum().backward();
            let (gx, ggamma, gbeta) =
                (x.grad(&grads).unwrap(), gamma.grad(&grads).unwrap(), beta.grad(&grads).unwrap());
            [
                y.inner(),
                as_4d(mean.inner()),
                as_4d(variance.inner()),
                gx,
                as_4d(ggamma),
                as_4d(gbeta),
            ]
        };
        let names = ["output", "mean", "variance", "∂x", "∂γ", "∂β"];
        for ((a, b), what) in run(true).into_iter().zip(run(false)).zip(names) {
            assert_close(a, b, what);
        }
        let (plain, _, _) = batch_norm_train(x.clone(), gamma.clone(), beta.clone(), 1e-5);
        assert_close(plain, F::batch_norm_train(x, gamma, beta, 1e-5).output, "plain");
    }

    /// Without autodiff the call goes to flex directly; with constant filters only ∂x exists.
    #[test]
    fn plain_tensors_and_constant_filters() {
        let device = Device::flex();
        let x = Tensor::<4>::random([2, 4, 6, 6], Distribution::Default, &device);
        let filters = Tensor::<4>::random([4, 1, 3, 3], Distribution::Default, &device);
        let plain = depthwise_conv2d(x.clone(), filters.clone(), None, 1, 1);
        let reference = F::conv2d(x.clone(), filters.clone(), None, options(4, 1, 1));
        assert_close(plain, reference, "plain");
        let tracked = x.autodiff().require_grad();
        let constant = filters.autodiff();
        let grads =
            depthwise_conv2d(tracked.clone(), constant.clone(), None, 1, 1).sum().backward();
        assert_eq!(tracked.grad(&grads).unwrap().dims(), [2, 4, 6, 6]);
        assert!(constant.grad(&grads).is_none());
    }

    /// Groupings our kernels do not cover run Burn's body.
    #[test]
    fn other_groupings_take_burns_convolution() {
        let device = Device::flex();
        let x = Tensor::<4>::random([2, 4, 5, 5], Distribution::Default, &device);
        let filters = Tensor::<4>::random([6, 2, 3, 3], Distribution::Default, &device);
        let bias = Tensor::<1>::zeros([6], &device);
        let ours = convolve(x.clone(), filters.clone(), Some(bias), 1, 1, 2);
        assert_close(ours, F::conv2d(x, filters, None, options(2, 1, 1)), "two groups");
    }
}

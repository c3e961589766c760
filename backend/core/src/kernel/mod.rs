//! Our own compute kernels, plugged into Burn through its backend extension (`burn::backend::
//! backend_extension`): a trait of operations with a default body composed of Burn's own ops
//! (what every backend runs), a faster body for the backends where we have one, and a
//! handwritten backward for `Autodiff`, whose gradients call the trait's gradient operations in
//! turn. Layers call the `Tensor` functions here, never the trait.
//!
//! * [`depthwise`] — depthwise convolution on the CPU (flex): forward, input and filter
//!   gradients as direct loops over each channel's plane.
//!
//! Invariant: every kernel equals the default body within f32 rounding (tests here and in
//! `model::layers`); a dtype other than f32 takes the default body.

pub mod depthwise;

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::autodiff::{Autodiff, NodeId};
use burn::backend::flex::{Flex, FlexTensor, Layout};
use burn::backend::ops::{ConvOptions, ModuleOps};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, Bytes, DType, Dispatch, Shape, TensorMetadata, backend_extension};
use burn::prelude::*;

use depthwise::Geometry;

fn depthwise_options(channels: usize, stride: usize, padding: usize) -> ConvOptions<2> {
    ConvOptions::new([stride; 2], [padding; 2], [1, 1], channels)
}

/// Depthwise convolution: x `[N, C, H, W]`, filters `[C, 1, K, K]`, bias `[C]`.
#[backend_extension(Flex, Cube: cfg(any(feature = "wgpu", feature = "cuda")), Autodiff)]
pub trait DepthwiseOps: Backend {
    /// y `[N, C, Ho, Wo]` = depthwise(x, filters) + bias.
    fn depthwise_conv2d(
        x: FloatTensor<Self>,
        filters: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        stride: usize,
        padding: usize,
    ) -> FloatTensor<Self> {
        let options = depthwise_options(filters.shape()[0], stride, padding);
        Self::conv2d(x, filters, Some(bias), options)
    }

    /// ∂L/∂x from ∂L/∂y (`x` only gives the shape).
    fn depthwise_conv2d_input_gradient(
        x: FloatTensor<Self>,
        filters: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        stride: usize,
        padding: usize,
    ) -> FloatTensor<Self> {
        let options = depthwise_options(filters.shape()[0], stride, padding);
        Self::conv2d_x_backward(x, filters, grad, options)
    }

    /// ∂L/∂filters from ∂L/∂y and x.
    fn depthwise_conv2d_filter_gradient(
        x: FloatTensor<Self>,
        filters: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        stride: usize,
        padding: usize,
    ) -> FloatTensor<Self> {
        let options = depthwise_options(filters.shape()[0], stride, padding);
        Self::conv2d_weight_backward(x, filters, grad, options)
    }
}

/// y = depthwise(x, filters) + bias, with `filters` `[C, 1, K, K]` and "same"-style symmetric
/// `padding`; differentiable in all three.
pub fn depthwise_conv2d(
    x: Tensor<4>,
    filters: Tensor<4>,
    bias: Option<Tensor<1>>,
    stride: usize,
    padding: usize,
) -> Tensor<4> {
    let channels = filters.dims()[0];
    let bias = bias.unwrap_or_else(|| Tensor::zeros([channels], &filters.device()));
    Tensor::from_dispatch(<Dispatch as DepthwiseOps>::depthwise_conv2d(
        x.into_dispatch(),
        filters.into_dispatch(),
        bias.into_dispatch(),
        stride,
        padding,
    ))
}

// ---- flex: the kernels of `depthwise` -----------------------------------------------------------

fn geometry(x: &Shape, filters: &Shape, stride: usize, padding: usize) -> Geometry {
    assert_eq!(
        (filters[0], filters[1], filters[2]),
        (x[1], 1, filters[3]),
        "depthwise filters are [C, 1, K, K] for x [N, C, H, W]"
    );
    Geometry {
        batch: x[0],
        channels: x[1],
        height: x[2],
        width: x[3],
        kernel: filters[2],
        stride,
        padding,
    }
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

impl DepthwiseOps for Flex {
    fn depthwise_conv2d(
        x: FlexTensor,
        filters: FlexTensor,
        bias: FlexTensor,
        stride: usize,
        padding: usize,
    ) -> FlexTensor {
        let Some([xs, fs, bs]) = f32_operands([&x, &filters, &bias]) else {
            let options = depthwise_options(filters.shape()[0], stride, padding);
            return Flex::conv2d(x, filters, Some(bias), options);
        };
        let g = geometry(&x.shape(), &filters.shape(), stride, padding);
        let y = depthwise::forward(slice(&xs), slice(&fs), Some(slice(&bs)), &g);
        flex_tensor(y, [g.batch, g.channels, g.out_height(), g.out_width()])
    }

    fn depthwise_conv2d_input_gradient(
        x: FlexTensor,
        filters: FlexTensor,
        grad: FlexTensor,
        stride: usize,
        padding: usize,
    ) -> FlexTensor {
        let Some([fs, gs]) = f32_operands([&filters, &grad]) else {
            let options = depthwise_options(filters.shape()[0], stride, padding);
            return Flex::conv2d_x_backward(x, filters, grad, options);
        };
        let g = geometry(&x.shape(), &filters.shape(), stride, padding);
        let gx = depthwise::input_gradient(slice(&gs), slice(&fs), &g);
        flex_tensor(gx, [g.batch, g.channels, g.height, g.width])
    }

    fn depthwise_conv2d_filter_gradient(
        x: FlexTensor,
        filters: FlexTensor,
        grad: FlexTensor,
        stride: usize,
        padding: usize,
    ) -> FlexTensor {
        let Some([xs, gs]) = f32_operands([&x, &grad]) else {
            let options = depthwise_options(filters.shape()[0], stride, padding);
            return Flex::conv2d_weight_backward(x, filters, grad, options);
        };
        let g = geometry(&x.shape(), &filters.shape(), stride, padding);
        let gw = depthwise::filter_gradient(slice(&gs), slice(&xs), &g);
        flex_tensor(gw, [g.channels, 1, g.kernel, g.kernel])
    }
}

// GPU backends run the default bodies (Burn's grouped convolution).
#[cfg(any(feature = "wgpu", feature = "cuda"))]
impl DepthwiseOps for burn::backend::Cube {}

// ---- autodiff: the backward of `depthwise_conv2d` -----------------------------------------------

#[derive(Debug)]
struct DepthwiseBackward;

impl<B: DepthwiseOps> Backward<B, 3> for DepthwiseBackward {
    /// x, filters (checkpointed), stride, padding.
    type State = (NodeId, NodeId, usize, usize);

    fn backward(
        self,
        ops: Ops<Self::State, 3>,
        grads: &mut Gradients,
        checkpointer: &mut Checkpointer,
    ) {
        // A parent is `None` when that input needs no gradient (attacks: the filters).
        let [x_node, filters_node, bias_node] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        let (x_id, filters_id, stride, padding) = ops.state;
        let x: FloatTensor<B> = checkpointer.retrieve_node_output(x_id);
        let filters: FloatTensor<B> = checkpointer.retrieve_node_output(filters_id);
        if let Some(node) = bias_node {
            let channels = grad.shape()[1];
            let sums = B::float_sum_dim(B::float_sum_dim(B::float_sum_dim(grad.clone(), 3), 2), 0);
            grads.register::<B>(node.id, B::float_reshape(sums, Shape::from([channels])));
        }
        if let Some(node) = filters_node {
            let gw = B::depthwise_conv2d_filter_gradient(
                x.clone(),
                filters.clone(),
                grad.clone(),
                stride,
                padding,
            );
            grads.register::<B>(node.id, gw);
        }
        if let Some(node) = x_node {
            let gx = B::depthwise_conv2d_input_gradient(x, filters, grad, stride, padding);
            grads.register::<B>(node.id, gx);
        }
    }
}

impl<B: DepthwiseOps, C: CheckpointStrategy> DepthwiseOps for Autodiff<B, C> {
    fn depthwise_conv2d(
        x: FloatTensor<Self>,
        filters: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        stride: usize,
        padding: usize,
    ) -> FloatTensor<Self> {
        let nodes = [x.node(), filters.node(), bias.node()];
        match DepthwiseBackward.prepare::<C>(nodes).compute_bound().stateful() {
            OpsKind::Tracked(mut prep) => {
                let state = (prep.checkpoint(&x), prep.checkpoint(&filters), stride, padding);
                let y = B::depthwise_conv2d(
                    x.into_primitive(),
                    filters.into_primitive(),
                    bias.into_primitive(),
                    stride,
                    padding,
                );
                prep.finish(state, y)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::depthwise_conv2d(
                x.into_primitive(),
                filters.into_primitive(),
                bias.into_primitive(),
                stride,
                padding,
            )),
        }
    }
    // The gradient operations keep their default bodies here: `DepthwiseBackward` calls the inner
    // backend's.
}

#[cfg(test)]
mod tests {
    use burn::tensor::Distribution;
    use burn::tensor::module as F;

    use super::*;

    fn assert_close(a: Tensor<4>, b: Tensor<4>, what: &str) {
        let scale = b.clone().abs().max().into_scalar::<f32>().max(1.0);
        let diff = (a - b).abs().max().into_scalar::<f32>();
        assert!(diff <= 1e-5 * scale, "{what}: max |Δ| {diff} (scale {scale})");
    }

    /// Burn's grouped convolution and our kernels: same output, same gradients of x, filters
    /// and bias, for every kernel size and stride the spaces use.
    #[test]
    fn kernels_equal_burns_grouped_convolution_forward_and_backward() {
        let device = Device::flex();
        device.seed(3);
        for kernel in [3, 5, 7] {
            for stride in [1, 2] {
                let (n, c, h, w) = (3, 5, 9, 8);
                let x = Tensor::<4>::random([n, c, h, w], Distribution::Default, &device);
                let filters =
                    Tensor::<4>::random([c, 1, kernel, kernel], Distribution::Default, &device);
                let bias = Tensor::<1>::random([c], Distribution::Default, &device);
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
                    let y = if ours {
                        depthwise_conv2d(
                            x.clone(),
                            filters.clone(),
                            Some(bias.clone()),
                            stride,
                            kernel / 2,
                        )
                    } else {
                        let options = depthwise_options(c, stride, kernel / 2);
                        F::conv2d(x.clone(), filters.clone(), Some(bias.clone()), options)
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
                let what = format!("k{kernel} s{stride}");
                assert_close(y, y0, &format!("{what} output"));
                assert_close(gx, gx0, &format!("{what} ∂x"));
                assert_close(gw, gw0, &format!("{what} ∂filters"));
                assert_close(
                    gb.reshape([1, 1, 1, c]),
                    gb0.reshape([1, 1, 1, c]),
                    &format!("{what} ∂bias"),
                );
            }
        }
    }

    /// Without autodiff the call goes to flex directly; with constant filters only ∂x exists.
    #[test]
    fn plain_tensors_and_constant_filters() {
        let device = Device::flex();
        let x = Tensor::<4>::random([2, 4, 6, 6], Distribution::Default, &device);
        let filters = Tensor::<4>::random([4, 1, 3, 3], Distribution::Default, &device);
        let plain = depthwise_conv2d(x.clone(), filters.clone(), None, 1, 1);
        let reference = F::conv2d(x.clone(), filters.clone(), None, depthwise_options(4, 1, 1));
        assert_close(plain, reference, "plain");
        let tracked = x.autodiff().require_grad();
        let constant = filters.autodiff();
        let grads =
            depthwise_conv2d(tracked.clone(), constant.clone(), None, 1, 1).sum().backward();
        assert_eq!(tracked.grad(&grads).unwrap().dims(), [2, 4, 6, 6]);
        assert!(constant.grad(&grads).is_none());
    }
}

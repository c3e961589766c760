//! Dyn-MobileNetV3 for CIFAR: stem conv, fixed first MBConv, stages of dynamic MBConv blocks,
//! final expand, feature mix and classifier.

use burn::prelude::*;
use burn::tensor::activation::{hard_swish, relu};
use proard_shared::space::{Activation, MbV3Space};
use proard_shared::subnet::{MbConv, MbV3Subnet};

use super::batch_norm::DynBatchNorm;
use super::layers::{DynConv2d, DynDepthwise, DynLinear, DynSe};
use super::pass::Pass;
use super::{NetConfig, dropout, global_average_pool};

fn activate(x: Tensor<4>, activation: Activation) -> Tensor<4> {
    match activation {
        Activation::Relu => relu(x),
        Activation::HSwish => hard_swish(x),
    }
}

/// [1×1 expand → BN → act] → depthwise k×k stride s → BN → act → \[SE] → 1×1 project → BN
/// (+ x when the block has an identity shortcut).
#[derive(Module, Debug)]
pub struct DynMbConv {
    /// Absent in the fixed first block (expand ratio 1).
    pub expand: Option<DynConv2d>,
    pub expand_bn: Option<DynBatchNorm>,
    pub depthwise: DynDepthwise,
    pub depthwise_bn: DynBatchNorm,
    pub se: Option<DynSe>,
    pub project: DynConv2d,
    pub project_bn: DynBatchNorm,
}

impl DynMbConv {
    pub fn forward(&self, x: Tensor<4>, block: &MbConv, pass: &mut Pass) -> Tensor<4> {
        let mut y = x.clone();
        if let (Some(expand), Some(bn), Some(mid)) =
            (&self.expand, &self.expand_bn, block.mid_channels)
        {
            y = activate(expand.forward_bn(y, mid as usize, bn, pass), block.activation); // [N, mid, H, W]
        }
        let y = self.depthwise.forward_bn(y, block.kernel_size as usize, &self.depthwise_bn, pass); // [N, mid, H/s, W/s]
        let mut y = activate(y, block.activation);
        if let (Some(se), Some(hidden)) = (&self.se, block.se_channels) {
            y = se.forward(y, hidden as usize, pass);
        }
        let y = self.project.forward_bn(y, block.out_channels as usize, &self.project_bn, pass);
        if block.residual { y + x } else { y }
    }

    fn narrowed(&self, block: &MbConv) -> DynMbConv {
        let (c_in, out) = (block.in_channels as usize, block.out_channels as usize);
        let dw = block.depthwise_channels() as usize;
        DynMbConv {
            expand: self.expand.as_ref().map(|l| l.narrowed(c_in, dw)),
            expand_bn: self.expand_bn.as_ref().map(|bn| bn.narrowed(dw)),
            depthwise: self.depthwise.narrowed(dw, block.kernel_size as usize),
            depthwise_bn: self.depthwise_bn.narrowed(dw),
            se: self
                .se
                .as_ref()
                .zip(block.se_channels)
                .map(|(se, hidden)| se.narrowed(dw, hidden as usize)),
            project: self.project.narrowed(dw, out),
            project_bn: self.project_bn.narrowed(out),
        }
    }
}

#[derive(Module, Debug)]
pub struct DynMbV3 {
    pub stem: DynConv2d,
    pub stem_bn: DynBatchNorm,
    pub first_block: DynMbConv,
    /// Physical dynamic blocks, stage after stage.
    pub blocks: Vec<DynMbConv>,
    pub final_expand: DynConv2d,
    pub final_expand_bn: DynBatchNorm,
    pub feature_mix: DynConv2d,
    pub classifier: DynLinear,
    pub dropout: f64,
}

impl DynMbV3 {
    /// The supernet of `space`, every layer at its largest size, seeded by the device's RNG.
    pub fn new(space: &MbV3Space, config: &NetConfig, device: &Device) -> Self {
        let mut key = 0;
        let mut bn = |channels: usize| {
            key += 1;
            DynBatchNorm::new(channels, key, config.bn_momentum, config.bn_epsilon, device)
        };
        let stem_width = space.stem.width as usize;
        let stem = DynConv2d::new(
            space.io.in_channels as usize,
            stem_width,
            3,
            space.stem.stride as usize,
            device,
        );
        let stem_bn = bn(stem_width);
        let first = &space.first_block;
        let first_width = first.width as usize;
        let first_block = DynMbConv {
            expand: None,
            expand_bn: None,
            depthwise: DynDepthwise::new(
                stem_width,
                &[first.kernel_size as usize],
                1,
                false,
                device,
            ),
            depthwise_bn: bn(stem_width),
            se: None,
            project: DynConv2d::new(stem_width, first_width, 1, 1, device),
            project_bn: bn(first_width),
        };
        let mut blocks = Vec::with_capacity(space.total_blocks());
        let mut c_in = first_width;
        for (s, stage) in space.stages.iter().enumerate() {
            let c_out = stage.width as usize;
            let kernels: Vec<usize> = stage.kernel_sizes.iter().map(|k| *k as usize).collect();
            for b in 0..space.stage_blocks(s) {
                let stride = if b == 0 { stage.stride as usize } else { 1 };
                let mid = stage
                    .expand_ratios
                    .iter()
                    .map(|e| MbV3Space::mid_width(c_in as u32, *e) as usize)
                    .max()
                    .expect("non-empty ratios");
                blocks.push(DynMbConv {
                    expand: Some(DynConv2d::new(c_in, mid, 1, 1, device)),
                    expand_bn: Some(bn(mid)),
                    depthwise: DynDepthwise::new(
                        mid,
                        &kernels,
                        stride,
                        config.kernel_transform,
                        device,
                    ),
                    depthwise_bn: bn(mid),
                    se: stage
                        .se
                        .then(|| DynSe::new(mid, MbV3Space::se_width(mid as u32) as usize, device)),
                    project: DynConv2d::new(mid, c_out, 1, 1, device),
                    project_bn: bn(c_out),
                });
                c_in = c_out;
            }
        }
        let (expand_width, feature_width) =
            (space.head.final_expand_width as usize, space.head.feature_width as usize);
        DynMbV3 {
            stem,
            stem_bn,
            first_block,
            blocks,
            final_expand: DynConv2d::new(c_in, expand_width, 1, 1, device),
            final_expand_bn: bn(expand_width),
            feature_mix: DynConv2d::new(expand_width, feature_width, 1, 1, device),
            classifier: DynLinear::new(feature_width, space.io.n_classes as usize, device),
            dropout: config.dropout,
        }
    }

    /// Logits [N, classes] of the subnet `net` for images x [N, 3, H, W] in [0, 1].
    pub fn forward(&self, x: Tensor<4>, net: &MbV3Subnet, pass: &mut Pass) -> Tensor<2> {
        let x = self.stem.forward_bn(x, net.stem_channels as usize, &self.stem_bn, pass);
        let mut x = activate(x, net.stem_activation);
        x = self.first_block.forward(x, &net.first_block, pass);
        for block in &net.blocks {
            x = self.blocks[block.index].forward(x, block, pass);
        }
        let x = self.final_expand.forward_bn(
            x,
            net.final_expand_channels as usize,
            &self.final_expand_bn,
            pass,
        );
        let x = hard_swish(x);
        let [n, c, _, _] = x.dims();
        let pooled = global_average_pool(x).reshape([n, c, 1, 1]);
        let features =
            hard_swish(self.feature_mix.forward(pooled, net.feature_channels as usize, pass));
        let features =
            dropout(features.reshape([n, net.feature_channels as usize]), self.dropout, pass); // [N, F]
        self.classifier.forward(features, pass)
    }

    /// The static student of `net`: exactly its layers, weights and statistics sliced out.
    pub fn student(&self, net: &MbV3Subnet) -> (DynMbV3, MbV3Subnet) {
        let mut renumbered = net.clone();
        let blocks = net
            .blocks
            .iter()
            .enumerate()
            .map(|(i, block)| {
                renumbered.blocks[i].index = i;
                self.blocks[block.index].narrowed(block)
            })
            .collect();
        let last =
            net.blocks.last().map_or(net.first_block.out_channels, |b| b.out_channels) as usize;
        let (expand_width, feature_width) =
            (net.final_expand_channels as usize, net.feature_channels as usize);
        let student = DynMbV3 {
            stem: self.stem.narrowed(net.io.in_channels as usize, net.stem_channels as usize),
            stem_bn: self.stem_bn.narrowed(net.stem_channels as usize),
            first_block: self.first_block.narrowed(&net.first_block),
            blocks,
            final_expand: self.final_expand.narrowed(last, expand_width),
            final_expand_bn: self.final_expand_bn.narrowed(expand_width),
            feature_mix: self.feature_mix.narrowed(expand_width, feature_width),
            classifier: self.classifier.narrowed(feature_width),
            dropout: 0.0,
        };
        (student, renumbered)
    }
}

//! Dyn-ResNet for CIFAR: stem of 3×3 convs, stages of bottleneck blocks, linear head.

use burn::prelude::*;
use burn::tensor::activation::relu;
use proard_shared::space::ResNetSpace;
use proard_shared::subnet::{Bottleneck, ResNetSubnet};

use super::batch_norm::DynBatchNorm;
use super::layers::{DynConv2d, DynLinear};
use super::pass::Pass;
use super::{NetConfig, dropout, global_average_pool};

/// conv → BN → ReLU.
#[derive(Module, Debug)]
pub struct ConvBnAct {
    pub conv: DynConv2d,
    pub bn: DynBatchNorm,
}

impl ConvBnAct {
    fn forward(&self, x: Tensor<4>, out: usize, pass: &mut Pass) -> Tensor<4> {
        relu(self.conv.forward_bn(x, out, &self.bn, pass))
    }
}

/// 1×1 conv with the stage's stride, then BN: the first block's projection shortcut.
#[derive(Module, Debug)]
pub struct Projection {
    pub conv: DynConv2d,
    pub bn: DynBatchNorm,
}

#[derive(Module, Debug)]
pub struct DynBottleneck {
    pub conv1: DynConv2d,
    pub bn1: DynBatchNorm,
    pub conv2: DynConv2d,
    pub bn2: DynBatchNorm,
    pub conv3: DynConv2d,
    pub bn3: DynBatchNorm,
    pub downsample: Option<Projection>,
}

impl DynBottleneck {
    /// relu(bn3(conv3(relu(bn2(conv2_s(relu(bn1(conv1(x))))))) + shortcut(x)).
    pub fn forward(&self, x: Tensor<4>, block: &Bottleneck, pass: &mut Pass) -> Tensor<4> {
        let (mid, out) = (block.mid_channels as usize, block.out_channels as usize);
        let shortcut = match &self.downsample {
            Some(p) => p.conv.forward_bn(x.clone(), out, &p.bn, pass),
            None => x.clone(),
        };
        let y = relu(self.conv1.forward_bn(x, mid, &self.bn1, pass)); // [N, mid, H, W]
        let y = relu(self.conv2.forward_bn(y, mid, &self.bn2, pass)); // [N, mid, H/s, W/s]
        let y = self.conv3.forward_bn(y, out, &self.bn3, pass); // [N, out, H/s, W/s]
        relu(y + shortcut)
    }
}

#[derive(Module, Debug)]
pub struct DynResNet {
    pub stem1: ConvBnAct,
    /// The stem's skippable residual conv (absent in a student that skips it).
    pub stem2: Option<ConvBnAct>,
    pub stem3: ConvBnAct,
    /// Physical blocks, stage after stage.
    pub blocks: Vec<DynBottleneck>,
    pub classifier: DynLinear,
    pub dropout: f64,
}

/// Numbers BatchNorm layers in construction order, so calibrations can name them.
struct Keys(usize);

impl Keys {
    fn bn(&mut self, channels: usize, config: &NetConfig, device: &Device) -> DynBatchNorm {
        self.0 += 1;
        DynBatchNorm::new(channels, self.0, config.bn_momentum, config.bn_epsilon, device)
    }
}

fn max(values: impl IntoIterator<Item = u32>) -> usize {
    values.into_iter().max().expect("choice lists are non-empty") as usize
}

impl DynResNet {
    /// The supernet of `space`, every layer at its largest width, seeded by the device's RNG.
    pub fn new(space: &ResNetSpace, config: &NetConfig, device: &Device) -> Self {
        let mut keys = Keys(0);
        let mut conv_bn = |c_in, c_out, k, stride| ConvBnAct {
            conv: DynConv2d::new(c_in, c_out, k, stride, device),
            bn: keys.bn(c_out, config, device),
        };
        let (mid, out) = (max(space.stem_mid_widths()), max(space.stem_out_widths()));
        let in_channels = space.io.in_channels as usize;
        let (stem1, stem2, stem3) =
            (conv_bn(in_channels, mid, 3, 1), conv_bn(mid, mid, 3, 1), conv_bn(mid, out, 3, 1));
        let mut blocks = Vec::with_capacity(space.total_blocks());
        let mut c_in = out;
        for (s, stage) in space.stages.iter().enumerate() {
            let widths = space.stage_widths(s);
            let c_out = max(widths.iter().copied());
            let c_mid = max(widths
                .iter()
                .flat_map(|w| stage.expand_ratios.iter().map(|e| ResNetSpace::mid_width(*w, *e))));
            for b in 0..space.stage_blocks(s) {
                let stride = if b == 0 { stage.stride as usize } else { 1 };
                let c1 = conv_bn(c_in, c_mid, 1, 1);
                let c2 = conv_bn(c_mid, c_mid, 3, stride);
                let c3 = conv_bn(c_mid, c_out, 1, 1);
                let downsample = (b == 0).then(|| {
                    let p = conv_bn(c_in, c_out, 1, stride);
                    Projection { conv: p.conv, bn: p.bn }
                });
                blocks.push(DynBottleneck {
                    conv1: c1.conv,
                    bn1: c1.bn,
                    conv2: c2.conv,
                    bn2: c2.bn,
                    conv3: c3.conv,
                    bn3: c3.bn,
                    downsample,
                });
                c_in = c_out;
            }
        }
        let classifier = DynLinear::new(c_in, space.io.n_classes as usize, device);
        DynResNet { stem1, stem2: Some(stem2), stem3, blocks, classifier, dropout: config.dropout }
    }

    /// Logits [N, classes] of the subnet `net` for images x [N, 3, H, W] in [0, 1].
    pub fn forward(&self, x: Tensor<4>, net: &ResNetSubnet, pass: &mut Pass) -> Tensor<2> {
        let (mid, out) = (net.stem_mid as usize, net.stem_out as usize);
        let mut x = self.stem1.forward(x, mid, pass);
        if net.stem_residual {
            let residual = self.stem2.as_ref().expect("the supernet has the stem residual conv");
            x = x.clone() + residual.forward(x, mid, pass);
        }
        let mut x = self.stem3.forward(x, out, pass);
        for block in &net.blocks {
            x = self.blocks[block.index].forward(x, block, pass);
        }
        let features = dropout(global_average_pool(x), self.dropout, pass); // [N, C]
        self.classifier.forward(features, pass)
    }

    /// The static student of `net`: exactly its layers, weights and statistics sliced out.
    pub fn student(&self, net: &ResNetSubnet) -> (DynResNet, ResNetSubnet) {
        let (mid, out) = (net.stem_mid as usize, net.stem_out as usize);
        let narrow = |l: &ConvBnAct, c_in: usize, c_out: usize| ConvBnAct {
            conv: l.conv.narrowed(c_in, c_out),
            bn: l.bn.narrowed(c_out),
        };
        let in_channels = net.io.in_channels as usize;
        let stem2 =
            if net.stem_residual { self.stem2.as_ref().map(|l| narrow(l, mid, mid)) } else { None };
        let mut blocks = Vec::with_capacity(net.blocks.len());
        let mut renumbered = net.clone();
        for (i, block) in net.blocks.iter().enumerate() {
            let b = &self.blocks[block.index];
            let (c_in, m, c_out) = (
                block.in_channels as usize,
                block.mid_channels as usize,
                block.out_channels as usize,
            );
            blocks.push(DynBottleneck {
                conv1: b.conv1.narrowed(c_in, m),
                bn1: b.bn1.narrowed(m),
                conv2: b.conv2.narrowed(m, m),
                bn2: b.bn2.narrowed(m),
                conv3: b.conv3.narrowed(m, c_out),
                bn3: b.bn3.narrowed(c_out),
                downsample: b.downsample.as_ref().map(|p| Projection {
                    conv: p.conv.narrowed(c_in, c_out),
                    bn: p.bn.narrowed(c_out),
                }),
            });
            renumbered.blocks[i].index = i;
        }
        let last = net.blocks.last().map_or(out, |b| b.out_channels as usize);
        let student = DynResNet {
            stem1: narrow(&self.stem1, in_channels, mid),
            stem2,
            stem3: narrow(&self.stem3, mid, out),
            blocks,
            classifier: self.classifier.narrowed(last),
            dropout: 0.0,
        };
        (student, renumbered)
    }
}

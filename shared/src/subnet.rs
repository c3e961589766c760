//! The concrete network an arch stands for: every active layer with its channel counts,
//! kernel, stride and feature-map size.
//!
//! This is the single description that MACs and parameter counts are computed from, and the
//! one a static student network is built from, so the two cannot disagree.

use serde::{Deserialize, Serialize};

use crate::arch::{Arch, ArchError};
use crate::space::{Activation, Io, MbV3Space, ResNetSpace, Space, strided_size};

/// One subnet with every width resolved.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Subnet {
    ResNet(ResNetSubnet),
    MobileNetV3(MbV3Subnet),
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ResNetSubnet {
    pub io: Io,
    pub stem_mid: u32,
    pub stem_out: u32,
    /// Whether the stem's residual 3×3 conv (mid → mid) runs.
    pub stem_residual: bool,
    /// Active blocks in execution order.
    pub blocks: Vec<Bottleneck>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Bottleneck {
    /// Position of the block among the supernet's physical blocks.
    pub index: usize,
    pub stage: usize,
    pub in_channels: u32,
    pub mid_channels: u32,
    pub out_channels: u32,
    /// Stride of the 3×3 conv (and of the projection shortcut).
    pub stride: u32,
    /// 1×1 conv + BN shortcut (first block of a stage) instead of the identity.
    pub projection: bool,
    /// Side of the block's input feature map.
    pub in_size: u32,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MbV3Subnet {
    pub io: Io,
    pub stem_channels: u32,
    pub stem_stride: u32,
    pub stem_activation: Activation,
    /// The fixed first block (expand ratio 1, stride 1).
    pub first_block: MbConv,
    /// Active dynamic blocks in execution order.
    pub blocks: Vec<MbConv>,
    pub final_expand_channels: u32,
    pub feature_channels: u32,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MbConv {
    /// Position among the supernet's physical dynamic blocks (0 for the first block).
    pub index: usize,
    /// Stage of a dynamic block; `None` for the fixed first block.
    pub stage: Option<usize>,
    pub in_channels: u32,
    /// Width after the 1×1 expand conv; `None` when there is no expand conv (first block).
    pub mid_channels: Option<u32>,
    pub out_channels: u32,
    pub kernel_size: u32,
    pub stride: u32,
    pub activation: Activation,
    /// Hidden width of the squeeze-and-excitation module, if the block has one.
    pub se_channels: Option<u32>,
    /// Identity shortcut (stride 1 and in = out).
    pub residual: bool,
    pub in_size: u32,
}

impl MbConv {
    /// Channels the depthwise conv runs on.
    pub fn depthwise_channels(&self) -> u32 {
        self.mid_channels.unwrap_or(self.in_channels)
    }
}

impl Space {
    /// Resolves a valid arch of this space into its concrete network.
    pub fn subnet(&self, arch: &Arch) -> Result<Subnet, ArchError> {
        arch.validate(self)?;
        Ok(self.subnet_of_valid(arch))
    }

    /// [`Space::subnet`] of an arch known to be valid (decoded from a genome, say): the search
    /// resolves thousands and need not check each again. Panics on a family mismatch.
    pub(crate) fn subnet_of_valid(&self, arch: &Arch) -> Subnet {
        match (self, arch) {
            (Space::ResNet(s), Arch::ResNet(a)) => {
                Subnet::ResNet(resnet_subnet(s, &a.d, &a.e, &a.w))
            }
            (Space::MobileNetV3(s), Arch::MobileNetV3(a)) => {
                Subnet::MobileNetV3(mbv3_subnet(s, &a.ks, &a.e, &a.d))
            }
            _ => panic!("a {} arch is not of a {} space", arch.family(), self.family()),
        }
    }
}

fn resnet_subnet(s: &ResNetSpace, d: &[u32], e: &[f64], w: &[usize]) -> ResNetSubnet {
    let stem_mid = s.stem_mid_widths()[w[0]];
    let stem_out = s.stem_out_widths()[w[1]];
    let mut blocks = Vec::new();
    let mut in_channels = stem_out;
    let mut size = s.io.image_size;
    for (i, stage) in s.stages.iter().enumerate() {
        let out_channels = s.stage_widths(i)[w[2 + i]];
        let offset = s.stage_offset(i);
        for b in 0..(stage.base_depth + d[1 + i]) as usize {
            let stride = if b == 0 { stage.stride } else { 1 };
            blocks.push(Bottleneck {
                index: offset + b,
                stage: i,
                in_channels,
                mid_channels: ResNetSpace::mid_width(out_channels, e[offset + b]),
                out_channels,
                stride,
                projection: b == 0,
                in_size: size,
            });
            in_channels = out_channels;
            size = strided_size(size, stride);
        }
    }
    ResNetSubnet {
        io: s.io.clone(),
        stem_mid,
        stem_out,
        stem_residual: s.stem_residual_kept(d[0]),
        blocks,
    }
}

fn mbv3_subnet(s: &MbV3Space, ks: &[u32], e: &[f64], d: &[u32]) -> MbV3Subnet {
    let mut size = strided_size(s.io.image_size, s.stem.stride);
    let first_block = MbConv {
        index: 0,
        stage: None,
        in_channels: s.stem.width,
        mid_channels: None,
        out_channels: s.first_block.width,
        kernel_size: s.first_block.kernel_size,
        stride: 1,
        activation: s.first_block.activation,
        se_channels: None,
        residual: s.stem.width == s.first_block.width,
        in_size: size,
    };
    let mut blocks = Vec::new();
    let mut in_channels = s.first_block.width;
    for (i, stage) in s.stages.iter().enumerate() {
        let offset = s.stage_offset(i);
        for b in 0..d[i] as usize {
            let stride = if b == 0 { stage.stride } else { 1 };
            let mid = MbV3Space::mid_width(in_channels, e[offset + b]);
            blocks.push(MbConv {
                index: offset + b,
                stage: Some(i),
                in_channels,
                mid_channels: Some(mid),
                out_channels: stage.width,
                kernel_size: ks[offset + b],
                stride,
                activation: stage.activation,
                se_channels: stage.se.then(|| MbV3Space::se_width(mid)),
                residual: stride == 1 && in_channels == stage.width,
                in_size: size,
            });
            in_channels = stage.width;
            size = strided_size(size, stride);
        }
    }
    MbV3Subnet {
        io: s.io.clone(),
        stem_channels: s.stem.width,
        stem_stride: s.stem.stride,
        stem_activation: s.stem.activation,
        first_block,
        blocks,
        final_expand_channels: s.head.final_expand_width,
        feature_channels: s.head.feature_width,
    }
}

//! Analytic MACs and parameter counts of a subnet.
//!
//! What is counted, exactly (the Burn model's instrumented layers count the same):
//! * **MACs**: multiply-accumulates of every convolution, `C_in/groups · C_out · k² · H_out ·
//!   W_out` (SE convs run on a 1×1 map), and of every linear layer, `in · out`. Not counted:
//!   bias additions, BatchNorm, activations, the SE channel multiply, pooling, residual adds.
//! * **params**: learnable parameters of the exported static student: conv and linear weights,
//!   conv (SE) and linear biases, BatchNorm γ and β. Not counted: BatchNorm running statistics
//!   (buffers) and the supernet's kernel-transform matrices (folded into an exported kernel).

use std::iter::Sum;
use std::ops::{Add, AddAssign};

use serde::{Deserialize, Serialize};

use crate::space::strided_size;
use crate::subnet::{Bottleneck, MbConv, MbV3Subnet, ResNetSubnet, Subnet};

/// MACs and parameters of a network or of a part of it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cost {
    pub macs: u64,
    pub params: u64,
}

impl Add for Cost {
    type Output = Cost;
    fn add(self, other: Cost) -> Cost {
        Cost { macs: self.macs + other.macs, params: self.params + other.params }
    }
}

impl AddAssign for Cost {
    fn add_assign(&mut self, other: Cost) {
        *self = *self + other;
    }
}

impl Sum for Cost {
    fn sum<I: Iterator<Item = Cost>>(iter: I) -> Cost {
        iter.fold(Cost::default(), Add::add)
    }
}

/// Bias-free k×k convolution producing an `out_size`² map.
pub fn conv(c_in: u32, c_out: u32, kernel: u32, groups: u32, out_size: u32) -> Cost {
    let weights = u64::from(c_in / groups) * u64::from(c_out) * u64::from(kernel * kernel);
    Cost { macs: weights * u64::from(out_size) * u64::from(out_size), params: weights }
}

/// Depthwise k×k convolution over `channels` channels.
pub fn depthwise(channels: u32, kernel: u32, out_size: u32) -> Cost {
    conv(channels, channels, kernel, channels, out_size)
}

/// BatchNorm's affine parameters (γ, β).
pub fn batch_norm(channels: u32) -> Cost {
    Cost { macs: 0, params: 2 * u64::from(channels) }
}

/// A bias vector.
pub fn bias(channels: u32) -> Cost {
    Cost { macs: 0, params: u64::from(channels) }
}

/// Fully connected layer with bias.
pub fn linear(inputs: u32, outputs: u32) -> Cost {
    let weights = u64::from(inputs) * u64::from(outputs);
    Cost { macs: weights, params: weights } + bias(outputs)
}

/// Where in the network a cost is spent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Part {
    /// Stem convs (and, for MobileNetV3, the fixed first block).
    Stem,
    /// The active blocks of a stage.
    Stage(usize),
    /// Final layers up to and including the classifier.
    Head,
}

impl Subnet {
    /// Total MACs and parameters.
    pub fn cost(&self) -> Cost {
        self.cost_by_part().into_iter().map(|(_, c)| c).sum()
    }

    /// Cost of the stem, of each stage (empty stages included) and of the head.
    pub fn cost_by_part(&self) -> Vec<(Part, Cost)> {
        match self {
            Subnet::ResNet(n) => resnet_parts(n),
            Subnet::MobileNetV3(n) => mbv3_parts(n),
        }
    }
}

fn resnet_parts(n: &ResNetSubnet) -> Vec<(Part, Cost)> {
    let size = n.io.image_size;
    let mut stem = conv(n.io.in_channels, n.stem_mid, 3, 1, size) + batch_norm(n.stem_mid);
    if n.stem_residual {
        stem += conv(n.stem_mid, n.stem_mid, 3, 1, size) + batch_norm(n.stem_mid);
    }
    stem += conv(n.stem_mid, n.stem_out, 3, 1, size) + batch_norm(n.stem_out);
    let mut parts = vec![(Part::Stem, stem)];
    let n_stages = n.blocks.iter().map(|b| b.stage + 1).max().unwrap_or(0);
    for s in 0..n_stages {
        let cost = n.blocks.iter().filter(|b| b.stage == s).map(bottleneck).sum();
        parts.push((Part::Stage(s), cost));
    }
    let last = n.blocks.last().map_or(n.stem_out, |b| b.out_channels);
    parts.push((Part::Head, linear(last, n.io.n_classes)));
    parts
}

fn bottleneck(b: &Bottleneck) -> Cost {
    let out_size = strided_size(b.in_size, b.stride);
    let mut cost = conv(b.in_channels, b.mid_channels, 1, 1, b.in_size)
        + batch_norm(b.mid_channels)
        + conv(b.mid_channels, b.mid_channels, 3, 1, out_size)
        + batch_norm(b.mid_channels)
        + conv(b.mid_channels, b.out_channels, 1, 1, out_size)
        + batch_norm(b.out_channels);
    if b.projection {
        cost += conv(b.in_channels, b.out_channels, 1, 1, out_size) + batch_norm(b.out_channels);
    }
    cost
}

fn mbv3_parts(n: &MbV3Subnet) -> Vec<(Part, Cost)> {
    let stem_size = strided_size(n.io.image_size, n.stem_stride);
    let stem = conv(n.io.in_channels, n.stem_channels, 3, 1, stem_size)
        + batch_norm(n.stem_channels)
        + mb_conv(&n.first_block);
    let mut parts = vec![(Part::Stem, stem)];
    let n_stages = n.blocks.iter().filter_map(|b| b.stage).map(|s| s + 1).max().unwrap_or(0);
    for s in 0..n_stages {
        let cost = n.blocks.iter().filter(|b| b.stage == Some(s)).map(mb_conv).sum();
        parts.push((Part::Stage(s), cost));
    }
    let (last_channels, last_size) =
        n.blocks.last().map_or((n.first_block.out_channels, n.first_block.in_size), |b| {
            (b.out_channels, strided_size(b.in_size, b.stride))
        });
    let head = conv(last_channels, n.final_expand_channels, 1, 1, last_size)
        + batch_norm(n.final_expand_channels)
        + conv(n.final_expand_channels, n.feature_channels, 1, 1, 1)
        + linear(n.feature_channels, n.io.n_classes);
    parts.push((Part::Head, head));
    parts
}

fn mb_conv(b: &MbConv) -> Cost {
    let out_size = strided_size(b.in_size, b.stride);
    let dw = b.depthwise_channels();
    let mut cost = Cost::default();
    if let Some(mid) = b.mid_channels {
        cost += conv(b.in_channels, mid, 1, 1, b.in_size) + batch_norm(mid);
    }
    cost += depthwise(dw, b.kernel_size, out_size) + batch_norm(dw);
    if let Some(se) = b.se_channels {
        cost += conv(dw, se, 1, 1, 1) + bias(se) + conv(se, dw, 1, 1, 1) + bias(dw);
    }
    cost + conv(dw, b.out_channels, 1, 1, out_size) + batch_norm(b.out_channels)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::preset::preset;

    fn range(name: &str) -> (Cost, Cost) {
        let space = preset(name).unwrap();
        let small = space.subnet(&space.smallest_arch()).unwrap().cost();
        let large = space.subnet(&space.largest_arch()).unwrap().cost();
        (small, large)
    }

    #[test]
    fn resnet50_cifar_matches_the_reference_counter() {
        // The reference's ResNet50FLOPsModel gives ≈285 and ≈2358 M for these two archs; the
        // exact figures were computed independently (a separate Python count of the same rule).
        let (small, large) = range("resnet50-cifar");
        assert_eq!((small.macs, large.macs), (285_232_096, 2_358_013_952));
        assert_eq!((small.params, large.params), (5_223_570, 46_077_482));
    }

    #[test]
    fn mbv3_cifar_counts_at_full_cifar_resolution() {
        // ≈180 M for the largest, as computed by hand (the reference counter's 48 M assumed a
        // stride-2 stem, docs/method.md, "Predictor and search").
        let (small, large) = range("mbv3-cifar");
        assert_eq!((small.macs, large.macs), (35_293_824, 179_706_624));
        assert_eq!((small.params, large.params), (2_142_602, 6_396_570));
    }

    #[test]
    fn mini_presets_stay_cpu_sized() {
        // Tens of MMACs at most, so that a laptop CPU trains them in minutes.
        let (small, large) = range("resnet-mini");
        assert_eq!((small.macs, large.macs), (5_865_104, 28_431_872));
        assert_eq!((small.params, large.params), (47_098, 511_546));
        let (small, large) = range("mbv3-mini");
        assert_eq!((small.macs, large.macs), (3_765_504, 21_107_712));
        assert_eq!((small.params, large.params), (261_778, 777_362));
    }

    #[test]
    fn parts_add_up_and_count_the_stem_skip() {
        let space = preset("resnet50-cifar").unwrap();
        let crate::arch::Arch::ResNet(mut arch) = space.largest_arch() else { unreachable!() };
        let full = space.subnet(&crate::arch::Arch::ResNet(arch.clone())).unwrap();
        arch.d[0] = 0;
        let skipped = space.subnet(&crate::arch::Arch::ResNet(arch)).unwrap();
        // The residual conv is 32·32·9 weights applied at 32×32, plus its BN.
        assert_eq!(full.cost().macs - skipped.cost().macs, 32 * 32 * 9 * 32 * 32);
        assert_eq!(full.cost().params - skipped.cost().params, 32 * 32 * 9 + 64);
        let parts = full.cost_by_part();
        assert_eq!(parts.len(), 6);
        assert_eq!(parts.iter().map(|(_, c)| *c).sum::<Cost>(), full.cost());
    }
}

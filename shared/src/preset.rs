//! Built-in search spaces.
//!
//! `resnet50-cifar` and `mbv3-cifar` are the final ProARD supernets of the reference code
//! (docs/method.md, "Reference supernets") with the correct CIFAR strides. `resnet-mini` and
//! `mbv3-mini` keep every elastic dimension of their big siblings but are small enough to train
//! on a laptop CPU; their sizes are pinned by tests in this module:
//!
//! | preset | subnets | MACs (smallest … largest) | params | encoding |
//! |---|---|---|---|---|
//! | resnet50-cifar | 2 458 914 796 962 | 285.2 M … 2 358.0 M | 5.22 M … 46.08 M | 75 |
//! | mbv3-cifar | 7371⁵ = 21 758 655 492 572 485 851 | 35.3 M … 179.7 M | 2.14 M … 6.40 M | 121 |
//! | resnet-mini | 28 829 034 | 5.9 M … 28.4 M | 0.05 M … 0.51 M | 45 |
//! | mbv3-mini | 819³ = 549 353 259 | 3.8 M … 21.1 M | 0.26 M … 0.78 M | 55 |
//!
//! As in the reference, some width choices round to the same channel count: resnet50-cifar's
//! stem-mid widths are 24/24/32 and resnet-mini's 16/16/16 (`make_divisible` at small widths),
//! so `w[0]` distinguishes configurations more finely than networks.

use crate::space::{
    Activation, Io, MbV3FirstBlock, MbV3Head, MbV3Space, MbV3Stage, MbV3Stem, ResNetSpace,
    ResNetStage, ResNetStem, Space,
};

/// Names of the built-in spaces, in display order.
pub const PRESET_NAMES: [&str; 4] = ["resnet50-cifar", "mbv3-cifar", "resnet-mini", "mbv3-mini"];

/// The built-in space called `name`, if there is one.
pub fn preset(name: &str) -> Option<Space> {
    match name {
        "resnet50-cifar" => Some(resnet50_cifar()),
        "mbv3-cifar" => Some(mbv3_cifar()),
        "resnet-mini" => Some(resnet_mini()),
        "mbv3-mini" => Some(mbv3_mini()),
        _ => None,
    }
}

/// All built-in spaces, in display order.
pub fn presets() -> Vec<Space> {
    PRESET_NAMES.iter().map(|n| preset(n).expect("every listed preset exists")).collect()
}

const CIFAR10: Io = Io { image_size: 32, in_channels: 3, n_classes: 10 };

fn resnet_stage(base_width: u32, stride: u32, base_depth: u32) -> ResNetStage {
    ResNetStage {
        base_width,
        stride,
        base_depth,
        depths: vec![0, 1, 2],
        width_mults: vec![0.65, 0.8, 1.0],
        expand_ratios: vec![0.2, 0.25, 0.35],
    }
}

/// ResNet-50 bottleneck supernet for 32×32 inputs (reference `DYNResNets_Cifar`).
fn resnet50_cifar() -> Space {
    Space::ResNet(ResNetSpace {
        name: "resnet50-cifar".into(),
        io: CIFAR10,
        stem: ResNetStem {
            base_width: 64,
            width_mults: vec![0.65, 0.8, 1.0],
            residual_depths: vec![0, 2],
        },
        stages: vec![
            resnet_stage(256, 1, 2),
            resnet_stage(512, 2, 2),
            resnet_stage(1024, 2, 4),
            resnet_stage(2048, 2, 2),
        ],
    })
}

/// Same dimensions as resnet50-cifar (stem skip, 3 widths, 3 depths, 3 ratios), three thin
/// stages of base depth 1.
fn resnet_mini() -> Space {
    Space::ResNet(ResNetSpace {
        name: "resnet-mini".into(),
        io: CIFAR10,
        stem: ResNetStem {
            base_width: 32,
            width_mults: vec![0.65, 0.8, 1.0],
            residual_depths: vec![0, 2],
        },
        stages: vec![resnet_stage(64, 2, 1), resnet_stage(128, 2, 1), resnet_stage(256, 2, 1)],
    })
}

fn mbv3_stage(width: u32, stride: u32, activation: Activation, se: bool) -> MbV3Stage {
    MbV3Stage {
        width,
        stride,
        activation,
        se,
        depths: vec![2, 3, 4],
        kernel_sizes: vec![3, 5, 7],
        expand_ratios: vec![3.0, 4.0, 6.0],
    }
}

/// MobileNetV3 supernet for 32×32 inputs (reference `DYNMobileNetV3_Cifar`), stem stride 1
/// and stage strides [1, 2, 2, 1, 2].
fn mbv3_cifar() -> Space {
    use Activation::{HSwish, Relu};
    Space::MobileNetV3(MbV3Space {
        name: "mbv3-cifar".into(),
        io: CIFAR10,
        stem: MbV3Stem { width: 16, stride: 1, activation: HSwish },
        first_block: MbV3FirstBlock { width: 16, kernel_size: 3, activation: Relu },
        stages: vec![
            mbv3_stage(24, 1, Relu, false),
            mbv3_stage(40, 2, Relu, true),
            mbv3_stage(80, 2, HSwish, false),
            mbv3_stage(112, 1, HSwish, true),
            mbv3_stage(160, 2, HSwish, true),
        ],
        head: MbV3Head { final_expand_width: 960, feature_width: 1280 },
    })
}

/// Same dimensions as mbv3-cifar (3 kernels, 3 ratios, 3 depths) over three narrow stages of
/// depth 1–3 that reach 4×4 quickly.
fn mbv3_mini() -> Space {
    use Activation::{HSwish, Relu};
    let stage = |width, stride, activation, se| MbV3Stage {
        depths: vec![1, 2, 3],
        ..mbv3_stage(width, stride, activation, se)
    };
    Space::MobileNetV3(MbV3Space {
        name: "mbv3-mini".into(),
        io: CIFAR10,
        stem: MbV3Stem { width: 16, stride: 1, activation: HSwish },
        first_block: MbV3FirstBlock { width: 16, kernel_size: 3, activation: Relu },
        stages: vec![
            stage(24, 2, Relu, false),
            stage(40, 2, HSwish, true),
            stage(64, 2, HSwish, true),
        ],
        head: MbV3Head { final_expand_width: 384, feature_width: 512 },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_preset_is_valid_and_named_as_listed() {
        for name in PRESET_NAMES {
            let space = preset(name).unwrap();
            space.validate().unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(space.name(), name);
        }
        assert!(preset("resnet18").is_none());
    }

    #[test]
    fn resnet50_cifar_channel_tables_match_the_reference() {
        let Space::ResNet(s) = preset("resnet50-cifar").unwrap() else { unreachable!() };
        assert_eq!(s.stem_out_widths(), [40, 48, 64]);
        assert_eq!(s.stem_mid_widths(), [24, 24, 32]);
        assert_eq!(s.stage_widths(0), [168, 208, 256]);
        assert_eq!(s.stage_widths(1), [336, 408, 512]);
        assert_eq!(s.stage_widths(2), [664, 816, 1024]);
        assert_eq!(s.stage_widths(3), [1328, 1640, 2048]);
        // Bottleneck widths per stage: rows w = 0.65/0.8/1.0, columns e = 0.2/0.25/0.35.
        let expected = [
            [[32, 40, 56], [40, 56, 72], [48, 64, 88]],
            [[64, 88, 120], [80, 104, 144], [104, 128, 176]],
            [[136, 168, 232], [160, 208, 288], [208, 256, 360]],
            [[264, 336, 464], [328, 408, 576], [408, 512, 720]],
        ];
        for (st, rows) in expected.iter().enumerate() {
            for (wi, row) in rows.iter().enumerate() {
                let out = s.stage_widths(st)[wi];
                let mids: Vec<u32> = s.stages[st]
                    .expand_ratios
                    .iter()
                    .map(|e| ResNetSpace::mid_width(out, *e))
                    .collect();
                assert_eq!(mids, row, "stage {st}, width {out}");
            }
        }
        assert_eq!(s.total_blocks(), 18);
        assert_eq!((0..4).map(|i| s.stage_offset(i)).collect::<Vec<_>>(), [0, 4, 8, 14]);
    }

    #[test]
    fn mbv3_cifar_layout_matches_the_reference() {
        let Space::MobileNetV3(s) = preset("mbv3-cifar").unwrap() else { unreachable!() };
        assert_eq!(s.total_blocks(), 20);
        assert_eq!(s.stages.iter().map(|t| t.stride).collect::<Vec<_>>(), [1, 2, 2, 1, 2]);
        assert_eq!(
            s.stages.iter().map(|t| t.se).collect::<Vec<_>>(),
            [false, true, false, true, true]
        );
        assert_eq!(MbV3Space::mid_width(16, 6.0), 96);
        assert_eq!(MbV3Space::se_width(144), 40);
    }
}

//! One-hot encoding of an arch, the predictor's input (docs/method.md, "Predictor and search").
//!
//! Layout, in order (dims 75 for resnet50-cifar, 121 for mbv3-cifar):
//! * one slot per image size (a space has one, always set);
//! * ResNet: stem residual (2 slots: skipped, kept); widths (one group per `w` entry, a slot
//!   per choice); expand ratios (one group per physical block, a slot per choice of its stage);
//! * MobileNetV3: kernel sizes (one group per physical block), then expand ratios (likewise).
//!
//! Groups of blocks a stage does not keep stay all-zero, so depth is encoded implicitly and
//! archs that differ only in unused entries get the same encoding.

use crate::arch::{Arch, ArchError, float_choice_index};
use crate::space::Space;

impl Space {
    /// Length of [`Space::encode`]'s vectors.
    pub fn encoding_dim(&self) -> usize {
        match self {
            Space::ResNet(s) => {
                let widths = 2 * s.stem.width_mults.len()
                    + s.stages.iter().map(|st| st.width_mults.len()).sum::<usize>();
                let ratios: usize = (0..s.stages.len())
                    .map(|i| s.stage_blocks(i) * s.stages[i].expand_ratios.len())
                    .sum();
                1 + 2 + widths + ratios
            }
            Space::MobileNetV3(s) => {
                let per_block: usize = (0..s.stages.len())
                    .map(|i| {
                        s.stage_blocks(i)
                            * (s.stages[i].kernel_sizes.len() + s.stages[i].expand_ratios.len())
                    })
                    .sum();
                1 + per_block
            }
        }
    }

    /// The one-hot encoding of a valid arch.
    pub fn encode(&self, arch: &Arch) -> Result<Vec<f32>, ArchError> {
        let mut out = vec![0.0; self.encoding_dim()];
        self.hot_slots(arch, |slot| out[slot] = 1.0)?;
        Ok(out)
    }

    /// [`Space::encode`] as bits, 64 slots a word: the active arch as a compact key (the search
    /// looks up every arch it meets by it).
    pub fn encode_bits(&self, arch: &Arch) -> Result<Vec<u64>, ArchError> {
        let mut words = vec![0; self.encoding_dim().div_ceil(64)];
        self.hot_slots(arch, |slot| words[slot / 64] |= 1 << (slot % 64))?;
        Ok(words)
    }

    /// Calls `hot` with every slot the encoding of a valid arch sets, in order.
    fn hot_slots(&self, arch: &Arch, mut hot: impl FnMut(usize)) -> Result<(), ArchError> {
        arch.validate(self)?;
        // The first slot of the next group.
        let mut next = 0;
        // A one-hot group of `n` slots, with `choice` set if the group is active.
        let mut group = |n: usize, choice: Option<usize>| {
            if let Some(i) = choice {
                hot(next + i);
            }
            next += n;
        };
        group(1, Some(0));
        match (self, arch) {
            (Space::ResNet(s), Arch::ResNet(a)) => {
                group(2, Some(usize::from(s.stem_residual_kept(a.d[0]))));
                group(s.stem.width_mults.len(), Some(a.w[0]));
                group(s.stem.width_mults.len(), Some(a.w[1]));
                for (i, st) in s.stages.iter().enumerate() {
                    group(st.width_mults.len(), Some(a.w[2 + i]));
                }
                for (i, st) in s.stages.iter().enumerate() {
                    let active = (st.base_depth + a.d[1 + i]) as usize;
                    let offset = s.stage_offset(i);
                    for b in 0..s.stage_blocks(i) {
                        let choice = (b < active)
                            .then(|| float_choice_index(&st.expand_ratios, a.e[offset + b]));
                        group(st.expand_ratios.len(), choice.flatten());
                    }
                }
            }
            (Space::MobileNetV3(s), Arch::MobileNetV3(a)) => {
                for (i, st) in s.stages.iter().enumerate() {
                    let offset = s.stage_offset(i);
                    for b in 0..s.stage_blocks(i) {
                        let choice = (b < a.d[i] as usize)
                            .then(|| st.kernel_sizes.iter().position(|k| *k == a.ks[offset + b]));
                        group(st.kernel_sizes.len(), choice.flatten());
                    }
                }
                for (i, st) in s.stages.iter().enumerate() {
                    let offset = s.stage_offset(i);
                    for b in 0..s.stage_blocks(i) {
                        let choice = (b < a.d[i] as usize)
                            .then(|| float_choice_index(&st.expand_ratios, a.e[offset + b]));
                        group(st.expand_ratios.len(), choice.flatten());
                    }
                }
            }
            _ => unreachable!("validate rejects a family mismatch"),
        }
        debug_assert_eq!(next, self.encoding_dim());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arch::ResNetArch;
    use crate::genome::seeded_rng;
    use crate::preset::{PRESET_NAMES, preset};
    use proptest::prelude::*;

    #[test]
    fn dims_of_the_cifar_presets() {
        assert_eq!(preset("resnet50-cifar").unwrap().encoding_dim(), 75);
        assert_eq!(preset("mbv3-cifar").unwrap().encoding_dim(), 121);
    }

    #[test]
    fn resnet_layout_follows_the_reference() {
        let space = preset("resnet50-cifar").unwrap();
        let arch = Arch::ResNet(ResNetArch {
            d: vec![2, 0, 1, 2, 0],
            e: [
                0.2, 0.25, 0.35, 0.2, /* stage 2 */ 0.35, 0.35, 0.35, 0.35,
                /* stage 3 */ 0.25, 0.25, 0.25, 0.25, 0.25, 0.25, /* stage 4 */ 0.2, 0.2,
                0.35, 0.35,
            ]
            .to_vec(),
            w: vec![0, 1, 2, 0, 1, 2],
        });
        let x = space.encode(&arch).unwrap();
        let hot: Vec<usize> =
            x.iter().enumerate().filter(|(_, v)| **v == 1.0).map(|(i, _)| i).collect();
        // [0] resolution, [2] stem kept, widths at 3 + 3·group + index, then expand slots
        // from 21 + 3·block: stage 1 keeps 2 of 4 blocks, stage 2 3, stage 3 all 6, stage 4 2.
        let mut expected = vec![0, 2, 3, 7, 11, 12, 16, 20];
        expected.extend([21, 25]); // stage 1 blocks 0, 1: e 0.2, 0.25
        expected.extend([35, 38, 41]); // stage 2 blocks 4..7
        expected.extend((8..14).map(|b| 21 + 3 * b + 1)); // stage 3: e 0.25
        expected.extend([21 + 3 * 14, 21 + 3 * 15]); // stage 4 blocks 14, 15: e 0.2
        assert_eq!(hot, expected);
    }

    proptest! {
        #[test]
        fn one_hot_groups_match_the_arch(name in prop::sample::select(PRESET_NAMES.to_vec()), seed in any::<u64>()) {
            let space = preset(name).unwrap();
            let arch = space.sample_arch(&mut seeded_rng(seed));
            let x = space.encode(&arch).unwrap();
            prop_assert_eq!(x.len(), space.encoding_dim());
            prop_assert!(x.iter().all(|v| *v == 0.0 || *v == 1.0));
            // One hot slot per fixed group, plus one per active block and per-block dimension.
            let subnet = space.subnet(&arch).unwrap();
            let expected = match (&space, &subnet) {
                (Space::ResNet(s), crate::subnet::Subnet::ResNet(n)) => 1 + 1 + 2 + s.stages.len() + n.blocks.len(),
                (Space::MobileNetV3(_), crate::subnet::Subnet::MobileNetV3(n)) => 1 + 2 * n.blocks.len(),
                _ => unreachable!(),
            };
            prop_assert_eq!(x.iter().filter(|v| **v == 1.0).count(), expected);
            // The bits are the same slots.
            let bits = space.encode_bits(&arch).unwrap();
            let set = |slot: usize| bits[slot / 64] >> (slot % 64) & 1 == 1;
            prop_assert!((0..x.len()).all(|slot| set(slot) == (x[slot] == 1.0)));
            prop_assert!((x.len()..64 * bits.len()).all(|slot| !set(slot)));
        }
    }
}

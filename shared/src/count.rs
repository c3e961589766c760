//! Exact number of distinct subnets of a space, in arbitrary precision.
//!
//! Two archs are the same subnet when they agree on every entry the network uses: entries of
//! blocks a stage does not keep are ignored (the reference's convention). Choices are counted
//! as configurations, so where two choices round to the same channel count (resnet50-cifar's
//! stem-mid widths 0.65 and 0.8 both give 24 channels) they still count as two subnets.

use num_bigint::BigUint;

use crate::space::Space;

impl Space {
    /// Number of distinct subnets.
    ///
    /// ResNet: stem states × stem widths² × Π over stages of (widths × Σ_d ratios^(base + d)).
    /// MobileNetV3: Π over stages of Σ_d (kernels · ratios)^d.
    pub fn subnet_count(&self) -> BigUint {
        let pow = |base: usize, exp: u32| BigUint::from(base).pow(exp);
        match self {
            Space::ResNet(s) => {
                let stem_widths = s.stem.width_mults.len();
                let mut total =
                    BigUint::from(s.stem.residual_depths.len() * stem_widths * stem_widths);
                for stage in &s.stages {
                    let blocks: BigUint = stage
                        .depths
                        .iter()
                        .map(|d| pow(stage.expand_ratios.len(), stage.base_depth + d))
                        .sum();
                    total *= blocks * stage.width_mults.len();
                }
                total
            }
            Space::MobileNetV3(s) => s
                .stages
                .iter()
                .map(|st| -> BigUint {
                    st.depths
                        .iter()
                        .map(|d| pow(st.kernel_sizes.len() * st.expand_ratios.len(), *d))
                        .sum()
                })
                .product(),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::Space;
    use crate::preset::preset;
    use std::collections::HashSet;

    #[test]
    fn counts_of_the_cifar_presets() {
        assert_eq!(preset("resnet50-cifar").unwrap().subnet_count().to_string(), "2458914796962");
        assert_eq!(
            preset("mbv3-cifar").unwrap().subnet_count().to_string(),
            "21758655492572485851"
        );
        assert_eq!(
            preset("mbv3-cifar").unwrap().subnet_count(),
            num_bigint::BigUint::from(7371u32).pow(5)
        );
    }

    /// Distinct encodings over every genome of `space` (distinct encodings = distinct subnets).
    fn brute_force_count(space: &Space) -> usize {
        let card = space.genome_cardinalities();
        let mut seen = HashSet::new();
        let mut genome = vec![0; card.len()];
        loop {
            let encoding = space.encode(&space.decode(&genome)).unwrap();
            seen.insert(encoding.iter().map(|x| *x as u8).collect::<Vec<u8>>());
            // Odometer increment over the mixed-radix genome.
            let Some(i) = (0..card.len()).find(|&i| genome[i] + 1 < card[i]) else {
                return seen.len();
            };
            genome[i] += 1;
            genome[..i].fill(0);
        }
    }

    #[test]
    fn mbv3_count_equals_brute_force() {
        let Space::MobileNetV3(mut s) = preset("mbv3-mini").unwrap() else { unreachable!() };
        s.stages.truncate(2);
        s.stages[0].kernel_sizes = vec![3, 5];
        s.stages[0].expand_ratios = vec![3.0];
        s.stages[1].depths = vec![1, 2];
        s.stages[1].expand_ratios = vec![4.0, 6.0];
        let space = Space::MobileNetV3(s);
        assert_eq!(brute_force_count(&space).to_string(), space.subnet_count().to_string());
    }

    #[test]
    fn resnet_count_equals_brute_force() {
        let Space::ResNet(mut s) = preset("resnet-mini").unwrap() else { unreachable!() };
        s.stem.width_mults = vec![0.65, 1.0];
        s.stages.truncate(2);
        s.stages[0].depths = vec![0, 1];
        s.stages[0].width_mults = vec![0.65, 1.0];
        s.stages[0].expand_ratios = vec![0.2, 0.35];
        s.stages[1].depths = vec![1, 2];
        s.stages[1].width_mults = vec![1.0];
        s.stages[1].expand_ratios = vec![0.25, 0.35];
        let space = Space::ResNet(s);
        assert_eq!(brute_force_count(&space).to_string(), space.subnet_count().to_string());
    }
}

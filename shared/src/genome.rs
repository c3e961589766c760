//! Archs as genomes: one choice index per variable, for sampling, mutation and crossover.
//!
//! Variable order (the reference's NSGA-II layout):
//! * ResNet: `d[0..1+S]`, then `e[0..B]`, then `w[0..2+S]`;
//! * MobileNetV3: `ks[0..B]`, then `e[0..B]`, then `d[0..S]`;
//!
//! with S stages and B physical blocks. Every index vector within the cardinalities decodes to
//! a valid arch, so the operators below can never produce an invalid one.

use rand::{Rng, RngExt, SeedableRng};

use crate::arch::{Arch, ArchError, MbV3Arch, ResNetArch, float_choice_index};
use crate::space::Space;

/// The seeded generator used everywhere a result must be reproducible (and identical natively
/// and in wasm32): ChaCha8, seeded from a u64.
pub type SeededRng = rand::rngs::ChaCha8Rng;

pub fn seeded_rng(seed: u64) -> SeededRng {
    SeededRng::seed_from_u64(seed)
}

/// One choice index per variable.
pub type Genome = Vec<usize>;

/// Uniform index in `0..n`, sampled as u32 so that native and wasm32 builds agree.
fn index_below<R: Rng + ?Sized>(rng: &mut R, n: usize) -> usize {
    rng.random_range(0..n as u32) as usize
}

impl Space {
    /// Number of choices of every genome variable, in genome order.
    pub fn genome_cardinalities(&self) -> Vec<usize> {
        match self {
            Space::ResNet(s) => {
                let mut c = vec![s.stem.residual_depths.len()];
                c.extend(s.stages.iter().map(|st| st.depths.len()));
                for (i, st) in s.stages.iter().enumerate() {
                    c.extend(std::iter::repeat_n(st.expand_ratios.len(), s.stage_blocks(i)));
                }
                c.extend([s.stem.width_mults.len(); 2]);
                c.extend(s.stages.iter().map(|st| st.width_mults.len()));
                c
            }
            Space::MobileNetV3(s) => {
                let mut c = Vec::new();
                for (i, st) in s.stages.iter().enumerate() {
                    c.extend(std::iter::repeat_n(st.kernel_sizes.len(), s.stage_blocks(i)));
                }
                for (i, st) in s.stages.iter().enumerate() {
                    c.extend(std::iter::repeat_n(st.expand_ratios.len(), s.stage_blocks(i)));
                }
                c.extend(s.stages.iter().map(|st| st.depths.len()));
                c
            }
        }
    }

    /// The arch a genome stands for. Panics if an index is outside its cardinality, which
    /// the operators of this module never produce.
    pub fn decode(&self, genome: &[usize]) -> Arch {
        assert_eq!(genome.len(), self.genome_cardinalities().len(), "genome length");
        let mut it = genome.iter().copied();
        let mut next = || it.next().expect("length checked");
        match self {
            Space::ResNet(s) => {
                let mut d = vec![s.stem.residual_depths[next()]];
                d.extend(s.stages.iter().map(|st| st.depths[next()]));
                let mut e = Vec::with_capacity(s.total_blocks());
                for (i, st) in s.stages.iter().enumerate() {
                    e.extend((0..s.stage_blocks(i)).map(|_| st.expand_ratios[next()]));
                }
                let w = (0..2 + s.stages.len()).map(|_| next()).collect();
                Arch::ResNet(ResNetArch { d, e, w })
            }
            Space::MobileNetV3(s) => {
                let mut ks = Vec::with_capacity(s.total_blocks());
                for (i, st) in s.stages.iter().enumerate() {
                    ks.extend((0..s.stage_blocks(i)).map(|_| st.kernel_sizes[next()]));
                }
                let mut e = Vec::with_capacity(s.total_blocks());
                for (i, st) in s.stages.iter().enumerate() {
                    e.extend((0..s.stage_blocks(i)).map(|_| st.expand_ratios[next()]));
                }
                let d = s.stages.iter().map(|st| st.depths[next()]).collect();
                Arch::MobileNetV3(MbV3Arch { ks, e, d })
            }
        }
    }

    /// The genome of a valid arch.
    pub fn genome(&self, arch: &Arch) -> Result<Genome, ArchError> {
        arch.validate(self)?;
        let found = "validated";
        Ok(match (self, arch) {
            (Space::ResNet(s), Arch::ResNet(a)) => {
                let mut g =
                    vec![s.stem.residual_depths.iter().position(|v| *v == a.d[0]).expect(found)];
                g.extend(
                    s.stages
                        .iter()
                        .zip(&a.d[1..])
                        .map(|(st, d)| st.depths.iter().position(|v| v == d).expect(found)),
                );
                for (i, st) in s.stages.iter().enumerate() {
                    let offset = s.stage_offset(i);
                    g.extend(
                        (offset..offset + s.stage_blocks(i))
                            .map(|b| float_choice_index(&st.expand_ratios, a.e[b]).expect(found)),
                    );
                }
                g.extend(&a.w);
                g
            }
            (Space::MobileNetV3(s), Arch::MobileNetV3(a)) => {
                let mut g = Vec::new();
                for (i, st) in s.stages.iter().enumerate() {
                    let offset = s.stage_offset(i);
                    g.extend(
                        (offset..offset + s.stage_blocks(i)).map(|b| {
                            st.kernel_sizes.iter().position(|k| *k == a.ks[b]).expect(found)
                        }),
                    );
                }
                for (i, st) in s.stages.iter().enumerate() {
                    let offset = s.stage_offset(i);
                    g.extend(
                        (offset..offset + s.stage_blocks(i))
                            .map(|b| float_choice_index(&st.expand_ratios, a.e[b]).expect(found)),
                    );
                }
                g.extend(
                    s.stages
                        .iter()
                        .zip(&a.d)
                        .map(|(st, d)| st.depths.iter().position(|v| v == d).expect(found)),
                );
                g
            }
            _ => unreachable!("validate rejects a family mismatch"),
        })
    }

    /// The largest subnet: every choice at its maximum.
    pub fn largest_arch(&self) -> Arch {
        self.decode(&self.genome_cardinalities().iter().map(|n| n - 1).collect::<Vec<_>>())
    }

    /// The smallest subnet: every choice at its minimum.
    pub fn smallest_arch(&self) -> Arch {
        self.decode(&vec![0; self.genome_cardinalities().len()])
    }

    /// A uniformly random arch: every variable independently uniform over its choices (the
    /// reference's `sample_active_subnet`).
    pub fn sample_arch<R: Rng + ?Sized>(&self, rng: &mut R) -> Arch {
        let genome: Genome =
            self.genome_cardinalities().into_iter().map(|n| index_below(rng, n)).collect();
        self.decode(&genome)
    }
}

/// Resamples each variable independently with probability `p` (uniformly over its choices,
/// which may give back the same value, as pymoo's `ChoiceRandomMutation`).
pub fn mutate<R: Rng + ?Sized>(genome: &mut [usize], cardinalities: &[usize], p: f64, rng: &mut R) {
    for (gene, n) in genome.iter_mut().zip(cardinalities) {
        if rng.random_bool(p) {
            *gene = index_below(rng, *n);
        }
    }
}

/// Uniform crossover: each variable of the child comes from either parent with probability ½.
pub fn crossover<R: Rng + ?Sized>(a: &[usize], b: &[usize], rng: &mut R) -> Genome {
    assert_eq!(a.len(), b.len(), "parents of one space have genomes of one length");
    a.iter().zip(b).map(|(x, y)| if rng.random_bool(0.5) { *x } else { *y }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::preset::{PRESET_NAMES, preset};
    use proptest::prelude::*;

    fn space_strategy() -> impl Strategy<Value = Space> {
        prop::sample::select(PRESET_NAMES.to_vec()).prop_map(|n| preset(n).unwrap())
    }

    #[test]
    fn genome_lengths_of_the_presets() {
        assert_eq!(preset("resnet50-cifar").unwrap().genome_cardinalities().len(), 5 + 18 + 6);
        assert_eq!(preset("mbv3-cifar").unwrap().genome_cardinalities().len(), 20 + 20 + 5);
    }

    #[test]
    fn same_seed_same_samples() {
        let space = preset("mbv3-cifar").unwrap();
        let draw = |seed| {
            let mut rng = seeded_rng(seed);
            (0..5).map(|_| space.sample_arch(&mut rng)).collect::<Vec<Arch>>()
        };
        let (a, b) = (draw(7), draw(7));
        assert_eq!(a, b);
        assert_ne!(a[0], a[1]);
    }

    proptest! {
        #[test]
        fn samples_are_valid_and_round_trip(space in space_strategy(), seed in any::<u64>()) {
            let mut rng = seeded_rng(seed);
            let arch = space.sample_arch(&mut rng);
            prop_assert!(arch.validate(&space).is_ok());
            let genome = space.genome(&arch).unwrap();
            prop_assert_eq!(space.decode(&genome), arch);
        }

        #[test]
        fn mutation_and_crossover_yield_valid_archs(
            space in space_strategy(), seed in any::<u64>(), p in 0.0f64..=1.0,
        ) {
            let mut rng = seeded_rng(seed);
            let card = space.genome_cardinalities();
            let a = space.genome(&space.sample_arch(&mut rng)).unwrap();
            let b = space.genome(&space.sample_arch(&mut rng)).unwrap();
            let mut child = crossover(&a, &b, &mut rng);
            for (i, gene) in child.iter().enumerate() {
                prop_assert!(*gene == a[i] || *gene == b[i]);
            }
            mutate(&mut child, &card, p, &mut rng);
            prop_assert!(space.decode(&child).validate(&space).is_ok());
        }

        #[test]
        fn mutation_with_p_zero_changes_nothing(space in space_strategy(), seed in any::<u64>()) {
            let mut rng = seeded_rng(seed);
            let a = space.genome(&space.sample_arch(&mut rng)).unwrap();
            let mut b = a.clone();
            mutate(&mut b, &space.genome_cardinalities(), 0.0, &mut rng);
            prop_assert_eq!(a, b);
        }
    }

    #[test]
    fn every_variable_takes_every_value() {
        // Sampling and full mutation are uniform over each variable's choices.
        let space = preset("resnet-mini").unwrap();
        let card = space.genome_cardinalities();
        let mut rng = seeded_rng(1);
        let mut seen: Vec<Vec<bool>> = card.iter().map(|n| vec![false; *n]).collect();
        let mut genome = space.genome(&space.sample_arch(&mut rng)).unwrap();
        for _ in 0..200 {
            mutate(&mut genome, &card, 1.0, &mut rng);
            for (v, g) in genome.iter().enumerate() {
                seen[v][*g] = true;
            }
        }
        assert!(seen.iter().flatten().all(|s| *s));
    }
}

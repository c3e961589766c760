//! Progressive-shrinking phases (docs/method.md, "Phases"): which choices of each dimension a
//! training phase may sample, the reference's phase table for each family, and the validation
//! grid of a phase (docs/method.md, "Validation during training").
//!
//! A phase restricts genome variables, never the space: sampled archs are always archs of the
//! full space (width *indices* keep their meaning), so a supernet trained phase after phase
//! shares one set of weights and one arch format.

use rand::{Rng, RngExt};
use serde::{Deserialize, Serialize};

use crate::genome::Genome;
use crate::space::{Family, Space};

/// The four elastic dimensions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Dimension {
    /// ResNet width multipliers (stem and stages).
    Widths,
    /// MobileNetV3 depthwise kernel sizes.
    KernelSizes,
    /// Stage depths (and the ResNet stem's residual conv).
    Depths,
    ExpandRatios,
}

/// `"all"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AllChoices {
    All,
}

/// Which choices of one dimension a phase allows, per stage.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Choices {
    /// `"all"`: every choice of the stage's list.
    All(AllChoices),
    /// `{ largest = n }`: the n largest choices of each stage's list.
    Largest { largest: usize },
    /// Explicit values, intersected with each stage's list.
    Values(Vec<f64>),
}

impl Choices {
    pub const ALL: Choices = Choices::All(AllChoices::All);

    pub fn largest(n: usize) -> Choices {
        Choices::Largest { largest: n }
    }

    /// Indices into `list` this allows, in ascending order of value.
    fn select(&self, list: &[f64]) -> Vec<usize> {
        let mut by_value: Vec<usize> = (0..list.len()).collect();
        by_value.sort_by(|a, b| list[*a].total_cmp(&list[*b]));
        match self {
            Choices::All(_) => by_value,
            Choices::Largest { largest } => {
                by_value[list.len().saturating_sub(*largest)..].to_vec()
            }
            Choices::Values(values) => by_value
                .into_iter()
                .filter(|i| values.iter().any(|v| (v - list[*i]).abs() < 1e-9))
                .collect(),
        }
    }
}

/// The choices of every dimension in one phase. A dimension left out is locked at its largest
/// choice. Dimensions a family lacks are ignored (kernel sizes for ResNet, widths for MBV3).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PhaseChoices {
    pub widths: Choices,
    pub kernel_sizes: Choices,
    pub depths: Choices,
    pub expand_ratios: Choices,
}

impl Default for PhaseChoices {
    fn default() -> Self {
        PhaseChoices {
            widths: Choices::largest(1),
            kernel_sizes: Choices::largest(1),
            depths: Choices::largest(1),
            expand_ratios: Choices::largest(1),
        }
    }
}

impl PhaseChoices {
    /// Every choice of every dimension: the whole space (the random-sampling baseline).
    pub fn everything() -> PhaseChoices {
        PhaseChoices {
            widths: Choices::ALL,
            kernel_sizes: Choices::ALL,
            depths: Choices::ALL,
            expand_ratios: Choices::ALL,
        }
    }

    fn of(&self, dimension: Dimension) -> &Choices {
        match dimension {
            Dimension::Widths => &self.widths,
            Dimension::KernelSizes => &self.kernel_sizes,
            Dimension::Depths => &self.depths,
            Dimension::ExpandRatios => &self.expand_ratios,
        }
    }
}

/// A phase allows no choice of some variable.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("{dimension:?} of {variable}: none of the phase's choices is in the list {list:?}")]
pub struct PhaseError {
    pub dimension: Dimension,
    pub variable: String,
    pub list: Vec<f64>,
}

/// The reference's phase table (docs/method.md, "Phases") for a family: the first dimension
/// (ResNet widths, MBV3 kernel sizes) with all choices, then depth and expand ratio, each opened
/// in two steps (the two largest choices, then all), keeping what earlier phases opened.
pub fn reference_phases(family: Family) -> Vec<(&'static str, PhaseChoices)> {
    let first = match family {
        Family::ResNet => ("width", PhaseChoices { widths: Choices::ALL, ..Default::default() }),
        Family::MobileNetV3 => {
            ("kernel", PhaseChoices { kernel_sizes: Choices::ALL, ..Default::default() })
        }
    };
    let depth_1 = PhaseChoices { depths: Choices::largest(2), ..first.1.clone() };
    let depth_2 = PhaseChoices { depths: Choices::ALL, ..first.1.clone() };
    let expand_1 = PhaseChoices { expand_ratios: Choices::largest(2), ..depth_2.clone() };
    let expand_2 = PhaseChoices { expand_ratios: Choices::ALL, ..depth_2.clone() };
    vec![
        first,
        ("depth-1", depth_1),
        ("depth-2", depth_2),
        ("expand-1", expand_1),
        ("expand-2", expand_2),
    ]
}

/// The allowed choice indices of every genome variable under a phase.
#[derive(Clone, Debug, PartialEq)]
pub struct PhaseGenes {
    dimensions: Vec<Dimension>,
    allowed: Vec<Vec<usize>>,
}

impl Space {
    /// Each genome variable's dimension, name and choice list, in genome order.
    fn genome_variables(&self) -> Vec<(Dimension, String, Vec<f64>)> {
        let mut variables = Vec::new();
        match self {
            Space::ResNet(s) => {
                let as_f64 = |v: &[u32]| v.iter().map(|x| *x as f64).collect::<Vec<_>>();
                variables.push((Dimension::Depths, "d[0]".into(), as_f64(&s.stem.residual_depths)));
                for (i, st) in s.stages.iter().enumerate() {
                    variables.push((
                        Dimension::Depths,
                        format!("d[{}]", i + 1),
                        as_f64(&st.depths),
                    ));
                }
                for (i, st) in s.stages.iter().enumerate() {
                    for b in 0..s.stage_blocks(i) {
                        let name = format!("e[{}]", s.stage_offset(i) + b);
                        variables.push((Dimension::ExpandRatios, name, st.expand_ratios.clone()));
                    }
                }
                for i in 0..2 {
                    variables.push((
                        Dimension::Widths,
                        format!("w[{i}]"),
                        s.stem.width_mults.clone(),
                    ));
                }
                for (i, st) in s.stages.iter().enumerate() {
                    variables.push((
                        Dimension::Widths,
                        format!("w[{}]", i + 2),
                        st.width_mults.clone(),
                    ));
                }
            }
            Space::MobileNetV3(s) => {
                for (i, st) in s.stages.iter().enumerate() {
                    for b in 0..s.stage_blocks(i) {
                        let list = st.kernel_sizes.iter().map(|k| *k as f64).collect();
                        let name = format!("ks[{}]", s.stage_offset(i) + b);
                        variables.push((Dimension::KernelSizes, name, list));
                    }
                }
                for (i, st) in s.stages.iter().enumerate() {
                    for b in 0..s.stage_blocks(i) {
                        let name = format!("e[{}]", s.stage_offset(i) + b);
                        variables.push((Dimension::ExpandRatios, name, st.expand_ratios.clone()));
                    }
                }
                for (i, st) in s.stages.iter().enumerate() {
                    let list = st.depths.iter().map(|d| *d as f64).collect();
                    variables.push((Dimension::Depths, format!("d[{i}]"), list));
                }
            }
        }
        variables
    }

    /// What a phase allows of each genome variable; an error names a variable left without
    /// any choice.
    pub fn phase_genes(&self, choices: &PhaseChoices) -> Result<PhaseGenes, PhaseError> {
        let mut dimensions = Vec::new();
        let mut allowed = Vec::new();
        for (dimension, variable, list) in self.genome_variables() {
            let indices = choices.of(dimension).select(&list);
            if indices.is_empty() {
                return Err(PhaseError { dimension, variable, list });
            }
            dimensions.push(dimension);
            allowed.push(indices);
        }
        Ok(PhaseGenes { dimensions, allowed })
    }
}

impl PhaseGenes {
    /// A uniformly random genome among the allowed choices.
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> Genome {
        self.allowed.iter().map(|a| a[rng.random_range(0..a.len() as u32) as usize]).collect()
    }

    /// The validation grid (docs/method.md, "Validation during training"): every combination
    /// of the smallest and largest allowed choice of each dimension the phase opens; locked
    /// dimensions at their one value.
    pub fn grid(&self) -> Vec<Genome> {
        let open: Vec<Dimension> =
            [Dimension::Widths, Dimension::KernelSizes, Dimension::Depths, Dimension::ExpandRatios]
                .into_iter()
                .filter(|d| {
                    self.dimensions.iter().zip(&self.allowed).any(|(v, a)| v == d && a.len() > 1)
                })
                .collect();
        (0..1usize << open.len())
            .map(|mask| {
                self.dimensions
                    .iter()
                    .zip(&self.allowed)
                    .map(|(dimension, allowed)| {
                        let largest = open
                            .iter()
                            .position(|d| d == dimension)
                            .is_none_or(|bit| mask & (1 << bit) != 0);
                        if largest { *allowed.last().expect("non-empty") } else { allowed[0] }
                    })
                    .collect()
            })
            .collect()
    }

    /// Whether the phase allows exactly one arch (every variable locked).
    pub fn is_locked(&self) -> bool {
        self.allowed.iter().all(|a| a.len() == 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arch::{Arch, MbV3Arch, ResNetArch};
    use crate::genome::seeded_rng;
    use crate::preset::preset;

    #[test]
    fn the_resnet_table_opens_width_then_depth_then_expand() {
        let space = preset("resnet50-cifar").unwrap();
        let phases = reference_phases(Family::ResNet);
        assert_eq!(phases.len(), 5);
        let mut rng = seeded_rng(1);
        // Width phase: widths vary, depth 2 everywhere, expand 0.35 everywhere.
        let genes = space.phase_genes(&phases[0].1).unwrap();
        for _ in 0..50 {
            let Arch::ResNet(ResNetArch { d, e, .. }) = space.decode(&genes.sample(&mut rng))
            else {
                unreachable!()
            };
            assert_eq!(d, [2, 2, 2, 2, 2]);
            assert!(e.iter().all(|e| *e == 0.35));
        }
        // Depth phase 1: stage depths in {1, 2}.
        let genes = space.phase_genes(&phases[1].1).unwrap();
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..200 {
            let Arch::ResNet(a) = space.decode(&genes.sample(&mut rng)) else { unreachable!() };
            seen.extend(a.d[1..].iter().copied());
            assert!(a.e.iter().all(|e| *e == 0.35));
        }
        assert_eq!(seen.into_iter().collect::<Vec<_>>(), [1, 2]);
        // Expand phase 2 is the whole space.
        let last = space.phase_genes(&phases[4].1).unwrap();
        assert_eq!(last, space.phase_genes(&PhaseChoices::everything()).unwrap());
    }

    #[test]
    fn the_grid_takes_extremes_of_open_dimensions() {
        let space = preset("mbv3-cifar").unwrap();
        let phases = reference_phases(Family::MobileNetV3);
        // Kernel phase: only kernel sizes open → 2 archs (all 3, all 7), depth 4, expand 6.
        let genomes = space.phase_genes(&phases[0].1).unwrap().grid();
        let grid: Vec<Arch> = genomes.iter().map(|g| space.decode(g)).collect();
        assert_eq!(grid.len(), 2);
        let Arch::MobileNetV3(MbV3Arch { ks, e, d }) = &grid[0] else { unreachable!() };
        assert!(ks.iter().all(|k| *k == 3) && e.iter().all(|e| *e == 6.0));
        assert!(d.iter().all(|d| *d == 4));
        // Expand phase 2: kernel × depth × expand extremes.
        assert_eq!(space.phase_genes(&phases[4].1).unwrap().grid().len(), 8);
        assert!(space.phase_genes(&PhaseChoices::default()).unwrap().is_locked());
    }

    #[test]
    fn choices_parse_and_impossible_values_name_the_variable() {
        #[derive(Deserialize)]
        struct Wrapper {
            phase: PhaseChoices,
        }
        let text =
            "[phase]\nwidths = \"all\"\ndepths = { largest = 2 }\nexpand_ratios = [0.25, 0.35]";
        let phase = toml::from_str::<Wrapper>(text).unwrap().phase;
        assert_eq!(phase.widths, Choices::ALL);
        assert_eq!(phase.depths, Choices::largest(2));
        assert_eq!(phase.expand_ratios, Choices::Values(vec![0.25, 0.35]));
        let space = preset("resnet-mini").unwrap();
        let bad = PhaseChoices { expand_ratios: Choices::Values(vec![0.5]), ..Default::default() };
        let error = space.phase_genes(&bad).unwrap_err();
        assert_eq!(error.variable, "e[0]");
        assert!(error.to_string().contains("e[0]"), "{error}");
    }
}

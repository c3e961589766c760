//! Arch search: NSGA-II over a space's genomes, maximising predicted accuracy and robustness
//! (and, optionally, minimising MACs) under a MACs budget — the ProARD search step.
//!
//! Scores come through [`ArchScorer`], one batch per generation: the predictor in production,
//! an analytic function in tests. Feasibility is constraint-domination on the analytic MACs:
//! a member over budget violates by the excess in MMACs. A budget below the space's smallest arch
//! is an error, not a front of archs that do not fit. Genomes that differ only in blocks a depth
//! leaves out are one arch: the front holds each active arch (encoding) once.

use serde::{Deserialize, Serialize};

use crate::arch::Arch;
use crate::nsga2::{self, Evaluation, Individual, Nsga2Config, Nsga2Error, Problem};
use crate::space::Space;

/// Scores archs in batches: (accuracy, robustness), higher is better.
pub trait ArchScorer {
    fn score(&mut self, archs: &[Arch]) -> Vec<[f64; 2]>;
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SearchConfig {
    pub nsga2: Nsga2Config,
    /// MACs budget per image; `None` searches the whole space.
    pub max_macs: Option<u64>,
    /// Also minimise MACs, as a third objective.
    pub macs_objective: bool,
}

/// One arch found by the search, with its cost and scores.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    pub arch: Arch,
    pub macs: u64,
    pub pred_acc: f64,
    pub pred_rob: f64,
}

/// Why a search cannot run.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SearchError {
    #[error(
        "the MACs budget ({budget_mmacs:.1} MMACs) is below the space's smallest arch \
         ({smallest_mmacs:.1} MMACs): no arch fits; raise the budget to at least that"
    )]
    BudgetBelowSmallest { budget_mmacs: f64, smallest_mmacs: f64 },
    #[error(transparent)]
    Nsga2(#[from] Nsga2Error),
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SearchResult {
    /// The final Pareto front (within budget whenever anything found is).
    pub front: Vec<Candidate>,
    /// Every generation's population, generation 0 first (the studio animates them).
    pub generations: Vec<Vec<Candidate>>,
}

struct ArchProblem<'a, S: ArchScorer + ?Sized> {
    space: &'a Space,
    scorer: &'a mut S,
    config: &'a SearchConfig,
}

impl<S: ArchScorer + ?Sized> Problem for ArchProblem<'_, S> {
    fn cardinalities(&self) -> Vec<usize> {
        self.space.genome_cardinalities()
    }

    fn evaluate(&mut self, genomes: &[Vec<usize>]) -> Vec<Evaluation> {
        let archs: Vec<Arch> = genomes.iter().map(|g| self.space.decode(g)).collect();
        let scores = self.scorer.score(&archs);
        archs
            .iter()
            .zip(scores)
            .map(|(arch, [acc, rob])| {
                let macs = macs_of(self.space, arch);
                let mut objectives = vec![acc, rob];
                if self.config.macs_objective {
                    objectives.push(-(macs as f64) / 1e6);
                }
                let excess = self.config.max_macs.map_or(0, |budget| macs.saturating_sub(budget));
                Evaluation { objectives, violation: excess as f64 / 1e6 }
            })
            .collect()
    }
}

fn macs_of(space: &Space, arch: &Arch) -> u64 {
    space.subnet(arch).expect("decoded genomes are valid archs").cost().macs
}

fn candidate(space: &Space, individual: &Individual) -> Candidate {
    let arch = space.decode(&individual.genome);
    Candidate {
        macs: macs_of(space, &arch),
        arch,
        pred_acc: individual.objectives[0],
        pred_rob: individual.objectives[1],
    }
}

/// Runs the search over `space`.
pub fn search<S: ArchScorer + ?Sized>(
    space: &Space,
    scorer: &mut S,
    config: &SearchConfig,
) -> Result<SearchResult, SearchError> {
    let smallest = macs_of(space, &space.smallest_arch());
    if let Some(budget) = config.max_macs
        && budget < smallest
    {
        return Err(SearchError::BudgetBelowSmallest {
            budget_mmacs: budget as f64 / 1e6,
            smallest_mmacs: smallest as f64 / 1e6,
        });
    }
    let mut problem = ArchProblem { space, scorer, config };
    let result = nsga2::run(&config.nsga2, &mut problem)?;
    let convert = |people: &[Individual]| people.iter().map(|i| candidate(space, i)).collect();
    Ok(SearchResult {
        front: distinct_archs(space, convert(&result.front)),
        generations: result.generations.iter().map(|g| convert(g)).collect(),
    })
}

/// The first candidate of each active arch (encoding), in order.
fn distinct_archs(space: &Space, candidates: Vec<Candidate>) -> Vec<Candidate> {
    let mut seen = std::collections::BTreeSet::new();
    candidates
        .into_iter()
        .filter(|c| {
            let encoding = space.encode(&c.arch).expect("decoded archs encode");
            seen.insert(encoding.iter().map(|v| v.to_bits()).collect::<Vec<u32>>())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::preset::preset;

    /// Bigger is better but costs MACs: accuracy grows with MACs, robustness with depth.
    struct Analytic<'a>(&'a Space, usize);

    impl ArchScorer for Analytic<'_> {
        fn score(&mut self, archs: &[Arch]) -> Vec<[f64; 2]> {
            self.1 += 1;
            archs
                .iter()
                .map(|a| {
                    let subnet = self.0.subnet(a).unwrap();
                    let macs = subnet.cost().macs as f64 / 1e6;
                    let blocks = match &subnet {
                        crate::Subnet::ResNet(n) => n.blocks.len(),
                        crate::Subnet::MobileNetV3(n) => n.blocks.len(),
                    } as f64;
                    [1.0 - 1.0 / (1.0 + macs / 10.0), blocks / 10.0 - macs / 100.0]
                })
                .collect()
        }
    }

    fn config(max_mmacs: u64, seed: u64) -> SearchConfig {
        SearchConfig {
            nsga2: Nsga2Config { population: 30, generations: 15, seed, ..Nsga2Config::default() },
            max_macs: Some(max_mmacs * 1_000_000),
            macs_objective: false,
        }
    }

    #[test]
    fn the_front_respects_the_budget_and_is_reproducible() {
        let space = preset("mbv3-mini").unwrap();
        let mut scorer = Analytic(&space, 0);
        let result = search(&space, &mut scorer, &config(8, 3)).unwrap();
        assert_eq!(result.generations.len(), 16);
        assert_eq!(scorer.1, 16, "one scoring batch per generation");
        assert!(!result.front.is_empty());
        for member in &result.front {
            assert!(member.macs <= 8_000_000, "{member:?}");
            assert_eq!(member.macs, space.subnet(&member.arch).unwrap().cost().macs);
        }
        // Without a budget the best accuracy is higher: the constraint is binding.
        let unconstrained = SearchConfig { max_macs: None, ..config(8, 3) };
        let free = search(&space, &mut Analytic(&space, 0), &unconstrained).unwrap();
        let best = |front: &[Candidate]| front.iter().map(|c| c.pred_acc).fold(f64::MIN, f64::max);
        assert!(best(&free.front) > best(&result.front));

        let again = search(&space, &mut Analytic(&space, 0), &config(8, 3)).unwrap();
        assert_eq!(again, result);
    }

    #[test]
    fn fronts_hold_each_active_arch_once() {
        // Two genomes that differ only in a block the smallest depth leaves out: two archs, one
        // active arch (one encoding).
        let space = preset("mbv3-mini").unwrap();
        let shallow = vec![0; space.genome_cardinalities().len()];
        let twin = (0..shallow.len())
            .map(|i| {
                let mut g = shallow.clone();
                g[i] = 1;
                g
            })
            .find(|g| {
                let (a, b) = (space.decode(&shallow), space.decode(g));
                a != b && space.encode(&a).unwrap() == space.encode(&b).unwrap()
            })
            .expect("a gene of a block that depth leaves out");
        let scored = |genome: &[usize], acc: f64| Candidate {
            arch: space.decode(genome),
            macs: macs_of(&space, &space.decode(genome)),
            pred_acc: acc,
            pred_rob: 0.5,
        };
        let front = vec![
            scored(&shallow, 0.4),
            scored(&twin, 0.4),
            scored(&[1; 1].repeat(shallow.len()), 0.6),
        ];
        let kept = distinct_archs(&space, front.clone());
        assert_eq!(kept, vec![front[0].clone(), front[2].clone()]);

        // And a whole search's front never repeats an encoding.
        for seed in 1..4 {
            let result = search(&space, &mut Analytic(&space, 0), &config(8, seed)).unwrap();
            let encodings: std::collections::BTreeSet<Vec<u32>> = result
                .front
                .iter()
                .map(|c| space.encode(&c.arch).unwrap().iter().map(|v| v.to_bits()).collect())
                .collect();
            assert_eq!(encodings.len(), result.front.len(), "seed {seed}");
        }
    }

    #[test]
    fn a_budget_below_the_smallest_arch_is_said() {
        let space = preset("mbv3-mini").unwrap();
        let smallest = space.subnet(&space.smallest_arch()).unwrap().cost().macs;
        let error = search(&space, &mut Analytic(&space, 0), &config(1, 1)).unwrap_err();
        assert_eq!(
            error,
            SearchError::BudgetBelowSmallest {
                budget_mmacs: 1.0,
                smallest_mmacs: smallest as f64 / 1e6
            }
        );
        assert!(error.to_string().contains("below the space's smallest arch"), "{error}");
        // Exactly the smallest arch's MACs is a budget it fits.
        let tight = SearchConfig { max_macs: Some(smallest), ..config(1, 1) };
        let result = search(&space, &mut Analytic(&space, 0), &tight).unwrap();
        assert!(result.front.iter().all(|c| c.macs <= smallest));
    }
}

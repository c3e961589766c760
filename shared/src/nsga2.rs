//! NSGA-II over integer genomes: the multi-objective search of the ProARD reference, which runs
//! pymoo's `NSGA2` (Deb et al. 2002, "A fast and elitist multiobjective genetic algorithm:
//! NSGA-II"). This module mirrors pymoo's algorithm with the operators the reference uses:
//!
//! 1. **Initialisation** — `population` genomes, every variable uniform over its choices.
//! 2. **Mating** — binary tournaments between consecutive entries of concatenated random
//!    permutations of the population (pymoo's `TournamentSelection`, so every individual
//!    competes about equally often): a feasible individual beats an infeasible one, the smaller
//!    violation wins between infeasible ones, otherwise the lower rank wins, then the larger
//!    crowding distance; what is still tied is a coin flip. Each pair of winners gives two
//!    children by uniform crossover (with probability `crossover_prob`, otherwise copies of the
//!    parents), then every variable of every child is resampled with probability
//!    `mutation_prob`.
//! 3. **Duplicate elimination** — pymoo's default `eliminate_duplicates=True`: a genome already
//!    in the population or among the children drawn so far is dropped and mating goes on (at
//!    most [`FILL_ROUNDS`] rounds, pymoo's `n_max_iterations`). The initial population is filled
//!    the same way. So no genome is evaluated twice per generation, a population never holds a
//!    genome twice, and a space with fewer genomes than `population` gives a smaller population.
//! 4. **Survival** — pymoo's `RankAndCrowdingSurvival`: parents and children are merged, sorted
//!    into fronts by fast non-dominated sorting under Deb's constraint domination, and the next
//!    population is filled front by front; of the front that does not fit, the members of
//!    largest crowding distance survive (equal distances in random order).
//!
//! Objectives are maximised. All children of a generation are evaluated in one
//! [`Problem::evaluate`] call, so that a predictor scores them as one batch.
//!
//! Determinism: all randomness comes from one seeded ChaCha8 stream, indices are drawn as u32
//! whatever the width of `usize` (the operators of [`crate::genome`], rand's slice shuffle), sets
//! are ordered `BTreeSet`s and floats are ordered with `total_cmp` and summed in a fixed
//! sequence, so one config and one problem give the same result natively and in wasm32.

use std::cmp::Ordering;
use std::collections::BTreeSet;

use rand::RngExt;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

use crate::genome::{Genome, SeededRng, crossover, mutate, seeded_rng};

/// Rounds of mating (or of initial sampling) spent looking for genomes not seen yet before
/// accepting fewer (pymoo's `n_max_iterations` of its mating loop).
pub const FILL_ROUNDS: usize = 100;

/// Settings of a run; the defaults are the reference's.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Nsga2Config {
    /// Individuals per generation, and children per generation.
    pub population: usize,
    /// Generations after the initial population.
    pub generations: usize,
    /// Probability that a pair of parents is recombined by uniform crossover (else copied).
    pub crossover_prob: f64,
    /// Probability that each variable of a child is resampled.
    pub mutation_prob: f64,
    /// Seed of the one random stream of the run.
    pub seed: u64,
}

impl Default for Nsga2Config {
    fn default() -> Self {
        Nsga2Config {
            population: 100,
            generations: 100,
            crossover_prob: 1.0,
            mutation_prob: 0.1,
            seed: 1,
        }
    }
}

/// Why a run cannot start, or why it stopped.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum Nsga2Error {
    #[error("population must be at least 2, got {0}")]
    PopulationTooSmall(usize),
    #[error("{name} must lie in [0, 1], got {value}")]
    ProbabilityOutOfRange { name: &'static str, value: f64 },
    #[error("the problem has no variables")]
    NoVariables,
    #[error("variable {0} has no choices")]
    NoChoices(usize),
    #[error("the problem returned {got} evaluations for {expected} genomes")]
    EvaluationCount { expected: usize, got: usize },
    #[error("an evaluation has no objectives")]
    NoObjectives,
    #[error("an evaluation has {got} objectives where the first had {expected}")]
    ObjectiveCount { expected: usize, got: usize },
    #[error(
        "objectives must be finite and the violation finite and ≥ 0, \
         got objectives {objectives:?} and violation {violation}"
    )]
    InvalidEvaluation { objectives: Vec<f64>, violation: f64 },
}

impl Nsga2Config {
    /// Checks the settings against the problem's variable cardinalities.
    pub fn validate(&self, cardinalities: &[usize]) -> Result<(), Nsga2Error> {
        if self.population < 2 {
            return Err(Nsga2Error::PopulationTooSmall(self.population));
        }
        for (name, value) in
            [("crossover_prob", self.crossover_prob), ("mutation_prob", self.mutation_prob)]
        {
            // `contains` is false for NaN too.
            if !(0.0..=1.0).contains(&value) {
                return Err(Nsga2Error::ProbabilityOutOfRange { name, value });
            }
        }
        if cardinalities.is_empty() {
            return Err(Nsga2Error::NoVariables);
        }
        match cardinalities.iter().position(|n| *n == 0) {
            Some(variable) => Err(Nsga2Error::NoChoices(variable)),
            None => Ok(()),
        }
    }
}

/// The fitness of one genome.
#[derive(Clone, Debug, PartialEq)]
pub struct Evaluation {
    /// Finite values, all maximised; every evaluation of a run has the same number (≥ 1).
    pub objectives: Vec<f64>,
    /// 0 when the genome is feasible, otherwise how far it is from feasibility (> 0).
    pub violation: f64,
}

/// What NSGA-II optimises.
pub trait Problem {
    /// Number of choices of every variable; a genome holds one index below each.
    fn cardinalities(&self) -> Vec<usize>;
    /// One evaluation per genome, in order. A call gets a whole generation (distinct genomes,
    /// none of them in the current population), so a predictor can score it as one batch.
    fn evaluate(&mut self, genomes: &[Vec<usize>]) -> Vec<Evaluation>;
}

/// A genome with its evaluation and its standing in the population it belongs to.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Individual {
    pub genome: Genome,
    pub objectives: Vec<f64>,
    pub violation: f64,
    /// Non-domination rank (0 = the front) under constraint domination.
    pub rank: usize,
    /// Crowding distance within its front, as computed when the individual last survived
    /// (pymoo keeps it so too); infinite at the boundaries of a front, which JSON cannot hold,
    /// so it is written as `null` there.
    #[serde(with = "infinity_as_null")]
    pub crowding: f64,
}

/// What a run found.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Nsga2Result {
    /// The initial population (generation 0) and the population after every generation.
    pub generations: Vec<Vec<Individual>>,
    /// The rank-0 members of the final population: feasible ones only when any genome found is
    /// feasible, otherwise the least violating ones. Distinct genomes (a population never holds
    /// a genome twice), sorted by objectives, first objective first.
    pub front: Vec<Individual>,
}

/// Runs NSGA-II on a problem (see the module documentation): the [`Nsga2`] ask/tell loop with
/// the problem scoring each generation as it is asked.
pub fn run<P: Problem + ?Sized>(
    config: &Nsga2Config,
    problem: &mut P,
) -> Result<Nsga2Result, Nsga2Error> {
    let mut search = Nsga2::new(config, problem.cardinalities())?;
    let mut generations = Vec::with_capacity(config.generations + 1);
    while let Some(genomes) = search.ask() {
        let evaluations = if genomes.is_empty() { Vec::new() } else { problem.evaluate(genomes) };
        generations.push(search.tell(evaluations)?.to_vec());
    }
    Ok(Nsga2Result { generations, front: search.front() })
}

/// NSGA-II one generation at a time, for scorers that answer later (a predictor on WebGPU reads
/// its results back asynchronously) and for callers that show every generation: [`Nsga2::ask`]
/// gives the genomes to score — the initial population, then each generation's children —
/// and [`Nsga2::tell`] takes their evaluations, in the same order, and returns the population
/// that survived. Same config, same evaluations: the same run as [`run`], to the bit.
pub struct Nsga2 {
    config: Nsga2Config,
    cardinalities: Vec<usize>,
    rng: SeededRng,
    objective_count: Option<usize>,
    /// The genomes asked for and not yet told.
    asked: Option<Vec<Genome>>,
    population: Vec<Individual>,
    /// Generations told, the initial population included (callers that want the history keep
    /// the populations `tell` returns).
    told: usize,
}

impl Nsga2 {
    /// Checks the settings and draws the initial population (the first [`Nsga2::ask`]).
    pub fn new(config: &Nsga2Config, cardinalities: Vec<usize>) -> Result<Nsga2, Nsga2Error> {
        Nsga2::warm_started(config, cardinalities, Vec::new())
    }

    /// Like [`Nsga2::new`], but the initial population starts from `seeds` (a warm start from an
    /// earlier run's population): the distinct valid ones, up to `population`, the rest drawn at
    /// random. Without seeds, exactly [`Nsga2::new`].
    pub fn warm_started(
        config: &Nsga2Config,
        cardinalities: Vec<usize>,
        seeds: Vec<Genome>,
    ) -> Result<Nsga2, Nsga2Error> {
        config.validate(&cardinalities)?;
        let mut rng = seeded_rng(config.seed);
        let mut seen = BTreeSet::new();
        let valid = |g: &Genome| {
            g.len() == cardinalities.len() && g.iter().zip(&cardinalities).all(|(v, n)| v < n)
        };
        let mut initial: Vec<Genome> = seeds
            .into_iter()
            .filter(|g| valid(g) && seen.insert(g.clone()))
            .take(config.population)
            .collect();
        initial.extend(fill_distinct(config.population - initial.len(), &mut seen, |missing| {
            (0..missing).map(|_| random_genome(&cardinalities, &mut rng)).collect()
        }));
        Ok(Nsga2 {
            config: config.clone(),
            cardinalities,
            rng,
            objective_count: None,
            asked: Some(initial),
            population: Vec::new(),
            told: 0,
        })
    }

    /// The genomes to score next (distinct, none in the current population; empty once a small
    /// space is exhausted), or `None` when the run is over.
    pub fn ask(&self) -> Option<&[Genome]> {
        self.asked.as_deref()
    }

    /// The evaluations of the genomes last asked for, in order: the generation survives, and
    /// the next children are drawn unless it was the last generation. Returns the population.
    pub fn tell(&mut self, evaluations: Vec<Evaluation>) -> Result<&[Individual], Nsga2Error> {
        let genomes = self.asked.take().unwrap_or_default();
        let scored = individuals(genomes, evaluations, &mut self.objective_count)?;
        let mut merged = std::mem::take(&mut self.population);
        merged.extend(scored);
        // The initial population is only ranked (nothing to truncate); later ones are cut.
        self.population = survive(merged, self.config.population, &mut self.rng);
        self.told += 1;
        if self.told <= self.config.generations {
            self.asked =
                Some(offspring(&self.population, &self.cardinalities, &self.config, &mut self.rng));
        }
        Ok(&self.population)
    }

    /// The current population (the last one told).
    pub fn population(&self) -> &[Individual] {
        &self.population
    }

    /// Generations told so far, the initial population included.
    pub fn generation(&self) -> usize {
        self.told
    }

    /// The rank-0 members of the current population: feasible ones only when any genome found
    /// is feasible, otherwise the least violating ones; sorted by objectives, first first.
    pub fn front(&self) -> Vec<Individual> {
        let mut front: Vec<Individual> =
            self.population.iter().filter(|i| i.rank == 0).cloned().collect();
        front.sort_by(|a, b| {
            lexicographic(&a.objectives, &b.objectives).then_with(|| a.genome.cmp(&b.genome))
        });
        front
    }
}

/// Area dominated by `points` and bounded below by `reference`, all coordinates maximised.
/// Points not strictly above the reference in both coordinates add nothing.
pub fn hypervolume_2d(points: &[[f64; 2]], reference: [f64; 2]) -> f64 {
    let mut inside: Vec<[f64; 2]> =
        points.iter().copied().filter(|p| p[0] > reference[0] && p[1] > reference[1]).collect();
    // Sweep from the largest first coordinate down: each point adds the strip between the
    // highest second coordinate seen so far and its own.
    inside.sort_by(|a, b| b[0].total_cmp(&a[0]).then(b[1].total_cmp(&a[1])));
    let mut covered = reference[1];
    let mut area = 0.0;
    for [x, y] in inside {
        if y > covered {
            area += (x - reference[0]) * (y - covered);
            covered = y;
        }
    }
    area
}

fn random_genome(cardinalities: &[usize], rng: &mut SeededRng) -> Genome {
    // Resampling every variable of an all-zero genome is exactly a uniform draw.
    let mut genome = vec![0; cardinalities.len()];
    mutate(&mut genome, cardinalities, 1.0, rng);
    genome
}

/// Collects up to `target` genomes not in `seen` (which records them), asking `draw` for as
/// many as are still missing, for at most [`FILL_ROUNDS`] rounds.
fn fill_distinct(
    target: usize,
    seen: &mut BTreeSet<Genome>,
    mut draw: impl FnMut(usize) -> Vec<Genome>,
) -> Vec<Genome> {
    let mut accepted = Vec::with_capacity(target);
    for _ in 0..FILL_ROUNDS {
        let missing = target - accepted.len();
        if missing == 0 {
            break;
        }
        for genome in draw(missing) {
            if accepted.len() < target && !seen.contains(&genome) {
                seen.insert(genome.clone());
                accepted.push(genome);
            }
        }
    }
    accepted
}

/// The children of one generation: distinct, and none already in the population.
fn offspring(
    population: &[Individual],
    cardinalities: &[usize],
    config: &Nsga2Config,
    rng: &mut SeededRng,
) -> Vec<Genome> {
    let mut seen: BTreeSet<Genome> = population.iter().map(|i| i.genome.clone()).collect();
    fill_distinct(config.population, &mut seen, |missing| {
        // Two children per pair of parents, as pymoo's crossovers.
        let parents = tournament_winners(population, missing.div_ceil(2) * 2, rng);
        let mut children = Vec::with_capacity(parents.len());
        for pair in parents.chunks_exact(2) {
            let (a, b) = (&population[pair[0]].genome, &population[pair[1]].genome);
            if rng.random_bool(config.crossover_prob) {
                let child = crossover(a, b, rng);
                children.push(sibling(a, b, &child));
                children.push(child);
            } else {
                children.extend([a.clone(), b.clone()]);
            }
        }
        for child in &mut children {
            mutate(child, cardinalities, config.mutation_prob, rng);
        }
        children
    })
}

/// The second child of a uniform crossover: every variable from the parent the first child did
/// not take it from.
fn sibling(a: &[usize], b: &[usize], child: &[usize]) -> Genome {
    a.iter().zip(b).zip(child).map(|((x, y), c)| if c == x { *y } else { *x }).collect()
}

/// Indices of `count` binary tournament winners (the rules are in the module documentation).
fn tournament_winners(population: &[Individual], count: usize, rng: &mut SeededRng) -> Vec<usize> {
    let mut competitors = Vec::with_capacity(2 * count + population.len());
    while competitors.len() < 2 * count {
        let mut permutation: Vec<usize> = (0..population.len()).collect();
        permutation.shuffle(rng);
        competitors.extend(permutation);
    }
    competitors[..2 * count]
        .chunks_exact(2)
        .map(|pair| {
            let (a, b) = (&population[pair[0]], &population[pair[1]]);
            let a_against_b = if a.violation > 0.0 || b.violation > 0.0 {
                b.violation.total_cmp(&a.violation)
            } else {
                b.rank.cmp(&a.rank).then(a.crowding.total_cmp(&b.crowding))
            };
            match a_against_b {
                Ordering::Greater => pair[0],
                Ordering::Less => pair[1],
                Ordering::Equal => pair[rng.random_range(0..2u32) as usize],
            }
        })
        .collect()
}

/// Genomes with their evaluations, checked.
fn individuals(
    genomes: Vec<Genome>,
    evaluations: Vec<Evaluation>,
    objective_count: &mut Option<usize>,
) -> Result<Vec<Individual>, Nsga2Error> {
    if evaluations.len() != genomes.len() {
        return Err(Nsga2Error::EvaluationCount {
            expected: genomes.len(),
            got: evaluations.len(),
        });
    }
    // A space exhausted by duplicate elimination yields no children: nothing was scored.
    if genomes.is_empty() {
        return Ok(Vec::new());
    }
    let expected = *objective_count.get_or_insert(evaluations[0].objectives.len());
    if expected == 0 {
        return Err(Nsga2Error::NoObjectives);
    }
    genomes
        .into_iter()
        .zip(evaluations)
        .map(|(genome, Evaluation { objectives, violation })| {
            if objectives.len() != expected {
                return Err(Nsga2Error::ObjectiveCount { expected, got: objectives.len() });
            }
            // Non-finite values would break domination and crowding distances.
            let valid = objectives.iter().all(|o| o.is_finite())
                && violation.is_finite()
                && violation >= 0.0;
            if !valid {
                return Err(Nsga2Error::InvalidEvaluation { objectives, violation });
            }
            // Rank and crowding are assigned by the survival that follows.
            Ok(Individual { genome, objectives, violation, rank: 0, crowding: 0.0 })
        })
        .collect()
}

/// The best `size` candidates by rank, then crowding distance; every survivor gets its rank and
/// crowding distance among the candidates.
fn survive(mut candidates: Vec<Individual>, size: usize, rng: &mut SeededRng) -> Vec<Individual> {
    let chosen = survivors(&mut candidates, size, rng);
    chosen.into_iter().map(|i| candidates[i].clone()).collect()
}

/// The indices of the `size` best evaluations by NSGA-II's survival — rank under constraint
/// domination, then crowding distance, equal distances broken by a stream seeded with `seed` —
/// or of all of them when there are no more: how a warm start picks its seeds among everything
/// earlier runs evaluated.
///
/// Ranking many thousands of evaluations with three objectives takes seconds (fronts are large,
/// and each new point is compared with a whole front), so more than [`NARROWED`] × `size` are
/// first narrowed: for each pair of objectives, whole fronts of that pair in rank order until
/// [`NARROWED`] × `size` are taken, and the survival runs over what any pair took. With two
/// objectives that changes nothing (the survivors are in the first fronts, taken whole); with
/// three it keeps every arch at the top of some trade-off.
pub fn best(evaluations: Vec<Evaluation>, size: usize, seed: u64) -> Vec<usize> {
    let kept = match evaluations.len() > NARROWED * size {
        true => first_fronts_of_each_pair(&evaluations, NARROWED * size),
        false => vec![true; evaluations.len()],
    };
    // In the given order, so that the survival's random tie-breaks do not depend on narrowing.
    let (indices, mut candidates): (Vec<usize>, Vec<Individual>) = evaluations
        .into_iter()
        .enumerate()
        .filter(|(i, _)| kept[*i])
        .map(|(i, e)| (i, unranked(e.objectives, e.violation)))
        .unzip();
    let chosen = survivors(&mut candidates, size, &mut seeded_rng(seed));
    chosen.into_iter().map(|i| indices[i]).collect()
}

/// Which evaluations are in the first fronts of some pair of objectives (under constraint
/// domination): for each pair, whole fronts in rank order until at least `per_pair` are taken.
/// All of them with fewer than two objectives.
pub fn first_fronts_of_each_pair(evaluations: &[Evaluation], per_pair: usize) -> Vec<bool> {
    let objective_count = evaluations.first().map_or(0, |e| e.objectives.len());
    if objective_count < 2 {
        return vec![true; evaluations.len()];
    }
    let mut kept = vec![false; evaluations.len()];
    for a in 0..objective_count {
        for b in a + 1..objective_count {
            let pair: Vec<Individual> = evaluations
                .iter()
                .map(|e| unranked(vec![e.objectives[a], e.objectives[b]], e.violation))
                .collect();
            let mut taken = 0;
            for front in non_dominated_fronts(&pair) {
                if taken >= per_pair {
                    break;
                }
                taken += front.len();
                for i in front {
                    kept[i] = true;
                }
            }
        }
    }
    kept
}

/// An evaluation to rank, with no genome (its index says which it is).
fn unranked(objectives: Vec<f64>, violation: f64) -> Individual {
    Individual { genome: Genome::new(), objectives, violation, rank: 0, crowding: 0.0 }
}

/// How many candidates per survivor [`best`] narrows many evaluations down to (at least).
pub const NARROWED: usize = 3;

/// [`survive`]'s choice, as indices into `candidates`, which get their ranks and crowding
/// distances.
fn survivors(candidates: &mut [Individual], size: usize, rng: &mut SeededRng) -> Vec<usize> {
    let mut chosen = Vec::with_capacity(size.min(candidates.len()));
    for (rank, front) in non_dominated_fronts(candidates).into_iter().enumerate() {
        let room = size - chosen.len();
        if room == 0 {
            break;
        }
        let objectives: Vec<&[f64]> =
            front.iter().map(|i| candidates[*i].objectives.as_slice()).collect();
        for (i, crowding) in front.iter().zip(crowding_distances(&objectives)) {
            candidates[*i].rank = rank;
            candidates[*i].crowding = crowding;
        }
        if front.len() <= room {
            chosen.extend(front);
        } else {
            // Shuffling before the stable sort breaks equal distances at random (pymoo's
            // `randomized_argsort`).
            let mut by_crowding = front;
            by_crowding.shuffle(rng);
            by_crowding.sort_by(|a, b| candidates[*b].crowding.total_cmp(&candidates[*a].crowding));
            chosen.extend(&by_crowding[..room]);
        }
    }
    chosen
}

/// Deb's constraint domination: feasible beats infeasible, between infeasible ones the smaller
/// violation wins, between feasible ones Pareto dominance on the (maximised) objectives.
/// `Greater` when `a` dominates `b`, `Less` when `b` dominates `a`, `Equal` when neither does
/// (both directions in one pass: sorting a population compares every pair).
fn constraint_domination(a: Point, b: Point) -> Ordering {
    match (a.violation > 0.0, b.violation > 0.0) {
        (false, true) => Ordering::Greater,
        (true, false) => Ordering::Less,
        (true, true) => b.violation.partial_cmp(&a.violation).unwrap_or(Ordering::Equal),
        (false, false) => {
            let (mut better, mut worse) = (false, false);
            for (x, y) in a.objectives.iter().zip(b.objectives) {
                better |= x > y;
                worse |= x < y;
            }
            match (better, worse) {
                (true, false) => Ordering::Greater,
                (false, true) => Ordering::Less,
                _ => Ordering::Equal,
            }
        }
    }
}

/// What domination compares of an individual.
#[derive(Clone, Copy)]
struct Point<'a> {
    objectives: &'a [f64],
    violation: f64,
}

/// The non-dominated fronts under constraint domination (the ranks of Deb's fast non-dominated
/// sort), in rank order, each as ascending indices.
///
/// Computed by an efficient non-dominated sort (Zhang et al. 2015, "ENS"): individuals are
/// visited in an order where whoever dominates someone comes first — feasible before
/// infeasible, smaller violation first, then objectives in descending lexicographic order —
/// and each joins the first front none of whose members dominates it. A member of front k that
/// dominates it is dominated by a member of every earlier front (transitivity), so that is its
/// rank, and so the fronts that dominate it are the first few: the search for its front is a
/// binary one (ENS-BS). With two objectives a front's last member dominates whatever any other
/// member does (it is the highest in the second objective of those at least as high in the
/// first), so only it is compared: n individuals are sorted in about n·log(fronts) comparisons
/// instead of n².
fn non_dominated_fronts(individuals: &[Individual]) -> Vec<Vec<usize>> {
    let point = |i: usize| Point {
        objectives: &individuals[i].objectives,
        violation: individuals[i].violation,
    };
    // Every feasible individual (violation 0 or -0) ranks alike here.
    let infeasibility = |i: usize| {
        let violation = individuals[i].violation;
        if violation > 0.0 { violation } else { 0.0 }
    };
    let mut order: Vec<usize> = (0..individuals.len()).collect();
    order.sort_by(|a, b| {
        infeasibility(*a).total_cmp(&infeasibility(*b)).then_with(|| {
            // Objectives are finite; -0 and 0 are one value, as domination sees them.
            let pairs = point(*b).objectives.iter().zip(point(*a).objectives);
            pairs
                .map(|(x, y)| x.partial_cmp(y).unwrap_or(Ordering::Equal))
                .find(|o| o.is_ne())
                .unwrap_or(Ordering::Equal)
        })
    });
    let two_objectives = individuals.first().is_some_and(|i| i.objectives.len() == 2);
    let mut fronts: Vec<Vec<usize>> = Vec::new();
    for p in order {
        let dominates_p = |q: &usize| constraint_domination(point(*q), point(p)).is_gt();
        // Fronts that dominate p come before those that do not (see above): a binary search.
        let rank = fronts.partition_point(|front| {
            if two_objectives {
                front.last().is_some_and(dominates_p)
            } else {
                front.iter().any(dominates_p)
            }
        });
        match fronts.get_mut(rank) {
            Some(front) => front.push(p),
            None => fronts.push(vec![p]),
        }
    }
    for front in &mut fronts {
        front.sort_unstable();
    }
    fronts
}

/// pymoo's crowding distance of the points of one front: per objective, the gap between the
/// two neighbours divided by the objective's range (infinite for the extremes, nothing for an
/// objective constant over the front), averaged over objectives. A repeated point adds no
/// diversity: only its first occurrence is measured, the others get 0. With at most two
/// distinct points, all of them are extremes.
fn crowding_distances(points: &[&[f64]]) -> Vec<f64> {
    let distinct: Vec<usize> =
        (0..points.len()).filter(|i| !points[..*i].contains(&points[*i])).collect();
    let mut distances = vec![0.0; points.len()];
    if distinct.len() <= 2 {
        for i in distinct {
            distances[i] = f64::INFINITY;
        }
        return distances;
    }
    let objective_count = points[distinct[0]].len();
    let columns = (0..objective_count).map(|m| points.iter().map(|p| p[m]).collect::<Vec<f64>>());
    for value in columns {
        let mut order = distinct.clone();
        order.sort_by(|a, b| value[*a].total_cmp(&value[*b]));
        let (first, last) = (order[0], order[order.len() - 1]);
        let range = value[last] - value[first];
        if range == 0.0 {
            continue;
        }
        distances[first] = f64::INFINITY;
        distances[last] = f64::INFINITY;
        for neighbours in order.windows(3) {
            let [before, point, after] = [neighbours[0], neighbours[1], neighbours[2]];
            distances[point] += (value[after] - value[before]) / range;
        }
    }
    for distance in &mut distances {
        *distance /= objective_count as f64;
    }
    distances
}

fn lexicographic(a: &[f64], b: &[f64]) -> Ordering {
    a.iter().zip(b).map(|(x, y)| x.total_cmp(y)).find(|o| o.is_ne()).unwrap_or(Ordering::Equal)
}

/// Serde for a crowding distance: JSON has no infinity, so infinite travels as `null`.
mod infinity_as_null {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(value: &f64, serializer: S) -> Result<S::Ok, S::Error> {
        value.is_finite().then_some(*value).serialize(serializer)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<f64, D::Error> {
        Ok(Option::<f64>::deserialize(deserializer)?.unwrap_or(f64::INFINITY))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A problem given by a function of one genome; counts the batches it is asked for.
    struct FnProblem<F> {
        cardinalities: Vec<usize>,
        fitness: F,
        batches: Vec<usize>,
    }

    fn problem<F: Fn(&[usize]) -> Evaluation>(cardinalities: &[usize], fitness: F) -> FnProblem<F> {
        FnProblem { cardinalities: cardinalities.to_vec(), fitness, batches: Vec::new() }
    }

    impl<F: Fn(&[usize]) -> Evaluation> Problem for FnProblem<F> {
        fn cardinalities(&self) -> Vec<usize> {
            self.cardinalities.clone()
        }

        fn evaluate(&mut self, genomes: &[Vec<usize>]) -> Vec<Evaluation> {
            self.batches.push(genomes.len());
            genomes.iter().map(|g| (self.fitness)(g)).collect()
        }
    }

    fn feasible(objectives: Vec<f64>) -> Evaluation {
        Evaluation { objectives, violation: 0.0 }
    }

    fn individual(objectives: &[f64], violation: f64) -> Individual {
        Individual {
            genome: Vec::new(),
            objectives: objectives.to_vec(),
            violation,
            rank: 0,
            crowding: 0.0,
        }
    }

    /// Every genome of the cardinalities, odometer order.
    fn all_genomes(cardinalities: &[usize]) -> Vec<Genome> {
        let mut genomes = vec![Vec::new()];
        for n in cardinalities {
            genomes = genomes
                .into_iter()
                .flat_map(|g: Genome| {
                    (0..*n).map(move |v| g.iter().copied().chain([v]).collect::<Genome>())
                })
                .collect();
        }
        genomes
    }

    /// The true front by brute force: rank 0 of the whole space.
    fn true_front<F: Fn(&[usize]) -> Evaluation>(problem: &FnProblem<F>) -> Vec<Individual> {
        let everything: Vec<Individual> = all_genomes(&problem.cardinalities)
            .into_iter()
            .map(|genome| {
                let e = (problem.fitness)(&genome);
                Individual { genome, ..individual(&e.objectives, e.violation) }
            })
            .collect();
        non_dominated_fronts(&everything)[0].iter().map(|i| everything[*i].clone()).collect()
    }

    fn objective_set(individuals: &[Individual]) -> BTreeSet<Vec<u64>> {
        individuals.iter().map(|i| i.objectives.iter().map(|o| o.to_bits()).collect()).collect()
    }

    fn hypervolume(front: &[Individual], reference: [f64; 2]) -> f64 {
        let points: Vec<[f64; 2]> =
            front.iter().map(|i| [i.objectives[0], i.objectives[1]]).collect();
        hypervolume_2d(&points, reference)
    }

    /// Minus the squared distance from the genome to each target: the front is the set of
    /// lattice points between the targets.
    fn closeness(targets: &[[f64; 3]]) -> impl Fn(&[usize]) -> Vec<f64> + '_ {
        move |g| {
            targets
                .iter()
                .map(|t| -t.iter().zip(g).map(|(t, x)| (*x as f64 - t).powi(2)).sum::<f64>())
                .collect()
        }
    }

    const TWO_TARGETS: [[f64; 3]; 2] = [[0.0, 1.0, 2.0], [7.0, 6.0, 5.0]];

    #[test]
    fn finds_the_whole_front_of_a_small_space() {
        let objectives = closeness(&TWO_TARGETS);
        let mut p = problem(&[8, 8, 8], |g| feasible(objectives(g)));
        let truth = true_front(&p);
        let found = run(&Nsga2Config::default(), &mut p).unwrap().front;
        assert_eq!(objective_set(&found), objective_set(&truth));
        // No variable is further than 7 from a target: the reference is below every genome.
        let reference = [-(7f64.powi(2) * 3.0), -(7f64.powi(2) * 3.0)];
        assert!(hypervolume(&found, reference) >= 0.99 * hypervolume(&truth, reference));
    }

    #[test]
    fn finds_the_whole_front_of_three_objectives() {
        let targets = [[0.0, 0.0, 5.0], [5.0, 1.0, 0.0], [1.0, 5.0, 2.0]];
        let objectives = closeness(&targets);
        let mut p = problem(&[6, 6, 6], |g| feasible(objectives(g)));
        let truth = true_front(&p);
        assert!(truth.len() < 100, "every front member fits in the population");
        let found = run(&Nsga2Config::default(), &mut p).unwrap().front;
        assert_eq!(objective_set(&found), objective_set(&truth));
    }

    /// ZDT1 and ZDT2 (convex and concave fronts) with every variable on an 11-point grid of
    /// [0, 1], negated to be maximised. The front: all distance variables at 0 (g = 1), where
    /// f2 = 1 − √f1 (ZDT1) or 1 − f1² (ZDT2) for the 11 values of f1.
    fn zdt(variables: usize, shape: fn(f64) -> f64) -> impl Fn(&[usize]) -> Evaluation {
        move |g| {
            let x = |i: usize| g[i] as f64 / 10.0;
            let distance = 1.0 + 9.0 * (1..variables).map(x).sum::<f64>() / (variables - 1) as f64;
            let f1 = x(0);
            feasible(vec![-f1, -distance * (1.0 - shape(f1 / distance))])
        }
    }

    #[test]
    fn approaches_the_analytic_fronts_of_discretised_zdt1_and_zdt2() {
        // 20 variables are reached exactly within the reference's 100 generations (30, the
        // classic ZDT size, get to 98% (ZDT1) and 94% (ZDT2) of the front's hypervolume).
        const VARIABLES: usize = 20;
        let shapes: [fn(f64) -> f64; 2] = [f64::sqrt, |r| r * r];
        for shape in shapes {
            let mut p = problem(&[11; VARIABLES], zdt(VARIABLES, shape));
            let found = run(&Nsga2Config::default(), &mut p).unwrap().front;
            let truth: Vec<[f64; 2]> = (0..=10)
                .map(|i| {
                    let f1 = i as f64 / 10.0;
                    [-f1, -(1.0 - shape(f1))]
                })
                .collect();
            let reference = [-1.1, -1.1];
            let found_volume = hypervolume(&found, reference);
            let true_volume = hypervolume_2d(&truth, reference);
            assert!(
                found_volume >= 0.99 * true_volume,
                "hypervolume {found_volume} of {true_volume}"
            );
        }
    }

    #[test]
    fn spreads_over_a_front_larger_than_the_population() {
        // 1001 optimal genomes (x1 = 0) on the concave front f2 = 1 − f1²: the population can
        // hold only 100, so crowding decides which, and only an even spread keeps the volume
        // (100 genomes evenly spaced in f1 hold 99.5% of it; keeping the most crowded gives 77%).
        let fitness = |g: &[usize]| {
            let f1 = g[0] as f64 / 1000.0;
            feasible(vec![f1, 1.0 - f1 * f1 - g[1] as f64 / 10.0])
        };
        let truth: Vec<[f64; 2]> = (0..=1000)
            .map(|x0| {
                let objectives = fitness(&[x0, 0]).objectives;
                [objectives[0], objectives[1]]
            })
            .collect();
        let found = run(&Nsga2Config::default(), &mut problem(&[1001, 10], fitness)).unwrap().front;
        let reference = [-0.1, -0.1];
        let (found_volume, true_volume) =
            (hypervolume(&found, reference), hypervolume_2d(&truth, reference));
        assert!(found_volume >= 0.99 * true_volume, "hypervolume {found_volume} of {true_volume}");
    }

    #[test]
    fn constrained_front_is_feasible_and_complete() {
        let objectives = closeness(&TWO_TARGETS);
        let violation = |g: &[usize]| (g.iter().sum::<usize>() as f64 - 10.0).max(0.0);
        let mut p = problem(&[8, 8, 8], |g| Evaluation {
            objectives: objectives(g),
            violation: violation(g),
        });
        let truth = true_front(&p);
        assert!(truth.iter().all(|i| i.violation == 0.0));
        // The constraint cuts the unconstrained front: the test would not notice otherwise.
        let unconstrained = true_front(&problem(&[8, 8, 8], |g| feasible(objectives(g))));
        assert!(unconstrained.iter().any(|i| violation(&i.genome) > 0.0));

        let found = run(&Nsga2Config::default(), &mut p).unwrap().front;
        assert!(found.iter().all(|i| i.violation == 0.0));
        assert_eq!(objective_set(&found), objective_set(&truth));
    }

    #[test]
    fn a_single_feasible_genome_is_the_whole_front() {
        let objectives = closeness(&TWO_TARGETS);
        let mut p = problem(&[8, 8, 8], |g| Evaluation {
            objectives: objectives(g),
            violation: g.iter().map(|x| x.abs_diff(2) as f64).sum(),
        });
        let front = run(&Nsga2Config::default(), &mut p).unwrap().front;
        assert_eq!(front.len(), 1);
        assert_eq!(front[0].genome, vec![2, 2, 2]);
        assert_eq!(front[0].violation, 0.0);
    }

    #[test]
    fn without_feasible_genomes_the_front_is_the_least_violating() {
        let objectives = closeness(&TWO_TARGETS);
        let mut p = problem(&[8, 8, 8], |g| Evaluation {
            objectives: objectives(g),
            violation: 1.0 + g[0].abs_diff(3) as f64 + g[1].abs_diff(5) as f64,
        });
        let front = run(&Nsga2Config::default(), &mut p).unwrap().front;
        assert!(front.iter().all(|i| i.violation == 1.0));
        let mut genomes: Vec<Genome> = front.into_iter().map(|i| i.genome).collect();
        genomes.sort();
        assert_eq!(genomes, (0..8).map(|x2| vec![3, 5, x2]).collect::<Vec<_>>());
    }

    #[test]
    fn same_seed_same_result_other_seed_other_populations() {
        let config = Nsga2Config { generations: 30, ..Nsga2Config::default() };
        let zdt1 = || problem(&[11; 30], zdt(30, f64::sqrt));
        let result = |config: &Nsga2Config| run(config, &mut zdt1()).unwrap();
        let first = result(&config);
        assert_eq!(first, result(&config));
        let other = result(&Nsga2Config { seed: 2, ..config.clone() });
        assert_ne!(first.generations[0], other.generations[0]);
        assert_ne!(first.generations.last(), other.generations.last());
    }

    /// FNV-1a of a result's JSON: the whole history of a run in one number.
    fn fingerprint(result: &Nsga2Result) -> u64 {
        serde_json::to_string(result)
            .unwrap()
            .bytes()
            .fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ b as u64).wrapping_mul(0x0100_0000_01b3))
    }

    /// A constrained ZDT1 run whose every population was recorded from the all-at-once
    /// implementation before the search became ask/tell: the loop must reproduce it exactly.
    fn pinned_run() -> (Nsga2Config, impl Problem) {
        let config = Nsga2Config { population: 24, generations: 12, seed: 5, ..Default::default() };
        let objectives = zdt(8, f64::sqrt);
        let p = problem(&[11; 8], move |g| {
            let mut e = objectives(g);
            e.violation = (g[1] as f64 - 6.0).max(0.0);
            e
        });
        (config, p)
    }

    #[test]
    fn the_pinned_run_is_reproduced() {
        let (config, mut p) = pinned_run();
        let result = run(&config, &mut p).unwrap();
        assert_eq!(fingerprint(&result), 4_482_667_690_019_104_165);
    }

    /// Polls a future to completion on this thread (the scorers here wake nobody: they are
    /// ready when polled again).
    fn block_on<F: std::future::Future>(future: F) -> F::Output {
        let mut future = std::pin::pin!(future);
        let mut context = std::task::Context::from_waker(std::task::Waker::noop());
        loop {
            if let std::task::Poll::Ready(value) = future.as_mut().poll(&mut context) {
                return value;
            }
        }
    }

    /// Scores that are not there at the first poll, as a GPU read-back.
    struct Later<T>(Option<T>, bool);

    impl<T: Unpin> std::future::Future for Later<T> {
        type Output = T;
        fn poll(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context,
        ) -> std::task::Poll<T> {
            if std::mem::replace(&mut self.1, true) {
                std::task::Poll::Ready(self.0.take().expect("polled after completion"))
            } else {
                std::task::Poll::Pending
            }
        }
    }

    #[test]
    fn ask_and_tell_with_an_asynchronous_scorer_is_the_same_run() {
        let (config, mut p) = pinned_run();
        let mut search = Nsga2::new(&config, p.cardinalities()).unwrap();
        let mut generations = Vec::new();
        while let Some(genomes) = search.ask() {
            let genomes = genomes.to_vec();
            let scores = block_on(async { Later(Some(p.evaluate(&genomes)), false).await });
            let population = search.tell(scores).unwrap();
            assert_eq!(population.len(), config.population);
            generations.push(population.to_vec());
            assert_eq!(search.generation(), generations.len());
            assert!(search.front().iter().all(|i| i.rank == 0));
        }
        assert_eq!(generations.len(), config.generations + 1);
        let result = Nsga2Result { generations, front: search.front() };
        assert_eq!(fingerprint(&result), 4_482_667_690_019_104_165);
    }

    #[test]
    fn telling_the_wrong_number_of_scores_is_an_error() {
        let mut search = Nsga2::new(&Nsga2Config::default(), vec![3, 3, 3]).unwrap();
        let asked = search.ask().unwrap().len();
        assert_eq!(
            search.tell(Vec::new()).unwrap_err(),
            Nsga2Error::EvaluationCount { expected: asked, got: 0 }
        );
    }

    #[test]
    fn one_batch_per_generation_of_distinct_new_genomes() {
        let config = Nsga2Config { population: 20, generations: 15, ..Nsga2Config::default() };
        let mut p = problem(&[11; 10], zdt(10, f64::sqrt));
        let result = run(&config, &mut p).unwrap();
        assert_eq!(p.batches, vec![20; 16]);
        assert_eq!(result.generations.len(), 16);
        for population in &result.generations {
            assert_eq!(population.len(), 20);
            let distinct: BTreeSet<&Genome> = population.iter().map(|i| &i.genome).collect();
            assert_eq!(distinct.len(), 20);
        }
    }

    #[test]
    fn a_space_smaller_than_the_population_is_searched_whole() {
        let mut p = problem(&[2, 3], |g| feasible(vec![g[0] as f64, -(g[1] as f64)]));
        let result =
            run(&Nsga2Config { generations: 3, ..Nsga2Config::default() }, &mut p).unwrap();
        assert!(result.generations.iter().all(|population| population.len() == 6));
        // Once the space is exhausted there is nothing new to evaluate.
        assert_eq!(p.batches, vec![6]);
        assert_eq!(result.front.len(), 1);
        assert_eq!(result.front[0].genome, vec![1, 0]);
    }

    #[test]
    fn results_serialise_to_json_with_infinite_crowding_as_null() {
        let boundary = Individual { crowding: f64::INFINITY, ..individual(&[0.5, -1.0], 0.0) };
        let inner = Individual { crowding: 0.25, ..individual(&[0.25, -0.5], 0.0) };
        let result =
            Nsga2Result { generations: vec![vec![boundary.clone(), inner]], front: vec![boundary] };
        let json = serde_json::to_string(&result).unwrap();
        assert!(json.contains(r#""crowding":null"#), "{json}");
        assert!(json.contains(r#""crowding":0.25"#), "{json}");
        assert_eq!(serde_json::from_str::<Nsga2Result>(&json).unwrap(), result);

        let mut p = problem(&[8, 8, 8], |g| feasible(closeness(&TWO_TARGETS)(g)));
        let run_result = run(&Nsga2Config { generations: 2, ..Nsga2Config::default() }, &mut p);
        serde_json::to_string(&run_result.unwrap()).unwrap();
    }

    #[test]
    fn constraint_domination_on_hand_made_points() {
        let domination = |a: (&[f64], f64), b: (&[f64], f64)| {
            constraint_domination(
                Point { objectives: a.0, violation: a.1 },
                Point { objectives: b.0, violation: b.1 },
            )
        };
        let dominates = |a: (&[f64], f64), b: (&[f64], f64)| {
            let forward = domination(a, b);
            // One pass answers both directions.
            assert_eq!(domination(b, a), forward.reverse());
            forward == Ordering::Greater
        };
        assert!(dominates((&[1.0, 1.0], 0.0), (&[1.0, 0.0], 0.0)));
        assert!(!dominates((&[1.0, 0.0], 0.0), (&[1.0, 1.0], 0.0)));
        assert!(!dominates((&[1.0, 1.0], 0.0), (&[1.0, 1.0], 0.0)));
        assert!(!dominates((&[2.0, 0.0], 0.0), (&[0.0, 2.0], 0.0)));
        assert!(dominates((&[0.0, 0.0], 0.0), (&[9.0, 9.0], 0.5)));
        assert!(dominates((&[0.0, 0.0], 0.5), (&[9.0, 9.0], 1.0)));
        assert!(!dominates((&[9.0, 9.0], 1.0), (&[0.0, 0.0], 1.0)));
    }

    #[test]
    fn fronts_of_hand_made_points() {
        let points = [
            individual(&[1.0, 1.0], 0.0), // 0: dominated by 3 only
            individual(&[3.0, 0.0], 0.0), // 1: front
            individual(&[0.0, 0.0], 0.0), // 2: dominated by 0, 1, 3 and 6
            individual(&[2.0, 2.0], 0.0), // 3: front
            individual(&[9.0, 9.0], 2.0), // 4: infeasible, after every feasible point
            individual(&[0.0, 0.0], 1.0), // 5: less violating than 4
            individual(&[1.0, 1.0], 0.0), // 6: same as 0, same front
        ];
        assert_eq!(
            non_dominated_fronts(&points),
            vec![vec![1, 3], vec![0, 6], vec![2], vec![5], vec![4]]
        );
    }

    #[test]
    fn the_best_evaluations_are_the_survivors() {
        let evaluations = vec![
            feasible(vec![1.0, 1.0]),                                  // 0: second front
            feasible(vec![3.0, 0.0]),                                  // 1: front
            feasible(vec![0.0, 0.0]),                                  // 2: third front
            feasible(vec![2.0, 2.0]),                                  // 3: front
            Evaluation { objectives: vec![9.0, 9.0], violation: 2.0 }, // 4: infeasible
            feasible(vec![0.0, 3.0]),                                  // 5: front
            feasible(vec![0.5, 1.5]),                                  // 6: second front, beside 0
        ];
        assert_eq!(best(evaluations.clone(), 3, 1), vec![1, 3, 5]);
        // The second front's members are both extremes of it: either may come first.
        let four = best(evaluations.clone(), 4, 1);
        assert_eq!(four[..3], [1, 3, 5]);
        assert!([0, 6].contains(&four[3]), "{four:?}");
        assert_eq!(best(evaluations.clone(), 7, 1), vec![1, 3, 5, 0, 6, 2, 4]);
        assert_eq!(best(evaluations.clone(), 20, 1).len(), 7);
        assert!(best(Vec::new(), 3, 1).is_empty());

        // Exactly what a generation's survival keeps of the same candidates.
        let candidates: Vec<Individual> = evaluations
            .iter()
            .enumerate()
            .map(|(i, e)| Individual { genome: vec![i], ..individual(&e.objectives, e.violation) })
            .collect();
        for size in 1..=7 {
            let kept = survive(candidates.clone(), size, &mut seeded_rng(5));
            let genomes: Vec<usize> = kept.iter().map(|i| i.genome[0]).collect();
            assert_eq!(best(evaluations.clone(), size, 5), genomes, "size {size}");
        }
    }

    #[test]
    fn many_evaluations_of_three_objectives_keep_every_objective_s_best() {
        // Anti-correlated objectives, as accuracy and MACs are: a large first front, which
        // `best` narrows pair by pair before ranking.
        let mut rng = seeded_rng(9);
        let evaluations: Vec<Evaluation> = (0..3000)
            .map(|_| {
                let size: f64 = rng.random();
                let noise = |rng: &mut SeededRng| rng.random::<f64>() * 0.2;
                let objectives =
                    vec![size + noise(&mut rng), 1.0 - size + noise(&mut rng), noise(&mut rng)];
                let violation = if rng.random_bool(0.2) { rng.random() } else { 0.0 };
                Evaluation { objectives, violation }
            })
            .collect();
        let chosen = best(evaluations.clone(), 20, 1);
        assert_eq!(chosen.len(), 20);
        assert_eq!(chosen.iter().collect::<BTreeSet<_>>().len(), 20);
        assert!(chosen.iter().all(|i| evaluations[*i].violation == 0.0));
        for m in 0..3 {
            let top = (0..evaluations.len())
                .filter(|i| evaluations[*i].violation == 0.0)
                .max_by(|a, b| {
                    evaluations[*a].objectives[m].total_cmp(&evaluations[*b].objectives[m])
                })
                .unwrap();
            assert!(chosen.contains(&top), "objective {m}'s best, {top}, is not kept");
        }
        // The same answer for the same input.
        assert_eq!(best(evaluations, 20, 1), chosen);
    }

    #[test]
    fn crowding_of_hand_made_points() {
        let distances = |points: &[&[f64]]| crowding_distances(points);
        let inf = f64::INFINITY;
        // Ranges 4 and 5: point 1 has gaps 3/4 and 4/5, point 2 gaps 3/4 and 3/5.
        let d = distances(&[&[0.0, 5.0], &[1.0, 3.0], &[3.0, 1.0], &[4.0, 0.0]]);
        assert_eq!([d[0], d[3]], [inf, inf]);
        assert!((d[1] - (0.75 + 0.8) / 2.0).abs() < 1e-12, "{d:?}");
        assert!((d[2] - (0.75 + 0.6) / 2.0).abs() < 1e-12, "{d:?}");
        // A repeated point is measured once; a constant objective separates nobody.
        assert_eq!(
            distances(&[&[0.0, 2.0], &[1.0, 1.0], &[1.0, 1.0], &[2.0, 0.0]]),
            [inf, 1.0, 0.0, inf]
        );
        assert_eq!(distances(&[&[0.0, 1.0], &[1.0, 1.0], &[2.0, 1.0]]), [inf, 0.5, inf]);
        // Up to two distinct points are all extremes.
        assert_eq!(distances(&[&[0.0, 1.0], &[1.0, 0.0], &[1.0, 0.0]]), [inf, inf, 0.0]);
        assert_eq!(distances(&[&[0.0, 1.0]]), [inf]);
        assert!(distances(&[]).is_empty());
    }

    #[test]
    fn hypervolume_of_hand_made_points() {
        assert_eq!(hypervolume_2d(&[], [0.0, 0.0]), 0.0);
        assert_eq!(hypervolume_2d(&[[2.0, 3.0]], [0.0, 0.0]), 6.0);
        // Staircase: 1×3 + 2×2 + 3×1 minus the overlaps = 3 + 2 + 1.
        assert_eq!(hypervolume_2d(&[[1.0, 3.0], [2.0, 2.0], [3.0, 1.0]], [0.0, 0.0]), 6.0);
        // Dominated points and points not beyond the reference add nothing.
        let points = [[1.0, 3.0], [2.0, 2.0], [3.0, 1.0], [1.0, 1.0], [5.0, -1.0], [-1.0, 9.0]];
        assert_eq!(hypervolume_2d(&points, [0.0, 0.0]), 6.0);
        assert_eq!(hypervolume_2d(&[[1.0, 3.0], [2.0, 2.0]], [1.0, 1.0]), 1.0);
    }

    #[test]
    fn invalid_configs_are_rejected() {
        let ok = Nsga2Config::default();
        assert_eq!(ok.validate(&[2, 3]), Ok(()));
        let config = |population, crossover_prob, mutation_prob| Nsga2Config {
            population,
            crossover_prob,
            mutation_prob,
            ..Nsga2Config::default()
        };
        assert_eq!(config(1, 1.0, 0.1).validate(&[2]), Err(Nsga2Error::PopulationTooSmall(1)));
        assert_eq!(
            config(2, 1.5, 0.1).validate(&[2]),
            Err(Nsga2Error::ProbabilityOutOfRange { name: "crossover_prob", value: 1.5 })
        );
        assert_eq!(
            config(2, 1.0, -0.1).validate(&[2]),
            Err(Nsga2Error::ProbabilityOutOfRange { name: "mutation_prob", value: -0.1 })
        );
        assert!(matches!(
            config(2, 1.0, f64::NAN).validate(&[2]),
            Err(Nsga2Error::ProbabilityOutOfRange { name: "mutation_prob", .. })
        ));
        assert_eq!(ok.validate(&[]), Err(Nsga2Error::NoVariables));
        assert_eq!(ok.validate(&[3, 1, 0]), Err(Nsga2Error::NoChoices(2)));
        // `run` validates before evaluating anything.
        let mut p = problem(&[], |_| feasible(vec![0.0]));
        assert_eq!(run(&ok, &mut p), Err(Nsga2Error::NoVariables));
        assert!(p.batches.is_empty());
    }

    #[test]
    fn config_defaults_and_json() {
        let default = Nsga2Config::default();
        assert_eq!((default.population, default.generations, default.seed), (100, 100, 1));
        assert_eq!((default.crossover_prob, default.mutation_prob), (1.0, 0.1));
        assert_eq!(serde_json::from_str::<Nsga2Config>("{}").unwrap(), default);
        let partial: Nsga2Config = serde_json::from_str(r#"{"population": 10}"#).unwrap();
        assert_eq!(partial, Nsga2Config { population: 10, ..default });
        assert!(serde_json::from_str::<Nsga2Config>(r#"{"populaton": 10}"#).is_err());
    }

    /// Answers every batch with a single evaluation.
    struct Miscounting;

    impl Problem for Miscounting {
        fn cardinalities(&self) -> Vec<usize> {
            vec![4]
        }

        fn evaluate(&mut self, _: &[Vec<usize>]) -> Vec<Evaluation> {
            vec![feasible(vec![0.0])]
        }
    }

    #[test]
    fn broken_evaluations_are_errors() {
        let config = Nsga2Config::default();
        assert_eq!(
            run(&config, &mut Miscounting),
            Err(Nsga2Error::EvaluationCount { expected: 4, got: 1 })
        );
        // The space has 4 genomes: the initial batch holds all of them.
        let errors =
            |fitness: fn(&[usize]) -> Evaluation| run(&config, &mut problem(&[4], fitness));
        assert_eq!(errors(|_| feasible(vec![])), Err(Nsga2Error::NoObjectives));
        assert!(matches!(
            errors(|g| feasible(vec![0.0; 1 + g[0] % 2])),
            Err(Nsga2Error::ObjectiveCount { .. })
        ));
        assert!(matches!(
            errors(|_| feasible(vec![f64::NAN])),
            Err(Nsga2Error::InvalidEvaluation { .. })
        ));
        assert!(matches!(
            errors(|_| Evaluation { objectives: vec![0.0], violation: -1.0 }),
            Err(Nsga2Error::InvalidEvaluation { .. })
        ));
    }

    fn point_of(individual: &Individual) -> Point<'_> {
        Point { objectives: &individual.objectives, violation: individual.violation }
    }

    fn dominates_somewhere(by: &[Individual], point: &Individual) -> bool {
        by.iter().any(|other| constraint_domination(point_of(other), point_of(point)).is_gt())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn fronts_partition_and_order_points(
            m in 2usize..=3,
            points in prop::collection::vec(
                (prop::collection::vec(-2i8..3, 3), prop::sample::select(vec![0.0, -0.0, 1.0, 2.0])),
                0..40,
            ),
        ) {
            // -0 and 0 are the same objective value.
            let value = |x: i8| if x == -2 { -0.0 } else { x as f64 };
            let points: Vec<Individual> = points
                .iter()
                .map(|(o, v)| individual(&o[..m].iter().map(|x| value(*x)).collect::<Vec<_>>(), *v))
                .collect();
            let fronts = non_dominated_fronts(&points);
            prop_assert!(fronts.iter().all(|front| front.windows(2).all(|w| w[0] < w[1])));
            let mut all: Vec<usize> = fronts.concat();
            all.sort_unstable();
            prop_assert_eq!(all, (0..points.len()).collect::<Vec<_>>());
            for (rank, front) in fronts.iter().enumerate() {
                let members: Vec<Individual> = front.iter().map(|i| points[*i].clone()).collect();
                for member in &members {
                    prop_assert!(!dominates_somewhere(&members, member));
                    if rank > 0 {
                        let previous: Vec<Individual> =
                            fronts[rank - 1].iter().map(|i| points[*i].clone()).collect();
                        prop_assert!(dominates_somewhere(&previous, member));
                    }
                }
            }
        }

        #[test]
        fn crowding_is_infinite_at_the_extremes_and_never_negative(
            points in prop::collection::vec(prop::collection::vec(-5i8..5, 3), 1..20),
        ) {
            let points: Vec<Vec<f64>> =
                points.iter().map(|p| p.iter().map(|x| *x as f64).collect()).collect();
            let slices: Vec<&[f64]> = points.iter().map(Vec::as_slice).collect();
            let distances = crowding_distances(&slices);
            prop_assert!(distances.iter().all(|d| *d >= 0.0));
            // The first lowest point of every objective that varies is an extreme.
            for m in 0..3 {
                let value = |i: usize| points[i][m];
                let lowest = (0..points.len()).min_by(|a, b| value(*a).total_cmp(&value(*b))).unwrap();
                if (0..points.len()).any(|i| value(i) != value(lowest)) {
                    prop_assert_eq!(distances[lowest], f64::INFINITY);
                }
            }
        }

        #[test]
        fn hypervolume_ignores_order_and_dominated_points(
            points in prop::collection::vec((0u8..10, 0u8..10), 1..15), shift in 0usize..15,
        ) {
            let points: Vec<[f64; 2]> = points.iter().map(|(x, y)| [*x as f64, *y as f64]).collect();
            let volume = hypervolume_2d(&points, [0.0, 0.0]);
            let mut rotated = points.clone();
            rotated.rotate_left(shift % points.len());
            prop_assert_eq!(hypervolume_2d(&rotated, [0.0, 0.0]), volume);
            // Halving a point keeps it dominated by the original.
            rotated.push([points[0][0] / 2.0, points[0][1] / 2.0]);
            prop_assert_eq!(hypervolume_2d(&rotated, [0.0, 0.0]), volume);
            // Bounded by the box of the coordinate-wise best point, and at least every rectangle.
            let best = points.iter().fold([0.0f64; 2], |b, p| [b[0].max(p[0]), b[1].max(p[1])]);
            prop_assert!(volume <= best[0] * best[1]);
            prop_assert!(points.iter().all(|p| volume >= p[0] * p[1]));
        }
    }

    proptest! {
        // Whole runs: a few cases keep the test set fast.
        #![proptest_config(ProptestConfig::with_cases(12))]

        #[test]
        fn runs_keep_their_invariants(
            cardinalities in prop::collection::vec(1usize..6, 1..6),
            weights in prop::collection::vec(-3i8..4, 6),
            seed in any::<u64>(),
        ) {
            let config = Nsga2Config { population: 12, generations: 10, seed, ..Nsga2Config::default() };
            let fitness = |g: &[usize]| {
                let total = |w: &[i8]| g.iter().zip(w).map(|(x, w)| (*x as f64) * *w as f64).sum::<f64>();
                Evaluation {
                    objectives: vec![total(&weights[..3]), total(&weights[3..]), -total(&weights[..3])],
                    violation: if g[0] == 1 { 0.5 } else { 0.0 },
                }
            };
            let mut p = problem(&cardinalities, fitness);
            let result = run(&config, &mut p).unwrap();
            prop_assert_eq!(result.generations.len(), 11);
            prop_assert!(p.batches.len() <= 11);
            for population in &result.generations {
                prop_assert!(!population.is_empty() && population.len() <= 12);
                let distinct: BTreeSet<&Genome> = population.iter().map(|i| &i.genome).collect();
                prop_assert_eq!(distinct.len(), population.len());
                for member in population {
                    prop_assert!(member.genome.iter().zip(&cardinalities).all(|(x, n)| x < n));
                    prop_assert_eq!(&fitness(&member.genome).objectives, &member.objectives);
                }
            }
            let last = result.generations.last().unwrap();
            prop_assert!(!result.front.is_empty());
            for member in &result.front {
                prop_assert!(!dominates_somewhere(last, member));
            }
            prop_assert_eq!(result.front.len(), last.iter().filter(|i| i.rank == 0).count());
        }
    }
}

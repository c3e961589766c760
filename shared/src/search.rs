//! Arch search: NSGA-II over a space's genomes, maximising predicted accuracy and robustness
//! (and, optionally, minimising MACs) under a MACs budget — the ProARD search step.
//!
//! Scores come through [`ArchScorer`], one batch per generation: the predictor in production,
//! an analytic function in tests. Feasibility is constraint-domination on the analytic MACs:
//! a member over budget violates by the excess in MMACs. A budget below the space's smallest arch
//! is an error, not a front of archs that do not fit. Genomes that differ only in blocks a depth
//! leaves out are one arch: the front holds each active arch (encoding) once.
//!
//! What a search learns outlives it in a [`ScoreCache`]: each active arch met, with its MACs and
//! scores. A re-search of the same predictor (the studio's budget slider) scores only archs not
//! met before, and starts from the best of everything met ([`ScoreCache::seeds`]).

use serde::{Deserialize, Serialize};

use rustc_hash::{FxHashMap, FxHashSet};

use crate::arch::Arch;
use crate::genome::Genome;
use crate::nsga2::{Evaluation, Nsga2, Nsga2Config, Nsga2Error, hypervolume_2d};
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
    /// Stop before `generations` once the front's hypervolume has not grown by more than
    /// [`PATIENCE_TOLERANCE`] (relative) for this many generations; `None` runs them all.
    pub patience: Option<usize>,
}

/// The relative hypervolume gain below which a generation counts as no progress (see
/// [`SearchConfig::patience`]).
pub const PATIENCE_TOLERANCE: f64 = 1e-4;

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
    /// Generations run, the initial population included.
    pub generations: usize,
}

fn macs_of(space: &Space, arch: &Arch) -> u64 {
    space.subnet(arch).expect("decoded genomes are valid archs").cost().macs
}

/// What is known of an active arch once it is scored: its MACs (analytic) and its predicted
/// (accuracy, robustness).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Scored {
    pub macs: u64,
    pub scores: [f64; 2],
}

/// One generation of a [`Search`], as it is told ([`Search::front`] gives its front).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Generation {
    /// 0 for the initial population.
    pub index: usize,
    /// Area the front's members within budget dominate in (accuracy, robustness), from (0, 0)
    /// (with MACs as a third objective, of the front's projection on those two).
    pub hypervolume: f64,
}

/// The search one generation at a time (the [`Nsga2`] ask/tell loop in arch terms), for scorers
/// that answer later — the predictor on WebGPU reads its results back asynchronously — and for
/// callers that show every generation. [`search`] is a loop over it.
pub struct Search {
    space: Space,
    config: SearchConfig,
    nsga2: Nsga2,
    /// The archs of the genomes asked for.
    asked: Option<Vec<Arch>>,
    /// The best hypervolume so far and the generation that last raised it by the tolerance.
    best: (f64, usize),
    converged: bool,
}

impl Search {
    /// Checks the budget and the settings; `warm_start` seeds the initial population (see
    /// [`Nsga2::warm_started`] and [`ScoreCache::seeds`]).
    pub fn new(
        space: &Space,
        config: &SearchConfig,
        warm_start: Vec<Genome>,
    ) -> Result<Search, SearchError> {
        let smallest = macs_of(space, &space.smallest_arch());
        if let Some(budget) = config.max_macs
            && budget < smallest
        {
            return Err(SearchError::BudgetBelowSmallest {
                budget_mmacs: budget as f64 / 1e6,
                smallest_mmacs: smallest as f64 / 1e6,
            });
        }
        let nsga2 = Nsga2::warm_started(&config.nsga2, space.genome_cardinalities(), warm_start)?;
        let mut search = Search {
            space: space.clone(),
            config: config.clone(),
            nsga2,
            asked: None,
            best: (0.0, 0),
            converged: false,
        };
        search.decode_asked();
        Ok(search)
    }

    fn decode_asked(&mut self) {
        let space = &self.space;
        self.asked =
            self.nsga2.ask().map(|genomes| genomes.iter().map(|g| space.decode(g)).collect());
    }

    /// The archs to score next (distinct genomes; empty once a small space is exhausted), or
    /// `None` when the search is over.
    pub fn ask(&self) -> Option<&[Arch]> {
        self.asked.as_deref()
    }

    /// The archs last asked for, scored (in order): what [`ScoreCache::complete`] answers.
    pub fn tell(&mut self, scored: Vec<Scored>) -> Result<Generation, SearchError> {
        let archs = self.asked.take().unwrap_or_default();
        if scored.len() != archs.len() {
            return Err(
                Nsga2Error::EvaluationCount { expected: archs.len(), got: scored.len() }.into()
            );
        }
        let evaluations = scored.iter().map(|s| evaluation(&self.config, s)).collect();
        let population = self.nsga2.tell(evaluations)?;
        // The front's members within budget (no violation); duplicates add no area.
        let within: Vec<[f64; 2]> = population
            .iter()
            .filter(|i| i.rank == 0 && i.violation == 0.0)
            .map(|i| [i.objectives[0], i.objectives[1]])
            .collect();
        self.decode_asked();
        let index = self.nsga2.generation() - 1;
        let hypervolume = hypervolume_2d(&within, [0.0, 0.0]);
        if hypervolume > self.best.0 * (1.0 + PATIENCE_TOLERANCE) {
            self.best = (hypervolume, index);
        }
        if let Some(patience) = self.config.patience
            && index - self.best.1 >= patience
            && self.asked.is_some()
        {
            self.converged = true;
            self.asked = None;
        }
        Ok(Generation { index, hypervolume })
    }

    /// Whether the search stopped early, its front no longer improving (see
    /// [`SearchConfig::patience`]).
    pub fn converged(&self) -> bool {
        self.converged
    }

    /// The current population's front, each active arch once (within budget whenever anything
    /// found is), sorted by predicted accuracy.
    pub fn front(&self) -> Vec<Candidate> {
        let front = self
            .nsga2
            .front()
            .into_iter()
            .map(|individual| {
                let arch = self.space.decode(&individual.genome);
                Candidate {
                    macs: self.space.subnet_of_valid(&arch).cost().macs,
                    arch,
                    pred_acc: individual.objectives[0],
                    pred_rob: individual.objectives[1],
                }
            })
            .collect();
        distinct_archs(&self.space, front)
    }

    /// The final front.
    pub fn finish(self) -> SearchResult {
        SearchResult { front: self.front(), generations: self.nsga2.generation() }
    }
}

/// A scored arch as NSGA-II sees it under `config`: the objectives, and the excess over the
/// budget (in MMACs) as the violation.
fn evaluation(config: &SearchConfig, scored: &Scored) -> Evaluation {
    let [acc, rob] = scored.scores;
    let mut objectives = vec![acc, rob];
    if config.macs_objective {
        objectives.push(-(scored.macs as f64) / 1e6);
    }
    let excess = config.max_macs.map_or(0, |budget| scored.macs.saturating_sub(budget));
    Evaluation { objectives, violation: excess as f64 / 1e6 }
}

/// Every active arch searches have scored, keyed by encoding: a search asks again for archs it
/// met in earlier generations, and a re-search after a budget change for many of the last one's.
/// MACs are counted here, once per active arch. Bounded: [`ScoreCache::trim`] keeps it within
/// its limit between searches.
#[derive(Debug)]
pub struct ScoreCache {
    known: FxHashMap<Key, Known>,
    limit: usize,
}

/// The most active archs a [`ScoreCache`] holds by default: about five searches from scratch
/// (100 × 100 scores ≈ 10 000 archs), ≈ 25 MB. Picking seeds grows with the cache (natively, for
/// random archs: 14 ms at 30 000, 73 ms at 100 000 with two objectives; 34 and 180 ms with three).
pub const CACHE_LIMIT: usize = 50_000;

impl Default for ScoreCache {
    fn default() -> ScoreCache {
        ScoreCache::with_limit(CACHE_LIMIT)
    }
}

/// A cached arch: the first arch met of its encoding, scored.
#[derive(Debug)]
struct Known {
    arch: Arch,
    scored: Scored,
}

/// An active arch: its encoding's bits ([`Space::encode_bits`]).
type Key = Box<[u64]>;

fn key(space: &Space, arch: &Arch) -> Key {
    space.encode_bits(arch).expect("archs of the space encode").into_boxed_slice()
}

/// A batch of archs looked up in a [`ScoreCache`]: which of them still need a score.
#[derive(Debug)]
pub struct Lookup {
    keys: Vec<Key>,
    missing_keys: Vec<Key>,
    /// The MACs of the missing archs.
    missing_macs: Vec<u64>,
    /// The archs not cached, each active arch once, in order.
    pub missing: Vec<Arch>,
}

impl ScoreCache {
    /// An empty cache that [`ScoreCache::trim`] keeps within `limit` archs.
    pub fn with_limit(limit: usize) -> ScoreCache {
        ScoreCache { known: FxHashMap::default(), limit }
    }

    /// Once the cache holds more than its limit, drops all but a third to a half of it, keeping
    /// what a warm start under any budget picks from: every arch on the accuracy–robustness
    /// front of the archs within its own MACs (so every budget's front stays whole), and the
    /// first fronts of each pair of accuracy, robustness and fewest MACs, a sixth of the limit
    /// each.
    /// Between searches: a search's lookups and completions must see the same cache. Returns
    /// how many archs it dropped.
    pub fn trim(&mut self) -> usize {
        if self.known.len() <= self.limit {
            return 0;
        }
        let before = self.known.len();
        let known: Vec<(Key, Known)> = self.known.drain().collect();
        let scored: Vec<Scored> = known.iter().map(|(_, k)| k.scored).collect();
        let unbounded = SearchConfig { macs_objective: true, ..SearchConfig::default() };
        let evaluations: Vec<Evaluation> =
            scored.iter().map(|s| evaluation(&unbounded, s)).collect();
        let paired = crate::nsga2::first_fronts_of_each_pair(&evaluations, self.limit / 6);
        let budgets = on_a_budget_front(&scored);
        self.known = known
            .into_iter()
            .zip(paired.into_iter().zip(budgets))
            .filter(|(_, (paired, budget))| *paired || *budget)
            .map(|(entry, _)| entry)
            .collect();
        before - self.known.len()
    }

    /// Looks `archs` (archs of `space`) up: each is encoded, and each new active arch counted.
    pub fn lookup(&self, space: &Space, archs: &[Arch]) -> Lookup {
        let keys: Vec<Key> = archs.iter().map(|a| key(space, a)).collect();
        let mut seen = FxHashSet::default();
        let (missing_keys, missing): (Vec<Key>, Vec<Arch>) = archs
            .iter()
            .zip(&keys)
            .filter(|(_, k)| !self.known.contains_key(*k) && seen.insert(*k))
            .map(|(a, k)| (k.clone(), a.clone()))
            .unzip();
        let missing_macs = missing.iter().map(|a| space.subnet_of_valid(a).cost().macs).collect();
        Lookup { keys, missing_keys, missing_macs, missing }
    }

    /// Records the scores of the lookup's missing archs (in order) and returns every arch looked
    /// up, scored; `None` if `scores` does not answer every missing arch.
    pub fn complete(&mut self, lookup: Lookup, scores: &[[f64; 2]]) -> Option<Vec<Scored>> {
        if scores.len() != lookup.missing_keys.len() {
            return None;
        }
        let fresh = lookup.missing_keys.into_iter().zip(lookup.missing).zip(lookup.missing_macs);
        for (((key, arch), macs), scores) in fresh.zip(scores.iter().copied()) {
            self.known.insert(key, Known { arch, scored: Scored { macs, scores } });
        }
        lookup.keys.iter().map(|k| self.known.get(k).map(|known| known.scored)).collect()
    }

    /// How many active archs are cached.
    pub fn len(&self) -> usize {
        self.known.len()
    }

    pub fn is_empty(&self) -> bool {
        self.known.is_empty()
    }

    /// The warm start of a re-search under `config` (a new budget, say): the genomes of the
    /// `config.nsga2.population` best cached archs by NSGA-II's survival under that config —
    /// rank under constraint domination, then crowding distance (equal distances broken by a
    /// stream seeded with `config.nsga2.seed`). The last search's population is among the
    /// candidates, but so is every arch any search scored: after a budget cut most of the last
    /// population is over budget, while the cache holds the archs under it that earlier
    /// generations met. Empty when nothing is cached.
    pub fn seeds(&self, space: &Space, config: &SearchConfig) -> Vec<Genome> {
        // In encoding order: the map's order differs between 32- and 64-bit builds.
        let mut known: Vec<(&Key, &Known)> = self.known.iter().collect();
        known.sort_unstable_by(|a, b| a.0.cmp(b.0));
        let evaluations = known.iter().map(|(_, k)| evaluation(config, &k.scored)).collect();
        crate::nsga2::best(evaluations, config.nsga2.population, config.nsga2.seed)
            .into_iter()
            .map(|i| space.genome(&known[i].1.arch).expect("cached archs are of the space"))
            .collect()
    }

    /// The scores of `archs`, scoring the missing ones with `scorer` in one batch.
    pub fn score<S: ArchScorer + ?Sized>(
        &mut self,
        space: &Space,
        archs: &[Arch],
        scorer: &mut S,
    ) -> Vec<Scored> {
        let lookup = self.lookup(space, archs);
        let scores =
            if lookup.missing.is_empty() { Vec::new() } else { scorer.score(&lookup.missing) };
        self.complete(lookup, &scores).expect("the scorer answers every arch")
    }
}

/// Which archs no arch of at most their MACs dominates in (accuracy, robustness): those on the
/// front of some budget. One sweep in order of MACs over the front so far; an arch with the same scores as one before it
/// counts as dominated, since either serves.
fn on_a_budget_front(scored: &[Scored]) -> Vec<bool> {
    let mut order: Vec<usize> = (0..scored.len()).collect();
    // Fewest MACs first, and among equal MACs the better scores first, so that whatever
    // dominates an arch comes before it.
    order.sort_by(|&a, &b| {
        let (a, b) = (&scored[a], &scored[b]);
        (a.macs.cmp(&b.macs))
            .then(b.scores[0].total_cmp(&a.scores[0]))
            .then(b.scores[1].total_cmp(&a.scores[1]))
    });
    // The front so far as (accuracy, robustness), accuracy rising and so robustness falling.
    let mut stairs: Vec<[f64; 2]> = Vec::new();
    let mut on_front = vec![false; scored.len()];
    for i in order {
        let [acc, rob] = scored[i].scores;
        // The first stair at or above this accuracy is the most robust of those.
        let above = stairs.partition_point(|s| s[0] < acc);
        if stairs.get(above).is_some_and(|s| s[1] >= rob) {
            continue;
        }
        on_front[i] = true;
        // The stairs it dominates: those just below it that are no more robust, and one of the
        // same accuracy.
        let from = stairs[..above].partition_point(|s| s[1] > rob);
        let to = above + usize::from(stairs.get(above).is_some_and(|s| s[0] == acc));
        stairs.splice(from..to, [[acc, rob]]);
    }
    on_front
}

/// Runs the search over `space`: the [`Search`] loop, scoring each generation's archs not met
/// before in one batch.
pub fn search<S: ArchScorer + ?Sized>(
    space: &Space,
    scorer: &mut S,
    config: &SearchConfig,
) -> Result<SearchResult, SearchError> {
    let mut search = Search::new(space, config, Vec::new())?;
    let mut cache = ScoreCache::default();
    while let Some(archs) = search.ask() {
        let scores = cache.score(space, archs, scorer);
        search.tell(scores)?;
    }
    Ok(search.finish())
}

/// The first candidate of each active arch (encoding), in order.
fn distinct_archs(space: &Space, candidates: Vec<Candidate>) -> Vec<Candidate> {
    let mut seen = FxHashSet::default();
    candidates.into_iter().filter(|c| seen.insert(key(space, &c.arch))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::genome::seeded_rng;
    use crate::preset::preset;
    use rand::RngExt;

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
            patience: None,
        }
    }

    #[test]
    fn the_front_respects_the_budget_and_is_reproducible() {
        let space = preset("mbv3-mini").unwrap();
        let mut scorer = Analytic(&space, 0);
        let result = search(&space, &mut scorer, &config(8, 3)).unwrap();
        assert_eq!(result.generations, 16);
        assert!((1..=16).contains(&scorer.1), "at most one scoring batch per generation");
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

    /// Scores like [`Analytic`] and records every arch it was asked for.
    struct Recording<'a>(Analytic<'a>, Vec<Arch>);

    impl ArchScorer for Recording<'_> {
        fn score(&mut self, archs: &[Arch]) -> Vec<[f64; 2]> {
            self.1.extend(archs.iter().cloned());
            self.0.score(archs)
        }
    }

    #[test]
    fn generation_by_generation_is_the_whole_search_and_scores_each_arch_once() {
        let space = preset("mbv3-mini").unwrap();
        let config = config(8, 5);
        let whole = search(&space, &mut Analytic(&space, 0), &config).unwrap();

        // Scores answered later, through a future, one generation at a time.
        let mut stepwise = Search::new(&space, &config, Vec::new()).unwrap();
        let mut scorer = Recording(Analytic(&space, 0), Vec::new());
        let mut cache = ScoreCache::default();
        let (mut generations, mut fronts) = (Vec::new(), Vec::new());
        while let Some(archs) = stepwise.ask() {
            let lookup = cache.lookup(&space, archs);
            let scores = std::future::ready(scorer.score(&lookup.missing));
            let scores = ready_now(scores);
            generations.push(stepwise.tell(cache.complete(lookup, &scores).unwrap()).unwrap());
            fronts.push(stepwise.front());
        }
        let last = *generations.last().unwrap();
        let result = stepwise.finish();
        assert_eq!(result, whole);
        assert_eq!(generations.len(), 16);
        assert_eq!(fronts.last().unwrap(), &whole.front);
        for (i, (generation, front)) in generations.iter().zip(&fronts).enumerate() {
            assert_eq!(generation.index, i);
            // The hypervolume is the front's, its members within budget.
            let points: Vec<[f64; 2]> = front
                .iter()
                .filter(|c| c.macs <= 8_000_000)
                .map(|c| [c.pred_acc, c.pred_rob])
                .collect();
            assert!((generation.hypervolume - hypervolume_2d(&points, [0.0, 0.0])).abs() < 1e-12);
        }
        // The search improves on its random start (crowding may trim a front, so not every
        // generation needs to).
        assert!(last.hypervolume > generations[0].hypervolume, "{generations:?}");
        // No active arch was scored twice.
        let keys: FxHashSet<Key> = scorer.1.iter().map(|a| key(&space, a)).collect();
        assert_eq!(keys.len(), scorer.1.len());
        assert_eq!(cache.len(), keys.len());
    }

    /// Polls a future that is ready at once (the scorer above answers immediately).
    fn ready_now<F: std::future::Future>(future: F) -> F::Output {
        let waker = std::task::Waker::noop();
        let mut context = std::task::Context::from_waker(waker);
        let mut future = std::pin::pin!(future);
        match future.as_mut().poll(&mut context) {
            std::task::Poll::Ready(value) => value,
            std::task::Poll::Pending => unreachable!("the scores are ready"),
        }
    }

    #[test]
    fn a_warm_start_begins_from_the_best_archs_met() {
        let space = preset("mbv3-mini").unwrap();
        let mut first = Search::new(&space, &config(8, 2), Vec::new()).unwrap();
        let mut cache = ScoreCache::default();
        let mut scorer = Recording(Analytic(&space, 0), Vec::new());
        while let Some(archs) = first.ask() {
            let archs = archs.to_vec();
            let scores = cache.score(&space, &archs, &mut scorer);
            first.tell(scores).unwrap();
        }

        // A tighter budget: the seeds are 30 scored archs, the whole front of the cached archs
        // within the new budget among them.
        let tighter = config(6, 2);
        let seeds = cache.seeds(&space, &tighter);
        assert_eq!(seeds.len(), 30);
        let seeded: Vec<Arch> = seeds.iter().map(|g| space.decode(g)).collect();
        assert!(cache.lookup(&space, &seeded).missing.is_empty(), "every seed is scored");
        let within: Vec<&Known> =
            cache.known.values().filter(|k| k.scored.macs <= 6_000_000).collect();
        assert!(within.len() > 30, "{} cached archs within budget", within.len());
        let dominated = |k: &Known| {
            within.iter().any(|o| {
                let (a, b) = (o.scored.scores, k.scored.scores);
                a[0] >= b[0] && a[1] >= b[1] && a != b
            })
        };
        let front: FxHashSet<Key> =
            within.iter().filter(|k| !dominated(k)).map(|k| key(&space, &k.arch)).collect();
        let seed_keys: FxHashSet<Key> = seeded.iter().map(|a| key(&space, a)).collect();
        assert!(front.len() <= 30 && front.is_subset(&seed_keys), "{front:?}");
        assert!(seeded.iter().all(|a| macs_of(&space, a) <= 6_000_000));

        // The seeds do not depend on the order archs were cached in.
        let mut reversed = ScoreCache::default();
        let met: Vec<Arch> = scorer.1.iter().rev().cloned().collect();
        reversed.score(&space, &met, &mut Analytic(&space, 0));
        assert_eq!(reversed.seeds(&space, &tighter), seeds);

        // The search asks for the seeds first.
        let warm = Search::new(&space, &tighter, seeds.clone()).unwrap();
        assert_eq!(warm.ask().unwrap(), seeded.as_slice());
        // Invalid and repeated seeds are dropped and the rest is drawn at random.
        let mut partial_seeds = vec![seeds[0].clone(), seeds[0].clone(), vec![99; 3]];
        partial_seeds.push(seeds[1].clone());
        let partial = Search::new(&space, &tighter, partial_seeds).unwrap();
        let asked = partial.ask().unwrap();
        assert_eq!(asked.len(), 30);
        assert_eq!(asked[..2], seeded[..2]);
        // No seeds: the cold start, exactly.
        assert!(ScoreCache::default().seeds(&space, &tighter).is_empty());
        let cold = Search::new(&space, &tighter, Vec::new()).unwrap();
        let plain = crate::nsga2::Nsga2::new(&tighter.nsga2, space.genome_cardinalities());
        let plain: Vec<Arch> =
            plain.unwrap().ask().unwrap().iter().map(|g| space.decode(g)).collect();
        assert_eq!(cold.ask().unwrap(), plain.as_slice());
    }

    /// Scores like [`Analytic`], accuracy plus up to 0.05 of noise.
    struct Noisy<'a>(Analytic<'a>, crate::genome::SeededRng);

    impl ArchScorer for Noisy<'_> {
        fn score(&mut self, archs: &[Arch]) -> Vec<[f64; 2]> {
            let scores = self.0.score(archs);
            scores.into_iter().map(|[a, r]| [a + self.1.random::<f64>() / 20.0, r]).collect()
        }
    }

    /// The archs within `budget` that none within it dominates, as score bits (archs with the
    /// same scores are one point).
    fn budget_front(scored: &[Scored], budget: u64) -> FxHashSet<[u64; 2]> {
        let within: Vec<&Scored> = scored.iter().filter(|s| s.macs <= budget).collect();
        let dominated = |a: &Scored| {
            within.iter().any(|b| {
                let ([x, y], [u, v]) = (a.scores, b.scores);
                u >= x && v >= y && (u > x || v > y)
            })
        };
        let front = within.iter().filter(|a| !dominated(a));
        front.map(|a| a.scores.map(f64::to_bits)).collect()
    }

    #[test]
    fn a_trimmed_cache_keeps_every_budget_s_front() {
        let space = preset("mbv3-mini").unwrap();
        // Noisy scores, so that fronts hold many archs and do not line up with MACs.
        let mut noisy = Noisy(Analytic(&space, 0), seeded_rng(5));
        let mut rng = seeded_rng(3);
        let archs: Vec<Arch> = (0..4000).map(|_| space.sample_arch(&mut rng)).collect();
        let mut cache = ScoreCache::with_limit(1200);
        cache.score(&space, &archs[..1000], &mut noisy);
        assert_eq!(cache.trim(), 0, "within its limit, nothing goes");
        cache.score(&space, &archs, &mut noisy);
        let before: Vec<Scored> = cache.known.values().map(|k| k.scored).collect();
        assert!(before.len() > 3000, "{}", before.len());

        let dropped = cache.trim();
        let after: Vec<Scored> = cache.known.values().map(|k| k.scored).collect();
        assert_eq!(after.len(), before.len() - dropped);
        assert!(after.len() <= 1200 / 2 + 100, "about half the limit is kept: {}", after.len());
        let macs: std::collections::BTreeSet<u64> = before.iter().map(|s| s.macs).collect();
        for &budget in macs.iter().step_by(macs.len() / 40) {
            assert_eq!(budget_front(&after, budget), budget_front(&before, budget), "{budget}");
        }
        // The cheapest archs are kept for warm starts under tight budgets.
        let smallest = *macs.first().unwrap();
        assert!(after.iter().any(|s| s.macs == smallest));
    }

    proptest::proptest! {
        #[test]
        fn the_budget_fronts_are_the_archs_nothing_cheaper_dominates(
            points in proptest::collection::vec((0u64..6, 0u8..6, 0u8..6), 1..60)
        ) {
            let scored: Vec<Scored> = points
                .iter()
                .map(|&(macs, a, r)| Scored { macs, scores: [a as f64, r as f64] })
                .collect();
            let marked = on_a_budget_front(&scored);
            // Each point no other of at most its MACs dominates is marked, once.
            let dominated = |a: &Scored| {
                scored.iter().any(|b| {
                    let ([x, y], [u, v]) = (a.scores, b.scores);
                    b.macs <= a.macs && u >= x && v >= y && (b.macs < a.macs || u > x || v > y)
                })
            };
            let mut expected: Vec<(u64, [u64; 2])> = scored
                .iter()
                .filter(|s| !dominated(s))
                .map(|s| (s.macs, s.scores.map(f64::to_bits)))
                .collect();
            expected.sort();
            expected.dedup();
            let mut got: Vec<(u64, [u64; 2])> = scored
                .iter()
                .zip(&marked)
                .filter(|(_, m)| **m)
                .map(|(s, _)| (s.macs, s.scores.map(f64::to_bits)))
                .collect();
            got.sort();
            proptest::prop_assert_eq!(got, expected);
        }
    }

    #[test]
    fn patience_stops_a_search_whose_front_no_longer_improves() {
        let space = preset("mbv3-mini").unwrap();
        let long = SearchConfig {
            nsga2: Nsga2Config { population: 30, generations: 200, seed: 4, ..Default::default() },
            ..config(8, 4)
        };
        let run = |config: &SearchConfig| {
            let mut search = Search::new(&space, config, Vec::new()).unwrap();
            let mut cache = ScoreCache::default();
            let mut scorer = Analytic(&space, 0);
            let mut hypervolumes = Vec::new();
            while let Some(archs) = search.ask() {
                let archs = archs.to_vec();
                let scores = cache.score(&space, &archs, &mut scorer);
                hypervolumes.push(search.tell(scores).unwrap().hypervolume);
            }
            (search.converged(), hypervolumes)
        };
        let (converged, all) = run(&long);
        assert!(!converged);
        assert_eq!(all.len(), 201);
        let (converged, stopped) = run(&SearchConfig { patience: Some(10), ..long.clone() });
        assert!(converged);
        assert!(stopped.len() < 201, "the analytic front settles well before 200 generations");
        // The same run up to where it stopped, and the last 10 generations gained nothing.
        assert_eq!(stopped, all[..stopped.len()]);
        let n = stopped.len();
        let before = stopped[n - 11];
        assert!(stopped[n - 10..].iter().all(|h| *h <= before * (1.0 + PATIENCE_TOLERANCE)));
        assert!(stopped[..n - 10].iter().any(|h| *h > stopped[0]), "it did improve first");
    }

    #[test]
    fn a_wrong_number_of_scores_is_refused() {
        let space = preset("mbv3-mini").unwrap();
        let mut search = Search::new(&space, &config(8, 1), Vec::new()).unwrap();
        let error = search.tell(vec![Scored { macs: 1, scores: [0.5, 0.5] }]).unwrap_err();
        assert_eq!(error, SearchError::Nsga2(Nsga2Error::EvaluationCount { expected: 30, got: 1 }));
    }
}

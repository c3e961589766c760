//! APGD (Croce & Hein 2020) as fra31/auto-attack runs it (docs/attacks.md, "APGD"): momentum
//! sign steps with a per-example step size that starts at 2ε and is halved — with a restart from
//! the best point so far — at fixed checkpoints when the loss oscillates or stalls.
//!
//! APGD-CE and APGD-DLR ascend one untargeted loss; APGD-T runs the targeted DLR loss once per
//! target rank (the 2nd … (k+1)-th largest clean logit), each only counting for examples that
//! earlier runs did not fool.

use burn::prelude::*;
use burn::tensor::Distribution;
use proard_shared::Subnet;
use serde::{Deserialize, Serialize};

use super::loss::{cross_entropy_per_example, dlr_per_example, targeted_dlr_per_example};
use super::{Ball, choose, fooled, logits, loss_and_gradient};
use crate::model::Network;
use crate::noise;

/// The loss APGD ascends.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum ApgdLoss {
    /// APGD-CE.
    CrossEntropy,
    /// APGD-DLR.
    Dlr,
    /// APGD-T: targeted DLR towards each of the `target_classes` most likely wrong classes.
    TargetedDlr { target_classes: usize },
}

/// APGD's parameters; the default is APGD-CE as AutoAttack "standard" runs it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ApgdConfig {
    pub epsilon: f64,
    /// Iterations N per run.
    pub iterations: usize,
    /// Runs from fresh random starts (per target for APGD-T), at least 1.
    pub restarts: usize,
    /// A checkpoint halves the step when at most ρ·k of the last k steps raised the loss.
    pub rho: f64,
    pub loss: ApgdLoss,
}

impl Default for ApgdConfig {
    fn default() -> Self {
        ApgdConfig {
            epsilon: 8.0 / 255.0,
            iterations: 100,
            restarts: 1,
            rho: 0.75,
            loss: ApgdLoss::CrossEntropy,
        }
    }
}

impl ApgdConfig {
    /// APGD-T as AutoAttack "standard" runs it: 9 targets, 100 iterations, 1 run each.
    pub fn targeted() -> ApgdConfig {
        ApgdConfig { loss: ApgdLoss::TargetedDlr { target_classes: 9 }, ..ApgdConfig::default() }
    }
}

/// Momentum weight of every step after the first.
const MOMENTUM: f64 = 0.75;

/// The checkpoints of an `iterations`-long run: (0-based iteration after which to check, window
/// k of steps the check looks back over). The window starts at 22 % of N and shrinks by 3 % of N
/// per check down to 6 % (each at least 1): 21, 40, 56, 69, 79, 86, 92, 98 for N = 100.
pub fn checkpoints(iterations: usize) -> Vec<(usize, usize)> {
    let fraction = |percent: usize| (percent * iterations / 100).max(1);
    let (shrink, smallest) = (fraction(3), fraction(6));
    let mut window = fraction(22);
    let mut since_last = 0;
    let mut result = Vec::new();
    for iteration in 0..iterations {
        since_last += 1;
        if since_last == window {
            result.push((iteration, window));
            since_last = 0;
            window = window.saturating_sub(shrink).max(smallest);
        }
    }
    result
}

/// APGD adversarial examples for `x` [N, C, H, W] (plain, in [0, 1]) against `subnet`: the
/// latest fooling point found for each fooled example, for the others the last run's
/// highest-loss point. Random starts draw from the noise stream ([`crate::noise`]).
pub fn apgd(
    network: &Network,
    subnet: &Subnet,
    x: Tensor<4>,
    labels: Tensor<1, Int>,
    config: &ApgdConfig,
) -> Tensor<4> {
    let frozen = network.valid();
    let x = x.detach();
    let ball = Ball::new(&x, config.epsilon);
    let runs: Vec<Box<dyn Fn(Tensor<2>) -> Tensor<1>>> = match &config.loss {
        ApgdLoss::CrossEntropy => {
            let labels = labels.clone();
            vec![Box::new(move |z| cross_entropy_per_example(z, labels.clone()))]
        }
        ApgdLoss::Dlr => {
            let labels = labels.clone();
            vec![Box::new(move |z| dlr_per_example(z, labels.clone()))]
        }
        ApgdLoss::TargetedDlr { target_classes } => {
            let n = labels.dims()[0];
            // Clean logits do not move, so the ranking is taken once.
            let (_, order) = logits(&frozen, subnet, x.clone()).sort_descending_with_indices(1);
            (1..=*target_classes)
                .map(|rank| {
                    let (labels, targets) =
                        (labels.clone(), order.clone().slice_dim(1, rank..rank + 1).reshape([n]));
                    Box::new(move |z| targeted_dlr_per_example(z, labels.clone(), targets.clone()))
                        as Box<dyn Fn(Tensor<2>) -> Tensor<1>>
                })
                .collect()
        }
    };
    let mut best: Option<Run> = None;
    for loss in &runs {
        for _ in 0..config.restarts.max(1) {
            let run = one_run(&frozen, subnet, &x, &labels, &ball, config, loss);
            best = Some(match best {
                None => run,
                Some(best) => best.merge(run),
            });
        }
    }
    let best = best.expect("at least one run");
    choose(best.fooled.equal_elem(1.0), best.fooling, best.highest_loss)
}

/// One run's per-example result.
struct Run {
    /// 0/1 per example.
    fooled: Tensor<1>,
    /// The latest iterate that fooled the model (meaningful where `fooled`).
    fooling: Tensor<4>,
    /// The highest-loss iterate, and its loss (comparable only between runs of one loss).
    highest_loss: Tensor<4>,
    loss: Tensor<1>,
}

impl Run {
    /// Examples fooled here keep their fooling point; the others take the later run's (its
    /// highest-loss point: APGD-T's runs ascend different targets, whose losses do not compare;
    /// an example no run fooled counts as robust whatever point it keeps).
    fn merge(self, later: Run) -> Run {
        let keep = self.fooled.clone().equal_elem(1.0);
        Run {
            fooling: choose(keep.clone(), self.fooling, later.fooling),
            highest_loss: choose(keep.clone(), self.highest_loss, later.highest_loss),
            loss: choose(keep, self.loss, later.loss),
            fooled: self.fooled.max_pair(later.fooled),
        }
    }
}

fn per_example_images(values: Tensor<1>, dims: [usize; 4]) -> Tensor<4> {
    values.reshape([dims[0], 1, 1, 1]).expand(dims)
}

fn one_run(
    frozen: &Network,
    subnet: &Subnet,
    x: &Tensor<4>,
    labels: &Tensor<1, Int>,
    ball: &Ball,
    config: &ApgdConfig,
    loss: &dyn Fn(Tensor<2>) -> Tensor<1>,
) -> Run {
    let dims = x.dims();
    let n = dims[0];
    let device = x.device();
    // A uniform direction scaled so that its largest coordinate is exactly ±ε.
    let direction = noise::random(dims, Distribution::Uniform(-1.0, 1.0), &device);
    let largest = direction.clone().abs().flatten::<2>(1, 3).max_dim(1).reshape([n]);
    let start = x.clone() + direction / per_example_images(largest, dims) * config.epsilon;
    let mut current = ball.project(start);

    let (start_logits, start_loss, mut gradient) =
        loss_and_gradient(frozen, subnet, &current, loss);
    let mut fooled_so_far = fooled(start_logits, labels.clone());
    let mut fooling = current.clone();
    let (mut best, mut best_loss, mut best_gradient) =
        (current.clone(), start_loss.clone(), gradient.clone());
    let mut previous = current.clone();
    let mut step = Tensor::<1>::full([n], 2.0 * config.epsilon, &device);

    let checks = checkpoints(config.iterations);
    let mut next_check = checks.iter().peekable();
    let mut loss_history: Vec<Tensor<1>> = Vec::with_capacity(config.iterations);
    // The reference starts with "reduced at the last check" set, so condition (2) cannot fire
    // at the first check.
    let mut reduced_at_last_check = Tensor::<1>::ones([n], &device);
    let mut best_loss_at_last_check = best_loss.clone();

    for iteration in 0..config.iterations {
        let momentum = if iteration == 0 { 1.0 } else { MOMENTUM };
        let signed_step = gradient.sign() * per_example_images(step.clone(), dims);
        let z = ball.project(current.clone() + signed_step);
        let next = ball.project(
            current.clone()
                + (z - current.clone()) * momentum
                + (current.clone() - previous) * (1.0 - momentum),
        );
        previous = current;
        current = next;

        let (step_logits, step_loss, step_gradient) =
            loss_and_gradient(frozen, subnet, &current, loss);
        gradient = step_gradient;
        let fooled_now = fooled(step_logits, labels.clone());
        fooling = choose(fooled_now.clone().equal_elem(1.0), current.clone(), fooling);
        fooled_so_far = fooled_so_far.max_pair(fooled_now);
        let improved = step_loss.clone().greater(best_loss.clone());
        best = choose(improved.clone(), current.clone(), best);
        best_gradient = choose(improved.clone(), gradient.clone(), best_gradient);
        best_loss = choose(improved, step_loss.clone(), best_loss);
        loss_history.push(step_loss);

        if let Some(&(_, window)) = next_check.next_if(|(at, _)| *at == iteration) {
            // (1) Oscillation: at most ρ·k of the last k steps raised the loss. Before the first
            // step the reference compares with a still-zero row, kept here for parity.
            let mut increases = Tensor::<1>::zeros([n], &device);
            for back in 0..window {
                let later = loss_history[iteration - back].clone();
                let earlier = match (iteration - back).checked_sub(1) {
                    Some(index) => loss_history[index].clone(),
                    None => Tensor::zeros([n], &device),
                };
                increases = increases + later.greater(earlier).float();
            }
            let oscillating = increases.lower_equal_elem(config.rho * window as f64);
            // (2) No reduction at the last check and no progress since.
            let stalled = reduced_at_last_check
                .equal_elem(0.0)
                .bool_and(best_loss_at_last_check.greater_equal(best_loss.clone()));
            let reduce = oscillating.bool_or(stalled);
            reduced_at_last_check = reduce.clone().float();
            best_loss_at_last_check = best_loss.clone();
            step = choose(reduce.clone(), step.clone() / 2.0, step);
            current = choose(reduce.clone(), best.clone(), current);
            gradient = choose(reduce, best_gradient.clone(), gradient);
        }
    }
    Run { fooled: fooled_so_far, fooling, highest_loss: best, loss: best_loss }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoints_follow_the_reference_schedule() {
        let (at, windows): (Vec<usize>, Vec<usize>) = checkpoints(100).into_iter().unzip();
        assert_eq!(at, [21, 40, 56, 69, 79, 86, 92, 98]);
        assert_eq!(windows, [22, 19, 16, 13, 10, 7, 6, 6]);
        // Small N: every fraction is at least 1.
        assert_eq!(checkpoints(10).first(), Some(&(1, 2)));
    }
}

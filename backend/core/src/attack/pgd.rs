//! PGD-k (docs/attacks.md): sign-gradient ascent on a per-example loss, projected onto the
//! ε-ball and [0, 1] after every step, with random restarts.
//!
//! A run returns its final iterate, as the reference evaluation and every paper's table do
//! ([`PgdIterate::Final`]). [`PgdIterate::AnyFooling`] instead keeps, per example, the first
//! iterate that fools the model (the random start included), as APGD does: it can only lower
//! robust accuracy, so it is named differently wherever it is shown. Across restarts an example
//! keeps a fooling result, otherwise the one with the highest loss.

use burn::prelude::*;
use burn::tensor::Distribution;
use burn::tensor::activation::softmax;
use proard_shared::Subnet;
use serde::{Deserialize, Serialize};

use super::loss::{cross_entropy_per_example, cw_margin_per_example, kl_to_target_per_example};
use super::{Ball, choose, fooled, logits, loss_and_gradient};
use crate::model::Network;
use crate::noise;

/// The loss PGD ascends.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum PgdLoss {
    /// CE(f(x'), y): SAT, PGD-20 evaluation.
    CrossEntropy,
    /// KL(q ‖ softmax(f(x'))) towards target probabilities q: given ones (a teacher's, RSLAD) or,
    /// without them, the attacked model's own clean output (TRADES).
    KlToTarget,
    /// CW∞: −max(z_y − max_{j≠y} z_j + κ, 0) with confidence κ.
    CwMargin { confidence: f64 },
}

/// Where PGD starts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum PgdStart {
    /// Madry: x + U(−ε, ε).
    Uniform,
    /// TRADES: x + std·N(0, 1) (std 0.001 in every reference).
    Gaussian { std: f64 },
    /// The clean image (CIARD's CW, DPGD).
    None,
}

/// Which iterate of a run an example keeps.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PgdIterate {
    /// The last iterate: the papers' protocol.
    #[default]
    Final,
    /// The first iterate that fooled the model, else the last: an example counts as broken if
    /// any iterate, the random start included, fooled it.
    AnyFooling,
}

/// PGD's parameters. The default is "PGD_SAT" (docs/attacks.md): CE, ε = 8/255, α = 2/255,
/// 20 steps, uniform start, one run, final iterate.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PgdConfig {
    pub epsilon: f64,
    pub step_size: f64,
    pub steps: usize,
    /// Independent runs from fresh random starts (at least 1).
    pub restarts: usize,
    pub loss: PgdLoss,
    pub start: PgdStart,
    pub iterate: PgdIterate,
}

impl Default for PgdConfig {
    fn default() -> Self {
        PgdConfig {
            epsilon: 8.0 / 255.0,
            step_size: 2.0 / 255.0,
            steps: 20,
            restarts: 1,
            loss: PgdLoss::CrossEntropy,
            start: PgdStart::Uniform,
            iterate: PgdIterate::Final,
        }
    }
}

impl PgdConfig {
    /// "PGD_TRADES" (docs/attacks.md, "PGD-k"): TRADES' evaluation defaults ε = 0.031,
    /// α = 0.003, 20 steps.
    pub fn trades_evaluation() -> PgdConfig {
        PgdConfig { epsilon: 0.031, step_size: 0.003, ..PgdConfig::default() }
    }

    /// How results of this attack are named: `PGD-20`, `CW∞-30`, with ` (any iterate)` for
    /// [`PgdIterate::AnyFooling`].
    pub fn label(&self) -> String {
        let name = match self.loss {
            PgdLoss::CrossEntropy => "PGD",
            PgdLoss::KlToTarget => "PGD-KL",
            PgdLoss::CwMargin { .. } => "CW∞",
        };
        proard_shared::display::attack_label(
            name,
            self.steps,
            self.iterate == PgdIterate::AnyFooling,
        )
    }

    /// CW∞ as IAD evaluates it: κ = 50, 30 steps of 2/255, uniform start.
    pub fn cw() -> PgdConfig {
        PgdConfig {
            steps: 30,
            loss: PgdLoss::CwMargin { confidence: 50.0 },
            ..PgdConfig::default()
        }
    }
}

/// Adversarial examples for `x` [N, C, H, W] (plain tensors in [0, 1]) against `subnet` of
/// `network`. A [`PgdLoss::KlToTarget`] loss targets the model's own clean probabilities.
pub fn pgd(
    network: &Network,
    subnet: &Subnet,
    x: Tensor<4>,
    labels: Tensor<1, Int>,
    config: &PgdConfig,
) -> Tensor<4> {
    run(network, subnet, x, labels, None, config)
}

/// As [`pgd`], with the target probabilities [N, K] of a [`PgdLoss::KlToTarget`] loss given
/// (for instance a teacher's); other losses ignore them.
pub fn pgd_with_target(
    network: &Network,
    subnet: &Subnet,
    x: Tensor<4>,
    labels: Tensor<1, Int>,
    target: Tensor<2>,
    config: &PgdConfig,
) -> Tensor<4> {
    run(network, subnet, x, labels, Some(target), config)
}

fn run(
    network: &Network,
    subnet: &Subnet,
    x: Tensor<4>,
    labels: Tensor<1, Int>,
    target: Option<Tensor<2>>,
    config: &PgdConfig,
) -> Tensor<4> {
    let frozen = network.valid();
    let x = x.detach();
    let target = match (&config.loss, target) {
        (PgdLoss::KlToTarget, None) => Some(softmax(logits(&frozen, subnet, x.clone()), 1)),
        (_, target) => target,
    };
    let loss = |logits: Tensor<2>| match &config.loss {
        PgdLoss::CrossEntropy => cross_entropy_per_example(logits, labels.clone()),
        PgdLoss::KlToTarget => {
            kl_to_target_per_example(logits, target.clone().expect("a KL loss always has a target"))
        }
        PgdLoss::CwMargin { confidence } => {
            cw_margin_per_example(logits, labels.clone(), *confidence)
        }
    };
    let ball = Ball::new(&x, config.epsilon);
    let mut best: Option<Outcome> = None;
    for _ in 0..config.restarts.max(1) {
        let outcome = one_run(&frozen, subnet, &x, &labels, &ball, config, &loss);
        best = Some(match best {
            None => outcome,
            Some(best) => best.merge(outcome),
        });
    }
    best.expect("at least one run").adversarial
}

/// One run's per-example result.
struct Outcome {
    adversarial: Tensor<4>,
    /// 0/1 per example.
    fooled: Tensor<1>,
    loss: Tensor<1>,
}

impl Outcome {
    /// Per example, the other outcome if it fools the model and this one does not, or if
    /// neither fools it and the other's loss is higher.
    fn merge(self, other: Outcome) -> Outcome {
        let fools_instead = other.fooled.clone().greater(self.fooled.clone());
        let neither = (other.fooled.clone() + self.fooled.clone()).equal_elem(0.0);
        let higher = other.loss.clone().greater(self.loss.clone());
        let take = fools_instead.bool_or(neither.bool_and(higher));
        Outcome {
            adversarial: choose(take.clone(), other.adversarial, self.adversarial),
            fooled: choose(take.clone(), other.fooled, self.fooled),
            loss: choose(take, other.loss, self.loss),
        }
    }
}

/// Where an ascent starts, before projection onto the ball.
pub(crate) fn starting_point(x: &Tensor<4>, start: &PgdStart, epsilon: f64) -> Tensor<4> {
    match start {
        // U(−1, 1)·ε rather than U(−ε, ε): defined at ε = 0, and runs that differ only in ε
        // scale the same draws.
        PgdStart::Uniform => {
            x.clone()
                + noise::random(x.dims(), Distribution::Uniform(-1.0, 1.0), &x.device()) * epsilon
        }
        PgdStart::Gaussian { std } => {
            x.clone() + noise::random(x.dims(), Distribution::Normal(0.0, *std), &x.device())
        }
        PgdStart::None => x.clone(),
    }
}

fn one_run(
    frozen: &Network,
    subnet: &Subnet,
    x: &Tensor<4>,
    labels: &Tensor<1, Int>,
    ball: &Ball,
    config: &PgdConfig,
    loss: &impl Fn(Tensor<2>) -> Tensor<1>,
) -> Outcome {
    let start = starting_point(x, &config.start, config.epsilon);
    // Projected at once (the TRADES reference does not clip its Gaussian start before the first
    // forward): every iterate that may be returned must lie in the ball.
    let mut adversarial = ball.project(start);
    let track = config.iterate == PgdIterate::AnyFooling;
    let mut outcome: Option<Outcome> = None;
    for _ in 0..config.steps {
        let (logits, per_example, gradient) = loss_and_gradient(frozen, subnet, &adversarial, loss);
        if track {
            outcome = Some(keep_first_fooling(outcome, &adversarial, logits, per_example, labels));
        }
        adversarial = ball.project(adversarial + gradient.sign() * config.step_size);
    }
    let logits = logits(frozen, subnet, adversarial.clone());
    let per_example = loss(logits.clone());
    keep_first_fooling(outcome, &adversarial, logits, per_example, labels)
}

/// The outcome after examining `adversarial`: examples not fooled before take it, fooled ones
/// keep their earlier iterate (with no earlier outcome, it is taken whole).
fn keep_first_fooling(
    previous: Option<Outcome>,
    adversarial: &Tensor<4>,
    logits: Tensor<2>,
    per_example: Tensor<1>,
    labels: &Tensor<1, Int>,
) -> Outcome {
    let fooled_now = fooled(logits, labels.clone());
    match previous {
        None => Outcome { adversarial: adversarial.clone(), fooled: fooled_now, loss: per_example },
        Some(previous) => {
            let open = previous.fooled.clone().equal_elem(0.0);
            Outcome {
                adversarial: choose(open.clone(), adversarial.clone(), previous.adversarial),
                fooled: previous.fooled.max_pair(fooled_now),
                loss: choose(open, per_example, previous.loss),
            }
        }
    }
}

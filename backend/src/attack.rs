//! Adversarial attacks (L∞, pixel space [0, 1]).
//!
//! Invariant: attacks compute input gradients only. They run a [`Network::valid`] copy — plain
//! tensors, which autodiff treats as constants — on an input re-attached to the autodiff graph
//! at every step, always with BatchNorm in `Eval` mode.

use burn::prelude::*;
use burn::tensor::Distribution;
use burn::tensor::activation::log_softmax;
use proard_shared::Subnet;
use serde::{Deserialize, Serialize};

use crate::model::{Network, Pass};

/// Mean cross-entropy of logits [N, K] against labels [N].
pub fn cross_entropy(logits: Tensor<2>, labels: Tensor<1, Int>) -> Tensor<1> {
    let n = labels.dims()[0];
    let picked = log_softmax(logits, 1).gather(1, labels.reshape([n, 1]));
    -picked.mean()
}

/// PGD-k with cross-entropy and a uniform random start (Madry et al.), the evaluation attack
/// of the ProARD reference: ε 0.031, step 0.0078, 20 steps.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PgdConfig {
    pub epsilon: f64,
    pub step_size: f64,
    pub steps: usize,
    pub random_start: bool,
}

impl Default for PgdConfig {
    fn default() -> Self {
        PgdConfig { epsilon: 0.031, step_size: 0.0078, steps: 20, random_start: true }
    }
}

/// Adversarial examples for `x` [N, C, H, W] (plain tensors in [0, 1]) against `subnet` of
/// `network`; draws its random start from the device's RNG.
pub fn pgd(
    network: &Network,
    subnet: &Subnet,
    x: Tensor<4>,
    labels: Tensor<1, Int>,
    config: &PgdConfig,
) -> Tensor<4> {
    let frozen = network.valid();
    let x = x.detach();
    let eps = config.epsilon;
    let mut adv = if config.random_start {
        let noise = Tensor::random(x.dims(), Distribution::Uniform(-eps, eps), &x.device());
        (x.clone() + noise).clamp(0.0, 1.0)
    } else {
        x.clone()
    };
    let (low, high) = ((x.clone() - eps).clamp_min(0.0), (x + eps).clamp_max(1.0));
    for _ in 0..config.steps {
        let input = adv.clone().autodiff().require_grad();
        let loss =
            cross_entropy(frozen.forward(input.clone(), subnet, &mut Pass::eval()), labels.clone());
        let gradient = input.grad(&loss.backward()).expect("the input requires a gradient");
        adv =
            (adv + gradient.sign() * config.step_size).max_pair(low.clone()).min_pair(high.clone());
    }
    adv
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cross_entropy_matches_a_hand_computation() {
        let device = Device::flex();
        let logits = Tensor::<2>::from_floats([[1.0, 2.0, 0.5], [0.0, 0.0, 3.0]], &device);
        let labels = Tensor::<1, Int>::from_ints([1, 0], &device);
        // −log softmax: row 1 picks 2.0 of (1, 2, 0.5); row 2 picks 0 of (0, 0, 3).
        let lse1 = (1f64.exp() + 2f64.exp() + 0.5f64.exp()).ln();
        let lse2 = (1.0 + 1.0 + 3f64.exp()).ln();
        let expected = ((lse1 - 2.0) + (lse2 - 0.0)) / 2.0;
        let got = cross_entropy(logits, labels).into_scalar::<f32>() as f64;
        assert!((got - expected).abs() < 1e-5, "{got} vs {expected}");
    }
}

//! TRADES (Zhang et al. 2019; docs/objectives.md, "TRADES"): the teacher's training objective.
//! CE(f(x), y) + β·(1/B)·Σ KL(softmax(f(x)) ‖ softmax(f(x'))); the attack ascends the same KL
//! (summed) towards the model's own clean output.

use burn::prelude::*;
use serde::{Deserialize, Serialize};

use super::divergence::{Reduction, kl_logits, reduce};
use crate::attack::{AscentConfig, cross_entropy};

/// Defaults: β = 6, the reference attack ε = 0.031, 10 steps of 0.007, 0.001-Gaussian start,
/// eval-mode BatchNorm.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TradesConfig {
    pub beta: f64,
    #[serde(deserialize_with = "crate::attack::ascent::trades_defaults")]
    pub attack: AscentConfig,
}

impl Default for TradesConfig {
    fn default() -> Self {
        TradesConfig { beta: 6.0, attack: AscentConfig::trades() }
    }
}

impl TradesConfig {
    /// The clean output is not detached: the KL term's gradient flows into both branches.
    pub fn loss(
        &self,
        student_clean: Tensor<2>,
        student_adversarial: Tensor<2>,
        labels: Tensor<1, Int>,
    ) -> Tensor<1> {
        let robust = reduce(
            kl_logits(student_clean.clone(), student_adversarial, 1.0),
            Reduction::BatchMean,
        );
        cross_entropy(student_clean, labels) + robust * self.beta
    }
}

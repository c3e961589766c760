//! MART (Wang et al. 2020; docs/objectives.md, "MART"): a boosted cross-entropy on x' plus a KL
//! term weighted by how unsure the clean prediction is,
//! BCE(p', y) + β·(1/B)·Σ_i KL(p_i ‖ p'_i)·(1.0000001 − p_i\[y_i]).

use burn::prelude::*;
use burn::tensor::activation::softmax;
use serde::{Deserialize, Serialize};

use super::divergence::{kl_probabilities, per_example};
use crate::attack::{AscentConfig, cross_entropy};

/// Defaults: β = 6 (the WRN recipe; the ResNet-18 one uses 5), CE attack ε = 0.031, 10 steps of
/// 0.007 from a 0.001-Gaussian start, eval-mode BatchNorm.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MartConfig {
    pub beta: f64,
    #[serde(deserialize_with = "crate::attack::ascent::trades_defaults")]
    pub attack: AscentConfig,
}

impl Default for MartConfig {
    fn default() -> Self {
        MartConfig { beta: 6.0, attack: AscentConfig::trades() }
    }
}

impl MartConfig {
    pub fn loss(
        &self,
        student_clean: Tensor<2>,
        student_adversarial: Tensor<2>,
        labels: Tensor<1, Int>,
    ) -> Tensor<1> {
        let [n, classes] = student_adversarial.dims();
        let adversarial = softmax(student_adversarial.clone(), 1);
        // ŷ: the most likely class other than y under p'.
        let one_hot = labels.clone().one_hot::<2>(classes).float();
        let runner_up = (adversarial.clone().detach() - one_hot * 2.0).argmax(1);
        let runner_up_probability = adversarial.clone().gather(1, runner_up).reshape([n]);
        let boost = -(-runner_up_probability + 1.0001 + 1e-12).log().mean();
        let boosted_ce = cross_entropy(student_adversarial, labels.clone()) + boost;

        let clean = softmax(student_clean, 1);
        let true_probability = clean.clone().gather(1, labels.reshape([n, 1])).reshape([n]);
        let kl = per_example(kl_probabilities(clean, (adversarial + 1e-12).log(), 1e-12));
        let robust = (kl * (-true_probability + 1.0000001)).sum() / n as f64;
        boosted_ce + robust * self.beta
    }
}

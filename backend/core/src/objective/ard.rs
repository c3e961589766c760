//! ARD (Goldblum et al. 2020; docs/objectives.md, "ARD"):
//! α·τ²·KL(softmax(T(x)/τ) ‖ softmax(S(x')/τ)) + (1 − α)·CE(S(x), y), the teacher on clean x;
//! the attack is CE-PGD on the student in train mode from a uniform start.

use burn::prelude::*;
use serde::{Deserialize, Serialize};

use super::divergence::{Reduction, kl_logits, reduce};
use crate::attack::{AscentConfig, cross_entropy};

/// Defaults of the official code: τ = 30, α = 1 (so the CE term has weight 0), elem-mean KL.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ArdConfig {
    pub temperature: f64,
    pub alpha: f64,
    pub reduction: Reduction,
    #[serde(deserialize_with = "crate::attack::ascent::uniform_train_defaults")]
    pub attack: AscentConfig,
}

impl Default for ArdConfig {
    fn default() -> Self {
        ArdConfig {
            temperature: 30.0,
            alpha: 1.0,
            reduction: Reduction::ElemMean,
            attack: AscentConfig::uniform_train(),
        }
    }
}

impl ArdConfig {
    pub fn loss(
        &self,
        student_clean: Tensor<2>,
        student_adversarial: Tensor<2>,
        teacher_clean: Tensor<2>,
        labels: Tensor<1, Int>,
    ) -> Tensor<1> {
        let tau = self.temperature;
        let kd =
            reduce(kl_logits(teacher_clean.detach(), student_adversarial, tau), self.reduction);
        kd * (self.alpha * tau * tau) + cross_entropy(student_clean, labels) * (1.0 - self.alpha)
    }
}

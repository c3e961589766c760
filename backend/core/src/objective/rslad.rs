//! RSLAD (Zi et al. 2021; docs/objectives.md, "RSLAD") — ProARD's default distillation loss:
//! (5/6)·KL_s(softmax(T(x)), S(x')) + (1/6)·KL_s(softmax(T(x)), S(x)), smoothed KL with
//! elem-mean, no label term. The attack ascends Σ KL(softmax(T(x)) ‖ softmax(S(x'))) with the
//! student in eval mode.

use burn::prelude::*;
use burn::tensor::activation::log_softmax;
use serde::{Deserialize, Serialize};

use super::divergence::{Reduction, kl_probabilities, reduce, soften};
use crate::attack::AscentConfig;

/// Inside the log of the teacher's probabilities in RSLAD's `kl_loss`.
pub const RSLAD_SMOOTHING: f64 = 1e-5;

/// Defaults: adversarial weight 5/6, attack 10 × 2/255 in 8/255 from a 0.001-Gaussian start.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RsladConfig {
    /// Weight of the adversarial term; the clean term gets 1 − this.
    pub adversarial_weight: f64,
    pub attack: AscentConfig,
}

impl Default for RsladConfig {
    fn default() -> Self {
        RsladConfig { adversarial_weight: 5.0 / 6.0, attack: AscentConfig::default() }
    }
}

impl RsladConfig {
    pub fn loss(
        &self,
        student_clean: Tensor<2>,
        student_adversarial: Tensor<2>,
        teacher_clean: Tensor<2>,
    ) -> Tensor<1> {
        let target = soften(teacher_clean.detach(), 1.0);
        let term = |student: Tensor<2>| {
            reduce(
                kl_probabilities(target.clone(), log_softmax(student, 1), RSLAD_SMOOTHING),
                Reduction::ElemMean,
            )
        };
        term(student_adversarial) * self.adversarial_weight
            + term(student_clean) * (1.0 - self.adversarial_weight)
    }
}

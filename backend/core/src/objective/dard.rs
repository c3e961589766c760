//! DARD (Zou et al. 2025; docs/objectives.md, "DARD", from the public scratch code): the
//! student learns from the teacher's natural and adversarial soft labels at once,
//! L_clean = α·τ²·KL(P_nat ‖ S(x)) + (1 − α)·CE(S(x), y) and
//! L_adv = α·τ²·KL(P_adv ‖ S(x')) + (1 − α)·CE(S(x'), y), batchmean, temperature τ on both
//! sides. x' is DPGD against the student (train-mode BatchNorm); P_adv comes from the teacher
//! on DPGD against the teacher (eval mode).
//!
//! The scratch code pre-computes the teacher's labels once, on one augmented view per image;
//! here they are computed on the very batch the student sees, so labels and inputs match.

use burn::prelude::*;
use burn::tensor::activation::{log_softmax, softmax};
use serde::{Deserialize, Serialize};

use super::divergence::{Reduction, kl_logits, kl_probabilities, reduce};
use crate::attack::{DpgdConfig, cross_entropy};

/// How L_clean and L_adv are mixed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DardMixing {
    /// ½·(L_clean + L_adv).
    Half,
    /// Variant B: w_adv = (t − 1)/(2E) for epoch t of E, w_clean = 1 − w_adv.
    EpochSchedule,
}

/// Defaults: α = 0.7, τ = 3, ½/½ mixing, DPGD 10 × 2/255 in 8/255.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DardConfig {
    pub alpha: f64,
    pub temperature: f64,
    pub mixing: DardMixing,
    /// The scratch code's quirk: the stored teacher outputs are already probabilities and it
    /// applies softmax(·/τ) to them again, which makes the targets nearly uniform. Off by
    /// default.
    pub double_softmax: bool,
    pub attack: DpgdConfig,
}

impl Default for DardConfig {
    fn default() -> Self {
        DardConfig {
            alpha: 0.7,
            temperature: 3.0,
            mixing: DardMixing::Half,
            double_softmax: false,
            attack: DpgdConfig::default(),
        }
    }
}

impl DardConfig {
    /// Weight of L_adv at 1-based `epoch` of `epochs`.
    pub fn adversarial_weight(&self, epoch: usize, epochs: usize) -> f64 {
        match self.mixing {
            DardMixing::Half => 0.5,
            DardMixing::EpochSchedule => (epoch as f64 - 1.0) / (2.0 * epochs.max(1) as f64),
        }
    }

    fn branch(&self, teacher: Tensor<2>, student: Tensor<2>, labels: Tensor<1, Int>) -> Tensor<1> {
        let tau = self.temperature;
        let teacher = teacher.detach();
        let elements = if self.double_softmax {
            let target = softmax(softmax(teacher, 1) / tau, 1);
            kl_probabilities(target, log_softmax(student.clone() / tau, 1), 1e-12)
        } else {
            kl_logits(teacher, student.clone(), tau)
        };
        reduce(elements, Reduction::BatchMean) * (self.alpha * tau * tau)
            + cross_entropy(student, labels) * (1.0 - self.alpha)
    }

    #[allow(clippy::too_many_arguments)]
    pub fn loss(
        &self,
        student_clean: Tensor<2>,
        student_adversarial: Tensor<2>,
        teacher_clean: Tensor<2>,
        teacher_adversarial: Tensor<2>,
        labels: Tensor<1, Int>,
        epoch: usize,
        epochs: usize,
    ) -> Tensor<1> {
        let w = self.adversarial_weight(epoch, epochs);
        self.branch(teacher_clean, student_clean, labels.clone()) * (1.0 - w)
            + self.branch(teacher_adversarial, student_adversarial, labels) * w
    }
}

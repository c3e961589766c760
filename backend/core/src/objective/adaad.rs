//! AdaAD and AdaIAD (Huang et al. 2023; docs/objectives.md, "AdaAD", "AdaIAD"). The attack puts
//! the teacher in the loop: it ascends Σ KL(softmax(T(x')) ‖ softmax(S(x'))) with the gradient
//! flowing through both networks (both in eval mode).

use burn::prelude::*;
use serde::{Deserialize, Serialize};

use super::divergence::{Reduction, kl_logits, reduce};
use super::iad::{IadWeights, iad_loss};
use crate::attack::AscentConfig;

/// AdaAD: α·KL(T(x') ‖ S(x')) + (1 − α)·KL(T(x) ‖ S(x)), temperature 1. Defaults: α = 1 (the
/// README's commands: pure adversarial term), elem-mean (CIFAR-10; CIFAR-100 uses batchmean).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdaAdConfig {
    pub alpha: f64,
    pub reduction: Reduction,
    pub attack: AscentConfig,
}

impl Default for AdaAdConfig {
    fn default() -> Self {
        AdaAdConfig { alpha: 1.0, reduction: Reduction::ElemMean, attack: AscentConfig::default() }
    }
}

impl AdaAdConfig {
    pub fn loss(
        &self,
        student_clean: Tensor<2>,
        student_adversarial: Tensor<2>,
        teacher_clean: Tensor<2>,
        teacher_adversarial: Tensor<2>,
    ) -> Tensor<1> {
        let term = |teacher: Tensor<2>, student: Tensor<2>| {
            reduce(kl_logits(teacher.detach(), student, 1.0), self.reduction)
        };
        term(teacher_adversarial, student_adversarial) * self.alpha
            + term(teacher_clean, student_clean) * (1.0 - self.alpha)
    }
}

/// AdaIAD = AdaAD's attack + IAD-I's outer loss with the teacher on x':
/// α·τ²·(1/B)·Σ KL(softmax(T(x')/τ) ‖ softmax(S(x')/τ)) + (1 − α)·CE(S(x), y), plus the
/// introspection term once `begin_epoch` epochs are done (as IAD-I's). Defaults: τ = 30, α = 1,
/// β = 0.1, begin 60 (from the 61st epoch).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdaIadConfig {
    pub temperature: f64,
    pub alpha: f64,
    pub beta: f64,
    pub begin_epoch: usize,
    pub attack: AscentConfig,
}

impl Default for AdaIadConfig {
    fn default() -> Self {
        AdaIadConfig {
            temperature: 30.0,
            alpha: 1.0,
            beta: 0.1,
            begin_epoch: 60,
            attack: AscentConfig::default(),
        }
    }
}

impl AdaIadConfig {
    /// `epoch` counts from 1.
    pub fn loss(
        &self,
        student_clean: Tensor<2>,
        student_adversarial: Tensor<2>,
        teacher_adversarial: Tensor<2>,
        labels: Tensor<1, Int>,
        epoch: usize,
    ) -> Tensor<1> {
        let weights = IadWeights {
            temperature: self.temperature,
            alpha: self.alpha,
            beta: self.beta,
            begin_epoch: self.begin_epoch,
        };
        let logits = [student_clean, student_adversarial, teacher_adversarial.clone()];
        iad_loss(weights, teacher_adversarial, logits, labels, epoch)
    }
}

//! IAD-I (Zhu et al. 2022; docs/objectives.md, "IAD-I"): ARD with batchmean KL, plus — from
//! `begin_epoch` — an introspection term that trusts the student's own clean output where the
//! teacher is unreliable on x':
//! α·(1/B)·Σ_i (1 − a_i)·KL(softmax(S(x_i)) ‖ softmax(S(x'_i))), a_i = P_T(x'_i)\[y_i]^β.

use burn::prelude::*;
use burn::tensor::activation::softmax;
use serde::{Deserialize, Serialize};

use super::divergence::{Reduction, kl_logits, per_example, reduce};
use crate::attack::{AscentConfig, cross_entropy};

/// Defaults of IAD-I.py: τ = 1, α = 1, β = 0.1, introspection after epoch 60 (the reference's
/// 0-based `epoch >= 60`, so from the 61st); attack as ARD's.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IadConfig {
    pub temperature: f64,
    pub alpha: f64,
    pub beta: f64,
    /// The introspection term applies once this many epochs are done (the reference's 0-based
    /// `epoch >= begin_epoch`): 60 starts it at the 61st epoch.
    pub begin_epoch: usize,
    #[serde(deserialize_with = "crate::attack::ascent::uniform_train_defaults")]
    pub attack: AscentConfig,
}

impl Default for IadConfig {
    fn default() -> Self {
        IadConfig {
            temperature: 1.0,
            alpha: 1.0,
            beta: 0.1,
            begin_epoch: 60,
            attack: AscentConfig::uniform_train(),
        }
    }
}

/// The weights of IAD-I's outer loss, shared with AdaIAD.
#[derive(Clone, Copy, Debug)]
pub(crate) struct IadWeights {
    pub temperature: f64,
    pub alpha: f64,
    pub beta: f64,
    pub begin_epoch: usize,
}

/// α·τ²·(1/B)·Σ KL(softmax(target/τ) ‖ softmax(S(x')/τ)) + (1 − α)·CE(S(x), y), plus from
/// `begin_epoch` the introspection term α·(1/B)·Σ_i (1 − a_i)·KL(S(x_i) ‖ S(x'_i)) with
/// reliability a_i = P_T(x'_i)\[y_i]^β taken as a constant. The clean student output is not
/// detached there, as in both references. IAD-I distils towards T(x), AdaIAD towards T(x').
pub(crate) fn iad_loss(
    weights: IadWeights,
    target: Tensor<2>,
    logits: [Tensor<2>; 3],
    labels: Tensor<1, Int>,
    epoch: usize,
) -> Tensor<1> {
    let [student_clean, student_adversarial, teacher_adversarial] = logits;
    let IadWeights { temperature: tau, alpha, beta, begin_epoch } = weights;
    let kd =
        reduce(kl_logits(target.detach(), student_adversarial.clone(), tau), Reduction::BatchMean)
            * (alpha * tau * tau);
    let ce = cross_entropy(student_clean.clone(), labels.clone()) * (1.0 - alpha);
    // `epoch` counts from 1, the reference's from 0.
    if epoch <= begin_epoch {
        return kd + ce;
    }
    let n = labels.dims()[0];
    let reliability = softmax(teacher_adversarial.detach(), 1)
        .gather(1, labels.reshape([n, 1]))
        .reshape([n])
        .powf_scalar(beta);
    let kl = per_example(kl_logits(student_clean, student_adversarial, 1.0));
    let own = (kl * (-reliability + 1.0)).sum() / n as f64;
    kd + own * alpha + ce
}

impl IadConfig {
    /// `epoch` counts from 1.
    pub fn loss(
        &self,
        student_clean: Tensor<2>,
        student_adversarial: Tensor<2>,
        teacher_clean: Tensor<2>,
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
        let logits = [student_clean, student_adversarial, teacher_adversarial];
        iad_loss(weights, teacher_clean, logits, labels, epoch)
    }
}

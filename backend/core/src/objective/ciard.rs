//! CIARD (Lu et al. 2025; docs/objectives.md, "CIARD"): a clean teacher T_n and a robust teacher
//! T_r that is itself retrained on the student's adversarial examples (ITT), with a push term
//! that moves the student away from the clean teacher wherever that teacher is fooled, and
//! temperatures adapted every step until both teachers' entropies match.
//!
//! L = w_adv·L_adv + w_nat·L_nat − w·L_push (smoothed KL, elem-mean):
//! L_adv = KL_s(softmax(T_r(x')/τ_a), S(x')), L_nat = KL_s(softmax(T_n(x)/τ_n), S(x)),
//! L_push = KL_s(softmax(T_n(x'_I)), S(x'_I)/5) over I = {i : T_n fooled at x'_i}, with
//! w = 10^(min(⌊log10 L_adv⌋, ⌊log10 L_nat⌋) − ⌊log10 L_push⌋) on detached values.

use burn::prelude::*;
use burn::tensor::activation::log_softmax;
use serde::{Deserialize, Serialize};

use super::divergence::{Reduction, kl_probabilities, per_example, reduce, soften};
use super::rslad::RSLAD_SMOOTHING;
use crate::attack::AscentConfig;

/// The student's temperature inside the push term.
const PUSH_STUDENT_TEMPERATURE: f64 = 5.0;
const TEMPERATURE_RANGE: (f64, f64) = (1.0, 10.0);

/// Which weights the two distillation terms get.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CiardWeights {
    /// 1 and 1: the code's HEAD (rebuttal version, May 2025).
    Fixed,
    /// MTARD's adaptive weights: the original submission (March 2025).
    Adaptive,
}

/// Defaults of CIARD.py.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CiardConfig {
    pub weights: CiardWeights,
    /// Step of the temperature updates.
    pub temperature_rate: f64,
    /// Step of the adaptive weight updates.
    pub weight_rate: f64,
    /// From this epoch (1-based) on, temperatures and weights stop adapting: the reference
    /// multiplies both rates by 0.1 inside its batch loop during epoch 215, ≈ 391 times.
    pub freeze_epoch: usize,
    /// Retrain the robust teacher on the student's adversarial examples (ITT).
    pub retrain_teacher: bool,
    /// Teacher updates happen in epochs after this one.
    pub teacher_start_epoch: usize,
    pub teacher_learning_rate: f64,
    /// Length of the teacher's cosine-and-Gaussian LR decay, in epochs.
    pub teacher_decay_epochs: usize,
    pub teacher_momentum: f64,
    pub teacher_weight_decay: f64,
    /// CE-PGD on the student in eval mode from a 0.001-Gaussian start.
    pub attack: AscentConfig,
}

impl Default for CiardConfig {
    fn default() -> Self {
        CiardConfig {
            weights: CiardWeights::Fixed,
            temperature_rate: 0.001,
            weight_rate: 0.025,
            freeze_epoch: 215,
            retrain_teacher: true,
            teacher_start_epoch: 50,
            teacher_learning_rate: 1e-4,
            teacher_decay_epochs: 250,
            teacher_momentum: 0.1,
            teacher_weight_decay: 2e-4,
            attack: AscentConfig::default(),
        }
    }
}

impl CiardConfig {
    /// lr_T(e) = 0 until `teacher_start_epoch`, then
    /// lr·(½ + ½cos(π(e − s)/D))·exp(−0.01(e − s)²/D²).
    pub fn teacher_learning_rate_at(&self, epoch: usize) -> f64 {
        if !self.retrain_teacher || epoch <= self.teacher_start_epoch {
            return 0.0;
        }
        let e = (epoch - self.teacher_start_epoch) as f64;
        let d = self.teacher_decay_epochs.max(1) as f64;
        self.teacher_learning_rate
            * (0.5 + 0.5 * (std::f64::consts::PI * e / d).cos())
            * (-0.01 * e * e / (d * d)).exp()
    }
}

/// What CIARD adapts during training (part of a checkpoint).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CiardState {
    pub adversarial_temperature: f64,
    pub natural_temperature: f64,
    pub adversarial_weight: f64,
    pub natural_weight: f64,
    /// L_adv and L_nat of the first step (MTARD normalises by them).
    pub first_losses: Option<(f64, f64)>,
}

impl Default for CiardState {
    fn default() -> Self {
        CiardState {
            adversarial_temperature: 1.0,
            natural_temperature: 1.0,
            adversarial_weight: 0.5,
            natural_weight: 0.5,
            first_losses: None,
        }
    }
}

/// The logits one CIARD step needs.
pub struct CiardLogits {
    pub student_clean: Tensor<2>,
    pub student_adversarial: Tensor<2>,
    /// T_r(x'), detached for the student's loss.
    pub robust_teacher_adversarial: Tensor<2>,
    pub clean_teacher_clean: Tensor<2>,
    pub clean_teacher_adversarial: Tensor<2>,
}

fn scalar(t: &Tensor<1>) -> f64 {
    t.clone().detach().into_scalar::<f64>()
}

/// ⌊log10 v⌋ with exact zeros replaced by 1e-7, as the reference does.
fn order_of_magnitude(value: f64) -> f64 {
    let value = if value == 0.0 { 1e-7 } else { value.abs() };
    value.log10().floor()
}

/// torch.sign: 0 at 0 (`f64::signum` gives 1).
fn sign(value: f64) -> f64 {
    if value > 0.0 {
        1.0
    } else if value < 0.0 {
        -1.0
    } else {
        0.0
    }
}

/// Mean of p·log(p + 1e-5) over all elements: −entropy/K, negative.
fn negative_entropy(probabilities: Tensor<2>) -> f64 {
    scalar(&(probabilities.clone() * (probabilities + RSLAD_SMOOTHING).log()).mean())
}

impl CiardConfig {
    /// The student's loss at `epoch` (1-based); updates `state` (temperatures, weights) as the
    /// reference does after computing it.
    pub fn loss(
        &self,
        state: &mut CiardState,
        logits: CiardLogits,
        labels: Tensor<1, Int>,
        epoch: usize,
    ) -> Tensor<1> {
        let n = labels.dims()[0];
        let kl_s = |target: Tensor<2>, student_log: Tensor<2>| {
            kl_probabilities(target, student_log, RSLAD_SMOOTHING)
        };
        let adversarial_target =
            soften(logits.robust_teacher_adversarial.detach(), state.adversarial_temperature);
        let natural_target = soften(logits.clean_teacher_clean.detach(), state.natural_temperature);
        let l_adv = reduce(
            kl_s(adversarial_target.clone(), log_softmax(logits.student_adversarial.clone(), 1)),
            Reduction::ElemMean,
        );
        let l_nat = reduce(
            kl_s(natural_target.clone(), log_softmax(logits.student_clean, 1)),
            Reduction::ElemMean,
        );

        let clean_teacher_adversarial = logits.clean_teacher_adversarial.detach();
        let fooled =
            clean_teacher_adversarial.clone().argmax(1).reshape([n]).not_equal(labels).float();
        let fooled_count = scalar(&fooled.clone().sum());
        let push_elements = kl_s(
            soften(clean_teacher_adversarial, 1.0),
            log_softmax(logits.student_adversarial / PUSH_STUDENT_TEMPERATURE, 1),
        );
        let classes = push_elements.dims()[1];
        let l_push = if fooled_count == 0.0 {
            None
        } else {
            let sum = (per_example(push_elements) * fooled).sum();
            Some(sum / (fooled_count * classes as f64))
        };
        let (adv_value, nat_value) = (scalar(&l_adv), scalar(&l_nat));
        let push_value = l_push.as_ref().map(scalar).filter(|v| v.is_finite());

        let (w_adv, w_nat) = match self.weights {
            CiardWeights::Fixed => (1.0, 1.0),
            CiardWeights::Adaptive => (state.adversarial_weight, state.natural_weight),
        };
        let mut loss = l_adv * w_adv + l_nat * w_nat;
        if let (Some(l_push), Some(push_value)) = (l_push, push_value) {
            let scale = 10f64.powf(
                order_of_magnitude(adv_value).min(order_of_magnitude(nat_value))
                    - order_of_magnitude(push_value),
            );
            loss = loss - l_push * scale;
        }

        if epoch < self.freeze_epoch {
            self.adapt(state, adversarial_target, natural_target, adv_value, nat_value);
        }
        loss
    }

    /// Temperatures and MTARD weights after a step (docs/objectives.md, "CIARD").
    fn adapt(
        &self,
        state: &mut CiardState,
        adversarial_target: Tensor<2>,
        natural_target: Tensor<2>,
        adv_value: f64,
        nat_value: f64,
    ) {
        let e_adv = negative_entropy(adversarial_target);
        let e_nat = negative_entropy(natural_target);
        let step = |t: f64, ratio: f64| {
            (t - self.temperature_rate * sign(ratio - 1.0))
                .clamp(TEMPERATURE_RANGE.0, TEMPERATURE_RANGE.1)
        };
        state.adversarial_temperature = step(state.adversarial_temperature, e_adv / e_nat);
        state.natural_temperature = step(state.natural_temperature, e_nat / e_adv);

        let (first_adv, first_nat) = *state.first_losses.get_or_insert((adv_value, nat_value));
        let (l_adv, l_nat) = (adv_value / first_adv, nat_value / first_nat);
        let mean = (l_adv + l_nat) / 2.0;
        let (r_adv, r_nat) = (l_adv / mean, l_nat / mean);
        let rate = self.weight_rate;
        let w_adv = (state.adversarial_weight
            - rate * (state.adversarial_weight - r_adv / (r_adv + r_nat)))
            .max(0.0);
        let w_nat = (state.natural_weight
            - rate * (state.natural_weight - r_nat / (r_adv + r_nat)))
            .max(0.0);
        let total = w_adv + w_nat;
        if total > 0.0 && total.is_finite() {
            state.adversarial_weight = w_adv / total;
            state.natural_weight = w_nat / total;
        }
    }
}

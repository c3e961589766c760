//! DPGD, the attack of DARD (docs/objectives.md, "DPGD"): SegPGD's schedule carried over to
//! classification with a batch-level squared soft-Dice loss.
//!
//! Step t ascends L_t = (1 − λ_t)·D(correct) + λ_t·D(wrong), λ_t = (t − offset)/(2T), where
//! D(A) = 1 − (2·Σ_{i∈A,c} p_ic·Y_ic + 1e-5) / (Σ_{i∈A,c} Y_ic² + Σ_{i∈A,c} p_ic² + 1e-5) is
//! ONE scalar over the subset A of rows (samples are coupled through the denominator) and an
//! empty subset contributes 0. Early steps push still-correct samples, later ones give up to
//! ~45 % of the weight to those already fooled. No random start; constant step.

use burn::prelude::*;
use burn::tensor::activation::softmax;
use serde::{Deserialize, Serialize};

use super::ascent::{AscentConfig, ascend, frozen};
use super::pgd::PgdStart;
use crate::model::{BnMode, View};

const DICE_SMOOTHING: f64 = 1e-5;

/// DPGD's parameters (defaults of the DARD scratch code: ε = 8/255, α = 2/255, 10 steps).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DpgdConfig {
    pub epsilon: f64,
    pub step_size: f64,
    pub steps: usize,
    /// λ_t = (t − offset)/(2T) for 0-based t: 0 in most scripts, 1 in the file literally named
    /// `dpgd_attack` (λ_0 = −0.05).
    pub lambda_offset: usize,
}

impl Default for DpgdConfig {
    fn default() -> Self {
        DpgdConfig { epsilon: 8.0 / 255.0, step_size: 2.0 / 255.0, steps: 10, lambda_offset: 0 }
    }
}

impl DpgdConfig {
    /// λ_t for 0-based step t.
    pub fn lambda(&self, step: usize) -> f64 {
        (step as f64 - self.lambda_offset as f64) / (2.0 * self.steps as f64)
    }
}

/// The batch-level squared soft-Dice loss D(A) of probabilities [N, K] against labels \[N] over
/// the rows where `rows` \[N] is 1 (0/1 floats). Empty A gives exactly 0.
pub fn dice_loss(probabilities: Tensor<2>, labels: Tensor<1, Int>, rows: Tensor<1>) -> Tensor<1> {
    let [n, classes] = probabilities.dims();
    let one_hot = labels.one_hot::<2>(classes).float();
    let rows = rows.reshape([n, 1]);
    let overlap = (probabilities.clone() * one_hot.clone() * rows.clone()).sum() * 2.0;
    let squares =
        (one_hot.powi_scalar(2) * rows.clone()).sum() + (probabilities.powi_scalar(2) * rows).sum();
    -(overlap + DICE_SMOOTHING) / (squares + DICE_SMOOTHING) + 1.0
}

/// L_t of one step: Dice on the rows `target` still classifies correctly, and on the others.
pub fn dpgd_loss(logits: Tensor<2>, labels: Tensor<1, Int>, lambda: f64) -> Tensor<1> {
    let n = labels.dims()[0];
    let correct = logits.clone().detach().argmax(1).reshape([n]).equal(labels.clone()).float();
    let wrong = -correct.clone() + 1.0;
    let probabilities = softmax(logits, 1);
    dice_loss(probabilities.clone(), labels.clone(), correct) * (1.0 - lambda)
        + dice_loss(probabilities, labels, wrong) * lambda
}

/// DPGD examples for plain `x` in [0, 1] against `target` with BatchNorm in `bn` (train for the
/// student during DARD training, eval for the teacher).
pub fn dpgd(
    target: View,
    x: &Tensor<4>,
    labels: &Tensor<1, Int>,
    config: &DpgdConfig,
    bn: BnMode,
) -> Tensor<4> {
    let network = frozen(target.network);
    let attacked = View::new(&network, target.subnet);
    let ascent = AscentConfig {
        epsilon: config.epsilon,
        step_size: config.step_size,
        steps: config.steps,
        start: PgdStart::None,
        bn,
    };
    let labels = labels.clone().inner();
    ascend(x, &ascent, |step, input| {
        dpgd_loss(attacked.forward(input, bn), labels.clone(), config.lambda(step))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dice_matches_a_hand_computation_and_couples_the_rows() {
        let device = Device::flex();
        let p = Tensor::<2>::from_floats([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]], &device);
        let labels = Tensor::<1, Int>::from_ints([0, 2], &device);
        let all = Tensor::<1>::from_floats([1.0, 1.0], &device);
        // Overlap 2·(0.7 + 0.8) = 3; squares 2 + (0.49 + 0.04 + 0.01) + (0.01 + 0.01 + 0.64).
        let expected = 1.0 - (3.0 + 1e-5) / (2.0 + 0.54 + 0.66 + 1e-5);
        let got = dice_loss(p.clone(), labels.clone(), all).into_scalar::<f64>();
        assert!((got - expected).abs() < 1e-6, "{got} vs {expected}");
        let none = Tensor::<1>::zeros([2], &device);
        assert_eq!(dice_loss(p, labels, none).into_scalar::<f64>(), 0.0);
    }

    #[test]
    fn lambda_follows_the_segpgd_schedule() {
        let config = DpgdConfig::default();
        assert_eq!(config.lambda(0), 0.0);
        assert!((config.lambda(9) - 0.45).abs() < 1e-12);
        let shifted = DpgdConfig { lambda_offset: 1, ..DpgdConfig::default() };
        assert!((shifted.lambda(0) + 0.05).abs() < 1e-12);
    }
}

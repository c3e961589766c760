//! KL divergences as the ARD code bases compute them (docs/objectives.md, "KL divergences"): always
//! Σ_c q_c (log q_c − log s_c) with q the target (teacher) distribution and s the student's, and
//! an explicit reduction, because the three reductions in use change the weight of a term by
//! a factor of B or C.

use burn::prelude::*;
use burn::tensor::activation::{log_softmax, softmax};
use serde::{Deserialize, Serialize};

/// How the [N, K] elementwise terms become one number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Reduction {
    /// Sum over all N·K elements divided by N·K (PyTorch `KLDivLoss()` default): ARD, RSLAD,
    /// AdaAD, CIARD.
    ElemMean,
    /// Sum over classes, mean over the batch: IAD, AdaIAD, TRADES, DARD.
    BatchMean,
    /// Sum over everything: inner maximisations.
    Sum,
}

/// Reduces elementwise terms [N, K].
pub fn reduce(elements: Tensor<2>, reduction: Reduction) -> Tensor<1> {
    let [n, _] = elements.dims();
    match reduction {
        Reduction::ElemMean => elements.mean(),
        Reduction::BatchMean => elements.sum() / n as f64,
        Reduction::Sum => elements.sum(),
    }
}

/// Per example \[N], Σ_c of elementwise terms [N, K].
pub fn per_example(elements: Tensor<2>) -> Tensor<1> {
    let [n, _] = elements.dims();
    elements.sum_dim(1).reshape([n])
}

/// Elementwise KL(softmax(t/τ) ‖ softmax(s/τ)) [N, K] for target logits t and student logits s,
/// computed from log-softmaxes (exact, no floor). Gradient flows into both unless the caller
/// detaches t.
pub fn kl_logits(target: Tensor<2>, student: Tensor<2>, temperature: f64) -> Tensor<2> {
    let target_log = log_softmax(target / temperature, 1);
    target_log.clone().exp() * (target_log - log_softmax(student / temperature, 1))
}

/// Elementwise q·(log(q + smoothing) − log_s) [N, K] for target probabilities q and student
/// log-probabilities: RSLAD/CIARD's "kl_loss" uses smoothing 1e-5; MART-style logs of
/// probabilities use a floor of 1e-12 (which only keeps 0·log 0 finite).
pub fn kl_probabilities(target: Tensor<2>, student_log: Tensor<2>, smoothing: f64) -> Tensor<2> {
    target.clone() * ((target + smoothing).log() - student_log)
}

/// softmax(z/τ).
pub fn soften(logits: Tensor<2>, temperature: f64) -> Tensor<2> {
    softmax(logits / temperature, 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reductions_divide_by_what_they_say() {
        let device = Device::flex();
        let e = Tensor::<2>::from_floats([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], &device);
        assert_eq!(reduce(e.clone(), Reduction::Sum).into_scalar::<f64>(), 21.0);
        assert_eq!(reduce(e.clone(), Reduction::BatchMean).into_scalar::<f64>(), 10.5);
        assert_eq!(reduce(e, Reduction::ElemMean).into_scalar::<f64>(), 3.5);
    }

    #[test]
    fn kl_of_equal_distributions_is_zero_and_otherwise_positive() {
        let device = Device::flex();
        let a = Tensor::<2>::from_floats([[1.0, 2.0, 0.5]], &device);
        let b = Tensor::<2>::from_floats([[0.0, 0.0, 3.0]], &device);
        let same = kl_logits(a.clone(), a.clone(), 3.0).sum().into_scalar::<f64>();
        assert!(same.abs() < 1e-6);
        assert!(kl_logits(a, b, 1.0).sum().into_scalar::<f64>() > 0.1);
    }
}

//! Per-example attack losses on logits [N, K] (docs/objectives.md, "KL divergences";
//! docs/attacks.md, "CW∞"): the value an attack ascends, and the value it compares between
//! restarts.

use burn::prelude::*;
use burn::tensor::activation::log_softmax;

/// Added to a target probability before its log so that zero probabilities contribute 0, not NaN.
const LOG_FLOOR: f64 = 1e-12;

/// Mean cross-entropy of logits [N, K] against labels \[N].
pub fn cross_entropy(logits: Tensor<2>, labels: Tensor<1, Int>) -> Tensor<1> {
    cross_entropy_per_example(logits, labels).mean()
}

/// Cross-entropy of each row of logits [N, K] against labels \[N]: −log softmax(z)_y, shape \[N].
pub fn cross_entropy_per_example(logits: Tensor<2>, labels: Tensor<1, Int>) -> Tensor<1> {
    let n = labels.dims()[0];
    -log_softmax(logits, 1).gather(1, labels.reshape([n, 1])).reshape([n])
}

/// KL(q ‖ softmax(z)) = Σ_c q_c (log q_c − log softmax(z)_c) of each row, for target
/// probabilities q [N, K]: the direction every ARD code base computes (docs/objectives.md,
/// "KL divergences"). Shape \[N].
pub fn kl_to_target_per_example(logits: Tensor<2>, target: Tensor<2>) -> Tensor<1> {
    let n = target.dims()[0];
    let target_log = (target.clone() + LOG_FLOOR).log();
    (target * (target_log - log_softmax(logits, 1))).sum_dim(1).reshape([n])
}

/// The Carlini–Wagner margin loss to maximise, −max(z_y − max_{j≠y} z_j + κ, 0)
/// (docs/attacks.md, "CW∞"): it rises while the true class leads and saturates at 0 once another
/// class leads by κ. Shape \[N].
pub fn cw_margin_per_example(
    logits: Tensor<2>,
    labels: Tensor<1, Int>,
    confidence: f64,
) -> Tensor<1> {
    let [n, classes] = logits.dims();
    let true_logit = logits.clone().gather(1, labels.clone().reshape([n, 1])).reshape([n]);
    // Pushing the true class far down (as the reference's −10 000·onehot does) leaves the
    // largest other logit as the row maximum.
    let one_hot = labels.one_hot::<2>(classes).float();
    let best_other = (logits - one_hot * 1e4).max_dim(1).reshape([n]);
    -(true_logit - best_other + confidence).clamp_min(0.0)
}

/// The logits of each row in descending order, differentiable: sorting a detached copy only picks
/// the order, so the gradient flows through the gathered logits.
fn sorted_descending(logits: Tensor<2>) -> Tensor<2> {
    let (_, order) = logits.clone().detach().sort_descending_with_indices(1);
    logits.gather(1, order)
}

/// The difference-of-logits-ratio loss of APGD-DLR (docs/attacks.md, "APGD"),
/// −(z_y − max_{j≠y} z_j) / (z_(1) − z_(3) + 1e-12), z_(k) the k-th largest logit: the margin
/// made invariant to shifts and scales of the logits. Needs at least 3 classes. Shape \[N].
pub fn dlr_per_example(logits: Tensor<2>, labels: Tensor<1, Int>) -> Tensor<1> {
    let [n, classes] = logits.dims();
    let true_logit = logits.clone().gather(1, labels.clone().reshape([n, 1])).reshape([n]);
    let one_hot = labels.one_hot::<2>(classes).float();
    let best_other = (logits.clone() - one_hot * 1e4).max_dim(1).reshape([n]);
    let sorted = sorted_descending(logits);
    let scale = sorted.clone().slice_dim(1, 0..1) - sorted.slice_dim(1, 2..3);
    -(true_logit - best_other) / (scale.reshape([n]) + 1e-12)
}

/// The targeted DLR loss of APGD-T (docs/attacks.md, "APGD"),
/// −(z_y − z_t) / (z_(1) − ½(z_(3) + z_(4)) + 1e-12) for target classes t \[N]. Needs at least 4
/// classes. Shape \[N].
pub fn targeted_dlr_per_example(
    logits: Tensor<2>,
    labels: Tensor<1, Int>,
    targets: Tensor<1, Int>,
) -> Tensor<1> {
    let n = labels.dims()[0];
    let true_logit = logits.clone().gather(1, labels.reshape([n, 1])).reshape([n]);
    let target_logit = logits.clone().gather(1, targets.reshape([n, 1])).reshape([n]);
    let sorted = sorted_descending(logits);
    let third_and_fourth = sorted.clone().slice_dim(1, 2..4).sum_dim(1);
    let scale = sorted.slice_dim(1, 0..1) - third_and_fourth * 0.5;
    -(true_logit - target_logit) / (scale.reshape([n]) + 1e-12)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn logits(device: &Device) -> Tensor<2> {
        Tensor::<2>::from_floats([[1.0, 2.0, 0.5], [0.0, 0.0, 3.0]], device)
    }

    fn close(got: Tensor<1>, expected: &[f64]) {
        let got = got.try_into_vec_as::<f64>().unwrap();
        assert_eq!(got.len(), expected.len());
        for (g, e) in got.iter().zip(expected) {
            assert!((g - e).abs() < 1e-5, "{got:?} vs {expected:?}");
        }
    }

    #[test]
    fn cross_entropy_matches_a_hand_computation() {
        let device = Device::flex();
        let labels = Tensor::<1, Int>::from_ints([1, 0], &device);
        // −log softmax: row 1 picks 2.0 of (1, 2, 0.5); row 2 picks 0 of (0, 0, 3).
        let lse1 = (1f64.exp() + 2f64.exp() + 0.5f64.exp()).ln();
        let lse2 = (1.0 + 1.0 + 3f64.exp()).ln();
        close(cross_entropy_per_example(logits(&device), labels.clone()), &[lse1 - 2.0, lse2]);
        close(cross_entropy(logits(&device), labels), &[((lse1 - 2.0) + lse2) / 2.0]);
    }

    #[test]
    fn kl_to_target_matches_a_hand_computation() {
        let device = Device::flex();
        // Row 1: a one-hot target on class 1 gives −log softmax(z)_1 (the 0·log 0 terms vanish).
        // Row 2: q = (0.5, 0.25, 0.25).
        let target = Tensor::<2>::from_floats([[0.0, 1.0, 0.0], [0.5, 0.25, 0.25]], &device);
        let lse1 = (1f64.exp() + 2f64.exp() + 0.5f64.exp()).ln();
        let lse2 = (1.0 + 1.0 + 3f64.exp()).ln();
        let q = [0.5f64, 0.25, 0.25];
        let z = [0.0, 0.0, 3.0];
        let row2: f64 = q.iter().zip(z).map(|(q, z)| q * (q.ln() - (z - lse2))).sum();
        close(kl_to_target_per_example(logits(&device), target), &[lse1 - 2.0, row2]);
    }

    #[test]
    fn cw_margin_matches_a_hand_computation() {
        let device = Device::flex();
        let labels = Tensor::<1, Int>::from_ints([1, 0], &device);
        // Row 1: z_y = 2, best other 1 → margin 1. Row 2: z_y = 0, best other 3 → margin −3.
        close(cw_margin_per_example(logits(&device), labels.clone(), 0.0), &[-1.0, 0.0]);
        close(cw_margin_per_example(logits(&device), labels.clone(), 2.0), &[-3.0, 0.0]);
        // κ = 50 keeps the hinge active for both rows: −(margin + 50).
        close(cw_margin_per_example(logits(&device), labels, 50.0), &[-51.0, -47.0]);
    }

    #[test]
    fn dlr_losses_match_a_hand_computation() {
        let device = Device::flex();
        let logits =
            Tensor::<2>::from_floats([[1.0, 2.0, 0.5, -1.0], [0.0, 0.0, 3.0, 1.0]], &device);
        let labels = Tensor::<1, Int>::from_ints([1, 0], &device);
        // Row 1 sorted (2, 1, 0.5, −1), y leads by 1: −1/(2 − 0.5). Row 2 sorted (3, 1, 0, 0),
        // y trails the best by 3: 3/(3 − 0).
        close(dlr_per_example(logits.clone(), labels.clone()), &[-1.0 / 1.5, 1.0]);
        // Targets 0 and 2: −(2 − 1)/(2 − ½(0.5 − 1)) and −(0 − 3)/(3 − ½(0 + 0)).
        let targets = Tensor::<1, Int>::from_ints([0, 2], &device);
        close(targeted_dlr_per_example(logits, labels, targets), &[-1.0 / 2.25, 1.0]);
    }
}

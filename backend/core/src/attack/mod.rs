//! Adversarial attacks (L∞, pixel space [0, 1]) and robust evaluation, as specified in
//! docs/attacks.md.
//!
//! Invariants: attacks compute input gradients only. They run a [`Network::valid`] copy — plain
//! tensors, which autodiff treats as constants — on an input re-attached to the autodiff graph
//! at every step. Evaluation attacks always run BatchNorm in `Eval` mode; training attacks
//! ([`ascent`], [`mod@dpgd`]) state theirs and return the last iterate. Every output lies in the
//! ε-ball around its clean image and in [0, 1]. Random starts draw from the noise stream
//! ([`crate::noise`]), so the caller decides the seed ([`evaluate`] seeds it per batch).

pub mod apgd;
pub mod ascent;
pub mod dpgd;
pub mod eval;
pub mod fgsm;
pub mod loss;
pub mod pgd;
pub mod selftest;
pub mod sequence;

pub use apgd::{ApgdConfig, ApgdLoss, apgd};
pub use ascent::{AscentConfig, ascend, frozen};
pub use dpgd::{DpgdConfig, dpgd};
pub use eval::{Attack, AttackResult, EvalReport, evaluate};
pub use fgsm::{FgsmConfig, fgsm};
pub use loss::cross_entropy;
pub use pgd::{PgdConfig, PgdIterate, PgdLoss, PgdStart, pgd, pgd_with_target};
pub use sequence::{PointOutcome, SequenceConfig, SequenceReport, run_sequence};

use burn::prelude::*;
use proard_shared::Subnet;

use crate::model::{Network, Pass};

/// The box [x − ε, x + ε] ∩ [0, 1] that every adversarial example stays in.
struct Ball {
    low: Tensor<4>,
    high: Tensor<4>,
}

impl Ball {
    fn new(x: &Tensor<4>, epsilon: f64) -> Ball {
        Ball {
            low: (x.clone() - epsilon).clamp_min(0.0),
            high: (x.clone() + epsilon).clamp_max(1.0),
        }
    }

    fn project(&self, x: Tensor<4>) -> Tensor<4> {
        x.max_pair(self.low.clone()).min_pair(self.high.clone())
    }
}

/// Plain logits of `frozen` at `input` (BatchNorm in eval mode, no graph).
fn logits(frozen: &Network, subnet: &Subnet, input: Tensor<4>) -> Tensor<2> {
    frozen.forward(input, subnet, &mut Pass::eval())
}

/// Plain logits at `input`, the per-example `loss` of them, and the gradient of the summed loss
/// with respect to `input`. `frozen` must be a [`Network::valid`] copy, so that the only leaf
/// that requires a gradient is the re-attached input.
fn loss_and_gradient(
    frozen: &Network,
    subnet: &Subnet,
    input: &Tensor<4>,
    loss: impl Fn(Tensor<2>) -> Tensor<1>,
) -> (Tensor<2>, Tensor<1>, Tensor<4>) {
    let attached = input.clone().autodiff().require_grad();
    let logits = frozen.forward(attached.clone(), subnet, &mut Pass::eval());
    let per_example = loss(logits.clone());
    let gradient = attached
        .grad(&per_example.clone().sum().backward())
        .expect("the input requires a gradient");
    (logits.detach().inner(), per_example.detach().inner(), gradient)
}

/// Whether each example of `logits` [N, K] is misclassified, as 0/1 floats [N].
fn fooled(logits: Tensor<2>, labels: Tensor<1, Int>) -> Tensor<1> {
    let n = labels.dims()[0];
    logits.argmax(1).reshape([n]).not_equal(labels).float()
}

/// Per example, `if_true` where `mask` [N] holds and `if_false` elsewhere.
fn choose<const D: usize>(
    mask: Tensor<1, Bool>,
    if_true: Tensor<D>,
    if_false: Tensor<D>,
) -> Tensor<D> {
    let dims = if_false.dims();
    let mut broadcast = [1; D];
    broadcast[0] = dims[0];
    if_false.mask_where(mask.reshape(broadcast).expand(dims), if_true)
}

//! FGSM (docs/attacks.md): one step of ε along the sign of the cross-entropy input
//! gradient, then clipping to [0, 1]. IAD's variant first moves to a uniform random point.

use burn::prelude::*;
use proard_shared::Subnet;
use serde::{Deserialize, Serialize};

use super::pgd::{PgdConfig, PgdIterate, PgdLoss, PgdStart, pgd};
use crate::model::Network;

/// FGSM's parameters; the default is the CIARD/AdaAD evaluation (ε = 8/255, no random start).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FgsmConfig {
    pub epsilon: f64,
    /// IAD's variant: start from x + U(−ε, ε) before the step (then project).
    pub random_start: bool,
}

impl Default for FgsmConfig {
    fn default() -> Self {
        FgsmConfig { epsilon: 8.0 / 255.0, random_start: false }
    }
}

impl FgsmConfig {
    /// FGSM is PGD with one step of size ε and no restart.
    pub fn as_pgd(&self) -> PgdConfig {
        PgdConfig {
            epsilon: self.epsilon,
            step_size: self.epsilon,
            steps: 1,
            restarts: 1,
            loss: PgdLoss::CrossEntropy,
            start: if self.random_start { PgdStart::Uniform } else { PgdStart::None },
            // The step's result, as every paper reports FGSM.
            iterate: PgdIterate::Final,
        }
    }
}

/// FGSM adversarial examples for `x` [N, C, H, W] (plain, in [0, 1]) against `subnet`.
pub fn fgsm(
    network: &Network,
    subnet: &Subnet,
    x: Tensor<4>,
    labels: Tensor<1, Int>,
    config: &FgsmConfig,
) -> Tensor<4> {
    pgd(network, subnet, x, labels, &config.as_pgd())
}

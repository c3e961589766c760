//! SAT / PGD-AT (Madry et al. 2018; docs/objectives.md, "SAT"): min E[CE(f(x'), y)], x' from
//! PGD on the cross-entropy.

use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::attack::{AscentConfig, cross_entropy};

/// Defaults: the common ResNet-18 recipe (AdaAD `Plain_Madry`): PGD-10 of 2/255 in 8/255 from a
/// 0.001-Gaussian start, BatchNorm in eval mode during the attack.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SatConfig {
    pub attack: AscentConfig,
}

impl SatConfig {
    /// CE(S(x'), y).
    pub fn loss(&self, student_adversarial: Tensor<2>, labels: Tensor<1, Int>) -> Tensor<1> {
        cross_entropy(student_adversarial, labels)
    }
}

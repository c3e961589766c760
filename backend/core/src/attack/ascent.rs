//! The inner maximisation of adversarial training (docs/objectives.md, "Inner maximisation"):
//! sign-gradient ascent of a method's loss inside the ε-ball, returning the **last** iterate.
//!
//! Training methods train on the final iterate, as every reference does (evaluation PGD,
//! [`super::pgd()`], reports it too by default). The loss is a closure, because the
//! methods differ in which networks they run (the student, the teacher too for AdaAD), towards
//! which target, and with which BatchNorm mode. The closure must run `valid()` copies
//! (see [`frozen`]), so that the only gradient computed is the input's.

use burn::prelude::*;
use serde::{Deserialize, Serialize};

use super::Ball;
use super::pgd::{PgdStart, starting_point};
use crate::model::{BnMode, Network};

/// Parameters of a training attack. The default is the RSLAD/AdaAD/TRADES-style inner
/// maximisation: ε = 8/255, 10 steps of 2/255 from x + 0.001·N(0, 1), BatchNorm in eval mode.
///
/// `bn: train` normalises with the adversarial batch's own statistics (ARD, IAD, DARD). It runs
/// on a `valid()` copy, so unlike the PyTorch references the attack's forwards do not move the
/// running statistics; the running statistics are re-calibrated before any evaluation anyway.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AscentConfig {
    pub epsilon: f64,
    pub step_size: f64,
    pub steps: usize,
    pub start: PgdStart,
    pub bn: BnMode,
}

impl Default for AscentConfig {
    fn default() -> Self {
        AscentConfig {
            epsilon: 8.0 / 255.0,
            step_size: 2.0 / 255.0,
            steps: 10,
            start: PgdStart::Gaussian { std: 0.001 },
            bn: BnMode::Eval,
        }
    }
}

impl AscentConfig {
    /// ARD / IAD: Madry-style uniform start, the student in train mode.
    pub fn uniform_train() -> AscentConfig {
        AscentConfig { start: PgdStart::Uniform, bn: BnMode::Train, ..AscentConfig::default() }
    }

    /// TRADES / MART references: ε = 0.031, α = 0.007.
    pub fn trades() -> AscentConfig {
        AscentConfig { epsilon: 0.031, step_size: 0.007, ..AscentConfig::default() }
    }
}

/// For `deserialize_with`: a partial `[attack]` table over [`AscentConfig::trades`].
pub fn trades_defaults<'de, D: serde::Deserializer<'de>>(d: D) -> Result<AscentConfig, D::Error> {
    crate::overlay::overlay(AscentConfig::trades(), d)
}

/// For `deserialize_with`: a partial `[attack]` table over [`AscentConfig::uniform_train`].
pub fn uniform_train_defaults<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<AscentConfig, D::Error> {
    crate::overlay::overlay(AscentConfig::uniform_train(), d)
}

/// A copy of `network` whose parameters are constants: what a training attack runs.
pub fn frozen(network: &Network) -> Network {
    network.valid()
}

/// Ascends `loss(step, x')` — a scalar on the autodiff graph of the attached input x' — from
/// `config.start` for `config.steps` sign steps, projecting onto the ε-ball and [0, 1] after
/// each. Returns the last iterate, a plain tensor.
pub fn ascend(
    x: &Tensor<4>,
    config: &AscentConfig,
    mut loss: impl FnMut(usize, Tensor<4>) -> Tensor<1>,
) -> Tensor<4> {
    let x = x.clone().detach().inner();
    let ball = Ball::new(&x, config.epsilon);
    let mut adversarial = ball.project(starting_point(&x, &config.start, config.epsilon));
    for step in 0..config.steps {
        let attached = adversarial.clone().autodiff().require_grad();
        let value = loss(step, attached.clone());
        let gradient =
            attached.grad(&value.backward()).expect("a training attack's loss depends on x'");
        adversarial = ball.project(adversarial + gradient.sign() * config.step_size);
    }
    adversarial
}

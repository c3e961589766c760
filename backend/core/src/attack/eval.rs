//! Robust evaluation: clean accuracy and accuracy under each attack, with every attack's full
//! configuration and the seed recorded next to its number.

use burn::prelude::*;
use proard_shared::Subnet;
use serde::{Deserialize, Serialize};

use super::apgd::{ApgdConfig, apgd};
use super::fgsm::{FgsmConfig, fgsm};
use super::pgd::{PgdConfig, pgd};
use super::{fooled, logits};
use crate::data::stream_seed;
use crate::model::Network;
use crate::noise;

/// One attack and its parameters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "attack")]
pub enum Attack {
    Fgsm(FgsmConfig),
    Pgd(PgdConfig),
    Apgd(ApgdConfig),
}

impl Attack {
    /// Adversarial examples for `x` (plain, in [0, 1]); random starts draw from the noise stream.
    pub fn run(
        &self,
        network: &Network,
        subnet: &Subnet,
        x: Tensor<4>,
        labels: Tensor<1, Int>,
    ) -> Tensor<4> {
        match self {
            Attack::Fgsm(config) => fgsm(network, subnet, x, labels, config),
            Attack::Pgd(config) => pgd(network, subnet, x, labels, config),
            Attack::Apgd(config) => apgd(network, subnet, x, labels, config),
        }
    }
}

/// Accuracy under one attack.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AttackResult {
    pub attack: Attack,
    /// Fraction of the images still classified correctly after the attack.
    pub accuracy: f64,
}

/// Clean and robust accuracy of one subnet.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EvalReport {
    /// Batch `i` is attacked with the noise stream seeded from (seed, i).
    pub seed: u64,
    pub images: usize,
    pub clean_accuracy: f64,
    pub attacks: Vec<AttackResult>,
}

/// Evaluates `subnet` of `network` on `batches` of plain images [N, C, H, W] in [0, 1] and
/// labels \[N], clean and under each of `attacks`.
///
/// Before each attack on batch `i` the noise stream is seeded from (`seed`, `i`), so every attack
/// draws the same random start for a batch whatever the other attacks are: two configurations
/// that differ only in ε or steps are compared on the same noise.
pub fn evaluate(
    network: &Network,
    subnet: &Subnet,
    batches: impl IntoIterator<Item = (Tensor<4>, Tensor<1, Int>)>,
    attacks: &[Attack],
    seed: u64,
) -> EvalReport {
    let frozen = network.valid();
    let count_correct = |x: Tensor<4>, labels: Tensor<1, Int>| {
        let n = labels.dims()[0];
        n - fooled(logits(&frozen, subnet, x), labels).sum().into_scalar::<f32>().round() as usize
    };
    let mut images = 0;
    let mut clean_correct = 0;
    let mut attack_correct = vec![0; attacks.len()];
    for (index, (x, labels)) in batches.into_iter().enumerate() {
        images += labels.dims()[0];
        clean_correct += count_correct(x.clone(), labels.clone());
        for (attack, correct) in attacks.iter().zip(&mut attack_correct) {
            noise::seed(stream_seed(&[seed, index as u64]));
            let adversarial = attack.run(&frozen, subnet, x.clone(), labels.clone());
            *correct += count_correct(adversarial, labels.clone());
        }
    }
    let fraction = |correct: usize| if images == 0 { 0.0 } else { correct as f64 / images as f64 };
    EvalReport {
        seed,
        images,
        clean_accuracy: fraction(clean_correct),
        attacks: attacks
            .iter()
            .zip(attack_correct)
            .map(|(attack, correct)| AttackResult {
                attack: attack.clone(),
                accuracy: fraction(correct),
            })
            .collect(),
    }
}

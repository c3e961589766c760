//! An AutoAttack-style sequence (docs/attacks.md, "AutoAttack-style sequence"): a clean pass,
//! then attacks in order, each run only on the points every earlier stage left robust. Robust
//! accuracy is the fraction surviving all stages, and each point records which stage broke it.

use burn::prelude::*;
use proard_shared::Subnet;
use serde::{Deserialize, Serialize};

use super::apgd::{ApgdConfig, ApgdLoss};
use super::eval::Attack;
use super::pgd::PgdConfig;
use super::{fooled, logits};
use crate::data::stream_seed;
use crate::model::Network;
use crate::noise;

/// The stages, in order; each carries its own ε (normally the same).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SequenceConfig {
    pub stages: Vec<Attack>,
}

impl SequenceConfig {
    /// APGD-CE → APGD-T (9 targets), 100 iterations, one run each: the cheap "custom" AutoAttack
    /// of the ARD literature, usually within a few tenths of a point of the standard version.
    pub fn apgd(epsilon: f64) -> SequenceConfig {
        SequenceConfig {
            stages: vec![
                Attack::Apgd(ApgdConfig { epsilon, ..ApgdConfig::default() }),
                Attack::Apgd(ApgdConfig { epsilon, ..ApgdConfig::targeted() }),
            ],
        }
    }

    /// [`SequenceConfig::apgd`] followed by APGD-DLR and CW∞ (κ = 50, 30 steps), which catch
    /// points whose cross-entropy gradient is masked.
    pub fn extended(epsilon: f64) -> SequenceConfig {
        let mut config = SequenceConfig::apgd(epsilon);
        config.stages.push(Attack::Apgd(ApgdConfig {
            epsilon,
            loss: ApgdLoss::Dlr,
            ..ApgdConfig::default()
        }));
        config.stages.push(Attack::Pgd(PgdConfig { epsilon, ..PgdConfig::cw() }));
        config
    }
}

/// What happened to one test point.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PointOutcome {
    /// Wrong on the clean image already.
    Misclassified,
    /// Fooled by the stage of this index.
    BrokenBy(usize),
    /// Survived every stage.
    Robust,
}

/// One stage's share of the work.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StageReport {
    pub attack: Attack,
    /// Points this stage attacked (the robust ones left by earlier stages).
    pub attacked: usize,
    /// Of those, how many it fooled.
    pub broken: usize,
    /// Robust accuracy after this stage.
    pub robust_accuracy: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SequenceReport {
    /// Stage `s` on batch `b` runs with the noise stream seeded from (seed, b, s).
    pub seed: u64,
    pub images: usize,
    pub clean_accuracy: f64,
    pub stages: Vec<StageReport>,
    pub robust_accuracy: f64,
    /// Per image, in batch order.
    pub outcomes: Vec<PointOutcome>,
}

/// Runs `config`'s stages on `batches` of plain images in [0, 1] and labels.
pub fn run_sequence(
    network: &Network,
    subnet: &Subnet,
    batches: impl IntoIterator<Item = (Tensor<4>, Tensor<1, Int>)>,
    config: &SequenceConfig,
    seed: u64,
) -> SequenceReport {
    let frozen = network.valid();
    let mut outcomes = Vec::new();
    let mut attacked = vec![0; config.stages.len()];
    let mut broken = vec![0; config.stages.len()];
    for (batch, (x, labels)) in batches.into_iter().enumerate() {
        let wrong = fooled(logits(&frozen, subnet, x.clone()), labels.clone());
        let mut batch_outcomes: Vec<PointOutcome> = wrong
            .try_into_vec_as::<f32>()
            .expect("a float tensor")
            .iter()
            .map(|w| if *w > 0.5 { PointOutcome::Misclassified } else { PointOutcome::Robust })
            .collect();
        for (stage, attack) in config.stages.iter().enumerate() {
            let open: Vec<i32> = (0..batch_outcomes.len())
                .filter(|i| batch_outcomes[*i] == PointOutcome::Robust)
                .map(|i| i as i32)
                .collect();
            if open.is_empty() {
                break;
            }
            let index = Tensor::<1, Int>::from_ints(open.as_slice(), &x.device());
            let (x_open, labels_open) =
                (x.clone().select(0, index.clone()), labels.clone().select(0, index));
            noise::seed(stream_seed(&[seed, batch as u64, stage as u64]));
            let adversarial = attack.run(&frozen, subnet, x_open, labels_open.clone());
            let now_fooled = fooled(logits(&frozen, subnet, adversarial), labels_open)
                .try_into_vec_as::<f32>()
                .expect("a float tensor");
            attacked[stage] += open.len();
            for (i, hit) in open.iter().zip(now_fooled) {
                if hit > 0.5 {
                    batch_outcomes[*i as usize] = PointOutcome::BrokenBy(stage);
                    broken[stage] += 1;
                }
            }
        }
        outcomes.extend(batch_outcomes);
    }
    let images = outcomes.len();
    let fraction = |count: usize| if images == 0 { 0.0 } else { count as f64 / images as f64 };
    let clean_correct = outcomes.iter().filter(|o| **o != PointOutcome::Misclassified).count();
    let mut surviving = clean_correct;
    let stages = config
        .stages
        .iter()
        .enumerate()
        .map(|(s, attack)| {
            surviving -= broken[s];
            StageReport {
                attack: attack.clone(),
                attacked: attacked[s],
                broken: broken[s],
                robust_accuracy: fraction(surviving),
            }
        })
        .collect();
    SequenceReport {
        seed,
        images,
        clean_accuracy: fraction(clean_correct),
        stages,
        robust_accuracy: fraction(surviving),
        outcomes,
    }
}

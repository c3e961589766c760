//! `proard attack selftest`: trains a small network on the synthetic set for a fixed, seeded
//! budget, then measures clean, FGSM, PGD-20, CW∞ and APGD-CE accuracy at ε ∈ {0, 2, 4, 8}/255.
//!
//! What a healthy install shows: the ε = 0 column equals clean accuracy, accuracy falls as ε
//! grows, PGD-20 ≤ FGSM and APGD-CE ≤ PGD-20 (about). Robust accuracy that stays flat with ε, or
//! FGSM beating PGD, points at gradient masking or a broken install.

use std::collections::BTreeMap;
use std::sync::Arc;

use burn::optim::momentum::MomentumConfig;
use burn::optim::{GradientsParams, SgdConfig};
use burn::prelude::*;
use proard_shared::Subnet;
use proard_shared::preset::preset;
use serde::Serialize;

use super::{ApgdConfig, Attack, FgsmConfig, PgdConfig, cross_entropy, evaluate};
use crate::data::loader::{Loader, LoaderConfig};
use crate::data::synthetic::{self, SyntheticConfig};
use crate::data::{ImageSet, Split};
use crate::model::{NetConfig, Network, Pass, Supernet};
use crate::noise;

/// The fixed budget of the self-test (every field is recorded in the report).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SelfTestConfig {
    pub seed: u64,
    /// SGD steps (momentum 0.9) on the smallest resnet-mini subnet.
    pub steps: usize,
    pub batch: usize,
    pub learning_rate: f64,
    pub train_images: usize,
    /// Synthetic test images attacked.
    pub test_images: usize,
    pub epsilons: Vec<f64>,
}

impl Default for SelfTestConfig {
    fn default() -> Self {
        SelfTestConfig {
            seed: 0,
            steps: 300,
            batch: 32,
            learning_rate: 0.05,
            train_images: 4000,
            test_images: 256,
            epsilons: [0.0, 2.0, 4.0, 8.0].iter().map(|e| e / 255.0).collect(),
        }
    }
}

/// `{"clean": a, "attacks": {"pgd20": {"0": a, "0.00784": a, …}, …}, "settings": …}`.
#[derive(Debug, Serialize)]
pub struct SelfTestReport {
    pub clean: f64,
    /// Attack name → ε (5 decimals) → accuracy.
    pub attacks: BTreeMap<String, BTreeMap<String, f64>>,
    pub settings: SelfTestSettings,
}

/// Everything that produced the numbers: the budget and every attack's configuration.
#[derive(Debug, Serialize)]
pub struct SelfTestSettings {
    pub budget: SelfTestConfig,
    pub attacks: Vec<Attack>,
}

/// ε as a JSON key: "0", "0.00784", "0.01569", "0.03137".
pub fn epsilon_key(epsilon: f64) -> String {
    if epsilon == 0.0 { "0".into() } else { format!("{epsilon:.5}") }
}

/// `steps` SGD steps of cross-entropy training of the smallest resnet-mini subnet on `set`.
pub fn train_small_network(
    set: &Arc<ImageSet>,
    config: &SelfTestConfig,
    device: &Device,
) -> (Network, Subnet) {
    let device = device.clone().autodiff();
    noise::seed(config.seed);
    let space = preset("resnet-mini").expect("built-in preset");
    let arch = space.smallest_arch();
    let supernet = Supernet::new(space, NetConfig::new(), &device);
    let subnet = supernet.subnet(&arch).expect("the smallest arch is valid");
    let mut network = supernet.network;
    let momentum = MomentumConfig::new().with_momentum(0.9).with_dampening(0.0);
    let mut optimizer = SgdConfig::new().with_momentum(Some(momentum)).init();
    let train =
        Loader::new(set.clone(), Split::Train, LoaderConfig::train(config.batch, config.seed));
    let mut step = 0;
    'training: for epoch in 0.. {
        for batch in train.epoch(epoch) {
            if step == config.steps {
                break 'training;
            }
            let (x, y) = batch.tensors(&device);
            let loss = cross_entropy(network.forward(x, &subnet, &mut Pass::train()), y);
            let grads = GradientsParams::from_grads(loss.backward(), &network);
            network = optimizer.step(config.learning_rate, network, grads);
            step += 1;
        }
    }
    (network, subnet)
}

/// The attacks of the self-test at one ε, by report name.
fn attacks_at(epsilon: f64) -> [(&'static str, Attack); 4] {
    let step = epsilon / 4.0;
    [
        ("fgsm", Attack::Fgsm(FgsmConfig { epsilon, ..FgsmConfig::default() })),
        (
            "pgd20",
            Attack::Pgd(PgdConfig { epsilon, step_size: step, steps: 20, ..PgdConfig::default() }),
        ),
        ("cw", Attack::Pgd(PgdConfig { epsilon, step_size: step, ..PgdConfig::cw() })),
        ("apgd_ce", Attack::Apgd(ApgdConfig { epsilon, ..ApgdConfig::default() })),
    ]
}

/// Trains, attacks, reports.
pub fn run(config: &SelfTestConfig, device: &Device) -> SelfTestReport {
    let set = Arc::new(synthetic::generate(&SyntheticConfig {
        seed: config.seed,
        train: config.train_images,
        test: config.test_images,
    }));
    let (network, subnet) = train_small_network(&set, config, device);
    let batches: Vec<(Tensor<4>, Tensor<1, Int>)> =
        Loader::new(set.clone(), Split::Test, LoaderConfig::eval(config.test_images.clamp(1, 128)))
            .epoch(0)
            .map(|batch| batch.tensors(device))
            .collect();
    let named: Vec<(String, &'static str, Attack)> = config
        .epsilons
        .iter()
        .flat_map(|e| {
            attacks_at(*e).into_iter().map(move |(name, attack)| (epsilon_key(*e), name, attack))
        })
        .collect();
    let attacks: Vec<Attack> = named.iter().map(|(_, _, attack)| attack.clone()).collect();
    let report = evaluate(&network, &subnet, batches, &attacks, config.seed);
    let mut table: BTreeMap<String, BTreeMap<String, f64>> = BTreeMap::new();
    for ((key, name, _), result) in named.iter().zip(&report.attacks) {
        table.entry((*name).to_owned()).or_default().insert(key.clone(), result.accuracy);
    }
    SelfTestReport {
        clean: report.clean_accuracy,
        attacks: table,
        settings: SelfTestSettings { budget: config.clone(), attacks },
    }
}

#[cfg(test)]
mod tests {
    use super::epsilon_key;

    #[test]
    fn epsilon_keys_are_short_decimals() {
        assert_eq!(epsilon_key(0.0), "0");
        assert_eq!(epsilon_key(2.0 / 255.0), "0.00784");
        assert_eq!(epsilon_key(8.0 / 255.0), "0.03137");
    }
}
